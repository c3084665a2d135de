#!/usr/bin/python3
"""The dynamic symbols a shared library defines must be exactly the
functions and variables its installed headers declare: nothing internal
exported (ct_cpu_*, ct_zip_*, ...), nothing declared left unexported.

usage: check-exports.py LIBRARY HEADER...
"""
import re
import subprocess
import sys


def declared(paths):
    names = set()
    for path in paths:
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)      # comments
        text = re.sub(r"^\s*#.*?(?<!\\)$", " ", text, flags=re.M | re.S)  # directives
        text = re.sub(r"typedef[^;{]*(\{[^}]*\})?[^;]*;", " ", text)     # types
        # a declaration is what precedes ';' at file level: NAME ( ... ) or extern ... NAME
        for decl in text.split(";"):
            m = re.search(r"\b([A-Za-z_]\w*)\s*\(", decl)
            if m:
                names.add(m.group(1))
            elif re.search(r"\bextern\b", decl):
                names.add(re.findall(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*$", decl)[-1])
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    lib, headers = sys.argv[1], sys.argv[2:]
    want, have = declared(headers), exported(lib)
    if len(want) < 10:
        sys.exit(f"FAIL: only {len(want)} declarations found in {headers}: parser broken?")
    extra, missing = sorted(have - want), sorted(want - have)
    print(f"{lib}: {len(have)} exported, {len(want)} declared in {len(headers)} headers")
    for name in extra:
        print(f"  exported but not declared in an installed header: {name}")
    for name in missing:
        print(f"  declared but not exported: {name}")
    sys.exit(1 if extra or missing else 0)


if __name__ == "__main__":
    main()
