//! Who is calling and which route they reached: the two values every authorization
//! decision of the gateway is made from.
//!
//! The route is the one axum *matched* (each route is registered with its [`RouteKind`]),
//! never anything read from the Host header or the raw URL, so `//v1/...`, `/v1/../key/...`
//! or percent-encoded paths cannot reach a route under another route's rules: they match
//! no route at all.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The routes of the gateway, as authorization sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `GET /health/liveliness`, `/health/liveness`: the only route that needs no key.
    Liveness,
    /// `GET /health/readiness`.
    Readiness,
    /// `GET /health`: per-deployment health.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// `GET /models`, `/models/{id}`.
    Models,
    /// `GET /model/info`.
    ModelInfo,
    /// `POST /chat/completions`.
    ChatCompletions,
    /// `POST /embeddings`.
    Embeddings,
    /// `POST /v1/messages` (the Anthropic Messages API).
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// The admin plane (`/key/*`, `/team/*`, `/customer/*`, `/spend/*`, ...): master key only.
    Admin,
    /// Admin-plane routes a virtual key may call about itself (`GET /key/info` with no
    /// `key=` argument, for example). The handler must check what it returns.
    SelfService,
}

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key.
    Public,
    /// Any valid key (master or virtual).
    AnyKey,
    /// The master key (a [`Role::Admin`] principal).
    Admin,
}

impl RouteKind {
    pub fn access(self) -> Access {
        match self {
            RouteKind::Liveness => Access::Public,
            // Metrics carry spend per key alias: an operator's view, not a tenant's.
            RouteKind::Admin | RouteKind::Metrics => Access::Admin,
            _ => Access::AnyKey,
        }
    }

    /// Routes that call a model (and so go through admission and spend recording).
    pub fn is_llm_call(self) -> bool {
        matches!(
            self,
            RouteKind::ChatCompletions | RouteKind::Embeddings | RouteKind::Messages
        )
    }

    /// A short stable name (metrics label, spend record's `call_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Liveness => "liveness",
            RouteKind::Readiness => "readiness",
            RouteKind::Health => "health",
            RouteKind::Metrics => "metrics",
            RouteKind::Models => "models",
            RouteKind::ModelInfo => "model_info",
            RouteKind::ChatCompletions => "chat_completions",
            RouteKind::Embeddings => "embeddings",
            RouteKind::Messages => "messages",
            RouteKind::CountTokens => "count_tokens",
            RouteKind::Admin => "admin",
            RouteKind::SelfService => "self_service",
        }
    }
}

/// The caller's standing. The default is the least privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// The master key, or anyone when no master key is configured (as LiteLLM's proxy
    /// without `master_key`: no auth at all).
    Admin,
    /// A virtual key.
    #[default]
    Key,
}

/// The authenticated caller of one request, put into the request's extensions by the
/// auth layer (handlers take `Extension<Arc<Principal>>`).
///
/// The master-key authenticator fills only `role`; the state plane's authenticator fills
/// the rest from the virtual key, its team and its user. `state` carries whatever the
/// state plane needs later (its key record, for admission and spend) without the gateway
/// knowing its type.
#[derive(Clone, Default)]
pub struct Principal {
    pub role: Role,
    /// SHA-256 hex of the presented key (LiteLLM's `token` column). Never the key.
    pub key_hash: Option<Arc<str>>,
    /// The key's `key_alias`: bounded by the admin, so usable as a metrics label.
    pub key_alias: Option<Arc<str>>,
    pub team_id: Option<Arc<str>>,
    pub user_id: Option<Arc<str>>,
    /// Model groups this caller may use (the key's list, narrowed by its team's);
    /// `None` = every model. Entries ending in `*` match by prefix (`openai/*`).
    pub models: Option<Arc<[String]>>,
    /// The key's own model list (`None` = open, or deferring to the team's): tells a
    /// refusal by the key (`key_model_access_denied`) from one by its team
    /// (`team_model_access_denied`), checked in that order as LiteLLM does.
    pub key_models: Option<Arc<[String]>>,
    /// Tags of the key, added to each request's tags in the spend log.
    pub tags: Arc<[String]>,
    /// The key's `metadata`, passed to the call's metadata (never to the provider).
    pub metadata: Option<Arc<Map<String, Value>>>,
    /// State-plane data (downcast with `state.downcast_ref::<T>()`).
    pub state: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

/// Whether a model list (`None` = every model; `openai/*` matches by prefix) has `group`.
fn list_allows(list: Option<&[String]>, group: &str) -> bool {
    match list {
        None => true,
        Some(list) => list.iter().any(|m| match m.strip_suffix('*') {
            Some(prefix) => group.starts_with(prefix),
            None => m == group,
        }),
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("role", &self.role)
            .field("key_alias", &self.key_alias)
            .field("team_id", &self.team_id)
            .field("user_id", &self.user_id)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// The master key's principal (or everyone's, with no master key configured).
    pub fn admin() -> Self {
        Principal {
            role: Role::Admin,
            ..Default::default()
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this caller may use model group `group`.
    pub fn allows_model(&self, group: &str) -> bool {
        list_allows(self.models.as_deref(), group)
    }

    /// Why this caller may not use `group` (LiteLLM's error type), or `None` if it may.
    pub fn model_denial(&self, group: &str) -> Option<&'static str> {
        if self.allows_model(group) {
            None
        } else if self.team_id.is_some() && list_allows(self.key_models.as_deref(), group) {
            Some("team_model_access_denied")
        } else {
            Some("key_model_access_denied")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_match_exactly_or_by_prefix() {
        let p = Principal {
            role: Role::Key,
            models: Some(Arc::from(vec!["gpt-4o".to_owned(), "openai/*".to_owned()])),
            ..Default::default()
        };
        assert!(p.allows_model("gpt-4o"));
        assert!(!p.allows_model("gpt-4o-mini"));
        assert!(p.allows_model("openai/o3"));
        assert!(!p.allows_model("anthropic/claude"));
        assert!(Principal::admin().allows_model("anything"));
    }

    #[test]
    fn a_refusal_names_the_key_first_then_its_team() {
        let list = |m: &[&str]| {
            Some(Arc::from(
                m.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            ))
        };
        // The key allows gpt and mini; its team only gpt.
        let p = Principal {
            role: Role::Key,
            team_id: Some(Arc::from("t1")),
            models: list(&["gpt"]),
            key_models: list(&["gpt", "mini"]),
            ..Default::default()
        };
        assert_eq!(p.model_denial("gpt"), None);
        assert_eq!(p.model_denial("mini"), Some("team_model_access_denied"));
        assert_eq!(p.model_denial("claude"), Some("key_model_access_denied"));
        // A key without a team, or whose own list is open.
        let alone = Principal {
            team_id: None,
            ..p.clone()
        };
        assert_eq!(alone.model_denial("mini"), Some("key_model_access_denied"));
        let open = Principal {
            key_models: None,
            ..p
        };
        assert_eq!(
            open.model_denial("claude"),
            Some("team_model_access_denied")
        );
    }

    #[test]
    fn only_liveness_is_public_and_admin_routes_need_the_master_key() {
        assert_eq!(RouteKind::Liveness.access(), Access::Public);
        assert_eq!(RouteKind::Readiness.access(), Access::AnyKey);
        assert_eq!(RouteKind::ChatCompletions.access(), Access::AnyKey);
        assert_eq!(RouteKind::Admin.access(), Access::Admin);
        assert_eq!(RouteKind::Metrics.access(), Access::Admin);
    }
}
