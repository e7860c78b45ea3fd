//! The generated tokenizer.json loads in the `tokenizers` crate and is exactly byte-level.

use tokenfab_checkpoint::{byte_level_tokenizer_json, BOS_ID, EOS_ID};
use tokenizers::Tokenizer;

fn tokenizer() -> Tokenizer {
    Tokenizer::from_bytes(byte_level_tokenizer_json().as_bytes()).expect("tokenizers loads it")
}

#[test]
fn ids_are_the_bytes_and_decoding_round_trips() {
    let tok = tokenizer();
    for text in [
        "Hello, world!",
        "  leading and trailing spaces  ",
        "tabs\tand\nnewlines\r\n\n",
        "ünïcödé — 日本語 🦀",
        "",
        "\u{0}\u{1}\u{7f}",
    ] {
        for add_special in [false, true] {
            let enc = tok.encode(text, add_special).unwrap();
            let want: Vec<u32> = text.bytes().map(u32::from).collect();
            assert_eq!(enc.get_ids(), want.as_slice(), "{text:?}");
            assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text, "{text:?}");
        }
    }
}

#[test]
fn every_byte_is_its_own_token() {
    let tok = tokenizer();
    assert_eq!(tok.get_vocab_size(true), 258);
    for b in 0..=255u32 {
        let piece = tok.id_to_token(b).unwrap();
        assert_eq!(tok.token_to_id(&piece), Some(b));
    }
}

#[test]
fn specials_are_added_tokens() {
    let tok = tokenizer();
    assert_eq!(tok.token_to_id("<|begin_of_text|>"), Some(BOS_ID));
    assert_eq!(tok.token_to_id("<|end_of_text|>"), Some(EOS_ID));
    let enc = tok
        .encode("<|begin_of_text|>hi<|end_of_text|>", false)
        .unwrap();
    assert_eq!(enc.get_ids(), &[256, 104, 105, 257]);
    assert_eq!(tok.decode(&[256, 104, 105, 257], true).unwrap(), "hi");
}
