//! Themes: the TUI's colours and text attributes, named by what they mean (`step_failed`,
//! `gate_pending`, `secret_masked`), never by how they look.
//!
//! Themes are data. The built-ins live in `themes/*.toml` and are embedded in the binary; a file
//! `NAME.toml` in the user's themes folder ([`Theme::user_dir`]) replaces the built-in of that name
//! or adds a new theme. A file may start from another theme with `inherits = "dark"` and set only
//! what differs; a user file `dark.toml` with `inherits = "dark"` starts from the built-in `dark`.
//! Without `inherits`, a meaning the file does not set keeps the terminal's default style.
//!
//! ```toml
//! name = "mine"
//! inherits = "dark"
//! [styles]
//! step_failed = { fg = "red", modifiers = ["bold"] }
//! banner_production = { fg = "black", bg = "#ffaf00", modifiers = ["bold"] }
//! text = "gray"            # a bare colour is the foreground
//! ```
//!
//! Theme files are read strictly: an unknown key (a misspelled meaning, say), a bad colour or a bad
//! modifier is an error naming the file, the line and column, and the key.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The built-in themes, in the order they are listed to users; the first is the default.
const BUILTINS: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("presenter", include_str!("../../themes/presenter.toml")),
];

const BUILTIN_NAMES: &[&str] = &["dark", "light", "presenter"];

/// Colour names accepted in theme files (case, `-`, `_` and spaces ignored; `grey` = `gray`).
const COLOR_NAMES: &[(&str, Color)] = &[
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
    ("reset", Color::Reset),
];

const MODIFIER_NAMES: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
];

const TOP_LEVEL_KEYS: &[&str] = &["name", "inherits", "styles"];
const STYLE_KEYS: &[&str] = &["fg", "bg", "modifiers"];

