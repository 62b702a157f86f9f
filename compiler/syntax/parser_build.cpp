// The parse tree -> ast::File. Each rule listed in parser.cpp's is_node became a Node with its
// byte range; here they are read back by rule type into the syntax tree, values keeping the
// text as written (checks interpret them later).
#include <algorithm>
#include <string>

#include "grammar.hpp"
#include "parser_internal.hpp"

namespace weir::parse_detail {
namespace {

namespace gr = weir::grammar;

class Builder {
public:
    // Frees a converted node's subtree (decl consumes the parse tree as it converts it).
    static void release(Node& n) { std::vector<Node>().swap(n.kids); }

    Builder(std::string_view text, FileId file) : text_(text), file_(file) {}

    SourceRange range(const Node& n) const { return {file_, n.begin, n.end}; }
    std::string text(const Node& n) const { return std::string(text_.substr(n.begin, n.end - n.begin)); }
    ast::Name name(const Node& n) const { return {text(n), range(n)}; }

    template <typename R>
    static const Node* find(const Node& n) {
        for (const auto& k : n.kids)
            if (k.is<R>()) return &k;
        return nullptr;
    }

    std::string unescape(const Node& n) const {
        std::string_view s = text_.substr(n.begin + 1, n.end - n.begin - 2);
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\' || i + 1 >= s.size()) {
                out += s[i];
                continue;
            }
            char c = s[++i];
            switch (c) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'x': {
                    auto hex = [](char h) { return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
                    out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
                    i += 2;
                    break;
                }
                default: out += c; break;  // \" and \\ (the grammar allows nothing else)
            }
        }
        return out;
    }

    bool is_literal(const Node& n) const {
        return n.is<gr::mac_lit>() || n.is<gr::ipv6_lit>() || n.is<gr::ipv4_lit>() || n.is<gr::int_lit>() ||
               n.is<gr::const_ref>() || n.is<gr::symbol>() || n.is<gr::str_lit>() || n.is<gr::payload_offset>() ||
               n.is<gr::payload_length>() || n.is<gr::ep_v4>() || n.is<gr::ep_v6>() || n.is<gr::ep_port>() ||
               is_string(n);
    }
    static bool is_string(const Node& n) {
        return n.is<gr::str_lit>() || n.is<gr::include_path>() || n.is<gr::set_file_path>() ||
               n.is<gr::redirect_target>() || n.is<gr::test_name>() || n.is<gr::packet_hex_str>() ||
               n.is<gr::alert_message>();
    }

    ast::Value value(const Node& n) const {
        using K = ast::Value::Kind;
        ast::Value v;
        v.range = range(n);
        v.text = text(n);
        if (n.is<gr::mac_lit>()) {
            v.kind = K::Mac;
        } else if (n.is<gr::ipv6_lit>() || n.is<gr::ep_v6>()) {
            v.kind = K::Ipv6;
        } else if (n.is<gr::ipv4_lit>() || n.is<gr::ep_v4>()) {
            v.kind = K::Ipv4;
        } else if (n.is<gr::const_ref>()) {
            v.kind = K::Const;
            v.text = v.text.substr(1);
        } else if (n.is<gr::symbol>()) {
            v.kind = K::Symbol;
        } else if (is_string(n)) {
            v.kind = K::String;
            v.text = unescape(n);
        } else {
            v.kind = K::Int;
        }
        return v;
    }

    // The first literal kid of n.
    ast::Value first_value(const Node& n) const {
        for (const auto& k : n.kids)
            if (is_literal(k)) return value(k);
        return {};
    }

    ast::Item item(const Node& n) const {
        ast::Item it;
        it.range = range(n);
        it.lo = first_value(n);
        if (const Node* hi = find<gr::range_hi>(n)) it.hi = first_value(*hi);
        return it;
    }

    std::vector<ast::Item> items(const Node& set_lit) const {
        std::vector<ast::Item> out;
        for (const auto& k : set_lit.kids)
            if (k.is<gr::item>()) out.push_back(item(k));
        return out;
    }

