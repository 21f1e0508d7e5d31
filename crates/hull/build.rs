//! Link layout of the `hull` binary (issue #18; bench/PROFILE.md has the
//! measurements). Three choices, all for memory and start-up time, none
//! for behaviour:
//!
//! - static-pie: `scripts/rustc-static-hull`, the rustc wrapper that
//!   `.cargo/config.toml` sets, adds `crt-static` to this crate, and the
//!   config links libseccomp's static archive. No ld.so, libc.so, libgcc_s
//!   or libseccomp.so is mapped or relocated at each start, and ASLR stays.
//! - `-z pack-relative-relocs` (DT_RELR): the PIE's 9,000 relative
//!   relocations shrink from 220 KB of `.rela.dyn`, which is read at every
//!   start, to 3 KB. (A dynamic build then needs glibc 2.36 at run time.)
//! - `--symbol-ordering-file hot-symbols.txt` (release builds): the
//!   functions that the measured commands execute are placed together at
//!   the start of `.text`. The kernel maps file pages 64 KiB around every
//!   fault, so hot code scattered over 4.7 MB made `hull list` map 1.3 MiB
//!   of text. `scripts/hot-symbols.sh` regenerates the list; a name that no
//!   longer exists is skipped, so a stale list costs memory, never
//!   correctness.
//!
//! The last two are lld options. lld is rustc's default linker for
//! x86_64-unknown-linux-gnu since Rust 1.90; elsewhere, or with a linker of
//! the caller's choosing, they are not added. `HULL_LINK_LAYOUT=off` turns
//! them off.

use std::{env, path::PathBuf, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=HULL_LINK_LAYOUT");
    if env::var("HULL_LINK_LAYOUT").is_ok_and(|v| v == "off") || !default_lld() {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    if env::var("PROFILE").is_ok_and(|p| p == "release") {
        let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
        let list = dir.join("hot-symbols.txt");
        if list.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether rustc links this build with its bundled lld: the target is
/// x86_64-unknown-linux-gnu, rustc is 1.90 or newer, and neither the
/// flags nor the environment pick another linker.
fn default_lld() -> bool {
    if env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    if env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
