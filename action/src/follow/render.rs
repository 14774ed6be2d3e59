//! What a person sees while a deployment runs: one line per change (Actions
//! logs, pipes), or a table redrawn in place (a terminal).

use std::io::Write;

use super::poll::{Event, Snapshot};
use crate::deploy::error::{DeployError, Result};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line per change (Actions logs, files, pipes).
    Lines,
    /// A table redrawn in place.
    Table,
}

/// Remembers what was shown, so only changes are printed.
#[derive(Debug, Default)]
pub struct Renderer {
    last: Option<Snapshot>,
    drawn: usize,
}

/// `1.2 s`, `3 m 04 s`.
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let s = d.as_secs();
        format!("{} m {:02} s", s / 60, s % 60)
    }
}

fn event_line(host: &str, width: usize, event: &Event) -> String {
    let took = event
        .duration()
        .filter(|_| event.status != "InProgress")
        .map(|d| format!(" ({})", duration(d)))
        .unwrap_or_default();
    format!("{host:<width$}  {:<22} {}{took}", event.name, event.status)
}

impl Renderer {
    /// Shows what changed since the last call.
    pub fn update(&mut self, snap: &Snapshot, style: Style, out: &mut dyn Write) -> Result<()> {
        let text = match style {
            Style::Lines => self.lines(snap),
            Style::Table => self.table(snap),
        };
        out.write_all(text.as_bytes())
            .map_err(DeployError::Output)?;
        out.flush().map_err(DeployError::Output)?;
        self.last = Some(snap.clone());
        Ok(())
    }

    fn lines(&self, snap: &Snapshot) -> String {
        let mut text = String::new();
        let width = snap.hosts.iter().map(|h| h.id.len()).max().unwrap_or(0);
        let before = self.last.as_ref();
        for host in &snap.hosts {
            let old = before.and_then(|b| b.hosts.iter().find(|h| h.id == host.id));
            for event in &host.events {
                let was = old.and_then(|h| h.events.iter().find(|e| e.name == event.name));
                let changed = was.is_none_or(|w| w.status != event.status);
                // Pending is where every event starts: not news.
                if changed && event.status != "Pending" {
                    text.push_str(&event_line(&host.id, width, event));
                    text.push('\n');
                }
            }
        }
        // After the hosts' lines, so the end reads in order.
        if before.is_none_or(|b| b.status != snap.status) {
            text.push_str(&format!("{}: {}\n", snap.id, snap.status));
        }
        text
    }

    fn table(&mut self, snap: &Snapshot) -> String {
        let mut text = String::new();
        if self.drawn > 0 {
            // Up to the table's first line, and clear to the end.
            text.push_str(&format!("\x1b[{}A\x1b[J", self.drawn));
        }
        let width = snap
            .hosts
            .iter()
            .map(|h| h.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut rows = vec![
            format!("{} {}", snap.id, snap.status),
            format!("{:<width$}  {:<11} {:<5}  EVENT", "HOST", "STATUS", "DONE"),
        ];
        for host in &snap.hosts {
            let done = host
                .events
                .iter()
                .filter(|e| matches!(e.status.as_str(), "Succeeded" | "Skipped"))
                .count();
            let current = host
                .events
                .iter()
                .rev()
                .find(|e| e.status != "Pending")
                .map(|e| format!("{} {}", e.name, e.status))
                .unwrap_or_default();
            rows.push(format!(
                "{:<width$}  {:<11} {:<5}  {current}",
                host.id,
                host.status,
                format!("{done}/{}", host.events.len())
            ));
        }
        self.drawn = rows.len();
        for row in rows {
            text.push_str(&row);
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::super::poll::Host;
    use super::*;

    fn snap(status: &str, events: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            id: "d-1".into(),
            status: status.into(),
            hosts: vec![Host {
                id: "host-1".into(),
                status: "InProgress".into(),
                events: events
                    .iter()
                    .map(|(n, s)| Event {
                        name: (*n).into(),
                        status: (*s).into(),
                        ..Event::default()
                    })
                    .collect(),
            }],
            ..Snapshot::default()
        }
    }

    fn render(r: &mut Renderer, s: &Snapshot, style: Style) -> String {
        let mut out = Vec::new();
        r.update(s, style, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_show_only_changes() {
        let mut r = Renderer::default();
        let first = render(
            &mut r,
            &snap(
                "InProgress",
                &[
                    ("ApplicationStop", "InProgress"),
                    ("DownloadBundle", "Pending"),
                ],
            ),
            Style::Lines,
        );
        assert!(first.contains("d-1: InProgress"));
        assert!(first.contains("ApplicationStop"));
        assert!(!first.contains("DownloadBundle"));
        let same = render(
            &mut r,
            &snap(
                "InProgress",
                &[
                    ("ApplicationStop", "InProgress"),
                    ("DownloadBundle", "Pending"),
                ],
            ),
            Style::Lines,
        );
        assert_eq!(same, "");
        let next = render(
            &mut r,
            &snap(
                "InProgress",
                &[
                    ("ApplicationStop", "Succeeded"),
                    ("DownloadBundle", "InProgress"),
                ],
            ),
            Style::Lines,
        );
        assert_eq!(next.lines().count(), 2, "{next}");
    }

    #[test]
    fn the_table_is_redrawn_over_itself() {
        let mut r = Renderer::default();
        let first = render(
            &mut r,
            &snap("InProgress", &[("ApplicationStop", "InProgress")]),
            Style::Table,
        );
        assert!(!first.contains("\x1b["));
        let second = render(
            &mut r,
            &snap("InProgress", &[("ApplicationStop", "Succeeded")]),
            Style::Table,
        );
        assert!(second.starts_with("\x1b[3A\x1b[J"), "{second:?}");
    }
}
