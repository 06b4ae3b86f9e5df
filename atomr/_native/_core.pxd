# Declarations of the cdef classes of _core.pyx (the one native module of
# atomr). Their implementations live in the .pxi parts the .pyx includes;
# the C++ types come from the extern-only declarations in includes/.

cimport cython
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.memory cimport shared_ptr, unique_ptr

from atomr._native.includes.core cimport (
    CCell, CDeadLetterSink, CDecider, CDirective, CEnqueueResult, CEnvelope, CPinnedDispatcher,
    CRestartBudget, CRouter, CTimerService,
)
from atomr._native.includes.ddata cimport COrMap, CReplicatedData, CTypeTag, CLmdbStore
from atomr._native.includes.persistence cimport CCompletionPort, CJournal, CSnapshotStore

cdef class _Reply:
    cdef bint done
    cdef void complete(self, object value)
    cdef void fail(self, object exc)

cdef class _FutureReply(_Reply):
    cdef object fut
    cdef object loop
    cdef unsigned long thread_id
    cdef object timer
    @staticmethod
    cdef _FutureReply new(object fut, object loop, unsigned long thread_id)
    cdef void _settle(self, bint ok, object value)
    cdef void complete(self, object value)
    cdef void fail(self, object exc)

cdef class _LockReply(_Reply):
    cdef object lock
    cdef bint ok
    cdef object value
    cdef void complete(self, object value)
    cdef void fail(self, object exc)

cdef class _ConcurrentReply(_Reply):
    cdef object cf
    cdef void complete(self, object value)
    cdef void fail(self, object exc)

cdef class _Suspended:
    cdef object coro
    cdef object first
    cdef bint started
    @staticmethod
    cdef _Suspended new(object coro, object first)

# final: no subclasses, so C methods are called directly
@cython.final
cdef class _Dispatcher:
    cdef CPinnedDispatcher* d
    cdef object loop
    cdef unsigned long thread_id
    cdef bint draining
    cdef bint soon_pending
    cdef bint reader_added
    cdef object drain_soon_cb
    cdef readonly uint64_t messages_handled
    cdef readonly uint64_t busy_ns
    @staticmethod
    cdef _Dispatcher new(object loop, uint32_t throughput)
    cdef void detach(self)
    cdef void kick(self)
    cdef void schedule_soon(self)
    cdef bint on_loop_thread(self)
    cdef void drain(self)

# final: no subclasses, so C methods are called directly
@cython.final
cdef class Context:
    cdef _Cell _cell
    cdef object _sender
    cdef bint _active
    cdef int _check(self) except -1

# final: no subclasses, so C methods are called directly
@cython.final
cdef class ActorRef:
    cdef _Cell _cell
    cdef str _path
    @staticmethod
    cdef ActorRef new(_Cell cell, str path)
    cdef object _ask_deferred(self, object msg, object t, object key)
    cdef int _post_reply(self, object msg, object reply, object key) except -1

cdef class SupervisorStrategy:
    cdef CDecider decider
    cdef str _kind
    cdef object _max_retries
    cdef object _within
    cdef list _rules
    cdef dict _decided
    @staticmethod
    cdef SupervisorStrategy _build(str kind, object decider, object default, object max_retries,
                                   object within_seconds)
    cdef CDirective decide_exc(self, object exc)
    cdef CDirective decide_class(self, object cls)
    cdef CRestartBudget* new_budget(self)

cdef class _TimerService:
    cdef CTimerService* t
    cdef readonly bint virtual
    @staticmethod
    cdef _TimerService new(bint virtual)

cdef class Cancelable:
    cdef uint64_t key
    cdef uint64_t native_id
    cdef _TimerService service
    cdef object msg
    cdef _Cell owner
    cdef _Cell target
    cdef bint periodic
    cdef bint cancelled
    cdef bint finished
    cdef int purpose
    @staticmethod
    cdef Cancelable start(_Cell owner, _Cell target, object msg, double delay, double interval,
                          bint fixed_rate, int purpose)
    cdef void _forget(self)

cdef class _TailChop:
    cdef list order
    cdef object msg
    cdef _Reply reply
    cdef double interval
    cdef Py_ssize_t next
    cdef _Cell head
    cdef void _arm(self)

cdef class _WithinExpiry:
    cdef _Reply reply
    cdef str path
    cdef double within

cdef class _TaskDone:
    cdef _Cell cell
    cdef int role
    cdef object reply

