//! Enough of a Dockerfile to answer a build as the legacy builder does: its instructions (one
//! `Step i/N` each), its stages and `--target`, `ARG`/`ENV` substitution into `LABEL`s, and the
//! sources `COPY`/`ADD` name (which must be in the context). Nothing is run.

use std::collections::{BTreeMap, BTreeSet};

/// One instruction: its line, keyword (upper case) and arguments as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

impl Instruction {
    /// As the builder shows it: `FROM scratch`.
    pub fn text(&self) -> String {
        if self.args.is_empty() {
            self.keyword.clone()
        } else {
            format!("{} {}", self.keyword, self.args)
        }
    }
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The instructions of `text`, continuation lines joined and comments left out; an unknown
/// instruction is the daemon's parse error.
pub fn parse(text: &str) -> Result<Vec<Instruction>, String> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if pending.is_none() && trimmed.is_empty() {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        if !joined.is_empty() && !body.is_empty() {
            joined.push(' ');
        }
        joined.push_str(body.trim());
        if continues {
            pending = Some((start, joined));
        } else {
            out.push(instruction(start, &joined)?);
        }
    }
    if let Some((start, joined)) = pending
        && !joined.trim().is_empty()
    {
        out.push(instruction(start, &joined)?);
    }
    Ok(out)
}

fn instruction(line: usize, text: &str) -> Result<Instruction, String> {
    let (word, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(format!(
            "dockerfile parse error line {line}: unknown instruction: {keyword}"
        ));
    }
    Ok(Instruction {
        line,
        keyword,
        args: args.trim().to_string(),
    })
}

/// What a build makes of a Dockerfile: the instructions run (to the end of the target stage)
/// and the image's labels and environment.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Instruction>,
    pub labels: BTreeMap<String, String>,
    pub env: Vec<String>,
    /// The build args the Dockerfile declares (an `ARG` anywhere).
    pub declared: BTreeSet<String>,
    /// `(index in steps, source)` of each local `COPY`/`ADD` source.
    pub sources: Vec<(usize, String)>,
}

#[derive(Clone, Default)]
struct Stage {
    name: Option<String>,
    labels: BTreeMap<String, String>,
    env: Vec<(String, String)>,
}

