//! The interactive wizard and dashboard. The loop waits for one event (key, mouse, message
//! from a background task, tick or signal), drains the rest, updates the state and draws once.
//! All AWS work runs in spawned tasks that report back as messages: the UI never waits on the
//! network. The terminal is restored on normal exit, error, panic, SIGTERM and SIGHUP.

pub mod app;
pub mod keys;
pub mod msg;
pub mod prefs;
pub mod screens;
pub mod theme;
pub mod verify;
pub mod view;
pub mod warm;
pub mod widgets;
pub mod words;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseEventKind,
};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use app::App;
use msg::{Effect, Msg, Shared};
use screens::dashboard::{AccountRead, RegionRead, RuleCheck};

use crate::aws::profiles::{self, ProfileEntry, ProfileKind};
use crate::aws::sdk::{ConnectOptions, SdkAws};
use crate::aws::Aws;
use crate::engine::apply::ApplyOptions;
use crate::engine::events::with_events;
use crate::engine::fleet;
use crate::engine::ops;
use crate::sandbox::{SandboxAws, SANDBOX_REGION};

#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    pub sandbox: bool,
    pub endpoint_url: Option<String>,
    /// The user's config.toml: fills what the last choices do not.
    pub config: crate::config::Config,
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        crossterm::event::DisableBracketedPaste
    );
    ratatui::restore();
}

pub async fn run(opts: TuiOptions) -> std::io::Result<()> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    let mut terminal = ratatui::init();
    crossterm::execute!(
        std::io::stdout(),
        EnableMouseCapture,
        crossterm::event::EnableBracketedPaste
    )?;
    let result = event_loop(&mut terminal, opts).await;
    restore_terminal();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    opts: TuiOptions,
) -> std::io::Result<()> {
    let theme = theme::Theme::from_env();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let (client_tx, mut client_rx) = tokio::sync::mpsc::unbounded_channel::<Arc<dyn Aws>>();
    let prefs = prefs::load().or_config(&opts.config);
    let mut runner = Runner::new(tx, client_tx, opts);
    let mut app = App::new(prefs, Utc::now());
    if let Ok(size) = terminal.size() {
        app.update(Msg::Resize(size.width, size.height));
    }
    for e in app.start() {
        runner.run(e);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stop = StopSignals::new()?;
    loop {
        terminal.draw(|f| view::render(&app, theme, f))?;
        let first = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => Some(Msg::Key(k)),
                Some(Ok(TermEvent::Mouse(m))) => match m.kind {
                    MouseEventKind::ScrollUp => Some(Msg::Wheel(-1, m.column, m.row)),
                    MouseEventKind::ScrollDown => Some(Msg::Wheel(1, m.column, m.row)),
                    MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                        Some(Msg::Click(m.column, m.row))
                    }
                    _ => None,
                },
                Some(Ok(TermEvent::Resize(w, h))) => Some(Msg::Resize(w, h)),
                Some(Ok(TermEvent::Paste(text))) => Some(Msg::Paste(text)),
                Some(Ok(_)) => None, // the rest: redraw
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(m) = rx.recv() => Some(m),
            Some(client) = client_rx.recv() => {
                runner.client = Some(client);
                None
            }
            _ = tick.tick() => Some(Msg::Tick(Utc::now())),
            _ = stop.recv() => return Ok(()),
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        for m in batch {
            for effect in app.update(m) {
                if effect == Effect::Quit {
                    return Ok(());
                }
                runner.run(effect);
            }
        }
    }
}

/// The signals that end the wizard (the terminal is restored on the way out): SIGTERM and
/// SIGHUP on Unix; on Windows ctrl-break and closing the console window (ctrl-c is a key
/// there too, handled by the app).
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(windows)]
    brk: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
}

impl StopSignals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(windows)]
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            brk: tokio::signal::windows::ctrl_break()?,
            close: tokio::signal::windows::ctrl_close()?,
        })
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }

    #[cfg(windows)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.brk.recv() => {}
            _ = self.close.recv() => {}
        }
    }
}

