//! `GET /spend/logs` and `GET /global/spend/report`, in LiteLLM 1.106.2's response
//! shapes. Sums are computed by the store ([`Store::spend_totals`]), never by loading the
//! log into memory.
//!
//! Dates are `YYYY-MM-DD` (UTC); `end_date` includes its whole day.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::plane::StatePlane;
use super::store::{SpendDimension, SpendLogQuery, SpendTotalsQuery, SpendTotalsRow};
use super::time::parse_date;
use super::token::hash_if_needed;
use super::views;
use crate::spend::clock::{Micros, MICROS_PER_DAY};

/// Rows `/spend/logs` answers at most (LiteLLM's `SPEND_LOGS_PAGINATION_COUNT_CAP`).
pub const SPEND_LOGS_CAP: u64 = 10_000;

/// `GET /spend/logs` (query).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SpendLogsQuery {
    /// A key or its hash.
    pub api_key: Option<String>,
    /// Same as `api_key`.
    pub key: Option<String>,
    pub key_alias: Option<String>,
    /// The key's user (LiteLLM's internal user).
    pub user_id: Option<String>,
    /// The request's `user` (a customer).
    pub end_user: Option<String>,
    pub team_id: Option<String>,
    /// A model or model group.
    pub model: Option<String>,
    pub tag: Option<String>,
    pub request_id: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// With both dates: daily sums (default, LiteLLM's legacy shape) or the rows.
    pub summarize: Option<bool>,
}

/// `GET /global/spend/report` (query).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SpendReportQuery {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// `team` (default), `customer`, `api_key` (or `key`), `model`, `tag`, `day`.
    pub group_by: Option<String>,
    pub api_key: Option<String>,
    pub internal_user_id: Option<String>,
    pub team_id: Option<String>,
    pub customer_id: Option<String>,
}

fn date(name: &str, v: &str) -> Result<Micros, ApiError> {
    parse_date(v).ok_or_else(|| {
        ApiError::bad_request(format!("{name} must be a date as YYYY-MM-DD, got '{v}'"))
            .with_param(name)
    })
}

