//! The XML-RPC encoding supervisord speaks: a method call out, a value or a
//! fault back. Only the types Supervisor 4 sends are modelled; the document
//! is read into a small element tree first so the value rules stay readable.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;

/// One XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` / `<i4>`.
    Int(i64),
    /// `<boolean>`.
    Bool(bool),
    /// `<string>` or an untyped value.
    Str(String),
    /// `<double>`.
    Double(f64),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`.
    Struct(BTreeMap<String, Value>),
    /// `<nil/>`, `<base64>` or `<dateTime.iso8601>` kept as text.
    Other(String),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Other(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A member of a struct.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.get(name),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

/// What a method call came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The method's return value.
    Value(Value),
    /// A `<fault>`: Supervisor's code and `"NAME: detail"` string.
    Fault {
        /// The fault code.
        code: i64,
        /// The fault string.
        string: String,
    },
}

/// The `<methodCall>` document for `method(params…)`.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&escape(method));
    out.push_str("</methodName><params>");
    for param in params {
        out.push_str("<param>");
        encode_value(param, &mut out);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>");
    out
}

fn encode_value(value: &Value, out: &mut String) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Str(s) | Value::Other(s) => {
            let _ = write!(out, "<string>{}</string>", escape(s.as_str()));
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d}</double>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                encode_value(item, out);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, member) in members {
                let _ = write!(out, "<member><name>{}</name>", escape(name.as_str()));
                encode_value(member, out);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

/// Why a response document could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed XML-RPC response: {0}")]
pub struct DecodeError(pub String);

#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Result<&Element, DecodeError> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| DecodeError(format!("<{}> has no <{name}>", self.name)))
    }
}

fn parse_tree(xml: &str) -> Result<Element, DecodeError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack = vec![Element::default()];
    let bad = |e: &dyn std::fmt::Display| DecodeError(e.to_string());
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(start) => stack.push(Element {
                name: start.name().as_ref().to_owned(),
                ..Element::default()
            }),
            Event::Empty(empty) => {
                let element = Element {
                    name: empty.name().as_ref().to_owned(),
                    ..Element::default()
                };
                stack.last_mut().expect("root").children.push(element);
            }
            Event::End(_) => {
                let done = stack.pop().expect("matched by the reader");
                stack
                    .last_mut()
                    .ok_or_else(|| DecodeError("unbalanced end tag".into()))?
                    .children
                    .push(done);
            }
            Event::Text(text) => stack
                .last_mut()
                .expect("root")
                .text
                .push_str(&text.xml10_content()),
            Event::CData(data) => stack
                .last_mut()
                .expect("root")
                .text
                .push_str(&data.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.xml10_content();
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| DecodeError(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                stack.last_mut().expect("root").text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match stack.pop() {
        Some(root) if stack.is_empty() => Ok(root),
        _ => Err(DecodeError("document ended inside an element".into())),
    }
}

fn decode_value(value: &Element) -> Result<Value, DecodeError> {
    let Some(typed) = value.children.first() else {
        return Ok(Value::Str(value.text.clone()));
    };
    let number = |t: &str| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| DecodeError(format!("<{}> is not a number: {t:?}", typed.name)))
    };
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => Value::Int(number(&typed.text)?),
        "boolean" => Value::Bool(number(&typed.text)? != 0),
        "string" => Value::Str(typed.text.clone()),
        "double" => Value::Double(
            typed
                .text
                .trim()
                .parse()
                .map_err(|_| DecodeError(format!("bad <double> {:?}", typed.text)))?,
        ),
        "array" => Value::Array(
            typed
                .child("data")?
                .children
                .iter()
                .map(decode_value)
                .collect::<Result<_, _>>()?,
        ),
        "struct" => {
            let mut members = BTreeMap::new();
            for member in &typed.children {
                let name = member.child("name")?.text.clone();
                members.insert(name, decode_value(member.child("value")?)?);
            }
            Value::Struct(members)
        }
        _ => Value::Other(typed.text.clone()),
    })
}

/// Reads a `<methodResponse>`.
pub fn decode_response(xml: &str) -> Result<Response, DecodeError> {
    let root = parse_tree(xml)?;
    let response = root.child("methodResponse")?;
    if let Ok(fault) = response.child("fault") {
        let value = decode_value(fault.child("value")?)?;
        let code = value.member("faultCode").and_then(Value::as_int);
        let string = value.member("faultString").and_then(Value::as_str);
        return match (code, string) {
            (Some(code), Some(string)) => Ok(Response::Fault {
                code,
                string: string.to_owned(),
            }),
            _ => Err(DecodeError("fault without faultCode/faultString".into())),
        };
    }
    let param = response.child("params")?.child("param")?;
    Ok(Response::Value(decode_value(param.child("value")?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_escapes_its_strings() {
        let xml = encode_call("supervisor.startProcess", &["a<b&c".into(), true.into()]);
        assert!(xml.contains("<string>a&lt;b&amp;c</string>"), "{xml}");
        assert!(xml.contains("<boolean>1</boolean>"), "{xml}");
    }

    #[test]
    fn a_fault_becomes_its_code_and_string() {
        let xml = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>60</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>ALREADY_STARTED: gunicorn</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(
            decode_response(xml).unwrap(),
            Response::Fault {
                code: 60,
                string: "ALREADY_STARTED: gunicorn".into()
            }
        );
    }

    #[test]
    fn nested_values_and_entities_decode() {
        let xml = "<methodResponse><params><param><value><array><data><value><struct><member><name>name</name><value><string>a &amp; b&#33;</string></value></member><member><name>pid</name><value><int>7</int></value></member></struct></value><value>bare</value><value><string/></value></data></array></value></param></params></methodResponse>";
        let Response::Value(Value::Array(items)) = decode_response(xml).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(items[0].member("name").unwrap().as_str(), Some("a & b!"));
        assert_eq!(items[0].member("pid").unwrap().as_int(), Some(7));
        assert_eq!(items[1], Value::Str("bare".into()));
        assert_eq!(items[2], Value::Str(String::new()));
    }

    #[test]
    fn a_truncated_document_is_an_error() {
        assert!(decode_response("<methodResponse><params>").is_err());
    }
}
