//! Applications: CreateApplication, GetApplication.

use super::*;

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
            create_time: SystemTime::now(),
            compute_platform: platform,
        },
    );
    Ok(json!({ "applicationId": id }))
}

pub(super) fn get_application(st: &mut State, input: &Input) -> Output {
    let app = application(st, &input.application_name()?)?;
    Ok(json!({ "application": {
        "applicationId": app.id,
        "applicationName": app.name,
        "createTime": epoch(app.create_time),
        "linkedToGitHub": false,
        "computePlatform": app.compute_platform,
    }}))
}
