//! The TUI's words for what a message references: the field to change or the key that acts,
//! never a flag to pass or a command to pipe into.

use std::borrow::Cow;

use crate::core::words::{render, Cmd, Setting, Verb, Words};

/// Where a setting lives in the TUI.
enum Term {
    /// A form field, by its label.
    Field(&'static str),
    /// A key and what it does ("a", "take it over").
    Key(&'static str, &'static str),
    /// A step of the wizard to go back to.
    Step(&'static str),
    /// Something the TUI does not offer: a noun for it, said plainly.
    Elsewhere(&'static str),
}

fn term(s: Setting) -> Term {
    use Setting as S;
    use Term::*;
    match s {
        S::Profile => Step("profile"),
        S::Region => Step("region"),
        S::EndpointUrl => Elsewhere("the endpoint URL (AWS_ENDPOINT_URL)"),
        S::Sandbox => Elsewhere("the sandbox (start echo-onboard in its sandbox)"),
        S::EchoAccount => Field("Echo account id"),
        S::EchoRegion => Field("Echo region"),
        S::Prefix => Field("Prefix"),
        S::RoleName => Field("Role name"),
        S::UpstreamPrefix => Field("Upstream prefix"),
        S::Tag => Field("Tags"),
        S::Method => Step("method"),
        S::StackName => Elsewhere("the stack name (the TUI uses the default stack name)"),
        S::Adopt => Key("a", "take it over"),
        S::BroadPolicy => Elsewhere("the broad role policy (a command-line option)"),
        S::Upstream => Field("Registry"),
        S::UpstreamUrl => Field("Registry URL"),
        S::Username => Field("User name"),
        S::TokenStdin => Field("Access token"),
        S::CredentialArn => Field("Secret ARN"),
        S::ImmutableTags | S::MutableTags => Field("Immutable tags"),
        S::KmsKey => Field("KMS key"),
        S::ExpireUntaggedAfter => Field("Expire untagged days"),
        S::KeepLast => Field("Keep last images"),
        S::RepoTag => Field("Repository tags"),
        S::RepositoryPolicy => Field("Repository policy file"),
        S::ScanOnPush | S::Scan => Field("Scan on push"),
        S::DeleteCachedRepos => Key("ctrl-r", "also delete the cached repositories"),
        S::Force => Elsewhere("a forced teardown (a command-line option, not offered here)"),
        S::Image => Field("Image"),
        S::RegistryUrl => Elsewhere("the registry URL (ECHO_REGISTRY_URL)"),
        S::Output => Elsewhere("the bundle's path"),
        S::Accounts | S::OrgUnits => Field("Accounts or OUs"),
        S::Regions => Field("Regions"),
        S::CallAs => Key("ctrl-g", "switch how StackSets are called"),
        S::StackSetName => Field("Stack set"),
        S::ReadRole => Elsewhere("the read role"),
        S::ExecutionRole => Elsewhere("the execution role"),
        S::AdminRoleArn => Elsewhere("the administration role"),
        S::FailureTolerance => Elsewhere("the failure tolerance"),
        S::MaxConcurrent => Elsewhere("the concurrency"),
        S::ArchiveAfter => Elsewhere("the archive period"),
        S::ExpireArchivedAfter => Elsewhere("the archived-image expiry"),
        S::RecoveryWindow => Elsewhere("the secret's recovery window"),
        S::PullerRolesFile => Elsewhere("the puller roles file"),
        S::Summary => Elsewhere("the summary view"),
        S::Yes => Key("enter", "confirm"),
        S::LogLevel => Elsewhere("the log level (ECHO_LOG)"),
    }
}

pub struct TuiWords;

impl Words for TuiWords {
    fn setting(&self, verb: Verb, s: Setting) -> String {
        match (term(s), verb) {
            (Term::Field(l), Verb::Name) => format!("the {l} field"),
            (Term::Field(l), Verb::Pass) => format!("fill in the {l} field"),
            (Term::Field(l), Verb::Other) => format!("change the {l} field"),
            (Term::Key(k, what), Verb::Name) => format!("{k} ({what})"),
            (Term::Field(l), Verb::Pipe) => format!("fill in the {l} field"),
            (Term::Key(k, what), _) => format!("press {k} to {what}"),
            (Term::Step(st), Verb::Name) => format!("the {st} (esc goes back to its step)"),
            (Term::Step(st), _) => format!("choose another {st} (esc goes back to its step)"),
            (Term::Elsewhere(n), Verb::Name) => n.to_string(),
            (Term::Elsewhere(n), _) => format!("set {n}"),
        }
    }
    fn command(&self, verb: Verb, cmd: Cmd, args: &[(Setting, String)]) -> String {
        if verb == Verb::Pipe {
            // A form takes the token in a field: say which fields to fill in, with what.
            let fields: Vec<String> = args
                .iter()
                .map(|(s, v)| match (term(*s), v.is_empty()) {
                    (Term::Field(l), false) => format!("{l} {v}"),
                    (Term::Field(l), true) => format!("your {}", l.to_lowercase()),
                    (_, _) => self.setting(Verb::Name, *s),
                })
                .collect();
            return fields.join(", ");
        }
        // The TUI acts on the rule selected on the dashboard: the arguments are that rule.
        let (noun, imperative) = match cmd {
            Cmd::Plan => ("the plan", "look at the plan"),
            Cmd::Apply => (
                "a new setup (n on the dashboard)",
                "set it up again (n on the dashboard)",
            ),
            Cmd::Teardown => (
                "a teardown (t on the dashboard)",
                "tear it down (t on the dashboard)",
            ),
            Cmd::Diagnose => (
                "the diagnostics (x on the dashboard)",
                "run the diagnostics (x on the dashboard)",
            ),
            Cmd::Verify => (
                "a test pull (v on the dashboard)",
                "pull a test image (v on the dashboard)",
            ),
            Cmd::Status => ("the dashboard", "look at the dashboard"),
            Cmd::FleetStatus => ("the fleet status (ctrl-s on the fleet form)", "read the fleet status (ctrl-s on the fleet form)"),
            Cmd::Help => ("the help (?)", "see the help (?)"),
        };
        match verb {
            Verb::Pass => imperative.to_string(),
            Verb::Name | Verb::Other | Verb::Pipe => noun.to_string(),
        }
    }
}

/// A message in the TUI's words.
pub fn say(text: &str) -> Cow<'_, str> {
    render(text, &TuiWords)
}

/// Owned, for `Line`s.
pub fn said(text: &str) -> String {
    say(text).into_owned()
}
