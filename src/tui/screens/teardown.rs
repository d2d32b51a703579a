//! Teardown of one rule: the engine's plan (who made the rule is read from AWS), a typed
//! confirmation, then the steps in place.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::progress::{self, Progress};
use super::{Out, Screen};
use crate::core::model::CacheRule;
use crate::core::plan::{Action, ResourceKind};
use crate::core::render::plan_lines;
use crate::engine::ops::TeardownPlanned;
use crate::tui::keys::{self, Binding, Cmd};
use crate::tui::msg::{Effect, Shared};
use crate::tui::theme::Theme;
use crate::tui::widgets::{field_line, scrolled, styled};

pub struct TeardownScreen {
    pub region: String,
    pub rule: CacheRule,
    /// Cached repositories under the rule, as the dashboard counted them.
    pub repositories: usize,
    /// The engine's plan, once read.
    pub planned: Option<Shared<TeardownPlanned>>,
    pub delete_repos: bool,
    pub confirm: Input,
    pub running: bool,
    pub progress: Progress,
    pub finished: Option<Result<Vec<String>, Vec<String>>>,
    /// Why enter did nothing (e.g. the typed prefix is not the rule's).
    pub refused: Option<String>,
    pub scroll: u16,
    pub max_scroll: Cell<u16>,
}

impl TeardownScreen {
    pub fn new(region: &str, rule: CacheRule, repositories: usize) -> Self {
        Self {
            region: region.into(),
            rule,
            repositories,
            planned: None,
            delete_repos: false,
            confirm: Input::default(),
            running: false,
            progress: Progress::default(),
            finished: None,
            refused: None,
            scroll: 0,
            max_scroll: Cell::new(0),
        }
    }

    /// Asks the engine for a plan (again, when the repositories are toggled).
    pub fn plan(&self) -> Effect {
        Effect::PlanTeardown {
            region: self.region.clone(),
            prefix: self.rule.prefix.clone(),
            role: self
                .rule
                .role_arn
                .as_deref()
                .and_then(|arn| arn.rsplit('/').next())
                .map(str::to_string),
            delete_repos: self.delete_repos,
        }
    }

    /// Does the confirmation field take typed characters?
    pub fn typing(&self) -> bool {
        !self.running && self.finished.is_none()
    }

    pub fn keys(&self) -> &'static [Binding] {
        if self.finished.is_some() {
            keys::TEARDOWN_ENDED
        } else if self.running {
            keys::BUSY
        } else {
            keys::TEARDOWN
        }
    }

    pub fn planned(&mut self, result: Result<Shared<TeardownPlanned>, Vec<String>>) {
        match result {
            Ok(p) => {
                self.delete_repos = p.delete_repos;
                self.planned = Some(p);
            }
            Err(lines) => self.finished = Some(Err(lines)),
        }
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match cmd {
            Cmd::Up => {
                self.scroll = self.scroll.saturating_sub(1);
                self.progress.scroll += 1;
                return Out::none();
            }
            Cmd::Down => {
                self.scroll = (self.scroll + 1).min(self.max_scroll.get());
                self.progress.scroll = self.progress.scroll.saturating_sub(1);
                return Out::none();
            }
            Cmd::PageUp | Cmd::Top => {
                let by = if cmd == Cmd::Top { u16::MAX } else { 10 };
                self.scroll = self.scroll.saturating_sub(by);
                self.progress.scroll = self.progress.scroll.saturating_add(by as usize);
                return Out::none();
            }
            Cmd::PageDown | Cmd::Bottom => {
                let by = if cmd == Cmd::Bottom { u16::MAX } else { 10 };
                self.scroll = self.scroll.saturating_add(by).min(self.max_scroll.get());
                self.progress.scroll = self.progress.scroll.saturating_sub(by as usize);
                return Out::none();
            }
            _ => {}
        }
        if self.running {
            return Out::none();
        }
        if self.finished.is_some() {
            return match cmd {
                // The app reads the account again on the way back.
                Cmd::Select | Cmd::Back => Out::go(Screen::Dashboard),
                _ => Out::none(),
            };
        }
        match cmd {
            // Re-planned by the engine: the repositories are listed only when they are to be
            // deleted. Nothing can be confirmed until the new plan is in.
            Cmd::ToggleRepos if self.enabled(Cmd::ToggleRepos) => {
                self.delete_repos = !self.delete_repos;
                self.planned = None;
                return Out::effect(self.plan());
            }
            Cmd::Select => {
                // Nothing is deleted without the prefix typed exactly; enter says why not.
                self.refused = match &self.planned {
                    None => Some("still reading who made the rule…".into()),
                    Some(p) if !p.plan.has_changes() => Some("nothing to delete".into()),
                    Some(_) if self.confirm.value() != self.rule.prefix => Some(format!(
                        "type the prefix exactly to confirm: {} (typed: {:?})",
                        self.rule.prefix,
                        self.confirm.value()
                    )),
                    Some(p) => {
                        self.running = true;
                        return Out::effect(Effect::Teardown(p.clone()));
                    }
                };
            }
            Cmd::Back => return Out::go(Screen::Dashboard),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::ToggleRepos => self.planned.is_some() && self.typing() && self.repositories > 0,
            Cmd::Select => {
                self.typing() && self.planned.as_ref().is_some_and(|p| p.plan.has_changes())
            }
            _ => true,
        }
    }
}

