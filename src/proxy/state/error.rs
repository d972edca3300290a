//! Errors of the state plane, with LiteLLM's statuses and `type`s, rendered as OpenAI's
//! error JSON (`{"error": {"message", "type", "param", "code"}}`).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::store::StoreError;

/// LiteLLM's `litellm.budget_exceeded_status_code` default in 1.106.2 (older releases
/// answered 400, then 429).
pub const BUDGET_EXCEEDED_STATUS: u16 = 422;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    /// The error's `type` (`auth_error`, `budget_exceeded`, `not_found_error`, ...).
    pub error_type: Cow<'static, str>,
    pub message: String,
    pub param: Option<String>,
    /// Seconds, for a `retry-after` header (429s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_type: Cow::Borrowed(error_type),
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// 401: no, a wrong, an expired, a blocked or a deleted key.
    pub fn auth(message: impl Into<String>) -> Self {
        ApiError::new(401, "auth_error", message)
    }

    /// A virtual key on a route that needs the master key: 401, as LiteLLM answers.
    pub fn admin_only(route: &str) -> Self {
        ApiError::auth(format!(
            "Authentication Error: only the master key may call {route}."
        ))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "bad_request_error", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, "not_found_error", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "internal_server_error", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::bad_request(format!("Already exists: {m}")),
            other => ApiError::new(503, "no_db_connection", other.to_string()),
        }
    }
}

impl From<super::token::RandomError> for ApiError {
    fn from(e: super::token::RandomError) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.status.to_string(),
            }
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A float as Python's `str()` writes it (`1.0`, `0.25`), for messages LiteLLM formats.
pub fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
