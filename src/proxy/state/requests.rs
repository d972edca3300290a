//! What the admin request bodies have in common: fields that can be left out, set, or
//! explicitly cleared (`null`), LiteLLM fields this gateway does not implement (refused
//! unless empty, so a limit the caller relies on is never silently ignored), checks of
//! budgets and durations, and how a patch changes the fields keys, teams and end users share.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

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

/// Check a request's budgets (`(name, value)`, in order), then its limits.
pub fn check_budgets_and_limits(
    budgets: &[(&str, Option<f64>)],
    tpm_limit: Option<i64>,
    rpm_limit: Option<i64>,
    max_parallel_requests: Option<i64>,
) -> Result<(), ApiError> {
    for (name, v) in budgets {
        check_budget(name, *v)?;
    }
    for (name, v) in [
        ("tpm_limit", tpm_limit),
        ("rpm_limit", rpm_limit),
        ("max_parallel_requests", max_parallel_requests),
    ] {
        check_limit(name, v)?;
    }
    Ok(())
}

/// Set `field` to a patch's value, if it has one (`null` clears).
pub fn apply<T>(field: &mut Option<T>, p: Patch<T>) {
    if let Some(v) = p {
        *field = v;
    }
}

/// Set `field` to a patch's value, if it has one (`null` resets it to its default).
pub fn apply_or_default<T: Default>(field: &mut T, p: Patch<T>) {
    if let Some(v) = p {
        *field = v.unwrap_or_default();
    }
}

/// A `spend` patch: whether it sets the spend.
pub fn apply_spend(spend: &mut f64, p: Patch<f64>) -> bool {
    let set = p.is_some();
    apply_or_default(spend, p);
    set
}

/// A `budget_duration` patch: the duration, and its first reset from now.
pub fn apply_budget_duration(
    p: Patch<String>,
    budget_duration: &mut Option<String>,
    budget_reset_at: &mut Option<Micros>,
    now: Micros,
) -> Result<(), ApiError> {
    if let Some(d) = p {
        *budget_reset_at = first_reset_of(d.as_deref(), now)?;
        *budget_duration = d;
    }
    Ok(())
}

/// New metadata, with the request's `tags` in it.
pub fn metadata_with_tags(metadata: Option<JsonObject>, tags: Option<Vec<String>>) -> JsonObject {
    let mut metadata = metadata.unwrap_or_default();
    if let Some(tags) = tags {
        metadata.insert("tags".into(), json!(tags));
    }
    metadata
}

/// `metadata` and `tags` patches: `metadata` replaces the stored metadata, keeping the
/// stored tags unless it has its own; then `tags` sets or clears them.
pub fn apply_metadata(
    metadata: &mut JsonObject,
    metadata_patch: Patch<JsonObject>,
    tags: Patch<Vec<String>>,
) {
    if let Some(m) = metadata_patch {
        let tags = metadata.get("tags").cloned();
        *metadata = m.unwrap_or_default();
        if let (Some(t), false) = (tags, metadata.contains_key("tags")) {
            metadata.insert("tags".into(), t);
        }
    }
    match tags {
        Some(Some(tags)) => {
            metadata.insert("tags".into(), json!(tags));
        }
        Some(None) => {
            metadata.remove("tags");
        }
        None => {}
    }
}

/// The `budget_reset_at` of a `budget_duration` (if any) starting now.
pub fn first_reset_of(
    budget_duration: Option<&str>,
    now: Micros,
) -> Result<Option<Micros>, ApiError> {
    budget_duration.map(|d| first_reset(d, now)).transpose()
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
