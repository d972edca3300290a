"""The spend ledger: every call recorded once, reports, HTML rendering, persistence."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from html.parser import HTMLParser

import pytest

import llmswitch
from conftest import MESSAGES, chunk


def uid() -> str:
    return "u-" + uuid.uuid4().hex[:12]


def records_of(user: str) -> list[dict]:
    return [r for r in llmswitch.spend.records() if r["user"] == user]


@pytest.fixture(autouse=True)
def _clock_and_recording():
    llmswitch.spend.enable()
    yield
    llmswitch.spend._set_clock(None)
    llmswitch.spend.enable()


# --- recording ---------------------------------------------------------------------------


def test_success_records_model_tokens_cost_and_metadata():
    user = uid()
    r = llmswitch.completion(
        model="gpt-4o",
        messages=MESSAGES,
        mock_response="hello there",
        metadata={"user": user, "project": "search", "tags": ["summarize"], "trace": {"id": 7}},
    )
    [rec] = records_of(user)
    assert rec["status"] == "success" and rec["error"] is None
    assert (rec["model"], rec["provider"]) == ("gpt-4o", "openai")
    assert rec["prompt_tokens"] == r.usage.prompt_tokens
    assert rec["completion_tokens"] == r.usage.completion_tokens
    assert rec["cost"] == pytest.approx(r._hidden_params["response_cost"])
    assert rec["project"] == "search" and rec["tags"] == ["summarize"]
    assert rec["metadata"] == {"trace": {"id": 7}}
    assert rec["latency"] >= 0 and rec["stream"] is False


def test_user_param_and_top_level_tags_fill_metadata(server, openai_kw):
    user = uid()
    server.enqueue(
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
    )
    llmswitch.completion(
        model="openai/gpt-4o",
        messages=MESSAGES,
        user=user,
        tags=["classify"],
        metadata={"odd": object()},
        **openai_kw,
    )
    # user= is still sent to the provider; metadata and tags are not.
    body = server.requests[-1]["body"]
    assert body["user"] == user
    assert "metadata" not in body and "tags" not in body
    [rec] = records_of(user)
    assert rec["tags"] == ["classify"]
    assert rec["metadata"]["odd"].startswith("<object object")
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (100, 20)


def test_metadata_must_be_a_dict():
    with pytest.raises(llmswitch.BadRequestError, match="metadata must be a dict"):
        llmswitch.completion(model="mock/x", messages=MESSAGES, metadata=["a"])


def test_failures_record_the_error_class(server, openai_kw):
    user = uid()
    server.enqueue(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, user=user, **openai_kw)
    # Failing before any network call is recorded too.
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.completion(model="nosuchprovider/x", messages=MESSAGES, user=user)
    recs = records_of(user)
    assert [(r["status"], r["error"]) for r in recs] == [
        ("failure", "RateLimitError"),
        ("failure", "BadRequestError"),
    ]
    assert all(r["cost"] == 0 for r in recs)


def test_streams_record_once_when_they_end_or_are_closed(server, openai_kw):
    user = uid()
    usage = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}
    frames = [
        chunk({"content": "a"}),
        chunk({"content": "b"}, "stop"),
        chunk({}, None, usage=usage, choices=[]),
        "data: [DONE]",
    ]
    server.enqueue(sse=frames)
    stream = llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, stream=True, user=user, **openai_kw
    )
    assert records_of(user) == []
    chunks = list(stream)
    assert len(chunks) == 2
    [done] = records_of(user)
    assert done["status"] == "success" and done["stream"] is True
    assert (done["prompt_tokens"], done["completion_tokens"]) == (40, 2)
    assert done["cost"] == pytest.approx(stream._hidden_params["response_cost"])

    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(50)], chunk_delay=0.02)
    stream = llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, stream=True, user=user, **openai_kw
    )
    next(stream)
    stream.close()
    recs = records_of(user)
    assert [r["status"] for r in recs] == ["success", "cancelled"]


def test_async_calls_and_streams_are_recorded():
    user = uid()

    async def main() -> None:
        await llmswitch.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="hi", user=user)
        s = await llmswitch.acompletion(
            model="gpt-4o", messages=MESSAGES, mock_response="hi", stream=True, user=user
        )
        async for _ in s:
            pass
        with pytest.raises(llmswitch.RateLimitError):
            await llmswitch.acompletion(
                model="gpt-4o", messages=MESSAGES, mock_response="litellm.RateLimitError", user=user
            )

    asyncio.run(main())
    recs = records_of(user)
    assert [(r["status"], r["stream"], r["error"]) for r in recs] == [
        ("success", False, None),
        ("success", True, None),
        ("failure", False, "RateLimitError"),
    ]
    assert recs[1]["cost"] > 0


def test_disable_stops_recording():
    user = uid()
    llmswitch.spend.disable()
    assert not llmswitch.spend.is_enabled()
    llmswitch.completion(model="mock/x", messages=MESSAGES, user=user)
    llmswitch.spend.enable()
    assert records_of(user) == []


# --- reports -----------------------------------------------------------------------------


def spend_as(user: str, tag: str, tokens: int, at: float | None = None) -> None:
    if at is not None:
        llmswitch.spend._set_clock(at)
    llmswitch.completion(
        model="gpt-4o",
        messages=MESSAGES,
        mock_response="x" * (4 * tokens),
        custom_cost_per_token={"input_cost_per_token": 0.0, "output_cost_per_token": 0.001},
        metadata={"user": user, "tags": [tag]},
    )


def test_report_groups_sorts_by_cost_and_filters_by_time():
    base = 2_000_000_000.0  # 2033-05-18, far from other tests' records
    user = uid()
    spend_as(user, "summarize", 30, at=base)
    spend_as(user, "classify", 10, at=base + 10)
    spend_as(user, "summarize", 50, at=base + 20)
    spend_as(user, "translate", 5, at=base + 86_400)
    llmswitch.spend._set_clock(None)

    report = llmswitch.spend_report(group_by=("tag",), since=base, until=base + 3600)
    rows = report.to_dicts()
    assert [r["tag"] for r in rows] == ["summarize", "classify"]
    assert rows[0]["calls"] == 2 and rows[0]["cost"] == pytest.approx(0.08)
    assert rows[0]["share"] == pytest.approx(0.08 / 0.09)
    assert report.total_cost == pytest.approx(0.09) and report.total_calls == 3
    assert len(report) == 2 and list(report) == rows
    assert report.group_by == ("tag",)

    # ISO strings and datetimes (naive = UTC) work as bounds; group by several keys.
    import datetime as dt

    since = dt.datetime.fromtimestamp(base, dt.timezone.utc).replace(tzinfo=None)
    by_day = llmswitch.spend_report(group_by=["day", "user"], since=since, until="2033-05-20T00:00:00Z")
    assert [(r["day"], r["calls"]) for r in by_day] == [("2033-05-18", 3), ("2033-05-19", 1)]
    assert all(r["user"] == user for r in by_day)
    assert llmswitch.spend_report(group_by=(), since=base, until=base + 1e6).to_dicts()[0]["calls"] == 4
    with pytest.raises(ValueError, match="group_by"):
        llmswitch.spend_report(group_by=("colour",))
    with pytest.raises(ValueError, match="ISO 8601"):
        llmswitch.spend_report(since="last tuesday")


class _Table(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_td = tag == "td"

    def handle_endtag(self, tag):
        self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells.append(data)


def test_html_report_renders_a_table_with_bars_and_escapes_user_strings():
    base = 2_100_000_000.0
    evil = '<img src=x onerror="alert(1)">'
    spend_as(evil, "t&t", 10, at=base)
    spend_as(uid(), "plain", 20, at=base + 1)
    llmswitch.spend._set_clock(None)
    report = llmswitch.spend_report(group_by=("user", "tag"), since=base, until=base + 10)
    html = report._repr_html_()
    assert "<img" not in html and 'onerror="' not in html
    parser = _Table()
    parser.feed(html)
    assert parser.tags.count("tr") == 3  # header + 2 rows
    assert parser.tags.count("svg") == 3  # the chart, and one share bar per row
    # The parser unescapes: the original strings come back as cell text.
    assert evil in parser.cells and "t&t" in parser.cells
    assert "Spend by user, tag" in repr(report)


# --- persistence -------------------------------------------------------------------------

SCRIPT = """
import sys, llmswitch
llmswitch.spend.enable(path=sys.argv[1])
for i in range({n}):
    llmswitch.completion(model="gpt-4o", messages=[{{"role": "user", "content": "hi"}}],
        mock_response="hello", metadata={{"user": "restart", "tags": [sys.argv[2]]}})
