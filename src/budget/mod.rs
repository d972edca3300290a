//! Budget policies: a spending limit per user, project, key, tag (or everything) over a
//! [`Period`], with actions at thresholds: **block** (refuse the call before any network
//! I/O), **downgrade** (send it to a cheaper model instead) and **alert** (report the first
//! time spend crosses a fraction of the limit in a period).
//!
//! Admission reserves the call's projected cost ([`projected_cost`]) against every
//! matching budget under one lock; the real cost is settled when the call ends and the
//! reservation released. A call is admitted only if `spent + reserved + projected` stays
//! within the limit, so concurrent calls never overshoot a budget by more than the error
//! of their own estimates. The call pipeline ([`crate::call::prepare`]) does this for
//! `completion`, the router and the proxy alike.

pub mod manager;
pub mod period;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::json;

use crate::cost::{self, CustomPricing};
use crate::error::{ErrorKind, LlmError};
use crate::spend::clock::{self, Micros};
use crate::spend::{CallMetadata, Ledger, SpendError};
use crate::types::{ChatRequest, Usage};
pub use period::{Period, PeriodError};

/// Output tokens assumed for a call that sets no `max_tokens`/`max_completion_tokens`
/// (capped at the model's output limit) when projecting its cost.
pub const DEFAULT_PROJECTED_OUTPUT_TOKENS: u64 = 1024;

/// Relative slack in threshold comparisons, so that float sums that land exactly on a
/// limit (20 × $0.05 = $1) count as reaching it, not as passing it.
const EPSILON: f64 = 1e-9;

/// Whose calls a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every call.
    Global,
    User,
    Project,
    /// The metadata `key`: the name of the credential a call came in with (proxy keys).
    Key,
    Tag,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "all" => Scope::Global,
            "user" => Scope::User,
            "project" => Scope::Project,
            "key" | "api_key" => Scope::Key,
            "tag" | "tags" => Scope::Tag,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Key => "key",
            Scope::Tag => "tag",
        }
    }

    /// The values a call has in this scope.
    fn values(self, meta: Option<&CallMetadata>) -> Vec<&str> {
        let Some(m) = meta else {
            return if self == Scope::Global {
                vec![""]
            } else {
                Vec::new()
            };
        };
        match self {
            Scope::Global => vec![""],
            Scope::User => m.user.as_deref().into_iter().collect(),
            Scope::Project => m.project.as_deref().into_iter().collect(),
            Scope::Key => m.key.as_deref().into_iter().collect(),
            Scope::Tag => {
                let mut tags: Vec<&str> = m.tags.iter().map(String::as_str).collect();
                tags.sort_unstable();
                tags.dedup();
                tags
            }
        }
    }
}

/// Where a downgrade sends a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DowngradeTo {
    /// Model asked for → cheaper model. Keys match the caller's model string, or the
    /// resolved `provider/model`, or the bare model name.
    pub map: Vec<(String, String)>,
    /// For any model not in `map`.
    pub default: Option<String>,
}

impl DowngradeTo {
    /// Every model goes to `model`.
    pub fn model(model: impl Into<String>) -> Self {
        DowngradeTo {
            map: Vec::new(),
            default: Some(model.into()),
        }
    }

    fn target(&self, names: &ModelNames<'_>) -> Option<&str> {
        let qualified = format!("{}/{}", names.provider, names.model);
        let found = self
            .map
            .iter()
            .find(|(from, _)| from == names.requested || *from == qualified || from == names.model)
            .map(|(_, to)| to.as_str())
            .or(self.default.as_deref())?;
        // Already on the cheaper model: nothing to do.
        (found != names.requested && found != qualified && found != names.model).then_some(found)
    }
}

/// What a budget does when spend reaches a fraction `at` of its limit.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Refuse calls that would take spend past `at × limit` (`BudgetExceededError`).
    Block { at: f64 },
    /// Send calls that would take spend past `at × limit` to a cheaper model.
    Downgrade { at: f64, to: DowngradeTo },
    /// Report, once per period, that settled spend reached `at × limit`.
    Alert { at: f64 },
}

