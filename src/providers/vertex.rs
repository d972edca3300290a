//! Vertex AI (`vertex_ai/…`), authenticated with an OAuth2 access token:
//!
//! - Gemini models: the AI Studio body (`gemini.rs`) at
//!   `…/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`.
//! - Claude models (`vertex_ai/claude-…`): the Messages API body (`anthropic.rs`) without
//!   `model` and with `anthropic_version: "vertex-2023-10-16"`, at
//!   `…/publishers/anthropic/models/{model}:rawPredict` (`:streamRawPredict`).
//!
//! Tokens come from Google credentials: a service-account key (JWT signed with RS256 and
//! exchanged at the key's `token_uri`) or gcloud's authorized-user credentials (refresh
//! token exchange). The credentials are `vertex_credentials=` (a path, the JSON text or a
//! dict), else `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's application-default file.
//! Each credential's token is cached and shared by every call until a minute before it
//! expires; concurrent calls wait for one exchange rather than starting their own.
//!
//! Signing uses `jsonwebtoken` (on aws-lc-rs, rustls's crypto backend here, so no new
//! crypto stack); the exchange goes through our own HTTP client, so it shares the proxy
//! and TLS setup, runs under the call's timeout, is retried with the call, and can be
//! pointed at a loopback server by the credentials' `token_uri` in tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorKind, LlmError};
use crate::http::HttpClient;
use crate::providers::anthropic::{self, AnthropicStreamParser, BodyOptions};
use crate::providers::gemini::{self, GeminiStreamParser};
use crate::providers::openai::{self, AuthStyle};
use crate::providers::{HttpRequest, Provider, StreamParser, Target, TargetOptions};
use crate::types::{ChatRequest, ChatResponse, Message};

const PROJECT_ENV: &[&str] = &["VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"];
const LOCATION_ENV: &[&str] = &["VERTEXAI_LOCATION", "VERTEX_LOCATION"];
const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
const DEFAULT_LOCATION: &str = "us-central1";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A token is replaced this long before Google says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// The `anthropic_version` Claude on Vertex AI takes in the body.
pub const ANTHROPIC_VERTEX_VERSION: &str = "vertex-2023-10-16";
/// `provider_options` keys this provider fills in `resolve_target`.
const OPT_PROJECT: &str = "vertex_project";
const OPT_LOCATION: &str = "vertex_location";
const OPT_CREDENTIALS: &str = "vertex_credentials";
const OPT_TOKEN_SOURCE: &str = "vertex_token_source";

/// The Vertex AI provider. Holds the token sources of the credentials it has seen.
#[derive(Default)]
pub struct VertexAi {
    sources: Mutex<TokenSources>,
}

#[derive(Default)]
struct TokenSources {
    /// Credential source (path or JSON text) → index in `list`.
    by_source: HashMap<String, usize>,
    list: Vec<Arc<TokenSource>>,
}

impl VertexAi {
    pub fn new() -> Self {
        Self::default()
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, TokenSources> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token source for `source` (a path or JSON text), loading it on first use.
    fn token_source(
        &self,
        source: CredentialSource,
    ) -> Result<(usize, Arc<TokenSource>), LlmError> {
        let key = source.key();
        {
            let sources = self.sources();
            if let Some(&i) = sources.by_source.get(&key) {
                return Ok((i, sources.list[i].clone()));
            }
        }
        // Loaded outside the lock (it may read a file); a concurrent first use may load the
        // same credentials twice, and the first one stored wins.
        let loaded = Arc::new(TokenSource::new(Credentials::load(&source)?));
        let mut sources = self.sources();
        if let Some(&i) = sources.by_source.get(&key) {
            return Ok((i, sources.list[i].clone()));
        }
        let i = sources.list.len();
        sources.list.push(loaded.clone());
        sources.by_source.insert(key, i);
        Ok((i, loaded))
    }
}

impl Provider for VertexAi {
    fn name(&self) -> &str {
        "vertex_ai"
    }

    /// Gemini models take their thought signatures back in tool-call ids; Claude's API
    /// would reject them.
    fn adapt_history(&self, messages: &mut [Message], model: &str) {
        if Publisher::of(model) == Publisher::Anthropic {
            gemini::strip_thought_signatures(messages);
        }
    }

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        match Publisher::of(model) {
            Publisher::Google => gemini::supported_params(model),
            Publisher::Anthropic => anthropic::SUPPORTED_PARAMS.to_vec(),
        }
    }

