//! Router behaviour against the mock provider and the loopback mock server, with an
//! injected clock for cooldowns and per-minute windows.

use super::*;
use crate::mock_server::{MockServer, Scripted, ScriptedBody};
use crate::types::{ContentPart, ImageUrl, Message, MessageContent, Role as MsgRole};
use serde_json::{json, Value};

fn router_with(model_list: Value, settings: Value, clock: Arc<dyn Clock>) -> Router {
    let settings = RouterSettings::from_map(settings.as_object().cloned().unwrap_or_default())
        .expect("settings");
    let config = RouterConfig::new(model_list, settings).expect("config");
    Router::build(config, clock, no_catalogue, default_token_counter).expect("router")
}

/// Tests give every fact explicitly, so a change of the built-in catalogue does not move them.
fn no_catalogue(_: &str, _: &str) -> ModelFacts {
    ModelFacts::default()
}

fn router(model_list: Value, settings: Value) -> Router {
    router_with(model_list, settings, Arc::new(SystemClock::new()))
}

fn mock(group: &str, id: &str, reply: &str) -> Value {
    json!({"model_name": group, "litellm_params": {"model": "openai/gpt-4o", "mock_response": reply},
           "model_info": {"id": id}})
}

fn call(model: &str) -> RouterRequest {
    RouterRequest::new(model, ChatRequest::new(model, vec![Message::user("hi")]))
}

fn client() -> HttpClient {
    HttpClient::new().unwrap()
}

fn stat<'a>(stats: &'a [DeploymentStats], id: &str) -> &'a DeploymentStats {
    stats.iter().find(|s| s.model_id == id).unwrap()
}

#[tokio::test]
async fn answers_and_names_the_deployment() {
    let r = router(json!([mock("g", "d1", "hello")]), json!({}));
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(done.response.text(), Some("hello"));
    assert_eq!(done.meta.model_id.as_deref(), Some("d1"));
    assert_eq!(done.meta.model_group.as_deref(), Some("g"));
    assert_eq!(done.meta.attempts, vec!["first g/d1: ok"]);
    let s = r.stats();
    assert_eq!(stat(&s, "d1").successes, 1);
    assert_eq!(stat(&s, "d1").in_flight, 0);
}

#[tokio::test]
async fn a_json_body_routes_through_the_front_door() {
    let r = router(
        json!([
            mock("g", "d1", "hello"),
            mock("backup", "d2", "from backup")
        ]),
        json!({}),
    );
    let body = json!({"model": "g", "messages": [{"role": "user", "content": "hi"}],
                      "temperature": 0.3, "hedge": false, "fallbacks": ["backup"],
                      "num_retries": 1, "min_capabilities": ["vision"]});
    let args = CallArgs::from_json_map(body.as_object().unwrap()).unwrap();
    let req = RouterRequest::from_args::<ChatRequest>(args).unwrap();
    assert_eq!(req.model, "g");
    assert!(matches!(req.hedge, HedgeChoice::Off));
    assert_eq!(req.fallbacks, Some(vec!["backup".to_owned()]));
    assert_eq!(req.num_retries, Some(1));
    assert!(req.min_capabilities.is_some_and(|c| c.vision));
    let Payload::Chat(chat) = &req.payload else {
        panic!("a chat payload")
    };
    assert_eq!(chat.params.temperature, Some(0.3));
    let mut req = req;
    req.min_capabilities = None;
    let done = r.completion(&client(), &req).await.unwrap();
    assert_eq!(done.response.text(), Some("hello"));

    let bad = json!({"model": "g", "hedge": {"after_ms": "soon"}});
    let e = RouterRequest::from_args::<ChatRequest>(
        CallArgs::from_json_map(bad.as_object().unwrap()).unwrap(),
    )
    .unwrap_err();
    assert!(e.message.starts_with("hedge"), "{}", e.message);
    let typo = json!({"model": "g", "fallback": ["x"]});
    let e = CallArgs::from_json_map(typo.as_object().unwrap()).unwrap_err();
    assert!(e.to_string().contains("did you mean 'fallbacks'"), "{e}");
}

#[tokio::test]
async fn unknown_group_and_bad_messages_fail_before_any_attempt() {
    let r = router(json!([mock("g", "d1", "hello")]), json!({}));
    let e = r.completion(&client(), &call("nope")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(
        e.message.contains("'g'") || e.message.contains("g"),
        "{}",
        e.message
    );
    let mut c = call("g");
    c.payload = Payload::Chat(ChatRequest::new("g", vec![]));
    let e = r.completion(&client(), &c).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(r.stats()[0].requests_this_minute, 0);
}

#[tokio::test]
async fn retry_goes_to_another_deployment() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "litellm.RateLimitError", "order": 1}, "model_info": {"id": "bad"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "ok", "order": 2}, "model_info": {"id": "good"}},
        ]),
        json!({}),
    );
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(
        done.meta.attempts,
        vec!["first g/bad: RateLimitError", "retry g/good: ok"]
    );
    assert_eq!(done.meta.retries, 1);
    assert_eq!(done.meta.model_id.as_deref(), Some("good"));
}

#[tokio::test]
async fn order_restricts_to_the_lowest_available() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "a", "order": 2}, "model_info": {"id": "a"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "b", "order": 1}, "model_info": {"id": "b"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "c"}, "model_info": {"id": "c"}},
        ]),
        json!({}),
    );
    for _ in 0..20 {
        let done = r.completion(&client(), &call("g")).await.unwrap();
        assert_eq!(done.meta.model_id.as_deref(), Some("b"));
    }
}

#[tokio::test]
async fn non_retryable_errors_are_not_retried() {
    let r = router(
        json!([
            mock("g", "a", "litellm.BadRequestError"),
            mock("g", "b", "litellm.BadRequestError")
        ]),
        json!({"num_retries": 3}),
    );
    let e = r.completion(&client(), &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.attempts.len(), 1, "{:?}", e.attempts);
}

