//! Progress of an import: a bar per file with rows/s and ETA when stderr is a
//! terminal, a plain log line every few seconds otherwise, nothing in tests.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on a terminal, log lines otherwise.
    Auto,
    /// Log lines only.
    Log,
    /// Nothing.
    Quiet,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress through one file.
pub struct FileProgress {
    name: &'static str,
    total_bytes: u64,
    started: Instant,
    last_log: Instant,
    bar: Option<ProgressBar>,
    log: bool,
}

impl FileProgress {
    /// Starts reporting on `name`, `total_bytes` long.
    pub fn start(mode: ProgressMode, name: &'static str, total_bytes: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template(
                "{prefix:>13} [{bar:30}] {bytes}/{total_bytes} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(name);
            bar
        });
        let log = mode == ProgressMode::Log || (mode == ProgressMode::Auto && !terminal);
        if log {
            eprintln!("import: loading {name} ({} MB)", total_bytes / 1_000_000);
        }
        let now = Instant::now();
        FileProgress {
            name,
            total_bytes,
            started: now,
            last_log: now,
            bar,
            log,
        }
    }

    /// Reports `rows` read and `bytes` consumed so far; cheap enough to call
    /// every few thousand rows.
    pub fn update(&mut self, rows: u64, bytes: u64) {
        let now = Instant::now();
        let rate = rows as f64 / now.duration_since(self.started).as_secs_f64().max(1e-3);
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
        } else if self.log && now.duration_since(self.last_log) >= LOG_EVERY {
            self.last_log = now;
            let done = bytes as f64 / self.total_bytes.max(1) as f64;
            let eta =
                now.duration_since(self.started).as_secs_f64() * (1.0 - done) / done.max(1e-9);
            eprintln!(
                "import: {} {rows} rows, {rate:.0} rows/s, {:.0}% ETA {eta:.0}s",
                self.name,
                done * 100.0
            );
        }
    }

    /// Ends the report on this file.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Announces a phase after the files are loaded.
pub fn phase(mode: ProgressMode, what: &str) {
    if mode != ProgressMode::Quiet {
        eprintln!("import: {what}");
    }
}
