#pragma once

// Factories of the stages and sinks the interpreter builds (internal).

#include "atomr/streams/kill_switch.hpp"
#include "atomr/streams/stage.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace atomr::streams::internal {

using stage_ptr = std::unique_ptr<stage>;
using sink_ptr = std::unique_ptr<sink>;

stage_ptr make_iter_source(element iterator);
stage_ptr make_single_source(element x);
stage_ptr make_repeat_source(element x);
stage_ptr make_empty_source();
stage_ptr make_failed_source(element failure);
stage_ptr make_async_source(callable next_fn, std::uint64_t index);

stage_ptr make_map(stage_ptr up, callable fn, callable decider);
stage_ptr make_filter(stage_ptr up, callable pred, callable decider, bool negate);
stage_ptr make_take(stage_ptr up, std::int64_t n);
stage_ptr make_skip(stage_ptr up, std::int64_t n);
stage_ptr make_take_while(stage_ptr up, callable pred, callable decider, bool inclusive);
stage_ptr make_drop_while(stage_ptr up, callable pred, callable decider);
stage_ptr make_map_concat(stage_ptr up, callable fn, callable decider);
stage_ptr make_scan(stage_ptr up, element zero, callable fn, callable decider);
stage_ptr make_fold(stage_ptr up, element zero, callable fn, callable decider);
stage_ptr make_reduce(stage_ptr up, callable fn, callable decider);
stage_ptr make_grouped(stage_ptr up, std::int64_t n);
stage_ptr make_sliding(stage_ptr up, std::int64_t n, std::int64_t step);
stage_ptr make_recover(stage_ptr up, callable fn);
stage_ptr make_map_async(stage_ptr up, callable fn, std::int64_t parallelism, bool ordered,
                         callable decider, std::uint64_t index);
stage_ptr make_buffer(stage_ptr up, std::int64_t size, overflow strategy);
stage_ptr make_throttle(stage_ptr up, std::int64_t elements, std::int64_t per_ns,
                        std::int64_t maximum_burst, bool enforcing);
stage_ptr make_gate(stage_ptr up, std::shared_ptr<kill_switch> ks, void* handle);

/// The options of the framing stages (bytes elements to frames and back).
struct framing_options {
  enum class kind : std::uint8_t { delimiter, length_field, length_prefix } k = kind::delimiter;
  std::string delimiter;
  std::size_t max_frame_length = 0;
  bool allow_truncation = false;
  std::size_t field_length = 4;
  std::size_t field_offset = 0;
  bool big_endian = false;
  bool keep_header = false;
};

stage_ptr make_framing(stage_ptr up, const framing_options& options);

/// I/O stages (io.cpp). `fd` is borrowed unless the stage opens it.
stage_ptr make_fd_source(int fd, std::size_t chunk_size, bool socket, std::string name);
stage_ptr make_file_source(std::string path, std::size_t chunk_size);
stage_ptr make_fd_writer(stage_ptr up, int fd, bool socket, std::string name);
/// Opens `path` for writing now (io_error when it cannot).
sink_ptr make_file_sink(const std::string& path, bool append);

stage_ptr make_concat(stage_ptr first, stage_ptr second);
stage_ptr make_merge(stage_ptr left, stage_ptr right, bool eager_complete);
stage_ptr make_zip(stage_ptr left, stage_ptr right, callable fn);
stage_ptr make_interleave(stage_ptr left, stage_ptr right, std::int64_t segment_size);

sink_ptr make_seq_sink();
sink_ptr make_fold_sink(element zero, callable fn, callable decider);
sink_ptr make_reduce_sink(callable fn, callable decider);
sink_ptr make_head_option_sink();
sink_ptr make_last_option_sink();
sink_ptr make_foreach_sink(callable fn, callable decider);
sink_ptr make_ignore_sink();

/// The monotonic clock throttles read (ns).
std::int64_t monotonic_ns() noexcept;

} // namespace atomr::streams::internal
