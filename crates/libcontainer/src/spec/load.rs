//! Loading a config: reading `config.json` (or taking a spec given in
//! memory), JSON syntax errors with line and column, and every type error
//! at once with its JSON path.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::error::{FieldIssue, SpecError};

/// Reads and parses `<bundle>/config.json`; the rootfs path is made absolute
/// relative to the bundle. A document that does not fit the OCI types is
/// refused with every misfit and its JSON path.
pub(crate) fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let (path, raw) = read(bundle)?;
    let mut spec = parse(&raw, &path)?;
    absolute_root(&mut spec, bundle);
    Ok(spec)
}

/// The config to create from: `given` (an in-memory spec, whose relative
/// paths are the bundle's) or `<bundle>/config.json`. Also returns the
/// name error messages give the document.
pub(crate) fn load_or_given(
    bundle: &Path,
    given: Option<&Spec>,
) -> Result<(Spec, PathBuf), SpecError> {
    match given {
        Some(s) => {
            let mut spec = s.clone();
            absolute_root(&mut spec, bundle);
            Ok((spec, PathBuf::from("spec")))
        }
        None => Ok((load(bundle)?, bundle.join("config.json"))),
    }
}

pub(super) fn read(bundle: &Path) -> Result<(PathBuf, Vec<u8>), SpecError> {
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    Ok((path, raw))
}

pub(super) fn absolute_root(spec: &mut Spec, bundle: &Path) {
    if let Some(root) = spec.root_mut() {
        if root.path().is_relative() {
            let abs = bundle.join(root.path());
            root.set_path(abs);
        }
    }
}

/// Parses a config document: JSON syntax errors with line and column,
/// type errors all at once, each with its JSON path.
pub(crate) fn parse(raw: &[u8], path: &Path) -> Result<Spec, SpecError> {
    match parse_checked(raw, path)? {
        Parsed::Fits(spec) => Ok(spec),
        Parsed::Misfits { issues, .. } => Err(SpecError::Invalid {
            path: path.to_owned(),
            issues,
        }),
    }
}

pub(super) enum Parsed {
    Fits(Spec),
    /// Type errors; `shape.spec` holds the document with stand-ins.
    Misfits {
        shape: crate::spec_shape::Shape,
        issues: Vec<FieldIssue>,
    },
}

