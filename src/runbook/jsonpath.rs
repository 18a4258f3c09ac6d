//! kubectl's JSONPath templates, the subset runbooks use — the one JSON path language of the
//! format: `kube.get` and `kube.wait` templates ([`JsonPath`]) and the paths captures take
//! ([`Query`]).
//!
//! A template is text with actions in braces, as `kubectl get -o jsonpath=...` takes it
//! (`k8s.io/client-go/util/jsonpath`):
//! - paths: `{.a.b}`, `{$.a}`, `{.items[0].x}`, `{.items[-1]}`, `{.items[1:3]}`, `{.items[*].name}`,
//!   `{.a.*}`, `{..name}` (at any depth), `{.a['b.c']}`, escaped dots `{.labels.app\.kubernetes\.io/name}`;
//! - filters: `{.conditions[?(@.type=="Ready")].status}` (`==`, `!=`, `<`, `<=`, `>`, `>=`, or just
//!   `[?(@.x)]` for "has x");
//! - `{range .items[*]}...{end}` repeats its body for each result; `{"\n"}` is literal text;
//! - several results of one action are joined by a space; strings print as they are, anything else
//!   as compact JSON; a missing key prints nothing (kubectl's `--allow-missing-template-keys`).

use std::fmt::Write as _;

use serde_json::Value;

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Path(Path),
    Range(Path, Vec<Node>),
}

/// A path: where it starts (always the current object) and its steps.
type Path = Vec<Seg>;

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Field(String),
    /// `.*` or `[*]`: every value of an object or element of an array.
    All,
    /// `..name`: `name` at any depth (or every value with `..*`).
    Recursive(Option<String>),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `['a','b']` or `[0,2]`.
    Union(Vec<Seg>),
    Filter(Filter),
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    left: Operand,
    /// No operator: the left side must exist.
    cmp: Option<(Op, Operand)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    /// `@.x.y`, relative to the element.
    Current(Path),
    Literal(Value),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl JsonPath {
    /// Parses a template; the error says what is wrong and where.
    pub fn parse(template: &str) -> Result<JsonPath, String> {
        let mut stack: Vec<(Path, Vec<Node>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                nodes.push(Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                nodes.push(Node::Text(rest[..open].to_string()));
            }
            let close = find_close(&rest[open + 1..]).ok_or_else(|| {
                format!("unclosed action in JSONPath template `{template}`: a `{{` has no `}}`")
            })?;
            let action = rest[open + 1..open + 1 + close].trim();
            rest = &rest[open + 1 + close + 1..];
            let bad = |e: String| format!("bad JSONPath `{{{action}}}`: {e}");
            if action == "end" {
                let Some((path, outer)) = stack.pop() else {
                    return Err(bad(
                        "`end` without a `range` (not in range, nothing to end)".into(),
                    ));
                };
                let body = std::mem::replace(&mut nodes, outer);
                nodes.push(Node::Range(path, body));
            } else if let Some(p) = action.strip_prefix("range ") {
                let path = parse_path(p.trim()).map_err(bad)?;
                stack.push((path, std::mem::take(&mut nodes)));
            } else if action.starts_with('"') || action.starts_with('\'') {
                let (s, used) = parse_string(action).map_err(bad)?;
                if used != action.len() {
                    return Err(bad("text after the string literal".into()));
                }
                nodes.push(Node::Text(s));
            } else if action.is_empty() {
                return Err(bad("an empty action".into()));
            } else {
                nodes.push(Node::Path(parse_path(action).map_err(bad)?));
            }
        }
        if !stack.is_empty() {
            return Err(format!(
                "JSONPath template `{template}` has a `range` without its `{{end}}`"
            ));
        }
        Ok(JsonPath { nodes })
    }

    /// The template's text for `data`.
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out);
        out
    }
}

/// One path into a JSON document, as a capture names it (`json: .items[0].metadata.name`): the
/// same paths as a template's actions, without the braces; a leading `.` or `$` is optional.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    path: Path,
}

impl Query {
    pub fn parse(path: &str) -> Result<Query, String> {
        let s = path.trim();
        let normal = if s.is_empty() || s == "$" || s == "." {
            "$".to_string()
        } else if s.starts_with(['.', '$', '[']) {
            s.to_string()
        } else {
            format!(".{s}")
        };
        parse_path(&normal)
            .map(|path| Query { path })
            .map_err(|why| format!("invalid JSON path `{path}`: {why}"))
    }

    /// The first value at the path in `data`, if there is one.
    pub fn first<'a>(&self, data: &'a Value) -> Option<&'a Value> {
        eval(&self.path, data).into_iter().next()
    }
}

