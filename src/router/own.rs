//! Attempts the caller sends itself, with the router's machinery around them: the gateway's
//! Anthropic passthrough sends Anthropic's own request bytes, which the call pipeline does
//! not build, yet gets the same deployment choice, retries (another deployment preferred),
//! cooldowns and latency bookkeeping as a routed call.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::retry::{retries_allowed, retry_wait};
use super::{Asked, AttemptRecord, Lease, Outcome, Role, Router};
use crate::error::{ErrorKind, LlmError};
use crate::types::ChatRequest;

/// What a caller's own attempts gave.
#[derive(Debug)]
pub struct OwnAnswer<T> {
    pub answer: T,
    /// Each attempt, as [`crate::call::ResponseMeta::attempts`] lists them.
    pub attempts: Vec<String>,
    pub retries: u32,
}

impl Router {
    /// Run `send` on deployments of `model_group` as the router runs a call there: pick one
    /// for `request` (its prompt and `stream` for the pre-call checks), hand `send` the
    /// lease, and on an error book it (cooldowns) and retry on another deployment as the
    /// retry policy allows. `role_fallback` marks the attempts as a fallback group's.
    /// Fallbacks to other groups are the caller's: see [`Router::fallback_groups`].
    ///
    /// `send` gets the [`Lease`] and returns it inside its answer if the deployment stays
    /// busy after it returns (a stream). A success counts its time to `send`'s return as
    /// the deployment's latency (time to first byte for a stream).
    pub async fn run_own<T, F, Fut>(
        &self,
        model_group: &str,
        request: &ChatRequest,
        stream: bool,
        role_fallback: bool,
        mut send: F,
    ) -> Result<OwnAnswer<T>, LlmError>
    where
        F: FnMut(Lease) -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        // An alias or a deployment id routes as for any call; a wildcard group's `*`
        // model is the caller's to fill in (its request names the model).
        let route = self.resolve(model_group)?;
        let group = route.group;
        let asked = Asked::Chat(request);
        let mut needs = self.needs(asked, stream, None);
        let policy = self
            .settings
            .model_group_retry_policy
            .get(&group.name)
            .or(self.settings.retry_policy.as_ref());
        let num_retries = self.settings.num_retries;
        let mut tried: Vec<usize> = Vec::new();
        let mut trace: Vec<AttemptRecord<'_>> = Vec::new();
        let mut retries = 0u32;
        let mut role = if role_fallback {
            Role::Fallback
        } else {
            Role::First
        };
        let mut last: Option<LlmError> = None;
        let attempts =
            |trace: &[AttemptRecord<'_>]| trace.iter().map(ToString::to_string).collect();
        loop {
            let lease = match self.pick_in(&route, &mut needs, asked, &tried, None) {
                Ok(lease) => lease,
                Err(why) => {
                    let e = why.into_error(&group.name);
                    trace.push(AttemptRecord {
                        role,
                        group: &group.name,
                        deployment: None,
                        outcome: Outcome::Unavailable(e.kind),
                    });
                    let mut e = last.unwrap_or(e);
                    e.attempts = attempts(&trace);
                    return Err(e);
                }
            };
            let dep = &self.deployments[lease.deployment.index];
            tried.push(dep.index);
            let started = Instant::now();
            let result = send(lease).await;
            let elapsed = started.elapsed();
            match result {
                Ok(answer) => {
                    let s = &dep.state;
                    s.successes.fetch_add(1, Ordering::Relaxed);
                    let ms = elapsed.as_secs_f64() * 1000.0;
                    if stream {
                        s.ttft.record(ms);
                        group.ttft.record(elapsed);
                    } else {
                        s.latency.record(ms);
                        group.latency.record(elapsed);
                    }
                    trace.push(AttemptRecord {
                        role,
                        group: &group.name,
                        deployment: Some(&dep.id),
                        outcome: Outcome::Ok,
                    });
                    return Ok(OwnAnswer {
                        answer,
                        attempts: attempts(&trace),
                        retries,
                    });
                }
                Err(mut e) => {
                    self.on_failure(dep, &e, elapsed, stream);
                    trace.push(AttemptRecord {
                        role,
                        group: &group.name,
                        deployment: Some(&dep.id),
                        outcome: Outcome::Failed(e.kind),
                    });
                    if retries >= retries_allowed(policy, num_retries, e.kind) {
                        e.attempts = attempts(&trace);
                        return Err(e);
                    }
                    let wait = retry_wait(
                        retries,
                        e.retry_after,
                        self.untried_free(group, &tried),
                        self.settings.min_retry_wait(),
                    );
                    retries += 1;
                    role = Role::Retry;
                    last = Some(e);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// The groups to fall back to, in order, after `model_group` failed with `kind`: the
    /// router's context-window or content-policy chain for those errors, else `per_call`,
    /// else its `fallbacks` (or `default_fallbacks`), at most `max_fallbacks`, without the
    /// failed group itself.
    pub fn fallback_groups(
        &self,
        model_group: &str,
        per_call: Option<&[String]>,
        kind: ErrorKind,
    ) -> Vec<String> {
        let group = self.group_of(model_group).unwrap_or(model_group);
        self.fallback_chain(model_group, group, per_call, kind)
            .iter()
            .filter(|g| g.as_str() != model_group && g.as_str() != group && self.knows(g))
            .take(self.settings.max_fallbacks)
            .cloned()
            .collect()
    }
}
