//! From the cache to workloads: `warm` (pull each image of a workload by tag through the cache
//! before the first deploy) and `rewrite` (the account's rewrite table, for manifests and the
//! admission policies). Both read the same rules and use `core::workload::Table`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::StreamExt;
use serde::Serialize;

use super::events::{emit, Event, EventSender};
use super::ops::{Failure, OpResult, Problem};
use crate::aws::{Aws, ErrorKind};
use crate::core::model::{CacheRule, ImageInfo};
use crate::core::validate::{FieldError, RepoPrefix};
use crate::core::verify::{explain, ImageRef, Pull, PullFailure, Reference};
use crate::core::workload::{self, Found, InputKind, Mapping, Table, WarmStatus};

/// How many manifests are asked for at once (each is one registry request).
pub const WARM_CONCURRENCY: usize = 8;

/// One input: a file (or stdin, named `-`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Reads the files (`-` is left to the caller: only it knows its stdin).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, Problem> {
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|text| Source {
                    name: p.display().to_string(),
                    text,
                })
                .map_err(|e| {
                    Problem::invalid(vec![FieldError {
                        field: "file",
                        value: p.display().to_string(),
                        rule: format!("must be a readable file of manifests or image references ({e})"),
                        example: "deploy/web.yaml, or - for stdin (e.g. `helm template app ./chart | echo-onboard warm -`)".into(),
                    }])
                })
        })
        .collect()
}

/// A parsed input: its kind and its references.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub source: Source,
    pub kind: InputKind,
    pub found: Vec<Found>,
}

/// Parses every input; a bad one is invalid input (exit 2, nothing sent).
pub fn parse_sources(sources: &[Source]) -> Result<Vec<Parsed>, Problem> {
    let mut bad = vec![];
    let mut out = vec![];
    for s in sources {
        match workload::find_images(&s.text) {
            Ok((kind, found)) => out.push(Parsed {
                source: s.clone(),
                kind,
                found,
            }),
            Err(e) => bad.push(FieldError {
                field: "file",
                value: s.name.clone(),
                rule: format!("must hold Kubernetes manifests (YAML or JSON) or one image reference per line: {e}"),
                example: "render a chart first: `helm template app ./chart > app.yaml`".into(),
            }),
        }
    }
    if sources.is_empty() {
        bad.push(FieldError {
            field: "file",
            value: String::new(),
            rule: "at least one file of manifests or image references is needed (- reads stdin)"
                .into(),
            example: "echo-onboard warm deploy/*.yaml".into(),
        });
    } else if bad.is_empty() && out.iter().all(|p| p.found.is_empty()) {
        bad.push(FieldError {
            field: "file",
            value: sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            rule: "holds no container image (containers, initContainers, ephemeralContainers) and no reference list".into(),
            example: "a rendered chart: `helm template app ./chart | echo-onboard warm -`".into(),
        });
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(Problem::invalid(bad))
    }
}

fn check_registry_url(url: Option<&str>) -> Result<(), Problem> {
    match url {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
            Err(Problem::invalid(vec![FieldError {
                field: "registry-url",
                value: u.to_string(),
                rule: "must be an http(s) URL of the registry endpoint".into(),
                example: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            }]))
        }
        _ => Ok(()),
    }
}

/// The account's rules as a rewrite table (one `GetCallerIdentity` ‖ `DescribePullThroughCacheRules`).
pub async fn table(aws: &dyn Aws) -> OpResult<(Table, Vec<CacheRule>)> {
    let (identity, rules) = futures::join!(aws.caller_identity(), aws.list_cache_rules());
    let (identity, rules) = (identity?, rules?);
    Ok((Table::new(&identity.account, &aws.region(), &rules), rules))
}

// ---------------------------------------------------------------------------------------------
// warm

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmRequest {
    pub sources: Vec<Source>,
    /// The registry endpoint (a VPC endpoint, the emulator); default: the account's own.
    pub registry_url: Option<String>,
}

