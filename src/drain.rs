//! The node's drain: set once when it is asked to stop (SIGTERM/SIGINT), so
//! everything long-lived lets go at once instead of at the shutdown timeout.
//!
//! Two phases. *Closing* (`server.linger_seconds`): the node still serves,
//! but every answer closes its connection and `/readyz` says 503, so a
//! proxy's idle keep-alive connections all end from the proxy's side (by its
//! own keepalive_timeout or after one last answer); none is closed by the
//! node while the proxy is sending a request on it, which for a POST nginx
//! could not retry. *Draining*: the listener closes first (a proxy's next
//! connection is refused and goes to another node), then live seat-map and queue position streams
//! end (SSE clients reconnect by themselves and resume with `Last-Event-ID`;
//! WebSocket clients get close code 1012, service restart), the admission
//! driver hands its leases back, and requests in flight finish with their
//! batches before the actors stop. See `startup::Application::run_until_stopped`.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

/// Where the node is: serving, closing connections, draining.
const SERVING: u8 = 0;
const CLOSING: u8 = 1;
const DRAINING: u8 = 2;

/// Cheap to clone; every clone sees the same drain.
#[derive(Clone)]
pub struct Drain {
    tx: Arc<watch::Sender<u8>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    pub fn new() -> Drain {
        Drain {
            tx: Arc::new(watch::channel(SERVING).0),
        }
    }

    fn advance(&self, to: u8) {
        self.tx.send_if_modified(|phase| {
            let later = *phase < to;
            if later {
                *phase = to;
            }
            later
        });
    }

    /// The closing phase: answers close their connections.
    pub fn close_connections(&self) {
        self.advance(CLOSING);
    }

    /// True from the closing phase on.
    pub fn is_closing(&self) -> bool {
        *self.tx.borrow() >= CLOSING
    }

    /// Starts the drain (again: no effect).
    pub fn start(&self) {
        self.advance(DRAINING);
    }

    pub fn is_draining(&self) -> bool {
        *self.tx.borrow() >= DRAINING
    }

    /// Resolves once the drain has started (at once if it has).
    pub fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // The sender lives as long as any clone of this drain: an error
            // would mean nobody can start it any more.
            let _ = rx.wait_for(|phase| *phase >= DRAINING).await;
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
        assert!(!drain.is_closing());
        drain.close_connections();
        assert!(drain.is_closing() && !drain.is_draining());
        assert!(!waiting.is_finished(), "closing is not draining");
        drain.clone().start();
        assert!(drain.is_draining());
        drain.close_connections();
        assert!(drain.is_draining(), "no way back");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("a waiter resolves when the drain starts")
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), drain.started())
            .await
            .expect("a waiter after the start resolves at once");
    }
}
