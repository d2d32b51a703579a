//! Drawing: a pure function of the app state. Only visible rows are built, so registries with
//! thousands of repositories stay smooth.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::app::{App, Pane, Screen};
use super::keys;
use super::theme::Theme;
use crate::core::format::human_bytes;
use crate::core::render::{plan_lines, Tone, ToneLine};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn relative(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small: {}×{}. echo-onboard needs at least {MIN_WIDTH}×{MIN_HEIGHT}; make the window larger.",
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
    match app.screen {
        Screen::Profile => render_profile(app, theme, frame, body),
        Screen::Region => render_region(app, theme, frame, body),
        Screen::Echo => render_echo(app, theme, frame, body),
        Screen::Options => render_options(app, theme, frame, body),
        Screen::Method => render_method(app, theme, frame, body),
        Screen::Plan => render_plan(app, theme, frame, body),
        Screen::Apply => render_apply(app, theme, frame, body),
        Screen::Done => render_done(app, theme, frame, body),
        Screen::Dashboard => render_dashboard(app, theme, frame, body),
        Screen::Teardown => render_teardown(app, theme, frame, body),
        Screen::Diagnostics => render_diagnostics(app, theme, frame, body),
    }
    render_footer(app, theme, frame, footer);
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
            &["Changes are being made. Quit anyway? (y/n)".into()],
        );
    }
    if app.apply.confirm_cancel {
        let mut lines = vec![
            "Cancel the apply? (y/n)".to_string(),
            String::new(),
            "Done so far in AWS:".to_string(),
        ];
        if app.apply.completed.is_empty() {
            lines.push("  nothing yet".into());
        }
        lines.extend(app.apply.completed.iter().map(|c| format!("  ✓ {c}")));
        lines.push(String::new());
        lines.push("The step in flight may still finish; this run's changes are not rolled back on cancel.".into());
        lines.push("Check with `echo-onboard plan`, or tear down from the dashboard.".into());
        modal(frame, theme, area, "Cancel?", &lines);
    }
}

fn render_header(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled("echo-onboard", theme.title())];
    if let Some((n, name)) = app.screen.step() {
        spans.push(Span::raw(format!("  step {n}/8 · {name}")));
    } else if app.screen == Screen::Dashboard {
        spans.push(Span::raw("  dashboard"));
    } else if app.screen == Screen::Teardown {
        spans.push(Span::raw("  teardown"));
    } else if app.screen == Screen::Diagnostics {
        spans.push(Span::raw("  diagnostics"));
    }
    let mut session = vec![];
    if let Some(p) = &app.profile {
        session.push(format!("profile {} ({})", p.title(), p.kind.label()));
    }
    if let Some(id) = &app.identity {
        session.push(format!("account {}", id.account));
    }
    if let Some(r) = &app.region {
        session.push(format!("region {r}"));
    }
    let mut line2 = vec![Span::styled(session.join(" · "), theme.muted())];
    if app
        .profile
        .as_ref()
        .is_some_and(|p| p.kind == super::profiles::ProfileKind::Sandbox)
    {
        line2.push(Span::styled(
            "  SANDBOX: simulated account, nothing real is changed",
            theme.warn(),
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(spans), Line::from(line2)]),
        area,
    );
}

fn render_footer(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![];
    for (key, what) in keys::footer(app.active_keys(), app.text_focus()) {
        spans.push(Span::styled(key, theme.key()));
        let short = what.split(['(', ',']).next().unwrap_or(what).trim();
        spans.push(Span::raw(format!(" {short}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let rows: Vec<Row> = keys::help(app.active_keys())
        .into_iter()
        .map(|(k, what)| {
            Row::new(vec![
                Cell::from(Span::styled(k, theme.key())),
                Cell::from(what),
            ])
        })
        .collect();
    let h = (rows.len() as u16 + 4).min(area.height);
    let popup = centered(area, 76, h);
    frame.render_widget(Clear, popup);
    let table = Table::new(rows, [Constraint::Length(24), Constraint::Min(10)]).block(
        Block::default()
            .borders(Borders::ALL)
            .title(" Keys — any key closes "),
    );
    frame.render_widget(table, popup);
}

fn modal(frame: &mut Frame, theme: Theme, area: Rect, title: &str, lines: &[String]) {
    // Room for lines that wrap.
    let popup = centered(area, 76, (lines.len() as u16 + 4).min(area.height));
    frame.render_widget(Clear, popup);
    let text: Vec<Line> = lines.iter().map(|l| Line::raw(l.clone())).collect();
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.danger())),
        ),
        popup,
    );
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    }
}

