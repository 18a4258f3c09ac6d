//! Text made to fit a width: wrapped at words, or cut with a visible `…`. Dialogs lay out rows
//! they have measured, so what they must show (their controls) is never pushed off screen by
//! wrapping they did not count.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Columns `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

fn char_width(c: char) -> usize {
    let mut b = [0u8; 4];
    width(c.encode_utf8(&mut b))
}

/// `s` cut to `w` columns, ending in `…` when anything was cut.
pub fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// `s` in rows of at most `w` columns, broken at spaces where it can be, mid-word where a word
/// is longer than a row. Rows after the first start with `indent`.
pub fn wrap(s: &str, w: usize, indent: &str) -> Vec<String> {
    let w = w.max(1);
    let iw = width(indent);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    let limit = |rows: &Vec<String>| {
        if rows.is_empty() {
            w
        } else {
            w.saturating_sub(iw).max(1)
        }
    };
    for word in s.split_inclusive(' ') {
        let ww = width(word);
        let trimmed = width(word.trim_end_matches(' '));
        if used + trimmed > limit(&rows) && used > 0 {
            rows.push(std::mem::take(&mut row));
            used = 0;
        }
        if ww <= limit(&rows) - used {
            row.push_str(word);
            used += ww;
            continue;
        }
        // A word longer than the row: in pieces.
        for c in word.chars() {
            let cw = char_width(c);
            if used + cw > limit(&rows) {
                if c == ' ' {
                    continue;
                }
                rows.push(std::mem::take(&mut row));
                used = 0;
            }
            row.push(c);
            used += cw;
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let r = r.trim_end().to_string();
            if i == 0 { r } else { format!("{indent}{r}") }
        })
        .collect()
}

/// `s` wrapped to `w` columns as styled lines.
pub fn wrapped(s: &str, w: usize, indent: &str, style: Style) -> Vec<Line<'static>> {
    wrap(s, w, indent)
        .into_iter()
        .map(|r| Line::styled(r, style))
        .collect()
}

/// `line` cut to `w` columns: spans kept with their styles, the last one cut ends in `…`.
pub fn line(line: Line<'static>, w: usize) -> Line<'static> {
    if line.width() <= w {
        return line;
    }
    let mut spans = Vec::new();
    let mut used = 0;
    for s in line.spans {
        let sw = s.width();
        if used + sw < w {
            used += sw;
            spans.push(s);
            continue;
        }
        let rest = w.saturating_sub(used);
        spans.push(Span::styled(cut(&s.content, rest), s.style));
        break;
    }
    Line::from(spans).style(line.style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_words_and_cuts_with_a_mark() {
        assert_eq!(wrap("aa bb cc", 5, "  "), vec!["aa bb", "  cc"]);
        assert_eq!(wrap("abcdefgh", 3, ""), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 3, ""), vec![""]);
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        for row in wrap(
            "kubectl rollout status deployment/api --timeout=300s",
            12,
            "    ",
        ) {
            assert!(width(&row) <= 12, "{row}");
        }
    }
}
