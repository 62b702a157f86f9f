// libFuzzer target: `weir test --pcap` replay in interpreter mode, on arbitrary capture files
// (pcap or pcapng, read by libpcap as the CLI reads them), through every example policy. Each
// frame is parsed by the kernel program's parser (parse.h, natively) and decided by the
// interpreter, with rate-limit state carried across frames as in a replay; the decision must
// name a rule of the policy or the default.
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "driver.hpp"
#include "fuzz_common.hpp"
#include "interp.hpp"
#include "parse.h"

namespace {

constexpr const char* kTarget = "fuzz_pcap";
constexpr std::size_t kMaxFrames = 4096;  // keeps one input's time bounded

// The checked example policies (examples/*.weir, with rules/std), compiled once.
const std::vector<std::unique_ptr<weir::Compilation>>& policies() {
    static const auto all = [] {
        std::vector<std::unique_ptr<weir::Compilation>> v;
        weir::CheckOptions o;
        o.lint = false;
        for (const auto& e : std::filesystem::directory_iterator(WEIR_SOURCE_DIR "/examples")) {
            if (e.path().extension() != ".weir") continue;
            auto c = weir::compile_file(e.path().string(), o);
            if (c->ok() && !c->program.policies.empty()) v.push_back(std::move(c));
        }
        if (v.empty()) {
            std::fprintf(stderr, "%s: no example policy checks\n", kTarget);
            std::abort();
        }
        return v;
    }();
    return all;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)policies();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    FILE* f = fmemopen(const_cast<std::uint8_t*>(data), size, "rb");
    if (!f) return 0;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_fopen_offline(f, errbuf);  // owns f from here, closes it on failure too
    if (!p) return 0;
    std::vector<std::vector<std::uint8_t>> frames;
    if (pcap_datalink(p) == DLT_EN10MB) {
        pcap_pkthdr* hdr;
        const u_char* bytes;
        while (frames.size() < kMaxFrames && pcap_next_ex(p, &hdr, &bytes) == 1)
            if (hdr->caplen >= 14) frames.emplace_back(bytes, bytes + hdr->caplen);
    }
    pcap_close(p);

    for (const auto& c : policies()) {
        for (const auto& pol : c->program.policies) {
            weir::LimitState limits;
            for (const auto& fr : frames) {
                weir_pkt pkt{};
                weir_parse(fr.data(), fr.data() + fr.size(), &pkt);
                weir::Decision d = weir::evaluate(c->program, pol, pkt, fr, "", &limits);
                if (d.rule < -1 || d.rule >= static_cast<int>(pol.rules.size()))
                    weir::fuzz::fail(kTarget, "a decision names no rule", pol.name, std::to_string(d.rule));
            }
        }
    }
    return 0;
}
