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

/// A taint as `check_taint` takes it: a key, an optional `=value`, and an effect.
pub const TAINT_PATTERN: &str = "^[^=]+(=.*)?:(NoSchedule|PreferNoSchedule|NoExecute)$";
/// A count, or a percentage from 0% to 100% (IntOrPercent).
pub const INT_OR_PERCENT_PATTERN: &str = "^\\s*(0*(100|[1-9]?[0-9])\\s*%|[0-9]+)\\s*$";

/// Remove schemars' `format`s that are not JSON Schema's (`uint32`, `int32`, `double`…: ajv in
/// strict mode refuses them); an unsigned one becomes `minimum: 0`.
fn standard_formats_only(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(f)) = m.get("format") {
                let f = f.clone();
                if !matches!(f.as_str(), "date-time" | "date" | "time" | "email" | "hostname" | "ipv4" | "ipv6" | "uri" | "uri-reference" | "regex") {
                    m.remove("format");
                    if f.starts_with("uint") && !m.contains_key("minimum") {
                        m.insert("minimum".into(), json!(0));
                    }
                }
            }
            for (_, x) in m.iter_mut() {
                standard_formats_only(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(standard_formats_only),
        _ => {}
    }
}

/// The schema as JSON. `kind` and `apiVersion` are constants per kind, and the document's `kind`
/// selects its branch (if/then), so editors complete field names and report errors of that kind.
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
    standard_formats_only(&mut defs);
    // What the binary checks and a schema can say too: a taint's effect, a count or a
    // percentage, a priority the expander can pick, the kops name of the control-plane role.
    if let Some(p) = defs.pointer_mut("/NodeGroupSpec/properties") {
        p["taints"]["items"] = json!({"type": "string", "pattern": TAINT_PATTERN,
            "description": "key=value:Effect or key:Effect; Effect is NoSchedule, PreferNoSchedule or NoExecute"});
        p["autoscalePriority"]["minimum"] = json!(-1);
    }
    if let Some(role) = defs.get_mut("Role").and_then(|r| r.get_mut("enum")).and_then(Value::as_array_mut) {
        if !role.contains(&json!("Master")) {
            role.push(json!("Master"));
        }
    }
    if let Some(d) = defs.get_mut("IntOrPercent") {
        let description = d.get("description").cloned();
        *d = json!({"anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 4294967295u64},
            {"type": "string", "pattern": INT_OR_PERCENT_PATTERN},
        ]});
        if let Some(desc) = description {
            d["description"] = desc;
        }
    }
    // A document's kind picks its schema (if/then), so an editor's error about a NodeGroup is
    // about the NodeGroup, never "region is required".
    let kind_of = |k: &str| json!({"properties": {"kind": {"const": k}}, "required": ["kind"]});
    let root = match kind {
        SchemaKind::Manifest => json!({
            "type": "object",
            "required": ["apiVersion", "kind"],
            "properties": {"kind": {"enum": ["Cluster", "NodeGroup"]}},
            "if": kind_of("Cluster"),
            "then": c,
            "else": {"if": kind_of("NodeGroup"), "then": n},
        }),
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
