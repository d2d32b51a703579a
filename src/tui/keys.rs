//! One key table per screen: it drives dispatch, the footer hints and the help overlay, so
//! the three never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Up,
    Down,
    PageUp,
    PageDown,
    /// The first line or row (g, Home).
    Top,
    /// The last line or row (G, End).
    Bottom,
    Select,
    Back,
    Quit,
    ForceQuit,
    Help,
    NextField,
    PrevField,
    ToggleAdvanced,
    ToggleCacheSettings,
    Refresh,
    Sort,
    /// Reverse the sort order.
    SortReverse,
    /// Filter the focused list by text (`/`).
    Filter,
    /// Take over what someone else made (asks first; the CLI's --adopt).
    Adopt,
    Teardown,
    NewSetup,
    Dashboard,
    ToggleRepos,
    SwitchPane,
    Diagnose,
    Bundle,
    /// Pull a test image through a rule (the verify popup).
    Verify,
    /// Warm the cache with a workload's images (the warm screen).
    Warm,
    /// Copy the usage commands to the clipboard.
    Copy,
    /// Show the selected rule's details on the whole screen (or back).
    RuleDetails,
    /// Set up a rule for another upstream registry (Docker Hub, Quay, …).
    AddUpstream,
    /// Open the fleet screen (many accounts through a StackSet).
    Fleet,
    /// Read the fleet's status (every instance, read live).
    FleetStatus,
    /// Fleet teardown: keep the instances' stacks (detach only).
    ToggleRetain,
    /// Fleet: call StackSets as SELF or as a delegated administrator.
    ToggleCallAs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K {
    Char(char),
    Code(KeyCode),
    Ctrl(char),
    Shift(KeyCode),
}

pub struct Binding {
    pub keys: &'static [K],
    /// The key as the footer names it ("" keeps the binding out of the footer).
    pub label: &'static str,
    /// One or two words for the footer.
    pub short: &'static str,
    pub help: &'static str,
    pub cmd: Cmd,
}

const fn b(
    keys: &'static [K],
    label: &'static str,
    short: &'static str,
    help: &'static str,
    cmd: Cmd,
) -> Binding {
    Binding {
        keys,
        label,
        short,
        help,
        cmd,
    }
}

use KeyCode::{BackTab, Down, Enter, Esc, PageDown, PageUp, Tab, Up, F};

pub const GLOBAL: &[Binding] = &[
    b(
        &[K::Char('?'), K::Code(F(1))],
        "?",
        "help",
        "help: every key of this screen",
        Cmd::Help,
    ),
    b(
        &[K::Ctrl('c')],
        "ctrl-c",
        "quit",
        "quit (asks first while changes are being made)",
        Cmd::ForceQuit,
    ),
];

const UP: Binding = b(
    &[K::Code(Up), K::Ctrl('p')],
    "↑↓",
    "move",
    "move up",
    Cmd::Up,
);
const DOWN: Binding = b(
    &[K::Code(Down), K::Ctrl('n')],
    "",
    "",
    "move down",
    Cmd::Down,
);
const SCROLL_UP: Binding = b(
    &[K::Code(Up), K::Char('k')],
    "↑↓",
    "scroll",
    "scroll up",
    Cmd::Up,
);
const SCROLL_DOWN: Binding = b(
    &[K::Code(Down), K::Char('j')],
    "",
    "",
    "scroll down",
    Cmd::Down,
);
const PAGE_UP: Binding = b(&[K::Code(PageUp)], "", "", "page up", Cmd::PageUp);
const TOP: Binding = b(
    &[K::Char('g'), K::Code(KeyCode::Home)],
    "",
    "",
    "to the top",
    Cmd::Top,
);
const BOTTOM: Binding = b(
    &[K::Char('G'), K::Code(KeyCode::End)],
    "",
    "",
    "to the end",
    Cmd::Bottom,
);
const PAGE_DOWN: Binding = b(&[K::Code(PageDown)], "", "", "page down", Cmd::PageDown);
const NEXT_FIELD: Binding = b(
    &[K::Code(Tab), K::Code(Down)],
    "tab",
    "next field",
    "next field",
    Cmd::NextField,
);
const PREV_FIELD: Binding = b(
    &[K::Code(BackTab), K::Shift(BackTab), K::Code(Up)],
    "",
    "",
    "previous field",
    Cmd::PrevField,
);
const BACK: Binding = b(
    &[K::Code(Esc)],
    "esc",
    "back",
    "back to the previous step",
    Cmd::Back,
);

