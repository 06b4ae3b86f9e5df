"""Builds atomr's single native extension: the Cython layer compiled
together with the C++ core (one copy of the runtime per process)."""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CPP = os.path.join("cpp")

# Every component of the C++ core (core, persistence, ddata, ...).
core_sources = sorted(glob.glob(os.path.join(CPP, "src", "*", "*.cpp")))

debug = os.environ.get("ATOMR_DEBUG") == "1"
extra_compile_args = ["-std=c++20", "-Wall", "-Wextra", "-Wno-unused-function",
                      "-Wno-missing-field-initializers"]
extra_compile_args += ["-O0", "-g"] if debug else ["-O2"]

extensions = [
    Extension(
        "atomr._native._core",
        sources=["atomr/_native/_core.pyx", *core_sources],
        include_dirs=[os.path.join(CPP, "include")],
        libraries=["lmdb"],
        language="c++",
        extra_compile_args=extra_compile_args,
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
        include_path=["."],
    ),
)
