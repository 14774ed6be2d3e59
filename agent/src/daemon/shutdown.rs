//! The stop signal, passed in so tests stop the daemon as SIGTERM does.

use tokio::sync::watch;

/// Triggers a [`Shutdown`].
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Resolves once the agent is asked to stop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new trigger and the shutdown it fires.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Asks everything holding a [`Shutdown`] to stop.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Whether the stop was asked for already.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for the stop (forever if the trigger is gone without firing).
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let (trigger, shutdown) = channel();
        let mut a = shutdown.clone();
        assert!(!a.is_triggered());
        trigger.trigger();
        a.wait().await;
        assert!(shutdown.is_triggered());
    }
}
