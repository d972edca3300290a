"""``litellm._logging``: LiteLLM's loggers, here llmswitch's logger under LiteLLM's names."""

import logging

from .functions import _turn_on_debug

verbose_logger = logging.getLogger("llmswitch")
verbose_router_logger = verbose_logger
verbose_proxy_logger = verbose_logger


def print_verbose(print_statement: object) -> None:
    """LiteLLM's debug print: a debug log record."""
    verbose_logger.debug("%s", print_statement)


__all__ = [
    "_turn_on_debug",
    "print_verbose",
    "verbose_logger",
    "verbose_proxy_logger",
    "verbose_router_logger",
]