/// Performs effects in background tasks; results come back as messages. It holds only the
/// connection (a resource, not app state); every effect carries the data it acts on.
struct Runner {
    tx: UnboundedSender<Msg>,
    /// Where a freshly built connection comes back to the runner.
    client_tx: UnboundedSender<Arc<dyn Aws>>,
    opts: TuiOptions,
    profile: Option<ProfileEntry>,
    client: Option<Arc<dyn Aws>>,
    sandbox: Arc<SandboxAws>,
    apply_task: Option<tokio::task::JoinHandle<()>>,
    /// The background read of image details; a new dashboard load replaces it.
    details_task: Option<tokio::task::JoinHandle<()>>,
}

impl Runner {
    fn new(
        tx: UnboundedSender<Msg>,
        client_tx: UnboundedSender<Arc<dyn Aws>>,
        opts: TuiOptions,
    ) -> Self {
        Runner {
            tx,
            client_tx,
            opts,
            profile: None,
            client: None,
            sandbox: Arc::new(SandboxAws::demo(SANDBOX_REGION, Duration::from_millis(150))),
            apply_task: None,
            details_task: None,
        }
    }

    /// A client for the chosen profile in `region` (the sandbox keeps one account for the session).
    async fn connect(
        profile: &ProfileEntry,
        region: String,
        endpoint: Option<String>,
        sandbox: Arc<SandboxAws>,
    ) -> Arc<dyn Aws> {
        if profile.kind == ProfileKind::Sandbox {
            return sandbox.in_region(&region);
        }
        let (aws, _) = SdkAws::connect(&ConnectOptions {
            profile: profile.name.clone(),
            region: Some(region),
            endpoint_url: endpoint,
        })
        .await;
        Arc::new(aws)
    }

    fn send(tx: &UnboundedSender<Msg>, m: Msg) {
        let _ = tx.send(m);
    }

    /// The connection, in `region` (same account and credentials).
    fn client_in(&self, region: &str) -> Option<Arc<dyn Aws>> {
        self.client.as_ref().map(|c| {
            if c.region() == region {
                c.clone()
            } else {
                c.in_region(region)
            }
        })
    }

