//! Durable state of the gateway behind one trait, [`Store`]: virtual keys, teams, end
//! users (customers) and their budgets, and the spend log.
//!
//! Rows mirror LiteLLM's tables and column names (`LiteLLM_VerificationToken`,
//! `LiteLLM_TeamTable`, `LiteLLM_EndUserTable`, `LiteLLM_BudgetTable`,
//! `LiteLLM_SpendLogs`), so a backend can read a LiteLLM proxy database. The trait is
//! object-safe and async (boxed futures): the SQLite backend ([`sqlite`]) runs its
//! connections on their own threads; the PostgreSQL backend ([`postgres`]) runs on a small
//! pool, for several gateways sharing one database. Nothing in
//! the trait is SQL: aggregation happens in the backend ([`Store::spend_totals`]), so no
//! backend loads the spend log into memory to answer a report.

pub mod migrations;
pub mod pg_migrations;
pub mod pg_tls;
pub mod postgres;
pub mod sqlite;
pub mod tables;

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::spend::clock::Micros;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with this id (or a unique alias) exists already.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be opened, read or written.
    #[error("state database {location}: {message}")]
    Backend { location: String, message: String },
    /// The backend's worker is gone (the store was closed).
    #[error("state database {0} is closed")]
    Closed(String),
}

/// A JSON object column (`metadata`, `aliases`, ...).
pub type JsonObject = Map<String, Value>;

/// A row of `LiteLLM_VerificationToken`: a virtual key, by the SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyRow {
    /// SHA-256 hex of the key (LiteLLM's `hash_token`). The key itself is never stored.
    pub token: String,
    /// `sk-...abcd`: how the key is shown.
    pub key_name: Option<String>,
    pub key_alias: Option<String>,
    /// USD spent in the current budget window (all time without `budget_duration`).
    pub spend: f64,
    pub expires: Option<Micros>,
    /// Model groups the key may call; empty: every model (its team's, if it has one).
    pub models: Vec<String>,
    pub aliases: JsonObject,
    pub config: JsonObject,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub permissions: JsonObject,
    pub max_parallel_requests: Option<i64>,
    /// Free metadata; LiteLLM keeps the key's `tags` here too (`metadata.tags`).
    pub metadata: JsonObject,
    pub blocked: Option<bool>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<Micros>,
    pub allowed_cache_controls: Vec<String>,
    pub model_spend: JsonObject,
    pub model_max_budget: JsonObject,
    pub budget_id: Option<String>,
    pub organization_id: Option<String>,
    pub created_at: Option<Micros>,
    pub created_by: Option<String>,
    pub updated_at: Option<Micros>,
    pub updated_by: Option<String>,
    pub rotation_count: i64,
    pub last_rotation_at: Option<Micros>,
}

impl KeyRow {
    /// The key's tags (`metadata.tags`).
    pub fn tags(&self) -> Vec<String> {
        match self.metadata.get("tags") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked == Some(true)
    }

    pub fn is_expired(&self, now: Micros) -> bool {
        self.expires.is_some_and(|e| e < now)
    }
}

/// A key moved to `LiteLLM_DeletedVerificationToken` by a delete.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedKeyRow {
    pub key: KeyRow,
    pub deleted_at: Micros,
    pub deleted_by: Option<String>,
}

/// A row of `LiteLLM_TeamTable`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TeamRow {
    pub team_id: String,
    pub team_alias: Option<String>,
    pub organization_id: Option<String>,
    pub admins: Vec<String>,
    pub members: Vec<String>,
    pub members_with_roles: Vec<Value>,
    pub metadata: JsonObject,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub spend: f64,
    /// Model groups the team's keys may call; empty: every model.
    pub models: Vec<String>,
    pub max_parallel_requests: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<Micros>,
    pub blocked: bool,
    pub created_at: Option<Micros>,
    pub updated_at: Option<Micros>,
    pub model_spend: JsonObject,
    pub model_max_budget: JsonObject,
}

/// A row of `LiteLLM_BudgetTable`: a budget and limits shared by whatever points at it
/// (here: end users).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BudgetRow {
    pub budget_id: String,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub max_parallel_requests: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub model_max_budget: Option<JsonObject>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<Micros>,
    pub created_at: Micros,
    pub created_by: String,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// A row of `LiteLLM_EndUserTable` (a customer: the `user` field of requests), with the
/// budget row it points at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndUserRow {
    pub user_id: String,
    pub alias: Option<String>,
    pub spend: f64,
    pub allowed_model_region: Option<String>,
    pub default_model: Option<String>,
    pub models: Vec<String>,
    pub budget_id: Option<String>,
    pub blocked: bool,
    pub budget: Option<BudgetRow>,
}

impl EndUserRow {
    /// Whether requests for this end user need any check (a budget, a limit, a block or a
    /// model list); end users created by spend tracking alone need none.
    pub fn is_restricted(&self) -> bool {
        self.blocked || !self.models.is_empty() || self.budget.is_some()
    }
}

