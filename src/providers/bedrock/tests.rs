use super::*;
use crate::call::{self, CallOptions};
use crate::http::HttpClient;
use crate::mock_server::{MockServer, Scripted, ScriptedBody};
use crate::stream::aws_event_stream::{encode_event, encode_exception};
use crate::stream::Frame;
use crate::types::{ChatChunk, Message};
use bytes::Bytes;
use serde_json::{json, Map};

const KEY_ID: &str = "AKIDMOCKUNIT";

fn messages(v: Value) -> Vec<Message> {
    serde_json::from_value(v).unwrap()
}

fn request(v: Value) -> ChatRequest {
    let mut full = v;
    full["model"] = json!("m");
    serde_json::from_value(full).unwrap()
}

fn options(server: Option<&MockServer>, extra: Value) -> TargetOptions {
    let mut provider_options = Map::new();
    provider_options.insert("aws_access_key_id".into(), json!(KEY_ID));
    provider_options.insert(
        "aws_secret_access_key".into(),
        json!(format!("mock-secret-{KEY_ID}")),
    );
    provider_options.insert("aws_region_name".into(), json!("us-east-1"));
    if let Value::Object(o) = extra {
        provider_options.extend(o);
    }
    TargetOptions {
        api_base: server.map(MockServer::url),
        provider_options,
        ..Default::default()
    }
}

