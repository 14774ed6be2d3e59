//! Action inputs, read the way `@actions/core` reads them.
//!
//! An input `role-to-assume` arrives as `INPUT_ROLE-TO-ASSUME`: upper-cased,
//! spaces turned into `_`, hyphens kept. The runner does not enforce
//! `required: true`, so the binary checks required inputs itself. A flag
//! given on the command line wins over the input of the same name, which lets
//! the same command run outside Actions.

use crate::env::Env;
use crate::{Error, Result};

/// The environment variable that carries input `name`.
pub fn variable(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

/// Parses a boolean input as `getBooleanInput` does: the YAML 1.2 core
/// schema's `true | True | TRUE | false | False | FALSE`, nothing else.
pub fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        _ => Err(Error::InvalidBoolean {
            input: name.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// The inputs of one step: command-line flags over `INPUT_*` variables.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    env: &'a Env,
}

impl<'a> Inputs<'a> {
    /// Inputs read from `env`.
    pub fn new(env: &'a Env) -> Self {
        Self { env }
    }

    /// The input's value, trimmed, with `flag` taking precedence; `None` when
    /// neither is given or the value is blank.
    pub fn get(&self, name: &str, flag: Option<&str>) -> Option<String> {
        let value = match flag {
            Some(flag) => flag,
            None => self.env.get(&variable(name))?,
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// A required input: its absence is an error that says how to give it.
    pub fn required(&self, name: &str, flag: Option<&str>) -> Result<String> {
        self.get(name, flag).ok_or_else(|| Error::MissingInput {
            input: name.to_owned(),
        })
    }

    /// An input read with `parse`, whose complaint becomes an error naming
    /// the input; `None` when not given.
    pub fn parsed<T>(
        &self,
        name: &str,
        flag: Option<&str>,
        parse: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        self.get(name, flag)
            .map(|value| {
                parse(&value).map_err(|reason| Error::InvalidInput {
                    input: name.to_owned(),
                    reason,
                })
            })
            .transpose()
    }

    /// A boolean input, `default` when not given.
    pub fn bool(&self, name: &str, flag: Option<&str>, default: bool) -> Result<bool> {
        match self.get(name, flag) {
            Some(value) => parse_bool(name, &value),
            None => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphens_are_kept_and_spaces_become_underscores() {
        assert_eq!(variable("role-to-assume"), "INPUT_ROLE-TO-ASSUME");
        assert_eq!(variable("my input"), "INPUT_MY_INPUT");
    }

    #[test]
    fn booleans_accept_only_the_toolkit_spellings() {
        for yes in ["true", "True", "TRUE", " true\n"] {
            assert!(parse_bool("x", yes).unwrap(), "{yes:?}");
        }
        for no in ["false", "False", "FALSE"] {
            assert!(!parse_bool("x", no).unwrap(), "{no:?}");
        }
        for bad in ["yes", "1", "tRue", "on", ""] {
            let err = parse_bool("mask-aws-account-id", bad).unwrap_err();
            assert!(
                err.to_string().contains("mask-aws-account-id"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn a_flag_wins_over_the_input() {
        let env = Env::from_pairs([("INPUT_AWS-REGION", "eu-west-1")]);
        let inputs = Inputs::new(&env);
        assert_eq!(inputs.get("aws-region", None).as_deref(), Some("eu-west-1"));
        assert_eq!(
            inputs.get("aws-region", Some("us-east-2")).as_deref(),
            Some("us-east-2")
        );
    }

    #[test]
    fn a_blank_required_input_is_missing_and_named() {
        let env = Env::from_pairs([("INPUT_ROLE-TO-ASSUME", "  ")]);
        let err = Inputs::new(&env)
            .required("role-to-assume", None)
            .unwrap_err();
        assert!(matches!(err, Error::MissingInput { ref input } if input == "role-to-assume"));
        assert!(err.to_string().contains("--role-to-assume"), "{err}");
    }

    #[test]
    fn a_parse_failure_names_the_input() {
        let env = Env::from_pairs([("INPUT_COUNT", "x")]);
        let inputs = Inputs::new(&env);
        let err = inputs
            .parsed("count", None, |s| {
                s.parse::<u8>().map_err(|_| format!("`{s}` is not a count"))
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "input `count`: `x` is not a count");
        assert_eq!(inputs.parsed("absent", None, |_| Ok(1)).unwrap(), None);
    }

    #[test]
    fn an_absent_boolean_takes_its_default() {
        let env = Env::default();
        let inputs = Inputs::new(&env);
        assert!(inputs.bool("output-env-credentials", None, true).unwrap());
        assert!(
            !inputs
                .bool("output-env-credentials", Some("false"), true)
                .unwrap()
        );
    }
}
