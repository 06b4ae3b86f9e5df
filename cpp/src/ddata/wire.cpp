// The versioned binary wire format of every replicated type (see wire.hpp).
// cereal's portable binary archive encodes the primitives; the layout of
// each type, and every check made while decoding, is written out here.

#include "atomr/ddata/wire.hpp"

#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/maps.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"

#include <cereal/archives/portable_binary.hpp>
#include <cstring>
#include <limits>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string_view>
#include <vector>

namespace atomr::ddata {

namespace {

constexpr char magic[4] = {'A', 'C', 'R', 'D'};
constexpr std::size_t header_size = 4 + 2 + 1; // magic, version, tag
constexpr std::size_t string_min = 8;          // a string is at least its length
constexpr std::size_t dot_min = string_min + 8;

/// A read-only streambuf over caller-owned bytes (no copy).
class memory_buf : public std::streambuf {
public:
  memory_buf(const char* data, std::size_t size) {
    char* p = const_cast<char*>(data);
    setg(p, p, p + size);
  }
  std::size_t remaining() const noexcept {
    return static_cast<std::size_t>(egptr() - gptr());
  }
};

[[noreturn]] void malformed(const std::string& what) {
  throw malformed_data_error(what);
}

/// Primitive writes.
class writer {
public:
  explicit writer(std::ostream& os)
    : ar_(os, cereal::PortableBinaryOutputArchive::Options::LittleEndian()) {
  }
  void u8(std::uint8_t v) {
    ar_(v);
  }
  void u64(std::uint64_t v) {
    ar_(v);
  }
  void i64(std::int64_t v) {
    ar_(v);
  }
  void str(const std::string& s) {
    u64(s.size());
    ar_(cereal::binary_data(s.data(), s.size()));
  }
  void dot_(const dot& d) {
    str(d.node);
    u64(d.counter);
  }

private:
  cereal::PortableBinaryOutputArchive ar_;
};

/// Primitive reads, each checked against the bytes left.
class reader {
public:
  reader(memory_buf& buf, std::istream& is)
    : buf_(buf)
    , ar_(is, cereal::PortableBinaryInputArchive::Options::LittleEndian()) {
  }
  std::size_t remaining() const noexcept {
    return buf_.remaining();
  }
  void need(std::size_t n, const char* what) const {
    if (remaining() < n)
      malformed(std::string("truncated while reading ") + what);
  }
  std::uint8_t u8(const char* what) {
    need(1, what);
    std::uint8_t v = 0;
    ar_(v);
    return v;
  }
  std::uint64_t u64(const char* what) {
    need(8, what);
    std::uint64_t v = 0;
    ar_(v);
    return v;
  }
  std::int64_t i64(const char* what) {
    need(8, what);
    std::int64_t v = 0;
    ar_(v);
    return v;
  }
  /// A collection length, checked so that `n` items of at least
  /// `min_item` bytes fit in what is left.
  std::size_t count(std::size_t min_item, const char* what) {
    const std::uint64_t n = u64(what);
    if (n > remaining() / (min_item == 0 ? 1 : min_item))
      malformed(std::string("the length of ") + what + " exceeds the blob");
    return static_cast<std::size_t>(n);
  }
  std::string str(const char* what) {
    const std::uint64_t n = u64(what);
    if (n > remaining())
      malformed(std::string("the length of ") + what + " exceeds the blob");
    std::string s(static_cast<std::size_t>(n), '\0');
    if (n != 0)
      ar_(cereal::binary_data(s.data(), s.size()));
    return s;
  }
  dot dot_(const char* what) {
    dot d;
    d.node = str(what);
    d.counter = u64(what);
    if (d.counter == 0)
      malformed(std::string(what) + " has counter 0");
    return d;
  }

