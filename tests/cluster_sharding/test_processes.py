"""Sharding across real OS processes over TCP: shards rebalance as nodes
join without losing or repeating a message; a node killed with SIGKILL
loses its shards to the others, where remembered entities start again and
event-sourced ones recover their state from the shared LMDB journal."""

from __future__ import annotations

import pathlib
import threading

import pytest

from multinode._cluster import cluster_config, join_all, wait_agreed
from multinode._nodes import NodeGroup, NodeProcess, wait_until

SCRIPT = pathlib.Path(__file__).resolve().parent / "shard_node.py"


def _wrap(argv: list[str]) -> list[str]:
    return [argv[0], str(SCRIPT), *argv[2:]]


def _node(group: NodeGroup, name: str, config: dict) -> NodeProcess:
    return group.add(NodeProcess(name, config=config, cluster=True, wrap=_wrap))


@pytest.fixture
def group():
    with NodeGroup() as g:
        yield g


def _shards(node: NodeProcess, type_name: str) -> list[str]:
    return node.request("region", type=type_name)["shards"]


def test_rebalance_across_three_processes_without_loss_or_duplication(group):
    config = cluster_config()
    a, b, c = (_node(group, n, config) for n in ("pa", "pb", "pc"))
    group.start_all([a, b, c])
    join_all([a], [a.address], 60)
    a.request("start_region", type="t")
    sent: dict[str, int] = {}
    stop = threading.Event()
    senders: list[threading.Thread] = []

    def send_from(node: NodeProcess) -> None:
        n = 0
        while not stop.is_set():
            node.request("tell_range", type="t", tag=node.name, start=n, count=5, entities=24)
            n += 5
            sent[node.name] = n

    def start_sender(node: NodeProcess) -> None:
        t = threading.Thread(target=send_from, args=(node,), daemon=True)
        t.start()
        senders.append(t)

    try:
        start_sender(a)
        wait_until(lambda: len(_shards(a, "t")) == 12, 30, "every shard on the first node")
        for node in (b, c):
            join_all([node], [a.address], 60)
            node.request("start_region", type="t")
            start_sender(node)
        wait_agreed([a, b, c], 60, "three members")
        try:
            wait_until(lambda: [len(_shards(n, "t")) for n in (a, b, c)] == [4, 4, 4], 60,
                       "shards spread 4/4/4")
        except AssertionError as exc:
            views = {n.name: (_shards(n, "t"), n.request("coordinator", type="t"))
                     for n in (a, b, c)}
            raise AssertionError(f"{exc}\nshards and coordinator views: {views!r}") from None
    finally:
        stop.set()
        for t in senders:
            t.join(60)
    all_shards = sorted(s for n in (a, b, c) for s in _shards(n, "t"))
    assert all_shards == sorted(str(i) for i in range(12))
    total = sum(sent.values())

    def per_host() -> list[dict[str, list]]:
        return [n.request("received") for n in (a, b, c)]

    def complete() -> object:
        hosts = per_host()
        counts = [sum(len(h.get(f"e{e}", [])) for h in hosts) for e in range(24)]
        return hosts if all(k >= total for k in counts) else None

    try:
        hosts = wait_until(complete, 60, "every message delivered")
    except AssertionError as exc:
        hosts = per_host()
        missing = {(f"e{e}", tag): sorted(set(range(n)) - {
            x[1] for h in hosts for x in h.get(f"e{e}", []) if x[0] == tag})
            for e in range(24) for tag, n in sent.items()}
        views = {n.name: (_shards(n, "t"), n.request("coordinator", type="t"))
                 for n in (a, b, c)}
        raise AssertionError(f"{exc}\nsent {sent!r}\nmissing (count, first, last): "
                             f"{ {k: (len(v), v[0], v[-1]) for k, v in missing.items() if v}!r}\n"
                             f"shards and coordinator views: {views!r}\n"
                             f"logs: { {n.name: n.stderr_tail(3000) for n in (a, b, c)} }"
                             ) from None
    for e in range(24):
        for tag, n in sent.items():
            runs = [[x[1] for x in h.get(f"e{e}", []) if x[0] == tag] for h in hosts]
            # exactly once overall ...
            assert sorted(sum(runs, [])) == list(range(n)), (e, tag)
            # ... and in the sender's order on every node the entity lived on
            for run in runs:
                assert run == sorted(run), (e, tag)


