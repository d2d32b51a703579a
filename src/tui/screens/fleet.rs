//! "Many accounts": one CloudFormation StackSet deploys Echo's setup to many accounts ×
//! regions. A short form (targets, regions, Echo account, prefix, stack set), the engine's
//! fleet plan, the apply's progress per account × region as StackSets reports it, the live
//! status of every instance, and teardown once the stack set's name is typed.

use std::cell::Cell;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen};
use crate::core::fleet::{FleetInput, DEFAULT_STACK_SET_NAME};
use crate::core::plan::Action;
use crate::core::render::{action_tone, fleet_plan_lines};
use crate::core::validate::{FieldError, SetupInput};
use crate::engine::events::Event;
use crate::engine::fleet::{FleetApplied, FleetPlanned, FleetStatus, FleetTornDown};
use crate::tui::keys::{self, Binding, Cmd};
use crate::tui::msg::{Effect, Shared};
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    ellipsize, error_line, field_line, fit_columns, scrolled, styled, tone_style,
};
use crate::tui::words::said;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetField {
    Targets,
    Regions,
    EchoAccount,
    Prefix,
    StackSet,
}

const FIELDS: [FleetField; 5] = [
    FleetField::Targets,
    FleetField::Regions,
    FleetField::EchoAccount,
    FleetField::Prefix,
    FleetField::StackSet,
];

/// One instance's state in an operation, as StackSets reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellState {
    Pending,
    Running,
    Succeeded,
    /// FAILED or CANCELLED, with AWS's reason.
    Failed(String),
}

impl CellState {
    fn of(status: &str, reason: Option<&str>) -> Self {
        match status {
            "SUCCEEDED" => CellState::Succeeded,
            "RUNNING" => CellState::Running,
            "FAILED" | "CANCELLED" => {
                CellState::Failed(format!("{status}: {}", reason.unwrap_or("no reason given")))
            }
            _ => CellState::Pending,
        }
    }
}

/// An account (or, before StackSets names its accounts, an OU) × region of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub target: String,
    pub region: String,
    pub action: Action,
    pub state: CellState,
}

pub enum Phase {
    Form,
    Planning,
    Planned(Result<Shared<FleetPlanned>, Vec<String>>),
    Applying,
    Applied(Result<Shared<FleetApplied>, Vec<String>>),
    Reading,
    Status(Result<Shared<FleetStatus>, Vec<String>>),
    /// Teardown asked: the instances that will go, and the typed confirmation.
    Confirm(Shared<FleetStatus>),
    TearingDown,
    TornDown(Result<Shared<FleetTornDown>, Vec<String>>),
}

pub struct FleetScreen {
    /// Where esc from the form goes back to (the dashboard or the method step).
    pub from: Screen,
    /// The stack set's home region (the wizard's region).
    pub region: String,
    pub sandbox: bool,
    /// The wizard's setup (role name, tags, cache settings); Echo's account and the prefix
    /// come from this form.
    pub setup: SetupInput,
    pub repository_policy: Option<String>,
    pub targets: Input,
    pub regions: Input,
    pub echo_account: Input,
    pub prefix: Input,
    pub stack_set: Input,
    pub focus: FleetField,
    /// StackSets is called as a delegated administrator of the Organization.
    pub delegated: bool,
    /// Set by enter on the form: errors show on every field after a try.
    pub tried: bool,
    pub phase: Phase,
    /// The operation's instances, updated from the engine's events.
    pub rows: Vec<InstanceRow>,
    pub confirm: Input,
    /// Teardown detaches the instances and keeps their stacks.
    pub retain: bool,
    pub refused: Option<String>,
    pub scroll: u16,
    pub max_scroll: Cell<u16>,
}

/// The sandbox's organization, so the form says what to try.
pub const SANDBOX_HINT: &str = "Sandbox organization: accounts 111111111111, 222222222222, 333333333333, 444444444444 (no read role), OU ou-echo-workloads1.";

