use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use serde_json::{Map, Value};

use super::Container;
use crate::{
    error::{Error, Result},
    state::{write_private, Status, SPEC_FILE},
};

/// Fields libcgroups treats as "not set" when 0 (runc's convention) and
/// `cpus`/`mems` when empty: an update carrying such a value changes
/// nothing in the cgroup, so it must not overwrite the saved value either.
const UNSET_WHEN_ZERO: &[(&str, &str)] = &[
    ("memory", "limit"),
    ("memory", "reservation"),
    ("memory", "swap"),
    ("memory", "kernel"),
    ("memory", "kernelTCP"),
    ("cpu", "shares"),
    ("cpu", "quota"),
    ("cpu", "period"),
    ("cpu", "realtimeRuntime"),
    ("cpu", "realtimePeriod"),
    ("blockIO", "weight"),
    ("blockIO", "leafWeight"),
];
const UNSET_WHEN_EMPTY: &[(&str, &str)] = &[("cpu", "cpus"), ("cpu", "mems")];

/// The device rules of the saved config (none if it has none or they do
/// not parse, which no update can then match).
fn saved_devices(config: &Value) -> Vec<LinuxDeviceCgroup> {
    config
        .pointer("/linux/resources/devices")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Lists of resources.* whose entries are identified by some of their
/// fields: an update replaces the matching entry and keeps the others.
fn identity(path: &str) -> Option<&'static [&'static str]> {
    match path {
        "hugepageLimits" => Some(&["pageSize"]),
        "network.priorities" => Some(&["name"]),
        "blockIO.weightDevice"
        | "blockIO.throttleReadBpsDevice"
        | "blockIO.throttleWriteBpsDevice"
        | "blockIO.throttleReadIOPSDevice"
        | "blockIO.throttleWriteIOPSDevice" => Some(&["major", "minor"]),
        _ => None,
    }
}

impl Container {
    /// Changes the limits of a created, running or paused container. Every
    /// field set in `resources` is applied (libcgroups checks them all and
    /// names the first it cannot apply before writing anything), then merged
    /// into the saved config (`<state dir>/config.json`) so that it keeps
    /// describing the limits in force.
    pub fn update(&mut self, resources: &LinuxResources) -> Result<()> {
        let _lock = self.lock_updatable()?;
        let cgroup = self.require_cgroup("update")?;

        // Read and merge before touching the cgroup: an unreadable saved
        // config must fail the update, not leave it applied but unrecorded.
        let (path, mut config) = self.saved_config()?;
        let mut resources = resources.clone();
        if let Some(devices) = resources.devices().as_ref().filter(|d| !d.is_empty()) {
            // Replacing the rules would also drop the default ones create
            // adds (see resources.rs), so they cannot change. containerd's
            // CRI plugin sends the whole resources object back, devices as
            // created included: the same rules again change nothing.
            if *devices != saved_devices(&config) {
                return Err(libcgroups::CgroupError::Unsupported {
                    field: "linux.resources.devices".into(),
                    reason: "device rules cannot be changed after create".into(),
                }
                .into());
            }
            resources.set_devices(None);
        }
        let resources = &resources;
        let patch = serde_json::to_value(resources).map_err(|e| Error::path(&path, e))?;
        merge_into_config(&mut config, normalize(patch)).map_err(|what| {
            Error::path(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, what),
            )
        })?;
        let out = serde_json::to_vec(&config).map_err(|e| Error::path(&path, e))?;

