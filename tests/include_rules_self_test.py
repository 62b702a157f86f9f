#!/usr/bin/env python3
"""include_rules.py on fake trees: a clean tree passes, a new internal include fails (quoted,
angled, through a path), and lab/ headers pass in the demo only.

Usage: include_rules_self_test.py   (exit 0: the rule behaves)
"""
import pathlib
import subprocess
import sys
import tempfile

SCRIPT = pathlib.Path(__file__).resolve().parent / "include_rules.py"

BASE = {
    "include/weir/weir.hpp": "#pragma once\n",
    "runtime/kernel/loaded_policy.hpp": "#pragma once\n",
    "compiler/check/driver.hpp": "#pragma once\n",
    "cli/commands.hpp": '#pragma once\n#include "weir/weir.hpp"\n#include <string>\n',
    "cli/cmd_load.cpp": '#include <nlohmann/json.hpp>\n#include "commands.hpp"\n#include "weir/weir.hpp"\n',
    "daemon/config.hpp": "#pragma once\n#include <vector>\n",
    "daemon/config.cpp": '#include "config.hpp"\n#include <weir/weir.hpp>\n',
}


def run(files):
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        for rel, text in {**BASE, **files}.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        r = subprocess.run([sys.executable, str(SCRIPT), str(root)],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr


CASES = [
    # (what, extra files, expected exit code)
    ("a clean tree", {}, 0),
    ("a new quoted offender", {"cli/cmd_x.cpp": '#include "loaded_policy.hpp"\n'}, 1),
    ("an offender in a header", {"cli/commands.hpp": '#include "driver.hpp"\n'}, 1),
    ("an angled internal header", {"daemon/watch.cpp": "#include <loaded_policy.hpp>\n"}, 1),
    ("a path into runtime/", {"daemon/watch.cpp": '#include "../runtime/kernel/loaded_policy.hpp"\n'}, 1),
    ("a public header that does not exist", {"cli/cmd_x.cpp": '#include "weir/internal.hpp"\n'}, 1),
    ("the demo on the test network", {"lab/testnet.hpp": "#pragma once\n",
                                      "cli/cmd_demo.cpp": '#include "testnet.hpp"\n'}, 0),
    ("another command on the test network", {"lab/testnet.hpp": "#pragma once\n",
                                             "cli/cmd_load.cpp": '#include "testnet.hpp"\n'}, 1),
]


def main():
    bad = 0
    for what, files, want in CASES:
        rc, out = run(files)
        ok = rc == want
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: exit {rc}, expected {want}")
        if not ok:
            print("    " + out.replace("\n", "\n    "))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