pub const PROFILE: &[Binding] = &[
    UP,
    DOWN,
    b(
        &[K::Code(Enter)],
        "enter",
        "use",
        "use this profile",
        Cmd::Select,
    ),
    b(
        &[K::Code(Esc)],
        "esc",
        "quit",
        "quit (asks first; back to the dashboard when you came from it)",
        Cmd::Quit,
    ),
];

pub const REGION: &[Binding] = &[
    UP,
    DOWN,
    b(
        &[K::Code(Enter)],
        "enter",
        "use",
        "use this region",
        Cmd::Select,
    ),
    BACK,
];

pub const FORM: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "continue",
        "continue",
        Cmd::Select,
    ),
    NEXT_FIELD,
    PREV_FIELD,
    BACK,
];

pub const UPSTREAM: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "plan",
        "plan this rule (nothing changes before you confirm)",
        Cmd::Select,
    ),
    NEXT_FIELD,
    PREV_FIELD,
    b(
        &[K::Code(Esc)],
        "esc",
        "back",
        "back to the dashboard",
        Cmd::Back,
    ),
];

pub const OPTIONS: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "continue",
        "continue",
        Cmd::Select,
    ),
    NEXT_FIELD,
    PREV_FIELD,
    b(
        &[K::Ctrl('o')],
        "ctrl-o",
        "advanced",
        "show or hide advanced options (role name, upstream prefix, tags)",
        Cmd::ToggleAdvanced,
    ),
    b(
        &[K::Ctrl('k')],
        "ctrl-k",
        "cache settings",
        "show or hide cache settings (immutable tags, lifecycle, KMS, repository tags, scanning)",
        Cmd::ToggleCacheSettings,
    ),
    BACK,
];

pub const CHOICE: &[Binding] = &[
    b(
        &[K::Code(Up), K::Char('k')],
        "↑↓",
        "move",
        "move up",
        Cmd::Up,
    ),
    b(
        &[K::Code(Down), K::Char('j')],
        "",
        "",
        "move down",
        Cmd::Down,
    ),
    b(
        &[K::Code(Enter)],
        "enter",
        "choose",
        "choose and compute the plan",
        Cmd::Select,
    ),
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back",
        "back to the previous step",
        Cmd::Back,
    ),
];

pub const PLAN: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "apply",
        "apply these changes",
        Cmd::Select,
    ),
    b(
        &[K::Char('a')],
        "a",
        "take over",
        "take over what echo-onboard did not make, so the plan can change it (asks first)",
        Cmd::Adopt,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back",
        "back to edit (nothing has changed)",
        Cmd::Back,
    ),
];

pub const APPLY: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "continue",
        "continue when finished",
        Cmd::Select,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc)],
        "esc",
        "back",
        "back to edit after a failure",
        Cmd::Back,
    ),
];

pub const DONE: &[Binding] = &[
    b(
        &[K::Char('d'), K::Code(Enter)],
        "d",
        "dashboard",
        "open the dashboard",
        Cmd::Dashboard,
    ),
    b(
        &[K::Char('v')],
        "v",
        "test pull",
        "pull a test image now (proves the cache works)",
        Cmd::Verify,
    ),
    b(
        &[K::Char('c')],
        "c",
        "copy",
        "copy the login and pull commands to the clipboard (OSC 52)",
        Cmd::Copy,
    ),
    b(
        &[K::Char('q'), K::Code(Esc)],
        "q",
        "quit",
        "quit",
        Cmd::Quit,
    ),
];

