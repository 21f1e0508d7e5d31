//! The command line's own output: `spec`, `check`, and the error, warning
//! and debug lines on stderr.

use hull_integration::*;
use std::path::{Path, PathBuf};

/// runc, the reference, if installed.
fn runc() -> Option<PathBuf> {
    [
        "/usr/sbin/runc",
        "/usr/bin/runc",
        "/usr/local/sbin/runc",
        "/usr/local/bin/runc",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn spec_text(bin: &Path, root: &Path, dir: &Path, rootless: bool) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut c = std::process::Command::new(bin);
    c.arg("--root")
        .arg(root)
        .arg("spec")
        .arg("--bundle")
        .arg(dir);
    if rootless {
        c.arg("--rootless");
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{bin:?} spec: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(dir.join("config.json")).unwrap()
}

/// `hull spec` writes what `runc spec` writes, layout included, but for
/// two values: ociVersion (the spec version hull implements) and the
/// hostname ("hull" for "runc"). So does `--rootless`.
#[test]
fn spec_is_runcs_default() {
    require_root!();
    let Some(runc) = runc() else {
        eprintln!(
            "note: spec_is_runcs_default: runc is not installed; nothing to compare `spec` with"
        );
        return;
    };
    let rt = Runtime::new("cli_spec");
    for rootless in [false, true] {
        let tag = if rootless { "rootless" } else { "default" };
        let ours = spec_text(
            &hull_bin(),
            &rt.root,
            &rt.base.join(format!("hull-{tag}")),
            rootless,
        );
        let theirs = spec_text(
            &runc,
            &rt.root,
            &rt.base.join(format!("runc-{tag}")),
            rootless,
        );
        let (o, t): (Value, Value) = (
            serde_json::from_str(&ours).unwrap(),
            serde_json::from_str(&theirs).unwrap(),
        );
        let normalised = if is_runc() {
            ours.clone()
        } else {
            assert_eq!(o["hostname"], "hull", "{tag}");
            ours.replacen(
                &format!("\"ociVersion\": {}", o["ociVersion"]),
                &format!("\"ociVersion\": {}", t["ociVersion"]),
                1,
            )
            .replacen(
                "\"hostname\": \"hull\"",
                &format!("\"hostname\": {}", t["hostname"]),
                1,
            )
        };
        assert_eq!(
            normalised, theirs,
            "{tag}: `spec` differs from runc's beyond ociVersion and hostname"
        );
    }
}

/// Without `--log`, a failure is one stderr line that says it is an error
/// (runc: `level=error msg=...`; hull: `hull: error: ...`) and keeps the
/// message; with `--log --log-format json` the log gets a JSON error line.
#[test]
fn errors_say_they_are_errors() {
    require_root!();
    let rt = Runtime::new("cli_errors");
    let o = rt.exec(&["state", "no-such-container"]);
    o.failed();
    assert!(
        o.stderr.contains("error") && o.stderr.contains("does not exist"),
        "{o}"
    );
    if !is_runc() {
        assert_eq!(
            o.stderr, "hull: error: container \"no-such-container\" does not exist\n",
            "{o}"
        );
    }
    let log = rt.base.join("log.json");
    let l = log.to_str().unwrap();
    let o = rt.exec(&[
        "--log",
        l,
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    o.failed();
    assert!(
        o.stderr.contains("does not exist"),
        "the message still reaches stderr: {o}"
    );
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    let err = lines
        .iter()
        .find(|j| j["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {lines:?}"));
    assert!(
        err["msg"].as_str().unwrap().contains("does not exist"),
        "{err}"
    );
    assert!(err["time"].is_string(), "{err}");
}

/// `time="<RFC 3339>" level=debug msg="<quoted>"`, as runc (logrus) writes
/// it (runc may add fields after the message: `func=... file=...`).
fn is_runc_debug_line(l: &str) -> bool {
    let Some(rest) = l.strip_prefix("time=\"") else {
        return false;
    };
    let Some((time, rest)) = rest.split_once('"') else {
        return false;
    };
    time.len() >= 20 && time.ends_with('Z') && rest.starts_with(" level=debug msg=\"")
}

/// `--debug` writes debug lines in runc's form to stderr (no `--log`).
#[test]
fn debug_lines_are_runcs() {
    require_root!();
    let rt = Runtime::new("cli_debug");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "exit", "0"]);
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    let o = rt.exec(&["--debug", "run", "--bundle", &dir, &b.id]);
    o.ok();
    let debug: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains("level=debug"))
        .collect();
    assert!(!debug.is_empty(), "no debug lines: {o}");
    for l in &debug {
        assert!(is_runc_debug_line(l), "not runc's form: {l:?}");
    }
}

/// `check` reports every problem at once, type errors included, each with
/// its JSON path, and exits 1; `create` refuses the same config naming the
/// type errors.
#[test]
fn check_reports_every_problem() {
    require_root!();
    if is_runc() {
        eprintln!("note: check_reports_every_problem: runc has no `check` command; skipped");
        return;
    }
    let rt = Runtime::new("cli_check");
    let mut b = rt.bundle();
    b.process()["user"]["uid"] = json!("1000");
    b.process()["cwd"] = json!("relative/dir");
    b.process()["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}]);
    b.linux()["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "bogus"}));
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "tmpfs", "options": "ro"}));
    b.spec["hostname"] = json!(42);
    b.write_config();
    let dir = b.dir.to_string_lossy().into_owned();
    let o = rt.exec(&["check", "--bundle", &dir]);
    assert_eq!(o.code, 1, "{o}");
    let n = b.spec["linux"]["namespaces"].as_array().unwrap().len() - 1;
    let m = b.spec["mounts"].as_array().unwrap().len() - 1;
    let wanted = [
        // type errors
        format!("linux.namespaces[{n}].type: unknown variant `bogus`"),
        "process.user.uid: invalid type: string \"1000\", expected u32".to_owned(),
        format!("mounts[{m}].options: invalid type: string \"ro\", expected a sequence"),
        "hostname: invalid type: integer `42`, expected a string".to_owned(),
        // checks of the values
        "process.cwd: \"relative/dir\" must be an absolute path".to_owned(),
        "process.rlimits[0]: soft limit is above the hard limit".to_owned(),
    ];
    for w in &wanted {
        assert!(
            o.stderr.lines().any(|l| l.starts_with(w.as_str())),
            "missing {w:?} in:\n{}",
            o.stderr
        );
    }
    assert_eq!(
        o.stderr.lines().count(),
        wanted.len(),
        "one line per problem, nothing else:\n{}",
        o.stderr
    );

    let c = rt.create(&b);
    c.failed();
    assert!(c.stderr.starts_with("hull: error: "), "{c}");
    for w in &wanted[..4] {
        assert!(
            c.stderr.contains(w.as_str()),
            "create does not name {w:?}: {c}"
        );
    }
    assert!(rt.list_ids().is_empty());
}

