//! Diagnostic checks as pure functions of what was observed: each gives PASS / WARN / FAIL
//! with a one-line reason, the fix, and the evidence support needs.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex_lite::Regex;
use serde::Serialize;
use serde_json::{json, Value};

use super::model::{usage_instructions, CacheRule, Observed, ObservedRole, ObservedSecret};
use super::plan::RULE_QUOTA;
use super::policy::{self, CACHE_WRITE_ACTIONS, UPSTREAM_READ_ACTIONS};
use super::policy_eval::{self, Decision};
use super::regions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub evidence: Value,
}

impl Check {
    pub fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        reason: impl Into<String>,
    ) -> Self {
        Check {
            id,
            title,
            status,
            reason: reason.into(),
            fix: None,
            evidence: Value::Null,
        }
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    pub fn evidence(mut self, evidence: Value) -> Self {
        self.evidence = evidence;
        self
    }
    /// `STATUS  title: reason — fix`, one line.
    pub fn line(&self) -> String {
        match &self.fix {
            Some(f) => format!(
                "{}  {}: {} — {}",
                self.status.label(),
                self.title,
                self.reason,
                f
            ),
            None => format!("{}  {}: {}", self.status.label(), self.title, self.reason),
        }
    }
}

static ECR_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$").unwrap()
});

/// Echo's account and region from an ECR upstream URL.
pub fn parse_upstream_url(url: &str) -> Option<(String, String)> {
    ECR_URL
        .captures(url)
        .map(|c| (c[1].to_string(), c[2].to_string()))
}

/// What the cache role must be allowed to do, on which resources, for a rule.
pub fn required_role_permissions(
    rule: &CacheRule,
    own_account: &str,
    region: &str,
) -> Vec<(String, String)> {
    let mut out = vec![];
    if let Some((echo_account, echo_region)) = parse_upstream_url(&rule.upstream_url) {
        let upstream_repo = if rule.upstream_prefix == super::validate::ROOT {
            "example".to_string()
        } else {
            format!("{}/example", rule.upstream_prefix)
        };
        let arn = format!(
            "arn:{}:ecr:{echo_region}:{echo_account}:repository/{upstream_repo}",
            regions::partition(&echo_region)
        );
        out.extend(
            UPSTREAM_READ_ACTIONS
                .iter()
                .map(|a| (a.to_string(), arn.clone())),
        );
    }
    let cached_repo = if rule.prefix == super::validate::ROOT {
        "example".to_string()
    } else {
        format!("{}/example", rule.prefix)
    };
    let arn = format!(
        "arn:{}:ecr:{region}:{own_account}:repository/{cached_repo}",
        regions::partition(region)
    );
    out.extend(
        CACHE_WRITE_ACTIONS
            .iter()
            .map(|a| (a.to_string(), arn.clone())),
    );
    out.push(("ecr:GetAuthorizationToken".into(), "*".into()));
    out
}

