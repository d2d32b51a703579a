//! The sandbox's organization for `fleet`: a few member accounts in one OU, each a simulated
//! account of its own, and stack sets whose instances are stacks deployed into them through
//! the same stack simulation as `--method cloudformation`.
//!
//! Operations run over simulated time as StackSets runs them: each region's accounts in
//! waves of the operation's max concurrency (rounded down, at least one), regions at once or
//! one after another, each wave taking `pace` after the one before; a region whose failures pass the failure
//! tolerance stops there and cancels the rest. Polls see each instance pending, running,
//! then its result, so progress changes instance by instance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::aws::stacksets::{
    CallAs, Deployment, InstanceResult, OperationInfo, OperationPrefs, Permission, StackInstance,
    StackSetInfo, StackSetRequest,
};
use crate::aws::{Aws, AwsResult, StackRequest};

use super::{err, SandboxAws};

/// The sandbox organization (its management account is the sandbox's own, with StackSets'
/// trusted access enabled), its OU and member accounts.
pub const SANDBOX_ORG: &str = "o-echosandbox1";
pub const SANDBOX_OU: &str = "ou-echo-workloads1";
pub const SANDBOX_MEMBERS: [&str; 4] = [
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
];
/// A member whose read role is missing: `fleet status` shows it as unreadable, with how to
/// grant the read.
pub const SANDBOX_UNREADABLE: &str = "444444444444";
/// A member whose first deployment in each region fails (its StackSets execution role is
/// missing, then made), so the failure and its retry can be tried.
pub const SANDBOX_FAILING: &str = "333333333333";
/// How long one wave of instances takes in the demo (a real one takes about a minute): a
/// little more than the TUI's poll interval, so each wave is seen running.
pub const DEMO_PACE: Duration = Duration::from_millis(2500);

/// StackSets' reason for instances not attempted once a region passed its failure tolerance.
const CANCELLED_REASON: &str = "Cancelled since failure tolerance has exceeded";

#[derive(Default)]
pub(super) struct FleetSim {
    sets: BTreeMap<String, SimSet>,
    operations: BTreeMap<String, SimOp>,
    /// Member accounts, created on first use.
    accounts: BTreeMap<String, SandboxAws>,
    next_op: u64,
    /// Simulated time one wave of an operation takes (zero: every wave is due at once).
    pub(super) pace: Duration,
    /// The failing member's regions that failed once already (their retry succeeds).
    failed_once: std::collections::BTreeSet<(String, String)>,
}

