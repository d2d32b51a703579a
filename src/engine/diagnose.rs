//! Runs every diagnostic check: one parallel observation wave, then the checks that need their
//! own AWS calls (validation, permission simulations) in parallel.

use serde::Serialize;

use super::observe::{observe, read_secret, Scope, SecretRead};
use crate::aws::Aws;
use crate::core::checks::{self, Check, Status};
use crate::core::model::{desired, ManagedBy, Observed};
use crate::core::plan::{plan, Plan, PlanOptions};
use crate::core::validate::{SetupInput, DEFAULT_ROLE_NAME};

#[derive(Debug, Clone, Default)]
pub struct DiagnoseInput {
    pub prefix: String,
    /// Echo's account id; taken from the rule's upstream URL when not given.
    pub echo_account: Option<String>,
    /// Workload roles to check for the first-pull actions (each simulated).
    pub puller_roles: Vec<String>,
    /// The stack to check when the rule is not already known to belong to one.
    pub stack_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    #[serde(skip)]
    pub observed: Option<Observed>,
    /// What `apply` would change to repair the setup (when Echo's account is known).
    pub plan: Option<Plan>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

pub async fn diagnose(aws: &dyn Aws, region: &str, input: &DiagnoseInput) -> Report {
    let prefix = input.prefix.as_str();
    let scope = Scope {
        role_name: Some(DEFAULT_ROLE_NAME.into()),
        usage: true,
        prefix: Some(prefix.to_string()),
        details: true,
        cache: crate::engine::observe::CacheReads::BestEffort,
        ..Default::default()
    };
    let (observed, expiry) = futures::join!(observe(aws, region, &scope), aws.session_expiry());
    let observed = match observed {
        Ok(o) => o,
        Err(e) => {
            let check = Check::new(
                "identity",
                "Credentials",
                Status::Fail,
                format!("{} [{}]", e.message, e.code),
            )
            .fix(e.fix.clone());
            return Report {
                checks: vec![check, checks::region(region)],
                observed: None,
                plan: None,
            };
        }
    };
    let rule = observed.rule(prefix).cloned();
    let role = rule
        .as_ref()
        .and_then(|r| r.role_arn.as_deref())
        .and_then(|arn| observed.role_by_arn(arn))
        .cloned();
    let account = observed.identity.account.clone();

    let principal = checks::principal_for(&observed.identity.arn);
    let operator_actions = checks::operator_actions(
        observed.cache.template(prefix).is_some(),
        observed.rules.iter().any(|r| r.credential_arn.is_some()),
        rule.as_ref().is_some_and(|r| {
            matches!(
                r.managed_by,
                ManagedBy::CloudFormation(_) | ManagedBy::Stack(_)
            )
        }),
    );
    let puller_actions: Vec<String> = checks::PULLER_ACTIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let sample_repo = format!(
        "arn:{}:ecr:{region}:{account}:repository/{prefix}/example",
        crate::core::regions::partition(region)
    );
    let operator = async {
        aws.simulate_principal_policy(&principal, &operator_actions, "*")
            .await
            .map_err(|e| e.to_string())
    };
    let puller = futures::future::join_all(input.puller_roles.iter().map(|arn| async {
        aws.simulate_principal_policy(arn, &puller_actions, &sample_repo)
            .await
            .map_err(|e| e.to_string())
    }));
    let stack_name = match rule.as_ref().map(|r| &r.managed_by) {
        Some(ManagedBy::CloudFormation(s) | ManagedBy::Stack(s)) => Some(s.clone()),
        _ => input.stack_name.clone(),
    };
    let stack = async {
        let name = stack_name.as_deref()?;
        let info = aws.describe_stack(name).await.ok()??;
        let events = aws.stack_events(&info.id).await.unwrap_or_default();
        let failures: Vec<_> = events
            .into_iter()
            .filter(|e| e.status.ends_with("_FAILED"))
            .take(10)
            .collect();
        Some(checks::stack(&info, &failures))
    };
    // Every rule of the region, whatever its upstream, with its credential secret.
    let every_rule = futures::future::join_all(observed.rules.iter().map(|r| async move {
        let validation = aws
            .validate_cache_rule(&r.prefix)
            .await
            .map(|v| (v.is_valid, v.failure))
            .map_err(|e| e.to_string());
        let secret = match &r.credential_arn {
            None => None,
            Some(arn) => Some(
                read_secret(
                    aws,
                    &SecretRead {
                        id: arn.clone(),
                        expect: None,
                        value: true,
                    },
                )
                .await
                .map_err(|e| e.to_string()),
            ),
        };
        checks::RuleHealth {
            rule: r.clone(),
            validation,
            secret,
        }
    }));
    let (operator, puller, stack, every_rule) = futures::join!(operator, puller, stack, every_rule);
    // The prefix's own validation is one of every rule's (one call per rule, not two).
    let validation = every_rule
        .iter()
        .find(|h| h.rule.prefix == prefix)
        .map(|h| h.validation.clone());

    let echo_account = input.echo_account.clone().or_else(|| {
        rule.as_ref()
            .and_then(|r| checks::parse_upstream_url(&r.upstream_url))
            .map(|(a, _)| a)
    });
    let mut out = vec![
        checks::identity(&observed, expiry, chrono::Utc::now()),
        checks::region(region),
        checks::rule(&observed, prefix, input.echo_account.as_deref()),
    ];
    out.extend(checks::role(rule.as_ref(), role.as_ref(), &account, region));
    if let Some(v) = validation {
        out.push(checks::validation(v));
    }
    out.extend(stack);
    out.push(checks::repositories(&observed, prefix));
    out.push(checks::cache_settings(&observed, prefix));
    out.push(checks::upstream_rules(&every_rule));
    out.push(checks::quota(&observed, prefix));
    out.push(checks::operator(operator, &principal, &operator_actions));
    let pullers: Vec<Check> = puller
        .into_iter()
        .zip(&input.puller_roles)
        .map(|(result, arn)| checks::puller(result, arn, region, &account, prefix))
        .collect();
    if pullers.len() > 1 {
        let each: Vec<(&str, &Check)> = input
            .puller_roles
            .iter()
            .map(String::as_str)
            .zip(&pullers)
            .collect();
        let summary = crate::core::workload::pullers(
            &each,
            &checks::puller_policy(region, &account, prefix),
            prefix,
        );
        out.extend(pullers);
        out.push(summary);
    } else {
        out.extend(pullers);
    }

    let plan = echo_account.and_then(|echo| {
        let mut setup = SetupInput::with_defaults(&echo, region);
        setup.prefix = prefix.to_string();
        if let Some(r) = &role {
            setup.role_name = r.name.clone();
        }
        if let Some(r) = &rule {
            setup.upstream_prefix = r.upstream_prefix.clone();
            if let Some((_, echo_region)) = checks::parse_upstream_url(&r.upstream_url) {
                setup.echo_region = echo_region;
            }
        }
        let setup = setup.validate().ok()?;
        let mut view = observed.clone();
        view.role = role.clone().or_else(|| {
            observed
                .role
                .clone()
                .filter(|r| r.name == setup.role_name.as_str())
        });
        Some(plan(
            &desired(&setup, &account),
            &view,
            setup.echo().map(|a| a.as_str()),
            PlanOptions { adopt: true },
        ))
    });
    Report {
        checks: out,
        observed: Some(observed),
        plan,
    }
}
