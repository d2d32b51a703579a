//! `plan(desired, observed)`: what must change, per resource, with field-level before → after.
//! Pure: the same inputs always give the same plan.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::cache;
use super::model::{CacheRule, Desired, DesiredRole, ManagedBy, Observed, ObservedRole};
use super::ownership::RepoFate;
use super::policy;
use super::upstream;
use super::validate::{MANAGED_BY_KEY, PREFIX_TAG_KEY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    IamRole,
    PullThroughCacheRule,
    EcrRepository,
    CloudformationStack,
    RepositoryCreationTemplate,
    RegistryScanningFilter,
    PullTimeExclusion,
    #[serde(rename = "secret")]
    CredentialSecret,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::IamRole => "iam-role",
            ResourceKind::PullThroughCacheRule => "pull-through-cache-rule",
            ResourceKind::EcrRepository => "ecr-repository",
            ResourceKind::CloudformationStack => "cloudformation-stack",
            ResourceKind::RepositoryCreationTemplate => "repository-creation-template",
            ResourceKind::RegistryScanningFilter => "registry-scanning-filter",
            ResourceKind::PullTimeExclusion => "pull-time-exclusion",
            ResourceKind::CredentialSecret => "secret",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Replace => '±',
            Action::Delete => '-',
            Action::NoOp => '=',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub resource: ResourceKind,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub fields: Vec<FieldChange>,
}

impl ResourceChange {
    /// Adds a note to the row's reason, after any it has.
    pub fn add_reason(&mut self, note: String) {
        self.reason = Some(match self.reason.take() {
            Some(r) => format!("{r}; {note}"),
            None => note,
        });
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub account: String,
    pub region: String,
    pub changes: Vec<ResourceChange>,
    /// Things the user should know; they do not stop an apply.
    pub warnings: Vec<String>,
    /// Conflicts that stop an apply until the user decides (each says how).
    pub blockers: Vec<String>,
}

impl Plan {
    /// A plan for the observed account and region with nothing in it yet.
    pub fn empty(observed: &Observed) -> Self {
        Plan {
            account: observed.identity.account.clone(),
            region: observed.region.clone(),
            changes: vec![],
            warnings: vec![],
            blockers: vec![],
        }
    }
    /// Whether taking over what someone else made would lift a blocker.
    pub fn adoptable(&self) -> bool {
        self.blockers
            .iter()
            .any(|b| super::words::offers(b, super::words::Setting::Adopt))
    }
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }
    pub fn change(&self, kind: ResourceKind) -> Option<&ResourceChange> {
        self.changes.iter().find(|c| c.resource == kind)
    }
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
    /// What carrying out the plan did, in the plan's own counts ("2 created, 1 updated"), so
    /// a result never disagrees with the plan it carried out.
    pub fn done_summary(&self) -> String {
        let parts: Vec<String> = [
            (Action::Create, "created"),
            (Action::Update, "updated"),
            (Action::Replace, "replaced"),
            (Action::Delete, "deleted"),
        ]
        .iter()
        .map(|(a, verb)| (self.count(*a), verb))
        .filter(|(n, _)| *n > 0)
        .map(|(n, verb)| format!("{n} {verb}"))
        .collect();
        if parts.is_empty() {
            "nothing changed".into()
        } else {
            parts.join(", ")
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Take over a role or rule that exists but was not created by echo-onboard.
    pub adopt: bool,
}

/// Quota: pull-through cache rules per registry per region (cannot be raised).
pub const RULE_QUOTA: usize = 50;

fn field(name: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        field: name.to_string(),
        before,
        after,
    }
}

/// The plan that brings `observed` to `desired` (setup with the API method).
pub fn plan(
    desired: &Desired,
    observed: &Observed,
    echo_account: Option<&str>,
    opts: PlanOptions,
) -> Plan {
    let mut p = Plan::empty(observed);
    if let Some(echo_account) = echo_account.filter(|a| *a == observed.identity.account) {
        p.warnings.push(format!(
            "the Echo account id {echo_account} is your own account: check the id Echo gave you \
             (a same-account cache only makes sense for testing)"
        ));
    }
    if let Some(note) = desired
        .template
        .as_ref()
        .and_then(|t| t.lifecycle_policy.as_ref())
        .and_then(cache::archive_note)
    {
        p.warnings.push(note);
    }
    if let Some(role) = desired
        .role
        .as_ref()
        .filter(|r| policy::is_broad(&r.policy))
    {
        p.warnings.push(format!(
            "broad policy (⟦broad-policy⟧): role {} may use the cache actions on Resource \"*\", as AWS's documentation and Echo's template have it, instead of only Echo's repositories and yours under the prefix (the least-privilege default)",
            role.name
        ));
    }
    if let Some(role) = &desired.role {
        p.changes.push(plan_role(
            role,
            observed.role.as_ref(),
            opts,
            &mut p.blockers,
        ));
    }
    if let Some(secret) = plan_secret(desired, observed, &mut p.blockers) {
        p.changes.push(secret);
    }
    p.changes
        .push(plan_rule(desired, observed, opts, &mut p.blockers));
    if let Some(t) = &desired.template {
        let template = cache::plan_template(
            t,
            observed.cache.template(&t.prefix),
            opts.adopt,
            &mut p.blockers,
        );
        let mut template = template;
        if template.action == Action::Create && desired.role.is_none() {
            template.add_reason(format!(
                "records that echo-onboard made rule {} (rules cannot be tagged), so status and teardown can tell",
                t.prefix
            ));
        }
        if template.action == Action::Create {
            if let Some(role) = p
                .changes
                .iter_mut()
                .find(|c| c.resource == ResourceKind::IamRole)
            {
                let note = format!(
                    "extended for the creation template: ECR ({}) assumes it to create and tag {} repositories{}",
                    cache::ECR_SERVICE,
                    cache::scan_filter(&t.prefix),
                    if t.kms_key.is_some() { " and use the KMS key through ECR" } else { "" }
                );
                role.add_reason(note);
            }
        }
        p.changes.push(template);
    }
    if let Some(scan) = &desired.scan {
        match &observed.cache.scanning {
            Some(current) => p.changes.push(cache::plan_scanning(
                &cache::scan_filter(&desired.rule.prefix),
                scan,
                current,
                &mut p.warnings,
            )),
            None => p.blockers.push(
                "the registry's scanning configuration was not read, so ⟦scan-on-push⟧ cannot be merged into it: run the plan again".into(),
            ),
        }
    }
    p.changes.extend(cache::plan_exclusions(
        &desired.rule.prefix,
        &desired.pull_time_exclusions,
        desired.template.as_ref(),
        &observed.cache,
        &mut p.blockers,
    ));
    p
}

fn plan_role(
    d: &DesiredRole,
    observed: Option<&ObservedRole>,
    opts: PlanOptions,
    blockers: &mut Vec<String>,
) -> ResourceChange {
    let policy_field = format!("inline_policy.{}", d.policy_name);
    let Some(role) = observed else {
        return ResourceChange {
            resource: ResourceKind::IamRole,
            name: d.name.clone(),
            action: Action::Create,
            reason: None,
            fields: vec![
                field("trust_policy", Value::Null, d.trust.to_value()),
                field(&policy_field, Value::Null, d.policy.to_value()),
                field("tags", Value::Null, json!(d.tags)),
            ],
        };
    };
    match role.managed_by() {
        ManagedBy::EchoOnboard => {
            let owner_prefix = role.tags.get(PREFIX_TAG_KEY).cloned().unwrap_or_default();
            let wanted_prefix = &d.tags[PREFIX_TAG_KEY];
            if &owner_prefix != wanted_prefix && !opts.adopt {
                blockers.push(format!(
                    "IAM role {} is already used by echo-onboard for prefix {owner_prefix:?}: \
                     ⟦other role-name⟧ to create a separate role for prefix {wanted_prefix:?}",
                    role.name
                ));
            }
        }
        other if !opts.adopt => blockers.push(format!(
            "IAM role {} already exists and was not created by echo-onboard (managed by {}): \
             ⟦other role-name⟧ to use another name, or ⟦pass adopt⟧ to let echo-onboard take it over",
            role.name,
            other.label()
        )),
        _ => {}
    }
    let mut fields = vec![];
    let trust = d.trust.to_value();
    if !policy::equivalent(&role.trust, &trust) {
        fields.push(field("trust_policy", role.trust.clone(), trust));
    }
    let policy = d.policy.to_value();
    match role.inline_policies.get(&d.policy_name) {
        Some(current) if policy::equivalent(current, &policy) => {}
        current => fields.push(field(
            &policy_field,
            current.cloned().unwrap_or(Value::Null),
            policy,
        )),
    }
    let stale: BTreeMap<&String, Option<&String>> = d
        .tags
        .iter()
        .filter(|(k, v)| role.tags.get(*k) != Some(*v))
        .map(|(k, _)| (k, role.tags.get(k)))
        .collect();
    if !stale.is_empty() {
        let before: BTreeMap<_, _> = stale
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let after: BTreeMap<_, _> = stale
            .keys()
            .map(|k| (k.to_string(), json!(d.tags[*k])))
            .collect();
        fields.push(field("tags", json!(before), json!(after)));
    }
    ResourceChange {
        resource: ResourceKind::IamRole,
        name: d.name.clone(),
        action: if fields.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        },
        reason: None,
        fields,
    }
}

