//! Progress of long commands: a bar per cluster on a terminal (indicatif), plain timestamped
//! lines otherwise — a Jenkins log must read well.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
}

pub struct ClusterProgress {
    bar: Option<ProgressBar>,
    cluster: String,
    quiet: bool,
}

impl Progress {
    pub fn new(terminal: bool, quiet: bool) -> Progress {
        Progress { multi: (terminal && !quiet).then(MultiProgress::new), quiet }
    }

    pub fn cluster(&self, cluster: &str, steps: usize) -> ClusterProgress {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(steps as u64));
            b.set_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.set_prefix(cluster.to_string());
            b
        });
        ClusterProgress { bar, cluster: cluster.to_string(), quiet: self.quiet }
    }
}

impl ClusterProgress {
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// A step is starting.
    pub fn start(&self, what: &str) {
        match &self.bar {
            Some(b) => b.set_message(what.to_string()),
            None if !self.quiet => eprintln!("{} {}: {what}", timestamp(), self.cluster),
            None => {}
        }
    }

    /// A line worth keeping that is not a finished step (a gate passed, a retry).
    pub fn note(&self, what: &str) {
        match &self.bar {
            Some(b) => b.println(format!("  {}: {what}", self.cluster)),
            None if !self.quiet => eprintln!("{} {}: {what}", timestamp(), self.cluster),
            None => {}
        }
    }

    /// A step is done.
    pub fn done(&self, what: &str) {
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.println(format!("  {}: {what}", self.cluster));
            }
            None if !self.quiet => eprintln!("{} {}: {what}", timestamp(), self.cluster),
            None => {}
        }
    }

    pub fn finish(&self, what: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(what.to_string()),
            None if !self.quiet => eprintln!("{} {}: {what}", timestamp(), self.cluster),
            None => {}
        }
    }
}

pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
