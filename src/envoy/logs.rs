//! Envoy's log file, and the plugin's lines in it.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{EnvoyError, io};
use crate::host::{LogLevel, LogRecord};

/// The file Envoy writes its log to (its stderr), in the `%l|%v` format the process is started
/// with.
pub(super) struct LogFile {
    path: PathBuf,
}

impl LogFile {
    /// Creates the file and returns the handle Envoy's stderr goes to.
    pub fn create(path: PathBuf) -> Result<(LogFile, File), EnvoyError> {
        let file = File::create(&path).map_err(io("log file"))?;
        Ok((LogFile { path }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the log ends now; the plugin lines of what happens next start here.
    pub fn end(&self) -> usize {
        std::fs::metadata(&self.path)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// The lines plugin `plugin` logged from byte `start` on.
    pub fn plugin_lines_since(&self, start: usize, plugin: &str) -> Vec<LogRecord> {
        let text = std::fs::read(&self.path).unwrap_or_default();
        plugin_lines(
            &String::from_utf8_lossy(&text[start.min(text.len())..]),
            Some(plugin),
        )
    }
}

/// `level|wasm log <plugin> <root id> <vm id>: message` lines from Envoy's log, of one plugin when
/// `plugin` names it.
pub(super) fn plugin_lines(text: &str, plugin: Option<&str>) -> Vec<LogRecord> {
    text.lines()
        .filter_map(|line| {
            let (level, rest) = line.split_once('|')?;
            let rest = rest.strip_prefix("wasm log")?;
            let (source, message) = rest.split_once(": ")?;
            if plugin.is_some_and(|p| !source.split_whitespace().any(|word| word == p)) {
                return None;
            }
            Some(LogRecord {
                level: level_of(level),
                message: message.to_string(),
                callback: "envoy",
            })
        })
        .collect()
}

/// Envoy's own error lines (not the plugin's): why a plugin failed to load or failed on a request,
/// such as `Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable`.
pub(super) fn failure_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (level, message) = line.split_once('|')?;
            let failure = matches!(level, "error" | "critical") && !message.starts_with("wasm log");
            failure.then(|| message.trim().to_string())
        })
        .collect()
}

fn level_of(name: &str) -> LogLevel {
    match name {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warning" => LogLevel::Warn,
        "error" => LogLevel::Error,
        _ => LogLevel::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_lines_are_picked_by_plugin() {
        let text = "info|wasm log p0  p0: hello\n\
                    warning|some other line\n\
                    error|wasm log p1  p1: broken\n";
        let all = plugin_lines(text, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].level, LogLevel::Error);
        let first = plugin_lines(text, Some("p0"));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].message, "hello");
    }

    #[test]
    fn failure_lines_are_envoys_errors_not_the_plugins() {
        let text = "error|wasm log p0  p0: no upstream configured\n\
                    error|Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable\n\
                    warning|There is no configured limit\n\
                    critical|Plugin p0 failed to load\n\
                    \x20 a continuation line\n";
        assert_eq!(
            failure_lines(text),
            [
                "Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable",
                "Plugin p0 failed to load"
            ]
        );
    }
}
