//! Step 6: the plan — what would change, wrapped and scrollable; enter applies it.

use std::cell::Cell;
use std::sync::Arc;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{Out, Screen};
use crate::core::render::plan_lines;
use crate::engine::planning::Planned;
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;
use crate::tui::widgets::{scrolled, styled};

#[derive(Default)]
pub struct PlanScreen {
    pub planning: bool,
    pub result: Option<Result<Arc<Planned>, String>>,
    pub scroll: u16,
    /// The furthest scroll that shows anything, as of the last draw.
    pub max_scroll: Cell<u16>,
    /// A blocked plan opens at its first blocker (where it is depends on the width, so the
    /// draw finds it); the first key that scrolls starts from there.
    pub at_blocker: bool,
    pub blocker_line: Cell<u16>,
    /// `a` on a plan blocked by something someone else made: the question is open.
    pub confirm_adopt: bool,
    /// The user chose to take it over: the plan was made again with that choice.
    pub adopt: bool,
}

impl PlanScreen {
    pub fn computing() -> Self {
        Self {
            planning: true,
            ..Default::default()
        }
    }

    /// The same, keeping a take-over the user confirmed.
    pub fn computing_adopted() -> Self {
        Self {
            planning: true,
            adopt: true,
            ..Default::default()
        }
    }

    /// Whether `a` can take over what blocks this plan.
    pub fn adoptable(&self) -> bool {
        matches!(&self.result, Some(Ok(p)) if p.plan.adoptable()) && !self.adopt
    }

    pub fn planned(&mut self, result: Result<Arc<Planned>, String>) {
        self.planning = false;
        self.at_blocker = matches!(&result, Ok(p) if !p.plan.blockers.is_empty());
        self.result = Some(result);
        self.scroll = 0;
    }

    /// The plan enter would carry out: computed, and not blocked.
    pub fn ready(&self) -> Option<&Arc<Planned>> {
        match &self.result {
            Some(Ok(p)) if p.plan.blockers.is_empty() => Some(p),
            _ => None,
        }
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        let max = self.max_scroll.get();
        if self.at_blocker
            && matches!(
                cmd,
                Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom
            )
        {
            self.scroll = self.blocker_line.get().min(max);
            self.at_blocker = false;
        }
        match cmd {
            Cmd::Up => self.scroll = self.scroll.saturating_sub(1),
            Cmd::Down => self.scroll = (self.scroll + 1).min(max),
            Cmd::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Cmd::PageDown => self.scroll = (self.scroll + 10).min(max),
            Cmd::Top => self.scroll = 0,
            Cmd::Bottom => self.scroll = max,
            Cmd::Back | Cmd::Quit if !self.planning => return Out::go(Screen::Method),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Select => self.ready().is_some(),
            Cmd::Adopt => self.adoptable(),
            Cmd::Back => !self.planning,
            _ => true,
        }
    }
}

pub fn render(p: &PlanScreen, theme: Theme, frame: &mut Frame, area: Rect) {
    let (lines, hint): (Vec<Line>, Line) = match &p.result {
        None => (
            vec![Line::styled(
                "Computing the plan: reading the account (nothing is changed)…",
                theme.warn(),
            )],
            Line::raw(""),
        ),
        Some(Err(e)) => (
            vec![Line::styled(format!("✗ {e}"), theme.removed())],
            Line::raw("esc: back to edit"),
        ),
        Some(Ok(planned)) => {
            let lines = plan_lines(&planned.plan)
                .iter()
                .map(|l| styled(theme, l))
                .collect();
            let hint = if !planned.plan.blockers.is_empty() && p.adoptable() {
                Line::styled(
                    "Nothing has changed. The plan is blocked: resolve each \"blocked:\" line (esc to edit), or press a to take over what echo-onboard did not make (asks first).",
                    theme.danger(),
                )
            } else if !planned.plan.blockers.is_empty() {
                Line::styled(
                    "Nothing has changed. The plan is blocked: resolve each \"blocked:\" line (esc to edit); enter is disabled.",
                    theme.danger(),
                )
            } else if p.adopt && planned.plan.has_changes() {
                Line::styled(
                    "Taking over: echo-onboard will change what it did not make, and a later teardown deletes it. enter: apply · esc: back to edit",
                    theme.warn(),
                )
            } else if !planned.plan.has_changes() {
                Line::styled(
                    "Nothing to change: the account already matches. enter: usage instructions.",
                    theme.ok(),
                )
            } else {
                Line::styled(
                    "Nothing has changed yet. enter: apply · esc: back to edit",
                    theme.warn(),
                )
            };
            (lines, hint)
        }
    };
    let hint = Paragraph::new(hint).wrap(Wrap { trim: false });
    let hint_height = hint.line_count(area.width) as u16;
    let [body, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(hint_height),
    ]));
    let scroll = if p.at_blocker {
        // The wrapped height of everything above the first blocker, at this width.
        let first = lines
            .iter()
            .position(|l| {
                l.spans
                    .first()
                    .is_some_and(|s| s.content.starts_with("blocked:"))
            })
            .unwrap_or(0);
        let above = Paragraph::new(lines[..first].to_vec())
            .wrap(Wrap { trim: false })
            .line_count(body.width.saturating_sub(2)) as u16;
        p.blocker_line.set(above);
        above
    } else {
        p.scroll
    };
    scrolled(frame, body, " Plan ", lines, scroll, &p.max_scroll);
    frame.render_widget(hint, bottom);
}
