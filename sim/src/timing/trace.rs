//! The Chrome / Perfetto trace-event timeline of a timed step (`--trace FILE.json`; open it at
//! ui.perfetto.dev or chrome://tracing).
//!
//! Process 1 is the accelerator: one track per unit with a span per executed instruction, named
//! by its mnemonic, with its full text, index and the program section (the compiler's label) as
//! arguments; beside each unit a track of its stalls, named by cause; the weight stream's
//! streaming and FIFO-full spans; a counter of the weight FIFO's bytes (reserved by requests in
//! flight or landed, and landed waiting for the engine). Process 2 is the
//! DRAM: one track per channel, showing when requests of each kind (weights, KV cache,
//! parameters, output) were in flight on it (overlapping requests of one kind are merged into one
//! span). Times are microseconds at the configured core clock.

use std::io::{self, Write};

use tokenfab_isa::instr::Instr;
use tokenfab_isa::program::Label;

use crate::stats::Traffic;

use super::activity::{Stall, Track, TRACKS};
use super::{Clocks, Timeline};

/// A merged DRAM span: its name, first and last cycle.
type Span = (&'static str, u64, u64);

/// What the trace needs besides the timeline.
pub struct TraceContext<'a> {
    pub name: &'a str,
    pub instrs: &'a [Instr],
    pub labels: &'a [Label],
    pub clocks: Clocks,
    pub channels: u64,
    pub interleave_bytes: u64,
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

fn traffic_name(t: Traffic, write: bool) -> &'static str {
    match (t, write) {
        (Traffic::Weights, _) => "weights",
        (Traffic::Params, _) => "parameters",
        (Traffic::Kv, false) => "KV read",
        (Traffic::Kv, true) => "KV write",
        (Traffic::Output, _) => "output",
    }
}

/// The channels a request touches (all of them once it spans a whole stripe).
fn channels_of(addr: u64, bytes: u64, channels: u64, interleave: u64) -> Vec<u64> {
    let first = addr / interleave;
    let last = (addr + bytes.max(1) - 1) / interleave;
    if last - first + 1 >= channels {
        return (0..channels).collect();
    }
    let mut v: Vec<u64> = (first..=last).map(|b| b % channels).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Write the trace of `t` as JSON.
pub fn write(out: &mut dyn Write, t: &Timeline, cx: &TraceContext<'_>) -> io::Result<()> {
    let us = |c: u64| c as f64 * 1e6 / cx.clocks.core_hz as f64;
    let mut first = true;
    let mut ev = |out: &mut dyn Write, s: String| -> io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        out.write_all(s.as_bytes())
    };
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    ev(
        out,
        format!(
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{{\"name\":\"accelerator {}\"}}}}",
            escape(cx.name)
        ),
    )?;
    ev(
        out,
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{\"name\":\"DRAM\"}}".into(),
    )?;
    for track in TRACKS {
        let tid = 2 * track.index() + 1;
        ev(out, format!("{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":\"{}\"}}}}", track.name()))?;
        ev(out, format!("{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":\"{} stalls\"}}}}", tid + 1, track.name()))?;
    }
    for ch in 0..cx.channels {
        ev(out, format!("{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":2,\"tid\":{ch},\"args\":{{\"name\":\"channel {ch}\"}}}}"))?;
    }
    let section = |index: usize| {
        cx.labels
            .iter()
            .take_while(|l| l.index as usize <= index)
            .last()
            .map_or("", |l| l.text.as_str())
    };
    for s in &t.instrs {
        let instr = &cx.instrs[s.index];
        ev(
            out,
            format!(
                "{{\"name\":\"{}\",\"cat\":\"instr\",\"ph\":\"X\",\"ts\":{:.4},\"dur\":{:.4},\"pid\":1,\"tid\":{},\"args\":{{\"index\":{},\"instr\":\"{}\",\"section\":\"{}\"}}}}",
                instr.spec().mnemonic,
                us(s.start),
                us(s.end - s.start),
                2 * s.track.index() + 1,
                s.index,
                escape(&instr.to_string()),
                escape(section(s.index))
            ),
        )?;
    }
    for s in &t.stalls {
        let (name, tid) = match (s.track, s.stall) {
            (Track::Stream, None) => ("streaming".to_owned(), 2 * s.track.index() + 1),
            (Track::Stream, Some(Stall::FifoFull)) => {
                ("weight FIFO full".to_owned(), 2 * s.track.index() + 1)
            }
            (track, Some(stall)) => (stall.to_string(), 2 * track.index() + 2),
            (track, None) => ("busy".to_owned(), 2 * track.index() + 2),
        };
        ev(
            out,
            format!(
                "{{\"name\":\"{}\",\"cat\":\"stall\",\"ph\":\"X\",\"ts\":{:.4},\"dur\":{:.4},\"pid\":1,\"tid\":{tid}}}",
                escape(&name),
                us(s.start),
                us(s.end - s.start)
            ),
        )?;
    }
    for &(cycle, reserved, landed) in &t.fifo {
        ev(
            out,
            format!(
                "{{\"name\":\"weight FIFO\",\"ph\":\"C\",\"ts\":{:.4},\"pid\":1,\"args\":{{\"reserved\":{reserved},\"landed\":{landed}}}}}",
                us(cycle)
            ),
        )?;
    }
    // DRAM channels: merge the in-flight intervals of each kind of request per channel.
    let mut open: Vec<[Option<Span>; 5]> = vec![[None; 5]; cx.channels as usize];
    let kind = |t: Traffic, w: bool| match (t, w) {
        (Traffic::Weights, _) => 0,
        (Traffic::Params, _) => 1,
        (Traffic::Kv, false) => 2,
        (Traffic::Kv, true) => 3,
        (Traffic::Output, _) => 4,
    };
    let mut requests: Vec<_> = t.requests.iter().collect();
    requests.sort_by_key(|r| r.submitted);
    let mut spans = Vec::new();
    for r in requests {
        let k = kind(r.traffic, r.write);
        for ch in channels_of(r.addr, r.bytes, cx.channels, cx.interleave_bytes) {
            let slot = &mut open[ch as usize][k];
            match slot {
                Some((_, _, end)) if r.submitted <= *end => *end = (*end).max(r.completed),
                _ => {
                    if let Some(s) = slot.take() {
                        spans.push((ch, s));
                    }
                    *slot = Some((traffic_name(r.traffic, r.write), r.submitted, r.completed));
                }
            }
        }
    }
    for (ch, slots) in open.into_iter().enumerate() {
        spans.extend(slots.into_iter().flatten().map(|s| (ch as u64, s)));
    }
    for (ch, (name, start, end)) in spans {
        ev(
            out,
            format!(
                "{{\"name\":\"{name}\",\"cat\":\"dram\",\"ph\":\"X\",\"ts\":{:.4},\"dur\":{:.4},\"pid\":2,\"tid\":{ch}}}",
                us(start),
                us(end.saturating_sub(start))
            ),
        )?;
    }
    out.write_all(b"\n]}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_the_channels_they_touch() {
        assert_eq!(channels_of(0, 256, 8, 256), vec![0]);
        assert_eq!(channels_of(200, 100, 8, 256), vec![0, 1]);
        assert_eq!(channels_of(7 * 256, 512, 8, 256), vec![0, 7]);
        assert_eq!(channels_of(0, 8 * 256, 8, 256), (0..8).collect::<Vec<_>>());
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }
}
