//! The simulator's records: applications, deployment groups, revisions,
//! deployments with their instance targets and lifecycle events, registered
//! instances, and the host commands handed to agents.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use slipway_shared::lifecycle::LifecycleEvent as Event;

use super::clock::Clock;
use super::configs::{self, DeploymentConfig};
use super::envelope::Envelope;
use super::planned_ids::PlannedIds;

/// The in-place lifecycle without a load balancer, in the order a host
/// runs it: the one order the action, the agent and the simulator share.
pub fn in_place_events() -> impl Iterator<Item = Event> {
    Event::in_place(false).iter().copied()
}

#[derive(Debug, Clone)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub create_time: SystemTime,
    pub compute_platform: String,
}

/// One `{Key, Value, Type}` tag filter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TagFilter {
    #[serde(rename = "Key", skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "Value", skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl TagFilter {
    fn matches(&self, tags: &[(String, String)]) -> bool {
        let key = self.key.as_deref();
        let value = self.value.as_deref();
        tags.iter().any(|(k, v)| match self.kind.as_deref() {
            Some("KEY_ONLY") => Some(k.as_str()) == key,
            Some("VALUE_ONLY") => Some(v.as_str()) == value,
            _ => Some(k.as_str()) == key && Some(v.as_str()) == value,
        })
    }
}

/// A group's targeting: filters OR'd together, or a tag set whose inner
/// lists are OR'd and outer lists AND'ed, as AWS defines them.
#[derive(Debug, Clone, Default)]
pub struct Targeting {
    pub filters: Vec<TagFilter>,
    pub tag_set: Vec<Vec<TagFilter>>,
}

impl Targeting {
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty() && self.tag_set.is_empty()
    }

    pub fn matches(&self, tags: &[(String, String)]) -> bool {
        if !self.filters.is_empty() {
            return self.filters.iter().any(|f| f.matches(tags));
        }
        !self.tag_set.is_empty()
            && self
                .tag_set
                .iter()
                .all(|any| any.iter().any(|f| f.matches(tags)))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AutoRollback {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

impl AutoRollback {
    pub fn on(&self, event: &str) -> bool {
        self.enabled && self.events.iter().any(|e| e == event)
    }
}

#[derive(Debug, Clone)]
pub struct LastDeployment {
    pub deployment_id: String,
    pub status: DeploymentStatus,
    pub create_time: SystemTime,
    pub end_time: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct DeploymentGroup {
    pub id: String,
    pub application_name: String,
    pub name: String,
    pub config_name: String,
    pub service_role_arn: String,
    pub ec2: Targeting,
    pub on_premises: Targeting,
    pub auto_rollback: Option<AutoRollback>,
    pub deployment_style: Option<Value>,
    pub target_revision: Option<Revision>,
    pub last_successful: Option<LastDeployment>,
    pub last_attempted: Option<LastDeployment>,
    /// The revision of the last successful deployment, for rollbacks.
    pub last_successful_revision: Option<Revision>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GitHubLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
}

/// A `RevisionLocation` as the control plane takes and returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_location: Option<S3Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_hub_location: Option<GitHubLocation>,
}

#[derive(Debug, Clone)]
pub struct RevisionRecord {
    pub revision: Revision,
    pub description: Option<String>,
    pub register_time: SystemTime,
    pub first_used: Option<SystemTime>,
    pub last_used: Option<SystemTime>,
    pub deployment_groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeploymentStatus {
    Created,
    // `Queued` is never used: a second deployment to a busy group is
    // refused (see the module docs).
    InProgress,
    Succeeded,
    Failed,
    Stopped,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Created => "Created",
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::Stopped => "Stopped",
        }
    }

    pub fn is_done(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
        )
    }
}

/// The status of a target or of one of its lifecycle events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::InProgress => "InProgress",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Skipped => "Skipped",
        }
    }
}

/// A lifecycle event's `diagnostics` as the control plane reports them
/// (the host's payload is slipway-shared's `Diagnostics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDiagnostics {
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    pub log_tail: String,
}

