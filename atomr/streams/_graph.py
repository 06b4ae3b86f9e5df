"""Graphs that fan out: side sinks (also_to, wire_tap), termination
watching, the junctions of :class:`GraphDsl` and :class:`BidiFlow`.

Fan-in junctions (merge, concat, zip, interleave) are stages of the fused
interpreter, and so are fan-out junctions (broadcast, balance, partition,
the taps of also_to and wire_tap) when every branch after them is
synchronous: such a graph runs as one island with several sinks, pulled
in turn. Otherwise a fan-out junction ends the island feeding it with an
offer stage that routes each element into one bounded channel per output,
and every output starts an island of its own (see ``_channel``); a full
output channel back-pressures the junction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from functools import partial
from typing import Any, Callable, Optional, Union

from atomr.streams import _dsl
from atomr.streams._channel import (
    BLOCKED,
    CAPACITY,
    END,
    OFFERS_IN_FLIGHT,
    Channel,
    consume,
    cut,
    feed,
    ordered_offer,
    single_offer,
    watch_consumer,
)
from atomr.streams._run import Run

_Decider = Callable[[BaseException], int]


def _side_sink(run: Run, sink: Any, decider: Optional[_Decider], capacity: int) -> Channel:
    """Starts `sink` in a new island of `run`'s materialization, reading a
    channel the caller feeds."""
    if run.loop is None:
        raise RuntimeError("a side sink needs an event loop")
    chan = Channel(run.loop, capacity)
    side = run.spawn()
    consume(side, chan)
    watch_consumer(side, chan)
    sink._build(side, decider)
    run.finishers.append(chan.close)
    return chan


def _fused_side(sink: "_dsl.Sink[Any, Any]", junction: Callable[[Any], int]
                ) -> "_dsl.Flow[Any, Any]":
    """A flow sending elements to a synchronous `sink` in the same island:
    ``junction(island)`` pops the upstream into a two-output junction whose
    output 1 feeds `sink` and output 0 goes on downstream."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        j = junction(run.island)
        run.island.port(j, 1)
        run.side_sink(lambda: sink._build(run, decider))
        run.island.port(j, 0)
        return None

    return _dsl.Flow(build)


def also_to(sink: "_dsl.Sink[Any, Any]") -> "_dsl.Flow[Any, Any]":
    """Sends every element to `sink` as well as downstream; an element goes
    on once `sink` has taken it (a slow `sink` back-pressures the stream).
    When `sink` cancels, the stream completes (Akka's eager cancel); when it
    fails, the stream fails with its failure. An async boundary."""
    if not isinstance(sink, _dsl.Sink):
        raise TypeError(f"also_to needs a Sink, not {type(sink).__name__}")
    if not sink._async:
        return _fused_side(sink, lambda isl: isl.broadcast(2, 1, True, True))

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        chan = _side_sink(run, sink, decider, CAPACITY)
        run.island.map_async(single_offer(run, chan, fail_on_cause=True), OFFERS_IN_FLIGHT, True,
                             None)
        run.island.take_while(_not_end, None, False)
        return None

    return _dsl.Flow(build, True)


def _not_end(x: Any) -> bool:
    return x is not END


def async_boundary(buffer_size: int = CAPACITY) -> "_dsl.Flow[Any, Any]":
    """An explicit async boundary (Akka's ``.async``): the stages before it
    and the stages after it run as two islands of the graph, joined by a
    bounded channel of `buffer_size` elements, so the upstream part may run
    ahead of the downstream one by that much (plus the offers in flight).
    Without it, synchronous stages are fused in one island and pull one
    element per demand. Needs an event loop (``run()``, or
    ``run_blocking()``'s own)."""
    size = _dsl._check_count(buffer_size, "async_'s buffer size", 1)

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        consume(run, cut(run, size))
        return None

    return _dsl.Flow(build, True)


