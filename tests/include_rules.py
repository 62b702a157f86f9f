#!/usr/bin/env python3
"""Fails when the CLI or the daemon includes an internal header of weir.

Usage: include_rules.py REPO_ROOT

The CLI (cli/) and the daemon (daemon/) are clients of the public API: their sources and headers
may include
  - the public headers, "weir/NAME" (include/weir/NAME must exist),
  - a header of their own folder ("commands.hpp" in cli/, "config.hpp" in daemon/),
  - third-party and standard headers, written <...> (an angle include that names a header of
    weir's own tree, e.g. <loaded_policy.hpp>, is internal all the same),
  - for the live demo (cli/cmd_demo.cpp) only: the test network and traffic helpers of lab/.
Any other quoted include is internal.
"""
import os
import pathlib
import re
import sys

CLIENTS = ("cli", "daemon")
LAB_CLIENTS = ("cli/cmd_demo.cpp",)
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def internal_headers(root):
    """Every header of weir's own tree outside include/, as paths relative to root."""
    out = []
    for d, dirs, files in os.walk(root):
        rel = pathlib.Path(d).relative_to(root)
        # build trees, .git and the public headers are not internal sources
        dirs[:] = [x for x in dirs if not x.startswith((".", "build")) and not (rel == pathlib.Path(".") and x == "include")]
        out += [(rel / f).as_posix() for f in files if f.endswith((".hpp", ".h"))]
    return out


def names_internal(header, internals):
    h = header.lstrip("./")
    return any(p == h or p.endswith("/" + h) for p in internals)


def offenders(root):
    internals = internal_headers(root)
    found = []
    for client in CLIENTS:
        folder = root / client
        if not folder.is_dir():
            continue
        for src in sorted(folder.iterdir()):
            if src.suffix not in SOURCE_SUFFIXES:
                continue
            rel = src.relative_to(root).as_posix()
            for quote, header in INCLUDE.findall(src.read_text(errors="replace")):
                if header.startswith("weir/") and (root / "include" / header).is_file():
                    continue
                if quote == '"' and "/" not in header and (folder / header).is_file():
                    continue
                if rel in LAB_CLIENTS and quote == '"' and (root / "lab" / header).is_file():
                    continue
                if quote == '"' or names_internal(header, internals):
                    found.append((rel, header))
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = pathlib.Path(argv[1]).resolve()
    found = offenders(root)
    for f, h in found:
        print(f'  {f}: includes internal "{h}": use include/weir/ (add the smallest public call)')
    print(f"include_rules: {len(found)} internal includes in {', '.join(CLIENTS)}" + (": FAILED" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
