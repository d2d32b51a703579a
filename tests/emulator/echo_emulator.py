"""echo-onboard's local AWS emulator: moto server plus what moto lacks.

moto (pinned in requirements.txt) serves STS, IAM, ECR repositories/images,
CloudFormation and CloudWatch. This module adds, at import time:

* the five ECR pull-through-cache-rule operations with AWS's validation and
  error codes, including a 50-rule quota;
* ``ValidatePullThroughCacheRule`` and cache fills that check the rule's role exists,
  trusts ``pullthroughcache.ecr.amazonaws.com`` and that its identity policies allow the
  reads on the upstream repository, the writes on the cached one and
  ``ecr:GetAuthorizationToken``, and, across accounts, that the upstream registry's policy
  (``POST /_echo/registry-policy``) allows the account;
* ``maxResults``/``nextToken`` paging for ``DescribeRepositories``;
* repository creation templates (create/describe/update/delete) with AWS's checks
  (``appliedFor``, a ``customRoleArn`` for tags or KMS, lifecycle policy syntax), and
  the cache creating repositories with their template's tag mutability, encryption,
  tags, lifecycle policy and repository policy (or not at all when ECR could not
  assume the template's role);
* a simulated pull: ``BatchGetImage`` on ``<prefix>/<repo>`` creates the
  cached repository from the upstream account's repository, records
  ``lastRecordedPullTime`` and adds to ``AWS/ECR RepositoryPullCount``;
* a bridge for the Rust CloudWatch client's rpc-v2-cbor protocol;
* a fault control: make operation X fail with a code/status, or add latency,
  N times (``POST /_echo/faults``);
* network latency on every AWS call (``POST /_echo/latency {"ms": 50}``) and a
  count of AWS calls per operation (``GET``/``DELETE /_echo/calls``), for benchmarks
  and call-budget tests;
* the registry API Docker uses, for manifests only
  (``GET /_registry/<account>/<region>/v2/<name>/manifests/<reference>`` with the Basic
  token ``GetAuthorizationToken`` gave): a tag pull through a cache prefix fills the cache
  like ``docker pull`` does; errors are the OCI distribution errors ECR returns;
* bulk seeding of cached repositories with pull counts
  (``POST /_echo/cached-repositories``), and a ``GetMetricData`` indexed by metric
  so 500 queries over thousands of series answer as fast as CloudWatch does;
* CloudWatch Metrics Insights queries in ``GetMetricData`` (``SELECT FN(metric) FROM
  SCHEMA(...) GROUP BY ... ORDER BY FN() DESC LIMIT n``) with CloudWatch's limits: one
  series per group, at most 500 series, at most 10,000 metrics processed, two weeks back;
* a repository listing sorted once per change, not per page (ECR pages in constant time);
* a control endpoint to seed images into an upstream (Echo) account
  (``POST /_echo/upstream-image``).

Every AWS request is first checked against botocore's service model
(``echo_conformance.py``): a request AWS would refuse is refused the same way.

Run: ``python echo_emulator.py [--port 0]``; it prints ``READY http://127.0.0.1:PORT``
once it is listening.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import cbor2
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr import models as ecr_models
from moto.ecr import responses as ecr_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

import echo_cfn
import echo_conformance
import echo_iam


PREFIX_PATTERN = re.compile(
    r"^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$"
)
ECR_UPSTREAM_URL = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$")
KNOWN_UPSTREAMS = {
    "ecr": None,
    "ecr-public": "public.ecr.aws",
    "quay": "quay.io",
    "k8s": "registry.k8s.io",
    "docker-hub": "registry-1.docker.io",
    "github-container-registry": "ghcr.io",
    "azure-container-registry": None,
    "gitlab-container-registry": "registry.gitlab.com",
    "chainguard": "cgr.dev",
}
NEEDS_SECRET = {
    "docker-hub",
    "github-container-registry",
    "azure-container-registry",
    "gitlab-container-registry",
    "chainguard",
}
# CreatePullThroughCacheRule API reference: credentialArn.
CREDENTIAL_ARN = re.compile(
    r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$"
)
SECRET_KEYS = ("username", "accessToken")
RULE_QUOTA = 50
PTC_SERVICE = "pullthroughcache.ecr.amazonaws.com"


# --- exceptions (moto derives the service from the module name) -------------


def _exc(name: str) -> type[ServiceException]:
    cls = type(name, (ServiceException,), {"code": name})
    cls.__module__ = "moto.ecr.exceptions"
    return cls


PullThroughCacheRuleAlreadyExistsException = _exc("PullThroughCacheRuleAlreadyExistsException")
PullThroughCacheRuleNotFoundException = _exc("PullThroughCacheRuleNotFoundException")
UnsupportedUpstreamRegistryException = _exc("UnsupportedUpstreamRegistryException")
ValidationException = _exc("ValidationException")
InvalidParameterException = _exc("InvalidParameterException")
LimitExceededException = _exc("LimitExceededException")
InvalidNextTokenException = _exc("InvalidNextTokenException")
SecretNotFoundException = _exc("SecretNotFoundException")
TemplateAlreadyExistsException = _exc("TemplateAlreadyExistsException")
TemplateNotFoundException = _exc("TemplateNotFoundException")
ExclusionAlreadyExistsException = _exc("ExclusionAlreadyExistsException")
ExclusionNotFoundException = _exc("ExclusionNotFoundException")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- pull-through cache rules on the ECR backend -----------------------------


def _rules(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "echo_ptc_rules"):
        backend.echo_ptc_rules = {}
    return backend.echo_ptc_rules


def _strip_slash(prefix: str) -> str:
    return prefix[:-1] if prefix.endswith("/") and prefix != "ROOT" else prefix


def _validate_prefix(field: str, value: str | None) -> str:
    if value is None:
        raise ValidationException(f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")
    if not 2 <= len(value) <= 30:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            "Member must have length less than or equal to 30 and greater than or equal to 2"
        )
    if not PREFIX_PATTERN.match(value):
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {PREFIX_PATTERN.pattern}"
        )
    return _strip_slash(value)


def _role_problem(account_id: str, role_arn: str) -> str | None:
    """Why ECR could not assume this role, or None when it could."""
    from moto.iam.models import iam_backends

    m = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)$", role_arn or "")
    if not m:
        return f"customRoleArn '{role_arn}' is not an IAM role ARN"
    if m.group(1) != account_id:
        return f"The role {role_arn} must be in the registry's account {account_id}"
    try:
        role = iam_backends[account_id]["global"].get_role(m.group(2))
    except Exception:
        return f"Unable to assume role {role_arn}: the role does not exist"
    doc = role.assume_role_policy_document
    try:
        trust = json.loads(doc) if isinstance(doc, str) else doc
    except ValueError:
        return f"Unable to assume role {role_arn}: its trust policy is not valid JSON"
    statements = trust.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        services = (st.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if PTC_SERVICE in services and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            return None
    return f"Unable to assume role {role_arn}: its trust policy does not allow {PTC_SERVICE} to call sts:AssumeRole"


# What the cache does with the rule's role for an ECR upstream (ECR user guide,
# pull-through-cache-private: the role's permissions). Which action applies to which resource
# is inferred: reads on the upstream repository, writes on the cached one, the token on "*".
UPSTREAM_READS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
CACHE_WRITES = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage")
TOKEN_ACTION = "ecr:GetAuthorizationToken"


def _upstream_of(rule: dict[str, Any], cached_name: str | None) -> tuple[str, str, str]:
    """(account, region, repository) upstream of ``cached_name`` (``*`` for the whole rule)."""
    m = ECR_UPSTREAM_URL.match(rule["upstreamRegistryUrl"])
    prefix = rule["ecrRepositoryPrefix"]
    if cached_name is None:
        rest = "*"
    else:
        rest = cached_name if prefix == "ROOT" else cached_name[len(prefix) + 1 :]
    up = rule.get("upstreamRepositoryPrefix") or "ROOT"
    return m.group(1), m.group(2), rest if up == "ROOT" else f"{up}/{rest}"


def _permission_problem(account_id: str, region: str, rule: dict[str, Any], cached_name: str | None) -> str | None:
    """Why the cache, acting as the rule's role, may not fill ``cached_name`` (``None``: the
    rule as a whole), from the role's identity policies and, across accounts, the upstream
    registry's policy; None when it may."""
    from moto.iam.models import iam_backends

    role_arn = rule.get("customRoleArn") or ""
    try:
        docs = echo_iam.docs_of(iam_backends[account_id]["global"], role_arn)
    except Exception:
        return f"Unable to assume role {role_arn}: the role does not exist"
    ua, ur, up_name = _upstream_of(rule, cached_name)
    upstream = f"arn:aws:ecr:{ur}:{ua}:repository/{up_name}"
    own_name = (cached_name or (f"{rule['ecrRepositoryPrefix']}/*" if rule["ecrRepositoryPrefix"] != "ROOT" else "*"))
    cached = f"arn:aws:ecr:{region}:{account_id}:repository/{own_name}"
    wanted = [(a, upstream) for a in UPSTREAM_READS] + [(a, cached) for a in CACHE_WRITES] + [(TOKEN_ACTION, "*")]
    for action, resource in wanted:
        decision = echo_iam.decide(docs, action, resource)
        if decision != "allowed":
            why = "an explicit deny in an identity-based policy" if decision == "explicitDeny" else f"no identity-based policy allows the {action} action"
            return f"The pull through cache role {role_arn} is not authorized to perform: {action} on resource: {resource} because {why}"
    if ua != account_id:
        # Across accounts the upstream registry must also allow this account (its registry
        # policy, or the repository's policy).
        grants = []
        up_backend = ecr_models.ecr_backends[ua][ur]
        if up_backend.registry_policy:
            grants.append(json.loads(up_backend.registry_policy))
        repo = up_backend.repositories.get(up_name)
        if repo is not None and getattr(repo, "policy", None):
            grants.append(json.loads(repo.policy))
        principals = {f"arn:aws:iam::{account_id}:root", account_id, role_arn}
        for action in UPSTREAM_READS:
            if not any(_resource_policy_allows(g, principals, action, upstream) for g in grants):
                return f"The upstream registry {ua} in {ur} does not allow account {account_id} to perform {action} on {upstream} (its registry policy must grant it)"
    return None


