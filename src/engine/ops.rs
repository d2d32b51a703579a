//! The operations layer: one function per user operation, each taking a typed request and
//! returning a typed result. The CLI and the TUI only turn input into requests and results into
//! output; everything an operation decides (ownership, other regions, rollback, what remains)
//! is decided here, once, for both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;

use super::apply::{self, ApplyOptions, ValidationReport};
use super::diagnose::{self, DiagnoseInput, Report};
use super::events::EventSender;
use super::observe::{self, Scope};
use super::planning::{self, Method, Planned};
use super::{bundle, stack, teardown as exec_teardown};
use crate::aws::{Aws, AwsError, ErrorKind};
use crate::core::model::{usage_instructions, ManagedBy, Observed, ObservedRole, StackInfo};
use crate::core::ownership::{self, RepoFate};
use crate::core::plan::{self, Action, Plan, RegionalRule, ResourceKind, RoleUse};
use crate::core::validate::{FieldError, RepoPrefix, RoleName, SetupInput, DEFAULT_ROLE_NAME};
use crate::core::verify::{cached_repository, explain, ImageRef, Pull, PullFailure, Reference};

/// Why an operation failed: one line with the next step, and the AWS error code kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
    pub next_step: String,
    #[serde(skip)]
    pub kind: Option<ErrorKind>,
    /// Invalid fields (code `InvalidInput`: nothing was sent to AWS).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>, next_step: impl Into<String>) -> Self {
        Problem {
            code: code.to_string(),
            message: message.into(),
            next_step: next_step.into(),
            kind: None,
            fields: vec![],
        }
    }
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        Problem {
            code: INVALID_INPUT.into(),
            message: fields
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            next_step: "correct the value named above; nothing was sent to AWS".into(),
            kind: Some(ErrorKind::Invalid),
            fields,
        }
    }
    /// Bad input caught before anything was sent to AWS.
    pub fn is_invalid_input(&self) -> bool {
        self.code == INVALID_INPUT
    }
    /// `message — next step [CODE]`, one line.
    pub fn line(&self) -> String {
        if self.is_invalid_input() {
            return self.message.clone();
        }
        format!(
            "{} — {} [{}]",
            self.message.trim().trim_end_matches('.'),
            self.next_step,
            self.code
        )
    }
}

pub const INVALID_INPUT: &str = "InvalidInput";

impl From<AwsError> for Problem {
    fn from(e: AwsError) -> Self {
        Problem {
            code: e.code.clone(),
            message: format!("{} failed: {}", e.action, e.message),
            next_step: e.fix.clone(),
            kind: Some(e.kind),
            fields: vec![],
        }
    }
}

impl From<FieldError> for Problem {
    fn from(e: FieldError) -> Self {
        Problem::invalid(vec![e])
    }
}

/// A failed operation: why, the plan it was following, what it changed, what it undid and
/// what is still left in the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub error: Problem,
    pub plan: Option<Plan>,
    pub changed: Vec<String>,
    pub rolled_back: Vec<String>,
    pub remaining: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
}

impl Failure {
    pub fn of(error: impl Into<Problem>) -> Box<Self> {
        Box::new(Failure {
            error: error.into(),
            plan: None,
            changed: vec![],
            rolled_back: vec![],
            remaining: vec![],
            stack_status: None,
        })
    }
    fn with_plan(mut self: Box<Self>, plan: &Plan) -> Box<Self> {
        self.plan = Some(plan.clone());
        self
    }
}

impl From<Problem> for Box<Failure> {
    fn from(p: Problem) -> Self {
        Failure::of(p)
    }
}

impl From<AwsError> for Box<Failure> {
    fn from(e: AwsError) -> Self {
        Failure::of(e)
    }
}

pub type OpResult<T> = Result<T, Box<Failure>>;

// ---------------------------------------------------------------------------------------------
// plan

#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    pub input: SetupInput,
    pub method: Method,
    /// `None`: Echo's published stack name for Echo's rule, one per prefix for other
    /// upstreams (`cfn::default_stack_name`).
    pub stack_name: Option<String>,
    pub adopt: bool,
}

