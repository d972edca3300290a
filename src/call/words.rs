//! Errors in words: a value read as a type, and serde's complaint about it rewritten as
//! a sentence a person can act on (`temperature must be a number, got the string 'hot'`),
//! in Python's or JSON's words. The front door ([`super::args`]) reads every argument
//! through it; configuration readers (the router's, the cache's) use [`from_value`].

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ErrorKind, LlmError};

/// A call argument that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    /// A value of the wrong shape; the message names the argument and what it must be.
    #[error("{0}")]
    Invalid(String),
    /// A key one edit away from a keyword: not sent to the provider.
    #[error("Unknown parameter '{key}': did you mean '{meant}'? It was not sent, since it is one edit away from that keyword (provider-specific parameters with other names pass through to the provider)")]
    Misspelt { key: String, meant: &'static str },
}

impl From<ArgError> for LlmError {
    fn from(e: ArgError) -> LlmError {
        match e {
            ArgError::Invalid(message) => LlmError::bad_request(message),
            e @ ArgError::Misspelt { .. } => {
                LlmError::new(ErrorKind::UnsupportedParams, e.to_string())
            }
        }
    }
}

/// Whose words an error message uses for values: Python's (`None`, `True`, list, dict) or
/// JSON's (`null`, `true`, array, object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Spelling {
    Python,
    #[default]
    Json,
}

impl Spelling {
    pub(super) fn null(self) -> &'static str {
        match self {
            Spelling::Python => "None",
            Spelling::Json => "null",
        }
    }

    pub(super) fn list(self) -> &'static str {
        match self {
            Spelling::Python => "list",
            Spelling::Json => "array",
        }
    }

    pub(super) fn map(self) -> &'static str {
        match self {
            Spelling::Python => "dict",
            Spelling::Json => "object",
        }
    }

    pub(super) fn boolean(self, value: &str) -> String {
        match (self, value) {
            (Spelling::Python, "true") => "True".to_owned(),
            (Spelling::Python, "false") => "False".to_owned(),
            _ => value.to_owned(),
        }
    }
}

/// `word` with its indefinite article.
pub(super) fn with_article(word: &str) -> String {
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

/// `what` (a key, or a key with a path) followed by a serde path (`.`, `[0].role`).
fn join_path(what: &str, path: &str) -> String {
    match path {
        "" | "." => what.to_owned(),
        p if p.starts_with('[') => format!("{what}{p}"),
        p => format!("{what}.{p}"),
    }
}

/// serde's name of an expected type, in words.
fn expected_words(expected: &str, sp: Spelling) -> String {
    match expected {
        "f64" | "f32" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a positive integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "a boolean" => match sp {
            Spelling::Python => "True or False".to_owned(),
            Spelling::Json => "true or false".to_owned(),
        },
        "a sequence" => with_article(sp.list()),
        "any valid JSON value" => "a JSON value".to_owned(),
        e if e == "a map" || e.starts_with("struct ") || e.starts_with("map") => {
            with_article(sp.map())
        }
        e => e.to_owned(),
    }
}

/// serde's rendering of an unexpected value, in words.
fn got_words(got: &str, sp: Spelling) -> String {
    let inner = |prefix: &str| {
        got.strip_prefix(prefix)
            .map(|r| r.trim_matches('`').to_owned())
    };
    if let Some(s) = got.strip_prefix("string ") {
        let text = s.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
        return format!("the string '{}'", text.unwrap_or(s));
    }
    if let Some(v) = inner("integer ").or_else(|| inner("floating point ")) {
        return v;
    }
    if let Some(v) = inner("boolean ") {
        return sp.boolean(&v);
    }
    match got {
        "null" | "unit value" | "Option value" => sp.null().to_owned(),
        "sequence" => with_article(sp.list()),
        "map" => with_article(sp.map()),
        other => other.to_owned(),
    }
}

/// A serde error message, at `at`, in words a person can act on.
fn explain(at: &str, message: &str, sp: Spelling) -> String {
    // serde_json adds where in the text the value was; `at` says it better.
    let message = match message.rsplit_once(" at line ") {
        Some((m, place)) if place.contains(" column ") => m,
        _ => message,
    };
    let wrong = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    if let Some((got, expected)) = wrong.and_then(|w| w.split_once(", expected ")) {
        return format!(
            "{at} must be {}, got {}",
            expected_words(expected, sp),
            got_words(got, sp)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((len, expected)) = rest.split_once(", expected ") {
            return format!("{at} must be {expected}, got {len} items");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((variant, rest)) = rest.split_once('`') {
            let names = rest
                .trim_start_matches(", expected ")
                .trim_start_matches("one of ")
                .replace('`', "")
                .replace(" or ", ", ");
            return format!("{at} '{variant}' is not one of {names}");
        }
    }
    if let Some(field) = message.strip_prefix("missing field `") {
        return format!(
            "{at} is missing the required field '{}'",
            field.trim_end_matches('`')
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, rest)) = rest.split_once('`') {
            let names = rest
                .trim_start_matches(", expected ")
                .trim_start_matches("one of ")
                .replace('`', "");
            return format!("{at} has an unknown field '{field}' (known: {names})");
        }
    }
    // Our own `expecting` texts ("a string or a list of strings").
    if message.starts_with("a ") || message.starts_with("an ") {
        return format!("{at} must be {message}");
    }
    format!("{at}: {message}")
}

/// Read `value` as `T`. Plain serde first; only a failure is read again with the path of
/// the offending field tracked, to explain it.
pub(super) fn read_as<'de, T, D>(what: &str, value: D, sp: Spelling) -> Result<T, ArgError>
where
    T: Deserialize<'de>,
    D: Deserializer<'de> + Clone,
{
    match T::deserialize(value.clone()) {
        Ok(v) => Ok(v),
        Err(first) => {
            let message = match serde_path_to_error::deserialize::<D, T>(value) {
                Err(e) => explain(
                    &join_path(what, &e.path().to_string()),
                    &e.inner().to_string(),
                    sp,
                ),
                Ok(_) => explain(what, &first.to_string(), sp),
            };
            Err(ArgError::Invalid(message))
        }
    }
}

/// Read a JSON value as `T`, explaining a failure in words with `what` and the path of the
/// offending field (for configuration values and other arguments read outside a call).
pub fn from_value<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, ArgError> {
    read_as(what, value, Spelling::Json)
}

/// [`from_value`] with Python's words for values (`None`, list, dict).
pub fn from_python_value<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, ArgError> {
    read_as(what, value, Spelling::Python)
}