"""


def test_ledger_persists_across_a_restart(tmp_path):
    db = tmp_path / "spend.sqlite"
    for run, n in (("first", 3), ("second", 2)):
        # Each run is a new process that exits right after its calls: the writer thread
        # must have written them (atexit flush).
        subprocess.run([sys.executable, "-c", SCRIPT.format(n=n), str(db), run], check=True, timeout=60)
    llmswitch.spend.enable(path=db)
    try:
        assert llmswitch.spend.path() == str(db)
        rows = {r["tag"]: r["calls"] for r in llmswitch.spend_report(group_by="tag")}
        assert rows["first"] == 3 and rows["second"] == 2
        user = uid()
        llmswitch.completion(model="mock/x", messages=MESSAGES, user=user)
        llmswitch.spend.flush()
        assert [r["user"] for r in llmswitch.spend.records() if r["user"] == user] == [user]
    finally:
        llmswitch.spend.disable()
        llmswitch.spend.enable()
    assert llmswitch.spend.path() is None


def test_unwritable_path_raises():
    with pytest.raises(OSError):
        llmswitch.spend.enable(path="/nonexistent-dir/x/spend.sqlite")


# --- costs in the ledger, per provider family ----------------------------------------------


def price(key: str, field: str) -> float:
    value = llmswitch.model_cost[key][field]
    assert isinstance(value, float) and value > 0
    return value


def openai_body(model: str, usage: dict) -> dict:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": usage,
    }


def test_ledger_costs_match_the_catalogue_for_each_family(server):
    user = uid()
    kw = {"api_key": "sk-test-0123456789abcdef", "user": user}
    # OpenAI: cached prompt tokens at the cache-read price.
    server.enqueue(
        json=openai_body(
            "gpt-4o",
            {
                "prompt_tokens": 2000,
                "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 1500},
            },
        )
    )
    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=server.base_url, **kw)
    openai_cost = (
        500 * price("gpt-4o", "input_cost_per_token")
        + 1500 * price("gpt-4o", "cache_read_input_token_cost")
        + 300 * price("gpt-4o", "output_cost_per_token")
    )
    # An OpenAI-compatible host priced by its own catalogue entry.
    key = "groq/llama-3.3-70b-versatile"
    server.enqueue(
        json=openai_body("llama-3.3-70b-versatile", {"prompt_tokens": 1234, "completion_tokens": 56})
    )
    llmswitch.completion(model=key, messages=MESSAGES, api_base=server.base_url, **kw)
    groq_cost = 1234 * price(key, "input_cost_per_token") + 56 * price(key, "output_cost_per_token")
    # Anthropic: cache writes at 1.25x, reads at 0.1x.
    claude = "claude-sonnet-4-20250514"
    server.enqueue(
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": claude,
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 100,
                "output_tokens": 50,
                "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 8000,
            },
        }
    )
    llmswitch.completion(model=f"anthropic/{claude}", messages=MESSAGES, api_base=server.url, **kw)
    anthropic_cost = (
        100 * price(claude, "input_cost_per_token")
        + 2000 * price(claude, "cache_creation_input_token_cost")
        + 8000 * price(claude, "cache_read_input_token_cost")
        + 50 * price(claude, "output_cost_per_token")
    )
    # A model without a price: recorded, cost unknown.
    server.enqueue(json=openai_body("mystery", {"prompt_tokens": 10, "completion_tokens": 5}))
    llmswitch.completion(model="groq/mystery-model", messages=MESSAGES, api_base=server.base_url, **kw)

    recs = records_of(user)
    assert [r["provider"] for r in recs] == ["openai", "groq", "anthropic", "groq"]
    assert recs[0]["cost"] == pytest.approx(openai_cost, rel=1e-9)
    assert recs[1]["cost"] == pytest.approx(groq_cost, rel=1e-9)
    assert recs[2]["cost"] == pytest.approx(anthropic_cost, rel=1e-9)
    assert recs[2]["prompt_tokens"] == 10_100
    assert recs[3]["cost"] is None
    rows = {r["user"]: r for r in llmswitch.spend_report(group_by="user", since=recs[0]["started_at"])}
    assert rows[user]["cost"] == pytest.approx(openai_cost + groq_cost + anthropic_cost, rel=1e-9)
    assert rows[user]["unpriced_calls"] == 1
