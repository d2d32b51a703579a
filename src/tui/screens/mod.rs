//! One module per screen: its state, how it answers a command, and a pure render. The app
//! routes messages and keys to the screen on top and carries out where it says to go.

pub mod apply;
pub mod dashboard;
pub mod diagnostics;
pub mod done;
pub mod echo;
pub mod fleet;
pub mod method;
pub mod options;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod region;
pub mod teardown;
pub mod upstream;

use super::keys::{self, Binding};
use super::msg::Effect;
use super::profiles::ProfileEntry;
use crate::core::model::{CacheRule, Identity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Profile,
    Region,
    Echo,
    Options,
    Method,
    Plan,
    Apply,
    Done,
    Dashboard,
    Teardown,
    Diagnostics,
    /// "Add another upstream", from the dashboard.
    Upstream,
    /// Many accounts through a StackSet, from the dashboard or the method step.
    Fleet,
}

impl Screen {
    pub const ALL: [Screen; 13] = [
        Screen::Profile,
        Screen::Region,
        Screen::Echo,
        Screen::Options,
        Screen::Method,
        Screen::Plan,
        Screen::Apply,
        Screen::Done,
        Screen::Dashboard,
        Screen::Teardown,
        Screen::Diagnostics,
        Screen::Upstream,
        Screen::Fleet,
    ];

    pub fn keys(self) -> &'static [Binding] {
        match self {
            Screen::Profile => keys::PROFILE,
            Screen::Region => keys::REGION,
            Screen::Echo => keys::FORM,
            Screen::Options => keys::OPTIONS,
            Screen::Method => keys::CHOICE,
            Screen::Plan => keys::PLAN,
            Screen::Apply => keys::APPLY,
            Screen::Done => keys::DONE,
            Screen::Dashboard => keys::DASHBOARD,
            Screen::Teardown => keys::TEARDOWN,
            Screen::Diagnostics => keys::DIAGNOSTICS,
            Screen::Upstream => keys::UPSTREAM,
            Screen::Fleet => keys::FLEET_FORM,
        }
    }

    /// Step number in the wizard (1-8) and its name, if it is a wizard step.
    pub fn step(self) -> Option<(usize, &'static str)> {
        match self {
            Screen::Profile => Some((1, "AWS profile")),
            Screen::Region => Some((2, "Region")),
            Screen::Echo => Some((3, "Echo account")),
            Screen::Options => Some((4, "Prefix and options")),
            Screen::Method => Some((5, "Method")),
            Screen::Plan => Some((6, "Plan")),
            Screen::Apply => Some((7, "Apply")),
            Screen::Done => Some((8, "Done")),
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "dashboard",
            Screen::Teardown => "teardown",
            Screen::Diagnostics => "diagnostics",
            Screen::Upstream => "add another upstream",
            Screen::Fleet => "many accounts (fleet)",
            other => other.step().map_or("", |(_, name)| name),
        }
    }
}

/// What a screen's answer to a key asks of the app: effects to run and where to go.
#[derive(Debug, Default, PartialEq)]
pub struct Out {
    pub effects: Vec<Effect>,
    pub go: Option<Screen>,
}

impl Out {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn go(screen: Screen) -> Self {
        Self {
            effects: vec![],
            go: Some(screen),
        }
    }
    pub fn effect(e: Effect) -> Self {
        Self {
            effects: vec![e],
            go: None,
        }
    }
    pub fn and(mut self, e: Effect) -> Self {
        self.effects.push(e);
        self
    }
}

/// Who the wizard is connected as, and where: shared by every screen.
#[derive(Debug, Default)]
pub struct Session {
    pub profile: Option<ProfileEntry>,
    pub identity: Option<Identity>,
    /// The region being set up.
    pub region: Option<String>,
    /// That region's rules, once read.
    pub rules: Option<Result<Vec<CacheRule>, String>>,
    /// No AWS credentials were found: only the sandbox is offered.
    pub sandbox_only: bool,
}

impl Session {
    pub fn is_sandbox(&self) -> bool {
        self.profile
            .as_ref()
            .is_some_and(|p| p.kind == super::profiles::ProfileKind::Sandbox)
    }
}
