//! The TUI's state and its `update(msg) -> effects` function: which screen is on top, the
//! overlays above it, and routing of keys and results to the screens. Synchronous and free
//! of I/O: the runner performs effects and feeds their results back as messages, so every
//! screen is a state machine tested without a terminal or a network.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;

use super::keys::{self, Binding, Cmd};
use super::prefs::Prefs;
use super::profiles::ProfileEntry;
use super::screens::apply::ApplyScreen;
use super::screens::dashboard::{CheckedBy, Dashboard, RuleCheck};
use super::screens::diagnostics::DiagScreen;
use super::screens::done::DoneScreen;
use super::screens::echo::EchoStep;
use super::screens::fleet::FleetScreen;
use super::screens::method::MethodStep;
use super::screens::options::OptionsStep;
use super::screens::plan::PlanScreen;
use super::screens::profile::ProfileStep;
use super::screens::region::RegionStep;
use super::screens::teardown::TeardownScreen;
use super::screens::upstream::UpstreamStep;
use super::verify::{self, VerifyPopup};
use super::warm::{self, WarmScreen};
use crate::core::model::usage_instructions;
use crate::core::validate::{SetupInput, DEFAULT_ECHO_REGION};

pub use super::msg::{Effect, Msg, Shared};
pub use super::screens::{Out, Screen, Session};

pub struct App {
    pub screen: Screen,
    /// The terminal's size; below the minimum only quit works (nothing acts unseen).
    pub size: (u16, u16),
    pub now: DateTime<Utc>,
    pub help: bool,
    /// ctrl-c while changes are being made: the next key answers "quit?".
    pub quit_confirm: bool,
    /// The "pull a test image" popup, over the Done screen or the dashboard.
    pub verify: Option<VerifyPopup>,
    /// The warm screen, over the dashboard.
    pub warm: Option<WarmScreen>,
    pub prefs: Prefs,
    /// Started from remembered choices: go straight to the dashboard if rules exist.
    pub resume: bool,
    pub session: Session,
    pub profile: ProfileStep,
    pub region: RegionStep,
    pub echo: EchoStep,
    pub options: OptionsStep,
    pub method: MethodStep,
    pub stack_name: String,
    pub plan: PlanScreen,
    pub apply: ApplyScreen,
    pub done: DoneScreen,
    pub dashboard: Dashboard,
    pub teardown: Option<TeardownScreen>,
    pub diagnostics: Option<DiagScreen>,
    /// The "add another upstream" form; the plan it starts goes back to it.
    pub upstream: UpstreamStep,
    pub planning_upstream: bool,
    /// Many accounts through a StackSet.
    pub fleet: FleetScreen,
}

impl App {
    pub fn new(prefs: Prefs, now: DateTime<Utc>) -> Self {
        App {
            screen: Screen::Profile,
            size: (super::view::MIN_WIDTH, super::view::MIN_HEIGHT),
            now,
            help: false,
            quit_confirm: false,
            verify: None,
            warm: None,
            resume: false,
            session: Session::default(),
            profile: ProfileStep::default(),
            region: RegionStep::default(),
            echo: EchoStep::new(
                prefs.echo_account.as_deref().unwrap_or(""),
                prefs.echo_region.as_deref().unwrap_or(DEFAULT_ECHO_REGION),
            ),
            options: OptionsStep::new(prefs.prefix.as_deref()),
            method: MethodStep::new(prefs.method.as_deref()),
            stack_name: crate::cfn::DEFAULT_STACK_NAME.into(),
            plan: PlanScreen::default(),
            apply: ApplyScreen::default(),
            done: DoneScreen::default(),
            dashboard: Dashboard::default(),
            teardown: None,
            diagnostics: None,
            upstream: UpstreamStep::default(),
            planning_upstream: false,
            fleet: FleetScreen::new(
                Screen::Dashboard,
                "",
                false,
                SetupInput::with_defaults("", ""),
                None,
            ),
            prefs,
        }
    }

    pub fn start(&self) -> Vec<Effect> {
        vec![Effect::LoadProfiles]
    }

