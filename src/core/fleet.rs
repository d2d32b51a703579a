//! Fleet (many accounts and regions through one StackSet): validation of the fleet's options
//! and the plan, from the stack set and its instances as read. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex_lite::Regex;
use serde::Serialize;
use serde_json::{json, Value};

use super::plan::{Action, FieldChange};
use super::stacksets::{CallAs, OperationPrefs, Permission, StackInstance, StackSetInfo};
use super::validate::{err, AccountId, FieldError, Region, RoleName, Setup, SetupInput};

pub const DEFAULT_STACK_SET_NAME: &str = "echo-registry-ecr-cache";
pub const DEFAULT_ADMIN_ROLE: &str = "AWSCloudFormationStackSetAdministrationRole";
pub const DEFAULT_EXECUTION_ROLE: &str = "AWSCloudFormationStackSetExecutionRole";
pub const DEFAULT_READ_ROLE: &str = "OrganizationAccountAccessRole";

/// What the user typed for `fleet`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetInput {
    pub setup: SetupInput,
    pub accounts: Vec<String>,
    pub org_units: Vec<String>,
    pub regions: Vec<String>,
    pub stack_set_name: String,
    pub admin_role_arn: String,
    pub execution_role_name: String,
    pub auto_deploy: bool,
    pub delegated_admin: bool,
    pub sequential_regions: bool,
    pub max_concurrent_percentage: Option<u8>,
    pub failure_tolerance_percentage: Option<u8>,
    pub read_role_name: String,
}

/// A percentage as typed in a form: empty is the default (`None`), a whole number is kept for
/// `validate` to check its range, anything else is an error naming the field.
pub fn parse_percentage(
    field: &'static str,
    text: &str,
    example: &str,
) -> Result<Option<u8>, FieldError> {
    let t = text.trim().trim_end_matches('%').trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u8>().map(Some).map_err(|_| {
        err(
            field,
            text.trim(),
            "must be a whole number from 0 to 100",
            example,
        )
    })
}

/// How to let `fleet status` read a target it could not: the role to create in the target
/// account, trusting the account `status` runs from, with the reads it makes. AWS CLI
/// commands the user runs in the target account (any front end shows them as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadGrant {
    pub account: String,
    pub role_name: String,
    /// The account `status` runs from (the role's trusted principal).
    pub trusted_account: String,
    pub actions: Vec<&'static str>,
    /// `aws iam create-role …` (with its trust) and `aws iam put-role-policy …`.
    pub commands: Vec<String>,
}

/// What `fleet status` reads in each target (through the read role).
pub const READ_ACTIONS: [&str; 4] = [
    "ecr:DescribePullThroughCacheRules",
    "ecr:ValidatePullThroughCacheRule",
    "ecr:DescribeRepositories",
    "cloudwatch:GetMetricData",
];

/// The read role for `account`, trusting `trusted_account` (in `partition`).
pub fn read_grant(
    account: &str,
    role_name: &str,
    trusted_account: &str,
    partition: &str,
) -> ReadGrant {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{partition}:iam::{trusted_account}:root")},
            "Action": "sts:AssumeRole"
        }]
    });
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*"}]
    });
    ReadGrant {
        account: account.into(),
        role_name: role_name.into(),
        trusted_account: trusted_account.into(),
        actions: READ_ACTIONS.to_vec(),
        commands: vec![
            format!("aws iam create-role --role-name {role_name} --assume-role-policy-document '{trust}'"),
            format!("aws iam put-role-policy --role-name {role_name} --policy-name echo-onboard-fleet-read --policy-document '{policy}'"),
        ],
    }
}

/// Where the stack set deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    Accounts(Vec<String>),
    OrgUnits(Vec<String>),
}

