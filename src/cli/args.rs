//! The command line. Users' scripts depend on these names: keep them stable.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::validate::{DEFAULT_ECHO_REGION, DEFAULT_PREFIX, DEFAULT_ROLE_NAME, ROOT};

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the commit is stamped at build time (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ECHO_ONBOARD_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "echo-onboard",
    version = VERSION,
    about = "Onboard an AWS account onto Echo's container registry (ECR pull-through cache)",
    long_about = "Onboard an AWS account onto Echo's container registry: an ECR-to-ECR pull-through \
cache rule plus the IAM role ECR assumes to pull from Echo.\n\nWithout a subcommand on a terminal, \
opens the interactive wizard."
)]
pub struct Cli {
    /// AWS profile from ~/.aws/config or ~/.aws/credentials (default: the standard chain).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region to set up or inspect (default: from the profile or AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator). Also AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Write logs to a file in the state directory at this level (error, warn, info, debug, trace).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Use a simulated AWS account in memory: try everything without an AWS account.
    #[arg(long, global = true)]
    pub sandbox: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change, without changing anything.
    Plan(PlanArgs),
    /// Create or repair the role and the pull-through cache rule.
    Apply(ApplyArgs),
    /// List every pull-through cache rule in the region and the cached repositories.
    Status(StatusArgs),
    /// Delete the rule and the role echo-onboard manages for a prefix.
    Teardown(TeardownArgs),
    /// Check the setup end to end (PASS / WARN / FAIL with fixes); write a support bundle.
    Diagnose(DiagnoseArgs),
    /// Print the CloudFormation template (the same one `--method cloudformation` deploys).
    Template(TemplateArgs),
    /// Write the setup as Terraform, CloudFormation or Pulumi YAML (equal to what apply
    /// makes); --import adopts what echo-onboard already made.
    Export(ExportArgs),
    /// Pull one image manifest through the cache (as `docker pull` starts, without Docker and
    /// without layers): proves the rule, its role and Echo's side work.
    Verify(VerifyArgs),
    /// Warm the cache before the first deploy: pull every image of manifests, a rendered Helm
    /// chart or a list by tag through the cache (8 at a time) and report each.
    Warm(WarmArgs),
    /// Rewrite image references to the cache (manifests, or a diff with --dry-run), or print
    /// a Kyverno or MutatingAdmissionPolicy that does the same at admission.
    Rewrite(RewriteArgs),
    /// Show the settings in effect and where each comes from (flag, environment, config file,
    /// default).
    Config(ConfigArgs),
    /// Print a shell completion script: `echo-onboard completions bash > /etc/bash_completion.d/echo-onboard`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command with --dir.
    Man(ManArgs),
    /// Onboard many accounts and regions at once through one CloudFormation StackSet.
    #[command(subcommand)]
    Fleet(FleetCommand),
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Show the stack set diff and which instances would be created, updated or deleted.
    Plan(FleetPlanArgs),
    /// Create or update the stack set and its instances, streaming each one's result.
    Apply(FleetApplyArgs),
    /// Every instance with a live read of its account: rule, cached repositories, 30-day pulls.
    Status(FleetStatusArgs),
    /// Delete every instance, then the stack set.
    Teardown(FleetTeardownArgs),
}

