//! `/key/*`: generate, info, update, delete, list, regenerate, block and unblock virtual
//! keys, with LiteLLM 1.106.2's request and response JSON.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::counters::{ScopeId, ScopeKind};
use super::error::ApiError;
use super::plane::{Caller, StatePlane};
use super::requests::{
    apply, apply_budget_duration, apply_metadata, apply_or_default, apply_spend,
    check_budgets_and_limits, expiry, first_reset_of, metadata_with_tags, patch,
    reject_unsupported, Patch,
};
use super::store::{JsonObject, KeyQuery, KeyRow};
use super::token::{abbreviate, generate_key, hash_if_needed, hash_token, MIN_CUSTOM_KEY_LENGTH};
use super::views;
use crate::spend::clock::{self, Micros};

/// Who LiteLLM records as having made a change with the master key.
pub const ADMIN_NAME: &str = "default_user_id";

/// `POST /key/generate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateKeyRequest {
    pub key_alias: Option<String>,
    pub duration: Option<String>,
    pub models: Option<Vec<String>>,
    pub spend: Option<f64>,
    pub max_budget: Option<f64>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub max_parallel_requests: Option<i64>,
    pub metadata: Option<JsonObject>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub budget_duration: Option<String>,
    pub tags: Option<Vec<String>>,
    /// A key chosen by the caller (`sk-`, at least 16 characters).
    pub key: Option<String>,
    pub blocked: Option<bool>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// The fields `/key/update` and `/key/regenerate` can change: left out keeps the stored
/// value, `null` clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeyChanges {
    #[serde(deserialize_with = "patch")]
    pub key_alias: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub duration: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub models: Patch<Vec<String>>,
    #[serde(deserialize_with = "patch")]
    pub spend: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub max_budget: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub user_id: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub team_id: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub max_parallel_requests: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub metadata: Patch<JsonObject>,
    #[serde(deserialize_with = "patch")]
    pub tpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub rpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub budget_duration: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub tags: Patch<Vec<String>>,
    #[serde(deserialize_with = "patch")]
    pub blocked: Patch<bool>,
}

/// `POST /key/update`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateKeyRequest {
    /// The key or its hash (or give `key_alias`).
    pub key: Option<String>,
    #[serde(flatten)]
    pub changes: KeyChanges,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /key/regenerate` (and `/key/{key}/regenerate`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegenerateKeyRequest {
    pub key: Option<String>,
    /// The new key, if the caller chooses it.
    pub new_key: Option<String>,
    #[serde(flatten)]
    pub changes: KeyChanges,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /key/delete`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteKeysRequest {
    pub keys: Option<Vec<String>>,
    pub key_aliases: Option<Vec<String>>,
}

/// `POST /key/block` and `/key/unblock`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlockKeyRequest {
    pub key: Option<String>,
}

/// `GET /key/list` (query).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListKeysQuery {
    pub page: Option<u64>,
    pub size: Option<u64>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub organization_id: Option<String>,
    pub key_hash: Option<String>,
    pub key_alias: Option<String>,
    pub return_full_object: Option<bool>,
}

fn check_custom_key(key: &str) -> Result<(), ApiError> {
    if !key.starts_with("sk-") {
        let masked = if key.len() > 8 {
            format!(
                "{}****{}",
                key.chars().take(4).collect::<String>(),
                key.chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            )
        } else {
            "****".to_owned()
        };
        return Err(ApiError::bad_request(format!(
            "Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: {masked}"
        ))
        .with_param("key"));
    }
    if key.len() < MIN_CUSTOM_KEY_LENGTH {
        return Err(ApiError::bad_request(format!(
            "Invalid key format. LiteLLM Virtual Key must be at least {MIN_CUSTOM_KEY_LENGTH} characters long."
        ))
        .with_param("key"));
    }
    Ok(())
}

impl StatePlane {
    async fn check_alias_free(
        &self,
        alias: Option<&str>,
        own_token: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(alias) = alias else { return Ok(()) };
        let taken = self
            .store()
            .keys_by_alias(alias.to_owned())
            .await?
            .into_iter()
            .any(|k| Some(k.token.as_str()) != own_token);
        if taken {
            return Err(ApiError::bad_request(format!(
                "Key with alias '{alias}' already exists. Unique key aliases across all keys are required."
            ))
            .with_param("key_alias"));
        }
        Ok(())
    }

