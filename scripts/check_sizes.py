#!/usr/bin/env python3
"""Reports product source files over the line limit and function bodies over
the function limit. Functions are found lexically (comments and string
literals removed, then a '{' that follows a parameter list), which is enough
for this codebase's style; lambdas count as functions of their own too.

usage: check_sizes.py ROOT [--file-limit N] [--function-limit N]
       check_sizes.py --self-test   (the check on made-up sources)
exit 1 when something is over a limit."""
import argparse
import pathlib
import re
import sys

PRODUCT_DIRS = ["compiler", "runtime", "daemon", "lab", "cli", "include"]
NOT_FUNCTIONS = {"if", "for", "while", "switch", "catch", "return", "sizeof",
                 "alignof", "decltype", "static_assert", "defined"}


def strip(text):
    """Blank out comments and literals, keeping newlines so lines still count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == '_')):
            k = text.find("(", i + 2)
            delim = ")" + text[i + 2:k] + '"'
            j = text.find(delim, k)
            j = n if j < 0 else j + len(delim)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i-1].isalnum():   # digit separator 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


HEAD_RE = re.compile(
    r"\)\s*(?:const\s*)?(?:noexcept(?:\s*\([^()]*\))?\s*)?(?:override\s*)?(?:final\s*)?"
    r"(?:mutable\s*)?(?:->\s*[\w:<>,\s\*&]+?)?\s*(?::[^;{}]*)?$")


def functions(code):
    """Yields (name, first_line, last_line) of every function-like body."""
    stack = []
    line_of = [0] * (len(code) + 1)
    line = 1
    for i, ch in enumerate(code):
        line_of[i] = line
        if ch == "\n":
            line += 1
    last_stop = 0
    for i, ch in enumerate(code):
        if ch == "{":
            head = code[last_stop:i]
            name = None
            m = HEAD_RE.search(head)
            if m:
                # find the '(' that matches the ')' the head ends on
                depth, k = 0, m.start()
                while k >= 0:
                    if head[k] == ")":
                        depth += 1
                    elif head[k] == "(":
                        depth -= 1
                        if depth == 0:
                            break
                    k -= 1
                before = head[:max(k, 0)].rstrip()
                word = re.search(r"([\w:~]+|\])\s*$", before)
                if word:
                    w = word.group(1)
                    if w == "]":
                        name = "lambda"
                    elif w.split("::")[-1] not in NOT_FUNCTIONS:
                        name = w
            stack.append((name, i))
            last_stop = i + 1
        elif ch == "}":
            if stack:
                name, start = stack.pop()
                if name:
                    yield name, line_of[start], line_of[i]
            last_stop = i + 1
        elif ch == ";":
            last_stop = i + 1


def self_test():
    """Long functions of each shape are found, and braces in literals and comments are not."""
    body = "    x();\n" * 121
    cases = [
        ("a long free function", "int f(int a) {\n" + body + "}\n", 1),
        ("a long method", "void S::run() const {\n" + body + "}\n", 1),
        ("a long lambda", "auto g = [&](int v) {\n" + body + "};\n", 1),
        ("a long constructor", "S::S(int a) : a_(a) {\n" + body + "}\n", 1),
        ("a long if inside a short function", "void f() {\n if (x) {\n" + body + "}\n}\n", 1),
        ("a long class is not a function", "struct S {\n" + "    int a;\n" * 130 + "};\n", 0),
        ("braces in strings and comments", 'void f() {\n  s = "}}}"; // }\n  /* { */\n' + body + "}\n", 1),
        ("a short function", "int f() {\n" + "    x();\n" * 100 + "}\n", 0),
    ]
    bad = 0
    for what, text, want in cases:
        found = [n for n, a, b in functions(strip(text)) if b - a + 1 > 120]
        ok = (len(found) > 0) == bool(want)
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {found}")
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--file-limit", type=int, default=600)
    ap.add_argument("--function-limit", type=int, default=120)
    args = ap.parse_args()
    root = pathlib.Path(args.root)
    problems = []
    for d in PRODUCT_DIRS:
        for path in sorted((root / d).rglob("*")):
            if path.suffix not in (".cpp", ".hpp", ".h"):
                continue
            text = path.read_text()
            rel = path.relative_to(root)
            lines = text.count("\n")
            if lines > args.file_limit:
                problems.append(f"{rel}: {lines} lines (limit {args.file_limit})")
            for name, first, last in functions(strip(text)):
                length = last - first + 1
                if length > args.function_limit:
                    problems.append(f"{rel}:{first}: function {name} is {length} lines "
                                    f"(limit {args.function_limit})")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
