//! The non-interactive commands: arguments become an operation's request, its result becomes
//! text or exactly one JSON document. No operation logic lives here (see `engine::ops`).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use serde_json::{json, Value};

use super::args::{
    ApplyArgs, Cli, Command, ConfigAction, DiagnoseArgs, ExportArgs, ExportFormat, ManArgs, Method,
    PlanArgs, SetupArgs, StatusArgs, TeardownArgs, TemplateFormat, VerifyArgs,
};
use super::output::{self, err, out};
use super::settings::{self, Setting};
use crate::aws::sdk::{ConnectOptions, SdkAws};
use crate::aws::Aws;
use crate::core::cache::CacheSettingsInput;
use crate::core::checks::{self, Status as CheckStatus};
use crate::core::redact;
use crate::core::render::{self, Tone};
use crate::core::upstream::{Token, UpstreamInput};
use crate::core::validate::{AccountId, RepoPrefix, SetupInput};
use crate::engine::apply::{ApplyOptions, ValidationState};
use crate::engine::events::{describe, with_events, Event};
use crate::engine::ops::{self, Failure, Outcome, Problem};
use crate::engine::planning;
use crate::sandbox::{SandboxAws, SANDBOX_REGION};

#[path = "fleet.rs"]
mod fleet;
#[path = "workloads.rs"]
mod workloads;

/// Why a command stopped, and so its exit code.
#[derive(Debug)]
enum Stop {
    /// An operation failed (exit 2 for invalid input — nothing was sent — else 1).
    Failed(Box<Failure>),
    /// `plan --detailed-exitcode` with changes pending (exit 2, not an error).
    ChangesPending,
    /// Diagnostics found FAIL checks; the report is already out (exit 1).
    ChecksFailed,
    /// The operation ended with failures that its output (already printed) names (exit 1).
    Reported,
    /// Applied and kept, but ECR's validation said invalid or could not run (exit 3): CI can
    /// tell "changed and working" from "changed, check it".
    NotValidated,
}

impl Stop {
    fn exit_code(&self) -> u8 {
        match self {
            // Nothing was sent: bad flags or a bad config file.
            Stop::Failed(f) if f.error.is_invalid_input() || f.error.code == INVALID_CONFIG => 2,
            Stop::ChangesPending => 2,
            Stop::NotValidated => 3,
            Stop::Failed(_) | Stop::ChecksFailed | Stop::Reported => 1,
        }
    }
}

impl From<Box<Failure>> for Stop {
    fn from(f: Box<Failure>) -> Self {
        Stop::Failed(f)
    }
}

impl From<Problem> for Stop {
    fn from(p: Problem) -> Self {
        Stop::Failed(Failure::of(p))
    }
}

fn usage(message: impl Into<String>, next_step: impl Into<String>) -> Stop {
    let mut p = Problem::new(ops::INVALID_INPUT, message, next_step);
    p.kind = Some(crate::aws::ErrorKind::Invalid);
    Stop::from(p)
}

struct Context {
    json: bool,
    color: bool,
}

