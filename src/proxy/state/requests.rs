//! What the admin request bodies have in common: fields that can be left out, set, or
//! explicitly cleared (`null`), LiteLLM fields this gateway does not implement (refused
//! unless empty, so a limit the caller relies on is never silently ignored), and checks of
//! budgets and durations.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::ApiError;
use super::store::JsonObject;
use super::time::{self, BudgetWindow};
use crate::spend::clock::Micros;

/// A field of an update: `None` left out, `Some(None)` cleared with `null`, `Some(Some(v))`
/// set.
pub type Patch<T> = Option<Option<T>>;

/// Deserialize a [`Patch`] (use with `#[serde(default, deserialize_with = "patch")]`).
pub fn patch<'de, D, T>(d: D) -> Result<Patch<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// Whether a value means "not set": `null`, `false`, `""`, `[]`, `{}`, or LiteLLM's
/// defaults for options this gateway has no use for.
fn is_unset(name: &str, v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => {
            s.is_empty() || (name == "key_type" && matches!(s.as_str(), "default" | "llm_api"))
        }
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

/// Refuse the request if it sets any LiteLLM field this gateway does not implement.
pub fn reject_unsupported(route: &str, other: &JsonObject) -> Result<(), ApiError> {
    let mut set: Vec<&str> = other
        .iter()
        .filter(|(k, v)| !is_unset(k, v))
        .map(|(k, _)| k.as_str())
        .collect();
    if set.is_empty() {
        return Ok(());
    }
    set.sort_unstable();
    Err(ApiError::bad_request(format!(
        "{route}: unsupported field(s) {}: llmswitch's gateway does not implement them (leave them out or null)",
        set.join(", ")
    ))
    .with_param(set[0]))
}

/// A `max_budget` (or `soft_budget`) must be a non-negative finite number.
pub fn check_budget(name: &str, v: Option<f64>) -> Result<(), ApiError> {
    match v {
        Some(b) if !(b.is_finite() && b >= 0.0) => Err(ApiError::bad_request(format!(
            "{name} must be a non-negative finite number. Received: {b}"
        ))
        .with_param(name)),
        _ => Ok(()),
    }
}

/// A limit (`rpm_limit`, `tpm_limit`, `max_parallel_requests`) must not be negative.
pub fn check_limit(name: &str, v: Option<i64>) -> Result<(), ApiError> {
    match v {
        Some(n) if n < 0 => Err(ApiError::bad_request(format!(
            "{name} must be a non-negative integer. Received: {n}"
        ))
        .with_param(name)),
        _ => Ok(()),
    }
}

/// The `budget_reset_at` of a new `budget_duration` starting now.
pub fn first_reset(budget_duration: &str, now: Micros) -> Result<Micros, ApiError> {
    BudgetWindow::parse(budget_duration, None, now)
        .map(|w| w.next_reset(now))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid budget_duration '{budget_duration}'. Use a format like '1h', '24h', '7d', or '30d'."
            ))
            .with_param("budget_duration")
        })
}

/// The expiry of a key generated now with `duration` (`None` and `"-1"`: never).
pub fn expiry(duration: Option<&str>, now: Micros) -> Result<Option<Micros>, ApiError> {
    match duration {
        None | Some("-1") => Ok(None),
        Some(d) => time::expiry(d, now)
            .map(Some)
            .map_err(|e| ApiError::bad_request(e.to_string()).with_param("duration")),
    }
}

/// Parse a JSON body into `T`, with a message naming the field at fault.
pub fn parse_body<T: serde::de::DeserializeOwned>(route: &str, body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut err = ApiError::new(
            422,
            "bad_request_error",
            format!("{route}: invalid request body at '{path}': {}", e.inner()),
        );
        if path != "." {
            err.param = Some(path);
        }
        err
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Body {
        #[serde(deserialize_with = "patch")]
        alias: Patch<String>,
    }

    #[test]
    fn patches_tell_left_out_from_cleared() {
        let b: Body = parse_body("/x", br#"{"alias": null}"#).unwrap();
        assert_eq!(b.alias, Some(None));
        let b: Body = parse_body("/x", br#"{"alias": "a"}"#).unwrap();
        assert_eq!(b.alias, Some(Some("a".into())));
        let b: Body = parse_body("/x", b"").unwrap();
        assert_eq!(b.alias, None);
        let err = parse_body::<Body>("/x", br#"{"alias": 5}"#).err().unwrap();
        assert_eq!((err.status, err.param.as_deref()), (422, Some("alias")));
    }

    #[test]
    fn unsupported_fields_are_refused_unless_empty() {
        let ok =
            json!({"guardrails": [], "key_type": "default", "send_invite_email": false, "x": null});
        assert!(reject_unsupported("/key/generate", ok.as_object().unwrap()).is_ok());
        let bad = json!({"model_rpm_limit": {"gpt-4o": 3}, "guardrails": ["pii"]});
        let err = reject_unsupported("/key/generate", bad.as_object().unwrap()).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            err.message.contains("guardrails, model_rpm_limit"),
            "{}",
            err.message
        );
    }

    #[test]
    fn budgets_limits_and_durations_are_checked() {
        assert!(check_budget("max_budget", Some(-1.0)).is_err());
        assert!(check_budget("max_budget", Some(f64::NAN)).is_err());
        assert!(check_budget("max_budget", Some(0.0)).is_ok());
        assert!(check_limit("rpm_limit", Some(-5)).is_err());
        assert!(first_reset("bogus", 0).is_err());
        assert_eq!(expiry(Some("-1"), 5).unwrap(), None);
        assert_eq!(expiry(Some("1s"), 5).unwrap(), Some(1_000_005));
        assert!(expiry(Some("soon"), 5).is_err());
    }
}
