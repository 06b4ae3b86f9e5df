# Cluster: the membership data types of cpp/include/atomr/cluster (members,
# a membership snapshot, vector clocks, leader hand-over). Part of
# atomr._native._core (included by _core.pyx; declared in cluster.pxd).
#
# Plain values: nothing here touches a system, a loop or a thread.

from atomr._native.includes.cluster cimport (
    CClusterErrc, CMemberStatus, CUniqueAddress, age_compare, decode_gossip, encode_gossip,
    order_name, parse_address, parse_status, status_name,
)
from atomr._native.includes.cluster cimport leader as _cluster_leader
from libcpp.optional cimport optional


_declare_native_codes("cluster", <int>CComponent.cluster, {
    "generic": <int>CClusterErrc.generic,
    "malformed_gossip": <int>CClusterErrc.malformed_gossip,
    "unsupported_version": <int>CClusterErrc.unsupported_version,
    "invalid_argument": <int>CClusterErrc.invalid_argument,
    "invalid_transition": <int>CClusterErrc.invalid_transition,
})


cdef inline str _cluster_str(string_view v):
    return PyUnicode_DecodeUTF8(v.data(), <Py_ssize_t>v.size(), "replace")


cdef string _member_address(object address) except *:
    """A member's address: a bare system name becomes ``akka://<name>``, a
    full address (``protocol://system[@host:port]``) stays as it is."""
    cdef str text
    cdef string out
    if not isinstance(address, str):
        raise TypeError(f"a member address must be a str, not {type(address).__name__}")
    text = address
    if "://" not in text:
        text = "akka://" + text
    out = text.encode("utf-8")
    if not parse_address(string_view(out.data(), out.size())).has_value():
        raise ValueError(f"{address!r} is neither a system name nor an address "
                         "'protocol://system' or 'protocol://system@host:port'")
    return out


cdef vector[string] _member_roles(object roles) except *:
    cdef vector[string] out
    if isinstance(roles, (str, bytes)) or not isinstance(roles, (list, tuple, set, frozenset)):
        raise TypeError(f"member roles must be a list of str, not {type(roles).__name__}")
    for role in roles:
        if not isinstance(role, str):
            raise TypeError(f"a member role must be a str, not {type(role).__name__}")
        out.push_back((<str>role).encode("utf-8"))
    return out


cdef str _python_status_name(CMemberStatus s):
    # The Python spelling drops the underscore of weakly_up.
    if s == CMemberStatus.weakly_up:
        return "weaklyup"
    return _cluster_str(status_name(s))


cdef class Member:
    """A cluster member: its address, status, roles and up number.

    ``Member(address, roles=[])`` is a new member with status ``joining``
    and up number 0. A bare system name is the local address
    ``akka://<name>``; a full address (``akka.tcp://sys@host:port``) is kept
    as it is. Members are values: :meth:`with_status` returns a copy.

    Raises:
        TypeError: `address` is not a str or `roles` not a list of str.
        ValueError: `address` is not a system name or an address.
    """

    def __init__(self, address, roles=None):
        cdef CUniqueAddress node
        node.address = _member_address(address)
        node.uid = 0
        self.m = CMember.joining(node, _member_roles([] if roles is None else roles))

    @staticmethod
    cdef Member wrap(const CMember& m):
        cdef Member out = Member.__new__(Member)
        out.m = m
        return out

    @property
    def address(self):
        """The member's address (``akka://<name>`` or a full address)."""
        return _utf8(self.m.node.address)

    @property
    def status(self):
        """The status: ``joining``, ``weaklyup``, ``up``, ``leaving``,
        ``exiting``, ``down`` or ``removed``."""
        return _python_status_name(self.m.status)

    @property
    def uid(self):
        """The incarnation uid of the member's system (0 for a member built
        by hand): a system restarted on the same address gets a new one."""
        return self.m.node.uid

    @property
    def up_number(self):
        """The order in which the member became up (1 for the first); 0
        until it is up."""
        return self.m.up_number

    @property
    def roles(self):
        """The member's roles, sorted."""
        return [_utf8(r) for r in self.m.roles]

    def with_status(self, status):
        """A copy with `status` (one of the status names, or ``weakly_up``);
        an unknown name gives ``joining``.

        Raises:
            TypeError: `status` is not a str.
        """
        cdef string name
        cdef optional[CMemberStatus] parsed
        cdef Member out
        if not isinstance(status, str):
            raise TypeError(f"a member status must be a str, not {type(status).__name__}")
        name = (<str>status).encode("utf-8")
        parsed = parse_status(string_view(name.data(), name.size()))
        out = Member.wrap(self.m)
        out.m.status = parsed.value() if parsed.has_value() else CMemberStatus.joining
        return out

    @staticmethod
    def age_ordering(Member a not None, Member b not None):
        """-1 if `a` is older than `b`, 1 if younger, 0 for the same age and
        address: by up number (members not yet up are the youngest), then by
        address (protocol, host, port, system). A total order."""
        return age_compare(a.m, b.m)

    def __eq__(self, other):
        if not isinstance(other, Member):
            return NotImplemented
        cdef Member o = <Member>other
        return (self.m.node == o.m.node and self.m.status == o.m.status
                and self.m.up_number == o.m.up_number and self.m.roles == o.m.roles)

    def __hash__(self):
        return hash((self.address, self.m.node.uid))

    def __repr__(self):
        return (f"Member({self.address!r}, status={self.status!r}, "
                f"up_number={self.up_number}, roles={self.roles!r})")