/// A validated fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub setup: Setup,
    pub stack_set_name: String,
    pub targets: Targets,
    pub regions: Vec<String>,
    /// Self-managed: the admin role ARN is `None` until the caller's account is known.
    pub admin_role_arn: Option<String>,
    pub execution_role_name: String,
    pub auto_deploy: bool,
    pub call_as: CallAs,
    pub prefs: OperationPrefs,
    pub read_role_name: String,
}

impl Fleet {
    pub fn permission(&self, admin_account: &str) -> Permission {
        match &self.targets {
            Targets::Accounts(_) => Permission::SelfManaged {
                admin_role_arn: self.admin_role_arn.clone().unwrap_or_else(|| {
                    format!(
                        "arn:{}:iam::{admin_account}:role/{DEFAULT_ADMIN_ROLE}",
                        self.setup.region.partition()
                    )
                }),
                execution_role_name: self.execution_role_name.clone(),
            },
            Targets::OrgUnits(_) => Permission::ServiceManaged {
                auto_deploy: self.auto_deploy,
            },
        }
    }
}

static OU: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$").unwrap());
static STACK_SET_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$").unwrap());
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,64}$").unwrap()
});

fn split(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

impl FleetInput {
    /// A fleet of `setup` with no targets yet and every default.
    pub fn new(setup: SetupInput) -> Self {
        Self {
            setup,
            accounts: vec![],
            org_units: vec![],
            regions: vec![],
            stack_set_name: String::new(),
            admin_role_arn: String::new(),
            execution_role_name: String::new(),
            auto_deploy: true,
            delegated_admin: false,
            sequential_regions: false,
            max_concurrent_percentage: None,
            failure_tolerance_percentage: None,
            read_role_name: String::new(),
        }
    }

    /// Every field's problems at once; nothing is sent when there are any.
    pub fn validate(&self) -> Result<Fleet, Vec<FieldError>> {
        let mut errors = vec![];
        let mut input = self.setup.clone();
        let regions = split(&self.regions);
        if regions.is_empty() {
            errors.push(err(
                "regions",
                "",
                "is required: the regions to deploy to in every target account",
                "eu-west-1,us-east-1",
            ));
        }
        for r in &regions {
            if let Err(e) = Region::parse("regions", r) {
                errors.push(e);
            }
        }
        // The setup is validated for the first region; the stack set deploys it to each.
        input.region = regions
            .iter()
            .find(|r| Region::parse("regions", r).is_ok())
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let setup = match input.validate() {
            Ok(s) => Some(s),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if setup.as_ref().is_some_and(|s| !s.is_echo()) {
            errors.push(err(
                "upstream",
                &self.setup.upstream.name,
                "fleet deploys Echo's rule and role (Echo's stack template); other upstreams are set up per account with ⟦cmd apply⟧",
                "echo",
            ));
        }
        let accounts = split(&self.accounts);
        let org_units = split(&self.org_units);
        let targets = match (accounts.is_empty(), org_units.is_empty()) {
            (false, true) => {
                for a in &accounts {
                    if let Err(e) = AccountId::parse("accounts", a) {
                        errors.push(e);
                    }
                }
                Some(Targets::Accounts(accounts))
            }
            (true, false) => {
                for o in org_units.iter().filter(|o| !OU.is_match(o)) {
                    errors.push(err(
                        "org-units",
                        o,
                        "must be an organizational unit id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)",
                        "ou-ab12-cdef3456",
                    ));
                }
                Some(Targets::OrgUnits(org_units))
            }
            (false, false) => {
                errors.push(err(
                    "accounts",
                    &accounts.join(","),
                    "give either ⟦accounts⟧ (self-managed) or ⟦org-units⟧ (service-managed), not both",
                    "ou-ab12-cdef3456",
                ));
                None
            }
            (true, true) => {
                errors.push(err(
                    "accounts",
                    "",
                    "a fleet needs targets: ⟦accounts⟧ ID,ID (self-managed) or ⟦org-units⟧ ou-…,r-… (service-managed)",
                    "111111111111,222222222222",
                ));
                None
            }
        };
        let name = if self.stack_set_name.trim().is_empty() {
            DEFAULT_STACK_SET_NAME.to_string()
        } else {
            self.stack_set_name.trim().to_string()
        };
        if !STACK_SET_NAME.is_match(&name) {
            errors.push(err(
                "stack-set-name",
                &name,
                "must start with a letter and hold only letters, digits and hyphens (at most 128)",
                DEFAULT_STACK_SET_NAME,
            ));
        }
        let admin = self.admin_role_arn.trim();
        if !admin.is_empty() && !ROLE_ARN.is_match(admin) {
            errors.push(err(
                "admin-role-arn",
                admin,
                "must be an IAM role ARN",
                "arn:aws:iam::123456789012:role/AWSCloudFormationStackSetAdministrationRole",
            ));
        }
        if matches!(targets, Some(Targets::OrgUnits(_))) && !admin.is_empty() {
            errors.push(err(
                "admin-role-arn",
                admin,
                "is for ⟦accounts⟧ (self-managed); ⟦org-units⟧ uses StackSets' trusted access instead",
                "(leave it out)",
            ));
        }
        let execution = if self.execution_role_name.trim().is_empty() {
            DEFAULT_EXECUTION_ROLE.to_string()
        } else {
            self.execution_role_name.trim().to_string()
        };
        let read_role = if self.read_role_name.trim().is_empty() {
            DEFAULT_READ_ROLE.to_string()
        } else {
            self.read_role_name.trim().to_string()
        };
        for (field, v) in [
            ("execution-role-name", &execution),
            ("read-role-name", &read_role),
        ] {
            if let Err(e) = RoleName::parse(field, v) {
                errors.push(e);
            }
        }
        let defaults = OperationPrefs::default();
        let max = self
            .max_concurrent_percentage
            .unwrap_or(defaults.max_concurrent_percentage);
        if !(1..=100).contains(&max) {
            errors.push(err(
                "max-concurrent-percentage",
                &max.to_string(),
                "must be 1 to 100",
                "25",
            ));
        }
        let tolerance = self
            .failure_tolerance_percentage
            .unwrap_or(defaults.failure_tolerance_percentage);
        if tolerance > 100 {
            errors.push(err(
                "failure-tolerance-percentage",
                &tolerance.to_string(),
                "must be 0 to 100",
                "0",
            ));
        }
        if self.delegated_admin && matches!(targets, Some(Targets::Accounts(_))) {
            errors.push(err(
                "call-as",
                "DELEGATED_ADMIN",
                "applies to service-managed stack sets only (⟦org-units⟧); a self-managed one is called as SELF from its administration account",
                "DELEGATED_ADMIN with ⟦org-units⟧ ou-ab12-cdef3456",
            ));
        }
        match (errors.is_empty(), setup, targets) {
            (true, Some(setup), Some(targets)) => Ok(Fleet {
                setup,
                stack_set_name: name,
                targets,
                regions,
                admin_role_arn: (!admin.is_empty()).then(|| admin.to_string()),
                execution_role_name: execution,
                auto_deploy: self.auto_deploy,
                call_as: self.delegated_admin.then(|| "DELEGATED_ADMIN".to_string()),
                prefs: OperationPrefs {
                    parallel_regions: !self.sequential_regions,
                    max_concurrent_percentage: max,
                    failure_tolerance_percentage: tolerance,
                },
                read_role_name: read_role,
            }),
            _ => Err(errors),
        }
    }
}

/// One instance row of the fleet plan: an account (or an OU, for instances not made yet)
/// × region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceChange {
    pub target: String,
    pub region: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSetChange {
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// A wizard option a stack set cannot carry (Echo's template has no parameter for it), named
/// as data: the CLI words it as its flag, the TUI as its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WizardOption {
    ScanOnPush,
    /// Named in JSON as the option is on the command line (one per tag).
    #[serde(rename = "repo-tag")]
    RepoTags,
    MutableTags,
    #[serde(rename = "tag")]
    Tags,
    BroadPolicy,
    #[serde(rename = "pull-time-exclusion")]
    PullTimeExclusions,
}

impl WizardOption {
    /// The command line's flag for it.
    pub fn flag(self) -> &'static str {
        match self {
            WizardOption::ScanOnPush => "--scan-on-push",
            WizardOption::RepoTags => "--repo-tag",
            WizardOption::MutableTags => "--mutable-tags",
            WizardOption::Tags => "--tag",
            WizardOption::BroadPolicy => "--broad-policy",
            WizardOption::PullTimeExclusions => "--pull-time-exclusion",
        }
    }
}

/// An option the plan leaves out, what was asked, and why the stack set cannot carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCarried {
    pub option: WizardOption,
    pub value: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetPlan {
    pub stack_set: StackSetChange,
    pub instances: Vec<InstanceChange>,
    pub warnings: Vec<String>,
    /// Options asked for that the stack set leaves out (set them per account with the API
    /// method, if they matter).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_carried: Vec<NotCarried>,
    pub blockers: Vec<String>,
}

impl FleetPlan {
    pub fn has_changes(&self) -> bool {
        self.stack_set.action != Action::NoOp
            || self.instances.iter().any(|i| i.action != Action::NoOp)
    }
    pub fn count(&self, action: Action) -> usize {
        self.instances.iter().filter(|i| i.action == action).count()
    }
}

/// The plan: the stack set's diff (template and parameters) and each instance's action.
pub fn plan(
    fleet: &Fleet,
    template_body: &str,
    parameters: &[(String, String)],
    permission: &Permission,
    current: Option<&StackSetInfo>,
    instances: &[StackInstance],
) -> FleetPlan {
    let mut blockers = vec![];
    let want: BTreeMap<&str, &str> = parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let set_change = match current {
        None => StackSetChange {
            name: fleet.stack_set_name.clone(),
            action: Action::Create,
            fields: std::iter::once(FieldChange {
                field: "permission_model".into(),
                before: Value::Null,
                after: json!(permission),
            })
            .chain(want.iter().map(|(k, v)| FieldChange {
                field: format!("parameter {k}"),
                before: Value::Null,
                after: json!(v),
            }))
            .collect(),
        },
        Some(cur) => {
            if std::mem::discriminant(&cur.permission) != std::mem::discriminant(permission) {
                blockers.push(format!(
                    "stack set {} is {} and this fleet is {}: a stack set cannot change its permission model; ⟦other stack-set-name⟧ for a new one, or target it as it was made",
                    cur.name,
                    model_name(&cur.permission),
                    model_name(permission)
                ));
            }
            let mut fields = vec![];
            if cur.template_body.trim() != template_body.trim() {
                fields.push(FieldChange {
                    field: "template".into(),
                    before: json!("(another template)"),
                    after: json!("(echo-onboard's template)"),
                });
            }
            let keys: BTreeSet<&str> = want
                .keys()
                .copied()
                .chain(cur.parameters.keys().map(String::as_str))
                .collect();
            for k in keys {
                let (b, a) = (
                    cur.parameters.get(k).map(String::as_str),
                    want.get(k).copied(),
                );
                if b != a {
                    fields.push(FieldChange {
                        field: format!("parameter {k}"),
                        before: json!(b),
                        after: json!(a),
                    });
                }
            }
            if let (
                Permission::ServiceManaged { auto_deploy: b },
                Permission::ServiceManaged { auto_deploy: a },
            ) = (&cur.permission, permission)
            {
                if a != b {
                    fields.push(FieldChange {
                        field: "auto_deploy".into(),
                        before: json!(b),
                        after: json!(a),
                    });
                }
            }
            StackSetChange {
                name: cur.name.clone(),
                action: if fields.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                },
                fields,
            }
        }
    };
    let updating = set_change.action == Action::Update;
    let existing = |inst: &StackInstance| {
        let (action, reason) = if inst.failed() {
            (
                Action::Update,
                Some(format!(
                    "retry: {} ({})",
                    inst.status_reason.as_deref().unwrap_or("no reason given"),
                    inst.detailed_status.as_deref().unwrap_or(&inst.status)
                )),
            )
        } else if updating {
            (Action::Update, Some("the stack set changes".to_string()))
        } else {
            (Action::NoOp, None)
        };
        InstanceChange {
            target: inst.account.clone(),
            region: inst.region.clone(),
            action,
            reason,
        }
    };
    let mut rows = vec![];
    match &fleet.targets {
        Targets::Accounts(accounts) => {
            for a in accounts {
                for r in &fleet.regions {
                    match instances.iter().find(|i| i.account == *a && i.region == *r) {
                        Some(inst) => rows.push(existing(inst)),
                        None => rows.push(InstanceChange {
                            target: a.clone(),
                            region: r.clone(),
                            action: Action::Create,
                            reason: None,
                        }),
                    }
                }
            }
            for inst in instances {
                if !accounts.contains(&inst.account) || !fleet.regions.contains(&inst.region) {
                    rows.push(InstanceChange {
                        target: inst.account.clone(),
                        region: inst.region.clone(),
                        action: Action::Delete,
                        reason: Some("no longer targeted".into()),
                    });
                }
            }
        }
        Targets::OrgUnits(ous) => {
            for ou in ous {
                for r in &fleet.regions {
                    let here: Vec<&StackInstance> = instances
                        .iter()
                        .filter(|i| i.org_unit.as_deref() == Some(ou.as_str()) && i.region == *r)
                        .collect();
                    if here.is_empty() {
                        rows.push(InstanceChange {
                            target: ou.clone(),
                            region: r.clone(),
                            action: Action::Create,
                            reason: Some("every account in the OU".into()),
                        });
                    }
                    rows.extend(here.into_iter().map(existing));
                }
            }
            for inst in instances {
                let kept = inst.org_unit.as_ref().is_some_and(|o| ous.contains(o))
                    && fleet.regions.contains(&inst.region);
                if !kept {
                    rows.push(InstanceChange {
                        target: inst.account.clone(),
                        region: inst.region.clone(),
                        action: Action::Delete,
                        reason: Some("no longer targeted".into()),
                    });
                }
            }
        }
    }
    FleetPlan {
        stack_set: set_change,
        instances: rows,
        warnings: vec![],
        not_carried: vec![],
        blockers,
    }
}