fn split(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_org_unit(id: &str) -> bool {
    id.starts_with("ou-") || id.starts_with("r-")
}

impl FleetScreen {
    pub fn new(
        from: Screen,
        region: &str,
        sandbox: bool,
        setup: SetupInput,
        repository_policy: Option<String>,
    ) -> Self {
        Self {
            from,
            region: region.into(),
            sandbox,
            targets: Input::new(if sandbox {
                "111111111111,222222222222".into()
            } else {
                String::new()
            }),
            regions: Input::new(region.into()),
            echo_account: Input::new(setup.echo_account.clone()),
            prefix: Input::new(setup.prefix.clone()),
            stack_set: Input::new(DEFAULT_STACK_SET_NAME.into()),
            setup,
            repository_policy,
            focus: FleetField::Targets,
            delegated: false,
            tried: false,
            phase: Phase::Form,
            rows: vec![],
            confirm: Input::default(),
            retain: false,
            refused: None,
            scroll: 0,
            max_scroll: Cell::new(0),
        }
    }

    /// The fleet this form describes; ids starting `ou-` or `r-` are OUs (service-managed).
    pub fn input(&self) -> FleetInput {
        let mut setup = self.setup.clone();
        setup.echo_account = self.echo_account.value().trim().into();
        setup.prefix = self.prefix.value().trim().into();
        let (org_units, accounts): (Vec<String>, Vec<String>) = split(self.targets.value())
            .into_iter()
            .partition(|t| is_org_unit(t));
        FleetInput {
            accounts,
            org_units,
            regions: split(self.regions.value()),
            stack_set_name: self.stack_set.value().trim().into(),
            delegated_admin: self.delegated,
            ..FleetInput::new(setup)
        }
    }

    pub fn errors(&self) -> Vec<FieldError> {
        self.input().validate().err().unwrap_or_default()
    }

    fn field_of(e: &FieldError) -> Option<FleetField> {
        match e.field {
            "accounts" | "org-units" => Some(FleetField::Targets),
            "regions" => Some(FleetField::Regions),
            "echo-account" => Some(FleetField::EchoAccount),
            "prefix" => Some(FleetField::Prefix),
            "stack-set-name" => Some(FleetField::StackSet),
            _ => None,
        }
    }

    fn call_as(&self) -> crate::core::stacksets::CallAs {
        self.delegated.then(|| "DELEGATED_ADMIN".to_string())
    }

    pub fn stack_set_name(&self) -> String {
        match self.stack_set.value().trim() {
            "" => DEFAULT_STACK_SET_NAME.into(),
            n => n.into(),
        }
    }

    /// The form takes typed characters; so does the teardown confirmation.
    pub fn typing(&self) -> bool {
        matches!(self.phase, Phase::Form | Phase::Confirm(_))
    }

    pub fn focused(&mut self) -> Option<&mut Input> {
        match self.phase {
            Phase::Form => Some(match self.focus {
                FleetField::Targets => &mut self.targets,
                FleetField::Regions => &mut self.regions,
                FleetField::EchoAccount => &mut self.echo_account,
                FleetField::Prefix => &mut self.prefix,
                FleetField::StackSet => &mut self.stack_set,
            }),
            Phase::Confirm(_) => Some(&mut self.confirm),
            _ => None,
        }
    }

    /// Changes are being made in AWS now.
    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Applying | Phase::TearingDown)
    }

    fn busy(&self) -> bool {
        matches!(
            self.phase,
            Phase::Planning | Phase::Applying | Phase::Reading | Phase::TearingDown
        )
    }

    pub fn keys(&self) -> &'static [Binding] {
        match &self.phase {
            Phase::Form => keys::FLEET_FORM,
            Phase::Planned(_) => keys::FLEET_PLAN,
            Phase::Applied(_) => keys::FLEET_APPLIED,
            Phase::Status(_) => keys::FLEET_STATUS,
            Phase::Confirm(_) => keys::FLEET_CONFIRM,
            Phase::TornDown(_) => keys::FLEET_ENDED,
            Phase::Planning | Phase::Applying | Phase::Reading | Phase::TearingDown => keys::BUSY,
        }
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match (&self.phase, cmd) {
            (Phase::Form, Cmd::Select) => self.errors().is_empty(),
            (Phase::Planned(r), Cmd::Select) => {
                r.as_ref().is_ok_and(|p| p.plan.blockers.is_empty())
            }
            (Phase::Status(r), Cmd::Teardown) => r.as_ref().is_ok_and(|s| s.stack_set.is_some()),
            _ => true,
        }
    }

    fn plan(&mut self) -> Out {
        self.phase = Phase::Planning;
        self.scroll = 0;
        Out::effect(Effect::FleetPlan {
            input: Box::new(self.input()),
            repository_policy: self.repository_policy.clone(),
        })
    }

    fn status(&mut self) -> Out {
        self.phase = Phase::Reading;
        self.scroll = 0;
        Out::effect(Effect::FleetStatus {
            stack_set: self.stack_set_name(),
            call_as: self.call_as(),
        })
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        let max = self.max_scroll.get();
        match cmd {
            Cmd::Up if !self.typing() => {
                self.scroll = self.scroll.saturating_sub(1);
                return Out::none();
            }
            Cmd::Down if !self.typing() => {
                self.scroll = (self.scroll + 1).min(max);
                return Out::none();
            }
            Cmd::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Cmd::PageDown => self.scroll = (self.scroll + 10).min(max),
            Cmd::Top if !self.typing() => self.scroll = 0,
            Cmd::Bottom if !self.typing() => self.scroll = max,
            _ => {}
        }
        if self.busy() {
            return Out::none();
        }
        let at = FIELDS.iter().position(|f| *f == self.focus).unwrap_or(0);
        match (&self.phase, cmd) {
            (Phase::Form, Cmd::NextField) => self.focus = FIELDS[(at + 1) % FIELDS.len()],
            (Phase::Form, Cmd::PrevField) => {
                self.focus = FIELDS[(at + FIELDS.len() - 1) % FIELDS.len()]
            }
            // Enter plans, or moves to the first field in error (nothing is sent).
            (Phase::Form, Cmd::Select) => {
                self.tried = true;
                match self.errors().first() {
                    None => return self.plan(),
                    Some(e) => {
                        if let Some(f) = Self::field_of(e) {
                            self.focus = f;
                        }
                    }
                }
            }
            (Phase::Form, Cmd::FleetStatus) => return self.status(),
            (Phase::Form, Cmd::ToggleCallAs) => self.delegated = !self.delegated,
            (Phase::Form, Cmd::Back) => return Out::go(self.from),
            (Phase::Planned(Ok(p)), Cmd::Select) if p.plan.blockers.is_empty() => {
                if !p.plan.has_changes() {
                    return self.status();
                }
                let p = p.clone();
                self.rows = p
                    .plan
                    .instances
                    .iter()
                    .filter(|i| i.action != Action::NoOp)
                    .map(|i| InstanceRow {
                        target: i.target.clone(),
                        region: i.region.clone(),
                        action: i.action,
                        state: CellState::Pending,
                    })
                    .collect();
                self.phase = Phase::Applying;
                self.scroll = 0;
                return Out::effect(Effect::FleetApply(p));
            }
            (Phase::Planned(_), Cmd::Back) => self.phase = Phase::Form,
            // After an apply: plan again (only failed instances are retried), or read status.
            (Phase::Applied(_), Cmd::Refresh) => return self.plan(),
            (Phase::Applied(_) | Phase::TornDown(_), Cmd::Select | Cmd::FleetStatus) => {
                return self.status()
            }
            (Phase::Applied(_) | Phase::Status(_) | Phase::TornDown(_), Cmd::Back) => {
                self.phase = Phase::Form
            }
            (Phase::Status(_), Cmd::Refresh) => return self.status(),
            (Phase::Status(Ok(s)), Cmd::Teardown) if s.stack_set.is_some() => {
                self.phase = Phase::Confirm(s.clone());
                self.confirm = Input::default();
                self.retain = false;
                self.refused = None;
            }
            (Phase::Confirm(_), Cmd::ToggleRetain) => self.retain = !self.retain,
            (Phase::Confirm(s), Cmd::Select) => {
                let name = self.stack_set_name();
                if self.confirm.value() != name {
                    self.refused = Some(format!(
                        "type the stack set's name exactly to confirm: {name} (typed: {:?})",
                        self.confirm.value()
                    ));
                    return Out::none();
                }
                self.rows = s
                    .instances
                    .iter()
                    .map(|i| InstanceRow {
                        target: i.account.clone(),
                        region: i.region.clone(),
                        action: Action::Delete,
                        state: CellState::Pending,
                    })
                    .collect();
                self.phase = Phase::TearingDown;
                self.scroll = 0;
                return Out::effect(Effect::FleetTeardown {
                    stack_set: name,
                    retain_stacks: self.retain,
                    call_as: self.call_as(),
                });
            }
            (Phase::Confirm(s), Cmd::Back) => self.phase = Phase::Status(Ok(s.clone())),
            _ => {}
        }
        Out::none()
    }

    /// An instance's status changed: its row follows. StackSets names accounts, so the first
    /// account reported in a region replaces the OU rows there (service-managed targets).
    pub fn on_event(&mut self, e: &Event) {
        let Event::Instance {
            account,
            region,
            status,
            reason,
        } = e
        else {
            return;
        };
        let state = CellState::of(status, reason.as_deref());
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|r| r.target == *account && r.region == *region)
        {
            row.state = state;
            return;
        }
        let action = self
            .rows
            .iter()
            .find(|r| r.region == *region && is_org_unit(&r.target))
            .map_or(Action::Create, |r| r.action);
        self.rows
            .retain(|r| !(r.region == *region && is_org_unit(&r.target)));
        self.rows.push(InstanceRow {
            target: account.clone(),
            region: region.clone(),
            action,
            state,
        });
    }

    pub fn planned(&mut self, result: Result<Shared<FleetPlanned>, Vec<String>>) {
        self.phase = Phase::Planned(result);
    }

    pub fn applied(&mut self, result: Result<Shared<FleetApplied>, Vec<String>>) {
        // Whatever the events missed, the final read of the instances says.
        if let Ok(a) = &result {
            for f in &a.failed {
                self.on_event(&Event::Instance {
                    account: f.account.clone(),
                    region: f.region.clone(),
                    status: "FAILED".into(),
                    reason: f.reason.clone(),
                });
            }
        }
        self.phase = Phase::Applied(result);
    }

    pub fn status_read(&mut self, result: Result<Shared<FleetStatus>, Vec<String>>) {
        self.phase = Phase::Status(result);
    }

    pub fn torn_down(&mut self, result: Result<Shared<FleetTornDown>, Vec<String>>) {
        self.phase = Phase::TornDown(result);
    }
}

