//! The CloudFormation method: the same inputs, resulting role and rule, plan format and
//! progress events as the API method, made through a stack built from assets/template.yaml.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::apply::{validate_after_writes, ApplyOptions, ValidationReport};
use super::events::{emit, Event, EventSender};
use crate::aws::{
    Aws, AwsError, SecretParameter, StackChange, StackEvent, StackInfo, StackRequest,
};
use crate::cfn::{self, resolve::Context, Kind};
use crate::core::model::{usage_instructions, Desired, ManagedBy, Observed};
use crate::core::plan::{Action, FieldChange, Plan, ResourceChange, ResourceKind};
use crate::core::validate::{Setup, MANAGED_BY_KEY, MANAGED_BY_VALUE};

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

pub fn is_in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

fn is_terminal(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

fn kind_of(resource_type: &str) -> ResourceKind {
    match resource_type {
        "AWS::IAM::Role" => ResourceKind::IamRole,
        "AWS::ECR::PullThroughCacheRule" => ResourceKind::PullThroughCacheRule,
        "AWS::ECR::RepositoryCreationTemplate" => ResourceKind::RepositoryCreationTemplate,
        "AWS::SecretsManager::Secret" => ResourceKind::CredentialSecret,
        _ => ResourceKind::CloudformationStack,
    }
}

pub struct StackPlan {
    pub plan: Plan,
    pub stack: Option<StackInfo>,
    pub request: StackRequest,
    pub kind: Kind,
    /// The change set the plan shows, which apply executes (never a fresh update).
    pub change_set: Option<ReviewedChangeSet>,
    /// When a resource must be replaced under its own name (CloudFormation refuses that in
    /// one update): the first of two updates, whose template leaves out these resources
    /// (logical ids); the second is `request`.
    pub first: Option<(StackRequest, Vec<String>)>,
    /// What brings a failed stack back to a state CloudFormation updates or creates from.
    pub recovery: Option<Recovery>,
    /// The stack's newest event when planned: another one means the stack changed since.
    pub last_event: Option<String>,
}

/// The change set a plan reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedChangeSet {
    pub id: String,
    pub name: String,
    /// A CREATE change set, whose empty REVIEW_IN_PROGRESS stack the plan made.
    pub create: bool,
}

/// The way out of a failed stack state, as the plan names it and apply runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// `UPDATE_ROLLBACK_FAILED`: ContinueUpdateRollback, skipping these logical ids (only
    /// when their rollback already failed again).
    ContinueRollback { skip: Vec<String> },
    /// `ROLLBACK_COMPLETE`, `CREATE_FAILED`, `ROLLBACK_FAILED`, `DELETE_FAILED`: DeleteStack,
    /// retaining these (logical id, why) in a `DELETE_FAILED` stack; then create it again.
    Delete { retain: Vec<(String, String)> },
    /// `*_IN_PROGRESS`: follow the stack until it finishes; what then runs is planned again.
    Wait,
}

impl StackPlan {
    fn new(plan: Plan, stack: Option<StackInfo>, request: StackRequest, kind: Kind) -> Self {
        StackPlan {
            plan,
            stack,
            request,
            kind,
            change_set: None,
            first: None,
            recovery: None,
            last_event: None,
        }
    }
}

/// Removes the change set a plan made (and the empty stack of a CREATE change set) when it
/// is not going to be executed.
pub async fn discard(aws: &dyn Aws, sp: &StackPlan) {
    if let Some(cs) = &sp.change_set {
        let _ = aws.delete_change_set(&cs.id).await;
        if cs.create
            && aws
                .describe_stack(&sp.request.name)
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s.status == "REVIEW_IN_PROGRESS")
        {
            let _ = aws.delete_stack(&sp.request.name).await;
        }
    }
}

/// The property that names a resource of each type (create-only: a change replaces it).
fn name_property(resource_type: &str) -> Option<&'static str> {
    match resource_type {
        cfn::RULE_TYPE => Some("EcrRepositoryPrefix"),
        cfn::ROLE_TYPE => Some("RoleName"),
        cfn::TEMPLATE_TYPE => Some("Prefix"),
        cfn::SECRET_TYPE => Some("Name"),
        _ => None,
    }
}

/// The resources a change set replaces while their name stays: CloudFormation fails such an
/// update ("a custom-named resource requires replacing").
fn same_name_replacements(changes: &[StackChange]) -> Vec<&StackChange> {
    changes
        .iter()
        .filter(|c| {
            c.action == "Modify"
                && matches!(c.replacement.as_deref(), Some("True") | Some("Conditional"))
                && name_property(&c.resource_type)
                    .is_some_and(|n| !c.details.iter().any(|(d, _)| d == n))
        })
        .collect()
}

/// The resources to leave out of the first update: the replaced ones and every resource that
/// refers to one of them (it would lose its reference).
fn removal_set(kind: Kind, replaced: &[String]) -> Vec<String> {
    let t = kind.template();
    let mut out: Vec<String> = replaced.to_vec();
    loop {
        let mut grew = false;
        if let Some(res) = t["Resources"].as_object() {
            for (id, r) in res {
                let text = r["Properties"].to_string();
                let refers = out.iter().any(|o| {
                    text.contains(&format!("{{\"Ref\":\"{o}\"}}"))
                        || text.contains(&format!("\"Fn::GetAtt\":[\"{o}\""))
                });
                if refers && !out.contains(id) {
                    out.push(id.clone());
                    grew = true;
                }
            }
        }
        if !grew {
            return out;
        }
    }
}

/// The template without `removed` (and the outputs that refer to them), as JSON.
fn template_without(kind: Kind, removed: &[String]) -> String {
    let mut t = kind.template().clone();
    if let Some(res) = t["Resources"].as_object_mut() {
        res.retain(|k, _| !removed.contains(k));
    }
    if let Some(out) = t["Outputs"].as_object_mut() {
        out.retain(|_, v| {
            let text = v.to_string();
            !removed
                .iter()
                .any(|r| text.contains(&format!("\"{r}\"")) || text.contains(&format!("\"{r}.")))
        });
    }
    t.to_string()
}