def wire_tap(sink: "_dsl.Sink[Any, Any]", buffer_size: int = CAPACITY) -> "_dsl.Flow[Any, Any]":
    """Sends every element to `sink` when it has room (up to `buffer_size`
    buffered), dropping it for `sink` otherwise: `sink` never slows the
    stream down, and its cancellation or failure does not affect it."""
    if not isinstance(sink, _dsl.Sink):
        raise TypeError(f"wire_tap needs a Sink, not {type(sink).__name__}")
    size = _dsl._check_count(buffer_size, "wire_tap's buffer size", 1)
    if not sink._async:
        return _fused_side(sink, lambda isl: isl.tap(size))

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        chan = _side_sink(run, sink, decider, size)

        def tap(x: Any) -> Any:
            if chan.room() > 0:
                chan.put(x)
            return x

        run.island.map(tap, None)
        return None

    return _dsl.Flow(build, True)


class _OnComplete:
    """An iterator that runs `fire` when first advanced, then ends: concat
    after a stage, it runs when that stage's upstream completes."""

    __slots__ = ("fire",)

    def __init__(self, fire: Callable[[], None]) -> None:
        self.fire = fire

    def __iter__(self) -> "_OnComplete":
        return self

    def __next__(self) -> Any:
        self.fire()
        raise StopIteration


def watch_termination() -> "_dsl.Flow[Any, Any]":
    """Passes every element; its materialized value is a future completed
    (with None) when the upstream completes or downstream cancels, or
    failed with the upstream's failure. An asyncio future in ``run()``, a
    ``concurrent.futures.Future`` (done by then) in a blocking run."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        fut: Union[asyncio.Future[Any], concurrent.futures.Future[Any]]
        fut = run.loop.create_future() if run.loop is not None else concurrent.futures.Future()

        def settle(exc: Optional[BaseException]) -> None:
            if fut.done():
                return
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

        def failed(exc: BaseException) -> Any:
            settle(exc)
            raise exc

        run.island.recover(failed)
        run.island.source_iter(_OnComplete(lambda: settle(None)))
        run.island.concat()
        # downstream cancelled (or a stage after this one failed): the run ends
        run.finishers.append(lambda exc: settle(None))
        return fut

    return _dsl.Flow(build)


# --------------------------------------------------------------------------- junctions


class Junction:
    """A fan-in or fan-out shape of :class:`GraphDsl`. Its port counts are
    fixed (`ports`) or taken from the edges (None)."""

    fan_out = False

    def __init__(self, ports: Optional[int] = None) -> None:
        if ports is not None:
            _dsl._check_count(ports, f"{type(self).__name__}'s port count", 1)
        self.ports = ports

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ports})"

    def _native(self, run: Run, outputs: int) -> int:
        """Pops the top tree of `run`'s island into this fan-out junction
        fused in the island; the junction's id."""
        raise NotImplementedError


class Broadcast(Junction):
    """Fan-out: every element to every output. Waits for the slowest
    output (each has a bounded buffer); an output that cancels stops
    getting elements, and upstream is cancelled when all have (any one
    with `eager_cancel`)."""

    fan_out = True

    def __init__(self, outputs: Optional[int] = None, eager_cancel: bool = False,
                 buffer_size: int = CAPACITY) -> None:
        super().__init__(outputs)
        self.eager_cancel = bool(eager_cancel)
        self.buffer_size = _dsl._check_count(buffer_size, "Broadcast's buffer size", 1)

    def _native(self, run: Run, outputs: int) -> int:
        return run.island.broadcast(outputs, self.buffer_size, self.eager_cancel, False)

    def _offer(self, run: Run, chans: list[Channel]) -> Callable[[Any], Any]:
        eager = self.eager_cancel
        blocking: list[Channel] = []

        def try_put(x: Any) -> Any:
            live = 0
            for c in chans:
                if c.cancelled:
                    if eager:
                        return END
                    continue
                if c.room() <= 0:
                    blocking[:] = [c]
                    return BLOCKED
                live += 1
            if live == 0:
                return END
            for c in chans:
                c.put(x)
            return None

        def wait() -> Any:
            return blocking[0].wait_room()

        return ordered_offer(run, try_put, wait)


