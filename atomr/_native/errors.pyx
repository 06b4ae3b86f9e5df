# Errors: the one translator from C++ exceptions to the classes of
# atomr/errors.py. Every C++ call is declared `except +translate_error`; the
# handler reduces the exception being handled to (component, code, message)
# with the bridge's current_error_info and raises the class that the table
# maps the pair onto.
# Part of atomr._native._core (included by _core.pyx; declared in errors.pxd).
#
# The table is module state (a plain module global, one per interpreter that
# imports the module); no C++ static holds a Python class. Each component's
# part declares the names and values of its `errc` enum
# (_declare_native_codes); each exception class names the codes it stands
# for (`native_codes` in atomr/errors.py). A new component thus adds its
# codes and classes without editing the core's.

from atomr._native.includes.bridge cimport (
    CComponent, CErrorInfo, current_error_info, foreign_bad_alloc, foreign_component,
    foreign_std_exception, foreign_unknown, throw_error,
)
from atomr._native.includes.core cimport CCoreErrc
from cpython.unicode cimport PyUnicode_DecodeUTF8

# (component name, code name) -> (component number, code number), for every
# code a C++ component defines.
_NATIVE_CODES = {}

# (component number, code number) -> the exception class raised for it.
# Foreign (non-atomr) C++ exceptions have built-in entries.
_ERROR_TABLE = {
    (foreign_component, foreign_bad_alloc): MemoryError,
    (foreign_component, foreign_std_exception): RuntimeError,
    (foreign_component, foreign_unknown): RuntimeError,
}


cdef int translate_error() except -1:
    """The custom exception handler of every C++ call: runs inside the C++
    catch block and raises the exception the table maps the error onto (an
    atomr error whose code no class claims is an AtomrError)."""
    cdef CErrorInfo info
    current_error_info(info)
    message = PyUnicode_DecodeUTF8(info.message.data(), <Py_ssize_t>info.message.size(),
                                   "replace")
    cls = _ERROR_TABLE.get((info.component, info.code))
    if cls is None:
        cls = RuntimeError if info.component == foreign_component else _errors.AtomrError
    raise cls(message)


def _declare_native_codes(str component, int number, dict codes):
    """Declares the error codes of the C++ component `component` (its
    ``atomr::component`` `number`): `codes` maps each member name of its
    ``errc`` enum to the member's value. Each component's part calls this
    once, at import."""
    for name, code in codes.items():
        _NATIVE_CODES[(component, name)] = (number, code)


def _add_error_classes(dict classes):
    """Maps native error codes, named ``(component, code name)``, onto
    exception classes (``errors._native_error_classes()``).

    Raises:
        LookupError: no C++ component defines a named code.
        TypeError: a value is not an exception class.
    """
    for key, cls in classes.items():
        pair = _NATIVE_CODES.get(key)
        if pair is None:
            raise LookupError(f"no C++ component defines the error code {key!r}")
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"error code {key!r} must map onto an exception class, not {cls!r}")
        _ERROR_TABLE[pair] = cls


def _native_error_codes():
    """Every error code the C++ components define, as
    ``{(component, code name): (component number, code number)}``."""
    return dict(_NATIVE_CODES)


def _raise_native_error(int component, int code, str message):
    """Throws the C++ ``atomr::error`` (component, code, message) and lets
    the translator turn it into a Python exception (for tests)."""
    throw_error(component, code, message)


_declare_native_codes("core", <int>CComponent.core, {
    "generic": <int>CCoreErrc.generic,
    "invalid_actor_name": <int>CCoreErrc.invalid_actor_name,
    "actor_name_taken": <int>CCoreErrc.actor_name_taken,
    "system_terminated": <int>CCoreErrc.system_terminated,
    "invalid_argument": <int>CCoreErrc.invalid_argument,
})
