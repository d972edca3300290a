//! The HTTP client: one pooled `reqwest` client (keep-alive, HTTP/2 by ALPN, rustls,
//! proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`) and the mapping of transport faults
//! to [`LlmError`].

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::{ErrorKind, LlmError};

/// Default total timeout of a non-streaming call, and of the wait for a stream's first
/// byte and each later chunk, when the caller gives none (the openai SDK's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Idle connections kept per host when `LLMSWITCH_POOL_MAX_IDLE_PER_HOST` does not say: enough
/// for a few hundred calls a second to reuse connections, without keeping the sockets of a
/// burst open (1,024 idle per host kept 1,034 file descriptors for 90 s after one).
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 64;

/// The bound on idle connections per host: `LLMSWITCH_POOL_MAX_IDLE_PER_HOST` (read when a
/// client is made), else [`DEFAULT_POOL_MAX_IDLE_PER_HOST`].
pub fn pool_max_idle_per_host() -> usize {
    std::env::var("LLMSWITCH_POOL_MAX_IDLE_PER_HOST")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_POOL_MAX_IDLE_PER_HOST)
}

/// An HTTP request ready to send: what a provider builds and the pipeline posts.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: String,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// A pooled HTTP client. Cheap to clone (an `Arc` inside). Its connections live on the
/// tokio runtime that opened them, so each runtime gets its own client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// A client with llmswitch's defaults.
    pub fn new() -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("llmswitch/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(pool_max_idle_per_host())
            // Bodies are read as sent: ask for no compression (a provider that compresses
            // anyway gives a clear error rather than an empty stream).
            .default_headers(HeaderMap::from_iter([(
                reqwest::header::ACCEPT_ENCODING,
                reqwest::header::HeaderValue::from_static("identity"),
            )]))
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                LlmError::new(
                    ErrorKind::ApiConnection,
                    format!("Could not create the HTTP client: {e}"),
                )
            })?;
        Ok(HttpClient { client })
    }

    /// POST `req` and wait for the response headers. Transport failures become
    /// `APIConnectionError` or `Timeout`; HTTP error statuses are returned as responses.
    pub async fn post(&self, req: HttpRequest) -> Result<reqwest::Response, LlmError> {
        let url = req.url;
        self.client
            .post(url.as_str())
            .headers(req.headers)
            .body(req.body)
            .send()
            .await
            .map_err(|e| transport_error(&e, host_of(&url)))
    }
}

/// `host[:port]` of a URL, for error messages: never the path or query string, which may
/// hold a key, nor user info. Plain slicing, no URL parse: it runs on every call.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        "?"
    } else {
        host
    }
}

/// Map a reqwest error to our error kinds, with the cause chain in the message.
pub fn transport_error(e: &reqwest::Error, host: &str) -> LlmError {
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        if !cause.is_empty() {
            cause.push_str(": ");
        }
        cause.push_str(&s.to_string());
        source = s.source();
    }
    if cause.is_empty() {
        cause = e.to_string();
    }
    if e.is_timeout() {
        LlmError::new(
            ErrorKind::Timeout,
            format!("Request to {host} timed out: {cause}"),
        )
    } else if e.is_connect() {
        LlmError::new(
            ErrorKind::ApiConnection,
            format!("Could not connect to {host}: {cause}"),
        )
    } else if e.is_builder() {
        LlmError::bad_request(format!("Invalid request URL for {host}: {cause}"))
    } else {
        LlmError::new(
            ErrorKind::ApiConnection,
            format!("Connection to {host} failed: {cause}"),
        )
    }
}

/// The error for a call that took longer than its timeout.
pub fn timeout_error(after: Duration, host: &str) -> LlmError {
    LlmError::new(
        ErrorKind::Timeout,
        format!(
            "Request to {host} timed out after {:.3} s (raise timeout= to wait longer)",
            after.as_secs_f64()
        ),
    )
}

/// Seconds to wait before retrying, from `retry-after-ms` or `retry-after` (seconds or an
/// HTTP date).
pub fn retry_after_seconds(headers: &HeaderMap) -> Option<f64> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(ms / 1000.0);
        }
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_variants() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after_seconds(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after_seconds(&h), Some(7.0));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after_seconds(&h), Some(1.5));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_seconds(&h), Some(0.0));
    }

    #[test]
    fn host_of_hides_path_and_query() {
        assert_eq!(
            host_of("http://127.0.0.1:8080/v1/x?key=secret"),
            "127.0.0.1:8080"
        );
        assert_eq!(host_of("https://api.openai.com/v1"), "api.openai.com");
        assert_eq!(
            host_of("https://user:pw@host.example:8443?x=1"),
            "host.example:8443"
        );
        assert_eq!(host_of("not a url"), "not a url");
    }
}
