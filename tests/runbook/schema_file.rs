//! The committed schema that runbooks point editors at is the one the binary prints.

#[test]
fn committed_schema_is_current() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/runbook.schema.json");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        printed == committed,
        "schema/runbook.schema.json is stale: run `cargo run -- schema > schema/runbook.schema.json`"
    );
}