/// One lifecycle event of a target, with its progress.
#[derive(Debug, Clone)]
pub struct LifecycleEvent {
    pub event: Event,
    pub status: Status,
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
    pub diagnostics: Option<EventDiagnostics>,
}

/// One instance a deployment runs on.
#[derive(Debug, Clone)]
pub struct Target {
    /// The EC2 instance id or the on-premises instance name.
    pub id: String,
    pub arn: String,
    pub host_identifier: String,
    pub status: Status,
    pub last_updated: SystemTime,
    pub events: Vec<LifecycleEvent>,
}

impl Target {
    /// The event a command is out for, or the next one to send.
    pub fn next_event(&self) -> Option<usize> {
        self.events
            .iter()
            .position(|e| matches!(e.status, Status::Pending | Status::InProgress))
    }
}

#[derive(Debug, Clone, Default)]
pub struct RollbackInfo {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ErrorInformation {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub application_name: String,
    pub group_id: String,
    pub group_name: String,
    pub config_name: String,
    pub revision: Revision,
    pub previous_revision: Option<Revision>,
    pub status: DeploymentStatus,
    pub error: Option<ErrorInformation>,
    pub create_time: SystemTime,
    pub start_time: Option<SystemTime>,
    pub complete_time: Option<SystemTime>,
    pub description: Option<String>,
    pub creator: &'static str,
    pub ignore_application_stop_failures: bool,
    pub auto_rollback: Option<AutoRollback>,
    pub update_outdated_instances_only: bool,
    pub file_exists_behavior: Option<slipway_shared::appspec::FileExistsBehavior>,
    pub target_instances: Option<Value>,
    pub rollback_info: Option<RollbackInfo>,
    pub targets: Vec<Target>,
    /// Set by StopDeployment: no new commands go out; `Some(true)` asks
    /// for a rollback once the hosts in flight are done.
    pub stopping: Option<bool>,
    /// Set once minimum healthy can no longer be kept.
    pub doomed: bool,
    pub status_messages: Vec<String>,
    /// The sealed deployment spec, made once: signing is the costly part.
    pub spec_envelope: Option<Envelope>,
}

/// The phase of a command handed to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandPhase {
    /// Waiting for the host's next PollHostCommand.
    Queued,
    /// Handed to the host.
    Dispatched,
    Acknowledged,
    Completed,
    /// Failed by the simulator (host timeout) or made moot (stop).
    Abandoned,
}

#[derive(Debug, Clone)]
pub struct HostCommand {
    pub id: String,
    pub host_identifier: String,
    pub deployment_id: String,
    pub execution_id: String,
    pub target_index: usize,
    pub event_index: usize,
    pub event: Event,
    pub nonce: i64,
    pub phase: CommandPhase,
    /// The Diagnostics payload of the host's acknowledgement.
    pub acknowledgement: Option<String>,
    /// The EstimatedCompletionTime (epoch seconds) of each
    /// PostHostCommandUpdate the host sent for this command, in order.
    pub updates: Vec<Option<f64>>,
}

/// A registered on-premises instance.
#[derive(Debug, Clone)]
pub struct OnPremisesInstance {
    pub name: String,
    pub iam_arn: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    pub register_time: SystemTime,
    /// Set by DeregisterOnPremisesInstance: the record stays (AWS lists
    /// deregistered instances), but it is no target and no host, and its
    /// IAM identity may be registered again.
    pub deregister_time: Option<SystemTime>,
}

impl OnPremisesInstance {
    pub fn is_registered(&self) -> bool {
        self.deregister_time.is_none()
    }
}

