//! An in-process simulated AWS account behind the same [`Aws`] trait: a fake identity, a
//! couple of existing rules and cached repositories with pull counts, realistic latency, and
//! the validation errors AWS gives. Lets anyone try the whole flow with no AWS account, and
//! serves as the fast in-process double in engine tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::aws::errors::ErrorContext;
use crate::aws::{
    Aws, AwsError, AwsResult, ChangeSetInfo, NewRule, RepoSummary, StackEvent, StackInfo,
    StackRequest, Validation,
};
use crate::core::model::{CacheRule, Identity, ImageInfo, ManagedBy, ObservedRole};
use crate::core::policy;
use crate::core::validate::RepoPrefix;

pub const SANDBOX_ACCOUNT: &str = "210987654321";
/// The Echo account id to type in the sandbox (any other 12 digits work too).
pub const SANDBOX_ECHO_ACCOUNT: &str = "111122223333";

#[derive(Debug, Clone)]
struct Repo {
    created_at: DateTime<Utc>,
    images: Vec<ImageInfo>,
    pulls_30d: u64,
}

#[derive(Debug, Default)]
struct State {
    rules: BTreeMap<String, CacheRule>,
    roles: BTreeMap<String, ObservedRole>,
    repos: BTreeMap<String, Repo>,
    /// Operations that fail next with (code, message), for demos and tests.
    faults: HashMap<String, (String, String)>,
}

