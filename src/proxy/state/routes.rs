//! The admin routes: thin axum handlers over the [`StatePlane`]'s operations.
//!
//! [`routes`] returns them in two groups: [`RouteClass::Admin`] (master key only) and
//! [`RouteClass::SelfService`] (`GET /key/info`, which a virtual key may call about
//! itself). The server wraps each group with its auth layer, which puts the [`Caller`]
//! into the request's extensions; [`with_auth`] is such a layer for using the routes on
//! their own.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::customers::{CustomerIdsRequest, NewCustomerRequest, UpdateCustomerRequest};
use super::error::ApiError;
use super::keys::{
    BlockKeyRequest, DeleteKeysRequest, GenerateKeyRequest, ListKeysQuery, RegenerateKeyRequest,
    UpdateKeyRequest,
};
use super::plane::{caller_of, Caller, StatePlane};
use super::reports::{SpendLogsQuery, SpendReportQuery};
use super::requests::parse_body;
use super::teams::{BlockTeamRequest, DeleteTeamRequest, NewTeamRequest, UpdateTeamRequest};
use crate::proxy::auth::presented_key;
use crate::proxy::principal::Principal;

type Plane = State<Arc<StatePlane>>;
type Answer = Result<Json<Value>, ApiError>;

/// Which callers a group of routes admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// The master key only.
    Admin,
    /// Any valid key; the handler limits a virtual key to itself.
    SelfService,
}

/// The authenticated caller, as the auth layer left it in the request's extensions.
pub struct AuthedCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for AuthedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(AuthedCaller(c.clone()));
        }
        parts
            .extensions
            .get::<Arc<Principal>>()
            .and_then(|p| caller_of(p))
            .map(AuthedCaller)
            .ok_or_else(|| ApiError::auth("Authentication Error, No api key passed in."))
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::new(422, "bad_request_error", format!("invalid query: {e}")))
}

fn body<T: DeserializeOwned>(route: &str, bytes: &Bytes) -> Result<T, ApiError> {
    parse_body(route, bytes)
}

/// The admin routes, by who may call them.
pub fn routes(plane: Arc<StatePlane>) -> Vec<(RouteClass, axum::Router)> {
    let mut admin = axum::Router::new()
        .route("/key/generate", post(generate_key))
        .route("/key/update", post(update_key))
        .route("/key/delete", post(delete_keys))
        .route("/key/list", get(list_keys))
        .route("/key/regenerate", post(regenerate_key))
        .route("/key/{key}/regenerate", post(regenerate_key_path))
        .route("/key/block", post(block_key))
        .route("/key/unblock", post(unblock_key))
        .route("/team/new", post(new_team))
        .route("/team/update", post(update_team))
        .route("/team/delete", post(delete_teams))
        .route("/team/info", get(team_info))
        .route("/team/list", get(list_teams))
        .route("/team/block", post(block_team))
        .route("/team/unblock", post(unblock_team))
        .route("/spend/logs", get(spend_logs))
        .route("/global/spend/report", get(spend_report));
    for prefix in ["/customer", "/end_user"] {
        admin = admin
            .route(&format!("{prefix}/new"), post(new_customer))
            .route(&format!("{prefix}/info"), get(customer_info))
            .route(&format!("{prefix}/update"), post(update_customer))
            .route(&format!("{prefix}/delete"), post(delete_customers))
            .route(&format!("{prefix}/list"), get(list_customers))
            .route(&format!("{prefix}/block"), post(block_customers))
            .route(&format!("{prefix}/unblock"), post(unblock_customers));
    }
    let self_service = axum::Router::new().route("/key/info", get(key_info));
    vec![
        (RouteClass::Admin, admin.with_state(plane.clone())),
        (RouteClass::SelfService, self_service.with_state(plane)),
    ]
}

