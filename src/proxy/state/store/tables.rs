//! LiteLLM's tables as both backends read and write them: the column lists and the
//! statements built from them, once. The backends differ only in their placeholders
//! ([`Dialect`]) and in how a value is encoded and decoded, which stays in each backend's
//! row mappings (`key_values` / `key_from_row`, ...): those follow the order of the lists
//! here, index for index.

use super::{SpendDimension, SpendLogQuery};
use crate::spend::clock::Micros;

/// Which SQL the statements are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `$1`, booleans are booleans.
    Postgres,
    /// `?1`, booleans are integers.
    Sqlite,
}

impl Dialect {
    /// The `i`th parameter (from 1).
    pub fn param(self, i: usize) -> String {
        match self {
            Dialect::Postgres => format!("${i}"),
            Dialect::Sqlite => format!("?{i}"),
        }
    }

    /// `n` parameters from the `from`th, comma-separated.
    pub fn placeholders(self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| self.param(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The JSON text of the `user_api_key_alias` in a spend log's metadata.
    fn key_alias(self) -> &'static str {
        match self {
            Dialect::Postgres => "sl.metadata->>'user_api_key_alias'",
            Dialect::Sqlite => "json_extract(sl.metadata, '$.user_api_key_alias')",
        }
    }

    /// The expression a spend total is grouped by (`tt` is the log's team, `tag` one of its
    /// tags).
    pub fn dimension(self, d: SpendDimension) -> &'static str {
        match d {
            SpendDimension::Day => match self {
                Dialect::Postgres => "to_char(sl.\"startTime\", 'YYYY-MM-DD')",
                Dialect::Sqlite => "strftime('%Y-%m-%d', sl.\"startTime\" / 1000000, 'unixepoch')",
            },
            SpendDimension::ApiKey => "sl.api_key",
            SpendDimension::KeyAlias => self.key_alias(),
            SpendDimension::Model => "sl.model",
            SpendDimension::ModelGroup => "sl.model_group",
            SpendDimension::TeamId => "sl.team_id",
            SpendDimension::TeamName => "COALESCE(tt.team_alias, 'Unassigned Team')",
            SpendDimension::User => "sl.\"user\"",
            SpendDimension::EndUser => "sl.end_user",
            SpendDimension::Tag => "tag.value",
        }
    }

    /// The `i`th parameter, a boolean, as a condition.
    fn is_true(self, i: usize) -> String {
        match self {
            Dialect::Postgres => format!("${i}"),
            Dialect::Sqlite => format!("?{i} = 1"),
        }
    }
}

