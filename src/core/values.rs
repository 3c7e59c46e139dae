//! Values: what a template sees for one cluster.
//!
//! The shared files in `vars/` (every `vars/_*.yaml`, in file-name order) are deep-merged, then the
//! cluster's own `vars/<cluster>.yaml`, then each `--set a.b=c` in the order given. Maps merge key
//! by key; everything else (scalars, lists) replaces — the convention of kops and Helm, so that a
//! cluster can override one field of a shared map without repeating the rest, and a list is
//! always exactly what the last file says.

use serde_yaml::{Mapping, Value};

use super::diag::{line_col, Diagnostic};
use super::SourceFile;

/// Which file (and line) set each value that won: leaf path (`spot.maxSize`) → origin. Kept
/// while merging with the same rule as [`deep_merge`]: a leaf (scalar or list) replaces what was
/// there, maps merge key by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origins {
    pub by_path: std::collections::BTreeMap<Vec<String>, String>,
}

impl Origins {
    /// Record the leaves of `values`, read from `file`, as the latest word on their paths.
    pub fn record_file(&mut self, file: &SourceFile, values: &Mapping) {
        let mut leaves = Vec::new();
        leaf_paths(values, &mut Vec::new(), &mut leaves);
        for path in leaves {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            let line = super::render::find_key_line(&file.text, &segs).unwrap_or(1);
            self.set(path, format!("{}:{line}", file.path.display()));
        }
    }

    /// Record a `--set`.
    pub fn record_set(&mut self, set: &SetOverride) {
        self.set(set.path.clone(), format!("--set {}", set.path.join(".")));
    }

    fn set(&mut self, path: Vec<String>, origin: String) {
        // What lay under this path (a map now replaced by a leaf) and above it (a leaf now
        // replaced by a map) no longer wins.
        self.by_path.retain(|p, _| !(p.starts_with(&path) || path.starts_with(p)));
        self.by_path.insert(path, origin);
    }
}

fn leaf_paths(m: &Mapping, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in m {
        let key = match k {
            Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
        };
        prefix.push(key);
        match v {
            Value::Mapping(inner) => leaf_paths(inner, prefix, out), // an empty map changes nothing
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// Parse a values file into a mapping. An empty file is an empty mapping.
pub fn parse_values(file: &SourceFile) -> Result<Mapping, Diagnostic> {
    if file.text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    check_nesting(file)?;
    let value: Value = serde_yaml::from_str(&file.text).map_err(|e| yaml_error(file, &e))?;
    match value {
        Value::Mapping(m) => {
            check_keys(file, &m, &mut Vec::new())?;
            Ok(m)
        }
        Value::Null => Ok(Mapping::new()),
        other => Err(Diagnostic::new(
            &file.path,
            1,
            1,
            format!("a values file must be a map of names to values, this one is {}", kind_name(&other)),
        )
        .with_source(&file.text)
        .with_help("write `name: value` pairs at the top level, e.g. `spotMaxSize: 100`")),
    }
}

/// Deepest nesting of YAML accepted: far beyond any values file, and a bound on the parser's
/// work (deep flow nesting makes it quadratic: 16k levels took seconds).
pub const MAX_NESTING: usize = 64;

/// Refuse nesting past [`MAX_NESTING`] before parsing: flow brackets, and block indentation.
pub fn check_nesting(file: &SourceFile) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, line) in file.text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut prev = ' ';
        for (j, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q && prev != '\\' => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if prev == ' ' || prev == '[' || prev == '{' || prev == ',' || prev == ':' || j == 0 => quote = Some(c),
                (None, '#') if prev == ' ' || j == 0 => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Diagnostic::new(&file.path, i + 1, j + 1, format!("values nested more than {MAX_NESTING} levels deep"))
                            .with_source(&file.text)
                            .with_help("flatten the values; templates read a few levels at most"));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        if depth > MAX_NESTING || indent / 2 > MAX_NESTING {
            return Err(Diagnostic::new(&file.path, i + 1, 1, format!("values nested more than {MAX_NESTING} levels deep"))
                .with_source(&file.text)
                .with_help("flatten the values; templates read a few levels at most"));
        }
    }
    Ok(())
}

/// Keys of a values file must be strings or numbers (they become template variables); the
/// error names this file and the key's line.
fn check_keys(file: &SourceFile, m: &Mapping, path: &mut Vec<String>) -> Result<(), Diagnostic> {
    for (k, v) in m {
        let name = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                let at = if path.is_empty() { String::from("the top level") } else { format!("`{}`", path.join(".")) };
                let line = file.text.lines().position(|l| {
                    let t = l.trim_start();
                    t.starts_with(['[', '{', '?', '~']) || t.starts_with("null:") || t.starts_with("true:") || t.starts_with("false:")
                });
                return Err(Diagnostic::new(&file.path, line.map_or(0, |l| l + 1), 1, format!("a key at {at} is {}, not a name", kind_name(other)))
                    .with_source(&file.text)
                    .with_help("keys of values are names (strings) or numbers; quote the key"));
            }
        };
        if let Value::Mapping(inner) = v {
            path.push(name);
            check_keys(file, inner, path)?;
            path.pop();
        }
    }
    Ok(())
}

