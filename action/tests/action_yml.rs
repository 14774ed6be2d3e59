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

/// Flags that make no sense as step inputs.
const CLI_ONLY: &[&str] = &["output-dir", "json"];

#[test]
fn every_input_is_a_flag_of_a_command_and_back() {
    let action = action();
    let cli = Cli::command();
    let mut flags = BTreeSet::new();
    for command in ["credentials", "deploy", "rollback", "status"] {
        let sub = cli.find_subcommand(command).unwrap();
        flags.extend(
            sub.get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| *l != "help" && !CLI_ONLY.contains(l))
                .map(str::to_owned),
        );
    }
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

#[test]
fn boolean_defaults_are_toolkit_booleans() {
    let action = action();
    for (name, input) in action["inputs"].as_object().unwrap() {
        if let Some(default) = input["default"].as_str()
            && (default == "true" || default == "false")
        {
            inputs::parse_bool(name, default).unwrap();
        }
    }
}

fn workflow(name: &str) -> Value {
    let path = format!("{}/../.github/workflows/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn the_example_workflows_use_only_inputs_and_outputs_the_action_has() {
    let action = action();
    let inputs = action["inputs"].as_object().unwrap();
    let outputs = action["outputs"].as_object().unwrap();
    for name in ["deploy.yml", "rollback.yml"] {
        let text = std::fs::read_to_string(format!(
            "{}/../.github/workflows/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let wf = workflow(name);
        assert_eq!(wf["permissions"]["id-token"], "write", "{name}");
        let mut slipway_steps = 0;
        for job in wf["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                let Some(uses) = step["uses"].as_str() else {
                    continue;
                };
                if !uses.contains("slipway") {
                    continue;
                }
                slipway_steps += 1;
                for key in step["with"].as_object().unwrap().keys() {
                    assert!(
                        inputs.contains_key(key),
                        "{name}: input {key} is not in action.yml"
                    );
                }
                for required in ["command", "application", "deployment-group"] {
                    assert!(
                        step["with"].get(required).is_some(),
                        "{name}: no {required}"
                    );
                }
                if let Some(id) = step["id"].as_str() {
                    let prefix = format!("steps.{id}.outputs.");
                    for (i, _) in text.match_indices(&prefix) {
                        let rest = &text[i + prefix.len()..];
                        let output: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        assert!(
                            outputs.contains_key(&output),
                            "{name}: output {output} is not in action.yml"
                        );
                    }
                }
            }
        }
        assert_eq!(slipway_steps, 1, "{name}");
    }
    assert_eq!(
        workflow("rollback.yml")["jobs"]["rollback"]["environment"],
        "production"
    );
}