/// Parses and renders in one go.
pub fn render(template: &str, data: &Value) -> Result<String, String> {
    Ok(JsonPath::parse(template)?.render(data))
}

fn render_nodes(nodes: &[Node], data: &Value, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let results = eval(p, data);
                for (i, r) in results.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    print_value(r, out);
                }
            }
            Node::Range(p, body) => {
                for r in eval(p, data) {
                    render_nodes(body, r, out);
                }
            }
        }
    }
}

fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The values a path selects, in order.
fn eval<'a>(path: &[Seg], data: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![data];
    for seg in path {
        let mut next = Vec::new();
        for v in cur {
            step(seg, v, &mut next);
        }
        cur = next;
    }
    cur
}

fn step<'a>(seg: &Seg, v: &'a Value, out: &mut Vec<&'a Value>) {
    match seg {
        Seg::Field(f) => {
            if let Some(x) = v.get(f.as_str()) {
                out.push(x);
            }
        }
        Seg::All => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Seg::Recursive(name) => recurse(name.as_deref(), v, out),
        Seg::Index(i) => {
            if let Value::Array(a) = v {
                let i = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    out.push(x);
                }
            }
        }
        Seg::Slice(start, end, by) => {
            if let Value::Array(a) = v {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = start.map(norm).unwrap_or(0);
                let e = end.map(norm).unwrap_or(len);
                let by = by.unwrap_or(1).max(1) as usize;
                if s < e {
                    out.extend(a[s as usize..e as usize].iter().step_by(by));
                }
            }
        }
        Seg::Union(segs) => {
            for s in segs {
                step(s, v, out);
            }
        }
        Seg::Filter(f) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                _ => Vec::new(),
            };
            out.extend(items.into_iter().filter(|x| f.matches(x)));
        }
    }
}

fn recurse<'a>(name: Option<&str>, v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if name.is_none_or(|n| n == k) {
                    out.push(x);
                }
            }
            for x in o.values() {
                recurse(name, x, out);
            }
        }
        Value::Array(a) => {
            if name.is_none() {
                out.extend(a.iter());
            }
            for x in a {
                recurse(name, x, out);
            }
        }
        _ => {}
    }
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let side = |o: &Operand| -> Option<Value> {
            match o {
                Operand::Literal(v) => Some(v.clone()),
                Operand::Current(p) => eval(p, item).first().map(|v| (*v).clone()),
            }
        };
        let Some(left) = side(&self.left) else {
            return false;
        };
        let Some((op, right)) = &self.cmp else {
            return true;
        };
        let Some(right) = side(right) else {
            return false;
        };
        let ord = match (&left, &right) {
            (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (a, b) if a == b => Some(std::cmp::Ordering::Equal),
            _ => None,
        };
        use std::cmp::Ordering::*;
        match op {
            Op::Eq => ord == Some(Equal),
            Op::Ne => ord != Some(Equal),
            Op::Lt => ord == Some(Less),
            Op::Le => matches!(ord, Some(Less | Equal)),
            Op::Gt => ord == Some(Greater),
            Op::Ge => matches!(ord, Some(Greater | Equal)),
        }
    }
}

/// Where the `}` closing an action is, skipping quoted text and brackets.
fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut depth = 0i32;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\\') => {
                chars.next();
            }
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, '}') if depth <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A quoted string at the start of `s` (Go escapes: `\n`, `\t`, `\r`, `\\`, `\"`, `\'`); returns
/// it and the bytes it took.
fn parse_string(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let Some((_, q)) = chars.next() else {
        return Err("expected a string".into());
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, c @ ('\\' | '"' | '\''))) => out.push(c),
                Some((_, c)) => return Err(format!("unknown escape `\\{c}` in a string")),
                None => break,
            },
            c if c == q => return Ok((out, i + 1)),
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