/// Runs a command: `matches` says which values clap took from flags or the environment, so
/// the config file fills only the rest.
pub async fn run(mut cli: Cli, matches: &clap::ArgMatches) -> ExitCode {
    let ctx = Context {
        json: cli.json,
        color: output::color_enabled(),
    };
    let settings = match crate::config::load() {
        Ok(config) => settings::resolve(&mut cli, matches, &config),
        Err(e) => return finish(Err(config_error(&e)), &ctx),
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), command = ?cli.command.as_ref().map(command_name), region = ?cli.region, profile = ?cli.profile, "start");
    let result = match &cli.command {
        Some(Command::Plan(args)) => cmd_plan(&cli, args, &ctx).await,
        Some(Command::Apply(args)) => cmd_apply(&cli, args, &ctx).await,
        Some(Command::Status(args)) => cmd_status(&cli, args, &ctx).await,
        Some(Command::Teardown(args)) => cmd_teardown(&cli, args, &ctx).await,
        Some(Command::Diagnose(args)) => cmd_diagnose(&cli, args, &ctx).await,
        Some(Command::Verify(args)) => cmd_verify(&cli, args, &ctx).await,
        Some(Command::Warm(args)) => workloads::warm(&cli, args, &ctx).await,
        Some(Command::Rewrite(args)) => workloads::rewrite(&cli, args, &ctx).await,
        Some(Command::Export(args)) => cmd_export(&cli, args, &ctx).await,
        Some(Command::Config(args)) => match args.action {
            ConfigAction::Show => {
                config_show(&settings, &ctx);
                Ok(())
            }
        },
        Some(Command::Completions(args)) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "echo-onboard", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Man(args)) => man(args),
        Some(Command::Fleet(command)) => fleet::run(&cli, command, &ctx).await,
        Some(Command::Template(args)) => {
            let kind = if args.upstream {
                crate::cfn::Kind::Upstream
            } else {
                crate::cfn::Kind::Echo
            };
            match args.format {
                TemplateFormat::Yaml => {
                    let _ = std::io::stdout().write_all(kind.yaml().as_bytes());
                }
                TemplateFormat::Json => out(crate::cfn::template_json(kind)),
            }
            Ok(())
        }
        None => Err(usage(
            "no command given",
            "run `echo-onboard --help` for the commands",
        )),
    };
    finish(result, &ctx)
}

fn finish(result: Result<(), Stop>, ctx: &Context) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(stop) => {
            if let Stop::Failed(f) = &stop {
                // The same redaction as the bundle: a failure may carry what AWS echoed back.
                let secrets = redact::secrets_from_env();
                err(redact::redact(
                    &format!("error: {}", f.error.line()),
                    &secrets,
                ));
                if ctx.json {
                    out(redact::redact(&failure_json(f).to_string(), &secrets));
                }
            }
            tracing::error!(exit = stop.exit_code(), "{stop:?}");
            ExitCode::from(stop.exit_code())
        }
    }
}

/// The one document a failed command writes with `--json`.
fn failure_json(f: &Failure) -> Value {
    let mut v = json!({
        "result": "failed",
        "error": f.error,
        "plan": f.plan.as_ref().map(render::plan_json),
        "changed": f.changed,
        "rolled_back": f.rolled_back,
        "remaining": f.remaining,
    });
    if let Some(s) = &f.stack_status {
        v["stack_status"] = json!(s);
    }
    // What fixes it, as data beside the words: the options the next step names.
    let settings: Vec<&str> = crate::core::words::settings(&f.error.next_step)
        .into_iter()
        .map(|s| s.id())
        .collect();
    if !settings.is_empty() {
        v["error"]["settings"] = json!(settings);
    }
    v
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Plan(_) => "plan",
        Command::Apply(_) => "apply",
        Command::Status(_) => "status",
        Command::Teardown(_) => "teardown",
        Command::Diagnose(_) => "diagnose",
        Command::Template(_) => "template",
        Command::Verify(_) => "verify",
        Command::Warm(_) => "warm",
        Command::Rewrite(_) => "rewrite",
        Command::Export(_) => "export",
        Command::Config(_) => "config",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
        Command::Fleet(_) => "fleet",
    }
}

const INVALID_CONFIG: &str = "InvalidConfig";

/// A bad config file stops every command before anything is sent (exit 2).
fn config_error(e: &crate::config::ConfigError) -> Stop {
    let mut p = Problem::new(
        INVALID_CONFIG,
        format!("config file {e}"),
        format!(
            "fix or remove {} (`echo-onboard config show` says what is in effect)",
            e.path.display()
        ),
    );
    p.kind = Some(crate::aws::ErrorKind::Invalid);
    Stop::from(p)
}

