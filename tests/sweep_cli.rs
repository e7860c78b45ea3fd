//! End-to-end: `tokenfab sweep` on a 2 x 2 x 2 design space of a small shape writes one CSV row
//! per design point and a well-formed SVG chart whose ringed points are exactly the points no
//! other point dominates (computed here independently, from the CSV's figures).

mod common;

use std::collections::BTreeSet;

use common::{fails, ok};

/// The CSV as (header, rows of fields).
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The front as this test defines it, without pairwise dominance: a point is on it when it is the
/// fastest of the points drawing at most its power and the cheapest of those at least as fast.
fn front_by_budget(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(tok, watts)| {
            let fastest = points
                .iter()
                .filter(|p| p.1 <= watts)
                .map(|p| p.0)
                .fold(f64::NEG_INFINITY, f64::max);
            let cheapest = points
                .iter()
                .filter(|p| p.0 >= tok)
                .map(|p| p.1)
                .fold(f64::INFINITY, f64::min);
            fastest == tok && cheapest == watts
        })
        .collect()
}

/// The value of `name="..."` in a tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Checks that `svg` is well-formed XML (declaration, comments, balanced elements, quoted
/// attributes, one root `svg`) and returns every start tag.
fn well_formed_tags(svg: &str) -> Vec<String> {
    let mut rest = svg;
    let mut stack: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        assert!(!text.contains('>'), "stray '>' in text: {text:?}");
        if stack.is_empty() {
            assert!(text.trim().is_empty(), "text outside the root: {text:?}");
        }
        rest = &rest[open..];
        let (body, after) = if rest.starts_with("<!--") {
            let end = rest.find("-->").expect("an unterminated comment");
            assert!(!rest[4..end].contains("--"), "'--' inside a comment");
            (None, &rest[end + 3..])
        } else if rest.starts_with("<?") {
            let end = rest.find("?>").expect("an unterminated declaration");
            (None, &rest[end + 2..])
        } else {
            let end = rest.find('>').expect("an unterminated tag");
            (Some(&rest[1..end]), &rest[end + 1..])
        };
        rest = after;
        let Some(body) = body else { continue };
        assert_eq!(
            body.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{body}>"
        );
        if let Some(name) = body.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
            continue;
        }
        let name = body
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad element name in <{body}>"
        );
        if stack.is_empty() {
            roots += 1;
            assert_eq!(name, "svg", "the root element");
        }
        tags.push(format!("<{body}>"));
        if !body.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(rest.trim().is_empty(), "trailing text: {rest:?}");
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
    tags
}

