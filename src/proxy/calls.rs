//! What every model route shares: reading the call through the core's front door
//! ([`crate::call::args::CallArgs`]), the gateway's checks (credentials in the body, model
//! access, admission), and the bookkeeping of one request from arrival to its record
//! ([`CallContext`]): spend log, limits' settlement, metrics, response headers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::ProxyError;
use super::hooks::{CallInfo, LazyTokens, RequestRecord, RequestStatus, Ticket};
use super::metrics::InFlight;
use super::principal::{Principal, RouteKind};
use super::{new_request_id, AppState};
use crate::call::args::{classify, ArgKind, CallArgs};
use crate::call::{FromArgs, ResponseMeta};
use crate::router::{Payload, RouterRequest};
use crate::spend::clock;
use crate::types::{ChatRequest, Usage};

/// Body keys a client may never set: where the call goes and with which credentials
/// (a client-chosen `api_base` would receive the deployment's key), and the router's
/// own config. LiteLLM's proxy refuses the same family ("Rejected Request: ... is not
/// allowed in request body").
fn rejected_key(key: &str) -> bool {
    matches!(classify(key), ArgKind::Credential | ArgKind::ProviderOption)
        || matches!(key, "model_list" | "user_config" | "mock_testing_fallbacks")
}

/// Refuse a body that sets credentials, endpoints or provider options.
pub(crate) fn check_body_safe(body: &Map<String, Value>) -> Result<(), ProxyError> {
    if let Some(key) = body.keys().find(|k| rejected_key(k)) {
        return Err(ProxyError::BadRequest {
            message: format!(
                "Rejected Request: {key} is not allowed in the request body: the gateway's config decides where calls go and with which credentials"
            ),
            param: Some(key.clone()),
        });
    }
    Ok(())
}

/// One model request, from arrival until its record is written. Dropped unfinished (the
/// client went away while the handler waited), it records the request as cancelled.
pub(crate) struct CallContext {
    pub state: AppState,
    pub principal: Arc<Principal>,
    pub route: RouteKind,
    pub request_id: String,
    pub started: Instant,
    pub started_at: clock::Micros,
    /// The model group asked for (empty until read).
    pub group: String,
    pub end_user: Option<String>,
    pub tags: Vec<String>,
    pub stream: bool,
    ticket: Option<Box<dyn Ticket>>,
    finished: bool,
    _in_flight: InFlight,
}

/// How a request ended, for [`CallContext::finish`].
pub(crate) struct Ending<'a> {
    pub status: RequestStatus,
    pub meta: Option<&'a ResponseMeta>,
    pub usage: Option<&'a Usage>,
    pub cost: Option<f64>,
    pub error: Option<&'static str>,
    pub http_status: u16,
    pub time_to_first_token: Option<Duration>,
}

impl CallContext {
    pub fn new(state: &AppState, principal: Arc<Principal>, route: RouteKind) -> Self {
        CallContext {
            _in_flight: state.metrics.started(),
            state: state.clone(),
            principal,
            route,
            request_id: new_request_id(),
            started: Instant::now(),
            started_at: clock::now(),
            group: String::new(),
            end_user: None,
            tags: Vec::new(),
            stream: false,
            ticket: None,
            finished: false,
        }
    }

    /// Read `body` through the front door into a routed call of kind `R`, after the
    /// gateway's checks, and admit it. Fills in the group, end user, tags and stream flag.
    pub async fn admit<R>(&mut self, body: &Map<String, Value>) -> Result<RouterRequest, ProxyError>
    where
        R: FromArgs,
        Payload: From<R>,
    {
        let req = self.prepare::<R>(body)?;
        let chat = match &req.payload {
            Payload::Chat(c) => Some(c),
            Payload::Embedding(_) => None,
        };
        self.admit_checked(chat).await?;
        Ok(req)
    }

