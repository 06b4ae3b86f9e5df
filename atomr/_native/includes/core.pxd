# Extern-only declarations mirroring cpp/include/atomr/core and
# cpp/include/atomr/bridge. Nothing here is Python-visible.

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector


# The custom exception handler of every C++ call below: the Cython layer's
# one table-driven translator (atomr/_native/errors.pyx).
from atomr._native._core cimport translate_error


cdef extern from "atomr/core/error.hpp" namespace "atomr::core" nogil:
    cdef enum class CCoreErrc "atomr::core::errc" (int):
        generic "atomr::core::errc::generic"
        invalid_actor_name "atomr::core::errc::invalid_actor_name"
        actor_name_taken "atomr::core::errc::actor_name_taken"
        system_terminated "atomr::core::errc::system_terminated"
        invalid_argument "atomr::core::errc::invalid_argument"


cdef extern from "atomr/core/payload.hpp" namespace "atomr::core" nogil:
    cdef cppclass CPayload "atomr::core::payload":
        CPayload()
        void* get()
        void* detach()
        void reset()


cdef extern from "atomr/core/envelope.hpp" namespace "atomr::core" nogil:
    cdef cppclass CEnvelope "atomr::core::envelope":
        CEnvelope()
        CPayload message
        CPayload sender
        CPayload reply
        uint32_t kind
        uint64_t tag


cdef extern from "atomr/core/dead_letters.hpp" namespace "atomr::core" nogil:
    cdef enum class CDeadLetterReason "atomr::core::dead_letter_reason":
        no_recipient "atomr::core::dead_letter_reason::no_recipient"
        dropped "atomr::core::dead_letter_reason::dropped"
        rejected "atomr::core::dead_letter_reason::rejected"
        evicted "atomr::core::dead_letter_reason::evicted"

    ctypedef void (*dead_letter_handler_fn)(void* ctx, CEnvelope& letter, const string& recipient,
                                            CDeadLetterReason reason)

    cdef cppclass CDeadLetterSink "atomr::core::dead_letter_sink":
        CDeadLetterSink()
        void set_handler(dead_letter_handler_fn fn, void* ctx) except +translate_error
        void publish(CEnvelope& letter, const string& recipient, CDeadLetterReason reason) except +translate_error
        uint64_t count()
        uint64_t count_of "count"(CDeadLetterReason reason)


cdef extern from "atomr/core/mailbox.hpp" namespace "atomr::core" nogil:
    cdef enum class COverflowStrategy "atomr::core::overflow_strategy" (uint8_t):
        drop_new "atomr::core::overflow_strategy::drop_new"
        drop_head "atomr::core::overflow_strategy::drop_head"
        drop_tail "atomr::core::overflow_strategy::drop_tail"
        fail "atomr::core::overflow_strategy::fail"


cdef extern from "atomr/core/cell.hpp" namespace "atomr::core" nogil:
    cdef enum class CCellState "atomr::core::cell_state" (uint8_t):
        idle "atomr::core::cell_state::idle"
        scheduled "atomr::core::cell_state::scheduled"
        running "atomr::core::cell_state::running"
        suspended "atomr::core::cell_state::suspended"
        stopped "atomr::core::cell_state::stopped"

    cdef enum class CEnqueueResult "atomr::core::enqueue_result" (uint8_t):
        accepted "atomr::core::enqueue_result::accepted"
        accepted_wake "atomr::core::enqueue_result::accepted_wake"
        rejected "atomr::core::enqueue_result::rejected"
        full "atomr::core::enqueue_result::full"
        accepted_evicted "atomr::core::enqueue_result::accepted_evicted"
        accepted_wake_evicted "atomr::core::enqueue_result::accepted_wake_evicted"

    cdef cppclass CCell "atomr::core::cell":
        CCell(CPinnedDispatcher& dispatcher, string path, CDeadLetterSink& dead_letters) except +translate_error
        void add_ref()
        void release()
        CEnqueueResult tell(CEnvelope& e) except +translate_error
        CEnqueueResult tell_local(CEnvelope& e) except +translate_error
        void make_bounded(size_t capacity, COverflowStrategy strategy) except +translate_error
        CEnqueueResult send_system(CEnvelope& e) except +translate_error
        void begin_turn()
        cbool next(CEnvelope& out)
        void push_front_user(CEnvelope& e) except +translate_error
        size_t front_size()
        void end_turn() except +translate_error
        void suspend()
        cbool resume() except +translate_error
        void suspend_user_mail()
        void resume_user_mail()
        cbool user_mail_suspended()
        void stop() except +translate_error
        CCellState state()
        cbool is_stopped()
        int64_t queued()
        const string& path()
        uint64_t uid()
        void* user_data


cdef extern from "atomr/core/idle.hpp" namespace "atomr::core" nogil:
    cdef enum class CIdleMode "atomr::core::idle_mode" (uint8_t):
        park "atomr::core::idle_mode::park"
        spin "atomr::core::idle_mode::spin"
        adaptive "atomr::core::idle_mode::adaptive"

    cdef cppclass CIdlePolicy "atomr::core::idle_policy":
        CIdlePolicy()
        CIdlePolicy(CIdleMode mode, int64_t spin_ns, unsigned cpus)
        int64_t next_spin(cbool busy)
        void spun(cbool hit, int64_t wall_ns, int64_t cpu_ns)
        void parked(int64_t waited_ns)
        CIdleMode mode()
        int64_t spin_ns()
        cbool backed_off()
        uint64_t spins()
        uint64_t hits()
        uint64_t skipped()

    void cpu_relax()
    int runnable_in_loadavg(const char* text)
    cbool machine_busy(unsigned cpus, int64_t max_age_ns)
    int64_t monotonic_ns()
    int64_t thread_cpu_ns()
    void raise_flag(uint32_t& flag)
    cbool flag_raised(const uint32_t& flag)
    cbool spin_for_flag(const uint32_t& flag, int64_t max_ns)


