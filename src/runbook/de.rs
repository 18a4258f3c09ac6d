//! serde over a [`Node`] tree, reporting every problem in a file rather than the first.
//!
//! Unknown keys are found from the field lists serde hands to `deserialize_struct`; a value of the
//! wrong type is recorded at its own position and replaced by a neutral value (empty string, empty
//! list, …) so deserialisation goes on and later problems are found too. [`Spanned`] values carry
//! the position of their node, for the checks that run after deserialisation.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::yaml::{Kind, Node, Pos, is_null_word};

const SPANNED: &str = "$tollgate::Spanned";
const SPANNED_LINE: &str = "$line";
const SPANNED_COL: &str = "$col";
const SPANNED_VALUE: &str = "$value";
/// A name starting with this tells the deserializer that a scalar is acceptable where a mapping is
/// also (see `shorthand.rs`).
pub const SHORTHAND: &str = "$short:";

thread_local! {
    /// Problems reported while a value is read ([`report`]), with their positions when known.
    static REPORTED: RefCell<Vec<(Option<Pos>, String)>> = const { RefCell::new(Vec::new()) };
}

/// Reports a problem found while a value is read, and lets reading go on (the value read is then
/// still checked, so every problem in the file is found). `None` places it at the value: the
/// position of the innermost [`Spanned`] being read.
pub fn report(pos: Option<Pos>, message: impl Into<String>) {
    let message = message.into();
    REPORTED.with(|r| r.borrow_mut().push((pos, message)));
}

/// The error a [`Spanned`] value sees when the problem inside it was already recorded: it takes
/// its default and reading goes on, so problems after it in the file are found too.
const RECORDED: &str = "$tollgate::recorded";

/// A value and the position of the YAML node it came from.
#[derive(Clone, Debug, Default)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

impl<T> Spanned<T> {
    pub fn new(pos: Pos, value: T) -> Self {
        Spanned { pos, value }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value with a position")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut line = 0u32;
                let mut col = 0u32;
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        SPANNED_LINE => line = map.next_value()?,
                        SPANNED_COL => col = map.next_value()?,
                        _ => {
                            value = Some(match map.next_value() {
                                Ok(v) => v,
                                Err(e) if e.to_string() == RECORDED => T::default(),
                                Err(e) => return Err(e),
                            })
                        }
                    }
                }
                let value = value.ok_or_else(|| de::Error::missing_field(SPANNED_VALUE))?;
                Ok(Spanned {
                    pos: Pos::new(line, col),
                    value,
                })
            }
        }
        d.deserialize_struct(
            SPANNED,
            &[SPANNED_LINE, SPANNED_COL, SPANNED_VALUE],
            V(std::marker::PhantomData),
        )
    }
}

/// One problem found while reading a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
}

#[derive(Debug)]
pub struct Error {
    pos: Option<Pos>,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            pos: None,
            message: tidy(&msg.to_string()),
        }
    }
}

/// serde's messages name Rust types; say it in runbook words.
fn tidy(msg: &str) -> String {
    msg.replace("missing field", "missing key")
        .replace("a sequence", "a list")
        .replace("a mapping", "a map")
        .replace("a map", "a mapping")
        .replace("struct ", "")
}

#[derive(Default)]
struct Recorder {
    problems: RefCell<Vec<Problem>>,
}

impl Recorder {
    fn record(&self, pos: Pos, message: String) {
        RECORDED_COUNT.with(|c| c.set(c.get() + 1));
        self.problems.borrow_mut().push(Problem { pos, message });
    }
}

