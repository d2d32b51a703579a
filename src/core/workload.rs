//! From the cache to workloads, the pure half: which cached repository an image reference maps
//! to under the account's rules (one table, used by `warm`, `rewrite` and the admission
//! policies it generates), and where image references are in manifests.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex_lite::Regex;
use serde::Serialize;

use super::checks::{Check, Status};
use super::model::CacheRule;
use super::regions::dns_suffix;
use super::upstream::UpstreamKind;
use super::validate::{FieldError, ROOT};

// Docker's reference grammar, restricted to what ECR repositories accept (lowercase names).
const COMPONENT: &str = r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*";
// A first component without dots: with no registry host in front, one with a dot (or a
// port) would be a registry host itself.
const BARE_COMPONENT: &str = r"[a-z0-9]+(?:[_-]+[a-z0-9]+)*";
const TAG_AND_DIGEST: &str = r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?";

/// Docker Hub's names for itself: the implicit registry, and the hosts it answers on.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// What may follow an entry's source prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rest {
    /// One path component (`nginx:1.27`): Docker Hub's official images, under `library/`.
    One,
    /// Two or more components.
    Many,
    /// Two or more components, the first without a dot (no registry host in front).
    BareMany,
    /// One or more components.
    Any,
}

impl Rest {
    fn regex(self) -> String {
        match self {
            Rest::One => format!("{COMPONENT}{TAG_AND_DIGEST}"),
            Rest::Many => format!("{COMPONENT}(?:/{COMPONENT})+{TAG_AND_DIGEST}"),
            Rest::BareMany => format!("{BARE_COMPONENT}(?:/{COMPONENT})+{TAG_AND_DIGEST}"),
            Rest::Any => format!("{COMPONENT}(?:/{COMPONENT})*{TAG_AND_DIGEST}"),
        }
    }
}

/// One rewrite: a reference that starts with `from`, is followed by `rest` and does not start
/// with any of `except` becomes `to` + what follows `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub from: String,
    pub rest: Rest,
    pub except: Vec<String>,
    pub to: String,
    /// The rule's prefix and upstream, for reports.
    pub prefix: String,
    pub upstream: String,
}

impl Entry {
    /// The whole-reference regular expression (RE2 syntax: Kyverno's and CEL's too).
    pub fn pattern(&self) -> String {
        format!("^{}{}$", regex_lite::escape(&self.from), self.rest.regex())
    }

    fn applies(&self, reference: &str, re: &Regex) -> bool {
        !self
            .except
            .iter()
            .any(|e| reference.starts_with(e.as_str()))
            && re.is_match(reference)
    }

    fn rewrite(&self, reference: &str) -> String {
        format!("{}{}", self.to, &reference[self.from.len()..])
    }
}

/// The account's rewrite table: every upstream it has a rule for, most specific first.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// This account's registry host in the region.
    pub registry: String,
    pub entries: Vec<Entry>,
    #[serde(skip)]
    compiled: Vec<Regex>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.registry == other.registry && self.entries == other.entries
    }
}

/// This account's registry host in `region`.
pub fn registry_host(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.{}", dns_suffix(region))
}

/// The source hosts of a rule's upstream: Docker Hub answers on three, the others on their URL.
fn hosts(rule: &CacheRule) -> Vec<String> {
    match UpstreamKind::from_api(&rule.upstream_registry) {
        Some(UpstreamKind::DockerHub) => DOCKER_HUB_HOSTS.map(String::from).to_vec(),
        _ => vec![rule.upstream_url.trim_end_matches('/').to_string()],
    }
}