fn target(model: &str, opts: &TargetOptions) -> Target {
    match Arc::new(Bedrock::new()).resolve_target(model, opts) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn model_strings_routes_regions_and_arns() {
    let r = parse_model("anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
    assert_eq!((r.route, r.region.as_deref()), (Route::Converse, None));
    let r = parse_model("converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0").unwrap();
    assert_eq!(r.model_id, "us.anthropic.claude-3-7-sonnet-20250219-v1:0");
    let r = parse_model("invoke/anthropic.claude-3-haiku-20240307-v1:0").unwrap();
    assert_eq!(r.route, Route::Invoke);
    let r = parse_model("us-west-2/meta.llama3-1-70b-instruct-v1:0").unwrap();
    assert_eq!(r.region.as_deref(), Some("us-west-2"));
    assert_eq!(r.model_id, "meta.llama3-1-70b-instruct-v1:0");
    let arn = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0";
    let r = parse_model(arn).unwrap();
    assert_eq!(r.model_id, arn);
    assert_eq!(arn_region(arn), Some("eu-central-1"));
    assert_eq!(base_model(arn), "anthropic.claude-3-5-sonnet-20240620-v1:0");
    assert_eq!(
        base_model("global.anthropic.claude-sonnet-4-20250514-v1:0"),
        "anthropic.claude-sonnet-4-20250514-v1:0"
    );
    assert_eq!(
        base_model("anthropic.claude-3-5-sonnet-20241022-v2:0:51k"),
        "anthropic.claude-3-5-sonnet-20241022-v2:0"
    );
    assert_eq!(Family::of(arn), Family::Anthropic);
    assert_eq!(
        Family::of("arn:aws:bedrock:us-east-1:1:application-inference-profile/abc123"),
        Family::Unknown
    );
    assert_eq!(Family::of("amazon.nova-pro-v1:0"), Family::AmazonNova);
    assert_eq!(
        encode_model_id(arn),
        "arn%3Aaws%3Abedrock%3Aeu-central-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-5-sonnet-20240620-v1%3A0"
    );
    let e = parse_model("agent/my-agent").unwrap_err();
    assert!(e.message.contains("not supported"), "{}", e.message);
}

#[test]
fn targets_urls_regions_and_invoke_only_for_claude() {
    let t = target(
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        &options(None, json!({})),
    );
    assert_eq!(
        t.api_base,
        "https://bedrock-runtime.us-east-1.amazonaws.com"
    );
    assert_eq!(
        url(&t, "converse"),
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
    );
    assert!(t.provider_options.get("aws_secret_access_key").is_none());
    // The region in the path, then the ARN's, when none is given.
    let mut opts = options(None, json!({}));
    opts.provider_options.remove("aws_region_name");
    let t = target("eu-west-3/mistral.mistral-large-2402-v1:0", &opts);
    assert_eq!(
        t.api_base,
        "https://bedrock-runtime.eu-west-3.amazonaws.com"
    );
    let t = target(
        "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0",
        &opts,
    );
    assert_eq!(option(&t, OPT_REGION), "ap-northeast-1");
    // The model the ARN names prices and describes the call; the URL keeps the ARN.
    assert_eq!(t.model, "apac.amazon.nova-pro-v1:0");
    assert!(url(&t, "converse").contains("/model/arn%3Aaws%3Abedrock%3Aap-northeast-1%3A"));
    let opaque = "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc123";
    assert_eq!(target(opaque, &opts).model, opaque);
    // model_id= takes the request; the model string names the model (and prices it).
    let t = target(
        "anthropic.claude-3-haiku-20240307-v1:0",
        &options(
            None,
            json!({"model_id": "arn:aws:bedrock:us-east-1:1:provisioned-model/abc"}),
        ),
    );
    assert_eq!(t.model, "anthropic.claude-3-haiku-20240307-v1:0");
    assert!(url(&t, "converse")
        .contains("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aprovisioned-model%2Fabc/"));
    // Not a region.
    let e = match Arc::new(Bedrock::new())
        .resolve_target("m", &options(None, json!({"aws_region_name": "Mars"})))
    {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert!(e.message.contains("not an AWS region"), "{}", e.message);
    let e = match Arc::new(Bedrock::new()).resolve_target(
        "invoke/meta.llama3-70b-instruct-v1:0",
        &options(None, json!({})),
    ) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert!(e.message.contains("Anthropic models only"), "{}", e.message);
}

/// The request of AWS's "Converse API examples" (user guide): a system prompt, one user
/// message, `temperature` and Claude's `top_k` as an additional model field.
#[test]
fn documented_converse_example_body() {
    let req = request(json!({
        "messages": [
            {"role": "system", "content": "You are an app that creates playlists for a radio station that plays rock and pop music. Only return song names and the artist."},
            {"role": "user", "content": "Create a list of 3 pop songs."}],
        "temperature": 0.5,
        "top_k": 200
    }));
    assert_eq!(
        converse::body_for_test(&req, Family::Anthropic),
        json!({
            "messages": [{"role": "user", "content": [{"text": "Create a list of 3 pop songs."}]}],
            "system": [{"text": "You are an app that creates playlists for a radio station that plays rock and pop music. Only return song names and the artist."}],
            "inferenceConfig": {"temperature": 0.5},
            "additionalModelRequestFields": {"top_k": 200}
        })
    );
}

/// AWS's tool-use example (the `top_song` tool): tool spec, the assistant's `toolUse` and
/// the user's `toolResult`, with forced and automatic tool choice.
#[test]
fn documented_tool_use_example_body() {
    let tool = json!({"type": "function", "function": {
        "name": "top_song", "description": "Get the most popular song played on a radio station.",
        "parameters": {"type": "object", "properties": {"sign": {"type": "string",
            "description": "The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP."}},
            "required": ["sign"]}}});
    let req = request(json!({
        "messages": [
            {"role": "user", "content": "What is the most popular song on WZPZ?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                "function": {"name": "top_song", "arguments": "{\"sign\": \"WZPZ\"}"}}]},
            {"role": "tool", "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": "{\"song\": \"Elemental Hotel\", \"artist\": \"8 Storey Hike\"}"}],
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "top_song"}},
        "max_tokens": 1000,
        "stop": ["\n\nHuman:"]
    }));
    let body = converse::body_for_test(&req, Family::Anthropic);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                "content": [{"text": "{\"song\": \"Elemental Hotel\", \"artist\": \"8 Storey Hike\"}"}]}}]}
        ])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "top_song", "description": "Get the most popular song played on a radio station.",
            "inputSchema": {"json": {"type": "object", "properties": {"sign": {"type": "string",
                "description": "The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP."}},
                "required": ["sign"]}}}}],
               "toolChoice": {"tool": {"name": "top_song"}}})
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 1000, "stopSequences": ["\n\nHuman:"]})
    );
    let mut auto = req.clone();
    auto.params.tool_choice = Some(crate::types::ToolChoice::Mode("required".into()));
    assert_eq!(
        converse::body_for_test(&auto, Family::Anthropic)["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
    // Ids from other providers are made to fit Bedrock's pattern.
    assert_eq!(tool_use_id("call_abc.def|x"), "call_abc_def_x");
}

#[test]
fn media_cache_points_thinking_and_response_format() {
    let req = request(json!({
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "long system", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "report.pdf"}, "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": "s3://bucket/cat.jpeg"}]},
            {"role": "assistant", "content": "ok", "thinking_blocks": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "ZW5j"}]},
            {"role": "user", "content": "more"}],
        "reasoning_effort": "low"
    }));
    let body = converse::body_for_test(&req, Family::Anthropic);
    assert_eq!(
        body["system"],
        json!([{"text": "long system"}, {"cachePoint": {"type": "default"}}])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"text": "look"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
            {"document": {"format": "pdf", "name": "report pdf-1", "source": {"bytes": "JVBERi0="}}},
            {"cachePoint": {"type": "default"}},
            {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.jpeg"}}}}
        ])
    );
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig=="}}},
            {"reasoningContent": {"redactedContent": "ZW5j"}},
            {"text": "ok"}
        ])
    );
    // reasoning_effort → Claude's thinking budget, max tokens above it, thinking tokens asked for.
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 1024 + 4096);
    assert_eq!(
        body["additionalModelResponseFieldPaths"],
        json!(["/usage/output_tokens_details"])
    );

    let req = request(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "integer"}}}}},
        "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    }));
    let body = converse::body_for_test(&req, Family::Mistral);
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        JSON_TOOL
    );
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": JSON_TOOL}})
    );
    assert_eq!(body["guardrailConfig"]["guardrailIdentifier"], "g1");
    assert!(body.get("additionalModelRequestFields").is_none());
    // Llama takes the tool but cannot be forced to use it.
    let body = converse::body_for_test(&req, Family::Meta);
    assert!(body["toolConfig"].get("toolChoice").is_none());
    // A non-data image is refused before any request.
    let bad = request(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "https://example.com/cat.png"}]}]}));
    assert!(converse::body_for_test(&bad, Family::Anthropic)
        .as_str()
        .is_some_and(|e| e.contains("data: URL")));
}

