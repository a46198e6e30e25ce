//! Releases expired holds, every `interval`, on every node at once.
//!
//! **Safe in parallel:** the sweeper only *finds* candidates; each expiry is a
//! conditional update run by the event's actor (still pending, past its hold,
//! no payment in flight), so two nodes expiring the same booking free its
//! seats once. **Order:** one sweep at a time per node; a sweep that finds a
//! full page goes again at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_trait::async_trait;

use crate::model::{BookingId, EventId};
use crate::ports::StorageError;
use crate::registry::Registry;

/// Finds holds whose time is up.
#[async_trait]
pub trait ExpiredHolds: Send + Sync + 'static {
    async fn due(&self, limit: usize) -> Result<Vec<(EventId, BookingId)>, StorageError>;
}

const PAGE: usize = 500;

pub struct Sweeper {
    source: Arc<dyn ExpiredHolds>,
    registry: Arc<Registry>,
    interval: Duration,
    sweeping: bool,
}

impl Sweeper {
    pub fn new(
        source: Arc<dyn ExpiredHolds>,
        registry: Arc<Registry>,
        interval: Duration,
    ) -> Sweeper {
        Sweeper {
            source,
            registry,
            interval,
            sweeping: false,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let (source, registry) = (self.source.clone(), self.registry.clone());
        ctx.spawn(
            sweep_once(source, registry)
                .into_actor(self)
                .map(|full_page, actor, ctx| {
                    actor.sweeping = false;
                    if full_page {
                        actor.sweep(ctx);
                    }
                }),
        );
    }
}

/// One pass; `true` when it found a full page (more may be due).
async fn sweep_once(source: Arc<dyn ExpiredHolds>, registry: Arc<Registry>) -> bool {
    let due = match source.due(PAGE).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "sweeper could not look for expired holds");
            return false;
        }
    };
    let full_page = due.len() == PAGE;
    let mut by_event: BTreeMap<EventId, Vec<BookingId>> = BTreeMap::new();
    for (event, booking) in due {
        by_event.entry(event).or_default().push(booking);
    }
    for (event, bookings) in by_event {
        match registry.expire(event, bookings).await {
            Ok(freed) if !freed.is_empty() => {
                let seats: usize = freed.iter().map(|f| f.seats.len()).sum();
                tracing::info!(event.id = %event, bookings = freed.len(), seats, "expired holds released");
                metrics::counter!("boxoffice_sweeper_released_total").increment(freed.len() as u64);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(event.id = %event, %error, "expiring holds failed; next sweep retries")
            }
        }
    }
    full_page
}

impl Actor for Sweeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |actor, ctx| actor.sweep(ctx));
    }
}
