//! The one error type of the core. Every failure (bad input found before a call, a provider's
//! error response, a transport fault) becomes an [`LlmError`] whose [`ErrorKind`] names the
//! LiteLLM-compatible exception class the Python layer raises.

use serde_json::Value;
use std::fmt;

/// Which exception class an error maps to. The names are LiteLLM's (and, where LiteLLM's
/// classes subclass openai's, those of the `openai` package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 401: the key is missing, malformed or rejected.
    Authentication,
    /// 403: the key is valid but not allowed to do this.
    PermissionDenied,
    /// 404: unknown model or endpoint.
    NotFound,
    /// 400: the request is invalid.
    BadRequest,
    /// 400: the prompt (plus requested output) is longer than the model's context window.
    ContextWindowExceeded,
    /// 400: the provider refused the content.
    ContentPolicyViolation,
    /// 400: a parameter the target does not support, and `drop_params` is off.
    UnsupportedParams,
    /// 422.
    UnprocessableEntity,
    /// 429.
    RateLimit,
    /// 408: no answer in time.
    Timeout,
    /// The connection failed or broke (no HTTP status).
    ApiConnection,
    /// 500.
    InternalServer,
    /// 503 (and Anthropic's 529 overloaded).
    ServiceUnavailable,
    /// Any other status.
    Api,
    /// A budget would be exceeded; raised before any network call.
    BudgetExceeded,
    /// The router has no deployment available (all cooling down or over their limits).
    RouterRateLimit,
}

impl ErrorKind {
    /// The Python exception class name.
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::PermissionDenied => "PermissionDeniedError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::BadRequest => "BadRequestError",
            ErrorKind::ContextWindowExceeded => "ContextWindowExceededError",
            ErrorKind::ContentPolicyViolation => "ContentPolicyViolationError",
            ErrorKind::UnsupportedParams => "UnsupportedParamsError",
            ErrorKind::UnprocessableEntity => "UnprocessableEntityError",
            ErrorKind::RateLimit => "RateLimitError",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::ApiConnection => "APIConnectionError",
            ErrorKind::InternalServer => "InternalServerError",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableError",
            ErrorKind::Api => "APIError",
            ErrorKind::BudgetExceeded => "BudgetExceededError",
            ErrorKind::RouterRateLimit => "RouterRateLimitError",
        }
    }

    /// Inverse of [`ErrorKind::class_name`]; also accepts `litellm.`/`llmswitch.` prefixes.
    pub fn from_class_name(name: &str) -> Option<ErrorKind> {
        let name = name
            .strip_prefix("litellm.")
            .or_else(|| name.strip_prefix("llmswitch."))
            .unwrap_or(name);
        ErrorKind::ALL
            .iter()
            .copied()
            .find(|k| k.class_name() == name)
    }

    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::BadRequest,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentPolicyViolation,
        ErrorKind::UnsupportedParams,
        ErrorKind::UnprocessableEntity,
        ErrorKind::RateLimit,
        ErrorKind::Timeout,
        ErrorKind::ApiConnection,
        ErrorKind::InternalServer,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Api,
        ErrorKind::BudgetExceeded,
        ErrorKind::RouterRateLimit,
    ];

    /// The status code reported when the provider gave none.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::BadRequest
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicyViolation
            | ErrorKind::UnsupportedParams => 400,
            ErrorKind::UnprocessableEntity => 422,
            ErrorKind::RateLimit | ErrorKind::RouterRateLimit => 429,
            ErrorKind::Timeout => 408,
            ErrorKind::ApiConnection | ErrorKind::InternalServer | ErrorKind::Api => 500,
            ErrorKind::ServiceUnavailable => 503,
            ErrorKind::BudgetExceeded => 400,
        }
    }

    /// The kind an HTTP error status maps to when the body says nothing more specific.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            413 => ErrorKind::ContextWindowExceeded,
            422 => ErrorKind::UnprocessableEntity,
            429 => ErrorKind::RateLimit,
            500 => ErrorKind::InternalServer,
            502 | 503 | 504 | 529 => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::Api,
        }
    }

    /// LiteLLM's last-resort mapping of a status, for providers whose errors it maps by
    /// status alone (`_map_exception_by_status`): as [`ErrorKind::from_status`], except that
    /// 504 is a `Timeout` and any other 4xx a `BadRequestError` (LiteLLM's
    /// `PaymentRequiredError` for 402 is one too).
    pub fn from_status_generic(status: u16) -> ErrorKind {
        match status {
            401 | 403 | 404 | 408 | 429 => ErrorKind::from_status(status),
            504 => ErrorKind::Timeout,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::from_status(status),
        }
    }

    /// Whether trying the same request again (here or on another deployment) can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit
                | ErrorKind::Timeout
                | ErrorKind::ApiConnection
                | ErrorKind::InternalServer
                | ErrorKind::ServiceUnavailable
                | ErrorKind::Api
        )
    }
}