/// What warming one reference showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarmedImage {
    /// As written in the input.
    pub reference: String,
    pub locations: Vec<String>,
    pub status: WarmStatus,
    /// Whether a deploy of this reference through the cache would fail as things are.
    pub fails: bool,
    /// The reference rewritten to the cache.
    pub cached_reference: Option<String>,
    pub repository: Option<String>,
    /// The tag pulled.
    pub tag: Option<String>,
    /// The digest the tag names now (from the pull).
    pub digest: Option<String>,
    pub pinned_digest: Option<String>,
    pub message: String,
    pub fix: Option<String>,
    pub elapsed_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warmed {
    pub account: String,
    pub region: String,
    pub images: Vec<WarmedImage>,
}

impl Warmed {
    pub fn failed(&self) -> bool {
        self.images.iter().any(|i| i.fails)
    }
    /// How many images ended in each status.
    pub fn counts(&self) -> BTreeMap<WarmStatus, usize> {
        let mut m = BTreeMap::new();
        for i in &self.images {
            *m.entry(i.status).or_insert(0) += 1;
        }
        m
    }
}

/// What `warm` checks before anything is sent.
pub fn warm_input(req: &WarmRequest) -> OpResult<Vec<Parsed>> {
    check_registry_url(req.registry_url.as_deref())?;
    Ok(parse_sources(&req.sources)?)
}

/// One pull to make: a repository and tag (several references may share it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Job {
    repository: String,
    tag: String,
}

struct Pulled {
    existed: bool,
    result: Result<crate::aws::registry::Manifest, crate::aws::AwsError>,
    images_after: Option<Vec<ImageInfo>>,
    elapsed_ms: u64,
}