  /// Whether set elements and map keys must be canonical encodings.
  element_check elements = element_check::none;

private:
  memory_buf& buf_;
  cereal::PortableBinaryInputArchive ar_;
};

// -- canonical element encodings -------------------------------------------------

/// Whether `s` is UTF-8 as Python's "surrogatepass" writes it (shortest
/// forms only, code points up to U+10FFFF, surrogates allowed).
bool is_utf8_surrogatepass(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned lo = 0x80, hi = 0xBF; // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0)
        lo = 0xA0; // no overlong three-byte forms
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0)
        lo = 0x90; // no overlong four-byte forms
      if (c == 0xF4)
        hi = 0x8F; // nothing above U+10FFFF
    } else {
      return false;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
      return false;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF)
        return false;
    i += len;
  }
  return true;
}

/// Whether `digits` is an int as Python's str() writes it.
bool is_canonical_int(std::string_view digits) noexcept {
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative)
    digits.remove_prefix(1);
  if (digits.empty() || digits.size() > max_element_int_digits)
    return false;
  if (digits.front() == '0')
    return digits.size() == 1 && !negative; // "0", never "-0" or "01"
  for (char ch : digits)
    if (ch < '0' || ch > '9')
      return false;
  return true;
}

/// Splits the parts of a tuple or frozenset encoding (4-byte big-endian
/// length, then the part); false when the lengths do not tile `body`.
bool split_parts(std::string_view body, std::vector<std::string_view>& parts) {
  while (!body.empty()) {
    if (body.size() < 4)
      return false;
    const auto* b = reinterpret_cast<const unsigned char*>(body.data());
    const std::size_t n = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) |
                          (std::size_t{b[2]} << 8) | std::size_t{b[3]};
    body.remove_prefix(4);
    if (n > body.size())
      return false;
    parts.push_back(body.substr(0, n));
    body.remove_prefix(n);
  }
  return true;
}

/// Why `e` is not a canonical element encoding, or null.
const char* element_problem(std::string_view e, int depth) {
  if (e.empty())
    return "an element encoding is empty";
  const std::string_view body = e.substr(1);
  switch (e.front()) {
  case 's':
    return is_utf8_surrogatepass(body) ? nullptr : "a string element is not valid UTF-8";
  case 'b':
    return nullptr;
  case 'i':
    return is_canonical_int(body) ? nullptr : "an int element is not in canonical decimal form";
  case 'T':
  case 'F':
  case 'n':
    return body.empty() ? nullptr : "a bool or None element has trailing bytes";
  case 'f': {
    if (body.size() != 8)
      return "a float element is not 8 bytes";
    std::uint64_t bits = 0;
    for (char ch : body)
      bits = (bits << 8) | static_cast<unsigned char>(ch);
    const bool nan =
        (bits & 0x7FF0000000000000u) == 0x7FF0000000000000u && (bits & 0x000FFFFFFFFFFFFFu) != 0;
    if (bits == 0x8000000000000000u || (nan && bits != 0x7FF8000000000000u))
      return "a float element is not canonical (negative zero or a NaN other than the "
             "canonical one)";
    return nullptr;
  }
  case 't':
  case 'z': {
    if (depth >= max_element_depth)
      return "elements nest too deeply";
    std::vector<std::string_view> parts;
    if (!split_parts(body, parts))
      return "a tuple or frozenset element has truncated parts";
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (const char* why = element_problem(parts[i], depth + 1))
        return why;
      if (e.front() == 'z' && i > 0 && !(parts[i - 1] < parts[i]))
        return "a frozenset element's parts are not in strictly increasing order";
    }
    return nullptr;
  }
  case 'c': {
    const std::size_t sep = body.find('\0');
    if (sep == std::string_view::npos || sep == 0)
      return "a codec element has no manifest";
    return is_utf8_surrogatepass(body.substr(0, sep)) ? nullptr
                                                      : "a codec element's manifest is not UTF-8";
  }
  default:
    return "an element encoding has an unknown kind";
  }
}

/// Rejects `e` (the `what` of a blob) unless `r` takes any bytes or it is
/// a canonical element encoding.
void check_element(const reader& r, std::string_view e, const char* what) {
  if (r.elements == element_check::none)
    return;
  if (const char* why = element_problem(e, 0))
    malformed(std::string(what) + " is not a canonical element encoding: " + why);
}

} // namespace

