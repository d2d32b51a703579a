//! Plain data describing what exists in an account (as read from AWS) and what should exist.
//! No I/O here: the AWS layer fills these, the planner compares them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::cache::{CacheObserved, CreationTemplate, ScanType};
use super::policy::{self, PolicyDocument};
use super::upstream::{secret_name, Credential, Token, UpstreamKind};
use super::validate::{
    Region, Setup, MANAGED_BY_KEY, MANAGED_BY_VALUE, PREFIX_TAG_KEY, STACK_TAG_KEY,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// Who manages a resource, as read from AWS (see `core::ownership` for the proofs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedBy {
    /// This tool's API method.
    EchoOnboard,
    /// A CloudFormation stack this tool made (the stack is tagged `managed-by=echo-onboard`).
    CloudFormation(String),
    /// A CloudFormation stack someone else made (e.g. by hand from Echo's template).
    Stack(String),
    /// Handed over to infrastructure code (`echo-onboard export --import`): the role's
    /// `managed-by` tag names the tool (terraform, pulumi, cloudformation).
    Iac(String),
    /// Someone else, by means AWS does not tell.
    Other,
}

impl ManagedBy {
    pub fn label(&self) -> String {
        match self {
            ManagedBy::EchoOnboard => "echo-onboard".into(),
            ManagedBy::CloudFormation(stack) => format!("cloudformation:{stack}"),
            ManagedBy::Stack(stack) => format!("stack:{stack}"),
            ManagedBy::Iac(tool) => tool.clone(),
            ManagedBy::Other => "other".into(),
        }
    }
    /// "made by stack echo-mirror, not echo-onboard": for status lines and screens.
    pub fn describe(&self) -> String {
        match self {
            ManagedBy::EchoOnboard => "made by echo-onboard".into(),
            ManagedBy::CloudFormation(stack) => format!("made by echo-onboard's stack {stack}"),
            ManagedBy::Stack(stack) => format!("made by stack {stack}, not echo-onboard"),
            ManagedBy::Iac(tool) => format!("handed over to {tool}"),
            ManagedBy::Other => "made outside echo-onboard".into(),
        }
    }
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Self {
        if let Some(stack) = tags
            .get("aws:cloudformation:stack-name")
            .or_else(|| tags.get(STACK_TAG_KEY))
        {
            ManagedBy::CloudFormation(stack.clone())
        } else if tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE) {
            ManagedBy::EchoOnboard
        } else if let Some(tool) = tags
            .get(MANAGED_BY_KEY)
            .filter(|t| ["terraform", "pulumi", "cloudformation"].contains(&t.as_str()))
        {
            ManagedBy::Iac(tool.clone())
        } else {
            ManagedBy::Other
        }
    }
    pub fn is_ours(&self) -> bool {
        matches!(self, ManagedBy::EchoOnboard)
    }
}

impl Serialize for ManagedBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// A pull-through cache rule as ECR describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheRule {
    pub prefix: String,
    pub upstream_registry: String,
    pub upstream_url: String,
    pub upstream_prefix: String,
    pub role_arn: Option<String>,
    pub credential_arn: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub managed_by: ManagedBy,
    /// What AWS showed that decided `managed_by` (filled by the observer).
    pub owner_proof: String,
}

