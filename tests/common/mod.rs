//! Test harness: a private AWS emulator (moto + tests/emulator/echo_emulator.py) per test,
//! reached over HTTP through the same SDK code users run. It never skips: when the emulator
//! cannot start, the test fails and says how to fix it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

pub const ECHO_ACCOUNT: &str = "111122223333";
pub const OWN_ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";
pub const ROLE: &str = "echo-pullthrough-cache-role";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed in the emulator's virtualenv (aws, cfn-lint).
pub fn venv_tool(name: &str) -> PathBuf {
    python().parent().unwrap().join(name)
}

fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("tests/emulator/setup.sh"))
        .output()
        .expect("bash must be installed to set up the AWS emulator");
    if !out.status.success() {
        panic!(
            "the AWS emulator could not be set up (it needs python3 with venv and pip, and PyPI).\n\
             Run `bash tests/emulator/setup.sh` to see why.\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub struct Emulator {
    child: Child,
    pub endpoint: String,
    pub home: tempfile::TempDir,
    log: PathBuf,
}

impl Emulator {
    pub fn start() -> Self {
        let python = python();
        let home = tempfile::tempdir().unwrap();
        let log = home.path().join("emulator.log");
        let mut child = Command::new(&python)
            .arg("echo_emulator.py")
            .args(["--port", "0"])
            .current_dir(root().join("tests/emulator"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; run `bash tests/emulator/setup.sh`",
                    python.display()
                )
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let Some(endpoint) = line.trim().strip_prefix("READY ").map(str::to_string) else {
            let _ = child.kill();
            panic!(
                "the AWS emulator did not start; its log:\n{}\nStart it by hand with `tests/emulator/emulator.sh start` to see why.",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let emu = Self {
            child,
            endpoint,
            home,
            log,
        };
        // What Echo does when it onboards a customer: its registry policy allows the account.
        emu.grant_echo_access(true);
        emu
    }

    /// Echo's registry policy allowing (or, with `false`, no longer allowing) the own account
    /// to pull through a cache (the actions AWS documents for a cross-account upstream).
    pub fn grant_echo_access(&self, allow: bool) {
        self.grant_upstream_access(ECHO_ACCOUNT, allow);
    }

    /// The same for another upstream ECR account (a move to another Echo account).
    pub fn grant_upstream_access(&self, upstream_account: &str, allow: bool) {
        let statements = if allow {
            json!([{
                "Sid": "AllowPullThroughCache",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{OWN_ACCOUNT}:root")},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage", "ecr:GetImageCopyStatus"],
                "Resource": format!("arn:aws:ecr:us-east-1:{upstream_account}:repository/*"),
            }])
        } else {
            json!([])
        };
        self.control(
            "/_echo/registry-policy",
            json!({"account": upstream_account, "region": "us-east-1", "policy": {"Version": "2012-10-17", "Statement": statements}}),
        );
    }

    /// The real binary, pointed at this emulator, with an empty home (no profiles) and
    /// recognisable fake credentials.
    pub fn cli(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("echo-onboard").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "ECHO_ACCOUNT_ID" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.home.path())
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("AWS_CONFIG_FILE", self.home.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("aws-credentials"),
            )
            .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01")
            .env("AWS_SECRET_ACCESS_KEY", "testSecretKeyDoNotLeak0123456789")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(300));
        cmd
    }

    fn control(&self, path: &str, body: Value) -> Value {
        ureq::post(&format!("{}{path}", self.endpoint))
            .send_json(body)
            .unwrap_or_else(|e| panic!("emulator control {path} failed: {e}"))
            .into_json()
            .unwrap()
    }

    /// Makes `operation` fail with `code` (HTTP `status`) the next `times` calls.
    pub fn fault(&self, operation: &str, code: &str, status: u16, times: i64) {
        self.control(
            "/_echo/faults",
            json!({"operation": operation, "code": code, "status": status, "times": times}),
        );
    }

    /// Holds the next call of `operation` for `ms` milliseconds, then fails it (so a run killed
    /// meanwhile leaves nothing behind from that call).
    pub fn latency(&self, operation: &str, ms: u64) {
        self.control(
            "/_echo/faults",
            json!({"operation": operation, "latency_ms": ms, "code": "ServiceUnavailable", "status": 503, "times": 1}),
        );
    }

    /// Makes `operation` fail with `code` (HTTP `status`) and this message the next `times` calls.
    pub fn control_fault(
        &self,
        operation: &str,
        code: &str,
        status: u16,
        message: &str,
        times: i64,
    ) {
        self.control(
            "/_echo/faults",
            json!({"operation": operation, "code": code, "status": status, "message": message, "times": times}),
        );
    }

    /// Makes the next `times` calls of `operation` (JSON protocol) answer `answer` with 200.
    pub fn answer(&self, operation: &str, answer: Value, times: i64) {
        self.control(
            "/_echo/faults",
            json!({"operation": operation, "answer": answer, "times": times}),
        );
    }

    pub fn clear_faults(&self) {
        ureq::delete(&format!("{}/_echo/faults", self.endpoint))
            .call()
            .unwrap_or_else(|e| panic!("emulator control DELETE /_echo/faults failed: {e}"));
    }

    /// Makes a CloudFormation resource handler (e.g. `CloudFormation:AWS::ECR::PullThroughCacheRule`)
    /// fail once with this message.
    pub fn control_fault_message(&self, operation: &str, message: &str) {
        self.control("/_echo/faults", json!({"operation": operation, "code": "HandlerFailure", "message": message, "times": 1}));
    }

    /// Makes `operation` fail `times` times (-1: until cleared) with this message.
    pub fn fault_times(&self, operation: &str, message: &str, times: i64) {
        self.control("/_echo/faults", json!({"operation": operation, "code": "HandlerFailure", "message": message, "times": times}));
    }

    /// Puts an image into a repository of the upstream (Echo) account.
    pub fn seed_upstream(&self, repository: &str, tag: &str) {
        self.control(
            "/_echo/upstream-image",
            json!({"account": ECHO_ACCOUNT, "region": "us-east-1", "repository": repository, "tag": tag}),
        );
    }

    /// Like `seed_upstream`, and returns the image's digest.
    pub fn seed_upstream_digest(&self, repository: &str, tag: &str) -> String {
        let v = self.control(
            "/_echo/upstream-image",
            json!({"account": ECHO_ACCOUNT, "region": "us-east-1", "repository": repository, "tag": tag}),
        );
        v["digest"].as_str().unwrap().to_string()
    }

    /// `count` cached repositories `<prefix>/image-NNNNN` in the own account, each with one
    /// image and `index % 7` pulls in the last 30 days.
    pub fn seed_cached(&self, prefix: &str, count: usize) {
        self.control(
            "/_echo/cached-repositories",
            json!({"account": OWN_ACCOUNT, "region": REGION, "prefix": prefix, "count": count}),
        );
    }

    /// Adds `ms` of latency to every AWS call from now on (0 removes it).
    pub fn network_latency(&self, ms: u64) {
        self.control("/_echo/latency", json!({ "ms": ms }));
    }

    /// AWS calls since the last reset, per operation, and their total.
    pub fn calls(&self) -> (u64, std::collections::BTreeMap<String, u64>) {
        let v: Value = ureq::get(&format!("{}/_echo/calls", self.endpoint))
            .call()
            .unwrap_or_else(|e| panic!("emulator control GET /_echo/calls failed: {e}"))
            .into_json()
            .unwrap();
        let calls = serde_json::from_value(v["calls"].clone()).unwrap();
        (v["total"].as_u64().unwrap(), calls)
    }

    pub fn reset_calls(&self) {
        ureq::delete(&format!("{}/_echo/calls", self.endpoint))
            .call()
            .unwrap_or_else(|e| panic!("emulator control DELETE /_echo/calls failed: {e}"));
    }

    pub async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(echo_onboard::aws::sdk::http_client())
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "AKIATESTKEYEXAMPLE01",
                "testing",
                None,
                None,
                "test",
            ))
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// `(resource, action)` of every change in a `plan --json` document.
pub fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every pull-through cache rule in the emulator's account, read through the ECR API.
pub async fn rules(emu: &Emulator) -> Vec<aws_sdk_ecr::types::PullThroughCacheRule> {
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    ecr.describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap()
        .pull_through_cache_rules()
        .to_vec()
}

/// Simulates `docker pull` of `echo/python:3.12` through the cache (seeding Echo's side first).
pub async fn pull_through_cache(emu: &Emulator) {
    emu.seed_upstream("python", "3.12");
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let pulled = ecr
        .batch_get_image()
        .repository_name("echo/python")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("3.12")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.images().len(), 1);
}
