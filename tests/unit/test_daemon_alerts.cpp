// The alert evaluator (daemon/alerts.*): rates from synthetic counter readings on a fake clock,
// every transition of the state machine, reloads that keep, change or remove a firing alert.
#include <doctest/doctest.h>

#include "alerts.hpp"
#include "daemon.hpp"
#include "lint.hpp"

using namespace weir;
using namespace std::chrono_literals;
using alerts::Evaluator;
using alerts::Event;
using alerts::State;

namespace {

const Evaluator::Time t0{};  // the fake clock: readings carry their own time

api::AlertDef def(const std::string& name, const std::string& op, double threshold,
                  std::chrono::milliseconds hold, const std::string& source = "rule",
                  const std::string& counter = "ssh", bool bytes = false) {
    api::AlertDef d;
    d.name = name;
    d.policy = "edge";
    d.source = source;
    d.counter = counter;
    d.bytes = bytes;
    d.op = op;
    d.threshold = threshold;
    d.for_duration = hold;
    d.severity = "warning";
    d.message = "m";
    d.text = name + op + std::to_string(threshold) + source + counter + std::to_string(hold.count()) +
             (bytes ? "b" : "p");
    return d;
}

// A reading at t0 + `at` with the rule "ssh" at `packets` (bytes = 100 * packets) and the
// other counters derived from it.
api::Counters reading(std::chrono::milliseconds at, std::uint64_t packets) {
    api::Counters c;
    c.policy = "edge";
    c.taken = t0 + at;
    c.rules.push_back({"ssh", "drop", {packets, packets * 100}, 0});
    c.verdicts["drop"] = {packets * 2, packets * 200};
    c.malformed = {packets / 2, packets * 30};
    c.default_decisions = {packets * 3, 0};
    return c;
}

State state(const Evaluator& e, std::size_t i = 0) { return e.status().at(i).state; }

}  // namespace

TEST_CASE("rates come from consecutive readings, per second, of the chosen counter") {
    Evaluator e;
    e.set_alerts({def("p", ">", 0, 0ms), def("b", ">", 0, 0ms, "rule", "ssh", true),
                  def("v", ">", 0, 0ms, "verdict", "drop"), def("m", ">", 0, 0ms, "malformed", ""),
                  def("d", ">", 0, 0ms, "default", ""), def("gone", ">", 0, 0ms, "rule", "nosuch")},
                 t0);
    e.observe(reading(0ms, 1000));
    for (const auto& s : e.status()) CHECK(!s.value);  // one reading: no rate yet
    e.observe(reading(2000ms, 1100));                    // +100 packets in 2 s
    auto st = e.status();
    CHECK(*st[0].value == doctest::Approx(50));
    CHECK(*st[1].value == doctest::Approx(5000));
    CHECK(*st[2].value == doctest::Approx(100));
    CHECK(*st[3].value == doctest::Approx(25));
    CHECK(*st[4].value == doctest::Approx(150));
    CHECK(!st[5].value);  // the reading has no such rule
    CHECK(st[5].state == State::Inactive);
    e.observe(reading(2500ms, 10));  // went backwards (reset): no rate, no transition
    CHECK(!e.status()[0].value);
    CHECK(e.status()[0].state == State::Firing);
}

TEST_CASE("inactive -> pending -> firing -> resolving -> resolved, with `for` as the hold") {
    Evaluator e;
    e.set_alerts({def("scan", ">", 50, 2000ms)}, t0);
    std::uint64_t n = 0;
    auto step = [&](int sec, std::uint64_t pps) {
        n += pps;
        return e.observe(reading(std::chrono::milliseconds(sec * 1000), n));
    };
    CHECK(step(0, 0).empty());
    CHECK(step(1, 10).empty());
    CHECK(state(e) == State::Inactive);
    CHECK(step(2, 60).empty());  // over: pending since t=2
    CHECK(state(e) == State::Pending);
    CHECK(step(3, 60).empty());  // 1 s of 2
    CHECK(state(e) == State::Pending);
    auto ev = step(4, 70);  // held 2 s: fires
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == Event::Kind::Firing);
    CHECK(ev[0].alert.name == "scan");
    CHECK(*ev[0].value == doctest::Approx(70));
    CHECK(state(e) == State::Firing);
    CHECK(e.status()[0].firings == 1);
    CHECK(step(5, 80).empty());  // still firing: no repeated event
    CHECK(step(6, 0).empty());   // under: resolving, still reported firing
    CHECK(state(e) == State::Firing);
    CHECK(step(7, 90).empty());  // over again before the hold: back to firing, no event
    CHECK(state(e) == State::Firing);
    CHECK(step(8, 0).empty());
    CHECK(step(9, 0).empty());
    ev = step(10, 0);  // quiet for 2 s: resolved
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == Event::Kind::Resolved);
    CHECK(ev[0].reason == "condition");
    CHECK(ev[0].active_seconds == doctest::Approx(6));  // fired at 4, resolved at 10
    CHECK(state(e) == State::Inactive);
    CHECK(e.status()[0].firings == 1);
}

