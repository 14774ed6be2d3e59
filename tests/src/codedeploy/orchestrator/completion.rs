//! Settling a host's command: completed by the host, or failed by the
//! host timeout.

use super::*;

/// Why a command could not be completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteError {
    Unknown,
    NotDispatched,
    AlreadyCompleted,
    Abandoned,
}

/// Records the agent's result for a command and moves its host on.
pub fn complete_command(
    st: &mut State,
    command_id: &str,
    succeeded: bool,
    diagnostics: EventDiagnostics,
) -> Result<Effects, CompleteError> {
    let command = st.commands.get(command_id).ok_or(CompleteError::Unknown)?;
    match command.phase {
        CommandPhase::Queued => return Err(CompleteError::NotDispatched),
        CommandPhase::Completed => return Err(CompleteError::AlreadyCompleted),
        CommandPhase::Abandoned => return Err(CompleteError::Abandoned),
        CommandPhase::Dispatched | CommandPhase::Acknowledged => {}
    }
    Ok(settle_command(
        st,
        command_id,
        CommandPhase::Completed,
        succeeded,
        diagnostics,
    ))
}

/// Fails a command's host when the agent never finished it in time.
pub fn command_timed_out(st: &mut State, command_id: &str) -> Effects {
    let Some(phase) = st.commands.get(command_id).map(|c| c.phase) else {
        return Effects::default();
    };
    let message = match phase {
        CommandPhase::Completed | CommandPhase::Abandoned => return Effects::default(),
        CommandPhase::Queued | CommandPhase::Dispatched => AGENT_UNREACHABLE,
        CommandPhase::Acknowledged => {
            "The host did not complete the lifecycle event before the host timeout."
        }
    };
    let diagnostics = EventDiagnostics {
        error_code: "UnknownError".to_owned(),
        script_name: String::new(),
        message: message.to_owned(),
        log_tail: String::new(),
    };
    settle_command(st, command_id, CommandPhase::Abandoned, false, diagnostics)
}

/// Ends a command in `phase` with the event's outcome, then sends the host
/// its next event or fails it, and lets the deployment move on.
pub(super) fn settle_command(
    st: &mut State,
    command_id: &str,
    phase: CommandPhase,
    succeeded: bool,
    diagnostics: EventDiagnostics,
) -> Effects {
    let mut effects = Effects::default();
    let Some(command) = st.commands.get_mut(command_id) else {
        return effects;
    };
    command.phase = phase;
    let nonce = command.nonce;
    st.queued.remove(&nonce);
    let command = &st.commands[command_id];
    let (id, index, event) = (
        command.deployment_id.clone(),
        command.target_index,
        command.event_index,
    );
    let now = st.now();
    let Some(d) = st.deployments.get_mut(&id) else {
        return effects;
    };
    let ignore = d.ignore_application_stop_failures;
    let t = &mut d.targets[index];
    let e = &mut t.events[event];
    e.status = if succeeded {
        Status::Succeeded
    } else {
        Status::Failed
    };
    e.start.get_or_insert(now);
    e.end = Some(now);
    tracing::info!(
        deployment_id = %id,
        target = %t.id,
        command_id,
        event = %e.event,
        status = e.status.as_str(),
        error_code = %diagnostics.error_code,
        "lifecycle event settled"
    );
    e.diagnostics = Some(diagnostics);
    t.last_updated = now;
    let carry_on = succeeded || (ignore && e.event == Event::ApplicationStop);
    if carry_on {
        send_next_event(st, &id, index, &mut effects);
    } else {
        fail_target(st, &id, index, now);
    }
    advance(st, &id, &mut effects);
    effects
}

pub(super) fn fail_target(st: &mut State, id: &str, index: usize, now: SystemTime) {
    let Some(d) = st.deployments.get_mut(id) else {
        return;
    };
    let t = &mut d.targets[index];
    tracing::info!(deployment_id = id, target = %t.id, "target failed");
    t.status = Status::Failed;
    t.last_updated = now;
    for e in t.events.iter_mut().filter(|e| e.status == Status::Pending) {
        skip_event(e, now);
    }
}
