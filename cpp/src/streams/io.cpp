// File and socket stages: bytes read from and written to a descriptor by
// the island itself, one system call per chunk, with no host callback per
// chunk. A descriptor that would block makes the stage answer `pending` and
// name it in the context's `io_waits`; the host pulls the island again once
// the descriptor is ready.

#include "atomr/streams/error.hpp"
#include "stages.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace atomr::streams::internal {

namespace {

/// Bytes a writer holds before it stops pulling upstream until the
/// descriptor takes them.
constexpr std::size_t writer_high_water = 256 * 1024;

/// Bytes a file sink gathers before it writes them.
constexpr std::size_t file_sink_chunk = 64 * 1024;

std::string describe(int err) {
  return std::strerror(err);
}

bool would_block(int err) noexcept {
  return err == EAGAIN || err == EWOULDBLOCK;
}

/// Reads a descriptor: a borrowed one (`path` empty), or a file it opens at
/// its first pull and closes when it finishes.
class read_source final : public stage {
public:
  read_source(int fd, std::size_t chunk, bool socket, std::string name, std::string path)
    : fd_(fd)
    , chunk_(chunk)
    , socket_(socket)
    , owned_(!path.empty())
    , name_(std::move(name))
    , path_(std::move(path)) {
  }

  ~read_source() override {
    release_fd();
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    if (fd_ < 0 && !open_file(out)) {
      return status::failed;
    }
    if (!ctx_->step()) {
      return status::pending;
    }
    // read straight into the element (no copy); cut to what was read
    char* data = nullptr;
    element chunk = ctx_->h->alloc_bytes(chunk_, data);
    for (;;) {
      ssize_t n = socket_ ? ::recv(fd_, data, chunk_, MSG_DONTWAIT) : ::read(fd_, data, chunk_);
      if (n > 0) {
        out = ctx_->h->finish_bytes(chunk, static_cast<std::size_t>(n));
        return status::element;
      }
      int err = errno;
      if (n < 0 && err == EINTR) {
        continue;
      }
      ctx_->h->release(chunk);
      if (n == 0) {
        finish();
        return status::done;
      }
      if (would_block(err)) {
        ++ctx_->budget; // nothing was produced
        ctx_->wait_io(fd_, false);
        return status::pending;
      }
      finish();
      out = ctx_->h->make_failure(static_cast<int>(errc::io),
                                  ("cannot read " + name_ + ": " + describe(err)).c_str());
      return status::failed;
    }
  }

  void cancel() override {
    finish();
  }

private:
  bool open_file(element& out) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      finished_ = true;
      out = ctx_->h->make_failure(static_cast<int>(errc::io),
                                  ("cannot read " + name_ + ": " + describe(err)).c_str());
      return false;
    }
    fd_ = fd;
    return true;
  }

  void finish() {
    finished_ = true;
    release_fd();
  }

  void release_fd() {
    if (owned_ && fd_ >= 0) {
      ::close(fd_);
    }
    if (owned_) {
      fd_ = -1;
    }
  }

  int fd_;
  std::size_t chunk_;
  bool socket_;
  bool owned_;
  bool finished_ = false;
  std::string name_;
  std::string path_;
};

/// Writes upstream's bytes to a borrowed descriptor and emits nothing.
class fd_writer final : public stage {
public:
  fd_writer(stage_ptr up, int fd, bool socket, std::string name)
    : up_(std::move(up))
    , fd_(fd)
    , socket_(socket)
    , name_(std::move(name)) {
  }

  status pull(element& out) override {
    if (finished_) {
      return status::done;
    }
    for (;;) {
      if (held() >= writer_high_water || (up_done_ && held() > 0)) {
        if (!flush(out)) {
          return fail();
        }
        if (held() >= writer_high_water || (up_done_ && held() > 0)) {
          ctx_->wait_io(fd_, true);
          return status::pending;
        }
      }
      if (up_done_) {
        if (socket_) {
          // A socket still connecting would be disconnected by shutdown:
          // wait until it is connected (or failed).
          switch (connection(out)) {
          case conn::connecting:
            ctx_->wait_io(fd_, true);
            return status::pending;
          case conn::failed:
            return fail();
          case conn::connected:
            break;
          }
          ::shutdown(fd_, SHUT_WR); // the peer sees the end; an error here changes nothing
        }
        finished_ = true;
        return status::done;
      }
      element x = nullptr;
      switch (up_->pull(x)) {
      case status::element: {
        element failure = nullptr;
        bool ok = ctx_->h->append_bytes(x, buf_, failure);
        ctx_->h->release(x);
        if (!ok) {
          out = failure;
          cancel_up(failure);
          return fail();
        }
        continue;
      }
      case status::done:
        up_done_ = true;
        continue;
      case status::failed:
        up_open_ = false;
        out = x;
        return fail();
      case status::pending:
        if (held() > 0) {
          if (!flush(out)) {
            cancel_up(out);
            return fail();
          }
          if (held() > 0) {
            ctx_->wait_io(fd_, true);
          }
        }
        return status::pending;
      }
    }
  }

