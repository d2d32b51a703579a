//! The CloudFormation templates (embedded at build time) and what the tool derives from them:
//! stack parameters for a setup, and a resolver for the intrinsic functions they use, so tests
//! can prove the templates' resources equal the core's.
//!
//! - assets/template.yaml: Echo's rule and its role (Echo's published template, extended with
//!   cache settings);
//! - assets/upstream-template.yaml: another upstream's rule, its credential secret and the
//!   creation template that records the stack as the rule's owner.

pub mod resolve;

use std::sync::LazyLock;

use serde_json::Value;

use crate::core::upstream::{Credential, Token};
use crate::core::validate::Setup;

/// The template as shipped, byte for byte: `aws cloudformation create-stack --template-body
/// file://template.yaml` works with it unchanged.
pub const TEMPLATE_YAML: &str = include_str!("../../assets/template.yaml");
/// The template for every other upstream registry.
pub const UPSTREAM_TEMPLATE_YAML: &str = include_str!("../../assets/upstream-template.yaml");

/// Which of the two templates a stack is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Echo,
    Upstream,
}

impl Kind {
    pub fn of(setup: &Setup) -> Self {
        if setup.is_echo() {
            Kind::Echo
        } else {
            Kind::Upstream
        }
    }
    /// The kind of an existing stack, read from its parameters (each template has one the
    /// other lacks); `None` for a stack neither template made.
    pub fn of_stack(params: &std::collections::BTreeMap<String, String>) -> Option<Self> {
        if params.contains_key("SourceRegistryAccountId") {
            Some(Kind::Echo)
        } else if params.contains_key("UpstreamRegistry") {
            Some(Kind::Upstream)
        } else {
            None
        }
    }
    pub fn yaml(self) -> &'static str {
        match self {
            Kind::Echo => TEMPLATE_YAML,
            Kind::Upstream => UPSTREAM_TEMPLATE_YAML,
        }
    }
    /// The template as data, parsed once.
    pub fn template(self) -> &'static Value {
        static ECHO: LazyLock<Value> = LazyLock::new(|| parse(TEMPLATE_YAML));
        static UPSTREAM: LazyLock<Value> = LazyLock::new(|| parse(UPSTREAM_TEMPLATE_YAML));
        match self {
            Kind::Echo => &ECHO,
            Kind::Upstream => &UPSTREAM,
        }
    }
    /// The resources a stack of this kind holds for a setup (logical id, type).
    pub fn resources(self, params: &[(String, String)]) -> Vec<(&'static str, &'static str)> {
        let on = |k: &str, v: &str| params.iter().any(|(pk, pv)| pk == k && pv == v);
        let off = |k: &str| params.iter().all(|(pk, pv)| pk != k || pv.is_empty());
        match self {
            Kind::Echo => {
                let mut r = vec![(ROLE_LOGICAL_ID, ROLE_TYPE), (RULE_LOGICAL_ID, RULE_TYPE)];
                if on("CacheSettings", "true") {
                    r.push((TEMPLATE_LOGICAL_ID, TEMPLATE_TYPE));
                }
                r
            }
            Kind::Upstream => {
                let mut r = vec![];
                if !off("Username") {
                    r.push((SECRET_LOGICAL_ID, SECRET_TYPE));
                }
                r.push((RULE_LOGICAL_ID, RULE_TYPE));
                r.push((TEMPLATE_LOGICAL_ID, TEMPLATE_TYPE));
                r
            }
        }
    }
}

fn parse(yaml: &str) -> Value {
    serde_norway::from_str(yaml).expect("the embedded templates are valid YAML")
}

pub const ROLE_TYPE: &str = "AWS::IAM::Role";
pub const RULE_TYPE: &str = "AWS::ECR::PullThroughCacheRule";
pub const TEMPLATE_TYPE: &str = "AWS::ECR::RepositoryCreationTemplate";
pub const SECRET_TYPE: &str = "AWS::SecretsManager::Secret";
pub const TEMPLATE_LOGICAL_ID: &str = "RepositoryCreationTemplate";
pub const SECRET_LOGICAL_ID: &str = "Credential";
/// The NoEcho parameter that carries the registry token.
pub const TOKEN_PARAMETER: &str = "AccessToken";

pub const DEFAULT_STACK_NAME: &str = "echo-registry-ecr-cache";
pub const DEFAULT_CACHE_RULE_NAME: &str = "echo-registry-cache";
pub const RULE_LOGICAL_ID: &str = "PullThroughCacheRule";
pub const ROLE_LOGICAL_ID: &str = "AccessRole";

/// The name of the role a stack creates: the template appends the stack's region, so stacks
/// of one account in several regions (or a stack set) never clash on IAM's global names.
pub fn stack_role_name(base: &str, region: &str) -> String {
    format!("{base}-{region}")
}

/// The longest `RoleName` parameter the template takes (64 minus `-<region>`).
pub const MAX_STACK_ROLE_BASE: usize = 48;

/// Echo's template as data, parsed once.
pub fn template() -> &'static Value {
    Kind::Echo.template()
}

pub fn template_json(kind: Kind) -> String {
    serde_json::to_string_pretty(kind.template()).expect("serialisable")
}

/// The stack name used when none is given: Echo's published one for Echo's rule, and one per
/// prefix for other upstreams (so their stacks never update Echo's, or each other's).
pub fn default_stack_name(setup: &Setup) -> String {
    match Kind::of(setup) {
        Kind::Echo => DEFAULT_STACK_NAME.to_string(),
        Kind::Upstream => {
            let prefix: String = setup
                .prefix
                .as_str()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("echo-onboard-cache-{prefix}")
        }
    }
}

