"""atomr._native._subinterp's channels (every Python version) and its
refusal to start interpreters before 3.12."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from atomr._native import _subinterp as chan


def test_a_channel_queues_bytes_in_order_and_drains_after_close():
    c = chan.channel_new()
    try:
        assert chan.channel_pop(c, 0.0) == []
        assert chan.channel_push(c, b"a") is True
        assert chan.channel_push(c, bytearray(b"bc")) is True
        assert chan.channel_push(c, memoryview(b"xyz")[1:]) is True
        assert chan.channel_pop(c, 0.0) == [b"a", b"bc", b"yz"]
        chan.channel_push(c, b"last")
    finally:
        chan.channel_close(c)
    assert chan.channel_push(c, b"refused") is False
    assert chan.channel_pop(c, -1.0) == [b"last"]
    assert chan.channel_pop(c, -1.0) is None  # drained: forgotten
    with pytest.raises(ValueError, match="no channel"):
        chan.channel_pop(c, 0.0)
    with pytest.raises(ValueError, match="no channel"):
        chan.channel_push(c, b"x")
    chan.channel_close(c)  # harmless on a forgotten channel
    d = chan.channel_new()
    count = chan.channel_count()
    chan.channel_push(d, b"dropped")
    chan.channel_free(d)
    assert chan.channel_count() == count - 1


def test_a_waiting_pop_wakes_on_push_and_on_close_without_holding_the_gil():
    c = chan.channel_new()
    got: list = []
    t = threading.Thread(target=lambda: got.append(chan.channel_pop(c, 30.0)))
    t.start()
    spins = 0
    end = time.monotonic() + 0.05
    while time.monotonic() < end:  # runs while the pop waits: it let the GIL go
        spins += 1
    chan.channel_push(c, b"wake")
    t.join(30.0)
    assert got == [[b"wake"]] and spins > 0
    t = threading.Thread(target=lambda: got.append(chan.channel_pop(c, -1.0)))
    t.start()
    chan.channel_close(c)  # wakes the pop: None
    t.join(30.0)
    assert not t.is_alive() and got[-1] is None


def test_a_pop_times_out_empty():
    c = chan.channel_new()
    try:
        start = time.monotonic()
        assert chan.channel_pop(c, 0.05) == []
        assert time.monotonic() - start >= 0.04
    finally:
        chan.channel_free(c)


def test_bad_arguments_raise():
    c = chan.channel_new()
    with pytest.raises(TypeError):
        chan.channel_push(c, "text")
    chan.channel_free(c)
    with pytest.raises(TypeError):
        chan.channel_pop("1", 0.0)
    with pytest.raises(ValueError, match="no interpreter"):
        chan.interp_status(10**12)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ starts interpreters")
def test_before_3_12_no_interpreter_starts():
    assert chan.OWN_GIL == 0
    with pytest.raises(NotImplementedError, match="3.12"):
        chan.interp_start("pass")


_STUBS = (
    "import sys, types\n"
    "for _n, _p in {packages!r}.items():\n"
    "    _m = types.ModuleType(_n); _m.__path__ = [_p]; sys.modules[_n] = _m\n"
)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="needs own-GIL subinterpreters")
def test_an_interpreter_runs_a_script_and_reports_its_error():
    import os

    import atomr

    root = os.path.dirname(atomr.__file__)
    stubs = _STUBS.format(packages={"atomr": root, "atomr._native": os.path.join(root, "_native")})
    assert chan.OWN_GIL == 1
    c = chan.channel_new()
    try:
        ok = chan.interp_start(
            stubs + f"sys.path[:] = {sys.path!r}\n"
            "from atomr._native import _subinterp as c\n"
            f"c.channel_push({c}, str(c.current_interpreter()).encode())\n")
        bad = chan.interp_start("raise ValueError('no')\n")
        got = chan.channel_pop(c, 30.0)
        assert got and int(got[0]) > 0 and chan.current_interpreter() == 0
        end = time.monotonic() + 30.0
        while not chan.interp_status(bad)[0]:
            assert time.monotonic() < end
            time.sleep(0.01)
        assert chan.interp_status(bad) == (True, True, "ValueError: no")
        assert chan.interp_status(ok)[1] is False or not chan.interp_status(ok)[0]
        assert chan.interp_join(ok, 30.0) and chan.interp_join(bad, 30.0)
        assert chan.interp_count() == 0
    finally:
        chan.channel_free(c)


def test_a_channel_writes_to_its_notify_fd_when_mail_lands_for_a_sleeping_consumer():
    import os

    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    c = chan.channel_new()

    def bytes_ready() -> int:
        try:
            return len(os.read(r, 64))
        except BlockingIOError:
            return 0

    try:
        chan.channel_push(c, b"queued before")
        chan.channel_notify(c, w)  # mail already queued: written at once
        assert bytes_ready() == 1
        chan.channel_push(c, b"second")  # not empty: no byte
        assert bytes_ready() == 0
        assert chan.channel_pop(c, 0.0) == [b"queued before", b"second"]
        chan.channel_push(c, b"busy")  # the consumer has not found it empty yet: no byte
        assert bytes_ready() == 0
        assert chan.channel_pop(c, 0.0) == [b"busy"]
        assert chan.channel_pop(c, 0.0) == []  # empty: the consumer sleeps next
        chan.channel_push(c, b"third")
        assert bytes_ready() == 1
        chan.channel_push(c, b"fourth")  # woken once
        assert bytes_ready() == 0
        with pytest.raises(ValueError, match="file descriptor"):
            chan.channel_notify(c, -5)
        chan.channel_close(c)
        assert bytes_ready() == 1  # the close wakes the reader too
        chan.channel_notify(c, -1)
        assert chan.channel_pop(c, 0.0) == [b"third", b"fourth"]
        assert chan.channel_pop(c, 0.0) is None
    finally:
        chan.channel_free(c)
        os.close(r)
        os.close(w)
