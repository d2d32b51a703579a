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
    ImmutableTags,
    ExpireUntagged,
    KeepLast,
    KmsKey,
    RepoTags,
    RepositoryPolicy,
    Scan,
}

impl OptionField {
    const ADVANCED: [OptionField; 3] = [
        OptionField::RoleName,
        OptionField::UpstreamPrefix,
        OptionField::Tags,
    ];
    const CACHE: [OptionField; 7] = [
        OptionField::ImmutableTags,
        OptionField::ExpireUntagged,
        OptionField::KeepLast,
        OptionField::KmsKey,
        OptionField::RepoTags,
        OptionField::RepositoryPolicy,
        OptionField::Scan,
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
}

pub struct OptionsStep {
    pub prefix: Input,
    pub role_name: Input,
    pub upstream_prefix: Input,
    pub tags: Input,
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
            mutable_tags: vec![],
            archive_after: None,
            expire_archived_after: None,
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
                if s.immutable_tags {
                    parts.push("immutable tags".to_string());
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
            OptionField::ImmutableTags => &mut self.cache.immutable_tags,
            OptionField::ExpireUntagged => &mut self.cache.expire_untagged,
            OptionField::KeepLast => &mut self.cache.keep_last,
            OptionField::KmsKey => &mut self.cache.kms_key,
            OptionField::RepoTags => &mut self.cache.repo_tags,
            OptionField::RepositoryPolicy => &mut self.cache.repository_policy,
            OptionField::Scan => &mut self.cache.scan,
        }
    }

    pub fn tag_list(&self) -> Vec<String> {
        list(&self.tags)
    }

    pub fn errors(&self) -> Vec<FieldError> {
        let mut out = vec![];
        out.extend(RepoPrefix::parse("prefix", self.prefix.value()).err());
        if self.advanced {
            out.extend(RoleName::parse("role-name", self.role_name.value()).err());
            out.extend(RepoPrefix::parse("upstream-prefix", self.upstream_prefix.value()).err());
            out.extend(validate::parse_tags("tag", &self.tag_list()).err());
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
        ] {
            lines.push(field_line(theme, label, input, focused(field)));
            lines.push(error_line(theme, err(name)));
        }
    } else {
        lines.push(Line::styled(
            format!(
                "▸ Advanced options (ctrl-o): role {}, upstream prefix {}, tags",
                step.role_name.value(),
                step.upstream_prefix.value()
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
        lines.push(Line::styled(
            "  yes/no · days · images · key ARN in the region (empty: AES256) · k=v, k=v · JSON file · no/basic/enhanced",
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