pub const DASHBOARD: &[Binding] = &[
    b(
        &[K::Code(Up), K::Char('k')],
        "↑↓",
        "select",
        "select the previous row",
        Cmd::Up,
    ),
    b(
        &[K::Code(Down), K::Char('j')],
        "",
        "",
        "select the next row",
        Cmd::Down,
    ),
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Tab)],
        "tab",
        "pane",
        "switch between rules and repositories",
        Cmd::SwitchPane,
    ),
    b(
        &[K::Code(Enter)],
        "enter",
        "open",
        "open: a rule's repositories, a repository's images",
        Cmd::Select,
    ),
    b(
        &[K::Char('/')],
        "/",
        "filter",
        "filter the focused list (rules or repositories) by text; esc clears it",
        Cmd::Filter,
    ),
    b(
        &[K::Char('S')],
        "S",
        "",
        "reverse the sort order",
        Cmd::SortReverse,
    ),
    b(
        &[K::Char('s')],
        "s",
        "sort",
        "sort repositories (name, pulls, last pull, size)",
        Cmd::Sort,
    ),
    b(&[K::Char('r')], "r", "refresh", "refresh now", Cmd::Refresh),
    b(
        &[K::Char('n')],
        "n",
        "new",
        "set up a new rule",
        Cmd::NewSetup,
    ),
    b(
        &[K::Char('u')],
        "u",
        "upstream",
        "add a rule for another upstream (Docker Hub, Quay, GitHub, …)",
        Cmd::AddUpstream,
    ),
    b(
        &[K::Char('t')],
        "t",
        "teardown",
        "tear down the selected rule",
        Cmd::Teardown,
    ),
    b(
        &[K::Char('x')],
        "x",
        "diagnose",
        "diagnose the selected rule (checks and support bundle)",
        Cmd::Diagnose,
    ),
    b(
        &[K::Char('v')],
        "v",
        "pull",
        "pull a test image through the selected rule",
        Cmd::Verify,
    ),
    b(
        &[K::Char('w')],
        "w",
        "warm",
        "warm the cache: pull a workload's images (manifests, helm template output) by tag before its first deploy",
        Cmd::Warm,
    ),
    b(
        &[K::Char('c')],
        "c",
        "copy",
        "copy the selected rule's role ARN (or its pull address) to the clipboard (OSC 52: works with the mouse captured)",
        Cmd::Copy,
    ),
    b(
        &[K::Char('i')],
        "i",
        "details",
        "the selected rule's details and pull chart on the whole screen (i again: back)",
        Cmd::RuleDetails,
    ),
    b(
        &[K::Char('f')],
        "f",
        "fleet",
        "many accounts: deploy to accounts or OUs × regions through a StackSet, and watch them",
        Cmd::Fleet,
    ),
    b(
        &[K::Char('q'), K::Code(Esc)],
        "q",
        "quit",
        "quit (esc closes the image list or the details first)",
        Cmd::Quit,
    ),
];

pub const DIAGNOSTICS: &[Binding] = &[
    b(
        &[K::Char('b')],
        "b",
        "bundle",
        "write the support bundle (JSON with a Markdown summary, mode 0600)",
        Cmd::Bundle,
    ),
    b(
        &[K::Char('c')],
        "c",
        "copy",
        "copy the support bundle's path to the clipboard (OSC 52)",
        Cmd::Copy,
    ),
    b(
        &[K::Char('r')],
        "r",
        "re-run",
        "run the checks again",
        Cmd::Refresh,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back",
        "back to the dashboard",
        Cmd::Back,
    ),
];

pub const TEARDOWN: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "delete",
        "delete (after typing the prefix)",
        Cmd::Select,
    ),
    b(
        &[K::Ctrl('r')],
        "ctrl-r",
        "+repos",
        "also delete the cached repositories (toggle)",
        Cmd::ToggleRepos,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc)],
        "esc",
        "back",
        "back to the dashboard",
        Cmd::Back,
    ),
];

/// The teardown screen once the teardown has ended: only the way back works.
pub const TEARDOWN_ENDED: &[Binding] = &[
    b(
        &[K::Code(Enter), K::Code(Esc)],
        "enter",
        "dashboard",
        "back to the dashboard",
        Cmd::Back,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
];

pub const FLEET_FORM: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "plan",
        "plan the fleet (nothing changes before you confirm)",
        Cmd::Select,
    ),
    NEXT_FIELD,
    PREV_FIELD,
    b(
        &[K::Ctrl('s')],
        "ctrl-s",
        "status",
        "status of this stack set: every instance, read live in its account",
        Cmd::FleetStatus,
    ),
    b(
        &[K::Ctrl('g')],
        "ctrl-g",
        "call as",
        "call StackSets as SELF (management or administration account) or DELEGATED_ADMIN",
        Cmd::ToggleCallAs,
    ),
    BACK,
];

pub const FLEET_PLAN: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "apply",
        "apply the fleet plan (or, with nothing to change, show the status)",
        Cmd::Select,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back",
        "back to edit (nothing has changed)",
        Cmd::Back,
    ),
];

pub const FLEET_APPLIED: &[Binding] = &[
    b(
        &[K::Code(Enter), K::Char('s')],
        "enter",
        "status",
        "status of every instance, read live",
        Cmd::FleetStatus,
    ),
    b(
        &[K::Char('r')],
        "r",
        "plan again",
        "plan again: only failed instances are re-deployed",
        Cmd::Refresh,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc)],
        "esc",
        "form",
        "back to the fleet form",
        Cmd::Back,
    ),
];

pub const FLEET_STATUS: &[Binding] = &[
    b(&[K::Char('r')], "r", "refresh", "read again", Cmd::Refresh),
    b(
        &[K::Char('t')],
        "t",
        "teardown",
        "tear down the stack set and its instances (asks for its name)",
        Cmd::Teardown,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "form",
        "back to the fleet form",
        Cmd::Back,
    ),
];