impl Table {
    pub fn new(account: &str, region: &str, rules: &[CacheRule]) -> Self {
        let registry = registry_host(account, region);
        let mut entries = vec![];
        for rule in rules {
            let cache = if rule.prefix == ROOT {
                format!("{registry}/")
            } else {
                format!("{registry}/{}/", rule.prefix)
            };
            let up = (rule.upstream_prefix != ROOT && !rule.upstream_prefix.is_empty())
                .then(|| rule.upstream_prefix.trim_end_matches('/').to_string());
            let entry = |from: String, rest: Rest, except: Vec<String>, to: String| Entry {
                from,
                rest,
                except,
                to,
                prefix: rule.prefix.clone(),
                upstream: rule.upstream_registry.clone(),
            };
            let docker_hub =
                UpstreamKind::from_api(&rule.upstream_registry) == Some(UpstreamKind::DockerHub);
            // Each source: an explicit host (`docker.io/`) or, for Docker Hub, none at all.
            let mut sources: Vec<String> = hosts(rule).into_iter().map(|h| h + "/").collect();
            if docker_hub {
                sources.push(String::new());
            }
            for source in sources {
                match (&up, docker_hub) {
                    (None, true) => {
                        // `nginx` is `library/nginx` on Docker Hub, and cached so.
                        entries.push(entry(
                            source.clone(),
                            Rest::One,
                            vec![],
                            format!("{cache}library/"),
                        ));
                        let (rest, except) = if source.is_empty() {
                            (Rest::BareMany, vec!["localhost/".to_string()])
                        } else {
                            (Rest::Many, vec![])
                        };
                        entries.push(entry(source, rest, except, cache.clone()));
                    }
                    (Some(up), true) => {
                        if up == "library" {
                            entries.push(entry(source.clone(), Rest::One, vec![], cache.clone()));
                        }
                        entries.push(entry(
                            format!("{source}{up}/"),
                            Rest::Any,
                            vec![],
                            cache.clone(),
                        ));
                    }
                    (None, false) => entries.push(entry(source, Rest::Any, vec![], cache.clone())),
                    (Some(up), false) => entries.push(entry(
                        format!("{source}{up}/"),
                        Rest::Any,
                        vec![],
                        cache.clone(),
                    )),
                }
            }
        }
        // A rule whose upstream is this very registry would rewrite its own output.
        entries.retain(|e| !e.from.starts_with(&format!("{registry}/")));
        // Most specific first; for one source the first rule (by prefix) wins.
        entries.sort_by(|a, b| {
            b.from
                .len()
                .cmp(&a.from.len())
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.prefix.cmp(&b.prefix))
        });
        let mut seen = BTreeSet::new();
        entries.retain(|e| seen.insert((e.from.clone(), e.rest as u8)));
        // At most one entry matches any reference: a general entry leaves what a more specific
        // one takes (`docker.io/` leaves `docker.io/bitnami/` to its own rule). Kyverno applies
        // every matching rule, so the table must not rely on order. With no host in front,
        // a host's references cannot match anyway.
        for i in 0..entries.len() {
            let specific: Vec<String> = entries[..i]
                .iter()
                .map(|e| e.from.clone())
                .filter(|f| {
                    f.len() > entries[i].from.len()
                        && f.starts_with(entries[i].from.as_str())
                        && !(entries[i].from.is_empty()
                            && f.split('/').next().is_some_and(|h| h.contains(['.', ':'])))
                })
                .collect();
            for f in specific {
                if !entries[i].except.contains(&f) {
                    entries[i].except.push(f);
                }
            }
        }
        let compiled = entries
            .iter()
            .map(|e| Regex::new(&e.pattern()).expect("entry patterns are built from fixed parts"))
            .collect();
        Table {
            registry,
            entries,
            compiled,
        }
    }

    /// The first entry that rewrites `reference`.
    pub fn entry_for(&self, reference: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .zip(&self.compiled)
            .find(|(e, re)| e.applies(reference, re))
            .map(|(e, _)| e)
    }

    /// Where `reference` goes under this account's rules.
    pub fn map(&self, reference: &str) -> Mapping {
        let reference = reference.trim();
        if let Some(e) = self.entry_for(reference) {
            let image = e.rewrite(reference);
            let parts = split(&image[self.registry.len() + 1..]);
            return Mapping::Cache {
                image,
                repository: parts.name,
                tag: parts.tag,
                digest: parts.digest,
                prefix: e.prefix.clone(),
                upstream: e.upstream.clone(),
            };
        }
        if let Some(rest) = reference.strip_prefix(&format!("{}/", self.registry)) {
            return Mapping::InCache {
                repository: split(rest).name,
            };
        }
        match registry_of(reference) {
            Err(reason) => Mapping::Invalid { reason },
            Ok(registry) => Mapping::Uncovered {
                fix: add_rule_hint(&registry),
                registry,
            },
        }
    }
}