  void cancel() override {
    cancel_up(ctx_->cancel_cause);
    finished_ = true;
    std::string().swap(buf_);
  }

private:
  enum class conn : std::uint8_t { connecting, connected, failed };

  /// Whether the socket finished connecting (failed: the failure in `out`).
  conn connection(element& out) {
    if (connected_) {
      return conn::connected;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) == 0 || errno != ENOTCONN) {
      connected_ = true; // not a connected-mode socket, or connected
      return conn::connected;
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
      err = errno;
    }
    if (err == 0) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, 0) == 0) {
        return conn::connecting;
      }
      err = ENOTCONN;
    }
    out = ctx_->h->make_failure(static_cast<int>(errc::io),
                                ("cannot connect to " + name_ + ": " + describe(err)).c_str());
    return conn::failed;
  }

  std::size_t held() const noexcept {
    return buf_.size() - off_;
  }

  void cancel_up(element cause) {
    if (up_open_) {
      up_open_ = false;
      element outer = std::exchange(ctx_->cancel_cause, cause);
      up_->cancel();
      ctx_->cancel_cause = outer;
    }
  }

  status fail() {
    if (up_open_ && !up_done_) {
      cancel_up(nullptr);
    }
    finished_ = true;
    std::string().swap(buf_);
    return status::failed;
  }

  /// Writes what it can: false with the failure in `out` on an error.
  bool flush(element& out) {
    while (held() > 0) {
      const char* p = buf_.data() + off_;
      ssize_t n =
          socket_ ? ::send(fd_, p, held(), MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(fd_, p, held());
      if (n >= 0) {
        off_ += static_cast<std::size_t>(n);
        connected_ = true;
        continue;
      }
      int err = errno;
      if (err == EINTR) {
        continue;
      }
      if (would_block(err)) {
        break;
      }
      out = ctx_->h->make_failure(static_cast<int>(errc::io),
                                  ("cannot write " + name_ + ": " + describe(err)).c_str());
      return false;
    }
    if (off_ == buf_.size()) {
      buf_.clear();
      off_ = 0;
    } else if (off_ >= writer_high_water) {
      buf_.erase(0, off_);
      off_ = 0;
    }
    return true;
  }

  stage_ptr up_;
  int fd_;
  bool socket_;
  std::string name_;
  std::string buf_;
  std::size_t off_ = 0;
  bool up_open_ = true;
  bool up_done_ = false;
  bool finished_ = false;
  bool connected_ = false;
};

/// Writes bytes elements to a file it opened; materializes the byte count.
class file_sink final : public sink {
public:
  file_sink(int fd, std::string name)
    : fd_(fd)
    , name_(std::move(name)) {
  }

  ~file_sink() override {
    close_fd();
  }

  bool on_element(element x, element& failure) override {
    bool ok = ctx_->h->append_bytes(x, buf_, failure);
    ctx_->h->release(x);
    if (!ok) {
      return false;
    }
    return buf_.size() < file_sink_chunk || flush(failure);
  }

  bool on_complete(element& out) override {
    if (!flush(out)) {
      return false;
    }
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0 && errno != EINTR) {
      int err = errno;
      out = ctx_->h->make_failure(static_cast<int>(errc::io),
                                  ("cannot write " + name_ + ": " + describe(err)).c_str());
      return false;
    }
    out = ctx_->h->make_int(total_);
    return true;
  }

  void discard() override {
    close_fd();
    std::string().swap(buf_);
  }

private:
  bool flush(element& failure) {
    std::size_t off = 0;
    while (off < buf_.size()) {
      ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) {
          continue;
        }
        failure = ctx_->h->make_failure(static_cast<int>(errc::io),
                                        ("cannot write " + name_ + ": " + describe(err)).c_str());
        return false;
      }
      off += static_cast<std::size_t>(n);
      total_ += n;
    }
    buf_.clear();
    return true;
  }

  void close_fd() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  int fd_;
  std::string name_;
  std::string buf_;
  std::int64_t total_ = 0;
};

} // namespace

stage_ptr make_fd_source(int fd, std::size_t chunk_size, bool socket, std::string name) {
  return std::make_unique<read_source>(fd, chunk_size, socket, std::move(name), std::string());
}

stage_ptr make_file_source(std::string path, std::size_t chunk_size) {
  std::string name = path;
  return std::make_unique<read_source>(-1, chunk_size, false, std::move(name), std::move(path));
}

stage_ptr make_fd_writer(stage_ptr up, int fd, bool socket, std::string name) {
  return std::make_unique<fd_writer>(std::move(up), fd, socket, std::move(name));
}

sink_ptr make_file_sink(const std::string& path, bool append) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0666);
  if (fd < 0) {
    int err = errno;
    throw io_error("cannot write " + path + ": " + describe(err));
  }
  return std::make_unique<file_sink>(fd, path);
}

} // namespace atomr::streams::internal