/// The stack request for a setup. `keep_token`: the stack's secret already holds the token
/// being set, so the token parameter keeps its previous value (no change to compare or show).
pub fn request(setup: &Setup, stack_name: &str, keep_token: bool) -> StackRequest {
    let kind = Kind::of(setup);
    StackRequest {
        name: stack_name.to_string(),
        template_body: kind.yaml().to_string(),
        parameters: cfn::parameters(setup),
        secret_parameters: cfn::token_parameter(setup)
            .map(|token| {
                let value = if keep_token {
                    SecretParameter::Previous
                } else {
                    SecretParameter::Value(token)
                };
                (cfn::TOKEN_PARAMETER.to_string(), value)
            })
            .into_iter()
            .collect(),
        tags: vec![(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into())],
    }
}

/// The parameters as the plan may show them: the token is "(set)".
fn shown_parameters(req: &StackRequest) -> Vec<(String, String)> {
    let mut p = req.parameters.clone();
    p.extend(req.secret_parameters.iter().map(|(k, _)| {
        (
            k.clone(),
            crate::core::upstream::SECRET_VALUE_SET.to_string(),
        )
    }));
    p
}

/// Resolved properties of a template resource for given parameters. A secret's JSON value
/// comes back as data (its token shown as "(set)": only shown parameters get here).
fn properties(
    kind: Kind,
    logical_id: &str,
    params: &[(String, String)],
    account: &str,
    region: &str,
    stack: &str,
) -> Value {
    let t = kind.template();
    let ctx = Context::new(t, params, account, region, stack);
    let mut props = ctx
        .resolve(&t["Resources"][logical_id]["Properties"])
        .unwrap_or(Value::Null);
    if let Some(v) = props.get_mut("SecretString") {
        let token = crate::core::upstream::SECRET_VALUE_SET;
        *v = v
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .map(|mut j| {
                j["accessToken"] = Value::String(token.into());
                j
            })
            .unwrap_or(Value::String(token.into()));
    }
    props
}