/// Pulls every covered image of the workload by tag through the cache, `WARM_CONCURRENCY` at
/// a time, with a step event per pull, and reports each reference.
pub async fn warm(aws: &dyn Aws, req: &WarmRequest, tx: &EventSender) -> OpResult<Warmed> {
    let parsed = warm_input(req)?;
    let region = aws.region();
    let (identity, rules, repos) = futures::join!(
        aws.caller_identity(),
        aws.list_cache_rules(),
        aws.list_repositories()
    );
    let (identity, rules) = (identity?, rules?);
    // Unknown (listing denied) counts as existing: never claim a creation.
    let existing: Option<BTreeSet<String>> =
        repos.ok().map(|r| r.into_iter().map(|r| r.name).collect());
    let t = Table::new(&identity.account, &region, &rules);

    // Each distinct reference once, with every place it appears.
    let mut refs: Vec<(String, Vec<String>)> = vec![];
    for p in &parsed {
        for f in &p.found {
            let at = format!("{}: {}", p.source.name, f.location);
            match refs.iter_mut().find(|(r, _)| *r == f.image) {
                Some((_, locs)) => locs.push(at),
                None => refs.push((f.image.clone(), vec![at])),
            }
        }
    }

    let mut images = vec![];
    let mut jobs = BTreeSet::new();
    for (reference, locations) in refs {
        let mut img = WarmedImage {
            reference: reference.clone(),
            locations,
            status: WarmStatus::Failed,
            fails: false,
            cached_reference: None,
            repository: None,
            tag: None,
            digest: None,
            pinned_digest: None,
            message: String::new(),
            fix: None,
            elapsed_ms: None,
        };
        let (repository, tag, digest) = match t.map(&reference) {
            Mapping::Cache {
                image,
                repository,
                tag,
                digest,
                ..
            } => {
                img.cached_reference = Some(image);
                (repository, tag, digest)
            }
            Mapping::InCache { repository } => {
                let covered = rules.iter().any(|r| {
                    RepoPrefix::parse("prefix", &r.prefix).is_ok_and(|p| p.covers(&repository))
                });
                if !covered {
                    img.status = WarmStatus::InCache;
                    img.message = format!("{reference} names this account's registry, but no rule's prefix covers {repository}: nothing to warm");
                    img.repository = Some(repository);
                    images.push(img);
                    continue;
                }
                img.cached_reference = Some(reference.clone());
                let rest = reference
                    .split_once('/')
                    .map(|(_, r)| r)
                    .unwrap_or_default();
                let (tag, digest) = tag_and_digest(rest);
                (repository, tag, digest)
            }
            Mapping::Uncovered { registry, fix } => {
                img.status = WarmStatus::Uncovered;
                img.message = format!("no rule of this account in {region} caches {registry}: {reference} is pulled from {registry} as before");
                img.fix = Some(fix);
                images.push(img);
                continue;
            }
            Mapping::Invalid { reason } => {
                img.status = WarmStatus::Invalid;
                img.fails = true;
                img.message = reason;
                img.fix = Some(
                    "render templates first (`helm template …`) so every image is a full reference"
                        .into(),
                );
                images.push(img);
                continue;
            }
        };
        img.repository = Some(repository.clone());
        img.pinned_digest = digest.clone();
        let tag = match (tag, &digest) {
            (Some(t), _) => t,
            (None, Some(_)) => {
                let (why, fix) = workload::unwarmable(&reference);
                img.status = WarmStatus::Unwarmable;
                img.fails = true;
                img.message = why;
                img.fix = Some(fix);
                images.push(img);
                continue;
            }
            (None, None) => "latest".to_string(),
        };
        img.tag = Some(tag.clone());
        jobs.insert(Job { repository, tag });
        images.push(img);
    }

    let total = jobs.len();
    let mut pins: BTreeMap<Job, BTreeSet<String>> = BTreeMap::new();
    for img in &images {
        if let (Some(repository), Some(tag), Some(d)) =
            (&img.repository, &img.tag, &img.pinned_digest)
        {
            let job = Job {
                repository: repository.clone(),
                tag: tag.clone(),
            };
            pins.entry(job).or_default().insert(d.clone());
        }
    }
    let pins = &pins;
    let existing = &existing;
    let registry_url = req.registry_url.as_deref();
    let pulls: BTreeMap<Job, Pulled> = futures::stream::iter(jobs.into_iter().enumerate())
        .map(|(i, job)| async move {
            let label = format!("{}:{}", job.repository, job.tag);
            emit(
                tx,
                Event::StepStarted {
                    index: i + 1,
                    total,
                    label: label.clone(),
                },
            );
            let repo_existed = existing
                .as_ref()
                .is_none_or(|e| e.contains(&job.repository));
            // The tag counts as cached only if the repository already had it.
            let existed = repo_existed
                && match aws.list_images(&job.repository).await {
                    Ok(images) => images.iter().any(|i| i.tags.contains(&job.tag)),
                    Err(e) => !e.is(ErrorKind::NotFound),
                };
            let start = std::time::Instant::now();
            let result = aws
                .pull_manifest(registry_url, &job.repository, &job.tag)
                .await;
            let elapsed_ms = start.elapsed().as_millis() as u64;
            // Is a stale pin still in the cache? Asked only when a pin differs from the tag.
            let images_after = match &result {
                Ok(m)
                    if pins
                        .get(&job)
                        .is_some_and(|p| p.iter().any(|d| *d != m.digest)) =>
                {
                    aws.list_images(&job.repository).await.ok()
                }
                _ => None,
            };
            match &result {
                Ok(_) => emit(
                    tx,
                    Event::StepDone {
                        index: i + 1,
                        total,
                        label,
                    },
                ),
                Err(e) => emit(
                    tx,
                    Event::StepFailed {
                        index: i + 1,
                        total,
                        label,
                        error: format!("{} [{}]", e.message, e.code),
                    },
                ),
            }
            (
                job,
                Pulled {
                    existed,
                    result,
                    images_after,
                    elapsed_ms,
                },
            )
        })
        .buffer_unordered(WARM_CONCURRENCY)
        .collect()
        .await;

    for img in images.iter_mut().filter(|i| i.tag.is_some()) {
        let job = Job {
            repository: img.repository.clone().unwrap_or_default(),
            tag: img.tag.clone().unwrap_or_default(),
        };
        let Some(p) = pulls.get(&job) else { continue };
        img.elapsed_ms = Some(p.elapsed_ms);
        let rule = rules
            .iter()
            .filter(|r| {
                RepoPrefix::parse("prefix", &r.prefix).is_ok_and(|p| p.covers(&job.repository))
            })
            .max_by_key(|r| r.prefix.len());
        match &p.result {
            Err(e) => {
                let (message, fix) = explain_failure(e, &job, rule, &identity.account, &region);
                img.status = WarmStatus::Failed;
                img.fails = true;
                img.message = message;
                img.fix = Some(fix);
            }
            Ok(m) => {
                img.digest = Some(m.digest.clone());
                img.status = if p.existed {
                    WarmStatus::AlreadyCached
                } else {
                    WarmStatus::Cached
                };
                img.message = format!(
                    "{}:{} {} ({})",
                    job.repository,
                    job.tag,
                    if p.existed {
                        "was already cached"
                    } else {
                        "is cached now"
                    },
                    m.digest
                );
                if let Some(pinned) = img.pinned_digest.clone().filter(|d| *d != m.digest) {
                    let pinned_cached = p
                        .images_after
                        .as_ref()
                        .is_some_and(|imgs| imgs.iter().any(|i| i.digest == pinned));
                    let (why, fix) = workload::moved(&job.tag, &m.digest, &pinned, pinned_cached);
                    img.status = WarmStatus::Moved;
                    img.fails = !pinned_cached;
                    img.message = why;
                    img.fix = Some(fix);
                }
            }
        }
    }
    Ok(Warmed {
        account: identity.account,
        region,
        images,
    })
}

