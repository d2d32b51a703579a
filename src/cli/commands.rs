//! The non-interactive commands: thin glue between arguments, the engine and the terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use serde_json::{json, Value};

use super::args::{
    ApplyArgs, Cli, Command, DiagnoseArgs, Method, PlanArgs, SetupArgs, TeardownArgs,
    TemplateFormat,
};
use super::output;
use crate::aws::sdk::{ConnectOptions, SdkAws};
use crate::aws::{Aws, AwsError};
use crate::engine::planning;
use crate::engine::stack::{self, StackPlan};
use crate::sandbox::SandboxAws;

/// The region the sandbox pretends to be in unless --region says otherwise.
pub const SANDBOX_REGION: &str = "eu-west-1";
use crate::core::checks::{self, Status};
use crate::core::model::{usage_instructions, Observed};
use crate::core::plan::{self, Plan, ResourceKind};
use crate::core::redact;
use crate::core::render;
use crate::core::validate::{
    AccountId, FieldError, Region, RepoPrefix, RoleName, SetupInput, DEFAULT_ROLE_NAME,
};
use crate::engine::apply::{self, ApplyOptions};
use crate::engine::diagnose::{self, DiagnoseInput};
use crate::engine::events::{describe, with_events, Event};
use crate::engine::observe::{self, Scope};
use crate::engine::teardown;

/// Why a command stopped, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or invalid input: nothing was sent to AWS (exit 2).
    Usage(String),
    Invalid(Vec<FieldError>),
    /// `plan --detailed-exitcode` with changes pending (exit 2, not an error).
    ChangesPending,
    /// AWS or runtime failure (exit 1).
    Aws(AwsError),
    Runtime(String),
    /// A failure whose JSON result is already on stdout (exit 1; the message goes to stderr).
    Reported(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Invalid(_) | Failure::ChangesPending => 2,
            Failure::Aws(_) | Failure::Runtime(_) | Failure::Reported(_) => 1,
        }
    }
    fn lines(&self) -> Vec<String> {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => vec![format!("error: {m}")],
            // Already told on stderr where it happened.
            Failure::Reported(_) => vec![],
            Failure::Invalid(errors) => errors.iter().map(|e| format!("error: {e}")).collect(),
            Failure::Aws(e) => vec![format!("error: {e}")],
            Failure::ChangesPending => vec![],
        }
    }
    fn json(&self) -> Value {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => json!({"error": {"message": m}}),
            Failure::Invalid(errors) => {
                json!({"error": {"message": "invalid input", "fields": errors}})
            }
            Failure::Aws(e) => {
                json!({"error": {"message": e.to_string(), "code": e.code, "action": e.action, "kind": e.kind}})
            }
            Failure::ChangesPending | Failure::Reported(_) => Value::Null,
        }
    }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Self {
        Failure::Invalid(vec![e])
    }
}

impl From<AwsError> for Failure {
    fn from(e: AwsError) -> Self {
        Failure::Aws(e)
    }
}

pub struct Context {
    pub json: bool,
    pub color: bool,
}

