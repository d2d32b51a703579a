//! Step 3: Echo's registry — the account id Echo gave you, and its region.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen};
use crate::core::validate::{AccountId, FieldError, Region};
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;
use crate::tui::widgets::{error_line, field_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoField {
    Account,
    Region,
}

pub struct EchoStep {
    pub account: Input,
    pub region: Input,
    pub focus: EchoField,
}

impl EchoStep {
    pub fn new(account: &str, region: &str) -> Self {
        Self {
            account: Input::new(account.into()),
            region: Input::new(region.into()),
            focus: EchoField::Account,
        }
    }

    pub fn errors(&self) -> (Option<FieldError>, Option<FieldError>) {
        (
            AccountId::parse("echo-account", self.account.value()).err(),
            Region::parse("echo-region", self.region.value()).err(),
        )
    }

    pub fn focused(&mut self) -> &mut Input {
        match self.focus {
            EchoField::Account => &mut self.account,
            EchoField::Region => &mut self.region,
        }
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match cmd {
            Cmd::NextField | Cmd::PrevField => {
                self.focus = match self.focus {
                    EchoField::Account => EchoField::Region,
                    EchoField::Region => EchoField::Account,
                }
            }
            // Enter moves to the first field in error instead of going on.
            Cmd::Select => match self.errors() {
                (None, None) => return Out::go(Screen::Options),
                (Some(_), _) => self.focus = EchoField::Account,
                (None, Some(_)) => self.focus = EchoField::Region,
            },
            Cmd::Back => return Out::go(Screen::Region),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        cmd != Cmd::Select || self.errors() == (None, None)
    }
}

pub fn render(step: &EchoStep, theme: Theme, frame: &mut Frame, area: Rect) {
    let (a, r) = step.errors();
    let lines = vec![
        Line::raw("Echo's registry: the 12-digit AWS account id Echo gave you, and its region."),
        Line::raw(""),
        field_line(
            theme,
            "Echo account id",
            &step.account,
            step.focus == EchoField::Account,
        ),
        error_line(theme, a.as_ref()),
        Line::raw(""),
        field_line(
            theme,
            "Echo region",
            &step.region,
            step.focus == EchoField::Region,
        ),
        error_line(theme, r.as_ref()),
    ];
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Echo account "),
        ),
        area,
    );
}
