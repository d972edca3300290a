//! Azure OpenAI (`azure/<deployment>`) and Azure AI Foundry (`azure_ai/<model>`): OpenAI's
//! wire format at Azure's URLs, with Azure's keys and Entra ID tokens.
//!
//! - Azure OpenAI: `{api_base}/openai/deployments/{deployment}/chat/completions?api-version=…`
//!   (`/embeddings` likewise); `api_version` `v1`/`latest`/`preview` use the
//!   `{api_base}/openai/v1/…` routes, and an `api_base` that already names a deployment is
//!   used as it is. The `api-version` default is LiteLLM 1.106.2's
//!   ([`DEFAULT_API_VERSION`]).
//! - Azure AI Foundry: `{api_base}/models/chat/completions` on `*.services.ai.azure.com`,
//!   else `{api_base}/chat/completions` (a deployment URL the user gives), `api-version`
//!   only when given, as LiteLLM does.
//!
//! Credentials, first found wins: `api_key=`; `azure_ad_token=`; an
//! `azure_ad_token_provider` (asked once per request); a service principal given as
//! `tenant_id`/`client_id`/`client_secret`; then the environment: `AZURE_OPENAI_API_KEY` /
//! `AZURE_API_KEY` (Foundry: `AZURE_AI_API_KEY`), `AZURE_AD_TOKEN`, and
//! `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`. A service principal's
//! token comes from the client-credentials grant at
//! `{authority}/{tenant}/oauth2/v2.0/token` (authority `AZURE_AUTHORITY_HOST` or
//! `azure_authority_host=`, default `https://login.microsoftonline.com`) for the scope
//! `https://cognitiveservices.azure.com/.default` (`azure_scope=` / `AZURE_SCOPE`), and is
//! cached and shared until a minute before it expires.
//!
//! Models: a deployment's name says nothing reliable about its model, so `base_model=` (or
//! `model_info={"base_model": ...}`) names it; the target's model is then the base model,
//! which prices the call and picks OpenAI's rules for o-series and gpt-5 models
//! (`max_completion_tokens`, fixed sampling). Without one, LiteLLM's name rules apply: a
//! deployment named like `o3…`/`…o1…`/`gpt-5…`, or routed as `o_series/<deployment>` /
//! `gpt5_series/<deployment>`, gets those rules.
//!
//! Streams: Azure's first event carries only `prompt_filter_results` (no choices, empty id
//! and model); it is not a chunk. Every chunk of a stream gets the stream's one id and model.
//! A prompt refused by the content filter is a `ContentPolicyViolationError` whose body keeps
//! Azure's `innererror.content_filter_result`; a completion cut by the filter keeps
//! `finish_reason: "content_filter"`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, LlmError};
use crate::http::HttpClient;
use crate::providers::cached::Cached;
use crate::providers::openai::{self, AuthStyle, OpenAiStreamParser};
use crate::providers::openai_compatible::{self, OpenAiCompatible};
use crate::providers::{HttpRequest, Provider, StreamParser, Target, TargetOptions, TokenProvider};
use crate::stream::{Frame, StreamControl};
use crate::types::{ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse};

/// The `api-version` LiteLLM 1.106.2 sends when none is given (`litellm.AZURE_DEFAULT_API_VERSION`).
pub const DEFAULT_API_VERSION: &str = "2025-02-01-preview";
/// Where Entra ID issues tokens unless `AZURE_AUTHORITY_HOST` says otherwise.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The scope of tokens for Azure OpenAI and Foundry.
pub const DEFAULT_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// A token is replaced this long before Entra ID says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// `provider_options` keys this provider sets in `resolve_target`.
const OPT_DEPLOYMENT: &str = "azure_deployment";
const OPT_BEARER: &str = "azure_bearer";