namespace internal {

struct wire_access {
  // -- writing --------------------------------------------------------------

  static void save_counts(writer& w, const gcounter::counts& counts) {
    w.u64(counts.size());
    for (const auto& [node, count] : counts) {
      w.str(node);
      w.u64(count);
    }
  }

  static void save_context(writer& w, const causal_context& ctx) {
    w.u64(ctx.vv_.size());
    for (const auto& [node, counter] : ctx.vv_) {
      w.str(node);
      w.u64(counter);
    }
    w.u64(ctx.cloud_.size());
    for (const auto& d : ctx.cloud_)
      w.dot_(d);
  }

  static void save_payload(writer&, const no_payload&) {
  }
  static void save_payload(writer& w, const ormap::value_ptr& v) {
    w.u8(static_cast<std::uint8_t>(v->tag()));
    save_body(w, *v);
  }

  template <class P> static void save_kernel(writer& w, const dot_kernel<P>& k) {
    save_context(w, k.ctx_);
    w.u64(k.entries_.size());
    for (const auto& [key, dots] : k.entries_) {
      w.str(key);
      w.u64(dots.size());
      for (const auto& [d, payload] : dots) {
        w.dot_(d);
        save_payload(w, payload);
      }
    }
  }

  static void save_body(writer& w, const replicated_data& v) {
    switch (v.tag()) {
    case type_tag::gcounter:
      save_counts(w, static_cast<const gcounter&>(v).counts_);
      return;
    case type_tag::pncounter: {
      const auto& c = static_cast<const pncounter&>(v);
      save_counts(w, c.p_.counts_);
      save_counts(w, c.n_.counts_);
      return;
    }
    case type_tag::gset: {
      const auto& s = static_cast<const gset&>(v).elements_;
      w.u64(s.size());
      for (const auto& e : s)
        w.str(e);
      return;
    }
    case type_tag::orset:
      save_kernel(w, static_cast<const orset&>(v).k_);
      return;
    case type_tag::lww_register: {
      const auto& r = static_cast<const lww_register&>(v);
      w.str(r.value_);
      w.i64(r.timestamp_);
      w.str(r.node_);
      return;
    }
    case type_tag::flag:
      w.u8(static_cast<const flag&>(v).on_ ? 1 : 0);
      return;
    case type_tag::ormap: {
      const auto& m = static_cast<const ormap&>(v);
      w.u8(static_cast<std::uint8_t>(m.value_type_));
      save_kernel(w, m.k_);
      return;
    }
    case type_tag::lww_map:
      save_kernel(w, static_cast<const lww_map&>(v).map().k_);
      return;
    case type_tag::pncounter_map:
      save_kernel(w, static_cast<const pncounter_map&>(v).map().k_);
      return;
    case type_tag::ormultimap:
      save_kernel(w, static_cast<const ormultimap&>(v).set_.k_);
      return;
    case type_tag::deleted:
      return;
    }
  }

  // -- reading --------------------------------------------------------------

  static gcounter::counts load_counts(reader& r) {
    gcounter::counts out;
    const std::size_t n = r.count(string_min + 8, "counter entries");
    for (std::size_t i = 0; i < n; ++i) {
      std::string node = r.str("a counter's node id");
      const std::uint64_t count = r.u64("a counter's count");
      if (count == 0)
        malformed("a counter entry has count 0");
      if (!out.empty() && !(std::prev(out.end())->first < node))
        malformed("counter entries are not in strictly increasing node order");
      out.emplace_hint(out.end(), std::move(node), count);
    }
    return out;
  }

