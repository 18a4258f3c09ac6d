//! API errors, answered as Kubernetes `Status` objects.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// An error the API answers with a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", qualified(rt)),
            details: Some(details(rt, name)),
        }
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", qualified(rt)),
            details: Some(details(rt, name)),
        }
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::conflict_msg(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        )
    }

    pub fn conflict_msg(rt: &ResourceType, name: &str, why: String) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(rt)
            ),
            details: Some(details(rt, name)),
        }
    }

    /// 422 Invalid with one cause per field.
    pub fn invalid(rt: &ResourceType, name: &str, errors: Vec<(String, String)>) -> ApiError {
        let causes: Vec<Value> = errors
            .iter()
            .map(|(field, msg)| {
                let reason = if msg.starts_with("Required value") {
                    "FieldValueRequired"
                } else if msg.starts_with("Unsupported value") {
                    "FieldValueNotSupported"
                } else if msg.starts_with("Forbidden") {
                    "FieldValueForbidden"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": msg, "field": field})
            })
            .collect();
        let list: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut d = details(rt, name);
        d["kind"] = json!(rt.kind);
        d["causes"] = json!(causes);
        ApiError {
            code: 422,
            reason: "Invalid",
            // The qualified kind, as `errors.NewInvalid` names it: `Deployment.apps`, `Pod`.
            message: if rt.group.is_empty() {
                format!("{} \"{name}\" is invalid: {joined}", rt.kind)
            } else {
                format!("{}.{} \"{name}\" is invalid: {joined}", rt.kind, rt.group)
            },
            details: Some(d),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 410 for a watch or list from a resourceVersion the history no longer holds.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media_type(ct: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
            ),
        )
    }

    /// 404 for a path that names nothing. Its details are empty but present, as the API server's
    /// (kubectl reads `details.name` of such a 404 without checking: `kubectl debug` did panic).
    pub fn path_not_found() -> ApiError {
        let mut e = ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(serde_json::json!({}));
        e
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if self.reason.is_empty()
            && let Some(m) = s.as_object_mut()
        {
            // Go leaves out an unknown (empty) reason.
            m.remove("reason");
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.message, self.code, self.reason)
    }
}

impl std::error::Error for ApiError {}
