//! Finds secrets written literally into a file: a runbook references secrets, it never holds one.

use std::sync::LazyLock;

use regex::Regex;

use super::yaml::Pos;

/// A secret-looking literal: where it starts and why it looks like one.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub pos: Pos,
    pub message: String,
}

static PEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----").unwrap());
static HEX64: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(^|[^0-9a-z:])(0x)?([0-9a-f]{64})($|[^0-9a-z])").unwrap());
static AWS_KEY_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b((AKIA|ASIA)[0-9A-Z]{16})\b").unwrap());
/// `NAME=value`, `NAME: value`, `"NAME": "value"`, `--name=value` where NAME looks secret.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(^|[^a-z0-9_])(export\s+)?["']?([a-z0-9_.-]*(_key|_secret|_token|password|passwd|_pwd|secret_access_key|private_key|api_key|apikey))["']?\s*(=|:)[ \t]*(\S.*)$"#,
    )
    .unwrap()
});

/// Scans text line by line. Positions are 1-based, columns count characters.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        let col_of = |byte: usize| line[..byte].chars().count() as u32 + 1;
        if let Some(m) = PEM.find(line) {
            out.push(Finding {
                pos: Pos::new(line_no, col_of(m.start())),
                message: "literal secret: a PEM private key; store it in a secret manager and \
                          reference it from a secret variable"
                    .into(),
            });
            continue;
        }
        if let Some(c) = ASSIGNMENT.captures(line) {
            let name = c.get(3).unwrap().as_str();
            let value = c.get(6).unwrap();
            if is_literal(value.as_str()) {
                out.push(Finding {
                    pos: Pos::new(line_no, col_of(value.start())),
                    message: format!(
                        "literal secret: `{name}` is given a literal value; declare a secret \
                         variable and use it from the environment"
                    ),
                });
                continue;
            }
        }
        if let Some(c) = HEX64.captures(line) {
            let m = c.get(3).unwrap();
            let before = &line[..m.start()];
            // A checksum to verify (`sha256sum -c`, `digest:`) is not a key.
            let lower = line.to_ascii_lowercase();
            let digest = before.ends_with("sha256:")
                || before.to_ascii_lowercase().ends_with("sha256 ")
                || ["sha256sum", "shasum", "checksum", "digest"]
                    .iter()
                    .any(|w| lower.contains(w));
            if !digest {
                out.push(Finding {
                    pos: Pos::new(line_no, col_of(c.get(2).map_or(m.start(), |p| p.start()))),
                    message: "literal secret: a 64-digit hex value (a private key?)".into(),
                });
                continue;
            }
        }
        if let Some(m) = AWS_KEY_ID.find(line) {
            out.push(Finding {
                pos: Pos::new(line_no, col_of(m.start())),
                message: "literal secret: an AWS access key id; use the AWS credential chain"
                    .into(),
            });
        }
    }
    out
}

/// Whether an assigned value is a literal rather than a reference, a placeholder or structure.
fn is_literal(value: &str) -> bool {
    let v = value
        .trim()
        .trim_end_matches(',')
        .trim_matches(|c| c == '"' || c == '\'');
    if v.len() < 4 {
        return false;
    }
    let first = v.chars().next().unwrap_or(' ');
    if matches!(
        first,
        '$' | '{' | '[' | '<' | '|' | '>' | '&' | '*' | '#' | '(' | '`' | '%'
    ) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "null" | "none" | "required" | "optional"
    ) || lower.starts_with("arn:")
        || lower.contains("{{")
        || lower.contains("secretsmanager")
        || lower.contains("xxxx")
        || lower.contains("***")
        || lower.contains("changeme")
        || lower.contains("redacted")
        || lower.contains("example")
        || lower.contains("placeholder")
        || lower.contains("your-")
        || lower.contains("your_")
    {
        return false;
    }
    // Prose ("password: rotate it weekly") is not a value.
    !v.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_usual_suspects() {
        let hex = "ab".repeat(32);
        let text = format!(
            "a: 1\nexport TON_PRIVATE_KEY={hex}\nDB_PASSWORD: hunter2hunter2\n-----BEGIN RSA PRIVATE KEY-----\nkey: AKIAABCDEFGHIJKLMNOP\n"
        );
        let f = scan(&text);
        let pos: Vec<_> = f.iter().map(|f| f.pos).collect();
        assert_eq!(
            pos,
            vec![
                Pos::new(2, 24),
                Pos::new(3, 14),
                Pos::new(4, 1),
                Pos::new(5, 6)
            ]
        );
        assert!(f[0].message.contains("TON_PRIVATE_KEY"));
    }

    #[test]
    fn leaves_references_and_digests_alone() {
        let hex = "ab".repeat(32);
        let text = format!(
            "export DB_PASSWORD=$(aws secretsmanager get-secret-value)\nAPI_KEY: \"{{{{ api_key }}}}\"\nimage: x@sha256:{hex}\ndb_password: {{ secret: true }}\npassword: rotate it weekly\n"
        );
        assert_eq!(scan(&text), vec![]);
    }

    #[test]
    fn checksums_to_verify_are_not_keys() {
        let hex = "cd".repeat(32);
        let text = format!(
            "run: echo \"{hex}  app.tar\" | sha256sum -c\nchecksum: {hex}\nrun: ./sign --key {hex}\n"
        );
        let f = scan(&text);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].pos.line, 3);
    }
}
