//! Live limits and budgets of keys, teams and end users: requests and tokens per minute,
//! requests in flight, and spend in the current budget window, behind one small trait,
//! [`Counters`], so that shared counters (Redis, for several gateways) can replace the
//! in-process ones ([`LocalCounters`]) without touching the rest.
//!
//! Admission is all-or-nothing across the entities of a request (its key, the key's team,
//! its end user): budgets first (each reserves the request's projected cost with the
//! reserve-then-settle registry of [`crate::budget`], so concurrent requests never
//! overshoot a budget by more than their projections' error), then parallel-request slots
//! and requests per minute (taken atomically, given back if a later check refuses), then
//! tokens per minute (refused once the minute's tokens reach the limit, as LiteLLM does;
//! tokens are counted when the request ends).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::future::BoxFuture;

use super::time::BudgetWindow;
use crate::budget::{
    Action, Admission, BudgetRegistry, BudgetSpec, ModelNames, Period, Reservation, Scope,
};
use crate::router::clock::MinuteCounter;
use crate::spend::clock::{Micros, MICROS_PER_SECOND};

const MICROS_PER_MINUTE: Micros = 60 * MICROS_PER_SECOND;

/// The one budget each entity's registry holds.
const BUDGET_NAME: &str = "budget";

/// What a limit or budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Key,
    Team,
    EndUser,
}

impl ScopeKind {
    /// LiteLLM's rate-limit descriptor name.
    pub fn descriptor(self) -> &'static str {
        match self {
            ScopeKind::Key => "api_key",
            ScopeKind::Team => "team",
            ScopeKind::EndUser => "end_user",
        }
    }
}

/// A key (by token hash), team (by id) or end user (by id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeId {
    pub kind: ScopeKind,
    pub id: Arc<str>,
}

impl ScopeId {
    pub fn new(kind: ScopeKind, id: &str) -> Self {
        ScopeId {
            kind,
            id: Arc::from(id),
        }
    }
}

/// A budget as configured on an entity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimit {
    /// USD per window.
    pub max_budget: f64,
    /// `None`: never resets.
    pub window: Option<BudgetWindow>,
    /// The spend stored with the entity for the current window: where the counter starts
    /// when this process first sees the entity.
    pub stored_spend: f64,
}

/// The limits of one entity, read from its row.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityLimits {
    pub scope: ScopeId,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub parallel: Option<u64>,
    pub budget: Option<BudgetLimit>,
}

impl EntityLimits {
    pub fn new(scope: ScopeId) -> Self {
        EntityLimits {
            scope,
            rpm: None,
            tpm: None,
            parallel: None,
            budget: None,
        }
    }

    /// Whether there is nothing to check or count.
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.parallel.is_none() && self.budget.is_none()
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Requests,
    Tokens,
    MaxParallelRequests,
}

impl LimitKind {
    /// LiteLLM's `rate_limit_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
            LimitKind::MaxParallelRequests => "max_parallel_requests",
        }
    }
}

/// Why a request may not run now.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    RateLimited {
        scope: ScopeId,
        kind: LimitKind,
        limit: u64,
        /// Seconds until it may succeed (the rest of the minute; 1 for parallel slots).
        retry_after: u64,
        resets_at: Micros,
    },
    BudgetExceeded {
        scope: ScopeId,
        /// Settled spend in the window.
        spent: f64,
        max_budget: f64,
    },
}

/// What an admitted request holds; dropping it unsettled gives back its slots and budget
/// reservations without charging anything (the request was cancelled before it ended).
pub trait Lease: Send + 'static {
    /// The request ended at `now`: count its tokens and charge its cost.
    fn settle(self: Box<Self>, tokens: u64, cost: f64, now: Micros);
}

