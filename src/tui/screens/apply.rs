//! Step 7: the apply — a gauge, the steps in place, and the outcome in the plan's own counts
//! (or the failure, once and whole, with what is left).

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use super::progress::{self, Progress};
use super::{Out, Screen};
use crate::engine::planning::Planned;
use crate::tui::keys::Cmd;
use crate::tui::msg::Shared;
use crate::tui::theme::Theme;

#[derive(Default)]
pub struct ApplyScreen {
    /// The plan being carried out: the result is told in its counts.
    pub planned: Option<Shared<Planned>>,
    pub progress: Progress,
    pub started: Option<DateTime<Utc>>,
    /// When the apply ended: the clock stops there.
    pub ended: Option<DateTime<Utc>>,
    /// Usage lines, or the failure's lines (reason first).
    pub finished: Option<Result<Vec<String>, Vec<String>>>,
    /// ctrl-c was pressed: the next key answers "cancel?".
    pub confirm_cancel: bool,
    /// The user cancelled the run (not a failure of AWS's).
    pub cancelled: bool,
}

impl ApplyScreen {
    pub fn start(planned: Shared<Planned>, now: DateTime<Utc>) -> Self {
        Self {
            planned: Some(planned),
            started: Some(now),
            ..Default::default()
        }
    }

    /// Not finished yet (the screen is shown only once an apply started).
    pub fn running(&self) -> bool {
        self.finished.is_none()
    }

    pub fn finish(&mut self, result: Result<Vec<String>, Vec<String>>, now: DateTime<Utc>) {
        self.finished = Some(result);
        self.ended = Some(now);
        self.confirm_cancel = false;
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match (cmd, &self.finished) {
            (Cmd::Up, _) => self.progress.scroll += 1,
            (Cmd::Down, _) => self.progress.scroll = self.progress.scroll.saturating_sub(1),
            // The list counts from its newest step.
            (Cmd::PageUp, _) => self.progress.scroll = self.progress.scroll.saturating_add(10),
            (Cmd::PageDown, _) => self.progress.scroll = self.progress.scroll.saturating_sub(10),
            (Cmd::Top, _) => self.progress.scroll = usize::MAX,
            (Cmd::Bottom, _) => self.progress.scroll = 0,
            (Cmd::Select, Some(Ok(_))) => return Out::go(Screen::Done),
            (Cmd::Select | Cmd::Back, Some(Err(_))) => return Out::go(Screen::Options),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Select => self.finished.is_some(),
            Cmd::Back => matches!(self.finished, Some(Err(_))),
            _ => true,
        }
    }

    fn elapsed(&self, now: DateTime<Utc>) -> i64 {
        self.started
            .map(|s| (self.ended.unwrap_or(now) - s).num_seconds().max(0))
            .unwrap_or(0)
    }

    /// The outcome under the steps: what was done in the plan's words, or the failure.
    fn outcome(&self, theme: Theme) -> Vec<Line<'static>> {
        let summary = self
            .planned
            .as_ref()
            .map(|p| p.plan.done_summary())
            .unwrap_or_default();
        let mut lines: Vec<Line> = self
            .progress
            .warnings
            .iter()
            .map(|w| Line::styled(format!("warning: {w}"), theme.warn()))
            .collect();
        match &self.finished {
            None => lines.push(Line::styled(
                "Working… ctrl-c asks before cancelling.",
                theme.warn(),
            )),
            Some(Ok(_)) => lines.push(Line::styled(
                format!("✓ Applied: {summary}, as planned. enter: usage instructions"),
                theme.ok(),
            )),
            Some(Err(e)) => {
                let reason = e.first().cloned().unwrap_or_default();
                lines.push(Line::styled(format!("✗ {reason}"), theme.removed()));
                for extra in self.progress.extra_reasons(&reason) {
                    lines.push(Line::styled(format!("  AWS: {extra}"), theme.removed()));
                }
                for l in e.iter().skip(1) {
                    lines.push(Line::raw(l.clone()));
                }
                lines.push(Line::styled("enter: back to edit", theme.muted()));
            }
        }
        lines
    }
}

/// The ctrl-c question, asked in the outcome's place under the steps: the steps' states stay
/// in view (what is done, what is in flight) while the user decides.
fn cancel_question(a: &ApplyScreen, theme: Theme) -> Vec<Line<'static>> {
    let done = a.progress.completed().len();
    vec![
        Line::styled("Cancel the apply? (y/n)", theme.danger()),
        Line::raw(format!(
            "{done} step(s) done in AWS so far (✓ above). The step in flight may still finish; this run's changes are not rolled back on cancel."
        )),
        Line::raw("Plan again afterwards to see what is there, or tear down from the dashboard."),
        Line::styled(
            "y: cancel · n: keep going · ctrl-c: cancel and quit",
            theme.muted(),
        ),
    ]
}

pub fn render(a: &ApplyScreen, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    let asking = a.confirm_cancel && a.running();
    let outcome = match asking {
        true => Paragraph::new(cancel_question(a, theme))
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.danger())
                    .title(" Cancel? "),
            ),
        false => Paragraph::new(a.outcome(theme)).wrap(Wrap { trim: false }),
    };
    // The question is whole (it may take what the steps pane can spare); the outcome at most
    // half the screen.
    let outcome_height = match asking {
        true => (outcome.line_count(area.width.saturating_sub(2)) as u16)
            .clamp(1, area.height.saturating_sub(6)),
        false => (outcome.line_count(area.width) as u16).clamp(1, area.height / 2),
    };
    let [gauge, steps, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(outcome_height),
    ]));
    let elapsed = a.elapsed(now);
    let p = &a.progress;
    let ratio = if p.total == 0 {
        0.0
    } else {
        (p.done as f64 / p.total as f64).min(1.0)
    };
    let (title, ratio, label) = match &a.finished {
        Some(Ok(_)) => (format!(" Applied · {elapsed}s "), 1.0, "done".to_string()),
        Some(Err(_)) if a.cancelled => (
            format!(" Cancelled · {elapsed}s "),
            ratio,
            format!("{}/{}", p.done, p.total),
        ),
        Some(Err(_)) => (
            format!(" Failed · {elapsed}s "),
            ratio,
            format!("{}/{}", p.done, p.total),
        ),
        None => (
            format!(" Applying · {elapsed}s "),
            ratio,
            format!("{}/{}", p.done, p.total),
        ),
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::default().borders(Borders::ALL).title(title))
            .gauge_style(theme.ok())
            .ratio(ratio)
            .label(label),
        gauge,
    );
    frame.render_widget(
        progress::Steps {
            progress: p,
            now: a.ended.unwrap_or(now),
            theme,
        },
        steps,
    );
    frame.render_widget(outcome, bottom);
}