fn tag_and_digest(reference: &str) -> (Option<String>, Option<String>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (reference, None),
    };
    let tag = rest
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map(|(_, t)| t.to_string());
    (tag, digest)
}

/// A failed pull in one line with the fix: `verify`'s explanation for Echo's registry, and the
/// upstream's own name for the others.
fn explain_failure(
    e: &crate::aws::AwsError,
    job: &Job,
    rule: Option<&CacheRule>,
    account: &str,
    region: &str,
) -> (String, String) {
    let failure = match e.kind {
        ErrorKind::AccessDenied => PullFailure::Denied,
        ErrorKind::NotFound => PullFailure::NotFound,
        ErrorKind::Network => PullFailure::Unreachable,
        _ => PullFailure::Other,
    };
    let prefix = rule
        .and_then(|r| RepoPrefix::parse("prefix", &r.prefix).ok())
        .unwrap_or_else(|| RepoPrefix::parse("prefix", "ROOT").expect("ROOT is a prefix"));
    let name = if prefix.is_root() {
        job.repository.clone()
    } else {
        job.repository[prefix.as_str().len() + 1..].to_string()
    };
    let image = ImageRef {
        name,
        reference: Reference::Tag(job.tag.clone()),
    };
    let echo = rule.is_none_or(|r| r.upstream_registry == "ecr");
    if failure == PullFailure::NotFound && !echo {
        let upstream = rule.map(|r| r.upstream_url.as_str()).unwrap_or_default();
        return (
            format!("{} is not in {upstream}, or the rule {prefix} cannot read it ({}: {})", image.display(), e.code, e.message),
            format!("check the image name and tag at {upstream}; then ⟦cmd diagnose prefix={prefix}⟧ checks the rule and its credential"),
        );
    }
    let x = explain(
        failure,
        &e.code,
        &e.message,
        &Pull {
            repo: &job.repository,
            image: &image,
            prefix: &prefix,
            account,
            region,
        },
    );
    (format!("{} [{}]", x.message, x.code), x.next_step)
}

// ---------------------------------------------------------------------------------------------
// rewrite

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteRequest {
    pub sources: Vec<Source>,
}

/// One input, rewritten.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewrittenSource {
    pub name: String,
    #[serde(skip)]
    pub text: String,
    pub changes: Vec<workload::LineChange>,
}

/// A reference and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedReference {
    pub reference: String,
    pub locations: Vec<String>,
    pub mapping: Mapping,
    /// Whether its line was rewritten (a covered reference in YAML flow style is not).
    pub rewritten: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewritten {
    pub registry: String,
    pub sources: Vec<RewrittenSource>,
    pub references: Vec<MappedReference>,
}

impl Rewritten {
    /// References that stay as they are: no rule covers them, they are not references, or
    /// they are covered but not on an `image:` line of their own.
    pub fn left(&self) -> impl Iterator<Item = &MappedReference> {
        self.references.iter().filter(|r| match r.mapping {
            Mapping::Uncovered { .. } | Mapping::Invalid { .. } => true,
            Mapping::Cache { .. } => !r.rewritten,
            Mapping::InCache { .. } => false,
        })
    }
}

