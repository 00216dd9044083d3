#!/usr/bin/env python3
"""Copy MMCV reference cases from ../shared/reference into tests/data (the repo must stand alone).

Usage: scripts/import_reference.py OP [OP ...]     (e.g. nms soft_nms roi_align)
       scripts/import_reference.py --all-present     (re-import every op already in tests/data)

Copies <case>.pt for every manifest case whose `op` is listed, and rewrites tests/data/manifest.tsv,
the small text index the C++ harness reads (tests/common/test_utils.cpp): one line per fact,
tab-separated:  case  op  kind  key  value   with kind one of
  string  - a string parameter (mode, method, pool_mode, nms_cfg.type), value = the string
  exact   - an output key to compare bit-exactly (key), value = 1
  flag    - tie_sensitive / expect_error, value = 0/1
Standard library only.
"""
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.environ.get("MMCV_OPS_REFERENCE_DIR", os.path.join(ROOT, "..", "shared", "reference"))
DST = os.path.join(ROOT, "tests", "data")


def main(argv):
    manifest = json.load(open(os.path.join(SRC, "manifest.json")))
    cases = manifest["cases"]
    tsv = os.path.join(DST, "manifest.tsv")
    present = set()
    if os.path.exists(tsv):
        for line in open(tsv):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                present.add(parts[1])
    ops = set(a for a in argv if not a.startswith("--"))
    if "--all-present" in argv:
        ops |= present
    ops |= present  # never drop ops already imported
    os.makedirs(DST, exist_ok=True)
    rows = []
    copied = 0
    for c in cases:
        if c["op"] not in ops:
            continue
        shutil.copyfile(os.path.join(SRC, c["file"]), os.path.join(DST, c["file"]))
        copied += 1
        name = c["name"]
        for k, v in sorted(c.get("params", {}).items()):
            if isinstance(v, str):
                rows.append((name, c["op"], "string", k, v))
        for k in c.get("exact_outputs", []) or []:
            rows.append((name, c["op"], "exact", k, "1"))
        rows.append((name, c["op"], "flag", "tie_sensitive", "1" if c.get("tie_sensitive") else "0"))
        rows.append((name, c["op"], "flag", "expect_error", "1" if c.get("expect_error") else "0"))
        if c.get("file") and c["file"] != name + ".pt":
            rows.append((name, c["op"], "file", "file", c["file"]))
    rows.sort()
    with open(tsv, "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    print(f"copied {copied} cases for ops: {' '.join(sorted(ops))}")


if __name__ == "__main__":
    main(sys.argv[1:])
