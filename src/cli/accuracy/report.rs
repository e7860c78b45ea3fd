//! The figures of `tokenfab accuracy`: per-position logits rows, their agreement and loss sums
//! ([`Tally`], merged in window order), and the report printed as a table and written as JSON.

use std::path::Path;

use serde_json::{json, Value};
use tokenfab_golden::{QuantOptions, ScaleRule, WeightFormat};

use super::WINDOW;

/// How closely one model's logits follow another's, over many positions.
#[derive(Clone, Copy, Debug)]
pub struct Agreement {
    positions: usize,
    cosine_sum: f64,
    cosine_min: f64,
    top1_same: usize,
    max_abs_error: f64,
}

impl Default for Agreement {
    fn default() -> Self {
        Agreement {
            positions: 0,
            cosine_sum: 0.0,
            cosine_min: f64::INFINITY,
            top1_same: 0,
            max_abs_error: 0.0,
        }
    }
}

impl Agreement {
    pub fn add(&mut self, x: &Row, reference: &Row) {
        let (mut dot, mut xx, mut rr, mut max_abs) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (&a, &b) in x.values.iter().zip(&reference.values) {
            dot += a * b;
            xx += a * a;
            rr += b * b;
            max_abs = max_abs.max((a - b).abs());
        }
        let cosine = dot / (xx.sqrt() * rr.sqrt()).max(f64::MIN_POSITIVE);
        self.positions += 1;
        self.cosine_sum += cosine;
        self.cosine_min = self.cosine_min.min(cosine);
        self.top1_same += (x.top1 == reference.top1) as usize;
        self.max_abs_error = self.max_abs_error.max(max_abs);
    }

    fn merge(&mut self, o: &Agreement) {
        self.positions += o.positions;
        self.cosine_sum += o.cosine_sum;
        self.cosine_min = self.cosine_min.min(o.cosine_min);
        self.top1_same += o.top1_same;
        self.max_abs_error = self.max_abs_error.max(o.max_abs_error);
    }

    fn cosine_mean(&self) -> f64 {
        self.cosine_sum / self.positions.max(1) as f64
    }

    fn top1_pct(&self) -> f64 {
        100.0 * self.top1_same as f64 / self.positions.max(1) as f64
    }

    fn to_json(self) -> Value {
        json!({
            "cosine_mean": self.cosine_mean(),
            "cosine_min": self.cosine_min,
            "top1_agreement_pct": self.top1_pct(),
            "max_abs_logit_error": self.max_abs_error,
        })
    }
}

/// One position's logits as f64 values, their greedy choice and the target's loss.
pub struct Row {
    pub values: Vec<f64>,
    pub top1: u32,
}

impl Row {
    /// `-log_softmax(values)[target]` in f64.
    pub fn nll(&self, target: u32) -> f64 {
        let m = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = self.values.iter().map(|v| (v - m).exp()).sum();
        m + z.ln() - self.values[target as usize]
    }
}

/// Sums over one window (or, merged in order, over all of them).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub tokens: usize,
    /// Total nats of (a) float, (b) quantised weights in f32, (c) accelerator numerics.
    pub nats: [f64; 3],
    pub b_vs_a: Agreement,
    pub c_vs_a: Agreement,
    pub c_vs_b: Agreement,
}

impl Tally {
    pub fn merge(&mut self, o: &Tally) {
        self.tokens += o.tokens;
        for (s, x) in self.nats.iter_mut().zip(o.nats) {
            *s += x;
        }
        self.b_vs_a.merge(&o.b_vs_a);
        self.c_vs_a.merge(&o.c_vs_a);
        self.c_vs_b.merge(&o.c_vs_b);
    }
}

/// Every figure of one run, printed as a table and written as JSON.
pub struct Report<'a> {
    pub model: &'a Path,
    pub options: QuantOptions,
    pub text: &'a str,
    pub tokens: usize,
    pub windows: usize,
    pub bytes: Option<usize>,
    pub bits_per_weight: f64,
    pub tally: Tally,
    pub load_s: f64,
    pub eval_s: f64,
}

const NAMES: [&str; 3] = [
    "(a) float",
    "(b) quantised weights, f32 arithmetic",
    "(c) accelerator numerics",
];
const KEYS: [&str; 3] = ["float", "quantised_weights_f32", "accelerator_numerics"];

