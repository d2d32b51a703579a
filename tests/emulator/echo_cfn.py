"""CloudFormation additions for echo-onboard's emulator.

moto skips ``AWS::ECR::PullThroughCacheRule``, stores ``AWS::IAM::Role`` inline policies as a
Python repr and ignores policy/trust/name changes on update, emits stack-level events only,
never rolls back a failed stack, and builds change sets by comparing template text. This module:

* adds an ``AWS::ECR::PullThroughCacheRule`` model backed by the emulator's rule store
  (create, replace on any property change, delete), which the fault control can make fail
  (operation ``CloudFormation:AWS::ECR::PullThroughCacheRule``);
* makes ``AWS::IAM::Role`` store policies as JSON and apply trust, policy, tag and name
  (replacement) changes on update;
* emits per-resource stack events, and turns a failing create/update into
  ``ROLLBACK_COMPLETE`` / ``UPDATE_ROLLBACK_COMPLETE`` with the failing resource's reason;
* computes change sets from resolved properties (parameters included), with ``Replacement``
  and ``Details`` as CloudFormation gives them;
* adds an ``AWS::SecretsManager::Secret`` model (moto has none), deleted without a recovery
  window as CloudFormation does, and masks NoEcho parameters in DescribeStacks;
* makes StackSets report what their stacks did: an instance whose stack rolled back is
  OUTDATED / FAILED with the failing resource's reason, operations give per-instance results
  and FAIL when one did, and UpdateStackSet redeploys the instances' stacks (replacing a
  failed one, as a retry does).
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ecr import models as ecr_models
from moto.iam import models as iam_models

RULE_TYPE = "AWS::ECR::PullThroughCacheRule"
emulator: Any = None  # the echo_emulator module, set by install()


def _conform(logical_id: str, service: str, operation: str, params: dict[str, Any]) -> None:
    """A resource handler calls the service's API: properties the service model refuses fail
    the resource with the API's validation message, as CloudFormation reports it."""
    import echo_conformance

    errors = echo_conformance.check_request(service, operation, params)
    if errors:
        raise ResourceFailed(logical_id, f"Resource handler returned message: \"{echo_conformance.message(errors)}\" (HandlerErrorCode: InvalidRequest)")


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str):
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason


# --- AWS::ECR::PullThroughCacheRule -------------------------------------------------


