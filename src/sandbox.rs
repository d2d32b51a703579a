//! An in-process simulated AWS account behind the same [`Aws`] trait: a fake identity, a
//! couple of existing rules and cached repositories with pull counts, realistic latency, and
//! the validation errors AWS gives. Lets anyone try the whole flow with no AWS account, and
//! serves as the fast in-process double in engine tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::aws::errors::ErrorContext;
use crate::aws::{
    Aws, AwsError, AwsResult, ChangeSetInfo, NewRule, RepoSummary, SecretCheck, StackEvent,
    StackInfo, StackRequest, Validation,
};
use crate::core::cache::{CreationTemplate, ScanningConfig};
use crate::core::model::{
    CacheRule, Identity, ImageInfo, ManagedBy, ObservedRole, ObservedSecret, RepoSettings,
    PULL_DAYS,
};
use crate::core::policy;
use crate::core::upstream::{Token, UpstreamKind};
use crate::core::validate::RepoPrefix;

pub mod fleet;
mod model;
mod upstream_stack;

pub const SANDBOX_ACCOUNT: &str = "210987654321";
/// The region the sandbox pretends to be in unless --region says otherwise.
pub const SANDBOX_REGION: &str = "eu-west-1";
/// The Echo account id to type in the sandbox (any other 12 digits work too).
pub const SANDBOX_ECHO_ACCOUNT: &str = "111122223333";
/// Prefixes starting with this are denied to the sandbox's user: creating their rule is
/// AccessDenied (as an IAM policy scoped to repository prefixes would), after the role was
/// made, so the apply's rollback can be tried.
pub const SANDBOX_DENIED_PREFIX: &str = "denied";

#[derive(Debug, Clone)]
struct Repo {
    created_at: DateTime<Utc>,
    /// What its creation template tagged it with (the cache applies the template's tags).
    tags: BTreeMap<String, String>,
    settings: RepoSettings,
    images: Vec<ImageInfo>,
    /// Pulls per day over the last 30 days, oldest first.
    pulls_by_day: Vec<u64>,
}

/// `total` pulls spread over 30 days in a steady, uneven pattern (weekdays busier, growing
/// towards today), so the sandbox's charts look like an account's.
fn spread(total: u64) -> Vec<u64> {
    let weights: Vec<u64> = (0..PULL_DAYS as u64)
        .map(|d| (3 + d / 6) * if d % 7 >= 5 { 1 } else { 3 })
        .collect();
    let sum: u64 = weights.iter().sum();
    let mut out: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let rest = total - out.iter().sum::<u64>();
    if let Some(last) = out.last_mut() {
        *last += rest;
    }
    out
}

#[derive(Debug, Default)]
/// What one region of the account holds (IAM roles are global: see [`Global`]).
struct State {
    rules: BTreeMap<String, CacheRule>,
    repos: BTreeMap<String, Repo>,
    /// Operations that fail next with (code, message), for demos and tests.
    faults: HashMap<String, (String, String)>,
    /// Validations still to answer "not assumable yet", as while IAM propagates a new role.
    unpropagated: u32,
    stacks: BTreeMap<String, SandboxStack>,
    change_sets: BTreeMap<String, ChangeSetInfo>,
    /// What each change set runs (ExecuteChangeSet): the request, whether it creates the
    /// stack, and the stack's event count when it was made (a later change makes it OBSOLETE).
    change_set_runs: BTreeMap<String, (StackRequest, bool, usize)>,
    next_id: u64,
    templates: BTreeMap<String, CreationTemplate>,
    scanning: ScanningConfig,
    pull_time_exclusions: std::collections::BTreeSet<String>,
    /// Secrets Manager, by secret name.
    secrets: BTreeMap<String, SandboxSecret>,
}

/// A secret: its value's versions (id, JSON), the last one current.
#[derive(Debug, Clone)]
struct SandboxSecret {
    arn: String,
    versions: Vec<(String, String)>,
    current: String,
    tags: BTreeMap<String, String>,
    deleted_at: Option<DateTime<Utc>>,
}

impl SandboxSecret {
    fn value(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|(id, _)| *id == self.current)
            .map(|(_, v)| v.as_str())
    }
}

/// The name of the secret `id` names (by name or ARN), as Secrets Manager resolves it.
fn secret_name_of(s: &State, id: &str) -> Option<String> {
    s.secrets
        .iter()
        .find(|(name, sec)| *name == id || sec.arn == id)
        .map(|(name, _)| name.clone())
}

fn find_secret<'a>(s: &'a mut State, id: &str) -> Option<&'a mut SandboxSecret> {
    let name = secret_name_of(s, id)?;
    s.secrets.get_mut(&name)
}

fn no_secret(action: &str, id: &str) -> AwsError {
    err(
        action,
        "ResourceNotFoundException",
        &format!("Secrets Manager can't find the specified secret: {id}"),
    )
}

/// A CloudFormation stack simulated from assets/template.yaml.
#[derive(Debug, Clone)]
struct SandboxStack {
    id: String,
    name: String,
    status: String,
    parameters: Vec<(String, String)>,
    /// The NoEcho token parameter (upstream stacks), never shown by DescribeStacks.
    token: Option<Token>,
    outputs: BTreeMap<String, String>,
    /// Oldest first.
    events: Vec<StackEvent>,
    tags: BTreeMap<String, String>,
    /// Physical ids of resources it holds beyond those its parameters name (a stack made
    /// outside the simulation's templates).
    holds: Vec<String>,
    /// Its template leaves the rule out (the first of the two updates that replace the rule
    /// under the same prefix).
    without_rule: bool,
}

impl SandboxStack {
    /// The physical ids of its resources, as `DescribeStackResources` matches them.
    fn physical_ids(&self, region: &str) -> Vec<String> {
        let mut out = self.holds.clone();
        if let Some(prefix) = param(&self.parameters, "RepositoryNamePrefix") {
            out.push(prefix.to_string());
        }
        if stack_kind(&self.parameters) == crate::cfn::Kind::Echo {
            out.push(crate::cfn::stack_role_name(
                param(&self.parameters, "RoleName")
                    .unwrap_or(crate::core::validate::DEFAULT_ROLE_NAME),
                region,
            ));
        }
        out
    }
}

/// What the whole account holds: IAM roles, and every region's state.
#[derive(Debug, Default)]
struct Global {
    roles: BTreeMap<String, ObservedRole>,
    regions: BTreeMap<String, Arc<Mutex<State>>>,
    /// The simulated organization's stack sets and member accounts.
    fleet: fleet::FleetSim,
}

/// The simulated account seen from one region; [`Aws::in_region`] gives the same account in
/// another region (rules, repositories and stacks are regional, roles are shared).
pub struct SandboxAws {
    state: Arc<Mutex<State>>,
    global: Arc<Mutex<Global>>,
    latency: Duration,
    region: String,
}

/// Images Echo's registry has in the sandbox (any tag).
pub const SANDBOX_CATALOG: &[&str] = &[
    "nginx", "python", "node", "postgres", "redis", "busybox", "alpine", "golang",
];

/// A workload to warm in the sandbox: Echo's images when the region has an Echo rule, Docker
/// Hub's through the demo's rule, one image missing upstream, one pinned to a digest its tag no
/// longer names, one pinned by digest only, and one from a registry no rule covers.
pub fn sample_workload(rules: &[CacheRule]) -> String {
    // The digest the demo's cached postgres:16 has (see `demo`), so the pin below is stale.
    let postgres_now = image("16", 152_000_000, 20, None).digest;
    let moved = format!("sha256:{}", "5e".repeat(32));
    debug_assert_ne!(postgres_now, moved);
    let mut containers = vec![
        ("web".to_string(), "nginx:1.27".to_string()),
        ("cache".into(), "redis:7.2".into()),
        ("db".into(), format!("postgres:16@{moved}")),
        (
            "tools".into(),
            format!("busybox@sha256:{}", "b0".repeat(32)),
        ),
        ("worker".into(), "absent-tool:1.0".into()),
        ("proxy".into(), "gcr.io/distroless/static:nonroot".into()),
    ];
    if let Some(echo) = rules.iter().find(|r| r.upstream_registry == "ecr") {
        containers.insert(
            0,
            ("api".into(), format!("{}/python:3.12", echo.upstream_url)),
        );
        containers.insert(1, ("ui".into(), format!("{}/node:22", echo.upstream_url)));
    }
    let list: String = containers
        .iter()
        .map(|(name, image)| format!("        - name: {name}\n          image: {image}\n"))
        .collect();
    format!(
        "# The sandbox's sample workload (as `helm template` renders it).\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  template:\n    spec:\n      containers:\n{list}"
    )
}

fn err(action: &str, code: &str, message: &str) -> AwsError {
    AwsError::service(
        action,
        code,
        message,
        &ErrorContext {
            identity_arn: Some(sandbox_identity().arn),
            ..Default::default()
        },
    )
}

fn sandbox_identity() -> Identity {
    Identity {
        account: SANDBOX_ACCOUNT.into(),
        arn: format!("arn:aws:sts::{SANDBOX_ACCOUNT}:assumed-role/PlatformAdmin/sandbox-user"),
    }
}

fn image(tag: &str, size: u64, days_ago: i64, pulled_hours_ago: Option<i64>) -> ImageInfo {
    let now = Utc::now();
    ImageInfo {
        digest: format!("sha256:{:064x}", size * 7919 + days_ago as u64),
        tags: vec![tag.to_string()],
        size_bytes: size,
        pushed_at: Some(now - chrono::Duration::days(days_ago)),
        last_pulled_at: pulled_hours_ago.map(|h| now - chrono::Duration::hours(h)),
        archived: false,
    }
}

