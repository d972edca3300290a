//! Prepare a call: every check that needs no network, the translation into request bytes,
//! and admission against the budgets that apply to it.

use std::sync::Arc;
use std::time::Duration;

use crate::budget::{self, Admission, ModelNames, Reservation};
use crate::cache::CachePlan;
use crate::error::LlmError;
use crate::http::{HttpRequest, DEFAULT_TIMEOUT};
use crate::model_id::{self, ModelId};
use crate::providers::{self, mock, Provider, Target, TargetOptions};
use crate::spend::clock;
use crate::types::{ChatRequest, EmbeddingRequest};

use super::track::record_unsent;
use super::{CallOptions, Request};

/// A call that passed every local check, ready to send (any number of times). `R` is
/// [`ChatRequest`] or [`EmbeddingRequest`].
#[derive(Debug, Clone)]
pub struct PreparedCall<R = ChatRequest> {
    pub target: Target,
    pub request: R,
    /// `None` when the mock answers.
    pub http: Option<HttpRequest>,
    pub options: CallOptions,
    /// Whether the caller asked for a stream's final usage chunk.
    pub include_usage: bool,
    /// Parameters removed by `drop_params`.
    pub dropped_params: Vec<&'static str>,
    /// The call's projected cost, held against the budgets that apply to it until the
    /// call settles (shared by clones; released when the last one is dropped).
    pub reservation: Option<Arc<Reservation>>,
    /// Set when a budget downgraded the call: the model string asked for.
    pub downgraded_from: Option<String>,
    /// What the call does with the response cache (`None`: nothing).
    pub cache: Option<CachePlan>,
}

/// A prepared embeddings call.
pub type PreparedEmbedding = PreparedCall<EmbeddingRequest>;

impl<R> PreparedCall<R> {
    pub fn provider(&self) -> &str {
        self.target.provider_name()
    }

    pub(super) fn timeout(&self) -> Duration {
        self.options.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// The provider of a model string, or a `BadRequestError` for an unknown one.
fn resolve_provider(
    model: &str,
    custom_llm_provider: Option<&str>,
) -> Result<(ModelId, Arc<dyn Provider>), LlmError> {
    let id = model_id::resolve(model, custom_llm_provider)?;
    let provider = providers::get(&id.provider)
        .ok_or_else(|| LlmError::bad_request(format!("Unknown provider '{}'", id.provider)))?;
    Ok((id, provider))
}

/// Check and translate a call without touching the network, and admit it against the
/// budgets that apply to it (which may refuse it, or switch a chat call to a cheaper model).
///
/// `model` is the caller's model string (`provider/model` or a bare name). Fails fast with
/// `BadRequestError` (unknown provider, malformed messages, a provider without embeddings,
/// no or empty input), `AuthenticationError` (missing key), `UnsupportedParamsError` or
/// `BudgetExceededError`. A failure is recorded in the spend ledger.
pub fn prepare<R: Request>(
    model: &str,
    custom_llm_provider: Option<&str>,
    request: R,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedCall<R>, LlmError> {
    let budgets = budget::global();
    let (stream, metadata) = (options.stream, options.metadata.clone());
    let deployment = options.deployment.clone();
    let unsent = |e: &LlmError| {
        record_unsent(
            e.model.as_deref().unwrap_or(model),
            e.provider.as_deref().unwrap_or_default(),
            stream,
            metadata.clone(),
            deployment.clone(),
            e,
        )
    };
    let Some(may_downgrade) = budgets.applies_to(metadata.as_deref()) else {
        return prepare_checked(model, custom_llm_provider, request, target_opts, options)
            .inspect_err(unsent);
    };
    // Kept for a downgrade, which prepares the call again on another model.
    let retry = (may_downgrade && R::DOWNGRADES).then(|| (request.clone(), options.clone()));
    let call = prepare_checked(model, custom_llm_provider, request, target_opts, options)
        .inspect_err(unsent)?;
    let admitted = match (admit(budgets, model, call, retry.is_some()), retry) {
        (Ok(Ok(call)), _) => Ok(call),
        (Ok(Err(to)), Some((request, options))) => {
            prepare_checked(&to, None, request, target_opts, options).and_then(|mut call| {
                call.downgraded_from = Some(model.to_owned());
                match admit(budgets, &to, call, false)? {
                    Ok(call) => Ok(call),
                    Err(again) => Err(LlmError::bad_request(format!(
                        "Budget downgrade from '{model}' to '{to}' asked for another downgrade, to '{again}'"
                    ))),
                }
            })
        }
        (Ok(Err(to)), None) => Err(LlmError::bad_request(format!(
            "A budget asked to downgrade '{model}' to '{to}' after the call was prepared without one"
        ))),
        (Err(e), _) => Err(e),
    };
    admitted.inspect_err(unsent)
}

/// Reserve `call`'s projected cost against its budgets: the call (with its reservation),
/// or the model a budget wants it downgraded to.
fn admit<R: Request>(
    budgets: &Arc<budget::BudgetRegistry>,
    requested: &str,
    mut call: PreparedCall<R>,
    allow_downgrade: bool,
) -> Result<Result<PreparedCall<R>, String>, LlmError> {
    let projected = R::projected_cost(&call);
    let names = ModelNames {
        requested,
        provider: call.target.provider_name(),
        model: &call.target.model,
    };
    match budgets.admit(
        clock::now(),
        call.options.metadata.as_deref(),
        names,
        projected,
        allow_downgrade,
    )? {
        Admission::Admitted(reservation) => {
            call.reservation = reservation.map(Arc::new);
            Ok(Ok(call))
        }
        Admission::Downgrade { to, .. } => Ok(Err(to)),
    }
}

/// [`prepare`] without budgets.
fn prepare_checked<R: Request>(
    model: &str,
    custom_llm_provider: Option<&str>,
    mut request: R,
    target_opts: &TargetOptions,
    options: CallOptions,
) -> Result<PreparedCall<R>, LlmError> {
    let (id, provider) = resolve_provider(model, custom_llm_provider)?;
    request.check(&id, provider.as_ref(), &options)?;
    // Keyed on the request as the caller gave it (checked, not yet translated).
    let cache = super::cached::plan(&options.cache, model, &request, options.stream);
    let is_mock = options.mock.is_some() || id.provider == "mock";
    let target = if is_mock {
        mock::mock_target(provider, &id.model, target_opts)
    } else {
        match super::defaults::fill_target(&id.provider, target_opts) {
            Some(filled) => provider.resolve_target(&id.model, &filled)?,
            None => provider.resolve_target(&id.model, target_opts)?,
        }
    };
    let translated = request.translate(&target, &options, is_mock)?;
    Ok(PreparedCall {
        target,
        request,
        http: translated.http,
        options,
        include_usage: translated.include_usage,
        dropped_params: translated.dropped,
        reservation: None,
        downgraded_from: None,
        cache,
    })
}