/// A row of `LiteLLM_SpendLogs`: one request through the gateway.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SpendLogRow {
    pub request_id: String,
    /// `acompletion`, `aembedding`, `anthropic_messages`.
    pub call_type: String,
    /// SHA-256 of the virtual key ("" for the master key).
    pub api_key: String,
    pub spend: f64,
    pub total_tokens: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub start_time: Micros,
    pub end_time: Micros,
    pub request_duration_ms: Option<i64>,
    pub completion_start_time: Option<Micros>,
    /// The provider's model name.
    pub model: String,
    /// The deployment's id.
    pub model_id: Option<String>,
    pub model_group: Option<String>,
    pub custom_llm_provider: Option<String>,
    pub api_base: Option<String>,
    /// The key's `user_id` (LiteLLM's internal user).
    pub user: Option<String>,
    /// Key alias, team, status code, error class, attempts, and the like.
    pub metadata: JsonObject,
    pub cache_hit: Option<String>,
    pub request_tags: Vec<String>,
    pub team_id: Option<String>,
    /// The request's `user` field (LiteLLM's customer).
    pub end_user: Option<String>,
    /// `success` / `failure` / `cancelled`.
    pub status: Option<String>,
}

/// Spend to add to keys, teams and end users, summed over a batch of requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendIncrements {
    pub keys: Vec<(String, f64)>,
    pub teams: Vec<(String, f64)>,
    /// End users are created with this spend if they do not exist (as LiteLLM does).
    pub end_users: Vec<(String, f64)>,
}

impl SpendIncrements {
    /// The spend of `rows` summed per key, team and end user (rows without a positive,
    /// finite cost add nothing), each list in a stable order.
    pub fn of(rows: &[SpendLogRow]) -> SpendIncrements {
        let mut keys: HashMap<&str, f64> = HashMap::new();
        let mut teams: HashMap<&str, f64> = HashMap::new();
        let mut end_users: HashMap<&str, f64> = HashMap::new();
        for r in rows {
            if r.spend <= 0.0 || !r.spend.is_finite() {
                continue;
            }
            if !r.api_key.is_empty() {
                *keys.entry(&r.api_key).or_default() += r.spend;
            }
            if let Some(t) = r.team_id.as_deref() {
                *teams.entry(t).or_default() += r.spend;
            }
            if let Some(u) = r.end_user.as_deref() {
                *end_users.entry(u).or_default() += r.spend;
            }
        }
        let own = |m: HashMap<&str, f64>| {
            let mut v: Vec<(String, f64)> = m.into_iter().map(|(k, c)| (k.to_owned(), c)).collect();
            // A stable order: concurrent writers touch rows in the same order (no deadlocks).
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        SpendIncrements {
            keys: own(keys),
            teams: own(teams),
            end_users: own(end_users),
        }
    }
}

/// One write of the spend writer: log rows and the spend columns to raise, in one
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct SpendBatch {
    pub logs: Vec<SpendLogRow>,
    pub increments: SpendIncrements,
}

/// How `/key/list` filters and pages keys.
#[derive(Debug, Clone, Default)]
pub struct KeyQuery {
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub key_alias: Option<String>,
    pub key_hash: Option<String>,
    pub organization_id: Option<String>,
    /// 1-based.
    pub page: u64,
    pub size: u64,
}

/// Which budget-bearing table a reset concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetOwner {
    Key,
    Team,
    /// A `LiteLLM_BudgetTable` row: resetting it resets the spend of its end users.
    Budget,
}

/// A budget whose window ended: spend goes back to zero and the next reset is set.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetReset {
    pub owner: BudgetOwner,
    /// Token, team id or budget id.
    pub id: String,
    pub budget_duration: String,
    /// The stored `budget_reset_at` (the reset applies only if it is still this, so two
    /// gateways resetting at once reset once).
    pub reset_at: Micros,
    /// The new `budget_reset_at` (filled in by the caller of [`Store::due_resets`]).
    pub next_reset_at: Micros,
}

/// Filters of `/spend/logs` (all optional; `[start, end)` on `startTime`).
#[derive(Debug, Clone, Default)]
pub struct SpendLogQuery {
    pub api_key: Option<String>,
    pub key_alias: Option<String>,
    pub request_id: Option<String>,
    pub user: Option<String>,
    pub end_user: Option<String>,
    pub team_id: Option<String>,
    /// Matches `model` or `model_group`.
    pub model: Option<String>,
    pub tag: Option<String>,
    pub start: Option<Micros>,
    pub end: Option<Micros>,
    /// Newest first, at most this many.
    pub limit: u64,
}

/// A column spend can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpendDimension {
    /// UTC day of `startTime` (`YYYY-MM-DD`).
    Day,
    ApiKey,
    KeyAlias,
    Model,
    ModelGroup,
    TeamId,
    /// The team's alias ("Unassigned Team" without one), as LiteLLM's report names teams.
    TeamName,
    User,
    EndUser,
    /// Each request counted once per tag (requests without tags under no tag).
    Tag,
}

