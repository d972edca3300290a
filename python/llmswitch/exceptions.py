"""Exceptions, with LiteLLM's class names, and the ``openai`` package's classes as bases.

Every error llmswitch raises is an instance of one of these classes (all re-exported from
``llmswitch``). Each carries ``message``, ``status_code``, ``llm_provider``, ``model``,
``retry_after`` (seconds, from the provider's ``retry-after``/``retry-after-ms`` headers,
or None) and ``body`` (the provider's error body).

LiteLLM's classes subclass the ``openai`` package's (``RateLimitError(openai.RateLimitError)``),
so ``except openai.RateLimitError`` catches them. llmswitch keeps that property without
importing ``openai`` at ``import llmswitch`` (which would cost about 0.6 s and 50 MiB):

* if ``openai`` is already imported when llmswitch is, the classes take openai's classes
  as extra bases right away;
* otherwise a tiny import hook waits for ``openai`` to be imported (by you, or by any
  library) and does it then.

Code that names ``openai.RateLimitError`` has necessarily imported ``openai``, so by the
time such an ``except`` clause runs, the classes are linked. ``use_openai_bases()`` does it
explicitly. Without ``openai`` installed, the classes are plain ``Exception`` subclasses.
"""

from __future__ import annotations

import sys

# Annotation-only imports (mypy reads `TYPE_CHECKING` by name); `typing` alone costs a few
# ms at `import llmswitch`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    # importlib.abc would pull in pathlib, tempfile, shutil, re, ... (~30 ms, more than
    # the rest of `import llmswitch`): the import hook below follows the finder/loader
    # protocols without subclassing the ABCs.
    import importlib.machinery
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Any


class LLMSwitchError(Exception):
    """Base class of every llmswitch error."""

    status_code: int = 500
    #: openai's ``code`` attribute: the provider's error code when its body has one.
    code: Any = None

    def __init__(
        self,
        message: str = "",
        llm_provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        *,
        response: Any = None,
        body: Any = None,
        retry_after: float | None = None,
        litellm_debug_info: str | None = None,
        max_retries: int | None = None,
        num_retries: int | None = None,
        attempts: Sequence[str] | None = None,
        **_kwargs: Any,
    ) -> None:
        # Exception.__init__ directly: once openai's classes are bases, their __init__
        # (which needs an httpx response) comes later in the MRO and must not run.
        prefix = f"litellm.{type(self).__name__}: "
        if not message.startswith(prefix):
            # LiteLLM's form, which log parsers match: "litellm.RateLimitError: ...".
            message = prefix + message
        Exception.__init__(self, message)
        self.message = message
        self.llm_provider = llm_provider
        self.model = model
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after
        self.body = body
        self._response = response
        self.litellm_debug_info = litellm_debug_info
        self.max_retries = max_retries
        self.num_retries = num_retries
        self.attempts: list[str] = list(attempts or [])
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        # The attributes openai's APIError has.
        self.code = error.get("code", type(self).code)
        self.param = error.get("param")
        self.type = error.get("type")
        self.request_id: str | None = None
        #: Provider-specific details of the error (LiteLLM's attribute), or None.
        self.provider_specific_fields: dict[str, Any] | None = None

    @property
    def response(self) -> Any:
        """An ``httpx.Response`` describing the failure (status, body, ``retry-after``),
        built on first access when httpx is installed, for code written against openai's
        exceptions; None without httpx."""
        if self._response is None:
            httpx = _http_module()
            if httpx is None:
                return None
            request = httpx.Request("POST", "https://llmswitch.invalid/chat/completions")
            headers = {} if self.retry_after is None else {"retry-after": str(self.retry_after)}
            self._response = httpx.Response(
                self.status_code, request=request, json=self.body, headers=headers
            )
        return self._response

    @property
    def request(self) -> Any:
        """The ``httpx.Request`` of :attr:`response` (None without httpx)."""
        response = self.response
        return None if response is None else response.request

    def __str__(self) -> str:
        model = f" (model={self.model})" if self.model and self.model not in self.message else ""
        return f"{self.message}{model}"

    def __reduce__(self) -> Any:
        state = dict(self.__dict__)
        return (_rebuild, (type(self), self.message), state)


def _http_module() -> ModuleType | None:
    """The HTTP library the installed openai SDK uses (httpx2 for openai 3, else httpx)."""
    import importlib

    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _rebuild(cls: type, message: str) -> LLMSwitchError:
    return cls(message)  # type: ignore[no-any-return]


class AuthenticationError(LLMSwitchError):
    """401: the key is missing (raised before any network call), malformed or rejected."""

    status_code = 401


class PermissionDeniedError(LLMSwitchError):
    """403: the key may not do this."""

    status_code = 403


class NotFoundError(LLMSwitchError):
    """404: unknown model or endpoint."""

    status_code = 404


class BadRequestError(LLMSwitchError):
    """400: the request is invalid (also raised before any network call for an unknown
    provider or malformed messages)."""

    status_code = 400


class ContextWindowExceededError(BadRequestError):
    """400: the prompt plus requested output exceeds the model's context window."""


class ContentPolicyViolationError(BadRequestError):
    """400: the provider's safety system refused the content.

    ``provider_specific_fields`` carries the provider's verdict as LiteLLM exposes it: for
    Azure, ``innererror`` / ``inner_error`` (with ``content_filter_result``, the category
    results) and ``azure_error`` (the whole error object); otherwise None.
    """

    def __init__(
        self,
        message: str = "",
        llm_provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        *,
        provider_specific_fields: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, llm_provider, model, status_code, **kwargs)
        if provider_specific_fields is None:
            provider_specific_fields = _azure_filter_fields(self.body)
        self.provider_specific_fields = provider_specific_fields


