//! A YAML document as a tree of nodes that remember where they stand, so
//! every problem found later can name its line and column.
//!
//! The appspec is read in two steps, like ripgrep's low and high arguments:
//! first this untyped tree (only YAML syntax can fail here), then the typed
//! model, which collects every problem instead of stopping at the first.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{Options, Spanned};

mod psych;

pub use psych::{Plain, resolve as resolve_plain};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The byte range of a scalar's source text, when the parser knows it.
    pub span: Option<(usize, usize)>,
    /// The value.
    pub value: Value,
}

/// An untyped YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A plain integer.
    Int(i128),
    /// A plain float.
    Float(f64),
    /// A string, quoted or plain.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// The YAML type's name, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's own words, without its snippet, or ours where the
    /// host's reader (Psych 4) refuses what the parser accepts.
    pub message: String,
    /// How to fix it, when we know.
    pub hint: Option<String>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Limits far above any real appspec and far below what would hurt: an
/// alias bomb or a deeply nested document fails fast instead of eating the
/// host's memory.
fn options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            // Psych 4, the agent's reader, refuses every alias.
            max_aliases: 0,
            max_anchors: 256,
            max_events: 20_000,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// Parses `text` into a located tree, typing plain scalars as the agent's
/// YAML reader (Psych 4, YAML 1.1) types them.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let raw: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or_default();
        let (message, hint) = first_line(&e.to_string());
        SyntaxError { pos, message, hint }
    })?;
    convert(raw, text)
}

/// The first YAML document of `text`, and where a second one with content
/// starts, if any. Psych's `YAML.load`, which the agent calls, returns the
/// first document and drops the rest; an empty trailing document (a lone
/// `---` at the end, as templates leave) is nothing to report.
pub fn first_document(text: &str) -> (&str, Option<Pos>) {
    let is_marker = |line: &str, m: &str| {
        line.strip_prefix(m)
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r']))
    };
    let has_content = |line: &str| {
        let t = line.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    let mut offset = 0;
    let mut started = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let start = is_marker(bare, "---");
        let end = is_marker(bare, "...");
        if start && !started {
            started = true;
        } else if start || end {
            let rest = &text[offset + line.len()..];
            let after_marker = bare.get(3..).unwrap_or_default();
            let more = has_content(after_marker)
                || rest
                    .lines()
                    .any(|l| has_content(l) && !is_marker(l, "---") && !is_marker(l, "..."));
            let pos = more.then_some(Pos {
                line: i as u64 + 1,
                column: 1,
            });
            return (&text[..offset], pos);
        } else if has_content(bare) && !bare.starts_with('%') {
            started = true;
        }
        offset += line.len();
    }
    (text, None)
}

/// The parser's message in our words where its own are about its
/// internals, and otherwise without the position and snippet it adds: we
/// print our own position, and the snippet would repeat the file.
fn first_line(message: &str) -> (String, Option<String>) {
    let line = message.lines().next().unwrap_or_default().trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, after)| after),
        None => line,
    };
    let hint = |h: &str| Some(h.to_owned());
    if line.contains("alias") {
        (
            "an alias (`*name`): the agent's YAML reader (Psych 4) refuses every alias".to_owned(),
            hint("write the value out in full; merge keys (`<<: *name`) are aliases too"),
        )
    } else if line.contains("depth") || line.starts_with("recursion limit exceeded") {
        (
            "the document is nested more than 32 levels deep".to_owned(),
            hint("an appspec is at most five levels deep; check the indentation"),
        )
    } else if line.starts_with("budget breached") {
        (
            "the document has more nodes than the parser's limit".to_owned(),
            hint("an appspec has at most a few hundred entries"),
        )
    } else if line.contains("from_str_multiple") || line.contains("multiple documents") {
        (
            "the file holds more than one YAML document; the agent reads only the first".to_owned(),
            hint("remove the `---` line and what follows it, or merge the documents"),
        )
    } else if line.contains("duplicate") {
        (
            line.split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(line)
                .to_owned(),
            hint("each key may appear once per mapping; merge or delete the repeat"),
        )
    } else {
        (line.to_owned(), None)
    }
}

