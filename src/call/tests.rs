mod embedding_tests {
    use super::super::*;
    use crate::error::ErrorKind;
    use crate::http::HttpClient;
    use crate::mock_server::{MockServer, Scripted, ScriptedBody};
    use crate::providers::mock;
    use crate::types::{EmbeddingInput, EmbeddingVector, EncodingFormat};
    use secrecy::SecretString;
    use serde_json::json;

    fn opts(server: &MockServer) -> TargetOptions {
        TargetOptions {
            api_key: Some(SecretString::from("sk-test")),
            api_base: Some(format!("{}/v1", server.url())),
            ..Default::default()
        }
    }

    fn floats(v: &EmbeddingVector) -> &[f64] {
        match v {
            EmbeddingVector::Float(f) => f,
            EmbeddingVector::Base64(_) => panic!("floats expected"),
        }
    }

    #[tokio::test]
    async fn openai_wire_format_and_cost() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        let mut req = EmbeddingRequest::new("x", vec!["hello world", "bye"]);
        req.dimensions = Some(4);
        req.extra.insert("input_type".into(), json!("query"));
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            req,
            &opts(&server),
            CallOptions::default(),
        )
        .await
        .unwrap();
        let sent = &server.requests()[0];
        assert_eq!(sent.path, "/v1/embeddings");
        assert_eq!(
            sent.body,
            json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"],
                   "dimensions": 4, "input_type": "query"})
        );
        assert!(sent
            .headers
            .contains(&("authorization".into(), "Bearer sk-test".into())));
        let r = &done.response;
        assert_eq!(r.data.len(), 2);
        assert_eq!(floats(&r.data[1].embedding).len(), 4);
        let usage = r.usage.as_ref().unwrap();
        assert!(usage.prompt_tokens > 0);
        let price = crate::catalog::model_info("openai", "text-embedding-3-small")
            .unwrap()
            .input_cost_per_token
            .unwrap();
        let cost = done.meta.cost.unwrap();
        assert!(
            (cost - usage.prompt_tokens as f64 * price).abs() < 1e-15,
            "{cost}"
        );
        assert_eq!(done.meta.provider, "openai");
    }

    #[tokio::test]
    async fn local_checks_fail_before_any_request() {
        let server = MockServer::start(0).await.unwrap();
        let prep = |model: &str, req: EmbeddingRequest, options: CallOptions| {
            prepare(model, None, req, &opts(&server), options)
        };
        // A provider without embeddings, named, even without a key.
        let e = prepare(
            "groq/llama-3.3-70b-versatile",
            None,
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(
            e.message.contains("'groq' has no embeddings"),
            "{}",
            e.message
        );
        assert!(e.message.contains("openai"), "{}", e.message);
        let e = prep(
            "openai/text-embedding-3-small",
            EmbeddingRequest::new("x", EmbeddingInput::Texts(vec![])),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("empty list"), "{}", e.message);
        // ada-002 cannot shorten its vectors; drop_params drops the parameter.
        let mut req = EmbeddingRequest::new("x", "hi");
        req.dimensions = Some(64);
        let e = prep(
            "openai/text-embedding-ada-002",
            req.clone(),
            CallOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedParams);
        assert!(e.message.contains("dimensions"), "{}", e.message);
        let call = prep(
            "openai/text-embedding-ada-002",
            req.clone(),
            CallOptions {
                drop_params: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(call.dropped_params, vec!["dimensions"]);
        assert_eq!(call.request.dimensions, None);
        // Mistral takes no dimensions at all.
        assert_eq!(
            prep("mistral/mistral-embed", req.clone(), CallOptions::default())
                .unwrap_err()
                .kind,
            ErrorKind::UnsupportedParams
        );
        assert!(prep("openai/text-embedding-3-large", req, CallOptions::default()).is_ok());
        let e = prep(
            "openai/text-embedding-3-large",
            EmbeddingRequest::new("x", "hi"),
            CallOptions {
                stream: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("do not stream"), "{}", e.message);
        assert_eq!(server.hits(), 0);
    }

    #[tokio::test]
    async fn errors_map_and_retryable_ones_retry() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        server.enqueue(Scripted {
            status: 429,
            headers: vec![("retry-after".into(), "0".into())],
            body: ScriptedBody::Json(
                json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}),
            ),
            delay: None,
        });
        let call = prepare(
            "openai/text-embedding-3-small",
            None,
            EmbeddingRequest::new("x", "hi"),
            &opts(&server),
            CallOptions {
                num_retries: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let done = execute(&client, &call).await.unwrap();
        assert_eq!(done.meta.retries, 1);
        assert_eq!(server.hits(), 2);

        server.enqueue(Scripted {
            status: 401,
            body: ScriptedBody::Json(
                json!({"error": {"message": "Incorrect API key provided: sk-test", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            ),
            ..Default::default()
        });
        let e = execute(&client, &call).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.status_code, 401);
        assert!(!e.message.contains("sk-test"), "{}", e.message);
        assert_eq!(e.provider.as_deref(), Some("openai"));
    }

    #[tokio::test]
    async fn missing_usage_is_counted_and_base64_kept() {
        let server = MockServer::start(0).await.unwrap();
        let client = HttpClient::new().unwrap();
        server.enqueue(Scripted {
            status: 200,
            body: ScriptedBody::Json(json!({"object": "list", "data": [
                {"object": "embedding", "index": 1, "embedding": "AAAAPw=="},
                {"object": "embedding", "index": 0, "embedding": "AACAPw=="}]})),
            ..Default::default()
        });
        let mut req = EmbeddingRequest::new("x", vec!["hello", "world"]);
        req.encoding_format = Some(EncodingFormat::Base64);
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            req,
            &opts(&server),
            CallOptions::default(),
        )
        .await
        .unwrap();
        let r = &done.response;
        assert_eq!(r.model, "text-embedding-3-small");
        // Back in input order.
        assert_eq!(
            r.data[0].embedding,
            EmbeddingVector::Base64("AACAPw==".into())
        );
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 2);
        assert!(done.meta.cost.unwrap() > 0.0);
    }

    #[tokio::test]
    async fn mock_answers_offline_with_the_models_vector_size() {
        let client = HttpClient::new().unwrap();
        let mock_opts = CallOptions {
            mock: Some(mock::MockSpec::default()),
            ..Default::default()
        };
        let done = embedding(
            &client,
            "openai/text-embedding-3-small",
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            mock_opts,
        )
        .await
        .unwrap();
        assert_eq!(floats(&done.response.data[0].embedding).len(), 1536);
        assert!(done.meta.cost.unwrap() > 0.0);
        let done = embedding(
            &client,
            "mock/any",
            EmbeddingRequest::new("x", "hi"),
            &TargetOptions::default(),
            CallOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            floats(&done.response.data[0].embedding).len(),
            mock::DEFAULT_MOCK_DIMENSIONS as usize
        );
        assert_eq!(done.meta.cost, Some(0.0));
    }
}
