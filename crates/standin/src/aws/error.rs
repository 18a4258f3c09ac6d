//! Errors in the shapes the SDKs and the `aws` CLI parse: awsJson1_1's
//! `{"__type": CODE, "message": TEXT}` (Secrets Manager's `Message`) and awsQuery's XML
//! `ErrorResponse`. A message never quotes a secret's value, nor the body a request came in.

use serde_json::json;

/// How a service spells its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1_1 with `Message` (Secrets Manager).
    JsonCapital,
    /// awsJson1_1 with `message` (ECR, and requests no service claims).
    Json,
    /// awsQuery's XML `ErrorResponse` (STS, and REST services the stand-in does not answer).
    Xml,
}

/// An error answer: HTTP status, the error code clients match on, one line of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn client(code: &str, message: impl Into<String>) -> AwsError {
        AwsError::new(400, code, message)
    }

    /// A required member the request left out, as AWS's validation says it.
    pub fn missing(field: &str) -> AwsError {
        AwsError::client(
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(field)
            ),
        )
    }

    /// A member of the wrong JSON type (the value is not quoted: it may be a secret).
    pub fn wrong_type(field: &str, want: &str) -> AwsError {
        AwsError::client("SerializationException", format!("{field} must be {want}"))
    }

    /// An operation the stand-in does not answer: what to do about it, plainly.
    pub fn not_covered(service: &str, operation: &str) -> AwsError {
        AwsError::client(
            "UnknownOperationException",
            format!(
                "the rehearsal's AWS stand-in does not answer {service}.{operation}; give the step a rehearse: key"
            ),
        )
    }

    /// The answer's body, in `protocol`'s shape.
    pub fn body(&self, protocol: Protocol, request_id: &str) -> String {
        match protocol {
            Protocol::JsonCapital => {
                json!({"__type": self.code, "Message": self.message}).to_string()
            }
            Protocol::Json => json!({"__type": self.code, "message": self.message}).to_string(),
            Protocol::Xml => format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                if self.status >= 500 {
                    "Receiver"
                } else {
                    "Sender"
                },
                xml_escape(&self.code),
                xml_escape(&self.message),
                xml_escape(request_id)
            ),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Text safe inside an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let e = AwsError::not_covered("secretsmanager", "RotateSecret");
        let v: serde_json::Value =
            serde_json::from_str(&e.body(Protocol::JsonCapital, "r")).unwrap();
        assert_eq!(v["__type"], "UnknownOperationException");
        assert_eq!(
            v["Message"],
            "the rehearsal's AWS stand-in does not answer secretsmanager.RotateSecret; give the step a rehearse: key"
        );
        let v: serde_json::Value =
            serde_json::from_str(&AwsError::missing("SecretId").body(Protocol::Json, "r")).unwrap();
        assert!(v["message"].as_str().unwrap().contains("'secretId'"));
        let x = AwsError::client("InvalidAction", "a <b> & c").body(Protocol::Xml, "rid");
        assert!(x.contains("<Code>InvalidAction</Code>"), "{x}");
        assert!(x.contains("<Message>a &lt;b&gt; &amp; c</Message>"), "{x}");
        assert!(x.contains("<Type>Sender</Type>"), "{x}");
    }
}