    async fn check_team_exists(&self, team_id: Option<&str>) -> Result<(), ApiError> {
        let Some(id) = team_id else { return Ok(()) };
        if self.team(id).is_some() || self.store().get_team(id.to_owned()).await?.is_some() {
            return Ok(());
        }
        Err(ApiError::bad_request(format!("Team not found for team_id={id}")).with_param("team_id"))
    }

    /// `POST /key/generate`.
    pub async fn generate_key(&self, req: GenerateKeyRequest) -> Result<Value, ApiError> {
        reject_unsupported("/key/generate", &req.other)?;
        check_budgets_and_limits(
            &[("max_budget", req.max_budget), ("spend", req.spend)],
            req.tpm_limit,
            req.rpm_limit,
            req.max_parallel_requests,
        )?;
        let now = clock::now();
        let budget_reset_at = first_reset_of(req.budget_duration.as_deref(), now)?;
        let expires = expiry(req.duration.as_deref(), now)?;
        let key = match req.key {
            Some(k) => {
                check_custom_key(&k)?;
                k
            }
            None => generate_key()?,
        };
        self.check_alias_free(req.key_alias.as_deref(), None)
            .await?;
        self.check_team_exists(req.team_id.as_deref()).await?;
        let metadata = metadata_with_tags(req.metadata, req.tags);
        let row = KeyRow {
            token: hash_token(&key),
            key_name: Some(abbreviate(&key)),
            key_alias: req.key_alias,
            spend: req.spend.unwrap_or(0.0),
            expires,
            models: req.models.unwrap_or_default(),
            user_id: req.user_id,
            team_id: req.team_id,
            max_parallel_requests: req.max_parallel_requests,
            metadata,
            blocked: req.blocked,
            tpm_limit: req.tpm_limit,
            rpm_limit: req.rpm_limit,
            max_budget: req.max_budget,
            budget_duration: req.budget_duration,
            budget_reset_at,
            created_at: Some(now),
            created_by: Some(ADMIN_NAME.to_owned()),
            updated_at: Some(now),
            updated_by: Some(ADMIN_NAME.to_owned()),
            ..Default::default()
        };
        self.store()
            .insert_key(row.clone())
            .await
            .map_err(|e| match e {
                super::store::StoreError::Conflict(_) => {
                    ApiError::bad_request("A key with this value already exists.").with_param("key")
                }
                other => other.into(),
            })?;
        self.cache_key(&row.token, Some(row.clone()));
        Ok(Value::Object(views::generated_key(&row, &key, true)))
    }

    /// The key named by `key` (a key or its hash) or by `alias`, for an update.
    async fn key_to_change(
        &self,
        key: Option<&str>,
        alias: Option<&str>,
    ) -> Result<KeyRow, ApiError> {
        if let Some(k) = key {
            return self
                .store()
                .get_key(hash_if_needed(k))
                .await?
                .ok_or_else(|| ApiError::not_found("Key not found.").with_param("key"));
        }
        let Some(alias) = alias else {
            return Err(
                ApiError::bad_request("either key or key_alias must be provided").with_param("key"),
            );
        };
        let mut rows = self.store().keys_by_alias(alias.to_owned()).await?;
        match rows.len() {
            0 => Err(ApiError::not_found(format!(
                "Key not found. No key with key_alias='{alias}'."
            ))
            .with_param("key_alias")),
            1 => Ok(rows.remove(0)),
            _ => Err(ApiError::bad_request(format!(
                "Multiple keys share key_alias='{alias}', so it cannot be used as an identifier."
            ))
            .with_param("key_alias")),
        }
    }

