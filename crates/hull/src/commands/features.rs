use super::CmdResult;

pub fn run() -> CmdResult {
    use std::io::Write;
    let pretty = serde_json::to_string_pretty(&libcontainer::features())?;
    writeln!(std::io::stdout().lock(), "{}", omit_null_members(&pretty))?;
    Ok(0)
}

/// Drops the members whose value is null from serde_json's pretty layout
/// (one member per line), keeping the types' field order: oci-spec writes
/// an unset field as null, where runc's Go types (`omitempty`) leave it out.
fn omit_null_members(pretty: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in pretty.lines() {
        let member = line.trim_start();
        let last = !member.ends_with(',');
        if member.starts_with('"') && member.trim_end_matches(',').ends_with("\": null") {
            // The member before it is now the last one of its object.
            if let Some(prev) = out.last_mut().filter(|_| last) {
                if prev.ends_with(',') {
                    prev.pop();
                }
            }
            continue;
        }
        out.push(line.to_owned());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::omit_null_members;

    #[test]
    fn null_members_go_and_commas_stay_valid() {
        let v = serde_json::json!({"a": 1, "b": null, "c": {"d": "x: null", "e": null}, "f": [null, 2], "z": null});
        let got = omit_null_members(&serde_json::to_string_pretty(&v).unwrap());
        let back: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"a": 1, "c": {"d": "x: null"}, "f": [null, 2]})
        );
    }
}