/// An EC2 instance the test bed pretends exists.
#[derive(Debug, Clone)]
pub struct Ec2Instance {
    pub instance_id: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

/// List operations' page size. AWS does not document its own; what
/// matters to clients is that a long history comes in pages they must
/// follow with `nextToken` (the official CLI was seen to get 81
/// deployments in one page here, which AWS would have split).
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Everything the simulator knows.
#[derive(Debug)]
pub struct State {
    pub region: String,
    pub account_id: String,
    pub host_timeout: Duration,
    /// A deployment still running this long after it started fails with
    /// TIMEOUT; `None` lets deployments run as long as their hosts take.
    pub deployment_timeout: Option<Duration>,
    pub applications: BTreeMap<String, Application>,
    /// Keyed by deployment group id, which survives renames.
    pub groups: BTreeMap<String, DeploymentGroup>,
    pub revisions: BTreeMap<String, Vec<RevisionRecord>>,
    pub deployments: HashMap<String, Deployment>,
    /// Deployment ids, oldest first.
    pub deployment_order: Vec<String>,
    pub configs: BTreeMap<String, DeploymentConfig>,
    pub on_premises: BTreeMap<String, OnPremisesInstance>,
    pub ec2: BTreeMap<String, Ec2Instance>,
    pub commands: HashMap<String, HostCommand>,
    /// Commands waiting to be polled, by nonce (oldest first), so a poll
    /// never scans the whole command history.
    pub queued: BTreeMap<i64, String>,
    /// The most ids a list operation returns before it hands out a
    /// `nextToken`.
    pub page_size: usize,
    /// Every record's timestamps come from here.
    pub clock: Clock,
    /// Where new deployment and command ids come from.
    pub ids: PlannedIds,
    next_nonce: i64,
}

impl State {
    pub fn new(region: String, account_id: String, host_timeout: Duration) -> Self {
        let configs = configs::builtin(SystemTime::now())
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        State {
            region,
            account_id,
            host_timeout,
            deployment_timeout: None,
            applications: BTreeMap::new(),
            groups: BTreeMap::new(),
            revisions: BTreeMap::new(),
            deployments: HashMap::new(),
            deployment_order: Vec::new(),
            configs,
            on_premises: BTreeMap::new(),
            ec2: BTreeMap::new(),
            commands: HashMap::new(),
            queued: BTreeMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
            clock: Clock::system(),
            ids: PlannedIds::default(),
            next_nonce: 1,
        }
    }

    /// The time of day, from the simulator's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub fn group(&self, application: &str, name: &str) -> Option<&DeploymentGroup> {
        self.groups
            .values()
            .find(|g| g.application_name == application && g.name == name)
    }

    pub fn group_id(&self, application: &str, name: &str) -> Option<String> {
        self.group(application, name).map(|g| g.id.clone())
    }

    /// The deployment of `group_id` still running, if any.
    pub fn active_deployment(&self, group_id: &str) -> Option<&Deployment> {
        self.deployments
            .values()
            .find(|d| d.group_id == group_id && !d.status.is_done())
    }

