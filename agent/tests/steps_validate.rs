//! ValidateService with the real programs: `slipway-agent step validate`
//! waits for the release through nginx, and a release that never reports
//! itself is switched back before the step fails with the reason.

mod stack;

use std::process::Output;

use stack::app::{APP, Stack, release};

fn validate(stack: &Stack, release: &str, url: &str) -> Output {
    stack.validate(release, url, &["--health-timeout", "3"])
}

fn healthz(stack: &Stack) -> String {
    format!("http://127.0.0.1:{}/healthz", stack.nginx_port)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// r1 serves; r2 is installed and reloaded, ready for ValidateService.
fn stack_on_r2(unhealthy: bool) -> Stack {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    if unhealthy {
        std::fs::write(stack.app_root.join("releases/r2/unhealthy"), "").unwrap();
    }
    let output = stack.gunicorn_reload("r2");
    assert!(output.status.success(), "{}", text(&output.stderr));
    stack
}

#[test]
fn validate_passes_once_the_health_url_through_nginx_reports_the_release() {
    let stack = stack_on_r2(false);
    let output = validate(&stack, "r2", &healthz(&stack));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("reports release r2"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(stack.current().as_deref(), Some("r2"));
}

#[test]
fn a_release_failing_its_health_check_is_switched_back_and_the_step_fails_with_status_and_body() {
    let stack = stack_on_r2(true);
    let output = validate(&stack, "r2", &healthz(&stack));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("release r2 failed validation; switched back to r1 and reloaded gunicorn")
            && stderr.contains("HTTP 503 Service Unavailable: release r2: database unavailable"),
        "{stderr}"
    );
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
}

#[test]
fn an_unreachable_health_url_is_reported_as_the_connection_error_after_switching_back() {
    let stack = stack_on_r2(false);
    let closed = format!("http://127.0.0.1:{}/healthz", stack::free_port());
    let output = validate(&stack, "r2", &closed);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("switching back failed") && stderr.contains("Connection refused"),
        "{stderr}"
    );
    // The switch-back itself happened: only its health check (the same
    // unreachable URL) could not confirm it.
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
}

#[test]
fn validating_a_release_that_is_not_current_changes_nothing() {
    let stack = Stack::start();
    release(&stack.app_root, "r2", APP);
    let output = validate(&stack, "r2", &healthz(&stack));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("current points at r1"), "{stderr}");
    assert_eq!(stack.current().as_deref(), Some("r1"));
    assert!(stack.serves("r1"));
}
