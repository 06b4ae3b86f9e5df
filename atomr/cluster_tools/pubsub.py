"""Distributed publish-subscribe: Akka's ``DistributedPubSubMediator``.

Every node that uses it runs one mediator (the system actor
``/system/distributedPubSubMediator``). The mediators keep a registry of who
subscribed to what, one *bucket* per node: the node's own bucket is
changed only by that node, each change stamped with a version, and the
buckets are gossiped between the mediators (a status of the versions each
knows; the answer is the entries newer than those). Buckets of members
that were removed from the cluster are pruned.

* ``publish(topic, msg)`` reaches every subscriber of the topic on every
  node (the mediator of each node with subscribers delivers to its own);
  with ``send_one_message_to_each_group=True`` it reaches one subscriber of
  each group of the topic instead.
* ``send(path, msg, local_affinity)`` reaches one actor registered with
  :meth:`DistributedPubSub.put` under that path (``/user/service``), on
  this node when ``local_affinity`` and there is one here, else a random one.
* ``send_to_all(path, msg, all_but_self)`` reaches every one of them.

Messages keep their sender: what an actor gives the mediator (``Publish``,
``Send``, ``SendToAll``) or the ``sender=`` of the methods reaches the
subscribers, on any node, as their ``ctx.sender``, so they can answer it.

A plain callable subscriber is called synchronously on its own node: at
once in ``publish`` on the publishing node, and by the mediator when the
message comes from another node.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union, cast

from atomr._native._core import ActorRef
from atomr._util import public_module
from atomr.actor import Actor, Terminated, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster_tools._nodes import _Peers, tell_from

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = [
    "DistributedPubSub",
    "Subscribe",
    "Unsubscribe",
    "SubscribeAck",
    "UnsubscribeAck",
    "Publish",
    "Send",
    "SendToAll",
    "Put",
    "Remove",
    "GetTopics",
    "CurrentTopics",
    "MEDIATOR_NAME",
]

_log = logging.getLogger("atomr.cluster_tools")

#: How long this node keeps the tombstone of a key without subscribers (as
#: Akka's removed-time-to-live), in microseconds of its versions.
_REMOVED_TTL_US = 120_000_000

#: The name of every node's mediator actor (a system actor, under ``/system``).
MEDIATOR_NAME = "distributedPubSubMediator"
_MEDIATOR_PATH = "/system/" + MEDIATOR_NAME

Subscriber = Union[ActorRef, Callable[[Any], Any]]


# -- the mediator's messages (Akka's DistributedPubSubMediator protocol) -----------------


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Subscribe:
    """Subscribes `ref` to `topic` (in `group`, if given); the mediator
    answers :class:`SubscribeAck`."""

    topic: str
    ref: Any
    group: Optional[str] = None


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Unsubscribe:
    """Ends a :class:`Subscribe`; the mediator answers :class:`UnsubscribeAck`."""

    topic: str
    ref: Any
    group: Optional[str] = None


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class SubscribeAck:
    """The answer to :class:`Subscribe`."""

    subscribe: Subscribe


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class UnsubscribeAck:
    """The answer to :class:`Unsubscribe`."""

    unsubscribe: Unsubscribe


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Publish:
    """Publishes `msg` to the subscribers of `topic` (to one of each group
    with `send_one_message_to_each_group`)."""

    topic: str
    msg: Any
    send_one_message_to_each_group: bool = False


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Send:
    """Sends `msg` to one actor registered under `path`."""

    path: str
    msg: Any
    local_affinity: bool = False


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class SendToAll:
    """Sends `msg` to every actor registered under `path`."""

    path: str
    msg: Any
    all_but_self: bool = False


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Put:
    """Registers `ref` under its path without the address (``/user/name``)."""

    ref: Any


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class Remove:
    """Removes this node's registration under `path`."""

    path: str


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class GetTopics:
    """Asks the mediator for :class:`CurrentTopics`."""


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class CurrentTopics:
    """The topics with subscribers anywhere in the cluster."""

    topics: frozenset