#[tokio::test]
async fn retry_policy_sets_counts_per_class() {
    let r = router(
        json!([
            mock("g", "a", "litellm.RateLimitError"),
            mock("g", "b", "litellm.RateLimitError"),
            mock("g", "c", "litellm.RateLimitError"),
            mock("g", "d", "litellm.RateLimitError")
        ]),
        json!({"num_retries": 0, "retry_policy": {"RateLimitErrorRetries": 3}, "allowed_fails": 100}),
    );
    let e = r.completion(&client(), &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert_eq!(e.attempts.len(), 4, "{:?}", e.attempts);
    // Each retry went to a deployment not tried yet.
    let ids: std::collections::HashSet<&str> = e
        .attempts
        .iter()
        .map(|a| a.split('/').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn cooldown_entry_and_expiry_follow_the_clock() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([mock("g", "d1", "litellm.InternalServerError")]),
        json!({"allowed_fails": 1, "cooldown_time": 10, "num_retries": 0}),
        clock.clone(),
    );
    let c = client();
    // One failure is allowed; the second within the minute starts the cooldown.
    let e = r.completion(&c, &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InternalServer);
    assert!(!r.stats()[0].cooling_down);
    let e = r.completion(&c, &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InternalServer);
    let s = &r.stats()[0];
    assert!(s.cooling_down);
    assert_eq!(s.cooldown_remaining, Some(10.0));
    assert_eq!(s.cooldowns, 1);
    // While cooling down nothing is sent: the router itself says no.
    let e = r.completion(&c, &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RouterRateLimit);
    assert_eq!(e.retry_after, Some(10.0));
    assert_eq!(
        e.attempts,
        vec!["first g: no deployment available (RouterRateLimitError)"]
    );
    assert_eq!(r.stats()[0].failures, 2);
    clock.advance(Duration::from_secs(4));
    assert_eq!(r.stats()[0].cooldown_remaining, Some(6.0));
    clock.advance(Duration::from_secs(6));
    assert!(!r.stats()[0].cooling_down);
    let e = r.completion(&c, &call("g")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InternalServer);
    assert_eq!(r.stats()[0].failures, 3);
}

#[tokio::test]
async fn failures_older_than_a_minute_do_not_count() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([mock("g", "d1", "litellm.InternalServerError")]),
        json!({"allowed_fails": 1, "num_retries": 0}),
        clock.clone(),
    );
    let c = client();
    let _ = r.completion(&c, &call("g")).await;
    clock.advance(Duration::from_secs(61));
    let _ = r.completion(&c, &call("g")).await;
    assert!(!r.stats()[0].cooling_down);
}

#[tokio::test]
async fn disable_cooldowns_and_bad_requests_never_cool_down() {
    let r = router(
        json!([mock("g", "d1", "litellm.InternalServerError")]),
        json!({"allowed_fails": 0, "num_retries": 0, "disable_cooldowns": true}),
    );
    let _ = r.completion(&client(), &call("g")).await;
    assert!(!r.stats()[0].cooling_down);
    let r = router(
        json!([mock("g", "d1", "litellm.BadRequestError")]),
        json!({"allowed_fails": 0, "num_retries": 0}),
    );
    let _ = r.completion(&client(), &call("g")).await;
    assert!(!r.stats()[0].cooling_down);
}

