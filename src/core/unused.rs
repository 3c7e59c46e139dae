//! Values no template reads: the typo that silently does nothing.
//!
//! A cluster file that says `spot: {maxSzie: 50}` overrides nothing — the shared `maxSize` stays —
//! and no render error tells; nor does `spotMaxx:` inside one pool of a `pools:` list that a
//! template loops over. This check is exact, not a guess from the text: it reads the templates
//! and snippets the way Tera does (its own parser) and follows every value path they can reach,
//! loop variables and `set` aliases resolved to the paths they stand for:
//!
//! ```text
//! {% for pool in pools %}{% for size in pool.sizes %}{{ size.spotTypes }}
//!     reads pools[*].sizes[*].spotTypes
//! ```
//!
//! A key of a values file is used when some path the templates read goes through it or a value
//! above it is read whole (printed, passed to a filter or a function, compared); a key tested
//! for truth (`{% if x %}`, `x is defined`) is used, its children are not by that. What cannot be
//! followed statically (a key computed at render time, `a[name]`) counts as reading every key at
//! that level, so the check never warns about a key a template could read: it reports a key only
//! when no expression of any template or snippet can reach it. Where the static answer has
//! several possibilities (a name `set` in both branches of an `if`), each counts. A macro's body
//! reads the context too (Tera looks a name up in the macro's frame, then in the context); its
//! arguments are read whole at the call.
//!
//! Tera's AST is public but documented as outside its stability promise; Cargo.lock pins the
//! version this walk was written against (a change would fail this module's tests, not users).

use std::collections::{BTreeSet, HashMap};

use serde_yaml::{Mapping, Value};
use tera::ast::{Expr, ExprVal, LogicOperator, Node};

use super::diag::{did_you_mean, Diagnostic};
use super::{RepoFiles, Snippet, SourceFile};

/// One step of a path the templates read: a key (or list index), or any key / any item (a
/// loop's element, a key computed at render time).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Any,
}

/// One step of a path in a values file.
#[derive(Clone, Debug)]
enum At {
    Key(String),
    Index(usize),
}

impl Seg {
    fn matches(&self, at: &At) -> bool {
        match (self, at) {
            (Seg::Any, _) => true,
            (Seg::Key(k), At::Key(a)) => k == a,
            (Seg::Key(k), At::Index(i)) => k.parse::<usize>().is_ok_and(|n| n == *i),
        }
    }
}

fn prefix_matches(pattern: &[Seg], path: &[At]) -> bool {
    pattern.len() <= path.len() && pattern.iter().zip(path).all(|(s, a)| s.matches(a))
}

/// Every value path the templates and snippets of a repository read.
#[derive(Debug, Default)]
pub struct Reads {
    /// Read whole: everything beneath is used.
    whole: BTreeSet<Vec<Seg>>,
    /// Reached: read, tested or walked through (each prefix is reached too).
    reached: BTreeSet<Vec<Seg>>,
    /// `__tera_context`: the whole context is read.
    everything: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Use {
    Whole,
    Test,
}

/// What a name stands for: the value paths it may be (several when it is `set` differently in
/// branches, or set again), and whether it may also be something no value path names (a loop
/// key, `loop`, a macro argument, a computed value).
#[derive(Clone, Default)]
struct Binding {
    paths: Vec<Vec<Seg>>,
    opaque: bool,
}

impl Binding {
    fn path(p: Vec<Seg>) -> Binding {
        Binding { paths: vec![p], opaque: false }
    }
    fn opaque() -> Binding {
        Binding { paths: Vec::new(), opaque: true }
    }
    /// Both possibilities: a later `set` may or may not have run (a branch, a loop).
    fn union(mut self, other: &Binding) -> Binding {
        for p in &other.paths {
            if !self.paths.contains(p) {
                self.paths.push(p.clone());
            }
        }
        self.opaque |= other.opaque;
        self
    }
}

/// Frames of names: the first is the template's own (`set` at the top, `set_global`).
struct Scope {
    frames: Vec<HashMap<String, Binding>>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope { frames: vec![HashMap::new()] }
    }
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.frames.iter().rev().find_map(|f| f.get(name))
    }
    /// Bind `name` in frame `at`; a name bound before keeps its old meaning too (the static walk
    /// cannot tell which one a later use sees).
    fn bind_at(&mut self, at: usize, name: &str, b: Binding) {
        let before = self.lookup(name).cloned();
        let b = match before {
            Some(old) => b.union(&old),
            None => b,
        };
        self.frames[at].insert(name.to_string(), b);
    }
}