TEST_CASE("pending that drops under the threshold goes back to inactive without an event") {
    Evaluator e;
    e.set_alerts({def("scan", ">=", 50, 3000ms)}, t0);
    e.observe(reading(0ms, 0));
    CHECK(e.observe(reading(1000ms, 50)).empty());  // >= 50: pending
    CHECK(state(e) == State::Pending);
    CHECK(e.observe(reading(2000ms, 60)).empty());  // 10/s: inactive
    CHECK(state(e) == State::Inactive);
    CHECK(e.observe(reading(3000ms, 120)).empty());  // pending again, the clock restarts
    CHECK(e.observe(reading(5000ms, 300)).empty());  // 2 s of 3
    CHECK(e.observe(reading(6000ms, 400)).size() == 1);  // 3 s: fires
}

TEST_CASE("`for 0` fires on the first evaluation over and resolves on the first under, < and <=") {
    Evaluator e;
    e.set_alerts({def("now", ">", 10, 0ms), def("quiet", "<", 5, 0ms), def("le", "<=", 5, 0ms)}, t0);
    e.observe(reading(0ms, 0));
    auto ev = e.observe(reading(1000ms, 20));  // 20/s
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].alert.name == "now");
    ev = e.observe(reading(2000ms, 25));  // 5/s: `now` resolves, `le` fires, `quiet` not (< 5)
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].alert.name == "now");
    CHECK(ev[0].kind == Event::Kind::Resolved);
    CHECK(ev[1].alert.name == "le");
    CHECK(ev[1].kind == Event::Kind::Firing);
    CHECK(state(e, 1) == State::Inactive);
}

TEST_CASE("fractional intervals: the rate is per second of the readings' own times") {
    Evaluator e;
    e.set_alerts({def("x", ">", 99, 0ms)}, t0);
    e.observe(reading(0ms, 0));
    auto ev = e.observe(reading(250ms, 25));  // 25 in 0.25 s = 100/s
    REQUIRE(ev.size() == 1);
    CHECK(*ev[0].value == doctest::Approx(100));
    CHECK(e.observe(reading(250ms, 30)).empty());  // no time passed: no rate
    CHECK(!e.status()[0].value);
}

TEST_CASE("reloads: a kept alert keeps its state, a removed or changed firing one resolves") {
    Evaluator e;
    e.set_alerts({def("kept", ">", 10, 0ms), def("removed", ">", 10, 0ms), def("changed", ">", 10, 0ms)}, t0);
    e.observe(reading(0ms, 0));
    CHECK(e.observe(reading(1000ms, 100)).size() == 3);  // all fire
    auto ev = e.set_alerts({def("changed", ">", 500, 0ms), def("kept", ">", 10, 0ms), def("new", ">", 10, 0ms)},
                           t0 + 1500ms);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].alert.name == "removed");
    CHECK(ev[0].reason == "removed");
    CHECK(ev[0].active_seconds == doctest::Approx(0.5));
    CHECK(ev[1].alert.name == "changed");
    CHECK(ev[1].reason == "changed");
    CHECK(ev[1].alert.threshold == 10);  // the old definition resolves
    auto st = e.status();
    REQUIRE(st.size() == 3);
    CHECK(st[0].alert.name == "changed");
    CHECK(st[0].state == State::Inactive);
    CHECK(st[0].firings == 1);  // counted under its name across the change
    CHECK(st[1].alert.name == "kept");
    CHECK(st[1].state == State::Firing);
    CHECK(st[2].state == State::Inactive);
    // The readings continue across the reload: the next one has a rate at once.
    ev = e.observe(reading(2000ms, 200));
    REQUIRE(ev.size() == 1);  // `new` fires (100/s > 10); `kept` stays firing without an event
    CHECK(ev[0].alert.name == "new");
    CHECK(e.set_alerts({}, t0 + 3000ms).size() == 2);  // kept + new resolve as removed
    CHECK(e.empty());
}

TEST_CASE("the daemon evaluates alerts as often as `weir check` assumes, its retry backoff") {
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(weir::daemon::kTickInterval).count() ==
          static_cast<long long>(weir::kAlertEvaluationMs));
    using std::chrono::seconds;
    const seconds want[] = {seconds(1), seconds(2), seconds(4), seconds(8), seconds(16), seconds(32), seconds(60), seconds(60)};
    for (unsigned k = 0; k < std::size(want); ++k) CHECK(weir::daemon::retry_delay(k + 1) == want[k]);
    CHECK(weir::daemon::retry_delay(1000) == seconds(60));
}
