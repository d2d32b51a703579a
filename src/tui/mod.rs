//! The interactive wizard and dashboard. The loop waits for one event (key, mouse, message
//! from a background task, tick or signal), drains the rest, updates the state and draws once.
//! All AWS work runs in spawned tasks that report back as messages: the UI never waits on the
//! network. The terminal is restored on normal exit, error, panic, SIGTERM and SIGHUP.

pub mod app;
pub mod keys;
pub mod prefs;
pub mod profiles;
pub mod theme;
pub mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseEventKind,
};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use app::{App, Effect, Msg};
use profiles::{ProfileEntry, ProfileKind};

use crate::aws::sdk::{ConnectOptions, SdkAws};
use crate::aws::Aws;
use crate::core::plan::plan_teardown;
use crate::engine::apply::{self, ApplyOptions};
use crate::engine::diagnose::{diagnose, DiagnoseInput, Report};
use crate::engine::events::with_events;
use crate::engine::observe::{observe, Scope};
use crate::engine::planning::{plan_setup, Planned};
use crate::engine::{stack, teardown};
use crate::sandbox::SandboxAws;

#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    pub sandbox: bool,
    pub endpoint_url: Option<String>,
}

fn restore_terminal() {
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
}

pub async fn run(opts: TuiOptions) -> std::io::Result<()> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    let mut terminal = ratatui::init();
    crossterm::execute!(std::io::stdout(), EnableMouseCapture)?;
    let result = event_loop(&mut terminal, opts).await;
    restore_terminal();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    opts: TuiOptions,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let theme = theme::Theme::from_env();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let mut runner = Runner::new(tx, opts);
    let mut app = App::new(prefs::load(), Utc::now());
    for e in app.start() {
        runner.run(e);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        terminal.draw(|f| view::render(&app, theme, f))?;
        let first = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => Some(Msg::Key(k)),
                Some(Ok(TermEvent::Mouse(m))) => match m.kind {
                    MouseEventKind::ScrollUp => Some(Msg::Scroll(-1)),
                    MouseEventKind::ScrollDown => Some(Msg::Scroll(1)),
                    _ => None,
                },
                Some(Ok(_)) => None, // resize and the rest: redraw
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(m) = rx.recv() => Some(m),
            _ = tick.tick() => Some(Msg::Tick(Utc::now())),
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
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

type Shared<T> = Arc<Mutex<Option<T>>>;

/// Performs effects in background tasks; results come back as messages.
struct Runner {
    tx: UnboundedSender<Msg>,
    opts: TuiOptions,
    profile: Shared<ProfileEntry>,
    aws: Shared<Arc<dyn Aws>>,
    sandbox: Arc<SandboxAws>,
    planned: Shared<Arc<Planned>>,
    apply_task: Option<tokio::task::JoinHandle<()>>,
    /// The region chosen in the wizard.
    region: Option<String>,
    /// The last diagnostics report (region, prefix, report), for the bundle.
    report: Shared<(String, String, Report)>,
}

impl Runner {
    fn new(tx: UnboundedSender<Msg>, opts: TuiOptions) -> Self {
        Runner {
            tx,
            opts,
            profile: Arc::new(Mutex::new(None)),
            aws: Arc::new(Mutex::new(None)),
            sandbox: Arc::new(SandboxAws::demo(
                crate::cli::commands::SANDBOX_REGION,
                Duration::from_millis(150),
            )),
            planned: Arc::new(Mutex::new(None)),
            apply_task: None,
            region: None,
            report: Arc::new(Mutex::new(None)),
        }
    }

    fn client(&self) -> Option<Arc<dyn Aws>> {
        self.aws.lock().unwrap().clone()
    }

    /// A client for the chosen profile in `region` (the sandbox keeps one account for the session).
    async fn connect(
        profile: &ProfileEntry,
        region: Option<String>,
        endpoint: Option<String>,
        sandbox: Arc<SandboxAws>,
    ) -> Arc<dyn Aws> {
        if profile.kind == ProfileKind::Sandbox {
            if let Some(r) = &region {
                sandbox.set_region(r);
            }
            return sandbox;
        }
        let (aws, _) = SdkAws::connect(&ConnectOptions {
            profile: profile.name.clone(),
            region,
            endpoint_url: endpoint,
        })
        .await;
        Arc::new(aws)
    }

    fn send(tx: &UnboundedSender<Msg>, m: Msg) {
        let _ = tx.send(m);
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
                *self.profile.lock().unwrap() = Some(profile.clone());
                let (slot, endpoint, sandbox) = (
                    self.aws.clone(),
                    self.opts.endpoint_url.clone(),
                    self.sandbox.clone(),
                );
                tokio::spawn(async move {
                    let aws = Self::connect(
                        &profile,
                        region.or_else(|| Some("us-east-1".into())),
                        endpoint,
                        sandbox,
                    )
                    .await;
                    *slot.lock().unwrap() = Some(aws.clone());
                    let id = aws.caller_identity().await.map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Connected(id));
                });
            }
            Effect::UseRegion(region) => {
                self.region = Some(region.clone());
                let Some(profile) = self.profile.lock().unwrap().clone() else {
                    return;
                };
                let (slot, endpoint, sandbox) = (
                    self.aws.clone(),
                    self.opts.endpoint_url.clone(),
                    self.sandbox.clone(),
                );
                tokio::spawn(async move {
                    let aws = Self::connect(&profile, Some(region), endpoint, sandbox).await;
                    *slot.lock().unwrap() = Some(aws.clone());
                    let rules = aws.list_cache_rules().await.map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Rules(rules));
                });
            }
            Effect::Plan {
                input,
                method,
                stack_name,
            } => {
                let (aws, slot) = (self.client(), self.planned.clone());
                tokio::spawn(async move {
                    let result = match (input.validate(), aws) {
                        (Err(errors), _) => Err(errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")),
                        (_, None) => Err("not connected to AWS".to_string()),
                        (Ok(setup), Some(aws)) => {
                            plan_setup(aws.as_ref(), setup, method, &stack_name, false)
                                .await
                                .map(Arc::new)
                                .map_err(|e| e.to_string())
                        }
                    };
                    if let Ok(p) = &result {
                        *slot.lock().unwrap() = Some(p.clone());
                    }
                    Self::send(&tx, Msg::Planned(result));
                });
            }
            Effect::Apply => {
                let (Some(aws), Some(p)) = (self.client(), self.planned.lock().unwrap().clone())
                else {
                    return;
                };
                self.apply_task = Some(tokio::spawn(async move {
                    let (p, aws) = (&p, aws.as_ref());
                    let result = with_events(to_ui(&tx), |etx| async move {
                        let opts = ApplyOptions::default();
                        match &p.stack {
                            Some(sp) => stack::apply(aws, sp, &p.desired, &opts, &etx)
                                .await
                                .map(|o| o.usage)
                                .map_err(|f| {
                                    vec![f.message, format!("Next step: {}", f.next_step)]
                                }),
                            None => {
                                apply::apply(aws, &p.desired, &p.observed, &p.plan, &opts, &etx)
                                    .await
                                    .map(|o| o.usage)
                                    .map_err(|f| {
                                        let mut lines = vec![f.error.to_string()];
                                        lines.push(if f.remaining.is_empty() {
                                            "Rolled back: the account is as it was before.".into()
                                        } else {
                                            format!("Still present: {}", f.remaining.join(", "))
                                        });
                                        lines
                                    })
                            }
                        }
                    })
                    .await;
                    Self::send(&tx, Msg::Applied(result));
                }));
            }
            Effect::CancelApply => {
                if let Some(task) = self.apply_task.take() {
                    task.abort();
                }
                Self::send(&tx, Msg::Applied(Err(vec!["Cancelled. AWS keeps what was done so far (see the progress above); run the plan again to see the state.".into()])));
            }
            Effect::LoadDashboard => {
                let Some(aws) = self.client() else { return };
                let region = self.region.clone().unwrap_or_default();
                tokio::spawn(async move {
                    let o = observe(
                        aws.as_ref(),
                        &region,
                        &Scope {
                            role_name: None,
                            usage: true,
                            prefix: None,
                        },
                    )
                    .await
                    .map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Dashboard(o.map(Box::new)));
                });
            }
            Effect::Validate(prefixes) => {
                let Some(aws) = self.client() else { return };
                tokio::spawn(async move {
                    let results = futures::future::join_all(
                        prefixes.iter().map(|p| aws.validate_cache_rule(p)),
                    )
                    .await;
                    let map: BTreeMap<String, String> = prefixes
                        .into_iter()
                        .zip(results)
                        .map(|(p, r)| {
                            let v = match r {
                                Ok(v) if v.is_valid => "valid".to_string(),
                                Ok(_) => "invalid".to_string(),
                                Err(_) => "unknown".to_string(),
                            };
                            (p, v)
                        })
                        .collect();
                    Self::send(&tx, Msg::Validations(map));
                });
            }
            Effect::LoadImages(repo) => {
                let Some(aws) = self.client() else { return };
                tokio::spawn(async move {
                    let r = aws.list_images(&repo).await.map_err(|e| e.to_string());
                    Self::send(&tx, Msg::Images(repo, r));
                });
            }
            Effect::Teardown {
                prefix,
                role,
                stack,
                delete_repos,
            } => {
                let Some(aws) = self.client() else { return };
                let region = self.region.clone().unwrap_or_default();
                tokio::spawn(async move {
                    let result = run_teardown(
                        aws.as_ref(),
                        &region,
                        &prefix,
                        role,
                        stack,
                        delete_repos,
                        &tx,
                    )
                    .await;
                    Self::send(&tx, Msg::TornDown(result));
                });
            }
            Effect::Diagnose(prefix) => {
                let Some(aws) = self.client() else { return };
                let region = self.region.clone().unwrap_or_default();
                let slot = self.report.clone();
                tokio::spawn(async move {
                    let input = DiagnoseInput {
                        prefix,
                        stack_name: Some(crate::cfn::DEFAULT_STACK_NAME.into()),
                        ..Default::default()
                    };
                    let report = diagnose(aws.as_ref(), &region, &input).await;
                    let checks = report.checks.clone();
                    *slot.lock().unwrap() = Some((region, input.prefix.clone(), report));
                    Self::send(&tx, Msg::Diagnosed(checks));
                });
            }
            Effect::WriteBundle => {
                let Some((region, prefix, report)) = self.report.lock().unwrap().take() else {
                    return;
                };
                let (profile, endpoint) = (
                    self.profile.lock().unwrap().clone(),
                    self.opts.endpoint_url.clone(),
                );
                let slot = self.report.clone();
                tokio::task::spawn_blocking(move || {
                    let settings = serde_json::json!({
                        "profile": profile.as_ref().map(|p| p.title()), "region": region, "endpoint_url": endpoint,
                        "sandbox": profile.as_ref().is_some_and(|p| p.kind == ProfileKind::Sandbox), "prefix": prefix,
                    });
                    let bundle = crate::cli::bundle::build(
                        &report,
                        settings,
                        crate::cli::bundle::log_tail(),
                    );
                    let dir = crate::logging::log_dir().unwrap_or_else(std::env::temp_dir);
                    let path = dir.join(format!(
                        "echo-onboard-bundle-{}.json",
                        Utc::now().format("%Y%m%dT%H%M%SZ")
                    ));
                    let result = std::fs::create_dir_all(&dir)
                        .and_then(|_| crate::cli::bundle::write(&path, &bundle))
                        .map(|_| path.display().to_string())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()));
                    *slot.lock().unwrap() = Some((region, prefix, report));
                    Self::send(&tx, Msg::BundleWritten(result));
                });
            }
            Effect::SavePrefs(p) => {
                tokio::task::spawn_blocking(move || prefs::save(&p));
            }
        }
    }
}

