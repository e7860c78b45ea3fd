//! End-to-end: `tokenfab bench` on a small shape prints the targets table and writes JSON whose
//! figures are present and consistent (MBU at most 1, TPOT and J/token at or above their
//! limits, each verdict what its figure says). No speed number is asserted: wall times depend on
//! the host.

mod common;

use common::{fails, ok};
use serde_json::Value;

#[test]
fn bench_reports_consistent_figures_for_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let stdout = ok(&[
        "bench",
        "--shapes",
        "tiny",
        "--weights",
        "int8,int4",
        "--configs",
        "tiny,edge-lpddr5x",
        "--context",
        "32",
        "--json",
        json.to_str().unwrap(),
    ]);
    for field in [
        "tok/s",
        "TPOT ms",
        "limit ms",
        "MBU",
        "J/token",
        "limit J",
        "ratio",
        "wall s",
        "Mcyc/s",
        "MBU>=0.95",
        "J<=0.2",
        "J<=1.3xlim",
        "wall<=2s",
    ] {
        assert!(stdout.contains(field), "column {field} in:\n{stdout}");
    }
    let table: Vec<&str> = stdout.lines().filter(|l| l.starts_with("tiny ")).collect();
    assert_eq!(table.len(), 4, "one line per case:\n{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["context"], 32);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    let f = |c: &Value, k: &str| {
        c[k].as_f64()
            .unwrap_or_else(|| panic!("field {k} missing in {c}"))
    };
    for (c, line) in cases.iter().zip(&table) {
        let (mbu, tpot) = (f(c, "mbu"), f(c, "tpot_s"));
        assert!(mbu > 0.0 && mbu <= 1.0, "MBU {mbu}");
        assert!(tpot >= f(c, "limit_tpot_s"), "TPOT at or above its limit");
        assert!((f(c, "tok_per_s") * tpot - 1.0).abs() < 1e-9);
        assert!(f(c, "joules_per_token") >= f(c, "limit_joules_per_token"));
        let ratio = f(c, "joules_per_token") / f(c, "limit_joules_per_token");
        assert!((f(c, "energy_vs_limit") / ratio - 1.0).abs() < 1e-9);
        let parts = &c["energy_breakdown"];
        let sum: f64 = ["dram", "sram", "compute", "static"]
            .iter()
            .map(|k| f(parts, k))
            .sum();
        assert!(
            (sum / f(c, "joules_per_token") - 1.0).abs() < 1e-9,
            "the split adds up"
        );
        assert!(f(c, "cycles") > 0.0);
        assert!(f(c, "sim_wall_s") > 0.0);
        assert!(f(c, "simulated_cycles_per_wall_s") > 0.0);
        assert!(!c["energy_sources"].as_array().unwrap().is_empty());
        // On a shape other than llama-3-8b only the MBU target applies, and its verdict is the
        // figure's, in the JSON and in the table.
        let targets = c["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(targets[0]["target"], "MBU >= 0.95");
        assert_eq!(targets[0]["pass"].as_bool().unwrap(), mbu >= 0.95);
        let verdict = if mbu >= 0.95 { "PASS" } else { "MISS" };
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[cells.len() - 4..], [verdict, "-", "-", "-"], "{line}");
        assert!(line.contains(c["config"].as_str().unwrap()));
        assert!(line.contains(c["weights"].as_str().unwrap()));
    }
}

#[test]
fn bad_bench_options_are_one_line_errors() {
    let e = fails(&["bench", "--shapes", "tiny", "--weights", "int5"]);
    assert!(e.contains("int5"), "{e}");
    let e = fails(&["bench", "--shapes", "tiny", "--configs", "no-such-preset"]);
    assert!(e.contains("no-such-preset"), "{e}");
    let e = fails(&["bench", "--shapes", "tiny", "--context", "0"]);
    assert!(e.contains("--context"), "{e}");
}
