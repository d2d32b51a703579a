//! The CloudFormation template (assets/template.yaml, embedded at build time) and what the
//! tool derives from it: stack parameters for a setup, and a resolver for the intrinsic
//! functions it uses, so tests can prove the template's policies equal the core's.

pub mod resolve;

use std::sync::LazyLock;

use serde_json::Value;

use crate::core::validate::Setup;

/// The template as shipped, byte for byte: `aws cloudformation create-stack --template-body
/// file://template.yaml` works with it unchanged.
pub const TEMPLATE_YAML: &str = include_str!("../../assets/template.yaml");

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

/// The template as data, parsed once.
pub fn template() -> &'static Value {
    static PARSED: LazyLock<Value> = LazyLock::new(|| {
        serde_norway::from_str(TEMPLATE_YAML).expect("the embedded template is valid YAML")
    });
    &PARSED
}

pub fn template_json() -> String {
    serde_json::to_string_pretty(template()).expect("serialisable")
}

/// Stack parameters for a validated setup (names as in Echo's published template).
pub fn parameters(setup: &Setup) -> Vec<(String, String)> {
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
