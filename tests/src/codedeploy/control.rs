//! The control plane, `CodeDeploy_20141006.<Op>` over AWS JSON 1.1: the
//! operations Slipway and its tests call, with AWS's exception names.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::configs::{DeploymentConfig, MinimumHealthy};
use super::orchestrator::{self, Simulation, StopOutcome};
use super::server::AwsError;
use super::state::{
    Application, AutoRollback, Deployment, DeploymentGroup, DeploymentStatus, LastDeployment,
    LifecycleEvent, OnPremisesInstance, Revision, RevisionRecord, State, Status, TagFilter, Target,
    Targeting, is_deployment_id, new_deployment_id,
};

type Output = Result<Value, AwsError>;

/// Runs control-plane operation `op` on `input`.
pub fn dispatch(sim: &Arc<Simulation>, op: &str, input: Value) -> Output {
    let input = Input(input);
    let out = match op {
        "CreateApplication" => sim.with_state(|st| create_application(st, &input)),
        "GetApplication" => sim.with_state(|st| get_application(st, &input)),
        "ListApplications" => Ok(sim.with_state(
            |st| json!({ "applications": st.applications.keys().collect::<Vec<_>>() }),
        )),
        "CreateDeploymentGroup" => sim.with_state(|st| create_deployment_group(st, &input)),
        "GetDeploymentGroup" => sim.with_state(|st| get_deployment_group(st, &input)),
        "UpdateDeploymentGroup" => sim.with_state(|st| update_deployment_group(st, &input)),
        "ListDeploymentGroups" => sim.with_state(|st| list_deployment_groups(st, &input)),
        "RegisterApplicationRevision" => sim.with_state(|st| register_revision(st, &input)),
        "GetApplicationRevision" => sim.with_state(|st| get_revision(st, &input)),
        "ListApplicationRevisions" => sim.with_state(|st| list_revisions(st, &input)),
        "CreateDeployment" => {
            let id = sim.with_state(|st| create_deployment(st, &input))?;
            sim.schedule_start(id.clone());
            Ok(json!({ "deploymentId": id }))
        }
        "GetDeployment" => sim.with_state(|st| {
            let d = deployment(st, &input)?;
            Ok(json!({ "deploymentInfo": deployment_info(st, d) }))
        }),
        "BatchGetDeployments" => sim.with_state(|st| batch_get_deployments(st, &input)),
        "ListDeployments" => sim.with_state(|st| list_deployments(st, &input)),
        "StopDeployment" => stop_deployment(sim, &input),
        "ListDeploymentTargets" => sim.with_state(|st| list_targets(st, &input, false)),
        "ListDeploymentInstances" => sim.with_state(|st| list_targets(st, &input, true)),
        "BatchGetDeploymentTargets" => sim.with_state(|st| batch_get_targets(st, &input)),
        "GetDeploymentTarget" => sim.with_state(|st| get_target(st, &input, "targetId")),
        "GetDeploymentInstance" => sim.with_state(|st| get_target(st, &input, "instanceId")),
        "RegisterOnPremisesInstance" => sim.with_state(|st| register_on_premises(sim, st, &input)),
        "AddTagsToOnPremisesInstances" => sim.with_state(|st| add_tags(st, &input)),
        "GetOnPremisesInstance" => sim.with_state(|st| get_on_premises(st, &input)),
        "GetDeploymentConfig" => sim.with_state(|st| get_deployment_config(st, &input)),
        "CreateDeploymentConfig" => sim.with_state(|st| create_deployment_config(st, &input)),
        "ListDeploymentConfigs" => Ok(sim.with_state(
            |st| json!({ "deploymentConfigsList": st.configs.keys().collect::<Vec<_>>() }),
        )),
        _ => Err(AwsError::new("UnknownOperationException", "")),
    }?;
    Ok(strip_nulls(out))
}

/// The request body, with typed access that names the offending field.
struct Input(Value);

impl Input {
    fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
                AwsError::serialization(&format!("Unexpected value type for field '{field}'"))
            }),
        }
    }

    fn string(&self, field: &str) -> Result<Option<String>, AwsError> {
        Ok(self.get::<String>(field)?.filter(|s| !s.is_empty()))
    }

    fn require(&self, field: &str, exception: &str, what: &str) -> Result<String, AwsError> {
        self.string(field)?
            .ok_or_else(|| AwsError::new(exception, format!("{what} must be specified.")))
    }

    fn application_name(&self) -> Result<String, AwsError> {
        let name = self.require(
            "applicationName",
            "ApplicationNameRequiredException",
            "Application name",
        )?;
        check_name(&name, "InvalidApplicationNameException", "Application name")?;
        Ok(name)
    }

    fn group_name(&self, field: &str) -> Result<String, AwsError> {
        let name = self.require(
            field,
            "DeploymentGroupNameRequiredException",
            "Deployment group name",
        )?;
        check_name(
            &name,
            "InvalidDeploymentGroupNameException",
            "Deployment group name",
        )?;
        Ok(name)
    }

    fn deployment_id(&self) -> Result<String, AwsError> {
        let id = self.require(
            "deploymentId",
            "DeploymentIdRequiredException",
            "Deployment id",
        )?;
        check_deployment_id(&id)?;
        Ok(id)
    }
}

fn check_name(name: &str, exception: &str, what: &str) -> Result<(), AwsError> {
    let valid = name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(AwsError::new(
            exception,
            format!("{what} is invalid: {name}"),
        ))
    }
}

fn check_deployment_id(id: &str) -> Result<(), AwsError> {
    if is_deployment_id(id) {
        Ok(())
    } else {
        Err(AwsError::new(
            "InvalidDeploymentIdException",
            format!("Specified DeploymentId is not in the valid format: {id}"),
        ))
    }
}

