use std::{collections::HashSet, io::Write, process::Command};

use libcontainer::Container;

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Output format: table (ps(1) output) or json (the pid list).
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Options for ps(1) in table format (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    let pids = Container::load(&g.root, &a.id)?.processes()?;
    let mut out = std::io::stdout().lock();
    if a.format == "json" {
        if !a.ps_args.is_empty() {
            return Err("ps options are only used with --format table".into());
        }
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    // Like runc: run the host's ps and keep the rows of the container's
    // pids, so every ps option and column works.
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let res = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| format!("running ps: {e}"))?;
    if !res.status.success() {
        return Err(format!(
            "ps {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        )
        .into());
    }
    let text = String::from_utf8_lossy(&res.stdout);
    let wanted: HashSet<i32> = pids.into_iter().collect();
    for line in filter_rows(&text, &wanted)? {
        writeln!(out, "{line}")?;
    }
    Ok(0)
}

/// The header plus the rows whose PID column is one of `pids`.
fn filter_rows<'a>(ps_output: &'a str, pids: &HashSet<i32>) -> Result<Vec<&'a str>, String> {
    let mut lines = ps_output.lines();
    let header = lines.next().ok_or("ps printed nothing")?;
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or("couldn't find PID field in ps output")?;
    let mut rows = vec![header];
    rows.extend(lines.filter(|l| {
        l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
    }));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_rows() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                   root        4242       1  0 10:01 ?        00:00:00 sleep 1000\n\
                   root        4243    4242  0 10:01 ?        00:00:00 sh -c 4242\n";
        let pids = HashSet::from([4242]);
        let rows = filter_rows(out, &pids).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].starts_with("UID"));
        assert!(rows[1].contains("sleep 1000"));
    }

    #[test]
    fn pid_column_found_anywhere() {
        let rows = filter_rows("COMMAND PID\nsleep 7\nsh 8\n", &HashSet::from([8])).unwrap();
        assert_eq!(rows, vec!["COMMAND PID", "sh 8"]);
        assert!(filter_rows("COMMAND\nsleep\n", &HashSet::new()).is_err());
    }
}
