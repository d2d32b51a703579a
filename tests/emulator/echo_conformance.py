"""Request conformance: every AWS request is checked against the service model botocore ships
(the same API definitions the SDKs are generated from) before moto sees it.

Checked: required members, enums, string lengths, list and map sizes, numeric ranges and
patterns, for the JSON protocols (ECR, Secrets Manager), rpc-v2-cbor (CloudWatch), rest-json
bodies (Account) and the query protocol (IAM, STS, CloudFormation: the flat ``A.member.1.B``
parameters are un-flattened along the input shape first). A violation answers as AWS does, a
``ValidationException`` (``ValidationError`` for query services) with AWS's wording, so the test
whose request caused it fails. A pattern must match the whole value, as AWS's services check it
(IAM refuses a tag key ``k!`` under ``[\p{L}\p{Z}\p{N}_.:/=+\-@]+``). Values of members the
model marks sensitive are never echoed.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any
from urllib.parse import parse_qs

import botocore.loaders
import cbor2

_LOADER = botocore.loaders.Loader()
_LOCK = threading.Lock()
_MODELS: dict[str, dict[str, Any]] = {}
_PATTERNS: dict[str, Any] = {}
# Where each request lands: signing name (query protocol) or JSON target prefix.
_BY_SIGNING = {"iam": "iam", "sts": "sts", "cloudformation": "cloudformation"}
_BY_TARGET = {
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "secretsmanager": "secretsmanager",
    "GraniteServiceVersion20100801": "cloudwatch",
}
# Services answered over rest-json whose operations the emulator routes by path.
_REST_PATHS = {"/listRegions": ("account", "ListRegions")}


def _model(service: str) -> dict[str, Any]:
    with _LOCK:
        if service not in _MODELS:
            _MODELS[service] = _LOADER.load_service_model(service, "service-2")
        return _MODELS[service]


def _pattern(p: str) -> Any:
    if p not in _PATTERNS:
        try:
            _PATTERNS[p] = re.compile(p)
        except re.error:
            # Java's \p{L} classes (IAM's tag patterns): the `regex` module reads them.
            try:
                import regex

                _PATTERNS[p] = regex.compile(p)
            except Exception:
                # A pattern neither can read is not checked rather than guessed at.
                print(f"conformance: pattern not checked: {p}", file=sys.stderr)
                _PATTERNS[p] = None
    return _PATTERNS[p]


def _path(at: Any) -> str:
    """A member's path ("a.b.1.member") from the nested pairs `Checker.check` passes down."""
    parts: list[str] = []
    while isinstance(at, tuple):
        at, name = at
        parts.append(name)
    if at:
        parts.append(at)
    return ".".join(reversed(parts))


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:200]
    return str(value)


class Checker:
    def __init__(self, model: dict[str, Any]) -> None:
        self.shapes = model["shapes"]
        self.errors: list[str] = []

    def fail(self, value: Any, at: Any, constraint: str, sensitive: bool) -> None:
        shown = "at" if sensitive else f"'{_show(value)}' at"
        if value is None:
            shown = "null at"
        self.errors.append(f"Value {shown} '{_path(at)}' failed to satisfy constraint: {constraint}")

    def check(self, shape_name: str, value: Any, at: Any, sensitive: bool = False) -> None:
        # `at` is a path built only when a value fails: ("parent path", "member") pairs,
        # nested, since a request of 500 metric queries has thousands of members to check.
        shape = self.shapes[shape_name]
        sensitive = sensitive or bool(shape.get("sensitive"))
        kind = shape["type"]
        if kind == "structure":
            if not isinstance(value, dict):
                return
            for name in shape.get("required", []):
                if value.get(name) is None:
                    self.fail(None, (at, name), "Member must not be null", False)
            for name, member in shape.get("members", {}).items():
                if value.get(name) is not None:
                    self.check(member["shape"], value[name], (at, name), bool(member.get("sensitive")) or sensitive)
        elif kind == "list":
            if not isinstance(value, list):
                return
            self._size(shape, value, len(value), at, sensitive)
            for i, item in enumerate(value, 1):
                self.check(shape["member"]["shape"], item, (at, f"{i}.member"), sensitive)
        elif kind == "map":
            if not isinstance(value, dict):
                return
            self._size(shape, value, len(value), at, sensitive)
            for k, v in value.items():
                self.check(shape["key"]["shape"], k, (at, f"{k}.key"), sensitive)
                self.check(shape["value"]["shape"], v, (at, f"{k}.value"), sensitive)
        elif kind == "string":
            if not isinstance(value, str):
                return
            if "enum" in shape and value not in shape["enum"]:
                self.fail(value, at, f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]", sensitive)
            self._size(shape, value, len(value), at, sensitive)
            if "pattern" in shape:
                p = _pattern(shape["pattern"])
                if p is not None and not p.fullmatch(value):
                    self.fail(value, at, f"Member must satisfy regular expression pattern: {shape['pattern']}", sensitive)
        elif kind in ("integer", "long"):
            try:
                n = int(value)
            except (TypeError, ValueError):
                self.fail(value, at, "Member must be a number", sensitive)
                return
            if "min" in shape and n < shape["min"]:
                self.fail(value, at, f"Member must have value greater than or equal to {shape['min']}", sensitive)
            if "max" in shape and n > shape["max"]:
                self.fail(value, at, f"Member must have value less than or equal to {shape['max']}", sensitive)

    def _size(self, shape: dict[str, Any], value: Any, n: int, at: str, sensitive: bool) -> None:
        lo, hi = shape.get("min"), shape.get("max")
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            what = "length" if shape["type"] in ("string", "list", "map") else "value"
            parts = []
            if hi is not None:
                parts.append(f"less than or equal to {hi}")
            if lo is not None:
                parts.append(f"greater than or equal to {lo}")
            self.fail(value, at, f"Member must have {what} {' and '.join(parts)}", sensitive)