/// Epoch seconds with milliseconds, as AWS JSON 1.1 sends timestamps.
pub fn epoch(t: SystemTime) -> f64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    ms as f64 / 1000.0
}

/// A timestamp from the request's epoch seconds; one no clock can hold is
/// refused rather than allowed to overflow.
fn from_epoch(seconds: f64) -> Result<SystemTime, AwsError> {
    Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| AwsError::serialization(&format!("Timestamp {seconds} is out of range")))
}

/// A `TimeRange`: epoch seconds, either end open.
#[derive(Debug, Default, serde::Deserialize)]
struct TimeRange {
    start: Option<f64>,
    end: Option<f64>,
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

fn application<'a>(st: &'a State, name: &str) -> Result<&'a Application, AwsError> {
    st.applications.get(name).ok_or_else(|| {
        AwsError::new(
            "ApplicationDoesNotExistException",
            format!("No application found for name: {name}"),
        )
    })
}

fn group<'a>(st: &'a State, app: &str, name: &str) -> Result<&'a DeploymentGroup, AwsError> {
    application(st, app)?;
    st.group(app, name).ok_or_else(|| {
        AwsError::new(
            "DeploymentGroupDoesNotExistException",
            format!("No Deployment Group found for name: {name}"),
        )
    })
}

fn deployment<'a>(st: &'a State, input: &Input) -> Result<&'a Deployment, AwsError> {
    let id = input.deployment_id()?;
    find_deployment(st, &id)
}

fn find_deployment<'a>(st: &'a State, id: &str) -> Result<&'a Deployment, AwsError> {
    st.deployments.get(id).ok_or_else(|| {
        AwsError::new(
            "DeploymentDoesNotExistException",
            format!("Deployment {id} does not exist."),
        )
    })
}

