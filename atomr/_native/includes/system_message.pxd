# Extern-only declarations mirroring cpp/include/atomr/core/system_message.hpp.
# Nothing here is Python-visible.

from libc.stdint cimport uint32_t


cdef extern from "atomr/core/system_message.hpp" namespace "atomr::core" nogil:
    cdef enum class CSystemMessageKind "atomr::core::system_message_kind" (uint32_t):
        user "atomr::core::system_message_kind::user"
        create "atomr::core::system_message_kind::create"
        terminate "atomr::core::system_message_kind::terminate"
        child_terminated "atomr::core::system_message_kind::child_terminated"
        failed "atomr::core::system_message_kind::failed"
        resume "atomr::core::system_message_kind::resume"
        restart "atomr::core::system_message_kind::restart"
        watch "atomr::core::system_message_kind::watch"
        unwatch "atomr::core::system_message_kind::unwatch"
        death_notice "atomr::core::system_message_kind::death_notice"
        timer "atomr::core::system_message_kind::timer"

    # The same kinds as `envelope.kind` values (compile-time constants).
    enum:
        K_USER "atomr::core::to_envelope_kind(atomr::core::system_message_kind::user)"
        K_CREATE "atomr::core::to_envelope_kind(atomr::core::system_message_kind::create)"
        K_TERMINATE "atomr::core::to_envelope_kind(atomr::core::system_message_kind::terminate)"
        K_CHILD_TERMINATED "atomr::core::to_envelope_kind(atomr::core::system_message_kind::child_terminated)"
        K_FAILED "atomr::core::to_envelope_kind(atomr::core::system_message_kind::failed)"
        K_RESUME "atomr::core::to_envelope_kind(atomr::core::system_message_kind::resume)"
        K_RESTART "atomr::core::to_envelope_kind(atomr::core::system_message_kind::restart)"
        K_WATCH "atomr::core::to_envelope_kind(atomr::core::system_message_kind::watch)"
        K_UNWATCH "atomr::core::to_envelope_kind(atomr::core::system_message_kind::unwatch)"
        K_DEATH_NOTICE "atomr::core::to_envelope_kind(atomr::core::system_message_kind::death_notice)"
        K_TIMER "atomr::core::to_envelope_kind(atomr::core::system_message_kind::timer)"
