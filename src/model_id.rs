//! Model strings: `provider/model`, bare names inferred by family, and `custom_llm_provider`.

use crate::error::LlmError;
use crate::providers;

/// Bare model-name prefixes and the provider they belong to. Checked in order; only
/// providers that are registered count.
const BARE_MODEL_FAMILIES: &[(&str, &str)] = &[
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("ft:gpt-", "openai"),
    ("codex-", "openai"),
    // OpenAI's embedding models (Google's text-embedding-004/005 are not OpenAI's).
    ("text-embedding-3", "openai"),
    ("text-embedding-ada", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "gemini"),
    ("command-", "cohere"),
    ("embed-english-", "cohere"),
    ("embed-multilingual-", "cohere"),
    ("embed-v4", "cohere"),
    ("mistral-", "mistral"),
    ("open-mistral-", "mistral"),
    ("open-mixtral-", "mistral"),
    ("codestral-", "mistral"),
    ("magistral-", "mistral"),
    ("ministral-", "mistral"),
    ("pixtral-", "mistral"),
    ("devstral-", "mistral"),
    ("grok-", "xai"),
    ("deepseek-", "deepseek"),
];

/// A model string split into provider and the provider's model name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelId {
    pub provider: String,
    pub model: String,
}

/// Split `model` into provider and model name.
///
/// - `custom_llm_provider` wins; a matching `provider/` prefix on `model` is removed.
/// - `provider/model` where `provider` is registered.
/// - A bare name of a known family (`gpt-4o` → openai, `claude-…` → anthropic, …).
///
/// Anything else is a `BadRequestError` listing the known providers.
pub fn resolve(model: &str, custom_llm_provider: Option<&str>) -> Result<ModelId, LlmError> {
    let model = model.trim();
    if model.is_empty() {
        return Err(LlmError::bad_request(
            "model is empty: pass model=\"provider/model-name\", e.g. \"openai/gpt-4o\"",
        ));
    }
    if let Some(p) = custom_llm_provider.filter(|p| !p.is_empty()) {
        if providers::get(p).is_none() {
            return Err(unknown_provider(p, model));
        }
        let name = model
            .strip_prefix(p)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(model);
        return Ok(ModelId {
            provider: p.to_owned(),
            model: name.to_owned(),
        });
    }
    if let Some((prefix, rest)) = model.split_once('/') {
        if providers::get(prefix).is_some() {
            if rest.is_empty() {
                return Err(LlmError::bad_request(format!(
                    "model {model:?} names provider '{prefix}' but no model after the '/'"
                ))
                .with_provider(prefix));
            }
            return Ok(ModelId {
                provider: prefix.to_owned(),
                model: rest.to_owned(),
            });
        }
        return Err(unknown_provider(prefix, model));
    }
    if let Some(provider) = infer_provider(model) {
        return Ok(ModelId {
            provider: provider.to_owned(),
            model: model.to_owned(),
        });
    }
    Err(LlmError::bad_request(format!(
        "Cannot tell which provider serves model {model:?}. Prefix it with the provider, e.g. \"openai/{model}\", or pass custom_llm_provider=. Known providers: {}",
        providers::names().join(", ")
    ))
    .with_model(model))
}

/// The provider of a bare model name, if its family is known and registered.
pub fn infer_provider(model: &str) -> Option<&'static str> {
    let lower = model.to_ascii_lowercase();
    BARE_MODEL_FAMILIES
        .iter()
        .find(|(prefix, provider)| lower.starts_with(prefix) && providers::get(provider).is_some())
        .map(|(_, provider)| *provider)
}

fn unknown_provider(provider: &str, model: &str) -> LlmError {
    let names = providers::names();
    // Short names are all a couple of edits apart: suggest only a near miss for them.
    let reach = if provider.chars().count() <= 4 { 1 } else { 2 };
    let hint = crate::suggest::closest(provider, names.iter().copied(), reach)
        .map(|name| format!(" Did you mean '{name}'?"))
        .unwrap_or_default();
    LlmError::bad_request(format!(
        "Unknown provider '{provider}' in model {model:?}.{hint} Known providers: {}. For another OpenAI-compatible server use \"openai_compatible/<model>\" with api_base=...",
        names.join(", ")
    ))
    .with_model(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn prefixed_and_bare() {
        assert_eq!(
            resolve("groq/llama-3.3-70b-versatile", None).unwrap(),
            ModelId {
                provider: "groq".into(),
                model: "llama-3.3-70b-versatile".into()
            }
        );
        assert_eq!(resolve("gpt-4o", None).unwrap().provider, "openai");
        assert_eq!(resolve("o3-mini", None).unwrap().provider, "openai");
        assert_eq!(
            resolve("text-embedding-3-small", None).unwrap().provider,
            "openai"
        );
        assert!(resolve("text-embedding-005", None).is_err());
        assert_eq!(
            resolve("chatgpt-4o-latest", None).unwrap().provider,
            "openai"
        );
        // A model name containing '/' after the provider keeps it.
        assert_eq!(
            resolve("openrouter/meta-llama/llama-3-70b", None)
                .unwrap()
                .model,
            "meta-llama/llama-3-70b"
        );
    }

    #[test]
    fn custom_provider_overrides() {
        let id = resolve("my-model", Some("hosted_vllm")).unwrap();
        assert_eq!(id.provider, "hosted_vllm");
        let id = resolve("groq/llama", Some("groq")).unwrap();
        assert_eq!(id.model, "llama");
    }

    #[test]
    fn unknown_provider_lists_known() {
        let e = resolve("nope/model", None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("groq"), "{}", e.message);
        let e = resolve("mystery-model", None).unwrap_err();
        assert!(e.message.contains("Known providers"));
        assert!(!e.message.contains("Did you mean"), "{}", e.message);
    }

    #[test]
    fn a_mistyped_provider_gets_the_closest_name() {
        for (typo, meant) in [
            ("opneai/gpt-4o", "openai"),
            ("antropic/claude-x", "anthropic"),
            ("gemni/gemini-2.5-flash", "gemini"),
        ] {
            let e = resolve(typo, None).unwrap_err();
            assert!(
                e.message.contains(&format!("Did you mean '{meant}'?")),
                "{}",
                e.message
            );
        }
        let e = resolve("x", Some("opneai")).unwrap_err();
        assert!(
            e.message.contains("Did you mean 'openai'?"),
            "{}",
            e.message
        );
    }
}
