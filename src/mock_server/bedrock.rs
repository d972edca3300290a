//! AWS on the mock server: Bedrock's runtime routes (Converse, ConverseStream as a real
//! binary event stream, InvokeModel and InvokeModelWithResponseStream for Claude, Titan and
//! Cohere embeddings) and STS (`AssumeRole`, `AssumeRoleWithWebIdentity`).
//!
//! Like AWS, the mock refuses a request it cannot authenticate, before any scripted reply:
//! a SigV4 `Authorization` is verified by recomputing the signature from the request as
//! received (method, raw path and query, the signed headers, the body's SHA-256) with the
//! secret the mock knows for the access key id:
//!
//! - `AKIDMOCK…` → `mock-secret-<id>` (tests' long-lived keys);
//! - `ASIAMOCK…` → `mock-sts-secret-<id>`, with session token `mock-session-token-<id>`
//!   (the temporary credentials the mock's STS issues);
//! - `AKIDEXAMPLE` → the AWS test suite's secret.
//!
//! Anything else is `UnrecognizedClientException`; a signature that does not verify is
//! `InvalidSignatureException` (403, `x-amzn-ErrorType` header, as Bedrock). A bearer token
//! (a Bedrock API key) is accepted as it is.
//!
//! Scripted SSE frames sent to a stream route are encoded as event-stream messages: each
//! frame is JSON `{"event": name, "data": {...}}` or `{"exception": type, "data": {...}}`,
//! with `"corrupt": true` to flip a byte of that message (its CRC no longer matches).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::{DateTime, Format};
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use base64::Engine;
use futures_util::stream;
use serde_json::{json, Value};

use super::{MockRequest, MockState, OpenStream, Reply, DEFAULT_REPLY};
use crate::providers::aws::sigv4::{signature_headers, Scope};
use crate::stream::aws_event_stream::{encode_event, encode_exception};

/// The model Bedrock's canned Claude replies name.
const CLAUDE: &str = "claude-3-haiku-20240307";
static STS_ISSUED: AtomicU64 = AtomicU64::new(0);

/// The secret the mock knows for an access key id, and the session token it requires.
pub fn mock_secret(access_key_id: &str) -> Option<(String, Option<String>)> {
    if access_key_id.starts_with("AKIDMOCK") {
        Some((format!("mock-secret-{access_key_id}"), None))
    } else if access_key_id.starts_with("ASIAMOCK") {
        Some((
            format!("mock-sts-secret-{access_key_id}"),
            Some(format!("mock-session-token-{access_key_id}")),
        ))
    } else if access_key_id == "AKIDEXAMPLE" {
        Some(("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(), None))
    } else {
        None
    }
}

fn is_bedrock_path(path: &str) -> bool {
    path.starts_with("/model/")
}

fn sts_action(req: &MockRequest<'_>) -> Option<String> {
    let form = req.json.as_str()?;
    form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
        .filter(|a| a.starts_with("AssumeRole"))
}

/// Whether the request is one of the AWS routes this module answers.
pub(super) fn handles(req: &MockRequest<'_>) -> bool {
    is_bedrock_path(req.uri.path()) || sts_action(req).is_some()
}

/// Whether the route streams as an event stream.
pub(super) fn is_stream_path(path: &str) -> bool {
    is_bedrock_path(path)
        && (path.ends_with("/converse-stream") || path.ends_with("/invoke-with-response-stream"))
}

fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Reply {
    let body = json!({ "message": message }).to_string();
    let error_type = format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    Box::new(move |b: axum::http::response::Builder| {
        b.status(status)
            .header("content-type", "application/json")
            .header("x-amzn-errortype", error_type)
            .header("x-amzn-requestid", "mock-request-id")
            .body(Body::from(body))
    })
}

fn sts_xml_error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>mock</RequestId></ErrorResponse>"
    );
    Box::new(move |b: axum::http::response::Builder| {
        b.status(status)
            .header("content-type", "text/xml")
            .body(Body::from(body))
    })
}