fn rule_summary(r: &CacheRule) -> String {
    let auth = match (&r.role_arn, &r.credential_arn) {
        (Some(role), _) => format!("role {role}"),
        (None, Some(secret)) => format!("credential {secret}"),
        (None, None) => "no credential".into(),
    };
    format!(
        "upstream {} {}, upstream prefix {}, {auth}",
        r.upstream_registry, r.upstream_url, r.upstream_prefix,
    )
}

/// What a rule's credential ARN shows before the secret exists.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// The credential secret: created or kept by the tool (`--username --token-stdin`), or the
/// user's own (`--credential-arn`), which must exist and hold both keys before anything is sent.
fn plan_secret(
    desired: &Desired,
    observed: &Observed,
    blockers: &mut Vec<String>,
) -> Option<ResourceChange> {
    let prefix = &desired.rule.prefix;
    let Some(d) = &desired.secret else {
        let arn = desired.rule.credential_arn.as_ref()?;
        let problem = match &observed.secret {
            None => Some("does not exist (or this account cannot see it)".to_string()),
            Some(s) if s.deleted_at.is_some() => Some(format!(
                "is deleted (in its recovery window): restore it with `aws secretsmanager restore-secret --secret-id {arn}`"
            )),
            Some(s) if desired.rule.upstream_registry == "chainguard"
                && !super::model::uses_default_secret_key(s.kms_key_id.as_deref()) =>
            {
                Some(format!(
                    "is encrypted with KMS key {}, but ECR reads Chainguard credentials only from a secret under the default aws/secretsmanager key: make the secret again without a KMS key (no `--kms-key-id` to `aws secretsmanager create-secret`)",
                    s.kms_key_id.as_deref().unwrap_or_default()
                ))
            }
            Some(s) => s.check_problem(),
        };
        if let Some(problem) = problem {
            blockers.push(format!(
                "⟦credential-arn⟧ {arn} {problem}: the secret must hold a JSON object with username and accessToken"
            ));
        }
        return Some(ResourceChange {
            resource: ResourceKind::CredentialSecret,
            name: observed
                .secret
                .as_ref()
                .map_or_else(|| arn.clone(), |s| s.name.clone()),
            action: Action::NoOp,
            reason: Some("your secret (⟦credential-arn⟧): used as it is, never changed or deleted by echo-onboard".into()),
            fields: vec![],
        });
    };
    let after = json!({"username": d.username, "accessToken": upstream::SECRET_VALUE_SET});
    let Some(current) = &observed.secret else {
        return Some(ResourceChange {
            resource: ResourceKind::CredentialSecret,
            name: d.name.clone(),
            action: Action::Create,
            reason: Some(format!("holds the credentials of rule {prefix}")),
            fields: vec![
                field("secret_value", Value::Null, after),
                field("tags", Value::Null, json!(d.tags)),
            ],
        });
    };
    match super::ownership::secret(current, prefix).by {
        ManagedBy::EchoOnboard => {}
        ManagedBy::CloudFormation(stack) | ManagedBy::Stack(stack) => blockers.push(format!(
            "secret {} belongs to CloudFormation stack {stack}: manage that prefix with the CloudFormation ⟦method⟧ and stack {stack} (⟦stack-name⟧), or ⟦other prefix⟧",
            current.name
        )),
        _ => blockers.push(format!(
            "secret {} already exists and was not created by echo-onboard: to use it, give its ARN {} in ⟦credential-arn⟧ (it must hold username and accessToken), or ⟦other prefix⟧",
            current.name, current.arn
        )),
    }
    let mut reasons = vec![];
    if let Some(when) = current.deleted_at {
        reasons.push(format!(
            "restored: it was deleted on {} and is still in its recovery window",
            when.format("%Y-%m-%d")
        ));
    }
    let value_current = current.deleted_at.is_none() && current.value_matches == Some(true);
    let mut fields = vec![];
    if !value_current {
        fields.push(field(
            "secret_value",
            json!(upstream::SECRET_VALUE_SET),
            after,
        ));
    }
    Some(ResourceChange {
        resource: ResourceKind::CredentialSecret,
        name: current.name.clone(),
        action: if fields.is_empty() && reasons.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        },
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        fields,
    })
}

