//! The shorthand forms of the format: a value that may be written as a scalar (`gate: true`,
//! `run: "cmd"`, `retries: 3`, a checklist string) or as a mapping, which still goes through the
//! field checks so unknown keys are reported with positions. A name starting with
//! [`SHORTHAND`] tells the YAML deserializer that a scalar is acceptable there.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use super::de::SHORTHAND;

pub trait Shorthand: Sized {
    const NAME: &'static str;
    const FIELDS: &'static [&'static str];
    const EXPECTING: &'static str;
    fn from_bool<E: de::Error>(_: bool) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_u64<E: de::Error>(_: u64) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_str<E: de::Error>(_: &str) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
    /// [`Shorthand::from_map`], told whether a key of the mapping was already found wrong
    /// (unknown or misspelt): a value that would otherwise complain of a missing key can then
    /// stay quiet, since the misspelt key says what is wrong.
    fn from_map_checked<'de, A: MapAccess<'de>>(
        map: A,
        _keys_were_wrong: bool,
    ) -> Result<Self, A::Error> {
        Self::from_map(map)
    }
}

/// Reads a shorthand value; `recorded_before` is how many problems reading had recorded before
/// this value's keys were looked at (see [`Shorthand::from_map_checked`]).
pub struct ShortVisitor<T> {
    pub recorded_before: usize,
    pub ty: PhantomData<T>,
}

impl<'de, T: Shorthand> Visitor<'de> for ShortVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::from_bool(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_str(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let keys_were_wrong = super::de::recorded_so_far() > self.recorded_before;
        T::from_map_checked(map, keys_were_wrong)
    }
}

pub fn fields_of<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(de::value::MapAccessDeserializer::new(map))
}

macro_rules! shorthand_deserialize {
    ($ty:ty) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_struct(
                    <$ty as $crate::runbook::shorthand::Shorthand>::NAME,
                    <$ty as $crate::runbook::shorthand::Shorthand>::FIELDS,
                    $crate::runbook::shorthand::ShortVisitor::<$ty> {
                        recorded_before: $crate::runbook::de::recorded_so_far(),
                        ty: ::std::marker::PhantomData,
                    },
                )
            }
        }
    };
}
pub(crate) use shorthand_deserialize;

/// A field whose key, once written, counts as given even with an empty value: `Option` would
/// read `key:` (null) as absent.
pub struct Present<T>(pub Option<T>);

impl<T> Default for Present<T> {
    fn default() -> Self {
        Present(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Present<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|t| Present(Some(t)))
    }
}

impl<T> Present<T> {
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: Serialize> Serialize for Present<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Described as the `Option` it stands for.
impl<T: JsonSchema> JsonSchema for Present<T> {
    fn inline_schema() -> bool {
        <Option<T>>::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Option<T>>::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        <Option<T>>::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Option<T>>::json_schema(generator)
    }
    fn _schemars_private_is_option() -> bool {
        true
    }
}
