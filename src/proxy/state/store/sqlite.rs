//! The embedded backend: one SQLite file (WAL mode) with two connections, each on its own
//! thread: a writer (every mutation, in order) and a reader (lookups and reports), so a
//! long report never delays a write and no SQLite call ever runs on the async runtime.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags, Row};
use serde_json::Value;

use super::tables::{
    self, select_keys, select_teams, Cells, Dialect, Encode, KEY_COLUMNS, LOG_COLUMNS, TEAM_COLUMNS,
};
use super::{
    migrations, BudgetOwner, BudgetReset, BudgetRow, DeletedKeyRow, EndUserRow, KeyQuery, KeyRow,
    SpendBatch, SpendDimension, SpendLogQuery, SpendLogRow, SpendTotalsQuery, SpendTotalsRow,
    Store, StoreError, StoreFuture, TeamRow,
};
use crate::spend::clock::Micros;

const LITE: Dialect = Dialect::Sqlite;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A connection on its own thread, fed jobs over a channel.
struct DbThread {
    tx: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DbThread {
    fn spawn(name: &str, mut conn: Connection) -> Result<Self, std::io::Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })?;
        Ok(DbThread {
            tx,
            thread: Some(thread),
        })
    }

    /// Run `f` on the connection's thread and wait (asynchronously) for its result.
    fn run<T, F>(&self, location: String, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Box::new(move |conn: &mut Connection| {
            let _ = done.send(f(conn));
        }));
        Box::pin(async move {
            if sent.is_err() {
                return Err(StoreError::Closed(location));
            }
            match result.await {
                Ok(r) => r.map_err(|e| backend_error(&location, e)),
                Err(_) => Err(StoreError::Closed(location)),
            }
        })
    }
}

fn backend_error(location: &str, e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == ErrorCode::ConstraintViolation {
            return StoreError::Conflict(e.to_string());
        }
    }
    StoreError::Backend {
        location: location.to_owned(),
        message: e.to_string(),
    }
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: DbThread,
    reader: DbThread,
    /// A directory to remove when the store is dropped ([`SqliteStore::open_temporary`]).
    temporary: Option<PathBuf>,
}

