"""``python -m llmswitch``: command-line entry points.

``python -m llmswitch demo`` runs the offline quickstart: real calls through the whole
pipeline against the built-in ``mock/`` provider, no keys and no network.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import llmswitch


def demo() -> None:
    """Offline quickstart on the built-in mock provider."""
    messages = [{"role": "user", "content": "Say hello in five words."}]

    response = llmswitch.completion(model="mock/demo-model", messages=messages, temperature=0.2)
    print("completion:", response.choices[0].message.content)
    print("  usage:", dict(response.usage))
    print("  provider:", response._hidden_params["custom_llm_provider"])

    print("stream:", end=" ")
    chunks = []
    for chunk in llmswitch.completion(
        model="mock/demo-model",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        mock_response="Streaming works offline too.",
    ):
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.get("content"):
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    print("  rebuilt from", len(chunks), "chunks:", rebuilt.choices[0].message.content)

    async def many() -> list[str]:
        calls = [
            llmswitch.acompletion(model="mock/demo-model", messages=messages, mock_response=f"answer {i}")
            for i in range(5)
        ]
        return [r.choices[0].message.content for r in await asyncio.gather(*calls)]

    print("acompletion x5:", asyncio.run(many()))

    try:
        llmswitch.completion(
            model="mock/demo-model", messages=messages, mock_response="litellm.RateLimitError"
        )
    except llmswitch.RateLimitError as e:
        print("errors map to LiteLLM's classes:", type(e).__name__, e.status_code)

    try:
        llmswitch.completion(
            model="groq/llama-3.3-70b-versatile", messages=messages, api_key="x", logit_bias={}
        )
    except llmswitch.UnsupportedParamsError as e:
        print("bad input fails before any network call:", type(e).__name__)


def main(argv: list[str] | None = None) -> None:
    """Run an llmswitch command."""
    parser = argparse.ArgumentParser(prog="llmswitch", description="llmswitch command line")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="offline quickstart on the built-in mock provider")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    elif args.command == "version":
        print(llmswitch.__version__)
    else:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
