//! `slipway-agent status`: reads the running daemon's `/status` over its
//! unix socket (or 127.0.0.1:PORT) and prints it for an operator.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::RunArgs;
use crate::config::Config;

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The configuration was refused.
    #[error("cannot load the configuration")]
    Config(#[source] crate::Error),
    /// The daemon did not answer.
    #[error("cannot reach the agent's status API at {address} (is `slipway-agent run` running?)")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The answer was not the JSON `/status` serves.
    #[error("the status API answered with something other than its JSON")]
    Answer,
}

/// GETs `path` from the daemon configured by `args` and returns the body.
pub async fn get(args: &RunArgs, path: &str) -> Result<String, StatusError> {
    let config = Config::load(args.config.as_deref()).map_err(StatusError::Config)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut response = Vec::new();
    let address = match &config.status_address {
        Some(a) => a.clone(),
        None => config.status_socket.display().to_string(),
    };
    let connect = |source| StatusError::Connect {
        address: address.clone(),
        source,
    };
    if let Some(a) = &config.status_address {
        let mut stream = tokio::net::TcpStream::connect(a).await.map_err(connect)?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(connect)?;
        stream.read_to_end(&mut response).await.map_err(connect)?;
    } else {
        let mut stream = tokio::net::UnixStream::connect(&config.status_socket)
            .await
            .map_err(connect)?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(connect)?;
        stream.read_to_end(&mut response).await.map_err(connect)?;
    }
    let text = String::from_utf8_lossy(&response);
    let (_, body) = text.split_once("\r\n\r\n").ok_or(StatusError::Answer)?;
    Ok(body.to_owned())
}

/// Prints `/status` as a table.
pub async fn print(args: &RunArgs, out: &mut dyn Write) -> Result<(), StatusError> {
    let body = get(args, "/status").await?;
    let status: serde_json::Value = serde_json::from_str(&body).map_err(|_| StatusError::Answer)?;
    let _ = write_table(&status, out);
    Ok(())
}

fn write_table(status: &serde_json::Value, out: &mut dyn Write) -> std::io::Result<()> {
    let current = &status["current"];
    if current.is_null() {
        writeln!(out, "Running:    nothing")?;
    } else {
        writeln!(
            out,
            "Running:    {} {}",
            current["deployment_id"].as_str().unwrap_or("?"),
            current["event"].as_str().unwrap_or("?")
        )?;
    }
    let last = &status["last_deployment"];
    if last.is_null() {
        return writeln!(out, "Last:       no deployment yet");
    }
    writeln!(
        out,
        "Last:       {} ({} / {})",
        last["deployment_id"].as_str().unwrap_or("?"),
        last["application_name"].as_str().unwrap_or("?"),
        last["deployment_group_name"].as_str().unwrap_or("?")
    )?;
    writeln!(out, "{:<20} {:<10} {:>9}  CODE", "EVENT", "RESULT", "MS")?;
    for event in last["events"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "{:<20} {:<10} {:>9}  {}",
            event["event"].as_str().unwrap_or("?"),
            event["result"].as_str().unwrap_or("?"),
            event["duration_ms"].as_u64().unwrap_or(0),
            event["error_code"].as_str().unwrap_or("?")
        )?;
    }
    Ok(())
}