fn config_show(settings: &[Setting], ctx: &Context) {
    let path = crate::config::path();
    if ctx.json {
        out(json!({
            "config_file": path,
            "config_file_exists": path.as_ref().is_some_and(|p| p.exists()),
            "settings": settings,
        })
        .to_string());
        return;
    }
    match &path {
        Some(p) if p.exists() => out(format!("config file: {}", p.display())),
        Some(p) => out(format!(
            "config file: {} (none; defaults apply)",
            p.display()
        )),
        None => out("config file: none (no home directory)"),
    }
    let rows: Vec<Vec<String>> = settings
        .iter()
        .map(|s| {
            vec![
                s.key.to_string(),
                s.value.clone().unwrap_or_else(|| match s.key {
                    "region" => "(from the AWS profile)".into(),
                    "profile" => "(AWS default chain)".into(),
                    _ => "(not set)".into(),
                }),
                s.source.label(),
            ]
        })
        .collect();
    for line in output::table(&["SETTING", "VALUE", "SOURCE"], &rows) {
        out(line);
    }
}

fn man(args: &ManArgs) -> Result<(), Stop> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let written = match &args.dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|_| clap_mangen::generate_to(cmd, dir))
            .map(|_| format!("manual pages written to {}", dir.display())),
        None => {
            let mut buf = vec![];
            clap_mangen::Man::new(cmd).render(&mut buf).map(|_| {
                let _ = std::io::stdout().write_all(&buf);
                String::new()
            })
        }
    };
    match written {
        Ok(msg) if !msg.is_empty() => {
            err(msg);
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(Stop::from(Problem::new(
            "CannotWrite",
            format!("the manual pages could not be written: {e}"),
            "choose a writable directory with --dir",
        ))),
    }
}

/// Loads credentials and picks the region (or the sandbox). No request is sent to AWS here.
async fn connect(cli: &Cli) -> Result<Box<dyn Aws>, Stop> {
    let parse_region = |r: &str| {
        crate::core::validate::Region::parse("region", r).map_err(|e| Stop::from(Problem::from(e)))
    };
    if cli.sandbox {
        let region = parse_region(cli.region.as_deref().unwrap_or(SANDBOX_REGION))?;
        let aws = SandboxAws::demo(region.as_str(), std::time::Duration::from_millis(120));
        return Ok(Box::new(aws));
    }
    if let Some(profile) = &cli.profile {
        // A misspelt profile would otherwise surface as a confusing credential-chain error.
        let known = crate::aws::profiles::load().await;
        if !known
            .iter()
            .any(|p| p.name.as_deref() == Some(profile.as_str()))
        {
            let names: Vec<String> = known.iter().filter_map(|p| p.name.clone()).collect();
            return Err(usage(
                format!(
                    "--profile {profile:?} is not in ~/.aws/config or ~/.aws/credentials (profiles there: {})",
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ),
                format!("check the name, or run `aws configure --profile {profile}`"),
            ));
        }
    }
    let (aws, config_region) = SdkAws::connect(&ConnectOptions {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        endpoint_url: cli.endpoint_url.clone(),
    })
    .await;
    let region = cli.region.clone().or(config_region).ok_or_else(|| {
        usage(
            "no AWS region",
            "pass --region, set AWS_REGION, or set a region in the profile",
        )
    })?;
    parse_region(&region)?;
    Ok(Box::new(aws))
}

/// The cache settings as given; a repository policy file that cannot be read stops here
/// (exit 2), before anything is sent.
fn cache_input(args: &super::args::CacheArgs) -> Result<CacheSettingsInput, Stop> {
    let repository_policy = match &args.repository_policy {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(content) => Some((path.display().to_string(), content)),
            Err(e) => {
                return Err(usage(
                    format!(
                        "--repository-policy {}: cannot be read ({e})",
                        path.display()
                    ),
                    "give the path of a JSON repository policy file",
                ))
            }
        },
    };
    Ok(CacheSettingsInput {
        immutable_tags: args.immutable_tags,
        kms_key: args.kms_key.clone(),
        expire_untagged_after: args.expire_untagged_after.clone(),
        keep_last: args.keep_last.clone(),
        repo_tags: args.repo_tags.clone(),
        repository_policy,
        scan_on_push: args.scan_on_push,
        scan: args.scan.clone(),
        mutable_tags: args.mutable_tags.clone(),
        archive_after: args.archive_after.clone(),
        expire_archived_after: args.expire_archived_after.clone(),
        pull_time_exclusions: args.pull_time_exclusions.clone(),
    })
}

