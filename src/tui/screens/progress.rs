//! The steps of an apply or a teardown, each listed once and updated in place (running →
//! ✓ or ✗, with its own elapsed time), from the engine's events. Shared by both screens.

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, StatefulWidget, Table, TableState, Widget};

use crate::engine::events::Event;
use crate::tui::theme::Theme;
use crate::tui::widgets::{list_scrollbar_in, wrap_indented};
use crate::tui::words::{said, say};

/// A step's state, typed once from the engine's events (stack statuses included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Running,
    Done,
    Failed,
    /// Undone by a rollback.
    RolledBack,
    /// In flight when the user cancelled: it may still finish in AWS.
    Cancelled,
}

impl StepState {
    /// A CloudFormation resource status (`CREATE_IN_PROGRESS`, `UPDATE_COMPLETE`,
    /// `CREATE_FAILED`, `ROLLBACK_COMPLETE`…).
    pub fn of_stack_status(status: &str) -> Self {
        if status.contains("FAILED") {
            StepState::Failed
        } else if status.contains("ROLLBACK") && status.ends_with("_COMPLETE") {
            StepState::RolledBack
        } else if status.ends_with("_COMPLETE") {
            StepState::Done
        } else {
            StepState::Running
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StepKey {
    Step(usize),
    Resource(String),
    Undo(String),
}

#[derive(Debug, Clone)]
pub struct StepRow {
    key: StepKey,
    pub label: String,
    pub state: StepState,
    /// What AWS says (a stack status), or the retry under way.
    pub detail: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Progress {
    pub rows: Vec<StepRow>,
    /// Steps the engine announced in all.
    pub total: usize,
    /// How many of them finished (the engine's own count for stacks).
    pub done: usize,
    /// Warnings along the way, each once.
    pub warnings: Vec<String>,
    /// Reasons AWS gave for failed resources, each once.
    pub reasons: Vec<String>,
    pub scroll: usize,
}

impl Progress {
    fn row(&mut self, key: StepKey, label: &str, at: DateTime<Utc>) -> &mut StepRow {
        let i = match self.rows.iter().position(|r| r.key == key) {
            Some(i) => i,
            None => {
                self.rows.push(StepRow {
                    key,
                    label: label.to_string(),
                    state: StepState::Running,
                    detail: None,
                    started: at,
                    ended: None,
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }

    pub fn on_event(&mut self, e: &Event, at: DateTime<Utc>) {
        match e {
            Event::StepStarted {
                index,
                total,
                label,
            } => {
                self.total = *total;
                self.row(StepKey::Step(*index), label, at);
            }
            Event::StepDone {
                index,
                total,
                label,
            } => {
                self.total = *total;
                let r = self.row(StepKey::Step(*index), label, at);
                r.state = StepState::Done;
                r.detail = None;
                r.ended = Some(at);
                self.done = self.count(StepState::Done);
            }
            Event::StepFailed {
                index,
                total,
                label,
                ..
            } => {
                // The reason is shown once, whole, under the steps (it is the failure's).
                self.total = *total;
                let r = self.row(StepKey::Step(*index), label, at);
                r.state = StepState::Failed;
                r.detail = None;
                r.ended = Some(at);
            }
            Event::Retrying {
                label,
                attempt,
                of,
                reason,
            } => {
                if let Some(r) = self
                    .rows
                    .iter_mut()
                    .rev()
                    .find(|r| r.state == StepState::Running && r.label == *label)
                {
                    r.detail = Some(format!("attempt {attempt}/{of}: {}", say(reason)));
                }
            }
            Event::Warning { message } => {
                let message = said(message);
                if !self.warnings.contains(&message) {
                    self.warnings.push(message);
                }
            }
            Event::Progress { .. }
            | Event::RollbackStarted { .. }
            | Event::Instance { .. }
            | Event::Operation { .. } => {}
            Event::RolledBack { label } => {
                let r = self.row(StepKey::Undo(label.clone()), &format!("undo {label}"), at);
                r.state = StepState::RolledBack;
                r.ended = Some(at);
            }
            Event::RollbackFailed { label, error } => {
                let r = self.row(StepKey::Undo(label.clone()), &format!("undo {label}"), at);
                r.state = StepState::Failed;
                r.ended = Some(at);
                let why = format!("could not undo {label}: {}", say(error));
                if !self.reasons.contains(&why) {
                    self.reasons.push(why);
                }
            }
            // The logical id names the resource; its type would only crowd the row.
            Event::StackEvent {
                logical_id,
                status,
                reason,
                done,
                total,
                ..
            } => {
                self.total = *total;
                self.done = *done;
                let r = self.row(StepKey::Resource(logical_id.clone()), logical_id, at);
                r.state = StepState::of_stack_status(status);
                r.detail = Some(status.clone());
                if r.state != StepState::Running {
                    r.ended = Some(at);
                }
                if let Some(why) = reason.as_ref().filter(|_| status.contains("FAILED")) {
                    if !self.reasons.contains(why) {
                        self.reasons.push(why.clone());
                    }
                }
            }
        }
    }

    fn count(&self, state: StepState) -> usize {
        self.rows.iter().filter(|r| r.state == state).count()
    }

    /// The user cancelled: steps in flight are no longer followed (they may still finish).
    pub fn cancel(&mut self) {
        for r in self
            .rows
            .iter_mut()
            .filter(|r| r.state == StepState::Running)
        {
            r.state = StepState::Cancelled;
            r.detail = Some("cancelled while in flight: AWS may still finish it".into());
        }
    }

    /// What AWS holds so far, for the cancel question.
    pub fn completed(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.state == StepState::Done)
            .map(|r| r.label.clone())
            .collect()
    }

    /// Steps announced but not started yet.
    pub fn pending(&self) -> usize {
        let started = self
            .rows
            .iter()
            .filter(|r| !matches!(r.key, StepKey::Undo(_)))
            .count();
        self.total.saturating_sub(started)
    }

    /// Failure reasons not already in `shown` (the failure's own message).
    pub fn extra_reasons(&self, shown: &str) -> Vec<String> {
        self.reasons
            .iter()
            .filter(|r| !shown.contains(r.as_str()))
            .cloned()
            .collect()
    }
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = (to - from).num_milliseconds().max(0);
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The step table: one row per step, pending steps summed up at the end.
pub struct Steps<'a> {
    pub progress: &'a Progress,
    /// Running steps' clocks run to here.
    pub now: DateTime<Utc>,
    pub theme: Theme,
}

impl Widget for Steps<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render(self.progress, self.now, self.theme, area, buf);
    }
}

fn render(p: &Progress, now: DateTime<Utc>, theme: Theme, area: Rect, buf: &mut Buffer) {
    // The label column's width: the pane less its borders, the icon, the time and the two
    // gaps between the columns. Labels and what AWS says wrap there, whole.
    let width = area.width.saturating_sub(2 + 1 + 7 + 2);
    let mut rows: Vec<Row> = p
        .rows
        .iter()
        .map(|r| {
            let (icon, style) = match r.state {
                StepState::Running => ("…", theme.warn()),
                StepState::Done => ("✓", theme.ok()),
                StepState::Failed => ("✗", theme.removed()),
                StepState::RolledBack => ("↺", theme.muted()),
                StepState::Cancelled => ("⊘", theme.warn()),
            };
            // What AWS says about the step goes under it, so the label keeps its width.
            let mut text = vec![Line::raw(r.label.clone())];
            text.extend(
                r.detail
                    .iter()
                    .map(|d| Line::styled(format!("  {d}"), theme.muted())),
            );
            let text = wrap_indented(text, width);
            let height = text.len() as u16;
            Row::new(vec![
                Cell::from(Span::styled(icon, style)),
                Cell::from(ratatui::text::Text::from(text)),
                Cell::from(Line::from(elapsed(r.started, r.ended.unwrap_or(now))).right_aligned()),
            ])
            .height(height)
        })
        .collect();
    let pending = p.pending();
    if pending > 0 {
        rows.push(Row::new(vec![
            Cell::from(Span::styled("○", theme.muted())),
            Cell::from(Span::styled(
                format!("{pending} more step(s) to go"),
                theme.muted(),
            )),
            Cell::from(""),
        ]));
    }
    let len = rows.len();
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(7),
        ],
    )
    .block(Block::default().borders(Borders::ALL).title(" Steps "));
    // The newest step stays in view unless the user scrolled up.
    let sel = len.saturating_sub(1).saturating_sub(p.scroll);
    let mut state = TableState::new().with_selected(Some(sel));
    StatefulWidget::render(table, area, buf, &mut state);
    list_scrollbar_in(buf, area, len, sel, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_is_one_row_updated_in_place() {
        let t0 = Utc::now();
        let at = |ms| t0 + chrono::Duration::milliseconds(ms);
        let mut p = Progress::default();
        let started = |index, label: &str| Event::StepStarted {
            index,
            total: 3,
            label: label.into(),
        };
        p.on_event(&started(1, "create role"), at(0));
        assert_eq!(p.pending(), 2);
        p.on_event(
            &Event::Retrying {
                label: "create role".into(),
                attempt: 2,
                of: 5,
                reason: "IAM is propagating".into(),
            },
            at(100),
        );
        assert_eq!(
            p.rows[0].detail.as_deref(),
            Some("attempt 2/5: IAM is propagating")
        );
        p.on_event(
            &Event::StepDone {
                index: 1,
                total: 3,
                label: "create role".into(),
            },
            at(1500),
        );
        assert_eq!(p.rows.len(), 1, "one row per step");
        assert_eq!(p.rows[0].state, StepState::Done);
        assert_eq!(elapsed(p.rows[0].started, p.rows[0].ended.unwrap()), "1.5s");
        assert_eq!(p.done, 1);
    }

    #[test]
    fn stack_resources_are_rows_and_reasons_are_kept_once() {
        let mut p = Progress::default();
        let ev = |status: &str, reason: Option<&str>| Event::StackEvent {
            logical_id: "Role".into(),
            resource_type: "AWS::IAM::Role".into(),
            status: status.into(),
            reason: reason.map(str::to_string),
            elapsed_ms: 0,
            done: 0,
            total: 2,
        };
        let now = Utc::now();
        p.on_event(&ev("CREATE_IN_PROGRESS", None), now);
        p.on_event(&ev("CREATE_FAILED", Some("Requires capabilities")), now);
        p.on_event(&ev("CREATE_FAILED", Some("Requires capabilities")), now);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].state, StepState::Failed);
        assert_eq!(p.reasons, ["Requires capabilities"]);
        assert!(p
            .extra_reasons("Stack failed: Requires capabilities [X]")
            .is_empty());
        assert_eq!(
            StepState::of_stack_status("ROLLBACK_COMPLETE"),
            StepState::RolledBack
        );
        assert_eq!(
            StepState::of_stack_status("UPDATE_COMPLETE"),
            StepState::Done
        );
    }
}
