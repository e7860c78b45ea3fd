//! `Checked`: two devices in lockstep on the same columns, their logits compared exactly.
//!
//! It is itself a [`Device`], so a [`crate::Session`] over a `Checked` pair runs a whole
//! generation with every step checked; the first step whose logits differ (integer equality,
//! lane for lane) is an error naming the step, the column, its position, the first differing
//! index with both values, and how many indices differ.

use crate::device::{Column, Device, Limits, StepOutput};
use crate::error::{Mismatch, MismatchKind, RuntimeError};

/// Devices `a` and `b` run together.
pub struct Checked<A: Device, B: Device> {
    a: A,
    b: B,
    step: usize,
}

impl<A: Device, B: Device> Checked<A, B> {
    /// Pair two devices that describe the same machine (vocabulary, columns, context, slots).
    pub fn new(a: A, b: B) -> Result<Self, RuntimeError> {
        for (what, x, y) in [
            ("vocabulary sizes", a.vocab_size(), b.vocab_size()),
            ("max columns", a.max_columns(), b.max_columns()),
            ("contexts", a.context(), b.context()),
            ("slot counts", a.slots(), b.slots()),
        ] {
            if x != y {
                return Err(RuntimeError::Incompatible {
                    what,
                    a: a.name(),
                    x,
                    b: b.name(),
                    y,
                });
            }
        }
        Ok(Checked { a, b, step: 0 })
    }

    pub fn a(&self) -> &A {
        &self.a
    }

    pub fn b(&self) -> &B {
        &self.b
    }

    /// Steps checked so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    pub fn into_inner(self) -> (A, B) {
        (self.a, self.b)
    }

    /// The first disagreement between the two outputs of the current step, if any.
    fn compare(
        &self,
        columns: &[Column],
        x: &StepOutput,
        y: &StepOutput,
    ) -> Result<(), RuntimeError> {
        let fail = |column: usize, kind| {
            RuntimeError::Mismatch(Box::new(Mismatch {
                step: self.step,
                column,
                pos: columns.get(column).map_or(0, |c| c.pos),
                a: self.a.name(),
                b: self.b.name(),
                kind,
            }))
        };
        let output = |what, x: String, y: String| MismatchKind::Output { what, x, y };
        if x.logits.len() != y.logits.len() || x.next.len() != y.next.len() {
            return Err(fail(
                0,
                output(
                    "column counts",
                    format!("{} rows, {} tokens", x.logits.len(), x.next.len()),
                    format!("{} rows, {} tokens", y.logits.len(), y.next.len()),
                ),
            ));
        }
        for (column, (lx, ly)) in x.logits.iter().zip(&y.logits).enumerate() {
            if lx.len() != ly.len() {
                return Err(fail(
                    column,
                    output("logits lengths", lx.len().to_string(), ly.len().to_string()),
                ));
            }
            let mut diff = lx.iter().zip(ly).enumerate().filter(|(_, (p, q))| p != q);
            if let Some((index, (&vx, &vy))) = diff.next() {
                return Err(fail(
                    column,
                    MismatchKind::Logits {
                        index,
                        x: vx,
                        y: vy,
                        differing: 1 + diff.count(),
                        len: lx.len(),
                    },
                ));
            }
            if x.next[column] != y.next[column] {
                return Err(fail(
                    column,
                    output(
                        "next tokens",
                        x.next[column].to_string(),
                        y.next[column].to_string(),
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl<A: Device, B: Device> Device for Checked<A, B> {
    fn name(&self) -> String {
        format!("{} checked against {}", self.a.name(), self.b.name())
    }

    fn limits(&self) -> Limits {
        self.a.limits()
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let x = self.a.step(columns)?;
        let y = self.b.step(columns)?;
        self.compare(columns, &x, &y)?;
        self.step += 1;
        Ok(x)
    }

    fn reset(&mut self) {
        self.a.reset();
        self.b.reset();
        self.step = 0;
    }
}
