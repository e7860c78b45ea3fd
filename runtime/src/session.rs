//! A `Session`: one sequence on one slot of any device: chunked prefill, then token-by-token
//! generation, greedy or sampled.
//!
//! The output follows `tokenfab reference`'s contract: generating `n` tokens from a prompt of
//! `p` consumes `p + n - 1` positions, and logits row `i` is what the device produced after
//! consuming position `i` (the last generated token is returned, not consumed).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::device::{Column, Device};
use crate::error::RuntimeError;

/// Greedy decoding at temperature 0, else a seeded draw from `softmax(logits / T)` with the
/// logits taken as `lane / 65536` in f64.
#[derive(Clone, Debug)]
pub struct Sampler {
    temperature: f64,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// Always the device's greedy token.
    pub fn greedy() -> Self {
        Sampler {
            temperature: 0.0,
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }

    /// Temperature sampling; `temperature` must be finite and non-negative (0 is greedy).
    pub fn new(temperature: f64, seed: u64) -> Result<Self, RuntimeError> {
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(RuntimeError::Temperature(temperature));
        }
        Ok(Sampler {
            temperature,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The next token from one row of logit lanes; `greedy` is the device's argmax of it.
    pub fn pick(&mut self, logits: &[i32], greedy: u32) -> u32 {
        if self.temperature == 0.0 || logits.is_empty() {
            return greedy;
        }
        let t = self.temperature * 65536.0;
        let max = logits.iter().copied().max().unwrap_or(0) as f64;
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| ((l as f64 - max) / t).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            u -= w;
            if u < 0.0 {
                return i as u32;
            }
        }
        greedy
    }
}

/// What [`Session::generate`] produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionOutput {
    /// The generated tokens (the prompt not included).
    pub tokens: Vec<u32>,
    /// One row of logit lanes per position consumed by this call, in position order.
    pub logits: Vec<Vec<i32>>,
}

/// Rows of logits and the device's greedy choices, one per token fed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fed {
    pub logits: Vec<Vec<i32>>,
    pub next: Vec<u32>,
}

/// One sequence on slot `slot` of a device.
pub struct Session<'d> {
    device: &'d mut dyn Device,
    slot: u32,
    pos: usize,
    steps: usize,
}

impl<'d> Session<'d> {
    /// A session starting at position 0 of `slot` (whatever the slot held is rolled back).
    pub fn new(device: &'d mut dyn Device, slot: u32) -> Result<Self, RuntimeError> {
        if slot as usize >= device.slots() {
            return Err(RuntimeError::Slot {
                device: device.name(),
                column: 0,
                seq: slot,
                slots: device.slots(),
            });
        }
        Ok(Session {
            device,
            slot,
            pos: 0,
            steps: 0,
        })
    }

    /// Positions consumed so far (the next token goes here).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Device steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Go back to position `pos` (at most the current one): the next token fed replaces it.
    pub fn rewind(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Consume `tokens` at the next positions, up to `max_columns` consecutive positions per
    /// device step.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<Fed, RuntimeError> {
        let mut fed = Fed::default();
        for chunk in tokens.chunks(self.device.max_columns().max(1)) {
            let columns: Vec<Column> = chunk
                .iter()
                .enumerate()
                .map(|(i, &token)| Column {
                    token,
                    pos: (self.pos + i).min(u32::MAX as usize) as u32,
                    seq: self.slot,
                })
                .collect();
            let out = self.device.step(&columns)?;
            self.steps += 1;
            self.pos += chunk.len();
            fed.logits.extend(out.logits);
            fed.next.extend(out.next);
        }
        Ok(fed)
    }

    /// Consume `prompt`, then generate up to `steps` tokens, calling `on_token` with each new
    /// token as soon as it is chosen; `on_token` returning `false` stops the generation there
    /// (an end-of-sequence token, a user's interrupt).
    pub fn generate(
        &mut self,
        prompt: &[u32],
        steps: usize,
        sampler: &mut Sampler,
        on_token: &mut dyn FnMut(u32) -> bool,
    ) -> Result<SessionOutput, RuntimeError> {
        if prompt.is_empty() {
            return Err(RuntimeError::EmptyPrompt);
        }
        let positions = self.pos + prompt.len() + steps.saturating_sub(1);
        if positions > self.device.context() {
            return Err(RuntimeError::TooLong {
                positions,
                prompt: prompt.len(),
                steps,
                context: self.device.context(),
            });
        }
        let fed = self.feed(prompt)?;
        let mut out = SessionOutput {
            tokens: Vec::with_capacity(steps),
            logits: fed.logits,
        };
        let mut greedy = *fed.next.last().expect("a non-empty prompt gives a row");
        while out.tokens.len() < steps {
            let row = out.logits.last().expect("at least one row");
            let next = sampler.pick(row, greedy);
            out.tokens.push(next);
            if !on_token(next) || out.tokens.len() == steps {
                break;
            }
            let fed = self.feed(&[next])?;
            greedy = fed.next[0];
            out.logits.extend(fed.logits);
        }
        Ok(out)
    }
}
