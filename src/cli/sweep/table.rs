//! A sweep's results as rows, and the CSV file they are written to.
//!
//! One row per design point, in the order the axes define (memory outermost, then clock, then
//! rows). Numbers are written with Rust's shortest round-trip formatting, so a reader parses back
//! exactly the values the Pareto front was computed from, and the same sweep writes the same
//! bytes (wall-clock times are left out for that reason; `bench` reports the simulator's speed).

use super::pareto::Point;
use super::point::Timed;
use super::space::Variant;

/// The CSV's columns, in order.
pub const COLUMNS: [&str; 21] = [
    "config",
    "rows",
    "macs_per_row",
    "clock_hz",
    "memory",
    "channels",
    "peak_bytes_per_s",
    "weight_fifo_bytes",
    "cycles",
    "tok_per_s",
    "tpot_s",
    "mbu",
    "joules_per_token",
    "power_w",
    "dram_bytes_per_token",
    "limit_tpot_s",
    "limit_tok_per_s",
    "limit_joules_per_token",
    "energy_vs_limit",
    "static_w",
    "pareto",
];

/// One design point's row.
#[derive(Clone, Debug)]
pub struct Row {
    pub config: String,
    pub rows: usize,
    pub macs_per_row: usize,
    pub clock_hz: f64,
    pub memory: String,
    pub channels: usize,
    pub peak_bytes_per_s: f64,
    pub weight_fifo_bytes: usize,
    pub cycles: u64,
    pub tok_per_s: f64,
    pub tpot_s: f64,
    pub mbu: f64,
    pub joules_per_token: f64,
    pub power_w: f64,
    pub dram_bytes_per_token: f64,
    pub limit_tpot_s: f64,
    pub limit_joules_per_token: f64,
    pub energy_vs_limit: f64,
    pub static_w: f64,
    pub pareto: bool,
}

impl Row {
    pub fn new(v: &Variant, t: &Timed) -> Self {
        let r = &t.report;
        Row {
            config: v.config.name.clone(),
            rows: v.config.matrix.rows,
            macs_per_row: v.config.matrix.macs_per_row,
            clock_hz: v.config.clock_hz,
            memory: v.memory.standard.clone(),
            channels: v.memory.channels,
            peak_bytes_per_s: v.peak_bytes_per_s,
            weight_fifo_bytes: v.config.sram.weight_fifo_bytes,
            cycles: r.cycles,
            tok_per_s: r.tok_per_s,
            tpot_s: r.tpot_s,
            mbu: r.mbu,
            joules_per_token: r.joules_per_token,
            power_w: t.power_w(),
            dram_bytes_per_token: r.dram_bytes_per_token,
            limit_tpot_s: r.limit_tpot_s,
            limit_joules_per_token: r.limit_joules_per_token,
            energy_vs_limit: r.energy_vs_limit,
            static_w: v.config.energy.static_mw * 1e-3,
            pareto: false,
        }
    }

    pub fn point(&self) -> Point {
        Point {
            tok_per_s: self.tok_per_s,
            power_w: self.power_w,
        }
    }

    /// The row's fields as text, in [`COLUMNS`] order.
    fn fields(&self) -> [String; 21] {
        [
            self.config.clone(),
            self.rows.to_string(),
            self.macs_per_row.to_string(),
            self.clock_hz.to_string(),
            self.memory.clone(),
            self.channels.to_string(),
            self.peak_bytes_per_s.to_string(),
            self.weight_fifo_bytes.to_string(),
            self.cycles.to_string(),
            self.tok_per_s.to_string(),
            self.tpot_s.to_string(),
            self.mbu.to_string(),
            self.joules_per_token.to_string(),
            self.power_w.to_string(),
            self.dram_bytes_per_token.to_string(),
            self.limit_tpot_s.to_string(),
            (1.0 / self.limit_tpot_s).to_string(),
            self.limit_joules_per_token.to_string(),
            self.energy_vs_limit.to_string(),
            self.static_w.to_string(),
            self.pareto.to_string(),
        ]
    }
}

/// The CSV text: a header line, then one line per row. No field needs quoting (names are
/// preset names and standard names; a comma or quote in one is quoted anyway).
pub fn csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for r in rows {
        let fields: Vec<String> = r.fields().iter().map(|f| quote(f)).collect();
        out += &fields.join(",");
        out.push('\n');
    }
    out
}

/// `v` with `digits` significant digits, in plain decimal notation (`0.1234`, `2.523e-5` would
/// be `0.00002523`), for the human-readable tables.
pub fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).clamp(0, 12);
    format!("{v:.*}", decimals as usize)
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.123456, 4), "0.1235");
        assert_eq!(sig(2.5218e-5, 3), "0.0000252");
        assert_eq!(sig(1234.5, 4), "1234");
        assert_eq!(sig(12345.6, 4), "12346");
        assert_eq!(sig(0.0, 4), "0");
    }

    #[test]
    fn fields_that_need_it_are_quoted() {
        assert_eq!(quote("edge-lpddr5x"), "edge-lpddr5x");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
