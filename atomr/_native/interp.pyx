# Interpreters: the core in own-GIL subinterpreters (Python 3.12+).
# Part of atomr._native._core (included by _core.pyx).
#
# Invariants:
# * On 3.12+ the module keeps its Python state per interpreter (Cython's
#   module state, heap types); no cdef global holds a Python object, so every
#   interpreter that imports the module has its own objects.
# * An interpreter is driven by threads of its own (as atomr's pools do: one
#   thread creates, runs and finalizes each interpreter). A callback that a
#   C++ thread of the core runs (the timer thread's dead letters) enters the
#   interpreter its owner was made in through `_run_in_interp`, with a thread
#   state of that interpreter made for the call, never through
#   `PyGILState_Ensure` alone (which attaches to the main interpreter).

cdef extern from *:
    """
    #include <stdio.h>
    #include <thread>
    #if PY_VERSION_HEX >= 0x030D0000
    #define atomr_current_tstate() PyThreadState_GetUnchecked()
    #else
    #define atomr_current_tstate() _PyThreadState_UncheckedGet()
    #endif

    /* The interpreter the calling thread runs Python in (GIL held). */
    static void* atomr_this_interp(void) {
        return (void*)PyInterpreterState_Get();
    }

    static int atomr_in_main_interp(void) {
        return PyInterpreterState_Get() == PyInterpreterState_Main();
    }

    /* Runs body(arg) holding the GIL of `interp`, from any thread:
       - a thread attached to `interp` already runs it at once;
       - a thread whose own thread state belongs to `interp` (or, for the
         main interpreter, a thread with none) attaches the usual way;
       - any other thread (a C++ thread of the core) gets a thread state of
         `interp` for the call, deleted after it.
       A thread attached to another interpreter cannot enter this one: the
       call is refused, reported on stderr (the caller never does this:
       objects do not cross interpreters). */
    static void atomr_run_in_interp(void* interp_, void (*body)(void*), void* arg) {
        PyInterpreterState* interp = (PyInterpreterState*)interp_;
        PyThreadState* cur = atomr_current_tstate();
        if (cur != NULL) {
            if (PyThreadState_GetInterpreter(cur) == interp) {
                body(arg);
            } else {
                fputs("atomr: a callback of one interpreter reached a thread "
                      "attached to another; not run\\n", stderr);
            }
            return;
        }
        PyThreadState* own = PyGILState_GetThisThreadState();
        if (own == NULL ? interp == PyInterpreterState_Main()
                        : PyThreadState_GetInterpreter(own) == interp) {
            PyGILState_STATE state = PyGILState_Ensure();
            body(arg);
            PyGILState_Release(state);
            return;
        }
        PyThreadState* ts = PyThreadState_New(interp);
        if (ts == NULL) {
            fputs("atomr: no thread state for a callback's interpreter; not run\\n", stderr);
            return;
        }
        PyEval_RestoreThread(ts);
        body(arg);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }

    /* Publishes `env` to `sink` from a new C++ thread (joined), as the
       timer thread does when a fire meets a cell that is stopping. */
    template <class Sink, class Envelope, class Reason>
    static void atomr_publish_on_thread(Sink* sink, Envelope& env, const std::string& recipient,
                                        Reason reason) {
        std::thread t([&] {
            try {
                sink->publish(env, recipient, reason);
            } catch (...) {
                fputs("atomr: publishing a dead letter failed\\n", stderr);
            }
        });
        t.join();
    }
    """
    void* _this_interp "atomr_this_interp"()
    bint _in_main_interp "atomr_in_main_interp"()
    void _run_in_interp "atomr_run_in_interp"(void* interp, void (*body)(void*) noexcept,
                                              void* arg) noexcept nogil
    void _publish_on_thread "atomr_publish_on_thread"(CDeadLetterSink* sink, CEnvelope& env,
                                                      const string& recipient,
                                                      CDeadLetterReason reason) except + nogil


def _dead_letter_from_native_thread(_System system, object msg, str recipient):
    """Publishes `msg` to `system`'s dead letters from a new C++ thread
    (joined before this returns), the way the timer thread publishes a fire
    that meets a stopping cell: the handler runs in `system`'s interpreter."""
    cdef CEnvelope env
    cdef string path = recipient.encode("utf-8")
    env.kind = K_USER
    set_py(env.message, msg)
    with nogil:
        _publish_on_thread(system.sink, env, path, CDeadLetterReason.dropped)