/// The tree of `raw`, each plain scalar retyped as Psych types it. Psych
/// refuses dates and times, so one of those fails the whole document, as
/// it does on the host.
fn convert(s: Spanned<Raw>, text: &str) -> Result<Node, SyntaxError> {
    let loc = s.referenced;
    let span = loc.span();
    let span = match (span.byte_offset(), span.byte_len()) {
        (Some(start), Some(len)) => Some((start as usize, (start + len) as usize)),
        _ => None,
    };
    let pos = Pos {
        line: loc.line(),
        column: loc.column(),
    };
    let source = span.and_then(|(a, b)| text.get(a..b));
    let value = match s.value {
        Raw::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|n| convert(n, text))
                .collect::<Result<_, _>>()?,
        ),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| Ok((convert(k, text)?, convert(v, text)?)))
                .collect::<Result<_, SyntaxError>>()?,
        ),
        scalar => match source.filter(|s| is_plain(s)) {
            Some(plain) => match psych::resolve(plain) {
                Plain::Null => Value::Null,
                Plain::Bool(b) => Value::Bool(b),
                Plain::Int(i) => Value::Int(i),
                Plain::Float(x) => Value::Float(x),
                Plain::Str(s) => Value::Str(s),
                Plain::Timestamp => {
                    return Err(SyntaxError {
                        pos,
                        message: format!(
                            "`{plain}` is an unquoted date: the agent's YAML reader (Psych 4) refuses to load dates and times"
                        ),
                        hint: Some(format!("quote it: \"{plain}\"")),
                    });
                }
            },
            None => scalar.into_value(),
        },
    };
    Ok(Node { pos, span, value })
}

/// Whether `source` is a plain scalar on one line: quoted, block, tagged
/// and multi-line scalars keep the parser's reading.
fn is_plain(source: &str) -> bool {
    !source.is_empty()
        && !source.contains('\n')
        && !source.starts_with(['"', '\'', '|', '>', '!', '&', '*'])
}

/// The serde face of [`Node`]: deserialized through `Spanned` so that every
/// level keeps its location.
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl Raw {
    fn into_value(self) -> Value {
        match self {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::Int(i) => Value::Int(i),
            Raw::Float(x) => Value::Float(x),
            Raw::Str(s) => Value::Str(s),
            // Collections are converted by `convert`, which keeps positions.
            Raw::Seq(_) | Raw::Map(_) => Value::Null,
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        i128::try_from(v)
            .map(Raw::Int)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Raw>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn every_node_knows_its_line_and_column() {
        let n = parse("version: 0.0\nhooks:\n  AfterInstall:\n    - location: a\n").unwrap();
        let m = map(&n);
        assert_eq!(
            m[0].1.pos,
            Pos {
                line: 1,
                column: 10
            }
        );
        let hooks = map(&m[1].1);
        assert_eq!(hooks[0].0.pos, Pos { line: 3, column: 3 });
    }

    #[test]
    fn quoted_and_plain_scalars_differ() {
        let n = parse("a: 0.0\nb: \"0.0\"\n").unwrap();
        let m = map(&n);
        assert_eq!(m[0].1.value, Value::Float(0.0));
        assert_eq!(m[1].1.value, Value::Str("0.0".into()));
    }

    #[test]
    fn a_scalar_keeps_its_source_text() {
        let text = "mode: 0644\n";
        let n = parse(text).unwrap();
        let (start, end) = map(&n)[0].1.span.unwrap();
        assert_eq!(&text[start..end], "0644");
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn only_the_first_document_counts() {
        assert_eq!(first_document("a: 1\n---\n"), ("a: 1\n", None));
        assert_eq!(first_document("---\na: 1\n"), ("---\na: 1\n", None));
        assert_eq!(
            first_document("a: 1\n---\nb: 2\n"),
            ("a: 1\n", Some(Pos { line: 2, column: 1 }))
        );
        assert_eq!(first_document("a: 1\n...\n"), ("a: 1\n", None));
    }

    #[test]
    fn plain_scalars_are_typed_as_psych_types_them() {
        let n = parse("a: yes\nb: y\nc: 0644\nd: 1:30\ne: 0e0\nf: '0644'\n").unwrap();
        let values: Vec<&Value> = map(&n).iter().map(|(_, v)| &v.value).collect();
        assert_eq!(
            values,
            [
                &Value::Bool(true),
                &Value::Str("y".into()),
                &Value::Int(420),
                &Value::Int(5400),
                &Value::Str("0e0".into()),
                &Value::Str("0644".into()),
            ]
        );
    }

    #[test]
    fn aliases_and_dates_are_refused_as_psych_refuses_them() {
        assert!(
            parse("a: &x 1\nb: *x\n")
                .unwrap_err()
                .message
                .contains("alias")
        );
        assert!(parse("a: &x 1\n").is_ok());
        assert!(
            parse("a: 2024-01-31\n")
                .unwrap_err()
                .message
                .contains("date")
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }
}
