//! The one printer: data on stdout, everything for humans on stderr.
//!
//! A command's result (rendered diff, lint findings, a plan) goes to stdout in the chosen
//! `--output` format so it can be piped; status lines, warnings and errors go to stderr. Colour
//! only when the stream is a terminal (or `--color always`), never with NO_COLOR set. A closed
//! stdout (`fleetform lint | head`) is not an error.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// The first error writing to stdout other than a closed pipe, if any.
pub fn stdout_failure() -> Option<String> {
    STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text (colour on a terminal).
    Text,
    /// Versioned JSON for scripts and CI (see docs/json-output.md).
    Json,
    /// Markdown, for a pull-request comment.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Red,
    Green,
    Yellow,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "\x1b[31m",
            Style::Green => "\x1b[32m",
            Style::Yellow => "\x1b[33m",
            Style::Cyan => "\x1b[36m",
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
    color_out: bool,
    color_err: bool,
    pub stderr_is_terminal: bool,
}

impl Printer {
    pub fn new(format: OutputFormat, color: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && std::env::var("TERM").map_or(true, |t| t != "dumb"),
        };
        let stderr_tty = io::stderr().is_terminal();
        Printer {
            format,
            quiet,
            verbose,
            color_out: decide(io::stdout().is_terminal()),
            color_err: decide(stderr_tty),
            stderr_is_terminal: stderr_tty,
        }
    }

    /// Paint for stdout.
    pub fn paint(&self, s: &str, style: Style) -> String {
        if self.color_out { format!("{}{s}\x1b[0m", style.code()) } else { s.to_string() }
    }

    /// Paint for stderr.
    pub fn paint_err(&self, s: &str, style: Style) -> String {
        if self.color_err { format!("{}{s}\x1b[0m", style.code()) } else { s.to_string() }
    }

    /// Write data to stdout. A closed pipe (`| head`) is not an error: later writes are
    /// skipped. Any other write error (a full disk) is remembered and makes the exit status 1
    /// (see [`stdout_failure`]); the run itself goes on, so that a lock is still released.
    pub fn data(&self, s: &str) {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return;
        }
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
            } else {
                let mut f = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// A status line on stderr, cargo style: a right-aligned verb, then the message.
    pub fn status(&self, verb: &str, msg: &str) {
        if self.quiet {
            return;
        }
        eprintln!("{} {msg}", self.paint_err(&format!("{verb:>12}"), Style::Green));
    }

    /// A plain line for humans on stderr.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.verbose > 0 {
            eprintln!("{} {msg}", self.paint_err("debug:", Style::Dim));
        }
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("{} {}", self.paint_err("warning:", Style::Yellow), visible_lines(msg));
    }

    pub fn error(&self, msg: &str) {
        eprintln!("{} {}", self.paint_err("error:", Style::Red), visible_lines(msg));
    }
}

/// Text from the repository (names, values, messages) made inert in Markdown and in the HTML a
/// pull-request comment allows: it can neither close a fence or a `<details>`, nor add a link,
/// a heading or a table cell.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("&#124;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            // `@` would mention a person or a team.
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '~' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text with its control characters (other than tab) shown as escapes: `\u{1b}[2J` from a
/// value cannot clear a terminal or rewrite a CI log's lines.
pub fn visible(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return s.to_string();
    }
    s.chars().map(|c| if c.is_control() && c != '\t' { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// [`visible`], line by line: line breaks stay.
pub fn visible_lines(s: &str) -> String {
    s.split('\n').map(visible).collect::<Vec<_>>().join("\n")
}

/// A fenced code block around `body`: the fence is longer than any run of backticks in it
/// (CommonMark), so the body cannot close it.
pub fn md_fence(info: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let nl = if body.ends_with('\n') || body.is_empty() { "" } else { "\n" };
    format!("{fence}{info}\n{body}{nl}{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_from_the_repository_is_inert() {
        let evil = "x```\n</details>\n**no changes, safe to merge** [link](http://e) | a";
        let t = md_text(evil);
        assert!(!t.contains("</details>") && !t.contains("```") && !t.contains('\n') && !t.contains('|'), "{t}");
        let f = md_fence("diff", evil);
        assert!(f.starts_with("````diff\n") && f.ends_with("\n````\n"), "{f}");
        assert_eq!(visible("a\u{1b}[2Jb\tc"), "a\\u{1b}[2Jb\tc");
        assert!(!md_text("\u{1b}[31m").contains('\u{1b}'));
    }
}
