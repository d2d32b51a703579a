//! `echo-onboard fleet plan|apply|status|teardown`: translates flags into the engine's fleet
//! requests and renders its results (one JSON document with `--json`, on failure too).

use super::{cache_input, confirm, connect, print_event, Context, Stop};
use crate::cli::args::{Cli, FleetCommand, FleetSetupArgs};
use crate::cli::output::{out, paint_line};
use crate::core::fleet::{FleetInput, FleetPlan};
use crate::core::render::fleet_plan_lines;
use crate::core::validate::SetupInput;
use crate::engine::apply::ApplyOptions;
use crate::engine::events::with_events;
use crate::engine::fleet;

fn input(args: &FleetSetupArgs) -> Result<FleetInput, Stop> {
    let mut setup = SetupInput::with_defaults(&args.echo_account, "");
    setup.echo_region = args.echo_region.clone();
    setup.prefix = args.prefix.clone();
    setup.role_name = args.role_name.clone();
    setup.upstream_prefix = args.upstream_prefix.clone();
    setup.cache = cache_input(&args.cache)?;
    Ok(FleetInput {
        accounts: args.accounts.clone(),
        org_units: args.org_units.clone(),
        regions: args.regions.clone(),
        stack_set_name: args.set.stack_set_name.clone(),
        admin_role_arn: args.admin_role_arn.clone().unwrap_or_default(),
        execution_role_name: args.execution_role_name.clone(),
        auto_deploy: !args.no_auto_deploy,
        delegated_admin: args.set.delegated_admin(),
        sequential_regions: args.sequential_regions,
        max_concurrent_percentage: args.max_concurrent_percentage,
        failure_tolerance_percentage: args.failure_tolerance_percentage,
        read_role_name: String::new(),
        ..FleetInput::new(setup)
    })
}

fn print_plan(p: &FleetPlan, ctx: &Context) {
    for line in fleet_plan_lines(p, |o| o.flag().to_string()) {
        out(paint_line(&line, ctx.color));
    }
}

/// The command line that retries the failed instances: exactly the one that ran (the same
/// fleet), whose plan re-deploys only the failed instances and leaves the rest alone.
fn retry_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = shlex::try_join(args.iter().map(String::as_str)).unwrap_or_else(|_| args.join(" "));
    format!("echo-onboard {line}")
}

