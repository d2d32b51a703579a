//! Diagnostics of one rule: every check with its fix, and the support bundle.

use std::cell::Cell;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{Out, Screen};
use crate::core::checks::{Check, Status};
use crate::engine::diagnose::Report;
use crate::tui::keys::Cmd;
use crate::tui::msg::{Effect, Shared};
use crate::tui::theme::Theme;
use crate::tui::widgets::scrolled;
use crate::tui::words::said;

pub struct DiagScreen {
    pub region: String,
    pub prefix: String,
    pub checks: Option<Vec<Check>>,
    /// The whole report, for the support bundle.
    pub report: Option<Shared<Report>>,
    pub bundle: Option<Result<String, String>>,
    pub writing: bool,
    /// `c` sent the bundle's path to the clipboard.
    pub copied: bool,
    pub scroll: u16,
    pub max_scroll: Cell<u16>,
}

impl DiagScreen {
    pub fn new(region: &str, prefix: &str) -> Self {
        Self {
            region: region.into(),
            prefix: prefix.into(),
            checks: None,
            report: None,
            bundle: None,
            writing: false,
            copied: false,
            scroll: 0,
            max_scroll: Cell::new(0),
        }
    }

    pub fn run(&self) -> Effect {
        Effect::Diagnose {
            region: self.region.clone(),
            prefix: self.prefix.clone(),
        }
    }

    pub fn diagnosed(&mut self, report: Shared<Report>) {
        self.checks = Some(report.checks.clone());
        self.report = Some(report);
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match cmd {
            Cmd::Up => self.scroll = self.scroll.saturating_sub(1),
            Cmd::Down => self.scroll = (self.scroll + 1).min(self.max_scroll.get()),
            Cmd::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Cmd::PageDown => self.scroll = (self.scroll + 10).min(self.max_scroll.get()),
            Cmd::Top => self.scroll = 0,
            Cmd::Bottom => self.scroll = self.max_scroll.get(),
            Cmd::Bundle if self.enabled(Cmd::Bundle) => {
                self.writing = true;
                return Out::effect(Effect::WriteBundle {
                    report: self.report.clone().expect("enabled only with a report"),
                    region: self.region.clone(),
                    prefix: self.prefix.clone(),
                });
            }
            Cmd::Copy => {
                if let Some(Ok(path)) = &self.bundle {
                    self.copied = true;
                    return Out::effect(Effect::Copy(path.clone()));
                }
            }
            Cmd::Refresh if self.checks.is_some() => {
                self.checks = None;
                self.report = None;
                return Out::effect(self.run());
            }
            Cmd::Back | Cmd::Quit => return Out::go(Screen::Dashboard),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Bundle => self.report.is_some() && !self.writing,
            Cmd::Refresh => self.checks.is_some(),
            Cmd::Copy => matches!(self.bundle, Some(Ok(_))),
            _ => true,
        }
    }
}

pub fn render(d: &DiagScreen, theme: Theme, frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = match &d.checks {
        None => vec![Line::styled(
            format!("Running every check for {}/ in parallel…", d.prefix),
            theme.warn(),
        )],
        Some(checks) => checks
            .iter()
            .map(|c| {
                let tone = match c.status {
                    Status::Pass => theme.ok(),
                    Status::Warn => theme.warn(),
                    Status::Fail => theme.danger(),
                };
                Line::from(vec![
                    Span::styled(c.status.label().to_string(), tone),
                    Span::raw(said(&c.line()[c.status.label().len()..])),
                ])
            })
            .collect(),
    };
    let status = match (&d.bundle, d.writing) {
        (_, true) => Line::styled("Writing the support bundle…", theme.warn()),
        (Some(Ok(path)), _) => Line::styled(
            format!(
                "✓ Support bundle written to {path} (mode 0600; no secrets). Attach it to your ticket. {}",
                if d.copied { "Path copied to the clipboard (OSC 52)." } else { "c: copy the path" }
            ),
            theme.ok(),
        ),
        (Some(Err(e)), _) => Line::styled(format!("✗ {e}"), theme.removed()),
        (None, _) => Line::styled("b: write the support bundle for Echo support", theme.muted()),
    };
    let status = Paragraph::new(status).wrap(Wrap { trim: false });
    let h = status.line_count(area.width) as u16;
    let [body, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(h),
    ]));
    let title = format!(" Diagnostics for {}/ in {} ", d.prefix, d.region);
    scrolled(frame, body, &title, lines, d.scroll, &d.max_scroll);
    frame.render_widget(status, bottom);
}
