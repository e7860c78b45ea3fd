// The C ABI around the Verilated core, loaded by tokenfab-hw's `system` module (dlopen).
// One call advances one clock cycle: inputs are applied, the core settles, its outputs are
// sampled (they and the inputs decide which handshakes fire on this edge), then the rising and
// falling edges are evaluated. Written for tokenfab; compiled with the Verilated model.
#include "Vcore.h"
#include "verilated.h"
#include "verilated_vcd_c.h"
#include <cstdint>

struct TfIn {
    uint64_t mem_rdata;
    uint32_t csr_wdata;
    uint8_t reset, csr_addr, csr_write, mem_req_ready, mem_wready, mem_rvalid;
};

struct TfOut {
    uint64_t mem_wdata;
    uint32_t csr_rdata, mem_req_addr;
    uint8_t mem_req_valid, mem_req_write, mem_req_beats, mem_wvalid, mem_wstrb;
};

struct Tf {
    VerilatedContext ctx;
    Vcore* core;
    VerilatedVcdC* vcd;
    uint64_t time;
};

static void apply(Tf* t, const TfIn* in) {
    Vcore* d = t->core;
    d->reset = in->reset;
    d->csr_addr = in->csr_addr;
    d->csr_write = in->csr_write;
    d->csr_wdata = in->csr_wdata;
    d->mem_req_ready = in->mem_req_ready;
    d->mem_wready = in->mem_wready;
    d->mem_rvalid = in->mem_rvalid;
    d->mem_rdata = in->mem_rdata;
}

static void sample(Tf* t, TfOut* out) {
    Vcore* d = t->core;
    out->csr_rdata = d->csr_rdata;
    out->mem_req_valid = d->mem_req_valid;
    out->mem_req_write = d->mem_req_write;
    out->mem_req_addr = d->mem_req_addr;
    out->mem_req_beats = d->mem_req_beats;
    out->mem_wvalid = d->mem_wvalid;
    out->mem_wdata = d->mem_wdata;
    out->mem_wstrb = d->mem_wstrb;
}

static void dump(Tf* t) {
    if (t->vcd) t->vcd->dump(t->time);
    t->time++;
}

extern "C" {

void* tf_new(const char* vcd_path) {
    Tf* t = new Tf;
    t->time = 0;
    t->vcd = nullptr;
    t->core = new Vcore{&t->ctx};
    if (vcd_path && vcd_path[0]) {
        t->ctx.traceEverOn(true);
        t->vcd = new VerilatedVcdC;
        t->core->trace(t->vcd, 99);
        t->vcd->open(vcd_path);
    }
    t->core->clock = 0;
    t->core->eval();
    return t;
}

void tf_step(void* h, const TfIn* in, TfOut* out) {
    Tf* t = static_cast<Tf*>(h);
    apply(t, in);
    t->core->eval();
    sample(t, out);
    dump(t);
    t->core->clock = 1;
    t->core->eval();
    dump(t);
    t->core->clock = 0;
    t->core->eval();
}

void tf_peek(void* h, const TfIn* in, TfOut* out) {
    Tf* t = static_cast<Tf*>(h);
    apply(t, in);
    t->core->eval();
    sample(t, out);
}

void tf_free(void* h) {
    Tf* t = static_cast<Tf*>(h);
    t->core->final();
    if (t->vcd) {
        t->vcd->close();
        delete t->vcd;
    }
    delete t->core;
    delete t;
}

}
