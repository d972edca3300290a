//! The state plane plugged into the gateway's seams ([`crate::proxy::hooks::Hooks`]):
//! authentication ([`Authenticator`]), admission ([`Admission`] / [`Ticket`]), the spend
//! log ([`SpendSink`]), readiness, and the admin routes.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::counters::{Counters, LocalCounters};
use super::error::ApiError;
use super::plane::{caller_of, Admitted, CallRequest, Caller, StateConfig, StatePlane};
use super::pricing::GroupPrices;
use super::redis_counters::RedisCounters;
use super::routes::{routes, RouteClass};
use super::store::postgres::{is_postgres_url, PostgresOptions, PostgresStore};
use super::store::sqlite::SqliteStore;
use super::store::{SpendLogRow, Store};
use super::token::hash_token;
use crate::proxy::auth::Authenticator;
use crate::proxy::config::ProxyConfig;
use crate::proxy::error::ProxyError;
use crate::proxy::hooks::{
    Admission, CallInfo, Hooks, Readiness, RequestRecord, SpendSink, Ticket,
};
use crate::proxy::principal::{Principal, Role, RouteKind};
use crate::router::Router;
use crate::spend::clock::{self, Micros};

impl From<ApiError> for ProxyError {
    fn from(e: ApiError) -> Self {
        match e.status {
            401 => ProxyError::Unauthorized(e.message),
            429 => ProxyError::RateLimited {
                message: e.message,
                retry_after: e.retry_after.map(|s| s as f64),
            },
            status => ProxyError::Other {
                status,
                error_type: e.error_type,
                message: e.message,
                param: e.param,
            },
        }
    }
}

/// The state plane behind the gateway's hooks.
pub struct StateHooks {
    plane: Arc<StatePlane>,
    /// Set once the gateway's router exists ([`StateHooks::set_prices`]).
    prices: OnceLock<GroupPrices>,
    /// The master key's hash, the `api_key` of its requests in the spend log.
    master_hash: String,
}

/// Where the state lives for `config`: `database_url` as an SQLite path (`sqlite:///x`,
/// `sqlite://x` or a plain path), else next to the config file.
pub fn state_path(config: &ProxyConfig) -> Result<PathBuf, ProxyError> {
    match config.database_url.as_deref() {
        None => Ok(config.default_state_path()),
        Some(url) if is_postgres_url(url) => Err(ProxyError::Internal(
            "general_settings.database_url names a PostgreSQL database, not an SQLite file"
                .to_owned(),
        )),
        Some(url) => {
            let path = url
                .strip_prefix("sqlite:///")
                .map(|p| format!("/{p}"))
                .or_else(|| url.strip_prefix("sqlite://").map(str::to_owned))
                .or_else(|| url.strip_prefix("file:").map(str::to_owned))
                .unwrap_or_else(|| url.to_owned());
            if path.contains("://") {
                return Err(ProxyError::Internal(
                    "general_settings.database_url: expected an SQLite file (sqlite:///path/state.db) or a path, got a URL with another scheme".to_owned(),
                ));
            }
            Ok(PathBuf::from(path))
        }
    }
}

fn seconds(settings: &Map<String, Value>, key: &str) -> Option<Duration> {
    settings
        .get(key)
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
}

/// `general_settings` keys the state plane reads: the key cache's TTL and the spend
/// writer's interval (seconds), the PostgreSQL pool's size and wait (seconds), LiteLLM's
/// names.
pub const GENERAL_SETTINGS: &[&str] = &[
    "user_api_key_cache_ttl",
    "proxy_batch_write_at",
    "database_connection_pool_limit",
    "database_connection_timeout",
    "maximum_spend_logs_retention_period",
    "maximum_spend_logs_retention_interval",
    // llmswitch's own: the spend journal's directory (docs/gateway-scaleout.md).
    "spend_logs_journal",
];

/// A LiteLLM duration setting (`7d`, `12h`, `30m`) as a length of time.
fn duration_setting(settings: &Map<String, Value>, key: &str) -> Option<Duration> {
    let v = settings.get(key)?;
    let length = match v {
        Value::String(s) => super::time::expiry(s, 0).ok(),
        Value::Number(n) => n.as_i64().map(|s| s.saturating_mul(1_000_000)),
        _ => None,
    };
    match length
        .and_then(|l| u64::try_from(l).ok())
        .filter(|l| *l > 0)
    {
        Some(l) => Some(Duration::from_micros(l)),
        None => {
            super::warn(&format!(
                "general_settings.{key}: expected a duration such as '7d', got {v}; ignored"
            ));
            None
        }
    }
}

