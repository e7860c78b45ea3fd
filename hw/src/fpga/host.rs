//! The host-protocol engine: parses request frames from the UART receiver, executes them on the
//! CSR bus or the memory port, and sends the reply frames through the UART transmitter. The
//! protocol (framing, commands, checksums, error replies) is `docs/host-protocol.md`; the
//! constants here are named after it and [`crate::fpga::protocol`] holds the same numbers for the
//! host side.
//!
//! A memory block (1..=128 beats of 8 bytes) goes through a 128 x 64-bit buffer (one block RAM):
//! a WRITE_MEM block is received and its checksum checked before one burst write request is made,
//! so a corrupted frame never reaches memory; a READ_MEM block is read with one burst read request
//! into the buffer (the requester must always accept read data, and the UART is far slower than
//! the SDRAM), then sent.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use rust_hdl_widgets::ramrom::ram::RAM;

use crate::fpga::protocol as p;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
enum State {
    Hunt,
    Cmd,
    Header,
    Data,
    Check,
    Exec,
    MemReq,
    MemWrite,
    MemRead,
    RespSync,
    RespStatus,
    RespLoad,
    RespBytes,
    RespCheck,
}

/// The engine.
#[derive(LogicBlock)]
pub struct HostEngine {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // From the UART receiver.
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    // To the UART transmitter.
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    // The CSR bus (the engine is its master).
    pub csr_addr: Signal<Out, Bits<8>>,
    pub csr_write: Signal<Out, Bit>,
    pub csr_wdata: Signal<Out, Bits<32>>,
    pub csr_rdata: Signal<In, Bits<32>>,
    // The memory port (the engine is a requester).
    pub mem_req_valid: Signal<Out, Bit>,
    pub mem_req_ready: Signal<In, Bit>,
    pub mem_req_write: Signal<Out, Bit>,
    pub mem_req_addr: Signal<Out, Bits<32>>,
    pub mem_req_beats: Signal<Out, Bits<8>>,
    pub mem_wvalid: Signal<Out, Bit>,
    pub mem_wready: Signal<In, Bit>,
    pub mem_wdata: Signal<Out, Bits<64>>,
    pub mem_wstrb: Signal<Out, Bits<8>>,
    pub mem_rvalid: Signal<In, Bit>,
    pub mem_rdata: Signal<In, Bits<64>>,
    /// A frame is being handled (for an LED).
    pub busy: Signal<Out, Bit>,
    block_ram: RAM<Bits<64>, 7>,
    sync_in: Constant<Bits<8>>,
    sync_out: Constant<Bits<8>>,
    cmd_ping: Constant<Bits<8>>,
    cmd_write_reg: Constant<Bits<8>>,
    cmd_read_reg: Constant<Bits<8>>,
    cmd_write_mem: Constant<Bits<8>>,
    cmd_read_mem: Constant<Bits<8>>,
    st_bad_check: Constant<Bits<8>>,
    st_bad_cmd: Constant<Bits<8>>,
    st_bad_arg: Constant<Bits<8>>,
    ping_value: Constant<Bits<32>>,
    quiet_limit: Constant<Bits<24>>,
    asm_next: Signal<Local, Bits<64>>,
    args_ok: Signal<Local, Bit>,
    wfire: Signal<Local, Bit>,
    ri_next: Signal<Local, Bits<8>>,
    /// The running checksum with the byte received now (8 bits: a Verilog `a + b == 0` would
    /// compare at 32 bits).
    sum_next: Signal<Local, Bits<8>>,
    state: DFF<State>,
    cmd: DFF<Bits<8>>,
    sum: DFF<Bits<8>>,
    hdr: DFF<Bits<40>>,
    hdr_left: DFF<Bits<3>>,
    asm: DFF<Bits<64>>,
    byte_in_beat: DFF<Bits<3>>,
    wi: DFF<Bits<8>>,
    ri: DFF<Bits<8>>,
    beats: DFF<Bits<8>>,
    status: DFF<Bits<8>>,
    out_sh: DFF<Bits<64>>,
    out_left: DFF<Bits<4>>,
    resp_mem: DFF<Bit>,
    load_wait: DFF<Bit>,
    csr_addr_q: DFF<Bits<8>>,
    csr_wdata_q: DFF<Bits<32>>,
    csr_write_q: DFF<Bit>,
    quiet: DFF<Bits<24>>,
}

