//! Every OpenAI-compatible host, driven by the data table `src/data/openai_compatible.toml`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::error::LlmError;
use crate::providers::openai::{self, OpenAiStreamParser};
use crate::providers::{
    missing_key_error, HttpRequest, Provider, StreamParser, Target, TargetOptions,
};
use crate::types::{
    ChatParams, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, EMBEDDING_PARAMS,
    OPENAI_PARAMS,
};

const HOST_TABLE: &str = include_str!("../data/openai_compatible.toml");

/// One row of the host table.
#[derive(Debug, Clone, Deserialize)]
pub struct HostEntry {
    pub name: String,
    /// Other provider names LiteLLM gives the same host (`ai21_chat` for `ai21`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The host's own API documentation this row was checked against.
    #[serde(default)]
    pub docs: String,
    /// The default base URL. May hold `{VAR}` placeholders filled from the environment
    /// (`{VAR|OTHER}` takes the first set, `{VAR:-default}` has a fallback), for hosts
    /// whose URL names the account or region.
    #[serde(default)]
    pub api_base: Option<String>,
    #[serde(default)]
    pub api_base_env: Vec<String>,
    #[serde(default)]
    pub api_key_env: Vec<String>,
    #[serde(default = "yes")]
    pub key_required: bool,
    #[serde(default)]
    pub rejects: Vec<String>,
    #[serde(default = "yes")]
    pub stream_usage: bool,
    #[serde(default)]
    pub model_prefix: Option<String>,
    /// Model ids the host builds from parts (Clarifai's model URLs from `user.app.model`).
    #[serde(default)]
    pub model_format: Option<ModelFormat>,
    #[serde(default)]
    pub model_rules: Vec<ModelRule>,
    /// Parameters the host names differently, for every model (see [`rename_param`]).
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Whether the host serves `POST /embeddings`.
    #[serde(default)]
    pub embeddings: bool,
    /// Embedding params the host does not accept.
    #[serde(default)]
    pub embedding_rejects: Vec<String>,
    /// Embedding params the host names differently (`dimensions` → `output_dimension`).
    #[serde(default)]
    pub embedding_rename: BTreeMap<String, String>,
    /// Whether the host serves chat completions (false for embedding-only servers).
    #[serde(default = "yes")]
    pub chat: bool,
    /// Path of chat completions under the base URL.
    #[serde(default = "default_chat_path")]
    pub chat_path: String,
    /// Path of embeddings under the base URL.
    #[serde(default = "default_embeddings_path")]
    pub embeddings_path: String,
    /// The scheme before the key in `Authorization` (`""`: the bare key, as AssemblyAI's).
    #[serde(default = "default_auth_scheme")]
    pub auth_scheme: String,
}

/// A model id assembled from the parts of the model name: `template` with `{0}`, `{1}`, ...
/// filled by the model split on `split`, when the number of parts matches.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelFormat {
    pub split: String,
    pub template: String,
}

impl ModelFormat {
    /// The host's id for `model`, or `model` itself when it does not have the parts (an id
    /// already in the host's form passes through).
    pub fn apply(&self, model: &str) -> String {
        let slots = (0..)
            .take_while(|i| self.template.contains(&format!("{{{i}}}")))
            .count();
        let parts: Vec<&str> = model.split(self.split.as_str()).collect();
        if model.contains("://") || slots == 0 || parts.len() != slots {
            return model.to_owned();
        }
        parts
            .iter()
            .enumerate()
            .fold(self.template.clone(), |acc, (i, part)| {
                acc.replace(&format!("{{{i}}}"), part)
            })
    }
}

fn default_chat_path() -> String {
    "/chat/completions".to_owned()
}

fn default_embeddings_path() -> String {
    "/embeddings".to_owned()
}

fn default_auth_scheme() -> String {
    "Bearer".to_owned()
}

fn yes() -> bool {
    true
}

/// Per-model quirks of a host.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelRule {
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub rejects: Vec<String>,
    #[serde(default)]
    pub rename: HashMap<String, String>,
    /// Embedding params the model does not accept.
    #[serde(default)]
    pub embedding_rejects: Vec<String>,
}

impl ModelRule {
    fn applies_to(&self, model: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, model))
            && !self.exclude.iter().any(|p| glob_match(p, model))
    }
}