    /// [`CallContext::admit`] without the admission: the gateway's checks and the routed
    /// call (for a request admitted already, such as a passthrough's translated fallback).
    pub fn prepare<R>(&mut self, body: &Map<String, Value>) -> Result<RouterRequest, ProxyError>
    where
        R: FromArgs,
        Payload: From<R>,
    {
        check_body_safe(body)?;
        let mut args = CallArgs::from_json_map(body).map_err(crate::error::LlmError::from)?;
        args.default_drop_params(self.state.settings.drop_params);
        // Gateway calls are LiteLLM's `acompletion` / `aembedding` for the cache's
        // `supported_call_types`.
        args.use_cache(self.state.cache.clone());
        args.set_async(true);
        self.stream = args.stream();
        let group = match args.model() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => {
                return Err(ProxyError::BadRequest {
                    message: "model is required: one of the model groups GET /v1/models lists"
                        .to_owned(),
                    param: Some("model".to_owned()),
                })
            }
        };
        self.group.clone_from(&group);
        self.check_model(&group)?;
        let mut req = RouterRequest::from_args::<R>(args)?;
        for fallback in req.fallbacks.iter().flatten() {
            self.check_model(fallback)?;
        }
        // Who the call is for, in the core's ledger and budgets: the key's identity comes
        // from the key, never from the body.
        let mut meta = req.options.metadata.as_deref().cloned().unwrap_or_default();
        self.end_user.clone_from(&meta.user);
        meta.key = self.principal.key_alias.as_deref().map(str::to_owned);
        meta.project = self.principal.team_id.as_deref().map(str::to_owned);
        for t in self.principal.tags.iter() {
            if !meta.tags.contains(t) {
                meta.tags.push(t.clone());
            }
        }
        self.tags.clone_from(&meta.tags);
        req.options.metadata = Some(Arc::new(meta));
        Ok(req)
    }

    /// Admission for a call whose group is checked and whose end user, tags and stream
    /// flag are set (`chat` counts the prompt if admission asks).
    pub async fn admit_checked(&mut self, chat: Option<&ChatRequest>) -> Result<(), ProxyError> {
        let group = self.group.clone();
        let ticket = {
            let info = CallInfo {
                route: self.route,
                request_id: &self.request_id,
                model_group: &group,
                end_user: self.end_user.as_deref(),
                tags: &self.tags,
                stream: self.stream,
                prompt_tokens: LazyTokens::new(|| count_prompt(&self.state, &group, chat)),
                prompt_token_bound: LazyTokens::new(|| {
                    chat.map_or(0, crate::tokens::request_token_bound)
                }),
                max_output_tokens: chat.and_then(ChatRequest::max_output_tokens).map(u64::from),
            };
            self.state
                .hooks
                .admission
                .admit(&self.principal, &info)
                .await?
        };
        self.ticket = Some(ticket);
        Ok(())
    }

    /// 400 for a group the config does not have, 403 for one the key may not use.
    pub fn check_model(&self, group: &str) -> Result<(), ProxyError> {
        // A model group, an alias of one (`router_settings.model_group_alias`) or a
        // deployment id. Names only a wildcard group serves are refused: every name a
        // client sent would become a metrics label and a key's model permission.
        if !self.state.router.is_configured_name(group) {
            return Err(ProxyError::BadRequest {
                message: format!(
                    "Invalid model name passed in model={group}. Call `/v1/models` to view available models for your key."
                ),
                param: Some("model".to_owned()),
            });
        }
        if let Some(error_type) = self.principal.model_denial(group) {
            return Err(ProxyError::ModelAccessDenied {
                model: group.to_owned(),
                error_type,
            });
        }
        Ok(())
    }

    /// Write the request's record: settle the admission ticket, count it in the metrics,
    /// hand it to the spend log.
    pub fn finish(&mut self, end: Ending<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !self.route.is_llm_call() {
            return;
        }
        let usage = end.usage;
        let record = RequestRecord {
            request_id: std::mem::take(&mut self.request_id),
            route: self.route,
            started_at: self.started_at,
            principal: self.principal.clone(),
            end_user: self.end_user.take(),
            model_group: std::mem::take(&mut self.group),
            deployment: end.meta.and_then(|m| m.model_id.clone()),
            model: end.meta.map(|m| m.model.clone()),
            provider: end.meta.map(|m| m.provider.clone()),
            prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
            completion_tokens: usage.map_or(0, |u| u.completion_tokens),
            cost: end.cost,
            latency: self.started.elapsed(),
            time_to_first_token: end.time_to_first_token,
            status: end.status,
            error: end.error,
            http_status: end.http_status,
            tags: std::mem::take(&mut self.tags),
            stream: self.stream,
            attempts: end.meta.map_or(0, |m| m.attempts.len() as u32),
        };
        if let Some(ticket) = self.ticket.take() {
            ticket.settle(&record);
        }
        self.state.metrics.observe(&record);
        // Always handed over: with `disable_spend_logs` the sink writes no log row but
        // still books the spend against keys, teams and end users.
        self.state.hooks.spend.record(record);
    }

    /// Not a model call after all (`count_tokens`): write no record.
    pub fn quiet(&mut self) {
        self.finished = true;
    }

    /// Record a failure and render it (with the request id header).
    pub fn fail(&mut self, error: ProxyError) -> Response {
        let request_id = self.request_id.clone();
        let meta = match &error {
            ProxyError::Llm(e) => Some(ResponseMeta {
                model_group: Some(self.group.clone()),
                attempts: e.attempts.clone(),
                ..Default::default()
            }),
            _ => None,
        };
        self.finish(Ending {
            status: RequestStatus::Failure,
            meta: None,
            usage: None,
            cost: None,
            error: Some(error.class_name()),
            http_status: error.status().as_u16(),
            time_to_first_token: None,
        });
        let mut response = error.into_response();
        let headers = response.headers_mut();
        set(headers, CALL_ID, &request_id);
        if let Some(m) = meta {
            if !m.attempts.is_empty() {
                headers.insert(ATTEMPTS, HeaderValue::from(m.attempts.len()));
            }
        }
        response
    }

    /// The response headers of a call: ids, model, cost and attempts, under llmswitch's
    /// and LiteLLM's names. `cost` is `None` for streams (not known until the end).
    pub fn headers(&self, meta: &ResponseMeta, cost: Option<f64>, headers: &mut HeaderMap) {
        headers.reserve(10);
        set(headers, CALL_ID, &self.request_id);
        set(headers, MODEL_GROUP, &self.group);
        if let Some(id) = &meta.model_id {
            set(headers, LLMSWITCH_MODEL_ID, id);
            set(headers, LITELLM_MODEL_ID, id);
        }
        if let Some(key) = &meta.cache_key {
            set(headers, CACHE_KEY, key);
        }
        if let Some(c) = cost {
            let c = c.to_string();
            set(headers, LLMSWITCH_COST, &c);
            set(headers, LITELLM_COST, &c);
        }
        let attempts = meta.attempts.len().max(1);
        headers.insert(ATTEMPTS, HeaderValue::from(attempts));
        headers.insert(RETRIES, HeaderValue::from(meta.retries));
        let fallbacks = meta
            .attempts
            .iter()
            .filter(|a| a.starts_with("fallback "))
            .count();
        headers.insert(FALLBACKS, HeaderValue::from(fallbacks));
    }

    /// Whether a fallback group answered (LiteLLM then shows the model that answered
    /// instead of the one asked for).
    pub fn fell_back(meta: &ResponseMeta) -> bool {
        meta.attempts.iter().any(|a| a.starts_with("fallback "))
    }
}

