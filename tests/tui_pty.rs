//! The real binary in a pseudo-terminal, driven by keystrokes and read back through a VT100
//! parser: the wizard in the sandbox and against the emulator, inline validation, and terminal
//! restoration on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const ENTER: &str = "\r";

struct Tui {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tui {
    fn spawn(args: &[&str], env: &[(&str, &str)], home: &std::path::Path) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 30,
                cols: 100,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_echo-onboard"));
        cmd.args(args);
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join("config"));
        cmd.env("XDG_STATE_HOME", home.join("state"));
        cmd.env("AWS_CONFIG_FILE", home.join("aws-config"));
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"));
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(30, 100, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Tui {
            child,
            writer,
            parser,
            raw,
            master: pair.master,
        }
    }

    /// Resizes the terminal (the program gets SIGWINCH) and the screen model with it.
    fn resize(&self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        self.parser.lock().unwrap().set_size(rows, cols);
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if self.screen().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {text:?}; the screen shows:\n{}",
            self.screen()
        );
    }

    fn wait_for_gone(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !self.screen().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{text:?} is still on screen:\n{}", self.screen());
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        // Let the app read each batch of keys as a user would type them.
        std::thread::sleep(Duration::from_millis(150));
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the TUI did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The sandbox wizard past the profile and region steps, at the Echo-account step.
fn sandbox_at_echo_step(home: &std::path::Path) -> Tui {
    let mut t = Tui::spawn(&["--sandbox"], &[], home);
    t.wait_for("simulated account");
    t.send(ENTER);
    t.wait_for("Regions with ECR pull-through cache");
    t.send(ENTER);
    t.wait_for("Echo account id");
    t
}

/// With a valid Echo account typed: the defaults applied, then the dashboard.
fn apply_defaults_then_dashboard(t: &mut Tui) {
    t.send(ENTER);
    t.wait_for("Cache settings (ctrl-k)");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send(ENTER);
    t.wait_for("pull-through-cache-rule echo");
    t.send(ENTER);
    t.wait_for("Applied:");
    t.send(ENTER);
    t.wait_for("Log in and pull");
    t.send("d");
}

/// From the Echo-account step: Echo's rule with the defaults, then the dashboard.
fn echo_rule_then_dashboard(t: &mut Tui) {
    t.send("111122223333");
    t.wait_for("✓");
    apply_defaults_then_dashboard(t);
}

/// From the Echo-account step to the Plan screen with the defaults.
fn wizard_to_plan(t: &mut Tui) {
    t.wait_for("Echo account id");
    t.send("111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    t.wait_for("existing rule(s) here");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send(ENTER);
    t.wait_for("Plan: 2 to create");
}

/// From the Echo-account step to the Done screen with the defaults.
fn wizard_from_echo_step(t: &mut Tui) {
    wizard_to_plan(t);
    t.send(ENTER);
    t.wait_for("Applied:");
    t.send(ENTER);
    t.wait_for("Log in and pull");
}

#[test]
fn sandbox_wizard_to_done_then_dashboard_shows_the_new_rule() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    wizard_from_echo_step(&mut t);
    assert!(
        t.screen().contains(
            "docker pull 210987654321.dkr.ecr.eu-west-1.amazonaws.com/echo/<image>:<tag>"
        ),
        "{}",
        t.screen()
    );
    // `c` puts the commands on the clipboard with OSC 52 (base64 of the lines).
    t.send("c");
    t.wait_for("Copied to the clipboard");
    {
        use base64::Engine;
        let raw = String::from_utf8_lossy(&t.raw.lock().unwrap()).to_string();
        let start = raw.find("\x1b]52;c;").expect("an OSC 52 sequence") + 7;
        let end = start + raw[start..].find('\x07').unwrap();
        let copied = base64::engine::general_purpose::STANDARD
            .decode(&raw[start..end])
            .unwrap();
        let copied = String::from_utf8(copied).unwrap();
        assert!(
            copied.starts_with("aws ecr get-login-password --region eu-west-1 | docker login"),
            "{copied}"
        );
        assert!(
            copied.contains(
                "\ndocker pull 210987654321.dkr.ecr.eu-west-1.amazonaws.com/echo/<image>:<tag>"
            ),
            "{copied}"
        );
    }
    // Prove it works: a test pull from the Done screen (the sandbox simulates Echo's side).
    t.send("v");
    t.wait_for("Pull a test image through echo/");
    t.send("nginx:1.27");
    t.send(ENTER);
    t.wait_for("✓ nginx:1.27 pulled in");
    t.wait_for("echo/nginx (created by this pull)");
    t.send("\x1b");
    t.wait_for_gone("Pull a test image");
    t.send("d");
    t.wait_for("Rules: 3 in 17 region(s)");
    t.wait_for("✓ valid");
    let screen = t.screen();
    let row = screen
        .lines()
        .find(|l| l.contains("✓ echo "))
        .unwrap_or_else(|| panic!("no row for the new rule:\n{screen}"));
    assert!(row.contains("eu-west-1"), "{row}");
    assert!(screen.contains("made by echo-onboard"), "{screen}");
    // The new rule is selected, its details whole in the detail pane.
    assert!(screen.contains(" echo/ in eu-west-1 "), "{screen}");
    assert!(
        screen.contains("111122223333.dkr.ecr.us-east-1.amazonaws.com"),
        "{screen}"
    );
    // No text field here: `?` is help.
    t.send("?");
    t.wait_for("Keys: dashboard");
    t.send(" ");
    t.wait_for_gone("Keys: dashboard");
    // The new rule is selected: diagnose it, and write the support bundle with one key.
    t.send("x");
    t.wait_for("Diagnostics for echo/");
    t.wait_for("Rule quota");
    assert!(
        t.screen().contains("PASS  Pull-through cache rule"),
        "{}",
        t.screen()
    );
    t.send("b");
    t.wait_for("Support bundle written to");
    let dir = home.path().join("state/echo-onboard");
    let bundle = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("echo-onboard-bundle-")
        })
        .expect("bundle file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        bundle.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    let content = std::fs::read_to_string(bundle.path()).unwrap();
    assert!(content.contains("\"summary_markdown\""));
    t.send("\x1b");
    t.wait_for("Rules: 3 in");
    t.send("q");
    assert!(t.wait_exit().success());
    // Choices are remembered for next time.
    let prefs =
        std::fs::read_to_string(home.path().join("config/echo-onboard/last-choices.json")).unwrap();
    assert!(
        prefs.contains("111122223333") && prefs.contains("eu-west-1"),
        "{prefs}"
    );
}