    ast::SetRef setref(const Node& n) const {
        ast::SetRef s;
        s.range = range(n);
        const Node& k = n.kids.at(0);
        if (k.is<gr::set_lit>()) {
            s.kind = ast::SetRef::Kind::Inline;
            s.items = items(k);
        } else if (k.is<gr::const_ref>()) {
            s.kind = ast::SetRef::Kind::Const;
            s.name = name(*find<gr::const_ref_name>(k));
        } else {
            s.kind = ast::SetRef::Kind::Named;
            s.name = name(*find<gr::set_ref_name>(k));
        }
        return s;
    }

    static ast::CmpOp op(const Node& n) {
        if (n.is<gr::op_ne>()) return ast::CmpOp::Ne;
        if (n.is<gr::op_lt>()) return ast::CmpOp::Lt;
        if (n.is<gr::op_le>()) return ast::CmpOp::Le;
        if (n.is<gr::op_gt>()) return ast::CmpOp::Gt;
        if (n.is<gr::op_ge>()) return ast::CmpOp::Ge;
        return ast::CmpOp::Eq;
    }
    static bool is_op(const Node& n) {
        return n.is<gr::op_eq>() || n.is<gr::op_ne>() || n.is<gr::op_lt>() || n.is<gr::op_le>() ||
               n.is<gr::op_gt>() || n.is<gr::op_ge>();
    }

    // or-level: condition, paren_inner (kids: conj / or_rhs)
    ast::Expr or_expr(const Node& n) const {
        if (n.kids.size() == 1) return and_expr(n.kids[0]);
        ast::Expr e;
        e.kind = ast::Expr::Kind::Or;
        e.range = range(n);
        for (const auto& k : n.kids) e.kids.push_back(and_expr(k));
        return e;
    }

    // and-level: conj, or_rhs (kids: operands)
    ast::Expr and_expr(const Node& n) const {
        if (n.kids.size() == 1) return operand(n.kids[0]);
        ast::Expr e;
        e.kind = ast::Expr::Kind::And;
        e.range = range(n);
        for (const auto& k : n.kids) e.kids.push_back(operand(k));
        return e;
    }

    ast::Expr operand(const Node& n) const {
        using K = ast::Expr::Kind;
        ast::Expr e;
        e.range = range(n);
        if (n.is<gr::not_expr>()) {
            e.kind = K::Not;
            e.kids.push_back(operand(n.kids.at(0)));
        } else if (n.is<gr::paren_expr>()) {
            e = or_expr(*find<gr::paren_inner>(n));
            e.range = range(n);
            e.parens = true;
        } else if (n.is<gr::payload_match>()) {
            e.kind = K::Payload;
            for (const auto& k : n.kids) {
                if (k.is<gr::payload_offset>()) e.payload->offset = value(k);
                else if (k.is<gr::payload_length>()) e.payload->length = value(k);
                else if (is_op(k)) e.op = op(k);
                else if (is_literal(k)) e.payload->bytes = value(k);
            }
        } else if (n.is<gr::over_match>()) {
            e.kind = K::Over;
            for (const auto& k : n.kids) {
                ast::Value v;
                v.kind = ast::Value::Kind::Int;
                v.range = range(k);
                v.text = text(k);
                if (k.is<gr::limit_rate>()) e.limit->rate = v;
                else if (k.is<gr::limit_burst_value>()) e.limit->burst = v;
                else if (k.is<gr::limit_size_value>()) e.limit->size = v;
                else if (k.is<gr::limit_key_field>()) e.limit->key.push_back(name(k));
                else if (k.is<gr::limit_key_tuple>()) {
                    e.limit->tuple = true;
                    for (const auto& f : k.kids) e.limit->key.push_back(name(f));
                }
            }
        } else {  // field_expr
            const Node& f = n.kids.at(0);
            e.field = name(f);
            e.kind = K::Test;
            if (n.kids.size() > 1) {
                const Node& tail = n.kids[1];
                if (tail.is<gr::cmp_tail>()) {
                    e.kind = K::Compare;
                    e.op = op(tail.kids.at(0));
                    e.rhs = item(*find<gr::cmp_rhs>(tail));
                } else {
                    e.kind = tail.is<gr::in_tail>() ? K::In : K::NotIn;
                    e.set = setref(*find<gr::in_set>(tail));
                }
            }
        }
        return e;
    }