/// Declares the theme's meanings once: the struct fields, their names in theme files, and lookup.
macro_rules! meanings {
    ($( $(#[doc = $doc:literal])* $field:ident, )*) => {
        /// A resolved theme: one [`Style`] per meaning. Build it with [`Theme::load`] or
        /// [`Theme::builtin`].
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            /// The name the theme was loaded by.
            pub name: String,
            $( $(#[doc = $doc])* pub $field: Style, )*
        }

        impl Theme {
            /// Every meaning a theme file can set under `[styles]`, as spelled there.
            pub const MEANINGS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// A theme where every meaning is the terminal's default style.
            fn plain(name: &str) -> Self {
                Self { name: name.to_owned(), $($field: Style::new(),)* }
            }

            /// The style of a meaning by its name in theme files.
            pub fn style(&self, meaning: &str) -> Option<Style> {
                match meaning {
                    $(stringify!($field) => Some(self.$field),)*
                    _ => None,
                }
            }

            fn style_mut(&mut self, meaning: &str) -> Option<&mut Style> {
                match meaning {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// The same theme with every colour removed and every modifier kept.
            pub fn without_colors(mut self) -> Self {
                $(self.$field = strip_colors(self.$field);)*
                self
            }
        }
    };
}

meanings! {
    /// Ordinary text.
    text,
    /// Secondary text: descriptions, hints, counts.
    text_dim,
    /// Pane borders.
    border,
    /// The border of the pane that has the keyboard focus.
    border_focused,
    /// Pane and dialog titles.
    title,
    /// The top banner naming the runbook and its environment.
    banner,
    /// The banner when the environment is production: a warning.
    banner_production,
    /// The selected row in a list.
    selection,
    /// A step that has not started.
    step_pending,
    /// A step that is running.
    step_running,
    /// A step that succeeded.
    step_ok,
    /// A step that failed.
    step_failed,
    /// A step that was skipped.
    step_skipped,
    /// A step that was stopped before it finished (abort, timeout, signal).
    step_interrupted,
    /// A gate waiting for a person to confirm.
    gate_pending,
    /// A gate that was confirmed.
    gate_passed,
    /// Marks a step or command that changes the world.
    destructive,
    /// A secret shown masked in output.
    secret_masked,
    /// A line a step wrote to standard error.
    stderr,
    /// Timestamps in output and logs.
    timestamp,
    /// A search hit in output.
    search_match,
    /// The body of a dialog (gate confirmation, prompts).
    dialog,
    /// A dialog's border.
    dialog_border,
    /// Key hints such as `[y] confirm`.
    key_hint,
    /// A checklist item that has been ticked.
    checklist_done,
    /// A checklist item still to tick.
    checklist_open,
    /// Progress bars and gauges.
    progress,
    /// A pod that is running and ready, or completed.
    pod_ok,
    /// A pod on its way: pending, creating, not yet ready, terminating.
    pod_pending,
    /// A pod in trouble: CrashLoopBackOff, ImagePullBackOff, Error, OOMKilled, failed.
    pod_failed,
    /// Pods the current step acts on, listed first.
    pod_touched,
    /// The prefixes of log lines, one per source, in turn (stern-like).
    log_source_1,
    log_source_2,
    log_source_3,
    log_source_4,
    log_source_5,
    log_source_6,
}

impl Default for Theme {
    fn default() -> Self {
        Self::builtin(Self::DEFAULT).expect("the default theme is built in")
    }
}

impl Theme {
    /// The theme used when none is asked for.
    pub const DEFAULT: &'static str = "dark";

    /// A built-in theme by name: "dark" (the default), "light", "presenter".
    pub fn builtin(name: &str) -> Option<Theme> {
        let src = builtin_source(name)?;
        let file = parse_file(&builtin_path(name), src)
            .unwrap_or_else(|e| panic!("built-in theme does not load: {e}"));
        let mut theme = Theme::plain(name);
        file.apply_to(&mut theme);
        Some(theme)
    }

    /// `line` as the selected row: the selection's colours win over every span's own (a span's
    /// foreground under a reversed bar would become the bar's colour, and could vanish), the
    /// spans keep their other modifiers but `dim`.
    pub fn selected<'a>(&self, mut line: Line<'a>) -> Line<'a> {
        let sel = self.selection;
        for span in &mut line.spans {
            let mut style = span.style;
            style.fg = sel.fg.or(style.fg);
            style.bg = sel.bg.or(style.bg);
            span.style = style.patch(Style {
                fg: None,
                bg: None,
                ..sel
            });
            span.style = span.style.remove_modifier(Modifier::DIM);
        }
        line.style = line.style.patch(sel);
        line
    }

    /// The names of the built-in themes, the default first.
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// Loads NAME: a user file `<dir>/NAME.toml` overrides/extends the built-ins; `inherits = "dark"`
    /// in a file starts from that theme and overrides only what it sets. `no_color` (NO_COLOR set
    /// and non-empty) strips all colours but keeps modifiers (bold, reversed, underline) so states
    /// stay distinct.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Theme, ThemeError> {
        let mut theme = resolve(name, user_dir, false, &mut Vec::new())?;
        theme.name = name.to_owned();
        Ok(if no_color {
            theme.without_colors()
        } else {
            theme
        })
    }

    /// The user themes folder: $TOLLGATE_THEMES_DIR, else $XDG_CONFIG_HOME/tollgate/themes, else
    /// ~/.config/tollgate/themes.
    pub fn user_dir() -> Option<PathBuf> {
        user_dir_from(|key| std::env::var_os(key), std::env::home_dir())
    }

    /// Whether the environment asks for no colour (<https://no-color.org>: NO_COLOR set and
    /// non-empty); the value to pass as `no_color` to [`Theme::load`].
    pub fn no_color_from_env() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    /// Every theme that [`Theme::load`] can find: the built-ins and the user's files, sorted.
    pub fn available(user_dir: Option<&Path>) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|n| n.to_string()).collect();
        if let Some(entries) = user_dir.and_then(|d| std::fs::read_dir(d).ok()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml")
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    && is_valid_name(stem)
                {
                    names.push(stem.to_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

/// Where in a theme file something is. Displays as `path:line:column`, or `path` alone when the
/// position is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{name}`; available themes: {}", available.join(", "))]
    UnknownTheme {
        name: String,
        available: Vec<String>,
    },
    #[error("{}: cannot read theme: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{at}: invalid TOML: {message}")]
    Parse { at: Location, message: String },
    /// A key the format does not have; `key` is its dotted path, e.g. `styles.step_fialed`.
    #[error("{at}: unknown key `{key}`{}", hint(suggestion.as_deref(), expected))]
    UnknownKey {
        at: Location,
        key: String,
        suggestion: Option<String>,
        expected: String,
    },
    #[error(
        "{at}: `{key}`: `{value}` is not a colour (use a name: {}; \"#rrggbb\"; or 0-255)",
        color_names()
    )]
    BadColor {
        at: Location,
        key: String,
        value: String,
    },
    #[error(
        "{at}: `{key}`: `{value}` is not a modifier (use {})",
        modifier_names()
    )]
    BadModifier {
        at: Location,
        key: String,
        value: String,
    },
    /// A value of the wrong type.
    #[error("{at}: `{key}`: {message}")]
    BadValue {
        at: Location,
        key: String,
        message: String,
    },
    #[error("{at}: `inherits`: unknown theme `{parent}`; available themes: {}", available.join(", "))]
    UnknownParent {
        at: Location,
        parent: String,
        available: Vec<String>,
    },
    #[error("themes inherit from each other in a circle: {}", chain.join(" -> "))]
    InheritanceCycle { chain: Vec<String> },
}