impl SandboxAws {
    /// The demo account: two rules made by others, with cached repositories and pull counts.
    pub fn demo(region: &str, latency: Duration) -> Self {
        let now = Utc::now();
        let mut s = State::default();
        for (prefix, registry, url, cred) in [
            ("docker-hub", "docker-hub", "registry-1.docker.io", true),
            ("ecr-public", "ecr-public", "public.ecr.aws", false),
        ] {
            s.rules.insert(prefix.into(), CacheRule {
                prefix: prefix.into(),
                upstream_registry: registry.into(),
                upstream_url: url.into(),
                upstream_prefix: "ROOT".into(),
                role_arn: None,
                credential_arn: cred.then(|| format!("arn:aws:secretsmanager:{region}:{SANDBOX_ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf")),
                created_at: Some(now - chrono::Duration::days(120)),
                managed_by: ManagedBy::Other,
                owner_proof: String::new(),
            });
        }
        // The docker-hub rule's credential: someone else's secret (not tagged by the tool).
        s.secrets.insert(
            "ecr-pullthroughcache/docker-hub".into(),
            SandboxSecret {
                arn: format!("arn:aws:secretsmanager:{region}:{SANDBOX_ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf"),
                versions: vec![(
                    "v0".into(),
                    r#"{"username":"platform-bot","accessToken":"sandbox-token"}"#.into(),
                )],
                current: "v0".into(),
                tags: BTreeMap::new(),
                deleted_at: None,
            },
        );
        let repos = [
            (
                "docker-hub/library/nginx",
                vec![
                    image("1.27", 71_000_000, 40, Some(2)),
                    image("1.25", 68_000_000, 90, Some(300)),
                ],
                1520,
            ),
            (
                "docker-hub/library/redis",
                vec![image("7.2", 45_000_000, 60, Some(26))],
                310,
            ),
            (
                "docker-hub/library/postgres",
                vec![image("16", 152_000_000, 20, None)],
                0,
            ),
            (
                "ecr-public/aws-cli/aws-cli",
                vec![image("2.17", 130_000_000, 12, Some(5))],
                88,
            ),
        ];
        for (name, images, pulls) in repos {
            s.repos.insert(
                name.into(),
                Repo {
                    created_at: now - chrono::Duration::days(100),
                    tags: BTreeMap::new(),
                    settings: RepoSettings::ecr_default(),
                    images,
                    pulls_by_day: spread(pulls),
                },
            );
        }
        let aws = Self::with_state(region, s, latency);
        // The organization's StackSets administration role, so `fleet` can be tried.
        let admin = crate::core::fleet::DEFAULT_ADMIN_ROLE;
        aws.global.lock().unwrap().roles.insert(
            admin.into(),
            ObservedRole {
                name: admin.into(),
                arn: format!("arn:aws:iam::{SANDBOX_ACCOUNT}:role/{admin}"),
                trust: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                inline_policies: BTreeMap::new(),
                managed_policies: Some(BTreeMap::new()),
                tags: BTreeMap::new(),
            },
        );
        // StackSets operations take simulated time too, unless every call is instant.
        let pace = if latency.is_zero() {
            Duration::ZERO
        } else {
            fleet::DEMO_PACE
        };
        aws.with_fleet_pace(pace)
    }

    fn with_state(region: &str, state: State, latency: Duration) -> Self {
        let state = Arc::new(Mutex::new(state));
        let mut global = Global::default();
        global.regions.insert(region.to_string(), state.clone());
        Self {
            state,
            global: Arc::new(Mutex::new(global)),
            latency,
            region: region.to_string(),
        }
    }

    /// The same simulated account in another region.
    pub fn region_view(&self, region: &str) -> Self {
        let state = self
            .global
            .lock()
            .unwrap()
            .regions
            .entry(region.to_string())
            .or_default()
            .clone();
        Self {
            state,
            global: self.global.clone(),
            latency: self.latency,
            region: region.to_string(),
        }
    }

    /// An empty account without latency, for tests.
    pub fn empty(region: &str) -> Self {
        Self::with_state(region, State::default(), Duration::ZERO)
    }

    fn stack_event(
        &self,
        stack: &str,
        logical_id: &str,
        resource_type: &str,
        status: &str,
        reason: Option<&str>,
    ) {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = format!("sandbox-event-{}", s.next_id);
        if let Some(st) = s
            .stacks
            .values_mut()
            .filter(|st| st.name == stack && st.status != "DELETE_COMPLETE")
            .last()
        {
            st.events.push(StackEvent {
                id,
                timestamp: Some(Utc::now()),
                logical_id: logical_id.into(),
                resource_type: resource_type.into(),
                status: status.into(),
                reason: reason.map(str::to_string),
            });
        }
    }

    fn finish_stack(&self, stack: &str, status: &str, params: &[(String, String)]) {
        let outputs = if params.is_empty() {
            BTreeMap::new()
        } else {
            self.stack_outputs(stack, params)
        };
        self.stack_event(stack, stack, STACK, status, None);
        let mut s = self.state.lock().unwrap();
        if let Some(st) = s
            .stacks
            .values_mut()
            .filter(|st| st.name == stack && st.status != "DELETE_COMPLETE")
            .last()
        {
            st.status = status.into();
            st.outputs = outputs;
            if !params.is_empty() {
                st.parameters = params.to_vec();
            }
        }
    }

    fn set_status(&self, stack: &str, status: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(st) = s
            .stacks
            .values_mut()
            .filter(|st| st.name == stack && st.status != "DELETE_COMPLETE")
            .last()
        {
            st.status = status.into();
        }
    }

    fn set_rule_less(&self, stack: &str, rule_less: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(st) = s
            .stacks
            .values_mut()
            .filter(|st| st.name == stack && st.status != "DELETE_COMPLETE")
            .last()
        {
            st.without_rule = rule_less;
        }
    }

    fn set_stack_token(&self, stack: &str, token: Option<Token>) {
        let mut s = self.state.lock().unwrap();
        if let Some(st) = s
            .stacks
            .values_mut()
            .filter(|st| st.name == stack && st.status != "DELETE_COMPLETE")
            .last()
        {
            st.token = token;
        }
    }

    fn resolved(
        &self,
        stack: &str,
        params: &[(String, String)],
    ) -> (&'static serde_json::Value, crate::cfn::resolve::Context) {
        let t = stack_kind(params).template();
        let ctx =
            crate::cfn::resolve::Context::new(t, params, SANDBOX_ACCOUNT, &self.region(), stack);
        (t, ctx)
    }

