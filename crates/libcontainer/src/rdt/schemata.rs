//! resctrl `schemata` text: what to write for a container, and whether
//! what the kernel reads back (or a shared group already holds) is what
//! was asked for.
//!
//! A line is `RESOURCE:id=value;id=value`. The kernel reads back every
//! domain of every resource, padded and in its own order: `L3:0=f0` may
//! come back as `    L3:0=000f0;1=fffff`. Cache bitmasks (L2*, L3*) are
//! hex and must be equal as numbers; bandwidth values (MB, SMBA) are
//! rounded up by the kernel to the hardware's step
//! (`info/<RES>/bandwidth_gran`), so a value read back may exceed the one written by
//! less than a step.

use oci_spec::runtime::LinuxIntelRdt;

/// One line to write, with the JSON field it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub field: String,
    pub text: String,
}

/// The lines written for `l3CacheSchema`, `memBwSchema` and `schemata`,
/// in the spec's order: L3 first, MB after it, `schemata` last. An `MB:`
/// line inside `l3CacheSchema` gives way to `memBwSchema` (spec 1.2).
pub(crate) fn compose(rdt: &LinuxIntelRdt) -> Vec<Line> {
    compose_parts(
        rdt.l3_cache_schema().as_deref(),
        rdt.mem_bw_schema().as_deref(),
        rdt.schemata().as_deref().unwrap_or_default(),
    )
}

pub(crate) fn compose_parts(l3: Option<&str>, mb: Option<&str>, extra: &[String]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut push = |field: String, text: &str| {
        let text = text.trim();
        if !text.is_empty() {
            lines.push(Line {
                field,
                text: text.to_owned(),
            });
        }
    };
    for line in l3.into_iter().flat_map(str::lines) {
        if mb.is_some_and(|m| !m.trim().is_empty()) && resource(line) == Some("MB") {
            continue;
        }
        push("linux.intelRdt.l3CacheSchema".into(), line);
    }
    if let Some(m) = mb {
        push("linux.intelRdt.memBwSchema".into(), m);
    }
    for (i, l) in extra.iter().enumerate() {
        push(format!("linux.intelRdt.schemata[{i}]"), l);
    }
    lines
}

/// The text written to a `schemata` file.
pub(crate) fn text(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{}\n", l.text)).collect()
}

/// The resource name of a line ("L3" of "L3:0=f").
pub(crate) fn resource(line: &str) -> Option<&str> {
    line.split_once(':')
        .map(|(r, _)| r.trim())
        .filter(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

/// `(domain, value)` pairs of a line, or None if it is not `RES:id=v;...`.
fn domains(line: &str) -> Option<Vec<(&str, &str)>> {
    let (_, rest) = line.split_once(':')?;
    let pairs: Option<Vec<_>> = rest
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(d, v)| (d.trim(), v.trim()))
                .filter(|(d, v)| !d.is_empty() && !v.is_empty())
        })
        .collect();
    pairs.filter(|p| !p.is_empty())
}

/// Why `line` is not a schemata line, if it is not.
pub(crate) fn line_issue(line: &str) -> Option<String> {
    if line.contains(['\n', '\r', '\0']) {
        return Some(format!("{line:?} must be a single line"));
    }
    if resource(line).is_none() || domains(line).is_none() {
        return Some(format!(
            "{line:?} is not a schemata line (RESOURCE:id=value;id=value...)"
        ));
    }
    None
}

fn is_cache(res: &str) -> bool {
    res.starts_with("L2") || res.starts_with("L3")
}

/// Whether `got` is what the kernel makes of `want` for resource `res`.
fn same_value(res: &str, want: &str, got: &str, step: u64) -> bool {
    if is_cache(res) {
        return match (u64::from_str_radix(want, 16), u64::from_str_radix(got, 16)) {
            (Ok(w), Ok(g)) => w == g,
            _ => want.eq_ignore_ascii_case(got),
        };
    }
    match (want.parse::<u64>(), got.parse::<u64>()) {
        (Ok(w), Ok(g)) => g >= w && g - w < step.max(1),
        _ => want == got,
    }
}

