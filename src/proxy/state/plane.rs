//! [`StatePlane`]: who is calling (master key or virtual key, with its team), whether a
//! model call may run now (model lists, blocks, limits, budgets), and what it cost (the
//! spend log). Keys are read through the in-process cache; teams and the end users that
//! carry any restriction are held in memory (loaded at start, refreshed every TTL), so
//! a request's steady path never waits on the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;

use super::cache::{Cached, KeyCache};
use super::counters::{
    BudgetLimit, Counters, EntityLimits, Lease, LocalCounters, Refusal, ScopeId, ScopeKind,
};
use super::error::{py_float, ApiError, BUDGET_EXCEEDED_STATUS};
use super::journal::{adopt_orphans, Journal, ADOPT_EVERY};
use super::spend_writer::{SpendWriter, SpendWriterConfig, SpendWriterStats};
use super::store::{BudgetOwner, EndUserRow, KeyRow, SpendLogRow, Store, StoreError, TeamRow};
use super::time::{to_iso, BudgetWindow};
use super::token::{abbreviate, hash_token};
use crate::proxy::principal::Principal;
use crate::spend::clock::{self, Micros};

/// Settings of the state plane.
#[derive(Clone)]
pub struct StateConfig {
    /// `general_settings.master_key`; `None`: no auth at all (every caller is admin).
    pub master_key: Option<SecretString>,
    /// How long a key, team or end user read from the database is used before it is read
    /// again (in the background).
    pub cache_ttl: Duration,
    /// Keys held in the cache at most.
    pub max_cached_keys: usize,
    pub spend_writer: SpendWriterConfig,
    /// `false` with `general_settings.disable_spend_logs`: no log rows, but spend is still
    /// added to keys, teams and end users.
    pub spend_logs: bool,
    /// How often budgets whose window ended are reset in the database (the live counters
    /// reset at the exact boundary on their own).
    pub reset_interval: Duration,
    /// `litellm_settings.budget_exceeded_status_code` (LiteLLM 1.106.2: 422).
    pub budget_exceeded_status: u16,
    /// `general_settings.maximum_spend_logs_retention_period`: spend log rows older than
    /// this are deleted (`None`: kept forever, LiteLLM's default).
    pub spend_log_retention: Option<Duration>,
    /// `general_settings.maximum_spend_logs_retention_interval` (LiteLLM: 1 day): how often.
    pub retention_interval: Duration,
    /// `general_settings.spend_logs_journal`: the directory of the spend journal (see
    /// [`super::journal`]); `None`: rows wait in memory only until their batch is written.
    pub spend_journal: Option<std::path::PathBuf>,
}

/// Rows deleted per statement by the retention pass.
pub const RETENTION_BATCH: u64 = 1000;

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            master_key: None,
            cache_ttl: Duration::from_secs(60),
            max_cached_keys: 100_000,
            spend_writer: SpendWriterConfig::default(),
            spend_logs: true,
            reset_interval: Duration::from_secs(30),
            budget_exceeded_status: BUDGET_EXCEEDED_STATUS,
            spend_log_retention: None,
            retention_interval: Duration::from_secs(24 * 3600),
            spend_journal: None,
        }
    }
}

/// A virtual key as authenticated: its row and its team's.
#[derive(Debug, Clone)]
pub struct KeyAuth {
    pub key: Arc<KeyRow>,
    pub team: Option<Arc<TeamRow>>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The master key (or anyone, with no master key configured).
    Admin,
    Key(Arc<KeyAuth>),
}

/// The caller behind a principal: the one the state plane authenticated, or the master
/// key's for an admin principal made elsewhere; `None` for a virtual key it did not see.
pub fn caller_of(principal: &Principal) -> Option<Caller> {
    match principal
        .state
        .as_ref()
        .and_then(|s| s.downcast_ref::<Caller>())
    {
        Some(c) => Some(c.clone()),
        None => principal.is_admin().then_some(Caller::Admin),
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin)
    }

    pub fn key(&self) -> Option<&KeyAuth> {
        match self {
            Caller::Key(k) => Some(k),
            Caller::Admin => None,
        }
    }
}