#[tokio::test]
async fn rate_limit_retry_after_sets_the_cooldown() {
    let server = MockServer::start(0).await.unwrap();
    server.enqueue(Scripted {
        status: 429,
        headers: vec![("retry-after".into(), "30".into())],
        body: ScriptedBody::Json(json!({"error": {"message": "slow down", "type": "rate_limit"}})),
        delay: None,
    });
    let clock = Arc::new(ManualClock::new());
    let base = format!("{}/v1", server.url());
    let r = router_with(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", "api_base": base, "order": 1}, "model_info": {"id": "limited"}},
            mock("g", "spare", "from spare"),
        ]),
        json!({"allowed_fails": 100}),
        clock.clone(),
    );
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(
        done.meta.attempts,
        vec!["first g/limited: RateLimitError", "retry g/spare: ok"]
    );
    let s = r.stats();
    assert_eq!(stat(&s, "limited").cooldown_remaining, Some(30.0));
    // The cooled-down deployment is skipped although its order is lower.
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(done.meta.attempts, vec!["first g/spare: ok"]);
    clock.advance(Duration::from_secs(30));
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(done.meta.attempts, vec!["first g/limited: ok"]);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn single_deployment_waits_out_retry_after() {
    let server = MockServer::start(0).await.unwrap();
    server.enqueue(Scripted {
        status: 429,
        headers: vec![("retry-after-ms".into(), "200".into())],
        body: ScriptedBody::Json(json!({"error": {"message": "slow down"}})),
        delay: None,
    });
    let base = format!("{}/v1", server.url());
    let r = router(
        json!([{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", "api_base": base}}]),
        json!({}),
    );
    let started = Instant::now();
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(done.meta.retries, 1);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn fallbacks_run_in_order() {
    let r = router(
        json!([
            mock("smart", "s", "litellm.InternalServerError"),
            mock("fast", "f", "litellm.Timeout"),
            mock("cheap", "c", "from cheap"),
            mock("unused", "u", "never")
        ]),
        json!({"num_retries": 0, "fallbacks": [{"smart": ["fast", "cheap", "unused"]}]}),
    );
    let done = r.completion(&client(), &call("smart")).await.unwrap();
    assert_eq!(done.response.text(), Some("from cheap"));
    assert_eq!(
        done.meta.attempts,
        vec![
            "first smart/s: InternalServerError",
            "fallback fast/f: Timeout",
            "fallback cheap/c: ok"
        ]
    );
    assert_eq!(done.meta.model_group.as_deref(), Some("cheap"));
}

#[tokio::test]
async fn every_fallback_kind_has_its_chain() {
    let list = json!([
        mock("main", "m-cw", "litellm.ContextWindowExceededError"),
        mock("main2", "m-cp", "litellm.ContentPolicyViolationError"),
        mock("main3", "m-other", "litellm.AuthenticationError"),
        mock("main4", "m-default", "litellm.NotFoundError"),
        mock("long", "l", "from long"),
        mock("safe", "s", "from safe"),
        mock("generic", "g", "from generic"),
        mock("default", "d", "from default"),
    ]);
    let r = router(
        list,
        json!({
            "num_retries": 0,
            "context_window_fallbacks": [{"main": ["long"]}],
            "content_policy_fallbacks": [{"main2": ["safe"]}],
            "fallbacks": [{"main": ["generic"]}, {"main2": ["generic"]}, {"main3": ["generic"]}],
            "default_fallbacks": ["default"],
        }),
    );
    let c = client();
    let text = |d: &Completion| d.response.text().unwrap_or_default().to_owned();
    assert_eq!(
        text(&r.completion(&c, &call("main")).await.unwrap()),
        "from long"
    );
    assert_eq!(
        text(&r.completion(&c, &call("main2")).await.unwrap()),
        "from safe"
    );
    assert_eq!(
        text(&r.completion(&c, &call("main3")).await.unwrap()),
        "from generic"
    );
    assert_eq!(
        text(&r.completion(&c, &call("main4")).await.unwrap()),
        "from default"
    );
    // A per-call chain replaces the router's generic one.
    let mut per_call = call("main3");
    per_call.fallbacks = Some(vec!["safe".into()]);
    assert_eq!(
        text(&r.completion(&c, &per_call).await.unwrap()),
        "from safe"
    );
}

#[tokio::test]
async fn exhausted_chain_raises_the_last_error_with_the_path() {
    let r = router(
        json!([
            mock("a", "a1", "litellm.InternalServerError"),
            mock("b", "b1", "litellm.ServiceUnavailableError"),
            mock("c", "c1", "never")
        ]),
        json!({"num_retries": 1, "fallbacks": [{"a": ["b"]}], "max_fallbacks": 5, "allowed_fails": 100}),
    );
    let e = r.completion(&client(), &call("a")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServiceUnavailable);
    assert_eq!(
        e.attempts,
        vec![
            "first a/a1: InternalServerError",
            "retry a/a1: InternalServerError",
            "fallback b/b1: ServiceUnavailableError",
            "retry b/b1: ServiceUnavailableError",
        ]
    );
}

#[tokio::test]
async fn a_wildcard_chain_skips_the_failed_group() {
    let r = router(
        json!([
            mock("a", "a1", "litellm.InternalServerError"),
            mock("b", "b1", "from b")
        ]),
        json!({"num_retries": 0, "fallbacks": [{"*": ["a", "b"]}]}),
    );
    let done = r.completion(&client(), &call("a")).await.unwrap();
    assert_eq!(
        done.meta.attempts,
        vec!["first a/a1: InternalServerError", "fallback b/b1: ok"]
    );
}

#[tokio::test]
async fn max_fallbacks_bounds_the_chain() {
    let r = router(
        json!([
            mock("a", "a1", "litellm.InternalServerError"),
            mock("b", "b1", "litellm.InternalServerError"),
            mock("c", "c1", "from c")
        ]),
        json!({"num_retries": 0, "fallbacks": [{"a": ["b", "c"]}], "max_fallbacks": 1}),
    );
    let e = r.completion(&client(), &call("a")).await.unwrap_err();
    assert_eq!(e.attempts.len(), 2, "{:?}", e.attempts);
}

#[tokio::test]
async fn cooled_down_group_falls_back() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([
            mock("a", "a1", "litellm.InternalServerError"),
            mock("b", "b1", "from b")
        ]),
        json!({"num_retries": 0, "allowed_fails": 0, "fallbacks": [{"a": ["b"]}]}),
        clock,
    );
    let c = client();
    let _ = r.completion(&c, &call("a")).await.unwrap();
    assert!(stat(&r.stats(), "a1").cooling_down);
    let done = r.completion(&c, &call("a")).await.unwrap();
    assert_eq!(
        done.meta.attempts,
        vec![
            "first a: no deployment available (RouterRateLimitError)",
            "fallback b/b1: ok"
        ]
    );
}

#[test]
fn config_errors_are_caught_at_build() {
    let settings = RouterSettings::from_map(
        json!({"fallbacks": [{"a": ["nope"]}]})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    let config = RouterConfig::new(json!([mock("a", "x", "hi")]), settings).unwrap();
    let e = Router::new(config).unwrap_err();
    assert!(e.message.contains("'nope'"), "{}", e.message);
    let config = RouterConfig::new(
        json!([mock("a", "x", "hi"), mock("b", "x", "hi")]),
        RouterSettings::default(),
    )
    .unwrap();
    assert!(Router::new(config).unwrap_err().message.contains("unique"));
}

#[test]
fn usage_based_respects_rpm_per_minute() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "rpm": 2}, "model_info": {"id": "a"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "rpm": 3}, "model_info": {"id": "b"}},
        ]),
        json!({"routing_strategy": "usage-based-routing"}),
        clock.clone(),
    );
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let mut picked = Vec::new();
    for _ in 0..5 {
        picked.push(r.pick("g", &req, false).unwrap().deployment.id.clone());
    }
    assert_eq!(picked.iter().filter(|i| *i == "a").count(), 2);
    assert_eq!(picked.iter().filter(|i| *i == "b").count(), 3);
    let e = r.pick("g", &req, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RouterRateLimit);
    assert!(
        e.message.contains("2 at their rpm/tpm/parallel limit"),
        "{}",
        e.message
    );
    assert_eq!(e.retry_after, Some(60.0));
    clock.advance(Duration::from_secs(60));
    assert!(r.pick("g", &req, false).is_ok());
}

#[tokio::test]
async fn usage_based_skips_a_full_tpm_window() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "a", "tpm": 5}, "model_info": {"id": "small"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "b", "tpm": 1000000}, "model_info": {"id": "big"}},
        ]),
        json!({"routing_strategy": "usage-based-routing"}),
        clock.clone(),
    );
    let c = client();
    // Both start empty; whichever answers first, one call (9 tokens) fills "small".
    for _ in 0..6 {
        r.completion(&c, &call("g")).await.unwrap();
    }
    let s = r.stats();
    assert!(stat(&s, "small").tokens_this_minute >= 5);
    assert_eq!(stat(&s, "small").requests_this_minute, 1, "{s:?}");
    clock.advance(Duration::from_secs(60));
    assert_eq!(stat(&r.stats(), "small").tokens_this_minute, 0);
}

