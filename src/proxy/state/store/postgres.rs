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

use super::tables::{
    self, select_keys, select_teams, Cells, Dialect, Encode, KEY_COLUMNS, LOG_COLUMNS, TEAM_COLUMNS,
};
use super::{
    pg_migrations, pg_tls, BudgetOwner, BudgetReset, BudgetRow, DeletedKeyRow, EndUserRow,
    KeyQuery, KeyRow, SpendBatch, SpendDimension, SpendLogQuery, SpendLogRow, SpendTotalsQuery,
    SpendTotalsRow, Store, StoreError, StoreFuture, TeamRow,
};
use crate::spend::clock::{self, Micros};

const PG: Dialect = Dialect::Postgres;

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

fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn get_ts(r: &Row, i: usize) -> Result<Option<Micros>, tokio_postgres::Error> {
    Ok(r.try_get::<_, Option<PrimitiveDateTime>>(i)?.map(micros))
}

/// PostgreSQL's types for LiteLLM's columns (Prisma's mapping).
struct Pg;

impl Encode for Pg {
    type Value = Param;

    fn text(v: Option<&str>) -> Param {
        Box::new(v.map(str::to_owned))
    }

    fn real(v: Option<f64>) -> Param {
        Box::new(v)
    }

    fn bigint(v: Option<i64>) -> Param {
        Box::new(v)
    }

    fn int(v: Option<i64>) -> Param {
        Box::new(v.map(to_i32))
    }

    fn time(v: Option<Micros>) -> Param {
        Box::new(v.map(ts))
    }

    fn flag(v: Option<bool>) -> Param {
        Box::new(v)
    }

    fn list(v: &[String]) -> Param {
        Box::new(v.to_vec())
    }

    fn json(v: Option<Value>) -> Param {
        Box::new(v)
    }
}

impl Cells for Row {
    type Error = tokio_postgres::Error;

    fn text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }

    fn real(&self, i: usize) -> Result<Option<f64>, Self::Error> {
        self.try_get(i)
    }

    fn bigint(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.try_get(i)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        Ok(self.try_get::<_, Option<i32>>(i)?.map(i64::from))
    }

    fn time(&self, i: usize) -> Result<Option<Micros>, Self::Error> {
        get_ts(self, i)
    }

    fn flag(&self, i: usize) -> Result<Option<bool>, Self::Error> {
        self.try_get(i)
    }

    fn list(&self, i: usize) -> Result<Vec<String>, Self::Error> {
        Ok(self
            .try_get::<_, Option<Vec<Option<String>>>>(i)?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect())
    }

    fn json(&self, i: usize) -> Result<Option<Value>, Self::Error> {
        self.try_get(i)
    }
}

fn key_values(k: &KeyRow) -> Vec<Param> {
    tables::key_values::<Pg>(k)
}

fn key_from_row(r: &Row) -> Result<KeyRow, tokio_postgres::Error> {
    tables::key_from(r)
}

/// A team's values; its times are NOT NULL in LiteLLM's table.
fn team_values(t: &TeamRow) -> Vec<Param> {
    let now = clock::now();
    tables::team_values::<Pg>(&TeamRow {
        created_at: Some(t.created_at.unwrap_or(now)),
        updated_at: Some(t.updated_at.unwrap_or(now)),
        ..t.clone()
    })
}

fn team_from_row(r: &Row) -> Result<TeamRow, tokio_postgres::Error> {
    tables::team_from(r)
}

fn budget_values(b: &BudgetRow) -> Vec<Param> {
    tables::budget_values::<Pg>(b)
}

fn end_user_from_row(r: &Row) -> Result<EndUserRow, tokio_postgres::Error> {
    tables::end_user_from(r)
}

fn log_values(l: &SpendLogRow) -> Vec<Param> {
    tables::log_values::<Pg>(l)
}

fn log_from_row(r: &Row) -> Result<SpendLogRow, tokio_postgres::Error> {
    tables::log_from(r)
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

fn keys_from(rows: &[Row]) -> Result<Vec<KeyRow>, tokio_postgres::Error> {
    rows.iter().map(key_from_row).collect()
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
    Ok(tx.execute(&tables::update_key(PG), &refs(&values)).await? > 0)
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
    let cols = KEY_COLUMNS.join(", ");
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

// ---------------------------------------------------------------- end users and budgets

async fn upsert_budget(
    tx: &tokio_postgres::Transaction<'_>,
    b: &BudgetRow,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(&tables::upsert_budget(PG), &refs(&budget_values(b)))
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- spend logs

/// ` WHERE ...` for a spend query, and its parameters.
fn spend_filter(q: &SpendLogQuery) -> (String, Vec<Param>) {
    tables::spend_filter(
        PG,
        q,
        |v| -> Param { Box::new(v.to_owned()) },
        |t| -> Param { Box::new(ts(t)) },
    )
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
                "INSERT INTO \"LiteLLM_VerificationToken\" {}",
                tables::values_clause(PG, KEY_COLUMNS)
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
            let cols = KEY_COLUMNS.join(", ");
            let rows = self
                .query(
                    &format!(
                        "SELECT {cols}, deleted_at, deleted_by FROM \"LiteLLM_DeletedVerificationToken\"
                         WHERE token = $1 ORDER BY deleted_at DESC LIMIT 1"
                    ),
                    &[Box::new(token)],
                )
                .await?;
            rows.first()
                .map(tables::deleted_key_from)
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
                "INSERT INTO \"LiteLLM_TeamTable\" {}",
                tables::values_clause(PG, TEAM_COLUMNS)
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
            let mut values = team_values(&row);
            values.push(Box::new(set_spend));
            let changed = self.execute(&tables::update_team(PG), &values).await?;
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
                    &tables::select_end_users(PG, "WHERE e.user_id = $1"),
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
                    &tables::select_end_users(PG, &format!("{filter} ORDER BY e.user_id")),
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
                            "INSERT INTO \"LiteLLM_SpendLogs\" {}
                             ON CONFLICT (request_id) DO NOTHING",
                            tables::values_clause(PG, LOG_COLUMNS)
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
                        tables::qualified("sl", LOG_COLUMNS)
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
            let dims: Vec<&str> = query.group_by.iter().map(|d| PG.dimension(*d)).collect();
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