fn model_name(p: &Permission) -> &'static str {
    match p {
        Permission::SelfManaged { .. } => "self-managed",
        Permission::ServiceManaged { .. } => "service-managed",
    }
}

/// Rows grouped into the fewest StackSets calls: each call takes accounts × regions, so
/// accounts wanting the same regions go together.
pub fn batches(rows: &[&InstanceChange]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut by_target: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        by_target
            .entry(r.target.as_str())
            .or_default()
            .insert(r.region.as_str());
    }
    let mut groups: BTreeMap<Vec<&str>, Vec<String>> = BTreeMap::new();
    for (target, regions) in by_target {
        groups
            .entry(regions.into_iter().collect())
            .or_default()
            .push(target.to_string());
    }
    groups
        .into_iter()
        .map(|(regions, targets)| (targets, regions.into_iter().map(str::to_string).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(accounts: &str, regions: &str) -> FleetInput {
        FleetInput {
            accounts: vec![accounts.into()],
            regions: vec![regions.into()],
            ..FleetInput::new(SetupInput::with_defaults("999988887777", "eu-west-1"))
        }
    }

    fn inst(account: &str, region: &str, status: &str) -> StackInstance {
        StackInstance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: Some(
                if status == "CURRENT" {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                }
                .into(),
            ),
            status_reason: (status != "CURRENT").then(|| "Role already exists".into()),
            org_unit: None,
        }
    }

    #[test]
    fn bad_input_names_every_field() {
        let mut i = input("1234,111111111111", "eu-west-1,mars-1");
        i.org_units = vec!["ou-x".into()];
        i.max_concurrent_percentage = Some(0);
        i.stack_set_name = "9bad".into();
        let errors = i.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        for f in [
            "regions",
            "accounts",
            "stack-set-name",
            "max-concurrent-percentage",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        // A delegated administrator applies to OU targets only.
        let mut delegated = input("111111111111", "eu-west-1");
        delegated.delegated_admin = true;
        assert_eq!(delegated.validate().unwrap_err()[0].field, "call-as");
        let mut none = input("", "eu-west-1");
        none.accounts.clear();
        assert_eq!(none.validate().unwrap_err()[0].field, "accounts");
        let mut ou = input("", "eu-west-1");
        ou.accounts.clear();
        ou.org_units = vec!["ou-ab12-cdef3456,r-ab12".into()];
        let f = ou.validate().unwrap();
        assert!(matches!(
            f.permission("123456789012"),
            Permission::ServiceManaged { .. }
        ));
    }

    #[test]
    fn plan_creates_then_adds_a_region_then_retries_failures_and_deletes_dropped() {
        let fleet = input("111111111111,222222222222", "eu-west-1,us-east-1")
            .validate()
            .unwrap();
        let perm = fleet.permission("123456789012");
        let params = vec![("RepositoryNamePrefix".to_string(), "echo".to_string())];
        let p = plan(&fleet, "T", &params, &perm, None, &[]);
        assert_eq!(p.stack_set.action, Action::Create);
        assert_eq!(p.count(Action::Create), 4);

        let current = StackSetInfo {
            name: fleet.stack_set_name.clone(),
            status: "ACTIVE".into(),
            template_body: "T".into(),
            parameters: params.iter().cloned().collect(),
            permission: perm.clone(),
        };
        let mut insts = vec![
            inst("111111111111", "eu-west-1", "CURRENT"),
            inst("222222222222", "eu-west-1", "CURRENT"),
            inst("111111111111", "us-east-1", "CURRENT"),
            inst("222222222222", "us-east-1", "CURRENT"),
        ];
        let p = plan(&fleet, "T", &params, &perm, Some(&current), &insts);
        assert!(!p.has_changes(), "{p:#?}");

        let three = input(
            "111111111111,222222222222",
            "eu-west-1,us-east-1,eu-central-1",
        )
        .validate()
        .unwrap();
        let p = plan(&three, "T", &params, &perm, Some(&current), &insts);
        let created: Vec<_> = p
            .instances
            .iter()
            .filter(|i| i.action == Action::Create)
            .map(|i| (i.target.as_str(), i.region.as_str()))
            .collect();
        assert_eq!(
            created,
            vec![
                ("111111111111", "eu-central-1"),
                ("222222222222", "eu-central-1")
            ]
        );
        let creates: Vec<&InstanceChange> = p
            .instances
            .iter()
            .filter(|i| i.action == Action::Create)
            .collect();
        assert_eq!(
            batches(&creates),
            vec![(
                vec!["111111111111".to_string(), "222222222222".to_string()],
                vec!["eu-central-1".to_string()]
            )]
        );

        insts[1] = inst("222222222222", "eu-west-1", "OUTDATED");
        let one = input("111111111111,222222222222", "eu-west-1")
            .validate()
            .unwrap();
        let p = plan(&one, "T", &params, &perm, Some(&current), &insts);
        let changed: Vec<_> = p
            .instances
            .iter()
            .filter(|i| i.action != Action::NoOp)
            .map(|i| (i.target.as_str(), i.region.as_str(), i.action))
            .collect();
        assert_eq!(
            changed,
            vec![
                ("222222222222", "eu-west-1", Action::Update),
                ("111111111111", "us-east-1", Action::Delete),
                ("222222222222", "us-east-1", Action::Delete),
            ]
        );

        // Another permission model cannot be changed in place.
        let ou = FleetInput {
            accounts: vec![],
            org_units: vec!["ou-ab12-cdef3456".into()],
            ..input("", "eu-west-1")
        }
        .validate()
        .unwrap();
        let p = plan(&ou, "T", &params, &ou.permission("1"), Some(&current), &[]);
        assert!(p.blockers[0].contains("permission model"), "{p:?}");
    }

    #[test]
    fn percentages_as_typed_default_when_empty_and_name_their_field_otherwise() {
        assert_eq!(
            parse_percentage("max-concurrent-percentage", "", "25"),
            Ok(None)
        );
        assert_eq!(
            parse_percentage("max-concurrent-percentage", " 50% ", "25"),
            Ok(Some(50))
        );
        let e = parse_percentage("failure-tolerance-percentage", "ten", "0").unwrap_err();
        assert_eq!(e.field, "failure-tolerance-percentage");
        assert_eq!(e.value, "ten");
        // In range is validate's to say: 0 concurrency and 101 tolerance are refused there.
        let mut i = input("111111111111", "eu-west-1");
        i.max_concurrent_percentage =
            parse_percentage("max-concurrent-percentage", "0", "25").unwrap();
        i.failure_tolerance_percentage =
            parse_percentage("failure-tolerance-percentage", "101", "0").unwrap();
        let fields: Vec<&str> = i.validate().unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["max-concurrent-percentage", "failure-tolerance-percentage"]
        );
    }

    #[test]
    fn the_read_grant_trusts_the_reading_account_with_the_reads_status_makes() {
        let g = read_grant("444444444444", "OrgRead", "210987654321", "aws-us-gov");
        assert_eq!(g.commands.len(), 2);
        assert!(g.commands[0].starts_with(
            "aws iam create-role --role-name OrgRead --assume-role-policy-document '"
        ));
        assert!(
            g.commands[0].contains(r#""AWS":"arn:aws-us-gov:iam::210987654321:root""#),
            "{}",
            g.commands[0]
        );
        assert!(g.commands[1].starts_with("aws iam put-role-policy --role-name OrgRead "));
        for action in READ_ACTIONS {
            assert!(
                g.commands[1].contains(action),
                "{action}: {}",
                g.commands[1]
            );
        }
        // The documents are JSON the AWS CLI takes as they are.
        let doc = |c: &str| -> serde_json::Value {
            let start = c.find('\'').unwrap() + 1;
            serde_json::from_str(&c[start..c.len() - 1]).unwrap()
        };
        assert_eq!(
            doc(&g.commands[0])["Statement"][0]["Action"],
            "sts:AssumeRole"
        );
        assert_eq!(doc(&g.commands[1])["Statement"][0]["Resource"], "*");
    }

    #[test]
    fn options_a_stack_set_cannot_carry_are_named() {
        let mut i = input("111111111111", "eu-west-1");
        assert!(crate::cfn::not_carried(&i.validate().unwrap().setup).is_empty());
        i.setup.cache.scan_on_push = true;
        i.setup.cache.repo_tags = vec!["team=platform".into()];
        i.setup.tags = vec!["cost=42".into()];
        i.setup.cache.pull_time_exclusions = vec!["arn:aws:iam::111111111111:role/scanner".into()];
        let fleet = i.validate().unwrap();
        let named: Vec<(WizardOption, String)> = crate::cfn::not_carried(&fleet.setup)
            .into_iter()
            .map(|n| (n.option, n.value))
            .collect();
        assert_eq!(
            named,
            [
                (WizardOption::ScanOnPush, "basic".to_string()),
                (WizardOption::RepoTags, "team=platform".to_string()),
                (WizardOption::Tags, "cost=42".to_string()),
                (
                    WizardOption::PullTimeExclusions,
                    "arn:aws:iam::111111111111:role/scanner".to_string()
                ),
            ]
        );
        assert_eq!(WizardOption::ScanOnPush.flag(), "--scan-on-push");
    }
}
