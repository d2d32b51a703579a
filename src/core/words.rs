//! What a message is about, as data: the setting that fixes it, or the echo-onboard command that
//! does the next step. The core and the engine write messages that reference a [`Setting`] or a
//! [`Cmd`] instead of a CLI flag; each front end words the reference (the CLI `--prefix` and
//! `echo-onboard teardown --prefix p`, the TUI "the Prefix field", "press a to take it over").
//!
//! A message stays a `String` (so every error, blocker, warning and fix keeps its type) with
//! its references as placeholders between ⟦ and ⟧, which [`parts`] reads back into typed
//! [`Ref`]s and [`render`] replaces with a front end's [`Words`]:
//! - `⟦prefix⟧` names a setting; `⟦pass adopt⟧` says to use it; `⟦other prefix⟧` to choose
//!   another value;
//! - `⟦run teardown prefix=echo⟧` says to run a command; `⟦cmd verify prefix=echo⟧` names it.
//!
//! The `Display` of [`Setting`] and [`Ref`] writes the same placeholders, and a test reads
//! every placeholder in the sources, so a misspelt one fails. AWS CLI commands the user runs
//! themselves are plain text and stay verbatim.

use std::borrow::Cow;
use std::fmt;

const OPEN: char = '⟦';
const CLOSE: char = '⟧';

macro_rules! settings {
    ($($(#[$doc:meta])* $v:ident = $id:literal,)*) => {
        /// An option the user can change (a CLI flag, a TUI field or key). `id` is its name,
        /// the same as the CLI's long option and `FieldError::field`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Setting { $($(#[$doc])* $v,)* }

        impl Setting {
            pub const ALL: &'static [Setting] = &[$(Setting::$v,)*];
            pub fn id(self) -> &'static str {
                match self { $(Setting::$v => $id,)* }
            }
        }
    };
}

settings! {
    Profile = "profile",
    Region = "region",
    EndpointUrl = "endpoint-url",
    Sandbox = "sandbox",
    EchoAccount = "echo-account",
    EchoRegion = "echo-region",
    Prefix = "prefix",
    RoleName = "role-name",
    UpstreamPrefix = "upstream-prefix",
    Tag = "tag",
    Method = "method",
    StackName = "stack-name",
    /// Take over what someone else made.
    Adopt = "adopt",
    BroadPolicy = "broad-policy",
    Upstream = "upstream",
    UpstreamUrl = "upstream-url",
    Username = "username",
    TokenStdin = "token-stdin",
    CredentialArn = "credential-arn",
    ImmutableTags = "immutable-tags",
    MutableTags = "mutable-tags",
    KmsKey = "kms-key",
    ExpireUntaggedAfter = "expire-untagged-after",
    KeepLast = "keep-last",
    RepoTag = "repo-tag",
    RepositoryPolicy = "repository-policy",
    ScanOnPush = "scan-on-push",
    Scan = "scan",
    /// Teardown: also delete the cached repositories under the prefix.
    DeleteCachedRepos = "delete-cached-repos",
    /// Teardown: delete what infrastructure code manages too.
    Force = "force",
    Image = "image",
    RegistryUrl = "registry-url",
    Output = "output",
    Accounts = "accounts",
    OrgUnits = "org-units",
    Regions = "regions",
    CallAs = "call-as",
    StackSetName = "stack-set-name",
    ReadRole = "read-role-name",
    ExecutionRole = "execution-role-name",
    AdminRoleArn = "admin-role-arn",
    FailureTolerance = "failure-tolerance-percentage",
    MaxConcurrent = "max-concurrent-percentage",
    ArchiveAfter = "archive-after",
    ExpireArchivedAfter = "expire-archived-after",
    PullTimeExclusion = "pull-time-exclusion",
    RecoveryWindow = "recovery-window",
    PullerRolesFile = "puller-roles-file",
    Summary = "summary",
    Yes = "yes",
    LogLevel = "log-level",
}

impl Setting {
    pub fn from_id(id: &str) -> Option<Setting> {
        Setting::ALL.iter().copied().find(|s| s.id() == id)
    }
    /// "Pass it" / "turn it on": `--adopt`; press a.
    pub fn pass(self) -> Ref {
        Ref::setting(Verb::Pass, self)
    }
    /// "Choose another": `--prefix`; the Prefix field.
    pub fn other(self) -> Ref {
        Ref::setting(Verb::Other, self)
    }
}

/// The setting named as a noun ("check --region"; "check the Region").
impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ref::setting(Verb::Name, *self).fmt(f)
    }
}

/// An echo-onboard command a message points to as the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Plan,
    Apply,
    Teardown,
    Diagnose,
    Verify,
    Status,
    FleetStatus,
    Help,
}

