//! The one seam to AWS. Everything the tool reads or changes goes through [`Aws`]; the SDK
//! adapter ([`sdk::SdkAws`]) implements it for real accounts and the emulator, the sandbox
//! implements it in-process.

pub mod errors;
pub mod profiles;
pub mod registry;
pub mod sdk;
mod sdk_stacksets;
pub mod stacksets;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use errors::{AwsError, ErrorKind};

use crate::core::cache::{CreationTemplate, ScanningConfig};
use crate::core::model::{CacheRule, Identity, ImageInfo, ObservedRole, ObservedSecret};
pub use crate::core::model::{StackEvent, StackInfo};
use crate::core::upstream::Token;

/// A rule to create: Echo's ECR registry with a role, or another upstream with or without
/// a credential secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    pub prefix: String,
    /// ECR's `upstreamRegistry` value (`ecr`, `docker-hub`, …).
    pub upstream_registry: String,
    pub upstream_url: String,
    pub upstream_prefix: String,
    pub role_arn: Option<String>,
    pub credential_arn: Option<String>,
}

/// What a read of a secret's value showed, without the value: its JSON keys, and whether it
/// equals the credential the caller expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCheck {
    pub keys: Vec<String>,
    pub matches: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub is_valid: bool,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    pub name: String,
    pub arn: String,
    pub created_at: Option<DateTime<Utc>>,
    pub settings: Option<crate::core::model::RepoSettings>,
}

pub type AwsResult<T> = Result<T, AwsError>;

/// The JSON a credential secret holds, as ECR reads it.
pub fn secret_value(username: &str, token: &Token) -> String {
    serde_json::json!({"username": username, "accessToken": token.expose()}).to_string()
}

/// Key names of a secret's value and whether it holds `expect`; the value goes no further.
pub fn secret_check(value: Option<&str>, expect: Option<(&str, &Token)>) -> SecretCheck {
    let parsed: Option<serde_json::Map<String, Value>> =
        value.and_then(|v| serde_json::from_str(v).ok());
    let keys = parsed
        .as_ref()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let matches = expect.map(|(username, token)| {
        parsed.as_ref().is_some_and(|m| {
            m.get("username").and_then(Value::as_str) == Some(username)
                && m.get("accessToken").and_then(Value::as_str) == Some(token.expose())
        })
    });
    SecretCheck { keys, matches }
}

/// A stack to create or update (always with CAPABILITY_NAMED_IAM: the role has a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRequest {
    pub name: String,
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    /// NoEcho parameters (the registry token): sent to CloudFormation and nowhere else.
    pub secret_parameters: Vec<(String, SecretParameter)>,
    pub tags: Vec<(String, String)>,
}