# final: no subclasses, so C methods are called directly
@cython.final
cdef class _Cell:
    cdef CCell* c
    cdef readonly _System system
    cdef _Dispatcher disp
    cdef _Cell parent
    cdef dict children
    cdef readonly str name
    cdef readonly str path
    cdef readonly uint64_t uid
    cdef object props
    cdef object actor
    cdef object behavior
    cdef list behaviors
    cdef Context ctx
    cdef ActorRef ref
    cdef int status
    cdef unsigned long long anonymous_count
    cdef object in_flight
    cdef uint32_t throughput
    cdef double turn_budget
    cdef object cur_msg
    cdef object cur_reply
    cdef bint cur_stashed
    cdef bint cur_forwarded
    cdef list stash_buf
    cdef set watching
    cdef set watchers
    cdef CRestartBudget* budget
    cdef object fail_reason
    cdef object fail_msg
    cdef bint restart_is_init
    cdef dict timers
    cdef Cancelable rt_timer
    cdef double rt_seconds
    cdef double last_activity
    cdef CRouter* router
    cdef object router_cfg
    cdef list routees
    cdef bint mailbox_fails
    cdef int router_kind
    cdef double router_within
    cdef bint task_mode
    @staticmethod
    cdef _Cell new(_System system, _Cell parent, str name, str path, object props)
    cdef int _post(self, object msg, object sender, object reply) except -1
    cdef int _post_own(self, object msg, object sender, object reply) except -1
    cdef int _not_queued(self, CEnqueueResult r, CEnvelope& env) except -1
    cdef int _route(self, object msg, object sender, object reply, object key) except -1
    cdef int _post_system(self, uint32_t kind, object arg) except -1
    cdef void _request_stop(self)
    cdef void _request_stop_any_thread(self)
    cdef int _run_turn(self) except -1
    cdef Context _fresh_ctx(self)
    cdef int _deliver(self, object msg, object sender, object reply) except -1
    cdef void _handled(self, bint ok, object value, object msg, object reply)
    cdef void _drop_stashed_reply(self, object reply)
    cdef void _undeliverable(self, object msg, object sender, object reply)
    cdef int _call_hook(self, int role, object hook, tuple args) except -1
    cdef int _in_task(self, int role, object coro, object reply, object msg) except -1
    cdef void _suspend(self, int role, object coro, object first, object reply)
    cdef void _resumed(self, int role, bint ok, object value, object reply)
    cdef void _completed(self, int role, bint ok, object value)
    cdef void _crashed(self, object exc)
    cdef int _system_message(self, uint32_t kind, object arg) except -1
    cdef int _create(self) except -1
    cdef bint _instantiate(self) except -1
    cdef int _terminate(self) except -1
    cdef int _stop_children_then(self, int next_status) except -1
    cdef int _child_terminated(self) except -1
    cdef int _post_stop(self) except -1
    cdef void _finalize(self)
    cdef void _fail(self, object exc, object msg, bint init)
    cdef void _child_failed(self, object arg)
    cdef int _restart(self) except -1
    cdef int _finish_restart(self) except -1
    cdef _Cell _spawn_child(self, object props, object name)
    cdef void _watch(self, _Cell target)
    cdef void _unwatch(self, _Cell target)
    cdef void _add_watcher(self, _Cell watcher)
    cdef int _death_notice(self, _Cell dead) except -1
    cdef void _stash(self, object msg)
    cdef void _forward(self, _Cell target, object msg)
    cdef void _unstash_all(self)
    cdef void _become(self, object handler, bint discard_old)
    cdef void _unbecome(self)
    cdef Cancelable _schedule(self, object target, object msg, double delay, double interval,
                              bint fixed_rate)
    cdef int _timer_fired(self, uint64_t key) except -1
    cdef void _cancel_timers(self)
    cdef void _set_receive_timeout(self, object seconds)
    cdef int _receive_timeout_fired(self, Cancelable t) except -1

# final: no subclasses, so C methods are called directly
@cython.final
cdef class _System:
    cpdef double clock(self)
    cdef readonly str name
    cdef readonly str address
    cdef _Dispatcher disp
    cdef CDeadLetterSink* sink
    cdef _Cell guardian
    cdef readonly bint terminating
    cdef readonly bint terminated
    cdef readonly object termination
    cdef object owner_ref
    cdef object props_class
    cdef public object on_terminated
    cdef public list dead_letter_listeners
    cdef readonly Py_ssize_t live_cells
    cdef int dead_letters_logged
    cdef public object terminated_class
    cdef public object receive_timeout_msg
    cdef public object events
    cdef public bint events_active
    cdef _TimerService virtual_timers
    cdef readonly uint64_t failures
    cdef object __weakref__
    cdef int dead_letters_to_log
    cdef SupervisorStrategy default_strategy
    cdef _TimerService timer_service(self)
    cdef void publish_lifecycle(self, str kind, _Cell cell, object reason)
    cdef void publish_failure(self, _Cell cell, object exc, str directive)
    cdef void _guardian_stopped(self)
    cdef void _dead_letter(self, uint32_t kind, object msg, object sender, object reply,
                           str recipient, int reason)

cdef class _CompletionPort:
    cdef shared_ptr[CCompletionPort] port

cdef class _NativeJournal:
    cdef shared_ptr[CJournal] j
    cdef readonly str kind
    cdef readonly bint blocking
    @staticmethod
    cdef _NativeJournal new(shared_ptr[CJournal] j, str kind)

cdef class _NativeSnapshotStore:
    cdef shared_ptr[CSnapshotStore] s
    cdef readonly str kind
    cdef readonly bint blocking
    @staticmethod
    cdef _NativeSnapshotStore new(shared_ptr[CSnapshotStore] s, str kind)

cdef class NativeData:
    cdef unique_ptr[CReplicatedData] p
    cdef CTypeTag t
    @staticmethod
    cdef NativeData _wrap(unique_ptr[CReplicatedData]& q)
    cdef int _need(self, CTypeTag t) except -1
    cdef COrMap* _map(self) except NULL

cdef class NativeLmdbStore:
    cdef CLmdbStore* s
