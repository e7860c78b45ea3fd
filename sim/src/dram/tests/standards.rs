//! Every shipped standard file loads and describes what the accelerator presets expect; bad
//! files give one-line errors naming the file, the field, the value and the expectation.

use std::path::Path;

use crate::dram_timing::standard::{MemoryStandard, StandardError};

const SHIPPED: [&str; 7] = [
    "lpddr5",
    "lpddr5x",
    "hbm2",
    "hbm2e",
    "hbm3",
    "ddr4",
    "sdr-sdram",
];

#[test]
fn every_shipped_standard_loads_and_is_named_after_its_file() {
    let names = MemoryStandard::preset_names();
    for required in SHIPPED {
        assert!(
            names.iter().any(|n| n == required),
            "missing configs/memory/{required}.toml"
        );
    }
    for name in &names {
        let s = MemoryStandard::preset(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&s.name, name, "a standard's name matches its file name");
        assert!(!s.source.is_empty() && !s.description.is_empty());
    }
}

#[test]
fn peak_bandwidths_match_the_published_figures() {
    let peak = |name: &str| {
        MemoryStandard::preset(name)
            .unwrap()
            .peak_bytes_per_s_per_channel()
    };
    let close = |got: f64, want: f64| (got / want - 1.0).abs() < 0.005;
    // ANCHORS.md: LPDDR5 12.8 GB/s and LPDDR5X 17.1 GB/s per x16 channel.
    assert!(close(peak("lpddr5"), 12.8e9), "{}", peak("lpddr5"));
    assert!(close(peak("lpddr5x"), 17.07e9), "{}", peak("lpddr5x"));
    // H100 SXM: 3.35 TB/s over 80 HBM3 channels (configs/dc-hbm3.toml).
    assert!(
        close(80.0 * peak("hbm3"), 3.35e12),
        "{}",
        80.0 * peak("hbm3")
    );
    // Alveo U280: 460 GB/s over 32 pseudo-channels (configs/fpga-u280.toml).
    assert!(
        close(32.0 * peak("hbm2"), 460.8e9),
        "{}",
        32.0 * peak("hbm2")
    );
    // HBM2E: 460.8 GB/s per 8-channel stack.
    assert!(
        close(8.0 * peak("hbm2e"), 460.8e9),
        "{}",
        8.0 * peak("hbm2e")
    );
    assert!(close(peak("ddr4"), 25.6e9), "{}", peak("ddr4"));
    // 16 bits at 142.9 MHz, single data rate.
    assert!(close(peak("sdr-sdram"), 285.7e6), "{}", peak("sdr-sdram"));
}

#[test]
fn the_accelerator_presets_name_shipped_standards() {
    let dir = MemoryStandard::preset_dir().join("..");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let standard = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("standard = "))
                .unwrap_or_else(|| panic!("{} names no dram.standard", path.display()));
            let name = standard.trim_matches('"');
            MemoryStandard::preset(name).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

fn lpddr5x_text() -> String {
    std::fs::read_to_string(MemoryStandard::preset_dir().join("lpddr5x.toml")).unwrap()
}