/// Validates the input (nothing is sent when it is invalid), reads the account and plans.
pub async fn plan(aws: &dyn Aws, req: &PlanRequest) -> OpResult<Arc<Planned>> {
    let setup = req
        .input
        .validate()
        .map_err(|e| Failure::of(Problem::invalid(e)))?;
    if req.method == Method::CloudFormation
        && setup.is_echo()
        && setup.role_name.as_str().len() > crate::cfn::MAX_STACK_ROLE_BASE
    {
        return Err(Failure::of(Problem::invalid(vec![FieldError {
            field: "role-name",
            value: setup.role_name.to_string(),
            rule: format!(
                "must be at most {} characters with the CloudFormation ⟦method⟧ (the stack appends -<region> to stay unique across regions)",
                crate::cfn::MAX_STACK_ROLE_BASE
            ),
            example: DEFAULT_ROLE_NAME.into(),
        }])));
    }
    if req.method == Method::CloudFormation {
        // The stack makes the creation template; scanning merges into a registry-wide
        // configuration and repository tags cannot be stack parameters: API only.
        let c = &setup.cache;
        let api_only: Vec<(&'static str, String, &str)> = [
            (c.scan.is_some(), "scan-on-push", "true".to_string(), "scanning is merged into the registry's whole configuration, which AWS::ECR::RegistryScanningConfiguration would replace"),
            (!c.mutable_tags.is_empty(), "mutable-tags", c.mutable_tags.join(","), "the stack template's ImageTagMutability takes MUTABLE or IMMUTABLE only"),
            (setup.broad_policy, "broad-policy", "true".to_string(), "the stack's template keeps the least-privilege statements"),
            (!c.pull_time_exclusions.is_empty(), "pull-time-exclusion", c.pull_time_exclusions.join(","), "CloudFormation has no resource for pull-time-update exclusions"),
            (!c.repo_tags.is_empty(), "repo-tag", c.repo_tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","), "Echo's template sets only the managed-by tag on created repositories"),
        ]
        .into_iter()
        .filter(|(on, ..)| *on)
        .map(|(_, f, v, why)| (f, v, why))
        .collect();
        if !api_only.is_empty() {
            return Err(Failure::of(Problem::invalid(
                api_only
                    .into_iter()
                    .map(|(field, value, why)| FieldError {
                        field,
                        value,
                        rule: format!("is applied by the API method only ({why})"),
                        example: "api".into(),
                    })
                    .collect(),
            )));
        }
    }
    let method = req.method;
    let stack_name = req
        .stack_name
        .clone()
        .unwrap_or_else(|| crate::cfn::default_stack_name(&setup));
    let planning = planning::plan_setup(aws, setup, method, &stack_name, req.adopt);
    // IAM is global: a role this tool already has may serve rules in other regions. The other
    // regions are read alongside the plan's own reads (not after them), and dropped unread
    // when the role turns out to be new or not ours.
    let needs_elsewhere = |p: &Planned| {
        p.stack.is_none()
            && p.observed
                .role
                .as_ref()
                .is_some_and(|r| r.managed_by().is_ours())
    };
    let (planned, elsewhere) = alongside(planning, rules_elsewhere(aws), needs_elsewhere).await;
    let mut planned = planned?;
    if let (Some(elsewhere), Some(role)) = (elsewhere, planned.observed.role.as_ref()) {
        let used = elsewhere.using(&role.arn);
        plan::plan_shared_role(&mut planned.plan, &planned.desired, &used);
    }
    Ok(Arc::new(planned))
}

/// Runs `main` and `extra` together; once `main` is done, waits for `extra` only if `wanted`
/// says its result is needed, else drops it unfinished. Reads that may be needed cost no
/// round trip of their own this way.
async fn alongside<T, E, X>(
    main: impl std::future::Future<Output = Result<T, E>>,
    extra: impl std::future::Future<Output = X>,
    wanted: impl FnOnce(&T) -> bool,
) -> (Result<T, E>, Option<X>) {
    use futures::future::{select, Either};
    let (main, extra) = (std::pin::pin!(main), std::pin::pin!(extra));
    match select(main, extra).await {
        Either::Left((Ok(t), extra)) => {
            let x = if wanted(&t) { Some(extra.await) } else { None };
            (Ok(t), x)
        }
        Either::Left((Err(e), _)) => (Err(e), None),
        Either::Right((x, main)) => {
            let t = main.await;
            let keep = t.as_ref().is_ok_and(wanted);
            (t, keep.then_some(x))
        }
    }
}

/// The rules of every other enabled region, or why a region could not be read.
#[derive(Debug, Clone, Default)]
pub struct RulesElsewhere {
    pub rules: Vec<RegionalRule>,
    pub unreadable: Vec<String>,
}

impl RulesElsewhere {
    /// The rules that use this role.
    pub fn using(&self, role_arn: &str) -> RoleUse {
        RoleUse {
            rules: self
                .rules
                .iter()
                .filter(|r| r.rule.role_arn.as_deref() == Some(role_arn))
                .cloned()
                .collect(),
            unreadable: self.unreadable.clone(),
        }
    }
}

/// The regions to read for an account-wide view: those enabled for the account, or without
/// `account:ListRegions` the ones every account has (still worth reading).
pub async fn account_regions(aws: &dyn Aws) -> Vec<String> {
    match aws.enabled_regions().await {
        Ok(r) => r,
        Err(_) => crate::core::regions::enabled_by_default(&aws.region()),
    }
}

