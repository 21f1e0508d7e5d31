//! An embedder's use of the library from many threads at once: 8 threads
//! each create (from an in-memory spec, with pipes as stdio), start, exec
//! into, wait for and delete containers concurrently. From inside, the
//! exec'd process writes through the init's stdout (`/proc/1/fd/1`: only
//! reachable in the container's pid and mount namespaces) once the init
//! has said it runs, and the init answers on its stdin, so each thread sees its own container's output and
//! no other's. Fds one thread's create holds (its sync channel, its state
//! lock) must not leak into another's init, or those calls hang.
//! `harness = false`: `main` is the program; a hang ends it by SIGALRM.

mod embed;

use std::io::{BufRead, Read, Write};

use embed::*;
use hull_integration::*;
use libcontainer::{ContainerBuilder, ExecOptions};

const THREADS: usize = 8;
const ROUNDS: usize = 3;

fn main() {
    if !root_or_skip("library_concurrent") {
        return;
    }
    fail_if_hung_after(600);
    let rt = Runtime::new("lib_concurrent");
    eprintln!("test {THREADS} threads x {ROUNDS} create/exec/delete rounds ...");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let rt = &rt;
            s.spawn(move || {
                for r in 0..ROUNDS {
                    one_container(rt, t, r);
                }
            });
        }
    });
    let left = libcontainer::list(&rt.root).expect("list");
    assert!(left.is_empty(), "containers left behind: {left:?}");
    eprintln!("test {THREADS} threads x {ROUNDS} create/exec/delete rounds ... ok");
}

fn one_container(rt: &Runtime, t: usize, r: usize) {
    let what = format!("thread {t} round {r}");
    let host = format!("t{t}-r{r}");
    let mut b = rt.bundle();
    b.spec["hostname"] = json!(host);
    b.args(&[
        "sh",
        "-c",
        "echo ready; read x; echo \"init:$(hostname):$x\"",
    ]);
    let spec: libcontainer::oci_spec::runtime::Spec =
        serde_json::from_value(b.spec.clone()).expect("the test's spec parses");
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    rt.track(&b.id);
    let mut c = ContainerBuilder::new(b.id.clone(), rt.root.clone())
        .bundle(&b.dir)
        .spec(spec)
        .stdin(in_r)
        .stdout(out_w)
        .create()
        .unwrap_or_else(|e| panic!("{what}: create: {e}"));
    c.start().unwrap_or_else(|e| panic!("{what}: start: {e}"));
    // Once the init prints, it runs the shell: its fds are then reachable
    // from the container (before its execve they are hull's, closed to the
    // container's processes: start returns before that execve).
    let mut out = std::io::BufReader::new(std::fs::File::from(out_r));
    let mut first = String::new();
    out.read_line(&mut first)
        .unwrap_or_else(|e| panic!("{what}: reading the init's stdout: {e}"));
    assert_eq!(first, "ready\n", "{what}: the init's first line");
    let p = c
        .exec(ExecOptions {
            args: vec![
                "sh".into(),
                "-c".into(),
                "echo \"exec:$(hostname)\" > /proc/1/fd/1".into(),
            ],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{what}: exec: {e}"));
    assert_eq!(
        p.wait()
            .unwrap_or_else(|e| panic!("{what}: wait for exec: {e}"))
            .code,
        Some(0),
        "{what}: the exec'd process failed"
    );
    std::fs::File::from(in_w)
        .write_all(b"go\n")
        .unwrap_or_else(|e| panic!("{what}: writing the init's stdin: {e}"));
    let status = c
        .wait()
        .unwrap_or_else(|e| panic!("{what}: wait for the init: {e}"));
    assert_eq!(status.code, Some(0), "{what}: the init failed");
    let mut rest = String::new();
    out.read_to_string(&mut rest)
        .unwrap_or_else(|e| panic!("{what}: reading the init's stdout: {e}"));
    assert_eq!(
        rest,
        format!("exec:{host}\ninit:{host}:go\n"),
        "{what}: output of the container"
    );
    c.delete(false)
        .unwrap_or_else(|e| panic!("{what}: delete: {e}"));
}
