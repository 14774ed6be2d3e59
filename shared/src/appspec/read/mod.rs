//! Appspec text to [`AppSpec`]. Every problem is collected with its line and
//! column; the parts that could be read are kept, so the tree checks can
//! still look at them.

mod files;
mod hooks;
mod permissions;
mod suggest;

use std::path::{Path, PathBuf};

use suggest::{did_you_mean, list_words};

use super::{AppSpec, FileExistsBehavior, Os};
use crate::problem::Problem;
use crate::yaml::{self, Node, Pos, Value};

const TOP_KEYS: &[&str] = &[
    "version",
    "os",
    "files",
    "file_exists_behavior",
    "permissions",
    "hooks",
];
const FILE_KEYS: &[&str] = &["source", "destination"];
const HOOK_KEYS: &[&str] = &["location", "timeout", "runas", "sudo"];
const PERMISSION_KEYS: &[&str] = &[
    "object", "pattern", "except", "type", "owner", "group", "mode", "acls", "context",
];
const CONTEXT_KEYS: &[&str] = &["name", "type", "range"];
/// Keys a context may carry that are reported on their own terms rather
/// than as unknown.
const CONTEXT_MISREAD_KEYS: &[&str] = &["user", "role"];

/// What reading an appspec gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The appspec, with the parts that had errors left out; `None` when the
    /// text is not YAML or not a mapping.
    pub appspec: Option<AppSpec>,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

/// Reads `text`, the appspec at `file` (used only to name it in problems).
pub fn parse(file: &Path, text: &str) -> Parsed {
    let mut problems = Vec::new();
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            let lines = rest.lines().filter(|l| !l.trim().is_empty()).count();
            let (problem, message): (fn(&Path, Pos, String) -> Problem, _) = if lines > 1 {
                (
                    |f, p, m| Problem::error(f, p, m),
                    "the file starts with a byte-order mark: the agent's YAML reader counts it as indentation and reads only line 1",
                )
            } else {
                (
                    |f, p, m| Problem::warning(f, p, m),
                    "the file starts with a byte-order mark: the agent's YAML reader counts it as indentation, so only a one-line appspec survives it",
                )
            };
            problems.push(
                problem(file, Pos { line: 1, column: 1 }, message.to_owned())
                    .with_hint("save the file as UTF-8 without a BOM"),
            );
            rest
        }
        None => text,
    };
    let (first, second) = yaml::first_document(text);
    if let Some(pos) = second {
        problems.push(
            Problem::error(
                file,
                pos,
                "a second YAML document starts here; the agent reads only the first and ignores this one",
            )
            .with_hint("remove this `---` line, or move what follows it into the first document"),
        );
    }
    for (i, line) in first.lines().enumerate() {
        let key = line.trim_start().trim_start_matches("- ").trim_start();
        if key.starts_with("<<:") || key.starts_with("\"<<\":") || key.starts_with("'<<':") {
            let column = (line.len() - key.len()) as u64 + 1;
            problems.push(
                Problem::error(
                    file,
                    Pos { line: i as u64 + 1, column },
                    "a merge key (`<<`): the agent's YAML reader (Psych 4) refuses the aliases merge keys are used with",
                )
                .with_hint("write the merged keys out in full"),
            );
        }
    }
    // The tree the parser builds from a merge key is not the agent's; its
    // other problems would be about keys the writer never wrote.
    if problems.iter().any(|p| p.message.contains("merge key")) {
        problems.sort_by_key(|p| (p.line, p.column));
        return Parsed {
            appspec: None,
            problems,
        };
    }
    let mut r = Reader {
        file: file.to_owned(),
        text: first,
        problems,
    };
    let appspec = r.document();
    let mut problems = r.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    Parsed { appspec, problems }
}

struct Reader<'t> {
    file: PathBuf,
    text: &'t str,
    problems: Vec<Problem>,
}

/// The entries of a mapping whose keys were all known strings.
struct Fields<'n> {
    pos: Pos,
    entries: Vec<(&'n str, &'n Node, Pos)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, _)| *v)
    }
}

