//! Every TUI screen drawn on ratatui's TestBackend and compared with a snapshot. The clock,
//! identity and data are fixed, so nothing volatile reaches the snapshots.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use echo_onboard::aws::profiles::{ProfileEntry, ProfileKind};
use echo_onboard::core::model::{
    desired, CacheRule, Identity, ImageInfo, ManagedBy, Observed, RepoDetails, RepositoryInfo,
};
use echo_onboard::core::plan::{plan, PlanOptions};
use echo_onboard::core::validate::SetupInput;
use echo_onboard::engine::events::Event;
use echo_onboard::engine::planning::Planned;
use echo_onboard::tui::app::{App, Effect, Msg, Screen};
use echo_onboard::tui::prefs::Prefs;
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
            name: format!("echo/image-{i:02}"),
            rule_prefix: "echo".into(),
            details: Some(RepoDetails {
                image_count: 1 + i % 3,
                size_bytes: 50_000_000 + i as u64 * 1_000_000,
                last_pulled_at: Some(now() - chrono::Duration::minutes(i as i64 * 7)),
            }),
            pull_count_30d: 1000 - i as u64 * 20,
            pulls_by_day: vec![],
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
    }
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
fn profile_screen() {
    insta::assert_snapshot!(draw(&base(), 100, 30).backend());
}

#[test]
fn profile_screen_with_an_inline_credentials_error() {
    let mut a = base();
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Connected(Err("sts:GetCallerIdentity failed: the SSO session has expired — run `aws sso login --profile dev-sso` and try again [SsoTokenExpired]".into())));
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn region_screen_filtered() {
    let mut a = base();
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Connected(Ok(identity())));
    typed(&mut a, "eu-");
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn echo_screen_with_invalid_account() {
    let mut a = at_echo();
    typed(&mut a, "12345");
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn options_screen_with_conflict_and_advanced_fields() {
    let mut a = at_echo();
    typed(&mut a, "111122223333");
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('o'),
        KeyModifiers::CONTROL,
    )));
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn method_screen() {
    let mut a = at_echo();
    a.screen = Screen::Method;
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn plan_screen() {
    let mut a = at_echo();
    a.screen = Screen::Plan;
    a.update(Msg::Planned(Ok(planned())));
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn apply_screen_in_progress_with_cancel_question() {
    let mut a = at_echo();
    a.screen = Screen::Plan;
    a.update(Msg::Planned(Ok(planned())));
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Engine(Event::StepStarted {
        index: 1,
        total: 4,
        label: "create IAM role echo-pullthrough-cache-role".into(),
    }));
    a.update(Msg::Engine(Event::StepDone {
        index: 1,
        total: 4,
        label: "create IAM role echo-pullthrough-cache-role".into(),
    }));
    a.update(Msg::Tick(now() + chrono::Duration::seconds(3)));
    insta::assert_snapshot!("apply_in_progress", draw(&a, 100, 30).backend());
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    insta::assert_snapshot!("apply_cancel_question", draw(&a, 100, 30).backend());
}

#[test]
fn done_screen() {
    let mut a = at_echo();
    a.screen = Screen::Done;
    a.usage = echo_onboard::core::model::usage_instructions("210987654321", "eu-west-1", "echo");
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn dashboard_with_many_repositories_and_image_detail() {
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(Box::new(observed()))));
    a.update(Msg::Validations(
        [
            ("echo".to_string(), "valid".to_string()),
            ("team/echo".to_string(), "invalid".to_string()),
        ]
        .into(),
    ));
    key(&mut a, KeyCode::Down);
    insta::assert_snapshot!("dashboard", draw(&a, 100, 30).backend());
    key(&mut a, KeyCode::Tab);
    for _ in 0..25 {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Images(
        "echo/image-25".into(),
        Ok(vec![ImageInfo {
            digest: "sha256:1".into(),
            tags: vec!["3.12".into()],
            size_bytes: 52_000_000,
            pushed_at: Some(now()),
            last_pulled_at: Some(now() - chrono::Duration::hours(2)),
        }]),
    ));
    insta::assert_snapshot!("dashboard_detail", draw(&a, 100, 30).backend());
}