pub struct SandboxAws {
    state: Mutex<State>,
    latency: Duration,
    region: String,
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
            });
        }
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
                    images,
                    pulls_30d: pulls,
                },
            );
        }
        Self {
            state: Mutex::new(s),
            latency,
            region: region.to_string(),
        }
    }

    /// An empty account without latency, for tests.
    pub fn empty(region: &str) -> Self {
        Self {
            state: Mutex::new(State::default()),
            latency: Duration::ZERO,
            region: region.to_string(),
        }
    }

    /// The same account with a different simulated network latency per call.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
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
        let repo = s.repos.entry(repository.into()).or_insert_with(|| Repo {
            created_at: Utc::now(),
            images: vec![image(tag, 58_000_000, 3, None)],
            pulls_30d: 0,
        });
        repo.pulls_30d += 1;
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

    fn role_problem(&self, s: &State, role_arn: &str) -> Option<String> {
        let name = role_arn.rsplit('/').next().unwrap_or_default();
        match s.roles.get(name) {
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

    async fn create_cache_rule(&self, rule: &NewRule) -> AwsResult<()> {
        let action = "ecr:CreatePullThroughCacheRule";
        self.call("CreatePullThroughCacheRule", action).await?;
        let prefix = RepoPrefix::parse("ecrRepositoryPrefix", &rule.prefix).map_err(|e| {
            err(action, "ValidationException", &format!("1 validation error detected: Value '{}' at 'ecrRepositoryPrefix' failed to satisfy constraint: {}", e.value, e.rule))
        })?;
        let mut s = self.state.lock().unwrap();
        if s.rules.contains_key(prefix.as_str()) {
            return Err(err(action, "PullThroughCacheRuleAlreadyExistsException", &format!(
                "A pull through cache rule with these settings already exists for the registry with id '{SANDBOX_ACCOUNT}'"
            )));
        }
        if s.rules.len() >= crate::core::plan::RULE_QUOTA {
            return Err(err(action, "LimitExceededException", "The maximum number of pull through cache rules (50) for this registry has been reached"));
        }
        if rule.role_arn.is_empty() {
            return Err(err(
                action,
                "UnsupportedUpstreamRegistryException",
                "The upstream registry 'ecr' requires authentication with AWS IAM role",
            ));
        }
        s.rules.insert(
            prefix.to_string(),
            CacheRule {
                prefix: prefix.to_string(),
                upstream_registry: "ecr".into(),
                upstream_url: rule.upstream_url.clone(),
                upstream_prefix: rule.upstream_prefix.clone(),
                role_arn: Some(rule.role_arn.clone()),
                credential_arn: None,
                created_at: Some(Utc::now()),
                managed_by: ManagedBy::Other,
            },
        );
        Ok(())
    }

    async fn update_cache_rule_role(&self, prefix: &str, role_arn: &str) -> AwsResult<()> {
        let action = "ecr:UpdatePullThroughCacheRule";
        self.call("UpdatePullThroughCacheRule", action).await?;
        let mut s = self.state.lock().unwrap();
        let rule = s
            .rules
            .get_mut(prefix)
            .ok_or_else(|| not_found_rule(action, prefix))?;
        rule.role_arn = Some(role_arn.into());
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
        let s = self.state.lock().unwrap();
        let rule = s
            .rules
            .get(prefix)
            .ok_or_else(|| not_found_rule(action, prefix))?;
        let failure = rule
            .role_arn
            .as_deref()
            .and_then(|arn| self.role_problem(&s, arn));
        Ok(Validation {
            is_valid: failure.is_none(),
            failure,
        })
    }

    async fn get_role(&self, name: &str) -> AwsResult<Option<ObservedRole>> {
        self.call("GetRole", "iam:GetRole").await?;
        Ok(self.state.lock().unwrap().roles.get(name).cloned())
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
        let mut s = self.state.lock().unwrap();
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
        with_role(&self.state, action, name, |r| r.trust = trust.clone())
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &Value,
    ) -> AwsResult<()> {
        let action = "iam:PutRolePolicy";
        self.call("PutRolePolicy", action).await?;
        with_role(&self.state, action, role, |r| {
            r.inline_policies
                .insert(policy_name.into(), document.clone());
        })
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> AwsResult<()> {
        let action = "iam:DeleteRolePolicy";
        self.call("DeleteRolePolicy", action).await?;
        let mut s = self.state.lock().unwrap();
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
        with_role(&self.state, action, name, |r| {
            r.tags.extend(tags.iter().cloned())
        })
    }

    async fn untag_role(&self, name: &str, keys: &[String]) -> AwsResult<()> {
        let action = "iam:UntagRole";
        self.call("UntagRole", action).await?;
        with_role(&self.state, action, name, |r| {
            r.tags.retain(|k, _| !keys.contains(k))
        })
    }

    async fn delete_role(&self, name: &str) -> AwsResult<()> {
        let action = "iam:DeleteRole";
        self.call("DeleteRole", action).await?;
        let mut s = self.state.lock().unwrap();
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
                created_at: Some(r.created_at),
            })
            .collect())
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
        let s = self.state.lock().unwrap();
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

    // The sandbox holds no stacks: CloudFormation changes are refused with a clear message,
    // reads report that no stack exists.
    async fn describe_stack(&self, _name: &str) -> AwsResult<Option<StackInfo>> {
        self.call("DescribeStacks", "cloudformation:DescribeStacks")
            .await?;
        Ok(None)
    }

    async fn create_change_set(
        &self,
        _req: &StackRequest,
        _name: &str,
        _create: bool,
    ) -> AwsResult<String> {
        Err(no_cloudformation("cloudformation:CreateChangeSet"))
    }

    async fn describe_change_set(&self, _id: &str) -> AwsResult<ChangeSetInfo> {
        Err(no_cloudformation("cloudformation:DescribeChangeSet"))
    }

    async fn delete_change_set(&self, _id: &str) -> AwsResult<()> {
        Err(no_cloudformation("cloudformation:DeleteChangeSet"))
    }

    async fn create_stack(&self, _req: &StackRequest) -> AwsResult<()> {
        Err(no_cloudformation("cloudformation:CreateStack"))
    }

    async fn update_stack(&self, _req: &StackRequest) -> AwsResult<()> {
        Err(no_cloudformation("cloudformation:UpdateStack"))
    }

    async fn delete_stack(&self, _name: &str) -> AwsResult<()> {
        Err(no_cloudformation("cloudformation:DeleteStack"))
    }

    async fn stack_events(&self, _name: &str) -> AwsResult<Vec<StackEvent>> {
        Ok(vec![])
    }

    async fn pull_counts(
        &self,
        repositories: &[String],
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> AwsResult<HashMap<String, u64>> {
        self.call("GetMetricData", "cloudwatch:GetMetricData")
            .await?;
        let s = self.state.lock().unwrap();
        Ok(repositories
            .iter()
            .filter_map(|r| s.repos.get(r).map(|x| (r.clone(), x.pulls_30d)))
            .collect())
    }
}

impl SandboxAws {
    pub fn region(&self) -> &str {
        &self.region
    }

    /// A copy of a role's state, for tests.
    pub fn role_snapshot(&self, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .roles
            .get(name)
            .map(|r| json!({"trust": r.trust, "policies": r.inline_policies, "tags": r.tags}))
    }
}

fn no_cloudformation(action: &str) -> AwsError {
    let mut e = err(
        action,
        "NotSimulated",
        "the sandbox does not simulate CloudFormation",
    );
    e.fix = "use --method api in the sandbox, or run against a real account or the emulator".into();
    e
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
    state: &Mutex<State>,
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