def _resource_policy_allows(doc: dict[str, Any], principals: set[str], action: str, resource: str) -> bool:
    statements = doc.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    allowed = False
    for st in statements:
        p = st.get("Principal")
        names = p.get("AWS", []) if isinstance(p, dict) else [p]
        names = [names] if isinstance(names, str) else names
        if not (principals & set(names) or "*" in names):
            continue
        if echo_iam.decide([{"Statement": [dict(st, Resource=st.get("Resource", "*"))]}], action, resource) == "explicitDeny":
            return False
        if echo_iam.decide([{"Statement": [dict(st, Effect="Allow", Resource=st.get("Resource", "*"))]}], action, resource) == "allowed" and st.get("Effect") == "Allow":
            allowed = True
    return allowed


def _rule_view(rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {k: v for k, v in rule.items() if v is not None}
    out.update(extra)
    return out


def create_pull_through_cache_rule(self: Any) -> ActionResult:
    names = ("ecrRepositoryPrefix", "upstreamRegistryUrl", "upstreamRegistry", "customRoleArn", "credentialArn", "upstreamRepositoryPrefix", "registryId")
    rule = create_rule(self.ecr_backend, {n: self._get_param(n) for n in names})
    return ActionResult(_rule_view(rule))


def create_rule(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Creates a rule with AWS's validation; shared by the API and CloudFormation."""
    prefix = _validate_prefix("ecrRepositoryPrefix", params.get("ecrRepositoryPrefix"))
    url = params.get("upstreamRegistryUrl")
    registry = params.get("upstreamRegistry")
    role_arn = params.get("customRoleArn")
    credential_arn = params.get("credentialArn")
    upstream_prefix = params.get("upstreamRepositoryPrefix")
    registry_id = params.get("registryId") or backend.account_id

    if not url:
        raise ValidationException("1 validation error detected: Value null at 'upstreamRegistryUrl' failed to satisfy constraint: Member must not be null")
    if registry is None:
        registry = next((k for k, v in KNOWN_UPSTREAMS.items() if v == url), None)
        if registry is None and ECR_UPSTREAM_URL.match(url):
            registry = "ecr"
    if registry not in KNOWN_UPSTREAMS:
        raise UnsupportedUpstreamRegistryException(
            f"This feature is disabled for upstream registry '{url}'. Supported upstream registries: "
            + ", ".join(KNOWN_UPSTREAMS)
        )
    if registry in NEEDS_SECRET and not credential_arn:
        raise UnsupportedUpstreamRegistryException(
            f"The upstream registry '{url}' requires authentication; specify credentialArn"
        )
    if credential_arn is not None:
        _check_credential_arn(backend, credential_arn)
    if registry == "ecr":
        m = ECR_UPSTREAM_URL.match(url)
        if not m:
            raise InvalidParameterException(
                f"Invalid parameter at 'upstreamRegistryUrl' failed to satisfy constraint: "
                f"'{url}' is not of the form <accountId>.dkr.ecr.<region>.amazonaws.com"
            )
        if not role_arn:
            raise UnsupportedUpstreamRegistryException(
                "The upstream registry 'ecr' requires authentication with AWS IAM role; specify customRoleArn"
            )
    if role_arn is not None and len(role_arn) > 2048:
        raise ValidationException("1 validation error detected: Value at 'customRoleArn' failed to satisfy constraint: Member must have length less than or equal to 2048")
    if upstream_prefix is not None:
        if prefix == "ROOT" and upstream_prefix != "ROOT":
            raise ValidationException(
                "upstreamRepositoryPrefix can only be specified when ecrRepositoryPrefix is not ROOT"
            )
        upstream_prefix = _validate_prefix("upstreamRepositoryPrefix", upstream_prefix)
    rules = _rules(backend)
    if prefix in rules:
        raise PullThroughCacheRuleAlreadyExistsException(
            f"A pull through cache rule with these settings already exists for the registry with id '{registry_id}'"
        )
    if len(rules) >= RULE_QUOTA:
        raise LimitExceededException(
            f"The maximum number of pull through cache rules ({RULE_QUOTA}) for this registry has been reached"
        )
    rule = {
        "ecrRepositoryPrefix": prefix,
        "upstreamRegistryUrl": url,
        "createdAt": _now(),
        "registryId": registry_id,
        "credentialArn": credential_arn,
        "customRoleArn": role_arn,
        "upstreamRegistry": registry,
        "upstreamRepositoryPrefix": upstream_prefix or "ROOT",
        "updatedAt": _now(),
    }
    rules[prefix] = rule
    return rule


def _check_credential_arn(backend: Any, credential_arn: str) -> None:
    """credentialArn as the model constrains it (also checked on the wire by
    echo_conformance; this covers CloudFormation's path), then the secret must exist."""
    if not (50 <= len(credential_arn) <= 612) or not CREDENTIAL_ARN.match(credential_arn):
        raise ValidationException(
            f"1 validation error detected: Value '{credential_arn}' at 'credentialArn' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "^arn:aws(-\\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\\-pullthroughcache\\/[a-zA-Z0-9\\/_+=.@-]+$"
        )
    if _secret(backend, credential_arn) is None:
        raise SecretNotFoundException(f"The specified secret {credential_arn} does not exist")


def _check_role_arn(backend: Any, role_arn: str) -> None:
    """customRoleArn: at most 2048 characters (the model); ECR assumes it, so it must be a role
    in the registry's account (API reference, CreatePullThroughCacheRule)."""
    if len(role_arn) > 2048:
        raise ValidationException("1 validation error detected: Value at 'customRoleArn' failed to satisfy constraint: Member must have length less than or equal to 2048")
    m = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):role/.+$", role_arn)
    if not m:
        raise InvalidParameterException(f"Invalid parameter at 'customRoleArn' failed to satisfy constraint: '{role_arn}' is not an IAM role ARN")
    if m.group(1) != backend.account_id:
        raise InvalidParameterException(f"Invalid parameter at 'customRoleArn': the role must be in the registry's account {backend.account_id}")


def _secret(backend: Any, arn: str) -> Any:
    """The secret ``arn`` names in the registry's own account and region, or None."""
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[backend.account_id][backend.region_name].secrets.get(arn)


def _secret_problem(backend: Any, arn: str) -> str | None:
    """Why ECR could not use this secret as an upstream credential (as Validate reports)."""
    secret = _secret(backend, arn)
    if secret is None:
        return f"The secret {arn} does not exist"
    if getattr(secret, "deleted_date", None):
        return f"The secret {arn} is marked for deletion"
    current = next(
        (v for v in secret.versions.values() if "AWSCURRENT" in v.get("version_stages", [])),
        {},
    )
    try:
        value = json.loads(current.get("secret_string") or "")
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        return f"The secret {arn} does not hold a JSON object with username and accessToken"
    missing = [k for k in SECRET_KEYS if not value.get(k)]
    if missing:
        return f"The secret {arn} has no {' and '.join(missing)}"
    return None


def _get_rule(backend: Any, prefix: str | None, registry_id: str | None) -> dict[str, Any]:
    key = _strip_slash(prefix or "")
    rule = _rules(backend).get(key)
    if rule is None:
        raise PullThroughCacheRuleNotFoundException(
            f"The pull through cache rule with prefix '{prefix}' does not exist in the registry with id "
            f"'{registry_id or backend.account_id}'"
        )
    return rule


def describe_pull_through_cache_rules(self: Any) -> ActionResult:
    backend = self.ecr_backend
    prefixes = self._get_param("ecrRepositoryPrefixes")
    max_results = int(self._get_param("maxResults") or 100)
    token = self._get_param("nextToken")
    if prefixes:
        selected = [_get_rule(backend, p, None) for p in prefixes]
    else:
        selected = sorted(_rules(backend).values(), key=lambda r: r["ecrRepositoryPrefix"])
    start = _decode_token(token)
    page = selected[start : start + max_results]
    result: dict[str, Any] = {"pullThroughCacheRules": [_rule_view(r) for r in page]}
    if start + max_results < len(selected):
        result["nextToken"] = _encode_token(start + max_results)
    return ActionResult(result)


def update_pull_through_cache_rule(self: Any) -> ActionResult:
    backend = self.ecr_backend
    prefix = self._get_param("ecrRepositoryPrefix")
    rule = _get_rule(backend, prefix, self._get_param("registryId"))
    role_arn = self._get_param("customRoleArn")
    credential_arn = self._get_param("credentialArn")
    if role_arn is None and credential_arn is None:
        raise ValidationException("Either credentialArn or customRoleArn must be specified")
    if credential_arn is not None:
        if rule.get("upstreamRegistry") not in NEEDS_SECRET:
            raise InvalidParameterException(f"Invalid parameter: credentialArn cannot be set for upstream registry '{rule['upstreamRegistryUrl']}'")
        _check_credential_arn(backend, credential_arn)
    if role_arn is not None:
        if rule.get("upstreamRegistry") != "ecr":
            raise InvalidParameterException(f"Invalid parameter: customRoleArn can be set only for an ecr upstream registry, not '{rule['upstreamRegistryUrl']}'")
        _check_role_arn(backend, role_arn)
    if role_arn is not None:
        rule["customRoleArn"] = role_arn
    if credential_arn is not None:
        rule["credentialArn"] = credential_arn
    rule["updatedAt"] = _now()
    return ActionResult(
        {
            k: rule.get(k)
            for k in (
                "ecrRepositoryPrefix",
                "registryId",
                "updatedAt",
                "credentialArn",
                "customRoleArn",
                "upstreamRepositoryPrefix",
            )
            if rule.get(k) is not None
        }
    )


def delete_pull_through_cache_rule(self: Any) -> ActionResult:
    backend = self.ecr_backend
    prefix = self._get_param("ecrRepositoryPrefix")
    rule = _get_rule(backend, prefix, self._get_param("registryId"))
    del _rules(backend)[rule["ecrRepositoryPrefix"]]
    return ActionResult(_rule_view(rule))


def validate_pull_through_cache_rule(self: Any) -> ActionResult:
    backend = self.ecr_backend
    rule = _get_rule(backend, self._get_param("ecrRepositoryPrefix"), self._get_param("registryId"))
    failure = None
    if rule.get("customRoleArn"):
        failure = _role_problem(backend.account_id, rule["customRoleArn"])
        if failure is None and rule.get("upstreamRegistry") == "ecr":
            failure = _permission_problem(backend.account_id, backend.region_name, rule, None)
    elif rule.get("credentialArn"):
        failure = _secret_problem(backend, rule["credentialArn"])
    view = {
        k: rule.get(k)
        for k in (
            "ecrRepositoryPrefix",
            "registryId",
            "upstreamRegistryUrl",
            "credentialArn",
            "customRoleArn",
            "upstreamRepositoryPrefix",
        )
        if rule.get(k) is not None
    }
    view["isValid"] = failure is None
    if failure:
        view["failure"] = failure
    return ActionResult(view)


def _encode_token(n: int) -> str:
    return f"echo-{n}"


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    m = re.fullmatch(r"echo-(\d+)", token)
    if not m:
        raise InvalidNextTokenException("The specified nextToken is not valid")
    return int(m.group(1))


def describe_repositories(self: Any) -> ActionResult:
    names = self._get_param("repositoryNames")
    registry_id = self._get_param("registryId")
    max_results = self._get_param("maxResults")
    backend = self.ecr_backend
    if names or (registry_id and registry_id != backend.account_id):
        repos = backend.describe_repositories(repository_names=names, registry_id=registry_id)
        repos = sorted(repos, key=lambda r: r.name)
    else:
        repos = _sorted_repositories(backend)
    if names or max_results is None and not self._get_param("nextToken"):
        # AWS's default page is 100 even without maxResults: keep that so
        # callers that forget to paginate are caught by the tests.
        max_results = 100
    if max_results is not None and not 1 <= int(max_results) <= 1000:
        raise ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000 and greater than or equal to 1"
        )
    start = _decode_token(self._get_param("nextToken"))
    size = int(max_results or 100)
    # Serialised here: moto's generic serialiser spends ~0.5 ms per repository, which would make
    # a 1,000-repository page five times slower than ECR and hide the latency being measured.
    page = [_repository_json(r) for r in repos[start : start + size]]
    result: dict[str, Any] = {"repositories": page}
    if start + size < len(repos):
        result["nextToken"] = _encode_token(start + size)
    return json.dumps(result)


_SORTED_LOCK = threading.Lock()


def _sorted_repositories(backend: Any) -> list[Any]:
    """Every repository by name, sorted once per change rather than per page: sorting 50,000
    repositories for each of 50 pages made the listing quadratic (~50 ms of CPU a page), far
    from ECR's and a drag on every other request the emulator serves meanwhile."""
    with _SORTED_LOCK:
        key = (getattr(backend, "_echo_changes", 0), len(backend.repositories))
        cached = getattr(backend, "_echo_sorted", None)
        if cached is None or cached[0] != key:
            cached = (key, sorted(backend.repositories.values(), key=lambda r: r.name))
            backend._echo_sorted = cached
        return cached[1]


def _counting_changes(method: Any) -> Any:
    def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._echo_changes = getattr(self, "_echo_changes", 0) + 1

    return changed


def _repository_json(r: Any) -> dict[str, Any]:
    return {
        "repositoryArn": r.arn,
        "registryId": r.registry_id,
        "repositoryName": r.name,
        "repositoryUri": r.uri,
        "createdAt": r.created_at.replace(tzinfo=timezone.utc).timestamp() if r.created_at.tzinfo is None else r.created_at.timestamp(),
        "imageTagMutability": r.image_tag_mutability,
        "imageScanningConfiguration": r.image_scanning_configuration,
        "encryptionConfiguration": r.encryption_configuration,
    }


# --- repository creation templates (moto has none) -----------------------------

APPLIED_FOR = {"REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"}
ECR_SERVICE = "ecr.amazonaws.com"


def _templates(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "echo_templates"):
        backend.echo_templates = {}
    return backend.echo_templates


def _template_params(self: Any) -> dict[str, Any]:
    names = (
        "prefix",
        "description",
        "encryptionConfiguration",
        "resourceTags",
        "imageTagMutability",
        "imageTagMutabilityExclusionFilters",
        "repositoryPolicy",
        "lifecyclePolicy",
        "appliedFor",
        "customRoleArn",
    )
    return {n: self._get_param(n) for n in names}


def _check_template(params: dict[str, Any], creating: bool) -> None:
    """AWS's checks on a template (ECR API reference, CreateRepositoryCreationTemplate)."""
    _validate_prefix("prefix", params.get("prefix"))
    applied = params.get("appliedFor")
    if creating and not applied:
        raise ValidationException("1 validation error detected: Value null at 'appliedFor' failed to satisfy constraint: Member must not be null")
    for a in applied or []:
        if a not in APPLIED_FOR:
            raise ValidationException(
                f"1 validation error detected: Value '[{a}]' at 'appliedFor' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {sorted(APPLIED_FOR)}"
            )
    mutability = params.get("imageTagMutability")
    if mutability is not None and mutability not in ("MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"):
        raise ValidationException(f"1 validation error detected: Value '{mutability}' at 'imageTagMutability' failed to satisfy constraint")
    exclusions = params.get("imageTagMutabilityExclusionFilters")
    if str(mutability).endswith("_WITH_EXCLUSION") and not exclusions:
        raise InvalidParameterException(f"Invalid parameter: imageTagMutability {mutability} needs imageTagMutabilityExclusionFilters")
    if exclusions and not str(mutability).endswith("_WITH_EXCLUSION"):
        raise InvalidParameterException("Invalid parameter: imageTagMutabilityExclusionFilters can be set only with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION")
    enc = params.get("encryptionConfiguration") or {}
    enc_type = enc.get("encryptionType", "AES256")
    if enc_type not in ("AES256", "KMS", "KMS_DSSE"):
        raise ValidationException(f"1 validation error detected: Value '{enc_type}' at 'encryptionConfiguration.encryptionType' failed to satisfy constraint")
    if enc_type == "AES256" and enc.get("kmsKey"):
        raise InvalidParameterException("Invalid parameter: kmsKey can only be specified when encryptionType is KMS or KMS_DSSE")
    if (params.get("resourceTags") or enc_type != "AES256") and not params.get("customRoleArn"):
        raise InvalidParameterException(
            "Invalid parameter: a customRoleArn is required when the template specifies resourceTags or KMS encryption"
        )
    role = params.get("customRoleArn")
    if role and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@/_-]+$", role):
        raise InvalidParameterException(f"Invalid parameter at 'customRoleArn': '{role}' is not an IAM role ARN")
    if params.get("lifecyclePolicy"):
        try:
            ecr_models.EcrLifecyclePolicyValidator(params["lifecyclePolicy"]).validate()
        except Exception as e:  # moto's validator raises its own InvalidParameterException
            raise InvalidParameterException(f"Invalid parameter at 'lifecyclePolicy': {e}")
        _check_archive_rules(params["lifecyclePolicy"])
    if params.get("repositoryPolicy"):
        try:
            json.loads(params["repositoryPolicy"])
        except ValueError:
            raise InvalidParameterException("Invalid parameter at 'repositoryPolicy': not valid JSON")


