//! Call budgets at scale, through the real binary against the emulator (which pages
//! `DescribeRepositories` by 100 without `maxResults`, like ECR). Calls are counted by the
//! emulator, so these budgets are exact and repeatable; times are for the bench
//! (`scripts/bench.sh`), not asserted here.

mod common;

use common::*;

fn apply(emu: &Emulator) {
    emu.cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes", "--json"])
        .assert()
        .success();
}

fn status(emu: &Emulator, extra: &[&str]) -> serde_json::Value {
    let out = emu
        .cli()
        .args(["status", "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    stdout_json(&out)
}

#[test]
fn status_summary_of_5000_repositories_takes_at_most_20_calls() {
    let emu = Emulator::start();
    apply(&emu);
    emu.seed_cached("echo", 5000);
    emu.reset_calls();
    let v = status(&emu, &["--summary"]);
    let (total, calls) = emu.calls();
    let repos = v["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 5000);
    // The emulator records (index mod 7) pulls per repository.
    let pulls: u64 = repos
        .iter()
        .map(|r| r["pull_count_30d"].as_u64().unwrap())
        .sum();
    assert_eq!(pulls, (0..5000u64).map(|i| i % 7).sum::<u64>());
    assert!(repos.iter().all(|r| r["image_count"].is_null()));
    assert_eq!(v["rules"][0]["managed_by"], "echo-onboard");
    assert!(total <= 20, "{total} calls: {calls:?}");
    assert_eq!(calls.get("DescribeRepositories"), Some(&5), "{calls:?}");
    assert_eq!(calls.get("GetMetricData"), Some(&10), "{calls:?}");
    assert_eq!(calls.get("DescribeImages"), None, "{calls:?}");
}

#[test]
fn status_lists_every_page_and_reads_details_unless_summary() {
    let emu = Emulator::start();
    apply(&emu);
    emu.seed_cached("echo", 1234);
    emu.reset_calls();
    let out = emu.cli().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    let (_, calls) = emu.calls();
    let repos = v["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 1234, "every page is read");
    assert_eq!(calls.get("DescribeRepositories"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("DescribeImages"), Some(&1234), "{calls:?}");
    assert!(repos
        .iter()
        .all(|r| r["image_count"] == 1 && r["last_pulled_at"].is_string()));
    // A long listing reports progress on stderr; stdout stays one document.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("reading images of cached repositories: 1234/1234"),
        "{stderr}"
    );
}

#[test]
fn apply_and_teardown_reads_stay_small() {
    let emu = Emulator::start();
    emu.seed_cached("echo", 300);
    emu.reset_calls();
    apply(&emu);
    let (_, calls) = emu.calls();
    // A plan for setup never lists repositories.
    assert_eq!(calls.get("DescribeRepositories"), None, "{calls:?}");
    assert_eq!(calls.get("ListRoleTags"), None, "{calls:?}");
    emu.reset_calls();
    emu.cli()
        .args(["teardown", "--yes", "--json"])
        .assert()
        .success();
    let (_, calls) = emu.calls();
    assert_eq!(
        calls.get("DescribeRepositories"),
        None,
        "teardown without --delete-cached-repos lists no repository: {calls:?}"
    );
    assert_eq!(calls.get("DeletePullThroughCacheRule"), Some(&1));
    assert_eq!(calls.get("DeleteRole"), Some(&1));
}

/// The dashboard's streamed read (rules, the busiest first, pages, counts) ends with the same
/// rows and counts as the whole read `status` makes, through the same SDK code; a busy
/// repository deleted since (its metric outlives it) is not left behind as a row.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboards_streamed_read_ends_as_the_whole_read() {
    use echo_onboard::engine::observe::Part;
    use echo_onboard::engine::ops;
    use echo_onboard::tui::screens::dashboard::{AccountRead, Dashboard, RegionRead};
    let emu = Emulator::start();
    apply(&emu);
    // Three listing pages and five count batches, the last ones partial.
    emu.seed_cached("echo", 2345);
    let conf = emu.sdk().await;
    aws_sdk_ecr::Client::new(&conf)
        .delete_repository()
        .repository_name("echo/image-00006")
        .force(true)
        .send()
        .await
        .unwrap();
    let aws = echo_onboard::aws::sdk::SdkAws::new(&conf, None);
    let request = |stream| ops::StatusRequest {
        regions: ops::Regions::List(vec![REGION.into()]),
        usage: true,
        details: false,
        stream,
    };
    let (progress, _) = tokio::sync::mpsc::unbounded_channel();
    let whole = ops::status(&aws, &request(None), &progress).await.unwrap();
    let whole = whole.regions[0].observed.as_ref().unwrap().clone();
    assert_eq!(whole.repositories.len(), 2344);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let streamed = ops::status(&aws, &request(Some(tx)), &progress)
        .await
        .unwrap();
    let mut parts = vec![];
    while let Some(p) = rx.recv().await {
        parts.push(p);
    }
    assert!(matches!(parts[0].part, Part::Rules(_)), "the rules first");
    let busiest: Vec<(String, u64)> = parts
        .iter()
        .find_map(|p| match &p.part {
            Part::Busiest(b) => Some(b.clone()),
            _ => None,
        })
        .expect("the busiest repositories are sent");
    assert_eq!(busiest.len(), 500);
    assert_eq!(busiest[0], ("echo/image-00006".to_string(), 6));
    let pages = parts
        .iter()
        .filter(|p| matches!(p.part, Part::Repositories(_)))
        .count();
    assert_eq!(pages, 3);

    let mut d = Dashboard::default();
    for p in parts {
        d.part(p);
    }
    d.loaded(
        AccountRead {
            regions: streamed
                .regions
                .into_iter()
                .map(|r| RegionRead {
                    region: r.region,
                    observed: r.observed.map_err(|e| e.line()),
                })
                .collect(),
        },
        chrono::Utc::now(),
    );
    let shown = d.account.as_ref().unwrap().observed(REGION).unwrap();
    let by_name = |o: &echo_onboard::core::model::Observed| {
        let mut rows = o.repositories.clone();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    };
    assert_eq!(by_name(shown), by_name(&whole));
    assert_eq!(shown.rules, whole.rules);
    assert!(!shown
        .repositories
        .iter()
        .any(|r| r.name == "echo/image-00006"));
}