    pub fn setup_input(&self) -> SetupInput {
        SetupInput {
            echo_account: self.echo.account.value().to_string(),
            echo_region: self.echo.region.value().to_string(),
            region: self.session.region.clone().unwrap_or_default(),
            prefix: self.options.prefix.value().to_string(),
            role_name: self.options.role_name.value().to_string(),
            upstream_prefix: self.options.upstream_prefix.value().to_string(),
            tags: self.options.tag_list(),
            cache: self.options.cache_input(),
            upstream: Default::default(),
            broad_policy: self.options.broad_policy(),
        }
    }

    fn remember(&mut self) -> Effect {
        self.prefs = Prefs {
            profile: self.session.profile.as_ref().map(|p| p.title()),
            region: self.session.region.clone(),
            echo_account: Some(self.echo.account.value().to_string()).filter(|s| !s.is_empty()),
            prefix: Some(self.options.prefix.value().to_string()),
            method: Some(self.method.name().into()),
            echo_region: self.prefs.echo_region.clone(),
        };
        Effect::SavePrefs(self.prefs.clone())
    }

    /// Does the focused widget take typed characters?
    pub fn text_focus(&self) -> bool {
        if self.warm.is_some() {
            return true;
        }
        match self.screen {
            Screen::Profile | Screen::Region | Screen::Echo | Screen::Options => true,
            Screen::Upstream => {
                self.upstream.focus != super::screens::upstream::UpstreamField::Registry
            }
            Screen::Teardown => self.teardown.as_ref().is_some_and(|t| t.typing()),
            Screen::Fleet => self.fleet.typing(),
            _ => false,
        }
    }