class Balance(Junction):
    """Fan-out: every element to one output, the one with the most free
    buffer room (in turn among equals); waits while every output is full.
    Upstream is cancelled when all outputs have cancelled."""

    fan_out = True

    def __init__(self, outputs: Optional[int] = None, buffer_size: int = 1) -> None:
        super().__init__(outputs)
        self.buffer_size = _dsl._check_count(buffer_size, "Balance's buffer size", 1)

    def _native(self, run: Run, outputs: int) -> int:
        return run.island.balance(outputs)

    def _offer(self, run: Run, chans: list[Channel]) -> Callable[[Any], Any]:
        turn = itertools.count()

        def try_put(x: Any) -> Any:
            start = next(turn) % len(chans)
            best: Optional[Channel] = None
            live = False
            for i in range(len(chans)):
                c = chans[(start + i) % len(chans)]
                if c.cancelled:
                    continue
                live = True
                if c.room() > 0 and (best is None or c.room() > best.room()):
                    best = c
            if not live:
                return END
            if best is None:
                return BLOCKED
            best.put(x)
            return None

        async def wait() -> None:
            live = [c for c in chans if not c.cancelled]
            if live:
                await asyncio.wait([c.room_waiter() for c in live],
                                   return_when=asyncio.FIRST_COMPLETED)

        return ordered_offer(run, try_put, wait)


class Partition(Junction):
    """Fan-out: every element to the output ``partitioner(x)`` (an index
    in ``range(outputs)``; another value fails the stream with IndexError).
    An element for a cancelled output is dropped; upstream is cancelled
    when all outputs have cancelled."""

    fan_out = True

    def __init__(self, outputs: int, partitioner: Callable[[Any], int],
                 buffer_size: int = CAPACITY) -> None:
        super().__init__(_dsl._check_count(outputs, "Partition's output count", 1))
        _dsl._check_callable(partitioner, "Partition's partitioner")
        self.partitioner = partitioner
        self.buffer_size = _dsl._check_count(buffer_size, "Partition's buffer size", 1)

    def _index(self, n: int) -> Callable[[Any], int]:
        fn = self.partitioner

        def index(x: Any) -> int:
            i = fn(x)
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
                raise IndexError(f"the partitioner gave {i!r} for {x!r}, not an output "
                                 f"index in range({n})")
            return i

        return index

    def _native(self, run: Run, outputs: int) -> int:
        return run.island.partition(outputs, self._index(outputs), self.buffer_size)

    def _offer(self, run: Run, chans: list[Channel]) -> Callable[[Any], Any]:
        index = self._index(len(chans))
        blocking: list[Channel] = []

        def try_put(pair: tuple[int, Any]) -> Any:
            i, x = pair
            c = chans[i]
            if c.cancelled:
                return END if all(o.cancelled for o in chans) else None
            if c.room() <= 0:
                blocking[:] = [c]
                return BLOCKED
            c.put(x)
            return None

        def wait() -> Any:
            return blocking[0].wait_room()

        inner = ordered_offer(run, try_put, wait)

        def offer(x: Any) -> Any:
            return inner((index(x), x))

        return offer


class Merge(Junction):
    """Fan-in: the elements of every input as they come; completes when all
    inputs have (the first one with `eager_complete`)."""

    def __init__(self, inputs: Optional[int] = None, eager_complete: bool = False) -> None:
        super().__init__(inputs)
        self.eager_complete = bool(eager_complete)

    def _combine(self, run: Run, count: int) -> None:
        for _ in range(count - 1):
            run.island.merge(self.eager_complete)


class Concat(Junction):
    """Fan-in: the elements of each input in edge order, one input after
    the other."""

    def _combine(self, run: Run, count: int) -> None:
        for _ in range(count - 1):
            run.island.concat()


