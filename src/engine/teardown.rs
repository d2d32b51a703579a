//! Tears down what a teardown plan lists: the rule first (it references the role), then the
//! role with its inline policies, then the cached repositories when asked. Deletions cannot be
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

pub async fn teardown(
    aws: &dyn Aws,
    plan: &Plan,
    role: Option<&ObservedRole>,
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
    for (i, c) in singles {
        let index = i + 1;
        emit(
            tx,
            Event::StepStarted {
                index,
                total,
                label: label(c),
            },
        );
        let result = match c.resource {
            ResourceKind::PullThroughCacheRule => {
                gone_is_fine(aws.delete_cache_rule(&c.name).await)
            }
            ResourceKind::IamRole => delete_role(aws, &c.name, role).await,
            _ => Ok(()),
        };
        if let Err(error) = result {
            emit(
                tx,
                Event::StepFailed {
                    index,
                    total,
                    label: label(c),
                    error: error.to_string(),
                },
            );
            let remaining = deletions
                .iter()
                .skip(i)
                .map(|c| format!("{} {}", c.resource.label(), c.name))
                .collect();
            return Err(TeardownFailure {
                error,
                deleted,
                remaining,
            });
        }
        emit(
            tx,
            Event::StepDone {
                index,
                total,
                label: label(c),
            },
        );
        deleted.push(format!("{} {}", c.resource.label(), c.name));
    }

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
    let mut remaining = vec![];
    for (c, r) in results {
        let name = format!("{} {}", c.resource.label(), c.name);
        match r {
            Ok(()) => deleted.push(name),
            Err(e) => {
                remaining.push(name);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(error) => Err(TeardownFailure {
            error,
            deleted,
            remaining,
        }),
        None => Ok(TeardownOutcome {
            deleted,
            left_alone,
        }),
    }
}

async fn delete_role(
    aws: &dyn Aws,
    name: &str,
    role: Option<&ObservedRole>,
) -> Result<(), AwsError> {
    if let Some(r) = role.filter(|r| r.name == name) {
        for policy in r.inline_policies.keys() {
            gone_is_fine(aws.delete_role_policy(name, policy).await)?;
        }
    }
    gone_is_fine(aws.delete_role(name).await)
}
