//! Type checks of `config.json` as a JSON tree: every value that does not
//! fit the OCI types (an unknown `linux.namespaces[].type`, a string where
//! a number belongs, a missing required field...), each with its JSON path.
//!
//! oci-spec's own deserialisers are the schema, so nothing here can drift
//! from what create accepts. The typed parse stops at the first misfit; the
//! check records it, puts a stand-in of the expected type at its path and
//! parses again, until the document parses.
//!
//! The stand-ins give a typed spec for the checks of the values. What those
//! say at or under a replaced path is about the stand-in, not a finding;
//! and a stand-in can make findings elsewhere (a stand-in namespace type
//! that another entry also has is "listed twice"). So the value checks also
//! run on the document without the array entries that hold a misfit, and
//! only findings both runs make are kept ([`Shape::findings`]).

use std::collections::HashMap;

use oci_spec::runtime::Spec;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use crate::spec::error::FieldIssue;

/// The outcome of [`check`].
#[derive(Debug)]
pub(crate) struct Shape {
    /// The document with every misfit replaced, parsed; None only when no
    /// stand-in made it parse (then `issues` ends with the parser's error).
    pub spec: Option<Spec>,
    /// One per misfit, in the order the parser meets them (object keys
    /// sorted).
    pub issues: Vec<FieldIssue>,
    /// JSON paths whose value was replaced or added.
    pub replaced: Vec<String>,
    /// The same, as path segments.
    segments: Vec<Vec<Segment>>,
    /// The document with the stand-ins.
    doc: Value,
}