fn field_line<'a>(theme: Theme, label: &str, input: &'a Input, focused: bool) -> Line<'a> {
    let marker = if focused { "›" } else { " " };
    let value_style = if focused {
        Style::default().add_modifier(Modifier::UNDERLINED)
    } else {
        Style::default()
    };
    Line::from(vec![
        Span::styled(
            format!("{marker} {label:<22}"),
            if focused {
                theme.key()
            } else {
                Style::default()
            },
        ),
        Span::styled(input.value().to_string(), value_style),
        Span::styled(if focused { "▏" } else { "" }, theme.key()),
    ])
}

fn error_line(theme: Theme, e: Option<&crate::core::validate::FieldError>) -> Line<'static> {
    match e {
        Some(e) => Line::from(Span::styled(
            format!("    ✗ {} (example: {})", e.rule, e.example),
            theme.removed(),
        )),
        None => Line::from(Span::styled("    ✓", theme.ok())),
    }
}

/// Rows `offset..offset+height` keeping `sel` visible.
fn window(sel: usize, len: usize, height: usize) -> std::ops::Range<usize> {
    let height = height.max(1);
    let offset = sel
        .saturating_sub(height - 1)
        .min(len.saturating_sub(height));
    offset..(offset + height).min(len)
}

fn render_profile(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [top, list, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(4),
    ]));
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw("Choose the AWS profile to set up (type to filter)."),
            field_line(theme, "Filter", &app.profile_filter, true),
        ]),
        top,
    );
    let items = app.filtered_profiles();
    let range = window(
        app.profile_sel,
        items.len(),
        list.height.saturating_sub(2) as usize,
    );
    let rows: Vec<Row> = items[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let style = if range.start + i == app.profile_sel {
                theme.selected()
            } else {
                Style::default()
            };
            Row::new(vec![
                p.title(),
                p.kind.label().to_string(),
                p.region.clone().unwrap_or_else(|| "-".into()),
            ])
            .style(style)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(30),
            Constraint::Length(20),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["PROFILE", "KIND", "DEFAULT REGION"]).style(theme.muted()))
    .block(Block::default().borders(Borders::ALL).title(" Profiles "));
    frame.render_widget(table, list);
    let mut info = vec![];
    if app.connecting {
        info.push(Line::styled(
            "Checking credentials (sts:GetCallerIdentity)…",
            theme.warn(),
        ));
    } else if let Some(e) = &app.identity_error {
        info.push(Line::styled(format!("✗ {e}"), theme.removed()));
    } else if let Some(id) = &app.identity {
        info.push(Line::styled(
            format!("✓ {} ({})", id.arn, id.account),
            theme.ok(),
        ));
    }
    if app.sandbox_only {
        info.push(Line::styled(
            "No AWS credentials found: choose sandbox to try everything on a simulated account.",
            theme.warn(),
        ));
    }
    frame.render_widget(Paragraph::new(info).wrap(Wrap { trim: true }), bottom);
}

fn render_region(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [top, list] = area.layout(&Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
    ]));
    let who = app
        .identity
        .as_ref()
        .map(|i| format!("✓ {}", i.arn))
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(who, theme.ok()),
            Line::raw("Region to set up the cache in (type to filter):"),
            field_line(theme, "Filter", &app.region_filter, true),
        ]),
        top,
    );
    let items = app.filtered_regions();
    let range = window(
        app.region_sel,
        items.len(),
        list.height.saturating_sub(2) as usize,
    );
    let lines: Vec<Line> = items[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let style = if range.start + i == app.region_sel {
                theme.selected()
            } else {
                Style::default()
            };
            Line::styled(format!("  {r}"), style)
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Regions with ECR pull-through cache "),
        ),
        list,
    );
}

fn render_echo(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let (a, r) = app.echo_errors();
    let lines = vec![
        Line::raw("Echo's registry: the 12-digit AWS account id Echo gave you, and its region."),
        Line::raw(""),
        field_line(
            theme,
            "Echo account id",
            &app.echo_account,
            app.echo_focus == 0,
        ),
        error_line(theme, a.as_ref()),
        Line::raw(""),
        field_line(theme, "Echo region", &app.echo_region, app.echo_focus == 1),
        error_line(theme, r.as_ref()),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Echo account "),
        ),
        area,
    );
}