/// A string as it appears inside a JSON string literal: the upstream template embeds the
/// user name and token into the secret's JSON with `Fn::Sub`, which does not escape.
pub fn json_escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_string()
}

/// The token parameter's value (JSON-escaped, see [`json_escaped`]), for a setup that makes
/// a secret; the plan and every output show `(set)` instead.
pub fn token_parameter(setup: &Setup) -> Option<Token> {
    match setup.upstream.credential.as_ref()? {
        Credential::New { token, .. } => Some(Token::new(json_escaped(token.expose()))),
        Credential::Existing { .. } => None,
    }
}

/// Stack parameters for a validated setup (names as in the templates), without the token.
/// The options of `setup` Echo's stack template has no parameter for (what a stack, and so
/// a stack set, leaves out), each with what was asked and why.
pub fn not_carried(setup: &Setup) -> Vec<crate::core::fleet::NotCarried> {
    use crate::core::fleet::{NotCarried, WizardOption as O};
    let c = &setup.cache;
    let joined = |v: Vec<String>| v.join(",");
    [
        (c.scan.is_some(), O::ScanOnPush, c.scan.as_ref().map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default(), "scanning is merged into the registry's whole configuration, which AWS::ECR::RegistryScanningConfiguration would replace"),
        (!c.repo_tags.is_empty(), O::RepoTags, joined(c.repo_tags.iter().map(|(k, v)| format!("{k}={v}")).collect()), "Echo's template tags created repositories with managed-by only"),
        (!c.mutable_tags.is_empty(), O::MutableTags, c.mutable_tags.join(","), "the template's ImageTagMutability takes MUTABLE or IMMUTABLE only"),
        (!setup.tags.is_empty(), O::Tags, joined(setup.tags.iter().map(|(k, v)| format!("{k}={v}")).collect()), "the template tags the role with echo-onboard's own tags only"),
        (setup.broad_policy, O::BroadPolicy, "true".to_string(), "the template keeps the least-privilege statements"),
        (!c.pull_time_exclusions.is_empty(), O::PullTimeExclusions, c.pull_time_exclusions.join(","), "CloudFormation has no resource for pull-time-update exclusions"),
    ]
    .into_iter()
    .filter(|(on, ..)| *on)
    .map(|(_, option, value, why)| NotCarried {
        option,
        value,
        why: why.to_string(),
    })
    .collect()
}

pub fn parameters(setup: &Setup) -> Vec<(String, String)> {
    match Kind::of(setup) {
        Kind::Echo => echo_parameters(setup),
        Kind::Upstream => upstream_parameters(setup),
    }
}

fn upstream_parameters(setup: &Setup) -> Vec<(String, String)> {
    let c = &setup.cache;
    let u = &setup.upstream;
    let (username, arn) = match &u.credential {
        Some(Credential::New { username, .. }) => (json_escaped(username), String::new()),
        Some(Credential::Existing { arn }) => (String::new(), arn.clone()),
        None => (String::new(), String::new()),
    };
    vec![
        ("RepositoryNamePrefix".into(), setup.prefix.to_string()),
        ("UpstreamRegistry".into(), u.kind.api().to_string()),
        (
            "UpstreamRegistryUrl".into(),
            u.url.clone().unwrap_or_default(),
        ),
        (
            "UpstreamRepositoryPrefix".into(),
            setup.upstream_prefix.to_string(),
        ),
        ("Username".into(), username),
        ("CredentialArn".into(), arn),
        (
            "ImageTagMutability".into(),
            if c.immutable_tags {
                "IMMUTABLE"
            } else {
                "MUTABLE"
            }
            .into(),
        ),
        (
            "LifecyclePolicy".into(),
            crate::core::cache::lifecycle_policy(c)
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ),
        (
            "RepositoryPolicy".into(),
            c.repository_policy.clone().unwrap_or_default(),
        ),
    ]
}

fn echo_parameters(setup: &Setup) -> Vec<(String, String)> {
    let c = &setup.cache;
    vec![
        (
            "SourceRegistryAccountId".into(),
            setup
                .echo()
                .expect("stacks are for Echo's upstream only")
                .to_string(),
        ),
        ("SourceRegistryRegion".into(), setup.echo_region.to_string()),
        ("RepositoryNamePrefix".into(), setup.prefix.to_string()),
        ("CacheRuleName".into(), DEFAULT_CACHE_RULE_NAME.into()),
        ("RoleName".into(), setup.role_name.to_string()),
        (
            "UpstreamRepositoryPrefix".into(),
            setup.upstream_prefix.to_string(),
        ),
        // Cache settings: the stack's repository creation template (scanning and repository
        // tags are API-only, refused before a stack is planned).
        ("CacheSettings".into(), c.wants_template().to_string()),
        (
            "ImageTagMutability".into(),
            if c.immutable_tags {
                "IMMUTABLE"
            } else {
                "MUTABLE"
            }
            .into(),
        ),
        ("KmsKey".into(), c.kms_key.clone().unwrap_or_default()),
        (
            "KmsKeyAccountId".into(),
            c.kms_key
                .as_deref()
                .and_then(crate::core::cache::kms_key_account)
                .unwrap_or_default()
                .to_string(),
        ),
        (
            "LifecyclePolicy".into(),
            crate::core::cache::lifecycle_policy(c)
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ),
        (
            "RepositoryPolicy".into(),
            c.repository_policy.clone().unwrap_or_default(),
        ),
    ]
}