#[test]
fn max_parallel_requests_caps_in_flight() {
    let r = router(
        json!([{"model_name": "g", "litellm_params": {"model": "openai/x", "max_parallel_requests": 2}}]),
        json!({}),
    );
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let a = r.pick("g", &req, false).unwrap();
    let _b = r.pick("g", &req, false).unwrap();
    assert!(r.pick("g", &req, false).is_err());
    assert_eq!(r.stats()[0].in_flight, 2);
    drop(a);
    assert!(r.pick("g", &req, false).is_ok());
}

#[test]
fn concurrent_picks_never_exceed_rpm() {
    let r = Arc::new(router_with(
        json!([{"model_name": "g", "litellm_params": {"model": "openai/x", "rpm": 500}}]),
        json!({"routing_strategy": "usage-based-routing"}),
        Arc::new(ManualClock::new()),
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || {
                let req = ChatRequest::new("g", vec![Message::user("hi")]);
                (0..300)
                    .filter(|_| r.pick("g", &req, false).is_ok())
                    .count()
            })
        })
        .collect();
    let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(ok, 500);
}

fn image_request() -> ChatRequest {
    ChatRequest::new(
        "g",
        vec![Message {
            role: MsgRole::User,
            content: Some(MessageContent::Parts(vec![ContentPart {
                kind: "image_url".into(),
                text: None,
                image_url: Some(ImageUrl {
                    url: "https://example.invalid/cat.png".into(),
                    detail: None,
                    extra: Default::default(),
                }),
                extra: Default::default(),
            }])),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Default::default(),
        }],
    )
}

#[test]
fn cost_routing_picks_the_cheapest_capable() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/big", "input_cost_per_token": 5e-6, "output_cost_per_token": 1.5e-5},
             "model_info": {"id": "big", "supports_vision": true, "max_input_tokens": 100000}},
            {"model_name": "g", "litellm_params": {"model": "openai/mini", "input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7},
             "model_info": {"id": "mini", "supports_vision": false, "max_input_tokens": 100000}},
            {"model_name": "g", "litellm_params": {"model": "openai/tiny", "input_cost_per_token": 1e-8, "output_cost_per_token": 1e-8},
             "model_info": {"id": "tiny", "max_input_tokens": 50}},
        ]),
        json!({"routing_strategy": "cost-based-routing"}),
    );
    let text = ChatRequest::new("g", vec![Message::user("hi")]);
    assert_eq!(r.pick("g", &text, false).unwrap().deployment.id, "tiny");
    // tiny's window is too small for a long prompt (or a large max_tokens).
    let long = ChatRequest::new("g", vec![Message::user("word ".repeat(100))]);
    assert_eq!(r.pick("g", &long, false).unwrap().deployment.id, "mini");
    let mut big_output = text.clone();
    big_output.params.max_tokens = Some(100);
    assert_eq!(
        r.pick("g", &big_output, false).unwrap().deployment.id,
        "mini"
    );
    // Images need vision (mini says it has none) and count hundreds of tokens (over tiny's
    // window): only big can take them.
    assert_eq!(
        r.pick("g", &image_request(), false).unwrap().deployment.id,
        "big"
    );
    // Explicit capabilities exclude a deployment only when it is known to lack them.
    let no_vision_info = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/a", "input_cost_per_token": 1e-6}, "model_info": {"id": "known", "supports_vision": true}},
            {"model_name": "g", "litellm_params": {"model": "openai/b", "input_cost_per_token": 1e-8}, "model_info": {"id": "unknown"}},
        ]),
        json!({"routing_strategy": "cost-based-routing"}),
    );
    assert_eq!(
        no_vision_info
            .pick("g", &image_request(), false)
            .unwrap()
            .deployment
            .id,
        "unknown"
    );
}

#[test]
fn pre_call_checks_and_min_capabilities() {
    let list = json!([
        {"model_name": "g", "litellm_params": {"model": "openai/a"}, "model_info": {"id": "small", "max_input_tokens": 20, "supports_function_calling": true}},
        {"model_name": "g", "litellm_params": {"model": "openai/b"}, "model_info": {"id": "large", "max_input_tokens": 1000, "supports_function_calling": false}},
    ]);
    let r = router(
        list.clone(),
        json!({"enable_pre_call_checks": true, "seed": 1}),
    );
    let long = ChatRequest::new("g", vec![Message::user("word ".repeat(30))]);
    for _ in 0..10 {
        assert_eq!(r.pick("g", &long, false).unwrap().deployment.id, "large");
    }
    let huge = ChatRequest::new("g", vec![Message::user("word ".repeat(1000))]);
    let e = r.pick("g", &huge, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
    // Without pre-call checks the window is not looked at.
    let r = router(list.clone(), json!({"seed": 1}));
    let ids: std::collections::HashSet<String> = (0..30)
        .map(|_| r.pick("g", &huge, false).unwrap().deployment.id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    // min_capabilities per group.
    let r = router(
        list,
        json!({"min_capabilities": {"g": ["function_calling"]}}),
    );
    for _ in 0..10 {
        assert_eq!(r.pick("g", &huge, false).unwrap().deployment.id, "small");
    }
}

#[tokio::test]
async fn pre_call_context_error_goes_to_context_window_fallbacks() {
    let r = router(
        json!([
            {"model_name": "short", "litellm_params": {"model": "openai/a", "mock_response": "short"}, "model_info": {"max_input_tokens": 10}},
            {"model_name": "long", "litellm_params": {"model": "openai/b", "mock_response": "long"}, "model_info": {"max_input_tokens": 100000}},
        ]),
        json!({"enable_pre_call_checks": true, "context_window_fallbacks": [{"short": ["long"]}]}),
    );
    let mut c = call("short");
    c.payload = Payload::Chat(ChatRequest::new(
        "short",
        vec![Message::user("word ".repeat(100))],
    ));
    let done = r.completion(&client(), &c).await.unwrap();
    assert_eq!(done.response.text(), Some("long"));
    assert_eq!(
        done.meta.attempts[0],
        "first short: no deployment available (ContextWindowExceededError)"
    );
}

#[tokio::test]
async fn latency_routing_converges_on_the_fast_deployment() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "slow", "mock_delay": 0.05}, "model_info": {"id": "slow"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "fast"}, "model_info": {"id": "fast"}},
        ]),
        json!({"routing_strategy": "latency-based-routing", "seed": 3}),
    );
    let c = client();
    let mut last = Vec::new();
    for i in 0..20 {
        let done = r.completion(&c, &call("g")).await.unwrap();
        if i >= 10 {
            last.push(done.meta.model_id.unwrap());
        }
    }
    assert!(last.iter().all(|id| id == "fast"), "{last:?}");
    let s = r.stats();
    assert!(stat(&s, "slow").latency_ms.unwrap() > stat(&s, "fast").latency_ms.unwrap());
}

