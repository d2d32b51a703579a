//! How the tool fits into a machine: shell completions that each shell's own parser accepts,
//! a manual page that `man` renders, `--version` with the commit, and the config file's
//! precedence (flags > environment > config file > defaults) and errors. Runs the real binary
//! with a controlled environment; zsh, fish and man are installed by scripts/test.sh.

use std::path::Path;
use std::process::Command;

fn bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("echo-onboard").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("ECHO_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

fn with_config(dir: &Path, text: &str) -> assert_cmd::Command {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = bin();
    cmd.env("ECHO_ONBOARD_CONFIG", &path)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"));
    cmd
}

fn tool(name: &str) -> String {
    which(name).unwrap_or_else(|| {
        panic!("`{name}` is needed to check its completion script: run scripts/test.sh (installs it) or `apt-get install {name}`")
    })
}

fn which(name: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, checker, args) in [
        ("bash", "bash", vec!["-n"]),
        ("zsh", "zsh", vec!["-n"]),
        ("fish", "fish", vec!["--no-execute"]),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("echo-onboard"), "{shell}");
        assert!(script.contains("teardown"), "{shell}: subcommands complete");
        let file = dir.path().join(format!("completion.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let check = Command::new(tool(checker))
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{shell} rejects its completion script: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let out = bin().args(["completions", "powershell"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Register-ArgumentCompleter"));
}

#[test]
fn manual_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = dir.path().join("echo-onboard.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let rendered = Command::new(tool("man"))
        .args(["-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("echo-onboard"), "{text}");
    assert!(text.contains("teardown"), "{text}");
    // One page per command with --dir.
    bin()
        .args(["man", "--dir"])
        .arg(dir.path().join("pages"))
        .assert()
        .success();
    assert!(dir.path().join("pages/echo-onboard-apply.1").exists());
}

#[test]
fn version_names_the_commit() {
    let out = bin().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.starts_with(&format!(
            "echo-onboard {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{v}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        // Built from this checkout (a commit may have happened since the build: then the
        // build is older, never another branch's).
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        let stamped = v.trim().trim_end_matches(')').rsplit(' ').next().unwrap();
        let known = Command::new("git")
            .args(["cat-file", "-t", stamped])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            known.status.success(),
            "{stamped} is not a commit here (HEAD {head})"
        );
    }
}

fn setting<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[test]
fn config_show_says_where_each_value_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let config = "echo_account = \"111122223333\"\nprefix = \"hardened\"\nregion = \"eu-central-1\"\nmethod = \"cloudformation\"\n";
    let out = with_config(dir.path(), config)
        .env("ECHO_PREFIX", "from-env")
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(setting(&v, "echo_account")["value"], "111122223333");
    assert_eq!(setting(&v, "echo_account")["source"]["kind"], "config-file");
    assert_eq!(setting(&v, "prefix")["value"], "from-env");
    assert_eq!(setting(&v, "prefix")["source"]["name"], "ECHO_PREFIX");
    assert_eq!(setting(&v, "echo_region")["value"], "us-east-1");
    assert_eq!(setting(&v, "echo_region")["source"]["kind"], "default");
    assert_eq!(setting(&v, "region")["value"], "eu-central-1");
    // A flag beats the environment, which beats the file.
    let out = with_config(dir.path(), config)
        .env("AWS_REGION", "us-west-1")
        .args(["--region", "ap-south-1", "config", "show", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(setting(&v, "region")["value"], "ap-south-1");
    assert_eq!(setting(&v, "region")["source"]["kind"], "flag");
    let out = with_config(dir.path(), config)
        .env("AWS_REGION", "us-west-1")
        .args(["config", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("environment AWS_REGION"), "{text}");
    assert!(text.contains("config file "), "{text}");
}

#[test]
fn config_values_reach_the_commands() {
    // The sandbox needs no AWS: the plan shows the config file's prefix and method.
    let dir = tempfile::tempdir().unwrap();
    let out = with_config(
        dir.path(),
        "echo_account = \"111122223333\"\nprefix = \"hardened\"\n",
    )
    .args(["--sandbox", "plan", "--json"])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("\"hardened\""), "{plan}");
    // A flag still wins.
    let out = with_config(
        dir.path(),
        "echo_account = \"111122223333\"\nprefix = \"hardened\"\n",
    )
    .args(["--sandbox", "plan", "--json", "--prefix", "team/echo"])
    .output()
    .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("\"team/echo\"") && !plan.contains("\"hardened\""),
        "{plan}"
    );
}

#[test]
fn bad_config_names_file_line_and_rule_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_config(dir.path(), "prefix = \"echo\"\necho_account = \"12345\"\n")
        .args(["--sandbox", "plan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let path = dir.path().join("config.toml");
    assert!(
        stderr.contains(&format!(
            "{}:2: echo_account = \"12345\": must be exactly 12 digits",
            path.display()
        )),
        "{stderr}"
    );
    // --json: still exactly one document.
    let out = with_config(dir.path(), "regoin = \"eu-west-1\"\n")
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "InvalidConfig");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains(":1: unknown field `regoin`"));
}