    fn run(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Quit => {}
            Effect::LoadProfiles => {
                let sandbox_only = self.opts.sandbox;
                tokio::spawn(async move {
                    let list = if sandbox_only {
                        vec![ProfileEntry::sandbox()]
                    } else {
                        profiles::load().await
                    };
                    Self::send(&tx, Msg::Profiles(list));
                });
            }
            Effect::Connect { profile, region } => {
                self.profile = Some(profile.clone());
                let (client_tx, endpoint, sandbox) = (
                    self.client_tx.clone(),
                    self.opts.endpoint_url.clone(),
                    self.sandbox.clone(),
                );
                tokio::spawn(async move {
                    let region = region.unwrap_or_else(|| "us-east-1".into());
                    let aws = Self::connect(&profile, region, endpoint, sandbox).await;
                    let _ = client_tx.send(aws.clone());
                    let id = aws.caller_identity().await.map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Connected(id));
                });
            }
            Effect::UseRegion(region) => {
                // Same account and credentials, another region: no new login.
                let Some(aws) = self.client.as_ref().map(|c| c.in_region(&region)) else {
                    return;
                };
                self.client = Some(aws.clone());
                tokio::spawn(async move {
                    let rules = aws.list_cache_rules().await.map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Rules(rules));
                });
            }
            Effect::Plan {
                mut input,
                method,
                stack_name,
                repository_policy,
                adopt,
            } => {
                let Some(aws) = self.client.clone() else {
                    return Self::send(&tx, Msg::Planned(Err("not connected to AWS".into())));
                };
                tokio::spawn(async move {
                    if let Err(line) = read_policy(&mut input, repository_policy).await {
                        return Self::send(&tx, Msg::Planned(Err(line)));
                    }
                    let req = ops::PlanRequest {
                        input: *input,
                        method,
                        stack_name: Some(stack_name),
                        adopt,
                    };
                    let result = ops::plan(aws.as_ref(), &req)
                        .await
                        .map_err(|f| f.error.line());
                    Self::send(&tx, Msg::Planned(result));
                });
            }
            Effect::Apply(planned) => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                self.apply_task = Some(tokio::spawn(async move {
                    let (p, aws) = (&planned, aws.as_ref());
                    let result = with_events(to_ui(&tx), |etx| async move {
                        ops::apply(aws, p, &ApplyOptions::default(), &etx).await
                    })
                    .await;
                    if let Some(v) = result.as_ref().ok().and_then(|a| a.validation.as_ref()) {
                        let key = (p.desired.region.clone(), p.desired.rule.prefix.clone());
                        Self::send(&tx, Msg::Validated(key, applied_validation(v)));
                    }
                    let result = result.map(|a| a.usage).map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::Applied(result));
                }));
            }
            Effect::Discard(planned) => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                tokio::spawn(async move { ops::discard(aws.as_ref(), &planned).await });
            }
            Effect::CancelApply => {
                if let Some(task) = self.apply_task.take() {
                    task.abort();
                }
                Self::send(&tx, Msg::Applied(Err(vec!["Cancelled. AWS keeps what was done so far (see the progress above); run the plan again to see the state.".into()])));
            }
            Effect::LoadDashboard => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                tokio::spawn(async move {
                    // Every region of the account, read in parallel and shown as it arrives
                    // (rules, then repositories page by page, then their counts); image
                    // details are read afterwards, in the background (LoadDetails).
                    // The session's region does not wait for the list of regions.
                    let here = aws.region();
                    let (parts, mut incoming) = tokio::sync::mpsc::unbounded_channel();
                    let (progress, _) = tokio::sync::mpsc::unbounded_channel();
                    // Each read holds a sender: the parts end when every read has.
                    let reader = aws.clone();
                    let read = move |regions: Vec<String>| {
                        let req = ops::StatusRequest {
                            regions: ops::Regions::List(regions),
                            usage: true,
                            details: false,
                            stream: Some(parts.clone()),
                        };
                        let (aws, progress) = (reader.clone(), progress.clone());
                        async move { ops::status(aws.as_ref(), &req, &progress).await }
                    };
                    let this_region = read.clone()(vec![here.clone()]);
                    let elsewhere = {
                        let aws = aws.clone();
                        let here = here.clone();
                        async move {
                            let mut regions = ops::account_regions(aws.as_ref()).await;
                            regions.retain(|r| *r != here);
                            if regions.is_empty() {
                                return Ok(ops::Status::default());
                            }
                            read(regions).await
                        }
                    };
                    // Every part is forwarded before the whole read is (the same task sends
                    // both), so the dashboard sees the parts first.
                    let forward = async {
                        while let Some(part) = incoming.recv().await {
                            Self::send(&tx, Msg::DashboardPart(Box::new(part)));
                        }
                    };
                    let ((here_read, elsewhere), ()) =
                        futures::join!(async { futures::join!(this_region, elsewhere) }, forward);
                    let mut regions = match here_read {
                        Ok(s) => s.regions,
                        // The one region's failure, shown as the region's.
                        Err(f) => vec![ops::RegionStatus {
                            region: here,
                            observed: Err(f.error),
                        }],
                    };
                    let read = match elsewhere {
                        Ok(s) => {
                            regions.extend(s.regions);
                            regions.sort_by(|a, b| a.region.cmp(&b.region));
                            Ok(Box::new(AccountRead {
                                regions: regions
                                    .into_iter()
                                    .map(|r| RegionRead {
                                        region: r.region,
                                        observed: r.observed.map_err(|e| e.line()),
                                    })
                                    .collect(),
                            }))
                        }
                        Err(f) => Err(f.error.line()),
                    };
                    Self::send(&tx, Msg::Dashboard(read));
                });
            }
            Effect::Validate(rules) => {
                let clients: Vec<_> = rules.iter().map(|(r, _)| self.client_in(r)).collect();
                tokio::spawn(async move {
                    let checks = rules
                        .iter()
                        .zip(clients)
                        .map(|((_, prefix), aws)| async move {
                            let Some(aws) = aws else {
                                return RuleCheck::Unknown("not connected".into());
                            };
                            match aws.validate_cache_rule(prefix).await {
                                Ok(v) if v.is_valid => RuleCheck::Valid,
                                Ok(v) => RuleCheck::Invalid(
                                    v.failure.unwrap_or_else(|| "ECR gave no reason".into()),
                                ),
                                Err(e) => RuleCheck::Unknown(e.to_string()),
                            }
                        });
                    let results = futures::future::join_all(checks).await;
                    Self::send(
                        &tx,
                        Msg::Validations(rules.into_iter().zip(results).collect()),
                    );
                });
            }
            Effect::LoadDetails { region, names } => {
                if let Some(task) = self.details_task.take() {
                    task.abort();
                }
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                self.details_task = Some(tokio::spawn(async move {
                    use futures::StreamExt;
                    // Batched so 5,000 repositories are a few dozen redraws, not 5,000.
                    let mut details =
                        crate::engine::observe::repository_details(aws.as_ref(), names)
                            .ready_chunks(64);
                    while let Some(chunk) = details.next().await {
                        let mut batch = Vec::with_capacity(chunk.len());
                        for (name, d) in chunk {
                            match d {
                                Ok(d) => batch.push((name, d)),
                                Err(e) => {
                                    let region = region.clone();
                                    Self::send(&tx, Msg::Details { region, batch });
                                    Self::send(&tx, Msg::DetailsFailed(e.to_string()));
                                    return;
                                }
                            }
                        }
                        let region = region.clone();
                        Self::send(&tx, Msg::Details { region, batch });
                    }
                }));
            }
            Effect::Verify {
                region,
                prefix,
                image,
            } => {
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                tokio::spawn(async move {
                    let req = ops::VerifyRequest {
                        image,
                        prefix,
                        registry_url: std::env::var("ECHO_REGISTRY_URL")
                            .ok()
                            .filter(|u| !u.is_empty()),
                    };
                    let r = ops::verify(aws.as_ref(), &req)
                        .await
                        .map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::Verified(r));
                });
            }
            Effect::Warm { region, files } => {
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                tokio::spawn(async move {
                    let r = warm_files(aws.as_ref(), &files, &tx).await;
                    Self::send(&tx, Msg::Warmed(r.map(Shared::new)));
                });
            }
            Effect::LoadImages { region, repo } => {
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                tokio::spawn(async move {
                    let result = aws.list_images(&repo).await.map_err(|e| e.to_string());
                    Self::send(
                        &tx,
                        Msg::Images {
                            region,
                            repo,
                            result,
                        },
                    );
                });
            }
            Effect::PlanTeardown {
                region,
                prefix,
                role,
                delete_repos,
            } => {
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                tokio::spawn(async move {
                    let req = ops::TeardownRequest {
                        prefix,
                        role_name: role,
                        stack_name: None,
                        delete_repos,
                        force: false,
                        adopt: false,
                        recovery_days: ops::DEFAULT_RECOVERY_DAYS,
                    };
                    let r = ops::plan_teardown(aws.as_ref(), &req)
                        .await
                        .map(Shared::new)
                        .map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::TeardownPlanned(r));
                });
            }
            Effect::Teardown(planned) => {
                let Some(aws) = self.client_in(&planned.observed.region) else {
                    return;
                };
                tokio::spawn(async move {
                    let (p, aws) = (&planned, aws.as_ref());
                    let result = with_events(to_ui(&tx), |etx| async move {
                        ops::teardown(aws, p, &ApplyOptions::default(), &etx).await
                    })
                    .await;
                    let result = result.map(|d| d.deleted).map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::TornDown(result));
                });
            }
            Effect::Diagnose { region, prefix } => {
                let Some(aws) = self.client_in(&region) else {
                    return;
                };
                tokio::spawn(async move {
                    let req = ops::DiagnoseRequest {
                        prefix,
                        stack_name: Some(crate::cfn::DEFAULT_STACK_NAME.into()),
                        ..Default::default()
                    };
                    let report = ops::diagnose(aws.as_ref(), &req).await;
                    Self::send(&tx, Msg::Diagnosed(Shared::new(report)));
                });
            }
            Effect::WriteBundle {
                report,
                region,
                prefix,
            } => {
                let settings = serde_json::json!({
                    "profile": self.profile.as_ref().map(|p| p.title()),
                    "region": region,
                    "endpoint_url": self.opts.endpoint_url,
                    "sandbox": self.profile.as_ref().is_some_and(|p| p.kind == ProfileKind::Sandbox),
                    "prefix": prefix,
                });
                tokio::task::spawn_blocking(move || {
                    let result = ops::write_bundle(&report, settings, None, &words::TuiWords)
                        .map(|p| p.display().to_string())
                        .map_err(|e| e.line());
                    Self::send(&tx, Msg::BundleWritten(result));
                });
            }
            Effect::FleetPlan {
                mut input,
                repository_policy,
            } => {
                let Some(aws) = self.client.clone() else {
                    return Self::send(
                        &tx,
                        Msg::FleetPlanned(Err(vec!["not connected to AWS".into()])),
                    );
                };
                tokio::spawn(async move {
                    if let Err(line) = read_policy(&mut input.setup, repository_policy).await {
                        return Self::send(&tx, Msg::FleetPlanned(Err(vec![line])));
                    }
                    let r = fleet::plan(aws.as_ref(), &input)
                        .await
                        .map(Shared::new)
                        .map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::FleetPlanned(r));
                });
            }
            Effect::FleetApply(planned) => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                tokio::spawn(async move {
                    let (p, aws) = (&planned, aws.as_ref());
                    let result = with_events(to_ui(&tx), |etx| async move {
                        fleet::apply(aws, p, &ApplyOptions::default(), &etx, FLEET_RETRY).await
                    })
                    .await;
                    let r = result.map(Shared::new).map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::FleetApplied(r));
                });
            }
            Effect::FleetStatus {
                stack_set,
                call_as,
                read_role,
            } => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                tokio::spawn(async move {
                    let r = fleet::status(aws.as_ref(), &stack_set, &call_as, &read_role)
                        .await
                        .map(Shared::new)
                        .map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::FleetStatus(r));
                });
            }
            Effect::FleetTeardown {
                stack_set,
                retain_stacks,
                call_as,
            } => {
                let Some(aws) = self.client.clone() else {
                    return;
                };
                tokio::spawn(async move {
                    let (name, aws, call_as) = (&stack_set, aws.as_ref(), &call_as);
                    let result = with_events(to_ui(&tx), |etx| async move {
                        fleet::teardown(
                            aws,
                            name,
                            call_as,
                            retain_stacks,
                            &ApplyOptions::default(),
                            &etx,
                        )
                        .await
                    })
                    .await;
                    let r = result.map(Shared::new).map_err(|f| failure_lines(&f));
                    Self::send(&tx, Msg::FleetTornDown(r));
                });
            }
            Effect::Copy(text) => copy_to_clipboard(&text),
            Effect::SavePrefs(p) => {
                tokio::task::spawn_blocking(move || prefs::save(&p));
            }
        }
    }
}