cdef extern from "atomr/core/stats.hpp" namespace "atomr::core" nogil:
    cdef cppclass CDispatcherStats "atomr::core::dispatcher_stats":
        void record_turn(uint64_t ns, uint64_t handled)
        uint64_t enqueued()
        uint64_t processed_count()
        int64_t mailbox_high_water()
        uint64_t turn_count(size_t i)
        uint64_t turn_sum_ns()
        uint64_t turn_messages()


cdef extern from "atomr/core/dispatcher.hpp" namespace "atomr::core" nogil:
    cdef enum class CSpinResult "atomr::core::pinned_dispatcher::spin_result" (uint8_t):
        woken "atomr::core::pinned_dispatcher::spin_result::woken"
        signalled "atomr::core::pinned_dispatcher::spin_result::signalled"
        idle "atomr::core::pinned_dispatcher::spin_result::idle"

    cdef cppclass CPinnedDispatcher "atomr::core::pinned_dispatcher":
        CPinnedDispatcher(uint32_t throughput) except +translate_error
        cbool schedule(CCell* c) except +translate_error
        CCell* pop_ready()
        cbool try_sleep()
        void set_awake()
        cbool sleeping()
        void wake()
        void clear_wake()
        CSpinResult idle_spin(int64_t max_ns, int64_t handoff_ns)
        void gil_released()
        cbool idle_spinning()
        int wake_fd()
        uint32_t throughput()
        CDispatcherStats& stats()


cdef extern from "atomr/core/path.hpp" namespace "atomr::core" nogil:
    cbool is_valid_actor_name(string name)
    void validate_actor_name(string name) except +translate_error
    cbool is_valid_system_name(string name)
    void validate_system_name(string name) except +translate_error
    string child_path(string parent, string name) except +translate_error
    string anonymous_name(unsigned long long n) except +translate_error


cdef extern from "atomr/bridge/python.hpp" namespace "atomr::bridge":
    void set_py(CPayload& slot, object o)
    PyObject* take_py(CPayload& slot)


cdef extern from "atomr/core/supervision.hpp" namespace "atomr::core" nogil:
    cdef enum class CDirective "atomr::core::directive" (uint8_t):
        resume "atomr::core::directive::resume"
        restart "atomr::core::directive::restart"
        stop "atomr::core::directive::stop"
        escalate "atomr::core::directive::escalate"

    const char* directive_to_string "atomr::core::to_string"(CDirective d)
    CDirective parse_directive(string name) except +translate_error

    cdef cppclass CDecider "atomr::core::decider":
        CDecider()
        void add(string class_path, CDirective d) except +translate_error
        void set_default(CDirective d)
        CDirective default_directive()
        size_t size()
        CDirective decide(const vector[string]& mro)
        CDirective decide(string class_path)

    cdef cppclass CRestartBudget "atomr::core::restart_budget":
        CRestartBudget(int max_retries, double within_seconds)
        cbool request(double now_seconds)
        void reset()
        int count_in_window(double now_seconds)


cdef extern from "atomr/core/timer_service.hpp" namespace "atomr::core" nogil:
    cdef enum class CClockMode "atomr::core::timer_service::clock_mode":
        real "atomr::core::timer_service::clock_mode::real"
        manual "atomr::core::timer_service::clock_mode::manual"

    cdef cppclass CTimerService "atomr::core::timer_service":
        CTimerService(CClockMode mode) except +translate_error
        uint64_t schedule(CCell* target, uint32_t kind, uint64_t tag, double delay_s,
                          double interval_s, cbool fixed_rate, cbool system_queue) except +translate_error
        cbool cancel(uint64_t id) except +translate_error
        void shutdown() except +translate_error
        double now()
        size_t pending() except +translate_error
        size_t advance(double seconds) except +translate_error


cdef extern from "atomr/core/router.hpp" namespace "atomr::core" nogil:
    cdef enum class CRoutingLogic "atomr::core::routing_logic" (uint8_t):
        round_robin "atomr::core::routing_logic::round_robin"
        random "atomr::core::routing_logic::random"
        broadcast "atomr::core::routing_logic::broadcast"
        consistent_hash "atomr::core::routing_logic::consistent_hash"
        smallest_mailbox "atomr::core::routing_logic::smallest_mailbox"

    cdef struct CRouteResult "atomr::core::route_result":
        uint32_t delivered
        cbool wake
        cbool evicted

    ctypedef void (*envelope_cloner "atomr::core::router::cloner")(const CEnvelope& src, CEnvelope& dst)
    ctypedef void (*route_lost_fn "atomr::core::router::lost_fn")(void* ctx, CEnvelope& lost,
                                                             CCell* routee, cbool evicted)

    cdef cppclass CRouter "atomr::core::router":
        CRouter(CRoutingLogic logic, envelope_cloner clone, uint32_t virtual_nodes) except +translate_error
        void set_routees(const vector[CCell*]& routees) except +translate_error
        size_t size() except +translate_error
        CRouteResult route(CEnvelope& e, uint64_t key, cbool has_key, route_lost_fn lost,
                           void* lost_ctx, cbool local) except +translate_error
        int index_for_key(uint64_t key) except +translate_error
        CRoutingLogic logic()

    uint64_t router_hash_bytes "atomr::core::router::hash_bytes"(const void* data, size_t size)


cdef extern from "atomr/bridge/python.hpp" namespace "atomr::bridge" nogil:
    void clone_py_envelope(const CEnvelope& src, CEnvelope& dst)
