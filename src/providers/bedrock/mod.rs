//! AWS Bedrock (`bedrock/<model-id>`): the Converse / ConverseStream API for every model
//! family, InvokeModel / InvokeModelWithResponseStream with Anthropic's Messages body for
//! `bedrock/invoke/<anthropic model>`, and InvokeModel embeddings (Titan, Cohere).
//!
//! Model strings, as LiteLLM parses them:
//! - `bedrock/<id>` and `bedrock/converse/<id>` → Converse; `bedrock/invoke/<id>` → InvokeModel
//!   (Anthropic models only);
//! - `<id>` is a model id (`anthropic.claude-3-5-sonnet-20241022-v2:0`), a cross-region
//!   inference profile (`us.anthropic.claude-…`, `eu.`, `apac.`, `global.`, …), or an ARN
//!   (its region is the call's region unless one is given); it is percent-encoded whole into
//!   the path (`:` → `%3A`, `/` → `%2F`);
//! - a region may lead the id: `bedrock/us-west-2/<id>`;
//! - `model_id=` sends the request to another id (a provisioned-throughput ARN) while the
//!   model string names the model; `base_model=` names the model behind an ARN.
//!
//! Endpoint: `api_base=`, `aws_bedrock_runtime_endpoint=` / `AWS_BEDROCK_RUNTIME_ENDPOINT`,
//! else `https://bedrock-runtime.{region}.amazonaws.com`. Region: `aws_region_name=`, the
//! model path, the ARN, `AWS_REGION_NAME`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
//! `region`, else `us-west-2` (LiteLLM's default).
//!
//! Auth: a Bedrock API key (`api_key=`, or `AWS_BEARER_TOKEN_BEDROCK` when no `aws_*`
//! credential is given) as `Authorization: Bearer`; otherwise SigV4 with credentials
//! resolved as `aws::credentials` describes, signed in `authorize` right before each send.

mod converse;
mod embed;
mod errors;
mod stream;

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use secrecy::SecretString;
use serde_json::Value;

use crate::error::{ErrorKind, LlmError};
use crate::providers::anthropic::{self, BodyOptions};
use crate::providers::aws::credentials::{self, AwsSettings, CredentialSource, SourceRegistry};
use crate::providers::aws::profile::Profiles;
use crate::providers::aws::sigv4::{self, Scope};
use crate::providers::aws::{dns_suffix, is_region};
use crate::providers::openai::{self, AuthStyle};
use crate::providers::{HttpRequest, Provider, StreamParser, Target, TargetOptions};
use crate::stream::FrameFormat;
use crate::types::{ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse};

pub use converse::tool_use_id;
pub use embed::EmbedModel;

/// The `anthropic_version` of Claude's body on InvokeModel.
pub const ANTHROPIC_BEDROCK_VERSION: &str = "bedrock-2023-05-31";
/// The region when nothing names one (LiteLLM's default).
pub const DEFAULT_REGION: &str = "us-west-2";
/// Cross-region inference profile prefixes.
const PROFILE_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.", "ca.",
];

/// `provider_options` keys this provider sets in `resolve_target`.
const OPT_ROUTE: &str = "bedrock_route";
const OPT_REGION: &str = "aws_region_name";
const OPT_MODEL_PATH: &str = "bedrock_model_path";

/// Which Bedrock API a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Converse,
    Invoke,
}

/// A model string, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRoute {
    pub route: Route,
    /// A region given in the path (`bedrock/us-west-2/<id>`).
    pub region: Option<String>,
    /// The id as AWS takes it (unencoded).
    pub model_id: String,
}

/// Routes LiteLLM has that llmswitch does not implement.
const UNSUPPORTED_ROUTES: &[&str] = &[
    "converse_like/",
    "agent/",
    "agentcore/",
    "async_invoke/",
    "openai/",
    "mantle/",
    "chat_completions/",
    "claude_platform/",
];

