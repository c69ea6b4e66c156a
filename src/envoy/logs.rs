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

    /// The text Envoy logged from byte `start` on.
    pub fn text_since(&self, start: usize) -> String {
        let text = std::fs::read(&self.path).unwrap_or_default();
        String::from_utf8_lossy(&text[start.min(text.len())..]).into_owned()
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
/// `plugin` names it. A message with line breaks (a Rust panic's, say) goes on over the lines that
/// follow without a `level|` of their own, and is kept whole.
pub(crate) fn plugin_lines(text: &str, plugin: Option<&str>) -> Vec<LogRecord> {
    let mut records: Vec<LogRecord> = Vec::new();
    // Whether the last line began a record of the plugin's, which a continuation belongs to.
    let mut in_record = false;
    for line in text.lines() {
        let Some((level, rest)) = line.split_once('|').filter(|(l, _)| is_level(l)) else {
            if in_record && let Some(last) = records.last_mut() {
                last.message.push('\n');
                last.message.push_str(line);
            }
            continue;
        };
        in_record = false;
        let Some((source, message)) = rest
            .strip_prefix("wasm log")
            .and_then(|rest| rest.split_once(": "))
        else {
            continue;
        };
        if plugin.is_some_and(|p| !source.split_whitespace().any(|word| word == p)) {
            continue;
        }
        in_record = true;
        records.push(LogRecord {
            level: level_of(level),
            message: message.to_string(),
            callback: "envoy",
        });
    }
    records
}

/// Whether `name` is one of Envoy's log levels, as a line of its log begins.
fn is_level(name: &str) -> bool {
    matches!(
        name,
        "trace" | "debug" | "info" | "warning" | "error" | "critical" | "off"
    )
}

/// Envoy's own error lines (not the plugin's): why a plugin failed to load or failed on a request,
/// such as `Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable`.
pub(crate) fn failure_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (level, message) = line.split_once('|')?;
            let failure = matches!(level, "error" | "critical") && !message.starts_with("wasm log");
            failure.then(|| message.trim().to_string())
        })
        .collect()
}

/// The callbacks Envoy names when a plugin fails in one.
const CALLBACKS: [&str; 16] = [
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_http_call_response",
    "proxy_on_new_connection",
    "proxy_on_downstream_data",
    "proxy_on_upstream_data",
    "proxy_on_downstream_connection_close",
    "proxy_on_upstream_connection_close",
];

/// The first callback failure in Envoy's log `text` (`Function: CALLBACK failed: MESSAGE`): the
/// callback, and Envoy's message.
pub(crate) fn callback_failure(text: &str) -> Option<(&'static str, String)> {
    failure_lines(text).into_iter().find_map(|line| {
        let rest = line.strip_prefix("Function: ")?;
        let (name, message) = rest.split_once(" failed: ")?;
        let callback = CALLBACKS.iter().find(|c| **c == name).copied()?;
        Some((callback, message.to_string()))
    })
}

/// Follows a file another process appends to, a whole line at a time.
pub(crate) struct Tail {
    path: PathBuf,
    read: u64,
    partial: String,
}

impl Tail {
    /// Follows `path` from its start (it may not exist yet).
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            read: 0,
            partial: String::new(),
        }
    }

    /// Follows `path` from where it ends now.
    pub fn at_end(path: &Path) -> Tail {
        let read = std::fs::metadata(path).map_or(0, |m| m.len());
        Tail {
            read,
            ..Tail::new(path)
        }
    }

    /// The lines completed since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.read)).is_err() || file.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        self.read += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        done.lines().map(str::to_string).collect()
    }
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
        // A message over several lines stays whole; another plugin's does not join it.
        let text = "critical|wasm log p0  p0: panicked at src/lib.rs:165:9:\n\
                    the upstream failed us\n\
                    info|wasm log p1  p1: other\n\
                    second line of p1\n";
        let p0 = plugin_lines(text, Some("p0"));
        assert_eq!(p0.len(), 1);
        assert_eq!(
            p0[0].message,
            "panicked at src/lib.rs:165:9:\nthe upstream failed us"
        );
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
        // Only a stream callback's failure is the plugin failing on traffic.
        assert_eq!(callback_failure(text), None);
        let text = "error|Plugin p0 failed to load\n\
                    error|Function: proxy_on_response_headers failed: Uncaught RuntimeError: unreachable\n";
        assert_eq!(
            callback_failure(text),
            Some((
                "proxy_on_response_headers",
                "Uncaught RuntimeError: unreachable".to_string()
            ))
        );
    }

    #[test]
    fn tail_returns_whole_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut tail = Tail::new(&path);
        assert!(tail.lines().is_empty(), "no file yet");
        std::fs::write(&path, "one\ntw").unwrap();
        assert_eq!(tail.lines(), ["one"]);
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail.lines(), ["two", "three"]);
        assert!(tail.lines().is_empty());
    }
}
