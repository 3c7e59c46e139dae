//! The local AWS emulator for tests: moto's server (pinned, installed in .venv by
//! ./scripts/test), started per test on 127.0.0.1 on a free port through
//! tests/support/moto_launcher.py (which corrects one moto bug, documented there), ready once a
//! real AWS call succeeds, stopped by its own process id when the test ends. Each test gets its
//! own server: clean state, no interference between tests run in parallel.
//!
//! Tests read what fleetform created back through a second client (boto3), never only through
//! fleetform itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{project_root, Repo};

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEETFORM_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = project_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "the local AWS emulator is not installed: run ./scripts/test (or ./scripts/setup-venv) once; it installs moto into .venv"
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A raw AWS query call, to wait until the emulator really answers (its HTTP side comes up
/// earlier than its AWS side).
fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let body = "Action=DescribeAutoScalingGroups&Version=2011-01-01";
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-3/autoscaling/aws4_request, SignedHeaders=host, Signature=x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200")
}

/// A fresh emulator prepared with what the example references, and a fresh copy of the example.
pub fn example_setup() -> (Moto, Repo) {
    let moto = Moto::start();
    moto.example_account();
    (moto, Repo::example())
}

/// `fleetform apply --cluster staging.k8s.foo.bar --yes` and `extra`, against the emulator.
pub fn apply_staging(moto: &Moto, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--cluster", "staging.k8s.foo.bar", "--yes"];
    args.extend_from_slice(extra);
    moto.run(repo, &args)
}

pub struct Moto {
    child: Child,
    pub endpoint: String,
    proxies: Vec<Child>,
    /// The launcher's stand-in for AWS's public SSM parameters reads overrides from this file.
    public_parameters: tempfile::NamedTempFile,
    /// The launcher's stand-in for scaling activities (correction 15) answers what this file
    /// lists.
    scaling_activities: tempfile::NamedTempFile,
}

impl Moto {
    /// The emulator, with EKS changes (creation, updates, add-ons) taking 0.2 s to settle.
    pub fn start() -> Moto {
        Moto::start_settling(0.2)
    }

