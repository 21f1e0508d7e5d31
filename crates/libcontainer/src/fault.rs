//! Fault injection for tests: in builds with the `fault-injection` feature,
//! `HULL_FAULT=<phase>` makes hull SIGKILL itself when it reaches that phase
//! of `create`, so tests can prove every phase is recoverable with
//! `delete --force`. Release builds compile this to nothing.

/// The phases, in order, for tests to iterate over.
pub const PHASES: [&str; 7] = [
    "state-dir",
    "cgroup",
    "clone",
    "child-ready",
    "init-pid",
    "init-ready",
    "created",
];

#[inline(always)]
pub(crate) fn point(phase: &'static str) {
    #[cfg(feature = "fault-injection")]
    if std::env::var("HULL_FAULT").is_ok_and(|p| p == phase) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    let _ = phase;
}
