//! Themes as data: the files in `themes/`, user overrides, inheritance, strict errors, NO_COLOR.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use tollgate::ui::theme::{Theme, ThemeError};

fn themes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("themes")
}

fn theme_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(themes_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

fn user_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load_err(name: &str, dir: &Path) -> String {
    match Theme::load(name, Some(dir), false) {
        Ok(_) => panic!("{name} loaded, expected an error"),
        Err(e) => e.to_string(),
    }
}

fn no_color(style: Style) -> Style {
    Style {
        fg: None,
        bg: None,
        ..style
    }
}

const STATUSES: &[&str] = &[
    "step_pending",
    "step_running",
    "step_ok",
    "step_failed",
    "step_skipped",
    "step_interrupted",
    "gate_pending",
];

#[test]
fn every_theme_file_is_built_in_parses_and_sets_every_meaning() {
    let files = theme_files();
    let names: Vec<String> = files.iter().map(|p| stem(p)).collect();
    let mut builtins: Vec<String> = Theme::builtin_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    builtins.sort();
    assert_eq!(names, builtins, "themes/ and Theme::builtin_names() differ");

    for path in &files {
        let name = stem(path);
        let text = std::fs::read_to_string(path).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["name"].as_str(), Some(name.as_str()), "{name}: name");
        assert!(
            !table.contains_key("inherits"),
            "{name}: a built-in sets everything itself"
        );
        let styles = table["styles"].as_table().unwrap();
        for meaning in Theme::MEANINGS {
            assert!(
                styles.contains_key(*meaning),
                "{name} does not set {meaning}"
            );
        }

        // Loaded from disk as a user file, and embedded: the same theme.
        let from_disk =
            Theme::load(&name, Some(&themes_dir()), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(from_disk), Theme::builtin(&name));
    }
}

#[test]
fn load_without_user_dir_gives_the_builtin() {
    for name in Theme::builtin_names() {
        let theme = Theme::load(name, None, false).unwrap();
        assert_eq!(theme.name, *name);
        assert_eq!(Some(theme), Theme::builtin(name));
    }
    assert_eq!(Theme::builtin_names(), ["dark", "light", "presenter"]);
}

#[test]
fn inherits_starts_from_the_parent_and_overrides_only_what_it_sets() {
    let dir = user_dir(&[(
        "mine.toml",
        "name = \"mine\"\ninherits = \"light\"\n[styles]\nstep_failed = { fg = \"#ff0000\", modifiers = [\"underlined\"] }\ntext = 16\n",
    )]);
    let mine = Theme::load("mine", Some(dir.path()), false).unwrap();
    let light = Theme::builtin("light").unwrap();
    assert_eq!(mine.name, "mine");
    assert_eq!(
        mine.step_failed,
        Style::new()
            .fg(Color::Rgb(255, 0, 0))
            .add_modifier(Modifier::UNDERLINED)
    );
    assert_eq!(mine.text, Style::new().fg(Color::Indexed(16)));
    for meaning in Theme::MEANINGS {
        if !["step_failed", "text"].contains(meaning) {
            assert_eq!(mine.style(meaning), light.style(meaning), "{meaning}");
        }
    }
}

#[test]
fn inheritance_chains_through_user_files() {
    let dir = user_dir(&[
        (
            "base.toml",
            "inherits = \"presenter\"\n[styles]\ntext = \"white\"\n",
        ),
        (
            "top.toml",
            "inherits = \"base\"\n[styles]\nprogress = \"red\"\n",
        ),
    ]);
    let top = Theme::load("top", Some(dir.path()), false).unwrap();
    let presenter = Theme::builtin("presenter").unwrap();
    assert_eq!(top.text, Style::new().fg(Color::White));
    assert_eq!(top.progress, Style::new().fg(Color::Red));
    assert_eq!(top.step_failed, presenter.step_failed);
}

#[test]
fn without_inherits_unset_meanings_are_the_terminal_default() {
    let dir = user_dir(&[("bare.toml", "[styles]\nstep_failed = \"red\"\n")]);
    let bare = Theme::load("bare", Some(dir.path()), false).unwrap();
    assert_eq!(bare.step_failed, Style::new().fg(Color::Red));
    assert_eq!(bare.step_ok, Style::new());
}

