//! Step 4: the cache prefix, advanced options (role name, upstream prefix, tags) and cache
//! settings (how the repositories the cache creates are set up, and scanning).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen, Session};
use crate::core::cache::CacheSettingsInput;
use crate::core::model::CacheRule;
use crate::core::validate::{
    self, FieldError, RepoPrefix, RoleName, DEFAULT_PREFIX, DEFAULT_ROLE_NAME, ROOT,
};
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;
use crate::tui::widgets::{error_line, field_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionField {
    Prefix,
    RoleName,
    UpstreamPrefix,
    Tags,
    BroadPolicy,
    ImmutableTags,
    ExpireUntagged,
    KeepLast,
    KmsKey,
    RepoTags,
    RepositoryPolicy,
    Scan,
    MutableTags,
    ArchiveAfter,
    ExpireArchived,
    PullTimeExclusions,
}

impl OptionField {
    const ADVANCED: [OptionField; 4] = [
        OptionField::RoleName,
        OptionField::UpstreamPrefix,
        OptionField::Tags,
        OptionField::BroadPolicy,
    ];
    const CACHE: [OptionField; 11] = [
        OptionField::ImmutableTags,
        OptionField::MutableTags,
        OptionField::ExpireUntagged,
        OptionField::KeepLast,
        OptionField::KmsKey,
        OptionField::RepoTags,
        OptionField::RepositoryPolicy,
        OptionField::Scan,
        OptionField::ArchiveAfter,
        OptionField::ExpireArchived,
        OptionField::PullTimeExclusions,
    ];
}

/// The cache settings fields, as typed.
#[derive(Default)]
pub struct CacheFields {
    /// yes or no
    pub immutable_tags: Input,
    pub expire_untagged: Input,
    pub keep_last: Input,
    pub kms_key: Input,
    pub repo_tags: Input,
    /// A repository policy JSON file: read when the plan starts (the engine checks it).
    pub repository_policy: Input,
    /// no, basic or enhanced
    pub scan: Input,
    /// Tag wildcards that stay mutable under immutable tags (`latest*, nightly*`).
    pub mutable_tags: Input,
    pub archive_after: Input,
    pub expire_archived: Input,
    /// Role or user ARNs whose pulls do not update the last pull time.
    pub pull_time_exclusions: Input,
}

pub struct OptionsStep {
    pub prefix: Input,
    pub role_name: Input,
    pub upstream_prefix: Input,
    pub tags: Input,
    /// yes or no: the role's cache actions on Resource "*" (AWS's example, Echo's template).
    pub broad_policy: Input,
    pub advanced: bool,
    pub cache: CacheFields,
    pub show_cache: bool,
    pub focus: OptionField,
}

fn yes_no(field: &'static str, value: &str) -> Result<bool, FieldError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "n" | "no" => Ok(false),
        "y" | "yes" => Ok(true),
        _ => Err(FieldError {
            field,
            value: value.into(),
            rule: "must be yes or no".into(),
            example: "yes".into(),
        }),
    }
}

