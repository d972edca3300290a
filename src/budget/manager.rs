//! LiteLLM's `BudgetManager`: per-user budgets that the caller checks and updates itself
//! (`create_budget`, `update_cost`, `get_current_cost`, ...), kept in LiteLLM's
//! `user_cost.json` format, or in SQLite.
//!
//! Durations are LiteLLM's (`daily` = 1 day, `weekly` = 7, `monthly` = 28, `yearly` = 365)
//! or any fixed length llmswitch understands (`30d`, `12h`), stored in days as LiteLLM
//! stores them. A user's cost resets exactly every `duration` from `created_at`
//! (`last_updated_at` moves by whole durations, so resets do not drift), and is brought
//! up to date whenever the user's budget is read or updated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::period::Period;
use crate::spend::clock::{self, MICROS_PER_DAY};

const SECONDS_PER_DAY: f64 = 86_400.0;

/// One user's entry, as LiteLLM's `user_dict[user]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserBudget {
    pub total_budget: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_cost: Option<BTreeMap<String, f64>>,
    /// Days between resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<f64>,
    /// Unix seconds: the start of the current period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_at: Option<f64>,
    /// Fields written by other tools, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a manager keeps its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerStore {
    /// Nowhere (lost at exit).
    Memory,
    /// LiteLLM's JSON file (`user_cost.json`).
    Json(PathBuf),
    /// An SQLite file (table `budget_manager_users`, one row per project and user).
    Sqlite(PathBuf),
}

/// Why a manager call failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("no budget for user {0:?}: create one with create_budget(total_budget, user)")]
    UnknownUser(String),
    #[error(
        "duration must be daily, weekly, monthly, yearly or a length such as 30d or 12h, got {0:?}"
    )]
    Duration(String),
    #[error("budget file {path}: {message}")]
    Store { path: String, message: String },
}

