"""``litellm.types.llms.openai``: OpenAI request and response pieces, by LiteLLM's names."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from ...._types import ChatCompletionDeltaToolCall, ChatCompletionMessageToolCall


class ChatCompletionToolParamFunctionChunk(TypedDict, total=False):
    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool


class ChatCompletionToolParam(TypedDict, total=False):
    type: Literal["function"]
    function: ChatCompletionToolParamFunctionChunk


class ChatCompletionToolCallFunctionChunk(TypedDict, total=False):
    name: str | None
    arguments: str


class ChatCompletionToolCallChunk(TypedDict, total=False):
    id: str | None
    type: Literal["function"]
    function: ChatCompletionToolCallFunctionChunk
    index: int


class ChatCompletionUsageBlock(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionAnnotationURLCitation(TypedDict, total=False):
    end_index: int
    start_index: int
    title: str
    url: str


class ChatCompletionAnnotation(TypedDict, total=False):
    type: Literal["url_citation"]
    url_citation: ChatCompletionAnnotationURLCitation


class ChatCompletionThinkingBlock(TypedDict, total=False):
    type: Literal["thinking"]
    thinking: str
    signature: str


class ChatCompletionRedactedThinkingBlock(TypedDict, total=False):
    type: Literal["redacted_thinking"]
    data: str


AllMessageValues = dict[str, Any]

__all__ = [
    "AllMessageValues",
    "ChatCompletionAnnotation",
    "ChatCompletionAnnotationURLCitation",
    "ChatCompletionDeltaToolCall",
    "ChatCompletionMessageToolCall",
    "ChatCompletionRedactedThinkingBlock",
    "ChatCompletionThinkingBlock",
    "ChatCompletionToolCallChunk",
    "ChatCompletionToolCallFunctionChunk",
    "ChatCompletionToolParam",
    "ChatCompletionToolParamFunctionChunk",
    "ChatCompletionUsageBlock",
]