/// The first line `got` (a schemata file) does not hold, and how it
/// differs; None if every domain asked for has its value. `step` gives a
/// resource's bandwidth granularity (1 where exact).
pub(crate) fn mismatch<'a>(
    wanted: &'a [Line],
    got: &str,
    step: impl Fn(&str) -> u64,
) -> Option<(&'a Line, String)> {
    for line in wanted {
        let bad = || format!("{:?} is not a RESOURCE:id=value line", line.text);
        let (Some(res), Some(want)) = (resource(&line.text), domains(&line.text)) else {
            return Some((line, bad()));
        };
        let Some(have_line) = got
            .lines()
            .map(str::trim)
            .find(|l| resource(l) == Some(res))
        else {
            return Some((
                line,
                format!("resctrl has no {res} line (it reads {:?})", got.trim()),
            ));
        };
        let have = domains(have_line).unwrap_or_default();
        for (dom, value) in want {
            match have.iter().find(|(d, _)| *d == dom) {
                Some((_, v)) if same_value(res, value, v, step(res)) => {}
                Some((_, v)) => {
                    return Some((line, format!("{res} domain {dom} is {v}, not {value}")))
                }
                None => {
                    return Some((
                        line,
                        format!("{res} has no domain {dom} (it reads {have_line:?})"),
                    ))
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn lines(v: &[&str]) -> Vec<Line> {
        compose_parts(
            None,
            None,
            &v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn composes_in_the_spec_order() {
        let c = compose_parts(
            Some("L3:0=f0;1=1f"),
            Some("MB:0=20;1=70"),
            &["L2:0=3".to_string()],
        );
        assert_eq!(texts(&c), ["L3:0=f0;1=1f", "MB:0=20;1=70", "L2:0=3"]);
        assert_eq!(c[0].field, "linux.intelRdt.l3CacheSchema");
        assert_eq!(c[1].field, "linux.intelRdt.memBwSchema");
        assert_eq!(c[2].field, "linux.intelRdt.schemata[0]");
        assert_eq!(text(&c), "L3:0=f0;1=1f\nMB:0=20;1=70\nL2:0=3\n");
        // memBwSchema replaces an MB line in l3CacheSchema.
        let c = compose_parts(
            Some("L3CODE:0=f\nMB:0=10\nL3DATA:0=f0"),
            Some("MB:0=50"),
            &[],
        );
        assert_eq!(texts(&c), ["L3CODE:0=f", "L3DATA:0=f0", "MB:0=50"]);
        let c = compose_parts(Some("L3:0=f\nMB:0=10"), None, &[]);
        assert_eq!(texts(&c), ["L3:0=f", "MB:0=10"]);
        assert!(compose_parts(None, Some(""), &[]).is_empty());
    }

    #[test]
    fn lines_are_checked() {
        assert_eq!(line_issue("L3:0=f;1=f0"), None);
        assert_eq!(line_issue("MB:0= 50"), None);
        for bad in [
            "L3",
            "L3:",
            "L3:0",
            "L3:=f",
            ":0=1",
            "L3:0=f\nMB:0=1",
            "L 3:0=f",
        ] {
            assert!(line_issue(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[test]
    fn read_back_with_padding_and_other_domains_matches() {
        let got = "    L3:0=000f0;1=fffff\n    MB:0= 50;1=100\n";
        assert_eq!(mismatch(&lines(&["L3:0=f0", "MB:0=50"]), got, |_| 1), None);
        assert_eq!(mismatch(&lines(&["L3:1=FFFFF"]), got, |_| 1), None);
    }

    #[test]
    fn bandwidth_rounds_up_to_less_than_a_step() {
        let got = "MB:0=30;1=100";
        assert_eq!(mismatch(&lines(&["MB:0=25"]), got, |_| 10), None);
        let want = lines(&["MB:0=25"]);
        let (_, why) = mismatch(&want, got, |_| 1).unwrap();
        assert_eq!(why, "MB domain 0 is 30, not 25");
        assert!(mismatch(&lines(&["MB:0=40"]), got, |_| 10).is_some());
        assert!(mismatch(&lines(&["MB:0=20"]), got, |_| 10).is_some());
    }

    #[test]
    fn differences_name_the_line_and_domain() {
        let got = "L3:0=ff;1=ff\nMB:0=100";
        let want = compose_parts(Some("L3:0=ff"), Some("MB:0=50"), &[]);
        let (line, why) = mismatch(&want, got, |_| 1).unwrap();
        assert_eq!(line.field, "linux.intelRdt.memBwSchema");
        assert_eq!(why, "MB domain 0 is 100, not 50");
        let want = lines(&["L3:2=f0"]);
        assert_eq!(
            mismatch(&want, got, |_| 1).unwrap().1,
            "L3 has no domain 2 (it reads \"L3:0=ff;1=ff\")"
        );
        let want = lines(&["L2:0=f"]);
        assert!(mismatch(&want, got, |_| 1)
            .unwrap()
            .1
            .starts_with("resctrl has no L2 line"));
    }
}