fn plan_rule(
    desired: &Desired,
    observed: &Observed,
    opts: PlanOptions,
    blockers: &mut Vec<String>,
) -> ResourceChange {
    let d = &desired.rule;
    let Some(rule) = observed.rule(&d.prefix) else {
        if observed.rules.len() >= RULE_QUOTA {
            blockers.push(format!(
                "region {} already has {} pull-through cache rules, the quota (it cannot be raised): \
                 delete an unused rule first",
                observed.region,
                observed.rules.len()
            ));
        }
        return ResourceChange {
            resource: ResourceKind::PullThroughCacheRule,
            name: d.prefix.clone(),
            action: Action::Create,
            reason: None,
            fields: vec![
                field("upstream_registry", Value::Null, json!(d.upstream_registry)),
                field("upstream_url", Value::Null, json!(d.upstream_url)),
                field("upstream_prefix", Value::Null, json!(d.upstream_prefix)),
                auth_field(desired, None),
            ],
        };
    };
    let mut immutable = vec![];
    let pairs = [
        (
            "upstream_registry",
            &rule.upstream_registry,
            &d.upstream_registry,
        ),
        ("upstream_url", &rule.upstream_url, &d.upstream_url),
        ("upstream_prefix", &rule.upstream_prefix, &d.upstream_prefix),
    ];
    for (name, before, after) in pairs {
        if before != after {
            immutable.push(field(name, json!(before), json!(after)));
        }
    }
    let role_changed = d.role_arn.is_some() && rule.role_arn != d.role_arn;
    let credential_changed = credential_pending(desired)
        || (d.credential_arn.is_some() && rule.credential_arn != d.credential_arn);
    let ours = rule.managed_by.is_ours();
    let differs = !immutable.is_empty() || role_changed || credential_changed;
    if desired.role.is_none() && !ours && !opts.adopt {
        // Setting up another upstream writes the template that records the rule as the
        // tool's: for a rule someone else made, that would be a takeover.
        blockers.push(format!(
            "a pull-through cache rule for prefix {:?} already exists and was not made by echo-onboard ({}: {}; {}): echo-onboard does not claim it; ⟦other prefix⟧, or ⟦pass adopt⟧ to take it over (teardown would then delete it)",
            d.prefix,
            rule.managed_by.describe(),
            rule.owner_proof,
            rule_summary(rule),
        ));
    } else if differs && !ours && !opts.adopt {
        blockers.push(format!(
            "a pull-through cache rule for prefix {:?} already exists with other settings ({}; managed by {}): \
             ⟦other prefix⟧, ⟦pass adopt⟧ to let echo-onboard change it, or delete it with \
             `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix {} --region {}`",
            d.prefix,
            rule_summary(rule),
            rule.managed_by.label(),
            d.prefix,
            observed.region
        ));
    }
    let mut fields = immutable.clone();
    if role_changed || credential_changed {
        fields.push(auth_field(desired, Some(rule)));
    }
    let (action, reason) = if !immutable.is_empty() {
        let names: Vec<_> = immutable.iter().map(|f| f.field.as_str()).collect();
        (
            Action::Replace,
            Some(format!(
                "ECR cannot change {} of an existing rule: it is deleted and created again \
                 (cached repositories are kept)",
                names.join(", ")
            )),
        )
    } else if role_changed || credential_changed {
        (
            Action::Update,
            Some(format!(
                "UpdatePullThroughCacheRule changes the {} in place",
                if role_changed { "role" } else { "credential" }
            )),
        )
    } else {
        (Action::NoOp, None)
    };
    ResourceChange {
        resource: ResourceKind::PullThroughCacheRule,
        name: d.prefix.clone(),
        action,
        reason,
        fields,
    }
}

/// What ECR's `ValidatePullThroughCacheRule` said of a rule, or why it could not be asked.
pub type RuleValidation = Result<(bool, Option<String>), String>;

