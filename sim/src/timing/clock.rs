//! The two clocks of the machine: the core clock (`AccelConfig::clock_hz`, the units' cycles) and
//! the DRAM clock (`tCK` of the memory standard, the DRAM model's cycles), converted exactly.
//!
//! Both periods are held as integers: the core frequency in Hz and `tCK` in femtoseconds (every
//! shipped standard gives `tck_ps` to 0.1 ps), so a conversion is one `u128` multiply and one
//! rounding division, with no floating-point drift over the ~10^8 cycles of a large decode step.
//! A request a unit submits at core cycle `t` reaches the DRAM controller at the first DRAM edge
//! at or after `t` ([`Clocks::dram_at_or_after`]); data the DRAM delivers at DRAM cycle `d` is
//! seen by the core at the first core edge at or after `d` ([`Clocks::core_at_or_after`]).

use thiserror::Error;

/// Femtoseconds per second.
const FS_PER_S: u128 = 1_000_000_000_000_000;

/// A clock that cannot be represented exactly.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClockError {
    #[error(
        "clock_hz = {0}: the timing model needs a whole number of Hz between 1 MHz and 10 GHz"
    )]
    Core(f64),
    #[error("memory standard `{standard}`: tck_ps = {tck_ps}: the timing model needs a period that is a whole number of femtoseconds")]
    Dram { standard: String, tck_ps: f64 },
}

/// The core and DRAM clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    /// Core clock frequency, Hz.
    pub core_hz: u64,
    /// DRAM clock period, femtoseconds.
    pub tck_fs: u64,
}

impl Clocks {
    /// The clocks of a core at `clock_hz` and a DRAM with period `tck_ps`.
    pub fn new(clock_hz: f64, standard: &str, tck_ps: f64) -> Result<Self, ClockError> {
        if !(clock_hz.is_finite() && (1e6..=1e10).contains(&clock_hz) && clock_hz.fract() == 0.0) {
            return Err(ClockError::Core(clock_hz));
        }
        let fs = tck_ps * 1000.0;
        if !(fs.is_finite() && (1.0..=1e12).contains(&fs) && (fs - fs.round()).abs() < 1e-6) {
            return Err(ClockError::Dram {
                standard: standard.to_owned(),
                tck_ps,
            });
        }
        Ok(Clocks {
            core_hz: clock_hz as u64,
            tck_fs: fs.round() as u64,
        })
    }

    /// The first DRAM cycle that starts at or after core cycle `core`.
    pub fn dram_at_or_after(&self, core: u64) -> u64 {
        // core / core_hz seconds = core * FS_PER_S / core_hz fs; divided by tck_fs, rounded up.
        let num = core as u128 * FS_PER_S;
        let den = self.core_hz as u128 * self.tck_fs as u128;
        saturate(num.div_ceil(den))
    }

    /// The last DRAM cycle that starts at or before core cycle `core`.
    pub fn dram_at_or_before(&self, core: u64) -> u64 {
        let num = core as u128 * FS_PER_S;
        let den = self.core_hz as u128 * self.tck_fs as u128;
        saturate(num / den)
    }

    /// The first core cycle that starts at or after DRAM cycle `dram`.
    pub fn core_at_or_after(&self, dram: u64) -> u64 {
        let num = dram as u128 * self.tck_fs as u128 * self.core_hz as u128;
        saturate(num.div_ceil(FS_PER_S))
    }

    /// Seconds of `cycles` core cycles.
    pub fn core_seconds(&self, cycles: u64) -> f64 {
        cycles as f64 / self.core_hz as f64
    }
}

fn saturate(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact_and_round_the_right_way() {
        // 1 GHz core, LPDDR5X tCK 937.5 ps: 16 DRAM cycles are exactly 15 000 ps = 15 core cycles.
        let c = Clocks::new(1e9, "lpddr5x", 937.5).unwrap();
        assert_eq!(c.tck_fs, 937_500);
        assert_eq!(c.core_at_or_after(16), 15);
        assert_eq!(c.core_at_or_after(17), 16); // 15.9375 ns rounds up to the next core edge
        assert_eq!(c.dram_at_or_after(15), 16);
        assert_eq!(c.dram_at_or_after(16), 18); // 16 ns is 17.07 DRAM cycles
        assert_eq!(c.dram_at_or_before(16), 17);
        // 1.5 GHz core and HBM3's 764.2 ps: 7642 DRAM cycles are 5 840 016.4 ps = 8760.02 cycles.
        let h = Clocks::new(1.5e9, "hbm3", 764.2).unwrap();
        assert_eq!(h.tck_fs, 764_200);
        assert_eq!(h.core_at_or_after(7642), 8761);
        // Round trips never go backwards, and a DRAM edge found from a core edge is not earlier.
        for t in [0u64, 1, 2, 3, 999, 1_000_001, 123_456_789_012] {
            let d = h.dram_at_or_after(t);
            assert!(h.core_at_or_after(d) >= t);
            assert!(h.core_at_or_after(h.dram_at_or_before(t)) <= t);
        }
    }

    #[test]
    fn inexact_clocks_are_errors() {
        assert!(matches!(
            Clocks::new(1.5e9 + 0.5, "x", 1000.0),
            Err(ClockError::Core(_))
        ));
        assert!(matches!(
            Clocks::new(1e9, "x", 0.0001),
            Err(ClockError::Dram { .. })
        ));
        let e = Clocks::new(1e9, "odd", 937.50001).unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory standard `odd`: tck_ps = 937.50001: the timing model needs a period that is a whole number of femtoseconds"
        );
    }
}
