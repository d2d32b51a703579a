//! The TUI's words for what a message references: the field to change or the key that acts,
//! never a flag to pass or a command to pipe into.

use std::borrow::Cow;

use super::msg::Msg;
use super::screens::dashboard::RuleCheck;
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
        S::Sandbox => Step("sandbox profile"),
        S::EchoAccount => Field("Echo account id"),
        S::EchoRegion => Field("Echo region"),
        S::Prefix => Field("Prefix"),
        S::RoleName => Field("Role name"),
        S::UpstreamPrefix => Field("Upstream prefix"),
        S::Tag => Field("Tags"),
        S::Method => Step("method"),
        S::StackName => Elsewhere("the stack name (the TUI uses the default stack name)"),
        S::Adopt => Key("a", "take it over"),
        S::BroadPolicy => Field("Broad policy"),
        S::Upstream => Field("Registry"),
        S::UpstreamUrl => Field("Registry URL"),
        S::Username => Field("User name"),
        S::TokenStdin => Field("Access token"),
        S::CredentialArn => Field("secret ARN"),
        S::ImmutableTags => Field("Immutable tags"),
        S::MutableTags => Field("Mutable tags"),
        S::KmsKey => Field("KMS key"),
        S::ExpireUntaggedAfter => Field("Expire untagged days"),
        S::KeepLast => Field("Keep last images"),
        S::RepoTag => Field("Repository tags"),
        S::RepositoryPolicy => Field("Repository policy file"),
        S::ScanOnPush | S::Scan => Field("Scan on push"),
        S::DeleteCachedRepos => Key("ctrl-r", "also delete the cached repositories"),
        S::Force => Elsewhere("a forced teardown (only on the command line)"),
        S::Image => Field("Image"),
        S::RegistryUrl => Elsewhere("the registry URL (ECHO_REGISTRY_URL)"),
        S::Output => Elsewhere("the bundle's path"),
        S::Accounts | S::OrgUnits => Field("Accounts or OUs"),
        S::Regions => Field("Regions"),
        S::CallAs => Key("ctrl-g", "switch how StackSets are called"),
        S::StackSetName => Field("Stack set"),
        S::ReadRole => Field("Read role (status)"),
        S::ExecutionRole => Elsewhere("the execution role"),
        S::AdminRoleArn => Elsewhere("the administration role"),
        S::FailureTolerance => Field("Failure tolerance %"),
        S::MaxConcurrent => Field("Max concurrent %"),
        S::ArchiveAfter => Field("Archive after days"),
        S::ExpireArchivedAfter => Field("Expire archived days"),
        S::PullTimeExclusion => Field("Pull-time exclusions"),
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
            // The message says what for ("press a to let echo-onboard change it").
            (Term::Key(k, _), _) => format!("press {k}"),
            (Term::Step(st), Verb::Name) => format!("the {st}"),
            (Term::Step(st), _) => format!("choose another {st} (its step in the wizard)"),
            (Term::Elsewhere(n), Verb::Name) => n.to_string(),
            (Term::Elsewhere(n), _) => format!("use {n}"),
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
            Cmd::Apply => ("another apply", "apply again"),
            Cmd::Teardown => (
                "a teardown from the dashboard (t)",
                "tear it down from the dashboard (t)",
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
            Cmd::FleetStatus => (
                "the fleet status (ctrl-s on the fleet form)",
                "read the fleet status (ctrl-s on the fleet form)",
            ),
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

fn all(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().map(|l| said(&l)).collect()
}

fn err<T>(r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| said(&e))
}

fn errs<T>(r: Result<T, Vec<String>>) -> Result<T, Vec<String>> {
    r.map_err(all)
}

/// A message from the effect runner with the lines it carries in the TUI's words, so each
/// screen keeps them as they are shown. Results shared with later effects (a plan, a report)
/// are worded where they are drawn.
pub fn in_tui_words(msg: Msg) -> Msg {
    match msg {
        Msg::Connected(r) => Msg::Connected(err(r)),
        Msg::Rules(r) => Msg::Rules(err(r)),
        Msg::Planned(r) => Msg::Planned(err(r)),
        Msg::Applied(r) => Msg::Applied(r.map(all).map_err(all)),
        Msg::TeardownPlanned(r) => Msg::TeardownPlanned(errs(r)),
        Msg::Dashboard(r) => Msg::Dashboard(err(r)),
        Msg::Images {
            region,
            repo,
            result,
        } => Msg::Images {
            region,
            repo,
            result: err(result),
        },
        Msg::DetailsFailed(e) => Msg::DetailsFailed(said(&e)),
        Msg::Verified(r) => Msg::Verified(errs(r)),
        Msg::Warmed(r) => Msg::Warmed(errs(r)),
        Msg::TornDown(r) => Msg::TornDown(r.map(all).map_err(all)),
        Msg::BundleWritten(r) => Msg::BundleWritten(err(r)),
        Msg::FleetPlanned(r) => Msg::FleetPlanned(errs(r)),
        Msg::FleetApplied(r) => Msg::FleetApplied(errs(r)),
        Msg::FleetStatus(r) => Msg::FleetStatus(errs(r)),
        Msg::FleetTornDown(r) => Msg::FleetTornDown(errs(r)),
        Msg::Validations(v) => {
            Msg::Validations(v.into_iter().map(|(k, c)| (k, reworded(c))).collect())
        }
        Msg::Validated(k, c) => Msg::Validated(k, reworded(c)),
        other => other,
    }
}

fn reworded(c: RuleCheck) -> RuleCheck {
    match c {
        RuleCheck::Invalid(e) => RuleCheck::Invalid(said(&e)),
        RuleCheck::Unknown(e) => RuleCheck::Unknown(said(&e)),
        RuleCheck::Valid => RuleCheck::Valid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tui_words_references_as_fields_and_keys() {
        assert_eq!(
            said("⟦other prefix⟧, or ⟦pass adopt⟧ to take it over; to delete them, ⟦pass delete-cached-repos⟧"),
            "change the Prefix field, or press a to take it over; to delete them, press ctrl-r"
        );
        assert_eq!(
            said("needs ⟦credential-arn⟧ (example: ⟦pipe apply upstream=gitlab username=me token-stdin⟧)"),
            "needs the secret ARN field (example: Registry gitlab, User name me, your access token)"
        );
        assert_eq!(
            said("then ⟦run teardown prefix=echo⟧"),
            "then tear it down from the dashboard (t)"
        );
    }

    /// No setting is worded as a flag and no command as a command line.
    #[test]
    fn no_reference_is_worded_for_the_command_line() {
        for s in Setting::ALL {
            for v in [Verb::Name, Verb::Pass, Verb::Other, Verb::Pipe] {
                let w = TuiWords.setting(v, *s);
                assert!(!w.contains("--") && !w.contains("echo-onboard"), "{w}");
            }
        }
        for c in Cmd::ALL {
            for v in [Verb::Name, Verb::Pass, Verb::Pipe] {
                let w = TuiWords.command(v, *c, &[(Setting::Prefix, "echo".into())]);
                assert!(!w.contains("--") && !w.contains("echo-onboard"), "{w}");
            }
        }
    }
}