const PIPE_TOKEN: &str =
    "pipe the token in: printf %s \"$TOKEN\" | echo-onboard apply … --token-stdin";

/// The upstream as given; `--token-stdin` reads the token here, so it never appears in the
/// process list or the shell history.
fn upstream_input(args: &super::args::UpstreamArgs) -> Result<UpstreamInput, Stop> {
    let token = if args.token_stdin {
        // Typed at a terminal the token would be echoed on screen: it must be piped in.
        if std::io::stdin().is_terminal() {
            return Err(usage(
                "--token-stdin: stdin is a terminal, so the token would be shown as it is typed",
                PIPE_TOKEN,
            ));
        }
        let mut raw = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut raw) {
            return Err(usage(
                format!("--token-stdin: stdin cannot be read ({e})"),
                PIPE_TOKEN,
            ));
        }
        let token = Token::new(raw.trim_end_matches(['\r', '\n']));
        if token.is_empty() {
            return Err(usage("--token-stdin: stdin was empty", PIPE_TOKEN));
        }
        Some(token)
    } else {
        None
    };
    Ok(UpstreamInput {
        name: args.upstream.clone(),
        url: args.upstream_url.clone(),
        username: args.username.clone(),
        token,
        credential_arn: args.credential_arn.clone(),
    })
}

fn plan_request(args: &SetupArgs, region: &str) -> Result<ops::PlanRequest, Stop> {
    Ok(ops::PlanRequest {
        input: SetupInput {
            echo_account: args.echo_account.clone(),
            echo_region: args.echo_region.clone(),
            region: region.to_string(),
            prefix: args.prefix.clone(),
            role_name: args.role_name.clone(),
            upstream_prefix: args.upstream_prefix.clone(),
            tags: args.tags.clone(),
            cache: cache_input(&args.cache)?,
            upstream: upstream_input(&args.upstream)?,
            broad_policy: args.broad_policy,
        },
        method: match args.method {
            Method::Api => planning::Method::Api,
            Method::Cloudformation => planning::Method::CloudFormation,
        },
        stack_name: args.stack_name.clone(),
        adopt: args.adopt,
    })
}

fn print_plan(plan: &crate::core::plan::Plan, ctx: &Context) {
    for line in render::plan_lines(plan) {
        out(output::paint_line(&line, ctx.color));
    }
}

async fn cmd_plan(cli: &Cli, args: &PlanArgs, ctx: &Context) -> Result<(), Stop> {
    let aws = connect(cli).await?;
    let planned = ops::plan(aws.as_ref(), &plan_request(&args.setup, &aws.region())?).await?;
    // `plan` only shows: apply makes (and executes) its own reviewed change set.
    ops::discard(aws.as_ref(), &planned).await;
    if ctx.json {
        out(render::plan_json(&planned.plan).to_string());
    } else {
        print_plan(&planned.plan, ctx);
    }
    if args.detailed_exitcode && planned.plan.has_changes() {
        return Err(Stop::ChangesPending);
    }
    Ok(())
}

/// Asks on the terminal. Without one, refuses: changes to AWS need an explicit yes.
fn confirm(question: &str) -> Result<(), Problem> {
    if !std::io::stdin().is_terminal() {
        return Err(Problem::new(
            "NotConfirmed",
            "refusing to change AWS without confirmation: there is no terminal to ask on",
            "pass --yes to confirm",
        ));
    }
    eprint!("{question} Type 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Problem::new(
            "NotConfirmed",
            "cancelled: nothing was changed",
            "run the command again and type yes, or pass --yes",
        ))
    }
}