pub(super) async fn run(cli: &Cli, command: &FleetCommand, ctx: &Context) -> Result<(), Stop> {
    match command {
        FleetCommand::Plan(args) => {
            let input = input(&args.setup)?;
            let aws = connect(cli).await?;
            let planned = fleet::plan(aws.as_ref(), &input).await?;
            if ctx.json {
                out(serde_json::to_string(&planned.plan).expect("serialisable"));
            } else {
                print_plan(&planned.plan, ctx);
            }
            if args.detailed_exitcode && planned.plan.has_changes() {
                return Err(Stop::ChangesPending);
            }
            Ok(())
        }
        FleetCommand::Apply(a) => {
            let input = input(&a.setup)?;
            let aws = connect(cli).await?;
            let aws = aws.as_ref();
            let opts = ApplyOptions {
                operation_wait: std::time::Duration::from_secs(a.wait),
                ..ApplyOptions::default()
            };
            // A stack set runs one operation at a time: plan once a running one has finished.
            let call_as = a
                .setup
                .set
                .delegated_admin()
                .then(|| "DELEGATED_ADMIN".to_string());
            let name = a.setup.set.stack_set_name.clone();
            let (o, c) = (&opts, &call_as);
            if input.validate().is_ok() {
                let running = with_events(print_event, |tx| async move {
                    fleet::wait_for_running(aws, &name, c, o, &tx).await
                })
                .await?;
                if let Some(op) = running {
                    let msg = format!(
                        "stack set {} is still running operation {} after {}s: nothing was started; watch it with `echo-onboard fleet status --stack-set-name {}`, then run this command again",
                        a.setup.set.stack_set_name, op.id, a.wait, a.setup.set.stack_set_name
                    );
                    return Err(Stop::Failed(crate::engine::ops::Failure::of(
                        crate::engine::ops::Problem::new(
                            "OperationStillRunning",
                            msg,
                            "wait for the operation, then apply again",
                        ),
                    )));
                }
            }
            let planned = fleet::plan(aws, &input).await?;
            if !ctx.json {
                print_plan(&planned.plan, ctx);
            }
            if planned.plan.has_changes() && planned.plan.blockers.is_empty() && !a.yes {
                confirm(&format!(
                    "Deploy stack set {} to these targets?",
                    planned.request.name
                ))?;
            }
            let retry = retry_command();
            let planned_ref = &planned;
            let done = with_events(print_event, |tx| async move {
                fleet::apply(aws, planned_ref, &opts, &tx, &retry).await
            })
            .await?;
            if ctx.json {
                out(serde_json::to_string(&done).expect("serialisable"));
            } else {
                out(format!(
                    "Stack set {}: {} instance(s), {} failed.",
                    done.stack_set,
                    done.instances.len(),
                    done.failed.len()
                ));
                for f in &done.failed {
                    out(format!(
                        "  failed {} {}: {}",
                        f.account,
                        f.region,
                        f.reason.as_deref().unwrap_or("no reason given")
                    ));
                }
                if let Some(r) = &done.retry {
                    out(format!("Retry only the failed instances: {r}"));
                }
                if let Some(s) = &done.still_running {
                    out(format!(
                        "Still running: operation {} ({} instance(s) pending or running, not failed). Watch it: {}",
                        s.operation_id,
                        s.instances.len(),
                        s.watch
                    ));
                }
            }
            if done.failed.is_empty() && done.still_running.is_none() {
                Ok(())
            } else {
                Err(Stop::Reported)
            }
        }
        FleetCommand::Status(a) => {
            let aws = connect(cli).await?;
            let call_as = a
                .set
                .delegated_admin()
                .then(|| "DELEGATED_ADMIN".to_string());
            let st = fleet::status(
                aws.as_ref(),
                &a.set.stack_set_name,
                &call_as,
                &a.read_role_name,
            )
            .await?;
            if ctx.json {
                out(serde_json::to_string(&st).expect("serialisable"));
                return Ok(());
            }
            match &st.stack_set {
                None => out(format!(
                    "No stack set {} in {}.",
                    a.set.stack_set_name,
                    aws.region()
                )),
                Some(s) => out(format!("Stack set {} ({}):", s.name, s.status)),
            }
            for i in &st.instances {
                let rule = match (&i.rule, &i.unreadable) {
                    (_, Some(e)) => format!("unreadable: {e}"),
                    (Some(r), None) => format!(
                        "rule {} {}",
                        r.prefix,
                        match r.valid {
                            Some(true) => "valid".to_string(),
                            Some(false) =>
                                format!("INVALID: {}", r.failure.as_deref().unwrap_or("no reason")),
                            None => "not validated".to_string(),
                        }
                    ),
                    (None, None) => "no rule".to_string(),
                };
                out(format!(
                    "  {} {} {} — {rule}; {} repositories, {} pulls (30 days)",
                    i.account,
                    i.region,
                    i.status,
                    i.repositories.map_or("?".into(), |n| n.to_string()),
                    i.pull_count_30d.map_or("?".into(), |n| n.to_string()),
                ));
                if let Some(g) = &i.grant {
                    out(format!(
                        "    to let status read it, create role {} in {} trusting {} (or pass --read-role-name with a role there that does), in account {}:",
                        g.role_name, g.account, g.trusted_account, g.account
                    ));
                    for c in &g.commands {
                        out(format!("      {c}"));
                    }
                }
            }
            Ok(())
        }
        FleetCommand::Teardown(a) => {
            let aws = connect(cli).await?;
            let aws = aws.as_ref();
            let call_as = a
                .set
                .delegated_admin()
                .then(|| "DELEGATED_ADMIN".to_string());
            if !a.yes {
                confirm(&format!(
                    "Delete every instance of stack set {}{}, then the stack set?",
                    a.set.stack_set_name,
                    if a.retain_stacks {
                        " (keeping their stacks)"
                    } else {
                        " and the stacks in its accounts"
                    }
                ))?;
            }
            let opts = ApplyOptions::default();
            let (name, retain) = (a.set.stack_set_name.as_str(), a.retain_stacks);
            let call_ref = &call_as;
            let done = with_events(print_event, |tx| async move {
                fleet::teardown(aws, name, call_ref, retain, &opts, &tx).await
            })
            .await?;
            if ctx.json {
                out(serde_json::to_string(&done).expect("serialisable"));
            } else {
                out(format!(
                    "Deleted {} instance(s) and stack set {}.",
                    done.deleted_instances, done.stack_set
                ));
            }
            Ok(())
        }
    }
}
