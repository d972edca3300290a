use super::*;
use crate::mock_server::{MockServer, Scripted, ScriptedBody};
use crate::types::{Message, StreamOptions};
use serde_json::json;

fn options(api_base: &str) -> TargetOptions {
    TargetOptions {
        api_key: Some(SecretString::from("azure-test-key".to_owned())),
        api_base: Some(api_base.to_owned()),
        ..Default::default()
    }
}

fn azure() -> Arc<Azure> {
    Arc::new(Azure::new(Flavor::OpenAi))
}

fn target(model: &str, opts: &TargetOptions) -> Target {
    match azure().resolve_target(model, opts) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn deployment_urls_and_api_versions() {
    // Trailing slash tolerated; LiteLLM's default api-version.
    let t = target("my-gpt4o", &options("https://res.openai.azure.com/"));
    assert_eq!(
        url(Flavor::OpenAi, &t, "/chat/completions"),
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2025-02-01-preview"
    );
    assert_eq!(
        url(Flavor::OpenAi, &t, "/embeddings"),
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/embeddings?api-version=2025-02-01-preview"
    );
    let mut opts = options("https://res.openai.azure.com");
    opts.api_version = Some("2024-10-21".into());
    let t = target("my-gpt4o", &opts);
    assert!(url(Flavor::OpenAi, &t, "/chat/completions").ends_with("?api-version=2024-10-21"));
    // The v1 routes.
    opts.api_version = Some("v1".into());
    let t = target("my-gpt4o", &opts);
    assert_eq!(
        url(Flavor::OpenAi, &t, "/chat/completions"),
        "https://res.openai.azure.com/openai/v1/chat/completions"
    );
    opts.api_version = Some("preview".into());
    let t = target("my-gpt4o", &opts);
    assert_eq!(
        url(Flavor::OpenAi, &t, "/chat/completions"),
        "https://res.openai.azure.com/openai/v1/chat/completions?api-version=preview"
    );
    // A base that already names the deployment.
    let t = target(
        "x",
        &options("https://res.openai.azure.com/openai/deployments/dep1/"),
    );
    assert_eq!(
        url(Flavor::OpenAi, &t, "/chat/completions"),
        "https://res.openai.azure.com/openai/deployments/dep1/chat/completions?api-version=2025-02-01-preview"
    );
    // A deployment name that cannot go into a URL.
    let e = match azure().resolve_target("bad name?", &options("https://r.openai.azure.com")) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(e.kind, ErrorKind::BadRequest);
}

#[test]
fn foundry_urls_and_key_headers() {
    let foundry = Arc::new(Azure::new(Flavor::AiFoundry));
    let t = match foundry.clone().resolve_target(
        "Llama-3.3-70B-Instruct",
        &TargetOptions {
            api_version: Some("2024-05-01-preview".into()),
            ..options("https://proj.services.ai.azure.com")
        },
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        url(Flavor::AiFoundry, &t, "/chat/completions"),
        "https://proj.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
    );
    let req = ChatRequest::new("Llama-3.3-70B-Instruct", vec![Message::user("hi")]);
    let http = foundry.build_request(&req, &t, false).unwrap();
    assert_eq!(http.headers["api-key"], "azure-test-key");
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body["model"], "Llama-3.3-70B-Instruct");

    // A deployment URL on another host: the path as given, the key as a bearer token, no
    // api-version unless one is given (as LiteLLM).
    let t = match foundry.clone().resolve_target(
        "mistral-large",
        &options("https://my-endpoint.eastus2.inference.ml.azure.com/v1"),
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        url(Flavor::AiFoundry, &t, "/chat/completions"),
        "https://my-endpoint.eastus2.inference.ml.azure.com/v1/chat/completions"
    );
    let http = foundry.build_request(&req, &t, false).unwrap();
    assert_eq!(http.headers[AUTHORIZATION], "Bearer azure-test-key");
    assert!(http.headers.get("api-key").is_none());
}