/// Where a reference goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mapping {
    /// Rewritten to the cache: `image` is the new reference, `repository` the cached one.
    Cache {
        image: String,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
        prefix: String,
        upstream: String,
    },
    /// Already points at this account's registry.
    InCache { repository: String },
    /// No rule covers its registry: it stays as it is.
    Uncovered { registry: String, fix: String },
    /// Not an image reference (e.g. an unrendered template value).
    Invalid { reason: String },
}

struct Parts {
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// `name[:tag][@digest]` of a reference without its registry host.
fn split(reference: &str) -> Parts {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (reference, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
        _ => (rest, None),
    };
    Parts {
        name: name.to_string(),
        tag,
        digest,
    }
}

static ANY_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    // Docker's grammar: an optional host[:port], then lowercase path components.
    Regex::new(&format!(
        r"^(?:([A-Za-z0-9.-]+(?::[0-9]+)?)/)?{COMPONENT}(?:/{COMPONENT})*{TAG_AND_DIGEST}$"
    ))
    .unwrap()
});

/// The registry a reference names (Docker Hub when it names none), or why it is no reference.
pub fn registry_of(reference: &str) -> Result<String, String> {
    let Some(c) = ANY_REFERENCE.captures(reference) else {
        return Err(format!(
            "{reference:?} is not an image reference ([registry/]name[:tag][@sha256:digest], lowercase name)"
        ));
    };
    match c.get(1).map(|m| m.as_str()) {
        Some(host) if host.contains(['.', ':']) || host == "localhost" => Ok(host.to_string()),
        _ => Ok("docker.io".to_string()),
    }
}

/// How to get a rule for a registry the account has none for.
fn add_rule_hint(registry: &str) -> String {
    let kind = match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => Some(UpstreamKind::DockerHub),
        r if r.ends_with(".dkr.ecr.us-east-1.amazonaws.com") || r.contains(".dkr.ecr.") => {
            Some(UpstreamKind::Echo)
        }
        r if r.ends_with(".azurecr.io") => Some(UpstreamKind::AzureContainerRegistry),
        r => UpstreamKind::ALL
            .into_iter()
            .find(|k| k.default_url() == Some(r)),
    };
    match kind {
        Some(UpstreamKind::Echo) => format!(
            "{registry} is an ECR registry: if it is Echo's, ⟦cmd apply echo-account=<its-account>⟧; otherwise it stays as it is"
        ),
        Some(k) => format!(
            "add a rule for it: ⟦cmd apply upstream={} prefix={}⟧ (then run this again)",
            k.name(),
            k.name()
        ),
        None => format!(
            "ECR cannot cache {registry} (not a supported upstream): it stays as it is"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Where image references are

/// An image reference found in an input, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub image: String,
    /// `Deployment/web containers[0]`, or `line 3` of a list.
    pub location: String,
}

/// What kind of input it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// Kubernetes manifests (one or more YAML or JSON documents, e.g. `helm template`'s output).
    Manifests,
    /// One reference per line (`#` starts a comment).
    List,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every container image in `text`: Kubernetes manifests when any document is a mapping,
/// else a list of references.
pub fn find_images(text: &str) -> Result<(InputKind, Vec<Found>), String> {
    use serde::Deserialize;
    let mut docs = vec![];
    for doc in serde_norway::Deserializer::from_str(text) {
        match serde_json::Value::deserialize(doc) {
            Ok(v) => docs.push(v),
            // Not YAML at all: perhaps a list with characters YAML rejects.
            Err(e) if docs.is_empty() => return list(text).ok_or(format!("not valid YAML: {e}")),
            Err(e) => return Err(format!("not valid YAML: {e}")),
        }
    }
    if !docs.iter().any(|d| d.is_object()) {
        return list(text).ok_or_else(|| "no image references found".to_string());
    }
    let mut found = vec![];
    for doc in docs.iter().filter(|d| d.is_object()) {
        let name = format!(
            "{}/{}",
            doc["kind"].as_str().unwrap_or("?"),
            doc["metadata"]["name"].as_str().unwrap_or("?")
        );
        walk(doc, &name, &mut found);
    }
    Ok((InputKind::Manifests, found))
}

/// A list has one reference per line: a line with a space or `key: value` in it is no list.
fn list(text: &str) -> Option<(InputKind, Vec<Found>)> {
    let found: Vec<Found> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.split('#').next().unwrap_or("").trim();
            (!l.is_empty()).then(|| Found {
                image: l.to_string(),
                location: format!("line {}", i + 1),
            })
        })
        .collect();
    if found
        .iter()
        .any(|f| f.image.contains(char::is_whitespace) || f.image.contains(": "))
    {
        return None;
    }
    Some((InputKind::List, found))
}

