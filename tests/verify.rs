//! `verify`: a first pull through the cache over the registry API, without Docker, against the
//! emulator's registry endpoint (which fills the cache on a tag pull as ECR does).

mod common;

use common::*;

/// The emulator serves each account's registry under its own path.
fn registry(emu: &Emulator) -> String {
    format!("{}/_registry/{OWN_ACCOUNT}/{REGION}", emu.endpoint)
}

fn set_up(emu: &Emulator) {
    emu.cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes", "--json"])
        .assert()
        .success();
    emu.seed_upstream("nginx", "1.0");
}

fn verify(emu: &Emulator, image: &str) -> std::process::Output {
    emu.cli()
        .args(["--log-level", "trace", "verify", "--json", "--image", image])
        .env("ECHO_REGISTRY_URL", registry(emu))
        .output()
        .unwrap()
}

/// What GetAuthorizationToken hands out in the emulator: it must never be shown.
const TOKEN: &str = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";

fn no_token_anywhere(emu: &Emulator, out: &std::process::Output) {
    let log = std::fs::read_to_string(emu.home.path().join("state/echo-onboard/echo-onboard.log"))
        .unwrap_or_default();
    for text in [text(&out.stdout), text(&out.stderr), log] {
        assert!(!text.contains(TOKEN), "the registry token leaked: {text}");
        assert!(
            !text.contains("auth-token"),
            "the registry password leaked: {text}"
        );
    }
}

#[tokio::test]
async fn a_first_pull_fills_the_cache() {
    let emu = Emulator::start();
    set_up(&emu);
    let out = verify(&emu, "nginx:1.0");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["image"], "nginx:1.0");
    assert_eq!(v["cached_repository"], "echo/nginx");
    assert_eq!(v["created"], true);
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        v["media_type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(v["elapsed_ms"].is_u64());
    assert_eq!(v["repository"]["image_count"], 1);
    no_token_anywhere(&emu, &out);
    // The cached repository exists with the pull recorded, as ECR would show it.
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let images = ecr
        .describe_images()
        .repository_name("echo/nginx")
        .send()
        .await
        .unwrap();
    assert!(images.image_details()[0]
        .last_recorded_pull_time()
        .is_some());
    // A second pull finds it cached.
    let v = stdout_json(&verify(&emu, "nginx:1.0"));
    assert_eq!(v["created"], false);
    // Human output: one line with the digest, one with the repository.
    let out = emu
        .cli()
        .args([
            "verify",
            "--image",
            "nginx:1.0",
            "--registry-url",
            &registry(&emu),
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✓ nginx:1.0 pulled through the cache"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cached repository echo/nginx (was already cached)"),
        "{stdout}"
    );
}

#[test]
fn failures_are_explained_with_the_fix() {
    let emu = Emulator::start();
    set_up(&emu);
    // Not in Echo's registry.
    let out = verify(&emu, "absent:1.0");
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "ImageNotFound");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("absent:1.0 is not in Echo's registry, or Echo has not allowed account"));
    no_token_anywhere(&emu, &out);
    // The caller may not fill the cache: the policy to attach is named.
    emu.fault("RegistryGetManifest", "DENIED", 403, 1);
    let v = stdout_json(&verify(&emu, "nginx:1.0"));
    assert_eq!(v["error"]["code"], "PullDenied");
    let next = v["error"]["next_step"].as_str().unwrap();
    assert!(
        next.contains("ecr:BatchImportUpstreamImage") && next.contains("repository/echo/*"),
        "{next}"
    );
    // No rule for the prefix.
    let out = emu
        .cli()
        .args([
            "verify",
            "--json",
            "--image",
            "nginx:1.0",
            "--prefix",
            "other",
        ])
        .env("ECHO_REGISTRY_URL", registry(&emu))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "NoRuleForPrefix");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("rules here: echo"));
}

#[test]
fn digests_and_bad_names_are_refused_before_anything_is_sent() {
    let emu = Emulator::start();
    set_up(&emu);
    emu.reset_calls();
    let digest = format!("nginx@sha256:{}", "a".repeat(64));
    let out = verify(&emu, &digest);
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "DigestReference");
    assert!(v["error"]["next_step"]
        .as_str()
        .unwrap()
        .contains("nginx:<tag>"));
    let out = verify(&emu, "Nginx:1.0");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_json(&out)["error"]["code"], "InvalidInput");
    // The registry token goes over HTTPS only (plain HTTP only to this machine).
    let out = emu
        .cli()
        .args(["--json", "verify", "--image", "python:3.12"])
        .args(["--registry-url", "http://registry.example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["fields"][0]["field"], "registry-url", "{v}");
    assert!(v.to_string().contains("clear text"), "{v}");
    assert_eq!(emu.calls().0, 0, "nothing was sent to AWS");
}

#[test]
fn the_sandbox_simulates_a_first_pull() {
    let home = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("echo-onboard")
        .unwrap()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("c"))
        // A fresh sandbox has a docker-hub rule (and no Echo rule until apply).
        .args([
            "--sandbox",
            "verify",
            "--json",
            "--image",
            "redis:7",
            "--prefix",
            "docker-hub",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["cached_repository"], "docker-hub/redis");
    assert_eq!(v["created"], true);
}

/// An image outside the sandbox's Echo catalog fails as ECR does (404, NAME_UNKNOWN), so the
/// failed test pull can be tried with no AWS account.
#[test]
fn the_sandbox_fails_a_pull_of_an_image_not_in_the_registry() {
    let home = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("echo-onboard")
        .unwrap()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("c"))
        .args([
            "--sandbox",
            "verify",
            "--json",
            "--image",
            "not-in-echo:1.0",
            "--prefix",
            "docker-hub",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let v = stdout_json(&out);
    let doc = v.to_string();
    assert!(doc.contains("NAME_UNKNOWN"), "{doc}");
    assert!(doc.contains("docker-hub/not-in-echo"), "{doc}");
}
