//! Finds secrets written literally into a file: a runbook references secrets, it never holds one.

use std::sync::LazyLock;

use regex::bytes::{Regex, RegexBuilder};

use super::yaml::Pos;

/// A secret-looking literal: where it starts and why it looks like one.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub pos: Pos,
    pub message: String,
}

/// The assignment pattern is ASCII (`unicode(false)`: classes, `\s` and case folding by ASCII's
/// rules), which is what a variable name is made of; Unicode classes would make its compilation,
/// on every load, cost more than the rest of the load. The groups read below start on an ASCII
/// byte and end on one or at the line's end, so their offsets are character boundaries of the
/// line. The other forms are fixed shapes, found without a regex.
fn ascii(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .expect("a valid pattern")
}

/// `NAME=value`, `NAME: value`, `"NAME": "value"`, `--name=value` where NAME looks secret.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    ascii(
        r#"(?i)(^|[^a-z0-9_])(export\s+)?["']?([a-z0-9_.-]*(_key|_secret|_token|password|passwd|_pwd|secret_access_key|private_key|api_key|apikey))["']?\s*(=|:)[ \t]*(\S.*)$"#,
    )
});

/// Words one of which every name [`ASSIGNMENT`] looks for holds (lowercase).
const SECRET_WORDS: [&[u8]; 5] = [b"key", b"secret", b"token", b"passw", b"_pwd"];

/// Whether [`ASSIGNMENT`] could match `line`: it has `=` or `:` and, in any case, one of
/// [`SECRET_WORDS`]. Most lines have none, and a runbook with none never compiles the pattern.
fn may_assign(line: &[u8]) -> bool {
    if memchr::memchr2(b'=', b':', line).is_none() {
        return false;
    }
    let lower = line.to_ascii_lowercase();
    SECRET_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w).is_some())
}

/// Scans text line by line. Positions are 1-based, columns count characters.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        let col_of = |byte: usize| line[..byte].chars().count() as u32 + 1;
        let bytes = line.as_bytes();
        if let Some(at) = pem(bytes) {
            out.push(Finding {
                pos: Pos::new(line_no, col_of(at)),
                message: "literal secret: a PEM private key; store it in a secret manager and \
                          reference it from a secret variable"
                    .into(),
            });
            continue;
        }
        if may_assign(bytes)
            && let Some(c) = ASSIGNMENT.captures(bytes)
        {
            let name = &line[c.get(3).unwrap().range()];
            let value = c.get(6).unwrap();
            if is_literal(&line[value.range()]) {
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
        if let Some((from, digits)) = hex64(bytes) {
            let before = &line[..digits];
            // A checksum to verify (`sha256sum -c`, `digest:`) is not a key.
            let lower = line.to_ascii_lowercase();
            let digest = before.ends_with("sha256:")
                || before.to_ascii_lowercase().ends_with("sha256 ")
                || ["sha256sum", "shasum", "checksum", "digest"]
                    .iter()
                    .any(|w| lower.contains(w));
            if !digest {
                out.push(Finding {
                    pos: Pos::new(line_no, col_of(from)),
                    message: "literal secret: a 64-digit hex value (a private key?)".into(),
                });
                continue;
            }
        }
        if let Some(at) = aws_key_id(bytes) {
            out.push(Finding {
                pos: Pos::new(line_no, col_of(at)),
                message: "literal secret: an AWS access key id; use the AWS credential chain"
                    .into(),
            });
        }
    }
    out
}

