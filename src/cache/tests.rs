use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::*;
use crate::call::{self, CallOptions};
use crate::http::HttpClient;
use crate::providers::mock::MockSpec;
use crate::providers::TargetOptions;
use crate::spend::{ledger, CallMetadata, CallStatus};
use crate::types::{ChatRequest, EmbeddingRequest, Message, StreamOptions};

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn local() -> Arc<ResponseCache> {
    Arc::new(ResponseCache::from_params(&params(json!({"type": "local"}))).unwrap())
}

fn decide(cache: &Arc<ResponseCache>, control: CacheControl) -> CacheUse {
    CacheUse::Decide {
        cache: cache.clone(),
        control,
        asynchronous: false,
    }
}

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

#[test]
fn defaults_are_litellms() {
    let c = CacheConfig::from_params(&Map::new()).unwrap();
    assert_eq!(c.cache_type, CacheType::Local);
    assert_eq!(c.mode, CacheMode::DefaultOn);
    assert_eq!(c.max_messages, Some(4));
    assert_eq!(c.local.max_entries, 200);
    assert_eq!(c.local.max_item_bytes, 1 << 20);
    assert_eq!(c.default_ttl(), Some(Duration::from_secs(600)));
    assert!(c.supports(CallType::Completion) && c.supports(CallType::AEmbedding));
    assert_eq!(c.supported_call_types.len(), config::CALL_TYPES.len());
    let disk = CacheConfig::from_params(&params(json!({"type": "disk"}))).unwrap();
    assert_eq!(disk.disk.dir, std::path::PathBuf::from(".litellm_cache"));
    assert_eq!(disk.default_ttl(), None);
}

#[test]
fn arguments_are_read_and_checked() {
    let c = CacheConfig::from_params(&params(json!({
        "type": "local", "mode": "default_off", "ttl": 30, "default_in_memory_ttl": 5.5,
        "namespace": "ns", "supported_call_types": ["acompletion"], "max_messages": null,
        "max_size_in_memory": "3", "s3_bucket_name": "unused", "similarity_threshold": 0.8,
    })))
    .unwrap();
    assert_eq!(c.mode, CacheMode::DefaultOff);
    // As LiteLLM's: the type's default TTL wins over `ttl`.
    assert_eq!(c.ttl, Some(Duration::from_secs_f64(5.5)));
    assert_eq!(c.namespace.as_deref(), Some("ns"));
    assert!(c.supports(CallType::ACompletion) && !c.supports(CallType::Completion));
    assert_eq!(c.max_messages, None);
    assert_eq!(c.local.max_entries, 3);

    let err = |v: Value| {
        CacheConfig::from_params(&params(v))
            .unwrap_err()
            .message
            .clone()
    };
    assert!(err(json!({"type": "s3"})).contains("not available in llmswitch"));
    assert!(err(json!({"type": "memcached"})).contains("not a cache type"));
    assert!(err(json!({"tll": 3})).contains("did you mean 'ttl'"));
    assert!(err(json!({"mode": "sometimes"})).contains("default_on"));
    assert!(err(json!({"ttl": "soon"})).contains("seconds"));
    assert!(err(json!({"supported_call_types": ["chat"]})).contains("'chat' is not a call type"));
    assert!(
        err(json!({"type": "redis", "redis_startup_nodes": [{"host": "a"}]}))
            .contains("Redis Cluster")
    );
}

#[test]
fn redis_settings_come_from_arguments_or_the_environment() {
    let c = CacheConfig::from_params(&params(json!({
        "type": "redis", "host": "cache.internal", "port": "6380", "password": "pw",
        "db": 2, "ssl": true, "socket_timeout": 0.25,
    })))
    .unwrap();
    assert_eq!(c.redis.host.as_deref(), Some("cache.internal"));
    assert_eq!(c.redis.port, Some(6380));
    assert_eq!(c.redis.db, Some(2));
    assert!(c.redis.ssl);
    assert_eq!(c.redis.response_timeout, Some(Duration::from_millis(250)));
    assert_eq!(c.default_ttl(), Some(Duration::from_secs(60)));
    assert!(
        CacheConfig::from_params(&params(json!({"type": "redis", "port": 70000})))
            .unwrap_err()
            .message
            .contains("port number")
    );
}

