//! The CloudFormation method: the same inputs, resulting role and rule, plan format and
//! progress events as the API method, made through a stack built from assets/template.yaml.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::apply::{validate_after_writes, ApplyOptions, ValidationReport};
use super::events::{emit, Event, EventSender};
use crate::aws::{Aws, AwsError, SecretParameter, StackChange, StackInfo, StackRequest};
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
            "stack {stack_name} holds the rule for prefix {} (another upstream): updating it would replace that rule; pass another --stack-name, or leave it out for the default",
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
                "secret {} already exists outside stack {stack_name} (managed by {}): the stack makes its own; tear the other down first (`echo-onboard teardown --prefix {}` if echo-onboard made it), or pass --credential-arn {} to use it",
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
            "a repository creation template for prefix {:?} already exists outside stack {stack_name} (managed by {}): the stack makes its own; delete it first (`aws ecr delete-repository-creation-template --prefix {}`) or pick another --prefix",
            t.prefix,
            t.managed_by().label(),
            t.prefix
        ));
    }

    if let Some(rule) = observed.rule(&desired.rule.prefix) {
        if rule.managed_by != ours {
            p.blockers.push(format!(
                "a pull-through cache rule for prefix {:?} already exists outside stack {stack_name} (managed by {}, upstream {}): pick another --prefix; or remove it (`echo-onboard teardown --prefix {}` if echo-onboard made it, else `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {} --region {region}`; cached repositories are kept) so the stack can adopt the prefix",
                rule.prefix, rule.managed_by.label(), rule.upstream_url, rule.prefix, rule.prefix
            ));
        }
    }
    if let Some(role) = &observed.role {
        if role.managed_by() != ours {
            p.blockers.push(format!(
                "IAM role {} already exists outside stack {stack_name} (managed by {}): pass --role-name to let the stack create its own role, or delete that role first",
                role.name,
                role.managed_by().label()
            ));
        }
    }
    let status = stack.as_ref().map(|s| s.status.clone()).unwrap_or_default();
    if is_in_progress(&status) {
        p.warnings.push(format!(
            "stack {stack_name} is busy ({status}): apply waits for it to finish"
        ));
    }
    if !p.blockers.is_empty() {
        return Ok(StackPlan {
            plan: p,
            stack,
            request: req,
            kind,
        });
    }
    if status == "ROLLBACK_COMPLETE" {
        p.changes.push(ResourceChange {
            resource: ResourceKind::CloudformationStack,
            name: stack_name.to_string(),
            action: Action::Replace,
            reason: Some("the stack is ROLLBACK_COMPLETE (its creation failed) and cannot be updated: apply deletes it and creates it again".into()),
            fields: vec![],
        });
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
        return Ok(StackPlan {
            plan: p,
            stack,
            request: req,
            kind,
        });
    }

    let create = stack.is_none() || status == "REVIEW_IN_PROGRESS";
    let name = format!(
        "echo-onboard-plan-{}",
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
            return Ok(StackPlan {
                plan: p,
                stack,
                request: req,
                kind,
            });
        }
        Err(e) => return Err(e),
    };
    let info = wait_for_change_set(aws, &id).await;
    // Never leave a change set (or the empty stack a CREATE change set makes) behind.
    let _ = aws.delete_change_set(&id).await;
    if create && stack.is_none() {
        let _ = aws.delete_stack(stack_name).await;
    }
    let info = info?;
    let no_changes = info.status == "FAILED"
        && info
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("didn't contain changes") || r.contains("No updates"));
    if info.status == "FAILED" && !no_changes {
        return Err(AwsError::service(
            "cloudformation:CreateChangeSet",
            "ChangeSetFailed",
            info.reason.as_deref().unwrap_or("the change set failed"),
            &Default::default(),
        ));
    }
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
        reason: None,
        fields: vec![],
    });
    if no_changes {
        p.changes
            .extend(resource_rows(kind, &req.parameters, Action::NoOp));
    } else {
        let shown = shown_parameters(&req);
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
    }
    Ok(StackPlan {
        plan: p,
        stack,
        request: req,
        kind,
    })
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
    let next_step = match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => format!(
            "the stack must be deleted before it can be created again: fix the cause, then run `echo-onboard apply --method cloudformation --stack-name {name}` (it offers to delete the failed stack) or `echo-onboard teardown --stack-name {name}`"
        ),
        "UPDATE_ROLLBACK_COMPLETE" => "the stack rolled back to its previous state: fix the cause and apply again".to_string(),
        _ => format!("look at the stack events: aws cloudformation describe-stack-events --stack-name {name}"),
    };
    StackFailure {
        code: "StackFailed".into(),
        message,
        stack_status: Some(status.to_string()),
        next_step,
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
    if stack
        .as_ref()
        .is_some_and(|s| s.status == "ROLLBACK_COMPLETE" || s.status == "REVIEW_IN_PROGRESS")
    {
        emit(
            tx,
            Event::Warning {
                message: format!(
                    "deleting stack {name} left by a failed creation, so it can be created again"
                ),
            },
        );
        aws.delete_stack(name).await?;
        follow(aws, name, &mut seen, started, total, opts.poll_interval, tx).await?;
        stack = None;
    }
    let before = seen.clone();
    let start = match &stack {
        None => aws.create_stack(&planned.request).await,
        Some(_) => match aws.update_stack(&planned.request).await {
            Err(e) if e.message.contains("No updates are to be performed") => Ok(()),
            other => other,
        },
    };
    start?;
    let end = follow(aws, name, &mut seen, started, total, opts.poll_interval, tx).await?;
    let end = end.ok_or_else(|| StackFailure {
        code: "StackDisappeared".into(),
        message: format!("stack {name} disappeared"),
        stack_status: None,
        next_step: "run `echo-onboard status`".into(),
    })?;
    if !matches!(end.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Err(failure(aws, name, &end.status, &before).await);
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
    aws.delete_stack(name).await?;
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
        return Err(StackFailure {
            code: "ResourcesRemain".into(),
            message: format!(
                "stack {name} is deleted but {} still exist(s)",
                remaining.join(" and ")
            ),
            stack_status: Some("DELETE_COMPLETE".into()),
            next_step: "they were retained or recreated outside the stack: remove them by hand"
                .into(),
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
                    "run the teardown again with --delete-cached-repos --prefix {}",
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