/// A path like `.a.b[0]`, `$.a`, `@.a` (in filters), `..name`.
fn parse_path(s: &str) -> Result<Path, String> {
    let mut p = Parser { s, i: 0 };
    let path = p.path(false)?;
    if p.i < s.len() {
        return Err(format!(
            "unrecognized character `{}` at position {}",
            &s[p.i..].chars().next().unwrap_or(' '),
            p.i + 1
        ));
    }
    Ok(path)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    /// Steps until something that cannot continue a path (the end, or inside a filter an
    /// operator or `)`).
    fn path(&mut self, in_filter: bool) -> Result<Path, String> {
        let mut segs = Vec::new();
        if !self.eat("$") {
            self.eat("@");
        }
        loop {
            match self.peek() {
                None => break,
                Some('.') => {
                    if self.eat("..") {
                        if self.eat("*") {
                            segs.push(Seg::Recursive(None));
                        } else {
                            let f = self.field()?;
                            segs.push(Seg::Recursive(Some(f)));
                        }
                    } else {
                        self.i += 1;
                        if self.eat("*") {
                            segs.push(Seg::All);
                        } else if self.peek().is_none() && segs.is_empty() {
                            // `{.}`: the object itself.
                            break;
                        } else {
                            segs.push(Seg::Field(self.field()?));
                        }
                    }
                }
                Some('[') => {
                    self.i += 1;
                    segs.push(self.bracket()?);
                }
                Some(c) if in_filter && (c == ' ' || "=!<>)&|".contains(c)) => break,
                Some(c) if segs.is_empty() && !in_filter && is_field_char(c) => {
                    // kubectl accepts `{metadata.name}` as `{.metadata.name}`.
                    segs.push(Seg::Field(self.field()?));
                }
                Some(c) => {
                    return Err(format!(
                        "unrecognized character `{c}` at position {}",
                        self.i + 1
                    ));
                }
            }
        }
        Ok(segs)
    }

    /// A field name: letters, digits, `_`, `-`, `/`, and `\.` for a literal dot.
    fn field(&mut self) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                let next = self.s[self.i + 1..].chars().next();
                match next {
                    Some(n) => {
                        out.push(n);
                        self.i += 1 + n.len_utf8();
                    }
                    None => return Err("a `\\` at the end of the path".into()),
                }
            } else if is_field_char(c) {
                out.push(c);
                self.i += c.len_utf8();
            } else {
                break;
            }
        }
        if out.is_empty() {
            return Err(format!(
                "a field name is missing at position {}",
                self.i + 1
            ));
        }
        Ok(out)
    }

    /// After `[`: an index, a slice, `*`, quoted names, or a filter; eats the `]`.
    fn bracket(&mut self) -> Result<Seg, String> {
        let inner_start = self.i;
        let seg = if self.eat("?(") {
            let f = self.filter()?;
            if !self.eat(")") {
                return Err("unterminated filter: `)` expected".into());
            }
            Seg::Filter(f)
        } else if self.eat("*") {
            Seg::All
        } else if matches!(self.peek(), Some('\'' | '"')) {
            let mut names = Vec::new();
            loop {
                let (s, used) = parse_string(&self.s[self.i..])?;
                self.i += used;
                names.push(Seg::Field(s));
                self.skip_spaces();
                if !self.eat(",") {
                    break;
                }
                self.skip_spaces();
            }
            if names.len() == 1 {
                names.pop().unwrap_or(Seg::All)
            } else {
                Seg::Union(names)
            }
        } else {
            let end = self.s[self.i..]
                .find(']')
                .map(|e| self.i + e)
                .ok_or("unterminated `[`: `]` expected")?;
            let inner = &self.s[self.i..end];
            self.i = end;
            let num = |t: &str| -> Result<Option<i64>, String> {
                let t = t.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                t.parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("`[{inner}]`: `{t}` is not a number"))
            };
            if inner.contains(',') {
                let mut segs = Vec::new();
                for part in inner.split(',') {
                    segs.push(Seg::Index(
                        num(part)?.ok_or(format!("`[{inner}]`: empty index"))?,
                    ));
                }
                Seg::Union(segs)
            } else if inner.contains(':') {
                let parts: Vec<&str> = inner.split(':').collect();
                if parts.len() > 3 {
                    return Err(format!("`[{inner}]`: too many `:`"));
                }
                Seg::Slice(
                    num(parts[0])?,
                    num(parts.get(1).copied().unwrap_or(""))?,
                    num(parts.get(2).copied().unwrap_or(""))?,
                )
            } else {
                Seg::Index(num(inner)?.ok_or("`[]`: an index is missing")?)
            }
        };
        if !self.eat("]") {
            return Err(format!(
                "unterminated `[{}`: `]` expected",
                &self.s[inner_start..self.i]
            ));
        }
        Ok(seg)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.i += 1;
        }
    }

    fn filter(&mut self) -> Result<Filter, String> {
        self.skip_spaces();
        let left = self.operand()?;
        self.skip_spaces();
        let op = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.eat(t))
        .map(|(_, o)| o);
        let cmp = match op {
            None => None,
            Some(op) => {
                self.skip_spaces();
                let right = self.operand()?;
                self.skip_spaces();
                Some((op, right))
            }
        };
        if self.peek() != Some(')') {
            return Err(format!(
                "unsupported filter at position {}: `@.field OP value` expected",
                self.i + 1
            ));
        }
        Ok(Filter { left, cmp })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek() {
            Some('@') => Ok(Operand::Current(self.path(true)?)),
            Some('\'' | '"') => {
                let (s, used) = parse_string(&self.s[self.i..])?;
                self.i += used;
                Ok(Operand::Literal(Value::String(s)))
            }
            Some(_) => {
                let end = self.s[self.i..]
                    .find(|c: char| c == ' ' || c == ')' || "=!<>".contains(c))
                    .map_or(self.s.len(), |e| self.i + e);
                let t = &self.s[self.i..end];
                let v = match t {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => serde_json::from_str::<serde_json::Number>(t)
                        .map(Value::Number)
                        .map_err(|_| format!("`{t}` in a filter is not a value (quote strings)"))?,
                };
                self.i = end;
                Ok(Operand::Literal(v))
            }
            None => Err("a filter ends early".into()),
        }
    }
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '/'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web"}},
             "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]},
             "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}},
            {"metadata": {"name": "b", "labels": {}},
             "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
             "spec": {"containers": [{"name": "c"}, {"name": "d"}]}},
        ]})
    }

    fn r(t: &str) -> String {
        render(t, &pods()).unwrap()
    }

    #[test]
    fn fields_indexes_and_wildcards() {
        assert_eq!(r("{.items[0].metadata.name}"), "a");
        assert_eq!(r("{.items[-1].metadata.name}"), "b");
        assert_eq!(r("{.items[*].metadata.name}"), "a b");
        assert_eq!(r("{.items[0:1].metadata.name}"), "a");
        assert_eq!(r("{.items[1].spec.containers[*].name}"), "c d");
        assert_eq!(r("{$.kind}"), "List");
        assert_eq!(r("{kind}"), "List");
        assert_eq!(
            r("{.items[0].spec.containers[0].ports}"),
            r#"[{"containerPort":80}]"#
        );
        assert_eq!(r("{..phase}"), "Running Pending");
        assert_eq!(r("{.items[0]['metadata']['name']}"), "a");
    }

    #[test]
    fn missing_keys_print_nothing() {
        assert_eq!(r("{.items[5].metadata.name}"), "");
        assert_eq!(r("{.nope.deeper}"), "");
        assert_eq!(r("x={.nope}"), "x=");
    }

    #[test]
    fn text_around_actions_and_literals() {
        assert_eq!(r("name: {.items[0].metadata.name}!"), "name: a!");
        assert_eq!(r(r#"{.items[0].metadata.name}{"\n"}"#), "a\n");
        assert_eq!(r(r#"{"\t"}x"#), "\tx");
    }

    #[test]
    fn range_repeats_its_body() {
        assert_eq!(
            r(r#"{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}"#),
            "a=Running\nb=Pending\n"
        );
        assert_eq!(
            r(
                r#"{range .items[*]}{.metadata.name}:{range .spec.containers[*]}[{.name}]{end};{end}"#
            ),
            "a:[c];b:[c][d];"
        );
    }

    #[test]
    fn filters() {
        assert_eq!(
            r(r#"{.items[0].status.conditions[?(@.type=="Ready")].status}"#),
            "True"
        );
        assert_eq!(
            r(r#"{.items[*].status.conditions[?(@.type == 'Ready')].status}"#),
            "True False"
        );
        assert_eq!(
            r(r#"{.items[?(@.status.phase!="Running")].metadata.name}"#),
            "b"
        );
        assert_eq!(
            r("{.items[0].spec.containers[0].ports[?(@.containerPort>=80)].containerPort}"),
            "80"
        );
        assert_eq!(r("{.items[?(@.spec.containers[1])].metadata.name}"), "b");
    }

    #[test]
    fn escaped_dots_in_keys() {
        assert_eq!(
            r(r"{.items[0].metadata.labels.app\.kubernetes\.io/name}"),
            "web"
        );
        assert_eq!(
            r("{.items[0].metadata.labels['app.kubernetes.io/name']}"),
            "web"
        );
    }

    #[test]
    fn bad_templates_are_errors() {
        for (t, want) in [
            ("{.a", "unclosed action"),
            ("{.a}{end}", "without a `range`"),
            ("{range .items[*]}{.a}", "without its `{end}`"),
            ("{.a[}", "unclosed action"),
            ("{.a['x' b]}", "`]` expected"),
            ("{.a[x]}", "is not a number"),
            ("{.a[?(@.b ~ 1)]}", "unsupported filter"),
            ("{.a b}", "unrecognized character"),
            ("{}", "empty action"),
            (r#"{"abc}"#, "unclosed action"),
        ] {
            let e = JsonPath::parse(t)
                .err()
                .unwrap_or_else(|| panic!("{t} parsed"));
            assert!(e.contains(want), "{t}: {e}");
        }
    }
}