    fn check_params(
        &self,
        req: &mut ChatRequest,
        target: &Target,
        drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        match Publisher::of(&target.model) {
            Publisher::Google => gemini::check_params(req, drop_params),
            Publisher::Anthropic => anthropic::check_params(req, drop_params),
        }
        .map_err(|e| target.annotate(e))
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        gemini::check_model_name("vertex_ai", model)?;
        let fail = |e: LlmError| e.with_provider("vertex_ai").with_model(model);
        let mut options = opts.provider_options.clone();
        // Only resolve_target sets this handle; a caller's value must not pick a token.
        options.remove(OPT_TOKEN_SOURCE);
        let option = |name: &str| {
            options
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let project_given = option(OPT_PROJECT).or_else(|| env_any(PROJECT_ENV));
        let location = option(OPT_LOCATION)
            .or_else(|| env_any(LOCATION_ENV))
            .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());

        // An access token passed as api_key is used as it is; otherwise credentials.
        let mut credentials_project = None;
        if opts.api_key.is_none() {
            let source = CredentialSource::find(options.get(OPT_CREDENTIALS)).map_err(fail)?;
            let (index, token_source) = self.token_source(source).map_err(fail)?;
            credentials_project = token_source.credentials.project_id.clone();
            options.insert(OPT_TOKEN_SOURCE.into(), Value::from(index));
        }
        let project = project_given.or(credentials_project).ok_or_else(|| {
            fail(LlmError::bad_request(
                "Vertex AI needs a Google Cloud project: pass vertex_project=\"my-project\" or set VERTEXAI_PROJECT (or VERTEX_PROJECT, GOOGLE_CLOUD_PROJECT)",
            ))
        })?;
        for (what, value) in [("vertex_project", &project), ("vertex_location", &location)] {
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == ':')
            {
                return Err(fail(LlmError::bad_request(format!(
                    "{what} {value:?} is not a valid Google Cloud name"
                ))));
            }
        }
        let api_base = opts.api_base.clone().unwrap_or_else(|| {
            if location == "global" {
                "https://aiplatform.googleapis.com".to_owned()
            } else {
                format!("https://{location}-aiplatform.googleapis.com")
            }
        });
        // The credentials themselves stay out of the target: the token source has them.
        options.remove(OPT_CREDENTIALS);
        options.insert(OPT_PROJECT.into(), Value::from(project));
        options.insert(OPT_LOCATION.into(), Value::from(location));
        Ok(Target {
            provider: self,
            model: model.to_owned(),
            api_base,
            api_key: opts.api_key.clone(),
            api_version: opts.api_version.clone(),
            extra_headers: opts.extra_headers.clone(),
            provider_options: options,
        })
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        let headers = openai::json_headers(target, AuthStyle::Bearer)?;
        Ok(match Publisher::of(&target.model) {
            Publisher::Google => HttpRequest {
                url: format!(
                    "{}{}",
                    model_path(target, "google"),
                    gemini::method_suffix(stream)
                ),
                headers,
                body: gemini::encode_body(req, &target.model)?,
            },
            Publisher::Anthropic => HttpRequest {
                url: format!(
                    "{}{}",
                    model_path(target, "anthropic"),
                    if stream {
                        ":streamRawPredict"
                    } else {
                        ":rawPredict"
                    }
                ),
                headers,
                body: anthropic::encode_body(
                    req,
                    &BodyOptions {
                        model: None,
                        anthropic_version: Some(ANTHROPIC_VERTEX_VERSION),
                        stream,
                    },
                )?,
            },
        })
    }

    fn authorize<'a>(
        &'a self,
        target: &'a Target,
        _request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<HeaderMap, LlmError>> {
        Box::pin(async move {
            let mut headers = HeaderMap::new();
            let Some(index) = target
                .provider_options
                .get(OPT_TOKEN_SOURCE)
                .and_then(Value::as_u64)
            else {
                // api_key= was given: json_headers already sent it as the bearer token.
                return Ok(headers);
            };
            let source = self
                .sources()
                .list
                .get(index as usize)
                .cloned()
                .ok_or_else(|| {
                    LlmError::new(
                        ErrorKind::Authentication,
                        "Vertex AI credentials were not loaded",
                    )
                })?;
            headers.insert(AUTHORIZATION, source.authorization().await?);
            Ok(headers)
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        match Publisher::of(&target.model) {
            Publisher::Google => gemini::parse_response(body, target),
            Publisher::Anthropic => anthropic::parse_response(body, target),
        }
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        match Publisher::of(&target.model) {
            Publisher::Google => Box::new(GeminiStreamParser::new(target)),
            Publisher::Anthropic => Box::new(AnthropicStreamParser::new(target)),
        }
    }

    fn parse_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError {
        // Vertex AI itself (quota, auth, unknown model) answers in Google's format even for
        // Claude; errors from Claude come in Anthropic's.
        if Publisher::of(&target.model) == Publisher::Anthropic && !is_google_error(body) {
            anthropic::error_from_body(status, headers, body, target)
        } else {
            gemini::error_from_body(status, headers, body, target)
        }
    }
}

/// Whose API serves a model on Vertex AI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publisher {
    Google,
    Anthropic,
}