pub async fn run(cli: Cli) -> ExitCode {
    let ctx = Context {
        json: cli.json,
        color: output::color_enabled(),
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), command = ?cli.command.as_ref().map(command_name), region = ?cli.region, profile = ?cli.profile, "start");
    let result = match &cli.command {
        Some(Command::Plan(args)) => cmd_plan(&cli, args, &ctx).await,
        Some(Command::Apply(args)) => cmd_apply(&cli, args, &ctx).await,
        Some(Command::Status) => cmd_status(&cli, &ctx).await,
        Some(Command::Teardown(args)) => cmd_teardown(&cli, args, &ctx).await,
        Some(Command::Diagnose(args)) => cmd_diagnose(&cli, args, &ctx).await,
        Some(Command::Template(args)) => {
            match args.format {
                TemplateFormat::Yaml => print!("{}", crate::cfn::TEMPLATE_YAML),
                TemplateFormat::Json => println!("{}", crate::cfn::template_json()),
            }
            Ok(())
        }
        None => Err(Failure::Usage(
            "no command given: run `echo-onboard --help` for the commands".into(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            for line in f.lines() {
                eprintln!("{line}");
            }
            if ctx.json && !matches!(f, Failure::ChangesPending | Failure::Reported(_)) {
                println!("{}", f.json());
            }
            tracing::error!(exit = f.exit_code(), "{:?}", f.lines());
            ExitCode::from(f.exit_code())
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Plan(_) => "plan",
        Command::Apply(_) => "apply",
        Command::Status => "status",
        Command::Teardown(_) => "teardown",
        Command::Diagnose(_) => "diagnose",
        Command::Template(_) => "template",
    }
}

/// Loads credentials and picks the region (or the sandbox). No request is sent to AWS here.
async fn connect(cli: &Cli) -> Result<(Box<dyn Aws>, Region), Failure> {
    if cli.sandbox {
        let region = Region::parse("region", cli.region.as_deref().unwrap_or(SANDBOX_REGION))
            .map_err(|e| Failure::Invalid(vec![e]))?;
        let aws = SandboxAws::demo(region.as_str(), std::time::Duration::from_millis(120));
        return Ok((Box::new(aws), region));
    }
    if let Some(profile) = &cli.profile {
        // A misspelt profile would otherwise surface as a confusing credential-chain error.
        let known = crate::tui::profiles::load().await;
        if !known
            .iter()
            .any(|p| p.name.as_deref() == Some(profile.as_str()))
        {
            let names: Vec<String> = known.iter().filter_map(|p| p.name.clone()).collect();
            return Err(Failure::Usage(format!(
                "--profile {profile:?} is not in ~/.aws/config or ~/.aws/credentials (profiles there: {}); check the name, or run `aws configure --profile {profile}`",
                if names.is_empty() { "none".into() } else { names.join(", ") }
            )));
        }
    }
    let (aws, config_region) = SdkAws::connect(&ConnectOptions {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        endpoint_url: cli.endpoint_url.clone(),
    })
    .await;
    let region = cli.region.clone().or(config_region).ok_or_else(|| {
        Failure::Usage(
            "no AWS region: pass --region, set AWS_REGION, or set a region in the profile".into(),
        )
    })?;
    let region = Region::parse("region", &region).map_err(|e| Failure::Invalid(vec![e]))?;
    Ok((Box::new(aws), region))
}

fn setup_input(args: &SetupArgs, region: &Region) -> SetupInput {
    SetupInput {
        echo_account: args.echo_account.clone(),
        echo_region: args.echo_region.clone(),
        region: region.to_string(),
        prefix: args.prefix.clone(),
        role_name: args.role_name.clone(),
        upstream_prefix: args.upstream_prefix.clone(),
        tags: args.tags.clone(),
    }
}

/// The AWS connection with a plan made on it.
struct Planned {
    aws: Box<dyn Aws>,
    inner: planning::Planned,
}

impl std::ops::Deref for Planned {
    type Target = planning::Planned;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

async fn make_plan(cli: &Cli, args: &SetupArgs) -> Result<Planned, Failure> {
    let (aws, region) = connect(cli).await?;
    let setup = setup_input(args, &region)
        .validate()
        .map_err(Failure::Invalid)?;
    let method = match args.method {
        Method::Api => planning::Method::Api,
        Method::Cloudformation => planning::Method::CloudFormation,
    };
    let inner =
        planning::plan_setup(aws.as_ref(), setup, method, &args.stack_name, args.adopt).await?;
    Ok(Planned { aws, inner })
}

fn print_plan(plan: &Plan, ctx: &Context) {
    if ctx.json {
        println!("{}", render::plan_json(plan));
    } else {
        for line in render::plan_lines(plan, ctx.color) {
            println!("{line}");
        }
    }
}

async fn cmd_plan(cli: &Cli, args: &PlanArgs, ctx: &Context) -> Result<(), Failure> {
    let p = make_plan(cli, &args.setup).await?;
    print_plan(&p.plan, ctx);
    if args.detailed_exitcode && p.plan.has_changes() {
        return Err(Failure::ChangesPending);
    }
    Ok(())
}

/// Asks on the terminal. Without one, refuses: changes to AWS need an explicit yes.
fn confirm(question: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Runtime(
            "refusing to change AWS without confirmation: there is no terminal to ask on; pass --yes to confirm".into(),
        ));
    }
    eprint!("{question} Type 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::Runtime("cancelled: nothing was changed".into()))
    }
}

/// Shows an engine event on stderr (and in the log).
fn print_event(event: Event) {
    tracing::info!(event = ?event);
    eprintln!("{}", describe(&event));
}

async fn cmd_apply(cli: &Cli, args: &ApplyArgs, ctx: &Context) -> Result<(), Failure> {
    let p = make_plan(cli, &args.setup).await?;
    if !ctx.json {
        print_plan(&p.plan, ctx);
    }
    if !p.plan.blockers.is_empty() {
        return Err(Failure::Runtime(format!(
            "nothing was changed: {}",
            p.plan.blockers.join("; ")
        )));
    }
    if !p.plan.has_changes() {
        let usage = usage_instructions(
            &p.desired.account,
            &p.desired.region,
            &p.desired.rule.prefix,
        );
        if ctx.json {
            println!(
                "{}",
                json!({"result": "no-op", "plan": render::plan_json(&p.plan), "usage": usage})
            );
        } else {
            println!("Nothing to do: the account already matches.");
            output::print_usage(&usage);
        }
        return Ok(());
    }
    if let Some(sp) = &p.stack {
        return apply_stack(&p, sp, args, ctx).await;
    }
    if !args.yes {
        confirm("Apply these changes?")?;
    }
    let p = &p;
    let result = with_events(print_event, |tx| async move {
        apply::apply(
            p.aws.as_ref(),
            &p.desired,
            &p.observed,
            &p.plan,
            &ApplyOptions::default(),
            &tx,
        )
        .await
    })
    .await;
    match result {
        Ok(outcome) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "applied", "plan": render::plan_json(&p.plan), "changed": outcome.changed, "validation": outcome.validation, "usage": outcome.usage})
                );
            } else {
                println!(
                    "Applied: {} change(s) in account {} ({}).",
                    outcome.changed.len(),
                    p.desired.account,
                    p.setup.region
                );
                output::print_usage(&outcome.usage);
            }
            Ok(())
        }
        Err(failure) => {
            if failure.remaining.is_empty() {
                eprintln!(
                    "Rolled back: the account is as it was before this run{}.",
                    if failure.rolled_back.is_empty() {
                        " (nothing had been changed)"
                    } else {
                        ""
                    }
                );
            } else {
                eprintln!("Could not undo everything. Still in the account from this run:");
                for r in &failure.remaining {
                    eprintln!("  - {r}");
                }
                eprintln!(
                    "Remove them by hand, or run `echo-onboard teardown --prefix {}`.",
                    p.desired.rule.prefix
                );
            }
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "failed", "error": failure.error.to_string(), "code": failure.error.code, "rolled_back": failure.rolled_back, "remaining": failure.remaining})
                );
            }
            Err(Failure::Runtime(failure.error.to_string()))
        }
    }
}