fn hint(suggestion: Option<&str>, expected: &str) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => format!(" (expected one of: {expected})"),
    }
}

fn color_names() -> String {
    COLOR_NAMES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn modifier_names() -> String {
    MODIFIER_NAMES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn strip_colors(style: Style) -> Style {
    Style::new()
        .add_modifier(style.add_modifier)
        .remove_modifier(style.sub_modifier)
}

fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// How a built-in's file is named in messages: its path in the source tree.
fn builtin_path(name: &str) -> PathBuf {
    Path::new("themes").join(format!("{name}.toml"))
}

/// A theme name is a file stem: nothing that could leave the themes folder.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

fn user_dir_from(var: impl Fn(&str) -> Option<OsString>, home: Option<PathBuf>) -> Option<PathBuf> {
    let non_empty = |key: &str| var(key).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("TOLLGATE_THEMES_DIR") {
        return Some(PathBuf::from(dir));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(config) = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Some(config.join("tollgate").join("themes"));
    }
    home.filter(|h| !h.as_os_str().is_empty())
        .map(|h| h.join(".config").join("tollgate").join("themes"))
}

/// Finds NAME (the user's file first unless `builtin_only`), then what it inherits from.
/// `chain` holds the files being resolved, to report a circle instead of recursing forever.
fn resolve(
    name: &str,
    user_dir: Option<&Path>,
    builtin_only: bool,
    chain: &mut Vec<String>,
) -> Result<Theme, ThemeError> {
    let unknown = || ThemeError::UnknownTheme {
        name: name.to_owned(),
        available: Theme::available(user_dir),
    };
    if !is_valid_name(name) {
        return Err(unknown());
    }
    let user_file = user_dir
        .filter(|_| !builtin_only)
        .map(|d| d.join(format!("{name}.toml")))
        .filter(|p| p.is_file());
    let is_builtin = user_file.is_none();
    let (path, src): (PathBuf, Cow<'static, str>) = match user_file {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(src) => (path, Cow::Owned(src)),
            Err(source) => return Err(ThemeError::Unreadable { path, source }),
        },
        None => match builtin_source(name) {
            Some(src) => (builtin_path(name), Cow::Borrowed(src)),
            None => return Err(unknown()),
        },
    };

    let label = path.display().to_string();
    if chain.contains(&label) {
        chain.push(label);
        return Err(ThemeError::InheritanceCycle {
            chain: std::mem::take(chain),
        });
    }
    chain.push(label);

    let file = parse_file(&path, &src)?;
    let mut theme = match &file.inherits {
        None => Theme::plain(name),
        Some((parent, at)) => {
            // A user file inheriting its own name extends the built-in it replaces.
            let parent_builtin_only = is_builtin || parent == name;
            if parent == name && builtin_source(name).is_none() {
                return Err(ThemeError::BadValue {
                    at: at.clone(),
                    key: "inherits".to_owned(),
                    message: format!(
                        "`{name}` inherits from itself; only a built-in ({}) can be extended \
                         under its own name",
                        BUILTIN_NAMES.join(", ")
                    ),
                });
            }
            match resolve(parent, user_dir, parent_builtin_only, chain) {
                Err(ThemeError::UnknownTheme { name, available }) => {
                    return Err(ThemeError::UnknownParent {
                        at: at.clone(),
                        parent: name,
                        available,
                    });
                }
                other => other?,
            }
        }
    };
    chain.pop();
    file.apply_to(&mut theme);
    theme.name = name.to_owned();
    Ok(theme)
}

/// A theme file as written: what it inherits from and the styles it sets.
struct ThemeFile {
    inherits: Option<(String, Location)>,
    styles: Vec<(&'static str, Style)>,
}

impl ThemeFile {
    fn apply_to(&self, theme: &mut Theme) {
        for (meaning, style) in &self.styles {
            *theme
                .style_mut(meaning)
                .expect("parse_file only keeps known meanings") = *style;
        }
    }
}

/// The file being read, to turn byte spans into locations.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, span: Range<usize>) -> Location {
        let (line, column) = line_column(self.text, span.start);
        Location {
            path: self.path.to_path_buf(),
            line,
            column,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A table's entries in the order they appear in the file, so the first mistake is reported first.
fn entries_in_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(&'t Spanned<Cow<'i, str>>, &'t Spanned<DeValue<'i>>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn parse_file(path: &Path, text: &str) -> Result<ThemeFile, ThemeError> {
    let src = Source { path, text };
    let root = DeTable::parse(text).map_err(|e| ThemeError::Parse {
        at: match e.span() {
            Some(span) => src.at(span),
            None => Location {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
            },
        },
        message: crate::text::one_line(e.message()),
    })?;

    let mut file = ThemeFile {
        inherits: None,
        styles: Vec::new(),
    };
    for (key, value) in entries_in_order(root.get_ref()) {
        match key.get_ref().as_ref() {
            "name" => {
                expect_str(&src, "name", value)?;
            }
            "inherits" => {
                let parent = expect_str(&src, "inherits", value)?;
                file.inherits = Some((parent.to_owned(), src.at(value.span())));
            }
            "styles" => {
                let DeValue::Table(styles) = value.get_ref() else {
                    return Err(bad_type(&src, "styles", value, "a table `[styles]`"));
                };
                for (meaning, style) in entries_in_order(styles) {
                    let Some(&known) = Theme::MEANINGS.iter().find(|m| **m == meaning.get_ref())
                    else {
                        return Err(unknown_key(
                            &src,
                            meaning,
                            "styles.",
                            Theme::MEANINGS,
                            &Theme::MEANINGS.join(", "),
                        ));
                    };
                    file.styles.push((known, parse_style(&src, known, style)?));
                }
            }
            _ => {
                return Err(unknown_key(
                    &src,
                    key,
                    "",
                    TOP_LEVEL_KEYS,
                    &TOP_LEVEL_KEYS.join(", "),
                ));
            }
        }
    }
    Ok(file)
}

fn parse_style(src: &Source, meaning: &str, value: &Spanned<DeValue>) -> Result<Style, ThemeError> {
    let key = format!("styles.{meaning}");
    match value.get_ref() {
        DeValue::String(_) | DeValue::Integer(_) => {
            Ok(Style::new().fg(parse_color(src, &key, value)?))
        }
        DeValue::Table(table) => {
            let mut style = Style::new();
            for (field, v) in entries_in_order(table) {
                let field_key = format!("{key}.{}", field.get_ref());
                match field.get_ref().as_ref() {
                    "fg" => style = style.fg(parse_color(src, &field_key, v)?),
                    "bg" => style = style.bg(parse_color(src, &field_key, v)?),
                    "modifiers" => style = style.add_modifier(parse_modifiers(src, &field_key, v)?),
                    _ => {
                        return Err(unknown_key(
                            src,
                            field,
                            &format!("{key}."),
                            STYLE_KEYS,
                            &STYLE_KEYS.join(", "),
                        ));
                    }
                }
            }
            Ok(style)
        }
        _ => Err(bad_type(
            src,
            &key,
            value,
            "a colour such as \"red\", or a table { fg = ..., bg = ..., modifiers = [...] }",
        )),
    }
}

fn parse_color(src: &Source, key: &str, value: &Spanned<DeValue>) -> Result<Color, ThemeError> {
    let bad = |shown: String| ThemeError::BadColor {
        at: src.at(value.span()),
        key: key.to_owned(),
        value: shown,
    };
    match value.get_ref() {
        DeValue::String(s) => color_from_str(s).ok_or_else(|| bad(s.to_string())),
        DeValue::Integer(i) => u8::from_str_radix(i.as_str(), i.radix())
            .map(Color::Indexed)
            .map_err(|_| bad(i.to_string())),
        _ => Err(bad_type(
            src,
            key,
            value,
            "a colour: a name, \"#rrggbb\", or 0-255",
        )),
    }
}

/// A colour as written in theme files: a name, `#rrggbb`, or an index 0-255.
fn color_from_str(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(channel(0)?, channel(2)?, channel(4)?));
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok().map(Color::Indexed);
    }
    let normalized = s
        .to_ascii_lowercase()
        .replace(['-', '_', ' '], "")
        .replace("grey", "gray");
    COLOR_NAMES
        .iter()
        .find(|(name, _)| *name == normalized)
        .map(|(_, color)| *color)
}

fn parse_modifiers(
    src: &Source,
    key: &str,
    value: &Spanned<DeValue>,
) -> Result<Modifier, ThemeError> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(bad_type(src, key, value, "a list such as [\"bold\"]"));
    };
    let mut modifiers = Modifier::empty();
    for item in items.iter() {
        let bad = |shown: String| ThemeError::BadModifier {
            at: src.at(item.span()),
            key: key.to_owned(),
            value: shown,
        };
        let DeValue::String(name) = item.get_ref() else {
            return Err(bad(value_text(src, item)));
        };
        let modifier = MODIFIER_NAMES
            .iter()
            .find(|(n, _)| *n == name.as_ref())
            .map(|(_, m)| *m)
            .ok_or_else(|| bad(name.to_string()))?;
        modifiers |= modifier;
    }
    Ok(modifiers)
}

