//! The TUI's state and its `update(msg) -> effects` function. Synchronous and free of I/O:
//! the runner performs effects and feeds their results back as messages, so every screen is
//! a state machine tested without a terminal or a network.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

use super::keys::{self, Binding, Cmd};
use super::prefs::Prefs;
use super::profiles::{ProfileEntry, ProfileKind};
use crate::core::checks::Check;
use crate::core::model::{
    usage_instructions, CacheRule, Identity, ImageInfo, Observed, RepoDetails, RepositoryInfo,
};
use crate::core::plan::Plan;
use crate::core::regions::KNOWN_REGIONS;
use crate::core::validate::{
    self, AccountId, FieldError, Region, RepoPrefix, RoleName, SetupInput, DEFAULT_ECHO_REGION,
    DEFAULT_PREFIX, DEFAULT_ROLE_NAME, ROOT,
};
use crate::engine::diagnose::Report;
use crate::engine::events::{describe, Event};
use crate::engine::ops::TeardownPlanned;
use crate::engine::planning::{Method, Planned};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Profile,
    Region,
    Echo,
    Options,
    Method,
    Plan,
    Apply,
    Done,
    Dashboard,
    Teardown,
    Diagnostics,
}

impl Screen {
    pub fn keys(self) -> &'static [Binding] {
        match self {
            Screen::Profile => keys::PROFILE,
            Screen::Region => keys::REGION,
            Screen::Echo => keys::FORM,
            Screen::Options => keys::OPTIONS,
            Screen::Method => keys::CHOICE,
            Screen::Plan => keys::PLAN,
            Screen::Apply => keys::APPLY,
            Screen::Done => keys::DONE,
            Screen::Dashboard => keys::DASHBOARD,
            Screen::Teardown => keys::TEARDOWN,
            Screen::Diagnostics => keys::DIAGNOSTICS,
        }
    }
    /// Step number in the wizard (1-8), if it is a wizard step.
    pub fn step(self) -> Option<(usize, &'static str)> {
        match self {
            Screen::Profile => Some((1, "AWS profile")),
            Screen::Region => Some((2, "Region")),
            Screen::Echo => Some((3, "Echo account")),
            Screen::Options => Some((4, "Prefix and options")),
            Screen::Method => Some((5, "Method")),
            Screen::Plan => Some((6, "Plan")),
            Screen::Apply => Some((7, "Apply")),
            Screen::Done => Some((8, "Done")),
            _ => None,
        }
    }
}

/// A value handed between the state machine and the effect runner without copying; equal when
/// it is the same value (so effects can be compared in tests).
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn new(v: T) -> Self {
        Shared(Arc::new(v))
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shared({})", std::any::type_name::<T>())
    }
}

pub enum Msg {
    Key(KeyEvent),
    /// The terminal's new size.
    Resize(u16, u16),
    /// Mouse wheel: lines to scroll (negative is up).
    Scroll(i32),
    /// Once a second: time moves on (refresh timers, elapsed time).
    Tick(DateTime<Utc>),
    Profiles(Vec<ProfileEntry>),
    Connected(Result<Identity, String>),
    Rules(Result<Vec<CacheRule>, String>),
    Planned(Result<Arc<Planned>, String>),
    Engine(Event),
    /// Apply finished: usage lines, or error lines.
    Applied(Result<Vec<String>, Vec<String>>),
    /// The engine's teardown plan for the selected rule (ownership read from AWS), or why not.
    TeardownPlanned(Result<Shared<TeardownPlanned>, Vec<String>>),
    Dashboard(Result<Box<Observed>, String>),
    Validations(BTreeMap<String, String>),
    Images(String, Result<Vec<ImageInfo>, String>),
    /// Image details of some cached repositories, read in the background.
    Details(Vec<(String, RepoDetails)>),
    /// The background read of image details stopped: why.
    DetailsFailed(String),
    /// A test pull finished: what it proved, or why it failed.
    Verified(Result<crate::engine::ops::Verified, Vec<String>>),
    TornDown(Result<Vec<String>, Vec<String>>),
    Diagnosed(Shared<Report>),
    /// The bundle's path, or why it could not be written.
    BundleWritten(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadProfiles,
    /// Builds the AWS client for a profile and region and fetches the caller identity.
    Connect {
        profile: ProfileEntry,
        region: Option<String>,
    },
    /// Rebuilds the client for the chosen region and loads the rules there.
    UseRegion(String),
    Plan {
        input: SetupInput,
        method: Method,
        stack_name: String,
    },
    /// Applies exactly this plan.
    Apply(Shared<Planned>),
    CancelApply,
    LoadDashboard,
    Validate(Vec<String>),
    LoadImages(String),
    /// Reads the image details of these repositories in the background, in this order
    /// (what is on screen first), replacing any such read still running.
    LoadDetails(Vec<String>),
    /// Pulls a test image through the rule for `prefix` (the engine's verify).
    Verify {
        prefix: String,
        image: String,
    },
    /// Reads who made the rule and plans its teardown.
    PlanTeardown {
        prefix: String,
        role: Option<String>,
        /// Also list (and plan to delete) the cached repositories under the prefix.
        delete_repos: bool,
    },
    /// Carries out exactly this teardown plan.
    Teardown(Shared<TeardownPlanned>),
    Diagnose(String),
    /// Writes this report (of diagnostics for `prefix`) as the support bundle.
    WriteBundle {
        report: Shared<Report>,
        prefix: String,
    },
    SavePrefs(Prefs),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Rules,
    Repos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Pulls,
    LastPull,
    Size,
}

impl SortBy {
    pub fn next(self) -> Self {
        match self {
            SortBy::Name => SortBy::Pulls,
            SortBy::Pulls => SortBy::LastPull,
            SortBy::LastPull => SortBy::Size,
            SortBy::Size => SortBy::Name,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Pulls => "pulls",
            SortBy::LastPull => "last pull",
            SortBy::Size => "size",
        }
    }
}

pub type Images = Result<Vec<ImageInfo>, String>;

/// Seconds between background refreshes of the dashboard.
pub const REFRESH_SECS: i64 = 30;

#[derive(Default)]
pub struct ApplyState {
    /// When the apply ended: the timer stops there.
    pub ended: Option<DateTime<Utc>>,
    pub lines: Vec<String>,
    pub done: usize,
    pub total: usize,
    pub completed: Vec<String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<Result<Vec<String>, Vec<String>>>,
    pub confirm_cancel: bool,
    pub scroll: u16,
}

pub struct Dashboard {
    pub observed: Option<Observed>,
    pub loading: bool,
    pub error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub rule_sel: usize,
    pub repo_sel: usize,
    pub pane: Pane,
    pub sort: SortBy,
    /// The repository whose images are shown, and its images once loaded.
    pub detail: Option<(String, Option<Images>)>,
    pub validations: BTreeMap<String, String>,
    /// Repositories whose image details are still being read in the background.
    pub details_pending: usize,
    pub details_error: Option<String>,
}

pub struct TeardownState {
    pub rule: CacheRule,
    /// The engine's plan, once read (who made the rule is read from AWS, not assumed).
    pub planned: Option<Shared<TeardownPlanned>>,
    pub delete_repos: bool,
    pub confirm: Input,
    pub plan: Plan,
    pub running: bool,
    pub lines: Vec<String>,
    pub finished: Option<Result<Vec<String>, Vec<String>>>,
    /// Why enter did nothing (e.g. the typed prefix is not the rule's).
    pub refused: Option<String>,
}

/// A refresh keeps the image details of repositories whose pull count did not change, so it
/// reads again only what changed instead of every repository.
fn carry_over_details(previous: Option<&Observed>, next: &mut Observed) {
    let Some(previous) =
        previous.filter(|p| p.region == next.region && p.identity.account == next.identity.account)
    else {
        return;
    };
    let known: std::collections::HashMap<&str, (u64, RepoDetails)> = previous
        .repositories
        .iter()
        .filter_map(|r| Some((r.name.as_str(), (r.pull_count_30d, r.details?))))
        .collect();
    for r in &mut next.repositories {
        if let Some((pulls, d)) = known.get(r.name.as_str()) {
            if *pulls == r.pull_count_30d && r.details.is_none() {
                r.details = Some(*d);
            }
        }
    }
}

pub struct App {
    pub screen: Screen,
    /// The terminal's size; below the minimum only quit works (nothing acts unseen).
    pub size: (u16, u16),
    /// The "pull a test image" popup, over the Done screen or the dashboard.
    pub verify: Option<super::verify::VerifyPopup>,
    pub now: DateTime<Utc>,
    pub help: bool,
    pub quit_confirm: bool,
    pub sandbox_only: bool,
    // Session
    pub profiles: Vec<ProfileEntry>,
    pub profile_filter: Input,
    pub profile_sel: usize,
    pub profile: Option<ProfileEntry>,
    pub connecting: bool,
    pub identity: Option<Identity>,
    pub identity_error: Option<String>,
    pub region_filter: Input,
    pub region_sel: usize,
    pub region: Option<String>,
    pub rules: Option<Result<Vec<CacheRule>, String>>,
    // Setup inputs (kept when going back)
    pub echo_account: Input,
    pub echo_region: Input,
    pub echo_focus: usize,
    pub prefix: Input,
    pub role_name: Input,
    pub upstream_prefix: Input,
    pub tags: Input,
    pub advanced: bool,
    pub option_focus: usize,
    pub method_sel: usize,
    pub stack_name: String,
    // Plan and apply
    pub planning: bool,
    pub plan: Option<Result<Arc<Planned>, String>>,
    pub plan_scroll: u16,
    pub apply: ApplyState,
    pub usage: Vec<String>,
    pub dashboard: Dashboard,
    pub teardown: Option<TeardownState>,
    pub prefs: Prefs,
    /// Started from remembered choices: go straight to the dashboard if rules exist.
    pub resume: bool,
    /// Rule to select when the dashboard loads (the one just set up).
    pub focus_prefix: Option<String>,
    pub diagnostics: Option<DiagState>,
}

pub struct DiagState {
    pub prefix: String,
    pub checks: Option<Vec<Check>>,
    /// The whole report, for the support bundle.
    pub report: Option<Shared<Report>>,
    pub bundle: Option<Result<String, String>>,
    pub writing: bool,
    pub scroll: u16,
}

fn input(v: &str) -> Input {
    Input::new(v.to_string())
}

impl App {
    pub fn new(prefs: Prefs, now: DateTime<Utc>) -> Self {
        App {
            screen: Screen::Profile,
            size: (super::view::MIN_WIDTH, super::view::MIN_HEIGHT),
            verify: None,
            now,
            help: false,
            quit_confirm: false,
            sandbox_only: false,
            profiles: vec![],
            profile_filter: Input::default(),
            profile_sel: 0,
            profile: None,
            connecting: false,
            identity: None,
            identity_error: None,
            region_filter: Input::default(),
            region_sel: 0,
            region: None,
            rules: None,
            echo_account: input(prefs.echo_account.as_deref().unwrap_or("")),
            echo_region: input(prefs.echo_region.as_deref().unwrap_or(DEFAULT_ECHO_REGION)),
            echo_focus: 0,
            prefix: input(prefs.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)),
            role_name: input(DEFAULT_ROLE_NAME),
            upstream_prefix: input(ROOT),
            tags: Input::default(),
            advanced: false,
            option_focus: 0,
            method_sel: usize::from(prefs.method.as_deref() == Some("cloudformation")),
            stack_name: crate::cfn::DEFAULT_STACK_NAME.into(),
            planning: false,
            plan: None,
            plan_scroll: 0,
            apply: ApplyState::default(),
            usage: vec![],
            dashboard: Dashboard {
                observed: None,
                loading: false,
                error: None,
                updated_at: None,
                rule_sel: 0,
                repo_sel: 0,
                pane: Pane::Rules,
                sort: SortBy::Pulls,
                detail: None,
                validations: BTreeMap::new(),
                details_pending: 0,
                details_error: None,
            },
            teardown: None,
            prefs,
            resume: false,
            focus_prefix: None,
            diagnostics: None,
        }
    }