/// The typed parse, and where it fails the field-by-field check of the
/// JSON tree (see spec_shape); only bad JSON syntax is an error here.
pub(super) fn parse_checked(raw: &[u8], path: &Path) -> Result<Parsed, SpecError> {
    let fixed = spec_spellings(raw);
    let raw = fixed.as_deref().unwrap_or(raw);
    // A config that fits is parsed without path tracking, which keeps a
    // copy of every key it passes; the tracked parse runs only to say
    // where a misfit is.
    if let Ok(spec) = serde_json::from_slice::<Spec>(raw) {
        return Ok(Parsed::Fits(spec));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    let first = match serde_path_to_error::deserialize::<_, Spec>(de) {
        Ok(spec) => return Ok(Parsed::Fits(spec)),
        Err(e) => e,
    };
    let doc: serde_json::Value = serde_json::from_slice(raw).map_err(|e| SpecError::Parse {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    })?;
    let seccomp = crate::seccomp::json_issues(&doc["linux"]["seccomp"]);
    let shape = crate::spec_shape::check(doc);
    let first_field =
        crate::spec_shape::json_path(&first.path().iter().cloned().collect::<Vec<_>>());
    let (line, column) = (first.inner().line(), first.inner().column());
    let mut issues = shape.issues.clone();
    for i in &mut issues {
        // oci-spec's seccomp enums say only "unknown variant"; the seccomp
        // module knows the names and says which one is wrong and why.
        if let Some(crate::seccomp::SeccompError::Field { reason, .. }) = seccomp.iter().find(
            |e| matches!(e, crate::seccomp::SeccompError::Field { path, .. } if *path == i.field),
        ) {
            i.reason = reason.clone();
        }
        // Where the typed parse stopped, the line and column help too.
        if i.field == first_field && line > 0 {
            i.reason = format!("{} (line {line}, column {column})", i.reason);
        }
    }
    Ok(Parsed::Misfits { shape, issues })
}

/// oci-spec 0.10 misspells two process.scheduler.flags values; the spec's
/// own spellings are mapped onto them so spec-following configs parse. Only
/// inside process.scheduler.flags: the same string anywhere else (an
/// argument, an environment entry, an annotation) is the user's and stays.
fn spec_spellings(raw: &[u8]) -> Option<Vec<u8>> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Top<'a> {
        #[serde(borrow)]
        process: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Process<'a> {
        #[serde(borrow)]
        scheduler: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Scheduler<'a> {
        #[serde(borrow)]
        flags: Option<&'a RawValue>,
    }
    const FIXES: [(&str, &str); 2] = [
        ("\"SCHED_FLAG_RESET_ON_FORK\"", "\"SCHED_RESET_ON_FORK\""),
        ("\"SCHED_FLAG_DL_OVERRUN\"", "\"SCHED_FLAG_D_L_OVERRUN\""),
    ];
    let text = std::str::from_utf8(raw).ok()?;
    if !FIXES.iter().any(|(from, _)| text.contains(from)) {
        return None;
    }
    // The flags array as a slice of `text`; a config that does not parse
    // this far is left for the real parse to report.
    let process = serde_json::from_str::<Top>(text).ok()?.process?;
    let scheduler = serde_json::from_str::<Process>(process.get())
        .ok()?
        .scheduler?;
    let flags = serde_json::from_str::<Scheduler>(scheduler.get())
        .ok()?
        .flags?
        .get();
    let start = flags.as_ptr() as usize - text.as_ptr() as usize;
    let mut fixed = flags.to_owned();
    for (from, to) in FIXES {
        // Whole JSON strings only: the quotes are part of the pattern.
        fixed = fixed.replace(from, to);
    }
    // No newline is added or removed: errors keep their line numbers.
    Some(
        [&text[..start], &fixed, &text[start + flags.len()..]]
            .concat()
            .into_bytes(),
    )
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_spellings_are_rewritten_only_in_scheduler_flags() {
        let raw = br#"{"ociVersion":"1.2.0","annotations":{"a":"SCHED_FLAG_DL_OVERRUN"},"process":{"cwd":"/","user":{"uid":0,"gid":0},
            "args":["SCHED_FLAG_RESET_ON_FORK"],"env":["SCHED_FLAG_DL_OVERRUN"],
            "scheduler":{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}}}"#;
        let spec = parse(raw, Path::new("config.json")).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_deref(),
            Some(&["SCHED_FLAG_RESET_ON_FORK".to_owned()][..])
        );
        assert_eq!(
            p.env().as_deref(),
            Some(&["SCHED_FLAG_DL_OVERRUN".to_owned()][..])
        );
        assert_eq!(
            spec.annotations().as_ref().unwrap()["a"],
            "SCHED_FLAG_DL_OVERRUN"
        );
        assert_eq!(
            p.scheduler()
                .as_ref()
                .unwrap()
                .flags()
                .as_ref()
                .unwrap()
                .len(),
            2
        );
        // Without scheduler flags nothing is rewritten at all.
        assert!(spec_spellings(br#"{"process":{"args":["SCHED_FLAG_RESET_ON_FORK"]}}"#).is_none());
        // A later error keeps its line number.
        let raw = b"{\"ociVersion\":\"1.2.0\",\"process\":{\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},\"scheduler\":{\"policy\":\"SCHED_OTHER\",\"flags\":[\"SCHED_FLAG_DL_OVERRUN\"]}},\n\"linux\":{\"namespaces\":[{\"type\":\"foo\"}]}}";
        let e = parse(raw, Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.namespaces[0].type") && e.contains("line 2,"),
            "{e}"
        );
    }

    #[test]
    fn spec_spellings_of_scheduler_flags_parse() {
        let raw = br#"{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":0,"gid":0},"scheduler":{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}}}"#;
        let spec = parse(raw, Path::new("config.json")).unwrap();
        let flags = spec
            .process()
            .as_ref()
            .unwrap()
            .scheduler()
            .as_ref()
            .unwrap()
            .flags()
            .clone()
            .unwrap();
        assert_eq!(flags.len(), 2);
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let dir = std::env::temp_dir().join(format!("hull-spec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), "{\n  \"ociVersion\": \"1.0.0\",\n  \"linux\": {\"namespaces\": [{\"type\": \"foo\"}]}\n}").unwrap();
        let err = load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("line 3"), "{err}");
        assert!(
            err.contains("linux.namespaces[0].type: unknown variant `foo`"),
            "{err}"
        );
    }
}