impl Shape {
    /// Whether `field` (a JSON path) is at or under a replaced path.
    pub fn covers(&self, field: &str) -> bool {
        self.replaced.iter().any(|r| {
            field == r
                || field
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }
}

impl Shape {
    /// What `run` (the checks of the values) finds in the document whatever
    /// the misfits were meant to be: on the stand-in spec, not at a
    /// replaced path, and also on the document without the array entries
    /// that hold a misfit (indices given as in the original).
    pub fn findings(&self, run: impl Fn(&Spec) -> Vec<FieldIssue>) -> Vec<FieldIssue> {
        let Some(spec) = &self.spec else {
            return Vec::new();
        };
        let found: Vec<FieldIssue> = run(spec)
            .into_iter()
            .filter(|i| !self.covers(&i.field))
            .collect();
        let (pruned, removed) = self.pruned();
        let Ok(other) = serde_json::from_value::<Spec>(pruned) else {
            return found;
        };
        let mut also: Vec<FieldIssue> = run(&other);
        for i in &mut also {
            i.field = original_indices(&i.field, &removed);
        }
        found.into_iter().filter(|i| also.contains(i)).collect()
    }

    /// The stand-in document without each array entry holding a replaced
    /// path (the innermost array), and per array path the original indices
    /// removed, outermost arrays first.
    fn pruned(&self) -> (Value, Vec<(String, Vec<usize>)>) {
        let mut removed: Vec<(Vec<Segment>, Vec<usize>)> = Vec::new();
        for segs in &self.segments {
            let Some(p) = segs.iter().rposition(|s| matches!(s, Segment::Seq { .. })) else {
                continue;
            };
            let Segment::Seq { index } = segs[p] else {
                continue;
            };
            let array = segs[..p].to_vec();
            match removed
                .iter_mut()
                .find(|(a, _)| json_path(a) == json_path(&array))
            {
                Some((_, v)) if !v.contains(&index) => v.push(index),
                Some(_) => {}
                None => removed.push((array, vec![index])),
            }
        }
        // Innermost arrays first, so the outer indices on the way are
        // still the original ones; within an array from the back.
        removed.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
        let mut doc = self.doc.clone();
        for (array, idx) in &mut removed {
            idx.sort_unstable();
            if let Some(Value::Array(a)) = get_mut(&mut doc, array) {
                for &i in idx.iter().rev() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
        }
        removed.reverse();
        (
            doc,
            removed
                .into_iter()
                .map(|(a, i)| (json_path(&a), i))
                .collect(),
        )
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &[Segment]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for seg in path {
        cur = match (seg, cur) {
            (Segment::Seq { index }, Value::Array(a)) => a.get_mut(*index)?,
            (Segment::Map { key }, Value::Object(o)) => o.get_mut(key)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `field` of the pruned document with the indices of the original: in
/// each array of `removed` (outermost first), entry k is the k-th one that
/// was not removed.
fn original_indices(field: &str, removed: &[(String, Vec<usize>)]) -> String {
    let mut field = field.to_owned();
    for (array, gone) in removed {
        let Some(rest) = field
            .strip_prefix(array.as_str())
            .and_then(|r| r.strip_prefix('['))
        else {
            continue;
        };
        let Some((num, tail)) = rest.split_once(']') else {
            continue;
        };
        let Ok(k) = num.parse::<usize>() else {
            continue;
        };
        let Some(orig) = (0..).filter(|i| !gone.contains(i)).nth(k) else {
            continue;
        };
        field = format!("{array}[{orig}]{tail}");
    }
    field
}

/// Checks `doc` against the OCI runtime spec's types.
pub(crate) fn check(mut doc: Value) -> Shape {
    let mut shape = Shape {
        spec: None,
        issues: Vec::new(),
        replaced: Vec::new(),
        segments: Vec::new(),
        doc: Value::Null,
    };
    // Each step fixes one value; a document cannot need more steps than it
    // has values, plus the fields that may be missing from them.
    let budget = 4 * count_values(&doc) + 64;
    // (path, message) already answered: the same error twice means the
    // stand-in did not fit, so the next candidate is tried.
    let mut tried: HashMap<(String, String), u32> = HashMap::new();
    for _ in 0..budget {
        let err = match serde_path_to_error::deserialize::<_, Spec>(doc.clone()) {
            Ok(spec) => {
                shape.spec = Some(spec);
                shape.doc = doc;
                return shape;
            }
            Err(e) => e,
        };
        let segments: Vec<Segment> = err.path().iter().cloned().collect();
        let msg = err.into_inner().to_string();
        let (segments, field, reason) = match missing_field(&msg) {
            Some(name) => {
                let mut s = segments;
                s.push(Segment::Map {
                    key: name.to_owned(),
                });
                let field = json_path(&s);
                (s, field, "required".to_owned())
            }
            None => {
                let field = json_path(&segments);
                (segments, field, msg.clone())
            }
        };
        if !shape.covers(&field) {
            shape.issues.push(FieldIssue {
                field: field.clone(),
                reason,
            });
            shape.replaced.push(field.clone());
            shape.segments.push(segments.clone());
        }
        let attempt = tried
            .entry((field, msg.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(0);
        let fixed = match (*attempt, stand_in(&msg)) {
            (0, v) => set(&mut doc, &segments, Some(v)),
            // The value of the expected kind did not fit (a custom check,
            // an enum written differently): try other kinds, then none.
            (1, _) => set(&mut doc, &segments, Some(Value::Null)),
            (2, _) => set(&mut doc, &segments, Some(Value::Object(Map::new()))),
            (3, _) => set(&mut doc, &segments, None),
            _ => false,
        };
        if !fixed {
            break;
        }
    }
    // Nothing fit: report what the parser says last, and stop there.
    if let Err(e) = serde_path_to_error::deserialize::<_, Spec>(doc) {
        let field = json_path(&e.path().iter().cloned().collect::<Vec<_>>());
        let issue = FieldIssue {
            field,
            reason: e.into_inner().to_string(),
        };
        if !shape.issues.contains(&issue) {
            shape.issues.push(issue);
        }
    }
    shape
}

fn count_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_values).sum(),
        Value::Object(o) => o.values().map(count_values).sum(),
        _ => 0,
    }
}

/// `missing field `cwd`` → "cwd".
fn missing_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("missing field `")?.split('`').next()
}

/// A value of the type serde expected, read from its message ("invalid
/// type: string \"x\", expected u32"; "unknown variant `foo`, expected one
/// of `pid`, ..."). A field that was missing gets null: the next error
/// then names its type.
fn stand_in(msg: &str) -> Value {
    if missing_field(msg).is_some() {
        return Value::Null;
    }
    let expected = msg.rsplit_once("expected ").map_or("", |(_, e)| e.trim());
    if let Some(variants) = expected.strip_prefix("one of ") {
        if let Some(first) = variants.split('`').nth(1) {
            return Value::String(first.to_owned());
        }
    }
    if let Some(single) = expected.strip_prefix('`').and_then(|e| e.split('`').next()) {
        return Value::String(single.to_owned());
    }
    let number = [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "isize", "f32", "f64",
    ];
    if number.iter().any(|n| expected.starts_with(n))
        || expected.contains("integer")
        || expected.contains("number")
    {
        Value::from(0)
    } else if expected.contains("bool") {
        Value::Bool(false)
    } else if expected.contains("sequence")
        || expected.contains("array")
        || expected.contains("tuple")
    {
        Value::Array(Vec::new())
    } else if expected.contains("string") || expected.contains("path") || expected.contains("char")
    {
        // Before maps: an enum takes "string or map", and a string names
        // its variants in the next message.
        Value::String(String::new())
    } else if expected.contains("struct") || expected.contains("map") {
        Value::Object(Map::new())
    } else {
        Value::Null
    }
}

/// Puts `v` at `path` in `doc` (None: removes the value there); false
/// when the path does not lead anywhere.
fn set(doc: &mut Value, path: &[Segment], v: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        *doc = v.unwrap_or(Value::Null);
        return true;
    };
    let mut cur = doc;
    for seg in parents {
        let next = match (seg, cur) {
            (Segment::Seq { index }, Value::Array(a)) => a.get_mut(*index),
            (Segment::Map { key }, Value::Object(o)) => o.get_mut(key),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur, v) {
        (Segment::Seq { index }, Value::Array(a), Some(v)) if *index < a.len() => a[*index] = v,
        // Later elements move up: a last resort, for a value nothing fits.
        (Segment::Seq { index }, Value::Array(a), None) if *index < a.len() => {
            drop(a.remove(*index))
        }
        (Segment::Map { key }, Value::Object(o), Some(v)) => drop(o.insert(key.clone(), v)),
        (Segment::Map { key }, Value::Object(o), None) => drop(o.remove(key)),
        // The parent itself is of the wrong kind (null where an object
        // belongs): it is what gets replaced.
        (_, other, v) => *other = v.unwrap_or(Value::Null),
    }
    true
}

/// The path as hull's messages write it: `linux.namespaces[0].type`, and
/// map keys that are no identifier quoted: `linux.sysctl["net.ipv4.x"]`.
pub(crate) fn json_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let ident = key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if ident {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{key:?}]"));
                }
            }
            Segment::Unknown => out.push_str(if out.is_empty() { "?" } else { ".?" }),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(doc: Value) -> Vec<String> {
        check(doc).issues.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn every_misfit_is_reported_with_its_path() {
        let doc = json!({
            "ociVersion": "1.2.0",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": "root", "gid": 0}, "oomScoreAdj": "low",
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}, {"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]},
            "root": {"path": 7},
            "mounts": [{"destination": "/x", "type": "tmpfs", "options": "ro"}, {"type": "tmpfs"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "cgroupz"}, {"type": "mount"}], "sysctl": {"net.ipv4.ip_forward": 1},
                      "resources": {"pids": {"limit": "many"}}}
        });
        let s = check(doc);
        let got: Vec<String> = s.issues.iter().map(|i| i.to_string()).collect();
        for want in [
            "process.user.uid: invalid type: string \"root\", expected u32",
            "process.oomScoreAdj: invalid type: string \"low\", expected i32",
            "process.rlimits[1].type: unknown variant `RLIMIT_BOGUS`",
            "root.path: invalid type: integer `7`",
            "mounts[0].options: invalid type: string \"ro\", expected a sequence",
            "mounts[1].destination: required",
            "linux.namespaces[1].type: unknown variant `cgroupz`, expected one of",
            "linux.sysctl[\"net.ipv4.ip_forward\"]: invalid type: integer `1`, expected a string",
            "linux.resources.pids.limit: invalid type: string \"many\"",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), 9, "{got:#?}");
        assert!(
            s.covers("linux.namespaces[1].type")
                && s.covers("root.path")
                && !s.covers("linux.namespaces[2].type")
        );
        let spec = s.spec.expect("the stand-ins make the document parse");
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .len(),
            3,
            "indices stay as they were"
        );
    }

