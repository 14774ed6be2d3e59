//! On-premises instances: registering, tagging, listing and deregistering them.

use serde_json::{Value, json};

use super::groups::check_filters;
use super::pages::page;
use super::{Input, Output, check_name, epoch};
use crate::codedeploy::orchestrator::Simulation;
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{OnPremisesInstance, State, TagFilter, Targeting};

pub(super) fn register_on_premises(sim: &Simulation, st: &mut State, input: &Input) -> Output {
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
            if registered_arn(st, &user) {
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
            if registered_arn(st, &session) {
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
            register_time: st.now(),
            deregister_time: None,
        },
    );
    Ok(json!({}))
}

/// Whether a registered instance holds `arn`: a deregistered one has let
/// its IAM identity go, so a host can be registered again under it.
fn registered_arn(st: &State, arn: &str) -> bool {
    st.on_premises
        .values()
        .any(|i| i.is_registered() && i.iam_arn == arn)
}

/// DeregisterOnPremisesInstance. The record stays, with its tags, as AWS
/// keeps them (`aws deploy deregister` removes the tags first itself); the
/// model lists no error for an unknown name.
pub(super) fn deregister_on_premises(st: &mut State, input: &Input) -> Output {
    let name = input.require(
        "instanceName",
        "InstanceNameRequiredException",
        "Instance name",
    )?;
    check_name(&name, "InvalidInstanceNameException", "Instance name")?;
    let now = st.now();
    if let Some(i) = st.on_premises.get_mut(&name)
        && i.deregister_time.is_none()
    {
        i.deregister_time = Some(now);
    }
    Ok(json!({}))
}

#[derive(serde::Deserialize)]
pub(super) struct Tag {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

/// The instance names and tags AddTags and RemoveTags both take, checked
/// the same way: every instance must be registered.
fn names_and_tags(st: &State, input: &Input) -> Result<(Vec<String>, Vec<Tag>), AwsError> {
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
    if let Some(missing) = names
        .iter()
        .find(|n| !st.on_premises.get(*n).is_some_and(|i| i.is_registered()))
    {
        return Err(AwsError::new(
            "InstanceNotRegisteredException",
            format!("The on-premises instance {missing} is not registered."),
        ));
    }
    Ok((names, tags))
}

pub(super) fn add_tags(st: &mut State, input: &Input) -> Output {
    let (names, tags) = names_and_tags(st, input)?;
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

/// RemoveTagsFromOnPremisesInstances: a tag goes when its key and value
/// both match; a tag the instance does not carry is no error.
pub(super) fn remove_tags(st: &mut State, input: &Input) -> Output {
    let (names, tags) = names_and_tags(st, input)?;
    for name in &names {
        let instance = st.on_premises.get_mut(name).expect("checked above");
        instance.tags.retain(|(k, v)| {
            !tags.iter().any(|t| {
                t.key.as_deref() == Some(k.as_str())
                    && t.value.as_deref().unwrap_or_default() == v.as_str()
            })
        });
    }
    Ok(json!({}))
}

fn instance_info(i: &OnPremisesInstance) -> Value {
    let arn_field = if i.iam_arn.contains(":user/") {
        "iamUserArn"
    } else {
        "iamSessionArn"
    };
    json!({
        "instanceName": i.name,
        arn_field: i.iam_arn,
        "instanceArn": i.arn,
        "registerTime": epoch(i.register_time),
        "deregisterTime": i.deregister_time.map(epoch),
        "tags": i.tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect::<Vec<_>>(),
    })
}

/// BatchGetOnPremisesInstances: names not registered are left out.
pub(super) fn batch_get_on_premises(st: &mut State, input: &Input) -> Output {
    let names: Vec<String> = input.get("instanceNames")?.unwrap_or_default();
    if names.is_empty() {
        return Err(AwsError::new(
            "InstanceNameRequiredException",
            "Instance names must be specified.",
        ));
    }
    if names.len() > 25 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (25) was exceeded.",
        ));
    }
    for name in &names {
        check_name(name, "InvalidInstanceNameException", "Instance name")?;
    }
    let infos: Vec<Value> = names
        .iter()
        .filter_map(|n| st.on_premises.get(n))
        .map(instance_info)
        .collect();
    Ok(json!({ "instanceInfos": infos }))
}

/// ListOnPremisesInstances: registered and deregistered ones unless
/// `registrationStatus` picks one kind; `tagFilters` are OR'd, as a
/// group's are.
pub(super) fn list_on_premises(st: &mut State, input: &Input) -> Output {
    let status = input.string("registrationStatus")?;
    let registered = match status.as_deref() {
        None => None,
        Some("Registered") => Some(true),
        Some("Deregistered") => Some(false),
        Some(other) => {
            return Err(AwsError::new(
                "InvalidRegistrationStatusException",
                format!("The registration status is invalid: {other}"),
            ));
        }
    };
    let filters: Vec<TagFilter> = input.get("tagFilters")?.unwrap_or_default();
    check_filters(&filters, "InvalidTagFilterException")?;
    let targeting = Targeting {
        filters,
        tag_set: Vec::new(),
    };
    let names: Vec<&String> = st
        .on_premises
        .values()
        .filter(|i| registered.is_none_or(|r| i.is_registered() == r))
        .filter(|i| targeting.is_empty() || targeting.matches(&i.tags))
        .map(|i| &i.name)
        .collect();
    let (page, next) = page(input, "ListOnPremisesInstances", &names, st.page_size)?;
    Ok(json!({ "instanceNames": page, "nextToken": next }))
}

pub(super) fn get_on_premises(st: &mut State, input: &Input) -> Output {
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
    Ok(json!({ "instanceInfo": instance_info(i) }))
}