const JSON_TOOL: &str = crate::providers::anthropic::JSON_TOOL_NAME;

#[test]
fn converse_params_by_family_and_checks() {
    let b = Bedrock::new();
    let claude = b.supported_params("anthropic.claude-sonnet-4-20250514-v1:0");
    for p in ["tools", "tool_choice", "reasoning_effort", "stop", "top_p"] {
        assert!(claude.contains(&p), "{p}");
    }
    let llama2 = b.supported_params("meta.llama2-70b-chat-v1");
    assert!(!llama2.contains(&"tools"));
    let llama31 = b.supported_params("us.meta.llama3-1-70b-instruct-v1:0");
    assert!(llama31.contains(&"tools") && !llama31.contains(&"tool_choice"));
    assert!(!b
        .supported_params("anthropic.claude-3-haiku-20240307-v1:0")
        .contains(&"seed"));

    let t = target(
        "anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    let mut req = request(
        json!({"messages": [{"role": "user", "content": "hi"}], "user": "u1", "tool_choice": "none"}),
    );
    let e = b.check_params(&mut req, &t, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsupportedParams);
    assert!(
        e.message.contains("user") && e.message.contains("none"),
        "{}",
        e.message
    );
    let dropped = b.check_params(&mut req, &t, true).unwrap();
    assert_eq!(dropped, vec!["user", "tool_choice"]);
    assert!(req.params.user.is_none());
    // On InvokeModel, user is Anthropic's metadata.user_id.
    let t = target(
        "invoke/anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    let mut req = request(json!({"messages": [{"role": "user", "content": "hi"}], "user": "u1"}));
    assert!(b.check_params(&mut req, &t, false).unwrap().is_empty());
}

#[test]
fn converse_responses_text_tools_reasoning_and_usage() {
    let t = target(
        "anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    // The response of AWS's Converse API reference example.
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Here is a list of 3 pop songs by artists from the United Kingdom: ..."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 125, "outputTokens": 60, "totalTokens": 185},
        "metrics": {"latencyMs": 1175}});
    let r = converse::parse_response(body.to_string().as_bytes(), &t).unwrap();
    assert!(r.text().unwrap().starts_with("Here is a list"));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    let u = r.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (125, 60, 185)
    );
    assert_eq!(r.model, "anthropic.claude-3-haiku-20240307-v1:0");

    let body = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s1"}}},
            {"text": "I'll look that up."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 1530, "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 500},
        "additionalModelResponseFields": {"usage": {"output_tokens_details": {"thinking_tokens": 7}}}});
    let r = converse::parse_response(body.to_string().as_bytes(), &t).unwrap();
    let m = &r.choices[0].message;
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let calls = m.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "tooluse_1");
    assert_eq!(calls[0].function.arguments, r#"{"sign":"WZPZ"}"#);
    assert_eq!(m.reasoning_content.as_deref(), Some("think"));
    assert_eq!(
        m.thinking_blocks.as_ref().unwrap()[0],
        json!({"type": "thinking", "thinking": "think", "signature": "s1"})
    );
    let u = r.usage.as_ref().unwrap();
    assert_eq!(u.prompt_tokens, 1510);
    assert_eq!(u.cache_read_input_tokens, Some(1000));
    assert_eq!(u.cache_creation_input_tokens, Some(500));
    assert_eq!(u.cached_tokens(), 1000);
    assert_eq!(u.reasoning_tokens(), 7);

    // The forced json tool's input is the content.
    let body = json!({"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t", "name": JSON_TOOL, "input": {"answer": 42}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}});
    let r = converse::parse_response(body.to_string().as_bytes(), &t).unwrap();
    assert_eq!(r.text(), Some(r#"{"answer":42}"#));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    for (reason, finish) in [
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("stop_sequence", "stop"),
    ] {
        assert_eq!(converse::finish_reason(reason), finish);
    }
}

