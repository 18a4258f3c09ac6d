//! The map in ARCHITECTURE.md, checked: which layer may import which, and no import loops between
//! files. Reads the `use` lines (and `crate::`/`super::` paths in code) of every file under
//! `src/`, resolves each to the file that defines it, and fails on a never-edge or a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers whose imports are restricted, and what each must never import. Every other top-level
/// module of the crate (cli, main, logging) may import anything; `notify` and `report` only the
/// command line imports.
pub const NEVER: &[(&str, &[&str])] = &[
    (
        "text",
        &[
            "protocol",
            "runbook",
            "engine",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "logging",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "protocol",
        &[
            "runbook",
            "engine",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "logging",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "runbook",
        &[
            "engine",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "logging",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "catalog",
        &[
            "engine",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "engine",
        &[
            "ui",
            "headless",
            "live",
            "cli",
            "rehearsal",
            "report",
            "notify",
            "share",
        ],
    ),
    (
        "exec",
        &[
            "engine",
            "ui",
            "headless",
            "live",
            "cli",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "target",
        &[
            "engine",
            "exec",
            "ui",
            "headless",
            "live",
            "cli",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "live",
        &[
            "engine",
            "exec",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "ui",
        &[
            "exec",
            "headless",
            "cli",
            "rehearsal",
            "report",
            "notify",
            "share",
        ],
    ),
    (
        "headless",
        &[
            "ui",
            "exec",
            "cli",
            "rehearsal",
            "report",
            "notify",
            "share",
        ],
    ),
    (
        "share",
        &[
            "runbook",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "report",
            "notify",
        ],
    ),
    (
        "record",
        &[
            "runbook",
            "engine",
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "notify",
            "share",
            "report",
        ],
    ),
    (
        "notify",
        &[
            "engine",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "report",
        ],
    ),
    (
        "report",
        &[
            "exec",
            "target",
            "live",
            "ui",
            "headless",
            "cli",
            "rehearsal",
            "notify",
        ],
    ),
];

/// A module of the crate: `crate::a::b` is `["a", "b"]`.
type ModPath = Vec<String>;

/// One source file: its path under `src/` and its text.
pub struct File {
    pub path: String,
    pub text: String,
}

/// Reads every `.rs` file under `dir` (the crate's `src/`).
pub fn read_tree(dir: &Path) -> Vec<File> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<File>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readable source folder")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(File {
                    path: p
                        .strip_prefix(root)
                        .expect("under the root")
                        .to_string_lossy()
                        .replace('\\', "/"),
                    text: std::fs::read_to_string(&p).expect("readable source file"),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn module_of(path: &str) -> ModPath {
    let p = path.trim_end_matches(".rs");
    let mut parts: Vec<String> = p.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The text without comments, string contents and `#[cfg(test)]` items (a file's own tests may
/// reach anywhere in the file).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|c| **c == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '{' or '"'.
            out.push_str("' '");
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            let mut j = i + 2;
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            out.push_str("' '");
            i = j + 1;
        } else {
            let ch = text[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    // Drop `#[cfg(test)]` items: the attribute and the item after it, to its closing brace.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        result.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find(['{', ';']) else {
            rest = "";
            break;
        };
        if after.as_bytes()[open] == b';' {
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (k, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    result.push_str(rest);
    result
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
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
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, path));
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}::{path}"),
    }
}

/// A path as written in a file, and whether it is a re-export of a child module (`pub use x::…`
/// in a module's own file: a façade, not code that depends on it).
struct Written {
    path: String,
    reexport: bool,
}

fn paths_in(code: &str) -> Vec<Written> {
    let mut out = Vec::new();
    let mut rest = code;
    // The code outside `use` statements, for the paths written in it.
    let mut body = String::with_capacity(code.len());
    // `use` statements, with their trees.
    while let Some(at) = find_word(rest, "use") {
        body.push_str(&rest[..at]);
        let before = rest[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        let mut paths = Vec::new();
        expand(&after[..end], "", &mut paths);
        for p in paths {
            let p = p.trim_start_matches("::").to_string();
            out.push(Written {
                path: p,
                reexport: public,
            });
        }
        rest = &after[end + 1..];
    }
    body.push_str(rest);
    let code = body.as_str();
    // Paths in code: crate::a::b, super::a, self::a, and a child module's name (`apply::run()`).
    let children: Vec<String> = declared_children(code)
        .into_iter()
        .map(|c| format!("{c}::"))
        .collect();
    let anchors = ["crate::", "super::", "self::"]
        .into_iter()
        .map(str::to_string)
        .chain(children);
    for anchor in anchors {
        let anchor = anchor.as_str();
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            let is_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if is_start {
                out.push(Written {
                    path: tail[..len].trim_end_matches(':').to_string(),
                    reexport: false,
                });
            }
            rest = &tail[len.max(1)..];
        }
    }
    out
}

/// The modules a file declares: `mod x;` and `pub mod x;`.
fn declared_children(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "mod") {
        let after = rest[at + 3..].trim_start();
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let tail = after[name.len()..].trim_start();
        if !name.is_empty() && tail.starts_with(';') {
            out.push(name);
        }
        rest = &rest[at + 3..];
    }
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let ok_before = at == 0
            || !s[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let ok_after = s[at + word.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace());
        if ok_before && ok_after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// `from -> to: layer a imports layer b, which it must never`.
    pub never: Vec<String>,
    /// Each import loop, as its files.
    pub loops: Vec<Vec<String>>,
    /// Every edge between files, for the curious.
    pub edges: BTreeSet<(String, String)>,
}

/// Checks a crate's files (paths relative to `src/`).
pub fn check(files: &[File]) -> Report {
    let by_module: BTreeMap<ModPath, &File> =
        files.iter().map(|f| (module_of(&f.path), f)).collect();
    // Names a module's own file re-exports from its children: `pub use child::{A, B}`.
    let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
    let codes: BTreeMap<&str, String> = files
        .iter()
        .map(|f| (f.path.as_str(), code_of(&f.text)))
        .collect();
    for f in files {
        let m = module_of(&f.path);
        for w in paths_in(&codes[f.path.as_str()]) {
            if !w.reexport {
                continue;
            }
            let segs: Vec<&str> = w.path.split("::").collect();
            let Some(target) = resolve_segments(&m, &segs, &by_module) else {
                continue;
            };
            if let Some(name) = segs.last()
                && target.len() > m.len()
                && target.starts_with(&m)
            {
                reexports.insert((m.clone(), name.to_string()), target);
            }
        }
    }
    let mut report = Report::default();
    for f in files {
        let m = module_of(&f.path);
        for w in paths_in(&codes[f.path.as_str()]) {
            let segs: Vec<&str> = w.path.split("::").collect();
            let Some(mut target) = resolve_segments(&m, &segs, &by_module) else {
                continue;
            };
            // A name a module re-exports from a child is the child's.
            let (base, rest) = anchor(&m, &segs);
            if let Some(next) = rest.get(target.len().saturating_sub(base.len()))
                && let Some(child) = reexports.get(&(target.clone(), next.to_string()))
            {
                target = child.clone();
            }
            if target == m {
                continue;
            }
            // A module's own file re-exporting a child's items is its façade, not a dependency.
            if w.reexport && target.starts_with(&m) {
                continue;
            }
            let to = by_module[&target].path.clone();
            report.edges.insert((f.path.clone(), to.clone()));
            let (a, b) = (layer(&m), layer(&target));
            if let Some((_, never)) = NEVER.iter().find(|(l, _)| *l == a)
                && never.contains(&b.as_str())
            {
                let line = format!(
                    "{} -> {to}: `{a}` must never import `{b}` ({})",
                    f.path, w.path
                );
                if !report.never.contains(&line) {
                    report.never.push(line);
                }
            }
        }
    }
    report.loops = cycles(&report.edges);
    report
}

fn layer(m: &ModPath) -> String {
    m.first().cloned().unwrap_or_else(|| "lib".into())
}

/// Where a path starts (the module it is relative to) and its remaining segments.
fn anchor<'a>(from: &ModPath, segs: &'a [&'a str]) -> (ModPath, &'a [&'a str]) {
    let mut base: ModPath;
    let mut i = 0;
    match segs.first() {
        Some(&"crate") => {
            base = Vec::new();
            i = 1;
        }
        Some(&"super") | Some(&"self") => {
            base = from.clone();
            while let Some(s) = segs.get(i) {
                match *s {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                i += 1;
            }
        }
        // A child module named directly (`use apply::x;`, `apply::run()` in a use tree).
        _ => {
            base = from.clone();
        }
    }
    (base, &segs[i..])
}

fn resolve_segments(
    from: &ModPath,
    segs: &[&str],
    by_module: &BTreeMap<ModPath, &File>,
) -> Option<ModPath> {
    let first = *segs.first()?;
    let relative = !matches!(first, "crate" | "super" | "self");
    let (base, rest) = anchor(from, segs);
    if relative {
        // Only a child module of `from` counts (anything else is an outside crate or a local name).
        let mut child = from.clone();
        child.push(first.to_string());
        if !by_module.contains_key(&child) {
            return None;
        }
    }
    let mut best = by_module.contains_key(&base).then(|| base.clone());
    let mut cur = base;
    for s in rest {
        cur.push(s.to_string());
        if by_module.contains_key(&cur) {
            best = Some(cur.clone());
        } else {
            break;
        }
    }
    best
}

/// Every cycle of the file graph (its strongly connected components larger than one file).
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        nodes.insert(a);
        nodes.insert(b);
        adj.entry(a).or_default().push(b);
    }
    // Tarjan's algorithm.
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        on: BTreeSet<&'a str>,
        stack: Vec<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, adj: &BTreeMap<&'a str, Vec<&'a str>>, st: &mut State<'a>) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on.insert(v);
        for &w in adj.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            if !st.index.contains_key(w) {
                visit(w, adj, st);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if st.on.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                st.out.push(comp);
            }
        }
    }
    let mut st = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in nodes {
        if !st.index.contains_key(v) {
            visit(v, &adj, &mut st);
        }
    }
    st.out
}
