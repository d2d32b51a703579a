//! One key table per screen: it drives dispatch, the footer hints and the `?` help overlay, so
//! the three never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Up,
    Down,
    PageUp,
    PageDown,
    Select,
    Back,
    Quit,
    ForceQuit,
    Help,
    NextField,
    PrevField,
    ToggleAdvanced,
    Refresh,
    Sort,
    Teardown,
    NewSetup,
    Dashboard,
    ToggleRepos,
    SwitchPane,
    Diagnose,
    Bundle,
    /// Pull a test image through a rule (the verify popup).
    Verify,
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
    /// Short name for the footer ("" keeps it out of the footer).
    pub label: &'static str,
    pub help: &'static str,
    pub cmd: Cmd,
}

const fn b(keys: &'static [K], label: &'static str, help: &'static str, cmd: Cmd) -> Binding {
    Binding {
        keys,
        label,
        help,
        cmd,
    }
}

use KeyCode::{BackTab, Down, Enter, Esc, PageDown, PageUp, Tab, Up, F};

pub const GLOBAL: &[Binding] = &[
    b(&[K::Char('?'), K::Code(F(1))], "?", "help", Cmd::Help),
    b(
        &[K::Ctrl('c')],
        "",
        "quit (asks first while changes are being made)",
        Cmd::ForceQuit,
    ),
];

pub const PROFILE: &[Binding] = &[
    b(&[K::Code(Up), K::Ctrl('p')], "↑↓", "move", Cmd::Up),
    b(&[K::Code(Down), K::Ctrl('n')], "", "move down", Cmd::Down),
    b(&[K::Code(Enter)], "enter", "use this profile", Cmd::Select),
    b(&[K::Code(Esc)], "esc", "quit", Cmd::Quit),
];

pub const REGION: &[Binding] = &[
    b(&[K::Code(Up), K::Ctrl('p')], "↑↓", "move", Cmd::Up),
    b(&[K::Code(Down), K::Ctrl('n')], "", "move down", Cmd::Down),
    b(&[K::Code(Enter)], "enter", "use this region", Cmd::Select),
    b(&[K::Code(Esc)], "esc", "back", Cmd::Back),
];

pub const FORM: &[Binding] = &[
    b(
        &[K::Code(Tab), K::Code(Down)],
        "tab",
        "next field",
        Cmd::NextField,
    ),
    b(
        &[K::Code(BackTab), K::Shift(BackTab), K::Code(Up)],
        "",
        "previous field",
        Cmd::PrevField,
    ),
    b(&[K::Code(Enter)], "enter", "continue", Cmd::Select),
    b(&[K::Code(Esc)], "esc", "back", Cmd::Back),
];

pub const OPTIONS: &[Binding] = &[
    b(
        &[K::Code(Tab), K::Code(Down)],
        "tab",
        "next field",
        Cmd::NextField,
    ),
    b(
        &[K::Code(BackTab), K::Shift(BackTab), K::Code(Up)],
        "",
        "previous field",
        Cmd::PrevField,
    ),
    b(
        &[K::Ctrl('o')],
        "ctrl-o",
        "show or hide advanced options (role name, upstream prefix, tags)",
        Cmd::ToggleAdvanced,
    ),
    b(&[K::Code(Enter)], "enter", "continue", Cmd::Select),
    b(&[K::Code(Esc)], "esc", "back", Cmd::Back),
];

pub const CHOICE: &[Binding] = &[
    b(&[K::Code(Up), K::Char('k')], "↑↓", "move", Cmd::Up),
    b(&[K::Code(Down), K::Char('j')], "", "move down", Cmd::Down),
    b(&[K::Code(Enter)], "enter", "choose", Cmd::Select),
    b(&[K::Code(Esc), K::Char('q')], "esc", "back", Cmd::Back),
];

pub const PLAN: &[Binding] = &[
    b(&[K::Code(Up), K::Char('k')], "↑↓", "scroll", Cmd::Up),
    b(&[K::Code(Down), K::Char('j')], "", "scroll down", Cmd::Down),
    b(&[K::Code(PageUp)], "", "page up", Cmd::PageUp),
    b(&[K::Code(PageDown)], "", "page down", Cmd::PageDown),
    b(
        &[K::Code(Enter)],
        "enter",
        "apply these changes",
        Cmd::Select,
    ),
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back to edit (nothing has changed)",
        Cmd::Back,
    ),
];

pub const APPLY: &[Binding] = &[
    b(&[K::Code(Up), K::Char('k')], "↑↓", "scroll", Cmd::Up),
    b(&[K::Code(Down), K::Char('j')], "", "scroll down", Cmd::Down),
    b(
        &[K::Code(Enter)],
        "enter",
        "continue when finished",
        Cmd::Select,
    ),
    b(&[K::Code(Esc)], "esc", "back when finished", Cmd::Back),
];

pub const DONE: &[Binding] = &[
    b(
        &[K::Char('d'), K::Code(Enter)],
        "d",
        "open the dashboard",
        Cmd::Dashboard,
    ),
    b(
        &[K::Char('v')],
        "v",
        "pull a test image now (proves the cache works)",
        Cmd::Verify,
    ),
    b(&[K::Char('q'), K::Code(Esc)], "q", "quit", Cmd::Quit),
];