    fn stack_outputs(&self, stack: &str, params: &[(String, String)]) -> BTreeMap<String, String> {
        let (t, ctx) = self.resolved(stack, params);
        let role_arn = format!(
            "arn:aws:iam::{SANDBOX_ACCOUNT}:role/{}",
            crate::cfn::stack_role_name(
                param(params, "RoleName").unwrap_or_default(),
                &self.region
            )
        );
        t["Outputs"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| {
                        ctx.resolve(&v["Value"]).and_then(|r| {
                            r.as_str()
                                .map(|s| (k.clone(), s.replace("{AccessRole.Arn}", &role_arn)))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Creates the stack's resources through the simulated APIs, with resource events.
    async fn create_resources(
        &self,
        stack: &str,
        params: &[(String, String)],
        token: Option<&Token>,
        verb: &str,
    ) -> Result<(), (String, String)> {
        if stack_kind(params) == crate::cfn::Kind::Upstream {
            return self
                .create_upstream_resources(stack, params, token, verb)
                .await;
        }
        let (t, ctx) = self.resolved(stack, params);
        let role = ctx
            .resolve(&t["Resources"][crate::cfn::ROLE_LOGICAL_ID]["Properties"])
            .unwrap_or_default();
        let rule = ctx
            .resolve(&t["Resources"][crate::cfn::RULE_LOGICAL_ID]["Properties"])
            .unwrap_or_default();
        let name = role["RoleName"].as_str().unwrap_or_default().to_string();
        let (role_id, rule_id) = (crate::cfn::ROLE_LOGICAL_ID, crate::cfn::RULE_LOGICAL_ID);
        let fail = |id: &str, e: AwsError| {
            let reason = format!(
                "Resource handler returned message: \"{}\" (HandlerErrorCode: {})",
                e.message, e.code
            );
            self.stack_event(
                stack,
                id,
                if id == role_id { ROLE_TYPE } else { RULE_TYPE },
                &format!("{verb}_FAILED"),
                Some(&reason),
            );
            (id.to_string(), reason)
        };
        self.stack_event(
            stack,
            role_id,
            ROLE_TYPE,
            &format!("{verb}_IN_PROGRESS"),
            None,
        );
        let tags: Vec<(String, String)> = role["Tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["Key"].as_str().unwrap_or_default().to_string(),
                            t["Value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.create_role(
            &name,
            role["Description"].as_str().unwrap_or_default(),
            &role["AssumeRolePolicyDocument"],
            &tags,
        )
        .await
        .map_err(|e| fail(role_id, e))?;
        for p in role["Policies"].as_array().cloned().unwrap_or_default() {
            self.put_role_policy(
                &name,
                p["PolicyName"].as_str().unwrap_or_default(),
                &p["PolicyDocument"],
            )
            .await
            .map_err(|e| fail(role_id, e))?;
        }
        self.stack_event(stack, role_id, ROLE_TYPE, &format!("{verb}_COMPLETE"), None);
        let rule_less = {
            let s = self.state.lock().unwrap();
            find_stack(&s, stack).is_some_and(|st| st.without_rule)
        };
        if rule_less {
            return Ok(());
        }
        self.stack_event(
            stack,
            rule_id,
            RULE_TYPE,
            &format!("{verb}_IN_PROGRESS"),
            None,
        );
        let new_rule = NewRule {
            prefix: rule["EcrRepositoryPrefix"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            upstream_url: rule["UpstreamRegistryUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            upstream_prefix: rule["UpstreamRepositoryPrefix"]
                .as_str()
                .unwrap_or(crate::core::validate::ROOT)
                .to_string(),
            upstream_registry: "ecr".into(),
            role_arn: Some(format!("arn:aws:iam::{SANDBOX_ACCOUNT}:role/{name}")),
            credential_arn: None,
        };
        self.create_cache_rule(&new_rule)
            .await
            .map_err(|e| fail(rule_id, e))?;
        self.stack_event(stack, rule_id, RULE_TYPE, &format!("{verb}_COMPLETE"), None);
        if param(params, "CacheSettings") == Some("true") {
            let props = ctx
                .resolve(&t["Resources"][TEMPLATE_ID]["Properties"])
                .unwrap_or_default();
            let template = template_of(&props, &new_rule.role_arn);
            self.stack_event(
                stack,
                TEMPLATE_ID,
                TEMPLATE_TYPE,
                &format!("{verb}_IN_PROGRESS"),
                None,
            );
            if let Err(e) = self.put_creation_template(&template, true).await {
                let reason = format!(
                    "Resource handler returned message: \"{}\" (HandlerErrorCode: {})",
                    e.message, e.code
                );
                self.stack_event(
                    stack,
                    TEMPLATE_ID,
                    TEMPLATE_TYPE,
                    &format!("{verb}_FAILED"),
                    Some(&reason),
                );
                return Err((TEMPLATE_ID.to_string(), reason));
            }
            self.stack_event(
                stack,
                TEMPLATE_ID,
                TEMPLATE_TYPE,
                &format!("{verb}_COMPLETE"),
                None,
            );
        }
        Ok(())
    }

    /// Deletes the stack's template, rule and role (what exists of them), with resource events.
    async fn delete_resources(&self, stack: &str, params: &[(String, String)]) -> Vec<String> {
        self.delete_resources_keeping(stack, params, &[]).await
    }

    /// A stack fault (`CloudFormation:<type>:Delete|Rollback`, `CloudFormation:DisableRollback`)
    /// set with `fail_next`: its message, once.
    fn stack_fault(&self, key: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .faults
            .remove(key)
            .map(|(_, message)| message)
    }

    /// Deletes the stack's template, rule and role except `keep` (logical ids, retained), with
    /// resource events; returns the resources whose deletion failed (stack faults), which
    /// stay, with what depends on them (the rule refers to the role).
    async fn delete_resources_keeping(
        &self,
        stack: &str,
        params: &[(String, String)],
        keep: &[String],
    ) -> Vec<String> {
        if stack_kind(params) == crate::cfn::Kind::Upstream {
            self.delete_upstream_resources(stack, params).await;
            return vec![];
        }
        let mut failed = vec![];
        let (rule_id, role_id) = (crate::cfn::RULE_LOGICAL_ID, crate::cfn::ROLE_LOGICAL_ID);
        for (id, rtype) in [(rule_id, RULE_TYPE), (role_id, ROLE_TYPE)] {
            if keep.iter().any(|k| k == id) {
                self.stack_event(stack, id, rtype, "DELETE_SKIPPED", None);
            } else if let Some(message) =
                self.stack_fault(&format!("CloudFormation:{rtype}:Delete"))
            {
                self.stack_event(stack, id, rtype, "DELETE_IN_PROGRESS", None);
                self.stack_event(stack, id, rtype, "DELETE_FAILED", Some(&message));
                failed.push(id.to_string());
            }
        }
        let skip_rule = keep.iter().chain(&failed).any(|k| k == rule_id);
        // The role stays while the rule that refers to it stays.
        let skip_role = skip_rule || keep.iter().chain(&failed).any(|k| k == role_id);
        let prefix = param(params, "RepositoryNamePrefix")
            .unwrap_or_default()
            .to_string();
        if param(params, "CacheSettings") == Some("true") {
            self.stack_event(
                stack,
                TEMPLATE_ID,
                TEMPLATE_TYPE,
                "DELETE_IN_PROGRESS",
                None,
            );
            let _ = self.delete_creation_template(&prefix).await;
            self.stack_event(stack, TEMPLATE_ID, TEMPLATE_TYPE, "DELETE_COMPLETE", None);
        }
        let role = crate::cfn::stack_role_name(
            param(params, "RoleName").unwrap_or_default(),
            &self.region,
        );
        let ours = |r: &CacheRule| {
            r.role_arn.as_deref() == Some(&format!("arn:aws:iam::{SANDBOX_ACCOUNT}:role/{role}"))
        };
        let rule_is_ours = self
            .state
            .lock()
            .unwrap()
            .rules
            .get(&prefix)
            .is_some_and(ours);
        if rule_is_ours && !skip_rule {
            self.stack_event(
                stack,
                crate::cfn::RULE_LOGICAL_ID,
                RULE_TYPE,
                "DELETE_IN_PROGRESS",
                None,
            );
            let _ = self.delete_cache_rule(&prefix).await;
            self.stack_event(
                stack,
                crate::cfn::RULE_LOGICAL_ID,
                RULE_TYPE,
                "DELETE_COMPLETE",
                None,
            );
        }
        let role_is_ours = self
            .global
            .lock()
            .unwrap()
            .roles
            .get(&role)
            .is_some_and(|r| {
                r.tags
                    .get(crate::core::validate::STACK_TAG_KEY)
                    .map(String::as_str)
                    == Some(stack)
            });
        if role_is_ours && !skip_role {
            self.stack_event(
                stack,
                crate::cfn::ROLE_LOGICAL_ID,
                ROLE_TYPE,
                "DELETE_IN_PROGRESS",
                None,
            );
            let policies: Vec<String> = self
                .global
                .lock()
                .unwrap()
                .roles
                .get(&role)
                .map(|r| r.inline_policies.keys().cloned().collect())
                .unwrap_or_default();
            for p in policies {
                let _ = self.delete_role_policy(&role, &p).await;
            }
            let _ = self.delete_role(&role).await;
            self.stack_event(
                stack,
                crate::cfn::ROLE_LOGICAL_ID,
                ROLE_TYPE,
                "DELETE_COMPLETE",
                None,
            );
        }
        failed
    }

    /// The same account with a different simulated network latency per call.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The next `validations` of a rule with a role answer that ECR cannot assume it yet, as
    /// while IAM propagates a new role (the engine's retry then shows).
    pub fn propagate_roles_after(&self, validations: u32) {
        self.state.lock().unwrap().unpropagated = validations;
    }

    /// Makes the next call of `operation` (e.g. `CreatePullThroughCacheRule`) fail.
    pub fn fail_next(&self, operation: &str, code: &str, message: &str) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(operation.into(), (code.into(), message.into()));
    }

    /// Simulates `docker pull <prefix>/<repo>:<tag>` through a rule: creates the cached
    /// repository on first pull and counts the pull.
    pub fn simulate_pull(&self, repository: &str, tag: &str) -> AwsResult<()> {
        let mut s = self.state.lock().unwrap();
        if !s
            .rules
            .keys()
            .any(|p| RepoPrefix::parse("prefix", p).is_ok_and(|p| p.covers(repository)))
        {
            return Err(err(
                "ecr:BatchGetImage",
                "RepositoryNotFoundException",
                &format!("The repository with name '{repository}' does not exist"),
            ));
        }
        // The cache creates the repository with its creation template's settings and tags.
        let template = s
            .templates
            .values()
            .filter(|t| RepoPrefix::parse("prefix", &t.prefix).is_ok_and(|p| p.covers(repository)))
            .max_by_key(|t| t.prefix.len());
        let settings = template
            .map(|t| RepoSettings {
                image_tag_mutability: t.image_tag_mutability.clone(),
                encryption_type: t.encryption_type.clone(),
                kms_key: t.kms_key.clone(),
            })
            .unwrap_or_else(RepoSettings::ecr_default);
        let tags = template
            .filter(|t| t.custom_role_arn.is_some())
            .map(|t| t.resource_tags.clone())
            .unwrap_or_default();
        let repo = s.repos.entry(repository.into()).or_insert_with(|| Repo {
            created_at: Utc::now(),
            tags,
            settings,
            images: vec![image(tag, 58_000_000, 3, None)],
            pulls_by_day: vec![0; PULL_DAYS],
        });
        if let Some(today) = repo.pulls_by_day.last_mut() {
            *today += 1;
        }
        for i in &mut repo.images {
            i.last_pulled_at = Some(Utc::now());
        }
        Ok(())
    }

    async fn call(&self, operation: &str, action: &str) -> AwsResult<()> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        match self.state.lock().unwrap().faults.remove(operation) {
            Some((code, message)) => Err(err(action, &code, &message)),
            None => Ok(()),
        }
    }

    fn role_problem(&self, role_arn: &str) -> Option<String> {
        let name = role_arn.rsplit('/').next().unwrap_or_default();
        match self.global.lock().unwrap().roles.get(name) {
            None => Some(format!("Unable to assume role {role_arn}: the role does not exist")),
            Some(r) if !policy::trusts_ecr_service(&r.trust) => Some(format!(
                "Unable to assume role {role_arn}: its trust policy does not allow {} to call sts:AssumeRole",
                policy::ECR_PTC_SERVICE
            )),
            Some(_) => None,
        }
    }
}

#[async_trait]
impl Aws for SandboxAws {
    fn region(&self) -> String {
        self.region.clone()
    }

    fn in_region(&self, region: &str) -> Arc<dyn Aws> {
        Arc::new(self.region_view(region))
    }

    async fn describe_stack_set(
        &self,
        name: &str,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<Option<crate::aws::stacksets::StackSetInfo>> {
        self.sim_describe_stack_set(name, call_as).await
    }

    async fn list_stack_instances(
        &self,
        name: &str,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<Vec<crate::aws::stacksets::StackInstance>> {
        self.sim_list_stack_instances(name, call_as).await
    }

    async fn create_stack_set(
        &self,
        req: &crate::aws::stacksets::StackSetRequest,
    ) -> AwsResult<()> {
        self.sim_create_stack_set(req).await
    }

    async fn update_stack_set(
        &self,
        req: &crate::aws::stacksets::StackSetRequest,
        to: &crate::aws::stacksets::Deployment,
    ) -> AwsResult<String> {
        self.sim_update_stack_set(req, to).await
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        to: &crate::aws::stacksets::Deployment,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<String> {
        self.sim_create_stack_instances(name, to, call_as).await
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        from: &crate::aws::stacksets::Deployment,
        retain_stacks: bool,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<String> {
        self.sim_delete_stack_instances(name, from, retain_stacks, call_as)
            .await
    }

    async fn delete_stack_set(
        &self,
        name: &str,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<()> {
        self.sim_delete_stack_set(name, call_as).await
    }

    async fn running_stack_set_operations(
        &self,
        name: &str,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<Vec<String>> {
        self.sim_running_operations(name, call_as).await
    }

    async fn stack_set_operation(
        &self,
        name: &str,
        id: &str,
        call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<crate::aws::stacksets::OperationInfo> {
        self.sim_stack_set_operation(name, id, call_as).await
    }

    async fn organization(&self) -> AwsResult<Option<crate::aws::stacksets::OrgInfo>> {
        self.call("DescribeOrganization", "organizations:DescribeOrganization")
            .await?;
        Ok(Some(crate::aws::stacksets::OrgInfo {
            id: fleet::SANDBOX_ORG.into(),
            management_account: SANDBOX_ACCOUNT.into(),
        }))
    }

    async fn stacksets_org_access(
        &self,
        _call_as: &crate::aws::stacksets::CallAs,
    ) -> AwsResult<String> {
        self.call(
            "DescribeOrganizationsAccess",
            "cloudformation:DescribeOrganizationsAccess",
        )
        .await?;
        Ok("ENABLED".into())
    }

    async fn for_account(
        &self,
        account: &str,
        role_name: &str,
        region: &str,
    ) -> AwsResult<Arc<dyn Aws>> {
        self.sim_for_account(account, role_name, region).await
    }

    async fn enabled_regions(&self) -> AwsResult<Vec<String>> {
        self.call("ListRegions", "account:ListRegions").await?;
        Ok(crate::core::regions::enabled_by_default(&self.region))
    }

    async fn caller_identity(&self) -> AwsResult<Identity> {
        self.call("GetCallerIdentity", "sts:GetCallerIdentity")
            .await?;
        Ok(sandbox_identity())
    }

    async fn list_cache_rules(&self) -> AwsResult<Vec<CacheRule>> {
        self.call(
            "DescribePullThroughCacheRules",
            "ecr:DescribePullThroughCacheRules",
        )
        .await?;
        Ok(self.state.lock().unwrap().rules.values().cloned().collect())
    }

    async fn create_cache_rule(&self, rule: &NewRule) -> AwsResult<Option<DateTime<Utc>>> {
        let action = "ecr:CreatePullThroughCacheRule";
        self.call("CreatePullThroughCacheRule", action).await?;
        let prefix = RepoPrefix::parse("ecrRepositoryPrefix", &rule.prefix).map_err(|e| {
            err(action, "ValidationException", &format!("1 validation error detected: Value '{}' at 'ecrRepositoryPrefix' failed to satisfy constraint: {}", e.value, e.rule))
        })?;
        if let Some(arn) = &rule.credential_arn {
            model::check_credential_arn(action, arn)?;
        }
        if let Some(arn) = &rule.role_arn {
            model::check_role_arn(action, arn)?;
        }
        if prefix.as_str().starts_with(SANDBOX_DENIED_PREFIX) {
            return Err(err(
                action,
                "AccessDeniedException",
                &format!(
                    "User: {} is not authorized to perform: {action} on resource: arn:aws:ecr:{}:{SANDBOX_ACCOUNT}:repository/{}/* because no identity-based policy allows the {action} action",
                    sandbox_identity().arn,
                    self.region,
                    prefix.as_str()
                ),
            ));
        }
        let mut s = self.state.lock().unwrap();
        if s.rules.contains_key(prefix.as_str()) {
            return Err(err(action, "PullThroughCacheRuleAlreadyExistsException", &format!(
                "A pull through cache rule with these settings already exists for the registry with id '{SANDBOX_ACCOUNT}'"
            )));
        }
        if s.rules.len() >= crate::core::plan::RULE_QUOTA {
            return Err(err(action, "LimitExceededException", "The maximum number of pull through cache rules (50) for this registry has been reached"));
        }
        let kind = UpstreamKind::from_api(&rule.upstream_registry).ok_or_else(|| {
            err(
                action,
                "UnsupportedUpstreamRegistryException",
                &format!(
                    "This feature is disabled for upstream registry '{}'",
                    rule.upstream_url
                ),
            )
        })?;
        if kind.is_echo() && rule.role_arn.is_none() {
            return Err(err(
                action,
                "UnsupportedUpstreamRegistryException",
                "The upstream registry 'ecr' requires authentication with AWS IAM role",
            ));
        }
        if kind.needs_credential() {
            let Some(arn) = &rule.credential_arn else {
                return Err(err(
                    action,
                    "UnsupportedUpstreamRegistryException",
                    &format!(
                        "The upstream registry '{}' requires authentication; specify credentialArn",
                        rule.upstream_url
                    ),
                ));
            };
            if find_secret(&mut s, arn).is_none() {
                return Err(err(
                    action,
                    "SecretNotFoundException",
                    &format!("The specified secret {arn} does not exist"),
                ));
            }
        }
        let now = Utc::now();
        s.rules.insert(
            prefix.to_string(),
            CacheRule {
                prefix: prefix.to_string(),
                upstream_registry: rule.upstream_registry.clone(),
                upstream_url: rule.upstream_url.clone(),
                upstream_prefix: rule.upstream_prefix.clone(),
                role_arn: rule.role_arn.clone(),
                credential_arn: rule.credential_arn.clone(),
                created_at: Some(now),
                managed_by: ManagedBy::Other,
                owner_proof: String::new(),
            },
        );
        Ok(Some(now))
    }

    async fn update_cache_rule(
        &self,
        prefix: &str,
        role_arn: Option<&str>,
        credential_arn: Option<&str>,
    ) -> AwsResult<()> {
        let action = "ecr:UpdatePullThroughCacheRule";
        self.call("UpdatePullThroughCacheRule", action).await?;
        if let Some(arn) = credential_arn {
            model::check_credential_arn(action, arn)?;
        }
        if let Some(arn) = role_arn {
            model::check_role_arn(action, arn)?;
        }
        let mut s = self.state.lock().unwrap();
        let rule = s
            .rules
            .get_mut(prefix)
            .ok_or_else(|| not_found_rule(action, prefix))?;
        if let Some(r) = role_arn {
            rule.role_arn = Some(r.into());
        }
        if let Some(c) = credential_arn {
            rule.credential_arn = Some(c.into());
        }
        Ok(())
    }

    async fn describe_secret(&self, id: &str) -> AwsResult<Option<ObservedSecret>> {
        self.call("DescribeSecret", "secretsmanager:DescribeSecret")
            .await?;
        let s = self.state.lock().unwrap();
        Ok(secret_name_of(&s, id).map(|name| {
            let sec = &s.secrets[&name];
            ObservedSecret {
                arn: sec.arn.clone(),
                name,
                tags: sec.tags.clone(),
                deleted_at: sec.deleted_at,
                current_version: Some(sec.current.clone()),
                keys: None,
                value_matches: None,
                unreadable: None,
                kms_key_id: None,
            }
        }))
    }

    async fn check_secret(
        &self,
        id: &str,
        expect: Option<(&str, &Token)>,
    ) -> AwsResult<SecretCheck> {
        let action = "secretsmanager:GetSecretValue";
        self.call("GetSecretValue", action).await?;
        let mut s = self.state.lock().unwrap();
        let sec = find_secret(&mut s, id).ok_or_else(|| no_secret(action, id))?;
        if sec.deleted_at.is_some() {
            return Err(err(action, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion."));
        }
        Ok(crate::aws::secret_check(sec.value(), expect))
    }

    async fn create_secret(
        &self,
        name: &str,
        username: &str,
        token: &Token,
        tags: &[(String, String)],
    ) -> AwsResult<String> {
        let action = "secretsmanager:CreateSecret";
        self.call("CreateSecret", action).await?;
        let mut s = self.state.lock().unwrap();
        if s.secrets.contains_key(name) {
            return Err(err(
                action,
                "ResourceExistsException",
                &format!("The operation failed because the secret {name} already exists."),
            ));
        }
        s.next_id += 1;
        let arn = format!(
            "arn:aws:secretsmanager:{}:{SANDBOX_ACCOUNT}:secret:{name}-{:06}",
            self.region, s.next_id
        );
        let version = format!("v{}", s.next_id);
        s.secrets.insert(
            name.to_string(),
            SandboxSecret {
                arn: arn.clone(),
                versions: vec![(version.clone(), crate::aws::secret_value(username, token))],
                current: version,
                tags: tags.iter().cloned().collect(),
                deleted_at: None,
            },
        );
        Ok(arn)
    }

    async fn put_secret_value(&self, id: &str, username: &str, token: &Token) -> AwsResult<String> {
        let action = "secretsmanager:PutSecretValue";
        self.call("PutSecretValue", action).await?;
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let version = format!("v{}", s.next_id);
        let sec = find_secret(&mut s, id).ok_or_else(|| no_secret(action, id))?;
        sec.versions
            .push((version.clone(), crate::aws::secret_value(username, token)));
        sec.current = version.clone();
        Ok(version)
    }

    async fn restore_secret_version(&self, id: &str, version: &str, _from: &str) -> AwsResult<()> {
        let action = "secretsmanager:UpdateSecretVersionStage";
        self.call("UpdateSecretVersionStage", action).await?;
        let mut s = self.state.lock().unwrap();
        let sec = find_secret(&mut s, id).ok_or_else(|| no_secret(action, id))?;
        sec.current = version.to_string();
        Ok(())
    }

    async fn restore_secret(&self, id: &str) -> AwsResult<()> {
        let action = "secretsmanager:RestoreSecret";
        self.call("RestoreSecret", action).await?;
        let mut s = self.state.lock().unwrap();
        find_secret(&mut s, id)
            .ok_or_else(|| no_secret(action, id))?
            .deleted_at = None;
        Ok(())
    }

    async fn delete_secret(&self, id: &str, recovery_days: Option<u32>) -> AwsResult<()> {
        let action = "secretsmanager:DeleteSecret";
        self.call("DeleteSecret", action).await?;
        let mut s = self.state.lock().unwrap();
        let name = secret_name_of(&s, id).ok_or_else(|| no_secret(action, id))?;
        match recovery_days {
            // Like Secrets Manager, DeletedDate is when the deletion was asked for.
            Some(_) => {
                find_secret(&mut s, &name).expect("named above").deleted_at = Some(Utc::now())
            }
            None => drop(s.secrets.remove(&name)),
        }
        Ok(())
    }

    async fn delete_cache_rule(&self, prefix: &str) -> AwsResult<()> {
        let action = "ecr:DeletePullThroughCacheRule";
        self.call("DeletePullThroughCacheRule", action).await?;
        self.state
            .lock()
            .unwrap()
            .rules
            .remove(prefix)
            .map(|_| ())
            .ok_or_else(|| not_found_rule(action, prefix))
    }

    async fn validate_cache_rule(&self, prefix: &str) -> AwsResult<Validation> {
        let action = "ecr:ValidatePullThroughCacheRule";
        self.call("ValidatePullThroughCacheRule", action).await?;
        let mut s = self.state.lock().unwrap();
        let rule = s
            .rules
            .get(prefix)
            .ok_or_else(|| not_found_rule(action, prefix))?;
        let failure = match (&rule.role_arn, &rule.credential_arn) {
            (Some(arn), _) => self.role_problem(arn),
            (None, Some(arn)) => {
                let arn = arn.clone();
                let sec = s.secrets.values().find(|sec| sec.arn == arn);
                match sec {
                    None => Some(format!("The secret {arn} does not exist")),
                    Some(sec) if sec.deleted_at.is_some() => {
                        Some(format!("The secret {arn} is marked for deletion"))
                    }
                    Some(sec) => {
                        let check = crate::aws::secret_check(sec.value(), None);
                        crate::core::model::SECRET_KEYS
                            .iter()
                            .find(|k| !check.keys.iter().any(|have| have == *k))
                            .map(|k| format!("The secret {arn} has no {k} key"))
                    }
                }
            }
            (None, None) => None,
        };
        let failure = match (rule.role_arn.clone(), failure) {
            (Some(arn), None) if s.unpropagated > 0 => {
                s.unpropagated -= 1;
                Some(format!("Unable to assume role {arn}"))
            }
            (_, f) => f,
        };
        Ok(Validation {
            is_valid: failure.is_none(),
            failure,
        })
    }

    async fn list_creation_templates(&self) -> AwsResult<Vec<CreationTemplate>> {
        self.call(
            "DescribeRepositoryCreationTemplates",
            "ecr:DescribeRepositoryCreationTemplates",
        )
        .await?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .templates
            .values()
            .cloned()
            .collect())
    }

    async fn put_creation_template(&self, t: &CreationTemplate, create: bool) -> AwsResult<()> {
        let (op, action) = if create {
            (
                "CreateRepositoryCreationTemplate",
                "ecr:CreateRepositoryCreationTemplate",
            )
        } else {
            (
                "UpdateRepositoryCreationTemplate",
                "ecr:UpdateRepositoryCreationTemplate",
            )
        };
        self.call(op, action).await?;
        model::check_template(action, t, &self.region)?;
        // What ECR checks: tags or KMS need a role ECR can assume to create repositories.
        let needs_role = !t.resource_tags.is_empty() || t.encryption_type != "AES256";
        if needs_role && t.custom_role_arn.is_none() {
            return Err(err(
                action,
                "InvalidParameterException",
                "customRoleArn is required when the template sets resourceTags or KMS encryption",
            ));
        }
        let mut s = self.state.lock().unwrap();
        match (create, s.templates.contains_key(&t.prefix)) {
            (true, true) => Err(err(
                action,
                "TemplateAlreadyExistsException",
                &format!(
                    "The repository creation template with prefix '{}' already exists",
                    t.prefix
                ),
            )),
            (false, false) => Err(err(
                action,
                "TemplateNotFoundException",
                &format!(
                    "The repository creation template with prefix '{}' does not exist",
                    t.prefix
                ),
            )),
            _ => {
                s.templates.insert(t.prefix.clone(), t.clone());
                Ok(())
            }
        }
    }

    async fn delete_creation_template(&self, prefix: &str) -> AwsResult<()> {
        let action = "ecr:DeleteRepositoryCreationTemplate";
        self.call("DeleteRepositoryCreationTemplate", action)
            .await?;
        self.state
            .lock()
            .unwrap()
            .templates
            .remove(prefix)
            .map(|_| ())
            .ok_or_else(|| {
                err(
                    action,
                    "TemplateNotFoundException",
                    &format!(
                        "The repository creation template with prefix '{prefix}' does not exist"
                    ),
                )
            })
    }

    async fn scanning_configuration(&self) -> AwsResult<ScanningConfig> {
        self.call(
            "GetRegistryScanningConfiguration",
            "ecr:GetRegistryScanningConfiguration",
        )
        .await?;
        let mut c = self.state.lock().unwrap().scanning.clone();
        if c.scan_type.is_empty() {
            c.scan_type = "BASIC".into();
        }
        Ok(c)
    }

    async fn put_scanning_configuration(&self, c: &ScanningConfig) -> AwsResult<()> {
        self.call(
            "PutRegistryScanningConfiguration",
            "ecr:PutRegistryScanningConfiguration",
        )
        .await?;
        self.state.lock().unwrap().scanning = c.clone();
        Ok(())
    }

    async fn list_pull_time_exclusions(&self) -> AwsResult<Vec<String>> {
        self.call(
            "ListPullTimeUpdateExclusions",
            "ecr:ListPullTimeUpdateExclusions",
        )
        .await?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .pull_time_exclusions
            .iter()
            .cloned()
            .collect())
    }

    async fn register_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()> {
        let action = "ecr:RegisterPullTimeUpdateExclusion";
        self.call("RegisterPullTimeUpdateExclusion", action).await?;
        // ECR's model and quota, as the service answers them.
        model::check_principal_arn(action, principal_arn)?;
        let mut st = self.state.lock().unwrap();
        if st.pull_time_exclusions.contains(principal_arn) {
            return Err(err(
                action,
                "ExclusionAlreadyExistsException",
                &format!("The principal '{principal_arn}' is already excluded"),
            ));
        }
        if st.pull_time_exclusions.len() >= crate::core::cache::MAX_PULL_TIME_EXCLUSIONS {
            return Err(err(
                action,
                "LimitExceededException",
                "The maximum number of pull time update exclusions for this registry has been reached",
            ));
        }
        st.pull_time_exclusions.insert(principal_arn.to_string());
        Ok(())
    }

    async fn deregister_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()> {
        let action = "ecr:DeregisterPullTimeUpdateExclusion";
        self.call("DeregisterPullTimeUpdateExclusion", action)
            .await?;
        if !self
            .state
            .lock()
            .unwrap()
            .pull_time_exclusions
            .remove(principal_arn)
        {
            return Err(err(
                action,
                "ExclusionNotFoundException",
                &format!("The principal '{principal_arn}' is not excluded"),
            ));
        }
        Ok(())
    }

    async fn get_role(&self, name: &str) -> AwsResult<Option<ObservedRole>> {
        self.call("GetRole", "iam:GetRole").await?;
        Ok(self.global.lock().unwrap().roles.get(name).cloned())
    }

    async fn create_role(
        &self,
        name: &str,
        _description: &str,
        trust: &Value,
        tags: &[(String, String)],
    ) -> AwsResult<()> {
        let action = "iam:CreateRole";
        self.call("CreateRole", action).await?;
        let mut s = self.global.lock().unwrap();
        if s.roles.contains_key(name) {
            return Err(err(
                action,
                "EntityAlreadyExists",
                &format!("Role with name {name} already exists."),
            ));
        }
        s.roles.insert(
            name.into(),
            ObservedRole {
                name: name.into(),
                arn: format!("arn:aws:iam::{SANDBOX_ACCOUNT}:role/{name}"),
                trust: trust.clone(),
                inline_policies: BTreeMap::new(),
                managed_policies: Some(BTreeMap::new()),
                tags: tags.iter().cloned().collect(),
            },
        );
        Ok(())
    }

    async fn update_trust_policy(&self, name: &str, trust: &Value) -> AwsResult<()> {
        let action = "iam:UpdateAssumeRolePolicy";
        self.call("UpdateAssumeRolePolicy", action).await?;
        with_role(&self.global, action, name, |r| r.trust = trust.clone())
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &Value,
    ) -> AwsResult<()> {
        let action = "iam:PutRolePolicy";
        self.call("PutRolePolicy", action).await?;
        with_role(&self.global, action, role, |r| {
            r.inline_policies
                .insert(policy_name.into(), document.clone());
        })
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> AwsResult<()> {
        let action = "iam:DeleteRolePolicy";
        self.call("DeleteRolePolicy", action).await?;
        let mut s = self.global.lock().unwrap();
        let r = s
            .roles
            .get_mut(role)
            .ok_or_else(|| no_such_entity(action, role))?;
        r.inline_policies
            .remove(policy_name)
            .map(|_| ())
            .ok_or_else(|| no_such_entity(action, policy_name))
    }

    async fn tag_role(&self, name: &str, tags: &[(String, String)]) -> AwsResult<()> {
        let action = "iam:TagRole";
        self.call("TagRole", action).await?;
        with_role(&self.global, action, name, |r| {
            r.tags.extend(tags.iter().cloned())
        })
    }

    async fn untag_role(&self, name: &str, keys: &[String]) -> AwsResult<()> {
        let action = "iam:UntagRole";
        self.call("UntagRole", action).await?;
        with_role(&self.global, action, name, |r| {
            r.tags.retain(|k, _| !keys.contains(k))
        })
    }

    async fn delete_role(&self, name: &str) -> AwsResult<()> {
        let action = "iam:DeleteRole";
        self.call("DeleteRole", action).await?;
        let mut s = self.global.lock().unwrap();
        match s.roles.get(name) {
            None => Err(no_such_entity(action, name)),
            Some(r) if !r.inline_policies.is_empty() => Err(err(
                action,
                "DeleteConflict",
                "Cannot delete entity, must delete policies first.",
            )),
            Some(_) => {
                s.roles.remove(name);
                Ok(())
            }
        }
    }

    async fn list_repositories(&self) -> AwsResult<Vec<RepoSummary>> {
        self.call("DescribeRepositories", "ecr:DescribeRepositories")
            .await?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .repos
            .iter()
            .map(|(name, r)| RepoSummary {
                name: name.clone(),
                arn: format!(
                    "arn:aws:ecr:{}:{SANDBOX_ACCOUNT}:repository/{name}",
                    self.region
                ),
                created_at: Some(r.created_at),
                settings: Some(r.settings.clone()),
            })
            .collect())
    }

    async fn repository_tags(&self, arn: &str) -> AwsResult<BTreeMap<String, String>> {
        let action = "ecr:ListTagsForResource";
        self.call("ListTagsForResource", action).await?;
        let name = arn
            .split_once(":repository/")
            .map(|(_, n)| n)
            .unwrap_or_default();
        match self.state.lock().unwrap().repos.get(name) {
            Some(r) => Ok(r.tags.clone()),
            None => Err(err(
                action,
                "RepositoryNotFoundException",
                &format!("The repository with name '{name}' does not exist in the registry with id '{SANDBOX_ACCOUNT}'"),
            )),
        }
    }

    async fn pull_manifest(
        &self,
        _registry_url: Option<&str>,
        repository: &str,
        reference: &str,
    ) -> AwsResult<crate::aws::registry::Manifest> {
        use crate::aws::registry::{Manifest, ACTION};
        self.call("GetManifest", ACTION).await?;
        let not_found = |code: &str, message: String| {
            let mut e = err(ACTION, code, &message);
            e.kind = crate::aws::ErrorKind::NotFound;
            e
        };
        let upstream_name = {
            let s = self.state.lock().unwrap();
            let rule = s
                .rules
                .keys()
                .filter_map(|p| RepoPrefix::parse("prefix", p).ok())
                .filter(|p| p.covers(repository))
                .max_by_key(|p| p.to_string().len());
            rule.map(|p| {
                if p.is_root() {
                    repository.to_string()
                } else {
                    repository[p.to_string().len() + 1..].to_string()
                }
            })
        };
        let cached = self.state.lock().unwrap().repos.contains_key(repository);
        // The sandbox's Echo catalog: what a first pull can find upstream.
        let in_catalog = upstream_name
            .as_deref()
            .is_some_and(|n| SANDBOX_CATALOG.contains(&n));
        if reference.starts_with("sha256:") && !cached || upstream_name.is_none() {
            return Err(not_found(
                "NAME_UNKNOWN",
                format!("HTTP 404: The repository with name '{repository}' does not exist in the registry with id '{SANDBOX_ACCOUNT}'"),
            ));
        }
        if !in_catalog && !cached {
            return Err(not_found(
                "NAME_UNKNOWN",
                format!("HTTP 404: The repository with name '{repository}' does not exist in the registry with id '{SANDBOX_ACCOUNT}'"),
            ));
        }
        if !reference.starts_with("sha256:") {
            self.simulate_pull(repository, reference)?;
        }
        let digest = self
            .state
            .lock()
            .unwrap()
            .repos
            .get(repository)
            .and_then(|r| r.images.first().map(|i| i.digest.clone()))
            .unwrap_or_default();
        Ok(Manifest {
            digest,
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            size: 1_573,
        })
    }

    async fn list_images(&self, repository: &str) -> AwsResult<Vec<ImageInfo>> {
        let action = "ecr:DescribeImages";
        self.call("DescribeImages", action).await?;
        self.state
            .lock()
            .unwrap()
            .repos
            .get(repository)
            .map(|r| r.images.clone())
            .ok_or_else(|| {
                err(
                    action,
                    "RepositoryNotFoundException",
                    &format!("The repository with name '{repository}' does not exist"),
                )
            })
    }

    async fn delete_repository(&self, name: &str) -> AwsResult<()> {
        let action = "ecr:DeleteRepository";
        self.call("DeleteRepository", action).await?;
        self.state
            .lock()
            .unwrap()
            .repos
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| {
                err(
                    action,
                    "RepositoryNotFoundException",
                    &format!("The repository with name '{name}' does not exist"),
                )
            })
    }

    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resource: &str,
    ) -> AwsResult<Vec<(String, String)>> {
        let action = "iam:SimulatePrincipalPolicy";
        self.call("SimulatePrincipalPolicy", action).await?;
        let s = self.global.lock().unwrap();
        // The sandbox operator is an administrator; roles are judged by their stored policies.
        let policies: Vec<Value> = if principal_arn.contains(":assumed-role/PlatformAdmin/")
            || principal_arn.ends_with(":role/PlatformAdmin")
        {
            vec![json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})]
        } else {
            let name = principal_arn.rsplit('/').next().unwrap_or_default();
            s.roles
                .get(name)
                .ok_or_else(|| no_such_entity(action, name))?
                .inline_policies
                .values()
                .cloned()
                .collect()
        };
        Ok(actions
            .iter()
            .map(|a| {
                let d = match crate::core::policy_eval::evaluate(policies.iter(), a, resource) {
                    crate::core::policy_eval::Decision::Allowed => "allowed",
                    crate::core::policy_eval::Decision::ExplicitDeny => "explicitDeny",
                    crate::core::policy_eval::Decision::ImplicitDeny => "implicitDeny",
                };
                (a.clone(), d.to_string())
            })
            .collect())
    }

    async fn session_expiry(&self) -> Option<DateTime<Utc>> {
        Some(Utc::now() + chrono::Duration::hours(8))
    }

    async fn stack_holding(&self, physical_id: &str) -> AwsResult<Option<String>> {
        self.call(
            "DescribeStackResources",
            "cloudformation:DescribeStackResources",
        )
        .await?;
        let s = self.state.lock().unwrap();
        Ok(s.stacks
            .values()
            .filter(|st| st.status != "DELETE_COMPLETE" && st.status != "REVIEW_IN_PROGRESS")
            .find(|st| {
                st.physical_ids(&self.region)
                    .iter()
                    .any(|p| p == physical_id)
            })
            .map(|st| st.name.clone()))
    }

    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>> {
        self.call("DescribeStacks", "cloudformation:DescribeStacks")
            .await?;
        let s = self.state.lock().unwrap();
        Ok(find_stack(&s, name)
            .filter(|st| st.status != "DELETE_COMPLETE")
            .map(|st| StackInfo {
                id: st.id.clone(),
                name: st.name.clone(),
                status: st.status.clone(),
                reason: None,
                outputs: st.outputs.clone(),
                tags: st.tags.clone(),
                // NoEcho: CloudFormation shows the parameter, never its value.
                parameters: st
                    .parameters
                    .iter()
                    .cloned()
                    .chain(
                        st.token
                            .as_ref()
                            .map(|_| (crate::cfn::TOKEN_PARAMETER.to_string(), "****".to_string())),
                    )
                    .collect(),
            }))
    }

    async fn create_change_set(
        &self,
        req: &StackRequest,
        _name: &str,
        create: bool,
    ) -> AwsResult<String> {
        self.call("CreateChangeSet", "cloudformation:CreateChangeSet")
            .await?;
        let mut s = self.state.lock().unwrap();
        let existing =
            find_stack(&s, &req.name).filter(|st| !create && st.status != "DELETE_COMPLETE");
        let before = existing.map(|st| st.parameters.clone());
        let stack_rule_less = existing.is_some_and(|st| st.without_rule);
        let events = existing.map(|st| st.events.len()).unwrap_or(0);
        let changes = match stack_kind(&req.parameters) {
            crate::cfn::Kind::Echo => rule_presence(
                stack_changes(before.as_deref(), &req.parameters),
                // A new stack's changes already follow its template.
                before.is_none() || !stack_rule_less,
                before.is_none() || !without_rule(req),
                param(
                    before.as_deref().unwrap_or_default(),
                    "RepositoryNamePrefix",
                ),
            ),
            crate::cfn::Kind::Upstream => upstream_stack::upstream_stack_changes(
                before.as_deref(),
                &req.parameters,
                token_changed(existing.and_then(|st| st.token.as_ref()), req),
            ),
        };
        let info = if changes.is_empty() {
            ChangeSetInfo {
                status: "FAILED".into(),
                reason: Some("The submitted information didn't contain changes. Submit different information to create a change set.".into()),
                execution_status: Some("UNAVAILABLE".into()),
                changes,
            }
        } else {
            ChangeSetInfo {
                status: "CREATE_COMPLETE".into(),
                reason: None,
                execution_status: Some("AVAILABLE".into()),
                changes,
            }
        };
        s.next_id += 1;
        let id = format!(
            "arn:aws:cloudformation:{}:{SANDBOX_ACCOUNT}:changeSet/sandbox/{}",
            self.region(),
            s.next_id
        );
        s.change_sets.insert(id.clone(), info);
        s.change_set_runs
            .insert(id.clone(), (req.clone(), create, events));
        Ok(id)
    }

    async fn describe_change_set(&self, id: &str) -> AwsResult<ChangeSetInfo> {
        self.call("DescribeChangeSet", "cloudformation:DescribeChangeSet")
            .await?;
        self.state
            .lock()
            .unwrap()
            .change_sets
            .get(id)
            .cloned()
            .ok_or_else(|| {
                err(
                    "cloudformation:DescribeChangeSet",
                    "ChangeSetNotFound",
                    &format!("ChangeSet [{id}] does not exist"),
                )
            })
    }

    async fn delete_change_set(&self, id: &str) -> AwsResult<()> {
        self.call("DeleteChangeSet", "cloudformation:DeleteChangeSet")
            .await?;
        self.state.lock().unwrap().change_sets.remove(id);
        Ok(())
    }

    async fn execute_change_set(&self, id: &str) -> AwsResult<()> {
        self.call("ExecuteChangeSet", "cloudformation:ExecuteChangeSet")
            .await?;
        let (req, create) = {
            let mut s = self.state.lock().unwrap();
            let Some((req, create, events)) = s.change_set_runs.get(id).cloned() else {
                return Err(err(
                    "cloudformation:ExecuteChangeSet",
                    "ChangeSetNotFound",
                    &format!("ChangeSet [{id}] does not exist"),
                ));
            };
            let now = find_stack(&s, &req.name)
                .filter(|st| st.status != "DELETE_COMPLETE")
                .map(|st| st.events.len())
                .unwrap_or(0);
            let status = s
                .change_sets
                .get(id)
                .and_then(|c| c.execution_status.clone())
                .unwrap_or_default();
            // A stack that changed since makes the change set OBSOLETE, as in CloudFormation.
            let status = if now != events && status == "AVAILABLE" {
                "OBSOLETE".to_string()
            } else {
                status
            };
            if status != "AVAILABLE" {
                return Err(err(
                    "cloudformation:ExecuteChangeSet",
                    "InvalidChangeSetStatus",
                    &format!("ChangeSet [{id}] cannot be executed in its current execution status of [{status}]"),
                ));
            }
            if let Some(c) = s.change_sets.get_mut(id) {
                c.execution_status = Some("EXECUTE_COMPLETE".into());
            }
            (req, create)
        };
        if create {
            self.create_stack(&req).await
        } else {
            self.update_stack(&req).await
        }
    }

    async fn continue_update_rollback(&self, name: &str, skip: &[String]) -> AwsResult<()> {
        self.call(
            "ContinueUpdateRollback",
            "cloudformation:ContinueUpdateRollback",
        )
        .await?;
        let params = {
            let s = self.state.lock().unwrap();
            match find_stack(&s, name) {
                Some(st) if st.status == "UPDATE_ROLLBACK_FAILED" => st.parameters.clone(),
                Some(st) => {
                    return Err(err(
                        "cloudformation:ContinueUpdateRollback",
                        "ValidationError",
                        &format!("Stack {} is in {} state and ContinueUpdateRollback can only be called on a stack in UPDATE_ROLLBACK_FAILED", st.id, st.status),
                    ))
                }
                None => {
                    return Err(err(
                        "cloudformation:ContinueUpdateRollback",
                        "ValidationError",
                        &format!("Stack [{name}] does not exist"),
                    ))
                }
            }
        };
        self.stack_event(
            name,
            name,
            STACK,
            "UPDATE_ROLLBACK_IN_PROGRESS",
            Some("Continue update rollback requested by user"),
        );
        let role = crate::cfn::ROLE_LOGICAL_ID;
        if !skip.iter().any(|s| s == role) {
            if let Some(message) = self.stack_fault("CloudFormation:AWS::IAM::Role:Rollback") {
                self.stack_event(name, role, ROLE_TYPE, "UPDATE_FAILED", Some(&message));
                self.finish_stack(name, "UPDATE_ROLLBACK_FAILED", &params);
                return Ok(());
            }
        }
        // The failed update removed the old resources: the rollback makes them again.
        let token = {
            let s = self.state.lock().unwrap();
            find_stack(&s, name).and_then(|st| st.token.clone())
        };
        let _ = self
            .create_resources(name, &params, token.as_ref(), "UPDATE")
            .await;
        self.finish_stack(name, "UPDATE_ROLLBACK_COMPLETE", &params);
        Ok(())
    }

    async fn delete_stack_retaining(&self, name: &str, retain: &[String]) -> AwsResult<()> {
        self.call("DeleteStack", "cloudformation:DeleteStack")
            .await?;
        let params = {
            let s = self.state.lock().unwrap();
            match find_stack(&s, name) {
                Some(st) if st.status == "DELETE_FAILED" => st.parameters.clone(),
                Some(st) => {
                    return Err(err(
                        "cloudformation:DeleteStack",
                        "ValidationError",
                        &format!("Invalid operation on stack [{}]: RetainResources can only be specified when the stack is in the DELETE_FAILED state", st.id),
                    ))
                }
                None => return Ok(()),
            }
        };
        self.stack_event(
            name,
            name,
            STACK,
            "DELETE_IN_PROGRESS",
            Some("User Initiated"),
        );
        let _ = self.delete_resources_keeping(name, &params, retain).await;
        self.finish_stack(name, "DELETE_COMPLETE", &[]);
        Ok(())
    }

    async fn create_stack(&self, req: &StackRequest) -> AwsResult<()> {
        self.call("CreateStack", "cloudformation:CreateStack")
            .await?;
        {
            let mut s = self.state.lock().unwrap();
            if find_stack(&s, &req.name).is_some_and(|st| st.status != "DELETE_COMPLETE") {
                return Err(err(
                    "cloudformation:CreateStack",
                    "AlreadyExistsException",
                    &format!("Stack [{}] already exists", req.name),
                ));
            }
            s.next_id += 1;
            let id = format!(
                "arn:aws:cloudformation:{}:{SANDBOX_ACCOUNT}:stack/{}/{}",
                self.region(),
                req.name,
                s.next_id
            );
            s.stacks.insert(
                id.clone(),
                SandboxStack {
                    id,
                    name: req.name.clone(),
                    status: "CREATE_IN_PROGRESS".into(),
                    parameters: req.parameters.clone(),
                    token: new_token(None, req),
                    outputs: BTreeMap::new(),
                    events: vec![],
                    tags: req.tags.iter().cloned().collect(),
                    holds: vec![],
                    without_rule: without_rule(req),
                },
            );
        }
        self.stack_event(
            &req.name,
            &req.name,
            STACK,
            "CREATE_IN_PROGRESS",
            Some("User Initiated"),
        );
        let token = new_token(None, req);
        match self
            .create_resources(&req.name, &req.parameters, token.as_ref(), "CREATE")
            .await
        {
            Ok(()) => self.finish_stack(&req.name, "CREATE_COMPLETE", &req.parameters),
            Err((logical, reason)) => {
                self.stack_event(
                    &req.name,
                    &req.name,
                    STACK,
                    "ROLLBACK_IN_PROGRESS",
                    Some(&format!(
                        "The following resource(s) failed to create: [{logical}]."
                    )),
                );
                // As with --disable-rollback: what was made stays, CREATE_FAILED.
                if self.stack_fault("CloudFormation:DisableRollback").is_some() {
                    self.finish_stack(&req.name, "CREATE_FAILED", &[]);
                    return Ok(());
                }
                let stuck = self.delete_resources(&req.name, &req.parameters).await;
                let end = if stuck.is_empty() {
                    "ROLLBACK_COMPLETE"
                } else {
                    "ROLLBACK_FAILED"
                };
                self.finish_stack(&req.name, end, &[]);
                tracing::debug!("sandbox stack {} rolled back: {reason}", req.name);
            }
        }
        Ok(())
    }

    async fn update_stack(&self, req: &StackRequest) -> AwsResult<()> {
        self.call("UpdateStack", "cloudformation:UpdateStack")
            .await?;
        let (before, old_token) = {
            let s = self.state.lock().unwrap();
            find_stack(&s, &req.name)
                .map(|st| (st.parameters.clone(), st.token.clone()))
                .ok_or_else(|| {
                    err(
                        "cloudformation:UpdateStack",
                        "ValidationError",
                        &format!("Stack [{}] does not exist", req.name),
                    )
                })?
        };
        let token = new_token(old_token.as_ref(), req);
        let (was_rule_less, rule_less) = {
            let s = self.state.lock().unwrap();
            (
                find_stack(&s, &req.name).is_some_and(|st| st.without_rule),
                without_rule(req),
            )
        };
        if before == req.parameters && token == old_token && was_rule_less == rule_less {
            return Err(err(
                "cloudformation:UpdateStack",
                "ValidationError",
                "No updates are to be performed.",
            ));
        }
        self.stack_event(
            &req.name,
            &req.name,
            STACK,
            "UPDATE_IN_PROGRESS",
            Some("User Initiated"),
        );
        // The rule's type is immutable and its prefix is its name: replacing it under the same
        // prefix fails the update before anything changes, as in CloudFormation.
        let same_name = !was_rule_less
            && !rule_less
            && stack_kind(&req.parameters) == crate::cfn::Kind::Echo
            && stack_changes(Some(&before), &req.parameters)
                .iter()
                .any(|c| {
                    c.logical_id == crate::cfn::RULE_LOGICAL_ID
                        && !c.details.iter().any(|(n, _)| n == "EcrRepositoryPrefix")
                });
        if same_name {
            let prefix = param(&before, "RepositoryNamePrefix").unwrap_or_default();
            self.stack_event(
                &req.name,
                crate::cfn::RULE_LOGICAL_ID,
                RULE_TYPE,
                "UPDATE_FAILED",
                Some(&format!("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename {prefix} and update the stack again.")),
            );
            self.stack_event(
                &req.name,
                &req.name,
                STACK,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to update: [PullThroughCacheRule]."),
            );
            self.finish_stack(&req.name, "UPDATE_ROLLBACK_COMPLETE", &before);
            return Ok(());
        }
        // Every change here replaces the rule (an immutable type) and usually the role: the
        // simulation deletes the old resources and creates the new ones.
        self.delete_resources(&req.name, &before).await;
        self.set_rule_less(&req.name, rule_less);
        match self
            .create_resources(&req.name, &req.parameters, token.as_ref(), "UPDATE")
            .await
        {
            Ok(()) => {
                self.set_stack_token(&req.name, token);
                self.finish_stack(&req.name, "UPDATE_COMPLETE", &req.parameters)
            }
            Err((logical, _)) => {
                self.set_rule_less(&req.name, was_rule_less);
                self.stack_event(
                    &req.name,
                    &req.name,
                    STACK,
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    Some(&format!(
                        "The following resource(s) failed to update: [{logical}]."
                    )),
                );
                if let Some(message) = self.stack_fault("CloudFormation:AWS::IAM::Role:Rollback") {
                    self.stack_event(
                        &req.name,
                        crate::cfn::ROLE_LOGICAL_ID,
                        ROLE_TYPE,
                        "UPDATE_FAILED",
                        Some(&message),
                    );
                    self.finish_stack(&req.name, "UPDATE_ROLLBACK_FAILED", &before);
                    return Ok(());
                }
                let _ = self
                    .create_resources(&req.name, &before, old_token.as_ref(), "UPDATE")
                    .await;
                self.finish_stack(&req.name, "UPDATE_ROLLBACK_COMPLETE", &before);
            }
        }
        Ok(())
    }

    async fn delete_stack(&self, name: &str) -> AwsResult<()> {
        self.call("DeleteStack", "cloudformation:DeleteStack")
            .await?;
        let params = {
            let s = self.state.lock().unwrap();
            match find_stack(&s, name) {
                Some(st) if st.status != "DELETE_COMPLETE" => st.parameters.clone(),
                _ => return Ok(()),
            }
        };
        self.stack_event(
            name,
            name,
            STACK,
            "DELETE_IN_PROGRESS",
            Some("User Initiated"),
        );
        let stuck = self.delete_resources(name, &params).await;
        if !stuck.is_empty() {
            self.stack_event(
                name,
                name,
                STACK,
                "DELETE_FAILED",
                Some(&format!(
                    "The following resource(s) failed to delete: [{}].",
                    stuck.join(", ")
                )),
            );
            self.set_status(name, "DELETE_FAILED");
            return Ok(());
        }
        self.finish_stack(name, "DELETE_COMPLETE", &[]);
        Ok(())
    }

    async fn stack_events(&self, name: &str) -> AwsResult<Vec<StackEvent>> {
        self.call("DescribeStackEvents", "cloudformation:DescribeStackEvents")
            .await?;
        let s = self.state.lock().unwrap();
        let st = find_stack(&s, name).ok_or_else(|| {
            err(
                "cloudformation:DescribeStackEvents",
                "ValidationError",
                &format!("Stack [{name}] does not exist"),
            )
        })?;
        Ok(st.events.iter().rev().cloned().collect())
    }

    async fn daily_pulls(
        &self,
        repositories: &[String],
        _end: DateTime<Utc>,
        _days: usize,
    ) -> AwsResult<HashMap<String, crate::core::model::DailyPulls>> {
        self.call("GetMetricData", "cloudwatch:GetMetricData")
            .await?;
        let s = self.state.lock().unwrap();
        Ok(repositories
            .iter()
            .filter_map(|r| s.repos.get(r).map(|x| (r.clone(), x.pulls_by_day.clone())))
            .collect())
    }

    async fn busiest_repositories(
        &self,
        _end: DateTime<Utc>,
        days: usize,
    ) -> AwsResult<Vec<(String, u64)>> {
        self.call("GetMetricData", "cloudwatch:GetMetricData")
            .await?;
        let s = self.state.lock().unwrap();
        let mut busiest: Vec<(String, u64)> = s
            .repos
            .iter()
            .map(|(name, r)| {
                let recent = r.pulls_by_day.iter().rev().take(days).sum();
                (name.clone(), recent)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        busiest.truncate(crate::aws::BUSIEST_LIMIT);
        Ok(busiest)
    }
}

impl SandboxAws {
    /// A copy of a role's state, for tests.
    pub fn role_snapshot(&self, name: &str) -> Option<Value> {
        self.global
            .lock()
            .unwrap()
            .roles
            .get(name)
            .map(|r| json!({"trust": r.trust, "policies": r.inline_policies, "tags": r.tags}))
    }
}

const STACK: &str = "AWS::CloudFormation::Stack";
const ROLE_TYPE: &str = "AWS::IAM::Role";
const RULE_TYPE: &str = "AWS::ECR::PullThroughCacheRule";
const TEMPLATE_TYPE: &str = "AWS::ECR::RepositoryCreationTemplate";
const TEMPLATE_ID: &str = "RepositoryCreationTemplate";
/// The parameters that only the creation template uses.
const TEMPLATE_PARAMS: [&str; 6] = [
    "CacheSettings",
    "ImageTagMutability",
    "KmsKey",
    "KmsKeyAccountId",
    "LifecyclePolicy",
    "RepositoryPolicy",
];

/// The template a stack's resolved `AWS::ECR::RepositoryCreationTemplate` properties describe.
fn template_of(props: &Value, role_arn: &Option<String>) -> CreationTemplate {
    let json = |v: &Value| v.as_str().and_then(|s| serde_json::from_str(s).ok());
    CreationTemplate {
        prefix: props["Prefix"].as_str().unwrap_or_default().to_string(),
        description: props["Description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        image_tag_mutability: props["ImageTagMutability"]
            .as_str()
            .unwrap_or("MUTABLE")
            .to_string(),
        mutability_exclusions: vec![],
        encryption_type: props["EncryptionConfiguration"]["EncryptionType"]
            .as_str()
            .unwrap_or("AES256")
            .to_string(),
        kms_key: props["EncryptionConfiguration"]["KmsKey"]
            .as_str()
            .map(str::to_string),
        resource_tags: props["ResourceTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["Key"].as_str().unwrap_or_default().to_string(),
                            t["Value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        lifecycle_policy: json(&props["LifecyclePolicy"]),
        repository_policy: json(&props["RepositoryPolicy"]),
        applied_for: vec!["PULL_THROUGH_CACHE".into()],
        // The stack's role (GetAtt AccessRole.Arn), as the rule names it.
        custom_role_arn: role_arn.clone(),
        created_at: Some(Utc::now()),
    }
}

/// Whether a request's template leaves the rule out.
fn without_rule(req: &StackRequest) -> bool {
    !req.template_body.contains(RULE_TYPE)
}

/// A change set's rule entry when the stack or the request has no rule: `had`/`has` say
/// whether the stack holds one and whether the request's template makes one.
fn rule_presence(
    mut changes: Vec<crate::aws::StackChange>,
    had: bool,
    has: bool,
    prefix: Option<&str>,
) -> Vec<crate::aws::StackChange> {
    if had && has {
        return changes;
    }
    changes.retain(|c| c.logical_id != crate::cfn::RULE_LOGICAL_ID);
    let action = match (had, has) {
        (true, false) => "Remove",
        (false, true) => "Add",
        _ => return changes,
    };
    changes.push(crate::aws::StackChange {
        action: action.into(),
        logical_id: crate::cfn::RULE_LOGICAL_ID.into(),
        physical_id: (action == "Remove").then(|| prefix.unwrap_or_default().to_string()),
        resource_type: RULE_TYPE.into(),
        replacement: None,
        details: vec![],
    });
    changes
}

/// Which template a stack's parameters belong to.
fn stack_kind(params: &[(String, String)]) -> crate::cfn::Kind {
    if param(params, "UpstreamRegistry").is_some() {
        crate::cfn::Kind::Upstream
    } else {
        crate::cfn::Kind::Echo
    }
}

/// The token a stack request leaves the stack with (`previous`: the stack's current one).
fn new_token(previous: Option<&Token>, req: &StackRequest) -> Option<Token> {
    match req.secret_parameters.first().map(|(_, v)| v) {
        Some(crate::aws::SecretParameter::Value(t)) => Some(t.clone()),
        Some(crate::aws::SecretParameter::Previous) => previous.cloned(),
        None => None,
    }
}

fn token_changed(previous: Option<&Token>, req: &StackRequest) -> bool {
    new_token(previous, req).as_ref() != previous
}

/// A stack by name (the live one) or by id (also a deleted one), as CloudFormation finds them.
fn find_stack<'a>(s: &'a State, name_or_id: &str) -> Option<&'a SandboxStack> {
    s.stacks.get(name_or_id).or_else(|| {
        s.stacks
            .values()
            .filter(|st| st.name == name_or_id)
            .max_by_key(|st| st.status != "DELETE_COMPLETE")
    })
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The change set CloudFormation would compute for new parameters (`None`: a new stack).
fn stack_changes(
    before: Option<&[(String, String)]>,
    after: &[(String, String)],
) -> Vec<crate::aws::StackChange> {
    use crate::aws::StackChange;
    let wants = |p: &[(String, String)]| param(p, "CacheSettings") == Some("true");
    let Some(before) = before else {
        let mut added = vec![
            (crate::cfn::ROLE_LOGICAL_ID, ROLE_TYPE),
            (crate::cfn::RULE_LOGICAL_ID, RULE_TYPE),
        ];
        if wants(after) {
            added.push((TEMPLATE_ID, TEMPLATE_TYPE));
        }
        return added
            .iter()
            .map(|(l, t)| StackChange {
                action: "Add".into(),
                logical_id: l.to_string(),
                physical_id: None,
                resource_type: t.to_string(),
                replacement: None,
                details: vec![],
            })
            .collect();
    };
    let changed = |k: &str| param(before, k) != param(after, k);
    let mut out = vec![];
    let role_name = changed("RoleName");
    let policy = changed("SourceRegistryAccountId")
        || changed("SourceRegistryRegion")
        || changed("RepositoryNamePrefix")
        || changed("UpstreamRepositoryPrefix");
    let tags = changed("RepositoryNamePrefix") || changed("CacheRuleName");
    let role_props: Vec<(String, String)> = [
        ("RoleName", role_name, "Always"),
        ("Policies", policy, "Never"),
        ("Tags", tags, "Never"),
    ]
    .iter()
    .filter(|(_, c, _)| *c)
    .map(|(n, _, r)| (n.to_string(), r.to_string()))
    .collect();
    if !role_props.is_empty() {
        out.push(StackChange {
            action: "Modify".into(),
            logical_id: crate::cfn::ROLE_LOGICAL_ID.into(),
            physical_id: param(before, "RoleName").map(str::to_string),
            resource_type: ROLE_TYPE.into(),
            replacement: Some(if role_name { "True" } else { "False" }.into()),
            details: role_props,
        });
    }
    let mut rule_props: Vec<(String, String)> = [
        ("EcrRepositoryPrefix", "RepositoryNamePrefix"),
        ("UpstreamRegistryUrl", "SourceRegistryAccountId"),
        ("UpstreamRegistryUrl", "SourceRegistryRegion"),
        ("UpstreamRepositoryPrefix", "UpstreamRepositoryPrefix"),
    ]
    .iter()
    .filter(|(_, p)| changed(p))
    .map(|(n, _)| (n.to_string(), "Always".to_string()))
    .collect();
    if role_name {
        rule_props.push(("CustomRoleArn".into(), "Always".into()));
    }
    let template_change = TEMPLATE_PARAMS.iter().any(|k| changed(k)) || role_name;
    if template_change || (wants(after) && changed("RepositoryNamePrefix")) {
        let (action, details) = match (wants(before), wants(after)) {
            (false, true) => ("Add", vec![]),
            (true, false) => ("Remove", vec![]),
            (true, true) => (
                "Modify",
                vec![(
                    "Properties".to_string(),
                    if changed("RepositoryNamePrefix") {
                        "Always"
                    } else {
                        "Never"
                    }
                    .to_string(),
                )],
            ),
            (false, false) => ("", vec![]),
        };
        if !action.is_empty() {
            out.push(StackChange {
                action: action.into(),
                logical_id: TEMPLATE_ID.into(),
                physical_id: param(before, "RepositoryNamePrefix").map(str::to_string),
                resource_type: TEMPLATE_TYPE.into(),
                replacement: (action == "Modify").then(|| {
                    if changed("RepositoryNamePrefix") {
                        "True"
                    } else {
                        "False"
                    }
                    .into()
                }),
                details,
            });
        }
    }
    rule_props.dedup();
    if !rule_props.is_empty() {
        out.push(StackChange {
            action: "Modify".into(),
            logical_id: crate::cfn::RULE_LOGICAL_ID.into(),
            physical_id: param(before, "RepositoryNamePrefix").map(str::to_string),
            resource_type: RULE_TYPE.into(),
            replacement: Some("True".into()),
            details: rule_props,
        });
    }
    out
}

fn not_found_rule(action: &str, prefix: &str) -> AwsError {
    err(action, "PullThroughCacheRuleNotFoundException", &format!(
        "The pull through cache rule with prefix '{prefix}' does not exist in the registry with id '{SANDBOX_ACCOUNT}'"
    ))
}

fn no_such_entity(action: &str, name: &str) -> AwsError {
    err(
        action,
        "NoSuchEntity",
        &format!("The role with name {name} cannot be found."),
    )
}

fn with_role(
    state: &Mutex<Global>,
    action: &str,
    name: &str,
    f: impl FnOnce(&mut ObservedRole),
) -> AwsResult<()> {
    let mut s = state.lock().unwrap();
    let r = s
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_entity(action, name))?;
    f(r);
    Ok(())
}