/// A grouped spend query.
#[derive(Debug, Clone, Default)]
pub struct SpendTotalsQuery {
    pub group_by: Vec<SpendDimension>,
    pub filter: SpendLogQuery,
}

/// One group: its values in the order of `group_by` (`None` for a null column) and sums.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpendTotalsRow {
    pub keys: Vec<Option<String>>,
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub requests: i64,
}

/// A boxed future of a store operation.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// The gateway's durable state. Implementations must not block the async runtime (run
/// blocking drivers on their own threads). Every method is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Where the state lives, for messages (`sqlite:/path/state.db`; never a password).
    fn location(&self) -> String;
    /// Whether the database answers (`/health/readiness`).
    fn ping(&self) -> StoreFuture<'_, ()>;

    // --- keys ---
    /// [`StoreError::Conflict`] if the token exists.
    fn insert_key(&self, row: KeyRow) -> StoreFuture<'_, ()>;
    fn get_key(&self, token: String) -> StoreFuture<'_, Option<KeyRow>>;
    fn keys_by_alias(&self, alias: String) -> StoreFuture<'_, Vec<KeyRow>>;
    /// Replace the key's row (by `row.token`); its `spend` only when `set_spend` (spend is
    /// otherwise only ever added to, by [`Store::write_spend`]). Returns whether it existed.
    fn update_key(&self, row: KeyRow, set_spend: bool) -> StoreFuture<'_, bool>;
    /// Give the key `old_token` a new token (`/key/regenerate`): the row keeps its spend;
    /// a copy of the old row goes to the deleted keys. Returns whether `old_token` existed.
    fn replace_key_token(&self, old_token: String, row: KeyRow) -> StoreFuture<'_, bool>;
    /// Move keys to the deleted-keys table. Returns the tokens that existed.
    fn delete_keys(
        &self,
        tokens: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, Vec<String>>;
    fn get_deleted_key(&self, token: String) -> StoreFuture<'_, Option<DeletedKeyRow>>;
    /// One page of keys, newest first, and the number of keys matching.
    fn list_keys(&self, query: KeyQuery) -> StoreFuture<'_, (Vec<KeyRow>, u64)>;
    /// The keys of a team.
    fn team_keys(&self, team_id: String) -> StoreFuture<'_, Vec<KeyRow>>;

    // --- teams ---
    fn insert_team(&self, row: TeamRow) -> StoreFuture<'_, ()>;
    fn get_team(&self, team_id: String) -> StoreFuture<'_, Option<TeamRow>>;
    fn update_team(&self, row: TeamRow, set_spend: bool) -> StoreFuture<'_, bool>;
    /// Delete teams and their keys (LiteLLM does both). Returns the deleted team ids and
    /// the tokens of the deleted keys.
    fn delete_teams(
        &self,
        team_ids: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, (Vec<String>, Vec<String>)>;
    fn list_teams(&self) -> StoreFuture<'_, Vec<TeamRow>>;

    // --- end users ---
    /// Insert the end user and, if it has one, its budget row.
    fn insert_end_user(&self, row: EndUserRow) -> StoreFuture<'_, ()>;
    fn get_end_user(&self, user_id: String) -> StoreFuture<'_, Option<EndUserRow>>;
    /// Replace the end user's row and upsert its budget row.
    fn update_end_user(&self, row: EndUserRow) -> StoreFuture<'_, bool>;
    /// Returns how many existed.
    fn delete_end_users(&self, user_ids: Vec<String>) -> StoreFuture<'_, u64>;
    /// All end users, or (`restricted_only`) those with a budget, a model list or a block.
    fn list_end_users(&self, restricted_only: bool) -> StoreFuture<'_, Vec<EndUserRow>>;

    // --- budget resets ---
    /// Budgets whose `budget_reset_at` is at or before `now`.
    fn due_resets(&self, now: Micros) -> StoreFuture<'_, Vec<BudgetReset>>;
    /// Apply resets (each only if its `budget_reset_at` is unchanged). Returns how many
    /// applied.
    fn apply_resets(&self, resets: Vec<BudgetReset>) -> StoreFuture<'_, u64>;

    // --- spend ---
    /// Insert log rows (a `request_id` seen before is skipped) and add the increments.
    fn write_spend(&self, batch: SpendBatch) -> StoreFuture<'_, ()>;
    /// Matching rows, newest first.
    fn spend_logs(&self, query: SpendLogQuery) -> StoreFuture<'_, Vec<SpendLogRow>>;
    /// Sums grouped by `group_by`, ordered by the group values.
    fn spend_totals(&self, query: SpendTotalsQuery) -> StoreFuture<'_, Vec<SpendTotalsRow>>;
    /// Delete at most `limit` log rows that started before `cutoff` (retention: the caller
    /// repeats until fewer than `limit` went, so no statement holds locks for long and no
    /// row is loaded into memory). Returns how many were deleted.
    fn delete_spend_logs_before(&self, cutoff: Micros, limit: u64) -> StoreFuture<'_, u64>;
}

#[cfg(test)]
pub(crate) mod pg_cluster;
#[cfg(test)]
pub(crate) mod tests;
