//! Streaming detokenisation for the commands that print generated text.

use std::io::Write;

use anyhow::Context;
use tokenizers::Tokenizer;

/// Writes and flushes `text`; `Ok(false)` when the reader has gone (e.g. `| head`).
pub fn emit(out: &mut impl Write, text: &str) -> anyhow::Result<bool> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

/// Incremental detokenisation: decodes the tokens since the last emitted chunk together with
/// that chunk (so tokenizers that depend on context, e.g. for leading spaces, decode the same
/// as they would in one piece), and emits the new text only once it does not end in an
/// incomplete UTF-8 sequence (which decoders render as U+FFFD).
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    /// Start of the last emitted chunk's tokens.
    prev: usize,
    /// End of the emitted tokens.
    current: usize,
    pub ended_with_newline: bool,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        TextStream {
            tokenizer,
            tokens: Vec::new(),
            prev: 0,
            current: 0,
            ended_with_newline: false,
        }
    }

    fn decode(&self, tokens: &[u32]) -> anyhow::Result<String> {
        self.tokenizer
            .decode(tokens, true)
            .map_err(|e| anyhow::anyhow!("decoding tokens: {e}"))
    }

    /// The new text `token` completes, if any.
    pub fn push(&mut self, token: u32) -> anyhow::Result<Option<String>> {
        let before = self.decode(&self.tokens[self.prev..self.current])?;
        self.tokens.push(token);
        let after = self.decode(&self.tokens[self.prev..])?;
        if after.ends_with('\u{FFFD}') || !after.starts_with(&before) || after.len() == before.len()
        {
            return Ok(None);
        }
        let text = after[before.len()..].to_string();
        self.prev = self.current;
        self.current = self.tokens.len();
        self.ended_with_newline = text.ends_with('\n');
        Ok(Some(text))
    }

    /// Whatever is still held back (an incomplete character at the end shows as U+FFFD).
    pub fn finish(&mut self) -> anyhow::Result<String> {
        let before = self.decode(&self.tokens[self.prev..self.current])?;
        let after = self.decode(&self.tokens[self.prev..])?;
        self.prev = self.current;
        self.current = self.tokens.len();
        Ok(after.get(before.len()..).unwrap_or(&after).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_tokenizer() -> Tokenizer {
        let json = tokenfab_checkpoint::byte_level_tokenizer_json();
        Tokenizer::from_bytes(json.as_bytes()).expect("tokenizer")
    }

    #[test]
    fn multibyte_characters_are_held_until_complete() {
        let tokenizer = byte_tokenizer();
        let mut stream = TextStream::new(&tokenizer);
        let mut text = String::new();
        // "é" is C3 A9 and "€" is E2 82 AC: every prefix of them is held back.
        for b in "aé€b".bytes() {
            if let Some(chunk) = stream.push(b as u32).unwrap() {
                assert!(!chunk.contains('\u{FFFD}'), "{chunk:?}");
                text.push_str(&chunk);
            }
        }
        text.push_str(&stream.finish().unwrap());
        assert_eq!(text, "aé€b");
    }

    #[test]
    fn a_truncated_character_is_flushed_at_the_end() {
        let tokenizer = byte_tokenizer();
        let mut stream = TextStream::new(&tokenizer);
        assert_eq!(stream.push(b'x' as u32).unwrap().as_deref(), Some("x"));
        assert_eq!(stream.push(0xE2).unwrap(), None);
        assert_eq!(stream.finish().unwrap(), "\u{FFFD}");
    }
}