/// Plans a build of `instructions` to `target` (the last stage when `None`), with `args` for
/// the Dockerfile's `ARG`s.
pub fn plan(
    instructions: &[Instruction],
    args: &BTreeMap<String, String>,
    target: Option<&str>,
) -> Result<Plan, String> {
    if instructions.is_empty() {
        return Err("the Dockerfile cannot be empty".into());
    }
    let mut plan = Plan::default();
    let mut stages: Vec<Stage> = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut reached = target.is_none();
    for ins in instructions {
        if ins.keyword == "FROM" {
            if stages.last().is_some_and(|s| {
                target.is_some_and(|t| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            }) {
                reached = true;
                break;
            }
            let words: Vec<&str> = ins
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let base = words.first().copied().unwrap_or("");
            let name = match words.as_slice() {
                [_, kw, name] if kw.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                _ => None,
            };
            // A stage built on an earlier one starts with its labels and environment.
            let mut stage = stages
                .iter()
                .rev()
                .find(|s| s.name.as_deref() == Some(&base.to_ascii_lowercase()))
                .cloned()
                .unwrap_or_default();
            stage.name = name;
            vars = stage.env.iter().cloned().collect();
            stages.push(stage);
            plan.steps.push(ins.clone());
            continue;
        }
        let Some(stage) = stages.last_mut() else {
            if ins.keyword == "ARG" {
                for (k, _) in arg_decls(&ins.args) {
                    plan.declared.insert(k);
                }
                plan.steps.push(ins.clone());
                continue;
            }
            return Err("no build stage in current context".into());
        };
        plan.steps.push(ins.clone());
        match ins.keyword.as_str() {
            "ARG" => {
                for (k, default) in arg_decls(&ins.args) {
                    plan.declared.insert(k.clone());
                    let v = args.get(&k).cloned().or(default.map(|d| expand(&d, &vars)));
                    if let Some(v) = v {
                        vars.insert(k, v);
                    }
                }
            }
            "ENV" => {
                for (k, v) in pairs(&ins.args) {
                    let v = expand(&v, &vars);
                    vars.insert(k.clone(), v.clone());
                    stage.env.retain(|(e, _)| e != &k);
                    stage.env.push((k, v));
                }
            }
            "LABEL" => {
                for (k, v) in pairs(&ins.args) {
                    stage.labels.insert(expand(&k, &vars), expand(&v, &vars));
                }
            }
            "COPY" | "ADD" => {
                let words = copy_words(&ins.args);
                if words.iter().any(|w| w.starts_with("--from")) {
                    continue;
                }
                let paths: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
                if let Some((_dest, srcs)) = paths.split_last() {
                    for s in srcs {
                        if ins.keyword == "ADD" && s.contains("://") {
                            continue;
                        }
                        plan.sources.push((plan.steps.len() - 1, expand(s, &vars)));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(t) = target
        && !reached
        && !stages
            .last()
            .is_some_and(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
    {
        return Err(format!("failed to reach build target {t} in Dockerfile"));
    }
    if stages.is_empty() {
        return Err("no build stage in current context".into());
    }
    let last = stages.pop().unwrap_or_default();
    plan.labels = last.labels;
    plan.env = last.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(plan)
}

/// `ARG A=1 B` as `[(A, Some(1)), (B, None)]`.
fn arg_decls(args: &str) -> Vec<(String, Option<String>)> {
    words(args)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect()
}

/// `k=v k2="v 2"` (or the old `ENV k v`) as pairs, quotes taken off.
fn pairs(args: &str) -> Vec<(String, String)> {
    let ws = words(args);
    if !ws.is_empty() && !ws[0].contains('=') {
        // `ENV key value with spaces`
        let (k, rest) = args
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((args.trim(), ""));
        return vec![(unquote(k), unquote(rest.trim()))];
    }
    ws.into_iter()
        .filter_map(|w| w.split_once('=').map(|(k, v)| (unquote(k), unquote(v))))
        .collect()
}

/// Words split at blanks outside quotes (quotes kept, for [`unquote`]).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => {
                cur.push(c);
                escaped = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            _ => out.push(c),
        }
    }
    out
}

/// The words of a `COPY`/`ADD`: the JSON form (`["a", "b"]`) or plain words.
fn copy_words(args: &str) -> Vec<String> {
    let flags: Vec<String> = words(args)
        .into_iter()
        .take_while(|w| w.starts_with("--"))
        .collect();
    let rest = words(args)
        .into_iter()
        .skip(flags.len())
        .collect::<Vec<_>>()
        .join(" ");
    let listed = serde_json::from_str::<Vec<String>>(rest.trim())
        .unwrap_or_else(|_| words(&rest).iter().map(|w| unquote(w)).collect());
    flags.into_iter().chain(listed).collect()
}

/// `$X`, `${X}` and `${X:-default}` replaced from `vars` (unset: empty, as the builder does).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            if let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') {
                let inner: String = chars[i + 2..i + 2 + end].iter().collect();
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (inner.clone(), None),
                };
                match vars.get(&name) {
                    Some(v) if !v.is_empty() || default.is_none() => out.push_str(v),
                    _ => out.push_str(&default.unwrap_or_default()),
                }
                i += 3 + end;
                continue;
            }
            out.push(c);
            i += 1;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push(c);
            i += 1;
            continue;
        }
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i += 1 + name.chars().count();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_continuations_and_comments() {
        let ins = parse("# c\nFROM scratch\n\nRUN a \\\n  # inner\n  b\nlabel x=1\n").unwrap();
        let texts: Vec<String> = ins.iter().map(Instruction::text).collect();
        assert_eq!(texts, vec!["FROM scratch", "RUN a b", "LABEL x=1"]);
        assert_eq!(ins[2].line, 7);
        assert_eq!(
            parse("FROM scratch\nFROBNICATE everything\n").unwrap_err(),
            "dockerfile parse error line 2: unknown instruction: FROBNICATE"
        );
    }

    #[test]
    fn labels_from_args_and_targets() {
        let ins = parse(
            "ARG BASE=scratch\nFROM $BASE AS first\nARG GREETING=none\nLABEL g=$GREETING \"two words\"=\"a b\"\n\
             COPY a.txt /a\nFROM first AS second\nENV E=1\nLABEL s=${E} d=${U:-dflt}\nCOPY --from=first /a /b\n",
        )
        .unwrap();
        let mut args = BTreeMap::new();
        args.insert("GREETING".to_string(), "hello".to_string());
        let p = plan(&ins, &args, None).unwrap();
        assert_eq!(p.steps.len(), 9);
        assert_eq!(p.labels.get("g").map(String::as_str), Some("hello"));
        assert_eq!(p.labels.get("two words").map(String::as_str), Some("a b"));
        assert_eq!(p.labels.get("s").map(String::as_str), Some("1"));
        assert_eq!(p.labels.get("d").map(String::as_str), Some("dflt"));
        assert_eq!(p.env, vec!["E=1"]);
        assert_eq!(p.sources, vec![(4, "a.txt".to_string())]);

        let first = plan(&ins, &BTreeMap::new(), Some("first")).unwrap();
        assert_eq!(first.steps.len(), 5);
        assert_eq!(first.labels.get("g").map(String::as_str), Some("none"));
        assert!(!first.labels.contains_key("s"));
        assert_eq!(
            plan(&ins, &BTreeMap::new(), Some("third")).unwrap_err(),
            "failed to reach build target third in Dockerfile"
        );
        assert_eq!(
            plan(&parse("LABEL a=b\n").unwrap(), &BTreeMap::new(), None).unwrap_err(),
            "no build stage in current context"
        );
    }
}