pub fn identity(
    observed: &Observed,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Check {
    let ev = json!({"account": observed.identity.account, "arn": observed.identity.arn, "expires_at": expires_at});
    let base = format!(
        "account {} as {}",
        observed.identity.account, observed.identity.arn
    );
    match expires_at {
        Some(t) if t <= now + chrono::Duration::minutes(10) => Check::new(
            "identity",
            "Credentials",
            Status::Warn,
            format!("{base}; the session expires at {t}"),
        )
        .fix("refresh the session (e.g. `aws sso login`) before a long operation")
        .evidence(ev),
        Some(t) => Check::new(
            "identity",
            "Credentials",
            Status::Pass,
            format!(
                "{base}; session valid until {}",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
        )
        .evidence(ev),
        None => Check::new("identity", "Credentials", Status::Pass, base).evidence(ev),
    }
}

pub fn region(region: &str) -> Check {
    if regions::is_known(region) {
        Check::new(
            "region",
            "Region",
            Status::Pass,
            format!("{region} (ECR pull-through cache is available)"),
        )
    } else {
        Check::new(
            "region",
            "Region",
            Status::Fail,
            format!("{region} is not a region with ECR pull-through cache"),
        )
        .fix("⟦other region⟧: a region code such as eu-west-1")
    }
}

pub fn rule(observed: &Observed, prefix: &str, echo_account: Option<&str>) -> Check {
    let Some(r) = observed.rule(prefix) else {
        let others: Vec<&str> = observed.rules.iter().map(|r| r.prefix.as_str()).collect();
        return Check::new(
            "rule",
            "Pull-through cache rule",
            Status::Fail,
            format!(
                "no rule with prefix {prefix:?} in {} (rules here: {})",
                observed.region,
                if others.is_empty() {
                    "none".into()
                } else {
                    others.join(", ")
                }
            ),
        )
        .fix(format!(
            "⟦run apply echo-account=<id> prefix={prefix} region={}⟧",
            observed.region
        ));
    };
    let ev = serde_json::to_value(r).unwrap_or(Value::Null);
    if r.upstream_registry != "ecr" {
        // Another upstream: its credential is checked by `upstream_rules`.
        return Check::new(
            "rule",
            "Pull-through cache rule",
            Status::Pass,
            format!(
                "{prefix}/ → {} {}, {}, {}",
                r.upstream_registry,
                r.upstream_url,
                match &r.credential_arn {
                    Some(_) => "with a credential secret",
                    None => "no credential",
                },
                r.managed_by.describe()
            ),
        )
        .evidence(ev);
    }
    match (echo_account, parse_upstream_url(&r.upstream_url)) {
        (_, None) => Check::new(
            "rule",
            "Pull-through cache rule",
            Status::Fail,
            format!(
                "upstream URL {} is not an ECR registry address",
                r.upstream_url
            ),
        )
        .fix("⟦run plan⟧ to see the repair")
        .evidence(ev),
        (Some(want), Some((got, _))) if want != got => Check::new(
            "rule",
            "Pull-through cache rule",
            Status::Fail,
            format!("rule {prefix} points at account {got}, not Echo's {want}"),
        )
        .fix("⟦run plan echo-account=<id>⟧ to see the replacement, then apply")
        .evidence(ev),
        (_, Some((acct, reg))) => Check::new(
            "rule",
            "Pull-through cache rule",
            Status::Pass,
            format!(
                "{prefix}/ → ECR {acct} in {reg}, upstream prefix {}, {}",
                r.upstream_prefix,
                r.managed_by.describe()
            ),
        )
        .evidence(ev),
    }
}

pub fn role(
    rule: Option<&CacheRule>,
    role: Option<&ObservedRole>,
    own_account: &str,
    region: &str,
) -> Vec<Check> {
    let Some(rule) = rule else {
        return vec![Check::new(
            "role",
            "Cache role",
            Status::Fail,
            "no rule, so no role to check",
        )
        .fix("create the rule first (⟦cmd apply⟧)")];
    };
    if rule.upstream_registry != "ecr" {
        // Only an ECR upstream authenticates with a role.
        return vec![];
    }
    let Some(arn) = &rule.role_arn else {
        return vec![Check::new(
            "role",
            "Cache role",
            Status::Fail,
            format!(
                "rule {} has no customRoleArn: ECR cannot authenticate to Echo's registry",
                rule.prefix
            ),
        )
        .fix("⟦run apply adopt⟧ to give it the role")];
    };
    let Some(role) = role else {
        return vec![Check::new(
            "role",
            "Cache role",
            Status::Fail,
            format!("role {arn} named by rule {} does not exist", rule.prefix),
        )
        .fix(format!("⟦run apply prefix={}⟧ to recreate it", rule.prefix))
        .evidence(json!({"role_arn": arn}))];
    };
    let ev = json!({"role_arn": role.arn, "trust_policy": role.trust, "inline_policies": role.inline_policies, "managed_policies": role.managed_policies, "tags": role.tags});
    let trust = if policy::trusts_ecr_service(&role.trust) {
        Check::new(
            "role-trust",
            "Role trust",
            Status::Pass,
            format!("{} trusts {}", role.name, policy::ECR_PTC_SERVICE),
        )
    } else {
        Check::new(
            "role-trust",
            "Role trust",
            Status::Fail,
            format!(
                "{} does not let {} assume it",
                role.name,
                policy::ECR_PTC_SERVICE
            ),
        )
        .fix("⟦run apply⟧ to repair the trust policy")
    }
    .evidence(json!({"trust_policy": role.trust}));
    let required = required_role_permissions(rule, own_account, region);
    let docs = role.policy_documents();
    let missing = policy_eval::missing(&docs, &required);
    let perms = if missing.is_empty() {
        Check::new("role-policy", "Role permissions", Status::Pass, format!("{} allows all {} actions the cache needs", role.name, required.len()))
    } else {
        let names: Vec<String> = missing
            .iter()
            .map(|(a, r, d)| format!("{a} on {r}{}", if *d == Decision::ExplicitDeny { " (explicitly denied)" } else { "" }))
            .collect();
        Check::new("role-policy", "Role permissions", Status::Fail, format!("{} is missing {}", role.name, names.join("; ")))
            .fix(if role.managed_policies.is_some() {
                "⟦run apply⟧ to restore the policy"
            } else {
                "⟦run apply⟧ to restore the policy (attached managed policies could not be read: iam:ListAttachedRolePolicies / iam:GetPolicyVersion denied)"
            })
    }
    .evidence(ev);
    vec![trust, perms]
}

/// The prefix's repository creation template and scanning: readable, usable by ECR (the
/// template's role trusts `ecr.amazonaws.com`), and followed by the cached repositories.
pub fn cache_settings(observed: &Observed, prefix: &str) -> Check {
    use super::cache::ECR_SERVICE;
    let title = "Cache settings";
    if let Some(why) = &observed.cache.unread {
        return Check::new("cache-settings", title, Status::Warn, format!("repository creation templates and scanning could not be read: {why}"))
            .fix("grant ecr:DescribeRepositoryCreationTemplates and ecr:GetRegistryScanningConfiguration to check them");
    }
    let scanning = match observed.cache.scanning_of(prefix) {
        Some("SCAN_ON_PUSH") => "scanned on push",
        Some("CONTINUOUS_SCAN") => "scanned continuously",
        _ => "not scanned automatically",
    };
    let Some(t) = observed.cache.template(prefix) else {
        return Check::new(
            "cache-settings",
            title,
            Status::Pass,
            format!("no creation template for {prefix}: cached repositories get ECR's defaults (mutable tags, AES256); {scanning}"),
        );
    };
    let evidence = json!({"template": t, "scanning": observed.cache.scanning});
    let needs_role = !t.resource_tags.is_empty() || t.encryption_type != "AES256";
    let role = t
        .custom_role_arn
        .as_deref()
        .and_then(|a| observed.role_by_arn(a));
    let problem = match (&t.custom_role_arn, role) {
        (None, _) if needs_role => Some(("the template sets tags or KMS but names no role, so ECR cannot create repositories from it".to_string(), "⟦run apply⟧ with the cache settings to set the role".to_string())),
        (Some(arn), Some(r)) if !super::policy::trusts_service(&r.trust, ECR_SERVICE) => Some((
            format!("ECR cannot assume the template's role {arn}: its trust policy does not name {ECR_SERVICE}, so the first pull of a new image fails"),
            "⟦run apply⟧ with the cache settings to extend the role's trust".to_string(),
        )),
        _ => None,
    };
    if let Some((reason, fix)) = problem {
        return Check::new("cache-settings", title, Status::Fail, reason)
            .fix(fix)
            .evidence(evidence);
    }
    let differing: Vec<&str> = observed
        .repositories
        .iter()
        .filter(|r| r.rule_prefix == prefix)
        .filter(|r| r.settings.as_ref().is_some_and(|s| !t.matches(s)))
        .map(|r| r.name.as_str())
        .collect();
    let summary = format!(
        "creation template for {prefix}: {}; {scanning}",
        t.summary()
    );
    if differing.is_empty() {
        Check::new("cache-settings", title, Status::Pass, summary).evidence(evidence)
    } else {
        Check::new(
            "cache-settings",
            title,
            Status::Warn,
            format!(
                "{summary}; {} cached repositor{} predate the template or differ from it ({})",
                differing.len(),
                if differing.len() == 1 { "y" } else { "ies" },
                differing.iter().take(3).copied().collect::<Vec<_>>().join(", ")
            ),
        )
        .fix("templates apply only to repositories created after them: delete a repository (`aws ecr delete-repository --force`) to have the next pull create it again with the template")
        .evidence(evidence)
    }
}

pub fn validation(result: Result<(bool, Option<String>), String>) -> Check {
    match result {
        Ok((true, _)) => Check::new("validate", "ECR validation", Status::Pass, "ValidatePullThroughCacheRule: valid"),
        Ok((false, why)) => Check::new("validate", "ECR validation", Status::Fail, format!("ValidatePullThroughCacheRule: not valid: {}", why.as_deref().unwrap_or("no reason given")))
            .fix(format!("fix the role (see the role checks); if the role is fine, ask Echo to allow your account on its registry; {}", crate::core::policy::BROAD_POLICY_HINT))
            .evidence(json!({"failure": why})),
        Err(e) => Check::new("validate", "ECR validation", Status::Warn, format!("could not run ValidatePullThroughCacheRule: {e}")),
    }
}

pub fn repositories(observed: &Observed, prefix: &str) -> Check {
    let repos: Vec<_> = observed
        .repositories
        .iter()
        .filter(|r| r.rule_prefix == prefix)
        .collect();
    let ev = serde_json::to_value(&repos).unwrap_or(Value::Null);
    if repos.is_empty() {
        let usage = usage_instructions(&observed.identity.account, &observed.region, prefix);
        return Check::new(
            "repositories",
            "Cached repositories",
            Status::Warn,
            format!("nothing has been pulled through {prefix}/ yet"),
        )
        .fix(format!("pull one: {}; then {}", usage[0], usage[1]))
        .evidence(ev);
    }
    let last = repos.iter().filter_map(|r| r.last_pulled_at()).max();
    Check::new(
        "repositories",
        "Cached repositories",
        Status::Pass,
        format!(
            "{} cached under {prefix}/, last pull {}",
            repos.len(),
            last.map_or("unknown".into(), |t| t
                .format("%Y-%m-%d %H:%M UTC")
                .to_string())
        ),
    )
    .evidence(ev)
}

/// What diagnose read about one rule: `ValidatePullThroughCacheRule`, and its credential
/// secret (described, value's keys checked) when it has one.
#[derive(Debug, Clone)]
pub struct RuleHealth {
    pub rule: CacheRule,
    pub validation: Result<(bool, Option<String>), String>,
    /// `None`: the rule has no credential; `Some(Ok(None))`: the secret does not exist.
    pub secret: Option<Result<Option<ObservedSecret>, String>>,
}

/// Every rule of the region, whatever its upstream: its credential secret exists, is not
/// deleted and holds `username` and `accessToken`, and ECR validates the rule.
pub fn upstream_rules(health: &[RuleHealth]) -> Check {
    let mut problems = vec![];
    let mut doubts = vec![];
    let mut evidence = vec![];
    for h in health {
        let r = &h.rule;
        let mut secret_line = Value::Null;
        if let (Some(read), Some(arn)) = (&h.secret, &r.credential_arn) {
            match read {
                Ok(None) => problems.push(format!("{}: its secret {arn} does not exist", r.prefix)),
                Ok(Some(s)) if s.deleted_at.is_some() => problems.push(format!(
                    "{}: its secret {} is deleted (in its recovery window)",
                    r.prefix, s.name
                )),
                Ok(Some(s)) => {
                    if let Some(p) = s.check_problem() {
                        problems.push(format!("{}: its secret {} {p}", r.prefix, s.name));
                    }
                    secret_line =
                        json!({"name": s.name, "keys": s.keys, "managed_by": s.managed_by()});
                }
                Err(e) => doubts.push(format!("{}: its secret could not be read ({e})", r.prefix)),
            }
        }
        match &h.validation {
            Ok((true, _)) => {}
            Ok((false, why)) => problems.push(format!(
                "{}: ECR says not valid ({})",
                r.prefix,
                why.as_deref().unwrap_or("no reason given")
            )),
            Err(e) => doubts.push(format!("{}: could not validate ({e})", r.prefix)),
        }
        evidence.push(json!({
            "prefix": r.prefix,
            "upstream": r.upstream_registry,
            "url": r.upstream_url,
            "valid": h.validation.as_ref().ok().map(|v| v.0),
            "secret": secret_line,
        }));
    }
    let ev = json!({ "rules": evidence });
    let title = "Every rule and its credential";
    if !problems.is_empty() {
        Check::new("upstream-rules", title, Status::Fail, problems.join("; "))
            .fix("for a rule made by echo-onboard ⟦run apply upstream=<name> prefix=<prefix> username=<user> token-stdin⟧ with a working token; otherwise put username and accessToken in the secret (`aws secretsmanager put-secret-value`)")
            .evidence(ev)
    } else if !doubts.is_empty() {
        Check::new("upstream-rules", title, Status::Warn, doubts.join("; "))
            .fix("grant secretsmanager:DescribeSecret, secretsmanager:GetSecretValue and ecr:ValidatePullThroughCacheRule, then run diagnose again")
            .evidence(ev)
    } else {
        let upstreams: std::collections::BTreeSet<&str> = health
            .iter()
            .map(|h| h.rule.upstream_registry.as_str())
            .collect();
        Check::new(
            "upstream-rules",
            title,
            Status::Pass,
            if health.is_empty() {
                "no rules in this region".to_string()
            } else {
                format!(
                    "{} rule(s) valid ({}); every credential secret holds username and accessToken",
                    health.len(),
                    upstreams.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        )
        .evidence(ev)
    }
}

pub fn quota(observed: &Observed, prefix: &str) -> Check {
    let n = observed.rules.len();
    let ev = json!({"rules": n, "quota": RULE_QUOTA});
    if n >= RULE_QUOTA && observed.rule(prefix).is_none() {
        Check::new(
            "quota",
            "Rule quota",
            Status::Fail,
            format!("{n}/{RULE_QUOTA} rules: no room for {prefix}"),
        )
        .fix("delete an unused rule (the quota cannot be raised)")
        .evidence(ev)
    } else if n + 5 >= RULE_QUOTA {
        Check::new(
            "quota",
            "Rule quota",
            Status::Warn,
            format!("{n}/{RULE_QUOTA} rules in {}", observed.region),
        )
        .fix("clean up unused rules: the quota cannot be raised")
        .evidence(ev)
    } else {
        Check::new(
            "quota",
            "Rule quota",
            Status::Pass,
            format!("{n}/{RULE_QUOTA} rules in {}", observed.region),
        )
        .evidence(ev)
    }
}

/// Actions the operator needs for setup and teardown (README: IAM permissions).
pub const OPERATOR_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "ecr:DescribePullThroughCacheRules",
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:CreatePullThroughCacheRule",
    "ecr:UpdatePullThroughCacheRule",
    "ecr:ValidatePullThroughCacheRule",
    "ecr:DeletePullThroughCacheRule",
    "ecr:DeleteRepository",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:PassRole",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
    "cloudwatch:GetMetricData",
];

/// What the operator needs on top of [`OPERATOR_ACTIONS`] for a prefix with cache settings.
pub const CACHE_SETTINGS_ACTIONS: &[&str] = &[
    "ecr:DescribeRepositoryCreationTemplates",
    "ecr:CreateRepositoryCreationTemplate",
    "ecr:UpdateRepositoryCreationTemplate",
    "ecr:DeleteRepositoryCreationTemplate",
    "ecr:GetRegistryScanningConfiguration",
    "ecr:PutRegistryScanningConfiguration",
];

/// ... for rules whose upstream needs a credential secret.
pub const SECRET_ACTIONS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:RestoreSecret",
    "secretsmanager:DeleteSecret",
];

/// ... for a setup made by a CloudFormation stack.
pub const STACK_ACTIONS: &[&str] = &[
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DeleteStack",
];

/// The actions the operator preflight simulates: the base set, plus those of the features the
/// account uses (a WARN for an unused feature would only be noise).
pub fn operator_actions(cache_settings: bool, secrets: bool, stack: bool) -> Vec<String> {
    let mut out: Vec<&str> = OPERATOR_ACTIONS.to_vec();
    for (on, extra) in [
        (cache_settings, CACHE_SETTINGS_ACTIONS),
        (secrets, SECRET_ACTIONS),
        (stack, STACK_ACTIONS),
    ] {
        if on {
            out.extend_from_slice(extra);
        }
    }
    out.into_iter().map(str::to_string).collect()
}

/// The IAM principal to simulate for a caller ARN (an assumed-role session → its role).
pub fn principal_for(caller_arn: &str) -> String {
    static ASSUMED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^arn:([a-z-]+):sts::(\d{12}):assumed-role/([^/]+)/.*$").unwrap()
    });
    match ASSUMED.captures(caller_arn) {
        Some(c) => format!("arn:{}:iam::{}:role/{}", &c[1], &c[2], &c[3]),
        None => caller_arn.to_string(),
    }
}

