//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Built from `saphyr-parser` events with an explicit stack (no recursion), under budgets that refuse
//! hostile input early: a cap on file size, on nesting depth and on the number of nodes after alias
//! expansion (so an alias bomb stops after a bounded amount of work).

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A position in a source file: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, plain: true } if is_null_word(value))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// What kind of YAML value this is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } if self.is_null() => "nothing (null)",
            Kind::Scalar { value, plain: true } if value == "true" || value == "false" => {
                "a boolean"
            }
            Kind::Scalar { value, plain: true } if value.parse::<f64>().is_ok() => "a number",
            Kind::Scalar { .. } => "a string",
        }
    }
}

pub fn is_null_word(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// Limits applied while reading a document.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// A document that could not be read, with where.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        /// Each key's text and the line it was first seen on (keys are compared as text, and a
        /// map lookup keeps a mapping with many keys from taking quadratic time).
        seen: HashMap<String, u32>,
    },
}

/// Parses one YAML document from text that was already checked to be UTF-8.
pub fn parse(text: &str, budget: Budget) -> Result<Node, ParseError> {
    if text.len() > budget.max_bytes {
        return Err(ParseError {
            pos: Pos::new(1, 1),
            message: format!(
                "file is {} bytes; a runbook may be at most {} bytes",
                text.len(),
                budget.max_bytes
            ),
        });
    }
    if let Some((line, col)) = find_control_char(text) {
        return Err(ParseError {
            pos: Pos::new(line, col),
            message: "file contains a control character; a runbook is plain text".into(),
        });
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut aliases = false;
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            syntax_error(
                text,
                Pos::new(e.marker().line() as u32, e.marker().col() as u32 + 1),
                e.info(),
            )
        })?;
        let pos = Pos::new(span.start.line() as u32, span.start.col() as u32 + 1);
        let finished: Option<(Node, usize, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ParseError {
                        pos,
                        message: "a runbook file holds one YAML document; found a second `---`"
                            .into(),
                    });
                }
                None
            }
            Event::Alias(id) => {
                let Some((node, size)) = anchors.get(&id) else {
                    return Err(ParseError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                aliases = true;
                let mut node = node.clone();
                node.pos = pos;
                Some((node, 0, *size))
            }
            Event::Scalar(value, style, anchor, _tag) => Some((
                Node {
                    pos,
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                },
                anchor,
                1,
            )),
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                    seen: HashMap::new(),
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                // The items and entries were counted as they were finished.
                Some(Frame::Seq { pos, anchor, items }) => {
                    let size = 1;
                    Some((
                        Node {
                            pos,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                        size,
                    ))
                }
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => {
                    let size = 1;
                    Some((
                        Node {
                            pos,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                        size,
                    ))
                }
                None => None,
            },
        };
        if stack.len() > budget.max_depth {
            return Err(ParseError {
                pos,
                message: format!(
                    "nesting is deeper than {} levels; a runbook never needs that",
                    budget.max_depth
                ),
            });
        }
        let Some((node, anchor, size)) = finished else {
            continue;
        };
        nodes += size;
        if nodes > budget.max_nodes {
            return Err(ParseError {
                pos,
                message: if aliases {
                    format!(
                        "document expands to more than {} nodes through its aliases (an alias bomb?)",
                        budget.max_nodes
                    )
                } else {
                    format!(
                        "document has more than {} values; a runbook never needs that",
                        budget.max_nodes
                    )
                },
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), subtree_size(&node)));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, Kind::Scalar { .. }) {
                        return Err(ParseError {
                            pos: node.pos,
                            message: "a mapping key must be a plain value, not a list or mapping"
                                .into(),
                        });
                    }
                    let key = node.as_str().unwrap_or_default();
                    if let Some(first) = seen.get(key) {
                        return Err(ParseError {
                            pos: node.pos,
                            message: format!("duplicate key `{key}` (first at line {first})"),
                        });
                    }
                    seen.insert(key.to_string(), node.pos.line);
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
    root.ok_or(ParseError {
        pos: Pos::new(1, 1),
        message: "file is empty; a runbook is a YAML mapping".into(),
    })
}