/// The parameters a stack was last given, as DescribeStacks returns them (NoEcho ones masked).
fn stack_parameters(stack: &StackInfo) -> Vec<(String, String)> {
    stack
        .parameters
        .iter()
        .map(|(k, v)| {
            let v = if k == cfn::TOKEN_PARAMETER {
                crate::core::upstream::SECRET_VALUE_SET.to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// Plan rows for a stack's resources that all take the same action.
fn resource_rows(kind: Kind, params: &[(String, String)], action: Action) -> Vec<ResourceChange> {
    kind.resources(params)
        .into_iter()
        .map(|(logical, rtype)| ResourceChange {
            resource: kind_of(rtype),
            name: logical.to_string(),
            action,
            reason: None,
            fields: vec![],
        })
        .collect()
}

/// Another resource's id or attribute (`{Credential}`, `{AccessRole.Arn}` from the resolver)
/// as the plan says it: known once that resource exists.
fn known_after_apply(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.len() > 2 && s.starts_with('{') && s.ends_with('}') && !s.contains('"') => {
            Value::String(format!("(known after apply: {})", &s[1..s.len() - 1]))
        }
        _ => v.clone(),
    }
}

fn change_row(
    kind: Kind,
    c: &StackChange,
    before_params: Option<&[(String, String)]>,
    after_params: &[(String, String)],
    account: &str,
    region: &str,
    stack: &str,
) -> ResourceChange {
    let replace = matches!(c.replacement.as_deref(), Some("True") | Some("Conditional"));
    let action = match c.action.as_str() {
        "Add" => Action::Create,
        "Remove" => Action::Delete,
        _ if replace => Action::Replace,
        _ => Action::Update,
    };
    let after = properties(kind, &c.logical_id, after_params, account, region, stack);
    let before = before_params
        .map(|p| properties(kind, &c.logical_id, p, account, region, stack))
        .unwrap_or(Value::Null);
    let fields = if c.details.is_empty() {
        after
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| FieldChange {
                        field: k.clone(),
                        before: Value::Null,
                        after: known_after_apply(v),
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        c.details
            .iter()
            .map(|(name, _)| {
                let b = before.get(name).cloned().unwrap_or(Value::Null);
                let a = after.get(name).cloned().unwrap_or(Value::Null);
                // A secret's value is never shown: both sides read "(set)".
                let a = if name == "SecretString" {
                    // Both sides read "(set)": equal values mean the token is what changed.
                    let mut a = a;
                    if a == b && a.is_object() {
                        a["accessToken"] = Value::String("(new value)".into());
                    }
                    a
                } else if a == b {
                    // Same text on both sides means the value comes from another resource.
                    Value::String(format!(
                        "(new value known after apply: {})",
                        a.as_str().unwrap_or("?").trim_matches(['{', '}'])
                    ))
                } else {
                    a
                };
                FieldChange {
                    field: name.clone(),
                    before: b,
                    after: a,
                }
            })
            .collect()
    };
    let reason = (action == Action::Replace).then(|| {
        let names: Vec<&str> = c
            .details
            .iter()
            .filter(|(_, r)| r != "Never")
            .map(|(n, _)| n.as_str())
            .collect();
        format!(
            "CloudFormation replaces {} because {} cannot change in place (Replacement: {})",
            c.logical_id,
            names.join(", "),
            c.replacement.as_deref().unwrap_or("True")
        )
    });
    ResourceChange {
        resource: kind_of(&c.resource_type),
        name: format!("{} ({})", c.logical_id, c.resource_type),
        action,
        reason,
        fields,
    }
}

/// Plans with a change set against the stack (or a new one); the change set is deleted afterwards.
pub async fn plan(
    aws: &dyn Aws,
    setup: &Setup,
    desired: &Desired,
    observed: &Observed,
    stack_name: &str,
) -> Result<StackPlan, AwsError> {
    let stack = aws.describe_stack(stack_name).await?;
    let kind = Kind::of(setup);
    let ours = ManagedBy::CloudFormation(stack_name.to_string());
    // The token parameter is NoEcho: when the stack's own secret already holds this token,
    // keep the previous value rather than send the same one for comparison.
    let keep_token = stack.is_some()
        && observed.secret.as_ref().is_some_and(|s| {
            s.managed_by() == ours && s.deleted_at.is_none() && s.value_matches == Some(true)
        });
    let req = request(setup, stack_name, keep_token);
    let (account, region) = (desired.account.as_str(), desired.region.as_str());
    let mut p = Plan {
        account: account.to_string(),
        region: region.to_string(),
        changes: vec![],
        warnings: vec![],
        blockers: vec![],
    };
    if let Some(other) = stack.as_ref().and_then(|s| {
        cfn::Kind::of_stack(&s.parameters)
            .filter(|k| *k != kind)
            .map(|_| s)
    }) {
        p.blockers.push(format!(
            "stack {stack_name} holds the rule for prefix {} (another upstream): updating it would replace that rule; ⟦other stack-name⟧, or leave it out for the default",
            other.parameters.get("RepositoryNamePrefix").map(String::as_str).unwrap_or("?")
        ));
    }
    if let Some(secret) = observed.secret.as_ref().filter(|_| {
        req.parameters
            .iter()
            .any(|(k, v)| k == "Username" && !v.is_empty())
    }) {
        if secret.managed_by() != ours {
            p.blockers.push(format!(
                "secret {} already exists outside stack {stack_name} (managed by {}): the stack makes its own; tear the other down first (⟦cmd teardown prefix={}⟧ if echo-onboard made it), or give {} in ⟦credential-arn⟧ to use it",
                secret.name,
                secret.managed_by().label(),
                desired.rule.prefix,
                secret.arn
            ));
        } else if secret.deleted_at.is_some() {
            p.blockers.push(format!(
                "secret {} is scheduled for deletion and its name cannot be reused until then: restore it with `aws secretsmanager restore-secret --secret-id {}`, or delete it for good with `aws secretsmanager delete-secret --secret-id {} --force-delete-without-recovery`",
                secret.name, secret.arn, secret.arn
            ));
        }
    }
    let wants_template = kind
        .resources(&req.parameters)
        .iter()
        .any(|(_, t)| *t == cfn::TEMPLATE_TYPE);
    if let Some(t) = observed
        .cache
        .template(&desired.rule.prefix)
        .filter(|t| wants_template && t.managed_by() != ours)
    {
        p.blockers.push(format!(
            "a repository creation template for prefix {:?} already exists outside stack {stack_name} (managed by {}): the stack makes its own; delete it first (`aws ecr delete-repository-creation-template --prefix {}`) or ⟦other prefix⟧",
            t.prefix,
            t.managed_by().label(),
            t.prefix
        ));
    }

    // Which stack holds the rule is read from CloudFormation (DescribeStackResources), so a
    // failed stack's rule is the stack's even when the role that named it is gone.
    if let Some(rule) = observed.rule(&desired.rule.prefix) {
        if rule.managed_by != ours {
            p.blockers.push(format!(
                "a pull-through cache rule for prefix {:?} already exists outside stack {stack_name} (managed by {}, upstream {}): ⟦other prefix⟧; or remove it (⟦cmd teardown prefix={}⟧ if echo-onboard made it, else `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {} --region {region}`; cached repositories are kept) so the stack can adopt the prefix",
                rule.prefix, rule.managed_by.label(), rule.upstream_url, rule.prefix, rule.prefix
            ));
        }
    }
    if let Some(role) = &observed.role {
        if role.managed_by() != ours {
            p.blockers.push(format!(
                "IAM role {} already exists outside stack {stack_name} (managed by {}): ⟦other role-name⟧ to let the stack create its own role, or delete that role first",
                role.name,
                role.managed_by().label()
            ));
        }
    }
    let status = stack.as_ref().map(|s| s.status.clone()).unwrap_or_default();
    if is_in_progress(&status) {
        p.warnings.push(format!(
            "stack {stack_name} is busy ({status}): apply waits for it to finish, then plans again"
        ));
    }
    if !p.blockers.is_empty() {
        return Ok(StackPlan::new(p, stack, req, kind));
    }
    // CloudFormation takes no change set while the stack is busy: the plan is to wait.
    if is_in_progress(&status) {
        p.changes.push(ResourceChange {
            resource: ResourceKind::CloudformationStack,
            name: stack_name.to_string(),
            action: Action::Update,
            reason: Some(format!(
                "the stack is busy ({status}): apply follows its events until it finishes, then plans again for you to review"
            )),
            fields: vec![],
        });
        let mut sp = StackPlan::new(p, stack, req, kind);
        sp.recovery = Some(Recovery::Wait);
        sp.last_event = newest_event(aws, stack_name).await;
        return Ok(sp);
    }
    if let Some(s) = stack.as_ref() {
        if let Some((recovery, reason)) = recovery_for(aws, s, region).await? {
            let deletes = matches!(recovery, Recovery::Delete { .. });
            p.changes.push(ResourceChange {
                resource: ResourceKind::CloudformationStack,
                name: stack_name.to_string(),
                action: if deletes {
                    Action::Replace
                } else {
                    Action::Update
                },
                reason: Some(reason),
                fields: vec![],
            });
            if deletes {
                for (logical, rtype) in kind.resources(&req.parameters) {
                    let c = StackChange {
                        action: "Add".into(),
                        logical_id: logical.into(),
                        physical_id: None,
                        resource_type: rtype.into(),
                        replacement: None,
                        details: vec![],
                    };
                    p.changes.push(change_row(
                        kind,
                        &c,
                        None,
                        &shown_parameters(&req),
                        account,
                        region,
                        stack_name,
                    ));
                }
            } else {
                p.warnings.push(format!(
                    "the setup's own changes are planned once stack {stack_name} has rolled back: run plan again after this apply"
                ));
            }
            let mut sp = StackPlan::new(p, stack, req, kind);
            sp.recovery = Some(recovery);
            sp.last_event = newest_event(aws, stack_name).await;
            return Ok(sp);
        }
    }

    let create = stack.is_none() || status == "REVIEW_IN_PROGRESS";
    let name = format!(
        "echo-onboard-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
    );
    let id = match aws.create_change_set(&req, &name, create).await {
        Ok(id) => id,
        // Some endpoints refuse an empty update outright instead of failing the change set.
        Err(e) if e.message.contains("No updates are to be performed") => {
            p.changes.push(ResourceChange {
                resource: ResourceKind::CloudformationStack,
                name: stack_name.to_string(),
                action: Action::NoOp,
                reason: None,
                fields: vec![],
            });
            p.changes
                .extend(resource_rows(kind, &req.parameters, Action::NoOp));
            return Ok(StackPlan::new(p, stack, req, kind));
        }
        Err(e) => return Err(e),
    };
    let reviewed = ReviewedChangeSet {
        id: id.clone(),
        name: name.clone(),
        create,
    };
    let mut sp = StackPlan::new(p, stack, req, kind);
    sp.change_set = Some(reviewed);
    let info = match wait_for_change_set(aws, &id).await {
        Ok(info) => info,
        Err(e) => {
            discard(aws, &sp).await;
            return Err(e);
        }
    };
    let no_changes = info.status == "FAILED"
        && info
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("didn't contain changes") || r.contains("No updates"));
    if info.status == "FAILED" {
        // Nothing to execute: never leave it (or a CREATE change set's empty stack) behind.
        discard(aws, &sp).await;
        sp.change_set = None;
        if !no_changes {
            return Err(AwsError::service(
                "cloudformation:CreateChangeSet",
                "ChangeSetFailed",
                info.reason.as_deref().unwrap_or("the change set failed"),
                &Default::default(),
            ));
        }
    }
    let StackPlan {
        plan: ref mut p,
        ref stack,
        ref request,
        ..
    } = sp;
    let before_params: Option<Vec<(String, String)>> = stack.as_ref().map(stack_parameters);
    p.changes.push(ResourceChange {
        resource: ResourceKind::CloudformationStack,
        name: stack_name.to_string(),
        action: if create {
            Action::Create
        } else if no_changes || info.changes.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        },
        reason: (!no_changes).then(|| format!("change set {name}: apply executes it")),
        fields: vec![],
    });
    if no_changes {
        p.changes
            .extend(resource_rows(kind, &request.parameters, Action::NoOp));
        return Ok(sp);
    }
    let shown = shown_parameters(request);
    for c in &info.changes {
        p.changes.push(change_row(
            kind,
            c,
            before_params.as_deref(),
            &shown,
            account,
            region,
            stack_name,
        ));
    }
    let same_name = same_name_replacements(&info.changes);
    if !create && !same_name.is_empty() {
        let ids: Vec<String> = same_name.iter().map(|c| c.logical_id.clone()).collect();
        let names: Vec<String> = same_name
            .iter()
            .map(|c| {
                format!(
                    "{} ({})",
                    c.logical_id,
                    c.physical_id.as_deref().unwrap_or("its current name")
                )
            })
            .collect();
        let removed = removal_set(kind, &ids);
        let first = StackRequest {
            template_body: template_without(kind, &removed),
            ..request.clone()
        };
        // The one-update change set would fail: plan (and later run) the first step instead.
        let _ = aws.delete_change_set(&id).await;
        let first_name = format!("{name}-step-1");
        let first_id = aws.create_change_set(&first, &first_name, false).await?;
        let first_info = wait_for_change_set(aws, &first_id).await?;
        if first_info.status == "FAILED" {
            let _ = aws.delete_change_set(&first_id).await;
            return Err(AwsError::service(
                "cloudformation:CreateChangeSet",
                "ChangeSetFailed",
                first_info
                    .reason
                    .as_deref()
                    .unwrap_or("the change set failed"),
                &Default::default(),
            ));
        }
        let how = format!(
            "CloudFormation cannot replace {} under the same name in one update (it would fail and roll back), so apply runs two: change set {first_name} removes {}, then a second update creates {} with the new settings",
            names.join(", "),
            removed.join(", "),
            if removed.len() == 1 { "it" } else { "them" }
        );
        for row in p.changes.iter_mut() {
            if removed
                .iter()
                .any(|r| row.name.starts_with(&format!("{r} (")))
            {
                row.action = Action::Replace;
                row.reason = Some(how.clone());
            }
            if row.resource == ResourceKind::CloudformationStack {
                row.reason = Some(format!(
                    "two updates: change set {first_name}, then the rest of the change"
                ));
            }
        }
        if removed.iter().any(|r| r == cfn::RULE_LOGICAL_ID) {
            p.warnings.push(format!(
                "between the two updates prefix {} has no pull-through cache rule (usually under a minute): pulls of images not cached yet fail meanwhile; cached repositories and their images stay",
                desired.rule.prefix
            ));
        }
        sp.change_set = Some(ReviewedChangeSet {
            id: first_id,
            name: first_name,
            create: false,
        });
        sp.first = Some((first, removed));
    }
    sp.last_event = newest_event(aws, stack_name).await;
    Ok(sp)
}

/// The newest event's id of a stack (`None`: no stack).
async fn newest_event(aws: &dyn Aws, name: &str) -> Option<String> {
    aws.stack_events(name)
        .await
        .ok()
        .and_then(|e| e.first().map(|e| e.id.clone()))
}

/// Resources whose last event since the stack's newest `since` status is `status`, with the
/// reason (newest first in `events`).
fn failed_since(events: &[StackEvent], since: &str, status: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = vec![];
    for e in events {
        if e.resource_type == STACK_TYPE && e.status == since {
            break;
        }
        if e.resource_type != STACK_TYPE
            && e.status == status
            && !out.iter().any(|(l, _, _)| *l == e.logical_id)
        {
            out.push((
                e.logical_id.clone(),
                e.resource_type.clone(),
                e.reason.clone().unwrap_or_else(|| "no reason given".into()),
            ));
        }
    }
    out
}

/// A command that removes a retained resource.
fn removal_command(rtype: &str, name: &str, region: &str) -> String {
    match rtype {
        cfn::RULE_TYPE => format!(
            "aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {name} --region {region}"
        ),
        cfn::ROLE_TYPE => format!(
            "aws iam delete-role-policy --role-name {name} --policy-name echo-pullthrough-cache-policy; aws iam delete-role --role-name {name}"
        ),
        cfn::SECRET_TYPE => format!(
            "aws secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery --region {region}"
        ),
        _ => format!("aws ecr delete-repository-creation-template --prefix {name} --region {region}"),
    }
}

/// The physical name of a stack's resource of a type, as its parameters say.
fn physical_name(stack: &StackInfo, rtype: &str, region: &str) -> String {
    stack_resources(stack, region)
        .into_iter()
        .find(|(t, _)| *t == rtype)
        .map(|(_, n)| n)
        .unwrap_or_default()
}

/// The way out of a stack state CloudFormation neither updates nor creates from, and the
/// plan's words for it; `None` for a stack that can be updated (or is absent).
async fn recovery_for(
    aws: &dyn Aws,
    stack: &StackInfo,
    region: &str,
) -> Result<Option<(Recovery, String)>, AwsError> {
    let status = stack.status.as_str();
    if !matches!(
        status,
        "ROLLBACK_COMPLETE"
            | "CREATE_FAILED"
            | "ROLLBACK_FAILED"
            | "DELETE_FAILED"
            | "UPDATE_ROLLBACK_FAILED"
    ) {
        return Ok(None);
    }
    let events = aws.stack_events(&stack.id).await?;
    let named = |v: &[(String, String, String)]| {
        v.iter()
            .map(|(l, _, r)| format!("{l} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Some(match status {
        "ROLLBACK_COMPLETE" => (
            Recovery::Delete { retain: vec![] },
            "the stack is ROLLBACK_COMPLETE (its creation failed) and cannot be updated: apply deletes it and creates it again".into(),
        ),
        "CREATE_FAILED" => (
            Recovery::Delete { retain: vec![] },
            "the stack is CREATE_FAILED (its creation failed with rollback disabled; what it made is still there) and cannot be updated: apply deletes it with what it holds and creates it again".into(),
        ),
        "ROLLBACK_FAILED" => {
            let stuck = failed_since(&events, "ROLLBACK_IN_PROGRESS", "DELETE_FAILED");
            (
                Recovery::Delete { retain: vec![] },
                format!(
                    "the stack is ROLLBACK_FAILED (its creation failed and the rollback could not delete {}) and cannot be updated: apply deletes it, retrying those deletions, and creates it again",
                    named(&stuck)
                ),
            )
        }
        "DELETE_FAILED" => {
            let stuck = failed_since(&events, "DELETE_IN_PROGRESS", "DELETE_FAILED");
            let how: Vec<String> = stuck
                .iter()
                .map(|(l, t, r)| {
                    let name = physical_name(stack, t, region);
                    format!(
                        "{l} ({t} {name}: {r}; it stays in the account, remove it with `{}`)",
                        removal_command(t, &name, region)
                    )
                })
                .collect();
            (
                Recovery::Delete {
                    retain: stuck.iter().map(|(l, _, r)| (l.clone(), r.clone())).collect(),
                },
                format!(
                    "the stack is DELETE_FAILED: apply deletes it retaining what CloudFormation could not delete, {}; then it creates the stack again, or stops and names what is left if a retained resource is still there",
                    how.join("; ")
                ),
            )
        }
        _ => {
            // Skipping is the only way when a continued rollback already failed on them.
            let continued = events.iter().find(|e| {
                e.resource_type == STACK_TYPE && e.status == "UPDATE_ROLLBACK_IN_PROGRESS"
            });
            let retried = continued
                .and_then(|e| e.reason.as_deref())
                .is_some_and(|r| r.to_lowercase().contains("continue"));
            let stuck = failed_since(&events, "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_FAILED");
            if retried && !stuck.is_empty() {
                (
                    Recovery::ContinueRollback {
                        skip: stuck.iter().map(|(l, _, _)| l.clone()).collect(),
                    },
                    format!(
                        "the stack is UPDATE_ROLLBACK_FAILED and continuing its rollback already failed on {}: apply continues the rollback skipping them (ContinueUpdateRollback with ResourcesToSkip); CloudFormation then records them as rolled back without changing them, so they may not match the stack's previous settings until the next update",
                        named(&stuck)
                    ),
                )
            } else {
                (
                    Recovery::ContinueRollback { skip: vec![] },
                    format!(
                        "the stack is UPDATE_ROLLBACK_FAILED (the rollback could not restore {}) and cannot be updated: apply continues the rollback (ContinueUpdateRollback)",
                        named(&stuck)
                    ),
                )
            }
        }
    }))
}

async fn wait_for_change_set(
    aws: &dyn Aws,
    id: &str,
) -> Result<crate::aws::ChangeSetInfo, AwsError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let info = aws.describe_change_set(id).await?;
        if matches!(
            info.status.as_str(),
            "CREATE_COMPLETE" | "FAILED" | "DELETE_COMPLETE"
        ) || Instant::now() > deadline
        {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StackOutcome {
    pub status: String,
    pub outputs: std::collections::BTreeMap<String, String>,
    pub validation: Option<ValidationReport>,
    pub usage: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackFailure {
    /// The AWS error code, or what kind of stack failure this is.
    pub code: String,
    /// The failing resource and its reason, first.
    pub message: String,
    pub stack_status: Option<String>,
    pub next_step: String,
}

impl From<AwsError> for StackFailure {
    fn from(e: AwsError) -> Self {
        StackFailure {
            code: e.code.clone(),
            message: format!("{} failed: {}", e.action, e.message),
            stack_status: None,
            next_step: e.fix.clone(),
        }
    }
}

/// Follows a stack until it reaches a terminal state, emitting every new event once.
async fn follow(
    aws: &dyn Aws,
    name: &str,
    seen: &mut BTreeSet<String>,
    started: Instant,
    total: usize,
    poll: Duration,
    tx: &EventSender,
) -> Result<Option<StackInfo>, AwsError> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let mut events = match aws.stack_events(name).await {
            Ok(e) => e,
            Err(e) if e.message.contains("does not exist") => vec![],
            Err(e) => return Err(e),
        };
        events.reverse();
        for e in events.into_iter().filter(|e| seen.insert(e.id.clone())) {
            if e.resource_type != STACK_TYPE
                && (e.status.ends_with("_COMPLETE") && !e.status.starts_with("DELETE_")
                    || e.status == "DELETE_COMPLETE")
            {
                done.insert(e.logical_id.clone());
            }
            emit(
                tx,
                Event::StackEvent {
                    logical_id: e.logical_id,
                    resource_type: e.resource_type,
                    status: e.status,
                    reason: e.reason,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    done: done.len().min(total),
                    total,
                },
            );
        }
        let stack = aws.describe_stack(name).await?;
        match &stack {
            None => return Ok(None),
            Some(s) if is_terminal(&s.status) => return Ok(stack),
            _ => tokio::time::sleep(poll).await,
        }
    }
}

async fn seen_events(aws: &dyn Aws, name: &str) -> BTreeSet<String> {
    aws.stack_events(name)
        .await
        .map(|e| e.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

/// Why a stack ended where it did: the first failed resource and its reason.
async fn failure(
    aws: &dyn Aws,
    name: &str,
    status: &str,
    since: &BTreeSet<String>,
) -> StackFailure {
    let mut events = aws.stack_events(name).await.unwrap_or_default();
    events.reverse();
    let failed = events
        .iter()
        .filter(|e| !since.contains(&e.id))
        .find(|e| e.status.ends_with("_FAILED") && e.resource_type != STACK_TYPE);
    let message = match failed {
        Some(e) => format!(
            "{} ({}) {}: {}",
            e.logical_id,
            e.resource_type,
            e.status,
            e.reason.as_deref().unwrap_or("no reason given")
        ),
        None => format!("stack {name} ended in {status}"),
    };
    // Exactly what the next apply (or teardown) plans for this state.
    let apply = format!("⟦run apply method=cloudformation stack-name={name}⟧");
    let next_step = match status {
        "ROLLBACK_COMPLETE" | "CREATE_FAILED" => format!(
            "the stack must be deleted before it can be created again: fix the cause, then {apply} (it deletes the failed stack and creates it again) or ⟦cmd teardown stack-name={name}⟧"
        ),
        "ROLLBACK_FAILED" => format!(
            "the stack must be deleted before it can be created again: {apply} (it deletes the stack, retrying what the rollback could not delete, and creates it again) or ⟦cmd teardown stack-name={name}⟧"
        ),
        "DELETE_FAILED" => format!(
            "{apply} or ⟦cmd teardown stack-name={name}⟧ again: it deletes the stack retaining what could not be deleted, and names each retained resource with the command that removes it"
        ),
        "UPDATE_ROLLBACK_FAILED" => format!(
            "{apply}: it continues the rollback (ContinueUpdateRollback), then plan again"
        ),
        "UPDATE_ROLLBACK_COMPLETE" => "the stack rolled back to its previous state and nothing changed: fix the cause and apply again".to_string(),
        _ => format!("look at the stack events: aws cloudformation describe-stack-events --stack-name {name}"),
    };
    StackFailure {
        code: "StackFailed".into(),
        message,
        stack_status: Some(status.to_string()),
        next_step,
    }
}

/// The stack changed between plan and apply: the reviewed change set is not executed.
fn stale(name: &str, why: &str) -> StackFailure {
    StackFailure {
        code: "StackChanged".into(),
        message: format!(
            "stack {name} changed since the plan ({why}): the reviewed change set was not executed and nothing was changed"
        ),
        stack_status: None,
        next_step: "review the new plan (⟦cmd plan method=cloudformation⟧), then apply again".into(),
    }
}

pub async fn apply(
    aws: &dyn Aws,
    planned: &StackPlan,
    desired: &Desired,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<StackOutcome, StackFailure> {
    let name = planned.request.name.as_str();
    let total = planned.kind.resources(&planned.request.parameters).len();
    let started = Instant::now();
    let mut seen = seen_events(aws, name).await;
    let mut stack = aws.describe_stack(name).await?;
    if let Some(s) = &stack {
        if is_in_progress(&s.status) {
            emit(
                tx,
                Event::Warning {
                    message: format!("stack {name} is {}: waiting for it to finish", s.status),
                },
            );
            stack = follow(aws, name, &mut seen, started, total, opts.poll_interval, tx).await?;
        }
    }
    if planned.recovery == Some(Recovery::Wait) {
        return Err(stale(
            name,
            &format!(
                "it was busy and is now {}",
                stack.as_ref().map(|s| s.status.as_str()).unwrap_or("gone")
            ),
        ));
    }
    // What was reviewed runs only on the stack it was reviewed against.
    if planned.change_set.is_some() || planned.recovery.is_some() {
        if newest_event(aws, name).await != planned.last_event {
            discard(aws, planned).await;
            return Err(stale(name, "it has new stack events"));
        }
        if let Some(cs) = &planned.change_set {
            let info = aws.describe_change_set(&cs.id).await?;
            if info.execution_status.as_deref() != Some("AVAILABLE") {
                discard(aws, planned).await;
                return Err(stale(
                    name,
                    &format!(
                        "change set {} is {}",
                        cs.name,
                        info.execution_status.as_deref().unwrap_or("unavailable")
                    ),
                ));
            }
        }
    }
    match &planned.recovery {
        Some(Recovery::ContinueRollback { skip }) => {
            emit(
                tx,
                Event::Warning {
                    message: if skip.is_empty() {
                        format!("continuing the rollback of stack {name}")
                    } else {
                        format!(
                            "continuing the rollback of stack {name}, skipping {}",
                            skip.join(", ")
                        )
                    },
                },
            );
            let before = seen.clone();
            aws.continue_update_rollback(name, skip).await?;
            let end = follow(aws, name, &mut seen, started, total, opts.poll_interval, tx)
                .await?
                .ok_or_else(|| disappeared(name))?;
            if end.status != "UPDATE_ROLLBACK_COMPLETE" {
                return Err(failure(aws, name, &end.status, &before).await);
            }
            emit(
                tx,
                Event::Warning {
                    message: format!(
                        "stack {name} rolled back to its previous state: run plan again to see the setup's changes"
                    ),
                },
            );
            return Ok(StackOutcome {
                status: end.status,
                outputs: end.outputs,
                validation: None,
                usage: usage_instructions(&desired.account, &desired.region, &desired.rule.prefix),
            });
        }
        Some(Recovery::Delete { retain }) => {
            let Some(current) = stack.clone() else {
                return Err(stale(name, "it no longer exists"));
            };
            emit(
                tx,
                Event::Warning {
                    message: format!(
                        "deleting stack {name} left by a failed {} ({}), so it can be created again",
                        if current.status == "DELETE_FAILED" {
                            "deletion"
                        } else {
                            "creation"
                        },
                        current.status
                    ),
                },
            );
            let before = seen.clone();
            let ids: Vec<String> = retain.iter().map(|(l, _)| l.clone()).collect();
            if ids.is_empty() {
                aws.delete_stack(name).await?;
            } else {
                aws.delete_stack_retaining(name, &ids).await?;
            }
            let end = follow(
                aws,
                &current.id,
                &mut seen,
                started,
                total,
                opts.poll_interval,
                tx,
            )
            .await?;
            if let Some(s) = end.filter(|s| s.status != "DELETE_COMPLETE") {
                return Err(failure(aws, name, &s.status, &before).await);
            }
            let left = still_there(aws, &current).await?;
            if !left.is_empty() {
                return Err(StackFailure {
                    code: "ResourcesRetained".into(),
                    message: format!(
                        "stack {name} is deleted, but what it retained is still in the account: {}",
                        left.iter()
                            .map(|(l, _)| l.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    stack_status: None,
                    next_step: format!(
                        "remove them ({}), then run apply again to create the stack",
                        left.iter()
                            .map(|(_, c)| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                });
            }
            stack = None;
        }
        Some(Recovery::Wait) | None => {}
    }
    let before = seen.clone();
    match (&stack, &planned.change_set) {
        // A deleted failed stack, or a plan made without a change set: create it as planned.
        (None, None) | (None, Some(_)) if planned.recovery.is_some() => {
            aws.create_stack(&planned.request).await?
        }
        (_, Some(cs)) => execute(aws, name, cs).await?,
        (None, None) => aws.create_stack(&planned.request).await?,
        // Nothing reviewed to run against an existing stack: never an unreviewed update.
        (Some(_), None) => return Err(stale(name, "no change set was reviewed for it")),
    }
    let mut end = follow(aws, name, &mut seen, started, total, opts.poll_interval, tx)
        .await?
        .ok_or_else(|| disappeared(name))?;
    if !matches!(end.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Err(failure(aws, name, &end.status, &before).await);
    }
    if let Some((_, removed)) = &planned.first {
        end = second_step(aws, planned, removed, &mut seen, started, total, opts, tx).await?;
    }
    let label = format!("validate rule {}", desired.rule.prefix);
    // A stack that reached COMPLETE is kept whatever the check says (see validate_after_writes).
    let validation = validate_after_writes(aws, desired, opts, &label, tx).await;
    Ok(StackOutcome {
        status: end.status,
        outputs: end.outputs,
        validation: Some(validation),
        usage: usage_instructions(&desired.account, &desired.region, &desired.rule.prefix),
    })
}

fn disappeared(name: &str) -> StackFailure {
    StackFailure {
        code: "StackDisappeared".into(),
        message: format!("stack {name} disappeared"),
        stack_status: None,
        next_step: "⟦run status⟧".into(),
    }
}

/// Executes the reviewed change set; one that went stale meanwhile is reported as such.
async fn execute(aws: &dyn Aws, name: &str, cs: &ReviewedChangeSet) -> Result<(), StackFailure> {
    match aws.execute_change_set(&cs.id).await {
        Err(e) if e.code == "InvalidChangeSetStatus" => {
            let _ = aws.delete_change_set(&cs.id).await;
            Err(stale(name, &e.message))
        }
        other => Ok(other?),
    }
}

/// The second of two updates: the full template again, which must only add back what the
/// first one removed (anything else was not reviewed and is not executed).
#[allow(clippy::too_many_arguments)]
async fn second_step(
    aws: &dyn Aws,
    planned: &StackPlan,
    removed: &[String],
    seen: &mut BTreeSet<String>,
    started: Instant,
    total: usize,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<StackInfo, StackFailure> {
    let name = planned.request.name.as_str();
    let gap = |step: &str| StackFailure {
        code: "StepwiseIncomplete".into(),
        message: format!(
            "stack {name} ran the first of two updates ({} removed) but {step}",
            removed.join(", ")
        ),
        stack_status: Some("UPDATE_COMPLETE".into()),
        next_step: format!(
            "⟦run apply method=cloudformation stack-name={name}⟧ again: it plans adding {} back",
            removed.join(", ")
        ),
    };
    emit(
        tx,
        Event::Warning {
            message: format!(
                "first update done ({} removed): now the second, which creates {} with the new settings",
                removed.join(", "),
                if removed.len() == 1 { "it" } else { "them" }
            ),
        },
    );
    let cs_name = planned
        .change_set
        .as_ref()
        .map(|c| c.name.replace("-step-1", "-step-2"))
        .unwrap_or_else(|| "echo-onboard-step-2".into());
    let id = aws
        .create_change_set(&planned.request, &cs_name, false)
        .await
        .map_err(|e| {
            gap(&format!(
                "the second change set could not be made: {}",
                e.message
            ))
        })?;
    let info = wait_for_change_set(aws, &id).await?;
    let only_adds = !info.changes.is_empty()
        && info
            .changes
            .iter()
            .all(|c| c.action == "Add" && removed.contains(&c.logical_id));
    if info.status != "CREATE_COMPLETE" || !only_adds {
        let _ = aws.delete_change_set(&id).await;
        let what: Vec<String> = info
            .changes
            .iter()
            .map(|c| format!("{} {}", c.action, c.logical_id))
            .collect();
        return Err(gap(&format!(
            "the second change set is not what the plan showed ({}), so it was not executed",
            if what.is_empty() {
                info.reason.unwrap_or_else(|| info.status.clone())
            } else {
                what.join(", ")
            }
        )));
    }
    let before = seen.clone();
    aws.execute_change_set(&id)
        .await
        .map_err(|e| gap(&format!("the second update could not start: {}", e.message)))?;
    let end = follow(aws, name, seen, started, total, opts.poll_interval, tx)
        .await?
        .ok_or_else(|| disappeared(name))?;
    if end.status != "UPDATE_COMPLETE" {
        let f = failure(aws, name, &end.status, &before).await;
        return Err(StackFailure {
            next_step: format!(
                "{}; the first update stays: {} is not in the stack until apply runs again",
                f.next_step,
                removed.join(", ")
            ),
            ..f
        });
    }
    Ok(end)
}

/// The resources a deleted stack held that are still in the account, each with the command
/// that removes it.
async fn still_there(aws: &dyn Aws, stack: &StackInfo) -> Result<Vec<(String, String)>, AwsError> {
    let region = aws.region();
    let mut left = vec![];
    for (rtype, name) in stack_resources(stack, &region) {
        let there = match rtype {
            cfn::RULE_TYPE => aws
                .list_cache_rules()
                .await?
                .iter()
                .any(|r| r.prefix == name),
            cfn::ROLE_TYPE => aws.get_role(&name).await?.is_some(),
            cfn::SECRET_TYPE => aws
                .describe_secret(&name)
                .await?
                .is_some_and(|s| s.deleted_at.is_none()),
            _ => aws
                .list_creation_templates()
                .await?
                .iter()
                .any(|t| t.prefix == name),
        };
        if there {
            left.push((
                format!("{} {name}", kind_of(rtype).label()),
                removal_command(rtype, &name, &region),
            ));
        }
    }
    Ok(left)
}

/// The resources a stack holds, by type and name, as its parameters say.
fn stack_resources(stack: &StackInfo, region: &str) -> Vec<(&'static str, String)> {
    let p = |k: &str| stack.parameters.get(k).cloned().unwrap_or_default();
    let params: Vec<(String, String)> = stack_parameters(stack);
    let kind = Kind::of_stack(&stack.parameters).unwrap_or(Kind::Echo);
    kind.resources(&params)
        .into_iter()
        .map(|(_, rtype)| {
            let name = match rtype {
                cfn::ROLE_TYPE => cfn::stack_role_name(&p("RoleName"), region),
                cfn::SECRET_TYPE => crate::core::upstream::secret_name(&p("RepositoryNamePrefix")),
                _ => p("RepositoryNamePrefix"),
            };
            (rtype, name)
        })
        .collect()
}

/// The teardown plan rows for a stack: the stack and the resources it holds.
pub fn teardown_rows(stack: &StackInfo, region: &str) -> Vec<ResourceChange> {
    let mut rows = vec![ResourceChange {
        resource: ResourceKind::CloudformationStack,
        name: stack.name.clone(),
        action: Action::Delete,
        reason: Some(format!("status {}", stack.status)),
        fields: vec![],
    }];
    rows.extend(
        stack_resources(stack, region)
            .into_iter()
            .map(|(rtype, name)| ResourceChange {
                resource: kind_of(rtype),
                name,
                action: Action::Delete,
                reason: Some(if rtype == cfn::SECRET_TYPE {
                    "stack resource: CloudFormation deletes it with the stack, with no recovery window (it cannot be restored)".into()
                } else {
                    "stack resource".into()
                }),
                fields: vec![],
            }),
    );
    rows
}

/// Deletes the stack, follows its events, then confirms the rule and the role are gone.
pub async fn delete(
    aws: &dyn Aws,
    stack: &StackInfo,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<Vec<String>, StackFailure> {
    let name = stack.name.as_str();
    let started = Instant::now();
    let mut seen = seen_events(aws, name).await;
    let before = seen.clone();
    // A DELETE_FAILED stack is deleted retaining what CloudFormation could not delete (the
    // only way out); the check below then names each retained resource.
    let retain: Vec<String> = if stack.status == "DELETE_FAILED" {
        let events = aws.stack_events(&stack.id).await.unwrap_or_default();
        failed_since(&events, "DELETE_IN_PROGRESS", "DELETE_FAILED")
            .into_iter()
            .map(|(l, _, _)| l)
            .collect()
    } else {
        vec![]
    };
    if retain.is_empty() {
        aws.delete_stack(name).await?;
    } else {
        aws.delete_stack_retaining(name, &retain).await?;
    }
    // Deleted stacks are only found by id (their name is free again).
    let total = stack_resources(stack, &aws.region()).len();
    let end = follow(
        aws,
        &stack.id,
        &mut seen,
        started,
        total,
        opts.poll_interval,
        tx,
    )
    .await?;
    if let Some(s) = end {
        if s.status != "DELETE_COMPLETE" {
            return Err(failure(aws, name, &s.status, &before).await);
        }
    }
    let resources = stack_resources(stack, &aws.region());
    // Each resource the stack held, read back: none may remain.
    let checks = resources.iter().map(|(rtype, name)| async move {
        let left = match *rtype {
            cfn::RULE_TYPE => aws
                .list_cache_rules()
                .await?
                .iter()
                .any(|r| r.prefix == *name),
            cfn::ROLE_TYPE => aws.get_role(name).await?.is_some(),
            // A secret in its recovery window is deleted (only a restore brings it back).
            cfn::SECRET_TYPE => aws
                .describe_secret(name)
                .await?
                .is_some_and(|s| s.deleted_at.is_none()),
            _ => aws
                .list_creation_templates()
                .await?
                .iter()
                .any(|t| t.prefix == *name),
        };
        Ok::<_, AwsError>(left.then(|| format!("{} {name}", kind_of(rtype).label())))
    });
    let mut remaining = vec![];
    for left in futures::future::join_all(checks).await {
        remaining.extend(left?);
    }
    if !remaining.is_empty() {
        let commands: Vec<String> = still_there(aws, stack)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(_, c)| format!("`{c}`"))
            .collect();
        return Err(StackFailure {
            code: "ResourcesRemain".into(),
            message: format!(
                "stack {name} is deleted but {} still exist(s){}",
                remaining.join(" and "),
                if retain.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (retained: CloudFormation could not delete {})",
                        retain.join(", ")
                    )
                }
            ),
            stack_status: Some("DELETE_COMPLETE".into()),
            next_step: format!(
                "they were retained or recreated outside the stack: remove them ({})",
                commands.join("; ")
            ),
        });
    }
    let mut deleted = vec![format!("cloudformation-stack {name}")];
    deleted.extend(
        resources
            .iter()
            .map(|(rtype, n)| format!("{} {n}", kind_of(rtype).label())),
    );
    Ok(deleted)
}

/// Deletes the cached repositories listed in `plan` (its `ecr-repository` rows; they are not
/// stack resources), then the stack (confirming its rule and role are gone). Repositories go
/// first: while the rule exists, a second run can still prove which ones the cache made.
pub async fn delete_with_repositories(
    aws: &dyn Aws,
    stack: &StackInfo,
    plan: &Plan,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<Vec<String>, StackFailure> {
    let repos = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| c.resource == ResourceKind::EcrRepository)
            .cloned()
            .collect(),
        ..plan.clone()
    };
    let mut deleted = match super::teardown::teardown(aws, &repos, None, None, tx).await {
        Ok(out) => out.deleted,
        Err(f) => {
            return Err(StackFailure {
                code: "CachedRepositoriesRemain".into(),
                message: format!(
                    "cached repositories remain ({}), so stack {} was not deleted yet: {}",
                    f.remaining.join(", "),
                    stack.name,
                    f.error
                ),
                stack_status: Some(stack.status.clone()),
                next_step: format!(
                    "⟦run teardown delete-cached-repos prefix={}⟧ again",
                    stack
                        .parameters
                        .get("RepositoryNamePrefix")
                        .cloned()
                        .unwrap_or_default()
                ),
            })
        }
    };
    deleted.extend(delete(aws, stack, opts, tx).await?);
    Ok(deleted)
}