/// Operator preflight from simulation results `(action, decision)` of `actions`, or the
/// simulation error.
pub fn operator(
    result: Result<Vec<(String, String)>, String>,
    principal: &str,
    actions: &[String],
) -> Check {
    match result {
        Err(e) => Check::new(
            "operator",
            "Operator permissions",
            Status::Warn,
            format!("cannot simulate {principal}'s permissions ({e})"),
        )
        .fix(format!(
            "check these actions by hand: {}",
            actions.join(", ")
        )),
        Ok(results) => {
            let denied: Vec<&str> = results
                .iter()
                .filter(|(_, d)| d != "allowed")
                .map(|(a, _)| a.as_str())
                .collect();
            let ev = json!({"principal": principal, "results": results.iter().map(|(a, d)| json!({"action": a, "decision": d})).collect::<Vec<_>>()});
            if denied.is_empty() {
                Check::new(
                    "operator",
                    "Operator permissions",
                    Status::Pass,
                    format!(
                        "{principal} may run setup and teardown ({} actions)",
                        results.len()
                    ),
                )
                .evidence(ev)
            } else {
                Check::new(
                    "operator",
                    "Operator permissions",
                    Status::Warn,
                    format!("{principal} lacks {}", denied.join(", ")),
                )
                .fix("ask an administrator for these actions before apply or teardown")
                .evidence(ev)
            }
        }
    }
}

