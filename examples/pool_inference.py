"""CPU-bound "inference" handlers spread over an interpreter pool.

Four model actors (a small pure-Python perceptron, examples/inference_model.py)
answer batches of requests: first on ``python-pinned`` (every handler on the
system's loop, one GIL), then in a pool of two own-GIL subinterpreters
(Python 3.12+; a pool of two worker processes before that). The answers
match; on a machine with two free cores the pool takes about half the time.

    python examples/pool_inference.py --batches 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from atomr import ActorRef, ActorSystem, props, subinterpreters_supported
from atomr.interpreter import shutdown_pools

from inference_model import INPUTS, Model


def batches(count: int, rows: int = 8) -> list[list[list[float]]]:
    """`count` batches of `rows` random input rows (a fixed seed)."""
    rng = random.Random(1)
    return [[[rng.uniform(-1, 1) for _ in range(INPUTS)] for _ in range(rows)]
            for _ in range(count)]


async def serve(models: list[ActorRef], work: list[list[list[float]]]) -> list[list[int]]:
    """Asks the models round-robin, all requests in flight at once."""
    asks = [models[i % len(models)].ask(batch, 120.0) for i, batch in enumerate(work)]
    return list(await asyncio.gather(*asks))


def run(system: ActorSystem, role: str, work: list[list[list[float]]]) -> tuple[float, list[list[int]]]:
    models = [system.actor_of(props(Model, interpreter_role=role), f"{role}-model-{i}")
              for i in range(4)]
    asyncio.run(serve(models, work[:4]))  # warm: every model started
    start = time.perf_counter()
    answers = asyncio.run(serve(models, work))
    return time.perf_counter() - start, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    kind = "python-subinterpreter-pool" if subinterpreters_supported() else "python-process-pool"
    work = batches(args.batches)
    system = ActorSystem.create_blocking("inference")
    try:
        system.configure_interpreter("models", kind, count=2)
        pinned, expected = run(system, "default", work)
        pooled, answers = run(system, "models", work)
    finally:
        shutdown_pools()
        system.terminate_blocking()
    assert answers == expected, "the pool answered differently"
    print(f"pool_inference: {args.batches} batches: python-pinned {pinned:.3f}s, "
          f"{kind} x2 {pooled:.3f}s ({pinned / pooled:.2f}x)")


if __name__ == "__main__":
    main()