  static causal_context load_context(reader& r) {
    causal_context ctx;
    const std::size_t nv = r.count(string_min + 8, "version vector");
    for (std::size_t i = 0; i < nv; ++i) {
      std::string node = r.str("a version vector node id");
      const std::uint64_t counter = r.u64("a version vector counter");
      if (counter == 0)
        malformed("a version vector entry has counter 0");
      if (!ctx.vv_.empty() && !(std::prev(ctx.vv_.end())->first < node))
        malformed("version vector entries are not in strictly increasing node order");
      ctx.vv_.emplace_hint(ctx.vv_.end(), std::move(node), counter);
    }
    const std::size_t nc = r.count(dot_min, "dot cloud");
    for (std::size_t i = 0; i < nc; ++i) {
      dot d = r.dot_("a cloud dot");
      if (!ctx.cloud_.empty() && !(*std::prev(ctx.cloud_.end()) < d))
        malformed("cloud dots are not in strictly increasing order");
      ctx.cloud_.emplace_hint(ctx.cloud_.end(), std::move(d));
    }
    ctx.compact();
    return ctx;
  }

  static void load_payload(reader&, no_payload&, type_tag, int) {
  }
  static void load_payload(reader& r, ormap::value_ptr& v, type_tag value_type, int depth) {
    const std::uint8_t raw = r.u8("a map value's type tag");
    if (raw != static_cast<std::uint8_t>(value_type))
      malformed(std::string("a map of ") + type_name(value_type) + " holds a value with type tag " +
                std::to_string(raw));
    v = load_body(r, value_type, depth + 1);
  }

  /// `element_keys`: the keys are elements (set elements, map keys) rather
  /// than multimap bindings, which are checked by their halves.
  template <class P>
  static dot_kernel<P> load_kernel(reader& r, type_tag value_type, int depth,
                                   bool element_keys = true) {
    dot_kernel<P> k;
    k.ctx_ = load_context(r);
    const std::size_t n = r.count(string_min + 8, "entries");
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = r.str("an entry's key");
      if (!k.entries_.empty() && !(std::prev(k.entries_.end())->first < key))
        malformed("entries are not in strictly increasing key order");
      if (element_keys)
        check_element(r, key, "an entry's key");
      const std::size_t nd = r.count(dot_min, "an entry's dots");
      if (nd == 0)
        malformed("an entry has no dots");
      typename dot_kernel<P>::dot_list dots;
      dots.reserve(nd);
      for (std::size_t j = 0; j < nd; ++j) {
        dot d = r.dot_("an entry's dot");
        if (!dots.empty() && !(dots.back().first < d))
          malformed("an entry's dots are not in strictly increasing order");
        if (!k.ctx_.contains(d))
          malformed("an entry's dot is outside the causal context");
        P payload{};
        load_payload(r, payload, value_type, depth);
        dots.emplace_back(std::move(d), std::move(payload));
      }
      k.entries_.emplace_hint(k.entries_.end(), std::move(key), std::move(dots));
    }
    return k;
  }

