//! What is wrong in a runbook, where: `file:line:col: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One line of `tollgate check`: `file:line:col: message`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub file: PathBuf,
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl Diag {
    pub fn error(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diag {
            file: file.to_path_buf(),
            pos,
            severity: Severity::Error,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pos = if self.pos.line == 0 {
            Pos::new(1, 1)
        } else {
            self.pos
        };
        write!(f, "{}:{}:{}: ", self.file.display(), pos.line, pos.col)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        // One problem, one line: a value quoted in a message may span lines.
        f.write_str(&self.message.replace('\r', "\\r").replace('\n', "\\n"))
    }
}