/// Rewrites the inputs with the table (pure once the table is read).
pub fn rewrite_with(t: &Table, parsed: &[Parsed]) -> Rewritten {
    let mut references: Vec<MappedReference> = vec![];
    let mut sources = vec![];
    for p in parsed {
        for f in &p.found {
            let at = format!("{}: {}", p.source.name, f.location);
            match references.iter_mut().find(|r| r.reference == f.image) {
                Some(r) => r.locations.push(at),
                None => references.push(MappedReference {
                    reference: f.image.clone(),
                    locations: vec![at],
                    mapping: t.map(&f.image),
                    rewritten: false,
                }),
            }
        }
        let (text, changes) = workload::rewrite_text(&p.source.text, p.kind, t);
        for r in references.iter_mut() {
            if changes.iter().any(|c| c.reference == r.reference) {
                r.rewritten = true;
            }
        }
        sources.push(RewrittenSource {
            name: p.source.name.clone(),
            text,
            changes,
        });
    }
    Rewritten {
        registry: t.registry.clone(),
        sources,
        references,
    }
}

/// Reads the account's rules and rewrites the inputs.
pub async fn rewrite(aws: &dyn Aws, req: &RewriteRequest) -> OpResult<Rewritten> {
    let parsed = parse_sources(&req.sources).map_err(Failure::of)?;
    let (t, _) = table(aws).await?;
    Ok(rewrite_with(&t, &parsed))
}

/// Which admission policy to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Kyverno,
    MutatingAdmissionPolicy,
}

/// The policy document(s) for the account's rules.
pub async fn policy(aws: &dyn Aws, kind: PolicyKind) -> OpResult<(String, Table)> {
    let (t, _) = table(aws).await?;
    if t.entries.is_empty() {
        return Err(Failure::of(Problem::new(
            "NoRules",
            format!(
                "no pull-through cache rule in {}: a policy would rewrite nothing",
                aws.region()
            ),
            "set one up first: ⟦cmd apply⟧",
        )));
    }
    let doc = match kind {
        PolicyKind::Kyverno => workload::kyverno_policy(&t),
        PolicyKind::MutatingAdmissionPolicy => workload::admission_policy(&t),
    };
    Ok((doc, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ManagedBy;

    fn hub() -> Table {
        Table::new(
            "123456789012",
            "eu-west-1",
            &[CacheRule {
                prefix: "docker-hub".into(),
                upstream_registry: "docker-hub".into(),
                upstream_url: "registry-1.docker.io".into(),
                upstream_prefix: "ROOT".into(),
                role_arn: None,
                credential_arn: None,
                created_at: None,
                managed_by: ManagedBy::Other,
                owner_proof: String::new(),
            }],
        )
    }

    #[test]
    fn covered_references_not_on_their_own_line_are_left_and_listed() {
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx:1.27}]\n  initContainers:\n  - name: b\n    image: redis:7\n";
        let parsed = parse_sources(&[Source {
            name: "p.yaml".into(),
            text: text.into(),
        }])
        .unwrap();
        let done = rewrite_with(&hub(), &parsed);
        let left: Vec<(&str, bool)> = done
            .left()
            .map(|r| (r.reference.as_str(), r.rewritten))
            .collect();
        assert_eq!(left, [("nginx:1.27", false)]);
        assert_eq!(done.sources[0].changes.len(), 1);
        assert_eq!(done.sources[0].changes[0].reference, "redis:7");
    }

    #[test]
    fn empty_and_bad_inputs_name_the_file() {
        let e = parse_sources(&[]).unwrap_err();
        assert_eq!(e.fields[0].field, "file");
        let e = parse_sources(&[Source {
            name: "cm.yaml".into(),
            text: "kind: ConfigMap\ndata: {a: b}\n".into(),
        }])
        .unwrap_err();
        assert!(
            e.message.contains("holds no container image"),
            "{}",
            e.message
        );
        assert_eq!(e.fields[0].value, "cm.yaml");
    }
}
