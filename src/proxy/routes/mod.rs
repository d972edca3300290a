//! The gateway's routes, each registered under its [`RouteKind`] (with and without `/v1`).

mod chat;
mod health;
mod messages;
mod models;
mod sse;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, post, MethodRouter};
use serde::de::DeserializeOwned;

use super::auth::Authenticator;
use super::error::ProxyError;
use super::principal::RouteKind;
use super::{protect, AppState};

type Routes = axum::Router<AppState>;

/// All routes but the admin plane's.
pub(super) fn routes(auth: &Arc<dyn Authenticator>) -> Routes {
    let group = |kind: RouteKind, paths: &[&str], handler: MethodRouter<AppState>| -> Routes {
        let mut r = Routes::new();
        for p in paths {
            r = r.route(p, handler.clone());
        }
        protect(r, kind, auth.clone())
    };
    Routes::new()
        .merge(group(
            RouteKind::Liveness,
            &["/health/liveliness", "/health/liveness"],
            get(health::liveness),
        ))
        .merge(group(
            RouteKind::Readiness,
            &["/health/readiness"],
            get(health::readiness),
        ))
        .merge(group(RouteKind::Health, &["/health"], get(health::health)))
        .merge(group(
            RouteKind::Metrics,
            &["/metrics"],
            get(health::metrics),
        ))
        .merge(group(
            RouteKind::Models,
            &["/models", "/v1/models"],
            get(models::list),
        ))
        .merge(group(
            RouteKind::Models,
            &["/models/{*id}", "/v1/models/{*id}"],
            get(models::retrieve),
        ))
        .merge(group(
            RouteKind::ChatCompletions,
            &["/chat/completions", "/v1/chat/completions"],
            post(chat::chat_completions),
        ))
        .merge(group(
            RouteKind::Embeddings,
            &["/embeddings", "/v1/embeddings"],
            post(chat::embeddings),
        ))
        .merge(group(
            RouteKind::Messages,
            &["/v1/messages"],
            post(messages::messages),
        ))
        .merge(group(
            RouteKind::CountTokens,
            &["/v1/messages/count_tokens"],
            post(messages::count_tokens),
        ))
        .merge(group(
            RouteKind::ModelInfo,
            &["/model/info", "/v1/model/info"],
            get(models::info),
        ))
}

/// A JSON request body. Over the size limit → 413; not JSON, or not the expected shape →
/// 400; both in the OpenAI error shape.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ProxyError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body's bytes, with the same errors as [`JsonBody`].
#[allow(dead_code)]
pub(crate) async fn body_bytes(req: Request) -> Result<Bytes, ProxyError> {
    Bytes::from_request(req, &()).await.map_err(body_error)
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProxyError> {
    // The common case at full speed; only a body that fails is read again with the path
    // tracking that names where it went wrong.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("Invalid JSON in the request body: {inner}")
        } else if path == "." {
            format!("Invalid request body: {inner}")
        } else {
            format!("Invalid request body at '{path}': {inner}")
        };
        ProxyError::BadRequest {
            message,
            param: (path != ".").then_some(path),
        }
    })?;
    de.end()
        .map_err(|e| ProxyError::bad_request(format!("Invalid JSON in the request body: {e}")))?;
    Ok(value)
}

fn body_error(e: BytesRejection) -> ProxyError {
    let status = e.status();
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ProxyError::PayloadTooLarge(
            "The request body is larger than the gateway accepts (general_settings.max_request_size_mb)."
                .to_owned(),
        )
    } else {
        ProxyError::bad_request(format!("Could not read the request body: {e}"))
    }
}
