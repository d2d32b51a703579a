//! End-to-end figures of the shipped binary (release profile) against the AWS emulator, with
//! 0 and 50 ms of latency added to every AWS call. Prints a table; asserts nothing.
//!
//! Run: `cargo bench --bench e2e` (needs the emulator's virtualenv, created on first use).
//! Figures: setup (API method) vs the AWS CLI sequence a user would otherwise type; plan and
//! teardown; status at 500 and 5,000 cached repositories (`--summary` and with image details);
//! the TUI's first frame in the sandbox; peak memory; the binary's size.

#[path = "../common/mod.rs"]
mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_echo-onboard");

struct Run {
    ms: f64,
    calls: u64,
    peak_rss_mib: f64,
}

/// Runs the binary against the emulator; wall time, AWS calls and the child's peak RSS.
// The child is reaped by wait4 (which also gives its own peak RSS), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run(emu: &Emulator, args: &[&str]) -> Run {
    emu.reset_calls();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("ECHO_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", emu.home.path())
        .env("XDG_CONFIG_HOME", emu.home.path().join("config"))
        .env("XDG_STATE_HOME", emu.home.path().join("state"))
        .env("AWS_CONFIG_FILE", emu.home.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            emu.home.path().join("aws-creds"),
        )
        .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let (ok, rss_kib) = wait_with_rusage(child.id() as i32);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert!(ok, "{args:?} failed: {stderr}");
    Run {
        ms,
        calls: emu.calls().0,
        peak_rss_mib: rss_kib as f64 / 1024.0,
    }
}

/// Waits for the child and returns whether it succeeded and its own peak RSS (KiB).
fn wait_with_rusage(pid: i32) -> (bool, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, status and usage are valid for writes.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    )
}

fn aws_cli(emu: &Emulator, args: &[&str]) {
    let out = Command::new(venv_tool("aws"))
        .args(args)
        .args(["--endpoint-url", &emu.endpoint, "--region", REGION])
        .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The manual setup from Echo's guide, one AWS CLI process per step.
fn aws_cli_setup(emu: &Emulator) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    std::fs::write(&trust, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#).unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchImportUpstreamImage"],"Resource":"arn:aws:ecr:us-east-1:{ECHO_ACCOUNT}:repository/*"}},{{"Effect":"Allow","Action":["ecr:CreateRepository","ecr:BatchImportUpstreamImage","ecr:PutImage"],"Resource":"arn:aws:ecr:*:{OWN_ACCOUNT}:repository/echo/*"}}]}}"#)).unwrap();
    emu.reset_calls();
    let start = Instant::now();
    let role = "echo-pullthrough-cache-role";
    aws_cli(
        emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            role,
            "--assume-role-policy-document",
            &format!("file://{}", trust.display()),
        ],
    );
    aws_cli(
        emu,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            role,
            "--policy-name",
            "echo-pullthrough-cache-policy",
            "--policy-document",
            &format!("file://{}", policy.display()),
        ],
    );
    aws_cli(
        emu,
        &[
            "ecr",
            "create-pull-through-cache-rule",
            "--ecr-repository-prefix",
            "echo",
            "--upstream-registry-url",
            &format!("{ECHO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"),
            "--upstream-registry",
            "ecr",
            "--custom-role-arn",
            &format!("arn:aws:iam::{OWN_ACCOUNT}:role/{role}"),
        ],
    );
    aws_cli(
        emu,
        &[
            "ecr",
            "validate-pull-through-cache-rule",
            "--ecr-repository-prefix",
            "echo",
        ],
    );
    Run {
        ms: start.elapsed().as_secs_f64() * 1000.0,
        calls: emu.calls().0,
        peak_rss_mib: 0.0,
    }
}

const SETUP: &[&str] = &["apply", "--echo-account", ECHO_ACCOUNT, "--yes", "--json"];

/// moto loads each service on its first request (seconds): a throwaway setup and teardown
/// first, so the figures are the tool's and the latency's, not the emulator's start-up.
fn warm(emu: &Emulator) -> &Emulator {
    let prefix = ["--prefix", "warmup", "--role-name", "warmup-role"];
    run(emu, &[SETUP, &prefix[..]].concat());
    run(
        emu,
        &[&["teardown", "--yes", "--json"][..], &prefix[..]].concat(),
    );
    run(emu, &["status", "--json"]);
    emu
}

fn row(what: &str, latency: u64, r: &Run) {
    println!(
        "| {what:<52} | {latency:>5} ms | {:>9.0} ms | {:>6} | {:>8.1} MiB |",
        r.ms, r.calls, r.peak_rss_mib
    );
}

