//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), turned
//! into the JSON the rest of the sandbox reads.
//!
//! client-go's generated clients for the built-in types send protobuf and do not fall back to JSON
//! (the fallback on 415 Unsupported Media Type exists for CBOR only), so `kubectl create
//! deployment|job|configmap|secret|namespace`, `auth can-i` and `drain` send bodies such as
//! `k8s\0` + `runtime.Unknown{typeMeta, raw}`, `raw` being the object's message. Each message is
//! read with its schema (`schema`, made from Kubernetes' `generated.proto` files), and written as
//! Go's JSON encoding would write the object. Answers stay JSON: those clients accept it.
//!
//! Zero values: gogo-protobuf writes every non-pointer scalar, zero or not, so a zero string, number
//! or false is left out as Go's `omitempty` would, except for the fields where an explicit zero means
//! something (`KEEP_ZERO`, pointers in Go: `replicas: 0`, `suspend: false`). An embedded message is
//! always written (`resources: {}`), a zero `Time` is left out (`creationTimestamp: null`).

#[rustfmt::skip]
mod schema;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// What every protobuf-encoded object starts with.
const MAGIC: &[u8] = b"k8s\0";
/// Deepest nesting of messages read (a body nesting deeper is refused, not followed).
const MAX_DEPTH: usize = 64;

/// A field's type on the wire and in JSON.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bytes,
    I32,
    I64,
    Bool,
    F64,
    F32,
    /// A message, by its full name (a `schema` message or one read by hand, e.g. Quantity).
    Msg(&'static str),
    /// A type the sandbox does not decode: the field is skipped.
    Skip,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    pub num: u32,
    pub name: &'static str,
    pub ty: Ty,
    pub repeated: bool,
    /// `map<string, ty>`: entries of key 1 and value 2.
    pub map: bool,
}

/// A message: its full name and its fields by number.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// Fields of Go structs embedded with `json:",inline"`, which protobuf carries as a field of their
/// own: `LocalObjectReference` in the secret and config map selectors, sources and projections
/// (`secretKeyRef: {name, key}`), Probe's `ProbeHandler`, Volume's `VolumeSource`, IngressRule's
/// `IngressRuleValue` (`http`), EphemeralContainer's `EphemeralContainerCommon`.
const INLINE: &[&str] = &[
    "localObjectReference",
    "handler",
    "volumeSource",
    "ingressRuleValue",
    "ephemeralContainerCommon",
];

/// Pointer fields in Go whose zero value, once sent, is kept.
const KEEP_ZERO: &[&str] = &[
    "replicas",
    "parallelism",
    "completions",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "terminationGracePeriodSeconds",
    "gracePeriodSeconds",
    "suspend",
    "immutable",
    "optional",
    "orphanDependents",
    "allowPrivilegeEscalation",
    "privileged",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "readOnlyRootFilesystem",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "revisionHistoryLimit",
];

/// Whether a request's content type is Kubernetes' protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

fn message(name: &str) -> Option<&'static Message> {
    schema::MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &schema::MESSAGES[i])
}

/// The message of `kind` in `apiVersion`, e.g. `apps/v1` `Deployment`.
fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    if kind == "DeleteOptions" {
        return message("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions");
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    message(&format!("k8s.io.api.{package}.{version}.{kind}"))
}

fn malformed(why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the body of the request is not a valid Kubernetes protobuf message: {why}"
    ))
}

/// Reads a protobuf-encoded object (`k8s\0` + `runtime.Unknown`) as JSON, with its `apiVersion`
/// and `kind`. A kind the sandbox cannot read is 415, a broken body 400.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value, ApiError> {
    if depth > MAX_DEPTH {
        return Err(malformed("messages nest too deep"));
    }
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err(malformed("it does not start with the k8s\\0 prefix"));
    };
    let (mut api_version, mut kind, mut raw, mut encoding) =
        (String::new(), String::new(), &[][..], String::new());
    let mut r = Reader::new(rest);
    while let Some((num, wire)) = r.key()? {
        match (num, wire) {
            (1, 2) => {
                let mut t = Reader::new(r.bytes()?);
                while let Some((n, w)) = t.key()? {
                    match (n, w) {
                        (1, 2) => api_version = t.string()?,
                        (2, 2) => kind = t.string()?,
                        _ => t.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            (3, 2) => encoding = r.string()?,
            _ => r.skip(wire)?,
        }
    }
    if !encoding.is_empty() {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the sandbox does not read protobuf bodies with content encoding {encoding}"),
        ));
    }
    if kind.is_empty() {
        return Err(malformed("its type meta names no kind"));
    }
    let Some(msg) = message_for(&api_version, &kind) else {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the sandbox does not read {kind} ({api_version}) in {MEDIA_TYPE}; send it as application/json"
            ),
        ));
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!(kind));
    if let Value::Object(fields) = decode_message(msg, raw, depth + 1)? {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

/// A cursor over protobuf wire data.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(malformed("a number is cut short"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("a number is longer than 10 bytes"))
    }

    /// The next field's number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u8)>, ApiError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, (k & 7) as u8)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ApiError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| malformed("a field runs past the end of the body"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ApiError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| malformed("a length is too large"))?)
    }

    fn string(&mut self) -> Result<String, ApiError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ApiError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            w => Err(malformed(&format!("wire type {w} is not read"))),
        }
    }

    fn fixed64(&mut self) -> Result<u64, ApiError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn fixed32(&mut self) -> Result<u32, ApiError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }
}