fn create_application(st: &mut State, input: &Input) -> Output {
    let name = input.application_name()?;
    let platform = input
        .string("computePlatform")?
        .unwrap_or_else(|| "Server".to_owned());
    if !["Server", "Lambda", "ECS"].contains(&platform.as_str()) {
        return Err(AwsError::new(
            "InvalidComputePlatformException",
            format!("The computePlatform is invalid: {platform}"),
        ));
    }
    if st.applications.contains_key(&name) {
        return Err(AwsError::new(
            "ApplicationAlreadyExistsException",
            format!("{name} already exists in your account"),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    st.applications.insert(
        name.clone(),
        Application {
            id: id.clone(),
            name,
            create_time: SystemTime::now(),
            compute_platform: platform,
        },
    );
    Ok(json!({ "applicationId": id }))
}

fn get_application(st: &mut State, input: &Input) -> Output {
    let app = application(st, &input.application_name()?)?;
    Ok(json!({ "application": {
        "applicationId": app.id,
        "applicationName": app.name,
        "createTime": epoch(app.create_time),
        "linkedToGitHub": false,
        "computePlatform": app.compute_platform,
    }}))
}

fn config_name(st: &State, input: &Input) -> Result<Option<String>, AwsError> {
    let Some(name) = input.string("deploymentConfigName")? else {
        return Ok(None);
    };
    if !st.configs.contains_key(&name) {
        return Err(AwsError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        ));
    }
    Ok(Some(name))
}

fn auto_rollback(input: &Input) -> Result<Option<AutoRollback>, AwsError> {
    let Some(config) = input.get::<AutoRollback>("autoRollbackConfiguration")? else {
        return Ok(None);
    };
    const EVENTS: [&str; 3] = [
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
        "DEPLOYMENT_STOP_ON_REQUEST",
    ];
    if let Some(bad) = config.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(AwsError::new(
            "InvalidAutoRollbackConfigException",
            format!("Invalid auto rollback event: {bad}"),
        ));
    }
    if config.enabled && config.events.is_empty() {
        return Err(AwsError::new(
            "InvalidAutoRollbackConfigException",
            "Auto rollback is enabled but no events are specified.",
        ));
    }
    Ok(Some(config))
}

fn check_filters(filters: &[TagFilter], exception: &str) -> Result<(), AwsError> {
    for f in filters {
        let kind = f.kind.as_deref().unwrap_or("KEY_AND_VALUE");
        let ok = match kind {
            "KEY_ONLY" => f.key.is_some(),
            "VALUE_ONLY" => f.value.is_some(),
            "KEY_AND_VALUE" => f.key.is_some() && f.value.is_some(),
            _ => false,
        };
        if !ok {
            return Err(AwsError::new(
                exception,
                format!("Invalid tag filter of type {kind}"),
            ));
        }
    }
    Ok(())
}

/// Reads `filters_field` or the tag set `set_field`/`list_field`.
fn targeting(
    input: &Input,
    filters_field: &str,
    set_field: &str,
    list_field: &str,
    exception: &str,
) -> Result<Option<Targeting>, AwsError> {
    let filters: Option<Vec<TagFilter>> = input.get(filters_field)?;
    let set: Option<Value> = input.get(set_field)?;
    let tag_set: Option<Vec<Vec<TagFilter>>> = match set.as_ref().and_then(|s| s.get(list_field)) {
        Some(list) => Some(serde_json::from_value(list.clone()).map_err(|_| {
            AwsError::serialization(&format!("Unexpected value type for field '{set_field}'"))
        })?),
        None => None,
    };
    if filters.is_none() && tag_set.is_none() {
        return Ok(None);
    }
    let t = Targeting {
        filters: filters.unwrap_or_default(),
        tag_set: tag_set.unwrap_or_default(),
    };
    if !t.filters.is_empty() && !t.tag_set.is_empty() {
        return Err(AwsError::new(
            exception,
            format!("Only one of {filters_field} and {set_field} can be specified."),
        ));
    }
    check_filters(&t.filters, exception)?;
    for list in &t.tag_set {
        check_filters(list, exception)?;
    }
    Ok(Some(t))
}

fn ec2_targeting(input: &Input) -> Result<Option<Targeting>, AwsError> {
    targeting(
        input,
        "ec2TagFilters",
        "ec2TagSet",
        "ec2TagSetList",
        "InvalidEC2TagCombinationException",
    )
}

fn on_premises_targeting(input: &Input) -> Result<Option<Targeting>, AwsError> {
    targeting(
        input,
        "onPremisesInstanceTagFilters",
        "onPremisesTagSet",
        "onPremisesTagSetList",
        "InvalidOnPremisesTagCombinationException",
    )
}

fn create_deployment_group(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    let name = input.group_name("deploymentGroupName")?;
    application(st, &app)?;
    let role = input.require("serviceRoleArn", "RoleRequiredException", "Role ARN")?;
    if !role.starts_with("arn:") {
        return Err(AwsError::new(
            "InvalidRoleException",
            format!("The service role ARN is invalid: {role}"),
        ));
    }
    if st.group(&app, &name).is_some() {
        return Err(AwsError::new(
            "DeploymentGroupAlreadyExistsException",
            format!("A deployment group named {name} already exists for application {app}."),
        ));
    }
    let group = DeploymentGroup {
        id: uuid::Uuid::new_v4().to_string(),
        application_name: app,
        name,
        config_name: config_name(st, input)?
            .unwrap_or_else(|| super::configs::DEFAULT_CONFIG.to_owned()),
        service_role_arn: role,
        ec2: ec2_targeting(input)?.unwrap_or_default(),
        on_premises: on_premises_targeting(input)?.unwrap_or_default(),
        auto_rollback: auto_rollback(input)?,
        deployment_style: input.get("deploymentStyle")?,
        target_revision: None,
        last_successful: None,
        last_attempted: None,
        last_successful_revision: None,
    };
    let id = group.id.clone();
    st.groups.insert(id.clone(), group);
    Ok(json!({ "deploymentGroupId": id }))
}

fn targeting_json(t: &Targeting, filters_field: &str, set_field: &str, list_field: &str) -> Value {
    let mut out = Map::new();
    if !t.tag_set.is_empty() {
        out.insert(set_field.to_owned(), json!({ list_field: t.tag_set }));
    }
    out.insert(filters_field.to_owned(), json!(t.filters));
    Value::Object(out)
}

fn last_json(l: &Option<LastDeployment>) -> Value {
    match l {
        None => Value::Null,
        Some(l) => json!({
            "deploymentId": l.deployment_id,
            "status": l.status.as_str(),
            "createTime": epoch(l.create_time),
            "endTime": l.end_time.map(epoch),
        }),
    }
}

fn group_info(g: &DeploymentGroup) -> Value {
    let mut v = json!({
        "applicationName": g.application_name,
        "deploymentGroupId": g.id,
        "deploymentGroupName": g.name,
        "deploymentConfigName": g.config_name,
        "serviceRoleArn": g.service_role_arn,
        "autoScalingGroups": [],
        "triggerConfigurations": [],
        "targetRevision": g.target_revision,
        "autoRollbackConfiguration": g.auto_rollback,
        "deploymentStyle": g.deployment_style.clone().unwrap_or_else(default_style),
        "lastSuccessfulDeployment": last_json(&g.last_successful),
        "lastAttemptedDeployment": last_json(&g.last_attempted),
        "computePlatform": "Server",
    });
    let map = v.as_object_mut().expect("literal object");
    for part in [
        targeting_json(&g.ec2, "ec2TagFilters", "ec2TagSet", "ec2TagSetList"),
        targeting_json(
            &g.on_premises,
            "onPremisesInstanceTagFilters",
            "onPremisesTagSet",
            "onPremisesTagSetList",
        ),
    ] {
        if let Value::Object(m) = part {
            map.extend(m);
        }
    }
    v
}

fn default_style() -> Value {
    json!({ "deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL" })
}

fn get_deployment_group(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    let name = input.group_name("deploymentGroupName")?;
    let g = group(st, &app, &name)?;
    Ok(json!({ "deploymentGroupInfo": group_info(g) }))
}

fn update_deployment_group(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    let name = input.group_name("currentDeploymentGroupName")?;
    let id = group(st, &app, &name)?.id.clone();
    let new_name = match input.string("newDeploymentGroupName")? {
        Some(n) => {
            check_name(
                &n,
                "InvalidDeploymentGroupNameException",
                "Deployment group name",
            )?;
            if n != name && st.group(&app, &n).is_some() {
                return Err(AwsError::new(
                    "DeploymentGroupAlreadyExistsException",
                    format!("A deployment group named {n} already exists for application {app}."),
                ));
            }
            Some(n)
        }
        None => None,
    };
    let config = config_name(st, input)?;
    let ec2 = ec2_targeting(input)?;
    let on_premises = on_premises_targeting(input)?;
    let rollback = auto_rollback(input)?;
    let role: Option<String> = input.string("serviceRoleArn")?;
    let style: Option<Value> = input.get("deploymentStyle")?;
    let g = st.groups.get_mut(&id).expect("found above");
    if let Some(n) = new_name {
        g.name = n;
    }
    if let Some(c) = config {
        g.config_name = c;
    }
    if let Some(t) = ec2 {
        g.ec2 = t;
    }
    if let Some(t) = on_premises {
        g.on_premises = t;
    }
    if rollback.is_some() {
        g.auto_rollback = rollback;
    }
    if let Some(r) = role {
        g.service_role_arn = r;
    }
    if style.is_some() {
        g.deployment_style = style;
    }
    Ok(json!({ "hooksNotCleanedUp": [] }))
}

fn list_deployment_groups(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let names: Vec<&str> = st
        .groups
        .values()
        .filter(|g| g.application_name == app)
        .map(|g| g.name.as_str())
        .collect();
    Ok(json!({ "applicationName": app, "deploymentGroups": names }))
}

/// Checks a revision the Server platform can deploy, filling in the
/// bundle type from the key's extension when it is missing.
fn check_revision(mut r: Revision) -> Result<Revision, AwsError> {
    let invalid = |m: &str| AwsError::new("InvalidRevisionException", m);
    match r.revision_type.as_deref() {
        Some("S3") => {
            let s3 = r
                .s3_location
                .as_mut()
                .ok_or_else(|| invalid("S3 location must be specified for revision type S3."))?;
            let (Some(_), Some(key)) = (s3.bucket.as_ref(), s3.key.as_ref()) else {
                return Err(invalid("The S3 bucket and key must be specified."));
            };
            if s3.bundle_type.is_none() {
                let inferred = if key.ends_with(".tar") {
                    "tar"
                } else if key.ends_with(".tgz") || key.ends_with(".tar.gz") {
                    "tgz"
                } else if key.ends_with(".zip") {
                    "zip"
                } else {
                    return Err(invalid("The bundle type must be specified."));
                };
                s3.bundle_type = Some(inferred.to_owned());
            }
            let bundle = s3.bundle_type.as_deref().unwrap_or_default();
            if !["tar", "tgz", "zip"].contains(&bundle) {
                return Err(invalid(&format!(
                    "Bundle type {bundle} is not valid for the Server compute platform."
                )));
            }
        }
        Some("GitHub") => {
            let ok = r
                .git_hub_location
                .as_ref()
                .is_some_and(|g| g.repository.is_some() && g.commit_id.is_some());
            if !ok {
                return Err(invalid(
                    "The GitHub repository and commit id must be specified.",
                ));
            }
        }
        Some(other) => {
            return Err(invalid(&format!(
                "Revision type {other} is not valid for the Server compute platform."
            )));
        }
        None => return Err(invalid("Revision type must be specified.")),
    }
    Ok(r)
}

fn input_revision(input: &Input) -> Result<Option<Revision>, AwsError> {
    input
        .get::<Revision>("revision")?
        .map(check_revision)
        .transpose()
}

/// Whether stored revision `stored` is the one `query` names.
fn same_revision(stored: &Revision, query: &Revision) -> bool {
    match (&stored.s3_location, &query.s3_location) {
        (Some(a), Some(b)) => {
            a.bucket == b.bucket
                && a.key == b.key
                && (b.version.is_none() || a.version == b.version)
                && (b.e_tag.is_none() || a.e_tag == b.e_tag)
        }
        _ => stored.git_hub_location == query.git_hub_location && stored.git_hub_location.is_some(),
    }
}

fn remember_revision(
    st: &mut State,
    app: &str,
    revision: &Revision,
    description: Option<String>,
    used_by: Option<&str>,
) {
    let now = SystemTime::now();
    let records = st.revisions.entry(app.to_owned()).or_default();
    let index = match records
        .iter()
        .position(|r| same_revision(&r.revision, revision))
    {
        Some(i) => i,
        None => {
            records.push(RevisionRecord {
                revision: revision.clone(),
                description: None,
                register_time: now,
                first_used: None,
                last_used: None,
                deployment_groups: Vec::new(),
            });
            records.len() - 1
        }
    };
    let record = &mut records[index];
    if description.is_some() {
        record.description = description;
    }
    if let Some(group) = used_by {
        record.first_used.get_or_insert(now);
        record.last_used = Some(now);
        if !record.deployment_groups.iter().any(|g| g == group) {
            record.deployment_groups.push(group.to_owned());
        }
    }
}

fn register_revision(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let revision = input_revision(input)?
        .ok_or_else(|| AwsError::new("RevisionRequiredException", "Revision must be specified."))?;
    let description = input.string("description")?;
    check_description(&description)?;
    remember_revision(st, &app, &revision, description, None);
    Ok(json!({}))
}

fn check_description(d: &Option<String>) -> Result<(), AwsError> {
    if d.as_ref().is_some_and(|d| d.chars().count() > 512) {
        return Err(AwsError::new(
            "DescriptionTooLongException",
            "The description is too long.",
        ));
    }
    Ok(())
}

fn revision_info(r: &RevisionRecord) -> Value {
    json!({
        "description": r.description,
        "deploymentGroups": r.deployment_groups,
        "firstUsedTime": r.first_used.map(epoch),
        "lastUsedTime": r.last_used.map(epoch),
        "registerTime": epoch(r.register_time),
    })
}

fn get_revision(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let query = input_revision(input)?
        .ok_or_else(|| AwsError::new("RevisionRequiredException", "Revision must be specified."))?;
    let record = st
        .revisions
        .get(&app)
        .and_then(|rs| rs.iter().find(|r| same_revision(&r.revision, &query)))
        .ok_or_else(|| {
            AwsError::new(
                "RevisionDoesNotExistException",
                format!("No application revision found for application {app}."),
            )
        })?;
    Ok(json!({
        "applicationName": app,
        "revision": record.revision,
        "revisionInfo": revision_info(record),
    }))
}

fn list_revisions(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let bucket = input.string("s3Bucket")?;
    let prefix = input.string("s3KeyPrefix")?;
    if prefix.is_some() && bucket.is_none() {
        return Err(AwsError::new(
            "BucketNameFilterRequiredException",
            "A bucket name is required when a key prefix is specified.",
        ));
    }
    let deployed = input
        .string("deployed")?
        .unwrap_or_else(|| "ignore".to_owned());
    if !["include", "exclude", "ignore"].contains(&deployed.as_str()) {
        return Err(AwsError::new(
            "InvalidDeployedStateFilterException",
            format!("The deployed state filter is invalid: {deployed}"),
        ));
    }
    let sort_by = input.string("sortBy")?;
    let descending = match input.string("sortOrder")?.as_deref() {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(AwsError::new(
                "InvalidSortOrderException",
                format!("The sort order is invalid: {other}"),
            ));
        }
    };
    let mut records: Vec<&RevisionRecord> = st
        .revisions
        .get(&app)
        .map(|rs| rs.iter().collect())
        .unwrap_or_default();
    records.retain(|r| {
        let s3 = r.revision.s3_location.as_ref();
        let bucket_ok = bucket
            .as_ref()
            .is_none_or(|b| s3.and_then(|s| s.bucket.as_ref()) == Some(b));
        let prefix_ok = prefix.as_ref().is_none_or(|p| {
            s3.and_then(|s| s.key.as_ref())
                .is_some_and(|k| k.starts_with(p.as_str()))
        });
        let deployed_ok = match deployed.as_str() {
            "include" => r.first_used.is_some(),
            "exclude" => r.first_used.is_none(),
            _ => true,
        };
        bucket_ok && prefix_ok && deployed_ok
    });
    let key = |r: &RevisionRecord| match sort_by.as_deref() {
        Some("firstUsedTime") => r.first_used,
        Some("lastUsedTime") => r.last_used,
        _ => Some(r.register_time),
    };
    match sort_by.as_deref() {
        None | Some("registerTime" | "firstUsedTime" | "lastUsedTime") => {}
        Some(other) => {
            return Err(AwsError::new(
                "InvalidSortByException",
                format!("The sort field is invalid: {other}"),
            ));
        }
    }
    records.sort_by_key(|r| key(r));
    if descending {
        records.reverse();
    }
    let revisions: Vec<&Revision> = records.iter().map(|r| &r.revision).collect();
    Ok(json!({ "revisions": revisions }))
}

