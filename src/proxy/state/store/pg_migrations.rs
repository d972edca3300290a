//! The PostgreSQL schema: LiteLLM's own tables and column types (Prisma's mapping of
//! LiteLLM 1.106.2's `schema.prisma`: `TEXT`, `DOUBLE PRECISION`, `TIMESTAMP`, `JSONB`,
//! `TEXT[]`, `BIGINT` limits), so a database created by LiteLLM's proxy is used as is and
//! a database created here can be read by LiteLLM.
//!
//! Every statement is `IF NOT EXISTS`: on a LiteLLM database the tables are already there
//! (with more columns than the gateway uses) and nothing is changed; on an empty database
//! the gateway's columns are created. Then [`REQUIRED_COLUMNS`] are checked, so an old
//! LiteLLM database missing one fails at start with the column's name instead of at the
//! first request. Timestamps are `TIMESTAMP(6)` here (Prisma's are `TIMESTAMP(3)`: both are
//! the same type; LiteLLM's hold milliseconds, UTC).
//!
//! Migrations are versioned in `llmswitch_migrations` and applied in one transaction that
//! first takes a transaction-scoped advisory lock ([`MIGRATION_LOCK`]): replicas starting
//! at once apply each migration once, the others wait and find it applied. Never edit a
//! released migration: add one.

use super::tables;

/// `pg_advisory_xact_lock` key of the migrations ("llmswitch" in ASCII, truncated).
pub const MIGRATION_LOCK: i64 = 0x6c6c_6d73_7769_7463;

/// `(version, name, SQL)`, in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "litellm_tables", V1)];

const V1: &str = r#"
CREATE TABLE IF NOT EXISTS "LiteLLM_BudgetTable" (
    budget_id TEXT PRIMARY KEY,
    max_budget DOUBLE PRECISION,
    soft_budget DOUBLE PRECISION,
    max_parallel_requests INTEGER,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    model_max_budget JSONB,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(6),
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS "LiteLLM_TeamTable" (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    organization_id TEXT,
    admins TEXT[],
    members TEXT[],
    members_with_roles JSONB NOT NULL DEFAULT '{}',
    metadata JSONB NOT NULL DEFAULT '{}',
    max_budget DOUBLE PRECISION,
    soft_budget DOUBLE PRECISION,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    models TEXT[],
    max_parallel_requests INTEGER,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(6),
    blocked BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS "LiteLLM_TeamTable_team_alias_idx" ON "LiteLLM_TeamTable"(team_alias);

CREATE TABLE IF NOT EXISTS "LiteLLM_VerificationToken" (
    token TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    expires TIMESTAMP(6),
    models TEXT[],
    aliases JSONB NOT NULL DEFAULT '{}',
    config JSONB NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions JSONB NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata JSONB NOT NULL DEFAULT '{}',
    blocked BOOLEAN,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_budget DOUBLE PRECISION,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(6),
    allowed_cache_controls TEXT[] DEFAULT ARRAY[]::TEXT[],
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}',
    budget_id TEXT REFERENCES "LiteLLM_BudgetTable"(budget_id) ON DELETE SET NULL ON UPDATE CASCADE,
    organization_id TEXT,
    created_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP,
    created_by TEXT,
    updated_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP,
    updated_by TEXT,
    rotation_count INTEGER DEFAULT 0,
    last_rotation_at TIMESTAMP(6)
);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_user_id_team_id_idx" ON "LiteLLM_VerificationToken"(user_id, team_id);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_team_id_idx" ON "LiteLLM_VerificationToken"(team_id);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_budget_reset_at_expires_idx" ON "LiteLLM_VerificationToken"(budget_reset_at, expires);

CREATE TABLE IF NOT EXISTS "LiteLLM_DeletedVerificationToken" (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    key_name TEXT,
    key_alias TEXT,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    expires TIMESTAMP(6),
    models TEXT[],
    aliases JSONB NOT NULL DEFAULT '{}',
    config JSONB NOT NULL DEFAULT '{}',
    user_id TEXT,
    team_id TEXT,
    permissions JSONB NOT NULL DEFAULT '{}',
    max_parallel_requests INTEGER,
    metadata JSONB NOT NULL DEFAULT '{}',
    blocked BOOLEAN,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_budget DOUBLE PRECISION,
    budget_duration TEXT,
    budget_reset_at TIMESTAMP(6),
    allowed_cache_controls TEXT[] DEFAULT ARRAY[]::TEXT[],
    model_spend JSONB NOT NULL DEFAULT '{}',
    model_max_budget JSONB NOT NULL DEFAULT '{}',
    budget_id TEXT,
    organization_id TEXT,
    created_at TIMESTAMP(6),
    created_by TEXT,
    updated_at TIMESTAMP(6),
    updated_by TEXT,
    rotation_count INTEGER DEFAULT 0,
    last_rotation_at TIMESTAMP(6),
    deleted_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_by TEXT
);
CREATE INDEX IF NOT EXISTS "LiteLLM_DeletedVerificationToken_token_idx" ON "LiteLLM_DeletedVerificationToken"(token);

CREATE TABLE IF NOT EXISTS "LiteLLM_EndUserTable" (
    user_id TEXT PRIMARY KEY,
    alias TEXT,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    allowed_model_region TEXT,
    default_model TEXT,
    models TEXT[] DEFAULT ARRAY[]::TEXT[],
    budget_id TEXT REFERENCES "LiteLLM_BudgetTable"(budget_id) ON DELETE SET NULL ON UPDATE CASCADE,
    blocked BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY,
    call_type TEXT NOT NULL,
    api_key TEXT NOT NULL DEFAULT '',
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(6) NOT NULL,
    "endTime" TIMESTAMP(6) NOT NULL,
    request_duration_ms INTEGER,
    "completionStartTime" TIMESTAMP(6),
    model TEXT NOT NULL DEFAULT '',
    model_id TEXT DEFAULT '',
    model_group TEXT DEFAULT '',
    custom_llm_provider TEXT DEFAULT '',
    api_base TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    metadata JSONB DEFAULT '{}',
    cache_hit TEXT DEFAULT '',
    cache_key TEXT DEFAULT '',
    request_tags JSONB DEFAULT '[]',
    team_id TEXT,
    organization_id TEXT,
    end_user TEXT,
    status TEXT,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs"("startTime");
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs"(end_user);
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_api_key_startTime_idx" ON "LiteLLM_SpendLogs"(api_key, "startTime");
"#;

/// Columns the gateway reads or writes, per table: checked after the migrations.
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    ("LiteLLM_VerificationToken", tables::KEY_COLUMNS),
    ("LiteLLM_DeletedVerificationToken", tables::KEY_COLUMNS),
    ("LiteLLM_TeamTable", tables::TEAM_COLUMNS),
    ("LiteLLM_BudgetTable", tables::BUDGET_COLUMNS),
    ("LiteLLM_EndUserTable", tables::END_USER_COLUMNS),
    ("LiteLLM_SpendLogs", tables::LOG_COLUMNS),
];
