//! The gateway's error type and its one HTTP rendering: OpenAI's error JSON
//! (`{"error": {"message", "type", "param", "code"}}`), which is what LiteLLM's proxy
//! answers, so SDK clients raise their usual exception classes.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ErrorKind, LlmError};

/// Everything a gateway request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A failure of the call itself (bad request found by the pipeline, a provider's error,
    /// a timeout, no deployment available): keeps the provider's status.
    #[error("{}", .0.message)]
    Llm(LlmError),
    /// 401: no key, a wrong, expired, blocked or deleted key, or a non-admin key on an
    /// admin route (LiteLLM answers 401 there too).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a valid key whose model list (or its team's) does not have the model group
    /// asked for: LiteLLM's message, `type` (`key_model_access_denied` or
    /// `team_model_access_denied`) and `param: "model"`.
    #[error("The requested model '{model}' is not available for this API key, or the model name is invalid. Check the models available to you and try again.")]
    ModelAccessDenied {
        model: String,
        error_type: &'static str,
    },
    /// 400, `invalid_request_error`.
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
    },
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 413: the body is over `max_request_size_mb`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429 from the gateway's own limits (rpm, tpm, parallel requests), with `retry-after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<f64>,
    },
    /// 503: not ready (storage unreachable, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of the gateway.
    #[error("{0}")]
    Internal(String),
    /// Any other status and type (for the state plane's admin routes).
    #[error("{message}")]
    Other {
        status: u16,
        error_type: Cow<'static, str>,
        message: String,
        param: Option<String>,
    },
}

impl From<LlmError> for ProxyError {
    fn from(e: LlmError) -> Self {
        ProxyError::Llm(e)
    }
}

impl ProxyError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ProxyError::BadRequest {
            message: message.into(),
            param: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = match self {
            ProxyError::Llm(e) => llm_status(e),
            ProxyError::Unauthorized(_) => 401,
            ProxyError::ModelAccessDenied { .. } => 403,
            ProxyError::BadRequest { .. } => 400,
            ProxyError::NotFound(_) => 404,
            ProxyError::PayloadTooLarge(_) => 413,
            ProxyError::RateLimited { .. } => 429,
            ProxyError::Unavailable(_) => 503,
            ProxyError::Internal(_) => 500,
            ProxyError::Other { status, .. } => *status,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The error's `type` field.
    pub fn error_type(&self) -> Cow<'static, str> {
        match self {
            // LiteLLM's auth failures carry its own type name.
            ProxyError::Unauthorized(_) => "auth_error".into(),
            ProxyError::ModelAccessDenied { error_type, .. } => (*error_type).into(),
            ProxyError::Other { error_type, .. } => error_type.clone(),
            ProxyError::Llm(e) if e.kind == ErrorKind::BudgetExceeded => "budget_exceeded".into(),
            other => type_for_status(other.status().as_u16()).into(),
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ProxyError::BadRequest { param, .. } | ProxyError::Other { param, .. } => {
                param.as_deref()
            }
            ProxyError::ModelAccessDenied { .. } => Some("model"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<f64> {
        match self {
            ProxyError::RateLimited { retry_after, .. } => *retry_after,
            ProxyError::Llm(e) => e.retry_after,
            _ => None,
        }
    }

    /// The exception class LiteLLM would raise for this error (metrics label).
    pub fn class_name(&self) -> &'static str {
        match self {
            ProxyError::Llm(e) => e.kind.class_name(),
            ProxyError::Unauthorized(_) => "AuthenticationError",
            ProxyError::ModelAccessDenied { .. } => "PermissionDeniedError",
            ProxyError::BadRequest { .. } => "BadRequestError",
            ProxyError::NotFound(_) => "NotFoundError",
            ProxyError::PayloadTooLarge(_) => "PayloadTooLargeError",
            ProxyError::RateLimited { .. } => "RateLimitError",
            ProxyError::Unavailable(_) => "ServiceUnavailableError",
            ProxyError::Internal(_) => "InternalServerError",
            ProxyError::Other { .. } => "APIError",
        }
    }
}

/// An [`LlmError`]'s status: the provider's, kept; LiteLLM answers 429 for "no deployments
/// available" and the OpenAI SDK needs a 4xx/5xx to raise the right class.
fn llm_status(e: &LlmError) -> u16 {
    match e.kind {
        ErrorKind::RouterRateLimit => 429,
        _ if (400..=599).contains(&e.status_code) => e.status_code,
        _ => 500,
    }
}

/// OpenAI's `error.type` for a status, as LiteLLM's proxy fills it for errors that carry
/// none.
fn type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        s if s < 500 => "invalid_request_error",
        _ => "internal_server_error",
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({
            "error": {
                "message": self.to_string(),
                "type": self.error_type(),
                "param": self.param(),
                // LiteLLM (and OpenAI's SDK type) send the code as a string.
                "code": status.as_u16().to_string(),
            }
        });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&format!("{}", secs.ceil().max(0.0) as u64)) {
                headers.insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ProxyError) -> (u16, serde_json::Value, Option<String>) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or_default(),
            retry,
        )
    }

    #[tokio::test]
    async fn provider_errors_keep_their_status_and_get_openai_types() {
        let e = LlmError::new(ErrorKind::RateLimit, "slow down").with_retry_after(Some(2.5));
        let (status, json, retry) = body(ProxyError::Llm(e)).await;
        assert_eq!(status, 429);
        assert_eq!(json["error"]["type"], "rate_limit_error");
        assert_eq!(json["error"]["code"], "429");
        assert_eq!(json["error"]["message"], "slow down");
        assert_eq!(retry.as_deref(), Some("3"));

        let e = LlmError::new(ErrorKind::ContextWindowExceeded, "too long");
        let (status, json, _) = body(ProxyError::Llm(e)).await;
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (400, Some("invalid_request_error"))
        );

        let e = LlmError::new(ErrorKind::ServiceUnavailable, "down").with_status(529);
        let (status, json, _) = body(ProxyError::Llm(e)).await;
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (529, Some("internal_server_error"))
        );

        let e = LlmError::new(ErrorKind::RouterRateLimit, "No deployments available");
        assert_eq!(body(ProxyError::Llm(e)).await.0, 429);
    }

    #[tokio::test]
    async fn gateway_errors_have_litellms_shapes() {
        let (status, json, _) = body(ProxyError::Unauthorized("no key".into())).await;
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (401, Some("auth_error"))
        );
        let (status, json, _) = body(ProxyError::ModelAccessDenied {
            model: "gpt-5".into(),
            error_type: "key_model_access_denied",
        })
        .await;
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (403, Some("key_model_access_denied"))
        );
        assert_eq!(json["error"]["param"], "model");
        assert_eq!(json["error"]["code"], "403");
        assert!(json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'gpt-5' is not available for this API key")));
        let (status, json, retry) = body(ProxyError::RateLimited {
            message: "rpm".into(),
            retry_after: Some(12.0),
        })
        .await;
        assert_eq!((status, retry.as_deref()), (429, Some("12")));
        assert_eq!(json["error"]["param"], serde_json::Value::Null);
        let (status, _, _) = body(ProxyError::PayloadTooLarge("big".into())).await;
        assert_eq!(status, 413);
    }
}
