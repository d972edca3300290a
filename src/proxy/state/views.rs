//! Rows as LiteLLM's admin API shows them (its pydantic models' field names; datetimes in
//! RFC 3339 UTC).

use serde_json::{json, Map, Value};

use super::store::{BudgetRow, DeletedKeyRow, EndUserRow, KeyRow, SpendLogRow, TeamRow};
use super::time::to_iso;
use crate::spend::clock::Micros;

fn time(t: Option<Micros>) -> Value {
    t.map_or(Value::Null, |t| Value::String(to_iso(t)))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A `LiteLLM_VerificationToken` row (`/key/info`, `/key/list?return_full_object=true`,
/// `/key/update`, `/key/block`). `token` is the key's hash.
pub fn key_row(k: &KeyRow) -> Map<String, Value> {
    object(json!({
        "token": k.token,
        "key_name": k.key_name,
        "key_alias": k.key_alias,
        "soft_budget_cooldown": false,
        "spend": k.spend,
        "expires": time(k.expires),
        "models": k.models,
        "aliases": k.aliases,
        "config": k.config,
        "user_id": k.user_id,
        "team_id": k.team_id,
        "permissions": k.permissions,
        "max_parallel_requests": k.max_parallel_requests,
        "metadata": k.metadata,
        "blocked": k.blocked,
        "tpm_limit": k.tpm_limit,
        "rpm_limit": k.rpm_limit,
        "max_budget": k.max_budget,
        "budget_duration": k.budget_duration,
        "budget_reset_at": time(k.budget_reset_at),
        "allowed_cache_controls": k.allowed_cache_controls,
        "allowed_routes": [],
        "model_spend": k.model_spend,
        "model_max_budget": k.model_max_budget,
        "budget_id": k.budget_id,
        "organization_id": k.organization_id,
        "created_at": time(k.created_at),
        "created_by": k.created_by,
        "updated_at": time(k.updated_at),
        "updated_by": k.updated_by,
        "rotation_count": k.rotation_count,
        "last_rotation_at": time(k.last_rotation_at),
        "litellm_budget_table": null,
    }))
}

/// LiteLLM's key status: `revoked` (blocked), `expired` or `active`.
pub fn key_status(k: &KeyRow, now: Micros) -> &'static str {
    if k.is_blocked() {
        "revoked"
    } else if k.is_expired(now) {
        "expired"
    } else {
        "active"
    }
}

/// `/key/info`'s `info`: the row without its hash, with a `status`.
pub fn key_info(k: &KeyRow, now: Micros) -> Map<String, Value> {
    let mut m = key_row(k);
    m.remove("token");
    m.insert("status".into(), json!(key_status(k, now)));
    m
}

/// `/key/info`'s `info` for a deleted key (from the archive).
pub fn deleted_key_info(d: &DeletedKeyRow) -> Map<String, Value> {
    let mut m = key_row(&d.key);
    m.remove("token");
    m.insert("status".into(), json!("deleted"));
    m.insert("deleted_at".into(), time(Some(d.deleted_at)));
    m.insert("deleted_by".into(), json!(d.deleted_by));
    m
}

/// `GenerateKeyResponse`: the row's fields, the key in clear (this once), and its hash as
/// `token_id` (and `token` for `/key/generate`).
pub fn generated_key(k: &KeyRow, key: &str, token_field: bool) -> Map<String, Value> {
    let mut m = key_row(k);
    m.remove("soft_budget_cooldown");
    m.remove("allowed_routes");
    m.remove("rotation_count");
    m.remove("last_rotation_at");
    m.insert("key".into(), json!(key));
    m.insert("token_id".into(), json!(k.token));
    if !token_field {
        m.insert("token".into(), Value::Null);
    }
    m.insert("tags".into(), Value::Null);
    m.insert("duration".into(), Value::Null);
    m.insert("soft_budget".into(), Value::Null);
    m.insert("key_type".into(), json!("default"));
    m
}

/// A `LiteLLM_TeamTable` row.
pub fn team_row(t: &TeamRow) -> Map<String, Value> {
    object(json!({
        "team_alias": t.team_alias,
        "team_id": t.team_id,
        "organization_id": t.organization_id,
        "admins": t.admins,
        "members": t.members,
        "members_with_roles": t.members_with_roles,
        "team_member_permissions": null,
        "metadata": t.metadata,
        "tpm_limit": t.tpm_limit,
        "rpm_limit": t.rpm_limit,
        "max_budget": t.max_budget,
        "soft_budget": t.soft_budget,
        "budget_duration": t.budget_duration,
        "models": t.models,
        "blocked": t.blocked,
        "spend": t.spend,
        "max_parallel_requests": t.max_parallel_requests,
        "budget_reset_at": time(t.budget_reset_at),
        "model_id": null,
        "model_spend": t.model_spend,
        "model_max_budget": t.model_max_budget,
        "litellm_model_table": null,
        "object_permission": null,
        "object_permission_id": null,
        "updated_at": time(t.updated_at),
        "created_at": time(t.created_at),
    }))
}

/// A `LiteLLM_BudgetTable` row as a customer's `litellm_budget_table`.
pub fn budget_row(b: &BudgetRow) -> Map<String, Value> {
    object(json!({
        "budget_id": b.budget_id,
        "soft_budget": b.soft_budget,
        "max_budget": b.max_budget,
        "max_parallel_requests": b.max_parallel_requests,
        "tpm_limit": b.tpm_limit,
        "rpm_limit": b.rpm_limit,
        "model_max_budget": b.model_max_budget,
        "budget_duration": b.budget_duration,
        "budget_reset_at": time(b.budget_reset_at),
        "created_at": to_iso(b.created_at),
    }))
}

/// `CustomerResponse`.
pub fn customer(e: &EndUserRow) -> Map<String, Value> {
    object(json!({
        "user_id": e.user_id,
        "blocked": e.blocked,
        "alias": e.alias,
        "spend": e.spend,
        "allowed_model_region": e.allowed_model_region,
        "default_model": e.default_model,
        "models": e.models,
        "budget_id": e.budget_id,
        "litellm_budget_table": e.budget.as_ref().map(budget_row),
        "object_permission_id": null,
        "object_permission": null,
    }))
}

/// A `LiteLLM_SpendLogs` row.
pub fn spend_log(l: &SpendLogRow) -> Map<String, Value> {
    object(json!({
        "request_id": l.request_id,
        "call_type": l.call_type,
        "api_key": l.api_key,
        "spend": l.spend,
        "total_tokens": l.total_tokens,
        "prompt_tokens": l.prompt_tokens,
        "completion_tokens": l.completion_tokens,
        "startTime": to_iso(l.start_time),
        "endTime": to_iso(l.end_time),
        "request_duration_ms": l.request_duration_ms,
        "completionStartTime": time(l.completion_start_time),
        "model": l.model,
        "model_id": l.model_id,
        "model_group": l.model_group,
        "custom_llm_provider": l.custom_llm_provider,
        "api_base": l.api_base,
        "user": l.user,
        "metadata": l.metadata,
        "cache_hit": l.cache_hit,
        "cache_key": null,
        "request_tags": l.request_tags,
        "team_id": l.team_id,
        "organization_id": null,
        "end_user": l.end_user,
        "requester_ip_address": null,
        "messages": {},
        "response": {},
        "session_id": null,
        "status": l.status,
        "proxy_server_request": {},
        "litellm_call_id": l.request_id,
    }))
}
