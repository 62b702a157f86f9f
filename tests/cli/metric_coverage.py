#!/usr/bin/env python3
"""Fails when a metric family of `weir daemon` is asserted with a value by no test, or when the
families exported and the table of docs/cli.md differ.

Usage: metric_coverage.py REPO_ROOT

The families are the `family("NAME", ...)` calls of daemon/*.cpp (every family the
daemon renders on /metrics, samples or not).

The rule: a family counts as asserted where a test script (tests/cli/*.sh, tests/kernel/*.sh,
read as shell without comments and here-documents) passes a sample of it, `NAME` or
`NAME{LABELS}`, to lib.sh's `expect_metric` or `wait_metric` (which compare the scraped value,
the second until a deadline) or `metric`
(which prints the value for the script to compare), directly or through a variable the same
script assigns (`STATE="NAME{...}"` ... `metric "$STATE"`). A name in a message, a grep for the
sample line, or a comment does not count.
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from option_coverage import logical_lines  # noqa: E402


def exported(root):
    names = []
    for src in sorted((root / "daemon").glob("*.cpp")):
        names += re.findall(r'\bfamily\(\s*"(weir_[a-z0-9_]+)"', src.read_text())
    return names


def documented(root):
    # The metric table of docs/cli.md: rows `| `NAME`, `NAME2` | type | ...`.
    names = []
    for line in (root / "docs" / "cli.md").read_text().splitlines():
        if line.startswith("| `weir_") and ("| counter |" in line or "| gauge |" in line):
            names += re.findall(r"`(weir_[a-z0-9_]+)`", line.split("|")[1])
    return names


def asserted(root):
    found = {}
    scripts = sorted((root / "tests" / "cli").glob("*.sh")) + sorted((root / "tests" / "kernel").glob("*.sh"))
    for s in scripts:
        parsed = list(logical_lines(s.read_text(errors="replace")))
        assigned = {}
        for _, tokens in parsed:
            for t in tokens:
                m = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", t, re.S)
                if m:
                    assigned.setdefault(m.group(1), []).append(m.group(2))
        for line, tokens in parsed:
            args = []
            for k, t in enumerate(tokens):
                if t in ("expect_metric", "wait_metric") and k + 2 < len(tokens):
                    args.append(tokens[k + 2])
                elif t == "metric" and k + 1 < len(tokens) and (k == 0 or tokens[k - 1] in ("$(", "(", "|", ";", "&&")
                                                                 or tokens[k - 1].endswith("$(")):
                    args.append(tokens[k + 1])
                # a command substitution inside a quoted word: "$(metric NAME{...})"
                args += re.findall(r"\$\(\s*metric\s+([^\s)]+)", t)
            for arg in args:
                m = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?", arg)
                for value in assigned.get(m.group(1), []) if m else [arg]:
                    fam = re.match(r"(weir_[a-z0-9_]+)(\{|$)", value)
                    if fam:
                        found.setdefault(fam.group(1), f"{s.relative_to(root)}:{line}")
    return found


def main():
    root = pathlib.Path(sys.argv[1])
    fams = exported(root)
    if not fams:
        print("metric_coverage: no metric family found in daemon/*.cpp: the rule is broken")
        return 1
    docs = documented(root)
    seen = asserted(root)
    rc = 0
    for f in sorted(set(fams) - set(docs)):
        print(f"  exported but not in the table of docs/cli.md: {f}")
        rc = 1
    for f in sorted(set(docs) - set(fams)):
        print(f"  in docs/cli.md but not exported: {f}")
        rc = 1
    missing = [f for f in fams if f not in seen]
    print(f"metric_coverage: {len(fams) - len(missing)} of {len(fams)} families asserted with a value")
    for f in fams:
        print(f"  {f}: {seen[f] if f in seen else 'NOT ASSERTED'}")
    return 1 if missing or rc else 0


if __name__ == "__main__":
    sys.exit(main())
