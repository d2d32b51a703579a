//! Reads an account in parallel, each read starting as soon as its inputs exist: identity,
//! rules, the named role and the repository listing at once; the rules' roles as soon as the
//! rules are in (their tags say who manages each rule); the 30-day pull counts as soon as rules
//! and repositories are in. Per-image details (one call per repository) only when asked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::aws::{Aws, AwsError, AwsResult, RepoSummary};
use crate::core::cache::CacheObserved;
use crate::core::model::{
    CacheRule, DailyPulls, Identity, ManagedBy, Observed, ObservedRole, ObservedSecret,
    RepoDetails, RepositoryInfo, PULL_DAYS,
};
use crate::core::ownership::{self, HoldingStack, Owned};
use crate::core::upstream::Token;
use crate::core::validate::{RepoPrefix, STACK_TAG_KEY};
use crate::engine::events::{emit, Event, EventSender};

/// Repositories per CloudWatch `GetMetricData` call (the API's limit on queries).
pub const METRIC_BATCH: usize = 500;
/// Concurrent `DescribeImages` calls.
pub const IMAGE_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The role the setup names (read even when no rule uses it).
    pub role_name: Option<String>,
    /// Read the cached repositories and their 30-day pull counts (status, dashboard).
    pub usage: bool,
    /// Also read every cached repository's images (count, size, last pull): one
    /// `DescribeImages` per repository, so off the critical path of the dashboard.
    pub details: bool,
    /// Read the rules' roles only as far as their tags (who manages the rule), not their
    /// policies: what status and the dashboard need.
    pub rule_roles_tags_only: bool,
    /// Also count repositories under this prefix as cached when no rule covers them any more
    /// (what a half-finished teardown leaves behind).
    pub prefix: Option<String>,
    /// Where to report progress of long detail listings.
    pub progress: Option<EventSender>,
    /// Read creation templates and the scanning configuration.
    pub cache: CacheReads,
    /// With the cache reads: the registry's pull-time-update exclusions (plans and teardowns
    /// only: views do not show them).
    pub pull_time_exclusions: bool,
    /// Read this credential secret (and check its value).
    pub secret: Option<SecretRead>,
    /// Ask CloudFormation which stack holds only this prefix's rule (a plan or teardown of
    /// one prefix); `None`: every rule the tool cannot prove its own (status, dashboard).
    pub stacks_for: Option<String>,
    /// Send the usage read in parts as they arrive (the dashboard): the rules first, then
    /// the busiest repositories, each listing page and each batch of counts. The cached
    /// repositories then go only to the receiver (the result's list is empty), so they are
    /// held once.
    pub stream: Option<PartSender>,
    /// Read repositories, counts and cache settings only in a region that has rules (or
    /// `prefix`): for views over every region, where most have none and their reads would
    /// only compete with the region that matters. Costs no round trip on the way to the
    /// rules' owners (the roles are read after the rules too).
    pub only_with_rules: bool,
}

/// A part of one region's observation, in the order a view can show it.
#[derive(Debug, Clone)]
pub enum Part {
    /// Identity, rules (their owners proven), roles and cache settings: everything but the
    /// repositories.
    Rules(Box<Observed>),
    /// The busiest cached repositories and their recent pulls, busiest first (one Metrics
    /// Insights query: a hint for the first rows; the counts replace it).
    Busiest(Vec<(String, u64)>),
    /// A listing page's cached repositories, without pull counts yet.
    Repositories(Vec<RepositoryInfo>),
    /// 30-day pull counts of one batch of repositories.
    Counts(Vec<(String, DailyPulls)>),
}

/// A part and the region it belongs to.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub region: String,
    pub part: Part,
}

pub type PartSender = tokio::sync::mpsc::UnboundedSender<Streamed>;

fn send_part(scope: &Scope, region: &str, part: Part) {
    if let Some(tx) = &scope.stream {
        // A view that stopped listening does not stop the read.
        let _ = tx.send(Streamed {
            region: region.to_string(),
            part,
        });
    }
}

/// A listed repository as a row: what the listing says, no counts or details yet.
fn repository_info(r: RepoSummary, prefix: String) -> RepositoryInfo {
    RepositoryInfo {
        created_at: r.created_at,
        arn: r.arn,
        details: None,
        pull_count_30d: 0,
        pulls_by_day: vec![],
        name: r.name,
        rule_prefix: prefix,
        settings: r.settings,
    }
}

