//! Variables in text (`{{ name }}`), `when` conditions, and durations.

use std::collections::BTreeMap;
use std::time::Duration;

/// A piece of a template: literal text, or a variable reference at a byte offset.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    Var { name: &'a str, offset: usize },
}

/// Splits `{{ name }}` references out of text. Errors carry the byte offset of the problem.
pub fn parse_template(s: &str) -> Result<Vec<Piece<'_>>, (usize, String)> {
    let mut pieces = Vec::new();
    let mut rest = s;
    let mut base = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err((base + start, "`{{` without a closing `}}`".into()));
        };
        let inner = &after[..end];
        let name = inner.trim();
        if !is_var_name(name) {
            return Err((
                base + start,
                format!("`{{{{{inner}}}}}` is not a variable reference; write `{{{{ name }}}}`"),
            ));
        }
        let lead = inner.len() - inner.trim_start().len();
        pieces.push(Piece::Var {
            name,
            offset: base + start + 2 + lead,
        });
        let consumed = start + 2 + end + 2;
        base += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces references with values from `lookup`; an unknown name is left as it was written.
pub fn render(s: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    match parse_template(s) {
        Err(_) => s.to_string(),
        Ok(pieces) => {
            let mut out = String::with_capacity(s.len());
            for p in pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Var { name, .. } => match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("{{ ");
                            out.push_str(name);
                            out.push_str(" }}");
                        }
                    },
                }
            }
            out
        }
    }
}

/// The longest duration a runbook may give (100 years): anything longer is a mistake, and a
/// deadline that far would overflow the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86400);

/// Parses `30s`, `500ms`, `5m`, `1h30m`, `2d` or a bare number of seconds, up to
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let too_long = || format!("`{s}` is too long (at most 36500d)");
    if let Ok(n) = s.parse::<u64>() {
        let d = Duration::from_secs(n);
        return if d > MAX_DURATION {
            Err(too_long())
        } else {
            Ok(d)
        };
    }
    if s.contains(char::is_whitespace) {
        return Err(format!(
            "`{s}` is not a duration (e.g. 30s, 5m, 1h30m; no spaces)"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("`{s}` needs a unit (ms, s, m, h, d)"))?;
        if digits == 0 {
            return Err(format!("`{s}` is not a duration (e.g. 30s, 5m, 1h30m)"));
        }
        let n: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h30m)"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            u => {
                return Err(format!(
                    "`{u}` is not a unit of time in `{s}` (use ms, s, m, h, d)"
                ));
            }
        };
        // Checked: a huge number is refused, never a panic.
        total = Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| total.checked_add(d))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

// ---- when conditions ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Var(String),
    Lit(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Eq(Box<Expr>, Box<Expr>),
    Ne(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    And,
    Or,
    Not,
    Eq,
    Ne,
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, (usize, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            '&' if b.get(i + 1) == Some(&b'&') => {
                out.push((start, Tok::And));
                i += 2;
            }
            '|' if b.get(i + 1) == Some(&b'|') => {
                out.push((start, Tok::Or));
                i += 2;
            }
            '=' if b.get(i + 1) == Some(&b'=') => {
                out.push((start, Tok::Eq));
                i += 2;
            }
            '!' if b.get(i + 1) == Some(&b'=') => {
                out.push((start, Tok::Ne));
                i += 2;
            }
            '!' => {
                out.push((start, Tok::Not));
                i += 1;
            }
            '\'' | '"' => {
                let end = s[i + 1..]
                    .find(c)
                    .ok_or((start, "unterminated string".to_string()))?;
                out.push((start, Tok::Str(s[i + 1..i + 1 + end].to_string())));
                i += end + 2;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let end = s[i + 1..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(s.len(), |e| i + 1 + e);
                out.push((start, Tok::Num(s[i..end].to_string())));
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = s[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(s.len(), |e| i + e);
                let word = &s[i..end];
                out.push((
                    start,
                    match word {
                        "and" => Tok::And,
                        "or" => Tok::Or,
                        "not" => Tok::Not,
                        _ => Tok::Ident(word.to_string()),
                    },
                ));
                i = end;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err((start, format!("unexpected `{ch}` in condition")));
            }
        }
    }
    Ok(out)
}

struct ExprParser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    len: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }
    fn here(&self) -> usize {
        self.toks.get(self.i).map_or(self.len, |(p, _)| *p)
    }
    fn or(&mut self, depth: usize) -> Result<Expr, (usize, String)> {
        let mut l = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            l = Expr::Or(Box::new(l), Box::new(self.and(depth)?));
        }
        Ok(l)
    }
    fn and(&mut self, depth: usize) -> Result<Expr, (usize, String)> {
        let mut l = self.not(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            l = Expr::And(Box::new(l), Box::new(self.not(depth)?));
        }
        Ok(l)
    }
    fn not(&mut self, depth: usize) -> Result<Expr, (usize, String)> {
        if depth > 32 {
            return Err((self.here(), "condition is nested too deeply".into()));
        }
        if self.peek() == Some(&Tok::Not) {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not(depth + 1)?)));
        }
        let l = self.atom(depth)?;
        match self.peek() {
            Some(Tok::Eq) => {
                self.i += 1;
                Ok(Expr::Eq(Box::new(l), Box::new(self.atom(depth)?)))
            }
            Some(Tok::Ne) => {
                self.i += 1;
                Ok(Expr::Ne(Box::new(l), Box::new(self.atom(depth)?)))
            }
            _ => Ok(l),
        }
    }
    fn atom(&mut self, depth: usize) -> Result<Expr, (usize, String)> {
        let at = self.here();
        let tok = self.toks.get(self.i).map(|(_, t)| t.clone());
        self.i += 1;
        match tok {
            Some(Tok::Ident(w)) if w == "true" || w == "false" => Ok(Expr::Lit(w)),
            Some(Tok::Ident(w)) => Ok(Expr::Var(w)),
            Some(Tok::Str(s)) | Some(Tok::Num(s)) => Ok(Expr::Lit(s)),
            Some(Tok::LParen) => {
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err((self.here(), "expected `)`".into()));
                }
                self.i += 1;
                Ok(e)
            }
            Some(_) => Err((at, "expected a variable, a value or `(`".into())),
            None => Err((at, "condition ends too early".into())),
        }
    }
}

