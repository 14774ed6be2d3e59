//! Reading a Supervisor `[program:x]` section, so the steps can refuse a
//! program config that would drop requests or kill tasks before they touch
//! the running program. Supervisor's INI dialect: `key = value`, `;` or `#`
//! comments, indented continuation lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{Result, StepError, io};

/// One program's settings as written.
#[derive(Debug, Clone)]
pub struct ProgramConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// The program name.
    pub program: String,
    settings: BTreeMap<String, String>,
}

impl ProgramConfig {
    /// Reads `[program:<program>]` from `file`.
    pub fn read(file: &Path, program: &str) -> Result<ProgramConfig> {
        let text = std::fs::read_to_string(file).map_err(io("read", file))?;
        Self::parse(file, program, &text)
    }

    /// Parses `[program:<program>]` out of `text`.
    pub fn parse(file: &Path, program: &str, text: &str) -> Result<ProgramConfig> {
        let header = format!("[program:{program}]");
        let mut settings = BTreeMap::new();
        let mut inside = false;
        let mut found = false;
        let mut last_key: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                inside = trimmed == header;
                found |= inside;
                last_key = None;
                continue;
            }
            if !inside || trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#')
            {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                if let Some(key) = &last_key {
                    let value: &mut String = settings.get_mut(key).expect("inserted");
                    value.push(' ');
                    value.push_str(strip_comment(trimmed));
                }
                continue;
            }
            if let Some((key, value)) = trimmed.split_once('=') {
                let value = strip_comment(value.trim());
                let key = key.trim().to_owned();
                settings.insert(key.clone(), value.to_owned());
                last_key = Some(key);
            }
        }
        if !found {
            return Err(StepError::UnsafeProgram {
                file: file.to_owned(),
                program: program.into(),
                setting: header,
                reason: "no such section".into(),
            });
        }
        Ok(ProgramConfig {
            file: file.to_owned(),
            program: program.into(),
            settings,
        })
    }

    /// A setting's value as written.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// Every setting, in name order, as written.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A boolean setting, with Supervisor's spellings and default.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on" | "1") => true,
            Some("false" | "no" | "off" | "0") => false,
            _ => default,
        }
    }

    /// The refusal for `setting`.
    pub fn refuse(&self, setting: impl Into<String>, reason: impl Into<String>) -> StepError {
        StepError::UnsafeProgram {
            file: self.file.clone(),
            program: self.program.clone(),
            setting: setting.into(),
            reason: reason.into(),
        }
    }

    /// `command`, split on whitespace (Supervisor splits it with shlex;
    /// the options checked here never need quoting).
    pub fn command_words(&self) -> Vec<&str> {
        self.get("command")
            .unwrap_or_default()
            .split_whitespace()
            .collect()
    }
}

/// Supervisor's inline comments start at " ;".
fn strip_comment(value: &str) -> &str {
    value.split(" ;").next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_section_with_continuations_and_comments() {
        let text = "[program:other]\ncommand=x\n[program:web]\ncommand=gunicorn\n  --workers 2 ; trailing\nstopasgroup = TRUE\n; comment\n";
        let config = ProgramConfig::parse(Path::new("f.conf"), "web", text).unwrap();
        assert_eq!(config.command_words(), ["gunicorn", "--workers", "2"]);
        assert!(config.flag("stopasgroup", false));
        assert!(!config.flag("killasgroup", false));
    }

    #[test]
    fn a_missing_section_names_the_file_and_program() {
        let error = ProgramConfig::parse(Path::new("f.conf"), "web", "[program:x]\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "f.conf: program web: [program:web]: no such section"
        );
    }
}