fn row_line(theme: Theme, r: &InstanceRow) -> Line<'static> {
    let (mark, style, detail) = match &r.state {
        CellState::Pending => ("◌ pending  ", theme.muted(), String::new()),
        CellState::Running => ("⟳ running  ", theme.warn(), String::new()),
        CellState::Succeeded => ("✓ succeeded", theme.ok(), String::new()),
        CellState::Failed(why) => ("✗ failed   ", theme.removed(), format!("  {}", said(why))),
    };
    Line::from(vec![
        Span::styled(
            format!("  {} {:<12} {:<14} ", r.action.symbol(), r.target, r.region),
            tone_style(theme, Some(action_tone(r.action))),
        ),
        Span::styled(mark.to_string(), style),
        Span::styled(detail, theme.removed()),
    ])
}

fn progress_lines(theme: Theme, rows: &[InstanceRow]) -> Vec<Line<'static>> {
    let done = rows
        .iter()
        .filter(|r| matches!(r.state, CellState::Succeeded | CellState::Failed(_)))
        .count();
    let mut lines = vec![Line::raw(format!(
        "{done} of {} account × region instance(s) finished",
        rows.len()
    ))];
    lines.extend(rows.iter().map(|r| row_line(theme, r)));
    lines
}

fn status_lines(
    theme: Theme,
    s: &FleetStatus,
    name: &str,
    region: &str,
    width: u16,
) -> Vec<Line<'static>> {
    let Some(set) = &s.stack_set else {
        return vec![Line::styled(
            format!("No stack set {name} in {region}: plan and apply it from the form (esc)."),
            theme.warn(),
        )];
    };
    // Each instance's cells first, so the columns share the width by what they hold.
    let header = ["account", "region", "status", "rule", "repos", "pulls 30d"].map(String::from);
    let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let rows: Vec<([String; 6], ratatui::style::Style, ratatui::style::Style)> = s
        .instances
        .iter()
        .map(|i| {
            let (rule, style) = match (&i.unreadable, &i.rule) {
                (Some(_), _) => ("unreadable".to_string(), theme.warn()),
                (None, Some(r)) => match r.valid {
                    Some(true) => (format!("{} valid", r.prefix), theme.ok()),
                    Some(false) => (format!("{} INVALID", r.prefix), theme.removed()),
                    None => (format!("{} not validated", r.prefix), theme.warn()),
                },
                (None, None) => ("no rule".to_string(), theme.removed()),
            };
            let status_style = if i.status == "CURRENT" || i.status == "SUCCEEDED" {
                theme.ok()
            } else {
                theme.warn()
            };
            let cells = [
                i.account.clone(),
                i.region.clone(),
                i.status.clone(),
                rule,
                count(i.repositories.map(|n| n as u64)),
                count(i.pull_count_30d),
            ];
            (cells, status_style, style)
        })
        .collect();
    let natural: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|(cells, ..)| cells[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // The pane's borders and the row's indent.
    let w = fit_columns(width.saturating_sub(4), &natural, 4);
    let cell = |c: usize, text: &str| {
        let t = ellipsize(text, w[c]);
        match c {
            4 | 5 => format!("{t:>0$}", w[c] as usize),
            _ => format!("{t:<0$}", w[c] as usize),
        }
    };
    let mut lines = vec![
        Line::raw(format!(
            "Stack set {} ({}), {} instance(s):",
            set.name,
            set.status,
            s.instances.len()
        )),
        Line::styled(
            format!(
                "  {}",
                (0..6)
                    .map(|c| cell(c, &header[c]))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            theme.muted(),
        ),
    ];
    for (i, (cells, status_style, style)) in s.instances.iter().zip(&rows) {
        lines.push(Line::from(vec![
            Span::raw(format!("  {} {} ", cell(0, &cells[0]), cell(1, &cells[1]))),
            Span::styled(format!("{} ", cell(2, &cells[2])), *status_style),
            Span::styled(format!("{} ", cell(3, &cells[3])), *style),
            Span::raw(format!("{} {}", cell(4, &cells[4]), cell(5, &cells[5]))),
        ]));
        let why = i
            .unreadable
            .clone()
            .or_else(|| i.rule.as_ref().and_then(|r| r.failure.clone()))
            .or_else(|| i.status_reason.clone().filter(|_| i.status != "CURRENT"));
        if let Some(why) = why {
            lines.push(Line::styled(format!("      {}", said(&why)), theme.muted()));
        }
    }
    lines
}

fn error_lines(theme: Theme, e: &[String]) -> Vec<Line<'static>> {
    let mut lines = vec![];
    if let Some(first) = e.first() {
        lines.push(Line::styled(format!("✗ {first}"), theme.removed()));
    }
    lines.extend(e.iter().skip(1).map(|l| Line::raw(l.clone())));
    lines
}

