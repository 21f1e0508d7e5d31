//! A minimal tracing subscriber writing runc-style log lines.
//!
//! With `--log`, every event at or above the level (warn, or debug with
//! `--debug`) goes to the file as `time=".." level=.. msg=".."` (or JSON
//! with `--log-format json`), as runc writes it. Without `--log`, stderr
//! is for people and for wrappers that look for the word "error": a
//! failure is `hull: error: <message>`, a warning `hull: warning:
//! <message>`, and `--debug` adds runc's `level=debug` lines.

use std::{io::Write, path::Path, sync::Mutex};

use tracing::{field::Visit, span, Event, Level, Metadata, Subscriber};

struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    /// True when `out` is the `--log` file: every line in the log format.
    file: bool,
    json: bool,
    max: Level,
}

static ERROR_SINK: Mutex<Option<(std::path::PathBuf, bool)>> = Mutex::new(None);

pub struct Guard;

pub fn init(log: Option<&Path>, json: bool, debug: bool) -> Guard {
    if let Some(p) = log {
        if let Ok(mut g) = ERROR_SINK.lock() {
            *g = Some((p.to_owned(), json));
        }
    }
    let file = log.and_then(|p| match libcontainer::open_log_file(p) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!(
                "hull: warning: --log {}: {e}; logging to stderr",
                p.display()
            );
            None
        }
    });
    let is_file = file.is_some();
    let out: Box<dyn Write + Send> = match file {
        Some(f) => Box::new(f),
        None => Box::new(std::io::stderr()),
    };
    let max = if debug { Level::DEBUG } else { Level::WARN };
    let _ = tracing::subscriber::set_global_default(Sink {
        out: Mutex::new(out),
        file: is_file,
        json,
        max,
    });
    Guard
}

/// Reports a failed command: on stderr always, and in the log file (where
/// containerd and podman look for it) when one was given.
pub fn error(e: &dyn std::fmt::Display) {
    let msg = e.to_string();
    eprintln!("{}", human_line(Level::ERROR, &msg));
    let target = ERROR_SINK.lock().ok().and_then(|g| g.clone());
    if let Some((path, json)) = target {
        if let Ok(mut f) = libcontainer::open_log_file(&path) {
            let _ = f.write_all(format_line(Level::ERROR, &msg, json).as_bytes());
        }
    }
}

/// `hull: error: ...`: the form of a failure or warning on stderr.
fn human_line(level: Level, msg: &str) -> String {
    let word = match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        _ => "debug",
    };
    format!("hull: {word}: {msg}")
}

/// runc's (logrus') line: `time="..." level=debug msg="..."`, or JSON.
fn format_line(level: Level, msg: &str, json: bool) -> String {
    let level = level.as_str().to_ascii_lowercase();
    let time = libcontainer::rfc3339_now();
    if json {
        let mut s = serde_json::json!({"level": level, "msg": msg, "time": time}).to_string();
        s.push('\n');
        s
    } else {
        format!("time={time:?} level={level} msg={msg:?}\n")
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Sink {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut v = MessageVisitor(String::new());
        e.record(&mut v);
        let level = *e.metadata().level();
        let line = if self.file || level == Level::DEBUG || level == Level::TRACE {
            format_line(level, &v.0, self.json)
        } else {
            human_line(level, &v.0) + "\n"
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_they_are() {
        assert_eq!(
            human_line(Level::ERROR, "container \"x\" does not exist"),
            "hull: error: container \"x\" does not exist"
        );
        assert_eq!(human_line(Level::WARN, "w"), "hull: warning: w");
        let l = format_line(Level::DEBUG, "a \"b\"", false);
        assert!(
            l.starts_with("time=\"") && l.ends_with(" level=debug msg=\"a \\\"b\\\"\"\n"),
            "{l}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&format_line(Level::ERROR, "e", true)).unwrap();
        assert_eq!(
            (j["level"].as_str(), j["msg"].as_str()),
            (Some("error"), Some("e"))
        );
    }
}
