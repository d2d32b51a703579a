//! From a validated setup to a plan, for either method: shared by the CLI and the TUI.

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::core::model::{desired, Desired, ManagedBy, Observed, ObservedRole};
use crate::core::plan::{self, Plan, PlanOptions};
use crate::core::upstream::{secret_name, Credential};
use crate::core::validate::{RoleName, Setup, DEFAULT_ROLE_NAME, PREFIX_TAG_KEY};
use crate::engine::observe::{self, CacheReads, Scope, SecretRead};
use crate::engine::stack::{self, StackPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Api,
    CloudFormation,
}

/// Everything an apply needs, computed by [`plan_setup`].
pub struct Planned {
    pub setup: Setup,
    pub desired: Desired,
    pub observed: Observed,
    pub plan: Plan,
    /// Set for the CloudFormation method.
    pub stack: Option<StackPlan>,
}

/// The credential secret a setup names, and the credential to compare its value with.
fn secret_read(setup: &Setup) -> Option<SecretRead> {
    match setup.upstream.credential.as_ref()? {
        Credential::New { username, token } => Some(SecretRead {
            id: secret_name(setup.prefix.as_str()),
            expect: Some((username.clone(), token.clone())),
            value: true,
        }),
        Credential::Existing { arn } => Some(SecretRead {
            id: arn.clone(),
            expect: None,
            value: true,
        }),
    }
}

/// Owners whose Echo rule a plan checks for equivalence instead of changing it.
fn made_elsewhere(by: &ManagedBy) -> bool {
    matches!(
        by,
        ManagedBy::Stack(_) | ManagedBy::Iac(_) | ManagedBy::Other
    )
}

/// The role this setup should use when the user kept the default role name: the tool's
/// role of this prefix's rule, or a name of its own when the default role already serves
/// another prefix. `None`: the default is right.
fn own_role_for_prefix(setup: &Setup, observed: &Observed) -> Option<String> {
    if setup.role_name.as_str() != DEFAULT_ROLE_NAME {
        return None;
    }
    let prefix = setup.prefix.as_str();
    let serves = |r: &ObservedRole, p: &str| {
        r.managed_by().is_ours() && r.tags.get(PREFIX_TAG_KEY).map(String::as_str) == Some(p)
    };
    if let Some(role) = observed
        .rule(prefix)
        .and_then(|r| r.role_arn.as_deref())
        .and_then(|a| observed.role_by_arn(a))
        .filter(|r| serves(r, prefix))
    {
        return Some(role.name.clone());
    }
    let default = observed.role.as_ref()?;
    let other = default.managed_by().is_ours() && !serves(default, prefix);
    other.then(|| derived_role_name(prefix))
}

/// `echo-pullthrough-cache-role-<prefix>`, within IAM's 64 characters.
pub fn derived_role_name(prefix: &str) -> String {
    let suffix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{DEFAULT_ROLE_NAME}-{suffix}")
        .chars()
        .take(64)
        .collect()
}

pub async fn plan_setup(
    aws: &dyn Aws,
    setup: Setup,
    method: Method,
    stack_name: &str,
    adopt: bool,
) -> Result<Planned, AwsError> {
    // A stack names its role per region (see cfn::stack_role_name).
    let role_name = match method {
        Method::Api => setup.role_name.to_string(),
        Method::CloudFormation => {
            crate::cfn::stack_role_name(setup.role_name.as_str(), setup.region.as_str())
        }
    };
    let scope = Scope {
        role_name: setup.is_echo().then(|| role_name.clone()),
        stacks_for: Some(setup.prefix.to_string()),
        // Another upstream's rule is recorded as the tool's by its template.
        cache: if setup.cache.is_empty() && setup.is_echo() {
            CacheReads::Skip
        } else {
            CacheReads::Required
        },
        pull_time_exclusions: true,
        secret: secret_read(&setup),
        ..Default::default()
    };
    let mut observed = observe::observe(aws, setup.region.as_str(), &scope).await?;
    // Another prefix with the defaults: the default role already serves a prefix, so this
    // one gets its own (its rule's, when it has one already).
    let mut setup = setup;
    if method == Method::Api && setup.is_echo() {
        if let Some(name) = own_role_for_prefix(&setup, &observed) {
            if name != role_name {
                let role = aws.get_role(&name).await?;
                observed.roles.extend(role.clone());
                observed.role = role;
                setup.role_name =
                    RoleName::parse("role-name", &name).expect("a derived role name is valid");
            }
        }
    }
    let role_name = match method {
        Method::Api => setup.role_name.to_string(),
        Method::CloudFormation => role_name,
    };
    let mut desired = desired(&setup, &observed.identity.account);
    if let Some(role) = desired.role.as_mut().filter(|r| r.name != role_name) {
        role.arn = crate::core::model::role_arn(
            setup.region.partition(),
            &observed.identity.account,
            &role_name,
        );
        role.name = role_name;
        desired.rule.role_arn = Some(role.arn.clone());
    }
    // The tool's secret keeps its ARN; the rule points at it.
    if let (Some(_), Some(current)) = (&desired.secret, &observed.secret) {
        desired.rule.credential_arn = Some(current.arn.clone());
    }
    crate::core::cache::settle(&mut desired, &setup, &observed);
    // An Echo rule someone else made (a stack, Terraform, by hand): already onboarded when
    // it is equivalent, else blocked with the differences; never taken over without --adopt.
    if let Some(rule) = observed
        .rule(setup.prefix.as_str())
        .filter(|r| setup.is_echo() && !adopt && made_elsewhere(&r.managed_by))
        .cloned()
    {
        match aws.validate_cache_rule(&rule.prefix).await {
            // Deleted since it was listed (another run's teardown): it is absent.
            Err(e) if e.is(ErrorKind::NotFound) => {
                observed.rules.retain(|r| r.prefix != rule.prefix);
            }
            result => {
                let validation = result
                    .map(|v| (v.is_valid, v.failure))
                    .map_err(|e| format!("{} [{}]", e.message, e.code));
                let plan = plan::plan_made_elsewhere(&desired, &observed, &rule, Some(&validation));
                return Ok(Planned {
                    setup,
                    desired,
                    observed,
                    plan,
                    stack: None,
                });
            }
        }
    }
    if method == Method::CloudFormation {
        let sp = stack::plan(aws, &setup, &desired, &observed, stack_name).await?;
        return Ok(Planned {
            plan: sp.plan.clone(),
            stack: Some(sp),
            setup,
            desired,
            observed,
        });
    }
    let plan = plan::plan(
        &desired,
        &observed,
        setup.echo().map(|a| a.as_str()),
        PlanOptions { adopt },
    );
    Ok(Planned {
        setup,
        desired,
        observed,
        plan,
        stack: None,
    })
}