/// Why a request is refused, as AWS would refuse it; `None` when it authenticates.
pub(super) fn refuse(req: &MockRequest<'_>) -> Option<Reply> {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return (token.trim().is_empty()).then(|| {
            aws_error(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        });
    }
    if sts_action(req).as_deref() == Some("AssumeRoleWithWebIdentity") && auth.is_empty() {
        return None;
    }
    if auth.is_empty() {
        return Some(aws_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    }
    match verify_sigv4(req, auth) {
        Ok(()) => None,
        Err((error_type, message)) => Some(aws_error(StatusCode::FORBIDDEN, error_type, &message)),
    }
}

/// Recompute the signature of the request as received and compare.
fn verify_sigv4(req: &MockRequest<'_>, auth: &str) -> Result<(), (&'static str, String)> {
    let invalid = |why: &str| ("InvalidSignatureException", why.to_owned());
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| invalid("Authorization header requires the AWS4-HMAC-SHA256 scheme"))?;
    let mut credential = "";
    let mut signed_headers = "";
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or_default();
        match k {
            "Credential" => credential = v,
            "SignedHeaders" => signed_headers = v,
            _ => {}
        }
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, _date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(invalid(
            "Credential is not <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    let Some((secret, required_token)) = mock_secret(access_key_id) else {
        return Err((
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".to_owned(),
        ));
    };
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let token = header("x-amz-security-token");
    if required_token.is_some() && token != required_token.as_deref() {
        return Err((
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".to_owned(),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| invalid("x-amz-date is missing"))?;
    let time = parse_amz_date(amz_date).ok_or_else(|| invalid("x-amz-date is malformed"))?;
    let host = header("host").ok_or_else(|| invalid("host is missing"))?;
    let path_and_query = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://{host}{path_and_query}");
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in signed_headers.split(';') {
        if matches!(name, "host" | "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        let value = header(name).ok_or_else(|| invalid("a signed header is missing"))?;
        signed.push((name, value));
    }
    let credentials = Credentials::new(
        *access_key_id,
        secret,
        token.map(str::to_owned),
        None,
        "mock",
    );
    let expected = signature_headers(
        req.method.as_str(),
        &url,
        &signed,
        req.body,
        &credentials,
        &Scope {
            region,
            service,
            time,
        },
    )
    .map_err(|e| invalid(&e.message))?;
    let expected_auth = expected
        .iter()
        .find(|(n, _, _)| *n == "authorization")
        .map(|(_, v, _)| v.as_str())
        .unwrap_or_default();
    if expected_auth != auth {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// `20150830T123600Z` → time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        s.get(0..4)?,
        s.get(4..6)?,
        s.get(6..8)?,
        s.get(9..11)?,
        s.get(11..13)?,
        s.get(13..15)?
    );
    let t = DateTime::from_str(&iso, Format::DateTime).ok()?;
    SystemTime::try_from(t).ok()
}

/// The default reply to an AWS route.
pub(super) fn default_reply(
    state: &Arc<MockState>,
    req: &MockRequest<'_>,
    chunks: usize,
) -> Option<Reply> {
    if let Some(action) = sts_action(req) {
        return Some(sts_reply(req, &action));
    }
    let path = req.uri.path();
    if !is_bedrock_path(path) {
        return None;
    }
    let action = path.rsplit('/').next().unwrap_or_default();
    match action {
        "converse" => Some(json_reply(converse_reply(req.json))),
        "converse-stream" => Some(event_stream_reply(
            state,
            converse_stream_events(chunks),
            None,
        )),
        "invoke" if req.json.get("inputText").is_some() => {
            Some(json_reply(titan_embedding(req.json)))
        }
        "invoke" if req.json.get("texts").is_some() => Some(json_reply(cohere_embedding(req.json))),
        "invoke" => Some(json_reply(super::anthropic_message(CLAUDE))),
        "invoke-with-response-stream" => Some(event_stream_reply(
            state,
            invoke_stream_events(chunks),
            None,
        )),
        _ => Some(aws_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "mock server: no such Bedrock operation",
        )),
    }
}

fn json_reply(body: Value) -> Reply {
    Box::new(move |b: axum::http::response::Builder| {
        b.header("content-type", "application/json")
            .header("x-amzn-requestid", "mock-request-id")
            .body(Body::from(body.to_string()))
    })
}

/// A Converse answer: text, or a call of the tool the request forces.
pub fn converse_reply(request: &Value) -> Value {
    let forced = request
        .pointer("/toolConfig/toolChoice/tool/name")
        .and_then(Value::as_str);
    let (content, stop) = match forced {
        Some(name) => (
            json!([{"toolUse": {"toolUseId": "tooluse_mock0001", "name": name, "input": {"answer": 42}}}]),
            "tool_use",
        ),
        None => (json!([{"text": DEFAULT_REPLY}]), "end_turn"),
    };
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 9, "outputTokens": 6, "totalTokens": 15},
        "metrics": {"latencyMs": 120}
    })
}