pub const DASHBOARD: &[Binding] = &[
    b(&[K::Code(Up), K::Char('k')], "↑↓", "select", Cmd::Up),
    b(&[K::Code(Down), K::Char('j')], "", "select next", Cmd::Down),
    b(&[K::Code(PageUp)], "", "page up", Cmd::PageUp),
    b(&[K::Code(PageDown)], "", "page down", Cmd::PageDown),
    b(
        &[K::Code(Tab)],
        "tab",
        "switch between rules and repositories",
        Cmd::SwitchPane,
    ),
    b(
        &[K::Code(Enter)],
        "enter",
        "show the repository's images",
        Cmd::Select,
    ),
    b(
        &[K::Char('s')],
        "s",
        "sort repositories (name, pulls, last pull, size)",
        Cmd::Sort,
    ),
    b(&[K::Char('r')], "r", "refresh now", Cmd::Refresh),
    b(&[K::Char('n')], "n", "set up a new rule", Cmd::NewSetup),
    b(
        &[K::Char('t')],
        "t",
        "tear down the selected rule",
        Cmd::Teardown,
    ),
    b(
        &[K::Char('x')],
        "x",
        "diagnose the selected rule (checks and support bundle)",
        Cmd::Diagnose,
    ),
    b(
        &[K::Char('v')],
        "v",
        "pull a test image through the selected rule",
        Cmd::Verify,
    ),
    b(
        &[K::Char('q'), K::Code(Esc)],
        "q",
        "quit (esc closes the detail pane)",
        Cmd::Quit,
    ),
];

pub const DIAGNOSTICS: &[Binding] = &[
    b(&[K::Code(Up), K::Char('k')], "↑↓", "scroll", Cmd::Up),
    b(&[K::Code(Down), K::Char('j')], "", "scroll down", Cmd::Down),
    b(
        &[K::Char('b')],
        "b",
        "write the support bundle (JSON with a Markdown summary, mode 0600)",
        Cmd::Bundle,
    ),
    b(&[K::Char('r')], "r", "run the checks again", Cmd::Refresh),
    b(
        &[K::Code(Esc), K::Char('q')],
        "esc",
        "back to the dashboard",
        Cmd::Back,
    ),
];

pub const TEARDOWN: &[Binding] = &[
    b(
        &[K::Ctrl('r')],
        "ctrl-r",
        "also delete the cached repositories (toggle)",
        Cmd::ToggleRepos,
    ),
    b(
        &[K::Code(Enter)],
        "enter",
        "delete (after typing the prefix)",
        Cmd::Select,
    ),
    b(&[K::Code(Esc)], "esc", "back to the dashboard", Cmd::Back),
];

/// The teardown screen once the teardown has ended: only the way back works.
pub const TEARDOWN_ENDED: &[Binding] = &[b(
    &[K::Code(Enter), K::Code(Esc)],
    "enter",
    "back to the dashboard",
    Cmd::Back,
)];

/// While a teardown runs nothing but quit (ctrl-c, which asks first) acts.
pub const BUSY: &[Binding] = &[];

fn matches(k: &K, ev: &KeyEvent, text_focus: bool) -> bool {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    match *k {
        K::Char(c) => !text_focus && !ctrl && ev.code == KeyCode::Char(c),
        K::Ctrl(c) => ctrl && ev.code == KeyCode::Char(c),
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

/// Footer hints: `label` of each binding that has one. With a text field focused, `?` types
/// into it, so help is offered as F1.
pub fn footer(table: &[Binding], text_focus: bool) -> Vec<(&'static str, &'static str)> {
    table
        .iter()
        .chain(GLOBAL.iter())
        .filter(|b| !b.label.is_empty())
        .map(|b| match (b.cmd, text_focus) {
            (Cmd::Help, true) => ("F1", b.help),
            _ => (b.label, b.help),
        })
        .collect()
}

/// Help lines: every key of every binding, with what it does.
pub fn help(table: &[Binding]) -> Vec<(String, &'static str)> {
    table
        .iter()
        .chain(GLOBAL.iter())
        .map(|b| {
            (
                {
                    // shift-tab arrives as BackTab or as shift+BackTab: name it once.
                    let mut names: Vec<String> = b.keys.iter().map(key_name).collect();
                    names.dedup();
                    names.join(" / ")
                },
                b.help,
            )
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
        let f = footer(DASHBOARD, false);
        assert!(f.contains(&("t", "tear down the selected rule")));
        assert!(f.iter().any(|(k, _)| *k == "?"));
        // With a text field focused `?` is typed: the footer offers F1.
        let f = footer(FORM, true);
        assert!(f.iter().any(|(k, what)| *k == "F1" && *what == "help"));
        assert!(!f.iter().any(|(k, _)| *k == "?"));
        let h = help(DASHBOARD);
        assert!(h
            .iter()
            .any(|(k, what)| k == "q / esc" && what.starts_with("quit")));
        assert_eq!(h.len(), DASHBOARD.len() + GLOBAL.len());
    }
}
