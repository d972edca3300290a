//! [`RedisCounters`]: the limits and budgets of keys, teams and end users shared by every
//! gateway on one Redis (`router_settings.redis_host`/`redis_port`/`redis_password` or
//! `redis_url`, as in LiteLLM).
//!
//! Admission is one Lua script, so it is atomic across replicas and all-or-nothing across
//! the entities of a request: budgets first (settled spend of the window plus reservations
//! of live replicas plus this request's projection against `max_budget`), then parallel
//! requests, requests per minute and tokens per minute; only if every check passes does it
//! take a parallel slot, count the request and reserve the projection. Settling (or
//! dropping an unsettled lease) is a second script, sent only when there is something to
//! give back or charge (a parallel slot, a reservation, tokens against a tpm limit). Exactness, per counter:
//!
//! - **rpm**: exact across replicas (one `INCR` per admitted request in the script).
//! - **parallel requests**: exact; held per replica in a hash, and a replica that died
//!   (its liveness key, refreshed every 2 s, expired after 10 s) has its slots dropped.
//! - **budget**: reservations are exact and atomic with the check; spend is added when a
//!   request ends (`INCRBYFLOAT`), so concurrent requests overshoot a budget by no more
//!   than their projections' error, across replicas as within one. Reservations of a dead
//!   replica are dropped like its slots. A window's spend key is seeded from the database's
//!   stored spend the first time any replica needs it, and expires with the window.
//! - **tpm**: counted when requests end (as LiteLLM does): refused once the minute's tokens
//!   reached the limit, so requests in flight may pass it by their own tokens.
//!
//! Redis never blocks or fails a request: an error or a late answer (over
//! [`RESPONSE_TIMEOUT`], or `REDIS_SOCKET_TIMEOUT`) admits against this replica's own [`LocalCounters`] instead (limits
//! per replica), warns once until Redis answers again, and counts each such admission
//! ([`RedisCounters::degraded`], `/metrics`). Redis is then left alone for [`RETRY_AFTER`].
//!
//! Connections ([`RedisConn`]): on a gateway's serving thread an admission (awaited) and
//! its settlement (spawned, never awaited: the response does not wait for it) go through
//! that thread's own connection, so neither wakes another thread; the heartbeat and an
//! admin's `set_spend` use the shared one. The outage is one for all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::Script;

use super::counters::{
    Counters, EntityLimits, Lease, LimitKind, LocalCounters, Refusal, ScopeId, ScopeKind,
};
use crate::cache::config::RedisConfig;
use crate::cache::outage::Outage;
use crate::cache::redis_conn::RedisConn;
use crate::spend::clock::{Micros, MICROS_PER_SECOND};

const MICROS_PER_MINUTE: Micros = 60 * MICROS_PER_SECOND;
/// How long an admission waits for Redis before using the local counters.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is not asked after it failed.
pub use crate::cache::outage::RETRY_AFTER;
/// A replica's liveness key lives this long; it is refreshed every [`HEARTBEAT`] and by
/// every admission (the `ADMIT` script repeats the figure).
const LIVENESS_SECONDS: u64 = 10;
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Budget keys without a window (lifetime budgets) and reservation hashes expire after a
/// day without use (their spend is seeded again from the database).
const IDLE_SECONDS: i64 = 86_400;

const ADMIT: &str = r#"
local n = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local replica = ARGV[3]
local prefix = ARGV[4]
-- This replica is alive from its first admission on, not only once its heartbeat has run:
-- otherwise the others would drop its reservations as a dead replica's (10 = LIVENESS_SECONDS).
redis.call('SET', prefix .. 'replica:' .. replica, '1', 'EX', 10)
local function live_sum(key)
  local total = 0
  local all = redis.call('HGETALL', key)
  for j = 1, #all, 2 do
    local r = all[j]
    if r == replica or redis.call('EXISTS', prefix .. 'replica:' .. r) == 1 then
      total = total + tonumber(all[j + 1])
    else
      redis.call('HDEL', key, r)
    end
  end
  return total
