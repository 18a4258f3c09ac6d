//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore` on POST, PUT and PATCH):
//! fields the type's schema does not declare and fields a JSON body gives twice are refused
//! (Strict), answered with a `Warning` header each (Warn, the default), or let through (Ignore).
//! The schemas are those of the OpenAPI documents ([`crate::openapi`]).

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::ApiError;
use super::openapi;
use super::resources::ResourceType;

/// What to do with unknown and duplicate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

impl Directive {
    /// The `fieldValidation` query parameter; absent or empty is Warn, as on an API server.
    pub fn from_query(value: Option<&str>) -> Result<Directive, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Directive::Warn),
            "Ignore" => Ok(Directive::Ignore),
            "Strict" => Ok(Directive::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported value: \"{other}\". Valid values are: Ignore, Warn, Strict"
            ))),
        }
    }
}

/// The problems found in one request body: unknown fields and duplicate fields, as paths.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub duplicate: Vec<String>,
    pub unknown: Vec<String>,
}

impl Findings {
    /// Checks `obj` (the object as it would be stored) against the schema of `rt`, and `body`
    /// (the raw request, when JSON) for duplicate keys.
    pub fn of(rt: &ResourceType, obj: &Value, body: Option<&[u8]>) -> Findings {
        Findings {
            duplicate: body.map(duplicate_fields).unwrap_or_default(),
            // A custom type's fields are not in the built-in schemas.
            unknown: if rt.is_builtin() {
                openapi::unknown_fields(rt.kind, obj)
            } else {
                Vec::new()
            },
        }
    }

    /// [`Findings::of`] for a custom object, against its CRD's structural schema (`None`: none,
    /// nothing is unknown).
    pub fn of_custom(schema: Option<&Value>, obj: &Value, body: Option<&[u8]>) -> Findings {
        Findings {
            duplicate: body.map(duplicate_fields).unwrap_or_default(),
            unknown: schema
                .map(|s| crate::crd::unknown_fields(s, obj))
                .unwrap_or_default(),
        }
    }

    fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .duplicate
            .iter()
            .map(|f| format!("duplicate field \"{f}\""))
            .collect();
        out.extend(
            self.unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\"")),
        );
        out
    }

    /// What the directive makes of them: an error (Strict, with `context` before
    /// `strict decoding error: …`), or the warnings to send (Warn).
    pub fn judge(&self, directive: Directive, context: &str) -> Result<Vec<String>, ApiError> {
        let messages = self.messages();
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        match directive {
            Directive::Ignore => Ok(Vec::new()),
            Directive::Warn => Ok(messages),
            Directive::Strict => Err(ApiError::bad_request(format!(
                "{context}strict decoding error: {}",
                messages.join(", ")
            ))),
        }
    }
}

/// Drops the unknown fields `findings` found from `obj`, as the typed decoding of an API server
/// does when the request was let through (Warn, Ignore).
pub fn drop_unknown(rt: &ResourceType, findings: &Findings, obj: &mut Value) {
    if !findings.unknown.is_empty() {
        openapi::prune_unknown_fields(rt.kind, obj);
    }
}

/// A custom object is pruned to what its CRD's schema declares, whatever the directive.
pub fn prune_custom(schema: Option<&Value>, obj: &mut Value) {
    if let Some(s) = schema {
        crate::crd::prune(s, obj);
    }
}

/// The prefix of a Strict error on create and update: `Deployment in version "v1" cannot be
/// handled as a Deployment: `.
pub fn decode_context(rt: &ResourceType) -> String {
    format!(
        "{} in version \"{}\" cannot be handled as a {}: ",
        rt.kind, rt.version, rt.kind
    )
}

/// What server-side apply answers when the applied configuration has a field the schema does
/// not declare, whatever the directive (its typed conversion fails): 500, no reason.
pub fn apply_unknown_field(rt: &ResourceType, ns: &str, name: &str, field: &str) -> ApiError {
    let group = rt.group;
    ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({ns}/{name}; {group}/{}, Kind={}): .{field}: field not declared in schema",
            rt.version, rt.kind
        ),
    )
}

/// The keys a JSON document gives more than once, as paths; nothing if it is not JSON.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Dups {
        path: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

struct Dups<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Dups<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Dups<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = m.next_key::<String>()? {
            let p = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            if !seen.insert(k) {
                self.out.push(p.clone());
            }
            m.next_value_seed(Dups {
                path: p,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let mut i = 0;
        while s
            .next_element_seed(Dups {
                path: format!("{}[{i}]", self.path),
                out: &mut *self.out,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;
    use serde_json::json;

    #[test]
    fn directives_default_to_warn_and_refuse_others() {
        assert_eq!(Directive::from_query(None).unwrap(), Directive::Warn);
        assert_eq!(
            Directive::from_query(Some("Strict")).unwrap(),
            Directive::Strict
        );
        assert_eq!(
            Directive::from_query(Some("Ignore")).unwrap(),
            Directive::Ignore
        );
        let e = Directive::from_query(Some("strict")).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("\"strict\""), "{}", e.message);
    }

    #[test]
    fn duplicates_are_found_with_their_paths() {
        let body = br#"{"a": 1, "b": {"c": [{"d": 1, "d": 2}], "c": 3}, "a": 2}"#;
        assert_eq!(duplicate_fields(body), ["b.c[0].d", "b.c", "a"]);
        assert!(duplicate_fields(br#"{"a": {"a": 1}}"#).is_empty());
        assert!(duplicate_fields(b"a: 1\na: 2\n").is_empty());
        assert!(duplicate_fields(b"").is_empty());
    }

    #[test]
    fn strict_refuses_warn_warns_ignore_passes() {
        let rt = by_kind("ConfigMap");
        let body = br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutible": true, "data": {}, "data": {}}"#;
        let obj: Value = serde_json::from_slice(body).unwrap();
        let f = Findings::of(rt, &obj, Some(body));
        assert_eq!(f.unknown, ["immutible"]);
        assert_eq!(f.duplicate, ["data"]);
        let e = f.judge(Directive::Strict, &decode_context(rt)).unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"data\", unknown field \"immutible\""
        );
        assert_eq!(
            f.judge(Directive::Warn, "").unwrap(),
            ["duplicate field \"data\"", "unknown field \"immutible\""]
        );
        assert!(f.judge(Directive::Ignore, "").unwrap().is_empty());
        let mut kept = obj.clone();
        drop_unknown(rt, &f, &mut kept);
        assert_eq!(kept.get("immutible"), None);
        let clean = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(
            Findings::of(rt, &clean, None)
                .judge(Directive::Strict, "")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn apply_names_the_field_as_the_typed_conversion_does() {
        let e = apply_unknown_field(by_kind("Service"), "ns", "web", "spec.topologyKeys");
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "failed to create typed patch object (ns/web; /v1, Kind=Service): .spec.topologyKeys: field not declared in schema"
        );
        assert!(e.status().get("reason").is_none());
    }
}
