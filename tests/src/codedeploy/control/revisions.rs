//! Application revisions: registering, finding and listing them.

use serde_json::{Value, json};
use slipway_shared::bundle::BundleType;

use super::pages::page;
use super::{Input, Output, application, epoch};
use crate::codedeploy::server::AwsError;
use crate::codedeploy::state::{Revision, RevisionRecord, State};

/// Checks a revision the Server platform can deploy, filling in the
/// bundle type from the key's extension when it is missing.
pub(super) fn check_revision(mut r: Revision) -> Result<Revision, AwsError> {
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
                let inferred = BundleType::from_key(key)
                    .ok_or_else(|| invalid("The bundle type must be specified."))?;
                s3.bundle_type = Some(inferred.as_str().to_owned());
            }
            let bundle = s3.bundle_type.as_deref().unwrap_or_default();
            if bundle.parse::<BundleType>().is_err() {
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

pub(super) fn input_revision(input: &Input) -> Result<Option<Revision>, AwsError> {
    input
        .get::<Revision>("revision")?
        .map(check_revision)
        .transpose()
}

/// Whether stored revision `stored` is the one `query` names.
pub(super) fn same_revision(stored: &Revision, query: &Revision) -> bool {
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

pub(super) fn remember_revision(
    st: &mut State,
    app: &str,
    revision: &Revision,
    description: Option<String>,
    used_by: Option<&str>,
) {
    let now = st.now();
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

pub(super) fn register_revision(st: &mut State, input: &Input) -> Output {
    let app = input.application_name()?;
    application(st, &app)?;
    let revision = input_revision(input)?
        .ok_or_else(|| AwsError::new("RevisionRequiredException", "Revision must be specified."))?;
    let description = input.string("description")?;
    check_description(&description)?;
    remember_revision(st, &app, &revision, description, None);
    Ok(json!({}))
}

pub(super) fn check_description(d: &Option<String>) -> Result<(), AwsError> {
    if d.as_ref().is_some_and(|d| d.chars().count() > 512) {
        return Err(AwsError::new(
            "DescriptionTooLongException",
            "The description is too long.",
        ));
    }
    Ok(())
}

pub(super) fn revision_info(r: &RevisionRecord) -> Value {
    json!({
        "description": r.description,
        "deploymentGroups": r.deployment_groups,
        "firstUsedTime": r.first_used.map(epoch),
        "lastUsedTime": r.last_used.map(epoch),
        "registerTime": epoch(r.register_time),
    })
}

pub(super) fn get_revision(st: &mut State, input: &Input) -> Output {
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

pub(super) fn list_revisions(st: &mut State, input: &Input) -> Output {
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
    let (page, next) = page(input, "ListApplicationRevisions", &revisions, st.page_size)?;
    Ok(json!({ "revisions": page, "nextToken": next }))
}
