"""The model actor of examples/pool_inference.py, in a module of its own:
a pool imports actor classes by qualified name, inside each subinterpreter
(or worker process), so they live at the top level of an importable module
that needs only ``atomr.Actor`` there."""

from __future__ import annotations

import random
from typing import Any

from atomr import Actor

#: The network: INPUTS -> HIDDEN (ReLU) -> CLASSES, weights from a fixed seed.
INPUTS, HIDDEN, CLASSES = 32, 48, 4


def weights(seed: int = 7) -> tuple[list[list[float]], list[list[float]]]:
    """The two weight matrices (the same in every interpreter)."""
    rng = random.Random(seed)
    w1 = [[rng.uniform(-1, 1) for _ in range(INPUTS)] for _ in range(HIDDEN)]
    w2 = [[rng.uniform(-1, 1) for _ in range(HIDDEN)] for _ in range(CLASSES)]
    return w1, w2


def predict(w1: list[list[float]], w2: list[list[float]], batch: list[list[float]]) -> list[int]:
    """The class of each input row: a two-layer perceptron in pure Python."""
    out = []
    for x in batch:
        hidden = [max(0.0, sum(w * v for w, v in zip(row, x))) for row in w1]
        scores = [sum(w * h for w, h in zip(row, hidden)) for row in w2]
        out.append(max(range(CLASSES), key=scores.__getitem__))
    return out


class Model(Actor):
    """Answers a batch of input rows with their predicted classes."""

    def __init__(self) -> None:
        self.w1, self.w2 = weights()

    def handle(self, ctx: Any, msg: list[list[float]]) -> list[int]:
        return predict(self.w1, self.w2, msg)
