// The board shell under Verilator with a model of its SDR SDRAM chip and a UART bridge.
// Part of tokenfab-hw (hw/src/fpga/sim.rs builds it; its header there says how).
//
// The chip model samples the controller's pins at every rising edge, as the chip does half a
// clock later on the board (its clock is the inverse of the system clock), stores data, returns
// read data CL clocks after a READ, and checks the JEDEC timing between commands: tINIT, tRP,
// tRFC, tRC, tRRD, tRCD, tRAS, tWR, tMRD, bursts not truncated, the refresh interval tREFI, no
// command to a bank in the wrong state, no bus collision. A violation prints one line starting
// with "violation" and exits with status 3: the test fails loudly.
//
// Commands on stdin, one a line:
//   tx HEX       queue bytes for the FPGA's UART receiver
//   rx N MAX     run until N bytes came from the FPGA's UART transmitter or MAX clocks passed;
//                prints "rx HEX" or "timeout HEX"
//   run N        run N clocks
//   stats        prints "stats k=v ..."
//   quit
#include "Vdut.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

static uint64_t n_rcd, n_rrd, n_rp, n_ras, n_rc, n_rfc, n_mrd, n_wr, n_refi, n_init, cl, init_refs,
    divisor, columns, rows;
static const int64_t NEVER = -1000000000;

static Vdut* d;
static int64_t cyc = 0;

static void violation(const char* fmt, const char* what, int64_t a = 0, int64_t b = 0) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, what, (long long)a, (long long)b);
    printf("violation at clock %lld: %s\n", (long long)cyc, msg);
    fprintf(stderr, "violation at clock %lld: %s\n", (long long)cyc, msg);
    fflush(stdout);
    exit(3);
}

struct Bank {
    bool open = false;
    uint64_t row = 0;
    int64_t act = NEVER, pre = NEVER;
};

struct Chip {
    std::vector<uint16_t> mem;
    Bank bank[4];
    bool mode_set = false;
    int64_t mrs = NEVER, ref = NEVER, act_any = NEVER, last_read = NEVER, last_write = NEVER,
            write_data_end = NEVER, first_ref_after_mode = NEVER;
    uint64_t refreshes = 0, init_refreshes = 0, acts = 0, reads = 0, writes = 0, pres = 0;
    int64_t max_ref_gap = 0;
    // Read data scheduled for the edges ahead: (edge, value).
    std::deque<std::pair<int64_t, uint16_t>> rd;
    // The write burst in progress: address of its next word and words left.
    uint64_t wr_addr = 0, wr_left = 0;
    uint16_t drive = 0;
    bool driving = false;

