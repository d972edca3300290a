//! The shared backend: PostgreSQL through `tokio-postgres` on a small `deadpool` pool, in
//! LiteLLM's tables ([`super::pg_migrations`]), so several gateways share keys, teams,
//! end users, budgets and the spend log, and a LiteLLM proxy's database is read as is.
//!
//! The request path does not query it: keys, teams and end users are read through the
//! state plane's caches, spend arrives in write-behind batches. The pool is therefore small
//! (`general_settings.database_connection_pool_limit`, default
//! [`DEFAULT_POOL_SIZE`]): LiteLLM deployments commonly exhaust Postgres's connections by
//! checking keys on many workers; here a replica holds at most that many.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    pg_migrations, pg_tls, BudgetOwner, BudgetReset, BudgetRow, DeletedKeyRow, EndUserRow,
    JsonObject, KeyQuery, KeyRow, SpendBatch, SpendDimension, SpendLogQuery, SpendLogRow,
    SpendTotalsQuery, SpendTotalsRow, Store, StoreError, StoreFuture, TeamRow,
};
use crate::spend::clock::{self, Micros};

/// Connections a gateway holds at most, by default.
pub const DEFAULT_POOL_SIZE: usize = 5;
/// How long an operation waits for a connection (or to open one) before failing.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Param = Box<dyn ToSql + Sync + Send>;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgresql://user:password@host:port/database` (or libpq's `key=value` form).
    pub url: String,
    pub pool_size: usize,
    pub timeout: Duration,
}

impl PostgresOptions {
    pub fn new(url: &str) -> Self {
        PostgresOptions {
            url: url.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// `postgresql://user@host:port/db` without the password.
    location: String,
    /// Statements sent, for measuring what reaches the database per request.
    queries: Arc<AtomicU64>,
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgresql://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

fn pg_error(location: &str, e: &tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict(e.to_string());
    }
    StoreError::Backend {
        location: location.to_owned(),
        message: pg_message(e),
    }
}

/// A driver error's message with its causes (a TLS handshake's names the certificate's
/// fault: `invalid peer certificate: UnknownIssuer`).
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

impl PostgresStore {
    /// Connect, apply missing migrations (under an advisory lock, so replicas starting at
    /// once apply them once) and check that LiteLLM's tables have every column used.
    pub async fn connect(options: &PostgresOptions) -> Result<Self, StoreError> {
        let tls = pg_tls::split_settings(&options.url).map_err(|message| StoreError::Backend {
            location: "postgresql".to_owned(),
            message,
        })?;
        let mut config = tokio_postgres::Config::from_str(&tls.url).map_err(|e| {
            StoreError::Backend {
                location: "postgresql".to_owned(),
                // The parser's message never repeats the password.
                message: format!("database_url is not a PostgreSQL URL: {e}"),
            }
        })?;
        let location = describe(&config);
        config.ssl_mode(match tls.mode {
            pg_tls::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            pg_tls::SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let connector = pg_tls::connector(&tls).map_err(|message| StoreError::Backend {
            location: location.clone(),
            message,
        })?;
        let manager = match connector {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .timeouts(Timeouts {
                wait: Some(options.timeout),
                create: Some(options.timeout),
                recycle: Some(options.timeout),
            })
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend {
                location: location.clone(),
                message: e.to_string(),
            })?;
        let store = PostgresStore {
            pool,
            location,
            queries: Arc::new(AtomicU64::new(0)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Statements sent so far by this store.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Backend {
            location: self.location.clone(),
            message: match e {
                deadpool_postgres::PoolError::Backend(e) => pg_message(&e),
                other => other.to_string(),
            },
        })
    }

    fn err(&self, e: tokio_postgres::Error) -> StoreError {
        pg_error(&self.location, &e)
    }

    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Apply every migration the database lacks. Returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&pg_migrations::MIGRATION_LOCK],
        )
        .await
        .map_err(|e| self.err(e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS llmswitch_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
            )",
        )
        .await
        .map_err(|e| self.err(e))?;
        let mut applied = Vec::new();
        for (version, name, sql) in pg_migrations::MIGRATIONS {
            let done = tx
                .query_opt(
                    "SELECT version FROM llmswitch_migrations WHERE version = $1",
                    &[version],
                )
                .await
                .map_err(|e| self.err(e))?;
            if done.is_none() {
                tx.batch_execute(sql).await.map_err(|e| self.err(e))?;
                tx.execute(
                    "INSERT INTO llmswitch_migrations (version, name) VALUES ($1, $2)",
                    &[version, name],
                )
                .await
                .map_err(|e| self.err(e))?;
                applied.push(*version);
            }
        }
        let rows = tx
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name LIKE 'LiteLLM\\_%'",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        let present: std::collections::HashSet<(String, String)> = rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        let mut missing = Vec::new();
        for (table, columns) in pg_migrations::REQUIRED_COLUMNS {
            for c in *columns {
                let c = c.trim_matches('"');
                if !present.contains(&((*table).to_owned(), c.to_owned())) {
                    missing.push(format!("\"{table}\".{c}"));
                }
            }
        }
        if !missing.is_empty() {
            return Err(StoreError::Backend {
                location: self.location.clone(),
                message: format!(
                    "the database lacks columns the gateway uses: {}. It was made by an older LiteLLM proxy: apply LiteLLM 1.106.2's migrations to it (litellm-proxy-extras), or use an empty database",
                    missing.join(", ")
                ),
            });
        }
        Ok(applied)
    }

    /// Run `f` in one transaction on a pooled connection.
    async fn in_transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'t> FnOnce(
            &'t tokio_postgres::Transaction<'t>,
        )
            -> futures_util::future::BoxFuture<'t, Result<T, tokio_postgres::Error>>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let out = f(&tx).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    async fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        self.count(1);
        let stmt = client.prepare_cached(sql).await.map_err(|e| self.err(e))?;
        client
            .query(&stmt, &refs(params))
            .await
            .map_err(|e| self.err(e))
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        self.count(1);
        let stmt = client.prepare_cached(sql).await.map_err(|e| self.err(e))?;
        client
            .execute(&stmt, &refs(params))
            .await
            .map_err(|e| self.err(e))
    }
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

// ---------------------------------------------------------------- value conversions

fn ts(m: Micros) -> PrimitiveDateTime {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    PrimitiveDateTime::new(t.date(), t.time())
}

fn micros(t: PrimitiveDateTime) -> Micros {
    i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1000).unwrap_or(0)
}

