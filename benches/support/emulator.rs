//! The local AWS emulator and proxy for benchmarks (the same launcher and proxy as the tests).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process stopped when dropped.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "run ./scripts/setup-venv first: the benchmark needs the local AWS emulator");
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "port {port} did not open");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start the emulator; returns it and its endpoint.
pub fn moto() -> (Kill, String) {
    let port = free_port();
    let child = Command::new(python())
        .arg(root().join("tests/support/moto_launcher.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    std::thread::sleep(Duration::from_secs(3)); // first AWS answers come ~2 s after the port opens
    (Kill(child), format!("http://127.0.0.1:{port}"))
}

/// Start the counting proxy in front of `target`; returns it, its endpoint and its port.
pub fn proxy(target: &str, extra: &[&str]) -> (Kill, String, u16) {
    let port = free_port();
    let child = Command::new(python())
        .arg(root().join("tests/support/aws_proxy.py"))
        .args(["--port", &port.to_string(), "--target", target])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    (Kill(child), format!("http://127.0.0.1:{port}"), port)
}

/// Requests the proxy saw; `reset` sets the count to zero.
pub fn proxy_count(port: u16, reset: bool) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let m = if reset { "POST" } else { "GET" };
    std::io::Write::write_all(&mut s, format!("{m} /__proxy/count HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.rsplit("\r\n\r\n").next().unwrap().trim().parse().unwrap()
}

/// Python with boto3; `EP` holds the endpoint. Returns trimmed stdout.
pub fn py(code: &str, ep: &str) -> String {
    let o = Command::new(python()).arg("-c").arg(code).env("EP", ep).env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The release binary under benchmark, pointed at `ep`.
pub fn fleetform(repo: &Path, ep: &str, args: &[&str]) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_fleetform"))
        .current_dir(repo)
        .args(args)
        .env("AWS_ENDPOINT_URL", ep)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (o, t.elapsed())
}