impl Reads {
    /// The reads of every template and snippet. A file Tera cannot parse is skipped: render
    /// reports it, with its line.
    pub fn of(repo: &RepoFiles) -> Reads {
        let mut r = Reads::default();
        let snippets = repo.snippets.values().filter_map(|s| match s {
            Snippet::File(f) => Some(f),
            Snippet::Escapes { .. } => None,
        });
        for f in repo.templates.iter().chain(snippets) {
            let src = super::render::preprocess(&f.text);
            if let Ok(t) = tera::Template::new(&f.path.to_string_lossy(), None, &src) {
                // Snippets are rendered with the cluster's values, not the caller's loop
                // variables: each file starts at the top of the context.
                r.nodes(&t.ast, &mut Scope::default());
            }
        }
        r
    }

    fn nodes(&mut self, nodes: &[Node], scope: &mut Scope) {
        for n in nodes {
            match n {
                Node::VariableBlock(_, e) => self.expr(e, scope, Use::Whole),
                Node::Set(_, s) => {
                    let b = self.bind_expr(&s.value, scope);
                    let at = if s.global { 0 } else { scope.frames.len() - 1 };
                    scope.bind_at(at, &s.key, b);
                }
                Node::FilterSection(_, fs, _) => {
                    for a in fs.filter.args.values() {
                        self.expr(a, scope, Use::Whole);
                    }
                    self.nodes(&fs.body, scope);
                }
                Node::Block(_, b, _) => self.nodes(&b.body, scope),
                Node::Forloop(_, f, _) => {
                    let container = self.bind_expr(&f.container, scope);
                    let mut element = Binding { paths: Vec::new(), opaque: container.opaque };
                    for mut p in container.paths {
                        p.push(Seg::Any);
                        self.reach(&p, Use::Test);
                        element.paths.push(p);
                    }
                    let mut frame = HashMap::new();
                    frame.insert("loop".to_string(), Binding::opaque());
                    if let Some(k) = &f.key {
                        frame.insert(k.clone(), Binding::opaque());
                    }
                    frame.insert(f.value.clone(), element);
                    scope.frames.push(frame);
                    self.nodes(&f.body, scope);
                    scope.frames.pop();
                    if let Some(body) = &f.empty_body {
                        self.nodes(body, scope);
                    }
                }
                Node::If(i, _) => {
                    for (_, cond, body) in &i.conditions {
                        self.expr(cond, scope, Use::Test);
                        self.nodes(body, scope);
                    }
                    if let Some((_, body)) = &i.otherwise {
                        self.nodes(body, scope);
                    }
                }
                // A macro's body: its arguments are its own names (read whole at the call); any
                // other name is the context's, as Tera looks it up.
                Node::MacroDefinition(_, m, _) => {
                    let mut inner = Scope::default();
                    for (arg, default) in &m.args {
                        if let Some(d) = default {
                            self.expr(d, &mut inner, Use::Whole);
                        }
                        inner.frames[0].insert(arg.clone(), Binding::opaque());
                    }
                    self.nodes(&m.body, &mut inner);
                }
                Node::Super
                | Node::Text(_)
                | Node::Extends(..)
                | Node::Include(..)
                | Node::ImportMacro(..)
                | Node::Raw(..)
                | Node::Break(_)
                | Node::Continue(_)
                | Node::Comment(..) => {}
            }
        }
    }

    /// What a name bound by `set` or a loop stands for: a value path when the expression is one
    /// (filters aside, which read it whole), otherwise nothing the values can name.
    fn bind_expr(&mut self, e: &Expr, scope: &mut Scope) -> Binding {
        match &e.val {
            ExprVal::Ident(s) => {
                for f in &e.filters {
                    for a in f.args.values() {
                        self.expr(a, scope, Use::Whole);
                    }
                }
                let use_ = if e.filters.is_empty() { Use::Test } else { Use::Whole };
                self.ident(s, scope, use_)
            }
            _ => {
                self.expr(e, scope, Use::Whole);
                Binding::opaque()
            }
        }
    }

