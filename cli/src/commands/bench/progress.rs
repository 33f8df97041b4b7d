//! The bench's progress display: a bar on a terminal, one line per phase otherwise (CI logs).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10.bold} [{bar:32.cyan/blue}] {pos:>9}/{len:<9} {msg} {elapsed}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }

    /// Starts a phase of `total` steps.
    pub(crate) fn phase(&self, workload: &str, what: &str, total: u64) {
        match &self.bar {
            Some(bar) => {
                bar.reset();
                bar.set_length(total);
                bar.set_position(0);
                bar.set_prefix(workload.to_string());
                bar.set_message(what.to_string());
            }
            None => eprintln!("bench: {workload}: {what}"),
        }
    }

    pub(crate) fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
