#include "ast_dump.hpp"

#include <cstdio>

namespace weir {
namespace {

class Dumper {
public:
    explicit Dumper(const SourceManager& sm) : sm_(sm) {}

    std::string run(const ast::File& f) {
        out_ = "(file " + quote(f.id == kNoFile ? std::string() : sm_.file(f.id).path);
        ++depth_;
        for (const auto& d : f.decls) std::visit([&](const auto& x) { decl(x); }, d);
        --depth_;
        out_ += ")\n";
        return std::move(out_);
    }

private:
    const SourceManager& sm_;
    std::string out_;
    int depth_ = 0;

    static std::string quote(const std::string& s) {
        std::string q = "\"";
        for (unsigned char c : s) {
            if (c == '"' || c == '\\') {
                q += '\\';
                q += char(c);
            } else if (c < 0x20 || c >= 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                q += buf;
            } else {
                q += char(c);
            }
        }
        return q + "\"";
    }

    std::string at(SourceRange r) const {
        if (!r.valid()) return "";
        LineCol lc = sm_.line_col(r.file, r.begin);
        return " @" + std::to_string(lc.line) + ":" + std::to_string(lc.col);
    }

    // Opens a node on a new line: "(kind".
    void open(const std::string& kind, SourceRange r) {
        out_ += "\n" + std::string(2 * depth_, ' ') + "(" + kind + at(r);
        ++depth_;
    }
    void close() {
        --depth_;
        out_ += ")";
    }

    static std::string value(const ast::Value& v) {
        using K = ast::Value::Kind;
        switch (v.kind) {
            case K::Int: return "(int " + v.text + ")";
            case K::Ipv4: return "(ip4 " + v.text + ")";
            case K::Ipv6: return "(ip6 " + v.text + ")";
            case K::Mac: return "(mac " + v.text + ")";
            case K::Symbol: return "(sym " + v.text + ")";
            case K::Const: return "(const " + v.text + ")";
            case K::String: return "(str " + quote(v.text) + ")";
            case K::Bytes: return "(bytes " + v.text + ")";
        }
        return "(? " + v.text + ")";
    }
    static std::string item(const ast::Item& i) {
        if (!i.hi) return value(i.lo);
        return "(range " + value(i.lo) + " " + value(*i.hi) + ")";
    }
    std::string items(const std::vector<ast::Item>& is) const {
        std::string s = "(items";
        for (const auto& i : is) s += " " + item(i);
        return s + ")";
    }
    std::string setref(const ast::SetRef& r) const {
        switch (r.kind) {
            case ast::SetRef::Kind::Inline: return items(r.items);
            case ast::SetRef::Kind::Const: return "(const " + r.name.text + ")";
            case ast::SetRef::Kind::Named: return "(set " + r.name.text + ")";
        }
        return "?";
    }

    void expr(const ast::Expr& e) {
        using K = ast::Expr::Kind;
        switch (e.kind) {
            case K::And:
            case K::Or:
            case K::Not:
                open(e.kind == K::And ? "and" : e.kind == K::Or ? "or" : "not", e.range);
                for (const auto& k : e.kids) expr(k);
                close();
                return;
            case K::Compare:
                open(std::string("cmp ") + ast::cmp_text(e.op) + " " + e.field.text + " " + item(e.rhs),
                     e.range);
                break;
            case K::In:
            case K::NotIn:
                open(std::string(e.kind == K::In ? "in " : "not-in ") + e.field.text + " " +
                         setref(*e.set),
                     e.range);
                break;
            case K::Test: open("test " + e.field.text, e.range); break;
            case K::Payload:
                open(std::string("payload ") + ast::cmp_text(e.op) + " " + value(e.payload->offset) + " " +
                         value(e.payload->length) + " " + value(e.payload->bytes),
                     e.range);
                break;
            case K::Over: {
                std::string t = "over " + e.limit->rate.text;
                if (e.limit->burst) t += " burst " + e.limit->burst->text;
                for (const auto& k : e.limit->key) t += " per " + k.text;
                if (e.limit->tuple) t += " (tuple)";
                if (e.limit->size) t += " size " + e.limit->size->text;
                open(t, e.range);
                break;
            }
        }
        close();
    }

    void decl(const ast::Include& d) {
        open("include " + value(d.path), d.range);
        close();
    }
    void decl(const ast::Const& d) {
        open("const " + d.name.text + " " + (d.is_set ? setref(d.set) : item(d.value)), d.range);
        close();
    }
    void decl(const ast::SetDecl& d) {
        open("set " + d.name.text + " " + d.type.text + " " +
                 (d.from_file ? "(file " + value(d.file) + ")" : items(d.items)),
             d.range);
        close();
    }
    void decl(const ast::Policy& d) {
        open("policy " + d.name.text + " (default " + d.default_verdict.text + ")", d.range);
        for (const auto& r : d.rules) {
            static const char* kinds[] = {"pass", "drop", "redirect", "tx", "count", "limit", "log"};
            std::string act = kinds[static_cast<int>(r.action.kind)];
            if (r.action.kind == ast::Action::Kind::Redirect) act = "(redirect " + value(r.action.target) + ")";
            if (r.action.kind == ast::Action::Kind::Log && (!r.action.log_sample.empty() || !r.action.log_snap.empty())) {
                act = "(log";
                for (const auto& o : r.action.log_sample) act += " sample " + value(o.num) + "/" + value(o.value);
                for (const auto& o : r.action.log_snap) act += " snap " + value(o.value);
                act += ")";
            }
            open("rule " + r.name.text + " " + act, r.range);
            if (r.cond) expr(*r.cond);
            close();
        }
        close();
    }
    void decl(const ast::Alert& d) {
        std::string head = "alert " + d.name.text + (d.policy ? " (on " + d.policy->text + ")" : "") + " (rate " +
                           (d.verdict ? "verdict " : "") + d.source.text + (d.unit ? " " + d.unit->text : "") +
                           ") " + ast::cmp_text(d.op) + " " + d.threshold.text + d.threshold_unit + "/s" +
                           (d.duration ? " (for " + d.duration->text + ")" : "") + " (severity " +
                           d.severity.text + ") " + value(d.message);
        open(head, d.range);
        close();
    }
    void decl(const ast::Test& d) {
        open("test " + value(d.name) + (d.policy ? " (policy " + d.policy->text + ")" : ""), d.range);
        for (const auto& p : d.probes) {
            const ast::Packet& pk = p.packet;
            std::string head = "packet " + pk.proto.text;
            auto endpoint = [&](const char* tag, const std::optional<ast::Endpoint>& e) {
                if (!e) return;
                head += std::string(" (") + tag + " " + value(e->addr);
                if (e->port) head += " " + value(*e->port);
                head += ")";
            };
            if (pk.proto.text == "hex") head += " " + value(pk.hex);
            endpoint("src", pk.src);
            endpoint("dst", pk.dst);
            open(head, pk.range);
            for (const auto& o : pk.opts) {
                std::string s = "opt " + o.key.text;
                for (const auto& v : o.values) s += " " + value(v);
                open(s, o.range);
                close();
            }
            close();
            std::string ex = "expect " + p.expect.verdict.text;
            if (p.expect.by) ex += " (by " + p.expect.by->text + ")";
            open(ex, p.expect.range);
            close();
        }
        close();
    }
};

}  // namespace

std::string dump_ast(const SourceManager& sm, const ast::File& file) {
    return Dumper(sm).run(file);
}

}  // namespace weir
