//! [`RedisUsage`]: deployment counters shared by routers through Redis (LiteLLM's
//! `redis_host`/`redis_port`/`redis_password` or `redis_url`), under
//! `<prefix>deployment:<id>:...`. Per counter:
//!
//! - **rpm/tpm limits** (usage-based routing, a deployment with `rpm`/`tpm`): exact for
//!   requests. Each attempt runs one Lua script that refuses if the minute's shared count
//!   reached `rpm` (or its tokens reached `tpm`) and otherwise counts the request, so the
//!   limit holds across routers within each UTC minute. Tokens are counted when calls end
//!   and pushed in batches (below), so, as within one router, calls in flight may pass
//!   `tpm` by their own tokens.
//! - **requests and tokens per minute for usage-based ranking**, and **calls in flight for
//!   least-busy**: batched. Every [`SYNC_EVERY`] one script adds what this router counted
//!   since the last push, writes its calls in flight, and reads every router's totals; the
//!   strategies rank on this router's live counts plus the others' last-read ones (a view
//!   at most [`SYNC_EVERY`] old: exactness buys nothing for balancing).
//! - **`max_parallel_requests`**: exact. Each attempt on a deployment with the limit runs
//!   one script that takes a slot in a sorted set of leases (`...:parallel`, one member per
//!   call) if fewer than `max_parallel_requests` are held, and the call's lease is removed
//!   when it ends or is cancelled (dropped). Each lease expires [`LEASE_TTL`] after it was
//!   last renewed, and its router renews the leases it holds every [`RENEW_EVERY`], so a
//!   replica that crashed (or a lease whose taking timed out here) stops holding a slot
//!   within [`LEASE_TTL`]. This router's own in-flight count still applies first.
//! - **failures towards a cooldown** (`allowed_fails`): exact. Each failure that did not
//!   reach the limit on this router alone is one script (`INCR` of the minute's count);
//!   the router whose failure makes the sum pass `allowed_fails` starts the cooldown, which
//!   the shared cooldowns then spread to every router.
//!
//! Redis never blocks or fails a call: every wait is bounded by the connection's response
//! timeout (250 ms unless set); an error or a late answer makes this router decide on its
//! own counters (it already counted), warns once until Redis answers again, counts the
//! decision in [`UsageCounters::degraded`], and leaves Redis alone for [`RETRY_AFTER`].
//! For `max_parallel_requests` that makes the limit per router while it lasts; slots taken
//! then are not counted in Redis, and slots taken before it that outlive an outage longer
//! than [`LEASE_TTL`] (or a Redis restart) are no longer counted there.
//!
//! Connections ([`RedisConn`]): on a gateway's serving thread the round trips a call waits
//! on (the rpm/tpm admission, taking a `max_parallel_requests` slot) and the removal of its
//! lease go through that thread's own connection (no other thread is woken); the sync, the
//! renewals and failure counts run on the router's runtime with the shared one.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::Script;

use super::deployment::Deployment;
use super::usage::{ParallelSlot, StartCooldown, Usage, UsageCounters, UsageFuture};
use crate::cache::config::RedisConfig;
use crate::cache::outage::Outage;
use crate::cache::redis_conn::RedisConn;

/// How often the batched counters are pushed and the others' read.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);
/// How long a decision waits for Redis unless the config says otherwise.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is not asked after it failed.
pub use crate::cache::outage::RETRY_AFTER;
/// A `max_parallel_requests` lease not renewed for this long is dropped (its router is
/// gone).
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often a router renews the `max_parallel_requests` leases it holds.
pub const RENEW_EVERY: Duration = Duration::from_millis(2_500);
/// A router whose calls in flight were not refreshed for this long is gone.
const STALE_MS: u64 = 5_000;
/// The others' view is not used once this old (Redis stopped answering).
const VIEW_MAX_AGE: Duration = Duration::from_secs(5);

const ADMIT: &str = r#"
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local r = tonumber(redis.call('GET', KEYS[1]) or '0')
if rpm >= 0 and r >= rpm then return {0, r} end
if tpm >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tpm then return {0, r} end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
return {1, r + 1}
"#;

/// KEYS: the deployment's lease set. ARGV: `max_parallel_requests`, the lease, its TTL in
/// ms. Drops expired leases, then takes a slot if one is free: 1, else 0.
const TAKE_PARALLEL: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"#;

/// KEYS: a deployment's lease set. ARGV: the TTL in ms, then the leases this router holds
/// there: each still present lives another TTL (a lease already gone is not added back).
const RENEW_PARALLEL: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 0
"#;

const FAIL: &str = r#"
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
if n > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