/// Shows an engine event on stderr (and in the log).
/// Progress of long reads on stderr (stdout keeps the one document): one line rewritten in
/// place on a terminal, a line per quarter otherwise; short listings say nothing.
fn print_progress() -> impl FnMut(Event) + Send + 'static {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let mut last_quarter = 0;
    move |event| {
        let Event::Progress { label, done, total } = event else {
            return;
        };
        if total < 500 {
            return;
        }
        let line = format!("{label}: {done}/{total} (--summary skips this)");
        if tty {
            eprint!("\r{line}");
            if done == total {
                eprintln!();
            }
        } else if done * 4 / total > last_quarter || done == total {
            last_quarter = done * 4 / total;
            err(line);
        }
    }
}

fn print_event(event: Event) {
    tracing::info!(event = ?event);
    err(describe(&event));
}

/// Keeps the plan in a failure that happened before the operation itself ran.
fn with_plan(p: Problem, plan: &crate::core::plan::Plan) -> Stop {
    let mut f = Failure::of(p);
    f.plan = Some(plan.clone());
    Stop::Failed(f)
}

async fn cmd_apply(cli: &Cli, args: &ApplyArgs, ctx: &Context) -> Result<(), Stop> {
    let aws = connect(cli).await?;
    let aws = aws.as_ref();
    let planned = ops::plan(aws, &plan_request(&args.setup, &aws.region())?).await?;
    let human = |ctx: &Context| !ctx.json;
    if human(ctx) {
        print_plan(&planned.plan, ctx);
    }
    let opts = ApplyOptions::default();
    if planned.plan.has_changes() && planned.plan.blockers.is_empty() && !args.yes {
        use crate::engine::stack::Recovery;
        let question = match &planned.stack {
            Some(sp) => match &sp.recovery {
                Some(Recovery::Delete { .. }) => format!(
                    "Deploy stack {}? The failed stack is deleted first.",
                    sp.request.name
                ),
                Some(Recovery::ContinueRollback { .. }) => {
                    format!("Continue the rollback of stack {}?", sp.request.name)
                }
                Some(Recovery::Wait) => format!(
                    "Wait for stack {} to finish, then plan again?",
                    sp.request.name
                ),
                None => format!("Deploy stack {}?", sp.request.name),
            },
            None => "Apply these changes?".into(),
        };
        if let Err(p) = confirm(&question) {
            ops::discard(aws, &planned).await;
            return Err(with_plan(p, &planned.plan));
        }
    }
    let stack_name = planned.stack.as_ref().map(|sp| sp.request.name.clone());
    let result = with_events(print_event, |tx| async move {
        ops::apply(aws, &planned, &opts, &tx).await
    })
    .await;
    let applied = match result {
        Ok(a) => a,
        Err(f) => {
            if !ctx.json {
                report_failure(&f);
            }
            // Offer the one next step a failed stack creation needs, when someone can answer.
            if let (Some("ROLLBACK_COMPLETE"), Some(name)) = (
                f.stack_status.as_deref(),
                f.plan.as_ref().and(stack_name.as_deref()),
            ) {
                if std::io::stdin().is_terminal()
                    && !args.yes
                    && !ctx.json
                    && confirm(&format!("Delete the failed stack {name} now?")).is_ok()
                {
                    let opts = ApplyOptions::default();
                    match with_events(print_event, |tx| async move {
                        ops::recover_stack(aws, name, &opts, &tx).await
                    })
                    .await
                    {
                        Ok(_) => err(format!(
                            "Deleted stack {name}; run apply again once the cause is fixed."
                        )),
                        Err(e) => err(format!("error: {}", e.error.line())),
                    }
                }
            }
            return Err(Stop::Failed(f));
        }
    };
    let validated = match &applied.validation {
        Some(v) if v.state != ValidationState::Valid => Err(Stop::NotValidated),
        _ => Ok(()),
    };
    if ctx.json {
        let mut v = serde_json::to_value(&applied).expect("serialisable");
        v["plan"] = render::plan_json(&applied.plan);
        out(v.to_string());
        return validated;
    }
    match applied.result {
        Outcome::NoOp => out("Nothing to do: the account already matches."),
        _ => match &applied.stack {
            Some(s) => {
                out(format!("Stack {}: {}.", s.name, s.status));
                for (k, v) in &s.outputs {
                    out(format!("  {k}: {v}"));
                }
            }
            None => out(format!(
                "Applied: {} in account {} ({}).",
                applied.plan.done_summary(),
                applied.account,
                applied.region
            )),
        },
    }
    output::print_usage(&applied.usage);
    if let Some(v) = applied
        .validation
        .as_ref()
        .filter(|v| v.state != ValidationState::Valid)
    {
        let what = match v.state {
            ValidationState::Unknown => "could not run",
            _ => "says the rule is not valid yet",
        };
        err(format!(
            "The setup is kept, but ECR's validation {what}: {}; next step: {} (exit 3).",
            v.failure.as_deref().unwrap_or("no reason given"),
            v.next_step
                .as_deref()
                .unwrap_or("run `echo-onboard diagnose`")
        ));
    }
    validated
}