/// Azure's documented chat example ("Create a basic chat completion") as sent: the
/// deployment route, the `api-key` header, OpenAI's body.
#[test]
fn documented_chat_example_body() {
    let mut opts = options("https://docs-test-001.openai.azure.com");
    opts.api_version = Some("2024-10-21".into());
    let t = target("gpt-4o", &opts);
    let req = ChatRequest::new(
        "gpt-4o",
        serde_json::from_value(json!([
            {"role": "system", "content": "you are a helpful assistant that talks like a pirate"},
            {"role": "user", "content": "can you tell me how to care for a parrot?"}]))
        .unwrap(),
    );
    let http = azure().build_request(&req, &t, false).unwrap();
    assert_eq!(
        http.url,
        "https://docs-test-001.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(http.headers["api-key"], "azure-test-key");
    assert!(http.headers.get(AUTHORIZATION).is_none());
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "you are a helpful assistant that talks like a pirate"},
            {"role": "user", "content": "can you tell me how to care for a parrot?"}]})
    );
}

#[test]
fn base_model_prices_and_picks_openai_rules() {
    let mut opts = options("https://r.openai.azure.com");
    opts.provider_options
        .insert("base_model".into(), json!("azure/o3-mini"));
    let t = target("prod-reasoner", &opts);
    // The target's model is the base model; the URL keeps the deployment.
    assert_eq!(t.model, "o3-mini");
    assert!(url(Flavor::OpenAi, &t, "/chat/completions").contains("/deployments/prod-reasoner/"));
    let params = azure().supported_params(&t.model);
    assert!(!params.contains(&"temperature"), "{params:?}");
    assert!(params.contains(&"reasoning_effort"));
    let mut req = ChatRequest::new("o3-mini", vec![Message::user("hi")]);
    req.params.max_tokens = Some(100);
    azure().adapt_request(&mut req, &t);
    assert_eq!(req.params.max_completion_tokens, Some(100));
    assert_eq!(req.params.max_tokens, None);
    let body: Value =
        serde_json::from_slice(&azure().build_request(&req, &t, false).unwrap().body).unwrap();
    assert_eq!(body["model"], "prod-reasoner");

    // Without a base model, LiteLLM's name rules.
    for (name, reasoning) in [
        ("o_series/my-deployment", true),
        ("gpt5_series/chat-prod", true),
        ("my-o1-deployment", true),
        ("gpt-5-mini", true),
        ("gpt-5-chat-latest", false),
        ("gpt-4o", false),
        ("prod-gpt4o", false),
    ] {
        let params = azure().supported_params(name);
        assert_eq!(!params.contains(&"temperature"), reasoning, "{name}");
    }
    let t = target(
        "o_series/my-deployment",
        &options("https://r.openai.azure.com"),
    );
    assert!(url(Flavor::OpenAi, &t, "/chat/completions").contains("/deployments/my-deployment/"));
}

#[test]
fn credentials_from_the_call_in_order() {
    // An AD token: a bearer header, never api-key; the token is redacted like a key.
    let mut opts = options("https://r.openai.azure.com");
    opts.api_key = None;
    opts.provider_options
        .insert("azure_ad_token".into(), json!("ad-token-123"));
    let t = target("dep", &opts);
    assert!(t.provider_options.get("azure_ad_token").is_none());
    let req = ChatRequest::new("dep", vec![Message::user("hi")]);
    let http = azure().build_request(&req, &t, false).unwrap();
    assert_eq!(http.headers[AUTHORIZATION], "Bearer ad-token-123");
    assert!(http.headers.get("api-key").is_none());
    assert_eq!(t.secrets(), vec!["ad-token-123"]);

    // api_key wins over a token.
    opts.api_key = Some(SecretString::from("k".to_owned()));
    let t = target("dep", &opts);
    let http = azure().build_request(&req, &t, false).unwrap();
    assert_eq!(http.headers["api-key"], "k");

    // A service principal's secret stays out of the target.
    let mut opts = options("https://r.openai.azure.com");
    opts.api_key = None;
    for (k, v) in [
        ("tenant_id", "t1"),
        ("client_id", "c1"),
        ("client_secret", "s1"),
    ] {
        opts.provider_options.insert(k.into(), json!(v));
    }
    let t = target("dep", &opts);
    assert!(t.provider_options.get("client_secret").is_none());
    assert!(t.api_key.is_none());
}