impl Drop for CallContext {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(Ending {
                status: RequestStatus::Cancelled,
                meta: None,
                usage: None,
                cost: None,
                error: None,
                http_status: 499,
                time_to_first_token: None,
            });
        }
    }
}

// The response headers' names, made once (`from_static` validates on every call).
const CALL_ID: HeaderName = HeaderName::from_static("x-litellm-call-id");
const MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
const LLMSWITCH_MODEL_ID: HeaderName = HeaderName::from_static("x-llmswitch-model-id");
const LITELLM_MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
const CACHE_KEY: HeaderName = HeaderName::from_static("x-litellm-cache-key");
const LLMSWITCH_COST: HeaderName = HeaderName::from_static("x-llmswitch-response-cost");
const LITELLM_COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-llmswitch-attempts");
const RETRIES: HeaderName = HeaderName::from_static("x-litellm-attempted-retries");
const FALLBACKS: HeaderName = HeaderName::from_static("x-litellm-attempted-fallbacks");

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The prompt's tokens with the tokenizer of the group's first deployment (0 for
/// embeddings).
fn count_prompt(state: &AppState, group: &str, request: Option<&ChatRequest>) -> u64 {
    let Some(req) = request else {
        return 0;
    };
    state
        .router
        .deployments()
        .iter()
        .find(|d| d.model_group == group)
        .map_or(0, |d| {
            crate::tokens::count_request_tokens(&d.provider, &d.provider_model, req)
        })
}
