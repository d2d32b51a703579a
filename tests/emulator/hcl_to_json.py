"""Reads a Terraform file with python-hcl2 (an independent HCL parser) and prints its
resources, locals and import blocks as plain JSON: quoted strings unquoted, heredocs as their
text, expressions such as ``${local.x}`` kept as written. For tests of ``echo-onboard export``.

Run: ``python hcl_to_json.py main.tf``
"""

import json
import re
import sys

import hcl2


def value(v):
    if isinstance(v, str):
        m = re.fullmatch(r'"<<-?(\w+)\n(.*)\n\s*\1"', v, re.S)
        if m:
            return m.group(2)
        if v.startswith('"') and v.endswith('"'):
            return json.loads(v)
        return v
    if isinstance(v, dict):
        return {value(k): value(x) for k, x in v.items() if k != "__is_block__"}
    if isinstance(v, list):
        return [value(x) for x in v]
    return v


def main() -> None:
    with open(sys.argv[1]) as f:
        doc = hcl2.load(f)
    out = {"resource": {}, "locals": {}, "import": []}
    for block in doc.get("resource", []):
        for rtype, named in value(block).items():
            for name, attrs in named.items():
                out["resource"].setdefault(rtype, {})[name] = attrs
    for block in doc.get("locals", []):
        out["locals"].update(value(block))
    out["import"] = [value(b) for b in doc.get("import", [])]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
