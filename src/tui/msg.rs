//! What flows between the state machine and the effect runner: messages in (keys, time,
//! results of AWS work) and effects out (AWS work to start, preferences to save, quit).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::prefs::Prefs;
use super::profiles::ProfileEntry;
use super::screens::dashboard::{AccountRead, RuleCheck};
use crate::core::fleet::FleetInput;
use crate::core::model::{CacheRule, Identity, ImageInfo, RepoDetails};
use crate::core::validate::SetupInput;
use crate::engine::diagnose::Report;
use crate::engine::events::Event;
use crate::engine::fleet::{FleetApplied, FleetPlanned, FleetStatus, FleetTornDown};
use crate::engine::ops::{TeardownPlanned, Verified};
use crate::engine::planning::{Method, Planned};

/// A value handed between the state machine and the effect runner without copying; equal when
/// it is the same value (so effects can be compared in tests).
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn new(v: T) -> Self {
        Shared(Arc::new(v))
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shared({})", std::any::type_name::<T>())
    }
}

/// A rule is named by its region and prefix: the dashboard shows every region's rules.
pub type RuleKey = (String, String);

pub enum Msg {
    Key(KeyEvent),
    /// The terminal's new size.
    Resize(u16, u16),
    /// Mouse wheel: lines to scroll (negative is up).
    Scroll(i32),
    /// The mouse wheel at a cell: what is under the pointer scrolls (negative is up).
    Wheel(i32, u16, u16),
    /// A left click at a cell: focuses the pane (and row) under it.
    Click(u16, u16),
    /// Text pasted into the terminal (bracketed paste): typed into the focused field.
    Paste(String),
    /// Once a second: time moves on (refresh timers, elapsed time).
    Tick(DateTime<Utc>),
    Profiles(Vec<ProfileEntry>),
    Connected(Result<Identity, String>),
    Rules(Result<Vec<CacheRule>, String>),
    Planned(Result<Arc<Planned>, String>),
    /// Engine progress, stamped when it happened.
    Engine(Event, DateTime<Utc>),
    /// Apply finished: usage lines, or error lines.
    Applied(Result<Vec<String>, Vec<String>>),
    /// The engine's teardown plan for the selected rule (ownership read from AWS), or why not.
    TeardownPlanned(Result<Shared<TeardownPlanned>, Vec<String>>),
    /// The account's rules and cached repositories in every region.
    Dashboard(Result<Box<AccountRead>, String>),
    /// A part of the dashboard's read, before the whole is in.
    DashboardPart(Box<crate::engine::observe::Streamed>),
    /// The dashboard's refresh validated these rules.
    Validations(Vec<(RuleKey, RuleCheck)>),
    /// An apply validated the rule it set up (sent before `Applied`).
    Validated(RuleKey, RuleCheck),
    Images {
        region: String,
        repo: String,
        result: Result<Vec<ImageInfo>, String>,
    },
    /// Image details of some cached repositories of a region, read in the background.
    Details {
        region: String,
        batch: Vec<(String, RepoDetails)>,
    },
    /// The background read of image details stopped: why.
    DetailsFailed(String),
    /// A test pull finished: what it proved, or why it failed.
    Verified(Result<Verified, Vec<String>>),
    /// Warm: pulls done of those to make.
    WarmProgress(usize, usize),
    /// Warm finished: each image's outcome, or why it could not run.
    Warmed(Result<Shared<crate::engine::workloads::Warmed>, Vec<String>>),
    TornDown(Result<Vec<String>, Vec<String>>),
    Diagnosed(Shared<Report>),
    /// The bundle's path, or why it could not be written.
    BundleWritten(Result<String, String>),
    FleetPlanned(Result<Shared<FleetPlanned>, Vec<String>>),
    FleetApplied(Result<Shared<FleetApplied>, Vec<String>>),
    FleetStatus(Result<Shared<FleetStatus>, Vec<String>>),
    FleetTornDown(Result<Shared<FleetTornDown>, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadProfiles,
    /// Builds the AWS client for a profile and region and fetches the caller identity.
    Connect {
        profile: ProfileEntry,
        region: Option<String>,
    },
    /// Rebuilds the client for the chosen region and loads the rules there.
    UseRegion(String),
    Plan {
        input: Box<SetupInput>,
        method: Method,
        stack_name: String,
        /// A repository policy file to read into the input first (cache settings).
        repository_policy: Option<String>,
        /// Take over what someone else made (the user confirmed it on the plan).
        adopt: bool,
    },
    /// Applies exactly this plan.
    Apply(Shared<Planned>),
    /// Removes what a plan left in AWS for review (a stack's change set) when it is not applied.
    Discard(Shared<Planned>),
    CancelApply,
    /// Reads the account's rules and cached repositories in every enabled region.
    LoadDashboard,
    Validate(Vec<RuleKey>),
    LoadImages {
        region: String,
        repo: String,
    },
    /// Reads the image details of these repositories of `region` in the background, in this
    /// order (what is on screen first), replacing any such read still running.
    LoadDetails {
        region: String,
        names: Vec<String>,
    },
    /// Pulls a test image through the rule for `prefix` in `region` (the engine's verify).
    Verify {
        region: String,
        prefix: String,
        image: String,
    },
    /// Warms the cache in `region` with these files (none: the sandbox's sample workload).
    Warm {
        region: String,
        files: Vec<String>,
    },
    /// Reads who made the rule and plans its teardown.
    PlanTeardown {
        region: String,
        prefix: String,
        role: Option<String>,
        /// Also list (and plan to delete) the cached repositories under the prefix.
        delete_repos: bool,
    },
    /// Carries out exactly this teardown plan (in the plan's region).
    Teardown(Shared<TeardownPlanned>),
    Diagnose {
        region: String,
        prefix: String,
    },
    /// Writes this report (of diagnostics for `prefix`) as the support bundle.
    WriteBundle {
        report: Shared<Report>,
        region: String,
        prefix: String,
    },
    /// Plans a fleet (a policy file to read into the setup first, as for `Plan`).
    FleetPlan {
        input: Box<FleetInput>,
        repository_policy: Option<String>,
    },
    /// Applies exactly this fleet plan.
    FleetApply(Shared<FleetPlanned>),
    /// Reads the stack set's instances and each target through its read role.
    FleetStatus {
        stack_set: String,
        call_as: crate::core::stacksets::CallAs,
        /// The role assumed in each target to read it.
        read_role: String,
    },
    /// Deletes (or detaches) every instance, then the stack set.
    FleetTeardown {
        stack_set: String,
        retain_stacks: bool,
        call_as: crate::core::stacksets::CallAs,
    },
    /// Puts text on the terminal's clipboard (OSC 52; terminals that do not allow it ignore it).
    Copy(String),
    SavePrefs(Prefs),
    Quit,
}