#[test]
fn a_user_file_overrides_a_builtin_and_adds_a_theme() {
    let dir = user_dir(&[
        // Replaces the built-in dark, starting from it.
        (
            "dark.toml",
            "name = \"dark\"\ninherits = \"dark\"\n[styles]\nbanner = { fg = \"magenta\" }\n",
        ),
        // A new theme.
        (
            "solar.toml",
            "name = \"solar\"\ninherits = \"dark\"\n[styles]\ntext = \"#839496\"\n",
        ),
        ("README.md", "not a theme"),
    ]);
    let builtin_dark = Theme::builtin("dark").unwrap();
    let dark = Theme::load("dark", Some(dir.path()), false).unwrap();
    assert_eq!(dark.banner, Style::new().fg(Color::Magenta));
    assert_eq!(dark.step_failed, builtin_dark.step_failed);

    // A theme inheriting "dark" gets the user's dark.
    let solar = Theme::load("solar", Some(dir.path()), false).unwrap();
    assert_eq!(solar.text, Style::new().fg(Color::Rgb(0x83, 0x94, 0x96)));
    assert_eq!(solar.banner, Style::new().fg(Color::Magenta));

    // Other built-ins are untouched.
    assert_eq!(
        Theme::load("light", Some(dir.path()), false).unwrap(),
        Theme::builtin("light").unwrap()
    );
    assert_eq!(
        Theme::available(Some(dir.path())),
        ["dark", "light", "presenter", "solar"]
    );
}

#[test]
fn an_unknown_theme_lists_the_available_ones() {
    let message = Theme::load("nope", None, false).unwrap_err().to_string();
    assert_eq!(
        message,
        "unknown theme `nope`; available themes: dark, light, presenter"
    );

    let dir = user_dir(&[("zebra.toml", "")]);
    let err = Theme::load("nope", Some(dir.path()), false).unwrap_err();
    assert!(matches!(&err, ThemeError::UnknownTheme { available, .. }
        if available == &["dark", "light", "presenter", "zebra"]));
    assert_eq!(
        err.to_string(),
        "unknown theme `nope`; available themes: dark, light, presenter, zebra"
    );
}

#[test]
fn unknown_keys_are_errors_naming_file_and_key() {
    let dir = user_dir(&[
        (
            "typo.toml",
            "inherits = \"dark\"\n[styles]\nstep_fialed = \"red\"\n",
        ),
        ("far.toml", "[styles]\nwallpaper = \"red\"\n"),
        ("top.toml", "name = \"top\"\ncolors = {}\n"),
        (
            "field.toml",
            "[styles]\ntext = { fg = \"red\", background = \"blue\" }\n",
        ),
    ]);
    let path = |f: &str| dir.path().join(f).display().to_string();

    assert_eq!(
        load_err("typo", dir.path()),
        format!(
            "{}:3:1: unknown key `styles.step_fialed` (did you mean `styles.step_failed`?)",
            path("typo.toml")
        )
    );
    let far = load_err("far", dir.path());
    assert!(
        far.starts_with(&format!(
            "{}:2:1: unknown key `styles.wallpaper` (expected one of: text, text_dim,",
            path("far.toml")
        )),
        "{far}"
    );
    assert_eq!(
        load_err("top", dir.path()),
        format!(
            "{}:2:1: unknown key `colors` (expected one of: name, inherits, styles)",
            path("top.toml")
        )
    );
    assert_eq!(
        load_err("field", dir.path()),
        format!(
            "{}:2:22: unknown key `styles.text.background` (expected one of: fg, bg, modifiers)",
            path("field.toml")
        )
    );
}

