//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory and
//! `postgres` on a free loopback port, started once per test process, one fresh database
//! per test. As root (CI), it runs as the `postgres` user (PostgreSQL refuses root).
//!
//! The server runs under a shell that waits on a pipe from this process: when the test
//! process ends (however it ends), the pipe closes, and the shell stops the server and
//! removes its directory, so no cluster outlives its tests.
//!
//! Without PostgreSQL's programs installed, [`database`] returns `None` (the Postgres half
//! of a test is skipped) unless `LLMSWITCH_REQUIRE_POSTGRES=1`, where it fails (`.ci/run`
//! installs PostgreSQL and sets it).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::postgres::{PostgresOptions, PostgresStore};

struct Cluster {
    port: u16,
    /// Held open for the life of the process (its end stops the server).
    _child: Mutex<Child>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

fn bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                // The version's own directory (with psql), not a directory of links to it.
                return std::fs::canonicalize(dir.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(PathBuf::from));
            }
        }
    }
    // Debian keeps the server's programs out of the PATH.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

const SCRIPT: &str = r#"
set -e
"$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync --no-locale -E UTF8 > "$DIR/initdb.log" 2>&1
"$BIN/postgres" -D "$DIR/data" -k "$DIR" -h 127.0.0.1 -p "$PORT" -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB > "$DIR/server.log" 2>&1 &
pid=$!
echo started
read _ignored || true
kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$DIR"
"#;

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or("PostgreSQL's initdb and postgres are not installed")?;
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!(
        "llmswitch-pg-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut command = if is_root() {
        // PostgreSQL refuses to run as root: hand the directory to its own user.
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cannot chown the cluster's directory to the postgres user".into());
        }
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", SCRIPT]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", SCRIPT]);
        c
    };
    let mut child = command
        .env("BIN", &bin)
        .env("DIR", &dir)
        .env("PORT", port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut first = [0u8; 7];
    out.read_exact(&mut first).map_err(|_| {
        let log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
        format!("initdb failed: {log}")
    })?;
    // Wait until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let ok = Command::new(bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .args(["-d", "postgres", "-Atc", "SELECT 1"])
                .output()
                .ok()
                .is_some_and(|o| o.status.success());
            if ok {
                break;
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!("PostgreSQL did not start: {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Cluster {
        port,
        _child: Mutex::new(child),
    })
}

fn required() -> bool {
    std::env::var("LLMSWITCH_REQUIRE_POSTGRES").as_deref() == Ok("1")
}

/// The URL of a new, empty database on the test cluster (`None`: PostgreSQL is not
/// installed and not required).
#[allow(clippy::panic)]
pub(crate) async fn database() -> Option<String> {
    let cluster = CLUSTER.get_or_init(start);
    let port = match cluster {
        Ok(c) => c.port,
        Err(e) if !required() && e.contains("not installed") => return None,
        Err(e) => panic!("test PostgreSQL cluster: {e}"),
    };
    let name = format!("t_{:016x}", fastrand::u64(..));
    let admin = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let (client, conn) = match tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => panic!("test PostgreSQL cluster: {e}"),
    };
    let task = tokio::spawn(conn);
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
    {
        panic!("test PostgreSQL cluster: {e}");
    }
    drop(client);
    let _ = task.await;
    Some(format!("postgresql://postgres@127.0.0.1:{port}/{name}"))
}

/// A store on a new database of the test cluster.
#[allow(clippy::expect_used)]
pub(crate) async fn store() -> Option<PostgresStore> {
    let url = database().await?;
    Some(
        PostgresStore::connect(&PostgresOptions::new(&url))
            .await
            .expect("connect to the test cluster"),
    )
}
