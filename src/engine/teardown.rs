//! Tears down what a teardown plan lists: the cached repositories when asked, then the rule
//! and the role's inline policies together, then the role. Deletions cannot be
//! undone, so on failure the user gets what was deleted and what remains.

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::events::{emit, Event, EventSender};
use crate::aws::{Aws, AwsError, ErrorKind};
use crate::core::model::ObservedRole;
use crate::core::plan::{Action, Plan, ResourceChange, ResourceKind};

#[derive(Debug, Clone, Serialize)]
pub struct TeardownOutcome {
    pub deleted: Vec<String>,
    pub left_alone: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeardownFailure {
    pub error: AwsError,
    pub deleted: Vec<String>,
    pub remaining: Vec<String>,
}

const REPO_CONCURRENCY: usize = 4;

/// Reports a row's deletion as done or failed.
type Finished<'a> = dyn Fn(usize, &ResourceChange, &Result<(), AwsError>) + Sync + 'a;

/// Deletes a group of rows together (each already reported as started), reports each as it
/// ends and records what went; the first error, once every delete of the group is done.
async fn delete_group<'c, F, Fut>(
    rows: &[&(usize, &&'c ResourceChange)],
    delete: F,
    finished: &Finished<'_>,
    deleted: &mut Vec<String>,
) -> Result<(), AwsError>
where
    F: Fn(&'c ResourceChange) -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let results = futures::future::join_all(rows.iter().map(|(_, c)| delete(c))).await;
    let mut first_error = None;
    for ((i, c), r) in rows.iter().zip(results) {
        finished(*i, c, &r);
        match r {
            Ok(()) => deleted.push(format!("{} {}", c.resource.label(), c.name)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn gone_is_fine(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
        other => other,
    }
}

/// The plan's rows that are kept, with why: what a teardown reports as left alone.
pub fn left_alone(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.action == Action::NoOp)
        .map(|c| {
            format!(
                "{} {} ({})",
                c.resource.label(),
                c.name,
                c.reason.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// Read, remove one filter, write: every other filter and the scan type stay as they are now.
async fn remove_scan_filter(aws: &dyn Aws, filter: &str) -> Result<(), AwsError> {
    let current = aws.scanning_configuration().await?;
    let after = current.without_filter(filter);
    if after != current {
        aws.put_scanning_configuration(&after).await?;
    }
    Ok(())
}

pub async fn teardown(
    aws: &dyn Aws,
    plan: &Plan,
    role: Option<&ObservedRole>,
    secret: Option<(&str, u32)>,
    tx: &EventSender,
) -> Result<TeardownOutcome, TeardownFailure> {
    let deletions: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    let left_alone = left_alone(plan);
    let total = deletions.len();
    let mut deleted = vec![];
    let label =
        |c: &crate::core::plan::ResourceChange| format!("delete {} {}", c.resource.label(), c.name);

    let (singles, repos): (Vec<_>, Vec<_>) = deletions
        .iter()
        .enumerate()
        .partition(|(_, c)| c.resource != ResourceKind::EcrRepository);
    let started = |i: usize, c: &ResourceChange| {
        emit(
            tx,
            Event::StepStarted {
                index: i + 1,
                total,
                label: label(c),
            },
        )
    };
    let finished = |i: usize, c: &ResourceChange, r: &Result<(), AwsError>| {
        let (index, label) = (i + 1, label(c));
        emit(
            tx,
            match r {
                Ok(()) => Event::StepDone {
                    index,
                    total,
                    label,
                },
                Err(e) => Event::StepFailed {
                    index,
                    total,
                    label,
                    error: e.to_string(),
                },
            },
        )
    };
    let rule = singles
        .iter()
        .find(|(_, c)| c.resource == ResourceKind::PullThroughCacheRule);
    let role_change = singles
        .iter()
        .find(|(_, c)| c.resource == ResourceKind::IamRole);
    let remaining_from = |done: &[String]| -> Vec<String> {
        deletions
            .iter()
            .map(|c| format!("{} {}", c.resource.label(), c.name))
            .filter(|n| !done.contains(n))
            .collect()
    };
    // The cached repositories go first: while their rule exists, a second run can still prove
    // which ones the cache made (by creation time), so a teardown stopped here finishes later.
    // Boxed so callers that spawn a teardown can prove the futures are Send.
    type Deletion<'a> = BoxFuture<'a, (ResourceChange, Result<(), AwsError>)>;
    let jobs: Vec<(usize, ResourceChange)> =
        repos.into_iter().map(|(i, c)| (i, (*c).clone())).collect();
    let results: Vec<_> = stream::iter(jobs.into_iter().map(|(i, c)| -> Deletion<'_> {
        Box::pin(async move {
            let c = &c;
            let index = i + 1;
            emit(
                tx,
                Event::StepStarted {
                    index,
                    total,
                    label: label(c),
                },
            );
            let r = gone_is_fine(aws.delete_repository(&c.name).await);
            match &r {
                Ok(()) => emit(
                    tx,
                    Event::StepDone {
                        index,
                        total,
                        label: label(c),
                    },
                ),
                Err(e) => emit(
                    tx,
                    Event::StepFailed {
                        index,
                        total,
                        label: label(c),
                        error: e.to_string(),
                    },
                ),
            }
            (c.clone(), r)
        })
    }))
    .buffer_unordered(REPO_CONCURRENCY)
    .collect()
    .await;
    let mut first_error = None;
    for (c, r) in results {
        match r {
            Ok(()) => deleted.push(format!("{} {}", c.resource.label(), c.name)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(TeardownFailure {
            error,
            remaining: remaining_from(&deleted),
            deleted,
        });
    }
    // Two round trips: the rule and the role's inline policies go together, then the role.
    // If the rule cannot be deleted, the policies are put back, so a rule is never left with
    // a role that cannot pull.
    let policies: Vec<(String, serde_json::Value)> = match (role_change, role) {
        (Some((_, c)), Some(r)) if r.name == c.name => r
            .inline_policies
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => vec![],
    };
    for (i, c) in rule.iter().chain(role_change.iter()) {
        started(*i, c);
    }
    let rule_deleted = async {
        match rule {
            Some((_, c)) => gone_is_fine(aws.delete_cache_rule(&c.name).await),
            None => Ok(()),
        }
    };
    let policies_deleted = async {
        let Some((_, c)) = role_change else {
            return vec![];
        };
        futures::future::join_all(policies.iter().map(|(p, _)| async move {
            (
                p.clone(),
                gone_is_fine(aws.delete_role_policy(&c.name, p).await),
            )
        }))
        .await
    };
    let (rule_result, policy_results) = futures::join!(rule_deleted, policies_deleted);
    if let Some((i, c)) = rule {
        finished(*i, c, &rule_result);
        match &rule_result {
            Ok(()) => deleted.push(format!("{} {}", c.resource.label(), c.name)),
            Err(_) => {
                if let Some((_, role_c)) = role_change {
                    for (name, _) in policy_results.iter().filter(|(_, r)| r.is_ok()) {
                        if let Some((_, doc)) = policies.iter().find(|(p, _)| p == name) {
                            if let Err(e) = aws.put_role_policy(&role_c.name, name, doc).await {
                                emit(
                                    tx,
                                    Event::RollbackFailed {
                                        label: format!("inline policy {name} of {}", role_c.name),
                                        error: e.to_string(),
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if let Err(error) = rule_result {
        return Err(TeardownFailure {
            error,
            remaining: remaining_from(&deleted),
            deleted,
        });
    }
    // The template records which exclusions the tool registered: they go first, so a
    // teardown stopped here can still prove them on the next run.
    let exclusion_rows: Vec<_> = singles
        .iter()
        .filter(|(_, c)| c.resource == ResourceKind::PullTimeExclusion)
        .collect();
    for (i, c) in &exclusion_rows {
        started(*i, c);
    }
    let excluded = delete_group(
        &exclusion_rows,
        |c| async move { gone_is_fine(aws.deregister_pull_time_exclusion(&c.name).await) },
        &finished,
        &mut deleted,
    )
    .await;
    if let Err(error) = excluded {
        return Err(TeardownFailure {
            error,
            remaining: remaining_from(&deleted),
            deleted,
        });
    }
    // The template names the role, so it goes before the role; the scanning filter and the
    // rule's credential secret (with its recovery window) with it.
    let cache_rows: Vec<_> = singles
        .iter()
        .filter(|(_, c)| {
            matches!(
                c.resource,
                ResourceKind::RepositoryCreationTemplate
                    | ResourceKind::RegistryScanningFilter
                    | ResourceKind::CredentialSecret
            )
        })
        .collect();
    for (i, c) in &cache_rows {
        started(*i, c);
    }
    let cache = delete_group(
        &cache_rows,
        |c| async move {
            match c.resource {
                ResourceKind::RepositoryCreationTemplate => {
                    gone_is_fine(aws.delete_creation_template(&c.name).await)
                }
                ResourceKind::CredentialSecret => match secret {
                    Some((arn, days)) => gone_is_fine(aws.delete_secret(arn, Some(days)).await),
                    None => Ok(()),
                },
                _ => remove_scan_filter(aws, &c.name).await,
            }
        },
        &finished,
        &mut deleted,
    )
    .await;
    if let Err(error) = cache {
        return Err(TeardownFailure {
            error,
            remaining: remaining_from(&deleted),
            deleted,
        });
    }
    if let Some((i, c)) = role_change {
        let result = match policy_results.into_iter().find_map(|(_, r)| r.err()) {
            Some(e) => Err(e),
            None => gone_is_fine(aws.delete_role(&c.name).await),
        };
        finished(*i, c, &result);
        if let Err(error) = result {
            return Err(TeardownFailure {
                error,
                remaining: remaining_from(&deleted),
                deleted,
            });
        }
        deleted.push(format!("{} {}", c.resource.label(), c.name));
    }

    Ok(TeardownOutcome {
        deleted,
        left_alone,
    })
}
