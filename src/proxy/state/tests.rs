//! The state plane through its routes and its request path.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use secrecy::SecretString;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::plane::Projection;
use super::routes::{routes, with_auth};
use super::store::sqlite::SqliteStore;
use super::store::tests::TempDb;
use super::store::{KeyRow, SpendLogRow, Store};
use super::token::hash_token;
use super::*;
use crate::spend::clock::{self, Micros, MICROS_PER_DAY, MICROS_PER_SECOND};

const MASTER: &str = "sk-master-test-key";

struct Harness {
    plane: Arc<StatePlane>,
    app: axum::Router,
    db: TempDb,
}

fn config() -> StateConfig {
    let mut c = StateConfig {
        master_key: Some(SecretString::from(MASTER)),
        ..Default::default()
    };
    c.spend_writer.interval = Duration::from_millis(10);
    c
}

async fn harness_at(db: TempDb) -> Harness {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).unwrap());
    let plane = StatePlane::start(store, config()).await.unwrap();
    let mut app = axum::Router::new();
    for (class, r) in routes(plane.clone()) {
        app = app.merge(with_auth(r, class, plane.clone()));
    }
    Harness { plane, app, db }
}

async fn harness(name: &str) -> Harness {
    harness_at(TempDb::new(name)).await
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(MASTER), Some(body))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(MASTER), None).await
    }

    async fn auth(&self, key: &str) -> Result<Caller, ApiError> {
        self.plane.authenticate(Some(key)).await
    }

    async fn admit(
        &self,
        key: &str,
        model: &str,
        end_user: Option<&str>,
        cost: f64,
    ) -> Result<Admitted, ApiError> {
        let caller = self.auth(key).await?;
        self.plane
            .admit(
                &caller,
                &CallRequest {
                    model_group: model,
                    end_user,
                    projected_cost: &move |_| cost,
                    now: clock::now(),
                },
            )
            .await
    }
}

