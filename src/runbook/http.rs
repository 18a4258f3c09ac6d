//! Native HTTP steps, as data: `http.check` sends requests to a URL and checks their statuses,
//! bodies, error rate and latency. It changes nothing (no journaled change, no undo, no gate
//! needed). Strings may use `{{ var }}`; header values may use secret variables (masked
//! wherever they could show), nothing else may.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The statuses that count as a success: one status (`200`), a class (`"2xx"`), or a list of
/// them (`[200, 204, "3xx"]`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ExpectStatus {
    One(StatusItem),
    Any(Vec<StatusItem>),
}

/// One status (`200`) or a class (`"2xx"`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusItem {
    Code(u16),
    Text(String),
}

const EXPECTING: &str = "a status (200), a class (\"2xx\") or a list of them";

/// Reads a status or a class; `list` also takes a list of them.
struct StatusVisitor {
    list: bool,
}

impl<'de> serde::de::Visitor<'de> for StatusVisitor {
    type Value = ExpectStatus;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(EXPECTING)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ExpectStatus, E> {
        let code = u16::try_from(v)
            .map_err(|_| E::custom(format!("`{v}` is not an HTTP status (100 to 599)")))?;
        Ok(ExpectStatus::One(StatusItem::Code(code)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ExpectStatus, E> {
        Err(E::custom(format!(
            "`{v}` is not an HTTP status (100 to 599)"
        )))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ExpectStatus, E> {
        Ok(ExpectStatus::One(StatusItem::Text(v.to_string())))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ExpectStatus, A::Error> {
        if !self.list {
            return Err(serde::de::Error::custom(format!(
                "expected {EXPECTING}, not a list in a list"
            )));
        }
        let mut items = Vec::new();
        while let Some(One(item)) = seq.next_element::<One>()? {
            items.push(item);
        }
        Ok(ExpectStatus::Any(items))
    }
}

/// One item of a list of statuses.
struct One(StatusItem);

impl<'de> Deserialize<'de> for One {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<One, D::Error> {
        match d.deserialize_any(StatusVisitor { list: false })? {
            ExpectStatus::One(item) => Ok(One(item)),
            ExpectStatus::Any(_) => Err(serde::de::Error::custom(format!(
                "expected {EXPECTING}, not a list in a list"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ExpectStatus, D::Error> {
        d.deserialize_any(StatusVisitor { list: true })
    }
}

/// A status pattern, checked: a code, or a class (`2xx`: 200–299).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Code(u16),
    Class(u16),
}

impl StatusItem {
    /// The pattern, or why it is not one.
    pub fn parse(&self) -> Result<Status, String> {
        match self {
            StatusItem::Code(c) if (100..=599).contains(c) => Ok(Status::Code(*c)),
            StatusItem::Code(c) => Err(format!("`{c}` is not an HTTP status (100 to 599)")),
            StatusItem::Text(t) => {
                let t = t.trim();
                if let Ok(c) = t.parse::<u16>() {
                    return StatusItem::Code(c).parse();
                }
                let b = t.as_bytes();
                if b.len() == 3
                    && (b'1'..=b'5').contains(&b[0])
                    && t[1..].eq_ignore_ascii_case("xx")
                {
                    Ok(Status::Class(u16::from(b[0] - b'0')))
                } else {
                    Err(format!("`{t}` is not an HTTP status (200) or class (2xx)"))
                }
            }
        }
    }
}

impl Status {
    pub fn matches(self, code: u16) -> bool {
        match self {
            Status::Code(c) => c == code,
            Status::Class(k) => code / 100 == k,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Status::Code(c) => c.to_string(),
            Status::Class(k) => format!("{k}xx"),
        }
    }
}

impl ExpectStatus {
    pub fn items(&self) -> Vec<&StatusItem> {
        match self {
            ExpectStatus::One(i) => vec![i],
            ExpectStatus::Any(v) => v.iter().collect(),
        }
    }
}

/// Sends `requests` requests to `url`, `interval` apart (as fast as they answer without one),
/// and checks each answer: its status is one of `expect_status` and its body holds
/// `body_contains`. Fails when more than `max_error_rate` % of them fail (any, by default) or
/// when their 95th percentile latency is over `max_p95`. Its result is one line of JSON on stdout
/// (for `capture` and `expect`): `{"requests":…,"errors":…,"error_rate":…,"p50_ms":…,"p95_ms":…,
/// "status":{"200":…}}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// `http://…` or `https://…`.
    #[serde(default)]
    pub url: String,
    /// `GET` when left out; `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS` too (no body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request headers. Values may use secret variables (`Bearer {{ api_token }}`): they are
    /// masked in everything shown and journaled.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// The statuses that succeed: `200` (the default), `"2xx"`, or a list of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<ExpectStatus>,
    /// Text every successful answer's body holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// How many requests (default 1, at most 1,000,000), or a `{{ variable }}` that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<super::int::Int>,
    /// Time between the starts of two requests (`1ms` is 1,000 a second), kept whatever the
    /// answers' latency (up to 256 in flight); left out, each request starts when the last one
    /// answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The highest share of failed requests, in percent, that still succeeds (default 0), or a
    /// `{{ variable }}` that holds it (a team's threshold given at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<super::int::Num>,
    /// The highest 95th percentile latency that still succeeds, e.g. `200ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95: Option<String>,
    /// Hosts to connect to at a given address instead of resolving them, as curl's
    /// `--resolve`: `app.example.com: "127.0.0.1:8443"`. The request keeps the URL's host.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub resolve: IndexMap<String, String>,
    /// The longest one request may take (default 10s); one that takes longer fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One native HTTP action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HttpAction {
    Check(HttpCheck),
}

/// `url` with any credentials in it (`https://user:password@host/`) masked: `https://***@host/`.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Whether `url` holds credentials before its host (`user:password@`), which `http.check` refuses:
/// they would be shown with the URL (a header takes a secret instead).
pub fn has_userinfo(url: &str) -> bool {
    masked_url(url) != url
}

/// The methods `http.check` sends.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl HttpAction {
    /// The action with every string passed through `f` (filling `{{ var }}` templates). Header
    /// and `resolve` names are kept as written.
    pub fn filled(&self, f: &dyn Fn(&str) -> String) -> HttpAction {
        super::vars::fill_strings(self, f)
    }

    pub fn key(&self) -> &'static str {
        match self {
            HttpAction::Check(_) => "http.check",
        }
    }

    /// The action as one line: `http.check GET https://app.example.com/health ×300 every 10ms
    /// -H Authorization (expect 2xx, errors ≤ 1 %, p95 ≤ 200ms)`. Header values are left out
    /// (they may hold secrets).
    pub fn describe(&self) -> String {
        let HttpAction::Check(a) = self;
        let method = a.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let mut s = format!("{} {method} {}", self.key(), masked_url(&a.url));
        match &a.requests {
            None => {}
            Some(n) if n.literal() == Some(1) => {}
            Some(n) => s.push_str(&format!(" ×{n}")),
        }
        if let Some(i) = &a.interval {
            s.push_str(&format!(" every {i}"));
        }
        for h in a.headers.keys() {
            s.push_str(&format!(" -H {h}"));
        }
        for (host, to) in &a.resolve {
            s.push_str(&format!(" --resolve {host}={to}"));
        }
        let mut expect = vec![format!(
            "expect {}",
            a.expect_status.as_ref().map_or_else(
                || "200".to_string(),
                |e| e
                    .items()
                    .iter()
                    .map(|i| i.parse().map_or_else(|e| e, |s| s.describe()))
                    .collect::<Vec<_>>()
                    .join("|")
            )
        )];
        if let Some(b) = &a.body_contains {
            expect.push(format!("body contains `{b}`"));
        }
        match &a.max_error_rate {
            Some(m) => expect.push(format!("errors ≤ {m} %")),
            None => expect.push("errors ≤ 0 %".into()),
        }
        if let Some(p) = &a.max_p95 {
            expect.push(format!("p95 ≤ {p}"));
        }
        s.push_str(&format!(" ({})", expect.join(", ")));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(
            masked_url("https://deploy:hunter2@app.example.com/x?a=b@c"),
            "https://***@app.example.com/x?a=b@c"
        );
        assert_eq!(masked_url("http://a:b@c@host"), "http://***@host");
        assert_eq!(masked_url("http://host/p@x"), "http://host/p@x");
        assert!(has_userinfo("http://token@host:8080"));
        assert!(!has_userinfo("http://host:8080/?u=a@b"));
        let d = HttpAction::Check(HttpCheck {
            url: "https://deploy:hunter2@app.example.com/".into(),
            ..HttpCheck::default()
        })
        .describe();
        assert!(!d.contains("hunter2"), "{d}");
    }

    #[test]
    fn statuses_and_classes() {
        assert_eq!(StatusItem::Code(200).parse(), Ok(Status::Code(200)));
        assert_eq!(StatusItem::Text("2xx".into()).parse(), Ok(Status::Class(2)));
        assert_eq!(
            StatusItem::Text("503".into()).parse(),
            Ok(Status::Code(503))
        );
        assert!(StatusItem::Text("2xy".into()).parse().is_err());
        assert!(StatusItem::Text("6xx".into()).parse().is_err());
        assert!(StatusItem::Code(99).parse().is_err());
        assert!(Status::Class(2).matches(204));
        assert!(!Status::Class(2).matches(301));
    }

    #[test]
    fn the_description_names_headers_but_never_their_values() {
        let a = HttpAction::Check(HttpCheck {
            url: "https://app.example.com/health".into(),
            headers: [(
                "Authorization".to_string(),
                "Bearer s3cr3t-token".to_string(),
            )]
            .into_iter()
            .collect(),
            requests: Some(300.into()),
            interval: Some("10ms".into()),
            expect_status: Some(ExpectStatus::One(StatusItem::Text("2xx".into()))),
            max_error_rate: Some(1.0.into()),
            max_p95: Some("200ms".into()),
            ..HttpCheck::default()
        });
        let d = a.describe();
        assert_eq!(
            d,
            "http.check GET https://app.example.com/health ×300 every 10ms -H Authorization (expect 2xx, errors ≤ 1 %, p95 ≤ 200ms)"
        );
        assert!(!d.contains("s3cr3t"));
    }
}