fn create_deployment(st: &mut State, input: &Input) -> Result<String, AwsError> {
    let app = input.application_name()?;
    let group_name = input.group_name("deploymentGroupName")?;
    let g = group(st, &app, &group_name)?.clone();
    let revision = match input_revision(input)? {
        Some(r) => r,
        None => g.target_revision.clone().ok_or_else(|| {
            AwsError::new("RevisionRequiredException", "Revision must be specified.")
        })?,
    };
    let config = config_name(st, input)?.unwrap_or_else(|| g.config_name.clone());
    let description = input.string("description")?;
    check_description(&description)?;
    let file_exists = input.string("fileExistsBehavior")?;
    if let Some(f) = &file_exists
        && !["DISALLOW", "OVERWRITE", "RETAIN"].contains(&f.as_str())
    {
        return Err(AwsError::new(
            "InvalidFileExistsBehaviorException",
            format!("The fileExistsBehavior is invalid: {f}"),
        ));
    }
    let rollback = auto_rollback(input)?;
    let ignore_stop = input
        .get::<bool>("ignoreApplicationStopFailures")?
        .unwrap_or(false);
    let outdated_only = input
        .get::<bool>("updateOutdatedInstancesOnly")?
        .unwrap_or(false);
    let target_instances: Option<Value> = input.get("targetInstances")?;
    if let Some(active) = st.active_deployment(&g.id) {
        return Err(AwsError::new(
            "DeploymentLimitExceededException",
            format!(
                "The Deployment Group '{}' already has an active Deployment '{}'",
                g.name, active.id
            ),
        ));
    }
    let now = SystemTime::now();
    let id = new_deployment_id();
    st.deployments.insert(
        id.clone(),
        Deployment {
            id: id.clone(),
            application_name: app.clone(),
            group_id: g.id.clone(),
            group_name: g.name.clone(),
            config_name: config,
            revision: revision.clone(),
            previous_revision: g.last_successful_revision.clone(),
            status: DeploymentStatus::Created,
            error: None,
            create_time: now,
            start_time: None,
            complete_time: None,
            description,
            creator: "user",
            ignore_application_stop_failures: ignore_stop,
            auto_rollback: rollback,
            update_outdated_instances_only: outdated_only,
            file_exists_behavior: file_exists,
            target_instances,
            rollback_info: None,
            targets: Vec::new(),
            stopping: None,
            doomed: false,
            status_messages: Vec::new(),
            spec_envelope: None,
        },
    );
    st.deployment_order.push(id.clone());
    remember_revision(st, &app, &revision, None, Some(&g.name));
    let group = st.groups.get_mut(&g.id).expect("found above");
    group.target_revision = Some(revision);
    group.last_attempted = Some(LastDeployment {
        deployment_id: id.clone(),
        status: DeploymentStatus::Created,
        create_time: now,
        end_time: None,
    });
    Ok(id)
}