fn list(input: &Input) -> Vec<String> {
    input
        .value()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn optional(input: &Input) -> Option<String> {
    Some(input.value().trim().to_string()).filter(|v| !v.is_empty())
}

impl OptionsStep {
    pub fn new(prefix: Option<&str>) -> Self {
        Self {
            prefix: Input::new(prefix.unwrap_or(DEFAULT_PREFIX).into()),
            role_name: Input::new(DEFAULT_ROLE_NAME.into()),
            upstream_prefix: Input::new(ROOT.into()),
            tags: Input::default(),
            broad_policy: Input::new("no".into()),
            advanced: false,
            cache: CacheFields {
                immutable_tags: Input::new("no".into()),
                scan: Input::new("no".into()),
                ..Default::default()
            },
            show_cache: false,
            focus: OptionField::Prefix,
        }
    }

    /// The cache settings as the engine takes them (yes/no and scan type checked in `errors`).
    pub fn cache_input(&self) -> CacheSettingsInput {
        let c = &self.cache;
        let scan = c.scan.value().trim().to_ascii_lowercase();
        CacheSettingsInput {
            immutable_tags: yes_no("immutable-tags", c.immutable_tags.value()).unwrap_or(false),
            kms_key: optional(&c.kms_key),
            expire_untagged_after: optional(&c.expire_untagged),
            keep_last: optional(&c.keep_last),
            repo_tags: list(&c.repo_tags),
            repository_policy: None,
            scan_on_push: false,
            scan: match scan.as_str() {
                "" | "n" | "no" => None,
                _ => Some(scan),
            },
            mutable_tags: list(&c.mutable_tags),
            archive_after: optional(&c.archive_after),
            expire_archived_after: optional(&c.expire_archived),
            pull_time_exclusions: list(&c.pull_time_exclusions),
        }
    }

    /// The repository policy file to read for the plan, when one is named.
    pub fn repository_policy_path(&self) -> Option<String> {
        optional(&self.cache.repository_policy)
    }

    /// "immutable tags, expire untagged after 14 days" or "ECR defaults", for the folded line.
    fn cache_summary(&self) -> String {
        match self.cache_input().validate() {
            Ok(s) if s.is_empty() && self.repository_policy_path().is_none() => {
                "ECR defaults".into()
            }
            Ok(s) => {
                let mut parts = vec![];
                if s.immutable_tags && s.mutable_tags.is_empty() {
                    parts.push("immutable tags".to_string());
                } else if s.immutable_tags {
                    parts.push(format!("immutable tags but {}", s.mutable_tags.join(", ")));
                }
                if let Some(d) = s.expire_untagged_days {
                    parts.push(format!("expire untagged after {d} days"));
                }
                if let Some(n) = s.keep_last {
                    parts.push(format!("keep last {n}"));
                }
                if let Some(k) = &s.kms_key {
                    parts.push(format!("KMS {k}"));
                }
                if !s.repo_tags.is_empty() {
                    parts.push(format!("{} repository tag(s)", s.repo_tags.len()));
                }
                if let Some(p) = self.repository_policy_path() {
                    parts.push(format!("repository policy {p}"));
                }
                if let Some(t) = &s.scan {
                    parts.push(format!("{} scan on push", t.api().to_lowercase()));
                }
                if let Some(d) = s.archive_after_days {
                    parts.push(format!("archive unpulled after {d} days"));
                }
                if let Some(d) = s.expire_archived_days {
                    parts.push(format!("expire archived after {d} days"));
                }
                if !s.pull_time_exclusions.is_empty() {
                    parts.push(format!(
                        "{} pull-time exclusion(s)",
                        s.pull_time_exclusions.len()
                    ));
                }
                parts.join(", ")
            }
            Err(_) => "see the errors".into(),
        }
    }

    pub fn focused(&mut self) -> &mut Input {
        match self.focus {
            OptionField::Prefix => &mut self.prefix,
            OptionField::RoleName => &mut self.role_name,
            OptionField::UpstreamPrefix => &mut self.upstream_prefix,
            OptionField::Tags => &mut self.tags,
            OptionField::BroadPolicy => &mut self.broad_policy,
            OptionField::ImmutableTags => &mut self.cache.immutable_tags,
            OptionField::ExpireUntagged => &mut self.cache.expire_untagged,
            OptionField::KeepLast => &mut self.cache.keep_last,
            OptionField::KmsKey => &mut self.cache.kms_key,
            OptionField::RepoTags => &mut self.cache.repo_tags,
            OptionField::RepositoryPolicy => &mut self.cache.repository_policy,
            OptionField::Scan => &mut self.cache.scan,
            OptionField::MutableTags => &mut self.cache.mutable_tags,
            OptionField::ArchiveAfter => &mut self.cache.archive_after,
            OptionField::ExpireArchived => &mut self.cache.expire_archived,
            OptionField::PullTimeExclusions => &mut self.cache.pull_time_exclusions,
        }
    }

    pub fn tag_list(&self) -> Vec<String> {
        list(&self.tags)
    }

    /// Whether the broad policy is asked for (yes/no checked in `errors`).
    pub fn broad_policy(&self) -> bool {
        yes_no("broad-policy", self.broad_policy.value()).unwrap_or(false)
    }

    pub fn errors(&self) -> Vec<FieldError> {
        let mut out = vec![];
        out.extend(RepoPrefix::parse("prefix", self.prefix.value()).err());
        if self.advanced {
            out.extend(RoleName::parse("role-name", self.role_name.value()).err());
            out.extend(RepoPrefix::parse("upstream-prefix", self.upstream_prefix.value()).err());
            out.extend(validate::parse_tags("tag", &self.tag_list()).err());
            out.extend(yes_no("broad-policy", self.broad_policy.value()).err());
        }
        if self.show_cache {
            out.extend(yes_no("immutable-tags", self.cache.immutable_tags.value()).err());
            out.extend(self.cache_input().validate().err().unwrap_or_default());
        }
        out
    }

    /// The prefix as typed, when it is valid.
    pub fn valid_prefix(&self) -> Option<String> {
        RepoPrefix::parse("prefix", self.prefix.value())
            .ok()
            .map(|p| p.to_string())
    }

    /// An existing rule with the typed prefix, if the region's rules are loaded.
    pub fn conflict<'a>(&self, session: &'a Session) -> Option<&'a CacheRule> {
        let p = self.valid_prefix()?;
        session
            .rules
            .as_ref()?
            .as_ref()
            .ok()?
            .iter()
            .find(|r| r.prefix == p)
    }

    fn fields(&self) -> Vec<OptionField> {
        let mut out = vec![OptionField::Prefix];
        if self.advanced {
            out.extend(OptionField::ADVANCED);
        }
        if self.show_cache {
            out.extend(OptionField::CACHE);
        }
        out
    }

    fn move_focus(&mut self, by: isize) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        let n = fields.len() as isize;
        self.focus = fields[((at + by).rem_euclid(n)) as usize];
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        match cmd {
            Cmd::NextField => self.move_focus(1),
            Cmd::PrevField => self.move_focus(-1),
            Cmd::ToggleAdvanced => {
                self.advanced = !self.advanced;
                self.focus = if self.advanced {
                    OptionField::RoleName
                } else {
                    OptionField::Prefix
                };
            }
            Cmd::ToggleCacheSettings => {
                self.show_cache = !self.show_cache;
                self.focus = if self.show_cache {
                    OptionField::ImmutableTags
                } else {
                    OptionField::Prefix
                };
            }
            Cmd::Select if self.errors().is_empty() => return Out::go(Screen::Method),
            Cmd::Back => return Out::go(Screen::Echo),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        cmd != Cmd::Select || self.errors().is_empty()
    }
}

