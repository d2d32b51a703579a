//! The CloudFormation method: the same inputs, resulting role and rule, plan format and
//! progress events as the API method, made through a stack built from assets/template.yaml.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::apply::{validate_with_retry, ApplyOptions, ValidationReport};
use super::events::{emit, Event, EventSender};
use crate::aws::{Aws, AwsError, StackChange, StackInfo, StackRequest};
use crate::cfn::{self, resolve::Context};
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
        _ => ResourceKind::CloudformationStack,
    }
}

pub struct StackPlan {
    pub plan: Plan,
    pub stack: Option<StackInfo>,
    pub request: StackRequest,
}

pub fn request(setup: &Setup, stack_name: &str) -> StackRequest {
    StackRequest {
        name: stack_name.to_string(),
        template_body: cfn::TEMPLATE_YAML.to_string(),
        parameters: cfn::parameters(setup),
        tags: vec![(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into())],
    }
}

/// Resolved properties of a template resource for given parameters.
fn properties(
    logical_id: &str,
    params: &[(String, String)],
    account: &str,
    region: &str,
    stack: &str,
) -> Value {
    let t = cfn::template();
    let ctx = Context::new(t, params, account, region, stack);
    ctx.resolve(&t["Resources"][logical_id]["Properties"])
        .unwrap_or(Value::Null)
}

