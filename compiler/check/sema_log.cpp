// The checker's part for `log [sample 1/N] [snap BYTES]` (docs/language.md, "Logging packets"):
// each option at most once, the sample ratio 1/N with 1 <= N <= kLogSampleMax, the snap length
// 1..kLogSnapMax bytes. Defaults: sample 1/1 (every matching packet), snap kLogSnapDefault.
#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

namespace {

// A repeated option: the first one is kept, the later ones are errors pointing back at it.
bool single(const std::vector<ast::LogOption>& opts, const char* word, Diagnostics& diags) {
    for (std::size_t i = 1; i < opts.size(); ++i) {
        auto& d = diags.error("duplicate-log-option", opts[i].range,
                              std::string("'") + word + "' is given twice in this 'log'");
        d.notes.push_back({opts[0].range, "first given here"});
    }
    return !opts.empty();
}

}  // namespace

void check_log(const ast::Action& a, Action& out, Diagnostics& diags) {
    out.kind = Action::Kind::Log;
    if (single(a.log_sample, "sample", diags)) {
        const ast::LogOption& o = a.log_sample.front();
        auto num = parse_uint(o.num, kLogSampleMax, "sample numerator", diags);
        auto den = parse_uint(o.value, kLogSampleMax, "sample ratio", diags);
        if (num && *num != 1)
            diags.error("invalid-log-sample", o.num.range,
                        "log samples one packet in N: write 'sample 1/N', not 'sample " + o.num.text + "/" +
                            o.value.text + "'");
        else if (den && *den == 0)
            diags.error("invalid-log-sample", o.value.range, "'sample 1/0' would log nothing: N must be at least 1");
        else if (num && den)
            out.log_sample = static_cast<std::uint32_t>(*den);
    }
    if (single(a.log_snap, "snap", diags)) {
        const ast::LogOption& o = a.log_snap.front();
        if (auto n = parse_uint(o.value, ~std::uint64_t{0}, "snap length", diags)) {
            if (*n == 0 || *n > kLogSnapMax)
                diags.error("invalid-log-snap", o.value.range,
                            "snap length " + o.value.text + " is out of range (1-" + std::to_string(kLogSnapMax) +
                                ": a log record carries at most " + std::to_string(kLogSnapMax) +
                                " bytes of the frame)");
            else
                out.log_snap = static_cast<std::uint32_t>(*n);
        }
    }
}

}  // namespace weir::sema_detail
