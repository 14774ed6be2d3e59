//! Never backwards by accident: a commit that is an ancestor of what the
//! group last deployed successfully is refused unless asked for.

use std::time::SystemTime;

use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus, RevisionLocation};
use git2::{Oid, Repository};

use crate::deploy::concurrency;
use crate::deploy::error::{DeployError, Result};

/// A deployment that ended well, and what it deployed.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// Its id.
    pub deployment: String,
    /// The revision.
    pub revision: Option<RevisionLocation>,
    /// The commit, when the key or the description names it.
    pub commit: Option<String>,
    /// When it completed.
    pub completed: Option<SystemTime>,
    /// Its description.
    pub description: String,
}

/// The commit a revision was built from: a GitHub revision's commit id, a
/// Slipway key's `<commit>-<sha>.<ext>` name, or `commit <sha>` in the
/// description.
pub fn commit_of(revision: Option<&RevisionLocation>, description: &str) -> Option<String> {
    let hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(commit) = revision
        .and_then(|r| r.git_hub_location())
        .and_then(|g| g.commit_id())
    {
        return Some(commit.to_owned());
    }
    if let Some(key) = revision.and_then(|r| r.s3_location()).and_then(|s| s.key()) {
        let name = key.rsplit('/').next().unwrap_or(key);
        if let Some(commit) = name.split(['-', '.']).next().filter(|c| hex40(c)) {
            return Some(commit.to_owned());
        }
    }
    description
        .split_whitespace()
        .skip_while(|w| *w != "commit")
        .nth(1)
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_hexdigit()))
        .filter(|c| hex40(c))
        .map(str::to_owned)
}

fn deployed(info: &DeploymentInfo) -> Deployed {
    let description = info.description().unwrap_or_default().to_owned();
    Deployed {
        deployment: info.deployment_id().unwrap_or_default().to_owned(),
        revision: info.revision().cloned(),
        commit: commit_of(info.revision(), &description),
        completed: info
            .complete_time()
            .and_then(|t| SystemTime::try_from(*t).ok()),
        description,
    }
}

/// The group's deployments with `status`, newest first.
pub async fn deployments(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
    statuses: &[DeploymentStatus],
) -> Result<Vec<DeploymentInfo>> {
    let ids = concurrency::deployment_ids(cd, application, group, statuses).await?;
    let mut infos = Vec::new();
    for chunk in ids.chunks(25) {
        let batch = cd
            .batch_get_deployments()
            .set_deployment_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(DeployError::codedeploy(
                "BatchGetDeployments",
                format!("{application}/{group}"),
            ))?;
        infos.extend(batch.deployments_info().iter().cloned());
    }
    infos.sort_by_key(|i| {
        std::cmp::Reverse(
            i.create_time()
                .map(|t| (t.secs(), t.subsec_nanos()))
                .unwrap_or_default(),
        )
    });
    Ok(infos)
}

/// The group's successful deployments, the most recently completed first.
pub async fn successes(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<Vec<Deployed>> {
    let infos = deployments(cd, application, group, &[DeploymentStatus::Succeeded]).await?;
    let mut done: Vec<Deployed> = infos.iter().map(deployed).collect();
    done.sort_by_key(|d| std::cmp::Reverse(d.completed));
    Ok(done)
}

/// Refuses `commit` when it is an ancestor of `last`'s commit.
pub fn check(repo: &Repository, commit: &str, last: &Deployed, group: &str) -> Result<()> {
    let Some(deployed) = last.commit.as_deref() else {
        return Ok(());
    };
    if deployed == commit {
        // A redeploy of the same commit is not going back.
        return Ok(());
    }
    let (Ok(new), Ok(old)) = (Oid::from_str(commit), Oid::from_str(deployed)) else {
        return Ok(());
    };
    if repo.find_commit(old).is_err() {
        return Err(DeployError::UnknownAncestry {
            commit: commit.to_owned(),
            deployed: deployed.to_owned(),
            deployment: last.deployment.clone(),
            shallow: if repo.is_shallow() {
                ", which is shallow"
            } else {
                ""
            },
        });
    }
    let older = repo
        .graph_descendant_of(old, new)
        .map_err(|source| DeployError::ReadTree { source })?;
    if older {
        return Err(DeployError::OlderCommit {
            commit: commit.to_owned(),
            deployed: deployed.to_owned(),
            deployment: last.deployment.clone(),
            group: group.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_codedeploy::types::{RevisionLocationType, S3Location};

    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn the_commit_is_read_from_the_key_or_the_description() {
        let s3 = RevisionLocation::builder()
            .revision_type(RevisionLocationType::S3)
            .s3_location(
                S3Location::builder()
                    .key(format!("slipway/shop/{SHA}-abcdef012345.tar.gz"))
                    .build(),
            )
            .build();
        assert_eq!(commit_of(Some(&s3), "").as_deref(), Some(SHA));
        assert_eq!(
            commit_of(None, &format!("slipway: commit {SHA} by dev")).as_deref(),
            Some(SHA)
        );
        assert_eq!(commit_of(None, "push to main"), None);
    }
}
