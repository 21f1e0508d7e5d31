use std::{io::Write, time::Duration};

use libcontainer::Container;

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Stats collection interval (Go duration syntax: 5s, 500ms, 1m30s).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Print the container's stats once, then exit.
    #[arg(long)]
    pub stats: bool,
    /// Container id.
    pub id: String,
}

/// One JSON line per event (runc's format) until the container stops.
pub fn run(g: &Globals, a: Args) -> CmdResult {
    let events = Container::load(&g.root, &a.id)?.events(a.interval, a.stats)?;
    let mut out = std::io::stdout().lock();
    for ev in events {
        match ev {
            Ok(e) => {
                writeln!(out, "{}", serde_json::to_string(&e)?)?;
                // A consumer reading a pipe wants each event as it happens.
                out.flush()?;
            }
            Err(e) if a.stats => return Err(e.into()),
            // One failed sample does not end the watch (runc logs it too).
            Err(e) => crate::logging::error(&e),
        }
    }
    Ok(0)
}

/// Parses a Go `time.Duration` string, as runc's --interval takes it: a
/// sequence of decimal numbers with units ns, us (µs), ms, s, m, h.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. 5s, 500ms, 1m30s)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("duration {s:?} must not be negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * nanos_per;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {s:?} is too long"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("+2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1..2s", ".s", "5s3"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