fn overview(d: &Deployment) -> Value {
    let count = |s: Status| d.targets.iter().filter(|t| t.status == s).count();
    json!({
        "Pending": count(Status::Pending),
        "InProgress": count(Status::InProgress),
        "Succeeded": count(Status::Succeeded),
        "Failed": count(Status::Failed),
        "Skipped": count(Status::Skipped),
        "Ready": 0,
    })
}

/// The `DeploymentInfo` of `d`.
fn deployment_info(st: &State, d: &Deployment) -> Value {
    let style = st
        .groups
        .get(&d.group_id)
        .and_then(|g| g.deployment_style.clone())
        .unwrap_or_else(default_style);
    json!({
        "applicationName": d.application_name,
        "deploymentGroupName": d.group_name,
        "deploymentConfigName": d.config_name,
        "deploymentId": d.id,
        "previousRevision": d.previous_revision,
        "revision": d.revision,
        "status": d.status.as_str(),
        "errorInformation": d.error.as_ref().map(|e| json!({ "code": e.code, "message": e.message })),
        "createTime": epoch(d.create_time),
        "startTime": d.start_time.map(epoch),
        "completeTime": d.complete_time.map(epoch),
        "deploymentOverview": overview(d),
        "description": d.description,
        "creator": d.creator,
        "ignoreApplicationStopFailures": d.ignore_application_stop_failures,
        "autoRollbackConfiguration": d.auto_rollback.clone().or_else(|| {
            st.groups.get(&d.group_id).and_then(|g| g.auto_rollback.clone())
        }),
        "updateOutdatedInstancesOnly": d.update_outdated_instances_only,
        "rollbackInfo": d.rollback_info.as_ref().map(|r| json!({
            "rollbackDeploymentId": r.rollback_deployment_id,
            "rollbackTriggeringDeploymentId": r.rollback_triggering_deployment_id,
            "rollbackMessage": r.rollback_message,
        })),
        "deploymentStyle": style,
        "targetInstances": d.target_instances,
        "instanceTerminationWaitTimeStarted": false,
        "fileExistsBehavior": d.file_exists_behavior.clone().unwrap_or_else(|| "DISALLOW".to_owned()),
        "deploymentStatusMessages": d.status_messages,
        "computePlatform": "Server",
    })
}