/// What the fleet screen offers when instances failed: planning again re-deploys only them.
const FLEET_RETRY: &str =
    "r on the fleet screen (plan again: only the failed instances are re-deployed)";

/// Reads a repository policy file into the setup. The engine checks the policy; only reading
/// the file is the front end's.
async fn read_policy(
    input: &mut crate::core::validate::SetupInput,
    path: Option<String>,
) -> Result<(), String> {
    let Some(path) = path else { return Ok(()) };
    match tokio::fs::read_to_string(&path).await {
        Ok(content) => {
            input.cache.repository_policy = Some((path, content));
            Ok(())
        }
        Err(e) => Err(format!("repository policy file {path} cannot be read ({e}): give the path of a JSON repository policy file")),
    }
}

/// A failure as the screen shows it: the reason, then what is left.
/// What apply's validation found, as the dashboard shows it.
fn applied_validation(v: &crate::engine::apply::ValidationReport) -> RuleCheck {
    use crate::engine::apply::ValidationState;
    let why = || {
        v.failure
            .clone()
            .or_else(|| v.next_step.clone())
            .unwrap_or_default()
    };
    match v.state {
        ValidationState::Valid => RuleCheck::Valid,
        ValidationState::Invalid => RuleCheck::Invalid(why()),
        ValidationState::Unknown => RuleCheck::Unknown(why()),
    }
}

