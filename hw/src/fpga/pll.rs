//! The system clock: the board oscillator through one ECP5 PLL (`EHXPLLL`) to the preset's
//! `clock_hz`, written as a small isolated Verilog instance in the board top
//! ([`crate::fpga::shell::Design::board_top_verilog`]). Under Verilator the shell is the top module and
//! its clock is driven directly, so the PLL is bypassed there.
//!
//! The divider search is the one of `ecppll` (prjtrellis, `libtrellis/tools/ecppll.cpp`):
//! `f_out = f_in / CLKI_DIV * CLKFB_DIV` with the feedback from CLKOP, the VCO at
//! `f_out * CLKOP_DIV` inside 400..=800 MHz, the phase detector at `f_in / CLKI_DIV` inside
//! 3.125..=400 MHz (Lattice FPGA-TN-02200, "ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and Usage
//! Guide", table of PLL limits); among the settings closest to the wanted clock the one with the
//! VCO nearest 600 MHz, as `ecppll` does. `CLKOP_CPHASE = CLKOP_DIV / 2 - 1` and the loop-filter
//! attributes are those `ecppll` writes.

use thiserror::Error;

/// The PLL's limits, MHz (FPGA-TN-02200).
pub const VCO_MIN_MHZ: f64 = 400.0;
pub const VCO_MAX_MHZ: f64 = 800.0;
pub const PFD_MIN_MHZ: f64 = 3.125;
pub const PFD_MAX_MHZ: f64 = 400.0;
/// The output range of CLKOP, MHz.
pub const OUT_MIN_MHZ: f64 = 3.125;
pub const OUT_MAX_MHZ: f64 = 400.0;
/// How far the PLL's clock may be from the wanted one (relative): the SDRAM timing and the UART
/// divisor are computed for the wanted clock.
pub const TOLERANCE: f64 = 1e-3;

/// A clock the PLL cannot make.
#[derive(Debug, Error, PartialEq)]
pub enum PllError {
    #[error(
        "no ECP5 PLL setting makes {want_mhz:.3} MHz from {in_mhz:.3} MHz (closest {best_mhz:.3} MHz; \
         CLKOP {OUT_MIN_MHZ}..={OUT_MAX_MHZ} MHz, within {TOLERANCE})"
    )]
    NoSetting {
        in_mhz: f64,
        want_mhz: f64,
        best_mhz: f64,
    },
}

/// One PLL setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pll {
    pub in_hz: f64,
    pub out_hz: f64,
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
}

impl Pll {
    /// The setting for `out_hz` from `in_hz`.
    pub fn new(in_hz: f64, out_hz: f64) -> Result<Pll, PllError> {
        let (fin, want) = (in_hz / 1e6, out_hz / 1e6);
        let mut best: Option<(f64, f64, Pll)> = None;
        for clki_div in 1..=128u32 {
            let pfd = fin / f64::from(clki_div);
            if !(PFD_MIN_MHZ..=PFD_MAX_MHZ).contains(&pfd) {
                continue;
            }
            for clkfb_div in 1..=80u32 {
                let out = pfd * f64::from(clkfb_div);
                if !(OUT_MIN_MHZ..=OUT_MAX_MHZ).contains(&out) {
                    continue;
                }
                for clkop_div in 1..=128u32 {
                    let vco = out * f64::from(clkop_div);
                    if !(VCO_MIN_MHZ..=VCO_MAX_MHZ).contains(&vco) {
                        continue;
                    }
                    let err = (out - want).abs();
                    let vco_off = (vco - 600.0).abs();
                    let better = match best {
                        None => true,
                        Some((e, v, _)) => err < e - 1e-9 || (err <= e + 1e-9 && vco_off < v),
                    };
                    if better {
                        let p = Pll {
                            in_hz,
                            out_hz: out * 1e6,
                            clki_div,
                            clkfb_div,
                            clkop_div,
                        };
                        best = Some((err, vco_off, p));
                    }
                }
            }
        }
        match best {
            Some((err, _, p)) if err <= want * TOLERANCE => Ok(p),
            b => Err(PllError::NoSetting {
                in_mhz: fin,
                want_mhz: want,
                best_mhz: b.map_or(0.0, |(_, _, p)| p.out_hz / 1e6),
            }),
        }
    }

    /// The VCO frequency, Hz.
    pub fn vco_hz(&self) -> f64 {
        self.out_hz * f64::from(self.clkop_div)
    }

    /// The Verilog instance: `clk` in, `clk_sys` and `pll_locked` out (wires the caller declares).
    pub fn verilog(&self) -> String {
        format!(
            "    // ECP5 PLL: {fin:.3} MHz / {ki} * {kf} = {fout:.3} MHz, VCO {vco:.1} MHz (CLKOP / {ko}).\n\
    (* FREQUENCY_PIN_CLKI=\"{fin:.6}\" *)\n\
    (* FREQUENCY_PIN_CLKOP=\"{fout:.6}\" *)\n\
    (* ICP_CURRENT=\"12\" *) (* LPF_RESISTOR=\"8\" *) (* MFG_ENABLE_FILTEROPAMP=\"1\" *) (* MFG_GMCREF_SEL=\"2\" *)\n\
    EHXPLLL #(\n\
        .PLLRST_ENA(\"DISABLED\"), .INTFB_WAKE(\"DISABLED\"), .STDBY_ENABLE(\"DISABLED\"),\n\
        .DPHASE_SOURCE(\"DISABLED\"), .OUTDIVIDER_MUXA(\"DIVA\"), .OUTDIVIDER_MUXB(\"DIVB\"),\n\
        .OUTDIVIDER_MUXC(\"DIVC\"), .OUTDIVIDER_MUXD(\"DIVD\"),\n\
        .CLKI_DIV({ki}), .CLKOP_ENABLE(\"ENABLED\"), .CLKOP_DIV({ko}), .CLKOP_CPHASE({cp}),\n\
        .CLKOP_FPHASE(0), .FEEDBK_PATH(\"CLKOP\"), .CLKFB_DIV({kf})\n\
    ) pll (\n\
        .RST(1'b0), .STDBY(1'b0), .CLKI(clk), .CLKOP(clk_sys), .CLKFB(clk_sys), .CLKINTFB(),\n\
        .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1),\n\
        .PHASELOADREG(1'b1), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(pll_locked)\n\
    );\n",
            fin = self.in_hz / 1e6,
            fout = self.out_hz / 1e6,
            vco = self.vco_hz() / 1e6,
            ki = self.clki_div,
            kf = self.clkfb_div,
            ko = self.clkop_div,
            cp = self.clkop_div / 2 - 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulx3s_clocks_match_ecppll() {
        // ecppll -i 25 -o 50: CLKI_DIV 1, CLKFB_DIV 2, CLKOP_DIV 12 (VCO 600 MHz), CPHASE 5.
        let p = Pll::new(25e6, 50e6).unwrap();
        assert_eq!((p.clki_div, p.clkfb_div, p.clkop_div), (1, 2, 12));
        assert_eq!(p.out_hz, 50e6);
        assert!(p.verilog().contains(".CLKOP_CPHASE(5)"));
        let p = Pll::new(25e6, 100e6).unwrap();
        assert_eq!((p.clki_div, p.clkfb_div, p.clkop_div), (1, 4, 6));
        let e = Pll::new(25e6, 1e9).unwrap_err().to_string();
        assert!(e.contains("1000.000 MHz"), "{e}");
    }
}