/// A model call asking to run.
#[derive(Clone, Copy)]
pub struct CallRequest<'a> {
    /// The model group asked for.
    pub model_group: &'a str,
    /// The request's `user` field.
    pub end_user: Option<&'a str>,
    /// USD the call may cost (prompt + its output allowance at the group's prices); 0 when
    /// unknown, in which case budgets refuse only once spend has reached them. Called only
    /// when a budget applies (counting the prompt's tokens costs microseconds).
    pub projected_cost: &'a (dyn Fn() -> f64 + Send + Sync),
    pub now: Micros,
}

/// An admitted call's hold on its limits and budgets. Settle it when the call ends;
/// dropping it unsettled releases everything without charging.
pub struct Admitted {
    lease: Option<Box<dyn Lease>>,
}

impl Admitted {
    pub fn settle(self, tokens: u64, cost: f64, now: Micros) {
        if let Some(l) = self.lease {
            l.settle(tokens, if cost.is_finite() { cost } else { 0.0 }, now);
        }
    }
}

/// The state plane.
pub struct StatePlane {
    store: Arc<dyn Store>,
    config: StateConfig,
    keys: KeyCache,
    teams: RwLock<HashMap<String, Arc<TeamRow>>>,
    /// End users with a budget, a model list or a block.
    end_users: RwLock<HashMap<String, Arc<EndUserRow>>>,
    counters: Arc<dyn Counters>,
    spend: SpendWriter,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Told of every change this process makes to a key, team or end user (the other
    /// replicas' caches drop theirs: [`super::invalidation`]).
    changes: std::sync::OnceLock<ChangeFeed>,
}

/// A key, team or end user changed (updated, blocked, deleted, regenerated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The key with this hash (`token`).
    Key(String),
    Team(String),
    EndUser(String),
}

/// Where this process's changes are announced.
pub type ChangeFeed = Arc<dyn Fn(Changed) + Send + Sync>;

fn read<T: Clone>(lock: &RwLock<HashMap<String, T>>, id: &str) -> Option<T> {
    match lock.read() {
        Ok(g) => g.get(id).cloned(),
        Err(p) => p.into_inner().get(id).cloned(),
    }
}

fn write<T>(
    lock: &RwLock<HashMap<String, T>>,
) -> std::sync::RwLockWriteGuard<'_, HashMap<String, T>> {
    match lock.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Whether a model list lets `model` through: empty (no restriction), the group itself,
/// `*`/`all-proxy-models`, or a `prefix*` pattern.
pub fn model_allowed(models: &[String], model: &str) -> bool {
    models.is_empty()
        || models.iter().any(|m| {
            m == model
                || m == "*"
                || m == "all-proxy-models"
                || m.strip_suffix('*').is_some_and(|p| model.starts_with(p))
        })
}

fn window(duration: Option<&str>, reset_at: Option<Micros>, now: Micros) -> Option<BudgetWindow> {
    duration.and_then(|d| BudgetWindow::parse(d, reset_at, now).ok())
}

/// Spend stored with a row for its current window (none if its reset is overdue).
fn stored_spend(spend: f64, reset_at: Option<Micros>, now: Micros) -> f64 {
    if reset_at.is_some_and(|r| r <= now) {
        0.0
    } else {
        spend
    }
}

fn limit(v: Option<i64>) -> Option<u64> {
    v.map(|n| u64::try_from(n).unwrap_or(0))
}

fn key_limits(k: &KeyRow, now: Micros) -> EntityLimits {
    EntityLimits {
        scope: ScopeId::new(ScopeKind::Key, &k.token),
        rpm: limit(k.rpm_limit),
        tpm: limit(k.tpm_limit),
        parallel: limit(k.max_parallel_requests),
        budget: k.max_budget.map(|max| BudgetLimit {
            max_budget: max,
            window: window(k.budget_duration.as_deref(), k.budget_reset_at, now),
            stored_spend: stored_spend(k.spend, k.budget_reset_at, now),
        }),
    }
}