fn day_of(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

/// `[start, end of end_date)` from the two dates, both required.
fn range(
    start: &Option<String>,
    end: &Option<String>,
) -> Result<Option<(Micros, Micros)>, ApiError> {
    match (start, end) {
        (Some(s), Some(e)) => Ok(Some((
            date("start_date", s)?,
            date("end_date", e)? + MICROS_PER_DAY,
        ))),
        _ => Ok(None),
    }
}

impl StatePlane {
    async fn totals(
        &self,
        group_by: Vec<SpendDimension>,
        filter: SpendLogQuery,
    ) -> Result<Vec<SpendTotalsRow>, ApiError> {
        Ok(self
            .store()
            .spend_totals(SpendTotalsQuery { group_by, filter })
            .await?)
    }

    /// `GET /spend/logs`: the rows (newest first, at most [`SPEND_LOGS_CAP`]; the bool
    /// says whether the cap cut them), or with `start_date` and `end_date` and
    /// `summarize` (default) LiteLLM's daily sums.
    pub async fn spend_logs(&self, q: SpendLogsQuery) -> Result<(Value, bool), ApiError> {
        let mut filter = SpendLogQuery {
            api_key: q.api_key.or(q.key).map(|k| hash_if_needed(&k)),
            key_alias: q.key_alias,
            request_id: q.request_id,
            user: q.user_id,
            end_user: q.end_user,
            team_id: q.team_id,
            model: q.model,
            tag: q.tag,
            ..Default::default()
        };
        let dates = range(&q.start_date, &q.end_date)?;
        if let Some((start, end)) = dates {
            filter.start = Some(start);
            filter.end = Some(end);
        }
        if dates.is_some() && q.summarize.unwrap_or(true) {
            let rows = self
                .totals(
                    vec![
                        SpendDimension::Day,
                        SpendDimension::ApiKey,
                        SpendDimension::User,
                        SpendDimension::Model,
                    ],
                    filter,
                )
                .await?;
            return Ok((daily_summary(&rows, dates), false));
        }
        filter.limit = SPEND_LOGS_CAP;
        let rows = self.store().spend_logs(filter).await?;
        let truncated = rows.len() as u64 >= SPEND_LOGS_CAP;
        Ok((
            Value::Array(
                rows.iter()
                    .map(|r| Value::Object(views::spend_log(r)))
                    .collect(),
            ),
            truncated,
        ))
    }

    /// `GET /global/spend/report`.
    pub async fn spend_report(&self, q: SpendReportQuery) -> Result<Value, ApiError> {
        let Some((start, end)) = range(&q.start_date, &q.end_date)? else {
            return Err(ApiError::bad_request(
                "{'error': 'Please provide start_date and end_date'}",
            ));
        };
        let mut filter = SpendLogQuery {
            start: Some(start),
            end: Some(end),
            team_id: q.team_id.clone(),
            ..Default::default()
        };
        if let Some(k) = &q.api_key {
            filter.api_key = Some(hash_if_needed(k));
            return self.by_api_key(filter).await;
        }
        if let Some(u) = &q.internal_user_id {
            filter.user = Some(u.clone());
            return self.by_api_key(filter).await;
        }
        if let Some(c) = &q.customer_id {
            filter.end_user = Some(c.clone());
        }
        let group = q.group_by.as_deref().unwrap_or("team");
        match group {
            "team" => {
                self.by_day_and(filter, SpendDimension::TeamName, "teams", "team_name")
                    .await
            }
            "customer" => {
                self.by_day_and(filter, SpendDimension::EndUser, "customers", "customer")
                    .await
            }
            "api_key" | "key" => self.by_api_key(filter).await,
            "model" => {
                self.by_named(
                    filter,
                    SpendDimension::ModelGroup,
                    "model",
                    SpendDimension::ApiKey,
                    "api_key",
                    "api_key_details",
                )
                .await
            }
            "tag" => {
                self.by_named(
                    filter,
                    SpendDimension::Tag,
                    "tag",
                    SpendDimension::Model,
                    "model",
                    "model_details",
                )
                .await
            }
            "day" => {
                self.by_named(
                    filter,
                    SpendDimension::Day,
                    "group_by_day",
                    SpendDimension::Model,
                    "model",
                    "model_details",
                )
                .await
            }
            other => Err(ApiError::bad_request(format!(
                "group_by must be one of team, customer, api_key, model, tag or day; got '{other}'"
            ))
            .with_param("group_by")),
        }
    }

    /// LiteLLM's `group_by=team` / `customer` shape: per day, per team (customer), its
    /// total and a `metadata` list of model × key sums.
    async fn by_day_and(
        &self,
        filter: SpendLogQuery,
        dim: SpendDimension,
        list_name: &str,
        name_field: &str,
    ) -> Result<Value, ApiError> {
        let rows = self
            .totals(
                vec![
                    SpendDimension::Day,
                    dim,
                    SpendDimension::Model,
                    SpendDimension::ApiKey,
                ],
                filter,
            )
            .await?;
        let mut days: BTreeMap<String, BTreeMap<Option<String>, Vec<&SpendTotalsRow>>> =
            BTreeMap::new();
        for r in &rows {
            days.entry(day_of(&r.keys[0]))
                .or_default()
                .entry(r.keys[1].clone())
                .or_default()
                .push(r);
        }
        let out: Vec<Value> = days
            .into_iter()
            .map(|(day, groups)| {
                let entries: Vec<Value> = groups
                    .into_iter()
                    .map(|(name, rows)| {
                        let total: f64 = rows.iter().map(|r| r.spend).sum();
                        let metadata: Vec<Value> = rows
                            .iter()
                            .map(|r| {
                                json!({
                                    "model": text(&r.keys[2]),
                                    "api_key": text(&r.keys[3]),
                                    "spend": r.spend,
                                    "total_tokens": r.total_tokens,
                                })
                            })
                            .collect();
                        let mut m = Map::new();
                        m.insert(name_field.into(), text(&name));
                        m.insert("total_spend".into(), json!(total));
                        m.insert("metadata".into(), Value::Array(metadata));
                        Value::Object(m)
                    })
                    .collect();
                let mut m = Map::new();
                m.insert(
                    "group_by_day".into(),
                    json!(format!("{day}T00:00:00+00:00")),
                );
                m.insert(list_name.into(), Value::Array(entries));
                Value::Object(m)
            })
            .collect();
        Ok(Value::Array(out))
    }

    /// LiteLLM's `group_by=api_key` shape: per key, its totals and `model_details`, by
    /// total cost (highest first).
    async fn by_api_key(&self, filter: SpendLogQuery) -> Result<Value, ApiError> {
        self.by_named(
            filter,
            SpendDimension::ApiKey,
            "api_key",
            SpendDimension::Model,
            "model",
            "model_details",
        )
        .await
    }

    /// Per value of `outer` (named `outer_name`): `total_cost`, `total_input_tokens`,
    /// `total_output_tokens`, `total_requests` and the same per value of `inner` in
    /// `details_name`; by total cost, highest first (by day, oldest first).
    async fn by_named(
        &self,
        filter: SpendLogQuery,
        outer: SpendDimension,
        outer_name: &str,
        inner: SpendDimension,
        inner_name: &str,
        details_name: &str,
    ) -> Result<Value, ApiError> {
        let rows = self.totals(vec![outer, inner], filter).await?;
        let mut groups: BTreeMap<Option<String>, Vec<&SpendTotalsRow>> = BTreeMap::new();
        for r in &rows {
            groups.entry(r.keys[0].clone()).or_default().push(r);
        }
        let mut out: Vec<(f64, Value)> = groups
            .into_iter()
            .map(|(name, rows)| {
                let sum = |f: fn(&SpendTotalsRow) -> f64| rows.iter().map(|r| f(r)).sum::<f64>();
                let total = sum(|r| r.spend);
                let details: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let mut d = Map::new();
                        d.insert(inner_name.into(), text(&r.keys[1]));
                        d.insert("total_cost".into(), json!(r.spend));
                        d.insert("total_input_tokens".into(), json!(r.prompt_tokens));
                        d.insert("total_output_tokens".into(), json!(r.completion_tokens));
                        d.insert("total_requests".into(), json!(r.requests));
                        Value::Object(d)
                    })
                    .collect();
                let mut m = Map::new();
                m.insert(
                    outer_name.into(),
                    if outer == SpendDimension::Day {
                        json!(format!("{}T00:00:00+00:00", day_of(&name)))
                    } else {
                        text(&name)
                    },
                );
                m.insert("total_cost".into(), json!(total));
                m.insert(
                    "total_input_tokens".into(),
                    json!(rows.iter().map(|r| r.prompt_tokens).sum::<i64>()),
                );
                m.insert(
                    "total_output_tokens".into(),
                    json!(rows.iter().map(|r| r.completion_tokens).sum::<i64>()),
                );
                m.insert(
                    "total_requests".into(),
                    json!(rows.iter().map(|r| r.requests).sum::<i64>()),
                );
                m.insert(details_name.into(), Value::Array(details));
                (total, Value::Object(m))
            })
            .collect();
        if outer != SpendDimension::Day {
            out.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        }
        Ok(Value::Array(out.into_iter().map(|(_, v)| v).collect()))
    }
}

