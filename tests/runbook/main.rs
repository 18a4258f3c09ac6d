//! Runbooks as files: `tollgate check` on the corpus in `tests/fixtures/runbooks` and on hostile
//! input, and the JSON Schema of the format (what `tollgate schema` prints, and the committed copy).
//!
//! One test binary for the area, a module per former test file.

mod check;
mod deadline;
mod find;
mod notify;
mod progressive;
mod schema;
mod schema_file;