/// What a cache settings field takes.
fn cache_hint(field: OptionField) -> &'static str {
    match field {
        OptionField::ImmutableTags => "yes or no: tags cannot be moved once cached",
        OptionField::MutableTags => {
            "with immutable tags: wildcards that stay mutable, e.g. latest*, nightly* (at most 5)"
        }
        OptionField::ExpireUntagged => "days after push, e.g. 14",
        OptionField::KeepLast => "images per repository, e.g. 100",
        OptionField::KmsKey => "a key ARN in this region (empty: AES256)",
        OptionField::RepoTags => "k=v, k=v",
        OptionField::RepositoryPolicy => "a JSON file, read when the plan starts",
        OptionField::Scan => "no, basic or enhanced (Inspector: a registry-wide cost)",
        OptionField::ArchiveAfter => {
            "days without a pull before an image moves to archive (a pull then answers 404)"
        }
        OptionField::ExpireArchived => {
            "days in archive before expiry: at least 90 (ECR bills 90 days anyway)"
        }
        OptionField::PullTimeExclusions => {
            "role ARNs whose pulls do not count as use (scanners, CI), comma-separated"
        }
        _ => "tab moves to the cache settings",
    }
}

pub fn render(step: &OptionsStep, session: &Session, theme: Theme, frame: &mut Frame, area: Rect) {
    let errors = step.errors();
    let err = |field: &str| errors.iter().find(|e| e.field == field);
    let focused = |f: OptionField| step.focus == f;
    let mut lines = vec![
        Line::raw("Cache prefix: images are pulled as <account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<image>."),
        Line::raw(""),
        field_line(theme, "Prefix", &step.prefix, focused(OptionField::Prefix)),
        error_line(theme, err("prefix")),
    ];
    match (&session.rules, step.conflict(session)) {
        (None, _) => lines.push(Line::styled("    loading the region's existing rules…", theme.muted())),
        (Some(Err(e)), _) => lines.push(Line::styled(format!("    could not list existing rules: {e}"), theme.warn())),
        (Some(Ok(_)), Some(rule)) => lines.push(Line::styled(
            format!(
                "    ! a rule with this prefix exists: upstream {} {}, role {}, managed by {} — the plan shows what happens",
                rule.upstream_registry,
                rule.upstream_url,
                rule.role_arn.as_deref().unwrap_or("-"),
                rule.managed_by.label()
            ),
            theme.warn(),
        )),
        (Some(Ok(rules)), None) => lines.push(Line::styled(format!("    no conflict with the {} existing rule(s) here", rules.len()), theme.muted())),
    }
    // The sandbox fails on purpose: say how, where the prefix is typed.
    if session.is_sandbox() {
        lines.push(Line::styled(
            format!(
                "    sandbox: a prefix starting with {} is denied (AccessDenied after the role is made), to try the rollback",
                crate::sandbox::SANDBOX_DENIED_PREFIX
            ),
            theme.muted(),
        ));
    }
    lines.push(Line::raw(""));
    if step.advanced {
        lines.push(Line::styled(
            "Advanced options (ctrl-o hides them)",
            theme.muted(),
        ));
        for (label, input, field, name) in [
            (
                "Role name",
                &step.role_name,
                OptionField::RoleName,
                "role-name",
            ),
            (
                "Upstream prefix",
                &step.upstream_prefix,
                OptionField::UpstreamPrefix,
                "upstream-prefix",
            ),
            ("Tags (k=v, k=v)", &step.tags, OptionField::Tags, "tag"),
            (
                "Broad policy (yes/no)",
                &step.broad_policy,
                OptionField::BroadPolicy,
                "broad-policy",
            ),
        ] {
            lines.push(field_line(theme, label, input, focused(field)));
            lines.push(error_line(theme, err(name)));
        }
    } else {
        lines.push(Line::styled(
            format!(
                "▸ Advanced options (ctrl-o): role {}, upstream prefix {}, tags{}",
                step.role_name.value(),
                step.upstream_prefix.value(),
                if step.broad_policy() {
                    ", broad policy"
                } else {
                    ""
                }
            ),
            theme.muted(),
        ));
    }
    lines.push(Line::raw(""));
    // The line to keep on screen: the focused field's error line, when the form is taller
    // than the pane (cache settings open at 80×24).
    let mut focus_line = lines.len();
    if step.show_cache {
        lines.push(Line::styled(
            "Cache settings for repositories the cache creates (ctrl-k hides them)",
            theme.muted(),
        ));
        // What the focused field takes, in one line whatever the number of fields.
        lines.push(Line::styled(
            format!("  {}", cache_hint(step.focus)),
            theme.muted(),
        ));
        let c = &step.cache;
        for (label, input, field, name) in [
            (
                "Immutable tags",
                &c.immutable_tags,
                OptionField::ImmutableTags,
                "immutable-tags",
            ),
            (
                "Mutable tags",
                &c.mutable_tags,
                OptionField::MutableTags,
                "mutable-tags",
            ),
            (
                "Expire untagged days",
                &c.expire_untagged,
                OptionField::ExpireUntagged,
                "expire-untagged-after",
            ),
            (
                "Keep last images",
                &c.keep_last,
                OptionField::KeepLast,
                "keep-last",
            ),
            ("KMS key", &c.kms_key, OptionField::KmsKey, "kms-key"),
            (
                "Repository tags",
                &c.repo_tags,
                OptionField::RepoTags,
                "repo-tag",
            ),
            (
                "Repository policy file",
                &c.repository_policy,
                OptionField::RepositoryPolicy,
                "repository-policy",
            ),
            ("Scan on push", &c.scan, OptionField::Scan, "scan"),
            (
                "Archive after days",
                &c.archive_after,
                OptionField::ArchiveAfter,
                "archive-after",
            ),
            (
                "Expire archived days",
                &c.expire_archived,
                OptionField::ExpireArchived,
                "expire-archived-after",
            ),
            (
                "Pull-time exclusions",
                &c.pull_time_exclusions,
                OptionField::PullTimeExclusions,
                "pull-time-exclusion",
            ),
        ] {
            lines.push(field_line(theme, label, input, focused(field)));
            if focused(field) {
                focus_line = lines.len();
            }
            // Only errors: six ticks would push the form off a small screen.
            if let Some(e) = err(name) {
                lines.push(error_line(theme, Some(e)));
            }
        }
    } else {
        lines.push(Line::styled(
            format!("▸ Cache settings (ctrl-k): {}", step.cache_summary()),
            theme.muted(),
        ));
    }
    let inner = (area.width.saturating_sub(2), area.height.saturating_sub(2));
    let upto = (focus_line + 1).min(lines.len());
    let needed = Paragraph::new(lines[..upto].to_vec())
        .wrap(Wrap { trim: false })
        .line_count(inner.0);
    let scroll = needed.saturating_sub(inner.1 as usize) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Prefix and options "),
            ),
        area,
    );
}