thread_local! {
    static RECORDED_COUNT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many problems reading has recorded so far on this thread: a value that reads its keys can
/// tell whether something among them was already found wrong (and not say more about it).
pub fn recorded_so_far() -> usize {
    RECORDED_COUNT.with(|c| c.get())
}

/// Deserialises `T` from `node`, returning it with every problem found (it is usable only when
/// there are none).
///
/// Problems [`report`]ed while reading come back beside a usable value: the value is then checked
/// further, so they are listed with everything else found wrong.
pub fn from_node<'de, T: Deserialize<'de>>(node: &Node) -> Result<(T, Vec<Problem>), Vec<Problem>> {
    let ctx = Recorder::default();
    let before = REPORTED.with(|r| r.borrow().len());
    let result = T::deserialize(NodeDe { node, ctx: &ctx });
    let reported: Vec<Problem> = REPORTED.with(|r| {
        r.borrow_mut()
            .drain(before..)
            .map(|(pos, message)| Problem {
                pos: pos.unwrap_or(node.pos),
                message,
            })
            .collect()
    });
    let mut problems = ctx.problems.into_inner();
    problems.sort_by_key(|p| p.pos);
    match result {
        Ok(v) if problems.is_empty() => Ok((v, reported)),
        Ok(_) => {
            problems.extend(reported);
            problems.sort_by_key(|p| p.pos);
            Err(problems)
        }
        Err(e) => {
            problems.extend(reported);
            if let Some(pos) = e.pos {
                problems.push(Problem {
                    pos,
                    message: e.message,
                });
            } else if problems.is_empty() {
                problems.push(Problem {
                    pos: node.pos,
                    message: e.message,
                });
            }
            problems.sort_by_key(|p| p.pos);
            problems.dedup();
            Err(problems)
        }
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    ctx: &'a Recorder,
}

impl<'a> NodeDe<'a> {
    fn at(&self, e: Error) -> Error {
        Error {
            pos: e.pos.or(Some(self.node.pos)),
            message: e.message,
        }
    }

    /// Records a type mismatch here; the caller then hands the visitor a neutral value.
    fn mismatch(&self, expected: &str) {
        self.ctx.record(
            self.node.pos,
            format!("expected {expected}, found {}", self.node.describe()),
        );
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.kind {
            Kind::Scalar { value, plain } => Some((value.as_str(), *plain)),
            _ => None,
        }
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.replace('_', "");
    if let Some(h) = s.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    s.parse().ok()
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $ty:ty, $what:literal) => {
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            match self.scalar().and_then(|(s, _)| parse_int(s.trim())) {
                Some(i) => match <$ty>::try_from(i) {
                    Ok(n) => v.$visit(n).map_err(|e| self.at(e)),
                    Err(_) => {
                        self.ctx
                            .record(self.node.pos, format!("{i} is out of range for {}", $what));
                        v.$visit(0)
                    }
                },
                None => {
                    self.mismatch($what);
                    v.$visit(0)
                }
            }
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            Kind::Seq(_) => self.deserialize_seq(v),
            Kind::Map(_) => self.deserialize_map(v),
            Kind::Scalar { value, plain } => {
                let r = if !plain {
                    v.visit_str(value)
                } else if is_null_word(value) {
                    v.visit_unit()
                } else if value == "true" {
                    v.visit_bool(true)
                } else if value == "false" {
                    v.visit_bool(false)
                } else if let Ok(i) = value.parse::<u64>() {
                    v.visit_u64(i)
                } else if let Ok(i) = value.parse::<i64>() {
                    v.visit_i64(i)
                } else if let Ok(f) = value.parse::<f64>() {
                    v.visit_f64(f)
                } else {
                    v.visit_str(value)
                };
                r.map_err(|e| self.at(e))
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.scalar() {
            Some(("true", true)) => v.visit_bool(true),
            Some(("false", true)) => v.visit_bool(false),
            _ => {
                self.mismatch("true or false");
                v.visit_bool(false)
            }
        }
    }

    int_method!(deserialize_i8, visit_i8, i8, "a whole number");
    int_method!(deserialize_i16, visit_i16, i16, "a whole number");
    int_method!(deserialize_i32, visit_i32, i32, "a whole number");
    int_method!(deserialize_i64, visit_i64, i64, "a whole number");
    int_method!(deserialize_u8, visit_u8, u8, "a whole number from 0 to 255");
    int_method!(
        deserialize_u16,
        visit_u16,
        u16,
        "a whole number from 0 to 65535"
    );
    int_method!(
        deserialize_u32,
        visit_u32,
        u32,
        "a non-negative whole number"
    );
    int_method!(
        deserialize_u64,
        visit_u64,
        u64,
        "a non-negative whole number"
    );

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self
            .scalar()
            .and_then(|(s, _)| s.trim().parse::<f64>().ok())
        {
            Some(f) if f.is_finite() => v.visit_f64(f).map_err(|e| self.at(e)),
            _ => {
                self.mismatch("a number");
                v.visit_f64(0.0)
            }
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.scalar() {
            Some((s, plain)) if !(plain && is_null_word(s)) => {
                v.visit_str(s).map_err(|e| self.at(e))
            }
            _ => {
                self.mismatch("a string");
                v.visit_str("")
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if !self.node.is_null() {
            self.mismatch("nothing");
        }
        v.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            Kind::Seq(items) => v
                .visit_seq(SeqAccess {
                    items: items.iter(),
                    ctx: self.ctx,
                })
                .map_err(|e| self.at(e)),
            _ => {
                self.mismatch("a list");
                v.visit_seq(SeqAccess {
                    items: [].iter(),
                    ctx: self.ctx,
                })
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let entries: Vec<&(Node, Node)> = match &self.node.kind {
            Kind::Map(entries) => entries.iter().collect(),
            _ => {
                if !self.node.is_null() {
                    self.mismatch("a mapping");
                }
                Vec::new()
            }
        };
        v.visit_map(MapAccess {
            entries: entries.into_iter(),
            value: None,
            ctx: self.ctx,
        })
        .map_err(|e| self.at(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            return v.visit_map(SpannedAccess {
                node: self.node,
                ctx: self.ctx,
                step: 0,
            });
        }
        if name.starts_with(SHORTHAND)
            && let Kind::Scalar { value, .. } = &self.node.kind
        {
            // The shorthand visitors say what they expected; add what was found.
            let node = self.node;
            return self.deserialize_any(v).map_err(|mut e| {
                if e.message.starts_with("expected ") && !e.message.contains(", found ") {
                    let found = if node.is_null() {
                        node.describe().to_string()
                    } else {
                        format!("`{value}`")
                    };
                    e.message = format!("{}, found {found}", e.message);
                }
                e
            });
        }
        let entries: Vec<&(Node, Node)> = match &self.node.kind {
            Kind::Map(entries) => entries
                .iter()
                .filter(|(k, _)| {
                    let key = k.as_str().unwrap_or_default();
                    if fields.contains(&key) {
                        return true;
                    }
                    self.ctx.record(k.pos, unknown_key(key, fields));
                    false
                })
                .collect(),
            _ => {
                if !self.node.is_null() {
                    self.mismatch("a mapping");
                }
                Vec::new()
            }
        };
        v.visit_map(MapAccess {
            entries: entries.into_iter(),
            value: None,
            ctx: self.ctx,
        })
        .map_err(|e| self.at(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let (tag_node, content) = match &self.node.kind {
            Kind::Scalar { .. } => (self.node, None),
            Kind::Map(entries) if entries.len() == 1 => (&entries[0].0, Some(&entries[0].1)),
            _ => {
                return Err(Error {
                    pos: Some(self.node.pos),
                    message: format!("expected one of {}", list(variants)),
                });
            }
        };
        let tag = tag_node.as_str().unwrap_or_default();
        let tag = if variants.contains(&tag) {
            tag
        } else {
            self.ctx.record(
                tag_node.pos,
                format!("unknown value `{tag}`, expected one of {}", list(variants)),
            );
            variants.first().copied().unwrap_or_default()
        };
        v.visit_enum(EnumAccess {
            tag,
            content,
            ctx: self.ctx,
            pos: self.node.pos,
        })
        .map_err(|e| self.at(e))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_key(key: &str, fields: &[&str]) -> String {
    if fields.is_empty() {
        return format!("unknown key `{key}`: this mapping takes no keys (write `{{}}`)");
    }
    let common_prefix = |f: &str| {
        key.chars()
            .zip(f.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let best = fields
        .iter()
        .map(|f| (crate::text::edit_distance(key, f), f))
        .min()
        .filter(|(d, _)| *d <= 2.max(key.len() / 3))
        // `retry` for `retries`: far in edits, but plainly the same word.
        .or_else(|| {
            fields
                .iter()
                .map(|f| (common_prefix(f), f))
                .filter(|(n, _)| *n >= 4 && *n * 2 >= key.chars().count())
                .max_by_key(|(n, _)| *n)
        });
    match best {
        Some((_, f)) => format!("unknown key `{key}` (did you mean `{f}`?)"),
        None => format!("unknown key `{key}`; expected one of {}", list(fields)),
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
    ctx: &'a Recorder,
}

impl<'de, 'a> de::SeqAccess<'de> for SeqAccess<'a> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    ctx: self.ctx,
                })
                .map(Some),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    entries: std::vec::IntoIter<&'a (Node, Node)>,
    value: Option<&'a Node>,
    ctx: &'a Recorder,
}

impl<'de, 'a> de::MapAccess<'de> for MapAccess<'a> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(NodeDe {
                    node: k,
                    ctx: self.ctx,
                })
                .map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self.value.take().expect("value after key");
        seed.deserialize(NodeDe {
            node,
            ctx: self.ctx,
        })
    }
}

struct SpannedAccess<'a> {
    node: &'a Node,
    ctx: &'a Recorder,
    step: u8,
}

impl<'de, 'a> de::MapAccess<'de> for SpannedAccess<'a> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let key = match self.step {
            0 => SPANNED_LINE,
            1 => SPANNED_COL,
            2 => SPANNED_VALUE,
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(self.node.pos.line.into_deserializer()),
            2 => seed.deserialize(self.node.pos.col.into_deserializer()),
            _ => {
                let before = REPORTED.with(|r| r.borrow().len());
                let value = seed.deserialize(NodeDe {
                    node: self.node,
                    ctx: self.ctx,
                });
                let pos = self.node.pos;
                REPORTED.with(|r| {
                    for (at, _) in r.borrow_mut().iter_mut().skip(before) {
                        at.get_or_insert(pos);
                    }
                });
                value
            }
            .map_err(|e| {
                if e.message != RECORDED {
                    self.ctx.record(e.pos.unwrap_or(self.node.pos), e.message);
                }
                Error {
                    pos: None,
                    message: RECORDED.into(),
                }
            }),
        }
    }
}

struct EnumAccess<'a> {
    tag: &'a str,
    content: Option<&'a Node>,
    ctx: &'a Recorder,
    pos: Pos,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let tag: de::value::StrDeserializer<'_, Error> = self.tag.into_deserializer();
        Ok((seed.deserialize(tag)?, self))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for EnumAccess<'a> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            Some(node) => seed.deserialize(NodeDe {
                node,
                ctx: self.ctx,
            }),
            None => Err(Error {
                pos: Some(self.pos),
                message: format!("`{}` needs a value", self.tag),
            }),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Error> {
        match self.content {
            Some(node) => de::Deserializer::deserialize_seq(
                NodeDe {
                    node,
                    ctx: self.ctx,
                },
                v,
            ),
            None => Err(Error {
                pos: Some(self.pos),
                message: format!("`{}` needs a list", self.tag),
            }),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.content {
            Some(node) => de::Deserializer::deserialize_struct(
                NodeDe {
                    node,
                    ctx: self.ctx,
                },
                "",
                fields,
                v,
            ),
            None => Err(Error {
                pos: Some(self.pos),
                message: format!("`{}` needs a mapping", self.tag),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::yaml::{Budget, parse};

    #[derive(Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        items: Vec<Spanned<Inner>>,
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let n = parse(
            "items:\n  - name: a\n    cuont: 1\n  - name: [x]\n    count: -3\nflag: maybe\nextra: 1\n",
            Budget::default(),
        )
        .unwrap();
        let problems = from_node::<Outer>(&n).unwrap_err();
        let got: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.pos, p.message))
            .collect();
        assert_eq!(
            got,
            vec![
                "3:5: unknown key `cuont` (did you mean `count`?)",
                "4:11: expected a string, found a list",
                "5:12: -3 is out of range for a non-negative whole number",
                "6:7: expected true or false, found a string",
                "7:1: unknown key `extra`; expected one of `items`, `flag`",
            ]
        );
    }

    #[test]
    fn spanned_values_know_where_they_are() {
        let n = parse("items:\n  - name: a\n", Budget::default()).unwrap();
        let (o, reported) = from_node::<Outer>(&n).unwrap();
        assert!(reported.is_empty());
        assert_eq!(o.items[0].pos, Pos::new(2, 5));
        assert_eq!(o.items[0].name, "a");
    }
}
