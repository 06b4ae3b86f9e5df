# Declarations of errors.pyx: the one translator from C++ exceptions to
# Python ones. Included first by _core.pxd: the extern declarations in
# includes/ cimport `translate_error` from atomr._native._core as the custom
# exception handler of every C++ call (`except +translate_error`).

cdef int translate_error() except -1
