"""``litellm.types.router``: the Router's configuration types. Dicts with attribute access
(``model_dump()`` gives the plain dict), accepted wherever LiteLLM's pydantic models are."""

from __future__ import annotations

from typing import Any, TypedDict

from ..._types import AttrDict


class _Model(AttrDict):
    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class LiteLLM_Params(_Model):
    """A deployment's ``litellm_params``: ``model``, ``api_key``, ``api_base``, ..."""

    __slots__ = ()


class ModelInfo(_Model):
    """A deployment's ``model_info`` (``id``, prices, ...)."""

    __slots__ = ()


class Deployment(_Model):
    """One ``model_list`` entry: ``model_name``, ``litellm_params``, ``model_info``."""

    __slots__ = ()

    def __init__(
        self, model_name: str = "", litellm_params: Any = None, model_info: Any = None, **kwargs: Any
    ):
        super().__init__(
            model_name=model_name,
            litellm_params=LiteLLM_Params(litellm_params or {}),
            model_info=ModelInfo(model_info or {}),
            **kwargs,
        )


class RetryPolicy(_Model):
    """Retries by error class (``RateLimitErrorRetries=3``, ...)."""

    __slots__ = ()


class AllowedFailsPolicy(_Model):
    """Allowed failures by error class before a cooldown."""

    __slots__ = ()


class DeploymentTypedDict(TypedDict, total=False):
    """One ``model_list`` entry, as a typed dict."""

    model_name: str
    litellm_params: dict[str, Any]
    model_info: dict[str, Any]


__all__ = [
    "AllowedFailsPolicy",
    "Deployment",
    "DeploymentTypedDict",
    "LiteLLM_Params",
    "ModelInfo",
    "RetryPolicy",
]
