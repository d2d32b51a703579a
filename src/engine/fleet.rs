//! Fleet operations: one StackSet deploys Echo's template to many accounts × regions. Plan,
//! apply (streaming each instance's result), status (each target read through a role in it,
//! in parallel with a bounded pool) and teardown. Shared by the CLI and the TUI.

use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use super::apply::ApplyOptions;
use super::events::{emit, Event, EventSender};
use super::ops::{Failure, OpResult, Problem};
use crate::aws::stacksets::{
    Deployment, InstanceResult, OperationInfo, Permission, StackInstance, StackSetInfo,
    StackSetRequest,
};
use crate::aws::Aws;
use crate::core::fleet::{self, Fleet, FleetInput, FleetPlan, InstanceChange, Targets};
use crate::core::model::CacheRule;
use crate::core::plan::Action;
use crate::core::validate::{MANAGED_BY_KEY, MANAGED_BY_VALUE};

/// How many targets `fleet status` reads at once.
pub const READ_POOL: usize = 16;

pub struct FleetPlanned {
    pub fleet: Fleet,
    pub request: StackSetRequest,
    pub current: Option<StackSetInfo>,
    pub instances: Vec<StackInstance>,
    pub plan: FleetPlan,
}

fn invalid(input: &FleetInput) -> OpResult<Fleet> {
    input
        .validate()
        .map_err(|e| Failure::of(Problem::invalid(e)))
}

/// Validates (nothing is sent for bad input), reads the stack set and its instances, runs the
/// preflight and plans.
pub async fn plan(aws: &dyn Aws, input: &FleetInput) -> OpResult<FleetPlanned> {
    let fleet = invalid(input)?;
    let name = fleet.stack_set_name.clone();
    let (identity, current) = futures::try_join!(
        aws.caller_identity(),
        aws.describe_stack_set(&name, &fleet.call_as)
    )?;
    let instances = match &current {
        Some(_) => aws.list_stack_instances(&name, &fleet.call_as).await?,
        None => vec![],
    };
    let permission = fleet.permission(&identity.account);
    let parameters = crate::cfn::parameters(&fleet.setup);
    let request = StackSetRequest {
        name,
        template_body: crate::cfn::TEMPLATE_YAML.to_string(),
        parameters: parameters.clone(),
        tags: vec![(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into())],
        permission: permission.clone(),
        call_as: fleet.call_as.clone(),
    };
    let mut plan = fleet::plan(
        &fleet,
        &request.template_body,
        &parameters,
        &permission,
        current.as_ref(),
        &instances,
    );
    plan.not_carried = crate::cfn::not_carried(&fleet.setup);
    preflight(aws, &fleet, &permission, &identity.account, &mut plan).await;
    Ok(FleetPlanned {
        fleet,
        request,
        current,
        instances,
        plan,
    })
}

/// What StackSets needs before it can deploy; each missing piece is a blocker with its fix.
async fn preflight(
    aws: &dyn Aws,
    fleet: &Fleet,
    permission: &crate::aws::stacksets::Permission,
    account: &str,
    plan: &mut FleetPlan,
) {
    use crate::aws::stacksets::Permission;
    if let Permission::SelfManaged { admin_role_arn, .. } = permission {
        let name = admin_role_arn.rsplit('/').next().unwrap_or_default();
        let in_this_account = admin_role_arn.contains(&format!(":{account}:"));
        match aws.get_role(name).await {
            Ok(Some(_)) => {}
            Ok(None) if in_this_account => plan.blockers.push(format!(
                "the StackSets administration role {name} does not exist in account {account}: create it (AWS's template: https://s3.amazonaws.com/cloudformation-stackset-sample-templates-us-east-1/AWSCloudFormationStackSetAdministrationRole.yml), and {} in each target account, then plan again",
                fleet.execution_role_name
            )),
            Ok(None) => {}
            Err(e) => plan.warnings.push(format!(
                "could not check the administration role {name}: {} [{}]",
                e.message, e.code
            )),
        }
    }
    if let Permission::ServiceManaged { .. } = permission {
        organization_preflight(aws, fleet, account, plan).await;
    }
}

