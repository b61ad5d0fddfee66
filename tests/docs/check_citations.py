#!/usr/bin/env python3
"""Check that every protocol citation in the code resolves in docs/.

    python3 tests/docs/check_citations.py [REPO]

The citation scheme is stated at the top of docs/PROTOCOL.md:
  PROTOCOL.md 9.4            section 9.4 of docs/PROTOCOL.md
  PROTOCOL.md 14.3 step 7    a step of that section
  PROTOCOL.md 19 NAME        a row of the constants table (NAME must appear in section 19)
  PROTOCOL.md 17.22          an item of the table of differences
  PROTOCOL.md Appendix A     an appendix
  D19                        the defect entry D19 of section 18
  (14.6)                     a bare section number in parentheses, in a comment

"docs/PROTOCOL.md" followed by a section number is refused: that form cited the
numbering of an earlier version of the page, so a leftover would resolve to the wrong
section; write "PROTOCOL.md <number>".

Files under src/ include/ tools/ tests/ bench/ docs/ are scanned. The check fails,
listing each offender as path:line, when a cited section, appendix, constant or defect
tag has no heading or table entry in docs/PROTOCOL.md, when a section is cited by a
quoted name instead of its number, and on any mention of the folder beside the
repository that held the references' material ("..", "/", "shared"): everything the
project needs must be in the repository.

SW_CITATIONS_EXCLUDE (comma- or colon-separated paths relative to the repository) skips
files, for checking by hand while a file is being reworked elsewhere. The registered
test (ctest docs/test_citations) never sets it.
"""
import os
import re
import sys

SCAN_DIRS = ("src", "include", "tools", "tests", "bench", "docs")
SCAN_EXT = (".c", ".h", ".py", ".js", ".md", ".txt", ".sh", ".cmake", ".in")
SKIP_DIRS = ("tests/vectors", "tests/fuzz/corpus")
SHARED = "../" + "shared"  # written in two pieces so this file does not match itself

SECTION = r"\d{1,2}(?:\.\d{1,2})*"
REF = rf"(?:{SECTION}|Appendix [A-Z]|D\d{{1,2}})"
SEP = r"\s*(?:,|/|-|–|\band\b|\bor\b)\s*"
CITE = re.compile(rf"\b(?:docs/)?PROTOCOL(?:\.md)?[ \t]+(?:§\s*)?({REF}(?:{SEP}{REF})*)"
                  rf"(?:[ \t]+step[ \t]+(\d+))?(?:,?[ \t]+(?!PROTOCOL\b)([A-Z][A-Z0-9_]{{2,}}))?")
LEGACY = re.compile(rf"\bdocs/PROTOCOL\.md[ \t]+(?:§\s*)?{SECTION}\b")
QUOTED = re.compile(r"\b(?:docs/)?PROTOCOL\.md[ \t]+\"([^\"]*)\"")
DEFECT = re.compile(r"(?<![\w/.-])D(\d{1,2})(?![\w])")
BARE = re.compile(r"\((?:section )?(\d{1,2}\.\d{1,2})(?: step (\d+))?(?=[,;:)])")
# "14.3 step 7" anywhere in a comment: the step must exist too.
STEP = re.compile(r"(?<![\w.])(\d{1,2}(?:\.\d{1,2})?) step (\d+)\b")


def doc_targets(repo):
    """Sections, appendices, defect tags and constants defined in docs/PROTOCOL.md."""
    path = os.path.join(repo, "docs", "PROTOCOL.md")
    sections, defects, appendices = set(), set(), set()
    constants = set()
    steps = {}  # section -> numbers of its numbered list items
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#{1,6}\s+(\d{1,2}(?:\.\d{1,2})*)\.?\s", line)
            if m:
                sections.add(m.group(1))
                current = m.group(1)
                continue
            m = re.match(r"#{1,6}\s+(D\d{1,2})\b", line)
            if m:
                defects.add(m.group(1))
                continue
            m = re.match(r"#{1,6}\s+Appendix ([A-Z])\b", line)
            if m:
                appendices.add("Appendix " + m.group(1))
                current = None
                continue
            m = re.match(r"\|\s*(\d{1,2}\.\d{1,2})\s*\|", line)
            if m and current == "17":
                sections.add(m.group(1))
            m = re.match(r"(\d+)\. ", line)
            if m and current:
                steps.setdefault(current, set()).add(m.group(1))
            if current == "19" and line.startswith("|"):
                constants.update(re.findall(r"[A-Z][A-Z0-9_]{2,}", line.split("|")[1]))
    return sections, defects, appendices, constants, steps


