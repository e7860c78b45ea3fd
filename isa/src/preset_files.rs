//! Finding preset files: the one lookup `AccelConfig` and the simulator's memory standards share.
//!
//! A preset is `<dir>/<name>.toml`; a name that is itself a path to a `.toml` file is that file.
//! The directory is `$TOKENFAB_CONFIGS[/<sub>]`, else the repository's `configs[/<sub>]`.

use std::path::{Path, PathBuf};

/// The preset directory for `sub` (`""` for accelerator presets, `"memory"` for DRAM standards).
pub fn dir(sub: &str) -> PathBuf {
    let base = std::env::var_os("TOKENFAB_CONFIGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs"));
    if sub.is_empty() {
        base
    } else {
        base.join(sub)
    }
}

/// The names of the `.toml` files in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// A preset that does not exist: the directory searched and the names it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub dir: PathBuf,
    pub available: String,
}

/// The file of preset `name` in `dir`, or `name` itself when it is a path to a `.toml` file.
pub fn locate(dir: &Path, name: &str) -> Result<PathBuf, Missing> {
    let as_path = Path::new(name);
    if as_path.extension().is_some_and(|e| e == "toml") && as_path.is_file() {
        return Ok(as_path.to_owned());
    }
    let path = dir.join(format!("{name}.toml"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Missing {
            dir: dir.to_owned(),
            available: names(dir).join(", "),
        })
    }
}

/// " (line L, column C)" for a TOML parse error's span.
pub fn span_note(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(" (line {line}, column {col})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_name_line_and_column() {
        assert_eq!(
            span_note("a = 1\nbb = x", Some(11..12)),
            " (line 2, column 6)"
        );
        assert_eq!(span_note("x", None), "");
    }

    #[test]
    fn a_missing_preset_lists_what_is_there() {
        let e = locate(&dir(""), "no-such-preset").unwrap_err();
        assert!(e.available.split(", ").any(|n| n == "tiny"), "{e:?}");
    }
}
