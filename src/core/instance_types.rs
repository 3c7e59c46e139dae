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

/// Where lint's instance-type facts come from: fleetform's table, types a repository adds
/// (`instance-types.csv`), or AWS's own answer (DescribeInstanceTypes, per region) — in that
/// order of precedence, the last winning. Pure: the AWS rows are read elsewhere.
#[derive(Debug, Clone, Default)]
pub struct TypeTable {
    extra: HashMap<String, InstanceType>,
    /// Only these types exist (AWS said so for the region): the table is not consulted.
    authoritative: bool,
    /// How the table came to be, for the lint summary.
    pub source: String,
}

impl TypeTable {
    /// fleetform's table alone.
    pub fn builtin() -> TypeTable {
        TypeTable { extra: HashMap::new(), authoritative: false, source: "fleetform's table".into() }
    }

    /// Types of a repository's `instance-types.csv` (`type,vcpu,memory_gib,arch`) on top of
    /// fleetform's table; an error names the line.
    pub fn with_repository_types(mut self, file: &str, text: &str) -> Result<TypeTable, (usize, String)> {
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with("type,") {
                continue;
            }
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let row = (|| {
                let [name, vcpu, mem, arch] = f.as_slice() else { return Err("want 4 columns: type,vcpu,memory_gib,arch".to_string()) };
                let arch = arch_name(arch).ok_or_else(|| format!("architecture `{arch}` is not x86_64 or arm64"))?;
                let vcpu: u32 = vcpu.parse().map_err(|_| format!("vCPU `{vcpu}` is not a whole number"))?;
                let memory_gib: f64 = mem.parse().ok().filter(|m: &f64| m.is_finite() && *m > 0.0).ok_or_else(|| format!("memory `{mem}` is not a size in GiB"))?;
                Ok((name.to_string(), InstanceType { vcpu, memory_gib, arch }))
            })();
            match row {
                Ok((n, t)) => {
                    self.extra.insert(n, t);
                }
                Err(e) => return Err((i + 1, e)),
            }
        }
        self.source = format!("{} + {file}", self.source);
        Ok(self)
    }

    /// What AWS answered for a region: the types that exist there (plus the repository's).
    pub fn from_aws(region: &str, rows: Vec<(String, InstanceType)>, repository: &TypeTable) -> TypeTable {
        let mut extra: HashMap<String, InstanceType> = rows.into_iter().collect();
        for (k, v) in &repository.extra {
            extra.entry(k.clone()).or_insert(*v);
        }
        TypeTable { extra, authoritative: true, source: format!("AWS in {region}") }
    }

    /// AWS's answer for a region: a type it does not list is not offered there.
    pub fn is_aws(&self) -> bool {
        self.authoritative
    }

    pub fn lookup(&self, name: &str) -> Option<InstanceType> {
        match self.extra.get(name) {
            Some(t) => Some(*t),
            None if self.authoritative => None,
            None => lookup(name),
        }
    }

    /// Every type known with its facts, sorted by name.
    pub fn all(&self) -> Vec<(&str, InstanceType)> {
        let mut v: Vec<(&str, InstanceType)> = self.extra.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        if !self.authoritative {
            v.extend(table().iter().filter(|(k, _)| !self.extra.contains_key(**k)).map(|(k, t)| (*k, *t)));
        }
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Every type known, sorted (for a did-you-mean).
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.extra.keys().map(String::as_str).collect();
        if !self.authoritative {
            v.extend(table().keys().copied());
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// `x86_64` or `arm64` as the static names the table uses (AWS says `x86_64`, `arm64`, `i386`…).
pub fn arch_name(a: &str) -> Option<&'static str> {
    match a {
        "x86_64" => Some("x86_64"),
        "arm64" => Some("arm64"),
        _ => None,
    }
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

    #[test]
    fn a_repository_adds_types_and_aws_is_authoritative() {
        let t = TypeTable::builtin().with_repository_types("instance-types.csv", "type,vcpu,memory_gib,arch\nc9.mega,96,192,x86_64\n").unwrap();
        assert_eq!(t.lookup("c9.mega").map(|x| x.vcpu), Some(96));
        assert!(t.lookup("c5.4xlarge").is_some(), "the table still answers");
        assert_eq!(TypeTable::builtin().with_repository_types("f", "c9.mega,96,lots,x86_64\n").unwrap_err(), (1, "memory `lots` is not a size in GiB".to_string()));
        let aws = TypeTable::from_aws("eu-west-1", vec![("m5.large".into(), InstanceType { vcpu: 2, memory_gib: 8.0, arch: "x86_64" })], &t);
        assert!(aws.lookup("c5.4xlarge").is_none(), "not offered in the region: AWS said so");
        assert!(aws.lookup("c9.mega").is_some() && aws.lookup("m5.large").is_some());
        assert_eq!(aws.names(), vec!["c9.mega", "m5.large"]);
    }
}
