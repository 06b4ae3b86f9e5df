#pragma once

/// Forward declarations of the core component.

namespace atomr {

class error;
class payload;
struct envelope;
class mailbox;
class cell;
class pinned_dispatcher;
class dead_letter_sink;

template <class T>
class mpsc_queue;

} // namespace atomr