    pub fn start(&self) -> Vec<Effect> {
        vec![Effect::LoadProfiles]
    }

    /// Does the focused widget take typed characters?
    pub fn text_focus(&self) -> bool {
        match self.screen {
            Screen::Profile | Screen::Region | Screen::Echo | Screen::Options => true,
            Screen::Teardown => self
                .teardown
                .as_ref()
                .is_some_and(|t| !t.running && t.finished.is_none()),
            _ => false,
        }
    }

    pub fn method(&self) -> Method {
        if self.method_sel == 1 {
            Method::CloudFormation
        } else {
            Method::Api
        }
    }

    // --- lists ----------------------------------------------------------------------

    pub fn filtered_profiles(&self) -> Vec<&ProfileEntry> {
        let f = self.profile_filter.value().to_lowercase();
        self.profiles
            .iter()
            .filter(|p| p.title().to_lowercase().contains(&f) || p.kind.label().contains(&f))
            .collect()
    }

    pub fn filtered_regions(&self) -> Vec<&'static str> {
        let f = self.region_filter.value().to_lowercase();
        KNOWN_REGIONS
            .iter()
            .copied()
            .filter(|r| r.contains(&f))
            .collect()
    }

    // --- validation shown while typing ----------------------------------------------

    pub fn echo_errors(&self) -> (Option<FieldError>, Option<FieldError>) {
        (
            AccountId::parse("echo-account", self.echo_account.value()).err(),
            Region::parse("echo-region", self.echo_region.value()).err(),
        )
    }

    pub fn option_errors(&self) -> Vec<FieldError> {
        let mut out = vec![];
        out.extend(RepoPrefix::parse("prefix", self.prefix.value()).err());
        if self.advanced {
            out.extend(RoleName::parse("role-name", self.role_name.value()).err());
            out.extend(RepoPrefix::parse("upstream-prefix", self.upstream_prefix.value()).err());
            out.extend(validate::parse_tags("tag", &self.tag_list()).err());
        }
        out
    }

    fn tag_list(&self) -> Vec<String> {
        self.tags
            .value()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// An existing rule with the typed prefix, if the region's rules are loaded.
    pub fn prefix_conflict(&self) -> Option<&CacheRule> {
        let p = RepoPrefix::parse("prefix", self.prefix.value()).ok()?;
        self.rules
            .as_ref()?
            .as_ref()
            .ok()?
            .iter()
            .find(|r| r.prefix == p.as_str())
    }

    pub fn setup_input(&self) -> SetupInput {
        SetupInput {
            echo_account: self.echo_account.value().to_string(),
            echo_region: self.echo_region.value().to_string(),
            region: self.region.clone().unwrap_or_default(),
            prefix: self.prefix.value().to_string(),
            role_name: self.role_name.value().to_string(),
            upstream_prefix: self.upstream_prefix.value().to_string(),
            tags: self.tag_list(),
        }
    }

    fn remember(&mut self) -> Effect {
        self.prefs = Prefs {
            profile: self.profile.as_ref().map(|p| p.title()),
            region: self.region.clone(),
            echo_account: Some(self.echo_account.value().to_string()).filter(|s| !s.is_empty()),
            prefix: Some(self.prefix.value().to_string()),
            method: Some(
                if self.method_sel == 1 {
                    "cloudformation"
                } else {
                    "api"
                }
                .into(),
            ),
            echo_region: self.prefs.echo_region.clone(),
        };
        Effect::SavePrefs(self.prefs.clone())
    }

    // --- dashboard ------------------------------------------------------------------

    pub fn selected_rule(&self) -> Option<&CacheRule> {
        self.dashboard
            .observed
            .as_ref()?
            .rules
            .get(self.dashboard.rule_sel)
    }

    /// Repositories without image details, those of the selected rule from the selection on
    /// first (what is on screen), then the rest.
    fn details_wanted(&self) -> Vec<String> {
        let Some(o) = self.dashboard.observed.as_ref() else {
            return vec![];
        };
        let shown = self.visible_repos();
        let from = self
            .dashboard
            .repo_sel
            .saturating_sub(shown.len().min(50) / 2);
        let mut out: Vec<String> = shown[from.min(shown.len())..]
            .iter()
            .chain(&shown[..from.min(shown.len())])
            .filter(|r| r.details.is_none())
            .map(|r| r.name.clone())
            .collect();
        let first: std::collections::HashSet<&str> = out.iter().map(String::as_str).collect();
        let rest: Vec<String> = o
            .repositories
            .iter()
            .filter(|r| r.details.is_none() && !first.contains(r.name.as_str()))
            .map(|r| r.name.clone())
            .collect();
        out.extend(rest);
        out
    }

    /// The selected rule's repositories, sorted as chosen.
    pub fn visible_repos(&self) -> Vec<&RepositoryInfo> {
        let (Some(o), Some(rule)) = (self.dashboard.observed.as_ref(), self.selected_rule()) else {
            return vec![];
        };
        let mut repos: Vec<&RepositoryInfo> = o
            .repositories
            .iter()
            .filter(|r| r.rule_prefix == rule.prefix)
            .collect();
        match self.dashboard.sort {
            SortBy::Name => repos.sort_by(|a, b| a.name.cmp(&b.name)),
            SortBy::Pulls => repos.sort_by(|a, b| {
                b.pull_count_30d
                    .cmp(&a.pull_count_30d)
                    .then(a.name.cmp(&b.name))
            }),
            // Rows whose details have not arrived yet sort last.
            SortBy::LastPull => repos.sort_by(|a, b| {
                b.last_pulled_at()
                    .cmp(&a.last_pulled_at())
                    .then(a.name.cmp(&b.name))
            }),
            SortBy::Size => repos.sort_by(|a, b| {
                b.size_bytes()
                    .cmp(&a.size_bytes())
                    .then(a.name.cmp(&b.name))
            }),
        }
        repos
    }

    fn open_dashboard(&mut self) -> Vec<Effect> {
        self.screen = Screen::Dashboard;
        self.dashboard.loading = true;
        vec![Effect::LoadDashboard]
    }

    // --- update ---------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                vec![]
            }
            Msg::Scroll(n) => {
                let cmd = if n < 0 { Cmd::Up } else { Cmd::Down };
                (0..n.unsigned_abs())
                    .flat_map(|_| self.on_cmd(cmd))
                    .collect()
            }
            Msg::Tick(now) => {
                self.now = now;
                let due = self
                    .dashboard
                    .updated_at
                    .is_some_and(|t| (now - t).num_seconds() >= REFRESH_SECS);
                if self.screen == Screen::Dashboard && due && !self.dashboard.loading {
                    self.dashboard.loading = true;
                    return vec![Effect::LoadDashboard];
                }
                vec![]
            }
            Msg::Profiles(list) => {
                self.sandbox_only = super::profiles::only_sandbox(&list);
                let remembered = self.prefs.profile.clone();
                self.profiles = list;
                self.profile_sel = self
                    .filtered_profiles()
                    .iter()
                    .position(|p| Some(p.title()) == remembered)
                    .or_else(|| {
                        if self.sandbox_only {
                            self.filtered_profiles()
                                .iter()
                                .position(|p| p.kind == ProfileKind::Sandbox)
                        } else {
                            None
                        }
                    })
                    .unwrap_or(0);
                // Remembered profile and region: reconnect and show the dashboard first.
                let remembered = self
                    .filtered_profiles()
                    .get(self.profile_sel)
                    .map(|p| (*p).clone())
                    .filter(|p| Some(p.title()) == self.prefs.profile);
                if let (Some(p), Some(region)) = (remembered, self.prefs.region.clone()) {
                    self.resume = true;
                    self.connecting = true;
                    self.profile = Some(p.clone());
                    self.region = Some(region.clone());
                    return vec![Effect::Connect {
                        profile: p,
                        region: Some(region),
                    }];
                }
                vec![]
            }
            Msg::Connected(result) => {
                self.connecting = false;
                match result {
                    Ok(id) if self.resume => {
                        self.identity = Some(id);
                        let region = self.region.clone().unwrap_or_default();
                        let mut fx = vec![Effect::UseRegion(region)];
                        fx.extend(self.open_dashboard());
                        return fx;
                    }
                    Ok(id) => {
                        self.identity = Some(id);
                        self.identity_error = None;
                        self.screen = Screen::Region;
                        let want = self
                            .region
                            .clone()
                            .or_else(|| self.prefs.region.clone())
                            .or_else(|| self.profile.as_ref().and_then(|p| p.region.clone()));
                        self.region_sel = want
                            .and_then(|r| self.filtered_regions().iter().position(|x| *x == r))
                            .unwrap_or(0);
                    }
                    Err(e) => {
                        self.resume = false;
                        self.identity_error = Some(e);
                    }
                }
                vec![]
            }
            Msg::Rules(r) => {
                self.rules = Some(r);
                vec![]
            }
            Msg::Planned(p) => {
                self.planning = false;
                self.plan = Some(p);
                self.plan_scroll = 0;
                vec![]
            }
            Msg::Engine(e) => {
                match &e {
                    Event::StepStarted { total, .. } => self.apply.total = *total,
                    Event::StepDone {
                        index,
                        total,
                        label,
                    } => {
                        self.apply.done = *index;
                        self.apply.total = *total;
                        self.apply.completed.push(label.clone());
                    }
                    Event::StackEvent {
                        done,
                        total,
                        logical_id,
                        status,
                        ..
                    } => {
                        self.apply.done = *done;
                        self.apply.total = *total;
                        if status.ends_with("_COMPLETE") {
                            self.apply.completed.push(format!("{logical_id} {status}"));
                        }
                    }
                    _ => {}
                }
                let line = describe(&e);
                if let (Screen::Teardown, Some(t)) = (self.screen, self.teardown.as_mut()) {
                    t.lines.push(line);
                } else {
                    self.apply.lines.push(line);
                }
                vec![]
            }
            Msg::Applied(result) => {
                if let Ok(usage) = &result {
                    self.usage = usage.clone();
                }
                self.apply.finished = Some(result);
                self.apply.ended = Some(self.now);
                self.apply.confirm_cancel = false;
                vec![]
            }
            Msg::Dashboard(result) => {
                self.dashboard.loading = false;
                match result {
                    Ok(o) if self.resume && o.rules.is_empty() => {
                        // Nothing set up here yet: the wizard is the better first screen.
                        self.resume = false;
                        self.screen = Screen::Echo;
                    }
                    Ok(o) => {
                        self.resume = false;
                        if let Some(p) = self.focus_prefix.take() {
                            if let Some(i) = o.rules.iter().position(|r| r.prefix == p) {
                                self.dashboard.rule_sel = i;
                            }
                        }
                        let ecr: Vec<String> = o
                            .rules
                            .iter()
                            .filter(|r| r.upstream_registry == "ecr")
                            .map(|r| r.prefix.clone())
                            .collect();
                        self.dashboard.rule_sel =
                            self.dashboard.rule_sel.min(o.rules.len().saturating_sub(1));
                        let mut o = *o;
                        carry_over_details(self.dashboard.observed.as_ref(), &mut o);
                        self.dashboard.observed = Some(o);
                        self.dashboard.error = None;
                        self.dashboard.updated_at = Some(self.now);
                        let repos = self.visible_repos().len();
                        self.dashboard.repo_sel =
                            self.dashboard.repo_sel.min(repos.saturating_sub(1));
                        let wanted = self.details_wanted();
                        self.dashboard.details_pending = wanted.len();
                        self.dashboard.details_error = None;
                        let mut fx = vec![];
                        if !ecr.is_empty() {
                            fx.push(Effect::Validate(ecr));
                        }
                        if !wanted.is_empty() {
                            fx.push(Effect::LoadDetails(wanted));
                        }
                        return fx;
                    }
                    Err(e) => self.dashboard.error = Some(e),
                }
                vec![]
            }
            Msg::Validations(v) => {
                self.dashboard.validations = v;
                vec![]
            }
            Msg::Verified(result) => {
                let ok = result.is_ok();
                if let Some(v) = self.verify.as_mut() {
                    v.finished(result);
                }
                // The dashboard shows the repository the pull created.
                if ok && self.screen == Screen::Dashboard && !self.dashboard.loading {
                    self.dashboard.loading = true;
                    return vec![Effect::LoadDashboard];
                }
                vec![]
            }
            Msg::Details(batch) => {
                if let Some(o) = self.dashboard.observed.as_mut() {
                    let index: std::collections::HashMap<&str, usize> = o
                        .repositories
                        .iter()
                        .enumerate()
                        .map(|(i, r)| (r.name.as_str(), i))
                        .collect();
                    let at: Vec<(usize, RepoDetails)> = batch
                        .iter()
                        .filter_map(|(n, d)| index.get(n.as_str()).map(|i| (*i, *d)))
                        .collect();
                    for (i, d) in at {
                        o.repositories[i].details = Some(d);
                    }
                }
                self.dashboard.details_pending =
                    self.dashboard.details_pending.saturating_sub(batch.len());
                vec![]
            }
            Msg::DetailsFailed(e) => {
                self.dashboard.details_pending = 0;
                self.dashboard.details_error = Some(e);
                vec![]
            }
            Msg::Images(repo, result) => {
                if let Some((name, slot)) = self.dashboard.detail.as_mut() {
                    if *name == repo {
                        *slot = Some(result);
                    }
                }
                vec![]
            }
            Msg::Diagnosed(report) => {
                if let Some(d) = self.diagnostics.as_mut() {
                    d.checks = Some(report.checks.clone());
                    d.report = Some(report);
                }
                vec![]
            }
            Msg::TeardownPlanned(result) => {
                if let Some(t) = self.teardown.as_mut() {
                    match result {
                        Ok(p) => {
                            t.plan = p.plan.clone();
                            t.delete_repos = p.delete_repos;
                            t.planned = Some(p);
                        }
                        Err(lines) => t.finished = Some(Err(lines)),
                    }
                }
                vec![]
            }
            Msg::BundleWritten(r) => {
                if let Some(d) = self.diagnostics.as_mut() {
                    d.writing = false;
                    d.bundle = Some(r);
                }
                vec![]
            }
            Msg::TornDown(result) => {
                if let Some(t) = self.teardown.as_mut() {
                    t.running = false;
                    t.finished = Some(result);
                }
                vec![]
            }
        }
    }

    /// The keys that work now: the screen's table, narrowed by its state (the footer, the
    /// help and dispatch all use it, so the footer never offers a key that does nothing).
    pub fn active_keys(&self) -> &'static [keys::Binding] {
        match (&self.screen, &self.teardown) {
            (Screen::Teardown, Some(t)) if t.finished.is_some() => keys::TEARDOWN_ENDED,
            (Screen::Teardown, Some(t)) if t.running => keys::BUSY,
            _ => self.screen.keys(),
        }
    }

    pub fn too_small(&self) -> bool {
        self.size.0 < super::view::MIN_WIDTH || self.size.1 < super::view::MIN_HEIGHT
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if self.too_small() {
            // "Terminal too small" covers the screen: only quitting acts.
            let ctrl_c =
                k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
            return if ctrl_c {
                self.on_cmd(Cmd::ForceQuit)
            } else {
                vec![]
            };
        }
        // A pending question takes the next key.
        if self.quit_confirm {
            self.quit_confirm = false;
            return if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                vec![Effect::Quit]
            } else {
                vec![]
            };
        }
        if self.apply.confirm_cancel {
            self.apply.confirm_cancel = false;
            if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                return vec![Effect::CancelApply];
            }
            return vec![];
        }
        if self.help {
            self.help = false;
            return vec![];
        }
        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
        if let (Some(v), false) = (self.verify.as_mut(), ctrl_c) {
            return match v.on_key(&k) {
                super::verify::Outcome::Stay => vec![],
                super::verify::Outcome::Close => {
                    self.verify = None;
                    vec![]
                }
                super::verify::Outcome::Run(image) => vec![Effect::Verify {
                    prefix: v.prefix.clone(),
                    image,
                }],
            };
        }
        match keys::dispatch(self.active_keys(), &k, self.text_focus()) {
            Some(cmd) => self.on_cmd(cmd),
            None => {
                self.type_into(k);
                vec![]
            }
        }
    }

    fn type_into(&mut self, k: KeyEvent) {
        if k.modifiers.contains(KeyModifiers::CONTROL) {
            return;
        }
        let ev = crossterm::event::Event::Key(k);
        let field = match self.screen {
            Screen::Profile => {
                self.profile_sel = 0;
                Some(&mut self.profile_filter)
            }
            Screen::Region => {
                self.region_sel = 0;
                Some(&mut self.region_filter)
            }
            Screen::Echo => Some(if self.echo_focus == 0 {
                &mut self.echo_account
            } else {
                &mut self.echo_region
            }),
            Screen::Options => Some(match self.option_focus {
                0 => &mut self.prefix,
                1 => &mut self.role_name,
                2 => &mut self.upstream_prefix,
                _ => &mut self.tags,
            }),
            Screen::Teardown => self
                .teardown
                .as_mut()
                .filter(|t| !t.running && t.finished.is_none())
                .map(|t| &mut t.confirm),
            _ => None,
        };
        if let Some(f) = field {
            f.handle_event(&ev);
        }
    }

    fn applying(&self) -> bool {
        (self.screen == Screen::Apply && self.apply.finished.is_none())
            || self.teardown.as_ref().is_some_and(|t| t.running)
    }

    fn on_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Help => {
                self.help = true;
                return vec![];
            }
            Cmd::ForceQuit => {
                if self.screen == Screen::Apply && self.apply.finished.is_none() {
                    self.apply.confirm_cancel = true;
                    return vec![];
                }
                if self.applying() {
                    self.quit_confirm = true;
                    return vec![];
                }
                return vec![Effect::Quit];
            }
            _ => {}
        }
        match self.screen {
            Screen::Profile => self.on_profile(cmd),
            Screen::Region => self.on_region(cmd),
            Screen::Echo => self.on_echo(cmd),
            Screen::Options => self.on_options(cmd),
            Screen::Method => self.on_method(cmd),
            Screen::Plan => self.on_plan(cmd),
            Screen::Apply => self.on_apply(cmd),
            Screen::Done => match cmd {
                Cmd::Verify => {
                    let prefix = RepoPrefix::parse("prefix", self.prefix.value())
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    self.verify = Some(super::verify::VerifyPopup::new(&prefix));
                    vec![]
                }
                Cmd::Dashboard => {
                    self.focus_prefix = RepoPrefix::parse("prefix", self.prefix.value())
                        .ok()
                        .map(|p| p.to_string());
                    self.open_dashboard()
                }
                Cmd::Quit => vec![Effect::Quit],
                _ => vec![],
            },
            Screen::Dashboard => self.on_dashboard(cmd),
            Screen::Teardown => self.on_teardown(cmd),
            Screen::Diagnostics => self.on_diagnostics(cmd),
        }
    }

    fn on_profile(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.filtered_profiles().len();
        match cmd {
            Cmd::Up => self.profile_sel = self.profile_sel.saturating_sub(1),
            Cmd::Down => self.profile_sel = (self.profile_sel + 1).min(n.saturating_sub(1)),
            Cmd::Select if !self.connecting => {
                if let Some(p) = self
                    .filtered_profiles()
                    .get(self.profile_sel)
                    .map(|p| (*p).clone())
                {
                    self.connecting = true;
                    self.identity_error = None;
                    self.identity = None;
                    let region = p.region.clone();
                    self.profile = Some(p.clone());
                    return vec![Effect::Connect { profile: p, region }];
                }
            }
            Cmd::Quit | Cmd::Back => return vec![Effect::Quit],
            _ => {}
        }
        vec![]
    }

    fn on_region(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.filtered_regions().len();
        match cmd {
            Cmd::Up => self.region_sel = self.region_sel.saturating_sub(1),
            Cmd::Down => self.region_sel = (self.region_sel + 1).min(n.saturating_sub(1)),
            Cmd::Select => {
                if let Some(r) = self.filtered_regions().get(self.region_sel) {
                    self.region = Some(r.to_string());
                    self.rules = None;
                    self.screen = Screen::Echo;
                    return vec![Effect::UseRegion(r.to_string())];
                }
            }
            Cmd::Back => self.screen = Screen::Profile,
            _ => {}
        }
        vec![]
    }

    fn on_echo(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::NextField | Cmd::PrevField => self.echo_focus = 1 - self.echo_focus,
            Cmd::Select => {
                let (a, r) = self.echo_errors();
                match (a, r) {
                    (None, None) => self.screen = Screen::Options,
                    (Some(_), _) => self.echo_focus = 0,
                    (None, Some(_)) => self.echo_focus = 1,
                }
            }
            Cmd::Back => self.screen = Screen::Region,
            _ => {}
        }
        vec![]
    }

    fn fields(&self) -> usize {
        if self.advanced {
            4
        } else {
            1
        }
    }

    fn on_options(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::NextField => self.option_focus = (self.option_focus + 1) % self.fields(),
            Cmd::PrevField => {
                self.option_focus = (self.option_focus + self.fields() - 1) % self.fields()
            }
            Cmd::ToggleAdvanced => {
                self.advanced = !self.advanced;
                self.option_focus = if self.advanced { 1 } else { 0 };
            }
            Cmd::Select if self.option_errors().is_empty() => self.screen = Screen::Method,
            Cmd::Back => self.screen = Screen::Echo,
            _ => {}
        }
        vec![]
    }

    fn on_method(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Up => self.method_sel = 0,
            Cmd::Down => self.method_sel = 1,
            Cmd::Select => {
                self.screen = Screen::Plan;
                self.planning = true;
                self.plan = None;
                let remember = self.remember();
                return vec![
                    remember,
                    Effect::Plan {
                        input: self.setup_input(),
                        method: self.method(),
                        stack_name: self.stack_name.clone(),
                    },
                ];
            }
            Cmd::Back | Cmd::Quit => self.screen = Screen::Options,
            _ => {}
        }
        vec![]
    }

    fn on_plan(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Up => self.plan_scroll = self.plan_scroll.saturating_sub(1),
            Cmd::Down => self.plan_scroll = self.plan_scroll.saturating_add(1),
            Cmd::PageUp => self.plan_scroll = self.plan_scroll.saturating_sub(10),
            Cmd::PageDown => self.plan_scroll = self.plan_scroll.saturating_add(10),
            Cmd::Select => {
                let Some(Ok(p)) = &self.plan else {
                    return vec![];
                };
                if !p.plan.blockers.is_empty() {
                    return vec![];
                }
                if !p.plan.has_changes() {
                    self.usage = usage_instructions(
                        &p.desired.account,
                        &p.desired.region,
                        &p.desired.rule.prefix,
                    );
                    self.screen = Screen::Done;
                    return vec![];
                }
                self.apply = ApplyState {
                    started: Some(self.now),
                    ..Default::default()
                };
                self.screen = Screen::Apply;
                return vec![Effect::Apply(Shared(p.clone()))];
            }
            Cmd::Back | Cmd::Quit if !self.planning => self.screen = Screen::Method,
            _ => {}
        }
        vec![]
    }

    fn on_apply(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Up => self.apply.scroll = self.apply.scroll.saturating_sub(1),
            Cmd::Down => self.apply.scroll = self.apply.scroll.saturating_add(1),
            Cmd::Select => match &self.apply.finished {
                Some(Ok(_)) => self.screen = Screen::Done,
                Some(Err(_)) => self.screen = Screen::Options,
                None => {}
            },
            Cmd::Back => {
                if let Some(Err(_)) = &self.apply.finished {
                    self.screen = Screen::Options;
                }
            }
            _ => {}
        }
        vec![]
    }

    fn on_dashboard(&mut self, cmd: Cmd) -> Vec<Effect> {
        let rules = self
            .dashboard
            .observed
            .as_ref()
            .map_or(0, |o| o.rules.len());
        let repos = self.visible_repos().len();
        let d = &mut self.dashboard;
        let step = |sel: &mut usize, n: usize, by: isize| {
            *sel = (*sel as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize
        };
        match cmd {
            Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown => {
                let by = match cmd {
                    Cmd::Up => -1,
                    Cmd::Down => 1,
                    Cmd::PageUp => -20,
                    _ => 20,
                };
                match d.pane {
                    Pane::Rules => {
                        step(&mut d.rule_sel, rules, by);
                        d.repo_sel = 0;
                        d.detail = None;
                    }
                    Pane::Repos => step(&mut d.repo_sel, repos, by),
                }
            }
            Cmd::SwitchPane => {
                d.pane = if d.pane == Pane::Rules && repos > 0 {
                    Pane::Repos
                } else {
                    Pane::Rules
                }
            }
            Cmd::Sort => d.sort = d.sort.next(),
            Cmd::Refresh if !d.loading => {
                d.loading = true;
                return vec![Effect::LoadDashboard];
            }
            Cmd::Select => {
                if d.pane == Pane::Rules && repos > 0 {
                    d.pane = Pane::Repos;
                    return vec![];
                }
                if let Some(name) = self
                    .visible_repos()
                    .get(self.dashboard.repo_sel)
                    .map(|r| r.name.clone())
                {
                    self.dashboard.detail = Some((name.clone(), None));
                    return vec![Effect::LoadImages(name)];
                }
            }
            Cmd::NewSetup => {
                self.screen = Screen::Echo;
                if let Some(r) = &self.region {
                    return vec![Effect::UseRegion(r.clone())];
                }
            }
            Cmd::Teardown => return self.open_teardown(),
            Cmd::Verify => {
                if let Some(prefix) = self.selected_rule().map(|r| r.prefix.clone()) {
                    self.verify = Some(super::verify::VerifyPopup::new(&prefix));
                }
            }
            Cmd::Diagnose => {
                if let Some(prefix) = self.selected_rule().map(|r| r.prefix.clone()) {
                    self.diagnostics = Some(DiagState {
                        prefix: prefix.clone(),
                        checks: None,
                        report: None,
                        bundle: None,
                        writing: false,
                        scroll: 0,
                    });
                    self.screen = Screen::Diagnostics;
                    return vec![Effect::Diagnose(prefix)];
                }
            }
            Cmd::Quit => {
                if d.detail.is_some() {
                    d.detail = None;
                } else {
                    return vec![Effect::Quit];
                }
            }
            _ => {}
        }
        vec![]
    }

    fn on_diagnostics(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(d) = self.diagnostics.as_mut() else {
            return vec![];
        };
        match cmd {
            Cmd::Up => d.scroll = d.scroll.saturating_sub(1),
            Cmd::Down => d.scroll = d.scroll.saturating_add(1),
            Cmd::Bundle if d.report.is_some() && !d.writing => {
                d.writing = true;
                return vec![Effect::WriteBundle {
                    report: d.report.clone().expect("checked"),
                    prefix: d.prefix.clone(),
                }];
            }
            Cmd::Refresh if d.checks.is_some() => {
                d.checks = None;
                return vec![Effect::Diagnose(d.prefix.clone())];
            }
            Cmd::Back | Cmd::Quit => {
                self.diagnostics = None;
                self.screen = Screen::Dashboard;
            }
            _ => {}
        }
        vec![]
    }

    fn open_teardown(&mut self) -> Vec<Effect> {
        let (Some(o), Some(rule)) = (
            self.dashboard.observed.as_ref(),
            self.selected_rule().cloned(),
        ) else {
            return vec![];
        };
        // Until the engine has read who made the rule, the plan is empty and Enter does nothing.
        let plan = Plan {
            account: o.identity.account.clone(),
            region: o.region.clone(),
            changes: vec![],
            warnings: vec![format!("reading who made rule {} …", rule.prefix)],
            blockers: vec![],
        };
        let role = rule
            .role_arn
            .as_deref()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_string);
        let prefix = rule.prefix.clone();
        self.teardown = Some(TeardownState {
            rule,
            planned: None,
            delete_repos: false,
            confirm: Input::default(),
            plan,
            running: false,
            lines: vec![],
            finished: None,
            refused: None,
        });
        self.screen = Screen::Teardown;
        vec![Effect::PlanTeardown {
            prefix,
            role,
            delete_repos: false,
        }]
    }

    fn on_teardown(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(t) = self.teardown.as_mut() else {
            return vec![];
        };
        if t.running {
            return vec![];
        }
        if let Some(done) = &t.finished {
            if matches!(cmd, Cmd::Select | Cmd::Back) {
                let ok = done.is_ok();
                self.teardown = None;
                if ok {
                    self.dashboard.rule_sel = 0;
                }
                return self.open_dashboard();
            }
            return vec![];
        }
        match cmd {
            // Re-planned by the engine: the repositories are listed only when they are to be
            // deleted. Nothing can be confirmed until the new plan is in.
            Cmd::ToggleRepos if t.planned.is_some() => {
                t.delete_repos = !t.delete_repos;
                t.planned = None;
                let role = t
                    .rule
                    .role_arn
                    .as_deref()
                    .and_then(|arn| arn.rsplit('/').next())
                    .map(str::to_string);
                return vec![Effect::PlanTeardown {
                    prefix: t.rule.prefix.clone(),
                    role,
                    delete_repos: t.delete_repos,
                }];
            }
            Cmd::Select => {
                // Nothing is deleted without the prefix typed exactly; enter says why not.
                t.refused = match &t.planned {
                    None => Some("still reading who made the rule…".into()),
                    Some(p) if !p.plan.has_changes() => Some("nothing to delete".into()),
                    Some(_) if t.confirm.value() != t.rule.prefix => Some(format!(
                        "type the prefix exactly to confirm: {} (typed: {:?})",
                        t.rule.prefix,
                        t.confirm.value()
                    )),
                    Some(p) => {
                        t.running = true;
                        return vec![Effect::Teardown(p.clone())];
                    }
                };
            }
            Cmd::Back => {
                self.teardown = None;
                self.screen = Screen::Dashboard;
            }
            _ => {}
        }
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Identity, ManagedBy};

    fn key(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }
    fn ctrl(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }
    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            app.update(key(KeyCode::Char(c)));
        }
    }
    fn identity() -> Identity {
        Identity {
            account: "210987654321".into(),
            arn: "arn:aws:sts::210987654321:assumed-role/Admin/me".into(),
        }
    }
    fn app() -> App {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.update(Msg::Profiles(vec![
            ProfileEntry {
                name: Some("dev".into()),
                kind: ProfileKind::Sso,
                region: Some("eu-west-1".into()),
            },
            ProfileEntry {
                name: Some("prod".into()),
                kind: ProfileKind::StaticKeys,
                region: Some("us-east-2".into()),
            },
            ProfileEntry::sandbox(),
        ]));
        a
    }
    fn at_options() -> App {
        let mut a = app();
        a.update(key(KeyCode::Enter));
        a.update(Msg::Connected(Ok(identity())));
        a.update(key(KeyCode::Enter));
        for _ in 0..12 {
            a.update(key(KeyCode::Backspace));
        }
        typed(&mut a, "111122223333");
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Options);
        a
    }

    #[test]
    fn profile_filter_and_connect() {
        let mut a = app();
        typed(&mut a, "pro");
        assert_eq!(a.filtered_profiles().len(), 1);
        let fx = a.update(key(KeyCode::Enter));
        assert!(
            matches!(&fx[..], [Effect::Connect { profile, region }] if profile.title() == "prod" && region.as_deref() == Some("us-east-2"))
        );
        assert!(a.connecting);
        a.update(Msg::Connected(Err(
            "the SSO session has expired: run `aws sso login --profile prod`".into(),
        )));
        assert_eq!(
            a.screen,
            Screen::Profile,
            "a failure stays on the step, shown inline"
        );
        assert!(a.identity_error.as_ref().unwrap().contains("aws sso login"));
        a.update(key(KeyCode::Enter));
        a.update(Msg::Connected(Ok(identity())));
        assert_eq!(a.screen, Screen::Region);
        assert_eq!(
            a.filtered_regions()[a.region_sel],
            "us-east-2",
            "the profile's region is preselected"
        );
    }

    #[test]
    fn only_the_sandbox_is_preselected_without_credentials() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.update(Msg::Profiles(vec![ProfileEntry::sandbox()]));
        assert!(a.sandbox_only);
        assert_eq!(
            a.filtered_profiles()[a.profile_sel].kind,
            ProfileKind::Sandbox
        );
    }

    #[test]
    fn region_choice_loads_rules_and_esc_goes_back() {
        let mut a = app();
        a.update(key(KeyCode::Enter));
        a.update(Msg::Connected(Ok(identity())));
        typed(&mut a, "ap-south");
        let fx = a.update(key(KeyCode::Enter));
        assert_eq!(fx, vec![Effect::UseRegion("ap-south-1".into())]);
        assert_eq!(a.screen, Screen::Echo);
        a.update(key(KeyCode::Esc));
        assert_eq!(a.screen, Screen::Region);
        assert_eq!(
            a.region_filter.value(),
            "ap-south",
            "going back keeps what was typed"
        );
    }

    #[test]
    fn echo_account_is_validated_on_every_keystroke_and_blocks() {
        let mut a = app();
        a.update(key(KeyCode::Enter));
        a.update(Msg::Connected(Ok(identity())));
        a.update(key(KeyCode::Enter));
        typed(&mut a, "12345");
        let (err, _) = a.echo_errors();
        assert!(err.unwrap().rule.contains("got 5"));
        a.update(key(KeyCode::Enter));
        assert_eq!(
            a.screen,
            Screen::Echo,
            "cannot proceed with an invalid account"
        );
        typed(&mut a, "6789012");
        assert!(a.echo_errors().0.is_none());
        a.update(key(KeyCode::Tab));
        assert_eq!(a.echo_focus, 1);
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Options);
    }

    #[test]
    fn prefix_is_checked_against_existing_rules_and_advanced_fields_fold() {
        let mut a = at_options();
        a.update(Msg::Rules(Ok(vec![CacheRule {
            prefix: "echo".into(),
            upstream_registry: "ecr".into(),
            upstream_url: "999988887777.dkr.ecr.us-east-1.amazonaws.com".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: None,
            credential_arn: None,
            created_at: None,
            managed_by: ManagedBy::Other,
        }])));
        assert_eq!(
            a.prefix_conflict().unwrap().upstream_url,
            "999988887777.dkr.ecr.us-east-1.amazonaws.com"
        );
        typed(&mut a, "_X");
        assert!(!a.option_errors().is_empty());
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Options);
        a.update(key(KeyCode::Backspace));
        a.update(key(KeyCode::Backspace));
        a.update(ctrl('o'));
        assert!(a.advanced);
        assert_eq!(a.option_focus, 1, "focus moves into the advanced fields");
        typed(&mut a, " bad");
        assert_eq!(a.option_errors()[0].field, "role-name");
        for _ in 0..4 {
            a.update(key(KeyCode::Backspace));
        }
        a.update(key(KeyCode::Tab));
        a.update(key(KeyCode::Tab));
        typed(&mut a, "team=platform, env=prod");
        assert!(a.option_errors().is_empty());
        assert_eq!(
            a.setup_input().tags,
            vec!["team=platform".to_string(), "env=prod".to_string()]
        );
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Method);
    }

    #[test]
    fn method_choice_requests_a_plan_and_remembers_choices() {
        let mut a = at_options();
        a.update(key(KeyCode::Enter));
        a.update(key(KeyCode::Char('j')));
        let fx = a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Plan);
        assert!(
            matches!(&fx[0], Effect::SavePrefs(p) if p.method.as_deref() == Some("cloudformation") && p.echo_account.as_deref() == Some("111122223333"))
        );
        assert!(
            matches!(&fx[1], Effect::Plan { method: Method::CloudFormation, input, .. } if input.echo_account == "111122223333" && input.prefix == "echo")
        );
        a.update(key(KeyCode::Esc));
        assert_eq!(
            a.screen,
            Screen::Plan,
            "cannot leave while the plan is computed"
        );
        a.update(Msg::Planned(Err("boom".into())));
        a.update(key(KeyCode::Esc));
        assert_eq!(a.screen, Screen::Method);
    }

    #[test]
    fn ctrl_c_during_apply_asks_first() {
        let mut a = at_options();
        a.screen = Screen::Apply;
        a.update(Msg::Engine(Event::StepDone {
            index: 1,
            total: 4,
            label: "create IAM role r".into(),
        }));
        assert!(a.update(ctrl('c')).is_empty());
        assert!(a.apply.confirm_cancel);
        assert!(a.update(key(KeyCode::Char('n'))).is_empty());
        a.update(ctrl('c'));
        assert_eq!(a.update(key(KeyCode::Char('y'))), vec![Effect::CancelApply]);
        a.update(Msg::Applied(Ok(vec!["docker pull x".into()])));
        assert_eq!(
            a.update(ctrl('c')),
            vec![Effect::Quit],
            "finished: ctrl-c quits"
        );
    }

    #[test]
    fn help_overlay_opens_and_any_key_closes() {
        let mut a = app();
        a.update(key(KeyCode::F(1)));
        assert!(a.help);
        a.update(key(KeyCode::Char('x')));
        assert!(!a.help);
        assert_eq!(a.profile_filter.value(), "", "the closing key is not typed");
    }
}