/// Service-managed stack sets need an Organization, a caller that is its management account
/// or a registered delegated administrator, and StackSets' trusted access; each gap blocks
/// the plan with its fix.
async fn organization_preflight(aws: &dyn Aws, fleet: &Fleet, account: &str, plan: &mut FleetPlan) {
    use crate::aws::stacksets::STACKSETS_PRINCIPAL;
    let org = match aws.organization().await {
        Ok(Some(org)) => org,
        Ok(None) => {
            return plan.blockers.push(format!(
                "account {account} is not in an AWS Organization: OU targets need one (service-managed); target account ids instead (self-managed)"
            ))
        }
        Err(e) => {
            return plan.warnings.push(format!(
                "could not read the Organization to check the caller and trusted access: {} [{}]",
                e.message, e.code
            ))
        }
    };
    let management = org.management_account == account;
    let delegated = fleet.call_as.is_some();
    if management && delegated {
        return plan.blockers.push(format!(
            "account {account} is the management account of {}: call as SELF (⟦call-as⟧ SELF)",
            org.id
        ));
    }
    if !management && !delegated {
        return plan.blockers.push(format!(
            "account {account} is not the management account of {} (that is {}): run from the management account, or from a delegated administrator for StackSets with ⟦call-as⟧ DELEGATED_ADMIN",
            org.id, org.management_account
        ));
    }
    match aws.stacksets_org_access(&fleet.call_as).await {
        Ok(status) if status == "ENABLED" => {}
        Ok(status) => plan.blockers.push(format!(
            "trusted access for StackSets is {status} in {}: from the management account activate it (CloudFormation console → StackSets → Activate trusted access, or `aws cloudformation activate-organizations-access`), then plan again",
            org.id
        )),
        Err(e) if delegated => plan.blockers.push(format!(
            "account {account} is not a delegated administrator for StackSets ({} [{}]): from the management account {} run `aws organizations register-delegated-administrator --service-principal {STACKSETS_PRINCIPAL} --account-id {account}`",
            e.message, e.code, org.management_account
        )),
        Err(e) => plan.warnings.push(format!(
            "could not check StackSets' trusted access: {} [{}]",
            e.message, e.code
        )),
    }
    if let Targets::OrgUnits(ous) = &fleet.targets {
        if ous.iter().any(|o| o.starts_with("r-")) {
            plan.warnings.push(format!(
                "StackSets does not deploy service-managed instances to the management account {}: set it up there with ⟦cmd apply⟧ if it pulls images too",
                org.management_account
            ));
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetApplied {
    pub stack_set: String,
    pub plan: FleetPlan,
    pub operations: Vec<OperationInfo>,
    /// Every instance after the apply.
    pub instances: Vec<StackInstance>,
    /// Instances that failed, with why.
    pub failed: Vec<InstanceResult>,
    /// Re-plans and retries only the failed instances (a fleet plan marks them "retry").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    /// An operation still running at the wait limit: its instances are pending or running,
    /// not failed, and the planned operations after it were not started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_running: Option<StillRunning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StillRunning {
    pub operation_id: String,
    /// Instances of that operation still pending or running.
    pub instances: Vec<InstanceResult>,
    /// How to watch it; a fleet apply started meanwhile waits for it.
    pub watch: String,
}

/// Follows operations of the stack set that are already running (another run, or one this
/// tool stopped waiting for): StackSets runs one at a time and refuses a second one.
pub async fn wait_for_running(
    aws: &dyn Aws,
    name: &str,
    call_as: &crate::aws::stacksets::CallAs,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<Option<OperationInfo>> {
    let running = match aws.running_stack_set_operations(name, call_as).await {
        Err(e) if e.code.contains("StackSetNotFound") => return Ok(None),
        other => other?,
    };
    for id in running {
        emit(
            tx,
            Event::Warning {
                message: format!(
                    "stack set {name} is running operation {id}: waiting for it before starting"
                ),
            },
        );
        let op = follow(aws, name, call_as, &id, opts, tx).await?;
        if !op.is_done() {
            return Ok(Some(op));
        }
    }
    Ok(None)
}

fn deployment(fleet: &Fleet, targets: Vec<String>, regions: Vec<String>) -> Deployment {
    let (accounts, org_units) = match fleet.targets {
        Targets::Accounts(_) => (targets, vec![]),
        Targets::OrgUnits(_) => (vec![], targets),
    };
    Deployment {
        accounts,
        org_units,
        regions,
        prefs: fleet.prefs,
    }
}

/// The StackSets calls that reach some existing instances: by account for a self-managed set,
/// by the instances' OUs for a service-managed one (whose calls name OUs, never accounts).
fn existing_deployments(
    service_managed: bool,
    instances: &[StackInstance],
    rows: &[&InstanceChange],
    prefs: crate::aws::stacksets::OperationPrefs,
) -> Vec<Deployment> {
    let by_ou: Vec<InstanceChange> = rows
        .iter()
        .map(|r| {
            let ou = instances
                .iter()
                .find(|i| i.account == r.target && i.region == r.region)
                .and_then(|i| i.org_unit.clone());
            InstanceChange {
                target: ou.unwrap_or_else(|| r.target.clone()),
                ..(*r).clone()
            }
        })
        .collect();
    let rows: Vec<&InstanceChange> = if service_managed {
        by_ou.iter().collect()
    } else {
        rows.to_vec()
    };
    fleet::batches(&rows)
        .into_iter()
        .map(|(targets, regions)| {
            let (accounts, org_units) = if service_managed {
                (vec![], targets)
            } else {
                (targets, vec![])
            };
            Deployment {
                accounts,
                org_units,
                regions,
                prefs,
            }
        })
        .collect()
}

/// Waits for an operation, emitting each instance's status as it changes (pending, running,
/// then its result with AWS's reason), so front ends show progress per account × region.
async fn follow(
    aws: &dyn Aws,
    name: &str,
    call_as: &crate::aws::stacksets::CallAs,
    id: &str,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<OperationInfo> {
    let deadline = Instant::now() + opts.operation_wait;
    let mut seen = std::collections::BTreeMap::new();
    let mut op_status: Option<String> = None;
    let operation = |op: &OperationInfo| Event::Operation {
        id: id.to_string(),
        status: op.status.clone(),
        instances: op.results.len(),
    };
    loop {
        let op = aws.stack_set_operation(name, id, call_as).await?;
        // The operation is announced before its instances, and its end after theirs.
        let first = op_status.is_none();
        if first {
            emit(tx, operation(&op));
        }
        for r in &op.results {
            let key = (r.account.clone(), r.region.clone());
            if seen.get(&key) == Some(&r.status) {
                continue;
            }
            seen.insert(key, r.status.clone());
            emit(
                tx,
                Event::Instance {
                    account: r.account.clone(),
                    region: r.region.clone(),
                    status: r.status.clone(),
                    reason: r.reason.clone(),
                },
            );
        }
        if !first && op_status.as_deref() != Some(op.status.as_str()) {
            emit(tx, operation(&op));
        }
        op_status = Some(op.status.clone());
        if op.is_done() || Instant::now() > deadline {
            return Ok(op);
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}

fn rows(plan: &FleetPlan, action: Action) -> Vec<&InstanceChange> {
    plan.instances
        .iter()
        .filter(|i| i.action == action)
        .collect()
}

/// Creates or updates the stack set, then creates, re-deploys and deletes instances as
/// planned, one StackSets operation at a time (a stack set runs one at a time).
pub async fn apply(
    aws: &dyn Aws,
    planned: &FleetPlanned,
    opts: &ApplyOptions,
    tx: &EventSender,
    retry_command: &str,
) -> OpResult<FleetApplied> {
    let p = &planned.plan;
    if !p.blockers.is_empty() {
        return Err(Failure::of(Problem::new(
            "Blocked",
            format!("nothing was changed: {}", p.blockers.join("; ")),
            "decide as the plan says, then run fleet apply again",
        )));
    }
    let (name, call_as) = (&planned.request.name, &planned.fleet.call_as);
    let mut ops = vec![];
    if planned.current.is_none() {
        aws.create_stack_set(&planned.request).await?;
    } else if let Some(op) = wait_for_running(aws, name, call_as, opts, tx).await? {
        return finish(aws, planned, ops, Some(op), retry_command).await;
    }
    // Re-deploys: instances kept while the set changes, and failed ones (retries).
    let service_managed = matches!(planned.fleet.targets, Targets::OrgUnits(_));
    let existing = |action| {
        existing_deployments(
            service_managed,
            &planned.instances,
            &rows(p, action),
            planned.fleet.prefs,
        )
    };
    let mut updates = existing(Action::Update);
    // A changed set with no instance to redeploy is still updated: new instances get it.
    if updates.is_empty() && p.stack_set.action == Action::Update && planned.current.is_some() {
        updates.push(Deployment {
            prefs: planned.fleet.prefs,
            ..Default::default()
        });
    }
    // One operation at a time; one still running at the wait limit stops the rest (a next
    // one would be refused), and is reported as running.
    macro_rules! run {
        ($start:expr) => {{
            let id = $start.await?;
            let op = follow(aws, name, call_as, &id, opts, tx).await?;
            if !op.is_done() {
                return finish(aws, planned, ops, Some(op), retry_command).await;
            }
            ops.push(op);
        }};
    }
    for d in &updates {
        run!(aws.update_stack_set(&planned.request, d));
    }
    for (targets, regions) in fleet::batches(&rows(p, Action::Create)) {
        let d = deployment(&planned.fleet, targets, regions);
        run!(aws.create_stack_instances(name, &d, call_as));
    }
    for d in existing(Action::Delete) {
        run!(aws.delete_stack_instances(name, &d, false, call_as));
    }
    finish(aws, planned, ops, None, retry_command).await
}

/// What the apply left: every instance, the failed ones with the retry command, and an
/// operation still running (never counted as failed).
async fn finish(
    aws: &dyn Aws,
    planned: &FleetPlanned,
    mut ops: Vec<OperationInfo>,
    running: Option<OperationInfo>,
    retry_command: &str,
) -> OpResult<FleetApplied> {
    let (name, call_as) = (&planned.request.name, &planned.fleet.call_as);
    let p = &planned.plan;
    let still_running = running.map(|op| {
        let s = StillRunning {
            operation_id: op.id.clone(),
            instances: op
                .results
                .iter()
                .filter(|r| matches!(r.status.as_str(), "PENDING" | "RUNNING"))
                .cloned()
                .collect(),
            watch: format!(
                "⟦cmd fleet-status stack-set-name={name}⟧ (or `aws cloudformation describe-stack-set-operation --stack-set-name {name} --operation-id {}`); then {retry_command}: it waits for it, then applies what is left",
                op.id
            ),
        };
        ops.push(op);
        s
    });
    let instances = aws.list_stack_instances(name, call_as).await?;
    let failed: Vec<InstanceResult> = instances
        .iter()
        .filter(|i| i.failed())
        .map(|i| InstanceResult {
            account: i.account.clone(),
            region: i.region.clone(),
            status: i
                .detailed_status
                .clone()
                .unwrap_or_else(|| i.status.clone()),
            reason: i.status_reason.clone(),
        })
        .collect();
    Ok(FleetApplied {
        stack_set: name.clone(),
        plan: p.clone(),
        retry: (!failed.is_empty()).then(|| retry_command.to_string()),
        operations: ops,
        instances,
        failed,
        still_running,
    })
}

/// One target as `fleet status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub account: String,
    pub region: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The rule for the stack set's prefix; `null` when absent or unreadable.
    pub rule: Option<RuleStatus>,
    pub repositories: Option<usize>,
    pub pull_count_30d: Option<u64>,
    /// Why the target could not be read (it is shown, not dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// How to grant the read, when it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<fleet::ReadGrant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub prefix: String,
    pub upstream_url: String,
    pub role_arn: Option<String>,
    pub valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    pub stack_set: Option<StackSetInfo>,
    pub instances: Vec<InstanceStatus>,
}

/// The stack set's instances joined with a live read of each target through `read_role`.
pub async fn status(
    aws: &dyn Aws,
    name: &str,
    call_as: &crate::aws::stacksets::CallAs,
    read_role: &str,
) -> OpResult<FleetStatus> {
    let Some(set) = aws.describe_stack_set(name, call_as).await? else {
        return Ok(FleetStatus {
            stack_set: None,
            instances: vec![],
        });
    };
    let instances = aws.list_stack_instances(name, call_as).await?;
    let prefix = set
        .parameters
        .get("RepositoryNamePrefix")
        .cloned()
        .unwrap_or_else(|| crate::core::validate::DEFAULT_PREFIX.to_string());
    let reads = futures::stream::iter(instances.into_iter().map(|i| {
        let prefix = prefix.clone();
        async move {
            let read = read_target(aws, &i, read_role, &prefix).await;
            let mut s = InstanceStatus {
                account: i.account,
                region: i.region,
                status: i.detailed_status.unwrap_or(i.status),
                status_reason: i.status_reason,
                rule: None,
                repositories: None,
                pull_count_30d: None,
                unreadable: None,
                grant: None,
            };
            match read {
                Ok((rule, repos, pulls)) => {
                    s.rule = rule;
                    s.repositories = Some(repos);
                    s.pull_count_30d = Some(pulls);
                }
                Err(e) => s.unreadable = Some(e),
            }
            s
        }
    }))
    .buffered(READ_POOL)
    .collect::<Vec<_>>()
    .await;
    let mut reads = reads;
    // Each target that refused the read says how to grant it: the role, trusting this account.
    let refused = |r: &InstanceStatus| {
        r.unreadable
            .as_deref()
            .is_some_and(|e| e.contains("AccessDenied") || e.contains("not authorized"))
    };
    if reads.iter().any(refused) {
        if let Ok(me) = aws.caller_identity().await {
            let partition = crate::core::regions::partition(&aws.region());
            for r in reads.iter_mut().filter(|r| refused(r)) {
                r.grant = Some(fleet::read_grant(
                    &r.account,
                    read_role,
                    &me.account,
                    partition,
                ));
            }
        }
    }
    Ok(FleetStatus {
        stack_set: Some(set),
        instances: reads,
    })
}

/// The rule, its validation, and the cached repositories with 30-day pulls in one target.
async fn read_target(
    aws: &dyn Aws,
    inst: &StackInstance,
    read_role: &str,
    prefix: &str,
) -> Result<(Option<RuleStatus>, usize, u64), String> {
    let line = |e: crate::aws::AwsError| format!("{} [{}]", e.message, e.code);
    let target = aws
        .for_account(&inst.account, read_role, &inst.region)
        .await
        .map_err(line)?;
    let (rules, repos) =
        futures::try_join!(target.list_cache_rules(), target.list_repositories()).map_err(line)?;
    let rule: Option<CacheRule> = rules.into_iter().find(|r| r.prefix == prefix);
    let rule = match rule {
        Some(r) => {
            let v = target.validate_cache_rule(prefix).await.ok();
            Some(RuleStatus {
                prefix: r.prefix,
                upstream_url: r.upstream_url,
                role_arn: r.role_arn,
                valid: v.as_ref().map(|v| v.is_valid),
                failure: v.and_then(|v| v.failure),
            })
        }
        None => None,
    };
    let cached: Vec<String> = repos
        .into_iter()
        .map(|r| r.name)
        .filter(|n| n.starts_with(&format!("{prefix}/")))
        .collect();
    let pulls = if cached.is_empty() {
        0
    } else {
        target
            .daily_pulls(&cached, chrono::Utc::now(), 30)
            .await
            .map(|m| m.values().map(|d| d.iter().sum::<u64>()).sum())
            .unwrap_or(0)
    };
    Ok((rule, cached.len(), pulls))
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetTornDown {
    pub stack_set: String,
    pub deleted_instances: usize,
    pub retained_stacks: bool,
    pub stack_set_deleted: bool,
    pub operations: Vec<OperationInfo>,
}

/// Deletes every instance (or detaches them with `retain_stacks`), then the stack set.
pub async fn teardown(
    aws: &dyn Aws,
    name: &str,
    call_as: &crate::aws::stacksets::CallAs,
    retain_stacks: bool,
    opts: &ApplyOptions,
    tx: &EventSender,
) -> OpResult<FleetTornDown> {
    let Some(set) = aws.describe_stack_set(name, call_as).await? else {
        return Err(Failure::of(Problem::new(
            "StackSetNotFound",
            format!("stack set {name} does not exist in {}", aws.region()),
            "check ⟦stack-set-name⟧ and ⟦region⟧ (the stack set's home region)",
        )));
    };
    let instances = aws.list_stack_instances(name, call_as).await?;
    let rows: Vec<InstanceChange> = instances
        .iter()
        .map(|i| InstanceChange {
            target: i.account.clone(),
            region: i.region.clone(),
            action: Action::Delete,
            reason: None,
        })
        .collect();
    let mut ops = vec![];
    let refs: Vec<&InstanceChange> = rows.iter().collect();
    let service_managed = matches!(set.permission, Permission::ServiceManaged { .. });
    for d in existing_deployments(service_managed, &instances, &refs, Default::default()) {
        let id = aws
            .delete_stack_instances(name, &d, retain_stacks, call_as)
            .await?;
        let op = follow(aws, name, call_as, &id, opts, tx).await?;
        if op.status == "FAILED" {
            return Err(Failure::of(Problem::new(
                "InstancesRemain",
                format!(
                    "deleting instances of stack set {name} failed: {}",
                    op.results
                        .iter()
                        .filter(|r| r.status == "FAILED")
                        .map(|r| format!(
                            "{} {}: {}",
                            r.account,
                            r.region,
                            r.reason.as_deref().unwrap_or("no reason")
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "fix the cause in those accounts, then run fleet teardown again",
            )));
        }
        ops.push(op);
    }
    aws.delete_stack_set(name, call_as).await?;
    Ok(FleetTornDown {
        stack_set: name.to_string(),
        deleted_instances: instances.len(),
        retained_stacks: retain_stacks,
        stack_set_deleted: true,
        operations: ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_instances_are_reached_by_account_or_by_their_ou() {
        let inst = |account: &str, ou: &str| StackInstance {
            account: account.into(),
            region: "eu-west-1".into(),
            status: "CURRENT".into(),
            detailed_status: None,
            status_reason: None,
            org_unit: Some(ou.into()),
        };
        let instances = [
            inst("111111111111", "ou-ab12-aaaaaaaa"),
            inst("222222222222", "ou-ab12-aaaaaaaa"),
        ];
        let rows: Vec<InstanceChange> = instances
            .iter()
            .map(|i| InstanceChange {
                target: i.account.clone(),
                region: i.region.clone(),
                action: Action::Delete,
                reason: None,
            })
            .collect();
        let refs: Vec<&InstanceChange> = rows.iter().collect();
        let by_account = existing_deployments(false, &instances, &refs, Default::default());
        assert_eq!(by_account.len(), 1);
        assert_eq!(by_account[0].accounts, ["111111111111", "222222222222"]);
        assert!(by_account[0].org_units.is_empty());
        let by_ou = existing_deployments(true, &instances, &refs, Default::default());
        assert_eq!(by_ou.len(), 1);
        assert!(by_ou[0].accounts.is_empty());
        assert_eq!(by_ou[0].org_units, ["ou-ab12-aaaaaaaa"]);
        assert_eq!(by_ou[0].regions, ["eu-west-1"]);
    }

    /// The sandbox runs an operation as StackSets does, over simulated time: 4 accounts at 25 %
    /// go one at a time, the failing member fails, the one after it is cancelled (tolerance
    /// 0), and the apply's events show each instance change on its own; the retry re-deploys
    /// only those two, and succeeds.
    #[tokio::test(start_paused = true)]
    async fn a_sandbox_fleet_progresses_instance_by_instance_and_retries_the_failed_member() {
        use crate::sandbox::fleet::{SANDBOX_FAILING, SANDBOX_MEMBERS};
        use crate::sandbox::SandboxAws;
        let aws = SandboxAws::demo("eu-west-1", std::time::Duration::ZERO)
            .with_fleet_pace(std::time::Duration::from_secs(5));
        let mut input = FleetInput::new(crate::core::validate::SetupInput::with_defaults(
            "111122223333",
            "eu-west-1",
        ));
        input.accounts = SANDBOX_MEMBERS.iter().map(|a| a.to_string()).collect();
        input.regions = vec!["eu-west-1".into()];
        let run = |planned: FleetPlanned| {
            let aws = &aws;
            async move {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let applied = apply(aws, &planned, &ApplyOptions::default(), &tx, "retry")
                    .await
                    .unwrap_or_else(|f| panic!("{:?}", f.error));
                drop(tx);
                let mut events = vec![];
                while let Some(e) = rx.recv().await {
                    if let Event::Instance {
                        account, status, ..
                    } = e
                    {
                        events.push(format!("{account} {status}"));
                    }
                }
                (applied, events)
            }
        };
        let planned = plan(&aws, &input)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        let (applied, events) = run(planned).await;
        assert_eq!(
            events,
            [
                "111111111111 RUNNING",
                "222222222222 PENDING",
                "333333333333 PENDING",
                "444444444444 PENDING",
                "111111111111 SUCCEEDED",
                "222222222222 RUNNING",
                "222222222222 SUCCEEDED",
                "333333333333 RUNNING",
                "333333333333 FAILED",
                "444444444444 CANCELLED",
            ]
        );
        let failed: Vec<(&str, &str)> = applied
            .failed
            .iter()
            .map(|f| (f.account.as_str(), f.status.as_str()))
            .collect();
        assert_eq!(
            failed,
            [(SANDBOX_FAILING, "FAILED"), ("444444444444", "CANCELLED")]
        );
        assert!(applied.failed[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("should have 'AWSCloudFormationStackSetExecutionRole' role"));
        assert_eq!(applied.operations[0].status, "FAILED");

        let planned = plan(&aws, &input)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        let retried: Vec<&str> = planned
            .plan
            .instances
            .iter()
            .filter(|i| i.action == Action::Update)
            .map(|i| i.target.as_str())
            .collect();
        assert_eq!(retried, [SANDBOX_FAILING, "444444444444"]);
        let (applied, events) = run(planned).await;
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        assert_eq!(
            events,
            [
                "333333333333 RUNNING",
                "444444444444 PENDING",
                "333333333333 SUCCEEDED",
                "444444444444 RUNNING",
                "444444444444 SUCCEEDED",
            ]
        );
        // The member without a read role says how to grant the read; the others are read.
        let st = status(&aws, &input_name(), &None, "OrganizationAccountAccessRole")
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        let granted: Vec<&str> = st
            .instances
            .iter()
            .filter(|i| i.grant.is_some())
            .map(|i| i.account.as_str())
            .collect();
        assert_eq!(granted, [crate::sandbox::fleet::SANDBOX_UNREADABLE]);
        let grant = st.instances[3].grant.as_ref().unwrap();
        assert_eq!(grant.trusted_account, crate::sandbox::SANDBOX_ACCOUNT);
        assert!(grant.commands[0].contains("--role-name OrganizationAccountAccessRole"));
        assert!(st.instances[..3].iter().all(|i| i.unreadable.is_none()));
    }

    fn input_name() -> String {
        crate::core::fleet::DEFAULT_STACK_SET_NAME.to_string()
    }

    /// Half the accounts at a time, regions one after another: two instances run together,
    /// and the second region waits for the first.
    #[tokio::test(start_paused = true)]
    async fn the_sandbox_respects_max_concurrency_and_sequential_regions() {
        use crate::sandbox::SandboxAws;
        let aws = SandboxAws::demo("eu-west-1", std::time::Duration::ZERO)
            .with_fleet_pace(std::time::Duration::from_secs(5));
        let mut input = FleetInput::new(crate::core::validate::SetupInput::with_defaults(
            "111122223333",
            "eu-west-1",
        ));
        input.accounts = vec!["111111111111".into(), "222222222222".into()];
        input.regions = vec!["eu-west-1".into(), "us-east-1".into()];
        input.max_concurrent_percentage = Some(100);
        input.sequential_regions = true;
        let planned = plan(&aws, &input)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let applied = apply(&aws, &planned, &ApplyOptions::default(), &tx, "retry")
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        drop(tx);
        assert!(applied.failed.is_empty());
        let mut running = std::collections::BTreeSet::new();
        let mut most = 0;
        let mut order = vec![];
        while let Some(e) = rx.recv().await {
            if let Event::Instance {
                account,
                region,
                status,
                ..
            } = e
            {
                match status.as_str() {
                    "RUNNING" => {
                        running.insert((account, region.clone()));
                        order.push(region);
                    }
                    "SUCCEEDED" => {
                        running.remove(&(account, region));
                    }
                    _ => {}
                }
                most = most.max(running.len());
            }
        }
        assert_eq!(most, 2, "both accounts of a region at once");
        assert_eq!(order, ["eu-west-1", "eu-west-1", "us-east-1", "us-east-1"]);
    }
}
