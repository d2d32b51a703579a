//! From a validated setup to a plan, for either method: shared by the CLI and the TUI.

use crate::aws::{Aws, AwsError};
use crate::core::model::{desired, Desired, Observed};
use crate::core::plan::{self, Plan, PlanOptions};
use crate::core::upstream::{secret_name, Credential};
use crate::core::validate::Setup;
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
        // Another upstream's rule is recorded as the tool's by its template.
        cache: if setup.cache.is_empty() && setup.is_echo() {
            CacheReads::Skip
        } else {
            CacheReads::Required
        },
        secret: secret_read(&setup),
        ..Default::default()
    };
    let observed = observe::observe(aws, setup.region.as_str(), &scope).await?;
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
