//! Micro-timings of the core's per-call CPU work (no network): prepare, response parse.
#![allow(clippy::print_stdout, clippy::unwrap_used)]
use _llmswitch::call::{self, CallOptions};
use _llmswitch::providers::TargetOptions;
use _llmswitch::types::{ChatRequest, ChatResponse, Message};
use std::time::Instant;

fn time<F: FnMut()>(label: &str, n: u32, mut f: F) {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{label}: {:.2} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}

fn main() {
    println!(
        "sizes: ChatChunk {} ChunkChoice {} Delta {} Usage {} Map {}",
        std::mem::size_of::<_llmswitch::types::ChatChunk>(),
        std::mem::size_of::<_llmswitch::types::ChunkChoice>(),
        std::mem::size_of::<_llmswitch::types::Delta>(),
        std::mem::size_of::<_llmswitch::types::Usage>(),
        std::mem::size_of::<serde_json::Map<String, serde_json::Value>>()
    );
    let body = br#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock server.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15},"system_fingerprint":"fp_mock"}"#;
    time("parse ChatResponse", 100_000, || {
        std::hint::black_box(serde_json::from_slice::<ChatResponse>(body).unwrap());
    });
    time("parse Value", 100_000, || {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
    });
    let opts = TargetOptions {
        api_key: Some("k".to_owned().into()),
        api_base: Some("http://x/v1".into()),
        ..Default::default()
    };
    for model in ["openai/gpt-4o", "groq/llama"] {
        time(&format!("prepare {model}"), 100_000, || {
            let req = ChatRequest::new(model, vec![Message::user("hi")]);
            std::hint::black_box(
                call::prepare(model, None, req, &opts, CallOptions::default()).unwrap(),
            );
        });
    }
    let chunk = br#"{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":" w17"},"finish_reason":null}]}"#;
    time("parse ChatChunk", 200_000, || {
        std::hint::black_box(
            serde_json::from_slice::<_llmswitch::types::ChatChunk>(chunk).unwrap(),
        );
    });
    time("parse chunk Value", 200_000, || {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(chunk).unwrap());
    });
    let p = _llmswitch::providers::get("openai").unwrap();
    time("supported_params openai gpt-4o", 100_000, || {
        std::hint::black_box(p.supported_params("gpt-4o"));
    });
}
