//! The app as a state machine: keys and results in, effects out, no terminal or network.

use super::*;
use crate::core::model::{CacheRule, Identity, Observed, RepositoryInfo};
use crate::engine::diagnose::Report;
use crate::engine::events::Event;
use crate::engine::ops::TeardownPlanned;
use crate::engine::planning::{Method, Planned};
use crate::tui::profiles::ProfileKind;
use crate::tui::screens::dashboard::{AccountRead, Pane, RegionRead, REFRESH_SECS};
use crate::tui::screens::diagnostics::DiagScreen;
use std::sync::Arc;

/// One region's read as the dashboard gets it.
fn account(o: Observed) -> Box<AccountRead> {
    Box::new(AccountRead {
        regions: vec![RegionRead {
            region: o.region.clone(),
            observed: Ok(o),
        }],
    })
}

mod wizard {
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
        assert_eq!(a.profile.filtered().len(), 1);
        let fx = a.update(key(KeyCode::Enter));
        assert!(
            matches!(&fx[..], [Effect::Connect { profile, region }] if profile.title() == "prod" && region.as_deref() == Some("us-east-2"))
        );
        assert!(a.profile.connecting);
        a.update(Msg::Connected(Err(
            "the SSO session has expired: run `aws sso login --profile prod`".into(),
        )));
        assert_eq!(
            a.screen,
            Screen::Profile,
            "a failure stays on the step, shown inline"
        );
        assert!(a.profile.error.as_ref().unwrap().contains("aws sso login"));
        a.update(key(KeyCode::Enter));
        a.update(Msg::Connected(Ok(identity())));
        assert_eq!(a.screen, Screen::Region);
        assert_eq!(
            a.region.filtered()[a.region.sel],
            "us-east-2",
            "the profile's region is preselected"
        );
    }

    #[test]
    fn only_the_sandbox_is_preselected_without_credentials() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.update(Msg::Profiles(vec![ProfileEntry::sandbox()]));
        assert!(a.session.sandbox_only);
        assert_eq!(
            a.profile.filtered()[a.profile.sel].kind,
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
            a.region.filter.value(),
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
        let (err, _) = a.echo.errors();
        assert!(err.unwrap().rule.contains("got 5"));
        a.update(key(KeyCode::Enter));
        assert_eq!(
            a.screen,
            Screen::Echo,
            "cannot proceed with an invalid account"
        );
        typed(&mut a, "6789012");
        assert!(a.echo.errors().0.is_none());
        a.update(key(KeyCode::Tab));
        assert_eq!(a.echo.focus, crate::tui::screens::echo::EchoField::Region);
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
            owner_proof: String::new(),
        }])));
        assert_eq!(
            a.options.conflict(&a.session).unwrap().upstream_url,
            "999988887777.dkr.ecr.us-east-1.amazonaws.com"
        );
        typed(&mut a, "_X");
        assert!(!a.options.errors().is_empty());
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Options);
        a.update(key(KeyCode::Backspace));
        a.update(key(KeyCode::Backspace));
        a.update(ctrl('o'));
        assert!(a.options.advanced);
        assert_eq!(
            a.options.focus,
            crate::tui::screens::options::OptionField::RoleName,
            "focus moves into the advanced fields"
        );
        typed(&mut a, " bad");
        assert_eq!(a.options.errors()[0].field, "role-name");
        for _ in 0..4 {
            a.update(key(KeyCode::Backspace));
        }
        a.update(key(KeyCode::Tab));
        a.update(key(KeyCode::Tab));
        typed(&mut a, "team=platform, env=prod");
        assert!(a.options.errors().is_empty());
        assert_eq!(
            a.setup_input().tags,
            vec!["team=platform".to_string(), "env=prod".to_string()]
        );
        // The broad policy (AWS's example, Echo's template): yes/no, off by default.
        assert!(!a.setup_input().broad_policy);
        a.update(key(KeyCode::Tab));
        for _ in 0..2 {
            a.update(key(KeyCode::Backspace));
        }
        typed(&mut a, "maybe");
        assert_eq!(a.options.errors()[0].field, "broad-policy");
        for _ in 0..5 {
            a.update(key(KeyCode::Backspace));
        }
        typed(&mut a, "yes");
        assert!(a.options.errors().is_empty());
        assert!(a.setup_input().broad_policy);
        a.update(key(KeyCode::Enter));
        assert_eq!(a.screen, Screen::Method);
    }

    #[test]
    fn a_repository_policy_file_goes_with_the_plan_request() {
        let mut a = at_options();
        a.update(ctrl('k'));
        // Immutable tags, mutable tags, expire, keep, KMS, repository tags, then the policy.
        for _ in 0..6 {
            a.update(key(KeyCode::Tab));
        }
        typed(&mut a, "policy.json");
        assert!(a.options.errors().is_empty());
        a.update(key(KeyCode::Enter));
        let fx = a.update(key(KeyCode::Enter));
        assert!(
            fx.iter().any(|e| matches!(e, Effect::Plan { repository_policy: Some(p), .. } if p == "policy.json")),
            "{fx:?}"
        );
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
        a.update(Msg::Engine(
            Event::StepDone {
                index: 1,
                total: 4,
                label: "create IAM role r".into(),
            },
            Utc::now(),
        ));
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
    fn a_cancel_is_cancelled_not_failed_and_a_second_ctrl_c_quits() {
        let mut a = at_options();
        a.screen = Screen::Apply;
        a.update(Msg::Engine(
            Event::StepStarted {
                index: 1,
                total: 2,
                label: "create IAM role r".into(),
            },
            Utc::now(),
        ));
        a.update(ctrl('c'));
        assert_eq!(
            a.update(ctrl('c')),
            vec![Effect::CancelApply, Effect::Quit],
            "ctrl-c twice: cancel and quit"
        );
        assert!(a.apply.cancelled);
        assert_eq!(
            a.apply.progress.rows[0].state,
            crate::tui::screens::progress::StepState::Cancelled,
            "the step in flight is not shown as still running"
        );
    }

    #[test]
    fn help_overlay_opens_and_any_key_closes() {
        let mut a = app();
        a.update(key(KeyCode::F(1)));
        assert!(a.help);
        a.update(key(KeyCode::Char('x')));
        assert!(!a.help);
        assert_eq!(a.profile.filter.value(), "", "the closing key is not typed");
    }
}

