//! How long operations tell their caller what they are doing, without touching the terminal.
//!
//! The library reports events through [`Reporter`]; the CLI draws them (status lines, notes, a byte
//! progress bar). Library callers that want silence pass [`Silent`].

/// Events of a long operation (a build, a push, a pull), in the order they happen.
pub trait Reporter: Send + Sync {
    /// A step begins: a cargo-style verb (`Pushing`, `Shrinking`) and what it acts on.
    fn status(&self, verb: &str, message: &str);
    /// Extra detail, for users who asked for it (`-v`).
    fn note(&self, message: &str);
    /// Something the user should know that does not stop the operation.
    fn warning(&self, message: &str);
    /// A byte transfer of `total` bytes begins; `label` names it (`Pushing`, `Pulling`). The
    /// transfer events are dropped unless a reporter draws them.
    fn transfer_started(&self, _label: &str, _total: u64) {}
    /// The transfer has reached `position` bytes. It may step back when a retry starts a blob again.
    fn transfer_position(&self, _position: u64) {}
    /// The transfer ended, successfully or not.
    fn transfer_finished(&self) {}
    /// Advice on doing better next time (install a tool, change a setting); shown as a hint.
    fn hint(&self, message: &str) {
        self.note(message);
    }
    /// What a child process (cargo) wrote to its stderr, to be shown as it is. Dropped unless a
    /// reporter shows it.
    fn child_output(&self, _bytes: &[u8]) {}
}

/// A reporter that drops every event; for library callers and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn status(&self, _verb: &str, _message: &str) {}
    fn note(&self, _message: &str) {}
    fn warning(&self, _message: &str) {}
}

/// A reporter that keeps the events tests look at: transfer positions and a child's output.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub positions: std::sync::Mutex<Vec<u64>>,
    pub child_output: std::sync::Mutex<Vec<u8>>,
}

#[cfg(test)]
impl Reporter for Recorder {
    fn status(&self, _verb: &str, _message: &str) {}
    fn note(&self, _message: &str) {}
    fn warning(&self, _message: &str) {}
    fn transfer_position(&self, position: u64) {
        self.positions.lock().unwrap().push(position);
    }
    fn child_output(&self, bytes: &[u8]) {
        self.child_output.lock().unwrap().extend_from_slice(bytes);
    }
}
