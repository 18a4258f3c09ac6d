//! Small text helpers every layer uses: the edit distance behind "did you mean", a message on
//! one line, text made safe to print on a terminal, and the hex SHA-256 the journal's and the
//! audit log's chains are made of. Imports nothing of tollgate.

use std::borrow::Cow;

/// Levenshtein distance between `a` and `b`, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A message on one line: each line's runs of whitespace made one space, empty lines dropped, the
/// lines joined with `; `.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `text` can go to a terminal as it is: no control characters but `\n` and `\t`, no
/// escape sequences. A fast check (most output has none); `false` may be a false alarm (any
/// character encoded with a leading `0xC2` byte, e.g. `·`), which [`terminal_safe`] settles.
pub fn is_terminal_safe(text: &[u8]) -> bool {
    // No early exit inside a block, so the compiler can check many bytes at once.
    let bad = |c: u8| (c < 0x20 && c != b'\n' && c != b'\t') | (c == 0x7f) | (c == 0xc2);
    let blocks = text.chunks_exact(32);
    let rest = blocks.remainder();
    !blocks
        .into_iter()
        .any(|w| w.iter().fold(false, |a, &c| a | bad(c)))
        && !rest.iter().any(|&c| bad(c))
}

/// `text` as it may go to a terminal: colours (SGR, `ESC [ … m`) kept, and every other control
/// sequence dropped — other CSI (cursor moves, clearing, modes such as mouse reporting), OSC
/// (titles, the clipboard), DCS, SOS, PM, APC, other escapes, C1 controls, and C0 controls but
/// `\n` and `\t` (a bare `\r` too: it would overwrite a line's prefix). A line on which a colour
/// was kept ends with a reset, so colours do not run into what is printed next.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if is_terminal_safe(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut coloured = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                if coloured {
                    out.extend_from_slice(RESET);
                    coloured = false;
                }
                out.push(c);
                i += 1;
            }
            0x1b => {
                let (end, sgr) = escape(b, i + 1);
                if sgr {
                    out.extend_from_slice(&b[i..end]);
                    coloured = true;
                }
                i = end;
            }
            // C1 controls (U+0080–U+009F), some of which open sequences of their own.
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => {
                i = match b[i + 1] {
                    0x9b => csi(b, i + 2).0,
                    0x90 | 0x98 | 0x9d | 0x9e | 0x9f => string(b, i + 2),
                    _ => i + 2,
                };
            }
            b'\t' => {
                out.push(c);
                i += 1;
            }
            0x00..=0x1f | 0x7f => i += 1,
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if coloured {
        out.extend_from_slice(RESET);
    }
    // Only whole sequences and single ASCII bytes were dropped, never part of a character.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// The SGR reset.
const RESET: &[u8] = b"\x1b[0m";

/// An escape sequence whose `ESC` was just before `at`: where it ends, and whether it is SGR.
fn escape(b: &[u8], at: usize) -> (usize, bool) {
    match b.get(at) {
        Some(b'[') => csi(b, at + 1),
        Some(b']' | b'P' | b'X' | b'^' | b'_') => (string(b, at + 1), false),
        // ESC, intermediates, a final byte (e.g. `ESC 7`, `ESC ( B`, `ESC c`).
        Some(0x20..=0x7e) => {
            let mut j = at;
            while let Some(0x20..=0x2f) = b.get(j) {
                j += 1;
            }
            match b.get(j) {
                Some(0x30..=0x7e) => (j + 1, false),
                _ => (j, false),
            }
        }
        // A lone ESC.
        _ => (at, false),
    }
}

/// A control sequence's parameters, intermediates and final byte from `at`: where it ends, and
/// whether it is SGR (digits, `;` and `:` only, ending in `m`). A sequence broken by another
/// byte ends before it.
fn csi(b: &[u8], at: usize) -> (usize, bool) {
    let mut j = at;
    while let Some(0x30..=0x3f) = b.get(j) {
        j += 1;
    }
    let params = &b[at..j];
    let mut plain = true;
    while let Some(0x20..=0x2f) = b.get(j) {
        plain = false;
        j += 1;
    }
    match b.get(j) {
        Some(0x40..=0x7e) => {
            let sgr = plain
                && b[j] == b'm'
                && params
                    .iter()
                    .all(|c| c.is_ascii_digit() || *c == b';' || *c == b':');
            (j + 1, sgr)
        }
        _ => (j, false),
    }
}