/// Parse the part of a model string after `bedrock/`.
pub fn parse_model(model: &str) -> Result<ModelRoute, LlmError> {
    let mut rest = model.trim();
    let mut route = Route::Converse;
    let mut region = None;
    // Route and region may come in either order.
    for _ in 0..2 {
        if let Some(r) = rest.strip_prefix("converse/") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("invoke/") {
            route = Route::Invoke;
            rest = r;
        }
        if let Some((first, r)) = rest.split_once('/') {
            if is_region(first) && !rest.starts_with("arn:") {
                region = Some(first.to_owned());
                rest = r;
            }
        }
    }
    if let Some(prefix) = UNSUPPORTED_ROUTES.iter().find(|p| rest.starts_with(**p)) {
        return Err(LlmError::bad_request(format!(
            "bedrock/{} is not supported by llmswitch: use bedrock/<model-id> (Converse) or bedrock/invoke/<anthropic model>",
            prefix.trim_end_matches('/')
        )));
    }
    // LiteLLM's spec prefixes for imported Nova models: the id follows.
    rest = rest
        .strip_prefix("nova-2/")
        .or_else(|| rest.strip_prefix("nova/"))
        .unwrap_or(rest);
    if rest.is_empty() {
        return Err(LlmError::bad_request(format!(
            "bedrock model {model:?} has no model id"
        )));
    }
    Ok(ModelRoute {
        route,
        region,
        model_id: rest.to_owned(),
    })
}

/// The region of an ARN (`arn:aws:bedrock:us-east-1:123456789012:…`).
pub fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.split(':');
    (parts.next()? == "arn").then_some(())?;
    let region = parts.nth(2)?;
    is_region(region).then_some(region)
}

/// The model an ARN names when it names one (`…:inference-profile/us.anthropic.…`,
/// `…:foundation-model/anthropic.…`); other ids (and opaque ARNs: application inference
/// profiles, provisioned and custom models) as they are.
pub fn model_of_arn(id: &str) -> &str {
    if !id.starts_with("arn:") {
        return id;
    }
    match id.rsplit_once('/') {
        Some((head, model))
            if head.ends_with(":inference-profile") || head.ends_with(":foundation-model") =>
        {
            model
        }
        _ => id,
    }
}

/// The model behind an id: an ARN's last segment, without a cross-region prefix or a
/// provisioned-throughput suffix (`…-v2:0:51k` → `…-v2:0`).
pub fn base_model(id: &str) -> &str {
    let mut m = id;
    if m.starts_with("arn:") {
        m = m.rsplit('/').next().unwrap_or(m);
    }
    if let Some(p) = PROFILE_PREFIXES.iter().find(|p| m.starts_with(**p)) {
        m = &m[p.len()..];
    }
    // `name:version:throughput` → `name:version`.
    if let Some((head, tail)) = m.rsplit_once(':') {
        if head.contains(':') && tail.chars().any(|c| c.is_ascii_alphabetic()) {
            m = head;
        }
    }
    m
}

/// A model's family: what the Converse translation and the parameter list depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Anthropic,
    AmazonNova,
    AmazonTitan,
    Meta,
    Mistral,
    Cohere,
    Ai21,
    DeepSeek,
    OpenAi,
    Qwen,
    Writer,
    /// An ARN that hides the model (application inference profiles, custom models).
    Unknown,
    Other,
}

impl Family {
    pub fn of(id: &str) -> Family {
        let base = base_model(id).to_ascii_lowercase();
        let provider = base.split('.').next().unwrap_or_default();
        match provider {
            "anthropic" => Family::Anthropic,
            "amazon" if base.contains("nova") => Family::AmazonNova,
            "amazon" => Family::AmazonTitan,
            "meta" => Family::Meta,
            "mistral" => Family::Mistral,
            "cohere" => Family::Cohere,
            "ai21" => Family::Ai21,
            "deepseek" => Family::DeepSeek,
            "openai" => Family::OpenAi,
            "qwen" => Family::Qwen,
            "writer" => Family::Writer,
            _ if id.starts_with("arn:") => Family::Unknown,
            _ => Family::Other,
        }
    }

    /// Whether Converse's `toolChoice` `any` / `tool` works (Anthropic, Mistral Large, Nova).
    pub fn forced_tool_choice(self) -> bool {
        matches!(
            self,
            Family::Anthropic | Family::Mistral | Family::AmazonNova | Family::Unknown
        )
    }

    fn tools(self, base: &str) -> bool {
        match self {
            Family::Meta => ["llama3-1", "llama3-2", "llama3-3", "llama4"]
                .iter()
                .any(|v| base.contains(v)),
            Family::AmazonTitan | Family::Other => false,
            _ => true,
        }
    }