async fn cmd_status(cli: &Cli, ctx: &Context) -> Result<(), Failure> {
    let (aws, region) = connect(cli).await?;
    let observed = observe::observe(
        aws.as_ref(),
        region.as_str(),
        &Scope {
            role_name: None,
            usage: true,
            prefix: None,
        },
    )
    .await?;
    if ctx.json {
        println!("{}", output::status_json(&observed));
    } else {
        for line in output::status_lines(&observed) {
            println!("{line}");
        }
    }
    Ok(())
}

async fn cmd_teardown(cli: &Cli, args: &TeardownArgs, ctx: &Context) -> Result<(), Failure> {
    let prefix = RepoPrefix::parse("prefix", &args.prefix)?;
    let role_name = args
        .role_name
        .as_deref()
        .map(|r| RoleName::parse("role-name", r))
        .transpose()?
        .map(|r| r.to_string());
    let (aws, region) = connect(cli).await?;
    let scope = Scope {
        role_name: Some(
            role_name
                .clone()
                .unwrap_or_else(|| DEFAULT_ROLE_NAME.to_string()),
        ),
        usage: args.delete_cached_repos,
        prefix: Some(prefix.to_string()),
    };
    let observed = observe::observe(aws.as_ref(), region.as_str(), &scope).await?;
    if args.method == Method::Cloudformation {
        return teardown_stack(aws.as_ref(), &observed, args, ctx).await;
    }
    // The rule's own role wins over the default name; an explicit --role-name wins over both.
    let role = match (
        &role_name,
        observed
            .rule(prefix.as_str())
            .and_then(|r| r.role_arn.clone()),
    ) {
        (None, Some(arn)) => observed.role_by_arn(&arn).cloned(),
        _ => observed.role.clone(),
    };
    let plan = plan::plan_teardown(
        &observed,
        prefix.as_str(),
        role.as_ref(),
        args.delete_cached_repos,
    );
    if !ctx.json {
        print_plan(&plan, ctx);
    }
    if !plan.has_changes() {
        if ctx.json {
            println!(
                "{}",
                json!({"result": "no-op", "plan": render::plan_json(&plan)})
            );
        } else {
            println!("Nothing to delete.");
        }
        return Ok(());
    }
    if !args.yes {
        confirm("Delete these resources? This cannot be undone.")?;
    }
    let (plan_ref, role_ref) = (&plan, role.as_ref());
    let result = with_events(print_event, |tx| async move {
        teardown::teardown(aws.as_ref(), plan_ref, role_ref, &tx).await
    })
    .await;
    match result {
        Ok(outcome) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "deleted", "plan": render::plan_json(&plan), "deleted": outcome.deleted, "left_alone": outcome.left_alone})
                );
            } else {
                println!("Deleted {} resource(s).", outcome.deleted.len());
                for l in &outcome.left_alone {
                    println!("Left alone: {l}");
                }
            }
            Ok(())
        }
        Err(failure) => {
            eprintln!(
                "Teardown stopped. Deleted: {}.",
                if failure.deleted.is_empty() {
                    "nothing".into()
                } else {
                    failure.deleted.join(", ")
                }
            );
            eprintln!(
                "Still present: {}. Fix the error and run teardown again.",
                failure.remaining.join(", ")
            );
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "failed", "error": failure.error.to_string(), "deleted": failure.deleted, "remaining": failure.remaining})
                );
            }
            Err(Failure::Runtime(failure.error.to_string()))
        }
    }
}

