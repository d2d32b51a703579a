//! Reads an account in parallel: identity, rules, the named role and the repositories first;
//! then, from those, the rules' roles (to tell who manages each rule), every cached
//! repository's images and the 30-day pull counts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, DurationRound, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::{Aws, AwsResult, RepoSummary};
use crate::core::model::{CacheRule, ImageInfo, ManagedBy, Observed, ObservedRole, RepositoryInfo};
use crate::core::validate::RepoPrefix;

/// Repositories per CloudWatch `GetMetricData` call (the API's limit on queries).
pub const METRIC_BATCH: usize = 500;
/// Concurrent `DescribeImages` calls.
pub const IMAGE_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The role the setup names (read even when no rule uses it).
    pub role_name: Option<String>,
    /// Read images and pull counts of cached repositories (status, dashboard).
    pub usage: bool,
    /// Also count repositories under this prefix as cached when no rule covers them any more
    /// (what a half-finished teardown leaves behind).
    pub prefix: Option<String>,
}

fn role_name_of(arn: &str, account: &str) -> Option<String> {
    let (head, name) = arn.rsplit_once('/')?;
    head.contains(&format!(":{account}:"))
        .then(|| name.to_string())
}

/// The most specific rule prefix covering a repository name.
pub fn rule_for<'a>(rules: &'a [CacheRule], repo: &str) -> Option<&'a CacheRule> {
    rules
        .iter()
        .filter(|r| RepoPrefix::parse("prefix", &r.prefix).is_ok_and(|p| p.covers(repo)))
        .max_by_key(|r| {
            if r.prefix == crate::core::validate::ROOT {
                0
            } else {
                r.prefix.len()
            }
        })
}

pub async fn observe(aws: &dyn Aws, region: &str, scope: &Scope) -> AwsResult<Observed> {
    let named_role = async {
        match &scope.role_name {
            Some(n) => aws.get_role(n).await,
            None => Ok(None),
        }
    };
    // A setup plan needs no repositories: only usage views and teardown list them.
    let wants_repositories = scope.usage || scope.prefix.is_some();
    let repositories = async {
        if wants_repositories {
            aws.list_repositories().await
        } else {
            Ok(vec![])
        }
    };
    let (identity, mut rules, role, repos) = futures::try_join!(
        aws.caller_identity(),
        aws.list_cache_rules(),
        named_role,
        repositories
    )?;

    let mut role_names: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| {
            r.role_arn
                .as_deref()
                .and_then(|a| role_name_of(a, &identity.account))
        })
        .collect();
    if let Some(r) = &role {
        role_names.remove(&r.name);
    }
    let orphan_prefix = scope
        .prefix
        .as_deref()
        .and_then(|p| RepoPrefix::parse("prefix", p).ok());
    let cached: Vec<(RepoSummary, String)> = repos
        .into_iter()
        .filter_map(|r| match rule_for(&rules, &r.name) {
            Some(rule) => Some((r.clone(), rule.prefix.clone())),
            None => orphan_prefix
                .as_ref()
                .filter(|p| !p.is_root() && p.covers(&r.name))
                .map(|p| (r.clone(), p.to_string())),
        })
        .collect();
    let names: Vec<String> = cached.iter().map(|(r, _)| r.name.clone()).collect();

    // The futures are boxed so callers that spawn observation can prove they are Send.
    let rule_roles = stream::iter(role_names.into_iter().map(
        |n| -> BoxFuture<'_, AwsResult<Option<ObservedRole>>> {
            Box::pin(async move { aws.get_role(&n).await })
        },
    ))
    .buffer_unordered(IMAGE_CONCURRENCY)
    .try_collect::<Vec<_>>();
    let images = async {
        if !scope.usage {
            return Ok(BTreeMap::new());
        }
        // Owned names: a closure over `&String` makes the future's Send proof higher-ranked.
        stream::iter(names.clone().into_iter().map(
            |n| -> BoxFuture<'_, AwsResult<(String, Vec<ImageInfo>)>> {
                Box::pin(async move { aws.list_images(&n).await.map(|i| (n, i)) })
            },
        ))
        .buffer_unordered(IMAGE_CONCURRENCY)
        .try_collect::<BTreeMap<_, _>>()
        .await
    };
    let counts = async {
        if !scope.usage || names.is_empty() {
            return Ok(Default::default());
        }
        // Up to the end of the current minute, so pulls of the last seconds are counted.
        let end = Utc::now()
            .duration_trunc(Duration::minutes(1))
            .unwrap_or_else(|_| Utc::now())
            + Duration::minutes(1);
        aws.pull_counts(&names, end - Duration::days(30), end).await
    };
    let (rule_roles, images, counts) = futures::try_join!(rule_roles, images, counts)?;

    let roles_by_arn: BTreeMap<String, ObservedRole> = rule_roles
        .into_iter()
        .flatten()
        .chain(role.clone())
        .map(|r| (r.arn.clone(), r))
        .collect();
    for rule in &mut rules {
        rule.managed_by = rule
            .role_arn
            .as_ref()
            .and_then(|a| roles_by_arn.get(a))
            .map(ObservedRole::managed_by)
            .unwrap_or(ManagedBy::Other);
    }
    let repositories = cached
        .into_iter()
        .map(|(r, prefix)| {
            let imgs = images.get(&r.name);
            RepositoryInfo {
                image_count: imgs.map_or(0, Vec::len),
                size_bytes: imgs.map_or(0, |i| i.iter().map(|x| x.size_bytes).sum()),
                last_pulled_at: imgs.and_then(|i| i.iter().filter_map(|x| x.last_pulled_at).max()),
                pull_count_30d: counts.get(&r.name).copied().unwrap_or(0),
                name: r.name,
                rule_prefix: prefix,
            }
        })
        .collect();
    Ok(Observed {
        identity,
        region: region.to_string(),
        rules,
        role,
        roles: roles_by_arn.into_values().collect(),
        repositories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str) -> CacheRule {
        CacheRule {
            prefix: prefix.into(),
            upstream_registry: "ecr".into(),
            upstream_url: "u".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: None,
            credential_arn: None,
            created_at: None,
            managed_by: ManagedBy::Other,
        }
    }

    #[test]
    fn most_specific_rule_wins() {
        let rules = vec![rule("ROOT"), rule("echo"), rule("echo/prod")];
        assert_eq!(
            rule_for(&rules, "echo/prod/python").unwrap().prefix,
            "echo/prod"
        );
        assert_eq!(rule_for(&rules, "echo/python").unwrap().prefix, "echo");
        assert_eq!(rule_for(&rules, "mine").unwrap().prefix, "ROOT");
        assert!(rule_for(&rules[1..], "mine").is_none());
    }

    #[test]
    fn role_names_only_from_own_account() {
        assert_eq!(
            role_name_of("arn:aws:iam::444455556666:role/path/r", "444455556666").as_deref(),
            Some("r")
        );
        assert_eq!(
            role_name_of("arn:aws:iam::111122223333:role/r", "444455556666"),
            None
        );
    }
}