/// Where `-----BEGIN … PRIVATE KEY-----` (or `… PRIVATE KEY BLOCK-----`) starts, the words
/// between made of capitals, digits and spaces.
fn pem(line: &[u8]) -> Option<usize> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&line[from..], BEGIN) {
        let at = from + i;
        let words = &line[at + BEGIN.len()..];
        let n = words
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b' ')
            .count();
        let (run, rest) = words.split_at(n);
        if (run.ends_with(b"PRIVATE KEY") || run.ends_with(b"PRIVATE KEY BLOCK"))
            && rest.starts_with(b"-----")
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The first run of exactly 64 hex digits (either case), maybe after `0x`, with no letter,
/// digit or `:` before it and no letter or digit after: where it starts (its `0x`, if any) and
/// where its digits start.
fn hex64(line: &[u8]) -> Option<(usize, usize)> {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let mut i = 0;
    while i < line.len() {
        if !line[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && line[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i - start != 64 || line.get(i).is_some_and(|&b| alnum(b)) {
            continue;
        }
        let free = |at: usize| at == 0 || !(alnum(line[at - 1]) || line[at - 1] == b':');
        if free(start) {
            return Some((start, start));
        }
        if start >= 2
            && line[start - 2] == b'0'
            && matches!(line[start - 1], b'x' | b'X')
            && free(start - 2)
        {
            return Some((start - 2, start));
        }
    }
    None
}

/// Where an AWS access key id (`AKIA` or `ASIA` and 16 capitals or digits, a word of its own)
/// starts.
fn aws_key_id(line: &[u8]) -> Option<usize> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    (0..line.len().saturating_sub(19)).find(|&at| {
        let id = &line[at..at + 20];
        (id.starts_with(b"AKIA") || id.starts_with(b"ASIA"))
            && id[4..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && (at == 0 || !word(line[at - 1]))
            && line.get(at + 20).is_none_or(|&b| !word(b))
    })
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

    /// A line the assignment pattern matches always passes the cheap test before it: lines of
    /// names, separators, quotes and values in mixed case, deterministically shuffled.
    #[test]
    fn every_assignment_passes_the_quick_test() {
        let pieces = [
            "export ", "DB_", "Password", "PASSWD", "_pwd", "_PwD", "api", "Key", "_KEY", "apikey",
            "secret", "_Secret", "_Token", "private", "_access", "=", ":", " ", "\t", "\"", "'",
            "value", "x", "-", ".", "_", "--", "é",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        let mut matched = 0;
        for _ in 0..20_000 {
            let len = 1 + next(8);
            let line: String = (0..len).map(|_| pieces[next(pieces.len())]).collect();
            if ASSIGNMENT.is_match(line.as_bytes()) {
                matched += 1;
                assert!(may_assign(line.as_bytes()), "{line:?}");
            }
        }
        assert!(matched > 1_000, "only {matched} lines matched");
        assert!(!may_assign(b"name: deploy the api"));
        assert!(!may_assign(b"token and key but no separator"));
    }

    /// The fixed shapes are found where the patterns they replace (`regex`) find them:
    /// lines built from the pieces that matter (hex runs of 63–65 digits, `0x`, `:`, word and
    /// non-word neighbours, non-ASCII characters, key headers), deterministically shuffled.
    #[test]
    fn the_fixed_shapes_match_as_their_patterns_do() {
        let hex = regex::Regex::new(r"(?i)(^|[^0-9a-z:])(0x)?([0-9a-f]{64})($|[^0-9a-z])").unwrap();
        // A word boundary by ASCII's rules: an id against a non-ASCII letter is still found.
        let aws = regex::Regex::new(r"(?-u:\b)((AKIA|ASIA)[0-9A-Z]{16})(?-u:\b)").unwrap();
        let pem_re =
            regex::Regex::new(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----").unwrap();
        let h63 = "a1".repeat(31) + "f";
        let h64 = "Ab".repeat(32);
        let h65 = h64.clone() + "0";
        let pieces: Vec<String> = vec![
            h63,
            h64.clone(),
            h65,
            format!("0x{h64}"),
            format!("0X{h64}"),
            "x".into(),
            ":".into(),
            " ".into(),
            "g".into(),
            "_".into(),
            "=".into(),
            "é".into(),
            "0".into(),
            "AKIA".into(),
            "ASIA".into(),
            "ABCDEFGHIJKLMNOP".into(),
            "0123456789ABCDEF".into(),
            "Q".into(),
            "-----BEGIN ".into(),
            "RSA ".into(),
            "PRIVATE KEY".into(),
            " BLOCK".into(),
            "-----".into(),
            "-".into(),
            "ENCRYPTED ".into(),
            "a".into(),
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for _ in 0..20_000 {
            let len = 1 + next(7);
            let line: String = (0..len)
                .map(|_| pieces[next(pieces.len())].as_str())
                .collect();
            let want_hex = hex.captures(&line).map(|c| {
                (
                    c.get(2).map_or(c.get(3).unwrap().start(), |p| p.start()),
                    c.get(3).unwrap().start(),
                )
            });
            assert_eq!(hex64(line.as_bytes()), want_hex, "{line:?}");
            assert_eq!(
                aws_key_id(line.as_bytes()),
                aws.find(&line).map(|m| m.start()),
                "{line:?}"
            );
            assert_eq!(
                pem(line.as_bytes()),
                pem_re.find(&line).map(|m| m.start()),
                "{line:?}"
            );
        }
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
