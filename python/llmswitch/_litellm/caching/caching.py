"""``litellm.caching.caching`` (the same names as ``litellm.caching``)."""

from . import Cache, CacheMode, LiteLLMCacheType, disable_cache, enable_cache, update_cache

__all__ = ["Cache", "CacheMode", "LiteLLMCacheType", "disable_cache", "enable_cache", "update_cache"]
