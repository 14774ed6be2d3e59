//! Workflow commands: `::name key=value,…::message` lines on stdout.
//!
//! The runner unescapes `%25`, `%0D` and `%0A` in messages, and also `%3A` and
//! `%2C` in property values; anything else would split or truncate the
//! command, so every value goes through [`escape_data`] or
//! [`escape_property`].

use std::fmt;

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::error`: fails nothing by itself, but shows red on the run.
    Error,
    /// `::warning`
    Warning,
    /// `::notice`
    Notice,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// An annotation attached to a file position on the run's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation<'a> {
    /// Error, warning or notice.
    pub level: Level,
    /// The file, relative to the workspace, as the runner links it.
    pub file: Option<&'a str>,
    /// 1-based line.
    pub line: Option<u64>,
    /// 1-based column.
    pub col: Option<u64>,
    /// A short title shown in bold.
    pub title: Option<&'a str>,
    /// The text.
    pub message: &'a str,
}

impl fmt::Display for Annotation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut props = Vec::new();
        if let Some(file) = self.file {
            props.push(format!("file={}", escape_property(file)));
        }
        if let Some(line) = self.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = self.col {
            props.push(format!("col={col}"));
        }
        if let Some(title) = self.title {
            props.push(format!("title={}", escape_property(title)));
        }
        write!(f, "::{}", self.level.name())?;
        if !props.is_empty() {
            write!(f, " {}", props.join(","))?;
        }
        write!(f, "::{}", escape_data(self.message))
    }
}

/// `::add-mask::value`: the runner replaces `value` with `***` in every
/// later line of the job's log. Must be printed before the value is.
pub fn add_mask(value: &str) -> String {
    format!("::add-mask::{}", escape_data(value))
}

/// `::group::title`: folds the lines up to [`end_group`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

/// `::endgroup::`
pub fn end_group() -> &'static str {
    "::endgroup::"
}

/// `::debug::message`: shown only when step debug logging is on.
pub fn debug(message: &str) -> String {
    format!("::debug::{}", escape_data(message))
}

/// Escapes a command's message part.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value, which also may not contain `:` or `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_with_position_renders_as_the_runner_parses_it() {
        let a = Annotation {
            level: Level::Error,
            file: Some("appspec.yml"),
            line: Some(3),
            col: Some(5),
            title: None,
            message: "unknown key `hook`",
        };
        assert_eq!(
            a.to_string(),
            "::error file=appspec.yml,line=3,col=5::unknown key `hook`"
        );
    }

    #[test]
    fn newlines_and_percent_in_a_message_are_escaped() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
    }

    #[test]
    fn colons_and_commas_in_a_property_are_escaped() {
        let a = Annotation {
            level: Level::Warning,
            file: Some("a,b:c.yml"),
            line: None,
            col: None,
            title: Some("x: y"),
            message: "m",
        };
        assert_eq!(
            a.to_string(),
            "::warning file=a%2Cb%3Ac.yml,title=x%3A y::m"
        );
    }

    #[test]
    fn a_mask_keeps_the_value_on_one_line() {
        assert_eq!(add_mask("a\nb"), "::add-mask::a%0Ab");
    }
}
