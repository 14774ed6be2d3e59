//! The hooks config (YAML, by default `/etc/slipway/hooks.yml`): the steps
//! each lifecycle event runs, each written as `slipway-agent step` takes it,
//! with `${NAME}` taken from the environment; and the env file (the hook
//! scripts' `stack.env`) whose `NAME=value` lines join that environment.
//!
//! ```yaml
//! env_file: /etc/slipway/stack.env
//! events:
//!   ApplicationStop: []
//!   AfterInstall:
//!     - release-copy --from ${SHOP_BUNDLE}
//!     - migrate --python ${SHOP_VENV}/bin/python
//! ```

use std::path::{Path, PathBuf};

use slipway_shared::lifecycle::LifecycleEvent;
use slipway_shared::yaml::{self, Node, Value};

use super::error::HookError;

/// A parsed hooks config.
#[derive(Debug, Clone, PartialEq)]
pub struct HooksConfig {
    /// The file it came from, for messages.
    pub path: PathBuf,
    /// `env_file`: read before the steps' lines are expanded.
    pub env_file: Option<PathBuf>,
    /// `events`, in file order.
    pub events: Vec<(LifecycleEvent, Vec<StepLine>)>,
}

/// One step as written, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    /// Its 1-based line in the config.
    pub line: u64,
    /// The text: a step name and its arguments.
    pub text: String,
}

impl HooksConfig {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<HooksConfig, HookError> {
        let text = std::fs::read_to_string(path).map_err(|source| HookError::Read {
            path: path.to_owned(),
            source,
        })?;
        HooksConfig::parse(path, &text)
    }

    /// Parses the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<HooksConfig, HookError> {
        let bad = |line: u64, reason: String| HookError::Config {
            path: path.to_owned(),
            line,
            reason,
        };
        let root = yaml::parse(text).map_err(|e| bad(e.pos.line, e.to_string()))?;
        let Value::Map(entries) = root.value else {
            return Err(bad(
                root.pos.line,
                format!(
                    "expected a mapping with `events:`, found {}",
                    root.value.kind()
                ),
            ));
        };
        let mut config = HooksConfig {
            path: path.to_owned(),
            env_file: None,
            events: Vec::new(),
        };
        let mut has_events = false;
        for (key, value) in entries {
            match string(&key) {
                Some("env_file") => match &value.value {
                    Value::Str(file) if !file.is_empty() => {
                        config.env_file = Some(PathBuf::from(file))
                    }
                    Value::Null => {}
                    other => {
                        return Err(bad(
                            value.pos.line,
                            format!("env_file: expected a path, found {}", other.kind()),
                        ));
                    }
                },
                Some("events") => {
                    has_events = true;
                    config.events = events(&value).map_err(|(line, reason)| bad(line, reason))?;
                }
                _ => {
                    return Err(bad(
                        key.pos.line,
                        "unknown key (expected `env_file` or `events`)".into(),
                    ));
                }
            }
        }
        if !has_events {
            return Err(bad(1, "no `events:` mapping".into()));
        }
        Ok(config)
    }

    /// The steps configured for `event`, if it is configured.
    pub fn steps(&self, event: LifecycleEvent) -> Option<&[StepLine]> {
        self.events
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, steps)| steps.as_slice())
    }
}

fn string(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

type Located<T> = Result<T, (u64, String)>;

fn events(node: &Node) -> Located<Vec<(LifecycleEvent, Vec<StepLine>)>> {
    let entries = match &node.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[],
        other => {
            return Err((
                node.pos.line,
                format!(
                    "events: expected a mapping of event names, found {}",
                    other.kind()
                ),
            ));
        }
    };
    let mut events: Vec<(LifecycleEvent, Vec<StepLine>)> = Vec::new();
    for (key, value) in entries {
        let name = string(key).unwrap_or_default();
        let event = LifecycleEvent::from_name(name)
            .filter(|e| e.takes_hooks())
            .ok_or_else(|| {
                (
                    key.pos.line,
                    format!(
                        "{name:?} is not a lifecycle event that runs hooks (expected one of {})",
                        hook_events()
                    ),
                )
            })?;
        if events.iter().any(|(e, _)| *e == event) {
            return Err((key.pos.line, format!("{name} is listed twice")));
        }
        let steps = match &value.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .map(|item| match &item.value {
                    Value::Str(text) if !text.trim().is_empty() => Ok(StepLine {
                        line: item.pos.line,
                        text: text.clone(),
                    }),
                    other => Err((
                        item.pos.line,
                        format!(
                            "{name}: expected a step command line, found {}",
                            other.kind()
                        ),
                    )),
                })
                .collect::<Located<_>>()?,
            other => {
                return Err((
                    value.pos.line,
                    format!("{name}: expected a list of steps, found {}", other.kind()),
                ));
            }
        };
        events.push((event, steps));
    }
    Ok(events)
}