    /// The emulator, with EKS changes taking `settle` seconds (the launcher's stand-ins 7–11).
    pub fn start_settling(settle: f64) -> Moto {
        let port = free_port();
        let public_parameters = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(public_parameters.path(), "{}").unwrap();
        let scaling_activities = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(scaling_activities.path(), "[]").unwrap();
        let child = Command::new(python())
            .arg(project_root().join("tests/support/moto_launcher.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("FLEETFORM_PUBLIC_PARAMETERS", public_parameters.path())
            .env("FLEETFORM_SCALING_ACTIVITIES", scaling_activities.path())
            .env("FLEETFORM_EKS_SETTLE_SECONDS", settle.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the local AWS emulator");
        let m = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), proxies: Vec::new(), public_parameters, scaling_activities };
        let start = Instant::now();
        while !ready(port) {
            assert!(start.elapsed() < Duration::from_secs(60), "the local AWS emulator did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    /// Publish a value of one of AWS's public SSM parameters (a new image release), through the
    /// launcher's stand-in (tests/support/moto_launcher.py, correction 5).
    pub fn publish_public_parameter(&self, name: &str, value: &str) {
        let path = self.public_parameters.path();
        let mut all: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        all.insert(name.to_string(), value.into());
        std::fs::write(path, serde_json::to_string(&all).unwrap()).unwrap();
    }

    /// Have the group report scaling activities, as AWS reports a launch that failed (the
    /// launcher's stand-in, correction 15; moto never fails a launch). `activities`: a JSON list
    /// with AWS's field names.
    pub fn report_activities(&self, activities: &serde_json::Value) {
        std::fs::write(self.scaling_activities.path(), activities.to_string()).unwrap();
    }

    /// Put the fault-injecting proxy in front; returns its endpoint.
    pub fn proxy(&mut self, args: &[&str]) -> String {
        let port = free_port();
        let child = Command::new(python())
            .arg(project_root().join("tests/support/aws_proxy.py"))
            .args(["--port", &port.to_string(), "--target", &self.endpoint])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the proxy");
        self.proxies.push(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "the proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        format!("http://127.0.0.1:{port}")
    }

    /// Python with boto3 against the emulator; `ec2(region)`, `asg(region)`, `eks(region)`,
    /// `iam`, `r53`, `s3` are ready. For a sampler run beside a command: spawn it.
    pub fn py_command(&self, code: &str) -> Command {
        let prelude = format!(
            "import boto3, json, os\nEP='{}'\ndef ec2(r): return boto3.client('ec2', endpoint_url=EP, region_name=r)\ndef asg(r): return boto3.client('autoscaling', endpoint_url=EP, region_name=r)\ndef eks(r): return boto3.client('eks', endpoint_url=EP, region_name=r)\niam = boto3.client('iam', endpoint_url=EP, region_name='us-east-1')\nr53 = boto3.client('route53', endpoint_url=EP, region_name='us-east-1')\ns3 = boto3.client('s3', endpoint_url=EP, region_name='us-east-1')\n",
            self.endpoint
        );
        let mut c = Command::new(python());
        c.arg("-c")
            .arg(format!("{prelude}{code}"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "eu-west-3");
        c
    }

    /// [`Moto::py_command`], run to the end. Returns stdout; panics with stderr on failure.
    pub fn py(&self, code: &str) -> String {
        let out = self.py_command(code).output().unwrap();
        assert!(out.status.success(), "boto3 failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// What the example clusters reference (scripts/lib/example_account.py, shared with the
    /// demo): tagged subnets in each zone, the hosted zone, and the state-store bucket.
    pub fn example_account(&self) {
        self.account("scripts/lib/example_account.py");
    }

    /// Run an account script of scripts/lib (it takes the endpoint) against this emulator.
    pub fn account(&self, script: &str) {
        let out = Command::new(python())
            .arg(project_root().join(script))
            .arg(&self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// fleetform in `repo`, pointed at this emulator with dummy credentials.
    pub fn fleetform(&self, repo: &Repo, endpoint: Option<&str>) -> assert_cmd::Command {
        let mut c = repo.cmd();
        c.env("AWS_ENDPOINT_URL", endpoint.unwrap_or(&self.endpoint))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
        c
    }

    /// fleetform started in the background (to be killed, or to race another run).
    pub fn spawn(&self, repo: &Repo, args: &[&str], output: bool) -> Child {
        self.spawn_at(repo, &self.endpoint, args, output)
    }

    /// As `spawn`, through another endpoint (a proxy). `output`: capture stderr.
    pub fn spawn_at(&self, repo: &Repo, endpoint: &str, args: &[&str], output: bool) -> Child {
        let pipe = || if output { Stdio::piped() } else { Stdio::null() };
        Command::new(assert_cmd::cargo::cargo_bin("fleetform"))
            .current_dir(repo.path())
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env("FLEETFORM_NOW", super::common::TEST_NOW)
            // stdout is never piped: a plan larger than a pipe's buffer would block the child
            // until the test reads it.
            .stdout(Stdio::null())
            .stderr(pipe())
            .spawn()
            .unwrap()
    }

    /// Remove a lock left by a killed run (as an operator would with `fleetform unlock`).
    pub fn break_stale_lock(&self, repo: &Repo, cluster: &str) {
        let id = self.py(&format!(
            r#"
try:
    print(json.loads(s3.get_object(Bucket='foo-bar-fleet-state', Key='{cluster}/fleetform/lock.json')['Body'].read())['id'])
except s3.exceptions.NoSuchKey:
    print('')
"#
        ));
        let id = id.trim();
        if !id.is_empty() {
            let o = self.run(repo, &["unlock", "--cluster", cluster, id, "--yes"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }

    pub fn run(&self, repo: &Repo, args: &[&str]) -> std::process::Output {
        self.fleetform(repo, None).args(args).output().unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        for p in &mut self.proxies {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replace ids AWS (or the emulator) made up, so snapshots are stable: resource ids, EKS
/// endpoints and certificate authorities.
pub fn scrub_ids(s: &str) -> String {
    let s = scrub_resource_ids(s);
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        if let (Some(a), Some(b)) = (line.find("https://"), line.find(".eks.amazonaws.com/")) {
            out.push_str(&line[..a]);
            out.push_str("https://[EKS-ENDPOINT]/");
            out.push_str(&line[b + ".eks.amazonaws.com/".len()..]);
        } else if let Some(i) = line.find("certificateAuthority: ") {
            let end = line.find('…').unwrap_or(line.len());
            out.push_str(&line[..i + "certificateAuthority: ".len()]);
            out.push_str("[CA]");
            out.push_str(&line[end..]);
        } else if let Some(i) = line.find("cluster-certificate = \"") {
            let end = line.find('…').unwrap_or(line.len());
            out.push_str(&line[..i + "cluster-certificate = \"".len()]);
            out.push_str("[CA]");
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn scrub_resource_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    'outer: while !rest.is_empty() {
        let at_word_start = !out.chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        for prefix in ["subnet-", "i-", "lt-", "vpc-", "sg-"] {
            if at_word_start && rest.starts_with(prefix) {
                let hex_len = rest[prefix.len()..].chars().take_while(|c| c.is_ascii_hexdigit()).count();
                if hex_len >= 8 {
                    out.push_str(prefix);
                    out.push_str("[ID]");
                    rest = &rest[prefix.len() + hex_len..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