/// Which Azure product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Azure OpenAI (`azure/`).
    OpenAi,
    /// Azure AI Foundry's OpenAI-compatible endpoints (`azure_ai/`).
    AiFoundry,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::OpenAi => "azure",
            Flavor::AiFoundry => "azure_ai",
        }
    }

    fn key_env(self) -> &'static [&'static str] {
        match self {
            Flavor::OpenAi => &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"],
            Flavor::AiFoundry => &["AZURE_AI_API_KEY"],
        }
    }

    fn base_env(self) -> &'static [&'static str] {
        match self {
            Flavor::OpenAi => &["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"],
            Flavor::AiFoundry => &["AZURE_AI_API_BASE"],
        }
    }
}

/// How one call authenticates beyond what `build_request` puts in the headers.
#[derive(Clone)]
enum CallAuth {
    /// `api-key` or a fixed bearer token, both in `Target::api_key`.
    Static,
    /// A service principal's cached token.
    ServicePrincipal(Arc<EntraTokenSource>),
    /// The caller's token provider, asked per request.
    Provider(Arc<dyn TokenProvider>),
}

/// The Azure provider. The registry holds one per flavor; a call that needs a token
/// source gets a copy carrying it (the target's provider), sharing the token cache.
pub struct Azure {
    flavor: Flavor,
    sources: Arc<Mutex<HashMap<String, Arc<EntraTokenSource>>>>,
    auth: CallAuth,
}

impl Azure {
    pub fn new(flavor: Flavor) -> Self {
        Azure {
            flavor,
            sources: Arc::new(Mutex::new(HashMap::new())),
            auth: CallAuth::Static,
        }
    }

    fn with_auth(&self, auth: CallAuth) -> Arc<Azure> {
        Arc::new(Azure {
            flavor: self.flavor,
            sources: self.sources.clone(),
            auth,
        })
    }

    /// The shared token source of a service principal.
    fn service_principal(&self, sp: ServicePrincipal) -> Arc<EntraTokenSource> {
        let key = sp.cache_key();
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources
            .entry(key)
            .or_insert_with(|| Arc::new(EntraTokenSource::new(sp)))
            .clone()
    }

    fn fail(&self, model: &str, e: LlmError) -> LlmError {
        e.with_provider(self.flavor.name()).with_model(model)
    }
}

/// The OpenAI host entry whose model rules (o-series, gpt-5) apply to Azure deployments.
fn openai_rules() -> Option<&'static OpenAiCompatible> {
    static OPENAI: OnceLock<Option<OpenAiCompatible>> = OnceLock::new();
    OPENAI
        .get_or_init(|| {
            openai_compatible::hosts()
                .iter()
                .find(|h| h.name == "openai")
                .map(|h| OpenAiCompatible::new(h.clone()))
        })
        .as_ref()
}

/// The name whose OpenAI rules apply to `model` (a base model or a deployment name):
/// LiteLLM's detection, by substring, of o-series and gpt-5 deployments.
pub fn rules_model(model: &str) -> &str {
    let lower = model.to_ascii_lowercase();
    if lower.starts_with("o_series/") || ["o1", "o3", "o4"].iter().any(|m| lower.contains(m)) {
        // Only the family matters for the rules; an OpenAI model name keeps its own.
        let named = ["o1*", "o3*", "o4*"]
            .iter()
            .any(|p| openai_compatible::glob_match(p, model));
        return if named { model } else { "o3" };
    }
    if lower.starts_with("gpt5_series/")
        || (lower.contains("gpt-5") && !lower.contains("gpt-5-chat"))
    {
        return if lower.starts_with("gpt-5") {
            model
        } else {
            "gpt-5"
        };
    }
    model
}