@dataclasses.dataclass(frozen=True)
class _Tick:
    pass


@dataclasses.dataclass(frozen=True)
class _Watch:
    ref: Any


# -- registry keys ---------------------------------------------------------------------

def _topic_key(topic: str, group: Optional[str]) -> str:
    return f"t:{topic}" if group is None else f"g:{topic}\x00{group}"


def _path_key(path: str) -> str:
    return f"p:{path}"


def _topic_of(key: str) -> Optional[str]:
    if key.startswith("t:"):
        return key[2:]
    if key.startswith("g:"):
        return key[2:].partition("\x00")[0]
    return None


def _check_name(what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


def _element_path(ref: Any) -> str:
    """The path of `ref` without its address: ``/user/...``."""
    path = ref.path
    if "://" not in path:
        return path
    return "/" + path.partition("://")[2].partition("/")[2]


class _Bucket:
    """One node's subscriptions: key -> (version, alive), and the highest version."""

    __slots__ = ("version", "content")

    def __init__(self) -> None:
        self.version = 0
        self.content: dict[str, tuple[int, bool]] = {}


# -- the extension ---------------------------------------------------------------------


@public_module("atomr.cluster_tools")
class DistributedPubSub(Extension):
    """Publish-subscribe by topic, within a node or across the cluster.

    ``DistributedPubSub()`` is a bus of this process only: callables
    subscribe to topics and :meth:`publish` calls them. ``DistributedPubSub.get(system)``
    is the system's cluster-wide mediator (Akka's
    ``DistributedPubSub(system).mediator``): subscribers are actor refs or
    callables, and messages reach the subscribers on every node.

    Example:
        >>> bus = DistributedPubSub()
        >>> seen = []
        >>> bus.subscribe("news", seen.append)
        >>> bus.publish("news", "hello")
        >>> seen
        ['hello']
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Local subscribers: key -> subscribers in subscription order.
        self._local: dict[str, list[Subscriber]] = {}
        self._system: Optional["ActorSystem"] = None
        self._peers: Optional[_Peers] = None
        self._buckets: dict[str, _Bucket] = {}
        self._mediator: Optional[ActorRef] = None
        self._gossip_interval = 1.0
        self._closed = False
        self._rng = random.Random()
        self.delivered_remote = 0

    @staticmethod
    def get(system: "ActorSystem") -> "DistributedPubSub":
        """The cluster-wide pub-sub of `system` (its cluster is
        :meth:`atomr.cluster.Cluster.get`'s), with its mediator, created on
        first use. Gossip runs every ``cluster.gossip-interval``."""
        return _PUBSUB.get(system)

    @classmethod
    def _create(cls, system: "ActorSystem") -> "DistributedPubSub":
        self = cls()
        self._system = system
        self._peers = _Peers(system)
        self._gossip_interval = float(system.settings["cluster.gossip-interval"])
        self._buckets[self._peers.self_address] = _Bucket()
        self._mediator = system.system_actor_of(
            props(_Mediator, factory=lambda: _Mediator(self)), MEDIATOR_NAME)
        return self

    # -- the public API -----------------------------------------------------------------

    @property
    def mediator(self) -> ActorRef:
        """The mediator actor of this node (it takes :class:`Subscribe`,
        :class:`Publish`, :class:`Send`, ... messages).

        Raises:
            RuntimeError: a process-local bus (``DistributedPubSub()``) has none.
        """
        if self._mediator is None:
            raise RuntimeError("a process-local DistributedPubSub() has no mediator; "
                               "use DistributedPubSub.get(system)")
        return self._mediator

    @property
    def self_address(self) -> Optional[str]:
        """This node's cluster address (None for a process-local bus)."""
        return None if self._peers is None else self._peers.self_address

    def subscribe(self, topic: str, callback: Subscriber, group: Optional[str] = None) -> None:
        """Subscribes `callback` (a callable or an actor ref) to `topic`,
        in `group` if given. A callable is called synchronously with each
        message; an actor ref is told it (and unsubscribed when it stops).

        Raises:
            TypeError: `topic` or `group` is not a str, `callback` is neither
                callable nor a ref.
            ValueError: `topic` or `group` is empty.
        """
        _check_name("topic", topic)
        if group is not None:
            _check_name("group", group)
        is_ref = _is_ref(callback)
        if not is_ref and not callable(callback):
            raise TypeError(f"a subscriber must be a callable or an actor ref, "
                            f"not {type(callback).__name__}")
        if is_ref and self._peers is not None and not _is_local_ref(callback, self._peers):
            raise ValueError(f"{callback!r} is not an actor of this node; subscribe it "
                             f"with its own node's DistributedPubSub")
        self._add(_topic_key(topic, group), callback)
        if is_ref and self._mediator is not None:
            self._mediator.tell(_Watch(callback))

    def unsubscribe(self, topic: str, callback: Subscriber, group: Optional[str] = None) -> None:
        """Ends the subscription of `callback` to `topic` (no-op if none)."""
        _check_name("topic", topic)
        self._discard(_topic_key(topic, group), callback)

    def publish(self, topic: str, message: Any, send_one_message_to_each_group: bool = False,
                *, sender: Any = None) -> None:
        """Publishes `message` to the subscribers of `topic`: every
        subscriber not in a group, or one subscriber of each group with
        `send_one_message_to_each_group`. Callables of this node are called
        before this returns, in subscription order (their exceptions
        propagate); the other nodes' subscribers get it through their
        mediators. Actor subscribers see `sender` (a ref, e.g. the
        publisher's ``ctx.self_ref``) as ``ctx.sender``, on any node.

        Raises:
            TypeError, ValueError: `topic` is not a non-empty str.
        """
        _check_name("topic", topic)
        if send_one_message_to_each_group:
            self._publish_groups(topic, message, sender)
            return
        key = _topic_key(topic, None)
        for owner in self._owners(key):
            if self._peers is None or owner == self._peers.self_address:
                self._deliver_all(key, message, raising=True, sender=sender)
            else:
                self._forward(owner, self._deliver_msg(key, message, False, sender))

    def send(self, path: str, message: Any, local_affinity: bool = False, *,
             sender: Any = None) -> bool:
        """Sends `message` to one actor registered under `path` with
        :meth:`put` anywhere in the cluster (one of this node's when
        `local_affinity` and there is one), from `sender` (its
        ``ctx.sender``). Returns whether there was one."""
        key = _path_key(_check_name("path", path))
        owners = self._owners(key)
        if not owners:
            return False
        me = self.self_address
        owner = me if local_affinity and me in owners else self._rng.choice(owners)
        return self._send_path(owner, path, message, sender)

    def send_to_all(self, path: str, message: Any, all_but_self: bool = False, *,
                    sender: Any = None) -> int:
        """Sends `message` to every actor registered under `path` (but this
        node's with `all_but_self`), from `sender`. Returns the number of
        nodes sent to."""
        key = _path_key(_check_name("path", path))
        sent = 0
        for owner in self._owners(key):
            if all_but_self and owner == self.self_address:
                continue
            sent += bool(self._send_path(owner, path, message, sender))
        return sent

    def put(self, ref: ActorRef) -> str:
        """Registers the actor `ref` of this node under its path without
        the address (``/user/name``), for :meth:`send` and
        :meth:`send_to_all`; returns that path. It is removed when it stops.

        Raises:
            TypeError: `ref` is not an actor ref.
            ValueError: `ref` is not an actor of this node.
        """
        if not _is_ref(ref):
            raise TypeError(f"put takes an actor ref, not {type(ref).__name__}")
        if self._peers is not None and not _is_local_ref(ref, self._peers):
            raise ValueError(f"{ref!r} is not an actor of this node")
        path = _element_path(ref)
        key = _path_key(path)
        with self._lock:
            self._local[key] = [ref]
            self._mark(key, True)
        if self._mediator is not None:
            self._mediator.tell(_Watch(ref))
        return path

    def remove(self, path: str) -> None:
        """Removes this node's registration under `path` (no-op if none)."""
        key = _path_key(_check_name("path", path))
        with self._lock:
            if self._local.pop(key, None) is not None:
                self._mark(key, False)

    def topics(self) -> list[str]:
        """The topics with a subscriber, here or (cluster-wide) on any node, sorted."""
        with self._lock:
            out = {_topic_of(k) for k, subs in self._local.items() if subs}
            for bucket in self._buckets.values():
                out |= {_topic_of(k) for k, (_, alive) in bucket.content.items() if alive}
        out.discard(None)
        return sorted(t for t in out if t is not None)

    def subscriber_count(self, topic: str, group: Optional[str] = None) -> int:
        """This node's subscribers of `topic` (in `group`)."""
        with self._lock:
            return len(self._local.get(_topic_key(topic, group), ()))

    def nodes_with(self, topic: Optional[str] = None, group: Optional[str] = None, *,
                   path: Optional[str] = None) -> list[str]:
        """The nodes whose bucket, as known here, has a subscriber of
        `topic` (in `group`), or a registration under `path`; sorted."""
        if path is not None:
            return sorted(self._owners(_path_key(path)))
        if topic is None:
            raise TypeError("nodes_with needs a topic or a path")
        return sorted(self._owners(_topic_key(topic, group)))

    # -- the registry -------------------------------------------------------------------

    def _add(self, key: str, sub: Subscriber) -> None:
        with self._lock:
            subs = self._local.setdefault(key, [])
            if any(s is sub or s == sub for s in subs):
                return
            subs.append(sub)
            if len(subs) == 1:
                self._mark(key, True)

    def _discard(self, key: str, sub: Any) -> None:
        with self._lock:
            subs = self._local.get(key)
            if not subs:
                return
            subs[:] = [s for s in subs if not (s is sub or s == sub)]
            if not subs:
                del self._local[key]
                self._mark(key, False)

    def _discard_path(self, path: str) -> None:
        """Every subscription and registration of the actor at `path` (it stopped)."""
        with self._lock:
            for key in list(self._local):
                subs = self._local[key]
                kept = [s for s in subs if not (_is_ref(s) and getattr(s, "path", None) == path)]
                if len(kept) != len(subs):
                    if kept:
                        self._local[key] = kept
                    else:
                        del self._local[key]
                        self._mark(key, False)

    def _mark(self, key: str, alive: bool) -> None:
        """Records a change of this node's bucket (under the lock)."""
        if self._peers is None:
            return
        bucket = self._buckets[self._peers.self_address]
        # Versions are microsecond timestamps, as Akka's, so that a node
        # that comes back at the same address starts above its old versions.
        bucket.version = max(bucket.version + 1, time.time_ns() // 1000)
        bucket.content[key] = (bucket.version, alive)

    def _owners(self, key: str) -> list[str]:
        """The nodes with a live entry under `key` (this node first)."""
        with self._lock:
            if self._peers is None:
                return [""] if self._local.get(key) else []
            me = self._peers.self_address
            out = [me] if self._local.get(key) else []
            for owner, bucket in self._buckets.items():
                if owner != me:
                    entry = bucket.content.get(key)
                    if entry is not None and entry[1]:
                        out.append(owner)
            return out

    def _deliver_msg(self, key: str, message: Any, one: bool, sender: Any) -> tuple:
        """The mediators' ``deliver`` message (the sender last: a peer
        that predates it reads the first four fields)."""
        assert self._peers is not None
        return ("deliver", key, self._peers.wrap(message), one, self._peers.wrap_sender(sender))

    def _publish_groups(self, topic: str, message: Any, sender: Any = None) -> None:
        prefix = f"g:{topic}\x00"
        with self._lock:
            keys = {k for k, subs in self._local.items() if subs and k.startswith(prefix)}
            for bucket in self._buckets.values():
                keys |= {k for k, (_, alive) in bucket.content.items()
                         if alive and k.startswith(prefix)}
        for key in sorted(keys):
            owners = self._owners(key)
            if not owners:
                continue
            owner = self._rng.choice(owners)
            if self._peers is None or owner == self._peers.self_address:
                self._deliver_one(key, message, raising=True, sender=sender)
            else:
                self._forward(owner, self._deliver_msg(key, message, True, sender))

    def _forward(self, owner: str, msg: tuple) -> None:
        assert self._peers is not None
        if not self._peers.tell(owner, _MEDIATOR_PATH, msg):
            _log.debug("pub-sub: %s cannot be reached; message dropped", owner)

    def _send_path(self, owner: str, path: str, message: Any, sender: Any = None) -> bool:
        if self._peers is None or owner == self._peers.self_address:
            with self._lock:
                subs = list(self._local.get(_path_key(path), ()))
            for sub in subs:
                tell_from(sub, message, sender)
            return bool(subs)
        return self._peers.tell(owner, path, message, sender)

    def _deliver_all(self, key: str, message: Any, raising: bool, sender: Any = None) -> None:
        with self._lock:
            subs = list(self._local.get(key, ()))
        for sub in subs:
            self._deliver_to(sub, message, raising, sender)

    def _deliver_one(self, key: str, message: Any, raising: bool, sender: Any = None) -> None:
        with self._lock:
            subs = list(self._local.get(key, ()))
        if subs:
            self._deliver_to(self._rng.choice(subs), message, raising, sender)

    @staticmethod
    def _deliver_to(sub: Subscriber, message: Any, raising: bool, sender: Any = None) -> None:
        if _is_ref(sub):
            tell_from(sub, message, sender)
            return
        call = cast(Callable[[Any], Any], sub)
        if raising:
            call(message)
            return
        try:
            call(message)
        except Exception:  # noqa: BLE001 - one subscriber must not stop the others
            _log.exception("pub-sub: a subscriber failed on %r", message)

    # -- gossip (on the mediator's thread) -----------------------------------------------

    def _versions(self) -> dict[str, int]:
        with self._lock:
            return {owner: b.version for owner, b in self._buckets.items()}

    def _tick(self) -> None:
        """Prunes the buckets of removed members; gossips with one other member."""
        peers = self._peers
        assert peers is not None
        members = {m.address for m in peers.members(
            ("joining", "weaklyup", "up", "leaving", "exiting"))}
        horizon = time.time_ns() // 1000 - _REMOVED_TTL_US
        with self._lock:
            for owner in list(self._buckets):
                if owner != peers.self_address and owner not in members:
                    del self._buckets[owner]
            own = self._buckets[peers.self_address].content
            for key in [k for k, (v, alive) in own.items() if not alive and v < horizon]:
                del own[key]
        others = sorted(members - {peers.self_address})
        if others:
            target = self._rng.choice(others)
            peers.tell(target, _MEDIATOR_PATH,
                       ("status", peers.self_address, self._versions(), True))

    def _on_status(self, sender: str, versions: dict[str, int], reply: bool) -> None:
        peers = self._peers
        assert peers is not None
        delta = []
        newer_there = False
        with self._lock:
            for owner, bucket in self._buckets.items():
                known = versions.get(owner, -1)
                if bucket.version > known:
                    delta.append((owner, bucket.version,
                                  {k: v for k, v in bucket.content.items() if v[0] > known}))
            for owner, version in versions.items():
                known_bucket = self._buckets.get(owner)
                if known_bucket is None or version > known_bucket.version:
                    newer_there = True
        if delta:
            peers.tell(sender, _MEDIATOR_PATH, ("delta", peers.self_address, delta))
        if reply and newer_there:
            peers.tell(sender, _MEDIATOR_PATH,
                       ("status", peers.self_address, self._versions(), False))

    def _on_delta(self, delta: Iterable[Any]) -> None:
        peers = self._peers
        assert peers is not None
        members = {m.address for m in peers.members(
            ("joining", "weaklyup", "up", "leaving", "exiting"))}
        with self._lock:
            for owner, version, content in delta:
                if owner == peers.self_address or owner not in members:
                    continue
                bucket = self._buckets.setdefault(owner, _Bucket())
                for key, (v, alive) in content.items():
                    old = bucket.content.get(key)
                    if old is None or v > old[0]:
                        bucket.content[key] = (int(v), bool(alive))
                bucket.version = max(bucket.version, int(version))

    def _on_deliver(self, key: str, wrapped: Any, one: bool, sender: Any = None) -> None:
        assert self._peers is not None
        message = self._peers.unwrap(wrapped)
        sender = self._peers.unwrap_sender(sender)
        self.delivered_remote += 1
        if one:
            self._deliver_one(key, message, raising=False, sender=sender)
        else:
            self._deliver_all(key, message, raising=False, sender=sender)

    def shutdown(self) -> None:
        """Forgets this node's registry as the system terminates."""
        self._closed = True
        if self._peers is not None:
            self._peers.close()
        with self._lock:
            self._local.clear()

    def __repr__(self) -> str:
        where = "local" if self._peers is None else self._peers.self_address
        return f"<DistributedPubSub {where} topics={self.topics()}>"


class _PubSubId(ExtensionId[DistributedPubSub]):
    def create_extension(self, system: "ActorSystem") -> DistributedPubSub:
        return DistributedPubSub._create(system)


_PUBSUB = _PubSubId()


class _Mediator(Actor):
    """A node's mediator: gossips the registry, delivers what other nodes
    publish, and takes the protocol messages of local actors."""

    def __init__(self, pubsub: DistributedPubSub) -> None:
        self._ps = pubsub

    def pre_start(self, ctx: Any) -> None:
        interval = self._ps._gossip_interval
        ctx.schedule_periodically(initial=interval, interval=interval, msg=_Tick())

    def handle(self, ctx: Any, msg: Any) -> Any:
        ps = self._ps
        if isinstance(msg, tuple) and msg and isinstance(msg[0], str):
            kind = msg[0]
            try:
                if kind == "deliver":
                    ps._on_deliver(msg[1], msg[2], bool(msg[3]), msg[4] if len(msg) > 4 else None)
                elif kind == "status":
                    _, sender, versions, reply = msg
                    ps._on_status(sender, dict(versions), bool(reply))
                elif kind == "delta":
                    ps._on_delta(msg[2])
                else:
                    _log.warning("pub-sub: unknown mediator message %r dropped", kind)
            except (TypeError, ValueError) as exc:
                _log.warning("pub-sub: malformed %r message dropped: %s", kind, exc)
            return None
        if isinstance(msg, _Tick):
            ps._tick()
        elif isinstance(msg, _Watch):
            ctx.watch(msg.ref)
        elif isinstance(msg, Terminated):
            ps._discard_path(msg.path)
        elif isinstance(msg, Subscribe):
            ps.subscribe(msg.topic, msg.ref, msg.group)
            return SubscribeAck(msg)
        elif isinstance(msg, Unsubscribe):
            ps.unsubscribe(msg.topic, msg.ref, msg.group)
            return UnsubscribeAck(msg)
        elif isinstance(msg, Publish):
            ps.publish(msg.topic, msg.msg, msg.send_one_message_to_each_group, sender=ctx.sender)
        elif isinstance(msg, Send):
            ps.send(msg.path, msg.msg, msg.local_affinity, sender=ctx.sender)
        elif isinstance(msg, SendToAll):
            ps.send_to_all(msg.path, msg.msg, msg.all_but_self, sender=ctx.sender)
        elif isinstance(msg, Put):
            ps.put(msg.ref)
        elif isinstance(msg, Remove):
            ps.remove(msg.path)
        elif isinstance(msg, GetTopics):
            return CurrentTopics(frozenset(ps.topics()))
        return None


def _is_ref(x: Any) -> bool:
    return isinstance(x, ActorRef) or type(x).__name__ == "RemoteActorRef"


def _is_local_ref(ref: Any, peers: _Peers) -> bool:
    if not isinstance(ref, ActorRef):
        return False
    path = ref.path
    return "://" not in path or path.startswith(f"akka://{peers.system.name}/") or \
        path.startswith(peers.system.address + "/")
