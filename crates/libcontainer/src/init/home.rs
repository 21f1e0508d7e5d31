//! HOME for a process whose `process.env` has none, as runc sets it: the
//! home of `process.user.uid` in the container's /etc/passwd, or "/" when
//! no entry names that uid. Engines (Docker, containerd) rely on it: they
//! pass the image's environment, which rarely holds HOME.

use std::{borrow::Cow, io::Read};

use oci_spec::runtime::Spec;

/// A passwd file larger than this is not read: HOME falls back to "/".
const MAX_PASSWD: u64 = 4 << 20;

/// `spec` with `HOME=<home>` added to `process.env` when it has no
/// non-empty HOME. Must run inside the container's root (after
/// pivot_root/chroot or setns), before the switch to the container user:
/// it reads /etc/passwd there.
pub(crate) fn with_home(spec: &Spec) -> Cow<'_, Spec> {
    let Some(proc) = spec.process().as_ref() else {
        return Cow::Borrowed(spec);
    };
    let env = proc.env().as_deref().unwrap_or(&[]);
    if env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()))
    {
        return Cow::Borrowed(spec);
    }
    let home = read_passwd()
        .and_then(|p| home_of(&p, proc.user().uid()))
        .unwrap_or_else(|| "/".to_owned());
    let mut env: Vec<String> = env
        .iter()
        .filter(|e| !e.starts_with("HOME="))
        .cloned()
        .collect();
    env.push(format!("HOME={home}"));
    let mut proc = proc.clone();
    proc.set_env(Some(env));
    let mut spec = spec.clone();
    spec.set_process(Some(proc));
    Cow::Owned(spec)
}

/// The container's /etc/passwd, if it is a regular file of a sane size.
/// O_NONBLOCK: a FIFO planted there must not hang the init. Resolved in
/// the container's root without magic links: the runtime still holds host
/// directories open here, and a symlink through /proc/self/fd/N would
/// make it open a host file as root. (A kernel without openat2 gives no
/// passwd, so HOME falls back to "/".)
fn read_passwd() -> Option<String> {
    let fd = crate::proc_guard::open_in_own_root(
        "/etc/passwd",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
    )
    .ok()?;
    let f = std::fs::File::from(fd);
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(MAX_PASSWD).read_to_string(&mut s).ok()?;
    Some(s)
}

/// The home field of the first entry for `uid` (name:pw:uid:gid:gecos:home:shell).
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
            .then(|| f[5].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_of_finds_the_uid_entry() {
        let p = "root:x:0:0:root:/root:/bin/sh\n#bad\nshort:x:5\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnohome:x:7:7:::/bin/sh\n";
        assert_eq!(home_of(p, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(p, 65534).as_deref(), Some("/nonexistent"));
        assert_eq!(home_of(p, 5), None, "an entry with too few fields");
        assert_eq!(home_of(p, 7), None, "an empty home field");
        assert_eq!(home_of(p, 1000), None);
    }

    fn spec_with_env(env: &[&str]) -> Spec {
        let mut spec = Spec::default();
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_env(Some(env.iter().map(|s| s.to_string()).collect()));
        spec.set_process(Some(p));
        spec
    }

    #[test]
    fn a_set_home_is_kept() {
        let s = spec_with_env(&["PATH=/bin", "HOME=/mine"]);
        assert!(matches!(with_home(&s), Cow::Borrowed(_)));
    }

    #[test]
    fn a_missing_or_empty_home_is_added_once() {
        for env in [&["PATH=/bin"][..], &["PATH=/bin", "HOME="][..]] {
            let s = spec_with_env(env);
            let out = with_home(&s);
            let got = out
                .process()
                .as_ref()
                .and_then(|p| p.env().clone())
                .unwrap_or_default();
            assert_eq!(
                got.iter().filter(|e| e.starts_with("HOME=")).count(),
                1,
                "{got:?}"
            );
            assert_eq!(got[0], "PATH=/bin");
        }
    }
}
