# Extern-only declarations mirroring cpp/include/atomr/error.hpp and
# cpp/include/atomr/bridge/error.hpp: the plain values a C++ exception is
# reduced to, for a translator that maps them onto Python classes by table.
# Nothing here is Python-visible.

from libcpp.string cimport string

# The custom exception handler of every C++ call below: the Cython layer's
# one table-driven translator (atomr/_native/errors.pyx).
from atomr._native._core cimport translate_error


cdef extern from "atomr/error.hpp" namespace "atomr" nogil:
    cdef enum class CComponent "atomr::component" (int):
        core "atomr::component::core"
        storage "atomr::component::storage"
        persistence "atomr::component::persistence"
        ddata "atomr::component::ddata"
        remote "atomr::component::remote"
        cluster "atomr::component::cluster"
        streams "atomr::component::streams"


cdef extern from "atomr/bridge/error.hpp" namespace "atomr::bridge" nogil:
    const int foreign_component "atomr::bridge::foreign_component"
    const int foreign_bad_alloc "atomr::bridge::foreign_bad_alloc"
    const int foreign_std_exception "atomr::bridge::foreign_std_exception"
    const int foreign_unknown "atomr::bridge::foreign_unknown"

    cdef cppclass CErrorInfo "atomr::bridge::error_info":
        CErrorInfo()
        int component
        int code
        string message

    # Call only inside a C++ catch block (a Cython `except +handler` handler
    # is one): it re-throws the current exception to classify it.
    void current_error_info(CErrorInfo& out) noexcept

    # Throws atomr::error(component, code, what), for tests of the translation.
    void throw_error(int component, int code, const string& what) except +translate_error
