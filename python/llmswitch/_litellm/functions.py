"""LiteLLM's module-level helper functions that have no llmswitch twin."""

from __future__ import annotations

import logging
import os
from typing import Any

_TRUE = ("true", "1", "yes", "on")


def get_secret(secret_name: str, default_value: Any = None) -> Any:
    """LiteLLM's ``get_secret``: the environment variable ``secret_name`` (an
    ``os.environ/NAME`` reference is read as ``NAME``), or ``default_value``."""
    if secret_name.startswith("os.environ/"):
        secret_name = secret_name[len("os.environ/") :]
    value = os.environ.get(secret_name)
    if value is None:
        return default_value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def get_secret_bool(secret_name: str, default_value: bool | None = None) -> bool | None:
    """LiteLLM's ``get_secret_bool``: the environment variable as a bool."""
    if secret_name.startswith("os.environ/"):
        secret_name = secret_name[len("os.environ/") :]
    value = os.environ.get(secret_name)
    if value is None:
        return default_value
    return value.strip().lower() in _TRUE


def _turn_on_debug() -> None:
    """LiteLLM's ``_turn_on_debug``: debug logging for llmswitch's logger."""
    import llmswitch

    logger = logging.getLogger("llmswitch")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())
    setattr(llmswitch, "set_verbose", True)  # noqa: B010