#[test]
fn sandbox_cache_settings_step_reaches_the_plan_and_applies() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    t.send("111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Cache settings (ctrl-k): ECR defaults");
    t.send("\x0b"); // ctrl-k
    t.wait_for("Immutable tags");
    // A repository policy file: read when the plan starts, checked by the engine.
    let policy = home.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:BatchGetImage"]}]}"#,
    )
    .unwrap();
    // Immutable tags but latest*, expire untagged after 14 days, the policy, basic scanning,
    // archive after 60 days and expire archived after 180, one pull-time exclusion.
    t.send(&format!(
        "\x7f\x7fyes\tlatest*\t14\t\t\t\t{}\t\x7f\x7fbasic\t60\t180\tarn:aws:iam::111122223333:role/scanner",
        policy.display()
    ));
    t.wait_for("role/scanner");
    t.send("\x0b");
    t.wait_for("immutable tags but latest*, expire untagged after 14 days");
    t.wait_for("1 pull-time exclusion");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send(ENTER);
    t.wait_for("repository-creation-template echo");
    t.send("G"); // to the end of the plan
    t.wait_for("repository_policy");
    t.wait_for("registry-scanning-filter echo/*");
    t.wait_for("pull-time-exclusion arn:aws:iam::111122223333:role/scanner");
    t.send(ENTER);
    t.wait_for("Applied: 4 created, 1 updated");
    t.send(ENTER);
    t.wait_for("Log in and pull");
    // The dashboard's detail pane shows the new rule's template and scanning.
    t.send("d");
    t.wait_for("template immutable tags, AES256");
    t.send("i"); // the details full-screen
    t.wait_for("scanning on push");
    t.send("q"); // closes the details
    t.wait_for_gone("scanning on push");
    t.send("q");
    assert!(t.wait_exit().success());
}

