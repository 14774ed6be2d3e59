//! The job summary of a deployment (deploy and rollback share it): id,
//! console link, commit, hosts × events with durations, the rollback.

use crate::follow::Outcome;
use crate::follow::poll::Snapshot;
use crate::follow::render::duration;
use crate::github::summary::code;

/// The CodeDeploy console page of deployment `id`.
pub fn console_url(region: &str, id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/{id}?region={region}"
    )
}

/// What the summary says beside the outcome.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `slipway deploy` or `slipway rollback`.
    pub title: String,
    /// The region, for console links.
    pub region: String,
    /// The commit deployed, if known.
    pub commit: Option<String>,
    /// The revision, `s3://…`.
    pub revision: Option<String>,
    /// What replaced what, for a rollback.
    pub note: Option<String>,
}

/// The summary's Markdown.
pub fn markdown(facts: &Facts, outcome: &Outcome) -> String {
    let d = &outcome.deployment;
    let icon = if d.status == "Succeeded" {
        "✅"
    } else {
        "❌"
    };
    let mut md = format!("### {icon} {}: {}\n\n", facts.title, d.status);
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!(
        "| Deployment | [{}]({}) |\n",
        d.id,
        console_url(&facts.region, &d.id)
    ));
    if let Some(commit) = &facts.commit {
        md.push_str(&format!("| Commit | {} |\n", code(commit)));
    }
    if let Some(revision) = &facts.revision {
        md.push_str(&format!("| Revision | {} |\n", code(revision)));
    }
    if let Some(took) = d
        .completed
        .zip(d.created)
        .and_then(|(c, s)| c.duration_since(s).ok())
    {
        md.push_str(&format!("| Duration | {} |\n", duration(took)));
    }
    if let Some(rb) = &outcome.rollback {
        md.push_str(&format!(
            "| Rollback | [{}]({}): {} |\n",
            rb.id,
            console_url(&facts.region, &rb.id),
            rb.status
        ));
    }
    if let Some(note) = &facts.note {
        md.push_str(&format!("\n{note}\n"));
    }
    md.push('\n');
    md.push_str(&table(d));
    for (host, event) in failures(d) {
        let diag = event.diagnostics.clone().unwrap_or_default();
        md.push_str(&format!(
            "\n**{host}: {} failed** ({} {})\n\n```\n{}\n```\n",
            event.name,
            diag.code,
            diag.message,
            diag.log_tail.trim_end()
        ));
    }
    if let Some(rb) = &outcome.rollback {
        md.push_str(&format!("\n#### Rollback {}: {}\n\n", rb.id, rb.status));
        md.push_str(&table(rb));
    }
    md
}

fn failures(d: &Snapshot) -> Vec<(&str, &crate::follow::poll::Event)> {
    d.hosts
        .iter()
        .flat_map(|h| {
            h.events
                .iter()
                .filter(|e| e.status == "Failed")
                .map(move |e| (h.id.as_str(), e))
        })
        .collect()
}

/// Hosts × lifecycle events, each cell the outcome and duration.
pub fn table(d: &Snapshot) -> String {
    let Some(first) = d.hosts.iter().max_by_key(|h| h.events.len()) else {
        return "No hosts.\n".into();
    };
    let names: Vec<&str> = first.events.iter().map(|e| e.name.as_str()).collect();
    let mut md = format!("| Host | {} |\n", names.join(" | "));
    md.push_str(&format!("|---|{}\n", "---|".repeat(names.len())));
    for host in &d.hosts {
        let cells: Vec<String> = names
            .iter()
            .map(|name| {
                let Some(e) = host.events.iter().find(|e| e.name == *name) else {
                    return String::new();
                };
                let mark = match e.status.as_str() {
                    "Succeeded" => "✅",
                    "Failed" => "❌",
                    "Skipped" => "⏭",
                    "InProgress" => "⏳",
                    _ => "·",
                };
                match e.duration() {
                    Some(t) if e.status != "Skipped" => format!("{mark} {}", duration(t)),
                    _ => mark.to_owned(),
                }
            })
            .collect();
        md.push_str(&format!("| {} | {} |\n", host.id, cells.join(" | ")));
    }
    md
}
