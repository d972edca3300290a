//! Like core_bench, but one `block_on` per call on a current-thread runtime, as the
//! Python binding's blocking path does; shows what entering the runtime per call costs.
#![allow(clippy::print_stdout)]
use _llmswitch::call::{self, CallOptions};
use _llmswitch::http::HttpClient;
use _llmswitch::providers::TargetOptions;
use _llmswitch::types::{ChatRequest, Message};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let api_base = args
        .get(1)
        .ok_or("usage: blockon_bench <api_base> <n>")?
        .clone();
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = HttpClient::new()?;
    let opts = TargetOptions {
        api_key: Some("k".to_owned().into()),
        api_base: Some(api_base),
        ..Default::default()
    };
    let mut lat = Vec::new();
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let req = ChatRequest::new("openai/gpt-4o", vec![Message::user("hi")]);
        let prepared = call::prepare("openai/gpt-4o", None, req, &opts, CallOptions::default())?;
        let done = rt.block_on(call::execute(&client, &prepared))?;
        std::hint::black_box(done);
        if i >= n / 10 {
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    lat.sort_by(f64::total_cmp);
    println!("{{\"blockon_per_call_p50_us\": {:.1}}}", lat[lat.len() / 2]);
    Ok(())
}
