//! The `hooks`: scripts per lifecycle event.

use super::suggest::{did_you_mean, list_words};
use super::{HOOK_KEYS, Reader, ruby_text};
use crate::appspec::{EventHooks, Hook, MAX_EVENT_TIMEOUT_SECS};
use crate::lifecycle::LifecycleEvent;
use crate::yaml::{Node, Value};

impl Reader<'_> {
    pub(super) fn hooks(&mut self, node: &Node) -> Vec<EventHooks> {
        let Value::Map(entries) = &node.value else {
            // `hooks: false` is as good as none to the agent (`|| {}`).
            if !matches!(node.value, Value::Null | Value::Bool(false)) {
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
                match did_you_mean(&name, &names) {
                    Some(near) => self.error(
                        key.pos,
                        format!("unknown lifecycle event `{name}`"),
                        Some(format!("did you mean `{near}`?")),
                    ),
                    // A custom event: the service never sends it, but a
                    // local deployment names it with `--events`.
                    None => self.warning(
                        key.pos,
                        format!("`{name}` is not a CodeDeploy lifecycle event: a deployment from the service never runs it"),
                        Some(format!("only a local run does: `slipway-agent local --events {name}` or `codedeploy-local --events {name}`; the events are {}", list_words(&names))),
                    ),
                }
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
            // The agent skips an event whose value is empty or false.
            if matches!(scripts.value, Value::Bool(false)) {
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
        // The agent takes `location.to_s.strip`: a number names a file.
        let location = match &location_node.value {
            Value::Null => {
                self.error(
                    location_node.pos,
                    "`location` is empty",
                    Some(
                        "write the script's path in the bundle, such as `location: scripts/start`"
                            .into(),
                    ),
                );
                return None;
            }
            v @ (Value::Seq(_) | Value::Map(_)) => {
                self.error(
                    location_node.pos,
                    format!("`location` must be a path, found {}", v.kind()),
                    Some("write one path: location: scripts/start".into()),
                );
                return None;
            }
            v => {
                let text = ruby_text(v).unwrap_or_default();
                let raw = self.shown(location_node);
                if !matches!(v, Value::Str(_)) && raw != text {
                    self.warning(
                        location_node.pos,
                        format!("`location: {raw}` names the file `{text}` to the agent"),
                        Some(format!("quote it: location: \"{raw}\"")),
                    );
                }
                text.trim().to_owned()
            }
        };
        if location.is_empty() {
            self.error(
                location_node.pos,
                "`location` is empty",
                Some(
                    "write the script's path in the bundle, such as `location: scripts/start`"
                        .into(),
                ),
            );
            return None;
        }
        let (timeout_secs, timeout_given) = match fields.get("timeout") {
            Some(n) => match self.timeout(n)? {
                Some(t) => (t, true),
                None => (MAX_EVENT_TIMEOUT_SECS, false),
            },
            None => (MAX_EVENT_TIMEOUT_SECS, false),
        };
        let runas = match fields.get("runas") {
            Some(n) => self.runas(n)?,
            None => None,
        };
        let sudo = match fields.get("sudo") {
            Some(n) => self.sudo(n)?,
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

    /// A timeout as the agent reads it, `(value || 3600).to_i`: `Some(None)`
    /// for the default, `None` when it is refused.
    fn timeout(&mut self, n: &Node) -> Option<Option<u64>> {
        let raw = self.shown(n);
        let over = |t: u64| t > MAX_EVENT_TIMEOUT_SECS;
        let whole = "write whole seconds, such as timeout: 300".to_owned();
        let seconds = match &n.value {
            Value::Null => return Some(None),
            Value::Bool(false) => {
                self.warning(
                    n.pos,
                    "`timeout: false` is the default, 3600 s, to the agent",
                    Some("remove it, or write whole seconds".into()),
                );
                return Some(None);
            }
            Value::Int(t) if raw == t.to_string() => *t,
            Value::Int(t) if raw.replace('_', "") == t.to_string() => {
                self.warning(
                    n.pos,
                    format!("`timeout: {raw}` is {t} s to the agent"),
                    Some(format!("write: timeout: {t}")),
                );
                *t
            }
            Value::Int(t) => {
                let how = if raw.contains(':') {
                    "sexagesimal (base 60)"
                } else if raw.to_ascii_lowercase().contains("0x") {
                    "hex"
                } else if raw.to_ascii_lowercase().contains("0b") {
                    "binary"
                } else if raw.starts_with(['0', '+', '-'])
                    && raw.len() > 1
                    && !raw.starts_with("0x")
                {
                    "octal"
                } else {
                    "a number in another base"
                };
                self.error(
                    n.pos,
                    format!("`timeout: {raw}` is {how} to the agent's YAML reader: {t} s"),
                    Some(whole),
                );
                return None;
            }
            Value::Float(x) => {
                self.error(
                    n.pos,
                    format!("`timeout: {raw}` is cut to {} s by the agent", x.trunc()),
                    Some(whole),
                );
                return None;
            }
            Value::Str(s) => {
                let read = ruby_to_i(s);
                let quoted = !self.plain(n);
                if read > 0 && s.trim() == read.to_string() {
                    self.warning(
                        n.pos,
                        format!("`timeout: {raw}` is a string; the agent reads {read}"),
                        Some(format!("remove the quotes: timeout: {read}")),
                    );
                } else if read > 0 && !quoted && s.contains(['e', 'E']) {
                    self.error(
                        n.pos,
                        format!("`timeout: {raw}` is the string \"{s}\" to the agent's YAML reader, which it reads as {read} s"),
                        Some(whole),
                    );
                    return None;
                } else if read > 0 {
                    self.warning(
                        n.pos,
                        format!("`timeout: {raw}` is read as {read} s by the agent"),
                        Some(format!("write: timeout: {read}")),
                    );
                } else {
                    self.error(
                        n.pos,
                        format!("`timeout: {raw}` is {read} s to the agent, which refuses it"),
                        Some(whole),
                    );
                    return None;
                }
                read as i128
            }
            other => {
                self.error(
                    n.pos,
                    format!("`timeout` must be whole seconds, found {}", other.kind()),
                    Some(whole),
                );
                return None;
            }
        };
        if seconds <= 0 {
            self.error(
                n.pos,
                format!("`timeout: {raw}` must be more than 0 seconds"),
                Some("the default, when timeout is left out, is 3600".into()),
            );
            return None;
        }
        let seconds = u64::try_from(seconds).unwrap_or(u64::MAX);
        if over(seconds) {
            self.error(
                n.pos,
                format!(
                    "`timeout: {raw}` is over CodeDeploy's {MAX_EVENT_TIMEOUT_SECS} s per event"
                ),
                Some(format!("use at most timeout: {MAX_EVENT_TIMEOUT_SECS}")),
            );
            return None;
        }
        Some(Some(seconds))
    }

    /// `runas`: a user name for `su`. `Some(None)` when unset.
    fn runas(&mut self, n: &Node) -> Option<Option<String>> {
        match &n.value {
            Value::Null => Some(None),
            Value::Int(_) => {
                let raw = self.shown(n);
                self.error(
                    n.pos,
                    format!("`runas: {raw}` fails the hook: the agent runs `su {raw}`, which needs a user name"),
                    Some("write the user's name, such as runas: www-data".into()),
                );
                None
            }
            Value::Str(s)
                if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) =>
            {
                let raw = self.shown(n);
                self.error(
                    n.pos,
                    format!("`runas: {raw}` fails the hook: the agent runs `su {}`, which needs a user name", s.trim()),
                    Some("write the user's name, such as runas: www-data".into()),
                );
                None
            }
            _ => {
                let user = self.string(n, "runas")?.trim().to_owned();
                if user.is_empty() {
                    self.warning(
                        n.pos,
                        "`runas` is an empty string: the agent runs the script with `su -c`, as root",
                        Some("name the user, or remove `runas`".into()),
                    );
                }
                Some(Some(user))
            }
        }
    }

    /// `sudo` as the host reads it: anything but false or nothing is sudo.
    fn sudo(&mut self, n: &Node) -> Option<bool> {
        let raw = self.shown(n);
        match &n.value {
            Value::Null => Some(false),
            Value::Bool(b) => Some(*b),
            // YAML 1.2 readers take `y`/`n` as booleans; the agent's takes
            // them as strings, and any string means sudo.
            Value::Str(s)
                if self.plain(n) && ["y", "n"].contains(&s.to_ascii_lowercase().as_str()) =>
            {
                let meant = if s.eq_ignore_ascii_case("y") {
                    "true"
                } else {
                    "false"
                };
                self.warning(
                    n.pos,
                    format!("`sudo: {raw}` is the string \"{s}\" to the agent, and any value but false or nothing runs the script under sudo"),
                    Some(format!("write: sudo: {meant}")),
                );
                Some(true)
            }
            _ => {
                self.error(
                    n.pos,
                    format!("`sudo: {raw}` is not a boolean: the agent runs the script under sudo for any value but false or nothing"),
                    Some("write sudo: true or sudo: false, without quotes".into()),
                );
                None
            }
        }
    }
}

/// Ruby's `String#to_i`: leading blanks, a sign, then digits (with single
/// underscores between them) up to the first other character; 0 if none.
fn ruby_to_i(s: &str) -> i64 {
    let s = s.trim_start();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut digits = String::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b @ b'0'..=b'9' => digits.push(b as char),
            b'_' if !digits.is_empty() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => break,
        }
        i += 1;
    }
    let n: i64 = digits.parse().unwrap_or(0);
    if negative { -n } else { n }
}