fn change_row(
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
    let after = properties(&c.logical_id, after_params, account, region, stack);
    let before = before_params
        .map(|p| properties(&c.logical_id, p, account, region, stack))
        .unwrap_or(Value::Null);
    let fields = if c.details.is_empty() {
        after
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| FieldChange {
                        field: k.clone(),
                        before: Value::Null,
                        after: v.clone(),
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
                // Same text on both sides means the value comes from another resource.
                let a = if a == b {
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
    let req = request(setup, stack_name);
    let (account, region) = (desired.account.as_str(), desired.region.as_str());
    let mut p = Plan {
        account: account.to_string(),
        region: region.to_string(),
        changes: vec![],
        warnings: vec![],
        blockers: vec![],
    };
    let ours = ManagedBy::CloudFormation(stack_name.to_string());

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
        for (logical, rtype) in [
            (cfn::ROLE_LOGICAL_ID, "AWS::IAM::Role"),
            (cfn::RULE_LOGICAL_ID, "AWS::ECR::PullThroughCacheRule"),
        ] {
            let c = StackChange {
                action: "Add".into(),
                logical_id: logical.into(),
                physical_id: None,
                resource_type: rtype.into(),
                replacement: None,
                details: vec![],
            };
            p.changes.push(change_row(
                &c,
                None,
                &req.parameters,
                account,
                region,
                stack_name,
            ));
        }
        return Ok(StackPlan {
            plan: p,
            stack,
            request: req,
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
            for (logical, kind) in [
                (cfn::ROLE_LOGICAL_ID, ResourceKind::IamRole),
                (cfn::RULE_LOGICAL_ID, ResourceKind::PullThroughCacheRule),
            ] {
                p.changes.push(ResourceChange {
                    resource: kind,
                    name: logical.to_string(),
                    action: Action::NoOp,
                    reason: None,
                    fields: vec![],
                });
            }
            return Ok(StackPlan {
                plan: p,
                stack,
                request: req,
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
    let before_params: Option<Vec<(String, String)>> = stack
        .as_ref()
        .map(|s| s.parameters.clone().into_iter().collect());
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
        for (logical, kind) in [
            (cfn::ROLE_LOGICAL_ID, ResourceKind::IamRole),
            (cfn::RULE_LOGICAL_ID, ResourceKind::PullThroughCacheRule),
        ] {
            p.changes.push(ResourceChange {
                resource: kind,
                name: logical.to_string(),
                action: Action::NoOp,
                reason: None,
                fields: vec![],
            });
        }
    } else {
        for c in &info.changes {
            p.changes.push(change_row(
                c,
                before_params.as_deref(),
                &req.parameters,
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
    // The role and the rule, and the creation template when the setup has cache settings.
    let total = if desired.template.is_some() { 3 } else { 2 };
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
    let v = validate_with_retry(aws, &desired.rule.prefix, opts, &label, tx).await?;
    if !v.is_valid {
        emit(
            tx,
            Event::Warning {
                message: format!(
                    "ECR could not validate rule {} yet: {}",
                    desired.rule.prefix,
                    v.failure.as_deref().unwrap_or("no reason given")
                ),
            },
        );
    }
    Ok(StackOutcome {
        status: end.status,
        outputs: end.outputs,
        validation: Some(ValidationReport {
            is_valid: v.is_valid,
            failure: v.failure,
        }),
        usage: usage_instructions(&desired.account, &desired.region, &desired.rule.prefix),
    })
}

/// The teardown plan rows for a stack: the stack and the resources it holds.
pub fn teardown_rows(stack: &StackInfo, region: &str) -> Vec<ResourceChange> {
    let p = |k: &str| stack.parameters.get(k).cloned().unwrap_or_default();
    vec![
        ResourceChange {
            resource: ResourceKind::CloudformationStack,
            name: stack.name.clone(),
            action: Action::Delete,
            reason: Some(format!("status {}", stack.status)),
            fields: vec![],
        },
        ResourceChange {
            resource: ResourceKind::PullThroughCacheRule,
            name: p("RepositoryNamePrefix"),
            action: Action::Delete,
            reason: Some("stack resource".into()),
            fields: vec![],
        },
        ResourceChange {
            resource: ResourceKind::IamRole,
            name: cfn::stack_role_name(&p("RoleName"), region),
            action: Action::Delete,
            reason: Some("stack resource".into()),
            fields: vec![],
        },
    ]
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
    let end = follow(
        aws,
        &stack.id,
        &mut seen,
        started,
        2,
        opts.poll_interval,
        tx,
    )
    .await?;
    if let Some(s) = end {
        if s.status != "DELETE_COMPLETE" {
            return Err(failure(aws, name, &s.status, &before).await);
        }
    }
    let prefix = stack
        .parameters
        .get("RepositoryNamePrefix")
        .cloned()
        .unwrap_or_default();
    let role = cfn::stack_role_name(
        stack
            .parameters
            .get("RoleName")
            .map(String::as_str)
            .unwrap_or_default(),
        &aws.region(),
    );
    let (rules, role_left) = futures::join!(aws.list_cache_rules(), aws.get_role(&role));
    let mut remaining = vec![];
    if rules?.iter().any(|r| r.prefix == prefix) {
        remaining.push(format!("pull-through-cache-rule {prefix}"));
    }
    if role_left?.is_some() {
        remaining.push(format!("iam-role {role}"));
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
    Ok(vec![
        format!("cloudformation-stack {name}"),
        format!("pull-through-cache-rule {prefix}"),
        format!("iam-role {role}"),
    ])
}

/// Deletes the stack (confirming its rule and role are gone), then the cached repositories
/// listed in `plan` (its `ecr-repository` rows; they are not stack resources).
pub async fn delete_with_repositories(
    aws: &dyn Aws,
    stack: &StackInfo,
    plan: &Plan,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<Vec<String>, StackFailure> {
    let mut deleted = delete(aws, stack, opts, tx).await?;
    let repos = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| c.resource == ResourceKind::EcrRepository)
            .cloned()
            .collect(),
        ..plan.clone()
    };
    match super::teardown::teardown(aws, &repos, None, None, tx).await {
        Ok(out) => {
            deleted.extend(out.deleted);
            Ok(deleted)
        }
        Err(f) => Err(StackFailure {
            code: "CachedRepositoriesRemain".into(),
            message: format!(
                "stack {} is deleted, but cached repositories remain ({}): {}",
                stack.name,
                f.remaining.join(", "),
                f.error
            ),
            stack_status: None,
            next_step: format!(
                "run the teardown again with --delete-cached-repos --prefix {}",
                stack
                    .parameters
                    .get("RepositoryNamePrefix")
                    .cloned()
                    .unwrap_or_default()
            ),
        }),
    }
}
