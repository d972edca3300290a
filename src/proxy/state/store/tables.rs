//! LiteLLM's tables as both backends read and write them: the column lists, the statements
//! built from them, and the row mappings (`key_values` / `key_from`, ...: index for index
//! in the lists' order), once. The backends differ only in their placeholders and a few
//! expressions ([`Dialect`]) and in how each kind of value is stored ([`Encode`],
//! [`Cells`]: `TEXT[]`, `JSONB` and `TIMESTAMP` in PostgreSQL, JSON text and integer
//! microseconds in SQLite).

use serde_json::Value;

use super::{
    BudgetRow, DeletedKeyRow, EndUserRow, JsonObject, KeyRow, SpendDimension, SpendLogQuery,
    SpendLogRow, TeamRow,
};
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

// ---------------------------------------------------------------- rows

/// How a backend stores each kind of value LiteLLM's columns hold.
pub trait Encode {
    type Value;
    fn text(v: Option<&str>) -> Self::Value;
    fn real(v: Option<f64>) -> Self::Value;
    /// `BIGINT`.
    fn bigint(v: Option<i64>) -> Self::Value;
    /// `INTEGER`.
    fn int(v: Option<i64>) -> Self::Value;
    fn time(v: Option<Micros>) -> Self::Value;
    fn flag(v: Option<bool>) -> Self::Value;
    /// `TEXT[]`.
    fn list(v: &[String]) -> Self::Value;
    /// `JSONB`.
    fn json(v: Option<Value>) -> Self::Value;
}