async fn run_teardown(
    aws: &dyn Aws,
    region: &str,
    prefix: &str,
    role: Option<String>,
    stack_name: Option<String>,
    delete_repos: bool,
    tx: &UnboundedSender<Msg>,
) -> Result<Vec<String>, Vec<String>> {
    let scope = Scope {
        role_name: role.clone(),
        usage: delete_repos,
        prefix: Some(prefix.to_string()),
    };
    let scope = &scope;
    with_events(to_ui(tx), |etx| async move {
        let observed = observe(aws, region, scope)
            .await
            .map_err(|e| vec![e.to_string()])?;
        if let Some(name) = stack_name {
            let Some(info) = aws
                .describe_stack(&name)
                .await
                .map_err(|e| vec![e.to_string()])?
            else {
                return Err(vec![format!("stack {name} not found")]);
            };
            let plan = plan_teardown(&observed, prefix, None, delete_repos);
            return stack::delete_with_repositories(
                aws,
                &info,
                &plan,
                &ApplyOptions::default(),
                &etx,
            )
            .await
            .map_err(|f| vec![f.message, format!("Next step: {}", f.next_step)]);
        }
        let role = observed
            .rule(prefix)
            .and_then(|r| r.role_arn.clone())
            .and_then(|arn| observed.role_by_arn(&arn).cloned())
            .or(observed.role.clone());
        let plan = plan_teardown(&observed, prefix, role.as_ref(), delete_repos);
        let out = teardown::teardown(aws, &plan, role.as_ref(), &etx)
            .await
            .map_err(|f| {
                vec![
                    f.error.to_string(),
                    format!(
                        "Deleted: {}; still present: {}",
                        f.deleted.join(", "),
                        f.remaining.join(", ")
                    ),
                ]
            })?;
        Ok(out.deleted)
    })
    .await
}

/// An event sink that forwards engine progress to the UI as messages.
fn to_ui(tx: &UnboundedSender<Msg>) -> impl FnMut(crate::engine::Event) + Send + 'static {
    let tx = tx.clone();
    move |e| {
        let _ = tx.send(Msg::Engine(e));
    }
}