/// An IAM role with its trust policy, inline policies and tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedRole {
    pub name: String,
    pub arn: String,
    pub trust: Value,
    pub inline_policies: BTreeMap<String, Value>,
    /// Attached managed policies (ARN → document); `None` when they could not be read.
    pub managed_policies: Option<BTreeMap<String, Value>>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedRole {
    pub fn managed_by(&self) -> ManagedBy {
        ManagedBy::from_tags(&self.tags)
    }
    /// Every policy document that grants the role something: inline, then attached.
    pub fn policy_documents(&self) -> Vec<&Value> {
        self.inline_policies
            .values()
            .chain(self.managed_policies.iter().flat_map(|m| m.values()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageInfo {
    pub digest: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
    pub pushed_at: Option<DateTime<Utc>>,
    pub last_pulled_at: Option<DateTime<Utc>>,
    /// In ECR's archive storage class (ARCHIVED, or ACTIVATING on its way back): a pull
    /// answers 404 until it is restored, and it is billed for at least 90 days.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

/// A cached repository under some rule's prefix, with usage figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepositoryInfo {
    pub name: String,
    pub rule_prefix: String,
    /// Read one call per repository, so absent until read (`status --summary`, and the
    /// dashboard until its background reads reach the repository).
    pub details: Option<RepoDetails>,
    pub pull_count_30d: u64,
    /// Pulls per day over the same 30 days, oldest first (from the same `GetMetricData`
    /// call as the total; empty when usage was not read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pulls_by_day: Vec<u64>,
    /// Tag mutability and encryption, from the repository listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<RepoSettings>,
    /// When ECR created it (a repository older than its rule was not made by the cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub arn: String,
}

/// What a repository was created with (a creation template decides these for cached ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoSettings {
    pub image_tag_mutability: String,
    pub encryption_type: String,
    pub kms_key: Option<String>,
}

impl RepoSettings {
    /// What ECR gives a repository without a template.
    pub fn ecr_default() -> Self {
        Self {
            image_tag_mutability: "MUTABLE".into(),
            encryption_type: "AES256".into(),
            kms_key: None,
        }
    }
}

/// Days covered by the pull figures.
pub const PULL_DAYS: usize = 30;

/// Pulls per day, oldest first, `PULL_DAYS` long.
pub type DailyPulls = Vec<u64>;

/// The end of the pull window: the next UTC midnight, so the window is `PULL_DAYS` whole UTC
/// days ending with today and each daily bucket is one calendar day (CloudWatch's daily
/// periods start at the window's start).
pub fn pull_window_end(now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    today + chrono::Duration::days(1)
}

/// Which day of a window starting at `start` (a UTC midnight) a timestamp falls in; `None`
/// outside the window. Floors, so a datapoint stamped at 23:59 stays in its own day.
pub fn pull_day(start: DateTime<Utc>, at: DateTime<Utc>, days: usize) -> Option<usize> {
    let day = (at - start).num_seconds().div_euclid(86_400);
    (0..days as i64).contains(&day).then_some(day as usize)
}

impl RepoDetails {
    /// What these images add up to.
    pub fn of(images: &[ImageInfo]) -> Self {
        let (archived, active): (Vec<&ImageInfo>, Vec<&ImageInfo>) =
            images.iter().partition(|i| i.archived);
        Self {
            image_count: active.len(),
            size_bytes: active.iter().map(|i| i.size_bytes).sum(),
            last_pulled_at: images.iter().filter_map(|i| i.last_pulled_at).max(),
            archived_count: archived.len(),
            archived_bytes: archived.iter().map(|i| i.size_bytes).sum(),
        }
    }
}

impl RepositoryInfo {
    /// A row known only by its name (nothing read about it yet).
    pub fn named(name: String) -> Self {
        Self {
            name,
            ..Default::default()
        }
    }
    pub fn image_count(&self) -> Option<usize> {
        self.details.map(|d| d.image_count)
    }
    pub fn size_bytes(&self) -> Option<u64> {
        self.details.map(|d| d.size_bytes)
    }
    /// The last pull, when the details are read and there was one.
    pub fn last_pulled_at(&self) -> Option<DateTime<Utc>> {
        self.details.and_then(|d| d.last_pulled_at)
    }
}

/// What a repository's images add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RepoDetails {
    /// Active images (what a pull can get) and their bytes.
    pub image_count: usize,
    pub size_bytes: u64,
    pub last_pulled_at: Option<DateTime<Utc>>,
    /// Archived images and their bytes, counted apart.
    pub archived_count: usize,
    pub archived_bytes: u64,
}

/// A Secrets Manager secret as described, and what a read of its value showed (key names
/// and whether it equals the wanted credential: never the value itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedSecret {
    pub arn: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// Set while the secret is scheduled for deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The version labelled AWSCURRENT (what a rollback of a value change returns to).
    #[serde(skip)]
    pub current_version: Option<String>,
    /// The keys of its JSON value; `None` when the value was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Whether the value equals the credential being set up (`None`: not compared).
    #[serde(skip)]
    pub value_matches: Option<bool>,
    /// Why the value could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// The KMS key that encrypts it (`DescribeSecret`'s `KmsKeyId`); `None`: the default
    /// `aws/secretsmanager` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// Whether a secret's key is Secrets Manager's default one, the only kind ECR's Chainguard
/// upstream reads (ECR user guide, pull-through cache: Chainguard).
pub fn uses_default_secret_key(kms_key_id: Option<&str>) -> bool {
    match kms_key_id {
        None => true,
        Some(k) => {
            k.is_empty()
                || k == "alias/aws/secretsmanager"
                || k.ends_with(":alias/aws/secretsmanager")
        }
    }
}

/// The keys ECR reads from a credential secret.
pub const SECRET_KEYS: [&str; 2] = ["username", "accessToken"];

impl ObservedSecret {
    pub fn managed_by(&self) -> ManagedBy {
        ManagedBy::from_tags(&self.tags)
    }
    /// Why ECR could not use this secret as a credential, if it could not.
    pub fn check_problem(&self) -> Option<String> {
        if let Some(e) = &self.unreadable {
            return Some(format!("cannot be read ({e})"));
        }
        let keys = self.keys.as_ref()?;
        let missing: Vec<&str> = SECRET_KEYS
            .into_iter()
            .filter(|k| !keys.iter().any(|have| have == k))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "lacks the key{} {} (it has: {})",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(" and "),
                if keys.is_empty() {
                    "none, or its value is not a JSON object".into()
                } else {
                    keys.join(", ")
                }
            )
        })
    }
}