/// How a backend reads them back from a row, by column index (null: `None`).
pub trait Cells {
    type Error;
    fn text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn real(&self, i: usize) -> Result<Option<f64>, Self::Error>;
    fn bigint(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn time(&self, i: usize) -> Result<Option<Micros>, Self::Error>;
    fn flag(&self, i: usize) -> Result<Option<bool>, Self::Error>;
    /// A list (null: empty).
    fn list(&self, i: usize) -> Result<Vec<String>, Self::Error>;
    /// JSON (null, or text that is not JSON: `None`).
    fn json(&self, i: usize) -> Result<Option<Value>, Self::Error>;

    /// A JSON object (anything else: empty).
    fn object(&self, i: usize) -> Result<JsonObject, Self::Error> {
        Ok(match self.json(i)? {
            Some(Value::Object(o)) => o,
            _ => JsonObject::new(),
        })
    }

    /// A JSON array (anything else: empty).
    fn array(&self, i: usize) -> Result<Vec<Value>, Self::Error> {
        Ok(match self.json(i)? {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        })
    }
}

fn object<E: Encode>(o: &JsonObject) -> E::Value {
    E::json(Some(Value::Object(o.clone())))
}

/// A key's values, in [`KEY_COLUMNS`]' order.
pub fn key_values<E: Encode>(k: &KeyRow) -> Vec<E::Value> {
    vec![
        E::text(Some(&k.token)),
        E::text(k.key_name.as_deref()),
        E::text(k.key_alias.as_deref()),
        E::real(Some(k.spend)),
        E::time(k.expires),
        E::list(&k.models),
        object::<E>(&k.aliases),
        object::<E>(&k.config),
        E::text(k.user_id.as_deref()),
        E::text(k.team_id.as_deref()),
        object::<E>(&k.permissions),
        E::int(k.max_parallel_requests),
        object::<E>(&k.metadata),
        E::flag(k.blocked),
        E::bigint(k.tpm_limit),
        E::bigint(k.rpm_limit),
        E::real(k.max_budget),
        E::text(k.budget_duration.as_deref()),
        E::time(k.budget_reset_at),
        E::list(&k.allowed_cache_controls),
        object::<E>(&k.model_spend),
        object::<E>(&k.model_max_budget),
        E::text(k.budget_id.as_deref()),
        E::text(k.organization_id.as_deref()),
        E::time(k.created_at),
        E::text(k.created_by.as_deref()),
        E::time(k.updated_at),
        E::text(k.updated_by.as_deref()),
        E::int(Some(k.rotation_count)),
        E::time(k.last_rotation_at),
    ]
}

/// A key from a row of [`KEY_COLUMNS`].
pub fn key_from<C: Cells>(r: &C) -> Result<KeyRow, C::Error> {
    Ok(KeyRow {
        token: r.text(0)?.unwrap_or_default(),
        key_name: r.text(1)?,
        key_alias: r.text(2)?,
        spend: r.real(3)?.unwrap_or(0.0),
        expires: r.time(4)?,
        models: r.list(5)?,
        aliases: r.object(6)?,
        config: r.object(7)?,
        user_id: r.text(8)?,
        team_id: r.text(9)?,
        permissions: r.object(10)?,
        max_parallel_requests: r.int(11)?,
        metadata: r.object(12)?,
        blocked: r.flag(13)?,
        tpm_limit: r.bigint(14)?,
        rpm_limit: r.bigint(15)?,
        max_budget: r.real(16)?,
        budget_duration: r.text(17)?,
        budget_reset_at: r.time(18)?,
        allowed_cache_controls: r.list(19)?,
        model_spend: r.object(20)?,
        model_max_budget: r.object(21)?,
        budget_id: r.text(22)?,
        organization_id: r.text(23)?,
        created_at: r.time(24)?,
        created_by: r.text(25)?,
        updated_at: r.time(26)?,
        updated_by: r.text(27)?,
        rotation_count: r.int(28)?.unwrap_or(0),
        last_rotation_at: r.time(29)?,
    })
}

/// A deleted key from a row of [`KEY_COLUMNS`], `deleted_at`, `deleted_by`.
pub fn deleted_key_from<C: Cells>(r: &C) -> Result<DeletedKeyRow, C::Error> {
    let n = KEY_COLUMNS.len();
    Ok(DeletedKeyRow {
        key: key_from(r)?,
        deleted_at: r.time(n)?.unwrap_or(0),
        deleted_by: r.text(n + 1)?,
    })
}

/// A team's values, in [`TEAM_COLUMNS`]' order.
pub fn team_values<E: Encode>(t: &TeamRow) -> Vec<E::Value> {
    vec![
        E::text(Some(&t.team_id)),
        E::text(t.team_alias.as_deref()),
        E::text(t.organization_id.as_deref()),
        E::list(&t.admins),
        E::list(&t.members),
        E::json(Some(Value::Array(t.members_with_roles.clone()))),
        object::<E>(&t.metadata),
        E::real(t.max_budget),
        E::real(t.soft_budget),
        E::real(Some(t.spend)),
        E::list(&t.models),
        E::int(t.max_parallel_requests),
        E::bigint(t.tpm_limit),
        E::bigint(t.rpm_limit),
        E::text(t.budget_duration.as_deref()),
        E::time(t.budget_reset_at),
        E::flag(Some(t.blocked)),
        E::time(t.created_at),
        E::time(t.updated_at),
        object::<E>(&t.model_spend),
        object::<E>(&t.model_max_budget),
    ]
}

/// A team from a row of [`TEAM_COLUMNS`].
pub fn team_from<C: Cells>(r: &C) -> Result<TeamRow, C::Error> {
    Ok(TeamRow {
        team_id: r.text(0)?.unwrap_or_default(),
        team_alias: r.text(1)?,
        organization_id: r.text(2)?,
        admins: r.list(3)?,
        members: r.list(4)?,
        // LiteLLM's column defaults to `{}` though it holds a list.
        members_with_roles: r.array(5)?,
        metadata: r.object(6)?,
        max_budget: r.real(7)?,
        soft_budget: r.real(8)?,
        spend: r.real(9)?.unwrap_or(0.0),
        models: r.list(10)?,
        max_parallel_requests: r.int(11)?,
        tpm_limit: r.bigint(12)?,
        rpm_limit: r.bigint(13)?,
        budget_duration: r.text(14)?,
        budget_reset_at: r.time(15)?,
        blocked: r.flag(16)?.unwrap_or(false),
        created_at: r.time(17)?,
        updated_at: r.time(18)?,
        model_spend: r.object(19)?,
        model_max_budget: r.object(20)?,
    })
}

/// A budget's values, in [`BUDGET_COLUMNS`]' order.
pub fn budget_values<E: Encode>(b: &BudgetRow) -> Vec<E::Value> {
    vec![
        E::text(Some(&b.budget_id)),
        E::real(b.max_budget),
        E::real(b.soft_budget),
        E::int(b.max_parallel_requests),
        E::bigint(b.tpm_limit),
        E::bigint(b.rpm_limit),
        E::json(b.model_max_budget.clone().map(Value::Object)),
        E::text(b.budget_duration.as_deref()),
        E::time(b.budget_reset_at),
        E::time(Some(b.created_at)),
        E::text(Some(&b.created_by)),
        E::time(Some(b.updated_at)),
        E::text(Some(&b.updated_by)),
    ]
}

/// An end user from a row of [`select_end_users`]: [`END_USER_COLUMNS`], then the budget's
/// (all null without one).
pub fn end_user_from<C: Cells>(r: &C) -> Result<EndUserRow, C::Error> {
    let b = END_USER_COLUMNS.len();
    let budget = match r.text(b)? {
        Some(budget_id) => Some(BudgetRow {
            budget_id,
            max_budget: r.real(b + 1)?,
            soft_budget: r.real(b + 2)?,
            max_parallel_requests: r.int(b + 3)?,
            tpm_limit: r.bigint(b + 4)?,
            rpm_limit: r.bigint(b + 5)?,
            model_max_budget: match r.json(b + 6)? {
                Some(Value::Object(o)) => Some(o),
                _ => None,
            },
            budget_duration: r.text(b + 7)?,
            budget_reset_at: r.time(b + 8)?,
            created_at: r.time(b + 9)?.unwrap_or(0),
            created_by: r.text(b + 10)?.unwrap_or_default(),
            updated_at: r.time(b + 11)?.unwrap_or(0),
            updated_by: r.text(b + 12)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(EndUserRow {
        user_id: r.text(0)?.unwrap_or_default(),
        alias: r.text(1)?,
        spend: r.real(2)?.unwrap_or(0.0),
        allowed_model_region: r.text(3)?,
        default_model: r.text(4)?,
        models: r.list(5)?,
        budget_id: r.text(6)?,
        blocked: r.flag(7)?.unwrap_or(false),
        budget,
    })
}

/// A spend log row's values, in [`LOG_COLUMNS`]' order.
pub fn log_values<E: Encode>(l: &SpendLogRow) -> Vec<E::Value> {
    vec![
        E::text(Some(&l.request_id)),
        E::text(Some(&l.call_type)),
        E::text(Some(&l.api_key)),
        E::real(Some(l.spend)),
        E::int(Some(l.total_tokens)),
        E::int(Some(l.prompt_tokens)),
        E::int(Some(l.completion_tokens)),
        E::time(Some(l.start_time)),
        E::time(Some(l.end_time)),
        E::int(l.request_duration_ms),
        E::time(l.completion_start_time),
        E::text(Some(&l.model)),
        E::text(l.model_id.as_deref()),
        E::text(l.model_group.as_deref()),
        E::text(l.custom_llm_provider.as_deref()),
        E::text(l.api_base.as_deref()),
        E::text(l.user.as_deref()),
        object::<E>(&l.metadata),
        E::text(l.cache_hit.as_deref()),
        E::json(Some(Value::Array(
            l.request_tags.iter().cloned().map(Value::String).collect(),
        ))),
        E::text(l.team_id.as_deref()),
        E::text(l.end_user.as_deref()),
        E::text(l.status.as_deref()),
    ]
}

/// A spend log row from a row of [`LOG_COLUMNS`].
pub fn log_from<C: Cells>(r: &C) -> Result<SpendLogRow, C::Error> {
    Ok(SpendLogRow {
        request_id: r.text(0)?.unwrap_or_default(),
        call_type: r.text(1)?.unwrap_or_default(),
        api_key: r.text(2)?.unwrap_or_default(),
        spend: r.real(3)?.unwrap_or(0.0),
        total_tokens: r.int(4)?.unwrap_or(0),
        prompt_tokens: r.int(5)?.unwrap_or(0),
        completion_tokens: r.int(6)?.unwrap_or(0),
        start_time: r.time(7)?.unwrap_or(0),
        end_time: r.time(8)?.unwrap_or(0),
        request_duration_ms: r.int(9)?,
        completion_start_time: r.time(10)?,
        model: r.text(11)?.unwrap_or_default(),
        model_id: r.text(12)?,
        model_group: r.text(13)?,
        custom_llm_provider: r.text(14)?,
        api_base: r.text(15)?,
        user: r.text(16)?,
        metadata: r.object(17)?,
        cache_hit: r.text(18)?,
        request_tags: r
            .array(19)?
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        team_id: r.text(20)?,
        end_user: r.text(21)?,
        status: r.text(22)?,
    })
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
        assert!(
            sql.contains("(sl.model = $2 OR sl.model_group = $2)"),
            "{sql}"
        );
        assert!(sql.contains("jsonb_build_array($3::text)"), "{sql}");
    }
}
