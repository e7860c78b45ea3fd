//! `simulate --backend rtl` and the RTL figures `run --backend rtl` prints: the program on the
//! core's RTL under Verilator (`tokenfab_runtime::rtl`), optionally checked against golden, and
//! the RTL's cycles per step beside the timing model's with the difference in % (issue 5
//! requires ±2% eventually), and Verilator's speed in simulated cycles per wall second.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use tokenfab_isa::Program;
use tokenfab_runtime::rtl::{timing_model_cycles, CycleComparison};
use tokenfab_runtime::{Checked, GoldenDevice, RtlDevice, RtlOptions};

use super::{generate, SimulateArgs};

/// The RTL device `args` asks for.
pub fn device(program: &Program, vcd: Option<&Path>) -> anyhow::Result<RtlDevice> {
    let options = RtlOptions {
        vcd: vcd.map(Path::to_path_buf),
        ..RtlOptions::default()
    };
    Ok(RtlDevice::new(program, options)?)
}

/// `simulate --backend rtl`.
pub fn run(
    args: &SimulateArgs,
    program: &Program,
    prompt: &[u32],
    steps: usize,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let rtl = device(program, args.vcd.as_deref())?;
    let (out, rtl, what) = if args.check {
        let dir = args
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&program.manifest.model.source));
        let golden = GoldenDevice::for_program(program, &dir)?;
        let mut pair = Checked::new(rtl, golden)?;
        let out = generate(&mut pair, prompt, steps)?;
        let what = format!(
            "{} steps checked against the quantised golden reference ({}): every logit equal",
            pair.steps(),
            dir.display()
        );
        (out, pair.into_inner().0, what)
    } else {
        let mut rtl = rtl;
        let out = generate(&mut rtl, prompt, steps)?;
        (out, rtl, "not checked (pass --check)".to_owned())
    };
    super::write_logits(args, program, &out)?;
    let ids: Vec<String> = out.tokens.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    eprintln!(
        "ran {} positions ({} prompt + {} generated) on the RTL, {:.2} s wall; {what}",
        out.logits.len(),
        prompt.len(),
        out.tokens.len(),
        start.elapsed().as_secs_f64()
    );
    let cmp = timing_model_cycles(program, &rtl.launches);
    eprint!("{}", table(program, &rtl, cmp.as_deref().ok()));
    if let Err(e) = &cmp {
        eprintln!("timing model: {e}");
    }
    if let Some(path) = &args.vcd {
        eprintln!("waveform: {}", path.display());
    }
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report(args, program, &rtl, cmp.ok()))? + "\n";
        if path == Path::new("-") {
            print!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| path.display().to_string())?;
        }
    }
    Ok(())
}

/// The RTL's cycles per step beside the timing model's (when it could time the program).
pub fn table(program: &Program, rtl: &RtlDevice, cmp: Option<&[CycleComparison]>) -> String {
    let m = &program.manifest;
    let mut s = format!(
        "RTL ({} at {:.0} MHz, {} memory model) of {}: {} steps, Verilator {:.3e} cycles per wall second (core built in {:.1} s, 0 = cached; program loaded in {} cycles)\n",
        m.config.name,
        m.config.clock_hz / 1e6,
        m.config.dram.standard,
        m.model.name,
        rtl.launches.len(),
        rtl.cycles_per_second(),
        rtl.build_time.as_secs_f64(),
        rtl.load_cycles,
    );
    let _ = writeln!(
        s,
        "  {:>5} {:>12} {:>12} {:>13} {:>11}",
        "step", "positions", "RTL cycles", "timing model", "difference"
    );
    for (i, l) in rtl.launches.iter().enumerate() {
        let first = l.columns.first().map_or(0, |c| c.pos);
        let last = l.columns.last().map_or(0, |c| c.pos);
        let positions = if first == last {
            first.to_string()
        } else {
            format!("{first}..={last}")
        };
        let (model, diff) = match cmp.and_then(|c| c.get(i)) {
            Some(c) => (c.model.to_string(), format!("{:+.2}%", c.difference_pct())),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            s,
            "  {i:>5} {positions:>12} {:>12} {model:>13} {diff:>11}",
            l.cycles
        );
    }
    s
}

/// One line for `run --backend rtl`: the last step's cycles beside the timing model's, and the
/// largest difference of a one-column (decode) step and of a multi-column (prefill) step.
pub fn summary(program: &Program, rtl: &RtlDevice) -> String {
    let Some(last) = rtl.launches.last() else {
        return "RTL: no step ran".to_owned();
    };
    let model = match timing_model_cycles(program, &rtl.launches) {
        Ok(c) => {
            let largest = |decode: bool, what: &str| {
                c.iter()
                    .zip(&rtl.launches)
                    .enumerate()
                    .filter(|(_, (_, l))| (l.columns.len() == 1) == decode)
                    .map(|(i, (c, _))| (i, c.difference_pct()))
                    .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                    .map_or(String::new(), |(i, d)| {
                        format!("; largest difference of a {what} step {d:+.2}% (step {i})")
                    })
            };
            let l = c.last().expect("a step ran");
            format!(
                "timing model {} cycles ({:+.2}%){}{}",
                l.model,
                l.difference_pct(),
                largest(true, "decode (one-column)"),
                largest(false, "prefill (multi-column)")
            )
        }
        Err(e) => format!("timing model: {e}"),
    };
    format!(
        "RTL ({} at {:.0} MHz): last step {} cycles, {model}; {} steps, Verilator {:.3e} cycles per wall second",
        program.manifest.config.name,
        program.manifest.config.clock_hz / 1e6,
        last.cycles,
        rtl.launches.len(),
        rtl.cycles_per_second()
    )
}

fn report(
    args: &SimulateArgs,
    program: &Program,
    rtl: &RtlDevice,
    cmp: Option<Vec<CycleComparison>>,
) -> serde_json::Value {
    let m = &program.manifest;
    let steps: Vec<serde_json::Value> = rtl
        .launches
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let c = cmp.as_ref().and_then(|c| c.get(i));
            serde_json::json!({
                "positions": l.columns.iter().map(|c| c.pos).collect::<Vec<_>>(),
                "rtl_cycles": l.cycles,
                "timing_model_cycles": c.map(|c| c.model),
                "difference_pct": c.map(|c| c.difference_pct()),
                "stepped_cycles": l.stepped,
                "wall_s": l.wall.as_secs_f64(),
            })
        })
        .collect();
    serde_json::json!({
        "mode": "rtl",
        "program": args.program.display().to_string(),
        "model": m.model.name,
        "config": m.config.name,
        "clock_hz": m.config.clock_hz,
        "memory_standard": m.config.dram.standard,
        "verilator_cycles_per_s": rtl.cycles_per_second(),
        "build_s": rtl.build_time.as_secs_f64(),
        "load_cycles": rtl.load_cycles,
        "steps": steps,
    })
}