impl std::fmt::Debug for FleetSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSim")
            .field("sets", &self.sets.keys().collect::<Vec<_>>())
            .field("accounts", &self.accounts.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct SimSet {
    req: StackSetRequest,
    instances: BTreeMap<(String, String), StackInstance>,
}

#[derive(Clone, Copy)]
enum Work {
    Deploy { update: bool },
    Delete { retain: bool },
}

/// An operation in flight: its instances (in the order StackSets works through them), the
/// wave each one runs in, and how far simulated time has got.
struct SimOp {
    set: String,
    work: Work,
    /// When the wave now running began (the previous one's work done): each wave takes the
    /// pace from there, so each is seen running even when deploying takes real time too.
    wave_started: Instant,
    prefs: OperationPrefs,
    results: Vec<InstanceResult>,
    waves: Vec<usize>,
    /// Waves finished.
    done: usize,
    status: String,
}

impl SimOp {
    fn info(&self, id: &str) -> OperationInfo {
        OperationInfo {
            id: id.to_string(),
            status: self.status.clone(),
            reason: None,
            results: self.results.clone(),
        }
    }
    fn total_waves(&self) -> usize {
        self.waves.iter().map(|w| w + 1).max().unwrap_or(0)
    }
}

/// Each target's wave: per region, its accounts `max concurrent` at a time (percentage of the
/// region's accounts, rounded down, at least one); regions side by side or one after another.
fn schedule(targets: &[(String, String)], prefs: &OperationPrefs) -> Vec<usize> {
    let mut regions: Vec<&str> = vec![];
    for (_, r) in targets {
        if !regions.contains(&r.as_str()) {
            regions.push(r);
        }
    }
    let mut waves = vec![0; targets.len()];
    let mut offset = 0;
    for region in regions {
        let at: Vec<usize> = (0..targets.len())
            .filter(|i| targets[*i].1 == region)
            .collect();
        let per_wave = (at.len() * prefs.max_concurrent_percentage as usize / 100).max(1);
        for (n, i) in at.iter().enumerate() {
            waves[*i] = offset + n / per_wave;
        }
        if !prefs.parallel_regions {
            offset += at.len().div_ceil(per_wave);
        }
    }
    waves
}

fn stack_name(set: &str) -> String {
    format!("StackSet-{set}")
}

fn not_found(action: &str, name: &str) -> crate::aws::AwsError {
    err(
        action,
        "StackSetNotFoundException",
        &format!("StackSet {name} not found"),
    )
}

impl SandboxAws {
    /// The same sandbox with StackSets operations taking `pace` per wave of instances.
    pub fn with_fleet_pace(self, pace: Duration) -> Self {
        self.global.lock().unwrap().fleet.pace = pace;
        self
    }

    /// The member account's simulated account in `region` (made on first use).
    fn member(&self, account: &str, region: &str) -> SandboxAws {
        let mut g = self.global.lock().unwrap();
        g.fleet
            .accounts
            .entry(account.to_string())
            .or_insert_with(|| SandboxAws::empty(region).with_latency(self.latency))
            .region_view(region)
    }

    fn targets(&self, d: &Deployment) -> Vec<(String, String)> {
        let accounts: Vec<String> = if d.org_units.is_empty() {
            d.accounts.clone()
        } else if d
            .org_units
            .iter()
            .any(|o| o == SANDBOX_OU || o.starts_with("r-"))
        {
            SANDBOX_MEMBERS.iter().map(|a| a.to_string()).collect()
        } else {
            vec![]
        };
        accounts
            .iter()
            .flat_map(|a| d.regions.iter().map(move |r| (a.clone(), r.clone())))
            .collect()
    }

    /// Starts an operation over `targets`: every instance pending, none worked on yet.
    fn start(
        &self,
        set: &str,
        work: Work,
        targets: Vec<(String, String)>,
        prefs: OperationPrefs,
    ) -> String {
        let mut g = self.global.lock().unwrap();
        g.fleet.next_op += 1;
        let id = format!("sandbox-op-{}", g.fleet.next_op);
        let waves = schedule(&targets, &prefs);
        let results: Vec<InstanceResult> = targets
            .into_iter()
            .map(|(account, region)| InstanceResult {
                account,
                region,
                status: "PENDING".into(),
                reason: None,
            })
            .collect();
        // A deployment's instances exist from the start, outdated until their stack is done.
        if let (Work::Deploy { .. }, Some(s)) = (work, g.fleet.sets.get_mut(set)) {
            for r in &results {
                let inst = s
                    .instances
                    .entry((r.account.clone(), r.region.clone()))
                    .or_insert_with(|| StackInstance {
                        account: r.account.clone(),
                        region: r.region.clone(),
                        status: "OUTDATED".into(),
                        detailed_status: None,
                        status_reason: None,
                        org_unit: None,
                    });
                inst.detailed_status = Some("PENDING".into());
            }
        }
        let op = SimOp {
            set: set.to_string(),
            work,
            wave_started: Instant::now(),
            prefs,
            results,
            waves,
            done: 0,
            status: "RUNNING".into(),
        };
        g.fleet.operations.insert(id.clone(), op);
        id
    }

    /// Moves an operation on to the current simulated time: each wave whose time is up is
    /// worked through (stacks deployed or deleted in the member accounts), the next wave runs.
    async fn advance(&self, id: &str) {
        loop {
            let (set, work, wave, due) = {
                let g = self.global.lock().unwrap();
                let Some(op) = g.fleet.operations.get(id) else {
                    return;
                };
                if op.status != "RUNNING" {
                    return;
                }
                let due = op.wave_started + g.fleet.pace;
                (op.set.clone(), op.work, op.done, due)
            };
            if Instant::now() < due {
                break;
            }
            let targets: Vec<(usize, String, String)> = {
                let g = self.global.lock().unwrap();
                let op = &g.fleet.operations[id];
                (0..op.results.len())
                    .filter(|i| op.waves[*i] == wave && op.results[*i].status != "CANCELLED")
                    .map(|i| {
                        (
                            i,
                            op.results[i].account.clone(),
                            op.results[i].region.clone(),
                        )
                    })
                    .collect()
            };
            // A wave's instances are worked on at once, as StackSets does.
            let outcomes = futures::future::join_all(targets.iter().map(|(i, account, region)| {
                let set = &set;
                async move {
                    let outcome = match work {
                        Work::Deploy { update } => {
                            self.deploy_one(set, account, region, update).await
                        }
                        Work::Delete { retain } => {
                            self.delete_one(set, account, region, retain).await;
                            None
                        }
                    };
                    (*i, outcome)
                }
            }))
            .await;
            self.finish_wave(id, outcomes);
        }
        // The wave now due is running; those after it wait.
        let mut g = self.global.lock().unwrap();
        let fleet = &mut g.fleet;
        let Some(op) = fleet.operations.get_mut(id) else {
            return;
        };
        for (i, r) in op.results.iter_mut().enumerate() {
            if r.status == "PENDING" && op.waves[i] == op.done {
                r.status = "RUNNING".into();
            }
        }
        if let (Work::Deploy { .. }, Some(s)) = (op.work, fleet.sets.get_mut(&op.set)) {
            for r in op.results.iter().filter(|r| r.status == "RUNNING") {
                if let Some(inst) = s.instances.get_mut(&(r.account.clone(), r.region.clone())) {
                    inst.detailed_status = Some("RUNNING".into());
                }
            }
        }
    }

    /// Records a finished wave (`None`: succeeded, `Some(reason)`: failed); a region past its
    /// failure tolerance cancels what is left of it (and, one region at a time, the regions
    /// after it); the last wave ends the operation.
    fn finish_wave(&self, id: &str, outcomes: Vec<(usize, Option<String>)>) {
        let mut g = self.global.lock().unwrap();
        let fleet = &mut g.fleet;
        let op = fleet.operations.get_mut(id).expect("advanced above");
        let wave = op.done;
        for (i, outcome) in outcomes {
            let r = &mut op.results[i];
            r.status = if outcome.is_some() {
                "FAILED"
            } else {
                "SUCCEEDED"
            }
            .into();
            r.reason = outcome;
        }
        let mut stopped_at = None;
        let regions: Vec<String> = op.results.iter().map(|r| r.region.clone()).collect();
        for region in &regions {
            let of_region = || op.results.iter().filter(|r| r.region == *region);
            let accounts = of_region().count();
            let tolerated = accounts * op.prefs.failure_tolerance_percentage as usize / 100;
            if of_region().filter(|r| r.status == "FAILED").count() > tolerated {
                for r in op
                    .results
                    .iter_mut()
                    .filter(|r| r.region == *region && r.status == "PENDING")
                {
                    r.status = "CANCELLED".into();
                    r.reason = Some(CANCELLED_REASON.into());
                }
                stopped_at.get_or_insert(wave);
            }
        }
        if stopped_at.is_some() && !op.prefs.parallel_regions {
            for (i, r) in op.results.iter_mut().enumerate() {
                if r.status == "PENDING" && op.waves[i] > wave {
                    r.status = "CANCELLED".into();
                    r.reason = Some(CANCELLED_REASON.into());
                }
            }
        }
        op.done += 1;
        op.wave_started = Instant::now();
        let finished = op.done >= op.total_waves()
            || op
                .results
                .iter()
                .all(|r| !matches!(r.status.as_str(), "PENDING" | "RUNNING"));
        if finished {
            op.status =
                if stopped_at.is_some() || op.results.iter().any(|r| r.status == "CANCELLED") {
                    "FAILED"
                } else {
                    "SUCCEEDED"
                }
                .into();
        }
        // The instances say what happened to them.
        if let (Work::Deploy { .. }, Some(s)) = (op.work, fleet.sets.get_mut(&op.set)) {
            for r in op
                .results
                .iter()
                .filter(|r| matches!(r.status.as_str(), "SUCCEEDED" | "FAILED" | "CANCELLED"))
            {
                if let Some(inst) = s.instances.get_mut(&(r.account.clone(), r.region.clone())) {
                    let ok = r.status == "SUCCEEDED";
                    inst.status = if ok { "CURRENT" } else { "OUTDATED" }.into();
                    inst.detailed_status = Some(r.status.clone());
                    inst.status_reason = r.reason.clone();
                }
            }
        }
    }

    /// Deploys (or updates) the set's stack in one target: `Some(reason)` when it failed.
    async fn deploy_one(
        &self,
        name: &str,
        account: &str,
        region: &str,
        update: bool,
    ) -> Option<String> {
        let req = {
            let mut g = self.global.lock().unwrap();
            if account == SANDBOX_FAILING
                && g.fleet
                    .failed_once
                    .insert((account.to_string(), region.to_string()))
            {
                let req = g.fleet.sets.get(name).map(|s| s.req.clone());
                return Some(match req.map(|r| r.permission) {
                    Some(Permission::SelfManaged { admin_role_arn, execution_role_name }) => format!(
                        "Account {account} should have '{execution_role_name}' role with trust relationship to Role '{}'.",
                        admin_role_arn.rsplit('/').next().unwrap_or_default()
                    ),
                    _ => format!("ResourceLogicalId:{}, ResourceType:AWS::IAM::Role, ResourceStatusReason:Rate exceeded (Service: Iam, Status Code: 400).", crate::cfn::ROLE_LOGICAL_ID),
                });
            }
            g.fleet.sets.get(name)?.req.clone()
        };
        let stack = StackRequest {
            name: stack_name(name),
            template_body: req.template_body.clone(),
            parameters: req.parameters.clone(),
            secret_parameters: vec![],
            tags: req.tags.clone(),
        };
        let member = self.member(account, region);
        let existing = member.describe_stack(&stack.name).await.ok().flatten();
        let started = match (&existing, update) {
            (Some(_), true) => match member.update_stack(&stack).await {
                Err(e) if e.message.contains("No updates") => Ok(()),
                other => other,
            },
            (Some(_), false) => Ok(()),
            (None, _) => member.create_stack(&stack).await,
        };
        let end = member.describe_stack(&stack.name).await.ok().flatten();
        let ok = started.is_ok()
            && end
                .as_ref()
                .is_some_and(|s| s.status == "CREATE_COMPLETE" || s.status == "UPDATE_COMPLETE");
        if ok {
            return None;
        }
        let events = member.stack_events(&stack.name).await.unwrap_or_default();
        Some(
            events
                .iter()
                .find(|e| e.status.ends_with("_FAILED"))
                .and_then(|e| e.reason.clone())
                .or_else(|| started.err().map(|e| e.message))
                .unwrap_or_else(|| "the stack did not complete".into()),
        )
    }

    /// Deletes (or detaches) one target's instance.
    async fn delete_one(&self, name: &str, account: &str, region: &str, retain: bool) {
        if !retain {
            let _ = self
                .member(account, region)
                .delete_stack(&stack_name(name))
                .await;
        }
        if let Some(set) = self.global.lock().unwrap().fleet.sets.get_mut(name) {
            set.instances
                .remove(&(account.to_string(), region.to_string()));
        }
    }

    /// Every operation still in flight, moved on to now.
    async fn advance_all(&self) {
        let running: Vec<String> = {
            let g = self.global.lock().unwrap();
            g.fleet
                .operations
                .iter()
                .filter(|(_, o)| o.status == "RUNNING")
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in running {
            self.advance(&id).await;
        }
    }

    /// StackSets refuses a second operation while one runs.
    fn refuse_if_running(&self, name: &str, action: &str) -> AwsResult<()> {
        let g = self.global.lock().unwrap();
        match g
            .fleet
            .operations
            .iter()
            .find(|(_, o)| o.set == name && o.status == "RUNNING")
        {
            Some((id, _)) => Err(err(
                action,
                "OperationInProgressException",
                &format!("Another Operation on StackSet {name} is in progress: {id}"),
            )),
            None => Ok(()),
        }
    }

    pub(super) async fn sim_describe_stack_set(
        &self,
        name: &str,
        _c: &CallAs,
    ) -> AwsResult<Option<StackSetInfo>> {
        self.call("DescribeStackSet", "cloudformation:DescribeStackSet")
            .await?;
        let g = self.global.lock().unwrap();
        Ok(g.fleet.sets.get(name).map(|s| StackSetInfo {
            name: name.to_string(),
            status: "ACTIVE".into(),
            template_body: s.req.template_body.clone(),
            parameters: s.req.parameters.iter().cloned().collect(),
            permission: s.req.permission.clone(),
        }))
    }

    pub(super) async fn sim_list_stack_instances(
        &self,
        name: &str,
        _c: &CallAs,
    ) -> AwsResult<Vec<StackInstance>> {
        self.call("ListStackInstances", "cloudformation:ListStackInstances")
            .await?;
        self.advance_all().await;
        let g = self.global.lock().unwrap();
        let set = g
            .fleet
            .sets
            .get(name)
            .ok_or_else(|| not_found("cloudformation:ListStackInstances", name))?;
        Ok(set.instances.values().cloned().collect())
    }

    pub(super) async fn sim_create_stack_set(&self, req: &StackSetRequest) -> AwsResult<()> {
        self.call("CreateStackSet", "cloudformation:CreateStackSet")
            .await?;
        let mut g = self.global.lock().unwrap();
        if g.fleet.sets.contains_key(&req.name) {
            return Err(err(
                "cloudformation:CreateStackSet",
                "NameAlreadyExistsException",
                &format!("StackSet {} already exists", req.name),
            ));
        }
        g.fleet.sets.insert(
            req.name.clone(),
            SimSet {
                req: req.clone(),
                instances: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub(super) async fn sim_update_stack_set(
        &self,
        req: &StackSetRequest,
        to: &Deployment,
    ) -> AwsResult<String> {
        let action = "cloudformation:UpdateStackSet";
        self.call("UpdateStackSet", action).await?;
        self.advance_all().await;
        self.refuse_if_running(&req.name, action)?;
        {
            let mut g = self.global.lock().unwrap();
            let set = g
                .fleet
                .sets
                .get_mut(&req.name)
                .ok_or_else(|| not_found(action, &req.name))?;
            set.req = req.clone();
        }
        let work = Work::Deploy { update: true };
        Ok(self.start(&req.name, work, self.targets(to), to.prefs))
    }

    pub(super) async fn sim_create_stack_instances(
        &self,
        name: &str,
        to: &Deployment,
        _c: &CallAs,
    ) -> AwsResult<String> {
        let action = "cloudformation:CreateStackInstances";
        self.call("CreateStackInstances", action).await?;
        self.advance_all().await;
        if !self.global.lock().unwrap().fleet.sets.contains_key(name) {
            return Err(not_found(action, name));
        }
        self.refuse_if_running(name, action)?;
        let work = Work::Deploy { update: false };
        Ok(self.start(name, work, self.targets(to), to.prefs))
    }

    pub(super) async fn sim_delete_stack_instances(
        &self,
        name: &str,
        from: &Deployment,
        retain: bool,
        _c: &CallAs,
    ) -> AwsResult<String> {
        let action = "cloudformation:DeleteStackInstances";
        self.call("DeleteStackInstances", action).await?;
        self.advance_all().await;
        if !self.global.lock().unwrap().fleet.sets.contains_key(name) {
            return Err(not_found(action, name));
        }
        self.refuse_if_running(name, action)?;
        let work = Work::Delete { retain };
        Ok(self.start(name, work, self.targets(from), from.prefs))
    }

    pub(super) async fn sim_delete_stack_set(&self, name: &str, _c: &CallAs) -> AwsResult<()> {
        self.call("DeleteStackSet", "cloudformation:DeleteStackSet")
            .await?;
        let mut g = self.global.lock().unwrap();
        match g.fleet.sets.get(name) {
            Some(s) if !s.instances.is_empty() => Err(err(
                "cloudformation:DeleteStackSet",
                "StackSetNotEmptyException",
                "StackSet is not empty",
            )),
            Some(_) => {
                g.fleet.sets.remove(name);
                Ok(())
            }
            None => Err(not_found("cloudformation:DeleteStackSet", name)),
        }
    }

    /// The stack set's operations still in flight.
    pub(super) async fn sim_running_operations(
        &self,
        name: &str,
        _c: &CallAs,
    ) -> AwsResult<Vec<String>> {
        self.call(
            "ListStackSetOperations",
            "cloudformation:ListStackSetOperations",
        )
        .await?;
        self.advance_all().await;
        let g = self.global.lock().unwrap();
        Ok(g.fleet
            .operations
            .iter()
            .filter(|(_, o)| o.set == name && o.status == "RUNNING")
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// DescribeStackSetOperation with ListStackSetOperationResults: the operation as of now.
    pub(super) async fn sim_stack_set_operation(
        &self,
        _name: &str,
        id: &str,
        _c: &CallAs,
    ) -> AwsResult<OperationInfo> {
        self.call(
            "DescribeStackSetOperation",
            "cloudformation:DescribeStackSetOperation",
        )
        .await?;
        self.advance(id).await;
        let g = self.global.lock().unwrap();
        g.fleet
            .operations
            .get(id)
            .map(|o| o.info(id))
            .ok_or_else(|| {
                err(
                    "cloudformation:DescribeStackSetOperation",
                    "OperationNotFoundException",
                    &format!("operation {id} not found"),
                )
            })
    }

    pub(super) async fn sim_for_account(
        &self,
        account: &str,
        role_name: &str,
        region: &str,
    ) -> AwsResult<Arc<dyn Aws>> {
        self.call("AssumeRole", "sts:AssumeRole").await?;
        // Members are the organization's accounts, and any account a stack set deployed to.
        let member = SANDBOX_MEMBERS.contains(&account)
            || self
                .global
                .lock()
                .unwrap()
                .fleet
                .accounts
                .contains_key(account);
        if !member || account == SANDBOX_UNREADABLE {
            return Err(err(
                "sts:AssumeRole",
                "AccessDenied",
                &format!("not authorized to perform sts:AssumeRole on arn:aws:iam::{account}:role/{role_name}"),
            ));
        }
        Ok(Arc::new(self.member(account, region)))
    }
}