    uint64_t addr(int b, uint64_t row, uint64_t col) {
        return ((uint64_t)b * rows + row) * columns + col;
    }
    void edge() {
        int cs = d->sdram_cs_n, ras = d->sdram_ras_n, cas = d->sdram_cas_n, we = d->sdram_we_n;
        int b = d->sdram_ba;
        uint64_t a = d->sdram_a;
        bool oe = d->sdram_dq_oe;
        if (!d->sdram_cke) violation("%s", "CKE low (the controller never powers down)");
        int cmd = cs ? 7 : (ras << 2) | (cas << 1) | we;
        // A write burst's data words.
        if (wr_left > 0) {
            if (cmd != 7) violation("%s: command %lld inside a write burst", "burst truncated", cmd);
            if (!oe) violation("%s", "write burst word without dq driven");
            uint16_t m = d->sdram_dqm, v = d->sdram_dq_o, &w = mem[wr_addr];
            w = (uint16_t)(((m & 1) ? w & 0x00ff : v & 0x00ff) | ((m & 2) ? w & 0xff00 : v & 0xff00));
            wr_addr = (wr_addr & ~3ull) | ((wr_addr + 1) & 3);
            if (--wr_left == 0) write_data_end = cyc;
        } else if (oe && cmd != 4) {
            violation("%s", "dq driven outside a write burst");
        }
        if (mode_set && cyc - ref > (int64_t)n_refi)
            violation("%s: %lld clocks since the last REFRESH (tREFI %lld)", "refresh interval",
                      cyc - ref, n_refi);
        if (cmd != 7 && cyc < (int64_t)n_init)
            violation("%s: clock %lld < tINIT %lld", "command during power-up", cyc, n_init);
        switch (cmd) {
        case 7: break;  // NOP
        case 0: {       // LOAD MODE REGISTER
            for (auto& k : bank)
                if (k.open) violation("%s", "MODE with a bank open");
            if (init_refreshes < init_refs)
                violation("%s: %lld refreshes before it, %lld needed", "MODE too early",
                          init_refreshes, init_refs);
            if (cyc - ref < (int64_t)n_rfc) violation("%s: %lld < %lld", "tRFC before MODE", cyc - ref, n_rfc);
            uint64_t want = 0x2 | (cl << 4);
            if (a != want || b != 0)
                violation("%s: %llx", "mode register not BL4 sequential with the board's CL", a);
            mode_set = true;
            mrs = cyc;
            break;
        }
        case 1: {  // AUTO REFRESH
            for (auto& k : bank) {
                if (k.open) violation("%s", "REFRESH with a bank open");
                if (cyc - k.pre < (int64_t)n_rp) violation("%s: %lld < %lld", "tRP before REFRESH", cyc - k.pre, n_rp);
            }
            if (cyc - ref < (int64_t)n_rfc) violation("%s: %lld < %lld", "tRFC between REFRESHes", cyc - ref, n_rfc);
            if (cyc - mrs < (int64_t)n_mrd) violation("%s: %lld < %lld", "tMRD", cyc - mrs, n_mrd);
            if (mode_set && ref != NEVER && cyc - ref > max_ref_gap) max_ref_gap = cyc - ref;
            if (!mode_set) init_refreshes++;
            ref = cyc;
            refreshes++;
            break;
        }
        case 2: {  // PRECHARGE (A10: all banks)
            bool all = (a >> 10) & 1;
            for (int i = 0; i < 4; i++) {
                if (!all && i != b) continue;
                Bank& k = bank[i];
                if (k.open && cyc - k.act < (int64_t)n_ras)
                    violation("%s: %lld < %lld", "tRAS before PRECHARGE", cyc - k.act, n_ras);
                k.open = false;
                k.pre = cyc;
            }
            if (write_data_end != NEVER && cyc - write_data_end < (int64_t)n_wr)
                violation("%s: %lld < %lld", "tWR before PRECHARGE", cyc - write_data_end, n_wr);
            if (cyc - last_read < 4) violation("%s: %lld", "PRECHARGE truncates a read burst", cyc - last_read);
            pres++;
            break;
        }
        case 3: {  // ACTIVE
            if (!mode_set) violation("%s", "ACTIVE before the mode register is set");
            Bank& k = bank[b];
            if (k.open) violation("%s", "ACTIVE to an open bank");
            if (cyc - k.pre < (int64_t)n_rp) violation("%s: %lld < %lld", "tRP", cyc - k.pre, n_rp);
            if (cyc - k.act < (int64_t)n_rc) violation("%s: %lld < %lld", "tRC", cyc - k.act, n_rc);
            if (cyc - act_any < (int64_t)n_rrd) violation("%s: %lld", "tRRD", cyc - act_any);
            if (cyc - ref < (int64_t)n_rfc) violation("%s: %lld < %lld", "tRFC before ACTIVE", cyc - ref, n_rfc);
            if (cyc - mrs < (int64_t)n_mrd) violation("%s: %lld < %lld", "tMRD", cyc - mrs, n_mrd);
            if (a >= rows) violation("%s: %lld", "row out of range", a);
            k.open = true;
            k.row = a;
            k.act = cyc;
            act_any = cyc;
            acts++;
            break;
        }
        case 5:    // READ
        case 4: {  // WRITE
            Bank& k = bank[b];
            if (!k.open) violation("%s", cmd == 5 ? "READ to a closed bank" : "WRITE to a closed bank");
            if (cyc - k.act < (int64_t)n_rcd) violation("%s: %lld < %lld", "tRCD", cyc - k.act, n_rcd);
            if ((a >> 10) & 1) violation("%s", "auto precharge is not used by the controller");
            uint64_t col = a & 0x3ff;
            if (col >= columns || (col & 3)) violation("%s: %lld", "column out of range or not burst aligned", col);
            if (cyc - last_read < 4) violation("%s: %lld", "READ or WRITE truncates a read burst", cyc - last_read);
            uint64_t base = addr(b, k.row, col);
            if (cmd == 5) {
                for (int j = 0; j < 4; j++) rd.push_back({cyc + (int64_t)cl + j, mem[base + j]});
                last_read = cyc;
                reads++;
            } else {
                if (!rd.empty()) violation("%s", "WRITE while read data is still due on the bus");
                wr_addr = base;
                wr_left = 4;
                last_write = cyc;
                writes++;
                // The first word comes with the command.
                uint16_t m = d->sdram_dqm, v = d->sdram_dq_o, &w = mem[wr_addr];
                if (!oe) violation("%s", "WRITE without dq driven");
                w = (uint16_t)(((m & 1) ? w & 0x00ff : v & 0x00ff) | ((m & 2) ? w & 0xff00 : v & 0xff00));
                wr_addr++;
                wr_left--;
            }
            break;
        }
        default: violation("%s: %lld", "unsupported command", cmd);
        }
        // What the chip drives until the next edge: the word due at the next edge.
        driving = false;
        while (!rd.empty() && rd.front().first <= cyc) rd.pop_front();
        if (!rd.empty() && rd.front().first == cyc + 1) {
            drive = rd.front().second;
            driving = true;
        }
    }
};

static Chip chip;

// UART bridge: bytes queued for the FPGA's receiver, bytes collected from its transmitter.
static std::deque<uint8_t> to_fpga;
static std::vector<uint8_t> from_fpga;
static int64_t rx_bit = -1, rx_timer = 0;  // sending: bit index (-1 idle), clocks left in it
static uint16_t rx_frame = 0;
static int tx_state = 0;                   // 0 idle, 1 receiving
static int64_t tx_timer = 0;
static int tx_bits = 0;
static uint16_t tx_shift = 0;
static int prev_tx = 1;