/// The PostgreSQL pool for `url` from `general_settings`.
pub fn postgres_options(config: &ProxyConfig, url: &str) -> Result<PostgresOptions, ProxyError> {
    let g = &config.general_settings;
    let mut options = PostgresOptions::new(url);
    match g.get("database_connection_pool_limit") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().filter(|n| (1..=10_000).contains(n)) {
            Some(n) => options.pool_size = n as usize,
            None => {
                return Err(ProxyError::Internal(format!(
                    "general_settings.database_connection_pool_limit: expected a whole number of connections from 1, got {v}"
                )))
            }
        },
    }
    if let Some(t) = seconds(g, "database_connection_timeout") {
        options.timeout = t;
    }
    Ok(options)
}

/// The state plane's settings from the config.
pub fn state_config(config: &ProxyConfig) -> StateConfig {
    let g = &config.general_settings;
    let mut c = StateConfig {
        master_key: config.master_key.clone(),
        spend_logs: !config.disable_spend_logs,
        ..Default::default()
    };
    if let Some(ttl) = seconds(g, "user_api_key_cache_ttl") {
        c.cache_ttl = ttl;
    }
    if let Some(interval) = seconds(g, "proxy_batch_write_at") {
        c.spend_writer.interval = interval;
    }
    c.spend_journal = g
        .get("spend_logs_journal")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from);
    c.spend_log_retention = duration_setting(g, "maximum_spend_logs_retention_period");
    if let Some(every) = duration_setting(g, "maximum_spend_logs_retention_interval") {
        c.retention_interval = every;
    }
    c
}

/// Open the state for `config` (a temporary file for a config given as a value, unless
/// `database_url` says where) and start its plane: the hooks to build the gateway with,
/// and the plane's handle (give it the router's prices with [`StateHooks::set_prices`]).
pub async fn build_hooks(config: &ProxyConfig) -> Result<(Hooks, Arc<StateHooks>), ProxyError> {
    let store = open_store(config).await?;
    let counters: Arc<dyn Counters> = match &config.shared_redis {
        Some(redis) => {
            Arc::new(RedisCounters::new(redis, REDIS_PREFIX).map_err(ProxyError::Internal)?)
        }
        None => Arc::new(LocalCounters::new()),
    };
    let plane = StatePlane::start_with_counters(store, state_config(config), counters)
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    if let Some(redis) = &config.shared_redis {
        super::invalidation::share(&plane, redis, REDIS_PREFIX).map_err(ProxyError::Internal)?;
    }
    Ok(hooks_for(plane, config.master_key.as_ref()))
}

/// The prefix of every Redis key of the shared counters.
pub use crate::router::shared::REDIS_PREFIX;

/// The store `config` names: PostgreSQL for a `postgresql://` `database_url`, else SQLite.
pub async fn open_store(config: &ProxyConfig) -> Result<Arc<dyn Store>, ProxyError> {
    if let Some(url) = config
        .database_url
        .as_deref()
        .filter(|u| is_postgres_url(u))
    {
        let store = PostgresStore::connect(&postgres_options(config, url)?)
            .await
            .map_err(|e| ProxyError::Internal(e.to_string()))?;
        return Ok(Arc::new(store));
    }
    let path = if config.path.is_none() && config.database_url.is_none() {
        None
    } else {
        Some(state_path(config)?)
    };
    let store = tokio::task::spawn_blocking(move || match path {
        Some(p) => SqliteStore::open(&p),
        None => SqliteStore::open_temporary(),
    })
    .await
    .map_err(|e| ProxyError::Internal(format!("opening the state database: {e}")))?
    .map_err(|e| ProxyError::Internal(e.to_string()))?;
    Ok(Arc::new(store))
}

