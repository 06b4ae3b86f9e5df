#include "atomr/cluster/gossip_codec.hpp"

#include "atomr/cluster/error.hpp"
#include "byte_io.hpp"

#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <vector>

namespace atomr::cluster {

namespace {

constexpr char magic[3] = {'A', 'K', 'G'};

class writer : public detail::byte_writer {
public:
  void count(std::size_t n) {
    if (n > 0xffffffffu)
      throw invalid_argument_error("gossip too large to encode");
    u32(static_cast<std::uint32_t>(n));
  }
  void str(const std::string& s) {
    count(s.size());
    raw(s);
  }
};

class reader : public detail::byte_reader<malformed_gossip_error> {
public:
  using byte_reader::byte_reader;
  /// A count of items each at least `min_item` bytes long: never more than
  /// the bytes left can hold.
  std::uint32_t count(std::size_t min_item, const char* what) {
    const std::uint32_t n = u32(what);
    if (min_item > 0 && n > remaining() / min_item)
      throw malformed_gossip_error(std::string(what) + " count exceeds the input");
    return n;
  }
  std::string str(const char* what) {
    const std::uint32_t n = u32(what);
    return std::string(raw(n, what));
  }
};

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < n + 1)
      return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

std::string text(reader& r, const char* what) {
  std::string s = r.str(what);
  if (!valid_utf8(s))
    throw malformed_gossip_error(std::string(what) + " is not UTF-8");
  return s;
}

} // namespace

std::string encode_gossip(const gossip& g) {
  // The node table: every node any field names, in node order.
  std::map<unique_address, std::uint32_t> index;
  // Most nodes come in node order (members first): insert at the end then.
  const auto note = [&](const unique_address& n) {
    if (index.empty() || std::prev(index.end())->first < n)
      index.emplace_hint(index.end(), n, 0);
    else
      index.emplace(n, 0);
  };
  for (const auto& m : g.members())
    note(m.node);
  for (const auto& n : g.overview().seen)
    note(n);
  const auto records = g.overview().reachability.records();
  for (const auto& rec : records) {
    note(rec.observer);
    note(rec.subject);
  }
  for (const auto& [o, v] : g.overview().reachability.versions())
    note(o);
  for (const auto& n : g.tombstones())
    note(n);
  std::uint32_t i = 0;
  for (auto& [n, idx] : index)
    idx = i++;

  writer w;
  for (char c : magic)
    w.u8(static_cast<std::uint8_t>(c));
  w.u8(gossip_format_version);
  w.count(index.size());
  for (const auto& [n, idx] : index) {
    w.str(n.address);
    w.u64(n.uid);
  }
  // Members and the seen set are in node order, like the table: walk it.
  const auto walker = [&index]() {
    return [&index, it = index.begin()](const unique_address& n) mutable {
      while (it != index.end() && it->first < n)
        ++it;
      return it->second;
    };
  };
  auto member_index = walker();
  w.count(g.members().size());
  for (const auto& m : g.members()) {
    w.u32(member_index(m.node));
    w.u8(static_cast<std::uint8_t>(m.status));
    w.u32(static_cast<std::uint32_t>(m.up_number));
    w.count(m.roles.size());
    for (const auto& role : m.roles)
      w.str(role);
  }
  auto seen_index = walker();
  w.count(g.overview().seen.size());
  for (const auto& n : g.overview().seen)
    w.u32(seen_index(n));
  const auto& versions = g.overview().reachability.versions();
  w.count(versions.size());
  for (const auto& [o, v] : versions) {
    w.u32(index.at(o));
    w.u64(v);
  }
  w.count(records.size());
  for (const auto& rec : records) {
    w.u32(index.at(rec.observer));
    w.u32(index.at(rec.subject));
    w.u8(static_cast<std::uint8_t>(rec.status));
    w.u64(rec.version);
  }
  w.count(g.tombstones().size());
  for (const auto& n : g.tombstones())
    w.u32(index.at(n));
  const auto& clock = g.version().entries();
  w.count(clock.size());
  for (const auto& [node, counter] : clock) {
    w.str(node);
    w.u64(counter);
  }
  return w.take();
}

