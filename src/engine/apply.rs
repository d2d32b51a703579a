//! Applies a setup plan with direct API calls: role → (policy ‖ rule) → validation. Every change this run
//! makes is journaled; when a step fails, the journal is undone in reverse and the user is told
//! exactly what, if anything, remains.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::events::{emit, Event, EventSender};
use crate::aws::{Aws, AwsError, ErrorKind, NewRule, Validation};
use crate::core::cache::{scan_filter, CreationTemplate, ScanningConfig};
use crate::core::model::{usage_instructions, CacheRule, Desired, DesiredRole, Observed};
use crate::core::plan::{Action, Plan, ResourceKind};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How often to ask `ValidatePullThroughCacheRule` while IAM propagates a new role.
    pub validate_attempts: u32,
    pub validate_delay: Duration,
    /// How often to poll CloudFormation for stack events.
    pub poll_interval: Duration,
    /// How long to follow one StackSets operation before reporting it as still running.
    pub operation_wait: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            validate_attempts: 6,
            validate_delay: Duration::from_secs(5),
            poll_interval: Duration::from_secs(2),
            operation_wait: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    pub changed: Vec<String>,
    pub validation: Option<ValidationReport>,
    pub usage: Vec<String>,
}

/// What ECR said of the rule once every write was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationState {
    Valid,
    /// ECR answered: the rule cannot pull yet (`failure` says why).
    Invalid,
    /// The check could not run (throttled, 5xx, denied): nothing is known either way.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub is_valid: bool,
    pub state: ValidationState,
    pub failure: Option<String>,
    /// AWS's error code when the check could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// How to check again later; absent when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