impl SqliteStore {
    /// Open (creating if missing, with its directory) the file at `path` and apply any
    /// missing migrations. Blocking: call it at startup, before serving.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let location = format!("sqlite:{}", path.display());
        let err = |e: rusqlite::Error| backend_error(&location, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend {
                location: location.clone(),
                message: format!("cannot create the directory {}: {e}", dir.display()),
            })?;
        }
        let mut writer = Connection::open(path).map_err(err)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        migrations::migrate(&mut writer).map_err(err)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let spawn_err = |e: std::io::Error| StoreError::Backend {
            location: location.clone(),
            message: format!("cannot start its thread: {e}"),
        };
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: DbThread::spawn("llmswitch-state-writer", writer).map_err(spawn_err)?,
            reader: DbThread::spawn("llmswitch-state-reader", reader).map_err(spawn_err)?,
            temporary: None,
        })
    }

    /// A store in a new file of the temporary directory, removed when the store is dropped
    /// (a gateway configured without a config file, in tests and notebooks).
    pub fn open_temporary() -> Result<Self, StoreError> {
        let dir = std::env::temp_dir().join(format!(
            "llmswitch-state-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut store = Self::open(&dir.join("state.sqlite"))?;
        store.temporary = Some(dir);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.run(self.location(), f)
    }

    fn read<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.reader.run(self.location(), f)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let Some(dir) = self.temporary.take() else {
            return;
        };
        // Close both connections (their threads end once their queues are empty), then
        // remove the files.
        for t in [&mut self.writer, &mut self.reader] {
            let (tx, _) = mpsc::channel();
            drop(std::mem::replace(&mut t.tx, tx));
            if let Some(h) = t.thread.take() {
                let _ = h.join();
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---------------------------------------------------------------- value conversions

fn json<T: serde::Serialize>(v: &T) -> Sql {
    Sql::Text(serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()))
}

/// SQLite's storage of LiteLLM's columns: JSON as text, times as integer microseconds.
struct Lite;

impl Encode for Lite {
    type Value = Sql;

    fn text(v: Option<&str>) -> Sql {
        v.map_or(Sql::Null, |s| Sql::Text(s.to_owned()))
    }

    fn real(v: Option<f64>) -> Sql {
        v.map_or(Sql::Null, Sql::Real)
    }

    fn bigint(v: Option<i64>) -> Sql {
        v.map_or(Sql::Null, Sql::Integer)
    }

    fn int(v: Option<i64>) -> Sql {
        v.map_or(Sql::Null, Sql::Integer)
    }

    fn time(v: Option<Micros>) -> Sql {
        v.map_or(Sql::Null, Sql::Integer)
    }

    fn flag(v: Option<bool>) -> Sql {
        v.map_or(Sql::Null, |b| Sql::Integer(i64::from(b)))
    }

    fn list(v: &[String]) -> Sql {
        json(&v)
    }

    fn json(v: Option<Value>) -> Sql {
        v.map_or(Sql::Null, |v| json(&v))
    }
}

impl Cells for Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn real(&self, i: usize) -> rusqlite::Result<Option<f64>> {
        self.get(i)
    }

    fn bigint(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }

    fn int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }

    fn time(&self, i: usize) -> rusqlite::Result<Option<Micros>> {
        self.get(i)
    }

    fn flag(&self, i: usize) -> rusqlite::Result<Option<bool>> {
        Ok(self.get::<_, Option<i64>>(i)?.map(|v| v != 0))
    }

    fn list(&self, i: usize) -> rusqlite::Result<Vec<String>> {
        let s: Option<String> = self.get(i)?;
        Ok(s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    fn json(&self, i: usize) -> rusqlite::Result<Option<Value>> {
        let s: Option<String> = self.get(i)?;
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }
}

fn key_values(k: &KeyRow) -> Vec<Sql> {
    tables::key_values::<Lite>(k)
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    tables::key_from(r)
}

fn team_values(t: &TeamRow) -> Vec<Sql> {
    tables::team_values::<Lite>(t)
}

fn team_from_row(r: &Row<'_>) -> rusqlite::Result<TeamRow> {
    tables::team_from(r)
}

fn budget_values(b: &BudgetRow) -> Vec<Sql> {
    tables::budget_values::<Lite>(b)
}

fn end_user_from_row(r: &Row<'_>) -> rusqlite::Result<EndUserRow> {
    tables::end_user_from(r)
}

fn log_values(l: &SpendLogRow) -> Vec<Sql> {
    tables::log_values::<Lite>(l)
}

fn log_from_row(r: &Row<'_>) -> rusqlite::Result<SpendLogRow> {
    tables::log_from(r)
}

// ---------------------------------------------------------------- keys

fn update_key(
    conn: &Connection,
    row: &KeyRow,
    where_token: &str,
    set_spend: bool,
) -> rusqlite::Result<bool> {
    let mut values = key_values(row);
    values.push(Sql::Integer(i64::from(set_spend)));
    values.push(Sql::Text(where_token.to_owned()));
    Ok(conn.execute(&tables::update_key(LITE), params_from_iter(values))? > 0)
}

/// Copy the keys matching `where_sql` (with `?1` = `param`) to the deleted-keys table, and
/// delete them unless `keep`.
fn archive_keys(
    conn: &Connection,
    where_sql: &str,
    param: &str,
    deleted_by: &Option<String>,
    now: Micros,
    keep: bool,
) -> rusqlite::Result<Vec<String>> {
    let cols = KEY_COLUMNS.join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT token FROM \"LiteLLM_VerificationToken\" {where_sql}"
    ))?;
    let tokens = stmt
        .query_map([param], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    conn.execute(
        &format!(
            "INSERT INTO \"LiteLLM_DeletedVerificationToken\" ({cols}, deleted_at, deleted_by)
             SELECT {cols}, ?2, ?3 FROM \"LiteLLM_VerificationToken\" {}",
            where_sql
        ),
        rusqlite::params![param, now, deleted_by],
    )?;
    if !keep {
        conn.execute(
            &format!("DELETE FROM \"LiteLLM_VerificationToken\" {where_sql}"),
            [param],
        )?;
    }
    Ok(tokens)
}

// ---------------------------------------------------------------- teams

// ---------------------------------------------------------------- end users and budgets

fn upsert_budget(conn: &Connection, b: &BudgetRow) -> rusqlite::Result<()> {
    conn.execute(
        &tables::upsert_budget(LITE),
        params_from_iter(budget_values(b)),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- spend logs

/// ` WHERE ...` for a spend query, and its parameters.
fn spend_filter(q: &SpendLogQuery) -> (String, Vec<Sql>) {
    tables::spend_filter(LITE, q, |v| Sql::Text(v.to_owned()), Sql::Integer)
}

// ---------------------------------------------------------------- the trait

impl Store for SqliteStore {
    fn location(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    fn insert_key(&self, row: KeyRow) -> StoreFuture<'_, ()> {
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO \"LiteLLM_VerificationToken\" {}",
                    tables::values_clause(LITE, KEY_COLUMNS)
                ),
                params_from_iter(key_values(&row)),
            )
            .map(|_| ())
        })
    }

    fn get_key(&self, token: String) -> StoreFuture<'_, Option<KeyRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&select_keys("WHERE token = ?1"))?;
            let mut rows = stmt.query_map([token], key_from_row)?;
            rows.next().transpose()
        })
    }

    fn keys_by_alias(&self, alias: String) -> StoreFuture<'_, Vec<KeyRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&select_keys("WHERE key_alias = ?1"))?;
            let rows = stmt.query_map([alias], key_from_row)?;
            rows.collect()
        })
    }

    fn update_key(&self, row: KeyRow, set_spend: bool) -> StoreFuture<'_, bool> {
        self.write(move |c| update_key(c, &row, &row.token, set_spend))
    }

    fn replace_key_token(&self, old_token: String, row: KeyRow) -> StoreFuture<'_, bool> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let now = crate::spend::clock::now();
            let by = row.updated_by.clone();
            archive_keys(&tx, "WHERE token = ?1", &old_token, &by, now, true)?;
            let changed = update_key(&tx, &row, &old_token, false)?;
            tx.commit()?;
            Ok(changed)
        })
    }

    fn delete_keys(
        &self,
        tokens: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, Vec<String>> {
        self.write(move |c| {
            let now = crate::spend::clock::now();
            let tx = c.transaction()?;
            let mut deleted = Vec::new();
            for t in &tokens {
                deleted.extend(archive_keys(
                    &tx,
                    "WHERE token = ?1",
                    t,
                    &deleted_by,
                    now,
                    false,
                )?);
            }
            tx.commit()?;
            Ok(deleted)
        })
    }

    fn get_deleted_key(&self, token: String) -> StoreFuture<'_, Option<DeletedKeyRow>> {
        self.read(move |c| {
            let cols = KEY_COLUMNS.join(", ");
            let mut stmt = c.prepare(&format!(
                "SELECT {cols}, deleted_at, deleted_by FROM \"LiteLLM_DeletedVerificationToken\"
                 WHERE token = ?1 ORDER BY deleted_at DESC LIMIT 1"
            ))?;
            let mut rows = stmt.query_map([token], |r| tables::deleted_key_from(r))?;
            rows.next().transpose()
        })
    }

    fn list_keys(&self, query: KeyQuery) -> StoreFuture<'_, (Vec<KeyRow>, u64)> {
        self.read(move |c| {
            let mut clauses = Vec::new();
            let mut values = Vec::new();
            for (col, v) in [
                ("user_id", &query.user_id),
                ("team_id", &query.team_id),
                ("key_alias", &query.key_alias),
                ("token", &query.key_hash),
                ("organization_id", &query.organization_id),
            ] {
                if let Some(v) = v {
                    values.push(Sql::Text(v.clone()));
                    clauses.push(format!("{col} = ?{}", values.len()));
                }
            }
            let where_sql = if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            };
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM \"LiteLLM_VerificationToken\" {where_sql}"),
                params_from_iter(values.clone()),
                |r| r.get(0),
            )?;
            let size = query.size.max(1);
            let offset = query.page.max(1).saturating_sub(1).saturating_mul(size);
            let sql = select_keys(&format!(
                "{where_sql} ORDER BY created_at DESC, token DESC LIMIT {size} OFFSET {offset}"
            ));
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt
                .query_map(params_from_iter(values), key_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
    }

    fn team_keys(&self, team_id: String) -> StoreFuture<'_, Vec<KeyRow>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare(&select_keys("WHERE team_id = ?1 ORDER BY created_at DESC"))?;
            let rows = stmt.query_map([team_id], key_from_row)?;
            rows.collect()
        })
    }

    fn insert_team(&self, row: TeamRow) -> StoreFuture<'_, ()> {
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO \"LiteLLM_TeamTable\" {}",
                    tables::values_clause(LITE, TEAM_COLUMNS)
                ),
                params_from_iter(team_values(&row)),
            )
            .map(|_| ())
        })
    }

    fn get_team(&self, team_id: String) -> StoreFuture<'_, Option<TeamRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&select_teams("WHERE team_id = ?1"))?;
            let mut rows = stmt.query_map([team_id], team_from_row)?;
            rows.next().transpose()
        })
    }

    fn update_team(&self, row: TeamRow, set_spend: bool) -> StoreFuture<'_, bool> {
        self.write(move |c| {
            let mut values = team_values(&row);
            values.push(Sql::Integer(i64::from(set_spend)));
            let changed = c.execute(&tables::update_team(LITE), params_from_iter(values))?;
            Ok(changed > 0)
        })
    }

    fn delete_teams(
        &self,
        team_ids: Vec<String>,
        deleted_by: Option<String>,
    ) -> StoreFuture<'_, (Vec<String>, Vec<String>)> {
        self.write(move |c| {
            let now = crate::spend::clock::now();
            let tx = c.transaction()?;
            let mut teams = Vec::new();
            let mut tokens = Vec::new();
            for id in &team_ids {
                tokens.extend(archive_keys(
                    &tx,
                    "WHERE team_id = ?1",
                    id,
                    &deleted_by,
                    now,
                    false,
                )?);
                if tx.execute("DELETE FROM \"LiteLLM_TeamTable\" WHERE team_id = ?1", [id])? > 0 {
                    teams.push(id.clone());
                }
            }
            tx.commit()?;
            Ok((teams, tokens))
        })
    }

    fn list_teams(&self) -> StoreFuture<'_, Vec<TeamRow>> {
        self.read(|c| {
            let mut stmt = c.prepare(&select_teams("ORDER BY team_alias, team_id"))?;
            let rows = stmt.query_map([], team_from_row)?;
            rows.collect()
        })
    }

    fn insert_end_user(&self, row: EndUserRow) -> StoreFuture<'_, ()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            if let Some(b) = &row.budget {
                upsert_budget(&tx, b)?;
            }
            tx.execute(
                "INSERT INTO \"LiteLLM_EndUserTable\" (user_id, alias, spend,
                    allowed_model_region, default_model, models, budget_id, blocked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params_from_iter([
                    Sql::Text(row.user_id.clone()),
                    Lite::text(row.alias.as_deref()),
                    Sql::Real(row.spend),
                    Lite::text(row.allowed_model_region.as_deref()),
                    Lite::text(row.default_model.as_deref()),
                    json(&row.models),
                    Lite::text(row.budget_id.as_deref()),
                    Sql::Integer(i64::from(row.blocked)),
                ]),
            )?;
            tx.commit()
        })
    }

    fn get_end_user(&self, user_id: String) -> StoreFuture<'_, Option<EndUserRow>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached(&tables::select_end_users(LITE, "WHERE e.user_id = ?1"))?;
            let mut rows = stmt.query_map([user_id], end_user_from_row)?;
            rows.next().transpose()
        })
    }

    fn update_end_user(&self, row: EndUserRow) -> StoreFuture<'_, bool> {
        self.write(move |c| {
            let tx = c.transaction()?;
            if let Some(b) = &row.budget {
                upsert_budget(&tx, b)?;
            }
            let changed = tx.execute(
                "UPDATE \"LiteLLM_EndUserTable\" SET alias = ?2, allowed_model_region = ?3,
                    default_model = ?4, models = ?5, budget_id = ?6, blocked = ?7
                 WHERE user_id = ?1",
                params_from_iter([
                    Sql::Text(row.user_id.clone()),
                    Lite::text(row.alias.as_deref()),
                    Lite::text(row.allowed_model_region.as_deref()),
                    Lite::text(row.default_model.as_deref()),
                    json(&row.models),
                    Lite::text(row.budget_id.as_deref()),
                    Sql::Integer(i64::from(row.blocked)),
                ]),
            )?;
            tx.commit()?;
            Ok(changed > 0)
        })
    }

    fn delete_end_users(&self, user_ids: Vec<String>) -> StoreFuture<'_, u64> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut n = 0u64;
            for id in &user_ids {
                n += tx.execute(
                    "DELETE FROM \"LiteLLM_EndUserTable\" WHERE user_id = ?1",
                    [id],
                )? as u64;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn list_end_users(&self, restricted_only: bool) -> StoreFuture<'_, Vec<EndUserRow>> {
        self.read(move |c| {
            let filter = if restricted_only {
                "WHERE e.blocked = 1 OR e.models != '[]' OR e.budget_id IS NOT NULL"
            } else {
                ""
            };
            let mut stmt = c.prepare(&tables::select_end_users(
                LITE,
                &format!("{filter} ORDER BY e.user_id"),
            ))?;
            let rows = stmt.query_map([], end_user_from_row)?;
            rows.collect()
        })
    }

    fn due_resets(&self, now: Micros) -> StoreFuture<'_, Vec<BudgetReset>> {
        self.read(move |c| {
            let mut out = Vec::new();
            for (owner, table, id) in [
                (BudgetOwner::Key, "LiteLLM_VerificationToken", "token"),
                (BudgetOwner::Team, "LiteLLM_TeamTable", "team_id"),
                (BudgetOwner::Budget, "LiteLLM_BudgetTable", "budget_id"),
            ] {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {id}, budget_duration, budget_reset_at FROM \"{table}\"
                     WHERE budget_duration IS NOT NULL AND budget_reset_at IS NOT NULL
                       AND budget_reset_at <= ?1"
                ))?;
                let rows = stmt.query_map([now], |r| {
                    Ok(BudgetReset {
                        owner,
                        id: r.get(0)?,
                        budget_duration: r.get(1)?,
                        reset_at: r.get(2)?,
                        next_reset_at: 0,
                    })
                })?;
                for r in rows {
                    out.push(r?);
                }
            }
            Ok(out)
        })
    }

    fn apply_resets(&self, resets: Vec<BudgetReset>) -> StoreFuture<'_, u64> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut applied = 0u64;
            for r in &resets {
                let params = rusqlite::params![r.id, r.reset_at, r.next_reset_at];
                let n = match r.owner {
                    BudgetOwner::Key => tx.execute(
                        "UPDATE \"LiteLLM_VerificationToken\" SET spend = 0, budget_reset_at = ?3
                         WHERE token = ?1 AND budget_reset_at = ?2",
                        params,
                    )?,
                    BudgetOwner::Team => tx.execute(
                        "UPDATE \"LiteLLM_TeamTable\" SET spend = 0, budget_reset_at = ?3
                         WHERE team_id = ?1 AND budget_reset_at = ?2",
                        params,
                    )?,
                    BudgetOwner::Budget => {
                        let n = tx.execute(
                            "UPDATE \"LiteLLM_BudgetTable\" SET budget_reset_at = ?3
                             WHERE budget_id = ?1 AND budget_reset_at = ?2",
                            params,
                        )?;
                        if n > 0 {
                            tx.execute(
                                "UPDATE \"LiteLLM_EndUserTable\" SET spend = 0 WHERE budget_id = ?1",
                                [&r.id],
                            )?;
                        }
                        n
                    }
                };
                applied += n as u64;
            }
            tx.commit()?;
            Ok(applied)
        })
    }

    fn write_spend(&self, batch: SpendBatch) -> StoreFuture<'_, ()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO \"LiteLLM_SpendLogs\" {}",
                    tables::values_clause(LITE, LOG_COLUMNS)
                ))?;
                for l in &batch.logs {
                    insert.execute(params_from_iter(log_values(l)))?;
                }
                let mut key = tx.prepare_cached(
                    "UPDATE \"LiteLLM_VerificationToken\" SET spend = spend + ?2 WHERE token = ?1",
                )?;
                for (token, cost) in &batch.increments.keys {
                    key.execute(rusqlite::params![token, cost])?;
                }
                let mut team = tx.prepare_cached(
                    "UPDATE \"LiteLLM_TeamTable\" SET spend = spend + ?2 WHERE team_id = ?1",
                )?;
                for (id, cost) in &batch.increments.teams {
                    team.execute(rusqlite::params![id, cost])?;
                }
                let mut end_user = tx.prepare_cached(
                    "INSERT INTO \"LiteLLM_EndUserTable\" (user_id, spend) VALUES (?1, ?2)
                     ON CONFLICT(user_id) DO UPDATE SET spend = spend + excluded.spend",
                )?;
                for (id, cost) in &batch.increments.end_users {
                    end_user.execute(rusqlite::params![id, cost])?;
                }
            }
            tx.commit()
        })
    }

    fn spend_logs(&self, query: SpendLogQuery) -> StoreFuture<'_, Vec<SpendLogRow>> {
        self.read(move |c| {
            let (where_sql, values) = spend_filter(&query);
            let limit = if query.limit == 0 {
                -1
            } else {
                query.limit as i64
            };
            let mut stmt = c.prepare(&format!(
                "SELECT {} FROM \"LiteLLM_SpendLogs\" sl{where_sql}
                 ORDER BY sl.\"startTime\" DESC, sl.request_id DESC LIMIT {limit}",
                tables::qualified("sl", LOG_COLUMNS)
            ))?;
            let rows = stmt.query_map(params_from_iter(values), log_from_row)?;
            rows.collect()
        })
    }

    fn spend_totals(&self, query: SpendTotalsQuery) -> StoreFuture<'_, Vec<SpendTotalsRow>> {
        self.read(move |c| {
            let (where_sql, values) = spend_filter(&query.filter);
            let dims: Vec<&str> = query.group_by.iter().map(|d| LITE.dimension(*d)).collect();
            let mut joins = String::new();
            if query.group_by.contains(&SpendDimension::TeamName) {
                joins.push_str(" LEFT JOIN \"LiteLLM_TeamTable\" tt ON tt.team_id = sl.team_id");
            }
            if query.group_by.contains(&SpendDimension::Tag) {
                joins.push_str(" LEFT JOIN json_each(sl.request_tags) tag");
            }
            let select_dims: Vec<String> =
                dims.iter().map(|d| format!("CAST({d} AS TEXT)")).collect();
            let group = if dims.is_empty() {
                String::new()
            } else {
                let n: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
                format!(" GROUP BY {0} ORDER BY {0}", n.join(", "))
            };
            let sql = format!(
                "SELECT {}{}SUM(sl.spend), SUM(sl.prompt_tokens), SUM(sl.completion_tokens),
                        SUM(sl.total_tokens), COUNT(*)
                 FROM \"LiteLLM_SpendLogs\" sl{joins}{where_sql}{group}",
                select_dims.join(", "),
                if dims.is_empty() { "" } else { ", " },
            );
            let n = dims.len();
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(values), |r| {
                let mut keys = Vec::with_capacity(n);
                for i in 0..n {
                    keys.push(r.get::<_, Option<String>>(i)?);
                }
                Ok(SpendTotalsRow {
                    keys,
                    spend: r.get::<_, Option<f64>>(n)?.unwrap_or(0.0),
                    prompt_tokens: r.get::<_, Option<i64>>(n + 1)?.unwrap_or(0),
                    completion_tokens: r.get::<_, Option<i64>>(n + 2)?.unwrap_or(0),
                    total_tokens: r.get::<_, Option<i64>>(n + 3)?.unwrap_or(0),
                    requests: r.get(n + 4)?,
                })
            })?;
            let mut out: Vec<SpendTotalsRow> = rows.collect::<rusqlite::Result<_>>()?;
            // Without any row, SUM over nothing is one all-null row: no groups.
            if n == 0 && out.first().is_some_and(|r| r.requests == 0) {
                out.clear();
            }
            Ok(out)
        })
    }

    fn delete_spend_logs_before(&self, cutoff: Micros, limit: u64) -> StoreFuture<'_, u64> {
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM \"LiteLLM_SpendLogs\" WHERE rowid IN
                    (SELECT rowid FROM \"LiteLLM_SpendLogs\" WHERE \"startTime\" < ?1 LIMIT ?2)",
                rusqlite::params![cutoff, i64::try_from(limit).unwrap_or(i64::MAX)],
            )?;
            Ok(n as u64)
        })
    }
}