class PullThroughCacheRuleModel(CloudFormationModel):
    # moto derives the service from the module name when the class is created.
    __module__ = "moto.ecr.models"

    def __init__(self, account_id: str, region_name: str, prefix: str):
        self.account_id = account_id
        self.region_name = region_name
        self.prefix = prefix

    @property
    def physical_resource_id(self) -> str:
        return self.prefix

    @staticmethod
    def cloudformation_name_type() -> str:
        return "EcrRepositoryPrefix"

    @staticmethod
    def cloudformation_type() -> str:
        return RULE_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("RegistryId",)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.account_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> "PullThroughCacheRuleModel":
        logical_id = kwargs.get("LogicalId", "PullThroughCacheRule")
        fault = emulator.FAULTS.take(f"CloudFormation:{RULE_TYPE}")
        if fault:
            raise ResourceFailed(logical_id, fault.get("message") or f"Resource handler returned message: \"{fault.get('code', 'InternalFailure')}\"")
        props = cloudformation_json.get("Properties", {})
        backend = ecr_models.ecr_backends[account_id][region_name]
        params = {
            "ecrRepositoryPrefix": props.get("EcrRepositoryPrefix"),
            "upstreamRegistryUrl": props.get("UpstreamRegistryUrl"),
            "upstreamRegistry": props.get("UpstreamRegistry"),
            "customRoleArn": props.get("CustomRoleArn"),
            "credentialArn": props.get("CredentialArn"),
            "upstreamRepositoryPrefix": props.get("UpstreamRepositoryPrefix"),
        }
        _conform(logical_id, "ecr", "CreatePullThroughCacheRule", params)
        try:
            rule = emulator.create_rule(backend, params)
        except Exception as e:  # surface as a resource failure with AWS's message
            code = getattr(e, "code", type(e).__name__)
            message = getattr(e, "message", str(e))
            raise ResourceFailed(logical_id, f"Resource handler returned message: \"{message}\" (HandlerErrorCode: {code})")
        return cls(account_id, region_name, rule["ecrRepositoryPrefix"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: "PullThroughCacheRuleModel", new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> "PullThroughCacheRuleModel":
        # The resource type is immutable: every change is a replacement, under a new prefix
        # (the same prefix fails the whole update before any resource is touched; see
        # _custom_named_replacements). CloudFormation creates the new one, then deletes the old.
        new = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        if new.prefix != original_resource.prefix:
            original_resource.delete(account_id, region_name)
        return new

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        emulator._rules(ecr_models.ecr_backends[account_id][region_name]).pop(resource_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        emulator._rules(ecr_models.ecr_backends[account_id][region_name]).pop(self.prefix, None)




# --- AWS::ECR::RepositoryCreationTemplate -----------------------------------------------

TEMPLATE_TYPE = "AWS::ECR::RepositoryCreationTemplate"


def _template_params(props: dict[str, Any]) -> dict[str, Any]:
    """The API's parameters from the resource's properties (AWS::NoValue already dropped)."""
    enc = props.get("EncryptionConfiguration") or {}
    return {
        "prefix": props.get("Prefix"),
        "description": props.get("Description"),
        "appliedFor": props.get("AppliedFor"),
        "imageTagMutability": props.get("ImageTagMutability"),
        "encryptionConfiguration": {k: v for k, v in {"encryptionType": enc.get("EncryptionType"), "kmsKey": enc.get("KmsKey")}.items() if v} or None,
        "lifecyclePolicy": props.get("LifecyclePolicy") or None,
        "repositoryPolicy": props.get("RepositoryPolicy") or None,
        "resourceTags": [{"Key": t["Key"], "Value": t["Value"]} for t in props.get("ResourceTags") or []] or None,
        "customRoleArn": props.get("CustomRoleArn"),
    }


class RepositoryCreationTemplateModel(CloudFormationModel):
    __module__ = "moto.ecr.models"

    def __init__(self, account_id: str, region_name: str, prefix: str):
        self.account_id = account_id
        self.region_name = region_name
        self.prefix = prefix

    @property
    def physical_resource_id(self) -> str:
        return self.prefix

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Prefix"

    @staticmethod
    def cloudformation_type() -> str:
        return TEMPLATE_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("CreatedAt", "UpdatedAt")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return ""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> "RepositoryCreationTemplateModel":
        logical_id = kwargs.get("LogicalId", "RepositoryCreationTemplate")
        backend = ecr_models.ecr_backends[account_id][region_name]
        params = _template_params(cloudformation_json.get("Properties", {}))
        _conform(logical_id, "ecr", "CreateRepositoryCreationTemplate", params)
        try:
            template = emulator.put_template(backend, params, creating=True)
        except Exception as e:
            code = getattr(e, "code", type(e).__name__)
            message = getattr(e, "message", str(e))
            raise ResourceFailed(logical_id, f"Resource handler returned message: \"{message}\" (HandlerErrorCode: {code})")
        return cls(account_id, region_name, template["prefix"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: "RepositoryCreationTemplateModel", new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> "RepositoryCreationTemplateModel":
        params = _template_params(cloudformation_json.get("Properties", {}))
        if emulator._strip_slash(params.get("prefix") or "") != original_resource.prefix:
            # Prefix is create-only: a new template, then the old one goes.
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        _conform("RepositoryCreationTemplate", "ecr", "UpdateRepositoryCreationTemplate", params)
        emulator.put_template(ecr_models.ecr_backends[account_id][region_name], params, creating=False)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        emulator._templates(ecr_models.ecr_backends[account_id][region_name]).pop(resource_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        emulator._templates(ecr_models.ecr_backends[account_id][region_name]).pop(self.prefix, None)


# --- AWS::SecretsManager::Secret ---------------------------------------------------------

SECRET_TYPE = "AWS::SecretsManager::Secret"


def _secrets(account_id: str, region_name: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[account_id][region_name]


class SecretModel(CloudFormationModel):
    """moto has no CloudFormation model for secrets. Like CloudFormation's handler: Ref is the
    ARN, Name replaces, SecretString/Description/Tags update in place, and deletion is
    ForceDeleteWithoutRecovery (CloudFormation's secrets get no recovery window)."""

    __module__ = "moto.secretsmanager.models"

    def __init__(self, account_id: str, region_name: str, arn: str, name: str):
        self.account_id = account_id
        self.region_name = region_name
        self.arn = arn
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return SECRET_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id",)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> "SecretModel":
        logical_id = kwargs.get("LogicalId", "Credential")
        props = cloudformation_json.get("Properties", {})
        name = props.get("Name") or resource_name
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in props.get("Tags") or []]
        backend = _secrets(account_id, region_name)
        try:
            backend.create_secret(name=name, secret_string=props.get("SecretString"), secret_binary=None, description=props.get("Description"), tags=tags, kms_key_id=props.get("KmsKeyId"), client_request_token=None, replica_regions=[], force_overwrite=False)
        except Exception as e:
            code = getattr(e, "code", type(e).__name__)
            message = getattr(e, "message", str(e))
            raise ResourceFailed(logical_id, f"Resource handler returned message: \"{message}\" (HandlerErrorCode: {code})")
        return cls(account_id, region_name, backend.secrets[name].arn, name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: "SecretModel", new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> "SecretModel":
        props = cloudformation_json.get("Properties", {})
        if (props.get("Name") or original_resource.name) != original_resource.name:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        backend = _secrets(account_id, region_name)
        secret = backend.secrets[original_resource.arn]
        current = next((v for v in secret.versions.values() if "AWSCURRENT" in v.get("version_stages", [])), {})
        if props.get("SecretString") is not None and current.get("secret_string") != props.get("SecretString"):
            backend.put_secret_value(original_resource.arn, props["SecretString"], None, None, ["AWSCURRENT"])
        secret.description = props.get("Description")
        secret.tags = [{"Key": t["Key"], "Value": t["Value"]} for t in props.get("Tags") or []]
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        _secrets(account_id, region_name).delete_secret(resource_name, None, True)

    def delete(self, account_id: str, region_name: str) -> None:
        _secrets(account_id, region_name).delete_secret(self.arn, None, True)


# --- AWS::IAM::Role -----------------------------------------------------------------


def _dump(doc: Any) -> str:
    """A policy document as JSON, without the entries an `Fn::If` left as AWS::NoValue."""
    return doc if isinstance(doc, str) else json.dumps(_drop_none(doc))


def _drop_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


_original_role_create = iam_models.Role.create_from_cloudformation_json.__func__


def role_create(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
    props = cloudformation_json["Properties"]
    logical_id = kwargs.get("LogicalId", "Role")
    _conform(logical_id, "iam", "CreateRole", {
        "RoleName": props.get("RoleName") or resource_name,
        "Path": props.get("Path"),
        "AssumeRolePolicyDocument": _dump(props.get("AssumeRolePolicyDocument")),
        "Description": props.get("Description"),
        "MaxSessionDuration": props.get("MaxSessionDuration"),
        "Tags": props.get("Tags"),
    })
    for policy in props.get("Policies", []):
        _conform(logical_id, "iam", "PutRolePolicy", {
            "RoleName": props.get("RoleName") or resource_name,
            "PolicyName": policy.get("PolicyName"),
            "PolicyDocument": _dump(policy.get("PolicyDocument")),
        })
    fixed = dict(cloudformation_json, Properties={k: (_drop_none(v) if k == "AssumeRolePolicyDocument" else v) for k, v in props.items() if k != "Policies"})
    role = _original_role_create(cls, resource_name, fixed, account_id, region_name, **kwargs)
    for policy in props.get("Policies", []):
        role.put_policy(policy["PolicyName"], _dump(policy["PolicyDocument"]))
    return role


def role_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
    backend = iam_models.iam_backends[account_id][iam_models.get_partition(region_name)]
    props = cloudformation_json["Properties"]
    name = props.get("RoleName", original_resource.name)
    if name != original_resource.name:
        # RoleName requires replacement: create the new role, then delete the old one.
        new = role_create(cls, new_resource_name, cloudformation_json, account_id, region_name)
        for policy_name in list(original_resource.policies):
            backend.delete_role_policy(original_resource.name, policy_name)
        backend.delete_role(original_resource.name)
        return new
    role = backend.get_role(name)
    role.assume_role_policy_document = _dump(props["AssumeRolePolicyDocument"])
    role.description = props.get("Description", role.description)
    role.policies = {}
    for policy in props.get("Policies", []):
        role.put_policy(policy["PolicyName"], _dump(policy["PolicyDocument"]))
    role.tags = {t["Key"]: {"Key": t["Key"], "Value": t["Value"]} for t in props.get("Tags", [])} if isinstance(role.tags, dict) else props.get("Tags", [])
    return role


# --- intrinsic functions, for change sets ---------------------------------------------


def _resolve(value: Any, params: dict[str, str], conditions: dict[str, bool], pseudo: dict[str, str]) -> Any:
    if isinstance(value, list):
        out = [_resolve(v, params, conditions, pseudo) for v in value]
        return [v for v in out if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            if arg == "AWS::NoValue":
                return _NO_VALUE
            if arg in params:
                return params[arg]
            if arg in pseudo:
                return pseudo[arg]
            return f"{{{arg}}}"  # a resource's physical id: known after create
        if key == "Fn::GetAtt":
            target = arg if isinstance(arg, str) else ".".join(arg)
            return f"{{{target}}}"
        if key == "Fn::Sub":
            template, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {**pseudo, **params, **{k: _resolve(v, params, conditions, pseudo) for k, v in extra.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(values.get(m.group(1), "{" + m.group(1) + "}")), template)
        if key == "Fn::If":
            name, yes, no = arg
            return _resolve(yes if conditions.get(name) else no, params, conditions, pseudo)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(x) for x in _resolve(items, params, conditions, pseudo))
    out = {k: _resolve(v, params, conditions, pseudo) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not _NO_VALUE}


class _NoValue:
    pass


_NO_VALUE = _NoValue()


def _condition(expr: Any, params: dict[str, str], conds: dict[str, Any], pseudo: dict[str, str]) -> bool:
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            a, b = (_resolve(x, params, {}, pseudo) for x in arg)
            return a == b
        if key == "Fn::Not":
            return not _condition(arg[0], params, conds, pseudo)
        if key == "Fn::And":
            return all(_condition(x, params, conds, pseudo) for x in arg)
        if key == "Fn::Or":
            return any(_condition(x, params, conds, pseudo) for x in arg)
        if key == "Condition":
            return _condition(conds[arg], params, conds, pseudo)
    return bool(expr)


def resolved_resources(template: dict[str, Any], params: dict[str, str], account_id: str, region: str, stack_name: str) -> dict[str, dict[str, Any]]:
    full = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in params:
            full[name] = params[name]
        elif "Default" in spec:
            full[name] = str(spec["Default"])
    pseudo = {"AWS::AccountId": account_id, "AWS::Region": region, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack_name}
    conds_raw = template.get("Conditions", {})
    conds = {k: _condition(v, full, conds_raw, pseudo) for k, v in conds_raw.items()}
    out = {}
    for logical_id, res in template.get("Resources", {}).items():
        if "Condition" in res and not conds.get(res["Condition"]):
            continue
        out[logical_id] = {"Type": res["Type"], "Properties": _resolve(res.get("Properties", {}), full, conds, pseudo)}
    return out


# Properties whose change replaces the resource (the rest update in place).
REPLACING = {
    "AWS::IAM::Role": {"RoleName", "Path"},
    RULE_TYPE: None,  # immutable type: every property replaces
    TEMPLATE_TYPE: {"Prefix"},
    SECRET_TYPE: {"Name"},
}


def _change_set_diff(self: Any) -> list[dict[str, Any]]:
    return _diff(self.stack, self.template_dict, self.parameters or {}, self.change_set_type == "UPDATE")


def _diff(stack: Any, template_dict: dict[str, Any], parameters: dict[str, str], update: bool) -> list[dict[str, Any]]:
    """The resource changes CloudFormation computes from resolved properties (a parameter
    change shows; Replacement from each type's create-only properties)."""
    account, region = stack.account_id, stack.region_name
    new = resolved_resources(template_dict, parameters, account, region, stack.name)
    old: dict[str, Any] = {}
    if update and stack.template_dict:
        old = resolved_resources(stack.template_dict, stack.parameters or {}, account, region, stack.name)
    changes = []
    for logical_id, res in new.items():
        if logical_id not in old:
            changes.append(_change("Add", logical_id, res["Type"], None, []))
            continue
        before, after = old[logical_id]["Properties"], res["Properties"]
        names = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if not names:
            continue
        replacing = REPLACING.get(res["Type"], set())
        details = []
        replace = False
        for n in names:
            always = replacing is None or n in replacing
            replace = replace or always
            details.append({"Target": {"Attribute": "Properties", "Name": n, "RequiresRecreation": "Always" if always else "Never"}, "Evaluation": "Static", "ChangeSource": "DirectModification"})
        physical = getattr(stack.resource_map._parsed_resources.get(logical_id), "physical_resource_id", None)
        changes.append(_change("Modify", logical_id, res["Type"], physical, details, "True" if replace else "False"))
    # Resources that refer to a replaced resource get its new physical id: CloudFormation
    # reports them as modified too (a dynamic, attribute-caused change).
    replaced = [c["LogicalResourceId"] for c in changes if c.get("Replacement") == "True"]
    touched = {c["LogicalResourceId"] for c in changes}
    for logical_id, res in new.items():
        if logical_id in touched or logical_id not in old:
            continue
        raw = template_dict["Resources"][logical_id].get("Properties", {})
        props = [k for k, v in raw.items() if any(_refers(v, r) for r in replaced)]
        if not props:
            continue
        replacing = REPLACING.get(res["Type"], set())
        always = [p for p in props if replacing is None or p in replacing]
        details = [{"Target": {"Attribute": "Properties", "Name": p, "RequiresRecreation": "Always" if p in always else "Never"}, "Evaluation": "Dynamic", "ChangeSource": "ResourceAttribute", "CausingEntity": f"{replaced[0]}.Arn"} for p in props]
        physical = getattr(stack.resource_map._parsed_resources.get(logical_id), "physical_resource_id", None)
        changes.append(_change("Modify", logical_id, res["Type"], physical, details, "True" if always else "False"))
    for logical_id, res in old.items():
        if logical_id not in new:
            physical = getattr(stack.resource_map._parsed_resources.get(logical_id), "physical_resource_id", None)
            changes.append(_change("Remove", logical_id, res["Type"], physical, []))
    return changes


# The property that names each resource type (its physical name when set in the template).
NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    RULE_TYPE: "EcrRepositoryPrefix",
    TEMPLATE_TYPE: "Prefix",
    SECRET_TYPE: "Name",
}


def _custom_named_replacements(stack: Any, template_dict: dict[str, Any], parameters: dict[str, str]) -> list[tuple[str, str, str]]:
    """(logical id, type, name) of each resource the update must replace while its name,
    set in the template, stays the same: CloudFormation fails such an update."""
    out = []
    new = resolved_resources(template_dict, parameters, stack.account_id, stack.region_name, stack.name)
    for c in _diff(stack, template_dict, parameters, True):
        prop = NAME_PROPERTY.get(c["ResourceType"])
        if c["Action"] != "Modify" or c.get("Replacement") != "True" or not prop:
            continue
        name = new.get(c["LogicalResourceId"], {}).get("Properties", {}).get(prop)
        renamed = any(d["Target"].get("Name") == prop for d in c["Details"])
        if name and not renamed:
            out.append((c["LogicalResourceId"], c["ResourceType"], str(name)))
    return out


def _refers(value: Any, logical_id: str) -> bool:
    text = json.dumps(value)
    return f'"Ref": "{logical_id}"' in text or f'"Fn::GetAtt": ["{logical_id}"' in text


def _change(action: str, logical_id: str, rtype: str, physical: str | None, details: list[Any], replacement: str | None = None) -> dict[str, Any]:
    rc: dict[str, Any] = {"Action": action, "LogicalResourceId": logical_id, "ResourceType": rtype, "Scope": sorted({d["Target"]["Attribute"] for d in details}), "Details": details}
    if physical:
        rc["PhysicalResourceId"] = physical
    if replacement:
        rc["Replacement"] = replacement
    return rc  # moto wraps each change as {"Type": "Resource", "ResourceChange": ...}


_original_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("change_set_type") == "CREATE":
        # A CREATE change set reuses a never-executed REVIEW_IN_PROGRESS stack of that name
        # (moto made a second stack with the same name); any other live stack is a conflict.
        from moto.cloudformation.exceptions import AlreadyExistsException

        for sid, st in list(self.stacks.items()):
            if st.name != kwargs.get("stack_name"):
                continue
            if st.status != "REVIEW_IN_PROGRESS":
                raise AlreadyExistsException(f"Stack [{st.name}] already exists")
            del self.stacks[sid]
            for key in [k for k, c in self.change_sets.items() if c.stack is st]:
                del self.change_sets[key]
    change_set_id, stack_id = _original_create_change_set(self, *args, **kwargs)
    cs = self.change_sets[change_set_id]
    if cs.change_set_type == "UPDATE":
        if cs.changes:
            cs.status, cs.execution_status, cs.status_reason = "CREATE_COMPLETE", "AVAILABLE", None
        else:
            cs.status, cs.execution_status = "FAILED", "UNAVAILABLE"
            cs.status_reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    return change_set_id, stack_id


# --- resource events, failures and rollback --------------------------------------------


def _event(stack: Any, logical_id: str, rtype: str, physical: str, status: str, reason: str | None = None) -> None:
    event = cfn_models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical,
        resource_type=rtype,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    stack.events.append(event)


def _ordered(template: dict[str, Any]) -> list[tuple[str, str]]:
    """Resources in dependency order (those referring to others come later)."""
    resources = template.get("Resources", {})
    text = {k: json.dumps(v) for k, v in resources.items()}
    ordered: list[str] = []
    pending = list(resources)
    while pending:
        for k in pending:
            deps = [o for o in pending if o != k and (f'"Ref": "{o}"' in text[k] or f'"{o}", ' in text[k] or f'"{o}.' in text[k])]
            if not deps:
                ordered.append(k)
                pending.remove(k)
                break
        else:
            ordered.extend(pending)
            break
    return [(k, resources[k]["Type"]) for k in ordered]


def _physical(stack: Any, logical_id: str) -> str:
    res = stack.resource_map._parsed_resources.get(logical_id)
    return getattr(res, "physical_resource_id", "") or ""


def stack_create_resources(self: Any) -> None:
    self.status = "CREATE_IN_PROGRESS"
    order = _ordered(self.template_dict)
    try:
        self.resource_map.create(self.template_dict)
    except ResourceFailed as e:
        done = [k for k, _ in order if k in self.resource_map._parsed_resources]
        for k, t in order:
            if k in done:
                _event(self, k, t, _physical(self, k), "CREATE_IN_PROGRESS")
                _event(self, k, t, _physical(self, k), "CREATE_COMPLETE")
            elif k == e.logical_id:
                _event(self, k, t, "", "CREATE_IN_PROGRESS")
                _event(self, k, t, "", "CREATE_FAILED", e.reason)
        if getattr(self, "disable_rollback", False) or getattr(_request, "disable_rollback", False):
            # DisableRollback / OnFailure=DO_NOTHING: what was created stays, CREATE_FAILED.
            self._add_stack_event("CREATE_FAILED", resource_status_reason=f"The following resource(s) failed to create: [{e.logical_id}].")
            self.status = "CREATE_FAILED"
            return
        self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) failed to create: [{e.logical_id}]. Rollback requested by user.")
        kept = []
        for k, t in reversed(order):
            if k in done:
                _event(self, k, t, _physical(self, k), "DELETE_IN_PROGRESS")
                fault = emulator.FAULTS.take(f"CloudFormation:{t}:Delete")
                if fault:
                    _event(self, k, t, _physical(self, k), "DELETE_FAILED", fault.get("message") or "Resource handler returned message: \"Internal Failure\" (HandlerErrorCode: InternalFailure)")
                    kept.append(k)
                    continue
                self.resource_map._delete_resource(self.resource_map._parsed_resources[k], self.template_dict["Resources"][k])
                _event(self, k, t, "", "DELETE_COMPLETE")
        if kept:
            # A resource the rollback could not delete: ROLLBACK_FAILED, the resource stays.
            for k, _ in order:
                if k not in kept:
                    self.resource_map._parsed_resources[k] = None
            self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=f"The following resource(s) failed to delete: [{', '.join(kept)}].")
            self.status = "ROLLBACK_FAILED"
            return
        # moto's resource map creates resources lazily on any lookup (outputs included):
        # pin every resource of the rolled-back stack as absent, and drop the outputs.
        for k, _ in order:
            self.resource_map._parsed_resources[k] = None
        self.output_map = cfn_models.OutputMap(self.resource_map, {}, self.stack_id)
        self._add_stack_event("ROLLBACK_COMPLETE")
        self.status = "ROLLBACK_COMPLETE"
        return
    for k, t in order:
        _event(self, k, t, _physical(self, k), "CREATE_IN_PROGRESS")
        _event(self, k, t, _physical(self, k), "CREATE_COMPLETE")
    self.description = self.template_dict.get("Description")
    self.mark_creation_complete()


def _backend(stack: Any) -> Any:
    return cfn_models.cloudformation_backends[stack.account_id][stack.region_name]


def _obsolete_change_sets(stack: Any, keep: Any = None) -> None:
    """A stack that changes makes its other change sets OBSOLETE: they cannot be executed."""
    for cs in _backend(stack).change_sets.values():
        if cs is not keep and cs.stack is stack and cs.execution_status == "AVAILABLE":
            cs.execution_status = "OBSOLETE"


CUSTOM_NAMED = "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename {name} and update the stack again."


def stack_update(self: Any, template: str, role_arn: str | None = None, parameters: dict[str, Any] | None = None, tags: dict[str, str] | None = None, change_set: Any = None) -> None:
    _obsolete_change_sets(self, keep=change_set)
    old_template, old_params = self.template, dict(self.parameters)
    new_dict = self.parse_template(template)
    old_res = resolved_resources(self.template_dict, old_params, self.account_id, self.region_name, self.name)
    new_res = resolved_resources(new_dict, parameters or old_params, self.account_id, self.region_name, self.name)
    changed = [(k, v["Type"]) for k, v in new_res.items() if old_res.get(k) != v]
    self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    replaced = [c["LogicalResourceId"] for c in _diff(self, new_dict, parameters or old_params, True) if c.get("Replacement") == "True"]
    conflicts = _custom_named_replacements(self, new_dict, parameters or old_params)
    if conflicts:
        # CloudFormation refuses before replacing anything: the resource fails, the stack rolls
        # back to where it was (AWS docs: "custom-named resource requires replacing").
        logical, rtype, name = conflicts[0]
        _event(self, logical, rtype, _physical(self, logical), "UPDATE_FAILED", CUSTOM_NAMED.format(name=name))
        self._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) failed to update: [{logical}].")
        self._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        self.status = "UPDATE_ROLLBACK_COMPLETE"
        return
    self.template = template
    self._parse_template()
    added = {k for k in new_res if k not in old_res}
    removed = [(k, v["Type"]) for k, v in old_res.items() if k not in new_res]
    verb = lambda k: "CREATE" if k in added else "UPDATE"  # noqa: E731
    try:
        for k, t in changed:
            _event(self, k, t, _physical(self, k), f"{verb(k)}_IN_PROGRESS")
        # moto keeps a removed resource in its map, so adding it back later found the stale
        # entry and created nothing: a resource being added does not exist yet.
        for k in added:
            self.resource_map._parsed_resources.pop(k, None)
        removed_physical = {k: _physical(self, k) for k, _ in removed}
        self.resource_map.update(self.template_dict, parameters)
        for k, t in removed:
            self.resource_map._parsed_resources.pop(k, None)
            _event(self, k, t, removed_physical[k], "DELETE_IN_PROGRESS")
            _event(self, k, t, removed_physical[k], "DELETE_COMPLETE")
        # moto does not update resources that only refer to a replaced one (a new physical
        # id): do it, so a rule follows its replaced role as in CloudFormation.
        names = [k for k, _ in changed]
        for k, t in _ordered(self.template_dict):
            # Resources whose Condition is false do not exist: nothing to update.
            if k in names or k not in new_res:
                continue
            raw = self.template_dict["Resources"][k].get("Properties", {})
            if any(_refers(raw, n) for n in replaced):
                _event(self, k, t, _physical(self, k), "UPDATE_IN_PROGRESS", "Requested update requires the creation of a new physical resource; hence creating one.")
                updated = parsing.parse_and_update_resource(k, self.template_dict["Resources"][k], self.resource_map, self.account_id, self.region_name)
                self.resource_map._parsed_resources[k] = updated
                changed.append((k, t))
    except Exception as e:
        failed = getattr(e, "logical_id", changed[-1][0] if changed else self.name)
        reason = getattr(e, "reason", str(e))
        rtype = dict(changed).get(failed, "AWS::CloudFormation::Stack")
        _event(self, failed, rtype, _physical(self, failed), "UPDATE_FAILED", reason)
        self._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) failed to update: [{failed}].")
        self.template = old_template
        self._parse_template()
        # Fault injection: a resource whose rollback fails leaves UPDATE_ROLLBACK_FAILED
        # (operation "CloudFormation:<type>:Rollback"); ContinueUpdateRollback resumes it.
        stuck = [(k, t, f) for k, t in changed for f in [emulator.FAULTS.take(f"CloudFormation:{t}:Rollback")] if f]
        if stuck:
            for k, t, f in stuck:
                _event(self, k, t, _physical(self, k), "UPDATE_FAILED", f.get("message") or "Resource handler returned message: \"Internal Failure\" (HandlerErrorCode: InternalFailure)")
            self._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=f"The following resource(s) failed to update: [{', '.join(k for k, _, _ in stuck)}].")
            self.status = "UPDATE_ROLLBACK_FAILED"
            self._rollback_pending = (old_params, [(k, t) for k, t, _ in stuck])
            return
        try:
            self.resource_map.update(self.template_dict, old_params)
        except Exception:
            pass
        self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        self.status = "UPDATE_ROLLBACK_COMPLETE"
        return
    for k, t in changed:
        _event(self, k, t, _physical(self, k), f"{verb(k)}_COMPLETE")
    self.output_map = self._create_output_map()
    self._add_stack_event("UPDATE_COMPLETE")
    self.status = "UPDATE_COMPLETE"
    self.role_arn = role_arn
    if parameters:
        self.parameters = parameters
    if tags is not None:
        self.tags = tags


def stack_delete(self: Any, retain: list[str] | None = None) -> None:
    """Deletes the stack's resources, except those in `retain` (DeleteStack RetainResources).
    Fault injection ("CloudFormation:<type>:Delete") makes a resource's deletion fail: the
    stack ends DELETE_FAILED with that resource kept, as CloudFormation does."""
    retain = retain or []
    self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    parsed = self.resource_map._parsed_resources
    order = [(k, t) for k, t in _ordered(self.template_dict) if parsed.get(k) is not None] if self.template_dict else []
    failed = []
    for k, t in reversed(order):
        physical = _physical(self, k)
        if k in retain:
            _event(self, k, t, physical, "DELETE_SKIPPED")
            parsed.pop(k, None)
            continue
        _event(self, k, t, physical, "DELETE_IN_PROGRESS")
        fault = emulator.FAULTS.take(f"CloudFormation:{t}:Delete")
        if fault:
            _event(self, k, t, physical, "DELETE_FAILED", fault.get("message") or "Resource handler returned message: \"Internal Failure\" (HandlerErrorCode: InternalFailure)")
            failed.append(k)
            continue
        resource = parsed.pop(k)
        self.resource_map._delete_resource(resource, self.template_dict["Resources"][k])
        _event(self, k, t, physical, "DELETE_COMPLETE")
    if failed:
        self._add_stack_event("DELETE_FAILED", resource_status_reason=f"The following resource(s) failed to delete: [{', '.join(failed)}].")
        self.status = "DELETE_FAILED"
        return
    # Keep moto's lazy resource map from creating anything on a later lookup.
    for k, _ in order:
        parsed[k] = None
    self._add_stack_event("DELETE_COMPLETE")
    self.status = "DELETE_COMPLETE"


_original_references = parsing.get_references_from_template


def references_with_sub(template: Any) -> list[str]:
    """Parameters a resource uses, through `Ref` and through `${Name}` in `Fn::Sub`: moto only
    sees `Ref`, so a parameter used in a Sub (the role name) changed nothing on update, where
    CloudFormation updates the resource."""
    refs = list(_original_references(template))
    text = json.dumps(template)
    # A Sub string may hold escaped quotes (the secret's JSON value).
    for sub in re.findall(r'"Fn::Sub": "((?:[^"\\]|\\.)*)"', text):
        refs.extend(re.findall(r"\$\{([^}!.]+)\}", sub))
    return refs


# --- change sets run as reviewed, capabilities, failed states and their exits -----------

import threading

from moto.cloudformation.exceptions import CloudFormationError, ValidationError


class InsufficientCapabilitiesException(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class InvalidChangeSetStatusException(CloudFormationError):
    code = "InvalidChangeSetStatus"


InsufficientCapabilitiesException.__module__ = "moto.cloudformation.exceptions"
InvalidChangeSetStatusException.__module__ = "moto.cloudformation.exceptions"

# States CloudFormation does not update from (AWS: "... is in <state> state and can not be
# updated"); each has its own exit (ContinueUpdateRollback, DeleteStack).
_NOT_UPDATABLE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED", "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"}


def _refuse_update(stack: Any) -> None:
    busy = stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS"
    if stack.status in _NOT_UPDATABLE or busy:
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def _required_capability(template: Any) -> str | None:
    """The capability a template needs (AWS: IAM resources need CAPABILITY_IAM, named ones
    CAPABILITY_NAMED_IAM)."""
    if not template:
        return None
    d = template if isinstance(template, dict) else cfn_models.Stack.parse_template(template)
    need = None
    for res in (d.get("Resources") or {}).values():
        if not str(res.get("Type", "")).startswith("AWS::IAM::"):
            continue
        props = res.get("Properties") or {}
        if any(k in props for k in ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")):
            return "CAPABILITY_NAMED_IAM"
        need = "CAPABILITY_IAM"
    return need


def _check_capabilities(response: Any, template: Any) -> None:
    """Refused at the call, before any stack or event exists, as CloudFormation does."""
    need = _required_capability(template)
    given = response._get_param("Capabilities") or []
    if need == "CAPABILITY_NAMED_IAM" and need not in given or need == "CAPABILITY_IAM" and not ({"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(given)):
        raise InsufficientCapabilitiesException(f"Requires capabilities : [{need}]")


_wrapped: dict[str, Any] = {}
_request = threading.local()


def _create_stack_response(self: Any) -> Any:
    _check_capabilities(self, self._get_param("TemplateBody"))
    _request.disable_rollback = str(self._get_param("DisableRollback", "false")).lower() == "true" or self._get_param("OnFailure") == "DO_NOTHING"
    try:
        return _wrapped["create_stack"](self)
    finally:
        _request.disable_rollback = False


def _update_stack_response(self: Any) -> Any:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    _refuse_update(stack)
    body = stack.template if str(self._get_param("UsePreviousTemplate", "false")).lower() == "true" else self._get_param("TemplateBody")
    _check_capabilities(self, body)
    return _wrapped["update_stack"](self)


def _create_change_set_response(self: Any) -> Any:
    """ChangeSetType defaults to UPDATE (AWS; moto: CREATE); an UPDATE needs an updatable
    stack; capabilities are checked at the call."""
    original = self._get_param

    def get(name: str, if_none: Any = None) -> Any:
        return original(name, "UPDATE" if name == "ChangeSetType" else if_none)

    self._get_param = get
    try:
        if get("ChangeSetType") == "UPDATE":
            stack = self.cloudformation_backend.get_stack(get("StackName"))
            _refuse_update(stack)
            body = stack.template if str(get("UsePreviousTemplate", "false")).lower() == "true" else get("TemplateBody")
        else:
            body = get("TemplateBody")
        _check_capabilities(self, body)
        return _wrapped["create_change_set"](self)
    finally:
        del self._get_param


def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """Runs exactly the change set that was described (its template and parameters, through
    the same update as UpdateStack); one that is not AVAILABLE (OBSOLETE after the stack
    changed, already executed) is refused."""
    cs = self.describe_change_set(change_set_name)
    if cs.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatusException(f"ChangeSet [{cs.change_set_id}] cannot be executed in its current execution status of [{cs.execution_status}]")
    stack = cs.stack
    cs.execution_status = "EXECUTE_IN_PROGRESS"
    if cs.change_set_type == "CREATE":
        stack.template = cs.template
        stack.parameters = cs.parameters
        stack.tags = cs.tags or {}
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.create_resources()
    else:
        stack.update(cs.template, parameters=cs.parameters, change_set=cs)
    if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        # AWS: after a change set runs, every change set of the stack is removed (they no
        # longer apply to the updated stack).
        for key in [k for k, c in self.change_sets.items() if c.stack is stack]:
            del self.change_sets[key]
        return
    cs.execution_status = "EXECUTE_FAILED"
    _obsolete_change_sets(stack, keep=cs)


# Stacks kept busy (another update in flight) for their next DescribeStacks calls, with the
# status they return to: moto runs every operation to its end at once.
_busy: dict[str, list[Any]] = {}


def make_busy(account: str, region: str, name: str, polls: int) -> None:
    backend = cfn_models.cloudformation_backends[account][region]
    stack = next(st for st in backend.stacks.values() if st.name == name)
    settled = _busy[stack.stack_id][1] if stack.stack_id in _busy else stack.status
    _busy[stack.stack_id] = [polls, settled]
    stack.status = "UPDATE_IN_PROGRESS"
    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")


_original_describe_stacks = cfn_models.CloudFormationBackend.describe_stacks


def describe_stacks(self: Any, name_or_stack_id: str) -> Any:
    stacks = _original_describe_stacks(self, name_or_stack_id)
    for st in stacks:
        left = _busy.get(st.stack_id)
        if left is None:
            continue
        left[0] -= 1
        if left[0] < 0:
            st.status = left[1]
            st._add_stack_event(left[1])
            del _busy[st.stack_id]
    return stacks


def backend_delete_stack(self: Any, name_or_stack_id: str, retain: list[str] | None = None) -> None:
    stack = next((st for st in self.stacks.values() if name_or_stack_id in (st.stack_id, st.name)), None)
    if stack is None:
        return
    if retain and stack.status != "DELETE_FAILED":
        raise ValidationError(message=f"Invalid operation on stack [{stack.stack_id}]: RetainResources can only be specified when the stack is in the DELETE_FAILED state")
    _obsolete_change_sets(stack)
    stack.delete(retain)
    if stack.status == "DELETE_FAILED":
        return
    self.stacks.pop(stack.stack_id, None)
    self.deleted_stacks[stack.stack_id] = stack
    for export in stack.exports:
        self.exports.pop(export.name, None)


def _delete_stack_response(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.cloudformation_backend.delete_stack(self._get_param("StackName"), self._get_param("RetainResources") or [])
    return EmptyResult()


def _continue_update_rollback_response(self: Any) -> Any:
    """ContinueUpdateRollback: retries the rollback of the resources that failed it, except
    `ResourcesToSkip` (only resources whose rollback failed may be skipped)."""
    from moto.core.responses import EmptyResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    skip = self._get_param("ResourcesToSkip") or []
    if stack.status != "UPDATE_ROLLBACK_FAILED":
        raise ValidationError(message=f"Stack {stack.stack_id} is in {stack.status} state and ContinueUpdateRollback can only be called on a stack in UPDATE_ROLLBACK_FAILED")
    old_params, stuck = stack._rollback_pending
    bad = [k for k in skip if k not in dict(stuck)]
    if bad:
        raise ValidationError(message=f"Nested stacks or resources [{', '.join(bad)}] cannot be skipped: only resources in the UPDATE_FAILED state can be skipped")
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason="Continue update rollback requested by user")
    still = []
    for k, t in stuck:
        if k in skip:
            _event(stack, k, t, _physical(stack, k), "UPDATE_COMPLETE", "Resource skipped during the rollback (ResourcesToSkip)")
            continue
        fault = emulator.FAULTS.take(f"CloudFormation:{t}:Rollback")
        if fault:
            _event(stack, k, t, _physical(stack, k), "UPDATE_FAILED", fault.get("message") or "Resource handler returned message: \"Internal Failure\" (HandlerErrorCode: InternalFailure)")
            still.append((k, t))
    if still:
        stack._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=f"The following resource(s) failed to update: [{', '.join(k for k, _ in still)}].")
        stack._rollback_pending = (old_params, still)
        return EmptyResult()
    try:
        stack.resource_map.update(stack.template_dict, old_params)
    except Exception:
        pass
    for k, t in stuck:
        if k not in skip:
            _event(stack, k, t, _physical(stack, k), "UPDATE_COMPLETE")
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    del stack._rollback_pending
    return EmptyResult()


_original_update_resource = parsing.parse_and_update_resource


def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
    """moto updates a resource whose Condition is false (it has none) or was false until now:
    the first stays absent, the second is created, as CloudFormation does."""
    if resources_map._parsed_resources.get(logical_id) is None:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        resources_map._parsed_resources.pop(logical_id, None)
        return resources_map[logical_id]
    return _original_update_resource(logical_id, resource_json, resources_map, account_id, region_name)


_original_clean_json = parsing.clean_json


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    """A list entry that resolves to AWS::NoValue is dropped (AWS), not kept as null."""
    if isinstance(resource_json, list):
        return [v for v in (clean_json(x, resources_map) for x in resource_json) if v is not None]
    return _original_clean_json(resource_json, resources_map)


# --- StackSets: instances that fail, per-instance results, updates that redeploy ----------

_FAILED_STACK = {"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED"}


def _instance_state(instance: Any) -> tuple[str, str, str | None]:
    """(Status, DetailedStatus, StatusReason) of a stack instance from its stack, as StackSets
    reports it (moto always says CURRENT / SUCCEEDED)."""
    stack = instance.stack
    if isinstance(stack, _NoStack):
        return "OUTDATED", "FAILED", stack.problem
    if stack.status in _FAILED_STACK:
        reason = next((e.resource_status_reason for e in stack.events if str(e.resource_status).endswith("_FAILED") and e.resource_status_reason), "the stack did not complete")
        return "OUTDATED", "FAILED", f"ResourceLogicalId:{next((e.logical_resource_id for e in stack.events if str(e.resource_status).endswith('_FAILED')), '?')}, ResourceStatusReason:{reason}"
    return "CURRENT", "SUCCEEDED", None


_original_instance_to_dict = cfn_models.StackInstance.to_dict


def instance_to_dict(self: Any) -> dict[str, Any]:
    d = _original_instance_to_dict(self)
    status, detailed, reason = _instance_state(self)
    ou = _account_ou(self) if getattr(self, "permission_model", None) == "SERVICE_MANAGED" else None
    if ou:
        d["OrganizationalUnitId"] = ou
    d["Status"] = status
    d["StackInstanceStatus"] = {"DetailedStatus": detailed}
    if reason:
        d["StatusReason"] = reason
    return d


_original_create_operation = cfn_models.StackSet._create_operation


class OperationInProgressException(CloudFormationError):
    code = "OperationInProgressException"


OperationInProgressException.__module__ = "moto.cloudformation.exceptions"

# Operations still in flight: how many more DescribeStackSetOperation polls answer RUNNING.
# An operation lasts as many polls as StackSets' waves for its preferences (AWS docs,
# "Stack set operation options"): with ConcurrencyMode STRICT_FAILURE_TOLERANCE (the
# default) the failure tolerance caps concurrency (tolerance 0: one account at a time per
# region); SOFT_FAILURE_TOLERANCE runs MaxConcurrent at a time; regions one after another
# unless RegionConcurrencyType is PARALLEL. The control endpoint can make them last longer.
_remaining: dict[str, int] = {}
_showing_running: set[str] = set()
_op_prefs: dict[str, dict[str, Any]] = {}
_op_set: dict[str, Any] = {}
MIN_POLLS = {"polls": 1}


def _waves(prefs: dict[str, Any], accounts: int, regions: int) -> int:
    import math

    n = max(accounts, 1)
    pct = lambda k: int(n * int(prefs[k]) / 100) if k in prefs else None  # noqa: E731
    max_concurrent = int(prefs["MaxConcurrentCount"]) if "MaxConcurrentCount" in prefs else pct("MaxConcurrentPercentage")
    max_concurrent = max(1, max_concurrent or 1)
    tolerance = int(prefs["FailureToleranceCount"]) if "FailureToleranceCount" in prefs else (pct("FailureTolerancePercentage") or 0)
    if prefs.get("ConcurrencyMode", "STRICT_FAILURE_TOLERANCE") == "STRICT_FAILURE_TOLERANCE":
        max_concurrent = min(max_concurrent, tolerance + 1)
    per_region = math.ceil(n / max_concurrent)
    return per_region * (1 if prefs.get("RegionConcurrencyType") == "PARALLEL" else max(regions, 1))


def _in_flight(stackset: Any) -> str | None:
    return next((op for op, left in _remaining.items() if left > 0 and _op_set.get(op) is stackset), None)


def create_operation(self: Any, operation_id: str, action: str, status: str, accounts: list[str] | None = None, regions: list[str] | None = None) -> dict[str, Any]:
    """Records each instance's result; the operation FAILS when any instance did (the tool's
    default failure tolerance is 0). A stack set runs one operation at a time."""
    # moto's UpdateStackSet records two operations (instances, then the set): one request is
    # one operation, so the earlier one of this request is not in flight of its own.
    for earlier in getattr(_request, "ops", None) or []:
        _remaining.pop(earlier, None)
    running = _in_flight(self)
    if running:
        raise OperationInProgressException(f"Another Operation on StackSet {self.id} is in progress: {running}")
    op = _original_create_operation(self, operation_id, action, status, accounts, regions)
    prefs = getattr(_request, "prefs", None) or {}
    _op_prefs[op["OperationId"]] = prefs
    _op_set[op["OperationId"]] = self
    if getattr(_request, "ops", None) is not None:
        _request.ops.append(op["OperationId"])
    _remaining[op["OperationId"]] = max(MIN_POLLS["polls"], _waves(prefs, len(set(accounts or [])), len(set(regions or []))))
    results = {}
    for a in accounts or []:
        for r in regions or []:
            inst = self.instances.get_instance(a, r)
            if inst is None:
                results[(a, r)] = ("SUCCEEDED", None)
            else:
                _, detailed, reason = _instance_state(inst)
                results[(a, r)] = (detailed, reason)
    op["Results"] = results
    if any(s == "FAILED" for s, _ in results.values()):
        op["Status"] = "FAILED"
    return op


# An operation is in flight for its first polls (DescribeStackSetOperation, then its
# results), as in AWS where instances go PENDING → RUNNING → a result; moto finishes them at
# once (see _remaining).


def describe_operation_response(self: Any) -> Any:
    from moto.cloudformation.responses import StackSetOperationDTO
    from moto.core.responses import ActionResult

    op_id = self._get_param("OperationId")
    stackset, operation = self.cloudformation_backend.describe_stack_set_operation(self._get_param("StackSetName"), op_id)
    dto = StackSetOperationDTO(operation, stackset)
    prefs = _op_prefs.get(op_id) or {}
    if prefs:
        dto.operation_preferences = {k: (int(v) if k.endswith(("Percentage", "Count")) else v) for k, v in prefs.items() if k != "RegionOrder"}
    if _remaining.get(op_id, 0) > 0:
        _remaining[op_id] -= 1
        _showing_running.add(op_id)
        dto.status = "RUNNING"
        dto.end_timestamp = None
    return ActionResult({"StackSetOperation": dto})


def list_operation_results(self: Any) -> Any:
    from moto.core.responses import ActionResult

    op = self.cloudformation_backend.list_stack_set_operation_results(self._get_param("StackSetName"), self._get_param("OperationId"))
    results = op.get("Results") or {}
    summaries = []
    for instance in op["Instances"]:
        for account, region in instance.items():
            status, reason = results.get((account, region), (op["Status"], None))
            if self._get_param("OperationId") in _showing_running:
                status, reason = ("RUNNING" if not summaries else "PENDING"), None
            summary = {"Account": account, "Region": region, "Status": status}
            if reason:
                summary["StatusReason"] = reason
            summaries.append(summary)
    _showing_running.discard(self._get_param("OperationId"))
    return ActionResult({"Summaries": summaries})


def list_operations_response(self: Any) -> Any:
    """ListStackSetOperations: an operation in flight is RUNNING (moto: finished at once)."""
    from moto.core.responses import ActionResult

    ops = self.cloudformation_backend.list_stack_set_operations(self._get_param("StackSetName"))
    out = []
    for op in ops:
        op = dict(op)
        if _remaining.get(op["OperationId"], 0) > 0:
            op["Status"] = "RUNNING"
            op.pop("EndTimestamp", None)
        out.append(op)
    return ActionResult({"Summaries": out})


def _with_prefs(fn: Any) -> Any:
    """Passes the request's OperationPreferences to the operation it creates."""

    def wrapper(self: Any) -> Any:
        _request.prefs = self._get_param("OperationPreferences") or {}
        _request.ops = []
        try:
            return fn(self)
        finally:
            _request.prefs = None
            _request.ops = None

    return wrapper


def _params(parameters: Any) -> dict[str, str]:
    if isinstance(parameters, dict):
        return parameters
    return {p["ParameterKey"]: p["ParameterValue"] for p in parameters or []}


# --- StackSets and AssumeRole need their roles in the target (moto assumes any ARN) -------


def _role_exists(account: str, name: str) -> bool:
    backend = iam_models.iam_backends[account]["aws"]
    return any(r.name == name for r in backend.roles.values())


def _execution_role_problem(account: str) -> str | None:
    """Self-managed StackSets sign in to each target through its execution role (AWS's message
    when it is missing or does not trust the administration role)."""
    role = getattr(_request, "execution_role", None)
    if role and not _role_exists(account, role):
        return f"Account {account} should have '{role}' role with trust relationship to Role '{getattr(_request, 'admin_role', None) or 'AWSCloudFormationStackSetAdministrationRole'}'."
    return None


class _NoStack:
    """The stack of an instance StackSets could not deploy (no execution role): none exists."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.status = "CREATE_FAILED"
        self.events: list[Any] = []
        self.problem = problem


_original_instance_init = cfn_models.StackInstance.__init__


def instance_init(self: Any, account_id: str, region_name: str, stackset_id: str, stack_name: str, name: str, template: str, parameters: Any, permission_model: str) -> None:
    problem = _execution_role_problem(account_id) if permission_model == "SELF_MANAGED" else None
    if problem is None:
        return _original_instance_init(self, account_id, region_name, stackset_id, stack_name, name, template, parameters, permission_model)
    self.account_id, self.region_name, self.stackset_id = account_id, region_name, stackset_id
    self.stack_name, self.name, self.template = stack_name, name, template
    self.parameters = parameters or []
    self.permission_model = permission_model
    self.stack = _NoStack(f"StackSet:{name}", problem)


def _with_stackset_roles(fn: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        _request.execution_role = self.execution_role_name if self.permission_model == "SELF_MANAGED" else None
        _request.admin_role = (self.administration_role_arn or "").rsplit("/", 1)[-1] or None
        try:
            return fn(self, *args, **kwargs)
        finally:
            _request.execution_role = None

    return wrapper


def assume_role(self: Any, region_name: str, role_session_name: str, role_arn: str, *args: Any, **kwargs: Any) -> Any:
    """AssumeRole needs the role to exist (moto hands out credentials for any ARN)."""
    from moto.core.exceptions import ServiceException

    class AccessDenied(ServiceException):
        code = "AccessDenied"

    m = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)$", role_arn or "")
    if m and not _role_exists(m.group(1), m.group(2)):
        raise AccessDenied(f"User: arn:aws:sts::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    return _original_assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)


_original_assume_role = None


def member_role(account: str, name: str, trusted_account: str) -> None:
    """A role in a member account that `trusted_account` may assume (what AWS's StackSets
    execution-role template, or Organizations' CreateAccount, makes there)."""
    backend = iam_models.iam_backends[account]["aws"]
    if _role_exists(account, name):
        return
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"}, "Action": "sts:AssumeRole"}]}
    backend.create_role(role_name=name, assume_role_policy_document=json.dumps(trust), path="/", permissions_boundary=None, description="", tags=[], max_session_duration="3600")
    backend.put_role_policy(name, "AdministratorAccess", json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))


_original_create_account = None


def create_account(self: Any, **kwargs: Any) -> Any:
    """Organizations' CreateAccount makes OrganizationAccountAccessRole in the new account,
    trusting the management account (AWS docs)."""
    out = _original_create_account(self, **kwargs)
    account = out["CreateAccountStatus"]["AccountId"]
    member_role(account, kwargs.get("RoleName") or "OrganizationAccountAccessRole", self.org.master_account_id)
    return out


def instances_update(self: Any, accounts: list[str], regions: list[str], parameters: Any) -> None:
    """UpdateStackSet redeploys each targeted instance's stack with the set's template (moto
    only stores the parameters); a failed stack is replaced, as a retry does."""
    for account in accounts:
        for region in regions:
            inst = self.get_instance(account, region)
            if inst is None:
                raise cfn_models.StackInstanceNotFound()
            inst.parameters = parameters or []
            params = _params(parameters)
            backend = cfn_models.cloudformation_backends[account][region]
            if inst.stack.status in _FAILED_STACK:
                name = inst.stack.name
                problem = _execution_role_problem(account) if inst.permission_model == "SELF_MANAGED" else None
                if problem:
                    inst.stack = _NoStack(name, problem)
                    continue
                backend.delete_stack(name)
                inst.stack = backend.create_stack(name=name, template=self.template, parameters=params)
            else:
                inst.stack.update(self.template, parameters=params)


_original_stackset_update = cfn_models.StackSet.update


def stackset_update(self: Any, template: str, *args: Any, **kwargs: Any) -> Any:
    if template:
        self.instances.template = template
    return _original_stackset_update(self, template, *args, **kwargs)


def parameter_list(self: Any) -> list[dict[str, Any]]:
    """DescribeStacks' parameters with NoEcho values masked as "****", as CloudFormation does
    (moto tests the value, not the key, against the NoEcho list, so shows them)."""
    hidden = self.resource_map.no_echo_parameter_keys
    return [{"ParameterKey": k, "ParameterValue": "****" if k in hidden else v} for k, v in self.resource_map.resolved_parameters.items()]


# --- StackSets' trusted access with Organizations (moto has no DescribeOrganizationsAccess) ---

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"


def _master_org(account_id: str, partition: str) -> Any:
    """The management account's Organizations backend for a caller, or None outside one."""
    from moto.organizations.models import organizations_backends

    own = organizations_backends[account_id][partition]
    if own.org:
        return own
    if account_id in organizations_backends.master_accounts:
        master, part = organizations_backends.master_accounts[account_id]
        return organizations_backends[master][part]
    return None


def _organizations_access_caller(self: Any) -> Any:
    """The caller's Organization as DescribeOrganizationsAccess / ActivateOrganizationsAccess
    check it: the management account, or (CallAs=DELEGATED_ADMIN) a registered delegated
    administrator for StackSets; anyone else is refused, as CloudFormation does."""
    from moto.cloudformation.exceptions import ValidationError

    account = self.current_account
    org = _master_org(account, self.partition)
    if org is None:
        raise ValidationError(message="The account is not a member of an organization (AWSOrganizationsNotInUseException)")
    if self._get_param("CallAs") == "DELEGATED_ADMIN":
        admins = org.list_delegated_administrators(ServicePrincipal=STACKSETS_PRINCIPAL)["DelegatedAdministrators"]
        if not any(a["Id"] == account for a in admins):
            raise ValidationError(message=f"Account {account} is not registered as a delegated administrator for {STACKSETS_PRINCIPAL}")
    elif org.account_id != account:
        raise ValidationError(message="This operation can only be performed by the management account of the organization, or by a delegated administrator with CallAs DELEGATED_ADMIN")
    return org


_original_create_stack_set = cfn_models.CloudFormationBackend.create_stack_set


def create_stack_set(self: Any, name: str, template: str, parameters: Any, tags: Any, permission_model: str, *args: Any, **kwargs: Any) -> Any:
    """A service-managed stack set needs StackSets' trusted access in the Organization, as in
    AWS (moto creates it regardless)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.utilities.utils import get_partition

    if permission_model == "SERVICE_MANAGED":
        org = _master_org(self.account_id, get_partition(self.region_name))
        enabled = org is not None and any(s["ServicePrincipal"] == STACKSETS_PRINCIPAL for s in org.list_aws_service_access_for_organization()["EnabledServicePrincipals"])
        if not enabled:
            raise ValidationError(message="You must enable organizations access to operate a service managed stack set")
    return _original_create_stack_set(self, name, template, parameters, tags, permission_model, *args, **kwargs)


def describe_organizations_access(self: Any) -> Any:
    from moto.core.responses import ActionResult

    org = _organizations_access_caller(self)
    enabled = any(s["ServicePrincipal"] == STACKSETS_PRINCIPAL for s in org.list_aws_service_access_for_organization()["EnabledServicePrincipals"])
    return ActionResult({"Status": "ENABLED" if enabled else "DISABLED"})


def activate_organizations_access(self: Any) -> Any:
    from moto.core.responses import ActionResult

    org = _organizations_access_caller(self)
    org.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    return ActionResult({})


# --- Service-managed stack sets: auto-deployment, instances' OUs, operations by OU ------------


def _ou_accounts(backend: Any, ous: list[str]) -> list[str]:
    """The accounts in these OUs (and their child OUs), as StackSets expands them."""
    from moto.utilities.utils import get_partition

    org = _master_org(backend.account_id, get_partition(backend.region_name))
    if org is None:
        return []
    wanted = set(ous) | {ou.id for ou in org.ou if ou.parent_id in ous}
    return [a.id for a in org.accounts if a.parent_id in wanted]


def _account_ou(instance: Any) -> str | None:
    from moto.organizations.models import organizations_backends

    for backend in organizations_backends.values():
        for part in backend.values():
            for a in getattr(part, "accounts", []):
                if a.id == instance.account_id and getattr(part, "org", None):
                    return a.parent_id
    return None


def _auto_deployment(self: Any) -> dict[str, Any] | None:
    value = self._get_param("AutoDeployment")
    if not value:
        return None
    return {k: str(v).lower() == "true" for k, v in value.items()}


_original_create_stack_set_response = None


def create_stack_set_response(self: Any) -> Any:
    _check_capabilities(self, self._get_param("TemplateBody"))
    result = _original_create_stack_set_response(self)
    auto = _auto_deployment(self)
    if auto is not None:
        self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName")).auto_deployment = auto
    return result


def update_stack_set_response(self: Any) -> Any:
    """UpdateStackSet targets OUs for a service-managed set: expand them to their accounts
    that have instances (moto reads only Accounts), and keep AutoDeployment."""
    from moto.core.responses import ActionResult

    name = self._get_param("StackSetName")
    body = self._get_param("TemplateBody")
    if not body and str(self._get_param("UsePreviousTemplate", "false")).lower() == "true":
        body = self.cloudformation_backend.describe_stack_set(name).template
    _check_capabilities(self, body)
    accounts = self._get_param("Accounts", [])
    targets = self._get_param("DeploymentTargets") or {}
    ous = targets.get("OrganizationalUnitIds") or []
    if ous and not accounts:
        stackset = self.cloudformation_backend.describe_stack_set(name)
        accounts = [a for a in _ou_accounts(self.cloudformation_backend, ous) if any(i.account_id == a for i in stackset.instances.stack_instances)]
    operation = self.cloudformation_backend.update_stack_set(
        stackset_name=name,
        template=self._get_param("TemplateBody"),
        description=self._get_param("Description"),
        parameters=self._get_param("Parameters", []),
        tags={item["Key"]: item["Value"] for item in self._get_param("Tags", [])},
        admin_role=self._get_param("AdministrationRoleARN"),
        execution_role=self._get_param("ExecutionRoleName"),
        accounts=accounts,
        regions=self._get_param("Regions", []),
        operation_id=self._get_param("OperationId"),
    )
    auto = _auto_deployment(self)
    if auto is not None:
        self.cloudformation_backend.describe_stack_set(name).auto_deployment = auto
    return ActionResult({"OperationId": operation["OperationId"]})


def delete_stack_instances_response(self: Any) -> Any:
    """DeleteStackInstances by OU deletes the OU's accounts' instances (moto reads only
    Accounts)."""
    from moto.core.responses import ActionResult

    name = self._get_param("StackSetName")
    accounts = self._get_param("Accounts", [])
    targets = self._get_param("DeploymentTargets") or {}
    ous = targets.get("OrganizationalUnitIds") or []
    if ous and not accounts:
        accounts = _ou_accounts(self.cloudformation_backend, ous)
    regions = self._get_param("Regions", [])
    stackset = self.cloudformation_backend.describe_stack_set(name)
    accounts = [a for a in accounts if any(i.account_id == a and i.region_name in regions for i in stackset.instances.stack_instances)]
    operation = self.cloudformation_backend.delete_stack_instances(name, accounts, regions)
    return ActionResult({"OperationId": operation.operations[-1]["OperationId"]})


# --- DescribeStackResources by PhysicalResourceId --------------------------------------


def describe_stack_resources_response(self: Any) -> Any:
    """AWS finds the stack that owns a physical id when ``StackName`` is absent (moto reads
    only ``StackName``): "You can pass the … id to DescribeStackResources to find which stack
    the instance belongs to"; both given is a ValidationError; an id no stack owns answers
    ``Stack for <id> does not exist``."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import StackResourceDTO
    from moto.core.responses import ActionResult

    stack_name = self._get_param("StackName")
    physical = self._get_param("PhysicalResourceId")
    if physical is None:
        if stack_name is None:
            raise ValidationError(message="Either StackName or PhysicalResourceId must be specified")
        return _original_describe_stack_resources(self)
    if stack_name is not None:
        raise ValidationError(message="Cannot specify both StackName and PhysicalResourceId")
    logical = self._get_param("LogicalResourceId")
    for stack in self.cloudformation_backend.stacks.values():
        if stack.status == "DELETE_COMPLETE":
            continue
        resources = list(stack.stack_resources)
        if any(getattr(r, "physical_resource_id", None) == physical for r in resources):
            chosen = [r for r in resources if logical is None or getattr(r, "logical_resource_id", None) == logical]
            return ActionResult({"StackResources": [StackResourceDTO(stack, r) for r in chosen]})
    raise ValidationError(message=f"Stack for {physical} does not exist")


_original_describe_stack_resources: Any = None


def install(module: Any) -> None:
    global emulator
    emulator = module
    parsing.get_references_from_template = references_with_sub
    iam_models.Role.create_from_cloudformation_json = classmethod(role_create)
    iam_models.Role.update_from_cloudformation_json = classmethod(role_update)
    cfn_models.ChangeSet.diff = _change_set_diff
    cfn_models.CloudFormationBackend.create_change_set = create_change_set
    cfn_models.Stack.create_resources = stack_create_resources
    cfn_models.Stack.update = stack_update
    cfn_models.Stack.delete = stack_delete
    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set
    cfn_models.CloudFormationBackend.delete_stack = backend_delete_stack
    cfn_models.CloudFormationBackend.describe_stacks = describe_stacks
    parsing.clean_json = clean_json
    parsing.parse_and_update_resource = parse_and_update_resource
    cfn_models.Stack.parameter_list = property(parameter_list)
    cfn_models.StackInstance.to_dict = instance_to_dict
    cfn_models.StackSet._create_operation = create_operation
    cfn_models.StackSet.update = stackset_update
    cfn_models.CloudFormationBackend.create_stack_set = create_stack_set
    # StackSets' delegated administrators register under this principal in AWS (AWS docs:
    # "Register a delegated administrator"); moto's list lacks it.
    from moto.organizations import models as org_models

    if STACKSETS_PRINCIPAL not in org_models.FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        org_models.FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)
    cfn_models.StackInstances.update = instances_update
    cfn_models.StackInstance.__init__ = instance_init
    cfn_models.StackSet.create_stack_instances = _with_stackset_roles(cfn_models.StackSet.create_stack_instances)
    cfn_models.StackSet.update = _with_stackset_roles(cfn_models.StackSet.update)
    from moto.sts import models as sts_models

    global _original_assume_role
    _original_assume_role = sts_models.STSBackend.assume_role
    sts_models.STSBackend.assume_role = assume_role
    global _original_create_account
    _original_create_account = org_models.OrganizationsBackend.create_account
    org_models.OrganizationsBackend.create_account = create_account
    from moto.cloudformation import responses as cfn_responses

    for name, fn in (("create_stack", _create_stack_response), ("update_stack", _update_stack_response), ("create_change_set", _create_change_set_response)):
        _wrapped.setdefault(name, getattr(cfn_responses.CloudFormationResponse, name))
        setattr(cfn_responses.CloudFormationResponse, name, fn)
    cfn_responses.CloudFormationResponse.delete_stack = _delete_stack_response
    cfn_responses.CloudFormationResponse.continue_update_rollback = _continue_update_rollback_response
    cfn_responses.CloudFormationResponse.list_stack_set_operation_results = list_operation_results
    cfn_responses.CloudFormationResponse.list_stack_set_operations = list_operations_response
    cfn_responses.CloudFormationResponse.describe_stack_set_operation = describe_operation_response
    global _original_create_stack_set_response
    _original_create_stack_set_response = cfn_responses.CloudFormationResponse.create_stack_set
    cfn_responses.CloudFormationResponse.create_stack_set = create_stack_set_response
    cfn_responses.CloudFormationResponse.update_stack_set = _with_prefs(update_stack_set_response)
    cfn_responses.CloudFormationResponse.delete_stack_instances = _with_prefs(delete_stack_instances_response)
    _wrapped.setdefault("create_stack_instances", cfn_responses.CloudFormationResponse.create_stack_instances)
    cfn_responses.CloudFormationResponse.create_stack_instances = _with_prefs(_wrapped["create_stack_instances"])
    cfn_responses.CloudFormationResponse.describe_organizations_access = describe_organizations_access
    cfn_responses.CloudFormationResponse.activate_organizations_access = activate_organizations_access
    global _original_describe_stack_resources
    _original_describe_stack_resources = cfn_responses.CloudFormationResponse.describe_stack_resources
    cfn_responses.CloudFormationResponse.describe_stack_resources = describe_stack_resources_response
    # moto finds resource types through cached subclass scans: rescan with our model.
    for fn in (parsing.get_model_list, parsing.get_model_map):
        fn.cache_clear()
    for name in dir(parsing):
        obj = getattr(parsing, name)
        if callable(getattr(obj, "cache_clear", None)):
            obj.cache_clear()
