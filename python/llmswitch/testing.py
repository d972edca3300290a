"""Test helpers: a loopback mock of the providers' HTTP APIs.

``MockServer`` answers each provider's endpoint in that provider's wire format, can be
scripted reply by reply (errors, SSE streams, delays, dropped connections), and records
the requests it received. Use it to test your own code against llmswitch offline::

    from llmswitch.testing import MockServer
    with MockServer() as server:
        server.enqueue(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "2"})
        ...  # llmswitch.completion(model="openai/gpt-4o", api_base=server.base_url, api_key="x", ...)

``ManualClock`` is a clock for ``llmswitch.Router(..., clock=ManualClock())`` that moves
only on ``advance(seconds)``, to test cooldowns and per-minute limits without waiting.

``python -m llmswitch.testing --port 8099`` runs one in the foreground (for benchmarks).
"""

from __future__ import annotations

import argparse
import threading

from ._llmswitch import ManualClock, MockServer

__all__ = ["ManualClock", "MockServer", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run a mock server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m llmswitch.testing", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0: any)")
    args = parser.parse_args(argv)
    server = MockServer(args.port)
    server.set_recording(False)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