/// Everything read from one account and region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub identity: Identity,
    pub region: String,
    pub rules: Vec<CacheRule>,
    /// The role named in the setup (absent when it does not exist).
    pub role: Option<ObservedRole>,
    /// Every role read: the named one and those the rules use (same account only).
    #[serde(skip)]
    pub roles: Vec<ObservedRole>,
    pub repositories: Vec<RepositoryInfo>,
    /// Creation templates and scanning (read for setups with cache settings, status, teardown).
    #[serde(skip_serializing_if = "cache_not_read")]
    pub cache: CacheObserved,
    /// The credential secret the setup names (by name for the tool's own, by ARN for
    /// `--credential-arn`), when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObservedSecret>,
}

fn cache_not_read(c: &CacheObserved) -> bool {
    !c.read()
}

impl Observed {
    pub fn rule(&self, prefix: &str) -> Option<&CacheRule> {
        self.rules.iter().find(|r| r.prefix == prefix)
    }
    pub fn role_by_arn(&self, arn: &str) -> Option<&ObservedRole> {
        self.roles.iter().find(|r| r.arn == arn)
    }
}

/// A CloudFormation stack as described by AWS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub outputs: std::collections::BTreeMap<String, String>,
    pub parameters: std::collections::BTreeMap<String, String>,
    /// The stack's own tags (set when it was created: this tool tags its stacks).
    pub tags: std::collections::BTreeMap<String, String>,
}

/// One CloudFormation stack event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackEvent {
    pub id: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// The role the tool wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredRole {
    pub name: String,
    pub arn: String,
    pub description: String,
    pub trust: PolicyDocument,
    pub policy_name: String,
    pub policy: PolicyDocument,
    pub tags: BTreeMap<String, String>,
}

/// The pull-through cache rule the tool wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredRule {
    pub prefix: String,
    pub upstream_registry: String,
    pub upstream_url: String,
    pub upstream_prefix: String,
    /// The role ECR assumes (Echo's ECR upstream only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The credential secret; `None` with a `secret` to create means "known after apply".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_arn: Option<String>,
}

/// The credential secret the tool keeps for an upstream (`ecr-pullthroughcache/<prefix>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredSecret {
    pub name: String,
    pub username: String,
    /// Never serialized: the plan says "(set)".
    #[serde(skip)]
    pub token: Token,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    pub account: String,
    pub region: String,
    /// The role ECR assumes: for Echo's upstream only (other upstreams use no role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<DesiredRole>,
    pub rule: DesiredRule,
    /// The prefix's repository creation template: with cache settings, and for every other
    /// upstream (its description records that the tool made the rule, which cannot be tagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<CreationTemplate>,
    /// Scan the prefix's repositories on push, with this scan type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanType>,
    /// The credential secret to create or keep, for upstreams given `--username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<DesiredSecret>,
    /// Principals whose pulls do not update lastRecordedPullTime (registry-wide per region).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_time_exclusions: Vec<String>,
}

impl Desired {
    /// The role, for the code paths that exist only for Echo's upstream.
    pub fn echo_role(&self) -> &DesiredRole {
        self.role
            .as_ref()
            .expect("Echo's upstream always has a role")
    }
}

