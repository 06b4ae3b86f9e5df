# Supervision: strategies compiled into the native decider table.
# Part of atomr._native._core (included by _core.pyx; declared in supervision.pxd).


# The largest restart budget the native counter holds.
cdef long long _MAX_RESTART_BUDGET = 2**31 - 1


cdef list _class_paths(object cls):
    """The class paths along a class's MRO, most derived first."""
    return [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]


cdef CDirective _parse_directive(object value) except *:
    if not isinstance(value, str):
        raise ValueError(f"directive must be one of resume, restart, stop, escalate; got {value!r}")
    return parse_directive(<string>value)


cdef str _rule_key(object key):
    if isinstance(key, type):
        return f"{key.__module__}.{key.__qualname__}"
    if isinstance(key, str):
        if not key:
            raise ValueError("decider class path must not be empty")
        return key
    raise TypeError(f"decider keys must be exception classes or class-path strings, "
                    f"not {type(key).__name__}")


cdef class SupervisorStrategy:
    """How a supervisor treats a failed child: a native decider table that
    maps exception class paths (matched along the exception's MRO) to a
    directive, plus a restart budget.

    Build one with the static constructors; attach it with
    ``Props.with_supervisor_strategy``. Immutable once built.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("use SupervisorStrategy.one_for_one(...), .all_for_one(...), "
                        ".stopping() or .escalating()")

    @staticmethod
    cdef SupervisorStrategy _build(str kind, object decider, object default, object max_retries,
                                   object within_seconds):
        cdef SupervisorStrategy s = SupervisorStrategy.__new__(SupervisorStrategy)
        cdef CDirective dflt = _parse_directive("restart" if default is None else default)
        rules = []
        if decider is not None:
            items = decider.items() if hasattr(decider, "items") else decider
            for item in items:
                try:
                    key, directive = item
                except (TypeError, ValueError):
                    raise TypeError("decider entries must be (class path, directive) pairs") from None
                rules.append((_rule_key(key), directive))
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int):
                raise TypeError("max_retries must be an int or None")
            if not 0 <= max_retries <= _MAX_RESTART_BUDGET:
                raise ValueError(f"max_retries must be between 0 and {_MAX_RESTART_BUDGET} "
                                 f"(None: unlimited), got {max_retries!r}")
        if within_seconds is not None:
            if isinstance(within_seconds, bool) or not isinstance(within_seconds, (int, float)):
                raise TypeError("within_seconds must be a number of seconds or None")
            if not within_seconds > 0:
                raise ValueError(f"within_seconds must be positive, got {within_seconds!r}")
            within_seconds = float(within_seconds)
        for path, directive in rules:
            s.decider.add(<string>path, _parse_directive(directive))
        s.decider.set_default(dflt)
        s._kind = kind
        s._decided = {}
        s._max_retries = max_retries
        s._within = within_seconds
        s._rules = rules
        return s

    @staticmethod
    def one_for_one(decider=None, default=None, max_retries=None, within_seconds=None):
        """A failure affects only the failed child.

        Args:
            decider: ``(class path or exception class, directive)`` pairs, or
                a mapping of them. Directives: ``"resume"``, ``"restart"``,
                ``"stop"``, ``"escalate"``.
            default: the directive when no rule matches (``"restart"``).
            max_retries: restarts allowed within `within_seconds` before the
                child is stopped (omitted: 10 within 60 s); 0 to
                ``2**31 - 1``, or None for no limit.
            within_seconds: the sliding window of the budget (positive).

        Raises:
            ValueError: an unknown directive, or a budget out of range.
            TypeError: a key that is neither a class nor a str.
        """
        if max_retries is None and within_seconds is None:
            max_retries, within_seconds = 10, 60.0
        return SupervisorStrategy._build("one_for_one", decider, default, max_retries,
                                         within_seconds)

    @staticmethod
    def all_for_one(decider=None, default=None, max_retries=None, within_seconds=None):
        """A failure's directive is applied to every child of the supervisor."""
        return SupervisorStrategy._build("all_for_one", decider, default, max_retries,
                                         within_seconds)

    @staticmethod
    def stopping():
        """Always stop the failed child."""
        return SupervisorStrategy._build("one_for_one", None, "stop", None, None)

    @staticmethod
    def escalating():
        """Always escalate the failure to the supervisor's own supervisor."""
        return SupervisorStrategy._build("one_for_one", None, "escalate", None, None)

    @property
    def kind(self):
        """``"one_for_one"`` or ``"all_for_one"``."""
        return self._kind

    @property
    def max_retries(self):
        """Restarts allowed per `within_seconds` window (None: unlimited)."""
        return self._max_retries

    @property
    def within_seconds(self):
        """The sliding window of the restart budget in seconds (None: no window)."""
        return self._within

    @property
    def default(self):
        """The directive used when no rule matches."""
        return directive_to_string(self.decider.default_directive())

    @property
    def rules(self):
        """The decider table as ``(class path, directive)`` pairs."""
        return list(self._rules)

    def decide(self, class_path):
        """The directive for an exception class path (or ``"path: message"``),
        or for an exception instance or class (matched along its MRO)."""
        if isinstance(class_path, BaseException):
            return directive_to_string(self.decide_exc(class_path))
        if isinstance(class_path, type):
            return directive_to_string(self.decide_class(class_path))
        if not isinstance(class_path, str):
            raise TypeError(f"decide expects a class path, not {type(class_path).__name__}")
        return directive_to_string(self.decider.decide(<string>class_path))

    cdef CDirective decide_exc(self, object exc):
        return self.decide_class(type(exc))

    cdef CDirective decide_class(self, object cls):
        """The native table's answer for `cls`, memoised per class (the
        table is immutable, so the answer for a class never changes)."""
        cdef vector[string] mro
        cdef CDirective d
        cached = self._decided.get(cls)
        if cached is not None:
            return <CDirective><int>cached
        mro = _class_paths(cls)
        d = self.decider.decide(mro)
        if len(self._decided) < 1024:
            self._decided[cls] = <int>d
        return d

    cdef CRestartBudget* new_budget(self):
        max_retries = -1 if self._max_retries is None else self._max_retries
        within = 0.0 if self._within is None else self._within
        return new CRestartBudget(max_retries, within)

    def __repr__(self):
        within = self._within
        return (f"<SupervisorStrategy kind={self._kind} max_retries={self._max_retries} "
                f"within={within}>")
