//! The bridge between the call pipeline and the ledger and budgets: a [`CallTracker`] is
//! started when a prepared call is sent and records the call exactly once, when it
//! succeeds, fails, is dropped mid-flight, or (for streams) when the stream is dropped. It
//! also settles the call's budget reservation with the real cost.

use std::sync::Arc;
use std::time::Instant;

use super::{PreparedCall, ResponseMeta};
use crate::budget::Reservation;
use crate::error::{ErrorKind, LlmError};
use crate::spend::clock::{self, Micros};
use crate::spend::{ledger, CallMetadata, CallStatus, SpendRecord};
use crate::stream::{ChunkStream, StreamOutcome};
use crate::types::Usage;

struct Pending {
    started: Instant,
    started_at: Micros,
    model: String,
    provider: String,
    deployment: Option<String>,
    stream: bool,
    metadata: Option<Arc<CallMetadata>>,
    downgraded_from: Option<String>,
    reservation: Option<Arc<Reservation>>,
    recording: bool,
}

impl Pending {
    fn finish(
        self,
        status: CallStatus,
        error: Option<ErrorKind>,
        usage: Option<&Usage>,
        cost: Option<f64>,
        estimated: bool,
    ) {
        if let Some(r) = &self.reservation {
            r.settle(cost.unwrap_or(0.0));
        }
        if !self.recording {
            return;
        }
        ledger().record(SpendRecord {
            id: SpendRecord::new_id(),
            started_at: self.started_at,
            model: self.model,
            provider: self.provider,
            deployment: self.deployment,
            prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
            completion_tokens: usage.map_or(0, |u| u.completion_tokens),
            cost,
            latency: self.started.elapsed().as_secs_f64(),
            status,
            error: error.map(|k| k.class_name().to_owned()),
            stream: self.stream,
            estimated,
            metadata: self.metadata,
            downgraded_from: self.downgraded_from,
        });
    }
}

/// Records one execution of a prepared call. Dropped unfinished, it records the call as
/// cancelled and releases its budget reservation.
pub struct CallTracker(Option<Pending>);

impl CallTracker {
    /// Start tracking `call`. Inert (no allocation) when the ledger is off and no budget
    /// holds a reservation for the call.
    pub fn start<R>(call: &PreparedCall<R>) -> Self {
        let recording = ledger().is_recording();
        if !recording && call.reservation.is_none() {
            return CallTracker(None);
        }
        CallTracker(Some(Pending {
            started: Instant::now(),
            started_at: clock::now(),
            model: call.target.model.clone(),
            provider: call.provider().to_owned(),
            deployment: call.options.deployment.clone(),
            stream: call.options.stream,
            metadata: call.options.metadata.clone(),
            downgraded_from: call.downgraded_from.clone(),
            reservation: call.reservation.clone(),
            recording,
        }))
    }

    /// The call answered: record its usage and cost.
    pub fn succeeded(mut self, meta: &ResponseMeta, usage: Option<&Usage>) {
        if let Some(p) = self.0.take() {
            p.finish(CallStatus::Success, None, usage, meta.cost, false);
        }
    }

    /// The call was answered from the response cache: its usage at no cost (the budget
    /// reservation is released).
    pub fn cache_hit(mut self, usage: Option<&Usage>) {
        if let Some(p) = self.0.take() {
            p.finish(CallStatus::CacheHit, None, usage, Some(0.0), false);
        }
    }

    /// The call failed.
    pub fn failed(mut self, err: &LlmError) {
        if let Some(p) = self.0.take() {
            p.finish(CallStatus::Failure, Some(err.kind), None, Some(0.0), false);
        }
    }

    /// The stream opened: record it when it is dropped, with the provider's usage, or when
    /// that never arrived (closed early, cancelled, cut off, or a provider that sends none)
    /// the stream's estimate: counted prompt and received text, marked `estimated`. The
    /// budget reservation is settled with that cost.
    pub fn follow_stream(mut self, stream: &mut ChunkStream, meta: &ResponseMeta) {
        let Some(p) = self.0.take() else { return };
        let meta = ResponseMeta {
            provider: meta.provider.clone(),
            model: meta.model.clone(),
            custom_pricing: meta.custom_pricing,
            ..Default::default()
        };
        stream.on_close(Box::new(move |end| {
            let cost = end.usage.and_then(|u| meta.cost_of(u));
            let (status, error) = match end.outcome {
                StreamOutcome::Completed => (CallStatus::Success, None),
                StreamOutcome::Failed(kind) => (CallStatus::Failure, Some(kind)),
                StreamOutcome::Closed => (CallStatus::Cancelled, None),
            };
            p.finish(status, error, end.usage, cost, end.estimated);
        }));
    }
}

