"""``litellm.caching`` and ``litellm.caching.caching``: llmswitch's cache (``Cache``, in the
Rust core) and LiteLLM's caching helpers."""

from ..._cache import Cache, CacheMode, LiteLLMCacheType, disable_cache, enable_cache, update_cache

__all__ = ["Cache", "CacheMode", "LiteLLMCacheType", "disable_cache", "enable_cache", "update_cache"]