fn batch_get_deployments(st: &mut State, input: &Input) -> Output {
    let ids: Vec<String> = input.get("deploymentIds")?.ok_or_else(|| {
        AwsError::new(
            "DeploymentIdRequiredException",
            "Deployment ids must be specified.",
        )
    })?;
    if ids.len() > 25 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (25) was exceeded.",
        ));
    }
    for id in &ids {
        check_deployment_id(id)?;
    }
    let infos: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.deployments.get(id))
        .map(|d| deployment_info(st, d))
        .collect();
    Ok(json!({ "deploymentsInfo": infos }))
}

fn list_deployments(st: &mut State, input: &Input) -> Output {
    let app = input.string("applicationName")?;
    let group_name = input.string("deploymentGroupName")?;
    let group_id = match (&app, &group_name) {
        (Some(a), Some(g)) => Some(group(st, a, g)?.id.clone()),
        (Some(_), None) => {
            return Err(AwsError::new(
                "DeploymentGroupNameRequiredException",
                "Deployment group name must be specified when an application name is.",
            ));
        }
        (None, Some(_)) => {
            return Err(AwsError::new(
                "ApplicationNameRequiredException",
                "Application name must be specified when a deployment group name is.",
            ));
        }
        (None, None) => None,
    };
    let statuses: Vec<String> = input.get("includeOnlyStatuses")?.unwrap_or_default();
    const KNOWN: [&str; 8] = [
        "Created",
        "Queued",
        "InProgress",
        "Baking",
        "Succeeded",
        "Failed",
        "Stopped",
        "Ready",
    ];
    if let Some(bad) = statuses.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        return Err(AwsError::new(
            "InvalidDeploymentStatusException",
            format!("The deployment status is invalid: {bad}"),
        ));
    }
    let range: TimeRange = input.get("createTimeRange")?.unwrap_or_default();
    let start = range.start.map(from_epoch).transpose()?;
    let end = range.end.map(from_epoch).transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(AwsError::new(
            "InvalidTimeRangeException",
            "The start time is after the end time.",
        ));
    }
    let ids: Vec<&String> = st
        .deployment_order
        .iter()
        .rev()
        .filter(|id| {
            let d = &st.deployments[*id];
            group_id.as_ref().is_none_or(|g| &d.group_id == g)
                && (statuses.is_empty() || statuses.iter().any(|s| s == d.status.as_str()))
                && start.is_none_or(|s| d.create_time >= s)
                && end.is_none_or(|e| d.create_time <= e)
        })
        .collect();
    Ok(json!({ "deployments": ids }))
}

fn stop_deployment(sim: &Arc<Simulation>, input: &Input) -> Output {
    let id = input.deployment_id()?;
    let rollback: Option<bool> = input.get("autoRollbackEnabled")?;
    let (outcome, effects) = sim.with_state(|st| {
        let d = find_deployment(st, &id)?;
        if d.status.is_done() {
            return Err(AwsError::new(
                "DeploymentAlreadyCompletedException",
                format!("Deployment {id} has already completed."),
            ));
        }
        let rollback = rollback.unwrap_or_else(|| {
            d.auto_rollback
                .clone()
                .or_else(|| {
                    st.groups
                        .get(&d.group_id)
                        .and_then(|g| g.auto_rollback.clone())
                })
                .is_some_and(|r| r.on("DEPLOYMENT_STOP_ON_REQUEST"))
        });
        Ok(orchestrator::stop_deployment(st, &id, rollback))
    })?;
    sim.apply(effects);
    Ok(match outcome {
        StopOutcome::Pending => json!({
            "status": "Pending",
            "statusMessage": "Stopping Pending. Stopping to schedule commands in the deployment instances",
        }),
        StopOutcome::Succeeded => json!({
            "status": "Succeeded",
            "statusMessage": "Stopped",
        }),
    })
}

fn started_deployment<'a>(st: &'a State, input: &Input) -> Result<&'a Deployment, AwsError> {
    let d = deployment(st, input)?;
    if d.status == DeploymentStatus::Created {
        return Err(AwsError::new(
            "DeploymentNotStartedException",
            format!("The deployment {} has not started.", d.id),
        ));
    }
    Ok(d)
}

fn list_targets(st: &mut State, input: &Input, instances: bool) -> Output {
    let d = started_deployment(st, input)?;
    let statuses: Vec<String> = if instances {
        input.get("instanceStatusFilter")?.unwrap_or_default()
    } else {
        let filters: Option<std::collections::HashMap<String, Vec<String>>> =
            input.get("targetFilters")?;
        let filters = filters.unwrap_or_default();
        if let Some(bad) = filters
            .keys()
            .find(|k| !["TargetStatus", "ServerInstanceLabel"].contains(&k.as_str()))
        {
            return Err(AwsError::new(
                "InvalidTargetFilterNameException",
                format!("The target filter name is invalid: {bad}"),
            ));
        }
        filters.get("TargetStatus").cloned().unwrap_or_default()
    };
    const KNOWN: [&str; 7] = [
        "Pending",
        "InProgress",
        "Succeeded",
        "Failed",
        "Skipped",
        "Unknown",
        "Ready",
    ];
    if let Some(bad) = statuses.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        return Err(AwsError::new(
            "InvalidInstanceStatusException",
            format!("The instance status is invalid: {bad}"),
        ));
    }
    let ids: Vec<&str> = d
        .targets
        .iter()
        .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
        .map(|t| t.id.as_str())
        .collect();
    Ok(if instances {
        json!({ "instancesList": ids })
    } else {
        json!({ "targetIds": ids })
    })
}

