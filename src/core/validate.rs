//! Validated inputs. Every constructor checks one AWS rule and, on failure, returns a
//! [`FieldError`] that names the field, the rule and a valid example, so the CLI and the
//! wizard can show the same message before anything is sent to AWS.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;
use serde::Serialize;

use super::regions;

/// A rejected input: which field, what was given, the rule it broke and a valid example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub value: String,
    pub rule: String,
    pub example: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The field as a reference, so each front end names it its way (flag, form field).
        match super::words::Setting::from_id(self.field) {
            Some(s) => write!(f, "{s}")?,
            None => write!(f, "{}", self.field)?,
        }
        write!(
            f,
            " {:?} is invalid: {} (example: {})",
            self.value, self.rule, self.example
        )
    }
}

impl std::error::Error for FieldError {}

pub(crate) fn err(
    field: &'static str,
    value: &str,
    rule: impl Into<String>,
    example: &str,
) -> FieldError {
    FieldError {
        field,
        value: value.to_string(),
        rule: rule.into(),
        example: example.to_string(),
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        // The console shows account ids as 1234-5678-9012: the same id, cleaned.
        let grouped: String = v.chars().filter(|c| *c != '-' && *c != ' ').collect();
        let v = if grouped.len() == 12 && grouped.bytes().all(|b| b.is_ascii_digit()) {
            grouped.as_str()
        } else {
            v
        };
        if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(v.to_string()))
        } else {
            let why = if v.is_empty() {
                "is required: the 12-digit AWS account id Echo gave you".to_string()
            } else if v.bytes().all(|b| b.is_ascii_digit()) {
                format!("must be exactly 12 digits, got {}", v.len())
            } else {
                "must be exactly 12 digits (0-9 only)".to_string()
            };
            Err(err(field, value, why, "123456789012"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A known AWS region code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        if regions::is_known(v) {
            Ok(Self(v.to_string()))
        } else {
            Err(err(
                field,
                value,
                "must be an AWS region code where ECR pull-through cache is available",
                "us-east-1, eu-west-1",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn partition(&self) -> &'static str {
        regions::partition(&self.0)
    }
    pub fn dns_suffix(&self) -> &'static str {
        regions::dns_suffix(&self.0)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

static PREFIX_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$").unwrap()
});

/// A repository prefix as ECR accepts it for `ecrRepositoryPrefix` / `upstreamRepositoryPrefix`:
/// 2–30 characters of lowercase path segments, or `ROOT`. A trailing `/` is implied by ECR,
/// so it is accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RepoPrefix(String);

pub const ROOT: &str = "ROOT";

impl RepoPrefix {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        if v == ROOT {
            return Ok(Self(ROOT.to_string()));
        }
        let v = v.strip_suffix('/').unwrap_or(v);
        let example = "echo, echo/prod, team-a.images";
        if v.len() < 2 || v.len() > 30 {
            return Err(err(
                field,
                value,
                format!("must be 2-30 characters (got {}), or ROOT", v.len()),
                example,
            ));
        }
        if !PREFIX_RE.is_match(v) {
            let hint = if v.chars().any(|c| c.is_ascii_uppercase()) {
                "lowercase letters only; "
            } else {
                ""
            };
            return Err(err(
                field,
                value,
                format!(
                    "{hint}must be lowercase letters and digits; words may be joined by one of . _ - \
                     and path segments by /, never two separators in a row or one at either end; \
                     or ROOT"
                ),
                example,
            ));
        }
        Ok(Self(v.to_string()))
    }
    pub fn root() -> Self {
        Self(ROOT.to_string())
    }
    pub fn is_root(&self) -> bool {
        self.0 == ROOT
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether a repository name falls under this prefix (ROOT matches everything).
    pub fn covers(&self, repository: &str) -> bool {
        self.is_root()
            || repository
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Display for RepoPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IAM role name: 1–64 characters of `[A-Za-z0-9+=,.@_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleName(String);

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

impl RoleName {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        let example = "echo-pullthrough-cache-role";
        if v.is_empty() || v.chars().count() > 64 {
            return Err(err(
                field,
                value,
                format!("must be 1-64 characters (got {})", v.chars().count()),
                example,
            ));
        }
        if let Some(bad) = v.chars().find(|c| !is_iam_name_char(*c)) {
            return Err(err(
                field,
                value,
                format!("may contain only letters, digits and + = , . @ _ - (found {bad:?})"),
                example,
            ));
        }
        Ok(Self(v.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tags the tool sets on its own resources: users may not set or override them.
pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "echo-onboard";
pub const PREFIX_TAG_KEY: &str = "echo-onboard:prefix";
/// Set by the CloudFormation template on the role: the stack that owns it.
pub const STACK_TAG_KEY: &str = "echo-onboard:stack";

/// A `KEY=VALUE` tag under IAM's rules: key 1–128, value 0–256 characters of letters, digits,
/// spaces and `_ . : / = + - @`; keys starting with `aws:` are reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

impl Tag {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let example = "team=platform";
        let Some((k, v)) = value.split_once('=') else {
            return Err(err(field, value, "must be KEY=VALUE", example));
        };
        let (k, v) = (k.trim(), v.trim());
        // "team=platform cost=42" or "a=1,b=2" in one field: two tags typed as one.
        let more = v
            .split([' ', ','])
            .skip(1)
            .filter(|part| part.contains('=') && !part.starts_with('='))
            .count();
        if more > 0 {
            return Err(err(
                field,
                value,
                format!(
                    "holds {} tags in one: give each KEY=VALUE on its own (separate them with commas)",
                    more + 1
                ),
                example,
            ));
        }
        if k.is_empty() || k.chars().count() > 128 {
            return Err(err(
                field,
                value,
                "the key must be 1-128 characters",
                example,
            ));
        }
        if v.chars().count() > 256 {
            return Err(err(
                field,
                value,
                "the value must be at most 256 characters",
                example,
            ));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(err(
                field,
                value,
                "keys starting with aws: are reserved by AWS",
                example,
            ));
        }
        if k == MANAGED_BY_KEY || k == PREFIX_TAG_KEY || k == STACK_TAG_KEY {
            return Err(err(
                field,
                value,
                format!("the key {k} is set by echo-onboard itself"),
                example,
            ));
        }
        if let Some(bad) = k.chars().chain(v.chars()).find(|c| !is_tag_char(*c)) {
            return Err(err(
                field,
                value,
                format!(
                    "may contain only letters, digits, spaces and _ . : / = + - @ (found {bad:?})"
                ),
                example,
            ));
        }
        Ok(Self {
            key: k.to_string(),
            value: v.to_string(),
        })
    }
}

/// Tags as given, rejecting a key given twice (IAM keys are case-insensitive) and more than
/// the 50 IAM allows including the tool's own two.
pub fn parse_tags(
    field: &'static str,
    raw: &[String],
) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for item in raw {
        let tag = Tag::parse(field, item)?;
        if out
            .keys()
            .any(|k: &String| k.eq_ignore_ascii_case(&tag.key))
        {
            return Err(err(
                field,
                item,
                format!("the key {} is given twice", tag.key),
                "team=platform",
            ));
        }
        out.insert(tag.key, tag.value);
    }
    if out.len() > 48 {
        return Err(err(
            field,
            &format!("{} tags", out.len()),
            "at most 48 tags (IAM allows 50 and echo-onboard sets 2)",
            "team=platform",
        ));
    }
    Ok(out)
}

/// Everything the user chooses for a setup, before validation (CLI flags or wizard fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupInput {
    pub echo_account: String,
    pub echo_region: String,
    pub region: String,
    pub prefix: String,
    pub role_name: String,
    pub upstream_prefix: String,
    pub tags: Vec<String>,
    /// Cache settings (creation template, scanning); empty means ECR's defaults.
    pub cache: super::cache::CacheSettingsInput,
    /// The registry the rule pulls from (Echo's when empty).
    pub upstream: super::upstream::UpstreamInput,
    /// The role's cache actions on `Resource: "*"`, as AWS's documentation and Echo's template
    /// have them: the way out if ECR ever needs a resource form least privilege does not cover.
    pub broad_policy: bool,
}

pub const DEFAULT_ECHO_REGION: &str = "us-east-1";
pub const DEFAULT_PREFIX: &str = "echo";
pub const DEFAULT_ROLE_NAME: &str = "echo-pullthrough-cache-role";
pub const DEFAULT_POLICY_NAME: &str = "echo-pullthrough-cache-policy";

impl SetupInput {
    pub fn with_defaults(echo_account: &str, region: &str) -> Self {
        Self {
            echo_account: echo_account.into(),
            echo_region: DEFAULT_ECHO_REGION.into(),
            region: region.into(),
            prefix: DEFAULT_PREFIX.into(),
            role_name: DEFAULT_ROLE_NAME.into(),
            upstream_prefix: ROOT.into(),
            tags: vec![],
            cache: Default::default(),
            upstream: Default::default(),
            broad_policy: false,
        }
    }

    /// Validates every field and returns all errors at once, so a user fixes them in one go.
    pub fn validate(&self) -> Result<Setup, Vec<FieldError>> {
        let upstream = self.upstream.validate();
        let echo_upstream = upstream.as_ref().map_or(true, |u| u.kind.is_echo());
        // Only Echo's upstream has an Echo account; another upstream ignores the field (a
        // config file may set it for the Echo rule).
        let echo_account = if echo_upstream {
            AccountId::parse("echo-account", &self.echo_account).map(Some)
        } else {
            Ok(None)
        };
        let echo_region = Region::parse("echo-region", &self.echo_region);
        let region = Region::parse("region", &self.region);
        let prefix = RepoPrefix::parse("prefix", &self.prefix);
        let role_name = RoleName::parse("role-name", &self.role_name);
        let upstream_prefix = RepoPrefix::parse("upstream-prefix", &self.upstream_prefix);
        let tags = parse_tags("tag", &self.tags);
        let mut errors = Vec::new();
        let upstream = match upstream {
            Ok(u) => Some(u),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if !echo_upstream {
            errors.extend(self.cache.needs_role_fields().into_iter().map(|(field, value)| {
                err(
                    field,
                    &value,
                    "needs a role for ECR to assume when it creates repositories, and only Echo's upstream has one",
                    "⟦immutable-tags⟧, ⟦expire-untagged-after⟧, ⟦keep-last⟧, ⟦repository-policy⟧ and ⟦scan-on-push⟧ work for every upstream",
                )
            }));
        }
        if self.broad_policy && !echo_upstream {
            errors.push(err(
                "broad-policy",
                "true",
                "applies to the role of Echo's upstream; other upstreams have no role",
                "⟦upstream⟧ echo with ⟦broad-policy⟧",
            ));
        }
        let cache = match self.cache.validate() {
            Ok(c) => Some(c),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if let (Some(key), Ok(r)) = (cache.as_ref().and_then(|c| c.kms_key.as_ref()), &region) {
            if let Err(e) = super::cache::kms_key_in_region(key, r.as_str()) {
                errors.push(e);
            }
        }
        macro_rules! take {
            ($r:expr) => {
                match $r {
                    Ok(v) => Some(v),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                }
            };
        }
        let setup = (
            take!(echo_account),
            take!(echo_region),
            take!(region),
            take!(prefix),
            take!(role_name),
            take!(upstream_prefix),
            take!(tags),
        );
        if let (Some(p), Some(u)) = (&setup.3, &setup.5) {
            if p.is_root() && !u.is_root() {
                errors.push(err(
                    "upstream-prefix",
                    u.as_str(),
                    "can be set only when ⟦prefix⟧ is not ROOT",
                    "ROOT",
                ));
            }
        }
        match setup {
            (
                Some(echo_account),
                Some(echo_region),
                Some(region),
                Some(prefix),
                Some(role_name),
                Some(upstream_prefix),
                Some(tags),
            ) if errors.is_empty() => Ok(Setup {
                echo_account,
                echo_region,
                region,
                prefix,
                role_name,
                upstream_prefix,
                tags,
                cache: cache.unwrap_or_default(),
                upstream: upstream.unwrap_or_default(),
                broad_policy: self.broad_policy,
            }),
            _ => Err(errors),
        }
    }
}

/// A validated setup: the only way to build a desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setup {
    /// Set exactly when the upstream is Echo's registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo_account: Option<AccountId>,
    pub echo_region: Region,
    pub region: Region,
    pub prefix: RepoPrefix,
    pub role_name: RoleName,
    pub upstream_prefix: RepoPrefix,
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "super::cache::CacheSettings::is_empty")]
    pub cache: super::cache::CacheSettings,
    pub upstream: super::upstream::Upstream,
    /// `Resource: "*"` for the cache actions (see `SetupInput::broad_policy`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub broad_policy: bool,
}

impl Setup {
    /// The Echo account, for the setups that pull from Echo (the only ones with a role).
    pub fn echo(&self) -> Option<&AccountId> {
        self.echo_account.as_ref()
    }
    pub fn is_echo(&self) -> bool {
        self.upstream.kind.is_echo()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_account_ids_are_cleaned_and_two_tags_in_one_are_caught() {
        assert_eq!(
            AccountId::parse("echo-account", "1234-5678-9012")
                .unwrap()
                .as_str(),
            "123456789012"
        );
        assert_eq!(
            AccountId::parse("echo-account", " 1234 5678 9012 ")
                .unwrap()
                .as_str(),
            "123456789012"
        );
        assert!(AccountId::parse("echo-account", "1234-5678-901").is_err());
        let e = Tag::parse("tag", "team=platform cost=42").unwrap_err();
        assert!(e.rule.contains("holds 2 tags in one"), "{}", e.rule);
        // A value may hold "=" of its own.
        assert_eq!(Tag::parse("tag", "query=a=b").unwrap().value, "a=b");
    }

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("echo-account", "123456789012").is_ok());
        assert!(AccountId::parse("echo-account", " 123456789012 ").is_ok());
        let e = AccountId::parse("echo-account", "12345").unwrap_err();
        assert_eq!(e.field, "echo-account");
        assert!(e.rule.contains("exactly 12 digits, got 5"), "{e}");
        let e = AccountId::parse("echo-account", "abcdefghijkl").unwrap_err();
        assert!(e.rule.contains("0-9 only"), "{e}");
        assert!(AccountId::parse("echo-account", "1234567890123").is_err());
        assert!(AccountId::parse("echo-account", "")
            .unwrap_err()
            .rule
            .contains("required"));
        assert!(e.to_string().contains("example: 123456789012"));
    }

    #[test]
    fn regions() {
        assert!(Region::parse("region", "eu-west-1").is_ok());
        assert!(Region::parse("region", "us-gov-west-1").is_ok());
        let e = Region::parse("region", "moon-1").unwrap_err();
        assert_eq!(e.field, "region");
        assert!(e.to_string().contains("AWS region code"));
        assert!(Region::parse("region", "EU-WEST-1").is_err());
        assert_eq!(
            Region::parse("r", "cn-north-1").unwrap().partition(),
            "aws-cn"
        );
        assert_eq!(
            Region::parse("r", "cn-north-1").unwrap().dns_suffix(),
            "amazonaws.com.cn"
        );
        assert_eq!(
            Region::parse("r", "us-gov-east-1").unwrap().partition(),
            "aws-us-gov"
        );
    }

    #[test]
    fn prefixes() {
        for ok in [
            "echo",
            "ec",
            "echo/prod",
            "team-a.images",
            "a_b",
            "ROOT",
            "echo/",
            "a1/b2/c3",
        ] {
            assert!(RepoPrefix::parse("prefix", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            RepoPrefix::parse("prefix", "echo/").unwrap().as_str(),
            "echo"
        );
        let e = RepoPrefix::parse("prefix", "Echo_Prod").unwrap_err();
        assert!(e.rule.contains("lowercase"), "{e}");
        let e = RepoPrefix::parse("prefix", "a").unwrap_err();
        assert!(e.rule.contains("2-30 characters (got 1)"), "{e}");
        let long = "a".repeat(31);
        assert!(RepoPrefix::parse("prefix", &long)
            .unwrap_err()
            .rule
            .contains("got 31"));
        assert!(RepoPrefix::parse("prefix", &"a".repeat(30)).is_ok());
        for bad in ["echo--x", "-echo", "echo//x", "ech o", "echo.", "/echo"] {
            assert!(RepoPrefix::parse("prefix", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_covers() {
        let p = RepoPrefix::parse("prefix", "echo").unwrap();
        assert!(p.covers("echo/python"));
        assert!(!p.covers("echoes/python"));
        assert!(!p.covers("echo"));
        assert!(RepoPrefix::root().covers("anything"));
    }

    #[test]
    fn role_names() {
        assert!(RoleName::parse("role-name", "echo-pullthrough-cache-role").is_ok());
        assert!(RoleName::parse("role-name", "a+=,.@_-Z9").is_ok());
        assert!(RoleName::parse("role-name", &"r".repeat(64)).is_ok());
        assert!(RoleName::parse("role-name", &"r".repeat(65))
            .unwrap_err()
            .rule
            .contains("1-64"));
        assert!(RoleName::parse("role-name", "").is_err());
        let e = RoleName::parse("role-name", "my role").unwrap_err();
        assert!(e.rule.contains("' '"), "{e}");
        assert!(RoleName::parse("role-name", "role/x").is_err());
    }

    #[test]
    fn tags() {
        let t = Tag::parse("tag", "team=platform").unwrap();
        assert_eq!((t.key.as_str(), t.value.as_str()), ("team", "platform"));
        assert_eq!(Tag::parse("tag", "empty=").unwrap().value, "");
        assert_eq!(Tag::parse("tag", "url=a=b").unwrap().value, "a=b");
        assert!(Tag::parse("tag", "novalue")
            .unwrap_err()
            .rule
            .contains("KEY=VALUE"));
        assert!(Tag::parse("tag", "=x").is_err());
        assert!(Tag::parse("tag", "aws:foo=x")
            .unwrap_err()
            .rule
            .contains("reserved"));
        assert!(Tag::parse("tag", "managed-by=me")
            .unwrap_err()
            .rule
            .contains("echo-onboard"));
        assert!(Tag::parse("tag", &format!("{}=x", "k".repeat(129))).is_err());
        assert!(Tag::parse("tag", &format!("k={}", "v".repeat(257))).is_err());
        assert!(Tag::parse("tag", "k=a;b").is_err());
        let dup = parse_tags("tag", &["Team=a".into(), "team=b".into()]).unwrap_err();
        assert!(dup.rule.contains("twice"));
        let many: Vec<String> = (0..49).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tags("tag", &many).is_err());
    }

    #[test]
    fn setup_collects_all_errors() {
        let mut input = SetupInput::with_defaults("12345", "moon-1");
        input.prefix = "A".into();
        let errors = input.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["echo-account", "region", "prefix"]);
    }

    #[test]
    fn setup_root_prefix_rejects_upstream_prefix() {
        let mut input = SetupInput::with_defaults("123456789012", "eu-west-1");
        input.prefix = "ROOT".into();
        input.upstream_prefix = "images".into();
        let errors = input.validate().unwrap_err();
        assert_eq!(errors[0].field, "upstream-prefix");
    }

    #[test]
    fn setup_defaults_match_the_seeds() {
        let s = SetupInput::with_defaults("123456789012", "eu-west-1")
            .validate()
            .unwrap();
        assert_eq!(s.echo_region.as_str(), "us-east-1");
        assert_eq!(s.prefix.as_str(), "echo");
        assert_eq!(s.role_name.as_str(), "echo-pullthrough-cache-role");
        assert!(s.upstream_prefix.is_root());
    }
}