/// `*` matches any run of characters; everything else matches itself (ASCII
/// case-insensitive). Allocation-free: it runs for every parameter check of every call.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let text = text.as_bytes();
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    if !starts_with_ci(text, first.as_bytes()) {
        return false;
    }
    let mut rest = &text[first.len()..];
    let mut pieces = parts.peekable();
    if pieces.peek().is_none() {
        // No '*': the whole text must be the pattern.
        return rest.is_empty();
    }
    while let Some(piece) = pieces.next() {
        let piece = piece.as_bytes();
        if pieces.peek().is_none() {
            return piece.is_empty() || ends_with_ci(rest, piece);
        }
        match find_ci(rest, piece) {
            Some(pos) => rest = &rest[pos + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn starts_with_ci(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ci(text: &[u8], suffix: &[u8]) -> bool {
    text.len() >= suffix.len() && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn find_ci(text: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    text.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[derive(Deserialize)]
struct Table {
    host: Vec<HostEntry>,
}

/// The rows of the host table as written (aliases not expanded).
pub fn table_rows() -> Result<Vec<HostEntry>, toml::de::Error> {
    toml::from_str::<Table>(HOST_TABLE).map(|t| t.host)
}

/// Every provider the host table defines: one entry per row and per alias of a row. The
/// table is part of the crate and checked by the tests, so a parse failure here is a build
/// defect; it degrades to no hosts rather than a panic.
pub fn hosts() -> &'static [HostEntry] {
    static HOSTS: OnceLock<Vec<HostEntry>> = OnceLock::new();
    HOSTS.get_or_init(|| {
        let rows = table_rows().unwrap_or_default();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            for alias in &row.aliases {
                let mut entry = row.clone();
                entry.name.clone_from(alias);
                entry.aliases.clear();
                out.push(entry);
            }
            out.push(row);
        }
        out
    })
}

/// Move a parameter to the name the host uses. Only renames between parameters the
/// request type knows are possible; the table test checks that every rename is one.
pub fn rename_param(params: &mut ChatParams, from: &str, to: &str) -> bool {
    match (from, to) {
        ("max_tokens", "max_completion_tokens") => {
            if let Some(v) = params.max_tokens.take() {
                params.max_completion_tokens.get_or_insert(v);
            }
            true
        }
        ("max_completion_tokens", "max_tokens") => {
            if let Some(v) = params.max_completion_tokens.take() {
                params.max_tokens.get_or_insert(v);
            }
            true
        }
        _ => false,
    }
}

/// Fill the `{VAR}` placeholders of a base-URL template from `lookup`. `{A|B}` takes the
/// first of A and B that is set; `{A:-text}` falls back to `text`. Err lists the variables
/// of the first placeholder that could not be filled.
pub fn expand_template(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(len) = rest[open..].find('}') else {
            return Err(format!("an unclosed '{{' in {template:?}"));
        };
        let inner = &rest[open + 1..open + len];
        let (names, fallback) = match inner.split_once(":-") {
            Some((names, fallback)) => (names, Some(fallback)),
            None => (inner, None),
        };
        let value = names
            .split('|')
            .find_map(|name| lookup(name.trim()).filter(|v| !v.trim().is_empty()))
            .or_else(|| fallback.map(str::to_owned));
        match value {
            Some(v) => out.push_str(v.trim()),
            None => return Err(names.split('|').collect::<Vec<_>>().join(" or ")),
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Join a base URL and an endpoint path the way LiteLLM does for these hosts: a base that
/// already ends with the path (or with its last two or more segments) is the whole URL; a
/// base that ends with the path's first segments (`…/v1` and `/v1/chat/completions`) is
/// not given them twice.
pub fn join_url(api_base: &str, path: &str) -> String {
    // Runs on every call: slices compared in place, one allocation (the URL).
    let base = api_base.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let n = segments.len();
    for k in (2..=n).rev() {
        if ends_with_segments(base, &segments[n - k..]) {
            return base.to_owned();
        }
    }
    let k = (1..n)
        .rev()
        .find(|&k| ends_with_segments(base, &segments[..k]))
        .unwrap_or(0);
    let rest = &segments[k..];
    let mut url =
        String::with_capacity(base.len() + rest.iter().map(|s| s.len() + 1).sum::<usize>());
    url.push_str(base);
    url.push('/');
    for (i, s) in rest.iter().enumerate() {
        if i > 0 {
            url.push('/');
        }
        url.push_str(s);
    }
    url
}

/// Whether `base` ends with `/` followed by `segments` joined by `/`.
fn ends_with_segments(base: &str, segments: &[&str]) -> bool {
    let mut rest = base;
    for s in segments.iter().rev() {
        match rest.strip_suffix(s).and_then(|r| r.strip_suffix('/')) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A provider for one OpenAI-compatible host.
pub struct OpenAiCompatible {
    host: HostEntry,
}

impl OpenAiCompatible {
    pub fn new(host: HostEntry) -> Self {
        OpenAiCompatible { host }
    }

    fn rules_for<'a>(&'a self, model: &'a str) -> impl Iterator<Item = &'a ModelRule> + 'a {
        self.host
            .model_rules
            .iter()
            .filter(move |r| r.applies_to(model))
    }

    /// Apply this host's parameter renames for `model`: the host's own (`max_completion_tokens`
    /// → `max_tokens` where only that is known) and its model rules' (`max_tokens` →
    /// `max_completion_tokens` for OpenAI's reasoning models). Azure applies OpenAI's rules
    /// to deployments of those models through this.
    pub fn adapt_for_model(&self, req: &mut ChatRequest, model: &str) {
        for (from, to) in &self.host.rename {
            rename_param(&mut req.params, from, to);
        }
        for rule in self.rules_for(model) {
            for (from, to) in &rule.rename {
                rename_param(&mut req.params, from, to);
            }
        }
    }

    /// [`Provider::resolve_target`] with the environment given as `lookup` (tests pass a map).
    pub fn resolve_with(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Target, LlmError> {
        let host = &self.host;
        let first_set = |vars: &[String]| {
            vars.iter()
                .filter_map(|v| lookup(v))
                .find(|v| !v.trim().is_empty())
        };
        let api_base = match opts
            .api_base
            .clone()
            .or_else(|| first_set(&host.api_base_env))
        {
            Some(base) => base,
            None => self.default_base(model, lookup)?,
        };
        let api_key = match &opts.api_key {
            Some(k) => Some(k.clone()),
            None => first_set(&host.api_key_env).map(SecretString::from),
        };
        if api_key.is_none() && host.key_required {
            return Err(missing_key_error(&host.name, model, &host.api_key_env));
        }
        let model = match &host.model_prefix {
            Some(prefix) if !model.starts_with(prefix.as_str()) && !model.contains('/') => {
                format!("{prefix}{model}")
            }
            _ => model.to_owned(),
        };
        let model = match &host.model_format {
            Some(format) => format.apply(&model),
            None => model,
        };
        Ok(Target {
            provider: self.clone(),
            model,
            api_base,
            api_key,
            api_version: opts.api_version.clone(),
            extra_headers: opts.extra_headers.clone(),
            provider_options: opts.provider_options.clone(),
        })
    }

    /// The table's base URL with its placeholders filled, or the error that says what to set.
    fn default_base(
        &self,
        model: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, LlmError> {
        let host = &self.host;
        let Some(template) = &host.api_base else {
            let or_env = if host.api_base_env.is_empty() {
                String::new()
            } else {
                format!(" or set {}", host.api_base_env.join(" or "))
            };
            return Err(LlmError::bad_request(format!(
                "Provider '{}' has no default api_base: pass api_base=\"http://host:port/v1\"{or_env}",
                host.name
            ))
            .with_provider(host.name.clone())
            .with_model(model));
        };
        expand_template(template, lookup).map_err(|missing| {
            LlmError::bad_request(format!(
                "Provider '{}' needs {missing} set: its URL is {template}. Set it, or pass api_base=",
                host.name
            ))
            .with_provider(host.name.clone())
            .with_model(model)
        })
    }

    /// JSON content type, the key in `Authorization` with the host's scheme, then the
    /// caller's extra headers (which win).
    fn headers(&self, target: &Target) -> Result<HeaderMap, LlmError> {
        let host = &self.host;
        let mut headers = HeaderMap::with_capacity(2 + target.extra_headers.len());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &target.api_key {
            let value = if host.auth_scheme.is_empty() {
                key.expose_secret().to_owned()
            } else {
                format!("{} {}", host.auth_scheme, key.expose_secret())
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                LlmError::new(
                    crate::ErrorKind::Authentication,
                    "The API key contains characters that cannot be sent in an HTTP header",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        openai::add_extra_headers(&mut headers, &target.extra_headers)?;
        Ok(headers)
    }
}

/// A copy of `req` with the named embedding params moved to the host's names (as extra
/// body fields).
fn rename_embedding_params(
    req: &EmbeddingRequest,
    renames: &BTreeMap<String, String>,
) -> EmbeddingRequest {
    let mut out = req.clone();
    for (from, to) in renames {
        let value = match from.as_str() {
            "dimensions" => out.dimensions.take().map(Value::from),
            "user" => out.user.take().map(Value::from),
            "encoding_format" => out
                .encoding_format
                .take()
                .and_then(|f| serde_json::to_value(f).ok()),
            _ => None,
        };
        if let Some(value) = value {
            out.extra.insert(to.clone(), value);
        }
    }
    out
}

impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.host.name
    }

    fn supported_params(&self, model: &str) -> Vec<&'static str> {
        let rules: Vec<&ModelRule> = self.rules_for(model).collect();
        let rejected = |p: &str| {
            self.host.rejects.iter().any(|r| r == p)
                || rules.iter().any(|r| r.rejects.iter().any(|x| x == p))
        };
        let mut params: Vec<&'static str> = OPENAI_PARAMS
            .iter()
            .copied()
            .filter(|p| !rejected(p))
            .collect();
        params.push("stream");
        if !self.host.stream_usage {
            params.retain(|p| *p != "stream_options");
        }
        params
    }

    fn resolve_target(
        self: Arc<Self>,
        model: &str,
        opts: &TargetOptions,
    ) -> Result<Target, LlmError> {
        self.resolve_with(model, opts, &env_lookup)
    }

    fn adapt_request(&self, req: &mut ChatRequest, target: &Target) {
        self.adapt_for_model(req, &target.model);
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        if !self.host.chat {
            return Err(LlmError::bad_request(format!(
                "Provider '{}' serves embeddings only: call llmswitch.embedding(model=\"{}/{}\", input=[...]) instead",
                self.host.name, self.host.name, target.model
            ))
            .with_provider(self.host.name.clone())
            .with_model(target.model.clone()));
        }
        Ok(HttpRequest {
            url: join_url(&target.api_base, &self.host.chat_path),
            headers: self.headers(target)?,
            body: openai::encode_body(req, &target.model, stream)?,
        })
    }

    fn parse_response(&self, body: &[u8], target: &Target) -> Result<ChatResponse, LlmError> {
        openai::parse_response(body, target)
    }

    fn stream_parser(&self, target: &Target, _include_usage: bool) -> Box<dyn StreamParser> {
        Box::new(OpenAiStreamParser::new(target))
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
        self.host.embeddings
    }

    fn embedding_params(&self, model: &str) -> Vec<&'static str> {
        if !self.host.embeddings {
            return Vec::new();
        }
        let rules: Vec<&ModelRule> = self.rules_for(model).collect();
        EMBEDDING_PARAMS
            .iter()
            .copied()
            .filter(|p| {
                !self.host.embedding_rejects.iter().any(|r| r == p)
                    && !rules
                        .iter()
                        .any(|r| r.embedding_rejects.iter().any(|x| x == p))
            })
            .collect()
    }

    fn build_embedding_request(
        &self,
        req: &EmbeddingRequest,
        target: &Target,
    ) -> Result<HttpRequest, LlmError> {
        if !self.host.embeddings {
            return Err(crate::providers::no_embeddings_error(
                &self.host.name,
                &target.model,
            ));
        }
        let renamed;
        let req = if self.host.embedding_rename.is_empty() {
            req
        } else {
            renamed = rename_embedding_params(req, &self.host.embedding_rename);
            &renamed
        };
        Ok(HttpRequest {
            url: join_url(&target.api_base, &self.host.embeddings_path),
            headers: self.headers(target)?,
            body: openai::encode_embedding_body(req, &target.model)?,
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

#[cfg(test)]
mod tests;