    fn expr(&mut self, e: &Expr, scope: &mut Scope, use_: Use) {
        // `length` reads how many, not which: a test of the value, like truth. Any other filter
        // reads the value whole.
        let use_ = if e.filters.is_empty() {
            use_
        } else if e.filters.iter().all(|f| f.name == "length") {
            Use::Test
        } else {
            Use::Whole
        };
        for f in &e.filters {
            for a in f.args.values() {
                self.expr(a, scope, Use::Whole);
            }
        }
        match &e.val {
            ExprVal::Ident(s) => {
                self.ident(s, scope, use_);
            }
            ExprVal::Math(m) => {
                self.expr(&m.lhs, scope, Use::Whole);
                self.expr(&m.rhs, scope, Use::Whole);
            }
            ExprVal::Logic(l) => {
                let side = if matches!(l.operator, LogicOperator::And | LogicOperator::Or) { use_ } else { Use::Whole };
                self.expr(&l.lhs, scope, side);
                self.expr(&l.rhs, scope, side);
            }
            ExprVal::Test(t) => {
                // `x is containing("k")` asks for a key (or an item) by value: x is read whole.
                let read = if t.name == "containing" { Use::Whole } else { Use::Test };
                self.ident(&t.ident, scope, read);
                for a in &t.args {
                    self.expr(a, scope, Use::Whole);
                }
            }
            ExprVal::MacroCall(m) => {
                for a in m.args.values() {
                    self.expr(a, scope, Use::Whole);
                }
            }
            ExprVal::FunctionCall(f) => {
                for a in f.args.values() {
                    self.expr(a, scope, Use::Whole);
                }
            }
            ExprVal::Array(items) => {
                for a in items {
                    self.expr(a, scope, Use::Whole);
                }
            }
            ExprVal::StringConcat(c) => {
                for v in &c.values {
                    let e = Expr { val: v.clone(), negated: false, filters: Vec::new() };
                    self.expr(&e, scope, Use::Whole);
                }
            }
            ExprVal::In(i) => {
                self.expr(&i.lhs, scope, Use::Whole);
                self.expr(&i.rhs, scope, Use::Whole);
            }
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
        }
    }

    /// Record the read of a Tera identifier (`a.b`, `a[0]`, `a["k"]`, `a[name].b`); the path it
    /// stands for, when it is one.
    fn ident(&mut self, s: &str, scope: &mut Scope, use_: Use) -> Binding {
        let (head, rest) = split_head(s);
        if head == "__tera_context" {
            self.everything = true;
            return Binding::opaque();
        }
        let bases = match scope.lookup(head) {
            Some(b) => b.clone(),
            None => Binding::path(vec![Seg::Key(head.to_string())]),
        };
        let mut tail = Vec::new();
        for step in steps(rest) {
            match step {
                Step::Key(k) => tail.push(Seg::Key(k)),
                Step::Dynamic(inner) => {
                    self.ident(&inner, scope, Use::Whole);
                    tail.push(Seg::Any);
                }
            }
        }
        let mut out = Binding { paths: Vec::new(), opaque: bases.opaque };
        for mut p in bases.paths {
            p.extend(tail.iter().cloned());
            self.reach(&p, use_);
            out.paths.push(p);
        }
        out
    }

    fn reach(&mut self, path: &[Seg], use_: Use) {
        self.reached.insert(path.to_vec());
        if use_ == Use::Whole {
            self.whole.insert(path.to_vec());
        }
    }

    fn covered(&self, path: &[At]) -> bool {
        self.everything || self.whole.iter().any(|w| prefix_matches(w, path))
    }

    fn is_reached(&self, path: &[At]) -> bool {
        self.reached.iter().any(|r| prefix_matches(&r[..r.len().min(path.len())], path) && r.len() >= path.len())
    }

    /// Keys the templates read beside `path`'s last step: the candidates of a did-you-mean.
    fn siblings(&self, parent: &[At]) -> BTreeSet<String> {
        self.reached
            .iter()
            .filter(|r| r.len() > parent.len() && prefix_matches(&r[..parent.len()], parent))
            .filter_map(|r| match &r[parent.len()] {
                Seg::Key(k) => Some(k.clone()),
                Seg::Any => None,
            })
            .collect()
    }