impl ValidationReport {
    pub fn valid() -> Self {
        Self {
            is_valid: true,
            state: ValidationState::Valid,
            failure: None,
            error_code: None,
            next_step: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyFailure {
    pub error: AwsError,
    /// Changes of this run that were undone.
    pub rolled_back: Vec<String>,
    /// What is left changed in the account (empty when the rollback was complete).
    pub remaining: Vec<String>,
}

/// How to undo one change.
#[derive(Debug, Clone)]
enum Undo {
    DeleteRole {
        name: String,
        policy: Option<String>,
    },
    DeleteRolePolicy {
        role: String,
        policy: String,
    },
    RestoreRolePolicy {
        role: String,
        policy: String,
        document: Value,
    },
    /// Tag values before this run; `None` for keys the run added.
    RestoreTags {
        role: String,
        previous: Vec<(String, Option<String>)>,
    },
    RestoreTrust {
        role: String,
        document: Value,
    },
    DeleteRule {
        prefix: String,
    },
    RestoreRuleAuth {
        prefix: String,
        role_arn: Option<String>,
        credential_arn: Option<String>,
    },
    /// A secret this run created: deleted without a recovery window (nothing used it).
    DeleteSecret {
        arn: String,
    },
    RestoreSecretVersion {
        arn: String,
        version: String,
        from: String,
    },
    /// A secret this run restored from scheduled deletion.
    ScheduleSecretDeletion {
        arn: String,
    },
    RecreateRule {
        rule: CacheRule,
    },
    DeleteTemplate {
        prefix: String,
    },
    RestoreTemplate {
        template: CreationTemplate,
    },
    RestoreScanning {
        config: ScanningConfig,
    },
    /// A pull-time-update exclusion this run registered, or deregistered.
    DeregisterExclusion {
        arn: String,
    },
    RegisterExclusion {
        arn: String,
    },
}

impl Undo {
    fn label(&self) -> String {
        match self {
            Undo::DeleteRole { name, .. } => format!("created IAM role {name}"),
            Undo::DeleteRolePolicy { role, policy } => {
                format!("added inline policy {policy} on role {role}")
            }
            Undo::RestoreRolePolicy { role, policy, .. } => {
                format!("changed inline policy {policy} on role {role}")
            }
            Undo::RestoreTrust { role, .. } => format!("changed trust policy of role {role}"),
            Undo::RestoreTags { role, .. } => format!("changed tags of role {role}"),
            Undo::DeleteRule { prefix } => format!("created pull-through cache rule {prefix}"),
            Undo::RestoreRuleAuth { prefix, .. } => {
                format!("changed the role or credential of pull-through cache rule {prefix}")
            }
            Undo::DeleteSecret { arn } => format!("created secret {arn}"),
            Undo::RestoreSecretVersion { arn, .. } => format!("changed the value of secret {arn}"),
            Undo::ScheduleSecretDeletion { arn } => format!(
                "restored secret {arn} (its deletion is scheduled again with a {ROLLBACK_RECOVERY_DAYS}-day recovery window)"
            ),
            Undo::RecreateRule { rule } => format!(
                "deleted pull-through cache rule {} (for replacement)",
                rule.prefix
            ),
            Undo::DeleteTemplate { prefix } => {
                format!("created repository creation template {prefix}")
            }
            Undo::RestoreTemplate { template } => {
                format!("changed repository creation template {}", template.prefix)
            }
            Undo::RestoreScanning { .. } => "changed the registry's scanning configuration".into(),
            Undo::DeregisterExclusion { arn } => {
                format!("registered pull-time-update exclusion {arn}")
            }
            Undo::RegisterExclusion { arn } => {
                format!("deregistered pull-time-update exclusion {arn}")
            }
        }
    }

    async fn run(&self, aws: &dyn Aws) -> Result<(), AwsError> {
        match self {
            Undo::DeleteRole { name, policy } => {
                if let Some(p) = policy {
                    ignore_not_found(aws.delete_role_policy(name, p).await)?;
                }
                ignore_not_found(aws.delete_role(name).await)
            }
            Undo::DeleteRolePolicy { role, policy } => {
                ignore_not_found(aws.delete_role_policy(role, policy).await)
            }
            Undo::RestoreRolePolicy {
                role,
                policy,
                document,
            } => aws.put_role_policy(role, policy, document).await,
            Undo::RestoreTrust { role, document } => aws.update_trust_policy(role, document).await,
            Undo::RestoreTags { role, previous } => {
                let retag: Vec<(String, String)> = previous
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                    .collect();
                let added: Vec<String> = previous
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| k.clone())
                    .collect();
                if !retag.is_empty() {
                    aws.tag_role(role, &retag).await?;
                }
                if !added.is_empty() {
                    aws.untag_role(role, &added).await?;
                }
                Ok(())
            }
            Undo::DeleteRule { prefix } => ignore_not_found(aws.delete_cache_rule(prefix).await),
            Undo::RestoreRuleAuth {
                prefix,
                role_arn,
                credential_arn,
            } => {
                aws.update_cache_rule(prefix, role_arn.as_deref(), credential_arn.as_deref())
                    .await
            }
            Undo::RecreateRule { rule } => aws
                .create_cache_rule(&NewRule {
                    prefix: rule.prefix.clone(),
                    upstream_registry: rule.upstream_registry.clone(),
                    upstream_url: rule.upstream_url.clone(),
                    upstream_prefix: rule.upstream_prefix.clone(),
                    role_arn: rule.role_arn.clone(),
                    credential_arn: rule.credential_arn.clone(),
                })
                .await
                .map(|_| ()),
            Undo::DeleteSecret { arn } => ignore_not_found(aws.delete_secret(arn, None).await),
            Undo::RestoreSecretVersion { arn, version, from } => {
                aws.restore_secret_version(arn, version, from).await
            }
            Undo::ScheduleSecretDeletion { arn } => {
                aws.delete_secret(arn, Some(ROLLBACK_RECOVERY_DAYS)).await
            }
            Undo::DeleteTemplate { prefix } => {
                ignore_not_found(aws.delete_creation_template(prefix).await)
            }
            Undo::RestoreTemplate { template } => aws.put_creation_template(template, false).await,
            Undo::RestoreScanning { config } => aws.put_scanning_configuration(config).await,
            Undo::DeregisterExclusion { arn } => {
                ignore_not_found(aws.deregister_pull_time_exclusion(arn).await)
            }
            Undo::RegisterExclusion { arn } => match aws.register_pull_time_exclusion(arn).await {
                Err(e) if e.is(ErrorKind::AlreadyExists) => Ok(()),
                other => other,
            },
        }
    }
}

/// The recovery window when a rollback schedules a restored secret's deletion again (the
/// shortest Secrets Manager allows: the original date is not kept by AWS).
pub const ROLLBACK_RECOVERY_DAYS: u32 = 7;

fn ignore_not_found(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
        other => other,
    }
}

/// One planned API call, with the undo it makes necessary once it succeeded.
struct Step {
    label: String,
    op: Op,
}

enum Op {
    CreateRole,
    PutPolicy {
        previous: Option<Value>,
    },
    UpdateTrust {
        previous: Value,
    },
    TagRole {
        previous: Vec<(String, Option<String>)>,
    },
    CreateRule,
    /// The rule's role (Echo) or credential (other upstreams), in place.
    UpdateRuleAuth {
        previous: CacheRule,
    },
    CreateSecret,
    /// A new value for the tool's secret, restoring it first when it is scheduled for deletion.
    UpdateSecret {
        arn: String,
        restore: bool,
        previous_version: Option<String>,
    },
    DeleteRuleForReplace {
        previous: CacheRule,
    },
    PutTemplate {
        previous: Option<CreationTemplate>,
    },
    /// Read, merge, write: the registry's configuration is read again right before writing so
    /// a filter someone added since the plan is not lost.
    MergeScanFilter,
    RegisterExclusion {
        arn: String,
    },
    DeregisterExclusion {
        arn: String,
    },
    Validate,
}

impl Op {
    /// Cache settings apply to repositories and the registry, not to the rule: changing only
    /// them needs no validation of the rule.
    fn is_cache_setting(&self) -> bool {
        matches!(
            self,
            Op::PutTemplate { .. }
                | Op::MergeScanFilter
                | Op::RegisterExclusion { .. }
                | Op::DeregisterExclusion { .. }
        )
    }
}

fn steps(desired: &Desired, observed: &Observed, plan: &Plan) -> Vec<Step> {
    let mut out = vec![];
    if let Some(role) = &desired.role {
        role_steps(role, plan, &mut out);
    }
    if let (Some(c), Some(secret)) = (plan.change(ResourceKind::CredentialSecret), &desired.secret)
    {
        match (c.action, &observed.secret) {
            (Action::Create, _) => out.push(Step {
                label: format!("create secret {}", secret.name),
                op: Op::CreateSecret,
            }),
            (Action::Update, Some(current)) => out.push(Step {
                label: format!(
                    "{}set the value of secret {}",
                    if current.deleted_at.is_some() {
                        "restore and "
                    } else {
                        ""
                    },
                    secret.name
                ),
                op: Op::UpdateSecret {
                    arn: current.arn.clone(),
                    restore: current.deleted_at.is_some(),
                    previous_version: current.current_version.clone(),
                },
            }),
            _ => {}
        }
    }
    rule_steps(desired, observed, plan, &mut out);
    cache_steps(desired, observed, plan, &mut out);
    if out.iter().any(|s| !s.op.is_cache_setting()) {
        out.push(Step {
            label: format!("validate rule {}", desired.rule.prefix),
            op: Op::Validate,
        });
    }
    out
}

fn role_steps(role: &DesiredRole, plan: &Plan, out: &mut Vec<Step>) {
    let policy_field = format!("inline_policy.{}", role.policy_name);
    if let Some(c) = plan.change(ResourceKind::IamRole) {
        match c.action {
            Action::Create => {
                out.push(Step {
                    label: format!("create IAM role {}", role.name),
                    op: Op::CreateRole,
                });
                out.push(Step {
                    label: format!("attach inline policy {} to {}", role.policy_name, role.name),
                    op: Op::PutPolicy { previous: None },
                });
            }
            Action::Update => {
                for f in &c.fields {
                    match f.field.as_str() {
                        "trust_policy" => out.push(Step {
                            label: format!("update trust policy of {}", role.name),
                            op: Op::UpdateTrust {
                                previous: f.before.clone(),
                            },
                        }),
                        name if name == policy_field => out.push(Step {
                            label: format!(
                                "update inline policy {} of {}",
                                role.policy_name, role.name
                            ),
                            op: Op::PutPolicy {
                                previous: (!f.before.is_null()).then(|| f.before.clone()),
                            },
                        }),
                        "tags" => out.push(Step {
                            label: format!("tag role {}", role.name),
                            op: Op::TagRole {
                                previous: f
                                    .before
                                    .as_object()
                                    .map(|m| {
                                        m.iter()
                                            .map(|(k, v)| {
                                                (k.clone(), v.as_str().map(str::to_string))
                                            })
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                            },
                        }),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn rule_steps(desired: &Desired, observed: &Observed, plan: &Plan, out: &mut Vec<Step>) {
    if let Some(c) = plan.change(ResourceKind::PullThroughCacheRule) {
        let prefix = &desired.rule.prefix;
        match c.action {
            Action::Create => out.push(Step {
                label: format!("create pull-through cache rule {prefix}"),
                op: Op::CreateRule,
            }),
            Action::Update => {
                if let Some(previous) = observed.rule(prefix).cloned() {
                    out.push(Step {
                        label: match &desired.role {
                            Some(role) => format!("point rule {prefix} at role {}", role.name),
                            None => format!("point rule {prefix} at its credential secret"),
                        },
                        op: Op::UpdateRuleAuth { previous },
                    });
                }
            }
            Action::Replace => {
                if let Some(previous) = observed.rule(prefix).cloned() {
                    out.push(Step {
                        label: format!("delete rule {prefix} to replace it"),
                        op: Op::DeleteRuleForReplace { previous },
                    });
                }
                out.push(Step {
                    label: format!("create pull-through cache rule {prefix}"),
                    op: Op::CreateRule,
                });
            }
            _ => {}
        }
    }
}

fn cache_steps(desired: &Desired, observed: &Observed, plan: &Plan, out: &mut Vec<Step>) {
    if let (Some(c), Some(t)) = (
        plan.change(ResourceKind::RepositoryCreationTemplate),
        &desired.template,
    ) {
        let previous = observed.cache.template(&t.prefix).cloned();
        match c.action {
            Action::Create | Action::Update => out.push(Step {
                label: format!(
                    "{} repository creation template {}",
                    if previous.is_some() {
                        "update"
                    } else {
                        "create"
                    },
                    t.prefix
                ),
                op: Op::PutTemplate { previous },
            }),
            _ => {}
        }
    }
    if let Some(c) = plan.change(ResourceKind::RegistryScanningFilter) {
        if c.action == Action::Update {
            out.push(Step {
                label: format!(
                    "add scan-on-push filter {} to the registry's scanning",
                    c.name
                ),
                op: Op::MergeScanFilter,
            });
        }
    }
    for c in plan
        .changes
        .iter()
        .filter(|c| c.resource == ResourceKind::PullTimeExclusion)
    {
        let arn = c.name.clone();
        match c.action {
            Action::Create => out.push(Step {
                label: format!("exclude {arn} from pull-time updates"),
                op: Op::RegisterExclusion { arn },
            }),
            Action::Delete => out.push(Step {
                label: format!("stop excluding {arn} from pull-time updates"),
                op: Op::DeregisterExclusion { arn },
            }),
            _ => {}
        }
    }
}

/// Which steps may run together: each wave starts when the previous one is done. The role
/// must exist before anything refers to it and a replaced rule must be gone before it is made
/// again; the policy, trust, tags and the new rule do not depend on each other; validation
/// needs everything. So a first setup is three round trips of writes, not four.
fn wave(op: &Op, trust_changes: bool) -> u8 {
    match op {
        Op::CreateRole
        | Op::DeleteRuleForReplace { .. }
        | Op::CreateSecret
        | Op::UpdateSecret { .. } => 0,
        Op::PutPolicy { .. } | Op::UpdateTrust { .. } | Op::TagRole { .. } | Op::CreateRule => 1,
        // Pointing a rule at a role whose trust is being fixed waits for the fix.
        Op::UpdateRuleAuth { .. } if trust_changes => 2,
        Op::UpdateRuleAuth { .. } => 1,
        // ECR assumes the template's role: it is set up first.
        Op::PutTemplate { .. }
        | Op::MergeScanFilter
        | Op::RegisterExclusion { .. }
        | Op::DeregisterExclusion { .. } => 2,
        Op::Validate => 3,
    }
}

/// Runs the plan. The caller has checked that the plan has no blockers.
pub async fn apply(
    aws: &dyn Aws,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<ApplyOutcome, ApplyFailure> {
    let steps = steps(desired, observed, plan);
    let total = steps.len();
    let trust_changes = steps.iter().any(|s| matches!(s.op, Op::UpdateTrust { .. }));
    let mut journal: Vec<Undo> = vec![];
    let mut changed = vec![];
    let mut validation = None;
    // The ARN of a secret this run creates, for the rule steps of the next wave.
    let created_secret = std::sync::Mutex::new(None);
    // When the rule this run creates was created, for the template that records it.
    let created_rule = std::sync::Mutex::new(None);
    for wave_no in 0..=3 {
        let this: Vec<(usize, &Step)> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| wave(&s.op, trust_changes) == wave_no)
            .map(|(i, s)| (i + 1, s))
            .collect();
        for (index, step) in &this {
            emit(
                tx,
                Event::StepStarted {
                    index: *index,
                    total,
                    label: step.label.clone(),
                },
            );
        }
        let results = futures::future::join_all(this.iter().map(|(_, step)| {
            run_step(aws, step, desired, &created_secret, &created_rule, opts, tx)
        }))
        .await;
        // Results are journaled in step order, so a rollback undoes in reverse step order.
        let mut failed = None;
        for ((index, step), result) in this.iter().zip(results) {
            match result {
                Ok((undo, v)) => {
                    if !matches!(step.op, Op::Validate) {
                        changed.push(step.label.clone());
                    }
                    if let Some(v) = v {
                        validation = Some(v);
                    }
                    journal_add(&mut journal, undo);
                    emit(
                        tx,
                        Event::StepDone {
                            index: *index,
                            total,
                            label: step.label.clone(),
                        },
                    );
                }
                Err(error) => {
                    emit(
                        tx,
                        Event::StepFailed {
                            index: *index,
                            total,
                            label: step.label.clone(),
                            error: error.to_string(),
                        },
                    );
                    failed.get_or_insert(error);
                }
            }
        }
        if let Some(error) = failed {
            let (rolled_back, remaining) = rollback(aws, journal, tx).await;
            return Err(ApplyFailure {
                error,
                rolled_back,
                remaining,
            });
        }
    }
    Ok(ApplyOutcome {
        changed,
        validation,
        usage: usage_instructions(&desired.account, &desired.region, &desired.rule.prefix),
    })
}

/// A role created by this run takes its inline policy with it on undo.
fn journal_add(journal: &mut Vec<Undo>, undo: Option<Undo>) {
    if let Some(Undo::DeleteRolePolicy { role, policy }) = &undo {
        if let Some(Undo::DeleteRole { policy: slot, .. }) = journal
            .iter_mut()
            .find(|u| matches!(u, Undo::DeleteRole { name, .. } if name == role))
        {
            *slot = Some(policy.clone());
            return;
        }
    }
    journal.extend(undo);
}

/// One step: what undoes it, and the validation result for the validation step.
async fn run_step(
    aws: &dyn Aws,
    step: &Step,
    desired: &Desired,
    created_secret: &std::sync::Mutex<Option<String>>,
    created_rule: &std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> Result<(Option<Undo>, Option<ValidationReport>), AwsError> {
    let credential_arn = || {
        desired
            .rule
            .credential_arn
            .clone()
            .or_else(|| created_secret.lock().expect("secret lock").clone())
    };
    let undo = match &step.op {
        Op::CreateSecret | Op::UpdateSecret { .. } => {
            return secret_step(aws, &step.op, desired, created_secret).await;
        }
        Op::CreateRule => {
            let created =
                create_rule_with_retry(aws, desired, credential_arn(), opts, &step.label, tx)
                    .await?;
            *created_rule.lock().expect("rule lock") = created;
            Some(Undo::DeleteRule {
                prefix: desired.rule.prefix.clone(),
            })
        }
        Op::UpdateRuleAuth { previous } => {
            let credential = credential_arn();
            aws.update_cache_rule(
                &desired.rule.prefix,
                desired.rule.role_arn.as_deref(),
                credential.as_deref(),
            )
            .await?;
            Some(Undo::RestoreRuleAuth {
                prefix: desired.rule.prefix.clone(),
                role_arn: previous.role_arn.clone(),
                credential_arn: previous.credential_arn.clone(),
            })
        }
        Op::CreateRole | Op::PutPolicy { .. } | Op::UpdateTrust { .. } | Op::TagRole { .. } => {
            role_step(aws, &step.op, desired.echo_role()).await?
        }
        Op::DeleteRuleForReplace { previous } => {
            aws.delete_cache_rule(&previous.prefix).await?;
            Some(Undo::RecreateRule {
                rule: previous.clone(),
            })
        }
        Op::PutTemplate { previous } => {
            let mut t = desired
                .template
                .clone()
                .expect("a template step comes from a desired template");
            // A template that records the rule this run created gets that rule's creation
            // time (only known now): the record that proves the rule is the tool's.
            if desired.role.is_none() && t.recorded_rule_created().is_none() {
                let created = *created_rule.lock().expect("rule lock");
                t.record_rule(created);
            }
            aws.put_creation_template(&t, previous.is_none()).await?;
            Some(match previous {
                Some(p) => Undo::RestoreTemplate {
                    template: p.clone(),
                },
                None => Undo::DeleteTemplate {
                    prefix: t.prefix.clone(),
                },
            })
        }
        Op::MergeScanFilter => {
            let scan = desired
                .scan
                .as_ref()
                .expect("a scan step comes from a desired scan");
            let current = aws.scanning_configuration().await?;
            let merged = current.with_filter(&scan_filter(&desired.rule.prefix), scan);
            if merged == current {
                None
            } else {
                aws.put_scanning_configuration(&merged).await?;
                Some(Undo::RestoreScanning { config: current })
            }
        }
        Op::RegisterExclusion { arn } => match aws.register_pull_time_exclusion(arn).await {
            // Someone registered it since the plan: theirs, so nothing to undo.
            Err(e) if e.is(ErrorKind::AlreadyExists) => None,
            Err(e) => return Err(e),
            Ok(()) => Some(Undo::DeregisterExclusion { arn: arn.clone() }),
        },
        Op::DeregisterExclusion { arn } => match aws.deregister_pull_time_exclusion(arn).await {
            Err(e) if e.is(ErrorKind::NotFound) => None,
            Err(e) => return Err(e),
            Ok(()) => Some(Undo::RegisterExclusion { arn: arn.clone() }),
        },
        Op::Validate => {
            let report = validate_after_writes(aws, desired, opts, &step.label, tx).await;
            return Ok((None, Some(report)));
        }
    };
    Ok((undo, None))
}

/// One write to the role.
async fn role_step(aws: &dyn Aws, op: &Op, role: &DesiredRole) -> Result<Option<Undo>, AwsError> {
    let role_tags = || -> Vec<(String, String)> {
        role.tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    Ok(match op {
        Op::CreateRole => {
            aws.create_role(
                &role.name,
                &role.description,
                &role.trust.to_value(),
                &role_tags(),
            )
            .await?;
            Some(Undo::DeleteRole {
                name: role.name.clone(),
                policy: None,
            })
        }
        Op::PutPolicy { previous } => {
            aws.put_role_policy(&role.name, &role.policy_name, &role.policy.to_value())
                .await?;
            Some(match previous {
                Some(doc) => Undo::RestoreRolePolicy {
                    role: role.name.clone(),
                    policy: role.policy_name.clone(),
                    document: doc.clone(),
                },
                None => Undo::DeleteRolePolicy {
                    role: role.name.clone(),
                    policy: role.policy_name.clone(),
                },
            })
        }
        Op::UpdateTrust { previous } => {
            aws.update_trust_policy(&role.name, &role.trust.to_value())
                .await?;
            Some(Undo::RestoreTrust {
                role: role.name.clone(),
                document: previous.clone(),
            })
        }
        Op::TagRole { previous } => {
            aws.tag_role(&role.name, &role_tags()).await?;
            Some(Undo::RestoreTags {
                role: role.name.clone(),
                previous: previous.clone(),
            })
        }
        _ => None,
    })
}

/// Creates the tool's secret (keeping its ARN for the rule), or sets its value, restoring it
/// first when it is scheduled for deletion.
async fn secret_step(
    aws: &dyn Aws,
    op: &Op,
    desired: &Desired,
    created_secret: &std::sync::Mutex<Option<String>>,
) -> Result<(Option<Undo>, Option<ValidationReport>), AwsError> {
    let secret = desired
        .secret
        .as_ref()
        .expect("a secret step comes from a desired secret");
    let undo = match op {
        Op::CreateSecret => {
            let tags: Vec<(String, String)> = secret
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let arn = aws
                .create_secret(&secret.name, &secret.username, &secret.token, &tags)
                .await?;
            *created_secret.lock().expect("secret lock") = Some(arn.clone());
            Undo::DeleteSecret { arn }
        }
        Op::UpdateSecret {
            arn,
            restore,
            previous_version,
        } => {
            if *restore {
                aws.restore_secret(arn).await?;
            }
            let version = aws
                .put_secret_value(arn, &secret.username, &secret.token)
                .await;
            match (version, restore, previous_version) {
                (Err(mut e), true, _) => {
                    // Put back what was there: the restore alone is not what was planned.
                    if let Err(undo) = aws.delete_secret(arn, Some(ROLLBACK_RECOVERY_DAYS)).await {
                        e.message = format!(
                            "{}; secret {arn} stays restored (scheduling its deletion again failed: {})",
                            e.message, undo.message
                        );
                    }
                    return Err(e);
                }
                (Err(e), false, _) => return Err(e),
                (Ok(_), true, _) => Undo::ScheduleSecretDeletion { arn: arn.clone() },
                (Ok(new), false, Some(old)) => Undo::RestoreSecretVersion {
                    arn: arn.clone(),
                    version: old.clone(),
                    from: new,
                },
                (Ok(_), false, None) => return Ok((None, None)),
            }
        }
        _ => return Ok((None, None)),
    };
    Ok((Some(undo), None))
}

/// Creates the rule; a role made seconds ago may not be usable yet (IAM is eventually
/// consistent), so a refusal that names the role is retried a bounded number of times.
async fn create_rule_with_retry(
    aws: &dyn Aws,
    desired: &Desired,
    credential_arn: Option<String>,
    opts: &ApplyOptions,
    label: &str,
    tx: &EventSender,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AwsError> {
    let rule = NewRule {
        prefix: desired.rule.prefix.clone(),
        upstream_registry: desired.rule.upstream_registry.clone(),
        upstream_url: desired.rule.upstream_url.clone(),
        upstream_prefix: desired.rule.upstream_prefix.clone(),
        role_arn: desired.rule.role_arn.clone(),
        credential_arn,
    };
    let attempts = opts.validate_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match aws.create_cache_rule(&rule).await {
            Err(e)
                if attempt < attempts
                    && e.is(crate::aws::ErrorKind::Invalid)
                    && e.message.to_ascii_lowercase().contains("role") =>
            {
                emit(
                    tx,
                    Event::Retrying {
                        label: label.to_string(),
                        attempt,
                        of: attempts,
                        reason: format!(
                            "{} (IAM changes can take a few seconds to propagate)",
                            e.message
                        ),
                    },
                );
                tokio::time::sleep(opts.validate_delay).await;
            }
            other => return other,
        }
    }
}

/// Validation after every write succeeded. It never fails the apply: a check that could not
/// run, or a rule ECR cannot use yet, is no reason to undo a setup whose writes all worked —
/// the report says what is unknown or wrong and how to check again.
pub(crate) async fn validate_after_writes(
    aws: &dyn Aws,
    desired: &Desired,
    opts: &ApplyOptions,
    label: &str,
    tx: &EventSender,
) -> ValidationReport {
    let prefix = &desired.rule.prefix;
    let later = format!("check it later with ⟦cmd diagnose prefix={prefix}⟧");
    match validate_with_retry(aws, prefix, opts, label, tx).await {
        Ok(v) if v.is_valid => ValidationReport::valid(),
        Ok(v) => {
            let why = v
                .failure
                .clone()
                .unwrap_or_else(|| "no reason given".into());
            let next_step = if desired.role.is_some() && desired.rule.upstream_registry == "ecr" {
                format!("if pulls fail, ask Echo to grant account {} access to its registry, then {later}", desired.account)
            } else {
                format!("check the upstream's credentials, then {later}")
            };
            emit(
                tx,
                Event::Warning {
                    message: format!(
                        "ECR says rule {prefix} is not valid yet: {why}. The setup is kept (every change succeeded); {next_step}"
                    ),
                },
            );
            ValidationReport {
                is_valid: false,
                state: ValidationState::Invalid,
                failure: Some(why),
                error_code: None,
                next_step: Some(next_step),
            }
        }
        Err(e) => {
            let next_step = format!(
                "{later} (it needs ecr:ValidatePullThroughCacheRule; a pull through the rule, ⟦cmd verify prefix={prefix}⟧, proves it too)"
            );
            emit(
                tx,
                Event::Warning {
                    message: format!(
                        "ECR could not check rule {prefix}: {e}. Whether it can pull is unknown; the setup is kept (every change succeeded); {next_step}"
                    ),
                },
            );
            ValidationReport {
                is_valid: false,
                state: ValidationState::Unknown,
                failure: Some(e.message.clone()),
                error_code: Some(e.code.clone()),
                next_step: Some(next_step),
            }
        }
    }
}

pub(crate) async fn validate_with_retry(
    aws: &dyn Aws,
    prefix: &str,
    opts: &ApplyOptions,
    label: &str,
    tx: &EventSender,
) -> Result<Validation, AwsError> {
    let attempts = opts.validate_attempts.max(1);
    let mut last = None;
    for attempt in 1..=attempts {
        let v = aws.validate_cache_rule(prefix).await?;
        if v.is_valid {
            return Ok(v);
        }
        if attempt < attempts {
            emit(
                tx,
                Event::Retrying {
                    label: label.to_string(),
                    attempt,
                    of: attempts,
                    reason: format!(
                        "not valid yet ({}); IAM changes can take a few seconds to propagate",
                        v.failure.as_deref().unwrap_or("no reason")
                    ),
                },
            );
            tokio::time::sleep(opts.validate_delay).await;
        }
        last = Some(v);
    }
    Ok(last.expect("at least one attempt"))
}

async fn rollback(
    aws: &dyn Aws,
    journal: Vec<Undo>,
    tx: &EventSender,
) -> (Vec<String>, Vec<String>) {
    let mut rolled_back = vec![];
    let mut remaining = vec![];
    if journal.is_empty() {
        return (rolled_back, remaining);
    }
    emit(
        tx,
        Event::RollbackStarted {
            steps: journal.len(),
        },
    );
    for undo in journal.into_iter().rev() {
        let label = undo.label();
        match undo.run(aws).await {
            Ok(()) => {
                emit(
                    tx,
                    Event::RolledBack {
                        label: label.clone(),
                    },
                );
                rolled_back.push(label);
            }
            Err(e) => {
                emit(
                    tx,
                    Event::RollbackFailed {
                        label: label.clone(),
                        error: e.to_string(),
                    },
                );
                remaining.push(label);
            }
        }
    }
    (rolled_back, remaining)
}