/// Every other enabled region's rules, read in parallel.
pub async fn rules_elsewhere(aws: &dyn Aws) -> RulesElsewhere {
    let here = aws.region();
    let regions = account_regions(aws).await;
    let others: Vec<String> = regions.into_iter().filter(|r| *r != here).collect();
    let reads = others.iter().map(|r| {
        let view = aws.in_region(r);
        async move { view.list_cache_rules().await }
    });
    let results = join_all(reads).await;
    let mut out = RulesElsewhere::default();
    for (region, result) in others.into_iter().zip(results) {
        match result {
            Ok(rules) => out.rules.extend(rules.into_iter().map(|rule| RegionalRule {
                region: region.clone(),
                rule,
            })),
            // A region the account has not enabled holds no rules.
            Err(e) if e.is(ErrorKind::NoCredentials) => {}
            Err(e) => out
                .unreadable
                .push(format!("{region}: {} [{}]", e.message, e.code)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// apply

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Applied,
    NoOp,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackResult {
    pub name: String,
    pub status: String,
    pub outputs: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub result: Outcome,
    pub method: &'static str,
    pub account: String,
    pub region: String,
    pub plan: Plan,
    pub changed: Vec<String>,
    pub validation: Option<ValidationReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackResult>,
    pub usage: Vec<String>,
}

fn method_label(m: Method) -> &'static str {
    match m {
        Method::Api => "api",
        Method::CloudFormation => "cloudformation",
    }
}

/// Applies a plan. Blockers stop it before anything changes; a failure rolls back what this
/// run changed (API method) or reports the stack's failure, and says what remains.
pub async fn apply(
    aws: &dyn Aws,
    planned: &Planned,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<Applied> {
    let p = planned;
    let method = if p.stack.is_some() {
        Method::CloudFormation
    } else {
        Method::Api
    };
    if !p.plan.blockers.is_empty() {
        return Err(Failure::of(Problem::new(
            "Blocked",
            format!("nothing was changed: {}", p.plan.blockers.join("; ")),
            "decide as the plan says, then run apply again",
        ))
        .with_plan(&p.plan));
    }
    let base = Applied {
        result: Outcome::NoOp,
        method: method_label(method),
        account: p.desired.account.clone(),
        region: p.desired.region.clone(),
        plan: p.plan.clone(),
        changed: vec![],
        validation: None,
        stack: None,
        usage: usage_instructions(
            &p.desired.account,
            &p.desired.region,
            &p.desired.rule.prefix,
        ),
    };
    if !p.plan.has_changes() {
        return Ok(base);
    }
    match &p.stack {
        Some(sp) => match stack::apply(aws, sp, &p.desired, opts, tx).await {
            Ok(out) => Ok(Applied {
                result: Outcome::Applied,
                changed: p
                    .plan
                    .changes
                    .iter()
                    .filter(|c| {
                        c.action != Action::NoOp && c.resource != ResourceKind::CloudformationStack
                    })
                    .map(|c| format!("{} {}", c.resource.label(), c.name))
                    .collect(),
                validation: out.validation,
                stack: Some(StackResult {
                    name: sp.request.name.clone(),
                    status: out.status,
                    outputs: out.outputs,
                }),
                ..base
            }),
            Err(f) => Err(Box::new(Failure {
                // A stack that changed since the plan is planned again: the failure carries
                // the new plan to review (its change set is not kept: nothing runs now).
                plan: Some(if f.code == "StackChanged" {
                    replan(aws, p, &sp.request.name).await
                } else {
                    p.plan.clone()
                }),
                error: Problem {
                    code: f.code.clone(),
                    message: f.message,
                    next_step: f.next_step,
                    kind: None,
                    fields: vec![],
                },
                changed: vec![],
                rolled_back: vec![],
                remaining: f
                    .stack_status
                    .as_ref()
                    .map(|s| vec![format!("cloudformation-stack {} ({s})", sp.request.name)])
                    .unwrap_or_default(),
                stack_status: f.stack_status,
            })),
        },
        None => match apply::apply(aws, &p.desired, &p.observed, &p.plan, opts, tx).await {
            Ok(out) => Ok(Applied {
                result: Outcome::Applied,
                changed: out.changed,
                validation: out.validation,
                usage: out.usage,
                ..base
            }),
            Err(f) => {
                let mut changed = f.rolled_back.clone();
                changed.extend(f.remaining.iter().cloned());
                let mut error = Problem::from(f.error);
                if !f.remaining.is_empty() {
                    error.next_step = format!(
                        "{}; then ⟦run apply⟧ again (it converges from what is left) or ⟦cmd teardown prefix={}⟧",
                        error.next_step, p.desired.rule.prefix
                    );
                }
                Err(Box::new(Failure {
                    error,
                    plan: Some(p.plan.clone()),
                    changed,
                    rolled_back: f.rolled_back,
                    remaining: f.remaining,
                    stack_status: None,
                }))
            }
        },
    }
}

/// The plan again, for a stack that changed since `p` (the old plan when it cannot be made).
async fn replan(aws: &dyn Aws, p: &Planned, stack_name: &str) -> Plan {
    match super::planning::plan_setup(
        aws,
        p.setup.clone(),
        Method::CloudFormation,
        stack_name,
        false,
    )
    .await
    {
        Ok(again) => {
            discard(aws, &again).await;
            again.plan
        }
        Err(_) => p.plan.clone(),
    }
}

/// Removes what a plan made in AWS to be reviewed (a CloudFormation change set, and the empty
/// stack of a CREATE change set) when it is not going to be applied.
pub async fn discard(aws: &dyn Aws, p: &Planned) {
    if let Some(sp) = &p.stack {
        stack::discard(aws, sp).await;
    }
}

/// Deletes a stack whose creation failed (`ROLLBACK_COMPLETE`), so it can be created again.
pub async fn recover_stack(
    aws: &dyn Aws,
    name: &str,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<Vec<String>> {
    let Some(info) = aws.describe_stack(name).await? else {
        return Ok(vec![]);
    };
    stack::delete(aws, &info, opts, tx)
        .await
        .map_err(|f| Failure::of(Problem::new(&f.code, f.message, f.next_step)))
}

// ---------------------------------------------------------------------------------------------
// teardown

#[derive(Debug, Clone, PartialEq)]
pub struct TeardownRequest {
    pub prefix: String,
    /// The role to remove when no rule names one (default: the tool's role name).
    pub role_name: Option<String>,
    /// The stack to look for when no rule tells which stack made it.
    pub stack_name: Option<String>,
    pub delete_repos: bool,
    /// Also tear down what was handed over to infrastructure code (`managed-by` terraform,
    /// pulumi or cloudformation), as if this tool had made it.
    pub force: bool,
    /// Take over a rule someone else made: delete it (a stack's rule: delete that stack).
    pub adopt: bool,
    /// Days Secrets Manager keeps the tool's credential secret after teardown (7-30).
    pub recovery_days: u32,
}

/// What Secrets Manager does when no window is given; the safest for a secret deleted by a
/// teardown (a later apply restores it).
pub const DEFAULT_RECOVERY_DAYS: u32 = 30;

impl TeardownRequest {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            role_name: None,
            stack_name: None,
            delete_repos: false,
            force: false,
            adopt: false,
            recovery_days: DEFAULT_RECOVERY_DAYS,
        }
    }
}

/// Marks the rule for `prefix` and its role as this tool's again (a forced teardown of what
/// was handed over to infrastructure code).
fn take_back(observed: &mut Observed, prefix: &str) {
    let role_arn = observed.rule(prefix).and_then(|r| r.role_arn.clone());
    for r in observed.rules.iter_mut().filter(|r| r.prefix == prefix) {
        r.managed_by = ManagedBy::EchoOnboard;
    }
    for role in observed
        .roles
        .iter_mut()
        .chain(observed.role.iter_mut())
        .filter(|r| Some(&r.arn) == role_arn.as_ref())
    {
        role.tags.insert(
            crate::core::validate::MANAGED_BY_KEY.into(),
            crate::core::validate::MANAGED_BY_VALUE.into(),
        );
    }
}

/// Who made what a teardown would remove, as read from AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    /// This tool's API method: the rule and the role tagged `managed-by=echo-onboard`.
    Tool { role: Option<ObservedRole> },
    /// A CloudFormation stack: teardown deletes the stack.
    Stack(StackInfo),
    /// Nothing with this prefix exists.
    Nothing,
}

/// Why a teardown leaves a rule handed over to infrastructure code alone, and the way out.
pub fn handed_over(prefix: &str, region: &str, tool: &str) -> Problem {
    Problem::new(
        "ManagedByIaC",
        format!("rule {prefix} in {region} was handed over to {tool} (its role is tagged managed-by={tool}), so teardown leaves it to {tool}"),
        format!("remove it with {tool} (e.g. `terraform destroy`), or ⟦pass force⟧ to delete it with echo-onboard anyway"),
    )
}

/// A teardown plan with everything needed to carry it out.
#[derive(Debug, Clone)]
pub struct TeardownPlanned {
    pub prefix: String,
    pub owner: Owner,
    pub observed: Observed,
    pub elsewhere: RoleUse,
    pub delete_repos: bool,
    pub recovery_days: u32,
    pub plan: Plan,
}

impl TeardownPlanned {
    pub fn stack_name(&self) -> Option<&str> {
        match &self.owner {
            Owner::Stack(s) => Some(&s.name),
            _ => None,
        }
    }
}

fn teardown_plan_of(
    observed: &Observed,
    prefix: &str,
    owner: &Owner,
    repos: Option<&[(String, RepoFate)]>,
    recovery_days: u32,
    elsewhere: &RoleUse,
) -> Plan {
    match owner {
        Owner::Stack(info) => {
            let repos = plan::plan_teardown(observed, prefix, None, repos, elsewhere);
            let mut changes = stack::teardown_rows(info, &observed.region);
            changes.extend(
                repos
                    .changes
                    .into_iter()
                    .filter(|c| c.resource == ResourceKind::EcrRepository),
            );
            Plan {
                account: observed.identity.account.clone(),
                region: observed.region.clone(),
                changes,
                warnings: repos.warnings,
                blockers: vec![],
            }
        }
        Owner::Tool { role } => with_secret(
            plan::plan_teardown(observed, prefix, role.as_ref(), repos, elsewhere),
            observed,
            prefix,
            recovery_days,
        ),
        Owner::Nothing => with_secret(
            plan::plan_teardown(observed, prefix, None, repos, elsewhere),
            observed,
            prefix,
            recovery_days,
        ),
    }
}

/// The credential secret's row goes right after the rule's (the rule uses it).
fn with_secret(mut p: Plan, observed: &Observed, prefix: &str, recovery_days: u32) -> Plan {
    if let Some(row) = plan::plan_secret_teardown(observed, prefix, recovery_days) {
        let at = p
            .changes
            .iter()
            .position(|c| c.resource == ResourceKind::PullThroughCacheRule)
            .map_or(0, |i| i + 1);
        p.changes.insert(at, row);
    }
    p
}

/// Reads who made the rule for the prefix and plans its removal. A rule this tool did not
/// make is a failure that says how to remove it, never a silent "nothing to delete".
pub async fn plan_teardown(aws: &dyn Aws, req: &TeardownRequest) -> OpResult<TeardownPlanned> {
    let prefix = RepoPrefix::parse("prefix", &req.prefix).map_err(Problem::from)?;
    let role_name = req
        .role_name
        .as_deref()
        .map(|r| RoleName::parse("role-name", r))
        .transpose()
        .map_err(Problem::from)?
        .map(|r| r.to_string());
    if !(7..=30).contains(&req.recovery_days) {
        return Err(Failure::of(Problem::invalid(vec![FieldError {
            field: "recovery-window",
            value: req.recovery_days.to_string(),
            rule: "must be 7 to 30 days (what Secrets Manager allows)".into(),
            example: DEFAULT_RECOVERY_DAYS.to_string(),
        }])));
    }
    let prefix = prefix.to_string();
    let scope = Scope {
        // The tool's credential secret for this prefix, if any (its tags say whose it is).
        secret: Some(observe::SecretRead {
            id: crate::core::upstream::secret_name(&prefix),
            expect: None,
            value: false,
        }),
        role_name: Some(
            role_name
                .clone()
                .unwrap_or_else(|| DEFAULT_ROLE_NAME.to_string()),
        ),
        // Listing every repository is needed only to delete them.
        prefix: req.delete_repos.then(|| prefix.clone()),
        cache: observe::CacheReads::BestEffort,
        pull_time_exclusions: true,
        stacks_for: Some(prefix.clone()),
        ..Default::default()
    };
    // Who owns the rule, read alongside the other regions' rules (needed only when the role
    // is this tool's, to keep it while another region uses it).
    let read_owner = async {
        let mut observed = observe::observe(aws, &aws.region(), &scope).await?;
        if let Some(tool) = observed.rule(&prefix).and_then(|r| match &r.managed_by {
            ManagedBy::Iac(tool) => Some(tool.clone()),
            _ => None,
        }) {
            if !req.force {
                return Err(Failure::of(handed_over(&prefix, &observed.region, &tool)));
            }
            // Forced: treat the rule and its role as this tool's.
            take_back(&mut observed, &prefix);
        }
        let region = observed.region.clone();
        let rule = observed.rule(&prefix).cloned();
        let owner = match rule.as_ref().map(|r| r.managed_by.clone()) {
            Some(ManagedBy::CloudFormation(stack_name)) => {
                match aws.describe_stack(&stack_name).await? {
                    Some(info) => Owner::Stack(info),
                    None => {
                        return Err(Failure::of(Problem::new(
                        "StackNotFound",
                        format!("rule {prefix} in {region} was made by CloudFormation stack {stack_name}, which no longer exists in {region}"),
                        format!("the rule was retained by its stack: delete it with `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {prefix} --region {region}`"),
                    )));
                    }
                }
            }
            // Someone else's stack: deleted only when the user takes it over.
            Some(ManagedBy::Stack(stack_name)) => {
                if !req.adopt {
                    return Err(Failure::of(Problem::new(
                        "NotManagedByEchoOnboard",
                        format!("rule {prefix} in {region} was made by stack {stack_name}, not echo-onboard, so teardown leaves it alone"),
                        format!("delete the stack with `aws cloudformation delete-stack --stack-name {stack_name} --region {region}` (cached repositories are kept), or ⟦pass adopt⟧ to let echo-onboard delete it through the stack"),
                    )));
                }
                match aws.describe_stack(&stack_name).await? {
                    Some(info) => Owner::Stack(info),
                    None => Owner::Nothing,
                }
            }
            Some(ManagedBy::EchoOnboard) => {
                // The rule's own role wins over the default name; an explicit --role-name over both.
                let role = match (&role_name, rule.as_ref().and_then(|r| r.role_arn.clone())) {
                    (None, Some(arn)) => observed.role_by_arn(&arn).cloned(),
                    // Another upstream's rule has no role: the default name is not its.
                    (None, None) => None,
                    _ => observed.role.clone(),
                };
                Owner::Tool { role }
            }
            // Taken over: the rule goes; its role is not the tool's and stays (plan says so).
            Some(ManagedBy::Other) if req.adopt => {
                for r in observed.rules.iter_mut().filter(|r| r.prefix == prefix) {
                    r.managed_by = ManagedBy::EchoOnboard;
                    r.owner_proof = "taken over (⟦adopt⟧)".into();
                }
                let role = rule
                    .as_ref()
                    .and_then(|r| r.role_arn.as_deref())
                    .and_then(|arn| observed.role_by_arn(arn))
                    .cloned();
                Owner::Tool { role }
            }
            // Handed over to IaC and not forced was refused above.
            Some(ManagedBy::Other | ManagedBy::Iac(_)) => {
                let r = rule.as_ref().expect("matched a rule");
                return Err(Failure::of(Problem::new(
                    "NotManagedByEchoOnboard",
                    format!(
                        "rule {prefix} in {region} was not made by echo-onboard (upstream {}, role {}; {}), so teardown leaves it alone",
                        r.upstream_url,
                        r.role_arn.as_deref().unwrap_or("none"),
                        r.owner_proof
                    ),
                    format!("delete it with `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {prefix} --region {region}` if it is no longer needed (cached repositories are kept), or ⟦pass adopt⟧ to let echo-onboard delete it"),
                )));
            }
            None => {
                // No rule: what a killed run or a failed stack may have left behind.
                let stack_name = req
                    .stack_name
                    .clone()
                    .unwrap_or_else(|| crate::cfn::DEFAULT_STACK_NAME.to_string());
                let stack = aws.describe_stack(&stack_name).await?.filter(|s| {
                    s.parameters.get("RepositoryNamePrefix").map(String::as_str)
                        == Some(prefix.as_str())
                });
                match stack {
                    // A stack by that name is the tool's only when it carries the tool's tag
                    // (Echo's docs use the same default name for stacks made by hand).
                    Some(info) => {
                        let held = ownership::HoldingStack {
                            name: info.name.clone(),
                            tags: info.tags.clone(),
                        };
                        if !req.adopt
                            && !matches!(ownership::stack(&held).by, ManagedBy::CloudFormation(_))
                        {
                            return Err(Failure::of(Problem::new(
                                "NotManagedByEchoOnboard",
                                format!("stack {} in {region} (prefix {prefix}, {}) was not made by echo-onboard, so teardown leaves it alone", info.name, info.status),
                                format!("delete it with `aws cloudformation delete-stack --stack-name {} --region {region}`, or ⟦pass adopt⟧ to let echo-onboard delete it", info.name),
                            )));
                        }
                        Owner::Stack(info)
                    }
                    None => match observed.role.clone() {
                        Some(role) if role.managed_by().is_ours() => {
                            Owner::Tool { role: Some(role) }
                        }
                        _ => Owner::Nothing,
                    },
                }
            }
        };
        Ok::<_, Box<Failure>>((observed, owner))
    };
    let tool_role = |(_, owner): &(Observed, Owner)| matches!(owner, Owner::Tool { role: Some(role) } if role.managed_by().is_ours());
    let (read, others) = alongside(read_owner, rules_elsewhere(aws), tool_role).await;
    let (observed, owner) = read?;
    let elsewhere = match (&owner, others) {
        (Owner::Tool { role: Some(role) }, Some(others)) => others.using(&role.arn),
        _ => RoleUse::default(),
    };
    let repos = match req.delete_repos {
        true => Some(repository_fates(aws, &observed, &prefix).await),
        false => None,
    };
    let plan = teardown_plan_of(
        &observed,
        &prefix,
        &owner,
        repos.as_deref(),
        req.recovery_days,
        &elsewhere,
    );
    Ok(TeardownPlanned {
        prefix,
        owner,
        observed,
        elsewhere,
        delete_repos: req.delete_repos,
        recovery_days: req.recovery_days,
        plan,
    })
}

/// Concurrent `ListTagsForResource` calls when repositories need their tags as proof.
const TAG_CONCURRENCY: usize = 16;

/// What `--delete-cached-repos` does with each repository under the prefix: the pure
/// verdict of `core::ownership`, with tags read (bounded in parallel) only for repositories
/// whose creation time cannot prove it. A tag that cannot be read keeps the repository.
async fn repository_fates<'a>(
    aws: &'a dyn Aws,
    observed: &Observed,
    prefix: &str,
) -> Vec<(String, RepoFate)> {
    use futures::stream::{self, StreamExt};
    let rule_created = observed.rule(prefix).and_then(|r| r.created_at);
    let repos: Vec<crate::core::model::RepositoryInfo> = observed
        .repositories
        .iter()
        .filter(|r| r.rule_prefix == prefix)
        .cloned()
        .collect();
    // Boxed so callers that spawn the plan can prove the futures are Send.
    type Fate<'a> = futures::future::BoxFuture<'a, (String, RepoFate)>;
    stream::iter(repos.into_iter().map(move |r| -> Fate<'a> {
        Box::pin(async move {
            let fate = if ownership::needs_tags(&r, rule_created) {
                match aws.repository_tags(&r.arn).await {
                    Ok(tags) => ownership::cached_repository(&r, rule_created, Some(&tags)),
                    Err(e) => RepoFate::Keep(format!(
                        "its tags could not be read to prove the cache made it ({} [{}])",
                        e.message, e.code
                    )),
                }
            } else {
                ownership::cached_repository(&r, rule_created, None)
            };
            (r.name.clone(), fate)
        })
    }))
    .buffered(TAG_CONCURRENCY)
    .collect()
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct TornDown {
    pub result: Outcome,
    pub method: &'static str,
    pub plan: Plan,
    pub deleted: Vec<String>,
    pub left_alone: Vec<String>,
}

/// Carries out a teardown plan: the stack's deletion for a stack-made rule, or the rule, the
/// role (unless another region still uses it) and the cached repositories when asked.
pub async fn teardown(
    aws: &dyn Aws,
    t: &TeardownPlanned,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<TornDown> {
    let left_alone = exec_teardown::left_alone(&t.plan);
    let base = TornDown {
        result: Outcome::NoOp,
        method: "api",
        plan: t.plan.clone(),
        deleted: vec![],
        left_alone,
    };
    match &t.owner {
        Owner::Stack(info) => {
            match stack::delete_with_repositories(aws, info, &t.plan, opts, tx).await {
                Ok(deleted) => Ok(TornDown {
                    result: Outcome::Deleted,
                    method: "cloudformation",
                    deleted,
                    ..base
                }),
                Err(f) => Err(Box::new(Failure {
                    error: Problem::new(&f.code, f.message, f.next_step),
                    plan: Some(t.plan.clone()),
                    changed: vec![],
                    rolled_back: vec![],
                    remaining: vec![format!("cloudformation-stack {}", info.name)],
                    stack_status: f.stack_status,
                })),
            }
        }
        // A rule and role this tool made, or only what a killed run left (a role, repositories).
        Owner::Tool { .. } | Owner::Nothing => {
            let role = match &t.owner {
                Owner::Tool { role } => role.as_ref(),
                _ => None,
            };
            if !t.plan.has_changes() {
                return Ok(base);
            }
            let secret = t
                .observed
                .secret
                .as_ref()
                .map(|s| (s.arn.as_str(), t.recovery_days));
            match exec_teardown::teardown(aws, &t.plan, role, secret, tx).await {
                Ok(out) => Ok(TornDown {
                    result: Outcome::Deleted,
                    deleted: out.deleted,
                    ..base
                }),
                Err(f) => {
                    let mut error = Problem::from(f.error);
                    error.next_step = format!(
                        "{}; then run the teardown again (it finishes what is left)",
                        error.next_step
                    );
                    Err(Box::new(Failure {
                        error,
                        plan: Some(t.plan.clone()),
                        changed: f.deleted,
                        rolled_back: vec![],
                        remaining: f.remaining,
                        stack_status: None,
                    }))
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// status

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    /// The connection's region.
    Current,
    List(Vec<String>),
    /// Every region enabled for the account.
    All,
}

#[derive(Debug, Clone)]
pub struct StatusRequest {
    pub regions: Regions,
    /// Read cached repositories and their 30-day pull counts.
    pub usage: bool,
    /// Also read each cached repository's images (one call per repository).
    pub details: bool,
    /// Send each region's read in parts as it arrives (see `observe::Scope::stream`).
    pub stream: Option<observe::PartSender>,
}

#[derive(Debug, Clone)]
pub struct RegionStatus {
    pub region: String,
    pub observed: Result<Observed, Problem>,
}

#[derive(Debug, Clone, Default)]
pub struct Status {
    pub account: Option<String>,
    pub regions: Vec<RegionStatus>,
}

/// Rules and cached repositories of one or many regions, read in parallel.
/// Long detail listings report their progress on `progress`.
pub async fn status(
    aws: &dyn Aws,
    req: &StatusRequest,
    progress: &EventSender,
) -> OpResult<Status> {
    let regions = match &req.regions {
        Regions::Current => vec![aws.region()],
        Regions::List(list) => {
            let mut out = vec![];
            for r in list {
                let r =
                    crate::core::validate::Region::parse("regions", r).map_err(Problem::from)?;
                if !out.contains(&r.to_string()) {
                    out.push(r.to_string());
                }
            }
            out
        }
        Regions::All => aws.enabled_regions().await?,
    };
    let scope = Scope {
        usage: req.usage,
        details: req.details,
        rule_roles_tags_only: true,
        progress: Some(progress.clone()),
        cache: observe::CacheReads::BestEffort,
        stream: req.stream.clone(),
        only_with_rules: regions.len() > 1,
        ..Default::default()
    };
    let reads = regions.iter().map(|r| {
        let view = aws.in_region(r);
        let scope = scope.clone();
        let r = r.clone();
        async move { observe::observe(view.as_ref(), &r, &scope).await }
    });
    let results = join_all(reads).await;
    // One region is the whole answer; of many, the unreadable ones are shown, not dropped.
    if regions.len() == 1 {
        if let Some(Err(e)) = results.first() {
            return Err(Failure::of(e.clone()));
        }
    }
    let account = results
        .iter()
        .find_map(|r| r.as_ref().ok().map(|o| o.identity.account.clone()));
    Ok(Status {
        account,
        regions: regions
            .into_iter()
            .zip(results)
            .map(|(region, observed)| RegionStatus {
                region,
                observed: observed.map_err(Problem::from),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// export: the setup as infrastructure code

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub input: SetupInput,
    pub format: crate::core::export::Format,
    /// Adopt what already exists (import blocks / identifiers / options) instead of creating.
    pub import: bool,
}

#[derive(Debug, Clone)]
pub struct Exported {
    pub account: String,
    pub files: Vec<crate::core::export::File>,
    /// What the code imports (with `import`).
    pub imported: Option<crate::core::export::Existing>,
}

/// The desired state for this account as Terraform, CloudFormation or Pulumi YAML. Reads the
/// account id (and, to import, what exists); changes nothing.
pub async fn export(aws: &dyn Aws, req: &ExportRequest) -> OpResult<Exported> {
    let setup = req
        .input
        .validate()
        .map_err(|e| Failure::of(Problem::invalid(e)))?;
    if !setup.is_echo() {
        return Err(Failure::of(Problem::invalid(vec![FieldError {
            field: "upstream",
            value: setup.upstream.kind.to_string(),
            rule: "export writes the Echo rule and its role; other upstreams are set up with ⟦cmd apply⟧".into(),
            example: "echo".into(),
        }])));
    }
    let (account, imported) = if req.import {
        let scope = Scope {
            role_name: Some(setup.role_name.to_string()),
            ..Default::default()
        };
        let o = observe::observe(aws, setup.region.as_str(), &scope).await?;
        let role = o.role.as_ref();
        let existing = crate::core::export::Existing {
            role: role.is_some(),
            policy: role.is_some_and(|r| {
                r.inline_policies
                    .contains_key(crate::core::validate::DEFAULT_POLICY_NAME)
            }),
            rule: o.rule(setup.prefix.as_str()).is_some(),
        };
        (o.identity.account, Some(existing))
    } else {
        (aws.caller_identity().await?.account, None)
    };
    let desired = crate::core::model::desired(&setup, &account);
    Ok(Exported {
        files: crate::core::export::export(&desired, req.format, imported),
        account,
        imported,
    })
}

// ---------------------------------------------------------------------------------------------
// verify: a first pull through the cache

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// `NAME[:TAG]` as in Echo's registry (without the cache prefix).
    pub image: String,
    pub prefix: String,
    /// The registry endpoint (a VPC endpoint, the emulator); default: the account's own.
    pub registry_url: Option<String>,
}

/// What a first pull proved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    pub image: String,
    pub digest: String,
    pub media_type: String,
    pub cached_repository: String,
    /// Whether this pull created the cached repository (the cache's first pull of it).
    pub created: bool,
    pub elapsed_ms: u64,
    /// The repository afterwards, as `status` shows it.
    pub repository: Option<crate::core::model::RepoDetails>,
    pub region: String,
}

/// What `verify` checks before anything is sent: the image and prefix (exit 2 when invalid),
/// and that the pull is by tag (a cache fills only on tag pulls).
pub fn verify_input(req: &VerifyRequest) -> OpResult<(ImageRef, RepoPrefix)> {
    let mut bad = vec![];
    let image = ImageRef::parse(&req.image).map_err(|e| bad.push(e)).ok();
    let prefix = RepoPrefix::parse("prefix", &req.prefix)
        .map_err(|e| bad.push(e))
        .ok();
    if let Some(url) = &req.registry_url {
        if let Err(rule) = crate::aws::registry::allowed_url(url) {
            bad.push(FieldError {
                field: "registry-url",
                value: url.clone(),
                rule,
                example: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            });
        }
    }
    let (Some(image), Some(prefix), true) = (image, prefix, bad.is_empty()) else {
        return Err(Failure::of(Problem::invalid(bad)));
    };
    if let Reference::Digest(_) = image.reference {
        return Err(Failure::of(Problem::new(
            "DigestReference",
            format!(
                "{} is a digest reference: a pull-through cache fills only on pulls by tag, so a first pull by digest finds nothing",
                image.display()
            ),
            format!(
                "pull by tag first: ⟦cmd verify image={}:<tag> prefix={prefix}⟧; later pulls by digest work",
                image.name
            ),
        )));
    }
    Ok((image, prefix))
}

/// Pulls one image manifest through the cache over the registry API (as `docker pull` starts),
/// without Docker and without downloading layers, and explains a failure in one line.
pub async fn verify(aws: &dyn Aws, req: &VerifyRequest) -> OpResult<Verified> {
    let (image, prefix) = verify_input(req)?;
    let region = aws.region();
    let repo = cached_repository(&prefix, &image);
    let (identity, rules, before) = futures::join!(
        aws.caller_identity(),
        aws.list_cache_rules(),
        aws.list_images(&repo)
    );
    let (identity, rules) = (identity?, rules?);
    if !rules.iter().any(|r| r.prefix == prefix.as_str()) {
        let here: Vec<&str> = rules.iter().map(|r| r.prefix.as_str()).collect();
        return Err(Failure::of(Problem::new(
            "NoRuleForPrefix",
            format!(
                "no pull-through cache rule for prefix {prefix} in {region} (rules here: {})",
                if here.is_empty() {
                    "none".into()
                } else {
                    here.join(", ")
                }
            ),
            format!("set it up with ⟦cmd apply prefix={prefix} region={region}⟧, or ⟦other prefix⟧: one of the rules here"),
        )));
    }
    // Unknown (e.g. DescribeImages denied) counts as existing: never claim a creation.
    let existed = !matches!(&before, Err(e) if e.is(ErrorKind::NotFound));
    let start = std::time::Instant::now();
    let manifest = aws
        .pull_manifest(req.registry_url.as_deref(), &repo, image.reference_str())
        .await
        .map_err(|e| {
            let pull = Pull {
                repo: &repo,
                image: &image,
                prefix: &prefix,
                account: &identity.account,
                region: &region,
            };
            let archived = before.as_ref().is_ok_and(|images| {
                images
                    .iter()
                    .any(|i| i.archived && i.tags.iter().any(|t| t == image.reference_str()))
            });
            let failure = match e.kind {
                ErrorKind::AccessDenied => PullFailure::Denied,
                ErrorKind::NotFound if archived => PullFailure::Archived,
                ErrorKind::NotFound => PullFailure::NotFound,
                ErrorKind::Network => PullFailure::Unreachable,
                _ => PullFailure::Other,
            };
            let x = explain(failure, &e.code, &e.message, &pull);
            Failure::of(Problem::new(x.code, x.message, x.next_step))
        })?;
    let elapsed_ms = start.elapsed().as_millis() as u64;
    let after = aws.list_images(&repo).await.ok();
    Ok(Verified {
        image: image.display(),
        digest: manifest.digest,
        media_type: manifest.media_type,
        cached_repository: repo,
        created: !existed && after.is_some(),
        elapsed_ms,
        repository: after.map(|i| crate::core::model::RepoDetails::of(&i)),
        region,
    })
}

// ---------------------------------------------------------------------------------------------
// diagnose and the support bundle

pub type DiagnoseRequest = DiagnoseInput;

/// Every check, in parallel, for the prefix in the connection's region.
pub async fn diagnose(aws: &dyn Aws, req: &DiagnoseRequest) -> Report {
    diagnose::diagnose(aws, &aws.region(), req).await
}

/// Writes the support bundle (mode 0600) to `path`, or to the state directory when `None`.
/// Writes the support bundle, its fixes in the words of the front end that asked for it.
pub fn write_bundle(
    report: &Report,
    settings: serde_json::Value,
    path: Option<&Path>,
    words: &dyn crate::core::words::Words,
) -> Result<PathBuf, Problem> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let dir = crate::logging::log_dir().unwrap_or_else(std::env::temp_dir);
            std::fs::create_dir_all(&dir).map_err(|e| {
                Problem::new(
                    "BundleNotWritten",
                    format!("cannot create {}: {e}", dir.display()),
                    "⟦other output⟧: a writable path",
                )
            })?;
            dir.join(format!(
                "echo-onboard-bundle-{}.json",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ))
        }
    };
    let mut doc = bundle::build(report, settings, bundle::log_tail());
    crate::core::words::render_json(&mut doc, words);
    bundle::write(&path, &doc).map_err(|e| {
        Problem::new(
            "BundleNotWritten",
            format!("cannot write the bundle to {}: {e}", path.display()),
            "⟦other output⟧: a writable path",
        )
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::checks::{Check, Status};
    use crate::core::words::{Cmd, Setting, Verb, Words};

    struct Flags;
    impl Words for Flags {
        fn setting(&self, _: Verb, s: Setting) -> String {
            format!("--{}", s.id())
        }
        fn command(&self, _: Verb, c: Cmd, _: &[(Setting, String)]) -> String {
            format!("`echo-onboard {}`", c.id())
        }
    }

    /// The bundle is a document for people: its fixes are worded, no placeholder is left.
    #[test]
    fn the_bundle_is_written_in_the_callers_words() {
        let report = Report {
            checks: vec![Check::new("role", "Role", Status::Fail, "the role is gone")
                .fix("⟦run apply⟧ with ⟦other role-name⟧")],
            observed: None,
            plan: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        write_bundle(&report, serde_json::json!({}), Some(&path), &Flags).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("`echo-onboard apply` with --role-name"),
            "{text}"
        );
        assert!(!text.contains('⟦'), "{text}");
    }
}
