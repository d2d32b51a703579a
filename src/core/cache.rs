//! Cache settings: what the repositories the cache creates look like (a repository creation
//! template for the rule's prefix, applied for `PULL_THROUGH_CACHE`) and whether they are
//! scanned on push (one filter merged into the registry's scanning configuration). Validation,
//! desired state, the scanning merge and the plan rows; no I/O.
//!
//! Neither a creation template nor a scanning filter can carry tags, so who made them is read
//! from the template's description, which the tool writes and AWS keeps.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::model::{DesiredRole, ManagedBy, ObservedRole};
use super::plan::{Action, FieldChange, ResourceChange, ResourceKind};
use super::policy::{Principal, Statement};
use super::validate::{err, parse_tags, FieldError, Setup, MANAGED_BY_KEY, MANAGED_BY_VALUE};

/// What a user asks for, before validation (CLI flags or wizard fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSettingsInput {
    pub immutable_tags: bool,
    pub kms_key: Option<String>,
    pub expire_untagged_after: Option<String>,
    pub keep_last: Option<String>,
    pub repo_tags: Vec<String>,
    /// The policy file's name (for messages) and its content.
    pub repository_policy: Option<(String, String)>,
    pub scan_on_push: bool,
    pub scan: Option<String>,
    /// Tags that stay mutable under `immutable_tags` (wildcards such as `latest*`), so a
    /// pull-through cache keeps refreshing them while version tags stay pinned.
    pub mutable_tags: Vec<String>,
    /// Move images not pulled for this many days to ECR's archive storage class.
    pub archive_after: Option<String>,
    /// Expire archived images this many days after they were archived (at least 90).
    pub expire_archived_after: Option<String>,
    /// Principals (role or user ARNs: scanners, CI) whose pulls do not update an image's
    /// `lastRecordedPullTime` (ECR's pull-time-update exclusions, registry-wide per region).
    pub pull_time_exclusions: Vec<String>,
}

impl CacheSettingsInput {
    /// The fields given that make a template need a role (KMS, tags on creation), as
    /// (flag, value).
    pub fn needs_role_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        if let Some(k) = &self.kms_key {
            out.push(("kms-key", k.clone()));
        }
        if let Some(t) = self.repo_tags.first() {
            out.push(("repo-tag", t.clone()));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanType {
    Basic,
    Enhanced,
}

impl ScanType {
    pub fn api(&self) -> &'static str {
        match self {
            ScanType::Basic => "BASIC",
            ScanType::Enhanced => "ENHANCED",
        }
    }
}

/// Validated cache settings. `Default` is "none": ECR's defaults, no template, no scanning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheSettings {
    pub immutable_tags: bool,
    /// A KMS key ARN (never an alias: ECR's model refuses one); `None` is AES256.
    pub kms_key: Option<String>,
    pub expire_untagged_days: Option<u32>,
    pub keep_last: Option<u32>,
    pub repo_tags: BTreeMap<String, String>,
    /// Compact JSON of a validated repository policy.
    pub repository_policy: Option<String>,
    /// `Some` when the prefix's repositories are to be scanned on push.
    pub scan: Option<ScanType>,
    /// Tag-mutability exclusions (wildcard filters) of immutable tags.
    pub mutable_tags: Vec<String>,
    /// Lifecycle: archive images not pulled for this many days …
    pub archive_after_days: Option<u32>,
    /// … and expire them this many days after they were archived.
    pub expire_archived_days: Option<u32>,
    /// Pull-time-update exclusions: principal ARNs, sorted, without duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_time_exclusions: Vec<String>,
}

/// ECR bills an archived image for at least this many days, whatever happens to it sooner.
pub const ARCHIVE_MINIMUM_DAYS: u32 = 90;

impl CacheSettings {
    /// Whether the repositories the cache creates get anything but ECR's defaults.
    pub fn wants_template(&self) -> bool {
        self.immutable_tags
            || self.kms_key.is_some()
            || self.expire_untagged_days.is_some()
            || self.keep_last.is_some()
            || !self.repo_tags.is_empty()
            || self.repository_policy.is_some()
            || self.scan.is_some()
            || !self.mutable_tags.is_empty()
            || self.archive_after_days.is_some()
            || self.expire_archived_days.is_some()
            // The template records which exclusions the tool registered (they cannot be tagged).
            || !self.pull_time_exclusions.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        !self.wants_template()
    }
}

/// ECR's limit on a template's repository policy (characters).
const MAX_REPOSITORY_POLICY: usize = 10_240;

fn positive(
    field: &'static str,
    raw: &Option<String>,
    example: &str,
) -> Result<Option<u32>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(err(
            field,
            raw,
            "must be a whole number of at least 1",
            example,
        )),
    }
}

/// The service model's pattern for a creation template's `kmsKey`: a key ARN, never an alias
/// (the API reference: "The full ARN of the KMS key must be specified").
pub const KMS_KEY_PATTERN: &str = r"^arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-z0-9-]+$";

fn kms_key(raw: &str) -> Result<String, FieldError> {
    let v = raw.trim();
    let example = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let arn = regex_lite::Regex::new(KMS_KEY_PATTERN).expect("static regex");
    if arn.is_match(v) {
        return Ok(v.to_string());
    }
    let rule = if v.starts_with("alias/") || v.contains(":alias/") {
        // Resolving needs kms:DescribeKey and a KMS client; the one command is cheaper to say.
        format!(
            "must be the key's ARN: ECR does not accept an alias for a creation template. Get the ARN with `aws kms describe-key --key-id {} --query KeyMetadata.Arn --output text`",
            v.rsplit(':').next().unwrap_or(v)
        )
    } else {
        "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, the ID in lower case)".into()
    };
    Err(err("kms-key", raw, rule, example))
}

/// The region named in a key ARN.
pub fn kms_key_region(key: &str) -> Option<&str> {
    key.split(':').nth(3)
}

/// ECR needs the key in the repository's region ("The key must exist in the same Region as the
/// repository").
pub fn kms_key_in_region(key: &str, region: &str) -> Result<(), FieldError> {
    match kms_key_region(key) {
        Some(r) if r != region => Err(err(
            "kms-key",
            key,
            format!("must be a key in {region}, the region of the repositories (ECR refuses a key from another region), got one in {r}"),
            &format!("a key in {region}: create one there, or a replica of a multi-Region key (mrk-…), and pass its ARN"),
        )),
        _ => Ok(()),
    }
}

/// A repository policy must be JSON and shaped like an IAM resource policy: a `Statement` (one
/// or a list) whose entries each have `Effect` Allow or Deny, an action and a principal.
/// ECR's model for a pull-time-update exclusion's `principalArn` (at most 200 characters).
pub const PRINCIPAL_ARN_PATTERN: &str =
    r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$";
/// ECR's quota of pull-time-update exclusions per registry (per region).
pub const MAX_PULL_TIME_EXCLUSIONS: usize = 100;

fn pull_time_exclusions(raw: &[String]) -> Result<Vec<String>, Vec<FieldError>> {
    let pattern = regex_lite::Regex::new(PRINCIPAL_ARN_PATTERN).expect("static regex");
    let mut out = std::collections::BTreeSet::new();
    let mut errors = vec![];
    for arn in raw.iter().map(|a| a.trim()) {
        if arn.len() <= 200 && pattern.is_match(arn) {
            out.insert(arn.to_string());
        } else {
            let rule = if arn.contains(":assumed-role/") || arn.starts_with("arn:aws:sts") {
                "must be the IAM role's ARN (arn:aws:iam::ACCOUNT:role/NAME), not a session's: ECR matches the role a session assumed"
            } else {
                "must be an IAM role or user ARN of at most 200 characters (ECR's pattern)"
            };
            errors.push(err(
                "pull-time-exclusion",
                arn,
                rule,
                "arn:aws:iam::123456789012:role/image-scanner",
            ));
        }
    }
    if out.len() > MAX_PULL_TIME_EXCLUSIONS {
        errors.push(err(
            "pull-time-exclusion",
            &format!("{} principals", out.len()),
            format!(
                "takes at most {MAX_PULL_TIME_EXCLUSIONS} principals (ECR's quota per registry)"
            ),
            "arn:aws:iam::123456789012:role/image-scanner",
        ));
    }
    if errors.is_empty() {
        Ok(out.into_iter().collect())
    } else {
        Err(errors)
    }
}

