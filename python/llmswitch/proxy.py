"""The gateway: an OpenAI- and Anthropic-compatible server in front of your models.

``llmswitch proxy --config config.yaml`` (or ``python -m llmswitch proxy``) runs it from the
command line; from Python::

    import llmswitch.proxy
    llmswitch.proxy.serve(config="config.yaml", port=4000)     # blocks; Ctrl-C stops it

    with llmswitch.proxy.start(config="config.yaml") as server:  # in the background
        client = openai.OpenAI(base_url=server.url, api_key=master_key)

The config is LiteLLM's proxy ``config.yaml`` (a path, or a dict of the same content). The
server runs in Rust, with the GIL released: no Python runs on the request path. See
docs/gateway.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Union

from ._llmswitch import ProxyServer, _proxy_serve, _proxy_start

__all__ = ["ProxyServer", "serve", "start"]

Config = Union[str, "os.PathLike[str]", Mapping[str, Any]]

logger = logging.getLogger("llmswitch.proxy")


def _config(config: Config) -> Any:
    if isinstance(config, Mapping):
        return dict(config)
    return os.fspath(config)


def serve(config: Config, host: str = "127.0.0.1", port: int = 4000) -> None:
    """Run the gateway until Ctrl-C or SIGTERM, then shut down gracefully and return.

    Shutdown stops accepting connections, lets in-flight requests and streams finish within
    ``general_settings.shutdown_grace_seconds`` (default 30), and flushes the spend log.

    Args:
        config: path to a LiteLLM proxy ``config.yaml``, or a dict of the same content.
        host: interface to listen on (``0.0.0.0`` for every interface).
        port: port to listen on.

    Raises:
        ValueError: the config is invalid (the message names the file, key and problem).
        OSError: the address cannot be bound.
    """
    _proxy_serve(
        _config(config),
        host,
        port,
        on_warning=logger.warning,
        on_ready=lambda url: logger.info("listening on %s", url),
    )


def start(config: Config, host: str = "127.0.0.1", port: int = 0) -> ProxyServer:
    """Start the gateway in the background and return a handle to it.

    The handle has ``.url`` (``http://127.0.0.1:<port>``) and ``.stop()`` (graceful
    shutdown); it is also a context manager that stops the server on exit.

    Args:
        config: path to a LiteLLM proxy ``config.yaml``, or a dict of the same content.
        host: interface to listen on.
        port: port to listen on (0 picks a free one).

    Raises:
        ValueError: the config is invalid.
        OSError: the address cannot be bound.
    """
    return _proxy_start(_config(config), host, port, on_warning=logger.warning)