#[test]
fn errors_map_to_litellm_classes() {
    let t = target(
        "anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    let b = Bedrock::new();
    for (status, error_type, message, kind) in [
        (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            ErrorKind::RateLimit,
        ),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            ErrorKind::ContextWindowExceeded,
        ),
        (
            400,
            "ValidationException",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ErrorKind::ContextWindowExceeded,
        ),
        (
            400,
            "ValidationException",
            "The provided model identifier is invalid.",
            ErrorKind::BadRequest,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            ErrorKind::PermissionDenied,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            ErrorKind::Authentication,
        ),
        (
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
            ErrorKind::NotFound,
        ),
        (
            429,
            "ModelNotReadyException",
            "Model is not ready for inference.",
            ErrorKind::ServiceUnavailable,
        ),
        (
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            ErrorKind::ServiceUnavailable,
        ),
        (
            408,
            "ModelTimeoutException",
            "Model has timed out in processing the request.",
            ErrorKind::Timeout,
        ),
        (
            500,
            "InternalServerException",
            "Internal server error",
            ErrorKind::InternalServer,
        ),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_str(&format!(
                "{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            ))
            .unwrap(),
        );
        let body = json!({ "message": message }).to_string();
        let e = b.parse_error(status, &headers, body.as_bytes(), &t);
        assert_eq!(e.kind, kind, "{error_type}: {message}");
        assert_eq!(e.status_code, status);
        assert!(
            e.message.contains(message) && e.message.contains(error_type),
            "{}",
            e.message
        );
        assert_eq!(e.provider.as_deref(), Some("bedrock"));
        // The same exception inside a stream.
        let lower = format!(
            "{}{}",
            error_type[..1].to_ascii_lowercase(),
            &error_type[1..]
        );
        let e = errors::from_stream(&lower, &body, &t);
        assert_eq!(e.kind, kind, "stream {error_type}");
    }
    // The type from the body when the header is absent.
    let e = b.parse_error(
        400,
        &HeaderMap::new(),
        br#"{"__type": "com.amazon.coral.validate#ValidationException", "message": "Malformed input request"}"#,
        &t,
    );
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.starts_with("ValidationException: Malformed"));
}