pub fn upstream_registry_url(echo_account: &str, echo_region: &Region) -> String {
    format!(
        "{}.dkr.ecr.{}.{}",
        echo_account,
        echo_region,
        echo_region.dns_suffix()
    )
}

pub fn role_arn(partition: &str, account: &str, role: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role}")
}

/// The desired state for a validated setup in the caller's account.
pub fn desired(setup: &Setup, own_account: &str) -> Desired {
    let prefix = setup.prefix.to_string();
    let rule_and_role = match setup.echo() {
        Some(echo_account) => {
            let arn = role_arn(
                setup.region.partition(),
                own_account,
                setup.role_name.as_str(),
            );
            let mut tags = setup.tags.clone();
            tags.insert(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into());
            tags.insert(PREFIX_TAG_KEY.into(), prefix.clone());
            let role = DesiredRole {
                name: setup.role_name.to_string(),
                arn: arn.clone(),
                description: format!(
                    "Lets ECR pull-through cache (prefix {prefix}) pull from Echo's registry. Managed by echo-onboard."
                ),
                trust: policy::trust_policy(),
                policy_name: super::validate::DEFAULT_POLICY_NAME.into(),
                policy: policy::permission_policy(setup, own_account),
                tags,
            };
            let rule = DesiredRule {
                prefix: prefix.clone(),
                upstream_registry: UpstreamKind::Echo.api().into(),
                upstream_url: upstream_registry_url(echo_account.as_str(), &setup.echo_region),
                upstream_prefix: setup.upstream_prefix.to_string(),
                role_arn: Some(arn),
                credential_arn: None,
            };
            (rule, Some(role))
        }
        None => {
            let credential_arn = match &setup.upstream.credential {
                Some(Credential::Existing { arn }) => Some(arn.clone()),
                _ => None,
            };
            let rule = DesiredRule {
                prefix: prefix.clone(),
                upstream_registry: setup.upstream.kind.api().into(),
                upstream_url: setup.upstream.url.clone().unwrap_or_default(),
                upstream_prefix: setup.upstream_prefix.to_string(),
                role_arn: None,
                credential_arn,
            };
            (rule, None)
        }
    };
    let (rule, role) = rule_and_role;
    let secret = match &setup.upstream.credential {
        Some(Credential::New { username, token }) => {
            let mut tags = setup.tags.clone();
            tags.insert(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into());
            tags.insert(PREFIX_TAG_KEY.into(), prefix.clone());
            Some(DesiredSecret {
                name: secret_name(&prefix),
                username: username.clone(),
                token: token.clone(),
                tags,
            })
        }
        _ => None,
    };
    let wants_template = setup.cache.wants_template() || !setup.is_echo();
    let mut d = Desired {
        account: own_account.to_string(),
        region: setup.region.to_string(),
        template: wants_template.then(|| {
            let mut t = super::cache::desired_template(
                &prefix,
                &setup.cache,
                role.as_ref().map(|r| r.arn.as_str()),
                setup.cache.scan.is_some(),
            );
            if role.is_none() {
                t.record_rule(None);
            }
            t
        }),
        role,
        rule,
        scan: setup.cache.scan.clone(),
        pull_time_exclusions: setup.cache.pull_time_exclusions.clone(),
        secret,
    };
    if let (Some(role), true) = (&mut d.role, setup.cache.wants_template()) {
        super::cache::extend_role(role, setup, own_account, None);
    }
    d
}

