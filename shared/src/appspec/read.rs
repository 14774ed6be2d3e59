//! Appspec text to [`AppSpec`]. Every problem is collected with its line and
//! column; the parts that could be read are kept, so the tree checks can
//! still look at them.

use std::path::{Path, PathBuf};

use super::values::{Ace, Mode, SelinuxRange};
use super::{
    AppSpec, Context, EventHooks, FileExistsBehavior, FileMapping, Hook, MAX_EVENT_TIMEOUT_SECS,
    ObjectType, Os, Permission,
};
use crate::lifecycle::LifecycleEvent;
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
    let mut r = Reader {
        file: file.to_owned(),
        text,
        problems: Vec::new(),
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
        let hint = if e.message.contains("aliases") {
            Some("an appspec needs no anchors or aliases; write the values out".into())
        } else if e.message.contains("nested") {
            Some("an appspec is at most a few levels deep".into())
        } else if e.message.contains("duplicate") {
            Some("each key may appear once per mapping; merge or delete the repeat".into())
        } else {
            Some("check the quoting and indentation at this position".into())
        };
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
                let hint = match did_you_mean(name, allowed) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("the keys are {}", list_words(allowed)),
                };
                self.error(
                    key.pos,
                    format!("unknown key `{name}` in {what}"),
                    Some(hint),
                );
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
                self.error(node.pos, format!("`{field}` is empty"), None);
                None
            }
            other @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                let raw = self.raw(node).unwrap_or("?").to_owned();
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
            _ => false,
        };
        if !ok {
            let raw = self.raw(node).unwrap_or("?").to_owned();
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

    fn file_mapping(&mut self, node: &Node) -> Option<FileMapping> {
        let fields = self.mapping(node, "a `files` entry", FILE_KEYS)?;
        let source = self.required(&fields, "source", "a `files` entry");
        let destination = self.required(&fields, "destination", "a `files` entry");
        let source = self.string(source?, "source");
        let destination_node = destination?;
        let destination = self.string(destination_node, "destination")?;
        if !destination.starts_with('/') {
            self.error(
                destination_node.pos,
                format!("`destination: {destination}` is not an absolute path"),
                Some("the destination is a directory on the host, such as /srv/app".into()),
            );
            return None;
        }
        Some(FileMapping {
            source: source?,
            destination,
            pos: node.pos,
        })
    }

    fn file_exists_behavior(&mut self, node: &Node) -> Option<FileExistsBehavior> {
        let value = self.string(node, "file_exists_behavior")?;
        let names = FileExistsBehavior::ALL.map(|(n, _)| n);
        if let Some((_, b)) = FileExistsBehavior::ALL.iter().find(|(n, _)| *n == value) {
            return Some(*b);
        }
        if let Some((n, b)) = FileExistsBehavior::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&value))
        {
            self.warning(
                node.pos,
                format!("`file_exists_behavior: {value}` is documented in upper case"),
                Some(format!("write: file_exists_behavior: {n}")),
            );
            return Some(*b);
        }
        self.error(
            node.pos,
            format!("unknown `file_exists_behavior: {value}`"),
            Some(format!("use one of {}", list_words(&names))),
        );
        None
    }

    fn permission(&mut self, node: &Node) -> Option<Permission> {
        let fields = self.mapping(node, "a `permissions` entry", PERMISSION_KEYS)?;
        let object = self
            .required(&fields, "object", "a `permissions` entry")
            .and_then(|n| self.string(n, "object"));
        let pattern = match fields.get("pattern") {
            Some(n) => self.string(n, "pattern"),
            None => Some("**".to_owned()),
        };
        let except = fields
            .get("except")
            .map(|n| self.list(n, "except", |r, n| r.string(n, "except")))
            .unwrap_or_default();
        let types = match fields.get("type") {
            Some(n) => self.list(n, "type", |r, n| {
                let t = r.string(n, "type")?;
                match t.as_str() {
                    "file" => Some(ObjectType::File),
                    "directory" => Some(ObjectType::Directory),
                    other => {
                        r.error(
                            n.pos,
                            format!("unknown permission type `{other}`"),
                            Some("use file or directory".into()),
                        );
                        None
                    }
                }
            }),
            None => vec![ObjectType::File, ObjectType::Directory],
        };
        let owner = fields.get("owner").and_then(|n| self.string(n, "owner"));
        let group = fields.get("group").and_then(|n| self.string(n, "group"));
        let mode = fields.get("mode").and_then(|n| self.mode(n));
        let acls = fields
            .get("acls")
            .map(|n| {
                self.list(n, "acls", |r, n| {
                    let entry = r.string(n, "acls")?;
                    Ace::parse(&entry)
                        .map_err(|e| {
                            r.error(
                                n.pos,
                                e,
                                Some("write entries like u:bob:rw or d:g:web:5".into()),
                            )
                        })
                        .ok()
                })
            })
            .unwrap_or_default();
        let context = fields.get("context").and_then(|n| self.context(n));
        Some(Permission {
            object: object?,
            pattern: pattern?,
            except,
            types,
            owner,
            group,
            mode,
            acls,
            context,
            pos: node.pos,
        })
    }

    fn mode(&mut self, node: &Node) -> Option<Mode> {
        let digits = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => {
                let raw = self.raw(node).unwrap_or("?").to_owned();
                if raw.len() > 1 && raw.starts_with('0') {
                    let octal = raw.trim_start_matches('0');
                    let as_read = u64::from_str_radix(octal, 8)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|_| raw.clone());
                    self.error(
                        node.pos,
                        format!(
                            "unquoted `mode: {raw}` is a YAML octal number: the agent reads it as {as_read}, not {raw}"
                        ),
                        Some(format!("quote it: mode: \"{raw}\"")),
                    );
                    return None;
                }
                raw
            }
            other => {
                self.error(
                    node.pos,
                    format!("`mode` must be octal digits, found {}", other.kind()),
                    Some("write it like mode: \"0644\"".into()),
                );
                return None;
            }
        };
        Mode::parse(&digits)
            .map_err(|e| self.error(node.pos, e, Some("write it like mode: \"0644\"".into())))
            .ok()
    }

    fn context(&mut self, node: &Node) -> Option<Context> {
        let fields = self.mapping_with(node, "a `context`", CONTEXT_KEYS, CONTEXT_MISREAD_KEYS)?;
        for (key, _, pos) in &fields.entries {
            match *key {
                // `user` is what AWS's guide shows, but the agent reads the
                // SELinux user from `name` and ignores `user`: warn rather
                // than refuse, so a documented appspec still passes.
                "user" => self.warning(
                    *pos,
                    "the agent ignores `user` in a context",
                    Some("write the SELinux user as `name: unconfined_u`".into()),
                ),
                "role" => self.error(
                    *pos,
                    "a context cannot set a role",
                    Some("the agent sets no SELinux role; remove `role`".into()),
                ),
                _ => {}
            }
        }
        let name = fields.get("name").and_then(|n| self.string(n, "name"));
        let kind = self
            .required(&fields, "type", "a `context`")
            .and_then(|n| self.string(n, "type"))?;
        let range = match fields.get("range") {
            Some(n) => {
                let text = self.string(n, "range")?;
                Some(
                    SelinuxRange::parse(&text)
                        .map_err(|e| {
                            self.error(n.pos, e, Some("write it like s0-s3:c0,c2.c5".into()))
                        })
                        .ok()?,
                )
            }
            None => None,
        };
        Some(Context { name, kind, range })
    }

    fn hooks(&mut self, node: &Node) -> Vec<EventHooks> {
        let Value::Map(entries) = &node.value else {
            if !matches!(node.value, Value::Null) {
                self.error(
                    node.pos,
                    format!(
                        "`hooks` must be a mapping of events to scripts, found {}",
                        node.value.kind()
                    ),
                    Some("write each event as a key with a list of scripts under it".into()),
                );
            }
            return Vec::new();
        };
        let names: Vec<&str> = LifecycleEvent::ALL
            .iter()
            .filter(|e| e.takes_hooks())
            .map(|e| e.name())
            .collect();
        let mut out = Vec::new();
        for (key, scripts) in entries {
            let Some(name) = self.string(key, "hook event") else {
                continue;
            };
            let Some(event) = LifecycleEvent::from_name(&name) else {
                let hint = match did_you_mean(&name, &names) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("the events are {}", list_words(&names)),
                };
                self.error(
                    key.pos,
                    format!("unknown lifecycle event `{name}`"),
                    Some(hint),
                );
                continue;
            };
            if !event.takes_hooks() {
                self.error(
                    key.pos,
                    format!("{event} is run by the agent itself and cannot have hooks"),
                    Some("move these scripts to BeforeInstall or AfterInstall".into()),
                );
                continue;
            }
            let scripts = self.list(scripts, event.name(), Self::hook);
            let given: u64 = scripts
                .iter()
                .filter(|h| h.timeout_given)
                .map(|h| h.timeout_secs)
                .sum();
            if given > MAX_EVENT_TIMEOUT_SECS {
                self.error(
                    key.pos,
                    format!("the timeouts of {event} add up to {given} s, over CodeDeploy's {MAX_EVENT_TIMEOUT_SECS} s per event"),
                    Some("shorten the timeouts, or split the work across events".into()),
                );
            }
            out.push(EventHooks {
                event,
                pos: key.pos,
                scripts,
            });
        }
        out
    }

    fn hook(&mut self, node: &Node) -> Option<Hook> {
        let fields = self.mapping(node, "a hook", HOOK_KEYS)?;
        let location_node = self.required(&fields, "location", "a hook")?;
        let location = self.string(location_node, "location")?.trim().to_owned();
        if location.is_empty() {
            self.error(location_node.pos, "`location` is empty", None);
            return None;
        }
        let mut timeout_secs = MAX_EVENT_TIMEOUT_SECS;
        let mut timeout_given = false;
        if let Some(n) = fields.get("timeout") {
            match &n.value {
                Value::Int(t) if *t > 0 && *t <= i128::from(MAX_EVENT_TIMEOUT_SECS) => {
                    timeout_secs = *t as u64;
                    timeout_given = true;
                }
                Value::Int(t) if *t > 0 => {
                    self.error(
                        n.pos,
                        format!("`timeout: {t}` is over CodeDeploy's {MAX_EVENT_TIMEOUT_SECS} s per event"),
                        Some(format!("use at most timeout: {MAX_EVENT_TIMEOUT_SECS}")),
                    );
                    return None;
                }
                Value::Int(t) => {
                    self.error(
                        n.pos,
                        format!("`timeout: {t}` must be more than 0 seconds"),
                        Some("the default, when timeout is left out, is 3600".into()),
                    );
                    return None;
                }
                // The agent calls `to_i` on the value, so a quoted number
                // works there; say so, but let it pass.
                Value::Str(t) if quoted_timeout(t).is_some() => {
                    timeout_secs = quoted_timeout(t).unwrap_or(MAX_EVENT_TIMEOUT_SECS);
                    timeout_given = true;
                    self.warning(
                        n.pos,
                        format!("`timeout: \"{t}\"` is a string"),
                        Some(format!("remove the quotes: timeout: {}", t.trim())),
                    );
                }
                other => {
                    let raw = self.raw(n).unwrap_or("?").to_owned();
                    self.error(
                        n.pos,
                        format!(
                            "`timeout` must be whole seconds, found {} (`{raw}`)",
                            other.kind()
                        ),
                        Some("write it like timeout: 300".into()),
                    );
                    return None;
                }
            }
        }
        let runas = fields.get("runas").and_then(|n| self.string(n, "runas"));
        let sudo = match fields.get("sudo") {
            Some(Node {
                value: Value::Bool(b),
                ..
            }) => *b,
            Some(n) => {
                self.error(
                    n.pos,
                    format!("`sudo` must be true or false, found {}", n.value.kind()),
                    Some("write `sudo: true` without quotes".into()),
                );
                false
            }
            None => false,
        };
        Some(Hook {
            location,
            timeout_secs,
            timeout_given,
            runas,
            sudo,
            pos: location_node.pos,
        })
    }
}

/// A quoted timeout the agent would read as a valid number of seconds.
fn quoted_timeout(t: &str) -> Option<u64> {
    t.trim()
        .parse::<u64>()
        .ok()
        .filter(|t| (1..=MAX_EVENT_TIMEOUT_SECS).contains(t))
}

fn is_only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

fn list_words(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allowed word closest to `word`, if it is close enough to be a typo.
fn did_you_mean<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (edit_distance(&lower, &a.to_ascii_lowercase()), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("hoks", "hooks"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