class Zip(Junction):
    """Fan-in of two inputs: ``(a, b)`` pairs (``fn(a, b)`` when given);
    completes with the shorter input."""

    def __init__(self, fn: Optional[Callable[[Any, Any], Any]] = None) -> None:
        super().__init__(2)
        if fn is not None:
            _dsl._check_callable(fn, "Zip's function")
        self.fn = fn

    def _combine(self, run: Run, count: int) -> None:
        run.island.zip(self.fn)


class ZipWith(Zip):
    """Fan-in of two inputs: ``fn(a, b)`` for each pair."""

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        _dsl._check_callable(fn, "ZipWith's function")
        super().__init__(fn)


class Interleave(Junction):
    """Fan-in of two inputs: `segment_size` elements of one, then of the other."""

    def __init__(self, segment_size: int) -> None:
        super().__init__(2)
        self.segment_size = _dsl._check_count(segment_size, "Interleave's segment size", 1)

    def _combine(self, run: Run, count: int) -> None:
        run.island.interleave(self.segment_size)


# --------------------------------------------------------------------------- GraphDsl


_Node = Union["_dsl.Source[Any]", "_dsl.Flow[Any, Any]", "_dsl.Sink[Any, Any]", Junction]


class GraphDsl:
    """An explicit graph: nodes (sources, flows, sinks and the junctions
    :class:`Broadcast`, :class:`Balance`, :class:`Partition`,
    :class:`Merge`, :class:`Concat`, :class:`Zip`, :class:`ZipWith`,
    :class:`Interleave`) joined by edges.

    ``add(node)`` returns the node's id; ``edge(a, b)`` connects a's next
    free output to b's next free input (a junction's ports are numbered in
    the order its edges are added: the first edge into a Zip gives the left
    element). The graph must be acyclic, every port connected once, with at
    least one source and one sink. It runs any number of times; ``run()``
    / ``run_blocking()`` give the sink's materialized value, or a tuple of
    every sink's in ``add`` order when there are several.
    """

    def __init__(self) -> None:
        self._nodes: list[_Node] = []
        self._edges: list[tuple[int, int]] = []

    def add(self, node: _Node) -> int:
        """Adds a node; its id."""
        if not isinstance(node, (_dsl.Source, _dsl.Flow, _dsl.Sink, Junction)):
            raise ValueError(f"a graph node is a Source, Flow, Sink or junction, "
                             f"not {type(node).__name__}")
        self._nodes.append(node)
        return len(self._nodes) - 1

    def edge(self, a: int, b: int) -> None:
        """Connects node `a`'s output to node `b`'s input."""
        for i in (a, b):
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self._nodes):
                raise ValueError(f"no node {i!r} in this graph ({len(self._nodes)} nodes)")
        if isinstance(self._nodes[a], _dsl.Sink):
            raise ValueError(f"node {a} is a sink: it has no output")
        if isinstance(self._nodes[b], _dsl.Source):
            raise ValueError(f"node {b} is a source: it has no input")
        self._edges.append((a, b))

    def _check(self) -> tuple[list[list[int]], list[list[int]]]:
        n = len(self._nodes)
        ins: list[list[int]] = [[] for _ in range(n)]
        outs: list[list[int]] = [[] for _ in range(n)]
        for a, b in self._edges:
            outs[a].append(b)
            ins[b].append(a)
        sources = sinks = 0
        for i, node in enumerate(self._nodes):
            if isinstance(node, _dsl.Source):
                sources += 1
                want_in, want_out = 0, 1
            elif isinstance(node, _dsl.Sink):
                sinks += 1
                want_in, want_out = 1, 0
            elif isinstance(node, _dsl.Flow):
                want_in, want_out = 1, 1
            elif node.fan_out:
                want_in, want_out = 1, (node.ports or max(1, len(outs[i])))
            else:
                want_in, want_out = (node.ports or max(1, len(ins[i]))), 1
            if len(ins[i]) != want_in or len(outs[i]) != want_out:
                raise ValueError(f"node {i} ({type(node).__name__}) needs {want_in} input(s) and "
                                 f"{want_out} output(s), has {len(ins[i])} and {len(outs[i])}")
        if sources == 0 or sinks == 0:
            raise ValueError("a graph needs at least one Source and one Sink")
        # acyclic: Kahn's algorithm
        degree = [len(x) for x in ins]
        ready = [i for i in range(n) if degree[i] == 0]
        seen = 0
        while ready:
            i = ready.pop()
            seen += 1
            for j in outs[i]:
                degree[j] -= 1
                if degree[j] == 0:
                    ready.append(j)
        if seen != n:
            raise ValueError("the graph has a cycle; cycles are not supported")
        return ins, outs

    def to_graph(self) -> "_dsl.RunnableGraph[Any]":
        """The graph as a :class:`RunnableGraph` (checked now)."""
        ins, outs = self._check()
        nodes = list(self._nodes)
        sink_ids = [i for i, node in enumerate(nodes) if isinstance(node, _dsl.Sink)]
        fan_outs = [i for i, node in enumerate(nodes)
                    if isinstance(node, Junction) and node.fan_out]
        any_async = any(isinstance(node, _dsl._Blueprint) and node._async for node in nodes)
        if not any_async:
            return _dsl.RunnableGraph(_fused(nodes, ins, outs, sink_ids))
        is_async = True

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            chans: dict[tuple[int, int], Channel] = {}
            if fan_outs:
                if run.loop is None:
                    raise RuntimeError("a graph with fan-out needs an event loop")
                for f in fan_outs:
                    junction = nodes[f]
                    assert isinstance(junction, (Broadcast, Balance, Partition))
                    for k in range(len(outs[f])):
                        chans[(f, k)] = Channel(run.loop, junction.buffer_size)

            def emit(target: Run, i: int, via: int) -> None:
                """Pushes the tree ending at node i's output (the one
                leading to node `via`) onto target's island."""
                node = nodes[i]
                if isinstance(node, _dsl.Source):
                    node._build(target, decider)
                elif isinstance(node, _dsl.Flow):
                    emit(target, ins[i][0], i)
                    node._build(target, decider)
                elif isinstance(node, Junction) and node.fan_out:
                    port = _port(outs[i], via, used)
                    chan = chans[(i, port)]
                    consume(target, chan)
                    watch_consumer(target, chan)
                else:
                    assert isinstance(node, (Merge, Concat, Zip, Interleave))
                    for j in ins[i]:
                        emit(target, j, i)
                    node._combine(target, len(ins[i]))

            used: dict[tuple[int, int], int] = {}
            mats = []
            for k, s in enumerate(sink_ids):
                target = run if k == 0 else run.spawn()
                emit(target, ins[s][0], s)
                sink = nodes[s]
                assert isinstance(sink, _dsl.Sink)
                mats.append(sink._build(target, decider))
            for f in fan_outs:
                junction = nodes[f]
                assert isinstance(junction, (Broadcast, Balance, Partition))
                producer = run.spawn()
                emit(producer, ins[f][0], f)
                targets = [chans[(f, k)] for k in range(len(outs[f]))]
                feed(producer, junction._offer(producer, targets), targets, OFFERS_IN_FLIGHT)
            return mats[0] if len(mats) == 1 else tuple(mats)

        return _dsl.RunnableGraph(build, is_async)

    def run(self) -> Any:
        """Runs the graph on the running loop (see :meth:`RunnableGraph.run`)."""
        return self.to_graph().run()

    def run_blocking(self) -> Any:
        """Runs the graph to its end (see :meth:`RunnableGraph.run_blocking`)."""
        return self.to_graph().run_blocking()