def _azure_filter_fields(body: Any) -> dict[str, Any] | None:
    """Azure's content-filter details from an error body, in LiteLLM's shape."""
    if not isinstance(body, dict):
        return None
    nested = body.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else body
    inner = error.get("innererror") or error.get("inner_error") or body.get("innererror")
    if not isinstance(inner, dict):
        return None
    return {"innererror": inner, "inner_error": inner, "azure_error": error}


class UnsupportedParamsError(BadRequestError):
    """400: a parameter the target does not support (pass ``drop_params=True`` to drop it)."""


class RejectedRequestError(BadRequestError):
    """400: the request was rejected by a guardrail."""


class UnprocessableEntityError(LLMSwitchError):
    """422."""

    status_code = 422


class RateLimitError(LLMSwitchError):
    """429: rate limited; ``retry_after`` says how long to wait when the provider said."""

    status_code = 429
    code: Any = "429"


class Timeout(LLMSwitchError):
    """408: no answer within ``timeout``."""

    status_code = 408


class APIConnectionError(LLMSwitchError):
    """The connection failed or broke (refused, reset, TLS, DNS, stream cut short)."""

    status_code = 500


class InternalServerError(LLMSwitchError):
    """500 from the provider."""

    status_code = 500


class ServiceUnavailableError(LLMSwitchError):
    """503 (and Anthropic's 529 overloaded): retry later."""

    status_code = 503


class MidStreamFallbackError(ServiceUnavailableError):
    """A stream failed after it started; LiteLLM's router falls back on it.
    ``generated_content`` is the text streamed before the failure and
    ``is_pre_first_chunk`` whether it failed before the first chunk."""

    def __init__(
        self,
        message: str = "",
        model: str | None = None,
        llm_provider: str | None = None,
        original_exception: BaseException | None = None,
        *,
        generated_content: str = "",
        is_pre_first_chunk: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, llm_provider, model, **kwargs)
        self.original_exception = original_exception
        self.generated_content = generated_content
        self.is_pre_first_chunk = is_pre_first_chunk


class APIError(LLMSwitchError):
    """Any other error status from the provider."""

    status_code = 500


class APIResponseValidationError(LLMSwitchError):
    """The provider's response could not be understood."""

    status_code = 500


class BudgetExceededError(LLMSwitchError):
    """A budget would be exceeded; raised before any network call."""

    status_code = 400

    def __init__(
        self,
        message: str = "",
        *args: Any,
        current_cost: float | None = None,
        max_budget: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, *args, **kwargs)
        self.current_cost = current_cost
        self.max_budget = max_budget


class RouterRateLimitError(LLMSwitchError, ValueError):
    """The router has no deployment left to try: all are cooling down or over their limits."""

    status_code = 429


class UnknownModelCostWarning(UserWarning):
    """A response's model has no price in the catalogue, so its ``response_cost`` is
    ``None``. Warned once per model; register the price with ``llmswitch.register_model``
    or pass ``custom_cost_per_token=``."""


#: Our class name → the ``openai`` class it subclasses (as in LiteLLM).
_OPENAI_BASES = {
    "AuthenticationError": "AuthenticationError",
    "PermissionDeniedError": "PermissionDeniedError",
    "NotFoundError": "NotFoundError",
    "BadRequestError": "BadRequestError",
    "UnprocessableEntityError": "UnprocessableEntityError",
    "RateLimitError": "RateLimitError",
    "Timeout": "APITimeoutError",
    "APIConnectionError": "APIConnectionError",
    "InternalServerError": "InternalServerError",
    "ServiceUnavailableError": "APIStatusError",
    "APIError": "APIError",
    "APIResponseValidationError": "APIResponseValidationError",
}


def _adopt_openai_bases(openai: ModuleType) -> None:
    """Give our classes openai's classes as second bases (ours stay first in the MRO, so
    our ``__init__``, ``__str__`` and attributes apply)."""
    for ours, theirs in _OPENAI_BASES.items():
        cls = globals()[ours]
        base = getattr(openai, theirs, None)
        if not isinstance(base, type) or issubclass(cls, base):
            continue
        cls.__bases__ = (*cls.__bases__, base)


def use_openai_bases() -> bool:
    """Import ``openai`` (if installed) and link the classes now. Returns whether it is
    installed."""
    try:
        import openai
    except ImportError:
        return False
    _adopt_openai_bases(openai)
    return True


class _LinkAfterExec:
    """Wraps openai's loader: executes the module, then links our classes to it."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        try:
            _adopt_openai_bases(module)
        finally:
            _remove_watcher()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _OpenAIImportWatcher:
    """Links our classes to openai's right after ``import openai`` completes."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "openai":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LinkAfterExec(spec.loader)  # type: ignore[assignment]
                return spec
        return None


_watcher = _OpenAIImportWatcher()


def _remove_watcher() -> None:
    if _watcher in sys.meta_path:
        sys.meta_path.remove(_watcher)


if "openai" in sys.modules and hasattr(sys.modules["openai"], "RateLimitError"):
    _adopt_openai_bases(sys.modules["openai"])
else:
    sys.meta_path.insert(0, _watcher)


__all__ = [
    "LLMSwitchError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "UnsupportedParamsError",
    "RejectedRequestError",
    "UnprocessableEntityError",
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "MidStreamFallbackError",
    "APIError",
    "APIResponseValidationError",
    "BudgetExceededError",
    "RouterRateLimitError",
    "UnknownModelCostWarning",
    "use_openai_bases",
]