/// The counters of every entity.
pub trait Counters: Send + Sync + 'static {
    /// Admit a request against all of `entities` at once, or refuse it.
    fn admit<'a>(
        &'a self,
        entities: &'a [EntityLimits],
        projected_cost: f64,
        now: Micros,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, Refusal>>;
    /// Set an entity's spend in the current window (an admin's `spend`).
    fn set_spend(&self, scope: &ScopeId, spend: f64, now: Micros);
    /// Forget a deleted entity.
    fn forget(&self, scope: &ScopeId);
    /// Requests of the entity in flight now.
    fn in_flight(&self, scope: &ScopeId) -> u64;
    /// The entity's settled spend in its current budget window (`None`: no budget seen).
    fn spend(&self, scope: &ScopeId, now: Micros) -> Option<f64>;
    /// Admissions decided by this process alone because shared counters were unavailable.
    fn degraded(&self) -> u64 {
        0
    }
}

#[derive(Debug, Default)]
struct EntityState {
    rpm: MinuteCounter,
    tpm: MinuteCounter,
    in_flight: AtomicU64,
    registry: Arc<BudgetRegistry>,
    /// The budget last applied to `registry`.
    applied: Mutex<Option<(f64, Option<Period>)>>,
}

impl EntityState {
    /// Bring the registry in line with `budget` (the entity's row may have changed).
    fn configure(&self, budget: Option<&BudgetLimit>, now: Micros) {
        let mut applied = match self.applied.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let wanted = budget.map(|b| (b.max_budget, b.window.map(|w| w.period)));
        if *applied == wanted {
            return;
        }
        match budget {
            None => self.registry.clear(),
            Some(b) => {
                let (period, start) = match b.window {
                    Some(w) => (w.period, Some(w.anchor)),
                    None => (Period::Total, None),
                };
                let spec = BudgetSpec {
                    name: BUDGET_NAME.to_owned(),
                    scope: Scope::Global,
                    member: None,
                    limit: if b.max_budget.is_finite() {
                        b.max_budget.max(0.0)
                    } else {
                        0.0
                    },
                    period,
                    start,
                    actions: vec![Action::Block { at: 1.0 }],
                };
                let result = if applied.is_none() {
                    let seed = HashMap::from([(String::new(), b.stored_spend.max(0.0))]);
                    self.registry.add(spec, now, &seed)
                } else {
                    self.registry.update(spec, now)
                };
                if result.is_err() {
                    // Only a negative or NaN limit fails validation; it was clamped above.
                    return;
                }
            }
        }
        *applied = wanted;
    }
}

/// Counters in this process's memory.
#[derive(Default)]
pub struct LocalCounters {
    entities: RwLock<HashMap<ScopeId, Arc<EntityState>>>,
}

