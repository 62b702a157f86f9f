// weir_parse as BPF (tests/kernel/parse_probe.c under BPF_PROG_TEST_RUN) must produce the very
// bytes of struct weir_pkt that weir_parse compiled as C++ produces, for every sample frame and
// every prefix of it the kernel accepts (>= 14 bytes).
#include <doctest/doctest.h>

#include <cstring>
#include <span>
#include <sstream>
#include <string>

#include "bpf.hpp"
#include "frames.hpp"
#include "parse.h"

namespace weir::test {
std::span<const unsigned char> parse_probe_object();
}

using namespace weir;
using namespace weir::test;

namespace {

std::string byte_diff(const weir_pkt& kernel, const weir_pkt& native) {
    const auto* k = reinterpret_cast<const unsigned char*>(&kernel);
    const auto* n = reinterpret_cast<const unsigned char*>(&native);
    std::ostringstream out;
    for (std::size_t i = 0; i < sizeof(weir_pkt); ++i)
        if (k[i] != n[i]) out << " @" << i << ": kernel " << int(k[i]) << " native " << int(n[i]);
    return out.str();
}

}  // namespace

TEST_CASE("kernel and native weir_parse agree byte for byte") {
    auto obj = bpf::Object::open(parse_probe_object(), "parse_probe");
    REQUIRE_MESSAGE(obj, obj.error().message);
    auto loaded = obj->load();
    REQUIRE_MESSAGE(loaded, loaded.error().message << "\n" << loaded.error().log);
    auto prog = obj->program_fd("parse_probe");
    auto map = obj->map_fd("weir_probe_out");
    REQUIRE(prog);
    REQUIRE(map);

    weir_pkt poison;
    std::memset(&poison, 0xa5, sizeof poison);
    std::size_t compared = 0;
    for (const Frame& f : sample_frames()) {
        for (std::size_t len = 14; len <= f.bytes.size(); ++len) {
            CAPTURE(f.name);
            CAPTURE(len);
            std::span<const unsigned char> packet(f.bytes.data(), len);
            REQUIRE(bpf::update(*map, 0, poison));
            auto run = bpf::test_run(*prog, packet);
            REQUIRE_MESSAGE(run, run.error().message);
            CHECK(run->retval == 2);  // XDP_PASS

            auto kernel = bpf::lookup<weir_pkt>(*map, 0);
            REQUIRE(kernel);
            weir_pkt native;
            weir_parse(packet.data(), packet.data() + packet.size(), &native);
            CHECK_MESSAGE(std::memcmp(&*kernel, &native, sizeof native) == 0,
                          byte_diff(*kernel, native));
            ++compared;
        }
    }
    MESSAGE("compared " << compared << " packets");
    CHECK(compared > 2000);
}