gossip decode_gossip(std::string_view bytes) {
  if (bytes.size() > max_gossip_size)
    throw malformed_gossip_error("larger than the limit of " + std::to_string(max_gossip_size) +
                                 " bytes");
  reader r(bytes);
  for (char c : magic)
    if (r.u8("magic") != static_cast<std::uint8_t>(c))
      throw malformed_gossip_error("bad magic");
  const std::uint8_t version = r.u8("version");
  if (version != gossip_format_version)
    throw unsupported_version_error("gossip format version " + std::to_string(version) +
                                    " is not supported (this build reads version " +
                                    std::to_string(gossip_format_version) + ")");
  std::vector<unique_address> nodes;
  std::uint32_t last_index = 0; // of the last `node` read
  const std::uint32_t n_nodes = r.count(12, "node table");
  nodes.reserve(n_nodes);
  for (std::uint32_t i = 0; i < n_nodes; ++i) {
    unique_address n;
    n.address = text(r, "node address");
    if (!parse_address(n.address))
      throw malformed_gossip_error("node address '" + n.address + "' is not an address");
    n.uid = r.u64("node uid");
    if (!nodes.empty() && !(nodes.back() < n))
      throw malformed_gossip_error("node table not in strictly increasing order");
    nodes.push_back(std::move(n));
  }
  const auto node = [&](const char* what) -> const unique_address& {
    const std::uint32_t i = r.u32(what);
    if (i >= nodes.size())
      throw malformed_gossip_error(std::string(what) + " index " + std::to_string(i) +
                                   " out of range");
    last_index = i;
    return nodes[i];
  };

  gossip g;
  std::vector<member> members;
  // The table is in node order: node order of two entries is index order.
  std::optional<std::uint32_t> previous_member;
  const std::uint32_t n_members = r.count(13, "members");
  for (std::uint32_t i = 0; i < n_members; ++i) {
    member m;
    m.node = node("member node");
    const std::uint32_t member_index = last_index;
    const std::uint8_t status = r.u8("member status");
    if (status >= member_status_count)
      throw malformed_gossip_error("unknown member status " + std::to_string(status));
    m.status = static_cast<member_status>(status);
    if (m.status == member_status::removed)
      throw malformed_gossip_error("a removed member in the member list");
    const std::uint32_t up = r.u32("member up number");
    if (up > 0x7fffffffu)
      throw malformed_gossip_error("negative member up number");
    m.up_number = static_cast<std::int32_t>(up);
    const std::uint32_t n_roles = r.count(4, "member roles");
    for (std::uint32_t k = 0; k < n_roles; ++k) {
      std::string role = text(r, "member role");
      if (!m.roles.empty() && !(m.roles.back() < role))
        throw malformed_gossip_error("member roles not in strictly increasing order");
      m.roles.push_back(std::move(role));
    }
    if (previous_member && !(*previous_member < member_index))
      throw malformed_gossip_error("members not in strictly increasing node order");
    previous_member = member_index;
    members.push_back(std::move(m));
  }
  std::set<unique_address> seen;
  std::optional<std::uint32_t> previous_seen;
  const std::uint32_t n_seen = r.count(4, "seen set");
  for (std::uint32_t i = 0; i < n_seen; ++i) {
    const unique_address& n = node("seen node");
    if (previous_seen && *previous_seen < last_index) {
      seen.emplace_hint(seen.end(), n); // in order, as encode writes it
    } else if (!seen.insert(n).second) {
      throw malformed_gossip_error("duplicate node in the seen set");
    }
    previous_seen = last_index;
  }
  std::map<unique_address, std::uint64_t> versions;
  const std::uint32_t n_versions = r.count(12, "reachability versions");
  for (std::uint32_t i = 0; i < n_versions; ++i) {
    const unique_address& o = node("reachability observer");
    const std::uint64_t v = r.u64("reachability version");
    if (v == 0)
      throw malformed_gossip_error("reachability version 0");
    if (!versions.emplace(o, v).second)
      throw malformed_gossip_error("duplicate reachability observer");
  }
  std::vector<reachability_record> records;
  std::set<std::pair<unique_address, unique_address>> pairs;
  const std::uint32_t n_records = r.count(17, "reachability records");
  for (std::uint32_t i = 0; i < n_records; ++i) {
    reachability_record rec;
    rec.observer = node("record observer");
    rec.subject = node("record subject");
    const std::uint8_t status = r.u8("record status");
    if (status > 2)
      throw malformed_gossip_error("unknown reachability status " + std::to_string(status));
    rec.status = static_cast<reachability_status>(status);
    rec.version = r.u64("record version");
    const auto v = versions.find(rec.observer);
    if (v == versions.end() || rec.version == 0 || rec.version > v->second)
      throw malformed_gossip_error("record version beyond its observer's version");
    if (!pairs.emplace(rec.observer, rec.subject).second)
      throw malformed_gossip_error("duplicate reachability record");
    records.push_back(std::move(rec));
  }
  std::set<unique_address> tombstones;
  const std::uint32_t n_tombstones = r.count(4, "tombstones");
  for (std::uint32_t i = 0; i < n_tombstones; ++i)
    if (!tombstones.insert(node("tombstone")).second)
      throw malformed_gossip_error("duplicate tombstone");
  for (const auto& m : members)
    if (tombstones.count(m.node))
      throw malformed_gossip_error("a tombstoned node in the member list");
  vector_clock clock;
  std::string previous;
  const std::uint32_t n_clock = r.count(12, "vector clock");
  for (std::uint32_t i = 0; i < n_clock; ++i) {
    std::string name = text(r, "clock node");
    const std::uint64_t counter = r.u64("clock counter");
    if (counter == 0)
      throw malformed_gossip_error("clock counter 0");
    if (i > 0 && !(previous < name))
      throw malformed_gossip_error("clock nodes not in strictly increasing order");
    previous = name;
    clock.set(name, counter);
  }
  if (r.remaining() != 0)
    throw malformed_gossip_error(std::to_string(r.remaining()) + " trailing bytes");

  for (const auto& m : members)
    g.put(m);
  g.set_seen(std::move(seen));
  g.set_reachability(reachability::from_parts(std::move(records), std::move(versions)));
  g.set_version(std::move(clock));
  g.set_tombstones(std::move(tombstones));
  return g;
}

} // namespace atomr::cluster