def _fused(nodes: list[_Node], ins: list[list[int]], outs: list[list[int]],
           sink_ids: list[int]) -> Callable[[Run, Optional[_Decider]], Any]:
    """The build of a synchronous graph as one island: fan-out junctions
    are fused in it and every sink is one of its sinks (the first one the
    island's primary sink, the others side sinks)."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        junctions: dict[int, int] = {}
        used: dict[tuple[int, int], int] = {}

        def emit(i: int, via: int) -> None:
            """Pushes the tree ending at node i's output (the one leading
            to node `via`) onto the island."""
            node = nodes[i]
            if isinstance(node, _dsl.Source):
                node._build(run, decider)
            elif isinstance(node, _dsl.Flow):
                emit(ins[i][0], i)
                node._build(run, decider)
            elif isinstance(node, Junction) and node.fan_out:
                if i not in junctions:
                    emit(ins[i][0], i)
                    junctions[i] = node._native(run, len(outs[i]))
                run.island.port(junctions[i], _port(outs[i], via, used))
            else:
                assert isinstance(node, (Merge, Concat, Zip, Interleave))
                for j in ins[i]:
                    emit(j, i)
                node._combine(run, len(ins[i]))

        mats = []
        for k, s in enumerate(sink_ids):
            emit(ins[s][0], s)
            sink = nodes[s]
            assert isinstance(sink, _dsl.Sink)
            if k == 0:
                mats.append(sink._build(run, decider))
            else:
                mats.append(run.side_sink(partial(sink._build, run, decider)))
        return mats[0] if len(mats) == 1 else tuple(mats)

    return build


def _port(outs: list[int], via: int, used: dict[tuple[int, int], int]) -> int:
    """The output port of a fan-out junction that leads to node `via` (the
    next unused one when several lead there)."""
    key = (id(outs), via)
    start = used.get(key, 0)
    for k in range(start, len(outs)):
        if outs[k] == via:
            used[key] = k + 1
            return k
    raise AssertionError("no such port")


# --------------------------------------------------------------------------- BidiFlow


class BidiFlow:
    """Two flows in opposite directions (Akka's BidiFlow): `forward` from
    the outside in, `backward` from the inside out, as around a protocol
    stack's layer."""

    def __init__(self, forward: "_dsl.Flow[Any, Any]", backward: "_dsl.Flow[Any, Any]") -> None:
        for name, flow in (("forward", forward), ("backward", backward)):
            if not isinstance(flow, _dsl.Flow):
                raise TypeError(f"a BidiFlow's {name} flow is a Flow, not {type(flow).__name__}")
        self._forward = forward
        self._backward = backward

    @staticmethod
    def from_flows(forward: "_dsl.Flow[Any, Any]", backward: "_dsl.Flow[Any, Any]"
                   ) -> "BidiFlow":
        """The BidiFlow of two flows."""
        return BidiFlow(forward, backward)

    @staticmethod
    def from_functions(outbound: Callable[[Any], Any], inbound: Callable[[Any], Any]
                       ) -> "BidiFlow":
        """The BidiFlow mapping `outbound` forward and `inbound` backward."""
        return BidiFlow(_dsl.Flow.map(outbound), _dsl.Flow.map(inbound))

    def forward(self) -> "_dsl.Flow[Any, Any]":
        """The forward flow."""
        return self._forward

    def backward(self) -> "_dsl.Flow[Any, Any]":
        """The backward flow."""
        return self._backward

    def atop(self, other: "BidiFlow") -> "BidiFlow":
        """This layer on top of `other`: forward through this one then
        `other`, backward through `other` then this one."""
        if not isinstance(other, BidiFlow):
            raise TypeError(f"atop needs a BidiFlow, not {type(other).__name__}")
        return BidiFlow(self._forward.via(other._forward), other._backward.via(self._backward))

    def reversed(self) -> "BidiFlow":
        """The same layer with its directions swapped."""
        return BidiFlow(self._backward, self._forward)

    def join(self, flow: "Optional[_dsl.Flow[Any, Any]]" = None) -> "_dsl.Flow[Any, Any]":
        """Closes the layer over `flow` (what lies below it): the flow
        forward, then `flow`, then backward (without `flow`: forward then
        backward)."""
        if flow is None:
            return self._forward.via(self._backward)
        if not isinstance(flow, _dsl.Flow):
            raise TypeError(f"join needs a Flow, not {type(flow).__name__}")
        return self._forward.via(flow).via(self._backward)

