//! Checks of the raw `linux.seccomp` JSON, for what the typed spec cannot
//! hold: a name oci-spec does not know (`SCMP_ACT_FOO`) fails the whole
//! `Spec` deserialisation with a line and column only. Run on the raw
//! document first, this names the field instead.

use serde::de::DeserializeOwned;
use serde_json::Value;

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use super::SeccompError;

const ROOT: &str = "linux.seccomp";

/// Every unknown action, architecture, flag or operator name in the raw
/// `linux.seccomp` object, each as a [`SeccompError::Field`] naming its JSON
/// path. Shapes (missing fields, wrong types) are left to the typed parse.
pub(crate) fn json_issues(seccomp: &Value) -> Vec<SeccompError> {
    let mut out = Vec::new();
    let Some(obj) = seccomp.as_object() else {
        return out;
    };
    if let Some(v) = obj.get("defaultAction") {
        check::<LinuxSeccompAction>(v, format!("{ROOT}.defaultAction"), "action", &mut out);
    }
    for (i, v) in array(obj.get("architectures")) {
        check::<Arch>(
            v,
            format!("{ROOT}.architectures[{i}]"),
            "architecture",
            &mut out,
        );
    }
    for (i, v) in array(obj.get("flags")) {
        check::<LinuxSeccompFilterFlag>(
            v,
            format!("{ROOT}.flags[{i}]"),
            "seccomp filter flag",
            &mut out,
        );
    }
    for (i, call) in array(obj.get("syscalls")) {
        if let Some(v) = call.get("action") {
            check::<LinuxSeccompAction>(
                v,
                format!("{ROOT}.syscalls[{i}].action"),
                "action",
                &mut out,
            );
        }
        for (j, arg) in array(call.get("args")) {
            if let Some(v) = arg.get("op") {
                check::<LinuxSeccompOperator>(
                    v,
                    format!("{ROOT}.syscalls[{i}].args[{j}].op"),
                    "operator",
                    &mut out,
                );
            }
        }
    }
    out
}

fn array(v: Option<&Value>) -> impl Iterator<Item = (usize, &Value)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn check<T: DeserializeOwned>(v: &Value, path: String, what: &str, out: &mut Vec<SeccompError>) {
    match v {
        Value::String(s) => {
            if serde_json::from_value::<T>(v.clone()).is_err() {
                out.push(SeccompError::field(
                    path,
                    format!("{s} is not a known {what}"),
                ));
            }
        }
        other => out.push(SeccompError::field(
            path,
            format!("must be a string naming the {what}, not {other}"),
        )),
    }
}