#[test]
fn bad_colours_and_modifiers_are_errors_naming_file_and_key() {
    let dir = user_dir(&[
        ("c1.toml", "[styles]\nstep_ok = \"greeen\"\n"),
        (
            "c2.toml",
            "[styles]\nbanner = { fg = \"black\", bg = \"#ffaf0\" }\n",
        ),
        ("c3.toml", "[styles]\nprogress = 256\n"),
        (
            "m1.toml",
            "[styles]\nstep_failed = { fg = \"red\", modifiers = [\"bold\", \"blinking\"] }\n",
        ),
        ("m2.toml", "[styles]\nstep_failed = { modifiers = [1] }\n"),
        ("t1.toml", "[styles]\nstep_failed = [\"red\"]\n"),
    ]);
    let path = |f: &str| dir.path().join(f).display().to_string();

    let c1 = load_err("c1", dir.path());
    assert!(
        c1.starts_with(&format!(
            "{}:2:11: `styles.step_ok`: `greeen` is not a colour (use a name: black, red, green,",
            path("c1.toml")
        )),
        "{c1}"
    );
    assert!(c1.ends_with("reset; \"#rrggbb\"; or 0-255)"), "{c1}");
    assert!(load_err("c2", dir.path()).starts_with(&format!(
        "{}:2:31: `styles.banner.bg`: `#ffaf0` is not a colour",
        path("c2.toml")
    )));
    assert!(load_err("c3", dir.path()).starts_with(&format!(
        "{}:2:12: `styles.progress`: `256` is not a colour",
        path("c3.toml")
    )));
    assert_eq!(
        load_err("m1", dir.path()),
        format!(
            "{}:2:50: `styles.step_failed.modifiers`: `blinking` is not a modifier \
             (use bold, dim, italic, underlined, reversed, crossed_out)",
            path("m1.toml")
        )
    );
    assert!(load_err("m2", dir.path()).starts_with(&format!(
        "{}:2:30: `styles.step_failed.modifiers`: `1` is not a modifier",
        path("m2.toml")
    )));
    assert!(load_err("t1", dir.path()).starts_with(&format!(
        "{}:2:15: `styles.step_failed`: expected a colour such as \"red\", or a table",
        path("t1.toml")
    )));
}

