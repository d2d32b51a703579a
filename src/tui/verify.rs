//! "Pull a test image now": a popup over the Done screen and the dashboard that runs the
//! engine's `verify` for a rule's prefix and shows what the first pull proved, or why it
//! failed with the fix. State, keys and drawing of the popup live here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

use super::theme::Theme;
use crate::core::format::human_bytes;
use crate::core::upstream::UpstreamKind;
use crate::engine::ops::Verified;

pub struct VerifyPopup {
    /// The rule's region and prefix.
    pub region: String,
    pub prefix: String,
    /// The rule's upstream: the words and the example image follow it.
    pub upstream: UpstreamKind,
    pub image: Input,
    pub running: bool,
    pub result: Option<Result<Verified, Vec<String>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Close,
    /// Pull this image (as typed) through the prefix.
    Run(String),
}

impl VerifyPopup {
    pub fn new(region: &str, prefix: &str, upstream: UpstreamKind) -> Self {
        Self {
            region: region.to_string(),
            prefix: prefix.to_string(),
            upstream,
            image: Input::default(),
            running: false,
            result: None,
        }
    }

    /// Every key but ctrl-c (quit) belongs to the popup while it is open.
    pub fn on_key(&mut self, k: &KeyEvent) -> Outcome {
        match k.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter if !self.running && !self.image.value().trim().is_empty() => {
                self.running = true;
                self.result = None;
                Outcome::Run(self.image.value().trim().to_string())
            }
            _ if self.running || k.modifiers.contains(KeyModifiers::CONTROL) => Outcome::Stay,
            _ => {
                self.image.handle_event(&crossterm::event::Event::Key(*k));
                Outcome::Stay
            }
        }
    }

    pub fn finished(&mut self, result: Result<Verified, Vec<String>>) {
        self.running = false;
        self.result = Some(result);
    }
}

pub fn render(p: &VerifyPopup, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::raw(format!(
            "Pull one image through {}/ as `docker pull` would (manifest only, no layers).",
            p.prefix
        )),
        Line::raw(""),
        Line::from(vec![
            Span::raw(format!(
                "Image in {} (NAME[:TAG], e.g. {}): ",
                p.upstream.label(),
                p.upstream.example_image()
            )),
            Span::styled(format!("{}▏", p.image.value()), theme.key()),
        ]),
        Line::raw(""),
    ];
    match (&p.result, p.running) {
        (_, true) => lines.push(Line::styled("Pulling…", theme.warn())),
        (Some(Ok(v)), _) => {
            lines.push(Line::styled(
                format!("✓ {} pulled in {} ms", v.image, v.elapsed_ms),
                theme.ok(),
            ));
            lines.push(Line::raw(format!("  digest {}", v.digest)));
            lines.push(Line::raw(format!("  {}", v.media_type)));
            let details = v.repository.map_or(String::new(), |d| {
                format!(
                    ": {} image(s), {}",
                    d.image_count,
                    human_bytes(d.size_bytes)
                )
            });
            lines.push(Line::raw(format!(
                "  {} {}{details}",
                v.cached_repository,
                if v.created {
                    "(created by this pull)"
                } else {
                    "(already cached)"
                }
            )));
        }
        (Some(Err(why)), _) => {
            for (i, l) in why.iter().enumerate() {
                let style = if i == 0 {
                    theme.removed()
                } else {
                    theme.muted()
                };
                lines.push(Line::styled(l.clone(), style));
            }
        }
        (None, false) => lines.push(Line::styled(
            format!("e.g. {}", p.upstream.example_image()),
            theme.muted(),
        )),
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("enter pull · esc close", theme.muted()));
    let width = 90.min(area.width);
    // As tall as its wrapped text (so a long failure is whole), up to the screen.
    let para = Paragraph::new(lines.clone()).wrap(Wrap { trim: false });
    let height = (para.line_count(width.saturating_sub(2)) as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default().borders(Borders::ALL).title(format!(
                " Pull a test image through {}/ in {} ",
                p.prefix, p.region
            )),
        ),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &mut VerifyPopup, c: KeyCode) -> Outcome {
        p.on_key(&KeyEvent::new(c, KeyModifiers::NONE))
    }

    #[test]
    fn typing_then_enter_runs_once() {
        let mut p = VerifyPopup::new("eu-west-1", "echo", UpstreamKind::Echo);
        assert_eq!(key(&mut p, KeyCode::Enter), Outcome::Stay, "nothing typed");
        for c in "nginx:1?q".chars() {
            assert_eq!(key(&mut p, KeyCode::Char(c)), Outcome::Stay);
        }
        assert_eq!(p.image.value(), "nginx:1?q", "? and q are typed, not keys");
        assert_eq!(
            key(&mut p, KeyCode::Enter),
            Outcome::Run("nginx:1?q".into())
        );
        assert_eq!(key(&mut p, KeyCode::Enter), Outcome::Stay, "running");
        assert_eq!(key(&mut p, KeyCode::Esc), Outcome::Close);
    }
}
