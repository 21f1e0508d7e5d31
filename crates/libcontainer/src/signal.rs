use std::str::FromStr;

use crate::error::{Error, Result};

/// Parses a signal as `kill` accepts it: a number, `KILL` or `SIGKILL`
/// (any case), or a real-time signal `RTMIN+n` / `RTMAX-n`.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || Error::InvalidSignal(s.to_owned());
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt_offset(rest, libc::SIGRTMIN(), 1).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt_offset(rest, libc::SIGRTMAX(), -1).ok_or_else(bad);
    }
    nix::sys::signal::Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as i32)
        .map_err(|_| bad())
}

fn rt_offset(rest: &str, base: i32, dir: i32) -> Option<i32> {
    let n = if rest.is_empty() {
        0
    } else {
        let (sign, digits) = rest.split_at(1);
        if (sign == "+" && dir == 1) || (sign == "-" && dir == -1) {
            digits.parse::<i32>().ok()?
        } else {
            return None;
        }
    };
    let sig = base + dir * n;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&sig)
        .then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse_signal("RTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
    }

    #[test]
    fn rejects_unknown() {
        for s in ["0", "-1", "65", "FOO", "SIG", "RTMIN-1", "RTMAX+1", ""] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
    }
}
