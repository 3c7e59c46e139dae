//! Benchmark: a rolling update of 10 groups × 10 instances with surge 2 in the local AWS
//! emulator (instances start at once there, so what remains is fleetform's own work and the
//! waits the settings ask for). Reports, in one run:
//! * the total wall time against the minimum the settings allow (validateCount 2 with a 1 s
//!   interval: at least 1 s per batch, 50 batches);
//! * fleetform's own overhead per replaced instance: (total − that minimum) / instances;
//! * AWS requests per replaced instance, counted by the local proxy.
//!
//! Run by hand (not in CI): `cargo bench --bench rolling`. Needs .venv (./scripts/setup-venv).

#[path = "support/emulator.rs"]
mod emulator;

use emulator::{fleetform, moto, proxy, proxy_count, py};

const GROUPS: usize = 10;
const PER_GROUP: usize = 10;
const SURGE: usize = 2;
const INTERVAL_S: f64 = 1.0;

/// The release binary, which must succeed.
fn ok(repo: &std::path::Path, ep: &str, args: &[&str]) -> std::time::Duration {
    let (o, t) = fleetform(repo, ep, args);
    assert!(o.status.success(), "fleetform {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    t
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

    let (_moto, moto) = moto();
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
print(c.register_image(Name='node-image-v2', RootDeviceName='/dev/xvda', Architecture='x86_64')['ImageId'])
"#,
        &moto,
    );
    ok(repo, &moto, &["apply", "--all", "--yes", "-q"]);
    let set = format!("image={image}");
    ok(repo, &moto, &["apply", "--all", "--yes", "-q", "--set", &set]);

    let (_proxy, proxy, proxy_port) = proxy(&moto, &[]);
    proxy_count(proxy_port, true);
    let t = ok(repo, &proxy, &["rolling-update", "--all", "--yes", "--poll-interval", "0.1s", "--set", &set, "-q"]);
    let requests = proxy_count(proxy_port, false);
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
