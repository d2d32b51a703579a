//! Every TUI screen drawn on ratatui's TestBackend at 80×24 and 120×40 (and its help overlay)
//! and compared with a snapshot; each drawing is also checked for words cut at an edge in the
//! header, the footer and the plan, and for the footer's quit and help keys. The clock,
//! identity and data are fixed, so nothing volatile reaches the snapshots.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use echo_onboard::aws::profiles::{ProfileEntry, ProfileKind};
use echo_onboard::core::model::{
    desired, CacheRule, Identity, ImageInfo, ManagedBy, Observed, ObservedRole, RepoDetails,
    RepositoryInfo,
};
use echo_onboard::core::plan::{plan, PlanOptions};
use echo_onboard::core::validate::SetupInput;
use echo_onboard::engine::events::Event;
use echo_onboard::engine::planning::Planned;
use echo_onboard::tui::app::{App, Effect, Msg, Screen, Shared};
use echo_onboard::tui::prefs::Prefs;
use echo_onboard::tui::screens::dashboard::{AccountRead, RegionRead, RuleCheck};
use echo_onboard::tui::screens::fleet::Phase;
use echo_onboard::tui::theme::Theme;
use echo_onboard::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(app, Theme { color: false }, f))
        .unwrap();
    t
}

fn key(app: &mut App, c: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn identity() -> Identity {
    Identity {
        account: "210987654321".into(),
        arn: "arn:aws:sts::210987654321:assumed-role/PlatformAdmin/alice".into(),
    }
}

fn rule(prefix: &str, managed_by: ManagedBy) -> CacheRule {
    CacheRule {
        prefix: prefix.into(),
        upstream_registry: "ecr".into(),
        upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
        upstream_prefix: "ROOT".into(),
        role_arn: Some("arn:aws:iam::210987654321:role/echo-pullthrough-cache-role".into()),
        credential_arn: None,
        created_at: Some(now()),
        managed_by,
        owner_proof: String::new(),
    }
}

fn base() -> App {
    let mut a = App::new(Prefs::default(), now());
    a.update(Msg::Profiles(vec![
        ProfileEntry {
            name: Some("dev-sso".into()),
            kind: ProfileKind::Sso,
            region: Some("eu-west-1".into()),
        },
        ProfileEntry {
            name: Some("ci".into()),
            kind: ProfileKind::StaticKeys,
            region: Some("us-east-2".into()),
        },
        ProfileEntry::sandbox(),
    ]));
    a
}

fn at_echo() -> App {
    let mut a = base();
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Connected(Ok(identity())));
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Rules(Ok(vec![rule("echo", ManagedBy::Other)])));
    a
}

fn observed() -> Observed {
    let repos = (0..40)
        .map(|i| RepositoryInfo {
            settings: None,
            // Two were made by hand before the rule: a teardown keeps them.
            created_at: Some(if i < 2 {
                now() - chrono::Duration::days(30)
            } else {
                now() + chrono::Duration::minutes(i as i64)
            }),
            arn: String::new(),
            name: format!("echo/image-{i:02}"),
            rule_prefix: "echo".into(),
            details: Some(RepoDetails {
                image_count: 1 + i % 3,
                size_bytes: 50_000_000 + i as u64 * 1_000_000,
                last_pulled_at: Some(now() - chrono::Duration::minutes(i as i64 * 7)),
                archived_count: 0,
                archived_bytes: 0,
            }),
            pull_count_30d: (0..30u64).map(|d| (d * (i as u64 + 3)) % 17).sum(),
            pulls_by_day: (0..30u64).map(|d| (d * (i as u64 + 3)) % 17).collect(),
        })
        .collect();
    Observed {
        identity: identity(),
        region: "eu-west-1".into(),
        rules: vec![
            rule("docker-hub", ManagedBy::Other),
            rule("echo", ManagedBy::EchoOnboard),
            rule(
                "team/echo",
                ManagedBy::CloudFormation("echo-registry-ecr-cache".into()),
            ),
        ],
        role: None,
        roles: vec![],
        repositories: repos,
        cache: Default::default(),
        secret: None,
    }
}

/// A plan for a fresh account, or (`tampered`) for one whose role lost an action and gained a
/// wildcard: the policy change is shown statement by statement.
fn planned_with(tampered: bool, foreign_rule: bool) -> Arc<Planned> {
    let setup = SetupInput::with_defaults("111122223333", "eu-west-1")
        .validate()
        .unwrap();
    let d = desired(&setup, "210987654321");
    let role = tampered.then(|| {
        let mut policy = serde_json::to_value(&d.echo_role().policy).unwrap();
        policy["Statement"][1]["Action"] = serde_json::json!(["ecr:BatchGetImage", "ecr:*"]);
        ObservedRole {
            name: d.echo_role().name.clone(),
            arn: d.echo_role().arn.clone(),
            trust: serde_json::to_value(&d.echo_role().trust).unwrap(),
            inline_policies: [(d.echo_role().policy_name.clone(), policy)].into(),
            managed_policies: Some(Default::default()),
            tags: d.echo_role().tags.clone(),
        }
    });
    let mut rules = vec![];
    if foreign_rule {
        let mut r = rule("echo", ManagedBy::Other);
        r.role_arn = Some("arn:aws:iam::210987654321:role/hand-made-by-the-platform-team".into());
        rules.push(r);
    }
    let o = Observed {
        identity: identity(),
        region: "eu-west-1".into(),
        rules,
        role: role.clone(),
        roles: role.into_iter().collect(),
        repositories: vec![],
        cache: Default::default(),
        secret: None,
    };
    let p = plan(&d, &o, Some("111122223333"), PlanOptions::default());
    Arc::new(Planned {
        setup,
        desired: d,
        observed: o,
        plan: p,
        stack: None,
    })
}

fn planned() -> Arc<Planned> {
    let setup = SetupInput::with_defaults("111122223333", "eu-west-1")
        .validate()
        .unwrap();
    let d = desired(&setup, "210987654321");
    let o = Observed {
        identity: identity(),
        region: "eu-west-1".into(),
        rules: vec![],
        role: None,
        roles: vec![],
        repositories: vec![],
        cache: Default::default(),
        secret: None,
    };
    let p = plan(&d, &o, Some("111122223333"), PlanOptions::default());
    Arc::new(Planned {
        setup,
        desired: d,
        observed: o,
        plan: p,
        stack: None,
    })
}

/// A fresh account's plan with cache settings: the template and a scanning filter merged into
/// another team's scanning.
fn planned_with_cache() -> Arc<Planned> {
    use echo_onboard::core::cache::{ScanRule, ScanningConfig};
    let mut input = SetupInput::with_defaults("111122223333", "eu-west-1");
    input.cache.immutable_tags = true;
    input.cache.expire_untagged_after = Some("14".into());
    input.cache.scan_on_push = true;
    let setup = input.validate().unwrap();
    let mut d = desired(&setup, "210987654321");
    let mut o = Observed {
        identity: identity(),
        region: "eu-west-1".into(),
        rules: vec![],
        role: None,
        roles: vec![],
        repositories: vec![],
        cache: Default::default(),
        secret: None,
    };
    o.cache.scanning = Some(ScanningConfig {
        scan_type: "BASIC".into(),
        rules: vec![ScanRule {
            frequency: "SCAN_ON_PUSH".into(),
            filters: vec!["team-a/*".into()],
        }],
    });
    echo_onboard::core::cache::settle(&mut d, &setup, &o);
    let p = plan(&d, &o, Some("111122223333"), PlanOptions::default());
    Arc::new(Planned {
        setup,
        desired: d,
        observed: o,
        plan: p,
        stack: None,
    })
}

