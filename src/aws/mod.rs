//! The one seam to AWS. Everything the tool reads or changes goes through [`Aws`]; the SDK
//! adapter ([`sdk::SdkAws`]) implements it for real accounts and the emulator, the sandbox
//! implements it in-process.

pub mod errors;
pub mod sdk;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use errors::{AwsError, ErrorKind};

use crate::core::model::{CacheRule, Identity, ImageInfo, ObservedRole};

/// A rule to create (ECR upstream only: this tool onboards Echo's ECR registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    pub prefix: String,
    pub upstream_url: String,
    pub upstream_prefix: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub is_valid: bool,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    pub name: String,
    pub created_at: Option<DateTime<Utc>>,
}

pub type AwsResult<T> = Result<T, AwsError>;

#[async_trait]
pub trait Aws: Send + Sync {
    async fn caller_identity(&self) -> AwsResult<Identity>;

    /// Every pull-through cache rule in the region (all pages). `managed_by` is left as
    /// `Other`: ownership is worked out from the rules' roles by the observer.
    async fn list_cache_rules(&self) -> AwsResult<Vec<CacheRule>>;
    async fn create_cache_rule(&self, rule: &NewRule) -> AwsResult<()>;
    async fn update_cache_rule_role(&self, prefix: &str, role_arn: &str) -> AwsResult<()>;
    async fn delete_cache_rule(&self, prefix: &str) -> AwsResult<()>;
    async fn validate_cache_rule(&self, prefix: &str) -> AwsResult<Validation>;

    /// The role with its trust policy, inline policies and tags; `None` when it does not exist.
    async fn get_role(&self, name: &str) -> AwsResult<Option<ObservedRole>>;
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

    /// `AWS/ECR RepositoryPullCount` summed over `[start, end)` per repository.
    async fn pull_counts(
        &self,
        repositories: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> AwsResult<HashMap<String, u64>>;
}