#[test]
fn proxy_settings_make_a_cache_only_when_asked() {
    let none = CacheConfig::from_proxy_settings(&params(json!({"cache": false}))).unwrap();
    assert!(none.is_none());
    let disk = CacheConfig::from_proxy_settings(&params(json!({
        "cache": true,
        "cache_params": {"type": "disk", "disk_cache_dir": "/tmp/x", "ttl": 10},
    })))
    .unwrap()
    .unwrap();
    assert_eq!(disk.cache_type, CacheType::Disk);
    assert_eq!(disk.ttl, Some(Duration::from_secs(10)));
    // The proxy's default type is redis.
    let redis = CacheConfig::from_proxy_settings(&params(json!({
        "cache": true, "cache_params": {"host": "localhost", "port": 6379},
    })))
    .unwrap()
    .unwrap();
    assert_eq!(redis.cache_type, CacheType::Redis);
    let built = ResponseCache::from_proxy_settings(&params(json!({
        "cache": true, "cache_params": {"type": "local", "namespace": "gw"},
    })))
    .unwrap()
    .unwrap();
    assert_eq!(built.config().namespace.as_deref(), Some("gw"));
}

// ---------------------------------------------------------------------------------------
// When the cache applies, and the keys
// ---------------------------------------------------------------------------------------

fn one_key() -> Vec<String> {
    vec!["k".to_owned()]
}

#[test]
fn plans_follow_litellms_rules() {
    let cache = local();
    let plan = |control: CacheControl, call: CallType, messages: usize| {
        cache.plan(&control, call, messages, one_key)
    };
    let p = plan(CacheControl::default(), CallType::Completion, 1).unwrap();
    assert!(p.read && p.write);
    assert_eq!(p.ttl, Some(Duration::from_secs(600)));
    assert!(plan(
        CacheControl {
            caching: Some(false),
            ..Default::default()
        },
        CallType::Completion,
        1
    )
    .is_none());
    // More than max_messages (4): neither looked up nor stored.
    assert!(plan(CacheControl::default(), CallType::Completion, 5).is_none());
    let p = plan(
        CacheControl {
            no_cache: true,
            ttl: Some(Duration::from_secs(7)),
            namespace: Some("team-a".to_owned()),
            ..Default::default()
        },
        CallType::Completion,
        1,
    )
    .unwrap();
    assert!(!p.read && p.write);
    assert_eq!(p.ttl, Some(Duration::from_secs(7)));
    assert_eq!(p.keys, ["team-a:k"]);
    assert!(plan(
        CacheControl {
            no_cache: true,
            no_store: true,
            ..Default::default()
        },
        CallType::Completion,
        1
    )
    .is_none());

    let off = Arc::new(
        ResponseCache::from_params(&params(json!({
            "mode": "default_off", "supported_call_types": ["completion"], "namespace": "ns",
        })))
        .unwrap(),
    );
    let opt_in = CacheControl {
        use_cache: true,
        ..Default::default()
    };
    assert!(off
        .plan(&CacheControl::default(), CallType::Completion, 1, one_key)
        .is_none());
    assert_eq!(
        off.plan(&opt_in, CallType::Completion, 1, one_key)
            .unwrap()
            .keys,
        ["ns:k"]
    );
    assert!(off
        .plan(&opt_in, CallType::ACompletion, 1, one_key)
        .is_none());
}