fn frames_to_chunks(
    target: &Target,
    route: Route,
    bytes: &[Bytes],
) -> Result<Vec<ChatChunk>, LlmError> {
    let mut parser: Box<dyn StreamParser> = match route {
        Route::Converse => Box::new(stream::ConverseStreamParser::new(target)),
        Route::Invoke => Box::new(stream::InvokeStreamParser::new(target)),
    };
    let mut decoder = crate::stream::FrameDecoder::new(FrameFormat::AwsEventStream);
    let mut out = Vec::new();
    for b in bytes {
        let frames = decoder
            .decode_for_test(b)
            .map_err(|e| LlmError::new(ErrorKind::ApiConnection, e))?;
        for (event, data) in frames {
            parser.on_frame(
                Frame {
                    event: event.as_deref(),
                    data: &data,
                },
                &mut out,
            )?;
        }
    }
    Ok(out)
}

fn ev(name: &str, payload: Value) -> Bytes {
    encode_event(name, payload.to_string())
}

#[test]
fn converse_stream_with_text_tools_and_reasoning() {
    let t = target(
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        &options(None, json!({})),
    );
    let bytes = vec![
        ev("messageStart", json!({"role": "assistant"})),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "let me"}}}),
        ),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        ),
        ev("contentBlockStop", json!({"contentBlockIndex": 0})),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "Checking."}}),
        ),
        ev("contentBlockStop", json!({"contentBlockIndex": 1})),
        ev(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather"}}}),
        ),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\": "}}}),
        ),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        ev("contentBlockStop", json!({"contentBlockIndex": 2})),
        ev(
            "contentBlockStart",
            json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tooluse_b", "name": "now"}}}),
        ),
        ev("contentBlockStop", json!({"contentBlockIndex": 3})),
        ev("messageStop", json!({"stopReason": "tool_use"})),
        ev(
            "metadata",
            json!({"usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42, "cacheReadInputTokens": 5}, "metrics": {"latencyMs": 9}}),
        ),
    ];
    let chunks = frames_to_chunks(&t, Route::Converse, &bytes).unwrap();
    let ids: std::collections::HashSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 1);
    assert!(chunks
        .iter()
        .all(|c| c.model == "anthropic.claude-3-7-sonnet-20250219-v1:0"));
    let mut acc = crate::stream::StreamAccumulator::new();
    for c in &chunks {
        acc.push(c);
    }
    let r = acc.finish();
    let m = &r.choices[0].message;
    assert_eq!(m.content.as_deref(), Some("Checking."));
    assert_eq!(m.reasoning_content.as_deref(), Some("let me"));
    let calls = m.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].function.name.as_str()),
        ("tooluse_a", "get_weather")
    );
    assert_eq!(calls[0].function.arguments, r#"{"city": "Paris"}"#);
    assert_eq!(calls[1].function.arguments, "{}");
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let u = r.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (35, 12));
    assert!(chunks.iter().any(|c| c
        .choices
        .first()
        .and_then(|ch| ch.delta.thinking_blocks.as_ref())
        .is_some_and(|b| b[0]["signature"] == "sig")));

    // An exception frame mid-stream raises the mapped class.
    let bytes = vec![
        ev("messageStart", json!({"role": "assistant"})),
        encode_exception(
            "throttlingException",
            json!({"message": "Too many tokens"}).to_string(),
        ),
    ];
    let e = frames_to_chunks(&t, Route::Converse, &bytes).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimit);
    let bytes = vec![encode_exception(
        "validationException",
        json!({"message": "Input is too long for requested model."}).to_string(),
    )];
    let e = frames_to_chunks(&t, Route::Converse, &bytes).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
}

