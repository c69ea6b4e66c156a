//! The library's progress events, drawn with the Printer: status lines, `-v` notes, warnings, and
//! one byte progress bar at a time (hidden where the Printer hides progress).

use std::sync::Mutex;

use crate::cli::output::{Printer, Verbosity};
use indicatif::ProgressBar;
use wasmctl::progress::Reporter;

/// A [`Reporter`] that prints through a [`Printer`].
#[derive(Debug)]
pub struct PrinterReporter {
    printer: Printer,
    /// The bar of the transfer under way; events arrive through `&self`.
    bar: Mutex<Option<ProgressBar>>,
}

impl PrinterReporter {
    pub fn new(printer: &Printer) -> Self {
        PrinterReporter {
            printer: printer.clone(),
            bar: Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        // A panic while drawing must not take the next event down with it.
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut bar);
    }
}

impl Reporter for PrinterReporter {
    fn status(&self, verb: &str, message: &str) {
        self.printer.status(verb, message);
    }

    fn note(&self, message: &str) {
        self.printer.verbose(message);
    }

    fn warning(&self, message: &str) {
        self.printer.warn(message);
    }

    fn hint(&self, message: &str) {
        if self.printer.verbosity() >= Verbosity::Normal {
            self.printer.hints(&[message.to_string()]);
        }
    }

    fn child_output(&self, bytes: &[u8]) {
        self.printer.child_output(bytes);
    }

    fn transfer_started(&self, label: &str, total: u64) {
        let new = self.printer.progress_bytes(total, label);
        self.with_bar(|bar| {
            if let Some(old) = bar.replace(new) {
                old.finish_and_clear();
            }
        });
    }

    fn transfer_position(&self, position: u64) {
        self.with_bar(|bar| {
            if let Some(bar) = bar {
                bar.set_position(position);
            }
        });
    }

    fn transfer_finished(&self) {
        self.with_bar(|bar| {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        });
    }
}