fn wrong_wire(field: &str) -> ApiError {
    malformed(&format!("field {field} has the wrong wire type"))
}

/// One scalar value of type `ty` sent with wire type `wire`.
fn scalar(r: &mut Reader, ty: Ty, wire: u8, field: &str) -> Result<Value, ApiError> {
    Ok(match (ty, wire) {
        (Ty::Str, 2) => json!(r.string()?),
        (Ty::Bytes, 2) => json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
        (Ty::I32, 0) => json!(r.varint()? as i64 as i32),
        (Ty::I64, 0) => json!(r.varint()? as i64),
        (Ty::Bool, 0) => json!(r.varint()? != 0),
        (Ty::F64, 1) => json!(f64::from_bits(r.fixed64()?)),
        (Ty::F32, 5) => json!(f32::from_bits(r.fixed32()?)),
        _ => return Err(wrong_wire(field)),
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// One value of field `f`: a scalar, a message, or (`None`) nothing to write.
fn value(r: &mut Reader, f: &Field, wire: u8, depth: usize) -> Result<Option<Value>, ApiError> {
    match f.ty {
        Ty::Skip => r.skip(wire).map(|_| None),
        Ty::Msg(name) => {
            if wire != 2 {
                return Err(wrong_wire(f.name));
            }
            let b = r.bytes()?;
            special(name, b, depth + 1)
        }
        ty => scalar(r, ty, wire, f.name).map(Some),
    }
}

/// A map entry: key 1 (a string), value 2.
fn map_entry(f: &Field, b: &[u8], depth: usize) -> Result<(String, Value), ApiError> {
    let mut r = Reader::new(b);
    let (mut key, mut val) = (String::new(), None);
    while let Some((n, w)) = r.key()? {
        match n {
            1 if w == 2 => key = r.string()?,
            2 => val = value(&mut r, f, w, depth)?,
            _ => r.skip(w)?,
        }
    }
    let default = match f.ty {
        Ty::Str | Ty::Bytes => json!(""),
        Ty::Msg("k8s.io.apimachinery.pkg.api.resource.Quantity") => json!("0"),
        Ty::Msg(_) => json!({}),
        Ty::Bool => json!(false),
        _ => json!(0),
    };
    Ok((key, val.unwrap_or(default)))
}

fn decode_message(msg: &'static Message, b: &[u8], depth: usize) -> Result<Value, ApiError> {
    if depth > MAX_DEPTH {
        return Err(malformed("messages nest too deep"));
    }
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((num, wire)) = r.key()? {
        let Some(f) = msg.fields.iter().find(|f| u64::from(f.num) == num) else {
            r.skip(wire)?;
            continue;
        };
        if f.map {
            if wire != 2 {
                return Err(wrong_wire(f.name));
            }
            let (k, v) = map_entry(f, r.bytes()?, depth + 1)?;
            let m = out.entry(f.name).or_insert_with(|| json!({}));
            if let Some(m) = m.as_object_mut() {
                m.insert(k, v);
            }
        } else if f.repeated {
            let packed = wire == 2 && !matches!(f.ty, Ty::Str | Ty::Bytes | Ty::Msg(_) | Ty::Skip);
            let mut items = Vec::new();
            if packed {
                let mut p = Reader::new(r.bytes()?);
                let w = match f.ty {
                    Ty::F64 => 1,
                    Ty::F32 => 5,
                    _ => 0,
                };
                while p.pos < p.buf.len() {
                    items.push(scalar(&mut p, f.ty, w, f.name)?);
                }
            } else if let Some(v) = value(&mut r, f, wire, depth)? {
                items.push(v);
            }
            let a = out.entry(f.name).or_insert_with(|| json!([]));
            if let Some(a) = a.as_array_mut() {
                a.extend(items);
            }
        } else if INLINE.contains(&f.name) {
            // A Go struct embedded with `json:",inline"`: its fields are the message's own.
            if let Some(Value::Object(inner)) = value(&mut r, f, wire, depth)? {
                out.extend(inner);
            }
        } else {
            match value(&mut r, f, wire, depth)? {
                Some(v) if matches!(f.ty, Ty::Msg(_)) || !is_zero(&v) => {
                    out.insert(f.name.into(), v);
                }
                Some(v) if KEEP_ZERO.contains(&f.name) => {
                    out.insert(f.name.into(), v);
                }
                _ => {
                    out.remove(f.name);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// The fields of a small message, by number.
fn fields_of(b: &[u8]) -> Result<Vec<(u64, u8, Value)>, ApiError> {
    let mut r = Reader::new(b);
    let mut out = Vec::new();
    while let Some((n, w)) = r.key()? {
        let v = match w {
            0 => json!(r.varint()?),
            2 => {
                let b = r.bytes()?;
                Value::String(String::from_utf8_lossy(b).into_owned())
            }
            _ => {
                r.skip(w)?;
                continue;
            }
        };
        out.push((n, w, v));
    }
    Ok(out)
}

fn field(fs: &[(u64, u8, Value)], n: u64) -> Option<&Value> {
    fs.iter().rev().find(|f| f.0 == n).map(|f| &f.2)
}

fn int(fs: &[(u64, u8, Value)], n: u64) -> i64 {
    field(fs, n)
        .and_then(Value::as_u64)
        .map(|v| v as i64)
        .unwrap_or(0)
}

/// Go's `time.Duration.String()` of `nanos`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let (h, m) = (n / 3_600_000_000_000, (n / 60_000_000_000) % 60);
    let s = (n % 60_000_000_000) as f64 / 1e9;
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let secs = format!("{s:.9}");
    let secs = secs.trim_end_matches('0').trim_end_matches('.');
    out.push_str(&format!("{secs}s"));
    out
}

/// A message: one whose JSON is not an object of its fields (Quantity, Time, …) is read by hand,
/// any other with its schema. `None`: nothing to write (a zero Time).
fn special(name: &'static str, b: &[u8], depth: usize) -> Result<Option<Value>, ApiError> {
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "Quantity" => {
            let fs = fields_of(b)?;
            Ok(Some(field(&fs, 1).cloned().unwrap_or(json!("0"))))
        }
        "IntOrString" => {
            let fs = fields_of(b)?;
            Ok(Some(if int(&fs, 1) == 1 {
                field(&fs, 3).cloned().unwrap_or(json!(""))
            } else {
                json!(int(&fs, 2) as i32)
            }))
        }
        "Time" | "MicroTime" => {
            let fs = fields_of(b)?;
            let (secs, nanos) = (int(&fs, 1), int(&fs, 2) as i32);
            if secs == 0 && nanos == 0 {
                return Ok(None);
            }
            let Some(t) = chrono::DateTime::from_timestamp(secs, nanos.max(0) as u32) else {
                return Err(malformed("a time is out of range"));
            };
            Ok(Some(json!(if short == "Time" {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            })))
        }
        "Duration" => Ok(Some(json!(go_duration(int(&fields_of(b)?, 1))))),
        "FieldsV1" | "RawExtension" => {
            let mut r = Reader::new(b);
            let mut raw: &[u8] = &[];
            while let Some((n, w)) = r.key()? {
                if n == 1 && w == 2 {
                    raw = r.bytes()?;
                } else {
                    r.skip(w)?;
                }
            }
            if raw.starts_with(MAGIC) {
                return decode_at(raw, depth + 1).map(Some);
            }
            Ok(serde_json::from_slice(raw).ok())
        }
        "ExtraValue" => {
            let fs = fields_of(b)?;
            Ok(Some(Value::Array(
                fs.into_iter()
                    .filter(|f| f.0 == 1 && f.1 == 2)
                    .map(|f| f.2)
                    .collect(),
            )))
        }
        _ => match message(name) {
            Some(m) => decode_message(m, b, depth).map(Some),
            None => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests;
