//! "Add another upstream" (from the dashboard): a rule for Docker Hub, Quay, GitHub, … next to
//! Echo's. The registry is chosen with ←/→; the token field is masked and its value never
//! leaves this form except to the engine (which keeps it in Secrets Manager).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::Input;

use super::{Out, Screen};
use crate::core::model::CacheRule;
use crate::core::upstream::{Token, UpstreamInput, UpstreamKind};
use crate::core::validate::{FieldError, RepoPrefix, SetupInput};
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;
use crate::tui::widgets::{error_line, field_line, label_span, masked_field_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamField {
    Registry,
    Prefix,
    Url,
    Username,
    Token,
    CredentialArn,
}

/// The upstreams this form offers (Echo's has its own wizard).
pub const CHOICES: [UpstreamKind; 8] = [
    UpstreamKind::DockerHub,
    UpstreamKind::Quay,
    UpstreamKind::GithubContainerRegistry,
    UpstreamKind::GitlabContainerRegistry,
    UpstreamKind::EcrPublic,
    UpstreamKind::K8s,
    UpstreamKind::AzureContainerRegistry,
    UpstreamKind::Chainguard,
];

pub struct UpstreamStep {
    pub choice: usize,
    pub prefix: Input,
    pub url: Input,
    pub username: Input,
    pub token: Input,
    pub credential_arn: Input,
    pub focus: UpstreamField,
    /// Set by Enter: the first invalid field's error shows only after a try.
    pub tried: bool,
}

impl Default for UpstreamStep {
    fn default() -> Self {
        Self {
            choice: 0,
            prefix: Input::new(CHOICES[0].name().into()),
            url: Input::default(),
            username: Input::default(),
            token: Input::default(),
            credential_arn: Input::default(),
            focus: UpstreamField::Registry,
            tried: false,
        }
    }
}

impl UpstreamStep {
    pub fn kind(&self) -> UpstreamKind {
        CHOICES[self.choice]
    }

    /// The fields this registry has, in order.
    pub fn fields(&self) -> Vec<UpstreamField> {
        let kind = self.kind();
        let mut f = vec![UpstreamField::Registry, UpstreamField::Prefix];
        if kind == UpstreamKind::AzureContainerRegistry {
            f.push(UpstreamField::Url);
        }
        if kind.needs_credential() {
            f.extend([
                UpstreamField::Username,
                UpstreamField::Token,
                UpstreamField::CredentialArn,
            ]);
        }
        f
    }

    /// Cycles the registry; a prefix still named after the previous one follows it.
    fn cycle(&mut self, step: isize) {
        let before = self.kind();
        let n = CHOICES.len() as isize;
        self.choice = ((self.choice as isize + step).rem_euclid(n)) as usize;
        if self.prefix.value() == before.name() || self.prefix.value().is_empty() {
            self.prefix = Input::new(self.kind().name().into());
        }
    }

    pub fn focused(&mut self) -> Option<&mut Input> {
        match self.focus {
            UpstreamField::Registry => None,
            UpstreamField::Prefix => Some(&mut self.prefix),
            UpstreamField::Url => Some(&mut self.url),
            UpstreamField::Username => Some(&mut self.username),
            UpstreamField::Token => Some(&mut self.token),
            UpstreamField::CredentialArn => Some(&mut self.credential_arn),
        }
    }

    /// ←/→ on the registry field choose the registry; `true` when the key was used.
    pub fn on_key(&mut self, k: &KeyEvent) -> bool {
        if self.focus != UpstreamField::Registry {
            return false;
        }
        match k.code {
            KeyCode::Left => self.cycle(-1),
            KeyCode::Right | KeyCode::Char(' ') => self.cycle(1),
            _ => return false,
        }
        true
    }

    pub fn upstream_input(&self) -> UpstreamInput {
        let kind = self.kind();
        let needs = kind.needs_credential();
        let token = self.token.value();
        UpstreamInput {
            name: kind.name().into(),
            url: if kind == UpstreamKind::AzureContainerRegistry {
                self.url.value().into()
            } else {
                String::new()
            },
            username: if needs {
                self.username.value().into()
            } else {
                String::new()
            },
            token: (needs && !token.is_empty()).then(|| Token::new(token)),
            credential_arn: if needs {
                self.credential_arn.value().into()
            } else {
                String::new()
            },
        }
    }

    /// The setup this form describes, in `region` (Echo's fields are not used).
    pub fn setup_input(&self, region: &str) -> SetupInput {
        let mut input = SetupInput::with_defaults("", region);
        input.prefix = self.prefix.value().trim().to_string();
        input.upstream = self.upstream_input();
        input
    }

    /// Every field's error, checked as the engine will.
    pub fn errors(&self) -> Vec<FieldError> {
        let mut out = vec![];
        if let Err(e) = RepoPrefix::parse("prefix", self.prefix.value()) {
            out.push(e);
        }
        if let Err(e) = self.upstream_input().validate() {
            out.extend(e);
        }
        out
    }

    fn field_of(e: &FieldError) -> UpstreamField {
        match e.field {
            "prefix" => UpstreamField::Prefix,
            "upstream-url" => UpstreamField::Url,
            "username" => UpstreamField::Username,
            "token-stdin" => UpstreamField::Token,
            "credential-arn" => UpstreamField::CredentialArn,
            _ => UpstreamField::Username,
        }
    }

    fn error_for(&self, field: UpstreamField) -> Option<FieldError> {
        self.errors()
            .into_iter()
            .find(|e| Self::field_of(e) == field)
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        match cmd {
            Cmd::NextField => self.focus = fields[(at + 1) % fields.len()],
            Cmd::PrevField => self.focus = fields[(at + fields.len() - 1) % fields.len()],
            // Enter plans, or moves to the first field in error.
            Cmd::Select => {
                self.tried = true;
                match self.errors().first() {
                    None => return Out::go(Screen::Plan),
                    Some(e) => self.focus = Self::field_of(e),
                }
            }
            Cmd::Back => return Out::go(Screen::Dashboard),
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        cmd != Cmd::Select || self.errors().is_empty()
    }
}

pub fn render(
    step: &UpstreamStep,
    region: &str,
    existing: Option<&CacheRule>,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let kind = step.kind();
    let show_error = |f: UpstreamField| {
        let e = step.error_for(f);
        match (&e, step.tried || step.focus == f) {
            (Some(_), true) | (None, _) => error_line(theme, e.as_ref()),
            (Some(_), false) => Line::raw(""),
        }
    };
    let mut lines = vec![
        Line::raw(format!(
            "A pull-through cache rule for another registry, in {region}. ECR pulls from {} ({}).",
            kind,
            kind.default_url().unwrap_or("<name>.azurecr.io")
        )),
        Line::raw(""),
        Line::from(vec![
            label_span(theme, "Registry", step.focus == UpstreamField::Registry),
            Span::raw(format!("◂ {kind} ▸")),
            Span::styled("  (←/→ to choose)", theme.muted()),
        ]),
        Line::raw(""),
        field_line(
            theme,
            "Cache prefix",
            &step.prefix,
            step.focus == UpstreamField::Prefix,
        ),
        // A prefix another rule already has is shown as such while typing, not at the plan.
        match existing.filter(|_| step.error_for(UpstreamField::Prefix).is_none()) {
            Some(rule) => Line::styled(
                format!(
                    "    ! a rule with this prefix exists ({} {}, {}): {}",
                    rule.upstream_registry,
                    rule.upstream_url,
                    rule.managed_by.describe(),
                    if rule.managed_by.is_ours() {
                        "the plan shows what changes"
                    } else {
                        "echo-onboard will not take it over: choose another prefix"
                    }
                ),
                theme.warn(),
            ),
            None => show_error(UpstreamField::Prefix),
        },
    ];
    if kind == UpstreamKind::AzureContainerRegistry {
        lines.push(field_line(
            theme,
            "Registry URL",
            &step.url,
            step.focus == UpstreamField::Url,
        ));
        lines.push(show_error(UpstreamField::Url));
    }
    if kind.needs_credential() {
        lines.push(Line::styled(
            format!(
                "  {kind} needs credentials: a user name and access token (stored in Secrets Manager as ecr-pullthroughcache/{}), or an existing secret's ARN.",
                step.prefix.value()
            ),
            theme.muted(),
        ));
        lines.push(field_line(
            theme,
            "User name",
            &step.username,
            step.focus == UpstreamField::Username,
        ));
        lines.push(show_error(UpstreamField::Username));
        lines.push(masked_field_line(
            theme,
            "Access token",
            &step.token,
            step.focus == UpstreamField::Token,
        ));
        lines.push(show_error(UpstreamField::Token));
        lines.push(field_line(
            theme,
            "or secret ARN",
            &step.credential_arn,
            step.focus == UpstreamField::CredentialArn,
        ));
        lines.push(show_error(UpstreamField::CredentialArn));
    } else {
        lines.push(Line::styled(
            format!("  {kind} is public: no credentials."),
            theme.muted(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Add another upstream "),
        ),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_cycles_and_the_prefix_follows_until_edited() {
        let mut s = UpstreamStep::default();
        assert_eq!(s.kind(), UpstreamKind::DockerHub);
        assert!(s.on_key(&KeyEvent::from(KeyCode::Right)));
        assert_eq!(s.kind(), UpstreamKind::Quay);
        assert_eq!(s.prefix.value(), "quay");
        assert_eq!(s.fields().len(), 2, "quay needs no credentials");
        s.prefix = Input::new("mirror".into());
        s.on_key(&KeyEvent::from(KeyCode::Left));
        assert_eq!(s.kind(), UpstreamKind::DockerHub);
        assert_eq!(s.prefix.value(), "mirror");
    }

    #[test]
    fn enter_moves_to_the_first_missing_credential() {
        let mut s = UpstreamStep::default();
        assert_eq!(s.on_cmd(Cmd::Select), Out::none());
        assert_eq!(s.focus, UpstreamField::Username);
        s.username = Input::new("me".into());
        s.on_cmd(Cmd::Select);
        assert_eq!(s.focus, UpstreamField::Token);
        s.token = Input::new("dckr_pat_x".into());
        assert_eq!(s.on_cmd(Cmd::Select), Out::go(Screen::Plan));
        let input = s.setup_input("eu-west-1");
        assert_eq!(input.upstream.token, Some(Token::new("dckr_pat_x")));
        assert!(input.validate().is_ok());
    }
}
