//! Benchmarks that print figures (no assertions): observing an account with thousands of cached
//! repositories (in-process sandbox, with and without simulated network latency), drawing the
//! dashboard for it, and the memory this takes.
//!
//! Run: `cargo bench --bench observe` (add `-- 20000` for another repository count).

use std::time::{Duration, Instant};

use echo_onboard::aws::{Aws, NewRule};
use echo_onboard::engine::observe::{observe, Scope};
use echo_onboard::sandbox::SandboxAws;
use echo_onboard::tui::app::{App, Msg, Screen};
use echo_onboard::tui::prefs::Prefs;
use echo_onboard::tui::theme::Theme;
use echo_onboard::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn account(repos: usize, latency: Duration) -> SandboxAws {
    let setup = SandboxAws::empty("eu-west-1");
    setup
        .create_role("r", "", &serde_json::json!({"Statement": []}), &[])
        .await
        .unwrap();
    setup
        .create_cache_rule(&NewRule {
            prefix: "echo".into(),
            upstream_registry: "ecr".into(),
            upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
            upstream_prefix: "ROOT".into(),
            role_arn: Some("arn:aws:iam::210987654321:role/r".into()),
            credential_arn: None,
        })
        .await
        .unwrap();
    for i in 0..repos {
        setup
            .simulate_pull(&format!("echo/image-{i:05}"), "latest")
            .unwrap();
    }
    setup.with_latency(latency)
}

fn main() {
    let repos: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("echo-onboard benchmarks ({repos} cached repositories)");
    let before = rss_kib();
    for latency_ms in [0u64, 2] {
        let aws = rt.block_on(account(repos, Duration::from_millis(latency_ms)));
        let scope = Scope {
            usage: true,
            details: true,
            ..Default::default()
        };
        let runs = if latency_ms == 0 { 5 } else { 1 };
        let start = Instant::now();
        let mut observed = None;
        for _ in 0..runs {
            observed = Some(rt.block_on(observe(&aws, "eu-west-1", &scope)).unwrap());
        }
        let per = start.elapsed() / runs;
        let o = observed.unwrap();
        println!(
            "observe, {latency_ms} ms per AWS call: {:>8.1} ms per observation ({} repositories, {} DescribeImages calls at concurrency {})",
            per.as_secs_f64() * 1000.0,
            o.repositories.len(),
            o.repositories.len(),
            echo_onboard::engine::observe::IMAGE_CONCURRENCY
        );
        if latency_ms == 0 {
            println!(
                "memory after observing: {} KiB resident (+{} KiB)",
                rss_kib(),
                rss_kib().saturating_sub(before)
            );
            let mut app = App::new(Prefs::default(), chrono::Utc::now());
            app.screen = Screen::Dashboard;
            let read = echo_onboard::tui::screens::dashboard::AccountRead {
                regions: vec![echo_onboard::tui::screens::dashboard::RegionRead {
                    region: o.region.clone(),
                    observed: Ok(o),
                }],
            };
            app.update(Msg::Dashboard(Ok(Box::new(read))));
            let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
            let frames = 200;
            let start = Instant::now();
            for i in 0..frames {
                app.dashboard.repo_sel = (i * 37) % repos.max(1);
                term.draw(|f| view::render(&app, Theme { color: true }, f))
                    .unwrap();
            }
            let per = start.elapsed() / frames as u32;
            println!(
                "dashboard frame (200x60, {repos} repositories): {:>8.3} ms per frame",
                per.as_secs_f64() * 1000.0
            );
        }
    }
}
