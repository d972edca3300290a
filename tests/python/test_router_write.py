"""Router: editing the model_list (set_model_list, add/upsert/delete_deployment), aliases,
wildcard groups, addressing a deployment by id, LiteLLM's mock testing switches, and the
module settings model_alias_map / model_fallbacks, against the mock provider and a
loopback server."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import llmswitch
from conftest import MESSAGES, TEST_KEY
from llmswitch.testing import ManualClock


def mock_dep(group: str, dep_id: str | None, reply: str = "ok", **params: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model_name": group,
        "litellm_params": {"model": "openai/gpt-4o", "mock_response": reply, **params},
    }
    if dep_id is not None:
        entry["model_info"] = {"id": dep_id}
    return entry


def content(r: Any) -> str:
    return r.choices[0].message.content


# --- writes -------------------------------------------------------------------------------


def test_add_upsert_delete_and_get_deployment():
    router = llmswitch.Router(model_list=[mock_dep("g", "d1", "one")])
    added = router.add_deployment(mock_dep("g2", None, "two"))
    assert added is not None
    new_id = added["model_info"]["id"]
    assert router.get_deployment(new_id)["model_name"] == "g2"
    assert content(router.completion(model="g2", messages=MESSAGES)) == "two"
    assert router.get_model_names() == ["g", "g2"]
    # Its id addresses it directly.
    assert router.completion(model=new_id, messages=MESSAGES)._hidden_params["model_id"] == new_id
    # An id that exists: nothing added (LiteLLM returns None).
    assert router.add_deployment(mock_dep("other", "d1", "x")) is None
    assert [d["model_info"]["id"] for d in router.model_list] == ["d1", new_id]

    # Upsert: unchanged is None; changed replaces and moves to the end.
    assert router.upsert_deployment(mock_dep("g", "d1", "one")) is None
    replaced = router.upsert_deployment(mock_dep("g", "d1", "uno"))
    assert replaced is not None and replaced["litellm_params"]["mock_response"] == "uno"
    assert [d["model_info"]["id"] for d in router.model_list] == [new_id, "d1"]
    assert content(router.completion(model="g", messages=MESSAGES)) == "uno"
    assert router.get_deployment("d1")["litellm_params"]["mock_response"] == "uno"
    # Upsert of a new id adds.
    assert router.upsert_deployment(mock_dep("g3", "d3", "three")) is not None
    assert content(router.completion(model="g3", messages=MESSAGES)) == "three"

    # Delete returns the entry; the group goes with its last deployment.
    removed = router.delete_deployment(new_id)
    assert removed is not None and removed["model_name"] == "g2"
    assert router.delete_deployment(new_id) is None
    assert router.get_deployment(new_id) is None
    with pytest.raises(llmswitch.BadRequestError, match="No model group named 'g2'"):
        router.completion(model="g2", messages=MESSAGES)
    assert router.get_model_names() == ["g", "g3"]


def test_set_model_list_replaces_deployments_and_keeps_state_by_id():
    clock = ManualClock()
    router = llmswitch.Router(
        model_list=[mock_dep("g", "bad", "litellm.InternalServerError"), mock_dep("g", "good", "fine")],
        num_retries=0,
        allowed_fails=0,
        cooldown_time=60,
        clock=clock,
    )
    with pytest.raises(llmswitch.InternalServerError):
        router.completion(model="bad", messages=MESSAGES)
    assert router.stats()["bad"]["cooling_down"]
    router.set_model_list(
        [
            mock_dep("g", "bad", "litellm.InternalServerError"),
            mock_dep("g", "good", "fine"),
            mock_dep("h", None, "h"),
        ]
    )
    # The cooldown survived the edit; settings (num_retries, cooldowns) stay.
    assert router.stats()["bad"]["cooling_down"]
    for _ in range(5):
        assert router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] == "good"
    assert [d["model_name"] for d in router.model_list] == ["g", "g", "h"]
    generated = router.model_list[2]["model_info"]["id"]
    assert router.get_deployment(generated) is router.model_list[2]
    router.set_model_list([])
    assert router.model_list == [] and router.get_model_names() == []


def test_an_invalid_edit_changes_nothing():
    router = llmswitch.Router(
        model_list=[mock_dep("a", "a1", "from a"), mock_dep("b", "b1")], fallbacks=[{"a": ["b"]}]
    )
    with pytest.raises(llmswitch.BadRequestError, match="nosuch"):
        router.add_deployment({"model_name": "x", "litellm_params": {"model": "nosuch/m"}})
    # Deleting the only deployment of a fallback target breaks the config: refused.
    with pytest.raises(llmswitch.BadRequestError, match="unknown model group 'b'"):
        router.delete_deployment("b1")
    assert [d["model_info"]["id"] for d in router.model_list] == ["a1", "b1"]
    assert content(router.completion(model="a", messages=MESSAGES)) == "from a"


def test_pydantic_deployment_objects_are_accepted():
    class Deployment:  # LiteLLM's pydantic Deployment, as far as the router reads it
        def model_dump(self) -> dict[str, Any]:
            return {
                "model_name": "g",
                "litellm_params": {"model": "openai/gpt-4o", "mock_response": "typed", "api_key": None},
                "model_info": {"id": "t1"},
            }

    router = llmswitch.Router(model_list=[])
    assert router.add_deployment(Deployment())["model_info"]["id"] == "t1"
    assert content(router.completion(model="g", messages=MESSAGES)) == "typed"


# --- aliases, wildcards, ids --------------------------------------------------------------


def test_model_group_alias_routes_and_lists():
    router = llmswitch.Router(
        model_list=[mock_dep("smart", "s1", "from smart")],
        model_group_alias={"gpt-4": "smart", "secret": {"model": "smart", "hidden": True}},
    )
    for name in ("gpt-4", "secret"):
        r = router.completion(model=name, messages=MESSAGES)
        assert content(r) == "from smart"
        assert r._hidden_params["model_group"] == "smart"
    assert router.model_group_alias["gpt-4"] == "smart"
    assert router.get_model_names() == ["smart", "gpt-4"]
    assert [d["model_name"] for d in router.get_model_list()] == ["gpt-4", "smart"]
    assert [d["model_name"] for d in router.get_model_list("secret")] == ["secret"]
    assert router.get_model_group_info("gpt-4")["model_group"] == "gpt-4"
    assert router.get_model_group_info("secret") is None


def test_wildcard_groups_take_the_requested_model(server):
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "openai/*",
                "litellm_params": {"model": "openai/*", "api_key": TEST_KEY, "api_base": server.base_url},
                "model_info": {"id": "wild"},
            },
            mock_dep("*", "catch-all", "caught", model="*"),
        ]
    )
    r = router.completion(model="openai/gpt-4.1-mini", messages=MESSAGES)
    assert r._hidden_params["model_id"] == "wild"
    assert server.requests[-1]["body"]["model"] == "gpt-4.1-mini"
    r = router.completion(model="anthropic/claude-3-5-haiku-latest", messages=MESSAGES)
    assert r._hidden_params["model_id"] == "catch-all"
    assert content(r) == "caught"
    # A name only a wildcard group serves is listed under that name.
    assert [d["model_info"]["id"] for d in router.get_model_list("openai/o3")] == ["wild"]


def test_a_deployment_is_addressed_by_its_id():
    router = llmswitch.Router(model_list=[mock_dep("g", "one", "1"), mock_dep("g", "two", "2")])
    assert {content(router.completion(model="two", messages=MESSAGES)) for _ in range(6)} == {"2"}


def test_mock_testing_fallbacks_runs_the_fallbacks():
    router = llmswitch.Router(
        model_list=[mock_dep("a", "a1", "from a"), mock_dep("b", "b1", "from b")],
        fallbacks=[{"a": ["b"]}],
    )
    r = router.completion(model="a", messages=MESSAGES, mock_testing_fallbacks=True)
    assert content(r) == "from b"
    assert r._hidden_params["attempts"] == ["first a: InternalServerError", "fallback b/b1: ok"]
    assert router.stats()["a1"]["failures"] == 0
    with pytest.raises(llmswitch.InternalServerError, match="mock exception for model=b"):
        router.completion(model="b", messages=MESSAGES, mock_testing_fallbacks=True)
    with pytest.raises(llmswitch.ContextWindowExceededError):
        router.completion(model="b", messages=MESSAGES, mock_testing_context_fallbacks=True)


def test_an_exception_as_mock_response_in_litellm_params():
    router = llmswitch.Router(
        model_list=[
            mock_dep("a", "a1", llmswitch.RateLimitError("slow down", llm_provider="openai", model="gpt-4o")),
            mock_dep("b", "b1", "from b"),
        ],
        num_retries=0,
        fallbacks=[{"a": ["b"]}],
    )
    r = router.completion(model="a", messages=MESSAGES)
    assert r._hidden_params["attempts"] == ["first a/a1: RateLimitError", "fallback b/b1: ok"]
    with pytest.raises(llmswitch.RateLimitError, match="slow down"):
        router.completion(model="a1", messages=MESSAGES, fallbacks=[])
    # The caller's own entry (with its exception object) is what model_list shows.
    assert isinstance(router.model_list[0]["litellm_params"]["mock_response"], llmswitch.RateLimitError)


def test_from_config_gives_this_class_with_async_methods(tmp_path):
    class Mine(llmswitch.Router):
        pass

    config = {
        "model_list": [mock_dep("g", "d", "hi")],
        "router_settings": {"model_group_alias": {"alias": "g"}},
    }
    router = Mine.from_config(config)
    assert type(router) is Mine
    assert inspect.iscoroutinefunction(router.acompletion)
    assert inspect.iscoroutinefunction(llmswitch.Router.from_config(config).aembedding)
    assert router.model_list[0]["model_info"]["id"] == "d"
    assert router.model_group_alias == {"alias": "g"}
    r = asyncio.run(router.acompletion(model="alias", messages=MESSAGES))
    assert content(r) == "hi"
    router.add_deployment(mock_dep("h", "h1", "added"))
    assert content(router.completion(model="h", messages=MESSAGES)) == "added"


# --- module settings ----------------------------------------------------------------------


@pytest.fixture()
def restore_settings():
    yield
    llmswitch.model_alias_map = {}
    llmswitch.model_fallbacks = None


def test_model_alias_map_renames_the_model(restore_settings, server):
    llmswitch.model_alias_map = {"openai/my-model": "openai/gpt-4o-mini"}
    kw = {"messages": MESSAGES, "api_key": TEST_KEY, "api_base": server.base_url}
    r = llmswitch.completion(model="openai/my-model", **kw)
    assert server.requests[-1]["body"]["model"] == "gpt-4o-mini"
    assert content(r) == "Hello from the mock server."
    asyncio.run(llmswitch.acompletion(model="openai/my-model", **kw))
    assert server.requests[-1]["body"]["model"] == "gpt-4o-mini"
    llmswitch.model_alias_map = {}
    llmswitch.completion(model="openai/my-model", **kw)
    assert server.requests[-1]["body"]["model"] == "my-model"
    with pytest.raises(llmswitch.BadRequestError, match="model_alias_map"):
        llmswitch.model_alias_map = {"x": 3}


def test_model_fallbacks_and_per_call_fallbacks(restore_settings):
    broken = "litellm.ServiceUnavailableError"
    llmswitch.model_fallbacks = [{"model": "openai/gpt-4o", "mock_response": "from the fallback"}]
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, mock_response=broken)
    assert content(r) == "from the fallback"
    r = asyncio.run(llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, mock_response=broken))
    assert content(r) == "from the fallback"
    chunks = list(
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, mock_response=broken, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from the fallback"
    # The call's own fallbacks win; the last error is raised when all fail.
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.completion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            mock_response=broken,
            fallbacks=[{"model": "openai/gpt-4o", "mock_response": "litellm.RateLimitError"}],
        )
    llmswitch.model_fallbacks = None
    with pytest.raises(llmswitch.ServiceUnavailableError):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, mock_response=broken)
    # A plain list of names: a model that cannot even be prepared falls through to the next.
    r = llmswitch.completion(
        model="nosuch/model", messages=MESSAGES, mock_response="ok", fallbacks=["openai/gpt-4o"]
    )
    assert content(r) == "ok"


def test_standin_settings_reach_the_core():
    script = """
        import inspect, json
        import llmswitch
        litellm = llmswitch.install_as_litellm()
        litellm.model_alias_map = {"nick": "openai/gpt-4o"}
        r = litellm.completion(model="nick", messages=[{"role": "user", "content": "hi"}],
                               mock_response="aliased")
        litellm.model_fallbacks = ["openai/gpt-4o-mini"]
        f = litellm.completion(model="nosuch/x", messages=[{"role": "user", "content": "hi"}],
                               mock_response="fell back")
        router = litellm.Router.from_config({"model_list": []})
        print(json.dumps({"alias": r.choices[0].message.content,
                          "shared": llmswitch.model_alias_map == {"nick": "openai/gpt-4o"},
                          "fallback": f.choices[0].message.content,
                          "async": inspect.iscoroutinefunction(router.acompletion)}))
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"alias": "aliased", "shared": True, "fallback": "fell back", "async": True}