#[test]
fn teardown_confirmation() {
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(Box::new(observed()))));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('t'));
    // The engine's answer: this tool made the selected rule (read from AWS in real runs).
    let prefix = a.teardown.as_ref().unwrap().rule.prefix.clone();
    let planned = |delete_repos: bool| {
        let o = observed();
        let role = o
            .rule(&prefix)
            .and_then(|r| r.role_arn.as_deref())
            .and_then(|arn| o.role_by_arn(arn))
            .cloned();
        let plan = echo_onboard::core::plan::plan_teardown(
            &o,
            &prefix,
            role.as_ref(),
            delete_repos,
            &Default::default(),
        );
        Msg::TeardownPlanned(Ok(echo_onboard::tui::app::Shared::new(
            echo_onboard::engine::ops::TeardownPlanned {
                prefix: prefix.clone(),
                owner: echo_onboard::engine::ops::Owner::Tool { role },
                observed: o,
                elsewhere: Default::default(),
                delete_repos,
                plan,
            },
        )))
    };
    a.update(planned(false));
    // ctrl-r asks the engine again, now listing the repositories to delete.
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
    a.update(planned(true));
    typed(&mut a, "ec");
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn help_overlay_and_too_small() {
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(Box::new(observed()))));
    key(&mut a, KeyCode::Char('?'));
    insta::assert_snapshot!("help_overlay", draw(&a, 100, 30).backend());
    insta::assert_snapshot!("too_small", draw(&a, 70, 20).backend());
}

#[test]
fn diagnostics_screen_with_bundle_path() {
    use echo_onboard::core::checks::{Check, Status};
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(Box::new(observed()))));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('x'));
    assert_eq!(a.screen, Screen::Diagnostics);
    a.update(Msg::Diagnosed(echo_onboard::tui::app::Shared::new(echo_onboard::engine::diagnose::Report {
        checks: vec![
        Check::new("rule", "Pull-through cache rule", Status::Pass, "echo/ → ECR 111122223333 in us-east-1"),
        Check::new("role-policy", "Role permissions", Status::Fail, "echo-pullthrough-cache-role is missing ecr:PutImage on arn:aws:ecr:eu-west-1:210987654321:repository/echo/example").fix("run `echo-onboard apply` to restore the policy"),
        Check::new("repositories", "Cached repositories", Status::Warn, "nothing has been pulled through echo/ yet"),
        ],
        observed: None,
        plan: None,
    })));
    a.update(Msg::BundleWritten(Ok(
        "/home/alice/.local/state/echo-onboard/echo-onboard-bundle-20261122T120000Z.json".into(),
    )));
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}

#[test]
fn verify_popup_on_the_dashboard() {
    let mut a = at_echo();
    a.screen = Screen::Dashboard;
    a.update(Msg::Dashboard(Ok(Box::new(observed()))));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('v'));
    typed(&mut a, "nginx:1.27");
    let fx = a.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let prefix = a.selected_rule().unwrap().prefix.clone();
    assert!(
        matches!(&fx[..], [Effect::Verify { prefix: p, image }] if *p == prefix && image == "nginx:1.27"),
        "{fx:?}"
    );
    a.update(Msg::Verified(Ok(echo_onboard::engine::ops::Verified {
        image: "nginx:1.27".into(),
        digest: format!("sha256:{}", "4f".repeat(32)),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        cached_repository: format!("{prefix}/nginx"),
        created: true,
        elapsed_ms: 412,
        repository: Some(RepoDetails {
            image_count: 1,
            size_bytes: 71_000_000,
            last_pulled_at: Some(now()),
        }),
        region: "eu-west-1".into(),
    })));
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
}
