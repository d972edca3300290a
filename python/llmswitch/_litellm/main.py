"""``litellm.main``: the call functions."""

from llmswitch import (
    acompletion,
    aembedding,
    completion,
    embedding,
    stream_chunk_builder,
)

__all__ = ["acompletion", "aembedding", "completion", "embedding", "stream_chunk_builder"]
