//! Raw HTTP client baseline for the benchmarks: keep-alive reqwest POSTs of a fixed
//! chat-completions body to a mock server, with no translation, no Python. It measures the
//! bare wire round trip that llmswitch's overhead is compared against.
//!
//! Usage: `cargo run --release --example raw_baseline -- <url> <requests> [stream_chunks]`.
//! Prints one JSON object: latencies (µs) of sequential requests, or per-chunk stream time.

#![allow(clippy::print_stdout)]

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: raw_baseline <url> <requests> [stream_chunks]")?;
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let stream_chunks: Option<usize> = args.get(3).map(|s| s.parse()).transpose()?;
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let body = match stream_chunks {
        None => r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#.to_owned(),
        Some(_) => {
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}"#
                .to_owned()
        }
    };
    let mut latencies = Vec::with_capacity(n);
    let mut chunks_seen = 0usize;
    let warmup = n / 10 + 1;
    for i in 0..n + warmup {
        let start = Instant::now();
        let mut req = client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("authorization", "Bearer k")
            .body(body.clone());
        if let Some(c) = stream_chunks {
            req = req.header("x-mock-chunks", c.to_string());
        }
        let mut resp = req.send().await?;
        let mut frames = 0;
        while let Some(bytes) = resp.chunk().await? {
            frames += bytes.windows(6).filter(|w| w == b"data: ").count();
        }
        if i >= warmup {
            latencies.push(start.elapsed().as_secs_f64() * 1e6);
            chunks_seen = frames;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "{{\"n\": {}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"mean_us\": {:.1}, \"frames\": {}}}",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.iter().sum::<f64>() / latencies.len() as f64,
        chunks_seen
    );
    Ok(())
}
