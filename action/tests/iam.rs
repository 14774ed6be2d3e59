//! The IAM documents in docs/iam/ against the calls the code makes.
//!
//! The code's AWS calls are found by scanning action/src and agent/src for
//! the SDK's operation methods (the operation names come from the SDK
//! crates' own `src/operation/` directories), so a new call without its
//! permission fails here, and so does a permission no call needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read_json(name: &str) -> Value {
    let path = workspace().join("docs/iam").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Action -> the resources it is granted on, over every statement.
fn grants(policy: &Value) -> BTreeMap<String, BTreeSet<String>> {
    assert_eq!(policy["Version"], "2012-10-17");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for st in policy["Statement"].as_array().expect("Statement is a list") {
        assert_eq!(st["Effect"], "Allow", "{st}");
        let resources = strings(&st["Resource"]);
        assert!(!resources.is_empty(), "a statement without Resource: {st}");
        for action in strings(&st["Action"]) {
            assert!(
                !action.contains('*'),
                "wildcard action {action}: name each call"
            );
            out.entry(action)
                .or_default()
                .extend(resources.iter().cloned());
        }
    }
    out
}

/// Where cargo unpacked `krate` at the version Cargo.lock pins.
fn sdk_source(krate: &str) -> PathBuf {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains(&format!("name = \"{krate}\"\n")))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .unwrap_or_else(|| panic!("Cargo.lock pins no {krate}"))
        .trim_end_matches('"')
        .to_owned();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registries = home.join("registry/src");
    std::fs::read_dir(&registries)
        .unwrap_or_else(|e| panic!("{}: {e}", registries.display()))
        .map(|r| r.unwrap().path().join(format!("{krate}-{version}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{krate} {version} is not unpacked under {}",
                registries.display()
            )
        })
}

/// The operation method names of each AWS SDK crate in the build.
fn sdk_operations() -> BTreeMap<String, Vec<&'static str>> {
    let mut ops = BTreeMap::new();
    for (krate, service) in [
        ("aws-sdk-s3", "s3"),
        ("aws-sdk-codedeploy", "codedeploy"),
        ("aws-sdk-sts", "sts"),
        ("aws-sdk-ssm", "ssm"),
    ] {
        let dir = sdk_source(krate).join("src/operation");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                ops.entry(name).or_insert_with(Vec::new).push(service);
            }
        }
    }
    ops
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (service, operation) for every SDK operation called as `.op()` under `dir`.
fn calls_under(dir: &str) -> BTreeSet<(&'static str, String)> {
    let ops = sdk_operations();
    let mut files = Vec::new();
    rust_files(&workspace().join(dir), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (op, services) in &ops {
            if text.contains(&format!(".{op}()")) {
                match services[..] {
                    [service] => found.insert((service, op.clone())),
                    _ => panic!(
                        "{}: {op} is an operation of {services:?}: say which here",
                        file.display()
                    ),
                };
            }
        }
    }
    found
}

fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM actions an SDK call needs; empty when it needs none of the caller.
fn iam_actions(service: &str, op: &str) -> Vec<String> {
    match (service, op) {
        // Authorised by the role's trust policy, not by a permission.
        ("sts", "assume_role_with_web_identity" | "get_caller_identity") => vec![],
        // Role chaining: the permission belongs to the first role, which the
        // user's own account defines; docs/iam covers the roles Slipway assumes.
        ("sts", "assume_role") => vec![],
        ("s3", "head_object") => vec!["s3:GetObject".into()],
        ("s3", "create_multipart_upload" | "upload_part" | "complete_multipart_upload") => {
            vec!["s3:PutObject".into()]
        }
        ("s3", "head_bucket" | "list_objects_v2") => vec!["s3:ListBucket".into()],
        ("s3", "get_object") => vec!["s3:GetObject".into()],
        // CodeDeploy checks the caller may read the config and the revision
        // a deployment names ("not authorized to perform:
        // codedeploy:GetDeploymentConfig" is a CreateDeployment failure).
        ("codedeploy", "create_deployment") => vec![
            "codedeploy:CreateDeployment".into(),
            "codedeploy:GetDeploymentConfig".into(),
            "codedeploy:GetApplicationRevision".into(),
        ],
        (service, op) => vec![format!("{service}:{}", pascal(op))],
    }
}

fn needed(dir: &str) -> BTreeSet<String> {
    calls_under(dir)
        .iter()
        .flat_map(|(service, op)| iam_actions(service, op))
        .collect()
}

/// Writing an object under SSE-KMS needs GenerateDataKey on the key, and a
/// multipart upload (or reading one back) Decrypt.
fn kms_for(s3: &BTreeSet<String>) -> BTreeSet<String> {
    let mut kms = BTreeSet::new();
    if s3.contains("s3:PutObject") {
        kms.insert("kms:GenerateDataKey".to_owned());
        kms.insert("kms:Decrypt".to_owned());
    }
    if s3.contains("s3:GetObject") {
        kms.insert("kms:Decrypt".to_owned());
    }
    kms
}