impl<'t> Reader<'t> {
    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        let mut p = Problem::error(&self.file, pos, message);
        p.hint = hint;
        self.problems.push(p);
    }

    fn warning(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        let mut p = Problem::warning(&self.file, pos, message);
        p.hint = hint;
        self.problems.push(p);
    }

    /// The source text of a scalar, as written.
    fn raw(&self, node: &Node) -> Option<&'t str> {
        let (start, end) = node.span?;
        self.text.get(start..end).filter(|s| !s.is_empty())
    }

    /// A value as it is written, for messages; "nothing" for an empty one.
    fn shown(&self, node: &Node) -> String {
        match (self.raw(node), &node.value) {
            (_, Value::Null) => "nothing".to_owned(),
            (Some(raw), _) => raw.to_owned(),
            (None, v) => ruby_text(v).unwrap_or_else(|| v.kind().to_owned()),
        }
    }

    /// Whether `node` was written as a plain (unquoted) scalar.
    fn plain(&self, node: &Node) -> bool {
        self.raw(node)
            .is_some_and(|r| !r.starts_with(['"', '\'', '|', '>', '!']))
    }

    fn document(&mut self) -> Option<AppSpec> {
        if self.text.trim().is_empty() || is_only_comments(self.text) {
            self.error(
                Pos::default(),
                "the appspec is empty",
                Some("start from `version: 0.0` and `os: linux`".into()),
            );
            return None;
        }
        let root = match yaml::parse(self.text) {
            Ok(root) => root,
            Err(e) => {
                self.syntax_error(e);
                return None;
            }
        };
        if matches!(root.value, Value::Null) {
            self.error(
                Pos::default(),
                "the appspec is empty",
                Some("start from `version: 0.0` and `os: linux`".into()),
            );
            return None;
        }
        let top = self.mapping(&root, "the appspec", TOP_KEYS)?;
        self.version(&top);
        let os = self.os(&top);
        let files = top
            .get("files")
            .map(|n| self.list(n, "files", Self::file_mapping))
            .unwrap_or_default();
        let file_exists_behavior = top
            .get("file_exists_behavior")
            .and_then(|n| self.file_exists_behavior(n));
        let permissions = top
            .get("permissions")
            .map(|n| self.list(n, "permissions", Self::permission))
            .unwrap_or_default();
        if os == Some(Os::Windows) && !permissions.is_empty() {
            let pos = top.get("permissions").map(|n| n.pos).unwrap_or_default();
            self.error(
                pos,
                "permissions are supported only on Linux",
                Some("remove `permissions`, or target `os: linux`".into()),
            );
        }
        let hooks = top.get("hooks").map(|n| self.hooks(n)).unwrap_or_default();
        Some(AppSpec {
            os: os.unwrap_or(Os::Linux),
            files,
            file_exists_behavior,
            permissions,
            hooks,
        })
    }

    fn syntax_error(&mut self, e: yaml::SyntaxError) {
        // Tabs are the commonest way to break an appspec, and the parser's
        // words for them vary with where the tab sits: name them plainly.
        let tabbed: Vec<Pos> = self
            .text
            .lines()
            .enumerate()
            .filter_map(|(i, line)| {
                let indent: &str = &line[..line.len() - line.trim_start().len()];
                indent.find('\t').map(|col| Pos {
                    line: i as u64 + 1,
                    column: col as u64 + 1,
                })
            })
            .collect();
        if !tabbed.is_empty() {
            for pos in tabbed {
                self.error(
                    pos,
                    "a tab in the indentation",
                    Some("YAML indents with spaces only; replace the tab with spaces".into()),
                );
            }
            return;
        }
        let hint = e
            .hint
            .clone()
            .or_else(|| Some("check the quoting and indentation at this position".into()));
        self.error(e.pos, format!("not valid YAML: {}", e.message), hint);
    }

    /// A mapping whose keys are all strings from `allowed`; unknown keys are
    /// reported and left out.
    fn mapping<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        self.mapping_with(node, what, allowed, &[])
    }

    /// As [`Self::mapping`], also keeping the `misread` keys, which the
    /// caller reports itself.
    fn mapping_with<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
        misread: &[&str],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.value.kind()),
                Some("write it as `key: value` lines".into()),
            );
            return None;
        };
        let mut fields = Fields {
            pos: node.pos,
            entries: Vec::new(),
        };
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                let raw = self.raw(key).unwrap_or("?");
                self.error(
                    key.pos,
                    format!("key `{raw}` in {what} must be a string"),
                    Some(format!("the keys are {}", list_words(allowed))),
                );
                continue;
            };
            if allowed.contains(&name.as_str()) || misread.contains(&name.as_str()) {
                fields.entries.push((name.as_str(), value, key.pos));
            } else {
                match did_you_mean(name, allowed) {
                    Some(near) => self.error(
                        key.pos,
                        format!("unknown key `{name}` in {what}: the agent ignores it"),
                        Some(format!("did you mean `{near}`?")),
                    ),
                    // The agent ignores keys it does not know; at the top
                    // level that is how teams keep their own notes.
                    None if what == "the appspec" => self.warning(
                        key.pos,
                        format!("the agent ignores the key `{name}`"),
                        Some(format!("the keys it reads are {}", list_words(allowed))),
                    ),
                    None => self.error(
                        key.pos,
                        format!("unknown key `{name}` in {what}: the agent ignores it"),
                        Some(format!("the keys are {}", list_words(allowed))),
                    ),
                }
            }
        }
        Some(fields)
    }

    /// A list whose items are read by `item`; `null` is an empty list.
    fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Vec<T> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items.iter().filter_map(|n| item(self, n)).collect(),
            other => {
                self.error(
                    node.pos,
                    format!("`{what}` must be a list, found {}", other.kind()),
                    Some(format!(
                        "write each entry of `{what}` on its own line, starting with `- `"
                    )),
                );
                Vec::new()
            }
        }
    }

    /// A string scalar. Numbers and booleans are refused with a hint to
    /// quote them: YAML 1.1, which the agent speaks, reads `yes`, `0644`
    /// or `1e3` as something other than text.
    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => {
                self.error(
                    node.pos,
                    format!("`{field}` is empty"),
                    Some(format!("give `{field}` a value")),
                );
                None
            }
            other @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                let raw = self.shown(node);
                self.error(
                    node.pos,
                    format!(
                        "`{field}` must be a string, found {} (`{raw}`)",
                        other.kind()
                    ),
                    Some(format!("quote it: {field}: \"{raw}\"")),
                );
                None
            }
            other => {
                self.error(
                    node.pos,
                    format!("`{field}` must be a string, found {}", other.kind()),
                    Some(format!("write one value: {field}: ...")),
                );
                None
            }
        }
    }

    fn required<'n>(&mut self, fields: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let node = fields.get(key);
        if node.is_none() {
            let hint = match key {
                "version" => "add `version: 0.0`",
                "os" => "add `os: linux`",
                "source" => "add the bundle path to copy, such as `source: /`",
                "destination" => {
                    "add the host directory to copy into, such as `destination: /srv/app`"
                }
                "location" => {
                    "add the script's path in the bundle, such as `location: scripts/start`"
                }
                "object" => {
                    "add the host path the permission applies to, such as `object: /srv/app`"
                }
                "type" => "add the SELinux type, such as `type: httpd_sys_content_t`",
                _ => "add it",
            };
            self.error(
                fields.pos,
                format!("{what} has no `{key}`"),
                Some(hint.into()),
            );
        }
        node
    }

    fn version(&mut self, top: &Fields<'_>) {
        let Some(node) = self.required(top, "version", "the appspec") else {
            return;
        };
        let ok = match &node.value {
            Value::Float(v) => *v == 0.0,
            Value::Int(v) => *v == 0,
            Value::Str(s) if s == "0.0" => {
                self.error(
                    node.pos,
                    "`version` is the string \"0.0\"; CodeDeploy wants the number 0.0",
                    Some("remove the quotes: version: 0.0".into()),
                );
                return;
            }
            Value::Str(s)
                if self.plain(node) && s.parse::<f64>().is_ok_and(|v| v == 0.0)
                    || s_is_zero_literal(&node.value) =>
            {
                self.error(
                    node.pos,
                    format!("`version: {s}` is the string \"{s}\" to the agent: YAML 1.1 reads a number with a decimal point and no bare exponent as a float, and nothing else"),
                    Some("write: version: 0.0".into()),
                );
                return;
            }
            _ => false,
        };
        if matches!(node.value, Value::Null) {
            self.error(
                node.pos,
                "`version` is empty; the only version is 0.0",
                Some("write: version: 0.0".into()),
            );
            return;
        }
        if !ok {
            let raw = self.shown(node);
            self.error(
                node.pos,
                format!("`version` is `{raw}`; the only version is 0.0"),
                Some("write: version: 0.0".into()),
            );
        }
    }

    fn os(&mut self, top: &Fields<'_>) -> Option<Os> {
        let node = self.required(top, "os", "the appspec")?;
        let os = self.string(node, "os")?;
        match os.as_str() {
            "linux" => Some(Os::Linux),
            "windows" => {
                self.error(
                    node.pos,
                    "`os: windows` cannot deploy to the Linux hosts Slipway serves",
                    Some("write: os: linux".into()),
                );
                Some(Os::Windows)
            }
            other => {
                let hint = if other.eq_ignore_ascii_case("linux") {
                    "write it in lower case: os: linux".to_owned()
                } else {
                    "write: os: linux".to_owned()
                };
                self.error(
                    node.pos,
                    format!("unsupported `os: {other}`; CodeDeploy knows linux and windows"),
                    Some(hint),
                );
                None
            }
        }
    }

    fn file_exists_behavior(&mut self, node: &Node) -> Option<FileExistsBehavior> {
        // Templates leave the key empty; the agent reads that as unset.
        if matches!(node.value, Value::Null) {
            return None;
        }
        let value = self.string(node, "file_exists_behavior")?;
        let names = FileExistsBehavior::ALL.map(|(n, _)| n);
        if let Some((_, b)) = FileExistsBehavior::ALL.iter().find(|(n, _)| *n == value) {
            return Some(*b);
        }
        if let Some((n, _)) = FileExistsBehavior::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&value))
        {
            self.error(
                node.pos,
                format!("`file_exists_behavior: {value}` fails the deployment: the agent accepts only upper case"),
                Some(format!("write: file_exists_behavior: {n}")),
            );
            return None;
        }
        self.error(
            node.pos,
            format!("unknown `file_exists_behavior: {value}`"),
            Some(format!("use one of {}", list_words(&names))),
        );
        None
    }
}

