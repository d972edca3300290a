//! The HTTP client: one pooled `reqwest` client (keep-alive, HTTP/2 by ALPN, rustls,
//! proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`) and the mapping of transport faults
//! to [`LlmError`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
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

/// Default of [`max_response_bytes`]: far above any real answer (2,048 embeddings of 3,072
/// floats as JSON are about 130 MB), far below what would exhaust a machine's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// The environment variable that sets [`max_response_bytes`] at start-up.
pub const MAX_RESPONSE_BYTES_ENV: &str = "LLMSWITCH_MAX_RESPONSE_BYTES";

static MAX_RESPONSE_BYTES: LazyLock<AtomicUsize> = LazyLock::new(|| {
    let from_env = std::env::var(MAX_RESPONSE_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    AtomicUsize::new(from_env.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES))
});

/// The largest response body read into memory, and the largest single stream event
/// (a stream as a whole may be longer): a provider (or anything posing as one) cannot
/// exhaust memory. Process-wide; `LLMSWITCH_MAX_RESPONSE_BYTES` or
/// [`set_max_response_bytes`] (Python: `llmswitch.max_response_bytes`).
pub fn max_response_bytes() -> usize {
    MAX_RESPONSE_BYTES.load(Ordering::Relaxed)
}

/// Set [`max_response_bytes`] (0 is ignored).
pub fn set_max_response_bytes(limit: usize) {
    if limit > 0 {
        MAX_RESPONSE_BYTES.store(limit, Ordering::Relaxed);
    }
}

/// The error for a response or stream event over [`max_response_bytes`].
pub fn too_large_error(host: &str, what: &str, limit: usize) -> LlmError {
    LlmError::new(
        ErrorKind::Api,
        format!(
            "{what} from {host} is larger than max_response_bytes ({limit} bytes); raise \
             llmswitch.max_response_bytes (or {MAX_RESPONSE_BYTES_ENV}) to accept it"
        ),
    )
}

/// Read a whole response body, refusing one over [`max_response_bytes`] (by its
/// `Content-Length` before reading, or as soon as the bytes read pass the limit).
pub async fn read_body_capped(
    mut response: reqwest::Response,
    host: &str,
) -> Result<bytes::Bytes, LlmError> {
    let limit = max_response_bytes();
    let too_large = || too_large_error(host, "The response", limit);
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Pieces kept as they come: a body in one piece (the usual case) is never copied.
    let mut pieces: Vec<bytes::Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(piece) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, host))?
    {
        total += piece.len();
        if total > limit {
            return Err(too_large());
        }
        pieces.push(piece);
    }
    Ok(match pieces.len() {
        0 => bytes::Bytes::new(),
        1 => pieces.swap_remove(0),
        _ => bytes::Bytes::from(pieces.concat()),
    })
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
            .redirect(same_origin_redirects())
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
        let builder = match parsed_url(&url) {
            Some(parsed) => self.client.post(parsed),
            // Not a URL: reqwest reports it (as a builder error) when sent.
            None => self.client.post(url.as_str()),
        };
        builder
            .headers(req.headers)
            .body(req.body)
            .send()
            .await
            .map_err(|e| transport_error(&e, host_of(&url)))
    }
}

/// How many parsed URLs each thread keeps: a gateway or an application calls a few
/// endpoints (one or two per deployment) over and over.
const PARSED_URLS: usize = 16;

thread_local! {
    /// The URLs this thread posted to last, parsed (most recent first).
    static PARSED: std::cell::RefCell<Vec<(String, reqwest::Url)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `url` parsed, from this thread's cache of the last [`PARSED_URLS`] URLs when it is
/// there: parsing (with the host's IDNA check) was a measurable part of a gateway
/// request's CPU time, for the same few URLs every time.
fn parsed_url(url: &str) -> Option<reqwest::Url> {
    PARSED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(i) = cache.iter().position(|(text, _)| text == url) {
            if i > 0 {
                let hit = cache.remove(i);
                cache.insert(0, hit);
            }
            return Some(cache[0].1.clone());
        }
        let parsed = reqwest::Url::parse(url).ok()?;
        cache.truncate(PARSED_URLS - 1);
        cache.insert(0, (url.to_owned(), parsed.clone()));
        Some(parsed)
    })
}

/// Redirects are followed only within the origin of the first request (scheme, host and
/// port), at most 10 of them: headers that carry keys (`x-api-key`, `api-key`,
/// `x-goog-api-key`, ...) are not the ones reqwest strips when a redirect crosses hosts, so
/// a redirect elsewhere is answered to the caller as an error instead of being followed.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first();
        let same = first.is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The error for a redirect that was not followed (to another origin).
pub fn redirect_error(status: u16, headers: &HeaderMap, host: &str) -> LlmError {
    let to = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or("?", host_of);
    LlmError::new(
        ErrorKind::Api,
        format!(
            "{host} answered {status}, a redirect to {to}: llmswitch follows redirects only \
             within the same host (keys travel in headers); set api_base to the new address"
        ),
    )
    .with_status(status)
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
    fn parsed_urls_are_kept_per_thread_and_bounded() {
        PARSED.with(|c| c.borrow_mut().clear());
        let a = "http://127.0.0.1:8080/v1/chat/completions";
        assert_eq!(parsed_url(a).map(|u| u.to_string()), Some(a.to_owned()));
        assert_eq!(parsed_url(a).map(|u| u.to_string()), Some(a.to_owned()));
        assert_eq!(PARSED.with(|c| c.borrow().len()), 1);
        assert_eq!(parsed_url("not a url"), None);
        for i in 0..40 {
            let u = format!("http://h{i}.example/v1/embeddings");
            assert_eq!(parsed_url(&u).map(|p| p.to_string()), Some(u));
        }
        assert_eq!(PARSED.with(|c| c.borrow().len()), PARSED_URLS);
        // The most recent first; the oldest went.
        PARSED.with(|c| {
            let c = c.borrow();
            assert_eq!(c[0].0, "http://h39.example/v1/embeddings");
            assert!(c.iter().all(|(t, _)| t != a));
        });
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
