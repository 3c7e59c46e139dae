//! Benchmark: a rolling update of 10 groups × 10 instances with surge 2 in the local AWS
//! emulator (instances start at once there, so what remains is fleetform's own work and the
//! waits the settings ask for). Reports, in one run:
//! * the total wall time against the minimum the settings allow (validateCount 2 with a 1 s
//!   interval: at least 1 s per batch, 50 batches);
//! * fleetform's own overhead per replaced instance: (total − that minimum) / instances;
//! * AWS requests per replaced instance, counted by the local proxy.
//!
//! Run by hand (not in CI): `cargo bench --bench rolling`. Needs .venv (./scripts/setup-venv).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GROUPS: usize = 10;
const PER_GROUP: usize = 10;
const SURGE: usize = 2;
const INTERVAL_S: f64 = 1.0;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "run ./scripts/setup-venv first: the benchmark needs the local AWS emulator");
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn py(code: &str, ep: &str) -> String {
    let o = Command::new(python()).arg("-c").arg(code).env("EP", ep).env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn fleetform(repo: &std::path::Path, ep: &str, args: &[&str]) -> (std::process::Output, Duration) {
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
    assert!(o.status.success(), "fleetform {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    (o, t.elapsed())
}

fn proxy_count(port: u16, reset: bool) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let m = if reset { "POST" } else { "GET" };
    std::io::Write::write_all(&mut s, format!("{m} /__proxy/count HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.rsplit("\r\n\r\n").next().unwrap().trim().parse().unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    for d in ["templates", "vars", "snippets", "clusters"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
    }
    std::fs::write(
        repo.join("templates/1.yaml.tpl"),
        format!(
            r#"apiVersion: fleetform.io/v1alpha1
kind: Cluster
metadata: {{name: "{{{{ clusterName }}}}"}}
spec:
  region: eu-west-3
  subnets: [{{name: a, zone: eu-west-3a}}, {{name: b, zone: eu-west-3b}}]
  stateStore: s3://roll-bench/state
  rollingUpdate: {{maxSurge: {SURGE}, maxUnavailable: 0}}
  hooks:
    drain: {{command: "true"}}
    validate: {{command: "true"}}
  validation: {{validateCount: 2, validationTimeout: 5m, interval: {INTERVAL_S}s}}
{{% for n in range(end={GROUPS}) %}}
---
apiVersion: fleetform.io/v1alpha1
kind: NodeGroup
metadata: {{name: "nodes-{{{{ n }}}}"}}
spec:
  role: Node
  image: "{{{{ image }}}}"
  machineType: m5.large
  minSize: {PER_GROUP}
  maxSize: {PER_GROUP}
  subnets: [a, b]
{{% endfor %}}
"#
        ),
    )
    .unwrap();
    std::fs::write(repo.join("vars/bench.k8s.example.com.yaml"), "image: ami-760aaa0f\n").unwrap();

    let moto_port = free_port();
    let _moto = Kill(
        Command::new(python())
            .arg(root().join("tests/support/moto_launcher.py"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(moto_port);
    std::thread::sleep(Duration::from_secs(3));
    let moto = format!("http://127.0.0.1:{moto_port}");
    let image = py(
        r#"
import boto3, os
ep = os.environ['EP']
c = boto3.client('ec2', endpoint_url=ep, region_name='eu-west-3')
vpc = c.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
for i, z in enumerate(['eu-west-3a', 'eu-west-3b']):
    c.create_subnet(VpcId=vpc, CidrBlock=f'10.0.{i*64}.0/18', AvailabilityZone=z,
        TagSpecifications=[{'ResourceType': 'subnet', 'Tags': [{'Key': 'kubernetes.io/cluster/bench.k8s.example.com', 'Value': 'shared'}]}])
boto3.client('s3', endpoint_url=ep, region_name='us-east-1').create_bucket(Bucket='roll-bench')
print(c.register_image(Name='v2', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])
"#,
        &moto,
    );
    fleetform(repo, &moto, &["apply", "--all", "--yes", "-q"]);
    let set = format!("image={image}");
    fleetform(repo, &moto, &["apply", "--all", "--yes", "-q", "--set", &set]);

    let proxy_port = free_port();
    let _proxy = Kill(
        Command::new(python())
            .arg(root().join("tests/support/aws_proxy.py"))
            .args(["--port", &proxy_port.to_string(), "--target", &moto])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(proxy_port);
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    proxy_count(proxy_port, true);
    let (o, t) = fleetform(repo, &proxy, &["rolling-update", "--all", "--yes", "--poll-interval", "0.1s", "--set", &set, "-q"]);
    let requests = proxy_count(proxy_port, false);
    let _ = o;
    let left = py("import boto3, os; print(len([i for r in boto3.client('ec2', endpoint_url=os.environ['EP'], region_name='eu-west-3').describe_instances(Filters=[{'Name': 'image-id', 'Values': ['ami-760aaa0f']}, {'Name': 'instance-state-name', 'Values': ['running']}])['Reservations'] for i in r['Instances']]))", &moto);
    assert_eq!(left, "0", "every instance replaced");

    let n = GROUPS * PER_GROUP;
    let batches = GROUPS * PER_GROUP.div_ceil(SURGE);
    let minimum = batches as f64 * INTERVAL_S * 1.0;
    let total = t.as_secs_f64();
    println!("rolling update of {GROUPS} groups x {PER_GROUP} instances, surge {SURGE}, validateCount 2 every {INTERVAL_S} s ({batches} batches)");
    println!("  total                         {total:>7.1} s");
    println!("  minimum the settings allow    {minimum:>7.1} s  (1 validate interval per batch)");
    println!("  ratio                         {:>7.2}x the minimum", total / minimum);
    println!("  fleetform overhead            {:>7.0} ms per replaced instance  ((total - minimum) / {n})", (total - minimum) * 1000.0 / n as f64);
    println!("  AWS requests                  {:>7.1} per replaced instance  ({requests} in all)", requests as f64 / n as f64);
}