#[test]
fn a_small_sweep_writes_every_point_and_charts_exactly_the_undominated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let stdout = ok(&[
        "sweep",
        "--out-dir",
        out.to_str().unwrap(),
        "--shape",
        "tiny",
        "--weights",
        "int8",
        "--context",
        "32",
        "--config",
        "tiny",
        "--rows",
        "4,8",
        "--clock",
        "1e8,2e8",
        "--memory",
        "sdr-sdram,lpddr5x:1",
    ]);
    assert!(stdout.contains("Pareto front"), "{stdout}");

    let (header, rows) = read_csv(&std::fs::read_to_string(out.join("sweep.csv")).unwrap());
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    for name in [
        "config",
        "rows",
        "clock_hz",
        "memory",
        "channels",
        "tok_per_s",
        "tpot_s",
        "mbu",
        "joules_per_token",
        "power_w",
        "dram_bytes_per_token",
        "limit_tpot_s",
        "limit_joules_per_token",
        "pareto",
    ] {
        col(name);
    }
    assert_eq!(rows.len(), 8, "one row per design point");
    let num = |r: &Vec<String>, name: &str| -> f64 { r[col(name)].parse().unwrap() };
    let points: BTreeSet<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len());
            (
                r[col("rows")].clone(),
                r[col("clock_hz")].clone(),
                r[col("memory")].clone(),
                r[col("channels")].clone(),
            )
        })
        .collect();
    let mut expected = BTreeSet::new();
    for rows in ["4", "8"] {
        for clock in ["100000000", "200000000"] {
            for memory in ["sdr-sdram", "lpddr5x"] {
                expected.insert((rows.into(), clock.into(), memory.into(), "1".into()));
            }
        }
    }
    assert_eq!(points, expected, "the cartesian product of the axes");
    for r in &rows {
        let (tok, tpot) = (num(r, "tok_per_s"), num(r, "tpot_s"));
        assert!((tok * tpot - 1.0).abs() < 1e-9, "tok/s is 1 / TPOT");
        assert!(tpot >= num(r, "limit_tpot_s"), "TPOT at or above its limit");
        assert!(num(r, "mbu") > 0.0 && num(r, "mbu") <= 1.0);
        let watts = num(r, "joules_per_token") * tok;
        assert!(
            (num(r, "power_w") / watts - 1.0).abs() < 1e-9,
            "power = J/token x tok/s"
        );
        assert!(num(r, "joules_per_token") >= num(r, "limit_joules_per_token"));
    }

    let figures: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (num(r, "tok_per_s"), num(r, "power_w")))
        .collect();
    let front = front_by_budget(&figures);
    assert!(front.iter().any(|&f| f) && !front.iter().all(|&f| f));
    let front_configs: BTreeSet<String> = rows
        .iter()
        .zip(&front)
        .filter(|(_, &f)| f)
        .map(|(r, _)| r[col("config")].clone())
        .collect();
    for (r, &f) in rows.iter().zip(&front) {
        assert_eq!(r[col("pareto")], f.to_string(), "the CSV's pareto column");
    }

    let svg = std::fs::read_to_string(out.join("sweep.svg")).unwrap();
    let tags = well_formed_tags(&svg);
    let circles: Vec<&String> = tags
        .iter()
        .filter(|t| {
            t.starts_with("<circle") && attr(t, "class").is_some_and(|c| c.starts_with("point"))
        })
        .collect();
    assert_eq!(circles.len(), 8, "one point per design point");
    let charted: BTreeSet<String> = circles
        .iter()
        .filter(|t| attr(t, "class") == Some("point pareto"))
        .map(|t| attr(t, "data-config").unwrap().to_owned())
        .collect();
    assert_eq!(charted, front_configs, "the chart's Pareto points");
    // The charted figures are the CSV's, exactly.
    for t in &circles {
        let config = attr(t, "data-config").unwrap();
        let r = rows.iter().find(|r| r[col("config")] == config).unwrap();
        assert_eq!(attr(t, "data-tok-per-s").unwrap(), r[col("tok_per_s")]);
        assert_eq!(attr(t, "data-power-w").unwrap(), r[col("power_w")]);
    }
    let line = tags
        .iter()
        .find(|t| attr(t, "class") == Some("front"))
        .expect("the front's line");
    assert_eq!(
        attr(line, "points").unwrap().split_whitespace().count(),
        front_configs.len()
    );
    for legend in ["sdr-sdram x1", "lpddr5x x1", "Pareto front"] {
        assert!(svg.contains(legend), "legend entry {legend}");
    }
    // Deterministic: the same sweep writes the same bytes.
    let again = dir.path().join("again");
    ok(&[
        "sweep",
        "--out-dir",
        again.to_str().unwrap(),
        "--shape",
        "tiny",
        "--weights",
        "int8",
        "--context",
        "32",
        "--config",
        "tiny",
        "--rows",
        "4,8",
        "--clock",
        "1e8,2e8",
        "--memory",
        "sdr-sdram,lpddr5x:1",
    ]);
    assert_eq!(
        std::fs::read_to_string(again.join("sweep.svg")).unwrap(),
        svg
    );
}

#[test]
fn bad_axes_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let e = fails(&[
        "sweep",
        "--out-dir",
        d,
        "--shape",
        "tiny",
        "--memory",
        "hbm9",
    ]);
    assert!(e.contains("hbm9"), "{e}");
    let e = fails(&["sweep", "--out-dir", d, "--shape", "tiny", "--rows", "0,4"]);
    assert!(e.contains("--rows"), "{e}");
    let e = fails(&[
        "sweep",
        "--out-dir",
        d,
        "--shape",
        "tiny",
        "--clock",
        "fast",
    ]);
    assert!(e.contains("--clock"), "{e}");
    let e = fails(&["sweep", "--out-dir", d, "--shape", "no-such-shape"]);
    assert!(e.contains("no-such-shape"), "{e}");
    let e = fails(&[
        "sweep",
        "--out-dir",
        d,
        "--shape",
        "tiny",
        "--memory",
        "lpddr5x:999",
    ]);
    assert!(e.contains("999"), "{e}");
}
