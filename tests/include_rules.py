#!/usr/bin/env python3
"""Fails when the CLI or the daemon includes an internal header of weir.

Usage: include_rules.py REPO_ROOT [ALLOW_LIST]   (default: REPO_ROOT/tests/include_rules.allow)

The CLI (cli/) and the daemon (daemon/) are clients of the public API: their sources and headers
may include
  - the public headers, "weir/NAME" (include/weir/NAME must exist),
  - a header of their own folder ("commands.hpp" in cli/, "config.hpp" in daemon/),
  - third-party and standard headers, written <...> (an angle include that names a header of
    weir's own tree, e.g. <loaded_policy.hpp>, is internal all the same).
Any other quoted include is internal.

ALLOW_LIST holds the offenders still tolerated, one `FILE HEADER` pair a line (FILE relative to
REPO_ROOT, HEADER as written in the include; `#` starts a comment). It may only shrink: a pair
that no longer occurs fails too, so the list says exactly what is left to move behind the API.
"""
import os
import pathlib
import re
import sys

CLIENTS = ("cli", "daemon")
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
                if quote == '"' or names_internal(header, internals):
                    found.append((rel, header))
    return found


def read_allow(path):
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise SystemExit(f"include_rules: {path}:{n}: expected `FILE HEADER`, got {line!r}")
        pairs.append(tuple(parts))
    return pairs


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = pathlib.Path(argv[1]).resolve()
    allow_path = pathlib.Path(argv[2]) if len(argv) == 3 else root / "tests" / "include_rules.allow"
    allowed = set(read_allow(allow_path))
    found = offenders(root)
    rc = 0
    for f, h in found:
        if (f, h) not in allowed:
            print(f'  {f}: includes internal "{h}": use include/weir/ (add the smallest public call)')
            rc = 1
    for f, h in sorted(allowed - set(found)):
        print(f"  {allow_path.name}: `{f} {h}` no longer occurs: remove it from the list")
        rc = 1
    tolerated = sum(1 for p in found if p in allowed)
    print(f"include_rules: {len(found)} internal includes in {', '.join(CLIENTS)}, {tolerated} allow-listed"
          + ("" if rc == 0 else ": FAILED"))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