static void uart() {
    // Drive the FPGA's rx line.
    if (rx_bit < 0 && !to_fpga.empty()) {
        // Start bit, 8 data bits, stop bit, one more idle bit between bytes.
        rx_frame = (uint16_t)((0x3u << 9) | ((uint16_t)to_fpga.front() << 1));
        to_fpga.pop_front();
        rx_bit = 0;
        rx_timer = (int64_t)divisor;
    }
    if (rx_bit >= 0) {
        d->uart_rx = (rx_frame >> rx_bit) & 1;
        if (--rx_timer == 0) {
            rx_timer = (int64_t)divisor;
            if (++rx_bit == 11) rx_bit = -1;
        }
    } else {
        d->uart_rx = 1;
    }
    // Sample the FPGA's tx line in the middle of each bit.
    int tx = d->uart_tx;
    if (tx_state == 0) {
        if (prev_tx == 1 && tx == 0) {
            tx_state = 1;
            tx_timer = (int64_t)divisor + (int64_t)divisor / 2;
            tx_bits = 0;
            tx_shift = 0;
        }
    } else if (--tx_timer == 0) {
        if (tx_bits < 8) {
            tx_shift |= (uint16_t)(tx << tx_bits);
            tx_bits++;
            tx_timer = (int64_t)divisor;
        } else {
            if (!tx) violation("%s", "UART stop bit low (framing error from the FPGA)");
            from_fpga.push_back((uint8_t)tx_shift);
            tx_state = 0;
        }
    }
    prev_tx = tx;
}

static void step() {
    d->sdram_dq_i = chip.driving ? chip.drive : 0xdead;
    if (chip.driving && d->sdram_dq_oe) violation("%s", "bus collision: FPGA and chip both drive dq");
    chip.edge();
    d->clock = 1;
    d->eval();
    d->clock = 0;
    d->eval();
    uart();
    d->eval();
    cyc++;
}

int main(int argc, char** argv) {
    if (argc < 16) {
        fprintf(stderr, "usage: sim nRCD nRRD nRP nRAS nRC nRFC nMRD nWR nREFI nINIT CL INITREFS DIVISOR COLUMNS ROWS\n");
        return 2;
    }
    uint64_t* p[] = {&n_rcd, &n_rrd, &n_rp, &n_ras, &n_rc, &n_rfc, &n_mrd, &n_wr, &n_refi, &n_init,
                     &cl, &init_refs, &divisor, &columns, &rows};
    for (int i = 0; i < 15; i++) *p[i] = strtoull(argv[i + 1], nullptr, 10);
    chip.mem.assign(4 * rows * columns, 0);
    VerilatedContext ctx;
    d = new Vdut{&ctx};
    d->uart_rx = 1;
    d->locked = 1;  // no PLL under Verilator: the shell's clock is driven directly
    d->clock = 0;
    d->eval();
    char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        char verb[16] = {0};
        sscanf(line, "%15s", verb);
        if (!strcmp(verb, "tx")) {
            const char* h = line + 2;
            while (*h == ' ') h++;
            for (; h[0] && h[1] && h[0] != '\n'; h += 2) {
                char b[3] = {h[0], h[1], 0};
                to_fpga.push_back((uint8_t)strtoul(b, nullptr, 16));
            }
        } else if (!strcmp(verb, "rx")) {
            unsigned long long n = 0, max = 0;
            sscanf(line + 2, "%llu %llu", &n, &max);
            int64_t end = cyc + (int64_t)max;
            while (from_fpga.size() < n && cyc < end) step();
            printf(from_fpga.size() >= n ? "rx " : "timeout ");
            size_t k = from_fpga.size() < n ? from_fpga.size() : n;
            for (size_t i = 0; i < k; i++) printf("%02x", from_fpga[i]);
            printf("\n");
            from_fpga.erase(from_fpga.begin(), from_fpga.begin() + k);
            fflush(stdout);
        } else if (!strcmp(verb, "run")) {
            unsigned long long n = 0;
            sscanf(line + 3, "%llu", &n);
            for (unsigned long long i = 0; i < n; i++) step();
            printf("ok\n");
            fflush(stdout);
        } else if (!strcmp(verb, "stats")) {
            printf("stats clocks=%lld refreshes=%llu activates=%llu reads=%llu writes=%llu "
                   "precharges=%llu max_refresh_gap=%lld\n",
                   (long long)cyc, (unsigned long long)chip.refreshes,
                   (unsigned long long)chip.acts, (unsigned long long)chip.reads,
                   (unsigned long long)chip.writes, (unsigned long long)chip.pres,
                   (long long)chip.max_ref_gap);
            fflush(stdout);
        } else if (!strcmp(verb, "quit")) {
            break;
        }
    }
    d->final();
    delete d;
    return 0;
}