/// What a failure left, for people (stderr); the error line itself follows from `run`.
fn report_failure(f: &Failure) {
    if let Some(s) = &f.stack_status {
        err(format!("The stack is {s}."));
    }
    if f.remaining.is_empty() {
        if !f.rolled_back.is_empty() {
            err("Rolled back: the account is as it was before this run.");
        }
    } else {
        err("Still in the account from this run:");
        for r in &f.remaining {
            err(format!("  - {r}"));
        }
    }
}

async fn cmd_status(cli: &Cli, args: &StatusArgs, ctx: &Context) -> Result<(), Stop> {
    let aws = connect(cli).await?;
    let regions = if args.all_regions {
        ops::Regions::All
    } else if args.regions.is_empty() {
        ops::Regions::Current
    } else {
        ops::Regions::List(args.regions.clone())
    };
    let req = ops::StatusRequest {
        regions,
        usage: true,
        details: !args.summary,
        stream: None,
    };
    let status = with_events(print_progress(), |tx| async move {
        ops::status(aws.as_ref(), &req, &tx).await
    })
    .await?;
    if ctx.json {
        out(output::status_json(&status).to_string());
        return Ok(());
    }
    for (i, r) in status.regions.iter().enumerate() {
        if i > 0 {
            out("");
        }
        match &r.observed {
            Ok(o) => {
                for line in output::status_lines(o) {
                    out(line);
                }
            }
            Err(e) => out(format!("{}: could not be read: {}", r.region, e.line())),
        }
    }
    Ok(())
}

async fn cmd_export(cli: &Cli, args: &ExportArgs, ctx: &Context) -> Result<(), Stop> {
    use crate::core::export::Format;
    let format = match args.format {
        ExportFormat::Terraform => Format::Terraform,
        ExportFormat::Cloudformation => Format::CloudFormation,
        ExportFormat::PulumiYaml => Format::PulumiYaml,
    };
    let aws = connect(cli).await?;
    let req = ops::ExportRequest {
        input: plan_request(&args.setup, &aws.region())?.input,
        format,
        import: args.import,
    };
    let exported = ops::export(aws.as_ref(), &req).await?;
    let mut written = vec![];
    if let Some(dir) = &args.output {
        for f in &exported.files {
            let path = dir.join(&f.name);
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&path, &f.content))
                .map_err(|e| {
                    Problem::new(
                        "CannotWrite",
                        format!("{} could not be written: {e}", path.display()),
                        "choose a writable directory with --output",
                    )
                })?;
            written.push(path);
        }
    }
    if ctx.json {
        out(json!({
            "format": format.owner(),
            "account": exported.account,
            "imported": exported.imported.map(|e| json!({"role": e.role, "policy": e.policy, "rule": e.rule})),
            "files": exported.files.iter().enumerate().map(|(i, f)| json!({
                "name": f.name,
                "path": written.get(i),
                "content": if written.is_empty() { Some(&f.content) } else { None },
            })).collect::<Vec<_>>(),
        })
        .to_string());
        return Ok(());
    }
    if written.is_empty() {
        let many = exported.files.len() > 1;
        for f in &exported.files {
            if many {
                out(format!("# ---- {} ----", f.name));
            }
            let _ = std::io::stdout().write_all(f.content.as_bytes());
        }
    } else {
        for p in &written {
            out(format!("wrote {}", p.display()));
        }
        if exported.imported.is_some() {
            out("Next: follow HANDOVER.md in that directory.");
        }
    }
    Ok(())
}