/// The hooks over a started plane.
pub fn hooks_for(
    plane: Arc<StatePlane>,
    master_key: Option<&secrecy::SecretString>,
) -> (Hooks, Arc<StateHooks>) {
    use secrecy::ExposeSecret;
    let state = Arc::new(StateHooks {
        master_hash: master_key
            .map(|k| hash_token(k.expose_secret()))
            .unwrap_or_default(),
        plane: plane.clone(),
        prices: OnceLock::new(),
    });
    let admin_routes = routes(plane)
        .into_iter()
        .map(|(class, r)| {
            let kind = match class {
                RouteClass::Admin => RouteKind::Admin,
                RouteClass::SelfService => RouteKind::SelfService,
            };
            (kind, r)
        })
        .collect();
    let hooks = Hooks {
        authenticator: state.clone(),
        admission: state.clone(),
        spend: state.clone(),
        readiness: Some(state.clone()),
        admin_routes,
    };
    (hooks, state)
}

impl StateHooks {
    pub fn plane(&self) -> &Arc<StatePlane> {
        &self.plane
    }

    /// The model groups' prices, for projecting a request's cost against budgets.
    pub fn set_prices(&self, router: &Router) {
        let _ = self.prices.set(GroupPrices::from_router(router));
    }
}

/// The principal of a caller; `state` keeps the [`Caller`] for admission and the routes.
pub fn principal(caller: Caller) -> Principal {
    let mut p = match &caller {
        Caller::Admin => Principal::admin(),
        Caller::Key(k) => {
            let key = &k.key;
            let team_models = k.team.as_ref().map_or(&[][..], |t| t.models.as_slice());
            let models = effective_models(&key.models, team_models);
            Principal {
                role: Role::Key,
                key_hash: Some(Arc::from(key.token.as_str())),
                key_alias: key.key_alias.as_deref().map(Arc::from),
                team_id: key.team_id.as_deref().map(Arc::from),
                user_id: key.user_id.as_deref().map(Arc::from),
                models: models.map(Arc::from),
                key_models: plain(&key.models).map(Arc::from),
                tags: Arc::from(key.tags()),
                metadata: Some(Arc::new(key.metadata.clone())),
                state: None,
            }
        }
    };
    p.state = Some(Arc::new(caller));
    p
}

/// A model list as the gateway's `Principal::allows_model` reads it: `None` for no
/// restriction (empty, `*`, `all-proxy-models`; `all-team-models` defers to the team).
fn plain(models: &[String]) -> Option<&[String]> {
    let open = models.is_empty()
        || models
            .iter()
            .any(|m| matches!(m.as_str(), "*" | "all-proxy-models" | "all-team-models"));
    (!open).then_some(models)
}

fn allowed_by(list: &[String], model: &str) -> bool {
    list.iter()
        .any(|m| m == model || m.strip_suffix('*').is_some_and(|p| model.starts_with(p)))
}

/// The models a key of a team may use: the entries of each list the other one allows
/// (so `GET /models` lists them and other groups are refused with a 403 up front).
pub fn effective_models(key: &[String], team: &[String]) -> Option<Vec<String>> {
    match (plain(key), plain(team)) {
        (None, None) => None,
        (Some(k), None) => Some(k.to_vec()),
        (None, Some(t)) => Some(t.to_vec()),
        (Some(k), Some(t)) => {
            let mut out: Vec<String> = k.iter().filter(|m| allowed_by(t, m)).cloned().collect();
            for m in t {
                if allowed_by(k, m) && !out.contains(m) {
                    out.push(m.clone());
                }
            }
            Some(out)
        }
    }
}

impl Authenticator for StateHooks {
    fn authenticate<'a>(
        &'a self,
        key: Option<&'a str>,
        _route: RouteKind,
    ) -> BoxFuture<'a, Result<Principal, ProxyError>> {
        Box::pin(async move {
            let caller = self.plane.authenticate(key).await?;
            Ok(principal(caller))
        })
    }
}

struct StateTicket(Admitted);

impl Ticket for StateTicket {
    fn settle(self: Box<Self>, record: &RequestRecord) {
        let tokens = record.prompt_tokens + record.completion_tokens;
        self.0
            .settle(tokens, record.cost.unwrap_or(0.0), clock::now());
    }
}

