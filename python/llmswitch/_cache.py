"""LiteLLM's caching helpers (``litellm.caching.caching``): the cache type and mode enums and
``enable_cache`` / ``update_cache`` / ``disable_cache``. The cache itself is
``llmswitch.Cache`` (in the Rust core); see docs/caching.md."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ._llmswitch import Cache


class LiteLLMCacheType(str, Enum):
    """Cache types, by LiteLLM's names (llmswitch provides local, redis and disk)."""

    LOCAL = "local"
    REDIS = "redis"
    REDIS_SEMANTIC = "redis-semantic"
    VALKEY_SEMANTIC = "valkey-semantic"
    S3 = "s3"
    DISK = "disk"
    QDRANT_SEMANTIC = "qdrant-semantic"
    AZURE_BLOB = "azure-blob"
    GCS = "gcs"


class CacheMode(str, Enum):
    """``default_on``: every call uses the cache unless it opts out; ``default_off``: only
    calls with ``cache={"use-cache": True}``."""

    default_on = "default_on"
    default_off = "default_off"


def enable_cache(
    type: str | LiteLLMCacheType | None = "local",
    host: str | None = None,
    port: str | int | None = None,
    password: str | None = None,
    supported_call_types: list[str] | None = None,
    **kwargs: Any,
) -> None:
    """Set ``llmswitch.cache`` to a new :class:`Cache` unless one is set (LiteLLM's
    ``enable_cache``)."""
    import llmswitch

    if llmswitch.cache is None:
        llmswitch.cache = Cache(
            type=type,
            host=host,
            port=port,
            password=password,
            supported_call_types=supported_call_types,
            **kwargs,
        )


def update_cache(
    type: str | LiteLLMCacheType | None = "local",
    host: str | None = None,
    port: str | int | None = None,
    password: str | None = None,
    supported_call_types: list[str] | None = None,
    **kwargs: Any,
) -> None:
    """Replace ``llmswitch.cache`` with a new :class:`Cache` (LiteLLM's ``update_cache``)."""
    import llmswitch

    llmswitch.cache = Cache(
        type=type,
        host=host,
        port=port,
        password=password,
        supported_call_types=supported_call_types,
        **kwargs,
    )


def disable_cache() -> None:
    """Stop caching: ``llmswitch.cache = None`` (LiteLLM's ``disable_cache``)."""
    import llmswitch

    llmswitch.cache = None


__all__ = ["Cache", "CacheMode", "LiteLLMCacheType", "disable_cache", "enable_cache", "update_cache"]
