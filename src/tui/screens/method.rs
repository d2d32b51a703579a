//! Step 5: how the changes are made — direct API calls or a CloudFormation stack.

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
}

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
            Cmd::Up => self.choice = Method::Api,
            Cmd::Down => self.choice = Method::CloudFormation,
            Cmd::Select => return Out::go(Screen::Plan),
            Cmd::Back | Cmd::Quit => return Out::go(Screen::Options),
            _ => {}
        }
        Out::none()
    }
}

pub fn render(step: &MethodStep, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut lines = vec![Line::raw("How should the changes be made?"), Line::raw("")];
    for (method, name, why) in CHOICES {
        let sel = method == step.choice;
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
