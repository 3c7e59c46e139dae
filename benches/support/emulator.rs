//! The local AWS emulator and proxy for benchmarks (the same launcher and proxy as the tests).

// Shared by several benchmarks; each uses a part.
#![allow(dead_code)]

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
    moto_with(&[])
}

/// [`moto`] with environment variables for the launcher (FLEETFORM_START_DELAY, …).
pub fn moto_with(env: &[(&str, &str)]) -> (Kill, String) {
    let port = free_port();
    let child = Command::new(python())
        .arg(root().join("tests/support/moto_launcher.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(env.iter().copied())
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
    let m = fleetform_measured(repo, ep, args, &[]);
    (m.out, m.wall)
}

/// One run of the binary: its output, wall time, CPU time (user + system) and peak resident
/// memory, read from the kernel's accounting of the child (wait4), not sampled.
pub struct Measured {
    pub out: std::process::Output,
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_mib: f64,
}

/// [`fleetform`], measured. `env` adds variables (FLEETFORM_NOW for a replay, which must ask
/// what it recorded).
pub fn fleetform_measured(repo: &Path, ep: &str, args: &[&str], env: &[(&str, &str)]) -> Measured {
    use std::os::unix::process::ExitStatusExt;
    let t = Instant::now();
    // Reaped by wait4 below (std's wait would not give the rusage).
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetform"))
        .current_dir(repo)
        .args(args)
        .env("AWS_ENDPOINT_URL", ep)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        so.read_to_end(&mut v).unwrap();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        se.read_to_end(&mut v).unwrap();
        v
    });
    let mut status = 0;
    // SAFETY: rusage is plain data, and the pid is our own unreaped child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    assert!(pid > 0, "wait4 failed");
    let wall = t.elapsed();
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let out = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    Measured { out, wall, cpu: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_mib: ru.ru_maxrss as f64 / 1024.0 }
}

/// The replay server (benches/support/replay.py): recording in front of `target`, or serving
/// `files` after `delay_ms`. Returns it, its endpoint and its port.
pub fn replay_record(target: &str, file: &Path) -> (Kill, String, u16) {
    replay(&["--record", file.to_str().unwrap(), "--target", target])
}

pub fn replay_serve(files: &[&Path], delay_ms: u64) -> (Kill, String, u16) {
    let mut a: Vec<String> = vec!["--delay-ms".into(), delay_ms.to_string()];
    for f in files {
        a.push("--replay".into());
        a.push(f.to_str().unwrap().into());
    }
    replay(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

fn replay(extra: &[&str]) -> (Kill, String, u16) {
    let port = free_port();
    let child = Command::new(python())
        .arg(root().join("benches/support/replay.py"))
        .args(["--port", &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_port(port);
    (Kill(child), format!("http://127.0.0.1:{port}"), port)
}

/// A control request to the replay server (`/__replay/stats` or `/__replay/save`); POST resets
/// the stats. Returns its JSON answer.
pub fn replay_control(port: u16, path: &str, post: bool) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let m = if post { "POST" } else { "GET" };
    std::io::Write::write_all(&mut s, format!("{m} /__replay/{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(out.rsplit("\r\n\r\n").next().unwrap().trim()).unwrap()
}