/// Time until the wizard's first frame is on the terminal (sandbox, pseudo-terminal).
fn first_frame_ms() -> (f64, f64) {
    use portable_pty::{native_pty_system, CommandBuilder, PtySize};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = CommandBuilder::new(BIN);
    cmd.arg("--sandbox");
    cmd.env("HOME", home.path());
    cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
    cmd.env("XDG_STATE_HOME", home.path().join("state"));
    cmd.env("TERM", "xterm-256color");
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("AWS_CONFIG_FILE", home.path().join("aws-config"));
    cmd.env(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.path().join("aws-credentials"),
    );
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    let start = Instant::now();
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The screen as a terminal shows it (the bytes are interleaved with escape codes).
        let mut screen = vt100::Parser::new(40, 120, 0);
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.process(&buf[..n]);
            if screen.screen().contents().contains(" · ") {
                let _ = tx.send(());
                break;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_millis(300));
    let rss = child
        .process_id()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let _ = child.kill();
    (ms, rss / 1024.0)
}

/// The release binary's budget (README: Speed).
const BINARY_BUDGET_BYTES: u64 = 10_000_000;
/// `status --summary` may take at most this multiple of the listing pages alone.
const STATUS_BUDGET_RATIO: f64 = 1.3;

/// The machine the figures come from: CPU model, cores, memory, kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB, {kernel}")
}

/// The listing floor: the sequential `DescribeRepositories` pages of 1,000 alone, through the
/// SDK against the same emulator at the same latency.
fn listing_floor_ms(emu: &Emulator) -> (f64, u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
        let start = Instant::now();
        let mut token = None;
        let mut pages = 0;
        loop {
            let out = ecr
                .describe_repositories()
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            pages += 1;
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        (start.elapsed().as_secs_f64() * 1000.0, pages)
    })
}

fn binary_size() {
    let size = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary: {BIN}: {:.1} MB ({} bytes), budget {:.1} MB: {}",
        size as f64 / 1_000_000.0,
        size,
        BINARY_BUDGET_BYTES as f64 / 1_000_000.0,
        if size <= BINARY_BUDGET_BYTES {
            "within"
        } else {
            "OVER BUDGET"
        }
    );
}

/// `status --summary` at 5,000 and 50,000 cached repositories at 50 ms per call, with the
/// listing floor beside it and the 1.3x budget.
fn status_against_the_floor() {
    println!("| cached repositories | status --summary | AWS calls | listing floor (pages) | ratio | budget |");
    println!("|---:|---:|---:|---:|---:|---|");
    for repos in [5000usize, 50_000] {
        if std::env::var("ECHO_BENCH_ONLY").is_ok_and(|n| n != repos.to_string()) {
            continue;
        }
        let emu = Emulator::start();
        run(warm(&emu), SETUP);
        emu.seed_cached("echo", repos);
        emu.network_latency(50);
        let (floor, pages) = listing_floor_ms(&emu);
        let r = run(&emu, &["status", "--summary", "--json"]);
        let ratio = r.ms / floor;
        println!(
            "| {repos} | {:.0} ms | {} | {floor:.0} ms ({pages}) | {ratio:.2}x | {} |",
            r.ms,
            r.calls,
            if ratio <= STATUS_BUDGET_RATIO {
                "within 1.3x"
            } else {
                "OVER 1.3x"
            }
        );
    }
}

/// The dashboard's budgets (README: Speed): the rules on screen, the first repository rows,
/// and the TUI's peak resident memory.
const RULES_BUDGET_MS: f64 = 500.0;
const FIRST_ROWS_BUDGET_MS: f64 = 1000.0;
const DASHBOARD_RSS_BUDGET_MIB: f64 = 100.0;

struct DashboardRun {
    rules_ms: f64,
    rows_ms: f64,
    whole_ms: f64,
    peak_rss_mib: f64,
}

fn kib_field(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// The TUI against the emulator in a pseudo-terminal, opening straight on the dashboard (a
/// remembered profile and region, as on a second run): the time from launch until the rules
/// are on screen, until the first repository rows are, and until the whole read is in; the
/// process's peak RSS once the whole read is in and the image details have been reading in
/// the background for two seconds.
fn dashboard_run(emu: &Emulator) -> DashboardRun {
    use portable_pty::{native_pty_system, CommandBuilder, PtySize};
    let (rows, cols) = (40, 120);
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::create_dir_all(config.join("echo-onboard")).unwrap();
    std::fs::write(
        config.join("echo-onboard/last-choices.json"),
        format!(r#"{{"profile":"environment credentials","region":"{REGION}"}}"#),
    )
    .unwrap();
    let mut cmd = CommandBuilder::new(BIN);
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("TERM", "xterm-256color");
    cmd.env("HOME", home.path());
    cmd.env("XDG_CONFIG_HOME", &config);
    cmd.env("XDG_STATE_HOME", home.path().join("state"));
    cmd.env("AWS_CONFIG_FILE", home.path().join("aws-config"));
    cmd.env(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.path().join("aws-credentials"),
    );
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01");
    cmd.env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd.env("AWS_REGION", REGION);
    cmd.env("AWS_ENDPOINT_URL", &emu.endpoint);
    let start = Instant::now();
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    let pid = child.process_id().unwrap();
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The screen as a terminal shows it; each milestone once, timed as it is drawn.
        let mut screen = vt100::Parser::new(rows, cols, 0);
        let mut buf = [0u8; 65536];
        let mut seen = [false; 3];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.process(&buf[..n]);
            let text = screen.screen().contents();
            let milestones = [
                text.contains("Rules: 1 in"),
                text.contains("echo/image-"),
                text.contains("updated ") && !text.contains("loading"),
            ];
            for (i, reached) in milestones.into_iter().enumerate() {
                if reached && !seen[i] {
                    seen[i] = true;
                    let _ = tx.send((i, start.elapsed().as_secs_f64() * 1000.0));
                }
            }
        }
    });
    let mut at = [f64::NAN; 3];
    while at.iter().any(|t| t.is_nan()) {
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok((i, ms)) => at[i] = ms,
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let peak = kib_field(pid, "VmHWM:") / 1024.0;
    let _ = child.kill();
    let _ = child.wait();
    DashboardRun {
        rules_ms: at[0],
        rows_ms: at[1],
        whole_ms: at[2],
        peak_rss_mib: peak,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "OVER"
    }
}

