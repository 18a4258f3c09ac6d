//! The shape of the code: the layers' never-edges and no import loops (see ARCHITECTURE.md).

mod edges;

use std::path::Path;

use edges::{File, check, read_tree};

fn file(path: &str, text: &str) -> File {
    File {
        path: path.into(),
        text: text.into(),
    }
}

#[test]
fn no_layer_imports_what_it_must_never_and_no_file_imports_itself_back() {
    let files = read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(files.len() > 40, "read the source tree");
    let report = check(&files);
    assert!(
        report.edges.len() > 50,
        "found the edges: {:?}",
        report.edges.len()
    );
    let loops: Vec<String> = report.loops.iter().map(|l| l.join(" <-> ")).collect();
    assert!(
        report.never.is_empty() && loops.is_empty(),
        "never-edges:\n  {}\nimport loops:\n  {}",
        report.never.join("\n  "),
        loops.join("\n  ")
    );
}

#[test]
fn the_sandbox_and_stand_in_crates_import_nothing_of_tollgate() {
    for krate in ["crates/sandbox", "crates/standin"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(krate);
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("crate manifest");
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or_default();
        let deps = deps.split("\n[").next().unwrap_or_default();
        assert!(
            !deps.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("tollgate ")
                    || l.starts_with("tollgate=")
                    || l.starts_with("tollgate-")
            }),
            "{krate} depends on tollgate"
        );
        for f in read_tree(&root.join("src")) {
            assert!(
                !f.text.contains("tollgate::") && !f.text.contains("tollgate_"),
                "{krate}/src/{} names tollgate",
                f.path
            );
        }
    }
}

#[test]
fn the_check_finds_a_never_edge() {
    let files = vec![
        file("lib.rs", "pub mod engine;\npub mod ui;\n"),
        file(
            "engine/mod.rs",
            "use crate::ui::render::draw;\npub fn run() {}\n",
        ),
        file("ui/mod.rs", "pub mod render;\n"),
        file(
            "ui/render.rs",
            "use crate::engine::run;\npub fn draw() {}\n",
        ),
    ];
    let r = check(&files);
    assert_eq!(r.never.len(), 1, "{:?}", r.never);
    assert!(
        r.never[0].starts_with("engine/mod.rs -> ui/render.rs"),
        "{}",
        r.never[0]
    );
}

#[test]
fn the_check_finds_each_forbidden_layer_pair() {
    for (from, to) in [
        ("engine", "ui"),
        ("runbook", "engine"),
        ("runbook", "exec"),
        ("runbook", "ui"),
        ("exec", "ui"),
        ("exec", "engine"),
        ("ui", "exec"),
        ("ui", "headless"),
        ("protocol", "runbook"),
    ] {
        let files = vec![
            file(
                &format!("{from}/mod.rs"),
                &format!("use crate::{to}::Thing;\n"),
            ),
            file(&format!("{to}/mod.rs"), "pub struct Thing;\n"),
        ];
        let r = check(&files);
        assert_eq!(r.never.len(), 1, "{from} -> {to}: {:?}", r.never);
    }
}

#[test]
fn the_check_allows_the_edges_the_map_allows() {
    let files = vec![
        file(
            "ui/mod.rs",
            "use crate::protocol::Event;\nuse crate::engine::Vars;\n",
        ),
        file(
            "engine/mod.rs",
            "use crate::exec::Job;\nuse crate::protocol::Event;\n",
        ),
        file(
            "exec/mod.rs",
            "use crate::protocol::Event;\nuse crate::runbook::Step;\n",
        ),
        file("protocol/mod.rs", "pub struct Event;\n"),
        file("runbook/mod.rs", "pub struct Step;\n"),
    ];
    let r = check(&files);
    assert!(r.never.is_empty(), "{:?}", r.never);
    assert!(r.loops.is_empty(), "{:?}", r.loops);
    assert_eq!(r.edges.len(), 6, "{:?}", r.edges);
}

#[test]
fn the_check_finds_an_import_loop_through_super_and_reexports() {
    let files = vec![
        // kube/mod.rs re-exports apply's `run` (a façade: no edge), but also defines `Ctx`
        // that apply uses while calling into apply itself: a loop.
        file(
            "exec/kube/mod.rs",
            "pub mod apply;\npub use apply::run;\npub struct Ctx;\nfn go() { apply::run(); }\n",
        ),
        file("exec/kube/apply.rs", "use super::Ctx;\npub fn run() {}\n"),
        // Two files that use each other.
        file(
            "runbook/model.rs",
            "use super::kube::Action;\npub struct Step;\n",
        ),
        file(
            "runbook/kube.rs",
            "use super::model::Step;\npub struct Action;\n",
        ),
        // Paths in comments, strings and tests do not count.
        file(
            "runbook/vars.rs",
            "// use super::model::Step;\nconst S: &str = \"crate::runbook::model\";\n#[cfg(test)]\nmod tests { use super::super::model::Step; }\n",
        ),
    ];
    let r = check(&files);
    assert_eq!(r.loops.len(), 2, "{:?}", r.loops);
    assert!(r.loops.contains(&vec![
        "exec/kube/apply.rs".to_string(),
        "exec/kube/mod.rs".to_string()
    ]));
    assert!(r.loops.contains(&vec![
        "runbook/kube.rs".to_string(),
        "runbook/model.rs".to_string()
    ]));
    assert!(
        !r.edges.iter().any(|(a, _)| a == "runbook/vars.rs"),
        "{:?}",
        r.edges
    );
}

#[test]
fn a_name_reexported_by_a_module_is_the_childs() {
    let files = vec![
        file(
            "exec/mod.rs",
            "pub mod job;\npub mod shell;\npub use job::Job;\n",
        ),
        file("exec/job.rs", "pub struct Job;\n"),
        file("exec/shell.rs", "use super::Job;\n"),
    ];
    let r = check(&files);
    assert!(r.loops.is_empty(), "{:?}", r.loops);
    assert!(
        r.edges
            .contains(&("exec/shell.rs".to_string(), "exec/job.rs".to_string())),
        "{:?}",
        r.edges
    );
}