/// A ConverseStream of `chunks` text pieces, as (event type, payload) pairs.
pub fn converse_stream_events(chunks: usize) -> Vec<(String, Value)> {
    let mut out = vec![("messageStart".to_owned(), json!({"role": "assistant"}))];
    for i in 0..chunks.max(1) {
        let piece = if i == 0 {
            "Hello".to_owned()
        } else {
            format!(" w{i}")
        };
        out.push((
            "contentBlockDelta".to_owned(),
            json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
        ));
    }
    out.push((
        "contentBlockStop".to_owned(),
        json!({"contentBlockIndex": 0}),
    ));
    out.push(("messageStop".to_owned(), json!({"stopReason": "end_turn"})));
    out.push((
        "metadata".to_owned(),
        json!({"usage": {"inputTokens": 9, "outputTokens": chunks.max(1), "totalTokens": 9 + chunks.max(1)},
               "metrics": {"latencyMs": 200}}),
    ));
    out
}

/// InvokeModelWithResponseStream for Claude: Anthropic's events as base64 `chunk`s.
pub fn invoke_stream_events(chunks: usize) -> Vec<(String, Value)> {
    super::anthropic_stream_frames(CLAUDE, chunks)
        .iter()
        .filter_map(|frame| {
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
            let mut event: Value = serde_json::from_str(data).ok()?;
            if event["type"] == "message_stop" {
                event["amazon-bedrock-invocationMetrics"] = json!({
                    "inputTokenCount": 9, "outputTokenCount": chunks,
                    "invocationLatency": 300, "firstByteLatency": 100});
            }
            let bytes = base64::engine::general_purpose::STANDARD.encode(event.to_string());
            Some(("chunk".to_owned(), json!({ "bytes": bytes })))
        })
        .collect()
}

/// A binary event-stream response from encoded messages.
fn event_stream_body(
    state: &Arc<MockState>,
    messages: Vec<Bytes>,
    drop_after: Option<usize>,
) -> Body {
    let guard = OpenStream::new(state);
    let items = messages.into_iter().enumerate();
    let paced = drop_after.is_some();
    let s = stream::unfold((items, guard), move |(mut items, guard)| async move {
        let (i, message) = items.next()?;
        if paced && i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if drop_after.is_some_and(|n| i >= n) {
            return Some((
                Err(std::io::Error::other("mock stream dropped")),
                (items, guard),
            ));
        }
        Some((Ok::<Bytes, std::io::Error>(message), (items, guard)))
    });
    Body::from_stream(s)
}

fn event_stream_reply(
    state: &Arc<MockState>,
    events: Vec<(String, Value)>,
    drop_after: Option<usize>,
) -> Reply {
    let messages = events
        .into_iter()
        .map(|(name, payload)| encode_event(&name, payload.to_string()))
        .collect();
    let body = event_stream_body(state, messages, drop_after);
    Box::new(move |b: axum::http::response::Builder| {
        b.header("content-type", "application/vnd.amazon.eventstream")
            .header("x-amzn-requestid", "mock-request-id")
            .body(body)
    })
}

/// Scripted frames (`{"event"|"exception": name, "data": {...}, "corrupt": bool}`) as an
/// event-stream body.
pub(super) fn scripted_stream(
    state: &Arc<MockState>,
    frames: Vec<String>,
    drop_after: Option<usize>,
) -> Body {
    let messages = frames
        .iter()
        .map(|frame| {
            let spec: Value = serde_json::from_str(frame.trim()).unwrap_or(Value::Null);
            let payload = spec.get("data").cloned().unwrap_or(json!({})).to_string();
            let message = match spec.get("exception").and_then(Value::as_str) {
                Some(kind) => encode_exception(kind, payload),
                None => encode_event(
                    spec.get("event")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown"),
                    payload,
                ),
            };
            if spec.get("corrupt").and_then(Value::as_bool) == Some(true) && message.len() > 8 {
                let mut bytes = message.to_vec();
                let at = bytes.len() - 6;
                bytes[at] ^= 0x5a;
                Bytes::from(bytes)
            } else {
                message
            }
        })
        .collect();
    event_stream_body(state, messages, drop_after)
}

