//! The gateway: `llmswitch proxy`, an OpenAI- and Anthropic-compatible HTTP server in front
//! of the [`Router`], configured by LiteLLM's proxy `config.yaml`.
//!
//! [`app`] builds the axum application (testable without a socket); [`serve`] binds it and
//! shuts it down gracefully. Every route is registered with its [`RouteKind`], and the auth
//! layer wrapped around each one decides from that alone (see [`principal`]). The state
//! plane (virtual keys, limits, budgets, spend logs, admin routes) plugs in through
//! [`hooks::Hooks`].

pub mod anthropic_api;
pub mod auth;
mod calls;
pub mod config;
pub mod cooldowns;
pub mod error;
pub mod hooks;
pub mod metrics;
pub mod principal;
mod routes;
pub mod serve;
pub mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::cache::ResponseCache;
use crate::http::HttpClient;
use crate::router::Router;
use auth::Authenticator;
use config::ProxyConfig;
use error::ProxyError;
use hooks::Hooks;
use metrics::Metrics;
use principal::RouteKind;

/// Settings the request path reads.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// `litellm_settings.drop_params`.
    pub drop_params: bool,
    pub max_request_bytes: usize,
    pub shutdown_grace: Duration,
    /// How long a client has to send a request's headers.
    pub header_read_timeout: Duration,
}

impl From<&ProxyConfig> for GatewaySettings {
    fn from(c: &ProxyConfig) -> Self {
        GatewaySettings {
            drop_params: c.drop_params,
            max_request_bytes: c.max_request_bytes,
            shutdown_grace: c.shutdown_grace,
            header_read_timeout: c.header_read_timeout,
        }
    }
}

/// Everything a request handler needs; shared by all requests.
pub struct ProxyState {
    pub router: Router,
    /// The config's `model_list` as given (for `/model/info`).
    pub model_list: Vec<crate::router::DeploymentConfig>,
    /// `litellm_settings.cache`: every model call is offered to it (the router decides,
    /// with the request's `caching` / `cache` fields).
    pub cache: Option<Arc<ResponseCache>>,
    pub hooks: Hooks,
    pub metrics: Metrics,
    pub settings: GatewaySettings,
    /// When the gateway was built (uptime, cold-start measurement).
    pub started: Instant,
    shutting_down: AtomicBool,
    /// Set when the grace period ran out: open streams end.
    stop_streams: tokio::sync::watch::Sender<bool>,
}

/// What handlers receive: the gateway's shared [`ProxyState`] and the HTTP client of the
/// thread that serves the request. Each serving thread has its own client (see
/// [`serve`]): a pooled connection lives on the runtime that opened it, so a request and
/// its upstream call stay on one thread. Cheap to clone (two `Arc`s).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<ProxyState>,
    pub client: HttpClient,
}

impl std::ops::Deref for AppState {
    type Target = ProxyState;

    fn deref(&self) -> &ProxyState {
        &self.shared
    }
}

impl AppState {
    /// The shared state.
    pub fn shared(&self) -> &Arc<ProxyState> {
        &self.shared
    }

    /// The same state with a new HTTP client (for a serving thread's runtime).
    pub fn with_own_client(&self) -> Result<AppState, ProxyError> {
        Ok(AppState {
            shared: self.shared.clone(),
            client: HttpClient::new()?,
        })
    }
}

impl ProxyState {
    /// State for `config` with `hooks` (see [`Hooks::master_key_only`]), shared, with an HTTP
    /// client for the thread that serves it.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(config: &ProxyConfig, hooks: Hooks) -> Result<AppState, ProxyError> {
        let router = Router::new(config.router.clone())?;
        let metrics = Metrics::new(router.model_names().iter().cloned());
        let cache = config
            .cache
            .clone()
            .map(ResponseCache::new)
            .transpose()?
            .map(Arc::new);
        let shared = Arc::new(ProxyState {
            router,
            model_list: config.router.model_list.clone(),
            cache,
            hooks,
            metrics,
            settings: GatewaySettings::from(config),
            started: Instant::now(),
            shutting_down: AtomicBool::new(false),
            stop_streams: tokio::sync::watch::Sender::new(false),
        });
        Ok(AppState {
            shared,
            client: HttpClient::new()?,
        })
    }

    /// Readiness and liveness answer 503 from now on (load balancers stop sending).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The grace period is over: streams still open end now.
    pub fn stop_streams(&self) {
        self.stop_streams.send_replace(true);
    }

    /// Resolves when [`ProxyState::stop_streams`] is called (for stream bodies).
    pub fn streams_stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop_streams.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// `general_settings` keys the state plane reads (kept out of the ignored-keys warning).
pub const STATE_SETTINGS: &[&str] = state::hooks::GENERAL_SETTINGS;

/// The gateway for `config`: its environment exported, the state plane (keys, teams,
/// customers, limits, budgets, spend log; its database opened) and the shared state.
/// Nothing is bound yet. Runs on a tokio runtime (the state plane's tasks start on it).
pub async fn build(config: &ProxyConfig) -> Result<AppState, ProxyError> {
    config.export_environment();
    let (hooks, state_hooks) = state::hooks::build_hooks(config).await?;
    let state = ProxyState::new(config, hooks)?;
    state_hooks.set_prices(&state.router);
    if let Some(redis) = &config.shared_redis {
        cooldowns::share(state.shared(), redis, state::hooks::REDIS_PREFIX)?;
    }
    Ok(state)
}

/// The gateway's axum application.
pub fn app(state: AppState) -> axum::Router {
    let auth = state.hooks.authenticator.clone();
    let mut app = routes::routes(&auth).with_state(state.clone());
    for (kind, router) in &state.hooks.admin_routes {
        app = app.merge(protect(router.clone(), *kind, auth.clone()));
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_request_bytes))
}

/// Wrap every route of `router` with the auth layer for `kind`: the caller's key is
/// authenticated, the route's [`principal::Access`] enforced, and the [`principal::Principal`]
/// put into the request's extensions (`Extension<Arc<Principal>>`). Liveness routes pass.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    kind: RouteKind,
    auth: Arc<dyn Authenticator>,
) -> axum::Router<S> {
    router.route_layer(middleware::from_fn(move |req: Request, next: Next| {
        let auth = auth.clone();
        async move { guard(auth, kind, req, next).await }
    }))
}

async fn guard(
    auth: Arc<dyn Authenticator>,
    kind: RouteKind,
    mut req: Request,
    next: Next,
) -> Response {
    match auth::authorize(auth.as_ref(), req.headers(), kind).await {
        Ok(principal) => {
            if let Some(p) = principal {
                req.extensions_mut().insert(Arc::new(p));
            }
            req.extensions_mut().insert(kind);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn not_found(req: Request) -> ProxyError {
    ProxyError::NotFound(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> ProxyError {
    ProxyError::Other {
        status: 405,
        error_type: "invalid_request_error".into(),
        message: format!(
            "Method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
        param: None,
    }
}

/// A random request id in UUID v4 text form (`x-litellm-call-id`).
pub fn new_request_id() -> String {
    request_id_from(fastrand::u128(..))
}

/// `v` as a UUID v4 (version and variant bits set), in lowercase hex with dashes: written
/// digit by digit into one allocation (it runs on every request).
fn request_id_from(v: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Version 4, variant 10.
    let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let mut id = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(char::from(HEX[((v >> (124 - 4 * i)) & 0xf) as usize]));
    }
    id
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod call_tests;