fn render_options(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let errors = app.option_errors();
    let err = |field: &str| errors.iter().find(|e| e.field == field);
    let mut lines = vec![
        Line::raw("Cache prefix: images are pulled as <account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<image>."),
        Line::raw(""),
        field_line(theme, "Prefix", &app.prefix, app.option_focus == 0),
        error_line(theme, err("prefix")),
    ];
    match (&app.rules, app.prefix_conflict()) {
        (None, _) => lines.push(Line::styled("    loading the region's existing rules…", theme.muted())),
        (Some(Err(e)), _) => lines.push(Line::styled(format!("    could not list existing rules: {e}"), theme.warn())),
        (Some(Ok(_)), Some(rule)) => lines.push(Line::styled(
            format!(
                "    ! a rule with this prefix exists: upstream {} {}, role {}, managed by {} — the plan shows what happens",
                rule.upstream_registry,
                rule.upstream_url,
                rule.role_arn.as_deref().unwrap_or("-"),
                rule.managed_by.label()
            ),
            theme.warn(),
        )),
        (Some(Ok(rules)), None) => lines.push(Line::styled(format!("    no conflict with the {} existing rule(s) here", rules.len()), theme.muted())),
    }
    lines.push(Line::raw(""));
    if app.advanced {
        lines.push(Line::styled(
            "Advanced options (ctrl-o hides them)",
            theme.muted(),
        ));
        lines.push(field_line(
            theme,
            "Role name",
            &app.role_name,
            app.option_focus == 1,
        ));
        lines.push(error_line(theme, err("role-name")));
        lines.push(field_line(
            theme,
            "Upstream prefix",
            &app.upstream_prefix,
            app.option_focus == 2,
        ));
        lines.push(error_line(theme, err("upstream-prefix")));
        lines.push(field_line(
            theme,
            "Tags (k=v, k=v)",
            &app.tags,
            app.option_focus == 3,
        ));
        lines.push(error_line(theme, err("tag")));
    } else {
        lines.push(Line::styled(
            format!(
                "▸ Advanced options (ctrl-o): role {}, upstream prefix {}, tags",
                app.role_name.value(),
                app.upstream_prefix.value()
            ),
            theme.muted(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Prefix and options "),
        ),
        area,
    );
}

fn render_method(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let choices = [
        ("API calls", "Direct AWS API calls. Fastest; rolls back what it created if a step fails. Pick this unless your account must be changed through CloudFormation."),
        ("CloudFormation stack", "A stack built from Echo's template (echo-registry-ecr-cache). Pick this when changes must go through CloudFormation or you want drift detection and stack events."),
    ];
    let mut lines = vec![Line::raw("How should the changes be made?"), Line::raw("")];
    for (i, (name, why)) in choices.iter().enumerate() {
        let sel = i == app.method_sel;
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

/// A plan line as the engine tagged it, in the theme's styles (no re-reading of the text).
fn styled(theme: Theme, line: &ToneLine) -> Line<'static> {
    Line::from(
        line.spans
            .iter()
            .map(|(text, tone)| {
                let style = match tone {
                    None => Style::default(),
                    Some(Tone::Added) => theme.added(),
                    Some(Tone::Removed) => theme.removed(),
                    Some(Tone::Changed) => theme.changed(),
                    Some(Tone::Warn) => theme.warn(),
                    Some(Tone::Danger) => theme.danger(),
                    Some(Tone::Muted) => theme.muted(),
                };
                Span::styled(text.clone(), style)
            })
            .collect::<Vec<_>>(),
    )
}

fn render_plan(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [body, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(2),
    ]));
    let (lines, hint): (Vec<Line>, Line) = match &app.plan {
        None => (
            vec![Line::styled(
                "Computing the plan: reading the account (nothing is changed)…",
                theme.warn(),
            )],
            Line::raw(""),
        ),
        Some(Err(e)) => (
            vec![Line::styled(format!("✗ {e}"), theme.removed())],
            Line::raw("esc: back to edit"),
        ),
        Some(Ok(p)) => {
            let lines = plan_lines(&p.plan)
                .iter()
                .map(|l| styled(theme, l))
                .collect();
            let hint = if !p.plan.blockers.is_empty() {
                Line::styled("Nothing has changed. Resolve the conflict above (esc to edit); enter is disabled.", theme.danger())
            } else if !p.plan.has_changes() {
                Line::styled(
                    "Nothing to change: the account already matches. enter: usage instructions.",
                    theme.ok(),
                )
            } else {
                Line::styled(
                    "Nothing has changed yet. enter: apply · esc: back to edit",
                    theme.warn(),
                )
            };
            (lines, hint)
        }
    };
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((app.plan_scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(" Plan ")),
        body,
    );
    frame.render_widget(Paragraph::new(hint), bottom);
}

fn render_apply(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [gauge, body, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(2),
    ]));
    let a = &app.apply;
    // The clock stops when the apply ends.
    let elapsed = a
        .started
        .map(|s| (a.ended.unwrap_or(app.now) - s).num_seconds().max(0))
        .unwrap_or(0);
    let (title, ratio, label) = match &a.finished {
        Some(Ok(_)) => (format!(" Applied · {elapsed}s "), 1.0, "done".to_string()),
        Some(Err(_)) => (
            format!(" Failed · {elapsed}s "),
            if a.total == 0 {
                0.0
            } else {
                (a.done as f64 / a.total as f64).min(1.0)
            },
            format!("{}/{}", a.done, a.total),
        ),
        None => (
            format!(" Applying · {elapsed}s "),
            if a.total == 0 {
                0.0
            } else {
                (a.done as f64 / a.total as f64).min(1.0)
            },
            format!("{}/{}", a.done, a.total),
        ),
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::default().borders(Borders::ALL).title(title))
            .gauge_style(theme.ok())
            .ratio(ratio)
            .label(label),
        gauge,
    );
    let lines: Vec<Line> = a
        .lines
        .iter()
        .map(|l| {
            Line::styled(
                l.clone(),
                if l.contains('✗') || l.contains("FAILED") {
                    theme.removed()
                } else if l.contains('✓') || l.contains("COMPLETE") {
                    theme.ok()
                } else {
                    Style::default()
                },
            )
        })
        .collect();
    let scroll = a
        .scroll
        .max((a.lines.len() as u16).saturating_sub(body.height.saturating_sub(2)));
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(" Progress ")),
        body,
    );
    let status = match &a.finished {
        None => Line::styled("Working… ctrl-c asks before cancelling.", theme.warn()),
        Some(Ok(_)) => Line::styled("✓ Applied. enter: usage instructions", theme.ok()),
        Some(Err(e)) => Line::styled(
            format!("✗ {}  (enter: back to edit)", e.join(" ")),
            theme.removed(),
        ),
    };
    frame.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), bottom);
}