struct FixedToken(&'static str);

impl TokenProvider for FixedToken {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, LlmError>> {
        let token = self.0;
        Box::pin(async move { Ok(SecretString::from(token.to_owned())) })
    }
}

#[tokio::test]
async fn token_provider_is_asked_per_request() {
    let mut opts = options("https://r.openai.azure.com");
    opts.api_key = None;
    opts.token_provider = Some(Arc::new(FixedToken("from-provider")));
    let t = target("dep", &opts);
    let req = ChatRequest::new("dep", vec![Message::user("hi")]);
    let registry = azure();
    let http = registry.build_request(&req, &t, false).unwrap();
    assert!(http.headers.get(AUTHORIZATION).is_none());
    let auth = t.provider.authorize(&t, &http).await.unwrap();
    assert_eq!(auth[AUTHORIZATION], "Bearer from-provider");
    assert!(auth[AUTHORIZATION].is_sensitive());
    assert_eq!(t.provider.name(), "azure");
}

#[tokio::test]
async fn service_principal_tokens_are_fetched_once_and_shared() {
    let server = MockServer::start(0).await.unwrap();
    let registry = azure();
    let sp_options = |secret: &str| {
        let mut opts = options("https://r.openai.azure.com");
        opts.api_key = None;
        for (k, v) in [
            ("tenant_id", "tenant-1"),
            ("client_id", "client-1"),
            ("client_secret", secret),
            ("azure_authority_host", &server.url()),
        ] {
            opts.provider_options.insert(k.into(), json!(v));
        }
        opts
    };
    let req = ChatRequest::new("dep", vec![Message::user("hi")]);
    for model in ["dep", "other-dep", "dep"] {
        let t = registry
            .clone()
            .resolve_target(model, &sp_options("s3cret"))
            .unwrap();
        let http = registry.build_request(&req, &t, false).unwrap();
        let auth = t.provider.authorize(&t, &http).await.unwrap();
        assert_eq!(
            auth[AUTHORIZATION],
            format!(
                "Bearer {}.client-1",
                crate::mock_server::azure::ENTRA_TOKEN_PREFIX
            )
        );
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "one token exchange for three calls");
    assert_eq!(requests[0].path, "/tenant-1/oauth2/v2.0/token");
    let form: HashMap<String, String> =
        form_urlencoded::parse(requests[0].body.as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], "s3cret");
    assert_eq!(form["scope"], DEFAULT_SCOPE);

    // A refused secret is an AuthenticationError naming Entra's reason, never the secret.
    let t = registry
        .clone()
        .resolve_target("dep", &sp_options("wrong-secret"))
        .unwrap();
    let http = registry.build_request(&req, &t, false).unwrap();
    let e = t.provider.authorize(&t, &http).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert!(
        e.message.contains("invalid_client: AADSTS7000215"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("wrong-secret"));

    // An Entra outage is retryable.
    server.enqueue(Scripted {
        status: 503,
        body: ScriptedBody::Raw("unavailable".into()),
        ..Default::default()
    });
    let t = registry
        .clone()
        .resolve_target("dep", &sp_options("another"))
        .unwrap();
    let e = t.provider.authorize(&t, &http).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[test]
fn missing_credentials_and_endpoint_fail_before_any_request() {
    // Only meaningful without the developer's Azure variables; those tests live in pytest
    // (which controls the environment). Here: explicit options only.
    let e = match azure().resolve_target("dep", &TargetOptions::default()) {
        Err(e) => e,
        Ok(_) => return, // AZURE_API_BASE and a key are set in this environment.
    };
    assert!(
        e.message.contains("AZURE_API_BASE") || e.message.contains("AZURE_API_KEY"),
        "{}",
        e.message
    );
}

fn frames(parser: &mut AzureStreamParser, data: &[String]) -> Vec<ChatChunk> {
    let mut out = Vec::new();
    for d in data {
        let d = d.trim().strip_prefix("data: ").unwrap_or(d.trim());
        parser
            .on_frame(
                Frame {
                    event: None,
                    data: d,
                },
                &mut out,
            )
            .unwrap();
    }
    out
}

#[test]
fn filter_first_stream_has_no_empty_chunk_and_one_id_and_model() {
    let t = target("dep", &options("https://r.openai.azure.com"));
    let mut parser = AzureStreamParser::new(&t);
    let chunks = frames(
        &mut parser,
        &crate::mock_server::azure::stream_frames(3, true),
    );
    // role, 3 pieces, finish, usage: the filter event is gone.
    assert_eq!(chunks.len(), 6, "{chunks:?}");
    for c in &chunks {
        assert_eq!(c.id, "chatcmpl-azure-mock");
        assert_eq!(c.model, "gpt-4o-2024-11-20");
    }
    assert!(chunks[1].choices[0]
        .extra
        .contains_key("content_filter_results"));
    assert_eq!(chunks[4].choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(chunks[5].usage.as_ref().unwrap().completion_tokens, 3);

    // Asynchronous-filter streams: annotation chunks with empty ids get the stream's id.
    let mut parser = AzureStreamParser::new(&t);
    let chunks = frames(
        &mut parser,
        &[
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}}], "id": "chatcmpl-1", "model": "gpt-4o", "created": 1, "object": "chat.completion.chunk"}).to_string(),
            json!({"choices": [{"index": 0, "delta": {}, "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": 1}, "content_filter_results": {}}], "id": "", "model": "", "created": 0, "object": ""}).to_string(),
        ],
    );
    assert_eq!(chunks.len(), 2);
    assert!(chunks
        .iter()
        .all(|c| c.id == "chatcmpl-1" && c.model == "gpt-4o"));
}

