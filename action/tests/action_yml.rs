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
                .filter(|l| !FLAG_ONLY.contains(l) && !CLI_ONLY.contains(l))
                .map(str::to_owned),
        );
    }
    assert_eq!(command_inputs(&action), flags);
}

/// Flags of `slipway credentials` that are not inputs: `--cleanup` is what
/// `command: cleanup` runs.
const FLAG_ONLY: &[&str] = &["help", "cleanup"];

/// aws-actions/configure-aws-credentials' documented inputs (action.yml of
/// v6.2.3), and its outputs, `authenticated-arn` included.
const OFFICIAL_INPUTS: &[&str] = &[
    "aws-region",
    "aws-profile",
    "overwrite-aws-profile",
    "role-to-assume",
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "web-identity-token-file",
    "role-chaining",
    "audience",
    "http-proxy",
    "no-proxy",
    "sts-endpoint",
    "mask-aws-account-id",
    "role-duration-seconds",
    "role-external-id",
    "role-session-name",
    "role-skip-session-tagging",
    "transitive-tag-keys",
    "inline-session-policy",
    "managed-session-policies",
    "custom-tags",
    "output-credentials",
    "output-env-credentials",
    "unset-current-credentials",
    "disable-retry",
    "retry-max-attempts",
    "special-characters-workaround",
    "use-existing-credentials",
    "allowed-account-ids",
    "force-skip-oidc",
    "action-timeout-s",
];
const OFFICIAL_OUTPUTS: &[&str] = &[
    "aws-account-id",
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "aws-expiration",
    "authenticated-arn",
];

/// The rows of action/README.md's table of the official action's inputs
/// and outputs: name → (Slipway has it, the reason when not).
fn readme_table(heading: &str) -> std::collections::BTreeMap<String, (bool, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let text = std::fs::read_to_string(path).expect("action/README.md");
    let section = text
        .split("## Compared with configure-aws-credentials")
        .nth(1)
        .expect("the comparison section")
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("a `{heading}` table"));
    section
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let [name, has, why] = cells[..] else {
                return None;
            };
            let name = name.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), (has == "yes", why.to_owned())))
        })
        .collect()
}

#[test]
fn every_official_input_is_handled_or_listed_as_not_supported() {
    let action = action();
    let env = &step(&action, "run")["env"];
    let table = readme_table("### Inputs");
    for name in OFFICIAL_INPUTS {
        let (has, why) = table
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is not in action/README.md's comparison table"));
        let declared = action["inputs"].get(*name).is_some();
        if *has {
            assert!(
                declared,
                "{name}: the table says yes, action.yml has no such input"
            );
            assert_eq!(
                env[inputs::variable(name)],
                format!("${{{{ inputs.{name} }}}}"),
                "{name} is declared but does not reach the binary"
            );
        } else {
            assert!(
                !declared,
                "{name}: the table says no, but action.yml declares it"
            );
            assert!(why.len() > 10, "{name}: say why it is not supported");
        }
    }
}

#[test]
fn every_official_output_keeps_its_name() {
    let action = action();
    let table = readme_table("### Outputs");
    for name in OFFICIAL_OUTPUTS {
        assert!(action["outputs"].get(*name).is_some(), "output {name}");
        assert_eq!(table.get(*name).map(|(has, _)| *has), Some(true), "{name}");
    }
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

/// Booleans whose absence means "as the deployment group says": no default.
const TRI_STATE: &[&str] = &["auto-rollback"];

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
        if TRI_STATE.contains(&name.as_str()) {
            assert!(
                input.get("default").is_none(),
                "{name}: unset must stay unset"
            );
            continue;
        }
        let default = input["default"]
            .as_str()
            .unwrap_or_else(|| panic!("boolean input {name} has a quoted default: {input}"));
        if let Err(e) = inputs::parse_bool(name, default) {
            panic!("boolean input {name}'s default {default:?} does not parse: {e}");
        }
    }
}

/// Runs the `run` step's script as the runner would, with a stand-in
/// binary that prints its arguments.
fn run_step(command: &str) -> std::process::Output {
    let action = action();
    let script = step(&action, "run")["run"].as_str().unwrap().to_owned();
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("SLIPWAY_BIN", "/bin/echo")
        .env("SLIPWAY_COMMAND", command)
        .output()
        .expect("bash runs")
}

#[test]
fn command_cleanup_runs_credentials_cleanup() {
    let out = run_step("credentials");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "credentials\n");
    let out = run_step("cleanup");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "credentials --cleanup\n"
    );
    let out = run_step("cleanup\n::warning::x");
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::warning::x"));
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