/// The policy a workload role needs to pull through the cache under `prefix`.
pub fn puller_policy(region: &str, account: &str, prefix: &str) -> Value {
    let scope = if prefix == super::validate::ROOT {
        "*".to_string()
    } else {
        format!("{prefix}/*")
    };
    json!({"Version": policy::POLICY_VERSION, "Statement": [
        {"Sid": "PullThroughEchoCache", "Effect": "Allow",
         "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": format!("arn:{}:ecr:{region}:{account}:repository/{scope}", regions::partition(region))},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    ]})
}

pub const PULLER_ACTIONS: &[&str] = &["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"];

pub fn puller(
    result: Result<Vec<(String, String)>, String>,
    role_arn: &str,
    region: &str,
    account: &str,
    prefix: &str,
) -> Check {
    let policy = puller_policy(region, account, prefix);
    match result {
        Err(e) => Check::new(
            "puller",
            "Workload (puller) role",
            Status::Warn,
            format!("cannot simulate {role_arn} ({e})"),
        )
        .fix(format!(
            "make sure it allows {} on repository/{prefix}/*; policy to attach: {}",
            PULLER_ACTIONS.join(" and "),
            policy
        ))
        .evidence(json!({"policy_to_attach": policy})),
        Ok(results) => {
            let denied: Vec<&str> = results
                .iter()
                .filter(|(_, d)| d != "allowed")
                .map(|(a, _)| a.as_str())
                .collect();
            if denied.is_empty() {
                Check::new(
                    "puller",
                    "Workload (puller) role",
                    Status::Pass,
                    format!("{role_arn} can pull through {prefix}/ (first pulls included)"),
                )
            } else {
                Check::new("puller", "Workload (puller) role", Status::Fail, format!("{role_arn} lacks {} on repository/{prefix}/*: first pulls of new images will fail", denied.join(" and ")))
                    .fix(format!("attach this policy to the role: {policy}"))
                    .evidence(json!({"denied": denied, "policy_to_attach": policy}))
            }
        }
    }
}