mod diagnostics {
    use super::*;

    #[test]
    fn diagnose_and_bundle_keys() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Diagnostics;
        a.diagnostics = Some(DiagScreen::new("eu-west-1", "echo"));
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
                region: "eu-west-1".into(),
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
            vec![Effect::Diagnose {
                region: "eu-west-1".into(),
                prefix: "echo".into()
            }]
        );
        a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        assert_eq!(a.screen, Screen::Dashboard);
    }
}

mod resume {
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
            cache: Default::default(),
            secret: None,
        };
        a.update(Msg::Dashboard(Ok(account(empty))));
        assert_eq!(a.screen, Screen::Echo, "no rules yet: straight to setup");
    }
}

mod screens {
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
            owner_proof: String::new(),
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
                adopt: false,
                recovery_days: crate::engine::ops::DEFAULT_RECOVERY_DAYS,
            },
        )
        .await
        .unwrap()
    }

    fn observed() -> Observed {
        let repo = |name: &str, pulls: u64, size: u64| RepositoryInfo {
            settings: None,
            created_at: None,
            arn: String::new(),
            name: name.into(),
            rule_prefix: "echo".into(),
            details: Some(crate::core::model::RepoDetails {
                image_count: 1,
                size_bytes: size,
                last_pulled_at: None,
                archived_count: 0,
                archived_bytes: 0,
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
            cache: Default::default(),
            secret: None,
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

        // Taking it over is an explicit, confirmed choice: a asks, n keeps the plan blocked,
        // y plans again with the take-over.
        assert!(blocked.plan.adoptable());
        assert!(key(&mut blocked, KeyCode::Char('a')).is_empty());
        assert!(blocked.plan.confirm_adopt);
        assert!(key(&mut blocked, KeyCode::Char('n')).is_empty());
        assert!(!blocked.plan.adopt);
        key(&mut blocked, KeyCode::Char('a'));
        let fx = key(&mut blocked, KeyCode::Char('y'));
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Plan { adopt: true, .. })),
            "{fx:?}"
        );
        assert!(blocked.plan.planning && blocked.plan.adopt);
    }

    #[test]
    fn done_opens_the_dashboard_on_the_new_rule() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Done;
        assert_eq!(key(&mut a, KeyCode::Char('d')), vec![Effect::LoadDashboard]);
        assert_eq!(a.screen, Screen::Dashboard);
        let fx = a.update(Msg::Dashboard(Ok(account(observed()))));
        assert_eq!(
            fx,
            vec![Effect::Validate(vec![
                ("eu-west-1".into(), "echo".into()),
                ("eu-west-1".into(), "other".into())
            ])]
        );
        assert_eq!(a.dashboard.selected().unwrap().1.prefix, "echo");
    }

    #[test]
    fn dashboard_filters_the_focused_list_and_reverses_the_sort() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(account(observed()))));
        let names = |a: &App| {
            a.dashboard
                .visible_repos()
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        // The rules pane is focused: `/oth` leaves the other rule, selected.
        key(&mut a, KeyCode::Char('/'));
        for c in "oth".chars() {
            key(&mut a, KeyCode::Char(c));
        }
        assert_eq!(a.dashboard.visible_rules(), vec![1]);
        assert_eq!(a.dashboard.selected().unwrap().1.prefix, "other");
        // esc clears it: both rules again; q is a key again, not text.
        key(&mut a, KeyCode::Esc);
        assert_eq!(a.dashboard.visible_rules().len(), 2);
        assert!(!a.dashboard.filtering);
        key(&mut a, KeyCode::Up);
        // The repositories pane: `/c` then enter keeps the filter while keys act again.
        key(&mut a, KeyCode::Tab);
        key(&mut a, KeyCode::Char('/'));
        key(&mut a, KeyCode::Char('/'));
        key(&mut a, KeyCode::Char('c'));
        key(&mut a, KeyCode::Enter);
        assert_eq!(names(&a), ["echo/c"]);
        key(&mut a, KeyCode::Char('/'));
        a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )));
        key(&mut a, KeyCode::Enter);
        assert_eq!(names(&a), ["echo/b", "echo/c", "echo/a"]);
        a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('S'),
            KeyModifiers::SHIFT,
        )));
        assert_eq!(names(&a), ["echo/a", "echo/c", "echo/b"], "reversed");
    }

    #[test]
    fn a_click_focuses_the_pane_and_row_under_it_and_the_wheel_scrolls_what_is_under_it() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Resize(120, 40));
        a.update(Msg::Dashboard(Ok(account(observed()))));
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        t.draw(|f| crate::tui::view::render(&a, crate::tui::theme::Theme { color: false }, f))
            .unwrap();
        let rules = a.dashboard.rules_area.get();
        let repos = a.dashboard.repos_area.get();
        assert!(rules.width > 0 && repos.width > 0);
        // The second rule's row: below the border and the header.
        a.update(Msg::Click(rules.x + 3, rules.y + 3));
        assert_eq!(a.dashboard.selected().unwrap().1.prefix, "other");
        // Back to the first rule, then a click on the repositories' third row.
        a.update(Msg::Click(rules.x + 3, rules.y + 2));
        a.update(Msg::Click(repos.x + 3, repos.y + 4));
        assert_eq!(
            a.dashboard.pane,
            crate::tui::screens::dashboard::Pane::Repos
        );
        assert_eq!(a.dashboard.repo_sel, 2);
        // The wheel over the rules pane scrolls the rules, not the focused repositories.
        a.update(Msg::Wheel(1, rules.x + 3, rules.y + 3));
        assert_eq!(
            a.dashboard.pane,
            crate::tui::screens::dashboard::Pane::Rules
        );
        assert_eq!(a.dashboard.selected().unwrap().1.prefix, "other");
    }

    #[test]
    fn dashboard_keys() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(account(observed()))));
        let names = |a: &App| {
            a.dashboard
                .visible_repos()
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
        a.update(Msg::Dashboard(Ok(account(observed()))));
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.dashboard.pane, Pane::Repos);
        key(&mut a, KeyCode::Down);
        assert_eq!(
            key(&mut a, KeyCode::Enter),
            vec![Effect::LoadImages {
                region: "eu-west-1".into(),
                repo: "echo/b".into()
            }]
        );
        key(&mut a, KeyCode::Esc);
        assert!(
            a.dashboard.images.is_none(),
            "esc closes the detail pane first"
        );
        assert_eq!(key(&mut a, KeyCode::Esc), vec![Effect::Quit]);
    }

    #[test]
    fn background_refresh_runs_on_the_interval() {
        let t0 = Utc::now();
        let mut a = App::new(Prefs::default(), t0);
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(account(observed()))));
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
        a.update(Msg::Dashboard(Ok(account(observed()))));
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
                stack_name: None,
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
                .planned
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
            settings: None,
            created_at: None,
            arn: String::new(),
            name: "other/z".into(),
            rule_prefix: "other".into(),
            details: None,
            pull_count_30d: 1,
            pulls_by_day: vec![],
        });
        let fx = a.update(Msg::Dashboard(Ok(account(o.clone()))));
        // Sorted by pulls (known before any detail): the selected rule's rows first.
        let wanted = fx.iter().find_map(|e| match e {
            Effect::LoadDetails { names, .. } => Some(names.clone()),
            _ => None,
        });
        assert_eq!(
            wanted.unwrap(),
            vec!["echo/b", "echo/c", "echo/a", "other/z"]
        );
        assert_eq!(a.dashboard.details_pending, 4);
        assert_eq!(a.dashboard.visible_repos()[0].name, "echo/b");
        let d = crate::core::model::RepoDetails {
            image_count: 3,
            size_bytes: 9,
            last_pulled_at: None,
            archived_count: 0,
            archived_bytes: 0,
        };
        a.update(Msg::Details {
            region: "eu-west-1".into(),
            batch: vec![("echo/b".into(), d)],
        });
        assert_eq!(a.dashboard.visible_repos()[0].details, Some(d));
        assert_eq!(a.dashboard.details_pending, 3);
        // A refresh keeps what is known for repositories whose pulls did not change.
        o.repositories[0].pull_count_30d += 1; // echo/a was pulled meanwhile
        let fx = a.update(Msg::Dashboard(Ok(account(o))));
        let wanted = fx.iter().find_map(|e| match e {
            Effect::LoadDetails { names, .. } => Some(names.clone()),
            _ => None,
        });
        assert_eq!(wanted.unwrap(), vec!["echo/c", "echo/a", "other/z"]);
        a.update(Msg::DetailsFailed("AccessDenied".into()));
        assert_eq!(a.dashboard.details_pending, 0);
        assert_eq!(a.dashboard.details_error.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn a_streamed_read_shows_the_rules_then_the_busiest_rows_then_the_whole() {
        use crate::engine::observe::{Part, Streamed};
        let screen = |a: &App| {
            let mut t =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
            t.draw(|f| crate::tui::view::render(a, crate::tui::theme::Theme { color: false }, f))
                .unwrap();
            t.backend().to_string()
        };
        let part = |part: Part| {
            Msg::DashboardPart(Box::new(Streamed {
                region: "eu-west-1".into(),
                part,
            }))
        };
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Resize(120, 40));
        a.dashboard.refresh();
        assert!(screen(&a).contains("Reading the account's rules"));
        let full = observed();
        let mut rules = full.clone();
        rules.repositories.clear();
        a.update(part(Part::Rules(Box::new(rules))));
        // The rules are on screen while the repositories load.
        let s = screen(&a);
        assert!(s.contains("Rules: 2 in 1 region(s)"), "{s}");
        assert!(s.contains("loading 0/0 repositories counted"), "{s}");
        assert!(s.contains("Cached under echo/ (0)"), "{s}");
        // The busiest first (one query), before the listing reaches them.
        a.update(part(Part::Busiest(vec![("echo/b".into(), 48)])));
        assert!(screen(&a).contains("Cached under echo/ (1)"));
        assert_eq!(a.dashboard.visible_repos()[0].pull_count_30d, 48);
        // A listing page: the busiest row keeps its place and its hint until counted.
        let page: Vec<RepositoryInfo> = full
            .repositories
            .iter()
            .map(|r| RepositoryInfo {
                pull_count_30d: 0,
                pulls_by_day: vec![],
                details: None,
                ..r.clone()
            })
            .collect();
        a.update(part(Part::Repositories(page)));
        let names: Vec<(&str, u64)> = a
            .dashboard
            .visible_repos()
            .iter()
            .map(|r| (r.name.as_str(), r.pull_count_30d))
            .collect();
        assert_eq!(names, [("echo/b", 48), ("echo/a", 0), ("echo/c", 0)]);
        a.update(part(Part::Counts(vec![
            ("echo/a".into(), vec![2, 3]),
            ("echo/b".into(), vec![50]),
        ])));
        let s = screen(&a);
        assert!(s.contains("loading 2/3 repositories counted"), "{s}");
        assert_eq!(a.dashboard.visible_repos()[0].pull_count_30d, 50);
        // The whole read: the streamed rows stay, the loading indicator goes.
        let mut whole = full.clone();
        whole.repositories.clear();
        a.update(Msg::Dashboard(Ok(account(whole))));
        assert!(a.dashboard.incoming.is_none());
        let s = screen(&a);
        assert!(!s.contains("loading"), "{s}");
        assert!(s.contains("Cached under echo/ (3)"), "{s}");
    }

    #[test]
    fn keys_do_nothing_while_the_terminal_is_too_small() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(account(observed()))));
        a.update(Msg::Resize(70, 20));
        assert!(key(&mut a, KeyCode::Char('t')).is_empty());
        assert!(key(&mut a, KeyCode::Char('q')).is_empty());
        assert_eq!(a.screen, Screen::Dashboard);
        a.update(Msg::Resize(100, 30));
        key(&mut a, KeyCode::Char('t'));
        assert_eq!(a.screen, Screen::Teardown);
    }
}

