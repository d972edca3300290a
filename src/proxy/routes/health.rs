//! Liveness, readiness, per-deployment health and `/metrics`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::proxy::error::ProxyError;
use crate::proxy::principal::Principal;
use crate::proxy::{metrics, AppState};

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
}

/// `GET /health`: each deployment the caller may use, healthy unless it is cooling down
/// after failures. No provider is called (health checks that call reasoning models cost
/// real money).
pub(super) async fn health(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Query(q): Query<HealthQuery>,
) -> Result<Response, ProxyError> {
    let stats = state.router.stats();
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
        if s.cooling_down {
            entry["error"] = json!(format!(
                "cooling down after failures ({:.1} s left)",
                s.cooldown_remaining.unwrap_or(0.0)
            ));
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
    let text = state.metrics.render(state.hooks.spend.dropped());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}