  static std::unique_ptr<replicated_data> load_body(reader& r, type_tag tag, int depth) {
    if (depth > max_wire_depth)
      malformed("values nest too deeply");
    switch (tag) {
    case type_tag::gcounter: {
      auto c = std::make_unique<gcounter>();
      c->counts_ = load_counts(r);
      return c;
    }
    case type_tag::pncounter: {
      auto c = std::make_unique<pncounter>();
      c->p_.counts_ = load_counts(r);
      c->n_.counts_ = load_counts(r);
      return c;
    }
    case type_tag::gset: {
      auto s = std::make_unique<gset>();
      const std::size_t n = r.count(string_min, "set elements");
      for (std::size_t i = 0; i < n; ++i) {
        std::string e = r.str("a set element");
        if (!s->elements_.empty() && !(*std::prev(s->elements_.end()) < e))
          malformed("set elements are not in strictly increasing order");
        check_element(r, e, "a set element");
        s->elements_.emplace_hint(s->elements_.end(), std::move(e));
      }
      return s;
    }
    case type_tag::orset: {
      auto s = std::make_unique<orset>();
      s->k_ = load_kernel<no_payload>(r, tag, depth);
      return s;
    }
    case type_tag::lww_register: {
      auto reg = std::make_unique<lww_register>();
      reg->value_ = r.str("a register's value");
      reg->timestamp_ = r.i64("a register's timestamp");
      reg->node_ = r.str("a register's node id");
      return reg;
    }
    case type_tag::flag: {
      const std::uint8_t on = r.u8("a flag");
      if (on > 1)
        malformed("a flag byte is neither 0 nor 1");
      auto f = std::make_unique<flag>();
      f->on_ = on == 1;
      return f;
    }
    case type_tag::ormap: {
      const std::uint8_t raw = r.u8("a map's value type");
      if (!is_type_tag(raw) || !ormap::is_value_type(static_cast<type_tag>(raw)))
        malformed("a map's value type tag " + std::to_string(raw) + " is not a map value type");
      auto m = std::make_unique<ormap>(static_cast<type_tag>(raw));
      m->k_ = load_kernel<ormap::value_ptr>(r, m->value_type_, depth);
      return m;
    }
    case type_tag::lww_map: {
      auto m = std::make_unique<lww_map>();
      m->map().k_ = load_kernel<ormap::value_ptr>(r, type_tag::lww_register, depth);
      return m;
    }
    case type_tag::pncounter_map: {
      auto m = std::make_unique<pncounter_map>();
      m->map().k_ = load_kernel<ormap::value_ptr>(r, type_tag::pncounter, depth);
      return m;
    }
    case type_tag::ormultimap: {
      auto m = std::make_unique<ormultimap>();
      m->set_.k_ = load_kernel<no_payload>(r, type_tag::orset, depth, false);
      std::string key;
      std::string element;
      for (const auto& [b, _] : m->set_.k_.entries_) {
        if (!ormultimap::split(b, key, element))
          malformed("a multimap binding is not a (key, element) pair");
        check_element(r, key, "a multimap key");
        check_element(r, element, "a multimap element");
      }
      return m;
    }
    case type_tag::deleted:
      return std::make_unique<deleted_data>();
    }
    malformed("unknown type tag");
  }
};

} // namespace internal

bool is_canonical_element(std::string_view encoding) {
  return element_problem(encoding, 0) == nullptr;
}

std::string to_bytes(const replicated_data& value) {
  std::ostringstream os(std::ios::binary);
  os.write(magic, sizeof magic);
  const char version[2] = {static_cast<char>(wire_version >> 8),
                           static_cast<char>(wire_version & 0xFF)};
  os.write(version, 2);
  os.put(static_cast<char>(value.tag()));
  {
    writer w(os);
    internal::wire_access::save_body(w, value);
  }
  return std::move(os).str();
}

type_tag peek_type(const char* data, std::size_t size) {
  if (size < header_size + 1)
    malformed("the blob is shorter than the header (" + std::to_string(size) + " bytes)");
  if (std::memcmp(data, magic, sizeof magic) != 0)
    malformed("bad magic (not a replicated data blob)");
  const auto* u = reinterpret_cast<const unsigned char*>(data);
  const unsigned version = (unsigned{u[4]} << 8) | unsigned{u[5]};
  if (version != wire_version)
    malformed("unsupported format version " + std::to_string(version) + " (this build reads " +
              std::to_string(wire_version) + ")");
  if (!is_type_tag(u[6]))
    malformed("unknown type tag " + std::to_string(u[6]));
  if (u[7] != 1)
    malformed("bad byte-order marker");
  return static_cast<type_tag>(u[6]);
}

std::unique_ptr<replicated_data> from_bytes(const char* data, std::size_t size,
                                            element_check check) {
  const type_tag tag = peek_type(data, size);
  memory_buf buf(data + header_size, size - header_size);
  std::istream is(&buf);
  std::unique_ptr<replicated_data> out;
  try {
    reader r(buf, is);
    r.elements = check;
    out = internal::wire_access::load_body(r, tag, 0);
    if (r.remaining() != 0)
      malformed(std::to_string(r.remaining()) + " trailing bytes after the value");
  } catch (const cereal::Exception& e) {
    malformed(e.what());
  }
  return out;
}

} // namespace atomr::ddata
