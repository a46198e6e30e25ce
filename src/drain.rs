//! The node's drain: set once when it is asked to stop (SIGTERM/SIGINT), so
//! everything long-lived lets go at once instead of at the shutdown timeout.
//!
//! On a drain the listener closes first (a proxy's next connection is refused
//! and goes to another node), then live seat-map and queue position streams
//! end (SSE clients reconnect by themselves and resume with `Last-Event-ID`;
//! WebSocket clients get close code 1012, service restart), the admission
//! driver hands its leases back, and requests in flight finish with their
//! batches before the actors stop. See `startup::Application::run_until_stopped`.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

/// Cheap to clone; every clone sees the same drain.
#[derive(Clone)]
pub struct Drain {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    pub fn new() -> Drain {
        Drain {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts the drain (again: no effect).
    pub fn start(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the drain has started (at once if it has).
    pub fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // The sender lives as long as any clone of this drain: an error
            // would mean nobody can start it any more.
            let _ = rx.wait_for(|draining| *draining).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_drain_and_late_waiters_resolve_at_once() {
        let drain = Drain::new();
        let waiting = tokio::spawn(drain.clone().started());
        assert!(!drain.is_draining());
        drain.clone().start();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("a waiter resolves when the drain starts")
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), drain.started())
            .await
            .expect("a waiter after the start resolves at once");
    }
}