async fn cmd_verify(cli: &Cli, args: &VerifyArgs, ctx: &Context) -> Result<(), Stop> {
    let req = ops::VerifyRequest {
        image: args.image.clone(),
        prefix: args.prefix.clone(),
        registry_url: args.registry_url.clone(),
    };
    // Bad input and digest references are refused before any credential is loaded.
    ops::verify_input(&req)?;
    let aws = connect(cli).await?;
    if !ctx.json {
        err(format!(
            "Pulling {} through {}/ in {} …",
            args.image,
            args.prefix,
            aws.region()
        ));
    }
    let v = ops::verify(aws.as_ref(), &req).await?;
    if ctx.json {
        out(json!({
            "image": v.image,
            "digest": v.digest,
            "media_type": v.media_type,
            "cached_repository": v.cached_repository,
            "created": v.created,
            "elapsed_ms": v.elapsed_ms,
            "region": v.region,
            "repository": v.repository.map(|d| json!({
                "image_count": d.image_count,
                "size_bytes": d.size_bytes,
                "last_pulled_at": d.last_pulled_at.map(|t| t.to_rfc3339()),
            })),
        })
        .to_string());
        return Ok(());
    }
    out(output::paint(
        &format!(
            "✓ {} pulled through the cache in {} ms: {} ({})",
            v.image, v.elapsed_ms, v.digest, v.media_type
        ),
        Tone::Added,
        ctx.color,
    ));
    let what = if v.created {
        "created by this pull"
    } else {
        "was already cached"
    };
    let details = v.repository.map_or(String::new(), |d| {
        format!(
            ": {} image(s), {}",
            d.image_count,
            crate::core::format::human_bytes(d.size_bytes)
        )
    });
    out(format!(
        "  cached repository {} ({what}){details}",
        v.cached_repository
    ));
    Ok(())
}

async fn cmd_teardown(cli: &Cli, args: &TeardownArgs, ctx: &Context) -> Result<(), Stop> {
    // Bad input is refused before any credential is loaded.
    RepoPrefix::parse("prefix", &args.prefix).map_err(Problem::from)?;
    let aws = connect(cli).await?;
    let aws = aws.as_ref();
    let planned = ops::plan_teardown(
        aws,
        &ops::TeardownRequest {
            prefix: args.prefix.clone(),
            role_name: args.role_name.clone(),
            stack_name: Some(args.stack_name.clone()),
            delete_repos: args.delete_cached_repos,
            force: args.force,
            adopt: args.adopt,
            recovery_days: args.recovery_window,
        },
    )
    .await?;
    if !ctx.json {
        print_plan(&planned.plan, ctx);
    }
    if planned.plan.has_changes() && !args.yes {
        let question = match planned.stack_name() {
            Some(s) => format!("Delete stack {s} and what it created? This cannot be undone."),
            None => "Delete these resources? This cannot be undone.".into(),
        };
        confirm(&question).map_err(|p| with_plan(p, &planned.plan))?;
    }
    let opts = ApplyOptions::default();
    let planned_ref = &planned;
    let result = with_events(print_event, |tx| async move {
        ops::teardown(aws, planned_ref, &opts, &tx).await
    })
    .await;
    let done = match result {
        Ok(d) => d,
        Err(f) => {
            if !ctx.json {
                if !f.changed.is_empty() {
                    err(format!("Deleted: {}.", f.changed.join(", ")));
                }
                report_failure(&f);
            }
            return Err(Stop::Failed(f));
        }
    };
    if ctx.json {
        let mut v = serde_json::to_value(&done).expect("serialisable");
        v["plan"] = render::plan_json(&done.plan);
        out(v.to_string());
        return Ok(());
    }
    match done.result {
        Outcome::NoOp => out(format!(
            "Nothing to delete: no rule, role or stack for prefix {} in {}.",
            planned.prefix, planned.observed.region
        )),
        _ => out(format!("Deleted {} resource(s).", done.deleted.len())),
    }
    for l in &done.left_alone {
        out(format!("Left alone: {l}"));
    }
    Ok(())
}