#[test]
fn keys_cover_what_changes_the_answer_and_nothing_else() {
    let base = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
    let key = |r: &ChatRequest| chat_key("openai/gpt-4o", r, false);
    let k = key(&base);
    assert_eq!(k.len(), 64);
    assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));

    let mut other = base.clone();
    other.params.temperature = Some(0.5);
    assert_ne!(key(&other), k);
    let mut other = base.clone();
    other.extra.insert("top_k".into(), json!(3));
    assert_ne!(key(&other), k);
    assert_ne!(chat_key("anthropic/claude", &base, false), k);
    assert_ne!(chat_key("openai/gpt-4o", &base, true), k);

    // Whether the caller sees the usage chunk does not change the answer.
    let mut other = base.clone();
    other.params.stream_options = Some(StreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });
    assert_eq!(key(&other), k);
    // Provider-specific parameters in any order.
    let (mut a, mut b) = (base.clone(), base.clone());
    a.extra.insert("x".into(), json!(1));
    a.extra.insert("y".into(), json!(2));
    b.extra.insert("y".into(), json!(2));
    b.extra.insert("x".into(), json!(1));
    assert_eq!(key(&a), key(&b));

    let e = EmbeddingRequest::new("m", vec!["a", "b"]);
    let ka = embedding_item_key("m", &e, crate::types::InputItem::Text("a"));
    assert_ne!(
        ka,
        embedding_item_key("m", &e, crate::types::InputItem::Text("b"))
    );
    let mut shorter = e.clone();
    shorter.dimensions = Some(8);
    assert_ne!(
        ka,
        embedding_item_key("m", &shorter, crate::types::InputItem::Text("a"))
    );
}

// ---------------------------------------------------------------------------------------
// In the pipeline
// ---------------------------------------------------------------------------------------

fn options(cache: &Arc<ResponseCache>, reply: &str, user: &str, stream: bool) -> CallOptions {
    CallOptions {
        stream,
        mock: Some(MockSpec::from_text(reply)),
        metadata: Some(Arc::new(CallMetadata {
            user: Some(user.to_owned()),
            ..Default::default()
        })),
        cache: decide(cache, CacheControl::default()),
        ..Default::default()
    }
}

fn chat(text: &str) -> ChatRequest {
    ChatRequest::new("gpt-4o", vec![Message::user(text)])
}

fn ledger_rows(user: &str) -> Vec<(CallStatus, Option<f64>)> {
    ledger()
        .memory_records()
        .iter()
        .filter(|r| r.user() == Some(user))
        .map(|r| (r.status, r.cost))
        .collect()
}

#[tokio::test]
async fn a_second_call_is_a_free_hit() {
    let cache = local();
    let client = HttpClient::new().unwrap();
    let user = format!("cache-{}", fastrand::u64(..));
    let run = |reply: &str| {
        call::prepare(
            "gpt-4o",
            None,
            chat("the question"),
            &TargetOptions::default(),
            options(&cache, reply, &user, false),
        )
        .unwrap()
    };
    let first = call::execute(&client, &run("the answer")).await.unwrap();
    assert!(!first.meta.cache_hit);
    assert!(first.meta.cost.unwrap() > 0.0);
    let key = first.meta.cache_key.clone().unwrap();
    // The mock would answer differently: the answer comes from the cache.
    let second = call::execute(&client, &run("another answer"))
        .await
        .unwrap();
    assert!(second.meta.cache_hit);
    assert_eq!(second.meta.cache_key.as_deref(), Some(key.as_str()));
    assert_eq!(second.meta.cost, Some(0.0));
    assert_eq!(second.response, first.response);
    assert_eq!(
        (second.meta.provider.as_str(), second.meta.model.as_str()),
        ("openai", "gpt-4o")
    );
    assert_eq!(
        ledger_rows(&user),
        vec![
            (CallStatus::Success, first.meta.cost),
            (CallStatus::CacheHit, Some(0.0))
        ]
    );

    // no-cache: asks again (and stores the new answer); no-store: keeps the old one.
    let mut fresh = run("fresh answer");
    fresh.cache = cache.plan(
        &CacheControl {
            no_cache: true,
            ..Default::default()
        },
        CallType::Completion,
        1,
        || vec![key.clone()],
    );
    let third = call::execute(&client, &fresh).await.unwrap();
    assert!(!third.meta.cache_hit);
    let fourth = call::execute(&client, &run("x")).await.unwrap();
    assert_eq!(fourth.response, third.response);
}

