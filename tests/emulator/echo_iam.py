"""IAM additions for echo-onboard's emulator: ``SimulatePrincipalPolicy`` (moto answers 500).

Answers from the stored identity policies of the principal (inline and attached managed
policies of a role or user), with IAM's wildcard matching, for the simple allow/deny questions
the tool asks. moto's default identity (``user/moto``) is an administrator, as moto does not
enforce IAM. The fault control can make the call itself fail (e.g. AccessDenied).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any
from urllib.parse import unquote

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam import responses as iam_responses
from moto.iam.models import iam_backends

ADMIN = [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]


class NoSuchEntityException(ServiceException):
    code = "NoSuchEntity"


NoSuchEntityException.__module__ = "moto.iam.exceptions"


def docs_of(backend: Any, principal_arn: str) -> list[dict[str, Any]]:
    """The identity policies of a role or user (inline and attached managed)."""
    return _docs_of(backend, principal_arn)


def _docs_of(backend: Any, principal_arn: str) -> list[dict[str, Any]]:
    m = re.match(r"^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:(user|role)/(?:.*/)?([^/]+)$", principal_arn)
    if not m:
        raise NoSuchEntityException(f"PolicySourceArn {principal_arn} is not a user or role ARN")
    kind, name = m.groups()
    if kind == "user" and name == "moto":
        return ADMIN
    try:
        entity = backend.get_role(name) if kind == "role" else backend.get_user(name)
    except Exception:
        raise NoSuchEntityException(f"The {kind} with name {name} cannot be found.")
    docs = []
    for doc in entity.policies.values():
        docs.append(json.loads(unquote(doc)) if isinstance(doc, str) else doc)
    for managed in getattr(entity, "managed_policies", {}).values():
        version = managed.default_version_id if hasattr(managed, "default_version_id") else None
        for v in getattr(managed, "versions", []):
            if v.version_id == version:
                docs.append(json.loads(unquote(v.document)) if isinstance(v.document, str) else v.document)
    return docs


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def _match(patterns: list[str], value: str, fold: bool) -> bool:
    if fold:
        value = value.lower()
        patterns = [p.lower() for p in patterns]
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def decide(docs: list[dict[str, Any]], action: str, resource: str) -> str:
    allowed = False
    for doc in docs:
        statements = doc.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        for st in statements:
            if "Action" in st:
                ok = _match(_as_list(st["Action"]), action, True)
            else:
                ok = not _match(_as_list(st.get("NotAction")), action, True)
            if "Resource" in st:
                ok = ok and _match(_as_list(st["Resource"]), resource, False)
            elif "NotResource" in st:
                ok = ok and not _match(_as_list(st["NotResource"]), resource, False)
            if not ok:
                continue
            if st.get("Effect") == "Deny":
                return "explicitDeny"
            if st.get("Effect") == "Allow" and "Condition" not in st:
                allowed = True
    return "allowed" if allowed else "implicitDeny"


def simulate_principal_policy(self: Any) -> ActionResult:
    principal = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    docs = _docs_of(self.backend, principal)
    results = []
    for action in actions:
        for resource in resources:
            results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decide(docs, action, resource)})
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    iam_responses.IamResponse.simulate_principal_policy = simulate_principal_policy