    fn reasoning(self, base: &str) -> bool {
        match self {
            Family::Anthropic => ![
                "claude-3-haiku",
                "claude-3-5",
                "claude-3-sonnet",
                "claude-3-opus",
                "claude-v2",
                "claude-instant",
            ]
            .iter()
            .any(|old| base.contains(old)),
            Family::OpenAi | Family::Unknown => true,
            Family::DeepSeek => !base.contains("r1"),
            Family::AmazonNova => base.contains("nova-2"),
            _ => false,
        }
    }
}

/// The Bedrock provider. The registry's copy translates; a call signed with SigV4 gets a
/// copy carrying its credential source (shared with every call of the same source).
pub struct Bedrock {
    sources: Arc<SourceRegistry>,
    credentials: Option<CredentialSource>,
}

impl Default for Bedrock {
    fn default() -> Self {
        Self::new()
    }
}

impl Bedrock {
    pub fn new() -> Self {
        Bedrock {
            sources: Arc::new(SourceRegistry::default()),
            credentials: None,
        }
    }

    fn fail(model: &str, e: LlmError) -> LlmError {
        e.with_provider("bedrock").with_model(model)
    }
}

fn route_of(target: &Target) -> Route {
    match target
        .provider_options
        .get(OPT_ROUTE)
        .and_then(Value::as_str)
    {
        Some("invoke") => Route::Invoke,
        _ => Route::Converse,
    }
}

fn option<'a>(target: &'a Target, key: &str) -> &'a str {
    target
        .provider_options
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `{api_base}/model/{encoded id}/{action}`.
fn url(target: &Target, action: &str) -> String {
    format!(
        "{}/model/{}/{action}",
        target.api_base.trim_end_matches('/'),
        option(target, OPT_MODEL_PATH)
    )
}

