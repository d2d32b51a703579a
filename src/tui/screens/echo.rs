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

/// What the account field's value was read as, when that is worth saying: a console-style
/// id cleaned, or the user's own account (likely a paste of the wrong id).
fn account_note(step: &EchoStep, own_account: Option<&str>) -> Option<(String, bool)> {
    let id = AccountId::parse("echo-account", step.account.value()).ok()?;
    if Some(id.as_str()) == own_account {
        return Some((
            format!(
                "    ! {id} is your own account, not Echo's: check the id Echo gave you (a same-account cache only makes sense for testing)"
            ),
            true,
        ));
    }
    (id.as_str() != step.account.value().trim()).then(|| (format!("    ✓ read as {id}"), false))
}

pub fn render(
    step: &EchoStep,
    own_account: Option<&str>,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let (a, r) = step.errors();
    let note = account_note(step, own_account);
    let account_line = match (&a, note) {
        (None, Some((text, warn))) => {
            Line::styled(text, if warn { theme.warn() } else { theme.ok() })
        }
        _ => error_line(theme, a.as_ref()),
    };
    let lines = vec![
        Line::raw("Echo's registry: the 12-digit AWS account id Echo gave you, and its region."),
        Line::raw(""),
        field_line(
            theme,
            "Echo account id",
            &step.account,
            step.focus == EchoField::Account,
        ),
        account_line,
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
