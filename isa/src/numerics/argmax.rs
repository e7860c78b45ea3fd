//! Argmax over logits (greedy decoding), with a defined tie rule.
//!
//! Ties go to the **lowest index**. That is what `torch.argmax` documents ("If there are
//! multiple maximal values then the indices of the first maximal value are returned",
//! <https://docs.pytorch.org/docs/stable/generated/torch.argmax.html>), and it is what Hugging
//! Face's greedy decoding (`torch.argmax` over the last logits) therefore picks, so
//! a tie between two equal quantised logits resolves the same way in every backend and in the
//! float reference. In hardware it is a strict `>` comparison while scanning upwards (a later
//! equal value never replaces the current best), so a streamed, chunked scan keeps the rule as
//! long as chunks are combined in index order with the same strict comparison.

use super::error::NumericsError;

/// The index of the largest lane, the lowest such index on ties. Empty input is an error.
pub fn argmax(logits: &[i32]) -> Result<usize, NumericsError> {
    let (mut best, mut best_v) = (
        0usize,
        *logits
            .first()
            .ok_or(NumericsError::Empty { what: "argmax" })?,
    );
    for (i, &v) in logits.iter().enumerate().skip(1) {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    Ok(best)
}

/// Combine the `(index, value)` winners of consecutive chunks (in index order): the hardware's
/// reduction across vector-unit passes over a vocabulary larger than one pass.
pub fn argmax_combine(a: (usize, i32), b: (usize, i32)) -> (usize, i32) {
    // Strict comparison: the lower index wins a tie regardless of argument order.
    if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ties_go_to_the_lowest_index() {
        assert_eq!(argmax(&[1, 3, 3, 2]), Ok(1));
        assert_eq!(argmax(&[-i32::MAX, -i32::MAX]), Ok(0));
        assert_eq!(argmax(&[5]), Ok(0));
        assert_eq!(argmax(&[0, 0, 0, 9]), Ok(3));
        assert!(matches!(argmax(&[]), Err(NumericsError::Empty { .. })));
        assert_eq!(argmax_combine((4, 7), (2, 7)), (2, 7));
        assert_eq!(argmax_combine((2, 7), (4, 7)), (2, 7));
    }

    proptest! {
        #[test]
        fn chunked_scan_equals_full_scan(v in prop::collection::vec(-3i32..3, 1..200), chunk in 1usize..50) {
            let full = argmax(&v).unwrap();
            let mut acc: Option<(usize, i32)> = None;
            for (c, part) in v.chunks(chunk).enumerate() {
                let i = argmax(part).unwrap();
                let w = (c * chunk + i, part[i]);
                acc = Some(acc.map_or(w, |a| argmax_combine(a, w)));
            }
            prop_assert_eq!(acc.map(|a| a.0), Some(full));
            prop_assert!(v.iter().all(|&x| x <= v[full]));
            prop_assert!(v[..full].iter().all(|&x| x < v[full]));
        }
    }
}