impl LocalCounters {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, scope: &ScopeId) -> Option<Arc<EntityState>> {
        let map = match self.entities.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.get(scope).cloned()
    }

    fn get_or_create(&self, scope: &ScopeId) -> Arc<EntityState> {
        if let Some(s) = self.get(scope) {
            return s;
        }
        let mut map = match self.entities.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.entry(scope.clone()).or_default().clone()
    }

    fn admit_now(
        &self,
        entities: &[EntityLimits],
        projected_cost: f64,
        now: Micros,
    ) -> Result<LocalLease, Refusal> {
        let minute = u64::try_from(now.div_euclid(MICROS_PER_MINUTE)).unwrap_or(0);
        let minute_end = (now.div_euclid(MICROS_PER_MINUTE) + 1) * MICROS_PER_MINUTE;
        let retry_after =
            u64::try_from((minute_end - now + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND)
                .unwrap_or(60)
                .max(1);
        let mut lease = LocalLease::default();
        let names = ModelNames {
            requested: "gateway",
            provider: "gateway",
            model: "gateway",
        };
        let states: Vec<(&EntityLimits, Option<Arc<EntityState>>)> = entities
            .iter()
            .map(|e| {
                let state = if e.is_unlimited() {
                    // Known but now unlimited: drop a budget it may have had.
                    self.get(&e.scope)
                } else {
                    Some(self.get_or_create(&e.scope))
                };
                (e, state)
            })
            .collect();
        // Budgets first: a request over budget is refused as such, whatever its limits.
        for (e, state) in &states {
            let Some(state) = state else { continue };
            state.configure(e.budget.as_ref(), now);
            if e.budget.is_none() {
                continue;
            }
            match state
                .registry
                .admit(now, None, names, projected_cost, false)
            {
                Ok(Admission::Admitted(Some(r))) => lease.reservations.push(r),
                Ok(_) => {}
                Err(err) => {
                    let body = err.body.clone().unwrap_or_default();
                    return Err(Refusal::BudgetExceeded {
                        scope: e.scope.clone(),
                        spent: body["current_cost"].as_f64().unwrap_or(0.0),
                        max_budget: body["max_budget"].as_f64().unwrap_or(0.0),
                    });
                }
            }
        }
        let mut counted: Vec<Arc<EntityState>> = Vec::new();
        let refuse = |counted: &[Arc<EntityState>], refusal: Refusal| {
            for s in counted {
                s.rpm.remove(minute, 1);
            }
            Err(refusal)
        };
        for (e, state) in &states {
            let Some(state) = state else { continue };
            if let Some(limit) = e.parallel {
                let took = state
                    .in_flight
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < limit).then_some(n + 1)
                    })
                    .is_ok();
                if !took {
                    return refuse(
                        &counted,
                        Refusal::RateLimited {
                            scope: e.scope.clone(),
                            kind: LimitKind::MaxParallelRequests,
                            limit,
                            retry_after: 1,
                            resets_at: now + MICROS_PER_SECOND,
                        },
                    );
                }
                lease.slots.push(state.clone());
            }
            if let Some(limit) = e.rpm {
                if !state.rpm.try_add_one_below(minute, limit) {
                    return refuse(
                        &counted,
                        Refusal::RateLimited {
                            scope: e.scope.clone(),
                            kind: LimitKind::Requests,
                            limit,
                            retry_after,
                            resets_at: minute_end,
                        },
                    );
                }
                counted.push(state.clone());
            }
            if let Some(limit) = e.tpm {
                if state.tpm.get(minute) >= limit {
                    return refuse(
                        &counted,
                        Refusal::RateLimited {
                            scope: e.scope.clone(),
                            kind: LimitKind::Tokens,
                            limit,
                            retry_after,
                            resets_at: minute_end,
                        },
                    );
                }
                lease.token_counters.push(state.clone());
            }
        }
        Ok(lease)
    }
}

impl Counters for LocalCounters {
    fn admit<'a>(
        &'a self,
        entities: &'a [EntityLimits],
        projected_cost: f64,
        now: Micros,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, Refusal>> {
        let result = self
            .admit_now(entities, projected_cost, now)
            .map(|l| Box::new(l) as Box<dyn Lease>);
        Box::pin(std::future::ready(result))
    }

    fn set_spend(&self, scope: &ScopeId, spend: f64, now: Micros) {
        if let Some(s) = self.get(scope) {
            s.registry.set_spent(BUDGET_NAME, "", spend, now);
        }
    }

    fn forget(&self, scope: &ScopeId) {
        let mut map = match self.entities.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.remove(scope);
    }

    fn in_flight(&self, scope: &ScopeId) -> u64 {
        self.get(scope)
            .map_or(0, |s| s.in_flight.load(Ordering::Acquire))
    }

    fn spend(&self, scope: &ScopeId, now: Micros) -> Option<f64> {
        let state = self.get(scope)?;
        let status = state.registry.status(now);
        status.first().map(|s| s.spent)
    }
}

#[derive(Default)]
struct LocalLease {
    reservations: Vec<Reservation>,
    /// Parallel-request slots held.
    slots: Vec<Arc<EntityState>>,
    /// Entities whose tokens per minute are limited.
    token_counters: Vec<Arc<EntityState>>,
}

