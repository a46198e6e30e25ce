//! Latency histograms and the printed report.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Microseconds from 1 µs to 60 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

pub fn record(h: &mut Histogram<u64>, elapsed: Duration) {
    let _ = h.record(elapsed.as_micros().clamp(1, 60_000_000) as u64);
}

pub fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

pub fn percentiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} ms | p99 {} ms | p999 {} ms | max {} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max())
    )
}
