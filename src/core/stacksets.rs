//! StackSets as data: a stack set, its instances, and the operations that fan a template out
//! to many accounts and regions (what the AWS adapter reads and writes; no I/O here).

use std::collections::BTreeMap;

use serde::Serialize;

/// How a stack set reaches its accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "model")]
pub enum Permission {
    /// Account lists, through an administration role here and an execution role there.
    SelfManaged {
        admin_role_arn: String,
        execution_role_name: String,
    },
    /// Organizations OUs through trusted access; `auto_deploy` follows accounts joining them.
    ServiceManaged { auto_deploy: bool },
}

/// `CallAs` for a delegated administrator (`None`: the management or admin account itself).
pub type CallAs = Option<String>;

/// The AWS Organization the caller's account belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgInfo {
    pub id: String,
    pub management_account: String,
}

/// The service principal of StackSets' trusted access (and its delegated administrators).
pub const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";

/// A stack set to create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSetRequest {
    pub name: String,
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub permission: Permission,
    pub call_as: CallAs,
}

/// Where an operation goes, and how fast.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Deployment {
    pub accounts: Vec<String>,
    pub org_units: Vec<String>,
    pub regions: Vec<String>,
    pub prefs: OperationPrefs,
}

/// StackSets operation preferences (safe defaults: regions in parallel, a quarter of the
/// accounts at a time, stop at the first failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OperationPrefs {
    pub parallel_regions: bool,
    pub max_concurrent_percentage: u8,
    pub failure_tolerance_percentage: u8,
}

impl Default for OperationPrefs {
    fn default() -> Self {
        Self {
            parallel_regions: true,
            max_concurrent_percentage: 25,
            failure_tolerance_percentage: 0,
        }
    }
}

/// A stack set as DescribeStackSet gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackSetInfo {
    pub name: String,
    /// ACTIVE or DELETED.
    pub status: String,
    #[serde(skip)]
    pub template_body: String,
    pub parameters: BTreeMap<String, String>,
    pub permission: Permission,
}

/// One stack instance (an account × region), as ListStackInstances gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackInstance {
    pub account: String,
    pub region: String,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub status: String,
    /// PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, INOPERABLE, SKIPPED_SUSPENDED_ACCOUNT.
    pub detailed_status: Option<String>,
    pub status_reason: Option<String>,
    pub org_unit: Option<String>,
}

impl StackInstance {
    /// Failed, as opposed to still pending or running (never counted as failed).
    pub fn failed(&self) -> bool {
        !self.in_flight()
            && (self.status != "CURRENT" || self.detailed_status.as_deref() == Some("FAILED"))
    }
    pub fn in_flight(&self) -> bool {
        matches!(self.detailed_status.as_deref(), Some("PENDING" | "RUNNING"))
    }
}

/// An operation's state and its per-instance results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationInfo {
    pub id: String,
    /// RUNNING, SUCCEEDED, FAILED, STOPPING, STOPPED, QUEUED.
    pub status: String,
    pub reason: Option<String>,
    pub results: Vec<InstanceResult>,
}

impl OperationInfo {
    pub fn is_done(&self) -> bool {
        !matches!(self.status.as_str(), "RUNNING" | "STOPPING" | "QUEUED")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    pub account: String,
    pub region: String,
    /// PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED.
    pub status: String,
    pub reason: Option<String>,
}