/// `LiteLLM_VerificationToken` (and `LiteLLM_DeletedVerificationToken`, which adds
/// `deleted_at` and `deleted_by`).
pub const KEY_COLUMNS: &[&str] = &[
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

/// `LiteLLM_TeamTable`.
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

/// `LiteLLM_BudgetTable`.
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

/// `LiteLLM_EndUserTable`.
pub const END_USER_COLUMNS: &[&str] = &[
    "user_id",
    "alias",
    "spend",
    "allowed_model_region",
    "default_model",
    "models",
    "budget_id",
    "blocked",
];

/// `LiteLLM_SpendLogs` (quoted where LiteLLM's names are camel case or reserved).
pub const LOG_COLUMNS: &[&str] = &[
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

/// `alias.a, alias.b, ...`.
pub fn qualified(alias: &str, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(a, b, ...) VALUES ($1, $2, ...)`: what follows `INSERT INTO table`.
pub fn values_clause(dialect: Dialect, columns: &[&str]) -> String {
    format!(
        "({}) VALUES ({})",
        columns.join(", "),
        dialect.placeholders(1, columns.len())
    )
}

/// `UPDATE table SET` the columns from the `first`th on, each from its parameter (the
/// column's index + 1), `spend` only if the boolean parameter after the columns is true.
fn update_with_spend(
    dialect: Dialect,
    table: &str,
    columns: &[&str],
    first: usize,
    where_sql: &str,
) -> String {
    let flag = dialect.is_true(columns.len() + 1);
    let sets: Vec<String> = columns
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, c)| {
            let p = dialect.param(i + 1);
            if *c == "spend" {
                format!("spend = CASE WHEN {flag} THEN {p} ELSE spend END")
            } else {
                format!("{c} = {p}")
            }
        })
        .collect();
    format!("UPDATE {table} SET {} {where_sql}", sets.join(", "))
}

pub fn select_keys(where_sql: &str) -> String {
    format!(
        "SELECT {} FROM \"LiteLLM_VerificationToken\" {where_sql}",
        KEY_COLUMNS.join(", ")
    )
}

/// `UPDATE` every key column from the key's values (parameters 1 to 30) where the token is
/// parameter 32; spend only if parameter 31.
pub fn update_key(dialect: Dialect) -> String {
    let token = dialect.param(KEY_COLUMNS.len() + 2);
    update_with_spend(
        dialect,
        "\"LiteLLM_VerificationToken\"",
        KEY_COLUMNS,
        0,
        &format!("WHERE token = {token}"),
    )
}

pub fn select_teams(where_sql: &str) -> String {
    format!(
        "SELECT {} FROM \"LiteLLM_TeamTable\" {where_sql}",
        TEAM_COLUMNS.join(", ")
    )
}

/// `UPDATE` every team column but the id from the team's values where the id is parameter
/// 1; spend only if the parameter after the values.
pub fn update_team(dialect: Dialect) -> String {
    let id = dialect.param(1);
    update_with_spend(
        dialect,
        "\"LiteLLM_TeamTable\"",
        TEAM_COLUMNS,
        1,
        &format!("WHERE team_id = {id}"),
    )
}

/// Insert a budget's values, or update all but its id and creation.
pub fn upsert_budget(dialect: Dialect) -> String {
    let sets: Vec<String> = BUDGET_COLUMNS
        .iter()
        .skip(1)
        .filter(|c| !matches!(**c, "created_at" | "created_by"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO \"LiteLLM_BudgetTable\" {}
         ON CONFLICT (budget_id) DO UPDATE SET {}",
        values_clause(dialect, BUDGET_COLUMNS),
        sets.join(", ")
    )
}

/// End-user columns, then the budget's (all null without one).
pub fn select_end_users(dialect: Dialect, where_sql: &str) -> String {
    let end_user: Vec<String> = END_USER_COLUMNS
        .iter()
        .map(|c| match (dialect, *c) {
            // An enum type in LiteLLM's schema.
            (Dialect::Postgres, "allowed_model_region") => format!("e.{c}::text"),
            _ => format!("e.{c}"),
        })
        .collect();
    format!(
        "SELECT {}, {}
         FROM \"LiteLLM_EndUserTable\" e
         LEFT JOIN \"LiteLLM_BudgetTable\" b ON b.budget_id = e.budget_id {where_sql}",
        end_user.join(", "),
        qualified("b", BUDGET_COLUMNS)
    )
}

/// ` WHERE ...` for a spend query on `"LiteLLM_SpendLogs" sl`, and its parameters: text as
/// `text` encodes it, times as `time` does.
pub fn spend_filter<V>(
    dialect: Dialect,
    q: &SpendLogQuery,
    text: impl Fn(&str) -> V,
    time: impl Fn(Micros) -> V,
) -> (String, Vec<V>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<V> = Vec::new();
    // Every `?` of a clause is the one parameter it adds.
    let mut add = |clause: &str, v: V| {
        values.push(v);
        clauses.push(clause.replace('?', &dialect.param(values.len())));
    };
    let key_alias = format!("{} = ?", dialect.key_alias());
    let tag = match dialect {
        Dialect::Postgres => "sl.request_tags @> jsonb_build_array(?::text)",
        Dialect::Sqlite => {
            "EXISTS (SELECT 1 FROM json_each(sl.request_tags) WHERE json_each.value = ?)"
        }
    };
    for (clause, v) in [
        ("sl.api_key = ?", &q.api_key),
        (key_alias.as_str(), &q.key_alias),
        ("sl.request_id = ?", &q.request_id),
        ("sl.\"user\" = ?", &q.user),
        ("sl.end_user = ?", &q.end_user),
        ("sl.team_id = ?", &q.team_id),
        ("(sl.model = ? OR sl.model_group = ?)", &q.model),
        (tag, &q.tag),
    ] {
        if let Some(v) = v {
            add(clause, text(v));
        }
    }
    if let Some(v) = q.start {
        add("sl.\"startTime\" >= ?", time(v));
    }
    if let Some(v) = q.end {
        add("sl.\"startTime\" < ?", time(v));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_per_dialect() {
        assert_eq!(Dialect::Postgres.placeholders(2, 3), "$2, $3, $4");
        assert_eq!(Dialect::Sqlite.placeholders(1, 2), "?1, ?2");
        let pg = update_key(Dialect::Postgres);
        assert!(pg.starts_with("UPDATE \"LiteLLM_VerificationToken\" SET token = $1, "));
        assert!(pg.contains("spend = CASE WHEN $31 THEN $4 ELSE spend END"));
        assert!(pg.ends_with("WHERE token = $32"));
        let lite = update_team(Dialect::Sqlite);
        assert!(lite.starts_with("UPDATE \"LiteLLM_TeamTable\" SET team_alias = ?2, "));
        assert!(lite.contains("spend = CASE WHEN ?22 = 1 THEN ?10 ELSE spend END"));
        assert!(lite.ends_with("WHERE team_id = ?1"));
        assert!(select_end_users(Dialect::Postgres, "").contains("e.allowed_model_region::text"));
        assert!(!select_end_users(Dialect::Sqlite, "").contains("::text"));
    }

    #[test]
    fn spend_filters_number_their_parameters() {
        let q = SpendLogQuery {
            key_alias: Some("a".into()),
            model: Some("m".into()),
            tag: Some("t".into()),
            start: Some(5),
            ..Default::default()
        };
        let (sql, values) = spend_filter(Dialect::Sqlite, &q, str::to_owned, |t| t.to_string());
        assert_eq!(
            sql,
            " WHERE json_extract(sl.metadata, '$.user_api_key_alias') = ?1 AND (sl.model = ?2 OR sl.model_group = ?2) AND EXISTS (SELECT 1 FROM json_each(sl.request_tags) WHERE json_each.value = ?3) AND sl.\"startTime\" >= ?4"
        );
        assert_eq!(values, ["a", "m", "t", "5"]);
        let (sql, _) = spend_filter(Dialect::Postgres, &q, str::to_owned, |t| t.to_string());
        assert!(sql.contains("(sl.model = $2 OR sl.model_group = $2)"), "{sql}");
        assert!(sql.contains("jsonb_build_array($3::text)"), "{sql}");
    }
}
