//! Randomised robustness tests for config loading and validation: no input
//! may make them panic. Deterministic (seeded xorshift, no dependency);
//! HULL_FUZZ_ITERS raises the iteration count for long runs.

use std::path::Path;

use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn base() -> Value {
    let mut v = crate::spec_default::default_spec();
    v["process"]["terminal"] = json!(false);
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]});
    v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    v["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": 5}]});
    v
}

fn random_value(r: &mut Rng) -> Value {
    match r.below(12) {
        0 => Value::Null,
        1 => json!(r.next().is_multiple_of(2)),
        2 => json!(r.next() as i64),
        3 => json!(-(r.below(1000) as i64)),
        4 => json!(u64::MAX),
        5 => json!(""),
        6 => json!("../../etc"),
        7 => json!("SCMP_ACT_BOGUS"),
        8 => json!([]),
        9 => json!({}),
        10 => json!("x".repeat(r.below(5000))),
        _ => json!(1.5e300),
    }
}

/// Replaces, removes or adds one node somewhere in the tree.
fn mutate(v: &mut Value, r: &mut Rng, depth: u32) {
    let descend = depth < 8 && r.below(3) != 0;
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = &keys[r.below(keys.len())];
            match r.below(6) {
                0 => {
                    m.remove(k);
                }
                1 => {
                    m.insert(format!("unknown{}", r.below(10)), random_value(r));
                }
                _ if descend => mutate(m.get_mut(k).expect("key exists"), r, depth + 1),
                _ => {
                    m.insert(k.clone(), random_value(r));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = r.below(a.len());
            match r.below(5) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let dup = a[i].clone();
                    a.push(dup);
                }
                _ if descend => mutate(&mut a[i], r, depth + 1),
                _ => a[i] = random_value(r),
            }
        }
        other => *other = random_value(r),
    }
}

fn iterations(default: u64) -> u64 {
    std::env::var("HULL_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_configs_never_panic() {
    let host = crate::spec::HostSupport::none();
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let base = base();
    let mut accepted = 0;
    let mut stand_ins = 0;
    for _ in 0..iterations(3000) {
        let mut v = base.clone();
        for _ in 0..1 + r.below(4) {
            mutate(&mut v, &mut r, 0);
        }
        let raw = serde_json::to_vec(&v).expect("serialisable");
        let parsed = crate::spec::parse(&raw, Path::new("config.json"));
        // A document that does not parse gets its misfits named, and the
        // stand-ins give the value checks a spec to run on.
        if let Err(e) = &parsed {
            let shape = crate::spec_shape::check(v.clone());
            assert!(!shape.issues.is_empty(), "{e} but no issue for {v}");
            let spec = shape
                .spec
                .as_ref()
                .unwrap_or_else(|| panic!("no stand-in fits {v}: {:?}", shape.issues));
            let _ = crate::spec::validate(spec, &host, Path::new("config.json"));
            stand_ins += 1;
        }
        if let Ok(spec) = parsed {
            if crate::spec::validate(&spec, &host, Path::new("config.json")).is_ok() {
                accepted += 1;
            }
            let _ = crate::attrs::validate(&spec);
            if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
                let _ = crate::seccomp::Filter::build(s);
            }
            let _ = crate::namespaces::NsPlan::from_spec(spec.linux().as_ref());
            let _ = crate::resources::effective(&spec);
        }
    }
    // The mutations must not make everything invalid, or the test would
    // only be exercising the parser's first error.
    assert!(accepted > 0);
    assert!(stand_ins > 0);
}

#[test]
fn corrupted_bytes_never_panic() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let raw = serde_json::to_vec(&base()).expect("serialisable");
    for _ in 0..iterations(3000) {
        let mut b = raw.clone();
        match r.below(3) {
            0 => b.truncate(r.below(b.len())),
            1 => {
                for _ in 0..1 + r.below(8) {
                    let i = r.below(b.len());
                    b[i] = r.next() as u8;
                }
            }
            _ => {
                let i = r.below(b.len());
                b.insert(i, b"{[\"\\\0"[r.below(5)]);
            }
        }
        let _ = crate::spec::parse(&b, Path::new("config.json"));
    }
}

#[test]
fn mount_options_and_signals_never_panic() {
    let mut r = Rng(0xdead_beef_cafe_f00d);
    let words = [
        "ro",
        "rw",
        "rro",
        "bind",
        "rbind",
        "tmpcopyup",
        "idmap",
        "size=1",
        "",
        "=",
        "r",
        "shared",
        "rshared",
        "mode=0",
    ];
    for _ in 0..iterations(3000) {
        let opts: Vec<String> = (0..r.below(6))
            .map(|_| words[r.below(words.len())].to_owned())
            .collect();
        let _ = crate::config::mount_options::parse_options(&opts);
        let sig: String = (0..r.below(8))
            .map(|_| {
                "SIGKILLRTMAX+-0123456789"[r.below(24)..]
                    .chars()
                    .next()
                    .unwrap_or('x')
            })
            .collect();
        let _ = crate::parse_signal(&sig);
        let id: String = (0..r.below(12))
            .map(|_| "ab./-_+\0é"[r.below(9)..].chars().next().unwrap_or('a'))
            .collect();
        let _ = crate::validate_id(&id);
    }
}