/// Whether an Echo rule someone else made (a stack, Terraform, by hand) already does what this
/// setup wants: same upstream, a role that can pull, and valid. The differences, if not.
pub fn differences_from(
    desired: &Desired,
    observed: &Observed,
    rule: &CacheRule,
    validation: Option<&RuleValidation>,
) -> Vec<String> {
    let d = &desired.rule;
    let mut out = vec![];
    for (what, have, want) in [
        (
            "upstream registry",
            &rule.upstream_registry,
            &d.upstream_registry,
        ),
        ("upstream URL", &rule.upstream_url, &d.upstream_url),
        ("upstream prefix", &rule.upstream_prefix, &d.upstream_prefix),
    ] {
        if have != want {
            out.push(format!("its {what} is {have}, this setup wants {want}"));
        }
    }
    match (
        &rule.role_arn,
        rule.role_arn
            .as_deref()
            .and_then(|a| observed.role_by_arn(a)),
    ) {
        (None, _) => out.push("it has no role for ECR to assume".into()),
        (Some(arn), None) => out.push(format!(
            "its role {arn} is not in this account or does not exist"
        )),
        (Some(_), Some(role)) => {
            if !policy::trusts_ecr_service(&role.trust) {
                out.push(format!(
                    "its role {} does not trust {}",
                    role.name,
                    policy::ECR_PTC_SERVICE
                ));
            }
            let required = super::checks::required_role_permissions(
                rule,
                &observed.identity.account,
                &observed.region,
            );
            let docs = role.policy_documents();
            let missing = super::policy_eval::missing(&docs, &required);
            if !missing.is_empty() {
                // Grouped by resource: "ecr:A, ecr:B on <arn>".
                let mut by_resource: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (a, r, _) in &missing {
                    by_resource.entry(r.as_str()).or_default().push(a.as_str());
                }
                out.push(format!(
                    "its role {} cannot pull: it lacks {}",
                    role.name,
                    by_resource
                        .iter()
                        .map(|(r, a)| format!("{} on {r}", a.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    match validation {
        Some(Ok((false, why))) => out.push(format!(
            "ECR reports it invalid ({})",
            why.as_deref().unwrap_or("no reason given")
        )),
        Some(Err(why)) => out.push(format!("ECR could not validate it ({why})")),
        _ => {}
    }
    out
}

/// The plan for a prefix whose Echo rule someone else made: nothing to do when it is
/// equivalent (already onboarded, by whom), else a blocker naming each difference. Either way
/// nothing of theirs is changed without `--adopt`.
pub fn plan_made_elsewhere(
    desired: &Desired,
    observed: &Observed,
    rule: &CacheRule,
    validation: Option<&RuleValidation>,
) -> Plan {
    let mut p = Plan::empty(observed);
    let who = rule.managed_by.describe();
    let differences = differences_from(desired, observed, rule, validation);
    let fix_where = match &rule.managed_by {
        ManagedBy::Stack(stack) => format!("update stack {stack}"),
        ManagedBy::Iac(tool) => format!("change it with {tool}"),
        _ => "change it where it was made".into(),
    };
    if !differences.is_empty() {
        p.blockers.push(format!(
            "a pull-through cache rule for prefix {:?} already exists with other settings, {who}: {}. To use it, {fix_where}; or ⟦other prefix⟧, or ⟦pass adopt⟧ to let echo-onboard change it",
            rule.prefix,
            differences.join("; ")
        ));
    }
    if desired.template.is_some() || desired.scan.is_some() {
        p.blockers.push(format!(
            "the cache settings would change a setup {who}: leave the cache settings out to keep it as it is, or ⟦pass adopt⟧ to let echo-onboard change it"
        ));
    }
    if let Some(role) = rule
        .role_arn
        .as_deref()
        .and_then(|a| observed.role_by_arn(a))
    {
        p.changes.push(ResourceChange {
            resource: ResourceKind::IamRole,
            name: role.name.clone(),
            action: Action::NoOp,
            reason: Some(format!("the rule's role, kept as it is ({who})")),
            fields: vec![],
        });
    }
    p.changes.push(ResourceChange {
        resource: ResourceKind::PullThroughCacheRule,
        name: rule.prefix.clone(),
        action: Action::NoOp,
        reason: Some(if differences.is_empty() {
            format!(
                "already onboarded, {who}: equivalent to this setup (same upstream, its role can pull, ECR validates it); echo-onboard changes nothing and teardown leaves it alone"
            )
        } else {
            format!("{who}; left as it is")
        }),
        fields: vec![],
    });
    p
}

/// The secret the apply creates, whose ARN the rule can only get once it exists.
fn credential_pending(desired: &Desired) -> bool {
    desired.secret.is_some() && desired.rule.credential_arn.is_none()
}

/// The rule's role (Echo) or credential (other upstreams that need one), before and after.
fn auth_field(desired: &Desired, rule: Option<&CacheRule>) -> FieldChange {
    let d = &desired.rule;
    if d.role_arn.is_some() {
        return field(
            "role_arn",
            json!(rule.and_then(|r| r.role_arn.clone())),
            json!(d.role_arn),
        );
    }
    let after = if credential_pending(desired) {
        json!(KNOWN_AFTER_APPLY)
    } else {
        json!(d.credential_arn)
    };
    field(
        "credential_arn",
        json!(rule.and_then(|r| r.credential_arn.clone())),
        after,
    )
}

/// Where else in the account a role is in use: IAM roles are global, rules regional.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleUse {
    /// Rules of other regions that use the role.
    pub rules: Vec<RegionalRule>,
    /// Regions that could not be read, with why (the role is kept while in doubt).
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionalRule {
    pub region: String,
    pub rule: CacheRule,
}

impl RoleUse {
    fn describe(&self) -> String {
        self.rules
            .iter()
            .map(|r| format!("rule {} in {}", r.rule.prefix, r.region))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Adds to a setup plan what sharing the role with other regions means: a note on the role,
/// and a blocker when those rules need another upstream (changing the one policy for this
/// region would then break them).
pub fn plan_shared_role(plan: &mut Plan, desired: &Desired, elsewhere: &RoleUse) {
    let Some(role) = &desired.role else { return };
    if elsewhere.rules.is_empty() {
        return;
    }
    let d = &desired.rule;
    let clashing: Vec<&RegionalRule> = elsewhere
        .rules
        .iter()
        .filter(|r| {
            r.rule.upstream_url != d.upstream_url || r.rule.upstream_prefix != d.upstream_prefix
        })
        .collect();
    for r in &clashing {
        plan.blockers.push(format!(
            "IAM role {} also serves rule {} in {} with upstream {} (upstream prefix {}); this setup wants {} (upstream prefix {}), and one role policy cannot be changed for one region without breaking the other: use the same ⟦echo-account⟧, ⟦echo-region⟧ and ⟦upstream-prefix⟧, or ⟦other role-name⟧ to give this region its own role",
            role.name,
            r.rule.prefix,
            r.region,
            r.rule.upstream_url,
            r.rule.upstream_prefix,
            d.upstream_url,
            d.upstream_prefix
        ));
    }
    if let Some(c) = plan
        .changes
        .iter_mut()
        .find(|c| c.resource == ResourceKind::IamRole)
    {
        c.add_reason(format!(
            "shared with {} (IAM is global)",
            elsewhere.describe()
        ));
    }
}

/// The teardown plan for one prefix: the rule and the role echo-onboard manages for it, and
/// the cached repositories when asked. Anything not ours is listed as left alone; a role that
/// rules of other regions still use is kept.
pub fn plan_teardown(
    observed: &Observed,
    prefix: &str,
    role: Option<&ObservedRole>,
    repos: Option<&[(String, RepoFate)]>,
    elsewhere: &RoleUse,
) -> Plan {
    let mut p = Plan::empty(observed);
    match observed.rule(prefix) {
        None => p.warnings.push(format!(
            "no pull-through cache rule with prefix {prefix:?} in {}",
            observed.region
        )),
        Some(rule) if rule.managed_by.is_ours() => p.changes.push(ResourceChange {
            resource: ResourceKind::PullThroughCacheRule,
            name: prefix.to_string(),
            action: Action::Delete,
            reason: None,
            fields: vec![field("upstream_url", json!(rule.upstream_url), Value::Null)],
        }),
        Some(rule) => p.changes.push(ResourceChange {
            resource: ResourceKind::PullThroughCacheRule,
            name: prefix.to_string(),
            action: Action::NoOp,
            reason: Some(format!(
                "left alone: managed by {}, not echo-onboard",
                rule.managed_by.label()
            )),
            fields: vec![],
        }),
    }
    if let Some(role) = role {
        let ours = role.managed_by().is_ours();
        let same_prefix = role.tags.get(PREFIX_TAG_KEY).map(String::as_str) == Some(prefix);
        let used_elsewhere: Vec<&str> = observed
            .rules
            .iter()
            .filter(|r| r.prefix != prefix && r.role_arn.as_deref() == Some(role.arn.as_str()))
            .map(|r| r.prefix.as_str())
            .collect();
        let (action, reason) = if !ours {
            (
                Action::NoOp,
                Some(format!(
                    "left alone: not tagged {MANAGED_BY_KEY}=echo-onboard"
                )),
            )
        } else if !same_prefix {
            (
                Action::NoOp,
                Some(format!(
                    "left alone: echo-onboard manages it for prefix {:?}",
                    role.tags.get(PREFIX_TAG_KEY).cloned().unwrap_or_default()
                )),
            )
        } else if !used_elsewhere.is_empty() {
            (
                Action::NoOp,
                Some(format!(
                    "left alone: still used by rule(s) {}",
                    used_elsewhere.join(", ")
                )),
            )
        } else if !elsewhere.rules.is_empty() {
            (
                Action::NoOp,
                Some(format!(
                    "kept: still used by {}; the last region's teardown deletes it",
                    elsewhere.describe()
                )),
            )
        } else if !elsewhere.unreadable.is_empty() {
            (
                Action::NoOp,
                Some(format!(
                    "kept: could not check whether other regions still use it ({}); delete it by hand once no rule uses it",
                    elsewhere.unreadable.join("; ")
                )),
            )
        } else {
            (Action::Delete, None)
        };
        p.changes.push(ResourceChange {
            resource: ResourceKind::IamRole,
            name: role.name.clone(),
            action,
            reason,
            fields: if action == Action::Delete {
                role.inline_policies
                    .keys()
                    .map(|k| field(&format!("inline_policy.{k}"), json!("present"), Value::Null))
                    .collect()
            } else {
                vec![]
            },
        });
    }
    p.changes
        .extend(cache::plan_teardown(prefix, &observed.cache));
    if let Some(why) = &observed.cache.unread {
        p.warnings.push(format!(
            "repository creation templates and scanning could not be read ({why}): a template or \
             scanning filter for {prefix} is left as it is"
        ));
    }
    if let Some(repos) = repos {
        // Deletions first, then what is kept, each with why it is kept.
        let (delete, keep): (Vec<_>, Vec<_>) = repos
            .iter()
            .partition(|(_, f)| matches!(f, RepoFate::Delete(_)));
        let kept = keep.len();
        for (name, fate) in delete.into_iter().chain(keep) {
            let (action, reason) = match fate {
                RepoFate::Delete(_) => (Action::Delete, None),
                RepoFate::Keep(why) => (Action::NoOp, Some(format!("kept: {why}"))),
            };
            p.changes.push(ResourceChange {
                resource: ResourceKind::EcrRepository,
                name: name.clone(),
                action,
                reason,
                fields: vec![],
            });
        }
        if kept > 0 {
            p.warnings.push(format!(
                "{kept} repositor{} under {} {} kept: not provably made by the cache (listed above with why); {} will be deleted with their images",
                if kept == 1 { "y" } else { "ies" },
                if prefix == super::validate::ROOT { "ROOT".to_string() } else { format!("{prefix}/") },
                if kept == 1 { "is" } else { "are" },
                repos.len() - kept
            ));
        }
    } else if observed.rule(prefix).is_some() {
        // Not listed (that is one call per 1,000 repositories for nothing): they are kept.
        p.warnings.push(format!(
            "cached repositories under {prefix}/ are kept; to delete them with their images, ⟦pass delete-cached-repos⟧"
        ));
    }
    p
}

/// The tool's credential secret for a torn-down prefix: deleted with a recovery window when
/// the tool made it for this prefix and no other rule uses it.
pub fn plan_secret_teardown(
    observed: &Observed,
    prefix: &str,
    recovery_days: u32,
) -> Option<ResourceChange> {
    let secret = observed.secret.as_ref()?;
    let ours = secret.managed_by().is_ours()
        && secret.tags.get(PREFIX_TAG_KEY).map(String::as_str) == Some(prefix);
    let users: Vec<&str> = observed
        .rules
        .iter()
        .filter(|r| r.prefix != prefix && r.credential_arn.as_deref() == Some(secret.arn.as_str()))
        .map(|r| r.prefix.as_str())
        .collect();
    let (action, reason) = if secret.deleted_at.is_some() {
        (Action::NoOp, "already scheduled for deletion".to_string())
    } else if !ours {
        (
            Action::NoOp,
            format!("left alone: not made by echo-onboard for prefix {prefix}"),
        )
    } else if !users.is_empty() {
        (
            Action::NoOp,
            format!("left alone: still used by rule(s) {}", users.join(", ")),
        )
    } else {
        (
            Action::Delete,
            format!(
                "recovery window {recovery_days} days: `aws secretsmanager restore-secret --secret-id {}` brings it back until then",
                secret.arn
            ),
        )
    };
    Some(ResourceChange {
        resource: ResourceKind::CredentialSecret,
        name: secret.name.clone(),
        action,
        reason: Some(reason),
        fields: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{desired, Identity, RepositoryInfo};
    use crate::core::validate::SetupInput;

    const OWN: &str = "444455556666";
    const ECHO: &str = "111122223333";

    fn setup_desired() -> Desired {
        let mut input = SetupInput::with_defaults(ECHO, "eu-west-1");
        input.tags = vec!["team=platform".into()];
        desired(&input.validate().unwrap(), OWN)
    }

    fn empty() -> Observed {
        Observed {
            identity: Identity {
                account: OWN.into(),
                arn: format!("arn:aws:iam::{OWN}:user/alice"),
            },
            region: "eu-west-1".into(),
            rules: vec![],
            role: None,
            roles: vec![],
            repositories: vec![],
            cache: Default::default(),
            secret: None,
        }
    }

    fn role_of(d: &Desired) -> ObservedRole {
        ObservedRole {
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
        }
    }

    fn rule_of(d: &Desired, managed_by: ManagedBy) -> CacheRule {
        CacheRule {
            prefix: d.rule.prefix.clone(),
            upstream_registry: d.rule.upstream_registry.clone(),
            upstream_url: d.rule.upstream_url.clone(),
            upstream_prefix: d.rule.upstream_prefix.clone(),
            role_arn: d.rule.role_arn.clone(),
            credential_arn: None,
            created_at: None,
            managed_by,
            owner_proof: String::new(),
        }
    }

    fn converged() -> (Desired, Observed) {
        let d = setup_desired();
        let mut o = empty();
        o.role = Some(role_of(&d));
        o.rules.push(rule_of(&d, ManagedBy::EchoOnboard));
        (d, o)
    }

    #[test]
    fn fresh_account_creates_both() {
        let d = setup_desired();
        let p = plan(&d, &empty(), Some(ECHO), PlanOptions::default());
        assert_eq!(p.changes.len(), 2);
        assert!(p.changes.iter().all(|c| c.action == Action::Create));
        assert!(p.blockers.is_empty() && p.warnings.is_empty());
        let rule = p.change(ResourceKind::PullThroughCacheRule).unwrap();
        assert_eq!(
            rule.fields
                .iter()
                .find(|f| f.field == "role_arn")
                .unwrap()
                .after,
            json!(d.echo_role().arn)
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["changes"][0]["resource"], "iam-role");
        assert_eq!(json["changes"][0]["action"], "create");
        assert_eq!(json["changes"][1]["resource"], "pull-through-cache-rule");
    }

    #[test]
    fn converged_is_all_no_op() {
        let (d, o) = converged();
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert!(!p.has_changes(), "{p:#?}");
        assert_eq!(
            serde_json::to_value(&p).unwrap()["changes"][0]["action"],
            "no-op"
        );
    }

    #[test]
    fn policy_drift_is_an_update_of_that_field_only() {
        let (d, mut o) = converged();
        let role = o.role.as_mut().unwrap();
        role.inline_policies.insert(
            d.echo_role().policy_name.clone(),
            json!({"Version":"2012-10-17","Statement":[]}),
        );
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        let c = p.change(ResourceKind::IamRole).unwrap();
        assert_eq!(c.action, Action::Update);
        assert_eq!(c.fields.len(), 1);
        assert_eq!(
            c.fields[0].field,
            "inline_policy.echo-pullthrough-cache-policy"
        );
        assert_eq!(
            p.change(ResourceKind::PullThroughCacheRule).unwrap().action,
            Action::NoOp
        );
    }

    #[test]
    fn reordered_policy_is_not_drift() {
        let (d, mut o) = converged();
        let role = o.role.as_mut().unwrap();
        let mut doc = d.echo_role().policy.to_value();
        doc["Statement"].as_array_mut().unwrap().reverse();
        role.inline_policies
            .insert(d.echo_role().policy_name.clone(), doc);
        assert!(!plan(&d, &o, Some(ECHO), PlanOptions::default()).has_changes());
    }

    #[test]
    fn trust_and_tag_drift() {
        let (d, mut o) = converged();
        let role = o.role.as_mut().unwrap();
        role.trust = json!({"Version":"2012-10-17","Statement":[]});
        role.tags.insert("team".into(), "other".into());
        role.tags.insert("extra".into(), "kept".into());
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        let c = p.change(ResourceKind::IamRole).unwrap();
        let names: Vec<_> = c.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, vec!["trust_policy", "tags"]);
        assert_eq!(c.fields[1].before, json!({"team":"other"}));
        assert_eq!(c.fields[1].after, json!({"team":"platform"}));
    }

    #[test]
    fn missing_inline_policy_is_an_update() {
        let (d, mut o) = converged();
        o.role.as_mut().unwrap().inline_policies.clear();
        let c = plan(&d, &o, Some(ECHO), PlanOptions::default())
            .change(ResourceKind::IamRole)
            .unwrap()
            .clone();
        assert_eq!(c.action, Action::Update);
        assert_eq!(c.fields[0].before, Value::Null);
    }

    #[test]
    fn role_change_on_rule_is_update_in_place() {
        let (d, mut o) = converged();
        o.rules[0].role_arn = Some(format!("arn:aws:iam::{OWN}:role/old"));
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        let c = p.change(ResourceKind::PullThroughCacheRule).unwrap();
        assert_eq!(c.action, Action::Update);
        assert_eq!(c.fields[0].field, "role_arn");
        assert!(c
            .reason
            .as_ref()
            .unwrap()
            .contains("UpdatePullThroughCacheRule"));
    }

    #[test]
    fn upstream_change_is_replace_with_reason() {
        let (d, mut o) = converged();
        o.rules[0].upstream_url = "999999999999.dkr.ecr.us-east-1.amazonaws.com".into();
        o.rules[0].upstream_prefix = "old".into();
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        let c = p.change(ResourceKind::PullThroughCacheRule).unwrap();
        assert_eq!(c.action, Action::Replace);
        assert!(c
            .reason
            .as_ref()
            .unwrap()
            .contains("upstream_url, upstream_prefix"));
        assert!(p.blockers.is_empty());
    }

    #[test]
    fn foreign_rule_with_other_settings_blocks_unless_adopted() {
        let (d, mut o) = converged();
        o.rules[0].managed_by = ManagedBy::Other;
        o.rules[0].role_arn = Some(format!("arn:aws:iam::{OWN}:role/hand-made"));
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert_eq!(p.blockers.len(), 1);
        assert!(
            crate::core::words::refs(&p.blockers[0])
                .contains(&crate::core::words::Setting::Prefix.other()),
            "{}",
            p.blockers[0]
        );
        assert!(p.blockers[0].contains("role arn:aws:iam::444455556666:role/hand-made"));
        let adopted = plan(&d, &o, Some(ECHO), PlanOptions { adopt: true });
        assert!(adopted.blockers.is_empty());
        assert_eq!(
            adopted
                .change(ResourceKind::PullThroughCacheRule)
                .unwrap()
                .action,
            Action::Update
        );
    }

    #[test]
    fn foreign_rule_identical_to_desired_is_no_op() {
        let (d, mut o) = converged();
        o.rules[0].managed_by = ManagedBy::Other;
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert!(p.blockers.is_empty());
        assert!(!p.has_changes());
    }

    #[test]
    fn a_setup_made_elsewhere_is_already_onboarded_when_equivalent_and_blocked_with_each_difference(
    ) {
        let (d, mut o) = converged();
        o.roles = o.role.clone().into_iter().collect();
        o.rules[0].managed_by = ManagedBy::Stack("echo-mirror".into());
        let rule = o.rules[0].clone();
        let valid: RuleValidation = Ok((true, None));
        let p = plan_made_elsewhere(&d, &o, &rule, Some(&valid));
        assert!(p.blockers.is_empty() && !p.has_changes(), "{p:#?}");
        let reason = p
            .change(ResourceKind::PullThroughCacheRule)
            .unwrap()
            .reason
            .clone()
            .unwrap();
        assert!(
            reason.contains("already onboarded, made by stack echo-mirror, not echo-onboard"),
            "{reason}"
        );

        let mut other = rule.clone();
        other.upstream_url = "999988887777.dkr.ecr.us-east-1.amazonaws.com".into();
        let invalid: RuleValidation = Ok((false, Some("denied".into())));
        let p = plan_made_elsewhere(&d, &o, &other, Some(&invalid));
        let b = p.blockers.join(" ");
        assert!(
            b.contains("already exists with other settings, made by stack echo-mirror"),
            "{b}"
        );
        assert!(
            b.contains("its upstream URL is 999988887777")
                && b.contains("ECR reports it invalid (denied)"),
            "{b}"
        );
        assert!(
            b.contains("update stack echo-mirror")
                && super::super::words::offers(&b, super::super::words::Setting::Adopt),
            "{b}"
        );
        // A role that cannot pull is a difference too.
        o.roles[0].inline_policies.clear();
        let p = plan_made_elsewhere(&d, &o, &rule, Some(&valid));
        assert!(
            p.blockers.join(" ").contains("cannot pull: it lacks")
                && p.blockers.join(" ").contains("ecr:BatchGetImage"),
            "{:?}",
            p.blockers
        );
    }

    #[test]
    fn another_upstreams_rule_someone_else_made_is_never_claimed() {
        let mut input = crate::core::validate::SetupInput::with_defaults("", "eu-west-1");
        input.prefix = "ecr-public".into();
        input.upstream.name = "ecr-public".into();
        let d = desired(&input.validate().unwrap(), "444455556666");
        let mut o = empty();
        o.rules.push(CacheRule {
            prefix: "ecr-public".into(),
            upstream_registry: "ecr-public".into(),
            upstream_url: "public.ecr.aws".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: None,
            credential_arn: None,
            created_at: None,
            managed_by: ManagedBy::Other,
            owner_proof: "no stack holds it".into(),
        });
        let p = plan(&d, &o, None, PlanOptions::default());
        assert!(
            p.blockers[0].contains("not made by echo-onboard"),
            "{:?}",
            p.blockers
        );
        let p = plan(&d, &o, None, PlanOptions { adopt: true });
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    }

    #[test]
    fn foreign_role_blocks() {
        let (d, mut o) = converged();
        o.role.as_mut().unwrap().tags.clear();
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert!(
            p.blockers
                .iter()
                .any(|b| b.contains("not created by echo-onboard")),
            "{:?}",
            p.blockers
        );
        assert!(plan(&d, &o, Some(ECHO), PlanOptions { adopt: true })
            .blockers
            .is_empty());
    }

    #[test]
    fn role_of_another_prefix_blocks() {
        let (d, mut o) = converged();
        o.role
            .as_mut()
            .unwrap()
            .tags
            .insert(PREFIX_TAG_KEY.into(), "other".into());
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert!(
            p.blockers[0].contains("for prefix \"other\""),
            "{:?}",
            p.blockers
        );
    }

    #[test]
    fn quota_blocks_a_new_rule() {
        let d = setup_desired();
        let mut o = empty();
        for i in 0..RULE_QUOTA {
            let mut r = rule_of(&d, ManagedBy::Other);
            r.prefix = format!("p{i:02}");
            o.rules.push(r);
        }
        let p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        assert!(p.blockers[0].contains("quota"));
    }

    #[test]
    fn own_account_as_echo_account_warns() {
        let d = setup_desired();
        let p = plan(&d, &empty(), Some(OWN), PlanOptions::default());
        assert!(p.warnings[0].contains("your own account"));
    }

    fn repo(name: &str, prefix: &str) -> RepositoryInfo {
        RepositoryInfo {
            settings: None,
            created_at: None,
            arn: String::new(),
            name: name.into(),
            rule_prefix: prefix.into(),
            details: Some(crate::core::model::RepoDetails {
                image_count: 2,
                size_bytes: 10,
                last_pulled_at: None,
                archived_count: 0,
                archived_bytes: 0,
            }),
            pull_count_30d: 0,
            pulls_by_day: vec![],
        }
    }

    #[test]
    fn teardown_deletes_ours_and_keeps_repos_by_default() {
        let (_, mut o) = converged();
        o.repositories = vec![repo("echo/python", "echo"), repo("other/x", "other")];
        let role = o.role.clone();
        let p = plan_teardown(&o, "echo", role.as_ref(), None, &RoleUse::default());
        let actions: Vec<_> = p.changes.iter().map(|c| (c.resource, c.action)).collect();
        assert_eq!(
            actions,
            vec![
                (ResourceKind::PullThroughCacheRule, Action::Delete),
                (ResourceKind::IamRole, Action::Delete)
            ]
        );
        assert!(p.warnings[0].contains("cached repositories under echo/ are kept"));
        let fates = vec![
            (
                "echo/python".to_string(),
                RepoFate::Delete("made by the cache".into()),
            ),
            (
                "echo/handmade".to_string(),
                RepoFate::Keep("older than the rule".into()),
            ),
        ];
        let p = plan_teardown(&o, "echo", role.as_ref(), Some(&fates), &RoleUse::default());
        assert_eq!(p.changes.len(), 4);
        assert_eq!(p.changes[2].name, "echo/python");
        assert_eq!(p.changes[2].action, Action::Delete);
        // What is kept is listed, with why, and counted.
        assert_eq!(p.changes[2].reason, None);
        assert_eq!(p.changes[3].name, "echo/handmade");
        assert_eq!(p.changes[3].action, Action::NoOp);
        assert_eq!(
            p.changes[3].reason.as_deref(),
            Some("kept: older than the rule")
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("1 repository under echo/ is kept")
                    && w.contains("1 will be deleted")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn teardown_leaves_foreign_things_alone() {
        let (_, mut o) = converged();
        o.rules[0].managed_by = ManagedBy::Other;
        let mut role = o.role.clone().unwrap();
        role.tags.clear();
        let p = plan_teardown(&o, "echo", Some(&role), None, &RoleUse::default());
        assert!(!p.has_changes());
        assert!(p
            .changes
            .iter()
            .all(|c| c.reason.as_ref().unwrap().starts_with("left alone")));
    }

    #[test]
    fn teardown_keeps_a_role_still_used_by_another_rule() {
        let (d, mut o) = converged();
        let mut other = rule_of(&d, ManagedBy::EchoOnboard);
        other.prefix = "second".into();
        o.rules.push(other);
        let role = o.role.clone();
        let p = plan_teardown(&o, "echo", role.as_ref(), None, &RoleUse::default());
        let c = p.change(ResourceKind::IamRole).unwrap();
        assert_eq!(c.action, Action::NoOp);
        assert!(c.reason.as_ref().unwrap().contains("second"));
    }

    #[test]
    fn teardown_of_missing_rule_warns() {
        let p = plan_teardown(&empty(), "echo", None, None, &RoleUse::default());
        assert!(p.changes.is_empty());
        assert!(p.warnings[0].contains("no pull-through cache rule"));
    }

    #[test]
    fn teardown_keeps_a_role_that_another_region_uses_until_the_last_region() {
        let (d, o) = converged();
        let role = o.role.clone();
        let elsewhere = RoleUse {
            rules: vec![RegionalRule {
                region: "us-east-1".into(),
                rule: rule_of(&d, ManagedBy::EchoOnboard),
            }],
            unreadable: vec![],
        };
        let p = plan_teardown(&o, "echo", role.as_ref(), None, &elsewhere);
        assert_eq!(
            p.change(ResourceKind::PullThroughCacheRule).unwrap().action,
            Action::Delete
        );
        let c = p.change(ResourceKind::IamRole).unwrap();
        assert_eq!(c.action, Action::NoOp);
        assert!(c
            .reason
            .as_ref()
            .unwrap()
            .contains("kept: still used by rule echo in us-east-1"));
        // A region that could not be read keeps the role too: never delete in doubt.
        let doubt = RoleUse {
            rules: vec![],
            unreadable: vec!["ap-south-1: AccessDenied".into()],
        };
        let p = plan_teardown(&o, "echo", role.as_ref(), None, &doubt);
        assert_eq!(
            p.change(ResourceKind::IamRole).unwrap().action,
            Action::NoOp
        );
        // The last region deletes it.
        let p = plan_teardown(&o, "echo", role.as_ref(), None, &RoleUse::default());
        assert_eq!(
            p.change(ResourceKind::IamRole).unwrap().action,
            Action::Delete
        );
    }

    #[test]
    fn a_role_shared_with_another_region_is_noted_and_never_rewritten_for_another_upstream() {
        let (d, o) = converged();
        let mut same = rule_of(&d, ManagedBy::EchoOnboard);
        let mut p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        let shared = RoleUse {
            rules: vec![RegionalRule {
                region: "us-east-1".into(),
                rule: same.clone(),
            }],
            unreadable: vec![],
        };
        plan_shared_role(&mut p, &d, &shared);
        assert!(p.blockers.is_empty());
        assert!(p
            .change(ResourceKind::IamRole)
            .unwrap()
            .reason
            .as_ref()
            .unwrap()
            .contains("shared with rule echo in us-east-1"));
        same.upstream_url = "999988887777.dkr.ecr.us-east-1.amazonaws.com".into();
        let other = RoleUse {
            rules: vec![RegionalRule {
                region: "us-east-1".into(),
                rule: same,
            }],
            unreadable: vec![],
        };
        let mut p = plan(&d, &o, Some(ECHO), PlanOptions::default());
        plan_shared_role(&mut p, &d, &other);
        assert_eq!(p.blockers.len(), 1);
        assert!(
            super::super::words::offers(&p.blockers[0], super::super::words::Setting::RoleName),
            "{}",
            p.blockers[0]
        );
    }
}