impl Admission for StateHooks {
    fn admit<'a>(
        &'a self,
        principal: &'a Principal,
        call: &'a CallInfo<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Ticket>, ProxyError>> {
        Box::pin(async move {
            let Some(caller) = caller_of(principal) else {
                return Err(ProxyError::Unauthorized(
                    "Authentication Error, the request's key was not checked by the state plane."
                        .to_owned(),
                ));
            };
            let prices = self.prices.get();
            let project = || {
                prices.map_or(0.0, |p| {
                    p.projected_cost(
                        call.model_group,
                        call.prompt_tokens.get(),
                        call.max_output_tokens,
                    )
                })
            };
            let request = CallRequest {
                model_group: call.model_group,
                end_user: call.end_user,
                projected_cost: &project,
                now: clock::now(),
            };
            let admitted = self.plane.admit(&caller, &request).await?;
            Ok(Box::new(StateTicket(admitted)) as Box<dyn Ticket>)
        })
    }
}

fn call_type(route: RouteKind) -> &'static str {
    match route {
        RouteKind::Embeddings => "aembedding",
        RouteKind::Messages => "anthropic_messages",
        _ => "acompletion",
    }
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

/// A finished request as a `LiteLLM_SpendLogs` row.
pub fn spend_row(r: &RequestRecord, master_hash: &str) -> SpendLogRow {
    let p = &r.principal;
    let api_key = match &p.key_hash {
        Some(h) => h.to_string(),
        None => master_hash.to_owned(),
    };
    let mut metadata = Map::new();
    metadata.insert("user_api_key".into(), json!(api_key));
    metadata.insert("user_api_key_alias".into(), json!(p.key_alias.as_deref()));
    metadata.insert("user_api_key_team_id".into(), json!(p.team_id.as_deref()));
    metadata.insert("user_api_key_user_id".into(), json!(p.user_id.as_deref()));
    metadata.insert("status_code".into(), json!(r.http_status));
    metadata.insert("stream".into(), json!(r.stream));
    if r.attempts > 1 {
        metadata.insert("attempts".into(), json!(r.attempts));
    }
    if let Some(e) = r.error {
        metadata.insert("error_class".into(), json!(e));
    }
    SpendLogRow {
        request_id: r.request_id.clone(),
        call_type: call_type(r.route).to_owned(),
        api_key,
        spend: r.cost.filter(|c| c.is_finite()).unwrap_or(0.0),
        prompt_tokens: i64::try_from(r.prompt_tokens).unwrap_or(i64::MAX),
        completion_tokens: i64::try_from(r.completion_tokens).unwrap_or(i64::MAX),
        total_tokens: i64::try_from(r.prompt_tokens + r.completion_tokens).unwrap_or(i64::MAX),
        start_time: r.started_at,
        end_time: r.started_at.saturating_add(micros(r.latency)),
        request_duration_ms: Some(i64::try_from(r.latency.as_millis()).unwrap_or(i64::MAX)),
        completion_start_time: r
            .time_to_first_token
            .map(|t| r.started_at.saturating_add(micros(t))),
        model: r.model.clone().unwrap_or_else(|| r.model_group.clone()),
        model_id: r.deployment.clone(),
        model_group: Some(r.model_group.clone()),
        custom_llm_provider: r.provider.clone(),
        api_base: None,
        user: p.user_id.as_deref().map(str::to_owned),
        metadata,
        cache_hit: None,
        request_tags: r.tags.clone(),
        team_id: p.team_id.as_deref().map(str::to_owned),
        end_user: r.end_user.clone(),
        status: Some(r.status.as_str().to_owned()),
    }
}

impl SpendSink for StateHooks {
    fn record(&self, record: RequestRecord) {
        self.plane.record(spend_row(&record, &self.master_hash));
    }

    fn flush(&self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.plane.shutdown(grace).await {
                super::warn(&format!(
                    "the spend log could not be written within {grace:?}: {}",
                    self.plane
                        .spend_stats()
                        .last_error()
                        .unwrap_or_else(|| "timed out".to_owned())
                ));
            }
        })
    }

    fn dropped(&self) -> u64 {
        self.plane.spend_dropped()
    }

    fn pending(&self) -> u64 {
        self.plane.spend_stats().pending()
    }

    fn degraded_admissions(&self) -> u64 {
        self.plane.counters().degraded()
    }
}