/// A secret to describe and whose value to check (keys; equality with `expect`).
#[derive(Debug, Clone)]
pub struct SecretRead {
    /// Name or ARN.
    pub id: String,
    pub expect: Option<(String, Token)>,
    /// Read the value (its keys, and equality with `expect`); teardown needs the tags only.
    pub value: bool,
}

/// Describes the secret, then checks its value unless it is scheduled for deletion (a value
/// that cannot be read is recorded, not fatal: the plan says what to do about it).
pub async fn read_secret(aws: &dyn Aws, read: &SecretRead) -> AwsResult<Option<ObservedSecret>> {
    let Some(mut secret) = aws.describe_secret(&read.id).await? else {
        return Ok(None);
    };
    if read.value && secret.deleted_at.is_none() {
        let expect = read.expect.as_ref().map(|(u, t)| (u.as_str(), t));
        match aws.check_secret(&secret.arn, expect).await {
            Ok(check) => {
                secret.keys = Some(check.keys);
                secret.value_matches = check.matches;
            }
            Err(e) => secret.unreadable = Some(format!("{} [{}]", e.message, e.code)),
        }
    }
    Ok(Some(secret))
}

/// Whether a view reads cache settings, and whether it can go on without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheReads {
    #[default]
    Skip,
    /// A setup with cache settings: a failed read stops the plan.
    Required,
    /// Status and teardown: a failed read is reported and the rest goes on.
    BestEffort,
}

fn role_name_of(arn: &str, account: &str) -> Option<String> {
    let (head, name) = arn.rsplit_once('/')?;
    head.contains(&format!(":{account}:"))
        .then(|| name.to_string())
}

/// The most specific rule prefix covering a repository name.
pub fn rule_for<'a>(rules: &'a [CacheRule], repo: &str) -> Option<&'a CacheRule> {
    Coverage::of(rules).rule_for(repo)
}

/// The rules' prefixes, parsed once for many repository names (a listing of 50,000).
pub struct Coverage<'a>(Vec<(RepoPrefix, &'a CacheRule)>);

impl<'a> Coverage<'a> {
    pub fn of(rules: &'a [CacheRule]) -> Self {
        Self(
            rules
                .iter()
                .filter_map(|r| Some((RepoPrefix::parse("prefix", &r.prefix).ok()?, r)))
                .collect(),
        )
    }

    /// The most specific rule covering `repo`.
    pub fn rule_for(&self, repo: &str) -> Option<&'a CacheRule> {
        self.0
            .iter()
            .filter(|(p, _)| p.covers(repo))
            .max_by_key(|(p, r)| if p.is_root() { 0 } else { r.prefix.len() })
            .map(|(_, r)| *r)
    }
}

/// Image count, size and last pull of each repository, `IMAGE_CONCURRENCY` at a time, in the
/// order given as far as concurrency allows (callers put what is on screen first).
pub fn repository_details(
    aws: &dyn Aws,
    names: Vec<String>,
) -> BoxStream<'_, (String, AwsResult<RepoDetails>)> {
    stream::iter(names.into_iter().map(
        move |n| -> BoxFuture<'_, (String, AwsResult<RepoDetails>)> {
            Box::pin(async move {
                let details = aws.list_images(&n).await.map(|i| RepoDetails::of(&i));
                (n, details)
            })
        },
    ))
    .buffer_unordered(IMAGE_CONCURRENCY)
    .boxed()
}

/// Where the parts of a streamed observation go: the rules first, so anything read before
/// them waits here until they are sent.
struct Outbox<'a> {
    scope: &'a Scope,
    region: &'a str,
    /// `Some` until the rules are sent.
    held: std::sync::Mutex<Option<Vec<Part>>>,
}

impl Outbox<'_> {
    fn streaming(&self) -> bool {
        self.scope.stream.is_some()
    }

    fn send(&self, part: Part) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(waiting) => waiting.push(part),
            None => send_part(self.scope, self.region, part),
        }
    }

    fn rules(&self, observed: &Observed) {
        if !self.streaming() {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        send_part(
            self.scope,
            self.region,
            Part::Rules(Box::new(observed.clone())),
        );
        for part in held.take().unwrap_or_default() {
            send_part(self.scope, self.region, part);
        }
    }
}

