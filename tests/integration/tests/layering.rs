//! The module layering of the library crates: no file may import, directly
//! or through others, a file that imports it back. Reads the sources as
//! text (nothing runs), one node per file, an edge for every `crate::`,
//! `super::` or `self::` path that names an item of another file.
//!
//! Neither libcgroups nor libcontainer has a cycle, and they must keep none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

struct Crate {
    /// Module path -> file, for every module that is a file of its own.
    files: BTreeMap<Module, PathBuf>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_string()),
    }
    parts
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn load(name: &str) -> (Crate, BTreeMap<Module, String>) {
    let src = workspace().join("crates").join(name).join("src");
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    let mut files = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for p in paths {
        let m = module_of(&src, &p);
        // Test modules in files of their own are not part of the layering.
        if m.last().is_some_and(|l| l == "tests") {
            continue;
        }
        let text = fs::read_to_string(&p).expect("read source");
        texts.insert(m.clone(), strip(&text));
        let shown = p.strip_prefix(workspace()).unwrap_or(&p).to_path_buf();
        files.insert(m, shown);
    }
    (Crate { files }, texts)
}

/// Drops comments, string literals and inline `#[cfg(test)]` modules, which
/// would otherwise add edges the compiled library does not have.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            // The test module runs to the end of the file by convention.
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands one `use` tree (`a::{b, c::{d, self}}`) into its paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let tree = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, tree));
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty() || b == "self") {
        (true, _) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}::{b}"),
    }
}

/// Every path the file names that starts with `crate`, `super` or `self`.
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` statements, with their braces.
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 4..];
        if before.is_some_and(is_ident) {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        expand("", &rest[..end], &mut out);
        rest = &rest[end..];
    }
    // Paths written inline (`crate::path::join(..)`).
    for root in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| is_ident(c) || c == ':') {
                out.push(tail[..end].trim_end_matches(':').to_string());
            }
            rest = &tail[end.max(root.len())..];
        }
    }
    out.retain(|p| p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"));
    out
}

impl Crate {
    /// The file a path names: the longest module prefix that is a file.
    fn resolve(&self, from: &Module, path: &str) -> Option<Module> {
        let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut m: Module = match segs.first().copied() {
            Some("crate") => {
                segs.remove(0);
                Vec::new()
            }
            Some("self") | Some("super") => {
                // `self` in `a.rs` and in `a/mod.rs` alike is module `a`.
                let mut m = from.clone();
                while let Some(&s) = segs.first() {
                    match s {
                        "self" => {}
                        "super" => {
                            m.pop();
                        }
                        _ => break,
                    }
                    segs.remove(0);
                }
                m
            }
            _ => return None,
        };
        let mut best = self.files.contains_key(&m).then(|| m.clone());
        for s in segs {
            m.push(s.to_string());
            if self.files.contains_key(&m) {
                best = Some(m.clone());
            } else {
                break;
            }
        }
        best
    }

    fn graph(&self, texts: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut g = BTreeMap::new();
        for (m, text) in texts {
            let mut to = BTreeSet::new();
            for p in paths(text) {
                if let Some(t) = self.resolve(m, &p) {
                    if &t != m {
                        to.insert(t);
                    }
                }
            }
            g.insert(m.clone(), to);
        }
        g
    }
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct T<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        next: usize,
        out: Vec<Vec<Module>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a Module) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                if !self.g.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

fn describe(c: &Crate, g: &BTreeMap<Module, BTreeSet<Module>>, comps: &[Vec<Module>]) -> String {
    let mut s = String::new();
    for comp in comps {
        s.push_str("cycle:\n");
        let set: BTreeSet<&Module> = comp.iter().collect();
        for m in comp {
            for t in g[m].iter().filter(|t| set.contains(t)) {
                s.push_str(&format!(
                    "  {} -> {}\n",
                    c.files[m].display(),
                    c.files[t].display()
                ));
            }
        }
    }
    s
}

#[test]
fn libcgroups_has_no_module_cycle() {
    let (c, texts) = load("libcgroups");
    assert!(c.files.len() > 20, "sources not found");
    let g = c.graph(&texts);
    let comps = cycles(&g);
    assert!(comps.is_empty(), "{}", describe(&c, &g, &comps));
}

#[test]
fn libcontainer_has_no_module_cycle() {
    let (c, texts) = load("libcontainer");
    assert!(c.files.len() > 40, "sources not found");
    let g = c.graph(&texts);
    let comps = cycles(&g);
    assert!(comps.is_empty(), "{}", describe(&c, &g, &comps));
}

/// The checker itself finds a cycle it is shown, and none where there is
/// none: a check that cannot fail proves nothing.
#[test]
fn the_checker_sees_a_planted_cycle() {
    let mut files = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for (m, t) in [
        (vec!["a".to_string()], "use crate::b::{self, X};\n"),
        (vec!["b".to_string()], "fn f() { super::a::g() }\n"),
        (
            vec!["c".to_string()],
            "use crate::a::Y;\n// use crate::c::Z;\n",
        ),
    ] {
        files.insert(m.clone(), PathBuf::from(m[0].clone()));
        texts.insert(m, strip(t));
    }
    let c = Crate { files };
    let g = c.graph(&texts);
    let comps = cycles(&g);
    assert_eq!(
        comps,
        vec![vec![vec!["a".to_string()], vec!["b".to_string()]]]
    );
    texts.insert(vec!["b".to_string()], strip("// super::a::g()\n"));
    assert!(cycles(&c.graph(&texts)).is_empty());
}