        cgroup.apply(resources)?;
        write_private(&self.dir, SPEC_FILE, &out)?;
        Ok(())
    }

    /// Changes the Intel RDT schemas of a created, running or paused
    /// container (runc's `update --l3-cache-schema/--mem-bw-schema`): each
    /// one given is written to the container's resctrl group and read
    /// back. A container created without `linux.intelRdt` first gets a
    /// group named after it, with its init in it, as runc does. The saved
    /// config's `linux.intelRdt` is updated to match.
    pub fn update_intel_rdt(
        &mut self,
        l3_cache_schema: Option<&str>,
        mem_bw_schema: Option<&str>,
    ) -> Result<()> {
        let _lock = self.lock_updatable()?;
        let (path, mut config) = self.saved_config()?;
        let rdt = config
            .as_object_mut()
            .and_then(|c| {
                c.entry("linux")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
            })
            .map(|l| {
                l.entry("intelRdt")
                    .or_insert_with(|| Value::Object(Map::new()))
            })
            .and_then(|r| {
                if r.is_null() {
                    *r = Value::Object(Map::new());
                }
                r.as_object_mut()
            })
            .ok_or_else(|| {
                Error::path(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the saved config's linux.intelRdt is not a JSON object",
                    ),
                )
            })?;
        for (key, v) in [
            ("l3CacheSchema", l3_cache_schema),
            ("memBwSchema", mem_bw_schema),
        ] {
            if let Some(v) = v {
                rdt.insert(key.into(), Value::String(v.into()));
            }
        }
        let out = serde_json::to_vec(&config).map_err(|e| Error::path(&path, e))?;

        let had_group = self.state.intel_rdt.is_some();
        let group = crate::rdt::update(
            self.state.intel_rdt.as_ref(),
            &self.state.id,
            self.state.pid,
            l3_cache_schema,
            mem_bw_schema,
        )?;
        if !had_group {
            self.state.intel_rdt = Some(group);
            self.state.save(&self.dir)?;
        }
        write_private(&self.dir, SPEC_FILE, &out)?;
        Ok(())
    }

    /// The container lock, for a container that may be updated (created,
    /// running or paused).
    fn lock_updatable(&mut self) -> Result<crate::state::Lock> {
        let lock = self.lock()?;
        self.refresh();
        self.require_status(
            &[Status::Created, Status::Running, Status::Paused],
            "only a created, running or paused container can be updated",
        )?;
        Ok(lock)
    }

    /// The saved config as JSON, to be merged into and written back.
    fn saved_config(&self) -> Result<(std::path::PathBuf, Value)> {
        let path = self.dir.join(SPEC_FILE);
        let raw = std::fs::read(&path).map_err(|e| Error::path(&path, e))?;
        let config = serde_json::from_slice(&raw).map_err(|e| Error::path(&path, e))?;
        Ok((path, config))
    }
}

/// Drops what an update does not change: nulls, runc's "unset" zeros and
/// empty strings, and objects left empty by that.
fn normalize(mut patch: Value) -> Value {
    if let Some(obj) = patch.as_object_mut() {
        for (section, field) in UNSET_WHEN_ZERO {
            if let Some(s) = obj.get_mut(*section).and_then(Value::as_object_mut) {
                if s.get(*field).and_then(Value::as_f64) == Some(0.0) {
                    s.remove(*field);
                }
            }
        }
        for (section, field) in UNSET_WHEN_EMPTY {
            if let Some(s) = obj.get_mut(*section).and_then(Value::as_object_mut) {
                if s.get(*field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.trim().is_empty())
                {
                    s.remove(*field);
                }
            }
        }
    }
    prune(&mut patch);
    patch
}

fn prune(v: &mut Value) {
    if let Value::Object(m) = v {
        for child in m.values_mut() {
            prune(child);
        }
        m.retain(|_, c| !c.is_null() && !c.as_object().is_some_and(Map::is_empty));
    }
}

/// Merges `patch` into `config.linux.resources`, creating what is missing.
fn merge_into_config(config: &mut Value, patch: Value) -> std::result::Result<(), &'static str> {
    let root = config
        .as_object_mut()
        .ok_or("the saved config is not a JSON object")?;
    let linux = root
        .entry("linux")
        .or_insert_with(|| Value::Object(Map::new()));
    if linux.is_null() {
        *linux = Value::Object(Map::new());
    }
    let linux = linux.as_object_mut().ok_or("linux is not a JSON object")?;
    let res = linux
        .entry("resources")
        .or_insert_with(|| Value::Object(Map::new()));
    if res.is_null() {
        *res = Value::Object(Map::new());
    }
    merge(res, &patch, "");
    Ok(())
}

