"""atomr's compiled core (one extension module holding the C++ runtime)."""

from atomr._native._core import (
    __version__,
    interpreter_metrics,
    is_valid_actor_name,
    validate_name,
)

__all__ = ["__version__", "interpreter_metrics", "is_valid_actor_name", "validate_name"]
