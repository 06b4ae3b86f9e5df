"""The host command: ``python -m atomr run package.module:factory``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Any, Optional, Sequence

from atomr.actor import ActorSystem
from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN

__all__ = ["EXIT_OK", "EXIT_START_FAILED", "EXIT_USAGE", "EXIT_SHUTDOWN_INCOMPLETE",
           "load_target", "run_host", "main"]

_log = logging.getLogger("atomr.hosting")

#: The system stopped cleanly: on SIGTERM/SIGINT every shutdown task
#: finished in time, or the application terminated the system itself.
EXIT_OK = 0
#: The application did not start: the factory, the build or a start
#: callback raised.
EXIT_START_FAILED = 1
#: A bad command line or target (no such module or attribute, a factory
#: returning something other than a system or builder).
EXIT_USAGE = 2
#: Stopped, but a shutdown task failed or timed out, or the shutdown did
#: not finish within ``--shutdown-timeout``.
EXIT_SHUTDOWN_INCOMPLETE = 3
# A second SIGTERM/SIGINT during the shutdown exits at once with 128 + the
# signal's number, as a shell reports a process killed by it.


class _UsageError(Exception):
    pass


def load_target(target: str) -> Any:
    """The object ``module:attribute`` names (the attribute may be dotted).

    Raises:
        ValueError: `target` is not of that form.
        ImportError: the module does not import.
        AttributeError: it has no such attribute.
    """
    if not isinstance(target, str):
        raise TypeError(f"target must be a str, not {type(target).__name__}")
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"target {target!r} must be of the form package.module:factory")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{module_name} has no attribute {attribute!r}") from None
    return obj


def _start(target: str) -> ActorSystem:
    from atomr.hosting import ActorSystemBuilder

    try:
        obj = load_target(target)
    except (ValueError, ImportError, AttributeError) as exc:
        raise _UsageError(str(exc)) from exc
    if isinstance(obj, (ActorSystem, ActorSystemBuilder)):
        made: Any = obj
    elif callable(obj):
        made = obj()
    else:
        raise _UsageError(f"{target} is a {type(obj).__name__}, not a factory, builder or "
                          "actor system")
    if isinstance(made, ActorSystemBuilder):
        made = made.build()
    if not isinstance(made, ActorSystem):
        if hasattr(made, "close") and hasattr(made, "send"):  # a coroutine
            made.close()
        raise _UsageError(f"{target} returned a {type(made).__name__}; a factory must return "
                          "an ActorSystem or an ActorSystemBuilder (synchronously)")
    return made


def run_host(target: str, shutdown_timeout: float = 60.0) -> int:
    """Runs the system `target` names until SIGTERM or SIGINT, then shuts
    it down through its coordinated shutdown; returns the exit code.

    `target` is ``module:attribute``: an :class:`~atomr.actor.ActorSystem`,
    an :class:`~atomr.hosting.ActorSystemBuilder`, or a callable taking no
    arguments that returns either. Must be called on the main thread (it
    installs the signal handlers, and restores the previous ones before
    returning). A second signal during the shutdown exits the process at
    once with ``128 + signal``.

    Returns:
        :data:`EXIT_OK`, :data:`EXIT_START_FAILED`, :data:`EXIT_USAGE` or
        :data:`EXIT_SHUTDOWN_INCOMPLETE`.
    """
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        received.append(signum)
        if len(received) > 1:
            # A second signal: the operator does not want to wait.
            os.write(2, f"atomr run: {signal.Signals(signum).name} again; exiting "
                        "without finishing the shutdown\n".encode())
            os._exit(128 + signum)
        stop.set()

    # Installed before the application starts: a signal during its start
    # (it may already print that it is ready) stops it once it is up.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            system = _start(target)
        except _UsageError as exc:
            print(f"atomr run: {exc}", file=sys.stderr, flush=True)
            return EXIT_USAGE
        except BaseException:
            print(f"atomr run: {target} failed to start:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            return EXIT_START_FAILED
        system.register_on_termination(stop.set)
        _log.info("actor system %s running (pid %d); SIGTERM or SIGINT stops it",
                  system.name, os.getpid())
        while not stop.wait(0.5):
            pass
        if not received:
            _log.info("actor system %s terminated", system.name)
            return EXIT_OK
        reason = signal.Signals(received[0]).name
        _log.info("%s: shutting down actor system %s", reason, system.name)
        try:
            shutdown = COORDINATED_SHUTDOWN.get(system)
        except Exception:  # terminated meanwhile
            return EXIT_OK
        try:
            ok = shutdown.run_blocking(reason, timeout=shutdown_timeout)
        except TimeoutError:
            _log.error("the shutdown did not finish within %ss (phase %s)", shutdown_timeout,
                       shutdown.current_phase)
            return EXIT_SHUTDOWN_INCOMPLETE
        if not ok:
            _log.error("shutdown tasks failed: %s", "; ".join(shutdown.failures))
            return EXIT_SHUTDOWN_INCOMPLETE
        _log.info("actor system %s stopped", system.name)
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m atomr``: the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m atomr",
                                     description="Runs atomr applications.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run an actor system until SIGTERM or SIGINT",
        description="Runs the actor system TARGET builds until SIGTERM or SIGINT, then stops "
                    "it through its coordinated shutdown. Exit codes: 0 stopped cleanly, "
                    "1 failed to start, 2 bad usage or target, 3 a shutdown task failed or "
                    "timed out; a second signal exits at once with 128 + its number.")
    run.add_argument("target", help="package.module:factory (a callable returning an "
                                    "ActorSystem or ActorSystemBuilder, or either itself)")
    run.add_argument("--shutdown-timeout", type=float, default=60.0, metavar="SECONDS",
                     help="give up waiting for the shutdown after SECONDS (default 60)")
    run.add_argument("--log-level", default="INFO",
                     choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                     help="logging level of the host's messages (default INFO)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.shutdown_timeout <= 0:
        print("atomr run: --shutdown-timeout must be positive", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the target may live here
    return run_host(args.target, args.shutdown_timeout)