/// The stack's state, with its last failure events as evidence.
pub fn stack(info: &super::model::StackInfo, failures: &[super::model::StackEvent]) -> Check {
    let ev = json!({"stack": info, "failure_events": failures});
    let status = info.status.as_str();
    let last = failures.first().map(|e| {
        format!(
            "; last failure: {} {}: {}",
            e.logical_id,
            e.status,
            e.reason.as_deref().unwrap_or("no reason")
        )
    });
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" => Check::new(
            "stack",
            "CloudFormation stack",
            Status::Pass,
            format!("{} is {status}", info.name),
        )
        .evidence(ev),
        s if s.ends_with("_IN_PROGRESS") => Check::new(
            "stack",
            "CloudFormation stack",
            Status::Warn,
            format!("{} is {status}", info.name),
        )
        .fix("wait for it to finish, then run diagnose again")
        .evidence(ev),
        "UPDATE_ROLLBACK_COMPLETE" => Check::new(
            "stack",
            "CloudFormation stack",
            Status::Warn,
            format!(
                "{}'s last update rolled back{}",
                info.name,
                last.unwrap_or_default()
            ),
        )
        .fix("the previous settings are in place; fix the cause and apply again")
        .evidence(ev),
        _ => Check::new(
            "stack",
            "CloudFormation stack",
            Status::Fail,
            format!("{} is {status}{}", info.name, last.unwrap_or_default()),
        )
        .fix(format!(
            "delete it and apply again: ⟦cmd apply method=cloudformation stack-name={}⟧ offers to",
            info.name
        ))
        .evidence(ev),
    }
}