impl Publisher {
    fn of(model: &str) -> Publisher {
        if model.to_ascii_lowercase().starts_with("claude-") {
            Publisher::Anthropic
        } else {
            Publisher::Google
        }
    }
}

/// Google's error body: `{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", ...}}`.
fn is_google_error(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| {
        let v = match &v {
            Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        v.pointer("/error/status").is_some_and(Value::is_string)
    })
}

/// `{api_base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}`.
fn model_path(target: &Target, publisher: &str) -> String {
    let opt = |k: &str| {
        target
            .provider_options
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    format!(
        "{}/{}/projects/{}/locations/{}/publishers/{publisher}/models/{}",
        target.api_base.trim_end_matches('/'),
        target.api_version.as_deref().unwrap_or("v1"),
        opt(OPT_PROJECT),
        opt(OPT_LOCATION),
        target.model
    )
}

fn env_any(vars: &[&str]) -> Option<String> {
    vars.iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

/// Where credentials come from.
enum CredentialSource {
    Path(String),
    Json(String),
}

impl CredentialSource {
    /// `vertex_credentials=` (path, JSON text or dict), else `GOOGLE_APPLICATION_CREDENTIALS`,
    /// else gcloud's application-default credentials file.
    fn find(given: Option<&Value>) -> Result<CredentialSource, LlmError> {
        match given {
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                return Ok(CredentialSource::Json(s.clone()))
            }
            Some(Value::String(s)) if !s.trim().is_empty() => {
                return Ok(CredentialSource::Path(s.trim().to_owned()))
            }
            Some(v @ Value::Object(_)) => return Ok(CredentialSource::Json(v.to_string())),
            Some(Value::Null) | None => {}
            Some(_) => {
                return Err(LlmError::bad_request(
                    "vertex_credentials must be a path to a credentials JSON file, its JSON text, or a dict",
                ))
            }
        }
        if let Some(path) = env_any(&[CREDENTIALS_ENV]) {
            return Ok(CredentialSource::Path(path));
        }
        if let Some(path) = gcloud_adc_path().filter(|p| p.is_file()) {
            return Ok(CredentialSource::Path(path.to_string_lossy().into_owned()));
        }
        Err(LlmError::new(
            ErrorKind::Authentication,
            "Vertex AI needs Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, pass vertex_credentials= (a path, the JSON text or a dict), or run `gcloud auth application-default login`",
        ))
    }

    fn key(&self) -> String {
        match self {
            CredentialSource::Path(p) => format!("path:{p}"),
            CredentialSource::Json(j) => format!("json:{j}"),
        }
    }
}

/// gcloud's application-default credentials file.
fn gcloud_adc_path() -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os("CLOUDSDK_CONFIG") {
        Some(d) => std::path::PathBuf::from(d),
        None if cfg!(windows) => {
            std::path::PathBuf::from(std::env::var_os("APPDATA")?).join("gcloud")
        }
        None => std::path::PathBuf::from(std::env::var_os("HOME")?)
            .join(".config")
            .join("gcloud"),
    };
    Some(dir.join("application_default_credentials.json"))
}

/// The fields of a credentials file this provider uses.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

enum Grant {
    /// A self-signed JWT exchanged for a token.
    ServiceAccount {
        client_email: String,
        private_key: SecretString,
        private_key_id: Option<String>,
    },
    /// gcloud user credentials: a refresh token exchanged for a token.
    AuthorizedUser {
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
    },
}

struct Credentials {
    grant: Grant,
    token_uri: String,
    project_id: Option<String>,
}

