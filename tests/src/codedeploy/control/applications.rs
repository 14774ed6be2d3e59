//! Applications: creating, describing and listing them.

use serde_json::{Value, json};

use super::pages::page;
use super::{Input, Output, application, check_name, epoch};
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{Application, State};

pub(super) fn create_application(st: &mut State, input: &Input) -> Output {
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
            create_time: st.now(),
            compute_platform: platform,
        },
    );
    Ok(json!({ "applicationId": id }))
}

fn application_info(app: &Application) -> Value {
    json!({
        "applicationId": app.id,
        "applicationName": app.name,
        "createTime": epoch(app.create_time),
        "linkedToGitHub": false,
        "computePlatform": app.compute_platform,
    })
}

pub(super) fn get_application(st: &mut State, input: &Input) -> Output {
    let app = application(st, &input.application_name()?)?;
    Ok(json!({ "application": application_info(app) }))
}

/// BatchGetApplications: every name must exist, as AWS answers
/// ApplicationDoesNotExistException for the first that does not.
pub(super) fn batch_get_applications(st: &mut State, input: &Input) -> Output {
    let names: Vec<String> = input.get("applicationNames")?.unwrap_or_default();
    if names.is_empty() {
        return Err(AwsError::new(
            "ApplicationNameRequiredException",
            "Application names must be specified.",
        ));
    }
    if names.len() > 100 {
        return Err(AwsError::new(
            "BatchLimitExceededException",
            "The maximum number of names or IDs allowed for this request (100) was exceeded.",
        ));
    }
    let infos = names
        .iter()
        .map(|name| {
            check_name(name, "InvalidApplicationNameException", "Application name")?;
            application(st, name).map(application_info)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "applicationsInfo": infos }))
}

pub(super) fn list_applications(st: &mut State, input: &Input) -> Output {
    let names: Vec<&String> = st.applications.keys().collect();
    let (page, next) = page(input, "ListApplications", &names, st.page_size)?;
    Ok(json!({ "applications": page, "nextToken": next }))
}
