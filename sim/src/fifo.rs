//! The weight FIFO: the byte streams `WFETCH` queues and `MATMUL` consumes, in order.
//!
//! Functionally the FIFO is a queue of DRAM ranges (descriptors) read as one byte stream: a
//! `MATMUL` pops exactly the bytes of its matrix, which may span descriptors or end inside one
//! (a compiler may fetch several consecutive matrices with one `WFETCH`). The configured
//! capacity bounds only how far the DMA runs ahead, which is timing (issue 4): the functional
//! result is the same whatever the capacity, so it is not enforced here.

use std::collections::VecDeque;

/// One queued range of DRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub addr: u64,
    pub bytes: u64,
}

/// The weight FIFO.
#[derive(Clone, Debug, Default)]
pub struct WeightFifo {
    queue: VecDeque<Descriptor>,
    held: u64,
}

impl WeightFifo {
    /// Append a stream (a zero-length stream is a no-op).
    pub fn push(&mut self, d: Descriptor) {
        if d.bytes > 0 {
            self.held += d.bytes;
            self.queue.push_back(d);
        }
    }

    /// Bytes queued and not yet consumed.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Take exactly `n` bytes off the front, as the DRAM ranges they come from; `None` (and
    /// nothing taken) when fewer are held.
    pub fn pop(&mut self, n: u64) -> Option<Vec<Descriptor>> {
        if n > self.held {
            return None;
        }
        let mut out = Vec::new();
        let mut left = n;
        while left > 0 {
            let front = self
                .queue
                .front_mut()
                .expect("held counts the queued bytes");
            let take = front.bytes.min(left);
            out.push(Descriptor {
                addr: front.addr,
                bytes: take,
            });
            front.addr += take;
            front.bytes -= take;
            if front.bytes == 0 {
                self.queue.pop_front();
            }
            left -= take;
        }
        self.held -= n;
        Some(out)
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_span_and_split_descriptors() {
        let mut f = WeightFifo::default();
        f.push(Descriptor {
            addr: 100,
            bytes: 10,
        });
        f.push(Descriptor { addr: 0, bytes: 0 });
        f.push(Descriptor {
            addr: 500,
            bytes: 4,
        });
        assert_eq!(f.held(), 14);
        assert_eq!(
            f.pop(4).unwrap(),
            vec![Descriptor {
                addr: 100,
                bytes: 4
            }]
        );
        assert_eq!(
            f.pop(8).unwrap(),
            vec![
                Descriptor {
                    addr: 104,
                    bytes: 6
                },
                Descriptor {
                    addr: 500,
                    bytes: 2
                }
            ]
        );
        assert_eq!(f.pop(3), None);
        assert_eq!(f.held(), 2);
        assert_eq!(
            f.pop(2).unwrap(),
            vec![Descriptor {
                addr: 502,
                bytes: 2
            }]
        );
        assert_eq!(f.pop(0).unwrap(), vec![]);
    }
}