fn expect_str<'v>(
    src: &Source,
    key: &str,
    value: &'v Spanned<DeValue>,
) -> Result<&'v str, ThemeError> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.as_ref()),
        _ => Err(bad_type(src, key, value, "a string")),
    }
}

fn bad_type(src: &Source, key: &str, value: &Spanned<DeValue>, expected: &str) -> ThemeError {
    ThemeError::BadValue {
        at: src.at(value.span()),
        key: key.to_owned(),
        message: format!("expected {expected}, found {}", value.get_ref().type_str()),
    }
}

fn unknown_key(
    src: &Source,
    key: &Spanned<Cow<str>>,
    prefix: &str,
    known: &[&str],
    expected: &str,
) -> ThemeError {
    ThemeError::UnknownKey {
        at: src.at(key.span()),
        key: format!("{prefix}{}", key.get_ref()),
        suggestion: closest(key.get_ref(), known).map(|k| format!("{prefix}{k}")),
        expected: expected.to_owned(),
    }
}

/// The text of a value as written in the file, for messages.
fn value_text(src: &Source, value: &Spanned<DeValue>) -> String {
    src.text.get(value.span()).map_or_else(
        || value.get_ref().type_str().to_owned(),
        crate::text::one_line,
    )
}

/// The known key nearest to a misspelling, if it is near enough to be what was meant.
fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let word = word.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (crate::text::edit_distance(&word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ThemeFile, ThemeError> {
        parse_file(Path::new("t.toml"), text)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn builtin_names_match_embedded_files() {
        let embedded: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        assert_eq!(embedded, Theme::builtin_names());
        assert_eq!(Theme::builtin_names()[0], Theme::DEFAULT);
    }

    #[test]
    fn every_builtin_sets_every_meaning_itself() {
        for name in Theme::builtin_names() {
            let file = parse_file(&builtin_path(name), builtin_source(name).unwrap()).unwrap();
            assert!(file.inherits.is_none(), "{name} must not inherit");
            let set: Vec<&str> = file.styles.iter().map(|(m, _)| *m).collect();
            for meaning in Theme::MEANINGS {
                assert!(set.contains(meaning), "{name} does not set {meaning}");
            }
            assert_eq!(Theme::builtin(name).unwrap().name, *name);
        }
        assert!(Theme::builtin("nope").is_none());
        assert_eq!(Theme::default(), Theme::builtin("dark").unwrap());
    }

    #[test]
    fn colors() {
        assert_eq!(color_from_str("red"), Some(Color::Red));
        assert_eq!(color_from_str("DarkGray"), Some(Color::DarkGray));
        assert_eq!(color_from_str("dark_grey"), Some(Color::DarkGray));
        assert_eq!(color_from_str("light-red"), Some(Color::LightRed));
        assert_eq!(color_from_str("reset"), Some(Color::Reset));
        assert_eq!(
            color_from_str("#ffaf00"),
            Some(Color::Rgb(0xff, 0xaf, 0x00))
        );
        assert_eq!(
            color_from_str("#FFAF00"),
            Some(Color::Rgb(0xff, 0xaf, 0x00))
        );
        assert_eq!(color_from_str("208"), Some(Color::Indexed(208)));
        assert_eq!(color_from_str("0"), Some(Color::Indexed(0)));
        for bad in [
            "256",
            "-1",
            "#fff",
            "#ggaa00",
            "redd",
            "",
            "lightgray",
            "#ffaf00 x",
        ] {
            assert_eq!(color_from_str(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn style_forms() {
        let file = parse(
            r##"
[styles]
text = "gray"
text_dim = 244
step_failed = { fg = "red", bg = "#000000", modifiers = ["bold", "reversed"] }
step_ok = {}
progress = { fg = 0x10 }
"##,
        )
        .unwrap();
        let mut theme = Theme::plain("t");
        file.apply_to(&mut theme);
        assert_eq!(theme.text, Style::new().fg(Color::Gray));
        assert_eq!(theme.text_dim, Style::new().fg(Color::Indexed(244)));
        assert_eq!(
            theme.step_failed,
            Style::new()
                .fg(Color::Red)
                .bg(Color::Rgb(0, 0, 0))
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
        );
        assert_eq!(theme.step_ok, Style::new());
        assert_eq!(theme.progress, Style::new().fg(Color::Indexed(16)));
    }

    #[test]
    fn errors_name_file_position_and_key() {
        assert_eq!(
            err("[styles]\nstep_fialed = \"red\"\n"),
            "t.toml:2:1: unknown key `styles.step_fialed` (did you mean `styles.step_failed`?)"
        );
        assert_eq!(
            err("colour = 1\n"),
            "t.toml:1:1: unknown key `colour` (expected one of: name, inherits, styles)"
        );
        assert_eq!(
            err("[styles]\ntext = { fg = \"red\", fgcolor = \"blue\" }\n"),
            "t.toml:2:22: unknown key `styles.text.fgcolor` (expected one of: fg, bg, modifiers)"
        );
        assert!(err("[styles]\ntext = { fg = \"redd\" }\n").starts_with(
            "t.toml:2:15: `styles.text.fg`: `redd` is not a colour (use a name: black, red,"
        ),);
        assert!(
            err("[styles]\ntext = 300\n")
                .starts_with("t.toml:2:8: `styles.text`: `300` is not a colour")
        );
        assert_eq!(
            err("[styles]\ntext = { modifiers = [\"bold\", \"blink\"] }\n"),
            "t.toml:2:31: `styles.text.modifiers`: `blink` is not a modifier \
             (use bold, dim, italic, underlined, reversed, crossed_out)"
        );
        assert_eq!(
            err("[styles]\ntext = { modifiers = \"bold\" }\n"),
            "t.toml:2:22: `styles.text.modifiers`: expected a list such as [\"bold\"], found string"
        );
        assert_eq!(
            err("[styles]\ntext = true\n"),
            "t.toml:2:8: `styles.text`: expected a colour such as \"red\", or a table \
             { fg = ..., bg = ..., modifiers = [...] }, found boolean"
        );
        assert_eq!(
            err("inherits = 1\n"),
            "t.toml:1:12: `inherits`: expected a string, found integer"
        );
    }

    #[test]
    fn first_mistake_in_file_order_is_reported() {
        // Keys are stored sorted; the message must still point at the earlier line.
        assert!(err("[styles]\nzzz = \"red\"\naaa = \"red\"\n").starts_with("t.toml:2:1:"));
    }

    #[test]
    fn toml_syntax_errors_have_a_position_and_one_line() {
        let message = err("name = \"dark\"\n[styles]\ntext = \n");
        assert!(message.starts_with("t.toml:3:"), "{message}");
        assert!(message.contains("invalid TOML"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        let message = err("[styles]\ntext = \"red\"\ntext = \"blue\"\n");
        assert!(message.starts_with("t.toml:3:"), "{message}");
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\n\u{e9}\u{e9}x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 3));
        assert_eq!(line_column(text, 100), (3, 1));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(closest("stepfailed", Theme::MEANINGS), Some("step_failed"));
        assert_eq!(
            closest("Gate_Pending", Theme::MEANINGS),
            Some("gate_pending")
        );
        assert_eq!(closest("wallpaper", Theme::MEANINGS), None);
        assert_eq!(crate::text::edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn user_dir_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            user_dir_from(
                env(&[("TOLLGATE_THEMES_DIR", "/t"), ("XDG_CONFIG_HOME", "/x")]),
                home.clone()
            ),
            Some(PathBuf::from("/t"))
        );
        assert_eq!(
            user_dir_from(
                env(&[("TOLLGATE_THEMES_DIR", ""), ("XDG_CONFIG_HOME", "/x")]),
                home.clone()
            ),
            Some(Path::new("/x").join("tollgate").join("themes"))
        );
        assert_eq!(
            user_dir_from(env(&[("XDG_CONFIG_HOME", "relative")]), home.clone()),
            Some(Path::new("/home/u/.config").join("tollgate").join("themes"))
        );
        assert_eq!(user_dir_from(env(&[]), None), None);
    }

    #[test]
    fn names_cannot_leave_the_themes_folder() {
        for bad in ["", ".hidden", "../dark", "a/b", "a\\b"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        assert!(matches!(
            Theme::load("../dark", None, false),
            Err(ThemeError::UnknownTheme { .. })
        ));
    }

    #[test]
    fn stripping_keeps_modifiers_only() {
        let style = Style::new()
            .fg(Color::Red)
            .bg(Color::Blue)
            .add_modifier(Modifier::BOLD)
            .remove_modifier(Modifier::ITALIC);
        assert_eq!(
            strip_colors(style),
            Style::new()
                .add_modifier(Modifier::BOLD)
                .remove_modifier(Modifier::ITALIC)
        );
    }
}