    #[test]
    fn wrong_kinds_of_containers_are_one_issue_each() {
        let got = issues(
            json!({"ociVersion": "1.0.0", "process": "sh", "linux": {"namespaces": {"type": "pid"}}, "hooks": "x"}),
        );
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got.iter()
                .any(|g| g
                    .starts_with("process: invalid type: string \"sh\", expected struct Process")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("linux.namespaces: invalid type: map")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("hooks: invalid type: string")),
            "{got:#?}"
        );
    }

    #[test]
    fn a_fitting_document_has_no_issues() {
        let s = check(crate::spec_default::runc_default(false));
        assert!(s.issues.is_empty() && s.spec.is_some(), "{:?}", s.issues);
        let s = check(
            json!({"ociVersion": "1.0.0", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_FOO"}}}),
        );
        assert_eq!(s.issues.len(), 1, "{:?}", s.issues);
        assert_eq!(s.issues[0].field, "linux.seccomp.defaultAction");
    }

    #[test]
    fn paths_quote_keys_that_are_not_names() {
        let p = [
            Segment::Map {
                key: "linux".into(),
            },
            Segment::Map {
                key: "sysctl".into(),
            },
            Segment::Map {
                key: "kernel.shmmax".into(),
            },
        ];
        assert_eq!(json_path(&p), "linux.sysctl[\"kernel.shmmax\"]");
        assert_eq!(
            json_path(&[
                Segment::Map {
                    key: "mounts".into()
                },
                Segment::Seq { index: 2 }
            ]),
            "mounts[2]"
        );
        assert_eq!(json_path(&[]), ".");
    }
}
