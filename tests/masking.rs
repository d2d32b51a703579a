//! Masking everywhere the README promises it: an AWS error whose message carries recognisable
//! fake secrets reaches the failure JSON, stderr, the log and the support bundle masked.

mod common;

use common::*;

const PLANTED: &[&str] = &[
    "FAKEsecretDoNotLeak42",
    "AKIAFAKEDONOTLEAK042",
    // The value of AWS_SECRET_ACCESS_KEY the harness gives the binary.
    "testSecretKeyDoNotLeak0123456789",
];

fn message() -> String {
    format!(
        "Upstream refused the request signed with secretAccessKey={} by {} (secret {})",
        PLANTED[0], PLANTED[1], PLANTED[2]
    )
}

/// Every file under `dir`, with its text.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).to_string()));
        }
    }
    out
}

fn nowhere(what: &str, text: &str) {
    for s in PLANTED {
        assert!(!text.contains(s), "{s} leaked into {what}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_error_carrying_a_secret_is_masked_in_json_stderr_log_and_bundle() {
    let emu = Emulator::start();
    emu.control_fault(
        "CreatePullThroughCacheRule",
        "InvalidParameterException",
        400,
        &message(),
        1,
    );
    let out = emu
        .cli()
        .args(["--json", "--log-level", "debug", "apply"])
        .args(["--echo-account", ECHO_ACCOUNT, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = stdout_json(&out);
    assert_eq!(doc["result"], "failed", "{doc}");
    assert_eq!(doc["error"]["code"], "InvalidParameterException", "{doc}");
    // The message came through, masked.
    let shown = doc["error"]["message"].as_str().unwrap();
    assert!(
        shown.contains("secretAccessKey=«redacted»") && shown.contains("(secret «redacted»)"),
        "{shown}"
    );
    nowhere("the failure JSON", &text(&out.stdout));
    nowhere("stderr", &text(&out.stderr));

    // The support bundle, its JSON and its log lines, with the same error on a check.
    let ok = emu
        .cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    emu.control_fault(
        "ValidatePullThroughCacheRule",
        "InvalidParameterException",
        400,
        &message(),
        -1,
    );
    let bundle = emu.home.path().join("bundle.json");
    let out = emu
        .cli()
        .args(["--json", "--log-level", "debug", "diagnose"])
        .args(["--echo-account", ECHO_ACCOUNT, "--output"])
        .arg(&bundle)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("«redacted»"), "{stdout}");
    nowhere("diagnose's JSON", &stdout);
    nowhere("diagnose's stderr", &text(&out.stderr));
    let written = files(emu.home.path());
    let log = written
        .iter()
        .find(|(p, _)| p.ends_with("echo-onboard.log"))
        .unwrap_or_else(|| {
            panic!(
                "no log among {:?}",
                written.iter().map(|w| &w.0).collect::<Vec<_>>()
            )
        });
    assert!(log.1.contains("«redacted»"), "{}", log.1);
    assert!(std::fs::read_to_string(&bundle)
        .unwrap()
        .contains("«redacted»"));
    for (path, content) in &written {
        nowhere(&path.display().to_string(), content);
    }
}