fn form(f: &FleetScreen, theme: Theme) -> Vec<Line<'_>> {
    let errors = f.errors();
    let err = |field: FleetField| {
        let e = errors
            .iter()
            .find(|e| FleetScreen::field_of(e) == Some(field));
        match e {
            Some(e) if f.tried || f.focus == field => error_line(theme, Some(e)),
            _ => Line::raw(""),
        }
    };
    let own =
        |field: FleetField, label: &str, input| field_line(theme, label, input, f.focus == field);
    let mut lines = vec![
        Line::raw(format!(
            "One StackSet (home region {}) deploys Echo's rule and role to each account × region.",
            f.region
        )),
        Line::styled(
            "Account ids: self-managed. OU or root ids (ou-…, r-…): service-managed, new accounts get it too.",
            theme.muted(),
        ),
        own(FleetField::Targets, "Accounts or OUs", &f.targets),
        err(FleetField::Targets),
        own(FleetField::Regions, "Regions", &f.regions),
        err(FleetField::Regions),
        own(FleetField::EchoAccount, "Echo account", &f.echo_account),
        err(FleetField::EchoAccount),
        own(FleetField::Prefix, "Cache prefix", &f.prefix),
        err(FleetField::Prefix),
        own(FleetField::StackSet, "Stack set", &f.stack_set),
        err(FleetField::StackSet),
        Line::from(vec![
            Span::raw(format!("{:<24}", "  Call as")),
            Span::raw(if f.delegated {
                "DELEGATED_ADMIN (delegated administrator, OU targets)"
            } else {
                "SELF (management or administration account)"
            }),
            Span::styled("  ctrl-g", theme.muted()),
        ]),
    ];
    // Problems in the wizard's options (role name, tags, cache settings) are named here too.
    for e in errors.iter().filter(|e| FleetScreen::field_of(e).is_none()) {
        if f.tried {
            lines.push(error_line(theme, Some(e)));
        }
    }
    lines.push(Line::styled(
        "Role name, tags and cache settings: the wizard's options. ctrl-s: this stack set's status.",
        theme.muted(),
    ));
    if f.sandbox {
        lines.push(Line::styled(SANDBOX_HINT, theme.muted()));
    }
    lines
}

