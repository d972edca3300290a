//! The Router: one model name ("model group") served by several deployments, with load
//! balancing, retries, cooldowns, fallback chains and hedged requests, on top of
//! [`crate::call`].
//!
//! A call flows: pick a deployment of the group (skipping those cooling down, over their
//! limits, or unable to serve the request; then by strategy) → [`call::prepare`] with the
//! deployment's parameters under the call's → [`call::execute`] (or `execute_stream` plus
//! the first chunk) → on failure, retry within the group (another deployment preferred),
//! then walk the fallback chain of groups. Every attempt is recorded in the answer's
//! [`ResponseMeta::attempts`] (or the error's `attempts`).
//!
//! Concurrency: all state shared between calls lives in atomics on the deployments and
//! groups (in flight, moving averages, per-minute counters, cooldown deadlines); the
//! configuration is immutable. No lock exists, so none is held across a network wait.
//! Routers in several processes can share their deployment counters ([`usage`]: rpm/tpm
//! limits, `max_parallel_requests`, usage-based and least-busy routing, failures towards a
//! cooldown) through
//! Redis ([`redis_usage`]); each still counts in its own atomics, its fallback.

mod cache;
pub mod clock;
pub mod config;
pub mod deployment;
pub mod hedge;
pub mod live;
pub mod redis_usage;
pub mod retry;
pub mod shared;
pub mod stats;
pub mod strategy;
pub mod usage;
pub mod wildcard;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AliasTarget, DeploymentConfig, FallbackMap, RouterConfig, RouterSettings};
pub use deployment::{Deployment, ModelFacts};
pub use hedge::HedgePolicy;
pub use live::LiveRouter;
pub use own::OwnAnswer;
pub use retry::RetryPolicy;
pub use stats::DeploymentStats;
pub use strategy::{Capabilities, Strategy};
pub use usage::{InProcess, ParallelSlot, Usage, UsageCounters};

use clock::{micros, minute_of};
use hedge::LatencyHistogram;
use retry::{counts_against_deployment, retries_allowed, retry_wait};
use strategy::{choose, ChoiceContext, GroupCursor, Rng};
use wildcard::{Match, Patterns};

use crate::call::{
    self, CallArgs, CallOptions, Completion, EmbeddingCompletion, FromArgs, ResponseMeta,
};
use crate::error::{ErrorKind, LlmError};
use crate::http::HttpClient;
use crate::params::validate_messages;
use crate::providers::TargetOptions;
use crate::stream::ChunkStream;
use crate::types::{ChatRequest, EmbeddingRequest, InputItem};

/// Counts the prompt tokens of a request for `(provider, model)`.
pub type TokenCounter = fn(&str, &str, &ChatRequest) -> u64;
/// What is known about `(provider, model)`: prices, context window, capabilities.
pub type Catalogue = fn(&str, &str) -> ModelFacts;

/// What [`crate::catalog`] knows about a model (nothing, for a model it does not list).
pub fn default_catalogue(provider: &str, model: &str) -> ModelFacts {
    let Some(info) = crate::catalog::model_info(provider, model) else {
        return ModelFacts::default();
    };
    ModelFacts {
        input_cost_per_token: info.input_cost_per_token,
        output_cost_per_token: info.output_cost_per_token,
        max_input_tokens: info.input_limit(),
        max_output_tokens: info.output_limit(),
        supports_vision: Some(info.supports_vision),
        supports_function_calling: Some(info.supports_function_calling),
        supports_response_schema: Some(info.supports_response_schema),
    }
}

/// Prompt tokens as [`crate::tokens`] counts them.
pub fn default_token_counter(provider: &str, model: &str, request: &ChatRequest) -> u64 {
    crate::tokens::count_request_tokens(provider, model, request)
}

struct Group {
    name: String,
    members: Vec<Arc<Deployment>>,
    cursor: GroupCursor,
    latency: LatencyHistogram,
    ttft: LatencyHistogram,
    min_capabilities: Capabilities,
}

/// Hedging for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum HedgeChoice {
    /// The router's `hedge` setting.
    #[default]
    RouterDefault,
    Off,
    Policy(HedgePolicy),
}

/// What a routed call asks for. Both kinds go through the same picking, retries,
/// cooldowns, fallbacks and hedging.
// One per call, never in a collection: boxing the chat request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Payload {
    Chat(ChatRequest),
    Embedding(EmbeddingRequest),
}

impl From<ChatRequest> for Payload {
    fn from(r: ChatRequest) -> Self {
        Payload::Chat(r)
    }
}

impl From<EmbeddingRequest> for Payload {
    fn from(r: EmbeddingRequest) -> Self {
        Payload::Embedding(r)
    }
}

/// A borrowed [`Payload`], for the routing decision (which [`Router::pick`] also runs on
/// a caller's chat request, without a copy).
#[derive(Debug, Clone, Copy)]
enum Asked<'a> {
    Chat(&'a ChatRequest),
    Embedding(&'a EmbeddingRequest),
}

impl Payload {
    fn asked(&self) -> Asked<'_> {
        match self {
            Payload::Chat(r) => Asked::Chat(r),
            Payload::Embedding(r) => Asked::Embedding(r),
        }
    }

    /// Checks that need no deployment: messages, or embedding input.
    fn validate(&self) -> Result<(), LlmError> {
        match self {
            Payload::Chat(r) => validate_messages(&r.messages),
            Payload::Embedding(r) => match r.input.problem() {
                Some(problem) => Err(LlmError::bad_request(format!(
                    "{problem}: embeddings need at least one non-empty input"
                ))),
                None => Ok(()),
            },
        }
    }
}

/// One call through the router.
#[derive(Debug, Clone)]
pub struct RouterRequest {
    /// The model group.
    pub model: String,
    pub payload: Payload,
    /// The call's credentials and base, over the deployment's.
    pub target: TargetOptions,
    /// The call's options, over the deployment's (`num_retries` here is ignored: see
    /// [`RouterRequest::num_retries`]).
    pub options: CallOptions,
    /// Retries for this call, instead of the router's `num_retries`.
    pub num_retries: Option<u32>,
    /// A fallback chain for this call, instead of the router's.
    pub fallbacks: Option<Vec<String>>,
    pub hedge: HedgeChoice,
    pub min_capabilities: Option<Capabilities>,
    /// LiteLLM's `mock_testing_fallbacks=True` (and its context-window and content-policy
    /// twins): the requested group fails at once with this error, without an attempt, so
    /// the fallbacks run.
    pub mock_testing: Option<ErrorKind>,
}

impl RouterRequest {
    /// A call of `model` (a model group) with the router's defaults for everything else.
    pub fn new(model: impl Into<String>, request: impl Into<Payload>) -> Self {
        RouterRequest {
            model: model.into(),
            payload: request.into(),
            target: TargetOptions::default(),
            options: CallOptions::default(),
            num_retries: None,
            fallbacks: None,
            hedge: HedgeChoice::RouterDefault,
            min_capabilities: None,
            mock_testing: None,
        }
    }
}

