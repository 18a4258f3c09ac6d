//! Label and field selectors for the in-memory API server.
//!
//! [`LabelSelector`] follows `k8s.io/apimachinery/pkg/labels` (`labels.Parse` and
//! `metav1.LabelSelectorAsSelector`), including its lexer quirks and error texts.
//! [`FieldSelector`] follows `k8s.io/apimachinery/pkg/fields.ParseSelector` plus the per-kind
//! field label conversion functions the API server registers (`pkg/apis/*/v1/conversion.go`) and
//! the selectable field sets of the registries (`pkg/registry/*/strategy.go`).
//!
//! Nothing here panics on any input.

use serde_json::{Map, Value};
use std::fmt;

use super::go_format::{go_quote, go_string_slice, json_kind};
use super::object::labels_of;
use super::validation::{is_qualified_name, is_valid_label_value};

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// Operators of a label requirement (`selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term of a label selector (`labels.Requirement`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement` with a nil field path.
    fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Requirement, String> {
        let mut errs: Vec<String> = Vec::new();
        if let Some(e) = validate_label_key(key, "key") {
            errs.push(e);
        }
        match op {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &go_string_slice(&values),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &go_string_slice(&values),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(field_invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(field_invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(v),
                    &msgs.join("; "),
                ));
            }
        }
        match aggregate(errs) {
            Some(e) => Err(e),
            None => Ok(Requirement {
                key: key.to_string(),
                op,
                values,
            }),
        }
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let got = labels
            .and_then(|m| m.get(&self.key))
            .map(label_value_string);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                got.is_some_and(|v| self.has_value(&v))
            }
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.has_value(&v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(have)) = got.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values = self.values.clone();
        values.sort();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The string form of a label value as found in an object (labels are strings; anything else is
/// rendered as its JSON text so that a malformed object never panics).
fn label_value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A parsed label selector: the AND of its requirements. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parse the `labelSelector` query string syntax, exactly as
    /// `k8s.io/apimachinery/pkg/labels.Parse` does (including `>`/`<` integer comparisons).
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut parser = Parser::new(s);
        let mut requirements = parser.parse()?;
        // `sort.Sort(ByKey(items))`: deterministic order (we use a stable sort).
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// From a `metav1.LabelSelector` JSON object, as `metav1.LabelSelectorAsSelector` does.
    /// A missing/null selector or `{}` matches everything.
    pub fn from_object(v: &Value) -> Result<LabelSelector, String> {
        let obj = match v {
            Value::Null => return Ok(LabelSelector::default()),
            Value::Object(m) => m,
            other => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go value of type v1.LabelSelector",
                    json_kind(other)
                ));
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                let mut keys: Vec<&String> = labels.keys().collect();
                keys.sort();
                for k in keys {
                    let value = match labels.get(k) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => {
                            return Err(format!(
                                "json: cannot unmarshal {} into Go struct field LabelSelector.matchLabels of type string",
                                json_kind(other)
                            ));
                        }
                    };
                    requirements.push(Requirement::new(k, Operator::Equals, vec![value])?);
                }
            }
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field LabelSelector.matchLabels of type map[string]string",
                    json_kind(other)
                ));
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(requirement_from_expression(expr)?);
                }
            }
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field LabelSelector.matchExpressions of type []v1.LabelSelectorRequirement",
                    json_kind(other)
                ));
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Whether the given label map satisfies every requirement (`None` = no labels).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Match against `obj.metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(labels_of(obj))
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    /// `internalSelector.String()`: requirements joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn requirement_from_expression(expr: &Value) -> Result<Requirement, String> {
    let Value::Object(m) = expr else {
        return Err(format!(
            "json: cannot unmarshal {} into Go struct field LabelSelector.matchExpressions of type v1.LabelSelectorRequirement",
            json_kind(expr)
        ));
    };
    let key = match m.get("key") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field LabelSelectorRequirement.matchExpressions.key of type string",
                json_kind(other)
            ));
        }
    };
    let operator = match m.get("operator") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field LabelSelectorRequirement.matchExpressions.operator of type v1.LabelSelectorOperator",
                json_kind(other)
            ));
        }
    };
    let mut values = Vec::new();
    match m.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) => values.push(s.clone()),
                    Value::Null => values.push(String::new()),
                    other => {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field LabelSelectorRequirement.matchExpressions.values of type string",
                            json_kind(other)
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field LabelSelectorRequirement.matchExpressions.values of type []string",
                json_kind(other)
            ));
        }
    }
    let op = match operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        _ => {
            return Err(format!(
                "{} is not a valid label selector operator",
                go_quote(&operator)
            ));
        }
    };
    Requirement::new(&key, op, values)
}

// --- lexer (labels.Lexer) -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string_to_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Returns the current byte (0 at the end of input) and advances.
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buffer.push(ch);
        }
        let lit = String::from_utf8_lossy(&buffer).into_owned();
        match string_to_token(&buffer) {
            Some(t) => (t, lit),
            None => (Token::Identifier, lit),
        }
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut last: Option<(Token, String)> = None;
        let mut buffer = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) {
                buffer.push(ch);
                if let Some(t) = string_to_token(&buffer) {
                    last = Some((t, String::from_utf8_lossy(&buffer).into_owned()));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        match last {
            Some(item) => item,
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buffer)
                ),
            ),
        }
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }
}

// --- parser (labels.Parser) -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn new(s: &str) -> Parser {
        let mut lexer = Lexer {
            s: s.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn item(&self, idx: usize, ctx: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(idx)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        let tok = match (ctx, tok) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            (_, t) => t,
        };
        (tok, lit)
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.item(self.position, ctx);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = op {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        // validateLabelKey(literal, p.path) with a nil path: the field prints as "<nil>".
        if let Some(e) = validate_label_key(&lit, "<nil>") {
            return Err(e);
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let s = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Context::Values);
                if t != Token::ClosedPar {
                    // Upstream reports the literal seen right after '(' here.
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// Returns a sorted, de-duplicated list (`sets.String.List()`).
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if let Err(i) = s.binary_search(&v) {
                s.insert(i, v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    insert(&mut s, lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        insert(&mut s, String::new());
                        return Ok(s);
                    }
                    if tok2 == Token::Comma {
                        self.consume(Context::Values);
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

fn validate_label_key(key: &str, path: &str) -> Option<String> {
    let errs = is_qualified_name(key);
    if errs.is_empty() {
        None
    } else {
        Some(field_invalid(path, &go_quote(key), &errs.join("; ")))
    }
}

/// `field.Invalid(path, value, detail).Error()`.
fn field_invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value}: {detail}")
}

/// `utilerrors.NewAggregate(...).Error()` (after `field.ErrorList.ToAggregate` de-duplication).
fn aggregate(errs: Vec<String>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => None,
        1 => seen.pop(),
        _ => Some(format!("[{}]", seen.join(", "))),
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    value: String,
    /// `!=` (notHasTerm) rather than `=`/`==` (hasTerm).
    not_equal: bool,
}

/// A parsed field selector: the AND of `field=value` / `field!=value` terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parse the `fieldSelector` query string syntax, as `fields.ParseSelector` does: terms are
    /// comma separated (`\,` does not separate), the operator is the first `!=`, `==` or `=` in
    /// the term (no escaping on the left), and the value is unescaped (`\\`, `\,`, `\=`).
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let value = unescape_value(rhs)?;
            terms.push(FieldTerm {
                field: lhs.to_string(),
                value,
                not_equal: op == "!=",
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Check every field label against the field label conversion function the API server
    /// registers for `kind` (the list request fails with 400 BadRequest and this text otherwise).
    pub fn validate_for(&self, kind: &str) -> Result<(), String> {
        for t in &self.terms {
            let field = t.field.as_str();
            match supported_fields(kind) {
                Some(list) => {
                    if !list.contains(&field) {
                        return Err(format!("field label not supported: {field}"));
                    }
                }
                None => {
                    if field != "metadata.name" && field != "metadata.namespace" {
                        return Err(format!(
                            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                            go_quote(field)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `obj` satisfies every term. Fields are read the way the registries'
    /// `GetAttrs` functions expose them: a missing string field compares as `""`, booleans as
    /// `"true"`/`"false"` (missing = `"false"`), counters as decimal (missing = `"0"`).
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let got = selectable_field_value(obj, &t.field);
            (got == t.value) != t.not_equal
        })
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// The field labels accepted per kind, from the conversion functions in
/// `pkg/apis/core/v1/conversion.go`, `pkg/apis/apps/v1`, `pkg/apis/batch/v1` and
/// `pkg/apis/certificates/v1`. `None` = no conversion function: only `metadata.name` and
/// `metadata.namespace` (`runtime.DefaultMetaV1FieldSelectorConversion`).
fn supported_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            // Backwards compatibility with old v1 clients; converted to spec.nodeName.
            "spec.host",
        ],
        "Node" => &["metadata.name", "spec.unschedulable"],
        "ReplicationController" => &["metadata.name", "metadata.namespace", "status.replicas"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ],
        "Namespace" => &["status.phase", "metadata.name"],
        "Secret" => &["type", "metadata.namespace", "metadata.name"],
        "Service" => &[
            "metadata.namespace",
            "metadata.name",
            "spec.clusterIP",
            "spec.type",
        ],
        "ReplicaSet" => &["metadata.name", "metadata.namespace", "status.replicas"],
        "Job" => &["metadata.name", "metadata.namespace", "status.successful"],
        "CertificateSigningRequest" => &["metadata.name", "spec.signerName"],
        _ => return None,
    })
}

/// The value a registry exposes for a selectable field of `obj` (a `fields.Set` lookup; absent
/// fields read as their Go zero value).
fn selectable_field_value(obj: &Value, field: &str) -> String {
    match field {
        // Pod: the conversion function maps the legacy label to spec.nodeName.
        "spec.host" => string_at(obj, &["spec", "nodeName"]),
        // Pod: the first of status.podIPs (the v1 object also mirrors it in status.podIP).
        "status.podIP" => {
            let first = obj
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .map(str::to_string);
            first.unwrap_or_else(|| string_at(obj, &["status", "podIP"]))
        }
        // Pod: accepted by the conversion function but not part of the selectable set.
        "status.podIPs" => String::new(),
        // Booleans default to "false".
        "spec.hostNetwork" | "spec.unschedulable" => {
            let parts: Vec<&str> = field.split('.').collect();
            match value_at(obj, &parts) {
                Some(Value::Bool(b)) => b.to_string(),
                Some(v @ Value::String(_)) => scalar_string(v),
                _ => "false".to_string(),
            }
        }
        // ReplicaSet / ReplicationController: int32 counter.
        "status.replicas" => counter_at(obj, &["status", "replicas"]),
        // Job: the selectable name differs from the JSON field (status.succeeded).
        "status.successful" => counter_at(obj, &["status", "succeeded"]),
        // Event: source.component, falling back to reportingComponent (reportingController).
        "source" => match obj.get("source") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                let component = string_at(obj, &["source", "component"]);
                if component.is_empty() {
                    string_at(obj, &["reportingComponent"])
                } else {
                    component
                }
            }
        },
        _ => {
            let parts: Vec<&str> = field.split('.').collect();
            string_at(obj, &parts)
        }
    }
}

fn value_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    Some(cur)
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn string_at(obj: &Value, path: &[&str]) -> String {
    value_at(obj, path).map(scalar_string).unwrap_or_default()
}

fn counter_at(obj: &Value, path: &[&str]) -> String {
    match value_at(obj, path) {
        Some(v @ (Value::Number(_) | Value::String(_))) => scalar_string(v),
        _ => "0".to_string(),
    }
}

/// `fields.splitTerms`: split on commas not preceded by an escaping backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// `fields.splitTerm`: the first occurrence of `!=`, `==` or `=` (checked in that order at each
/// position) splits the term.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], op, rhs));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go formats the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        match LabelSelector::parse(s) {
            Ok(x) => x,
            Err(e) => panic!("parse {s:?}: {e}"),
        }
    }

    fn matches(s: &str, l: Value) -> bool {
        sel(s).matches(Some(&labels(l)))
    }

    // Modelled on labels/selector_test.go TestSelectorParse.
    #[test]
    fn parse_round_trips_like_upstream() {
        let good = [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
        ];
        for s in good {
            let parsed = sel(s);
            assert_eq!(parsed.to_string(), s.replace(' ', ""), "{s}");
        }
        for bad in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
        // Deterministic: sorted by key.
        assert_eq!(sel("x=a,a=x").to_string(), sel("a=x,x=a").to_string());
    }

    // Modelled on labels/selector_test.go TestSetSelectorParser.
    #[test]
    fn set_selector_parser_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some("")),
            ("\rx", Some("x")),
            (
                "this-is-a-dns.domain.com/key-with-dash",
                Some("this-is-a-dns.domain.com/key-with-dash"),
            ),
            (
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
                Some("this-is-another-dns.domain.com/key-with-dash in (so,what)"),
            ),
            (
                "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
                Some("0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
            ),
            ("foo  in\t (abc)", Some("foo in (abc)")),
            ("x notin\n (abc)", Some("x notin (abc)")),
            ("x  notin\t\t\t(abc,def)", Some("x notin (abc,def)")),
            ("x in (abc,def)", Some("x in (abc,def)")),
            ("x in (abc,)", Some("x in (,abc)")),
            ("x in ()", Some("x in ()")),
            (
                "x notin (abc,,def),bar,z in (),w",
                Some("bar,w,x notin (,abc,def),z in ()"),
            ),
            ("x,y in (a)", Some("x,y in (a)")),
            ("x=a", Some("x=a")),
            ("x>1", Some("x>1")),
            ("x<7", Some("x<7")),
            ("x=a,y!=b", Some("x=a,y!=b")),
            ("x=a,y!=b,z in (h,i,j)", Some("x=a,y!=b,z in (h,i,j)")),
            ("x=a||y=b", None),
            ("x,,y", None),
            (",x,y", None),
            ("x nott in (y)", None),
            ("x notin ( )", Some("x notin ()")),
            ("x notin (, a)", Some("x notin (,a)")),
            ("a in (xyz),", None),
            ("a in (xyz)b notin ()", None),
            ("a ", Some("a")),
            ("a in (x,y,notin, z,in)", Some("a in (in,notin,x,y,z)")),
            ("a in (xyz abc)", None),
            ("a notin(", None),
            ("a (", None),
            ("(", None),
        ];
        for (input, want) in cases {
            match (LabelSelector::parse(input), want) {
                (Ok(s), Some(w)) => assert_eq!(&s.to_string(), w, "{input:?}"),
                (Err(_), None) => {}
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    // Modelled on labels/selector_test.go TestSelectorMatches.
    #[test]
    fn selector_matches_table() {
        assert!(matches("", json!({"x": "y"})));
        assert!(matches("x=y", json!({"x": "y"})));
        assert!(matches("x==y", json!({"x": "y"})));
        assert!(matches("x=y,z=w", json!({"x": "y", "z": "w"})));
        assert!(matches("x!=y,z!=w", json!({"x": "z", "z": "a"})));
        assert!(matches("notin=in", json!({"notin": "in"})));
        assert!(matches("x", json!({"x": "z"})));
        assert!(matches("!x", json!({"y": "z"})));
        assert!(matches("x>1", json!({"x": "2"})));
        assert!(matches("x<1", json!({"x": "0"})));
        assert!(!matches("x=z", json!({})));
        assert!(!matches("x=y", json!({"x": "z"})));
        assert!(!matches("x=y,z=w", json!({"x": "w", "z": "w"})));
        assert!(!matches("x!=y,z!=w", json!({"x": "z", "z": "w"})));
        assert!(!matches("x", json!({"y": "z"})));
        assert!(!matches("!x", json!({"x": "z"})));
        assert!(!matches("x>1", json!({"x": "0"})));
        assert!(!matches("x<1", json!({"x": "2"})));
        assert!(!matches("x>1", json!({"x": "v2"})));
        assert!(!matches("x>1", json!({})));
        let set = json!({"foo": "bar", "baz": "blah"});
        assert!(matches("foo=bar", set.clone()));
        assert!(matches("baz=blah", set.clone()));
        assert!(matches("foo=bar,baz=blah", set.clone()));
        assert!(!matches("foo=blah", set.clone()));
        assert!(!matches("baz=bar", set.clone()));
        assert!(!matches("foo=bar,foobar=bar,baz=blah", set));
    }

    #[test]
    fn set_operators() {
        assert!(matches("env in (prod,dev)", json!({"env": "dev"})));
        assert!(!matches("env in (prod,dev)", json!({"env": "qa"})));
        assert!(!matches("env in (prod,dev)", json!({})));
        assert!(matches("env notin (prod,dev)", json!({"env": "qa"})));
        assert!(matches("env notin (prod,dev)", json!({})));
        assert!(!matches("env notin (prod,dev)", json!({"env": "prod"})));
        assert!(matches("x notin ()", json!({"y": ""})));
        assert!(!matches("x in ()", json!({"y": "baz"})));
        assert!(matches("x in ()", json!({"x": ""})));
        assert!(matches("x!=a", json!({})));
        assert!(matches("in in (in)", json!({"in": "in"})));
        // None = no labels at all.
        assert!(sel("!a,b!=c,d notin (e)").matches(None));
        assert!(!sel("a").matches(None));
        assert!(sel("").matches(None));
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let obj = json!({"metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}}});
        assert!(sel("app=web,tier").matches_object(&obj));
        assert!(!sel("app=db").matches_object(&obj));
        assert!(sel("!missing").matches_object(&json!({"metadata": {}})));
        assert!(!sel("app").matches_object(&json!("not an object")));
    }

    #[test]
    fn is_empty() {
        assert!(sel("").is_empty());
        assert!(sel("  ").is_empty());
        assert!(!sel("a").is_empty());
        assert!(LabelSelector::from_object(&json!({})).map(|s| s.is_empty()) == Ok(true));
    }

    #[test]
    fn parse_errors_have_upstream_text() {
        let err = |s: &str| LabelSelector::parse(s).err().unwrap_or_default();
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("==="),
            "found '==', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b,="), "found '=', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err("!!"),
            "unable to parse requirement: found '!', expected: identifier"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("!x=a"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            err("a in (x y)"),
            "unable to parse requirement: found 'y', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert_eq!(
            err("a in (="),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("a_=b"),
            "unable to parse requirement: <nil>: Invalid value: \"a_\": name part must consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
             character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
             '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            err("a=b_"),
            "unable to parse requirement: values[0][a]: Invalid value: \"b_\": a valid label must \
             be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or \
             '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            err("x>a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' \
             operators, the value must be an integer"
        );
        assert!(err("/a=b").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        ));
        assert!(err("Example.com/a").contains("prefix part a lowercase RFC 1123 subdomain"));
        assert!(err("a/b/c").contains("a qualified name must consist of"));
        assert!(err(&"a".repeat(64)).contains("name part must be no more than 63 characters"));
        assert!(
            err(&format!("a={}", "b".repeat(64))).contains("must be no more than 63 characters")
        );
    }

    #[test]
    fn key_validation() {
        assert!(LabelSelector::parse("example.com/app=x").is_ok());
        assert!(LabelSelector::parse("app.kubernetes.io/name in (a,b)").is_ok());
        assert!(LabelSelector::parse(&"a".repeat(63)).is_ok());
        assert!(LabelSelector::parse(&format!("{}/a", "b".repeat(254))).is_err());
        assert!(LabelSelector::parse("-a").is_err());
        assert!(LabelSelector::parse("a-").is_err());
        assert!(LabelSelector::parse("A.b_c-D").is_ok());
        assert!(LabelSelector::parse("é=x").is_err());
        assert!(LabelSelector::parse("a=é").is_err());
    }

    #[test]
    fn lexer_edge_cases_never_panic() {
        for s in [
            "\0",
            "a\0b",
            "(((",
            ")))",
            "!=!=",
            "a!==b",
            "a=!",
            "<>",
            "a in (,,)",
            "a in (,",
            ",",
            "!",
            "in",
            "notin",
            "a notin",
            "a in",
            "a=b,!c,d in (e),f notin (g),h!=i,j==k",
        ] {
            let _ = LabelSelector::parse(s);
        }
        // Upstream quirks: "(,,)" is rejected, a NUL byte ends the identifier being read.
        assert!(LabelSelector::parse("a in (,,)").is_err());
        assert_eq!(sel("a in (,,b)").to_string(), "a in (,b)");
        assert_eq!(sel("a\0").to_string(), "a");
        assert!(LabelSelector::parse("a\0garbage").is_err());
    }

    #[test]
    fn from_object_match_labels_and_expressions() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap_or_default();
        assert!(!s.is_empty());
        assert!(s.matches(Some(&labels(
            json!({"app": "web", "tier": "fe", "team": "a"})
        ))));
        assert!(!s.matches(Some(&labels(
            json!({"app": "web", "tier": "fe", "team": "a", "legacy": "1"})
        ))));
        assert!(!s.matches(Some(&labels(
            json!({"app": "web", "tier": "fe", "team": "a", "env": "prod"})
        ))));
        assert!(!s.matches(Some(&labels(
            json!({"app": "web", "tier": "db", "team": "a"})
        ))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "fe"})))));
        assert_eq!(
            s.to_string(),
            "app=web,env notin (prod),!legacy,team,tier in (be,fe)"
        );
        for everything in [
            json!(null),
            json!({}),
            json!({"matchLabels": {}}),
            json!({"matchExpressions": []}),
        ] {
            let s = LabelSelector::from_object(&everything);
            assert!(
                s.as_ref().is_ok_and(|s| s.is_empty() && s.matches(None)),
                "{everything}"
            );
        }
    }

    #[test]
    fn from_object_errors() {
        let err = |v: Value| LabelSelector::from_object(&v).err().unwrap_or_default();
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert!(err(json!({"matchLabels": {"a_": "b"}})).starts_with("key: Invalid value: \"a_\""));
        assert!(
            err(json!({"matchLabels": {"a": "b_"}}))
                .starts_with("values[0][a]: Invalid value: \"b_\"")
        );
        assert!(err(json!({"matchLabels": {"a": 1}})).contains("cannot unmarshal number"));
        assert!(err(json!({"matchLabels": []})).contains("cannot unmarshal array"));
        assert!(err(json!({"matchExpressions": {}})).contains("cannot unmarshal object"));
        assert!(err(json!({"matchExpressions": [1]})).contains("cannot unmarshal number"));
        assert!(err(json!("x")).contains("cannot unmarshal string"));
        // Two problems in one requirement are aggregated like upstream.
        assert!(
            err(json!({"matchExpressions": [{"key": "a_", "operator": "In", "values": []}]}))
                .starts_with("[key: Invalid value")
        );
    }

    fn fsel(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(x) => x,
            Err(e) => panic!("parse {s:?}: {e}"),
        }
    }

    #[test]
    fn field_selector_operators() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}
        });
        assert!(fsel("metadata.name=web-1").matches(&pod));
        assert!(fsel("metadata.name==web-1").matches(&pod));
        assert!(!fsel("metadata.name!=web-1").matches(&pod));
        assert!(fsel("metadata.name!=web-2").matches(&pod));
        assert!(fsel("status.phase=Running,spec.nodeName=node-a").matches(&pod));
        assert!(!fsel("status.phase=Running,spec.nodeName=node-b").matches(&pod));
        assert!(fsel("spec.host=node-a").matches(&pod));
        assert!(fsel("status.podIP=10.0.0.1").matches(&pod));
        // Missing field compares as "".
        assert!(fsel("spec.schedulerName=").matches(&pod));
        assert!(fsel("status.nominatedNodeName!=x").matches(&pod));
        // Booleans.
        assert!(fsel("spec.hostNetwork=false").matches(&pod));
        let host = json!({"spec": {"hostNetwork": true}});
        assert!(fsel("spec.hostNetwork=true").matches(&host));
        assert!(fsel("spec.unschedulable=false").matches(&json!({"spec": {}})));
        assert!(fsel("spec.unschedulable=true").matches(&json!({"spec": {"unschedulable": true}})));
        // Counters.
        assert!(fsel("status.replicas=0").matches(&json!({"status": {}})));
        assert!(fsel("status.replicas=3").matches(&json!({"status": {"replicas": 3}})));
        assert!(fsel("status.successful=1").matches(&json!({"status": {"succeeded": 1}})));
        // Event source falls back to reportingComponent.
        let ev = json!({"source": {"component": "kubelet"}, "reportingComponent": "x"});
        assert!(fsel("source=kubelet").matches(&ev));
        assert!(fsel("source=ctrl").matches(&json!({"reportingComponent": "ctrl"})));
        assert!(fsel("reportingComponent=x").matches(&ev));
        assert!(
            fsel("involvedObject.kind=Pod").matches(&json!({"involvedObject": {"kind": "Pod"}}))
        );
        // Empty selector.
        assert!(fsel("").is_empty());
        assert!(fsel(",").is_empty());
        assert!(fsel("").matches(&json!(null)));
        assert!(!fsel("a=b").is_empty());
        // No trimming: the space belongs to the field label.
        assert!(fsel("metadata.name = web-1").validate_for("Pod").is_err());
    }

    #[test]
    fn field_selector_escapes() {
        let obj = json!({"metadata": {"name": "a,b=c\\d"}});
        assert!(fsel("metadata.name=a\\,b\\=c\\\\d").matches(&obj));
        // An escaped comma does not split terms.
        assert_eq!(fsel("metadata.name=a\\,b").terms.len(), 1);
        assert_eq!(fsel("a=b,c=d").terms.len(), 2);
        // `a=b=c` splits at the first '=' and then fails on the unescaped '='.
        assert_eq!(
            FieldSelector::parse("a=b=c"),
            Err("invalid field selector: unescaped character in value: 61".to_string())
        );
        assert_eq!(
            FieldSelector::parse("metadata.name!==x"),
            Err("invalid field selector: unescaped character in value: 61".to_string())
        );
        assert_eq!(
            FieldSelector::parse("a=b\\x"),
            Err("invalid field selector: invalid escape sequence: \\x".to_string())
        );
        assert_eq!(
            FieldSelector::parse("a=b\\"),
            Err("invalid field selector: invalid escape sequence: \\".to_string())
        );
        assert_eq!(
            FieldSelector::parse("a=b,c"),
            Err("invalid selector: 'a=b,c'; can't understand 'c'".to_string())
        );
        // `==` wins over `=` and `!=` over `=`.
        assert_eq!(fsel("a==b").terms[0].value, "b");
        assert!(fsel("a!=b").terms[0].not_equal);
        assert_eq!(fsel("a=!b").terms[0].value, "!b");
        for s in ["\\", "=", "!", "é=ü", "a=\\é", "\\,=\\,"] {
            let _ = FieldSelector::parse(s);
        }
    }

    #[test]
    fn field_selector_validate_for_kind() {
        let ok = |s: &str, k: &str| fsel(s).validate_for(k);
        assert_eq!(
            ok("metadata.name=a,metadata.namespace=b", "ConfigMap"),
            Ok(())
        );
        assert_eq!(
            ok(
                "spec.nodeName=a,status.phase=Running,spec.hostNetwork=true,status.podIP=1,status.nominatedNodeName=n,spec.restartPolicy=Never,spec.schedulerName=s,spec.serviceAccountName=sa",
                "Pod"
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                "involvedObject.kind=Pod,involvedObject.namespace=a,involvedObject.name=b,involvedObject.uid=c,involvedObject.apiVersion=v1,involvedObject.resourceVersion=1,involvedObject.fieldPath=f,reason=r,reportingComponent=x,source=s,type=Normal",
                "Event"
            ),
            Ok(())
        );
        assert_eq!(ok("type=Opaque", "Secret"), Ok(()));
        assert_eq!(ok("status.phase=Active", "Namespace"), Ok(()));
        assert_eq!(ok("spec.unschedulable=true", "Node"), Ok(()));
        assert_eq!(ok("status.replicas=1", "ReplicaSet"), Ok(()));
        assert_eq!(ok("status.successful=1", "Job"), Ok(()));
        assert_eq!(
            ok("spec.type=ClusterIP,spec.clusterIP=None", "Service"),
            Ok(())
        );
        assert_eq!(
            ok("spec.nodeName=a", "Deployment"),
            Err("\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".to_string())
        );
        assert_eq!(
            ok("status.phase=Running", "Secret"),
            Err("field label not supported: status.phase".to_string())
        );
        assert_eq!(
            ok("foo.bar=baz", "Pod"),
            Err("field label not supported: foo.bar".to_string())
        );
        // Cluster-scoped kinds with a conversion function reject metadata.namespace.
        assert_eq!(
            ok("metadata.namespace=x", "Node"),
            Err("field label not supported: metadata.namespace".to_string())
        );
        assert_eq!(ok("", "Anything"), Ok(()));
    }
}