pub fn failure_lines(f: &ops::Failure) -> Vec<String> {
    let mut lines = vec![f.error.line()];
    if let Some(s) = &f.stack_status {
        lines.push(format!("The stack is {s}."));
    }
    if f.remaining.is_empty() {
        if !f.rolled_back.is_empty() {
            lines.push("Rolled back: the account is as it was before.".into());
        }
    } else {
        lines.push(format!("Still present: {}", f.remaining.join(", ")));
    }
    lines
}

/// Reads the files (none: the sandbox's sample workload for the region's rules) and warms
/// them, sending the pulls' progress as they finish.
async fn warm_files(
    aws: &dyn Aws,
    files: &[String],
    tx: &UnboundedSender<Msg>,
) -> Result<crate::engine::workloads::Warmed, Vec<String>> {
    use crate::engine::workloads as wl;
    let sources = if files.is_empty() {
        let rules = aws
            .list_cache_rules()
            .await
            .map_err(|e| vec![e.to_string()])?;
        vec![wl::Source {
            name: "sandbox sample workload".into(),
            text: crate::sandbox::sample_workload(&rules),
        }]
    } else {
        let paths: Vec<std::path::PathBuf> = files.iter().map(Into::into).collect();
        wl::read_sources(&paths).map_err(|p| vec![p.line()])?
    };
    let req = wl::WarmRequest {
        sources,
        registry_url: std::env::var("ECHO_REGISTRY_URL")
            .ok()
            .filter(|u| !u.is_empty()),
    };
    let ui = tx.clone();
    let mut done = 0;
    crate::engine::events::with_events(
        move |e| {
            if let crate::engine::Event::StepDone { total, .. }
            | crate::engine::Event::StepFailed { total, .. } = e
            {
                done += 1;
                let _ = ui.send(Msg::WarmProgress(done, total));
            }
        },
        |etx| async move { wl::warm(aws, &req, &etx).await },
    )
    .await
    .map_err(|f| failure_lines(&f))
}

/// An event sink that forwards engine progress to the UI as messages, stamped as they happen
/// (each step's own time is shown).
fn to_ui(tx: &UnboundedSender<Msg>) -> impl FnMut(crate::engine::Event) + Send + 'static {
    let tx = tx.clone();
    move |e| {
        let _ = tx.send(Msg::Engine(e, Utc::now()));
    }
}

/// OSC 52: the terminal puts the text on the system clipboard (also over SSH). Terminals that
/// do not allow it ignore the sequence; the Done screen says so.
fn copy_to_clipboard(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}