def test_killed_node_shards_move_remembered_and_persistent_entities_recover(group, tmp_path):
    config = cluster_config(sbr={"strategy": "keep-majority", "stable-after": 1.5})
    config["persistence"] = {"journal": "lmdb",
                             "lmdb": {"path": str(tmp_path / "journal"), "sync": False}}
    a, b, c = (_node(group, n, config) for n in ("ka", "kb", "kc"))
    group.start_all([a, b, c])
    join_all([a], [a.address], 60)
    join_all([b, c], [a.address], 60)
    wait_agreed([a, b, c], 60, "three members")
    for n in (a, b, c):
        n.request("start_region", type="acct", remember=True, persistent=True)
    a.request("tell_range", type="acct", tag="a", start=0, count=5, entities=12)
    wait_until(lambda: [len(_shards(n, "acct")) for n in (a, b, c)] == [4, 4, 4], 60,
               "shards spread 4/4/4")

    def states() -> dict[str, int]:
        out: dict[str, int] = {}
        for n in (a, b):
            out.update(n.request("pstate"))
        return out

    wait_until(lambda: sum(len(n.request("pstate")) for n in (a, b, c)) == 12
               and all(v == 5 for n in (a, b, c) for v in n.request("pstate").values()),
               60, "five events per entity")
    on_c = c.request("region", type="acct")
    assert on_c["entities"]
    c.kill()
    wait_agreed([a, b], 60, "the killed node removed")
    # Its shards move to the survivors, its remembered entities start there
    # without any message and recover their five events from the journal.
    try:
        wait_until(lambda: sorted(s for n in (a, b) for s in _shards(n, "acct")) ==
                   sorted(str(i) for i in range(12)), 60, "every shard on the survivors")
    except AssertionError as exc:
        views = {n.name: (_shards(n, "acct"), n.request("coordinator", type="acct"))
                 for n in (a, b)}
        logs = {n.name: n.stderr_tail(3000) for n in (a, b)}
        raise AssertionError(f"{exc}\nshards and coordinator views: {views!r}\n"
                             f"c hosted {on_c!r}\nlogs: {logs}") from None
    recovered = wait_until(
        lambda: (lambda s: s if all(s.get(e) == 5 for e in on_c["entities"]) else None)(
            states()), 60, "the killed node's entities recovered")
    assert len(recovered) == 12
    a.request("tell_range", type="acct", tag="a", start=5, count=1, entities=12)
    wait_until(lambda: (lambda s: len(s) == 12 and all(v == 6 for v in s.values()))(states()),
               60, "a sixth event on every entity")


def test_a_node_leaving_gracefully_hands_its_shards_off_without_loss(group):
    config = cluster_config()
    a, b, c = (_node(group, n, config) for n in ("ga", "gb", "gc"))
    group.start_all([a, b, c])
    join_all([a], [a.address], 60)
    join_all([b, c], [a.address], 60)
    wait_agreed([a, b, c], 60, "three members")
    for n in (a, b, c):
        n.request("start_region", type="g")
    a.request("tell_range", type="g", tag="warm", start=0, count=1, entities=24)
    wait_until(lambda: [len(_shards(n, "g")) for n in (a, b, c)] == [4, 4, 4], 60,
               "shards spread 4/4/4")
    sent: dict[str, int] = {}
    stop = threading.Event()

    def send_from(node: NodeProcess) -> None:
        n = 0
        while not stop.is_set():
            node.request("tell_range", type="g", tag=node.name, start=n, count=5, entities=24)
            n += 5
            sent[node.name] = n

    senders = [threading.Thread(target=send_from, args=(n,), daemon=True) for n in (a, c)]
    for t in senders:
        t.start()
    try:
        wait_until(lambda: len(sent) == 2, 30, "both senders running")
        # b leaves while a and c tell: its shards are handed off
        b.request("leave", timeout=60)
        wait_agreed([a, c], 60, "the leaver removed")
        wait_until(lambda: sorted(s for n in (a, c) for s in _shards(n, "g")) ==
                   sorted(str(i) for i in range(12)), 60, "every shard on a and c")
    finally:
        stop.set()
        for t in senders:
            t.join(60)
    assert _shards(b, "g") == []

    def complete() -> object:
        hosts = [n.request("received") for n in (a, b, c)]
        counts = [sum(len([x for x in h.get(f"e{e}", []) if x[0] != "warm"]) for h in hosts)
                  for e in range(24)]
        return hosts if all(k >= sum(sent.values()) for k in counts) else None

    hosts = wait_until(complete, 60, "every message delivered")
    for e in range(24):
        for tag, n in sent.items():
            runs = [[x[1] for x in h.get(f"e{e}", []) if x[0] == tag] for h in hosts]
            assert sorted(sum(runs, [])) == list(range(n)), (e, tag)
            for run in runs:
                assert run == sorted(run), (e, tag)
            # what the leaver handled came before what its shard's new home did
            if runs[1]:
                assert max(runs[1]) < min(runs[0] + runs[2] + [n]), (e, tag)