/// LiteLLM's summarized `/spend/logs`: per day `{<api_key>: spend, ..., "startTime",
/// "spend", "users": {...}, "models": {...}}`, then zero days up to the end date.
fn daily_summary(rows: &[SpendTotalsRow], dates: Option<(Micros, Micros)>) -> Value {
    let mut days: BTreeMap<String, Vec<&SpendTotalsRow>> = BTreeMap::new();
    for r in rows {
        days.entry(day_of(&r.keys[0])).or_default().push(r);
    }
    let last = days.keys().next_back().cloned();
    let mut out: Vec<Value> = days
        .into_iter()
        .map(|(day, rows)| {
            let mut m = Map::new();
            let mut users: BTreeMap<String, f64> = BTreeMap::new();
            let mut models: BTreeMap<String, f64> = BTreeMap::new();
            let mut keys: BTreeMap<String, f64> = BTreeMap::new();
            for r in &rows {
                if let Some(k) = &r.keys[1] {
                    *keys.entry(k.clone()).or_default() += r.spend;
                }
                *users.entry(day_of(&r.keys[2])).or_default() += r.spend;
                *models.entry(day_of(&r.keys[3])).or_default() += r.spend;
            }
            for (k, v) in keys {
                m.insert(k, json!(v));
            }
            m.insert("startTime".into(), json!(day));
            m.insert(
                "spend".into(),
                json!(rows.iter().map(|r| r.spend).sum::<f64>()),
            );
            m.insert("users".into(), json!(users));
            m.insert("models".into(), json!(models));
            Value::Object(m)
        })
        .collect();
    if let (Some(last), Some((_, end))) = (last.and_then(|d| parse_date(&d)), dates) {
        let mut day = last + MICROS_PER_DAY;
        while day < end {
            out.push(json!({
                "startTime": crate::spend::clock::utc_date(day),
                "spend": 0,
                "users": {},
                "models": {},
            }));
            day += MICROS_PER_DAY;
        }
    }
    Value::Array(out)
}
