//! Per-client abuse limits (`[limits]` in `config/default.toml`): request
//! rates on the identity endpoints and the waiting-room join, failed logins
//! per account, and caps on the streams one client holds open.
//!
//! Rates are `governor` GCRA limiters keyed by [`ClientAddr`]: a check is one
//! hash-map lookup and a compare-and-swap, O(1) whatever the number of
//! clients. Keyed state grows with the clients seen; [`Limits::housekeeping`]
//! drops the entries that have refilled (`retain_recent`) and gives the
//! memory back (`shrink_to_fit`) every few seconds, so it stays bounded by the
//! clients active within one refill period. Stream counts only hold entries
//! for clients with a stream open: a [`StreamSlot`] removes its count when the
//! last stream of its client ends.
//!
//! Beyond a limit: 429 `too_many_requests` with `Retry-After`. With
//! `limits.enabled = false` every check here passes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, web};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::LimitsSettings;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;

/// A rate-limited action of one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Guest,
    Signup,
    Login,
    QueueJoin,
    /// `GET /events/{id}/seats`: the whole map, megabytes for a big venue.
    SeatMap,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Guest => "guest",
            Action::Signup => "signup",
            Action::Login => "login",
            Action::QueueJoin => "queue_join",
            Action::SeatMap => "seat_map",
        }
    }
}

/// A kind of long-lived stream, capped per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// Live seat maps, SSE and WebSocket together.
    SeatMap,
    /// Waiting-room position streams.
    QueuePosition,
}

type Limiter<K> = DefaultKeyedRateLimiter<K>;

pub struct Limits {
    enabled: bool,
    guests: Limiter<IpAddr>,
    signups: Limiter<IpAddr>,
    logins: Limiter<IpAddr>,
    joins: Limiter<IpAddr>,
    seat_maps: Limiter<IpAddr>,
    /// Failed logins per (lower-cased) email.
    failed_logins: Limiter<String>,
    /// Emails refused until the instant, after their failed-login allowance
    /// ran out. governor cannot look without taking a cell, and a correct
    /// password must not spend one: so the refusal is remembered here.
    locked_accounts: DashMap<String, Instant>,
    seat_map_streams: StreamSlots,
    queue_streams: StreamSlots,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    /// `joins_per_second` is `queue.joins_per_second_per_client` (burst: twice that).
    pub fn new(settings: &LimitsSettings, joins_per_second: u32) -> Limits {
        let per_minute = |n: u32| Limiter::keyed(Quota::per_minute(nonzero(n)));
        Limits {
            enabled: settings.enabled,
            guests: per_minute(settings.guests_per_minute),
            signups: per_minute(settings.signups_per_minute),
            logins: per_minute(settings.logins_per_minute),
            joins: Limiter::keyed(
                Quota::per_second(nonzero(joins_per_second))
                    .allow_burst(nonzero(joins_per_second.saturating_mul(2))),
            ),
            seat_maps: per_minute(settings.seat_maps_per_minute),
            failed_logins: Limiter::keyed(Quota::per_hour(nonzero(
                settings.failed_logins_per_account_per_hour,
            ))),
            locked_accounts: DashMap::new(),
            seat_map_streams: StreamSlots::new(settings.live_streams_per_client),
            queue_streams: StreamSlots::new(settings.queue_streams_per_client),
        }
    }

    /// One more `action` from `client`, or 429 with the time until it is allowed.
    pub fn check(&self, action: Action, client: ClientAddr) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let limiter = match action {
            Action::Guest => &self.guests,
            Action::Signup => &self.signups,
            Action::Login => &self.logins,
            Action::QueueJoin => &self.joins,
            Action::SeatMap => &self.seat_maps,
        };
        limiter.check_key(&client.0).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            refused(
                action.name(),
                wait,
                "too many requests from this address; slow down",
            )
        })
    }

    /// 429 while `email` is refused after too many failed logins.
    pub fn check_account(&self, email: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let key = account_key(email);
        let until = self.locked_accounts.get(&key).map(|entry| *entry.value());
        match until {
            Some(until) if until > Instant::now() => Err(refused(
                "failed_login",
                until - Instant::now(),
                "too many failed logins for this account; try again later",
            )),
            Some(_) => {
                self.locked_accounts
                    .remove_if(&key, |_, until| *until <= Instant::now());
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login for `email`; 429 once its allowance is spent.
    pub fn login_failed(&self, email: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let key = account_key(email);
        match self.failed_logins.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.failed_logins.clock().now());
                self.locked_accounts.insert(key, Instant::now() + wait);
                Err(refused(
                    "failed_login",
                    wait,
                    "too many failed logins for this account; try again later",
                ))
            }
        }
    }

    /// A slot for one more open stream of `client`, released when dropped.
    pub fn open_stream(
        &self,
        kind: StreamKind,
        client: ClientAddr,
    ) -> Result<StreamSlot, ApiError> {
        if !self.enabled {
            return Ok(StreamSlot { held: None });
        }
        let slots = match kind {
            StreamKind::SeatMap => &self.seat_map_streams,
            StreamKind::QueuePosition => &self.queue_streams,
        };
        slots.open(client.0).ok_or_else(|| {
            refused(
                "streams",
                Duration::from_secs(5),
                "this address has too many streams open; close one first",
            )
        })
    }

    /// [`Limits::open_stream`] for the client of `req`.
    pub fn open_stream_for(req: &HttpRequest, kind: StreamKind) -> Result<StreamSlot, ApiError> {
        match req.app_data::<web::Data<Limits>>() {
            Some(limits) => limits.open_stream(kind, ClientAddr::of(req)),
            None => Err(ApiError::Internal(anyhow::anyhow!("Limits not registered"))),
        }
    }

    /// Forgets limiter state that has refilled, every `every`, forever.
    pub async fn housekeeping(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.forget_idle();
        }
    }

    fn forget_idle(&self) {
        let limiters = [
            &self.guests,
            &self.signups,
            &self.logins,
            &self.joins,
            &self.seat_maps,
        ];
        for limiter in limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.failed_logins.retain_recent();
        self.failed_logins.shrink_to_fit();
        let now = Instant::now();
        self.locked_accounts.retain(|_, until| *until > now);
        self.locked_accounts.shrink_to_fit();
    }

    /// Entries held by the rate limiters (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        [
            &self.guests,
            &self.signups,
            &self.logins,
            &self.joins,
            &self.seat_maps,
        ]
        .iter()
        .map(|l| l.len())
        .sum::<usize>()
            + self.failed_logins.len()
            + self.locked_accounts.len()
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn refused(limit: &'static str, wait: Duration, detail: &str) -> ApiError {
    metrics::counter!("boxoffice_limited_total", "limit" => limit).increment(1);
    ApiError::too_many_requests(detail, wait)
}

