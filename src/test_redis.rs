//! A redis-server of the tests' own on a free loopback port (tests only).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cache::config::RedisConfig;

/// A redis-server on a free loopback port, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// `None` when `redis-server` is not installed (a failure instead when
    /// `LLMSWITCH_REQUIRE_REDIS=1`, as `.ci/run` sets).
    pub fn start() -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            assert!(
                std::env::var("LLMSWITCH_REQUIRE_REDIS").as_deref() != Ok("1"),
                "redis-server is required (LLMSWITCH_REQUIRE_REDIS=1)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = RedisServer { port, child: None };
        s.restart();
        Some(s)
    }

    /// Stop the server if it runs, and start it again on the same port (empty).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Settings for this server. A loaded test machine can take longer than the production
    /// deadlines to answer hundreds of scripts at once, which would degrade a replica to its
    /// own counters; the outage tests stop the server, which refuses at once, so they do
    /// not wait on these.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            host: Some("127.0.0.1".into()),
            port: Some(self.port),
            connect_timeout: Some(Duration::from_secs(10)),
            response_timeout: Some(Duration::from_secs(10)),
            ..Default::default()
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