pub async fn observe(aws: &dyn Aws, region: &str, scope: &Scope) -> AwsResult<Observed> {
    let outbox = Outbox {
        scope,
        region,
        held: std::sync::Mutex::new(Some(vec![])),
    };
    let outbox = &outbox;
    let named_role = async {
        match &scope.role_name {
            Some(n) => aws.get_role(n).await,
            None => Ok(None),
        }
    }
    .boxed()
    .shared();
    // A setup plan needs no repositories: only usage views and teardown list them.
    let wants_repositories = scope.usage || scope.prefix.is_some();
    // Each listing page goes to the pull counts as soon as it is in: the counts of page N
    // are read while page N+1 is (the pages are sequential by nature; the counts need not be).
    let base = futures::future::try_join(aws.caller_identity(), aws.list_cache_rules())
        .boxed()
        .shared();
    let needed = {
        let base = base.clone();
        async move {
            if !scope.only_with_rules || scope.prefix.is_some() {
                return true;
            }
            base.await.is_ok_and(|(_, rules)| !rules.is_empty())
        }
    }
    .boxed()
    .shared();
    let (page_tx, mut page_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<RepoSummary>>();
    let listing = {
        let needed = needed.clone();
        async move {
            if !wants_repositories || !needed.await {
                return Ok(());
            }
            let on_page = move |page: Vec<RepoSummary>| {
                let _ = page_tx.send(page);
            };
            aws.list_repositories_paged(&on_page).await
        }
    };
    // Whole UTC days ending with today, so each bar of the chart is one day.
    let end = crate::core::model::pull_window_end(Utc::now());
    // The cached repositories page by page, each page's counts read while the next page is
    // listed; streamed (and not kept) when the view streams.
    let cached = {
        let base = base.clone();
        async move {
            let mut kept: Vec<(RepoSummary, String)> = vec![];
            let mut counts = std::collections::HashMap::new();
            let (_, rules) = base.await?;
            let read = |names: Vec<String>| -> BoxFuture<'_, AwsResult<_>> {
                Box::pin(async move { aws.daily_pulls(&names, end, PULL_DAYS).await })
            };
            let mut waiting: Vec<String> = vec![];
            let mut inflight = futures::stream::FuturesUnordered::new();
            let mut counted = |done: std::collections::HashMap<String, DailyPulls>| {
                if outbox.streaming() {
                    outbox.send(Part::Counts(done.into_iter().collect()));
                } else {
                    counts.extend(done);
                }
            };
            loop {
                tokio::select! {
                    page = page_rx.recv() => match page {
                        Some(page) => {
                            let page = cached_repositories(page, &rules, scope.prefix.as_deref());
                            if scope.usage {
                                waiting.extend(page.iter().map(|(r, _)| r.name.clone()));
                            }
                            // Full batches only, so the call count stays N / METRIC_BATCH.
                            while waiting.len() >= METRIC_BATCH {
                                inflight.push(read(waiting.drain(..METRIC_BATCH).collect()));
                            }
                            if outbox.streaming() {
                                outbox.send(Part::Repositories(
                                    page.into_iter()
                                        .map(|(r, prefix)| repository_info(r, prefix))
                                        .collect(),
                                ));
                            } else {
                                kept.extend(page);
                            }
                        }
                        None => break,
                    },
                    Some(done) = inflight.next(), if !inflight.is_empty() => counted(done?),
                }
            }
            if !waiting.is_empty() {
                inflight.push(read(std::mem::take(&mut waiting)));
            }
            while let Some(done) = inflight.next().await {
                counted(done?);
            }
            Ok::<_, AwsError>((kept, counts))
        }
    };
    // The busiest repositories first, for a view that streams: one query beside the listing.
    let busiest = {
        let (base, needed) = (base.clone(), needed.clone());
        async move {
            if !(outbox.streaming() && scope.usage && needed.await) {
                return;
            }
            let (base, busiest) =
                futures::future::join(base, aws.busiest_repositories(end, PULL_DAYS)).await;
            match (base, busiest) {
                (Ok((_, rules)), Ok(busiest)) => {
                    let orphan = scope
                        .prefix
                        .as_deref()
                        .and_then(|p| RepoPrefix::parse("prefix", p).ok())
                        .filter(|p| !p.is_root());
                    let coverage = Coverage::of(&rules);
                    let cached = busiest
                        .into_iter()
                        .filter(|(name, _)| {
                            coverage.rule_for(name).is_some()
                                || orphan.as_ref().is_some_and(|p| p.covers(name))
                        })
                        .collect();
                    outbox.send(Part::Busiest(cached));
                }
                // Only a hint for the order of the first rows: the counts follow anyway.
                (_, Err(e)) => tracing::debug!("busiest repositories not read: {e}"),
                (Err(_), _) => {}
            }
        }
    };

    // The rules' roles need only the rules (and the account, read alongside).
    let rule_roles = {
        let base = base.clone();
        let skip = scope.role_name.clone();
        async move {
            let (identity, rules): (Identity, Vec<CacheRule>) = base.await?;
            let names: BTreeSet<String> = rules
                .iter()
                .filter_map(|r| {
                    r.role_arn
                        .as_deref()
                        .and_then(|a| role_name_of(a, &identity.account))
                })
                .filter(|n| Some(n) != skip.as_ref())
                .collect();
            // Boxed so callers that spawn observation can prove they are Send.
            let roles: Vec<Option<ObservedRole>> = stream::iter(names.into_iter().map(
                |n| -> BoxFuture<'_, AwsResult<Option<ObservedRole>>> {
                    Box::pin(async move {
                        if scope.rule_roles_tags_only {
                            aws.get_role_summary(&n).await
                        } else {
                            aws.get_role(&n).await
                        }
                    })
                },
            ))
            .buffer_unordered(IMAGE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
            Ok::<_, AwsError>(roles)
        }
    }
    .boxed()
    .shared();

    // Usage needs the rules (which repositories are cached) and the listing.
    let usage = async move {
        let ((), (cached, counts)) = futures::try_join!(listing, cached)?;
        let names: Vec<String> = cached.iter().map(|(r, _)| r.name.clone()).collect();
        let details = async {
            if !(scope.usage && scope.details) {
                return Ok(BTreeMap::new());
            }
            let total = names.len();
            let mut out = BTreeMap::new();
            let mut all = repository_details(aws, names.clone());
            while let Some((name, details)) = all.next().await {
                out.insert(name, details?);
                if let Some(tx) = &scope.progress {
                    if out.len() % 250 == 0 || out.len() == total {
                        emit(
                            tx,
                            Event::Progress {
                                label: "reading images of cached repositories".into(),
                                done: out.len(),
                                total,
                            },
                        );
                    }
                }
            }
            Ok::<_, AwsError>(out)
        };
        let (mut counts, mut details) = (counts, details.await?);
        Ok::<_, AwsError>(
            cached
                .into_iter()
                .map(|(r, prefix)| {
                    let days = counts.remove(&r.name).unwrap_or_default();
                    let mut info = repository_info(r, prefix);
                    info.details = details.remove(&info.name);
                    info.pull_count_30d = days.iter().sum();
                    info.pulls_by_day = days;
                    info
                })
                .collect::<Vec<_>>(),
        )
    };

    let cache = async {
        if scope.cache == CacheReads::Skip || !needed.await {
            return Ok(CacheObserved::default());
        }
        // Exclusions only for plans and teardowns, read alongside; an account that may not
        // list them still gets its templates and scanning (the plan asks for them only when
        // they matter).
        let exclusions = async {
            if scope.pull_time_exclusions {
                Some(aws.list_pull_time_exclusions().await)
            } else {
                None
            }
        };
        let (both, exclusions) = futures::join!(
            async {
                futures::try_join!(aws.list_creation_templates(), aws.scanning_configuration())
            },
            exclusions
        );
        let (pull_time_exclusions, exclusions_unread) = match exclusions {
            Some(Ok(v)) => (Some(v), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (None, None),
        };
        match both {
            Ok((templates, scanning)) => Ok(CacheObserved {
                templates,
                scanning: Some(scanning),
                unread: None,
                pull_time_exclusions,
                exclusions_unread,
            }),
            Err(e) if scope.cache == CacheReads::BestEffort => Ok(CacheObserved {
                unread: Some(e.to_string()),
                ..Default::default()
            }),
            Err(e) => Err(e),
        }
    }
    .boxed()
    .shared();
    // Who holds the rules this tool cannot prove its own, asked of CloudFormation as soon
    // as the rules, their roles and the templates are in.
    let holders = {
        let (base, rule_roles, cache, named_role) = (
            base.clone(),
            rule_roles.clone(),
            cache.clone(),
            named_role.clone(),
        );
        async move {
            let ((_, rules), roles, cache, named) =
                futures::try_join!(base, rule_roles, cache, named_role)?;
            let by_arn: BTreeMap<&str, &ObservedRole> = roles
                .iter()
                .flatten()
                .chain(named.iter())
                .map(|r| (r.arn.as_str(), r))
                .collect();
            let wanted: Vec<(&CacheRule, Option<&str>)> = rules
                .iter()
                .filter(|r| scope.stacks_for.as_ref().is_none_or(|p| *p == r.prefix))
                .filter_map(|r| {
                    let role = r.role_arn.as_deref().and_then(|a| by_arn.get(a).copied());
                    ownership::needs_stack_lookup(r, role, cache.template(&r.prefix)).then(|| {
                        let named = role
                            .and_then(|r| r.tags.get(STACK_TAG_KEY))
                            .map(String::as_str);
                        (r, named)
                    })
                })
                .collect();
            Ok::<_, AwsError>(holding_stacks(aws, &wanted).await)
        }
    };
    // The rules with their owners: everything but the repositories, sent first.
    let rules = async move {
        let ((identity, mut rules), role, rule_roles, cache, holders) =
            futures::try_join!(base, named_role, rule_roles, cache, holders)?;
        let roles_by_arn: BTreeMap<String, ObservedRole> = rule_roles
            .into_iter()
            .flatten()
            .chain(role.clone())
            .map(|r| (r.arn.clone(), r))
            .collect();
        for rule in &mut rules {
            let role = rule.role_arn.as_ref().and_then(|a| roles_by_arn.get(a));
            let owned = match holders.get(&rule.prefix) {
                Some(Err(why)) => Owned {
                    by: ManagedBy::Other,
                    proof: format!("not proven to be echo-onboard's, and CloudFormation could not be asked which stack holds it ({why})"),
                },
                held => ownership::rule(
                    rule,
                    role,
                    cache.template(&rule.prefix),
                    held.map(|h| h.as_ref().ok().and_then(Option::as_ref)),
                ),
            };
            rule.managed_by = owned.by;
            rule.owner_proof = owned.proof;
        }
        let observed = Observed {
            secret: None,
            cache,
            identity,
            region: region.to_string(),
            rules,
            role,
            roles: roles_by_arn.into_values().collect(),
            repositories: vec![],
        };
        outbox.rules(&observed);
        Ok::<_, AwsError>(observed)
    };
    let secret = async {
        match &scope.secret {
            Some(read) => read_secret(aws, read).await,
            None => Ok(None),
        }
    };
    let (mut observed, repositories, secret, ()) =
        futures::try_join!(rules, usage, secret, busiest.map(Ok::<_, AwsError>))?;
    observed.secret = secret;
    observed.repositories = repositories;
    Ok(observed)
}

/// For each rule, the stack holding it (by its prefix, the rule's physical id), with the
/// stack's tags; or why CloudFormation could not be asked.
/// When CloudFormation cannot be asked which stack holds a rule (no
/// `cloudformation:DescribeStackResources`), the stack the rule's role names is asked
/// instead: it holds the rule when it exists, was made by this tool and has that prefix.
async fn holding_stacks(
    aws: &dyn Aws,
    rules: &[(&CacheRule, Option<&str>)],
) -> BTreeMap<String, Result<Option<HoldingStack>, String>> {
    let lookups = rules.iter().map(|(r, named)| async move {
        let held = async {
            let name = match aws.stack_holding(&r.prefix).await {
                Ok(Some(name)) => name,
                Ok(None) => return Ok(None),
                Err(e) => {
                    let Some(name) = named else { return Err(e) };
                    let Some(s) = aws.describe_stack(name).await.ok().flatten() else {
                        return Err(e);
                    };
                    let held = HoldingStack {
                        name: s.name,
                        tags: s.tags,
                    };
                    let prefix = s.parameters.get("RepositoryNamePrefix");
                    return match (ownership::stack(&held).by, prefix) {
                        (ManagedBy::CloudFormation(_), Some(p)) if *p == r.prefix => Ok(Some(held)),
                        _ => Err(e),
                    };
                }
            };
            // A stack that vanished between the two calls holds nothing.
            Ok::<_, AwsError>(aws.describe_stack(&name).await?.map(|s| HoldingStack {
                name: s.name,
                tags: s.tags,
            }))
        };
        (
            r.prefix.clone(),
            held.await
                .map_err(|e| format!("{} [{}]", e.message, e.code)),
        )
    });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .collect()
}

/// The repositories a rule covers (with the rule's prefix), plus those under `orphan_prefix`
/// that no rule covers any more.
fn cached_repositories(
    repos: Vec<RepoSummary>,
    rules: &[CacheRule],
    orphan_prefix: Option<&str>,
) -> Vec<(RepoSummary, String)> {
    let orphan_prefix = orphan_prefix.and_then(|p| RepoPrefix::parse("prefix", p).ok());
    let coverage = Coverage::of(rules);
    repos
        .into_iter()
        .filter_map(|r| match coverage.rule_for(&r.name) {
            Some(rule) => {
                let prefix = rule.prefix.clone();
                Some((r, prefix))
            }
            None => orphan_prefix
                .as_ref()
                .filter(|p| !p.is_root() && p.covers(&r.name))
                .map(|p| (r, p.to_string())),
        })
        .collect()
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
            owner_proof: String::new(),
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