/// Open streams per client address.
struct StreamSlots {
    cap: usize,
    /// Only clients with a stream open have an entry.
    open: Arc<DashMap<IpAddr, usize>>,
}

impl StreamSlots {
    fn new(cap: usize) -> StreamSlots {
        StreamSlots {
            cap,
            open: Arc::new(DashMap::new()),
        }
    }

    fn open(&self, client: IpAddr) -> Option<StreamSlot> {
        let mut count = self.open.entry(client).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            held: Some((self.open.clone(), client)),
        })
    }
}

/// One open stream of a client; the count goes down when this is dropped
/// (the stream ended, however it ended).
pub struct StreamSlot {
    held: Option<(Arc<DashMap<IpAddr, usize>>, IpAddr)>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let Some((open, client)) = self.held.take() else {
            return;
        };
        if let Entry::Occupied(mut count) = open.entry(client) {
            *count.get_mut() = count.get().saturating_sub(1);
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitsSettings {
        LimitsSettings {
            enabled: true,
            trusted_proxies: vec![],
            guests_per_minute: 2,
            signups_per_minute: 2,
            logins_per_minute: 2,
            failed_logins_per_account_per_hour: 2,
            live_streams_per_client: 2,
            queue_streams_per_client: 1,
            seat_maps_per_minute: 2,
            password_hashing_concurrency: 1,
            password_hashing_wait_ms: 10,
        }
    }

    fn client(last: u8) -> ClientAddr {
        ClientAddr(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_client_over_its_rate_is_refused_and_others_are_not() {
        let limits = Limits::new(&settings(), 1);
        assert!(limits.check(Action::Guest, client(1)).is_ok());
        assert!(limits.check(Action::Guest, client(1)).is_ok());
        assert!(limits.check(Action::Guest, client(1)).is_err());
        assert!(limits.check(Action::Guest, client(2)).is_ok());
        assert!(
            limits.check(Action::Signup, client(1)).is_ok(),
            "limits are per action"
        );
    }

    #[test]
    fn a_stream_slot_is_given_back_when_dropped() {
        let limits = Limits::new(&settings(), 1);
        let first = limits
            .open_stream(StreamKind::QueuePosition, client(1))
            .unwrap();
        assert!(
            limits
                .open_stream(StreamKind::QueuePosition, client(1))
                .is_err()
        );
        assert!(
            limits
                .open_stream(StreamKind::QueuePosition, client(2))
                .is_ok()
        );
        assert!(limits.open_stream(StreamKind::SeatMap, client(1)).is_ok());
        drop(first);
        let _again = limits
            .open_stream(StreamKind::QueuePosition, client(1))
            .unwrap();
        assert_eq!(
            limits.queue_streams.open.len(),
            1,
            "no entry for a client without streams"
        );
    }

    #[test]
    fn failed_logins_lock_the_account_but_a_correct_password_spends_nothing() {
        let limits = Limits::new(&settings(), 1);
        limits.check_account("a@example.com").unwrap();
        limits.login_failed("a@example.com").unwrap();
        limits.login_failed("A@example.com ").unwrap();
        assert!(limits.login_failed("a@example.com").is_err());
        assert!(limits.check_account("a@example.com").is_err());
        assert!(limits.check_account("b@example.com").is_ok());
    }

    #[test]
    fn disabled_limits_refuse_nothing() {
        let limits = Limits::new(
            &LimitsSettings {
                enabled: false,
                ..settings()
            },
            1,
        );
        for _ in 0..10 {
            limits.check(Action::Login, client(1)).unwrap();
            limits.login_failed("a@example.com").unwrap();
            std::mem::forget(limits.open_stream(StreamKind::SeatMap, client(1)).unwrap());
        }
    }

    #[test]
    fn housekeeping_forgets_clients_whose_allowance_refilled() {
        let limits = Limits::new(
            &LimitsSettings {
                guests_per_minute: 600_000,
                ..settings()
            },
            1,
        );
        for last in 0..100 {
            limits.check(Action::Guest, client(last)).unwrap();
        }
        assert_eq!(limits.tracked_keys(), 100);
        // 600,000 a minute refill one cell in 0.1 ms.
        std::thread::sleep(Duration::from_millis(5));
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