fn team_limits(t: &TeamRow, now: Micros) -> EntityLimits {
    EntityLimits {
        scope: ScopeId::new(ScopeKind::Team, &t.team_id),
        rpm: limit(t.rpm_limit),
        tpm: limit(t.tpm_limit),
        parallel: limit(t.max_parallel_requests),
        budget: t.max_budget.map(|max| BudgetLimit {
            max_budget: max,
            window: window(t.budget_duration.as_deref(), t.budget_reset_at, now),
            stored_spend: stored_spend(t.spend, t.budget_reset_at, now),
        }),
    }
}

fn end_user_limits(e: &EndUserRow, now: Micros) -> EntityLimits {
    let mut limits = EntityLimits::new(ScopeId::new(ScopeKind::EndUser, &e.user_id));
    if let Some(b) = &e.budget {
        limits.rpm = limit(b.rpm_limit);
        limits.tpm = limit(b.tpm_limit);
        limits.parallel = limit(b.max_parallel_requests);
        limits.budget = b.max_budget.map(|max| BudgetLimit {
            max_budget: max,
            window: window(b.budget_duration.as_deref(), b.budget_reset_at, now),
            stored_spend: stored_spend(e.spend, b.budget_reset_at, now),
        });
    }
    limits
}

/// `sk-...abcd` as LiteLLM shows a key's name in messages.
fn is_masked_key_name(name: &str) -> bool {
    name.strip_prefix("sk-...").is_some_and(|tail| {
        tail.len() <= 4
            && tail
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

impl StatePlane {
    /// Load teams and restricted end users, and start the spend writer and the background
    /// loops (budget resets, refreshes) on the current tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        config: StateConfig,
    ) -> Result<Arc<Self>, StoreError> {
        Self::start_with_counters(store, config, Arc::new(LocalCounters::new())).await
    }

    /// [`StatePlane::start`] with other counters (shared ones, later).
    pub async fn start_with_counters(
        store: Arc<dyn Store>,
        config: StateConfig,
        counters: Arc<dyn Counters>,
    ) -> Result<Arc<Self>, StoreError> {
        let mut writer_config = config.spend_writer;
        writer_config.keep_logs = config.spend_logs;
        let journal = match &config.spend_journal {
            // Replaying needs the log rows to tell what was written already.
            Some(_) if !config.spend_logs => {
                super::warn(
                    "general_settings.spend_logs_journal is ignored with disable_spend_logs",
                );
                None
            }
            Some(dir) => {
                let journal = Journal::open(dir).map_err(|e| StoreError::Backend {
                    location: dir.display().to_string(),
                    message: e.to_string(),
                })?;
                // What killed gateways left behind is written before this one serves.
                match adopt_orphans(dir, &store, Some(&journal)).await {
                    Ok(0) => {}
                    Ok(n) => super::warn(&format!(
                        "spend journal {}: wrote {n} rows a stopped gateway had not written",
                        dir.display()
                    )),
                    Err(e) => super::warn(&format!(
                        "spend journal {}: replaying a stopped gateway's rows failed (retried later): {e}",
                        dir.display()
                    )),
                }
                Some(Arc::new(journal))
            }
            None => None,
        };
        let plane = Arc::new(StatePlane {
            spend: SpendWriter::start_with_journal(store.clone(), writer_config, journal.clone()),
            keys: KeyCache::new(config.cache_ttl, config.max_cached_keys),
            teams: RwLock::new(HashMap::new()),
            end_users: RwLock::new(HashMap::new()),
            counters,
            tasks: Mutex::new(Vec::new()),
            changes: std::sync::OnceLock::new(),
            store,
            config,
        });
        plane.reload().await?;
        let weak = Arc::downgrade(&plane);
        let reset_every = plane.config.reset_interval;
        let refresh_every = plane.config.cache_ttl;
        let resets = tokio::spawn({
            let weak = weak.clone();
            async move {
                loop {
                    tokio::time::sleep(reset_every).await;
                    let Some(plane) = weak.upgrade() else { return };
                    if let Err(e) = plane.reset_due_budgets(clock::now()).await {
                        super::warn(&format!("budget reset failed (retried later): {e}"));
                    }
                }
            }
        });
        let refreshes = tokio::spawn(async move {
            loop {
                tokio::time::sleep(refresh_every).await;
                let Some(plane) = weak.upgrade() else { return };
                if let Err(e) = plane.reload().await {
                    super::warn(&format!("reloading teams and end users failed: {e}"));
                }
            }
        });
        let retention = plane.config.spend_log_retention.map(|keep| {
            let every = plane.config.retention_interval;
            let weak = Arc::downgrade(&plane);
            tokio::spawn(async move {
                loop {
                    let Some(plane) = weak.upgrade() else { return };
                    let cutoff = clock::now() - i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
                    if let Err(e) = plane.delete_spend_logs_before(cutoff).await {
                        super::warn(&format!("spend log retention failed (retried later): {e}"));
                    }
                    drop(plane);
                    tokio::time::sleep(every).await;
                }
            })
        });
        let adoption = journal.map(|journal| {
            let store = plane.store.clone();
            let journal = Arc::downgrade(&journal);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ADOPT_EVERY).await;
                    let Some(journal) = journal.upgrade() else { return };
                    if let Err(e) = adopt_orphans(journal.dir(), &store, Some(&journal)).await {
                        super::warn(&format!(
                            "spend journal {}: replaying a stopped gateway's rows failed (retried later): {e}",
                            journal.dir().display()
                        ));
                    }
                }
            })
        });
        if let Ok(mut tasks) = plane.tasks.lock() {
            tasks.extend(adoption);
            tasks.push(resets);
            tasks.push(refreshes);
            tasks.extend(retention);
        }
        Ok(plane)
    }

    /// Delete spend log rows that started before `cutoff`, [`RETENTION_BATCH`] rows per
    /// statement, in the database (nothing is loaded). Returns how many went.
    pub async fn delete_spend_logs_before(&self, cutoff: Micros) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self
                .store
                .delete_spend_logs_before(cutoff, RETENTION_BATCH)
                .await?;
            total += n;
            if n < RETENTION_BATCH {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Read all teams and the end users with restrictions again.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let teams = self.store.list_teams().await?;
        let end_users = self.store.list_end_users(true).await?;
        *write(&self.teams) = teams
            .into_iter()
            .map(|t| (t.team_id.clone(), Arc::new(t)))
            .collect();
        *write(&self.end_users) = end_users
            .into_iter()
            .map(|e| (e.user_id.clone(), Arc::new(e)))
            .collect();
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    pub fn counters(&self) -> &Arc<dyn Counters> {
        &self.counters
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    // ------------------------------------------------------------ authentication

    /// Whether `presented` is the master key (constant time).
    pub fn is_master_key(&self, presented: &str) -> bool {
        self.config
            .master_key
            .as_ref()
            .is_some_and(|m| bool::from(m.expose_secret().as_bytes().ct_eq(presented.as_bytes())))
    }

    /// The caller presenting `presented` (the key from `Authorization: Bearer`,
    /// `x-api-key`, `api-key` or `x-goog-api-key`).
    pub async fn authenticate(
        self: &Arc<Self>,
        presented: Option<&str>,
    ) -> Result<Caller, ApiError> {
        if self.config.master_key.is_none() {
            return Ok(Caller::Admin);
        }
        let Some(presented) = presented.filter(|k| !k.is_empty()) else {
            return Err(ApiError::auth(
                "Authentication Error, No api key passed in.",
            ));
        };
        if self.is_master_key(presented) {
            return Ok(Caller::Admin);
        }
        let token = hash_token(presented);
        let invalid = || {
            ApiError::auth(format!(
                "Authentication Error, Invalid proxy server token passed. Received API Key = {}, Key Hash (Token) ={token}. Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
                abbreviate(presented)
            ))
        };
        let Some(key) = self.key_row(&token).await? else {
            return Err(invalid());
        };
        let now = clock::now();
        if key.is_blocked() {
            return Err(ApiError::auth(
                "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
            ));
        }
        if let Some(expires) = key.expires.filter(|e| *e < now) {
            return Err(ApiError::auth(format!(
                "Authentication Error - Expired Key. Key Expiry time {} and current time {}",
                to_iso(expires),
                to_iso(now)
            )));
        }
        let team = match key.team_id.as_deref() {
            None => None,
            Some(id) => {
                let Some(team) = read(&self.teams, id) else {
                    return Err(ApiError::auth(format!(
                        "Authentication Error, Team={id} of this key does not exist."
                    )));
                };
                if team.blocked {
                    return Err(ApiError::auth(format!(
                        "Authentication Error, Team={id} is blocked. Update via `/team/unblock` if you're an admin."
                    )));
                }
                Some(team)
            }
        };
        Ok(Caller::Key(Arc::new(KeyAuth { key, team })))
    }

    /// The key with this hash, from the cache (refreshed in the background when stale) or
    /// the database.
    pub(crate) async fn key_row(
        self: &Arc<Self>,
        token: &str,
    ) -> Result<Option<Arc<KeyRow>>, ApiError> {
        match self.keys.get(token) {
            Cached::Fresh(row) => Ok(row),
            Cached::Stale(row) => {
                if self.keys.start_refresh(token) {
                    let plane = self.clone();
                    let token = token.to_owned();
                    tokio::spawn(async move {
                        let started = Instant::now();
                        if let Ok(row) = plane.store.get_key(token.clone()).await {
                            plane.keys.put_read(&token, row.map(Arc::new), started);
                        }
                        plane.keys.end_refresh(&token);
                    });
                }
                Ok(Some(row))
            }
            Cached::Miss => {
                let started = Instant::now();
                let row = self.store.get_key(token.to_owned()).await?.map(Arc::new);
                self.keys.put_read(token, row.clone(), started);
                Ok(row)
            }
        }
    }

    /// Put this process's new version of a key into the cache.
    pub(crate) fn cache_key(&self, token: &str, row: Option<KeyRow>) {
        self.keys.put(token, row.map(Arc::new));
        self.announce(Changed::Key(token.to_owned()));
    }

    /// Tell `feed` of every change this process makes to a key, team or end user (once;
    /// `false` if a feed is set).
    pub fn on_change(&self, feed: ChangeFeed) -> bool {
        self.changes.set(feed).is_ok()
    }

    fn announce(&self, what: Changed) {
        if let Some(feed) = self.changes.get() {
            feed(what);
        }
    }

    /// Another replica changed `what`: drop the cached key (read again on its next use), or
    /// read the team or end user again now.
    pub async fn changed_elsewhere(&self, what: Changed) -> Result<(), StoreError> {
        match what {
            Changed::Key(token) => self.keys.invalidate(&token),
            Changed::Team(id) => {
                let row = self.store.get_team(id.clone()).await?;
                self.set_team(&id, row);
            }
            Changed::EndUser(id) => {
                let row = self.store.get_end_user(id.clone()).await?;
                self.set_end_user(&id, row);
            }
        }
        Ok(())
    }

    /// Changes elsewhere may have been missed (the feed was down): forget every cached key
    /// and read teams and end users again.
    pub async fn resync(&self) -> Result<(), StoreError> {
        self.keys.invalidate_all();
        self.reload().await
    }

    /// Register a background task that ends with the plane.
    pub(crate) fn add_task(&self, task: JoinHandle<()>) {
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(task),
            Err(p) => p.into_inner().push(task),
        }
    }

    pub(crate) fn team(&self, team_id: &str) -> Option<Arc<TeamRow>> {
        read(&self.teams, team_id)
    }

    pub(crate) fn cache_team(&self, team_id: &str, row: Option<TeamRow>) {
        self.set_team(team_id, row);
        self.announce(Changed::Team(team_id.to_owned()));
    }

    fn set_team(&self, team_id: &str, row: Option<TeamRow>) {
        let mut teams = write(&self.teams);
        match row {
            Some(t) => {
                teams.insert(team_id.to_owned(), Arc::new(t));
            }
            None => {
                teams.remove(team_id);
            }
        }
    }

    pub(crate) fn cache_end_user(&self, user_id: &str, row: Option<EndUserRow>) {
        self.set_end_user(user_id, row);
        self.announce(Changed::EndUser(user_id.to_owned()));
    }

    fn set_end_user(&self, user_id: &str, row: Option<EndUserRow>) {
        let mut users = write(&self.end_users);
        match row.filter(EndUserRow::is_restricted) {
            Some(e) => {
                users.insert(user_id.to_owned(), Arc::new(e));
            }
            None => {
                users.remove(user_id);
            }
        }
    }

    // ------------------------------------------------------------ admission

    /// Decide whether a model call may run now: the key's and team's model lists (403),
    /// the end user's block and model list (403), then every limit and budget of the key,
    /// its team and the end user at once (429 with `retry-after`, or LiteLLM's
    /// `budget_exceeded`).
    pub async fn admit(
        &self,
        caller: &Caller,
        call: &CallRequest<'_>,
    ) -> Result<Admitted, ApiError> {
        let model = call.model_group;
        let mut entities = Vec::with_capacity(3);
        if let Caller::Key(auth) = caller {
            let key = &auth.key;
            let team_models = auth.team.as_ref().map_or(&[][..], |t| t.models.as_slice());
            let key_allows = key.models.iter().any(|m| m == "all-team-models")
                || model_allowed(&key.models, model);
            if !key_allows {
                return Err(model_denied("key_model_access_denied", model));
            }
            if !model_allowed(team_models, model) {
                return Err(model_denied("team_model_access_denied", model));
            }
            entities.push(key_limits(key, call.now));
            if let Some(team) = &auth.team {
                entities.push(team_limits(team, call.now));
            }
        }
        if let Some(user) = call.end_user.and_then(|u| read(&self.end_users, u)) {
            if user.blocked {
                return Err(ApiError::new(
                    403,
                    "auth_error",
                    format!(
                        "End user {} is blocked. Update via `/customer/unblock` if you're an admin.",
                        user.user_id
                    ),
                ));
            }
            if !model_allowed(&user.models, model) {
                return Err(ApiError::new(
                    403,
                    "customer_model_access_denied",
                    format!(
                        "The requested model '{model}' is not in the allowed models for this customer. Check the models this customer can use and try again."
                    ),
                )
                .with_param("model"));
            }
            entities.push(end_user_limits(&user, call.now));
        }
        if entities.iter().all(EntityLimits::is_unlimited) {
            return Ok(Admitted { lease: None });
        }
        let projected = if entities.iter().any(|e| e.budget.is_some()) {
            (call.projected_cost)().max(0.0)
        } else {
            0.0
        };
        match self.counters.admit(&entities, projected, call.now).await {
            Ok(lease) => Ok(Admitted { lease: Some(lease) }),
            Err(refusal) => Err(self.refusal_error(caller, refusal)),
        }
    }

    fn refusal_error(&self, caller: &Caller, refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::BudgetExceeded {
                scope,
                spent,
                max_budget,
            } => {
                let (spent, max) = (py_float(spent), py_float(max_budget));
                let message = match scope.kind {
                    ScopeKind::Key => {
                        let key = caller.key().map(|k| k.key.clone());
                        let label = key
                            .as_ref()
                            .and_then(|k| k.key_alias.clone())
                            .unwrap_or_else(|| "key".to_owned());
                        let descriptor = match key.as_ref().and_then(|k| k.key_name.as_deref()) {
                            Some(name) if is_masked_key_name(name) => format!("{label} ({name})"),
                            _ => label,
                        };
                        format!("Budget has been exceeded! Key={descriptor} Current cost: {spent}, Max budget: {max}")
                    }
                    ScopeKind::Team => format!(
                        "Budget has been exceeded! Team={} Current cost: {spent}, Max budget: {max}",
                        scope.id
                    ),
                    ScopeKind::EndUser => format!(
                        "ExceededBudget: End User={} over budget. Spend={spent}, Budget={max}",
                        scope.id
                    ),
                };
                ApiError::new(
                    self.config.budget_exceeded_status,
                    "budget_exceeded",
                    message,
                )
            }
            Refusal::RateLimited {
                scope,
                kind,
                limit,
                retry_after,
                resets_at,
            } => {
                let resets = clock::utc_iso(resets_at)
                    .replace('T', " ")
                    .replace('Z', " UTC");
                let mut e = ApiError::new(
                    429,
                    "rate_limit_error",
                    format!(
                        "Rate limit exceeded for {}: {}. Limit type: {}. Current limit: {limit}, Remaining: 0. Limit resets at: {resets}",
                        scope.kind.descriptor(),
                        scope.id,
                        kind.as_str()
                    ),
                );
                e.retry_after = Some(retry_after);
                e
            }
        }
    }

    // ------------------------------------------------------------ spend

    /// Queue a request's spend-log row (never waits; see [`SpendWriter::record`]).
    pub fn record(&self, row: SpendLogRow) -> bool {
        self.spend.record(row)
    }

    /// Write every row queued so far, within `grace`.
    pub async fn flush(&self, grace: Duration) -> bool {
        self.spend.flush(grace).await
    }

    /// Rows dropped because the spend queue was full (for `/metrics`).
    pub fn spend_dropped(&self) -> u64 {
        self.spend.dropped()
    }

    pub fn spend_stats(&self) -> &Arc<SpendWriterStats> {
        self.spend.stats()
    }

    /// Flush the spend log (within `grace`) and stop the background loops.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let flushed = self.flush(grace).await;
        if let Ok(mut tasks) = self.tasks.lock() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
        flushed
    }

    /// Reset, in the database, budgets whose window ended (their live counters already
    /// started again at the boundary), and bring the cached rows in line.
    pub async fn reset_due_budgets(&self, now: Micros) -> Result<u64, StoreError> {
        let mut due = self.store.due_resets(now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        for r in &mut due {
            r.next_reset_at = BudgetWindow::parse(&r.budget_duration, Some(r.reset_at), now)
                .map(|w| w.next_reset(now))
                // A duration that no longer parses: check again in a day.
                .unwrap_or(now + clock::MICROS_PER_DAY);
        }
        let applied = self.store.apply_resets(due.clone()).await?;
        for r in &due {
            let next = r.next_reset_at;
            match r.owner {
                BudgetOwner::Key => self.keys.modify(&r.id, |k| {
                    k.spend = 0.0;
                    k.budget_reset_at = Some(next);
                }),
                BudgetOwner::Team => {
                    let mut teams = write(&self.teams);
                    if let Some(t) = teams.get_mut(&r.id) {
                        let mut t2 = TeamRow::clone(t);
                        t2.spend = 0.0;
                        t2.budget_reset_at = Some(next);
                        *t = Arc::new(t2);
                    }
                }
                BudgetOwner::Budget => {
                    let mut users = write(&self.end_users);
                    for e in users.values_mut() {
                        if e.budget_id.as_deref() == Some(r.id.as_str()) {
                            let mut e2 = EndUserRow::clone(e);
                            e2.spend = 0.0;
                            if let Some(b) = &mut e2.budget {
                                b.budget_reset_at = Some(next);
                            }
                            *e = Arc::new(e2);
                        }
                    }
                }
            }
        }
        Ok(applied)
    }
}

impl Drop for StatePlane {
    fn drop(&mut self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
    }
}

fn model_denied(error_type: &'static str, model: &str) -> ApiError {
    ApiError::new(
        403,
        error_type,
        format!(
            "The requested model '{model}' is not available for this API key, or the model name is invalid. Check the models available to you and try again."
        ),
    )
    .with_param("model")
}