pub fn render(f: &FleetScreen, theme: Theme, frame: &mut Frame, area: Rect) {
    let name = f.stack_set_name();
    let (title, lines): (String, Vec<Line>) = match &f.phase {
        Phase::Form => (" Many accounts (StackSets) ".into(), form(f, theme)),
        Phase::Planning => (
            format!(" Fleet plan: {name} "),
            vec![Line::styled(
                "Reading the stack set and its instances, checking the preflight…",
                theme.warn(),
            )],
        ),
        Phase::Planned(Ok(p)) => {
            let mut lines: Vec<Line> = fleet_plan_lines(&p.plan)
                .iter()
                .map(|l| styled(theme, l))
                .collect();
            lines.push(Line::raw(""));
            lines.push(if !p.plan.blockers.is_empty() {
                Line::styled(
                    "Blocked: nothing can be applied (esc: back to edit).",
                    theme.danger(),
                )
            } else if p.plan.has_changes() {
                Line::styled(
                    "enter: apply these changes · esc: back to edit (nothing has changed)",
                    theme.warn(),
                )
            } else {
                Line::styled(
                    "Nothing to change. enter: status of every instance",
                    theme.ok(),
                )
            });
            (format!(" Fleet plan: {name} "), lines)
        }
        Phase::Planned(Err(e)) => (format!(" Fleet plan: {name} "), error_lines(theme, e)),
        Phase::Applying => (format!(" Applying {name} "), progress_lines(theme, &f.rows)),
        Phase::Applied(result) => {
            let mut lines = progress_lines(theme, &f.rows);
            lines.push(Line::raw(""));
            match result {
                Ok(a) if a.failed.is_empty() => lines.push(Line::styled(
                    format!(
                        "✓ Stack set {}: {} instance(s), none failed. enter: status of every instance",
                        a.stack_set,
                        a.instances.len()
                    ),
                    theme.ok(),
                )),
                Ok(a) => {
                    // Each failed instance's reason is on its row above.
                    lines.push(Line::styled(
                        format!(
                            "✗ Stack set {}: {} of {} instance(s) failed (reasons above).",
                            a.stack_set,
                            a.failed.len(),
                            a.instances.len()
                        ),
                        theme.removed(),
                    ));
                    lines.push(Line::styled(
                        "Fix the cause, then r: plan again — only the failed instances are re-deployed.",
                        theme.warn(),
                    ));
                }
                Err(e) => lines.extend(error_lines(theme, e)),
            }
            (format!(" Applied {name} "), lines)
        }
        Phase::Reading => (
            format!(" Fleet status: {name} "),
            vec![Line::styled(
                "Reading every instance through its account's read role…",
                theme.warn(),
            )],
        ),
        Phase::Status(Ok(s)) => (
            format!(" Fleet status: {name} "),
            status_lines(theme, s, &name, &f.region, area.width),
        ),
        Phase::Status(Err(e)) => (format!(" Fleet status: {name} "), error_lines(theme, e)),
        Phase::Confirm(s) => (
            format!(" Tear down {name} "),
            status_lines(theme, s, &name, &f.region, area.width),
        ),
        Phase::TearingDown => (
            format!(" Tearing down {name} "),
            progress_lines(theme, &f.rows),
        ),
        Phase::TornDown(result) => {
            let mut lines = progress_lines(theme, &f.rows);
            lines.push(Line::raw(""));
            match result {
                Ok(t) => lines.push(Line::styled(
                    format!(
                        "✓ Stack set {} deleted with its {} instance(s){}. enter: status · esc: back to the form",
                        t.stack_set,
                        t.deleted_instances,
                        if t.retained_stacks { " (their stacks were kept in the accounts)" } else { "" }
                    ),
                    theme.ok(),
                )),
                Err(e) => lines.extend(error_lines(theme, e)),
            }
            (format!(" Tear down {name} "), lines)
        }
    };
    let Phase::Confirm(s) = &f.phase else {
        return scrolled(frame, area, &title, lines, f.scroll, &f.max_scroll);
    };
    let mut c = vec![
        Line::styled(
            format!(
                "Deletes the {} instance(s) ({}), then the stack set. Type the stack set's name {name} and press enter. Nothing is deleted otherwise.",
                s.instances.len(),
                if f.retain { "detached: their stacks stay in the accounts" } else { "their stacks and the rules are deleted in every account" }
            ),
            theme.danger(),
        ),
        Line::raw(format!(
            "[{}] keep the stacks in the accounts (detach only) (ctrl-r)",
            if f.retain { "x" } else { " " }
        )),
        field_line(theme, "Confirm name", &f.confirm, true),
    ];
    if let Some(why) = &f.refused {
        c.push(Line::styled(format!("✗ {why}"), theme.removed()));
    }
    let confirm = Paragraph::new(c).wrap(Wrap { trim: false });
    let h = (confirm.line_count(area.width.saturating_sub(2)) as u16 + 2).min(area.height / 2);
    let [top, bottom] = area.layout(&Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(h),
    ]));
    scrolled(frame, top, &title, lines, f.scroll, &f.max_scroll);
    frame.render_widget(
        confirm.block(Block::default().borders(Borders::ALL).title(" Confirm ")),
        bottom,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> FleetScreen {
        let mut s = FleetScreen::new(
            Screen::Dashboard,
            "eu-west-1",
            false,
            SetupInput::with_defaults("123456789012", "eu-west-1"),
            None,
        );
        s.targets = Input::new("111111111111, 222222222222".into());
        s.regions = Input::new("eu-west-1,us-east-1".into());
        s
    }

    fn instance(account: &str, region: &str, status: &str, reason: Option<&str>) -> Event {
        Event::Instance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn targets_split_into_accounts_or_org_units() {
        let s = screen();
        let input = s.input();
        assert_eq!(input.accounts, ["111111111111", "222222222222"]);
        assert!(input.org_units.is_empty());
        assert_eq!(input.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(input.setup.echo_account, "123456789012");
        assert!(input.validate().is_ok());
        let mut s = screen();
        s.targets = Input::new("ou-ab12-cdef3456 r-ab12".into());
        let input = s.input();
        assert!(input.accounts.is_empty());
        assert_eq!(input.org_units, ["ou-ab12-cdef3456", "r-ab12"]);
    }

    #[test]
    fn a_delegated_administrator_calls_as_such_everywhere() {
        let mut s = screen();
        s.targets = Input::new("ou-ab12-cdef3456".into());
        s.on_cmd(Cmd::ToggleCallAs);
        assert!(s.input().delegated_admin);
        assert_eq!(
            s.input().validate().unwrap().call_as.as_deref(),
            Some("DELEGATED_ADMIN")
        );
        assert_eq!(
            s.on_cmd(Cmd::FleetStatus),
            Out::effect(Effect::FleetStatus {
                stack_set: "echo-registry-ecr-cache".into(),
                call_as: Some("DELEGATED_ADMIN".into()),
            })
        );
    }

    #[test]
    fn bad_input_sends_nothing_and_points_at_the_field() {
        let mut s = screen();
        s.regions = Input::new("eu-nowhere-9".into());
        s.focus = FleetField::StackSet;
        assert_eq!(s.on_cmd(Cmd::Select), Out::none());
        assert_eq!(s.focus, FleetField::Regions);
        assert!(matches!(s.phase, Phase::Form));
        assert!(!s.enabled(Cmd::Select));
        s.regions = Input::new("eu-west-1".into());
        let out = s.on_cmd(Cmd::Select);
        assert!(
            matches!(&out.effects[..], [Effect::FleetPlan { input, .. }] if input.regions == ["eu-west-1"])
        );
        assert!(matches!(s.phase, Phase::Planning));
    }

    #[test]
    fn progress_follows_each_instance_and_ou_rows_give_way_to_accounts() {
        let mut s = screen();
        s.rows = vec![InstanceRow {
            target: "ou-ab12-cdef3456".into(),
            region: "eu-west-1".into(),
            action: Action::Create,
            state: CellState::Pending,
        }];
        s.phase = Phase::Applying;
        s.on_event(&instance("111111111111", "eu-west-1", "RUNNING", None));
        s.on_event(&instance("222222222222", "eu-west-1", "PENDING", None));
        assert_eq!(s.rows.len(), 2, "{:?}", s.rows);
        assert!(s.rows.iter().all(|r| !is_org_unit(&r.target)));
        assert_eq!(s.rows[0].state, CellState::Running);
        s.on_event(&instance("111111111111", "eu-west-1", "SUCCEEDED", None));
        s.on_event(&instance(
            "222222222222",
            "eu-west-1",
            "FAILED",
            Some("ResourceLogicalId:Role, ResourceType:AWS::IAM::Role"),
        ));
        assert_eq!(s.rows[0].state, CellState::Succeeded);
        assert_eq!(
            s.rows[1].state,
            CellState::Failed("FAILED: ResourceLogicalId:Role, ResourceType:AWS::IAM::Role".into())
        );
        // Nothing but scrolling and ctrl-c while StackSets works.
        assert!(s.running());
        assert_eq!(s.on_cmd(Cmd::Back), Out::none());
    }

    #[test]
    fn teardown_needs_the_name_typed_and_can_retain_the_stacks() {
        let mut s = screen();
        let status = Shared::new(FleetStatus {
            stack_set: None,
            instances: vec![],
        });
        s.phase = Phase::Confirm(status);
        s.confirm = Input::new("echo-registry".into());
        assert_eq!(s.on_cmd(Cmd::Select), Out::none());
        assert!(s
            .refused
            .as_deref()
            .unwrap()
            .contains("echo-registry-ecr-cache"));
        s.on_cmd(Cmd::ToggleRetain);
        s.confirm = Input::new("echo-registry-ecr-cache".into());
        assert_eq!(
            s.on_cmd(Cmd::Select),
            Out::effect(Effect::FleetTeardown {
                stack_set: "echo-registry-ecr-cache".into(),
                retain_stacks: true,
                call_as: None,
            })
        );
        assert!(s.running());
    }
}
