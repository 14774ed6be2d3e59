//! CodeDeploy's lifecycle events for EC2/on-premises deployments, and the
//! order a host runs them in.

use std::fmt;

/// One lifecycle event of an EC2/on-premises deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifecycleEvent {
    /// Before the load balancer stops sending traffic to the host.
    BeforeBlockTraffic,
    /// After the load balancer has stopped sending traffic.
    AfterBlockTraffic,
    /// Stops the running revision; uses the last successful revision's appspec.
    ApplicationStop,
    /// The agent fetches the bundle; no hooks.
    DownloadBundle,
    /// Before the files are copied.
    BeforeInstall,
    /// The agent copies the files; no hooks.
    Install,
    /// After the files are copied.
    AfterInstall,
    /// Starts the new revision.
    ApplicationStart,
    /// Checks the new revision works.
    ValidateService,
    /// Before the load balancer sends traffic again.
    BeforeAllowTraffic,
    /// After the load balancer sends traffic again.
    AfterAllowTraffic,
}

use LifecycleEvent::*;

impl LifecycleEvent {
    /// Every event, in the order a host with a load balancer runs them.
    pub const ALL: [LifecycleEvent; 11] = [
        BeforeBlockTraffic,
        AfterBlockTraffic,
        ApplicationStop,
        DownloadBundle,
        BeforeInstall,
        Install,
        AfterInstall,
        ApplicationStart,
        ValidateService,
        BeforeAllowTraffic,
        AfterAllowTraffic,
    ];

    /// The events of an in-place deployment, in order. Behind a load
    /// balancer the traffic events wrap the rest.
    pub fn in_place(load_balancer: bool) -> &'static [LifecycleEvent] {
        if load_balancer {
            &Self::ALL
        } else {
            &Self::ALL[2..9]
        }
    }

    /// The events the original hosts of a blue/green deployment run.
    pub fn blue_green_original() -> &'static [LifecycleEvent] {
        &Self::ALL[0..2]
    }

    /// The name CodeDeploy and the appspec use.
    pub fn name(self) -> &'static str {
        match self {
            BeforeBlockTraffic => "BeforeBlockTraffic",
            AfterBlockTraffic => "AfterBlockTraffic",
            ApplicationStop => "ApplicationStop",
            DownloadBundle => "DownloadBundle",
            BeforeInstall => "BeforeInstall",
            Install => "Install",
            AfterInstall => "AfterInstall",
            ApplicationStart => "ApplicationStart",
            ValidateService => "ValidateService",
            BeforeAllowTraffic => "BeforeAllowTraffic",
            AfterAllowTraffic => "AfterAllowTraffic",
        }
    }

    /// The event called `name`, exactly as CodeDeploy spells it.
    pub fn from_name(name: &str) -> Option<LifecycleEvent> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether an appspec may attach scripts to this event. The agent runs
    /// DownloadBundle and Install itself.
    pub fn takes_hooks(self) -> bool {
        !matches!(self, DownloadBundle | Install)
    }

    /// Whether the hook runs from the last successful revision's archive
    /// rather than the one being deployed: the new one isn't unpacked yet.
    pub fn uses_previous_revision(self) -> bool {
        matches!(
            self,
            ApplicationStop | BeforeBlockTraffic | AfterBlockTraffic
        )
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_without_load_balancer_is_the_seven_classic_events() {
        let names: Vec<_> = LifecycleEvent::in_place(false)
            .iter()
            .map(|e| e.name())
            .collect();
        assert_eq!(
            names,
            [
                "ApplicationStop",
                "DownloadBundle",
                "BeforeInstall",
                "Install",
                "AfterInstall",
                "ApplicationStart",
                "ValidateService"
            ]
        );
    }

    #[test]
    fn load_balancer_wraps_in_place_in_traffic_events() {
        let events = LifecycleEvent::in_place(true);
        assert_eq!(events.len(), 11);
        assert_eq!(events[0], BeforeBlockTraffic);
        assert_eq!(events[10], AfterAllowTraffic);
    }

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for e in LifecycleEvent::ALL {
            assert_eq!(LifecycleEvent::from_name(e.name()), Some(e));
        }
        assert_eq!(LifecycleEvent::from_name("afterinstall"), None);
    }

    #[test]
    fn only_download_and_install_refuse_hooks() {
        let refusing: Vec<_> = LifecycleEvent::ALL
            .into_iter()
            .filter(|e| !e.takes_hooks())
            .collect();
        assert_eq!(refusing, [DownloadBundle, Install]);
    }
}