/// The names of the events that run hooks, for messages.
pub fn hook_events() -> String {
    LifecycleEvent::ALL
        .iter()
        .filter(|e| e.takes_hooks())
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads an env file: `NAME=value` lines, `#` comments, an optional
/// `export `, and values optionally in matching quotes. Nothing is expanded.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, HookError> {
    let text = std::fs::read_to_string(path).map_err(|source| HookError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut vars = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let parsed = line
            .split_once('=')
            .filter(|(name, _)| is_name(name))
            .ok_or_else(|| HookError::Config {
                path: path.to_owned(),
                line: index as u64 + 1,
                reason: "expected NAME=value".into(),
            })?;
        let (name, value) = parsed;
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        vars.push((name.to_owned(), value.to_owned()));
    }
    Ok(vars)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a step line into words as a shell would (quotes, no expansion),
/// then replaces each `${NAME}` with `lookup(NAME)`.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    let words = shlex::split(text).ok_or("unbalanced quotes")?;
    words
        .into_iter()
        .map(|word| {
            let mut out = String::new();
            let mut rest = word.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or("`${` without its `}`")?;
                let name = &after[..end];
                if !is_name(name) {
                    return Err(format!("`${{{name}}}` is not a variable name"));
                }
                out.push_str(&lookup(name).ok_or_else(|| format!("{name} is not set"))?);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HooksConfig, HookError> {
        HooksConfig::parse(Path::new("hooks.yml"), text)
    }

    #[test]
    fn events_keep_their_steps_and_lines() {
        let config = parse(
            "env_file: /etc/slipway/stack.env\nevents:\n  ApplicationStop: []\n  AfterInstall:\n    - migrate --python ${PY}\n    - collectstatic\n",
        )
        .unwrap();
        assert_eq!(
            config.env_file.as_deref(),
            Some(Path::new("/etc/slipway/stack.env"))
        );
        assert_eq!(config.steps(LifecycleEvent::ApplicationStop), Some(&[][..]));
        let steps = config.steps(LifecycleEvent::AfterInstall).unwrap();
        assert_eq!(
            steps[1],
            StepLine {
                line: 6,
                text: "collectstatic".into()
            }
        );
        assert_eq!(config.steps(LifecycleEvent::ValidateService), None);
    }

    #[test]
    fn a_wrong_event_or_key_is_named_with_its_line() {
        let error = parse("events:\n  AfterInstal: []\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "hooks.yml:2: \"AfterInstal\" is not a lifecycle event that runs hooks (expected one of {})",
                hook_events()
            )
        );
        let error = parse("events:\n  Install: []\n").unwrap_err();
        assert!(
            error.to_string().starts_with("hooks.yml:2: \"Install\""),
            "{error}"
        );
        let error = parse("event:\n  AfterInstall: []\n").unwrap_err();
        assert!(
            error.to_string().starts_with("hooks.yml:1: unknown key"),
            "{error}"
        );
        let error = parse("events:\n  AfterInstall:\n    - 3\n").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("hooks.yml:3: AfterInstall: expected a step"),
            "{error}"
        );
    }

    #[test]
    fn variables_expand_inside_words_and_an_unset_one_is_named() {
        let lookup = |name: &str| (name == "VENV").then(|| "/srv/my venv".to_owned());
        assert_eq!(
            expand("migrate --python ${VENV}/bin/python --x 'a b'", lookup).unwrap(),
            [
                "migrate",
                "--python",
                "/srv/my venv/bin/python",
                "--x",
                "a b"
            ]
        );
        assert_eq!(expand("x ${NOPE}", lookup).unwrap_err(), "NOPE is not set");
        assert!(expand("x ${VENV", lookup).is_err());
        assert!(expand("x 'open", lookup).is_err());
    }

    #[test]
    fn an_env_file_reads_like_the_hook_scripts_source_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.env");
        std::fs::write(&path, "# c\n\nA=1\nexport B=\"two words\"\nC='x=y'\n").unwrap();
        assert_eq!(
            read_env_file(&path).unwrap(),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x=y".into())
            ]
        );
        std::fs::write(&path, "A=1\nnot a line\n").unwrap();
        let error = read_env_file(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("stack.env:2: expected NAME=value"),
            "{error}"
        );
    }
}