fn p_ts(m: Option<Micros>) -> Param {
    Box::new(m.map(ts))
}

fn p_text(s: &Option<String>) -> Param {
    Box::new(s.clone())
}

fn p_obj(o: &JsonObject) -> Param {
    Box::new(Value::Object(o.clone()))
}

fn p_i32(i: Option<i64>) -> Param {
    Box::new(i.map(to_i32))
}

fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn get_ts(r: &Row, i: usize) -> Result<Option<Micros>, tokio_postgres::Error> {
    Ok(r.try_get::<_, Option<PrimitiveDateTime>>(i)?.map(micros))
}

fn get_obj(r: &Row, i: usize) -> Result<JsonObject, tokio_postgres::Error> {
    Ok(match r.try_get::<_, Option<Value>>(i)? {
        Some(Value::Object(o)) => o,
        _ => JsonObject::new(),
    })
}

fn get_list(r: &Row, i: usize) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(r.try_get::<_, Option<Vec<Option<String>>>>(i)?
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

fn get_i32(r: &Row, i: usize) -> Result<Option<i64>, tokio_postgres::Error> {
    Ok(r.try_get::<_, Option<i32>>(i)?.map(i64::from))
}

/// `$from, $from+1, ...` (n of them).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A random version-4 UUID (LiteLLM's ids are Prisma's client-side `uuid()`).
fn uuid4() -> String {
    let b: [u8; 16] = std::array::from_fn(|i| match i {
        6 => 0x40 | (fastrand::u8(..) & 0x0f),
        8 => 0x80 | (fastrand::u8(..) & 0x3f),
        _ => fastrand::u8(..),
    });
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// ---------------------------------------------------------------- keys

/// Key columns as written in SQL.
pub const KEY_COLUMNS_PLAIN: &[&str] = &[
    "token",
    "key_name",
    "key_alias",
    "spend",
    "expires",
    "models",
    "aliases",
    "config",
    "user_id",
    "team_id",
    "permissions",
    "max_parallel_requests",
    "metadata",
    "blocked",
    "tpm_limit",
    "rpm_limit",
    "max_budget",
    "budget_duration",
    "budget_reset_at",
    "allowed_cache_controls",
    "model_spend",
    "model_max_budget",
    "budget_id",
    "organization_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "rotation_count",
    "last_rotation_at",
];

fn key_values(k: &KeyRow) -> Vec<Param> {
    vec![
        Box::new(k.token.clone()),
        p_text(&k.key_name),
        p_text(&k.key_alias),
        Box::new(k.spend),
        p_ts(k.expires),
        Box::new(k.models.clone()),
        p_obj(&k.aliases),
        p_obj(&k.config),
        p_text(&k.user_id),
        p_text(&k.team_id),
        p_obj(&k.permissions),
        p_i32(k.max_parallel_requests),
        p_obj(&k.metadata),
        Box::new(k.blocked),
        Box::new(k.tpm_limit),
        Box::new(k.rpm_limit),
        Box::new(k.max_budget),
        p_text(&k.budget_duration),
        p_ts(k.budget_reset_at),
        Box::new(k.allowed_cache_controls.clone()),
        p_obj(&k.model_spend),
        p_obj(&k.model_max_budget),
        p_text(&k.budget_id),
        p_text(&k.organization_id),
        p_ts(k.created_at),
        p_text(&k.created_by),
        p_ts(k.updated_at),
        p_text(&k.updated_by),
        Box::new(to_i32(k.rotation_count)),
        p_ts(k.last_rotation_at),
    ]
}

fn key_from_row(r: &Row) -> Result<KeyRow, tokio_postgres::Error> {
    Ok(KeyRow {
        token: r.try_get(0)?,
        key_name: r.try_get(1)?,
        key_alias: r.try_get(2)?,
        spend: r.try_get::<_, Option<f64>>(3)?.unwrap_or(0.0),
        expires: get_ts(r, 4)?,
        models: get_list(r, 5)?,
        aliases: get_obj(r, 6)?,
        config: get_obj(r, 7)?,
        user_id: r.try_get(8)?,
        team_id: r.try_get(9)?,
        permissions: get_obj(r, 10)?,
        max_parallel_requests: get_i32(r, 11)?,
        metadata: get_obj(r, 12)?,
        blocked: r.try_get(13)?,
        tpm_limit: r.try_get(14)?,
        rpm_limit: r.try_get(15)?,
        max_budget: r.try_get(16)?,
        budget_duration: r.try_get(17)?,
        budget_reset_at: get_ts(r, 18)?,
        allowed_cache_controls: get_list(r, 19)?,
        model_spend: get_obj(r, 20)?,
        model_max_budget: get_obj(r, 21)?,
        budget_id: r.try_get(22)?,
        organization_id: r.try_get(23)?,
        created_at: get_ts(r, 24)?,
        created_by: r.try_get(25)?,
        updated_at: get_ts(r, 26)?,
        updated_by: r.try_get(27)?,
        rotation_count: get_i32(r, 28)?.unwrap_or(0),
        last_rotation_at: get_ts(r, 29)?,
    })
}

fn keys_from(rows: &[Row]) -> Result<Vec<KeyRow>, tokio_postgres::Error> {
    rows.iter().map(key_from_row).collect()
}

fn select_keys(where_sql: &str) -> String {
    format!(
        "SELECT {} FROM \"LiteLLM_VerificationToken\" {where_sql}",
        KEY_COLUMNS_PLAIN.join(", ")
    )
}

/// `UPDATE` every key column from `$1..$30` where the token is `$32`; spend only if `$31`.
fn update_key_sql() -> String {
    let sets: Vec<String> = KEY_COLUMNS_PLAIN
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if *c == "spend" {
                format!("spend = CASE WHEN $31 THEN ${} ELSE spend END", i + 1)
            } else {
                format!("{c} = ${}", i + 1)
            }
        })
        .collect();
    format!(
        "UPDATE \"LiteLLM_VerificationToken\" SET {} WHERE token = $32",
        sets.join(", ")
    )
}

