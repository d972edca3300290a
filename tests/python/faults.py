"""A loopback HTTP server that misbehaves on purpose, byte by byte, and the providers'
wire formats to misbehave with.

`MockServer` (Rust, axum) speaks correct HTTP; the faults here need what a correct server
cannot do: reset a connection before or in the middle of a response, stop in the middle of
a chunk, send headers that never come, trickle a body, split a UTF-8 character across two
TCP segments. Each connection is served by a thread over a raw socket; every response says
``Connection: close`` so each request gets its own connection and its own fault.
"""

from __future__ import annotations

import binascii
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Action = Callable[["Conn"], None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Conn:
    """One accepted connection and its request; what an action writes to."""

    sock: socket.socket
    request: Request
    stopping: threading.Event

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def hang(self, seconds: float = 60.0) -> None:
        """Hold the connection open, sending nothing, until the server stops."""
        self.stopping.wait(seconds)


@dataclass
class FaultServer:
    """Serves `action` (or the next queued one) to every request on 127.0.0.1."""

    sock: socket.socket = field(init=False)
    queue: list[Action] = field(default_factory=list)
    default: Action | None = None
    requests: list[Request] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def serve(self, action: Action) -> None:
        """Answer every request with `action` from now on (queued actions first)."""
        with self._lock:
            self.default = action
            self.queue.clear()
            self.requests.clear()

    def enqueue(self, *actions: Action) -> None:
        with self._lock:
            self.queue.extend(actions)

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(30)
        try:
            request = read_request(sock)
        except (OSError, ValueError):
            sock.close()
            return
        with self._lock:
            self.requests.append(request)
            action = self.queue.pop(0) if self.queue else self.default
        try:
            if action is None:
                respond(404, b'{"error": {"message": "no fault scripted"}}')(
                    Conn(sock, request, self.stopping)
                )
            else:
                action(Conn(sock, request, self.stopping))
        finally:
            try:
                sock.close()
            except OSError:
                pass


def read_request(sock: socket.socket) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ValueError("connection closed before the request headers")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return Request(method, path, headers, body)


# ---- actions -------------------------------------------------------------------------


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(
    status: int,
    body: bytes | Iterable[bytes],
    content_type: str = "application/json",
    *,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    pause: float = 0.0,
    then: str = "close",
    content_length: int | None = None,
) -> Action:
    """Send a response: the head, then `body` (one piece or several, `pause` seconds
    apart, each its own TCP segment), then `then`: ``close`` (FIN after a complete
    message), ``reset`` (RST), ``hang`` (hold the connection) or ``truncate`` (FIN
    without the chunked terminator)."""

    def action(conn: Conn) -> None:
        parts = [body] if isinstance(body, bytes) else list(body)
        h = {"Content-Type": content_type, **(headers or {})}
        if chunked:
            h["Transfer-Encoding"] = "chunked"
        else:
            h["Content-Length"] = str(content_length if content_length is not None else sum(map(len, parts)))
        conn.send(head(status, h))
        for i, part in enumerate(parts):
            if pause and i:
                if conn.stopping.wait(pause):
                    return
            if chunked:
                if part:
                    conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            else:
                conn.send(part)
        if then == "reset":
            time.sleep(0.05)  # let the parts arrive before the RST discards them
            conn.reset()
        elif then == "hang":
            conn.hang()
        elif then == "truncate":
            pass
        elif chunked:
            conn.send(b"0\r\n\r\n")

    return action


def reset_before_headers(conn: Conn) -> None:
    conn.reset()


def close_before_headers(conn: Conn) -> None:
    conn.sock.close()


def headers_never_come(conn: Conn) -> None:
    conn.hang()


def partial_head(conn: Conn) -> None:
    """Half a status line, then nothing."""
    conn.send(b"HTTP/1.1 20")
    conn.hang()


def trickle(
    content_type: str, prefix: Iterable[bytes] = (), filler: bytes = b" ", every: float = 0.05
) -> Action:
    """A 200 event stream: the frames of `prefix`, then one byte of `filler` every `every`
    seconds (each its own chunk), forever: an event that never completes, though bytes keep
    arriving. Stops when the client goes away or the server stops."""

    def action(conn: Conn) -> None:
        h = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
        try:
            conn.sock.sendall(head(200, h))
            for frame in prefix:
                conn.sock.sendall(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            for i in range(int(60 / every)):
                if conn.stopping.wait(every):
                    return
                byte = filler[i % len(filler) : i % len(filler) + 1]
                conn.sock.sendall(b"1\r\n" + byte + b"\r\n")
        except OSError:
            return  # the client gave up

    return action


def redirect(status: int, location: str) -> Action:
    return respond(status, b"", headers={"Location": location})


def drip(body: bytes, every: float) -> Action:
    """The whole body, one byte every `every` seconds, with a correct Content-Length."""
    return respond(200, [body[i : i + 1] for i in range(len(body))], pause=every)


def gzip_bomb(decompressed: int) -> bytes:
    """A gzip stream of `decompressed` zero bytes (about 1/1000 of that on the wire)."""
    block = b"\0" * (1 << 20)
    compressor = gzip.compress
    if decompressed <= len(block):
        return compressor(b"\0" * decompressed, 9)
    # Concatenated gzip members decode as one stream.
    one = compressor(block, 9)
    return one * (decompressed // len(block))


# ---- wire formats --------------------------------------------------------------------


def aws_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message (``application/vnd.amazon.eventstream``), CRC-checked."""
    hdrs = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        n, v = name.encode(), value.encode()
        hdrs += struct.pack("B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    body = json.dumps(payload).encode()
    total = 12 + len(hdrs) + len(body) + 4
    prelude = struct.pack(">II", total, len(hdrs))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + hdrs + body
    return message + struct.pack(">I", binascii.crc32(message))


def sse(obj: Any, event: str | None = None) -> bytes:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()


@dataclass
class Family:
    """A provider API: a model string, keyword arguments that point it at a server, and
    its replies (a full answer, a full stream, an error body) carrying a given text."""

    name: str
    model: str
    kwargs: Callable[[str], dict[str, Any]]
    answer: Callable[[str], bytes]
    frames: Callable[[str], list[bytes]]
    error_200: bytes
    stream_type: str = "text/event-stream"


def _openai_answer(text: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-f",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    ).encode()


def _openai_frames(text: str) -> list[bytes]:
    def c(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return sse(
            {
                "id": "chatcmpl-f",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    return [
        c({"role": "assistant", "content": ""}),
        c({"content": text}),
        c({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
        b"data: [DONE]\n\n",
    ]


def _anthropic_frames(text: str) -> list[bytes]:
    return [
        sse(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_f",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "m",
                    "stop_reason": None,
                    "usage": {"input_tokens": 3, "output_tokens": 1},
                },
            },
            "message_start",
        ),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            "content_block_delta",
        ),
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]


def _gemini_answer(text: str) -> bytes:
    return json.dumps(
        {
            "candidates": [
                {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        }
    ).encode()


def _gemini_frames(text: str) -> list[bytes]:
    return [
        sse({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0}]}),
        sse({"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}]}),
        sse(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": ""}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
            }
        ),
    ]


def _cohere_frames(text: str) -> list[bytes]:
    return [
        sse(
            {"type": "message-start", "id": "f", "delta": {"message": {"role": "assistant", "content": []}}},
            "message-start",
        ),
        sse(
            {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            },
            "content-start",
        ),
        sse(
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}},
            "content-delta",
        ),
        sse({"type": "content-end", "index": 0}, "content-end"),
        sse(
            {
                "type": "message-end",
                "delta": {
                    "finish_reason": "COMPLETE",
                    "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}},
                },
            },
            "message-end",
        ),
    ]


def _ollama_frames(text: str) -> list[bytes]:
    line = lambda o: (json.dumps(o) + "\n").encode()  # noqa: E731
    return [
        line(
            {
                "model": "m",
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": False,
            }
        ),
        line(
            {
                "model": "m",
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": False,
            }
        ),
        line(
            {
                "model": "m",
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 3,
                "eval_count": 2,
            }
        ),
    ]


def _bedrock_frames(text: str) -> list[bytes]:
    return [
        aws_event("messageStart", {"role": "assistant"}),
        aws_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}),
        aws_event("contentBlockStop", {"contentBlockIndex": 0}),
        aws_event("messageStop", {"stopReason": "end_turn"}),
        aws_event(
            "metadata",
            {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 1}},
        ),
    ]


OPENAI_ERROR = json.dumps(
    {"error": {"message": "upstream exploded", "type": "server_error", "code": 500}}
).encode()

FAMILIES = [
    Family(
        "openai",
        "openai/gpt-4o",
        lambda url: {"api_base": url + "/v1", "api_key": "sk-fault-0123456789abcdef"},
        _openai_answer,
        _openai_frames,
        OPENAI_ERROR,
    ),
    Family(
        "mistral",
        "mistral/mistral-small-latest",
        lambda url: {"api_base": url, "api_key": "mistral-fault-0123456789abcdef"},
        _openai_answer,
        _openai_frames,
        OPENAI_ERROR,
    ),
    Family(
        "azure",
        "azure/my-deployment",
        lambda url: {"api_base": url, "api_key": "azure-fault-0123456789abcdef", "api_version": "2024-10-21"},
        _openai_answer,
        _openai_frames,
        OPENAI_ERROR,
    ),
    Family(
        "anthropic",
        "anthropic/claude-sonnet-4-20250514",
        lambda url: {"api_base": url, "api_key": "sk-ant-fault-0123456789abcdef"},
        lambda text: json.dumps(
            {
                "id": "msg_f",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 3, "output_tokens": 2},
            }
        ).encode(),
        _anthropic_frames,
        json.dumps(
            {"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}}
        ).encode(),
    ),
    Family(
        "gemini",
        "gemini/gemini-2.5-flash",
        lambda url: {"api_base": url, "api_key": "AIza-fault-0123456789abcdef"},
        _gemini_answer,
        _gemini_frames,
        json.dumps({"error": {"code": 500, "message": "upstream exploded", "status": "INTERNAL"}}).encode(),
    ),
    Family(
        "cohere",
        "cohere/command-a-03-2025",
        lambda url: {"api_base": url, "api_key": "co-fault-0123456789abcdef"},
        lambda text: json.dumps(
            {
                "id": "f",
                "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
                "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}},
            }
        ).encode(),
        _cohere_frames,
        json.dumps({"message": "upstream exploded"}).encode(),
    ),
    Family(
        "ollama",
        "ollama_chat/llama3.1",
        lambda url: {"api_base": url},
        lambda text: json.dumps(
            {
                "model": "m",
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 3,
                "eval_count": 2,
            }
        ).encode(),
        _ollama_frames,
        json.dumps({"error": "upstream exploded"}).encode(),
        "application/x-ndjson",
    ),
    Family(
        "bedrock",
        "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        lambda url: {
            "api_base": url,
            "aws_region_name": "us-east-1",
            "aws_access_key_id": "AKIAFAULT0123456789",
            "aws_secret_access_key": "fault-secret-0123456789abcdef",
        },
        lambda text: json.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                "metrics": {"latencyMs": 1},
            }
        ).encode(),
        _bedrock_frames,
        json.dumps({"message": "upstream exploded"}).encode(),
        "application/vnd.amazon.eventstream",
    ),
]


def endless_event(family: Family) -> tuple[bytes, bytes]:
    """The start of an event that never ends in `family`'s stream format, and the bytes to
    trickle after it (each keeps the event incomplete)."""
    if family.stream_type == "application/vnd.amazon.eventstream":
        # A prelude announcing a 1 MiB message (with a correct CRC), then payload bytes.
        prelude = struct.pack(">II", 1 << 20, 0)
        return prelude + struct.pack(">I", binascii.crc32(prelude)), b"x"
    if family.stream_type == "application/x-ndjson":
        return b'{"model": "m", "message": {"role": "assistant", "content": "', b"a"
    return b"data: ", b" "
