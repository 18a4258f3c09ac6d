//! Colour contrast as WCAG 2 defines it: what a cell drawn in a [`Style`] looks like on a
//! terminal, and whether its text can be read. Text needs 4.5:1 against its background (level
//! AA); borders and other marks that are not text need 3:1.
//!
//! The 16 named colours follow the terminal's palette, so they are taken at xterm's defaults;
//! indexes 16–255 are fixed. What a style leaves unset is the terminal's own foreground or
//! background: a [`Ground`], the kind of terminal a theme is made for.

use ratatui::style::{Color, Modifier, Style};

/// The minimum contrast of text (WCAG 2, level AA).
pub const TEXT: f64 = 4.5;
/// The minimum contrast of marks that are not text: borders, bars (WCAG 2, 1.4.11).
pub const MARK: f64 = 3.0;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// The terminal's own colours, used where a style sets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ground {
    pub fg: Rgb,
    pub bg: Rgb,
}

impl Ground {
    /// A dark terminal: light grey on black.
    pub const DARK: Ground = Ground {
        fg: [0xe5, 0xe5, 0xe5],
        bg: [0, 0, 0],
    };
    /// A light terminal: black on white.
    pub const LIGHT: Ground = Ground {
        fg: [0, 0, 0],
        bg: [0xff, 0xff, 0xff],
    };
}

/// xterm's default palette for the 16 named colours.
const ANSI: [Rgb; 16] = [
    [0x00, 0x00, 0x00],
    [0xcd, 0x00, 0x00],
    [0x00, 0xcd, 0x00],
    [0xcd, 0xcd, 0x00],
    [0x00, 0x00, 0xee],
    [0xcd, 0x00, 0xcd],
    [0x00, 0xcd, 0xcd],
    [0xe5, 0xe5, 0xe5],
    [0x7f, 0x7f, 0x7f],
    [0xff, 0x00, 0x00],
    [0x00, 0xff, 0x00],
    [0xff, 0xff, 0x00],
    [0x5c, 0x5c, 0xff],
    [0xff, 0x00, 0xff],
    [0x00, 0xff, 0xff],
    [0xff, 0xff, 0xff],
];

/// The colour a terminal shows for `c`; `None` for the terminal's default ([`Color::Reset`]).
pub fn rgb(c: Color) -> Option<Rgb> {
    let named = |i: usize| Some(ANSI[i]);
    match c {
        Color::Reset => None,
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => named(8),
        Color::LightRed => named(9),
        Color::LightGreen => named(10),
        Color::LightYellow => named(11),
        Color::LightBlue => named(12),
        Color::LightMagenta => named(13),
        Color::LightCyan => named(14),
        Color::White => named(15),
        Color::Rgb(r, g, b) => Some([r, g, b]),
        Color::Indexed(i) => Some(indexed(i)),
    }
}

fn indexed(i: u8) -> Rgb {
    match i {
        0..=15 => ANSI[i as usize],
        16..=231 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let n = i - 16;
            [level(n / 36), level((n / 6) % 6), level(n % 6)]
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            [v, v, v]
        }
    }
}

/// Relative luminance (WCAG 2).
pub fn luminance(c: Rgb) -> f64 {
    let lin = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// The contrast ratio of two colours, from 1 (none) to 21 (black on white).
pub fn ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// What a cell in `style` looks like on `ground`: its text colour and its background, with
/// `reversed` swapping them and `dim` taken as halfway from the text to the background.
pub fn seen(style: Style, ground: Ground) -> (Rgb, Rgb) {
    let fg = style.fg.and_then(rgb).unwrap_or(ground.fg);
    let bg = style.bg.and_then(rgb).unwrap_or(ground.bg);
    let (fg, bg) = if style.add_modifier.contains(Modifier::REVERSED) {
        (bg, fg)
    } else {
        (fg, bg)
    };
    if style.add_modifier.contains(Modifier::DIM) {
        let mix = |a: u8, b: u8| ((u16::from(a) + u16::from(b)) / 2) as u8;
        return (
            [mix(fg[0], bg[0]), mix(fg[1], bg[1]), mix(fg[2], bg[2])],
            bg,
        );
    }
    (fg, bg)
}

/// The contrast of a cell in `style` on `ground`.
pub fn of(style: Style, ground: Ground) -> f64 {
    let (fg, bg) = seen(style, ground);
    ratio(fg, bg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_known_pairs() {
        assert!((ratio([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        assert!((ratio([9, 9, 9], [9, 9, 9]) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic just-passing grey (4.54).
        let r = ratio([0x76, 0x76, 0x76], [255, 255, 255]);
        assert!(r > 4.5 && r < 4.6, "{r}");
    }

    #[test]
    fn palette() {
        assert_eq!(rgb(Color::Indexed(16)), Some([0, 0, 0]));
        assert_eq!(rgb(Color::Indexed(231)), Some([255, 255, 255]));
        assert_eq!(rgb(Color::Indexed(25)), Some([0x00, 0x5f, 0xaf]));
        assert_eq!(rgb(Color::Indexed(235)), Some([0x26, 0x26, 0x26]));
        assert_eq!(rgb(Color::Indexed(255)), Some([0xee, 0xee, 0xee]));
        assert_eq!(rgb(Color::Reset), None);
    }

    #[test]
    fn the_light_selection_drawn_over_text_was_unreadable() {
        // Black text (16) under a reversed bar of dark grey (235): what the selected row showed
        // when a span's foreground replaced the selection's.
        let s = Style::new()
            .fg(Color::Indexed(235))
            .bg(Color::Indexed(16))
            .add_modifier(Modifier::REVERSED);
        assert!(of(s, Ground::LIGHT) < 1.5);
        let ok = s.fg(Color::Indexed(153));
        assert!(of(ok, Ground::LIGHT) >= TEXT);
    }
}
