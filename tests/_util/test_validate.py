"""atomr._util: the shared validators and the public-module marker."""

from __future__ import annotations

import math

import pytest

from atomr._util import (
    check_bool,
    check_bytes,
    check_choice,
    check_int,
    check_non_negative,
    check_nonempty_str,
    check_number,
    check_positive,
    check_seconds,
    public_module,
)


def test_check_int_accepts_ints_at_or_above_the_minimum():
    assert check_int("n", 3, 1) == 3
    with pytest.raises(TypeError, match="n must be an int, not bool"):
        check_int("n", True, 0)
    with pytest.raises(TypeError):
        check_int("n", 1.0, 0)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_int("n", 0, 1)


def test_check_number_returns_a_finite_float_in_range():
    assert check_number("x", 2) == 2.0 and isinstance(check_number("x", 2), float)
    assert check_number("x", 0.0) == 0.0
    with pytest.raises(ValueError, match="> 0.0"):
        check_number("x", 0.0, strict=True)
    with pytest.raises(ValueError):
        check_number("x", math.inf)
    with pytest.raises(ValueError):
        check_number("x", 0.5, minimum=1.0)
    with pytest.raises(TypeError):
        check_number("x", False)


def test_check_positive_and_non_negative():
    assert check_positive("t", 1) == 1.0
    assert check_non_negative("t", 0) == 0.0
    with pytest.raises(ValueError, match="t must be a finite number > 0, got 0.0"):
        check_positive("t", 0)
    with pytest.raises(ValueError, match=">= 0"):
        check_non_negative("t", -1)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            check_positive("t", bad)
    with pytest.raises(TypeError):
        check_non_negative("t", "1")


def test_check_seconds_optionally_refuses_zero():
    assert check_seconds("d", 0) == 0.0
    assert check_seconds("d", 1.5, allow_zero=False) == 1.5
    with pytest.raises(ValueError, match="positive finite number of seconds"):
        check_seconds("d", 0, allow_zero=False)
    with pytest.raises(ValueError, match="non-negative"):
        check_seconds("d", -1)
    with pytest.raises(TypeError, match="d must be a number of seconds"):
        check_seconds("d", None)


def test_check_bool_choice_string_and_bytes():
    assert check_bool("flag", False) is False
    with pytest.raises(TypeError):
        check_bool("flag", 0)
    assert check_choice("policy", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="unknown policy 'c'; expected one of a, b"):
        check_choice("policy", "c", ("a", "b"))
    with pytest.raises(TypeError):
        check_choice("policy", 1, ("a",))
    assert check_nonempty_str("a node id", "n1") == "n1"
    with pytest.raises(ValueError, match="a node id must not be empty"):
        check_nonempty_str("a node id", "")
    with pytest.raises(TypeError):
        check_nonempty_str("a node id", b"n1")
    assert check_bytes("payload", bytearray(b"ab")) == b"ab"
    assert check_bytes("payload", memoryview(b"ab")) == b"ab"
    with pytest.raises(TypeError, match="payload must be bytes"):
        check_bytes("payload", "ab")


def test_public_module_names_the_exporting_module():
    @public_module("atomr.somewhere")
    class Thing:
        pass

    @public_module("atomr.somewhere")
    def helper():
        return 1

    assert Thing.__module__ == "atomr.somewhere"
    assert helper.__module__ == "atomr.somewhere" and helper() == 1
