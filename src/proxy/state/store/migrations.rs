//! The SQLite schema, as versioned migrations applied at open.
//!
//! Tables and columns mirror LiteLLM's Prisma schema (1.106.2) where the gateway uses
//! them; SQLite types: datetimes are INTEGER microseconds since the epoch (UTC), arrays
//! and JSON are TEXT holding JSON, booleans INTEGER 0/1. Each migration runs once, in its
//! own `BEGIN IMMEDIATE` transaction together with its row in `llmswitch_migrations`, so
//! several processes opening one file at once apply it once. Never edit a released
//! migration: add one.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::spend::clock;

/// `(version, name, SQL)`, in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "litellm_tables", V1)];

const V1: &str = r#"
CREATE TABLE "LiteLLM_BudgetTable" (
    budget_id TEXT PRIMARY KEY,
    max_budget REAL,
    soft_budget REAL,
    max_parallel_requests INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    model_max_budget TEXT,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX "LiteLLM_BudgetTable_budget_reset_at" ON "LiteLLM_BudgetTable"(budget_reset_at);

CREATE TABLE "LiteLLM_TeamTable" (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    organization_id TEXT,
    admins TEXT NOT NULL DEFAULT '[]',
    members TEXT NOT NULL DEFAULT '[]',
    members_with_roles TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    max_budget REAL,
    soft_budget REAL,
    spend REAL NOT NULL DEFAULT 0.0,
    models TEXT NOT NULL DEFAULT '[]',
    max_parallel_requests INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    blocked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX "LiteLLM_TeamTable_team_alias" ON "LiteLLM_TeamTable"(team_alias);
CREATE INDEX "LiteLLM_TeamTable_budget_reset_at" ON "LiteLLM_TeamTable"(budget_reset_at);

CREATE TABLE "LiteLLM_VerificationToken" (
    token TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT,
    spend REAL NOT NULL DEFAULT 0.0,
    expires INTEGER,
    models TEXT NOT NULL DEFAULT '[]',
    aliases TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions TEXT NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    blocked INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    allowed_cache_controls TEXT NOT NULL DEFAULT '[]',
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}',
    budget_id TEXT,
    organization_id TEXT,
    created_at INTEGER,
    created_by TEXT,
    updated_at INTEGER,
    updated_by TEXT,
    rotation_count INTEGER NOT NULL DEFAULT 0,
    last_rotation_at INTEGER
);
CREATE INDEX "LiteLLM_VerificationToken_user_id_team_id" ON "LiteLLM_VerificationToken"(user_id, team_id);
CREATE INDEX "LiteLLM_VerificationToken_team_id" ON "LiteLLM_VerificationToken"(team_id);
CREATE INDEX "LiteLLM_VerificationToken_key_alias" ON "LiteLLM_VerificationToken"(key_alias);
CREATE INDEX "LiteLLM_VerificationToken_budget_reset_at_expires" ON "LiteLLM_VerificationToken"(budget_reset_at, expires);
CREATE INDEX "LiteLLM_VerificationToken_created_at" ON "LiteLLM_VerificationToken"(created_at);

CREATE TABLE "LiteLLM_DeletedVerificationToken" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL,
    key_name TEXT,
    key_alias TEXT,
    spend REAL NOT NULL DEFAULT 0.0,
    expires INTEGER,
    models TEXT NOT NULL DEFAULT '[]',
    aliases TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions TEXT NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    blocked INTEGER,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at INTEGER,
    allowed_cache_controls TEXT NOT NULL DEFAULT '[]',
    model_spend TEXT NOT NULL DEFAULT '{}',
    model_max_budget TEXT NOT NULL DEFAULT '{}',
    budget_id TEXT,
    organization_id TEXT,
    created_at INTEGER,
    created_by TEXT,
    updated_at INTEGER,
    updated_by TEXT,
    rotation_count INTEGER NOT NULL DEFAULT 0,
    last_rotation_at INTEGER,
    deleted_at INTEGER NOT NULL,
    deleted_by TEXT
);
CREATE INDEX "LiteLLM_DeletedVerificationToken_token" ON "LiteLLM_DeletedVerificationToken"(token);

CREATE TABLE "LiteLLM_EndUserTable" (
    user_id TEXT PRIMARY KEY,
    alias TEXT,
    spend REAL NOT NULL DEFAULT 0.0,
    allowed_model_region TEXT,
    default_model TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    budget_id TEXT REFERENCES "LiteLLM_BudgetTable"(budget_id),
    blocked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX "LiteLLM_EndUserTable_budget_id" ON "LiteLLM_EndUserTable"(budget_id);

CREATE TABLE "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY,
    call_type TEXT NOT NULL,
    api_key TEXT NOT NULL DEFAULT '',
    spend REAL NOT NULL DEFAULT 0.0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" INTEGER NOT NULL,
    "endTime" INTEGER NOT NULL,
    request_duration_ms INTEGER,
    "completionStartTime" INTEGER,
    model TEXT NOT NULL DEFAULT '',
    model_id TEXT DEFAULT '',
    model_group TEXT DEFAULT '',
    custom_llm_provider TEXT DEFAULT '',
    api_base TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    metadata TEXT DEFAULT '{}',
    cache_hit TEXT DEFAULT '',
    cache_key TEXT DEFAULT '',
    request_tags TEXT DEFAULT '[]',
    team_id TEXT,
    organization_id TEXT,
    end_user TEXT,
    status TEXT
);
CREATE INDEX "LiteLLM_SpendLogs_startTime" ON "LiteLLM_SpendLogs"("startTime");
CREATE INDEX "LiteLLM_SpendLogs_api_key_startTime" ON "LiteLLM_SpendLogs"(api_key, "startTime");
CREATE INDEX "LiteLLM_SpendLogs_end_user" ON "LiteLLM_SpendLogs"(end_user);
CREATE INDEX "LiteLLM_SpendLogs_team_id_startTime" ON "LiteLLM_SpendLogs"(team_id, "startTime");
"#;

/// Apply every migration the database lacks. Returns the versions applied.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS llmswitch_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM llmswitch_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO llmswitch_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, clock::now()],
            )?;
            applied.push(*version);
        }
        tx.commit()?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![1]);
        assert!(migrate(&mut conn).unwrap().is_empty());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'LiteLLM_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 6);
    }
}