fn walk(v: &serde_json::Value, name: &str, found: &mut Vec<Found>) {
    match v {
        serde_json::Value::Object(m) => {
            // A `List`'s items name themselves.
            let own;
            let name = match (
                m.get("kind").and_then(|k| k.as_str()),
                v["metadata"]["name"].as_str(),
            ) {
                (Some(kind), Some(n)) => {
                    own = format!("{kind}/{n}");
                    own.as_str()
                }
                _ => name,
            };
            for (k, child) in m {
                if let (true, Some(items)) =
                    (CONTAINER_LISTS.contains(&k.as_str()), child.as_array())
                {
                    for (i, c) in items.iter().enumerate() {
                        if let Some(image) = c["image"].as_str() {
                            found.push(Found {
                                image: image.trim().to_string(),
                                location: format!("{name} {k}[{i}]"),
                            });
                        }
                    }
                }
                walk(child, name, found);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|c| walk(c, name, found)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Rewriting the input itself

/// One changed line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineChange {
    pub line: usize,
    /// The reference as it was on the line.
    pub reference: String,
    pub before: String,
    pub after: String,
}

static IMAGE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(\s*(?:-\s+)?"?image"?\s*:\s*)(["']?)([^"'\s#,]+)(["']?)(.*)$"#).unwrap()
});

/// `text` with every image the table covers rewritten in place (comments and layout kept):
/// the `image:` lines of manifests, or the lines of a list.
pub fn rewrite_text(text: &str, kind: InputKind, table: &Table) -> (String, Vec<LineChange>) {
    let mut changes = vec![];
    let mut out = String::with_capacity(text.len() + 256);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let new = match kind {
            InputKind::List => {
                let reference = body.split('#').next().unwrap_or("").trim();
                match table.map(reference) {
                    Mapping::Cache { image, .. } if !reference.is_empty() => {
                        Some((reference.to_string(), body.replacen(reference, &image, 1)))
                    }
                    _ => None,
                }
            }
            InputKind::Manifests => {
                IMAGE_LINE
                    .captures(body)
                    .and_then(|c| match table.map(&c[3]) {
                        Mapping::Cache { image, .. } => Some((
                            c[3].to_string(),
                            format!("{}{}{image}{}{}", &c[1], &c[2], &c[4], &c[5]),
                        )),
                        _ => None,
                    })
            }
        };
        match new {
            Some((reference, new)) => {
                changes.push(LineChange {
                    line: i + 1,
                    reference,
                    before: body.to_string(),
                    after: new.clone(),
                });
                out.push_str(&new);
            }
            None => out.push_str(body),
        }
        out.push_str(ending);
    }
    (out, changes)
}

