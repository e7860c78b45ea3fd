//! The Pareto front of a sweep: the design points no other point beats on both speed and power.
//!
//! Point `a` dominates `b` when `a` is at least as fast (tok/s) and draws at most as much power,
//! and is strictly better on one of the two. The front is every point that nothing dominates;
//! two identical points are both on it. A sweep has tens of points, so the quadratic check is
//! the clearest way to write it.

/// One point: tok/s (more is better) and watts (less is better).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub tok_per_s: f64,
    pub power_w: f64,
}

/// Whether `a` dominates `b`.
pub fn dominates(a: Point, b: Point) -> bool {
    a.tok_per_s >= b.tok_per_s
        && a.power_w <= b.power_w
        && (a.tok_per_s > b.tok_per_s || a.power_w < b.power_w)
}

/// For each point, whether it is on the front.
pub fn front(points: &[Point]) -> Vec<bool> {
    points
        .iter()
        .map(|&p| !points.iter().any(|&q| dominates(q, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tok_per_s: f64, power_w: f64) -> Point {
        Point { tok_per_s, power_w }
    }

    #[test]
    fn the_front_keeps_exactly_the_undominated_points() {
        let points = [
            p(10.0, 1.0), // front: cheapest
            p(20.0, 2.0), // front
            p(15.0, 2.5), // dominated by (20, 2)
            p(30.0, 5.0), // front: fastest
            p(30.0, 6.0), // dominated by (30, 5): as fast, more power
            p(20.0, 2.0), // a twin of a front point: on the front too
            p(5.0, 1.0),  // dominated by (10, 1): as cheap, slower
        ];
        assert_eq!(
            front(&points),
            [true, true, false, true, false, true, false]
        );
        assert!(front(&[]).is_empty());
        assert_eq!(front(&[p(1.0, 1.0)]), [true]);
    }
}