#[tokio::test]
async fn hedge_wins_on_a_slow_primary_and_cancels_it() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "slow", "mock_delay": 30, "order": 1}, "model_info": {"id": "slow"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "fast", "order": 2}, "model_info": {"id": "fast"}},
        ]),
        json!({"hedge": {"after_ms": 20}}),
    );
    let started = Instant::now();
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(done.response.text(), Some("fast"));
    assert_eq!(
        done.meta.attempts,
        vec!["hedge g/fast: ok", "first g/slow: cancelled"]
    );
    let s = r.stats();
    assert_eq!(stat(&s, "slow").cancelled, 1);
    assert_eq!(stat(&s, "fast").hedges, 1);
    assert_eq!(stat(&s, "slow").in_flight, 0);
    assert_eq!(stat(&s, "fast").in_flight, 0);
    // Hedging off for one call: the slow primary is awaited (here: cut by a timeout).
    let mut c = call("g");
    c.hedge = HedgeChoice::Off;
    c.options.timeout = Some(Duration::from_millis(50));
    c.num_retries = Some(0);
    // The mock provider ignores timeouts; only check that no hedge is sent.
    let fast_hedges = stat(&r.stats(), "fast").hedges;
    let _ = tokio::time::timeout(Duration::from_millis(100), r.completion(&client(), &c)).await;
    assert_eq!(stat(&r.stats(), "fast").hedges, fast_hedges);
}

#[tokio::test]
async fn fast_primary_sends_no_hedge() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "a", "order": 1}, "model_info": {"id": "a"}},
            {"model_name": "g", "litellm_params": {"model": "openai/x", "mock_response": "b", "order": 2}, "model_info": {"id": "b"}},
        ]),
        json!({"hedge": {"after_ms": 5000}}),
    );
    let done = r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(done.meta.attempts, vec!["first g/a: ok"]);
    assert_eq!(stat(&r.stats(), "b").hedges, 0);
}

#[tokio::test]
async fn stream_falls_back_before_the_first_chunk() {
    let server = MockServer::start(0).await.unwrap();
    // The first deployment's stream breaks before any chunk.
    server.enqueue(Scripted {
        status: 200,
        headers: vec![],
        body: ScriptedBody::Sse {
            frames: vec!["data: {}".into()],
            chunk_delay: None,
            drop_after: Some(0),
        },
        delay: None,
    });
    let base = format!("{}/v1", server.url());
    let r = router(
        json!([
            {"model_name": "a", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", "api_base": base}, "model_info": {"id": "broken"}},
            {"model_name": "b", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", "api_base": base}, "model_info": {"id": "ok"}},
        ]),
        json!({"num_retries": 0, "fallbacks": [{"a": ["b"]}]}),
    );
    let mut c = call("a");
    c.options.stream = true;
    let Answer::Stream(mut stream, meta, _) = r.route(&client(), &c).await.unwrap() else {
        panic!("expected a stream");
    };
    assert_eq!(
        meta.attempts,
        vec!["first a/broken: APIConnectionError", "fallback b/ok: ok"]
    );
    assert_eq!(meta.model_id.as_deref(), Some("ok"));
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if let Some(t) = chunk
            .choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
        {
            text.push_str(t);
        }
    }
    assert!(text.starts_with("Hello"), "{text}");
    assert_eq!(
        stat(&r.stats(), "ok").in_flight,
        0,
        "settled once read to its end, even before it is dropped"
    );
    drop(stream);
    let s = r.stats();
    assert_eq!(stat(&s, "ok").in_flight, 0);
    assert!(
        stat(&s, "ok").tokens_this_minute > 0,
        "stream usage is counted"
    );
    assert!(stat(&s, "ok").ttft_ms.is_some());
}

#[tokio::test]
async fn concurrent_calls_with_random_failures_all_end_correctly() {
    let replies = [
        "ok",
        "litellm.RateLimitError",
        "litellm.InternalServerError",
    ];
    let list: Vec<Value> = (0..5)
        .map(|i| mock("g", &format!("d{i}"), replies[i % 3]))
        .collect();
    let r = Arc::new(router(
        Value::Array(list),
        json!({"num_retries": 2, "allowed_fails": 1000, "routing_strategy": "least-busy"}),
    ));
    let shared = client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        let r = r.clone();
        let c = shared.clone();
        tasks.spawn(async move { r.completion(&c, &call("g")).await });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(res) = tasks.join_next().await {
        match res.unwrap() {
            Ok(done) => {
                ok += 1;
                assert!(done.meta.attempts.last().unwrap().ends_with(": ok"));
                let id = done.meta.model_id.unwrap();
                assert!(id == "d0" || id == "d3", "{id}");
            }
            Err(e) => {
                failed += 1;
                assert_eq!(e.attempts.len(), 3);
                let last = e.attempts.last().unwrap();
                assert!(
                    last.ends_with(e.kind.class_name()),
                    "{last} vs {}",
                    e.kind.class_name()
                );
            }
        }
    }
    assert_eq!(ok + failed, 2000);
    assert!(ok > 0);
    for s in r.stats() {
        assert_eq!(s.in_flight, 0);
    }
    let total: u64 = r.stats().iter().map(|s| s.successes + s.failures).sum();
    assert!(total >= 2000);
}

#[test]
fn the_default_catalogue_knows_prices_and_limits() {
    let f = default_catalogue("openai", "gpt-4o");
    assert!(f.input_cost_per_token.is_some() && f.output_cost_per_token.is_some());
    assert!(f.max_input_tokens.unwrap() >= 100_000);
    assert_eq!(f.supports_vision, Some(true));
    assert_eq!(
        default_catalogue("openai", "no-such-model-xyz"),
        ModelFacts::default()
    );
}

fn embed_call(model: &str, input: &[&str]) -> RouterRequest {
    RouterRequest::new(model, EmbeddingRequest::new(model, input.to_vec()))
}

fn http_embedder(group: &str, id: &str, server: &MockServer, extra: Value) -> Value {
    let mut params = json!({"model": "openai/text-embedding-3-small", "api_key": "k",
                            "api_base": format!("{}/v1", server.url())});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"model_name": group, "litellm_params": params, "model_info": {"id": id}})
}