/// Percent-encode a model id for the path, as botocore does (`quote(id, safe="")`).
fn encode_model_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the call names AWS credentials itself (then `AWS_BEARER_TOKEN_BEDROCK` from
/// the environment does not take over).
fn names_aws_credentials(options: &serde_json::Map<String, Value>) -> bool {
    [
        "aws_access_key_id",
        "aws_role_name",
        "aws_profile_name",
        "aws_web_identity_token",
    ]
    .iter()
    .any(|k| options.get(*k).is_some_and(|v| !v.is_null()))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The call's region: `aws_region_name=`, the model path, the ARN, `AWS_REGION_NAME`,
/// `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else [`DEFAULT_REGION`].
fn resolve_region(
    options: &serde_json::Map<String, Value>,
    settings: &AwsSettings,
    route: &ModelRoute,
    url_id: &str,
) -> Result<String, LlmError> {
    let given = options
        .get("aws_region_name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let (region, origin) = if let Some(r) = given {
        (r.to_owned(), "aws_region_name")
    } else if let Some(r) = &route.region {
        (r.clone(), "the model path")
    } else if let Some(r) = arn_region(url_id) {
        (r.to_owned(), "the ARN")
    } else if let Some(r) = env("AWS_REGION_NAME") {
        (r, "AWS_REGION_NAME")
    } else if let Some(r) = env("AWS_REGION") {
        (r, "AWS_REGION")
    } else if let Some(r) = env("AWS_DEFAULT_REGION") {
        (r, "AWS_DEFAULT_REGION")
    } else {
        let profile = settings
            .profile_name
            .clone()
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".to_owned());
        match Profiles::load()
            .get(&profile)
            .and_then(|p| p.get("region").cloned())
        {
            Some(r) => (r, "the AWS config file"),
            None => (DEFAULT_REGION.to_owned(), "the default"),
        }
    };
    if !is_region(&region) {
        return Err(LlmError::bad_request(format!(
            "{region:?} (from {origin}) is not an AWS region name"
        )));
    }
    Ok(region)
}

impl Provider for Bedrock {
    fn name(&self) -> &str {
        "bedrock"
    }

    fn secrets(&self) -> Vec<&str> {
        match &self.credentials {
            Some(source) => source.static_secrets(),
            None => Vec::new(),
        }
    }

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        let family = Family::of(model);
        let base = base_model(model).to_ascii_lowercase();
        let mut params = vec![
            "max_tokens",
            "max_completion_tokens",
            "stream",
            "stream_options",
            "stop",
            "temperature",
            "top_p",
            "response_format",
            "parallel_tool_calls",
        ];
        if family.tools(&base) {
            params.push("tools");
        }
        if family.tools(&base) && (family.forced_tool_choice() || family == Family::Cohere) {
            params.push("tool_choice");
        }
        if family.reasoning(&base) {
            params.push("reasoning_effort");
        }
        if family == Family::Anthropic {
            // What bedrock/invoke/ (Anthropic's body) also takes; check_params drops or
            // refuses these on Converse.
            for p in anthropic::SUPPORTED_PARAMS {
                if !params.contains(p) {
                    params.push(p);
                }
            }
        }
        params
    }

    fn check_params(
        &self,
        req: &mut ChatRequest,
        target: &Target,
        drop_params: bool,
    ) -> Result<Vec<&'static str>, LlmError> {
        let route = route_of(target);
        let family = Family::of(&target.model);
        let mut dropped = Vec::new();
        if family == Family::Anthropic {
            dropped.extend(anthropic::check_params(req, drop_params)?);
        }
        if route == Route::Invoke {
            return Ok(dropped);
        }
        let mut conflicts: Vec<(&'static str, String)> = Vec::new();
        if req.params.user.is_some() {
            conflicts.push(("user", "user (Converse has no such field)".to_owned()));
        }
        if req.params.n.is_some_and(|n| n > 1) {
            conflicts.push(("n", "n > 1".to_owned()));
        }
        if matches!(&req.params.tool_choice, Some(crate::types::ToolChoice::Mode(m)) if m == "none")
        {
            conflicts.push(("tool_choice", "tool_choice=\"none\"".to_owned()));
        }
        let thinking = family == Family::Anthropic
            && anthropic::thinking_config(req)?
                .is_some_and(|t| t.get("type").and_then(Value::as_str) != Some("disabled"));
        if thinking
            && req
                .params
                .response_format
                .as_ref()
                .is_some_and(|f| f.kind == "json_schema" || f.kind == "json_object")
        {
            conflicts.push((
                "response_format",
                "response_format with extended thinking (use bedrock/invoke/ for structured outputs with thinking)".to_owned(),
            ));
        }
        if conflicts.is_empty() {
            return Ok(dropped);
        }
        if drop_params {
            for (name, _) in &conflicts {
                req.params.clear(name);
                dropped.push(*name);
            }
            return Ok(dropped);
        }
        let what: Vec<String> = conflicts.into_iter().map(|(_, w)| w).collect();
        Err(LlmError::new(
            ErrorKind::UnsupportedParams,
            format!(
                "bedrock (Converse) does not support {}. To drop these, pass drop_params=True (per call) or set llmswitch.drop_params = True.",
                what.join("; ")
            ),
        ))
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        let fail = |e: LlmError| Self::fail(model, e);
        let parsed = parse_model(model).map_err(fail)?;
        let mut options = opts.provider_options.clone();
        for k in [OPT_ROUTE, OPT_MODEL_PATH] {
            options.remove(k);
        }
        // `model_id=` (an ARN) gets the request; the model string names the model.
        let url_id = options
            .get("model_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| parsed.model_id.clone());
        let model_name = options
            .get("base_model")
            .and_then(Value::as_str)
            .map(|b| b.strip_prefix("bedrock/").unwrap_or(b).to_owned())
            .unwrap_or_else(|| model_of_arn(&parsed.model_id).to_owned());
        if parsed.route == Route::Invoke
            && Family::of(&model_name) != Family::Anthropic
            && Family::of(&url_id) != Family::Anthropic
        {
            return Err(fail(LlmError::bad_request(format!(
                "bedrock/invoke/ is implemented for Anthropic models only; call {:?} through bedrock/{} (Converse)",
                parsed.model_id, parsed.model_id
            ))));
        }
        let settings = AwsSettings::from_options(&options);
        let region = resolve_region(&options, &settings, &parsed, &url_id).map_err(fail)?;

        // A Bedrock API key, else SigV4 credentials (resolved now: missing ones fail here).
        let bearer = opts.api_key.clone().or_else(|| {
            (!names_aws_credentials(&options))
                .then(|| env("AWS_BEARER_TOKEN_BEDROCK"))
                .flatten()
                .map(SecretString::from)
        });
        let provider: Arc<dyn Provider> = if bearer.is_some() {
            self.clone()
        } else {
            let source = credentials::resolve(&settings, &region, &self.sources).map_err(fail)?;
            Arc::new(Bedrock {
                sources: self.sources.clone(),
                credentials: Some(source),
            })
        };
        let api_base = opts
            .api_base
            .clone()
            .or_else(|| settings.bedrock_runtime_endpoint.clone())
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.{}", dns_suffix(&region)));
        for k in AwsSettings::SECRET_KEYS {
            options.remove(*k);
        }
        options.insert(
            OPT_ROUTE.into(),
            Value::from(match parsed.route {
                Route::Converse => "converse",
                Route::Invoke => "invoke",
            }),
        );
        options.insert(OPT_REGION.into(), Value::from(region));
        options.insert(OPT_MODEL_PATH.into(), Value::from(encode_model_id(&url_id)));
        Ok(Target {
            provider,
            model: model_name,
            api_base,
            api_key: bearer,
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
        let mut headers = openai::json_headers(target, AuthStyle::Bearer)?;
        if stream {
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/vnd.amazon.eventstream"),
            );
        }
        Ok(match route_of(target) {
            Route::Converse => HttpRequest {
                url: url(
                    target,
                    if stream {
                        "converse-stream"
                    } else {
                        "converse"
                    },
                ),
                headers,
                body: converse::encode_body(req, Family::of(&target.model))?,
            },
            Route::Invoke => HttpRequest {
                url: url(
                    target,
                    if stream {
                        "invoke-with-response-stream"
                    } else {
                        "invoke"
                    },
                ),
                headers,
                // Streaming is the endpoint's choice: the body has no `stream` field.
                body: anthropic::encode_body(
                    req,
                    &BodyOptions {
                        model: None,
                        anthropic_version: Some(ANTHROPIC_BEDROCK_VERSION),
                        stream: false,
                    },
                )?,
            },
        })
    }

    fn authorize<'a>(
        &'a self,
        target: &'a Target,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<HeaderMap, LlmError>> {
        Box::pin(async move {
            let Some(source) = &self.credentials else {
                // A Bedrock API key: build_request sent it as the bearer token.
                return Ok(HeaderMap::new());
            };
            let credentials = source.credentials().await?;
            sigv4::sign_request(
                request,
                &credentials,
                &Scope {
                    region: option(target, OPT_REGION),
                    service: "bedrock",
                    time: SystemTime::now(),
                },
            )
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        match route_of(target) {
            Route::Converse => converse::parse_response(body, target),
            Route::Invoke => anthropic::parse_response(body, target),
        }
    }

    fn stream_format(&self) -> FrameFormat {
        FrameFormat::AwsEventStream
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        match route_of(target) {
            Route::Converse => Box::new(stream::ConverseStreamParser::new(target)),
            Route::Invoke => Box::new(stream::InvokeStreamParser::new(target)),
        }
    }

    fn parse_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        target: &Target,
    ) -> LlmError {
        errors::from_http(status, headers, body, target)
    }

    fn supports_embeddings(&self) -> bool {
        true
    }

    fn embedding_params(&self, model: &str) -> Vec<&'static str> {
        EmbedModel::of(base_model(model))
            .map(EmbedModel::params)
            .unwrap_or_default()
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        let model = embed_model(target)?;
        Ok(HttpRequest {
            url: url(target, "invoke"),
            headers: openai::json_headers(target, AuthStyle::Bearer)?,
            body: embed::encode_body(req, model)?,
        })
    }

    fn parse_embedding_response(
        &self,
        body: &[u8],
        target: &Target,
    ) -> Result<EmbeddingResponse, LlmError> {
        embed::parse_response(body, embed_model(target)?, target)
    }
}

fn embed_model(target: &Target) -> Result<EmbedModel, LlmError> {
    EmbedModel::of(base_model(&target.model)).ok_or_else(|| {
        LlmError::bad_request(format!(
            "{:?} is not an embeddings model llmswitch knows on Bedrock (Amazon Titan Text Embeddings, Cohere Embed)",
            target.model
        ))
        .with_provider("bedrock")
        .with_model(&target.model)
    })
}

#[cfg(test)]
mod tests;