/// The dashboard at 5,000 and 50,000 cached repositories at 50 ms per call, against its
/// budgets: rules within 0.5 s, first repository rows within 1 s, under 100 MiB resident.
fn dashboard_against_the_budgets() {
    println!("| cached repositories | rules on screen | first repository rows | whole read | peak RSS | budgets (0.5 s / 1 s / 100 MiB) |");
    println!("|---:|---:|---:|---:|---:|---|");
    for repos in [5000usize, 50_000] {
        if std::env::var("ECHO_BENCH_ONLY").is_ok_and(|n| n != repos.to_string()) {
            continue;
        }
        let emu = Emulator::start();
        run(warm(&emu), SETUP);
        // The dashboard reads every region: moto's start-up in each, before the figures.
        run(&emu, &["status", "--all-regions", "--summary", "--json"]);
        emu.seed_cached("echo", repos);
        emu.network_latency(50);
        let d = dashboard_run(&emu);
        println!(
            "| {repos} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} MiB | {} / {} / {} |",
            d.rules_ms,
            d.rows_ms,
            d.whole_ms,
            d.peak_rss_mib,
            verdict(d.rules_ms <= RULES_BUDGET_MS),
            verdict(d.rows_ms <= FIRST_ROWS_BUDGET_MS),
            verdict(d.peak_rss_mib <= DASHBOARD_RSS_BUDGET_MIB),
        );
    }
}

fn main() {
    println!("echo-onboard end-to-end benchmark (release binary against the emulator)");
    println!("machine: {}", machine());
    binary_size();
    match std::env::var("ECHO_BENCH").as_deref() {
        // The budgets only (the README's check): size above, status against the floor, the
        // dashboard against its budgets.
        Ok("budgets") => {
            status_against_the_floor();
            println!();
            dashboard_against_the_budgets();
            return;
        }
        Ok("dashboard") => return dashboard_against_the_budgets(),
        Ok("status") => return status_against_the_floor(),
        _ => {}
    }
    println!();
    println!("| what | latency | time | AWS calls | peak RSS |");
    println!("|---|---:|---:|---:|---:|");
    for latency in [0u64, 50] {
        let emu = Emulator::start();
        warm(&emu).network_latency(latency);
        row(
            "setup: echo-onboard apply (API method)",
            latency,
            &run(&emu, SETUP),
        );
        row(
            "plan again (no-op)",
            latency,
            &run(&emu, &["plan", "--echo-account", ECHO_ACCOUNT, "--json"]),
        );
        row(
            "teardown",
            latency,
            &run(&emu, &["teardown", "--yes", "--json"]),
        );
        let emu = Emulator::start();
        warm(&emu).network_latency(latency);
        row(
            "setup: AWS CLI sequence (4 commands)",
            latency,
            &aws_cli_setup(&emu),
        );
        for repos in [500usize, 5000] {
            let emu = Emulator::start();
            run(warm(&emu), SETUP);
            emu.seed_cached("echo", repos);
            emu.network_latency(latency);
            row(
                &format!("status --summary, {repos} cached repositories"),
                latency,
                &run(&emu, &["status", "--summary", "--json"]),
            );
            row(
                &format!("status (with image details), {repos} repositories"),
                latency,
                &run(&emu, &["status", "--json"]),
            );
        }
    }
    let (ms, rss) = first_frame_ms();
    println!(
        "| {:<52} | {:>5} ms | {:>9.1} ms | {:>6} | {:>8.1} MiB |",
        "TUI first frame (sandbox)", 0, ms, 0, rss
    );
    println!();
    status_against_the_floor();
    println!();
    dashboard_against_the_budgets();
}
