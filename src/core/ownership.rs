//! Who owns each resource, and the proof, decided once from what AWS reported. Pure: the
//! observer gathers the facts (tags written at creation, the stack CloudFormation says holds
//! a resource, creation times), and plan, teardown, status, diagnose and the dashboard all
//! read the verdicts from here. A name alone, or a write this tool made later, is never proof.
//!
//! | resource | owner read from | |
//! |---|---|---|
//! | rule with a role | the stack holding it (`DescribeStackResources`), else the role's creation tags (`managed-by`, `echo-onboard:prefix`) | |
//! | rule without a role | the stack holding it, else the tool's creation template recording the rule's `createdAt` | |
//! | role | the stack holding it, else its creation tags | |
//! | secret | its creation tags (`managed-by`, `echo-onboard:prefix`, `aws:cloudformation:stack-name`) | |
//! | cached repository | created at or after its rule, or tagged by the tool's creation template | |

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::cache::CreationTemplate;
use super::model::{CacheRule, ManagedBy, ObservedRole, ObservedSecret, RepositoryInfo};
use super::validate::{MANAGED_BY_KEY, MANAGED_BY_VALUE, PREFIX_TAG_KEY, ROOT};

/// How long after a rule an earlier version's marker template was made with it.
pub const LEGACY_WINDOW_MINUTES: i64 = 15;

/// The stack CloudFormation says holds a resource, with the stack's own tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldingStack {
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

/// An owner and what showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owned {
    pub by: ManagedBy,
    pub proof: String,
}

impl Owned {
    fn new(by: ManagedBy, proof: impl Into<String>) -> Self {
        Owned {
            by,
            proof: proof.into(),
        }
    }
}

