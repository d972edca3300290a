//! `/team/*`: teams with a budget, limits and a model list that their keys inherit (a
//! key's request must pass both the key's and the team's), with LiteLLM 1.106.2's JSON.

use serde::Deserialize;
use serde_json::{json, Value};

use super::counters::{ScopeId, ScopeKind};
use super::error::ApiError;
use super::plane::StatePlane;
use super::requests::{
    apply, apply_budget_duration, apply_metadata, apply_or_default, apply_spend,
    check_budgets_and_limits, first_reset_of, metadata_with_tags, patch, reject_unsupported, Patch,
};
use super::store::{JsonObject, StoreError, TeamRow};
use super::token::uuid4;
use super::views;
use crate::spend::clock;

/// `POST /team/new`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewTeamRequest {
    pub team_alias: Option<String>,
    pub team_id: Option<String>,
    pub admins: Vec<String>,
    pub members: Vec<String>,
    pub members_with_roles: Vec<Value>,
    pub metadata: Option<JsonObject>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub max_parallel_requests: Option<i64>,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub models: Vec<String>,
    pub blocked: bool,
    pub tags: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /team/update`: left out keeps, `null` clears.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateTeamRequest {
    pub team_id: Option<String>,
    #[serde(deserialize_with = "patch")]
    pub team_alias: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub metadata: Patch<JsonObject>,
    #[serde(deserialize_with = "patch")]
    pub tpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub rpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub max_parallel_requests: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub max_budget: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub soft_budget: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub budget_duration: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub models: Patch<Vec<String>>,
    #[serde(deserialize_with = "patch")]
    pub blocked: Patch<bool>,
    #[serde(deserialize_with = "patch")]
    pub tags: Patch<Vec<String>>,
    #[serde(deserialize_with = "patch")]
    pub spend: Patch<f64>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /team/delete`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteTeamRequest {
    pub team_ids: Vec<String>,
}

/// `POST /team/block` and `/team/unblock`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlockTeamRequest {
    pub team_id: Option<String>,
}

fn not_found(team_id: &str) -> ApiError {
    ApiError::not_found(format!("Team not found, passed team_id={team_id}")).with_param("team_id")
}

fn required_team_id(id: Option<String>) -> Result<String, ApiError> {
    id.filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("No team id passed in").with_param("team_id"))
}

impl StatePlane {
    async fn team_to_change(&self, team_id: &str) -> Result<TeamRow, ApiError> {
        self.store()
            .get_team(team_id.to_owned())
            .await?
            .ok_or_else(|| not_found(team_id))
    }