impl Action {
    fn threshold(&self) -> f64 {
        match self {
            Action::Block { at } | Action::Downgrade { at, .. } | Action::Alert { at } => *at,
        }
    }
}

/// A budget's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSpec {
    /// Unique; adding a budget with a name in use replaces it.
    pub name: String,
    pub scope: Scope,
    /// The user/project/key/tag counted; `None`: each one separately (a limit per user).
    pub member: Option<String>,
    /// USD per period.
    pub limit: f64,
    pub period: Period,
    /// Where fixed-length windows start (default: when the budget is added).
    pub start: Option<Micros>,
    /// Default: block at 100 %.
    pub actions: Vec<Action>,
}

impl BudgetSpec {
    /// A budget that blocks at its limit, named `scope:member:period`.
    pub fn new(scope: Scope, member: Option<&str>, limit: f64, period: Period) -> Self {
        BudgetSpec {
            name: default_name(scope, member, period),
            scope,
            member: member.map(str::to_owned),
            limit,
            period,
            start: None,
            actions: vec![Action::Block { at: 1.0 }],
        }
    }

    /// The counter keys a call charges in this budget (none: it does not apply).
    pub fn members<'a>(&'a self, meta: Option<&'a CallMetadata>) -> Vec<&'a str> {
        let values = self.scope.values(meta);
        match (&self.member, self.scope) {
            (_, Scope::Global) => vec![""],
            (Some(m), _) => values
                .into_iter()
                .filter(|v| *v == m.as_str())
                .take(1)
                .collect(),
            (None, _) => values,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.limit.is_finite() && self.limit >= 0.0) {
            return Err(format!(
                "budget limit must be a non-negative number of USD, got {}",
                self.limit
            ));
        }
        for a in &self.actions {
            let t = a.threshold();
            if !(t.is_finite() && t > 0.0) {
                return Err(format!(
                    "action thresholds are fractions of the limit (0.8 for 80 %), got {t}"
                ));
            }
            if let Action::Downgrade { to, .. } = a {
                if to.default.is_none() && to.map.is_empty() {
                    return Err("a downgrade needs a model to switch to".to_owned());
                }
            }
        }
        Ok(())
    }
}

/// The default budget name: `user:alice:daily`, `tag:*:30d`, `global:monthly`.
pub fn default_name(scope: Scope, member: Option<&str>, period: Period) -> String {
    match scope {
        Scope::Global => format!("global:{period}"),
        _ => format!("{}:{}:{period}", scope.as_str(), member.unwrap_or("*")),
    }
}

/// The model of a call, as asked for and as resolved.
#[derive(Debug, Clone, Copy)]
pub struct ModelNames<'a> {
    pub requested: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
}

/// A budget's spend in one period for one member.
#[derive(Debug, Clone)]
struct Counter {
    window: (Micros, Micros),
    spent: f64,
    reserved: f64,
    /// Per action: whether its alert fired in this window.
    fired: Vec<bool>,
}

impl Counter {
    /// Move to the window that contains `now`: spend and alerts start again; reservations
    /// of calls still in flight carry over (they will be charged in the new window).
    fn roll(&mut self, spec: &BudgetSpec, anchor: Micros, now: Micros) {
        if now >= self.window.0 && now < self.window.1 {
            return;
        }
        self.window = spec.period.window(anchor, now);
        self.spent = 0.0;
        self.fired.iter_mut().for_each(|f| *f = false);
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    spec: BudgetSpec,
    anchor: Micros,
    counters: HashMap<String, Counter>,
}

impl Entry {
    fn counter(&mut self, member: &str, now: Micros) -> &mut Counter {
        let (spec, anchor) = (&self.spec, self.anchor);
        let c = self
            .counters
            .entry(member.to_owned())
            .or_insert_with(|| Counter {
                window: spec.period.window(anchor, now),
                spent: 0.0,
                reserved: 0.0,
                fired: vec![false; spec.actions.len()],
            });
        c.roll(spec, anchor, now);
        c
    }
}

/// A threshold crossing, to hand to the budget's alert callback.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub budget: String,
    /// The index of the alert action in the budget's actions.
    pub action: usize,
    pub scope: Scope,
    /// The user/project/key/tag ("" for a global budget).
    pub member: String,
    /// The fraction of the limit crossed (0.8).
    pub threshold: f64,
    pub limit: f64,
    pub spent: f64,
    pub period: Period,
    pub window_start: Micros,
    pub window_end: Micros,
    pub at: Micros,
}