impl RouterRequest {
    /// A routed call from the front door's arguments (Python keywords or gateway JSON):
    /// `model` is the model group; `hedge`, `min_capabilities`, `fallbacks` and
    /// `num_retries` are this call's routing settings; the rest is read as for any call.
    /// `R` is [`ChatRequest`] or [`EmbeddingRequest`].
    pub fn from_args<R>(mut args: CallArgs) -> Result<RouterRequest, LlmError>
    where
        R: FromArgs,
        Payload: From<R>,
    {
        let routing = args.take_routing()?;
        let hedge = match routing.hedge {
            None => HedgeChoice::RouterDefault,
            // `hedge=False` (or any false value) turns the router's hedging off.
            Some(v) if is_false(&v) => HedgeChoice::Off,
            Some(v) => HedgeChoice::Policy(call::words::from_value(&v, "hedge")?),
        };
        let min_capabilities = routing
            .min_capabilities
            .map(|v| call::words::from_value::<Capabilities>(&v, "min_capabilities"))
            .transpose()?;
        let call = args.into_call::<R>()?;
        Ok(RouterRequest {
            model: call.model,
            payload: call.request.into(),
            target: call.target,
            options: call.options,
            num_retries: routing.num_retries,
            fallbacks: routing.fallbacks,
            hedge,
            min_capabilities,
            mock_testing: routing.mock_testing,
        })
    }
}

/// Whether a JSON value is false as Python sees it (`False`, `0`, `""`, `{}`, `[]`).
fn is_false(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// What a routed call returns.
pub enum Answer {
    Full(Completion),
    Embedding(EmbeddingCompletion),
    /// A stream whose first chunk has arrived (it is handed out first), and the prompt's
    /// counted tokens when the stream will carry no usage ([`call::prompt_estimate`]).
    Stream(ChunkStream, ResponseMeta, Option<u64>),
}

/// A deployment taken for one attempt: counted in flight until dropped.
#[derive(Debug)]
pub struct Lease {
    pub deployment: Arc<Deployment>,
    /// Its `max_parallel_requests` slot across routers, when counters are shared (given
    /// back when the lease is dropped, after the in-flight count here).
    slot: Option<ParallelSlot>,
}

impl Lease {
    /// Whether the lease holds a `max_parallel_requests` slot shared with other routers.
    pub fn holds_shared_slot(&self) -> bool {
        self.slot.as_ref().is_some_and(ParallelSlot::is_shared)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.deployment
            .state
            .in_flight
            .fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    First,
    Retry,
    Fallback,
    Hedge,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::First => "first",
            Role::Retry => "retry",
            Role::Fallback => "fallback",
            Role::Hedge => "hedge",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Failed(ErrorKind),
    Cancelled,
    /// No deployment could be tried.
    Unavailable(ErrorKind),
}

struct AttemptRecord<'r> {
    role: Role,
    group: &'r str,
    deployment: Option<&'r str>,
    outcome: Outcome,
}

impl fmt::Display for AttemptRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role.as_str(), self.group)?;
        if let Some(d) = self.deployment {
            write!(f, "/{d}")?;
        }
        match self.outcome {
            Outcome::Ok => f.write_str(": ok"),
            Outcome::Failed(k) => write!(f, ": {}", k.class_name()),
            Outcome::Cancelled => f.write_str(": cancelled"),
            Outcome::Unavailable(k) => write!(f, ": no deployment available ({})", k.class_name()),
        }
    }
}

/// Deployments the shared counters refused to this call: at their rpm/tpm across routers,
/// or with every `max_parallel_requests` slot taken.
#[derive(Debug, Default)]
struct Refused {
    rpm: Vec<usize>,
    parallel: Vec<usize>,
}

/// Why no deployment could be picked.
#[derive(Debug, Default)]
struct Unavailable {
    cooling: u32,
    limited: u32,
    context: u32,
    missing: Option<&'static str>,
    soonest: Option<Duration>,
    needed_tokens: u64,
    largest_window: u64,
    empty: bool,
}

impl Unavailable {
    fn into_error(self, group: &str) -> LlmError {
        if self.cooling == 0 && self.limited == 0 && !self.empty {
            if let Some(cap) = self.missing {
                return LlmError::bad_request(format!(
                    "No deployment of model group '{group}' supports {cap}, which this request needs"
                ))
                .with_model(group);
            }
            if self.context > 0 {
                return LlmError::new(
                    ErrorKind::ContextWindowExceeded,
                    format!(
                        "The request needs {} tokens (prompt plus max_tokens), more than the context window of every deployment of model group '{group}' (largest: {})",
                        self.needed_tokens, self.largest_window
                    ),
                )
                .with_model(group);
            }
        }
        let mut parts = Vec::new();
        if self.cooling > 0 {
            parts.push(format!("{} cooling down", self.cooling));
        }
        if self.limited > 0 {
            parts.push(format!("{} at their rpm/tpm/parallel limit", self.limited));
        }
        if self.context > 0 || self.missing.is_some() {
            parts.push("others skipped by pre-call checks".to_owned());
        }
        let mut message = format!(
            "No deployments available for model group '{group}': {}.",
            parts.join(", ")
        );
        if let Some(s) = self.soonest {
            message.push_str(&format!(" Try again in {:.1} s.", s.as_secs_f64()));
        }
        LlmError::new(ErrorKind::RouterRateLimit, message)
            .with_model(group)
            .with_retry_after(self.soonest.map(|d| d.as_secs_f64()))
    }
}

/// What the request needs from a deployment; the prompt is counted at most once per call.
struct Needs {
    stream: bool,
    caps: Capabilities,
    check_caps: bool,
    check_context: bool,
    max_output: u64,
    prompt_tokens: Option<u64>,
}

/// Where a call goes: a group, perhaps one deployment of it (a call addressed by
/// `model_info.id`), and for a wildcard group what the requested name matched.
struct Route<'r> {
    group: &'r Group,
    only: Option<usize>,
    matched: Option<Match>,
}

impl Route<'_> {
    fn same_target(&self, other: &Route<'_>) -> bool {
        self.group.name == other.group.name
            && self.only == other.only
            && self.matched == other.matched
    }
}

/// The router. Cheap to share (`Arc<Router>`): every method takes `&self`. Its
/// configuration is immutable: an edit ([`Router::with_model_list`]) builds a new router
/// that shares the live state of the deployments it keeps.
pub struct Router {
    deployments: Vec<Arc<Deployment>>,
    groups: HashMap<String, Group>,
    group_names: Vec<String>,
    /// The model_list as read, each entry's `model_info.id` filled in.
    configs: Vec<DeploymentConfig>,
    /// Deployment index by id.
    ids: HashMap<String, usize>,
    patterns: Patterns,
    settings: RouterSettings,
    clock: Arc<dyn Clock>,
    rng: Rng,
    catalogue: Catalogue,
    count_tokens: TokenCounter,
    /// Told when a deployment starts cooling down (shared cooldowns).
    cooldown_listener: std::sync::OnceLock<CooldownListener>,
    /// Counters shared with other routers (none: [`InProcess`]).
    usage: std::sync::OnceLock<Arc<dyn UsageCounters>>,
}

/// The counters of a router that shares none.
static IN_PROCESS: InProcess = InProcess;