fn account(o: Observed) -> Box<AccountRead> {
    let mut other = o.clone();
    other.region = "us-east-1".into();
    other.rules = vec![rule("mirror", ManagedBy::Iac("terraform".into()))];
    other.repositories = vec![];
    Box::new(AccountRead {
        regions: vec![
            RegionRead {
                region: "eu-west-1".into(),
                observed: Ok(o),
            },
            RegionRead {
                region: "us-east-1".into(),
                observed: Ok(other),
            },
            RegionRead {
                region: "ap-south-2".into(),
                observed: Err("AccessDenied: not authorized to perform ecr:DescribePullThroughCacheRules [AccessDeniedException]".into()),
            },
        ],
    })
}

fn at(ms: i64) -> DateTime<Utc> {
    now() + chrono::Duration::milliseconds(ms)
}

/// The Plan screen showing `p`.
fn at_plan(p: Arc<Planned>) -> App {
    let mut a = at_echo();
    a.screen = Screen::Plan;
    a.update(Msg::Planned(Ok(p)));
    a
}

fn ctrl(a: &mut App, c: char) -> Vec<Effect> {
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn at_dashboard() -> App {
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(account(observed()))));
    a.update(Msg::Validations(vec![
        (("eu-west-1".into(), "echo".into()), RuleCheck::Valid),
        (
            ("eu-west-1".into(), "team/echo".into()),
            RuleCheck::Invalid(
                "The upstream registry rejected the credentials: the role cannot be assumed by pullthroughcache.ecr.amazonaws.com".into(),
            ),
        ),
    ]));
    key(&mut a, KeyCode::Down);
    a
}

fn teardown_planned(a: &App, delete_repos: bool) -> Msg {
    let prefix = a.teardown.as_ref().unwrap().rule.prefix.clone();
    let o = observed();
    let role = o
        .rule(&prefix)
        .and_then(|r| r.role_arn.as_deref())
        .and_then(|arn| o.role_by_arn(arn))
        .cloned();
    let rule_created = o.rule(&prefix).and_then(|r| r.created_at);
    let fates: Vec<_> = o
        .repositories
        .iter()
        .filter(|r| r.rule_prefix == prefix)
        .map(|r| {
            (
                r.name.clone(),
                echo_onboard::core::ownership::cached_repository(r, rule_created, None),
            )
        })
        .collect();
    let plan = echo_onboard::core::plan::plan_teardown(
        &o,
        &prefix,
        role.as_ref(),
        delete_repos.then_some(fates.as_slice()),
        &Default::default(),
    );
    Msg::TeardownPlanned(Ok(Shared::new(
        echo_onboard::engine::ops::TeardownPlanned {
            prefix: prefix.clone(),
            owner: echo_onboard::engine::ops::Owner::Tool { role },
            observed: o,
            elsewhere: Default::default(),
            delete_repos,
            recovery_days: echo_onboard::engine::ops::DEFAULT_RECOVERY_DAYS,
            plan,
        },
    )))
}

/// Plans and applies Echo's setup with the API method on an empty sandbox account whose
/// first validation finds the new role not assumable yet: the plan, every event the engine
/// emitted, and the usage instructions it returned.
fn api_apply_run() -> (Arc<Planned>, Vec<Event>, Vec<String>) {
    use echo_onboard::engine::apply::ApplyOptions;
    use echo_onboard::engine::events::with_events;
    use echo_onboard::engine::ops;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = echo_onboard::sandbox::SandboxAws::empty("eu-west-1");
    aws.propagate_roles_after(1);
    let req = ops::PlanRequest {
        input: SetupInput::with_defaults("111122223333", "eu-west-1"),
        method: echo_onboard::engine::planning::Method::Api,
        stack_name: None,
        adopt: false,
    };
    let p = rt
        .block_on(ops::plan(&aws, &req))
        .unwrap_or_else(|f| panic!("{:?}", f.error));
    let opts = ApplyOptions {
        validate_attempts: 3,
        validate_delay: std::time::Duration::from_millis(1),
        ..ApplyOptions::default()
    };
    let events = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = events.clone();
    let (p2, opts) = (&p, &opts);
    let usage = rt
        .block_on(with_events(
            move |e| sink.lock().unwrap().push(e),
            |tx| async move { ops::apply(&aws, p2, opts, &tx).await },
        ))
        .unwrap_or_else(|f| panic!("{:?}", f.error))
        .usage;
    let events = std::mem::take(&mut *events.lock().unwrap());
    (p, events, usage)
}

/// Plans Echo's setup on an empty sandbox account whose CreateRole is refused, and runs the
/// apply: the plan, every event the engine emitted, and the failure it returned.
fn api_apply_denied_run() -> (Arc<Planned>, Vec<Event>, echo_onboard::engine::ops::Failure) {
    use echo_onboard::engine::apply::ApplyOptions;
    use echo_onboard::engine::events::with_events;
    use echo_onboard::engine::ops;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = echo_onboard::sandbox::SandboxAws::empty("eu-west-1");
    let req = ops::PlanRequest {
        input: SetupInput::with_defaults("111122223333", "eu-west-1"),
        method: echo_onboard::engine::planning::Method::Api,
        stack_name: None,
        adopt: false,
    };
    let p = rt
        .block_on(ops::plan(&aws, &req))
        .unwrap_or_else(|f| panic!("{:?}", f.error));
    aws.fail_next(
        "CreateRole",
        "AccessDenied",
        "User: arn:aws:sts::210987654321:assumed-role/PlatformAdmin/alice is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::210987654321:role/echo-pullthrough-cache-role because no identity-based policy allows the iam:CreateRole action",
    );
    let events = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = events.clone();
    let opts = ApplyOptions::default();
    let (p2, opts) = (&p, &opts);
    let failure = rt
        .block_on(with_events(
            move |e| sink.lock().unwrap().push(e),
            |tx| async move { ops::apply(&aws, p2, opts, &tx).await },
        ))
        .expect_err("the denied CreateRole fails the apply");
    let events = std::mem::take(&mut *events.lock().unwrap());
    (p, events, *failure)
}

/// Applies Echo's setup with the API method on an empty sandbox account, then plans and runs
/// its teardown: the plan, every event the teardown emitted, and what it deleted.
fn api_teardown_run() -> (
    echo_onboard::engine::ops::TeardownPlanned,
    Vec<Event>,
    Vec<String>,
) {
    use echo_onboard::engine::apply::ApplyOptions;
    use echo_onboard::engine::events::with_events;
    use echo_onboard::engine::ops;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = echo_onboard::sandbox::SandboxAws::empty("eu-west-1");
    let req = ops::PlanRequest {
        input: SetupInput::with_defaults("111122223333", "eu-west-1"),
        method: echo_onboard::engine::planning::Method::Api,
        stack_name: None,
        adopt: false,
    };
    let opts = ApplyOptions::default();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    rt.block_on(async {
        let p = ops::plan(&aws, &req)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
        ops::apply(&aws, &p, &opts, &tx)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error));
    });
    let planned = rt
        .block_on(ops::plan_teardown(&aws, &ops::TeardownRequest::new("echo")))
        .unwrap_or_else(|f| panic!("{:?}", f.error));
    let events = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = events.clone();
    let (aws, p, opts) = (&aws, &planned, &opts);
    let deleted = rt
        .block_on(with_events(
            move |e| sink.lock().unwrap().push(e),
            |tx| async move { ops::teardown(aws, p, opts, &tx).await },
        ))
        .unwrap_or_else(|f| panic!("{:?}", f.error))
        .deleted;
    let events = std::mem::take(&mut *events.lock().unwrap());
    (planned, events, deleted)
}