/// The latest validation of a rule, whoever ran it (apply, diagnose, the dashboard's
/// refresh), and the copy key on every screen users copy from.
mod checked_and_copied {
    use super::*;
    use crate::core::checks::{Check, Status};
    use crate::core::model::ManagedBy;
    use crate::tui::screens::dashboard::{CheckedBy, RuleCheck};

    fn key(a: &mut App, c: char) -> Vec<Effect> {
        a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    fn rule(prefix: &str, upstream: &str, role: Option<&str>) -> CacheRule {
        CacheRule {
            prefix: prefix.into(),
            upstream_registry: upstream.into(),
            upstream_url: "registry-1.docker.io".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: role.map(str::to_string),
            credential_arn: None,
            created_at: None,
            managed_by: ManagedBy::EchoOnboard,
            owner_proof: String::new(),
        }
    }

    fn dashboard(rules: Vec<CacheRule>) -> App {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.session.identity = Some(Identity {
            account: "210987654321".into(),
            arn: "arn:aws:sts::210987654321:user/me".into(),
        });
        a.screen = Screen::Dashboard;
        a.update(Msg::Dashboard(Ok(account(Observed {
            identity: a.session.identity.clone().unwrap(),
            region: "eu-west-1".into(),
            rules,
            role: None,
            roles: vec![],
            repositories: vec![],
            cache: Default::default(),
            secret: None,
        }))));
        a
    }

    fn key_of(prefix: &str) -> (String, String) {
        ("eu-west-1".into(), prefix.into())
    }

    #[test]
    fn apply_and_diagnose_results_are_the_dashboards_latest() {
        let mut a = dashboard(vec![rule("docker-hub", "docker-hub", None)]);
        let t0 = a.now;
        // Apply validated the Docker Hub rule (the refresh checks only ECR upstreams).
        a.update(Msg::Validated(key_of("docker-hub"), RuleCheck::Valid));
        let c = &a.dashboard.checks[&key_of("docker-hub")];
        assert_eq!(
            (c.by, &c.check, c.at),
            (CheckedBy::Apply, &RuleCheck::Valid, t0)
        );

        // Two minutes later the diagnostics find it invalid: that is the latest word.
        a.update(Msg::Tick(t0 + chrono::Duration::minutes(2)));
        a.diagnostics = Some(DiagScreen::new("eu-west-1", "docker-hub"));
        a.update(Msg::Diagnosed(Shared::new(Report {
            checks: vec![Check::new(
                "validate",
                "ECR validation",
                Status::Fail,
                "ValidatePullThroughCacheRule: not valid: denied",
            )],
            observed: None,
            plan: None,
        })));
        let c = &a.dashboard.checks[&key_of("docker-hub")];
        assert_eq!(c.by, CheckedBy::Diagnose);
        assert!(matches!(&c.check, RuleCheck::Invalid(w) if w.contains("denied")));

        // A refresh answer that was asked before (stamped earlier) does not replace it.
        a.dashboard.checked(
            key_of("docker-hub"),
            RuleCheck::Valid,
            CheckedBy::Refresh,
            t0,
        );
        assert_eq!(
            a.dashboard.checks[&key_of("docker-hub")].by,
            CheckedBy::Diagnose
        );
        // A later refresh does.
        a.update(Msg::Tick(t0 + chrono::Duration::minutes(3)));
        a.update(Msg::Validations(vec![(
            key_of("docker-hub"),
            RuleCheck::Valid,
        )]));
        let c = &a.dashboard.checks[&key_of("docker-hub")];
        assert_eq!((c.by, &c.check), (CheckedBy::Refresh, &RuleCheck::Valid));
    }

    #[test]
    fn c_copies_the_role_arn_on_the_dashboard() {
        let arn = "arn:aws:iam::210987654321:role/echo-pullthrough-cache-role";
        let mut a = dashboard(vec![rule("echo", "ecr", Some(arn))]);
        assert_eq!(key(&mut a, 'c'), vec![Effect::Copy(arn.into())]);
        assert_eq!(
            a.dashboard.copied.as_deref(),
            Some(&*format!("role ARN {arn}"))
        );
        // A rule without a role copies where to pull from.
        let mut a = dashboard(vec![rule("docker-hub", "docker-hub", None)]);
        assert_eq!(
            key(&mut a, 'c'),
            vec![Effect::Copy(
                "210987654321.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/".into()
            )]
        );
        // No rule, nothing to copy.
        let mut a = dashboard(vec![]);
        assert!(key(&mut a, 'c').is_empty());
    }

    #[test]
    fn c_copies_the_bundle_path_once_written_and_the_commands_on_done() {
        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Diagnostics;
        a.diagnostics = Some(DiagScreen::new("eu-west-1", "echo"));
        assert!(key(&mut a, 'c').is_empty(), "no bundle yet");
        a.update(Msg::BundleWritten(Ok(
            "/tmp/echo-onboard-bundle.json".into()
        )));
        assert_eq!(
            key(&mut a, 'c'),
            vec![Effect::Copy("/tmp/echo-onboard-bundle.json".into())]
        );
        assert!(a.diagnostics.as_ref().unwrap().copied);

        let mut a = App::new(Prefs::default(), Utc::now());
        a.screen = Screen::Done;
        assert!(key(&mut a, 'c').is_empty(), "no commands yet");
        a.done.usage = vec!["docker pull x".into(), "docker login y".into()];
        assert_eq!(
            key(&mut a, 'c'),
            vec![Effect::Copy("docker pull x\ndocker login y".into())]
        );
    }

    /// The copy key is the same wherever users copy, and the footer names it.
    #[test]
    fn the_copy_key_is_c_everywhere_and_in_the_footer() {
        use crate::tui::keys::{DASHBOARD, DIAGNOSTICS, DONE};
        for table in [DASHBOARD, DIAGNOSTICS, DONE] {
            let b = table
                .iter()
                .find(|b| b.cmd == Cmd::Copy)
                .expect("a copy key");
            assert_eq!((b.label, b.short), ("c", "copy"));
        }
    }
}