fn tagged_ours(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// A stack is this tool's when it carries the tag the tool sets on `CreateStack`; any other
/// stack (one deployed by hand from Echo's template, say) is someone else's.
pub fn stack(s: &HoldingStack) -> Owned {
    if tagged_ours(&s.tags) {
        Owned::new(
            ManagedBy::CloudFormation(s.name.clone()),
            format!(
                "CloudFormation stack {} holds it, and the stack was created by echo-onboard (tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE})",
                s.name
            ),
        )
    } else {
        Owned::new(
            ManagedBy::Stack(s.name.clone()),
            format!(
                "CloudFormation stack {} holds it (DescribeStackResources), and the stack was not created by echo-onboard",
                s.name
            ),
        )
    }
}

/// Who made a role, from its creation tags (IAM roles made by a stack carry no
/// `aws:cloudformation:*` tags, so the stack comes from `DescribeStackResources`).
pub fn role(role: &ObservedRole, holder: Option<&HoldingStack>) -> Owned {
    if let Some(h) = holder {
        return stack(h);
    }
    // The creation tags, read as everywhere else; a stack named there proves nothing
    // unless CloudFormation says the stack holds the role.
    match role.managed_by() {
        ManagedBy::CloudFormation(s) | ManagedBy::Stack(s) => Owned::new(
            ManagedBy::Other,
            format!(
                "role {} is tagged for stack {s}, but no stack holds it",
                role.name
            ),
        ),
        ManagedBy::EchoOnboard => Owned::new(
            ManagedBy::EchoOnboard,
            format!(
                "role {} was created by echo-onboard (tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE})",
                role.name
            ),
        ),
        ManagedBy::Iac(tool) => Owned::new(
            ManagedBy::Iac(tool.clone()),
            format!("role {} is tagged {MANAGED_BY_KEY}={tool}", role.name),
        ),
        ManagedBy::Other => Owned::new(
            ManagedBy::Other,
            format!("role {} carries no echo-onboard tag", role.name),
        ),
    }
}

/// Where a rule's ownership is read from: the tool's own proof when there is one, else the
/// stack that holds it (one `DescribeStackResources` call; `None` = not asked).
pub fn rule(
    rule: &CacheRule,
    role_of_rule: Option<&ObservedRole>,
    template: Option<&CreationTemplate>,
    holder: Option<Option<&HoldingStack>>,
) -> Owned {
    if let Some(Some(h)) = holder {
        return stack(h);
    }
    if rule.role_arn.is_some() {
        let Some(r) = role_of_rule else {
            return Owned::new(
                ManagedBy::Other,
                format!(
                    "its role {} is not one this account can read",
                    rule.role_arn.as_deref().unwrap_or_default()
                ),
            );
        };
        let by_role = self::role(r, None);
        return match by_role.by {
            ManagedBy::EchoOnboard => {
                let prefix = r.tags.get(PREFIX_TAG_KEY).map(String::as_str);
                if prefix == Some(rule.prefix.as_str()) {
                    Owned::new(
                        ManagedBy::EchoOnboard,
                        format!(
                            "its role {} was created by echo-onboard for prefix {} (tags {MANAGED_BY_KEY}, {PREFIX_TAG_KEY})",
                            r.name, rule.prefix
                        ),
                    )
                } else {
                    Owned::new(
                        ManagedBy::Other,
                        format!(
                            "its role {} was created by echo-onboard for prefix {}, not {}",
                            r.name,
                            prefix.unwrap_or("(none)"),
                            rule.prefix
                        ),
                    )
                }
            }
            other => Owned::new(other, format!("its {}", by_role.proof)),
        };
    }
    // Rules cannot be tagged: the tool records a rule it made in the prefix's creation
    // template, bound to that rule by its creation time.
    match template {
        Some(t) if t.managed_by().is_ours() => match (t.recorded_rule_created(), rule.created_at) {
            (Some(recorded), Some(created)) if recorded == super::cache::rule_stamp(created) => {
                Owned::new(
                    ManagedBy::EchoOnboard,
                    format!(
                        "echo-onboard's creation template for {} records this rule (created {recorded})",
                        rule.prefix
                    ),
                )
            }
            (Some(recorded), _) => Owned::new(
                ManagedBy::Other,
                format!(
                    "echo-onboard's creation template records a rule created {recorded}, not this one (created {})",
                    rule.created_at.map(super::cache::rule_stamp).unwrap_or_else(|| "at an unknown time".into())
                ),
            ),
            // Written by an earlier version, which recorded no rule: made together with the
            // rule (minutes after it) is proof; a template added later is not.
            (None, Some(created))
                if t.created_at.is_some_and(|at| {
                    at >= created && at - created <= chrono::Duration::minutes(LEGACY_WINDOW_MINUTES)
                }) =>
            {
                Owned::new(
                    ManagedBy::EchoOnboard,
                    format!(
                        "echo-onboard's creation template for {} was created with the rule",
                        rule.prefix
                    ),
                )
            }
            (None, _) => Owned::new(
                ManagedBy::Other,
                format!(
                    "the creation template for {} does not record which rule echo-onboard made, and was not created with it",
                    rule.prefix
                ),
            ),
        },
        Some(t) if matches!(t.managed_by(), ManagedBy::CloudFormation(_)) => Owned::new(
            ManagedBy::Other,
            format!(
                "its creation template names {}, but no stack holds the rule",
                t.managed_by().label()
            ),
        ),
        _ => Owned::new(ManagedBy::Other, "no stack holds it and echo-onboard has no record of it"),
    }
}

/// Whether a rule's owner needs the stack lookup: everything but the tool's API method, whose
/// proof (the role's or template's creation record) needs no stack.
pub fn needs_stack_lookup(
    rule_: &CacheRule,
    role_of_rule: Option<&ObservedRole>,
    template: Option<&CreationTemplate>,
) -> bool {
    !rule(rule_, role_of_rule, template, None).by.is_ours()
}

/// Who made a credential secret: its creation tags (a stack's secret carries
/// `aws:cloudformation:stack-name`).
pub fn secret(s: &ObservedSecret, prefix: &str) -> Owned {
    let by = ManagedBy::from_tags(&s.tags);
    let for_prefix = s.tags.get(PREFIX_TAG_KEY).map(String::as_str) == Some(prefix);
    match by {
        ManagedBy::EchoOnboard if for_prefix => Owned::new(
            by,
            format!(
                "secret {} was created by echo-onboard for prefix {prefix}",
                s.name
            ),
        ),
        ManagedBy::EchoOnboard => Owned::new(
            ManagedBy::Other,
            format!(
                "secret {} was created by echo-onboard for another prefix",
                s.name
            ),
        ),
        other => Owned::new(
            other,
            format!(
                "secret {} carries no echo-onboard tag for prefix {prefix}",
                s.name
            ),
        ),
    }
}

/// What a teardown with `--delete-cached-repos` does with one repository under the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoFate {
    Delete(String),
    Keep(String),
}

