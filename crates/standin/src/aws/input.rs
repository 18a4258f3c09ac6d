//! An awsJson1_1 request body, read member by member: a missing required member, a member of the
//! wrong type or a body that is not JSON is one clear error (never quoting a value, which may be
//! a secret), never a panic.

use serde_json::{Map, Value};

use super::error::AwsError;

pub struct Input(Map<String, Value>);

impl Input {
    /// The body's object; an empty body is `{}`, as the CLI sends for an operation without input.
    pub fn parse(body: &[u8]) -> Result<Input, AwsError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Input(m)),
            Ok(_) => Err(AwsError::client(
                "SerializationException",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(AwsError::client(
                "SerializationException",
                // serde_json's message names a line and column, never the text.
                format!("the request body is not JSON: {e}"),
            )),
        }
    }

    pub fn from_value(v: &Value, field: &str) -> Result<Input, AwsError> {
        match v {
            Value::Object(m) => Ok(Input(m.clone())),
            _ => Err(AwsError::wrong_type(field, "an object")),
        }
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    pub fn str(&self, k: &str) -> Result<Option<&str>, AwsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AwsError::wrong_type(k, "a string")),
        }
    }

    /// A string that must be there and not be empty.
    pub fn need_str(&self, k: &str) -> Result<&str, AwsError> {
        match self.str(k)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(AwsError::client(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at '{k}' failed to satisfy constraint: Member must have length greater than or equal to 1"
                ),
            )),
            None => Err(AwsError::missing(k)),
        }
    }

    pub fn bool(&self, k: &str) -> Result<Option<bool>, AwsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(AwsError::wrong_type(k, "a boolean")),
        }
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, AwsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| AwsError::wrong_type(k, "an integer")),
            Some(_) => Err(AwsError::wrong_type(k, "an integer")),
        }
    }

    pub fn list(&self, k: &str) -> Result<Vec<&Value>, AwsError> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().collect()),
            Some(_) => Err(AwsError::wrong_type(k, "a list")),
        }
    }

    pub fn strings(&self, k: &str) -> Result<Vec<String>, AwsError> {
        self.list(k)?
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(AwsError::wrong_type(k, "a list of strings")),
            })
            .collect()
    }

    pub fn objects(&self, k: &str) -> Result<Vec<Input>, AwsError> {
        self.list(k)?
            .into_iter()
            .map(|v| Input::from_value(v, k))
            .collect()
    }

    pub fn object(&self, k: &str) -> Result<Option<Input>, AwsError> {
        self.get(k).map(|v| Input::from_value(v, k)).transpose()
    }
}