pub const FLEET_CONFIRM: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "delete",
        "delete the instances and the stack set (after typing its name)",
        Cmd::Select,
    ),
    b(
        &[K::Ctrl('r')],
        "ctrl-r",
        "retain",
        "keep the stacks in the accounts: detach the instances only (toggle)",
        Cmd::ToggleRetain,
    ),
    PAGE_UP,
    PAGE_DOWN,
    b(
        &[K::Code(Esc)],
        "esc",
        "cancel",
        "cancel: back to the status",
        Cmd::Back,
    ),
];

/// The fleet screen once a teardown has ended.
pub const FLEET_ENDED: &[Binding] = &[
    b(
        &[K::Code(Enter), K::Char('s')],
        "enter",
        "status",
        "read the status again",
        Cmd::FleetStatus,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    b(
        &[K::Code(Esc)],
        "esc",
        "form",
        "back to the fleet form",
        Cmd::Back,
    ),
];

/// While changes are being made only scrolling and quit (ctrl-c, which asks first) act.
pub const BUSY: &[Binding] = &[SCROLL_UP, SCROLL_DOWN];

/// The warm screen (over the dashboard); its file field has the focus, so letters type.
pub const WARM: &[Binding] = &[
    b(
        &[K::Code(Enter)],
        "enter",
        "warm",
        "pull every image of the files by tag through the cache (8 at a time)",
        Cmd::Select,
    ),
    SCROLL_UP,
    SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    b(
        &[K::Code(Esc)],
        "esc",
        "close",
        "close: back to the dashboard",
        Cmd::Back,
    ),
];

fn matches(k: &K, ev: &KeyEvent, text_focus: bool) -> bool {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    match *k {
        K::Char(c) => !text_focus && !ctrl && ev.code == KeyCode::Char(c),
        K::Ctrl(c) => ctrl && ev.code == KeyCode::Char(c),
        // Home and End move the cursor of a focused text field.
        K::Code(code @ (KeyCode::Home | KeyCode::End)) => !text_focus && !ctrl && ev.code == code,
        K::Code(code) => !ctrl && ev.code == code,
        K::Shift(code) => ev.modifiers.contains(KeyModifiers::SHIFT) && ev.code == code,
    }
}

/// The command a key means on a screen, global bindings included. With a text field focused,
/// plain characters belong to the field.
pub fn dispatch(table: &[Binding], ev: &KeyEvent, text_focus: bool) -> Option<Cmd> {
    GLOBAL
        .iter()
        .chain(table.iter())
        .find(|bnd| bnd.keys.iter().any(|k| matches(k, ev, text_focus)))
        .map(|bnd| bnd.cmd)
}

pub fn key_name(k: &K) -> String {
    match k {
        K::Char(c) => c.to_string(),
        K::Ctrl(c) => format!("ctrl-{c}"),
        K::Code(KeyCode::F(n)) => format!("F{n}"),
        K::Code(code) | K::Shift(code) => match code {
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "shift-tab".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            other => format!("{other:?}").to_lowercase(),
        },
    }
}

/// One footer hint: the key, its word, and whether it does anything now (disabled keys are
/// shown dimmed, so the footer never hides that a key exists, nor pretends it works).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub key: &'static str,
    pub short: &'static str,
    pub enabled: bool,
}

impl Hint {
    /// Columns it takes, with the gap after it.
    pub fn width(&self) -> usize {
        self.key.chars().count() + 1 + self.short.chars().count() + 2
    }
}

/// How much a footer hint matters: the main action, the way back or out and help must
/// survive a narrow footer; the screen's own actions come next; moving around (which arrows
/// and tab make obvious) goes first.
fn rank(cmd: Cmd) -> u8 {
    match cmd {
        Cmd::Select | Cmd::Back | Cmd::Quit | Cmd::ForceQuit | Cmd::Help | Cmd::Dashboard => 3,
        Cmd::Up
        | Cmd::Down
        | Cmd::PageUp
        | Cmd::PageDown
        | Cmd::NextField
        | Cmd::PrevField
        | Cmd::SwitchPane
        | Cmd::Sort
        | Cmd::SortReverse
        | Cmd::Filter
        | Cmd::Top
        | Cmd::Bottom
        | Cmd::Refresh => 1,
        _ => 2,
    }
}

