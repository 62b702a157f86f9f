#!/usr/bin/env python3
"""Fails when an option of the weir command line is passed to weir by no test.

Usage: option_coverage.py WEIR_BINARY REPO_ROOT

The options are what CLI11 registers, listed by the binary itself (`weir --list-options`, a
hidden flag): per subcommand, every option (hidden test hooks included, --help excluded) and,
for an option checked against a fixed set (IsMember), every value of the set.

The rule, so that a mention is not mistaken for a test: the test scripts (tests/cli/*.sh,
tests/kernel/*.sh) are read as shell, without comments and here-documents, and an option counts
as tested only where it is an argument of a weir invocation with that subcommand:
  - the binary is `$WEIR`, `$weir` (or `${...}`), or `$0` of a `sh -c` / `bash -c` script whose
    `$0` is one of those;
  - the subcommand is the first argument that names one; the arguments end at the first shell
    operator (`|`, `;`, `&&`, `>`, ...);
  - an option is `--name`, `--name=VALUE` or `-n` among those arguments; a value of a set is the
    argument after the option (or after `=`), or for a positional with a set, any argument;
  - a shell function whose body runs weir with a subcommand and "$@" (a wrapper such as
    `start_daemon`) passes its own arguments: a call of it in the same script is an invocation.
Arguments held in variables (`"$1"`, `"${ARGS[@]}"`) are not looked into.
"""
import json
import pathlib
import re
import shlex
import subprocess
import sys

WEIR_REFS = {"$WEIR", "${WEIR}", "$weir", "${weir}"}
OPERATORS = {"|", "||", "&", "&&", ";", ";;", "(", ")", ">", ">>", "<", "<<", ">&", "<&", "&>", "|&", "<<<"}


def logical_lines(text):
    """(line number, tokens) of each shell command line: comments and here-documents dropped,
    continuation lines and multi-line quoted strings joined."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        chunk = lines[i]
        i += 1
        heredoc = re.search(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z_0-9]*)\1", chunk)
        while True:
            if chunk.endswith("\\") and i < len(lines):
                chunk = chunk[:-1] + " " + lines[i]
                i += 1
                continue
            try:
                lexer = shlex.shlex(chunk, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                lexer.commenters = "#"
                tokens = list(lexer)
                break
            except ValueError:  # an open quote: the string goes on on the next line
                if i >= len(lines) or i - start > 200:
                    tokens = []
                    break
                chunk += "\n" + lines[i]
                i += 1
        if heredoc:
            end = heredoc.group(2)
            while i < len(lines) and lines[i].strip() != end:
                i += 1
            i += 1
        yield start + 1, tokens


def invocations(tokens, commands, wrappers, refs=WEIR_REFS):
    """(subcommand, args, uses "$@") of each weir invocation in one command line's tokens."""
    out = []
    for k, t in enumerate(tokens):
        # `sh -c 'SCRIPT' "$WEIR" ...`: SCRIPT's $0 is weir.
        if t in ("-c",) and k + 2 < len(tokens) and k >= 1 and tokens[k - 1] in ("sh", "bash") \
                and tokens[k + 2] in refs:
            try:
                inner = shlex.split(tokens[k + 1], comments=True)
            except ValueError:
                inner = []
            out += invocations(inner, commands, wrappers, refs | {"$0", "${0}"})
        if t in refs:
            args = []
            for a in tokens[k + 1:]:
                if a in OPERATORS or (a[:1] in "<>|&;" and a.strip("<>|&;") == ""):
                    break
                args.append(a)
            sub = next((a for a in args if a in commands), None)
            rest = args[args.index(sub) + 1:] if sub else args  # no subcommand: top-level options
            out.append((sub, rest, "$@" in rest))
        elif t in wrappers and (k == 0 or tokens[k - 1] in OPERATORS or tokens[k - 1] in ("then", "do", "else", "!")):
            sub, fixed = wrappers[t]
            args = []
            for a in tokens[k + 1:]:
                if a in OPERATORS:
                    break
                args.append(a)
            out.append((sub, fixed + args, False))
    return out


def script_invocations(path, commands):
    text = path.read_text(errors="replace")
    parsed = list(logical_lines(text))
    # Wrapper functions: `name() {` ... `}` whose body runs weir SUB ... "$@".
    wrappers = {}
    current = None
    for _, tokens in parsed:
        if len(tokens) >= 2 and (tokens[1] == "()" or tokens[1:3] == ["(", ")"]) \
                and re.fullmatch(r"[A-Za-z_][\w-]*", tokens[0]):
            current = tokens[0]
        for sub, args, forwards in invocations(tokens, commands, {}):
            if forwards and current and sub:
                wrappers[current] = (sub, [a for a in args if a != "$@"])
        if tokens[-1:] == ["}"]:
            current = None
    found = []
    for line, tokens in parsed:
        for sub, args, _ in invocations(tokens, commands, wrappers):
            found.append((line, sub, args))
    return found


def option_used(opt, args):
    names = opt["names"]
    if opt["positional"]:
        return True  # positionals are not options to pass; their values are checked below
    for a in args:
        for n in names:
            if a == n or (n.startswith("--") and a.startswith(n + "=")):
                return True
            if not n.startswith("--") and len(n) == 2 and a.startswith(n) and len(a) > 2 and not a.startswith("--"):
                return True  # -c5
    return False


def value_used(opt, value, args):
    if opt["positional"]:
        return value in args
    for k, a in enumerate(args):
        for n in opt["names"]:
            if a == n and k + 1 < len(args) and args[k + 1] == value:
                return True
            if n.startswith("--") and a == n + "=" + value:
                return True
    return False


def main():
    weir, root = sys.argv[1], pathlib.Path(sys.argv[2])
    listing = json.loads(subprocess.run([weir, "--list-options"], check=True, capture_output=True, text=True).stdout)
    commands = {o["command"] for o in listing if o["command"]}
    scripts = sorted((root / "tests" / "cli").glob("*.sh")) + sorted((root / "tests" / "kernel").glob("*.sh"))
    uses = []
    for s in scripts:
        uses += [(s.relative_to(root), line, sub, args) for line, sub, args in script_invocations(s, commands)]
    if not uses:
        print("option_coverage: no weir invocation found in the test scripts: the rule is broken")
        return 1
    missing = []
    for opt in listing:
        cmd = opt["command"] or None  # None: top-level options (--version)
        calls = [args for _, _, sub, args in uses if sub == cmd]
        label = f"weir {opt['command']} {'|'.join(opt['names'])}".replace("  ", " ")
        if not any(option_used(opt, a) for a in calls):
            missing.append(label + (" (hidden)" if opt["hidden"] else ""))
            continue
        for v in opt["choices"]:
            if not any(value_used(opt, v, a) for a in calls):
                missing.append(f"{label} {v}")
    total = sum(1 + len(o["choices"]) for o in listing)
    print(f"option_coverage: {len(uses)} weir invocations in {len(scripts)} scripts; "
          f"{total - len(missing)} of {total} options and values passed by some test")
    for m in missing:
        print(f"  untested: {m}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
