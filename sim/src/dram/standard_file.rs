//! The memory standard file format: the TOML as written (where a parameter may be given alone
//! or as its bank-group pair, and refresh fields depend on the mode), and its conversion into a
//! [`MemoryStandard`], whose fields always hold the pair and the mode's parameters.

use std::path::Path;

use serde::Deserialize;

use super::standard::{
    Clock, Energy, MemoryStandard, Organisation, Refresh, StandardError, Timing,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StandardFile {
    name: String,
    description: String,
    source: String,
    clock: Clock,
    organisation: Organisation,
    timing: TimingFile,
    refresh: RefreshFile,
    energy: Energy,
}

#[allow(non_snake_case)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingFile {
    nCL: u32,
    nCWL: u32,
    nRCD: u32,
    nRP: u32,
    nRAS: u32,
    nRC: u32,
    nFAW: u32,
    nRRD: Option<u32>,
    nRRD_S: Option<u32>,
    nRRD_L: Option<u32>,
    nCCD: Option<u32>,
    nCCD_S: Option<u32>,
    nCCD_L: Option<u32>,
    nRTP: u32,
    nWR: u32,
    nWTR: Option<u32>,
    nWTR_S: Option<u32>,
    nWTR_L: Option<u32>,
    nREFI: u32,
    nRFC: u32,
}

#[allow(non_snake_case)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshFile {
    mode: String,
    nREFIpb: Option<u32>,
    nRFCpb: Option<u32>,
    nPBR2PBR: Option<u32>,
    nPBR2ACT: Option<u32>,
    banks_per_refresh: Option<u32>,
}

/// A one-line validation error.
pub(crate) fn invalid(
    path: &Path,
    field: &'static str,
    value: impl ToString,
    expected: impl Into<String>,
) -> StandardError {
    StandardError::Invalid {
        path: path.to_owned(),
        field,
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// `single` or both of `pair`, into the pair.
fn pair(
    path: &Path,
    names: [&'static str; 3],
    single: Option<u32>,
    short: Option<u32>,
    long: Option<u32>,
) -> Result<(u32, u32), StandardError> {
    let expected = format!(
        "either `{}` or both `{}` and `{}`",
        names[0], names[1], names[2]
    );
    match (single, short, long) {
        (Some(n), None, None) => Ok((n, n)),
        (None, Some(s), Some(l)) => Ok((s, l)),
        (None, None, None) => Err(invalid(path, names[0], "missing", expected)),
        (Some(_), _, _) => Err(invalid(path, names[0], "given with its pair", expected)),
        (None, s, _) => Err(invalid(
            path,
            if s.is_some() { names[2] } else { names[1] },
            "missing",
            expected,
        )),
    }
}

impl StandardFile {
    #[allow(non_snake_case)]
    pub(crate) fn into_standard(self, path: &Path) -> Result<MemoryStandard, StandardError> {
        let t = self.timing;
        let (nRRD_S, nRRD_L) = pair(
            path,
            ["timing.nRRD", "timing.nRRD_S", "timing.nRRD_L"],
            t.nRRD,
            t.nRRD_S,
            t.nRRD_L,
        )?;
        let (nCCD_S, nCCD_L) = pair(
            path,
            ["timing.nCCD", "timing.nCCD_S", "timing.nCCD_L"],
            t.nCCD,
            t.nCCD_S,
            t.nCCD_L,
        )?;
        let (nWTR_S, nWTR_L) = pair(
            path,
            ["timing.nWTR", "timing.nWTR_S", "timing.nWTR_L"],
            t.nWTR,
            t.nWTR_S,
            t.nWTR_L,
        )?;
        let r = self.refresh;
        let refresh = match r.mode.as_str() {
            "all-bank" => {
                let extra = [
                    ("refresh.nREFIpb", r.nREFIpb),
                    ("refresh.nRFCpb", r.nRFCpb),
                    ("refresh.nPBR2PBR", r.nPBR2PBR),
                    ("refresh.nPBR2ACT", r.nPBR2ACT),
                    ("refresh.banks_per_refresh", r.banks_per_refresh),
                ];
                if let Some((field, Some(v))) = extra.into_iter().find(|(_, v)| v.is_some()) {
                    return Err(invalid(path, field, v, "absent with mode = \"all-bank\""));
                }
                Refresh::AllBank
            }
            "per-bank" => {
                let need = |field: &'static str, v: Option<u32>| {
                    v.ok_or_else(|| {
                        invalid(path, field, "missing", "a value with mode = \"per-bank\"")
                    })
                };
                Refresh::PerBank {
                    nREFIpb: need("refresh.nREFIpb", r.nREFIpb)?,
                    nRFCpb: need("refresh.nRFCpb", r.nRFCpb)?,
                    nPBR2PBR: need("refresh.nPBR2PBR", r.nPBR2PBR)?,
                    nPBR2ACT: need("refresh.nPBR2ACT", r.nPBR2ACT)?,
                    banks_per_refresh: need("refresh.banks_per_refresh", r.banks_per_refresh)?,
                }
            }
            other => {
                return Err(invalid(
                    path,
                    "refresh.mode",
                    format!("{other:?}"),
                    "\"all-bank\" or \"per-bank\"",
                ))
            }
        };
        Ok(MemoryStandard {
            name: self.name,
            description: self.description,
            source: self.source,
            clock: self.clock,
            organisation: self.organisation,
            timing: Timing {
                nCL: t.nCL,
                nCWL: t.nCWL,
                nRCD: t.nRCD,
                nRP: t.nRP,
                nRAS: t.nRAS,
                nRC: t.nRC,
                nFAW: t.nFAW,
                nRRD_S,
                nRRD_L,
                nCCD_S,
                nCCD_L,
                nRTP: t.nRTP,
                nWR: t.nWR,
                nWTR_S,
                nWTR_L,
                nREFI: t.nREFI,
                nRFC: t.nRFC,
            },
            refresh,
            energy: self.energy,
        })
    }
}
