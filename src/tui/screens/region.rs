//! Step 2: the region to set up (type to filter).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, List, ListState, Paragraph};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen, Session};
use crate::core::regions::KNOWN_REGIONS;
use crate::tui::keys::Cmd;
use crate::tui::msg::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{field_line, list_scrollbar};

#[derive(Default)]
pub struct RegionStep {
    pub filter: Input,
    pub sel: usize,
}

impl RegionStep {
    pub fn filtered(&self) -> Vec<&'static str> {
        let f = self.filter.value().to_lowercase();
        KNOWN_REGIONS
            .iter()
            .copied()
            .filter(|r| r.contains(&f))
            .collect()
    }

    /// Preselects `region` when it is in the list.
    pub fn select(&mut self, region: Option<String>) {
        self.sel = region
            .and_then(|r| self.filtered().iter().position(|x| *x == r))
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
            Cmd::Select => {
                if let Some(r) = self.filtered().get(self.sel) {
                    session.region = Some(r.to_string());
                    session.rules = None;
                    return Out::go(Screen::Echo).and(Effect::UseRegion(r.to_string()));
                }
            }
            Cmd::Back => return Out::go(Screen::Profile),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        cmd != Cmd::Select || !self.filtered().is_empty()
    }
}

pub fn render(step: &RegionStep, session: &Session, theme: Theme, frame: &mut Frame, area: Rect) {
    let [top, list] = area.layout(&Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
    ]));
    let who = session
        .identity
        .as_ref()
        .map(|i| format!("✓ {}", i.arn))
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(who, theme.ok()),
            Line::raw("Region to set up the cache in (type to filter):"),
            field_line(theme, "Filter", &step.filter, true),
        ]),
        top,
    );
    let items = step.filtered();
    let widget = List::new(items.iter().map(|r| format!("  {r}")))
        .highlight_style(theme.selected())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Regions with ECR pull-through cache "),
        );
    let mut state = ListState::default().with_selected(Some(step.sel));
    frame.render_stateful_widget(widget, list, &mut state);
    list_scrollbar(frame, list, items.len(), step.sel, 0);
}