/// `0o0`, `0x0` and the like: zero in YAML 1.2, strings to Psych.
fn s_is_zero_literal(value: &Value) -> bool {
    let Value::Str(s) = value else {
        return false;
    };
    let s = s.to_ascii_lowercase();
    ["0o", "0x", "0b"].iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b == b'0'))
    })
}

/// What Ruby's `to_s` gives for a scalar, as the agent stringifies
/// `location`, `object`, `runas` and `mode`.
pub(super) fn ruby_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e16 => Some(format!("{x:.1}")),
        Value::Float(x) => Some(x.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Seq(_) | Value::Map(_) => None,
    }
}

fn is_only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::LifecycleEvent;

    fn problems(text: &str) -> Vec<String> {
        parse(Path::new("appspec.yml"), text)
            .problems
            .iter()
            .map(|p| format!("{}:{} {}", p.line, p.column, p.message))
            .collect()
    }

    #[test]
    fn a_minimal_appspec_reads_clean() {
        let parsed = parse(Path::new("appspec.yml"), "version: 0.0\nos: linux\n");
        assert_eq!(parsed.problems, []);
        assert_eq!(parsed.appspec.unwrap().os, Os::Linux);
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let p = problems("version: \"0.0\"\nos: linux\nfile: []\nhooks:\n  AfterInstal: []\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("1:10 "), "{p:?}");
        assert!(p[1].starts_with("3:1 unknown key `file`"), "{p:?}");
        assert!(
            p[2].starts_with("5:3 unknown lifecycle event `AfterInstal`"),
            "{p:?}"
        );
    }

    #[test]
    fn typos_get_a_suggestion() {
        let parsed = parse(
            Path::new("appspec.yml"),
            "version: 0.0\nos: linux\nhoks: {}\n",
        );
        assert_eq!(
            parsed.problems[0].hint.as_deref(),
            Some("did you mean `hooks`?")
        );
    }

    #[test]
    fn hook_defaults_follow_the_agent() {
        let parsed = parse(
            Path::new("appspec.yml"),
            "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/a\n",
        );
        let spec = parsed.appspec.unwrap();
        let hook = &spec.hooks_for(LifecycleEvent::AfterInstall)[0];
        assert_eq!(
            (hook.timeout_secs, hook.timeout_given, hook.sudo),
            (3600, false, false)
        );
        assert_eq!(
            hook.pos,
            Pos {
                line: 5,
                column: 17
            }
        );
    }
}