/// Called with a deployment's id and the cooldown's length when it starts cooling down
/// here, so other processes can cool it down too ([`Router::apply_cooldown`]).
pub type CooldownListener = Arc<dyn Fn(&str, Duration) + Send + Sync>;

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("groups", &self.group_names)
            .field("strategy", &self.settings.routing_strategy)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router on the real clock.
    pub fn new(config: RouterConfig) -> Result<Router, LlmError> {
        Router::build(
            config,
            Arc::new(SystemClock::new()),
            default_catalogue,
            default_token_counter,
        )
    }

    /// A router with an injected clock, catalogue and token counter.
    pub fn build(
        config: RouterConfig,
        clock: Arc<dyn Clock>,
        catalogue: Catalogue,
        count_tokens: TokenCounter,
    ) -> Result<Router, LlmError> {
        Router::build_keeping(config, clock, catalogue, count_tokens, &HashMap::new())
    }

    /// [`Router::build`], giving deployments whose id is in `states` that live state.
    fn build_keeping(
        config: RouterConfig,
        clock: Arc<dyn Clock>,
        catalogue: Catalogue,
        count_tokens: TokenCounter,
        states: &HashMap<&str, &Arc<deployment::DeploymentState>>,
    ) -> Result<Router, LlmError> {
        let RouterConfig {
            model_list,
            settings,
        } = config;
        let mut deployments = Vec::with_capacity(model_list.len());
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut group_names = Vec::new();
        let mut ids = HashMap::new();
        let mut configs = Vec::with_capacity(model_list.len());
        for (i, entry) in model_list.into_iter().enumerate() {
            let mut d =
                Deployment::from_config(i, &entry, &settings.default_litellm_params, &catalogue)?;
            if let Some(state) = states.get(d.id.as_str()) {
                d.state = Arc::clone(state);
            }
            let d = Arc::new(d);
            if ids.insert(d.id.clone(), i).is_some() {
                return Err(LlmError::bad_request(format!(
                    "model_list[{i}]: model_info.id '{}' is used by another deployment; ids must be unique",
                    d.id
                )));
            }
            let mut entry = entry;
            if entry.given_id().is_none() {
                entry
                    .model_info
                    .insert("id".to_owned(), serde_json::Value::from(d.id.clone()));
            }
            configs.push(entry);
            let group = groups.entry(d.model_group.clone()).or_insert_with(|| {
                group_names.push(d.model_group.clone());
                Group {
                    name: d.model_group.clone(),
                    members: Vec::new(),
                    cursor: GroupCursor::default(),
                    latency: LatencyHistogram::default(),
                    ttft: LatencyHistogram::default(),
                    min_capabilities: settings
                        .min_capabilities
                        .get(&d.model_group)
                        .copied()
                        .unwrap_or_default(),
                }
            });
            group.members.push(d.clone());
            deployments.push(d);
        }
        let patterns = Patterns::new(group_names.iter().map(String::as_str));
        let rng = Rng::new(settings.seed);
        let router = Router {
            deployments,
            groups,
            group_names,
            configs,
            ids,
            patterns,
            settings,
            clock,
            rng,
            catalogue,
            count_tokens,
            cooldown_listener: std::sync::OnceLock::new(),
            usage: std::sync::OnceLock::new(),
        };
        let s = &router.settings;
        let check = |what: &str, map: &FallbackMap| -> Result<(), LlmError> {
            for (from, chain) in &map.0 {
                for name in std::iter::once(from).chain(chain) {
                    if name != "*" && !router.knows(name) {
                        return Err(LlmError::bad_request(format!(
                            "{what}: unknown model group '{name}' (the model_list has: {})",
                            router.group_names.join(", ")
                        )));
                    }
                }
            }
            Ok(())
        };
        check("fallbacks", &s.fallbacks)?;
        check("context_window_fallbacks", &s.context_window_fallbacks)?;
        check("content_policy_fallbacks", &s.content_policy_fallbacks)?;
        check(
            "default_fallbacks",
            &FallbackMap(HashMap::from([(
                "*".to_owned(),
                s.default_fallbacks.clone(),
            )])),
        )?;
        Ok(router)
    }

    /// A router with the same settings and clock serving `model_list` instead (LiteLLM's
    /// `set_model_list`), sharing what this router shares (its cooldown listener, its
    /// counters: [`UsageCounters::for_deployments`]). Deployments whose id this router has
    /// keep their live state (cooldowns, averages, per-minute counts, calls in flight);
    /// calls already running finish on this router.
    pub fn with_model_list(&self, model_list: Vec<DeploymentConfig>) -> Result<Router, LlmError> {
        let states: HashMap<&str, &Arc<deployment::DeploymentState>> = self
            .deployments
            .iter()
            .map(|d| (d.id.as_str(), &d.state))
            .collect();
        let config = RouterConfig {
            model_list,
            settings: self.settings.clone(),
        };
        let router = Router::build_keeping(
            config,
            self.clock.clone(),
            self.catalogue,
            self.count_tokens,
            &states,
        )?;
        router.keep_sharing(self);
        Ok(router)
    }

    /// Share what `previous` (the router this one replaces) shares with other routers:
    /// its cooldowns go on being told, and its counters go on being shared (rebuilt for
    /// this router's deployments). What this router shares already stays.
    pub(crate) fn keep_sharing(&self, previous: &Router) {
        if let Some(listener) = previous.cooldown_listener.get() {
            let _ = self.cooldown_listener.set(listener.clone());
        }
        if let Some(usage) = previous.usage.get() {
            if self.usage.get().is_none() {
                let _ = self.usage.set(usage.for_deployments(&self.deployments));
            }
        }
    }

    /// Whether this router shares cooldowns or counters with other routers.
    pub fn is_shared(&self) -> bool {
        self.cooldown_listener.get().is_some() || self.usage.get().is_some()
    }

    /// The model_list as read (`os.environ/` values resolved), each entry's
    /// `model_info.id` filled in (given, or generated).
    pub fn model_list(&self) -> &[DeploymentConfig] {
        &self.configs
    }

    /// The entry of deployment `id`.
    pub fn deployment_config(&self, id: &str) -> Option<&DeploymentConfig> {
        self.ids.get(id).map(|&i| &self.configs[i])
    }

    /// LiteLLM's `add_deployment`: this router plus `entry` at the end, or None when a
    /// deployment already has its id. Returns the new router and the entry's id.
    pub fn with_deployment_added(
        &self,
        entry: DeploymentConfig,
    ) -> Result<Option<(Router, String)>, LlmError> {
        if entry
            .given_id()
            .is_some_and(|id| self.ids.contains_key(&id))
        {
            return Ok(None);
        }
        let at = self.configs.len();
        let mut list = self.configs.clone();
        list.push(entry);
        let router = self.with_model_list(list)?;
        let id = router.deployments[at].id.clone();
        Ok(Some((router, id)))
    }

    /// LiteLLM's `upsert_deployment`: `entry` replaces the deployment of its id (moved to
    /// the end, as LiteLLM re-adds it), or is added; None when that deployment is already
    /// configured exactly so.
    pub fn with_deployment_upserted(
        &self,
        entry: DeploymentConfig,
    ) -> Result<Option<(Router, String)>, LlmError> {
        let Some(at) = entry.given_id().and_then(|id| self.ids.get(&id).copied()) else {
            return self.with_deployment_added(entry);
        };
        if self.configs[at].same_as(&entry) {
            return Ok(None);
        }
        let mut list = self.configs.clone();
        list.remove(at);
        list.push(entry);
        let last = list.len() - 1;
        let router = self.with_model_list(list)?;
        let id = router.deployments[last].id.clone();
        Ok(Some((router, id)))
    }

    /// LiteLLM's `delete_deployment`: this router without deployment `id`, and its entry;
    /// None for an unknown id. A fallback chain naming a group that no longer exists is
    /// an error, as at construction.
    pub fn with_deployment_deleted(
        &self,
        id: &str,
    ) -> Result<Option<(Router, DeploymentConfig)>, LlmError> {
        let Some(&at) = self.ids.get(id) else {
            return Ok(None);
        };
        let mut list = self.configs.clone();
        let removed = list.remove(at);
        Ok(Some((self.with_model_list(list)?, removed)))
    }

    /// Whether `model` names something calls can be routed to: a model group, an alias
    /// (`model_group_alias`), a deployment id, or a name a wildcard group matches.
    pub fn knows(&self, model: &str) -> bool {
        self.resolve(model).is_ok()
    }

    /// Whether `model` is a name the configuration lists: a model group, an alias or a
    /// deployment id (not a name a wildcard group matches: those are open-ended).
    pub fn is_configured_name(&self, model: &str) -> bool {
        self.groups.contains_key(model)
            || self.settings.model_group_alias.contains_key(model)
            || self.ids.contains_key(model)
    }

    /// The model group a call of `model` is served by (its alias's target, an addressed
    /// deployment's group, the wildcard group matching it), or None.
    pub fn group_of(&self, model: &str) -> Option<&str> {
        self.resolve(model).ok().map(|r| r.group.name.as_str())
    }

    /// `model_group_alias`.
    pub fn aliases(&self) -> &HashMap<String, AliasTarget> {
        &self.settings.model_group_alias
    }

    /// Where a call of `model` goes (LiteLLM's order): a deployment addressed by its
    /// `model_info.id` (when no group has that name), else the alias's target, then the
    /// group of that name, then the most specific wildcard group matching it.
    fn resolve(&self, model: &str) -> Result<Route<'_>, LlmError> {
        if !self.groups.contains_key(model) {
            if let Some(&i) = self.ids.get(model) {
                let d = &self.deployments[i];
                if let Some(group) = self.groups.get(&d.model_group) {
                    return Ok(Route {
                        group,
                        only: Some(i),
                        matched: None,
                    });
                }
            }
        }
        let name = self
            .settings
            .model_group_alias
            .get(model)
            .map_or(model, |a| a.model.as_str());
        if let Some(group) = self.groups.get(name) {
            // A wildcard group asked for by its own name: its `*`s match themselves.
            let matched = wildcard::Pattern::new(name).and_then(|p| p.matches(name));
            return Ok(Route {
                group,
                only: None,
                matched,
            });
        }
        if !self.patterns.is_empty() {
            let provider = crate::model_id::resolve(name, None)
                .ok()
                .map(|m| m.provider);
            if let Some((pattern, matched)) = self.patterns.find(name, provider.as_deref()) {
                if let Some(group) = self.groups.get(&pattern.name) {
                    return Ok(Route {
                        group,
                        only: None,
                        matched: Some(matched),
                    });
                }
            }
        }
        self.group(name).map(|group| Route {
            group,
            only: None,
            matched: None,
        })
    }

    /// Share deployment counters with other routers through `usage` (once; `false` if
    /// counters are set already): rpm/tpm limits, usage-based and least-busy routing, and
    /// the failures counted towards cooldowns.
    pub fn share_usage(&self, usage: Arc<dyn UsageCounters>) -> bool {
        self.usage.set(usage).is_ok()
    }

    /// The deployment counters in use.
    fn usage(&self) -> &dyn UsageCounters {
        match self.usage.get() {
            Some(u) => u.as_ref(),
            None => &IN_PROCESS,
        }
    }

    /// Routing decisions made on this router's own counters because the shared ones did
    /// not answer.
    pub fn usage_degraded(&self) -> u64 {
        self.usage().degraded()
    }

    /// Usage of a call on `d` that the router did not send itself (the callers of
    /// [`Router::run_own`], such as the gateway's Anthropic passthrough, which read the
    /// usage out of the answer): its tokens count towards `d`'s `tpm` and usage-based
    /// routing, here and in the shared counters, and its cost towards `d`'s spend, as a
    /// routed call's do.
    pub fn record_usage(&self, d: &Deployment, tokens: u64, cost: Option<f64>) {
        let s = &d.state;
        if tokens > 0 {
            s.tokens_this_minute
                .add(minute_of(self.clock.now()), tokens);
            self.usage().add_tokens(d, tokens);
        }
        if let Some(c) = cost {
            s.spend.add(c);
        }
    }

    /// Tell `listener` about every cooldown that starts here (once; `false` if one is set).
    pub fn on_cooldown(&self, listener: CooldownListener) -> bool {
        self.cooldown_listener.set(listener).is_ok()
    }

    /// The ids of every deployment (`model_info.id`).
    pub fn deployment_ids(&self) -> Vec<String> {
        self.deployments.iter().map(|d| d.id.clone()).collect()
    }

    /// A cooldown learned from another process: deployment `id` cools down for `left` from
    /// now (an existing longer cooldown is kept). Returns whether the deployment exists.
    /// Not told to the listener.
    pub fn apply_cooldown(&self, id: &str, left: Duration) -> bool {
        let Some(d) = self.deployments.iter().find(|d| d.id == id) else {
            return false;
        };
        let now = self.clock.now();
        let until = micros(now.saturating_add(left));
        let before = d.state.cooldown_until_us.fetch_max(until, Ordering::AcqRel);
        if before <= micros(now) && until > micros(now) {
            d.state.cooldowns.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// The clock cooldowns and per-minute windows are read on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Model group names, in `model_list` order.
    pub fn model_names(&self) -> &[String] {
        &self.group_names
    }

    pub fn deployments(&self) -> &[Arc<Deployment>] {
        &self.deployments
    }

    /// A snapshot of every deployment's state.
    pub fn stats(&self) -> Vec<DeploymentStats> {
        let now = self.clock.now();
        self.deployments
            .iter()
            .map(|d| stats::snapshot(d, now))
            .collect()
    }

    fn group(&self, name: &str) -> Result<&Group, LlmError> {
        self.groups.get(name).ok_or_else(|| {
            LlmError::bad_request(format!(
                "No model group named '{name}' in the router's model_list. Known model groups: {}",
                self.group_names.join(", ")
            ))
            .with_model(name)
        })
    }

    fn needs(&self, payload: Asked<'_>, stream: bool, explicit: Option<Capabilities>) -> Needs {
        let explicit = explicit.unwrap_or_default();
        let r = match payload {
            Asked::Chat(r) => r,
            // An embedding needs no chat capability; with pre-call checks, its longest input
            // must fit the deployment's input limit.
            Asked::Embedding(_) => {
                return Needs {
                    stream: false,
                    caps: explicit,
                    check_caps: !explicit.is_empty(),
                    check_context: self.settings.enable_pre_call_checks,
                    max_output: 0,
                    prompt_tokens: None,
                }
            }
        };
        let from_request = Capabilities {
            vision: r.has_images(),
            function_calling: r.params.tools.as_ref().is_some_and(|t| !t.is_empty()),
            response_schema: r
                .params
                .response_format
                .as_ref()
                .is_some_and(|f| f.kind == "json_schema"),
            max_input_tokens: None,
        };
        let checks = self.settings.enable_pre_call_checks
            || self.settings.routing_strategy == Strategy::CostBased;
        Needs {
            stream,
            caps: if checks {
                from_request.union(explicit)
            } else {
                explicit
            },
            check_caps: checks || !explicit.is_empty(),
            check_context: checks,
            max_output: u64::from(r.max_output_tokens().unwrap_or(0)),
            prompt_tokens: None,
        }
    }

    /// Pick and take a deployment of `model_group` for `request`, as a call would (for
    /// measuring the routing decision alone). Drop the lease to release it.
    pub fn pick(
        &self,
        model_group: &str,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Lease, LlmError> {
        let route = self.resolve(model_group)?;
        let request = Asked::Chat(request);
        let mut needs = self.needs(request, stream, None);
        self.pick_in(&route, &mut needs, request, &[], None, &Refused::default())
            .map_err(|why| why.into_error(&route.group.name))
    }

    /// Whether an attempt on `d` asks the shared counters first: usage-based routing
    /// enforces `d`'s rpm/tpm, and counters are shared.
    fn admits_shared(&self, d: &Deployment) -> bool {
        self.settings.routing_strategy == Strategy::UsageBased
            && (d.rpm.is_some() || d.tpm.is_some())
            && self.usage.get().is_some()
    }

    /// [`Router::pick_in`], then, where limits are shared, the shared counters' consent: a
    /// deployment they refuse (at its limit across routers: a `max_parallel_requests` slot,
    /// then rpm/tpm) is skipped and another picked.
    async fn take(
        &self,
        route: &Route<'_>,
        needs: &mut Needs,
        request: Asked<'_>,
        tried: &[usize],
        exclude: Option<usize>,
    ) -> Result<Lease, Unavailable> {
        let mut refused = Refused::default();
        loop {
            let minute = minute_of(self.clock.now());
            let mut lease = self.pick_in(route, needs, request, tried, exclude, &refused)?;
            let d = lease.deployment.clone();
            if let (Some(max), Some(usage)) = (d.max_parallel_requests, self.usage.get()) {
                match usage.take_parallel(&d, max).await {
                    Some(slot) => {
                        lease.slot = Some(slot);
                        // Counted once it will be sent (`acquire` left it to here).
                        if !self.admits_shared(&d) {
                            usage.count_request(&d);
                        }
                    }
                    None => {
                        // Not sent: this router's own count of it goes too.
                        d.state.requests_this_minute.remove(minute, 1);
                        refused.parallel.push(d.index);
                        continue;
                    }
                }
            }
            if !self.admits_shared(&d) || self.usage().admit(&d).await {
                return Ok(lease);
            }
            d.state.requests_this_minute.remove(minute, 1);
            refused.rpm.push(d.index);
        }
    }

    fn pick_in(
        &self,
        route: &Route<'_>,
        needs: &mut Needs,
        request: Asked<'_>,
        tried: &[usize],
        exclude: Option<usize>,
        refused: &Refused,
    ) -> Result<Lease, Unavailable> {
        let group = route.group;
        let now = self.clock.now();
        let minute = minute_of(now);
        let usage_based = self.settings.routing_strategy == Strategy::UsageBased;
        let usage = self.usage();
        let caps = needs.caps.union(group.min_capabilities);
        let check_caps = needs.check_caps || !group.min_capabilities.is_empty();
        let mut why = Unavailable {
            empty: group.members.is_empty(),
            ..Default::default()
        };
        let mut candidates: Vec<&Arc<Deployment>> = Vec::with_capacity(group.members.len());
        for d in &group.members {
            if exclude == Some(d.index) || route.only.is_some_and(|i| i != d.index) {
                continue;
            }
            let s = &d.state;
            if let Some(left) = s.cooldown_left(now) {
                why.cooling += 1;
                why.soonest = Some(why.soonest.map_or(left, |x| x.min(left)));
                continue;
            }
            let others = if usage_based && (d.rpm.is_some() || d.tpm.is_some()) {
                usage.others(d)
            } else {
                Usage::default()
            };
            let over_rpm = usage_based
                && (refused.rpm.contains(&d.index)
                    || d.rpm.is_some_and(|rpm| {
                        s.requests_this_minute.get(minute) + others.requests >= rpm
                    }));
            let over_tpm = usage_based
                && d.tpm
                    .is_some_and(|tpm| s.tokens_this_minute.get(minute) + others.tokens >= tpm);
            let over_parallel = refused.parallel.contains(&d.index)
                || d.max_parallel_requests
                    .is_some_and(|m| s.in_flight.load(Ordering::Relaxed) >= m);
            if over_rpm || over_tpm || over_parallel {
                why.limited += 1;
                if over_rpm || over_tpm {
                    let to_next_minute = Duration::from_secs(60 - now.as_secs() % 60);
                    why.soonest = Some(
                        why.soonest
                            .map_or(to_next_minute, |x| x.min(to_next_minute)),
                    );
                }
                continue;
            }
            if check_caps {
                if let Some(cap) = caps.missing_in(d) {
                    why.missing = Some(cap);
                    continue;
                }
                if let (Some(min), Some(have)) = (caps.max_input_tokens, d.facts.max_input_tokens) {
                    if have < min {
                        why.missing = Some("the requested context window (max_input_tokens)");
                        continue;
                    }
                }
            }
            if needs.check_context {
                let over_output = d
                    .facts
                    .max_output_tokens
                    .is_some_and(|limit| needs.max_output > limit);
                if over_output {
                    why.context += 1;
                    why.needed_tokens = needs.max_output;
                    continue;
                }
                if let Some(window) = d.facts.max_input_tokens {
                    let prompt = *needs
                        .prompt_tokens
                        .get_or_insert_with(|| self.window_tokens(d, request));
                    let need = prompt + needs.max_output;
                    if need > window {
                        why.context += 1;
                        why.needed_tokens = need;
                        why.largest_window = why.largest_window.max(window);
                        continue;
                    }
                }
            }
            candidates.push(d);
        }
        // A retry prefers a deployment this call has not tried yet.
        if candidates.iter().any(|d| !tried.contains(&d.index)) {
            candidates.retain(|d| !tried.contains(&d.index));
        }
        // `order`: only the lowest order present is eligible.
        if let Some(lowest) = candidates.iter().filter_map(|d| d.order).min() {
            candidates.retain(|d| d.order == Some(lowest));
        }
        let cx = ChoiceContext {
            rng: &self.rng,
            cursor: &group.cursor,
            stream: needs.stream,
            latency_buffer: self.settings.routing_strategy_args.lowest_latency_buffer,
            minute,
            usage,
        };
        while !candidates.is_empty() {
            let i = choose(self.settings.routing_strategy, &candidates, &cx);
            if let Some(lease) = acquire(candidates[i], minute, usage_based, usage) {
                return Ok(lease);
            }
            // Lost a race for the last slot: another call took it.
            why.limited += 1;
            candidates.remove(i);
        }
        Err(why)
    }

    /// Whether a deployment of `group` that this call has not tried is free now.
    fn untried_free(&self, group: &Group, tried: &[usize]) -> bool {
        let now = self.clock.now();
        group
            .members
            .iter()
            .any(|d| !tried.contains(&d.index) && !d.state.cooling_down(now))
    }

    /// The prompt tokens `request` bills on `d` (an embedding's: all its inputs').
    fn prompt_tokens(&self, d: &Deployment, request: Asked<'_>) -> u64 {
        match request {
            Asked::Chat(r) => (self.count_tokens)(&d.provider, &d.provider_model, r),
            Asked::Embedding(r) => r
                .input
                .items()
                .iter()
                .map(|item| embedding_item_tokens(d, item))
                .sum(),
        }
    }

    /// The tokens `request` puts in `d`'s context window: a chat's prompt, an embedding's
    /// longest input (each input is embedded on its own).
    fn window_tokens(&self, d: &Deployment, request: Asked<'_>) -> u64 {
        match request {
            Asked::Chat(_) => self.prompt_tokens(d, request),
            Asked::Embedding(r) => r
                .input
                .items()
                .iter()
                .map(|item| embedding_item_tokens(d, item))
                .max()
                .unwrap_or(0),
        }
    }

    /// Route a call: pick, send, retry, fall back. Non-streaming calls return
    /// [`Answer::Full`], streaming calls [`Answer::Stream`], embeddings
    /// [`Answer::Embedding`].
    pub async fn route(
        &self,
        client: &HttpClient,
        req: &RouterRequest,
    ) -> Result<Answer, LlmError> {
        req.payload.validate()?;
        let first = self.resolve(&req.model)?;
        if let Some(unknown) = req
            .fallbacks
            .iter()
            .flatten()
            .find(|name| !self.knows(name))
        {
            return Err(LlmError::bad_request(format!(
                "fallbacks: unknown model group '{unknown}' (the model_list has: {})",
                self.group_names.join(", ")
            )));
        }
        let req = match self.cached_answer(req).await {
            Ok(hit) => return Ok(hit),
            Err(decided) => decided,
        };
        let req: &RouterRequest = &req;
        let mut needs = self.needs(
            req.payload.asked(),
            req.options.stream,
            req.min_capabilities,
        );
        let mut trace: Vec<AttemptRecord<'_>> = Vec::new();
        let mut err = match req.mock_testing {
            // LiteLLM's mock_testing_fallbacks: the group fails before any attempt.
            Some(kind) => {
                trace.push(AttemptRecord {
                    role: Role::First,
                    group: &first.group.name,
                    deployment: None,
                    outcome: Outcome::Failed(kind),
                });
                let chain = self.fallback_chain(
                    &req.model,
                    &first.group.name,
                    req.fallbacks.as_deref(),
                    kind,
                );
                LlmError::new(
                    kind,
                    format!(
                        "This is a mock exception for model={}, to trigger a fallback. Fallbacks={chain:?}",
                        req.model
                    ),
                )
                .with_model(&req.model)
            }
            None => match self
                .run_group(client, req, &first, Role::First, &mut needs, &mut trace)
                .await
            {
                Ok(answer) => return Ok(self.finish(answer, &trace)),
                Err(e) => e,
            },
        };
        let chain = self.fallback_chain(
            &req.model,
            &first.group.name,
            req.fallbacks.as_deref(),
            err.kind,
        );
        for name in chain.iter().take(self.settings.max_fallbacks) {
            // A chain through "*" can name the failed group itself: it had its turn.
            let Some(route) = self.resolve(name).ok().filter(|r| !r.same_target(&first)) else {
                continue;
            };
            match self
                .run_group(client, req, &route, Role::Fallback, &mut needs, &mut trace)
                .await
            {
                Ok(answer) => return Ok(self.finish(answer, &trace)),
                Err(e) => err = e,
            }
        }
        err.attempts = trace.iter().map(ToString::to_string).collect();
        Err(err)
    }

    /// A non-streaming call.
    pub async fn completion(
        &self,
        client: &HttpClient,
        req: &RouterRequest,
    ) -> Result<Completion, LlmError> {
        match self.route(client, req).await? {
            Answer::Full(c) => Ok(c),
            _ => Err(LlmError::bad_request(
                "Router::completion was given a streaming or embedding call; use Router::route",
            )),
        }
    }

    /// An embeddings call (`req.payload` is [`Payload::Embedding`]).
    pub async fn embedding(
        &self,
        client: &HttpClient,
        req: &RouterRequest,
    ) -> Result<EmbeddingCompletion, LlmError> {
        match self.route(client, req).await? {
            Answer::Embedding(c) => Ok(c),
            _ => Err(LlmError::bad_request(
                "Router::embedding was given a chat call; use Router::route",
            )),
        }
    }

    /// The fallback chain after a call of `requested` (served by `group`) failed with
    /// `kind`: the context-window or content-policy chain for those errors when one is
    /// set, else the call's own `fallbacks`, else the router's, else `default_fallbacks`.
    /// A chain is looked up under the requested name (an alias, an id, a name a wildcard
    /// matched), then under the group's, then under `"*"`, as LiteLLM's lookup groups.
    fn fallback_chain<'a>(
        &'a self,
        requested: &str,
        group: &str,
        per_call: Option<&'a [String]>,
        kind: ErrorKind,
    ) -> &'a [String] {
        let s = &self.settings;
        let chain = |map: &'a FallbackMap| {
            map.get(requested)
                .or_else(|| map.get(group))
                .or_else(|| map.get("*"))
        };
        let specific = match kind {
            ErrorKind::ContextWindowExceeded => chain(&s.context_window_fallbacks),
            ErrorKind::ContentPolicyViolation => chain(&s.content_policy_fallbacks),
            _ => None,
        };
        specific
            .or(per_call)
            .or_else(|| chain(&s.fallbacks))
            .or_else(|| (!s.default_fallbacks.is_empty()).then_some(s.default_fallbacks.as_slice()))
            .unwrap_or(&[])
    }

    fn finish(&self, answer: Answer, trace: &[AttemptRecord<'_>]) -> Answer {
        let attempts: Vec<String> = trace.iter().map(ToString::to_string).collect();
        let retries = trace.iter().filter(|r| r.role == Role::Retry).count() as u32;
        match answer {
            Answer::Full(mut c) => {
                c.meta.attempts = attempts;
                c.meta.retries = retries;
                Answer::Full(c)
            }
            Answer::Embedding(mut c) => {
                c.meta.attempts = attempts;
                c.meta.retries = retries;
                Answer::Embedding(c)
            }
            Answer::Stream(s, mut meta, prompt) => {
                meta.attempts = attempts;
                meta.retries = retries;
                Answer::Stream(s, meta, prompt)
            }
        }
    }

    /// One group: attempts with retries (another deployment preferred).
    async fn run_group<'r>(
        &'r self,
        client: &HttpClient,
        req: &RouterRequest,
        route: &Route<'r>,
        first_role: Role,
        needs: &mut Needs,
        trace: &mut Vec<AttemptRecord<'r>>,
    ) -> Result<Answer, LlmError> {
        let group = route.group;
        let policy = self
            .settings
            .model_group_retry_policy
            .get(&group.name)
            .or(self.settings.retry_policy.as_ref());
        let num_retries = req.num_retries.unwrap_or(self.settings.num_retries);
        let mut tried: Vec<usize> = Vec::new();
        let mut retries = 0u32;
        let mut role = first_role;
        let mut last: Option<LlmError> = None;
        loop {
            let lease = match self
                .take(route, needs, req.payload.asked(), &tried, None)
                .await
            {
                Ok(lease) => lease,
                Err(why) => {
                    let e = why.into_error(&group.name);
                    trace.push(AttemptRecord {
                        role,
                        group: &group.name,
                        deployment: None,
                        outcome: Outcome::Unavailable(e.kind),
                    });
                    // After a failure, the provider's error says more than "nothing left".
                    return Err(last.unwrap_or(e));
                }
            };
            match self
                .attempt_hedged(client, req, route, lease, role, needs, &mut tried, trace)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    if retries >= retries_allowed(policy, num_retries, e.kind) {
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

    /// One attempt, hedged with a second deployment if it is slow and hedging is on.
    #[allow(clippy::too_many_arguments)]
    async fn attempt_hedged<'r>(
        &'r self,
        client: &HttpClient,
        req: &RouterRequest,
        route: &Route<'r>,
        lease: Lease,
        role: Role,
        needs: &mut Needs,
        tried: &mut Vec<usize>,
        trace: &mut Vec<AttemptRecord<'r>>,
    ) -> Result<Answer, LlmError> {
        let stream = needs.stream;
        let group = route.group;
        let primary_dep: &'r Arc<Deployment> = &self.deployments[lease.deployment.index];
        tried.push(primary_dep.index);
        let policy = match req.hedge {
            HedgeChoice::Off => None,
            HedgeChoice::Policy(p) => Some(p),
            HedgeChoice::RouterDefault => self.settings.hedge,
        };
        let histogram = if stream { &group.ttft } else { &group.latency };
        let delay = policy.and_then(|p| p.delay(histogram));
        let Some(delay) = delay else {
            let (result, record) = self.attempt(client, req, route, lease, role).await;
            trace.push(record);
            return result;
        };
        let primary_started = Instant::now();
        let primary = self.attempt(client, req, route, lease, role);
        tokio::pin!(primary);
        tokio::select! {
            biased;
            (result, record) = &mut primary => {
                trace.push(record);
                return result;
            }
            () = tokio::time::sleep(delay) => {}
        }
        let Ok(second) = self
            .take(
                route,
                needs,
                req.payload.asked(),
                tried,
                Some(primary_dep.index),
            )
            .await
        else {
            // No other deployment free: keep waiting for the first.
            let (result, record) = primary.await;
            trace.push(record);
            return result;
        };
        let second_dep: &'r Arc<Deployment> = &self.deployments[second.deployment.index];
        tried.push(second_dep.index);
        second_dep.state.hedges.fetch_add(1, Ordering::Relaxed);
        let hedge_started = Instant::now();
        let secondary = self.attempt(client, req, route, second, Role::Hedge);
        tokio::pin!(secondary);
        tokio::select! {
            (result, record) = &mut primary => {
                trace.push(record);
                if result.is_ok() {
                    self.cancelled(group, second_dep, Role::Hedge, hedge_started, stream, req.payload.asked(), trace);
                    return result;
                }
                let (result, record) = secondary.await;
                trace.push(record);
                result
            }
            (result, record) = &mut secondary => {
                trace.push(record);
                if result.is_ok() {
                    self.cancelled(group, primary_dep, role, primary_started, stream, req.payload.asked(), trace);
                    return result;
                }
                let (result, record) = primary.await;
                trace.push(record);
                result
            }
        }
    }

    /// Book an attempt that lost a hedge race (its future is dropped by the caller, which
    /// closes its connection and releases its lease). Its time so far is a lower bound of
    /// its latency, and is recorded as one so latency routing learns it was slow.
    #[allow(clippy::too_many_arguments)]
    fn cancelled<'r>(
        &self,
        group: &'r Group,
        dep: &'r Arc<Deployment>,
        role: Role,
        started: Instant,
        stream: bool,
        request: Asked<'_>,
        trace: &mut Vec<AttemptRecord<'r>>,
    ) {
        let s = &dep.state;
        s.cancelled.fetch_add(1, Ordering::Relaxed);
        // The provider has the prompt and bills it even though the answer is dropped.
        if let Some(price) = dep.facts.input_cost_per_token {
            let prompt = self.prompt_tokens(dep, request);
            s.spend.add(price * prompt as f64);
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if stream {
            s.ttft.record(ms);
        } else {
            s.latency.record(ms);
        }
        trace.push(AttemptRecord {
            role,
            group: &group.name,
            deployment: Some(&dep.id),
            outcome: Outcome::Cancelled,
        });
    }

    /// One attempt on one deployment, with its bookkeeping.
    async fn attempt<'r>(
        &'r self,
        client: &HttpClient,
        req: &RouterRequest,
        route: &Route<'r>,
        lease: Lease,
        role: Role,
    ) -> (Result<Answer, LlmError>, AttemptRecord<'r>) {
        let group = route.group;
        let dep: &'r Arc<Deployment> = &self.deployments[lease.deployment.index];
        let started = Instant::now();
        let model = dep.model_for(route.matched.as_ref());
        let result = self.send(client, req, dep, &model, lease).await;
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(answer) => {
                self.on_success(group, dep, elapsed, answer);
                Outcome::Ok
            }
            Err(e) => {
                self.on_failure(dep, e, elapsed, req.options.stream);
                Outcome::Failed(e.kind)
            }
        };
        let record = AttemptRecord {
            role,
            group: &group.name,
            deployment: Some(&dep.id),
            outcome,
        };
        (result, record)
    }

    async fn send(
        &self,
        client: &HttpClient,
        req: &RouterRequest,
        dep: &Arc<Deployment>,
        model: &str,
        lease: Lease,
    ) -> Result<Answer, LlmError> {
        let request = match &req.payload {
            Payload::Chat(r) => r,
            Payload::Embedding(r) => {
                let prepared = call::prepare(
                    model,
                    dep.custom_llm_provider.as_deref(),
                    dep.embedding_request(r),
                    &dep.target_options(&req.target),
                    dep.call_options(&req.options, self.settings.timeout()),
                )?;
                let mut done = call::execute(client, &prepared).await?;
                drop(lease);
                done.meta.model_id = Some(dep.id.clone());
                done.meta.model_group = Some(dep.model_group.clone());
                return Ok(Answer::Embedding(done));
            }
        };
        let prepared = call::prepare(
            model,
            dep.custom_llm_provider.as_deref(),
            dep.request(request),
            &dep.target_options(&req.target),
            dep.call_options(&req.options, self.settings.timeout()),
        )?;
        if !req.options.stream {
            let mut done = call::execute(client, &prepared).await?;
            drop(lease);
            done.meta.model_id = Some(dep.id.clone());
            done.meta.model_group = Some(dep.model_group.clone());
            return Ok(Answer::Full(done));
        }
        let (mut stream, mut meta) = call::execute_stream(client, &prepared).await?;
        // The first chunk is read here, so that a failure before it can still retry or
        // fall back; the caller gets it first.
        match stream.next().await {
            Some(Ok(first)) => stream.push_front(first),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        let clock = self.clock.clone();
        let usage = self.usage.get().cloned();
        let (provider, model, pricing) = (
            meta.provider.clone(),
            meta.model.clone(),
            meta.custom_pricing,
        );
        stream.on_close(Box::new(move |end| {
            if let Some(u) = end.usage {
                let s = &lease.deployment.state;
                s.tokens_this_minute
                    .add(minute_of(clock.now()), u.total_tokens);
                if let Some(usage) = &usage {
                    usage.add_tokens(&lease.deployment, u.total_tokens);
                }
                let cost = crate::cost::call_cost(&provider, &model, u, pricing.as_ref());
                s.spend.add(cost.unwrap_or(0.0));
            }
            drop(lease);
        }));
        meta.model_id = Some(dep.id.clone());
        meta.model_group = Some(dep.model_group.clone());
        Ok(Answer::Stream(
            stream,
            meta,
            call::prompt_estimate(&prepared),
        ))
    }

    fn on_success(&self, group: &Group, dep: &Deployment, elapsed: Duration, answer: &Answer) {
        let s = &dep.state;
        s.successes.fetch_add(1, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        match answer {
            Answer::Full(Completion { response, meta }) => {
                s.spend.add(meta.cost.unwrap_or(0.0));
                s.latency.record(ms);
                group.latency.record(elapsed);
                if let Some(u) = &response.usage {
                    s.tokens_this_minute
                        .add(minute_of(self.clock.now()), u.total_tokens);
                    self.usage().add_tokens(dep, u.total_tokens);
                }
            }
            Answer::Embedding(EmbeddingCompletion { response, meta }) => {
                s.spend.add(meta.cost.unwrap_or(0.0));
                s.latency.record(ms);
                group.latency.record(elapsed);
                if let Some(u) = &response.usage {
                    s.tokens_this_minute
                        .add(minute_of(self.clock.now()), u.total_tokens);
                    self.usage().add_tokens(dep, u.total_tokens);
                }
            }
            Answer::Stream(..) => {
                s.ttft.record(ms);
                group.ttft.record(elapsed);
            }
        }
    }

    fn on_failure(&self, dep: &Arc<Deployment>, e: &LlmError, elapsed: Duration, stream: bool) {
        let s = &dep.state;
        s.failures.fetch_add(1, Ordering::Relaxed);
        if e.kind == ErrorKind::Timeout {
            // A timeout is a (censored) latency: latency routing should see it as slow.
            let ms = elapsed.as_secs_f64() * 1000.0;
            if stream {
                s.ttft.record(ms);
            } else {
                s.latency.record(ms);
            }
        }
        if self.settings.disable_cooldowns || !counts_against_deployment(e.kind) {
            return;
        }
        let now = self.clock.now();
        let cooldown = match (e.kind, e.retry_after) {
            // The provider said how long: believe it (capped at an hour).
            (ErrorKind::RateLimit, Some(secs)) => {
                Some(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)))
            }
            _ => {
                let allowed = self.settings.allowed_fails;
                let fails = s.fails_this_minute.add(minute_of(now), 1);
                if fails > u64::from(allowed) {
                    Some(self.settings.cooldown())
                } else {
                    // Not on this router alone; perhaps with the other routers' failures.
                    let length = self.settings.cooldown();
                    if let (Some(usage), false) = (self.usage.get(), length.is_zero()) {
                        let (d, clock) = (dep.clone(), self.clock.clone());
                        let listener = self.cooldown_listener.get().cloned();
                        usage.add_failure(
                            dep,
                            allowed,
                            Box::new(move || {
                                start_cooldown(&d, clock.as_ref(), length, listener.as_ref());
                            }),
                        );
                    }
                    None
                }
            }
        };
        if let Some(d) = cooldown.filter(|d| !d.is_zero()) {
            start_cooldown(dep, self.clock.as_ref(), d, self.cooldown_listener.get());
        }
    }
}