async fn cmd_diagnose(cli: &Cli, args: &DiagnoseArgs, ctx: &Context) -> Result<(), Stop> {
    let prefix = RepoPrefix::parse("prefix", &args.prefix).map_err(Problem::from)?;
    let echo_account = args
        .echo_account
        .as_deref()
        .map(|a| AccountId::parse("echo-account", a))
        .transpose()
        .map_err(Problem::from)?
        .map(|a| a.to_string());
    let puller_roles = workloads::puller_roles(args)?;
    let aws = connect(cli).await?;
    let req = ops::DiagnoseRequest {
        prefix: prefix.to_string(),
        echo_account: echo_account.clone(),
        puller_roles: puller_roles.clone(),
        stack_name: Some(args.stack_name.clone()),
    };
    let report = ops::diagnose(aws.as_ref(), &req).await;
    let secrets = redact::secrets_from_env();
    for c in &report.checks {
        tracing::info!(check = c.id, "{}", redact::redact(&c.line(), &secrets));
    }
    let mut bundle_path = None;
    if let Some(path) = &args.output {
        let settings = json!({
            "profile": cli.profile, "region": aws.region(), "endpoint_url": cli.endpoint_url, "sandbox": cli.sandbox,
            "prefix": prefix.as_str(), "echo_account": echo_account, "puller_roles": puller_roles,
        });
        let written = ops::write_bundle(&report, settings, Some(path), &super::words::CliWords)?;
        bundle_path = Some(written.display().to_string());
    }
    if ctx.json {
        let doc = json!({
            "result": if report.failed() { "failed" } else { "ok" },
            "checks": report.checks,
            "summary": checks::summary(&report.checks),
            "bundle": bundle_path,
        });
        out(redact::redact(&doc.to_string(), &secrets));
    } else {
        for c in &report.checks {
            let line = redact::redact(&c.line(), &secrets);
            let tone = match c.status {
                CheckStatus::Pass => Tone::Added,
                CheckStatus::Warn => Tone::Warn,
                CheckStatus::Fail => Tone::Danger,
            };
            out(output::paint(&line, tone, ctx.color));
        }
        let s = checks::summary(&report.checks);
        out(format!(
            "{} passed, {} warnings, {} failed.",
            s["pass"], s["warn"], s["fail"]
        ));
        if let Some(p) = &bundle_path {
            out(format!(
                "Support bundle written to {p} (attach it to your ticket with Echo support)."
            ));
        }
    }
    if report.failed() {
        err("error: diagnostics found failures (see the FAIL checks)");
        return Err(Stop::ChecksFailed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_settings_that_fix_it() {
        let f = Failure::of(Problem::new(
            "AlreadyExists",
            "a rule with this prefix already exists",
            "⟦other prefix⟧, or ⟦pass adopt⟧ to take it over",
        ));
        let v = failure_json(&f);
        assert_eq!(v["error"]["settings"], json!(["prefix", "adopt"]));
        let worded: Value = serde_json::from_str(&crate::cli::words::say(&v.to_string())).unwrap();
        assert_eq!(
            worded["error"]["next_step"],
            "choose another --prefix, or pass --adopt to take it over"
        );
    }
}
