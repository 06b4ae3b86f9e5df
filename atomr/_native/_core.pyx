# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: c_string_type=unicode, c_string_encoding=utf8, embedsignature=True
"""The native half of atomr's actors: cells, refs, contexts and the pinned
dispatcher that drains the C++ ready queue on the asyncio loop's own thread.

Invariants every caller keeps:

* All Python code of one actor system runs on the thread of the loop the
  system is bound to. Other threads only enqueue mail (``ActorRef.tell``,
  ``ask``, ``ask_blocking``) and wake that loop through the dispatcher's
  eventfd.
* A cell handles one message at a time. A handler coroutine's first step
  is driven with ``PyIter_Send`` as the dispatcher's spare host Task (so
  asyncio sees a current task from its first statement); only one that
  really suspends is handed to that Task, and its cell stays suspended
  until the task finishes.
* A Python object enters a C++ payload with a reference taken under the GIL
  and leaves it (or is released) under the GIL.
"""

import asyncio
import concurrent.futures
import logging
import math
import os
import reprlib
import sys
import time
import weakref

from _thread import TIMEOUT_MAX as _TIMEOUT_MAX
from _thread import allocate_lock
from asyncio.events import _get_running_loop
from asyncio.tasks import _enter_task as _asyncio_enter_task
from asyncio.tasks import _leave_task as _asyncio_leave_task
from asyncio.tasks import current_task as _asyncio_current_task

cimport cython
from cpython.exc cimport PyErr_Clear
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_REFCNT
from cython.operator cimport dereference as deref
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector

from atomr._native.includes.core cimport (
    CCell, CCellState, CDeadLetterReason, CDeadLetterSink, CEnqueueResult, CEnvelope,
    CPayload, CPinnedDispatcher, anonymous_name, child_path, set_py,
    take_py, validate_actor_name, validate_system_name,
)
from atomr._native.includes.core cimport is_valid_actor_name as _is_valid_actor_name
from atomr._native.includes.core cimport CDispatcherStats
from atomr._native.includes.core cimport (
    COverflowStrategy, CRouter, CRouteResult, CRoutingLogic, clone_py_envelope,
    router_hash_bytes,
)
from atomr._native.includes.core cimport (
    CIdleMode, CIdlePolicy, CSpinResult, cpu_relax, machine_busy, monotonic_ns, raise_flag,
    spin_for_flag, thread_cpu_ns,
)
from atomr._native.includes.core cimport (
    CClockMode, CDirective, CRestartBudget, CTimerService, directive_to_string,
    parse_directive,
)
from libcpp.memory cimport shared_ptr
from libcpp.pair cimport pair
from libcpp.utility cimport move
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

from atomr import errors as _errors
from atomr._util.status import Failure as _Failure

__version__ = "0.1.0"

# Module state: plain Python globals live in this module's dict, so each
# interpreter that imports the module has its own. No cdef global holds a
# Python object, and per-system state lives on _System.
_log = logging.getLogger("atomr")


cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    PySendResult PyIter_Send(object iter, object arg, PyObject** presult) except PYGEN_ERROR
    bint PyCoro_CheckExact(object o)
    unsigned long PyThread_get_thread_ident()


cdef extern from "<time.h>" nogil:
    ctypedef struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC


cdef inline double _monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline bytes _bytes_of(const string& s):
    """A std::string's bytes as a Python bytes object."""
    return PyBytes_FromStringAndSize(s.data(), <Py_ssize_t>s.size())


cdef inline string _string_of(object b) except *:
    """Bytes-like `b` as a std::string (no text encoding involved)."""
    if type(b) is bytes:
        return string(PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b))
    if isinstance(b, (bytearray, memoryview)):
        data = bytes(b)
        return string(PyBytes_AS_STRING(data), <size_t>PyBytes_GET_SIZE(data))
    raise TypeError(f"expected bytes, not {type(b).__name__}")


# "No argument given" (None is a valid message).
_MISSING = object()


cdef inline object _take(CPayload& slot):
    """The object held by `slot`, taking over its reference (None if empty)."""
    cdef PyObject* p = take_py(slot)
    if p == NULL:
        return None
    o = <object>p
    Py_DECREF(o)
    return o


cdef inline object _steal(PyObject* p):
    o = <object>p
    Py_DECREF(o)
    return o


_short_repr = reprlib.Repr()
_short_repr.maxstring = 160
_short_repr.maxother = 160
_short_repr.maxlist = _short_repr.maxtuple = _short_repr.maxdict = _short_repr.maxset = 8


cdef str _describe(object msg):
    """A bounded description of a message for logs; never raises."""
    try:
        text = _short_repr.repr(msg)
    except BaseException as exc:
        text = f"<repr failed: {type(exc).__name__}>"
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(msg).__module__}.{type(msg).__qualname__}: {text}"


# The longest wait a lock can be asked for; a longer ask timeout (about 292
# years or more) means no limit.
cdef double _MAX_TIMEOUT = _TIMEOUT_MAX


cdef object _check_timeout(object timeout):
    """Validates an ask timeout before anything is sent; returns it as float
    (None: wait forever, also for a timeout too long to wait on a lock)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    try:
        t = float(timeout)
    except OverflowError:
        t = math.inf  # an int too large for a float
    if not t > 0.0 or math.isinf(t):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    if t >= _MAX_TIMEOUT:
        return None
    return t


include "errors.pyx"
include "interp.pyx"
include "reply.pyx"
include "dispatch.pyx"
include "host.pyx"
include "context.pyx"
include "ref.pyx"
include "supervision.pyx"
include "timers.pyx"
include "router.pyx"
include "trace.pyx"
include "cell.pyx"
include "system.pyx"
include "storage.pyx"
include "persistence.pyx"
include "ddata.pyx"
include "remote.pyx"
include "remote_fast.pyx"
include "sim_network.pyx"
include "stream_link.pyx"
include "cluster_sbr.pyx"
include "cluster.pyx"
include "cluster_daemon.pyx"
include "streams.pyx"


def is_valid_actor_name(str name):
    """True when `name` may name an actor."""
    return _is_valid_actor_name(name)


def validate_name(str name):
    """Raises InvalidActorNameError unless `name` may name an actor."""
    validate_actor_name(name)


# Every part has declared its C++ error codes: map them onto the classes of
# atomr.errors (the translator's table, in this module's state).
_add_error_classes(_errors._native_error_classes())