def member_weakly_up(address, roles=None):
    """A member with status ``weaklyup``: joined while the cluster could
    not converge (see docs/cluster.md).

    Raises:
        TypeError: `address` is not a str or `roles` not a list of str.
        ValueError: `address` is not a system name or an address.
    """
    cdef Member m = Member(address, roles)
    m.m.status = CMemberStatus.weakly_up
    return m


cdef class MembershipState:
    """A snapshot of the cluster's membership: one member per address, in
    address ordering."""

    def add_or_update(self, Member member not None):
        """Adds `member`, replacing the member with the same address."""
        self.g.replace_address(member.m)

    def member_count(self):
        """The number of members."""
        return self.g.members().size()

    def members(self):
        """Copies of the members, in address ordering."""
        cdef size_t i
        return [Member.wrap(self.g.members()[i]) for i in range(self.g.members().size())]

    def _to_bytes(self):
        """The gossip wire form of this membership (cpp/include/atomr/cluster/gossip_codec.hpp)."""
        return _bytes_of(encode_gossip(self.g))

    @staticmethod
    def _from_bytes(bytes data not None):
        """A membership decoded from its gossip wire form.

        Raises:
            MalformedGossipError: `data` is not a valid gossip.
        """
        cdef MembershipState out = MembershipState.__new__(MembershipState)
        out.g = decode_gossip(string_view(<const char*>data, len(data)))
        return out

    def __len__(self):
        return self.g.members().size()

    def __repr__(self):
        return f"MembershipState({self.members()!r})"


cdef class VectorClock:
    """A vector clock: a counter per node name (absent counts 0)."""

    def tick(self, str node not None):
        """Increments `node`'s counter."""
        self.c.tick(node.encode("utf-8"))

    def get(self, str node not None):
        """`node`'s counter (0 when absent)."""
        return self.c.get(node.encode("utf-8"))

    def merge(self, VectorClock other not None):
        """A new clock, the pointwise maximum of this and `other`."""
        cdef VectorClock out = VectorClock.__new__(VectorClock)
        out.c = self.c.merge(other.c)
        return out

    def compare(self, VectorClock other not None):
        """``"before"``, ``"after"``, ``"same"`` or ``"concurrent"``: how this
        clock relates to `other`, component-wise."""
        return _cluster_str(order_name(self.c.compare(other.c)))


class LeaderHandoverEvent:
    """The leader changed: from `from_` (None the first time) to `to`."""

    __slots__ = ("from_", "to")

    def __init__(self, from_, to):
        self.from_ = from_
        self.to = to

    def __eq__(self, other):
        if not isinstance(other, LeaderHandoverEvent):
            return NotImplemented
        return self.from_ == other.from_ and self.to == other.to

    def __hash__(self):
        return hash((self.from_, self.to))

    def __repr__(self):
        return f"LeaderHandoverEvent(from_={self.from_!r}, to={self.to!r})"


cdef class LeaderHandover:
    """Watches successive membership snapshots for a change of leader.

    The leader is the first up or leaving member in address ordering
    (protocol, host, port, system): the same rule the cluster's leader
    election applies (docs/cluster.md).
    """

    cdef object _current  # None until a leader is observed

    @property
    def current(self):
        """The leader of the last observed snapshot (None before any, or
        when it had no up or leaving member)."""
        return self._current

    def observe(self, MembershipState state not None):
        """Observes `state`: a :class:`LeaderHandoverEvent` when its leader
        differs from the last observation's (including the first time there
        is one), else None."""
        cdef CUniqueAddress nobody
        cdef optional[CUniqueAddress] elected = _cluster_leader(state.g, nobody)
        cdef const CMember* m
        new = None
        if elected.has_value():
            m = state.g.find_address(string_view(elected.value().address.data(),
                                                 elected.value().address.size()))
            if m != NULL and (m.status == CMemberStatus.up or m.status == CMemberStatus.leaving):
                new = _utf8(elected.value().address)
        if new == self._current:
            return None
        previous = self._current
        self._current = new
        if new is None:
            return None
        return LeaderHandoverEvent(previous, new)