/// A budget's state for one member, as reported by [`BudgetRegistry::status`].
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub budget: String,
    pub scope: Scope,
    pub member: String,
    pub limit: f64,
    pub spent: f64,
    pub reserved: f64,
    pub period: Period,
    pub window_start: Micros,
    pub window_end: Micros,
}

/// The outcome of admission.
#[derive(Debug)]
pub enum Admission {
    /// Go ahead; the reservation (if any budget applies) settles or releases when dropped.
    Admitted(Option<Reservation>),
    /// A budget wants the call on a cheaper model: admit again with that model.
    Downgrade { to: String, budget: String },
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    alerts: Vec<AlertEvent>,
    next_id: u64,
}

/// Every budget in force, their counters, and alerts waiting for delivery.
#[derive(Debug, Default)]
pub struct BudgetRegistry {
    /// Whether any budget exists: the pipeline skips all budget work when not.
    active: AtomicBool,
    state: Mutex<State>,
}

/// The process-wide registry the call pipeline checks.
pub fn global() -> &'static Arc<BudgetRegistry> {
    static REGISTRY: OnceLock<Arc<BudgetRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Arc::new(BudgetRegistry::default()))
}

/// A call's cost if it uses its whole output allowance: prompt tokens (counted) at the
/// input price plus `max_completion_tokens`/`max_tokens` (else
/// [`DEFAULT_PROJECTED_OUTPUT_TOKENS`], capped at the model's output limit) × `n` at the
/// output price. 0 for a model without a known price.
pub fn projected_cost(
    provider: &str,
    model: &str,
    request: &ChatRequest,
    custom: Option<&CustomPricing>,
) -> f64 {
    let prompt = crate::tokens::count_request_tokens(provider, model, request);
    let output = match request.max_output_tokens() {
        Some(n) => u64::from(n),
        None => {
            let limit = crate::catalog::model_info(provider, model).and_then(|i| i.output_limit());
            limit.map_or(DEFAULT_PROJECTED_OUTPUT_TOKENS, |l| {
                l.min(DEFAULT_PROJECTED_OUTPUT_TOKENS)
            })
        }
    };
    let n = u64::from(request.params.n.unwrap_or(1).max(1));
    cost::call_cost(
        provider,
        model,
        &Usage::new(prompt, output.saturating_mul(n)),
        custom,
    )
    .unwrap_or(0.0)
}

