//! The `permissions` entries: modes, owners, ACLs and SELinux contexts.

use super::{CONTEXT_KEYS, CONTEXT_MISREAD_KEYS, PERMISSION_KEYS, Reader};
use crate::appspec::values::{Ace, Mode, SelinuxRange};
use crate::appspec::{Context, ObjectType, Permission};
use crate::yaml::{Node, Value};

impl Reader<'_> {
    pub(super) fn permission(&mut self, node: &Node) -> Option<Permission> {
        let fields = self.mapping(node, "a `permissions` entry", PERMISSION_KEYS)?;
        let object = self
            .required(&fields, "object", "a `permissions` entry")
            .and_then(|n| {
                let object = self.string(n, "object")?.trim().to_owned();
                if object.is_empty() {
                    self.error(
                        n.pos,
                        "`object` is empty: the agent fails the deployment",
                        Some("name the host path, such as `object: /srv/app`".into()),
                    );
                    return None;
                }
                Some(object)
            });
        let pattern = match fields.get("pattern") {
            Some(Node {
                value: Value::Null, ..
            })
            | None => Some("**".to_owned()),
            Some(n) => {
                let pattern = self.string(n, "pattern");
                if let Some(p) = pattern.as_deref().filter(|p| *p != "**" && p.contains('/')) {
                    self.warning(
                        n.pos,
                        format!("`pattern: {p}` matches nothing on the host: a pattern other than `**` matches the names of the object's direct children, and a name has no `/`"),
                        Some("use `**` for everything below the object, or a `*` glob of child names such as \"*.py\"".into()),
                    );
                }
                pattern
            }
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
        let owner = fields.get("owner").and_then(|n| self.account(n, "owner"));
        let group = fields.get("group").and_then(|n| self.account(n, "group"));
        // An empty mode is unset to the agent, as templates leave it.
        let mode = fields
            .get("mode")
            .filter(|n| !matches!(n.value, Value::Null))
            .and_then(|n| self.mode(n));
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

    /// An owner or group: a name, since the agent looks it up with
    /// `getpwnam`/`getgrnam`, which take no numbers. Empty is unset.
    fn account(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            Value::Null => None,
            Value::Int(_) => {
                let raw = self.shown(node);
                self.error(
                    node.pos,
                    format!("`{field}: {raw}` fails Install: the agent looks the {field} up by name, and a number is not one"),
                    Some(format!("write the {field}'s name, such as {field}: www-data")),
                );
                None
            }
            Value::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                let raw = self.shown(node);
                self.error(
                    node.pos,
                    format!("`{field}: {raw}` fails Install: the agent looks the {field} up by name, and no {field} is named {s}"),
                    Some(format!("write the {field}'s name, such as {field}: www-data")),
                );
                None
            }
            _ => self.string(node, field),
        }
    }

    fn mode(&mut self, node: &Node) -> Option<Mode> {
        let hint = || Some("write it quoted, like mode: \"0644\"".to_owned());
        let digits = match &node.value {
            Value::Str(s) => {
                if let Err(e) = Mode::parse(s) {
                    let e = if s.len() > 4 && s.starts_with("0o") {
                        format!(
                            "`mode: {s}` is the string \"{s}\" to the agent, which refuses it as longer than four characters"
                        )
                    } else {
                        e
                    };
                    self.error(node.pos, e, hint());
                    return None;
                }
                s.clone()
            }
            Value::Int(n) => {
                let raw = self.shown(node);
                let read = n.to_string();
                if raw == read {
                    read
                } else if raw.trim_start_matches('+') == read {
                    self.warning(
                        node.pos,
                        format!("`mode: {raw}` is the number {read} to the agent"),
                        Some(format!("write: mode: \"{read}\"")),
                    );
                    read
                } else if *n == 0 {
                    self.warning(
                        node.pos,
                        format!("`mode: {raw}` is the number zero to the agent: it sets mode 000"),
                        Some("if no access is meant, write mode: \"000\"; otherwise quote the digits".into()),
                    );
                    read
                } else if raw.to_ascii_lowercase().starts_with("0x") {
                    self.error(
                        node.pos,
                        format!("`mode: {raw}` is hex to the agent's YAML reader: it reads {read} and sets mode {read}"),
                        hint(),
                    );
                    return None;
                } else if raw.starts_with('0') {
                    self.error(
                        node.pos,
                        format!("unquoted `mode: {raw}` is a YAML 1.1 octal number: the agent reads {read} and sets mode {read}"),
                        Some(format!("quote it: mode: \"{raw}\"")),
                    );
                    return None;
                } else {
                    self.error(
                        node.pos,
                        format!("`mode: {raw}` is the number {read} to the agent"),
                        hint(),
                    );
                    return None;
                }
            }
            Value::Float(_) => {
                let raw = self.shown(node);
                self.error(
                    node.pos,
                    format!("`mode: {raw}` is not octal digits"),
                    hint(),
                );
                return None;
            }
            other => {
                self.error(
                    node.pos,
                    format!("`mode` must be octal digits, found {}", other.kind()),
                    hint(),
                );
                return None;
            }
        };
        Mode::parse(&digits)
            .map_err(|e| self.error(node.pos, e, hint()))
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
                let written = self.string(n, "range")?;
                // Ruby's `split(",")` drops empty trailing fields.
                let text = written.trim_end_matches(',');
                if text.len() < written.len() {
                    self.warning(
                        n.pos,
                        format!("`range: {written}` ends in a comma, which the agent ignores"),
                        Some(format!("write: range: {text}")),
                    );
                }
                Some(
                    SelinuxRange::parse(text)
                        .map_err(|e| {
                            self.error(n.pos, e, Some("write it like s0-s3:c0,c2.c5".into()))
                        })
                        .ok()?,
                )
            }
            None => {
                self.error(
                    fields.pos,
                    "a `context` without `range` fails Install: the agent cannot write its install instructions without one",
                    Some("add the range, such as `range: s0`".into()),
                );
                None
            }
        };
        Some(Context { name, kind, range })
    }
}
