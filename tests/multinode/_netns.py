"""Network namespaces joined by a bridge: a small lab network for tests that
need real network faults between OS processes.

:class:`NetnsLab` makes N node namespaces, each with loopback up and one
interface ``eth0`` holding its own IPv4 address (``10.77.0.<i + 1>/24``),
whose veth peer sits on a Linux bridge inside a hub namespace of its own. The
root namespace is never touched, so labs of parallel test runs cannot clash:
all names carry the creating process's pid and a per-process counter, and
every address lives inside the lab's own namespaces.

Faults, all reversible:

* :meth:`NetnsLab.partition` — an nftables table of the ``bridge`` family in
  the hub drops every IPv4 packet whose source and destination are in
  different groups, in both directions, while each group keeps talking inside
  itself. :meth:`NetnsLab.heal` deletes the table. Packets are dropped
  silently (no RST, no ICMP), as a failed switch or cable would, so TCP
  connections stay open and retransmit; after a heal they may resume.
* :meth:`NetnsLab.link_down` / :meth:`NetnsLab.link_up` — the hub side of a
  node's veth pair goes down: the node loses its carrier and is cut from
  everyone.

:meth:`NetnsLab.close` (also on leaving the ``with`` block) kills whatever
still runs inside the lab's namespaces (by pid, read with ``ip netns pids``)
and deletes them, which deletes the veth pairs and the bridge with them.
Namespaces left by a test run that was itself killed are deleted by the next
lab made (their creator pid is gone).

Needs Linux, root, ``ip`` (iproute2) and ``nft`` (nftables; installed by
``scripts/install-system-deps.sh``). :func:`unavailable_reason` says why a
lab cannot be built here, for ``pytest.skip``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Iterable, Optional, Sequence

#: Every namespace of a lab is named ``atomr-<pid>-<n>-<role>``.
PREFIX = "atomr-"
#: The lab's /24: node i has SUBNET.<i + 1>.
SUBNET = "10.77.0"
#: The nftables table that makes a partition (bridge family, in the hub).
CUT_TABLE = "atomr_cut"
_COMMAND_TIMEOUT = 30.0
_counter = itertools.count()
_probe_result: Optional[tuple[Optional[str]]] = None


class NetnsError(RuntimeError):
    """A command setting up or changing the lab network failed."""


def _run(argv: Sequence[str], stdin: Optional[str] = None, check: bool = True) -> str:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                          timeout=_COMMAND_TIMEOUT)
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed ({proc.returncode}): "
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def unavailable_reason() -> Optional[str]:
    """None when labs can be built here, else why not (probed once: a
    namespace is created and deleted)."""
    global _probe_result
    if _probe_result is None:
        _probe_result = (_probe(),)
    return _probe_result[0]


def _probe() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (tests and CI run as root)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (package {package}; `make deps` installs it)"
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        _run(["ip", "netns", "add", name])
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        _run(["ip", "-n", name, "link", "add", "probe0", "type", "bridge"])
        _run(["ip", "netns", "exec", name, "nft", "add", "table", "bridge", CUT_TABLE])
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f"bridge or nftables unusable in a network namespace: {exc}"
    finally:
        _run(["ip", "netns", "del", name], check=False)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def delete_stale_namespaces() -> list[str]:
    """Deletes lab namespaces whose creating process is gone; returns their
    names."""
    gone = []
    for line in _run(["ip", "netns", "list"]).splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)-.*", name)
        if m and not _pid_alive(int(m.group(1))):
            _run(["ip", "netns", "del", name], check=False)
            gone.append(name)
    return gone


class NetnsLab:
    """`n` node namespaces on one bridge (see the module docstring).

    Node ``i`` (0-based) lives in :meth:`namespace` ``(i)`` with address
    ``addresses[i]``; :meth:`command` wraps an argv to run there.
    """

    def __init__(self, n: int) -> None:
        if not isinstance(n, int) or not 1 <= n <= 250:
            raise ValueError(f"a lab has 1..250 nodes, not {n!r}")
        reason = unavailable_reason()
        if reason is not None:
            raise NetnsError(reason)
        delete_stale_namespaces()
        self.n = n
        self.tag = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.hub = f"{self.tag}-hub"
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(n)]
        self._made: list[str] = []
        self._groups: Optional[list[list[int]]] = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- set-up and tear-down -------------------------------------------------

    def namespace(self, i: int) -> str:
        """The namespace of node `i`."""
        self._check_node(i)
        return f"{self.tag}-n{i}"

    def _build(self) -> None:
        self._add_namespace(self.hub)
        _run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        for i in range(self.n):
            ns = self.namespace(i)
            self._add_namespace(ns)
            port = f"h{i}"
            _run(["ip", "-n", self.hub, "link", "add", port, "type", "veth",
                  "peer", "name", "eth0", "netns", ns])
            _run(["ip", "-n", self.hub, "link", "set", port, "master", "br0"])
            _run(["ip", "-n", self.hub, "link", "set", port, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{self.addresses[i]}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def _add_namespace(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._made.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])

    def pids(self) -> list[int]:
        """Pids of the processes running inside the lab's namespaces."""
        found: list[int] = []
        for name in self._made:
            out = _run(["ip", "netns", "pids", name], check=False)
            found.extend(int(p) for p in out.split() if p.isdigit())
        return found

    def close(self) -> None:
        """Kills what still runs in the lab (SIGKILL, by pid) and deletes its
        namespaces. Idempotent."""
        if not self._made:
            return
        deadline = time.monotonic() + _COMMAND_TIMEOUT
        while True:
            left = self.pids()
            if not left or time.monotonic() > deadline:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for name in reversed(self._made):
            _run(["ip", "netns", "del", name], check=False)
        self._made.clear()

    def __enter__(self) -> "NetnsLab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- running things -------------------------------------------------------

    def command(self, i: int, argv: Sequence[str]) -> list[str]:
        """`argv` run inside node `i`'s namespace."""
        return ["ip", "netns", "exec", self.namespace(i), *argv]

    def run(self, i: int, argv: Sequence[str]) -> str:
        """Runs `argv` in node `i`'s namespace; its stdout (NetnsError when
        it fails)."""
        return _run(self.command(i, argv))

    # -- faults -----------------------------------------------------------------

    def partition(self, *groups: Iterable[int]) -> None:
        """Cuts the network between `groups` (node indices; each group keeps
        talking inside itself, a node in no group talks to everyone), both
        ways, replacing any earlier partition in one transaction."""
        sides = [sorted(set(g)) for g in groups]
        if len(sides) < 2 or any(not s for s in sides):
            raise ValueError("a partition needs at least two non-empty groups")
        seen: set[int] = set()
        for side in sides:
            for i in side:
                self._check_node(i)
                if i in seen:
                    raise ValueError(f"node {i} is in two groups")
                seen.add(i)
        lines = [f"table bridge {CUT_TABLE}", f"delete table bridge {CUT_TABLE}",
                 f"table bridge {CUT_TABLE} {{"]
        for k, side in enumerate(sides):
            members = ", ".join(self.addresses[i] for i in side)
            lines.append(f"  set side{k} {{ type ipv4_addr; elements = {{ {members} }} }}")
        lines.append("  chain cut { type filter hook forward priority 0; policy accept;")
        for a in range(len(sides)):
            for b in range(len(sides)):
                if a != b:
                    lines.append(f"    ip saddr @side{a} ip daddr @side{b} drop")
        lines += ["  }", "}"]
        _run(["ip", "netns", "exec", self.hub, "nft", "-f", "-"], stdin="\n".join(lines) + "\n")
        self._groups = sides

    def heal(self) -> None:
        """Ends the partition (no-op without one)."""
        if self._groups is not None:
            _run(["ip", "netns", "exec", self.hub, "nft", "delete", "table", "bridge", CUT_TABLE])
            self._groups = None

    @property
    def groups(self) -> Optional[list[list[int]]]:
        """The current partition's groups, or None."""
        return None if self._groups is None else [list(g) for g in self._groups]

    def link_down(self, i: int) -> None:
        """Takes node `i`'s link to the bridge down: it is cut from all."""
        self._check_node(i)
        _run(["ip", "-n", self.hub, "link", "set", f"h{i}", "down"])

    def link_up(self, i: int) -> None:
        """Brings node `i`'s link back."""
        self._check_node(i)
        _run(["ip", "-n", self.hub, "link", "set", f"h{i}", "up"])

    def _check_node(self, i: int) -> None:
        if not isinstance(i, int) or not 0 <= i < self.n:
            raise ValueError(f"no node {i!r} in a lab of {self.n}")
