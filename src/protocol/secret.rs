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

/// Shortest secret masked: shorter values would mask ordinary text everywhere, so a secret
/// variable with a shorter value is refused before a run starts.
pub const MIN_MASKED: usize = 4;
/// Shortest base64 run masked where a secret sits inside a longer encoded value.
const MIN_EMBEDDED: usize = 8;

/// The forms a secret can reach output in: itself, each of its lines, and of each of those the
/// base64 (standard and URL-safe, padded or not, and the runs that encode it inside a longer
/// base64 value at any alignment), the URL encoding (`%20` and `+` for spaces) and the JSON string
/// escaping, and the hex of its bytes. Matching ignores ASCII case (the value in upper case, hex
/// in either case); the value's Unicode upper and lower case are forms of their own.
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
        push(part.to_uppercase(), MIN_MASKED);
        push(part.to_lowercase(), MIN_MASKED);
        push(
            part.bytes().map(|b| format!("{b:02x}")).collect(),
            MIN_MASKED,
        );
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

/// `text` without its terminal control sequences (CSI: `ESC [` … final byte, e.g. SGR colours),
/// and for each byte of that, where it came from in `text`; `None` when there are none.
fn without_controls(text: &str) -> Option<(String, Vec<usize>)> {
    let b = text.as_bytes();
    if !b.contains(&0x1b) {
        return None;
    }
    let mut plain = Vec::with_capacity(b.len());
    let mut from = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0x1b && b.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < b.len() && (0x20..=0x3f).contains(&b[j]) {
                j += 1;
            }
            if j < b.len() && (0x40..=0x7e).contains(&b[j]) {
                i = j + 1;
                continue;
            }
        }
        plain.push(b[i]);
        from.push(i);
        i += 1;
    }
    // Only whole ASCII sequences were taken out, so the rest is still UTF-8.
    String::from_utf8(plain).ok().map(|p| (p, from))
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
            .ascii_case_insensitive(true)
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

    /// Whether `text` holds any form of a secret, as [`Masker::mask`] would find it.
    pub fn contains(&self, text: &str) -> bool {
        let Some(m) = &self.matcher else {
            return false;
        };
        match without_controls(text) {
            Some((plain, _)) => m.is_match(&plain),
            None => m.is_match(text),
        }
    }

    /// `text` with every form of every secret replaced by [`MASK`], in one pass. A secret split
    /// by colour codes is found in the text without them; the codes it spanned are kept after
    /// the mask, so the colours that follow stay as they were.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        let Some((plain, from)) = without_controls(text) else {
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
            return Cow::Owned(out);
        };
        if !m.is_match(&plain) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for hit in m.find_iter(&plain) {
            let start = from[hit.start()];
            let end = from[hit.end() - 1] + 1;
            out.push_str(&text[last..start]);
            out.push_str(MASK);
            // The control sequences inside the masked span, without the characters between them.
            let mut k = start;
            for &src in &from[hit.start()..hit.end()] {
                if src > k {
                    out.push_str(&text[k..src]);
                }
                k = src + 1;
            }
            last = end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(secret: &str) -> Masker {
        let mut m = Masker::default();
        m.add(secret);
        m
    }

    #[test]
    fn masks_hex_in_either_case() {
        let m = masker("hunter2");
        assert_eq!(m.mask("x 68756e74657232 y"), format!("x {MASK} y"));
        assert_eq!(m.mask("x 68756E74657232 y"), format!("x {MASK} y"));
        assert!(m.contains("0x68756E74657232"));
    }

    #[test]
    fn masks_the_value_in_any_case() {
        let m = masker("hunter2");
        assert_eq!(m.mask("HUNTER2"), MASK);
        assert_eq!(m.mask("pw=HuNtEr2."), format!("pw={MASK}."));
        let m = masker("päss wörd");
        assert_eq!(m.mask("PÄSS WÖRD"), MASK);
    }

    #[test]
    fn masks_a_value_split_by_colour_codes_and_keeps_the_colours() {
        let m = masker("hunter2");
        let text = "a \x1b[31mhun\x1b[1;32mter2\x1b[0m b";
        assert_eq!(m.mask(text), format!("a \x1b[31m{MASK}\x1b[1;32m\x1b[0m b"));
        assert!(m.contains("hu\x1b[0mnter2"));
        // Text with colours and no secret is left as it is.
        assert!(matches!(m.mask("\x1b[31mred\x1b[0m"), Cow::Borrowed(_)));
        assert!(!m.contains("\x1b[31mhunter\x1b[0m"));
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let m = masker("hunter2");
        assert!(!m.contains("the hunter went home"));
        assert!(matches!(m.mask("deploying v1.2.3"), Cow::Borrowed(_)));
        assert!(!Masker::default().contains("hunter2"));
    }
}