def _unflatten(shapes: dict[str, Any], shape_name: str, key: str, params: dict[str, str]) -> Any:
    """The value of ``key`` in query-protocol parameters, shaped as ``shape_name`` says."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.get("members", {}).items():
            wire = member.get("locationName", name)
            sub = f"{key}.{wire}" if key else wire
            if sub in params or any(k.startswith(sub + ".") for k in params):
                out[name] = _unflatten(shapes, member["shape"], sub, params)
        return out
    if kind == "list":
        if params.get(key) == "":
            return []
        base = f"{key}." if shape.get("flattened") else f"{key}.member."
        indices = sorted({int(k[len(base):].split(".")[0]) for k in params if k.startswith(base) and k[len(base):].split(".")[0].isdigit()})
        return [_unflatten(shapes, shape["member"]["shape"], f"{base}{i}", params) for i in indices]
    if kind == "map":
        base = f"{key}.entry."
        indices = sorted({int(k[len(base):].split(".")[0]) for k in params if k.startswith(base) and k[len(base):].split(".")[0].isdigit()})
        kname = shape["key"].get("locationName", "key")
        vname = shape["value"].get("locationName", "value")
        return {
            params.get(f"{base}{i}.{kname}", ""): _unflatten(shapes, shape["value"]["shape"], f"{base}{i}.{vname}", params)
            for i in indices
        }
    return params.get(key)


def _signing_name(environ: dict[str, Any]) -> str | None:
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else None


def violations(environ: dict[str, Any], operation: str | None, protocol: str, body: bytes) -> tuple[str, list[str]] | None:
    """``(error code, violations)`` when the request breaks its service model, else None."""
    path = environ.get("PATH_INFO", "")
    service = None
    params: Any = None
    if path in _REST_PATHS:
        service, operation = _REST_PATHS[path]
        params = json.loads(body) if body else {}
    elif protocol == "json":
        prefix = (environ.get("HTTP_X_AMZ_TARGET") or "").rsplit(".", 1)[0]
        service = _BY_TARGET.get(prefix)
        params = json.loads(body) if body else {}
    elif protocol == "cbor":
        m = re.match(r"^/service/([^/]+)/operation/", path)
        service = _BY_TARGET.get(m.group(1)) if m else None
        params = cbor2.loads(body) if body else {}
        # Decoded once: the emulator's fast paths read the same request.
        environ["echo.cbor"] = params
    elif protocol == "query":
        service = _BY_SIGNING.get(_signing_name(environ) or "")
    if not service or not operation:
        return None
    model = _model(service)
    op = model["operations"].get(operation)
    if op is None:
        return ("UnknownOperationException" if protocol != "query" else "InvalidAction", [f"{operation} is not an operation of {service}"])
    if "input" not in op:
        return None
    shape = op["input"]["shape"]
    if protocol == "query":
        flat = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items() if k not in ("Action", "Version")}
        params = _unflatten(model["shapes"], shape, "", flat)
    checker = Checker(model)
    if service == "account":
        # rest-json: members bound to the path, query or headers are not in the body.
        members = model["shapes"][shape].get("members", {})
        params = {k: v for k, v in params.items() if "location" not in members.get(k, {})}
    checker.check(shape, params, "")
    if not checker.errors:
        return None
    code = "ValidationError" if protocol == "query" else "ValidationException"
    return code, checker.errors


def message(errors: list[str]) -> str:
    n = len(errors)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)


def check_request(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """The violations of a request built inside the emulator (a CloudFormation resource
    handler calls the service's API with the resource's properties, so they meet the same
    model)."""
    model = _model(service)
    checker = Checker(model)
    shape = model["operations"][operation]["input"]["shape"]
    checker.check(shape, {k: v for k, v in params.items() if v is not None}, "")
    return checker.errors
