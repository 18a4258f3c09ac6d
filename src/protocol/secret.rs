//! Secret values and the mask that keeps them off every screen, log and file.

use std::borrow::Cow;
use std::sync::Arc;

/// What a secret is shown as.
pub const MASK: &str = "••••••";

/// A secret value: kept out of `Debug` output (and so out of logs and panics).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

/// Replaces every known secret value, in every form it can be shown in, with a mask: one pass
/// over the text whatever the number of forms (an Aho-Corasick automaton, longest match first).
#[derive(Clone, Debug, Default)]
pub struct Masker {
    secrets: Arc<Vec<String>>,
    matcher: Option<Arc<aho_corasick::AhoCorasick>>,
    /// The length of the longest form, in bytes.
    longest: usize,
}

/// Shortest text masked: shorter values would mask ordinary text everywhere; they are not secrets.
const MIN_MASKED: usize = 4;
/// Shortest base64 run masked where a secret sits inside a longer encoded value.
const MIN_EMBEDDED: usize = 8;

/// The forms a secret can reach output in: itself, each of its lines, and of each of those the
/// base64 (standard and URL-safe, padded or not, and the runs that encode it inside a longer
/// base64 value at any alignment), the URL encoding (`%20` and `+` for spaces) and the JSON string
/// escaping.
pub fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String, min: usize| {
        if s.chars().count() >= min && !out.contains(&s) {
            out.push(s);
        }
    };
    let mut parts: Vec<&str> = vec![secret, secret.trim()];
    parts.extend(secret.lines().map(str::trim));
    for part in parts {
        if part.chars().count() < MIN_MASKED {
            continue;
        }
        push(part.to_string(), MIN_MASKED);
        for with_newline in [false, true] {
            let bytes: Vec<u8> = if with_newline {
                format!("{part}\n").into_bytes()
            } else {
                part.as_bytes().to_vec()
            };
            for engine in [&STANDARD, &URL_SAFE] {
                let full = engine.encode(&bytes);
                push(full.trim_end_matches('=').to_string(), MIN_MASKED);
                push(full, MIN_MASKED);
                // Inside a longer value the secret starts 0, 1 or 2 bytes into a 3-byte group:
                // the characters that depend on the secret's bytes alone are always the same.
                for offset in 0..3usize {
                    let mut shifted = vec![0u8; offset];
                    shifted.extend_from_slice(&bytes);
                    let enc = engine.encode(&shifted);
                    let skip = if offset == 0 {
                        0
                    } else {
                        (offset * 4).div_ceil(3)
                    };
                    let stable = ((offset + bytes.len()) / 3) * 4;
                    if stable > skip {
                        push(enc[skip..stable].to_string(), MIN_EMBEDDED);
                    }
                }
            }
        }
        let url: String = form_urlencoded::byte_serialize(part.as_bytes()).collect();
        push(url.clone(), MIN_MASKED);
        push(url.replace('+', "%20"), MIN_MASKED);
        push(
            percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            MIN_MASKED,
        );
        let json = serde_json::to_string(part).unwrap_or_default();
        push(
            json[1..json.len().saturating_sub(1).max(1)].to_string(),
            MIN_MASKED,
        );
    }
    out
}

impl Masker {
    pub fn add(&mut self, secret: &str) {
        let mut list: Vec<String> = self.secrets.as_ref().clone();
        for form in secret_forms(secret) {
            if !list.contains(&form) {
                list.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&list)
            .ok()
            .map(Arc::new);
        self.longest = list.first().map_or(0, String::len);
        self.secrets = Arc::new(list);
    }

    /// The length in bytes of the longest text masked: text split into pieces is masked as
    /// it would be whole if each cut is made where [`Masker::cut_at`] says, with at least this
    /// much of what follows the cut in hand.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Where to cut `text` at `at` or before so that no masked text is split: `at`, or the start
    /// of the masked text that straddles it (its end, if that starts the text). `text` should
    /// hold at least [`Masker::longest`] bytes past `at` when there are that many.
    pub fn cut_at(&self, text: &[u8], at: usize) -> usize {
        let Some(m) = &self.matcher else {
            return at;
        };
        let end = text.len().min(at + self.longest);
        for hit in m.find_iter(&text[..end]) {
            if hit.start() >= at {
                break;
            }
            if hit.end() > at {
                return if hit.start() > 0 {
                    hit.start()
                } else {
                    hit.end()
                };
            }
        }
        at
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        if !m.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for hit in m.find_iter(text) {
            out.push_str(&text[last..hit.start()]);
            out.push_str(MASK);
            last = hit.end();
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }
}