/// A repository is the cache's when it carries the tag the tool's creation template puts on
/// what the cache creates, or (for a prefix other than ROOT, where the name proves nothing)
/// when it was created at or after the rule. `tags` is `None` when they were not read.
pub fn cached_repository(
    repo: &RepositoryInfo,
    rule_created: Option<DateTime<Utc>>,
    tags: Option<&BTreeMap<String, String>>,
) -> RepoFate {
    if tags.is_some_and(tagged_ours) {
        return RepoFate::Delete(format!(
            "tagged {MANAGED_BY_KEY}={MANAGED_BY_VALUE} by echo-onboard's creation template"
        ));
    }
    if repo.rule_prefix == ROOT {
        return RepoFate::Keep(
            "not tagged by echo-onboard's creation template (under ROOT a name proves nothing)"
                .into(),
        );
    }
    match (rule_created, repo.created_at) {
        (Some(rule), Some(created)) if created >= rule => RepoFate::Delete(format!(
            "created by the cache ({} after the rule, {})",
            created.format("%Y-%m-%d %H:%M:%S UTC"),
            rule.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        (Some(rule), Some(created)) => RepoFate::Keep(format!(
            "older than the rule (created {}, the rule {}): not made by the cache",
            created.format("%Y-%m-%d"),
            rule.format("%Y-%m-%d")
        )),
        (None, _) => RepoFate::Keep(
            "no rule to compare its creation time with, and not tagged by echo-onboard".into(),
        ),
        (_, None) => RepoFate::Keep("its creation time is unknown".into()),
    }
}

/// Whether deciding a repository's fate needs its tags (one call each): only when its
/// creation time cannot already prove it was made by the cache.
pub fn needs_tags(repo: &RepositoryInfo, rule_created: Option<DateTime<Utc>>) -> bool {
    matches!(
        cached_repository(repo, rule_created, None),
        RepoFate::Keep(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn a_rule(prefix: &str, role: Option<&str>) -> CacheRule {
        CacheRule {
            prefix: prefix.into(),
            upstream_registry: "ecr".into(),
            upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: role.map(|r| format!("arn:aws:iam::444455556666:role/{r}")),
            credential_arn: None,
            created_at: Some(Utc::now() - Duration::days(10)),
            managed_by: ManagedBy::Other,
            owner_proof: String::new(),
        }
    }

    fn a_role(name: &str, t: BTreeMap<String, String>) -> ObservedRole {
        ObservedRole {
            name: name.into(),
            arn: format!("arn:aws:iam::444455556666:role/{name}"),
            trust: serde_json::Value::Null,
            inline_policies: BTreeMap::new(),
            managed_policies: None,
            tags: t,
        }
    }

    #[test]
    fn a_rule_is_ours_only_through_a_role_made_for_its_prefix() {
        let r = a_rule("echo", Some("role"));
        let ours = a_role(
            "role",
            tags(&[
                ("managed-by", "echo-onboard"),
                ("echo-onboard:prefix", "echo"),
            ]),
        );
        assert!(rule(&r, Some(&ours), None, None).by.is_ours());
        let other_prefix = a_role(
            "role",
            tags(&[
                ("managed-by", "echo-onboard"),
                ("echo-onboard:prefix", "team"),
            ]),
        );
        assert_eq!(
            rule(&r, Some(&other_prefix), None, None).by,
            ManagedBy::Other
        );
        assert_eq!(
            rule(&r, Some(&a_role("role", tags(&[]))), None, None).by,
            ManagedBy::Other
        );
        assert_eq!(rule(&r, None, None, None).by, ManagedBy::Other);
    }

    #[test]
    fn the_holding_stack_decides_and_its_tag_tells_ours_from_theirs() {
        let r = a_rule("echo", Some("echo-mirror-role"));
        let theirs = HoldingStack {
            name: "echo-mirror".into(),
            tags: tags(&[]),
        };
        let own = HoldingStack {
            name: "echo-registry-ecr-cache".into(),
            tags: tags(&[("managed-by", "echo-onboard")]),
        };
        let o = rule(&r, None, None, Some(Some(&theirs)));
        assert_eq!(o.by, ManagedBy::Stack("echo-mirror".into()));
        assert_eq!(
            o.by.describe(),
            "made by stack echo-mirror, not echo-onboard"
        );
        assert_eq!(
            rule(&r, None, None, Some(Some(&own))).by,
            ManagedBy::CloudFormation("echo-registry-ecr-cache".into())
        );
        // Our template's role tags name a stack; without a stack holding it, that is no proof.
        let tagged = a_role(
            "echo-mirror-role",
            tags(&[
                ("managed-by", "echo-onboard"),
                ("echo-onboard:prefix", "echo"),
                ("echo-onboard:stack", "x"),
            ]),
        );
        assert_eq!(
            rule(&r, Some(&tagged), None, Some(None)).by,
            ManagedBy::Other
        );
        assert!(needs_stack_lookup(&r, Some(&tagged), None));
    }

    fn marker(prefix: &str, rule_created: Option<DateTime<Utc>>) -> CreationTemplate {
        let mut t = crate::core::cache::desired_template(
            prefix,
            &crate::core::cache::CacheSettings::default(),
            None,
            false,
        );
        t.record_rule(rule_created);
        t
    }

    #[test]
    fn a_rule_without_a_role_is_ours_only_when_our_template_records_that_very_rule() {
        let r = a_rule("ecr-public", None);
        assert_eq!(rule(&r, None, None, None).by, ManagedBy::Other);
        assert!(
            rule(&r, None, Some(&marker("ecr-public", r.created_at)), None)
                .by
                .is_ours()
        );
        // A marker written for an earlier rule of the same prefix proves nothing now.
        let earlier = marker(
            "ecr-public",
            Some(r.created_at.unwrap() - Duration::days(3)),
        );
        assert_eq!(rule(&r, None, Some(&earlier), None).by, ManagedBy::Other);
        // A legacy marker (no record of the rule) is no proof either.
        let mut legacy = marker("ecr-public", None);
        legacy.description =
            "Managed by echo-onboard: repositories the cache creates under ecr-public".into();
        legacy.created_at = Some(r.created_at.unwrap() + Duration::days(2));
        assert_eq!(rule(&r, None, Some(&legacy), None).by, ManagedBy::Other);
        // ... unless it was made with the rule, as earlier versions did.
        legacy.created_at = Some(r.created_at.unwrap() + Duration::seconds(2));
        assert!(rule(&r, None, Some(&legacy), None).by.is_ours());
    }

    fn repo(name: &str, prefix: &str, created: DateTime<Utc>) -> RepositoryInfo {
        RepositoryInfo {
            name: name.into(),
            rule_prefix: prefix.into(),
            details: None,
            pull_count_30d: 0,
            pulls_by_day: vec![],
            settings: None,
            created_at: Some(created),
            arn: String::new(),
        }
    }

    #[test]
    fn cached_repositories_are_proven_by_time_or_tag_and_root_only_by_tag() {
        let rule_at = Utc::now() - Duration::days(10);
        let before = repo("echo/handmade", "echo", rule_at - Duration::days(1));
        let after = repo("echo/nginx", "echo", rule_at + Duration::hours(1));
        assert!(matches!(
            cached_repository(&after, Some(rule_at), None),
            RepoFate::Delete(_)
        ));
        assert!(
            matches!(cached_repository(&before, Some(rule_at), None), RepoFate::Keep(why) if why.contains("older than the rule"))
        );
        assert!(needs_tags(&before, Some(rule_at)) && !needs_tags(&after, Some(rule_at)));
        let tagged = tags(&[("managed-by", "echo-onboard")]);
        assert!(matches!(
            cached_repository(&before, Some(rule_at), Some(&tagged)),
            RepoFate::Delete(_)
        ));
        let root_new = repo("myapp/api", "ROOT", rule_at + Duration::days(1));
        assert!(matches!(
            cached_repository(&root_new, Some(rule_at), Some(&tags(&[]))),
            RepoFate::Keep(_)
        ));
        assert!(matches!(
            cached_repository(&root_new, Some(rule_at), Some(&tagged)),
            RepoFate::Delete(_)
        ));
        // No rule left (a teardown that stopped half way): only the tag proves.
        assert!(matches!(
            cached_repository(&after, None, None),
            RepoFate::Keep(_)
        ));
    }

    #[test]
    fn secrets_are_ours_only_for_their_prefix() {
        let s = |t| ObservedSecret {
            arn: "arn".into(),
            name: "ecr-pullthroughcache/hub".into(),
            tags: t,
            deleted_at: None,
            current_version: None,
            keys: None,
            value_matches: None,
            unreadable: None,
            kms_key_id: None,
        };
        assert!(secret(
            &s(tags(&[
                ("managed-by", "echo-onboard"),
                ("echo-onboard:prefix", "hub")
            ])),
            "hub"
        )
        .by
        .is_ours());
        assert!(!secret(
            &s(tags(&[
                ("managed-by", "echo-onboard"),
                ("echo-onboard:prefix", "x")
            ])),
            "hub"
        )
        .by
        .is_ours());
        assert!(!secret(&s(tags(&[])), "hub").by.is_ours());
    }
}