    /// Warnings for keys of `file`, at any depth, that no template can read.
    pub fn unused_values(&self, file: &SourceFile, values: &Mapping) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.walk_map(file, values, &mut Vec::new(), &mut out);
        out
    }

    fn walk_map(&self, file: &SourceFile, map: &Mapping, path: &mut Vec<At>, out: &mut Vec<Diagnostic>) {
        for (k, v) in map {
            let key = match k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if path.is_empty() && (key == "clusterName" || key == super::render::LAYERS_KEY) {
                continue;
            }
            path.push(At::Key(key));
            self.walk_value(file, v, path, out);
            path.pop();
        }
    }

    fn walk_value(&self, file: &SourceFile, v: &Value, path: &mut Vec<At>, out: &mut Vec<Diagnostic>) {
        if self.covered(path) {
            return;
        }
        if !self.is_reached(path) {
            // A list item no template reaches (only `zones[0]` is read, say) is not a typo; a key is.
            if matches!(path.last(), Some(At::Key(_))) {
                out.push(self.warn(file, path));
            }
            return;
        }
        match v {
            Value::Mapping(m) => self.walk_map(file, m, path, out),
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(At::Index(i));
                    self.walk_value(file, item, path, out);
                    path.pop();
                }
            }
            Value::Tagged(t) => self.walk_value(file, &t.value, path, out),
            _ => {}
        }
    }

    fn warn(&self, file: &SourceFile, path: &[At]) -> Diagnostic {
        let name = show_path(path);
        let (line, column) = locate(&file.text, path);
        let d = Diagnostic::new(&file.path, line, column, format!("`{name}` is not used by any template")).with_source(&file.text);
        let last = match path.last() {
            Some(At::Key(k)) => k.as_str(),
            _ => "",
        };
        let cands = self.siblings(&path[..path.len() - 1]);
        match did_you_mean(last, cands.iter().map(String::as_str)) {
            Some(m) => d.with_help(format!("did you mean `{m}`? As written it changes nothing")),
            None => d.with_help("remove it, or use it in a template; as written it changes nothing"),
        }
    }

    /// `--set` paths that no template can read.
    pub fn unused_sets(&self, sets: &[super::values::SetOverride]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for s in sets {
            if matches!(s.path.first().map(String::as_str), Some("clusterName") | Some(super::render::LAYERS_KEY)) {
                continue;
            }
            let path: Vec<At> = s.path.iter().map(|k| At::Key(k.clone())).collect();
            // The first step no template reads is the one to name (a covered prefix covers all
            // below it, so that step is not covered either).
            let Some(n) = (1..=path.len()).find(|&n| !self.covered(&path[..n]) && !self.is_reached(&path[..n])) else { continue };
            let name = show_path(&path[..n]);
            let d = Diagnostic::file("(command line)", format!("`--set {}`: `{name}` is not used by any template", s.raw));
            let cands = self.siblings(&path[..n - 1]);
            out.push(match did_you_mean(&s.path[n - 1], cands.iter().map(String::as_str)) {
                Some(m) => d.with_help(format!("did you mean `{m}`? As written it changes nothing")),
                None => d.with_help("as written it changes nothing"),
            });
        }
        out
    }
}

