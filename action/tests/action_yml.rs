//! The root action.yml agrees with the binary: every input reaches it as
//! `INPUT_<NAME>`, is a flag of the command, and every output is wired to
//! the step that sets it.

use std::collections::BTreeSet;

use clap::CommandFactory;
use serde_json::Value;
use slipway_action::cli::Cli;
use slipway_action::github::inputs;

/// Inputs of the composite itself, not of a `slipway` command.
const ACTION_ONLY: &[&str] = &["command", "slipway-version"];

fn action() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../action.yml");
    let text = std::fs::read_to_string(path).expect("action.yml at the repository root");
    serde_saphyr::from_str(&text).expect("action.yml is YAML")
}

fn step<'a>(action: &'a Value, id: &str) -> &'a Value {
    action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("a step with id {id}"))
}

fn command_inputs(action: &Value) -> BTreeSet<String> {
    action["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !ACTION_ONLY.contains(&k.as_str()))
        .cloned()
        .collect()
}

#[test]
fn every_input_reaches_the_binary_as_input_name() {
    let action = action();
    let env = &step(&action, "run")["env"];
    for name in command_inputs(&action) {
        assert_eq!(
            env[inputs::variable(&name)],
            format!("${{{{ inputs.{name} }}}}"),
            "input {name} is not mapped to {}",
            inputs::variable(&name)
        );
    }
}

#[test]
fn every_input_is_a_flag_of_slipway_credentials_and_back() {
    let action = action();
    let cli = Cli::command();
    let credentials = cli.find_subcommand("credentials").unwrap();
    let flags: BTreeSet<String> = credentials
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .map(str::to_owned)
        .collect();
    assert_eq!(command_inputs(&action), flags);
}

#[test]
fn every_output_comes_from_the_run_step() {
    let action = action();
    let outputs = action["outputs"].as_object().unwrap();
    assert!(outputs.contains_key("aws-account-id"));
    for (name, output) in outputs {
        assert_eq!(
            output["value"],
            format!("${{{{ steps.run.outputs.{name} }}}}"),
            "{name}"
        );
    }
}

/// The inputs the binary reads as booleans: the flags whose value is a
/// `BOOL`, in every command.
fn boolean_inputs() -> BTreeSet<String> {
    let cli = Cli::command();
    std::iter::once(&cli)
        .chain(cli.get_subcommands())
        .flat_map(|c| c.get_arguments())
        .filter(|a| {
            a.get_value_names()
                .is_some_and(|names| names.iter().any(|n| n == "BOOL"))
        })
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect()
}

#[test]
fn boolean_defaults_are_toolkit_booleans() {
    let action = action();
    let booleans = boolean_inputs();
    assert!(
        booleans.contains("output-env-credentials"),
        "the BOOL flags are found: {booleans:?}"
    );
    for name in &booleans {
        let input = &action["inputs"][name];
        let default = input["default"]
            .as_str()
            .unwrap_or_else(|| panic!("boolean input {name} has a quoted default: {input}"));
        if let Err(e) = inputs::parse_bool(name, default) {
            panic!("boolean input {name}'s default {default:?} does not parse: {e}");
        }
    }
}
