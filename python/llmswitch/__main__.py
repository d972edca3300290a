"""``python -m llmswitch``: command-line entry points.

``python -m llmswitch demo`` runs the offline quickstart: real calls through the whole
pipeline (translation, streaming, the router with retries and fallbacks, cost, the spend
ledger in an embedded SQLite file, budgets) against the built-in ``mock/`` provider and a
loopback mock of the providers' HTTP APIs. No keys, no network.

``python -m llmswitch proxy --config config.yaml [--host 127.0.0.1] [--port 4000]`` runs the
gateway (see :mod:`llmswitch.proxy`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import llmswitch


def _section(title: str) -> None:
    print(f"\n== {title}")


def demo(db_path: str | None = None) -> None:
    """Offline quickstart on the built-in mock provider and a loopback mock server."""
    # Imported here: `llmswitch proxy` starts without them (cold start).
    import asyncio
    import tempfile

    from llmswitch.testing import MockServer

    messages = [{"role": "user", "content": "Say hello in five words."}]
    db_path = db_path or os.path.join(tempfile.gettempdir(), "llmswitch-demo.sqlite")
    llmswitch.spend.enable(path=db_path)
    started = time.time()

    _section("one call, OpenAI format in and out")
    r = llmswitch.completion(
        model="mock/demo-model",
        messages=messages,
        temperature=0.2,
        metadata={"project": "demo", "tags": ["greet"]},
    )
    print("content:", r.choices[0].message.content)
    print("usage:", dict(r.usage), "| provider:", r._hidden_params["custom_llm_provider"])

    with MockServer() as server:
        _section("the same call, translated to three providers' native APIs (loopback mock)")
        for model, base in (
            ("openai/gpt-4o", server.base_url),
            ("anthropic/claude-sonnet-4-20250514", server.url),
            ("gemini/gemini-2.5-pro", server.url),
        ):
            r = llmswitch.completion(
                model=model,
                messages=messages,
                api_base=base,
                api_key="demo-key",
                metadata={"project": "demo"},
            )
            cost = r._hidden_params["response_cost"]
            print(f"{model:38} -> {server.requests[-1]['path']:55} cost ${cost:.6f}")

        _section("streaming, rebuilt with stream_chunk_builder")
        chunks = []
        for chunk in llmswitch.completion(
            model="anthropic/claude-sonnet-4-20250514",
            messages=messages,
            stream=True,
            api_base=server.url,
            api_key="demo-key",
        ):
            chunks.append(chunk)
            print(chunk.choices[0].delta.content or "" if chunk.choices else "", end="", flush=True)
        print(
            f"\nrebuilt from {len(chunks)} chunks:",
            llmswitch.stream_chunk_builder(chunks).choices[0].message.content,
        )

        _section("a Router: the first deployment rate-limits, the router retries on the other")
        server.enqueue(
            status=429, json={"error": {"message": "Rate limit reached"}}, headers={"retry-after": "0"}
        )
        router = llmswitch.Router(
            model_list=[
                {
                    "model_name": "smart",
                    "litellm_params": {"model": "openai/gpt-4o", "api_base": server.base_url, "api_key": "k"},
                    "model_info": {"id": "gpt-4o-a"},
                },
                {
                    "model_name": "smart",
                    "litellm_params": {"model": "openai/gpt-4o", "api_base": server.base_url, "api_key": "k"},
                    "model_info": {"id": "gpt-4o-b"},
                },
            ],
            routing_strategy="round-robin",
            retry_after=0,
        )
        r = router.completion(
            model="smart", messages=messages, metadata={"project": "demo", "tags": ["routed"]}
        )
        print("answered by", r._hidden_params["model_id"], "after", r._hidden_params["attempts"])

    _section("acompletion: 5 calls at once")

    async def many() -> list[str | None]:
        calls = [
            llmswitch.acompletion(model="mock/demo-model", messages=messages, mock_response=f"answer {i}")
            for i in range(5)
        ]
        return [r.choices[0].message.content for r in await asyncio.gather(*calls)]

    print(asyncio.run(many()))

    _section("errors: LiteLLM's classes, raised before any network call for bad input")
    try:
        llmswitch.completion(
            model="mock/demo-model", messages=messages, mock_response="litellm.RateLimitError"
        )
    except llmswitch.RateLimitError as e:
        print("RateLimitError", e.status_code)
    try:
        llmswitch.completion(
            model="groq/llama-3.3-70b-versatile", messages=messages, api_key="x", logit_bias={}
        )
    except llmswitch.UnsupportedParamsError as e:
        print("UnsupportedParamsError:", e)
    try:
        llmswitch.completion(model="mock/demo-model", messages=messages, temprature=0.2)
    except llmswitch.UnsupportedParamsError as e:
        print("UnsupportedParamsError:", e)
    try:
        wrong: dict = {"temperature": "hot"}  # a value of the wrong type, on purpose
        llmswitch.completion(model="mock/demo-model", messages=messages, **wrong)
    except llmswitch.BadRequestError as e:
        print("BadRequestError:", e)

    _section("a budget blocks the call that would overspend")
    llmswitch.budgets.add(0.0001, scope="project", id="capped", period="daily")
    try:
        llmswitch.completion(
            model="gpt-4o",
            messages=messages,
            mock_response="x" * 400,
            max_tokens=1000,
            metadata={"project": "capped"},
        )
    except llmswitch.BudgetExceededError as e:
        print("BudgetExceededError:", e)
    finally:
        llmswitch.budgets.clear()

    _section(f"spend report, from the ledger in {db_path}")
    llmswitch.spend.flush()
    print(llmswitch.spend_report(group_by=("project", "model"), since=started))
    earlier = len(llmswitch.spend.records(until=started))
    if earlier:
        print(f"(the file also holds {earlier} calls from earlier runs: the ledger persists)")


def proxy(config: str, host: str, port: int) -> None:
    """Run the gateway in the foreground until Ctrl-C or SIGTERM (exit status 0)."""
    import logging
    import signal

    from llmswitch.proxy import serve

    # A process started with SIGINT ignored (a background job of a shell script, and so a
    # test runner started from one) inherits that, and Python then installs no handler:
    # `kill -INT` would do nothing. A server stops on SIGINT however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="llmswitch proxy: %(message)s")
    try:
        serve(config, host=host, port=port)
    except (ValueError, OSError) as e:
        print(f"llmswitch proxy: {e}", file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Run an llmswitch command."""
    parser = argparse.ArgumentParser(prog="llmswitch", description="llmswitch command line")
    parser.add_argument("--version", action="version", version=f"llmswitch {llmswitch.__version__}")
    sub = parser.add_subparsers(dest="command")
    demo_cmd = sub.add_parser("demo", help="offline quickstart on the built-in mock provider")
    demo_cmd.add_argument("--db", help="SQLite file for the spend ledger (default: in the temp directory)")
    proxy_cmd = sub.add_parser("proxy", help="run the gateway (OpenAI- and Anthropic-compatible server)")
    proxy_cmd.add_argument("--config", required=True, help="LiteLLM proxy config.yaml")
    proxy_cmd.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    proxy_cmd.add_argument("--port", type=int, default=4000, help="port to listen on (default 4000)")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.db)
    elif args.command == "proxy":
        proxy(args.config, args.host, args.port)
    elif args.command == "version":
        print(llmswitch.__version__)
    else:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