#[test]
fn invoke_stream_decodes_anthropic_events() {
    let t = target(
        "invoke/anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    let bytes: Vec<Bytes> = crate::mock_server::bedrock::invoke_stream_events(3)
        .into_iter()
        .map(|(n, p)| ev(&n, p))
        .collect();
    let chunks = frames_to_chunks(&t, Route::Invoke, &bytes).unwrap();
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(text, "Hello w1 w2");
    assert!(chunks.iter().any(|c| c.usage.is_some()));
}

#[test]
fn invoke_body_is_anthropics_with_the_bedrock_version() {
    let t = target(
        "invoke/anthropic.claude-3-haiku-20240307-v1:0",
        &options(None, json!({})),
    );
    let req = request(
        json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "max_tokens": 300, "user": "u1"}),
    );
    for stream in [false, true] {
        let http = Bedrock::new().build_request(&req, &t, stream).unwrap();
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({"anthropic_version": "bedrock-2023-05-31", "system": "be brief",
                   "messages": [{"role": "user", "content": "hi"}], "max_tokens": 300,
                   "metadata": {"user_id": "u1"}})
        );
        assert!(http.url.ends_with(if stream {
            "/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
        } else {
            "/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
        }));
    }
}

#[test]
fn embedding_bodies() {
    let t = target("amazon.titan-embed-text-v2:0", &options(None, json!({})));
    let mut req = crate::types::EmbeddingRequest::new("m", "hello world");
    req.dimensions = Some(256);
    let http = Bedrock::new().build_embedding_request(&req, &t).unwrap();
    assert!(http
        .url
        .ends_with("/model/amazon.titan-embed-text-v2%3A0/invoke"));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body, json!({"inputText": "hello world", "dimensions": 256}));
    let two = crate::types::EmbeddingRequest::new(
        "m",
        crate::types::EmbeddingInput::Texts(vec!["a".to_owned(), "b".to_owned()]),
    );
    let e = Bedrock::new()
        .build_embedding_request(&two, &t)
        .unwrap_err();
    assert!(e.message.contains("one text per request"), "{}", e.message);

    let t = target("cohere.embed-english-v3", &options(None, json!({})));
    let mut req = crate::types::EmbeddingRequest::new(
        "m",
        crate::types::EmbeddingInput::Texts(vec!["a".to_owned(), "b".to_owned()]),
    );
    req.extra.insert("input_type".into(), json!("search_query"));
    let body: Value = serde_json::from_slice(
        &Bedrock::new()
            .build_embedding_request(&req, &t)
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"texts": ["a", "b"], "input_type": "search_query"})
    );
    assert_eq!(
        Bedrock::new().embedding_params("cohere.embed-english-v3"),
        vec!["encoding_format"]
    );
    assert!(Bedrock::new()
        .embedding_params("cohere.embed-v4:0")
        .contains(&"dimensions"));
    assert!(Bedrock::new()
        .embedding_params("anthropic.claude-3-haiku-20240307-v1:0")
        .is_empty());
}

// --- against the mock: signatures, STS, streams, corruption -------------------------------

async fn complete(
    server: &MockServer,
    model: &str,
    extra: Value,
    stream: bool,
) -> Result<String, LlmError> {
    let client = HttpClient::new()?;
    let req = ChatRequest::new(model, messages(json!([{"role": "user", "content": "hi"}])));
    let opts = options(Some(server), extra);
    let prepared = call::prepare(
        &format!("bedrock/{model}"),
        None,
        req,
        &opts,
        CallOptions {
            stream,
            ..Default::default()
        },
    )?;
    if !stream {
        return Ok(call::execute(&client, &prepared)
            .await?
            .response
            .text()
            .unwrap_or_default()
            .to_owned());
    }
    let (mut s, _) = call::execute_stream(&client, &prepared).await?;
    let mut text = String::new();
    while let Some(chunk) = s.next().await {
        for c in chunk?.choices {
            text.push_str(c.delta.content.as_deref().unwrap_or_default());
        }
    }
    Ok(text)
}