/// As runc (urfave/cli), the last of a repeated flag wins, global or a
/// command's: engines repeat some (dockerd's runtime options and the
/// shim's own), where a strict parser would refuse the second.
#[test]
fn a_repeated_flag_takes_the_last_value() {
    require_root!();
    let rt = Runtime::new("cli_repeated");
    let first = rt.base.join("first.log");
    let last = rt.base.join("last.log");
    let o = rt.exec(&[
        "--log",
        first.to_str().unwrap(),
        "--log-format",
        "text",
        "--log",
        last.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    o.failed();
    assert!(o.stderr.contains("does not exist"), "{o}");
    assert!(!first.exists(), "the first --log was used: {o}");
    let lines = json_lines(&std::fs::read_to_string(&last).unwrap());
    assert!(
        lines.iter().any(|j| j["level"] == "error"),
        "no JSON error line (the last --log-format) in {lines:?}"
    );
}

/// A program that is not there fails `run` and `exec` in runc's words:
/// engines look for them (Docker maps "executable file not found" to 127).
#[test]
fn a_missing_program_fails_in_runcs_words() {
    require_root!();
    let rt = Runtime::new("cli_not_found");
    let mut b = rt.bundle();
    b.args(&["no-such-binary"]);
    let o = rt.run(&b);
    o.failed();
    let words = r#"exec: "no-such-binary": executable file not found in $PATH"#;
    // runc's text log line escapes the quotes
    let said = |s: &str| s.replace(r#"\""#, "\"").contains(words);
    assert!(said(&o.stderr), "run: {o}");

    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "120"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let o = rt.exec(&["exec", &b.id, "no-such-binary"]);
    o.failed();
    assert!(said(&o.stderr), "exec: {o}");
    rt.exec(&["delete", "--force", &b.id]).ok();
}
