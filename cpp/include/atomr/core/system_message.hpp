#pragma once

// The kinds of envelope a cell handles besides user mail. The core carries
// them in `envelope::kind` without interpreting them; the runtime that owns
// the cells (the Python bridge today) gives them their meaning. Defined here
// so every part of the runtime, in C++ or in Cython, agrees on the values.

#include <cstdint>

namespace atomr::core {

/// The value of `envelope::kind`. Everything but `user` and `timer` travels
/// on a cell's system queue and overtakes user mail.
enum class system_message_kind : std::uint32_t {
  user = 0,             ///< user mail
  create = 1,           ///< start the actor (build it, run pre_start)
  terminate = 2,        ///< stop the actor (children first)
  child_terminated = 3, ///< a child finished stopping
  failed = 4,           ///< a child failed: decide what to do with it
  resume = 5,           ///< supervisor's directive: keep the instance
  restart = 6,          ///< supervisor's directive: build a fresh instance
  watch = 7,            ///< start watching the recipient
  unwatch = 8,          ///< stop watching the recipient
  death_notice = 9,     ///< a watched actor stopped
  timer = 10,           ///< user-queue envelope whose `tag` names a timer
};

/// The `envelope::kind` value of `k`.
constexpr std::uint32_t to_envelope_kind(system_message_kind k) noexcept {
  return static_cast<std::uint32_t>(k);
}

} // namespace atomr::core
