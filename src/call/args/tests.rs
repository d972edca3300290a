use serde_json::json;

use super::*;

fn args(body: Value) -> Result<CallArgs, ArgError> {
    let Value::Object(map) = body else {
        panic!("an object")
    };
    CallArgs::from_json_map(&map)
}

fn invalid(body: Value) -> String {
    match args(body) {
        Err(ArgError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn every_key_has_one_kind() {
    assert_eq!(classify("temperature"), ArgKind::OpenAi);
    assert_eq!(classify("user"), ArgKind::OpenAi);
    assert_eq!(classify("api_key"), ArgKind::Credential);
    assert_eq!(classify("timeout"), ArgKind::CallOption);
    assert_eq!(classify("metadata"), ArgKind::CallOption);
    assert_eq!(classify("vertex_project"), ArgKind::ProviderOption);
    assert_eq!(classify("hedge"), ArgKind::Routing);
    assert_eq!(classify("fallbacks"), ArgKind::Routing);
    assert_eq!(classify("litellm_logging_obj"), ArgKind::Ignored);
    assert_eq!(classify("dimensions"), ArgKind::Embedding);
    assert_eq!(classify("top_k"), ArgKind::PassThrough);
    assert_eq!(value_shape("client"), ValueShape::Skip);
    assert_eq!(value_shape("metadata"), ValueShape::JsonOrText);
}

#[test]
fn a_json_body_becomes_a_typed_call() {
    let a = args(json!({
        "model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2, "max_tokens": 5, "stream": true, "timeout": 3,
        "api_key": "sk-1", "extra_headers": {"x-a": "1"}, "vertex_project": "p",
        "top_k": 3, "metadata": {"project": "search"}, "tags": "t1", "user": "alice",
        "num_retries": 2, "hedge": {"after_ms": 5}, "fallbacks": ["g2", {"model": "g3"}],
        "caching": true, "no_such": null,
    }))
    .unwrap();
    let mut a = a;
    let routing = a.take_routing().unwrap();
    assert_eq!(routing.fallbacks, Some(vec!["g2".into(), "g3".into()]));
    assert_eq!(routing.num_retries, Some(2));
    assert_eq!(routing.hedge, Some(json!({"after_ms": 5})));
    let call = a.into_call::<ChatRequest>().unwrap();
    assert_eq!(call.model, "openai/gpt-4o");
    let r = &call.request;
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.params.temperature, Some(0.2));
    assert_eq!(r.params.max_tokens, Some(5));
    assert_eq!(r.params.user.as_deref(), Some("alice"));
    assert_eq!(r.extra, json!({"top_k": 3}).as_object().unwrap().clone());
    assert!(call.options.stream);
    assert_eq!(call.options.timeout, Some(Duration::from_secs(3)));
    assert_eq!(call.options.num_retries, 2);
    let meta = call.options.metadata.as_deref().unwrap();
    assert_eq!(meta.user.as_deref(), Some("alice"));
    assert_eq!(meta.tags, vec!["t1".to_owned()]);
    assert_eq!(call.target.extra_headers, vec![("x-a".into(), "1".into())]);
    assert_eq!(call.target.provider_options["vertex_project"], json!("p"));
    assert!(call.target.api_key.is_some());
}

#[test]
fn raw_json_values_read_the_same() {
    let body = r#"{"temperature": 0.5, "messages": [{"role": "user", "content": "x"}]}"#;
    let map: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(body).unwrap();
    let mut a = CallArgs::new();
    for (k, v) in &map {
        a.set(k, v.as_ref()).unwrap();
    }
    let call = a.into_call::<ChatRequest>().unwrap();
    assert_eq!(call.request.params.temperature, Some(0.5));
    let mut a = CallArgs::new();
    let bad = serde_json::value::RawValue::from_string("\"hot\"".into()).unwrap();
    assert_eq!(
        a.set("temperature", bad.as_ref()).unwrap_err(),
        ArgError::Invalid("temperature must be a number, got the string 'hot'".into())
    );
}

#[test]
fn wrong_values_are_explained_in_words() {
    assert_eq!(
        invalid(json!({"temperature": "hot"})),
        "temperature must be a number, got the string 'hot'"
    );
    assert_eq!(
        invalid(json!({"max_tokens": -1})),
        "max_tokens must be a positive integer, got -1"
    );
    assert_eq!(
        invalid(json!({"max_tokens": 1.5})),
        "max_tokens must be a positive integer, got 1.5"
    );
    assert_eq!(
        invalid(json!({"messages": [{"role": "usr", "content": "hi"}]})),
        "messages[0].role 'usr' is not one of system, user, assistant, tool, developer, function"
    );
    assert_eq!(
        invalid(json!({"messages": [{"content": "hi"}]})),
        "messages[0] is missing the required field 'role'"
    );
    assert_eq!(
        invalid(json!({"messages": [{"role": "user", "content": 5}]})),
        "messages[0].content must be a string or a list of content parts"
    );
    assert_eq!(
        invalid(json!({"messages": "hi"})),
        "messages must be an array of message objects, e.g. [{\"role\": \"user\", \"content\": \"hi\"}], got the string 'hi'"
    );
    assert_eq!(
        invalid(json!({"model": null})),
        "model must be a string like \"openai/gpt-4o\", got null"
    );
    assert_eq!(
        invalid(json!({"model": 5})),
        "model must be a string like \"openai/gpt-4o\", got 5"
    );
    assert_eq!(
        invalid(json!({"stream": "yes"})),
        "stream must be true or false, got the string 'yes'"
    );
    assert_eq!(
        invalid(json!({"stop": 5})),
        "stop must be a string or a list of strings"
    );
    assert_eq!(
        invalid(json!({"tools": [{"type": "function"}]})),
        "tools[0] is missing the required field 'function'"
    );
    assert_eq!(
        invalid(json!({"timeout": "soon"})),
        "timeout must be a number of seconds or an httpx.Timeout"
    );
    for message in [
        invalid(json!({"temperature": "hot"})),
        invalid(json!({"n": -2})),
        invalid(json!({"stop": {"a": 1}})),
        invalid(json!({"messages": [{"role": "user", "content": [{"type": 1}]}]})),
    ] {
        for jargon in [
            "invalid type",
            "expected f64",
            "u32",
            "untagged",
            "variant",
            "`",
        ] {
            assert!(!message.contains(jargon), "{message}");
        }
    }
}

#[test]
fn python_spelling_says_none_and_dict() {
    let mut a = CallArgs::for_python();
    assert_eq!(
        a.set("model", &Value::Null).unwrap_err().to_string(),
        "model must be a string like \"openai/gpt-4o\", got None"
    );
    assert_eq!(
        a.set("stream", &json!("x")).unwrap_err().to_string(),
        "stream must be True or False, got the string 'x'"
    );
    assert_eq!(
        a.set("messages", &json!({"role": "user"})).unwrap_err().to_string(),
        "messages must be a list of message dicts, e.g. [{\"role\": \"user\", \"content\": \"hi\"}], got a dict"
    );
}

#[test]
fn keys_one_edit_from_a_keyword_are_not_sent() {
    let e = args(json!({"temprature": 0.2})).err().unwrap();
    assert_eq!(
        e,
        ArgError::Misspelt {
            key: "temprature".into(),
            meant: "temperature"
        }
    );
    let e = LlmError::from(e);
    assert_eq!(e.kind, ErrorKind::UnsupportedParams);
    assert!(
        e.message.contains("did you mean 'temperature'"),
        "{}",
        e.message
    );
    for (typo, meant) in [
        ("max_token", "max_tokens"),
        ("api_bsae", "api_base"),
        ("timeuot", "timeout"),
        ("Stream", "stream"),
        ("mock_respones", "mock_response"),
    ] {
        assert_eq!(likely_typo(typo), Some(meant), "{typo}");
        assert!(args(json!({typo: 1})).is_err(), "{typo}");
    }
    // Provider-specific parameters pass through, also those near a keyword.
    for key in [
        "top_k",
        "safety_settings",
        "thinking",
        "input_type",
        "min_tokens",
        "k",
    ] {
        let a = args(json!({key: 1})).unwrap();
        assert_eq!(a.extra.get(key), Some(&json!(1)), "{key}");
    }
}

#[test]
fn embeddings_take_their_own_parameters() {
    let call = args(
        json!({"model": "openai/text-embedding-3-small", "input": ["a", "b"],
                           "dimensions": 8, "encoding_format": "base64", "user": "u",
                           "input_type": "query", "mock_response": [0.5, 0.5]}),
    )
    .unwrap()
    .into_call::<EmbeddingRequest>()
    .unwrap();
    let r = &call.request;
    assert_eq!(r.dimensions, Some(8));
    assert_eq!(r.encoding_format, Some(EncodingFormat::Base64));
    assert_eq!(r.user.as_deref(), Some("u"));
    assert_eq!(r.extra["input_type"], json!("query"));
    assert_eq!(
        call.options.mock.and_then(|m| m.vector),
        Some(vec![0.5, 0.5])
    );
    let e = args(json!({"model": "m", "input": "a", "temperature": 1}))
        .unwrap()
        .into_call::<EmbeddingRequest>()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsupportedParams);
    let e = args(json!({"model": "m", "input": "a", "dimensions": 0}))
        .unwrap()
        .into_call::<EmbeddingRequest>()
        .unwrap_err();
    assert!(
        e.message.contains("dimensions must be a positive integer"),
        "{}",
        e.message
    );
    // A vector answers embeddings only.
    let e = args(json!({"model": "m", "mock_response": [0.1]}))
        .unwrap()
        .into_call::<ChatRequest>()
        .unwrap_err();
    assert!(e.message.contains("mock_response"), "{}", e.message);
}

#[test]
fn the_front_door_prepares_a_call() {
    let prepared = args(
        json!({"model": "mock/m", "messages": [{"role": "user", "content": "hi"}],
                                "temperature": 0.1}),
    )
    .unwrap()
    .prepare::<ChatRequest>()
    .unwrap();
    assert_eq!(prepared.provider(), "mock");
    assert_eq!(prepared.request.params.temperature, Some(0.1));
}

#[test]
fn a_call_that_is_not_routed_tries_its_fallbacks_in_order() {
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                      "temperature": 0.5, "mock_testing_fallbacks": true,
                      "fallbacks": ["anthropic/claude-3-5-haiku-latest",
                                    {"model": "groq/llama-3.3-70b-versatile", "temperature": 0.1}]});
    let args = CallArgs::from_json_map(body.as_object().unwrap()).unwrap();
    let attempts = args.into_attempts().unwrap();
    let calls: Vec<_> = attempts
        .into_iter()
        .map(|a| a.into_call::<ChatRequest>().unwrap())
        .collect();
    let models: Vec<&str> = calls.iter().map(|c| c.model.as_str()).collect();
    assert_eq!(
        models,
        [
            "openai/gpt-4o",
            "anthropic/claude-3-5-haiku-latest",
            "groq/llama-3.3-70b-versatile"
        ]
    );
    assert_eq!(calls[1].request.params.temperature, Some(0.5));
    assert_eq!(
        calls[2].request.params.temperature,
        Some(0.1),
        "the mapping's arguments win"
    );
    let bad = json!({"model": "m", "fallbacks": "nope"});
    let args = CallArgs::from_json_map(bad.as_object().unwrap()).unwrap();
    assert!(args.into_attempts().is_err());
}
