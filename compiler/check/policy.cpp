// Lookups over the checked program.
#include "policy.hpp"

namespace weir {

const char* set_type_name(SetType t) {
    switch (t) {
        case SetType::Ip: return "ip";
        case SetType::Ip4: return "ip4";
        case SetType::Ip6: return "ip6";
        case SetType::Mac: return "mac";
        case SetType::Port: return "port";
        case SetType::Proto: return "proto";
    }
    return "ip";
}

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Pass: return "pass";
        case Verdict::Drop: return "drop";
        case Verdict::Redirect: return "redirect";
        case Verdict::Tx: return "tx";
    }
    return "pass";
}

const char* severity_name(Alert::Severity s) {
    switch (s) {
        case Alert::Severity::Info: return "info";
        case Alert::Severity::Warning: return "warning";
        case Alert::Severity::Critical: return "critical";
    }
    return "warning";
}

const char* alert_source_name(Alert::Source s) {
    switch (s) {
        case Alert::Source::Rule: return "rule";
        case Alert::Source::Verdict: return "verdict";
        case Alert::Source::Malformed: return "malformed";
        case Alert::Source::Default: return "default";
    }
    return "rule";
}

const char* action_name(Action::Kind k) {
    switch (k) {
        case Action::Kind::Pass: return "pass";
        case Action::Kind::Drop: return "drop";
        case Action::Kind::Redirect: return "redirect";
        case Action::Kind::Tx: return "tx";
        case Action::Kind::Count: return "count";
        case Action::Kind::Log: return "log";
    }
    return "pass";
}

int Policy::rule_index(const std::string& n) const {
    for (std::size_t i = 0; i < rules.size(); ++i)
        if (rules[i].name == n) return static_cast<int>(i);
    return -1;
}

int Program::find_policy(const std::string& name) const {
    for (std::size_t i = 0; i < policies.size(); ++i)
        if (policies[i].name == name) return static_cast<int>(i);
    return -1;
}

int Program::find_set(const std::string& name) const {
    for (std::size_t i = 0; i < sets.size(); ++i)
        if (sets[i].name == name) return static_cast<int>(i);
    return -1;
}

}  // namespace weir
