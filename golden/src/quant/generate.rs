//! Greedy generation and teacher-forced scoring on the quantised reference, with the float
//! reference's row convention: row `i` holds the logits produced after consuming the token at
//! position `i`; generating `N >= 1` tokens from a prompt of `P` consumes `P + N - 1` tokens and
//! yields that many rows. Logits are Q15.16 lanes; the next token is
//! [`argmax`](tokenfab_isa::numerics::argmax::argmax) of them (the lowest index wins a tie).

use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::numerics::vector::vf_to_f64;

use super::model::QuantModel;
use super::weights::numerics_error;
use crate::error::GoldenError;

/// The result of a quantised generation: the new token ids and every logits row, flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantGeneration {
    /// Generated token ids (the prompt not included).
    pub tokens: Vec<u32>,
    /// `rows() * vocab_size` Q15.16 logit lanes, row-major.
    pub logits: Vec<i32>,
    pub vocab_size: usize,
}

impl QuantGeneration {
    /// Number of logits rows.
    pub fn rows(&self) -> usize {
        self.logits.len() / self.vocab_size.max(1)
    }

    /// Logits row `i`, as lanes.
    pub fn row(&self, i: usize) -> &[i32] {
        &self.logits[i * self.vocab_size..(i + 1) * self.vocab_size]
    }

    /// Logits row `i` as values (`lane / 65536`, exact in f64).
    pub fn row_f64(&self, i: usize) -> Vec<f64> {
        self.row(i).iter().map(|&l| vf_to_f64(l)).collect()
    }
}

/// The greedy choice from a row of logit lanes: [`argmax`] (the lowest index wins a tie).
pub fn argmax_lanes(logits: &[i32]) -> Result<u32, GoldenError> {
    Ok(argmax(logits).map_err(numerics_error("argmax"))? as u32)
}

impl QuantModel {
    /// Greedy decoding: consumes `prompt`, then appends the argmax token `steps` times.
    ///
    /// Returns the `steps` generated ids and `prompt.len() + steps - 1` logits rows (with
    /// `steps == 0`, the `prompt.len()` teacher-forced rows). Every token id and the total
    /// context are checked before any work is done.
    pub fn greedy_generate(
        &self,
        prompt: &[u32],
        steps: usize,
    ) -> Result<QuantGeneration, GoldenError> {
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
                next = argmax_lanes(&row)?;
                tokens.push(next);
            }
            logits.extend_from_slice(&row);
        }
        Ok(QuantGeneration {
            tokens,
            logits,
            vocab_size: vocab,
        })
    }

    /// Teacher forcing: the logits lanes after each of `tokens` (one row per token).
    pub fn teacher_forced_logits(&self, tokens: &[u32]) -> Result<QuantGeneration, GoldenError> {
        self.greedy_generate(tokens, 0)
    }
}
