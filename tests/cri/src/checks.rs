//! PASS/FAIL reporting in tests/clients/lib.sh's format.

use std::fmt::Debug;

#[derive(Default)]
pub struct Checks {
    pub passed: u32,
    pub failed: u32,
}

impl Checks {
    pub fn pass(&mut self, name: &str) {
        self.passed += 1;
        println!("PASS: {name}");
    }

    pub fn fail(&mut self, name: &str, detail: &str) {
        self.failed += 1;
        println!("FAIL: {name}");
        for line in detail.lines().take(40) {
            println!("    | {line}");
        }
    }

    pub fn eq<T: PartialEq + Debug>(&mut self, name: &str, want: T, got: T) {
        if want == got {
            self.pass(name);
        } else {
            self.fail(name, &format!("want: {want:?}\ngot:  {got:?}"));
        }
    }

    pub fn ok(&mut self, name: &str, cond: bool, detail: &str) {
        if cond {
            self.pass(name);
        } else {
            self.fail(name, detail);
        }
    }

    /// A CRI call's result: passes when it succeeded, returns its value.
    pub fn call<T>(&mut self, name: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => {
                self.pass(name);
                Some(v)
            }
            Err(e) => {
                self.fail(name, &e);
                None
            }
        }
    }

    /// A call the next checks depend on but that is not a check of its own.
    pub fn quiet<T>(&mut self, name: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(name, &e);
                None
            }
        }
    }
}
