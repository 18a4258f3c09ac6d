//! The patch types of the in-memory API server, and server-side apply.
//!
//! - [`merge_patch`] ([`merge`]): RFC 7386 JSON merge patch (`application/merge-patch+json`).
//! - [`json_patch`] ([`json`]): RFC 6902 JSON patch (`application/json-patch+json`), applied
//!   atomically.
//! - [`strategic_merge`] ([`strategic`]): strategic merge patch
//!   (`application/strategic-merge-patch+json`), a port of the apply half of
//!   `k8s.io/apimachinery/pkg/util/strategicpatch`.
//! - [`apply`](fn@apply) / [`record_update`] ([`mod@apply`]): server-side apply and field ownership, a port
//!   of the parts of `sigs.k8s.io/structured-merge-diff` and `k8s.io/apiserver`'s field manager
//!   that matter for built-in types.
//!
//! What they share: `schema`, the table of which lists of the built-in types merge and by which
//! key (strategic merge and apply), and `values`, JSON equality with numbers compared by value.
//! Apply's own parts: `field_set` (field paths, sets, FieldsV1), `typed_value` (merge, compare,
//! prune over the schema) and `managed_fields` (`metadata.managedFields`).
//!
//! Nothing here panics on any input.

pub mod apply;
mod field_set;
pub mod json;
mod managed_fields;
pub mod merge;
mod schema;
pub mod strategic;
mod typed_value;
mod values;

pub use apply::{ApplyConflict, apply, apply_custom, record_update, record_update_custom};
pub use json::json_patch;
pub use merge::merge_patch;
pub use schema::intern_schema;
pub use strategic::strategic_merge;
