#pragma once

// The test host of the streams interpreter: elements are heap integers
// (lists, iterators, failures), callables are `fn`s, and `live` counts the
// elements not yet released.

#include "atomr/streams/interpreter.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace atomr::streams::testing {

/// A value of the test host: an integer, a list of them, an iterator over a
/// list, or a failure with a message.
struct val {
  enum class kind { integer, list, iterator, failure } k = kind::integer;
  long v = 0;
  std::vector<long> items;
  std::size_t pos = 0;
  std::string error;
};

/// A callable of the test host: nullopt means "raise".
struct fn {
  std::function<std::optional<long>(long)> f1;
  std::function<std::optional<long>(long, long)> f2;
  std::function<std::optional<std::vector<long>>(long)> many;
  /// Called with the whole value (a list's items too) when set.
  std::function<std::optional<long>(const val&)> whole = {};
};

class int_host final : public host {
public:
  int live = 0;
  std::map<std::uint64_t, long> started; // ticket -> argument
  directive decision = directive::stop;
  int closed = 0;
  /// start_async answers done at once (with x + 100) instead of pending.
  bool immediate = false;

  element make(long v) {
    ++live;
    return new val{val::kind::integer, v, {}, 0, {}};
  }
  element list(std::vector<long> xs) {
    ++live;
    return new val{val::kind::list, 0, std::move(xs), 0, {}};
  }
  element failure(std::string what) {
    ++live;
    return new val{val::kind::failure, 0, {}, 0, std::move(what)};
  }
  static val& of(element e) {
    return *static_cast<val*>(e);
  }

  bool call1(callable f, element x, element& out) override {
    auto& c = *static_cast<fn*>(f);
    if (c.whole) {
      auto r = c.whole(of(x));
      out = r ? make(*r) : failure("whole");
      return r.has_value();
    }
    if (c.many) {
      auto r = c.many(of(x).v);
      out = r ? list(*r) : failure("many");
      return r.has_value();
    }
    long arg = of(x).k == val::kind::failure ? -1 : of(x).v;
    auto r = c.f1(arg);
    out = r ? make(*r) : failure("call1");
    return r.has_value();
  }
  bool call2(callable f, element a, element b, element& out) override {
    auto r = static_cast<fn*>(f)->f2(of(a).v, of(b).v);
    out = r ? make(*r) : failure("call2");
    return r.has_value();
  }
  int truth(element x, element&) override {
    return of(x).v != 0;
  }
  element retain(element x) override {
    ++live;
    return new val(of(x));
  }
  void release(element x) override {
    --live;
    delete static_cast<val*>(x);
  }
  status next(element it, element& out) override {
    val& i = of(it);
    if (i.pos >= i.items.size()) {
      return status::done;
    }
    if (i.items[i.pos] == -7) { // a failing iterator
      ++i.pos;
      out = failure("next");
      return status::failed;
    }
    out = make(i.items[i.pos++]);
    return status::element;
  }
  bool iterate(element iterable, element& out) override {
    out = retain(iterable);
    of(out).k = val::kind::iterator;
    return true;
  }
  void close(element) override {
    ++closed;
  }
  element make_sequence(element* xs, std::size_t n, bool) override {
    std::vector<long> items;
    for (std::size_t i = 0; i < n; ++i) {
      items.push_back(of(xs[i]).v);
      release(xs[i]);
    }
    return list(items);
  }
  element nothing() override {
    return make(-1);
  }
  element make_failure(int code, const char* message) override {
    return failure(std::to_string(code) + ":" + message);
  }
  directive decide(callable, element) override {
    return decision;
  }
  start start_async(callable, element x, std::uint64_t ticket, element& out) override {
    if (immediate) { // the call finished at once: x + 100
      out = make(x != nullptr ? of(x).v + 100 : 100);
      return start::done;
    }
    started[ticket] = x != nullptr ? of(x).v : 0;
    return start::pending;
  }
  element abort_failure(void*) override {
    return failure("aborted");
  }
  bool append_bytes(element x, std::string& buf, element& failure_out) override {
    if (of(x).k != val::kind::list) { // bytes are lists of byte values here
      failure_out = failure("bytes");
      return false;
    }
    for (long b : of(x).items) {
      buf.push_back(static_cast<char>(b));
    }
    return true;
  }
  element make_bytes(const char* data, std::size_t n) override {
    std::vector<long> items;
    for (std::size_t i = 0; i < n; ++i) {
      items.push_back(static_cast<unsigned char>(data[i]));
    }
    return list(items);
  }
  element alloc_bytes(std::size_t n, char*& data) override {
    element x = list({});
    of(x).error.assign(n, '\0'); // the raw bytes until finish_bytes
    data = of(x).error.data();
    return x;
  }
  element finish_bytes(element x, std::size_t used) override {
    const std::string& raw = of(x).error;
    for (std::size_t i = 0; i < used; ++i) {
      of(x).items.push_back(static_cast<unsigned char>(raw[i]));
    }
    of(x).error.clear();
    return x;
  }
  element make_int(std::int64_t v) override {
    return make(static_cast<long>(v));
  }
  bool to_index(element x, std::int64_t& out, element& failure_out) override {
    if (of(x).v < -100) { // a partitioner's answer that is no index
      failure_out = failure("index");
      return false;
    }
    out = of(x).v;
    return true;
  }
};

inline element iter(int_host& h, std::vector<long> xs) {
  element l = h.list(std::move(xs));
  int_host::of(l).k = val::kind::iterator;
  return l;
}

inline std::vector<long> items_of(int_host& h, element e) {
  std::vector<long> r = int_host::of(e).items;
  h.release(e);
  return r;
}

inline fn plus(long k) {
  return fn{[k](long x) -> std::optional<long> { return x + k; }, {}, {}};
}

inline fn is_even() {
  return fn{[](long x) -> std::optional<long> { return x % 2 == 0; }, {}, {}};
}

inline fn add() {
  return fn{{}, [](long a, long b) -> std::optional<long> { return a + b; }, {}};
}

} // namespace atomr::streams::testing