// ---------------------------------------------------------------------------------------------
// Warm: what a pull through the cache showed, per image

/// The outcome of warming one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarmStatus {
    /// This pull filled the cache.
    Cached,
    /// The cached repository already had the tag.
    AlreadyCached,
    /// Warmed by its tag, but the tag now names another digest than the one pinned.
    Moved,
    /// A digest without a tag: a cache fills only on tag pulls.
    Unwarmable,
    /// No rule covers its registry; it is pulled from there as before.
    Uncovered,
    /// Points at this account's registry already (nothing to warm through a rule).
    InCache,
    Invalid,
    Failed,
}

impl WarmStatus {
    /// Whether a deploy of this reference through the cache would fail.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            WarmStatus::Moved | WarmStatus::Unwarmable | WarmStatus::Invalid | WarmStatus::Failed
        )
    }
    pub fn label(self) -> &'static str {
        match self {
            WarmStatus::Cached => "cached now",
            WarmStatus::AlreadyCached => "already cached",
            WarmStatus::Moved => "upstream moved",
            WarmStatus::Unwarmable => "cannot warm",
            WarmStatus::Uncovered => "not covered",
            WarmStatus::InCache => "points at the cache",
            WarmStatus::Invalid => "invalid",
            WarmStatus::Failed => "failed",
        }
    }
}

/// Why a digest-only reference cannot be warmed, and what to do.
pub fn unwarmable(reference: &str) -> (String, String) {
    let name = reference.split('@').next().unwrap_or(reference);
    (
        "a digest without a tag: a pull-through cache fills only on pulls by tag (containers-roadmap #2837), so its first pull through the cache will fail".to_string(),
        format!("pin it with its tag as well ({name}:<tag>@sha256:…) so it can be warmed by the tag, or pull its tag once before deploying"),
    )
}

/// What a digest mismatch means.
pub fn moved(tag: &str, now: &str, pinned: &str, pinned_cached: bool) -> (String, String) {
    (
        format!(
            "the tag {tag} now names {now}, not the pinned {pinned}: the upstream moved the tag{}",
            if pinned_cached {
                " (the pinned digest is still in the cache, so the pinned pull works)"
            } else {
                ", and the pinned digest is not in the cache, so the pinned pull will fail"
            }
        ),
        format!("pin the new digest ({tag}@{now}) after checking the change, or ask the image's publisher which digest {tag} should name"),
    )
}

// ---------------------------------------------------------------------------------------------
// Admission policies that perform the same mapping

/// The namespace label that turns the rewrite off: `<LABEL>=disabled`.
pub const OPT_OUT_LABEL: &str = "echo-onboard.echohq.com/image-rewrite";
pub const POLICY_NAME: &str = "echo-onboard-image-rewrite";

fn list_expr(list: &str) -> String {
    format!("request.object.spec.{list} || `[]`")
}