#[test]
fn invalid_toml_names_the_file_and_position() {
    let dir = user_dir(&[(
        "broken.toml",
        "name = \"broken\"\n[styles\ntext = \"red\"\n",
    )]);
    let message = load_err("broken", dir.path());
    let prefix = format!("{}:2:", dir.path().join("broken.toml").display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains("invalid TOML: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn inheriting_an_unknown_theme_or_in_a_circle_is_an_error() {
    let dir = user_dir(&[
        ("orphan.toml", "name = \"orphan\"\ninherits = \"drak\"\n"),
        ("a.toml", "inherits = \"b\"\n"),
        ("b.toml", "inherits = \"a\"\n"),
        // A user file inheriting its own name, with no built-in of that name.
        ("selfish.toml", "inherits = \"selfish\"\n"),
    ]);
    let d = dir.path();
    let orphan = load_err("orphan", d);
    assert_eq!(
        orphan,
        format!(
            "{}:2:12: `inherits`: unknown theme `drak`; available themes: \
             a, b, dark, light, orphan, presenter, selfish",
            d.join("orphan.toml").display()
        )
    );
    assert_eq!(
        load_err("a", d),
        format!(
            "themes inherit from each other in a circle: {a} -> {b} -> {a}",
            a = d.join("a.toml").display(),
            b = d.join("b.toml").display()
        )
    );
    assert_eq!(
        load_err("selfish", d),
        format!(
            "{}:1:12: `inherits`: `selfish` inherits from itself; only a built-in \
             (dark, light, presenter) can be extended under its own name",
            d.join("selfish.toml").display()
        )
    );
}

#[test]
fn no_color_strips_colours_and_keeps_modifiers() {
    for name in Theme::builtin_names() {
        let colored = Theme::load(name, None, false).unwrap();
        let plain = Theme::load(name, None, true).unwrap();
        assert_eq!(plain.name, *name);
        for meaning in Theme::MEANINGS {
            let (c, p) = (
                colored.style(meaning).unwrap(),
                plain.style(meaning).unwrap(),
            );
            assert_eq!((p.fg, p.bg), (None, None), "{name}.{meaning}");
            assert_eq!(p.add_modifier, c.add_modifier, "{name}.{meaning}");
        }
        // States that must stay apart without colour.
        assert_ne!(plain.step_failed, plain.step_ok, "{name}");
        assert_ne!(plain.step_running, plain.step_ok, "{name}");
        assert_ne!(plain.banner_production, plain.banner, "{name}");
        for meaning in ["selection", "search_match", "banner_production"] {
            let style = plain.style(meaning).unwrap();
            assert!(
                style.add_modifier.contains(Modifier::REVERSED),
                "{name}.{meaning} must still stand out without colour"
            );
        }
    }

    // User themes too.
    let dir = user_dir(&[(
        "mine.toml",
        "inherits = \"dark\"\n[styles]\nstep_ok = { fg = \"green\", bg = \"black\", modifiers = [\"italic\"] }\n",
    )]);
    let mine = Theme::load("mine", Some(dir.path()), true).unwrap();
    assert_eq!(mine.step_ok, Style::new().add_modifier(Modifier::ITALIC));
}

#[test]
fn presenter_tells_every_status_apart_by_modifier_alone() {
    let presenter = Theme::builtin("presenter").unwrap();
    for (i, a) in STATUSES.iter().enumerate() {
        for b in &STATUSES[i + 1..] {
            assert_ne!(
                no_color(presenter.style(a).unwrap()),
                no_color(presenter.style(b).unwrap()),
                "presenter: {a} and {b} differ only by colour"
            );
        }
    }
    assert!(
        presenter
            .step_failed
            .add_modifier
            .contains(Modifier::BOLD | Modifier::REVERSED)
    );
    assert!(presenter.step_running.add_modifier.contains(Modifier::BOLD));
    assert!(presenter.step_pending.add_modifier.contains(Modifier::DIM));
}

#[test]
fn production_banner_is_a_warning_colour_in_every_builtin() {
    for name in Theme::builtin_names() {
        let theme = Theme::builtin(name).unwrap();
        let banner = theme.banner_production;
        // Reversed: the bar is the foreground colour.
        let bar = if banner.add_modifier.contains(Modifier::REVERSED) {
            banner.fg
        } else {
            banner.bg
        };
        let (r, g, b) = rgb(bar.expect("the production banner has a bar colour"));
        assert!(
            r > 200 && g > 100 && g < 200 && b < 60,
            "{name}: {bar:?} is not orange"
        );
        assert_ne!(banner, theme.banner, "{name}");
    }
}

/// The colour each built-in's text is drawn in, and on, for contrast checks: `reversed` swaps
/// them; an unset background is the terminal's.
fn drawn(style: Style, background: Color) -> (Option<Color>, Color) {
    if style.add_modifier.contains(Modifier::REVERSED) {
        (
            Some(style.bg.unwrap_or(background)),
            style.fg.unwrap_or(background),
        )
    } else {
        (style.fg, style.bg.unwrap_or(background))
    }
}

#[test]
fn light_is_readable_on_white() {
    let light = Theme::builtin("light").unwrap();
    for meaning in Theme::MEANINGS {
        let style = light.style(meaning).unwrap();
        for color in [style.fg, style.bg].into_iter().flatten() {
            // Named colours follow the terminal's palette, which a light theme cannot rely on.
            assert!(
                matches!(color, Color::Indexed(16..) | Color::Rgb(..) | Color::Black),
                "light.{meaning}: {color:?} depends on the terminal palette"
            );
        }
        let (fg, bg) = drawn(style, Color::Indexed(231));
        let fg = fg.unwrap_or_else(|| panic!("light.{meaning} sets no text colour"));
        let ratio = contrast(fg, bg);
        let needed = if meaning == &"border" { 3.0 } else { 4.5 };
        assert!(
            ratio >= needed,
            "light.{meaning}: {fg:?} on {bg:?} has contrast {ratio:.2}"
        );
    }
}

#[test]
fn presenter_has_high_contrast_on_black() {
    let presenter = Theme::builtin("presenter").unwrap();
    for meaning in Theme::MEANINGS {
        let style = presenter.style(meaning).unwrap();
        if style.add_modifier.contains(Modifier::DIM) {
            continue; // dimmed on purpose: pending and skipped
        }
        let (fg, bg) = drawn(style, Color::Indexed(16));
        let fg = fg.unwrap_or_else(|| panic!("presenter.{meaning} sets no text colour"));
        let ratio = contrast(fg, bg);
        assert!(
            ratio >= 5.0,
            "presenter.{meaning}: {fg:?} on {bg:?} has contrast {ratio:.2}"
        );
    }
}

/// sRGB of a fixed colour (xterm's 256-colour table for 16-255).
fn rgb(color: Color) -> (u8, u8, u8) {
    match color {
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Black | Color::Indexed(0) => (0, 0, 0),
        Color::Indexed(i @ 16..=231) => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let i = i - 16;
            (level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        Color::Indexed(i @ 232..) => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
        other => panic!("{other:?} has no fixed value"),
    }
}

/// WCAG contrast ratio.
fn contrast(a: Color, b: Color) -> f64 {
    let luminance = |c: Color| {
        let (r, g, b) = rgb(c);
        let channel = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}