#[test]
fn sandbox_dashboard_adds_a_docker_hub_upstream_with_a_masked_token() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    echo_rule_then_dashboard(&mut t);
    t.wait_for("u upstream");
    t.send("u");
    t.wait_for("Add another upstream");
    t.wait_for("◂ docker-hub ▸");
    // The demo account already has a docker-hub rule (someone else's): use another prefix.
    t.send("\t");
    t.send(&"\x7f".repeat("docker-hub".len()));
    t.send("hub");
    t.wait_for("ecr-pullthroughcache/hub");
    t.send(ENTER); // points at the missing user name
    t.send("echo-ci\tdckr_pat_PTYSECRET");
    t.wait_for(&"•".repeat("dckr_pat_PTYSECRET".len()));
    assert!(!t.screen().contains("PTYSECRET"));
    t.send(ENTER);
    t.wait_for("secret ecr-pullthroughcache/hub");
    assert!(!t.screen().contains("PTYSECRET"), "{}", t.screen());
    t.send(ENTER);
    t.wait_for("Applied: 3 created");
    t.send(ENTER);
    t.wait_for("Log in and pull");
    t.send("d");
    // The new rule's row: the prefix, padded to the widest prefix (docker-hub), then the region.
    t.wait_for(&format!("hub{}eu-west-1", " ".repeat(8)));
    assert!(!t.screen().contains("PTYSECRET"));
    t.send("q");
    assert!(t.wait_exit().success());
}

/// Editing in the middle of a field (the cursor is drawn where the insertion point is,
/// ctrl-u clears), then `/` on the dashboard filters the rules, and the repositories.
#[test]
fn sandbox_cursor_editing_mid_field_and_the_dashboard_filter() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    t.send("x");
    t.wait_for("0-9 only");
    t.send("\x15"); // ctrl-u: the whole field
    t.wait_for_gone("0-9 only");
    t.send("11112222333");
    t.send("\x1b[D\x1b[D\x1b[D"); // three to the left
    t.wait_for("11112222▏333");
    t.send("3");
    t.wait_for("111122223▏333");
    t.wait_for("✓");
    apply_defaults_then_dashboard(&mut t);
    t.wait_for("ecr-public");
    t.send("/");
    t.wait_for("/ filter rules:");
    t.send("ecr-p");
    t.wait_for("Rules: 1 of 3 · /ecr-p");
    t.send(ENTER);
    t.wait_for_gone("docker-hub ");
    assert!(t.screen().contains("ecr-public"), "{}", t.screen());
    t.send("/");
    t.send("\x1b"); // esc clears the filter
    t.wait_for("docker-hub ");
    // The repositories pane filters too: docker-hub's rule, then its cached repositories.
    t.send("/");
    t.send("docker");
    t.send(ENTER);
    t.wait_for("Cached under docker-hub/ (3)");
    t.send("\t");
    t.send("/");
    t.wait_for("/ filter repositories:");
    t.send("\x15red"); // one filter at a time: ctrl-u, then the repositories'

    t.send(ENTER);
    t.wait_for("Cached under docker-hub/ (1)");
    let screen = t.screen();
    assert!(
        screen.contains("docker-hub/library/redis") && !screen.contains("docker-hub/library/nginx"),
        "{screen}"
    );
    t.send("q");
    assert!(t.wait_exit().success());
}

/// `u` over a prefix another team's rule uses (the demo account's docker-hub rule): the plan
/// blocks and says whose it is, and nothing is claimed.
#[test]
fn sandbox_upstream_over_someone_elses_rule_shows_the_blocker() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    echo_rule_then_dashboard(&mut t);
    t.wait_for("u upstream");
    t.send("u");
    t.wait_for("◂ docker-hub ▸");
    t.send("\t\t");
    t.send("echo-ci\tdckr_pat_PTYSECRET");
    t.send(ENTER);
    t.wait_for("does not claim it");
    assert!(!t.screen().contains("Applied"), "{}", t.screen());
    t.send("\x03");
    assert!(t.wait_exit().success());
}