#[tokio::test]
async fn embeddings_route_through_deployments_with_their_defaults() {
    let server = MockServer::start(0).await.unwrap();
    let r = router(
        json!([http_embedder(
            "emb",
            "e1",
            &server,
            json!({"dimensions": 4, "input_type": "passage", "temperature": 0.5, "input_cost_per_token": 0.001})
        )]),
        json!({}),
    );
    let done = r
        .embedding(&client(), &embed_call("emb", &["a", "b"]))
        .await
        .unwrap();
    assert_eq!(done.response.data.len(), 2);
    assert_eq!(done.meta.model_id.as_deref(), Some("e1"));
    assert_eq!(done.meta.model_group.as_deref(), Some("emb"));
    assert_eq!(done.meta.attempts, vec!["first emb/e1: ok"]);
    // The deployment's embedding fields are sent; its chat parameters are not.
    assert_eq!(
        server.requests()[0].body,
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4,
               "input_type": "passage"})
    );
    let prompt = done.response.usage.as_ref().unwrap().prompt_tokens;
    assert_eq!(done.meta.cost, Some(prompt as f64 * 0.001));
    let s = r.stats();
    assert_eq!(stat(&s, "e1").successes, 1);
    assert_eq!(stat(&s, "e1").in_flight, 0);
    assert!((stat(&s, "e1").spend - prompt as f64 * 0.001).abs() < 1e-12);
    // A chat call to route() still answers in full; an embedding is not a completion.
    assert!(r
        .completion(&client(), &embed_call("emb", &["a"]))
        .await
        .is_err());
}

#[tokio::test]
async fn embeddings_retry_on_another_deployment_then_fall_back() {
    let first = MockServer::start(0).await.unwrap();
    let second = MockServer::start(0).await.unwrap();
    let rate_limited = || Scripted {
        status: 429,
        headers: vec![("retry-after".into(), "0".into())],
        body: ScriptedBody::Json(json!({"error": {"message": "slow down", "type": "requests"}})),
        delay: None,
    };
    first.enqueue(rate_limited());
    let r = router(
        json!([
            http_embedder("emb", "a", &first, json!({"order": 1})),
            http_embedder("emb", "b", &second, json!({"order": 2})),
            mock("other", "m", "unused"),
        ]),
        json!({"num_retries": 1, "allowed_fails": 100, "fallbacks": [{"emb": ["other"]}]}),
    );
    let done = r
        .embedding(&client(), &embed_call("emb", &["x"]))
        .await
        .unwrap();
    assert_eq!(
        done.meta.attempts,
        vec!["first emb/a: RateLimitError", "retry emb/b: ok"]
    );
    assert_eq!(done.meta.retries, 1);
    assert_eq!((first.hits(), second.hits()), (1, 1));

    // Both fail: the fallback group (a mock deployment) answers.
    first.enqueue(Scripted {
        status: 500,
        body: ScriptedBody::Json(json!({"error": {"message": "down"}})),
        ..Default::default()
    });
    second.enqueue(Scripted {
        status: 500,
        body: ScriptedBody::Json(json!({"error": {"message": "down"}})),
        ..Default::default()
    });
    let done = r
        .embedding(&client(), &embed_call("emb", &["x"]))
        .await
        .unwrap();
    assert_eq!(done.meta.model_group.as_deref(), Some("other"));
    assert_eq!(done.meta.attempts.len(), 3, "{:?}", done.meta.attempts);
    assert_eq!(done.meta.attempts[2], "fallback other/m: ok");
}

#[tokio::test]
async fn embedding_input_is_checked_before_any_attempt() {
    let r = router(json!([mock("g", "d1", "x")]), json!({}));
    let e = r
        .embedding(&client(), &embed_call("g", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("empty list"), "{}", e.message);
    assert_eq!(r.stats()[0].requests_this_minute, 0);
}

#[tokio::test]
async fn embedding_pre_call_checks_use_the_longest_input() {
    let r = router(
        json!([
            {"model_name": "g", "litellm_params": {"model": "openai/small-window", "mock_response": "x"},
             "model_info": {"id": "small", "max_input_tokens": 20}},
            {"model_name": "g", "litellm_params": {"model": "openai/big-window", "mock_response": "x"},
             "model_info": {"id": "big", "max_input_tokens": 1000}},
        ]),
        json!({"enable_pre_call_checks": true, "routing_strategy": "round-robin"}),
    );
    // Many short inputs fit either deployment: each is embedded on its own.
    let short: Vec<&str> = vec!["word word"; 50];
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        let done = r
            .embedding(&client(), &embed_call("g", &short))
            .await
            .unwrap();
        seen.insert(done.meta.model_id.unwrap());
    }
    assert_eq!(seen.len(), 2);
    // One long input fits only the big one.
    let long = "word ".repeat(100);
    for _ in 0..4 {
        let done = r
            .embedding(&client(), &embed_call("g", &[long.as_str()]))
            .await
            .unwrap();
        assert_eq!(done.meta.model_id.as_deref(), Some("big"));
    }
}