def _template_view(t: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in t.items() if v not in (None, "")}


def create_repository_creation_template(self: Any) -> ActionResult:
    backend = self.ecr_backend
    template = put_template(backend, _template_params(self), creating=True)
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": _template_view(template)})


def put_template(backend: Any, params: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Creates or updates a template with AWS's checks; shared by the API and CloudFormation."""
    if not creating:
        template = _get_template(backend, params["prefix"])
        merged = dict(template)
        for k, v in params.items():
            if v is not None and k != "prefix":
                merged[k] = v
        if not str(merged.get("imageTagMutability", "")).endswith("_WITH_EXCLUSION"):
            # Exclusions mean something only with a *_WITH_EXCLUSION setting (inferred).
            merged.pop("imageTagMutabilityExclusionFilters", None)
        _check_template(merged, creating=False)
        merged["updatedAt"] = _now()
        template.clear()
        template.update(merged)
        return template
    _check_template(params, creating=True)
    prefix = _strip_slash(params["prefix"])
    templates = _templates(backend)
    if prefix in templates:
        raise TemplateAlreadyExistsException(f"The repository creation template with prefix '{prefix}' already exists in the registry with id '{backend.account_id}'")
    template = dict(params, prefix=prefix, createdAt=_now(), updatedAt=_now())
    if not template.get("imageTagMutability"):
        template["imageTagMutability"] = "MUTABLE"
    if not template.get("encryptionConfiguration"):
        template["encryptionConfiguration"] = {"encryptionType": "AES256"}
    templates[prefix] = template
    return template


def _get_template(backend: Any, prefix: str | None) -> dict[str, Any]:
    t = _templates(backend).get(_strip_slash(prefix or ""))
    if t is None:
        raise TemplateNotFoundException(f"The repository creation template with prefix '{prefix}' does not exist in the registry with id '{backend.account_id}'")
    return t


def update_repository_creation_template(self: Any) -> ActionResult:
    backend = self.ecr_backend
    template = put_template(backend, _template_params(self), creating=False)
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": _template_view(template)})


def delete_repository_creation_template(self: Any) -> ActionResult:
    backend = self.ecr_backend
    template = _get_template(backend, self._get_param("prefix"))
    del _templates(backend)[template["prefix"]]
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": _template_view(template)})


def describe_repository_creation_templates(self: Any) -> ActionResult:
    backend = self.ecr_backend
    prefixes = self._get_param("prefixes")
    max_results = int(self._get_param("maxResults") or 100)
    if prefixes:
        selected = [_get_template(backend, p) for p in prefixes]
    else:
        selected = sorted(_templates(backend).values(), key=lambda t: t["prefix"])
    start = _decode_token(self._get_param("nextToken"))
    page = selected[start : start + max_results]
    result: dict[str, Any] = {
        "registryId": backend.account_id,
        "repositoryCreationTemplates": [_template_view(t) for t in page],
    }
    if start + max_results < len(selected):
        result["nextToken"] = _encode_token(start + max_results)
    return ActionResult(result)


# --- pull-time-update exclusions (registry-wide, per region; at most 100) ------------

MAX_PULL_TIME_EXCLUSIONS = 100


def _exclusions(backend: Any) -> dict[str, datetime]:
    if not hasattr(backend, "echo_pull_time_exclusions"):
        backend.echo_pull_time_exclusions = {}
    return backend.echo_pull_time_exclusions


def register_pull_time_update_exclusion(self: Any) -> ActionResult:
    backend = self.ecr_backend
    arn = self._get_param("principalArn")
    excluded = _exclusions(backend)
    if arn in excluded:
        raise ExclusionAlreadyExistsException(f"The principal '{arn}' is already in the pull time update exclusion list")
    if len(excluded) >= MAX_PULL_TIME_EXCLUSIONS:
        raise LimitExceededException("The maximum number of pull time update exclusions has been reached for this registry")
    excluded[arn] = _now()
    return ActionResult({"principalArn": arn, "createdAt": excluded[arn]})


def deregister_pull_time_update_exclusion(self: Any) -> ActionResult:
    backend = self.ecr_backend
    arn = self._get_param("principalArn")
    if _exclusions(backend).pop(arn, None) is None:
        raise ExclusionNotFoundException(f"The principal '{arn}' is not in the pull time update exclusion list")
    return ActionResult({"principalArn": arn})


def list_pull_time_update_exclusions(self: Any) -> ActionResult:
    backend = self.ecr_backend
    # The API reference: up to 100 results when maxResults is absent.
    max_results = int(self._get_param("maxResults") or 100)
    arns = sorted(_exclusions(backend))
    start = _decode_token(self._get_param("nextToken"))
    result: dict[str, Any] = {"pullTimeUpdateExclusions": arns[start : start + max_results]}
    if start + max_results < len(arns):
        result["nextToken"] = _encode_token(start + max_results)
    return ActionResult(result)


def _matching_template(backend: Any, repo_name: str, applied_for: str) -> dict[str, Any] | None:
    best = None
    for prefix, t in _templates(backend).items():
        if applied_for not in (t.get("appliedFor") or []):
            continue
        if prefix != "ROOT" and repo_name.startswith(prefix + "/"):
            if best is None or len(prefix) > len(best["prefix"]):
                best = t
    if best is None:
        root = _templates(backend).get("ROOT")
        if root and applied_for in (root.get("appliedFor") or []):
            best = root
    return best


def _trusts(account_id: str, role_arn: str, service: str) -> bool:
    from moto.iam.models import iam_backends

    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam_backends[account_id]["global"].get_role(name)
    except Exception:
        return False
    doc = role.assume_role_policy_document
    trust = json.loads(doc) if isinstance(doc, str) else doc
    statements = trust.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    for st in statements:
        services = (st.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and service in services:
            return True
    return False


def _create_cached_repository(backend: Any, name: str) -> None:
    """Create a repository as the cache does: with its creation template's settings."""
    t = _matching_template(backend, name, "PULL_THROUGH_CACHE")
    if t is None:
        _create_repository(backend, name)
        return
    role = t.get("customRoleArn")
    if role and not _trusts(backend.account_id, role, ECR_SERVICE):
        # ECR cannot assume the template's role, so the repository is not created.
        raise ecr_models.RepositoryNotFoundException(name, backend.account_id)
    enc = t.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    backend.create_repository(
        repository_name=name,
        registry_id=None,
        encryption_config=enc,
        image_scan_config=None,
        image_tag_mutability=t.get("imageTagMutability") or "MUTABLE",
        image_tag_mutability_exclusion_filters=t.get("imageTagMutabilityExclusionFilters"),
        tags=t.get("resourceTags") or [],
    )
    if t.get("lifecyclePolicy"):
        backend.put_lifecycle_policy(None, name, t["lifecyclePolicy"])
    if t.get("repositoryPolicy"):
        backend.set_repository_policy(None, name, t["repositoryPolicy"])


# --- simulated pull ------------------------------------------------------------


def _matching_rule(backend: Any, repo_name: str) -> dict[str, Any] | None:
    best = None
    for prefix, rule in _rules(backend).items():
        if prefix != "ROOT" and repo_name.startswith(prefix + "/"):
            if best is None or len(prefix) > len(best["ecrRepositoryPrefix"]):
                best = rule
    if best is None and "ROOT" in _rules(backend):
        best = _rules(backend)["ROOT"]
    return best


def _fill_cache(backend: Any, repo_name: str, tags: list[str]) -> None:
    """Fetch ``tags`` of ``repo_name`` from the upstream registry, as the cache does on a pull
    by tag: the first one creates the repository; a tag the cache lacks is fetched into the
    existing repository; only the tags pulled are copied (a digest pull fetches nothing)."""
    rule = _matching_rule(backend, repo_name)
    if rule is None or not tags:
        return
    if rule["upstreamRegistry"] != "ecr":
        return
    problem = _role_problem(backend.account_id, rule.get("customRoleArn") or "") or _permission_problem(
        backend.account_id, backend.region_name, rule, repo_name
    )
    if problem:
        print(f"CACHE FILL DENIED {repo_name}: {problem}", file=sys.stderr, flush=True)
        raise ecr_models.RepositoryNotFoundException(repo_name, backend.account_id)
    m = ECR_UPSTREAM_URL.match(rule["upstreamRegistryUrl"])
    upstream_account, upstream_region = m.group(1), m.group(2)
    rest = repo_name if rule["ecrRepositoryPrefix"] == "ROOT" else repo_name[len(rule["ecrRepositoryPrefix"]) + 1 :]
    upstream_prefix = rule.get("upstreamRepositoryPrefix") or "ROOT"
    upstream_name = rest if upstream_prefix == "ROOT" else f"{upstream_prefix}/{rest}"
    upstream = ecr_models.ecr_backends[upstream_account][upstream_region]
    source = upstream.repositories.get(upstream_name)
    if source is None:
        return
    wanted = [i for i in source.images if set(i.image_tags or []) & set(tags)]
    if not wanted:
        return
    if repo_name not in backend.repositories:
        _create_cached_repository(backend, repo_name)
    have = {t for i in backend.repositories[repo_name].images for t in (i.image_tags or [])}
    for image in wanted:
        for tag in image.image_tags or []:
            if tag in tags and tag not in have:
                backend.put_image(repo_name, image.image_manifest, tag, image.image_manifest_media_type)


def _record_pull(backend: Any, repo_name: str, images: list[Any]) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    now = _now()
    for image in images:
        image.last_recorded_pull_time = now
    cloudwatch_backends[backend.account_id][backend.region_name].put_metric_data(
        "AWS/ECR",
        [
            {
                "MetricName": "RepositoryPullCount",
                "Dimensions": [{"Name": "RepositoryName", "Value": repo_name}],
                "Value": float(len(images)),
                "Unit": "Count",
                # moto's CloudWatch compares naive UTC datetimes
                "Timestamp": now.replace(tzinfo=None),
            }
        ],
    )


_original_batch_get_image = ecr_models.ECRBackend.batch_get_image


def batch_get_image(self: Any, repository_name: str, registry_id: str | None = None, image_ids: Any = None) -> Any:
    cached = _matching_rule(self, repository_name) is not None
    if cached:
        _fill_cache(self, repository_name, [i["imageTag"] for i in image_ids or [] if i.get("imageTag")])
    response = _original_batch_get_image(self, repository_name, registry_id, image_ids)
    # An archived image is not served until it is restored (a pull answers 404).
    archived = [i for i in response["images"] if getattr(i, "image_status", "ACTIVE") != "ACTIVE"]
    if archived:
        response["images"] = [i for i in response["images"] if i not in archived]
        response.setdefault("failures", []).extend(
            {"imageId": {"imageDigest": i.image_digest}, "failureCode": "ImageNotFound", "failureReason": "The image is archived; restore it to pull it"}
            for i in archived
        )
    if cached and response["images"]:
        _record_pull(self, repository_name, response["images"])
    return response


_original_get_authorization_token = ecr_responses.ECRResponse.get_authorization_token


def get_authorization_token(self: Any) -> Any:
    """ECR's tokens last 12 hours from now (moto answers with a fixed date in 2015)."""
    result = _original_get_authorization_token(self)
    for d in result.result["authorizationData"]:
        d["expiresAt"] = _now() + timedelta(hours=12)
    return result


# --- archive storage class (Nov 2025; moto 5.2.5 has none of it) ---------------------------


def _image_of(repo: Any, image_id: dict[str, Any]) -> Any:
    for image in repo.images:
        if image_id.get("imageDigest") and image.image_digest == image_id["imageDigest"]:
            return image
        if image_id.get("imageTag") and image_id["imageTag"] in (image.image_tags or []):
            return image
    return None


def update_image_storage_class(self: Any) -> ActionResult:
    """``UpdateImageStorageClass``: ARCHIVE archives an image; STANDARD restores it (at once
    here; AWS passes through ACTIVATING for a while)."""
    backend = self.ecr_backend
    name = self._get_param("repositoryName")
    repo = backend.repositories.get(name)
    if repo is None:
        raise ecr_models.RepositoryNotFoundException(name, backend.account_id)
    image_id = self._get_param("imageId") or {}
    image = _image_of(repo, image_id)
    if image is None:
        raise ecr_models.ImageNotFoundException(image_id=image_id, repository_name=name, registry_id=backend.account_id)
    target = self._get_param("targetStorageClass")
    image.image_status = "ARCHIVED" if target == "ARCHIVE" else "ACTIVE"
    return ActionResult(
        {
            "registryId": backend.account_id,
            "repositoryName": name,
            "imageId": {"imageDigest": image.image_digest},
            "imageStatus": image.image_status,
        }
    )


_original_describe_images = ecr_responses.ECRResponse.describe_images


def describe_images(self: Any) -> ActionResult:
    """Only ACTIVE images unless ``filter.imageStatus`` says otherwise (ECR API reference)."""
    wanted = (self._get_param("filter") or {}).get("imageStatus") or "ACTIVE"
    result = _original_describe_images(self)
    details = result.result["imageDetails"]
    kept = [d for d in details if wanted == "ANY" or getattr(d, "image_status", "ACTIVE") == wanted]
    details[:] = kept
    return result


def _allow_archive_lifecycle() -> None:
    """moto 5.2.5's lifecycle validator predates the archive storage class (Nov 2025): the
    transition action, ``storageClass`` and the two new count types are added; the rules AWS
    states about them are checked by ``_check_archive_rules``."""
    from moto.ecr import policy_validation as pv

    pv.VALID_ACTION_TYPE_VALUES.add("transition")
    pv.VALID_ACTION_PROPERTIES = {"type", "targetStorageClass"}
    pv.VALID_SELECTION_PROPERTIES.add("storageClass")
    pv.VALID_SELECTION_COUNT_TYPE_VALUES.update({"sinceImagePulled", "sinceImageTransitioned"})


def _check_archive_rules(text: str) -> None:
    """ECR user guide, lifecycle policies with archive: ``transition`` needs
    ``targetStorageClass: archive``; ``sinceImagePulled`` works only with a transition;
    ``sinceImageTransitioned`` only selects archived images."""
    for rule in json.loads(text).get("rules", []):
        action, selection = rule.get("action", {}), rule.get("selection", {})
        fail = lambda why: InvalidParameterException(  # noqa: E731
            f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rule {rule.get('rulePriority')}: {why}'"
        )
        if action.get("type") == "transition" and action.get("targetStorageClass") != "archive":
            raise fail("a transition action needs targetStorageClass archive")
        if action.get("type") != "transition" and "targetStorageClass" in action:
            raise fail("targetStorageClass is only for a transition action")
        if selection.get("countType") == "sinceImagePulled" and action.get("type") != "transition":
            raise fail("sinceImagePulled can be used only with a transition action")
        if selection.get("countType") == "sinceImageTransitioned" and selection.get("storageClass") != "archive":
            raise fail("sinceImageTransitioned needs storageClass archive")
        if selection.get("storageClass") not in (None, "standard", "archive"):
            raise fail("storageClass must be standard or archive")


def install_ecr() -> None:
    _allow_archive_lifecycle()
    for fn in (
        get_authorization_token,
        create_pull_through_cache_rule,
        describe_pull_through_cache_rules,
        update_pull_through_cache_rule,
        delete_pull_through_cache_rule,
        validate_pull_through_cache_rule,
        describe_repositories,
        create_repository_creation_template,
        update_repository_creation_template,
        delete_repository_creation_template,
        describe_repository_creation_templates,
        update_image_storage_class,
        describe_images,
        register_pull_time_update_exclusion,
        deregister_pull_time_update_exclusion,
        list_pull_time_update_exclusions,
    ):
        setattr(ecr_responses.ECRResponse, fn.__name__, fn)
    ecr_models.ECRBackend.batch_get_image = batch_get_image
    # Every change to the set of repositories invalidates the sorted listing.
    for name in ("create_repository", "delete_repository"):
        setattr(ecr_models.ECRBackend, name, _counting_changes(getattr(ecr_models.ECRBackend, name)))
    # DescribeImages: moto never serialises lastRecordedPullTime unless the attribute exists.
    ecr_models.Image.last_recorded_pull_time = None
    ecr_models.Image.image_status = "ACTIVE"


# --- fault control -------------------------------------------------------------


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []

    def add(self, spec: dict[str, Any]) -> None:
        spec = dict(spec)
        spec.setdefault("times", 1)
        spec.setdefault("status", 400)
        spec.setdefault("latency_ms", 0)
        with self.lock:
            self.rules.append(spec)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, operation: str) -> dict[str, Any] | None:
        with self.lock:
            for rule in self.rules:
                if rule["operation"] == operation and rule["times"] != 0:
                    if rule["times"] > 0:
                        rule["times"] -= 1
                    return dict(rule)
        return None


FAULTS = Faults()


class Traffic:
    """Latency added to every AWS call, and how many calls each operation got."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency_ms = 0
        self.calls: dict[str, int] = {}

    def call(self, operation: str) -> None:
        """Counts one call of ``operation`` and holds it for the configured latency."""
        # ECHO_TRACE=<file>: each call's arrival time and thread, for a benchmark's timeline.
        if os.environ.get("ECHO_TRACE"):
            with open(os.environ["ECHO_TRACE"], "a") as f:
                f.write(f"{time.time():.3f} {threading.get_ident()} {operation}\n")
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"total": sum(self.calls.values()), "calls": dict(self.calls)}

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()


TRAFFIC = Traffic()


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _operation(environ: dict[str, Any], body: bytes) -> tuple[str | None, str]:
    """The AWS operation name and the wire protocol of a request."""
    path = environ.get("PATH_INFO", "")
    m = re.match(r"^/service/[^/]+/operation/([A-Za-z]+)$", path)
    if m:
        return m.group(1), "cbor"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0], "query"
    return None, "rest"


def _error_response(protocol: str, code: str, message: str, status: int) -> tuple[str, list[tuple[str, str]], bytes]:
    status_line = f"{status} Error"
    if protocol == "cbor":
        body = cbor2.dumps({"__type": code, "message": message})
        return status_line, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], body
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status_line, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return status_line, [("Content-Type", "text/xml")], body


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- CloudWatch rpc-v2-cbor bridge -----------------------------------------------


def _cbor_to_json(value: Any) -> Any:
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return value.value
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_to_json(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


TIMESTAMP_KEYS = {"Timestamps", "Timestamp", "StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp"}


def _json_to_cbor(value: Any, key: str | None = None) -> Any:
    if key in TIMESTAMP_KEYS:
        if isinstance(value, list):
            return [cbor2.CBORTag(1, _epoch(v)) for v in value]
        return cbor2.CBORTag(1, _epoch(value))
    if isinstance(value, dict):
        return {k: _json_to_cbor(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_to_cbor(v) for v in value]
    return value


def _epoch(v: Any) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()


def _bridge_cbor(app: Any, environ: dict[str, Any], start_response: Any, operation: str, body: bytes) -> Any:
    payload = cbor2.loads(body) if body else {}
    json_body = json.dumps(_cbor_to_json(payload)).encode()
    inner = dict(environ)
    inner["PATH_INFO"] = "/"
    inner["REQUEST_METHOD"] = "POST"
    inner["CONTENT_TYPE"] = "application/x-amz-json-1.0"
    inner["CONTENT_LENGTH"] = str(len(json_body))
    inner["HTTP_X_AMZ_TARGET"] = f"GraniteServiceVersion20100801.{operation}"
    inner["wsgi.input"] = io.BytesIO(json_body)
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status
        captured["headers"] = headers
        return lambda _data: None

    chunks = b"".join(app(inner, capture))
    status = captured.get("status", "500 Internal Server Error")
    try:
        data = json.loads(chunks) if chunks else {}
    except ValueError:
        data = {"__type": "InternalFailure", "message": chunks.decode("utf-8", "replace")}
    if not status.startswith("2"):
        code = str(data.get("__type", "InternalFailure")).split("#")[-1]
        data = {"__type": code, "message": data.get("message") or data.get("Message") or ""}
        out = cbor2.dumps(data)
    else:
        out = cbor2.dumps(_json_to_cbor(data))
    start_response(
        status,
        [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(out)))],
    )
    return [out]


REGISTRY_PATH = re.compile(r"^/_registry/(\d{12})/([a-z0-9-]+)/v2/(.+)/manifests/([^/]+)$")


def _oci_error(status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": {}}]}).encode()
    reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "Error")
    return f"{status} {reason}", [("Content-Type", "application/json; charset=utf-8")] + (extra or []), body


def _registry(environ: dict[str, Any], path: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """A manifest request as ECR's registry endpoint answers it."""
    import base64

    m = REGISTRY_PATH.match(path)
    if not m or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return _oci_error(404, "NOT_FOUND", "only manifest requests are emulated")
    account, region, name, reference = m.groups()
    expected = base64.b64encode(f"AWS:{account}-auth-token".encode()).decode()
    if environ.get("HTTP_AUTHORIZATION", "") != f"Basic {expected}":
        return _oci_error(401, "DENIED", "Your authorization token has expired. Reauthenticate and try again.", [("WWW-Authenticate", f'Basic realm="https://{account}.dkr.ecr.{region}.amazonaws.com/",service="ecr.amazonaws.com"')])
    fault = FAULTS.take("RegistryGetManifest")
    if fault and fault.get("code"):
        return _oci_error(int(fault["status"]), fault["code"], fault.get("message") or "Injected fault")
    backend = ecr_models.ecr_backends[account][region]
    if reference.startswith("sha256:"):
        ids = [{"imageDigest": reference}]
        # A pull-through cache fills only on tag pulls: a digest of an image not yet cached
        # is unknown here.
        if name not in backend.repositories:
            return _oci_error(404, "NAME_UNKNOWN", f"The repository with name '{name}' does not exist in the registry with id '{account}'")
        response = _original_batch_get_image(backend, name, None, ids)
    else:
        try:
            response = backend.batch_get_image(name, None, [{"imageTag": reference}])
        except ecr_models.RepositoryNotFoundException:
            return _oci_error(404, "NAME_UNKNOWN", f"The repository with name '{name}' does not exist in the registry with id '{account}'")
    if not response["images"]:
        return _oci_error(404, "MANIFEST_UNKNOWN", f"Requested image not found")
    image = response["images"][0]
    manifest = image.image_manifest
    media = image.image_manifest_media_type or json.loads(manifest).get("mediaType") or "application/vnd.docker.distribution.manifest.v2+json"
    body = manifest.encode() if environ["REQUEST_METHOD"] == "GET" else b""
    return "200 OK", [("Content-Type", media), ("Docker-Content-Digest", image.image_digest), ("Docker-Distribution-API-Version", "registry/2.0")], body


def _fast_get_metric_data(environ: dict[str, Any], body: bytes) -> bytes | None:
    """``GetMetricData`` of plain ``MetricStat`` queries answered straight from the backend:
    moto's generic request parser and response serialiser take ~150 ms for 500 queries, ten
    times what CloudWatch needs, and would make the emulator the bottleneck of any benchmark.
    Same results as the bridged path (the same indexed ``get_metric_data``); anything else
    (expressions, units, bad input) goes the normal way and gets moto's validation."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.iam.models import get_account_id_from

    try:
        payload = environ.get("echo.cbor") or cbor2.loads(body)
        queries = payload["MetricDataQueries"]
        if not queries or len(queries) > 500 or any("MetricStat" not in q or "Unit" in q["MetricStat"] for q in queries):
            return None
        start = datetime.fromtimestamp(_epoch(_cbor_to_json(payload["StartTime"])), timezone.utc).replace(tzinfo=None)
        end = datetime.fromtimestamp(_epoch(_cbor_to_json(payload["EndTime"])), timezone.utc).replace(tzinfo=None)
        m = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        if not m or start >= end:
            return None
        account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(m.group(1))
        backend = cloudwatch_backends[account][m.group(2)]
    except Exception:
        return None
    results = backend.get_metric_data(queries, start, end, payload.get("ScanBy", "TimestampAscending"))
    out = {
        "MetricDataResults": [
            {
                "Id": r["id"],
                "Label": r["label"],
                "Timestamps": [cbor2.CBORTag(1, t.replace(tzinfo=timezone.utc).timestamp() if t.tzinfo is None else t.timestamp()) for t in r["timestamps"]],
                "Values": [float(v) for v in r["values"]],
                "StatusCode": r["status_code"],
            }
            for r in results
        ],
        "Messages": [],
    }
    return cbor2.dumps(out)


# --- control endpoints -----------------------------------------------------------


def _create_repository(backend: Any, name: str) -> None:
    backend.create_repository(
        repository_name=name,
        registry_id=None,
        encryption_config=None,
        image_scan_config=None,
        image_tag_mutability=None,
        tags=[],
    )


def _manifest(size: int, config_digest: str, layer_digest: str) -> str:
    """A one-layer Docker image manifest."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": size, "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": size, "digest": layer_digest}],
        }
    )