impl BudgetRegistry {
    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether any budget exists.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether any budget applies to a call with this metadata: `None` if none does, else
    /// whether one of them can downgrade it. Lets the pipeline skip counting tokens for
    /// calls no budget concerns.
    pub fn applies_to(&self, meta: Option<&CallMetadata>) -> Option<bool> {
        if !self.is_active() {
            return None;
        }
        let state = self.state();
        let mut found = None;
        for e in &state.entries {
            if !e.spec.members(meta).is_empty() {
                let downgrades = e
                    .spec
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::Downgrade { .. }));
                found = Some(found.unwrap_or(false) || downgrades);
            }
        }
        found
    }

    /// Add a budget (replacing one of the same name), starting at `now`. `seed` gives
    /// spend already made in the current window, per member (from the ledger).
    pub fn add(
        &self,
        spec: BudgetSpec,
        now: Micros,
        seed: &HashMap<String, f64>,
    ) -> Result<(), String> {
        spec.validate()?;
        let anchor = spec.start.unwrap_or(now);
        let mut state = self.state();
        state.entries.retain(|e| e.spec.name != spec.name);
        let id = state.next_id;
        state.next_id += 1;
        let mut entry = Entry {
            id,
            spec,
            anchor,
            counters: HashMap::new(),
        };
        for (member, spent) in seed {
            entry.counter(member, now).spent = *spent;
        }
        state.entries.push(entry);
        self.active.store(true, Ordering::Release);
        Ok(())
    }

    /// Change a budget's definition in place, keeping its spend and the reservations of
    /// calls in flight (the gateway's key and team budgets change while calls run). Adds
    /// it, with no spend, if there is none of that name. The anchor of fixed-length windows
    /// stays where it was unless `spec.start` says otherwise.
    pub fn update(&self, spec: BudgetSpec, now: Micros) -> Result<(), String> {
        spec.validate()?;
        let mut state = self.state();
        if let Some(e) = state.entries.iter_mut().find(|e| e.spec.name == spec.name) {
            let anchor = spec.start.unwrap_or(e.anchor);
            let moved = anchor != e.anchor || spec.period != e.spec.period;
            e.anchor = anchor;
            for c in e.counters.values_mut() {
                c.fired.resize(spec.actions.len(), false);
                if moved {
                    // The spend so far counts in the new window that contains now.
                    c.window = spec.period.window(anchor, now);
                }
            }
            e.spec = spec;
            return Ok(());
        }
        drop(state);
        self.add(spec, now, &HashMap::new())
    }

    /// Set a budget's spend in the current window (all members, or one) to `spent`.
    /// Returns whether the budget exists.
    pub fn set_spent(&self, name: &str, member: &str, spent: f64, now: Micros) -> bool {
        let mut state = self.state();
        let Some(e) = state.entries.iter_mut().find(|e| e.spec.name == name) else {
            return false;
        };
        e.counter(member, now).spent = if spent.is_finite() {
            spent.max(0.0)
        } else {
            0.0
        };
        true
    }

    /// Remove a budget by name. Returns whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        let mut state = self.state();
        let before = state.entries.len();
        state.entries.retain(|e| e.spec.name != name);
        self.active
            .store(!state.entries.is_empty(), Ordering::Release);
        state.entries.len() != before
    }

    /// Remove every budget and pending alert.
    pub fn clear(&self) {
        let mut state = self.state();
        state.entries.clear();
        state.alerts.clear();
        self.active.store(false, Ordering::Release);
    }

    /// Set a budget's spend in the current window back to zero (all members, or one).
    pub fn reset(&self, name: &str, member: Option<&str>) -> bool {
        let mut state = self.state();
        let Some(e) = state.entries.iter_mut().find(|e| e.spec.name == name) else {
            return false;
        };
        for (m, c) in e.counters.iter_mut() {
            if member.is_none_or(|x| x == m) {
                c.spent = 0.0;
                c.fired.iter_mut().for_each(|f| *f = false);
            }
        }
        true
    }

    /// The definitions of every budget, in the order added.
    pub fn specs(&self) -> Vec<BudgetSpec> {
        self.state()
            .entries
            .iter()
            .map(|e| e.spec.clone())
            .collect()
    }

    /// Spend and reservations of every budget and member in the window containing `now`.
    pub fn status(&self, now: Micros) -> Vec<BudgetStatus> {
        let mut state = self.state();
        let mut out = Vec::new();
        for e in state.entries.iter_mut() {
            let mut members: Vec<String> = e.counters.keys().cloned().collect();
            if members.is_empty() && (e.spec.scope == Scope::Global || e.spec.member.is_some()) {
                members.push(e.spec.member.clone().unwrap_or_default());
            }
            members.sort();
            for m in members {
                let c = e.counter(&m, now).clone();
                out.push(BudgetStatus {
                    budget: e.spec.name.clone(),
                    scope: e.spec.scope,
                    member: m,
                    limit: e.spec.limit,
                    spent: c.spent,
                    reserved: c.reserved,
                    period: e.spec.period,
                    window_start: c.window.0,
                    window_end: c.window.1,
                });
            }
        }
        out
    }

    /// Admit a call whose cost is projected at `projected`, reserving it against every
    /// matching budget, or refuse it (`BudgetExceededError`), or ask for a downgrade (only
    /// when `allow_downgrade`).
    pub fn admit(
        self: &Arc<Self>,
        now: Micros,
        meta: Option<&CallMetadata>,
        names: ModelNames<'_>,
        projected: f64,
        allow_downgrade: bool,
    ) -> Result<Admission, LlmError> {
        let projected = projected.max(0.0);
        let mut state = self.state();
        let mut matched: Vec<(usize, String)> = Vec::new();
        for (i, e) in state.entries.iter().enumerate() {
            for m in e.spec.members(meta) {
                matched.push((i, m.to_owned()));
            }
        }
        if matched.is_empty() {
            return Ok(Admission::Admitted(None));
        }
        for (i, m) in &matched {
            state.entries[*i].counter(m, now);
        }
        // Over a threshold: spend already reached it, or this call could take spend past it.
        let over = |c: &Counter, limit: f64, at: f64| {
            let threshold = at * limit;
            c.spent >= threshold * (1.0 - EPSILON)
                || c.spent + c.reserved + projected > threshold * (1.0 + EPSILON)
        };
        if allow_downgrade {
            for (i, m) in &matched {
                let e = &state.entries[*i];
                let c = &e.counters[m];
                for a in &e.spec.actions {
                    if let Action::Downgrade { at, to } = a {
                        if over(c, e.spec.limit, *at) {
                            if let Some(target) = to.target(&names) {
                                return Ok(Admission::Downgrade {
                                    to: target.to_owned(),
                                    budget: e.spec.name.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        for (i, m) in &matched {
            let e = &state.entries[*i];
            let c = &e.counters[m];
            for a in &e.spec.actions {
                if let Action::Block { at } = a {
                    if over(c, e.spec.limit, *at) {
                        return Err(refusal(e, m, c, *at, projected, &names));
                    }
                }
            }
        }
        let mut parts = Vec::with_capacity(matched.len());
        for (i, m) in matched {
            let e = &mut state.entries[i];
            let id = e.id;
            if let Some(c) = e.counters.get_mut(&m) {
                c.reserved += projected;
            }
            parts.push(Part {
                budget_id: id,
                member: m,
                amount: projected,
            });
        }
        Ok(Admission::Admitted(Some(Reservation {
            registry: self.clone(),
            parts,
            projected,
            settled: AtomicBool::new(false),
        })))
    }

    /// Release `parts`' reservations (the first time only, when `release`) and charge
    /// `cost` to them at `now`, queueing alerts for thresholds crossed.
    fn charge(&self, parts: &[Part], cost: f64, release: bool, now: Micros) {
        let cost = if cost.is_finite() { cost.max(0.0) } else { 0.0 };
        let mut state = self.state();
        let State {
            entries, alerts, ..
        } = &mut *state;
        for p in parts {
            let Some(e) = entries.iter_mut().find(|e| e.id == p.budget_id) else {
                continue;
            };
            if cost == 0.0 {
                // Nothing to charge: release without moving the window.
                if let Some(c) = e.counters.get_mut(&p.member).filter(|_| release) {
                    c.reserved = (c.reserved - p.amount).max(0.0);
                }
                continue;
            }
            let limit = e.spec.limit;
            let alert_at: Vec<(usize, f64)> = e
                .spec
                .actions
                .iter()
                .enumerate()
                .filter_map(|(k, a)| match a {
                    Action::Alert { at } => Some((k, *at)),
                    _ => None,
                })
                .collect();
            let c = e.counter(&p.member, now);
            if release {
                c.reserved = (c.reserved - p.amount).max(0.0);
            }
            c.spent += cost;
            let (spent, window) = (c.spent, c.window);
            let mut crossed = Vec::new();
            for (k, at) in alert_at {
                if !c.fired[k] && spent >= at * limit * (1.0 - EPSILON) {
                    c.fired[k] = true;
                    crossed.push((k, at));
                }
            }
            for (action, threshold) in crossed {
                alerts.push(AlertEvent {
                    budget: e.spec.name.clone(),
                    action,
                    scope: e.spec.scope,
                    member: p.member.clone(),
                    threshold,
                    limit,
                    spent,
                    period: e.spec.period,
                    window_start: window.0,
                    window_end: window.1,
                    at: now,
                });
            }
        }
    }

    /// Whether alerts are waiting.
    pub fn has_alerts(&self) -> bool {
        self.is_active() && !self.state().alerts.is_empty()
    }

    /// Take the alerts waiting for delivery, oldest first.
    pub fn take_alerts(&self) -> Vec<AlertEvent> {
        std::mem::take(&mut self.state().alerts)
    }

    /// Budgets, their per-member counters and alerts waiting: what a test counts to show
    /// that nothing accumulates per call or per window.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        let state = self.state();
        let counters = state.entries.iter().map(|e| e.counters.len()).sum();
        (state.entries.len(), counters, state.alerts.len())
    }
}

/// Spend the ledger already holds for `spec`'s current window, per member: what a budget
/// added now starts from (a daily budget added at noon counts the morning's calls; with
/// persistence on, calls of earlier runs too). A total budget counts from its `start`.
pub fn seed_from_ledger(
    spec: &BudgetSpec,
    now: Micros,
    ledger: &Ledger,
) -> Result<HashMap<String, f64>, SpendError> {
    let anchor = spec.start.unwrap_or(now);
    let (mut start, _) = spec.period.window(anchor, now);
    if spec.period == Period::Total {
        start = anchor;
    }
    let mut seed: HashMap<String, f64> = HashMap::new();
    if start >= now {
        return Ok(seed);
    }
    ledger.for_each_record(Some(start), Some(now.saturating_add(1)), |r| {
        let cost = r.cost_or_zero();
        if cost > 0.0 {
            for m in spec.members(r.metadata.as_deref()) {
                *seed.entry(m.to_owned()).or_default() += cost;
            }
        }
    })?;
    Ok(seed)
}

fn refusal(
    e: &Entry,
    member: &str,
    c: &Counter,
    at: f64,
    projected: f64,
    names: &ModelNames<'_>,
) -> LlmError {
    let limit = at * e.spec.limit;
    let who = match e.spec.scope {
        Scope::Global => String::new(),
        s => format!(" for {} '{member}'", s.as_str()),
    };
    let resets = if c.window.1 == Micros::MAX {
        "it does not reset".to_owned()
    } else {
        format!("it resets at {}", clock::utc_iso(c.window.1))
    };
    let message = format!(
        "Budget '{}'{who} exceeded: ${:.6} spent + ${:.6} reserved by calls in flight + ${:.6} projected for this call > ${:.6} limit ({} period; {resets}). Raise the limit, wait for the reset, or set max_tokens to lower this call's projection.",
        e.spec.name, c.spent, c.reserved, projected, limit, e.spec.period,
    );
    LlmError::new(ErrorKind::BudgetExceeded, message)
        .with_provider(names.provider)
        .with_model(names.model)
        .with_body(json!({
            "budget": e.spec.name,
            "scope": e.spec.scope.as_str(),
            "member": member,
            "current_cost": c.spent,
            "reserved_cost": c.reserved,
            "projected_cost": projected,
            "max_budget": limit,
            "period": e.spec.period.to_string(),
            "resets_at": (c.window.1 != Micros::MAX).then(|| clock::to_secs_f64(c.window.1)),
        }))
}

#[derive(Debug, Clone)]
struct Part {
    budget_id: u64,
    member: String,
    amount: f64,
}

/// A call's projected cost, held against its budgets until the call settles. Dropping it
/// unsettled releases the hold without charging anything.
#[derive(Debug)]
pub struct Reservation {
    registry: Arc<BudgetRegistry>,
    parts: Vec<Part>,
    projected: f64,
    settled: AtomicBool,
}

impl Reservation {
    /// The cost held.
    pub fn projected(&self) -> f64 {
        self.projected
    }

    /// Charge the call's real cost and release the hold. A second settle (the same
    /// prepared call sent again) charges its cost without releasing anything.
    pub fn settle(&self, cost: f64) {
        self.settle_at(cost, clock::now());
    }

    pub fn settle_at(&self, cost: f64, now: Micros) {
        let first = !self.settled.swap(true, Ordering::AcqRel);
        self.registry.charge(&self.parts, cost, first, now);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled.swap(true, Ordering::AcqRel) {
            self.registry.charge(&self.parts, 0.0, true, clock::now());
        }
    }
}

#[cfg(test)]
mod tests;