/// Footer hints that fit in `width` columns. With a text field focused `?` is typed, so help
/// is offered as F1. ctrl-c is offered only where no other key quits. When the row is too
/// narrow the least important hints go first (all of them are in the help).
pub fn footer(
    table: &[Binding],
    text_focus: bool,
    enabled: impl Fn(Cmd) -> bool,
    width: usize,
) -> Vec<Hint> {
    let quits = table
        .iter()
        .any(|b| b.cmd == Cmd::Quit && !b.label.is_empty());
    let mut hints: Vec<(Cmd, Hint)> = table
        .iter()
        .chain(GLOBAL.iter())
        .filter(|b| !b.label.is_empty())
        .filter(|b| !(b.cmd == Cmd::ForceQuit && quits))
        .map(|b| {
            let key = match (b.cmd, text_focus) {
                (Cmd::Help, true) => "F1",
                _ => b.label,
            };
            let hint = Hint {
                key,
                short: b.short,
                enabled: enabled(b.cmd),
            };
            (b.cmd, hint)
        })
        .collect();
    while hints.iter().map(|(_, h)| h.width()).sum::<usize>() > width {
        let least = hints.iter().map(|(c, _)| rank(*c)).min().unwrap_or(3);
        match hints
            .iter()
            .rposition(|(c, _)| rank(*c) == least && least < 3)
        {
            Some(i) => {
                hints.remove(i);
            }
            None => break,
        }
    }
    hints.into_iter().map(|(_, h)| h).collect()
}

/// Help lines: every key of every binding, with what it does and whether it works now.
pub fn help(table: &[Binding], enabled: impl Fn(Cmd) -> bool) -> Vec<(String, &'static str, bool)> {
    table
        .iter()
        .chain(GLOBAL.iter())
        .map(|b| {
            // shift-tab arrives as BackTab or as shift+BackTab: name it once.
            let mut names: Vec<String> = b.keys.iter().map(key_name).collect();
            names.dedup();
            (names.join(" / "), b.help, enabled(b.cmd))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn chars_go_to_text_fields() {
        assert_eq!(
            dispatch(CHOICE, &key(KeyCode::Char('j')), false),
            Some(Cmd::Down)
        );
        assert_eq!(dispatch(PROFILE, &key(KeyCode::Char('j')), true), None);
        assert_eq!(dispatch(PROFILE, &key(KeyCode::Char('?')), true), None);
        assert_eq!(
            dispatch(PROFILE, &key(KeyCode::F(1)), true),
            Some(Cmd::Help)
        );
        assert_eq!(
            dispatch(
                PROFILE,
                &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                true
            ),
            Some(Cmd::ForceQuit)
        );
        assert_eq!(
            dispatch(
                OPTIONS,
                &KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL),
                true
            ),
            Some(Cmd::ToggleAdvanced)
        );
    }

    #[test]
    fn footer_and_help_come_from_the_same_table() {
        let all = |_| true;
        let f = footer(DASHBOARD, false, all, 200);
        assert!(f.iter().any(|h| h.key == "t" && h.short == "teardown"));
        assert!(f.iter().any(|h| h.key == "?"));
        assert!(
            !f.iter().any(|h| h.key == "ctrl-c"),
            "q quits here: ctrl-c is not offered"
        );
        // With a text field focused `?` is typed: the footer offers F1, and ctrl-c quits.
        let f = footer(FORM, true, all, 200);
        assert!(f.iter().any(|h| h.key == "F1" && h.short == "help"));
        assert!(!f.iter().any(|h| h.key == "?"));
        assert!(f.iter().any(|h| h.key == "ctrl-c" && h.short == "quit"));
        let h = help(DASHBOARD, all);
        assert!(h
            .iter()
            .any(|(k, what, _)| k == "q / esc" && what.starts_with("quit")));
        assert_eq!(h.len(), DASHBOARD.len() + GLOBAL.len());
    }

    #[test]
    fn a_narrow_footer_keeps_the_main_action_help_and_quit() {
        let f = footer(DASHBOARD, false, |c| c != Cmd::Teardown, 80);
        let keys: Vec<&str> = f.iter().map(|h| h.key).collect();
        assert!(f.iter().map(Hint::width).sum::<usize>() <= 80, "{keys:?}");
        // The screen's actions outrank moving around.
        for k in ["enter", "q", "?", "t", "x", "v", "n"] {
            assert!(keys.contains(&k), "{k} missing: {keys:?}");
        }
        assert!(!keys.contains(&"↑↓"), "{keys:?}");
        let f = footer(DASHBOARD, false, |c| c != Cmd::Teardown, 200);
        assert!(
            f.iter().any(|h| h.key == "t" && !h.enabled),
            "disabled keys are shown, marked"
        );
    }
}
