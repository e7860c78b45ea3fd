//! Greedy generation and teacher-forced scoring on top of the one-step decode.
//!
//! Row convention for logits, shared with the Hugging Face fixtures and the `reference` CLI:
//! row `i` holds the logits produced after consuming the token at position `i`, the prompt's
//! tokens first and then the generated ones. Generating `N >= 1` tokens from a prompt of `P`
//! consumes `P + N - 1` tokens (the last generated token is never fed back), so it yields
//! `P + N - 1` rows; the last row is the one the last token was chosen from.

use super::model::FloatModel;
use crate::error::GoldenError;

/// The result of a generation: the new token ids and every logits row, flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Generated token ids (the prompt not included).
    pub tokens: Vec<u32>,
    /// `rows() * vocab_size` logits, row-major.
    pub logits: Vec<f32>,
    pub vocab_size: usize,
}

impl Generation {
    /// Number of logits rows.
    pub fn rows(&self) -> usize {
        self.logits.len() / self.vocab_size.max(1)
    }

    /// Logits row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.logits[i * self.vocab_size..(i + 1) * self.vocab_size]
    }
}

/// The index of the largest value; the first one on ties, as `torch.argmax` returns. NaNs are
/// never chosen (a NaN logit compares false with everything).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best as u32
}

impl FloatModel {
    /// Greedy decoding: consumes `prompt`, then appends the argmax token `steps` times.
    ///
    /// Returns the `steps` generated ids and `prompt.len() + steps - 1` logits rows (with
    /// `steps == 0`, nothing is generated and the `prompt.len()` teacher-forced rows are
    /// returned). Every token id and the total context are checked before any work is done.
    pub fn greedy_generate(&self, prompt: &[u32], steps: usize) -> Result<Generation, GoldenError> {
        if prompt.is_empty() {
            return Err(GoldenError::EmptyPrompt);
        }
        for &t in prompt {
            self.check_token(t)?;
        }
        let consumed = prompt.len() + steps.saturating_sub(1);
        let mut cache = self.new_cache(consumed)?;
        let vocab = self.config.vocab_size;
        let mut logits = Vec::with_capacity(consumed * vocab);
        let mut tokens = Vec::with_capacity(steps);
        let mut next = prompt[0];
        for pos in 0..consumed {
            let input = if pos < prompt.len() {
                prompt[pos]
            } else {
                next
            };
            let row = self.forward(input, pos, &mut cache)?;
            if pos + 1 >= prompt.len() && tokens.len() < steps {
                next = argmax(&row);
                tokens.push(next);
            }
            logits.extend_from_slice(&row);
        }
        Ok(Generation {
            tokens,
            logits,
            vocab_size: vocab,
        })
    }

    /// Teacher forcing: the logits after each of `tokens` (one row per token), as used to
    /// compare a quantised model against this reference on the same sequence.
    pub fn teacher_forced_logits(&self, tokens: &[u32]) -> Result<Generation, GoldenError> {
        self.greedy_generate(tokens, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, -2.0]), 1);
        assert_eq!(argmax(&[-5.0]), 0);
        assert_eq!(argmax(&[0.0, f32::NAN, 1.0]), 2);
    }

    #[test]
    fn rows_index_the_flat_logits() {
        let g = Generation {
            tokens: vec![1],
            logits: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            vocab_size: 3,
        };
        assert_eq!(g.rows(), 2);
        assert_eq!(g.row(1), &[3.0, 4.0, 5.0]);
    }
}