impl Cmd {
    pub const ALL: &'static [Cmd] = &[
        Cmd::Plan,
        Cmd::Apply,
        Cmd::Teardown,
        Cmd::Diagnose,
        Cmd::Verify,
        Cmd::Status,
        Cmd::FleetStatus,
        Cmd::Help,
    ];
    pub fn id(self) -> &'static str {
        match self {
            Cmd::Plan => "plan",
            Cmd::Apply => "apply",
            Cmd::Teardown => "teardown",
            Cmd::Diagnose => "diagnose",
            Cmd::Verify => "verify",
            Cmd::Status => "status",
            Cmd::FleetStatus => "fleet-status",
            Cmd::Help => "help",
        }
    }
    /// "Run it" (an imperative): run `echo-onboard teardown`; tear it down (t on the dashboard).
    pub fn run(self) -> Ref {
        Ref::command(Verb::Pass, self)
    }
    /// The command as a noun: `echo-onboard verify`; a test pull (v on the dashboard).
    pub fn named(self) -> Ref {
        Ref::command(Verb::Name, self)
    }
    /// The command reading a token on stdin.
    pub fn piped(self) -> Ref {
        Ref::command(Verb::Pipe, self)
    }
}

/// How a reference is used in its sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// A noun: "--prefix", "the Prefix field".
    Name,
    /// An imperative to use it: "pass --adopt", "press a to take it over"; for a command
    /// "run `echo-onboard …`".
    Pass,
    /// "choose another --prefix", "choose another prefix in the Prefix field".
    Other,
    /// A command given a secret on stdin: `printf %s "$TOKEN" | echo-onboard …`; in a form,
    /// the fields to fill in.
    Pipe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Setting(Setting),
    /// A command with the settings it is given (`--prefix echo`).
    Cmd(Cmd, Vec<(Setting, String)>),
}

/// A reference inside a message; `Display` writes its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub verb: Verb,
    pub target: Target,
}

impl Ref {
    fn setting(verb: Verb, s: Setting) -> Ref {
        Ref {
            verb,
            target: Target::Setting(s),
        }
    }
    fn command(verb: Verb, c: Cmd) -> Ref {
        Ref {
            verb,
            target: Target::Cmd(c, vec![]),
        }
    }
    /// The command given a setting's value (`--prefix echo`).
    pub fn with(mut self, s: Setting, value: impl fmt::Display) -> Ref {
        if let Target::Cmd(_, args) = &mut self.target {
            // The token's own separators cannot be part of a value.
            let v: String = value
                .to_string()
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(*c, OPEN | CLOSE))
                .collect();
            args.push((s, v));
        }
        self
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OPEN}")?;
        match &self.target {
            Target::Setting(s) => match self.verb {
                Verb::Name => write!(f, "{}", s.id())?,
                Verb::Pass | Verb::Pipe => write!(f, "pass {}", s.id())?,
                Verb::Other => write!(f, "other {}", s.id())?,
            },
            Target::Cmd(c, args) => {
                let verb = match self.verb {
                    Verb::Pass => "run",
                    Verb::Pipe => "pipe",
                    Verb::Name | Verb::Other => "cmd",
                };
                write!(f, "{verb} {}", c.id())?;
                for (s, v) in args {
                    match v.is_empty() {
                        true => write!(f, " {}", s.id())?,
                        false => write!(f, " {}={v}", s.id())?,
                    }
                }
            }
        }
        write!(f, "{CLOSE}")
    }
}

fn parse_ref(token: &str) -> Option<Ref> {
    let mut words = token.split_whitespace();
    let first = words.next()?;
    let verb = match first {
        "pass" | "run" => Verb::Pass,
        "other" => Verb::Other,
        "pipe" => Verb::Pipe,
        _ => Verb::Name,
    };
    let target = match first {
        "run" | "cmd" | "pipe" => {
            let id = words.next()?;
            let cmd = Cmd::ALL.iter().copied().find(|c| c.id() == id)?;
            let args = words
                .by_ref()
                .map(|a| {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    Some((Setting::from_id(k)?, v.to_string()))
                })
                .collect::<Option<Vec<_>>>()?;
            Target::Cmd(cmd, args)
        }
        "pass" | "other" => Target::Setting(Setting::from_id(words.next()?)?),
        id => Target::Setting(Setting::from_id(id)?),
    };
    if words.next().is_some() && !matches!(target, Target::Cmd(..)) {
        return None;
    }
    Some(Ref { verb, target })
}

/// A piece of a message: plain text or a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Ref(Ref),
}

/// The references a message makes, in order (what tests of the core assert on: the setting or
/// command a message names, whatever a front end calls it).
pub fn refs(text: &str) -> Vec<Ref> {
    parts(text)
        .into_iter()
        .filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
        .collect()
}

/// Whether a message names a command given `setting` = `value` (`--prefix echo`).
pub fn names_command_with(text: &str, cmd: Cmd, setting: Setting, value: &str) -> bool {
    refs(text).iter().any(|r| match &r.target {
        Target::Cmd(c, args) => *c == cmd && args.iter().any(|(s, v)| *s == setting && v == value),
        Target::Setting(_) => false,
    })
}

