//! Drawing: a pure function of the app state. The frame (header, footer, overlays) is drawn
//! here; each screen draws its body in its own module.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::app::{App, Screen};
use super::keys;
use super::screens::{
    apply, dashboard, diagnostics, done, echo, fleet, method, options, plan, profile, region,
    teardown, upstream,
};
use super::theme::Theme;
use super::widgets::{centered, fitting, modal};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn render(app: &App, theme: Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small: {}×{}. echo-onboard needs at least {MIN_WIDTH}×{MIN_HEIGHT}; make the window larger (ctrl-c quits).",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = area.layout(&Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ]));
    render_header(app, theme, frame, header);
    render_body(app, theme, frame, body);
    render_footer(app, theme, frame, footer);
    if let Some(w) = &app.warm {
        // The header stays: which profile, account and region this runs in.
        super::warm::render(w, theme, frame, body);
    }
    if let Some(v) = &app.verify {
        super::verify::render(v, theme, frame, area);
    }
    if app.help {
        render_help(app, theme, frame, area);
    }
    if app.quit_confirm {
        modal(
            frame,
            theme,
            area,
            "Quit?",
            &[if app.changing() {
                "Changes are being made. Quit anyway? (y/n)".into()
            } else {
                "Quit echo-onboard? (y/n)".into()
            }],
        );
    }
    if app.plan.confirm_adopt {
        modal(
            frame,
            theme,
            area,
            "Take over?",
            &[
                "echo-onboard did not make what blocks this plan (the plan names its owner)."
                    .into(),
                "Taking it over lets echo-onboard change it now, and a later teardown deletes it."
                    .into(),
                String::new(),
                "Take it over? (y/n)".into(),
            ],
        );
    }
    // The apply screen asks about a cancel under its steps (apply::render).
}

fn render_body(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let now = app.now;
    match app.screen {
        Screen::Profile => profile::render(&app.profile, &app.session, theme, frame, area),
        Screen::Region => region::render(&app.region, &app.session, theme, frame, area),
        Screen::Echo => echo::render(
            &app.echo,
            app.session.identity.as_ref().map(|i| i.account.as_str()),
            theme,
            frame,
            area,
        ),
        Screen::Options => options::render(&app.options, &app.session, theme, frame, area),
        Screen::Method => method::render(&app.method, theme, frame, area),
        Screen::Plan => plan::render(&app.plan, theme, frame, area),
        Screen::Apply => apply::render(&app.apply, now, theme, frame, area),
        Screen::Done => done::render(&app.done, theme, frame, area),
        Screen::Dashboard => dashboard::render(&app.dashboard, now, theme, frame, area),
        Screen::Teardown => {
            if let Some(t) = &app.teardown {
                teardown::render(t, now, theme, frame, area);
            }
        }
        Screen::Diagnostics => {
            if let Some(d) = &app.diagnostics {
                diagnostics::render(d, theme, frame, area);
            }
        }
        Screen::Fleet => fleet::render(&app.fleet, now, theme, frame, area),
        Screen::Upstream => {
            let region = app.session.region.as_deref().unwrap_or_default();
            // The rule the typed prefix would meet, as the dashboard read it (owner proven).
            let existing = app
                .dashboard
                .rules
                .iter()
                .find(|(r, rule)| r == region && rule.prefix == app.upstream.prefix.value().trim())
                .map(|(_, rule)| rule);
            upstream::render(&app.upstream, region, existing, theme, frame, area)
        }
    }
}

/// Two lines: where you are (and SANDBOX on the right), then who and where you are connected;
/// each shortened to fit rather than cut.
fn render_header(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [line1, line2] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
    ]));
    let place = match app.screen.step() {
        Some((n, name)) => format!("  step {n}/8 · {name}"),
        None => format!("  {}", app.screen.title()),
    };
    let mut spans = vec![
        Span::styled("echo-onboard", theme.title()),
        Span::raw(place),
    ];
    let used = Line::from(spans.clone()).width() as u16;
    if app.session.is_sandbox() {
        let tag = fitting(
            line1.width.saturating_sub(used + 2),
            vec![
                "SANDBOX: simulated account, nothing real is changed".into(),
                "SANDBOX: nothing real is changed".into(),
                "SANDBOX".into(),
            ],
        );
        let pad = line1
            .width
            .saturating_sub(used + tag.chars().count() as u16) as usize;
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(tag, theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line1);

    let s = &app.session;
    let profile = s.profile.as_ref();
    let account = s.identity.as_ref().map(|i| i.account.clone());
    let join =
        |parts: Vec<Option<String>>| parts.into_iter().flatten().collect::<Vec<_>>().join(" · ");
    let session = fitting(
        line2.width,
        vec![
            join(vec![
                profile.map(|p| format!("profile {} ({})", p.title(), p.kind.label())),
                account.as_ref().map(|a| format!("account {a}")),
                s.region.as_ref().map(|r| format!("region {r}")),
            ]),
            join(vec![
                profile.map(|p| format!("profile {}", p.title())),
                account.as_ref().map(|a| format!("account {a}")),
                s.region.as_ref().map(|r| format!("region {r}")),
            ]),
            join(vec![
                profile.map(|p| p.title()),
                account.clone(),
                s.region.clone(),
            ]),
        ],
    );
    frame.render_widget(Paragraph::new(Line::styled(session, theme.muted())), line2);
}

fn render_footer(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let hints = keys::footer(
        app.active_keys(),
        app.text_focus(),
        |c| app.enabled(c),
        area.width as usize,
    );
    let mut spans = vec![];
    for h in hints {
        // A key that does nothing now is shown dimmed, not hidden.
        let (key, word) = if h.enabled {
            (theme.key(), ratatui::style::Style::default())
        } else {
            (
                theme.muted().add_modifier(Modifier::DIM),
                theme.muted().add_modifier(Modifier::DIM),
            )
        };
        spans.push(Span::styled(h.key, key));
        spans.push(Span::styled(format!(" {}  ", h.short), word));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let width = area.width.min(90);
    // Borders, the key column and the gap: the rest is for the words, wrapped, never cut.
    let key_width = 15;
    let text_width = width.saturating_sub(2 + key_width + 1) as usize;
    let mut total = 0;
    let rows: Vec<Row> = keys::help(app.active_keys(), |c| app.enabled(c))
        .into_iter()
        .map(|(k, what, enabled)| {
            let (text, style) = if enabled {
                (what.to_string(), ratatui::style::Style::default())
            } else {
                (format!("{what} (not now)"), theme.muted())
            };
            let lines = wrap_words(&text, text_width);
            let height = lines.len() as u16;
            total += height;
            Row::new(vec![
                Cell::from(Span::styled(k, theme.key())),
                Cell::from(ratatui::text::Text::from(
                    lines
                        .into_iter()
                        .map(|l| Line::styled(l, style))
                        .collect::<Vec<_>>(),
                )),
            ])
            .height(height)
        })
        .collect();
    let h = total + 2;
    let popup = centered(area, width, h);
    frame.render_widget(Clear, popup);
    let screen = if app.warm.is_some() {
        "warm the cache"
    } else {
        app.screen.title()
    };
    let title = format!(" Keys: {screen} — any key closes ");
    let table = Table::new(rows, [Constraint::Length(key_width), Constraint::Fill(1)])
        .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, popup);
}

/// Words packed into lines of at most `width` columns (a longer word gets its own line).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}