/// Every screen in the states people see it in, by name.
fn states() -> Vec<(&'static str, App)> {
    let mut out = vec![];
    out.push(("profile", base()));

    let mut a = base();
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Connected(Err("sts:GetCallerIdentity failed: the SSO session has expired — run `aws sso login --profile dev-sso` and try again [SsoTokenExpired]".into())));
    out.push(("profile_credentials_error", a));

    let mut a = base();
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Connected(Ok(identity())));
    typed(&mut a, "eu-");
    out.push(("region_filtered", a));

    let mut a = at_echo();
    typed(&mut a, "12345");
    out.push(("echo_invalid_account", a));

    let mut a = at_echo();
    typed(&mut a, "111122223333");
    key(&mut a, KeyCode::Enter);
    for _ in 0..4 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "Echo");
    out.push(("options_uppercase_prefix", a));

    let mut a = at_echo();
    typed(&mut a, "111122223333");
    key(&mut a, KeyCode::Enter);
    ctrl(&mut a, 'o');
    out.push(("options_conflict_and_advanced", a));

    let mut a = at_echo();
    typed(&mut a, "111122223333");
    key(&mut a, KeyCode::Enter);
    ctrl(&mut a, 'k');
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "yes");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "latest*");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "0");
    out.push(("options_cache_settings", a));

    let mut a = at_echo();
    a.screen = Screen::Method;
    out.push(("method", a));

    // Add another upstream from the dashboard: Docker Hub, a user name, a masked token, and
    // Enter pointing at what is still missing (nothing is planned until then).
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('u'));
    assert_eq!(a.screen, Screen::Upstream);
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "echo-ci");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "dckr_pat_SECRET");
    out.push(("upstream_docker_hub", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('u'));
    key(&mut a, KeyCode::Right);
    out.push(("upstream_quay", a));

    out.push(("plan_cache_settings", at_plan(planned_with_cache())));

    out.push(("plan_create", at_plan(planned())));
    out.push(("plan_policy_change", at_plan(planned_with(true, false))));
    out.push(("plan_blocked", at_plan(planned_with(false, true))));

    // The API method as the engine runs it on the sandbox: its real steps and the retry it
    // makes while ECR cannot assume the new role yet (the sandbox simulates the propagation).
    let (p, events, usage) = api_apply_run();
    let replay = |upto: usize| {
        let mut a = at_plan(p.clone());
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.screen, Screen::Apply);
        for (i, e) in events[..upto].iter().enumerate() {
            a.update(Msg::Engine(e.clone(), at(i as i64 * 350)));
        }
        a
    };
    let retry = events
        .iter()
        .position(|e| matches!(e, Event::Retrying { .. }))
        .expect("the engine retried the validation");
    let mut a = replay(retry + 1);
    a.update(Msg::Tick(at(retry as i64 * 350 + 400)));
    out.push(("apply_running", a));

    let first_done = events
        .iter()
        .position(|e| matches!(e, Event::StepDone { .. }))
        .unwrap();
    let mut a = replay(first_done + 1);
    ctrl(&mut a, 'c');
    out.push(("apply_cancel_question", a));

    let mut a = replay(events.len());
    a.update(Msg::Tick(at(events.len() as i64 * 350)));
    a.update(Msg::Applied(Ok(usage)));
    a.update(Msg::Tick(at(9000)));
    out.push(("apply_succeeded", a));

    let mut a = at_echo();
    a.screen = Screen::Done;
    a.done.usage =
        echo_onboard::core::model::usage_instructions("210987654321", "eu-west-1", "echo");
    out.push(("done", a));

    out.push(("dashboard", at_dashboard()));

    // An apply validated the rule two minutes ago: the dashboard says so, not "checking".
    let mut a = at_echo();
    a.update(Msg::Validated(
        ("eu-west-1".into(), "echo".into()),
        RuleCheck::Valid,
    ));
    a.update(Msg::Tick(now() + chrono::Duration::minutes(2)));
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(account(observed()))));
    key(&mut a, KeyCode::Down);
    out.push(("dashboard_checked_by_apply", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Tab);
    for _ in 0..25 {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Images {
        region: "eu-west-1".into(),
        repo: "echo/image-25".into(),
        result: Ok(vec![ImageInfo {
            digest: "sha256:1".into(),
            tags: vec!["3.12".into()],
            size_bytes: 52_000_000,
            pushed_at: Some(now()),
            last_pulled_at: Some(now() - chrono::Duration::hours(2)),
            archived: false,
        }]),
    });
    out.push(("dashboard_images", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Down);
    assert_eq!(a.dashboard.selected().unwrap().1.prefix, "team/echo");
    out.push(("dashboard_invalid_rule", a));

    // A rule made by hand from Echo's template (a stack someone else made) names that stack.
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    let mut o = observed();
    o.rules[0] = rule("mirror", ManagedBy::Stack("echo-mirror".into()));
    a.update(Msg::Dashboard(Ok(account(o))));
    while a.dashboard.selected().unwrap().1.prefix != "mirror" {
        key(&mut a, KeyCode::Down);
    }
    out.push(("dashboard_foreign_stack", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('i'));
    assert!(a.dashboard.expanded);
    out.push(("dashboard_rule_details", a));

    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    let mut empty = observed();
    empty.rules.clear();
    empty.repositories.clear();
    a.update(Msg::Dashboard(Ok(Box::new(AccountRead {
        regions: vec![RegionRead {
            region: "eu-west-1".into(),
            observed: Ok(empty),
        }],
    }))));
    out.push(("dashboard_empty", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('t'));
    let planned = teardown_planned(&a, true);
    a.update(planned);
    typed(&mut a, "ec");
    key(&mut a, KeyCode::Enter);
    out.push(("teardown_wrong_confirmation", a));

    // The engine's teardown of the setup its apply made on the sandbox, as it ran.
    let (planned_td, events, deleted) = api_teardown_run();
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('t'));
    a.update(Msg::TeardownPlanned(Ok(Shared::new(planned_td))));
    typed(&mut a, "echo");
    key(&mut a, KeyCode::Enter);
    for (i, e) in events.iter().enumerate() {
        a.update(Msg::Engine(e.clone(), at(i as i64 * 350)));
    }
    a.update(Msg::TornDown(Ok(deleted)));
    out.push(("teardown_done", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('x'));
    {
        use echo_onboard::core::checks::{Check, Status};
        a.update(Msg::Diagnosed(Shared::new(echo_onboard::engine::diagnose::Report {
            checks: vec![
                Check::new("rule", "Pull-through cache rule", Status::Pass, "echo/ → ECR 111122223333 in us-east-1"),
                Check::new("role-policy", "Role permissions", Status::Fail, "echo-pullthrough-cache-role is missing ecr:PutImage on arn:aws:ecr:eu-west-1:210987654321:repository/echo/example").fix("⟦run apply⟧ to restore the policy"),
                Check::new("repositories", "Cached repositories", Status::Warn, "nothing has been pulled through echo/ yet"),
            ],
            observed: None,
            plan: None,
        })));
    }
    a.update(Msg::BundleWritten(Ok(
        "/home/alice/.local/state/echo-onboard/echo-onboard-bundle-20261122T120000Z.json".into(),
    )));
    out.push(("diagnostics", a));

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('v'));
    typed(&mut a, "nginx:1.27");
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Verified(Ok(echo_onboard::engine::ops::Verified {
        image: "nginx:1.27".into(),
        digest: format!("sha256:{}", "4f".repeat(32)),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        cached_repository: "echo/nginx".into(),
        created: true,
        elapsed_ms: 412,
        repository: Some(RepoDetails {
            image_count: 1,
            size_bytes: 71_000_000,
            last_pulled_at: Some(now()),
            archived_count: 0,
            archived_bytes: 0,
        }),
        region: "eu-west-1".into(),
    })));
    out.push(("verify_popup", a));
    out.push(("warm_screen", warm_state()));
    out.extend(fleet_states());
    out.extend(stack_states());
    out
}

/// The warm screen with what the engine's real `warm` reports for the sandbox's sample workload
/// (Echo, Docker Hub, a missing image, a moved tag, a digest-only pin, an uncovered registry).
fn warm_state() -> App {
    use echo_onboard::aws::{Aws, NewRule};
    use echo_onboard::engine::workloads as wl;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = echo_onboard::sandbox::SandboxAws::demo("eu-west-1", std::time::Duration::ZERO);
    let warmed = rt.block_on(async {
        aws.create_cache_rule(&NewRule {
            prefix: "echo".into(),
            upstream_registry: "ecr".into(),
            upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: Some("arn:aws:iam::210987654321:role/echo-pullthrough-cache-role".into()),
            credential_arn: None,
        })
        .await
        .unwrap();
        let rules = aws.list_cache_rules().await.unwrap();
        let req = wl::WarmRequest {
            sources: vec![wl::Source {
                name: "shop.yaml".into(),
                text: echo_onboard::sandbox::sample_workload(&rules),
            }],
            registry_url: None,
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        wl::warm(&aws, &req, &tx)
            .await
            .unwrap_or_else(|f| panic!("{:?}", f.error))
    });
    // The sandbox serves each outcome: Echo images, a missing one, a moved tag, and the rest.
    use echo_onboard::core::workload::WarmStatus as S;
    let statuses: Vec<S> = warmed.images.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        [
            S::Cached,
            S::Cached,
            S::AlreadyCached,
            S::AlreadyCached,
            S::Moved,
            S::Unwarmable,
            S::Failed,
            S::Uncovered
        ]
    );
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('w'));
    typed(&mut a, "shop.yaml");
    let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(
        matches!(&fx[..], [Effect::Warm { region, files }] if region == "eu-west-1" && files == &["shop.yaml".to_string()]),
        "{fx:?}"
    );
    a.update(Msg::WarmProgress(3, 6));
    a.update(Msg::Warmed(Ok(Shared::new(warmed))));
    a
}

