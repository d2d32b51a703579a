//! Step 4: the cache prefix, and advanced options (role name, upstream prefix, tags).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen, Session};
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
}

impl OptionField {
    const ADVANCED: [OptionField; 4] = [
        OptionField::Prefix,
        OptionField::RoleName,
        OptionField::UpstreamPrefix,
        OptionField::Tags,
    ];
}

pub struct OptionsStep {
    pub prefix: Input,
    pub role_name: Input,
    pub upstream_prefix: Input,
    pub tags: Input,
    pub advanced: bool,
    pub focus: OptionField,
}

impl OptionsStep {
    pub fn new(prefix: Option<&str>) -> Self {
        Self {
            prefix: Input::new(prefix.unwrap_or(DEFAULT_PREFIX).into()),
            role_name: Input::new(DEFAULT_ROLE_NAME.into()),
            upstream_prefix: Input::new(ROOT.into()),
            tags: Input::default(),
            advanced: false,
            focus: OptionField::Prefix,
        }
    }

    pub fn focused(&mut self) -> &mut Input {
        match self.focus {
            OptionField::Prefix => &mut self.prefix,
            OptionField::RoleName => &mut self.role_name,
            OptionField::UpstreamPrefix => &mut self.upstream_prefix,
            OptionField::Tags => &mut self.tags,
        }
    }

    pub fn tag_list(&self) -> Vec<String> {
        self.tags
            .value()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn errors(&self) -> Vec<FieldError> {
        let mut out = vec![];
        out.extend(RepoPrefix::parse("prefix", self.prefix.value()).err());
        if self.advanced {
            out.extend(RoleName::parse("role-name", self.role_name.value()).err());
            out.extend(RepoPrefix::parse("upstream-prefix", self.upstream_prefix.value()).err());
            out.extend(validate::parse_tags("tag", &self.tag_list()).err());
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

    fn fields(&self) -> &'static [OptionField] {
        if self.advanced {
            &OptionField::ADVANCED
        } else {
            &OptionField::ADVANCED[..1]
        }
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
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Prefix and options "),
        ),
        area,
    );
}