/// A parser error in runbook words, pointing at the character at fault where that is known.
fn syntax_error(text: &str, pos: Pos, info: &str) -> ParseError {
    let line = text
        .lines()
        .nth(pos.line.saturating_sub(1) as usize)
        .unwrap_or_default();
    if info.contains("recursion limit") {
        return ParseError {
            pos,
            message: "nesting is too deep; a runbook never needs that".into(),
        };
    }
    if info.starts_with("tab") || info.contains(" tab") {
        // The parser reports the first character after the tabs; point at the tab itself.
        let col = line
            .chars()
            .take_while(|c| c.is_whitespace())
            .position(|c| c == '\t')
            .map_or(pos.col, |i| i as u32 + 1);
        return ParseError {
            pos: Pos::new(pos.line, col),
            message: format!("invalid YAML: {info}; indent with spaces, not tabs"),
        };
    }
    let hint = if info.contains("quoted scalar") {
        " (is the closing quote missing?)".to_string()
    } else if info.contains("unknown anchor") {
        let alias: String = line
            .chars()
            .skip(pos.col.saturating_sub(1) as usize)
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
            .collect();
        format!(" `{alias}`; a value starting with `*` is an alias, quote it if it is text")
    } else {
        String::new()
    };
    ParseError {
        pos,
        message: format!("invalid YAML: {info}{hint}"),
    }
}

fn subtree_size(node: &Node) -> usize {
    // Iterative, since an anchored node may be deep.
    let mut count = 0;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.kind {
            Kind::Scalar { .. } => {}
            Kind::Seq(items) => todo.extend(items.iter()),
            Kind::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    count
}

fn find_control_char(text: &str) -> Option<(u32, u32)> {
    let mut line = 1u32;
    let mut col = 1u32;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            col = 1;
            continue;
        }
        if (c.is_control() && c != '\t' && c != '\r') || c == '\u{feff}' && !(line == 1 && col == 1)
        {
            return Some((line, col));
        }
        col += 1;
    }
    None
}

/// Checks raw bytes are UTF-8; otherwise says where the first bad byte is.
pub fn to_text(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let col = match good.iter().rposition(|&b| b == b'\n') {
            Some(i) => String::from_utf8_lossy(&good[i + 1..]).chars().count() as u32 + 1,
            None => String::from_utf8_lossy(good).chars().count() as u32 + 1,
        };
        ParseError {
            pos: Pos::new(line, col),
            message: "file is not UTF-8 text (binary data?)".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a: 1\nb:\n  - x\n", Budget::default()).unwrap();
        let b = n.get("b").unwrap();
        assert_eq!(b.pos, Pos::new(3, 3));
        let Kind::Seq(items) = &b.kind else { panic!() };
        assert_eq!(items[0].pos, Pos::new(3, 5));
    }

    #[test]
    fn duplicate_key_points_at_the_duplicate() {
        let e = parse("a: 1\na: 2\n", Budget::default()).unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 1));
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        let mut prev = 'a';
        for c in 'b'..='i' {
            s.push_str(&format!(
                "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = c;
        }
        let e = parse(&s, Budget::default()).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{}", e.message);
    }

    #[test]
    fn duplicate_keys_compare_as_text() {
        let e = parse("a: 1\n\"a\": 2\n", Budget::default()).unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 1));
        assert!(e.message.contains("first at line 1"), "{}", e.message);
    }

    #[test]
    fn a_mapping_with_many_keys_is_quick() {
        let s: String = (0..90_000).map(|i| format!("k{i}: 1\n")).collect();
        let start = std::time::Instant::now();
        assert!(parse(&s, Budget::default()).is_ok());
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn syntax_errors_point_at_the_culprit() {
        let e = parse("a:\n\t- b\n", Budget::default()).unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 1), "{}", e.message);
        assert!(e.message.contains("tabs"), "{}", e.message);
        let e = parse("a: *nope\n", Budget::default()).unwrap_err();
        assert!(e.message.contains("`*nope`"), "{}", e.message);
        let e = parse("a: \"open\nb: 1\n", Budget::default()).unwrap_err();
        assert!(e.message.contains("closing quote"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(10_000);
        let e = parse(&s, Budget::default()).unwrap_err();
        assert!(e.message.contains("nesting"), "{}", e.message);
    }
}
