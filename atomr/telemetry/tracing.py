"""OpenTelemetry spans for actor messages (optional: needs opentelemetry-api).

:func:`enable_tracing` turns tracing on for one actor system:

* every message an actor handles gets a ``receive`` span (kind CONSUMER),
  a child of the context that was current where the message was sent (the
  sender's handler span, an ask span, or whatever span the sending code
  had), so that one trace follows a message from actor to actor;
* every ``ask`` / ``ask_blocking`` gets an ``ask`` span (kind CLIENT) from
  the send to the answer, the parent of the receive span it causes;
* over remoting (:mod:`atomr.remote`) the sending context travels with the
  message as a W3C ``traceparent`` (only while the sending system traces),
  so the receiving system's span, when it traces too, joins the sender's
  trace.

Spans carry ``atomr.system``, ``atomr.actor.path`` and
``atomr.message.type``. A receive span covers the handler until it
returns or first suspends in an ``await``; a handler that raises marks
nothing (its failure goes to supervision, or to the asker's span).

With tracing off -- the default, and again after :func:`disable_tracing`
-- the mail path pays one pointer comparison per tell and one type check
per handled message: nothing of OpenTelemetry is called.

Example:
    >>> # from opentelemetry.sdk.trace import TracerProvider
    >>> # enable_tracing(system, TracerProvider())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["enable_tracing", "disable_tracing", "is_tracing", "TRACEPARENT_SEPARATOR"]

#: Separates a remote message's manifest from the ``traceparent`` appended
#: to it while the sending system traces (not a character of manifests).
TRACEPARENT_SEPARATOR = "\x1f"

_SCOPE = "atomr"


def _otel() -> Any:
    try:
        from opentelemetry import context, propagate, trace
    except ImportError as exc:
        raise ImportError("tracing needs opentelemetry-api: pip install opentelemetry-api") \
            from exc
    return context, propagate, trace


class _Tracer:
    """The hooks the runtime calls while a system traces (its
    ``_core.tracer``)."""

    def __init__(self, system_name: str, provider: Any) -> None:
        context, propagate, trace = _otel()
        self._context = context
        self._propagate = propagate
        self._trace = trace
        self._system = system_name
        self._tracer = (trace.get_tracer(_SCOPE) if provider is None
                        else provider.get_tracer(_SCOPE))
        self._consumer = trace.SpanKind.CONSUMER
        self._client = trace.SpanKind.CLIENT
        self._error = trace.StatusCode.ERROR

    # -- local mail ------------------------------------------------------------------

    def capture(self) -> Any:
        """The context a tell carries: the sender's current one."""
        return self._context.get_current()

    def receive_started(self, parent: Any, path: str, msg: Any, is_ask: bool) -> Any:
        span = self._tracer.start_span(
            f"receive {type(msg).__name__}", context=parent, kind=self._consumer,
            attributes={"atomr.system": self._system, "atomr.actor.path": path,
                        "atomr.message.type": type(msg).__qualname__,
                        "atomr.message.ask": is_ask})
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        return span, token

    def receive_ended(self, scope: Any) -> None:
        span, token = scope
        self._context.detach(token)
        span.end()

    # -- asks --------------------------------------------------------------------------

    def ask_started(self, path: str, msg: Any) -> Any:
        span = self._tracer.start_span(
            f"ask {type(msg).__name__}", kind=self._client,
            attributes={"atomr.system": self._system, "atomr.actor.path": path,
                        "atomr.message.type": type(msg).__qualname__})
        token = self._context.attach(self._trace.set_span_in_context(span))
        return [span, token]

    def ask_posted(self, scope: Any) -> None:
        token = scope[1]
        if token is not None:
            scope[1] = None
            self._context.detach(token)

    def ask_ended(self, scope: Any, error: Optional[BaseException]) -> None:
        span = scope[0]
        if error is not None:
            span.record_exception(error)
            span.set_status(self._error, f"{type(error).__name__}: {error}")
        span.end()

    def ask_future_done(self, scope: Any) -> Callable[[Any], None]:
        def done(fut: Any) -> None:
            error = None
            if fut.cancelled():
                error = _Cancelled("the ask was cancelled")
            else:
                error = fut.exception()
            self.ask_ended(scope, error)
        return done

    # -- remoting ----------------------------------------------------------------------

    def inject(self) -> Optional[str]:
        """The ``traceparent`` of the current context, or None."""
        carrier: dict[str, str] = {}
        self._propagate.inject(carrier)
        return carrier.get("traceparent")

    def extract(self, traceparent: str) -> Any:
        """Makes the context of a received ``traceparent`` current;
        returns the token for :meth:`restore`."""
        ctx = self._propagate.extract({"traceparent": traceparent})
        return self._context.attach(ctx)

    def restore(self, token: Any) -> None:
        self._context.detach(token)


class _Cancelled(Exception):
    pass


def enable_tracing(system: "ActorSystem", tracer_provider: Any = None) -> None:
    """Traces the messages of `system` with OpenTelemetry.

    Args:
        system: The actor system.
        tracer_provider: The provider of the tracer (an SDK
            ``TracerProvider``); None takes OpenTelemetry's global one.

    Raises:
        TypeError: `system` is not an ActorSystem.
        ImportError: opentelemetry-api is not installed.
    """
    from atomr.actor import ActorSystem

    if not isinstance(system, ActorSystem):
        raise TypeError(f"expected an ActorSystem, not {type(system).__name__}")
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer",
                                                            None)):
        raise TypeError("tracer_provider must be an OpenTelemetry TracerProvider, not "
                        f"{type(tracer_provider).__name__}")
    system._core.tracer = _Tracer(system.name, tracer_provider)


def disable_tracing(system: "ActorSystem") -> None:
    """Stops tracing `system` (messages in flight are handled untraced)."""
    from atomr.actor import ActorSystem

    if not isinstance(system, ActorSystem):
        raise TypeError(f"expected an ActorSystem, not {type(system).__name__}")
    system._core.tracer = None


def is_tracing(system: "ActorSystem") -> bool:
    """Whether :func:`enable_tracing` is in force for `system`."""
    return getattr(system._core, "tracer", None) is not None