// --- aliases, wildcard groups, ids, mock testing, edits -----------------------------------

fn mock_model(group: &str, id: &str, model: &str) -> Value {
    json!({"model_name": group, "litellm_params": {"model": model, "mock_response": "ok"},
           "model_info": {"id": id}})
}

#[tokio::test]
async fn an_alias_routes_to_its_group() {
    let r = router(
        json!([mock("smart", "s1", "from smart")]),
        json!({"model_group_alias": {"gpt-4": "smart", "hidden-one": {"model": "smart", "hidden": true}}}),
    );
    for name in ["gpt-4", "hidden-one", "smart"] {
        let done = r.completion(&client(), &call(name)).await.unwrap();
        assert_eq!(done.meta.model_id.as_deref(), Some("s1"), "{name}");
        assert_eq!(done.meta.model_group.as_deref(), Some("smart"));
    }
    assert!(r.knows("gpt-4"));
    assert!(r.aliases()["hidden-one"].hidden);
    assert!(!r.knows("gpt-5"));
    let e = r.completion(&client(), &call("gpt-5")).await.unwrap_err();
    assert!(
        e.message.contains("No model group named 'gpt-5'"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_wildcard_group_serves_what_it_matches_with_the_requested_model() {
    let r = router(
        json!([
            mock_model("openai/*", "w1", "openai/*"),
            mock_model("*", "any", "*"),
            mock("fixed", "f1", "fixed")
        ]),
        json!({}),
    );
    let done = r
        .completion(&client(), &call("openai/gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(done.meta.model_id.as_deref(), Some("w1"));
    assert_eq!(done.meta.model, "gpt-4o-mini");
    assert_eq!(done.meta.provider, "openai");
    // A bare name is tried as given first, so "*" takes it here...
    let done = r.completion(&client(), &call("gpt-4o")).await.unwrap();
    assert_eq!(done.meta.model_id.as_deref(), Some("any"));
    // ...and without "*" it matches "openai/*" with its provider prefixed (LiteLLM's
    // second try).
    let only = router(json!([mock_model("openai/*", "w1", "openai/*")]), json!({}));
    let done = only.completion(&client(), &call("gpt-4o")).await.unwrap();
    assert_eq!(done.meta.model_id.as_deref(), Some("w1"));
    assert_eq!(done.meta.model, "gpt-4o");
    assert!(!only.knows("claude-3-5-haiku-latest-typo/x"));
    // "*" takes everything else, and its "*" model becomes the requested one.
    let done = r
        .completion(&client(), &call("anthropic/claude-3-5-haiku-latest"))
        .await
        .unwrap();
    assert_eq!(done.meta.model_id.as_deref(), Some("any"));
    assert_eq!(done.meta.provider, "anthropic");
    assert_eq!(done.meta.model, "claude-3-5-haiku-latest");
    // A named group wins over the patterns.
    let done = r.completion(&client(), &call("fixed")).await.unwrap();
    assert_eq!(done.meta.model_id.as_deref(), Some("f1"));
}

#[tokio::test]
async fn a_deployment_is_addressed_by_its_id() {
    let r = router(
        json!([mock("g", "d1", "one"), mock("g", "d2", "two")]),
        json!({"num_retries": 0}),
    );
    for _ in 0..4 {
        let done = r.completion(&client(), &call("d2")).await.unwrap();
        assert_eq!(done.response.text(), Some("two"));
        assert_eq!(done.meta.model_group.as_deref(), Some("g"));
    }
    assert_eq!(r.group_of("d1"), Some("g"));
}

#[tokio::test]
async fn mock_testing_fallbacks_fails_the_first_group_and_falls_back() {
    let r = router(
        json!([mock("a", "a1", "from a"), mock("b", "b1", "from b")]),
        json!({"fallbacks": [{"a": ["b"]}]}),
    );
    let body = json!({"model": "a", "messages": [{"role": "user", "content": "hi"}],
                      "mock_testing_fallbacks": true});
    let args = CallArgs::from_json_map(body.as_object().unwrap()).unwrap();
    let req = RouterRequest::from_args::<ChatRequest>(args).unwrap();
    assert_eq!(req.mock_testing, Some(ErrorKind::InternalServer));
    let done = r.completion(&client(), &req).await.unwrap();
    assert_eq!(done.response.text(), Some("from b"));
    assert_eq!(
        done.meta.attempts,
        vec!["first a: InternalServerError", "fallback b/b1: ok"]
    );
    assert_eq!(
        stat(&r.stats(), "a1").failures,
        0,
        "no attempt was made on a"
    );
    // Without fallbacks, the mock error is the answer.
    let mut req = call("b");
    req.mock_testing = Some(ErrorKind::ContextWindowExceeded);
    let e = r.completion(&client(), &req).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
    assert!(
        e.message.contains("mock exception for model=b"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn an_error_in_litellm_params_is_raised_by_that_deployment() {
    let mut list: Vec<DeploymentConfig> = serde_json::from_value(json!([
        mock("a", "a1", "unused"),
        mock("b", "b1", "from b")
    ]))
    .unwrap();
    list[0].litellm_params.remove("mock_response");
    list[0].errors.insert(
        "mock_response".to_owned(),
        LlmError::new(ErrorKind::RateLimit, "slow down"),
    );
    let settings = RouterSettings::from_map(
        json!({"num_retries": 0, "fallbacks": [{"a": ["b"]}]})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .unwrap();
    let config = RouterConfig {
        model_list: list,
        settings,
    };
    let r = Router::build(
        config,
        Arc::new(SystemClock::new()),
        no_catalogue,
        default_token_counter,
    )
    .unwrap();
    let done = r.completion(&client(), &call("a")).await.unwrap();
    assert_eq!(
        done.meta.attempts,
        vec!["first a/a1: RateLimitError", "fallback b/b1: ok"]
    );
}

#[tokio::test]
async fn edits_build_a_router_that_keeps_live_state_by_id() {
    let clock = Arc::new(ManualClock::new());
    let r = router_with(
        json!([
            mock("g", "bad", "litellm.InternalServerError"),
            mock("g", "good", "fine")
        ]),
        json!({"num_retries": 0, "allowed_fails": 0, "cooldown_time": 60}),
        clock,
    );
    // Cool "bad" down.
    let mut req = call("bad");
    req.num_retries = Some(0);
    let _ = r.completion(&client(), &req).await.unwrap_err();
    assert!(stat(&r.stats(), "bad").cooling_down);
    let live = LiveRouter::new(r);
    // A generated id is written back into the kept model_list and is stable.
    let added = live
        .add_deployment(serde_json::from_value(json!({"model_name": "h", "litellm_params": {"model": "openai/gpt-4o", "mock_response": "h"}})).unwrap())
        .unwrap()
        .expect("added");
    let now = live.get();
    assert!(
        stat(&now.stats(), "bad").cooling_down,
        "state kept across the edit"
    );
    assert_eq!(
        now.deployment_config(&added).unwrap().model_info["id"],
        json!(added.clone())
    );
    let done = now.completion(&client(), &call("h")).await.unwrap();
    assert_eq!(done.response.text(), Some("h"));
    // Adding an existing id changes nothing.
    assert!(live
        .add_deployment(serde_json::from_value(mock("x", "good", "other")).unwrap())
        .unwrap()
        .is_none());
    // Upsert: the same entry is no change; a different one replaces it (moved last).
    assert!(live
        .upsert_deployment(serde_json::from_value(mock("g", "good", "fine")).unwrap())
        .unwrap()
        .is_none());
    live.upsert_deployment(serde_json::from_value(mock("g", "good", "better")).unwrap())
        .unwrap()
        .expect("replaced");
    let now = live.get();
    assert_eq!(
        now.model_list().last().unwrap().given_id().as_deref(),
        Some("good")
    );
    let done = now.completion(&client(), &call("good")).await.unwrap();
    assert_eq!(done.response.text(), Some("better"));
    // Delete: the id (and then its group) is gone; the other ids are unchanged.
    let removed = live.delete_deployment(&added).unwrap().expect("deleted");
    assert_eq!(removed.model_name, "h");
    assert!(live.delete_deployment(&added).unwrap().is_none());
    let now = live.get();
    assert!(!now.knows("h"));
    assert_eq!(now.deployment_ids(), vec!["bad", "good"]);
    // Set the whole list.
    let ids = live
        .set_model_list(serde_json::from_value(json!([mock("n", "n1", "new")])).unwrap())
        .unwrap();
    assert_eq!(ids, vec!["n1"]);
    assert_eq!(live.get().model_names(), ["n"]);
}

#[test]
fn a_fallback_to_an_alias_or_a_wildcard_name_is_known() {
    let r = router(
        json!([
            mock("a", "a1", "x"),
            mock_model("openai/*", "w", "openai/*")
        ]),
        json!({"model_group_alias": {"backup": "a"},
               "fallbacks": [{"a": ["openai/gpt-4o"]}, {"backup": ["a"]}]}),
    );
    assert!(r.knows("openai/o3"));
    let bad = RouterSettings::from_map(
        json!({"fallbacks": [{"a": ["ghost"]}]})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .unwrap();
    let config = RouterConfig::new(json!([mock("a", "a1", "x")]), bad).unwrap();
    let e = Router::build(
        config,
        Arc::new(SystemClock::new()),
        no_catalogue,
        default_token_counter,
    )
    .unwrap_err();
    assert!(
        e.message.contains("unknown model group 'ghost'"),
        "{}",
        e.message
    );
}

/// Shared counters that refuse the first parallel slot asked of them and note the requests
/// they are told of.
#[derive(Default)]
struct RefuseFirstSlot {
    refused: std::sync::atomic::AtomicBool,
    counted: std::sync::Mutex<Vec<String>>,
}

impl UsageCounters for RefuseFirstSlot {
    fn admit<'a>(&'a self, _d: &'a Deployment) -> usage::UsageFuture<'a, bool> {
        Box::pin(std::future::ready(true))
    }

    fn take_parallel<'a>(
        &'a self,
        _d: &'a Deployment,
        _max: u32,
    ) -> usage::UsageFuture<'a, Option<usage::ParallelSlot>> {
        let first = !self.refused.swap(true, Ordering::AcqRel);
        Box::pin(std::future::ready(
            (!first).then(usage::ParallelSlot::local),
        ))
    }

    fn count_request(&self, d: &Deployment) {
        self.counted.lock().unwrap().push(d.id.clone());
    }

    fn add_tokens(&self, _d: &Deployment, _tokens: u64) {}

    fn add_failure(&self, _d: &Deployment, _allowed_fails: u32, _start: usage::StartCooldown) {}

    fn others(&self, _d: &Deployment) -> usage::Usage {
        usage::Usage::default()
    }

    fn for_deployments(&self, _deployments: &[Arc<Deployment>]) -> Arc<dyn UsageCounters> {
        Arc::new(RefuseFirstSlot::default())
    }
}

#[tokio::test]
async fn a_call_the_shared_counters_refuse_a_parallel_slot_is_not_counted_as_a_request() {
    let r = router(
        json!([{"model_name": "g",
                "litellm_params": {"model": "openai/gpt-4o", "mock_response": "hi",
                                   "max_parallel_requests": 4},
                "model_info": {"id": "a"}}]),
        json!({}),
    );
    let shared = Arc::new(RefuseFirstSlot::default());
    assert!(r.share_usage(shared.clone()));
    // Every slot of the group's one deployment is taken elsewhere: the call is refused.
    assert!(r.completion(&client(), &call("g")).await.is_err());
    assert!(shared.counted.lock().unwrap().is_empty());
    assert_eq!(stat(&r.stats(), "a").requests_this_minute, 0);
    r.completion(&client(), &call("g")).await.unwrap();
    assert_eq!(*shared.counted.lock().unwrap(), vec!["a".to_owned()]);
}
