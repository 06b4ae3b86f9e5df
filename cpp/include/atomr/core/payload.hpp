#pragma once

#include <string>
#include <utility>

namespace atomr::core {

/// An opaque, move-only handle to a message owned elsewhere.
///
/// The core never looks inside a payload: it moves the pointer and, when a
/// payload is destroyed without having been taken, calls its release hook.
/// The Python bridge stores a `PyObject*` whose hook drops the reference
/// (and must therefore run under the GIL); GoogleTest stores an `int` or a
/// `std::string` allocated with `payload::make`.
class payload {
public:
  using release_fn = void (*)(void*) noexcept;

  payload() noexcept = default;

  payload(void* ptr, release_fn release) noexcept
    : ptr_(ptr)
    , release_(release) {
  }

  payload(const payload&) = delete;
  payload& operator=(const payload&) = delete;

  payload(payload&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr))
    , release_(std::exchange(other.release_, nullptr)) {
  }

  payload& operator=(payload&& other) noexcept {
    if (this != &other) {
      reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
      release_ = std::exchange(other.release_, nullptr);
    }
    return *this;
  }

  ~payload() {
    reset();
  }

  /// Builds a payload owning a heap copy of `value`, freed by its hook.
  template <class T> static payload make(T value) {
    return payload(new T(std::move(value)), [](void* p) noexcept { delete static_cast<T*>(p); });
  }

  /// The stored pointer, still owned by this payload.
  void* get() const noexcept {
    return ptr_;
  }

  /// Gives up ownership: the caller becomes responsible for the pointer.
  void* detach() noexcept {
    release_ = nullptr;
    return std::exchange(ptr_, nullptr);
  }

  /// Drops the pointer through the release hook, if any.
  void reset() noexcept {
    if (ptr_ != nullptr && release_ != nullptr)
      release_(ptr_);
    ptr_ = nullptr;
    release_ = nullptr;
  }

  explicit operator bool() const noexcept {
    return ptr_ != nullptr;
  }

private:
  void* ptr_ = nullptr;
  release_fn release_ = nullptr;
};

} // namespace atomr::core