pub fn repository_policy(name: &str, content: &str) -> Result<String, FieldError> {
    let example = "repo-policy.json with {\"Version\":\"2012-10-17\",\"Statement\":[…]}";
    let fail = |rule: String| err("repository-policy", name, rule, example);
    if content.len() > MAX_REPOSITORY_POLICY {
        return Err(fail(format!(
            "must be at most {MAX_REPOSITORY_POLICY} characters (ECR's limit), got {}",
            content.len()
        )));
    }
    let doc: Value =
        serde_json::from_str(content).map_err(|e| fail(format!("is not valid JSON ({e})")))?;
    let Some(obj) = doc.as_object() else {
        return Err(fail("must be a JSON object with a Statement".into()));
    };
    if let Some(v) = obj.get("Version") {
        if v != "2012-10-17" && v != "2008-10-17" {
            return Err(fail(format!("Version must be 2012-10-17, got {v}")));
        }
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return Err(fail("must have a non-empty Statement".into())),
    };
    for (i, st) in statements.iter().enumerate() {
        let n = i + 1;
        match st.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            other => {
                return Err(fail(format!(
                    "statement {n}: Effect must be Allow or Deny, got {}",
                    other.unwrap_or("nothing")
                )))
            }
        }
        if st.get("Action").is_none() && st.get("NotAction").is_none() {
            return Err(fail(format!("statement {n}: has no Action")));
        }
        if st.get("Principal").is_none() && st.get("NotPrincipal").is_none() {
            return Err(fail(format!(
                "statement {n}: has no Principal (a repository policy says who it applies to)"
            )));
        }
    }
    Ok(doc.to_string())
}