impl Default for HostEngine {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            csr_addr: Default::default(),
            csr_write: Default::default(),
            csr_wdata: Default::default(),
            csr_rdata: Default::default(),
            mem_req_valid: Default::default(),
            mem_req_ready: Default::default(),
            mem_req_write: Default::default(),
            mem_req_addr: Default::default(),
            mem_req_beats: Default::default(),
            mem_wvalid: Default::default(),
            mem_wready: Default::default(),
            mem_wdata: Default::default(),
            mem_wstrb: Default::default(),
            mem_rvalid: Default::default(),
            mem_rdata: Default::default(),
            busy: Default::default(),
            block_ram: Default::default(),
            sync_in: Constant::new(u64::from(p::SYNC_REQUEST).to_bits()),
            sync_out: Constant::new(u64::from(p::SYNC_REPLY).to_bits()),
            cmd_ping: Constant::new(u64::from(p::CMD_PING).to_bits()),
            cmd_write_reg: Constant::new(u64::from(p::CMD_WRITE_REG).to_bits()),
            cmd_read_reg: Constant::new(u64::from(p::CMD_READ_REG).to_bits()),
            cmd_write_mem: Constant::new(u64::from(p::CMD_WRITE_MEM).to_bits()),
            cmd_read_mem: Constant::new(u64::from(p::CMD_READ_MEM).to_bits()),
            st_bad_check: Constant::new(u64::from(p::STATUS_BAD_CHECKSUM).to_bits()),
            st_bad_cmd: Constant::new(u64::from(p::STATUS_UNKNOWN_COMMAND).to_bits()),
            st_bad_arg: Constant::new(u64::from(p::STATUS_BAD_ARGUMENT).to_bits()),
            ping_value: Constant::new(u64::from(p::PING_VALUE).to_bits()),
            quiet_limit: Constant::new(0xFF_FFFF_u64.to_bits()),
            asm_next: Default::default(),
            args_ok: Default::default(),
            wfire: Default::default(),
            ri_next: Default::default(),
            sum_next: Default::default(),
            state: Default::default(),
            cmd: Default::default(),
            sum: Default::default(),
            hdr: Default::default(),
            hdr_left: Default::default(),
            asm: Default::default(),
            byte_in_beat: Default::default(),
            wi: Default::default(),
            ri: Default::default(),
            beats: Default::default(),
            status: Default::default(),
            out_sh: Default::default(),
            out_left: Default::default(),
            resp_mem: Default::default(),
            load_wait: Default::default(),
            csr_addr_q: Default::default(),
            csr_wdata_q: Default::default(),
            csr_write_q: Default::default(),
            quiet: Default::default(),
        }
    }
}

