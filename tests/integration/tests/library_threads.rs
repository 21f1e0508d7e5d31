//! The library called from a multi-threaded program (an engine, a Wasm
//! shim on tokio): eight threads allocate without pause while the main
//! thread creates, starts, execs into and deletes containers. A fork that
//! copies a heap lock held by one of those threads leaves the child stuck
//! at its first allocation; the library must fork so that it never does.
//! `harness = false`: `main` is the program; a hang ends it by SIGALRM.

mod embed;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use embed::*;
use hull_integration::*;
use libcontainer::ExecOptions;

const THREADS: usize = 8;
const ROUNDS: usize = 50;

fn main() {
    if !root_or_skip("library_threads") {
        return;
    }
    fail_if_hung_after(900);
    // One malloc arena for the whole process (as MALLOC_ARENA_MAX=1, common
    // in services, does): every allocation below then takes the lock the
    // forked child's allocations need.
    // SAFETY: a malloc tunable, set before any other thread exists.
    assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) }, 1);
    let rt = Runtime::new("lib_threads");
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..THREADS)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Sizes past the per-thread cache, so each one goes to the arena.
                let mut rounds = 0usize;
                let mut keep = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    keep.push(vec![t as u8; 2048 + (rounds * 7919) % 120_000]);
                    if keep.len() > 16 {
                        keep.clear();
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let before = pid_for_children();
    eprintln!(
        "test {ROUNDS} create/start/exec/delete rounds beside {THREADS} allocating threads ..."
    );
    for round in 0..ROUNDS {
        let mut b = rt.bundle();
        b.args(&["hull-probe", "sleep", "600"]);
        let mut c = create(&rt, &b).unwrap_or_else(|e| panic!("round {round}: create: {e}"));
        c.start()
            .unwrap_or_else(|e| panic!("round {round}: start: {e}"));
        let p = c
            .exec(ExecOptions {
                args: vec!["hull-probe".into(), "exit".into(), "3".into()],
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("round {round}: exec: {e}"));
        // The probe ran inside the container and ended as told.
        assert_eq!(
            p.wait()
                .unwrap_or_else(|e| panic!("round {round}: wait: {e}"))
                .code,
            Some(3),
            "round {round}"
        );
        assert_eq!(
            pid_for_children(),
            before,
            "round {round}: exec left pid_for_children in the container's namespace"
        );
        c.delete(true)
            .unwrap_or_else(|e| panic!("round {round}: delete: {e}"));
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        assert!(t.join().expect("an allocating thread panicked") > 0);
    }
    eprintln!(
        "test {ROUNDS} create/start/exec/delete rounds beside {THREADS} allocating threads ... ok"
    );
}
