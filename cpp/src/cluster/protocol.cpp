#include "atomr/cluster/protocol.hpp"

#include "atomr/cluster/daemon.hpp"
#include "atomr/cluster/error.hpp"
#include "atomr/cluster/gossip_codec.hpp"
#include "byte_io.hpp"

#include <array>

namespace atomr::cluster::protocol {

namespace {

constexpr std::array<std::string_view, 9> manifests = {
    "atomr.cluster.InitJoin",       "atomr.cluster.InitJoinAck", "atomr.cluster.InitJoinNack",
    "atomr.cluster.Join",           "atomr.cluster.Welcome",     "atomr.cluster.GossipStatus",
    "atomr.cluster.GossipEnvelope", "atomr.cluster.Heartbeat",   "atomr.cluster.HeartbeatRsp",
};

class writer : public detail::byte_writer {
public:
  void count(std::size_t n, std::size_t max, const char* what) {
    if (n > max)
      throw invalid_argument_error(std::string(what) + " too large to encode");
    u32(static_cast<std::uint32_t>(n));
  }
  void str(std::string_view s, std::size_t max, const char* what) {
    count(s.size(), max, what);
    raw(s);
  }
  void node(const unique_address& a) {
    if (a.uid == 0 || a.address.size() > max_address_size || !parse_address(a.address))
      throw invalid_argument_error("cannot encode the node `" + a.address + "` (uid " +
                                   std::to_string(a.uid) + ")");
    str(a.address, max_address_size, "address");
    u64(a.uid);
  }
  void gossip_bytes(const gossip& g) {
    const std::string bytes = encode_gossip(g);
    str(bytes, max_gossip_size, "gossip");
  }
};

class reader : public detail::byte_reader<malformed_message_error> {
public:
  using byte_reader::byte_reader;
  /// A count of items at least `min_item` bytes long, at most `max`.
  std::uint32_t count(std::size_t min_item, std::size_t max, const char* what) {
    const std::uint32_t n = u32(what);
    if (n > max || (min_item > 0 && n > remaining() / min_item))
      throw malformed_message_error(std::string(what) + " count out of range");
    return n;
  }
  std::string_view str(std::size_t max, const char* what) {
    const std::uint32_t n = u32(what);
    if (n > max)
      throw malformed_message_error(std::string(what) + " longer than " + std::to_string(max));
    return raw(n, what);
  }
  unique_address node(const char* what) {
    unique_address a;
    a.address = std::string(str(max_address_size, what));
    if (!parse_address(a.address))
      throw malformed_message_error(std::string(what) + " is not an address: `" + a.address + "`");
    a.uid = u64(what);
    if (a.uid == 0)
      throw malformed_message_error(std::string(what) + " has uid 0");
    return a;
  }
  gossip gossip_bytes() {
    const std::string_view bytes = str(max_gossip_size, "gossip");
    try {
      return decode_gossip(bytes);
    } catch (const error& e) {
      if (static_cast<errc>(e.code()) == errc::unsupported_version)
        throw;
      throw malformed_message_error(std::string("embedded ") + e.what());
    }
  }
  void finish() {
    if (remaining() != 0)
      throw malformed_message_error(std::to_string(remaining()) + " trailing bytes");
  }
};

template <class... F> struct overloaded : F... { using F::operator()...; };
template <class... F> overloaded(F...) -> overloaded<F...>;

void write_roles(writer& w, const std::vector<std::string>& roles) {
  w.count(roles.size(), max_roles, "roles");
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (roles[i].empty() || (i > 0 && !(roles[i - 1] < roles[i])))
      throw invalid_argument_error("roles must be non-empty, sorted and unique");
    w.str(roles[i], max_role_size, "role");
  }
}

std::vector<std::string> read_roles(reader& r) {
  const std::uint32_t n = r.count(5, max_roles, "roles");
  std::vector<std::string> roles;
  roles.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string role(r.str(max_role_size, "role"));
    if (role.empty())
      throw malformed_message_error("empty role");
    if (!roles.empty() && !(roles.back() < role))
      throw malformed_message_error("roles not sorted and unique");
    roles.push_back(std::move(role));
  }
  return roles;
}

void write_clock(writer& w, const vector_clock& v) {
  w.count(v.entries().size(), max_clock_entries, "clock");
  for (const auto& [node, counter] : v.entries()) {
    w.str(node, max_address_size + 32, "clock node");
    w.u64(counter);
  }
}

vector_clock read_clock(reader& r) {
  const std::uint32_t n = r.count(13, max_clock_entries, "clock");
  vector_clock v;
  std::string previous;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string node(r.str(max_address_size + 32, "clock node"));
    const std::uint64_t counter = r.u64("clock counter");
    if (node.empty() || counter == 0)
      throw malformed_message_error("clock entry with an empty node or a zero counter");
    if (i > 0 && !(previous < node))
      throw malformed_message_error("clock nodes not strictly increasing");
    previous = node;
    v.set(node, counter);
  }
  return v;
}

} // namespace

