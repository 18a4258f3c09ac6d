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
            unknown: openapi::unknown_fields(rt.kind, obj),
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