async fn update_key(
    tx: &tokio_postgres::Transaction<'_>,
    row: &KeyRow,
    where_token: &str,
    set_spend: bool,
) -> Result<bool, tokio_postgres::Error> {
    let mut values = key_values(row);
    values.push(Box::new(set_spend));
    values.push(Box::new(where_token.to_owned()));
    Ok(tx.execute(&update_key_sql(), &refs(&values)).await? > 0)
}

/// Copy the keys matching `where_sql` (with `$1` = `param`) to the deleted-keys table, and
/// delete them unless `keep`. Returns their tokens.
async fn archive_keys(
    tx: &tokio_postgres::Transaction<'_>,
    where_sql: &str,
    param: &str,
    deleted_by: &Option<String>,
    keep: bool,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let cols = KEY_COLUMNS_PLAIN.join(", ");
    let rows = tx
        .query(
            &format!("SELECT token FROM \"LiteLLM_VerificationToken\" {where_sql} FOR UPDATE"),
            &[&param],
        )
        .await?;
    let tokens: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let now = ts(clock::now());
    for t in &tokens {
        tx.execute(
            &format!(
                "INSERT INTO \"LiteLLM_DeletedVerificationToken\" (id, {cols}, deleted_at, deleted_by)
                 SELECT $2, {cols}, $3, $4 FROM \"LiteLLM_VerificationToken\" WHERE token = $1"
            ),
            &[t, &uuid4() as &(dyn ToSql + Sync), &now, deleted_by],
        )
        .await?;
    }
    if !keep {
        tx.execute(
            &format!("DELETE FROM \"LiteLLM_VerificationToken\" {where_sql}"),
            &[&param],
        )
        .await?;
    }
    Ok(tokens)
}

// ---------------------------------------------------------------- teams

pub const TEAM_COLUMNS: &[&str] = &[
    "team_id",
    "team_alias",
    "organization_id",
    "admins",
    "members",
    "members_with_roles",
    "metadata",
    "max_budget",
    "soft_budget",
    "spend",
    "models",
    "max_parallel_requests",
    "tpm_limit",
    "rpm_limit",
    "budget_duration",
    "budget_reset_at",
    "blocked",
    "created_at",
    "updated_at",
    "model_spend",
    "model_max_budget",
];

fn team_values(t: &TeamRow) -> Vec<Param> {
    let now = clock::now();
    vec![
        Box::new(t.team_id.clone()),
        p_text(&t.team_alias),
        p_text(&t.organization_id),
        Box::new(t.admins.clone()),
        Box::new(t.members.clone()),
        Box::new(Value::Array(t.members_with_roles.clone())),
        p_obj(&t.metadata),
        Box::new(t.max_budget),
        Box::new(t.soft_budget),
        Box::new(t.spend),
        Box::new(t.models.clone()),
        p_i32(t.max_parallel_requests),
        Box::new(t.tpm_limit),
        Box::new(t.rpm_limit),
        p_text(&t.budget_duration),
        p_ts(t.budget_reset_at),
        Box::new(t.blocked),
        // NOT NULL in LiteLLM's table.
        Box::new(ts(t.created_at.unwrap_or(now))),
        Box::new(ts(t.updated_at.unwrap_or(now))),
        p_obj(&t.model_spend),
        p_obj(&t.model_max_budget),
    ]
}

