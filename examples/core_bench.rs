//! Core-only benchmark: `call::prepare` + `call::execute` in a loop on a current-thread
//! runtime, no Python. Compared with `raw_baseline` it isolates the core's cost per call
//! from the pyo3 layer's.
//!
//! Usage: `cargo run --release --example core_bench -- <api_base> <requests>`.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use _llmswitch::call::{self, CallOptions};
use _llmswitch::http::HttpClient;
use _llmswitch::providers::TargetOptions;
use _llmswitch::types::{ChatRequest, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let api_base = args
        .get(1)
        .ok_or("usage: core_bench <api_base> <requests>")?
        .clone();
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let client = HttpClient::new()?;
    let opts = TargetOptions {
        api_key: Some("k".to_owned().into()),
        api_base: Some(api_base),
        ..Default::default()
    };
    let mut total_prepare = 0.0;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let start = Instant::now();
        let req = ChatRequest::new("openai/gpt-4o", vec![Message::user("hi")]);
        let prepared = call::prepare("openai/gpt-4o", None, req, &opts, CallOptions::default())?;
        let prepared_at = start.elapsed();
        let done = call::execute(&client, &prepared).await?;
        std::hint::black_box(&done);
        if i >= n / 10 {
            latencies.push(start.elapsed().as_secs_f64() * 1e6);
            total_prepare += prepared_at.as_secs_f64() * 1e6;
        }
    }
    // execute alone, on one prepared call
    let req = ChatRequest::new("openai/gpt-4o", vec![Message::user("hi")]);
    let prepared = call::prepare("openai/gpt-4o", None, req, &opts, CallOptions::default())?;
    let mut exec = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        std::hint::black_box(call::execute(&client, &prepared).await?);
        exec.push(start.elapsed().as_secs_f64() * 1e6);
    }
    exec.sort_by(f64::total_cmp);
    println!("{{\"execute_only_p50_us\": {:.1}}}", exec[exec.len() / 2]);
    latencies.sort_by(f64::total_cmp);
    println!(
        "{{\"n\": {}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"prepare_mean_us\": {:.2}}}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        total_prepare / latencies.len() as f64
    );
    Ok(())
}