/// A Kyverno `ClusterPolicy` with one rule per table entry (rules apply in order; a rewritten
/// reference names this account's registry, which no entry matches, so at most one applies).
pub fn kyverno_policy(table: &Table) -> String {
    use serde_json::json;
    let rules: Vec<_> = table
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let foreach: Vec<_> = CONTAINER_LISTS
                .iter()
                .map(|list| {
                    let mut conditions = vec![json!({
                        "key": format!("{{{{ regex_match('{}', '{{{{element.image}}}}') }}}}", e.pattern()),
                        "operator": "Equals",
                        "value": true,
                    })];
                    for x in &e.except {
                        conditions.push(json!({
                            "key": format!("{{{{ starts_with('{{{{element.image}}}}', '{x}') }}}}"),
                            "operator": "Equals",
                            "value": false,
                        }));
                    }
                    // A running pod's containers are left alone: changing their image on an
                    // update would restart them, and the ephemeralcontainers subresource may
                    // change nothing else.
                    if *list != "ephemeralContainers" {
                        conditions.push(json!({
                            "key": "{{ request.operation }}",
                            "operator": "Equals",
                            "value": "CREATE",
                        }));
                    }
                    json!({
                        "list": list_expr(list),
                        "preconditions": {"all": conditions},
                        "patchStrategicMerge": {"spec": {*list: [{
                            "name": "{{ element.name }}",
                            "image": format!(
                                "{{{{ regex_replace_all_literal('^{}', '{{{{element.image}}}}', '{}') }}}}",
                                regex_lite::escape(&e.from),
                                e.to
                            ),
                        }]}},
                    })
                })
                .collect();
            json!({
                "name": format!("rewrite-{:02}-{}", i + 1, e.prefix.replace('/', "-")).chars().take(63).collect::<String>(),
                "match": {"any": [
                    {"resources": {"kinds": ["Pod"], "operations": ["CREATE"]}},
                    {"resources": {"kinds": ["Pod/ephemeralcontainers"], "operations": ["UPDATE"]}},
                ]},
                "exclude": {"any": [{"resources": {"namespaceSelector": {"matchLabels": {OPT_OUT_LABEL: "disabled"}}}}]},
                "mutate": {"foreach": foreach},
            })
        })
        .collect();
    let doc = json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "annotations": {
                "policies.kyverno.io/title": "Pull through the ECR cache",
                "policies.kyverno.io/description": format!("Rewrites container, init container and ephemeral container images to the pull-through cache in {} (generated by echo-onboard rewrite). Label a namespace {OPT_OUT_LABEL}=disabled to opt it out.", table.registry),
            },
        },
        "spec": {"background": false, "rules": rules},
    });
    format!(
        "# Generated by `echo-onboard rewrite --policy kyverno`: the same mapping as `echo-onboard rewrite`.\n\
         # Needs Kyverno 1.10 or later (matching the Pod/ephemeralcontainers subresource and\n\
         # `operations`; foreach with preconditions), on any Kubernetes version that Kyverno supports.\n\
         # Opt a namespace out: kubectl label namespace NAME {OPT_OUT_LABEL}=disabled\n{}",
        serde_norway::to_string(&doc).expect("a JSON value is YAML")
    )
}

/// The CEL expression that rewrites `var` (a string): the table as a chain of conditionals,
/// the first matching entry wins, and anything else stays as it is.
pub fn cel_rewrite(table: &Table, var: &str) -> String {
    let mut expr = String::new();
    for e in &table.entries {
        let mut cond = String::new();
        for x in &e.except {
            cond.push_str(&format!("!{var}.startsWith('{x}') && "));
        }
        expr.push_str(&format!(
            // One entry a line, so the policy reads as the table it is.
            "({cond}{var}.matches(r'{}')) ? '{}' + {var}.substring({}) :\n",
            e.pattern(),
            e.to,
            e.from.len()
        ));
    }
    expr.push_str(var);
    expr
}

/// A Kubernetes `MutatingAdmissionPolicy` and its binding (admissionregistration.k8s.io/v1).
pub fn admission_policy(table: &Table) -> String {
    use serde_json::json;
    let mutations: Vec<_> = CONTAINER_LISTS
        .iter()
        .map(|list| {
            let kind = format!("Object.spec.{list}");
            // As in the Kyverno policy: a running pod's containers are left alone.
            let when = if *list == "ephemeralContainers" {
                format!("has(object.spec.{list})")
            } else {
                format!("request.operation == 'CREATE' && has(object.spec.{list})")
            };
            let expr = format!(
                "{when} ? Object{{spec: Object.spec{{{list}: object.spec.{list}.map(c, {kind}{{name: c.name, image: {}}})}}}} : Object{{}}",
                cel_rewrite(table, "c.image")
            );
            json!({"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": expr}})
        })
        .collect();
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods/ephemeralcontainers"]},
                ],
                "namespaceSelector": {"matchExpressions": [{"key": OPT_OUT_LABEL, "operator": "NotIn", "values": ["disabled"]}]},
            },
            "mutations": mutations,
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {"policyName": POLICY_NAME},
    });
    format!(
        "# Generated by `echo-onboard rewrite --policy mutating-admission-policy`: the same mapping as\n\
         # `echo-onboard rewrite`. Needs Kubernetes 1.36 or later (MutatingAdmissionPolicy is GA there,\n\
         # admissionregistration.k8s.io/v1; earlier releases serve it only as alpha/beta behind the\n\
         # MutatingAdmissionPolicy feature gate). No webhook or controller to run.\n\
         # Opt a namespace out: kubectl label namespace NAME {OPT_OUT_LABEL}=disabled\n{}---\n{}",
        serde_norway::to_string(&policy).expect("a JSON value is YAML"),
        serde_norway::to_string(&binding).expect("a JSON value is YAML")
    )
}