impl Lease for LocalLease {
    fn settle(mut self: Box<Self>, tokens: u64, cost: f64, now: Micros) {
        let minute = u64::try_from(now.div_euclid(MICROS_PER_MINUTE)).unwrap_or(0);
        for s in &self.token_counters {
            s.tpm.add(minute, tokens);
        }
        for r in self.reservations.drain(..) {
            r.settle_at(cost, now);
        }
    }
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        for s in &self.slots {
            s.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spend::clock::MICROS_PER_DAY;

    const NOW: Micros = 1_700_000_000 * MICROS_PER_SECOND;

    fn key(id: &str) -> EntityLimits {
        EntityLimits::new(ScopeId::new(ScopeKind::Key, id))
    }

    fn budget(max: f64, stored: f64) -> Option<BudgetLimit> {
        Some(BudgetLimit {
            max_budget: max,
            window: None,
            stored_spend: stored,
        })
    }

    async fn admit(
        c: &LocalCounters,
        e: &[EntityLimits],
        cost: f64,
        now: Micros,
    ) -> Result<Box<dyn Lease>, Refusal> {
        c.admit(e, cost, now).await
    }

    #[tokio::test]
    async fn requests_per_minute_reset_on_the_minute() {
        let c = LocalCounters::new();
        let mut k = key("k");
        k.rpm = Some(2);
        for _ in 0..2 {
            admit(&c, &[k.clone()], 0.0, NOW)
                .await
                .unwrap()
                .settle(10, 0.0, NOW);
        }
        let refused = admit(&c, &[k.clone()], 0.0, NOW).await.err().unwrap();
        let Refusal::RateLimited {
            kind, retry_after, ..
        } = refused
        else {
            panic!("{refused:?}")
        };
        assert_eq!(kind, LimitKind::Requests);
        assert!((1..=60).contains(&retry_after));
        assert!(admit(&c, &[k], 0.0, NOW + MICROS_PER_MINUTE).await.is_ok());
    }

    #[tokio::test]
    async fn a_refusal_by_one_entity_takes_nothing_from_the_others() {
        let c = LocalCounters::new();
        let mut k = key("k");
        k.rpm = Some(10);
        k.parallel = Some(10);
        let mut team = EntityLimits::new(ScopeId::new(ScopeKind::Team, "t"));
        team.rpm = Some(1);
        let first = admit(&c, &[k.clone(), team.clone()], 0.0, NOW)
            .await
            .unwrap();
        for _ in 0..5 {
            assert!(admit(&c, &[k.clone(), team.clone()], 0.0, NOW)
                .await
                .is_err());
        }
        assert_eq!(c.in_flight(&k.scope), 1);
        drop(first);
        assert_eq!(c.in_flight(&k.scope), 0);
        // The key alone still has 9 of its 10 requests this minute.
        for _ in 0..9 {
            admit(&c, &[k.clone()], 0.0, NOW).await.unwrap();
        }
        assert!(admit(&c, &[k], 0.0, NOW).await.is_err());
    }

    #[tokio::test]
    async fn parallel_slots_are_given_back_when_requests_end() {
        let c = LocalCounters::new();
        let mut k = key("k");
        k.parallel = Some(2);
        let a = admit(&c, &[k.clone()], 0.0, NOW).await.unwrap();
        let b = admit(&c, &[k.clone()], 0.0, NOW).await.unwrap();
        let refused = admit(&c, &[k.clone()], 0.0, NOW).await.err().unwrap();
        assert!(matches!(
            refused,
            Refusal::RateLimited {
                kind: LimitKind::MaxParallelRequests,
                retry_after: 1,
                ..
            }
        ));
        a.settle(5, 0.0, NOW);
        drop(b);
        assert_eq!(c.in_flight(&k.scope), 0);
    }

    #[tokio::test]
    async fn tokens_per_minute_refuse_once_reached() {
        let c = LocalCounters::new();
        let mut k = key("k");
        k.tpm = Some(100);
        admit(&c, &[k.clone()], 0.0, NOW)
            .await
            .unwrap()
            .settle(60, 0.0, NOW);
        admit(&c, &[k.clone()], 0.0, NOW)
            .await
            .unwrap()
            .settle(60, 0.0, NOW);
        let refused = admit(&c, &[k.clone()], 0.0, NOW).await.err().unwrap();
        assert!(matches!(
            refused,
            Refusal::RateLimited {
                kind: LimitKind::Tokens,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn budgets_start_from_the_stored_spend_and_reserve_projections() {
        let c = LocalCounters::new();
        let mut k = key("k");
        k.budget = budget(1.0, 0.7);
        // 0.7 spent: a call projected at 0.2 fits, a second one (0.7 + 0.2 + 0.2) does not.
        let held = admit(&c, &[k.clone()], 0.2, NOW).await.unwrap();
        let refused = admit(&c, &[k.clone()], 0.2, NOW).await.err().unwrap();
        assert_eq!(
            refused,
            Refusal::BudgetExceeded {
                scope: k.scope.clone(),
                spent: 0.7,
                max_budget: 1.0
            }
        );
        held.settle(10, 0.05, NOW);
        assert!(admit(&c, &[k.clone()], 0.2, NOW).await.is_ok());
        // An admin resets the spend; a raised limit keeps what was spent.
        c.set_spend(&k.scope, 0.0, NOW);
        k.budget = budget(0.1, 123.0);
        admit(&c, &[k.clone()], 0.05, NOW)
            .await
            .unwrap()
            .settle(1, 0.05, NOW);
        assert!(admit(&c, &[k.clone()], 0.06, NOW).await.is_err());
        k.budget = None;
        assert!(admit(&c, &[k], 5.0, NOW).await.is_ok(), "budget removed");
    }

    #[tokio::test]
    async fn budget_windows_reset_at_their_boundary() {
        let c = LocalCounters::new();
        let mut k = key("k");
        let window = BudgetWindow::parse("1d", None, NOW).unwrap();
        k.budget = Some(BudgetLimit {
            max_budget: 1.0,
            window: Some(window),
            stored_spend: 1.0,
        });
        assert!(admit(&c, &[k.clone()], 0.0, NOW).await.is_err());
        let tomorrow = window.next_reset(NOW) + 1;
        assert!(tomorrow - NOW <= MICROS_PER_DAY);
        assert!(admit(&c, &[k], 0.0, tomorrow).await.is_ok());
    }

    #[tokio::test]
    async fn nothing_accumulates_per_request_or_per_window() {
        // A key with every limit and a daily budget, 20,000 requests over 200 days (minute
        // counters and budget windows roll over thousands of times): still one entity, one
        // budget with one counter, no alerts held (issue 11: the keyed RSS growth was not in
        // these maps, and this keeps it so).
        let c = LocalCounters::new();
        let mut k = key("k");
        k.rpm = Some(1_000_000);
        k.tpm = Some(1 << 40);
        k.parallel = Some(10);
        k.budget = Some(BudgetLimit {
            max_budget: 1e12,
            window: Some(BudgetWindow::parse("1d", None, NOW).unwrap()),
            stored_spend: 0.0,
        });
        for i in 0..20_000i64 {
            let now = NOW + i * (MICROS_PER_DAY / 100);
            admit(&c, &[k.clone()], 0.01, now)
                .await
                .unwrap()
                .settle(10, 0.01, now);
        }
        let entities = c.entities.read().map(|m| m.len()).unwrap_or(0);
        assert_eq!(entities, 1);
        let state = c.get(&k.scope).unwrap();
        assert_eq!(state.registry.sizes(), (1, 1, 0));
        assert_eq!(c.in_flight(&k.scope), 0);
    }

    #[test]
    fn concurrent_admissions_overshoot_no_more_than_the_projection_error() {
        // 200 threads race for a budget of 20 calls projected at 0.05 each; each call
        // costs 0.06 (20 % over its projection): spend stays under limit + one call's error
        // per call in flight, and at most 20 are admitted while all are in flight.
        let c = Arc::new(LocalCounters::new());
        let mut k = key("k");
        k.budget = budget(1.0, 0.0);
        k.parallel = Some(1000);
        let barrier = Arc::new(std::sync::Barrier::new(200));
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let (c, k, barrier) = (c.clone(), k.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    c.admit_now(&[k], 0.05, NOW).ok()
                })
            })
            .collect();
        let leases: Vec<LocalLease> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(leases.len(), 20);
        for l in leases {
            Box::new(l).settle(1, 0.06, NOW);
        }
        let spent = c.spend(&k.scope, NOW).unwrap();
        assert!((spent - 1.2).abs() < 1e-9, "{spent}");
        assert!(spent <= 1.0 + 20.0 * 0.01 + 1e-9);
        assert!(c.admit_now(std::slice::from_ref(&k), 0.0, NOW).is_err());
    }
}