def comment_text(path, text):
    """The text in which bare "(N.M)" citations are looked for: comments of C files and
    Python files, whole text of Markdown. Line structure is kept."""
    if path.endswith((".c", ".h")):
        out = []
        for m in re.finditer(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|[^/\"']+|.",
                             text, re.S):
            s = m.group(0)
            if s.startswith(("/*", "//")):
                out.append(s)
            else:
                out.append(re.sub(r"[^\n]", " ", s))
        return "".join(out)
    if path.endswith(".py"):
        return "\n".join(l[l.index("#"):] if "#" in l else "" for l in text.split("\n"))
    if path.endswith(".md"):
        return text
    return ""


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    sections, defects, appendices, constants, steps = doc_targets(repo)
    exclude = {e.strip().strip("/") for e in
               re.split(r"[,:]", os.environ.get("SW_CITATIONS_EXCLUDE", "")) if e.strip()}
    problems = []
    checked = [0]

    def bad(rel, text, pos, what):
        problems.append(f"{rel}:{text.count(chr(10), 0, pos) + 1}: {what}")

    def check_ref(rel, text, pos, ref, const=None, step=None):
        checked[0] += 1
        if ref.startswith("Appendix"):
            if ref not in appendices:
                bad(rel, text, pos, f"{ref} is not in docs/PROTOCOL.md")
        elif ref.startswith("D"):
            if ref not in defects:
                bad(rel, text, pos, f"defect tag {ref} is not in docs/PROTOCOL.md section 18")
        elif ref not in sections:
            bad(rel, text, pos, f"section {ref} is not in docs/PROTOCOL.md")
        elif const and ref == "19" and const not in constants:
            bad(rel, text, pos, f"constant {const} is not in docs/PROTOCOL.md section 19")
        elif step and step not in steps.get(ref, ()):
            bad(rel, text, pos, f"section {ref} of docs/PROTOCOL.md has no step {step}")

    for top in SCAN_DIRS:
        for root, dirs, files in os.walk(os.path.join(repo, top)):
            dirs.sort()
            rel_root = os.path.relpath(root, repo)
            if any(rel_root == s or rel_root.startswith(s + "/") for s in SKIP_DIRS):
                dirs[:] = []
                continue
            for name in sorted(files):
                if not (name.endswith(SCAN_EXT) or name == "CMakeLists.txt"):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, repo)
                if rel in exclude:
                    continue
                try:
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                except UnicodeDecodeError:
                    continue
                for m in re.finditer(re.escape(SHARED), text):
                    bad(rel, text, m.start(), f'mentions "{SHARED}": the material must be in the repository')
                if rel == os.path.join("tests", "docs", "check_citations.py"):
                    continue  # its docstring shows the forms
                for m in CITE.finditer(text):
                    refs = re.findall(REF, m.group(1))
                    for i, ref in enumerate(refs):
                        last = i == len(refs) - 1
                        check_ref(rel, text, m.start(), ref, m.group(3),
                                  m.group(2) if last else None)
                for m in LEGACY.finditer(text):
                    bad(rel, text, m.start(), 'old form "docs/PROTOCOL.md <number>": check the '
                        'section meant and write "PROTOCOL.md <number>"')
                for m in QUOTED.finditer(text):
                    bad(rel, text, m.start(), f'section cited by name ("{m.group(1)}"): cite its number')
                for m in DEFECT.finditer(text):
                    check_ref(rel, text, m.start(), "D" + m.group(1))
                ctext = comment_text(path, text)
                for m in BARE.finditer(ctext):
                    check_ref(rel, text, m.start(), m.group(1))
                for m in STEP.finditer(ctext):
                    check_ref(rel, text, m.start(), m.group(1), step=m.group(2))

    problems = list(dict.fromkeys(problems))  # one line per problem, in scan order
    if problems:
        print("Citations that do not resolve in docs/PROTOCOL.md (scheme: top of that page):")
        for p in problems:
            print("  " + p)
        print(f"{len(problems)} problem(s) among {checked[0]} citations")
        return 1
    print(f"every citation resolves ({checked[0]} checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