/// A YAML syntax error in `file`, located.
pub fn yaml_error(file: &SourceFile, err: &serde_yaml::Error) -> Diagnostic {
    let (mut line, mut column) = match err.location() {
        Some(loc) => (loc.line(), loc.column()),
        None => (0, 0),
    };
    // serde_yaml appends " at line X column Y" to its messages; the location is shown anyway.
    let msg = strip_location(&err.to_string());
    // A duplicate key is reported by serde_yaml at the start of its map: find its second use.
    if let Some(key) = msg.find("duplicate entry with key ").map(|i| msg[i + "duplicate entry with key ".len()..].trim_matches('"').to_string()) {
        let hits: Vec<usize> = file.text.lines().enumerate().filter(|(_, l)| l.trim_start().strip_prefix(key.as_str()).is_some_and(|r| r.trim_start().starts_with(':'))).map(|(i, _)| i + 1).collect();
        if let Some(second) = hits.get(1) {
            line = *second;
            column = file.text.lines().nth(second - 1).map_or(1, |l| l.len() - l.trim_start().len() + 1);
            let mut d = Diagnostic::new(&file.path, line, column, format!("invalid YAML: the key `{key}` is given twice in one map")).with_source(&file.text);
            d = d.with_note(format!("the first one is on line {}", hits[0]));
            return d.with_help("keep one of them (a later key does not override an earlier one in the same file)");
        }
    }
    let mut d = Diagnostic::new(&file.path, line, column, format!("invalid YAML: {msg}")).with_source(&file.text);
    if msg.contains("did not find expected") {
        d = d.with_note("the parser noticed here; the bracket or quote left open may be on a line above");
    }
    d
        .with_help("fix the YAML syntax at this place (indentation, a missing `:`, an unclosed bracket or quote)")
}

pub(crate) fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Merge `over` into `base`: maps merge recursively, anything else replaces.
pub fn deep_merge(base: &mut Mapping, over: Mapping) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// One `--set path.to.key=value`. The value is read as a YAML scalar, as Helm does:
/// `--set spot.maxSize=50` sets a number, `--set x=true` a boolean, `--set x='"50"'` a string.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOverride {
    pub path: Vec<String>,
    pub value: Value,
    pub raw: String,
}

impl std::str::FromStr for SetOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`--set {s}` has no `=`; write it as `--set path.to.key=value`"))?;
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("`--set {s}` has an empty name in its path; write it as `--set a.b=value`"));
        }
        let value = if value.is_empty() {
            Value::String(String::new())
        } else {
            match serde_yaml::from_str::<Value>(value) {
                Ok(v) => v,
                // Meant as YAML (a list, a map, a quoted string) but not YAML: an error, not a
                // string that silently sets something else.
                Err(e) if value.trim_start().starts_with(['[', '{', '"', '\'']) => {
                    return Err(format!("`--set {s}`: the value is not valid YAML ({}); close the brackets or quotes, or quote the whole value", strip_location(&e.to_string())));
                }
                Err(_) => Value::String(value.to_string()),
            }
        };
        Ok(SetOverride { path, value, raw: s.to_string() })
    }
}

/// Apply one override; intermediate maps are created, a scalar in the way is replaced by a map.
pub fn apply_set(values: &mut Mapping, set: &SetOverride) {
    let mut cur = values;
    let (last, parents) = set.path.split_last().expect("path is never empty");
    for key in parents {
        let k = Value::String(key.clone());
        if !matches!(cur.get(&k), Some(Value::Mapping(_))) {
            cur.insert(k.clone(), Value::Mapping(Mapping::new()));
        }
        cur = match cur.get_mut(&k) {
            Some(Value::Mapping(m)) => m,
            _ => unreachable!("inserted a mapping just above"),
        };
    }
    cur.insert(Value::String(last.clone()), set.value.clone());
}

/// Turn merged values into the JSON value Tera renders with. Keys must be strings or numbers.
pub fn to_context_value(values: &Mapping) -> Result<serde_json::Value, String> {
    serde_json::to_value(values).map_err(|e| format!("values cannot be used in a template: {e}"))
}

/// The byte offset of the first invalid UTF-8 byte, as a located diagnostic.
pub fn non_utf8(path: &std::path::Path, bytes: &[u8], err: &std::str::Utf8Error) -> Diagnostic {
    let valid = err.valid_up_to();
    let text = String::from_utf8_lossy(&bytes[..valid]);
    let (line, column) = line_col(&text, valid);
    Diagnostic::new(
        path,
        line,
        column,
        format!("file is not valid UTF-8 (byte 0x{:02x} at offset {valid})", bytes[valid]),
    )
    .with_help("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), fleetform reads only UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Mapping {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn maps_merge_and_lists_replace() {
        let mut base = m("a: {x: 1, y: 2}\nl: [1, 2]\ns: old");
        deep_merge(&mut base, m("a: {y: 3, z: 4}\nl: [9]\ns: new"));
        assert_eq!(base, m("a: {x: 1, y: 3, z: 4}\nl: [9]\ns: new"));
    }

    #[test]
    fn set_reads_yaml_scalars_and_creates_maps() {
        let mut v = m("spot: {min: 1}\nscalar: 3");
        apply_set(&mut v, &"spot.max=50".parse().unwrap());
        apply_set(&mut v, &"scalar.inner=true".parse().unwrap());
        apply_set(&mut v, &"name=prod".parse().unwrap());
        assert_eq!(v, m("spot: {min: 1, max: 50}\nscalar: {inner: true}\nname: prod"));
    }

    #[test]
    fn set_rejects_bad_forms() {
        assert!("novalue".parse::<SetOverride>().is_err());
        assert!("a..b=1".parse::<SetOverride>().is_err());
    }

    #[test]
    fn non_mapping_values_file_is_an_error() {
        let f = SourceFile::new("vars/_x.yaml", "- a\n- b\n");
        let d = parse_values(&f).unwrap_err();
        assert!(d.message.contains("must be a map"), "{d}");
    }

    #[test]
    fn yaml_syntax_error_is_located() {
        let f = SourceFile::new("vars/x.yaml", "a: 1\nb: [1, 2\n");
        let d = parse_values(&f).unwrap_err();
        assert_eq!(d.file.to_str(), Some("vars/x.yaml"));
        assert!(d.line >= 2, "{d}");
    }
}
