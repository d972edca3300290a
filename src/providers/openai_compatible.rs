//! Every OpenAI-compatible host, driven by the data table `src/data/openai_compatible.toml`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::LlmError;
use crate::providers::openai::{self, AuthStyle, OpenAiStreamParser};
use crate::providers::{
    env_first, missing_key_error, HttpRequest, Provider, StreamParser, Target, TargetOptions,
};
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, EMBEDDING_PARAMS, OPENAI_PARAMS,
};

const HOST_TABLE: &str = include_str!("../data/openai_compatible.toml");

/// One row of the host table.
#[derive(Debug, Clone, Deserialize)]
pub struct HostEntry {
    pub name: String,
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
    #[serde(default)]
    pub model_rules: Vec<ModelRule>,
    /// Whether the host serves `POST /embeddings`.
    #[serde(default)]
    pub embeddings: bool,
    /// Embedding params the host does not accept.
    #[serde(default)]
    pub embedding_rejects: Vec<String>,
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

/// The parsed host table. The table is part of the crate and checked by the tests, so a
/// parse failure here is a build defect; it degrades to no hosts rather than a panic.
pub fn hosts() -> &'static [HostEntry] {
    static HOSTS: OnceLock<Vec<HostEntry>> = OnceLock::new();
    HOSTS.get_or_init(|| match toml::from_str::<Table>(HOST_TABLE) {
        Ok(t) => t.host,
        Err(_) => Vec::new(),
    })
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

    /// Apply this host's parameter renames for `model` (e.g. `max_tokens` →
    /// `max_completion_tokens` for OpenAI's reasoning models). Azure applies OpenAI's rules
    /// to deployments of those models through this.
    pub fn adapt_for_model(&self, req: &mut ChatRequest, model: &str) {
        for rule in self.rules_for(model) {
            for (from, to) in &rule.rename {
                if from == "max_tokens" && to == "max_completion_tokens" {
                    if let Some(v) = req.params.max_tokens.take() {
                        req.params.max_completion_tokens.get_or_insert(v);
                    }
                }
            }
        }
    }
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
        let host = &self.host;
        let api_base = opts
            .api_base
            .clone()
            .or_else(|| env_first(&host.api_base_env))
            .or_else(|| host.api_base.clone())
            .ok_or_else(|| {
                let vars = host.api_base_env.join(" or ");
                LlmError::bad_request(format!(
                    "Provider '{}' has no default api_base: pass api_base=\"http://host:port/v1\" or set {vars}",
                    host.name
                ))
                .with_provider(host.name.clone())
                .with_model(model)
            })?;
        let api_key = match &opts.api_key {
            Some(k) => Some(k.clone()),
            None => env_first(&host.api_key_env).map(SecretString::from),
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

    fn adapt_request(&self, req: &mut ChatRequest, target: &Target) {
        self.adapt_for_model(req, &target.model);
    }

    fn build_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        stream: bool,
    ) -> Result<HttpRequest, LlmError> {
        openai::build_request(req, target, stream, AuthStyle::Bearer)
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
        openai::build_embedding_request(req, target, AuthStyle::Bearer)
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
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_has_required_hosts() {
        let names: Vec<&str> = hosts().iter().map(|h| h.name.as_str()).collect();
        for required in [
            "openai",
            "groq",
            "together_ai",
            "deepseek",
            "fireworks_ai",
            "openrouter",
            "perplexity",
            "xai",
            "deepinfra",
            "cerebras",
            "sambanova",
            "nvidia_nim",
            "hosted_vllm",
            "lm_studio",
            "llamafile",
            "openai_compatible",
        ] {
            assert!(names.contains(&required), "missing host {required}");
        }
        for h in hosts() {
            for p in h
                .rejects
                .iter()
                .chain(h.model_rules.iter().flat_map(|r| r.rejects.iter()))
            {
                assert!(
                    OPENAI_PARAMS.contains(&p.as_str()),
                    "{}: unknown param {p}",
                    h.name
                );
            }
            for p in h.embedding_rejects.iter().chain(
                h.model_rules
                    .iter()
                    .flat_map(|r| r.embedding_rejects.iter()),
            ) {
                assert!(
                    EMBEDDING_PARAMS.contains(&p.as_str()),
                    "{}: unknown embedding param {p}",
                    h.name
                );
            }
            if h.key_required {
                assert!(!h.api_key_env.is_empty(), "{} needs a key env var", h.name);
            }
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match("o1*", "o1-mini"));
        assert!(glob_match("gpt-5*", "GPT-5"));
        assert!(!glob_match("o1*", "gpt-4o"));
        assert!(glob_match("*-chat*", "gpt-5-chat-latest"));
        assert!(glob_match("exact", "exact"));
        assert!(glob_match("EXACT", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*", "anything"));
    }
}