end
local spent = {}
for i = 1, n do
  local k = (i - 1) * 5
  local a = 4 + (i - 1) * 6
  local maxb = tonumber(ARGV[a + 4])
  if maxb >= 0 then
    local ttl = tonumber(ARGV[a + 6])
    redis.call('SET', KEYS[k + 4], ARGV[a + 5], 'NX', 'EX', ttl)
    local s = tonumber(redis.call('GET', KEYS[k + 4]))
    local r = live_sum(KEYS[k + 5])
    spent[i] = s
    if s >= maxb * (1 - 1e-9) or s + r + cost > maxb * (1 + 1e-9) then
      return {1, i, 'budget', tostring(s)}
    end
  end
end
for i = 1, n do
  local k = (i - 1) * 5
  local a = 4 + (i - 1) * 6
  local par = tonumber(ARGV[a + 3])
  if par >= 0 and live_sum(KEYS[k + 3]) >= par then
    return {1, i, 'parallel', '0'}
  end
  local rpm = tonumber(ARGV[a + 1])
  if rpm >= 0 and tonumber(redis.call('GET', KEYS[k + 1]) or '0') >= rpm then
    return {1, i, 'rpm', '0'}
  end
  local tpm = tonumber(ARGV[a + 2])
  if tpm >= 0 and tonumber(redis.call('GET', KEYS[k + 2]) or '0') >= tpm then
    return {1, i, 'tpm', '0'}
  end