/// Authenticate every request of `router` with the plane and put its [`Caller`] into the
/// request's extensions; [`RouteClass::Admin`] routes refuse virtual keys.
pub fn with_auth(router: axum::Router, class: RouteClass, plane: Arc<StatePlane>) -> axum::Router {
    router.route_layer(middleware::from_fn(move |mut req: Request, next: Next| {
        let plane = plane.clone();
        async move {
            let key = match presented_key(req.headers()) {
                Ok(k) => k.map(str::to_owned),
                Err(e) => return e.into_response(),
            };
            let caller = match plane.authenticate(key.as_deref()).await {
                Ok(c) => c,
                Err(e) => return e.into_response(),
            };
            if class == RouteClass::Admin && !caller.is_admin() {
                return ApiError::admin_only(req.uri().path()).into_response();
            }
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
    }))
}

async fn generate_key(State(p): Plane, b: Bytes) -> Answer {
    let req: GenerateKeyRequest = body("/key/generate", &b)?;
    p.generate_key(req).await.map(Json)
}

async fn update_key(State(p): Plane, b: Bytes) -> Answer {
    let req: UpdateKeyRequest = body("/key/update", &b)?;
    p.update_key(req).await.map(Json)
}

async fn delete_keys(State(p): Plane, b: Bytes) -> Answer {
    let req: DeleteKeysRequest = body("/key/delete", &b)?;
    p.delete_keys(req).await.map(Json)
}

async fn list_keys(State(p): Plane, q: Result<Query<ListKeysQuery>, QueryRejection>) -> Answer {
    p.list_keys(query(q)?).await.map(Json)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct KeyParam {
    key: Option<String>,
}

async fn key_info(
    State(p): Plane,
    AuthedCaller(caller): AuthedCaller,
    q: Result<Query<KeyParam>, QueryRejection>,
) -> Answer {
    p.key_info(&caller, query(q)?.key).await.map(Json)
}

async fn regenerate_key(State(p): Plane, b: Bytes) -> Answer {
    let req: RegenerateKeyRequest = body("/key/regenerate", &b)?;
    p.regenerate_key(None, req).await.map(Json)
}

async fn regenerate_key_path(State(p): Plane, Path(key): Path<String>, b: Bytes) -> Answer {
    let req: RegenerateKeyRequest = body("/key/regenerate", &b)?;
    p.regenerate_key(Some(key), req).await.map(Json)
}

async fn block_key(State(p): Plane, b: Bytes) -> Answer {
    let req: BlockKeyRequest = body("/key/block", &b)?;
    p.block_key(req, true).await.map(Json)
}

async fn unblock_key(State(p): Plane, b: Bytes) -> Answer {
    let req: BlockKeyRequest = body("/key/unblock", &b)?;
    p.block_key(req, false).await.map(Json)
}

async fn new_team(State(p): Plane, b: Bytes) -> Answer {
    let req: NewTeamRequest = body("/team/new", &b)?;
    p.new_team(req).await.map(Json)
}

async fn update_team(State(p): Plane, b: Bytes) -> Answer {
    let req: UpdateTeamRequest = body("/team/update", &b)?;
    p.update_team(req).await.map(Json)
}

async fn delete_teams(State(p): Plane, b: Bytes) -> Answer {
    let req: DeleteTeamRequest = body("/team/delete", &b)?;
    p.delete_teams(req).await.map(Json)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct TeamParam {
    team_id: Option<String>,
}

async fn team_info(State(p): Plane, q: Result<Query<TeamParam>, QueryRejection>) -> Answer {
    p.team_info(query(q)?.team_id).await.map(Json)
}

async fn list_teams(State(p): Plane) -> Answer {
    p.list_teams().await.map(Json)
}

async fn block_team(State(p): Plane, b: Bytes) -> Answer {
    let req: BlockTeamRequest = body("/team/block", &b)?;
    p.block_team(req, true).await.map(Json)
}

async fn unblock_team(State(p): Plane, b: Bytes) -> Answer {
    let req: BlockTeamRequest = body("/team/unblock", &b)?;
    p.block_team(req, false).await.map(Json)
}

async fn new_customer(State(p): Plane, b: Bytes) -> Answer {
    let req: NewCustomerRequest = body("/customer/new", &b)?;
    p.new_customer(req).await.map(Json)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct EndUserParam {
    end_user_id: Option<String>,
}

async fn customer_info(State(p): Plane, q: Result<Query<EndUserParam>, QueryRejection>) -> Answer {
    p.customer_info(query(q)?.end_user_id).await.map(Json)
}

async fn update_customer(State(p): Plane, b: Bytes) -> Answer {
    let req: UpdateCustomerRequest = body("/customer/update", &b)?;
    p.update_customer(req).await.map(Json)
}

async fn delete_customers(State(p): Plane, b: Bytes) -> Answer {
    let req: CustomerIdsRequest = body("/customer/delete", &b)?;
    p.delete_customers(req).await.map(Json)
}

async fn list_customers(State(p): Plane) -> Answer {
    p.list_customers().await.map(Json)
}

async fn block_customers(State(p): Plane, b: Bytes) -> Answer {
    let req: CustomerIdsRequest = body("/customer/block", &b)?;
    p.block_customers(req, true).await.map(Json)
}

async fn unblock_customers(State(p): Plane, b: Bytes) -> Answer {
    let req: CustomerIdsRequest = body("/customer/unblock", &b)?;
    p.block_customers(req, false).await.map(Json)
}

async fn spend_logs(State(p): Plane, q: Result<Query<SpendLogsQuery>, QueryRejection>) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match p.spend_logs(q).await {
        Ok((v, truncated)) => {
            let mut r = Json(v).into_response();
            if truncated {
                r.headers_mut().insert(
                    "x-litellm-spend-logs-truncated",
                    HeaderValue::from_static("true"),
                );
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn spend_report(
    State(p): Plane,
    q: Result<Query<SpendReportQuery>, QueryRejection>,
) -> Answer {
    p.spend_report(query(q)?).await.map(Json)
}
