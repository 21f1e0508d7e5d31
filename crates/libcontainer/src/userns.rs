//! Writing a new user namespace's id maps, done by the parent (which holds
//! the privileges in the outer namespace) once the child has created it.

use oci_spec::runtime::LinuxIdMapping;

use crate::{
    error::{Error, Result},
    procfs_handle::{ProcBase, ProcfsHandle},
};

fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub(crate) fn write_id_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<()> {
    write_maps(
        pid,
        [(uid, "linux.uidMappings"), (gid, "linux.gidMappings")],
    )
}

/// Writes `/proc/<pid>/uid_map` and `gid_map`, each failure naming the
/// spec field the maps came from. Runs in hull itself, outside the
/// container, so its own /proc is the one to use.
pub(crate) fn write_maps(pid: i32, [uid, gid]: [(&[LinuxIdMapping], &str); 2]) -> Result<()> {
    let proc = ProcfsHandle::mounted().map_err(|e| Error::sys("opening /proc", e))?;
    for (file, (maps, field)) in [("uid_map", uid), ("gid_map", gid)] {
        proc.write(ProcBase::Pid(pid), file, format_map(maps).as_bytes())
            .map_err(|e| Error::sys(format!("{field}: writing /proc/{pid}/{file}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines() {
        let m: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":100000,"size":65536},{"containerID":65536,"hostID":5,"size":1}]"#).unwrap();
        assert_eq!(format_map(&m), "0 100000 65536\n65536 5 1\n");
    }
}