/// "Many accounts" from the method step: plan, apply to 2 accounts × 2 regions of the
/// sandbox's organization with progress per instance, the live status (an account without a
/// read role is shown, not dropped), and teardown after typing the stack set's name.
#[test]
fn sandbox_fleet_from_the_method_step_applies_shows_status_and_tears_down() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    t.send("111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send("\x1b[B\x1b[B"); // down twice: many accounts
    t.send(ENTER);
    t.wait_for("Many accounts (StackSets)");
    t.wait_for("Sandbox organization");
    // Replace the prefilled accounts by one readable and one unreadable member.
    t.send(&"\x7f".repeat("111111111111,222222222222".len()));
    t.send("111111111111,44444444");
    t.send(ENTER);
    t.wait_for("must be exactly 12 digits");
    t.send("4444\t");
    t.send(",us-east-1");
    t.send(ENTER);
    t.wait_for("Fleet plan: 4 to create");
    assert!(t.screen().contains("+ stack set echo-registry-ecr-cache"));
    t.send(ENTER);
    // StackSets reports the operation in flight first: one instance running, the rest pending.
    t.wait_for("⟳ running");
    assert!(t.screen().contains("◌ pending"), "{}", t.screen());
    t.wait_for("4 of 4 account × region instance(s) finished");
    t.wait_for("none failed");
    assert!(t.screen().contains("✓ succeeded"), "{}", t.screen());
    t.send(ENTER);
    t.wait_for("Stack set echo-registry-ecr-cache (ACTIVE), 4 instance(s)");
    t.wait_for("echo valid");
    assert!(t.screen().contains("unreadable"), "{}", t.screen());
    t.send("t");
    t.wait_for("Type the stack set's name");
    t.send("echo-registry");
    t.send(ENTER);
    t.wait_for("type the stack set's name exactly");
    t.send("-ecr-cache");
    t.send(ENTER);
    t.wait_for("deleted with its 4 instance(s)");
    // Status again: the stack set is gone.
    t.send(ENTER);
    t.wait_for("No stack set echo-registry-ecr-cache");
    t.send("\x1b");
    t.wait_for("Accounts or OUs");
    t.send("\x1b");
    t.wait_for("How should the changes be made?");
    t.send("\x03");
    assert!(t.wait_exit().success());
}

/// From the Echo-account step to the fleet form ("Many accounts" on the method step).
fn fleet_form_from_echo_step(t: &mut Tui) {
    t.send("111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send("\x1b[B\x1b[B"); // down twice: many accounts
    t.send(ENTER);
    t.wait_for("Many accounts (StackSets)");
    t.wait_for("Sandbox organization");
}

/// Each account's state on the fleet progress screen, in the order of `accounts`.
fn fleet_states(screen: &str, accounts: &[&str]) -> Vec<&'static str> {
    accounts
        .iter()
        .map(|a| {
            let line = screen
                .lines()
                .find(|l| l.contains(a) && l.contains("eu-west-1"));
            match line {
                Some(l) if l.contains("succeeded") => "succeeded",
                Some(l) if l.contains("running") => "running",
                Some(l) if l.contains("failed") => "failed",
                Some(l) if l.contains("cancelled") => "cancelled",
                Some(l) if l.contains("pending") => "pending",
                _ => "-",
            }
        })
        .collect()
}

/// The sandbox's StackSets deploys one account at a time (25 % of 3, in account order):
/// screens captured during the apply show the instances change one by one, not all at once.
/// Member 333333333333 fails its first deployment (cancelling 444444444444 after it), and `r`
/// retries just those two.
#[test]
fn sandbox_fleet_progress_changes_instance_by_instance_and_r_retries_the_failed_account() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    fleet_form_from_echo_step(&mut t);
    t.wait_for("first deployment");
    let accounts = ["111111111111", "333333333333", "444444444444"];
    t.send(&"\x7f".repeat("111111111111,222222222222".len()));
    t.send(&accounts.join(","));
    t.send(ENTER);
    t.wait_for("Fleet plan: 3 to create");
    t.send(ENTER);
    t.wait_for("account × region instance(s) finished");
    // Capture the screen as the operation runs, keeping each distinct set of states.
    let mut seen: Vec<Vec<&str>> = vec![];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let screen = t.screen();
        let states = fleet_states(&screen, &accounts);
        if seen.last() != Some(&states) {
            seen.push(states);
        }
        if screen.contains("instance(s) failed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let at = |states: &[&str]| seen.iter().position(|s| s == states);
    let first = at(&["running", "pending", "pending"]);
    let second = at(&["succeeded", "running", "pending"]);
    let end = at(&["succeeded", "failed", "cancelled"]);
    assert!(
        first.is_some() && second.is_some() && end.is_some() && first < second && second < end,
        "the instances did not change one by one: {seen:?}"
    );
    let screen = t.screen();
    assert!(
        screen.contains("FAILED: Account 333333333333 should have")
            && screen.contains("'AWSCloudFormationStackSetExecutionRole' role with trust"),
        "{screen}"
    );
    assert!(
        screen.contains("Operation 1 (sandbox-op-1): failed"),
        "{screen}"
    );
    // r plans again: only the failed and the cancelled instance are retried.
    t.send("r");
    t.wait_for("Fleet plan: 0 to create, 2 to update");
    assert!(t.screen().contains("retry: "), "{}", t.screen());
    t.send(ENTER);
    t.wait_for("none failed");
    assert_eq!(
        fleet_states(&t.screen(), &accounts[1..]),
        ["succeeded", "succeeded"],
        "{}",
        t.screen()
    );
    t.send("\x03");
    assert!(t.wait_exit().success());
}

/// The sandbox's denied prefix: the rule's creation is AccessDenied after the role was made,
/// and the apply screen shows the failure and the rollback that undid the role.
#[test]
fn sandbox_denied_prefix_fails_the_apply_and_rolls_back() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    t.send("111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    t.send("\x15denied-team");
    t.wait_for("no conflict with the");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send(ENTER);
    t.wait_for("Plan: 2 to create");
    t.send(ENTER);
    t.wait_for("Failed");
    t.wait_for("AccessDeniedException");
    t.wait_for("undo created IAM role");
    t.wait_for("Rolled back: the account is as it was before.");
    assert!(!t.screen().contains("Applied:"), "{}", t.screen());
    t.send("\x03");
    assert!(t.wait_exit().success());
}

/// A plan whose blocker is below the fold at 80×24 opens scrolled to it: the blocker is on
/// screen and the plan's first line is not. Echo's rule in eu-west-1, then a setup in
/// us-east-1 from another Echo account: IAM is global, so the role that serves eu-west-1's
/// rule cannot change for us-east-1 — the plan's policy diff comes first, the blocker last.
#[test]
fn sandbox_blocked_plan_opens_at_its_blocker() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    t.resize(80, 24);
    echo_rule_then_dashboard(&mut t);
    t.wait_for("n new");
    t.send("n");
    t.wait_for("Echo account id");
    t.send("\x1b");
    t.wait_for("Regions with ECR pull-through cache");
    t.send("us-east-1");
    t.send(ENTER);
    t.wait_for("Echo account id");
    t.send("\x15444455556666"); // ctrl-u: the remembered account goes
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    // The sandbox says how to make it fail on purpose.
    t.wait_for("a prefix starting with denied is denied");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    t.send(ENTER);
    t.wait_for("blocked:");
    let screen = t.screen();
    assert!(
        !screen.contains("Plan for account"),
        "the plan did not open at its blocker:\n{screen}"
    );
    // Its top is still there, above.
    t.send("g");
    t.wait_for("Plan for account");
    t.send("\x03");
    assert!(t.wait_exit().success());
}

#[test]
fn invalid_echo_account_is_shown_inline_and_blocks_the_step() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Tui::spawn(&["--sandbox"], &[], home.path());
    t.wait_for("simulated account");
    t.send(ENTER);
    t.wait_for("Regions with ECR");
    t.send(ENTER);
    t.wait_for("Echo account id");
    t.send("12345");
    t.wait_for("must be exactly 12 digits, got 5 (example: 123456789012)");
    t.send(ENTER);
    std::thread::sleep(Duration::from_millis(300));
    let screen = t.screen();
    assert!(
        screen.contains("step 3/8"),
        "still on the Echo step:\n{screen}"
    );
    assert!(!screen.contains("Prefix and options"));
    t.send("\x03");
    assert!(t.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn emulator_wizard_with_api_method_then_teardown_from_the_dashboard() {
    let emu = Emulator::start();
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", REGION),
        ("AWS_ENDPOINT_URL", emu.endpoint.as_str()),
    ];
    let mut t = Tui::spawn(&[], &env, home.path());
    t.wait_for("environment credentials");
    t.send(ENTER);
    t.wait_for("arn:aws:sts::123456789012:user/moto");
    t.wait_for("Regions with ECR");
    t.send(ENTER);
    wizard_from_echo_step(&mut t);

    // Checked through the AWS API, not the screen.
    let conf = emu.sdk().await;
    let rules = aws_sdk_ecr::Client::new(&conf)
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    let rule = &rules.pull_through_cache_rules()[0];
    assert_eq!(rule.ecr_repository_prefix(), Some("echo"));
    assert_eq!(
        rule.custom_role_arn(),
        Some("arn:aws:iam::123456789012:role/echo-pullthrough-cache-role")
    );
    let iam = aws_sdk_iam::Client::new(&conf);
    assert!(iam.get_role().role_name(ROLE).send().await.is_ok());

    t.send("d");
    t.wait_for("Rules: 1 in 17 region(s)");
    t.send("t");
    t.wait_for("Type the prefix echo");
    t.send(ENTER);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !t.screen().contains("Deleting"),
        "nothing happens without the typed prefix"
    );
    t.send("echo");
    t.send(ENTER);
    t.wait_for("Deleted: pull-through-cache-rule echo, iam-role echo-pullthrough-cache-role");
    let rules = aws_sdk_ecr::Client::new(&conf)
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    assert!(rules.pull_through_cache_rules().is_empty());
    assert!(iam.get_role().role_name(ROLE).send().await.is_err());
    t.send(ENTER);
    t.wait_for("No pull-through cache rules in account 123456789012");
    t.send("q");
    assert!(t.wait_exit().success());
}

#[test]
fn sigterm_restores_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Tui::spawn(&["--sandbox"], &[], home.path());
    t.wait_for("simulated account");
    {
        let p = t.parser.lock().unwrap();
        assert!(
            p.screen().alternate_screen(),
            "the TUI runs on the alternate screen"
        );
        assert_ne!(
            p.screen().mouse_protocol_mode(),
            vt100::MouseProtocolMode::None,
            "mouse capture is on"
        );
    }
    let pid = t.child.process_id().unwrap();
    // SAFETY: sending a signal to our own child process; no memory is involved.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM delivered");
    t.wait_exit();
    let p = t.parser.lock().unwrap();
    assert!(!p.screen().alternate_screen(), "left the alternate screen");
    assert!(!p.screen().hide_cursor(), "cursor shown again");
    assert_eq!(
        p.screen().mouse_protocol_mode(),
        vt100::MouseProtocolMode::None,
        "mouse capture off"
    );
    let raw = String::from_utf8_lossy(&t.raw.lock().unwrap()).to_string();
    assert!(
        raw.contains("\x1b[?1049l"),
        "leave-alternate-screen was sent"
    );
}

/// The key model: printable characters go to a focused field (`?` too), F1 is help there;
/// `?` is help where no field has focus.
#[test]
fn question_mark_types_into_fields_and_f1_is_help() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    assert!(t.screen().contains("F1 help"), "{}", t.screen());
    t.send("1?");
    t.wait_for("1?");
    assert!(!t.screen().contains("any key closes"));
    t.send("\x1bOP"); // F1
    t.wait_for("any key closes");
    t.send(" ");
    t.wait_for_gone("any key closes");
    // On a screen without text fields `?` is help.
    t.send("\x7f\x7f111122223333");
    t.wait_for("✓");
    t.send(ENTER);
    t.wait_for("Prefix and options");
    t.send(ENTER);
    t.wait_for("How should the changes be made?");
    assert!(t.screen().contains("? help"), "{}", t.screen());
    t.send("?");
    t.wait_for("any key closes");
}

/// Behind "terminal too small" no key acts; growing back shows the same screen.
#[test]
fn keys_do_nothing_while_the_terminal_is_too_small_and_the_timer_stops() {
    let home = tempfile::tempdir().unwrap();
    let mut t = sandbox_at_echo_step(home.path());
    wizard_to_plan(&mut t);
    t.resize(60, 15);
    t.wait_for("Terminal too small");
    t.send(ENTER);
    std::thread::sleep(Duration::from_millis(500));
    t.resize(100, 30);
    t.wait_for("Plan: 2 to create");
    assert!(
        t.screen().contains("Nothing has changed yet"),
        "{}",
        t.screen()
    );
    // Now enter applies; when it is done the clock stops.
    t.send(ENTER);
    t.wait_for("Applied ·");
    let title = |s: String| {
        s.lines()
            .find(|l| l.contains("Applied ·"))
            .map(str::to_string)
            .unwrap()
    };
    let first = title(t.screen());
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(title(t.screen()), first, "the apply timer stopped");
}
