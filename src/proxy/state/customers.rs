//! `/customer/*` (also `/end_user/*`): end users, the `user` field of requests, with a
//! budget and limits (kept in a `LiteLLM_BudgetTable` row, as LiteLLM does), a model list
//! and a block, with LiteLLM 1.106.2's JSON.

use serde::Deserialize;
use serde_json::{json, Value};

use super::counters::{ScopeId, ScopeKind};
use super::error::ApiError;
use super::keys::ADMIN_NAME;
use super::plane::StatePlane;
use super::requests::{
    apply, apply_budget_duration, apply_or_default, check_budgets_and_limits, first_reset_of,
    patch, reject_unsupported, Patch,
};
use super::store::{BudgetRow, EndUserRow, JsonObject, StoreError};
use super::token::uuid4;
use super::views;
use crate::spend::clock::{self, Micros};

/// `POST /customer/new`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewCustomerRequest {
    pub user_id: Option<String>,
    pub alias: Option<String>,
    pub blocked: bool,
    pub spend: Option<f64>,
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub max_parallel_requests: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub budget_duration: Option<String>,
    pub allowed_model_region: Option<String>,
    pub default_model: Option<String>,
    pub models: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /customer/update`: left out keeps, `null` clears.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateCustomerRequest {
    pub user_id: Option<String>,
    #[serde(deserialize_with = "patch")]
    pub alias: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub blocked: Patch<bool>,
    #[serde(deserialize_with = "patch")]
    pub max_budget: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub soft_budget: Patch<f64>,
    #[serde(deserialize_with = "patch")]
    pub max_parallel_requests: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub tpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub rpm_limit: Patch<i64>,
    #[serde(deserialize_with = "patch")]
    pub budget_duration: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub allowed_model_region: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub default_model: Patch<String>,
    #[serde(deserialize_with = "patch")]
    pub models: Patch<Vec<String>>,
    #[serde(flatten)]
    pub other: JsonObject,
}

/// `POST /customer/delete`, `/customer/block`, `/customer/unblock`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomerIdsRequest {
    pub user_ids: Vec<String>,
}

fn not_found(user_id: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("End User Id={user_id} does not exist in db"),
    )
    .with_param("end_user_id")
}

/// Python's `str()` of a list of strings: `['a', 'b']`.
fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

fn check_region(region: Option<&str>) -> Result<(), ApiError> {
    match region {
        None | Some("eu" | "us") => Ok(()),
        Some(other) => Err(ApiError::new(
            422,
            "bad_request_error",
            format!("allowed_model_region must be 'eu' or 'us', got '{other}'"),
        )
        .with_param("allowed_model_region")),
    }
}

fn new_budget(now: Micros) -> Result<BudgetRow, ApiError> {
    Ok(BudgetRow {
        budget_id: uuid4()?,
        created_at: now,
        created_by: ADMIN_NAME.to_owned(),
        updated_at: now,
        updated_by: ADMIN_NAME.to_owned(),
        ..Default::default()
    })
}

impl StatePlane {
    async fn end_user_to_change(&self, user_id: &str) -> Result<EndUserRow, ApiError> {
        self.store()
            .get_end_user(user_id.to_owned())
            .await?
            .ok_or_else(|| not_found(user_id))
    }

    /// `POST /customer/new`.
    pub async fn new_customer(&self, req: NewCustomerRequest) -> Result<Value, ApiError> {
        reject_unsupported("/customer/new", &req.other)?;
        let Some(user_id) = req.user_id.filter(|u| !u.is_empty()) else {
            return Err(
                ApiError::new(422, "bad_request_error", "user_id is required")
                    .with_param("user_id"),
            );
        };
        check_budgets_and_limits(
            &[
                ("max_budget", req.max_budget),
                ("soft_budget", req.soft_budget),
                ("spend", req.spend),
            ],
            req.tpm_limit,
            req.rpm_limit,
            req.max_parallel_requests,
        )?;
        check_region(req.allowed_model_region.as_deref())?;
        let now = clock::now();
        let has_budget = req.max_budget.is_some()
            || req.soft_budget.is_some()
            || req.max_parallel_requests.is_some()
            || req.tpm_limit.is_some()
            || req.rpm_limit.is_some()
            || req.budget_duration.is_some();
        let budget = if has_budget {
            let mut b = new_budget(now)?;
            b.max_budget = req.max_budget;
            b.soft_budget = req.soft_budget;
            b.max_parallel_requests = req.max_parallel_requests;
            b.tpm_limit = req.tpm_limit;
            b.rpm_limit = req.rpm_limit;
            b.budget_reset_at = first_reset_of(req.budget_duration.as_deref(), now)?;
            b.budget_duration = req.budget_duration;
            Some(b)
        } else {
            None
        };
        let row = EndUserRow {
            user_id: user_id.clone(),
            alias: req.alias,
            spend: req.spend.unwrap_or(0.0),
            allowed_model_region: req.allowed_model_region,
            default_model: req.default_model,
            models: req.models.unwrap_or_default(),
            budget_id: budget.as_ref().map(|b| b.budget_id.clone()),
            blocked: req.blocked,
            budget,
        };
        self.store()
            .insert_end_user(row.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ApiError::bad_request(format!(
                "Customer with user_id={user_id} already exists. Use /customer/update to change it."
            ))
                .with_param("user_id"),
                other => other.into(),
            })?;
        self.cache_end_user(&user_id, Some(row.clone()));
        Ok(Value::Object(views::customer(&row)))
    }

    /// `GET /customer/info?end_user_id=`.
    pub async fn customer_info(&self, end_user_id: Option<String>) -> Result<Value, ApiError> {
        let Some(id) = end_user_id.filter(|u| !u.is_empty()) else {
            return Err(
                ApiError::new(422, "bad_request_error", "end_user_id is required")
                    .with_param("end_user_id"),
            );
        };
        let row = self.end_user_to_change(&id).await?;
        Ok(Value::Object(views::customer(&row)))
    }

    /// `POST /customer/update`.
    pub async fn update_customer(&self, req: UpdateCustomerRequest) -> Result<Value, ApiError> {
        reject_unsupported("/customer/update", &req.other)?;
        let Some(user_id) = req.user_id.filter(|u| !u.is_empty()) else {
            return Err(
                ApiError::new(422, "bad_request_error", "user_id is required")
                    .with_param("user_id"),
            );
        };
        let mut row = self.end_user_to_change(&user_id).await?;
        check_budgets_and_limits(
            &[
                ("max_budget", req.max_budget.flatten()),
                ("soft_budget", req.soft_budget.flatten()),
            ],
            req.tpm_limit.flatten(),
            req.rpm_limit.flatten(),
            req.max_parallel_requests.flatten(),
        )?;
        if let Some(r) = &req.allowed_model_region {
            check_region(r.as_deref())?;
        }
        let now = clock::now();
        let touches_budget = req.max_budget.is_some()
            || req.soft_budget.is_some()
            || req.max_parallel_requests.is_some()
            || req.tpm_limit.is_some()
            || req.rpm_limit.is_some()
            || req.budget_duration.is_some();
        if touches_budget {
            let mut b = match row.budget.take() {
                Some(b) => b,
                None => new_budget(now)?,
            };
            apply(&mut b.max_budget, req.max_budget);
            apply(&mut b.soft_budget, req.soft_budget);
            apply(&mut b.max_parallel_requests, req.max_parallel_requests);
            apply(&mut b.tpm_limit, req.tpm_limit);
            apply(&mut b.rpm_limit, req.rpm_limit);
            apply_budget_duration(
                req.budget_duration,
                &mut b.budget_duration,
                &mut b.budget_reset_at,
                now,
            )?;
            b.updated_at = now;
            b.updated_by = ADMIN_NAME.to_owned();
            row.budget_id = Some(b.budget_id.clone());
            row.budget = Some(b);
        }
        apply(&mut row.alias, req.alias);
        apply_or_default(&mut row.blocked, req.blocked);
        apply(&mut row.allowed_model_region, req.allowed_model_region);
        apply(&mut row.default_model, req.default_model);
        apply_or_default(&mut row.models, req.models);
        if !self.store().update_end_user(row.clone()).await? {
            return Err(not_found(&user_id));
        }
        self.cache_end_user(&user_id, Some(row.clone()));
        Ok(Value::Object(views::customer(&row)))
    }

    /// `POST /customer/delete`.
    pub async fn delete_customers(&self, req: CustomerIdsRequest) -> Result<Value, ApiError> {
        if req.user_ids.is_empty() {
            return Err(ApiError::bad_request(format!(
                "user_id is required, passed user_id = {}",
                py_list(&req.user_ids)
            )));
        }
        let mut missing = Vec::new();
        for id in &req.user_ids {
            if self.store().get_end_user(id.clone()).await?.is_none() {
                missing.push(id.clone());
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::new(
                404,
                "not_found",
                format!("End User Id(s)={} do not exist in db", missing.join(", ")),
            )
            .with_param("user_ids"));
        }
        let n = self.store().delete_end_users(req.user_ids.clone()).await?;
        for id in &req.user_ids {
            self.cache_end_user(id, None);
            self.counters()
                .forget(&ScopeId::new(ScopeKind::EndUser, id));
        }
        Ok(json!({
            "deleted_customers": n,
            "message": format!("Successfully deleted customers with ids: {}", py_list(&req.user_ids)),
        }))
    }

    /// `GET /customer/list`.
    pub async fn list_customers(&self) -> Result<Value, ApiError> {
        let rows = self.store().list_end_users(false).await?;
        Ok(Value::Array(
            rows.iter()
                .map(|r| Value::Object(views::customer(r)))
                .collect(),
        ))
    }

    /// `POST /customer/block` (`blocked`) and `/customer/unblock`. Unknown end users are
    /// created blocked (as LiteLLM does), so a block takes effect before their first call.
    pub async fn block_customers(
        &self,
        req: CustomerIdsRequest,
        blocked: bool,
    ) -> Result<Value, ApiError> {
        let mut rows = Vec::new();
        for id in &req.user_ids {
            match self.store().get_end_user(id.clone()).await? {
                Some(mut row) => {
                    row.blocked = blocked;
                    self.store().update_end_user(row.clone()).await?;
                    self.cache_end_user(id, Some(row.clone()));
                    rows.push(row);
                }
                None if blocked => {
                    let row = EndUserRow {
                        user_id: id.clone(),
                        blocked: true,
                        ..Default::default()
                    };
                    self.store().insert_end_user(row.clone()).await?;
                    self.cache_end_user(id, Some(row.clone()));
                    rows.push(row);
                }
                None => {}
            }
        }
        if blocked {
            let shown: Vec<Value> = rows
                .iter()
                .map(|r| Value::Object(views::customer(r)))
                .collect();
            return Ok(json!({"blocked_users": shown}));
        }
        let still: Vec<String> = self
            .store()
            .list_end_users(true)
            .await?
            .into_iter()
            .filter(|e| e.blocked)
            .map(|e| e.user_id)
            .collect();
        Ok(json!({"blocked_users": still}))
    }
}