async fn cmd_diagnose(cli: &Cli, args: &DiagnoseArgs, ctx: &Context) -> Result<(), Failure> {
    let prefix = RepoPrefix::parse("prefix", &args.prefix)?;
    let echo_account = args
        .echo_account
        .as_deref()
        .map(|a| AccountId::parse("echo-account", a))
        .transpose()?
        .map(|a| a.to_string());
    let (aws, region) = connect(cli).await?;
    let input = DiagnoseInput {
        prefix: prefix.to_string(),
        echo_account: echo_account.clone(),
        puller_role: args.puller_role.clone(),
        stack_name: Some(args.stack_name.clone()),
    };
    let report = diagnose::diagnose(aws.as_ref(), region.as_str(), &input).await;
    let secrets = redact::secrets_from_env();
    for c in &report.checks {
        tracing::info!(check = c.id, "{}", redact::redact(&c.line(), &secrets));
    }
    let mut bundle_path = None;
    if let Some(path) = &args.output {
        let settings = json!({
            "profile": cli.profile, "region": region.as_str(), "endpoint_url": cli.endpoint_url, "sandbox": cli.sandbox,
            "prefix": prefix.as_str(), "echo_account": echo_account, "puller_role": args.puller_role,
        });
        let bundle = super::bundle::build(&report, settings, super::bundle::log_tail());
        super::bundle::write(path, &bundle).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write the bundle to {}: {e}",
                path.display()
            ))
        })?;
        bundle_path = Some(path.display().to_string());
    }
    if ctx.json {
        let out = json!({"checks": report.checks, "summary": checks::summary(&report.checks), "bundle": bundle_path});
        println!("{}", redact::redact(&out.to_string(), &secrets));
    } else {
        for c in &report.checks {
            let line = redact::redact(&c.line(), &secrets);
            let tone = match c.status {
                Status::Pass => render::Tone::Added,
                Status::Warn => render::Tone::Warn,
                Status::Fail => render::Tone::Danger,
            };
            println!("{}", render::paint(&line, tone, ctx.color));
        }
        let s = checks::summary(&report.checks);
        println!(
            "{} passed, {} warnings, {} failed.",
            s["pass"], s["warn"], s["fail"]
        );
        if let Some(p) = &bundle_path {
            println!("Support bundle written to {p} (attach it to your ticket with Echo support).");
        }
    }
    if report.failed() {
        eprintln!("error: diagnostics found failures (see the FAIL checks)");
        return Err(Failure::Reported(
            "diagnostics found failures (see the FAIL checks)".into(),
        ));
    }
    Ok(())
}