    /// Apply `changes` to `row` (validated), as of `now`. Returns whether `spend` was set.
    async fn apply_key_changes(
        &self,
        row: &mut KeyRow,
        c: KeyChanges,
        now: Micros,
    ) -> Result<bool, ApiError> {
        check_budgets_and_limits(
            &[
                ("max_budget", c.max_budget.flatten()),
                ("spend", c.spend.flatten()),
            ],
            c.tpm_limit.flatten(),
            c.rpm_limit.flatten(),
            c.max_parallel_requests.flatten(),
        )?;
        if let Some(alias) = &c.key_alias {
            self.check_alias_free(alias.as_deref(), Some(&row.token))
                .await?;
            row.key_alias = alias.clone();
        }
        if let Some(team) = &c.team_id {
            self.check_team_exists(team.as_deref()).await?;
            row.team_id = team.clone();
        }
        if let Some(d) = c.duration {
            row.expires = expiry(d.as_deref(), now)?;
        }
        apply_budget_duration(
            c.budget_duration,
            &mut row.budget_duration,
            &mut row.budget_reset_at,
            now,
        )?;
        apply_or_default(&mut row.models, c.models);
        apply(&mut row.max_budget, c.max_budget);
        apply(&mut row.user_id, c.user_id);
        apply(&mut row.max_parallel_requests, c.max_parallel_requests);
        apply(&mut row.tpm_limit, c.tpm_limit);
        apply(&mut row.rpm_limit, c.rpm_limit);
        apply(&mut row.blocked, c.blocked);
        apply_metadata(&mut row.metadata, c.metadata, c.tags);
        let set_spend = apply_spend(&mut row.spend, c.spend);
        row.updated_at = Some(now);
        row.updated_by = Some(ADMIN_NAME.to_owned());
        Ok(set_spend)
    }

    /// `POST /key/update`.
    pub async fn update_key(&self, req: UpdateKeyRequest) -> Result<Value, ApiError> {
        reject_unsupported("/key/update", &req.other)?;
        let alias_lookup = match (&req.key, &req.changes.key_alias) {
            (None, Some(Some(a))) => Some(a.clone()),
            _ => None,
        };
        let mut row = self
            .key_to_change(req.key.as_deref(), alias_lookup.as_deref())
            .await?;
        let now = clock::now();
        let set_spend = self.apply_key_changes(&mut row, req.changes, now).await?;
        if !self.store().update_key(row.clone(), set_spend).await? {
            return Err(ApiError::not_found("Key not found.").with_param("key"));
        }
        if set_spend {
            self.counters()
                .set_spend(&ScopeId::new(ScopeKind::Key, &row.token), row.spend, now);
        }
        self.cache_key(&row.token, Some(row.clone()));
        let mut out = Map::new();
        out.insert(
            "key".into(),
            json!(req.key.unwrap_or_else(|| row.token.clone())),
        );
        out.extend(views::key_row(&row));
        Ok(Value::Object(out))
    }