impl Drop for CallTracker {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.finish(CallStatus::Cancelled, None, None, None, false);
        }
    }
}

/// Record a call the router answered from the response cache (before any deployment).
pub fn record_cache_hit(
    model: &str,
    provider: &str,
    stream: bool,
    metadata: Option<Arc<CallMetadata>>,
    usage: Option<&Usage>,
) {
    let l = ledger();
    if !l.is_recording() {
        return;
    }
    l.record(SpendRecord {
        id: SpendRecord::new_id(),
        started_at: clock::now(),
        model: model.to_owned(),
        provider: provider.to_owned(),
        deployment: None,
        prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
        completion_tokens: usage.map_or(0, |u| u.completion_tokens),
        cost: Some(0.0),
        latency: 0.0,
        status: CallStatus::CacheHit,
        error: None,
        stream,
        estimated: false,
        metadata,
        downgraded_from: None,
    });
}

/// Record a call that failed before it was sent (a local check, or a budget refusal).
pub fn record_unsent(
    model: &str,
    provider: &str,
    stream: bool,
    metadata: Option<Arc<CallMetadata>>,
    deployment: Option<String>,
    err: &LlmError,
) {
    let l = ledger();
    if !l.is_recording() {
        return;
    }
    let status = if err.kind == ErrorKind::BudgetExceeded {
        CallStatus::Blocked
    } else {
        CallStatus::Failure
    };
    l.record(SpendRecord {
        id: SpendRecord::new_id(),
        started_at: clock::now(),
        model: model.to_owned(),
        provider: provider.to_owned(),
        deployment,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost: Some(0.0),
        latency: 0.0,
        status,
        error: Some(err.kind.class_name().to_owned()),
        stream,
        estimated: false,
        metadata,
        downgraded_from: None,
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::{execute, execute_stream, prepare, CallOptions};
    use crate::http::HttpClient;
    use crate::providers::mock::MockSpec;
    use crate::providers::TargetOptions;
    use crate::spend::CallStatus;
    use crate::types::{ChatRequest, Message};

    fn prepared(user: &str, delay: Option<Duration>, stream: bool) -> PreparedCall {
        let options = CallOptions {
            stream,
            mock: Some(MockSpec {
                delay,
                ..Default::default()
            }),
            metadata: Some(Arc::new(CallMetadata {
                user: Some(user.to_owned()),
                ..Default::default()
            })),
            deployment: Some("dep-1".to_owned()),
            ..Default::default()
        };
        let req = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
        prepare("gpt-4o", None, req, &TargetOptions::default(), options).unwrap()
    }

    fn statuses(user: &str) -> Vec<(CallStatus, bool)> {
        ledger()
            .memory_records()
            .iter()
            .filter(|r| r.user() == Some(user))
            .map(|r| (r.status, r.stream))
            .collect()
    }

    #[tokio::test]
    async fn every_execution_is_recorded_once_even_when_dropped() {
        let user = format!("track-{}", fastrand::u64(..));
        let client = HttpClient::new().unwrap();
        let call = prepared(&user, None, false);
        let done = execute(&client, &call).await.unwrap();
        let rec = ledger()
            .memory_records()
            .into_iter()
            .find(|r| r.user() == Some(user.as_str()))
            .unwrap();
        assert_eq!(rec.deployment.as_deref(), Some("dep-1"));
        assert_eq!(rec.cost, done.meta.cost);
        assert_eq!(
            rec.prompt_tokens,
            done.response.usage.as_ref().unwrap().prompt_tokens
        );

        // A call dropped in flight (Ctrl-C, a cancelled task, a hedge that lost).
        let slow = prepared(&user, Some(Duration::from_secs(30)), false);
        let r = tokio::time::timeout(Duration::from_millis(10), execute(&client, &slow)).await;
        assert!(r.is_err());

        // A stream dropped after its first chunk.
        let call = prepared(&user, None, true);
        let (mut stream, _) = execute_stream(&client, &call).await.unwrap();
        assert!(stream.next().await.is_some());
        assert_eq!(statuses(&user).len(), 2);
        drop(stream);
        assert_eq!(
            statuses(&user),
            vec![
                (CallStatus::Success, false),
                (CallStatus::Cancelled, false),
                (CallStatus::Cancelled, true)
            ]
        );
    }
}