    /// `POST /team/new`.
    pub async fn new_team(&self, req: NewTeamRequest) -> Result<Value, ApiError> {
        reject_unsupported("/team/new", &req.other)?;
        check_budgets_and_limits(
            &[
                ("max_budget", req.max_budget),
                ("soft_budget", req.soft_budget),
            ],
            req.tpm_limit,
            req.rpm_limit,
            req.max_parallel_requests,
        )?;
        let now = clock::now();
        let budget_reset_at = first_reset_of(req.budget_duration.as_deref(), now)?;
        let team_id = match req.team_id.filter(|t| !t.trim().is_empty()) {
            Some(id) => id,
            None => uuid4()?,
        };
        let metadata = metadata_with_tags(req.metadata, req.tags);
        let row = TeamRow {
            team_id: team_id.clone(),
            team_alias: req.team_alias,
            admins: req.admins,
            members: req.members,
            members_with_roles: req.members_with_roles,
            metadata,
            max_budget: req.max_budget,
            soft_budget: req.soft_budget,
            models: req.models,
            max_parallel_requests: req.max_parallel_requests,
            tpm_limit: req.tpm_limit,
            rpm_limit: req.rpm_limit,
            budget_duration: req.budget_duration,
            budget_reset_at,
            blocked: req.blocked,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        };
        self.store()
            .insert_team(row.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ApiError::bad_request(format!(
                    "Team id = {team_id} already exists. Please use a different team id."
                ))
                .with_param("team_id"),
                other => other.into(),
            })?;
        self.cache_team(&team_id, Some(row.clone()));
        Ok(Value::Object(views::team_row(&row)))
    }

    /// `POST /team/update`.
    pub async fn update_team(&self, req: UpdateTeamRequest) -> Result<Value, ApiError> {
        reject_unsupported("/team/update", &req.other)?;
        let team_id = required_team_id(req.team_id)?;
        let mut row = self.team_to_change(&team_id).await?;
        let now = clock::now();
        check_budgets_and_limits(
            &[
                ("max_budget", req.max_budget.flatten()),
                ("soft_budget", req.soft_budget.flatten()),
                ("spend", req.spend.flatten()),
            ],
            req.tpm_limit.flatten(),
            req.rpm_limit.flatten(),
            req.max_parallel_requests.flatten(),
        )?;
        apply_budget_duration(
            req.budget_duration,
            &mut row.budget_duration,
            &mut row.budget_reset_at,
            now,
        )?;
        apply(&mut row.team_alias, req.team_alias);
        apply_metadata(&mut row.metadata, req.metadata, req.tags);
        apply(&mut row.tpm_limit, req.tpm_limit);
        apply(&mut row.rpm_limit, req.rpm_limit);
        apply(&mut row.max_parallel_requests, req.max_parallel_requests);
        apply(&mut row.max_budget, req.max_budget);
        apply(&mut row.soft_budget, req.soft_budget);
        apply_or_default(&mut row.models, req.models);
        apply_or_default(&mut row.blocked, req.blocked);
        let set_spend = apply_spend(&mut row.spend, req.spend);
        row.updated_at = Some(now);
        if !self.store().update_team(row.clone(), set_spend).await? {
            return Err(not_found(&team_id));
        }
        if set_spend {
            self.counters()
                .set_spend(&ScopeId::new(ScopeKind::Team, &team_id), row.spend, now);
        }
        self.cache_team(&team_id, Some(row.clone()));
        Ok(json!({"team_id": team_id, "data": views::team_row(&row)}))
    }

    /// `POST /team/delete`: the teams and all their keys.
    pub async fn delete_teams(&self, req: DeleteTeamRequest) -> Result<Value, ApiError> {
        let mut ids: Vec<String> = Vec::new();
        for id in req.team_ids {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(ApiError::bad_request("No team id passed in").with_param("team_ids"));
        }
        for id in &ids {
            self.team_to_change(id).await?;
        }
        let (teams, tokens) = self
            .store()
            .delete_teams(ids.clone(), Some(super::keys::ADMIN_NAME.to_owned()))
            .await?;
        for t in &tokens {
            self.forget_key(t);
        }
        for id in &teams {
            self.cache_team(id, None);
            self.counters().forget(&ScopeId::new(ScopeKind::Team, id));
        }
        Ok(json!({"deleted_teams": ids}))
    }

    /// `GET /team/info?team_id=`.
    pub async fn team_info(&self, team_id: Option<String>) -> Result<Value, ApiError> {
        let team_id = required_team_id(team_id)?;
        let row = self.team_to_change(&team_id).await?;
        let keys: Vec<Value> = self
            .store()
            .team_keys(team_id.clone())
            .await?
            .iter()
            .map(|k| Value::Object(views::key_row(k)))
            .collect();
        Ok(json!({
            "team_id": team_id,
            "team_info": views::team_row(&row),
            "keys": keys,
            "team_memberships": [],
        }))
    }

    /// `GET /team/list`: every team with its keys, by alias.
    pub async fn list_teams(&self) -> Result<Value, ApiError> {
        let mut teams = self.store().list_teams().await?;
        teams.sort_by(|a, b| {
            a.team_alias
                .as_deref()
                .unwrap_or("")
                .cmp(b.team_alias.as_deref().unwrap_or(""))
        });
        let mut out = Vec::with_capacity(teams.len());
        for t in &teams {
            let keys: Vec<Value> = self
                .store()
                .team_keys(t.team_id.clone())
                .await?
                .iter()
                .map(|k| Value::Object(views::key_row(k)))
                .collect();
            let mut m = views::team_row(t);
            m.insert("keys".into(), Value::Array(keys));
            m.insert("team_memberships".into(), json!([]));
            out.push(Value::Object(m));
        }
        Ok(Value::Array(out))
    }

    /// `POST /team/block` (`blocked`) and `/team/unblock`: the team's keys stop (or
    /// resume) working.
    pub async fn block_team(
        &self,
        req: BlockTeamRequest,
        blocked: bool,
    ) -> Result<Value, ApiError> {
        let team_id = required_team_id(req.team_id)?;
        let mut row = self.team_to_change(&team_id).await?;
        row.blocked = blocked;
        row.updated_at = Some(clock::now());
        if !self.store().update_team(row.clone(), false).await? {
            return Err(not_found(&team_id));
        }
        self.cache_team(&team_id, Some(row.clone()));
        Ok(Value::Object(views::team_row(&row)))
    }
}