fn merge(base: &mut Value, patch: &Value, path: &str) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get_mut(k) {
                    Some(old) => merge(old, v, &sub),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if identity(path).is_some() => {
            let keys = identity(path).unwrap_or_default();
            for item in p {
                let same = |x: &&mut Value| keys.iter().all(|k| x.get(*k) == item.get(*k));
                match b.iter_mut().find(same) {
                    Some(old) => merge(old, item, ""),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn updated(config: Value, update: Value) -> Value {
        let r: LinuxResources = serde_json::from_value(update).unwrap();
        let mut c = config;
        merge_into_config(&mut c, normalize(serde_json::to_value(&r).unwrap())).unwrap();
        c
    }

    #[test]
    fn merges_fields_and_keeps_the_rest() {
        let config = json!({"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"}],"resources":{
            "devices":[{"allow":false,"access":"rwm"}],
            "memory":{"limit":100,"swap":200},
            "pids":{"limit":5}}}});
        let c = updated(config, json!({"memory":{"limit":64},"cpu":{"shares":512}}));
        let r = &c["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit":64,"swap":200}));
        assert_eq!(r["cpu"], json!({"shares":512}));
        assert_eq!(r["pids"]["limit"], 5);
        assert_eq!(r["devices"][0]["allow"], false);
        assert_eq!(c["linux"]["namespaces"][0]["type"], "pid");
    }

    #[test]
    fn zero_and_empty_mean_unchanged() {
        let config = json!({"linux":{"resources":{"memory":{"limit":100},"cpu":{"cpus":"0-1"}}}});
        let c = updated(
            config,
            json!({"memory":{"limit":0,"reservation":0,"swap":0},"cpu":{"shares":0,"cpus":"","mems":""},"blockIO":{"weight":0}}),
        );
        assert_eq!(
            c["linux"]["resources"],
            json!({"memory":{"limit":100},"cpu":{"cpus":"0-1"}})
        );
    }

    #[test]
    fn creates_missing_sections() {
        let c = updated(json!({"ociVersion":"1.0.2"}), json!({"pids":{"limit":10}}));
        assert_eq!(c["linux"]["resources"]["pids"]["limit"], 10);
        let c = updated(
            json!({"linux":{"resources":null}}),
            json!({"pids":{"limit":0}}),
        );
        // pids.limit 0 is meaningful (unlimited), unlike memory.limit 0.
        assert_eq!(c["linux"]["resources"]["pids"]["limit"], 0);
    }

    #[test]
    fn keyed_lists_merge_by_identity() {
        let config = json!({"linux":{"resources":{
            "hugepageLimits":[{"pageSize":"2MB","limit":1},{"pageSize":"1GB","limit":2}],
            "blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10,"leafWeight":20}]}}}});
        let c = updated(
            config,
            json!({
            "hugepageLimits":[{"pageSize":"2MB","limit":9}],
            "blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":30},{"major":8,"minor":16,"weight":40}]}}),
        );
        let r = &c["linux"]["resources"];
        assert_eq!(
            r["hugepageLimits"],
            json!([{"pageSize":"2MB","limit":9},{"pageSize":"1GB","limit":2}])
        );
        assert_eq!(
            r["blockIO"]["weightDevice"][0],
            json!({"major":8,"minor":0,"weight":30,"leafWeight":20})
        );
        assert_eq!(r["blockIO"]["weightDevice"][1]["minor"], 16);
    }

    #[test]
    fn non_object_config_is_an_error() {
        assert!(merge_into_config(&mut json!([1]), json!({})).is_err());
        assert!(merge_into_config(&mut json!({"linux": 3}), json!({})).is_err());
    }
}
