//! `docs/isa.md` is generated from the instruction table; this test fails when the committed
//! copy is stale, and rewrites it when `TOKENFAB_BLESS=1` is set.

use std::path::Path;

use tokenfab_isa::instr::doc::{render, REGENERATE};

#[test]
fn committed_isa_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/isa.md");
    let fresh = render();
    if std::env::var_os("TOKENFAB_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/isa.md is stale: regenerate it with `{REGENERATE}`"
    );
}

#[test]
fn the_reference_lists_every_instruction_and_field() {
    let doc = render();
    for i in tokenfab_isa::instr::INSTRUCTIONS {
        assert!(
            doc.contains(&format!("## `{}`", i.mnemonic)),
            "{}",
            i.mnemonic
        );
        for f in i.fields {
            assert!(
                doc.contains(&format!("| `{}` |", f.name)),
                "{}.{}",
                i.mnemonic,
                f.name
            );
        }
    }
}
