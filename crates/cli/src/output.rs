//! How commands talk to the user: human text or `--json` on stdout, progress on stderr.

use std::{io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

/// Output settings shared by every command.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// Machine-readable JSON on stdout instead of text.
    pub json: bool,
    progress: bool,
}

impl Output {
    /// Progress shows when stderr is a terminal, or when forced with `--progress`.
    pub fn new(json: bool, force_progress: bool) -> Self {
        Self {
            json,
            progress: force_progress || std::io::stderr().is_terminal(),
        }
    }

    /// Prints a JSON value (pretty) on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    /// One progress line on stderr, when progress is on.
    pub fn progress_line(&self, line: &str) {
        if self.progress {
            eprintln!("{line}");
        }
    }

    /// A byte-count progress bar, or a hidden one when progress is off.
    pub fn bytes(&self, len: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// A spinner for work of unknown length (fitting, evaluating), or a hidden one.
    pub fn stage(&self, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}
