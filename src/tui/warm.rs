//! "Warm the cache": a screen over the dashboard (`w`) that runs the engine's `warm` for
//! manifest or list files in the selected rule's region and shows each image's outcome with
//! its fix. State, keys and drawing live here; the effect runner reads the files.

use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

use super::keys::{self, Cmd};
use super::msg::Shared;
use super::theme::Theme;
use crate::core::workload::WarmStatus;
use crate::engine::workloads::Warmed;
use crate::tui::words::said;

pub struct WarmScreen {
    pub region: String,
    /// In the sandbox an empty field warms its sample workload.
    pub sandbox: bool,
    pub files: Input,
    pub running: bool,
    /// Pulls finished and pulls to make, while running.
    pub progress: (usize, usize),
    pub result: Option<Result<Shared<Warmed>, Vec<String>>>,
    pub scroll: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Close,
    Help,
    /// Warm these files (space-separated as typed; none: the sandbox's sample).
    Run(Vec<String>),
}

impl WarmScreen {
    pub fn new(region: &str, sandbox: bool) -> Self {
        Self {
            region: region.to_string(),
            sandbox,
            files: Input::default(),
            running: false,
            progress: (0, 0),
            result: None,
            scroll: 0,
        }
    }

    /// Every key but ctrl-c (quit) belongs to the screen while it is open; `keys::WARM` says
    /// which do what (the footer and help show the same table).
    pub fn on_key(&mut self, k: &KeyEvent) -> Outcome {
        let files: Vec<String> = self
            .files
            .value()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        match keys::dispatch(keys::WARM, k, true) {
            Some(Cmd::Back) => Outcome::Close,
            Some(Cmd::Help) => Outcome::Help,
            Some(Cmd::Select) if !self.running && (self.sandbox || !files.is_empty()) => {
                self.running = true;
                self.progress = (0, 0);
                self.result = None;
                self.scroll = 0;
                Outcome::Run(files)
            }
            Some(Cmd::Up) => {
                self.scroll = self.scroll.saturating_sub(1);
                Outcome::Stay
            }
            Some(Cmd::PageUp) => {
                self.scroll = self.scroll.saturating_sub(10);
                Outcome::Stay
            }
            Some(Cmd::Down) => {
                self.scroll = self.scroll.saturating_add(1);
                Outcome::Stay
            }
            Some(Cmd::PageDown) => {
                self.scroll = self.scroll.saturating_add(10);
                Outcome::Stay
            }
            Some(_) => Outcome::Stay,
            None if self.running || k.modifiers.contains(KeyModifiers::CONTROL) => Outcome::Stay,
            None => {
                self.files.handle_event(&crossterm::event::Event::Key(*k));
                Outcome::Stay
            }
        }
    }

    /// Whether the key table's `enter` does something now.
    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Select => !self.running && (self.sandbox || !self.files.value().trim().is_empty()),
            _ => true,
        }
    }

    pub fn progressed(&mut self, done: usize, total: usize) {
        self.progress = (done, total);
    }

    pub fn finished(&mut self, result: Result<Shared<Warmed>, Vec<String>>) {
        self.running = false;
        self.result = Some(result);
    }
}

static DIGEST: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
    regex_lite::Regex::new(r"sha256:([0-9a-f]{12})[0-9a-f]{52}").unwrap()
});

/// Digests shortened to their first 12 hex digits, as `docker images` shows them: a screen
/// line holds the reference then (the CLI and JSON keep them whole).
fn short(text: &str) -> String {
    DIGEST.replace_all(text, "sha256:${1}…").to_string()
}

fn style(theme: Theme, s: WarmStatus) -> (Style, &'static str) {
    match s {
        WarmStatus::Cached => (theme.ok(), "✓"),
        WarmStatus::AlreadyCached | WarmStatus::InCache => (Style::default(), "="),
        WarmStatus::Uncovered => (theme.muted(), "-"),
        WarmStatus::Moved => (theme.warn(), "!"),
        WarmStatus::Unwarmable | WarmStatus::Invalid | WarmStatus::Failed => (theme.removed(), "✗"),
    }
}

