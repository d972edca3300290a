//! The app without a socket: `tower::ServiceExt::oneshot` on [`super::app`].

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::config::ProxyConfig;
use super::hooks::Hooks;
use super::*;

pub(crate) const MASTER: &str = "sk-test-master-key";

pub(crate) fn config(yaml: &str) -> ProxyConfig {
    let value: Value = serde_yaml_ng::from_str(yaml).unwrap_or(Value::Null);
    match ProxyConfig::from_value(value, "test.yaml") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) const YAML: &str = r#"
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: sk-provider, api_base: "http://127.0.0.1:9"}
    model_info: {id: gpt-1}
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: sk-provider, api_base: "http://127.0.0.1:9"}
    model_info: {id: gpt-2}
  - model_name: claude
    litellm_params: {model: anthropic/claude-sonnet-4-20250514, api_key: sk-ant}
  - model_name: openai/gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-provider}
general_settings:
  master_key: sk-test-master-key
"#;

pub(crate) fn state_for(yaml: &str) -> AppState {
    let c = config(yaml);
    match ProxyState::new(&c, Hooks::master_key_only(c.master_key.clone())) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap_or_default();
    let resp = app.clone().oneshot(req).await.unwrap_or_default();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test-master-key");

#[tokio::test]
async fn liveness_needs_no_key_and_everything_else_does() {
    let app = app(state_for(YAML));
    for path in ["/health/liveliness", "/health/liveness"] {
        let (status, body) = call(&app, "GET", path, &[], None).await;
        assert_eq!((status, body), (StatusCode::OK, Value::from("I'm alive!")));
    }
    for path in [
        "/health/readiness",
        "/health",
        "/metrics",
        "/models",
        "/v1/models",
        "/models/gpt",
        "/model/info",
        "/v1/model/info",
    ] {
        let (status, body) = call(&app, "GET", path, &[], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"]["type"], "auth_error", "{path}");
        assert_eq!(body["error"]["code"], "401");
        let (status, _) = call(&app, "GET", path, &[("x-api-key", "sk-wrong")], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _) = call(&app, "GET", path, &[AUTH], None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn readiness_reports_no_database_without_a_state_plane() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/health/readiness", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["db"], "Not connected");
}

#[tokio::test]
async fn shutting_down_turns_the_probes_to_503() {
    let state = state_for(YAML);
    let app = app(state.clone());
    state.begin_shutdown();
    let (status, body) = call(&app, "GET", "/health/liveliness", &[], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "shutting_down");
    let (status, _) = call(&app, "GET", "/health/readiness", &[AUTH], None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn models_list_the_model_groups() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/v1/models", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["gpt", "claude", "openai/gpt-4o-mini"]);
    let (status, body) = call(&app, "GET", "/v1/models/openai/gpt-4o-mini", &[AUTH], None).await;
    assert_eq!(
        (status, &body["id"]),
        (StatusCode::OK, &Value::from("openai/gpt-4o-mini"))
    );
    let (status, body) = call(&app, "GET", "/models/claude", &[AUTH], None).await;
    assert_eq!(
        (status, &body["id"]),
        (StatusCode::OK, &Value::from("claude"))
    );
    let (status, body) = call(&app, "GET", "/v1/models/nope", &[AUTH], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "404");
}

#[tokio::test]
async fn model_info_shows_deployments_without_secrets() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/model/info", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 4);
    assert_eq!(data[0]["model_name"], "gpt");
    assert_eq!(data[0]["model_info"]["id"], "gpt-1");
    assert_eq!(data[0]["litellm_params"]["model"], "openai/gpt-4o");
    assert!(data[0]["litellm_params"].get("api_key").is_none());
    assert!(!body.to_string().contains("sk-provider"));
    assert!(data[0]["model_info"]["input_cost_per_token"].is_number());
    let (_, one) = call(
        &app,
        "GET",
        "/model/info?litellm_model_id=gpt-2",
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(one["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn model_info_masks_credentials_in_api_base_user_info() {
    let yaml = r#"
model_list:
  - model_name: gpt
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-provider
      api_base: http://svc:USERINFO-SECRET-123@127.0.0.1:9/v1
general_settings:
  master_key: sk-test-master-key
"#;
    let app = app(state_for(yaml));
    let (status, body) = call(&app, "GET", "/model/info", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.to_string().contains("USERINFO-SECRET-123"), "{body}");
    assert_eq!(
        body["data"][0]["litellm_params"]["api_base"],
        "http://[REDACTED]@127.0.0.1:9/v1"
    );
}

#[tokio::test]
async fn health_reports_every_deployment_without_calling_it() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/health", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["healthy_count"], 4);
    assert_eq!(body["unhealthy_count"], 0);
    let (_, one) = call(&app, "GET", "/health?model=claude", &[AUTH], None).await;
    assert_eq!(one["healthy_count"], 1);
}

#[tokio::test]
async fn path_tricks_reach_no_other_route() {
    let app = app(state_for(YAML));
    for path in [
        "//v1/models",
        "/v1/../models",
        "/v1/models/../../metrics",
        "/%761/models",
        "/v1%2Fmodels",
        "/health/liveliness/../../metrics",
        "/health/liveliness/..%2F..%2Fmetrics",
        "/METRICS",
    ] {
        // No key: nothing but a 404 (no route) or the 401 of the route the path really
        // matched (`/v1/models/{*id}` takes `../../metrics` as a model id).
        let (status, body) = call(&app, "GET", path, &[], None).await;
        assert!(
            matches!(status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
            "{path}: {status} {body}"
        );
        // With the key: no metrics text, no model list.
        let (status, body) = call(&app, "GET", path, &[AUTH], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "404", "{path}");
    }
}

#[tokio::test]
async fn the_host_header_does_not_change_authorization() {
    let app = app(state_for(YAML));
    for host in ["localhost", "127.0.0.1:4000", "internal.admin"] {
        let (status, _) = call(&app, "GET", "/models", &[("host", host)], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{host}");
    }
    // An absolute-form URI names another host: the path still decides.
    let (status, _) = call(&app, "GET", "http://localhost/models", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn duplicate_or_conflicting_keys_are_refused() {
    let app = app(state_for(YAML));
    let cases: [&[(&str, &str)]; 3] = [
        &[AUTH, ("x-api-key", "sk-other")],
        &[AUTH, AUTH],
        &[
            ("x-api-key", "sk-test-master-key"),
            ("x-api-key", "sk-wrong"),
        ],
    ];
    for headers in cases {
        let (status, _) = call(&app, "GET", "/models", headers, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    }
    for header in ["x-api-key", "api-key", "x-goog-api-key"] {
        let (status, _) = call(&app, "GET", "/models", &[(header, MASTER)], None).await;
        assert_eq!(status, StatusCode::OK, "{header}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_openai_shape() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/v2/nothing", &[AUTH], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, body) = call(&app, "POST", "/v1/models", &[AUTH], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "405");
}

#[tokio::test]
async fn metrics_are_open_metrics_text_for_the_master_key() {
    let app = app(state_for(YAML));
    let (status, body) = call(&app, "GET", "/metrics", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.contains("# TYPE llmswitch_in_flight_requests gauge"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn metrics_show_the_spend_queue_depth() {
    /// A spend sink whose writer is 1,240 rows behind.
    struct Behind;
    impl hooks::SpendSink for Behind {
        fn record(&self, _record: hooks::RequestRecord) {}
        fn flush(&self, _grace: std::time::Duration) -> futures_util::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
        fn pending(&self) -> u64 {
            1240
        }
    }
    let c = config(YAML);
    let mut h = Hooks::master_key_only(c.master_key.clone());
    h.spend = std::sync::Arc::new(Behind);
    let app = app(ProxyState::new(&c, h).unwrap_or_else(|e| panic!("{e}")));
    let (status, body) = call(&app, "GET", "/metrics", &[AUTH], None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.contains("# TYPE llmswitch_spend_log_queue_rows gauge"),
        "{text}"
    );
    assert!(
        text.contains("\nllmswitch_spend_log_queue_rows 1240\n"),
        "{text}"
    );
}

#[test]
fn request_ids_are_uuid4() {
    let id = new_request_id();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    assert_ne!(id, new_request_id());
}

#[test]
fn request_ids_are_the_uuid_text_of_their_bits() {
    // The id as `format!` wrote it before: version 4, variant 10, hex with dashes.
    fn formatted(v: u128) -> String {
        let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for v in [0, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210]
        .into_iter()
        .chain((0..1000).map(|_| rng.u128(..)))
    {
        assert_eq!(super::request_id_from(v), formatted(v));
    }
}