impl Report<'_> {
    fn nats_per_token(&self, i: usize) -> f64 {
        self.tally.nats[i] / self.tokens as f64
    }

    fn bits_per_byte(&self, i: usize) -> Option<f64> {
        self.bytes
            .map(|b| self.tally.nats[i] / std::f64::consts::LN_2 / b as f64)
    }

    /// Loss change of model `i` against model `base`, in percent.
    fn change_pct(&self, i: usize, base: usize) -> f64 {
        100.0 * (self.tally.nats[i] / self.tally.nats[base] - 1.0)
    }

    pub fn table(&self) -> String {
        let t = &self.tally;
        let mut s = format!(
            "accuracy of {} ({}, {:.3} bits/weight with scales) on {}: {} tokens in {} x {WINDOW}-token windows; loaded in {:.1} s, evaluated in {:.1} s\n\n",
            self.model.display(),
            self.options,
            self.bits_per_weight,
            self.text,
            self.tokens,
            self.windows,
            self.load_s,
            self.eval_s,
        );
        s += &format!(
            "{:<38} {:>10} {:>10} {:>9} {:>10} {:>10} {:>7} {:>9}\n",
            "model",
            "nats/tok",
            "bits/byte",
            "vs float",
            "cos mean",
            "cos min",
            "top-1",
            "max |err|"
        );
        let per = |i: usize| {
            self.bits_per_byte(i)
                .map_or("-".into(), |b| format!("{b:.5}"))
        };
        s += &format!(
            "{:<38} {:>10.5} {:>10}\n",
            NAMES[0],
            self.nats_per_token(0),
            per(0)
        );
        for (i, vs) in [(1, &t.b_vs_a), (2, &t.c_vs_a)] {
            s += &format!(
                "{:<38} {:>10.5} {:>10} {:>+8.3}% {:>10.7} {:>10.7} {:>6.2}% {:>9.4}\n",
                NAMES[i],
                self.nats_per_token(i),
                per(i),
                self.change_pct(i, 0),
                vs.cosine_mean(),
                vs.cosine_min,
                vs.top1_pct(),
                vs.max_abs_error
            );
        }
        let cb = &t.c_vs_b;
        s += &format!(
            "\nthe numerics' own cost, (c) against (b): loss {:+.4}%, cosine mean {:.7} min {:.7}, top-1 agreement {:.2}%, max |logit error| {:.4}\n",
            self.change_pct(2, 1),
            cb.cosine_mean(),
            cb.cosine_min,
            cb.top1_pct(),
            cb.max_abs_error
        );
        s
    }

    pub fn json(&self) -> Value {
        let t = &self.tally;
        let loss = |i: usize| {
            json!({
                "total_nats": t.nats[i],
                "nats_per_token": self.nats_per_token(i),
                "bits_per_byte": self.bits_per_byte(i),
            })
        };
        let mut b = loss(1);
        b["loss_change_pct_vs_float"] = json!(self.change_pct(1, 0));
        b["vs_float"] = t.b_vs_a.to_json();
        let mut c = loss(2);
        c["loss_change_pct_vs_float"] = json!(self.change_pct(2, 0));
        c["loss_change_pct_vs_quantised_weights_f32"] = json!(self.change_pct(2, 1));
        c["vs_float"] = t.c_vs_a.to_json();
        c["vs_quantised_weights_f32"] = t.c_vs_b.to_json();
        json!({
            "model": self.model.display().to_string(),
            "weights": match self.options.format {
                WeightFormat::Int8 => "int8",
                WeightFormat::Int4 => "int4",
            },
            "group": self.options.group,
            "scale_rule": match self.options.rule {
                ScaleRule::AbsMax => "absmax",
                ScaleRule::MinSquaredError => "mse",
            },
            "bits_per_weight": self.bits_per_weight,
            "text": self.text,
            "tokens": self.tokens,
            "bytes": self.bytes,
            "windows": self.windows,
            "window_tokens": WINDOW,
            "load_seconds": self.load_s,
            "eval_seconds": self.eval_s,
            KEYS[0]: loss(0),
            KEYS[1]: b,
            KEYS[2]: c,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_the_negative_log_softmax() {
        let row = Row {
            values: vec![1.0, 2.0, 3.0],
            top1: 2,
        };
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        assert!((row.nll(0) - (z.ln() - 1.0)).abs() < 1e-12);
        // Shift invariance: a large common offset changes nothing.
        let shifted = Row {
            values: vec![1001.0, 1002.0, 1003.0],
            top1: 2,
        };
        assert!((shifted.nll(1) - row.nll(1)).abs() < 1e-9);
    }

    #[test]
    fn agreement_counts_cosine_top1_and_error() {
        let a = Row {
            values: vec![1.0, 0.0],
            top1: 0,
        };
        let b = Row {
            values: vec![0.0, 1.0],
            top1: 1,
        };
        let mut g = Agreement::default();
        g.add(&a, &a);
        g.add(&b, &a);
        assert_eq!(g.positions, 2);
        assert!((g.cosine_mean() - 0.5).abs() < 1e-12);
        assert_eq!(g.cosine_min, 0.0);
        assert_eq!(g.top1_pct(), 50.0);
        assert_eq!(g.max_abs_error, 1.0);
    }
}
