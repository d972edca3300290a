//! The response cache in the pipeline: a call's plan (made in `prepare`), the lookup
//! before it is sent and the store after it answered (in `execute` / `execute_stream`).
//! The router uses the same functions around its attempts, keyed on the model group.
//!
//! A hit is an answer like any other, marked `cache_hit` in its [`ResponseMeta`], costing
//! nothing (budgets and the ledger see a zero cost, the ledger a `cache_hit` row). A stream
//! is stored as its chunks once it was read to the end, and a hit replays them as a stream.

use crate::cache::{CachePlan, CacheUse, CachedAnswer};
use crate::stream::ChunkStream;
use crate::types::{ChatChunk, ChatRequest};

use super::{Done, PreparedCall, Request, ResponseMeta};

/// The plan of a call of `model` (the caller's model string) under `cache`, or `None`
/// when it does not use the cache.
pub fn plan<R: Request>(
    cache: &CacheUse,
    model: &str,
    request: &R,
    stream: bool,
) -> Option<CachePlan> {
    match cache {
        CacheUse::Off => None,
        CacheUse::Planned(p) => Some(p.clone()),
        CacheUse::Decide {
            cache,
            control,
            asynchronous,
        } => cache.plan(
            control,
            R::call_type(*asynchronous),
            request.message_count(),
            || request.cache_keys(model, stream),
        ),
    }
}

/// What a hit reports: the provider and model that once answered, no cost.
pub fn hit_meta(plan: &CachePlan, provider: String, model: String) -> ResponseMeta {
    ResponseMeta {
        provider,
        model,
        cost: Some(0.0),
        cache_hit: true,
        cache_key: Some(plan.key().to_owned()),
        ..Default::default()
    }
}

/// `request`'s answer from the cache, if `plan` reads and every entry is there.
pub async fn lookup<R: Request>(plan: &CachePlan, request: &R) -> Option<Done<R::Response>> {
    if !plan.read {
        return None;
    }
    let entries = plan.get_all().await?;
    let (response, provider, model) = request.answer_from_cache(entries)?;
    Some(Done {
        response,
        meta: hit_meta(plan, provider, model),
    })
}

/// A stored stream, replayed, if `plan` reads and it is there.
pub async fn lookup_stream(
    plan: &CachePlan,
    include_usage: bool,
) -> Option<(ChunkStream, ResponseMeta)> {
    if !plan.read {
        return None;
    }
    let [entry] = <[crate::cache::Entry; 1]>::try_from(plan.get_all().await?).ok()?;
    let CachedAnswer::Stream(chunks) = entry.answer else {
        return None;
    };
    Some((
        ChunkStream::from_chunks(chunks, include_usage, None),
        hit_meta(plan, entry.provider, entry.model),
    ))
}

/// What the cache has for a prepared call (one per call, so the large hit is not boxed).
#[allow(clippy::large_enum_variant)]
pub(super) enum Found<R: Request> {
    /// The whole answer.
    Hit(Done<R::Response>),
    /// Part of it (some inputs of an embeddings call): send `narrowed` for the rest, then
    /// complete its answer with `cached`.
    Part {
        narrowed: Box<PreparedCall<R>>,
        cached: Vec<Option<crate::cache::Entry>>,
    },
    Miss,
}

/// A prepared call's answer from the cache, whole or in part.
pub(super) async fn lookup_prepared<R: Request>(call: &PreparedCall<R>) -> Found<R> {
    let Some(plan) = call.cache.as_ref().filter(|p| p.read) else {
        return Found::Miss;
    };
    if plan.keys.len() == 1 {
        return match lookup(plan, &call.request).await {
            Some(mut done) => {
                done.meta.api_base =
                    crate::redact::url_for_display(&call.target.api_base).into_owned();
                Found::Hit(done)
            }
            None => Found::Miss,
        };
    }
    let entries = plan.get_each().await;
    if entries.iter().all(Option::is_some) {
        let entries = entries.into_iter().flatten().collect();
        return match call.request.answer_from_cache(entries) {
            Some((response, provider, model)) => {
                let mut meta = hit_meta(plan, provider, model);
                meta.api_base = crate::redact::url_for_display(&call.target.api_base).into_owned();
                Found::Hit(Done { response, meta })
            }
            None => Found::Miss,
        };
    }
    match narrowed(call, plan, &entries) {
        Some(narrowed) => Found::Part {
            narrowed: Box::new(narrowed),
            cached: entries,
        },
        None => Found::Miss,
    }
}

/// The call for what the cache lacks: its request narrowed, translated again, and its plan
/// keeping the missing keys (to store them).
fn narrowed<R: Request>(
    call: &PreparedCall<R>,
    plan: &CachePlan,
    entries: &[Option<crate::cache::Entry>],
) -> Option<PreparedCall<R>> {
    let missing: Vec<bool> = entries.iter().map(Option::is_none).collect();
    let mut request = call.request.narrowed(&missing)?;
    let translated = request
        .translate(&call.target, &call.options, call.http.is_none())
        .ok()?;
    let keys = plan
        .keys
        .iter()
        .zip(&missing)
        .filter(|(_, m)| **m)
        .map(|(k, _)| k.clone())
        .collect();
    Some(PreparedCall {
        request,
        http: translated.http,
        cache: Some(CachePlan {
            keys,
            read: false,
            ..plan.clone()
        }),
        ..call.clone()
    })
}

/// Store a prepared call's answer, if its plan writes.
pub(super) fn store<R: Request>(
    call: &PreparedCall<R>,
    meta: &mut ResponseMeta,
    response: &R::Response,
) {
    let Some(plan) = call.cache.as_ref() else {
        return;
    };
    meta.cache_key = Some(plan.key().to_owned());
    if !plan.write {
        return;
    }
    if let Some(answers) = call.request.cacheable(response) {
        plan.put_all(&meta.provider, &meta.model, answers);
    }
}

/// Keep a stream's chunks as they are read, and store them if it is read to the end.
pub(super) fn record_stream(
    call: &PreparedCall<ChatRequest>,
    stream: &mut ChunkStream,
    meta: &mut ResponseMeta,
) {
    let Some(plan) = call.cache.as_ref() else {
        return;
    };
    meta.cache_key = Some(plan.key().to_owned());
    if !plan.write {
        return;
    }
    let (plan, provider, model) = (plan.clone(), meta.provider.clone(), meta.model.clone());
    stream.record(Box::new(move |chunks: Vec<ChatChunk>| {
        if chunks.iter().any(has_output) {
            plan.put_all(&provider, &model, vec![CachedAnswer::Stream(chunks)]);
        }
    }));
}

/// Whether a chunk carries any of the answer (a stream of nothing is not kept).
fn has_output(chunk: &ChatChunk) -> bool {
    chunk.choices.iter().any(|c| {
        let d = &c.delta;
        d.content.as_deref().is_some_and(|t| !t.is_empty())
            || d.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
            || d.reasoning_content
                .as_deref()
                .is_some_and(|t| !t.is_empty())
    })
}
