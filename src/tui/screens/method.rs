//! Step 5: how the changes are made — direct API calls or a CloudFormation stack — or, for
//! many accounts at once, the fleet screen (a StackSet).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{Out, Screen};
use crate::engine::planning::Method;
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;

pub struct MethodStep {
    pub choice: Method,
    /// "Many accounts" is chosen: enter opens the fleet screen instead of a plan.
    pub many: bool,
}

const MANY: (&str, &str) = (
    "Many accounts (StackSets)",
    "One CloudFormation StackSet deploys this setup to many accounts or OUs × regions, with progress per account and a live status of each.",
);

const CHOICES: [(Method, &str, &str); 2] = [
    (
        Method::Api,
        "API calls",
        "Direct AWS API calls. Fastest; rolls back what it created if a step fails. Pick this unless your account must be changed through CloudFormation.",
    ),
    (
        Method::CloudFormation,
        "CloudFormation stack",
        "A stack built from Echo's template (echo-registry-ecr-cache). Pick this when changes must go through CloudFormation or you want drift detection and stack events.",
    ),
];

impl MethodStep {
    pub fn new(remembered: Option<&str>) -> Self {
        Self {
            choice: if remembered == Some("cloudformation") {
                Method::CloudFormation
            } else {
                Method::Api
            },
            many: false,
        }
    }

    /// The name saved in the preferences.
    pub fn name(&self) -> &'static str {
        match self.choice {
            Method::Api => "api",
            Method::CloudFormation => "cloudformation",
        }
    }

    /// Up and down move the choice; enter goes on to the plan (the app starts planning).
    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match cmd {
            Cmd::Up if self.many => {
                self.many = false;
                self.choice = Method::CloudFormation;
            }
            Cmd::Up => self.choice = Method::Api,
            Cmd::Down if self.choice == Method::CloudFormation => self.many = true,
            Cmd::Down => self.choice = Method::CloudFormation,
            Cmd::Select if self.many => return Out::go(Screen::Fleet),
            Cmd::Select => return Out::go(Screen::Plan),
            Cmd::Back | Cmd::Quit => return Out::go(Screen::Options),
            _ => {}
        }
        Out::none()
    }
}

pub fn render(step: &MethodStep, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut lines = vec![Line::raw("How should the changes be made?"), Line::raw("")];
    let rows = CHOICES
        .iter()
        .map(|(m, name, why)| (*m == step.choice && !step.many, *name, *why))
        .chain(std::iter::once((step.many, MANY.0, MANY.1)));
    for (sel, name, why) in rows {
        lines.push(Line::styled(
            format!("{} {name}", if sel { "●" } else { "○" }),
            if sel {
                theme.selected()
            } else {
                Style::default()
            },
        ));
        lines.push(Line::styled(format!("    {why}"), theme.muted()));
        lines.push(Line::raw(""));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Method ")),
        area,
    );
}
