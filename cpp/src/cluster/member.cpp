#include "atomr/cluster/member.hpp"

#include "atomr/cluster/error.hpp"

#include <algorithm>
#include <charconv>

namespace atomr::cluster {

namespace {

// The parts of an address as views into it (no allocation: addresses are
// compared on every ordered lookup of a node).
struct address_view {
  std::string_view protocol, system, host;
  std::uint32_t port = 0;
};

std::optional<address_view> parse_view(std::string_view address) {
  const auto sep = address.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return std::nullopt;
  address_view out;
  out.protocol = address.substr(0, sep);
  std::string_view rest = address.substr(sep + 3);
  const auto at = rest.find('@');
  if (at == std::string_view::npos) {
    if (rest.empty() || rest.find_first_of(":/") != std::string_view::npos)
      return std::nullopt;
    out.system = rest;
    return out;
  }
  if (at == 0)
    return std::nullopt;
  out.system = rest.substr(0, at);
  std::string_view hp = rest.substr(at + 1);
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hp.size())
    return std::nullopt;
  out.host = hp.substr(0, colon);
  std::string_view port = hp.substr(colon + 1);
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return std::nullopt;
  out.port = value;
  return out;
}

} // namespace

std::optional<address_parts> parse_address(std::string_view address) {
  const auto v = parse_view(address);
  if (!v)
    return std::nullopt;
  address_parts out;
  out.protocol = std::string(v->protocol);
  out.system = std::string(v->system);
  out.host = std::string(v->host);
  out.port = v->port;
  return out;
}

namespace {

// The port in `tail` (the bytes after the host's ':'), if valid: what
// from_chars into a u32 accepts, at most 65535.
std::optional<std::uint32_t> port_of(std::string_view tail) {
  if (tail.empty())
    return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : tail) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535)
      return std::nullopt;
  }
  return value;
}

// The common case without parsing both addresses from the start: when the
// two share their protocol and system (the common prefix reaches past the
// '@'), only the hosts and ports are compared. nullopt: not that case.
std::optional<std::strong_ordering> compare_same_system(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  const std::string_view common = a.substr(0, i);
  const auto sep = common.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return std::nullopt;
  const auto at = common.find('@', sep + 3);
  if (at == std::string_view::npos || at == sep + 3)
    return std::nullopt;
  const auto ca = a.rfind(':');
  const auto cb = b.rfind(':');
  if (ca == std::string_view::npos || cb == std::string_view::npos || ca <= at + 1 || cb <= at + 1)
    return std::nullopt;
  const auto pa = port_of(a.substr(ca + 1));
  const auto pb = port_of(b.substr(cb + 1));
  if (!pa || !pb)
    return std::nullopt;
  // Hosts a[at+1, ca) and b[at+1, cb), equal up to i.
  if (i < std::min(ca, cb))
    return a[i] <=> b[i];
  if (ca != cb)
    return ca <=> cb; // one host is a prefix of the other
  if (auto c = *pa <=> *pb; c != 0)
    return c;
  return a <=> b;
}

} // namespace

std::strong_ordering compare_addresses(std::string_view a, std::string_view b) {
  if (a == b)
    return std::strong_ordering::equal;
  if (const auto fast = compare_same_system(a, b))
    return *fast;
  const auto pa = parse_view(a);
  const auto pb = parse_view(b);
  if (pa && pb) {
    if (auto c = pa->protocol <=> pb->protocol; c != 0)
      return c;
    if (auto c = pa->host <=> pb->host; c != 0)
      return c;
    if (auto c = pa->port <=> pb->port; c != 0)
      return c;
    if (auto c = pa->system <=> pb->system; c != 0)
      return c;
  } else if (pa || pb) {
    return pa ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  return a <=> b;
}

std::string unique_address::node_name() const {
  return address + "#" + std::to_string(uid);
}

bool transition_allowed(member_status from, member_status to) noexcept {
  using s = member_status;
  if (from == to)
    return true;
  switch (from) {
  case s::joining:
    return to == s::weakly_up || to == s::up || to == s::leaving || to == s::down ||
           to == s::removed;
  case s::weakly_up:
    return to == s::up || to == s::leaving || to == s::down || to == s::removed;
  case s::up:
    return to == s::leaving || to == s::down || to == s::removed;
  case s::leaving:
    return to == s::exiting || to == s::down || to == s::removed;
  case s::exiting:
    return to == s::removed || to == s::down;
  case s::down:
    return to == s::removed;
  case s::removed:
    return false;
  }
  return false;
}

std::string_view status_name(member_status s) noexcept {
  switch (s) {
  case member_status::joining:
    return "joining";
  case member_status::weakly_up:
    return "weakly_up";
  case member_status::up:
    return "up";
  case member_status::leaving:
    return "leaving";
  case member_status::exiting:
    return "exiting";
  case member_status::down:
    return "down";
  case member_status::removed:
    return "removed";
  }
  return "unknown";
}

std::optional<member_status> parse_status(std::string_view name) noexcept {
  if (name == "weaklyup")
    return member_status::weakly_up;
  for (int i = 0; i < member_status_count; ++i) {
    const auto s = static_cast<member_status>(i);
    if (status_name(s) == name)
      return s;
  }
  return std::nullopt;
}

int status_priority(member_status s) noexcept {
  switch (s) {
  case member_status::joining:
    return 0;
  case member_status::weakly_up:
    return 1;
  case member_status::up:
    return 2;
  case member_status::leaving:
    return 3;
  case member_status::exiting:
    return 4;
  case member_status::down:
    return 5;
  case member_status::removed:
    return 6;
  }
  return 0;
}

member member::joining(unique_address node, std::vector<std::string> roles) {
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  member m;
  m.node = std::move(node);
  m.roles = std::move(roles);
  return m;
}

member member::with_status(member_status to) const {
  if (!transition_allowed(status, to))
    throw invalid_transition_error("member " + node.address + " cannot go from " +
                                   std::string(status_name(status)) + " to " +
                                   std::string(status_name(to)));
  member m = *this;
  m.status = to;
  return m;
}

member member::with_up_number(member_status to, std::int32_t number) const {
  member m = with_status(to);
  m.up_number = number;
  return m;
}

int age_compare(const member& a, const member& b) noexcept {
  // Not yet up (0) counts as the youngest possible.
  const auto key = [](const member& m) -> std::int64_t {
    return m.up_number > 0 ? m.up_number : (std::int64_t{1} << 40);
  };
  if (key(a) != key(b))
    return key(a) < key(b) ? -1 : 1;
  const auto c = a.node <=> b.node;
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

const member& highest_priority_of(const member& a, const member& b) noexcept {
  const int pa = status_priority(a.status);
  const int pb = status_priority(b.status);
  if (pa != pb)
    return pa > pb ? a : b;
  if (a.up_number != b.up_number) {
    // The older one (a positive up number beats 0).
    const int c = age_compare(a, b);
    return c <= 0 ? a : b;
  }
  return a.roles >= b.roles ? a : b;
}

} // namespace atomr::cluster
