//! ANSI colour sequences in command output, turned into styled spans; other escapes are dropped.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

/// The text without escape sequences.
pub fn strip(s: &str) -> String {
    if !s.contains('\x1b') {
        return s.to_string();
    }
    spans(s, Style::default())
        .into_iter()
        .map(|sp| sp.content.into_owned())
        .collect()
}

/// Splits a line into spans, applying SGR (`ESC [ … m`) on top of `base`.
pub fn spans(s: &str, base: Style) -> Vec<Span<'static>> {
    if !s.contains('\x1b') {
        return vec![Span::styled(s.to_string(), base)];
    }
    let mut out = Vec::new();
    let mut style = base;
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            if !c.is_control() || c == '\t' {
                text.push(c);
            }
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                let mut params = String::new();
                let mut fin = None;
                for p in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&p) {
                        fin = Some(p);
                        break;
                    }
                    params.push(p);
                }
                if fin == Some('m') {
                    if !text.is_empty() {
                        out.push(Span::styled(std::mem::take(&mut text), style));
                    }
                    style = apply_sgr(style, base, &params);
                }
            }
            Some(']') => {
                // OSC: up to BEL or ESC \.
                chars.next();
                while let Some(p) = chars.next() {
                    if p == '\x07' {
                        break;
                    }
                    if p == '\x1b' {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    if !text.is_empty() {
        out.push(Span::styled(text, style));
    }
    out
}

fn basic(n: u16) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        7 => Color::Gray,
        8 => Color::DarkGray,
        9 => Color::LightRed,
        10 => Color::LightGreen,
        11 => Color::LightYellow,
        12 => Color::LightBlue,
        13 => Color::LightMagenta,
        14 => Color::LightCyan,
        _ => Color::White,
    }
}

fn apply_sgr(mut style: Style, base: Style, params: &str) -> Style {
    let codes: Vec<u16> = if params.is_empty() {
        vec![0]
    } else {
        params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let mut i = 0;
    while i < codes.len() {
        let c = codes[i];
        match c {
            0 => style = base,
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            9 => style = style.add_modifier(Modifier::CROSSED_OUT),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            29 => style = style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 => style = style.fg(basic(c - 30)),
            39 => style.fg = base.fg,
            40..=47 => style = style.bg(basic(c - 40)),
            49 => style.bg = base.bg,
            90..=97 => style = style.fg(basic(c - 90 + 8)),
            100..=107 => style = style.bg(basic(c - 100 + 8)),
            38 | 48 => {
                let color = match codes.get(i + 1) {
                    Some(5) => {
                        let n = codes.get(i + 2).copied().unwrap_or(0);
                        i += 2;
                        Some(Color::Indexed(n.min(255) as u8))
                    }
                    Some(2) => {
                        let rgb: Vec<u8> = (0..3)
                            .map(|k| codes.get(i + 2 + k).copied().unwrap_or(0).min(255) as u8)
                            .collect();
                        i += 4;
                        Some(Color::Rgb(rgb[0], rgb[1], rgb[2]))
                    }
                    _ => None,
                };
                if let Some(color) = color {
                    style = if c == 38 {
                        style.fg(color)
                    } else {
                        style.bg(color)
                    };
                }
            }
            _ => {}
        }
        i += 1;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_resets() {
        let s = spans(
            "a\x1b[1;31mred\x1b[0m b\x1b[38;5;208mo\x1b[38;2;1;2;3mx\x1b[K",
            Style::default(),
        );
        let texts: Vec<&str> = s.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, vec!["a", "red", " b", "o", "x"]);
        assert_eq!(
            s[1].style,
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        );
        assert_eq!(s[2].style, Style::default());
        assert_eq!(s[3].style.fg, Some(Color::Indexed(208)));
        assert_eq!(s[4].style.fg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!(strip("\x1b]0;title\x07plain\x1b[32m!"), "plain!");
    }
}