    /// Registered instances a group's filters select, as fresh targets.
    pub fn resolve_targets(&self, group: &DeploymentGroup, now: SystemTime) -> Vec<Target> {
        let ec2 = self
            .ec2
            .values()
            .filter(|i| group.ec2.matches(&i.tags))
            .map(|i| (i.instance_id.clone(), i.arn.clone(), i.arn.clone()));
        let on_premises = self
            .on_premises
            .values()
            .filter(|i| i.is_registered() && group.on_premises.matches(&i.tags))
            .map(|i| (i.name.clone(), i.arn.clone(), i.iam_arn.clone()));
        ec2.chain(on_premises)
            .map(|(id, arn, host_identifier)| Target {
                id,
                arn,
                host_identifier,
                status: Status::Pending,
                last_updated: now,
                events: in_place_events()
                    .map(|event| LifecycleEvent {
                        event,
                        status: Status::Pending,
                        start: None,
                        end: None,
                        diagnostics: None,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Whether `target_id` has finished Install in an earlier deployment of
    /// `group_id`: only then has the agent a revision to run
    /// ApplicationStop from.
    pub fn has_installed_before(&self, group_id: &str, target_id: &str, except: &str) -> bool {
        self.deployments.values().any(|d| {
            d.id != except
                && d.group_id == group_id
                && d.targets.iter().any(|t| {
                    t.id == target_id
                        && t.events
                            .iter()
                            .any(|e| e.event == Event::Install && e.status == Status::Succeeded)
                })
        })
    }

    /// Whether some registered instance speaks as `host_identifier`.
    pub fn is_registered_host(&self, host_identifier: &str) -> bool {
        self.on_premises
            .values()
            .any(|i| i.is_registered() && i.iam_arn == host_identifier)
            || self.ec2.values().any(|i| i.arn == host_identifier)
    }

    /// Whether a caller signing as `principal_arn` may act as
    /// `host_identifier`: an on-premises host signs as its own IAM user or
    /// session, an EC2 host as its instance profile's session, which is
    /// named after the instance.
    pub fn may_act_as(&self, principal_arn: &str, host_identifier: &str) -> bool {
        if self
            .on_premises
            .values()
            .any(|i| i.is_registered() && i.iam_arn == host_identifier)
        {
            return principal_arn == host_identifier;
        }
        self.ec2
            .values()
            .find(|i| i.arn == host_identifier)
            .is_some_and(|i| {
                principal_arn.contains(":assumed-role/")
                    && principal_arn.ends_with(&format!("/{}", i.instance_id))
            })
    }

    pub fn next_nonce(&mut self) -> i64 {
        let n = self.next_nonce;
        self.next_nonce += 1;
        n
    }
}

/// Whether `id` has the shape of a deployment id.
pub fn is_deployment_id(id: &str) -> bool {
    id.strip_prefix("d-").is_some_and(|tail| {
        tail.len() == 9
            && tail
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use slipway_shared::new_deployment_id;

    use super::*;

    fn filter(key: &str, value: &str, kind: &str) -> TagFilter {
        TagFilter {
            key: Some(key.into()),
            value: Some(value.into()),
            kind: Some(kind.into()),
        }
    }

    #[test]
    fn tag_filters_follow_their_type() {
        let tags = vec![("role".to_owned(), "web".to_owned())];
        assert!(filter("role", "web", "KEY_AND_VALUE").matches(&tags));
        assert!(!filter("role", "db", "KEY_AND_VALUE").matches(&tags));
        assert!(filter("role", "x", "KEY_ONLY").matches(&tags));
        assert!(filter("x", "web", "VALUE_ONLY").matches(&tags));
    }

    #[test]
    fn tag_sets_and_their_groups() {
        let tags = vec![
            ("role".to_owned(), "web".to_owned()),
            ("env".to_owned(), "prod".to_owned()),
        ];
        let set = Targeting {
            filters: vec![],
            tag_set: vec![
                vec![filter("role", "web", "KEY_AND_VALUE")],
                vec![filter("env", "dev", "KEY_AND_VALUE")],
            ],
        };
        assert!(!set.matches(&tags));
    }

    #[test]
    fn hosts_act_only_as_themselves() {
        let mut st = State::new("us-east-1".into(), "123456789012".into(), Duration::ZERO);
        let user = "arn:aws:iam::123456789012:user/web-1";
        st.on_premises.insert(
            "web-1".into(),
            OnPremisesInstance {
                name: "web-1".into(),
                iam_arn: user.into(),
                arn: String::new(),
                tags: vec![],
                register_time: SystemTime::now(),
                deregister_time: None,
            },
        );
        let ec2 = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc";
        st.ec2.insert(
            "i-0abc".into(),
            Ec2Instance {
                instance_id: "i-0abc".into(),
                arn: ec2.into(),
                tags: vec![],
            },
        );
        assert!(st.may_act_as(user, user));
        assert!(!st.may_act_as("arn:aws:iam::123456789012:user/web-2", user));
        let profile = "arn:aws:sts::123456789012:assumed-role/web/i-0abc";
        assert!(st.may_act_as(profile, ec2));
        assert!(!st.may_act_as("arn:aws:sts::123456789012:assumed-role/web/i-0def", ec2));
        assert!(!st.may_act_as(user, "arn:aws:iam::123456789012:user/ghost"));
    }

    #[test]
    fn deployment_ids_have_aws_shape() {
        let id = new_deployment_id();
        assert!(is_deployment_id(&id), "{id}");
        assert!(!is_deployment_id("d-abc"));
        assert!(!is_deployment_id("x-ABCDEFGHI"));
    }
}