#[tokio::test]
async fn a_stream_is_stored_when_read_to_the_end_and_replayed() {
    let cache = local();
    let client = HttpClient::new().unwrap();
    let user = format!("cache-stream-{}", fastrand::u64(..));
    let prepared = |reply: &str| {
        let mut req = chat("stream me");
        req.params.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
        call::prepare(
            "gpt-4o",
            None,
            req,
            &TargetOptions::default(),
            options(&cache, reply, &user, true),
        )
        .unwrap()
    };
    // Closed early: not stored.
    let (mut s, _) = call::execute_stream(&client, &prepared("one two three"))
        .await
        .unwrap();
    assert!(s.next().await.is_some());
    drop(s);
    let (mut s, meta) = call::execute_stream(&client, &prepared("one two three"))
        .await
        .unwrap();
    assert!(!meta.cache_hit);
    let mut first = Vec::new();
    while let Some(c) = s.next().await {
        first.push(c.unwrap());
    }
    drop(s);
    let (mut s, meta) = call::execute_stream(&client, &prepared("something else"))
        .await
        .unwrap();
    assert!(meta.cache_hit);
    let mut again = Vec::new();
    while let Some(c) = s.next().await {
        again.push(c.unwrap());
    }
    assert_eq!(again, first);
    assert!(again.last().unwrap().usage.is_some());
    drop(s);
    let rows = ledger_rows(&user);
    assert_eq!(rows.last(), Some(&(CallStatus::CacheHit, Some(0.0))));
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn embeddings_are_cached_per_input() {
    let cache = local();
    let client = HttpClient::new().unwrap();
    let prepared = |input: Vec<&str>| {
        call::prepare(
            "mock/embedder",
            None,
            EmbeddingRequest::new("embedder", input),
            &TargetOptions::default(),
            CallOptions {
                cache: decide(&cache, CacheControl::default()),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let first = call::execute(&client, &prepared(vec!["alpha", "beta"]))
        .await
        .unwrap();
    assert!(!first.meta.cache_hit);
    let swapped = call::execute(&client, &prepared(vec!["beta", "alpha"]))
        .await
        .unwrap();
    assert!(swapped.meta.cache_hit);
    assert_eq!(
        swapped.response.data[0].embedding,
        first.response.data[1].embedding
    );
    assert_eq!(swapped.response.data[1].index, 1);
    assert_eq!(
        swapped.response.usage.as_ref().unwrap().prompt_tokens,
        first.response.usage.as_ref().unwrap().prompt_tokens
    );
    let one = call::execute(&client, &prepared(vec!["beta"]))
        .await
        .unwrap();
    assert!(one.meta.cache_hit);
    // An input not seen yet: only it is sent (and costed); the answer is whole, in order.
    let part = call::execute(&client, &prepared(vec!["gamma", "alpha"]))
        .await
        .unwrap();
    assert!(!part.meta.cache_hit);
    let gamma = call::execute(&client, &prepared(vec!["gamma"]))
        .await
        .unwrap();
    let alpha = call::execute(&client, &prepared(vec!["alpha"]))
        .await
        .unwrap();
    assert!(gamma.meta.cache_hit, "the fresh vector was stored");
    assert_eq!(
        part.response.data[0].embedding,
        gamma.response.data[0].embedding
    );
    assert_eq!(
        part.response.data[1].embedding,
        alpha.response.data[0].embedding
    );
    assert_eq!(part.response.data[1].index, 1);
    let tokens = |r: &crate::types::EmbeddingResponse| r.usage.as_ref().unwrap().prompt_tokens;
    assert_eq!(
        tokens(&part.response),
        tokens(&gamma.response) + tokens(&alpha.response)
    );
}

#[tokio::test]
async fn the_router_looks_up_per_model_group_before_picking() {
    use crate::router::{Router, RouterConfig, RouterRequest, RouterSettings};
    let settings = RouterSettings::from_map(params(json!({
        "cache_responses": true,
        "caching_groups": [["smart", "smart-eu"]],
    })))
    .unwrap();
    let list = json!([
        {"model_name": "smart", "litellm_params": {"model": "mock/a", "mock_response": "from a"}},
        {"model_name": "smart", "litellm_params": {"model": "mock/b", "mock_response": "from b"}},
        {"model_name": "smart-eu", "litellm_params": {"model": "mock/c", "mock_response": "from c"}},
    ]);
    let router = Router::new(RouterConfig::new(list, settings).unwrap()).unwrap();
    let cache = local();
    let client = HttpClient::new().unwrap();
    let request = |group: &str, control: CacheControl| {
        let mut r = RouterRequest::new(group, chat("routed"));
        r.options.cache = decide(&cache, control);
        r
    };
    let first = router
        .completion(&client, &request("smart", CacheControl::default()))
        .await
        .unwrap();
    assert!(!first.meta.cache_hit && first.meta.model_id.is_some());
    let served = |r: &crate::call::Completion| r.response.choices[0].message.content.clone();
    for _ in 0..4 {
        let hit = router
            .completion(&client, &request("smart", CacheControl::default()))
            .await
            .unwrap();
        assert!(hit.meta.cache_hit);
        assert_eq!(served(&hit), served(&first));
        assert_eq!(hit.meta.model_id, None, "a hit takes no deployment");
        assert_eq!(hit.meta.model_group.as_deref(), Some("smart"));
    }
    // A group of the same caching group shares the entry.
    let shared = router
        .completion(&client, &request("smart-eu", CacheControl::default()))
        .await
        .unwrap();
    assert!(shared.meta.cache_hit);
    // `caching=False` on the call wins over the router's cache_responses.
    let off = router
        .completion(
            &client,
            &request(
                "smart",
                CacheControl {
                    caching: Some(false),
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap();
    assert!(!off.meta.cache_hit);
    let total: u64 = router.stats().iter().map(|s| s.successes).sum();
    assert_eq!(total, 2);
}

#[tokio::test]
async fn a_router_without_cache_responses_caches_only_calls_that_ask() {
    use crate::router::{Router, RouterConfig, RouterRequest, RouterSettings};
    let list = json!([{"model_name": "g", "litellm_params": {"model": "mock/a"}}]);
    let router = Router::new(RouterConfig::new(list, RouterSettings::default()).unwrap()).unwrap();
    let cache = local();
    let client = HttpClient::new().unwrap();
    let call = |caching: Option<bool>| {
        let mut r = RouterRequest::new("g", chat("ask"));
        r.options.cache = decide(
            &cache,
            CacheControl {
                caching,
                ..Default::default()
            },
        );
        r
    };
    router.completion(&client, &call(None)).await.unwrap();
    assert!(
        !router
            .completion(&client, &call(None))
            .await
            .unwrap()
            .meta
            .cache_hit
    );
    router.completion(&client, &call(Some(true))).await.unwrap();
    assert!(
        router
            .completion(&client, &call(Some(true)))
            .await
            .unwrap()
            .meta
            .cache_hit
    );
}

#[tokio::test]
async fn a_redis_that_is_down_is_a_miss_with_one_warning() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cache = Arc::new(
        ResponseCache::from_params(&params(json!({
            "type": "redis", "host": "127.0.0.1", "port": port, "socket_timeout": 2,
        })))
        .unwrap(),
    );
    let before: Vec<String> = take_warnings();
    drop(before);
    assert!(cache.get("k", None).await.is_none());
    let warnings = take_warnings();
    let ours: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains(&port.to_string()))
        .collect();
    assert_eq!(ours.len(), 1, "{warnings:?}");
    assert!(ours[0].contains("unavailable"), "{}", ours[0]);
    // Still down: a miss, and no second warning.
    cache.put("k", &sample_entry(), None);
    assert!(cache.get("k", None).await.is_none());
    assert!(cache.ping().await.is_err());
    let again = take_warnings();
    assert!(
        !again.iter().any(|w| w.contains(&port.to_string())),
        "{again:?}"
    );
}

fn sample_entry() -> Entry {
    Entry {
        created: 0.0,
        provider: "p".to_owned(),
        model: "m".to_owned(),
        answer: CachedAnswer::Stream(Vec::new()),
    }
}

#[tokio::test]
async fn entries_older_than_max_age_are_misses() {
    let cache = local();
    let mut old = sample_entry();
    old.created = now_secs() - 100.0;
    cache.put("old", &old, None);
    assert!(cache
        .get("old", Some(Duration::from_secs(200)))
        .await
        .is_some());
    assert!(cache
        .get("old", Some(Duration::from_secs(50)))
        .await
        .is_none());
    cache.delete(&["old".to_owned()]).await;
    assert!(cache.get("old", None).await.is_none());
}
