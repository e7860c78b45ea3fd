//! The emitted Verilog of every block, for the `tiny` and `fpga-ecp5` presets, passes Verilator's
//! `--lint-only -Wall` (with the waivers of `tokenfab_hw::lint::WAIVED`) and the Yosys check of
//! rust-hdl's `yosys_validate`; every file carries the regeneration header.

use tokenfab_hw::eda::Eda;
use tokenfab_hw::emit::{header, write};
use tokenfab_hw::lint::{verilator_lint, yosys_validate};
use tokenfab_isa::config::AccelConfig;

#[test]
fn emitted_verilog_lints_and_validates() {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    for preset in ["tiny", "fpga-ecp5"] {
        let config = AccelConfig::preset(preset).expect("preset");
        let out = dir.path().join(preset);
        let emitted = write(&config, preset, &out).expect("emit");
        for (b, file) in emitted.blocks.iter().zip(&emitted.block_files) {
            let text = std::fs::read_to_string(file).expect("emitted file");
            assert!(text.starts_with(&header(preset)), "{}", file.display());
            verilator_lint(eda, file, &b.module).unwrap_or_else(|e| panic!("{e}"));
            let t = std::time::Instant::now();
            yosys_validate(eda, file, &b.module).unwrap_or_else(|e| panic!("{e}"));
            eprintln!(
                "{preset} {}: yosys {:.1} s",
                b.module,
                t.elapsed().as_secs_f64()
            );
        }
        let top = std::fs::read_to_string(&emitted.top_file).expect("top file");
        assert!(top.starts_with(&header(preset)));
        for b in &emitted.blocks {
            assert!(top.contains(&format!("`include \"{}\"", b.file_name())));
        }
    }
}