/// A NoEcho parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretParameter {
    Value(crate::core::upstream::Token),
    /// The stack's current value, which equals the one being set (`UsePreviousValue`): the
    /// value is then not part of the change set's comparison at all.
    Previous,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackChange {
    /// Add, Modify, Remove, Import, Dynamic.
    pub action: String,
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// True, False or Conditional.
    pub replacement: Option<String>,
    /// Changed properties with whether each requires recreation (Always, Never, Conditionally).
    pub details: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetInfo {
    pub status: String,
    pub reason: Option<String>,
    pub execution_status: Option<String>,
    pub changes: Vec<StackChange>,
}

#[async_trait]
pub trait Aws: Send + Sync {
    /// The region this connection works in (IAM calls are global whatever it is).
    fn region(&self) -> String;
    /// The same account and credentials in another region.
    fn in_region(&self, region: &str) -> Arc<dyn Aws>;
    /// The regions enabled for the account (`account:ListRegions`).
    async fn enabled_regions(&self) -> AwsResult<Vec<String>>;

    async fn caller_identity(&self) -> AwsResult<Identity>;

    /// Every pull-through cache rule in the region (all pages). `managed_by` is left as
    /// `Other`: ownership is worked out from the rules' roles by the observer.
    async fn list_cache_rules(&self) -> AwsResult<Vec<CacheRule>>;
    /// Creates the rule; returns its `createdAt` as ECR reports it.
    async fn create_cache_rule(&self, rule: &NewRule) -> AwsResult<Option<DateTime<Utc>>>;
    /// Changes a rule's role or credential in place (what `UpdatePullThroughCacheRule` can).
    async fn update_cache_rule(
        &self,
        prefix: &str,
        role_arn: Option<&str>,
        credential_arn: Option<&str>,
    ) -> AwsResult<()>;
    async fn delete_cache_rule(&self, prefix: &str) -> AwsResult<()>;
    async fn validate_cache_rule(&self, prefix: &str) -> AwsResult<Validation>;

    /// The secret (by name or ARN), also while scheduled for deletion; `None` when it does
    /// not exist. `keys`, `value_matches` and `unreadable` are left unset.
    async fn describe_secret(&self, id: &str) -> AwsResult<Option<ObservedSecret>>;
    /// Reads the secret's value inside the adapter and returns only its key names and, given
    /// `expect`, whether `username` and `accessToken` equal it.
    async fn check_secret(
        &self,
        id: &str,
        expect: Option<(&str, &Token)>,
    ) -> AwsResult<SecretCheck>;
    /// Creates the secret holding `{"username","accessToken"}`; returns its ARN.
    async fn create_secret(
        &self,
        name: &str,
        username: &str,
        token: &Token,
        tags: &[(String, String)],
    ) -> AwsResult<String>;
    /// Stores a new value; returns the new version's id.
    async fn put_secret_value(&self, id: &str, username: &str, token: &Token) -> AwsResult<String>;
    /// Makes `version` AWSCURRENT again (undoes a value change).
    async fn restore_secret_version(&self, id: &str, version: &str, from: &str) -> AwsResult<()>;
    async fn restore_secret(&self, id: &str) -> AwsResult<()>;
    /// Schedules deletion after `recovery_days` (7-30), or at once when `None`.
    async fn delete_secret(&self, id: &str, recovery_days: Option<u32>) -> AwsResult<()>;

    /// Every repository creation template in the region (all pages).
    async fn list_creation_templates(&self) -> AwsResult<Vec<CreationTemplate>>;
    /// Creates the template (`create`) or replaces the settings of the existing one.
    async fn put_creation_template(
        &self,
        template: &CreationTemplate,
        create: bool,
    ) -> AwsResult<()>;
    async fn delete_creation_template(&self, prefix: &str) -> AwsResult<()>;
    /// The registry's scanning configuration (scan type and rules).
    async fn scanning_configuration(&self) -> AwsResult<ScanningConfig>;
    /// Replaces the registry's whole scanning configuration: callers merge first.
    async fn put_scanning_configuration(&self, config: &ScanningConfig) -> AwsResult<()>;
    /// The registry's pull-time-update exclusions (principal ARNs, all pages).
    async fn list_pull_time_exclusions(&self) -> AwsResult<Vec<String>>;
    async fn register_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()>;
    async fn deregister_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()>;

    /// The role with its trust policy, inline policies and tags; `None` when it does not exist.
    async fn get_role(&self, name: &str) -> AwsResult<Option<ObservedRole>>;
    /// The role's trust policy and tags only (one call): enough to tell who manages it.
    /// `inline_policies` is empty and `managed_policies` is `None` (not read).
    async fn get_role_summary(&self, name: &str) -> AwsResult<Option<ObservedRole>> {
        Ok(self.get_role(name).await?.map(|mut r| {
            r.inline_policies.clear();
            r.managed_policies = None;
            r
        }))
    }
    async fn create_role(
        &self,
        name: &str,
        description: &str,
        trust: &Value,
        tags: &[(String, String)],
    ) -> AwsResult<()>;
    async fn update_trust_policy(&self, name: &str, trust: &Value) -> AwsResult<()>;
    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &Value,
    ) -> AwsResult<()>;
    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> AwsResult<()>;
    async fn tag_role(&self, name: &str, tags: &[(String, String)]) -> AwsResult<()>;
    async fn untag_role(&self, name: &str, keys: &[String]) -> AwsResult<()>;
    async fn delete_role(&self, name: &str) -> AwsResult<()>;

    /// Every repository in the registry (all pages).
    async fn list_repositories(&self) -> AwsResult<Vec<RepoSummary>>;

    /// `list_repositories`, handing each page to `on_page` as it arrives (and keeping none),
    /// so work on a page (its pull counts) overlaps the reading of the next. Default: one
    /// page, the whole list.
    async fn list_repositories_paged(
        &self,
        on_page: &(dyn Fn(Vec<RepoSummary>) + Send + Sync),
    ) -> AwsResult<()> {
        on_page(self.list_repositories().await?);
        Ok(())
    }
    /// A repository's tags (`ListTagsForResource`, by the repository's ARN).
    async fn repository_tags(&self, arn: &str) -> AwsResult<BTreeMap<String, String>>;
    /// Every image of one repository (all pages).
    async fn list_images(&self, repository: &str) -> AwsResult<Vec<ImageInfo>>;
    async fn delete_repository(&self, name: &str) -> AwsResult<()>;

    /// IAM's policy simulator: the decision (`allowed`, `implicitDeny`, `explicitDeny`) for each
    /// action on `resource` as `principal_arn` (a user or role ARN).
    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resource: &str,
    ) -> AwsResult<Vec<(String, String)>>;

    /// When the current credentials expire (SSO and assumed-role sessions), if they do.
    async fn session_expiry(&self) -> Option<DateTime<Utc>>;

    /// The stack, or `None` when it does not exist (or was deleted).
    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>>;
    /// The name of the stack in this region that holds the resource with this physical id
    /// (a role's name, a rule's prefix): `DescribeStackResources` by `PhysicalResourceId`.
    /// `None` when no stack holds it.
    async fn stack_holding(&self, physical_id: &str) -> AwsResult<Option<String>>;
    /// Creates a change set (`create`: for a new stack); returns its id.
    async fn create_change_set(
        &self,
        req: &StackRequest,
        change_set_name: &str,
        create: bool,
    ) -> AwsResult<String>;
    async fn describe_change_set(&self, id: &str) -> AwsResult<ChangeSetInfo>;
    async fn delete_change_set(&self, id: &str) -> AwsResult<()>;
    /// Runs the change set exactly as it was described (`ExecuteChangeSet`).
    async fn execute_change_set(&self, id: &str) -> AwsResult<()>;
    /// Resumes the rollback of a stack in `UPDATE_ROLLBACK_FAILED`, skipping `skip` (logical
    /// ids of resources whose rollback failed).
    async fn continue_update_rollback(&self, name: &str, skip: &[String]) -> AwsResult<()>;
    /// Deletes a `DELETE_FAILED` stack, leaving `retain` (logical ids) in the account.
    async fn delete_stack_retaining(&self, name: &str, retain: &[String]) -> AwsResult<()>;
    async fn create_stack(&self, req: &StackRequest) -> AwsResult<()>;
    async fn update_stack(&self, req: &StackRequest) -> AwsResult<()>;
    async fn delete_stack(&self, name: &str) -> AwsResult<()>;
    /// Every event of the stack (all pages), newest first.
    async fn stack_events(&self, name: &str) -> AwsResult<Vec<StackEvent>>;

    // StackSets (fleet): the stack set lives in this account and region.
    async fn describe_stack_set(
        &self,
        name: &str,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<Option<stacksets::StackSetInfo>>;
    /// Every instance of the stack set (all pages).
    async fn list_stack_instances(
        &self,
        name: &str,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<Vec<stacksets::StackInstance>>;
    async fn create_stack_set(&self, req: &stacksets::StackSetRequest) -> AwsResult<()>;
    /// Updates the template and parameters on the instances `to` names; returns the operation.
    async fn update_stack_set(
        &self,
        req: &stacksets::StackSetRequest,
        to: &stacksets::Deployment,
    ) -> AwsResult<String>;
    async fn create_stack_instances(
        &self,
        name: &str,
        to: &stacksets::Deployment,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<String>;
    async fn delete_stack_instances(
        &self,
        name: &str,
        from: &stacksets::Deployment,
        retain_stacks: bool,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<String>;
    async fn delete_stack_set(&self, name: &str, call_as: &stacksets::CallAs) -> AwsResult<()>;
    /// The ids of the stack set's operations still running (or queued): a new operation
    /// meanwhile gets `OperationInProgressException`.
    async fn running_stack_set_operations(
        &self,
        name: &str,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<Vec<String>>;
    /// The operation's status and its per-instance results (all pages).
    async fn stack_set_operation(
        &self,
        name: &str,
        id: &str,
        call_as: &stacksets::CallAs,
    ) -> AwsResult<stacksets::OperationInfo>;
    /// The Organization this account belongs to (`None`: it is in none).
    async fn organization(&self) -> AwsResult<Option<stacksets::OrgInfo>>;
    /// StackSets' trusted access to the Organization, as CloudFormation reports it to this
    /// caller: ENABLED, DISABLED or DISABLED_PERMANENTLY.
    async fn stacksets_org_access(&self, call_as: &stacksets::CallAs) -> AwsResult<String>;
    /// The same adapter signed in to another account, through `role_name` there (STS
    /// AssumeRole), in `region`.
    async fn for_account(
        &self,
        account: &str,
        role_name: &str,
        region: &str,
    ) -> AwsResult<Arc<dyn Aws>>;

    /// Asks the account's registry for a manifest, as `docker pull` does first (no layers):
    /// `ecr:GetAuthorizationToken`, then the registry API at `registry_url` (default: the
    /// endpoint the token is for). A tag pull under a cache prefix fills the cache.
    async fn pull_manifest(
        &self,
        registry_url: Option<&str>,
        repository: &str,
        reference: &str,
    ) -> AwsResult<registry::Manifest>;

    /// `AWS/ECR RepositoryPullCount` per repository and day of `[end - days, end)`, oldest
    /// first (one `GetMetricData` query per repository, batched).
    async fn daily_pulls(
        &self,
        repositories: &[String],
        end: DateTime<Utc>,
        days: usize,
    ) -> AwsResult<HashMap<String, crate::core::model::DailyPulls>>;

    /// The busiest repositories by `AWS/ECR RepositoryPullCount` over `[end - days, end)`,
    /// busiest first, at most `BUSIEST_LIMIT`: one CloudWatch Metrics Insights query (which
    /// looks back at most `INSIGHTS_DAYS` and processes at most 10,000 series, so this is an
    /// early hint for ordering, not the count `daily_pulls` gives).
    async fn busiest_repositories(
        &self,
        end: DateTime<Utc>,
        days: usize,
    ) -> AwsResult<Vec<(String, u64)>>;
}

/// Series a Metrics Insights query returns at most.
pub const BUSIEST_LIMIT: usize = 500;
/// Days a Metrics Insights query can look back.
pub const INSIGHTS_DAYS: usize = 14;