/// An error with everything a caller needs to act on it. The message never contains a key:
/// provider bodies go through [`crate::redact`] before they get here. Boxed, so that
/// `Result<T, LlmError>` stays small on the happy path; fields are reached through `Deref`.
#[derive(Debug, Clone)]
pub struct LlmError(Box<ErrorDetails>);

/// The fields of an [`LlmError`].
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub kind: ErrorKind,
    pub message: String,
    pub status_code: u16,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Seconds to wait before retrying, from `retry-after` / `retry-after-ms`.
    pub retry_after: Option<f64>,
    /// The provider's error body (JSON when it was JSON, else a string).
    pub body: Option<Value>,
    /// Deployments tried, retries and fallbacks taken before this error (router).
    pub attempts: Vec<String>,
}

impl std::ops::Deref for LlmError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for LlmError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl LlmError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LlmError(Box::new(ErrorDetails {
            kind,
            message: message.into(),
            status_code: kind.default_status(),
            provider: None,
            model: None,
            retry_after: None,
            body: None,
            attempts: Vec::new(),
        }))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        LlmError::new(ErrorKind::BadRequest, message)
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status_code = status;
        self
    }

    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<f64>) -> Self {
        self.retry_after = seconds;
        self
    }

    /// Fill provider and model where they are not set yet.
    pub fn context(mut self, provider: &str, model: &str) -> Self {
        if self.provider.is_none() {
            self.provider = Some(provider.to_owned());
        }
        if self.model.is_none() {
            self.model = Some(model.to_owned());
        }
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind.class_name())?;
        if let Some(p) = &self.provider {
            write!(f, "{p} - ")?;
        }
        f.write_str(&self.message)?;
        if let Some(m) = &self.model {
            write!(f, " (model={m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for LlmError {}

/// Whether a provider's error message says the prompt is too long for the model. Providers
/// word this differently; the phrases below cover OpenAI, Anthropic, Gemini, Mistral, Groq,
/// vLLM and the usual OpenAI-compatible servers.
pub fn is_context_window_message(message: &str) -> bool {
    const PHRASES: &[&str] = &[
        "context_length_exceeded",
        "context length",
        "context window",
        "maximum context",
        "prompt is too long",
        "too many tokens",
        "input is too long",
        "exceeds the maximum number of tokens",
        "input token count",
        "reduce the length of the messages",
        "string_above_max_length",
        "please reduce the length",
        "exceeds the context",
        "longer than the model's context",
        "request too large",
    ];
    let lower = message.to_ascii_lowercase();
    PHRASES.iter().any(|p| lower.contains(p))
}

/// Whether a provider's error message says the content was refused by a safety system.
pub fn is_content_policy_message(message: &str) -> bool {
    const PHRASES: &[&str] = &[
        "content_policy_violation",
        "content management policy",
        "content_filter",
        "safety system",
        "flagged as potentially violating",
        "responsible ai",
    ];
    let lower = message.to_ascii_lowercase();
    PHRASES.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_class_name(k.class_name()), Some(k));
        }
        assert_eq!(
            ErrorKind::from_class_name("litellm.RateLimitError"),
            Some(ErrorKind::RateLimit)
        );
    }

    #[test]
    fn display_names_class_provider_model() {
        let e = LlmError::new(ErrorKind::RateLimit, "slow down")
            .with_provider("groq")
            .with_model("llama");
        assert_eq!(
            e.to_string(),
            "RateLimitError: groq - slow down (model=llama)"
        );
    }

    #[test]
    fn recognises_context_window_messages() {
        assert!(is_context_window_message(
            "This model's maximum context length is 8192 tokens."
        ));
        assert!(is_context_window_message(
            "prompt is too long: 210000 tokens > 200000 maximum"
        ));
        assert!(!is_context_window_message("invalid temperature"));
    }
}
