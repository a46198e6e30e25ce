//! Everything the rehearsal observed: every request (endpoint, start,
//! latency, outcome), live-map delivery delays, one gauge sample a second,
//! fault windows, and the answers fans were given (the acknowledged file).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Guest,
    QueueJoin,
    QueuePoll,
    QueueStream,
    SeatStream,
    Reserve,
    Confirm,
    Release,
    MyBookings,
    Tickets,
    Checkin,
}

impl Endpoint {
    pub const ALL: [Endpoint; 11] = [
        Endpoint::Guest,
        Endpoint::QueueJoin,
        Endpoint::QueuePoll,
        Endpoint::QueueStream,
        Endpoint::SeatStream,
        Endpoint::Reserve,
        Endpoint::Confirm,
        Endpoint::Release,
        Endpoint::MyBookings,
        Endpoint::Tickets,
        Endpoint::Checkin,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Guest => "POST /auth/guest",
            Endpoint::QueueJoin => "POST /queue",
            Endpoint::QueuePoll => "GET /queue",
            Endpoint::QueueStream => "queue stream",
            Endpoint::SeatStream => "seat-map stream",
            Endpoint::Reserve => "POST /bookings",
            Endpoint::Confirm => "POST /confirm",
            Endpoint::Release => "DELETE /bookings",
            Endpoint::MyBookings => "GET /me/bookings",
            Endpoint::Tickets => "GET /tickets",
            Endpoint::Checkin => "POST /checkin",
        }
    }
}

/// One request. `status` 0: no answer (connection refused, reset, timeout).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub endpoint: Endpoint,
    pub start_ms: u32,
    pub latency_us: u32,
    pub status: u16,
}

/// Once a second, from the operator's view of the event.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Gauge {
    pub t_ms: u32,
    pub waiting: u64,
    pub admitted_total: u64,
    pub rate_set: u64,
    pub available: u64,
    pub reserved: u64,
    pub confirmed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultWindow {
    pub name: String,
    pub start_ms: u32,
    pub end_ms: u32,
    /// Empty when the fault was carried out as planned.
    pub note: String,
    /// False when the fault could not be brought about (the note says why).
    pub injected: bool,
}

pub struct Recorder {
    t0: Instant,
    samples: Mutex<Vec<Sample>>,
    /// (when the fan's stream showed its hold, delay since the 201 in µs).
    map_delays: Mutex<Vec<(u32, u32)>>,
    gauges: Mutex<Vec<Gauge>>,
    faults: Mutex<Vec<FaultWindow>>,
    acknowledged: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Recorder {
    pub fn new(t0: Instant) -> Recorder {
        Recorder {
            t0,
            samples: Mutex::new(Vec::new()),
            map_delays: Mutex::new(Vec::new()),
            gauges: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            acknowledged: Mutex::new(Vec::new()),
        }
    }

    pub fn ms_at(&self, at: Instant) -> u32 {
        at.saturating_duration_since(self.t0).as_millis() as u32
    }

    pub fn now_ms(&self) -> u32 {
        self.ms_at(Instant::now())
    }

    pub fn request(&self, endpoint: Endpoint, start: Instant, status: u16) {
        let latency = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        let sample = Sample {
            endpoint,
            start_ms: self.ms_at(start),
            latency_us: latency,
            status,
        };
        lock(&self.samples).push(sample);
    }

    pub fn map_delay(&self, delay: Duration) {
        let entry = (
            self.now_ms(),
            delay.as_micros().min(u128::from(u32::MAX)) as u32,
        );
        lock(&self.map_delays).push(entry);
    }

    pub fn gauge(&self, gauge: Gauge) {
        lock(&self.gauges).push(gauge);
    }

    pub fn fault(&self, name: String, start_ms: u32, end_ms: u32, note: String, injected: bool) {
        lock(&self.faults).push(FaultWindow {
            name,
            start_ms,
            end_ms,
            note,
            injected,
        });
    }

    pub fn acknowledge_hold(&self, booking_id: i64) {
        let line = format!(r#"{{"kind":"hold","booking_id":{booking_id}}}"#);
        lock(&self.acknowledged).push(line);
    }

    pub fn acknowledge_confirm(&self, booking_id: i64) {
        let line = format!(r#"{{"kind":"confirm","booking_id":{booking_id}}}"#);
        lock(&self.acknowledged).push(line);
    }

    pub fn write_acknowledged(&self, path: &std::path::Path) -> std::io::Result<()> {
        let lines = lock(&self.acknowledged);
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text)
    }

    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.samples).clone()
    }

    pub fn map_delays(&self) -> Vec<(u32, u32)> {
        lock(&self.map_delays).clone()
    }

    pub fn gauges(&self) -> Vec<Gauge> {
        lock(&self.gauges).clone()
    }

    pub fn faults(&self) -> Vec<FaultWindow> {
        lock(&self.faults).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_answers_are_written_one_json_object_a_line() {
        let rec = Recorder::new(Instant::now());
        rec.acknowledge_hold(7);
        rec.acknowledge_confirm(7);
        let path = std::env::temp_dir().join(format!("ack-{}.jsonl", std::process::id()));
        rec.write_acknowledged(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({"kind": "hold", "booking_id": 7})
        );
        assert_eq!(
            lines[1],
            serde_json::json!({"kind": "confirm", "booking_id": 7})
        );
        let _ = std::fs::remove_file(path);
    }
}