    /// `GET /key/info`: `key` (a key or its hash), or the caller's own key. A virtual key
    /// may only read itself.
    pub async fn key_info(&self, caller: &Caller, key: Option<String>) -> Result<Value, ApiError> {
        let own = caller.key().map(|k| k.key.token.clone());
        let (shown, token) = match (key, &own) {
            (Some(k), _) => {
                let token = hash_if_needed(&k);
                (k, token)
            }
            (None, Some(t)) => (t.clone(), t.clone()),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "Pass the key (or its hash) as the 'key' query parameter.",
                )
                .with_param("key"))
            }
        };
        if own.as_ref().is_some_and(|o| *o != token) {
            return Err(ApiError::new(
                403,
                "auth_error",
                "You are not allowed to access this key's info. A virtual key may only read its own.",
            ));
        }
        let now = clock::now();
        let info = match self.store().get_key(token.clone()).await? {
            Some(row) => views::key_info(&row, now),
            None => match self.store().get_deleted_key(token).await? {
                Some(d) => views::deleted_key_info(&d),
                None => {
                    return Err(ApiError::not_found("Key not found in database").with_param("key"))
                }
            },
        };
        Ok(json!({"key": shown, "info": info}))
    }

    /// `POST /key/delete`.
    pub async fn delete_keys(&self, req: DeleteKeysRequest) -> Result<Value, ApiError> {
        let (named, tokens) = match (
            req.keys.filter(|k| !k.is_empty()),
            req.key_aliases.filter(|a| !a.is_empty()),
        ) {
            (Some(keys), _) => {
                let tokens = keys.iter().map(|k| hash_if_needed(k)).collect();
                (keys, tokens)
            }
            (None, Some(aliases)) => {
                let mut tokens = Vec::new();
                for a in &aliases {
                    tokens.extend(
                        self.store()
                            .keys_by_alias(a.clone())
                            .await?
                            .into_iter()
                            .map(|k| k.token),
                    );
                }
                (aliases, tokens)
            }
            (None, None) => {
                return Err(ApiError::new(
                    422,
                    "bad_request_error",
                    "At least one of 'keys' or 'key_aliases' must be provided.",
                ))
            }
        };
        let deleted = self
            .store()
            .delete_keys(tokens, Some(ADMIN_NAME.to_owned()))
            .await?;
        if deleted.is_empty() {
            return Err(ApiError::not_found("{'error': 'No keys found'}").with_param("keys"));
        }
        for t in &deleted {
            self.forget_key(t);
        }
        Ok(json!({"deleted_keys": named}))
    }

    /// A deleted key: unknown from now on, its counters gone.
    pub(crate) fn forget_key(&self, token: &str) {
        self.cache_key(token, None);
        self.counters().forget(&ScopeId::new(ScopeKind::Key, token));
    }

    /// `GET /key/list`.
    pub async fn list_keys(&self, q: ListKeysQuery) -> Result<Value, ApiError> {
        let page = q.page.unwrap_or(1).max(1);
        let size = q.size.unwrap_or(10);
        if !(1..=100).contains(&size) {
            return Err(
                ApiError::new(422, "bad_request_error", "size must be between 1 and 100")
                    .with_param("size"),
            );
        }
        let (rows, total) = self
            .store()
            .list_keys(KeyQuery {
                user_id: q.user_id,
                team_id: q.team_id,
                key_alias: q.key_alias,
                key_hash: q.key_hash,
                organization_id: q.organization_id,
                page,
                size,
            })
            .await?;
        let full = q.return_full_object.unwrap_or(false);
        let keys: Vec<Value> = rows
            .iter()
            .map(|r| {
                if full {
                    Value::Object(views::key_row(r))
                } else {
                    json!(r.token)
                }
            })
            .collect();
        Ok(json!({
            "keys": keys,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
        }))
    }

    /// `POST /key/regenerate`: a new key for the same row (spend, limits and alias kept,
    /// changes applied); the old key stops working at once and is archived as deleted.
    pub async fn regenerate_key(
        &self,
        path_key: Option<String>,
        req: RegenerateKeyRequest,
    ) -> Result<Value, ApiError> {
        reject_unsupported("/key/regenerate", &req.other)?;
        let Some(old) = path_key.or(req.key) else {
            return Err(
                ApiError::bad_request("Pass the key to regenerate as 'key'.").with_param("key"),
            );
        };
        let new_key = match req.new_key {
            Some(k) => {
                check_custom_key(&k)?;
                k
            }
            None => generate_key()?,
        };
        // Spend of requests still queued belongs to the old token's row: write it first.
        self.flush(Duration::from_secs(5)).await;
        let mut row = self.key_to_change(Some(&old), None).await?;
        let old_token = row.token.clone();
        let now = clock::now();
        let set_spend = self.apply_key_changes(&mut row, req.changes, now).await?;
        row.token = hash_token(&new_key);
        row.key_name = Some(abbreviate(&new_key));
        row.rotation_count += 1;
        row.last_rotation_at = Some(now);
        if !self
            .store()
            .replace_key_token(old_token.clone(), row.clone())
            .await?
        {
            return Err(ApiError::not_found("Key not found.").with_param("key"));
        }
        if set_spend {
            self.store().update_key(row.clone(), true).await?;
        }
        self.forget_key(&old_token);
        self.cache_key(&row.token, Some(row.clone()));
        Ok(Value::Object(views::generated_key(&row, &new_key, false)))
    }

    /// `POST /key/block` (`blocked`) and `/key/unblock`.
    pub async fn block_key(&self, req: BlockKeyRequest, blocked: bool) -> Result<Value, ApiError> {
        let Some(key) = req.key.filter(|k| !k.is_empty()) else {
            return Err(ApiError::bad_request("Invalid key format.").with_param("key"));
        };
        let mut row = self.key_to_change(Some(&key), None).await?;
        row.blocked = Some(blocked);
        row.updated_at = Some(clock::now());
        row.updated_by = Some(ADMIN_NAME.to_owned());
        if !self.store().update_key(row.clone(), false).await? {
            return Err(ApiError::not_found("Key not found.").with_param("key"));
        }
        self.cache_key(&row.token, Some(row.clone()));
        Ok(Value::Object(views::key_row(&row)))
    }
}
