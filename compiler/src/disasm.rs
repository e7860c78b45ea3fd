//! The human-readable listing of a program (`tokenfab disasm`).
//!
//! A header (model, configuration, weight format, memory map, passes), then one line per
//! instruction in the ISA's own `MNEMONIC field=value` form, with the manifest's labels as
//! section headings and a note naming the DRAM region each KV, weight-stream and output access
//! touches. It reads only the program, and prints nothing machine- or time-dependent (no path,
//! no timestamp), so the listing of a program is the same wherever it is made: the snapshot
//! test compares it byte for byte.

use std::fmt::Write as _;

use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::kv_entry_bytes;
use tokenfab_isa::Program;

/// The listing of `program`.
pub fn disasm(program: &Program) -> String {
    let m = &program.manifest;
    let (id, mm, w) = (&m.model, &m.memory, &m.weights);
    let mut out = String::new();
    let range = |base: u64, bytes: u64| format!("[0x{base:x}, 0x{:x})", base + bytes);
    let _ = writeln!(out, "; tokenfab program, written by {}", m.producer);
    let _ = writeln!(
        out,
        "; model    {} ({}): {} layers, hidden {}, {} heads / {} kv heads x {}, ffn {}, vocab {}, {} lm_head",
        id.name,
        id.family,
        id.layers,
        id.hidden_size,
        id.heads,
        id.kv_heads,
        id.head_dim,
        id.intermediate_size,
        id.vocab_size,
        if id.tie_word_embeddings { "tied" } else { "untied" }
    );
    let _ = writeln!(
        out,
        "; config   {}: {}",
        m.config.name, m.config.description
    );
    let _ = writeln!(
        out,
        "; weights  {} group {} {}: {} stream bytes per step, {:.4} bits per weight",
        w.format, w.group, w.scale_rule, w.stream_bytes_per_step, w.bits_per_weight
    );
    let _ = writeln!(
        out,
        "; image    {} {} bytes{}",
        range(mm.image.base, mm.image.bytes),
        mm.image.bytes,
        if m.shape_only {
            " (shape-only program: not stored)"
        } else {
            ""
        }
    );
    let kv = &mm.kv;
    let _ = writeln!(
        out,
        "; kv cache {} {} layers x key, value x {} slot(s) x {} kv heads x {} positions x {} bytes",
        range(kv.region.base, kv.region.bytes),
        kv.layers,
        kv.slots,
        kv.heads,
        kv.ctx,
        kv_entry_bytes(kv.head_dim as usize)
    );
    let _ = writeln!(
        out,
        "; logits   {} {} columns x {} lanes",
        range(mm.logits.base, mm.logits.bytes),
        m.config.max_columns,
        id.vocab_size
    );
    let _ = writeln!(out, "; passes   {}", m.passes.join(" -> "));
    let _ = writeln!(out, "; {} instructions", program.instrs.len());

    let streams = program
        .instrs
        .iter()
        .filter(|i| matches!(i, Instr::WeightFetch { .. }))
        .count();
    let mut stream = 0;
    let mut labels = m.labels.iter().peekable();
    for (index, instr) in program.instrs.iter().enumerate() {
        while let Some(l) = labels.next_if(|l| l.index as usize <= index) {
            let _ = writeln!(out, "\n; --- {}", l.text);
        }
        let kv_note = |base: u64, kind: &str| {
            kv.layer_bases
                .iter()
                .position(|&(k, v)| base == if kind == "keys" { k } else { v })
                .map_or_else(String::new, |l| format!("  ; layer {l} {kind}"))
        };
        let note = match *instr {
            Instr::WeightFetch { .. } => {
                stream += 1;
                format!("  ; stream {stream} of {streams}")
            }
            Instr::Score { base, .. } => kv_note(base, "keys"),
            Instr::WeightedSum { base, .. } => kv_note(base, "values"),
            Instr::KvStore { base, .. } => {
                let keys = kv_note(base, "keys");
                if keys.is_empty() {
                    kv_note(base, "values")
                } else {
                    keys
                }
            }
            Instr::Store { .. } => "  ; logits".into(),
            Instr::Embed { .. } => "  ; embedding rows".into(),
            Instr::LoadParams { .. } => "  ; parameter blocks".into(),
            _ => String::new(),
        };
        let _ = writeln!(out, "{index:>6}  {instr}{note}");
    }
    out
}
