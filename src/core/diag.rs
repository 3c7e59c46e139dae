//! Diagnostics: one error, pinned to a file, a line and a column, with what to do about it.
//!
//! Every bad input a user can write (YAML, templates, vars, manifests) ends as one
//! `Diagnostic`. It is plain data so that the pure core can produce it without any I/O and the
//! commands can print it as text or JSON. Lines and columns are 1-based, as editors show them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A located error in the user's repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// Path relative to the repository root, e.g. `templates/3_spot-nodes.yaml.tpl`.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Extra context: which cluster was being rendered, which rendered line failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The source line the location points at, shown under the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            column,
            message: message.into(),
            help: None,
            notes: Vec::new(),
            source_line: None,
        }
    }

    /// A diagnostic about a whole file (no line).
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::new(file, 0, 0, message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Attach the text of line `self.line` from `source`, so the message shows what it means.
    pub fn with_source(mut self, source: &str) -> Self {
        if self.line > 0 {
            if let Some(text) = source.lines().nth(self.line - 1) {
                self.source_line = Some(text.to_string());
            }
        }
        self
    }

    /// `file:line:column`, the form editors and CI annotations understand.
    pub fn location(&self) -> String {
        let f = self.file.display();
        match (self.line, self.column) {
            (0, _) => format!("{f}"),
            (l, 0) => format!("{f}:{l}"),
            (l, c) => format!("{f}:{l}:{c}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        write!(f, "  --> {}", self.location())?;
        if let Some(src) = &self.source_line {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            write!(f, "\n {pad} |\n {num} | {src}")?;
            if self.column > 0 {
                let caret_pad: String = src
                    .chars()
                    .take(self.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n {pad} | {caret_pad}^")?;
            }
        }
        for note in &self.notes {
            write!(f, "\n  = note: {note}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Several diagnostics at once (e.g. every cluster that failed to render).
#[derive(Debug, Clone, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(&str, f64)> = None;
    for cand in candidates {
        let score = strsim::jaro_winkler(&word.to_lowercase(), &cand.to_lowercase());
        if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((cand, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Line and column (1-based) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// Relative display path helper: paths inside the repository are shown relative to its root.
pub fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let c = ["minSize", "maxSize", "machineType"];
        assert_eq!(did_you_mean("maxSixe", c), Some("maxSize"));
        assert_eq!(did_you_mean("zzz", c), None);
    }

    #[test]
    fn line_col_is_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn display_points_at_column() {
        let d = Diagnostic::new("vars/a.yaml", 2, 3, "bad thing")
            .with_source("x: 1\nyy: [\n")
            .with_help("fix it");
        let s = d.to_string();
        assert!(s.contains("--> vars/a.yaml:2:3"), "{s}");
        assert!(s.contains("2 | yy: ["), "{s}");
        assert!(s.contains("= help: fix it"), "{s}");
    }
}