fn render_done(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::styled(
            "✓ Your account is set up to pull Echo's images through the cache.",
            theme.ok(),
        ),
        Line::raw(""),
        Line::raw("Log in and pull:"),
    ];
    lines.extend(
        app.usage
            .iter()
            .map(|u| Line::styled(format!("  {u}"), theme.key())),
    );
    lines.push(Line::raw(""));
    lines.push(Line::raw("Workloads that pull need ecr:BatchImportUpstreamImage and ecr:CreateRepository on the prefix"));
    lines.push(Line::raw(
        "(`echo-onboard diagnose --puller-role <arn>` checks a role).",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "v: pull a test image now · d: open the dashboard · q: quit",
        theme.muted(),
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Done ")),
        area,
    );
}

fn render_dashboard(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let d = &app.dashboard;
    let [status, rules_area, repos_area] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(35),
        Constraint::Min(5),
    ]));
    let updated = match d.updated_at {
        Some(t) => format!("updated {}", relative(app.now, t)),
        None => "not loaded yet".into(),
    };
    let mut s = vec![Span::raw(updated)];
    if d.loading {
        s.push(Span::styled("  refreshing…", theme.warn()));
    }
    if let Some(e) = &d.error {
        s.push(Span::styled(format!("  ✗ {e}"), theme.removed()));
    }
    if d.details_pending > 0 {
        s.push(Span::styled(
            format!("  images: {} to read", d.details_pending),
            theme.muted(),
        ));
    }
    if let Some(e) = &d.details_error {
        s.push(Span::styled(format!("  ✗ images: {e}"), theme.removed()));
    }
    s.push(Span::styled(
        format!("  sort: {}", d.sort.label()),
        theme.muted(),
    ));
    frame.render_widget(Paragraph::new(Line::from(s)), status);

    let Some(o) = &d.observed else {
        frame.render_widget(
            Paragraph::new("Loading the region's rules and repositories…")
                .block(Block::default().borders(Borders::ALL)),
            rules_area,
        );
        return;
    };
    let range = window(
        d.rule_sel,
        o.rules.len(),
        rules_area.height.saturating_sub(3) as usize,
    );
    let rows: Vec<Row> = o.rules[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let v = d.validations.get(&r.prefix).cloned().unwrap_or_else(|| {
                if r.upstream_registry == "ecr" {
                    "…".into()
                } else {
                    "-".into()
                }
            });
            let style = if range.start + i == d.rule_sel {
                if d.pane == Pane::Rules {
                    theme.selected()
                } else {
                    Style::default().add_modifier(Modifier::BOLD)
                }
            } else {
                Style::default()
            };
            Row::new(vec![
                r.prefix.clone(),
                format!("{} {}", r.upstream_registry, r.upstream_url),
                r.role_arn
                    .as_deref()
                    .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                    .unwrap_or_else(|| "-".into()),
                r.managed_by.label(),
                v,
            ])
            .style(style)
        })
        .collect();
    let title = format!(
        " Pull-through cache rules in {} ({}/50) ",
        o.region,
        o.rules.len()
    );
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(14),
                Constraint::Min(20),
                Constraint::Length(22),
                Constraint::Length(22),
                Constraint::Length(10),
            ],
        )
        .header(
            Row::new(vec!["PREFIX", "UPSTREAM", "ROLE", "MANAGED BY", "VALID"])
                .style(theme.muted()),
        )
        .block(Block::default().borders(Borders::ALL).title(title)),
        rules_area,
    );

    let (list_area, detail_area) = if d.detail.is_some() {
        let [l, r] = repos_area.layout(&Layout::horizontal([
            Constraint::Percentage(55),
            Constraint::Percentage(45),
        ]));
        (l, Some(r))
    } else {
        (repos_area, None)
    };
    let repos = app.visible_repos();
    let range = window(
        d.repo_sel,
        repos.len(),
        list_area.height.saturating_sub(3) as usize,
    );
    let rows: Vec<Row> = repos[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let style = if range.start + i == d.repo_sel && d.pane == Pane::Repos {
                theme.selected()
            } else {
                Style::default()
            };
            Row::new(vec![
                r.name.clone(),
                // "…" until the background read of its images reaches this row.
                r.image_count().map_or("…".into(), |n| n.to_string()),
                r.size_bytes().map_or("…".into(), human_bytes),
                match &r.details {
                    None => "…".into(),
                    Some(d) => d
                        .last_pulled_at
                        .map(|t| relative(app.now, t))
                        .unwrap_or_else(|| "never".into()),
                },
                r.pull_count_30d.to_string(),
            ])
            .style(style)
        })
        .collect();
    let rule = app
        .selected_rule()
        .map(|r| r.prefix.clone())
        .unwrap_or_default();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Min(20),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(11),
            ],
        )
        .header(
            Row::new(vec![
                "REPOSITORY",
                "IMAGES",
                "SIZE",
                "LAST PULL",
                "PULLS (30D)",
            ])
            .style(theme.muted()),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Cached under {rule}/ ({}) ", repos.len())),
        ),
        list_area,
    );
    if let (Some(area), Some((name, images))) = (detail_area, &d.detail) {
        let lines: Vec<Line> = match images {
            None => vec![Line::styled("loading images…", theme.warn())],
            Some(Err(e)) => vec![Line::styled(format!("✗ {e}"), theme.removed())],
            Some(Ok(imgs)) if imgs.is_empty() => vec![Line::raw("no images")],
            Some(Ok(imgs)) => imgs
                .iter()
                .map(|i| {
                    Line::raw(format!(
                        "{:<14} {:>9}  pulled {}",
                        i.tags
                            .first()
                            .cloned()
                            .unwrap_or_else(|| "<untagged>".into()),
                        human_bytes(i.size_bytes),
                        i.last_pulled_at
                            .map(|t| relative(app.now, t))
                            .unwrap_or_else(|| "never".into())
                    ))
                })
                .collect(),
        };
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {name} (esc closes) ")),
            ),
            area,
        );
    }
}

