"""Builds atomr's single native extension: the Cython layer compiled
together with the C++ core (one copy of the runtime per process)."""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CPP = os.path.join("cpp")


def component_sources(component: str, names: list[str]) -> list[str]:
    """Paths of one C++ component's sources (the lists cpp/CMakeLists.txt builds).

    Args:
        component: The directory under ``cpp/src``.
        names: The source file stems.

    Returns:
        The relative ``.cpp`` paths.
    """
    return [os.path.join(CPP, "src", component, f"{name}.cpp") for name in names]


# Every C++ component, in dependency order: core, then the components built on
# it. All go into the one extension module below, so a process carries exactly
# one copy of the runtime. When remoting brings Asio, this becomes one
# extension per subsystem linked against a shared libatomr.so installed in the
# package (RPATH $ORIGIN), still one runtime per process.
core_sources = [
    *component_sources("core", ["cell", "dispatcher", "idle", "path", "router", "supervision",
                                "timer_service"]),
    *component_sources("storage", ["environment"]),
    *component_sources("persistence", ["completion_port", "in_memory", "journal", "lmdb",
                                       "record_format"]),
    *component_sources("ddata", ["causal_context", "counters", "lmdb_store", "maps",
                                 "registers", "replicated_data", "sets", "wire"]),
    *component_sources("remote", ["failure_detector", "frame", "inbound_queue", "sim_network",
                                  "stream_link", "tcp_transport", "transport"]),
    *component_sources("cluster", ["daemon", "gossip", "gossip_codec", "member", "protocol",
                                   "reachability", "sbr", "vector_clock"]),
    *component_sources("cluster", ["daemon_host"]),
    *component_sources("streams", ["fan_out", "framing", "interpreter", "io", "stages"]),
]

debug = os.environ.get("ATOMR_DEBUG") == "1"
extra_compile_args = ["-std=c++20", "-Wall", "-Wextra", "-Wno-unused-function",
                      "-Wno-missing-field-initializers"]
extra_compile_args += ["-O0", "-g"] if debug else ["-O2"]

# On 3.12+ the core keeps its Python state per interpreter (Cython's module
# state, with its extension types built from specs as heap types of each
# interpreter), so own-GIL subinterpreters can import it (docs/pools.md). The
# directive below only sets the module's Py_mod_multiple_interpreters slot,
# which is compiled out without module state: 3.11 builds are unchanged.
core_macros = ([("CYTHON_USE_MODULE_STATE", "1"), ("CYTHON_USE_TYPE_SPECS", "1")]
               if sys.version_info >= (3, 12) else [])

extensions = [
    Extension(
        "atomr._native._core",
        sources=["atomr/_native/_core.pyx", *core_sources],
        include_dirs=[os.path.join(CPP, "include")],
        # remote: Boost.Asio is header-only; OpenSSL for TLS.
        libraries=["lmdb", "ssl", "crypto"],
        define_macros=core_macros,
        language="c++",
        extra_compile_args=extra_compile_args,
    ),
    # Own-GIL subinterpreters and their byte channels (python-subinterpreter-pool):
    # a module of its own, multi-phase and without Python state, so that
    # every subinterpreter can import it (on 3.11 it builds without them).
    Extension(
        "atomr._native._subinterp",
        sources=["atomr/_native/subinterp.cpp"],
        language="c++",
        extra_compile_args=extra_compile_args,
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3", "subinterpreters_compatible": "own_gil"},
        include_path=["."],
    ),
)