impl Readiness for StateHooks {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.plane.ready().await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_team_key_may_use_what_both_lists_allow() {
        assert_eq!(effective_models(&[], &[]), None);
        assert_eq!(effective_models(&v(&["a"]), &[]), Some(v(&["a"])));
        assert_eq!(effective_models(&[], &v(&["b"])), Some(v(&["b"])));
        assert_eq!(
            effective_models(&v(&["all-team-models"]), &v(&["b"])),
            Some(v(&["b"]))
        );
        assert_eq!(
            effective_models(&v(&["a", "b"]), &v(&["b", "c"])),
            Some(v(&["b"]))
        );
        assert_eq!(
            effective_models(&v(&["openai/*"]), &v(&["openai/gpt-4o", "claude"])),
            Some(v(&["openai/gpt-4o"]))
        );
        assert_eq!(effective_models(&v(&["a"]), &v(&["*"])), Some(v(&["a"])));
        assert_eq!(effective_models(&v(&["a"]), &v(&["b"])), Some(vec![]));
    }

    #[test]
    fn database_urls_name_sqlite_files() {
        let mut c = ProxyConfig::from_value(
            json!({"model_list": [], "general_settings": {"master_key": "sk-a-real-master-key-123"}}),
            "<config>",
        )
        .unwrap();
        for (url, path) in [
            (
                "sqlite:///var/lib/llmswitch/state.db",
                "/var/lib/llmswitch/state.db",
            ),
            ("sqlite://state.db", "state.db"),
            ("/tmp/x.sqlite", "/tmp/x.sqlite"),
        ] {
            c.database_url = Some(url.to_owned());
            assert_eq!(state_path(&c).unwrap(), PathBuf::from(path), "{url}");
        }
        for url in ["postgresql://u@h/db", "mysql://x"] {
            c.database_url = Some(url.to_owned());
            assert!(state_path(&c).is_err(), "{url}");
        }
    }

    #[test]
    fn requests_become_litellm_spend_log_rows() {
        let key = super::super::store::KeyRow {
            token: "hash".into(),
            key_alias: Some("ci".into()),
            team_id: Some("t".into()),
            user_id: Some("u".into()),
            ..Default::default()
        };
        let caller = Caller::Key(Arc::new(super::super::KeyAuth {
            key: Arc::new(key),
            team: None,
        }));
        let record = RequestRecord {
            request_id: "req-1".into(),
            route: RouteKind::ChatCompletions,
            started_at: 1_000_000,
            principal: Arc::new(principal(caller)),
            end_user: Some("cust".into()),
            model_group: "gpt".into(),
            deployment: Some("gpt-1".into()),
            model: Some("gpt-4o".into()),
            provider: Some("openai".into()),
            prompt_tokens: 9,
            completion_tokens: 6,
            cost: Some(0.021),
            latency: Duration::from_millis(250),
            time_to_first_token: Some(Duration::from_millis(40)),
            status: crate::proxy::hooks::RequestStatus::Success,
            error: None,
            http_status: 200,
            tags: vec!["x".into()],
            stream: true,
            attempts: 2,
        };
        let row = spend_row(&record, "master-hash");
        assert_eq!(row.api_key, "hash");
        assert_eq!(
            (row.call_type.as_str(), row.spend, row.total_tokens),
            ("acompletion", 0.021, 15)
        );
        assert_eq!(row.end_time - row.start_time, 250_000);
        assert_eq!(row.completion_start_time, Some(1_040_000));
        assert_eq!(row.request_duration_ms, Some(250));
        assert_eq!(
            (row.model.as_str(), row.model_id.as_deref()),
            ("gpt-4o", Some("gpt-1"))
        );
        assert_eq!(
            (row.team_id.as_deref(), row.user.as_deref()),
            (Some("t"), Some("u"))
        );
        assert_eq!(row.end_user.as_deref(), Some("cust"));
        assert_eq!(row.metadata["user_api_key_alias"], json!("ci"));
        assert_eq!(row.metadata["attempts"], json!(2));
        assert_eq!(row.status.as_deref(), Some("success"));
        let admin = RequestRecord {
            principal: Arc::new(principal(Caller::Admin)),
            ..record
        };
        assert_eq!(spend_row(&admin, "master-hash").api_key, "master-hash");
    }
}
