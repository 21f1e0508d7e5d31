//! The default `config.json` written by `hull spec`: what `runc spec` (and
//! `runc spec --rootless`) writes, byte for byte in runc's layout (its key
//! order, tab indentation, no final newline), with two differences:
//! `ociVersion` is the version of the spec hull implements, and the
//! hostname is "hull" where runc writes "runc".
//!
//! Like runc, the ambient capabilities are not inheritable (runc 1.1
//! dropped that for CVE-2022-29162), and a cgroup namespace is added only
//! on a pure cgroup v2 host.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{json, Value};

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The default spec for this host (see [`runc_default`]).
pub fn default_spec() -> Value {
    runc_default(cgroup2_unified())
}

/// runc's default spec; `cgroup2_unified` adds the cgroup namespace, as
/// runc does on a host whose /sys/fs/cgroup is cgroup2.
pub fn runc_default(cgroup2_unified: bool) -> Value {
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if cgroup2_unified {
        namespaces.push(json!({"type": "cgroup"}));
    }
    json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS, "ambient": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "hull",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// runc's `ToRootless` applied to the default: no network namespace, a
/// user namespace mapping `uid`/`gid` to root, the host's /sys bound
/// read-only, no uid=/gid= mount options, no cgroup resources.
pub fn rootless_spec(uid: u32, gid: u32) -> Value {
    to_rootless(default_spec(), uid, gid)
}

fn to_rootless(mut s: Value, uid: u32, gid: u32) -> Value {
    let linux = &mut s["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    for m in s["mounts"].as_array_mut().into_iter().flatten() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            continue;
        }
        // get_mut: indexing would add "options": null where there is none.
        if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
            opts.retain(|o| {
                o.as_str()
                    .is_none_or(|o| !o.starts_with("gid=") && !o.starts_with("uid="))
            });
        }
    }
    s
}

/// runc's test for a pure cgroup v2 host: /sys/fs/cgroup is a cgroup2 mount.
fn cgroup2_unified() -> bool {
    // f_type is signed on some architectures, unsigned on others.
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    rustix::fs::statfs("/sys/fs/cgroup").is_ok_and(|s| s.f_type as u64 == CGROUP2_SUPER_MAGIC)
}

/// The spec as runc writes it: Go's `json.MarshalIndent(spec, "", "\t")`,
/// whose keys follow the fields of runtime-spec's Go structs.
pub fn to_runc_json(spec: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    // Writing to a Vec cannot fail and a Value always serialises.
    let _ = RuncOrder(spec).serialize(&mut ser);
    out
}

/// The keys of the default spec in runtime-spec's field order. One list
/// serves every object: where two objects share a key ("type", "path")
/// their orders agree.
const FIELD_ORDER: &[&str] = &[
    "ociVersion",
    "process",
    "terminal",
    "user",
    "uid",
    "gid",
    "args",
    "env",
    "cwd",
    "capabilities",
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
    "rlimits",
    "noNewPrivileges",
    "root",
    "path",
    "readonly",
    "hostname",
    "mounts",
    "destination",
    "type",
    "hard",
    "soft",
    "source",
    "options",
    "linux",
    "uidMappings",
    "gidMappings",
    "containerID",
    "hostID",
    "size",
    "resources",
    "devices",
    "allow",
    "access",
    "namespaces",
    "maskedPaths",
    "readonlyPaths",
];

struct RuncOrder<'a>(&'a Value);

impl Serialize for RuncOrder<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let rank = |k: &str| {
                    FIELD_ORDER
                        .iter()
                        .position(|f| *f == k)
                        .unwrap_or(FIELD_ORDER.len())
                };
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by_key(|(k, _)| (rank(k), *k));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &RuncOrder(v))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&RuncOrder(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_as_oci_specs() {
        for v in [
            runc_default(false),
            runc_default(true),
            to_rootless(runc_default(true), 1000, 1000),
        ] {
            let _: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
        }
    }

    #[test]
    fn written_in_runcs_layout() {
        let text = String::from_utf8(to_runc_json(&runc_default(false))).unwrap();
        assert!(
            text.starts_with("{\n\t\"ociVersion\": \"") && text.ends_with("\n}"),
            "{text}"
        );
        let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(
            pos("ociVersion") < pos("process")
                && pos("process") < pos("root")
                && pos("root") < pos("hostname")
        );
        assert!(pos("hostname") < pos("mounts") && pos("mounts") < pos("linux"));
        assert!(
            pos("terminal") < pos("user")
                && pos("args") < pos("env")
                && pos("cwd") < pos("capabilities")
        );
        assert!(
            pos("permitted") < pos("ambient")
                && pos("resources") < pos("namespaces")
                && pos("maskedPaths") < pos("readonlyPaths")
        );
        assert!(text.contains("\"destination\": \"/proc\",\n\t\t\t\"type\": \"proc\",\n\t\t\t\"source\": \"proc\""), "{text}");
        assert!(
            text.contains(
                "\"type\": \"RLIMIT_NOFILE\",\n\t\t\t\t\"hard\": 1024,\n\t\t\t\t\"soft\": 1024"
            ),
            "{text}"
        );
    }

    #[test]
    fn cgroup_namespace_only_on_cgroup2() {
        let ns = |v: &Value| {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ns(&runc_default(false)),
            ["pid", "network", "ipc", "uts", "mount"]
        );
        assert_eq!(
            ns(&runc_default(true)),
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
        let rootless = to_rootless(runc_default(true), 1, 1);
        assert_eq!(
            ns(&rootless),
            ["pid", "ipc", "uts", "mount", "cgroup", "user"]
        );
        assert!(
            rootless["mounts"][0].get("options").is_none(),
            "{}",
            rootless["mounts"][0]
        );
    }
}
