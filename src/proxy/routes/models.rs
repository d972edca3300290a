//! `GET /models`, `/models/{id}` (OpenAI's model list, by model group) and `/model/info`
//! (LiteLLM's per-deployment view, secrets removed).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::proxy::error::ProxyError;
use crate::proxy::principal::Principal;
use crate::proxy::AppState;

/// LiteLLM's `created` for config models.
const CREATED: i64 = 1_677_610_602;

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": "openai"})
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Json<Value> {
    let data: Vec<Value> = state
        .router
        .model_names()
        .iter()
        .filter(|g| principal.allows_model(g))
        .map(|g| model_object(g))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub(super) async fn retrieve(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    let known = state.router.model_names().contains(&id);
    if known && principal.allows_model(&id) {
        Ok(Json(model_object(&id)))
    } else {
        Err(ProxyError::NotFound(format!(
            "The model '{id}' does not exist"
        )))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct InfoQuery {
    litellm_model_id: Option<String>,
}

/// `litellm_params` names that hold secrets: never shown.
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "secret", "token", "credential", "password"]
        .iter()
        .any(|s| n.contains(s))
}

/// A parameter's value fit to show: credentials in a URL's user-info (`api_base:
/// http://user:SECRET@host/v1`) masked.
fn shown(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(crate::redact::url_for_display(s).into_owned()),
        other => other.clone(),
    }
}

pub(super) async fn info(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Query(q): Query<InfoQuery>,
) -> Json<Value> {
    let data: Vec<Value> = state
        .router
        .deployments()
        .iter()
        .zip(&state.model_list)
        .filter(|(d, _)| principal.allows_model(&d.model_group))
        .filter(|(d, _)| q.litellm_model_id.as_ref().is_none_or(|id| *id == d.id))
        .map(|(d, cfg)| {
            let params: Map<String, Value> = cfg
                .litellm_params
                .iter()
                .filter(|(k, _)| !is_secret(k))
                .map(|(k, v)| (k.clone(), shown(v)))
                .collect();
            let mut info = match crate::catalog::model_info(&d.provider, &d.provider_model)
                .and_then(|i| serde_json::to_value(&*i).ok())
            {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            info.insert("key".into(), json!(d.provider_model));
            info.insert("litellm_provider".into(), json!(d.provider));
            for (k, v) in &cfg.model_info {
                info.insert(k.clone(), v.clone());
            }
            info.insert("id".into(), json!(d.id));
            info.insert("db_model".into(), json!(false));
            json!({"model_name": d.model_group, "litellm_params": params, "model_info": info})
        })
        .collect();
    Json(json!({"data": data}))
}
