// Framing stages: bytes elements (chunks as they come) to frames, by a
// delimiter or a length field, and frames to length-prefixed chunks. The
// decoders keep the bytes not yet framed in one buffer and emit one frame
// per pull.

#include "atomr/streams/error.hpp"
#include "stages.hpp"

#include <string>
#include <utility>

namespace atomr::streams::internal {

namespace {

class framing_stage final : public stage {
public:
  framing_stage(stage_ptr up, framing_options o)
    : up_(std::move(up))
    , o_(std::move(o)) {
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    if (o_.k == framing_options::kind::length_prefix) {
      return encode(out);
    }
    for (;;) {
      std::string error;
      if (cut_frame(out, error)) {
        return status::element;
      }
      if (!error.empty()) {
        return fail(error, out);
      }
      if (ended_) {
        return finish(out);
      }
      element x;
      status s = up_->pull(x);
      if (s == status::pending) {
        return s;
      }
      if (s == status::failed) {
        open_ = false;
        finished_ = true;
        out = x;
        return s;
      }
      if (s == status::done) {
        open_ = false;
        ended_ = true;
        continue;
      }
      element failure = nullptr;
      compact();
      bool ok = ctx_->h->append_bytes(x, buf_, failure);
      ctx_->h->release(x);
      if (!ok) {
        return fail_with(failure, out);
      }
    }
  }

  void cancel() override {
    finished_ = true;
    if (open_) {
      open_ = false;
      up_->cancel();
    }
  }

  void pump() override {
    if (open_) {
      up_->pump();
    }
  }

private:
  /// A frame cut from the buffer into `out`: true; false when more bytes
  /// are needed, or with `error` set when the bytes break the framing.
  bool cut_frame(element& out, std::string& error) {
    std::size_t avail = buf_.size() - start_;
    if (o_.k == framing_options::kind::delimiter) {
      std::size_t i = buf_.find(o_.delimiter, scan_);
      if (i == std::string::npos) {
        std::size_t d = o_.delimiter.size();
        scan_ = buf_.size() >= start_ + d ? buf_.size() - d + 1 : start_;
        if (avail > o_.max_frame_length) {
          error = "no delimiter within the maximum frame length of " +
                  std::to_string(o_.max_frame_length);
        }
        return false;
      }
      std::size_t n = i - start_;
      if (n > o_.max_frame_length) {
        error = "a frame of " + std::to_string(n) + " bytes exceeds the maximum of " +
                std::to_string(o_.max_frame_length);
        return false;
      }
      out = ctx_->h->make_bytes(buf_.data() + start_, n);
      start_ = scan_ = i + o_.delimiter.size();
      return true;
    }
    std::size_t header = o_.field_offset + o_.field_length;
    if (avail < header) {
      return false;
    }
    std::uint64_t size = 0;
    const auto* field =
        reinterpret_cast<const unsigned char*>(buf_.data() + start_ + o_.field_offset);
    for (std::size_t k = 0; k < o_.field_length; ++k) {
      std::size_t b = o_.big_endian ? k : o_.field_length - 1 - k;
      size = (size << 8) | field[b];
    }
    if (size > o_.max_frame_length) {
      error = "a frame of " + std::to_string(size) + " bytes exceeds the maximum of " +
              std::to_string(o_.max_frame_length);
      return false;
    }
    std::size_t total = header + static_cast<std::size_t>(size);
    if (avail < total) {
      return false;
    }
    std::size_t skip = o_.keep_header ? 0 : header;
    out = ctx_->h->make_bytes(buf_.data() + start_ + skip, total - skip);
    start_ += total;
    return true;
  }

  /// Upstream completed: the last frame, nothing or a failure.
  status finish(element& out) {
    finished_ = true;
    std::size_t left = buf_.size() - start_;
    if (left == 0) {
      return status::done;
    }
    if (o_.k == framing_options::kind::delimiter) {
      if (o_.allow_truncation) {
        out = ctx_->h->make_bytes(buf_.data() + start_, left);
        buf_.clear();
        start_ = scan_ = 0;
        finished_ = false; // done at the next pull
        ended_ = true;
        return status::element;
      }
      return fail("the stream ended inside a frame (" + std::to_string(left) +
                      " bytes without a delimiter)",
                  out);
    }
    return fail("the stream ended inside a frame (" + std::to_string(left) + " bytes)", out);
  }

  status encode(element& out) {
    element x;
    status s = up_->pull(x);
    if (s != status::element) {
      if (s == status::done || s == status::failed) {
        open_ = false;
      }
      out = x;
      return s;
    }
    std::string frame(o_.field_length, '\0');
    element failure = nullptr;
    bool ok = ctx_->h->append_bytes(x, frame, failure);
    ctx_->h->release(x);
    if (!ok) {
      return fail_with(failure, out);
    }
    std::uint64_t n = frame.size() - o_.field_length;
    for (std::size_t k = 0; k < o_.field_length; ++k) {
      std::size_t b = o_.big_endian ? o_.field_length - 1 - k : k;
      frame[b] = static_cast<char>(n & 0xff);
      n >>= 8;
    }
    out = ctx_->h->make_bytes(frame.data(), frame.size());
    return status::element;
  }

  /// Drops the framed bytes once they are most of the buffer.
  void compact() {
    if (start_ > 0 && start_ * 2 >= buf_.size()) {
      buf_.erase(0, start_);
      scan_ -= start_;
      start_ = 0;
    }
  }

  status fail(const std::string& what, element& out) {
    return fail_with(ctx_->h->make_failure(static_cast<int>(errc::framing), what.c_str()), out);
  }

  status fail_with(element failure, element& out) {
    finished_ = true;
    cancel();
    out = failure;
    return status::failed;
  }

  stage_ptr up_;
  framing_options o_;
  std::string buf_;
  std::size_t start_ = 0; // first byte not yet framed
  std::size_t scan_ = 0;  // where the next delimiter search starts
  bool open_ = true;
  bool ended_ = false;
  bool finished_ = false;
};

} // namespace

stage_ptr make_framing(stage_ptr up, const framing_options& options) {
  return std::make_unique<framing_stage>(std::move(up), options);
}

} // namespace atomr::streams::internal
