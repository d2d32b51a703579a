//! "Many accounts": one CloudFormation StackSet deploys Echo's setup to many accounts ×
//! regions. A short form (targets, regions, Echo account, prefix, stack set), the engine's
//! fleet plan, the apply's progress per account × region as StackSets reports it, the live
//! status of every instance, and teardown once the stack set's name is typed.

use std::cell::Cell;

use chrono::{DateTime, Utc};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen};
use crate::core::fleet::{
    parse_percentage, FleetInput, WizardOption, DEFAULT_READ_ROLE, DEFAULT_STACK_SET_NAME,
};
use crate::core::plan::Action;
use crate::core::render::{action_tone, fleet_plan_lines};
use crate::core::validate::{FieldError, SetupInput};
use crate::engine::events::Event;
use crate::engine::fleet::{FleetApplied, FleetPlanned, FleetStatus, FleetTornDown};
use crate::tui::keys::{self, Binding, Cmd};
use crate::tui::msg::{Effect, Shared};
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    ellipsize, error_line, field_line, fit_columns, scrolled, styled, tone_style, wrap_indented,
};
use crate::tui::words::said;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetField {
    Targets,
    Regions,
    EchoAccount,
    Prefix,
    StackSet,
    ReadRole,
    MaxConcurrent,
    FailureTolerance,
}

const FIELDS: [FleetField; 8] = [
    FleetField::Targets,
    FleetField::Regions,
    FleetField::EchoAccount,
    FleetField::Prefix,
    FleetField::StackSet,
    FleetField::ReadRole,
    FleetField::MaxConcurrent,
    FleetField::FailureTolerance,
];

/// One instance's state in an operation, as StackSets reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellState {
    Pending,
    Running,
    Succeeded,
    /// FAILED, with AWS's reason.
    Failed(String),
    /// Not attempted: the operation stopped (failure tolerance passed), with AWS's reason.
    Cancelled(String),
}

impl CellState {
    fn of(status: &str, reason: Option<&str>) -> Self {
        match status {
            "SUCCEEDED" => CellState::Succeeded,
            "RUNNING" => CellState::Running,
            "FAILED" => {
                CellState::Failed(format!("{status}: {}", reason.unwrap_or("no reason given")))
            }
            "CANCELLED" => CellState::Cancelled(reason.unwrap_or("the operation stopped").into()),
            _ => CellState::Pending,
        }
    }

    fn finished(&self) -> bool {
        !matches!(self, CellState::Pending | CellState::Running)
    }
}

/// An account (or, before StackSets names its accounts, an OU) × region of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub target: String,
    pub region: String,
    pub action: Action,
    pub state: CellState,
    /// When this screen first saw it running, and saw it finish (StackSets gives no times
    /// per instance: these are as observed, to the poll).
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
}

impl InstanceRow {
    fn new(target: &str, region: &str, action: Action) -> Self {
        Self {
            target: target.into(),
            region: region.into(),
            action,
            state: CellState::Pending,
            started: None,
            ended: None,
        }
    }

    /// Sets the state StackSets reports, timing it from when it was first seen running.
    fn set(&mut self, state: CellState, at: DateTime<Utc>) {
        if state == CellState::Running && self.started.is_none() {
            self.started = Some(at);
        }
        if state.finished() {
            self.ended = Some(at);
        } else {
            self.ended = None;
        }
        self.state = state;
    }
}

/// The StackSets operation being followed (one at a time: a stack set runs one at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRow {
    pub id: String,
    pub status: String,
    pub instances: usize,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// Which of this run's operations it is, from 1.
    pub number: usize,
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
    /// The role `status` assumes in each target to read it.
    pub read_role: Input,
    /// StackSets' operation preferences, in percent (empty: the defaults).
    pub max_concurrent: Input,
    pub failure_tolerance: Input,
    pub focus: FleetField,
    /// StackSets is called as a delegated administrator of the Organization.
    pub delegated: bool,
    /// Set by enter on the form: errors show on every field after a try.
    pub tried: bool,
    pub phase: Phase,
    /// The operation's instances, updated from the engine's events.
    pub rows: Vec<InstanceRow>,
    /// The operation StackSets is running now (or ran last), with its elapsed time.
    pub operation: Option<OperationRow>,
    /// When this apply or teardown began.
    pub began: Option<DateTime<Utc>>,
    pub confirm: Input,
    /// Teardown detaches the instances and keeps their stacks.
    pub retain: bool,
    pub refused: Option<String>,
    pub scroll: u16,
    pub max_scroll: Cell<u16>,
}