impl CacheSettingsInput {
    /// Every field's error at once.
    pub fn validate(&self) -> Result<CacheSettings, Vec<FieldError>> {
        let mut errors = vec![];
        let mut out = CacheSettings {
            immutable_tags: self.immutable_tags,
            ..Default::default()
        };
        if let Some(k) = &self.kms_key {
            match kms_key(k) {
                Ok(k) => out.kms_key = Some(k),
                Err(e) => errors.push(e),
            }
        }
        match positive("expire-untagged-after", &self.expire_untagged_after, "14") {
            Ok(v) => out.expire_untagged_days = v,
            Err(e) => errors.push(e),
        }
        match positive("keep-last", &self.keep_last, "100") {
            Ok(v) => out.keep_last = v,
            Err(e) => errors.push(e),
        }
        // ECR's model: 1-5 WILDCARD filters of [0-9a-zA-Z._*-]{1,128}; only with immutable tags.
        let filter = regex_lite::Regex::new(r"^[0-9a-zA-Z._*-]{1,128}$").expect("static regex");
        for t in &self.mutable_tags {
            if !filter.is_match(t) {
                errors.push(err(
                    "mutable-tags",
                    t,
                    "must be a tag wildcard of 1-128 letters, digits and . _ - * (ECR's pattern)",
                    "latest*",
                ));
            }
        }
        if self.mutable_tags.len() > 5 {
            errors.push(err(
                "mutable-tags",
                &self.mutable_tags.join(","),
                "takes at most 5 patterns (ECR's limit)",
                "latest*,nightly*",
            ));
        }
        if !self.mutable_tags.is_empty() && !self.immutable_tags {
            errors.push(err(
                "mutable-tags",
                &self.mutable_tags.join(","),
                "excludes tags from immutability, so it needs ⟦immutable-tags⟧",
                "latest*",
            ));
        }
        out.mutable_tags = self.mutable_tags.clone();
        match positive("archive-after", &self.archive_after, "60") {
            Ok(v) => out.archive_after_days = v,
            Err(e) => errors.push(e),
        }
        match positive("expire-archived-after", &self.expire_archived_after, "180") {
            Ok(Some(d)) if d < ARCHIVE_MINIMUM_DAYS => errors.push(err(
                "expire-archived-after",
                &d.to_string(),
                format!("must be at least {ARCHIVE_MINIMUM_DAYS}: ECR bills an archived image for {ARCHIVE_MINIMUM_DAYS} days even when it is deleted sooner, so expiring earlier saves nothing"),
                "180",
            )),
            Ok(v) => out.expire_archived_days = v,
            Err(e) => errors.push(e),
        }
        match pull_time_exclusions(&self.pull_time_exclusions) {
            Ok(v) => out.pull_time_exclusions = v,
            Err(e) => errors.extend(e),
        }
        // parse_tags allows 48, within ECR's 50 with the tool's own tag.
        match parse_tags("repo-tag", &self.repo_tags) {
            Ok(t) => out.repo_tags = t,
            Err(e) => errors.push(e),
        }
        if let Some((name, content)) = &self.repository_policy {
            match repository_policy(name, content) {
                Ok(p) => out.repository_policy = Some(p),
                Err(e) => errors.push(e),
            }
        }
        let scan = match self.scan.as_deref().map(str::trim) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("basic") => Some(ScanType::Basic),
            Some(s) if s.eq_ignore_ascii_case("enhanced") => Some(ScanType::Enhanced),
            Some(s) => {
                errors.push(err("scan", s, "must be basic or enhanced", "enhanced"));
                None
            }
        };
        // `--scan TYPE` alone means scanning is wanted.
        out.scan = match (self.scan_on_push, scan) {
            (_, Some(t)) => Some(t),
            (true, None) => Some(ScanType::Basic),
            (false, None) => None,
        };
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// A repository creation template as ECR describes it (and as the tool wants it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreationTemplate {
    pub prefix: String,
    pub description: String,
    /// MUTABLE, IMMUTABLE or IMMUTABLE_WITH_EXCLUSION (…_WITH_EXCLUSION: `mutability_exclusions`).
    pub image_tag_mutability: String,
    /// The WILDCARD filters of tags excluded from the mutability setting.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mutability_exclusions: Vec<String>,
    /// AES256 or KMS.
    pub encryption_type: String,
    pub kms_key: Option<String>,
    pub resource_tags: BTreeMap<String, String>,
    pub lifecycle_policy: Option<Value>,
    pub repository_policy: Option<Value>,
    pub applied_for: Vec<String>,
    pub custom_role_arn: Option<String>,
    /// When ECR created it (read only; `None` for a template the tool wants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a tool-made template of a rule without a role records that rule (rules cannot be
/// tagged): by its creation time, so the record proves that very rule and no later one.
pub const RULE_RECORD: &str = "; records rule created ";
/// The record's time before the rule exists; apply fills in the created rule's.
pub const RULE_CREATED_PENDING: &str = "(known after apply)";

/// A rule's creation time as the template records it (to the second).
pub fn rule_stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Written at the start of the description of every template the tool makes.
pub const TEMPLATE_MARKER: &str = "Managed by echo-onboard";
/// How the templates a stack makes begin (followed by the stack's name and a colon).
pub const STACK_MARKER: &str = "Managed by echo-onboard stack ";
/// Part of the description when the tool added the prefix's scanning filter (so teardown
/// removes that filter and no one else's).
pub const SCAN_MARKER: &str = "scan-on-push filter added by echo-onboard";

/// How a tool-made template records the pull-time-update exclusions its prefix asks for
/// (exclusions cannot be tagged): a short digest of each principal's ARN, `+` before those the
/// tool registered, so teardown deregisters those and no one else's.
pub const EXCLUSION_RECORD: &str = "; pull-time exclusions ";
/// ECR's limit on a template's description, which holds the tool's records.
pub const MAX_TEMPLATE_DESCRIPTION: usize = 256;

/// The digest a template records for a principal ARN (8 hex digits of its SHA-256).
pub fn exclusion_digest(arn: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(arn.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl CreationTemplate {
    /// Records the exclusions the prefix asks for, as (principal ARN, registered by the tool).
    /// The record goes before the rule's, which apply rewrites last.
    pub fn record_exclusions(&mut self, entries: &[(String, bool)]) {
        self.drop_exclusion_record();
        if entries.is_empty() {
            return;
        }
        let record = format!(
            "{EXCLUSION_RECORD}{}",
            entries
                .iter()
                .map(|(arn, ours)| format!(
                    "{}{}",
                    if *ours { "+" } else { "" },
                    exclusion_digest(arn)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
        match self.description.find(RULE_RECORD) {
            Some(at) => self.description.insert_str(at, &record),
            None => self.description.push_str(&record),
        }
    }
    fn drop_exclusion_record(&mut self) {
        if let Some(at) = self.description.find(EXCLUSION_RECORD) {
            let rest = &self.description[at + 1..];
            let end = rest
                .find(';')
                .map(|i| at + 1 + i)
                .unwrap_or(self.description.len());
            self.description.replace_range(at..end, "");
        }
    }
    /// The exclusions a tool-made template records, as (digest, registered by the tool).
    pub fn recorded_exclusions(&self) -> Vec<(String, bool)> {
        if !self.managed_by().is_ours() {
            return vec![];
        }
        let Some((_, rest)) = self.description.split_once(EXCLUSION_RECORD) else {
            return vec![];
        };
        rest.split(';')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(|t| match t.strip_prefix('+') {
                Some(d) => (d.to_string(), true),
                None => (t.to_string(), false),
            })
            .collect()
    }
    /// Whether this tool-made template records that the tool registered `arn`'s exclusion.
    pub fn registered_exclusion(&self, arn: &str) -> bool {
        let d = exclusion_digest(arn);
        self.recorded_exclusions()
            .iter()
            .any(|(h, ours)| *ours && *h == d)
    }
    /// Whether this tool-made template asks for `arn`'s exclusion at all.
    pub fn wants_exclusion(&self, arn: &str) -> bool {
        let d = exclusion_digest(arn);
        self.recorded_exclusions().iter().any(|(h, _)| *h == d)
    }

    pub fn managed_by(&self) -> ManagedBy {
        // A stack's template names the stack: "Managed by echo-onboard stack NAME: …".
        if let Some(stack) = self
            .description
            .strip_prefix(STACK_MARKER)
            .and_then(|rest| rest.split(':').next())
            .filter(|name| !name.is_empty() && !name.contains(' '))
        {
            ManagedBy::CloudFormation(stack.to_string())
        } else if self.description.starts_with(TEMPLATE_MARKER) {
            ManagedBy::EchoOnboard
        } else {
            ManagedBy::Other
        }
    }
    /// Records the rule this template marks as the tool's (`None`: the rule is made by this
    /// apply, which fills in its creation time).
    pub fn record_rule(&mut self, created: Option<chrono::DateTime<chrono::Utc>>) {
        if let Some(at) = self.description.find(RULE_RECORD) {
            self.description.truncate(at);
        }
        self.description.push_str(RULE_RECORD);
        match created {
            Some(at) => self.description.push_str(&rule_stamp(at)),
            None => self.description.push_str(RULE_CREATED_PENDING),
        }
    }
    /// The rule creation time this template records, if it records one.
    pub fn recorded_rule_created(&self) -> Option<&str> {
        let (_, rest) = self.description.split_once(RULE_RECORD)?;
        let stamp = rest.split(';').next()?.trim();
        (stamp != RULE_CREATED_PENDING && !stamp.is_empty()).then_some(stamp)
    }
    /// Whether this (tool-made) template records that the tool added the scanning filter.
    pub fn scan_filter_ours(&self) -> bool {
        self.managed_by().is_ours() && self.description.contains(SCAN_MARKER)
    }
    /// Whether a repository has this template's tag mutability and encryption. A key given as
    /// an alias cannot be compared with the key ARN ECR reports, so only its type is.
    pub fn matches(&self, repo: &super::model::RepoSettings) -> bool {
        let key_matches = match (&self.kms_key, &repo.kms_key) {
            (Some(want), Some(have)) if want.contains(":key/") => want == have,
            _ => true,
        };
        repo.image_tag_mutability == self.image_tag_mutability
            && repo.encryption_type == self.encryption_type
            && key_matches
    }

    /// "immutable tags, KMS alias/x, expire untagged after 14 days" for status lines.
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.image_tag_mutability.starts_with("IMMUTABLE") {
            "immutable tags".to_string()
        } else {
            "mutable tags".to_string()
        }];
        parts.push(match &self.kms_key {
            Some(k) => format!("KMS {k}"),
            None => self.encryption_type.clone(),
        });
        if let Some(l) = &self.lifecycle_policy {
            parts.push(lifecycle_summary(l));
        }
        if self.repository_policy.is_some() {
            parts.push("repository policy".into());
        }
        parts.join(", ")
    }
}

/// The lifecycle policy for the settings: expire untagged images after N days, keep the last
/// N images. ECR wants the `any` rule last (highest `rulePriority`).
pub fn lifecycle_policy(s: &CacheSettings) -> Option<Value> {
    let mut rules = vec![];
    if let Some(days) = s.expire_untagged_days {
        rules.push(json!({
            "rulePriority": rules.len() + 1,
            "description": format!("Expire untagged images after {days} days"),
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
            "action": {"type": "expire"}
        }));
    }
    // Rules with tagStatus "any" come after the others, as ECR requires.
    if let Some(days) = s.archive_after_days {
        rules.push(json!({
            "rulePriority": rules.len() + 1,
            "description": format!("Archive images not pulled for {days} days"),
            "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": days},
            "action": {"type": "transition", "targetStorageClass": "archive"}
        }));
    }
    if let Some(days) = s.expire_archived_days {
        rules.push(json!({
            "rulePriority": rules.len() + 1,
            "description": format!("Expire images {days} days after they were archived"),
            "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": days},
            "action": {"type": "expire"}
        }));
    }
    if let Some(n) = s.keep_last {
        rules.push(json!({
            "rulePriority": rules.len() + 1,
            "description": format!("Keep the last {n} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": n},
            "action": {"type": "expire"}
        }));
    }
    (!rules.is_empty()).then(|| json!({ "rules": rules }))
}

/// What archiving costs, for the plan: said whenever a template's lifecycle archives.
pub fn archive_note(policy: &Value) -> Option<String> {
    let archives = policy["rules"]
        .as_array()?
        .iter()
        .any(|r| r["action"]["type"] == "transition");
    archives.then(|| format!(
        "archiving: images moved to ECR's archive storage class are billed for at least {ARCHIVE_MINIMUM_DAYS} days of archive storage, even if restored or deleted sooner, and a pull of an archived image answers 404 until it is restored (`aws ecr update-image-storage-class --target-storage-class STANDARD`)"
    ))
}

/// A lifecycle policy in words, whoever wrote it.
pub fn lifecycle_summary(policy: &Value) -> String {
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        return "lifecycle policy (no rules)".into();
    }
    rules
        .iter()
        .map(|r| {
            let sel = &r["selection"];
            let status = sel["tagStatus"].as_str().unwrap_or("any");
            let n = sel["countNumber"].as_u64().unwrap_or(0);
            match sel["countType"].as_str() {
                Some("sinceImagePushed") => format!("expire {status} after {n} days"),
                Some("sinceImagePulled") if r["action"]["type"] == "transition" => {
                    format!("archive when not pulled for {n} days")
                }
                Some("sinceImageTransitioned") => format!("expire {n} days after archiving"),
                Some("imageCountMoreThan") if status == "any" => format!("keep last {n}"),
                Some("imageCountMoreThan") => format!("keep last {n} {status}"),
                _ => "lifecycle rule".into(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The template the tool wants for `prefix`. `scan_ours` says whether the description records
/// that the tool added the scanning filter.
pub fn desired_template(
    prefix: &str,
    s: &CacheSettings,
    role_arn: Option<&str>,
    scan_ours: bool,
) -> CreationTemplate {
    let mut tags = s.repo_tags.clone();
    // Tags on creation need a role for ECR to assume; a rule without one (any upstream
    // but Echo) gets a template without tags, which needs none.
    if role_arn.is_some() {
        tags.insert(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into());
    }
    let mut description =
        format!("{TEMPLATE_MARKER}: repositories the cache creates under {prefix}");
    if scan_ours {
        description.push_str(&format!("; {SCAN_MARKER}"));
    }
    CreationTemplate {
        prefix: prefix.to_string(),
        description,
        image_tag_mutability: match (s.immutable_tags, s.mutable_tags.is_empty()) {
            (true, false) => "IMMUTABLE_WITH_EXCLUSION",
            (true, true) => "IMMUTABLE",
            _ => "MUTABLE",
        }
        .into(),
        mutability_exclusions: s.mutable_tags.clone(),
        encryption_type: if s.kms_key.is_some() { "KMS" } else { "AES256" }.into(),
        kms_key: s.kms_key.clone(),
        resource_tags: tags,
        lifecycle_policy: lifecycle_policy(s),
        repository_policy: s
            .repository_policy
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        applied_for: vec!["PULL_THROUGH_CACHE".into()],
        custom_role_arn: role_arn.map(str::to_string),
        created_at: None,
    }
}

/// The service that creates repositories from a template (and assumes its role).
pub const ECR_SERVICE: &str = "ecr.amazonaws.com";
pub const TEMPLATE_SID: &str = "CreateCachedRepositories";
pub const KMS_SID: &str = "UseKmsKeysThroughEcr";

/// The account named in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/…`).
pub fn kms_key_account(key: &str) -> Option<&str> {
    key.split(':').nth(4)
}

fn kms_statement(partition: &str, accounts: &[String]) -> Statement {
    Statement {
        sid: Some(KMS_SID.into()),
        effect: "Allow".into(),
        principal: None,
        action: vec![
            "kms:CreateGrant".into(),
            "kms:DescribeKey".into(),
            "kms:RetireGrant".into(),
        ],
        resource: Some(
            accounts
                .iter()
                .map(|a| format!("arn:{partition}:kms:*:{a}:key/*"))
                .collect(),
        ),
        // Only through ECR: the role cannot use the keys for anything else.
        condition: Some(json!({"StringLike": {"kms:ViaService": "ecr.*.amazonaws.com"}})),
    }
}

fn statements_with_sid<'a>(doc: &'a Value, sid: &str) -> Vec<&'a Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().filter(|s| s["Sid"] == sid).collect(),
        s @ Value::Object(_) if s["Sid"] == sid => vec![s],
        _ => vec![],
    }
}

/// Lets ECR use the role a template names to create repositories: trust for
/// `ecr.amazonaws.com`; `ecr:CreateRepository` and `ecr:TagResource` on the prefix's
/// repositories (every region, like the rest of the policy); KMS grants only through ECR when
/// a key is set. What the role already grants other regions' templates (read from
/// `observed`) is kept, so setting up one region never weakens another.
pub fn extend_role(
    role: &mut DesiredRole,
    setup: &Setup,
    own_account: &str,
    observed: Option<&ObservedRole>,
) {
    let partition = setup.region.partition();
    let observed_policy = observed.and_then(|r| r.inline_policies.get(&role.policy_name));
    let had = |sid: &str| observed_policy.is_some_and(|p| !statements_with_sid(p, sid).is_empty());
    let wanted = setup.cache.wants_template();
    if !wanted && !had(TEMPLATE_SID) {
        return;
    }
    if !role.trust.statement.iter().any(|s| {
        s.principal
            .as_ref()
            .is_some_and(|p| p.service == ECR_SERVICE)
    }) {
        role.trust.statement.push(Statement {
            sid: None,
            effect: "Allow".into(),
            principal: Some(Principal {
                service: ECR_SERVICE.into(),
            }),
            action: vec!["sts:AssumeRole".into()],
            resource: None,
            condition: None,
        });
    }
    let statements = &mut role.policy.statement;
    if !statements
        .iter()
        .any(|s| s.sid.as_deref() == Some(TEMPLATE_SID))
    {
        statements.push(Statement {
            sid: Some(TEMPLATE_SID.into()),
            effect: "Allow".into(),
            principal: None,
            action: vec!["ecr:CreateRepository".into(), "ecr:TagResource".into()],
            resource: Some(vec![super::policy::cached_repositories_arn(
                setup,
                own_account,
            )]),
            condition: None,
        });
    }
    let mut accounts: Vec<String> = observed_policy
        .map(|p| statements_with_sid(p, KMS_SID))
        .unwrap_or_default()
        .iter()
        .flat_map(|s| match &s["Resource"] {
            Value::String(r) => vec![r.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            _ => vec![],
        })
        .filter_map(|r| r.split(':').nth(4).map(String::from))
        .collect();
    if let Some(k) = setup.cache.kms_key.as_deref().filter(|_| wanted) {
        accounts.push(kms_key_account(k).unwrap_or(own_account).to_string());
    }
    accounts.sort();
    accounts.dedup();
    statements.retain(|s| s.sid.as_deref() != Some(KMS_SID));
    if !accounts.is_empty() {
        statements.push(kms_statement(partition, &accounts));
    }
}

/// Fits the desired state to what the account holds: the shared role keeps what other regions'
/// templates need, and the template records the scanning filter as the tool's only when the
/// tool is the one adding it (a filter someone else set stays theirs, and teardown leaves it).
pub fn settle(
    desired: &mut super::model::Desired,
    setup: &Setup,
    observed: &super::model::Observed,
) {
    if let Some(role) = &mut desired.role {
        extend_role(
            role,
            setup,
            &observed.identity.account,
            observed.role.as_ref(),
        );
    }
    if desired.template.is_none() {
        return;
    }
    let prefix = &desired.rule.prefix;
    let filter = scan_filter(prefix);
    let already = observed
        .cache
        .scanning
        .as_ref()
        .is_some_and(|c| c.has_filter(SCAN_ON_PUSH, &filter));
    let recorded = observed
        .cache
        .template(prefix)
        .is_some_and(|t| t.scan_filter_ours());
    let ours = desired.scan.is_some() && (recorded || !already);
    let mut template = desired_template(
        prefix,
        &setup.cache,
        desired.role.as_ref().map(|r| r.arn.as_str()),
        ours,
    );
    let wanted = &setup.cache.pull_time_exclusions;
    if !wanted.is_empty() {
        let present = observed
            .cache
            .pull_time_exclusions
            .as_deref()
            .unwrap_or_default();
        let current = observed.cache.template(prefix);
        let entries: Vec<(String, bool)> = wanted
            .iter()
            .map(|arn| {
                let ours =
                    current.is_some_and(|t| t.registered_exclusion(arn)) || !present.contains(arn);
                (arn.clone(), ours)
            })
            .collect();
        template.record_exclusions(&entries);
    }
    if desired.role.is_none() {
        // The rule this template records: the existing one when it is kept as it is, else
        // the one this apply creates (a replaced rule is a new rule).
        let kept = observed.rule(prefix).filter(|r| {
            r.upstream_registry == desired.rule.upstream_registry
                && r.upstream_url == desired.rule.upstream_url
                && r.upstream_prefix == desired.rule.upstream_prefix
        });
        template.record_rule(kept.and_then(|r| r.created_at));
    }
    desired.template = Some(template);
}

/// The scanning filter that covers a prefix's repositories.
pub fn scan_filter(prefix: &str) -> String {
    if prefix == super::validate::ROOT {
        "*".into()
    } else {
        format!("{prefix}/*")
    }
}

pub const SCAN_ON_PUSH: &str = "SCAN_ON_PUSH";

/// A registry's scanning configuration: scan type and rules of wildcard filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ScanningConfig {
    /// BASIC or ENHANCED.
    pub scan_type: String,
    pub rules: Vec<ScanRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRule {
    /// SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL.
    pub frequency: String,
    pub filters: Vec<String>,
}

/// ECR's wildcard filter: `*` matches any run of characters.
pub fn wildcard_match(filter: &str, name: &str) -> bool {
    let parts: Vec<&str> = filter.split('*').collect();
    if parts.len() == 1 {
        return filter == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl ScanningConfig {
    pub fn has_filter(&self, frequency: &str, filter: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.frequency == frequency && r.filters.iter().any(|f| f == filter))
    }
    /// How a repository is scanned automatically, if it is (`SCAN_ON_PUSH`, `CONTINUOUS_SCAN`).
    pub fn coverage(&self, repository: &str) -> Option<&str> {
        self.rules
            .iter()
            .filter(|r| r.frequency != "MANUAL")
            .find(|r| r.filters.iter().any(|f| wildcard_match(f, repository)))
            .map(|r| r.frequency.as_str())
    }
    /// This configuration with `filter` added to the scan-on-push rule, everyone else's rules
    /// kept. Enhanced scanning is switched on when asked, never off.
    pub fn with_filter(&self, filter: &str, scan: &ScanType) -> Self {
        let mut out = self.clone();
        if *scan == ScanType::Enhanced || out.scan_type.is_empty() {
            out.scan_type = scan.api().into();
        }
        match out.rules.iter_mut().find(|r| r.frequency == SCAN_ON_PUSH) {
            Some(r) if r.filters.iter().any(|f| f == filter) => {}
            Some(r) => r.filters.push(filter.to_string()),
            None => out.rules.push(ScanRule {
                frequency: SCAN_ON_PUSH.into(),
                filters: vec![filter.to_string()],
            }),
        }
        out
    }
    /// This configuration without `filter` in the scan-on-push rule (the rule goes when it
    /// has no filter left); the scan type and every other filter are kept.
    pub fn without_filter(&self, filter: &str) -> Self {
        let mut out = self.clone();
        for r in out.rules.iter_mut().filter(|r| r.frequency == SCAN_ON_PUSH) {
            r.filters.retain(|f| f != filter);
        }
        out.rules.retain(|r| !r.filters.is_empty());
        out
    }
}

/// What a region holds of cache settings, when read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CacheObserved {
    pub templates: Vec<CreationTemplate>,
    /// `None` when templates and scanning were not read (they are not for every view).
    pub scanning: Option<ScanningConfig>,
    /// The registry's pull-time-update exclusions (principal ARNs); `None` when not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_time_exclusions: Option<Vec<String>>,
    /// Why the exclusions could not be read (the rest of the cache settings may have been).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusions_unread: Option<String>,
    /// Why they could not be read, when a view went on without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

impl CacheObserved {
    pub fn read(&self) -> bool {
        self.scanning.is_some()
    }
    pub fn template(&self, prefix: &str) -> Option<&CreationTemplate> {
        self.templates.iter().find(|t| t.prefix == prefix)
    }
    /// How the prefix's repositories are scanned automatically (`SCAN_ON_PUSH`,
    /// `CONTINUOUS_SCAN`, or `none`); `None` when scanning was not read.
    pub fn scanning_of(&self, prefix: &str) -> Option<&str> {
        let sample = scan_filter(prefix).replace('*', "any");
        self.scanning
            .as_ref()
            .map(|c| c.coverage(&sample).unwrap_or("none"))
    }
}

/// A scanning frequency from [`CacheObserved::scanning_of`] in words.
pub fn scanning_words(frequency: Option<&str>) -> &'static str {
    match frequency {
        Some(SCAN_ON_PUSH) => "on push",
        Some("CONTINUOUS_SCAN") => "continuous",
        _ => "not automatic",
    }
}

fn field(name: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        field: name.to_string(),
        before,
        after,
    }
}

/// The template's fields as plan values (the description is the tool's own bookkeeping, so it
/// is compared but shown only when it differs).
fn template_fields(t: &CreationTemplate) -> Vec<(&'static str, Value)> {
    vec![
        ("image_tag_mutability", json!(t.image_tag_mutability)),
        ("mutable_tags", json!(t.mutability_exclusions)),
        (
            "encryption",
            json!(match &t.kms_key {
                Some(k) => format!("KMS {k}"),
                None => t.encryption_type.clone(),
            }),
        ),
        ("resource_tags", json!(t.resource_tags)),
        (
            "lifecycle_policy",
            t.lifecycle_policy.clone().unwrap_or(Value::Null),
        ),
        (
            "repository_policy",
            t.repository_policy.clone().unwrap_or(Value::Null),
        ),
        ("applied_for", json!(t.applied_for)),
        ("custom_role_arn", json!(t.custom_role_arn)),
        ("description", json!(t.description)),
    ]
}

fn same_value(name: &str, a: &Value, b: &Value) -> bool {
    if name == "repository_policy" && !a.is_null() && !b.is_null() {
        return super::policy::equivalent(a, b);
    }
    a == b
}

/// The plan row for the prefix's creation template.
pub fn plan_template(
    desired: &CreationTemplate,
    observed: Option<&CreationTemplate>,
    adopt: bool,
    blockers: &mut Vec<String>,
) -> ResourceChange {
    let wanted = template_fields(desired);
    let Some(current) = observed else {
        return ResourceChange {
            resource: ResourceKind::RepositoryCreationTemplate,
            name: desired.prefix.clone(),
            action: Action::Create,
            reason: Some("applies to repositories the cache creates from now on".into()),
            fields: wanted
                .into_iter()
                // No exclusions is the usual case: not a row of its own.
                .filter(|(n, v)| {
                    let no_exclusions =
                        *n == "mutable_tags" && v.as_array().is_some_and(Vec::is_empty);
                    !(v.is_null() || no_exclusions)
                })
                .map(|(n, v)| field(n, Value::Null, v))
                .collect(),
        };
    };
    let before = template_fields(current);
    let fields: Vec<FieldChange> = wanted
        .into_iter()
        .zip(before)
        .filter(|((n, a), (_, b))| !same_value(n, a, b))
        .map(|((n, a), (_, b))| field(n, b, a))
        .collect();
    let ours = current.managed_by().is_ours();
    if !fields.is_empty() && !ours && !adopt {
        blockers.push(format!(
            "a repository creation template for prefix {:?} already exists and was not made by \
             echo-onboard ({}): ⟦pass adopt⟧ to let echo-onboard change it, or leave the cache \
             settings out to leave it as it is",
            desired.prefix,
            current.summary()
        ));
    }
    ResourceChange {
        resource: ResourceKind::RepositoryCreationTemplate,
        name: desired.prefix.clone(),
        action: if fields.is_empty() {
            Action::NoOp
        } else {
            Action::Update
        },
        reason: (!fields.is_empty()).then(|| {
            "changes apply to repositories created from now on; existing ones keep their settings"
                .into()
        }),
        fields,
    }
}

fn scan_value(c: &ScanningConfig) -> Value {
    json!({
        "scan_type": c.scan_type,
        "rules": c.rules.iter().map(|r| json!({"frequency": r.frequency, "filters": r.filters})).collect::<Vec<_>>(),
    })
}

/// The plan row for the registry's scanning configuration after merging in `filter`.
pub fn plan_scanning(
    filter: &str,
    scan: &ScanType,
    observed: &ScanningConfig,
    warnings: &mut Vec<String>,
) -> ResourceChange {
    let after = observed.with_filter(filter, scan);
    let others: usize = observed
        .rules
        .iter()
        .flat_map(|r| r.filters.iter())
        .filter(|f| *f != filter)
        .count();
    if after.scan_type != observed.scan_type && after.scan_type == "ENHANCED" {
        warnings.push(
            "⟦scan⟧ enhanced switches the whole registry to Amazon Inspector enhanced scanning: \
             a registry-wide cost change (Inspector bills every image it scans, in every \
             repository the filters cover)"
                .into(),
        );
    }
    let changed = after != *observed;
    ResourceChange {
        resource: ResourceKind::RegistryScanningFilter,
        name: filter.to_string(),
        action: if changed {
            Action::Update
        } else {
            Action::NoOp
        },
        reason: Some(if others == 0 {
            "registry-wide setting; no other filters".into()
        } else {
            format!("merged: the {others} other filter(s) in the registry are kept")
        }),
        fields: if changed {
            vec![field(
                "scanning_configuration",
                scan_value(observed),
                scan_value(&after),
            )]
        } else {
            vec![]
        },
    }
}

/// Another tool-made template in the region that asks for `arn`'s exclusion too.
fn also_wanted_by<'a>(cache: &'a CacheObserved, prefix: &str, arn: &str) -> Option<&'a str> {
    cache
        .templates
        .iter()
        .find(|t| t.prefix != prefix && t.wants_exclusion(arn))
        .map(|t| t.prefix.as_str())
}

fn exclusion_row(arn: &str, action: Action, reason: String) -> ResourceChange {
    let (before, after) = match action {
        Action::Create => (Value::Null, json!(arn)),
        Action::Delete => (json!(arn), Value::Null),
        _ => (json!(arn), json!(arn)),
    };
    ResourceChange {
        resource: ResourceKind::PullTimeExclusion,
        name: arn.to_string(),
        action,
        reason: Some(reason),
        fields: if action == Action::NoOp {
            vec![]
        } else {
            vec![field("principal_arn", before, after)]
        },
    }
}

/// Plan rows for the prefix's pull-time-update exclusions: register the principals asked for
/// that are not excluded yet, keep those that are (someone else's stay theirs), deregister
/// those the tool registered for this prefix that are no longer asked for (unless another
/// prefix asks for them).
pub fn plan_exclusions(
    prefix: &str,
    wanted: &[String],
    desired_template: Option<&CreationTemplate>,
    cache: &CacheObserved,
    blockers: &mut Vec<String>,
) -> Vec<ResourceChange> {
    let current = cache.template(prefix);
    let recorded: Vec<(String, bool)> =
        current.map(|t| t.recorded_exclusions()).unwrap_or_default();
    if wanted.is_empty() && !recorded.iter().any(|(_, ours)| *ours) {
        return vec![];
    }
    let Some(present) = cache.pull_time_exclusions.as_deref() else {
        blockers.push(format!(
            "the registry's pull-time-update exclusions could not be read ({}): run the plan again once ecr:ListPullTimeUpdateExclusions is allowed",
            cache.exclusions_unread.as_deref().unwrap_or("not read")
        ));
        return vec![];
    };
    let mut rows = vec![];
    for arn in wanted {
        rows.push(if present.contains(arn) {
            let why = if current.is_some_and(|t| t.registered_exclusion(arn)) {
                "already excluded (registered by echo-onboard)".to_string()
            } else {
                "already excluded, registered outside echo-onboard: kept at teardown".to_string()
            };
            exclusion_row(arn, Action::NoOp, why)
        } else {
            exclusion_row(
                arn,
                Action::Create,
                "this principal's pulls stop updating lastRecordedPullTime (registry-wide in this region)".into(),
            )
        });
    }
    for (digest, _) in recorded.iter().filter(|(_, ours)| *ours) {
        if wanted.iter().any(|a| exclusion_digest(a) == *digest) {
            continue;
        }
        let Some(arn) = present.iter().find(|a| exclusion_digest(a) == *digest) else {
            continue;
        };
        rows.push(match also_wanted_by(cache, prefix, arn) {
            Some(other) => exclusion_row(
                arn,
                Action::NoOp,
                format!("no longer asked for here, kept: prefix {other} asks for it too"),
            ),
            None => exclusion_row(
                arn,
                Action::Delete,
                "no longer asked for; echo-onboard registered it".into(),
            ),
        });
    }
    let count = |a: Action| rows.iter().filter(|r| r.action == a).count();
    let after = present.len() + count(Action::Create) - count(Action::Delete);
    if after > MAX_PULL_TIME_EXCLUSIONS {
        blockers.push(format!(
            "the registry would hold {after} pull-time-update exclusions in this region, over ECR's quota of {MAX_PULL_TIME_EXCLUSIONS}: ask for fewer principals, or remove unused ones (aws ecr list-pull-time-update-exclusions, then aws ecr deregister-pull-time-update-exclusion --principal-arn ARN)"
        ));
    }
    if let Some(t) = desired_template.filter(|t| t.description.len() > MAX_TEMPLATE_DESCRIPTION) {
        blockers.push(format!(
            "prefix {prefix:?} asks for too many pull-time-update exclusions to record: the creation template's description, which records them, would be {} characters (ECR's limit is {MAX_TEMPLATE_DESCRIPTION}); ask for fewer principals",
            t.description.len()
        ));
    }
    rows
}

/// Teardown rows for the exclusions the prefix's template records: those the tool registered
/// are deregistered unless another prefix asks for them; the rest stay.
fn plan_teardown_exclusions(
    prefix: &str,
    t: &CreationTemplate,
    cache: &CacheObserved,
) -> Vec<ResourceChange> {
    let recorded = t.recorded_exclusions();
    if recorded.is_empty() {
        return vec![];
    }
    let Some(present) = cache.pull_time_exclusions.as_deref() else {
        return vec![];
    };
    let mut rows = vec![];
    for (digest, ours) in recorded {
        let Some(arn) = present.iter().find(|a| exclusion_digest(a) == digest) else {
            continue;
        };
        rows.push(match (ours, also_wanted_by(cache, prefix, arn)) {
            (false, _) => exclusion_row(
                arn,
                Action::NoOp,
                "left alone: registered outside echo-onboard".into(),
            ),
            (true, Some(other)) => exclusion_row(
                arn,
                Action::NoOp,
                format!("kept: prefix {other} asks for it too"),
            ),
            (true, None) => exclusion_row(
                arn,
                Action::Delete,
                "registered by echo-onboard for this prefix".into(),
            ),
        });
    }
    rows
}

/// Teardown rows: the prefix's template when the tool made it, and the scanning filter when the
/// template records that the tool added it.
pub fn plan_teardown(prefix: &str, cache: &CacheObserved) -> Vec<ResourceChange> {
    let mut out = vec![];
    let scanning = cache.scanning.as_ref();
    let Some(t) = cache.template(prefix) else {
        return out;
    };
    if !t.managed_by().is_ours() {
        out.push(ResourceChange {
            resource: ResourceKind::RepositoryCreationTemplate,
            name: prefix.to_string(),
            action: Action::NoOp,
            reason: Some("left alone: not made by echo-onboard".into()),
            fields: vec![],
        });
        return out;
    }
    // The template is the only proof of the exclusions the tool registered: it stays until
    // they can be read and deregistered.
    if cache.pull_time_exclusions.is_none() && t.recorded_exclusions().iter().any(|(_, ours)| *ours)
    {
        out.push(ResourceChange {
            resource: ResourceKind::RepositoryCreationTemplate,
            name: prefix.to_string(),
            action: Action::NoOp,
            reason: Some(format!(
                "kept: it records pull-time-update exclusions echo-onboard registered, and they could not be read ({}); allow ecr:ListPullTimeUpdateExclusions and run teardown again",
                cache.exclusions_unread.as_deref().unwrap_or("not read")
            )),
            fields: vec![],
        });
        return out;
    }
    out.push(ResourceChange {
        resource: ResourceKind::RepositoryCreationTemplate,
        name: prefix.to_string(),
        action: Action::Delete,
        reason: None,
        fields: vec![field("summary", json!(t.summary()), Value::Null)],
    });
    let filter = scan_filter(prefix);
    if let Some(c) = scanning {
        if t.scan_filter_ours() && c.has_filter(SCAN_ON_PUSH, &filter) {
            let after = c.without_filter(&filter);
            out.push(ResourceChange {
                resource: ResourceKind::RegistryScanningFilter,
                name: filter.clone(),
                action: Action::Delete,
                reason: Some(
                    "only this filter is removed; other filters and the scan type are kept".into(),
                ),
                fields: vec![field(
                    "scanning_configuration",
                    scan_value(c),
                    scan_value(&after),
                )],
            });
        }
    }
    out.extend(plan_teardown_exclusions(prefix, t, cache));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(f: impl FnOnce(&mut CacheSettingsInput)) -> Result<CacheSettings, Vec<FieldError>> {
        let mut i = CacheSettingsInput::default();
        f(&mut i);
        i.validate()
    }

    #[test]
    fn archiving_transitions_unpulled_images_and_expires_them_after_the_minimum() {
        let s = settings(|i| {
            i.expire_untagged_after = Some("14".into());
            i.archive_after = Some("60".into());
            i.expire_archived_after = Some("180".into());
            i.keep_last = Some("100".into());
        })
        .unwrap();
        let p = lifecycle_policy(&s).unwrap();
        let rules = p["rules"].as_array().unwrap();
        // untagged first, then the "any" rules: transition, expire archived, keep last.
        assert_eq!(
            rules[1]["action"],
            json!({"type": "transition", "targetStorageClass": "archive"})
        );
        assert_eq!(rules[1]["selection"]["countType"], "sinceImagePulled");
        assert_eq!(rules[2]["selection"]["storageClass"], "archive");
        assert_eq!(rules[2]["selection"]["countType"], "sinceImageTransitioned");
        assert_eq!(rules[2]["action"]["type"], "expire");
        let priorities: Vec<u64> = rules
            .iter()
            .map(|r| r["rulePriority"].as_u64().unwrap())
            .collect();
        assert_eq!(priorities, [1, 2, 3, 4]);
        assert_eq!(
            lifecycle_summary(&p),
            "expire untagged after 14 days, archive when not pulled for 60 days, expire 180 days after archiving, keep last 100"
        );
        assert!(archive_note(&p).unwrap().contains("at least 90 days"));
        let e = settings(|i| i.expire_archived_after = Some("30".into())).unwrap_err();
        assert_eq!(e[0].field, "expire-archived-after");
        assert!(
            e[0].to_string()
                .contains("bills an archived image for 90 days"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn a_kms_alias_is_refused_with_the_command_that_gives_the_arn() {
        for alias in [
            "alias/my-key",
            "arn:aws:kms:eu-west-1:123456789012:alias/my-key",
        ] {
            let e = settings(|i| i.kms_key = Some(alias.into())).unwrap_err();
            assert_eq!(e[0].field, "kms-key");
            assert!(
                e[0].to_string().contains(
                    "aws kms describe-key --key-id alias/my-key --query KeyMetadata.Arn --output text"
                ),
                "{}",
                e[0]
            );
        }
        // The model's pattern: lower-case key ids only.
        assert!(settings(
            |i| i.kms_key = Some("arn:aws:kms:eu-west-1:123456789012:key/ABCD".into())
        )
        .is_err());
        let key = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd";
        assert!(kms_key_in_region(key, "us-east-1").is_ok());
        let e = kms_key_in_region(key, "eu-west-1").unwrap_err();
        assert_eq!(e.field, "kms-key");
        assert!(e.to_string().contains("must be a key in eu-west-1"), "{e}");
        assert!(e.to_string().contains("got one in us-east-1"), "{e}");
    }

    #[test]
    fn validation_names_the_field_and_the_fix() {
        let e = settings(|i| {
            i.expire_untagged_after = Some("0".into());
            i.keep_last = Some("many".into());
            i.kms_key = Some("my-key".into());
            i.scan = Some("deep".into());
        })
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["kms-key", "expire-untagged-after", "keep-last", "scan"]
        );
        assert!(e[0].to_string().contains("KMS key ARN"), "{}", e[0]);
        let s = settings(|i| {
            i.kms_key = Some(
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            );
            i.scan = Some("Enhanced".into());
        })
        .unwrap();
        assert_eq!(s.scan, Some(ScanType::Enhanced));
        assert!(settings(|_| {}).unwrap().is_empty());
        let e = settings(|i| i.repo_tags = vec!["managed-by=me".into()]).unwrap_err();
        assert_eq!(e[0].field, "repo-tag");
    }

    #[test]
    fn repository_policies_are_checked_before_sending() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}"#;
        assert!(repository_policy("p.json", ok).is_ok());
        let e = repository_policy("p.json", "{not json").unwrap_err();
        assert!(e.rule.contains("not valid JSON"), "{e}");
        let e = repository_policy(
            "p.json",
            r#"{"Statement":[{"Effect":"Allow","Action":"ecr:*"}]}"#,
        )
        .unwrap_err();
        assert!(e.rule.contains("no Principal"), "{e}");
        let e = repository_policy("p.json", r#"{"Statement":[]}"#).unwrap_err();
        assert!(e.rule.contains("non-empty Statement"), "{e}");
        let e = repository_policy(
            "p.json",
            r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"ecr:*"}}"#,
        )
        .unwrap_err();
        assert!(e.rule.contains("Allow or Deny"), "{e}");
    }