impl Credentials {
    fn load(source: &CredentialSource) -> Result<Credentials, LlmError> {
        let auth_error = |m: String| LlmError::new(ErrorKind::Authentication, m);
        let (text, origin) = match source {
            CredentialSource::Path(path) => (
                std::fs::read_to_string(path).map_err(|e| {
                    auth_error(format!(
                        "Could not read the Google credentials file {path:?}: {e}"
                    ))
                })?,
                format!("the credentials file {path:?}"),
            ),
            CredentialSource::Json(text) => (text.clone(), "vertex_credentials".to_owned()),
        };
        let file: CredentialsFile = serde_json::from_str(&text).map_err(|e| {
            // serde's message names the position, never the content.
            auth_error(format!("{origin} is not valid credentials JSON: {e}"))
        })?;
        let missing = |field: &str| {
            auth_error(format!(
                "{origin} has no \"{field}\" (type {:?})",
                file.kind
            ))
        };
        let grant = match file.kind.as_str() {
            "service_account" => Grant::ServiceAccount {
                client_email: file.client_email.clone().ok_or_else(|| missing("client_email"))?,
                private_key: SecretString::from(
                    file.private_key.clone().ok_or_else(|| missing("private_key"))?,
                ),
                private_key_id: file.private_key_id.clone(),
            },
            "authorized_user" => Grant::AuthorizedUser {
                client_id: file.client_id.clone().ok_or_else(|| missing("client_id"))?,
                client_secret: SecretString::from(
                    file.client_secret.clone().ok_or_else(|| missing("client_secret"))?,
                ),
                refresh_token: SecretString::from(
                    file.refresh_token.clone().ok_or_else(|| missing("refresh_token"))?,
                ),
            },
            other => {
                return Err(auth_error(format!(
                    "{origin} has credentials of type {other:?}; llmswitch supports \"service_account\" keys and \"authorized_user\" (gcloud) credentials"
                )))
            }
        };
        Ok(Credentials {
            grant,
            token_uri: file
                .token_uri
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            project_id: file.project_id.filter(|p| !p.trim().is_empty()),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

struct AccessToken {
    header: HeaderValue,
    refresh_at: Instant,
}

/// One credential's cached access token.
struct TokenSource {
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    fn new(credentials: Credentials) -> Self {
        TokenSource {
            credentials,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// `Bearer <token>`, from the cache or a fresh exchange. The lock is held across the
    /// exchange so concurrent callers wait for it instead of each starting one.
    async fn authorization(&self) -> Result<HeaderValue, LlmError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.refresh_at {
                return Ok(token.header.clone());
            }
        }
        let fresh = self.exchange().await?;
        let header = fresh.header.clone();
        *cached = Some(fresh);
        Ok(header)
    }

    /// The token request's form body.
    fn form(&self) -> Result<String, LlmError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match &self.credentials.grant {
            Grant::ServiceAccount {
                client_email,
                private_key,
                private_key_id,
            } => {
                let now = crate::types::unix_now().max(0) as u64;
                let claims = JwtClaims {
                    iss: client_email,
                    scope: SCOPE,
                    aud: &self.credentials.token_uri,
                    iat: now,
                    exp: now + 3600,
                };
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid.clone_from(private_key_id);
                let key =
                    jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())
                        .map_err(|e| {
                            LlmError::new(
                        ErrorKind::Authentication,
                        format!("The service account's private_key is not a usable RSA key: {e}"),
                    )
                        })?;
                let assertion = jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
                    LlmError::new(
                        ErrorKind::Authentication,
                        format!("Could not sign the service-account token request: {e}"),
                    )
                })?;
                form.append_pair("grant_type", JWT_BEARER_GRANT);
                form.append_pair("assertion", &assertion);
            }
            Grant::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
            } => {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("client_id", client_id);
                form.append_pair("client_secret", client_secret.expose_secret());
                form.append_pair("refresh_token", refresh_token.expose_secret());
            }
        }
        Ok(form.finish())
    }

    async fn exchange(&self) -> Result<AccessToken, LlmError> {
        let token_uri = &self.credentials.token_uri;
        let host = crate::http::host_of(token_uri);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let request = HttpRequest {
            url: token_uri.clone(),
            headers,
            body: self.form()?.into(),
        };
        // A token is fetched about once an hour: a client of its own keeps it off the
        // callers' runtimes' connection pools.
        let response = HttpClient::new()?.post(request).await?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::http::transport_error(&e, host))?;
        if !(200..300).contains(&status) {
            return Err(token_error(status, &body, host));
        }
        let parsed: TokenResponse = crate::providers::parse_json(&body, "OAuth2 token response")?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", parsed.access_token))
            .map_err(|_| {
                LlmError::new(
                    ErrorKind::Authentication,
                    format!("The token endpoint {host} returned an access token that is not a valid header value"),
                )
            })?;
        header.set_sensitive(true);
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        Ok(AccessToken {
            header,
            refresh_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// An OAuth2 error (`{"error": "invalid_grant", "error_description": "..."}`).
fn token_error(status: u16, body: &[u8], host: &str) -> LlmError {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
    };
    let detail = match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_owned(),
        _ => String::from_utf8_lossy(body).chars().take(300).collect(),
    };
    let kind = match status {
        400 | 401 => ErrorKind::Authentication,
        other => ErrorKind::from_status(other),
    };
    LlmError::new(
        kind,
        format!("Getting a Google access token from {host} failed (HTTP {status}): {detail}"),
    )
    .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock_server::{MockServer, Scripted, ScriptedBody};
    use serde_json::json;

    const SERVICE_ACCOUNT: &str = include_str!("../../tests/data/vertex_test_service_account.json");
    const PUBLIC_KEY: &str = include_str!("../../tests/data/vertex_test_public_key.pem");

    fn dummy_request() -> HttpRequest {
        HttpRequest {
            url: "https://example.invalid/".into(),
            headers: HeaderMap::new(),
            body: bytes::Bytes::new(),
        }
    }

    fn credentials_with_token_uri(uri: &str) -> Value {
        let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
        sa["token_uri"] = json!(uri);
        sa
    }

    fn options(credentials: Value) -> TargetOptions {
        let mut provider_options = Map::new();
        provider_options.insert("vertex_credentials".into(), credentials);
        provider_options.insert("vertex_location".into(), json!("europe-west4"));
        TargetOptions {
            provider_options,
            ..Default::default()
        }
    }

    #[test]
    fn target_urls_and_project() {
        let provider = Arc::new(VertexAi::new());
        let t = provider
            .clone()
            .resolve_target(
                "gemini-2.5-pro",
                &options(credentials_with_token_uri("http://127.0.0.1:9/token")),
            )
            .unwrap();
        assert_eq!(t.api_base, "https://europe-west4-aiplatform.googleapis.com");
        assert_eq!(
            model_path(&t, "google"),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/llmswitch-test-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro"
        );
        assert!(t.provider_options.get("vertex_credentials").is_none());

        let mut opts = options(credentials_with_token_uri("http://127.0.0.1:9/token"));
        opts.provider_options
            .insert("vertex_location".into(), json!("global"));
        opts.provider_options
            .insert("vertex_project".into(), json!("other-project"));
        let t = provider
            .clone()
            .resolve_target("gemini-2.5-pro", &opts)
            .unwrap();
        assert_eq!(
            model_path(&t, "google"),
            "https://aiplatform.googleapis.com/v1/projects/other-project/locations/global/publishers/google/models/gemini-2.5-pro"
        );

        // No project anywhere.
        let mut sa = credentials_with_token_uri("http://127.0.0.1:9/token");
        sa.as_object_mut().unwrap().remove("project_id");
        let e = match provider.resolve_target("gemini-2.5-pro", &options(sa)) {
            Err(e) => e,
            Ok(_) => panic!("resolved without a project"),
        };
        assert!(e.message.contains("vertex_project"), "{}", e.message);
    }

    #[test]
    fn claude_goes_to_raw_predict_with_the_vertex_messages_body() {
        let provider = Arc::new(VertexAi::new());
        let t = provider
            .clone()
            .resolve_target(
                "claude-sonnet-4@20250514",
                &options(credentials_with_token_uri("http://127.0.0.1:9/token")),
            )
            .unwrap();
        let req = ChatRequest::new(
            "claude-sonnet-4@20250514",
            vec![crate::types::Message::user("hi")],
        );
        let http = provider.build_request(&req, &t, true).unwrap();
        assert_eq!(
            http.url,
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/llmswitch-test-project/locations/europe-west4/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
        );
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(body["anthropic_version"], ANTHROPIC_VERTEX_VERSION);
        assert_eq!(body["stream"], true);
        assert!(body.get("model").is_none());
        assert_eq!(body["max_tokens"], anthropic::DEFAULT_MAX_TOKENS);
        assert!(http.headers.get("x-api-key").is_none());
        assert_eq!(
            provider.supported_params("claude-sonnet-4@20250514"),
            anthropic::SUPPORTED_PARAMS.to_vec()
        );
        assert!(is_google_error(
            br#"{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}"#
        ));
        assert!(!is_google_error(
            br#"{"type": "error", "error": {"type": "overloaded_error"}}"#
        ));
    }

    #[test]
    fn bad_credentials_are_authentication_errors() {
        let provider = Arc::new(VertexAi::new());
        for (creds, needle) in [
            (json!("/no/such/file.json"), "Could not read"),
            (json!("{not json"), "not valid credentials JSON"),
            (json!({"type": "external_account"}), "external_account"),
            (
                json!({"type": "service_account", "client_email": "a@b"}),
                "private_key",
            ),
        ] {
            let e = match provider
                .clone()
                .resolve_target("gemini-2.5-pro", &options(creds))
            {
                Err(e) => e,
                Ok(_) => panic!("accepted bad credentials"),
            };
            assert_eq!(e.kind, ErrorKind::Authentication);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }

    #[tokio::test]
    async fn signs_exchanges_and_caches_the_token() {
        let server = MockServer::start(0).await.unwrap();
        let token_uri = format!("{}/token", server.url());
        server.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Json(
                json!({"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"}),
            ),
            ..Default::default()
        });
        let provider = Arc::new(VertexAi::new());
        let t = provider
            .clone()
            .resolve_target(
                "gemini-2.5-pro",
                &options(credentials_with_token_uri(&token_uri)),
            )
            .unwrap();
        for _ in 0..3 {
            let h = provider.authorize(&t, &dummy_request()).await.unwrap();
            assert_eq!(h[AUTHORIZATION], "Bearer ya29.first");
        }
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "one exchange for several calls");
        let form = requests[0].body.as_str().unwrap();
        let fields: HashMap<String, String> = form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(fields["grant_type"], JWT_BEARER_GRANT);
        // The assertion is an RS256 JWT signed by the service account's key.
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[token_uri.as_str()]);
        validation.set_issuer(&["tester@llmswitch-test-project.iam.gserviceaccount.com"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<Value>(&fields["assertion"], &key, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("test-key-id-0001"));
        assert_eq!(data.claims["scope"], SCOPE);
        assert_eq!(
            data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap(),
            3600
        );

        // The same credentials in another call share the cached token.
        let t2 = provider
            .clone()
            .resolve_target(
                "gemini-2.5-flash",
                &options(credentials_with_token_uri(&token_uri)),
            )
            .unwrap();
        provider.authorize(&t2, &dummy_request()).await.unwrap();
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn expiring_tokens_are_refreshed_and_errors_mapped() {
        let server = MockServer::start(0).await.unwrap();
        let token_uri = format!("{}/token", server.url());
        // Expires within the refresh margin: the next call exchanges again.
        server.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Json(json!({"access_token": "short", "expires_in": 30})),
            ..Default::default()
        });
        server.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Json(json!({"access_token": "long", "expires_in": 3600})),
            ..Default::default()
        });
        let provider = Arc::new(VertexAi::new());
        let t = provider
            .clone()
            .resolve_target(
                "gemini-2.5-pro",
                &options(credentials_with_token_uri(&token_uri)),
            )
            .unwrap();
        let tokens: Vec<HeaderValue> = [
            provider.authorize(&t, &dummy_request()).await.unwrap(),
            provider.authorize(&t, &dummy_request()).await.unwrap(),
            provider.authorize(&t, &dummy_request()).await.unwrap(),
        ]
        .into_iter()
        .map(|h| h[AUTHORIZATION].clone())
        .collect();
        assert_eq!(tokens, ["Bearer short", "Bearer long", "Bearer long"]);
        assert_eq!(server.hits(), 2);

        let provider = Arc::new(VertexAi::new());
        let t = provider
            .clone()
            .resolve_target(
                "gemini-2.5-pro",
                &options(credentials_with_token_uri(&token_uri)),
            )
            .unwrap();
        server.enqueue(Scripted {
            status: 400,
            body: ScriptedBody::Json(
                json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            ),
            ..Default::default()
        });
        let e = provider.authorize(&t, &dummy_request()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(
            e.message.contains("invalid_grant: Invalid JWT Signature."),
            "{}",
            e.message
        );
        server.enqueue(Scripted {
            status: 503,
            body: ScriptedBody::Raw("busy".into()),
            ..Default::default()
        });
        let e = provider.authorize(&t, &dummy_request()).await.unwrap_err();
        assert!(e.is_retryable());
    }
}