pub fn render(t: &TeardownScreen, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    // The repositories option only while it can still be chosen.
    let mut c = vec![];
    if t.typing() && t.repositories > 0 {
        let under = if t.rule.prefix == crate::core::validate::ROOT {
            "ROOT".to_string()
        } else {
            format!("{}/", t.rule.prefix)
        };
        // Once planned, the engine's verdicts: only what the cache provably made goes.
        let rows = t.planned.as_ref().filter(|_| t.delete_repos).map(|p| {
            let repos = p
                .plan
                .changes
                .iter()
                .filter(|c| c.resource == ResourceKind::EcrRepository);
            let delete = repos.clone().filter(|c| c.action == Action::Delete).count();
            (delete, repos.count() - delete)
        });
        c.push(Line::raw(match rows {
            Some((delete, kept)) => format!(
                "[x] also delete the {delete} repositor{} the cache made under {under} with their images; {kept} kept, not made by the cache (ctrl-r)",
                if delete == 1 { "y" } else { "ies" }
            ),
            None => format!(
                "[{}] also delete the repositories the cache made under {under} (of {}), with their images (ctrl-r)",
                if t.delete_repos { "x" } else { " " },
                t.repositories,
            ),
        }));
    }
    match &t.finished {
        Some(Ok(deleted)) => c.push(Line::styled(
            format!(
                "✓ Deleted: {}, as planned. enter: back to the dashboard",
                deleted.join(", ")
            ),
            theme.ok(),
        )),
        Some(Err(e)) => {
            let reason = e.first().cloned().unwrap_or_default();
            c.push(Line::styled(format!("✗ {reason}"), theme.removed()));
            for extra in t.progress.extra_reasons(&reason) {
                c.push(Line::styled(format!("  AWS: {extra}"), theme.removed()));
            }
            c.extend(e.iter().skip(1).map(|l| Line::raw(l.clone())));
            c.push(Line::styled("enter: back to the dashboard", theme.muted()));
        }
        None if t.running => c.push(Line::styled("Deleting…", theme.warn())),
        None if t.planned.is_none() => c.push(Line::styled(
            "Reading who made this rule (this tool, a stack or someone else)…",
            theme.warn(),
        )),
        None if !t.planned.as_ref().is_some_and(|p| p.plan.has_changes()) => c.push(Line::styled(
            "Nothing here was created by echo-onboard: nothing will be deleted (esc: back).",
            theme.warn(),
        )),
        None => {
            c.push(Line::styled(
                format!(
                    "Type the prefix {} and press enter to delete. Nothing is deleted otherwise.",
                    t.rule.prefix
                ),
                theme.danger(),
            ));
            c.push(field_line(theme, "Confirm prefix", &t.confirm, true));
            if let Some(why) = &t.refused {
                c.push(Line::styled(format!("✗ {why}"), theme.removed()));
            }
        }
    }
    let confirm = Paragraph::new(c).wrap(Wrap { trim: false });
    let h = (confirm.line_count(area.width.saturating_sub(2)) as u16 + 2).min(area.height / 2);
    let [top, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(h),
    ]));
    let title = format!(" Tear down {} in {} ", t.rule.prefix, t.region);
    // The steps once the teardown started; a plan that could not be read keeps its pane.
    if t.running || !t.progress.rows.is_empty() {
        frame.render_widget(
            progress::Steps {
                progress: &t.progress,
                now,
                theme,
            },
            top,
        );
    } else {
        let lines: Vec<Line> = match &t.planned {
            Some(p) => plan_lines(&p.plan)
                .iter()
                .map(|l| styled(theme, l))
                .collect(),
            None if matches!(t.finished, Some(Err(_))) => vec![Line::styled(
                "Nothing will be deleted: the teardown could not be planned (why is below).",
                theme.warn(),
            )],
            None => vec![Line::styled(
                format!("reading who made rule {} …", t.rule.prefix),
                theme.warn(),
            )],
        };
        scrolled(frame, top, &title, lines, t.scroll, &t.max_scroll);
    }
    frame.render_widget(
        confirm.block(Block::default().borders(Borders::ALL).title(" Confirm ")),
        bottom,
    );
}