#[tokio::test]
async fn signed_calls_verify_at_the_mock_and_wrong_secrets_do_not() {
    let server = MockServer::start(0).await.unwrap();
    let model = "anthropic.claude-3-haiku-20240307-v1:0";
    assert_eq!(
        complete(&server, model, json!({}), false).await.unwrap(),
        crate::mock_server::DEFAULT_REPLY
    );
    assert_eq!(
        complete(&server, model, json!({}), true).await.unwrap(),
        "Hello w1 w2 w3 w4 w5"
    );
    assert_eq!(
        complete(&server, &format!("invoke/{model}"), json!({}), true)
            .await
            .unwrap(),
        "Hello w1 w2 w3 w4 w5"
    );
    let reqs = server.requests();
    assert_eq!(
        reqs[0].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(
        reqs[1].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    let auth = reqs[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap();
    assert!(
        auth.1
            .starts_with(&format!("AWS4-HMAC-SHA256 Credential={KEY_ID}/")),
        "{}",
        auth.1
    );
    assert!(auth.1.contains(
        "/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
    ));

    let e = complete(
        &server,
        model,
        json!({"aws_secret_access_key": "not-the-secret"}),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication, "{e}");
    assert!(
        e.message.contains("InvalidSignatureException"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn assume_role_is_signed_cached_and_refreshed() {
    let server = MockServer::start(0).await.unwrap();
    let model = "amazon.nova-lite-v1:0";
    let role = json!({"aws_role_name": "arn:aws:iam::123456789012:role/bedrock-unit", "aws_session_name": "unit", "aws_sts_endpoint": server.url()});
    for _ in 0..3 {
        complete(&server, model, role.clone(), false).await.unwrap();
    }
    let reqs = server.requests();
    let sts: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.body
                .as_str()
                .is_some_and(|b| b.contains("Action=AssumeRole"))
        })
        .collect();
    assert_eq!(sts.len(), 1, "one AssumeRole for three calls");
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(sts[0].body.as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form["RoleArn"],
        "arn:aws:iam::123456789012:role/bedrock-unit"
    );
    assert_eq!(form["RoleSessionName"], "unit");
    assert_eq!(form["Version"], "2011-06-15");
    // The Bedrock calls are signed with the temporary credentials.
    let last = reqs.last().unwrap();
    let token = last
        .headers
        .iter()
        .find(|(k, _)| k == "x-amz-security-token")
        .unwrap();
    assert!(token.1.starts_with("mock-session-token-ASIAMOCK"));

    // Credentials that expire within the margin are fetched again at the next call.
    server.reset();
    let short = json!({"aws_role_name": "arn:aws:iam::123456789012:role/bedrock-unit", "aws_session_name": "short-lived", "aws_sts_endpoint": server.url()});
    for _ in 0..2 {
        complete(&server, model, short.clone(), false)
            .await
            .unwrap();
    }
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.body.as_str().is_some_and(|b| b.contains("AssumeRole")))
            .count(),
        2
    );

    // A refused role is an AuthenticationError naming the role and STS's reason.
    let denied =
        json!({"aws_role_name": "arn:aws:iam::1:role/denied", "aws_sts_endpoint": server.url()});
    let e = complete(&server, model, denied, false).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert!(
        e.message.contains("AccessDenied") && e.message.contains("role/denied"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_corrupted_stream_frame_is_an_api_connection_error() {
    let server = MockServer::start(0).await.unwrap();
    let frame = |v: Value| v.to_string();
    server.enqueue(Scripted {
        status: 200,
        body: ScriptedBody::Sse {
            frames: vec![
                frame(json!({"event": "messageStart", "data": {"role": "assistant"}})),
                frame(json!({"event": "contentBlockDelta", "data": {"contentBlockIndex": 0, "delta": {"text": "Hel"}}})),
                frame(json!({"event": "contentBlockDelta", "data": {"contentBlockIndex": 0, "delta": {"text": "lo"}}, "corrupt": true})),
            ],
            chunk_delay: None,
            drop_after: None,
        },
        ..Default::default()
    });
    let client = HttpClient::new().unwrap();
    let req = ChatRequest::new("m", messages(json!([{"role": "user", "content": "hi"}])));
    let prepared = call::prepare(
        "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
        None,
        req,
        &options(Some(&server), json!({})),
        CallOptions {
            stream: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (mut s, _) = call::execute_stream(&client, &prepared).await.unwrap();
    let mut text = String::new();
    let mut error = None;
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(c) => {
                for ch in c.choices {
                    text.push_str(ch.delta.content.as_deref().unwrap_or_default());
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // What came before the corrupt message is delivered; the corrupt one never is.
    assert_eq!(text, "Hel");
    let e = error.expect("an error");
    assert_eq!(e.kind, ErrorKind::ApiConnection);
    assert!(e.message.contains("corrupt"), "{}", e.message);
}
