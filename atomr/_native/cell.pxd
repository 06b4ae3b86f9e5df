# Declarations of cell.pyx: the Python half of an actor.
# Included by _core.pxd (one extension module, atomr._native._core).

# What a driven call was for.
cdef enum:
    R_HANDLER = 0
    R_PRE_START = 1
    R_POST_STOP = 2
    R_PRE_RESTART = 3
    R_POST_RESTART = 4
    R_RESTART_POST_STOP = 5   # post_stop run as the default pre_restart

# Life of a Python cell.
cdef enum:
    S_NEW = 0
    S_STARTING = 1
    S_RUNNING = 2
    S_FAILED = 3
    S_RESTARTING = 4
    S_TERMINATING = 5
    S_POST_STOP = 6
    S_STOPPED = 7


cdef class _TaskDone:
    cdef _Cell cell
    cdef int role
    cdef object reply


# final: no subclasses, so C methods are called directly
@cython.final
cdef class _Cell:
    cdef CCell* c
    cdef readonly _System system
    cdef _PoolStats pool            # this cell's interpreter pool (its props' label)
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
    cdef bint stop_cancelled      # in_flight was cancelled to stop the actor
    cdef uint32_t throughput
    cdef double turn_budget
    cdef object cur_msg
    cdef object cur_reply
    cdef bint cur_stashed
    cdef bint cur_forwarded
    cdef DeferredReply cur_handle   # ctx.reply_to took the current ask's reply
    cdef list stash_buf
    cdef set watching
    cdef set watchers
    cdef CRestartBudget* budget
    # The strategy that judges this cell's failures, found at its first failure
    # (Props never change, so it stays): None until then.
    cdef SupervisorStrategy judge
    cdef bint judge_is_default
    cdef object fail_reason
    cdef object fail_msg
    cdef bint restart_is_init
    cdef object not_started         # why a start that handled its own error stops the actor
    cdef dict timers
    cdef dict keyed_timers          # ctx.timers: key -> Cancelable
    cdef TimerScheduler timer_scheduler
    cdef object log_adapter         # ctx.log, made on first use
    cdef Cancelable rt_timer
    cdef double rt_seconds
    cdef double last_activity
    cdef _RouterState router      # None unless this cell is a router's head
    cdef bint mailbox_fails
    cdef bint task_mode
    @staticmethod
    cdef _Cell new(_System system, _Cell parent, str name, str path, object props)
    cdef int _post(self, object msg, object sender, object reply) except -1
    cdef int _post_own(self, object msg, object sender, object reply) except -1
    cdef int _not_queued(self, CEnqueueResult r, CEnvelope& env) except -1
    cdef int _route(self, object msg, object sender, object reply, object key) except -1
    cdef int _unkeyed(self, object msg, object sender) except -1
    cdef int _post_system(self, uint32_t kind, object arg) except -1
    cdef void _request_stop(self)
    cdef void _request_stop_any_thread(self)
    cdef void _cancel_in_flight(self, str why)
    cdef void _stopped_in_flight(self, int role, object reply)
    cdef int _run_turn(self) except -1
    cdef Context _fresh_ctx(self)
    cdef int _deliver(self, object msg, object sender, object reply) except -1
    cdef void _handled(self, bint ok, object value, object msg, object reply)
    cdef void _drop_stashed_reply(self, object reply)
    cdef void _undeliverable(self, object msg, object sender, object reply)
    cdef int _call_hook(self, int role, object hook, tuple args) except -1
    cdef int _in_task(self, int role, object coro, object reply, object msg) except -1
    cdef void _suspend(self, int role, _Host host, object coro, object first, object reply)
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
    cdef void _supervise(self, _Cell child, object arg)
    cdef int _restart(self) except -1
    cdef int _finish_restart(self) except -1
    cdef _Cell _spawn_child(self, object props, object name)
    cdef void _watch(self, _Cell target)
    cdef void _unwatch(self, _Cell target)
    cdef void _add_watcher(self, _Cell watcher)
    cdef int _death_notice(self, _Cell dead) except -1
    cdef void _stash(self, object msg)
    cdef void _forward(self, _Cell target, object msg)
    cdef DeferredReply _reply_handle(self)
    cdef void _unstash_all(self)
    cdef void _become(self, object handler, bint discard_old)
    cdef void _unbecome(self)
    cdef Cancelable _schedule(self, object target, object msg, double delay, double interval,
                              bint fixed_rate)
    cdef int _timer_fired(self, uint64_t key) except -1
    cdef void _cancel_timers(self)
    cdef void _set_receive_timeout(self, object seconds)
    cdef int _receive_timeout_fired(self, Cancelable t) except -1
