//! What the attributes share: Linux lists ("0-3,7") of CPUs and nodes,
//! what this host has online, and issues with their JSON path.

use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

/// Largest CPU or node number `parse_cpu_list` accepts: far above any real
/// machine, low enough that a hostile "0-4000000000" cannot make us
/// allocate gigabytes.
pub(super) const MAX_LIST_ID: usize = 1 << 16;

pub(super) const ONLINE_CPUS: &str = "/sys/devices/system/cpu/online";

pub(super) const ONLINE_NODES: &str = "/sys/devices/system/node/online";

pub(super) fn read_list(path: &str) -> Option<Vec<usize>> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()).ok())
}

pub(super) fn issue(field: impl Into<String>, reason: impl Into<String>) -> FieldIssue {
    FieldIssue {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The setters' copy of the pure checks: the first problem as an error.
pub(super) fn first(issues: Vec<FieldIssue>) -> Result<()> {
    match issues.into_iter().next() {
        Some(i) => Err(Error::Init(i.to_string())),
        None => Ok(()),
    }
}

pub(super) fn offline_issue(
    field: &str,
    what: &str,
    ids: &[usize],
    online: &[usize],
) -> Option<FieldIssue> {
    let off: Vec<String> = ids
        .iter()
        .filter(|i| !online.contains(i))
        .map(|i| i.to_string())
        .collect();
    (!off.is_empty()).then(|| {
        issue(
            field,
            format!(
                "{what} {} not online (online: {})",
                off.join(","),
                fmt_list(online)
            ),
        )
    })
}

/// "0-3,7" again, for messages.
pub(super) fn fmt_list(ids: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        while i + 1 < ids.len() && ids[i + 1] == ids[i] + 1 {
            i += 1;
        }
        out.push(if ids[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", ids[i])
        });
        i += 1;
    }
    out.join(",")
}

/// Parses a Linux list ("0-3,7"): CPU or node numbers, sorted, without
/// duplicates. The empty string is the empty list.
pub(crate) fn parse_cpu_list(s: &str) -> std::result::Result<Vec<usize>, String> {
    let mut ids = Vec::new();
    if s.is_empty() {
        return Ok(ids);
    }
    let num = |t: &str| -> std::result::Result<usize, String> {
        // usize::from_str accepts a leading '+'; the list format does not.
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?}: {t:?} is not a number (expected a list like \"0-3,7\")"
            ));
        }
        match t.parse::<usize>() {
            Ok(n) if n < MAX_LIST_ID => Ok(n),
            _ => Err(format!("{s:?}: {t} is too large")),
        }
    };
    for part in s.split(',') {
        match part.split_once('-') {
            None => ids.push(num(part)?),
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("{s:?}: range {part} runs backwards"));
                }
                ids.extend(a..=b);
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_cpu_list("7,0-1,1").unwrap(), vec![0, 1, 7]);
        assert_eq!(parse_cpu_list("5").unwrap(), vec![5]);
        assert_eq!(parse_cpu_list("2-2").unwrap(), vec![2]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        for bad in [
            "3-1",
            "a",
            "0,",
            ",0",
            "0--1",
            "-1",
            "1-",
            "+1",
            " 1",
            "1 ",
            "0-3,x",
            "0-99999999999999999999",
            "0-70000",
        ] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_cpu_list("3-1").unwrap_err().contains("backwards"));
        assert_eq!(fmt_list(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
    }
}