fn ctrl_key(a: &mut App, c: char) {
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )));
}

/// The fleet screen from the dashboard, with the engine's real plan, apply and status of the
/// sandbox's organization (simulated accounts; no network, no clock). Each state is replayed
/// from the dashboard: the app is a state machine of its messages.
/// The CloudFormation method as the engine runs it on the sandbox's simulated CloudFormation:
/// a replacement CloudFormation refuses in one update, planned as two; a failed creation
/// streamed live; and the plan for each failed stack state, naming its way out.
fn stack_states() -> Vec<(&'static str, App)> {
    use echo_onboard::engine::apply::ApplyOptions;
    use echo_onboard::engine::events::with_events;
    use echo_onboard::engine::ops;
    use echo_onboard::sandbox::SandboxAws;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = ApplyOptions {
        validate_attempts: 1,
        validate_delay: std::time::Duration::from_millis(1),
        poll_interval: std::time::Duration::from_millis(1),
        ..ApplyOptions::default()
    };
    let req = |echo: &str, prefix: &str| {
        let mut input = SetupInput::with_defaults(echo, "eu-west-1");
        input.prefix = prefix.into();
        ops::PlanRequest {
            input,
            method: echo_onboard::engine::planning::Method::CloudFormation,
            stack_name: None,
            adopt: false,
        }
    };
    let plan = |aws: &SandboxAws, echo: &str, prefix: &str| {
        rt.block_on(ops::plan(aws, &req(echo, prefix)))
            .unwrap_or_else(|f| panic!("{:?}", f.error))
    };
    // Runs apply, keeping every event it emits (with a fixed elapsed time) and its failure.
    let apply = |aws: &SandboxAws, p: &Arc<Planned>| {
        let events = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let sink = events.clone();
        let opts = &opts;
        let result = rt.block_on(with_events(
            move |e| sink.lock().unwrap().push(e),
            |tx| async move { ops::apply(aws, p, opts, &tx).await },
        ));
        let events = std::mem::take(&mut *events.lock().unwrap());
        (events, result.err())
    };
    let screen_of = |p: Arc<Planned>, events: Vec<Event>, failure: Option<Box<ops::Failure>>| {
        let mut a = at_plan(p);
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.screen, Screen::Apply);
        for (i, mut e) in events.into_iter().enumerate() {
            if let Event::StackEvent { elapsed_ms, .. } = &mut e {
                *elapsed_ms = i as u64 * 400;
            }
            a.update(Msg::Engine(e, at(i as i64 * 400)));
        }
        match failure {
            Some(f) => a.update(Msg::Applied(Err(echo_onboard::tui::failure_lines(&f)))),
            None => a.update(Msg::Applied(Ok(vec![]))),
        };
        a.update(Msg::Tick(at(9000)));
        a
    };
    let mut out = vec![];

    // Moving a stack-made setup to another Echo account: two updates, the gap stated.
    let aws = SandboxAws::empty("eu-west-1");
    let (_, failed) = apply(&aws, &plan(&aws, "111122223333", "echo"));
    assert!(failed.is_none(), "{:?}", failed.map(|f| f.error));
    let moved = plan(&aws, "444455556666", "echo");
    assert!(
        moved.stack.as_ref().unwrap().first.is_some(),
        "{:?}",
        moved.plan
    );
    out.push(("plan_stack_two_updates", at_plan(moved)));

    // A failed creation, streamed from the simulated stack's own events.
    let aws = SandboxAws::empty("eu-west-1");
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "LimitExceededException",
        "The maximum number of pull through cache rules (50) has been reached",
    );
    let p = plan(&aws, "111122223333", "echo");
    let (events, failed) = apply(&aws, &p);
    assert_eq!(
        failed.as_ref().unwrap().stack_status.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    out.push(("apply_stack_failed", screen_of(p, events, failed)));
    out.push((
        "plan_stack_rollback_complete",
        at_plan(plan(&aws, "111122223333", "echo")),
    ));

    // CREATE_FAILED: created with rollback disabled.
    let aws = SandboxAws::empty("eu-west-1");
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "LimitExceededException",
        "The maximum number of pull through cache rules (50) has been reached",
    );
    aws.fail_next("CloudFormation:DisableRollback", "", "");
    let p = plan(&aws, "111122223333", "echo");
    let (_, failed) = apply(&aws, &p);
    assert_eq!(
        failed.unwrap().stack_status.as_deref(),
        Some("CREATE_FAILED")
    );
    out.push((
        "plan_stack_create_failed",
        at_plan(plan(&aws, "111122223333", "echo")),
    ));

    // ROLLBACK_FAILED: the rollback could not delete the role.
    let aws = SandboxAws::empty("eu-west-1");
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "LimitExceededException",
        "The maximum number of pull through cache rules (50) has been reached",
    );
    aws.fail_next("CloudFormation:AWS::IAM::Role:Delete", "", "Resource handler returned message: \"Role is in use\" (HandlerErrorCode: ResourceConflict)");
    let p = plan(&aws, "111122223333", "echo");
    let (events, failed) = apply(&aws, &p);
    assert_eq!(
        failed.as_ref().unwrap().stack_status.as_deref(),
        Some("ROLLBACK_FAILED")
    );
    out.push(("apply_stack_rollback_failed", screen_of(p, events, failed)));
    out.push((
        "plan_stack_rollback_failed",
        at_plan(plan(&aws, "111122223333", "echo")),
    ));

    // DELETE_FAILED: the rule could not be deleted; the plan retains it, naming the command.
    let aws = SandboxAws::empty("eu-west-1");
    let (_, failed) = apply(&aws, &plan(&aws, "111122223333", "echo"));
    assert!(failed.is_none());
    aws.fail_next(
        "CloudFormation:AWS::ECR::PullThroughCacheRule:Delete",
        "",
        "Resource handler returned message: \"Access denied\" (HandlerErrorCode: AccessDenied)",
    );
    let info = rt
        .block_on(echo_onboard::aws::Aws::describe_stack(
            &aws,
            "echo-registry-ecr-cache",
        ))
        .unwrap()
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let deleted = rt.block_on(echo_onboard::engine::stack::delete(&aws, &info, &opts, &tx));
    assert_eq!(
        deleted.unwrap_err().stack_status.as_deref(),
        Some("DELETE_FAILED")
    );
    out.push((
        "plan_stack_delete_failed",
        at_plan(plan(&aws, "111122223333", "echo")),
    ));

    // UPDATE_ROLLBACK_FAILED: an update failed and so did the role's rollback.
    let aws = SandboxAws::empty("eu-west-1");
    let (_, failed) = apply(&aws, &plan(&aws, "111122223333", "echo"));
    assert!(failed.is_none());
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "LimitExceededException",
        "The maximum number of pull through cache rules (50) has been reached",
    );
    aws.fail_next("CloudFormation:AWS::IAM::Role:Rollback", "", "Resource handler returned message: \"Policy is locked\" (HandlerErrorCode: InternalFailure)");
    let p = plan(&aws, "111122223333", "echo2");
    let (events, failed) = apply(&aws, &p);
    assert_eq!(
        failed.as_ref().unwrap().stack_status.as_deref(),
        Some("UPDATE_ROLLBACK_FAILED")
    );
    out.push((
        "apply_stack_update_rollback_failed",
        screen_of(p, events, failed),
    ));
    out.push((
        "plan_stack_update_rollback_failed",
        at_plan(plan(&aws, "111122223333", "echo2")),
    ));
    out
}

