#!/usr/bin/env python3
"""Check that docs/API.md names everything the public headers declare.

    python3 tests/docs/check_api.py [REPO]

The public headers are include/setowire.h and src/storage/sqlite.h (installed as
setowire-sqlite.h). Comments are stripped first, so a name only mentioned in a comment
is not counted as declared. The check fails, listing what is missing, when API.md
(as a whole word) lacks:
  - a function: every `sw_*(` declared (typedef'd callback types are not functions);
  - a constant: every `SW_*` macro or enumerator (error codes, events, reasons,
    flags, limits);
  - a field of `sw_options` in the "Options" section's table;
  - a field of `sw_event` in the "Events" section.
A new public call, event, flag or option therefore cannot land without its line in
the reference page.
"""
import os
import re
import sys

HEADERS = ("include/setowire.h", "src/storage/sqlite.h")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def struct_fields(code, name):
    """Field names of `typedef struct NAME {...} NAME;` (pointers, arrays, function
    pointers and comma lists included)."""
    m = re.search(r"typedef\s+struct\s+" + name + r"\s*\{(.*?)\}\s*" + name + r"\s*;",
                  code, flags=re.S)
    if not m:
        return None
    fields = []
    for decl in m.group(1).split(";"):
        decl = decl.strip()
        if not decl:
            continue
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", decl)
        if fp:  # a function pointer
            fields.append(fp.group(1))
            continue
        decl = re.sub(r"\[[^\]]*\]", "", decl)  # array bounds
        # "int lan, dht, http": the first piece holds the type too
        for part in decl.split(","):
            words = re.findall(r"\w+", part)
            if words:
                fields.append(words[-1])
    return fields


def section(md, title):
    """The text of the '## title' (or '### title') section, up to the next heading of
    the same or a higher level."""
    m = re.search(r"^(#+) " + re.escape(title) + r"\s*$", md, flags=re.M)
    if not m:
        return ""
    level = len(m.group(1))
    rest = md[m.end():]
    end = re.search(r"^#{1,%d} " % level, rest, flags=re.M)
    return rest[: end.start()] if end else rest


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(repo, "docs", "API.md"), encoding="utf-8") as f:
        md = f.read()
    code = ""
    for h in HEADERS:
        with open(os.path.join(repo, h), encoding="utf-8") as f:
            code += strip_comments(f.read()) + "\n"

    def named(name, text):
        return re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text) is not None

    problems = []
    funcs = sorted(set(re.findall(r"\b(sw_\w+)\s*\(", code)))
    guards = set(re.findall(r"#ifndef\s+(\w+)\s*\n\s*#define\s+\1\b", code))
    consts = sorted(set(re.findall(r"\b(SW_[A-Z0-9_]+)\b", code)) - guards)
    for fn in funcs:
        if not named(fn, md):
            problems.append(f"function {fn} is declared but docs/API.md never names it")
    for c in consts:
        if not named(c, md):
            problems.append(f"constant {c} is declared but docs/API.md never names it")

    checks = (("sw_options", "Options"), ("sw_event", "Events"))
    for struct, title in checks:
        fields = struct_fields(code, struct)
        text = section(md, title)
        if fields is None:
            problems.append(f"struct {struct} not found in the headers")
            continue
        if not text:
            problems.append(f'docs/API.md has no "{title}" section')
            continue
        for fld in fields:
            if fld == "type" and struct == "sw_event":
                continue  # the table's rows are the types
            if not re.search(r"`[^`]*\b" + re.escape(fld) + r"\b[^`]*`", text):
                problems.append(f'{struct}.{fld} is not in API.md\'s "{title}" section')

    if len(funcs) < 10 or len(consts) < 10:
        problems.append(f"only {len(funcs)} functions and {len(consts)} constants found: "
                        "has the header moved?")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(funcs)} functions, {len(consts)} constants, "
          f"sw_options and sw_event fields all in docs/API.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