fn team_from_row(r: &Row) -> Result<TeamRow, tokio_postgres::Error> {
    Ok(TeamRow {
        team_id: r.try_get(0)?,
        team_alias: r.try_get(1)?,
        organization_id: r.try_get(2)?,
        admins: get_list(r, 3)?,
        members: get_list(r, 4)?,
        // LiteLLM's column defaults to `{}` though it holds a list.
        members_with_roles: match r.try_get::<_, Option<Value>>(5)? {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        metadata: get_obj(r, 6)?,
        max_budget: r.try_get(7)?,
        soft_budget: r.try_get(8)?,
        spend: r.try_get::<_, Option<f64>>(9)?.unwrap_or(0.0),
        models: get_list(r, 10)?,
        max_parallel_requests: get_i32(r, 11)?,
        tpm_limit: r.try_get(12)?,
        rpm_limit: r.try_get(13)?,
        budget_duration: r.try_get(14)?,
        budget_reset_at: get_ts(r, 15)?,
        blocked: r.try_get::<_, Option<bool>>(16)?.unwrap_or(false),
        created_at: get_ts(r, 17)?,
        updated_at: get_ts(r, 18)?,
        model_spend: get_obj(r, 19)?,
        model_max_budget: get_obj(r, 20)?,
    })
}

fn select_teams(where_sql: &str) -> String {
    format!(
        "SELECT {} FROM \"LiteLLM_TeamTable\" {where_sql}",
        TEAM_COLUMNS.join(", ")
    )
}

// ---------------------------------------------------------------- end users and budgets

pub const BUDGET_COLUMNS: &[&str] = &[
    "budget_id",
    "max_budget",
    "soft_budget",
    "max_parallel_requests",
    "tpm_limit",
    "rpm_limit",
    "model_max_budget",
    "budget_duration",
    "budget_reset_at",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
];

fn budget_values(b: &BudgetRow) -> Vec<Param> {
    vec![
        Box::new(b.budget_id.clone()),
        Box::new(b.max_budget),
        Box::new(b.soft_budget),
        p_i32(b.max_parallel_requests),
        Box::new(b.tpm_limit),
        Box::new(b.rpm_limit),
        Box::new(b.model_max_budget.clone().map(Value::Object)),
        p_text(&b.budget_duration),
        p_ts(b.budget_reset_at),
        Box::new(ts(b.created_at)),
        Box::new(b.created_by.clone()),
        Box::new(ts(b.updated_at)),
        Box::new(b.updated_by.clone()),
    ]
}

async fn upsert_budget(
    tx: &tokio_postgres::Transaction<'_>,
    b: &BudgetRow,
) -> Result<(), tokio_postgres::Error> {
    let sets: Vec<String> = BUDGET_COLUMNS
        .iter()
        .skip(1)
        .filter(|c| !matches!(**c, "created_at" | "created_by"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    tx.execute(
        &format!(
            "INSERT INTO \"LiteLLM_BudgetTable\" ({}) VALUES ({})
             ON CONFLICT (budget_id) DO UPDATE SET {}",
            BUDGET_COLUMNS.join(", "),
            placeholders(1, BUDGET_COLUMNS.len()),
            sets.join(", ")
        ),
        &refs(&budget_values(b)),
    )
    .await?;
    Ok(())
}

/// End-user columns, then the budget's (all null without one).
fn select_end_users(where_sql: &str) -> String {
    let budget: Vec<String> = BUDGET_COLUMNS.iter().map(|c| format!("b.{c}")).collect();
    format!(
        "SELECT e.user_id, e.alias, e.spend, e.allowed_model_region::text, e.default_model,
                e.models, e.budget_id, e.blocked, {}
         FROM \"LiteLLM_EndUserTable\" e
         LEFT JOIN \"LiteLLM_BudgetTable\" b ON b.budget_id = e.budget_id {where_sql}",
        budget.join(", ")
    )
}

fn end_user_from_row(r: &Row) -> Result<EndUserRow, tokio_postgres::Error> {
    let budget_id: Option<String> = r.try_get(8)?;
    let budget = match budget_id {
        Some(budget_id) => Some(BudgetRow {
            budget_id,
            max_budget: r.try_get(9)?,
            soft_budget: r.try_get(10)?,
            max_parallel_requests: get_i32(r, 11)?,
            tpm_limit: r.try_get(12)?,
            rpm_limit: r.try_get(13)?,
            model_max_budget: match r.try_get::<_, Option<Value>>(14)? {
                Some(Value::Object(o)) => Some(o),
                _ => None,
            },
            budget_duration: r.try_get(15)?,
            budget_reset_at: get_ts(r, 16)?,
            created_at: get_ts(r, 17)?.unwrap_or(0),
            created_by: r.try_get::<_, Option<String>>(18)?.unwrap_or_default(),
            updated_at: get_ts(r, 19)?.unwrap_or(0),
            updated_by: r.try_get::<_, Option<String>>(20)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(EndUserRow {
        user_id: r.try_get(0)?,
        alias: r.try_get(1)?,
        spend: r.try_get::<_, Option<f64>>(2)?.unwrap_or(0.0),
        allowed_model_region: r.try_get(3)?,
        default_model: r.try_get(4)?,
        models: get_list(r, 5)?,
        budget_id: r.try_get(6)?,
        blocked: r.try_get::<_, Option<bool>>(7)?.unwrap_or(false),
        budget,
    })
}

// ---------------------------------------------------------------- spend logs

pub const LOG_COLUMNS_PLAIN: &[&str] = &[
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "\"startTime\"",
    "\"endTime\"",
    "request_duration_ms",
    "\"completionStartTime\"",
    "model",
    "model_id",
    "model_group",
    "custom_llm_provider",
    "api_base",
    "\"user\"",
    "metadata",
    "cache_hit",
    "request_tags",
    "team_id",
    "end_user",
    "status",
];

fn log_values(l: &SpendLogRow) -> Vec<Param> {
    vec![
        Box::new(l.request_id.clone()),
        Box::new(l.call_type.clone()),
        Box::new(l.api_key.clone()),
        Box::new(l.spend),
        Box::new(to_i32(l.total_tokens)),
        Box::new(to_i32(l.prompt_tokens)),
        Box::new(to_i32(l.completion_tokens)),
        Box::new(ts(l.start_time)),
        Box::new(ts(l.end_time)),
        p_i32(l.request_duration_ms),
        p_ts(l.completion_start_time),
        Box::new(l.model.clone()),
        p_text(&l.model_id),
        p_text(&l.model_group),
        p_text(&l.custom_llm_provider),
        p_text(&l.api_base),
        p_text(&l.user),
        p_obj(&l.metadata),
        p_text(&l.cache_hit),
        Box::new(Value::Array(
            l.request_tags.iter().cloned().map(Value::String).collect(),
        )),
        p_text(&l.team_id),
        p_text(&l.end_user),
        p_text(&l.status),
    ]
}

fn log_from_row(r: &Row) -> Result<SpendLogRow, tokio_postgres::Error> {
    Ok(SpendLogRow {
        request_id: r.try_get(0)?,
        call_type: r.try_get(1)?,
        api_key: r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
        spend: r.try_get::<_, Option<f64>>(3)?.unwrap_or(0.0),
        total_tokens: get_i32(r, 4)?.unwrap_or(0),
        prompt_tokens: get_i32(r, 5)?.unwrap_or(0),
        completion_tokens: get_i32(r, 6)?.unwrap_or(0),
        start_time: get_ts(r, 7)?.unwrap_or(0),
        end_time: get_ts(r, 8)?.unwrap_or(0),
        request_duration_ms: get_i32(r, 9)?,
        completion_start_time: get_ts(r, 10)?,
        model: r.try_get::<_, Option<String>>(11)?.unwrap_or_default(),
        model_id: r.try_get(12)?,
        model_group: r.try_get(13)?,
        custom_llm_provider: r.try_get(14)?,
        api_base: r.try_get(15)?,
        user: r.try_get(16)?,
        metadata: get_obj(r, 17)?,
        cache_hit: r.try_get(18)?,
        request_tags: match r.try_get::<_, Option<Value>>(19)? {
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
        team_id: r.try_get(20)?,
        end_user: r.try_get(21)?,
        status: r.try_get(22)?,
    })
}

/// ` WHERE ...` for a spend query on `"LiteLLM_SpendLogs" sl`, and its parameters.
fn spend_filter(q: &SpendLogQuery) -> (String, Vec<Param>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Param> = Vec::new();
    let mut add = |clause: &str, v: Param| {
        values.push(v);
        clauses.push(clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(v) = &q.api_key {
        add("sl.api_key = ?", Box::new(v.clone()));
    }
    if let Some(v) = &q.key_alias {
        add(
            "sl.metadata->>'user_api_key_alias' = ?",
            Box::new(v.clone()),
        );
    }
    if let Some(v) = &q.request_id {
        add("sl.request_id = ?", Box::new(v.clone()));
    }
    if let Some(v) = &q.user {
        add("sl.\"user\" = ?", Box::new(v.clone()));
    }
    if let Some(v) = &q.end_user {
        add("sl.end_user = ?", Box::new(v.clone()));
    }
    if let Some(v) = &q.team_id {
        add("sl.team_id = ?", Box::new(v.clone()));
    }
    if let Some(v) = &q.model {
        add("(sl.model = ? OR sl.model_group = ?)", Box::new(v.clone()));
    }
    if let Some(v) = &q.tag {
        add(
            "sl.request_tags @> jsonb_build_array(?::text)",
            Box::new(v.clone()),
        );
    }
    if let Some(v) = q.start {
        add("sl.\"startTime\" >= ?", Box::new(ts(v)));
    }
    if let Some(v) = q.end {
        add("sl.\"startTime\" < ?", Box::new(ts(v)));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, values)
}

fn dimension_sql(d: SpendDimension) -> &'static str {
    match d {
        SpendDimension::Day => "to_char(sl.\"startTime\", 'YYYY-MM-DD')",
        SpendDimension::ApiKey => "sl.api_key",
        SpendDimension::KeyAlias => "sl.metadata->>'user_api_key_alias'",
        SpendDimension::Model => "sl.model",
        SpendDimension::ModelGroup => "sl.model_group",
        SpendDimension::TeamId => "sl.team_id",
        SpendDimension::TeamName => "COALESCE(tt.team_alias, 'Unassigned Team')",
        SpendDimension::User => "sl.\"user\"",
        SpendDimension::EndUser => "sl.end_user",
        SpendDimension::Tag => "tag.value",
    }
}

// ---------------------------------------------------------------- the trait

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.query("SELECT 1", &[]).await.map(|_| ()) })
    }

    fn insert_key(&self, row: KeyRow) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO \"LiteLLM_VerificationToken\" ({}) VALUES ({})",
                KEY_COLUMNS_PLAIN.join(", "),
                placeholders(1, KEY_COLUMNS_PLAIN.len())
            );
            self.execute(&sql, &key_values(&row)).await.map(|_| ())
        })
    }

    fn get_key(&self, token: String) -> StoreFuture<'_, Option<KeyRow>> {
        Box::pin(async move {
            let rows = self
                .query(&select_keys("WHERE token = $1"), &[Box::new(token)])
                .await?;
            rows.first()
                .map(key_from_row)
                .transpose()
                .map_err(|e| self.err(e))
        })
    }

    fn keys_by_alias(&self, alias: String) -> StoreFuture<'_, Vec<KeyRow>> {
        Box::pin(async move {
            let rows = self
                .query(&select_keys("WHERE key_alias = $1"), &[Box::new(alias)])
                .await?;
            keys_from(&rows).map_err(|e| self.err(e))
        })
    }

    fn update_key(&self, row: KeyRow, set_spend: bool) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move { update_key(tx, &row, &row.token, set_spend).await })
            })
            .await
        })
    }

    fn replace_key_token(&self, old_token: String, row: KeyRow) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    let by = row.updated_by.clone();
                    archive_keys(tx, "WHERE token = $1", &old_token, &by, true).await?;
                    update_key(tx, &row, &old_token, false).await
                })
            })
            .await
        })
    }

    fn delete_keys(
        &self,
        tokens: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    let mut deleted = Vec::new();
                    for t in &tokens {
                        deleted.extend(
                            archive_keys(tx, "WHERE token = $1", t, &deleted_by, false).await?,
                        );
                    }
                    Ok(deleted)
                })
            })
            .await
        })
    }

    fn get_deleted_key(&self, token: String) -> StoreFuture<'_, Option<DeletedKeyRow>> {
        Box::pin(async move {
            let cols = KEY_COLUMNS_PLAIN.join(", ");
            let rows = self
                .query(
                    &format!(
                        "SELECT {cols}, deleted_at, deleted_by FROM \"LiteLLM_DeletedVerificationToken\"
                         WHERE token = $1 ORDER BY deleted_at DESC LIMIT 1"
                    ),
                    &[Box::new(token)],
                )
                .await?;
            let n = KEY_COLUMNS_PLAIN.len();
            rows.first()
                .map(|r| {
                    Ok(DeletedKeyRow {
                        key: key_from_row(r)?,
                        deleted_at: get_ts(r, n)?.unwrap_or(0),
                        deleted_by: r.try_get(n + 1)?,
                    })
                })
                .transpose()
                .map_err(|e| self.err(e))
        })
    }

    fn list_keys(&self, query: KeyQuery) -> StoreFuture<'_, (Vec<KeyRow>, u64)> {
        Box::pin(async move {
            let mut clauses = Vec::new();
            let mut values: Vec<Param> = Vec::new();
            for (col, v) in [
                ("user_id", &query.user_id),
                ("team_id", &query.team_id),
                ("key_alias", &query.key_alias),
                ("token", &query.key_hash),
                ("organization_id", &query.organization_id),
            ] {
                if let Some(v) = v {
                    values.push(Box::new(v.clone()));
                    clauses.push(format!("{col} = ${}", values.len()));
                }
            }
            let where_sql = if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            };
            let total = self
                .query(
                    &format!("SELECT count(*) FROM \"LiteLLM_VerificationToken\" {where_sql}"),
                    &values,
                )
                .await?;
            let total: i64 = total
                .first()
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(|e| self.err(e))?
                .unwrap_or(0);
            let size = query.size.max(1);
            let offset = query.page.max(1).saturating_sub(1).saturating_mul(size);
            let rows = self
                .query(
                    &select_keys(&format!(
                        "{where_sql} ORDER BY created_at DESC NULLS LAST, token DESC LIMIT {size} OFFSET {offset}"
                    )),
                    &values,
                )
                .await?;
            Ok((
                keys_from(&rows).map_err(|e| self.err(e))?,
                u64::try_from(total).unwrap_or(0),
            ))
        })
    }

    fn team_keys(&self, team_id: String) -> StoreFuture<'_, Vec<KeyRow>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &select_keys("WHERE team_id = $1 ORDER BY created_at DESC NULLS LAST"),
                    &[Box::new(team_id)],
                )
                .await?;
            keys_from(&rows).map_err(|e| self.err(e))
        })
    }

    fn insert_team(&self, row: TeamRow) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO \"LiteLLM_TeamTable\" ({}) VALUES ({})",
                TEAM_COLUMNS.join(", "),
                placeholders(1, TEAM_COLUMNS.len())
            );
            self.execute(&sql, &team_values(&row)).await.map(|_| ())
        })
    }

    fn get_team(&self, team_id: String) -> StoreFuture<'_, Option<TeamRow>> {
        Box::pin(async move {
            let rows = self
                .query(&select_teams("WHERE team_id = $1"), &[Box::new(team_id)])
                .await?;
            rows.first()
                .map(team_from_row)
                .transpose()
                .map_err(|e| self.err(e))
        })
    }

    fn update_team(&self, row: TeamRow, set_spend: bool) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let n = TEAM_COLUMNS.len();
            let sets: Vec<String> = TEAM_COLUMNS
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, col)| {
                    if *col == "spend" {
                        format!(
                            "spend = CASE WHEN ${} THEN ${} ELSE spend END",
                            n + 1,
                            i + 1
                        )
                    } else {
                        format!("{col} = ${}", i + 1)
                    }
                })
                .collect();
            let mut values = team_values(&row);
            values.push(Box::new(set_spend));
            let changed = self
                .execute(
                    &format!(
                        "UPDATE \"LiteLLM_TeamTable\" SET {} WHERE team_id = $1",
                        sets.join(", ")
                    ),
                    &values,
                )
                .await?;
            Ok(changed > 0)
        })
    }

    fn delete_teams(
        &self,
        team_ids: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, (Vec<String>, Vec<String>)> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    let mut teams = Vec::new();
                    let mut tokens = Vec::new();
                    for id in &team_ids {
                        tokens.extend(
                            archive_keys(tx, "WHERE team_id = $1", id, &deleted_by, false).await?,
                        );
                        if tx
                            .execute(
                                "DELETE FROM \"LiteLLM_TeamTable\" WHERE team_id = $1",
                                &[id],
                            )
                            .await?
                            > 0
                        {
                            teams.push(id.clone());
                        }
                    }
                    Ok((teams, tokens))
                })
            })
            .await
        })
    }

    fn list_teams(&self) -> StoreFuture<'_, Vec<TeamRow>> {
        Box::pin(async move {
            let rows = self
                .query(&select_teams("ORDER BY team_alias, team_id"), &[])
                .await?;
            rows.iter()
                .map(team_from_row)
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))
        })
    }

    fn insert_end_user(&self, row: EndUserRow) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    if let Some(b) = &row.budget {
                        upsert_budget(tx, b).await?;
                    }
                    tx.execute(
                        "INSERT INTO \"LiteLLM_EndUserTable\" (user_id, alias, spend,
                            allowed_model_region, default_model, models, budget_id, blocked)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &row.user_id,
                            &row.alias,
                            &row.spend,
                            &row.allowed_model_region,
                            &row.default_model,
                            &row.models,
                            &row.budget_id,
                            &row.blocked,
                        ],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
        })
    }

    fn get_end_user(&self, user_id: String) -> StoreFuture<'_, Option<EndUserRow>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &select_end_users("WHERE e.user_id = $1"),
                    &[Box::new(user_id)],
                )
                .await?;
            rows.first()
                .map(end_user_from_row)
                .transpose()
                .map_err(|e| self.err(e))
        })
    }

    fn update_end_user(&self, row: EndUserRow) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    if let Some(b) = &row.budget {
                        upsert_budget(tx, b).await?;
                    }
                    let changed = tx
                        .execute(
                            "UPDATE \"LiteLLM_EndUserTable\" SET alias = $2, allowed_model_region = $3,
                                default_model = $4, models = $5, budget_id = $6, blocked = $7
                             WHERE user_id = $1",
                            &[
                                &row.user_id,
                                &row.alias,
                                &row.allowed_model_region,
                                &row.default_model,
                                &row.models,
                                &row.budget_id,
                                &row.blocked,
                            ],
                        )
                        .await?;
                    Ok(changed > 0)
                })
            })
            .await
        })
    }

    fn delete_end_users(&self, user_ids: Vec<String>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.execute(
                "DELETE FROM \"LiteLLM_EndUserTable\" WHERE user_id = ANY($1)",
                &[Box::new(user_ids)],
            )
            .await
        })
    }

    fn list_end_users(&self, restricted_only: bool) -> StoreFuture<'_, Vec<EndUserRow>> {
        Box::pin(async move {
            let filter = if restricted_only {
                "WHERE e.blocked OR cardinality(e.models) > 0 OR e.budget_id IS NOT NULL"
            } else {
                ""
            };
            let rows = self
                .query(
                    &select_end_users(&format!("{filter} ORDER BY e.user_id")),
                    &[],
                )
                .await?;
            rows.iter()
                .map(end_user_from_row)
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))
        })
    }

    fn due_resets(&self, now: Micros) -> StoreFuture<'_, Vec<BudgetReset>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (owner, table, id) in [
                (BudgetOwner::Key, "LiteLLM_VerificationToken", "token"),
                (BudgetOwner::Team, "LiteLLM_TeamTable", "team_id"),
                (BudgetOwner::Budget, "LiteLLM_BudgetTable", "budget_id"),
            ] {
                let rows = self
                    .query(
                        &format!(
                            "SELECT {id}, budget_duration, budget_reset_at FROM \"{table}\"
                             WHERE budget_duration IS NOT NULL AND budget_reset_at IS NOT NULL
                               AND budget_reset_at <= $1"
                        ),
                        &[Box::new(ts(now))],
                    )
                    .await?;
                for r in &rows {
                    out.push(
                        (|| {
                            Ok::<_, tokio_postgres::Error>(BudgetReset {
                                owner,
                                id: r.try_get(0)?,
                                budget_duration: r.try_get(1)?,
                                reset_at: get_ts(r, 2)?.unwrap_or(0),
                                next_reset_at: 0,
                            })
                        })()
                        .map_err(|e| self.err(e))?,
                    );
                }
            }
            Ok(out)
        })
    }

    fn apply_resets(&self, resets: Vec<BudgetReset>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    let mut applied = 0u64;
                    for r in &resets {
                        let (at, next) = (ts(r.reset_at), ts(r.next_reset_at));
                        let params: [&(dyn ToSql + Sync); 3] = [&r.id, &at, &next];
                        let n = match r.owner {
                            BudgetOwner::Key => {
                                tx.execute(
                                    "UPDATE \"LiteLLM_VerificationToken\" SET spend = 0, budget_reset_at = $3
                                     WHERE token = $1 AND budget_reset_at = $2",
                                    &params,
                                )
                                .await?
                            }
                            BudgetOwner::Team => {
                                tx.execute(
                                    "UPDATE \"LiteLLM_TeamTable\" SET spend = 0, budget_reset_at = $3
                                     WHERE team_id = $1 AND budget_reset_at = $2",
                                    &params,
                                )
                                .await?
                            }
                            BudgetOwner::Budget => {
                                let n = tx
                                    .execute(
                                        "UPDATE \"LiteLLM_BudgetTable\" SET budget_reset_at = $3
                                         WHERE budget_id = $1 AND budget_reset_at = $2",
                                        &params,
                                    )
                                    .await?;
                                if n > 0 {
                                    tx.execute(
                                        "UPDATE \"LiteLLM_EndUserTable\" SET spend = 0 WHERE budget_id = $1",
                                        &[&r.id],
                                    )
                                    .await?;
                                }
                                n
                            }
                        };
                        applied += n;
                    }
                    Ok(applied)
                })
            })
            .await
        })
    }

    fn write_spend(&self, batch: SpendBatch) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.count(1);
            self.in_transaction(move |tx| {
                Box::pin(async move {
                    let insert = tx
                        .prepare(&format!(
                            "INSERT INTO \"LiteLLM_SpendLogs\" ({}) VALUES ({})
                             ON CONFLICT (request_id) DO NOTHING",
                            LOG_COLUMNS_PLAIN.join(", "),
                            placeholders(1, LOG_COLUMNS_PLAIN.len())
                        ))
                        .await?;
                    // Pipelined: every insert is sent before the first answer is read.
                    let values: Vec<Vec<Param>> = batch.logs.iter().map(log_values).collect();
                    let inserts = values.iter().map(|v| {
                        let insert = &insert;
                        async move { tx.execute(insert, &refs(v)).await }
                    });
                    futures_util::future::try_join_all(inserts).await?;
                    let (ids, costs): (Vec<String>, Vec<f64>) =
                        batch.increments.keys.iter().cloned().unzip();
                    if !ids.is_empty() {
                        tx.execute(
                            "UPDATE \"LiteLLM_VerificationToken\" t SET spend = t.spend + i.cost
                             FROM unnest($1::text[], $2::float8[]) AS i(id, cost) WHERE t.token = i.id",
                            &[&ids, &costs],
                        )
                        .await?;
                    }
                    let (ids, costs): (Vec<String>, Vec<f64>) =
                        batch.increments.teams.iter().cloned().unzip();
                    if !ids.is_empty() {
                        tx.execute(
                            "UPDATE \"LiteLLM_TeamTable\" t SET spend = t.spend + i.cost
                             FROM unnest($1::text[], $2::float8[]) AS i(id, cost) WHERE t.team_id = i.id",
                            &[&ids, &costs],
                        )
                        .await?;
                    }
                    let (ids, costs): (Vec<String>, Vec<f64>) =
                        batch.increments.end_users.iter().cloned().unzip();
                    if !ids.is_empty() {
                        tx.execute(
                            "INSERT INTO \"LiteLLM_EndUserTable\" AS e (user_id, spend)
                             SELECT id, cost FROM unnest($1::text[], $2::float8[]) AS i(id, cost)
                             ON CONFLICT (user_id) DO UPDATE SET spend = e.spend + excluded.spend",
                            &[&ids, &costs],
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    fn spend_logs(&self, query: SpendLogQuery) -> StoreFuture<'_, Vec<SpendLogRow>> {
        Box::pin(async move {
            let (where_sql, values) = spend_filter(&query);
            let cols: Vec<String> = LOG_COLUMNS_PLAIN
                .iter()
                .map(|c| format!("sl.{c}"))
                .collect();
            let limit = if query.limit == 0 {
                "ALL".to_owned()
            } else {
                query.limit.to_string()
            };
            let rows = self
                .query(
                    &format!(
                        "SELECT {} FROM \"LiteLLM_SpendLogs\" sl{where_sql}
                         ORDER BY sl.\"startTime\" DESC, sl.request_id DESC LIMIT {limit}",
                        cols.join(", ")
                    ),
                    &values,
                )
                .await?;
            rows.iter()
                .map(log_from_row)
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))
        })
    }

    fn spend_totals(&self, query: SpendTotalsQuery) -> StoreFuture<'_, Vec<SpendTotalsRow>> {
        Box::pin(async move {
            let (where_sql, values) = spend_filter(&query.filter);
            let dims: Vec<&str> = query.group_by.iter().map(|d| dimension_sql(*d)).collect();
            let mut joins = String::new();
            if query.group_by.contains(&SpendDimension::TeamName) {
                joins.push_str(" LEFT JOIN \"LiteLLM_TeamTable\" tt ON tt.team_id = sl.team_id");
            }
            if query.group_by.contains(&SpendDimension::Tag) {
                joins.push_str(
                    " LEFT JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(sl.request_tags) = 'array' THEN sl.request_tags ELSE '[]'::jsonb END) AS tag(value) ON true",
                );
            }
            let select_dims: Vec<String> = dims.iter().map(|d| format!("({d})::text")).collect();
            let group = if dims.is_empty() {
                String::new()
            } else {
                let n: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
                format!(" GROUP BY {0} ORDER BY {0}", n.join(", "))
            };
            let sql = format!(
                "SELECT {}{}SUM(sl.spend)::float8, SUM(sl.prompt_tokens)::int8,
                        SUM(sl.completion_tokens)::int8, SUM(sl.total_tokens)::int8, COUNT(*)::int8
                 FROM \"LiteLLM_SpendLogs\" sl{joins}{where_sql}{group}",
                select_dims.join(", "),
                if dims.is_empty() { "" } else { ", " },
            );
            let n = dims.len();
            let rows = self.query(&sql, &values).await?;
            let mut out = rows
                .iter()
                .map(|r| {
                    let mut keys = Vec::with_capacity(n);
                    for i in 0..n {
                        keys.push(r.try_get::<_, Option<String>>(i)?);
                    }
                    Ok(SpendTotalsRow {
                        keys,
                        spend: r.try_get::<_, Option<f64>>(n)?.unwrap_or(0.0),
                        prompt_tokens: r.try_get::<_, Option<i64>>(n + 1)?.unwrap_or(0),
                        completion_tokens: r.try_get::<_, Option<i64>>(n + 2)?.unwrap_or(0),
                        total_tokens: r.try_get::<_, Option<i64>>(n + 3)?.unwrap_or(0),
                        requests: r.try_get(n + 4)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(|e| self.err(e))?;
            if n == 0 && out.first().is_some_and(|r| r.requests == 0) {
                out.clear();
            }
            Ok(out)
        })
    }

    fn delete_spend_logs_before(&self, cutoff: Micros, limit: u64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.execute(
                "DELETE FROM \"LiteLLM_SpendLogs\" WHERE request_id IN
                    (SELECT request_id FROM \"LiteLLM_SpendLogs\" WHERE \"startTime\" < $1 LIMIT $2)",
                &[
                    Box::new(ts(cutoff)),
                    Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await
        })
    }
}
