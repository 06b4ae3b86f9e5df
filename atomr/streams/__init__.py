"""Streams: back-pressured pipelines over arbitrary Python objects.

Akka Streams' model: :class:`Source`, :class:`Flow` and :class:`Sink` are
reusable blueprints; connecting a source to a sink gives a
:class:`RunnableGraph` that runs any number of times, each run pulling
elements on demand through bounded stages and yielding a materialized value.

A graph runs as one fused island: a C++ interpreter pulls the stages in one
thread and calls the Python callables directly (no asyncio task, queue or
Python iterator per element). ``run_blocking()`` runs it on the calling
thread; ``run()`` on the running loop's thread, in slices that give the loop
back. ``map_async`` and async sources are the async boundaries; their
awaitables run on the loop.

    >>> from atomr.streams import Source, Flow, Sink
    >>> (Source.from_iter(range(10))
    ...     .via(Flow.map(lambda x: x * 2))
    ...     .filter(lambda x: x % 3 == 0)
    ...     .to(Sink.fold(0, lambda a, b: a + b))
    ...     .run_blocking())
    36

See docs/streams.md for the operators, the engine and what is not built yet.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from atomr.errors import (
    BufferOverflowError,
    EmptyStreamError,
    InvalidGraphError,
    RateExceededError,
    FramingError,
    StreamAbortedError,
    StreamError,
    StreamIOError,
    StreamTimeoutError,
)
from atomr.streams._dsl import (
    Flow,
    Keep,
    KillSwitch,
    KillSwitches,
    RunnableGraph,
    SharedKillSwitch,
    Sink,
    Source,
    UniqueKillSwitch,
    make_decider,
)
from atomr.streams._helpers import (
    map_reduce,
    merge_prioritized_,
    merge_sorted_,
    run_collect,
    run_fold,
    via_conflate,
    via_expand,
    via_initial_delay,
    via_keep_alive,
    via_prefix_and_tail,
    via_recover_with_retries,
    via_select_error,
    via_split_after_count,
)
from atomr.streams._io import (
    FileIO,
    Framing,
    IncomingConnection,
    ServerBinding,
    Tcp,
    TcpOutgoing,
)
from atomr.streams._sources import (
    ActorSourceRef,
    BroadcastHub,
    Cancellable,
    MergeHub,
    PartitionHub,
    QueueOfferResult,
    RestartFlow,
    RestartSettings,
    RestartSink,
    RestartSource,
    SinkQueue,
    SourceQueue,
)
from atomr.streams._graph import (
    Balance,
    BidiFlow,
    Broadcast,
    Concat,
    GraphDsl,
    Interleave,
    Junction,
    Merge,
    Partition,
    Zip,
    ZipWith,
)

__all__ = [
    "Source",
    "Flow",
    "Sink",
    "RunnableGraph",
    "Keep",
    "KillSwitch",
    "KillSwitches",
    "UniqueKillSwitch",
    "SharedKillSwitch",
    "make_decider",
    "GraphDsl",
    "Junction",
    "Broadcast",
    "Balance",
    "Partition",
    "Merge",
    "Concat",
    "Zip",
    "ZipWith",
    "Interleave",
    "BidiFlow",
    "SourceQueue",
    "SinkQueue",
    "QueueOfferResult",
    "BroadcastHub",
    "MergeHub",
    "PartitionHub",
    "RestartSource",
    "RestartFlow",
    "RestartSink",
    "RestartSettings",
    "Cancellable",
    "ActorSourceRef",
    "Framing",
    "FileIO",
    "Tcp",
    "IncomingConnection",
    "ServerBinding",
    "TcpOutgoing",
    "pipeline",
    "run_pipeline",
    "collect",
    "map_reduce",
    "run_collect",
    "run_fold",
    "via_keep_alive",
    "via_initial_delay",
    "via_conflate",
    "via_expand",
    "merge_sorted_",
    "merge_prioritized_",
    "via_split_after_count",
    "via_prefix_and_tail",
    "via_recover_with_retries",
    "via_select_error",
    "StreamError",
    "BufferOverflowError",
    "RateExceededError",
    "EmptyStreamError",
    "StreamAbortedError",
    "InvalidGraphError",
    "StreamTimeoutError",
    "FramingError",
    "StreamIOError",
]


def pipeline(items: Iterable[Any], *flows: Flow[Any, Any],
             sink: Optional[Sink[Any, Any]] = None) -> RunnableGraph[Any]:
    """``Source.from_iter(items)`` through `flows` into `sink` (default
    ``Sink.seq()``), as a runnable graph."""
    source: Source[Any] = Source.from_iter(items)
    for flow in flows:
        source = source.via(flow)
    return source.to(sink if sink is not None else Sink.seq())


async def run_pipeline(items: Iterable[Any], *flows: Flow[Any, Any],
                       sink: Optional[Sink[Any, Any]] = None) -> Any:
    """Runs :func:`pipeline` on the running loop; the sink's result."""
    return await pipeline(items, *flows, sink=sink).run()


def collect(items: Iterable[Any], *flows: Flow[Any, Any]) -> list[Any]:
    """Runs `items` through `flows` on this thread; the list of results."""
    result: list[Any] = pipeline(items, *flows).run_blocking()
    return result
