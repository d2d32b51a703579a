//! Step 8: how to log in and pull, as commands that copy whole.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::Out;
use crate::core::format::shell_lines;
use crate::core::upstream::UpstreamKind;
use crate::tui::keys::Cmd;
use crate::tui::msg::Effect;
use crate::tui::theme::Theme;

#[derive(Default)]
pub struct DoneScreen {
    pub usage: Vec<String>,
    /// The upstream the new rule pulls from (the words and the example follow it).
    pub upstream: UpstreamKind,
    /// The commands were sent to the clipboard.
    pub copied: bool,
}

impl DoneScreen {
    /// `c` copies; the app handles the dashboard, the test pull and quitting.
    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        if cmd == Cmd::Copy && !self.usage.is_empty() {
            self.copied = true;
            return Out::effect(Effect::Copy(self.usage.join("\n")));
        }
        Out::none()
    }
}

pub fn render(d: &DoneScreen, theme: Theme, frame: &mut Frame, area: Rect) {
    // Commands break between words with `\` continuations: never in the middle of one.
    let width = area.width.saturating_sub(4) as usize;
    let mut lines = vec![
        Line::styled(
            match d.upstream {
                UpstreamKind::Echo => {
                    "✓ Your account is set up to pull Echo's images through the cache.".to_string()
                }
                other => format!(
                    "✓ Your account is set up to pull images from {} through the cache (e.g. {}).",
                    other.label(),
                    other.example_image()
                ),
            },
            theme.ok(),
        ),
        Line::raw(""),
        Line::raw("Log in and pull:"),
    ];
    for u in &d.usage {
        lines.extend(
            shell_lines(u, width)
                .into_iter()
                .map(|l| Line::styled(format!("  {l}"), theme.key())),
        );
    }
    lines.push(Line::raw(""));
    if d.copied {
        lines.push(Line::styled(
            "Copied to the clipboard (OSC 52). If nothing arrived, your terminal does not allow it: hold shift and select the lines above (the mouse is captured).",
            theme.ok(),
        ));
    } else {
        lines.push(Line::styled(
            "c: copy these commands to the clipboard",
            theme.muted(),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Workloads that pull need ecr:BatchImportUpstreamImage and ecr:CreateRepository on the prefix",
    ));
    lines.push(Line::raw(
        "(the managed policy AmazonEC2ContainerRegistryPullOnly has both; ReadOnly does not).",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "v: pull a test image now · d: open the dashboard · q: quit",
        theme.muted(),
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Done ")),
        area,
    );
}
