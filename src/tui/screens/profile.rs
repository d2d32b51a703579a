//! Step 1: the AWS profile (type to filter), checked with `sts:GetCallerIdentity`.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Session};
use crate::tui::keys::Cmd;
use crate::tui::msg::Effect;
use crate::tui::profiles::{ProfileEntry, ProfileKind};
use crate::tui::theme::Theme;
use crate::tui::widgets::{field_line, list_scrollbar};

#[derive(Default)]
pub struct ProfileStep {
    pub profiles: Vec<ProfileEntry>,
    pub filter: Input,
    pub sel: usize,
    pub connecting: bool,
    /// Why the last profile could not be used (shown inline; the step stays).
    pub error: Option<String>,
}

impl ProfileStep {
    pub fn filtered(&self) -> Vec<&ProfileEntry> {
        let f = self.filter.value().to_lowercase();
        self.profiles
            .iter()
            .filter(|p| p.title().to_lowercase().contains(&f) || p.kind.label().contains(&f))
            .collect()
    }

    pub fn selected(&self) -> Option<ProfileEntry> {
        self.filtered().get(self.sel).map(|p| (*p).clone())
    }

    /// A new list: select the remembered profile, or the sandbox when it is the only choice.
    pub fn loaded(&mut self, list: Vec<ProfileEntry>, remembered: Option<&str>) {
        self.profiles = list;
        let sandbox_only = crate::tui::profiles::only_sandbox(&self.profiles);
        self.sel = self
            .filtered()
            .iter()
            .position(|p| Some(p.title().as_str()) == remembered)
            .or_else(|| {
                sandbox_only
                    .then(|| {
                        self.filtered()
                            .iter()
                            .position(|p| p.kind == ProfileKind::Sandbox)
                    })
                    .flatten()
            })
            .unwrap_or(0);
    }

    pub fn typed(&mut self) {
        self.sel = 0;
    }

    pub fn on_cmd(&mut self, cmd: Cmd, session: &mut Session) -> Out {
        let n = self.filtered().len();
        match cmd {
            Cmd::Up => self.sel = self.sel.saturating_sub(1),
            Cmd::Down => self.sel = (self.sel + 1).min(n.saturating_sub(1)),
            Cmd::Select if !self.connecting => {
                if let Some(p) = self.selected() {
                    self.connecting = true;
                    self.error = None;
                    session.identity = None;
                    session.profile = Some(p.clone());
                    let region = p.region.clone();
                    return Out::effect(Effect::Connect { profile: p, region });
                }
            }
            Cmd::Quit | Cmd::Back => return Out::effect(Effect::Quit),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Select => !self.connecting && !self.filtered().is_empty(),
            _ => true,
        }
    }

    /// The identity check answered (with why not, on failure).
    pub fn connected(&mut self, error: Option<String>) {
        self.connecting = false;
        self.error = error;
    }
}

pub fn render(step: &ProfileStep, session: &Session, theme: Theme, frame: &mut Frame, area: Rect) {
    let [top, list, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(4),
    ]));
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw("Choose the AWS profile to set up (type to filter)."),
            field_line(theme, "Filter", &step.filter, true),
        ]),
        top,
    );
    let items = step.filtered();
    let rows: Vec<Row> = items
        .iter()
        .map(|p| {
            Row::new(vec![
                p.title(),
                p.kind.label().to_string(),
                p.region.clone().unwrap_or_else(|| "-".into()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Fill(2),
        ],
    )
    .header(Row::new(vec!["PROFILE", "KIND", "DEFAULT REGION"]).style(theme.muted()))
    .row_highlight_style(theme.selected())
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" Profiles ({}) ", items.len())),
    );
    let mut state = TableState::new().with_selected(Some(step.sel));
    frame.render_stateful_widget(table, list, &mut state);
    list_scrollbar(frame, list, items.len(), step.sel, 1);
    let mut info = vec![];
    if step.connecting {
        info.push(Line::styled(
            "Checking credentials (sts:GetCallerIdentity)…",
            theme.warn(),
        ));
    } else if let Some(e) = &step.error {
        info.push(Line::styled(format!("✗ {e}"), theme.removed()));
    } else if let Some(id) = &session.identity {
        info.push(Line::styled(
            format!("✓ {} ({})", id.arn, id.account),
            theme.ok(),
        ));
    }
    if session.sandbox_only {
        info.push(Line::styled(
            "No AWS credentials found: choose sandbox to try everything on a simulated account.",
            theme.warn(),
        ));
    }
    frame.render_widget(Paragraph::new(info).wrap(Wrap { trim: true }), bottom);
}
