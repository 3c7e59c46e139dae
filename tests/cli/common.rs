//! Shared helpers: a fresh copy of the bundled example for every test, and the binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary copy of the example repository (snippets/, templates/, vars/, clusters/).
/// The clock of every fleetform the tests run (FLEETFORM_NOW): Monday 30 November 2026, 10:00
/// UTC — inside staging's uptime window (Mon-Fri 07:30-20:00 Europe/Dublin), so that a plan's
/// answer never depends on when the suite runs. Schedule tests set their own.
pub const TEST_NOW: &str = "2026-11-30T10:00:00Z";

pub struct Repo {
    pub dir: TempDir,
}

impl Repo {
    pub fn example() -> Repo {
        let dir = tempfile::Builder::new().prefix("fleetform-test").tempdir().unwrap();
        for sub in ["snippets", "templates", "vars", "clusters"] {
            copy_dir(&project_root().join(sub), &dir.path().join(sub));
        }
        Repo { dir }
    }

    /// An empty directory (e.g. for `fleetform import`).
    pub fn empty() -> Repo {
        Repo { dir: tempfile::Builder::new().prefix("fleetform-test").tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path().join(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// Replace exactly one occurrence of `old` in `rel`.
    pub fn replace(&self, rel: &str, old: &str, new: &str) {
        let text = self.read(rel);
        assert_eq!(text.matches(old).count(), 1, "`{old}` must occur once in {rel}");
        self.write(rel, &text.replacen(old, new, 1));
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("fleetform").unwrap();
        c.current_dir(self.path()).env("NO_COLOR", "1").env_remove("FLEETFORM_ROOT").env("FLEETFORM_NOW", TEST_NOW);
        // A test reaches AWS only through the emulator (which sets its own): never the
        // credentials of whoever runs the tests.
        for v in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL"] {
            c.env_remove(v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Every file under clusters/ with its bytes, to prove nothing was written.
    pub fn clusters_snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(self.path().join("clusters")) {
            for e in rd {
                let e = e.unwrap();
                out.push((e.file_name().to_string_lossy().to_string(), fs::read(e.path()).unwrap()));
            }
        }
        out.sort();
        out
    }

    /// Replace the temporary directory in output so snapshots are stable.
    pub fn scrub(&self, s: &str) -> String {
        let p = self.path().to_string_lossy().to_string();
        let canon = self.path().canonicalize().unwrap().to_string_lossy().to_string();
        s.replace(&canon, "[ROOT]").replace(&p, "[ROOT]")
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}
