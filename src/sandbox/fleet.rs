//! The sandbox's organization for `fleet`: a few member accounts in one OU, each a simulated
//! account of its own, and stack sets whose instances are stacks deployed into them through
//! the same stack simulation as `--method cloudformation`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::aws::stacksets::{
    CallAs, Deployment, InstanceResult, OperationInfo, StackInstance, StackSetInfo, StackSetRequest,
};
use crate::aws::{Aws, AwsResult, StackRequest};

use super::{err, SandboxAws};

/// The sandbox organization (its management account is the sandbox's own, with StackSets'
/// trusted access enabled), its OU and member accounts (the last one has no read role).
pub const SANDBOX_ORG: &str = "o-echosandbox1";
pub const SANDBOX_OU: &str = "ou-echo-workloads1";
pub const SANDBOX_MEMBERS: [&str; 4] = [
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
];
/// A member whose read role is missing: `fleet status` shows it as unreadable.
pub const SANDBOX_UNREADABLE: &str = "444444444444";

#[derive(Default)]
pub(super) struct FleetSim {
    sets: BTreeMap<String, SimSet>,
    operations: BTreeMap<String, OperationInfo>,
    /// Member accounts, created on first use.
    accounts: BTreeMap<String, SandboxAws>,
    next_op: u64,
    /// Operations polled once already (the first poll sees them in flight).
    polled: std::collections::BTreeSet<String>,
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

    fn record(&self, results: Vec<InstanceResult>) -> String {
        let mut g = self.global.lock().unwrap();
        g.fleet.next_op += 1;
        let id = format!("sandbox-op-{}", g.fleet.next_op);
        let failed = results.iter().any(|r| r.status == "FAILED");
        g.fleet.operations.insert(
            id.clone(),
            OperationInfo {
                id: id.clone(),
                status: if failed { "FAILED" } else { "SUCCEEDED" }.into(),
                reason: None,
                results,
            },
        );
        id
    }

    /// Deploys (or updates) the set's stack in each target, recording each instance.
    async fn deploy(&self, name: &str, targets: Vec<(String, String)>, update: bool) -> String {
        let req = {
            let g = self.global.lock().unwrap();
            match g.fleet.sets.get(name) {
                Some(s) => s.req.clone(),
                None => return self.record(vec![]),
            }
        };
        let stack = StackRequest {
            name: stack_name(name),
            template_body: req.template_body.clone(),
            parameters: req.parameters.clone(),
            secret_parameters: vec![],
            tags: req.tags.clone(),
        };
        let runs = targets.iter().map(|(account, region)| {
            let member = self.member(account, region);
            let stack = stack.clone();
            async move {
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
                    && end.as_ref().is_some_and(|s| {
                        s.status == "CREATE_COMPLETE" || s.status == "UPDATE_COMPLETE"
                    });
                let reason = if ok {
                    None
                } else {
                    let events = member.stack_events(&stack.name).await.unwrap_or_default();
                    Some(
                        events
                            .iter()
                            .find(|e| e.status.ends_with("_FAILED"))
                            .and_then(|e| e.reason.clone())
                            .or_else(|| started.err().map(|e| e.message))
                            .unwrap_or_else(|| "the stack did not complete".into()),
                    )
                };
                InstanceResult {
                    account: account.clone(),
                    region: region.clone(),
                    status: if ok { "SUCCEEDED" } else { "FAILED" }.into(),
                    reason,
                }
            }
        });
        let results = futures::future::join_all(runs).await;
        {
            let mut g = self.global.lock().unwrap();
            if let Some(set) = g.fleet.sets.get_mut(name) {
                for r in &results {
                    let ok = r.status == "SUCCEEDED";
                    set.instances.insert(
                        (r.account.clone(), r.region.clone()),
                        StackInstance {
                            account: r.account.clone(),
                            region: r.region.clone(),
                            status: if ok { "CURRENT" } else { "OUTDATED" }.into(),
                            detailed_status: Some(r.status.clone()),
                            status_reason: r.reason.clone(),
                            org_unit: None,
                        },
                    );
                }
            }
        }
        self.record(results)
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
        self.call("UpdateStackSet", "cloudformation:UpdateStackSet")
            .await?;
        {
            let mut g = self.global.lock().unwrap();
            let set = g
                .fleet
                .sets
                .get_mut(&req.name)
                .ok_or_else(|| not_found("cloudformation:UpdateStackSet", &req.name))?;
            set.req = req.clone();
        }
        Ok(self.deploy(&req.name, self.targets(to), true).await)
    }

    pub(super) async fn sim_create_stack_instances(
        &self,
        name: &str,
        to: &Deployment,
        _c: &CallAs,
    ) -> AwsResult<String> {
        self.call(
            "CreateStackInstances",
            "cloudformation:CreateStackInstances",
        )
        .await?;
        if !self.global.lock().unwrap().fleet.sets.contains_key(name) {
            return Err(not_found("cloudformation:CreateStackInstances", name));
        }
        Ok(self.deploy(name, self.targets(to), false).await)
    }

    pub(super) async fn sim_delete_stack_instances(
        &self,
        name: &str,
        from: &Deployment,
        retain: bool,
        _c: &CallAs,
    ) -> AwsResult<String> {
        self.call(
            "DeleteStackInstances",
            "cloudformation:DeleteStackInstances",
        )
        .await?;
        let targets = self.targets(from);
        let mut results = vec![];
        for (account, region) in targets {
            if !retain {
                let _ = self
                    .member(&account, &region)
                    .delete_stack(&stack_name(name))
                    .await;
            }
            if let Some(set) = self.global.lock().unwrap().fleet.sets.get_mut(name) {
                set.instances.remove(&(account.clone(), region.clone()));
            }
            results.push(InstanceResult {
                account,
                region,
                status: "SUCCEEDED".into(),
                reason: None,
            });
        }
        Ok(self.record(results))
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

    /// Operations not polled yet are still in flight (see sim_stack_set_operation).
    pub(super) async fn sim_running_operations(
        &self,
        _name: &str,
        _c: &CallAs,
    ) -> AwsResult<Vec<String>> {
        self.call(
            "ListStackSetOperations",
            "cloudformation:ListStackSetOperations",
        )
        .await?;
        let g = self.global.lock().unwrap();
        Ok(g.fleet
            .operations
            .keys()
            .filter(|id| !g.fleet.polled.contains(*id))
            .cloned()
            .collect())
    }

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
        let mut g = self.global.lock().unwrap();
        let op = g.fleet.operations.get(id).cloned().ok_or_else(|| {
            err(
                "cloudformation:DescribeStackSetOperation",
                "OperationNotFoundException",
                &format!("operation {id} not found"),
            )
        })?;
        // In flight at its first poll, as in AWS: the first instance running, the rest pending.
        if g.fleet.polled.insert(id.to_string()) {
            let results = op
                .results
                .iter()
                .enumerate()
                .map(|(i, r)| InstanceResult {
                    status: if i == 0 { "RUNNING" } else { "PENDING" }.into(),
                    reason: None,
                    ..r.clone()
                })
                .collect();
            return Ok(OperationInfo {
                status: "RUNNING".into(),
                results,
                ..op
            });
        }
        Ok(op)
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
