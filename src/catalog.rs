//! The model catalogue: prices, context windows and capabilities of every model llmswitch
//! knows, compiled in from `src/data/models.toml` and extensible at run time with entries in
//! LiteLLM's `model_prices_and_context_window.json` format ([`register`],
//! [`register_json_file`], and the `LLMSWITCH_MODEL_COST_MAP` environment variable, read when
//! the Python package is imported).
//!
//! The embedded file is parsed once, on first use, so importing the package costs nothing.
//! Lookups ([`model_info`]) hash two borrowed strings under an uncontended read lock: no
//! allocation, well under a microsecond. Registration copies the (small) index and swaps it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The compiled-in catalogue (prices per million tokens; see the file's header).
const BUILTIN: &str = include_str!("data/models.toml");

/// Per-million prices in the data file → per-token prices.
const PER_MILLION: f64 = 1_000_000.0;

/// The key of a provider-wide default entry (`mock/*`): used when no model entry matches.
pub const PROVIDER_WILDCARD: &str = "*";

/// Everything known about one model, with LiteLLM's field names (the serde form is one entry
/// of LiteLLM's price file, so user overrides in that format load directly).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The LiteLLM-format key: bare for OpenAI and Anthropic (`gpt-4o`), else
    /// `provider/model` (`groq/llama-3.3-70b-versatile`).
    #[serde(skip)]
    pub key: String,
    /// The llmswitch provider name (LiteLLM's `litellm_provider`, normalised).
    #[serde(rename = "litellm_provider", default)]
    pub provider: String,
    /// The model name as the provider knows it (the key without the provider prefix).
    #[serde(skip)]
    pub model: String,
    /// `chat`, `embedding`, `completion`, `image_generation`, `audio_transcription`, ...
    #[serde(default = "chat_mode")]
    pub mode: String,

    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_token: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_token: Option<f64>,
    /// Price of a prompt token read from the provider's prompt cache.
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_read_input_token_cost: Option<f64>,
    /// Price of a prompt token written to the cache (Anthropic: 5-minute cache, 1.25× input).
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_creation_input_token_cost: Option<f64>,
    /// Price of a prompt token written to the 1-hour cache (Anthropic: 2× input).
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_creation_input_token_cost_above_1hr: Option<f64>,
    /// Price of a reasoning token, where it differs from `output_cost_per_token`.
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_reasoning_token: Option<f64>,
    /// Long-context tier: every input token of a prompt over 200k tokens (Gemini Pro,
    /// Claude Sonnet 1M context).
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_token_above_200k_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_token_above_200k_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_read_input_token_cost_above_200k_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_creation_input_token_cost_above_200k_tokens: Option<f64>,
    /// Where the long-context tier starts, when not at 200k prompt tokens (llmswitch's
    /// field: Claude Haiku 5.5's tier starts at 100k, Grok 4's at 128k). The tier's prices
    /// keep LiteLLM's `*_above_200k_tokens` names.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub long_context_threshold_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_audio_token: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_audio_token: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_image: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_image: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_second: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_second: Option<f64>,

    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<u64>,
    /// LiteLLM's legacy field: the output limit for most entries.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u64>,
    /// Embedding dimensions.
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_vector_size: Option<u64>,

    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_function_calling: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_parallel_function_calling: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_tool_choice: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_vision: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_response_schema: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_reasoning: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_prompt_caching: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_pdf_input: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_audio_input: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_audio_output: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub supports_web_search: bool,
    #[serde(default = "yes", deserialize_with = "lenient_bool_true")]
    pub supports_system_messages: bool,

    /// Other fields of a LiteLLM entry, kept so `model_cost` shows what was registered.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chat_mode() -> String {
    "chat".to_owned()
}

fn yes() -> bool {
    true
}

/// Numbers in hand-edited price files come as ints, floats, numeric strings or null.
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_f64(d)?.filter(|v| *v >= 0.0).map(|v| v as u64))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
}

fn lenient_bool_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(!matches!(Value::deserialize(d)?, Value::Bool(false)))
}