/// The fleet screen from the dashboard, fed what the engine really emits against the
/// sandbox's organization: its StackSets runs each operation over simulated time (paused
/// tokio time, so the times are exact), one account at a time per region; member
/// 333333333333 fails its first deployment, which cancels the account after it, and
/// 444444444444 cannot be read by status. Each event reaches the screen at the simulated
/// moment the engine emitted it.
fn fleet_states() -> Vec<(&'static str, App)> {
    use echo_onboard::engine::apply::ApplyOptions;
    use echo_onboard::engine::events::with_events;
    use echo_onboard::engine::fleet;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let aws = echo_onboard::sandbox::SandboxAws::demo("eu-west-1", std::time::Duration::ZERO)
        .with_fleet_pace(std::time::Duration::from_secs(5));
    let t0 = rt.block_on(async { tokio::time::Instant::now() });
    let mut out = vec![];

    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('f'));
    assert_eq!(a.screen, Screen::Fleet);
    typed(&mut a, "111111111111,44444444");
    key(&mut a, KeyCode::Enter);
    out.push(("fleet_form_invalid", a));

    // The operation preferences and the read role are fields, checked like the others.
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('f'));
    typed(&mut a, "111111111111");
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "111122223333");
    for _ in 0..4 {
        key(&mut a, KeyCode::Tab);
    }
    typed(&mut a, "0");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "x");
    key(&mut a, KeyCode::Enter);
    out.push(("fleet_form_preferences_invalid", a));

    let form = || {
        let mut a = at_dashboard();
        key(&mut a, KeyCode::Char('f'));
        typed(&mut a, "111111111111,333333333333,444444444444");
        key(&mut a, KeyCode::Tab);
        typed(&mut a, ",us-east-1");
        key(&mut a, KeyCode::Tab);
        typed(&mut a, "111122223333");
        a
    };
    let input = form().fleet.input();
    let planned = Shared::new(
        rt.block_on(fleet::plan(&aws, &input))
            .unwrap_or_else(|f| panic!("{:?}", f.error)),
    );
    assert_eq!(planned.plan.instances.len(), 6);
    let retry = "r on the fleet screen";
    // Each event with the simulated time it came at.
    let events = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = events.clone();
    let (aws_ref, planned_ref) = (&aws, &planned);
    let applied = rt
        .block_on(with_events(
            move |e| {
                let ms = (tokio::time::Instant::now() - t0).as_millis() as i64;
                sink.lock().unwrap().push((e, ms));
            },
            |tx| async move {
                fleet::apply(aws_ref, planned_ref, &ApplyOptions::default(), &tx, retry).await
            },
        ))
        .unwrap_or_else(|f| panic!("{:?}", f.error));
    let events: Vec<(Event, i64)> = std::mem::take(&mut *events.lock().unwrap());
    let applied = Shared::new(applied);
    assert_eq!(applied.failed.len(), 4, "{:?}", applied.failed);
    let status = Shared::new(
        rt.block_on(fleet::status(
            &aws,
            "echo-registry-ecr-cache",
            &None,
            "OrganizationAccountAccessRole",
        ))
        .unwrap_or_else(|f| panic!("{:?}", f.error)),
    );
    assert_eq!(status.instances.len(), 6);
    assert!(status.instances.iter().any(|i| i.grant.is_some()));

    let at_plan = || {
        let mut a = form();
        key(&mut a, KeyCode::Enter);
        assert!(matches!(a.fleet.phase, Phase::Planning));
        a.update(Msg::FleetPlanned(Ok(planned.clone())));
        a
    };
    out.push(("fleet_plan", at_plan()));

    // The engine's events up to `until` ms of simulated time, each at its moment.
    let applying = |until: i64| {
        let mut a = at_plan();
        let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        assert_eq!(fx, vec![Effect::FleetApply(planned.clone())]);
        for (e, ms) in events.iter().filter(|(_, ms)| *ms <= until) {
            a.update(Msg::Engine(e.clone(), at(*ms)));
        }
        let last = events.last().map_or(0, |(_, ms)| *ms);
        a.update(Msg::Tick(at(until.min(last))));
        a
    };
    // Mid-operation: the first account done in both regions, the second running.
    out.push(("fleet_applying", applying(7_000)));

    let with_failure = || {
        let mut a = applying(i64::MAX);
        a.update(Msg::FleetApplied(Ok(applied.clone())));
        a
    };
    out.push(("fleet_applied_with_a_failure", with_failure()));

    let at_status = || {
        let mut a = with_failure();
        let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        assert_eq!(
            fx,
            vec![Effect::FleetStatus {
                stack_set: "echo-registry-ecr-cache".into(),
                call_as: None,
                read_role: "OrganizationAccountAccessRole".into(),
            }]
        );
        a.update(Msg::FleetStatus(Ok(status.clone())));
        a
    };
    out.push(("fleet_status", at_status()));

    let mut a = at_status();
    key(&mut a, KeyCode::Char('t'));
    ctrl_key(&mut a, 'r');
    typed(&mut a, "echo-registry");
    let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(fx.is_empty(), "a wrong name deletes nothing: {fx:?}");
    out.push(("fleet_teardown_confirm", a));

    // r after the failure: the plan retries the failed and cancelled instances only.
    let retry_plan = Shared::new(
        rt.block_on(fleet::plan(&aws, &input))
            .unwrap_or_else(|f| panic!("{:?}", f.error)),
    );
    let mut a = with_failure();
    let fx = a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('r'),
        KeyModifiers::NONE,
    )));
    assert!(matches!(&fx[..], [Effect::FleetPlan { .. }]), "{fx:?}");
    a.update(Msg::FleetPlanned(Ok(retry_plan)));
    out.push(("fleet_plan_retry", a));

    // Options the wizard has and a stack set cannot carry are named on the plan.
    let mut a = form();
    a.fleet.setup.cache.scan_on_push = true;
    a.fleet.setup.cache.repo_tags = vec!["team=platform".into()];
    let input = a.fleet.input();
    let uncarried = Shared::new(
        rt.block_on(fleet::plan(
            &echo_onboard::sandbox::SandboxAws::demo("eu-west-1", std::time::Duration::ZERO),
            &input,
        ))
        .unwrap_or_else(|f| panic!("{:?}", f.error)),
    );
    assert_eq!(uncarried.plan.not_carried.len(), 2, "{:?}", uncarried.plan);
    key(&mut a, KeyCode::Enter);
    a.update(Msg::FleetPlanned(Ok(uncarried)));
    out.push(("fleet_plan_not_carried", a));
    out
}

fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// Words of `text`, without the punctuation that may sit next to them on screen.
fn words(text: &str) -> std::collections::HashSet<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| "│┌┐└┘─(),.:;▲▼█║".contains(c))
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Every word on `row` is one of `known` whole: nothing was cut at an edge.
fn assert_whole_words(row: &str, known: &std::collections::HashSet<String>, what: &str) {
    for w in words(row) {
        assert!(
            known.contains(&w),
            "{what}: {w:?} is cut or unknown in {row:?}"
        );
    }
}

fn footer_words() -> std::collections::HashSet<String> {
    let mut all = String::new();
    use echo_onboard::tui::keys;
    let fleet = [
        keys::FLEET_PLAN,
        keys::FLEET_APPLIED,
        keys::FLEET_STATUS,
        keys::FLEET_CONFIRM,
        keys::FLEET_ENDED,
        keys::BUSY,
        keys::WARM,
    ];
    for table in Screen::ALL.iter().map(|s| s.keys()).chain(fleet) {
        for b in table.iter().chain(keys::GLOBAL) {
            all.push_str(&format!(" {} {} ", b.label, b.short));
        }
    }
    all.push_str(" F1 ");
    words(&all)
}

fn header_words(a: &App) -> std::collections::HashSet<String> {
    let mut all = String::from(
        "echo-onboard step SANDBOX simulated account nothing real is changed profile region · /8",
    );
    for s in Screen::ALL {
        all.push_str(&format!(" {} ", s.title()));
    }
    for n in 1..=8 {
        all.push_str(&format!(" {n}/8 "));
    }
    if let Some(p) = &a.session.profile {
        all.push_str(&format!(" {} {} ", p.title(), p.kind.label()));
    }
    if let Some(i) = &a.session.identity {
        all.push_str(&format!(" {} ", i.account));
    }
    if let Some(r) = &a.session.region {
        all.push_str(&format!(" {r} "));
    }
    words(&all)
}