/// A message read back into its text and references (a malformed token stays text).
pub fn parts(text: &str) -> Vec<Part<'_>> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len_utf8()..];
        let Some(end) = after.find(CLOSE) else { break };
        match parse_ref(&after[..end]) {
            Some(r) => {
                if start > 0 {
                    out.push(Part::Text(&rest[..start]));
                }
                out.push(Part::Ref(r));
            }
            None => out.push(Part::Text(
                &rest[..start + OPEN.len_utf8() + end + CLOSE.len_utf8()],
            )),
        }
        rest = &after[end + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest));
    }
    out
}

/// The settings a message names (whatever the verb), in order.
pub fn settings(text: &str) -> Vec<Setting> {
    parts(text)
        .into_iter()
        .filter_map(|p| match p {
            Part::Ref(Ref {
                target: Target::Setting(s),
                ..
            }) => Some(s),
            _ => None,
        })
        .collect()
}

/// Whether a message offers this setting as its fix.
pub fn offers(text: &str, s: Setting) -> bool {
    settings(text).contains(&s)
}

/// How a front end words references.
pub trait Words {
    fn setting(&self, verb: Verb, s: Setting) -> String;
    fn command(&self, verb: Verb, cmd: Cmd, args: &[(Setting, String)]) -> String;
}

/// The message in a front end's words (borrowed when it references nothing).
pub fn render<'a>(text: &'a str, words: &dyn Words) -> Cow<'a, str> {
    if !text.contains(OPEN) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for p in parts(text) {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Ref(Ref { verb, target }) => match target {
                Target::Setting(s) => out.push_str(&words.setting(verb, s)),
                Target::Cmd(c, args) => out.push_str(&words.command(verb, c, &args)),
            },
        }
    }
    Cow::Owned(out)
}

/// Every string of a JSON document in a front end's words (a rendering with a quote in it
/// stays valid JSON).
pub fn render_json(v: &mut serde_json::Value, words: &dyn Words) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Cow::Owned(w) = render(s, words) {
                *s = w;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| render_json(v, words)),
        Value::Object(o) => o.values_mut().for_each(|v| render_json(v, words)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flags;
    impl Words for Flags {
        fn setting(&self, verb: Verb, s: Setting) -> String {
            format!("{verb:?}(--{})", s.id())
        }
        fn command(&self, verb: Verb, cmd: Cmd, args: &[(Setting, String)]) -> String {
            let a: Vec<String> = args
                .iter()
                .map(|(s, v)| format!("--{} {v}", s.id()))
                .collect();
            format!("{verb:?}[{} {}]", cmd.id(), a.join(" "))
        }
    }

    #[test]
    fn references_round_trip_through_the_text() {
        let m = format!(
            "choose another {}, or {}; then {} ({})",
            Setting::Prefix.other(),
            Setting::Adopt.pass(),
            Cmd::Teardown.run().with(Setting::Prefix, "a|b"),
            Setting::Region
        );
        assert_eq!(
            render(&m, &Flags),
            "choose another Other(--prefix), or Pass(--adopt); then Pass[teardown --prefix a|b] (Name(--region))"
        );
        assert_eq!(
            settings(&m),
            vec![Setting::Prefix, Setting::Adopt, Setting::Region]
        );
        assert!(offers(&m, Setting::Adopt));
        assert!(
            !offers("pass --adopt", Setting::Adopt),
            "plain text is not a reference"
        );
    }

    #[test]
    fn malformed_tokens_stay_text() {
        let m = format!(
            "a {OPEN}zz{CLOSE} b {OPEN}pass nope{CLOSE} {OPEN}prefix x{CLOSE} {OPEN}unclosed"
        );
        assert_eq!(render(&m, &Flags), m);
    }

    #[test]
    fn placeholders_in_text_are_references() {
        let m =
            "choose another ⟦other prefix⟧; ⟦run verify prefix=echo image=nginx:<tag>⟧; ⟦adopt⟧";
        assert_eq!(
            render(m, &Flags),
            "choose another Other(--prefix); Pass[verify --prefix echo --image nginx:<tag>]; Name(--adopt)"
        );
    }

    /// Every placeholder written in the sources is one the front ends can word (a misspelt
    /// id would otherwise reach the user as text).
    #[test]
    fn every_placeholder_in_the_sources_parses() {
        let mut seen = 0;
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices(OPEN) {
                    let rest = &text[i + OPEN.len_utf8()..];
                    let Some(end) = rest.find(CLOSE) else {
                        continue;
                    };
                    let token = &rest[..end];
                    // Placeholders built in code (`{OPEN}`) and format arguments inside one.
                    if token.contains("OPEN") || token.contains('\n') || path.ends_with("words.rs")
                    {
                        continue;
                    }
                    let literal = token.replace(['{', '}'], "");
                    assert!(
                        parse_ref(&literal).is_some(),
                        "{}: ⟦{token}⟧ is no reference",
                        path.display()
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 20, "only {seen} placeholders found");
    }

    #[test]
    fn ids_are_unique() {
        for (i, s) in Setting::ALL.iter().enumerate() {
            assert_eq!(Setting::from_id(s.id()), Some(*s));
            assert!(Setting::ALL[..i].iter().all(|o| o.id() != s.id()));
        }
    }
}