#[test]
fn content_filter_refusal_and_cut_completion() {
    let t = target("dep", &options("https://r.openai.azure.com"));
    // Azure's documented refusal of a prompt.
    let body = json!({"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
        "type": null, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
            "hate": {"filtered": true, "severity": "high"},
            "self_harm": {"filtered": false, "severity": "safe"},
            "sexual": {"filtered": false, "severity": "safe"},
            "violence": {"filtered": false, "severity": "safe"}}}}});
    let e = azure().parse_error(400, &HeaderMap::new(), body.to_string().as_bytes(), &t);
    assert_eq!(e.kind, ErrorKind::ContentPolicyViolation);
    assert_eq!(e.provider.as_deref(), Some("azure"));
    assert_eq!(
        e.body.as_ref().unwrap()["error"]["innererror"]["content_filter_result"]["hate"]
            ["filtered"],
        true
    );
    // A completion cut by the filter is a normal response.
    let mut cut = crate::mock_server::azure::chat_completion();
    cut["choices"][0]["finish_reason"] = json!("content_filter");
    cut["choices"][0]["message"]["content"] = Value::Null;
    let r = azure()
        .parse_response(cut.to_string().as_bytes(), &t)
        .unwrap();
    assert_eq!(
        r.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    assert!(r.extra.contains_key("prompt_filter_results"));
}

#[tokio::test]
async fn chat_stream_and_embeddings_against_the_mock() {
    use crate::call::{self, CallOptions};
    use crate::http::HttpClient;
    let server = MockServer::start(0).await.unwrap();
    let client = HttpClient::new().unwrap();
    let opts = options(&server.url());
    let req = ChatRequest::new("azure/dep", vec![Message::user("hi")]);
    let done = call::completion(
        &client,
        "azure/dep",
        req.clone(),
        &opts,
        CallOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        done.response.text(),
        Some(crate::mock_server::DEFAULT_REPLY)
    );
    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/openai/deployments/dep/chat/completions");
    assert_eq!(
        recorded.query.as_deref(),
        Some("api-version=2025-02-01-preview")
    );

    let mut req = req;
    req.params.stream_options = Some(StreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });
    let prepared = call::prepare(
        "azure/dep",
        None,
        req,
        &opts,
        CallOptions {
            stream: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (mut stream, _) = call::execute_stream(&client, &prepared).await.unwrap();
    let mut ids = std::collections::HashSet::new();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        ids.insert((chunk.id.clone(), chunk.model.clone()));
        for c in &chunk.choices {
            text.push_str(c.delta.content.as_deref().unwrap_or_default());
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(text.starts_with("Hello"));
    assert!(stream.usage().is_some());

    let emb = crate::types::EmbeddingRequest::new("azure/emb", "hello");
    let prepared = call::prepare("azure/emb", None, emb, &opts, CallOptions::default()).unwrap();
    let done = call::execute(&client, &prepared).await.unwrap();
    assert_eq!(done.response.data.len(), 1);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/openai/deployments/emb/embeddings"));
}