/// KEYS per deployment: requests, tokens (this minute), in-flight hash. ARGV: replica, the
/// age in ms after which a router's calls in flight no longer count, then per deployment: requests and tokens to add, calls in flight here. Returns per
/// deployment: requests, tokens, the other routers' calls in flight.
const SYNC: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local replica = ARGV[1]
local out = {}
for i = 1, #KEYS / 3 do
  local k = (i - 1) * 3
  local a = 2 + (i - 1) * 3
  local dr = tonumber(ARGV[a + 1])
  local dt = tonumber(ARGV[a + 2])
  if dr > 0 then
    redis.call('INCRBY', KEYS[k + 1], dr)
    redis.call('EXPIRE', KEYS[k + 1], 120)
  end
  if dt > 0 then
    redis.call('INCRBY', KEYS[k + 2], dt)
    redis.call('EXPIRE', KEYS[k + 2], 120)
  end
  redis.call('HSET', KEYS[k + 3], replica, ARGV[a + 3] .. ':' .. now)
  redis.call('EXPIRE', KEYS[k + 3], 60)
  local busy = 0
  local all = redis.call('HGETALL', KEYS[k + 3])
  for j = 1, #all, 2 do
    if all[j] ~= replica then
      local c, at = string.match(all[j + 1], '^(%d+):(%d+)$')
      if c and now - tonumber(at) < tonumber(ARGV[2]) then
        busy = busy + tonumber(c)
      else
        redis.call('HDEL', KEYS[k + 3], all[j])
      end
    end
  end
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
  out[#out + 1] = busy
end
return out
"#;

/// The UTC minute now (the window of rpm, tpm and failures, the same on every router).
fn wall_minute() -> u64 {
    u64::try_from(crate::spend::clock::now().div_euclid(60_000_000)).unwrap_or(0)
}

/// One deployment's counters here.
#[derive(Default)]
struct Slot {
    /// Requests and tokens counted here and not pushed yet.
    pending_requests: AtomicU64,
    pending_tokens: AtomicU64,
    /// The minute of `own_*`: what this router counted in Redis in that minute.
    own_minute: AtomicU64,
    own_requests: AtomicU64,
    own_tokens: AtomicU64,
    /// The others' usage as last read, and the minute it is of.
    view_minute: AtomicU64,
    others_requests: AtomicU64,
    others_tokens: AtomicU64,
    others_in_flight: AtomicU64,
    /// A minute in which Redis refused this deployment (at its limit across routers).
    full_minute: AtomicU64,
    /// The `max_parallel_requests` leases this router holds in Redis (renewed by the sync
    /// task).
    leases: Mutex<HashSet<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Slot {
    /// Note `requests` and `tokens` this router put into Redis in `minute`.
    fn own(&self, minute: u64, requests: u64, tokens: u64) {
        if self.own_minute.swap(minute, Ordering::AcqRel) != minute {
            self.own_requests.store(0, Ordering::Release);
            self.own_tokens.store(0, Ordering::Release);
        }
        self.own_requests.fetch_add(requests, Ordering::AcqRel);
        self.own_tokens.fetch_add(tokens, Ordering::AcqRel);
    }

    fn own_in(&self, minute: u64) -> (u64, u64) {
        if self.own_minute.load(Ordering::Acquire) == minute {
            (
                self.own_requests.load(Ordering::Acquire),
                self.own_tokens.load(Ordering::Acquire),
            )
        } else {
            (0, 0)
        }
    }
}

/// What a router's counters share with the counters of the routers an edit of its
/// model list builds from it ([`UsageCounters::for_deployments`]): the connection, this
/// router's name in Redis, the outage and the counts of degraded decisions.
struct Common {
    /// What a call waits on (admission, taking a parallel slot) and the giving back of a
    /// slot use a serving thread's own connection there; the sync, renewals and failure
    /// counts the shared one.
    conn: RedisConn,
    prefix: String,
    replica: String,
    admit: Script,
    fail: Script,
    sync: Script,
    take_parallel: Script,
    renew_parallel: Script,
    /// The number of the next `max_parallel_requests` lease.
    next_lease: AtomicU64,
    /// [`LEASE_TTL`] in ms (tests shorten it).
    lease_ttl_ms: AtomicU64,
    timeout: Duration,
    outage: Outage,
    degraded: AtomicU64,
    /// When the others' view was last read (ms after `started`, plus one; 0: never).
    synced_ms: AtomicU64,
    started: Instant,
    runtime: tokio::runtime::Handle,
    /// The window now: [`wall_minute`] (tests move it).
    minute: MinuteSource,
}

struct Inner {
    common: Arc<Common>,
    deployments: Vec<Arc<Deployment>>,
    /// One per deployment, in order; a deployment an edit keeps (same id) keeps its slot.
    slots: Vec<Arc<Slot>>,
}

impl std::ops::Deref for Inner {
    type Target = Common;

    fn deref(&self) -> &Common {
        &self.common
    }
}

/// Which minute it is (the index of the window).
pub type MinuteSource = Arc<dyn Fn() -> u64 + Send + Sync>;

impl Inner {
    fn key(&self, d: &Deployment, what: &str) -> String {
        format!("{}deployment:{}:{what}", self.prefix, d.id)
    }

    fn is_down(&self) -> bool {
        self.outage.is_down()
    }

    /// The member of the lease set that lease `n` of this router is.
    fn lease_member(&self, n: u64) -> String {
        format!("{}:{n}", self.replica)
    }

    fn lease_ttl_ms(&self) -> u64 {
        self.lease_ttl_ms.load(Ordering::Relaxed)
    }

    /// Remove lease `n` of deployment `d` from Redis (the call ended, or taking it timed
    /// out and may still have happened). Not waited for; a lease not removed expires.
    fn drop_lease(self: &Arc<Self>, index: usize, n: u64) {
        let Some(d) = self.deployments.get(index) else {
            return;
        };
        let key = self.key(d, "parallel");
        let member = self.lease_member(n);
        let timeout = self.timeout;
        self.conn.spawn(&self.runtime, move |mut conn| async move {
            let _ = tokio::time::timeout(
                timeout,
                redis::cmd("ZREM")
                    .arg(&key)
                    .arg(&member)
                    .query_async::<i64>(&mut conn),
            )
            .await;
        });
    }

    /// Give every lease this router holds another [`LEASE_TTL`].
    async fn renew_leases(&self) -> Result<(), String> {
        for (d, slot) in self.deployments.iter().zip(&self.slots) {
            let held: Vec<u64> = lock(&slot.leases).iter().copied().collect();
            if held.is_empty() {
                continue;
            }
            let mut invocation = self.renew_parallel.prepare_invoke();
            invocation
                .key(self.key(d, "parallel"))
                .arg(self.lease_ttl_ms());
            for n in held {
                invocation.arg(self.lease_member(n));
            }
            let mut conn = self.conn.shared();
            match tokio::time::timeout(self.timeout * 2, invocation.invoke_async::<i64>(&mut conn))
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(crate::redact::mask_key_shapes(&e.to_string())),
                Err(_) => return Err("no answer to a lease renewal".to_owned()),
            }
        }
        Ok(())
    }

    fn failed(&self, why: &str) {
        self.outage.failed(why);
    }

    fn ok(&self) {
        self.outage.ok();
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Whether the others' view was read recently (Redis answers).
    fn view_is_fresh(&self) -> bool {
        match self.synced_ms.load(Ordering::Acquire) {
            0 => false,
            at => {
                self.elapsed_ms().saturating_sub(at - 1)
                    < u64::try_from(VIEW_MAX_AGE.as_millis()).unwrap_or(u64::MAX)
            }
        }
    }

    fn slot(&self, d: &Deployment) -> Option<&Slot> {
        self.slots
            .get(d.index)
            .filter(|_| self.deployments.get(d.index).is_some_and(|x| x.id == d.id))
            .map(|s| &**s)
    }

    /// Push the batched counts, write the calls in flight here, read the others'.
    async fn sync(&self) -> Result<(), String> {
        let minute = (self.minute)();
        let mut invocation = self.sync.prepare_invoke();
        invocation.arg(&self.replica).arg(STALE_MS);
        let mut taken = Vec::with_capacity(self.slots.len());
        for (d, slot) in self.deployments.iter().zip(&self.slots) {
            let requests = slot.pending_requests.swap(0, Ordering::AcqRel);
            let tokens = slot.pending_tokens.swap(0, Ordering::AcqRel);
            slot.own(minute, requests, tokens);
            taken.push((requests, tokens));
            invocation
                .key(self.key(d, &format!("requests:{minute}")))
                .key(self.key(d, &format!("tokens:{minute}")))
                .key(self.key(d, "busy"))
                .arg(requests)
                .arg(tokens)
                .arg(d.state.in_flight.load(Ordering::Relaxed));
        }
        let mut conn = self.conn.shared();
        let answer = tokio::time::timeout(
            self.timeout * 2,
            invocation.invoke_async::<Vec<u64>>(&mut conn),
        )
        .await;
        let totals = match answer {
            Ok(Ok(v)) if v.len() == 3 * self.slots.len() => v,
            other => {
                // Not pushed: counted again next time (unless the minute is over).
                for (slot, (requests, tokens)) in self.slots.iter().zip(taken) {
                    slot.pending_requests.fetch_add(requests, Ordering::AcqRel);
                    slot.pending_tokens.fetch_add(tokens, Ordering::AcqRel);
                    if slot.own_minute.load(Ordering::Acquire) == minute {
                        let _ = slot.own_requests.fetch_update(
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                            |n| Some(n.saturating_sub(requests)),
                        );
                        let _ = slot.own_tokens.fetch_update(
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                            |n| Some(n.saturating_sub(tokens)),
                        );
                    }
                }
                return Err(match other {
                    Ok(Ok(_)) => "an unexpected answer to a counter sync".to_owned(),
                    Ok(Err(e)) => crate::redact::mask_key_shapes(&e.to_string()),
                    Err(_) => "no answer to a counter sync".to_owned(),
                });
            }
        };
        for (slot, t) in self.slots.iter().zip(totals.chunks(3)) {
            let (own_r, own_t) = slot.own_in(minute);
            slot.others_requests
                .store(t[0].saturating_sub(own_r), Ordering::Release);
            slot.others_tokens
                .store(t[1].saturating_sub(own_t), Ordering::Release);
            slot.others_in_flight.store(t[2], Ordering::Release);
            slot.view_minute.store(minute, Ordering::Release);
        }
        self.synced_ms
            .store(self.elapsed_ms() + 1, Ordering::Release);
        Ok(())
    }
}

/// Deployment counters shared through Redis. See the module's documentation.
pub struct RedisUsage {
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RedisUsage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisUsage {
    /// Counters for `deployments` (a router's, in its order: [`super::Router::deployments`])
    /// under `prefix`. Connects lazily (a Redis that is down now does not fail this; a
    /// malformed URL does); writes and the periodic sync run on `runtime`. `warn` reports
    /// an outage and the recovery.
    pub fn new(
        config: &RedisConfig,
        prefix: &str,
        deployments: &[Arc<Deployment>],
        runtime: tokio::runtime::Handle,
        warn: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<RedisUsage, String> {
        Self::with_minutes(
            config,
            prefix,
            deployments,
            runtime,
            warn,
            Arc::new(wall_minute),
        )
    }

    /// [`RedisUsage::new`] with windows numbered by `minute` instead of the UTC minute.
    pub fn with_minutes(
        config: &RedisConfig,
        prefix: &str,
        deployments: &[Arc<Deployment>],
        runtime: tokio::runtime::Handle,
        warn: Arc<dyn Fn(&str) + Send + Sync>,
        minute: MinuteSource,
    ) -> Result<RedisUsage, String> {
        let shown = crate::cache::redis_shown(config);
        let timeout = config.response_timeout.unwrap_or(RESPONSE_TIMEOUT);
        let conn = RedisConn::new(config, timeout, &runtime)?;
        let common = Arc::new(Common {
            conn,
            prefix: prefix.to_owned(),
            replica: format!("{:016x}", fastrand::u64(..)),
            admit: Script::new(ADMIT),
            fail: Script::new(FAIL),
            sync: Script::new(SYNC),
            take_parallel: Script::new(TAKE_PARALLEL),
            renew_parallel: Script::new(RENEW_PARALLEL),
            next_lease: AtomicU64::new(0),
            lease_ttl_ms: AtomicU64::new(u64::try_from(LEASE_TTL.as_millis()).unwrap_or(u64::MAX)),
            timeout,
            outage: Outage::new(shown, "deployment rpm/tpm and parallel-request limits, failure counts and routing usage are counted per replica until it is back", "deployment counters are shared again", warn),
            degraded: AtomicU64::new(0),
            synced_ms: AtomicU64::new(0),
            started: Instant::now(),
            runtime,
            minute,
        });
        Ok(RedisUsage::start(Inner {
            common,
            deployments: deployments.to_vec(),
            slots: deployments.iter().map(|_| Arc::default()).collect(),
        }))
    }

    /// Counters over `inner`, pushed and read every [`SYNC_EVERY`] until dropped.
    fn start(inner: Inner) -> RedisUsage {
        let inner = Arc::new(inner);
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let task = inner.runtime.spawn(async move {
            let mut last_renewal = Instant::now();
            loop {
                tokio::time::sleep(SYNC_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.slots.is_empty() || inner.is_down() {
                    continue;
                }
                let mut done = inner.sync().await;
                if done.is_ok() && last_renewal.elapsed() >= RENEW_EVERY {
                    last_renewal = Instant::now();
                    done = inner.renew_leases().await;
                }
                match done {
                    Ok(()) => inner.ok(),
                    Err(why) => inner.failed(&why),
                }
            }
        });
        RedisUsage { inner, task }
    }

    /// Push and read now (tests; the router does it every [`SYNC_EVERY`]).
    pub async fn sync_now(&self) -> Result<(), String> {
        self.inner.sync().await
    }

    /// Leases not renewed for `ttl` expire (tests; [`LEASE_TTL`] otherwise).
    #[cfg(test)]
    fn set_lease_ttl(&self, ttl: Duration) {
        self.inner.lease_ttl_ms.store(
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Renew the `max_parallel_requests` leases held here now (tests; the router does it
    /// every [`RENEW_EVERY`]).
    pub async fn renew_now(&self) -> Result<(), String> {
        self.inner.renew_leases().await
    }
}

/// A `max_parallel_requests` lease held in Redis: removed when dropped.
struct HeldLease {
    inner: Arc<Inner>,
    index: usize,
    n: u64,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(slot) = self.inner.slots.get(self.index) {
            lock(&slot.leases).remove(&self.n);
        }
        self.inner.drop_lease(self.index, self.n);
    }
}

impl UsageCounters for RedisUsage {
    fn admit<'a>(&'a self, d: &'a Deployment) -> UsageFuture<'a, bool> {
        Box::pin(async move {
            let inner = &*self.inner;
            let Some(slot) = inner.slot(d) else {
                return true;
            };
            if inner.is_down() {
                inner.degraded.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            let minute = (inner.minute)();
            let mut invocation = inner.admit.prepare_invoke();
            invocation
                .key(inner.key(d, &format!("requests:{minute}")))
                .key(inner.key(d, &format!("tokens:{minute}")))
                .arg(d.rpm.map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX)))
                .arg(d.tpm.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)));
            let mut conn = inner.conn.here();
            match tokio::time::timeout(
                inner.timeout,
                invocation.invoke_async::<(i64, i64)>(&mut conn),
            )
            .await
            {
                Ok(Ok((admitted, _count))) => {
                    inner.ok();
                    if admitted == 1 {
                        slot.own(minute, 1, 0);
                        true
                    } else {
                        slot.full_minute.store(minute + 1, Ordering::Release);
                        false
                    }
                }
                Ok(Err(e)) => {
                    inner.failed(&crate::redact::mask_key_shapes(&e.to_string()));
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(_) => {
                    inner.failed("no answer within the deadline");
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                    true
                }
            }
        })
    }

    fn take_parallel<'a>(
        &'a self,
        d: &'a Deployment,
        max: u32,
    ) -> UsageFuture<'a, Option<ParallelSlot>> {
        Box::pin(async move {
            let inner = &self.inner;
            let Some(slot) = inner.slot(d) else {
                return Some(ParallelSlot::local());
            };
            if inner.is_down() {
                inner.degraded.fetch_add(1, Ordering::Relaxed);
                return Some(ParallelSlot::local());
            }
            let n = inner.next_lease.fetch_add(1, Ordering::Relaxed);
            let mut invocation = inner.take_parallel.prepare_invoke();
            invocation
                .key(inner.key(d, "parallel"))
                .arg(max)
                .arg(inner.lease_member(n))
                .arg(inner.lease_ttl_ms());
            let mut conn = inner.conn.here();
            let answer =
                tokio::time::timeout(inner.timeout, invocation.invoke_async::<i64>(&mut conn))
                    .await;
            match answer {
                Ok(Ok(1)) => {
                    inner.ok();
                    lock(&slot.leases).insert(n);
                    Some(ParallelSlot::shared(Box::new(HeldLease {
                        inner: Arc::clone(inner),
                        index: d.index,
                        n,
                    })))
                }
                Ok(Ok(_)) => {
                    inner.ok();
                    None
                }
                Ok(Err(e)) => {
                    inner.failed(&crate::redact::mask_key_shapes(&e.to_string()));
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                    inner.drop_lease(d.index, n);
                    Some(ParallelSlot::local())
                }
                Err(_) => {
                    inner.failed("no answer within the deadline");
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                    // It may have been taken all the same: removed once Redis answers (it
                    // expires otherwise).
                    inner.drop_lease(d.index, n);
                    Some(ParallelSlot::local())
                }
            }
        })
    }

    fn count_request(&self, d: &Deployment) {
        if let Some(slot) = self.inner.slot(d) {
            slot.pending_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn add_tokens(&self, d: &Deployment, tokens: u64) {
        if let Some(slot) = self.inner.slot(d) {
            slot.pending_tokens.fetch_add(tokens, Ordering::Relaxed);
        }
    }

    fn add_failure(&self, d: &Deployment, allowed_fails: u32, start: StartCooldown) {
        let inner = &self.inner;
        if inner.slot(d).is_none() {
            return;
        }
        if inner.is_down() {
            inner.degraded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let key = inner.key(d, &format!("fails:{}", (inner.minute)()));
        let inner = Arc::clone(inner);
        self.inner.runtime.spawn(async move {
            let mut invocation = inner.fail.prepare_invoke();
            invocation.key(&key).arg(allowed_fails);
            let mut conn = inner.conn.shared();
            match tokio::time::timeout(inner.timeout, invocation.invoke_async::<i64>(&mut conn))
                .await
            {
                Ok(Ok(reached)) => {
                    inner.ok();
                    if reached == 1 {
                        start();
                    }
                }
                Ok(Err(e)) => {
                    inner.failed(&crate::redact::mask_key_shapes(&e.to_string()));
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    inner.failed("no answer within the deadline");
                    inner.degraded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    fn others(&self, d: &Deployment) -> Usage {
        let inner = &*self.inner;
        let Some(slot) = inner.slot(d) else {
            return Usage::default();
        };
        let minute = (inner.minute)();
        if slot.full_minute.load(Ordering::Acquire) == minute + 1 {
            // Refused by Redis this minute: at its limit until the next.
            return Usage {
                requests: u64::MAX / 4,
                tokens: u64::MAX / 4,
                in_flight: slot.others_in_flight.load(Ordering::Relaxed),
            };
        }
        if !inner.view_is_fresh() {
            return Usage::default();
        }
        let this_minute = slot.view_minute.load(Ordering::Acquire) == minute;
        Usage {
            requests: if this_minute {
                slot.others_requests.load(Ordering::Relaxed)
            } else {
                0
            },
            tokens: if this_minute {
                slot.others_tokens.load(Ordering::Relaxed)
            } else {
                0
            },
            in_flight: slot.others_in_flight.load(Ordering::Relaxed),
        }
    }

    fn degraded(&self) -> u64 {
        self.inner.degraded.load(Ordering::Relaxed)
    }

    fn for_deployments(&self, deployments: &[Arc<Deployment>]) -> Arc<dyn UsageCounters> {
        let kept: std::collections::HashMap<&str, &Arc<Slot>> = self
            .inner
            .deployments
            .iter()
            .zip(&self.inner.slots)
            .map(|(d, slot)| (d.id.as_str(), slot))
            .collect();
        Arc::new(RedisUsage::start(Inner {
            common: Arc::clone(&self.inner.common),
            deployments: deployments.to_vec(),
            slots: deployments
                .iter()
                .map(|d| {
                    kept.get(d.id.as_str())
                        .map_or_else(Arc::default, |s| Arc::clone(s))
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use crate::test_redis::RedisServer;
    use std::sync::atomic::AtomicU64;

    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorKind;
    use crate::http::HttpClient;
    use crate::router::{
        default_token_counter, ModelFacts, Router, RouterConfig, RouterRequest, RouterSettings,
        SystemClock,
    };
    use crate::types::{ChatRequest, Message};

    fn no_catalogue(_: &str, _: &str) -> ModelFacts {
        ModelFacts::default()
    }

    /// One router of several sharing `server`, in the window `minute` says.
    struct Replica {
        router: Router,
        usage: Arc<RedisUsage>,
    }

    fn replica(
        server: &RedisServer,
        model_list: &Value,
        settings: &Value,
        minute: &Arc<AtomicU64>,
    ) -> Replica {
        replica_warning_to(server, model_list, settings, minute, Arc::new(|_: &str| {}))
    }

    fn replica_warning_to(
        server: &RedisServer,
        model_list: &Value,
        settings: &Value,
        minute: &Arc<AtomicU64>,
        warn: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Replica {
        let settings = RouterSettings::from_map(settings.as_object().cloned().unwrap_or_default())
            .expect("settings");
        let config = RouterConfig::new(model_list.clone(), settings).expect("config");
        let router = Router::build(
            config,
            Arc::new(SystemClock::new()),
            no_catalogue,
            default_token_counter,
        )
        .expect("router");
        let minute = minute.clone();
        let usage = Arc::new(
            RedisUsage::with_minutes(
                &server.config(),
                "test:",
                router.deployments(),
                tokio::runtime::Handle::current(),
                warn,
                Arc::new(move || minute.load(Ordering::SeqCst)),
            )
            .unwrap(),
        );
        assert!(router.share_usage(usage.clone()));
        Replica { router, usage }
    }

    fn call(model: &str) -> RouterRequest {
        RouterRequest::new(model, ChatRequest::new(model, vec![Message::user("hi")]))
    }

    fn deployment(id: &str, params: Value) -> Value {
        let mut p = params;
        p["model"] = json!("openai/gpt-4o");
        p["mock_response"] = json!("ok");
        json!({"model_name": "g", "litellm_params": p, "model_info": {"id": id}})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deployments_rpm_holds_across_routers_within_a_minute() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(1_000));
        let list = json!([deployment("limited", json!({"rpm": 5}))]);
        let settings = json!({"routing_strategy": "usage-based-routing", "num_retries": 0});
        let replicas: Vec<Replica> = (0..3)
            .map(|_| replica(&server, &list, &settings, &minute))
            .collect();
        let client = HttpClient::new().unwrap();
        let mut ok = 0;
        for i in 0..15 {
            match replicas[i % 3].router.completion(&client, &call("g")).await {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.kind, ErrorKind::RouterRateLimit, "{}", e.message),
            }
        }
        assert_eq!(ok, 5, "each router alone would allow 5");
        assert!(replicas.iter().all(|r| r.usage.degraded() == 0));
        // The next window starts afresh.
        minute.fetch_add(1, Ordering::SeqCst);
        assert!(replicas[1]
            .router
            .completion(&client, &call("g"))
            .await
            .is_ok());
    }

    /// Take a deployment of group `g` on `router` as a call would (the lease is held until
    /// dropped), or None when none is free.
    async fn hold(router: &Router) -> Option<crate::router::Lease> {
        let route = router.resolve("g").expect("group g");
        let request = ChatRequest::new("g", vec![Message::user("hi")]);
        let asked = crate::router::Asked::Chat(&request);
        let mut needs = router.needs(asked, false, None);
        router.take(&route, &mut needs, asked, &[], None).await.ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn max_parallel_requests_holds_across_routers_and_slots_come_back_when_calls_end() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(20));
        let list = json!([deployment("p", json!({"max_parallel_requests": 2}))]);
        let settings = json!({"num_retries": 0});
        let replicas: Vec<Replica> = (0..3)
            .map(|_| replica(&server, &list, &settings, &minute))
            .collect();
        let first = hold(&replicas[0].router).await.expect("a free slot");
        let second = hold(&replicas[1].router).await.expect("a free slot");
        assert!(first.holds_shared_slot() && second.holds_shared_slot());
        // Each router alone holds one of two: together they hold both.
        for r in &replicas {
            assert!(hold(&r.router).await.is_none(), "a third call in flight");
        }
        // A refused attempt is not counted in flight anywhere.
        assert_eq!(
            replicas[2].router.deployments()[0]
                .state
                .in_flight
                .load(Ordering::SeqCst),
            0
        );
        // A call that ends (or is cancelled: its future and lease dropped) gives its slot back.
        drop(first);
        let mut third = None;
        for _ in 0..1_500 {
            third = hold(&replicas[2].router).await;
            if third.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(third.is_some(), "the slot came back");
        assert!(hold(&replicas[0].router).await.is_none());
        // Through the router's own calls too: two routed calls end, and their slots are free.
        drop((second, third));
        let client = HttpClient::new().unwrap();
        for r in &replicas {
            let mut done = false;
            for _ in 0..1_500 {
                if r.router.completion(&client, &call("g")).await.is_ok() {
                    done = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(done, "a call with every slot free");
        }
        let a = hold(&replicas[0].router).await;
        let b = hold(&replicas[1].router).await;
        assert!(
            a.is_some() && b.is_some(),
            "routed calls left their slots behind"
        );
        assert!(replicas.iter().all(|r| r.usage.degraded() == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_routers_parallel_slots_expire_and_a_live_ones_are_renewed() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(21));
        let list = json!([deployment("p", json!({"max_parallel_requests": 1}))]);
        let settings = json!({"num_retries": 0});
        let (a, b) = (
            replica(&server, &list, &settings, &minute),
            replica(&server, &list, &settings, &minute),
        );
        let ttl = Duration::from_millis(800);
        a.usage.set_lease_ttl(ttl);
        b.usage.set_lease_ttl(ttl);
        let held = hold(&a.router).await.expect("a free slot");
        // Renewed while held: still taken after several lifetimes.
        for _ in 0..4 {
            tokio::time::sleep(ttl / 2).await;
            a.usage.renew_now().await.unwrap();
            assert!(hold(&b.router).await.is_none(), "a renewed lease expired");
        }
        // Router a dies holding it: nothing gives it back, nothing renews it.
        std::mem::forget(held);
        drop(a);
        let started = Instant::now();
        let mut taken = None;
        while taken.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the dead router's slot never expired"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            taken = hold(&b.router).await;
        }
        assert!(taken.is_some_and(|l| l.holds_shared_slot()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serving_threads_deployment_counters_go_through_its_own_connection_shared_and_degrade(
    ) {
        use crate::cache::redis_conn::on_serving_thread;
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(40));
        let rpm = json!([deployment("serving-rpm", json!({"rpm": 5}))]);
        let usage_based = json!({"routing_strategy": "usage-based-routing", "num_retries": 0});
        let (a, b) = (
            Arc::new(replica(&server, &rpm, &usage_based, &minute)),
            replica(&server, &rpm, &usage_based, &minute),
        );
        // The rpm counted on a serving thread and here is one count.
        let on_a = a.clone();
        let mut ok = on_serving_thread(move || async move {
            let client = HttpClient::new().unwrap();
            let mut ok = 0;
            for _ in 0..4 {
                ok += usize::from(on_a.router.completion(&client, &call("g")).await.is_ok());
            }
            ok
        })
        .await;
        assert_eq!(ok, 4);
        let client = HttpClient::new().unwrap();
        for _ in 0..4 {
            ok += usize::from(b.router.completion(&client, &call("g")).await.is_ok());
        }
        assert_eq!(ok, 5, "each router alone would allow 5");
        assert_eq!(a.usage.inner.conn.own_connections(), 1);

        // A parallel slot taken on a serving thread is held for every router, and given
        // back from there when its call ends.
        let parallel = json!([deployment(
            "serving-parallel",
            json!({"max_parallel_requests": 1})
        )]);
        let plain = json!({"num_retries": 0});
        let (c, d) = (
            Arc::new(replica(&server, &parallel, &plain, &minute)),
            Arc::new(replica(&server, &parallel, &plain, &minute)),
        );
        let (on_c, on_d) = (c.clone(), d.clone());
        on_serving_thread(move || async move {
            let held = hold(&on_c.router).await.expect("a free slot");
            assert!(held.holds_shared_slot());
            assert!(
                hold(&on_d.router).await.is_none(),
                "held by the other router"
            );
            drop(held);
            let mut again = None;
            for _ in 0..500 {
                again = hold(&on_d.router).await;
                if again.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                again.is_some_and(|l| l.holds_shared_slot()),
                "the slot came back"
            );
        })
        .await;
        assert_eq!(c.usage.degraded() + d.usage.degraded(), 0);

        // Redis down: a serving thread's calls go on, decided by its router's own counters.
        server.stop();
        let on_c = c.clone();
        on_serving_thread(move || async move {
            let client = HttpClient::new().unwrap();
            for _ in 0..3 {
                assert!(on_c.router.completion(&client, &call("g")).await.is_ok());
            }
        })
        .await;
        assert!(c.usage.degraded() >= 1, "{}", c.usage.degraded());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_redis_max_parallel_requests_is_per_router_and_shared_again_after() {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(22));
        let list = json!([deployment("p", json!({"max_parallel_requests": 1}))]);
        let settings = json!({"num_retries": 0});
        let (a, b) = (
            replica(&server, &list, &settings, &minute),
            replica(&server, &list, &settings, &minute),
        );
        server.stop();
        // Never blocks, never fails: each router holds its own one.
        let on_a = hold(&a.router).await.expect("a's own slot");
        let on_b = hold(&b.router).await.expect("b's own slot");
        assert!(!on_a.holds_shared_slot() && !on_b.holds_shared_slot());
        assert!(hold(&a.router).await.is_none(), "a's own limit still holds");
        assert!(a.usage.degraded() >= 1 && b.usage.degraded() >= 1);
        drop((on_a, on_b));
        server.restart();
        let mut shared = None;
        for _ in 0..1_500 {
            match hold(&a.router).await {
                Some(l) if l.holds_shared_slot() => {
                    shared = Some(l);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert!(shared.is_some(), "never shared again");
        // Once b asks Redis again (it may still be leaving it alone after its own failures,
        // deciding on its own count), it sees a's slot.
        let mut refused = false;
        for _ in 0..1_500 {
            match hold(&b.router).await {
                None => {
                    refused = true;
                    break;
                }
                Some(l) => {
                    assert!(!l.holds_shared_slot(), "two slots of one taken in Redis");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        assert!(refused, "the limit is never shared again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_deployment_passes_calls_to_the_others_of_its_group() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(7));
        let list = json!([
            deployment("small", json!({"rpm": 2})),
            deployment("large", json!({"rpm": 1000})),
        ]);
        let settings = json!({"routing_strategy": "usage-based-routing", "num_retries": 0});
        let replicas: Vec<Replica> = (0..3)
            .map(|_| replica(&server, &list, &settings, &minute))
            .collect();
        let client = HttpClient::new().unwrap();
        let mut on_small = 0;
        for i in 0..12 {
            let done = replicas[i % 3]
                .router
                .completion(&client, &call("g"))
                .await
                .unwrap();
            if done.meta.model_id.as_deref() == Some("small") {
                on_small += 1;
            }
        }
        assert!(on_small <= 2, "{on_small} calls on a deployment with rpm 2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_on_several_routers_add_up_to_a_cooldown() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(3));
        let list = json!([{"model_name": "g",
            "litellm_params": {"model": "openai/x", "mock_response": "litellm.InternalServerError"},
            "model_info": {"id": "flaky"}}]);
        let settings = json!({"allowed_fails": 2, "cooldown_time": 60, "num_retries": 0});
        let replicas: Vec<Replica> = (0..3)
            .map(|_| replica(&server, &list, &settings, &minute))
            .collect();
        let announced = Arc::new(AtomicU64::new(0));
        for r in &replicas {
            let announced = announced.clone();
            r.router.on_cooldown(Arc::new(move |id: &str, _| {
                assert_eq!(id, "flaky");
                announced.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let client = HttpClient::new().unwrap();
        // One failure on each router: none reaches allowed_fails (2) alone; the sum (3)
        // passes it.
        for r in &replicas {
            let e = r.router.completion(&client, &call("g")).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::InternalServer);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while announced.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no cooldown started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cooling: Vec<bool> = replicas
            .iter()
            .map(|r| r.router.stats()[0].cooling_down)
            .collect();
        assert_eq!(cooling.iter().filter(|c| **c).count(), 1, "{cooling:?}");
        assert_eq!(announced.load(Ordering::SeqCst), 1);
        assert!(replicas.iter().all(|r| r.usage.degraded() == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn least_busy_and_usage_based_routing_see_the_other_routers() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(11));
        let list = json!([deployment("x", json!({})), deployment("y", json!({}))]);
        let request = ChatRequest::new("g", vec![Message::user("hi")]);

        let busy = json!({"routing_strategy": "least-busy"});
        let (a, b) = (
            replica(&server, &list, &busy, &minute),
            replica(&server, &list, &busy, &minute),
        );
        // Calls in flight on "x" through router a.
        a.router.deployments()[0]
            .state
            .in_flight
            .fetch_add(3, Ordering::SeqCst);
        a.usage.sync_now().await.unwrap();
        b.usage.sync_now().await.unwrap();
        assert_eq!(b.usage.others(&b.router.deployments()[0]).in_flight, 3);
        for _ in 0..20 {
            let lease = b.router.pick("g", &request, false).unwrap();
            assert_eq!(lease.deployment.id, "y");
        }

        let usage = json!({"routing_strategy": "usage-based-routing"});
        let (c, d) = (
            replica(&server, &list, &usage, &minute),
            replica(&server, &list, &usage, &minute),
        );
        c.usage.add_tokens(&c.router.deployments()[0], 1_000);
        c.usage.sync_now().await.unwrap();
        d.usage.sync_now().await.unwrap();
        assert_eq!(d.usage.others(&d.router.deployments()[0]).tokens, 1_000);
        for _ in 0..20 {
            let lease = d.router.pick("g", &request, false).unwrap();
            assert_eq!(lease.deployment.id, "y");
        }
        // A router does not count its own usage twice.
        assert_eq!(c.usage.others(&c.router.deployments()[0]).tokens, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_router_rebuilt_by_an_edit_goes_on_sharing_its_counters() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(21));
        let list = json!([deployment("limited", json!({"rpm": 4}))]);
        let settings = json!({"routing_strategy": "usage-based-routing", "num_retries": 0});
        let a = replica(&server, &list, &settings, &minute);
        let b = replica(&server, &list, &settings, &minute);
        let a = crate::router::LiveRouter::new(a.router);
        let client = HttpClient::new().unwrap();
        a.get().completion(&client, &call("g")).await.unwrap();
        let other: crate::router::DeploymentConfig = serde_json::from_value(json!({
            "model_name": "h",
            "litellm_params": {"model": "openai/gpt-4o", "mock_response": "ok"},
            "model_info": {"id": "other"}}))
        .unwrap();
        assert_eq!(a.add_deployment(other).unwrap().as_deref(), Some("other"));
        // The kept deployment's count before the edit is still in the other router's view.
        for _ in 0..3 {
            b.router.completion(&client, &call("g")).await.unwrap();
        }
        let e = b.router.completion(&client, &call("g")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RouterRateLimit, "{}", e.message);
        // The rebuilt router counts in Redis: in the next window its calls fill the limit
        // for a router that made none (each router's own counters stay on the real clock's
        // minute, so a fresh router, whose own counters are empty, is asked).
        minute.fetch_add(1, Ordering::SeqCst);
        for _ in 0..3 {
            a.get().completion(&client, &call("g")).await.unwrap();
        }
        let fresh = replica(&server, &list, &settings, &minute);
        fresh.router.completion(&client, &call("g")).await.unwrap();
        let e = fresh
            .router
            .completion(&client, &call("g"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RouterRateLimit, "{}", e.message);
        // A deployment an edit adds or replaces is shared too.
        let c = replica(
            &server,
            &json!([
                deployment("limited", json!({"rpm": 4})),
                {"model_name": "h",
                 "litellm_params": {"model": "openai/gpt-4o", "mock_response": "ok", "rpm": 1},
                 "model_info": {"id": "other"}}
            ]),
            &settings,
            &minute,
        );
        let upserted: crate::router::DeploymentConfig = serde_json::from_value(json!({
            "model_name": "h",
            "litellm_params": {"model": "openai/gpt-4o", "mock_response": "ok", "rpm": 1},
            "model_info": {"id": "other"}}))
        .unwrap();
        assert!(a.upsert_deployment(upserted).unwrap().is_some());
        a.get().completion(&client, &call("h")).await.unwrap();
        let e = c.router.completion(&client, &call("h")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RouterRateLimit, "{}", e.message);
        assert_eq!(a.get().usage_degraded(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_outage_falls_back_to_each_routers_own_counters_and_recovers() {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let minute = Arc::new(AtomicU64::new(5));
        let list = json!([deployment("limited", json!({"rpm": 100}))]);
        let settings = json!({"routing_strategy": "usage-based-routing", "num_retries": 0, "allowed_fails": 100});
        let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
        let a = replica_warning_to(&server, &list, &settings, &minute, {
            let warnings = warnings.clone();
            Arc::new(move |m: &str| warnings.lock().unwrap().push(m.to_owned()))
        });
        let client = HttpClient::new().unwrap();
        a.router.completion(&client, &call("g")).await.unwrap();
        assert_eq!(a.usage.degraded(), 0);
        server.stop();
        // Never fails, never blocks: decided on the router's own counters, and counted.
        for _ in 0..5 {
            a.router.completion(&client, &call("g")).await.unwrap();
        }
        assert!(a.usage.degraded() >= 1);
        {
            let w = warnings.lock().unwrap();
            assert_eq!(w.len(), 1, "warned once: {w:?}");
            assert!(w[0].contains("is unavailable"), "{w:?}");
            assert!(w[0].contains("per replica"), "{w:?}");
        }
        server.restart();
        loop {
            let before = a.usage.degraded();
            a.router.completion(&client, &call("g")).await.unwrap();
            if a.usage.degraded() == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            warnings
                .lock()
                .unwrap()
                .last()
                .is_some_and(|m| m.contains("answers again")),
            "{:?}",
            warnings.lock().unwrap()
        );
        // Shared again: another router sees the limit a fills.
        let list = json!([deployment("limited", json!({"rpm": 1}))]);
        minute.fetch_add(1, Ordering::SeqCst);
        let (b, c) = (
            replica(&server, &list, &settings, &minute),
            replica(&server, &list, &settings, &minute),
        );
        b.router.completion(&client, &call("g")).await.unwrap();
        let e = c.router.completion(&client, &call("g")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RouterRateLimit);
    }
}
