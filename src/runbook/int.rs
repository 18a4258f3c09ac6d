//! A whole number ([`Int`]) or a decimal ([`Num`]) in a native step, written as a number
//! (`replicas: 3`) or filled from variables (`replicas: "{{ replicas }}"`, a count a responder
//! chooses at the start or a step captured), read when the step runs.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Int {
    Lit(i64),
    /// Text holding `{{ var }}`, a number once filled (`check` refuses any other text).
    Template(String),
}

impl Default for Int {
    fn default() -> Self {
        Int::Lit(0)
    }
}

impl From<i64> for Int {
    fn from(n: i64) -> Self {
        Int::Lit(n)
    }
}

impl Int {
    /// The number, when it is written as one.
    pub fn literal(&self) -> Option<i64> {
        match self {
            Int::Lit(n) => Some(*n),
            Int::Template(_) => None,
        }
    }

    /// The number once its variables are filled: `field` names it in the error, e.g.
    /// `replicas: "three" is not a whole number`.
    pub fn value(&self, field: &str) -> Result<i64, String> {
        match self {
            Int::Lit(n) => Ok(*n),
            Int::Template(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("{field}: `{t}` is not a whole number")),
        }
    }

    /// [`Int::value`] within `T`'s range (`replicas` is an int32, `count` unsigned).
    pub fn within<T: TryFrom<i64>>(&self, field: &str) -> Result<T, String> {
        let n = self.value(field)?;
        T::try_from(n).map_err(|_| format!("{field}: {n} is out of range"))
    }
}

impl fmt::Display for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Int::Lit(n) => write!(f, "{n}"),
            Int::Template(t) => f.write_str(t),
        }
    }
}

impl Serialize for Int {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Int::Lit(n) => s.serialize_i64(*n),
            Int::Template(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number, or a `{{ variable }}` that holds one")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Int, E> {
                Ok(Int::Lit(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Int, E> {
                i64::try_from(n)
                    .map(Int::Lit)
                    .map_err(|_| E::custom(format!("{n} is too large")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Int, E> {
                // A filled template comes back as text; text that is no number is kept to be
                // named by `check` (or by the step, when a variable filled it).
                Ok(s.trim()
                    .parse()
                    .map_or_else(|_| Int::Template(s.to_string()), Int::Lit))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Int {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Int".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A whole number, or a `{{ variable }}` that holds one (read when the step runs).",
            "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "\\{\\{"}]
        })
    }
}

/// A decimal number in a native step (`max_error_rate: 2.5`), or filled from variables
/// (`max_error_rate: "{{ max_error_rate }}"`), read when the step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Num {
    Lit(f64),
    /// Text holding `{{ var }}`, a number once filled (`check` refuses any other text).
    Template(String),
}

impl From<f64> for Num {
    fn from(n: f64) -> Self {
        Num::Lit(n)
    }
}

impl Num {
    /// The number, when it is written as one.
    pub fn literal(&self) -> Option<f64> {
        match self {
            Num::Lit(n) => Some(*n),
            Num::Template(_) => None,
        }
    }

    /// The number once its variables are filled: `field` names it in the error.
    pub fn value(&self, field: &str) -> Result<f64, String> {
        let n = match self {
            Num::Lit(n) => Some(*n),
            Num::Template(t) => t.trim().parse::<f64>().ok(),
        };
        n.filter(|n| n.is_finite())
            .ok_or_else(|| format!("{field}: `{self}` is not a number"))
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Lit(n) => write!(f, "{n}"),
            Num::Template(t) => f.write_str(t),
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Num::Lit(n) => s.serialize_f64(*n),
            Num::Template(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or a `{{ variable }}` that holds one")
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Num, E> {
                Ok(Num::Lit(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Num, E> {
                Ok(Num::Lit(n as f64))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Num, E> {
                Ok(Num::Lit(n as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Num, E> {
                Ok(s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map_or_else(|| Num::Template(s.to_string()), Num::Lit))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Num {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Num".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number, or a `{{ variable }}` that holds one (read when the step runs).",
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": "\\{\\{"}]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_templates_read_and_fill() {
        let n: Num = serde_json::from_value(serde_json::json!(2.5)).unwrap();
        assert_eq!(n, Num::Lit(2.5));
        let one: Num = serde_json::from_value(serde_json::json!(1)).unwrap();
        assert_eq!(one.value("max_error_rate"), Ok(1.0));
        let t: Num = serde_json::from_value(serde_json::json!("{{ max }}")).unwrap();
        assert_eq!(t.literal(), None);
        assert_eq!(
            t.value("max_error_rate").unwrap_err(),
            "max_error_rate: `{{ max }}` is not a number"
        );
        let filled: Num = serde_json::from_value(serde_json::json!(" 0.5 ")).unwrap();
        assert_eq!(filled, Num::Lit(0.5));
        let nan: Num = serde_json::from_value(serde_json::json!("NaN")).unwrap();
        assert!(nan.value("max_error_rate").is_err());
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!("{{ max }}")
        );
    }

    #[test]
    fn numbers_and_templates_read_and_fill() {
        let n: Int = serde_json::from_value(serde_json::json!(3)).unwrap();
        assert_eq!(n, Int::Lit(3));
        let t: Int = serde_json::from_value(serde_json::json!("{{ n }}")).unwrap();
        assert_eq!(t.literal(), None);
        assert_eq!(
            t.value("replicas").unwrap_err(),
            "replicas: `{{ n }}` is not a whole number"
        );
        let filled: Int = serde_json::from_value(serde_json::json!(" 4 ")).unwrap();
        assert_eq!(filled.within::<i32>("replicas"), Ok(4));
        let four: Int = serde_json::from_value(serde_json::json!("four")).unwrap();
        assert_eq!(
            four.value("replicas").unwrap_err(),
            "replicas: `four` is not a whole number"
        );
        assert_eq!(
            Int::Lit(-1).within::<u32>("count").unwrap_err(),
            "count: -1 is out of range"
        );
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!("{{ n }}")
        );
    }
}
