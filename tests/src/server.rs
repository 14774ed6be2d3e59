//! An axum router served on a free loopback port until stopped or dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;

/// How long a graceful stop waits for open connections before giving up.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A listener bound to `127.0.0.1:0`, so a service can learn its own URL
/// (an issuer's `iss`, say) before its router is built.
pub(crate) struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    pub(crate) async fn new(service: &'static str) -> Result<Self, Error> {
        let bind = |source| Error::Bind { service, source };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        Ok(Self { listener, addr })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `router` until [`HttpServer::stop`] or drop.
    pub(crate) fn serve(self, router: Router) -> HttpServer {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(error) = axum::serve(self.listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%error, "sandbox server stopped with an error");
            }
        });
        HttpServer {
            addr: self.addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }
}

/// A running server. Dropping it stops it at once; [`HttpServer::stop`]
/// lets in-flight requests finish first.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits up to [`STOP_GRACE`] for open requests.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
