//! Deployment groups: their targeting, configs and auto-rollback settings.

use serde_json::{Map, Value, json};

use super::pages::page;
use super::{Input, Output, application, check_name, epoch, group};
use crate::codedeploy::configs;
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{
    AutoRollback, DeploymentGroup, LastDeployment, State, TagFilter, Targeting,
};

pub(super) fn config_name(st: &State, input: &Input) -> Result<Option<String>, AwsError> {
    let Some(name) = input.string("deploymentConfigName")? else {
        return Ok(None);
    };
    let Some(config) = st.configs.get(&name) else {
        return Err(AwsError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        ));
    };
    // Every group here is of the Server platform.
    if config.rule.minimum_healthy().is_none() {
        return Err(AwsError::new(
            "InvalidDeploymentConfigNameException",
            format!(
                "The deployment configuration {name} is for the {} compute platform, not Server.",
                config.rule.compute_platform()
            ),
        ));
    }
    Ok(Some(name))
}

pub(super) fn auto_rollback(input: &Input) -> Result<Option<AutoRollback>, AwsError> {
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

pub(super) fn check_filters(filters: &[TagFilter], exception: &str) -> Result<(), AwsError> {
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
pub(super) fn targeting(
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

pub(super) fn ec2_targeting(input: &Input) -> Result<Option<Targeting>, AwsError> {
    targeting(
        input,
        "ec2TagFilters",
        "ec2TagSet",
        "ec2TagSetList",
        "InvalidEC2TagCombinationException",
    )
}

pub(super) fn on_premises_targeting(input: &Input) -> Result<Option<Targeting>, AwsError> {
    targeting(
        input,
        "onPremisesInstanceTagFilters",
        "onPremisesTagSet",
        "onPremisesTagSetList",
        "InvalidOnPremisesTagCombinationException",
    )
}

pub(super) fn create_deployment_group(st: &mut State, input: &Input) -> Output {
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
        config_name: config_name(st, input)?.unwrap_or_else(|| configs::DEFAULT_CONFIG.to_owned()),
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

pub(super) fn targeting_json(
    t: &Targeting,
    filters_field: &str,
    set_field: &str,
    list_field: &str,
) -> Value {
    let mut out = Map::new();
    if !t.tag_set.is_empty() {
        out.insert(set_field.to_owned(), json!({ list_field: t.tag_set }));
    }
    out.insert(filters_field.to_owned(), json!(t.filters));
    Value::Object(out)
}

pub(super) fn last_json(l: &Option<LastDeployment>) -> Value {
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

pub(super) fn group_info(g: &DeploymentGroup) -> Value {
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

pub(super) fn default_style() -> Value {
    json!({ "deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL" })
}

pub(super) fn get_deployment_group(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    let name = input.group_name("deploymentGroupName")?;
    let g = group(st, &app, &name)?;
    Ok(json!({ "deploymentGroupInfo": group_info(g) }))
}

pub(super) fn update_deployment_group(st: &mut State, input: &Input) -> Output {
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

pub(super) fn list_deployment_groups(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let names: Vec<&str> = st
        .groups
        .values()
        .filter(|g| g.application_name == app)
        .map(|g| g.name.as_str())
        .collect();
    let (page, next) = page(input, "ListDeploymentGroups", &names, st.page_size)?;
    Ok(json!({ "applicationName": app, "deploymentGroups": page, "nextToken": next }))
}

/// BatchGetDeploymentGroups: the groups found, and an `errorMessage`
/// naming those that are not.
pub(super) fn batch_get_deployment_groups(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let names: Vec<String> = input.get("deploymentGroupNames")?.unwrap_or_default();
    if names.is_empty() {
        return Err(AwsError::new(
            "DeploymentGroupNameRequiredException",
            "Deployment group names must be specified.",
        ));
    }
    if names.len() > 25 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (25) was exceeded.",
        ));
    }
    let mut infos = Vec::new();
    let mut missing = Vec::new();
    for name in &names {
        check_name(
            name,
            "InvalidDeploymentGroupNameException",
            "Deployment group name",
        )?;
        match st.group(&app, name) {
            Some(g) => infos.push(group_info(g)),
            None => missing.push(name.as_str()),
        }
    }
    let error = (!missing.is_empty()).then(|| {
        format!(
            "Deployment groups {} do not exist for application {app}.",
            missing.join(", ")
        )
    });
    Ok(json!({ "deploymentGroupsInfo": infos, "errorMessage": error }))
}

/// DeleteDeploymentGroup. AWS's model lists no error for a group that is
/// not there, so deleting one succeeds; the group's deployments stay
/// readable.
pub(super) fn delete_deployment_group(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    let name = input.group_name("deploymentGroupName")?;
    if let Some(id) = st.group_id(&app, &name) {
        st.groups.remove(&id);
    }
    Ok(json!({ "hooksNotCleanedUp": [] }))
}