end
local out = {0}
for i = 1, n do
  local k = (i - 1) * 5
  local a = 4 + (i - 1) * 6
  if tonumber(ARGV[a + 4]) >= 0 then
    redis.call('HINCRBYFLOAT', KEYS[k + 5], replica, cost)
    redis.call('EXPIRE', KEYS[k + 5], tonumber(ARGV[a + 6]))
  end
  if tonumber(ARGV[a + 3]) >= 0 then
    redis.call('HINCRBY', KEYS[k + 3], replica, 1)
    redis.call('EXPIRE', KEYS[k + 3], 86400)
  end
  if tonumber(ARGV[a + 1]) >= 0 then
    redis.call('INCR', KEYS[k + 1])
    redis.call('EXPIRE', KEYS[k + 1], 120)
  end
  out[#out + 1] = tostring(spent[i] or -1)
end
return out
"#;

/// Give back what an admission took and charge what the request did. KEYS per entity:
/// tpm (this minute), parallel hash, spend, reservation hash; ARGV: replica, tokens, cost,
/// projection, then per entity the flags tpm, parallel, budget (1/0).
const SETTLE: &str = r#"
local replica = ARGV[1]
local tokens = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local projected = tonumber(ARGV[4])
local n = #KEYS / 4
for i = 1, n do
  local k = (i - 1) * 4
  local a = 4 + (i - 1) * 3
  if ARGV[a + 1] == '1' and tokens > 0 then
    redis.call('INCRBY', KEYS[k + 1], tokens)
    redis.call('EXPIRE', KEYS[k + 1], 120)
  end
  if ARGV[a + 2] == '1' and redis.call('HEXISTS', KEYS[k + 2], replica) == 1 then
    if redis.call('HINCRBY', KEYS[k + 2], replica, -1) <= 0 then
      redis.call('HDEL', KEYS[k + 2], replica)
    end
  end
  if ARGV[a + 3] == '1' then
    if redis.call('HEXISTS', KEYS[k + 4], replica) == 1 then
      redis.call('HINCRBYFLOAT', KEYS[k + 4], replica, -projected)
    end
    if cost > 0 and redis.call('EXISTS', KEYS[k + 3]) == 1 then
      redis.call('INCRBYFLOAT', KEYS[k + 3], cost)
    end
  end
end
return 0
"#;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The entity part of a key: `key:<hash>`, `team:<id>`, `end_user:<id>`.
fn entity(scope: &ScopeId) -> String {
    let kind = match scope.kind {
        ScopeKind::Key => "key",
        ScopeKind::Team => "team",
        ScopeKind::EndUser => "end_user",
    };
    format!("{kind}:{}", scope.id)
}

struct Shared {
    /// Admissions and settlements on a serving thread use that thread's own connection;
    /// the heartbeat and `set_spend` the shared one.
    conn: RedisConn,
    prefix: String,
    replica: String,
    admit: Script,
    settle: Script,
    outage: Outage,
    degraded: AtomicU64,
    /// Settlements sent to Redis (a lease with nothing to give back or charge sends none).
    settlements: AtomicU64,
    /// The spend key each entity last used (for an admin's `spend`).
    spend_keys: Mutex<HashMap<ScopeId, String>>,
    /// How long a call waits for Redis before deciding on its own counters: the configured
    /// `socket_timeout` (LiteLLM's `REDIS_SOCKET_TIMEOUT`), else [`RESPONSE_TIMEOUT`].
    answer_timeout: Duration,
}

impl Shared {
    fn is_down(&self) -> bool {
        self.outage.is_down()
    }

    fn failed(&self, why: &str) {
        self.outage.failed(why);
    }

    fn ok(&self) {
        self.outage.ok();
    }
}

/// Counters shared through Redis, with this replica's own as the fallback.
pub struct RedisCounters {
    shared: Arc<Shared>,
    local: LocalCounters,
    runtime: tokio::runtime::Handle,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for RedisCounters {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl RedisCounters {
    /// Connect lazily (a Redis that is down now does not fail this; a malformed URL does)
    /// and start the replica's liveness heartbeat on the current runtime.
    pub fn new(config: &RedisConfig, prefix: &str) -> Result<Self, String> {
        let shown = crate::cache::redis_shown(config);
        let answer_timeout = config.response_timeout.unwrap_or(RESPONSE_TIMEOUT);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "RedisCounters need a tokio runtime".to_owned())?;
        let conn = RedisConn::new(config, answer_timeout, &runtime)?;
        let replica = format!("{:016x}", fastrand::u64(..));
        let shared = Arc::new(Shared {
            conn,
            prefix: prefix.to_owned(),
            replica,
            admit: Script::new(ADMIT),
            settle: Script::new(SETTLE),
            outage: Outage::new(
                shown,
                "rate limits and budgets are counted per replica until it is back",
                "limits are shared again",
                Arc::new(|m: &str| super::warn(m)),
            ),
            degraded: AtomicU64::new(0),
            settlements: AtomicU64::new(0),
            spend_keys: Mutex::new(HashMap::new()),
            answer_timeout,
        });
        let heartbeat = runtime.spawn({
            let shared = Arc::downgrade(&shared);
            async move {
                loop {
                    let Some(s) = shared.upgrade() else { return };
                    let key = format!("{}replica:{}", s.prefix, s.replica);
                    let mut conn = s.conn.shared();
                    let _ = tokio::time::timeout(
                        s.answer_timeout,
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(1)
                            .arg("EX")
                            .arg(LIVENESS_SECONDS)
                            .query_async::<()>(&mut conn),
                    )
                    .await;
                    drop(s);
                    tokio::time::sleep(HEARTBEAT).await;
                }
            }
        });
        Ok(RedisCounters {
            shared,
            local: LocalCounters::new(),
            runtime,
            heartbeat,
        })
    }

    /// Admissions decided by this replica's own counters because Redis failed.
    pub fn degraded(&self) -> u64 {
        self.shared.degraded.load(Ordering::Relaxed)
    }

    /// This replica's id (its liveness key is `<prefix>replica:<id>`).
    pub fn replica(&self) -> &str {
        &self.shared.replica
    }

    async fn admit_shared(
        &self,
        entities: &[EntityLimits],
        projected_cost: f64,
        now: Micros,
    ) -> Result<Result<RedisLease, Refusal>, String> {
        let s = &self.shared;
        let minute = now.div_euclid(MICROS_PER_MINUTE);
        let minute_end = (minute + 1) * MICROS_PER_MINUTE;
        let retry_after =
            u64::try_from((minute_end - now + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND)
                .unwrap_or(60)
                .max(1);
        let counted: Vec<&EntityLimits> = entities.iter().filter(|e| !e.is_unlimited()).collect();
        let mut invocation = s.admit.prepare_invoke();
        invocation
            .arg(counted.len())
            .arg(projected_cost.max(0.0))
            .arg(&s.replica)
            .arg(&s.prefix);
        let mut spend_keys = Vec::with_capacity(counted.len());
        for e in &counted {
            let base = format!("{}{}", s.prefix, entity(&e.scope));
            let (window_start, ttl) = match e.budget.as_ref().and_then(|b| b.window) {
                Some(w) => {
                    let (start, end) = w.window(now);
                    (start, ((end - now) / MICROS_PER_SECOND).max(1) + 60)
                }
                None => (0, IDLE_SECONDS),
            };
            let spend_key = format!("{base}:spend:{window_start}");
            invocation
                .key(format!("{base}:rpm:{minute}"))
                .key(format!("{base}:tpm:{minute}"))
                .key(format!("{base}:parallel"))
                .key(&spend_key)
                .key(format!("{base}:reserved:{window_start}"));
            let limit = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
            invocation
                .arg(limit(e.rpm))
                .arg(limit(e.tpm))
                .arg(limit(e.parallel))
                .arg(e.budget.map_or(-1.0, |b| {
                    if b.max_budget.is_finite() {
                        b.max_budget.max(0.0)
                    } else {
                        0.0
                    }
                }))
                .arg(e.budget.map_or(0.0, |b| b.stored_spend.max(0.0)))
                .arg(ttl);
            spend_keys.push(spend_key);
        }
        let mut conn = s.conn.here();
        let reply: Vec<redis::Value> = match tokio::time::timeout(
            s.answer_timeout,
            invocation.invoke_async(&mut conn),
        )
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(crate::redact::mask_key_shapes(&e.to_string())),
            Err(_) => {
                return Err(format!(
                    "no answer within {} ms",
                    s.answer_timeout.as_millis()
                ))
            }
        };
        s.ok();
        let text = |v: &redis::Value| -> String {
            match v {
                redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                redis::Value::SimpleString(t) => t.clone(),
                redis::Value::Int(i) => i.to_string(),
                _ => String::new(),
            }
        };
        let status = reply.first().map(text).unwrap_or_default();
        if status == "1" {
            let i = reply
                .get(1)
                .map(text)
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(1);
            let kind = reply.get(2).map(text).unwrap_or_default();
            let value = reply
                .get(3)
                .map(text)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0);
            let Some(e) = counted.get(i.saturating_sub(1)) else {
                return Err("unexpected answer from the admission script".into());
            };
            let rate =
                |kind: LimitKind, limit: Option<u64>, retry_after: u64, resets_at: Micros| {
                    Refusal::RateLimited {
                        scope: e.scope.clone(),
                        kind,
                        limit: limit.unwrap_or(0),
                        retry_after,
                        resets_at,
                    }
                };
            return Ok(Err(match kind.as_str() {
                "budget" => Refusal::BudgetExceeded {
                    scope: e.scope.clone(),
                    spent: value,
                    max_budget: e.budget.map_or(0.0, |b| b.max_budget),
                },
                "parallel" => rate(
                    LimitKind::MaxParallelRequests,
                    e.parallel,
                    1,
                    now + MICROS_PER_SECOND,
                ),
                "rpm" => rate(LimitKind::Requests, e.rpm, retry_after, minute_end),
                _ => rate(LimitKind::Tokens, e.tpm, retry_after, minute_end),
            }));
        }
        {
            let mut known = lock(&s.spend_keys);
            for (e, k) in counted.iter().zip(&spend_keys) {
                if e.budget.is_some() {
                    known.insert(e.scope.clone(), k.clone());
                }
            }
        }
        Ok(Ok(RedisLease {
            shared: Arc::clone(s),
            runtime: self.runtime.clone(),
            entities: counted
                .iter()
                .zip(spend_keys)
                .map(|(e, spend_key)| LeaseEntity {
                    base: format!("{}{}", s.prefix, entity(&e.scope)),
                    spend_key,
                    reserved_key: String::new(),
                    tpm: e.tpm.is_some(),
                    parallel: e.parallel.is_some(),
                    budget: e.budget.is_some(),
                })
                .map(|mut l| {
                    let window = l.spend_key.rsplit(':').next().unwrap_or("0").to_owned();
                    l.reserved_key = format!("{}:reserved:{window}", l.base);
                    l
                })
                .collect(),
            projected: projected_cost.max(0.0),
            done: false,
        }))
    }
}

impl Counters for RedisCounters {
    fn admit<'a>(
        &'a self,
        entities: &'a [EntityLimits],
        projected_cost: f64,
        now: Micros,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, Refusal>> {
        Box::pin(async move {
            if entities.iter().all(EntityLimits::is_unlimited) {
                return self.local.admit(entities, projected_cost, now).await;
            }
            if !self.shared.is_down() {
                match self.admit_shared(entities, projected_cost, now).await {
                    Ok(Ok(lease)) => return Ok(Box::new(lease) as Box<dyn Lease>),
                    Ok(Err(refusal)) => return Err(refusal),
                    Err(why) => self.shared.failed(&why),
                }
            }
            self.shared.degraded.fetch_add(1, Ordering::Relaxed);
            self.local.admit(entities, projected_cost, now).await
        })
    }

    fn set_spend(&self, scope: &ScopeId, spend: f64, now: Micros) {
        self.local.set_spend(scope, spend, now);
        let Some(key) = lock(&self.shared.spend_keys).get(scope).cloned() else {
            return;
        };
        let mut conn = self.shared.conn.shared();
        let wait = self.shared.answer_timeout;
        self.runtime.spawn(async move {
            let _ = tokio::time::timeout(
                wait,
                redis::cmd("SET")
                    .arg(&key)
                    .arg(spend.max(0.0))
                    .arg("XX")
                    .arg("KEEPTTL")
                    .query_async::<()>(&mut conn),
            )
            .await;
        });
    }

    fn forget(&self, scope: &ScopeId) {
        self.local.forget(scope);
        lock(&self.shared.spend_keys).remove(scope);
    }

    fn in_flight(&self, scope: &ScopeId) -> u64 {
        self.local.in_flight(scope)
    }

    fn spend(&self, scope: &ScopeId, now: Micros) -> Option<f64> {
        self.local.spend(scope, now)
    }

    fn degraded(&self) -> u64 {
        RedisCounters::degraded(self)
    }
}

struct LeaseEntity {
    base: String,
    spend_key: String,
    reserved_key: String,
    tpm: bool,
    parallel: bool,
    budget: bool,
}

/// What an admission through Redis holds.
struct RedisLease {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    entities: Vec<LeaseEntity>,
    projected: f64,
    done: bool,
}

impl RedisLease {
    fn finish(&mut self, tokens: u64, cost: f64, now: Micros) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // rpm is counted at admission only: a lease of keys limited by rpm alone (or by
        // tpm, for a request without tokens) has nothing to settle, and no round trip.
        if !self
            .entities
            .iter()
            .any(|e| e.parallel || e.budget || (e.tpm && tokens > 0))
        {
            return;
        }
        self.shared.settlements.fetch_add(1, Ordering::Relaxed);
        let minute = now.div_euclid(MICROS_PER_MINUTE);
        let mut keys = Vec::with_capacity(self.entities.len() * 4);
        let mut args = vec![
            self.shared.replica.clone(),
            tokens.to_string(),
            (if cost.is_finite() { cost.max(0.0) } else { 0.0 }).to_string(),
            self.projected.to_string(),
        ];
        for e in &self.entities {
            keys.push(format!("{}:tpm:{minute}", e.base));
            keys.push(format!("{}:parallel", e.base));
            keys.push(e.spend_key.clone());
            keys.push(e.reserved_key.clone());
            for flag in [e.tpm, e.parallel, e.budget] {
                args.push(if flag { "1" } else { "0" }.to_owned());
            }
        }
        let shared = Arc::clone(&self.shared);
        // Settling never waits: the request already ended. On a serving thread it is
        // written by that thread's own connection, without waking another thread.
        self.shared
            .conn
            .spawn(&self.runtime, move |mut conn| async move {
                let mut invocation = shared.settle.prepare_invoke();
                for k in &keys {
                    invocation.key(k);
                }
                for a in &args {
                    invocation.arg(a);
                }
                match tokio::time::timeout(
                    shared.answer_timeout * 4,
                    invocation.invoke_async::<i64>(&mut conn),
                )
                .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => shared.failed(&crate::redact::mask_key_shapes(&e.to_string())),
                    Err(_) => shared.failed("no answer to a settlement"),
                }
            });
    }
}