impl Logic for HostEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            cmd,
            sum,
            hdr,
            hdr_left,
            asm,
            byte_in_beat,
            wi,
            ri,
            beats,
            status,
            out_sh,
            out_left,
            resp_mem,
            load_wait,
            csr_addr_q,
            csr_wdata_q,
            csr_write_q,
            quiet
        );
        self.block_ram.read_clock.next = self.clock.val();
        self.block_ram.write_clock.next = self.clock.val();
        // The CSR bus, registered.
        self.csr_addr.next = self.csr_addr_q.q.val();
        self.csr_wdata.next = self.csr_wdata_q.q.val();
        self.csr_write.next = self.csr_write_q.q.val();
        self.csr_write_q.d.next = false;
        // Defaults.
        self.tx_valid.next = false;
        self.tx_data.next = 0.into();
        self.mem_req_valid.next = false;
        self.mem_req_write.next = self.cmd.q.val() == self.cmd_write_mem.val();
        self.mem_req_addr.next = self.hdr.q.val().get_bits::<32>(0);
        self.mem_req_beats.next = self.beats.q.val();
        self.mem_wvalid.next = false;
        self.mem_wdata.next = self.block_ram.read_data.val();
        self.mem_wstrb.next = 0xFF.into();
        self.busy.next = self.state.q.val() != State::Hunt;
        self.asm_next.next =
            (self.asm.q.val() >> 8) | (bit_cast::<64, 8>(self.rx_data.val()) << 56);
        // A memory block: 1..=128 beats at an 8-byte aligned address.
        self.args_ok.next = (self.hdr.q.val().get_bits::<3>(0) == 0)
            & (self.hdr.q.val().get_bits::<8>(32) != 0)
            & (self.hdr.q.val().get_bits::<8>(32) <= 128);
        self.wfire.next = false;
        self.ri_next.next = self.ri.q.val() + 1;
        self.sum_next.next = self.sum.q.val() + self.rx_data.val();
        self.block_ram.read_address.next = self.ri.q.val().get_bits::<7>(0);
        self.block_ram.write_address.next = self.wi.q.val().get_bits::<7>(0);
        self.block_ram.write_data.next = self.asm_next.val();
        self.block_ram.write_enable.next = false;
        // A frame that goes quiet mid-way is dropped.
        if self.rx_valid.val() {
            self.quiet.d.next = 0.into();
        } else if self.quiet.q.val() != self.quiet_limit.val() {
            self.quiet.d.next = self.quiet.q.val() + 1;
        }
        match self.state.q.val() {
            State::Hunt => {
                if self.rx_valid.val() & (self.rx_data.val() == self.sync_in.val()) {
                    self.state.d.next = State::Cmd;
                }
            }
            State::Cmd => {
                if self.rx_valid.val() {
                    self.cmd.d.next = self.rx_data.val();
                    self.sum.d.next = self.rx_data.val();
                    self.hdr.d.next = 0.into();
                    self.state.d.next = State::Header;
                    if self.rx_data.val() == self.cmd_ping.val() {
                        self.state.d.next = State::Check;
                    } else if self.rx_data.val() == self.cmd_write_reg.val() {
                        self.hdr_left.d.next = 5.into();
                    } else if self.rx_data.val() == self.cmd_read_reg.val() {
                        self.hdr_left.d.next = 1.into();
                    } else if (self.rx_data.val() == self.cmd_write_mem.val())
                        | (self.rx_data.val() == self.cmd_read_mem.val())
                    {
                        self.hdr_left.d.next = 5.into();
                    } else {
                        self.status.d.next = self.st_bad_cmd.val();
                        self.resp_mem.d.next = false;
                        self.out_left.d.next = 0.into();
                        self.state.d.next = State::RespSync;
                    }
                }
            }
            State::Header => {
                if self.rx_valid.val() {
                    self.sum.d.next = self.sum.q.val() + self.rx_data.val();
                    self.hdr.d.next =
                        (self.hdr.q.val() >> 8) | (bit_cast::<40, 8>(self.rx_data.val()) << 32);
                    self.hdr_left.d.next = self.hdr_left.q.val() - 1;
                    if self.hdr_left.q.val() == 1 {
                        self.state.d.next = State::Check;
                        if self.cmd.q.val() == self.cmd_write_mem.val() {
                            self.state.d.next = State::Data;
                            self.wi.d.next = 0.into();
                            self.byte_in_beat.d.next = 0.into();
                        }
                    }
                }
            }
            State::Data => {
                // The header is complete: check the block before taking its bytes.
                if !self.args_ok.val() {
                    self.status.d.next = self.st_bad_arg.val();
                    self.resp_mem.d.next = false;
                    self.out_left.d.next = 0.into();
                    self.state.d.next = State::RespSync;
                } else if self.rx_valid.val() {
                    self.sum.d.next = self.sum.q.val() + self.rx_data.val();
                    self.asm.d.next = self.asm_next.val();
                    self.byte_in_beat.d.next = self.byte_in_beat.q.val() + 1;
                    if self.byte_in_beat.q.val() == 7 {
                        self.block_ram.write_enable.next = true;
                        self.wi.d.next = self.wi.q.val() + 1;
                        if self.wi.q.val() + 1 == self.hdr.q.val().get_bits::<8>(32) {
                            self.state.d.next = State::Check;
                        }
                    }
                }
            }
            State::Check => {
                self.ri.d.next = 0.into();
                self.beats.d.next = self.hdr.q.val().get_bits::<8>(32);
                if self.rx_valid.val() {
                    if self.sum_next.val() == 0 {
                        self.state.d.next = State::Exec;
                    } else {
                        self.status.d.next = self.st_bad_check.val();
                        self.resp_mem.d.next = false;
                        self.out_left.d.next = 0.into();
                        self.state.d.next = State::RespSync;
                    }
                }
            }
            State::Exec => {
                self.status.d.next = 0.into();
                self.resp_mem.d.next = false;
                self.out_left.d.next = 0.into();
                self.state.d.next = State::RespSync;
                if self.cmd.q.val() == self.cmd_ping.val() {
                    self.out_sh.d.next = bit_cast::<64, 32>(self.ping_value.val());
                    self.out_left.d.next = 4.into();
                } else if self.cmd.q.val() == self.cmd_write_reg.val() {
                    self.csr_addr_q.d.next = self.hdr.q.val().get_bits::<8>(0);
                    self.csr_wdata_q.d.next = self.hdr.q.val().get_bits::<32>(8);
                    self.csr_write_q.d.next = true;
                } else if self.cmd.q.val() == self.cmd_read_reg.val() {
                    // One header byte: it sits in the top byte.
                    self.csr_addr_q.d.next = self.hdr.q.val().get_bits::<8>(32);
                    self.state.d.next = State::RespLoad;
                    self.load_wait.d.next = true;
                } else if !self.args_ok.val() {
                    self.status.d.next = self.st_bad_arg.val();
                } else {
                    self.state.d.next = State::MemReq;
                }
            }
            State::MemReq => {
                self.mem_req_valid.next = true;
                if self.mem_req_ready.val() {
                    self.wi.d.next = 0.into();
                    if self.cmd.q.val() == self.cmd_write_mem.val() {
                        self.state.d.next = State::MemWrite;
                    } else {
                        self.state.d.next = State::MemRead;
                    }
                }
            }
            State::MemWrite => {
                // The buffer's read port runs one index ahead of an accepted beat.
                self.mem_wvalid.next = self.ri.q.val() != self.beats.q.val();
                self.wfire.next = (self.ri.q.val() != self.beats.q.val()) & self.mem_wready.val();
                if self.wfire.val() {
                    self.ri.d.next = self.ri.q.val() + 1;
                    self.block_ram.read_address.next = self.ri_next.val().get_bits::<7>(0);
                }
                if self.ri.q.val() == self.beats.q.val() {
                    self.state.d.next = State::RespSync;
                }
            }
            State::MemRead => {
                self.block_ram.write_data.next = self.mem_rdata.val();
                if self.mem_rvalid.val() {
                    self.block_ram.write_enable.next = true;
                    self.wi.d.next = self.wi.q.val() + 1;
                    if self.wi.q.val() + 1 == self.beats.q.val() {
                        self.resp_mem.d.next = true;
                        self.ri.d.next = 0.into();
                        self.state.d.next = State::RespSync;
                    }
                }
            }
            State::RespSync => {
                self.tx_valid.next = true;
                self.tx_data.next = self.sync_out.val();
                if self.tx_ready.val() {
                    self.state.d.next = State::RespStatus;
                }
            }
            State::RespStatus => {
                self.tx_valid.next = true;
                self.tx_data.next = self.status.q.val();
                self.sum.d.next = self.status.q.val();
                if self.tx_ready.val() {
                    self.state.d.next = State::RespCheck;
                    if self.resp_mem.q.val() {
                        self.state.d.next = State::RespLoad;
                        self.load_wait.d.next = true;
                    } else if self.out_left.q.val() != 0 {
                        self.state.d.next = State::RespBytes;
                    }
                }
            }
            State::RespLoad => {
                // One clock for the buffer's read (or the CSR read's registered address).
                self.load_wait.d.next = false;
                if !self.load_wait.q.val() {
                    if self.resp_mem.q.val() {
                        self.out_sh.d.next = self.block_ram.read_data.val();
                        self.out_left.d.next = 8.into();
                        self.ri.d.next = self.ri.q.val() + 1;
                        self.state.d.next = State::RespBytes;
                    } else {
                        self.out_sh.d.next = bit_cast::<64, 32>(self.csr_rdata.val());
                        self.out_left.d.next = 4.into();
                        self.state.d.next = State::RespSync;
                    }
                }
            }
            State::RespBytes => {
                self.tx_valid.next = true;
                self.tx_data.next = self.out_sh.q.val().get_bits::<8>(0);
                if self.tx_ready.val() {
                    self.sum.d.next = self.sum.q.val() + self.out_sh.q.val().get_bits::<8>(0);
                    self.out_sh.d.next = self.out_sh.q.val() >> 8;
                    self.out_left.d.next = self.out_left.q.val() - 1;
                    if self.out_left.q.val() == 1 {
                        self.state.d.next = State::RespCheck;
                        if self.resp_mem.q.val() & (self.ri.q.val() != self.beats.q.val()) {
                            self.state.d.next = State::RespLoad;
                            self.load_wait.d.next = true;
                        }
                    }
                }
            }
            State::RespCheck => {
                self.tx_valid.next = true;
                self.tx_data.next = !self.sum.q.val() + 1;
                if self.tx_ready.val() {
                    self.state.d.next = State::Hunt;
                }
            }
            _ => {
                self.state.d.next = State::Hunt;
            }
        }
        if (self.quiet.q.val() == self.quiet_limit.val())
            & ((self.state.q.val() == State::Cmd)
                | (self.state.q.val() == State::Header)
                | (self.state.q.val() == State::Data)
                | (self.state.q.val() == State::Check))
        {
            self.state.d.next = State::Hunt;
        }
        if self.reset.val() {
            self.state.d.next = State::Hunt;
            self.csr_write_q.d.next = false;
        }
    }
}
