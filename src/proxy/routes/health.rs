//! Liveness, readiness, per-deployment health and `/metrics`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use std::time::Duration;

use crate::call::{self, CallOptions};
use crate::providers::TargetOptions;
use crate::proxy::error::ProxyError;
use crate::proxy::principal::Principal;
use crate::proxy::{metrics, AppState};
use crate::router::Deployment;
use crate::types::{ChatRequest, EmbeddingRequest, Message};

fn shutting_down() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "shutting_down"})),
    )
        .into_response()
}

/// `GET /health/liveliness`: no key, no work. 503 once shutdown began (as LiteLLM).
pub(super) async fn liveness(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        return shutting_down();
    }
    Json("I'm alive!").into_response()
}

/// `GET /health/readiness`: config loaded (it is, or the server would not run) and the
/// state plane's storage reachable.
pub(super) async fn readiness(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        return shutting_down();
    }
    let Some(probe) = &state.hooks.readiness else {
        return Json(json!({"status": "healthy", "db": "Not connected"})).into_response();
    };
    match probe.check().await {
        Ok(()) => Json(json!({"status": "healthy", "db": probe.describe()})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "db": "disconnected", "error": reason})),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct HealthQuery {
    model: Option<String>,
    model_id: Option<String>,
    /// `true`: call each deployment (master key only).
    #[serde(default)]
    probe: bool,
}

/// How long a probe call may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// One real, minimal call to `d`: `max_tokens: 1` and no tools for chat models, one
/// short input for embedding models. `Err` is the error's message.
async fn probe_deployment(state: &AppState, d: &Deployment, embedding: bool) -> Result<(), String> {
    let options = d.call_options(&CallOptions::default(), Some(PROBE_TIMEOUT));
    let target = d.target_options(&TargetOptions::default());
    let provider = d.custom_llm_provider.as_deref();
    let result = if embedding {
        let req = EmbeddingRequest::new(d.model.clone(), "ping");
        match call::prepare(&d.model, provider, req, &target, options) {
            Ok(p) => call::execute(&state.client, &p).await.map(|_| ()),
            Err(e) => Err(e),
        }
    } else {
        let mut req = ChatRequest::new(d.model.clone(), vec![Message::user("ping")]);
        req.params.max_tokens = Some(1);
        match call::prepare(&d.model, provider, req, &target, options) {
            Ok(p) => call::execute(&state.client, &p).await.map(|_| ()),
            Err(e) => Err(e),
        }
    };
    result.map_err(|e| format!("{}: {}", e.kind.class_name(), e.message))
}

fn is_embedding_model(state: &AppState, d: &Deployment) -> bool {
    let configured = state
        .model_list
        .get(d.index)
        .and_then(|c| c.model_info.get("mode"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mode = configured.or_else(|| {
        crate::catalog::model_info(&d.provider, &d.provider_model).map(|i| i.mode.clone())
    });
    mode.as_deref() == Some("embedding")
}

/// `GET /health`: each deployment the caller may use, healthy unless it is cooling down
/// after failures. No provider is called unless asked (`?probe=true`, master key only):
/// health checks that call reasoning models cost real money.
pub(super) async fn health(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Query(q): Query<HealthQuery>,
) -> Result<Response, ProxyError> {
    if q.probe && !principal.is_admin() {
        return Err(ProxyError::Unauthorized(
            "Authentication Error: only the master key may probe deployments (/health?probe=true)"
                .into(),
        ));
    }
    let stats = state.router.stats();
    let mut probes = Vec::new();
    if q.probe {
        let chosen: Vec<&Arc<Deployment>> = state
            .router
            .deployments()
            .iter()
            .filter(|d| q.model.as_ref().is_none_or(|m| *m == d.model_group))
            .filter(|d| q.model_id.as_ref().is_none_or(|id| *id == d.id))
            .collect();
        probes = futures_util::future::join_all(
            chosen
                .iter()
                .map(|d| probe_deployment(&state, d, is_embedding_model(&state, d))),
        )
        .await
        .into_iter()
        .zip(chosen.iter().map(|d| d.id.clone()))
        .collect();
    }
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for s in stats {
        if !principal.allows_model(&s.model_group)
            || q.model.as_ref().is_some_and(|m| *m != s.model_group)
            || q.model_id.as_ref().is_some_and(|id| *id != s.model_id)
        {
            continue;
        }
        let mut entry = json!({
            "model": s.model,
            "model_name": s.model_group,
            "model_id": s.model_id,
        });
        if principal.is_admin() {
            entry["api_base"] = json!(s.api_base);
        }
        let probed = probes.iter().find(|(_, id)| *id == s.model_id);
        let error = match probed {
            Some((Err(e), _)) => Some(e.clone()),
            Some((Ok(()), _)) => None,
            None if s.cooling_down => Some(format!(
                "cooling down after failures ({:.1} s left)",
                s.cooldown_remaining.unwrap_or(0.0)
            )),
            None => None,
        };
        if let Some(e) = error {
            entry["error"] = json!(e);
            unhealthy.push(entry);
        } else {
            healthy.push(entry);
        }
    }
    let targeted = q.model.is_some() || q.model_id.is_some();
    let status = if targeted && healthy.is_empty() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body: Value = json!({
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
    });
    Ok((status, Json(body)).into_response())
}

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics
        .note_degraded(state.hooks.spend.degraded_admissions() + state.router.usage_degraded());
    let text = state
        .metrics
        .render(state.hooks.spend.dropped(), state.hooks.spend.pending());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}