#[cfg(test)]
mod diagnostics_tests {
    use super::*;

    #[test]
    fn diagnose_and_bundle_keys() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Diagnostics;
        a.diagnostics = Some(DiagState {
            prefix: "echo".into(),
            checks: None,
            report: None,
            bundle: None,
            writing: false,
            scroll: 0,
        });
        let b = Msg::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::NONE));
        assert!(a.update(b).is_empty(), "no bundle before the checks ran");
        let report = Shared::new(Report {
            checks: vec![],
            observed: None,
            plan: None,
        });
        a.update(Msg::Diagnosed(report.clone()));
        assert_eq!(
            a.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('b'),
                KeyModifiers::NONE
            ))),
            vec![Effect::WriteBundle {
                report,
                prefix: "echo".into()
            }],
            "the bundle is written from the report on screen"
        );
        assert!(
            a.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('b'),
                KeyModifiers::NONE
            )))
            .is_empty(),
            "one bundle at a time"
        );
        a.update(Msg::BundleWritten(Ok("/tmp/b.json".into())));
        assert_eq!(
            a.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('r'),
                KeyModifiers::NONE
            ))),
            vec![Effect::Diagnose("echo".into())]
        );
        a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        assert_eq!(a.screen, Screen::Dashboard);
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    #[test]
    fn remembered_choices_open_the_dashboard_and_fall_back_to_the_wizard() {
        let prefs = Prefs {
            profile: Some("sandbox".into()),
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let mut a = App::new(prefs, Utc::now());
        let fx = a.update(Msg::Profiles(vec![ProfileEntry::sandbox()]));
        assert!(matches!(&fx[..], [Effect::Connect { region: Some(r), .. }] if r == "eu-west-1"));
        let fx = a.update(Msg::Connected(Ok(Identity {
            account: "1".into(),
            arn: "a".into(),
        })));
        assert_eq!(
            fx,
            vec![Effect::UseRegion("eu-west-1".into()), Effect::LoadDashboard]
        );
        assert_eq!(a.screen, Screen::Dashboard);
        let empty = Observed {
            identity: Identity {
                account: "1".into(),
                arn: "a".into(),
            },
            region: "eu-west-1".into(),
            rules: vec![],
            role: None,
            roles: vec![],
            repositories: vec![],
        };
        a.update(Msg::Dashboard(Ok(Box::new(empty))));
        assert_eq!(a.screen, Screen::Echo, "no rules yet: straight to setup");
    }
}