std::string_view manifest_of(const message& m) noexcept {
  return manifests[m.index()];
}

std::string encode_payload(const message& m) {
  writer w;
  const auto* ack = std::get_if<init_join_ack>(&m);
  const bool flagged = ack != nullptr && !ack->initialized;
  w.u8(flagged ? std::uint8_t{2} : min_cluster_protocol_version);
  std::visit(overloaded{
                 [&](const init_join& x) { w.node(x.from); },
                 [&](const init_join_ack& x) {
                   w.node(x.from);
                   if (flagged)
                     w.u8(x.initialized ? 1 : 0);
                 },
                 [&](const init_join_nack& x) { w.node(x.from); },
                 [&](const join& x) {
                   w.node(x.node);
                   write_roles(w, x.roles);
                 },
                 [&](const welcome& x) {
                   w.node(x.from);
                   w.gossip_bytes(x.state);
                 },
                 [&](const gossip_status& x) {
                   w.node(x.from);
                   write_clock(w, x.version);
                 },
                 [&](const gossip_envelope& x) {
                   w.node(x.from);
                   w.node(x.to);
                   w.gossip_bytes(x.state);
                 },
                 [&](const heartbeat& x) {
                   w.node(x.from);
                   w.u64(x.sequence);
                 },
                 [&](const heartbeat_rsp& x) {
                   w.node(x.from);
                   w.u64(x.sequence);
                 },
             },
             m);
  return w.take();
}

message decode(std::string_view manifest, std::string_view payload) {
  std::size_t kind = manifests.size();
  for (std::size_t i = 0; i < manifests.size(); ++i)
    if (manifests[i] == manifest)
      kind = i;
  if (kind == manifests.size())
    throw malformed_message_error("unknown manifest `" +
                                  std::string(manifest.substr(0, max_address_size)) + "`");
  reader r(payload);
  const std::uint8_t version = r.u8("protocol version");
  if (version < min_cluster_protocol_version || version > cluster_protocol_version)
    throw unsupported_version_error("cluster protocol version " + std::to_string(version) +
                                    " is not supported (this build speaks " +
                                    std::to_string(cluster_protocol_version) + ")");
  message out;
  switch (kind) {
  case 0:
    out = init_join{r.node("from")};
    break;
  case 1: {
    init_join_ack a{r.node("from")};
    if (version >= 2) {
      const std::uint8_t flag = r.u8("initialized");
      if (flag > 1)
        throw malformed_message_error("InitJoinAck's initialized flag is " + std::to_string(flag) +
                                      " (must be 0 or 1)");
      a.initialized = flag == 1;
    }
    out = a;
    break;
  }
  case 2:
    out = init_join_nack{r.node("from")};
    break;
  case 3: {
    join j;
    j.node = r.node("node");
    j.roles = read_roles(r);
    out = std::move(j);
    break;
  }
  case 4: {
    welcome w;
    w.from = r.node("from");
    w.state = r.gossip_bytes();
    out = std::move(w);
    break;
  }
  case 5: {
    gossip_status s;
    s.from = r.node("from");
    s.version = read_clock(r);
    out = std::move(s);
    break;
  }
  case 6: {
    gossip_envelope e;
    e.from = r.node("from");
    e.to = r.node("to");
    e.state = r.gossip_bytes();
    out = std::move(e);
    break;
  }
  case 7: {
    heartbeat h;
    h.from = r.node("from");
    h.sequence = r.u64("sequence");
    out = std::move(h);
    break;
  }
  default: {
    heartbeat_rsp h;
    h.from = r.node("from");
    h.sequence = r.u64("sequence");
    out = std::move(h);
    break;
  }
  }
  r.finish();
  return out;
}

remote::envelope to_envelope(const message& m) {
  remote::envelope env;
  env.recipient = std::string(daemon_path);
  env.manifest = std::string(manifest_of(m));
  env.payload = encode_payload(m);
  return env;
}

remote::envelope gossip_envelope_with(const unique_address& from, const unique_address& to,
                                      std::string_view gossip_bytes) {
  writer w;
  w.reserve(gossip_bytes.size() + from.address.size() + to.address.size() + 32);
  w.u8(min_cluster_protocol_version);
  w.node(from);
  w.node(to);
  w.str(gossip_bytes, max_gossip_size, "gossip");
  remote::envelope env;
  env.recipient = std::string(daemon_path);
  env.manifest = std::string(manifests[6]);
  env.payload = w.take();
  return env;
}

} // namespace atomr::cluster::protocol
