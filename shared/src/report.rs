//! Small things both sides print the same way: an error with its causes on
//! one line, and CodeDeploy's deployment ids.

use rand::RngExt;

/// An error and its causes on one line, `outer: cause: root`, as `{:#}`
/// prints an anyhow chain; for logs, diagnostics and test failures.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A fresh deployment id shaped like CodeDeploy's: `d-` and nine
/// characters of `A-Z0-9`.
pub fn new_deployment_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..9)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("d-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_reads_outer_to_root() {
        let error = Outer(std::io::Error::other("root"));
        assert_eq!(error_chain(&error), "outer: root");
    }

    #[test]
    fn deployment_ids_have_codedeploys_shape() {
        let id = new_deployment_id();
        assert_eq!(id.len(), 11);
        assert!(id.starts_with("d-"));
        assert!(
            id[2..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }
}