fn assert_same(policy: &str, granted: &BTreeSet<String>, wanted: &BTreeSet<String>) {
    let missing: Vec<_> = wanted.difference(granted).collect();
    let extra: Vec<_> = granted.difference(wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{policy}: the code needs {missing:?} that it does not grant, and it grants {extra:?} that no call needs"
    );
}

#[test]
fn every_document_is_valid_json_with_its_placeholders() {
    for entry in std::fs::read_dir(workspace().join("docs/iam")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let policy = read_json(&name);
            assert_eq!(policy["Version"], "2012-10-17", "{name}");
            assert!(
                policy["Statement"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{name}"
            );
        }
    }
}

#[test]
fn trust_policies_pin_the_audience_and_the_subject() {
    for (name, sub) in [
        (
            "deploy-role-trust.json",
            "repo:OWNER/REPO:ref:refs/heads/main",
        ),
        (
            "deploy-role-trust-environment.json",
            "repo:OWNER/REPO:environment:production",
        ),
        (
            "rollback-role-trust.json",
            "repo:OWNER/REPO:environment:production",
        ),
    ] {
        let policy = read_json(name);
        for st in policy["Statement"].as_array().unwrap() {
            assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity", "{name}");
            let cond = &st["Condition"]["StringEquals"];
            assert_eq!(
                cond["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com",
                "{name}"
            );
            // StringEquals, never StringLike: a wildcard sub admits every branch.
            assert_eq!(
                cond["token.actions.githubusercontent.com:sub"], sub,
                "{name}"
            );
        }
    }
}

#[test]
fn the_deploy_role_grants_exactly_what_the_action_calls() {
    let granted = grants(&read_json("deploy-role-permissions.json"));
    let mut wanted = needed("action/src");
    wanted.extend(kms_for(&wanted));
    let names: BTreeSet<String> = granted.keys().cloned().collect();
    assert_same("deploy-role-permissions.json", &names, &wanted);
    for (action, resources) in &granted {
        for r in resources {
            assert_ne!(r, "*", "{action} on every resource");
            if action.starts_with("codedeploy:") {
                assert!(
                    r.contains(":APPLICATION") || r.contains(":deploymentconfig:"),
                    "{action} on {r}"
                );
            }
            if action.starts_with("s3:") {
                assert!(r.starts_with("arn:aws:s3:::BUCKET"), "{action} on {r}");
            }
        }
    }
}

#[test]
fn the_rollback_role_cannot_upload_or_register_revisions() {
    let rollback = grants(&read_json("rollback-role-permissions.json"));
    let deploy = grants(&read_json("deploy-role-permissions.json"));
    for (action, resources) in &rollback {
        assert!(
            !action.starts_with("s3:") && !action.starts_with("kms:"),
            "{action}"
        );
        assert_ne!(action, "codedeploy:RegisterApplicationRevision");
        assert_eq!(
            deploy.get(action),
            Some(resources),
            "{action}: the deploy role grants it on the same resources"
        );
    }
    for action in [
        "codedeploy:CreateDeployment",
        "codedeploy:StopDeployment",
        "codedeploy:GetDeployment",
    ] {
        assert!(
            rollback.contains_key(action),
            "the rollback role lacks {action}"
        );
    }
}

#[test]
fn the_instance_profile_grants_what_the_agent_calls() {
    let granted = grants(&read_json("instance-profile-permissions.json"));
    let mut wanted = needed("agent/src");
    wanted.extend(kms_for(&wanted));
    // Granted ahead of the code that calls them, each for a stated reason:
    // the host command protocol is hand-rolled (no SDK operation to scan),
    // and the secrets step reads the application's parameters.
    let by_design = [
        "codedeploy-commands-secure:GetDeploymentSpecification",
        "codedeploy-commands-secure:PollHostCommand",
        "codedeploy-commands-secure:PutHostCommandAcknowledgement",
        "codedeploy-commands-secure:PutHostCommandComplete",
        "ssm:GetParametersByPath",
        "s3:GetObjectVersion",
        "s3:GetObject",
        "kms:Decrypt",
    ];
    let names: BTreeSet<String> = granted.keys().cloned().collect();
    let missing: Vec<_> = wanted.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "the agent calls {missing:?} without a grant"
    );
    for action in &names {
        assert!(
            wanted.contains(action) || by_design.contains(&action.as_str()),
            "{action} is granted but nothing calls it"
        );
    }
    for (action, resources) in &granted {
        if !action.starts_with("codedeploy-commands-secure:") {
            assert!(!resources.contains("*"), "{action} on every resource");
        }
    }
}