impl Lease for RedisLease {
    fn settle(mut self: Box<Self>, tokens: u64, cost: f64, now: Micros) {
        self.finish(tokens, cost, now);
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        // Unsettled (cancelled): give back the slot and the reservation, charge nothing.
        self.finish(0, 0.0, crate::spend::clock::now());
    }
}

#[cfg(test)]
mod tests {
    use crate::test_redis::RedisServer;

    use super::*;
    use crate::proxy::state::counters::BudgetLimit;

    const NOW: Micros = 1_700_000_000 * MICROS_PER_SECOND;

    /// A replica's counters on `server`.
    fn replica_on(server: &RedisServer) -> RedisCounters {
        RedisCounters::new(&server.config(), "test:").unwrap()
    }

    fn key(id: &str) -> EntityLimits {
        EntityLimits::new(ScopeId::new(ScopeKind::Key, id))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_per_minute_hold_across_replicas() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let replicas: Vec<RedisCounters> = (0..3).map(|_| replica_on(&server)).collect();
        let mut k = key("rpm");
        k.rpm = Some(7);
        let mut admitted = 0;
        for i in 0..30 {
            match replicas[i % 3]
                .admit(std::slice::from_ref(&k), 0.0, NOW)
                .await
            {
                Ok(lease) => {
                    admitted += 1;
                    lease.settle(1, 0.0, NOW);
                }
                Err(Refusal::RateLimited { kind, limit, .. }) => {
                    assert_eq!((kind, limit), (LimitKind::Requests, 7));
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(admitted, 7);
        assert!(replicas.iter().all(|r| r.degraded() == 0));
        // Nothing to give back or charge for rpm: no settlement was sent.
        assert_eq!(
            replicas
                .iter()
                .map(|r| r.shared.settlements.load(Ordering::Relaxed))
                .sum::<u64>(),
            0
        );
        // A tpm limit is charged the tokens; without tokens there is nothing to charge.
        let mut t = key("tpm");
        t.tpm = Some(1_000);
        let settlements = || replicas[0].shared.settlements.load(Ordering::Relaxed);
        let lease = replicas[0].admit(std::slice::from_ref(&t), 0.0, NOW).await;
        lease.unwrap().settle(0, 0.0, NOW);
        assert_eq!(settlements(), 0);
        let lease = replicas[0].admit(std::slice::from_ref(&t), 0.0, NOW).await;
        lease.unwrap().settle(5, 0.0, NOW);
        assert_eq!(settlements(), 1);
        // The next minute starts afresh.
        assert!(replicas[0]
            .admit(&[k], 0.0, NOW + MICROS_PER_MINUTE)
            .await
            .is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_on_three_replicas_overshoot_a_budget_by_their_projection_error_only(
    ) {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let replicas: Vec<Arc<RedisCounters>> =
            (0..3).map(|_| Arc::new(replica_on(&server))).collect();
        let mut k = key("budget");
        // Budget for 20 calls projected at 0.05; each costs 0.06 (20 % over).
        k.budget = Some(BudgetLimit {
            max_budget: 1.0,
            window: None,
            stored_spend: 0.0,
        });
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let (r, k) = (replicas[i % 3].clone(), k.clone());
                tokio::spawn(async move { r.admit(&[k], 0.05, NOW).await.ok() })
            })
            .collect();
        let mut leases = Vec::new();
        for t in tasks {
            if let Some(l) = t.await.unwrap() {
                leases.push(l);
            }
        }
        assert!(
            replicas.iter().all(|r| r.degraded() == 0),
            "Redis answered every admission"
        );
        assert_eq!(
            leases.len(),
            20,
            "all in flight at once: exactly the budget's 20"
        );
        for l in leases {
            l.settle(1, 0.06, NOW);
        }
        // Settlements are written behind; once they are, spend is 20 × 0.06.
        // Wait for all twenty (a refusal comes as soon as the first few exceed the budget).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let refused = loop {
            match replicas[1].admit(std::slice::from_ref(&k), 0.0, NOW).await {
                Err(Refusal::BudgetExceeded { spent, .. })
                    if spent > 1.2 - 1e-9 || std::time::Instant::now() > deadline =>
                {
                    break spent
                }
                Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        assert!((refused - 1.2).abs() < 1e-9, "{refused}");
        assert!(refused <= 1.0 + 20.0 * 0.01 + 1e-9);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_slots_are_shared_and_given_back() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let (a, b) = (replica_on(&server), replica_on(&server));
        let mut k = key("parallel");
        k.parallel = Some(2);
        let first = a.admit(std::slice::from_ref(&k), 0.0, NOW).await.unwrap();
        let second = b.admit(std::slice::from_ref(&k), 0.0, NOW).await.unwrap();
        let refused = a.admit(std::slice::from_ref(&k), 0.0, NOW).await.err();
        assert!(matches!(
            refused,
            Some(Refusal::RateLimited {
                kind: LimitKind::MaxParallelRequests,
                ..
            })
        ));
        drop(first); // cancelled: the slot comes back
        second.settle(3, 0.0, NOW);
        let again = loop {
            if let Ok(l) = b.admit(std::slice::from_ref(&k), 0.0, NOW).await {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(again);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serving_threads_count_through_their_own_connections_and_share_the_limits() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let counters = Arc::new(replica_on(&server));
        let other = replica_on(&server);
        let mut k = key("serving-rpm");
        k.rpm = Some(7);
        let mut admitted = 0;
        // Two serving threads of this replica, then this runtime and another replica.
        for _ in 0..2 {
            let (c, k) = (counters.clone(), k.clone());
            admitted += crate::cache::redis_conn::on_serving_thread(move || async move {
                let mut n = 0;
                for _ in 0..5 {
                    if let Ok(lease) = c.admit(std::slice::from_ref(&k), 0.0, NOW).await {
                        lease.settle(1, 0.0, NOW);
                        n += 1;
                    }
                }
                n
            })
            .await;
        }
        for c in [&*counters, &other] {
            for _ in 0..3 {
                if let Ok(lease) = c.admit(std::slice::from_ref(&k), 0.0, NOW).await {
                    lease.settle(1, 0.0, NOW);
                    admitted += 1;
                }
            }
        }
        assert_eq!(admitted, 7, "one limit for every thread and replica");
        assert_eq!(counters.degraded() + other.degraded(), 0);
        assert_eq!(
            counters.shared.conn.own_connections(),
            2,
            "each serving thread used a connection of its own"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serving_threads_slots_come_back_also_when_its_runtime_drops_them() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let counters = Arc::new(replica_on(&server));
        let other = replica_on(&server);
        let mut k = key("serving-parallel");
        k.parallel = Some(1);
        // Settled on the serving thread: written by its own connection.
        let (c, k1) = (counters.clone(), k.clone());
        crate::cache::redis_conn::on_serving_thread(move || async move {
            let lease = c.admit(std::slice::from_ref(&k1), 0.0, NOW).await.unwrap();
            lease.settle(1, 0.0, NOW);
        })
        .await;
        let free_again = || async {
            for _ in 0..500 {
                if let Ok(lease) = other.admit(std::slice::from_ref(&k), 0.0, NOW).await {
                    return Some(lease);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None
        };
        let lease = free_again().await.expect("the settled slot came back");
        drop(lease);
        // Held by a request that is still running when the thread's runtime ends: the lease
        // drops with the runtime, after the thread's own connections are gone.
        let (c, k2) = (counters.clone(), k.clone());
        crate::cache::redis_conn::on_serving_thread(move || async move {
            // Wait until the slot `other` gave back is free here too.
            let lease = loop {
                if let Ok(lease) = c.admit(std::slice::from_ref(&k2), 0.0, NOW).await {
                    break lease;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            tokio::spawn(async move {
                let _held = lease;
                std::future::pending::<()>().await;
            });
        })
        .await;
        assert!(free_again().await.is_some(), "the dropped slot came back");
        assert_eq!(counters.degraded() + other.degraded(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serving_thread_degrades_to_local_limits_on_an_outage_and_recovers() {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let counters = Arc::new(replica_on(&server));
        let mut k = key("serving-outage");
        k.rpm = Some(1000);
        let mut one = key("serving-after-outage");
        one.rpm = Some(1);
        let (c, k1) = (counters.clone(), k.clone());
        let run = |c: Arc<RedisCounters>, k: EntityLimits, n: usize| {
            crate::cache::redis_conn::on_serving_thread(move || async move {
                for _ in 0..n {
                    c.admit(std::slice::from_ref(&k), 0.0, NOW)
                        .await
                        .expect("never refused, never failed")
                        .settle(1, 0.0, NOW);
                }
            })
        };
        run(c, k1, 1).await;
        assert_eq!(counters.degraded(), 0);
        server.stop();
        // Never fails, never blocks: admitted by this replica's own counters.
        run(counters.clone(), k.clone(), 20).await;
        assert!(counters.degraded() >= 20, "{}", counters.degraded());
        server.restart();
        // Shared again from a serving thread once Redis answers (after the retry pause).
        let c = counters.clone();
        crate::cache::redis_conn::on_serving_thread(move || async move {
            loop {
                let before = c.degraded();
                c.admit(std::slice::from_ref(&k), 0.0, NOW)
                    .await
                    .unwrap()
                    .settle(1, 0.0, NOW);
                if c.degraded() == before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop(c.admit(std::slice::from_ref(&one), 0.0, NOW).await.unwrap());
        })
        .await;
        let other = replica_on(&server);
        let mut one = key("serving-after-outage");
        one.rpm = Some(1);
        assert!(other.admit(&[one], 0.0, NOW).await.is_err(), "shared again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_outage_degrades_to_local_limits_and_recovers() {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let counters = replica_on(&server);
        let mut k = key("outage");
        k.rpm = Some(1000);
        counters
            .admit(std::slice::from_ref(&k), 0.0, NOW)
            .await
            .unwrap()
            .settle(1, 0.0, NOW);
        assert_eq!(counters.degraded(), 0);
        server.stop();
        // Never fails, never blocks: admitted by this replica's own counters.
        for _ in 0..20 {
            counters
                .admit(std::slice::from_ref(&k), 0.0, NOW)
                .await
                .unwrap()
                .settle(1, 0.0, NOW);
        }
        assert!(counters.degraded() >= 20);
        server.restart();
        // Shared again once Redis answers (after the retry pause): an admission that is
        // not counted as degraded went through Redis.
        loop {
            let before = counters.degraded();
            counters
                .admit(std::slice::from_ref(&k), 0.0, NOW)
                .await
                .unwrap()
                .settle(1, 0.0, NOW);
            if counters.degraded() == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let other = replica_on(&server);
        let mut one = key("after-outage");
        one.rpm = Some(1);
        counters
            .admit(std::slice::from_ref(&one), 0.0, NOW)
            .await
            .unwrap();
        assert!(other.admit(&[one], 0.0, NOW).await.is_err(), "shared again");
    }
}