fn store_error(path: &Path, message: impl ToString) -> ManagerError {
    ManagerError::Store {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// A `duration` argument → days.
pub fn duration_days(duration: &str) -> Result<f64, ManagerError> {
    Ok(match duration {
        "daily" => 1.0,
        "weekly" => 7.0,
        "monthly" => 28.0,
        "yearly" => 365.0,
        other => match Period::parse(other) {
            Ok(Period::Fixed(len)) => len as f64 / MICROS_PER_DAY as f64,
            _ => return Err(ManagerError::Duration(other.to_owned())),
        },
    })
}

/// Per-user budgets for one project.
#[derive(Debug)]
pub struct BudgetManager {
    pub project_name: String,
    pub users: BTreeMap<String, UserBudget>,
    store: ManagerStore,
}

impl BudgetManager {
    /// A manager with the users found in `store` (none if the file does not exist yet).
    pub fn open(project_name: &str, store: ManagerStore) -> Result<Self, ManagerError> {
        let mut m = BudgetManager {
            project_name: project_name.to_owned(),
            users: BTreeMap::new(),
            store,
        };
        m.load()?;
        Ok(m)
    }

    pub fn store(&self) -> &ManagerStore {
        &self.store
    }

    /// Read the users from the store again.
    pub fn load(&mut self) -> Result<(), ManagerError> {
        self.users = match &self.store {
            ManagerStore::Memory => return Ok(()),
            ManagerStore::Json(path) => match std::fs::read_to_string(path) {
                Ok(text) => serde_json::from_str(&text).map_err(|e| store_error(path, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(store_error(path, e)),
            },
            ManagerStore::Sqlite(path) => {
                let conn = open_sqlite(path)?;
                let mut stmt = conn
                    .prepare("SELECT user, data FROM budget_manager_users WHERE project = ?1")
                    .map_err(|e| store_error(path, e))?;
                let rows = stmt
                    .query_map(params![self.project_name], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(|e| store_error(path, e))?;
                let mut users = BTreeMap::new();
                for row in rows {
                    let (user, data) = row.map_err(|e| store_error(path, e))?;
                    let budget: UserBudget =
                        serde_json::from_str(&data).map_err(|e| store_error(path, e))?;
                    users.insert(user, budget);
                }
                users
            }
        };
        Ok(())
    }

    /// Write every user to the store.
    pub fn save(&self) -> Result<(), ManagerError> {
        match &self.store {
            ManagerStore::Memory => Ok(()),
            ManagerStore::Json(path) => {
                let text =
                    serde_json::to_string_pretty(&self.users).map_err(|e| store_error(path, e))?;
                // Write then rename, so a crash never leaves half a file.
                let tmp = path.with_extension("json.tmp");
                std::fs::write(&tmp, text).map_err(|e| store_error(path, e))?;
                std::fs::rename(&tmp, path).map_err(|e| store_error(path, e))
            }
            ManagerStore::Sqlite(path) => {
                let mut conn = open_sqlite(path)?;
                let tx = conn.transaction().map_err(|e| store_error(path, e))?;
                tx.execute(
                    "DELETE FROM budget_manager_users WHERE project = ?1",
                    params![self.project_name],
                )
                .map_err(|e| store_error(path, e))?;
                for (user, budget) in &self.users {
                    let data = serde_json::to_string(budget).map_err(|e| store_error(path, e))?;
                    tx.execute(
                        "INSERT INTO budget_manager_users (project, user, data) VALUES (?1, ?2, ?3)",
                        params![self.project_name, user, data],
                    )
                    .map_err(|e| store_error(path, e))?;
                }
                tx.commit().map_err(|e| store_error(path, e))
            }
        }
    }

    fn user_mut(&mut self, user: &str) -> Result<&mut UserBudget, ManagerError> {
        self.users
            .get_mut(user)
            .ok_or_else(|| ManagerError::UnknownUser(user.to_owned()))
    }

    /// Create (or replace) a user's budget. `duration` in days; `created_at` Unix seconds.
    pub fn create_budget(
        &mut self,
        total_budget: f64,
        user: &str,
        duration: Option<f64>,
        created_at: f64,
    ) -> &UserBudget {
        let budget = UserBudget {
            total_budget,
            duration,
            created_at: duration.map(|_| created_at),
            last_updated_at: duration.map(|_| created_at),
            ..Default::default()
        };
        self.users.insert(user.to_owned(), budget);
        &self.users[user]
    }

    /// Whether the user has a budget.
    pub fn is_valid_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    pub fn total_budget(&self, user: &str) -> Result<f64, ManagerError> {
        self.users
            .get(user)
            .map(|b| b.total_budget)
            .ok_or_else(|| ManagerError::UnknownUser(user.to_owned()))
    }

    /// Start a new period if the user's duration has passed since the current one began:
    /// the cost goes back to zero and `last_updated_at` moves by whole durations. Returns
    /// whether it reset.
    pub fn reset_on_duration(&mut self, user: &str, now: f64) -> Result<bool, ManagerError> {
        let b = self.user_mut(user)?;
        let (Some(days), Some(last)) = (b.duration, b.last_updated_at.or(b.created_at)) else {
            return Ok(false);
        };
        if days <= 0.0 {
            return Ok(false);
        }
        let len = clock::from_secs_f64(days * SECONDS_PER_DAY).max(1);
        let (last_us, now_us) = (clock::from_secs_f64(last), clock::from_secs_f64(now));
        let periods = now_us.saturating_sub(last_us).div_euclid(len);
        if periods < 1 {
            return Ok(false);
        }
        b.current_cost = Some(0.0);
        b.model_cost = Some(BTreeMap::new());
        b.last_updated_at = Some(clock::to_secs_f64(last_us + periods * len));
        Ok(true)
    }

    /// [`BudgetManager::reset_on_duration`] for every user with a duration.
    pub fn update_budget_all_users(&mut self, now: f64) -> bool {
        let users: Vec<String> = self.users.keys().cloned().collect();
        let mut any = false;
        for u in users {
            any |= self.reset_on_duration(&u, now).unwrap_or(false);
        }
        any
    }

    /// The user's cost in the current period.
    pub fn current_cost(&mut self, user: &str, now: f64) -> Result<f64, ManagerError> {
        self.reset_on_duration(user, now)?;
        Ok(self.users[user].current_cost.unwrap_or(0.0))
    }

    /// Add a call's cost to the user's total and to its model's.
    pub fn add_cost(
        &mut self,
        user: &str,
        model: &str,
        cost: f64,
        now: f64,
    ) -> Result<&UserBudget, ManagerError> {
        self.reset_on_duration(user, now)?;
        let b = self.user_mut(user)?;
        b.current_cost = Some(b.current_cost.unwrap_or(0.0) + cost);
        *b.model_cost
            .get_or_insert_with(BTreeMap::new)
            .entry(model.to_owned())
            .or_insert(0.0) += cost;
        Ok(&self.users[user])
    }

    /// Set the user's cost back to zero.
    pub fn reset_cost(&mut self, user: &str) -> Result<&UserBudget, ManagerError> {
        let b = self.user_mut(user)?;
        b.current_cost = Some(0.0);
        b.model_cost = Some(BTreeMap::new());
        Ok(&self.users[user])
    }
}

fn open_sqlite(path: &Path) -> Result<Connection, ManagerError> {
    let conn = Connection::open(path).map_err(|e| store_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| store_error(path, e))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS budget_manager_users (
            project TEXT NOT NULL,
            user TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (project, user)
        )",
    )
    .map_err(|e| store_error(path, e))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "llmswitch-bm-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn durations() {
        assert_eq!(duration_days("monthly").unwrap(), 28.0);
        assert_eq!(duration_days("12h").unwrap(), 0.5);
        assert!(duration_days("fortnightly").is_err());
    }

    #[test]
    fn costs_accumulate_and_reset_exactly_per_duration() {
        let mut m = BudgetManager::open("p", ManagerStore::Memory).unwrap();
        let t0 = 1_700_000_000.25;
        m.create_budget(10.0, "u", Some(1.0), t0);
        m.add_cost("u", "gpt-4o", 1.5, t0 + 10.0).unwrap();
        m.add_cost("u", "gpt-4o", 0.5, t0 + 20.0).unwrap();
        m.add_cost("u", "claude", 1.0, t0 + 30.0).unwrap();
        assert_eq!(m.current_cost("u", t0 + 40.0).unwrap(), 3.0);
        assert_eq!(m.users["u"].model_cost.as_ref().unwrap()["gpt-4o"], 2.0);
        let day = SECONDS_PER_DAY;
        assert_eq!(m.current_cost("u", t0 + day - 0.001).unwrap(), 3.0);
        // Three and a half days later: reset, and the period starts at t0 + 3 days.
        assert_eq!(m.current_cost("u", t0 + 3.5 * day).unwrap(), 0.0);
        assert_eq!(m.users["u"].last_updated_at, Some(t0 + 3.0 * day));
        assert!(m.add_cost("nobody", "m", 1.0, t0).is_err());
        assert!(matches!(
            m.total_budget("nobody"),
            Err(ManagerError::UnknownUser(_))
        ));
    }

    #[test]
    fn json_and_sqlite_round_trip() {
        for store in [
            ManagerStore::Json(temp("user_cost.json")),
            ManagerStore::Sqlite(temp("budgets.sqlite")),
        ] {
            let mut m = BudgetManager::open("proj", store.clone()).unwrap();
            m.create_budget(5.0, "alice", None, 0.0);
            m.create_budget(7.0, "bob", Some(7.0), 100.0);
            m.add_cost("alice", "gpt-4o", 0.25, 1.0).unwrap();
            m.save().unwrap();
            let again = BudgetManager::open("proj", store.clone()).unwrap();
            assert_eq!(again.users, m.users, "{store:?}");
            let other = BudgetManager::open("other-project", store.clone()).unwrap();
            if matches!(store, ManagerStore::Sqlite(_)) {
                assert!(other.users.is_empty());
            }
        }
    }

    #[test]
    fn litellm_json_loads() {
        let path = temp("user_cost.json");
        std::fs::write(
            &path,
            r#"{"1234": {"total_budget": 10, "current_cost": 0.5, "model_cost": {"gpt-3.5-turbo": 0.5},
                "duration": 28, "created_at": 1700000000.0, "last_updated_at": 1700000000.0, "note": "x"}}"#,
        )
        .unwrap();
        let m = BudgetManager::open("p", ManagerStore::Json(path)).unwrap();
        let u = &m.users["1234"];
        assert_eq!(u.current_cost, Some(0.5));
        assert_eq!(u.duration, Some(28.0));
        assert_eq!(u.extra["note"], "x");
    }
}