/// A deployment name that can go into a URL path as it is (Azure OpenAI's are letters,
/// digits, `-`, `_` and `.`). Foundry's model names only go into the body.
fn check_deployment(flavor: Flavor, name: &str) -> Result<(), LlmError> {
    let ok = !name.is_empty()
        && (flavor == Flavor::AiFoundry
            || name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if ok {
        return Ok(());
    }
    Err(LlmError::bad_request(format!(
        "{name:?} is not a valid Azure deployment name (letters, digits, '-', '_' and '.')"
    )))
}

fn option_str(options: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| options.get(*n).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

fn env_str(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

impl Provider for Azure {
    fn name(&self) -> &str {
        self.flavor.name()
    }

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        match openai_rules() {
            Some(openai) => openai.supported_params(rules_model(model)),
            None => {
                let mut p = crate::types::OPENAI_PARAMS.to_vec();
                p.push("stream");
                p
            }
        }
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        let flavor = self.flavor;
        let mut options = opts.provider_options.clone();
        options.remove(OPT_BEARER);
        // `o_series/` and `gpt5_series/` only mark the family; the URL takes the name.
        let deployment = model
            .strip_prefix("o_series/")
            .or_else(|| model.strip_prefix("gpt5_series/"))
            .unwrap_or(model)
            .to_owned();
        check_deployment(flavor, &deployment).map_err(|e| self.fail(model, e))?;
        let base_model = option_str(&options, &["base_model"]).map(|b| {
            b.strip_prefix("azure/")
                .or_else(|| b.strip_prefix("azure_ai/"))
                .unwrap_or(&b)
                .to_owned()
        });
        let api_base = opts
            .api_base
            .clone()
            .or_else(|| env_str(flavor.base_env()))
            .ok_or_else(|| {
                self.fail(
                    model,
                    LlmError::bad_request(format!(
                        "{} needs an endpoint: pass api_base=\"https://<resource>.{}\" or set {}",
                        flavor.name(),
                        match flavor {
                            Flavor::OpenAi => "openai.azure.com",
                            Flavor::AiFoundry => "services.ai.azure.com",
                        },
                        flavor.base_env().join(" or ")
                    )),
                )
            })?;
        let api_version = opts
            .api_version
            .clone()
            .or_else(|| env_str(&["AZURE_API_VERSION"]));
        let api_version = match flavor {
            Flavor::OpenAi => Some(api_version.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned())),
            Flavor::AiFoundry => api_version,
        };

        // Credentials: the caller's first, then the environment.
        let explicit_sp = ServicePrincipal::from_options(&options);
        let (api_key, bearer, auth) = if let Some(key) = &opts.api_key {
            (Some(key.clone()), false, CallAuth::Static)
        } else if let Some(token) = option_str(&options, &["azure_ad_token"]) {
            (Some(SecretString::from(token)), true, CallAuth::Static)
        } else if let Some(provider) = &opts.token_provider {
            (None, false, CallAuth::Provider(provider.clone()))
        } else if let Some(sp) = explicit_sp {
            (
                None,
                false,
                CallAuth::ServicePrincipal(self.service_principal(sp)),
            )
        } else if let Some(key) = env_str(flavor.key_env()) {
            (Some(SecretString::from(key)), false, CallAuth::Static)
        } else if let Some(token) = env_str(&["AZURE_AD_TOKEN"]) {
            (Some(SecretString::from(token)), true, CallAuth::Static)
        } else if let Some(sp) = ServicePrincipal::from_env(&options) {
            (
                None,
                false,
                CallAuth::ServicePrincipal(self.service_principal(sp)),
            )
        } else {
            return Err(self.fail(
                model,
                LlmError::new(
                    ErrorKind::Authentication,
                    format!(
                        "Missing credentials for provider '{}'. Pass api_key=, azure_ad_token= or azure_ad_token_provider=, or set {} (or AZURE_AD_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET for a service principal)",
                        flavor.name(),
                        flavor.key_env().join(" or ")
                    ),
                ),
            ));
        };
        // Secrets stay out of the target's options: the key is redacted, the token
        // source holds the rest.
        for secret in ["azure_ad_token", "client_secret", "azure_client_secret"] {
            options.remove(secret);
        }
        options.insert(OPT_DEPLOYMENT.into(), Value::from(deployment.clone()));
        if bearer {
            options.insert(OPT_BEARER.into(), Value::Bool(true));
        }
        let provider: Arc<dyn Provider> = match auth {
            CallAuth::Static => self.clone(),
            other => self.with_auth(other),
        };
        Ok(Target {
            provider,
            model: base_model.unwrap_or_else(|| model.to_owned()),
            api_base,
            api_key,
            api_version,
            extra_headers: opts.extra_headers.clone(),
            provider_options: options,
        })
    }

    fn adapt_request(&self, req: &mut ChatRequest, target: &Target) {
        if let Some(openai) = openai_rules() {
            openai.adapt_for_model(req, rules_model(&target.model));
        }
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        let deployment = deployment(target);
        Ok(HttpRequest {
            url: url(self.flavor, target, "/chat/completions"),
            headers: headers(self.flavor, target)?,
            body: openai::encode_body(req, deployment, stream)?,
        })
    }

    fn authorize<'a>(
        &'a self,
        _target: &'a Target,
        _request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<HeaderMap, LlmError>> {
        Box::pin(async move {
            let mut headers = HeaderMap::new();
            let token = match &self.auth {
                CallAuth::Static => return Ok(headers),
                CallAuth::ServicePrincipal(source) => source.token().await?,
                CallAuth::Provider(provider) => provider.token().await?,
            };
            headers.insert(AUTHORIZATION, bearer_value(&token)?);
            Ok(headers)
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        openai::parse_response(body, target)
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(AzureStreamParser::new(target))
    }

    fn parse_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError {
        openai::error_from_body(status, headers, body, target)
    }

    fn supports_embeddings(&self) -> bool {
        true
    }

    fn embedding_params(&self, model: &str) -> Vec<&'static str> {
        match openai_rules() {
            Some(openai) => openai.embedding_params(model),
            None => crate::types::EMBEDDING_PARAMS.to_vec(),
        }
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        Ok(HttpRequest {
            url: url(self.flavor, target, "/embeddings"),
            headers: headers(self.flavor, target)?,
            body: openai::encode_embedding_body(req, deployment(target))?,
        })
    }

    fn parse_embedding_response(
        &self,
        body: &[u8],
        target: &Target,
    ) -> Result<EmbeddingResponse, LlmError> {
        openai::parse_embedding_response(body, target)
    }
}

fn deployment(target: &Target) -> &str {
    target
        .provider_options
        .get(OPT_DEPLOYMENT)
        .and_then(Value::as_str)
        .unwrap_or(&target.model)
}

/// Whether `api_version` selects Azure OpenAI's `/openai/v1` routes.
fn is_v1(api_version: Option<&str>) -> bool {
    matches!(api_version, Some("v1" | "latest" | "preview"))
}

/// The request URL for `route` (`/chat/completions` or `/embeddings`).
fn url(flavor: Flavor, target: &Target, route: &str) -> String {
    let (base, query) = match target.api_base.split_once('?') {
        Some((b, q)) => (b.trim_end_matches('/'), Some(q)),
        None => (target.api_base.trim_end_matches('/'), None),
    };
    let version = target.api_version.as_deref();
    let path = match flavor {
        Flavor::OpenAi if base.contains("/openai/deployments/") => format!("{base}{route}"),
        Flavor::OpenAi if is_v1(version) => {
            let root = base
                .strip_suffix("/openai/v1")
                .or_else(|| base.strip_suffix("/openai"))
                .unwrap_or(base);
            format!("{root}/openai/v1{route}")
        }
        Flavor::OpenAi => format!("{base}/openai/deployments/{}{route}", deployment(target)),
        Flavor::AiFoundry => {
            if host_ends_with(base, ".services.ai.azure.com") && !base.contains("/openai/") {
                openai::endpoint(base.trim_end_matches("/models"), &format!("/models{route}"))
            } else {
                openai::endpoint(base, route)
            }
        }
    };
    // A query the base already has is kept; `api-version` is added unless it is there.
    let mut pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let v1_without_version = flavor == Flavor::OpenAi && matches!(version, Some("v1" | "latest"));
    if let Some(v) = version.filter(|_| !v1_without_version) {
        if !pairs.iter().any(|(k, _)| k == "api-version") {
            pairs.push(("api-version".into(), v.to_owned()));
        }
    }
    if pairs.is_empty() {
        return path;
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

fn host_ends_with(url: &str, suffix: &str) -> bool {
    let host = crate::http::host_of(url);
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    host.ends_with(suffix)
}

/// `api-key` (or, for a token, `Authorization: Bearer`) plus the caller's headers. Azure
/// AI Foundry takes the key as `api-key` on Azure hosts and as a bearer token elsewhere.
fn headers(flavor: Flavor, target: &Target) -> Result<HeaderMap, LlmError> {
    let bearer = target
        .provider_options
        .get(OPT_BEARER)
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let style = if bearer
        || flavor == Flavor::AiFoundry
            && !host_ends_with(&target.api_base, ".services.ai.azure.com")
            && !host_ends_with(&target.api_base, ".openai.azure.com")
    {
        AuthStyle::Bearer
    } else {
        AuthStyle::Header("api-key")
    };
    openai::json_headers(target, style)
}

fn bearer_value(token: &SecretString) -> Result<HeaderValue, LlmError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            LlmError::new(
                ErrorKind::Authentication,
                "The Azure AD token contains characters that cannot be sent in an HTTP header",
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

// ---------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------

/// Azure's SSE stream: OpenAI's chunks, without the filter-results event that opens it, and
/// with one id and one model throughout.
pub struct AzureStreamParser {
    inner: OpenAiStreamParser,
    id: Option<String>,
    model: Option<String>,
    fallback_model: String,
    scratch: Vec<ChatChunk>,
}

impl AzureStreamParser {
    pub fn new(target: &Target) -> Self {
        AzureStreamParser {
            inner: OpenAiStreamParser::new(target),
            id: None,
            model: None,
            fallback_model: target.model.clone(),
            scratch: Vec::new(),
        }
    }
}

impl StreamParser for AzureStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let control = self.inner.on_frame(frame, &mut self.scratch)?;
        for mut chunk in self.scratch.drain(..) {
            // Filter results for the prompt, or an annotation-only event of the
            // asynchronous filter: nothing for the caller.
            if chunk.choices.is_empty() && chunk.usage.is_none() {
                continue;
            }
            let id = self.id.get_or_insert_with(|| {
                if chunk.id.is_empty() {
                    crate::types::new_id("chatcmpl-")
                } else {
                    chunk.id.clone()
                }
            });
            if chunk.id != *id {
                chunk.id.clone_from(id);
            }
            if self.model.is_none() && !chunk.model.is_empty() {
                self.model = Some(chunk.model.clone());
            }
            let model = self.model.as_deref().unwrap_or(&self.fallback_model);
            if chunk.model != model {
                chunk.model = model.to_owned();
            }
            out.push(chunk);
        }
        Ok(control)
    }
}

// ---------------------------------------------------------------------------------------
// Entra ID tokens
// ---------------------------------------------------------------------------------------

/// A service principal's client-credentials grant.
struct ServicePrincipal {
    authority: String,
    tenant_id: String,
    client_id: String,
    client_secret: SecretString,
    scope: String,
}

impl ServicePrincipal {
    fn authority(options: &Map<String, Value>) -> String {
        option_str(options, &["azure_authority_host"])
            .or_else(|| env_str(&["AZURE_AUTHORITY_HOST"]))
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_owned())
    }

    fn scope(options: &Map<String, Value>) -> String {
        option_str(options, &["azure_scope"])
            .or_else(|| env_str(&["AZURE_SCOPE"]))
            .unwrap_or_else(|| DEFAULT_SCOPE.to_owned())
    }

    /// `tenant_id`, `client_id` and `client_secret` given with the call (LiteLLM's names).
    fn from_options(options: &Map<String, Value>) -> Option<ServicePrincipal> {
        let tenant_id = option_str(options, &["tenant_id", "azure_tenant_id"])?;
        let client_id = option_str(options, &["client_id", "azure_client_id"])?;
        let client_secret = option_str(options, &["client_secret", "azure_client_secret"])?;
        Some(ServicePrincipal {
            authority: Self::authority(options),
            tenant_id,
            client_id,
            client_secret: SecretString::from(client_secret),
            scope: Self::scope(options),
        })
    }

    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (per-call values win).
    fn from_env(options: &Map<String, Value>) -> Option<ServicePrincipal> {
        let pick = |opt: &[&str], env: &str| option_str(options, opt).or_else(|| env_str(&[env]));
        Some(ServicePrincipal {
            authority: Self::authority(options),
            tenant_id: pick(&["tenant_id", "azure_tenant_id"], "AZURE_TENANT_ID")?,
            client_id: pick(&["client_id", "azure_client_id"], "AZURE_CLIENT_ID")?,
            client_secret: SecretString::from(pick(
                &["client_secret", "azure_client_secret"],
                "AZURE_CLIENT_SECRET",
            )?),
            scope: Self::scope(options),
        })
    }

    fn cache_key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.authority,
            self.tenant_id,
            self.client_id,
            self.scope,
            self.client_secret.expose_secret()
        )
    }

    fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant_id
        )
    }
}