    ast::Rule rule(const Node& n) const {
        ast::Rule r;
        r.range = range(n);
        r.name = name(*find<gr::rule_name>(n));
        const Node& a = *find<gr::action>(n);
        r.action.range = range(a);
        std::string_view word = text_.substr(a.begin, a.end - a.begin);
        using K = ast::Action::Kind;
        if (word.starts_with("pass")) r.action.kind = K::Pass;
        else if (word.starts_with("drop")) r.action.kind = K::Drop;
        else if (word.starts_with("tx")) r.action.kind = K::Tx;
        else if (word.starts_with("count")) r.action.kind = K::Count;
        if (const Node* lg = find<gr::log_action>(a)) {
            r.action.kind = K::Log;
            for (const Node& k : lg->kids) {
                if (k.is<gr::log_sample>()) {
                    ast::LogOption o;
                    o.range = range(k);
                    if (const Node* v = find<gr::log_sample_num>(k)) o.num = value(*v);
                    if (const Node* v = find<gr::log_sample_den>(k)) o.value = value(*v);
                    r.action.log_sample.push_back(o);
                } else if (k.is<gr::log_snap>()) {
                    ast::LogOption o;
                    o.range = range(k);
                    if (const Node* v = find<gr::log_snap_len>(k)) o.value = value(*v);
                    r.action.log_snap.push_back(o);
                }
            }
        }
        if (const Node* red = find<gr::redirect_action>(a)) {
            r.action.kind = K::Redirect;
            r.action.target = first_value(*red);
        }
        if (const Node* c = find<gr::condition>(n)) r.cond = or_expr(*c);
        return r;
    }

