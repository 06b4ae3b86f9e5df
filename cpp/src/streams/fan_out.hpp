#pragma once

// Fan-out junctions inside one island (internal): one upstream tree shared
// by several output ports. Each port is a stage of its own, pulled by the
// branch it leads to (a sink's chain, or a fan-in stage of the same
// island); the island's interpreter pulls its sinks in turn, so every
// branch moves on the same thread without channels between them.

#include "atomr/streams/stage.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace atomr::streams::internal {

/// What a junction does with its elements.
enum class fan_out_kind : std::uint8_t {
  /// Every element to every live output; pulls upstream only while every
  /// live output's queue has room (demand = the slowest output).
  broadcast,
  /// Every element to the output that asks for it (any-available).
  balance,
  /// Every element to the output `fn(x)` names; an element for a
  /// cancelled output is dropped.
  partition,
  /// Output 0 gets every element; output 1 gets it when its queue has
  /// room and misses it otherwise (wire_tap). Output 1 never holds
  /// upstream back and its cancellation does not cancel upstream.
  tap,
};

/// The options of a junction.
struct fan_out_options {
  fan_out_kind kind = fan_out_kind::broadcast;
  std::size_t outputs = 2;
  /// Elements an output's queue holds (broadcast, partition, tap).
  std::size_t buffer = 16;
  /// broadcast: one output cancelling cancels upstream and completes the
  /// others (they take what their queue holds first).
  bool eager_cancel = false;
  /// broadcast with eager_cancel: an output cancelled by a failure (its
  /// sink failed) fails the other outputs with that failure.
  bool fail_on_cause = false;
  /// partition: the partitioner (borrowed).
  callable fn = nullptr;
};

/// A junction: built from its upstream tree, then asked for each output
/// port once (`port`).
class junction {
public:
  virtual ~junction() = default;

  /// The stage of output `k` (each output once; throws invalid_graph_error
  /// for an output out of range or taken twice).
  virtual std::unique_ptr<stage> port(std::size_t k) = 0;

  /// Outputs not yet taken by `port`.
  virtual std::size_t unported() const noexcept = 0;
};

/// A junction over `up`; `ctx` is the island's shared state.
std::shared_ptr<junction> make_junction(std::unique_ptr<stage> up, const fan_out_options& options,
                                        context* ctx);

} // namespace atomr::streams::internal