fn error(text: &str) -> String {
    let e = MemoryStandard::from_toml_str(text, Path::new("bad.toml")).unwrap_err();
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

fn replaced(from: &str, to: &str) -> String {
    let text = lpddr5x_text();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn bad_values_name_file_field_value_and_expectation() {
    assert_eq!(
        error(&replaced("nRCD = 20 ", "nRCD = 0 ")),
        "bad.toml: `timing.nRCD` = 0: expected between 1 and 100000 cycles"
    );
    assert_eq!(
        error(&replaced("bytes_per_burst = 32 ", "bytes_per_burst = 64 ")),
        "bad.toml: `organisation.bytes_per_burst` = 64: expected 32 (channel_width_bits / pseudo_channels x burst_length / 8)"
    );
    assert_eq!(
        error(&replaced("data_rate_mts = 8533.33", "data_rate_mts = 6400")),
        "bad.toml: `clock.data_rate_mts` = 6400: expected beats_per_clock / tCK = 8533.33 MT/s (within 0.5%)"
    );
    assert_eq!(
        error(&replaced("nRC = 64 ", "nRC = 40 ")),
        "bad.toml: `timing.nRC` = 40: expected at least nRAS (45)"
    );
    assert_eq!(
        error(&replaced("mode = \"per-bank\"", "mode = \"sometimes\"")),
        "bad.toml: `refresh.mode` = \"sometimes\": expected \"all-bank\" or \"per-bank\""
    );
    assert_eq!(
        error(&replaced("nREFIpb = 520 ", "nREFIpb = 600 ")),
        "bad.toml: `refresh.nREFIpb` = 600: expected between 1 and nREFI / 8 = 520 (every bank once per nREFI)"
    );
    assert_eq!(
        error(&replaced(
            "read_pj_per_bit = 4.4 ",
            "read_pj_per_bit = -1.0 "
        )),
        "bad.toml: `energy.read_pj_per_bit` = -1: expected a finite, non-negative number"
    );
}

#[test]
fn a_parameter_and_its_bank_group_pair_are_one_or_the_other() {
    assert_eq!(
        error(&replaced("nRRD_S = 6 ", "nRRD = 6 ")),
        "bad.toml: `timing.nRRD` = given with its pair: expected either `timing.nRRD` or both `timing.nRRD_S` and `timing.nRRD_L`"
    );
    let text = replaced("nCCD_S = 2 ", "").replacen("nCCD_L = 4 ", "nCCD = 2 ", 1);
    let s = MemoryStandard::from_toml_str(&text, Path::new("ok.toml")).unwrap();
    assert_eq!((s.timing.nCCD_S, s.timing.nCCD_L), (2, 2));
    assert_eq!(
        error(&replaced("nWTR_L = 13 ", "")),
        "bad.toml: `timing.nWTR_L` = missing: expected either `timing.nWTR` or both `timing.nWTR_S` and `timing.nWTR_L`"
    );
}

#[test]
fn unknown_fields_type_errors_and_missing_presets_are_reported() {
    let e = error(&format!("{}\n[extra]\nx = 1\n", lpddr5x_text()));
    assert!(e.starts_with("bad.toml: unknown field `extra`"), "{e}");
    let e = error(&replaced("nCL = 23 ", "nCL = \"soon\" "));
    assert!(e.starts_with("bad.toml: invalid type"), "{e}");
    assert!(e.contains("(line "), "{e}");
    let e = error(&replaced(
        "command_bus = \"shared\"",
        "command_bus = \"both\"",
    ));
    assert!(e.starts_with("bad.toml: unknown variant `both`"), "{e}");
    match MemoryStandard::preset("no-such-memory") {
        Err(StandardError::UnknownPreset { available, .. }) => {
            assert!(available.contains("lpddr5x"), "{available}")
        }
        other => panic!("{other:?}"),
    }
    let e = MemoryStandard::load(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn the_readme_table_matches_the_standard_files() {
    let readme = std::fs::read_to_string(MemoryStandard::preset_dir().join("README.md")).unwrap();
    let mut rows = 0;
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`');
        let s = MemoryStandard::preset(name).unwrap_or_else(|e| panic!("README row {name}: {e}"));
        let peak = format!("{:.2} GB/s", s.peak_bytes_per_s_per_channel() / 1e9);
        let energy = format!(
            "{:.1} / {:.1} pJ/bit",
            s.energy.read_pj_per_bit, s.energy.write_pj_per_bit
        );
        let stream = format!("{:.2} pJ/bit", s.stream_read_pj_per_bit());
        assert_eq!(
            (cells[5], cells[6], cells[7]),
            (peak.as_str(), energy.as_str(), stream.as_str()),
            "README row {name}"
        );
        rows += 1;
    }
    assert_eq!(
        rows,
        MemoryStandard::preset_names().len(),
        "one README row per standard"
    );
}