/// Parses a condition such as `environment == 'production' && !dry_run`.
pub fn parse_when(s: &str) -> Result<Expr, (usize, String)> {
    let toks = lex(s)?;
    let mut p = ExprParser {
        toks,
        i: 0,
        len: s.len(),
    };
    let e = p.or(0)?;
    if p.i < p.toks.len() {
        return Err((p.here(), "unexpected text after the condition".into()));
    }
    Ok(e)
}

impl Expr {
    pub fn vars(&self, out: &mut Vec<String>) {
        match self {
            Expr::Var(v) => out.push(v.clone()),
            Expr::Lit(_) => {}
            Expr::Not(e) => e.vars(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Eq(a, b) | Expr::Ne(a, b) => {
                a.vars(out);
                b.vars(out);
            }
        }
    }

    fn value(&self, vars: &BTreeMap<String, String>) -> String {
        match self {
            Expr::Var(v) => vars.get(v).cloned().unwrap_or_default(),
            Expr::Lit(l) => l.clone(),
            other => other.eval(vars).to_string(),
        }
    }

    pub fn eval(&self, vars: &BTreeMap<String, String>) -> bool {
        match self {
            Expr::Var(_) | Expr::Lit(_) => truthy(&self.value(vars)),
            Expr::Not(e) => !e.eval(vars),
            Expr::And(a, b) => a.eval(vars) && b.eval(vars),
            Expr::Or(a, b) => a.eval(vars) || b.eval(vars),
            Expr::Eq(a, b) => a.value(vars) == b.value(vars),
            Expr::Ne(a, b) => a.value(vars) != b.value(vars),
        }
    }
}

/// Empty, `false`, `0`, `no` and `off` are false; everything else is true.
pub fn truthy(s: &str) -> bool {
    !matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "" | "false" | "0" | "no" | "off"
    )
}

/// `t` with every string in it passed through `f` (map keys left as written): how a native
/// step's fields are filled from variables.
pub fn fill_strings<T>(t: &T, f: &dyn Fn(&str) -> String) -> T
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    fn walk(v: &mut serde_json::Value, f: &dyn Fn(&str) -> String) {
        match v {
            serde_json::Value::String(s) => *s = f(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(t) else {
        return t.clone();
    };
    walk(&mut v, f);
    serde_json::from_value(v).unwrap_or_else(|_| t.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let p = parse_template("a {{ x }} b {{y}}").unwrap();
        assert_eq!(
            p[1],
            Piece::Var {
                name: "x",
                offset: 5
            }
        );
        assert_eq!(
            p[3],
            Piece::Var {
                name: "y",
                offset: 14
            }
        );
        assert!(parse_template("{{ x ").is_err());
        assert!(parse_template("{{ a b }}").is_err());
        assert_eq!(
            render("{{ a }}-{{ b }}", |n| (n == "a").then(|| "1".into())),
            "1-{{ b }}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        for huge in [
            "99999999999999999999999d",
            "99999999999999999999s99999999999999999999s",
            "18446744073709551615",
            "36501d",
            "1e400s",
        ] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert_eq!(
            parse_duration("18446744073709551615").unwrap_err(),
            "`18446744073709551615` is too long (at most 36500d)"
        );
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
    }

    #[test]
    fn conditions() {
        let mut v = BTreeMap::new();
        v.insert("env".to_string(), "production".to_string());
        v.insert("dry".to_string(), "false".to_string());
        let e = parse_when("env == 'production' && !dry").unwrap();
        assert!(e.eval(&v));
        let e = parse_when("env != \"production\" or dry").unwrap();
        assert!(!e.eval(&v));
        assert_eq!(parse_when("env ==").unwrap_err().0, 6);
        assert!(parse_when("(env").is_err());
        assert!(parse_when("env = 'x'").is_err());
    }
}