    #[test]
    fn lifecycle_rules_keep_any_last() {
        let s = settings(|i| {
            i.expire_untagged_after = Some("14".into());
            i.keep_last = Some("100".into());
        })
        .unwrap();
        let l = lifecycle_policy(&s).unwrap();
        assert_eq!(l["rules"][0]["selection"]["tagStatus"], "untagged");
        assert_eq!(l["rules"][0]["selection"]["countNumber"], 14);
        assert_eq!(l["rules"][1]["selection"]["tagStatus"], "any");
        assert_eq!(l["rules"][1]["rulePriority"], 2);
        assert_eq!(
            lifecycle_summary(&l),
            "expire untagged after 14 days, keep last 100"
        );
    }

    #[test]
    fn scanning_merge_keeps_other_filters() {
        let theirs = ScanningConfig {
            scan_type: "BASIC".into(),
            rules: vec![ScanRule {
                frequency: SCAN_ON_PUSH.into(),
                filters: vec!["team-a/*".into()],
            }],
        };
        let merged = theirs.with_filter("echo/*", &ScanType::Basic);
        assert_eq!(merged.rules[0].filters, ["team-a/*", "echo/*"]);
        assert_eq!(merged.with_filter("echo/*", &ScanType::Basic), merged);
        assert_eq!(merged.without_filter("echo/*"), theirs);
        assert_eq!(merged.coverage("echo/python"), Some(SCAN_ON_PUSH));
        assert_eq!(merged.coverage("other/python"), None);
        let enhanced = theirs.with_filter("echo/*", &ScanType::Enhanced);
        assert_eq!(enhanced.scan_type, "ENHANCED");
        // Never switched back down by a basic request.
        assert_eq!(
            enhanced.with_filter("x/*", &ScanType::Basic).scan_type,
            "ENHANCED"
        );
        let mut warnings = vec![];
        let c = plan_scanning("echo/*", &ScanType::Enhanced, &theirs, &mut warnings);
        assert_eq!(c.action, Action::Update);
        assert!(warnings[0].contains("registry-wide cost"), "{warnings:?}");
        assert!(c.reason.unwrap().contains("1 other filter"));
        let alone = ScanningConfig::default().with_filter("echo/*", &ScanType::Basic);
        assert_eq!(alone.without_filter("echo/*").rules, vec![]);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("echo/*", "echo/python"));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("echo/*", "echoes/python"));
        assert!(wildcard_match("exact", "exact"));
    }

    #[test]
    fn template_plan_and_teardown() {
        let s = settings(|i| {
            i.immutable_tags = true;
            i.expire_untagged_after = Some("14".into());
            i.scan_on_push = true;
        })
        .unwrap();
        let d = desired_template("echo", &s, Some("arn:aws:iam::1:role/r"), true);
        assert!(d.scan_filter_ours());
        assert_eq!(d.resource_tags["managed-by"], "echo-onboard");
        let mut blockers = vec![];
        let c = plan_template(&d, None, false, &mut blockers);
        assert_eq!(c.action, Action::Create);
        assert!(c
            .fields
            .iter()
            .any(|f| f.field == "image_tag_mutability" && f.after == "IMMUTABLE"));
        assert_eq!(
            plan_template(&d, Some(&d), false, &mut blockers).action,
            Action::NoOp
        );
        let mut drifted = d.clone();
        drifted.image_tag_mutability = "MUTABLE".into();
        let c = plan_template(&d, Some(&drifted), false, &mut blockers);
        assert_eq!(c.action, Action::Update);
        assert_eq!(c.fields.len(), 1);
        assert!(blockers.is_empty());
        let mut theirs = drifted.clone();
        theirs.description = "made by hand".into();
        plan_template(&d, Some(&theirs), false, &mut blockers);
        assert!(
            super::super::words::offers(&blockers[0], super::super::words::Setting::Adopt),
            "{blockers:?}"
        );

        let scanning = ScanningConfig::default().with_filter("echo/*", &ScanType::Basic);
        let cache_of = |t: &CreationTemplate| CacheObserved {
            templates: vec![t.clone()],
            scanning: Some(scanning.clone()),
            ..Default::default()
        };
        let rows = plan_teardown("echo", &cache_of(&d));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].resource, ResourceKind::RegistryScanningFilter);
        let not_ours = desired_template("echo", &s, Some("arn:aws:iam::1:role/r"), false);
        assert_eq!(plan_teardown("echo", &cache_of(&not_ours)).len(), 1);
        assert_eq!(
            plan_teardown("echo", &cache_of(&theirs))[0].action,
            Action::NoOp
        );
    }

    const SCANNER: &str = "arn:aws:iam::123456789012:role/image-scanner";
    const CI: &str = "arn:aws:iam::123456789012:role/ci";

    #[test]
    fn pull_time_exclusions_are_validated_as_ecr_models_them() {
        let ok =
            settings(|i| i.pull_time_exclusions = vec![SCANNER.into(), SCANNER.into(), CI.into()])
                .unwrap();
        assert_eq!(
            ok.pull_time_exclusions,
            vec![CI.to_string(), SCANNER.to_string()]
        );
        assert!(ok.wants_template());
        for bad in [
            "image-scanner",
            "arn:aws:sts::123456789012:assumed-role/scanner/session",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:group/admins",
        ] {
            let e = settings(|i| i.pull_time_exclusions = vec![bad.into()]).unwrap_err();
            assert_eq!(e[0].field, "pull-time-exclusion", "{bad}");
        }
        let session = settings(|i| {
            i.pull_time_exclusions = vec!["arn:aws:sts::123456789012:assumed-role/scanner/s".into()]
        })
        .unwrap_err();
        assert!(
            session[0].rule.contains("not a session's"),
            "{}",
            session[0].rule
        );
        let many: Vec<String> = (0..101)
            .map(|n| format!("arn:aws:iam::123456789012:role/r{n}"))
            .collect();
        let e = settings(|i| i.pull_time_exclusions = many).unwrap_err();
        assert!(e[0].rule.contains("at most 100"), "{:?}", e);
    }

    fn ours_with(records: &[(&str, bool)]) -> CreationTemplate {
        let s = settings(|i| i.pull_time_exclusions = vec![SCANNER.into()]).unwrap();
        let mut t = desired_template("echo", &s, Some("arn:aws:iam::1:role/r"), false);
        t.record_exclusions(
            &records
                .iter()
                .map(|(a, o)| (a.to_string(), *o))
                .collect::<Vec<_>>(),
        );
        t
    }

    #[test]
    fn the_template_records_exclusions_before_the_rule_and_reads_them_back() {
        let mut t = ours_with(&[(SCANNER, true), (CI, false)]);
        t.record_rule(None);
        t.record_exclusions(&[(SCANNER.into(), true)]);
        assert!(t.registered_exclusion(SCANNER));
        assert!(
            !t.wants_exclusion(CI),
            "the record was replaced: {}",
            t.description
        );
        assert_eq!(t.description.matches(EXCLUSION_RECORD).count(), 1);
        t.record_rule(Some(
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        ));
        assert!(t.registered_exclusion(SCANNER), "{}", t.description);
        assert_eq!(t.recorded_rule_created(), Some("2023-11-14T22:13:20Z"));
        let mut theirs = t.clone();
        theirs.description = theirs.description.replace(TEMPLATE_MARKER, "Made by hand");
        assert!(
            theirs.recorded_exclusions().is_empty(),
            "only a tool-made template proves"
        );
    }

    #[test]
    fn exclusions_plan_registers_keeps_and_deregisters_only_the_tools() {
        let mut blockers = vec![];
        // Absent: registered. Present and not recorded: someone else's, kept.
        let cache = CacheObserved {
            pull_time_exclusions: Some(vec![CI.into()]),
            ..Default::default()
        };
        let rows = plan_exclusions(
            "echo",
            &[CI.into(), SCANNER.into()],
            None,
            &cache,
            &mut blockers,
        );
        assert_eq!(
            rows.iter().map(|r| r.action).collect::<Vec<_>>(),
            [Action::NoOp, Action::Create]
        );
        assert!(rows[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("outside echo-onboard"));
        // Registered by the tool and no longer asked for: deregistered, unless another
        // prefix's template asks for it too.
        let cache = CacheObserved {
            templates: vec![ours_with(&[(SCANNER, true)])],
            pull_time_exclusions: Some(vec![SCANNER.into(), CI.into()]),
            ..Default::default()
        };
        let rows = plan_exclusions("echo", &[], None, &cache, &mut blockers);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].action, rows[0].name.as_str()),
            (Action::Delete, SCANNER)
        );
        let mut other = ours_with(&[(SCANNER, false)]);
        other.prefix = "team".into();
        let mut shared = cache.clone();
        shared.templates.push(other);
        assert_eq!(
            plan_exclusions("echo", &[], None, &shared, &mut blockers)[0].action,
            Action::NoOp
        );
        let down = plan_teardown("echo", &shared);
        let ex: Vec<_> = down
            .iter()
            .filter(|r| r.resource == ResourceKind::PullTimeExclusion)
            .collect();
        assert_eq!(ex[0].action, Action::NoOp, "{ex:?}");
        let down = plan_teardown("echo", &cache);
        let ex: Vec<_> = down
            .iter()
            .filter(|r| r.resource == ResourceKind::PullTimeExclusion)
            .collect();
        assert_eq!(
            (ex.len(), ex[0].action),
            (1, Action::Delete),
            "CI is not recorded: {ex:?}"
        );
        // Unread at teardown: the template, the only proof, stays.
        let mut unread = cache.clone();
        unread.pull_time_exclusions = None;
        unread.exclusions_unread = Some("AccessDenied".into());
        let down = plan_teardown("echo", &unread);
        assert_eq!((down.len(), down[0].action), (1, Action::NoOp), "{down:?}");
        assert!(down[0].reason.as_deref().unwrap().contains("AccessDenied"));
        assert!(blockers.is_empty(), "{blockers:?}");
        // Unread: a blocker, never a guess.
        let unread = CacheObserved {
            exclusions_unread: Some("AccessDenied".into()),
            ..Default::default()
        };
        assert!(
            plan_exclusions("echo", &[SCANNER.into()], None, &unread, &mut blockers).is_empty()
        );
        assert!(blockers[0].contains("AccessDenied"));
        // The quota.
        let full = CacheObserved {
            pull_time_exclusions: Some(
                (0..100)
                    .map(|n| format!("arn:aws:iam::123456789012:role/r{n}"))
                    .collect(),
            ),
            ..Default::default()
        };
        let mut blockers = vec![];
        plan_exclusions("echo", &[SCANNER.into()], None, &full, &mut blockers);
        assert!(blockers[0].contains("quota of 100"), "{blockers:?}");
    }
}
