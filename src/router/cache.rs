//! The response cache around a routed call: looked up once, under the model group (or its
//! caching group), before any deployment is picked, so a hit takes no deployment's slot
//! and teaches no latency average; on a miss the attempts store their answer under the
//! same key. As LiteLLM's Router, calls use the cache when they say `caching=True`, or,
//! when they say nothing, when the router was built with `cache_responses=True`.

use std::borrow::Cow;

use super::{Answer, Payload, Router, RouterRequest};
use crate::cache::{CachePlan, CacheUse};
use crate::call::cached;
use crate::call::track::record_cache_hit;

impl Router {
    /// The model name entries of `group` are stored under: its caching group, if it is in
    /// one (`caching_groups`), else the group.
    fn cache_model<'a>(&'a self, group: &'a str) -> Cow<'a, str> {
        match self
            .settings
            .caching_groups
            .iter()
            .find(|g| g.iter().any(|m| m == group))
        {
            Some(shared) => Cow::Owned(format!("caching_group:{}", shared.join(","))),
            None => Cow::Borrowed(group),
        }
    }

    /// The call's plan, decided for the whole call: `None` when it does not use the cache.
    fn cache_plan(&self, req: &RouterRequest) -> Option<CachePlan> {
        let CacheUse::Decide {
            cache,
            control,
            asynchronous,
        } = &req.options.cache
        else {
            return match &req.options.cache {
                CacheUse::Planned(p) => Some(p.clone()),
                _ => None,
            };
        };
        let mut control = control.clone();
        control.caching.get_or_insert(self.settings.cache_responses);
        let decide = CacheUse::Decide {
            cache: cache.clone(),
            control,
            asynchronous: *asynchronous,
        };
        let model = self.cache_model(&req.model);
        match &req.payload {
            Payload::Chat(r) => cached::plan(&decide, &model, r, req.options.stream),
            Payload::Embedding(r) => cached::plan(&decide, &model, r, false),
        }
    }

    /// Look the call up. A miss gives the request its attempts run with: the cache decided
    /// (they store under the router's key, and do not look up again).
    pub(super) async fn cached_answer<'r>(
        &self,
        req: &'r RouterRequest,
    ) -> Result<Answer, Cow<'r, RouterRequest>> {
        if matches!(req.options.cache, CacheUse::Off) {
            return Err(Cow::Borrowed(req));
        }
        let plan = self.cache_plan(req);
        if let Some(answer) = match &plan {
            Some(p) => self.lookup(p, req).await,
            None => None,
        } {
            return Ok(answer);
        }
        let mut decided = req.clone();
        decided.options.cache = match plan {
            Some(p) => CacheUse::Planned(p.write_only()),
            None => CacheUse::Off,
        };
        Err(Cow::Owned(decided))
    }

    async fn lookup(&self, plan: &CachePlan, req: &RouterRequest) -> Option<Answer> {
        let metadata = req.options.metadata.clone();
        let answer = match &req.payload {
            Payload::Chat(r) if req.options.stream => {
                let include_usage = r
                    .params
                    .stream_options
                    .as_ref()
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false);
                let (stream, mut meta) = cached::lookup_stream(plan, include_usage).await?;
                record_cache_hit(
                    &meta.model,
                    &meta.provider,
                    true,
                    metadata,
                    stream.pending_usage(),
                );
                meta.model_group = Some(req.model.clone());
                Answer::Stream(stream, meta, None)
            }
            Payload::Chat(r) => {
                let mut done = cached::lookup(plan, r).await?;
                record_cache_hit(
                    &done.meta.model,
                    &done.meta.provider,
                    false,
                    metadata,
                    done.response.usage.as_ref(),
                );
                done.meta.model_group = Some(req.model.clone());
                Answer::Full(done)
            }
            Payload::Embedding(r) => {
                let mut done = cached::lookup(plan, r).await?;
                record_cache_hit(
                    &done.meta.model,
                    &done.meta.provider,
                    false,
                    metadata,
                    done.response.usage.as_ref(),
                );
                done.meta.model_group = Some(req.model.clone());
                Answer::Embedding(done)
            }
        };
        Some(answer)
    }
}
