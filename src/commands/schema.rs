//! `fleetform schema`: JSON Schema of the manifest kinds, for editors.
//!
//! Values files (vars/) are free-form by design — templates decide what they mean — so they have
//! no schema: a variable a template reads but no file sets is render's undefined-variable error,
//! and a key a file sets but no template reads is the exact check of `core::unused`.

use clap::{Args, ValueEnum};
use schemars::gen::SchemaGenerator;
use serde_json::{json, Value};

use crate::cli::{Settings, Status};
use crate::core::model::{ClusterManifest, NodeGroupManifest, API_VERSION};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// One document of clusters/<cluster>.yaml: a Cluster or a NodeGroup.
    Manifest,
    Cluster,
    NodeGroup,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(value_enum, default_value_t = SchemaKind::Manifest)]
    pub kind: SchemaKind,
}

pub fn run(s: &Settings, args: &SchemaArgs) -> anyhow::Result<Status> {
    s.printer.data(&format!("{}\n", serde_json::to_string_pretty(&schema(args.kind))?));
    Ok(Status::Success)
}

/// The schema as JSON. `kind` and `apiVersion` are constants per kind, so editors pick the right
/// branch of the `oneOf` and complete field names.
pub fn schema(kind: SchemaKind) -> Value {
    let mut gen = SchemaGenerator::default();
    let c = gen.subschema_for::<ClusterManifest>();
    let n = gen.subschema_for::<NodeGroupManifest>();
    let defs = gen.take_definitions();
    let mut defs = serde_json::to_value(defs).expect("schemas serialize");
    for (name, k) in [("ClusterManifest", "Cluster"), ("NodeGroupManifest", "NodeGroup")] {
        if let Some(props) = defs.get_mut(name).and_then(|d| d.get_mut("properties")) {
            props["kind"] = json!({"const": k, "description": format!("Always `{k}`.")});
            props["apiVersion"] = json!({"const": API_VERSION});
        }
    }
    let root = match kind {
        SchemaKind::Manifest => json!({"oneOf": [c, n]}),
        SchemaKind::Cluster => serde_json::to_value(c).unwrap(),
        SchemaKind::NodeGroup => serde_json::to_value(n).unwrap(),
    };
    let mut out = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": format!("fleetform manifest ({API_VERSION})"),
    });
    for (k, v) in root.as_object().unwrap() {
        out[k] = v.clone();
    }
    out["definitions"] = defs;
    out
}
