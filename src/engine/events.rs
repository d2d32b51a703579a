//! Progress events. The executor only sends them; front ends decide how to show them.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A step began; `index` counts from 1 up to `total`.
    StepStarted {
        index: usize,
        total: usize,
        label: String,
    },
    StepDone {
        index: usize,
        total: usize,
        label: String,
    },
    StepFailed {
        index: usize,
        total: usize,
        label: String,
        error: String,
    },
    /// A step is being tried again (e.g. while IAM propagates).
    Retrying {
        label: String,
        attempt: u32,
        of: u32,
        reason: String,
    },
    Warning {
        message: String,
    },
    /// A long read: `done` of `total` items.
    Progress {
        label: String,
        done: usize,
        total: usize,
    },
    RollbackStarted {
        steps: usize,
    },
    RolledBack {
        label: String,
    },
    RollbackFailed {
        label: String,
        error: String,
    },
    /// A stack set instance (one account × region) changed status in an operation:
    /// PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED, with AWS's reason.
    Instance {
        account: String,
        region: String,
        status: String,
        reason: Option<String>,
    },
    /// A StackSets operation began being followed, or changed status (RUNNING, SUCCEEDED,
    /// FAILED, STOPPED…); `instances` is how many it works on.
    Operation {
        id: String,
        status: String,
        instances: usize,
    },
    /// A CloudFormation stack event; `done` of `total` resources have finished.
    StackEvent {
        logical_id: String,
        resource_type: String,
        status: String,
        reason: Option<String>,
        elapsed_ms: u64,
        done: usize,
        total: usize,
    },
}

pub type EventSender = tokio::sync::mpsc::UnboundedSender<Event>;

/// Sends an event; a front end that stopped listening must not stop the executor.
pub fn emit(tx: &EventSender, event: Event) {
    let _ = tx.send(event);
}

/// Runs `work` with an event channel whose events reach `sink` as they come (in their own
/// task), and returns once `work` is done and every event has been delivered.
pub async fn with_events<T, Fut>(
    mut sink: impl FnMut(Event) + Send + 'static,
    work: impl FnOnce(EventSender) -> Fut,
) -> T
where
    Fut: std::future::Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let forward = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            sink(e);
        }
    });
    // `work` owns the sender: when it finishes the channel closes and `forward` drains it.
    let out = work(tx).await;
    let _ = forward.await;
    out
}

/// One line per event, for the CLI and logs.
pub fn describe(event: &Event) -> String {
    match event {
        Event::StepStarted {
            index,
            total,
            label,
        } => format!("[{index}/{total}] {label} …"),
        Event::StepDone {
            index,
            total,
            label,
        } => format!("[{index}/{total}] {label} ✓"),
        Event::StepFailed {
            index,
            total,
            label,
            error,
        } => format!("[{index}/{total}] {label} ✗ {error}"),
        Event::Retrying {
            label,
            attempt,
            of,
            reason,
        } => format!("      {label}: attempt {attempt}/{of} — {reason}"),
        Event::Warning { message } => format!("warning: {message}"),
        Event::Progress { label, done, total } => format!("{label}: {done}/{total}"),
        Event::RollbackStarted { steps } => {
            format!("rolling back {steps} change(s) made by this run …")
        }
        Event::RolledBack { label } => format!("  undone: {label}"),
        Event::Instance {
            account,
            region,
            status,
            reason,
        } => format!(
            "  {account} {region}: {status}{}",
            reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        ),
        Event::RollbackFailed { label, error } => format!("  could not undo: {label}: {error}"),
        Event::Operation {
            id,
            status,
            instances,
        } => format!("StackSets operation {id}: {status} ({instances} instance(s))"),
        Event::StackEvent {
            logical_id,
            resource_type,
            status,
            reason,
            elapsed_ms,
            done,
            total,
        } => {
            let width = 10;
            let filled = if *total == 0 { 0 } else { done * width / total };
            format!(
                "{:>6.1}s [{}{}] {done}/{total}  {logical_id:<21} {resource_type:<31} {status}{}",
                *elapsed_ms as f64 / 1000.0,
                "#".repeat(filled),
                ".".repeat(width - filled),
                reason
                    .as_deref()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default()
            )
        }
    }
}