fn render_teardown(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let Some(t) = &app.teardown else { return };
    let [plan_area, confirm_area] = area.layout(&Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(7),
    ]));
    let lines: Vec<Line> = if t.running || t.finished.is_some() {
        t.lines.iter().map(|l| Line::raw(l.clone())).collect()
    } else {
        let lines: Vec<Line> = plan_lines(&t.plan)
            .iter()
            .map(|l| styled(theme, l))
            .collect();
        lines
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Tear down {} ", t.rule.prefix)),
        ),
        plan_area,
    );
    let repos = app.dashboard.observed.as_ref().map_or(0, |o| {
        o.repositories
            .iter()
            .filter(|r| r.rule_prefix == t.rule.prefix)
            .count()
    });
    let mut c = vec![Line::raw(format!(
        "[{}] also delete the {repos} cached repositories under {}/ with their images (ctrl-r)",
        if t.delete_repos { "x" } else { " " },
        t.rule.prefix
    ))];
    match &t.finished {
        Some(Ok(deleted)) => c.push(Line::styled(
            format!(
                "✓ Deleted: {}. enter: back to the dashboard",
                deleted.join(", ")
            ),
            theme.ok(),
        )),
        Some(Err(e)) => c.push(Line::styled(
            format!("✗ {} (enter: back)", e.join(" ")),
            theme.removed(),
        )),
        None if t.running => c.push(Line::styled("Deleting…", theme.warn())),
        None if t.planned.is_none() => c.push(Line::styled(
            "Reading who made this rule (this tool, a stack or someone else)…",
            theme.warn(),
        )),
        None if !t.plan.has_changes() => c.push(Line::styled(
            "Nothing here was created by echo-onboard: nothing will be deleted (esc: back).",
            theme.warn(),
        )),
        None => {
            c.push(Line::raw(""));
            c.push(Line::styled(
                format!(
                    "Type the prefix {} and press enter to delete. Nothing is deleted otherwise.",
                    t.rule.prefix
                ),
                theme.danger(),
            ));
            c.push(field_line(theme, "Confirm prefix", &t.confirm, true));
            if let Some(why) = &t.refused {
                c.push(Line::styled(format!("✗ {why}"), theme.removed()));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(c)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Confirm ")),
        confirm_area,
    );
}

fn render_diagnostics(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    use crate::core::checks::Status;
    let Some(d) = &app.diagnostics else { return };
    let [body, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(2),
    ]));
    let lines: Vec<Line> = match &d.checks {
        None => vec![Line::styled(
            format!("Running every check for {}/ in parallel…", d.prefix),
            theme.warn(),
        )],
        Some(checks) => checks
            .iter()
            .map(|c| {
                let tone = match c.status {
                    Status::Pass => theme.ok(),
                    Status::Warn => theme.warn(),
                    Status::Fail => theme.danger(),
                };
                Line::from(vec![
                    Span::styled(c.status.label().to_string(), tone),
                    Span::raw(c.line()[c.status.label().len()..].to_string()),
                ])
            })
            .collect(),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((d.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" Diagnostics for {}/ ", d.prefix)),
            ),
        body,
    );
    let status = match (&d.bundle, d.writing) {
        (_, true) => Line::styled("Writing the support bundle…", theme.warn()),
        (Some(Ok(path)), _) => Line::styled(format!("✓ Support bundle written to {path} (mode 0600; no secrets). Attach it to your ticket."), theme.ok()),
        (Some(Err(e)), _) => Line::styled(format!("✗ {e}"), theme.removed()),
        (None, _) => Line::styled("b: write the support bundle for Echo support", theme.muted()),
    };
    frame.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), bottom);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_the_selection_visible() {
        assert_eq!(window(0, 100, 10), 0..10);
        assert_eq!(window(15, 100, 10), 6..16);
        assert_eq!(window(99, 100, 10), 90..100);
        assert_eq!(window(2, 3, 10), 0..3);
        assert_eq!(window(0, 0, 10), 0..0);
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now - chrono::Duration::seconds(5)), "5s ago");
        assert_eq!(relative(now, now - chrono::Duration::minutes(3)), "3m ago");
        assert_eq!(relative(now, now - chrono::Duration::hours(5)), "5h ago");
        assert_eq!(relative(now, now - chrono::Duration::days(2)), "2d ago");
    }
}