    ast::Endpoint endpoint(const Node& n) const {
        ast::Endpoint ep;
        ep.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::ep_port>()) ep.port = value(k);
            else ep.addr = value(k);
        }
        return ep;
    }

    ast::Packet packet(const Node& n) const {
        ast::Packet p;
        p.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::packet_flow>()) {
                p.proto = name(*find<gr::packet_proto>(k));
                p.src = endpoint(*find<gr::endpoint_src>(k));
                p.dst = endpoint(*find<gr::endpoint_dst>(k));
            } else if (k.is<gr::packet_hex>()) {
                p.proto = {"hex", {file_, k.begin, k.begin + 3}};
                p.hex = first_value(k);
            } else if (k.is<gr::packet_opt>()) {
                ast::PacketOpt o;
                o.range = range(k);
                for (const auto& v : k.kids) {
                    if (v.is<gr::opt_key>()) o.key = name(v);
                    else o.values.push_back(value(v));
                }
                p.opts.push_back(std::move(o));
            }
        }
        return p;
    }

    ast::Alert alert(const Node& n) const {
        ast::Alert a;
        a.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::alert_name>()) a.name = name(k);
            else if (k.is<gr::alert_policy>()) a.policy = name(k);
            else if (k.is<gr::alert_op>()) a.op = op(k.kids.at(0));
            else if (k.is<gr::alert_duration>()) a.duration = name(k);
            else if (k.is<gr::severity_level>()) a.severity = name(k);
            else if (k.is<gr::alert_message>()) a.message = value(k);
            else if (k.is<gr::alert_threshold>()) {
                a.threshold_range = range(k);
                if (const Node* num = find<gr::threshold_number>(k)) a.threshold = name(*num);
                if (const Node* u = find<gr::threshold_unit>(k)) a.threshold_unit = text(*u);
            } else if (k.is<gr::alert_rate>()) {
                a.rate_range = range(k);
                for (const auto& r : k.kids) {
                    if (r.is<gr::rate_name>()) a.source = name(r);
                    else if (r.is<gr::rate_unit_name>()) a.unit = name(r);
                    else if (r.is<gr::rate_verdict_src>()) {
                        a.verdict = true;
                        a.source = name(*find<gr::rate_verdict>(r));
                    }
                }
            }
        }
        return a;
    }

    // Consumes n: each rule's subtree is released once converted.
    ast::Decl decl(Node& n) const {
        if (n.is<gr::include_decl>()) {
            ast::Include inc;
            inc.range = range(n);
            inc.path = first_value(n);
            return inc;
        }
        if (n.is<gr::const_decl>()) {
            ast::Const c;
            c.range = range(n);
            c.name = name(*find<gr::const_name>(n));
            if (const Node* s = find<gr::set_lit>(n)) {
                c.is_set = true;
                c.set.kind = ast::SetRef::Kind::Inline;
                c.set.range = range(*s);
                c.set.items = items(*s);
            } else {
                c.value = item(*find<gr::item>(n));
            }
            return c;
        }
        if (n.is<gr::set_decl>()) {
            ast::SetDecl s;
            s.range = range(n);
            s.name = name(*find<gr::set_name>(n));
            s.type = name(*find<gr::set_type>(n));
            if (const Node* f = find<gr::set_file>(n)) {
                s.from_file = true;
                s.file = first_value(*f);
            } else {
                s.items = items(*find<gr::set_lit>(n));
            }
            return s;
        }
        if (n.is<gr::policy_decl>()) {
            ast::Policy p;
            p.range = range(n);
            p.name = name(*find<gr::policy_name>(n));
            p.default_verdict = name(*find<gr::policy_default>(n));
            // Reserved: growing by doubling, 100k rules of ~1 KiB each peaked at twice their size.
            p.rules.reserve(static_cast<std::size_t>(
                std::count_if(n.kids.begin(), n.kids.end(), [](const Node& k) { return k.is<gr::rule_decl>(); })));
            for (auto& k : n.kids)
                if (k.is<gr::rule_decl>()) {
                    p.rules.push_back(rule(k));
                    release(k);
                }
            return p;
        }
        if (n.is<gr::alert_decl>()) return alert(n);
        ast::Test t;  // test_decl
        t.range = range(n);
        t.name = first_value(n);
        if (const Node* pol = find<gr::test_policy>(n)) t.policy = name(*pol);
        for (const auto& k : n.kids) {
            if (!k.is<gr::probe>() && !k.is<gr::first_probe>()) continue;
            ast::Probe pr;
            pr.packet = packet(*find<gr::packet_stmt>(k));
            const Node& ex = *find<gr::expect_stmt>(k);
            pr.expect.range = range(ex);
            pr.expect.verdict = name(*find<gr::verdict>(ex));
            if (const Node* by = find<gr::expect_by>(ex)) pr.expect.by = name(*by);
            t.probes.push_back(std::move(pr));
        }
        return t;
    }

private:
    std::string_view text_;
    FileId file_;
};

bool own_line(std::string_view t, std::uint32_t begin) {
    for (std::uint32_t p = begin; p > 0; --p) {
        char c = t[p - 1];
        if (c == '\n') return true;
        if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
    }
    return true;
}

}  // namespace

ast::File build_file(State& st, FileId id) {
    std::string_view text = st.text;
    ast::File file;
    file.id = id;
    // The parse tree is consumed as it is converted (Builder::release): a large policy's parse
    // tree and syntax tree are not both held in full.
    Builder b(text, id);
    for (auto& n : st.stack.at(0).kids) {
        file.decls.push_back(b.decl(n));
        Builder::release(n);
    }
    for (const auto& [begin, end] : st.comments) {
        ast::Comment c;
        c.text = std::string(text.substr(begin, end - begin));
        while (!c.text.empty() && c.text.back() == '\r') c.text.pop_back();
        c.range = {id, begin, begin + static_cast<std::uint32_t>(c.text.size())};
        c.own_line = own_line(text, begin);
        file.comments.push_back(std::move(c));
    }
    return file;
}

}  // namespace weir::parse_detail