#[cfg(test)]
mod screen_tests {
    use super::*;
    use crate::core::model::{desired, Identity, ManagedBy};
    use crate::core::plan::{plan, PlanOptions};

    fn key(a: &mut App, c: KeyCode) -> Vec<Effect> {
        a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
    }

    fn identity() -> Identity {
        Identity {
            account: "210987654321".into(),
            arn: "arn:aws:sts::210987654321:user/me".into(),
        }
    }

    fn rule(prefix: &str, managed_by: ManagedBy) -> CacheRule {
        CacheRule {
            prefix: prefix.into(),
            upstream_registry: "ecr".into(),
            upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: None,
            credential_arn: None,
            created_at: None,
            managed_by,
        }
    }

    async fn teardown_of(aws: &crate::sandbox::SandboxAws, delete_repos: bool) -> TeardownPlanned {
        crate::engine::ops::plan_teardown(
            aws,
            &crate::engine::ops::TeardownRequest {
                prefix: "echo".into(),
                role_name: None,
                stack_name: None,
                delete_repos,
                force: false,
            },
        )
        .await
        .unwrap()
    }

    fn observed() -> Observed {
        let repo = |name: &str, pulls: u64, size: u64| RepositoryInfo {
            name: name.into(),
            rule_prefix: "echo".into(),
            details: Some(crate::core::model::RepoDetails {
                image_count: 1,
                size_bytes: size,
                last_pulled_at: None,
            }),
            pull_count_30d: pulls,
            pulls_by_day: vec![],
        };
        Observed {
            identity: identity(),
            region: "eu-west-1".into(),
            rules: vec![
                rule("echo", ManagedBy::EchoOnboard),
                rule("other", ManagedBy::Other),
            ],
            role: None,
            roles: vec![],
            repositories: vec![
                repo("echo/a", 5, 300),
                repo("echo/b", 50, 100),
                repo("echo/c", 20, 200),
            ],
        }
    }