async fn apply_stack(
    p: &Planned,
    sp: &StackPlan,
    args: &ApplyArgs,
    ctx: &Context,
) -> Result<(), Failure> {
    let name = &sp.request.name;
    if !args.yes {
        let extra = match sp.stack.as_ref().map(|s| s.status.as_str()) {
            Some("ROLLBACK_COMPLETE") => format!(" The failed stack {name} is deleted first."),
            _ => String::new(),
        };
        confirm(&format!("Deploy stack {name}?{extra}"))?;
    }
    let result = with_events(print_event, |tx| async move {
        stack::apply(
            p.aws.as_ref(),
            sp,
            &p.desired,
            &ApplyOptions::default(),
            &tx,
        )
        .await
    })
    .await;
    match result {
        Ok(outcome) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "applied", "method": "cloudformation", "stack": name, "status": outcome.status, "plan": render::plan_json(&p.plan), "outputs": outcome.outputs, "validation": outcome.validation, "usage": outcome.usage})
                );
            } else {
                println!("Stack {name}: {}.", outcome.status);
                for (k, v) in &outcome.outputs {
                    println!("  {k}: {v}");
                }
                output::print_usage(&outcome.usage);
            }
            Ok(())
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(s) = &f.stack_status {
                eprintln!("Stack {name} is {s}.");
            }
            eprintln!("Next step: {}", f.next_step);
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "failed", "method": "cloudformation", "stack": name, "error": f.message, "stack_status": f.stack_status, "next_step": f.next_step})
                );
            }
            // Offer the one next step a ROLLBACK_COMPLETE stack needs, when someone can answer.
            if f.stack_status.as_deref() == Some("ROLLBACK_COMPLETE")
                && std::io::stdin().is_terminal()
                && !args.yes
                && confirm(&format!("Delete the failed stack {name} now?")).is_ok()
            {
                match p.aws.delete_stack(name).await {
                    Ok(()) => {
                        eprintln!("Deleting stack {name}; run apply again once the cause is fixed.")
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            Err(Failure::Reported(f.message))
        }
    }
}

async fn teardown_stack(
    aws: &dyn Aws,
    observed: &Observed,
    args: &TeardownArgs,
    ctx: &Context,
) -> Result<(), Failure> {
    let name = &args.stack_name;
    let Some(found) = aws.describe_stack(name).await? else {
        let msg = format!("no stack named {name} in {}: nothing to delete (pass --stack-name, or --method api for a setup made with API calls)", observed.region);
        if ctx.json {
            println!("{}", json!({"result": "no-op", "message": msg}));
        } else {
            println!("{msg}");
        }
        return Ok(());
    };
    let prefix = found
        .parameters
        .get("RepositoryNamePrefix")
        .cloned()
        .unwrap_or_else(|| args.prefix.clone());
    let repos = plan::plan_teardown(observed, &prefix, None, args.delete_cached_repos);
    let mut plan = Plan {
        account: observed.identity.account.clone(),
        region: observed.region.clone(),
        changes: stack::teardown_rows(&found),
        warnings: repos.warnings.clone(),
        blockers: vec![],
    };
    plan.changes.extend(
        repos
            .changes
            .iter()
            .filter(|c| c.resource == ResourceKind::EcrRepository)
            .cloned(),
    );
    if !ctx.json {
        print_plan(&plan, ctx);
    }
    if stack::is_in_progress(&found.status) {
        eprintln!(
            "Stack {name} is {}: its deletion will follow once it finishes.",
            found.status
        );
    }
    if !args.yes {
        confirm(&format!(
            "Delete stack {name} and what it created? This cannot be undone."
        ))?;
    }
    let (found_ref, plan_ref) = (&found, &plan);
    let result = with_events(print_event, |tx| async move {
        stack::delete_with_repositories(aws, found_ref, plan_ref, &ApplyOptions::default(), &tx)
            .await
    })
    .await;
    match result {
        Ok(deleted) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "deleted", "method": "cloudformation", "stack": name, "plan": render::plan_json(&plan), "deleted": deleted})
                );
            } else {
                println!(
                    "Deleted stack {name}; confirmed gone: {}.",
                    deleted.join(", ")
                );
            }
            Ok(())
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            eprintln!("Next step: {}", f.next_step);
            if ctx.json {
                println!(
                    "{}",
                    json!({"result": "failed", "method": "cloudformation", "stack": name, "error": f.message, "stack_status": f.stack_status, "next_step": f.next_step})
                );
            }
            Err(Failure::Reported(f.message))
        }
    }
}
