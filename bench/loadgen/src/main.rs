//! A small HTTP/1 load generator for the gateway benchmark: like `oha`, but each request
//! carries the next key of a list, so a run can use 1,000 virtual keys at once.
//!
//! `llmswitch-loadgen URL [URL...] --body JSON [--keys FILE] [--conns 64] (--rate R
//! --seconds S | --seconds S | --requests N)` prints one JSON object: rps, p50_us, p99_us,
//! ok, errors. With several URLs (replicas of one gateway) the connections are spread over
//! them in turn, and at a fixed rate each request goes to the next free connection.
//! With `--rate` requests are scheduled at fixed times and latency counts from the scheduled
//! time, not the send time (no coordinated omission, as oha's `--latency-correction`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

struct Args {
    urls: Vec<String>,
    body: Bytes,
    keys: Vec<String>,
    conns: usize,
    rate: Option<f64>,
    seconds: Option<f64>,
    requests: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut urls = Vec::new();
    let (mut body, mut keys, mut conns) = (Bytes::new(), Vec::new(), 64usize);
    let (mut rate, mut seconds, mut requests) = (None, None, None);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--body" => body = Bytes::from(value("--body")?),
            "--keys" => {
                let path = value("--keys")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                keys = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--key" => keys.push(value("--key")?),
            "--conns" => {
                conns = value("--conns")?
                    .parse()
                    .map_err(|e| format!("--conns: {e}"))?
            }
            "--rate" => {
                rate = Some(
                    value("--rate")?
                        .parse()
                        .map_err(|e| format!("--rate: {e}"))?,
                )
            }
            "--seconds" => {
                seconds = Some(
                    value("--seconds")?
                        .parse()
                        .map_err(|e| format!("--seconds: {e}"))?,
                )
            }
            "--requests" => {
                requests = Some(
                    value("--requests")?
                        .parse()
                        .map_err(|e| format!("--requests: {e}"))?,
                )
            }
            _ if a.starts_with("http://") => urls.push(a),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if urls.is_empty() {
        return Err("an http:// URL is required".into());
    }
    if keys.is_empty() {
        return Err("--key or --keys is required".into());
    }
    if seconds.is_none() && requests.is_none() {
        return Err("--seconds or --requests is required".into());
    }
    Ok(Args {
        urls,
        body,
        keys,
        conns: conns.max(1),
        rate,
        seconds,
        requests,
    })
}

/// One keep-alive connection's sender, reconnected after an error.
struct Conn {
    addr: String,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| {
            self.sender = None;
            e.to_string()
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }
}

/// Where requests go: `host:port` and path.
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn of(url: &str) -> Target {
        let rest = url.trim_start_matches("http://");
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.to_owned(), "/".to_owned()),
        };
        Target { authority, path }
    }
}

struct Shared {
    args: Args,
    targets: Vec<Target>,
    next_key: AtomicU64,
    sent: AtomicU64,
}

impl Shared {
    fn request(&self, target: &Target) -> Request<Full<Bytes>> {
        let i = self.next_key.fetch_add(1, Ordering::Relaxed) as usize % self.args.keys.len();
        Request::post(&target.path)
            .header("host", &target.authority)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.args.keys[i]))
            .body(Full::new(self.args.body.clone()))
            .unwrap_or_default()
    }
}

/// What one worker saw: latencies in microseconds, and error count.
type Tally = (Vec<u32>, u64);

async fn worker(
    shared: Arc<Shared>,
    target: usize,
    jobs: Option<Arc<tokio::sync::Mutex<mpsc::Receiver<Instant>>>>,
    until: Option<Instant>,
) -> Tally {
    let target = &shared.targets[target];
    let mut conn = Conn {
        addr: target.authority.clone(),
        sender: None,
    };
    let (mut lat, mut errors) = (Vec::new(), 0u64);
    loop {
        // Fixed rate: the scheduled time of the next job; otherwise as fast as answers come.
        let started = match &jobs {
            Some(rx) => match rx.lock().await.recv().await {
                Some(t) => t,
                None => break,
            },
            None => {
                if until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                if let Some(n) = shared.args.requests {
                    if shared.sent.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                }
                Instant::now()
            }
        };
        match conn.send(shared.request(target)).await {
            Ok((200, body)) if !body.is_empty() => {
                lat.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32)
            }
            _ => errors += 1,
        }
    }
    (lat, errors)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("llmswitch-loadgen: {e}");
            std::process::exit(2);
        }
    };
    let targets: Vec<Target> = args.urls.iter().map(|u| Target::of(u)).collect();
    let (conns, rate, seconds) = (args.conns, args.rate, args.seconds);
    let shared = Arc::new(Shared {
        args,
        targets,
        next_key: AtomicU64::new(0),
        sent: AtomicU64::new(0),
    });
    let began = Instant::now();
    let until = seconds.map(|s| began + Duration::from_secs_f64(s));
    let mut handles = Vec::new();
    let jobs = rate.map(|rate| {
        let (tx, rx) = mpsc::channel::<Instant>(1 << 16);
        let total = (rate * seconds.unwrap_or(10.0)) as u64;
        // The schedule runs on its own thread: tokio's timer ticks in whole milliseconds,
        // which at 1,000 requests/s would add up to a millisecond to every latency.
        std::thread::spawn(move || {
            for i in 0..total {
                let at = began + Duration::from_secs_f64(i as f64 / rate);
                let early = at.saturating_duration_since(Instant::now());
                if early > Duration::from_micros(200) {
                    std::thread::sleep(early - Duration::from_micros(150));
                }
                while Instant::now() < at {
                    std::hint::spin_loop();
                }
                if tx.blocking_send(at).is_err() {
                    break;
                }
            }
        });
        Arc::new(tokio::sync::Mutex::new(rx))
    });
    for i in 0..conns {
        handles.push(tokio::spawn(worker(
            shared.clone(),
            i % shared.targets.len(),
            jobs.clone(),
            if jobs.is_some() { None } else { until },
        )));
    }
    let (mut all, mut errors) = (Vec::new(), 0u64);
    for h in handles {
        if let Ok((lat, e)) = h.await {
            all.extend(lat);
            errors += e;
        }
    }
    let took = began.elapsed().as_secs_f64();
    all.sort_unstable();
    let out = serde_json::json!({
        "rps": ((all.len() as f64 + errors as f64) / took * 10.0).round() / 10.0,
        "p50_us": percentile(&all, 0.50),
        "p99_us": percentile(&all, 0.99),
        "ok": all.len(),
        "errors": errors,
    });
    println!("{out}");
}