fn event_json(e: &LifecycleEvent) -> Value {
    json!({
        "lifecycleEventName": e.name,
        "status": e.status.as_str(),
        "startTime": e.start.map(epoch),
        "endTime": e.end.map(epoch),
        "diagnostics": e.diagnostics.as_ref().map(|d| json!({
            "errorCode": d.error_code,
            "scriptName": d.script_name,
            "message": d.message,
            "logTail": d.log_tail,
        })),
    })
}

fn target_json(d: &Deployment, t: &Target) -> Value {
    json!({
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": d.id,
            "targetId": t.id,
            "targetArn": t.arn,
            "status": t.status.as_str(),
            "lastUpdatedAt": epoch(t.last_updated),
            "lifecycleEvents": t.events.iter().map(event_json).collect::<Vec<_>>(),
        }
    })
}

fn find_target<'a>(d: &'a Deployment, id: &str) -> Result<&'a Target, AwsError> {
    d.targets.iter().find(|t| t.id == id).ok_or_else(|| {
        AwsError::new(
            "DeploymentTargetDoesNotExistException",
            format!("The target {id} is not part of deployment {}.", d.id),
        )
    })
}

fn batch_get_targets(st: &mut State, input: &Input) -> Output {
    let d = started_deployment(st, input)?;
    let ids: Vec<String> = input.get("targetIds")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(AwsError::new(
            "DeploymentTargetIdRequiredException",
            "Target ids must be specified.",
        ));
    }
    if ids.len() > 25 {
        return Err(AwsError::new(
            "DeploymentTargetListSizeExceededException",
            "The maximum number of targets that can be associated with a request (25) was exceeded.",
        ));
    }
    let targets = ids
        .iter()
        .map(|id| find_target(d, id).map(|t| target_json(d, t)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "deploymentTargets": targets }))
}

fn get_target(st: &mut State, input: &Input, field: &str) -> Output {
    let d = deployment(st, input)?;
    let (exception, what) = if field == "instanceId" {
        ("InstanceIdRequiredException", "Instance id")
    } else {
        ("DeploymentTargetIdRequiredException", "Target id")
    };
    let id = input.require(field, exception, what)?;
    let t = find_target(d, &id).map_err(|e| {
        if field == "instanceId" {
            AwsError::new("InstanceDoesNotExistException", e.message)
        } else {
            e
        }
    })?;
    Ok(if field == "instanceId" {
        json!({ "instanceSummary": {
            "deploymentId": d.id,
            "instanceId": t.id,
            "status": t.status.as_str(),
            "lastUpdatedAt": epoch(t.last_updated),
            "lifecycleEvents": t.events.iter().map(event_json).collect::<Vec<_>>(),
        }})
    } else {
        json!({ "deploymentTarget": target_json(d, t) })
    })
}

fn register_on_premises(sim: &Simulation, st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "instanceName",
        "InstanceNameRequiredException",
        "Instance name",
    )?;
    check_name(&name, "InvalidInstanceNameException", "Instance name")?;
    let user = input.string("iamUserArn")?;
    let session = input.string("iamSessionArn")?;
    let arn = match (user, session) {
        (Some(_), Some(_)) => {
            return Err(AwsError::new(
                "MultipleIamArnsProvidedException",
                "Both an IAM user ARN and an IAM session ARN were provided.",
            ));
        }
        (None, None) => {
            return Err(AwsError::new(
                "IamArnRequiredException",
                "An IAM user ARN or an IAM session ARN must be specified.",
            ));
        }
        (Some(user), None) => {
            if !(user.starts_with("arn:aws:iam::") && user.contains(":user/")) {
                return Err(AwsError::new(
                    "InvalidIamUserArnException",
                    format!("The IAM user ARN is invalid: {user}"),
                ));
            }
            if st.on_premises.values().any(|i| i.iam_arn == user) {
                return Err(AwsError::new(
                    "IamUserArnAlreadyRegisteredException",
                    format!("The IAM user ARN {user} is already registered."),
                ));
            }
            user
        }
        (None, Some(session)) => {
            if !(session.starts_with("arn:aws:sts::") && session.contains(":assumed-role/")) {
                return Err(AwsError::new(
                    "InvalidIamSessionArnException",
                    format!("The IAM session ARN is invalid: {session}"),
                ));
            }
            if st.on_premises.values().any(|i| i.iam_arn == session) {
                return Err(AwsError::new(
                    "IamSessionArnAlreadyRegisteredException",
                    format!("The IAM session ARN {session} is already registered."),
                ));
            }
            session
        }
    };
    if st.on_premises.contains_key(&name) {
        return Err(AwsError::new(
            "InstanceNameAlreadyRegisteredException",
            format!("The on-premises instance name {name} is already registered."),
        ));
    }
    st.on_premises.insert(
        name.clone(),
        OnPremisesInstance {
            arn: sim.on_premises_arn(&name),
            name,
            iam_arn: arn,
            tags: Vec::new(),
            register_time: SystemTime::now(),
        },
    );
    Ok(json!({}))
}

#[derive(serde::Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