impl ModelInfo {
    /// The entry in LiteLLM's price-file format (what `model_cost[key]` shows).
    pub fn to_litellm(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The output limit: `max_output_tokens`, else LiteLLM's legacy `max_tokens`.
    pub fn output_limit(&self) -> Option<u64> {
        self.max_output_tokens.or(self.max_tokens)
    }

    /// The input limit: `max_input_tokens`, else `max_tokens`.
    pub fn input_limit(&self) -> Option<u64> {
        self.max_input_tokens.or(self.max_tokens)
    }
}

/// Why catalogue entries could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("model entry {key:?}: {message}")]
    Entry { key: String, message: String },
    #[error("cannot read the model cost map {path}: {message}")]
    File { path: String, message: String },
    #[error("the model cost map must be a JSON object of model entries: {0}")]
    Shape(String),
}

/// The index. Replaced wholesale by [`register`]; readers hold it only for a lookup.
#[derive(Debug, Clone, Default)]
struct Catalog {
    /// provider → provider's model name → entry.
    by_provider: HashMap<Box<str>, HashMap<Box<str>, Arc<ModelInfo>>>,
    /// LiteLLM key → entry (the `model_cost` view, and bare-name lookups).
    by_key: HashMap<Box<str>, Arc<ModelInfo>>,
}

impl Catalog {
    fn insert(&mut self, info: ModelInfo) {
        let info = Arc::new(info);
        if !info.provider.is_empty() {
            self.by_provider
                .entry(info.provider.as_str().into())
                .or_default()
                .insert(info.model.as_str().into(), info.clone());
        }
        self.by_key.insert(info.key.as_str().into(), info);
    }

    fn lookup(&self, provider: &str, model: &str) -> Option<&Arc<ModelInfo>> {
        let models = self.by_provider.get(provider);
        models
            .and_then(|m| m.get(model).or_else(|| m.get(PROVIDER_WILDCARD)))
            .or_else(|| self.by_key.get(model))
    }
}

fn catalog() -> &'static RwLock<Arc<Catalog>> {
    static CATALOG: OnceLock<RwLock<Arc<Catalog>>> = OnceLock::new();
    CATALOG.get_or_init(|| RwLock::new(Arc::new(builtin().unwrap_or_default())))
}