// ---------------------------------------------------------------------------------------------
// The roles that pull

static PRINCIPAL_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:(?:role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$")
        .unwrap()
});

/// The puller ARNs given as flags (repeatable, comma-separated) and in a file (one a line,
/// `#` comments), each once, in order; any bad one is named with its source.
pub fn puller_roles(
    flags: &[String],
    file: Option<(&str, &str)>,
) -> Result<Vec<String>, Vec<FieldError>> {
    let mut given: Vec<(&'static str, String)> = flags
        .iter()
        .flat_map(|f| f.split(','))
        .map(|a| ("puller-role", a.trim().to_string()))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    if let Some((name, text)) = file {
        for (i, line) in text.lines().enumerate() {
            let arn = line.split('#').next().unwrap_or("").trim();
            if !arn.is_empty() {
                let at = if PRINCIPAL_ARN.is_match(arn) {
                    arn.to_string()
                } else {
                    format!("{name}:{}: {arn}", i + 1)
                };
                given.push(("puller-roles-file", at));
            }
        }
    }
    let mut errors = vec![];
    let mut out: Vec<String> = vec![];
    for (field, arn) in given {
        if !PRINCIPAL_ARN.is_match(&arn) {
            errors.push(super::validate::err(
                field,
                &arn,
                "must be the ARN of an IAM role or user (the node or CI role that pulls)",
                "arn:aws:iam::123456789012:role/eks-node-role",
            ));
        } else if !out.contains(&arn) {
            out.push(arn);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One check over every puller: which cannot fill the cache, and the one policy that fixes
/// them all (the same for each: the first-pull actions on the prefix).
pub fn pullers(checks: &[(&str, &Check)], policy: &serde_json::Value, prefix: &str) -> Check {
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| c.status == Status::Fail)
        .map(|(a, _)| *a)
        .collect();
    let unknown: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| c.status == Status::Warn)
        .map(|(a, _)| *a)
        .collect();
    let evidence =
        serde_json::json!({"failing": failing, "unchecked": unknown, "policy_to_attach": policy});
    let title = "Workload (puller) roles";
    if failing.is_empty() && unknown.is_empty() {
        return Check::new(
            "pullers",
            title,
            Status::Pass,
            format!(
                "all {} roles can pull through {prefix}/ (first pulls included)",
                checks.len()
            ),
        )
        .evidence(evidence);
    }
    let mut reason = vec![];
    if !failing.is_empty() {
        reason.push(format!(
            "{} of {} cannot fill the cache under {prefix}/: {}",
            failing.len(),
            checks.len(),
            failing.join(", ")
        ));
    }
    if !unknown.is_empty() {
        reason.push(format!("could not be checked: {}", unknown.join(", ")));
    }
    let to: Vec<&str> = failing.iter().chain(&unknown).copied().collect();
    Check::new(
        "pullers",
        title,
        if failing.is_empty() {
            Status::Warn
        } else {
            Status::Fail
        },
        reason.join("; "),
    )
    .fix(format!(
        "attach this one policy to {}: {policy}",
        to.join(", ")
    ))
    .evidence(evidence)
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
