#pragma once

/// Forward declarations of the core component.

namespace atomr {
class error;
} // namespace atomr

namespace atomr::core {

enum class errc : int;
class error;
class payload;
struct envelope;
class mailbox;
class cell;
class pinned_dispatcher;
class dead_letter_sink;

namespace internal {
template <class T> class mpsc_queue;
} // namespace internal

} // namespace atomr::core