fn add_tags(st: &mut State, input: &Input) -> Output {
    let names: Vec<String> = input.get("instanceNames")?.unwrap_or_default();
    if names.is_empty() {
        return Err(AwsError::new(
            "InstanceNameRequiredException",
            "Instance names must be specified.",
        ));
    }
    let tags: Vec<Tag> = input.get("tags")?.unwrap_or_default();
    if tags.is_empty() {
        return Err(AwsError::new(
            "TagRequiredException",
            "Tags must be specified.",
        ));
    }
    if tags
        .iter()
        .any(|t| t.key.as_deref().is_none_or(str::is_empty))
    {
        return Err(AwsError::new(
            "InvalidTagException",
            "A tag key must be specified.",
        ));
    }
    if let Some(missing) = names.iter().find(|n| !st.on_premises.contains_key(*n)) {
        return Err(AwsError::new(
            "InstanceNotRegisteredException",
            format!("The on-premises instance {missing} is not registered."),
        ));
    }
    for name in &names {
        let instance = st.on_premises.get_mut(name).expect("checked above");
        for t in &tags {
            let key = t.key.clone().unwrap_or_default();
            let value = t.value.clone().unwrap_or_default();
            instance.tags.retain(|(k, _)| *k != key);
            instance.tags.push((key, value));
        }
    }
    Ok(json!({}))
}

fn get_on_premises(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "instanceName",
        "InstanceNameRequiredException",
        "Instance name",
    )?;
    let i = st.on_premises.get(&name).ok_or_else(|| {
        AwsError::new(
            "InstanceNotRegisteredException",
            format!("The on-premises instance {name} is not registered."),
        )
    })?;
    let arn_field = if i.iam_arn.contains(":user/") {
        "iamUserArn"
    } else {
        "iamSessionArn"
    };
    Ok(json!({ "instanceInfo": {
        "instanceName": i.name,
        arn_field: i.iam_arn,
        "instanceArn": i.arn,
        "registerTime": epoch(i.register_time),
        "tags": i.tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect::<Vec<_>>(),
    }}))
}

fn config_info(c: &DeploymentConfig) -> Value {
    let (kind, value) = c.minimum_healthy.wire();
    json!({
        "deploymentConfigId": c.id,
        "deploymentConfigName": c.name,
        "minimumHealthyHosts": { "type": kind, "value": value },
        "createTime": epoch(c.create_time),
        "computePlatform": "Server",
    })
}

fn get_deployment_config(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "deploymentConfigName",
        "DeploymentConfigNameRequiredException",
        "Deployment config name",
    )?;
    let c = st.configs.get(&name).ok_or_else(|| {
        AwsError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        )
    })?;
    Ok(json!({ "deploymentConfigInfo": config_info(c) }))
}

#[derive(serde::Deserialize)]
struct MinimumHealthyInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The model's `MinimumHealthyHostsValue` is a 32-bit integer.
    value: Option<i32>,
}

fn create_deployment_config(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "deploymentConfigName",
        "DeploymentConfigNameRequiredException",
        "Deployment config name",
    )?;
    check_name(
        &name,
        "InvalidDeploymentConfigNameException",
        "Deployment config name",
    )?;
    if name.starts_with("CodeDeployDefault.") || st.configs.contains_key(&name) {
        return Err(AwsError::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration named {name} already exists."),
        ));
    }
    let minimum: MinimumHealthyInput = input.get("minimumHealthyHosts")?.ok_or_else(|| {
        AwsError::new(
            "InvalidMinimumHealthyHostValueException",
            "Minimum healthy hosts must be specified.",
        )
    })?;
    let value = minimum.value.unwrap_or(-1);
    let minimum_healthy = match (minimum.kind.as_deref(), value) {
        (Some("HOST_COUNT"), v) if v >= 0 => MinimumHealthy::HostCount(v as u32),
        (Some("FLEET_PERCENT"), v) if (0..=99).contains(&v) => {
            MinimumHealthy::FleetPercent(v as u32)
        }
        _ => {
            return Err(AwsError::new(
                "InvalidMinimumHealthyHostValueException",
                "The minimum healthy hosts value is invalid.",
            ));
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    st.configs.insert(
        name.clone(),
        DeploymentConfig {
            id: id.clone(),
            name,
            minimum_healthy,
            create_time: SystemTime::now(),
        },
    );
    Ok(json!({ "deploymentConfigId": id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codedeploy::state::S3Location;

    #[test]
    fn timestamps_are_epoch_seconds_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(epoch(t), 1_700_000_000.123);
    }

    #[test]
    fn bundle_type_is_inferred_from_the_key() {
        let r = check_revision(Revision {
            revision_type: Some("S3".into()),
            s3_location: Some(S3Location {
                bucket: Some("b".into()),
                key: Some("app.tar.gz".into()),
                ..S3Location::default()
            }),
            git_hub_location: None,
        })
        .unwrap();
        assert_eq!(r.s3_location.unwrap().bundle_type.as_deref(), Some("tgz"));
    }

    #[test]
    fn string_revisions_are_invalid_for_server() {
        let e = check_revision(Revision {
            revision_type: Some("String".into()),
            ..Revision::default()
        })
        .unwrap_err();
        assert_eq!(e.code, "InvalidRevisionException");
    }

    #[test]
    fn a_minimum_healthy_value_beyond_32_bits_is_refused_not_truncated() {
        let mut st = State::new("us-east-1".into(), "123456789012".into(), Duration::ZERO);
        let input = Input(json!({
            "deploymentConfigName": "Huge",
            "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 4_294_967_297_i64},
        }));
        let e = create_deployment_config(&mut st, &input).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("minimumHealthyHosts"), "{}", e.message);
        assert!(!st.configs.contains_key("Huge"));
    }

    #[test]
    fn nulls_are_left_out() {
        assert_eq!(
            strip_nulls(json!({"a": null, "b": {"c": null, "d": 1}})),
            json!({"b": {"d": 1}})
        );
    }
}
