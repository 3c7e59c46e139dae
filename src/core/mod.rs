//! The pure core: model, values, render, autoscaler artefacts, lint (and, in later modules, the
//! plan). Nothing here touches the network, the terminal or the file system: the repository is
//! read into memory by `crate::repo`, and results are returned as values for the commands to
//! print. That keeps every rule unit-testable and every output deterministic.

pub mod autoscaler;
pub mod bootstrap;
pub mod control_plane;
pub mod cost;
pub mod desired;
pub mod destroy;
pub mod diag;
pub mod duration;
pub mod instance_types;
pub mod kops;
pub mod lint;
pub mod live;
pub mod model;
pub mod overprovisioning;
pub mod plan;
pub mod reclaim;
pub mod render;
pub mod resources;
pub mod rolling;
pub mod schedule;
pub mod unused;
pub mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One text file of the user's repository, read into memory. `path` is relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        SourceFile { path: path.into(), text: text.into() }
    }
}

/// A file under `snippets/`, as the loader found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snippet {
    File(SourceFile),
    /// A symlink (or a path) whose target lies outside `snippets/`: never read.
    Escapes { path: PathBuf, target: PathBuf },
}

/// Everything render needs from the repository, in memory.
#[derive(Debug, Clone, Default)]
pub struct RepoFiles {
    /// By name relative to `snippets/`, e.g. `spot_4x_32Gb_machine_type.yaml`.
    pub snippets: std::sync::Arc<BTreeMap<String, Snippet>>,
    /// `templates/*`, in file-name order.
    pub templates: Vec<SourceFile>,
    /// `vars/_*.yaml`, in file-name order: inherited by every cluster.
    pub shared_vars: Vec<SourceFile>,
    /// `vars/<cluster>.yaml`, by cluster name.
    pub cluster_vars: BTreeMap<String, SourceFile>,
    /// `vars/layers/<name>.yaml`, by name: what a cluster's file inherits when it lists them
    /// (`layers: [staging, customer-acme]`), on top of the shared files.
    pub layers: BTreeMap<String, SourceFile>,
    /// `--values FILE`, in order: layers of one run, after the cluster's own file.
    pub extra_values: Vec<SourceFile>,
}

impl RepoFiles {
    pub fn cluster_names(&self) -> impl Iterator<Item = &str> {
        self.cluster_vars.keys().map(String::as_str)
    }
}
