//! When each fan turns up: all at once, or spread evenly over a ramp.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    Burst,
    Ramp(Duration),
}

impl Arrival {
    pub fn parse(spec: &str) -> anyhow::Result<Arrival> {
        match spec.trim() {
            "burst" => Ok(Arrival::Burst),
            ramp => match ramp.strip_prefix("ramp:") {
                Some(d) => Ok(Arrival::Ramp(super::chaos::duration(d)?)),
                None => anyhow::bail!("--arrival is `burst` or `ramp:<seconds>s`, not {spec:?}"),
            },
        }
    }

    /// Fan `i` of `n` arrives this long after the rush starts.
    pub fn offset(self, i: usize, n: usize) -> Duration {
        match self {
            Arrival::Burst => Duration::ZERO,
            Arrival::Ramp(d) => d.mul_f64(i as f64 / n.max(1) as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_spreads_arrivals_evenly() {
        let ramp = Arrival::parse("ramp:30s").unwrap();
        assert_eq!(ramp.offset(0, 100), Duration::ZERO);
        assert_eq!(ramp.offset(50, 100), Duration::from_secs(15));
        assert_eq!(
            Arrival::parse("burst").unwrap().offset(99, 100),
            Duration::ZERO
        );
        assert!(Arrival::parse("soon").is_err());
    }
}