/// The drawing, with each change set's name (named for the time it was made) as fixed text
/// of the same width.
fn fixed_names(t: &Terminal<TestBackend>) -> String {
    let text = t.backend().to_string();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("echo-onboard-") {
        let (head, tail) = rest.split_at(i + "echo-onboard-".len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        if digits == 17 {
            out.push_str("YYYYMMDDhhmmssmmm");
            rest = &tail[17..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn every_screen_at_80x24_and_120x40_with_its_help() {
    for (name, app) in states() {
        for (w, h) in [(80, 24), (120, 40)] {
            let t = draw(&app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), fixed_names(&t));
            let rows = rows(&t);
            // The header and footer are shortened to fit, never cut.
            assert_whole_words(&rows[0], &header_words(&app), &format!("{name} header"));
            assert_whole_words(&rows[1], &header_words(&app), &format!("{name} header"));
            let footer = rows.last().unwrap();
            assert_whole_words(footer, &footer_words(), &format!("{name} footer"));
            // Help and a way out on every screen, at every width.
            assert!(
                footer.contains("? help") || footer.contains("F1 help"),
                "{name} {w}: {footer:?}"
            );
            assert!(
                ["q quit", "esc quit", "ctrl-c quit"]
                    .iter()
                    .any(|q| footer.contains(q)),
                "{name} {w}: {footer:?}"
            );
        }
        let mut with_help = app;
        with_help.help = true;
        insta::assert_snapshot!(
            format!("{name}_help"),
            fixed_names(&draw(&with_help, 80, 24))
        );
    }
}

#[test]
fn plan_lines_wrap_whole_and_the_policy_change_is_per_action() {
    for tampered in [false, true] {
        let p = planned_with(tampered, false);
        let a = at_plan(p.clone());
        let text = echo_onboard::core::render::plan_text(&p.plan).join("\n");
        let known = words(&format!("{text} Plan ↓ more line(s) end"));
        for (w, h) in [(80, 24), (120, 40)] {
            let t = draw(&a, w, h);
            let rows = rows(&t);
            let screen = rows.join("\n");
            if tampered {
                // The changed actions are visible on their own lines, not past the edge.
                assert!(
                    screen.contains("+ ecr:BatchImportUpstreamImage"),
                    "{screen}"
                );
                assert!(screen.contains("- ecr:*"), "{screen}");
            }
            // The plan pane: every word whole (rows 3.. up to the hint).
            for row in &rows[3..rows.len() - 3] {
                assert_whole_words(row, &known, "plan");
            }
        }
    }
}

#[test]
fn the_upstream_token_is_masked_on_screen() {
    let (_, a) = states()
        .into_iter()
        .find(|(n, _)| *n == "upstream_docker_hub")
        .unwrap();
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = rows(&draw(&a, w, h)).join("\n");
        assert!(
            !screen.contains("dckr_pat") && !screen.contains("SECRET"),
            "{screen}"
        );
        assert!(
            screen.contains(&"•".repeat("dckr_pat_SECRET".len())),
            "{screen}"
        );
    }
}

#[test]
fn terminal_too_small() {
    insta::assert_snapshot!("too_small", draw(&at_dashboard(), 70, 20).backend());
}

#[test]
fn teardown_toggle_asks_the_engine_again() {
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('t'));
    let planned = teardown_planned(&a, false);
    a.update(planned);
    let fx = ctrl(&mut a, 'r');
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
}

#[test]
fn verify_runs_in_the_rules_region() {
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('v'));
    typed(&mut a, "nginx:1.27");
    let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let (region, rule) = a.dashboard.selected().unwrap().clone();
    assert!(
        matches!(&fx[..], [Effect::Verify { region: r, prefix: p, image }] if *r == region && *p == rule.prefix && image == "nginx:1.27"),
        "{fx:?}"
    );
}

#[test]
fn the_dashboard_lists_every_regions_rules_and_the_selected_rules_chart() {
    let a = at_dashboard();
    let screen = rows(&draw(&a, 120, 40)).join("\n");
    assert!(screen.contains("us-east-1"), "{screen}");
    assert!(screen.contains("mirror"), "{screen}");
    assert!(screen.contains("1 region(s) unreadable"), "{screen}");
    let (region, rule) = a.dashboard.selected().unwrap();
    assert_eq!(
        (region.as_str(), rule.prefix.as_str()),
        ("eu-west-1", "echo")
    );
    let days = a.dashboard.rule_pulls_by_day();
    assert_eq!(days.len(), 30);
    let total: u64 = a
        .dashboard
        .visible_repos()
        .iter()
        .map(|r| r.pull_count_30d)
        .sum();
    assert_eq!(
        days.iter().sum::<u64>(),
        total,
        "the chart adds up to the table"
    );
    assert!(
        screen.contains(&format!("Pulls, last 30 days: {total}")),
        "{screen}"
    );
}

#[test]
fn leaving_a_stack_plan_removes_its_change_set_and_applying_keeps_it() {
    let states = stack_states();
    let plan = || {
        states
            .iter()
            .find(|(n, _)| *n == "plan_stack_two_updates")
            .map(|(_, a)| a.plan.ready().cloned().unwrap())
            .unwrap()
    };
    let mut a = at_plan(plan());
    let effects = a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(
        matches!(effects.as_slice(), [Effect::Discard(p)] if p.stack.as_ref().unwrap().change_set.is_some()),
        "{effects:?}"
    );
    let mut a = at_plan(plan());
    let effects = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(
        matches!(effects.as_slice(), [Effect::Apply(_)]),
        "{effects:?}"
    );
}

/// The screen's text as one run, frame drawing removed, so a message wrapped over rows reads
/// as one.
fn screen_text(rows: &[String]) -> String {
    rows.iter()
        .map(|r| r.replace(|c: char| "│┌┐└┘─▲▼█║".contains(c), " "))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every error state, with the lines of its message as the engine (or the core) words them.
fn error_states() -> Vec<(&'static str, App, Vec<String>)> {
    use echo_onboard::aws::errors::{AwsError, ErrorContext};
    use echo_onboard::core::validate::RepoPrefix;
    use echo_onboard::core::verify::{explain, ImageRef, Pull, PullFailure};
    use echo_onboard::engine::ops::{handed_over, Failure, Problem};
    use echo_onboard::tui::failure_lines;
    let mut out = vec![];

    // A test pull of an image Echo does not have (or has not allowed): the fix is long.
    let image = ImageRef::parse("library/nginx:1.27").unwrap();
    let prefix = RepoPrefix::parse("prefix", "echo").unwrap();
    let e = explain(
        PullFailure::NotFound,
        "MANIFEST_UNKNOWN",
        "Requested image not found",
        &Pull {
            repo: "echo/library/nginx",
            image: &image,
            prefix: &prefix,
            account: "210987654321",
            region: "eu-west-1",
        },
    );
    let lines = failure_lines(&Failure::of(Problem::new(e.code, e.message, e.next_step)));
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('v'));
    a.update(Msg::Verified(Err(lines.clone())));
    out.push(("verify_popup_error", a, lines));

    // A pull refused: the fix is the whole policy to attach (taller than 80×24 leaves room for).
    let e = explain(
        PullFailure::Denied,
        "DENIED",
        "User is not authorized to perform ecr:BatchImportUpstreamImage",
        &Pull {
            repo: "echo/library/nginx",
            image: &image,
            prefix: &prefix,
            account: "210987654321",
            region: "eu-west-1",
        },
    );
    let lines = failure_lines(&Failure::of(Problem::new(e.code, e.message, e.next_step)));
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('v'));
    a.update(Msg::Verified(Err(lines.clone())));
    out.push(("verify_popup_denied", a, lines));

    // The upstream form for GitLab with no credentials, after enter.
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('u'));
    for _ in 0..3 {
        key(&mut a, KeyCode::Right);
    }
    assert_eq!(
        a.upstream.kind(),
        echo_onboard::core::upstream::UpstreamKind::GitlabContainerRegistry
    );
    for _ in 0..6 {
        key(&mut a, KeyCode::Enter);
    }
    assert_eq!(
        a.screen,
        Screen::Upstream,
        "nothing is planned without credentials"
    );
    let e = a
        .upstream
        .errors()
        .into_iter()
        .find(|e| e.field == "upstream")
        .expect("the form names the missing credentials");
    let shown = vec![
        echo_onboard::tui::words::said(&e.rule),
        echo_onboard::tui::words::said(&e.example),
    ];
    out.push(("upstream_gitlab_no_credentials", a, shown));

    // The plan blocked by a rule someone else made.
    let p = planned_with(false, true);
    let lines = vec![echo_onboard::tui::words::said(&p.plan.blockers[0])];
    out.push(("plan_blocked_whole", at_plan(p), lines));

    // A teardown refused: the rule was handed over to Terraform.
    let mut a = at_dashboard();
    key(&mut a, KeyCode::Char('t'));
    let lines = failure_lines(&Failure::of(handed_over("echo", "eu-west-1", "terraform")));
    a.update(Msg::TeardownPlanned(Err(lines.clone())));
    out.push(("teardown_refused", a, lines));

    // The account cannot be read: the network error names what to check.
    let mut a = at_dashboard();
    let e = AwsError::transport(
        "ecr:DescribePullThroughCacheRules",
        "dispatch failure: io error: Connection refused (os error 111)",
        &ErrorContext {
            endpoint: Some("https://api.ecr.eu-west-1.amazonaws.com".into()),
            ..Default::default()
        },
    );
    a.update(Msg::Dashboard(Err(e.to_string())));
    out.push(("dashboard_network_error", a, vec![e.to_string()]));

    // An apply that failed on a denied call, rolled back: the engine's real run on the
    // sandbox, whose CreateRole is refused as IAM refuses it.
    let (p, events, failure) = api_apply_denied_run();
    let mut a = at_plan(p);
    key(&mut a, KeyCode::Enter);
    for (i, e) in events.iter().enumerate() {
        a.update(Msg::Engine(e.clone(), at(i as i64 * 350)));
    }
    let lines = failure_lines(&failure);
    a.update(Msg::Applied(Err(lines.clone())));
    out.push(("apply_denied", a, lines));

    // The diagnostics with failing checks (the snapshot state of every screen).
    let (_, a) = states()
        .into_iter()
        .find(|(n, _)| *n == "diagnostics")
        .unwrap();
    let shown = a
        .diagnostics
        .as_ref()
        .unwrap()
        .checks
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| echo_onboard::tui::words::said(&c.line()))
        .collect();
    out.push(("diagnostics_failing", a, shown));
    out
}

