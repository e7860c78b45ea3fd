//! A byte-level `tokenizer.json` in Hugging Face's format: token id == byte value.
//!
//! It is a real BPE tokenizer with an empty merge list: GPT-2's ByteLevel pre-tokenizer maps
//! each byte to one printable character (the `bytes_to_unicode` table), and the vocabulary
//! gives the character for byte `b` the id `b`. With no merges, every UTF-8 text encodes to
//! exactly its bytes, and decoding inverts it. Ids 256 and 257 are the special tokens
//! `<|begin_of_text|>` and `<|end_of_text|>` (Llama 3's names). No post-processor adds them:
//! callers prepend BOS themselves, so `encode(text)` is always just the bytes.

use serde_json::{json, Map, Value};

/// `<|begin_of_text|>`.
pub const BOS_ID: u32 = 256;
/// `<|end_of_text|>`.
pub const EOS_ID: u32 = 257;
/// Bytes plus the two specials.
pub const TOKENIZER_VOCAB: usize = 258;

/// GPT-2's printable stand-in for byte `b`: printable Latin-1 bytes stand for themselves; the
/// 68 others (controls, space, DEL, NBSP, soft hyphen) take code points 256, 257, ... in byte
/// order, so the map is a bijection onto printable characters that ByteLevel understands.
pub fn byte_to_char(b: u8) -> char {
    let printable = |x: u8| matches!(x, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    // 256 + rank < 256 + 68, always a valid scalar value.
    char::from_u32(256 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn special(id: u32, content: &str) -> Value {
    json!({
        "id": id,
        "content": content,
        "single_word": false,
        "lstrip": false,
        "rstrip": false,
        "normalized": false,
        "special": true,
    })
}

/// The `tokenizer.json` text.
pub fn byte_level_tokenizer_json() -> String {
    let mut vocab = Map::new();
    for b in 0..=255u8 {
        vocab.insert(byte_to_char(b).to_string(), json!(b));
    }
    let byte_level = json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": true,
        "use_regex": true,
    });
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [
            special(BOS_ID, "<|begin_of_text|>"),
            special(EOS_ID, "<|end_of_text|>"),
        ],
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": [],
        },
    });
    // Serialising a `Value` cannot fail (all keys are strings).
    serde_json::to_string_pretty(&tokenizer).unwrap_or_default()
}

/// A minimal `tokenizer_config.json` naming the special tokens, so that transformers'
/// `AutoTokenizer` finds BOS/EOS without guessing.
pub fn tokenizer_config_json() -> String {
    let config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|end_of_text|>",
        "add_bos_token": false,
        "add_eos_token": false,
        "clean_up_tokenization_spaces": false,
        "model_max_length": 131072,
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_matching_gpt2() {
        let chars: std::collections::BTreeSet<char> = (0..=255u8).map(byte_to_char).collect();
        assert_eq!(chars.len(), 256);
        // Known points of GPT-2's table: space is 'Ġ' (U+0120), newline 'Ċ' (U+010A).
        assert_eq!(byte_to_char(b' '), '\u{120}');
        assert_eq!(byte_to_char(b'\n'), '\u{10A}');
        assert_eq!(byte_to_char(b'A'), 'A');
        assert_eq!(byte_to_char(0), '\u{100}');
    }
}
