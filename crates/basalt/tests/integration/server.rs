//! Starts the real `basalt serve` once for the tests that run together, and kills it when the last
//! of them lets go (a static would never be dropped, leaving the server running after the tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The model file the default catalog serves every text model id with.
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Held by a test while it generates: greedy answers are compared across requests, and batching
/// with another test's request must not be what makes them differ.
pub static MODEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

pub struct Server {
    child: Child,
    address: SocketAddr,
    data_dir: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// The running server, started if no test holds one. `None` (after a loud message) only when
    /// the model is missing and `BASALT_MODELS_DIR` is unset, so a bare `cargo test` still passes.
    pub fn shared() -> Option<Arc<Server>> {
        let models_dir = match models_dir() {
            Ok(dir) => dir,
            Err(skip) => {
                basalt_test_support::skip(&skip);
                return None;
            }
        };
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(server) = shared.upgrade() {
            return Some(server);
        }
        let server = Arc::new(Server::start(&models_dir));
        *shared = Arc::downgrade(&server);
        Some(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn start(models_dir: &std::path::Path) -> Server {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let data_dir =
            std::env::temp_dir().join(format!("basalt-integration-{}-{n}", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--auth-mode",
                "any",
                "--data-dir",
            ])
            .arg(&data_dir)
            .arg("--models-dir")
            .arg(models_dir)
            // Plain log lines: the address is read from them.
            .env("NO_COLOR", "1")
            .env("BASALT_LOG", "info")
            .env_remove("BASALT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the basalt binary");

        // Port 0 lets the OS pick a free port with no race; the server logs the one it got. The
        // reader keeps draining stderr so the server never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(address) = listening_address(&line) {
                    address_tx.send(address).ok();
                }
                let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let address = loop {
            if let Ok(address) = address_rx.recv_timeout(Duration::from_millis(100)) {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(200)); // let the reader catch the last lines
                panic!(
                    "basalt serve exited with {status} before listening; stderr:\n{}",
                    snapshot(&stderr)
                );
            }
            if Instant::now() > deadline {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "basalt serve did not log `listening on` within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    snapshot(&stderr)
                );
            }
        };
        eprintln!("basalt serve listening on {address} (pid {})", child.id());
        let server = Server {
            child,
            address,
            data_dir,
            stderr,
        };
        if let Err(e) = healthz(address) {
            panic!(
                "GET /healthz on {address} failed: {e}; stderr:\n{}",
                snapshot(&server.stderr)
            );
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.data_dir).ok();
        if std::thread::panicking() {
            eprintln!("basalt serve stderr:\n{}", snapshot(&self.stderr));
        }
    }
}

fn snapshot(stderr: &Mutex<String>) -> String {
    stderr
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The address in the server's `listening on http://ADDR` line, with any ANSI colour codes removed.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let plain = strip_ansi(line);
    let rest = plain.split_once("listening on http://")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ params final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One plain `GET /healthz`, so a bound-but-broken server fails here with its log, not in a test.
fn healthz(address: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected response: {response:?}"
        )))
    }
}

/// `BASALT_MODELS_DIR`, else the data dir default (`$XDG_DATA_HOME/basalt/models`, then
/// `~/.local/share/basalt/models`, as `basalt serve` resolves it). `Err` is the skip message.
fn models_dir() -> Result<PathBuf, String> {
    let from_env = std::env::var_os("BASALT_MODELS_DIR").filter(|dir| !dir.is_empty());
    let explicit = from_env.is_some();
    let dir = from_env.map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            })
            .unwrap_or_default()
            .join("basalt/models")
    });
    if dir.join(MODEL_FILE).is_file() {
        return Ok(dir);
    }
    let missing = format!(
        "{MODEL_FILE} is not in {}: run `basalt models fetch --models-dir {}` (or `make models`)",
        dir.display(),
        dir.display()
    );
    if explicit || basalt_test_support::models_required() {
        panic!("BASALT_MODELS_DIR is set or BASALT_REQUIRE_MODELS=1, but {missing}");
    }
    Err(format!("{missing}, or set BASALT_MODELS_DIR"))
}

#[test]
fn listening_address_reads_plain_and_coloured_lines() {
    let plain = "2026-01-01T00:00:00Z  INFO basalt: listening on http://127.0.0.1:4242 auth=Any data_dir=/tmp/x";
    assert_eq!(
        listening_address(plain),
        Some(SocketAddr::from(([127, 0, 0, 1], 4242)))
    );
    let coloured = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mbasalt\u{1b}[0m: listening on http://127.0.0.1:4243 \u{1b}[3mauth\u{1b}[0m=Any";
    assert_eq!(
        listening_address(coloured),
        Some(SocketAddr::from(([127, 0, 0, 1], 4243)))
    );
    assert_eq!(listening_address("loading models"), None);
}