/// The lines a user runs to log in and pull through the cache.
pub fn usage_instructions(account: &str, region: &str, prefix: &str) -> Vec<String> {
    let suffix = super::regions::dns_suffix(region);
    let registry = format!("{account}.dkr.ecr.{region}.{suffix}");
    let path = if prefix == super::validate::ROOT {
        String::new()
    } else {
        format!("{prefix}/")
    };
    vec![
        format!("aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}"),
        format!("docker pull {registry}/{path}<image>:<tag>"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::SetupInput;

    #[test]
    fn the_pull_window_is_whole_utc_days_ending_today() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let end = pull_window_end(at("2026-12-04T20:17:43Z"));
        assert_eq!(end, at("2026-12-05T00:00:00Z"));
        let start = end - chrono::Duration::days(PULL_DAYS as i64);
        assert_eq!(start, at("2026-11-05T00:00:00Z"));
        // Today's pulls are in the last bucket, yesterday's just before, whatever the hour.
        assert_eq!(
            pull_day(start, at("2026-12-04T00:00:00Z"), PULL_DAYS),
            Some(29)
        );
        assert_eq!(
            pull_day(start, at("2026-12-04T23:59:59Z"), PULL_DAYS),
            Some(29)
        );
        assert_eq!(
            pull_day(start, at("2026-12-03T23:59:59Z"), PULL_DAYS),
            Some(28)
        );
        assert_eq!(
            pull_day(start, at("2026-11-05T00:00:00Z"), PULL_DAYS),
            Some(0)
        );
        assert_eq!(pull_day(start, at("2026-11-04T23:59:59Z"), PULL_DAYS), None);
        assert_eq!(pull_day(start, end, PULL_DAYS), None);
        // Midnight exactly is the next day's start.
        assert_eq!(
            pull_window_end(at("2026-12-05T00:00:00Z")),
            at("2026-12-06T00:00:00Z")
        );
    }

    #[test]
    fn desired_state_from_defaults() {
        let mut input = SetupInput::with_defaults("111122223333", "eu-west-1");
        input.tags = vec!["team=platform".into()];
        let d = desired(&input.validate().unwrap(), "444455556666");
        let role = d.echo_role();
        assert_eq!(
            role.arn,
            "arn:aws:iam::444455556666:role/echo-pullthrough-cache-role"
        );
        assert_eq!(d.rule.role_arn.as_deref(), Some(role.arn.as_str()));
        assert_eq!(
            d.rule.upstream_url,
            "111122223333.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(d.rule.upstream_registry, "ecr");
        assert_eq!(d.rule.upstream_prefix, "ROOT");
        assert_eq!(role.tags["managed-by"], "echo-onboard");
        assert_eq!(role.tags["echo-onboard:prefix"], "echo");
        assert_eq!(role.tags["team"], "platform");
        assert!(d.template.is_none() && d.secret.is_none());
    }

    #[test]
    fn another_upstream_has_no_role_and_a_marker_template() {
        let mut input = SetupInput::with_defaults("", "eu-west-1");
        input.prefix = "hub".into();
        input.upstream.name = "docker-hub".into();
        input.upstream.username = "me".into();
        input.upstream.token = Some(Token::new("dckr_pat_secret"));
        let d = desired(&input.validate().unwrap(), "444455556666");
        assert!(d.role.is_none());
        assert_eq!(d.rule.upstream_registry, "docker-hub");
        assert_eq!(d.rule.upstream_url, "registry-1.docker.io");
        assert_eq!(d.rule.role_arn, None);
        let secret = d.secret.as_ref().unwrap();
        assert_eq!(secret.name, "ecr-pullthroughcache/hub");
        assert_eq!(secret.tags["managed-by"], "echo-onboard");
        let t = d.template.as_ref().unwrap();
        assert!(t.managed_by().is_ours());
        assert_eq!(t.custom_role_arn, None);
        assert!(t.resource_tags.is_empty());
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains("dckr_pat_secret"), "{json}");
    }

    #[test]
    fn managed_by_from_tags() {
        let mut t = BTreeMap::new();
        assert_eq!(ManagedBy::from_tags(&t), ManagedBy::Other);
        t.insert("managed-by".into(), "echo-onboard".into());
        assert!(ManagedBy::from_tags(&t).is_ours());
        t.insert("aws:cloudformation:stack-name".into(), "s".into());
        assert_eq!(ManagedBy::from_tags(&t).label(), "cloudformation:s");
    }

    #[test]
    fn usage_lines() {
        let u = usage_instructions("444455556666", "eu-west-1", "echo");
        assert!(u[0].contains("docker login --username AWS --password-stdin 444455556666.dkr.ecr.eu-west-1.amazonaws.com"));
        assert_eq!(
            u[1],
            "docker pull 444455556666.dkr.ecr.eu-west-1.amazonaws.com/echo/<image>:<tag>"
        );
        let r = usage_instructions("444455556666", "cn-north-1", "ROOT");
        assert_eq!(
            r[1],
            "docker pull 444455556666.dkr.ecr.cn-north-1.amazonaws.com.cn/<image>:<tag>"
        );
    }
}