#[derive(Deserialize)]
struct EntraTokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Value>,
}

/// A service principal and its cached token.
pub struct EntraTokenSource {
    principal: ServicePrincipal,
    token: Cached<SecretString>,
}

impl EntraTokenSource {
    fn new(principal: ServicePrincipal) -> Self {
        EntraTokenSource {
            principal,
            token: Cached::new(EXPIRY_MARGIN),
        }
    }

    async fn token(&self) -> Result<SecretString, LlmError> {
        self.token.get(|| self.exchange()).await
    }

    async fn exchange(&self) -> Result<(SecretString, Option<Duration>), LlmError> {
        let p = &self.principal;
        let url = p.token_url();
        let host = crate::http::host_of(&url).to_owned();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &p.client_id)
            .append_pair("client_secret", p.client_secret.expose_secret())
            .append_pair("scope", &p.scope)
            .finish();
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        // About once an hour: a client of its own keeps it off the callers' pools.
        let response = HttpClient::new()?
            .post(HttpRequest {
                url,
                headers,
                body: form.into(),
            })
            .await?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::http::transport_error(&e, &host))?;
        if !(200..300).contains(&status) {
            return Err(token_error(status, &body, &host));
        }
        let parsed: EntraTokenResponse =
            crate::providers::parse_json(&body, "Entra ID token response")?;
        // Entra ID has sent `expires_in` as a number and as a string.
        let lifetime = parsed
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3600);
        Ok((
            SecretString::from(parsed.access_token),
            Some(Duration::from_secs(lifetime)),
        ))
    }
}

/// An OAuth2 error from Entra ID (`{"error": "invalid_client", "error_description": ...}`).
fn token_error(status: u16, body: &[u8], host: &str) -> LlmError {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
    };
    let detail = match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {}", d.lines().next().unwrap_or(d)),
        (Some(e), None) => e.to_owned(),
        _ => String::from_utf8_lossy(body).chars().take(300).collect(),
    };
    let kind = match status {
        400 | 401 => ErrorKind::Authentication,
        other => ErrorKind::from_status(other),
    };
    LlmError::new(
        kind,
        format!("Getting an Entra ID token from {host} failed (HTTP {status}): {detail}"),
    )
    .with_status(status)
}

#[cfg(test)]
mod tests;