/// The sandbox's organization, so the form says what to try.
pub const SANDBOX_HINT: &str = "Sandbox organization: accounts 111111111111, 222222222222, 333333333333 (its first deployment fails: r retries it), 444444444444 (no read role), OU ou-echo-workloads1.";

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
        let prefs = crate::core::stacksets::OperationPrefs::default();
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
            read_role: Input::new(DEFAULT_READ_ROLE.into()),
            max_concurrent: Input::new(prefs.max_concurrent_percentage.to_string()),
            failure_tolerance: Input::new(prefs.failure_tolerance_percentage.to_string()),
            setup,
            repository_policy,
            focus: FleetField::Targets,
            delegated: false,
            tried: false,
            phase: Phase::Form,
            rows: vec![],
            operation: None,
            began: None,
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
            read_role_name: self.read_role.value().trim().into(),
            max_concurrent_percentage: self.percentages().0.ok().flatten(),
            failure_tolerance_percentage: self.percentages().1.ok().flatten(),
            ..FleetInput::new(setup)
        }
    }

    fn percentages(
        &self,
    ) -> (
        Result<Option<u8>, FieldError>,
        Result<Option<u8>, FieldError>,
    ) {
        (
            parse_percentage(
                "max-concurrent-percentage",
                self.max_concurrent.value(),
                "25",
            ),
            parse_percentage(
                "failure-tolerance-percentage",
                self.failure_tolerance.value(),
                "0",
            ),
        )
    }

    /// Every field's problems: what cannot be read as a number, and what the fleet refuses.
    pub fn errors(&self) -> Vec<FieldError> {
        let (max, tolerance) = self.percentages();
        let mut errors: Vec<FieldError> =
            [max.err(), tolerance.err()].into_iter().flatten().collect();
        errors.extend(self.input().validate().err().unwrap_or_default());
        errors
    }

    /// The read role `status` assumes in each target.
    pub fn read_role_name(&self) -> String {
        match self.read_role.value().trim() {
            "" => DEFAULT_READ_ROLE.into(),
            n => n.into(),
        }
    }

    fn field_of(e: &FieldError) -> Option<FleetField> {
        match e.field {
            "accounts" | "org-units" => Some(FleetField::Targets),
            "regions" => Some(FleetField::Regions),
            "echo-account" => Some(FleetField::EchoAccount),
            "prefix" => Some(FleetField::Prefix),
            "stack-set-name" => Some(FleetField::StackSet),
            "read-role-name" => Some(FleetField::ReadRole),
            "max-concurrent-percentage" => Some(FleetField::MaxConcurrent),
            "failure-tolerance-percentage" => Some(FleetField::FailureTolerance),
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
                FleetField::ReadRole => &mut self.read_role,
                FleetField::MaxConcurrent => &mut self.max_concurrent,
                FleetField::FailureTolerance => &mut self.failure_tolerance,
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
            read_role: self.read_role_name(),
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
                    .map(|i| InstanceRow::new(&i.target, &i.region, i.action))
                    .collect();
                self.operation = None;
                self.began = None;
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
                    .map(|i| InstanceRow::new(&i.account, &i.region, Action::Delete))
                    .collect();
                self.operation = None;
                self.began = None;
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

    /// An operation started or changed status, or an instance's status changed: its row
    /// follows. StackSets names accounts, so the first account reported in a region replaces
    /// the OU rows there (service-managed targets).
    pub fn on_event(&mut self, e: &Event, at: DateTime<Utc>) {
        self.began.get_or_insert(at);
        if let Event::Operation {
            id,
            status,
            instances,
        } = e
        {
            let done = !matches!(status.as_str(), "RUNNING" | "STOPPING" | "QUEUED");
            match self.operation.as_mut().filter(|o| o.id == *id) {
                Some(o) => {
                    o.status = status.clone();
                    o.ended = done.then_some(at);
                }
                None => {
                    let number = self.operation.as_ref().map_or(1, |o| o.number + 1);
                    self.operation = Some(OperationRow {
                        id: id.clone(),
                        status: status.clone(),
                        instances: *instances,
                        started: at,
                        ended: done.then_some(at),
                        number,
                    });
                }
            }
            return;
        }
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
            row.set(state, at);
            return;
        }
        let action = self
            .rows
            .iter()
            .find(|r| r.region == *region && is_org_unit(&r.target))
            .map_or(Action::Create, |r| r.action);
        self.rows
            .retain(|r| !(r.region == *region && is_org_unit(&r.target)));
        let mut row = InstanceRow::new(account, region, action);
        row.set(state, at);
        self.rows.push(row);
    }

    pub fn planned(&mut self, result: Result<Shared<FleetPlanned>, Vec<String>>) {
        self.phase = Phase::Planned(result);
    }

    pub fn applied(&mut self, result: Result<Shared<FleetApplied>, Vec<String>>) {
        // Whatever the events missed, the final read of the instances says.
        if let Ok(a) = &result {
            for f in &a.failed {
                let known = self
                    .rows
                    .iter()
                    .find(|r| r.target == f.account && r.region == f.region)
                    .and_then(|r| r.ended);
                let at = known.or(self.began).unwrap_or_default();
                self.on_event(
                    &Event::Instance {
                        account: f.account.clone(),
                        region: f.region.clone(),
                        status: if f.status == "CANCELLED" {
                            "CANCELLED"
                        } else {
                            "FAILED"
                        }
                        .into(),
                        reason: f.reason.clone(),
                    },
                    at,
                );
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

/// A wizard option as the TUI names it: its field, and where that field is.
fn option_label(o: WizardOption) -> String {
    match o {
        WizardOption::ScanOnPush => "Scan on push (cache settings)",
        WizardOption::RepoTags => "Repository tags (cache settings)",
        WizardOption::MutableTags => "Mutable tags (cache settings)",
        WizardOption::Tags => "Tags (advanced options)",
        WizardOption::BroadPolicy => "Broad policy (advanced options)",
        WizardOption::PullTimeExclusions => "Pull-time exclusions (cache settings)",
    }
    .into()
}

/// Seconds, to the tenth: how long from `from` to `to`.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = (to - from).num_milliseconds().max(0);
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn row_line(theme: Theme, r: &InstanceRow, now: DateTime<Utc>) -> Line<'static> {
    let (mark, style, detail) = match &r.state {
        CellState::Pending => ("◌ pending  ", theme.muted(), String::new()),
        CellState::Running => ("⟳ running  ", theme.warn(), String::new()),
        CellState::Succeeded => ("✓ succeeded", theme.ok(), String::new()),
        CellState::Failed(why) => ("✗ failed   ", theme.removed(), format!("  {}", said(why))),
        CellState::Cancelled(why) => ("⊘ cancelled", theme.warn(), format!("  {}", said(why))),
    };
    // How long it has run (or ran), when it was seen running.
    let took = r
        .started
        .map(|s| format!(" {:>6}", seconds(s, r.ended.unwrap_or(now))))
        .unwrap_or_else(|| " ".repeat(7));
    Line::from(vec![
        Span::styled(
            format!("  {} {:<12} {:<14} ", r.action.symbol(), r.target, r.region),
            tone_style(theme, Some(action_tone(r.action))),
        ),
        Span::styled(mark.to_string(), style),
        Span::styled(took, theme.muted()),
        Span::styled(detail, theme.removed()),
    ])
}

fn progress_lines(f: &FleetScreen, theme: Theme, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let rows = &f.rows;
    let done = rows.iter().filter(|r| r.state.finished()).count();
    let total = f
        .began
        .map(|b| {
            format!(
                " · {}",
                seconds(
                    b,
                    f.operation
                        .as_ref()
                        .and_then(|o| o.ended)
                        .filter(|_| !f.running())
                        .unwrap_or(now)
                )
            )
        })
        .unwrap_or_default();
    let mut lines = vec![Line::raw(format!(
        "{done} of {} account × region instance(s) finished{total}",
        rows.len()
    ))];
    lines.push(match &f.operation {
        None => Line::styled("Starting the StackSets operation…", theme.warn()),
        Some(o) => Line::styled(
            format!(
                "Operation {} ({}): {} · {} · {} instance(s)",
                o.number,
                o.id,
                o.status.to_lowercase(),
                seconds(o.started, o.ended.unwrap_or(now)),
                o.instances
            ),
            if o.ended.is_none() {
                theme.warn()
            } else if o.status == "SUCCEEDED" {
                theme.ok()
            } else {
                theme.removed()
            },
        ),
    });
    lines.extend(rows.iter().map(|r| row_line(theme, r, now)));
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
        if let Some(g) = &i.grant {
            lines.push(Line::styled(
                format!(
                    "      To let status read it: in account {}, create role {} trusting account {} (or set the Read role field to a role there that does):",
                    g.account, g.role_name, g.trusted_account
                ),
                theme.warn(),
            ));
            lines.extend(g.commands.iter().map(|c| Line::raw(format!("        {c}"))));
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
        own(FleetField::ReadRole, "Read role (status)", &f.read_role),
        err(FleetField::ReadRole),
        own(FleetField::MaxConcurrent, "Max concurrent %", &f.max_concurrent),
        err(FleetField::MaxConcurrent),
        own(FleetField::FailureTolerance, "Failure tolerance %", &f.failure_tolerance),
        err(FleetField::FailureTolerance),
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

pub fn render(f: &FleetScreen, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
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
            let mut lines: Vec<Line> = fleet_plan_lines(&p.plan, option_label)
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
        Phase::Applying => (format!(" Applying {name} "), progress_lines(f, theme, now)),
        Phase::Applied(result) => {
            let mut lines = progress_lines(f, theme, now);
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
                        "Fix the cause, then r: plan again — only the failed and cancelled instances are re-deployed.",
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
            progress_lines(f, theme, now),
        ),
        Phase::TornDown(result) => {
            let mut lines = progress_lines(f, theme, now);
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
    // The form keeps the focused field and its error line in view.
    let scroll = match f.phase {
        Phase::Form => {
            let at = FIELDS.iter().position(|x| *x == f.focus).unwrap_or(0);
            let end = (4 + 2 * at).min(lines.len());
            let width = area.width.saturating_sub(2);
            let above = Paragraph::new(wrap_indented(lines[..end].to_vec(), width))
                .wrap(Wrap { trim: false })
                .line_count(width) as u16;
            above.saturating_sub(area.height.saturating_sub(2))
        }
        _ => f.scroll,
    };
    let Phase::Confirm(s) = &f.phase else {
        return scrolled(frame, area, &title, lines, scroll, &f.max_scroll);
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

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::milliseconds(ms)
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
                read_role: DEFAULT_READ_ROLE.into(),
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
        s.rows = vec![InstanceRow::new(
            "ou-ab12-cdef3456",
            "eu-west-1",
            Action::Create,
        )];
        s.phase = Phase::Applying;
        s.on_event(
            &instance("111111111111", "eu-west-1", "RUNNING", None),
            at(0),
        );
        s.on_event(
            &instance("222222222222", "eu-west-1", "PENDING", None),
            at(0),
        );
        assert_eq!(s.rows.len(), 2, "{:?}", s.rows);
        assert!(s.rows.iter().all(|r| !is_org_unit(&r.target)));
        assert_eq!(s.rows[0].state, CellState::Running);
        s.on_event(
            &instance("111111111111", "eu-west-1", "SUCCEEDED", None),
            at(0),
        );
        s.on_event(
            &instance(
                "222222222222",
                "eu-west-1",
                "FAILED",
                Some("ResourceLogicalId:Role, ResourceType:AWS::IAM::Role"),
            ),
            at(0),
        );
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
    fn instances_are_timed_from_running_to_their_result_and_the_operation_from_its_start() {
        let mut s = screen();
        s.rows = vec![
            InstanceRow::new("111111111111", "eu-west-1", Action::Create),
            InstanceRow::new("222222222222", "eu-west-1", Action::Create),
        ];
        s.phase = Phase::Applying;
        let op = |status: &str| Event::Operation {
            id: "op-1".into(),
            status: status.into(),
            instances: 2,
        };
        s.on_event(&op("RUNNING"), at(0));
        s.on_event(
            &instance("111111111111", "eu-west-1", "RUNNING", None),
            at(0),
        );
        s.on_event(
            &instance("222222222222", "eu-west-1", "PENDING", None),
            at(0),
        );
        s.on_event(
            &instance("111111111111", "eu-west-1", "SUCCEEDED", None),
            at(2000),
        );
        s.on_event(
            &instance("222222222222", "eu-west-1", "RUNNING", None),
            at(2000),
        );
        let text = |s: &FleetScreen, now| {
            progress_lines(s, Theme { color: false }, now)
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
        };
        let lines = text(&s, at(3500));
        assert_eq!(
            lines[0],
            "1 of 2 account × region instance(s) finished · 3.5s"
        );
        assert_eq!(
            lines[1],
            "Operation 1 (op-1): running · 3.5s · 2 instance(s)"
        );
        assert!(lines[2].contains("✓ succeeded   2.0s"), "{lines:?}");
        assert!(lines[3].contains("⟳ running     1.5s"), "{lines:?}");
        s.on_event(
            &instance(
                "222222222222",
                "eu-west-1",
                "CANCELLED",
                Some("Cancelled since failure tolerance has exceeded"),
            ),
            at(4000),
        );
        s.on_event(&op("FAILED"), at(4000));
        let lines = text(&s, at(9000));
        assert_eq!(
            lines[1],
            "Operation 1 (op-1): failed · 4.0s · 2 instance(s)"
        );
        assert!(
            lines[3].contains("⊘ cancelled   2.0s  Cancelled since failure tolerance"),
            "{lines:?}"
        );
        // A second operation of the same run is numbered on.
        s.on_event(
            &Event::Operation {
                id: "op-2".into(),
                status: "RUNNING".into(),
                instances: 1,
            },
            at(9000),
        );
        assert_eq!(s.operation.as_ref().unwrap().number, 2);
    }

    #[test]
    fn the_read_role_and_operation_preferences_are_fields_checked_like_the_others() {
        let mut s = screen();
        assert_eq!(s.input().max_concurrent_percentage, Some(25));
        assert_eq!(s.input().failure_tolerance_percentage, Some(0));
        s.read_role = Input::new("FleetReader".into());
        s.max_concurrent = Input::new("50".into());
        s.failure_tolerance = Input::new("10".into());
        let fleet = s.input().validate().unwrap();
        assert_eq!(fleet.read_role_name, "FleetReader");
        assert_eq!(fleet.prefs.max_concurrent_percentage, 50);
        assert_eq!(fleet.prefs.failure_tolerance_percentage, 10);
        assert_eq!(
            s.on_cmd(Cmd::FleetStatus),
            Out::effect(Effect::FleetStatus {
                stack_set: "echo-registry-ecr-cache".into(),
                call_as: None,
                read_role: "FleetReader".into(),
            })
        );
        // Not a number, out of range, not a role name: nothing is sent, each field is named.
        let mut s = screen();
        s.max_concurrent = Input::new("lots".into());
        s.focus = FleetField::Targets;
        assert_eq!(s.on_cmd(Cmd::Select), Out::none());
        assert_eq!(s.focus, FleetField::MaxConcurrent);
        s.max_concurrent = Input::new("0".into());
        s.failure_tolerance = Input::new("101".into());
        s.read_role = Input::new("no spaces".into());
        let fields: Vec<Option<FleetField>> =
            s.errors().iter().map(FleetScreen::field_of).collect();
        assert_eq!(
            fields,
            [
                Some(FleetField::ReadRole),
                Some(FleetField::MaxConcurrent),
                Some(FleetField::FailureTolerance)
            ]
        );
        assert!(!s.enabled(Cmd::Select));
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