/// `dep` cools down for `length` from now (a longer cooldown under way is kept); its
/// failures this minute start again from zero, and `listener` is told.
fn start_cooldown(
    dep: &Deployment,
    clock: &dyn Clock,
    length: Duration,
    listener: Option<&CooldownListener>,
) {
    let s = &dep.state;
    let now = clock.now();
    let until = micros(now.saturating_add(length));
    let before = s.cooldown_until_us.fetch_max(until, Ordering::AcqRel);
    if before <= micros(now) {
        s.cooldowns.fetch_add(1, Ordering::Relaxed);
    }
    s.fails_this_minute.reset(minute_of(now));
    if let Some(listener) = listener {
        listener(&dep.id, length);
    }
}

fn embedding_item_tokens(d: &Deployment, item: &InputItem<'_>) -> u64 {
    match item {
        InputItem::Text(t) => crate::tokens::count_text_tokens(&d.provider, &d.provider_model, t),
        InputItem::Tokens(ids) => ids.len() as u64,
    }
}

/// Take an in-flight slot on `d` (and, for usage-based routing, a request of its rpm).
/// `usage` is told of the request unless it will be asked to admit it or to give it a
/// parallel slot.
fn acquire(
    d: &Arc<Deployment>,
    minute: u64,
    enforce_limits: bool,
    usage: &dyn UsageCounters,
) -> Option<Lease> {
    let s = &d.state;
    match d.max_parallel_requests {
        Some(max) => {
            s.in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                    (n < max).then_some(n + 1)
                })
                .ok()?;
        }
        None => {
            s.in_flight.fetch_add(1, Ordering::AcqRel);
        }
    }
    // From here, dropping the lease gives the slot back.
    let lease = Lease {
        deployment: d.clone(),
        slot: None,
    };
    match (enforce_limits, d.rpm) {
        (true, Some(rpm)) => {
            if !s.requests_this_minute.try_add_one_below(minute, rpm) {
                return None;
            }
        }
        _ => {
            s.requests_this_minute.add(minute, 1);
        }
    }
    // With `max_parallel_requests`, the shared counters may still refuse the call a slot
    // (`Router::take`), so it is counted there once it has one: a refused call is not sent.
    if !(enforce_limits && (d.rpm.is_some() || d.tpm.is_some()))
        && d.max_parallel_requests.is_none()
    {
        usage.count_request(d);
    }
    Some(lease)
}

mod own;

#[cfg(test)]
mod tests;