def _seed_upstream_image(spec: dict[str, Any]) -> dict[str, Any]:
    backend = ecr_models.ecr_backends[spec["account"]][spec.get("region", "us-east-1")]
    name = spec["repository"]
    if name not in backend.repositories:
        _create_repository(backend, name)
    manifest = _manifest(int(spec.get("size", 7023)), "sha256:" + uuid.uuid4().hex * 2, "sha256:" + uuid.uuid4().hex * 2)
    image = backend.put_image(name, manifest, spec.get("tag", "latest"))
    return {"repository": name, "digest": image.image_digest}


def _seed_cached_repositories(spec: dict[str, Any]) -> dict[str, Any]:
    """``count`` repositories ``<prefix>/image-NNNNN`` as a cache fills them: one image each,
    a recorded pull, and ``pulls`` (default: the index mod 7) in ``AWS/ECR
    RepositoryPullCount``. Much faster than ``count`` simulated pulls."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

    account = spec.get("account", "123456789012")
    region = spec.get("region", "eu-west-1")
    backend = ecr_models.ecr_backends[account][region]
    watch = cloudwatch_backends[account][region]
    prefix = spec.get("prefix", "echo")
    now = _now()
    manifest = _manifest(7023, "sha256:" + "c" * 64, "sha256:" + "d" * 64)
    count = int(spec["count"])
    for i in range(count):
        name = f"{prefix}/image-{i:05d}"
        if name not in backend.repositories:
            _create_repository(backend, name)
            image = backend.put_image(name, manifest, "latest")
            image.last_recorded_pull_time = now
        pulls = spec.get("pulls", i % 7)
        if pulls:
            watch.metric_data.append(
                MetricDatum(
                    "AWS/ECR",
                    "RepositoryPullCount",
                    float(pulls),
                    [{"Name": "RepositoryName", "Value": name}],
                    now.replace(tzinfo=None),
                    "Count",
                )
            )
    # Indexed now, as CloudWatch has its data indexed: the first query of a benchmark would
    # otherwise pay for it.
    _metric_index(watch)
    return {"repositories": count}


_INDEX_LOCK = threading.Lock()


def _metric_index(backend: Any) -> dict[tuple[Any, ...], list[Any]]:
    """Every datum by (metric, dimensions), built once per batch of new data rather than per
    call: 100 calls of 500 queries over 50,000 series would otherwise rescan every datum each
    time (~200 ms a call here, where CloudWatch answers in tens of milliseconds)."""
    metrics = backend.get_all_metrics()
    with _INDEX_LOCK:
        cached = getattr(backend, "_echo_metric_index", None)
        if cached is not None and cached[0] == len(metrics):
            return cached[1]
        index: dict[tuple[Any, ...], list[Any]] = {}
        for md in metrics:
            key = (md.name, tuple(sorted((d.name, d.value) for d in md.dimensions)))
            index.setdefault(key, []).append(md)
        backend._echo_metric_index = (len(metrics), index)
        return index


INSIGHTS_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fn>SUM|AVG|MIN|MAX|COUNT)\s*\(\s*(?P<metric>[A-Za-z0-9_.-]+)\s*\)"
    r"\s+FROM\s+(?:SCHEMA\s*\(\s*\"(?P<schema>[^\"]+)\"\s*(?P<keys>(?:,\s*[A-Za-z0-9_.-]+\s*)*)\)|\"?(?P<ns>[A-Za-z0-9_./-]+)\"?)"
    r"(?:\s+GROUP\s+BY\s+(?P<group>[A-Za-z0-9_.-]+(?:\s*,\s*[A-Za-z0-9_.-]+)*))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>SUM|AVG|MIN|MAX|COUNT)\s*\(\s*\)(?:\s+(?P<dir>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE,
)
# CloudWatch's Metrics Insights limits (cloudwatch-metrics-insights-limits): a query processes
# at most 10,000 metrics, returns at most 500 series, and looks back at most two weeks.
INSIGHTS_MAX_METRICS = 10_000
INSIGHTS_MAX_SERIES = 500
INSIGHTS_LOOKBACK_DAYS = 14


def _aggregate(fn: str, values: list[float]) -> float:
    fn = fn.upper()
    if fn == "SUM":
        return float(sum(values))
    if fn == "AVG":
        return float(sum(values)) / len(values)
    if fn == "MIN":
        return float(min(values))
    if fn == "MAX":
        return float(max(values))
    return float(len(values))


def _metrics_insights(backend: Any, queries: list[dict[str, Any]], insights: list[dict[str, Any]], start_time: datetime, end_time: datetime, scan_by: str) -> list[dict[str, Any]]:
    """A CloudWatch Metrics Insights query (``SELECT FN(metric) FROM SCHEMA("ns", key, ...)
    [GROUP BY key, ...] [ORDER BY FN() ASC|DESC] [LIMIT n]``) as CloudWatch answers it: one
    series per group, labelled with the group's values, each period aggregated; ordered by
    the ORDER BY function over the whole range; at most 500 series, at most 10,000 metrics
    processed, data of the last two weeks only; one such query per call. WHERE is not
    emulated (refused, so a test cannot silently rely on it)."""
    from datetime import timedelta

    from moto.cloudwatch.exceptions import ValidationError

    if len(insights) > 1:
        raise ValidationError("Only one Metrics Insights query is allowed per GetMetricData call")
    if len(queries) > 1:
        raise ValidationError("The emulator answers a Metrics Insights query alone in its GetMetricData call")
    query = insights[0]
    m = INSIGHTS_QUERY.match(query["Expression"])
    if not m:
        raise ValidationError(f"Metrics Insights query not understood by the emulator: {query['Expression']}")
    if "Period" not in query:
        raise ValidationError("Period must be specified for a Metrics Insights query")
    start_time = start_time.replace(microsecond=0)
    end_time = end_time.replace(microsecond=0)
    if start_time >= end_time:
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    namespace = m.group("schema") or m.group("ns")
    keys = [k.strip() for k in (m.group("keys") or "").split(",") if k.strip()]
    group = [g.strip() for g in (m.group("group") or "").split(",") if g.strip()]
    fn = m.group("fn")
    metric = m.group("metric")
    limit = min(int(m.group("limit") or INSIGHTS_MAX_SERIES), INSIGHTS_MAX_SERIES)
    delta = timedelta(seconds=int(query["Period"]))
    earliest = max(start_time, _now().replace(tzinfo=None, microsecond=0) - timedelta(days=INSIGHTS_LOOKBACK_DAYS))
    # The metrics the FROM clause matches (SCHEMA: exactly those dimension keys), at most
    # 10,000 of them, each with its data in the window.
    matched = 0
    groups: dict[tuple[str, ...], dict[int, list[float]]] = {}
    wanted_keys = sorted(keys)
    for (name, dims), data in _metric_index(backend).items():
        if name != metric:
            continue
        if m.group("schema") is not None and [k for k, _ in dims] != wanted_keys:
            continue
        values = dict(dims)
        if any(g not in values for g in group):
            continue
        data = [md for md in data if md.namespace == namespace]
        if not data:
            continue
        matched += 1
        if matched > INSIGHTS_MAX_METRICS:
            break
        buckets = groups.setdefault(tuple(values[g] for g in group), {})
        for md in data:
            if earliest <= md.timestamp < end_time:
                buckets.setdefault(int((md.timestamp - start_time) / delta), []).append(float(md.value))
    order_fn = m.group("order") or fn
    ranked = [
        (_aggregate(order_fn, [v for values in buckets.values() for v in values]), labels, buckets)
        for labels, buckets in groups.items()
        if buckets
    ]
    if m.group("order"):
        sign = -1 if (m.group("dir") or "ASC").upper() == "DESC" else 1
        ranked.sort(key=lambda r: (sign * r[0], r[1]))
    series = []
    # Only the series returned are built.
    for _, labels, buckets in ranked[:limit]:
        periods = sorted(buckets)
        values = [_aggregate(fn, buckets[n]) for n in periods]
        stamps = [start_time + n * delta for n in periods]
        if scan_by == "TimestampDescending":
            values.reverse()
            stamps.reverse()
        series.append(
            {
                "id": query["Id"],
                "label": query.get("Label") or " ".join(labels) or query["Id"],
                "values": values,
                "timestamps": stamps,
                "status_code": "Complete",
            }
        )
    return series if query.get("ReturnData", True) else []


def install_cloudwatch() -> None:
    """``GetMetricData`` for plain ``MetricStat`` queries, indexed by metric: moto compares every
    query with every datum for every period, which takes minutes for 500 queries over 5,000
    series (CloudWatch answers in well under a second). Other queries keep moto's code."""
    from datetime import timedelta

    from moto.cloudwatch import models as cw

    original = cw.CloudWatchBackend.get_metric_data

    def get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: datetime, end_time: datetime, scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        insights = [q for q in queries if str(q.get("Expression", "")).lstrip().upper().startswith("SELECT")]
        if insights:
            return _metrics_insights(self, queries, insights, start_time, end_time, scan_by)
        if not queries or any("MetricStat" not in q or q["MetricStat"].get("Unit") for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        start_time = start_time.replace(microsecond=0)
        end_time = end_time.replace(microsecond=0)
        if start_time >= end_time:
            return original(self, queries, start_time, end_time, scan_by)
        index = _metric_index(self)
        results = []
        for query in queries:
            stat = query["MetricStat"]
            name = stat["Metric"]["MetricName"]
            dims = tuple(sorted((d["Name"], d["Value"]) for d in stat["Metric"].get("Dimensions", [])))
            data = [
                md
                for md in index.get((name, dims), [])
                if start_time <= md.timestamp < end_time and (dims or md.namespace == stat["Metric"]["Namespace"])
            ]
            delta = timedelta(seconds=int(stat["Period"]))
            buckets: dict[int, list[Any]] = {}
            for md in data:
                buckets.setdefault(int((md.timestamp - start_time) / delta), []).append(md)
            values, stamps = [], []
            for n in sorted(buckets):
                stats = cw.Statistics([stat["Stat"]], start_time + n * delta)
                stats.metric_data = buckets[n]
                values.append(stats.get_statistics_for_type(stat["Stat"]))
                stamps.append(stats.timestamp)
            if scan_by == "TimestampDescending":
                values.reverse()
                stamps.reverse()
            if query.get("ReturnData", True):
                label = query.get("Label") or f"{name} {stat['Stat']}"
                results.append({"id": query["Id"], "label": label, "values": values, "timestamps": stamps, "status_code": "Complete"})
        return results

    cw.CloudWatchBackend.get_metric_data = get_metric_data


# Regions an account has without opting in (commercial partition), as account:ListRegions
# reports them; moto has no Account ListRegions.
DEFAULT_REGIONS = [
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1",
    "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
]


def _list_regions(environ: dict[str, Any], start_response: Any, body: bytes) -> Any:
    fault = FAULTS.take("ListRegions")
    if fault and fault.get("code"):
        status, headers, out = _error_response("json", fault["code"], fault.get("message") or "Injected fault on ListRegions", int(fault["status"]))
        start_response(status, headers + [("Content-Length", str(len(out)))])
        return [out]
    spec = json.loads(body) if body else {}
    wanted = spec.get("RegionOptStatusContains") or ["ENABLED", "ENABLED_BY_DEFAULT"]
    regions = [{"RegionName": r, "RegionOptStatus": "ENABLED_BY_DEFAULT"} for r in DEFAULT_REGIONS]
    regions = [r for r in regions if r["RegionOptStatus"] in wanted]
    out = json.dumps({"Regions": regions}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


class EchoEmulator:
    """WSGI middleware in front of moto's app: faults, control endpoints, the CBOR bridge."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_echo/"):
            return self._control(environ, start_response, path)
        if path.startswith("/_registry/"):
            TRAFFIC.call("RegistryGetManifest")
            status, headers, out = _registry(environ, path)
            start_response(status, headers + [("Content-Length", str(len(out)))])
            return [out]
        body = _read_body(environ)
        if path == "/listRegions":
            operation, protocol = "ListRegions", "json"
        else:
            operation, protocol = _operation(environ, body)
        TRAFFIC.call(operation or f"{environ.get('REQUEST_METHOD')} {path}")
        refused = echo_conformance.violations(environ, operation, protocol, body)
        if refused:
            code, errors = refused
            text = echo_conformance.message(errors)
            print(f"CONFORMANCE {operation}: {text}", file=sys.stderr, flush=True)
            status, headers, out = _error_response(protocol, code, text, 400)
            start_response(status, headers + [("Content-Length", str(len(out)))])
            return [out]
        if path == "/listRegions":
            return _list_regions(environ, start_response, body)
        if operation:
            fault = FAULTS.take(operation)
            if fault:
                if fault["latency_ms"]:
                    time.sleep(fault["latency_ms"] / 1000.0)
                if "answer" in fault and protocol == "json":
                    # What the service answered, as a test scripts it (e.g. a validation
                    # that fails for a reason only the upstream knows).
                    out = json.dumps(fault["answer"]).encode()
                    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(out)))])
                    return [out]
                if fault.get("code"):
                    status, headers, out = _error_response(
                        protocol, fault["code"], fault.get("message") or f"Injected fault on {operation}", int(fault["status"])
                    )
                    start_response(status, headers + [("Content-Length", str(len(out)))])
                    return [out]
        if protocol == "cbor" and operation == "GetMetricData":
            fast = _fast_get_metric_data(environ, body)
            if fast is not None:
                start_response("200 OK", [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(fast)))])
                return [fast]
        if protocol == "cbor":
            return _bridge_cbor(self.app, environ, start_response, operation, body)
        return self.app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Any, path: str) -> Any:
        body = _read_body(environ)
        spec = json.loads(body) if body else {}
        result: Any = {"ok": True}
        if path == "/_echo/faults" and environ["REQUEST_METHOD"] == "POST":
            FAULTS.add(spec)
        elif path == "/_echo/faults" and environ["REQUEST_METHOD"] == "DELETE":
            FAULTS.clear()
        elif path == "/_echo/registry-policy":
            # Set as the upstream's owner would (moto's PutRegistryPolicy refuses the pull
            # actions a pull-through cache grant needs).
            ecr_models.ecr_backends[spec["account"]][spec.get("region", "us-east-1")].registry_policy = json.dumps(spec["policy"])
        elif path == "/_echo/upstream-image":
            result = _seed_upstream_image(spec)
        elif path == "/_echo/latency":
            TRAFFIC.latency_ms = int(spec.get("ms", 0))
        elif path == "/_echo/calls" and environ["REQUEST_METHOD"] == "DELETE":
            TRAFFIC.reset()
        elif path == "/_echo/calls":
            result = TRAFFIC.snapshot()
        elif path == "/_echo/cached-repositories":
            result = _seed_cached_repositories(spec)
        elif path == "/_echo/member-role":
            echo_cfn.member_role(spec["account"], spec["role"], spec.get("trusted_account", "123456789012"))
        elif path == "/_echo/stack-busy":
            # The stack reports UPDATE_IN_PROGRESS for its next `polls` DescribeStacks calls.
            echo_cfn.make_busy(spec.get("account", "123456789012"), spec.get("region", "eu-west-1"), spec["stack"], int(spec.get("polls", 1)))
        elif path == "/_echo/stackset-operation-polls":
            # Every stack set operation from now on stays RUNNING for at least this many polls.
            echo_cfn.MIN_POLLS["polls"] = int(spec.get("polls", 1))
        elif path == "/_echo/health":
            result = {"ok": True}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"ok":false}']
        out = json.dumps(result).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]


def build_app() -> Any:
    install_ecr()
    install_cloudwatch()
    echo_iam.install()
    echo_cfn.install(sys.modules[__name__])
    return EchoEmulator(DomainDispatcherApplication(create_backend_app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    server = make_server(args.host, args.port, build_app(), threaded=True)
    print(f"READY http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
