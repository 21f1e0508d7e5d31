//! Reading the few /proc facts the runtime needs about a process.

/// What /proc/<pid>/stat says about a process's liveness and identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub state: u8,
    /// Start time in clock ticks since boot: with the pid it names a process
    /// uniquely, so a recycled pid is never taken for the container.
    pub start_time: u64,
    /// Number of threads in the process.
    pub threads: u64,
    /// The parent's pid.
    pub ppid: i32,
}

impl ProcStat {
    pub fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

pub(crate) fn stat(pid: i32) -> std::io::Result<ProcStat> {
    use std::io::Read;
    // One read(2): the kernel makes the whole line (well under 1 KiB) in a
    // single record, so std::fs::read's size probe and growing reads (seven
    // syscalls, paid per container by `hull list`) are not needed.
    let mut buf = [0u8; 4096];
    let n = std::fs::File::open(format!("/proc/{pid}/stat"))?.read(&mut buf)?;
    let raw = &buf[..n];
    parse_stat(raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unparsable"),
        )
    })
}

fn parse_stat(raw: &[u8]) -> Option<ProcStat> {
    // comm may hold spaces and parentheses; the fields resume after the last ')'.
    let close = raw.iter().rposition(|&b| b == b')')?;
    let mut fields = raw.get(close + 2..)?.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let num = |f: &[u8]| -> Option<u64> { std::str::from_utf8(f).ok()?.trim().parse().ok() };
    let ppid = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    // num_threads is field 20 overall and starttime field 22; we are past
    // field 4 (ppid).
    let threads = num(fields.nth(15)?)?;
    let start_time = num(fields.nth(1)?)?;
    Some(ProcStat {
        state,
        start_time,
        threads,
        ppid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comm_with_spaces_and_parens() {
        let line = b"4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.state, b'S');
        assert_eq!(st.start_time, 987654);
        assert_eq!(st.threads, 1);
        assert_eq!(st.ppid, 1);
        assert!(!st.is_dead());
    }

    #[test]
    fn reads_own_stat() {
        let me = stat(std::process::id() as i32).unwrap();
        assert!(me.start_time > 0);
        assert!(!me.is_dead());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x) S 1").is_none());
    }
}
