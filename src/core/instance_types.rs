//! EC2 instance types: vCPU, memory and architecture, from the table the project keeps in
//! `data/ec2-instance-types.csv` (taken from the AWS EC2 documentation; see its header and
//! `scripts/gen-instance-types.py`). Compiled into the binary: lint never calls AWS, and an
//! unknown type is reported, never guessed.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../../data/ec2-instance-types.csv");

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceType {
    pub vcpu: u32,
    pub memory_gib: f64,
    pub arch: &'static str,
}

fn table() -> &'static HashMap<&'static str, InstanceType> {
    static T: OnceLock<HashMap<&'static str, InstanceType>> = OnceLock::new();
    T.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("type,") && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&'static str> = l.split(',').collect();
                let t = InstanceType {
                    vcpu: f[1].parse().expect("vcpu column is a number"),
                    memory_gib: f[2].parse().expect("memory column is a number"),
                    arch: f[3],
                };
                (f[0], t)
            })
            .collect()
    })
}

/// Every type the table knows (for a did-you-mean).
pub fn names() -> impl Iterator<Item = &'static str> {
    let mut v: Vec<&'static str> = table().keys().copied().collect();
    v.sort_unstable();
    v.into_iter()
}

/// Look up an instance type such as `c5.4xlarge`.
pub fn lookup(name: &str) -> Option<InstanceType> {
    table().get(name).copied()
}

/// Number of known types (for docs and tests).
pub fn count() -> usize {
    table().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn known_types() {
        assert_eq!(lookup("c5.4xlarge").unwrap().vcpu, 16);
        assert_eq!(lookup("c5n.4xlarge").unwrap().memory_gib, 42.0);
        assert_eq!(lookup("m5.8xlarge").unwrap().vcpu, lookup("r5.8xlarge").unwrap().vcpu);
        assert_eq!(lookup("m6g.xlarge").unwrap().arch, "arm64");
        assert!(lookup("c5.8xlarge").is_none(), "c5 has 9xlarge, not 8xlarge");
        assert!(count() > 300);
    }
}