/// Every error state at 80×24 and 120×40 shows its whole message: each line of it, worded
/// for the TUI, is on screen from its first word to its last.
#[test]
fn every_error_state_is_whole_at_80x24_and_120x40() {
    for (name, app, lines) in error_states() {
        assert!(!lines.is_empty(), "{name}");
        for (w, h) in [(80, 24), (120, 40)] {
            let t = draw(&app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), fixed_names(&t));
            let text = screen_text(&rows(&t));
            let on_screen: Vec<&str> = text.split_whitespace().collect();
            for l in &lines {
                let said = echo_onboard::tui::words::said(l);
                // Word by word, in order (a popup's rows sit between the screen's behind it);
                // a word longer than a row continues on the next one.
                let mut at = on_screen.iter();
                let missing = said.split_whitespace().find(|w| {
                    let mut whole = at.clone();
                    if whole.any(|s| s == w) {
                        at = whole;
                        return false;
                    }
                    let mut rest: &str = w;
                    while !rest.is_empty() {
                        match at.find(|s| rest.starts_with(**s) && (**s == rest || s.len() >= 8)) {
                            Some(s) => rest = &rest[s.len()..],
                            None => return true,
                        }
                    }
                    false
                });
                assert!(
                    missing.is_none(),
                    "{name} {w}x{h}: {missing:?} of this line is not on screen:\n{said}\n---\n{text}"
                );
            }
        }
    }
}

/// Where `known` strings appear cut on screen without an ellipsis: a run of the string's
/// start that ends mid-word (between two letters or digits of it) at a space or an edge,
/// and is not continued on the next row (wrapped).
fn cut_words(rows: &[String], known: &[String]) -> Vec<String> {
    let word = |c: char| c.is_alphanumeric() || "-_/.:@".contains(c);
    let mut cut = vec![];
    for (y, row) in rows.iter().enumerate() {
        let chars: Vec<char> = row.chars().collect();
        for s in known {
            let sc: Vec<char> = s.chars().collect();
            for x in 0..chars.len() {
                if x > 0 && word(chars[x - 1]) {
                    continue;
                }
                let n = (0..sc.len())
                    .take_while(|i| chars.get(x + i) == Some(&sc[*i]))
                    .count();
                if n < 4 || n == sc.len() {
                    continue;
                }
                let next = chars.get(x + n).copied();
                let mid_word = sc[n - 1].is_alphanumeric() && sc[n].is_alphanumeric();
                if !mid_word || next == Some('…') || next.is_some_and(word) {
                    continue;
                }
                // At a pane's edge and continued on the next row: wrapped, not cut.
                let rest: String = sc[n..sc.len().min(n + 6)].iter().collect();
                let wrapped = rows.get(y + 1).is_some_and(|r| r.contains(&rest));
                if !wrapped {
                    cut.push(format!(
                        "{s:?} shown as {:?} in {row:?}",
                        sc[..n].iter().collect::<String>()
                    ));
                }
            }
        }
    }
    cut
}

#[test]
fn the_cut_check_finds_a_cut_and_spares_ellipses_and_wraps() {
    let known = vec!["echo-pullthrough-cache-role".to_string()];
    let r = |s: &str| s.to_string();
    assert_eq!(cut_words(&[r("│echo-pullthrou  │")], &known).len(), 1);
    assert_eq!(
        cut_words(&[r("│echo-pullthrou… │")], &known),
        Vec::<String>::new()
    );
    assert_eq!(
        cut_words(
            &[r("│role echo-pullthro│"), r("│ugh-cache-role    │")],
            &known
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        cut_words(&[r("│echo-pullthrough-cache-role│")], &known),
        Vec::<String>::new()
    );
}

/// Long names on the screens that list them, at both sizes: each is whole, ends in "…" where a
/// column had to cut it, or wraps; none is cut silently.
#[test]
fn long_names_are_whole_or_ellipsized_on_every_listing() {
    let mut o = observed();
    let long_prefix = "platform-team/mirror-of-echo-for-eu-workloads";
    o.rules.push(CacheRule {
        upstream_url: "registry.gitlab.example.com/platform/very-long-group-name".into(),
        upstream_registry: "gitlab-container-registry".into(),
        role_arn: Some(
            "arn:aws:iam::210987654321:role/a-very-long-role-name-made-by-the-platform-team".into(),
        ),
        ..rule(long_prefix, ManagedBy::Iac("terraform".into()))
    });
    for r in o.repositories.iter_mut().take(5) {
        r.name = format!(
            "echo/{}-a-repository-with-a-rather-long-name-for-the-cache",
            r.name
        );
    }
    let known: Vec<String> = o
        .rules
        .iter()
        .flat_map(|r| {
            [r.prefix.clone(), r.upstream_url.clone()]
                .into_iter()
                .chain(r.role_arn.clone())
        })
        .chain(o.repositories.iter().map(|r| r.name.clone()))
        .collect();
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(account(o))));
    let mut screens = vec![("dashboard", a)];
    for (name, app) in states() {
        if name.starts_with("teardown")
            || name.starts_with("fleet_status")
            || name.starts_with("plan")
        {
            screens.push((name, app));
        }
    }
    for (name, app) in screens {
        for (w, h) in [(80, 24), (120, 40), (200, 50)] {
            let rows = rows(&draw(&app, w, h));
            let cut = cut_words(&rows, &known);
            assert!(cut.is_empty(), "{name} {w}x{h}:\n{}", cut.join("\n"));
        }
    }
}

/// The ctrl-c question during an apply leaves the steps in view: the done step, its time and
/// the steps to go are on screen with the question, at both sizes.
#[test]
fn the_cancel_question_leaves_the_steps_in_view() {
    let (_, a) = states()
        .into_iter()
        .find(|(n, _)| *n == "apply_cancel_question")
        .unwrap();
    for (w, h) in [(80, 24), (120, 40)] {
        let rows = rows(&draw(&a, w, h));
        let step = rows
            .iter()
            .position(|r| {
                r.contains("✓ create IAM role echo-pullthrough-cache-role") && r.contains("0.3s")
            })
            .unwrap_or_else(|| panic!("{w}x{h}: the done step is hidden:\n{}", rows.join("\n")));
        let question = rows
            .iter()
            .position(|r| r.contains("Cancel the apply? (y/n)"))
            .expect("the question");
        assert!(
            question > step,
            "{w}x{h}: the question is drawn under the steps"
        );
        assert!(
            rows.iter().any(|r| r.contains("3 more step(s) to go")),
            "{w}x{h}"
        );
    }
}