pub fn summary(checks: &[Check]) -> Value {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    json!({"pass": count(Status::Pass), "warn": count(Status::Warn), "fail": count(Status::Fail)})
}

/// A Markdown summary for support tickets.
pub fn markdown(checks: &[Check], header: &str) -> String {
    let mut out = format!("# echo-onboard diagnostics\n\n{header}\n\n| Status | Check | Details | Fix |\n|---|---|---|---|\n");
    for c in checks {
        let esc = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.status.label(),
            c.title,
            esc(&c.reason),
            esc(c.fix.as_deref().unwrap_or(""))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{desired, Identity, ManagedBy, RepositoryInfo};
    use crate::core::validate::SetupInput;

    const OWN: &str = "444455556666";

    fn setup() -> (CacheRule, ObservedRole, Observed) {
        let d = desired(
            &SetupInput::with_defaults("111122223333", "eu-west-1")
                .validate()
                .unwrap(),
            OWN,
        );
        let rule = CacheRule {
            prefix: "echo".into(),
            upstream_registry: "ecr".into(),
            upstream_url: d.rule.upstream_url.clone(),
            upstream_prefix: "ROOT".into(),
            role_arn: Some(d.echo_role().arn.clone()),
            credential_arn: None,
            created_at: None,
            managed_by: ManagedBy::EchoOnboard,
            owner_proof: String::new(),
        };
        let role = ObservedRole {
            name: d.echo_role().name.clone(),
            arn: d.echo_role().arn.clone(),
            trust: d.echo_role().trust.to_value(),
            inline_policies: [(
                d.echo_role().policy_name.clone(),
                d.echo_role().policy.to_value(),
            )]
            .into(),
            managed_policies: Some(Default::default()),
            tags: d.echo_role().tags.clone(),
        };
        let observed = Observed {
            identity: Identity {
                account: OWN.into(),
                arn: format!("arn:aws:sts::{OWN}:assumed-role/Admin/alice"),
            },
            region: "eu-west-1".into(),
            rules: vec![rule.clone()],
            role: Some(role.clone()),
            roles: vec![role.clone()],
            repositories: vec![],
            cache: Default::default(),
            secret: None,
        };
        (rule, role, observed)
    }

    #[test]
    fn the_core_policy_satisfies_the_checker() {
        let (rule, role, _) = setup();
        let checks = role_checks(&rule, Some(&role));
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:#?}"
        );
    }

    fn role_checks(rule: &CacheRule, role: Option<&ObservedRole>) -> Vec<Check> {
        super::role(Some(rule), role, OWN, "eu-west-1")
    }

    #[test]
    fn a_missing_action_is_named() {
        let (rule, mut role, _) = setup();
        let p = role.inline_policies.values_mut().next().unwrap();
        let actions = p["Statement"][1]["Action"].as_array_mut().unwrap();
        actions.retain(|a| a != "ecr:PutImage");
        let checks = role_checks(&rule, Some(&role));
        let perm = checks.iter().find(|c| c.id == "role-policy").unwrap();
        assert_eq!(perm.status, Status::Fail);
        assert!(perm.reason.contains("missing ecr:PutImage on arn:aws:ecr:eu-west-1:444455556666:repository/echo/example"), "{}", perm.reason);
    }

    #[test]
    fn a_deleted_role_fails_with_the_fix() {
        let (rule, _, _) = setup();
        let checks = role_checks(&rule, None);
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0].reason.contains("does not exist"));
        let fix = checks[0].fix.as_deref().unwrap();
        assert!(
            crate::core::words::names_command_with(
                fix,
                crate::core::words::Cmd::Apply,
                crate::core::words::Setting::Prefix,
                "echo"
            ),
            "{fix}"
        );
    }

    #[test]
    fn rule_checks() {
        let (_, _, mut o) = setup();
        assert_eq!(rule(&o, "echo", Some("111122223333")).status, Status::Pass);
        assert_eq!(rule(&o, "echo", Some("999999999999")).status, Status::Fail);
        assert_eq!(rule(&o, "other", None).status, Status::Fail);
        // Another upstream is a rule in its own right (its credential is checked elsewhere).
        o.rules[0].upstream_registry = "docker-hub".into();
        o.rules[0].upstream_url = "registry-1.docker.io".into();
        let c = rule(&o, "echo", None);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.reason.contains("docker-hub registry-1.docker.io"),
            "{}",
            c.reason
        );
        assert!(role(o.rule("echo"), None, OWN, "eu-west-1").is_empty());
    }

    #[test]
    fn repositories_and_quota() {
        let (_, _, mut o) = setup();
        let c = repositories(&o, "echo");
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fix
            .unwrap()
            .contains("docker pull 444455556666.dkr.ecr.eu-west-1.amazonaws.com/echo/"));
        o.repositories.push(RepositoryInfo {
            settings: None,
            created_at: None,
            arn: String::new(),
            name: "echo/x".into(),
            rule_prefix: "echo".into(),
            details: Some(crate::core::model::RepoDetails {
                image_count: 1,
                size_bytes: 1,
                last_pulled_at: Some(Utc::now()),
                archived_count: 0,
                archived_bytes: 0,
            }),
            pull_count_30d: 3,
            pulls_by_day: vec![],
        });
        assert_eq!(repositories(&o, "echo").status, Status::Pass);
        assert_eq!(quota(&o, "echo").status, Status::Pass);
        for i in 0..49 {
            let mut r = o.rules[0].clone();
            r.prefix = format!("p{i}");
            o.rules.push(r);
        }
        assert_eq!(quota(&o, "echo").status, Status::Warn);
        assert_eq!(quota(&o, "new").status, Status::Fail);
    }

    #[test]
    fn principals_and_preflights() {
        assert_eq!(
            principal_for("arn:aws:sts::1:assumed-role/Admin/alice"),
            "arn:aws:sts::1:assumed-role/Admin/alice",
            "needs 12 digits"
        );
        assert_eq!(
            principal_for(&format!("arn:aws:sts::{OWN}:assumed-role/Admin/alice")),
            format!("arn:aws:iam::{OWN}:role/Admin")
        );
        assert_eq!(
            principal_for("arn:aws:iam::444455556666:user/bob"),
            "arn:aws:iam::444455556666:user/bob"
        );
        let c = operator(
            Err("AccessDenied".into()),
            "p",
            &operator_actions(false, true, false),
        );
        assert_eq!(c.status, Status::Warn);
        let fix = c.fix.unwrap();
        assert!(fix.contains("iam:CreateRole"), "{fix}");
        // The features in use add theirs, and only those.
        assert!(fix.contains("secretsmanager:CreateSecret"), "{fix}");
        assert!(!fix.contains("cloudformation:"), "{fix}");
        assert!(
            !fix.contains("ecr:CreateRepositoryCreationTemplate"),
            "{fix}"
        );
        let c = puller(
            Ok(vec![
                ("ecr:BatchImportUpstreamImage".into(), "implicitDeny".into()),
                ("ecr:CreateRepository".into(), "allowed".into()),
            ]),
            "arn:r",
            "eu-west-1",
            OWN,
            "echo",
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.reason.contains("lacks ecr:BatchImportUpstreamImage"));
        assert!(c.fix.unwrap().contains("repository/echo/*"));
    }

    #[test]
    fn cache_settings_check_the_templates_role_and_old_repositories() {
        use crate::core::cache::{desired_template, CacheSettings};
        use crate::core::model::RepoSettings;
        let (_, role, mut o) = setup();
        assert_eq!(cache_settings(&o, "echo").status, Status::Pass);
        o.cache.scanning = Some(Default::default());
        let settings = CacheSettings {
            immutable_tags: true,
            ..Default::default()
        };
        o.cache.templates = vec![desired_template("echo", &settings, Some(&role.arn), false)];
        // The role does not trust ecr.amazonaws.com yet.
        let c = cache_settings(&o, "echo");
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.reason.contains("ecr.amazonaws.com"), "{}", c.reason);
        o.roles[0].trust["Statement"][0]["Principal"]["Service"] =
            json!(["pullthroughcache.ecr.amazonaws.com", "ecr.amazonaws.com"]);
        let c = cache_settings(&o, "echo");
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.reason.contains("immutable tags"), "{}", c.reason);
        o.repositories.push(RepositoryInfo {
            settings: Some(RepoSettings::ecr_default()),
            created_at: None,
            arn: String::new(),
            name: "echo/old".into(),
            rule_prefix: "echo".into(),
            details: None,
            pull_count_30d: 0,
            pulls_by_day: vec![],
        });
        let c = cache_settings(&o, "echo");
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.reason.contains("echo/old"), "{}", c.reason);
        o.cache.unread = Some("AccessDenied".into());
        assert_eq!(cache_settings(&o, "echo").status, Status::Warn);
    }

    #[test]
    fn markdown_escapes_pipes() {
        let md = markdown(&[Check::new("x", "X", Status::Pass, "a|b")], "h");
        assert!(md.contains("| PASS | X | a\\|b |  |"));
    }
}
