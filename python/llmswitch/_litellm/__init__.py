"""The ``litellm`` stand-in (``llmswitch.install_as_litellm()``): this package is
registered as ``litellm`` in ``sys.modules``, and its submodules as ``litellm.<name>``.

Imported only by ``install_as_litellm()``, so ``import llmswitch`` pays nothing for it.
Names it does not define itself are llmswitch's (``litellm.completion`` is
``llmswitch.completion``); assigning one of those (``litellm.drop_params = True``,
``litellm.cache = ...``, ``litellm.callbacks = [...]``) assigns llmswitch's, so both
names always agree.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types as _stdtypes
from typing import Any

import llmswitch

from .. import _types
from .._llmswitch import _default_names, _set_default
from ..exceptions import *

__llmswitch__ = True
version = llmswitch.__version__

# LiteLLM's per-provider key variables (read by the core when set), and its other settings.
# Assigning one of the key variables hands it to the core (see the module class below).
openai_key: str | None = None
azure_key: str | None = None
anthropic_key: str | None = None
groq_key: str | None = None
xai_key: str | None = None
databricks_key: str | None = None
openai_like_key: str | None = None
cohere_key: str | None = None
replicate_key: str | None = None
ollama_key: str | None = None
openrouter_key: str | None = None
huggingface_key: str | None = None
togetherai_api_key: str | None = None
cloudflare_api_key: str | None = None
baseten_key: str | None = None
llama_api_key: str | None = None
novita_api_key: str | None = None
nebius_key: str | None = None
clarifai_key: str | None = None
predibase_key: str | None = None
maritalk_key: str | None = None
ai21_key: str | None = None
aleph_alpha_key: str | None = None
nlp_cloud_key: str | None = None
snowflake_key: str | None = None
wandb_key: str | None = None
heroku_key: str | None = None
cometapi_key: str | None = None
ovhcloud_key: str | None = None
lemonade_key: str | None = None
infinity_key: str | None = None
datarobot_key: str | None = None
gradient_ai_api_key: str | None = None
vercel_ai_gateway_key: str | None = None

#: LiteLLM's internals that frameworks read or set; accepted with LiteLLM's defaults.
modify_params: bool = bool(os.getenv("LITELLM_MODIFY_PARAMS", ""))
set_verbose: bool = False
suppress_debug_info: bool = False
telemetry: bool = False
use_litellm_proxy: bool = False
disable_streaming_logging: bool = False
turn_off_message_logging: bool = False
log_raw_request_response: bool = False
enable_json_schema_validation: bool = False
cache_responses: bool = False
input_callback: list[Any] = []
service_callback: list[Any] = []
logging_callback_manager: Any = None
return_response_headers: bool = False
max_budget: float = 0.0
_current_cost: float = 0.0

#: The OpenAI chat-completion parameters (LiteLLM's list).
OPENAI_CHAT_COMPLETION_PARAMS: list[str] = [
    "functions",
    "function_call",
    "temperature",
    "temperature",
    "top_p",
    "n",
    "stream",
    "stream_options",
    "stop",
    "max_completion_tokens",
    "max_tokens",
    "modalities",
    "prediction",
    "audio",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "request_timeout",
    "api_base",
    "api_version",
    "api_key",
    "deployment_id",
    "organization",
    "base_url",
    "default_headers",
    "timeout",
    "response_format",
    "seed",
    "tools",
    "tool_choice",
    "max_retries",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "extra_headers",
    "thinking",
    "web_search_options",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "store",
    "metadata",
]

# Response types with LiteLLM's names, at the top as LiteLLM exports them.
from .._llmswitch import (
    supports_pdf_input,
    supports_tool_choice,
    supports_web_search,
    validate_environment,
)
from .._types import (
    ChatCompletionDeltaToolCall,
    ChatCompletionMessageToolCall,
    Choices,
    Delta,
    Embedding,
    EmbeddingResponse,
    Function,
    Message,
    ModelResponse,
    ModelResponseBase,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)
from .functions import (
    _turn_on_debug,
    batch_completion,
    batch_completion_models,
    batch_completion_models_all_responses,
    get_model_cost_map,
    get_secret,
    get_secret_bool,
    get_valid_models,
    text_completion,
    trim_messages,
)
from .types.utils import TextChoices, TextCompletionResponse

_CORE_SETTINGS = frozenset(_default_names())

#: Submodules loaded on first attribute access (``litellm.utils`` after ``import litellm``).
_SUBMODULES = frozenset(
    {
        "types",
        "utils",
        "main",
        "router",
        "exceptions",
        "integrations",
        "caching",
        "cost_calculator",
        "budget_manager",
        "_logging",
        "litellm_core_utils",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"litellm.{name}")
    try:
        return getattr(llmswitch, name)
    except AttributeError:
        raise AttributeError(f"module 'litellm' (llmswitch's stand-in) has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(llmswitch)) | _SUBMODULES)


class _StandIn(_stdtypes.ModuleType):
    """``litellm``'s module class: names llmswitch owns are assigned on llmswitch; the
    core's settings (keys, ``api_base``, ...) reach the core."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.__dict__ and hasattr(llmswitch, name) and name not in _SUBMODULES:
            setattr(llmswitch, name, value)
            return
        if name in _CORE_SETTINGS:
            _set_default(name, value)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name not in self.__dict__ and hasattr(llmswitch, name):
            delattr(llmswitch, name)
            return
        super().__delattr__(name)


sys.modules[__name__].__class__ = _StandIn

#: Where a ``litellm.<name>`` module comes from, when it is not ``llmswitch._litellm.<name>``.
_ALIASES = {
    "litellm.exceptions": "llmswitch.exceptions",
    "litellm.integrations.custom_logger": "llmswitch.integrations.custom_logger",
    "litellm.caching.caching": "llmswitch._litellm.caching",
}


def _target(fullname: str) -> str:
    return _ALIASES.get(fullname) or "llmswitch._litellm" + fullname[len("litellm") :]


class _AliasLoader:
    """Loads ``litellm.<name>`` as llmswitch's module object for it (no second copy)."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._own_spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> _stdtypes.ModuleType:
        module = importlib.import_module(self._target)
        self._own_spec = getattr(module, "__spec__", None)
        return module

    def exec_module(self, module: _stdtypes.ModuleType) -> None:
        # The import system gave the module the alias's spec; it keeps its own.
        if self._own_spec is not None:
            module.__spec__ = self._own_spec


class _AliasFinder:
    """Finds ``litellm.*`` modules among llmswitch's."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("litellm."):
            return None
        name = _target(fullname)
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(
            fullname,
            _AliasLoader(name),  # type: ignore[arg-type]
            is_package=found.submodule_search_locations is not None,
        )


_finder = _AliasFinder()


def install() -> _stdtypes.ModuleType:
    """Register the stand-in (see ``llmswitch.install_as_litellm``)."""
    me = sys.modules[__name__]
    current = sys.modules.get("litellm")
    if current is me:
        return me
    real = [n for n in sys.modules if n == "litellm" or n.startswith("litellm.")]
    if real:
        where = getattr(sys.modules.get("litellm"), "__file__", None) or real[0]
        raise RuntimeError(
            f"the real litellm is already imported ({where}); llmswitch cannot replace it "
            "half-way. Call llmswitch.install_as_litellm() (or set LLMSWITCH_AS_LITELLM=1 and "
            "import llmswitch) before anything imports litellm"
        )
    for cls in _types.LITELLM_CLASSES:
        cls.__module__ = "litellm.types.utils"
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    sys.modules["litellm"] = me
    return me
