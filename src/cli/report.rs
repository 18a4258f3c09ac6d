//! `report RUN_ID [--format md|html] [-o FILE]`: a run's report ([`crate::report`]) printed, or
//! written to FILE readable by its owner only.

use std::io::Write as _;
use std::path::Path;

use super::exit;
use crate::engine::journal;
use crate::protocol::Masker;
use crate::report;

pub(super) fn report(state_dir: &Path, run_id: &str, format: &str, output: Option<&Path>) -> i32 {
    let r = match report::load(state_dir, run_id, &Masker::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tollgate: {}", crate::text::one_line(&e.to_string()));
            return exit::STATE;
        }
    };
    let text = match format {
        "html" => report::html::render(&r),
        _ => report::markdown::render(&r),
    };
    match output {
        Some(path) => match journal::write_private(path, &text) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("tollgate: {}: cannot write the report: {e}", path.display());
                exit::USAGE
            }
        },
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            exit::OK
        }
    }
}
