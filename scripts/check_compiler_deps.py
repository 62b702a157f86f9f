#!/usr/bin/env python3
"""The include graph of compiler/: dependencies point down the pipeline and never go round.

Reads the `#include "..."` lines of compiler/STAGE/*.hpp and *.cpp, maps every file to its
pipeline stage (STAGES below; each stage is the folder of that name) and fails when
  - a file of a stage includes a file of a stage it may not use (MAY_USE: a lower stage includes
    a higher one, or anything but the top includes the interpreter);
  - the module graph has a cycle (a module is foo.hpp + foo.cpp; the private parts of a stage's
    module, e.g. codegen_*.cpp and codegen_ctx.hpp, are one module with it: PARTS);
  - a compiler file has no stage (a new file must be placed in STAGES), or lies outside its
    stage's folder.
Includes of files outside compiler/ (bpf-templates' weir_pkt.h, weir_abi.h, parse.h, ...) are
not checked.

usage: check_compiler_deps.py [-v] [SOURCE_DIR]   (-v: print the module graph by stage)
"""
import pathlib
import re
import sys

# Lowest first. core: the one field table and where each field lives in a parsed packet,
# shared by every stage; interp: the reference interpreter and the test frames it runs, which
# only diff, the driver (and tests, outside compiler/) may use; diff: the semantic policy diff,
# which confirms its witnesses with the interpreter.
STAGES = {
    "core": ["source", "diagnostics", "out_of_line", "sha256", "fields", "field_access"],
    "syntax": ["ast", "grammar", "parser", "loader", "ast_dump", "fmt"],
    "check": ["policy", "values", "sema", "limits", "actions", "lint", "condition_sets",
              "checked_dump"],
    "plan": ["plan", "planner", "plan_dump", "classifier", "classifier_tree", "capacity"],
    "codegen": ["codegen"],
    "interp": ["interp", "test_frames", "packet_text"],
    "diff": ["diff"],
    "driver": ["driver", "artifact"],
}
ORDER = ["core", "syntax", "check", "plan", "codegen"]
MAY_USE = {s: set(ORDER[: i + 1]) for i, s in enumerate(ORDER)}
MAY_USE["interp"] = {"core", "syntax", "check", "interp"}
MAY_USE["diff"] = {"core", "syntax", "check", "interp", "diff"}
MAY_USE["driver"] = set(STAGES)

# Files named PREFIX_* that are parts of the module PREFIX (split by concern, private headers).
PARTS = ["codegen", "sema", "lint", "condition_sets", "parser", "fmt", "diff"]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(stem):
    for p in PARTS:
        if stem.startswith(p + "_"):
            return p
    return stem


def stage_of(module):
    for stage, modules in STAGES.items():
        if module in modules:
            return stage
    return None


def find_cycle(graph):
    """One cycle of the module graph as a list of modules, or None."""
    state = {}  # 1: on the current path, 2: done
    path = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    root = pathlib.Path(args[0] if args else pathlib.Path(__file__).resolve().parent.parent)
    compiler = root / "compiler"
    files = sorted(p for p in compiler.rglob("*") if p.suffix in (".hpp", ".cpp"))
    names = {p.name for p in files}
    errors = []
    graph = {}  # module -> modules it includes
    why = {}    # (module, module) -> one include line that makes the edge
    for p in files:
        mod = module_of(p.stem)
        rel = p.relative_to(root)
        if stage_of(mod) is None:
            errors.append(f"{rel}: no stage; add module '{mod}' to STAGES in {__file__}")
            continue
        if p.parent != compiler / stage_of(mod):
            errors.append(f"{rel}: module '{mod}' is of the {stage_of(mod)} stage: move it to "
                          f"compiler/{stage_of(mod)}/")
        graph.setdefault(mod, set())
        for n, line in enumerate(p.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) not in names:
                continue
            target = module_of(pathlib.Path(m.group(1)).stem)
            if target == mod:
                continue
            graph[mod].add(target)
            why.setdefault((mod, target), f"{rel}:{n}: #include \"{m.group(1)}\"")
            src_stage, dst_stage = stage_of(mod), stage_of(target)
            if dst_stage is not None and dst_stage not in MAY_USE[src_stage]:
                errors.append(f"{rel}:{n}: {src_stage} stage includes {m.group(1)} "
                              f"of the {dst_stage} stage")
    cycle = find_cycle(graph)
    if cycle:
        errors.append("include cycle: " + " -> ".join(cycle))
        errors.extend("  " + why[(a, b)] for a, b in zip(cycle, cycle[1:]))
    if verbose:
        for stage in STAGES:
            print(f"[{stage}]")
            for mod in STAGES[stage]:
                if mod in graph:
                    print(f"  {mod} -> {', '.join(sorted(graph[mod])) or '-'}")
    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print(f"compiler include graph: {len(files)} files, {len(graph)} modules, no cycle, "
              "dependencies point down the pipeline")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
