//! The TUI speaks in its own words: no screen of tests/tui_snapshots.rs tells the user to pass
//! an echo-onboard flag or to run (or pipe into) an `echo-onboard …` command. The flags and
//! commands are read from the CLI's clap definition, so the list cannot go stale. AWS CLI
//! (and docker) commands the user runs themselves keep their flags.

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory;
use regex_lite::Regex;

/// Every long flag and subcommand name of the CLI, at any depth.
fn cli_words() -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(cmd: &clap::Command, flags: &mut BTreeSet<String>, subs: &mut BTreeSet<String>) {
        flags.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string)),
        );
        for s in cmd.get_subcommands() {
            subs.insert(s.get_name().to_string());
            walk(s, flags, subs);
        }
    }
    let (mut flags, mut subs) = (BTreeSet::new(), BTreeSet::new());
    walk(&echo_onboard::cli::Cli::command(), &mut flags, &mut subs);
    flags.insert("help".into());
    (flags, subs)
}

/// The screen's text as one run: its rows without the frame drawing, so a sentence wrapped
/// over two rows reads as one. The title bar ("echo-onboard  teardown") names the screen.
fn screen_text(snap: &str) -> String {
    let rows: Vec<&str> = snap
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| l.trim_matches('"'))
        .filter(|l| !l.starts_with("echo-onboard  "))
        .collect();
    let text = rows.join(" ");
    let text: String =
        text.chars()
            .map(|c| match c {
                '│' | '║' | '█' | '▲' | '▼' | '┌' | '┐' | '└' | '┘' | '─' | '├' | '┤' | '┬'
                | '┴' => ' ',
                c => c,
            })
            .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the screen says of echo-onboard's own command line (empty: nothing).
fn cli_advice(text: &str, flags: &BTreeSet<String>, subs: &BTreeSet<String>) -> Vec<String> {
    // Commands for other tools are the user's to run, flags and all.
    let quoted = Regex::new(r"`(aws|docker|kubectl|helm|terraform|printf) [^`]*`").unwrap();
    let bare =
        Regex::new(r"\baws [a-z0-9-]+ [a-z0-9-]+(?: --[a-z0-9-]+(?: [^ `-][^ `]*)?)*").unwrap();
    let docker = Regex::new(r"\bdocker login(?: --[a-z0-9-]+(?: [^ -][^ ]*)?)*").unwrap();
    let text = quoted.replace_all(text, "");
    let text = bare.replace_all(&text, "");
    let text = docker.replace_all(&text, "");
    let mut found = vec![];
    let flag = Regex::new(r"(?:^|[\s(`'/])--([a-z][a-z0-9-]*)").unwrap();
    for c in flag.captures_iter(&text) {
        if flags.contains(&c[1]) {
            found.push(format!("--{}", &c[1]));
        }
    }
    let command = Regex::new(r"(\|\s*)?`?echo-onboard`?\s+([a-z-]+)").unwrap();
    for c in command.captures_iter(&text) {
        if c.get(1).is_some() || subs.contains(&c[2]) {
            found.push(c[0].to_string());
        }
    }
    found
}

#[test]
fn no_snapshot_gives_command_line_advice() {
    let (flags, subs) = cli_words();
    assert!(
        flags.contains("adopt") && flags.contains("delete-cached-repos"),
        "{flags:?}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut checked = 0;
    let mut bad = vec![];
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("tui_snapshots__") && name.ends_with(".snap")) {
            continue;
        }
        let snap = std::fs::read_to_string(&path).unwrap();
        // A reference the TUI did not word would show as its placeholder.
        if snap.contains('⟦') {
            bad.push(format!("{name}: an unworded ⟦…⟧ reference"));
        }
        let found = cli_advice(&screen_text(&snap), &flags, &subs);
        if !found.is_empty() {
            bad.push(format!("{name}: {found:?}"));
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} snapshots");
    assert!(
        bad.is_empty(),
        "the TUI gives command-line advice:\n{}",
        bad.join("\n")
    );
}

/// The check itself: it finds flags and commands however they wrap, and lets AWS's pass.
#[test]
fn the_check_finds_flags_and_commands_and_spares_aws_commands() {
    let (flags, subs) = cli_words();
    let snap = "\"│choose another --prefix, or pass  │\"\n\"│--adopt; printf %s \\\"$T\\\" | echo-onboard apply│\"";
    let text = screen_text(snap);
    assert_eq!(
        cli_advice(&text, &flags, &subs),
        vec!["--prefix", "--adopt", "| echo-onboard apply"]
    );
    let aws = "delete it with `aws ecr delete-pull-through-cache-rule --ecr-repository-prefix echo --region eu-west-1`; look at aws cloudformation describe-stack-events --stack-name s, then docker login --username AWS --password-stdin x";
    assert_eq!(cli_advice(aws, &flags, &subs), Vec::<String>::new());
    assert_eq!(
        cli_advice(
            "then run `echo-onboard teardown --prefix echo`",
            &flags,
            &subs
        ),
        vec!["--prefix", "`echo-onboard teardown"]
    );
    assert!(cli_advice("made by echo-onboard, not someone else", &flags, &subs).is_empty());
}