/// The stack set and how StackSets reaches it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Stack set")]
pub struct FleetSetArgs {
    /// Stack set name.
    #[arg(long, default_value = crate::core::fleet::DEFAULT_STACK_SET_NAME)]
    pub stack_set_name: String,
    /// Who calls StackSets: SELF (the management or administration account) or
    /// DELEGATED_ADMIN (a delegated administrator of the Organization).
    #[arg(long, value_enum, default_value = "SELF", ignore_case = true)]
    pub call_as: CallAsArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallAsArg {
    #[value(name = "SELF")]
    SelfAccount,
    #[value(name = "DELEGATED_ADMIN")]
    DelegatedAdmin,
}

impl FleetSetArgs {
    pub fn delegated_admin(&self) -> bool {
        self.call_as == CallAsArg::DelegatedAdmin
    }
}

#[derive(Debug, Clone, Args)]
pub struct FleetSetupArgs {
    #[command(flatten)]
    pub set: FleetSetArgs,
    /// Target accounts, comma-separated (self-managed permissions).
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub accounts: Vec<String>,
    /// Target OUs or the root, comma-separated (service-managed, through Organizations).
    #[arg(long, value_delimiter = ',', value_name = "OU,OU")]
    pub org_units: Vec<String>,
    /// Regions to deploy to in every target, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "R1,R2")]
    pub regions: Vec<String>,
    /// Self-managed: the administration role [default: AWSCloudFormationStackSetAdministrationRole in this account]
    #[arg(long, value_name = "ARN")]
    pub admin_role_arn: Option<String>,
    /// Self-managed: the role StackSets assumes in each target.
    #[arg(long, default_value = crate::core::fleet::DEFAULT_EXECUTION_ROLE)]
    pub execution_role_name: String,
    /// Service-managed: do not deploy to accounts that join the OUs later.
    #[arg(long)]
    pub no_auto_deploy: bool,
    /// Deploy one region after another instead of in parallel.
    #[arg(long)]
    pub sequential_regions: bool,
    /// Percentage of targets deployed at once (1-100) [default: 25]
    #[arg(long, value_name = "PCT")]
    pub max_concurrent_percentage: Option<u8>,
    /// Percentage of targets that may fail before StackSets stops (0-100) [default: 0]
    #[arg(long, value_name = "PCT")]
    pub failure_tolerance_percentage: Option<u8>,
    /// Echo's 12-digit AWS account id (Echo gives it to you).
    #[arg(long, value_name = "ID", env = "ECHO_ACCOUNT_ID", default_value = "")]
    pub echo_account: String,
    /// Region of Echo's registry.
    #[arg(long, value_name = "REGION", env = "ECHO_REGION", default_value = DEFAULT_ECHO_REGION)]
    pub echo_region: String,
    /// Cache prefix: images are pulled as <prefix>/<image>.
    #[arg(long, env = "ECHO_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Base name of the role ECR assumes (each stack appends its region).
    #[arg(long, default_value = DEFAULT_ROLE_NAME)]
    pub role_name: String,
    /// Repository prefix in Echo's registry that the cache maps to.
    #[arg(long, default_value = ROOT)]
    pub upstream_prefix: String,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FleetPlanArgs {
    #[command(flatten)]
    pub setup: FleetSetupArgs,
    /// Exit 2 when changes are pending, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FleetApplyArgs {
    #[command(flatten)]
    pub setup: FleetSetupArgs,
    /// How long to follow each StackSets operation; one still running then is reported as
    /// running (not failed) with how to watch it, and a later apply waits for it.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub wait: u64,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FleetStatusArgs {
    #[command(flatten)]
    pub set: FleetSetArgs,
    /// The role to read each target through.
    #[arg(long, default_value = crate::core::fleet::DEFAULT_READ_ROLE)]
    pub read_role_name: String,
}

#[derive(Debug, Clone, Args)]
pub struct FleetTeardownArgs {
    #[command(flatten)]
    pub set: FleetSetArgs,
    /// Keep the stacks in the targets (detach them from the stack set) instead of deleting them.
    #[arg(long)]
    pub retain_stacks: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Terraform,
    Cloudformation,
    PulumiYaml,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// The infrastructure-code format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write the files into this directory (created if needed); default: print them.
    #[arg(long, value_name = "DIR")]
    pub output: Option<std::path::PathBuf>,
    /// Adopt the resources echo-onboard already made (import blocks / resource identifiers /
    /// import options) and write HANDOVER.md with the steps.
    #[arg(long)]
    pub import: bool,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The image as named in Echo's registry, NAME[:TAG] (tag default: latest), e.g. nginx:1.27.
    #[arg(long, value_name = "NAME[:TAG]")]
    pub image: String,
    /// Prefix of the rule to pull through.
    #[arg(long, env = "ECHO_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// The registry endpoint to pull from (a VPC interface endpoint, an emulator); default: the
    /// account's registry in the region.
    #[arg(long, value_name = "URL", env = "ECHO_REGISTRY_URL")]
    pub registry_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct WarmArgs {
    /// Files of Kubernetes manifests (e.g. `helm template` output) or of image references, one
    /// a line; `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// The registry endpoint to pull from (a VPC interface endpoint, an emulator); default: the
    /// account's registry in the region.
    #[arg(long, value_name = "URL", env = "ECHO_REGISTRY_URL")]
    pub registry_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RewriteArgs {
    /// Files of Kubernetes manifests or image references; `-` reads stdin.
    #[arg(value_name = "FILE", required_unless_present = "policy")]
    pub files: Vec<std::path::PathBuf>,
    /// Print only the changed image lines as a diff, not the rewritten files.
    #[arg(long)]
    pub dry_run: bool,
    /// Print an admission policy that performs the same rewrite in the cluster.
    #[arg(long, value_enum, conflicts_with = "dry_run")]
    pub policy: Option<PolicyFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// A Kyverno ClusterPolicy (Kyverno 1.10 or later).
    Kyverno,
    /// A MutatingAdmissionPolicy and its binding (Kubernetes 1.36 or later).
    MutatingAdmissionPolicy,
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Each setting, its value and its source; and where the config file is looked for.
    Show,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write echo-onboard.1 and one page per command into this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Regions to list, comma-separated (default: --region)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "R1,R2",
        conflicts_with = "all_regions"
    )]
    pub regions: Vec<String>,
    /// Every region enabled for the account, read in parallel
    #[arg(long)]
    pub all_regions: bool,
    /// Rules, repositories and 30-day pulls only: skip each repository's image count, size and
    /// last pull (one call per repository)
    #[arg(long)]
    pub summary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct TemplateArgs {
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: TemplateFormat,
    /// Print the template for other upstream registries (Docker Hub, Quay, GitHub, …): a
    /// rule, its credential secret and a creation template, instead of Echo's.
    #[arg(long)]
    pub upstream: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DiagnoseArgs {
    /// Prefix of the rule to check.
    #[arg(long, env = "ECHO_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Echo's account id (default: read from the rule).
    #[arg(long, value_name = "ID", env = "ECHO_ACCOUNT_ID")]
    pub echo_account: Option<String>,
    /// Also check that these workload (node, CI) roles can pull through the cache; repeatable
    /// or comma-separated.
    #[arg(long, value_name = "ARN", value_delimiter = ',')]
    pub puller_role: Vec<String>,
    /// A file of puller role ARNs, one a line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub puller_roles_file: Option<std::path::PathBuf>,
    /// CloudFormation stack to check (when the rule does not name one).
    #[arg(long, default_value = crate::cfn::DEFAULT_STACK_NAME)]
    pub stack_name: String,
    /// Write a support bundle (JSON with a Markdown summary, mode 0600) to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Direct AWS API calls.
    Api,
    /// A CloudFormation stack.
    Cloudformation,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Echo's 12-digit AWS account id (Echo gives it to you).
    #[arg(long, value_name = "ID", env = "ECHO_ACCOUNT_ID", default_value = "")]
    pub echo_account: String,
    /// Region of Echo's registry.
    #[arg(long, value_name = "REGION", env = "ECHO_REGION", default_value = DEFAULT_ECHO_REGION)]
    pub echo_region: String,
    /// Cache prefix: images are pulled as <prefix>/<image>.
    #[arg(long, env = "ECHO_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Name of the IAM role ECR assumes to pull from Echo.
    #[arg(long, default_value = DEFAULT_ROLE_NAME)]
    pub role_name: String,
    /// Repository prefix in Echo's registry that the cache maps to.
    #[arg(long, default_value = ROOT)]
    pub upstream_prefix: String,
    /// Extra tag for the role, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// How to make the changes.
    #[arg(long, value_enum, env = "ECHO_METHOD", default_value = "api")]
    pub method: Method,
    /// Take over an existing role or rule that echo-onboard did not create (API method).
    #[arg(long)]
    pub adopt: bool,
    /// The role's cache actions on Resource "*", as AWS's documentation and Echo's template
    /// have them (default: least privilege). The way out if a first pull is denied for the
    /// role although its least-privilege policy looks right (API method).
    #[arg(long)]
    pub broad_policy: bool,
    /// Stack name for --method cloudformation [default: echo-registry-ecr-cache for Echo's
    /// rule, echo-onboard-cache-<prefix> for another upstream's]
    #[arg(long)]
    pub stack_name: Option<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

/// Which registry the rule caches: Echo's (the default) or another upstream ECR supports.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Upstream registry (default: Echo's)")]
pub struct UpstreamArgs {
    /// Registry to cache: echo, ecr-public, quay, k8s, docker-hub, github-container-registry,
    /// gitlab-container-registry, azure-container-registry or chainguard.
    #[arg(long, value_name = "NAME", default_value = "echo")]
    pub upstream: String,
    /// Registry URL for azure-container-registry (<name>.azurecr.io); the others use the URL AWS documents.
    #[arg(long, value_name = "URL", default_value = "")]
    pub upstream_url: String,
    /// Upstream user name; stored with the token in the secret ecr-pullthroughcache/<prefix>.
    #[arg(long, value_name = "USER", default_value = "")]
    pub username: String,
    /// Read the upstream access token from stdin (like docker login --password-stdin).
    #[arg(long)]
    pub token_stdin: bool,
    /// Use an existing Secrets Manager secret (name ecr-pullthroughcache/…, keys username and accessToken).
    #[arg(long, value_name = "ARN", default_value = "")]
    pub credential_arn: String,
}

/// How the repositories the cache creates are set up: a repository creation template for the
/// prefix, and scanning on push.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cache settings (repositories the cache creates)")]
pub struct CacheArgs {
    /// Make image tags immutable in cached repositories.
    #[arg(long)]
    pub immutable_tags: bool,
    /// Encrypt cached repositories with this KMS key: its full ARN, in the region (ECR takes
    /// no alias); default AES256.
    #[arg(long, value_name = "KEY_ARN")]
    pub kms_key: Option<String>,
    /// Lifecycle policy: expire untagged images this many days after they were pushed.
    #[arg(long, value_name = "DAYS")]
    pub expire_untagged_after: Option<String>,
    /// Lifecycle policy: keep only the last N images of each repository.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<String>,
    /// Tag for each cached repository, KEY=VALUE (repeatable; managed-by=echo-onboard is always added).
    #[arg(long = "repo-tag", value_name = "KEY=VALUE")]
    pub repo_tags: Vec<String>,
    /// Repository policy for cached repositories (a JSON file, checked before anything is sent).
    #[arg(long, value_name = "FILE")]
    pub repository_policy: Option<std::path::PathBuf>,
    /// Scan cached repositories on push (a filter <prefix>/* merged into the registry's scanning).
    #[arg(long)]
    pub scan_on_push: bool,
    /// Scan type with --scan-on-push: basic, or enhanced (Amazon Inspector; registry-wide cost).
    #[arg(long, value_name = "basic|enhanced")]
    pub scan: Option<String>,
    /// With --immutable-tags: tags that stay mutable (wildcards, comma-separated or repeated,
    /// at most 5), e.g. 'latest*': a pull-through cache cannot refresh an immutable tag.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub mutable_tags: Vec<String>,
    /// Lifecycle policy: move images not pulled for this many days to ECR's archive storage
    /// class (billed for at least 90 days; a pull answers 404 until restored).
    #[arg(long, value_name = "DAYS")]
    pub archive_after: Option<String>,
    /// Lifecycle policy: expire archived images this many days after they were archived (at
    /// least 90: the archive's minimum charge).
    #[arg(long, value_name = "DAYS")]
    pub expire_archived_after: Option<String>,
    /// A role or user ARN (a scanner, CI) whose pulls do not update images' last pull time,
    /// so "last pulled" and pull-based lifecycle rules reflect real use (repeatable;
    /// registry-wide in the region, at most 100; API method only).
    #[arg(long = "pull-time-exclusion", value_name = "PRINCIPAL_ARN")]
    pub pull_time_exclusions: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Exit 2 when changes are pending, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    /// Prefix of the rule to remove.
    #[arg(long, env = "ECHO_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Role to remove when no rule names one (default: the rule's role, else the default name).
    #[arg(long)]
    pub role_name: Option<String>,
    /// Also delete the cached repositories under the prefix, with their images.
    #[arg(long)]
    pub delete_cached_repos: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also delete a rule and role handed over to infrastructure code (tagged managed-by
    /// terraform, pulumi or cloudformation by `echo-onboard export`).
    #[arg(long)]
    pub force: bool,
    /// Take over a rule echo-onboard did not make and delete it (a stack someone else made:
    /// delete that stack). Without it such a rule is left alone and teardown exits 1.
    #[arg(long)]
    pub adopt: bool,
    /// Accepted for old scripts; not needed: who made the rule (this tool or a stack) is read
    /// from AWS.
    #[arg(long, value_enum, hide = true)]
    pub method: Option<Method>,
    /// The stack to look for when no rule says which stack made it (a failed stack).
    #[arg(long, default_value = crate::cfn::DEFAULT_STACK_NAME)]
    pub stack_name: String,
    /// Days Secrets Manager keeps the rule's credential secret (made by echo-onboard) before
    /// deleting it for good (7-30).
    #[arg(long, value_name = "DAYS", default_value_t = crate::engine::ops::DEFAULT_RECOVERY_DAYS)]
    pub recovery_window: u32,
}
