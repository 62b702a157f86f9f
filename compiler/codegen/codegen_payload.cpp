// payload[OFF:LEN] == / != BYTES (interp.cpp payload_match()): false, for both operators,
// unless the packet has an L4 header (TCP, UDP, ICMP, ICMPv6) and at least OFF + LEN payload
// bytes. The frame is read the way weir_abi.h ("Verifier") prescribes: the payload offset is
// masked with WEIR_PAYLOAD_OFF_MASK before it is added to `data`, and the end of the window is
// compared with data_end before any byte is read. The bytes are compared 8/4/2/1 at a time
// against little-endian constants (bpfel).
#include "codegen_ctx.hpp"
#include "weir_abi.h"
#include "weir_pkt.h"

namespace weir::cg {

void emit_payload(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    if (e.op != Cmp::Eq && e.op != Cmp::Ne) {
        c.b.CreateBr(f);
        return;
    }
    const std::uint64_t off = e.offset, len = e.bytes.size();
    guard_present(c, WEIR_H_L4 | WEIR_H_ICMP | WEIR_H_ICMP6, f);

    llvm::Value* plen = c.load_member(offsetof(weir_pkt, payload_len), 2, "payload_len");
    llvm::BasicBlock* long_enough = c.block("payload.len");
    c.b.CreateCondBr(c.b.CreateICmpUGE(c.b.CreateZExt(plen, c.i(64)), c.c64(off + len)), long_enough, f);
    c.enter(long_enough);

    llvm::Value* poff = c.load_member(offsetof(weir_pkt, payload_off), 2, "payload_off");
    poff = c.b.CreateAnd(c.b.CreateZExt(poff, c.i(64)), c.c64(WEIR_PAYLOAD_OFF_MASK));
    llvm::Value* payload = c.b.CreateGEP(c.b.getInt8Ty(), c.data, poff, "payload");
    llvm::Value* start = c.b.CreateConstGEP1_64(c.b.getInt8Ty(), payload, off, "window");
    llvm::Value* end = c.b.CreateConstGEP1_64(c.b.getInt8Ty(), start, len, "window.end");
    llvm::BasicBlock* inside = c.block("payload.read");
    c.b.CreateCondBr(c.b.CreateICmpUGT(end, c.data_end), f, inside);
    c.enter(inside);

    llvm::BasicBlock* same = e.op == Cmp::Eq ? t : f;
    llvm::BasicBlock* differ = e.op == Cmp::Eq ? f : t;
    for (std::uint64_t at = 0; at < len;) {
        std::uint64_t n = len - at >= 8 ? 8 : len - at >= 4 ? 4 : len - at >= 2 ? 2 : 1;
        std::uint64_t want = 0;
        for (std::uint64_t k = 0; k < n; ++k) want |= std::uint64_t{e.bytes[at + k]} << (8 * k);
        llvm::Value* p = c.b.CreateConstGEP1_64(c.b.getInt8Ty(), start, at);
        // Natural alignment, as clang assumes for header structs in packets: one BPF load per
        // piece (align 1 would become byte loads and shifts). The payload is rarely aligned;
        // the kernel allows unaligned packet reads where the CPU does them efficiently (x86,
        // arm64, ...), i.e. unless the program is loaded with BPF_F_STRICT_ALIGNMENT.
        llvm::Value* got = c.b.CreateAlignedLoad(c.i(8 * unsigned(n)), p, llvm::Align(n), "payload.bytes");
        llvm::BasicBlock* next = c.block("payload.next");
        c.b.CreateCondBr(c.b.CreateICmpEQ(got, llvm::ConstantInt::get(got->getType(), want)), next, differ);
        c.enter(next);
        at += n;
    }
    c.b.CreateBr(same);
}

}  // namespace weir::cg
