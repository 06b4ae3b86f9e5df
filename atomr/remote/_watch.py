"""Remote death watch: watching actors of other systems, and being watched.

Three control messages travel as ordinary envelopes with reserved
manifests (so the wire format and its decoder stay as they are):

* ``Watch``   recipient = the watched actor's path, sender = the watcher's
  path; the receiving system registers the watcher with its actor (or, if
  no actor lives at the path, answers at once with a notification whose
  existence is not confirmed).
* ``Unwatch`` the same pair; the registration goes.
* ``DeathWatchNotification`` recipient = the watcher's path, sender = the
  watched path as the watcher named it, payload ``b"1"`` (it existed and
  stopped) or ``b"0"`` (no such actor).

The watcher receives :class:`atomr.Terminated` for the remote path, as for a
local actor. When a whole remote system is declared gone (unreachable by
the failure detector, quarantined, shut down), every watch of an actor
there ends with ``Terminated(address_terminated=True)`` without waiting
for a notification. A local watcher that stops unwatches what it watched;
a remote watcher whose system is gone is forgotten.

Everything runs on the system's loop thread except ``watch``/``unwatch``
called from a handler elsewhere; a lock guards the tables.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Optional

from atomr.actor._supervision import Terminated
from atomr.actor._system import _address_of, _elements_of
from atomr.errors import AtomrError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr._native._core import ActorRef
    from atomr.remote._extension import Remote, RemoteActorRef

_log = logging.getLogger("atomr.remote")

WATCH = "atomr.remote.Watch"
UNWATCH = "atomr.remote.Unwatch"
DEATH_NOTIFICATION = "atomr.remote.DeathWatchNotification"
#: The manifests the transport keeps for itself (never handed to a codec).
CONTROL_MANIFESTS = frozenset({WATCH, UNWATCH, DEATH_NOTIFICATION})


class RemoteDeathWatch:
    """The death-watch tables of one :class:`~atomr.remote.Remote`."""

    def __init__(self, remote: "Remote") -> None:
        self._remote = remote
        self._lock = threading.RLock()
        # Watches of remote actors by local actors:
        # (watcher path elements, remote path) -> (watcher ref, remote
        # host:port, the UID associated there when the watch was sent or 0)
        self._watches: dict[tuple[str, str], tuple["ActorRef", str, int]] = {}
        # watcher path elements -> the remote paths it watches
        self._by_watcher: dict[str, set[str]] = {}
        # Local actors watched from other systems:
        # local path elements -> {(watcher's full path, watched path as sent)}
        self._watched: dict[str, set[tuple[str, str]]] = {}
        # Transport addresses (host:port) declared unreachable.
        self._unreachable: set[str] = set()
        self._hooked = False

    # -- bookkeeping --------------------------------------------------------------

    def _update_hook(self) -> None:
        """Asks the system to report stopped actors only while some actor
        is a watcher of a remote actor or is watched remotely (lock held)."""
        wanted = bool(self._by_watcher or self._watched)
        if wanted != self._hooked:
            self._hooked = wanted
            self._remote._system._core.on_actor_stopped = self.actor_stopped if wanted else None

    def _send(self, hostport: str, recipient: str, manifest: str, payload: bytes,
              sender: str) -> None:
        try:
            self._remote._transport.send(hostport, recipient, manifest, payload, sender, None)
        except AtomrError as exc:
            _log.debug("remote watch: could not send %s to %s: %s", manifest, recipient, exc)

    @staticmethod
    def _tell_terminated(watcher: "ActorRef", path: str, existence_confirmed: bool,
                         address_terminated: bool) -> None:
        if watcher.is_terminated():
            return
        try:
            watcher.tell(Terminated(path, existence_confirmed=existence_confirmed,
                                    address_terminated=address_terminated))
        except AtomrError as exc:  # a full mailbox that fails the sender
            _log.warning("could not deliver Terminated(%s) to %s: %s", path, watcher.path, exc)

    def watched_count(self) -> int:
        """How many (watcher, remote actor) pairs this system watches."""
        with self._lock:
            return len(self._watches)

    def watcher_count(self) -> int:
        """How many (remote watcher, local actor) pairs are registered here."""
        with self._lock:
            return sum(len(pairs) for pairs in self._watched.values())

    # -- this system watching others ----------------------------------------------

    def watch(self, watcher: "ActorRef", target: "RemoteActorRef") -> None:
        if target._hostport is None:
            self._tell_terminated(watcher, target.path, False, True)
            return
        # Through the extension's cache, which also names the system for
        # events about an address never reached.
        hostport = self._remote._hostport(target._address)
        elements = _elements_of(watcher.path)
        key = (elements, target.path)
        with self._lock:
            if key in self._watches:
                return
            if hostport in self._unreachable:
                gone = True
            else:
                gone = False
                uid = self._remote._associations.get(hostport, 0)
                self._watches[key] = (watcher, hostport, uid)
                self._by_watcher.setdefault(elements, set()).add(target.path)
                self._update_hook()
        if gone:  # Akka: watching an actor on a system known to be gone
            self._tell_terminated(watcher, target.path, False, True)
            return
        self._send(hostport, target.path, WATCH, b"", self._remote._address + elements)

    def unwatch(self, watcher: "ActorRef", target: "RemoteActorRef") -> None:
        elements = _elements_of(watcher.path)
        with self._lock:
            entry = self._watches.pop((elements, target.path), None)
            if entry is None:
                return
            self._forget_watch(elements, target.path)
        self._send(entry[1], target.path, UNWATCH, b"", self._remote._address + elements)

    def _forget_watch(self, elements: str, path: str) -> None:
        paths = self._by_watcher.get(elements)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self._by_watcher[elements]
        self._update_hook()

    # -- control messages from other systems --------------------------------------------

    def control(self, manifest: str, recipient: str, sender: Optional[str],
                payload: bytes) -> None:
        """Handles a Watch, Unwatch or DeathWatchNotification envelope."""
        if sender is None:
            _log.warning("dropped a %s for %s that names no sender", manifest, recipient)
            return
        if manifest == DEATH_NOTIFICATION:
            self._notified(recipient, sender, payload == b"1")
            return
        ref = self._remote._lookup(recipient)
        if manifest == UNWATCH:
            if ref is not None:
                with self._lock:
                    pairs = self._watched.get(_elements_of(ref.path))
                    if pairs is not None:
                        pairs.discard((sender, recipient))
                        if not pairs:
                            del self._watched[_elements_of(ref.path)]
                    self._update_hook()
            return
        # WATCH
        if ref is None or ref.is_terminated():
            self._notify(sender, recipient, ref is not None)
            return
        with self._lock:
            self._watched.setdefault(_elements_of(ref.path), set()).add((sender, recipient))
            self._update_hook()

    def _notify(self, watcher: str, watched: str, existed: bool) -> None:
        address = _address_of(watcher)
        if address is None:
            return
        try:
            hostport = self._remote._hostport(address)
        except AtomrError:
            return
        self._send(hostport, watcher, DEATH_NOTIFICATION, b"1" if existed else b"0", watched)

    def _notified(self, watcher_path: str, watched: str, existed: bool) -> None:
        elements = _elements_of(watcher_path)
        with self._lock:
            entry = self._watches.pop((elements, watched), None)
            if entry is None:
                return  # unwatched meanwhile, or the watch ended already
            self._forget_watch(elements, watched)
        self._tell_terminated(entry[0], watched, existed, False)

    # -- local actors stopping ----------------------------------------------------------

    def actor_stopped(self, path: str) -> None:
        """An actor of this system stopped (the system's hook, loop thread):
        notify its remote watchers; withdraw the watches it made."""
        elements = _elements_of(path)
        with self._lock:
            watchers = self._watched.pop(elements, None)
            paths = self._by_watcher.pop(elements, None)
            unwatch = []
            if paths:
                for remote_path in paths:
                    entry = self._watches.pop((elements, remote_path), None)
                    if entry is not None:
                        unwatch.append((entry[1], remote_path))
            if watchers is not None or paths is not None:
                self._update_hook()
        if watchers:
            for watcher, watched in watchers:
                self._notify(watcher, watched, True)
        for hostport, remote_path in unwatch:
            self._send(hostport, remote_path, UNWATCH, b"", self._remote._address + elements)

    # -- whole systems gone ---------------------------------------------------------------

    def set_reachable(self, hostport: str, reachable: bool) -> None:
        with self._lock:
            if reachable:
                self._unreachable.discard(hostport)
            else:
                self._unreachable.add(hostport)

    def address_terminated(self, hostport: str, uid: int = 0) -> int:
        """The system at `hostport` (only its incarnation `uid`, if not 0)
        is gone: its watched actors count as stopped (``address_terminated``)
        and its watchers are forgotten. Returns how many watches ended."""
        ended: list[tuple[Any, str]] = []
        with self._lock:
            for key, (watcher, at, watched_uid) in list(self._watches.items()):
                if at == hostport and (uid == 0 or watched_uid == uid):
                    del self._watches[key]
                    self._forget_watch(key[0], key[1])
                    ended.append((watcher, key[1]))
            for elements, pairs in list(self._watched.items()):
                gone = {pair for pair in pairs if self._hostport_of(pair[0]) == hostport}
                if gone:
                    pairs -= gone
                    if not pairs:
                        del self._watched[elements]
            self._update_hook()
        for watcher, path in ended:
            self._tell_terminated(watcher, path, False, True)
        return len(ended)

    def _hostport_of(self, path: str) -> Optional[str]:
        address = _address_of(path)
        if address is None:
            return None
        try:
            return self._remote._hostport(address)
        except AtomrError:
            return None

    def clear(self) -> None:
        with self._lock:
            self._watches.clear()
            self._by_watcher.clear()
            self._watched.clear()
            self._update_hook()