fn snapshot() -> Arc<Catalog> {
    match catalog().read() {
        Ok(c) => c.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// What is known about `model` on `provider`: the entry `provider/model`, else the
/// provider-wide default (`mock/*`), else the entry whose LiteLLM key is exactly `model`
/// (`gpt-4o` served by an OpenAI-compatible host), else a dated snapshot's base model
/// (`claude-sonnet-4-20250514` → `claude-sonnet-4`) when only that is listed.
pub fn model_info(provider: &str, model: &str) -> Option<Arc<ModelInfo>> {
    let guard = match catalog().read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(info) = guard.lookup(provider, model) {
        return Some(info.clone());
    }
    if let Some(info) = fine_tuned(&guard, provider, model) {
        return Some(info);
    }
    let base = strip_date_suffix(model)?;
    guard.lookup(provider, base).cloned()
}

/// A fine-tuned model (`ft:<base>:<org>:<name>:<id>`, as OpenAI names them) at its base
/// model's fine-tuned rates: the entry `ft:<base>`, or for an undated base
/// (`ft:gpt-4o-mini:...`) the entry of its snapshot (`ft:gpt-4o-mini-2024-07-18`).
fn fine_tuned(catalog: &Catalog, provider: &str, model: &str) -> Option<Arc<ModelInfo>> {
    let rest = model.strip_prefix("ft:")?;
    let base = rest.split(':').next().filter(|b| !b.is_empty())?;
    let key = format!("ft:{base}");
    if let Some(info) = catalog.lookup(provider, &key) {
        return Some(info.clone());
    }
    let dated = format!("{key}-");
    let mut snapshots: Vec<&Arc<ModelInfo>> = catalog
        .by_key
        .iter()
        .filter(|(k, _)| k.starts_with(&dated) && strip_date_suffix(k) == Some(key.as_str()))
        .map(|(_, v)| v)
        .collect();
    // The earliest snapshot is the one an undated fine-tune name has meant longest.
    snapshots.sort_by(|a, b| a.key.cmp(&b.key));
    snapshots.first().map(|i| Arc::clone(i))
}

/// The entry stored under exactly this LiteLLM key.
pub fn by_key(key: &str) -> Option<Arc<ModelInfo>> {
    let guard = match catalog().read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard.by_key.get(key).cloned()
}

/// Every LiteLLM key, sorted.
pub fn keys() -> Vec<String> {
    let mut keys: Vec<String> = snapshot().by_key.keys().map(|k| k.to_string()).collect();
    keys.sort_unstable();
    keys
}

/// The number of entries.
pub fn len() -> usize {
    snapshot().by_key.len()
}

/// A trailing snapshot date: `-2025-04-14`, `-20250514`, `@20240620`.
fn strip_date_suffix(model: &str) -> Option<&str> {
    let bytes = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = bytes.len();
    if n > 11 && (bytes[n - 9] == b'-' || bytes[n - 9] == b'@') && digits(&bytes[n - 8..]) {
        return Some(&model[..n - 9]);
    }
    if n > 11
        && bytes[n - 11] == b'-'
        && digits(&bytes[n - 10..n - 6])
        && bytes[n - 6] == b'-'
        && digits(&bytes[n - 5..n - 3])
        && bytes[n - 3] == b'-'
        && digits(&bytes[n - 2..])
    {
        return Some(&model[..n - 11]);
    }
    None
}

// ---------------------------------------------------------------------------------------
// LiteLLM-format overrides
// ---------------------------------------------------------------------------------------

/// LiteLLM's `litellm_provider` names that differ from llmswitch's provider names.
fn normalize_provider(litellm_provider: &str) -> &str {
    if litellm_provider.starts_with("vertex_ai") {
        return "vertex_ai";
    }
    match litellm_provider {
        "text-completion-openai" => "openai",
        "together" | "togetherai" => "together_ai",
        "fireworks" => "fireworks_ai",
        "nvidia" => "nvidia_nim",
        "lambda" => "lambda_ai",
        "github_copilot" => "github",
        other => other,
    }
}

/// Split a LiteLLM key into (provider, model) using the entry's `litellm_provider`, else
/// the key's prefix or the bare-name family.
fn split_key(key: &str, litellm_provider: Option<&str>) -> (String, String) {
    if let Some(raw) = litellm_provider.filter(|p| !p.is_empty()) {
        let provider = normalize_provider(raw);
        for prefix in [raw, provider] {
            if let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
                return (provider.to_owned(), rest.to_owned());
            }
        }
        return (provider.to_owned(), key.to_owned());
    }
    match crate::model_id::resolve(key, None) {
        Ok(id) => (id.provider, id.model),
        Err(_) => (String::new(), key.to_owned()),
    }
}

/// Add or update entries given in LiteLLM's price-file format (`{"my-model": {"litellm_provider":
/// "openai", "input_cost_per_token": 1e-6, ...}}`). Fields given for a model already known
/// (by key, or by provider and model) update that entry; other fields keep their values.
/// Keys starting with `_` and LiteLLM's `sample_spec` are skipped. All entries are checked
/// before any is applied. Returns the number of entries added or updated.
pub fn register(entries: &Map<String, Value>) -> Result<usize, CatalogError> {
    let lock = catalog();
    let current = snapshot();
    let mut next = Catalog::clone(&current);
    let mut count = 0;
    for (key, value) in entries {
        if key.starts_with('_') || key == "sample_spec" {
            continue;
        }
        let Value::Object(fields) = value else {
            return Err(CatalogError::Entry {
                key: key.clone(),
                message: "must be an object of fields".to_owned(),
            });
        };
        let raw_provider = fields.get("litellm_provider").and_then(Value::as_str);
        let (provider, model) = split_key(key, raw_provider);
        let existing = next
            .by_key
            .get(key.as_str())
            .or_else(|| {
                next.by_provider
                    .get(provider.as_str())
                    .and_then(|m| m.get(model.as_str()))
            })
            .cloned();
        let mut merged = existing
            .as_deref()
            .map(ModelInfo::to_litellm)
            .unwrap_or_default();
        merged.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut info: ModelInfo =
            serde_json::from_value(Value::Object(merged)).map_err(|e| CatalogError::Entry {
                key: key.clone(),
                message: e.to_string(),
            })?;
        match existing {
            Some(old) => {
                info.key = old.key.clone();
                info.model = old.model.clone();
                info.provider = old.provider.clone();
            }
            None => {
                info.key = key.clone();
                info.model = model;
                info.provider = provider;
            }
        }
        next.insert(info);
        count += 1;
    }
    let mut guard = match lock.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    *guard = Arc::new(next);
    Ok(count)
}

/// [`register`] the entries of a JSON file in LiteLLM's price-file format.
pub fn register_json_file(path: &Path) -> Result<usize, CatalogError> {
    let file_error = |message: String| CatalogError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| file_error(e.to_string()))?;
    match value {
        Value::Object(entries) => register(&entries),
        other => Err(CatalogError::Shape(format!(
            "got {}",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                _ => "a scalar",
            }
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// The compiled-in data file
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    provider: Vec<ProviderSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSection {
    name: String,
    /// LiteLLM keys these models without the provider prefix (`gpt-4o`).
    #[serde(default)]
    bare_keys: bool,
    /// Capabilities of entries that list none.
    #[serde(default)]
    caps: Vec<Capability>,
    models: BTreeMap<String, DataEntry>,
}

/// One model in the data file. Prices are USD per million tokens (per image / per second
/// where named so).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataEntry {
    #[serde(rename = "in")]
    input: Option<f64>,
    out: Option<f64>,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    cache_write_1h: Option<f64>,
    reasoning_out: Option<f64>,
    in_above_200k: Option<f64>,
    out_above_200k: Option<f64>,
    cache_read_above_200k: Option<f64>,
    cache_write_above_200k: Option<f64>,
    /// Where the long-context tier starts (default 200k prompt tokens).
    long_above: Option<u64>,
    audio_in: Option<f64>,
    audio_out: Option<f64>,
    per_image_in: Option<f64>,
    per_image_out: Option<f64>,
    per_second_in: Option<f64>,
    per_second_out: Option<f64>,
    /// Context window (max input tokens).
    ctx: Option<u64>,
    max_out: Option<u64>,
    mode: Option<String>,
    /// Embedding dimensions.
    dims: Option<u64>,
    caps: Option<Vec<Capability>>,
    /// Other names of the same model (dated snapshots, `-latest`).
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Capability {
    /// Function calling and `tool_choice`.
    Tools,
    /// Several tool calls in one turn.
    Parallel,
    Vision,
    /// JSON-schema structured output (`response_format={"type": "json_schema"}`).
    Schema,
    Reasoning,
    /// Prompt caching (automatic or `cache_control`).
    Cache,
    Pdf,
    AudioIn,
    AudioOut,
    WebSearch,
    /// The model rejects system messages.
    NoSystem,
}

fn per_token(per_million: Option<f64>) -> Option<f64> {
    per_million.map(|p| p / PER_MILLION)
}

fn entry_info(section: &ProviderSection, model: &str, e: &DataEntry) -> ModelInfo {
    let caps = e.caps.as_deref().unwrap_or(&section.caps);
    let has = |c: Capability| caps.contains(&c);
    let key = if section.bare_keys {
        model.to_owned()
    } else {
        format!("{}/{model}", section.name)
    };
    ModelInfo {
        key,
        provider: section.name.clone(),
        model: model.to_owned(),
        mode: e.mode.clone().unwrap_or_else(chat_mode),
        input_cost_per_token: per_token(e.input),
        output_cost_per_token: per_token(e.out),
        cache_read_input_token_cost: per_token(e.cache_read),
        cache_creation_input_token_cost: per_token(e.cache_write),
        cache_creation_input_token_cost_above_1hr: per_token(e.cache_write_1h),
        output_cost_per_reasoning_token: per_token(e.reasoning_out),
        input_cost_per_token_above_200k_tokens: per_token(e.in_above_200k),
        output_cost_per_token_above_200k_tokens: per_token(e.out_above_200k),
        cache_read_input_token_cost_above_200k_tokens: per_token(e.cache_read_above_200k),
        cache_creation_input_token_cost_above_200k_tokens: per_token(e.cache_write_above_200k),
        long_context_threshold_tokens: e.long_above,
        input_cost_per_audio_token: per_token(e.audio_in),
        output_cost_per_audio_token: per_token(e.audio_out),
        input_cost_per_image: e.per_image_in,
        output_cost_per_image: e.per_image_out,
        input_cost_per_second: e.per_second_in,
        output_cost_per_second: e.per_second_out,
        max_input_tokens: e.ctx,
        max_output_tokens: e.max_out,
        max_tokens: e.max_out.or(e.ctx),
        output_vector_size: e.dims,
        supports_function_calling: has(Capability::Tools),
        supports_parallel_function_calling: has(Capability::Parallel),
        supports_tool_choice: has(Capability::Tools),
        supports_vision: has(Capability::Vision),
        supports_response_schema: has(Capability::Schema),
        supports_reasoning: has(Capability::Reasoning),
        supports_prompt_caching: has(Capability::Cache),
        supports_pdf_input: has(Capability::Pdf),
        supports_audio_input: has(Capability::AudioIn),
        supports_audio_output: has(Capability::AudioOut),
        supports_web_search: has(Capability::WebSearch),
        supports_system_messages: !has(Capability::NoSystem),
        extra: Map::new(),
    }
}

/// Parse the compiled-in data file. A unit test guarantees it parses; should it ever not,
/// the catalogue starts empty (costs are `None`) rather than failing calls.
fn builtin() -> Result<Catalog, toml::de::Error> {
    let file: DataFile = toml::from_str(BUILTIN)?;
    let mut catalog = Catalog::default();
    for section in &file.provider {
        for (model, entry) in &section.models {
            for name in std::iter::once(model).chain(&entry.aliases) {
                catalog.insert(entry_info(section, name, entry));
            }
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_file_parses() {
        let c = builtin().unwrap();
        assert!(c.by_key.len() >= 400, "{}", c.by_key.len());
    }

    /// Catch data-entry slips: every priced chat model has both prices and a context
    /// window, discounts are discounts, premiums are premiums, tiers go up, and every
    /// provider exists (or is one being added on another branch).
    #[test]
    fn builtin_data_is_consistent() {
        const PENDING_PROVIDERS: &[&str] = &["anthropic", "gemini", "vertex_ai"];
        let c = builtin().unwrap();
        for (key, m) in &c.by_key {
            let what = format!("{key}: {m:?}");
            assert!(
                crate::providers::get(&m.provider).is_some()
                    || PENDING_PROVIDERS.contains(&m.provider.as_str()),
                "unknown provider in {what}"
            );
            if m.mode == "chat" && m.model != PROVIDER_WILDCARD {
                let (Some(input), Some(output)) = (m.input_cost_per_token, m.output_cost_per_token)
                else {
                    panic!("chat model without prices: {what}");
                };
                assert!(input >= 0.0 && output >= 0.0, "{what}");
                assert!(
                    m.max_input_tokens.is_some() && m.max_output_tokens.is_some(),
                    "{what}"
                );
                if let Some(read) = m.cache_read_input_token_cost {
                    assert!(read <= input, "cache read above input: {what}");
                }
                if let Some(write) = m.cache_creation_input_token_cost {
                    assert!(write >= input, "cache write below input: {what}");
                }
                if let Some(long) = m.input_cost_per_token_above_200k_tokens {
                    assert!(long >= input, "long tier below base: {what}");
                }
                // Prices are per token: a per-token price of a dollar or more is a unit slip.
                assert!(
                    input < 1e-3 && output < 1e-3,
                    "per-million price not converted: {what}"
                );
            }
        }
    }

    /// Embedding entries: an input price, no output price, a vector size and an input
    /// limit; and their provider can embed (Vertex AI's `:predict` embeddings API is not
    /// implemented yet; its prices are listed for cost lookups).
    #[test]
    fn builtin_embedding_models_are_consistent() {
        const PENDING_PROVIDERS: &[&str] = &["vertex_ai"];
        let c = builtin().unwrap();
        let mut count = 0;
        for (key, m) in &c.by_key {
            if m.mode != "embedding" {
                continue;
            }
            count += 1;
            let what = format!("{key}: {m:?}");
            assert!(m.input_cost_per_token.is_some_and(|p| p < 1e-3), "{what}");
            assert!(m.output_cost_per_token.is_none(), "{what}");
            assert!(
                m.output_vector_size.is_some() && m.max_input_tokens.is_some(),
                "{what}"
            );
            let can_embed =
                crate::providers::get(&m.provider).is_some_and(|p| p.supports_embeddings());
            assert!(
                can_embed || PENDING_PROVIDERS.contains(&m.provider.as_str()),
                "{what}: provider has no embeddings API"
            );
        }
        assert!(count >= 25, "{count}");
        let small = model_info("openai", "text-embedding-3-small").unwrap();
        assert_eq!(small.input_cost_per_token, Some(0.02 / 1e6));
        assert_eq!(small.output_vector_size, Some(1536));
    }

    #[test]
    fn builtin_parse_time() {
        let started = std::time::Instant::now();
        let c = builtin().unwrap();
        println!(
            "parsed {} entries in {:?}",
            c.by_key.len(),
            started.elapsed()
        );
    }

    #[test]
    fn lookup_by_provider_key_and_wildcard() {
        let gpt = model_info("openai", "gpt-4o").unwrap();
        assert_eq!(gpt.key, "gpt-4o");
        assert_eq!(gpt.provider, "openai");
        assert!(gpt.supports_vision && gpt.supports_function_calling);
        assert!(gpt.input_cost_per_token.unwrap() > 0.0);
        // A bare LiteLLM key found for another host.
        assert_eq!(
            model_info("openai_compatible", "gpt-4o").unwrap().key,
            "gpt-4o"
        );
        let groq = model_info("groq", "llama-3.3-70b-versatile").unwrap();
        assert_eq!(groq.key, "groq/llama-3.3-70b-versatile");
        let mock = model_info("mock", "anything").unwrap();
        assert_eq!(mock.input_cost_per_token, Some(0.0));
        assert!(model_info("groq", "no-such-model").is_none());
    }

    #[test]
    fn dated_snapshot_falls_back_to_base() {
        assert_eq!(strip_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            strip_date_suffix("claude-sonnet-4-20250514"),
            Some("claude-sonnet-4")
        );
        assert_eq!(
            strip_date_suffix("claude-3-5-sonnet@20240620"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(strip_date_suffix("gpt-4o"), None);
        assert_eq!(strip_date_suffix("x-123"), None);
        assert_eq!(
            model_info("openai", "gpt-4o-2099-01-01").unwrap().key,
            "gpt-4o"
        );
    }

    #[test]
    fn register_litellm_format_adds_and_merges() {
        let entries = json!({
            "my-test-model-xyz": {"litellm_provider": "openai", "mode": "chat",
                "input_cost_per_token": 0.000001, "output_cost_per_token": "0.000002",
                "max_input_tokens": 1000, "supports_vision": true, "custom_field": 7},
            "groq/my-groq-test-model": {"litellm_provider": "groq", "input_cost_per_token": 1e-7},
            "sample_spec": {"max_tokens": "LEGACY"},
            "_sources": "ignored"
        });
        let n = register(entries.as_object().unwrap()).unwrap();
        assert_eq!(n, 2);
        let m = model_info("openai", "my-test-model-xyz").unwrap();
        assert_eq!(m.output_cost_per_token, Some(0.000002));
        assert!(m.supports_vision);
        assert_eq!(m.to_litellm()["custom_field"], json!(7));
        assert_eq!(
            model_info("groq", "my-groq-test-model").unwrap().key,
            "groq/my-groq-test-model"
        );
        // A partial update keeps the other fields.
        register(
            json!({"my-test-model-xyz": {"output_cost_per_token": 0.5}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let m = by_key("my-test-model-xyz").unwrap();
        assert_eq!(m.output_cost_per_token, Some(0.5));
        assert_eq!(m.input_cost_per_token, Some(0.000001));
        assert_eq!(m.provider, "openai");
    }

    #[test]
    fn register_rejects_non_objects_without_applying_any() {
        let entries = json!({"ok-model-abc": {"litellm_provider": "openai"}, "bad": 3});
        let err = register(entries.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("\"bad\""), "{err}");
        assert!(by_key("ok-model-abc").is_none());
    }

    #[test]
    fn litellm_provider_names_are_normalised() {
        assert_eq!(
            split_key(
                "vertex_ai/claude-3-5-sonnet@20240620",
                Some("vertex_ai-anthropic_models")
            ),
            ("vertex_ai".into(), "claude-3-5-sonnet@20240620".into())
        );
        assert_eq!(
            split_key("gemini-1.5-pro", Some("vertex_ai-language-models")),
            ("vertex_ai".into(), "gemini-1.5-pro".into())
        );
        assert_eq!(
            split_key("groq/llama3-8b", None),
            ("groq".into(), "llama3-8b".into())
        );
    }
}