    /// The keys that exist now: the screen's table, narrowed by its state (the footer, the
    /// help and dispatch all use it).
    pub fn active_keys(&self) -> &'static [Binding] {
        if self.warm.is_some() {
            return keys::WARM;
        }
        match (&self.screen, &self.teardown) {
            (Screen::Teardown, Some(t)) => t.keys(),
            (Screen::Fleet, _) => self.fleet.keys(),
            _ => self.screen.keys(),
        }
    }

    /// Whether a key does anything in the current state (the footer dims those that do not).
    pub fn enabled(&self, cmd: Cmd) -> bool {
        if matches!(cmd, Cmd::Help | Cmd::ForceQuit) {
            return true;
        }
        if let Some(w) = &self.warm {
            return w.enabled(cmd);
        }
        match self.screen {
            Screen::Profile => self.profile.enabled(cmd),
            Screen::Region => self.region.enabled(cmd),
            Screen::Echo => self.echo.enabled(cmd),
            Screen::Options => self.options.enabled(cmd),
            Screen::Method => true,
            Screen::Plan => self.plan.enabled(cmd),
            Screen::Apply => self.apply.enabled(cmd),
            Screen::Done => cmd != Cmd::Copy || !self.done.usage.is_empty(),
            Screen::Dashboard => self.dashboard.enabled(cmd),
            Screen::Teardown => self.teardown.as_ref().is_none_or(|t| t.enabled(cmd)),
            Screen::Diagnostics => self.diagnostics.as_ref().is_none_or(|d| d.enabled(cmd)),
            Screen::Upstream => self.upstream.enabled(cmd),
            Screen::Fleet => self.fleet.enabled(cmd),
        }
    }

    pub fn too_small(&self) -> bool {
        self.size.0 < super::view::MIN_WIDTH || self.size.1 < super::view::MIN_HEIGHT
    }

    /// Changes are being made in AWS now.
    pub fn changing(&self) -> bool {
        (self.screen == Screen::Apply && self.apply.running())
            || self.teardown.as_ref().is_some_and(|t| t.running)
            || self.fleet.running()
    }

    // --- messages -------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match super::words::in_tui_words(msg) {
            Msg::Key(k) => return self.on_key(k),
            Msg::Resize(w, h) => self.size = (w, h),
            // A pasted value goes into the focused field as typed, one line of it: an account
            // id or an ARN copied with its newline must not press enter.
            Msg::Paste(text) if self.text_focus() => {
                let line = text.lines().next().unwrap_or_default().trim().to_string();
                for c in line.chars() {
                    self.type_into(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
                }
            }
            Msg::Paste(_) => {}
            Msg::Click(x, y) if self.screen == Screen::Dashboard => {
                return self.dashboard.click(x, y).into_iter().collect();
            }
            Msg::Click(..) => {}
            Msg::Wheel(n, x, y) => {
                if self.screen == Screen::Dashboard {
                    self.dashboard.point_at(x, y);
                }
                return self.update(Msg::Scroll(n));
            }
            Msg::Scroll(n) => {
                let cmd = if n < 0 { Cmd::Up } else { Cmd::Down };
                return (0..n.unsigned_abs())
                    .flat_map(|_| self.on_cmd(cmd))
                    .collect();
            }
            Msg::Tick(now) => {
                self.now = now;
                if self.screen == Screen::Dashboard {
                    return self.dashboard.tick(now).into_iter().collect();
                }
            }
            Msg::Profiles(list) => return self.profiles_loaded(list),
            Msg::Connected(result) => return self.connected(result),
            Msg::Rules(r) => self.session.rules = Some(r),
            Msg::Planned(p) => self.plan.planned(p),
            Msg::Engine(e, at) if self.fleet.running() => self.fleet.on_event(&e, at),
            Msg::Engine(e, at) => match self.teardown.as_mut().filter(|t| t.running) {
                Some(t) => t.progress.on_event(&e, at),
                None => self.apply.progress.on_event(&e, at),
            },
            Msg::FleetPlanned(r) => self.fleet.planned(r),
            Msg::FleetApplied(r) => self.fleet.applied(r),
            Msg::FleetStatus(r) => self.fleet.status_read(r),
            Msg::FleetTornDown(r) => self.fleet.torn_down(r),
            Msg::Applied(result) => {
                if let Ok(usage) = &result {
                    self.done.usage = usage.clone();
                    self.done.copied = false;
                    self.done.upstream = self.planned_upstream();
                }
                self.apply.finish(result, self.now);
            }
            Msg::DashboardPart(part) => self.dashboard.part(*part),
            Msg::Dashboard(Ok(read)) if self.resume && !read.has_rules() => {
                // Nothing set up here yet: the wizard is the better first screen.
                self.resume = false;
                self.dashboard.loading = false;
                self.dashboard.incoming = None;
                self.screen = Screen::Echo;
            }
            Msg::Dashboard(Ok(read)) => {
                self.resume = false;
                return self.dashboard.loaded(*read, self.now);
            }
            Msg::Dashboard(Err(e)) => {
                self.dashboard.loading = false;
                self.dashboard.incoming = None;
                self.dashboard.error = Some(e);
            }
            Msg::Validations(v) => {
                for (key, check) in v {
                    self.dashboard
                        .checked(key, check, CheckedBy::Refresh, self.now);
                }
            }
            Msg::Validated(key, check) => {
                self.dashboard
                    .checked(key, check, CheckedBy::Apply, self.now);
            }
            Msg::Images {
                region,
                repo,
                result,
            } => self.dashboard.images(&region, &repo, result),
            Msg::Details { region, batch } => self.dashboard.details(&region, batch),
            Msg::DetailsFailed(e) => self.dashboard.details_failed(e),
            Msg::Verified(result) => {
                let ok = result.is_ok();
                if let Some(v) = self.verify.as_mut() {
                    v.finished(result);
                }
                // The dashboard shows the repository the pull created.
                if ok && self.screen == Screen::Dashboard {
                    return self.dashboard.refresh().into_iter().collect();
                }
            }
            Msg::WarmProgress(done, total) => {
                if let Some(w) = self.warm.as_mut() {
                    w.progressed(done, total);
                }
            }
            Msg::Warmed(result) => {
                let ok = result.is_ok();
                if let Some(w) = self.warm.as_mut() {
                    w.finished(result);
                }
                // The dashboard shows the repositories the pulls created.
                if ok && self.screen == Screen::Dashboard {
                    return self.dashboard.refresh().into_iter().collect();
                }
            }
            Msg::TeardownPlanned(result) => {
                if let Some(t) = self.teardown.as_mut() {
                    t.planned(result);
                }
            }
            Msg::TornDown(result) => {
                if let Some(t) = self.teardown.as_mut() {
                    t.running = false;
                    t.finished = Some(result);
                }
            }
            Msg::Diagnosed(report) => {
                if let Some(d) = self.diagnostics.as_ref() {
                    if let Some(check) = diagnosed_validation(&report) {
                        let key = (d.region.clone(), d.prefix.clone());
                        self.dashboard
                            .checked(key, check, CheckedBy::Diagnose, self.now);
                    }
                }
                if let Some(d) = self.diagnostics.as_mut() {
                    d.diagnosed(report);
                }
            }
            Msg::BundleWritten(r) => {
                if let Some(d) = self.diagnostics.as_mut() {
                    d.writing = false;
                    d.bundle = Some(r);
                }
            }
        }
        vec![]
    }

    fn profiles_loaded(&mut self, list: Vec<ProfileEntry>) -> Vec<Effect> {
        self.session.sandbox_only = super::profiles::only_sandbox(&list);
        self.profile.loaded(list, self.prefs.profile.as_deref());
        // Remembered profile and region: reconnect and show the dashboard first.
        let remembered = self
            .profile
            .selected()
            .filter(|p| Some(p.title()) == self.prefs.profile);
        if let (Some(p), Some(region)) = (remembered, self.prefs.region.clone()) {
            self.resume = true;
            self.profile.connecting = true;
            self.session.profile = Some(p.clone());
            self.session.region = Some(region.clone());
            return vec![Effect::Connect {
                profile: p,
                region: Some(region),
            }];
        }
        vec![]
    }

    fn connected(&mut self, result: Result<crate::core::model::Identity, String>) -> Vec<Effect> {
        match result {
            Ok(id) => {
                self.session.identity = Some(id);
                self.profile.connected(None);
                if self.resume {
                    let region = self.session.region.clone().unwrap_or_default();
                    let mut fx = vec![Effect::UseRegion(region)];
                    fx.extend(self.open_dashboard());
                    return fx;
                }
                let want = self
                    .session
                    .region
                    .clone()
                    .or_else(|| self.prefs.region.clone())
                    .or_else(|| self.session.profile.as_ref().and_then(|p| p.region.clone()));
                self.region.select(want);
                self.screen = Screen::Region;
            }
            Err(e) => {
                self.resume = false;
                self.profile.connected(Some(e));
            }
        }
        vec![]
    }

    // --- keys -----------------------------------------------------------------------

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
        if self.too_small() {
            // "Terminal too small" covers the screen: only quitting acts.
            return if ctrl_c {
                self.on_cmd(Cmd::ForceQuit)
            } else {
                vec![]
            };
        }
        // A pending question takes the next key.
        let yes = matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        // Taking over what someone else made is an explicit, confirmed choice.
        if self.plan.confirm_adopt {
            self.plan.confirm_adopt = false;
            if !yes {
                return vec![];
            }
            self.plan = PlanScreen::computing_adopted();
            return if self.planning_upstream {
                self.start_upstream_plan()
            } else {
                self.start_plan()
            };
        }
        // A second ctrl-c answers the question with "yes, and quit".
        if self.quit_confirm {
            self.quit_confirm = false;
            return if yes || ctrl_c {
                vec![Effect::Quit]
            } else {
                vec![]
            };
        }
        if self.apply.confirm_cancel {
            self.apply.confirm_cancel = false;
            if !(yes || ctrl_c) {
                return vec![];
            }
            self.apply.cancelled = true;
            self.apply.progress.cancel();
            return if ctrl_c {
                vec![Effect::CancelApply, Effect::Quit]
            } else {
                vec![Effect::CancelApply]
            };
        }
        if self.help {
            self.help = false;
            return vec![];
        }
        if let (Some(v), false) = (self.verify.as_mut(), ctrl_c) {
            return match v.on_key(&k) {
                verify::Outcome::Stay => vec![],
                verify::Outcome::Close => {
                    self.verify = None;
                    vec![]
                }
                verify::Outcome::Run(image) => vec![Effect::Verify {
                    region: v.region.clone(),
                    prefix: v.prefix.clone(),
                    image,
                }],
            };
        }
        if let (Some(w), false) = (self.warm.as_mut(), ctrl_c) {
            return match w.on_key(&k) {
                warm::Outcome::Stay => vec![],
                warm::Outcome::Help => {
                    self.help = true;
                    vec![]
                }
                warm::Outcome::Close => {
                    self.warm = None;
                    vec![]
                }
                warm::Outcome::Run(files) => vec![Effect::Warm {
                    region: w.region.clone(),
                    files,
                }],
            };
        }
        // Typing a dashboard filter: esc clears it, enter keeps it, the rest edits it.
        if self.screen == Screen::Dashboard && self.dashboard.filtering && !ctrl_c {
            match k.code {
                KeyCode::Esc => {
                    self.dashboard.filter = tui_input::Input::default();
                    self.dashboard.filtering = false;
                }
                KeyCode::Enter => self.dashboard.filtering = false,
                _ => {
                    self.dashboard
                        .filter
                        .handle_event(&crossterm::event::Event::Key(k));
                }
            }
            return self.dashboard.filter_changed().into_iter().collect();
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
        // Control keys that are no command edit the field (ctrl-a/e: start/end, ctrl-u: the
        // line, ctrl-w: the word before the cursor); any other is ignored.
        if k.modifiers.contains(KeyModifiers::CONTROL)
            && !matches!(
                k.code,
                KeyCode::Char('a' | 'e' | 'u' | 'w' | 'b' | 'f' | 'h')
            )
        {
            return;
        }
        let ev = crossterm::event::Event::Key(k);
        let field = match self.screen {
            Screen::Profile => {
                self.profile.typed();
                Some(&mut self.profile.filter)
            }
            Screen::Region => {
                self.region.typed();
                Some(&mut self.region.filter)
            }
            Screen::Echo => Some(self.echo.focused()),
            Screen::Options => Some(self.options.focused()),
            Screen::Upstream if self.upstream.on_key(&k) => None,
            Screen::Upstream => self.upstream.focused(),
            Screen::Teardown => self
                .teardown
                .as_mut()
                .filter(|t| t.typing())
                .map(|t| &mut t.confirm),
            Screen::Fleet => self.fleet.focused(),
            _ => None,
        };
        if let Some(f) = field {
            f.handle_event(&ev);
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Help => {
                self.help = true;
                return vec![];
            }
            Cmd::ForceQuit if self.screen == Screen::Apply && self.apply.running() => {
                self.apply.confirm_cancel = true;
                return vec![];
            }
            Cmd::ForceQuit if self.changing() => {
                self.quit_confirm = true;
                return vec![];
            }
            Cmd::ForceQuit => return vec![Effect::Quit],
            _ => {}
        }
        let out = match self.screen {
            // The first step has no step before it: back to the dashboard when the wizard
            // was opened from there, else ask before quitting.
            Screen::Profile if matches!(cmd, Cmd::Quit | Cmd::Back) => {
                if self.dashboard.account.is_some() {
                    Out::go(Screen::Dashboard)
                } else {
                    self.quit_confirm = true;
                    Out::none()
                }
            }
            Screen::Profile => self.profile.on_cmd(cmd, &mut self.session),
            Screen::Region => self.region.on_cmd(cmd, &mut self.session),
            Screen::Echo => self.echo.on_cmd(cmd),
            Screen::Options => self.options.on_cmd(cmd),
            Screen::Method => self.method.on_cmd(cmd),
            Screen::Plan if cmd == Cmd::Select => return self.apply_plan(),
            Screen::Plan if cmd == Cmd::Adopt && self.plan.adoptable() => {
                self.plan.confirm_adopt = true;
                Out::none()
            }
            Screen::Plan => self.plan.on_cmd(cmd),
            Screen::Apply => self.apply.on_cmd(cmd),
            Screen::Done => match cmd {
                Cmd::Verify => {
                    let prefix = self.planned_prefix().unwrap_or_default();
                    let region = self.session.region.clone().unwrap_or_default();
                    let upstream = self.planned_upstream();
                    self.verify = Some(VerifyPopup::new(&region, &prefix, upstream));
                    Out::none()
                }
                Cmd::Dashboard => {
                    self.dashboard.focus = self
                        .planned_prefix()
                        .zip(self.session.region.clone())
                        .map(|(p, r)| (r, p));
                    Out::go(Screen::Dashboard)
                }
                Cmd::Quit => Out::effect(Effect::Quit),
                _ => self.done.on_cmd(cmd),
            },
            Screen::Dashboard => self.on_dashboard(cmd),
            Screen::Teardown => match self.teardown.as_mut() {
                Some(t) => t.on_cmd(cmd),
                None => Out::none(),
            },
            Screen::Diagnostics => match self.diagnostics.as_mut() {
                Some(d) => d.on_cmd(cmd),
                None => Out::none(),
            },
            Screen::Upstream => self.upstream.on_cmd(cmd),
            Screen::Fleet => self.fleet.on_cmd(cmd),
        };
        let mut effects = out.effects;
        if let Some(to) = out.go {
            effects.extend(self.go(to));
        }
        effects
    }

    /// Moves to `to`, doing what entering it takes.
    fn go(&mut self, to: Screen) -> Vec<Effect> {
        let from = self.screen;
        // Leaving a stack plan without applying it: its change set is not executed, so remove it.
        let discard: Vec<Effect> = match (from, to) {
            (Screen::Plan, to) if to != Screen::Apply => self
                .plan
                .ready()
                .filter(|p| p.stack.as_ref().is_some_and(|s| s.change_set.is_some()))
                .map(|p| Effect::Discard(Shared(p.clone())))
                .into_iter()
                .collect(),
            _ => vec![],
        };
        if !discard.is_empty() {
            let mut effects = discard;
            effects.extend(self.go_to(to));
            return effects;
        }
        self.go_to(to)
    }

    fn go_to(&mut self, to: Screen) -> Vec<Effect> {
        let from = self.screen;
        match (from, to) {
            (Screen::Method, Screen::Plan) => return self.start_plan(),
            (Screen::Upstream, Screen::Plan) => return self.start_upstream_plan(),
            // Back from a plan of another upstream goes to its form, not the wizard.
            (Screen::Plan, Screen::Method) if self.planning_upstream => {
                self.screen = Screen::Upstream;
                return vec![];
            }
            (Screen::Teardown, Screen::Dashboard) => {
                let ended = self.teardown.take().is_some_and(|t| t.finished.is_some());
                self.screen = Screen::Dashboard;
                // After a teardown the dashboard reads the account again.
                if ended {
                    return self.dashboard.refresh().into_iter().collect();
                }
                return vec![];
            }
            (Screen::Diagnostics, Screen::Dashboard) => {
                self.diagnostics = None;
            }
            (from, Screen::Fleet) if from != Screen::Fleet => {
                self.open_fleet(from);
                return vec![];
            }
            (_, Screen::Dashboard) => return self.open_dashboard(),
            _ => {}
        }
        self.screen = to;
        vec![]
    }

    /// The fleet form, set up from the wizard's choices; targets typed before are kept.
    fn open_fleet(&mut self, from: Screen) {
        let region = self.session.region.clone().unwrap_or_default();
        let mut f = FleetScreen::new(
            from,
            &region,
            self.session.is_sandbox(),
            self.setup_input(),
            self.options.repository_policy_path(),
        );
        let before = &self.fleet;
        if !before.targets.value().is_empty() && !before.running() {
            f.targets = before.targets.clone();
            f.regions = before.regions.clone();
            f.stack_set = before.stack_set.clone();
        }
        self.fleet = f;
        self.screen = Screen::Fleet;
    }

    fn open_dashboard(&mut self) -> Vec<Effect> {
        self.screen = Screen::Dashboard;
        self.dashboard.refresh().into_iter().collect()
    }

    /// The prefix of the setup being planned or applied (the wizard's or the upstream form's).
    /// The upstream of the setup being planned or applied (Echo's unless "add another
    /// upstream" made the plan).
    fn planned_upstream(&self) -> crate::core::upstream::UpstreamKind {
        match &self.plan.result {
            Some(Ok(p)) => p.setup.upstream.kind,
            _ => Default::default(),
        }
    }

    fn planned_prefix(&self) -> Option<String> {
        if self.planning_upstream {
            crate::core::validate::RepoPrefix::parse("prefix", self.upstream.prefix.value())
                .ok()
                .map(|p| p.to_string())
        } else {
            self.options.valid_prefix()
        }
    }

    fn start_upstream_plan(&mut self) -> Vec<Effect> {
        self.screen = Screen::Plan;
        self.planning_upstream = true;
        self.plan = if self.plan.adopt && self.plan.planning {
            PlanScreen::computing_adopted()
        } else {
            PlanScreen::computing()
        };
        let region = self.session.region.clone().unwrap_or_default();
        vec![Effect::Plan {
            input: Box::new(self.upstream.setup_input(&region)),
            method: crate::engine::planning::Method::Api,
            stack_name: self.stack_name.clone(),
            repository_policy: None,
            adopt: self.plan.adopt,
        }]
    }

    fn start_plan(&mut self) -> Vec<Effect> {
        self.planning_upstream = false;
        self.screen = Screen::Plan;
        self.plan = if self.plan.adopt && self.plan.planning {
            PlanScreen::computing_adopted()
        } else {
            PlanScreen::computing()
        };
        vec![
            self.remember(),
            Effect::Plan {
                input: Box::new(self.setup_input()),
                method: self.method.choice,
                stack_name: self.stack_name.clone(),
                repository_policy: self.options.repository_policy_path(),
                adopt: self.plan.adopt,
            },
        ]
    }

    /// Enter on the plan: apply it, or show the usage when there is nothing to change.
    fn apply_plan(&mut self) -> Vec<Effect> {
        let Some(p) = self.plan.ready().cloned() else {
            return vec![];
        };
        if !p.plan.has_changes() {
            self.done.usage = usage_instructions(
                &p.desired.account,
                &p.desired.region,
                &p.desired.rule.prefix,
            );
            self.done.upstream = p.setup.upstream.kind;
            self.screen = Screen::Done;
            return vec![];
        }
        let planned = Shared(p);
        self.apply = ApplyScreen::start(planned.clone(), self.now);
        self.screen = Screen::Apply;
        vec![Effect::Apply(planned)]
    }

    fn on_dashboard(&mut self, cmd: Cmd) -> Out {
        let selected = self.dashboard.selected().cloned();
        match (cmd, selected) {
            (Cmd::NewSetup, _) => {
                let mut out = Out::go(Screen::Echo);
                if let Some(r) = &self.session.region {
                    out.effects.push(Effect::UseRegion(r.clone()));
                }
                out
            }
            (Cmd::Fleet, _) => Out::go(Screen::Fleet),
            (Cmd::AddUpstream, _) => {
                self.upstream = UpstreamStep::default();
                Out::go(Screen::Upstream)
            }
            (Cmd::Teardown, Some((region, rule))) => {
                let repos = self
                    .dashboard
                    .account
                    .as_ref()
                    .and_then(|a| a.observed(&region))
                    .map_or(0, |o| {
                        o.repositories
                            .iter()
                            .filter(|r| r.rule_prefix == rule.prefix)
                            .count()
                    });
                let t = TeardownScreen::new(&region, rule, repos);
                let plan = t.plan();
                self.teardown = Some(t);
                Out::go(Screen::Teardown).and(plan)
            }
            (Cmd::Verify, Some((region, rule))) => {
                let upstream =
                    crate::core::upstream::UpstreamKind::from_api(&rule.upstream_registry)
                        .unwrap_or_default();
                self.verify = Some(VerifyPopup::new(&region, &rule.prefix, upstream));
                Out::none()
            }
            (Cmd::Diagnose, Some((region, rule))) => {
                let d = DiagScreen::new(&region, &rule.prefix);
                let run = d.run();
                self.diagnostics = Some(d);
                Out::go(Screen::Diagnostics).and(run)
            }
            (Cmd::Warm, selected) => {
                let region = selected
                    .map(|(r, _)| r)
                    .or_else(|| self.session.region.clone())
                    .unwrap_or_default();
                self.warm = Some(WarmScreen::new(&region, self.session.is_sandbox()));
                Out::none()
            }
            (Cmd::Copy, Some((region, rule))) => {
                // The role ARN is what users paste (into Echo's allow-list, a policy); a rule
                // with no role copies its pull address instead.
                let (what, text) = match &rule.role_arn {
                    Some(arn) => ("role ARN", arn.clone()),
                    None => (
                        "pull address",
                        format!(
                            "{}.dkr.ecr.{region}.amazonaws.com/{}/",
                            self.session
                                .identity
                                .as_ref()
                                .map_or("", |i| i.account.as_str()),
                            rule.prefix
                        ),
                    ),
                };
                self.dashboard.copied = Some(format!("{what} {text}"));
                Out::effect(Effect::Copy(text))
            }
            (Cmd::Teardown | Cmd::Verify | Cmd::Diagnose | Cmd::Copy, None) => Out::none(),
            _ => self.dashboard.on_cmd(cmd),
        }
    }
}

/// What the diagnostics' ECR validation check found, as the dashboard shows it.
fn diagnosed_validation(report: &crate::engine::diagnose::Report) -> Option<RuleCheck> {
    use crate::core::checks::Status;
    let c = report.checks.iter().find(|c| c.id == "validate")?;
    Some(match c.status {
        Status::Pass => RuleCheck::Valid,
        Status::Fail => RuleCheck::Invalid(super::words::said(&c.reason)),
        Status::Warn => RuleCheck::Unknown(super::words::said(&c.reason)),
    })
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