fn show_path(path: &[At]) -> String {
    let mut s = String::new();
    for a in path {
        match a {
            At::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            At::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// `a.b[0]` → (`a`, `.b[0]`).
fn split_head(s: &str) -> (&str, &str) {
    let end = s.find(['.', '[']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

enum Step {
    Key(String),
    /// `[expr]` whose key is computed at render time.
    Dynamic(String),
}

/// The steps after an identifier's head: `.b`, `.0`, `["k"]`, `[0]`, `[name]`.
fn steps(mut rest: &str) -> Vec<Step> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let mut depth = 1;
            let mut end = r.len();
            for (i, c) in r.char_indices() {
                match c {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let inner = r[..end].trim();
            let quoted = inner.len() >= 2 && ((inner.starts_with('"') && inner.ends_with('"')) || (inner.starts_with('\'') && inner.ends_with('\'')));
            if quoted {
                out.push(Step::Key(inner[1..inner.len() - 1].to_string()));
            } else if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit()) {
                out.push(Step::Key(inner.to_string()));
            } else {
                out.push(Step::Dynamic(inner.to_string()));
            }
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            break;
        }
    }
    out
}

/// Line and column (1-based) of a key path (`["spec", "maxPrice"]`) in a block-style YAML text;
/// (0, 0) when its first key is not found.
pub(crate) fn key_position(text: &str, keys: &[&str]) -> (usize, usize) {
    locate(text, &keys.iter().map(|k| At::Key(k.to_string())).collect::<Vec<_>>())
}

/// Line and column (1-based) of a path in a block-style YAML text: the deepest step found
/// (a key inside a flow mapping points at the line of the block that holds it).
fn locate(text: &str, path: &[At]) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let significant = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    // A line's entry: the column of its key after any `- ` prefixes, and whether it opens an item.
    fn entry(l: &str) -> (usize, &str, bool) {
        let mut col = l.len() - l.trim_start().len();
        let mut rest = l.trim_start();
        let dash = rest.starts_with("- ") || rest == "-";
        while let Some(r) = rest.strip_prefix("- ") {
            let spaces = r.len() - r.trim_start().len();
            col += 2 + spaces;
            rest = r.trim_start();
        }
        (col, rest, dash)
    }
    // The node found so far: its line, the column of its content, whether it is a list item.
    let mut node: Option<(usize, usize, bool)> = None;
    let mut best = (0, 0);
    for step in path {
        let (from, parent_col, item) = match node {
            None => (0, None, false),
            Some((line, col, item)) => (if item { line } else { line + 1 }, Some(col), item),
        };
        let mut found = None;
        match step {
            At::Key(k) => {
                let mut child_col = None;
                for (i, l) in lines.iter().enumerate().skip(from) {
                    if !significant(l) {
                        continue;
                    }
                    let (col, rest, dash) = entry(l);
                    let first = item && i == from;
                    if let Some(p) = parent_col {
                        let own = if dash { indent(l) } else { col };
                        if !first && (own < p || (own == p && !item) || (item && own <= p - 2)) {
                            break;
                        }
                        if !first && item && dash && indent(l) == p - 2 {
                            break; // the next item of the same list
                        }
                    }
                    let c = *child_col.get_or_insert(col);
                    if col == c && rest.split_once(':').is_some_and(|(key, _)| key.trim().trim_matches(['"', '\'']) == k) {
                        found = Some((i, col, false));
                        break;
                    }
                }
            }
            At::Index(n) => {
                let Some(p) = parent_col else { break };
                let mut count = 0;
                let mut dash_col = None;
                for (i, l) in lines.iter().enumerate().skip(from) {
                    if !significant(l) {
                        continue;
                    }
                    let ind = indent(l);
                    let dash = l.trim_start().starts_with("- ") || l.trim() == "-";
                    if ind < p || (ind == p && !dash) {
                        break;
                    }
                    if dash && *dash_col.get_or_insert(ind) == ind {
                        if count == *n {
                            found = Some((i, ind + 2, true));
                            break;
                        }
                        count += 1;
                    }
                }
            }
        }
        match found {
            Some(f) => {
                best = (f.0 + 1, f.1 + 1);
                node = Some(f);
            }
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(templates: &[&str]) -> RepoFiles {
        RepoFiles {
            templates: templates.iter().enumerate().map(|(i, t)| SourceFile::new(format!("templates/{i}.tpl"), *t)).collect(),
            ..Default::default()
        }
    }

    fn warnings(repo: &RepoFiles, vars: &str) -> Vec<String> {
        let f = SourceFile::new("vars/c.yaml", vars);
        let v: Mapping = serde_yaml::from_str(vars).unwrap();
        Reads::of(repo)
            .unused_values(&f, &v)
            .iter()
            .map(|d| format!("{}:{}:{} {} ({})", d.file.display(), d.line, d.column, d.message, d.help.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn finds_typos_one_level_down() {
        let r = repo(&["max: {{ spot.maxSize }}\n{% for p in pools %}{{ p.name }}{% endfor %}\n"]);
        assert_eq!(
            warnings(&r, "spot:\n  maxSzie: 50\npools: [{name: a, extra: 1}]\nunused: 1\n"),
            vec![
                "vars/c.yaml:2:3 `spot.maxSzie` is not used by any template (did you mean `maxSize`? As written it changes nothing)",
                "vars/c.yaml:3:1 `pools[0].extra` is not used by any template (remove it, or use it in a template; as written it changes nothing)",
                "vars/c.yaml:4:1 `unused` is not used by any template (remove it, or use it in a template; as written it changes nothing)",
            ]
        );
    }

    #[test]
    fn follows_nested_loops_to_depth_three_and_points_at_the_line() {
        let r = repo(&[
            "{% for pool in pools %}{% for size in pool.sizes %}{{ pool.name }}-{{ size.name }}: {{ size.spotMax | default(value=spot.max) }}{% endfor %}{% endfor %}",
        ]);
        let vars = "spot:\n  max: 1\npools:\n- name: app\n  sizes:\n  - name: 4x\n    spotMax: 0.2\n  - name: 8x\n    spotMaxx: 0.4\n- name: batch\n  sizes: []\n";
        assert_eq!(
            warnings(&r, vars),
            vec!["vars/c.yaml:9:5 `pools[0].sizes[1].spotMaxx` is not used by any template (did you mean `spotMax`? As written it changes nothing)"]
        );
    }

    #[test]
    fn aliases_maps_computed_keys_and_whole_reads() {
        let r = repo(&[concat!(
            "{% set s = spot %}{{ s.max }}\n",
            "{% for name, t in types %}{{ name }}: {{ t.cpu }}{% endfor %}\n",
            "{{ sizes[size].cpu }}{{ size }}\n",
            "{{ tags | json_encode() }}\n",
            "{% if extra %}{{ extra.known }}{% endif %}\n",
            "{% macro m(x) %}{{ x.whatever }}{% endmacro %}{{ self::m(x=passed) }}\n",
        )]);
        let vars = concat!(
            "spot: {max: 1, maxx: 2}\n",
            "types:\n  m5: {cpu: 2, cpus: 3}\n",
            "size: a\nsizes:\n  a: {cpu: 1, memory: 2}\n",
            "tags: {anything: 1}\n",
            "extra: {known: 1, unknown: 2}\n",
            "passed: {whatever: 1, more: 2}\n",
        );
        let w = warnings(&r, vars);
        assert_eq!(
            w,
            vec![
                "vars/c.yaml:1:1 `spot.maxx` is not used by any template (did you mean `max`? As written it changes nothing)",
                "vars/c.yaml:3:3 `types.m5.cpus` is not used by any template (did you mean `cpu`? As written it changes nothing)",
                "vars/c.yaml:6:3 `sizes.a.memory` is not used by any template (remove it, or use it in a template; as written it changes nothing)",
                "vars/c.yaml:8:1 `extra.unknown` is not used by any template (remove it, or use it in a template; as written it changes nothing)",
            ],
            "flow mappings point at their line"
        );
    }

    #[test]
    fn macros_branches_globals_and_tests_read_what_tera_would() {
        let r = repo(&[concat!(
            "{% macro m() %}{{ spot.max }}{% endmacro %}{{ self::m() }}\n",
            "{% if c %}{% set s = a %}{% else %}{% set s = b %}{% endif %}{{ s.k }}\n",
            "{% for x in xs %}{% set_global g = y %}{% endfor %}{{ g.k }}\n",
            "{% if m is containing(\"k\") %}yes{% endif %}\n",
            "{% if pools | length > 0 %}{% for p in pools %}{{ p.name }}{% endfor %}{% endif %}\n",
            "{{ \"x\" ~ include(name=snip.file) }}\n",
        )]);
        let vars = "spot: {max: 1}\nc: true\na: {k: 1}\nb: {k: 2}\nxs: [1]\ny: {k: 3}\nm: {k: 1, j: 2}\npools: [{name: a, nmae: b}]\nsnip: {file: s.yaml}\n";
        assert_eq!(warnings(&r, vars), vec!["vars/c.yaml:8:1 `pools[0].nmae` is not used by any template (did you mean `name`? As written it changes nothing)"]);
    }

    #[test]
    fn the_whole_context_and_snippets_count() {
        let r = repo(&["{{ __tera_context }}"]);
        assert!(warnings(&r, "a: {b: 1}\n").is_empty());
        let mut r = repo(&["{{ include(name=\"s.yaml\") }}"]);
        r.snippets = std::sync::Arc::new([("s.yaml".to_string(), Snippet::File(SourceFile::new("snippets/s.yaml", "{{ a.b }}")))].into_iter().collect());
        assert_eq!(warnings(&r, "a: {b: 1, c: 2}\n").len(), 1);
    }

    #[test]
    fn locates_keys_in_block_lists() {
        let t = "pools:\n- name: app\n  sizes:\n  - name: 4x\n    x: 1\n  - name: 8x\n    x: 2\n- name: b\n  sizes:\n    - name: c\n      x: 3\n";
        let p = |v: &[At]| locate(t, v);
        use At::*;
        assert_eq!(p(&[Key("pools".into()), Index(0), Key("sizes".into()), Index(1), Key("x".into())]), (7, 5));
        assert_eq!(p(&[Key("pools".into()), Index(1), Key("sizes".into()), Index(0), Key("x".into())]), (11, 7));
        assert_eq!(p(&[Key("pools".into()), Index(1), Key("name".into())]), (8, 3));
    }
}