/// A control string (OSC, DCS, SOS, PM, APC) from `at`: where it ends — after BEL or ST
/// (`ESC \\` or U+009C), before another `ESC` or a line end, or at the end of the text.
fn string(b: &[u8], at: usize) -> usize {
    let mut j = at;
    while j < b.len() {
        match b[j] {
            0x07 => return j + 1,
            0x1b => {
                return if b.get(j + 1) == Some(&b'\\') {
                    j + 2
                } else {
                    j
                };
            }
            b'\n' => return j,
            0xc2 if b.get(j + 1) == Some(&0x9c) => return j + 2,
            _ => j += 1,
        }
    }
    j
}

/// The lowercase hex SHA-256 of `bytes`: what a journal or audit line's `prev` says of the line
/// before it, and a runbook's digest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for b in sha2::Sha256::digest(bytes) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The user name of `uid` (`getpwuid_r`), or `uidN` when it has none.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `pwd` and `buf` outlive the call; `result` is set to null or to `&pwd`.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return format!("uid{uid}");
        }
        // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        let name = name.to_string_lossy();
        // A name that could pass for something else on a screen or in a log is not used.
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_control() || c == '@' || c.is_whitespace())
        {
            return format!("uid{uid}");
        }
        return name.into_owned();
    }
}

/// The id of group `name` (`getgrnam_r`), or of a number given as such.
pub fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let c = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `grp` and `buf` outlive the call; `result` is set to null or to `&grp`.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(grp.gr_gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_the_standard_one_in_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kube.scael", "kube.scale"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("drak", "dark"), 2);
    }

    #[test]
    fn one_line_joins_lines_and_collapses_spaces() {
        assert_eq!(one_line("  a   b \n\n  c\t d  "), "a b; c d");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn terminal_safe_keeps_colours_and_drops_every_other_control() {
        let cases: &[(&str, &str)] = &[
            ("plain\ttab\n", "plain\ttab\n"),
            ("\x1b]0;pwned\x07title\n", "title\n"),
            ("\x1b]52;c;aGk=\x1b\\clip\n", "clip\n"),
            ("\x1b[2J\x1b[Hclear\n", "clear\n"),
            ("abc\rxyz\r\n", "abcxyz\n"),
            (
                "\x1b[?1000h\x1b[?2004h\x1b[?1049h\x1b[?25lmodes\n",
                "modes\n",
            ),
            (
                "\x1bP1$r\x1b\\\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\ok\n",
                "ok\n",
            ),
            ("\x1b7\x1b(B\x1bcesc\n", "esc\n"),
            ("\u{9b}2J\u{9d}0;t\u{9c}c1 \u{85}·\n", "c1 ·\n"),
            ("bell\x07 del\x7f nul\x00\n", "bell del nul\n"),
            ("\x1b]0;unterminated\nnext\n", "\nnext\n"),
            (
                "red \x1b[1;31mR\x1b[0m\n",
                "red \x1b[1;31mR\x1b[0m\x1b[0m\n",
            ),
            ("\x1b[38;5;208mo\n", "\x1b[38;5;208mo\x1b[0m\n"),
            ("\x1b[?1m\x1b[>4;1m\x1b[1 mnot sgr\n", "not sgr\n"),
            ("trailing \x1b", "trailing "),
            ("\x1b[31", ""),
        ];
        for (input, shown) in cases {
            assert_eq!(terminal_safe(input), *shown, "for {input:?}");
        }
        assert!(is_terminal_safe(b"plain text, tabs\t and lines\n"));
        assert!(!is_terminal_safe(
            &[b'x'; 40]
                .iter()
                .chain(b"\x1b")
                .copied()
                .collect::<Vec<_>>()
        ));
    }
}
