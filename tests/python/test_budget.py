"""Budget policies: block, downgrade and alert; reservations under concurrency; exact
period resets with an injected clock."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest

import llmswitch
from conftest import MESSAGES
from llmswitch import budgets

#: Every call below costs exactly this, and projects exactly this: no input price, 10
#: completion tokens (40 characters) at $0.001, max_tokens=10.
CALL_COST = 0.01
PRICES = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.001}


def uid() -> str:
    return "b-" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _clean():
    budgets.clear()
    yield
    budgets.clear()
    llmswitch.spend._set_clock(None)


def call(user: str, model: str = "gpt-4o", **kw):
    kw.setdefault("max_tokens", 10)
    return llmswitch.completion(
        model=model,
        messages=MESSAGES,
        mock_response="x" * 40,
        custom_cost_per_token=PRICES,
        metadata={"user": user},
        **kw,
    )


def spent(name: str, member: str | None = None) -> float:
    rows = [s for s in budgets.status() if s["budget"] == name and (member is None or s["id"] == member)]
    assert len(rows) == 1, rows
    return rows[0]["spent"]


def test_block_before_any_network_call(server, openai_kw):
    user = uid()
    name = budgets.add(limit=3 * CALL_COST, scope="user", id=user, period="daily")
    assert name == f"user:{user}:daily"
    for _ in range(3):
        assert call(user)._hidden_params["response_cost"] == pytest.approx(CALL_COST)
    with pytest.raises(llmswitch.BudgetExceededError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, user=user, max_tokens=10, **openai_kw)
    assert server.hits == 0
    err = info.value
    assert err.current_cost == pytest.approx(3 * CALL_COST) and err.max_budget == pytest.approx(3 * CALL_COST)
    assert name in str(err) and "resets at" in str(err)
    # Other users are not limited; the refusal is in the ledger.
    call(uid())
    blocked = [r for r in llmswitch.spend.records() if r["user"] == user and r["status"] == "blocked"]
    assert len(blocked) == 1 and blocked[0]["error"] == "BudgetExceededError"


def test_200_concurrent_acompletions_against_a_budget_for_20():
    user = uid()
    budgets.add(limit=20 * CALL_COST, scope="user", id=user)

    async def main():
        calls = [
            llmswitch.acompletion(
                model="gpt-4o",
                messages=MESSAGES,
                mock_response="x" * 40,
                mock_delay=0.05,
                max_tokens=10,
                custom_cost_per_token=PRICES,
                metadata={"user": user},
            )
            for _ in range(200)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, llmswitch.BudgetExceededError)]
    assert len(ok) == 20 and len(refused) == 180
    # Exact estimates: never over the limit.
    assert spent(f"user:{user}:total") <= 20 * CALL_COST + 1e-12
    assert spent(f"user:{user}:total") == pytest.approx(20 * CALL_COST)
    assert budgets.status()[0]["reserved"] == pytest.approx(0.0, abs=1e-12)


def test_overshoot_is_bounded_by_the_estimate_error_of_calls_in_flight():
    user = uid()
    limit = 20 * CALL_COST

    async def main():
        # max_tokens=5 projects $0.005 a call; the mock answers 10 tokens ($0.01).
        calls = [
            llmswitch.acompletion(
                model="gpt-4o",
                messages=MESSAGES,
                mock_response="x" * 40,
                # Long enough that all 200 are admitted before the first one settles, even
                # on a loaded machine (a settled call charges its real cost, 2x the projection).
                mock_delay=1.0,
                max_tokens=5,
                custom_cost_per_token=PRICES,
                metadata={"user": user},
            )
            for _ in range(200)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    budgets.add(limit=limit, scope="user", id=user)
    results = asyncio.run(main())
    admitted = sum(not isinstance(r, BaseException) for r in results)
    assert admitted == 40  # 40 x $0.005 projected = the limit
    total = spent(f"user:{user}:total")
    assert total > limit
    assert total <= limit + admitted * (CALL_COST - 0.005) + 1e-12
    # Once over, nothing more gets in.
    with pytest.raises(llmswitch.BudgetExceededError):
        call(user, max_tokens=1)


def test_downgrade_switches_to_the_cheaper_model_and_says_so():
    user = uid()
    budgets.add(
        limit=4 * CALL_COST,
        scope="user",
        id=user,
        period="monthly",
        actions=[budgets.downgrade(to={"gpt-4o": "gpt-4o-mini"}, at=0.5), budgets.block()],
    )
    first = call(user)
    assert first.model == "gpt-4o" and "budget_downgraded_from" not in first._hidden_params
    call(user)
    # Spent 50 %: the next call goes to the cheaper model.
    r = call(user)
    assert r.model == "gpt-4o-mini"
    assert r._hidden_params["budget_downgraded_from"] == "gpt-4o"
    rec = [x for x in llmswitch.spend.records() if x["user"] == user][-1]
    assert rec["model"] == "gpt-4o-mini" and rec["downgraded_from"] == "gpt-4o"
    call(user)
    with pytest.raises(llmswitch.BudgetExceededError):
        call(user)


def test_alerts_once_per_threshold_crossing_on_the_calling_thread():
    import threading

    user = uid()
    events: list[dict] = []
    threads: set[int] = set()

    def notify(event: dict) -> None:
        events.append(event)
        threads.add(threading.get_ident())

    budgets.add(
        limit=10 * CALL_COST,
        scope="user",
        id=user,
        period="daily",
        actions=[budgets.alert(notify, at=(0.8, 1.0)), budgets.block()],
    )
    for _i in range(7):
        call(user)
    assert events == []
    call(user)
    assert [e["threshold"] for e in events] == [0.8]
    call(user)
    assert len(events) == 1
    call(user)
    assert [e["threshold"] for e in events] == [0.8, 1.0]
    e = events[1]
    assert e["budget"] == f"user:{user}:daily" and e["id"] == user and e["scope"] == "user"
    assert e["spent"] == pytest.approx(10 * CALL_COST) and e["limit"] == pytest.approx(10 * CALL_COST)
    assert e["period_end"] - e["period_start"] == 86_400
    assert threads == {threading.get_ident()}
    with pytest.raises(llmswitch.BudgetExceededError):
        call(user)
    assert len(events) == 2


def test_alert_from_async_calls_and_a_failing_callback(monkeypatch):
    user = uid()
    seen: list[dict] = []
    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def broken(event: dict) -> None:
        raise RuntimeError("callback bug")

    budgets.add(
        limit=2 * CALL_COST,
        scope="tag",
        id="nightly",
        actions=[budgets.alert(seen.append, at=0.5), budgets.alert(broken, at=0.5)],
    )

    async def main():
        for _ in range(2):
            await llmswitch.acompletion(
                model="gpt-4o",
                messages=MESSAGES,
                mock_response="x" * 40,
                max_tokens=10,
                custom_cost_per_token=PRICES,
                metadata={"user": user, "tags": ["nightly"]},
            )

    asyncio.run(main())
    assert [e["threshold"] for e in seen] == [0.5]
    assert len(unraisable) == 1 and "callback bug" in str(unraisable[0].exc_value)
    # An alert-only budget never blocks.
    asyncio.run(main())


def test_streams_reserve_and_settle_when_they_end():
    user = uid()
    name = budgets.add(limit=1.0, scope="user", id=user)
    stream = call(user, stream=True)
    assert budgets.status()[0]["reserved"] == pytest.approx(CALL_COST)
    list(stream)
    del stream
    s = budgets.status()[0]
    assert s["reserved"] == pytest.approx(0.0, abs=1e-12)
    assert spent(name) == pytest.approx(CALL_COST)


def test_daily_period_resets_exactly_at_utc_midnight():
    user = uid()
    midnight = 1_900_000_000 - 1_900_000_000 % 86_400 + 86_400  # a UTC midnight
    llmswitch.spend._set_clock(midnight - 3600)
    name = budgets.add(limit=2 * CALL_COST, scope="user", id=user, period="daily")
    call(user)
    call(user)
    llmswitch.spend._set_clock(midnight - 1e-6)
    with pytest.raises(llmswitch.BudgetExceededError) as info:
        call(user)
    assert "1970" not in str(info.value)
    llmswitch.spend._set_clock(midnight)
    call(user)
    s = next(x for x in budgets.status() if x["budget"] == name)
    assert s["period_start"] == midnight and s["spent"] == pytest.approx(CALL_COST)


def test_fixed_window_resets_from_the_budget_start():
    user = uid()
    start = 1_900_000_123.5
    llmswitch.spend._set_clock(start)
    budgets.add(limit=CALL_COST, scope="user", id=user, period="1h")
    call(user)
    llmswitch.spend._set_clock(start + 3600 - 1e-6)
    with pytest.raises(llmswitch.BudgetExceededError):
        call(user)
    llmswitch.spend._set_clock(start + 3600)
    call(user)


def test_per_user_budget_counts_the_ledger_of_the_current_period():
    a, b = uid(), uid()
    llmswitch.spend._set_clock(1_950_000_000)
    call(a)
    call(a)
    # Added after two calls today: a has already spent them.
    budgets.add(limit=2 * CALL_COST, scope="user", period="daily")
    with pytest.raises(llmswitch.BudgetExceededError):
        call(a)
    call(b)
    ids = {s["id"] for s in budgets.status()}
    assert {a, b} <= ids
    assert budgets.reset("user:*:daily", id=a)
    call(a)


def test_bad_budgets_are_rejected():
    with pytest.raises(ValueError, match="scope"):
        budgets.add(limit=1, scope="team")
    with pytest.raises(ValueError, match="period"):
        budgets.add(limit=1, period="fortnightly")
    with pytest.raises(ValueError, match="limit"):
        budgets.add(limit=-1)
    with pytest.raises(TypeError, match="callable"):
        budgets.add(limit=1, actions=[{"action": "alert", "callback": 3}])
    assert budgets.status() == []
    assert not budgets.remove("nope")


# --- BudgetManager (LiteLLM's API) -------------------------------------------------------


def test_budget_manager_litellm_flow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bm = llmswitch.BudgetManager(project_name="test_project")
    assert bm.client_type == "local" and bm.project_name == "test_project"
    user = "1234"
    assert not bm.is_valid_user(user)
    entry = bm.create_budget(total_budget=10, user=user)
    assert entry == {"total_budget": 10.0}
    assert (tmp_path / "user_cost.json").exists()
    assert bm.get_current_cost(user=user) <= bm.get_total_budget(user)
    response = llmswitch.completion(model="gpt-4o", messages=MESSAGES, mock_response="Hey there!")
    out = bm.update_cost(completion_obj=response, user=user)
    cost = response._hidden_params["response_cost"]
    assert out["user"]["current_cost"] == pytest.approx(cost)
    assert bm.get_model_cost(user) == {"gpt-4o": pytest.approx(cost)}
    bm.update_cost(user=user, model="gpt-4o", input_text="hello", output_text="world")
    text_cost = llmswitch.completion_cost(model="gpt-4o", prompt="hello", completion="world")
    assert bm.get_current_cost(user) == pytest.approx(cost + text_cost)
    projected = bm.projected_cost(model="gpt-4o", messages=MESSAGES, user=user)
    prompt_cost = llmswitch.completion_cost(model="gpt-4o", messages=MESSAGES)
    assert projected == pytest.approx(cost + text_cost + prompt_cost)
    assert bm.get_users() == [user]
    with pytest.raises(ValueError, match="completion_obj"):
        bm.update_cost(user=user)
    with pytest.raises(KeyError):
        bm.get_total_budget("nobody")

    # A new manager (a restart) reads LiteLLM's user_cost.json back.
    again = llmswitch.BudgetManager(project_name="test_project")
    assert again.get_current_cost(user) == pytest.approx(cost + text_cost)
    assert again.reset_cost(user)["user"]["current_cost"] == 0
    assert llmswitch.BudgetManager("test_project").get_current_cost(user) == 0
    assert again.save_data() == {"status": "success"}


def test_budget_manager_durations_reset_exactly_and_sqlite_persists(tmp_path):
    db = tmp_path / "budgets.sqlite"
    t0 = 1_800_000_000.0
    llmswitch.spend._set_clock(t0)
    bm = llmswitch.BudgetManager("p", client_type="sqlite", path=db)
    bm.create_budget(total_budget=1.0, user="u", duration="daily")
    assert bm.user_dict["u"]["duration"] == 1.0
    assert bm.user_dict["u"]["created_at"] == t0
    bm.update_cost(user="u", model="gpt-4o", input_text="a b c", output_text="d e f")
    assert bm.get_current_cost("u") > 0
    llmswitch.spend._set_clock(t0 + 86_400 - 0.001)
    assert bm.get_current_cost("u") > 0
    llmswitch.spend._set_clock(t0 + 2.5 * 86_400)
    bm.update_budget_all_users()
    assert bm.get_current_cost("u") == 0
    assert bm.user_dict["u"]["last_updated_at"] == t0 + 2 * 86_400
    # Another project in the same file is separate; the same project survives a restart.
    assert llmswitch.BudgetManager("q", client_type="sqlite", path=db).get_users() == []
    restored = llmswitch.BudgetManager("p", client_type="sqlite", path=db)
    assert restored.user_dict["u"]["last_updated_at"] == t0 + 2 * 86_400
    monthly = llmswitch.BudgetManager("m", client_type="memory")
    assert monthly.create_budget(5, "v", duration="monthly")["duration"] == 28.0
    with pytest.raises(ValueError, match="duration"):
        monthly.create_budget(5, "v", duration="fortnightly")
    with pytest.raises(ValueError, match="hosted"):
        llmswitch.BudgetManager("x", client_type="hosted")


# --- the Router goes through the same pipeline ---------------------------------------------


def test_router_calls_are_recorded_with_their_deployment_and_budgeted():
    user = uid()
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "smart",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "mock_response": "x" * 40,
                    "max_tokens": 10,
                    **PRICES,
                },
                "model_info": {"id": "dep-a"},
            }
        ]
    )
    budgets.add(limit=2 * CALL_COST, scope="user", id=user)
    for _ in range(2):
        router.completion(model="smart", messages=MESSAGES, metadata={"user": user})
    with pytest.raises(llmswitch.BudgetExceededError):
        router.completion(model="smart", messages=MESSAGES, metadata={"user": user})
    recs = [r for r in llmswitch.spend.records() if r["user"] == user]
    assert [(r["status"], r["deployment"]) for r in recs] == [
        ("success", "dep-a"),
        ("success", "dep-a"),
        ("blocked", "dep-a"),
    ]
    assert recs[0]["cost"] == pytest.approx(CALL_COST)