fn log_row(
    id: &str,
    token: &str,
    team: Option<&str>,
    end_user: Option<&str>,
    model: &str,
    cost: f64,
) -> SpendLogRow {
    SpendLogRow {
        request_id: id.into(),
        call_type: "acompletion".into(),
        api_key: token.into(),
        spend: cost,
        prompt_tokens: 10,
        completion_tokens: 20,
        total_tokens: 30,
        start_time: clock::now(),
        end_time: clock::now(),
        model: model.into(),
        model_group: Some(model.into()),
        team_id: team.map(str::to_owned),
        end_user: end_user.map(str::to_owned),
        request_tags: vec!["batch".into()],
        status: Some("success".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn key_lifecycle_through_the_admin_routes() {
    let h = harness("lifecycle").await;
    let (status, gen) = h
        .post(
            "/key/generate",
            json!({"models": ["gpt-4o"], "max_budget": 10, "key_alias": "ci", "rpm_limit": 5,
                   "tags": ["prod"], "metadata": {"owner": "ops"}, "budget_duration": "30d",
                   "user_id": "u1"}),
        )
        .await;
    assert_eq!(status, 200, "{gen}");
    let key = gen["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-"));
    assert_eq!(gen["token"], json!(hash_token(&key)));
    assert_eq!(gen["token_id"], json!(hash_token(&key)));
    assert_eq!(
        gen["key_name"],
        json!(format!("sk-...{}", &key[key.len() - 4..]))
    );
    assert_eq!(gen["models"], json!(["gpt-4o"]));
    assert_eq!(gen["max_budget"], json!(10.0));
    assert_eq!(gen["metadata"], json!({"owner": "ops", "tags": ["prod"]}));
    assert!(gen["budget_reset_at"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));
    assert!(gen["expires"].is_null());

    // Info by key, by hash, and by the key itself without arguments.
    let (status, info) = h.get(&format!("/key/info?key={key}")).await;
    assert_eq!(status, 200);
    assert_eq!(info["key"], json!(key));
    assert_eq!(info["info"]["status"], json!("active"));
    assert!(info["info"].get("token").is_none());
    let (_, by_hash) = h.get(&format!("/key/info?key={}", hash_token(&key))).await;
    assert_eq!(by_hash["info"]["key_alias"], json!("ci"));
    let (status, own) = h.call(Method::GET, "/key/info", Some(&key), None).await;
    assert_eq!(
        (status, own["info"]["key_alias"].clone()),
        (200, json!("ci"))
    );

    // Another key may not read it; virtual keys may not use admin routes.
    let (_, other) = h.post("/key/generate", json!({})).await;
    let other = other["key"].as_str().unwrap().to_owned();
    let (status, _) = h
        .call(
            Method::GET,
            &format!("/key/info?key={key}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .call(Method::POST, "/key/generate", Some(&other), Some(json!({})))
        .await;
    assert_eq!(status, 401);

    // Update: set, and clear with null.
    let (status, upd) = h
        .post(
            "/key/update",
            json!({"key": key, "models": ["gpt-4o", "gpt-4o-mini"], "rpm_limit": null}),
        )
        .await;
    assert_eq!(status, 200, "{upd}");
    assert_eq!(upd["key"], json!(key));
    assert_eq!(upd["token"], json!(hash_token(&key)));
    assert_eq!(upd["models"], json!(["gpt-4o", "gpt-4o-mini"]));
    assert!(upd["rpm_limit"].is_null());
    assert_eq!(upd["metadata"]["tags"], json!(["prod"]));
    let (status, _) = h
        .post("/key/update", json!({"key_alias": "ci", "max_budget": 20}))
        .await;
    assert_eq!(status, 200, "update by alias");
    let (status, err) = h
        .post("/key/update", json!({"key": "sk-nope-nope-nope-nope"}))
        .await;
    assert_eq!(
        (status, err["error"]["type"].clone()),
        (404, json!("not_found_error"))
    );
    let (status, _) = h.post("/key/generate", json!({"key_alias": "ci"})).await;
    assert_eq!(status, 400, "aliases are unique");

    // List, paged.
    let (status, list) = h.get("/key/list?size=1&page=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        (list["total_count"].clone(), list["total_pages"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    let (_, full) = h
        .get("/key/list?return_full_object=true&key_alias=ci")
        .await;
    assert_eq!(full["keys"][0]["token"], json!(hash_token(&key)));

    // Block, unblock.
    assert!(h.auth(&key).await.is_ok());
    let (status, blocked) = h.post("/key/block", json!({"key": key})).await;
    assert_eq!((status, blocked["blocked"].clone()), (200, json!(true)));
    let err = h.auth(&key).await.unwrap_err();
    assert_eq!(err.status, 401);
    assert!(err.message.contains("Key is blocked"), "{}", err.message);
    h.post("/key/unblock", json!({"key": key})).await;
    assert!(h.auth(&key).await.is_ok());

    // Regenerate: a new key for the same row, the old one stops working.
    h.plane
        .record(log_row("r1", &hash_token(&key), None, None, "gpt-4o", 1.5));
    assert!(h.plane.flush(Duration::from_secs(10)).await);
    let (status, regen) = h
        .post(&format!("/key/{key}/regenerate"), json!({"max_budget": 30}))
        .await;
    assert_eq!(status, 200, "{regen}");
    let new_key = regen["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(regen["token_id"], json!(hash_token(&new_key)));
    assert!(regen["token"].is_null());
    assert_eq!(regen["key_alias"], json!("ci"));
    assert_eq!(regen["max_budget"], json!(30.0));
    assert_eq!(regen["spend"], json!(1.5));
    assert_eq!(h.auth(&key).await.unwrap_err().status, 401);
    assert!(h.auth(&new_key).await.is_ok());
    let (_, old_info) = h.get(&format!("/key/info?key={key}")).await;
    assert_eq!(old_info["info"]["status"], json!("deleted"));

    // Delete.
    let (status, del) = h.post("/key/delete", json!({"keys": [new_key]})).await;
    assert_eq!((status, del), (200, json!({"deleted_keys": [new_key]})));
    assert_eq!(h.auth(&new_key).await.unwrap_err().status, 401);
    let (status, _) = h.post("/key/delete", json!({"keys": [new_key]})).await;
    assert_eq!(status, 404);
    let (status, del) = h.post("/key/delete", json!({"key_aliases": []})).await;
    assert_eq!(status, 422, "{del}");
}

#[tokio::test]
async fn authentication_refuses_missing_wrong_expired_and_deleted_keys() {
    let h = harness("auth").await;
    assert!(h.plane.authenticate(Some(MASTER)).await.unwrap().is_admin());
    let none = h.plane.authenticate(None).await.unwrap_err();
    assert_eq!((none.status, none.error_type.as_ref()), (401, "auth_error"));
    let wrong = h.auth("sk-not-a-key-at-all").await.unwrap_err();
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.message.contains("Invalid proxy server token"),
        "{}",
        wrong.message
    );
    assert!(
        !wrong.message.contains("sk-not-a-key-at-all"),
        "the key is never echoed"
    );
    // The hash of a key is not a key.
    let (_, gen) = h.post("/key/generate", json!({})).await;
    let key = gen["key"].as_str().unwrap();
    assert_eq!(h.auth(&hash_token(key)).await.unwrap_err().status, 401);
    // An expired key.
    let expired = "sk-expired-key-0123456789";
    h.plane
        .store()
        .insert_key(KeyRow {
            token: hash_token(expired),
            expires: Some(clock::now() - MICROS_PER_SECOND),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = h.auth(expired).await.unwrap_err();
    assert_eq!(err.status, 401);
    assert!(err.message.contains("Expired Key"), "{}", err.message);
    let (_, info) = h.get(&format!("/key/info?key={expired}")).await;
    assert_eq!(info["info"]["status"], json!("expired"));
    // A key generated with a duration expires then.
    let (_, short) = h.post("/key/generate", json!({"duration": "1h"})).await;
    let expires = time::parse_datetime(short["expires"].as_str().unwrap()).unwrap();
    assert!((expires - clock::now() - 3600 * MICROS_PER_SECOND).abs() < 60 * MICROS_PER_SECOND);
    // Unsupported fields are refused, not ignored.
    let (status, err) = h
        .post("/key/generate", json!({"model_rpm_limit": {"gpt-4o": 1}}))
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, _) = h
        .post("/key/generate", json!({"key": "not-sk-prefixed-key"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = h.post("/key/generate", json!({"max_budget": -1})).await;
    assert_eq!(status, 400);
    let (status, _) = h
        .post("/key/generate", json!({"budget_duration": "sometimes"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .call(Method::POST, "/key/generate", None, Some(json!({})))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn teams_give_their_keys_budgets_limits_and_model_lists() {
    let h = harness("teams").await;
    let (status, team) = h
        .post("/team/new", json!({"team_alias": "Search", "models": ["gpt-4o"], "max_budget": 1.0, "rpm_limit": 100}))
        .await;
    assert_eq!(status, 200, "{team}");
    let team_id = team["team_id"].as_str().unwrap().to_owned();
    assert_eq!(team_id.len(), 36, "a uuid");
    let (status, _) = h.post("/team/new", json!({"team_id": team_id})).await;
    assert_eq!(status, 400, "ids are unique");
    let (status, _) = h
        .post("/key/generate", json!({"team_id": "no-such-team"}))
        .await;
    assert_eq!(status, 400);
    let (_, gen) = h.post("/key/generate", json!({"team_id": team_id})).await;
    let key = gen["key"].as_str().unwrap().to_owned();

    // The team's model list applies to its keys.
    assert!(h.admit(&key, "gpt-4o", None, 0.0).await.is_ok());
    let err = h.admit(&key, "claude-3", None, 0.0).await.err().unwrap();
    assert_eq!(
        (err.status, err.error_type.as_ref()),
        (403, "team_model_access_denied")
    );

    // The team's budget applies to its keys.
    h.plane.record(log_row(
        "t1",
        &hash_token(&key),
        Some(&team_id),
        None,
        "gpt-4o",
        0.6,
    ));
    let lease = h.admit(&key, "gpt-4o", None, 0.1).await.unwrap();
    lease.settle(30, 0.6, clock::now());
    assert!(
        h.admit(&key, "gpt-4o", None, 0.4).await.is_ok(),
        "0.6 + 0.4 fits"
    );
    let err = h.admit(&key, "gpt-4o", None, 0.5).await.err().unwrap();
    assert_eq!(
        (err.status, err.error_type.as_ref()),
        (422, "budget_exceeded")
    );
    assert!(
        err.message.starts_with(&format!(
            "Budget has been exceeded! Team={team_id} Current cost: 0.6"
        )),
        "{}",
        err.message
    );

    // Info, update, list, block.
    assert!(h.plane.flush(Duration::from_secs(10)).await);
    let (status, info) = h.get(&format!("/team/info?team_id={team_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(info["team_info"]["team_alias"], json!("Search"));
    assert_eq!(info["team_info"]["spend"], json!(0.6));
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    let (status, upd) = h
        .post(
            "/team/update",
            json!({"team_id": team_id, "max_budget": 5, "models": null}),
        )
        .await;
    assert_eq!(status, 200, "{upd}");
    assert_eq!(upd["team_id"], json!(team_id));
    assert_eq!(upd["data"]["max_budget"], json!(5.0));
    assert!(
        h.admit(&key, "claude-3", None, 0.1).await.is_ok(),
        "no model list now"
    );
    let (_, list) = h.get("/team/list").await;
    assert_eq!(list[0]["team_id"], json!(team_id));
    assert_eq!(list[0]["keys"].as_array().unwrap().len(), 1);
    h.post("/team/block", json!({"team_id": team_id})).await;
    let err = h.auth(&key).await.unwrap_err();
    assert!(err.message.contains("is blocked"), "{}", err.message);
    h.post("/team/unblock", json!({"team_id": team_id})).await;
    assert!(h.auth(&key).await.is_ok());
    let (status, _) = h.get("/team/info?team_id=nope").await;
    assert_eq!(status, 404);

    // Deleting the team deletes its keys.
    let (status, del) = h.post("/team/delete", json!({"team_ids": [team_id]})).await;
    assert_eq!((status, del), (200, json!({"deleted_teams": [team_id]})));
    assert_eq!(h.auth(&key).await.unwrap_err().status, 401);
    let (status, _) = h.post("/team/delete", json!({"team_ids": [team_id]})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn customers_have_budgets_limits_models_and_blocks() {
    let h = harness("customers").await;
    let (status, c) = h
        .post("/customer/new", json!({"user_id": "acme", "max_budget": 0.5, "rpm_limit": 2, "models": ["gpt-4o"], "alias": "Acme"}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["litellm_budget_table"]["max_budget"], json!(0.5));
    assert_eq!(c["litellm_budget_table"]["rpm_limit"], json!(2));
    assert_eq!(c["budget_id"], c["litellm_budget_table"]["budget_id"]);
    let (status, _) = h.post("/customer/new", json!({"user_id": "acme"})).await;
    assert_eq!(status, 400);
    let (_, gen) = h.post("/key/generate", json!({})).await;
    let key = gen["key"].as_str().unwrap().to_owned();

    let err = h
        .admit(&key, "gpt-4o-mini", Some("acme"), 0.0)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (err.status, err.error_type.as_ref()),
        (403, "customer_model_access_denied")
    );
    // rpm 2 for the customer; others are not limited.
    let _a = h.admit(&key, "gpt-4o", Some("acme"), 0.0).await.unwrap();
    let _b = h.admit(&key, "gpt-4o", Some("acme"), 0.0).await.unwrap();
    let err = h
        .admit(&key, "gpt-4o", Some("acme"), 0.0)
        .await
        .err()
        .unwrap();
    assert_eq!(err.status, 429);
    assert!(err.retry_after.is_some_and(|s| (1..=60).contains(&s)));
    assert!(
        err.message
            .starts_with("Rate limit exceeded for end_user: acme. Limit type: requests."),
        "{}",
        err.message
    );
    assert!(h
        .admit(&key, "gpt-4o-mini", Some("someone-else"), 0.0)
        .await
        .is_ok());
    // The budget, through the master key too.
    h.post(
        "/customer/update",
        json!({"user_id": "acme", "rpm_limit": null}),
    )
    .await;
    h.plane
        .admit(
            &Caller::Admin,
            &CallRequest {
                model_group: "gpt-4o",
                end_user: Some("acme"),
                projected_cost: &|_| 0.0,
                now: clock::now(),
            },
        )
        .await
        .unwrap()
        .settle(10, 0.5, clock::now());
    let err = h
        .admit(&key, "gpt-4o", Some("acme"), 0.0)
        .await
        .err()
        .unwrap();
    assert_eq!(err.status, 422);
    assert_eq!(
        err.message,
        "ExceededBudget: End User=acme over budget. Spend=0.5, Budget=0.5"
    );

    let (status, info) = h.get("/customer/info?end_user_id=acme").await;
    assert_eq!((status, info["alias"].clone()), (200, json!("Acme")));
    let (status, err) = h.get("/customer/info?end_user_id=nobody").await;
    assert_eq!(status, 404, "{err}");
    let (_, blocked) = h
        .post("/customer/block", json!({"user_ids": ["acme", "new-one"]}))
        .await;
    assert_eq!(blocked["blocked_users"].as_array().unwrap().len(), 2);
    assert_eq!(
        h.admit(&key, "gpt-4o", Some("new-one"), 0.0)
            .await
            .err()
            .unwrap()
            .status,
        403
    );
    let (_, unblocked) = h
        .post("/end_user/unblock", json!({"user_ids": ["new-one"]}))
        .await;
    assert_eq!(unblocked["blocked_users"], json!(["acme"]));
    let (_, list) = h.get("/customer/list").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, del) = h
        .post("/customer/delete", json!({"user_ids": ["acme", "ghost"]}))
        .await;
    assert_eq!(status, 404, "{del}");
    let (status, del) = h
        .post("/customer/delete", json!({"user_ids": ["acme"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(del["deleted_customers"], json!(1));
    assert_eq!(
        del["message"],
        json!("Successfully deleted customers with ids: ['acme']")
    );
    assert!(h.admit(&key, "anything", Some("acme"), 0.0).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_never_overshoot_a_key_budget() {
    let h = harness("concurrent").await;
    // Budget for 20 calls at their projected cost; each real call costs 10 % more.
    let (_, gen) = h.post("/key/generate", json!({"max_budget": 1.0})).await;
    let key = gen["key"].as_str().unwrap().to_owned();
    let caller = Arc::new(h.auth(&key).await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (plane, caller) = (h.plane.clone(), caller.clone());
        tasks.push(tokio::spawn(async move {
            let call = CallRequest {
                model_group: "gpt-4o",
                end_user: None,
                projected_cost: &|_| 0.05,
                now: clock::now(),
            };
            let admitted = plane.admit(&caller, &call).await;
            tokio::task::yield_now().await;
            match admitted {
                Ok(a) => {
                    a.settle(100, 0.055, clock::now());
                    true
                }
                Err(e) => {
                    assert_eq!(e.status, 422, "{e:?}");
                    false
                }
            }
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    let spent = h
        .plane
        .counters()
        .spend(
            &counters::ScopeId::new(counters::ScopeKind::Key, &hash_token(&key)),
            clock::now(),
        )
        .unwrap();
    // In flight at most 20 (1.0 / 0.05); the overshoot is the projections' error only.
    assert!((18..=20).contains(&admitted), "{admitted}");
    assert!(spent <= 1.0 + 20.0 * 0.005 + 1e-9, "{spent}");
}

#[tokio::test]
async fn limits_per_key_give_429_with_retry_after() {
    let h = harness("limits").await;
    let (_, gen) = h
        .post(
            "/key/generate",
            json!({"rpm_limit": 3, "max_parallel_requests": 2}),
        )
        .await;
    let key = gen["key"].as_str().unwrap().to_owned();
    let a = h.admit(&key, "m", None, 0.0).await.unwrap();
    let _b = h.admit(&key, "m", None, 0.0).await.unwrap();
    let err = h.admit(&key, "m", None, 0.0).await.err().unwrap();
    assert_eq!((err.status, err.retry_after), (429, Some(1)));
    assert!(
        err.message.contains("Limit type: max_parallel_requests"),
        "{}",
        err.message
    );
    a.settle(1, 0.0, clock::now());
    let _c = h.admit(&key, "m", None, 0.0).await.unwrap();
    drop(_b);
    let err = h.admit(&key, "m", None, 0.0).await.err().unwrap();
    assert!(
        err.message
            .contains("Limit type: requests. Current limit: 3"),
        "{}",
        err.message
    );
    // The key's model list.
    let (_, narrow) = h
        .post("/key/generate", json!({"models": ["openai/*"]}))
        .await;
    let narrow = narrow["key"].as_str().unwrap().to_owned();
    assert!(h.admit(&narrow, "openai/gpt-4o", None, 0.0).await.is_ok());
    let err = h.admit(&narrow, "gpt-4o", None, 0.0).await.err().unwrap();
    assert_eq!(
        (err.status, err.error_type.as_ref()),
        (403, "key_model_access_denied")
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let h = harness("restart").await;
    let (_, gen) = h
        .post(
            "/key/generate",
            json!({"max_budget": 1.0, "key_alias": "kept"}),
        )
        .await;
    let key = gen["key"].as_str().unwrap().to_owned();
    let token = hash_token(&key);
    h.post("/team/new", json!({"team_id": "t-kept"})).await;
    h.plane
        .record(log_row("before", &token, None, None, "gpt-4o", 1.0));
    assert!(h.plane.shutdown(Duration::from_secs(10)).await);
    let Harness { plane, app, db } = h;
    drop((plane, app));
    let h = harness_at(db).await;
    // The key works, its spend is kept, and its budget is as exhausted as before.
    let caller = h.auth(&key).await.unwrap();
    assert_eq!(caller.key().unwrap().key.spend, 1.0);
    let err = h.admit(&key, "gpt-4o", None, 0.0).await.err().unwrap();
    assert_eq!(err.status, 422);
    assert!(err.message.contains("Key=kept ("), "{}", err.message);
    let (_, team) = h.get("/team/info?team_id=t-kept").await;
    assert_eq!(team["team_id"], json!("t-kept"));
    let (_, logs) = h.get("/spend/logs").await;
    assert_eq!(logs[0]["request_id"], json!("before"));
}

#[tokio::test]
async fn budgets_reset_at_their_window_in_the_database_and_cache() {
    let h = harness("reset").await;
    let (_, gen) = h
        .post(
            "/key/generate",
            json!({"max_budget": 1.0, "budget_duration": "1d"}),
        )
        .await;
    let key = gen["key"].as_str().unwrap().to_owned();
    h.plane
        .record(log_row("x", &hash_token(&key), None, None, "gpt-4o", 1.0));
    assert!(h.plane.flush(Duration::from_secs(10)).await);
    assert_eq!(h.plane.reset_due_budgets(clock::now()).await.unwrap(), 0);
    let tomorrow: Micros = clock::now() + MICROS_PER_DAY + 1;
    assert_eq!(h.plane.reset_due_budgets(tomorrow).await.unwrap(), 1);
    let caller = h.auth(&key).await.unwrap();
    let row = &caller.key().unwrap().key;
    assert_eq!(row.spend, 0.0);
    assert!(row.budget_reset_at.unwrap() > tomorrow);
    let (_, info) = h.get(&format!("/key/info?key={key}")).await;
    assert_eq!(info["info"]["spend"], json!(0.0));
}

#[tokio::test]
async fn spend_logs_and_reports_in_litellms_shapes() {
    let h = harness("reports").await;
    h.post("/team/new", json!({"team_id": "t1", "team_alias": "Alpha"}))
        .await;
    let (_, gen) = h
        .post("/key/generate", json!({"team_id": "t1", "key_alias": "a"}))
        .await;
    let token = hash_token(gen["key"].as_str().unwrap());
    let mut rows = vec![
        log_row("r1", &token, Some("t1"), Some("cust"), "gpt-4o", 1.0),
        log_row("r2", &token, Some("t1"), None, "gpt-4o-mini", 0.5),
        log_row("r3", "other", None, None, "gpt-4o", 0.25),
    ];
    rows[0]
        .metadata
        .insert("user_api_key_alias".into(), json!("a"));
    rows[1].request_tags = vec!["batch".into(), "nightly".into()];
    rows[2].request_tags.clear();
    for r in rows {
        assert!(h.plane.record(r));
    }
    assert!(h.plane.flush(Duration::from_secs(10)).await);
    let today = clock::utc_date(clock::now());

    let (status, logs) = h.get("/spend/logs").await;
    assert_eq!(status, 200);
    assert_eq!(logs.as_array().unwrap().len(), 3);
    assert_eq!(logs[0]["request_id"], json!("r3"));
    assert!(logs[0]["startTime"].as_str().unwrap().starts_with(&today));
    for (query, n) in [
        (format!("api_key={token}"), 2),
        ("team_id=t1".to_owned(), 2),
        ("model=gpt-4o".to_owned(), 2),
        ("tag=nightly".to_owned(), 1),
        ("end_user=cust".to_owned(), 1),
        ("key_alias=a".to_owned(), 1),
        (
            format!("start_date={today}&end_date={today}&summarize=false"),
            3,
        ),
        (
            "start_date=2001-01-01&end_date=2001-01-02&summarize=false".to_owned(),
            0,
        ),
    ] {
        let (status, v) = h.get(&format!("/spend/logs?{query}")).await;
        assert_eq!(
            (status, v.as_array().map(Vec::len)),
            (200, Some(n)),
            "{query}: {v}"
        );
    }
    let (_, summary) = h
        .get(&format!("/spend/logs?start_date={today}&end_date={today}"))
        .await;
    assert_eq!(summary[0]["startTime"], json!(today));
    assert_eq!(summary[0]["spend"], json!(1.75));
    assert_eq!(summary[0][&token], json!(1.5));
    assert_eq!(summary[0]["models"]["gpt-4o"], json!(1.25));

    let report = |group: &str| {
        let path =
            format!("/global/spend/report?start_date={today}&end_date={today}&group_by={group}");
        let h = &h;
        async move { h.get(&path).await }
    };
    let (status, teams) = report("team").await;
    assert_eq!(status, 200, "{teams}");
    assert_eq!(
        teams[0]["group_by_day"],
        json!(format!("{today}T00:00:00+00:00"))
    );
    let names: Vec<&Value> = teams[0]["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["team_name"])
        .collect();
    assert_eq!(names, vec![&json!("Alpha"), &json!("Unassigned Team")]);
    assert_eq!(teams[0]["teams"][0]["total_spend"], json!(1.5));
    assert_eq!(
        teams[0]["teams"][0]["metadata"].as_array().unwrap().len(),
        2
    );
    let (_, keys) = report("api_key").await;
    assert_eq!(keys[0]["api_key"], json!(token));
    assert_eq!(keys[0]["total_cost"], json!(1.5));
    assert_eq!(keys[0]["total_input_tokens"], json!(20));
    assert_eq!(keys[0]["model_details"].as_array().unwrap().len(), 2);
    let (_, customers) = report("customer").await;
    assert!(customers[0]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["customer"] == json!("cust")));
    let (_, models) = report("model").await;
    assert_eq!(models[0]["model"], json!("gpt-4o"));
    assert_eq!(models[0]["total_cost"], json!(1.25));
    let (_, tags) = report("tag").await;
    assert_eq!(tags[0]["tag"], json!("batch"));
    assert_eq!(tags[0]["total_requests"], json!(2));
    let (_, days) = report("day").await;
    assert_eq!(days[0]["total_cost"], json!(1.75));
    let (status, _) = h.get("/global/spend/report").await;
    assert_eq!(status, 400);
    let (status, _) = report("planet").await;
    assert_eq!(status, 400);

    // Spend columns were raised.
    let (_, info) = h.get(&format!("/key/info?key={token}")).await;
    assert_eq!(info["info"]["spend"], json!(1.5));
    let (_, team) = h.get("/team/info?team_id=t1").await;
    assert_eq!(team["team_info"]["spend"], json!(1.5));
}

#[tokio::test]
async fn a_call_refused_on_its_cost_bound_is_admitted_on_its_exact_cost() {
    let h = harness("projection").await;
    let (_, gen) = h.post("/key/generate", json!({"max_budget": 1.0})).await;
    let key = gen["key"].as_str().unwrap().to_owned();
    let caller = h.auth(&key).await.unwrap();
    let asked = std::sync::Mutex::new(Vec::new());
    let project = |p: Projection| {
        asked.lock().unwrap().push(p);
        match p {
            Projection::UpperBound => 1.5,
            Projection::Exact => 0.4,
        }
    };
    let call = CallRequest {
        model_group: "gpt-4o",
        end_user: None,
        projected_cost: &project,
        now: clock::now(),
    };
    // The bound does not fit the budget; the exact count does, and is what is held.
    let first = h.plane.admit(&caller, &call).await.unwrap();
    assert_eq!(
        *asked.lock().unwrap(),
        [Projection::UpperBound, Projection::Exact]
    );
    let second = h.plane.admit(&caller, &call).await.unwrap();
    // 0.8 held: a third exact projection no longer fits either.
    let Err(third) = h.plane.admit(&caller, &call).await else {
        unreachable!("a third call past the budget was admitted")
    };
    assert_eq!(third.status, 422, "{third:?}");
    drop((first, second));
    // A bound that fits is held as it is: the tokenizer is never asked for.
    asked.lock().unwrap().clear();
    let cheap = |p: Projection| {
        asked.lock().unwrap().push(p);
        0.1
    };
    let call = CallRequest {
        projected_cost: &cheap,
        ..call
    };
    h.plane.admit(&caller, &call).await.unwrap();
    assert_eq!(*asked.lock().unwrap(), [Projection::UpperBound]);
}