    fn planned(observed_rules: Vec<CacheRule>) -> Arc<Planned> {
        let setup = SetupInput::with_defaults("111122223333", "eu-west-1")
            .validate()
            .unwrap();
        let d = desired(&setup, "210987654321");
        let o = Observed {
            identity: identity(),
            region: "eu-west-1".into(),
            rules: observed_rules,
            role: None,
            roles: vec![],
            repositories: vec![],
        };
        let p = plan(&d, &o, "111122223333", PlanOptions::default());
        Arc::new(Planned {
            setup,
            desired: d,
            observed: o,
            plan: p,
            stack: None,
        })
    }

    #[test]
    fn plan_screen_applies_only_a_clean_plan() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Plan;
        let p = planned(vec![]);
        a.update(Msg::Planned(Ok(p.clone())));
        assert_eq!(
            key(&mut a, KeyCode::Enter),
            vec![Effect::Apply(Shared(p))],
            "the effect carries the plan on screen"
        );
        assert_eq!(a.screen, Screen::Apply);

        let mut blocked = App::new(Prefs::default(), Utc::now());
        blocked.screen = Screen::Plan;
        let mut foreign = rule("echo", ManagedBy::Other);
        foreign.role_arn = Some("arn:aws:iam::210987654321:role/hand-made".into());
        blocked.update(Msg::Planned(Ok(planned(vec![foreign]))));
        assert!(
            key(&mut blocked, KeyCode::Enter).is_empty(),
            "a blocked plan cannot be applied"
        );
        assert_eq!(blocked.screen, Screen::Plan);
    }

    #[test]
    fn done_opens_the_dashboard_on_the_new_rule() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Done;
        assert_eq!(key(&mut a, KeyCode::Char('d')), vec![Effect::LoadDashboard]);
        assert_eq!(a.screen, Screen::Dashboard);
        let fx = a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        assert_eq!(
            fx,
            vec![Effect::Validate(vec!["echo".into(), "other".into()])]
        );
        assert_eq!(a.selected_rule().unwrap().prefix, "echo");
    }

    #[test]
    fn dashboard_keys() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        let names = |a: &App| {
            a.visible_repos()
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&a),
            ["echo/b", "echo/c", "echo/a"],
            "sorted by pulls first"
        );
        key(&mut a, KeyCode::Char('s'));
        key(&mut a, KeyCode::Char('s'));
        assert_eq!(
            names(&a),
            ["echo/a", "echo/c", "echo/b"],
            "pulls → last pull → size"
        );
        key(&mut a, KeyCode::Char('s'));
        assert_eq!(names(&a), ["echo/a", "echo/b", "echo/c"], "then by name");
        assert_eq!(key(&mut a, KeyCode::Char('r')), vec![Effect::LoadDashboard]);
        assert!(
            key(&mut a, KeyCode::Char('r')).is_empty(),
            "no second refresh while one runs"
        );
        a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.dashboard.pane, Pane::Repos);
        key(&mut a, KeyCode::Down);
        assert_eq!(
            key(&mut a, KeyCode::Enter),
            vec![Effect::LoadImages("echo/b".into())]
        );
        key(&mut a, KeyCode::Esc);
        assert!(
            a.dashboard.detail.is_none(),
            "esc closes the detail pane first"
        );
        assert_eq!(key(&mut a, KeyCode::Esc), vec![Effect::Quit]);
    }

    #[test]
    fn background_refresh_runs_on_the_interval() {
        let t0 = Utc::now();
        let mut a = App::new(Prefs::default(), t0);
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        assert!(a
            .update(Msg::Tick(t0 + chrono::Duration::seconds(5)))
            .is_empty());
        assert_eq!(
            a.update(Msg::Tick(t0 + chrono::Duration::seconds(REFRESH_SECS))),
            vec![Effect::LoadDashboard]
        );
    }

    #[test]
    fn teardown_needs_the_typed_prefix() {
        use crate::sandbox::SandboxAws;
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        let fx = key(&mut a, KeyCode::Char('t'));
        assert_eq!(a.screen, Screen::Teardown);
        assert!(
            matches!(&fx[..], [Effect::PlanTeardown { prefix, .. }] if prefix == "echo"),
            "ownership is read by the engine: {fx:?}"
        );
        assert!(key(&mut a, KeyCode::Enter).is_empty(), "no plan yet");
        // The engine's plan, from a simulated account holding a rule this tool made.
        let aws = SandboxAws::empty("eu-west-1");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let planned = rt.block_on(async {
            let req = crate::engine::ops::PlanRequest {
                input: SetupInput::with_defaults("111122223333", "eu-west-1"),
                method: Method::Api,
                stack_name: crate::cfn::DEFAULT_STACK_NAME.into(),
                adopt: false,
            };
            let p = crate::engine::ops::plan(&aws, &req).await.unwrap();
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            crate::engine::ops::apply(&aws, &p, &Default::default(), &tx)
                .await
                .unwrap();
            aws.simulate_pull("echo/a", "1").unwrap();
            teardown_of(&aws, false).await
        });
        a.update(Msg::TeardownPlanned(Ok(Shared::new(planned))));
        for c in "ech".chars() {
            key(&mut a, KeyCode::Char(c));
        }
        assert!(
            key(&mut a, KeyCode::Enter).is_empty(),
            "a partial prefix deletes nothing"
        );
        let why = a.teardown.as_ref().unwrap().refused.clone().unwrap();
        assert!(
            why.contains("type the prefix exactly to confirm: echo"),
            "{why}"
        );
        let fx = a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('r'),
            KeyModifiers::CONTROL,
        )));
        assert!(
            matches!(
                &fx[..],
                [Effect::PlanTeardown {
                    delete_repos: true,
                    ..
                }]
            ),
            "{fx:?}"
        );
        let planned = rt.block_on(teardown_of(&aws, true));
        a.update(Msg::TeardownPlanned(Ok(Shared::new(planned))));
        assert!(
            a.teardown
                .as_ref()
                .unwrap()
                .plan
                .changes
                .iter()
                .any(|c| c.name == "echo/a"),
            "repositories join the plan"
        );
        key(&mut a, KeyCode::Char('o'));
        let fx = key(&mut a, KeyCode::Enter);
        assert!(
            matches!(&fx[..], [Effect::Teardown(p)] if p.delete_repos && p.plan.has_changes()),
            "{fx:?}"
        );
        assert!(
            key(&mut a, KeyCode::Esc).is_empty(),
            "no leaving while deleting"
        );
        a.update(Msg::TornDown(Ok(vec![
            "pull-through-cache-rule echo".into()
        ])));
        assert_eq!(key(&mut a, KeyCode::Enter), vec![Effect::LoadDashboard]);
        assert_eq!(a.screen, Screen::Dashboard);
    }

    #[test]
    fn image_details_stream_in_after_the_dashboard_screen_first() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        let mut o = observed();
        for r in &mut o.repositories {
            r.details = None;
        }
        o.repositories.push(RepositoryInfo {
            name: "other/z".into(),
            rule_prefix: "other".into(),
            details: None,
            pull_count_30d: 1,
            pulls_by_day: vec![],
        });
        let fx = a.update(Msg::Dashboard(Ok(Box::new(o.clone()))));
        // Sorted by pulls (known before any detail): the selected rule's rows first.
        let wanted = fx.iter().find_map(|e| match e {
            Effect::LoadDetails(n) => Some(n.clone()),
            _ => None,
        });
        assert_eq!(
            wanted.unwrap(),
            vec!["echo/b", "echo/c", "echo/a", "other/z"]
        );
        assert_eq!(a.dashboard.details_pending, 4);
        assert_eq!(a.visible_repos()[0].name, "echo/b");
        let d = crate::core::model::RepoDetails {
            image_count: 3,
            size_bytes: 9,
            last_pulled_at: None,
        };
        a.update(Msg::Details(vec![("echo/b".into(), d)]));
        assert_eq!(a.visible_repos()[0].details, Some(d));
        assert_eq!(a.dashboard.details_pending, 3);
        // A refresh keeps what is known for repositories whose pulls did not change.
        o.repositories[0].pull_count_30d += 1; // echo/a was pulled meanwhile
        let fx = a.update(Msg::Dashboard(Ok(Box::new(o))));
        let wanted = fx.iter().find_map(|e| match e {
            Effect::LoadDetails(n) => Some(n.clone()),
            _ => None,
        });
        assert_eq!(wanted.unwrap(), vec!["echo/c", "echo/a", "other/z"]);
        a.update(Msg::DetailsFailed("AccessDenied".into()));
        assert_eq!(a.dashboard.details_pending, 0);
        assert_eq!(a.dashboard.details_error.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn keys_do_nothing_while_the_terminal_is_too_small() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(Box::new(observed()))));
        a.update(Msg::Resize(70, 20));
        assert!(key(&mut a, KeyCode::Char('t')).is_empty());
        assert!(key(&mut a, KeyCode::Char('q')).is_empty());
        assert_eq!(a.screen, Screen::Dashboard);
        a.update(Msg::Resize(100, 30));
        key(&mut a, KeyCode::Char('t'));
        assert_eq!(a.screen, Screen::Teardown);
    }
}