pub fn render(w: &WarmScreen, theme: Theme, frame: &mut Frame, area: Rect) {
    let hint = if w.sandbox {
        "empty: the sandbox's sample workload"
    } else {
        "e.g. app.yaml (helm template output), images.txt"
    };
    let mut lines = vec![
        Line::raw(
            "Pull every image of a workload by tag through the cache before its first deploy.",
        ),
        Line::from(vec![
            Span::raw("Files (manifests or one image a line): "),
            Span::styled(format!("{}▏", w.files.value()), theme.key()),
        ]),
        Line::styled(hint, theme.muted()),
        Line::raw(""),
    ];
    match (&w.result, w.running) {
        (_, true) => lines.push(Line::styled(
            format!("Warming… {}/{} pulls done", w.progress.0, w.progress.1),
            theme.warn(),
        )),
        (Some(Ok(warmed)), _) => {
            let counts: Vec<String> = warmed
                .counts()
                .iter()
                .map(|(s, n)| format!("{n} {}", s.label()))
                .collect();
            lines.push(Line::styled(
                format!(
                    "{} reference(s): {}",
                    warmed.images.len(),
                    counts.join(", ")
                ),
                if warmed.failed() {
                    theme.warn()
                } else {
                    theme.ok()
                },
            ));
            for i in &warmed.images {
                let (st, mark) = style(theme, i.status);
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark} {:<15} ", i.status.label()), st),
                    Span::raw(short(&i.reference)),
                ]));
                if i.status != WarmStatus::Cached && i.status != WarmStatus::AlreadyCached {
                    lines.push(Line::styled(
                        format!("    {}", short(&said(&i.message))),
                        theme.muted(),
                    ));
                    if let Some(fix) = &i.fix {
                        // Whole: a fix names the digest to pin.
                        lines.push(Line::styled(
                            format!("    fix: {}", said(fix)),
                            theme.muted(),
                        ));
                    }
                }
            }
        }
        (Some(Err(why)), _) => {
            for (i, l) in why.iter().enumerate() {
                let s = if i == 0 {
                    theme.removed()
                } else {
                    theme.muted()
                };
                lines.push(Line::styled(l.clone(), s));
            }
        }
        (None, false) => {}
    }
    let popup = area;
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((w.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" Warm the cache in {} ", w.region)),
            ),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    fn key(w: &mut WarmScreen, c: KeyCode) -> Outcome {
        w.on_key(&KeyEvent::new(c, KeyModifiers::NONE))
    }

    #[test]
    fn digests_are_shortened_on_screen() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            short(&format!("nginx@{d} and {d}")),
            "nginx@sha256:abababababab… and sha256:abababababab…"
        );
        assert_eq!(short("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn typing_then_enter_runs_once() {
        let mut w = WarmScreen::new("eu-west-1", false);
        assert_eq!(key(&mut w, KeyCode::Enter), Outcome::Stay, "no file typed");
        for c in "a.yaml qj?.txt".chars() {
            assert_eq!(key(&mut w, KeyCode::Char(c)), Outcome::Stay);
        }
        assert_eq!(
            key(&mut w, KeyCode::Enter),
            Outcome::Run(vec!["a.yaml".into(), "qj?.txt".into()])
        );
        assert_eq!(key(&mut w, KeyCode::Enter), Outcome::Stay, "running");
        assert_eq!(key(&mut w, KeyCode::F(1)), Outcome::Help);
        assert_eq!(key(&mut w, KeyCode::Esc), Outcome::Close);
        // The sandbox warms its sample when nothing is typed.
        let mut w = WarmScreen::new("eu-west-1", true);
        assert_eq!(key(&mut w, KeyCode::Enter), Outcome::Run(vec![]));
    }
}