fn embed_values(text: &str, dims: u32) -> Vec<f64> {
    use crate::providers::mock::{embed, MockSpec};
    use crate::types::{EmbeddingRequest, EmbeddingVector};
    let mut req = EmbeddingRequest::new("m", text);
    req.dimensions = Some(dims);
    embed(&req, &MockSpec::default(), dims)
        .ok()
        .and_then(|r| r.data.into_iter().next())
        .map(|e| match e.embedding {
            EmbeddingVector::Float(v) => v,
            EmbeddingVector::Base64(_) => Vec::new(),
        })
        .unwrap_or_default()
}

fn dims_of(request: &Value, key: &str) -> u32 {
    request
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(super::DEFAULT_EMBEDDING_DIMENSIONS)
}

/// Titan Text Embeddings' answer.
pub fn titan_embedding(request: &Value) -> Value {
    let text = request
        .get("inputText")
        .and_then(Value::as_str)
        .unwrap_or_default();
    json!({
        "embedding": embed_values(text, dims_of(request, "dimensions")),
        "inputTextTokenCount": text.split_whitespace().count().max(1),
    })
}

/// Cohere Embed's answer (`embeddings_floats`, or by type when `embedding_types` is set).
pub fn cohere_embedding(request: &Value) -> Value {
    let texts: Vec<&str> = request
        .get("texts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let dims = dims_of(request, "output_dimension");
    let vectors: Vec<Vec<f64>> = texts.iter().map(|t| embed_values(t, dims)).collect();
    if request.get("embedding_types").is_some() {
        json!({"id": "mock-cohere", "response_type": "embeddings_by_type", "texts": texts,
               "embeddings": {"float": vectors}})
    } else {
        json!({"id": "mock-cohere", "response_type": "embeddings_floats", "texts": texts,
               "embeddings": vectors})
    }
}

/// STS: temporary credentials the mock's SigV4 check accepts. A role ARN containing
/// `denied` is refused; a session name containing `short` gets credentials that expire in a
/// minute (inside the client's refresh margin).
fn sts_reply(req: &MockRequest<'_>, action: &str) -> Reply {
    let form: Vec<(String, String)> = req
        .json
        .as_str()
        .map(|f| form_urlencoded::parse(f.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let field = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let role = field("RoleArn");
    if role.contains("denied") {
        return sts_xml_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!("User is not authorized to perform: sts:AssumeRole on resource: {role}"),
        );
    }
    if action == "AssumeRoleWithWebIdentity" && field("WebIdentityToken").is_empty() {
        return sts_xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidIdentityToken",
            "The web identity token is missing",
        );
    }
    if action == "AssumeRoleWithWebIdentity" && field("WebIdentityToken") == "expired-token" {
        return sts_xml_error(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "Token expired",
        );
    }
    let n = STS_ISSUED.fetch_add(1, Ordering::Relaxed);
    let id = format!("ASIAMOCK{n:08}");
    let lifetime = if field("RoleSessionName").contains("short") {
        60
    } else {
        3600
    };
    let expires = DateTime::from(SystemTime::now() + Duration::from_secs(lifetime))
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result><Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>mock-sts-secret-{id}</SecretAccessKey><SessionToken>mock-session-token-{id}</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><Arn>{role}/{session}</Arn><AssumedRoleId>AROAMOCK:{session}</AssumedRoleId></AssumedRoleUser></{action}Result><ResponseMetadata><RequestId>mock</RequestId></ResponseMetadata></{action}Response>",
        session = field("RoleSessionName"),
    );
    Box::new(move |b: axum::http::response::Builder| {
        b.header("content-type", "text/xml").body(Body::from(body))
    })
}
