//! On-premises instances: registering and tagging them.

use super::*;

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
pub(super) struct Tag {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

pub(super) fn add_tags(st: &mut State, input: &Input) -> Output {
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
