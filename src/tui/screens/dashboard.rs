//! The live view of the whole account: every region's rules, the selected rule whole in a
//! detail pane with its 30-day pull chart, and its cached repositories with a trend column.
//! Image details stream in after the first draw; a refresh runs every 30 seconds.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::bar::NINE_LEVELS;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;

use super::Out;
use crate::core::cache::scanning_words;
use crate::core::format::human_bytes;
use crate::core::model::{CacheRule, ImageInfo, ManagedBy, Observed, RepoDetails, RepositoryInfo};
use crate::engine::observe::{Coverage, Part, Streamed};
use crate::tui::keys::Cmd;
use crate::tui::msg::{Effect, RuleKey};
use crate::tui::theme::Theme;
use crate::tui::widgets::{ellipsize, fit_columns, fitting, list_scrollbar};
use crate::tui::words::said;

/// Seconds between background refreshes.
pub const REFRESH_SECS: i64 = 30;

/// What `ValidatePullThroughCacheRule` said about a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleCheck {
    Valid,
    /// ECR's reason.
    Invalid(String),
    /// The check itself failed: why.
    Unknown(String),
}

/// What ran the check: the dashboard's own refresh, an apply or the diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedBy {
    Refresh,
    Apply,
    Diagnose,
}

impl CheckedBy {
    pub fn word(self) -> &'static str {
        match self {
            CheckedBy::Refresh => "refresh",
            CheckedBy::Apply => "apply",
            CheckedBy::Diagnose => "diagnose",
        }
    }
}

/// The latest validation of a rule, whoever ran it, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub check: RuleCheck,
    pub by: CheckedBy,
    pub at: DateTime<Utc>,
}

/// One region of the account as read.
#[derive(Debug, Clone)]
pub struct RegionRead {
    pub region: String,
    pub observed: Result<Observed, String>,
}

/// The account as the dashboard reads it: every enabled region.
#[derive(Debug, Clone, Default)]
pub struct AccountRead {
    pub regions: Vec<RegionRead>,
}

impl AccountRead {
    pub fn observed(&self, region: &str) -> Option<&Observed> {
        self.regions
            .iter()
            .find(|r| r.region == region)
            .and_then(|r| r.observed.as_ref().ok())
    }

    pub fn account(&self) -> Option<&str> {
        self.regions
            .iter()
            .find_map(|r| r.observed.as_ref().ok())
            .map(|o| o.identity.account.as_str())
    }

    pub fn has_rules(&self) -> bool {
        self.regions
            .iter()
            .filter_map(|r| r.observed.as_ref().ok())
            .any(|o| !o.rules.is_empty())
    }

    /// Every rule with its region, ordered by region then prefix.
    pub fn rules(&self) -> Vec<(String, CacheRule)> {
        let mut out: Vec<(String, CacheRule)> = self
            .regions
            .iter()
            .filter_map(|r| r.observed.as_ref().ok())
            .flat_map(|o| o.rules.iter().map(|rule| (o.region.clone(), rule.clone())))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1.prefix).cmp(&(&b.0, &b.1.prefix)));
        out
    }

    fn unreadable(&self) -> Vec<(&str, &str)> {
        self.regions
            .iter()
            .filter_map(|r| {
                r.observed
                    .as_ref()
                    .err()
                    .map(|e| (r.region.as_str(), e.as_str()))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Rules,
    Repos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Pulls,
    LastPull,
    Size,
}

impl SortBy {
    pub fn next(self) -> Self {
        match self {
            SortBy::Name => SortBy::Pulls,
            SortBy::Pulls => SortBy::LastPull,
            SortBy::LastPull => SortBy::Size,
            SortBy::Size => SortBy::Name,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Pulls => "pulls",
            SortBy::LastPull => "last pull",
            SortBy::Size => "size",
        }
    }
}

/// The images of one repository, opened with enter.
pub struct ImagesPane {
    pub region: String,
    pub repo: String,
    pub images: Option<Result<Vec<ImageInfo>, String>>,
}

/// A read of the account arriving in parts (rules, then repositories page by page, then
/// their counts): what has come so far. Shown until the first whole read is in; behind a
/// refresh, the previous read stays on screen until this one is whole.
#[derive(Debug, Default)]
pub struct Incoming {
    pub read: AccountRead,
    rows: HashMap<String, RegionRows>,
}

/// Where each repository row of a region is, and what of it has come.
#[derive(Debug, Default)]
struct RegionRows {
    index: HashMap<String, usize>,
    /// Rows of the busiest repositories that the listing has not reached yet.
    unlisted: HashSet<String>,
    listed: usize,
    counted: usize,
}

impl Incoming {
    /// Repositories listed and repositories counted so far, over every region.
    pub fn progress(&self) -> (usize, usize) {
        self.rows
            .values()
            .fold((0, 0), |(l, c), r| (l + r.listed, c + r.counted))
    }

    fn add(&mut self, streamed: Streamed) {
        let Streamed { region, part } = streamed;
        if let Part::Rules(observed) = part {
            self.read.regions.retain(|r| r.region != region);
            self.read.regions.push(RegionRead {
                region: region.clone(),
                observed: Ok(*observed),
            });
            self.rows.insert(region, RegionRows::default());
            return;
        }
        let (Some(o), Some(rows)) = (
            self.read
                .regions
                .iter_mut()
                .find(|r| r.region == region)
                .and_then(|r| r.observed.as_mut().ok()),
            self.rows.get_mut(&region),
        ) else {
            return;
        };
        match part {
            Part::Rules(_) => {}
            Part::Busiest(busiest) => {
                let rules = o.rules.clone();
                let coverage = Coverage::of(&rules);
                for (name, pulls) in busiest {
                    match rows.index.get(&name) {
                        // Counted already: the 30-day count stands.
                        Some(i) if !o.repositories[*i].pulls_by_day.is_empty() => {}
                        Some(i) => o.repositories[*i].pull_count_30d = pulls,
                        None => {
                            let Some(rule) = coverage.rule_for(&name) else {
                                continue;
                            };
                            rows.index.insert(name.clone(), o.repositories.len());
                            rows.unlisted.insert(name.clone());
                            o.repositories.push(RepositoryInfo {
                                rule_prefix: rule.prefix.clone(),
                                pull_count_30d: pulls,
                                ..RepositoryInfo::named(name)
                            });
                        }
                    }
                }
            }
            Part::Repositories(page) => {
                rows.listed += page.len();
                for mut repo in page {
                    match rows.index.get(&repo.name) {
                        Some(i) => {
                            // A busiest row, now listed: the listing's fields, the hint's count.
                            rows.unlisted.remove(&repo.name);
                            let row = &mut o.repositories[*i];
                            repo.pull_count_30d = row.pull_count_30d;
                            *row = repo;
                        }
                        None => {
                            rows.index.insert(repo.name.clone(), o.repositories.len());
                            o.repositories.push(repo);
                        }
                    }
                }
            }
            Part::Counts(counts) => {
                rows.counted += counts.len();
                for (name, days) in counts {
                    if let Some(i) = rows.index.get(&name) {
                        let row = &mut o.repositories[*i];
                        row.pull_count_30d = days.iter().sum();
                        row.pulls_by_day = days;
                    }
                }
            }
        }
    }

    /// The region's streamed rows, less the busiest ones the listing never reached (a
    /// repository deleted since its last pull).
    fn take_rows(&mut self, region: &str) -> Option<Vec<RepositoryInfo>> {
        let rows = self.rows.remove(region)?;
        let o = self
            .read
            .regions
            .iter_mut()
            .find(|r| r.region == region)?
            .observed
            .as_mut()
            .ok()?;
        let mut repos = std::mem::take(&mut o.repositories);
        repos.retain(|r| !rows.unlisted.contains(&r.name));
        Some(repos)
    }
}

pub struct Dashboard {
    pub account: Option<AccountRead>,
    /// The read in progress, as far as it has come.
    pub incoming: Option<Incoming>,
    /// The rules of every region, as listed.
    pub rules: Vec<(String, CacheRule)>,
    pub loading: bool,
    pub error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub rule_sel: usize,
    pub repo_sel: usize,
    pub pane: Pane,
    pub sort: SortBy,
    pub images: Option<ImagesPane>,
    /// The latest validation of each rule (apply, diagnose or refresh).
    pub checks: BTreeMap<RuleKey, Checked>,
    /// Repositories whose image details are still being read, and in which region.
    pub details_pending: usize,
    pub details_region: Option<String>,
    pub details_error: Option<String>,
    /// The rule to select when the next read arrives (the one just set up).
    pub focus: Option<RuleKey>,
    /// The selected rule's details fill the screen.
    pub expanded: bool,
    /// `/`: a text filter on the pane that was focused when it was opened.
    pub filter: tui_input::Input,
    pub filter_pane: Pane,
    /// The filter is being typed (printable keys go to it).
    pub filtering: bool,
    /// `S`: the sort order reversed.
    pub sort_reversed: bool,
    /// What `c` last copied to the clipboard, said in the status line.
    pub copied: Option<String>,
    /// Where the two lists were drawn last (for the mouse).
    pub rules_area: std::cell::Cell<Rect>,
    pub repos_area: std::cell::Cell<Rect>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self {
            account: None,
            incoming: None,
            rules: vec![],
            loading: false,
            error: None,
            updated_at: None,
            rule_sel: 0,
            repo_sel: 0,
            pane: Pane::Rules,
            sort: SortBy::Pulls,
            images: None,
            checks: BTreeMap::new(),
            copied: None,
            details_pending: 0,
            details_region: None,
            details_error: None,
            focus: None,
            expanded: false,
            filter: tui_input::Input::default(),
            filter_pane: Pane::Rules,
            filtering: false,
            sort_reversed: false,
            rules_area: Default::default(),
            repos_area: Default::default(),
        }
    }
}

/// A refresh keeps the image details of repositories whose pull count did not change, so it
/// reads again only what changed instead of every repository.
fn carry_over_details(previous: Option<&Observed>, next: &mut Observed) {
    let Some(previous) = previous.filter(|p| p.identity.account == next.identity.account) else {
        return;
    };
    let known: HashMap<&str, (u64, RepoDetails)> = previous
        .repositories
        .iter()
        .filter_map(|r| Some((r.name.as_str(), (r.pull_count_30d, r.details?))))
        .collect();
    for r in &mut next.repositories {
        if let Some((pulls, d)) = known.get(r.name.as_str()) {
            if *pulls == r.pull_count_30d && r.details.is_none() {
                r.details = Some(*d);
            }
        }
    }
}

impl Dashboard {
    /// Keeps a validation result unless a later one is already known (an older answer
    /// arriving late must not replace what apply or diagnose just found).
    pub fn checked(&mut self, key: RuleKey, check: RuleCheck, by: CheckedBy, at: DateTime<Utc>) {
        if self.checks.get(&key).is_some_and(|c| c.at > at) {
            return;
        }
        self.checks.insert(key, Checked { check, by, at });
    }

    pub fn selected(&self) -> Option<&(String, CacheRule)> {
        self.rules.get(self.rule_sel)
    }

    pub fn selected_key(&self) -> Option<RuleKey> {
        self.selected()
            .map(|(region, rule)| (region.clone(), rule.prefix.clone()))
    }

    /// The account as shown: the last whole read, or until there is one, the parts so far.
    pub fn shown(&self) -> Option<&AccountRead> {
        self.account
            .as_ref()
            .or_else(|| self.incoming.as_ref().map(|i| &i.read))
    }

    fn observed_of_selected(&self) -> Option<&Observed> {
        let (region, _) = self.selected()?;
        self.shown()?.observed(region)
    }

    /// A part of the read in progress arrived; before the first whole read it is shown
    /// (the rules as soon as they are in, keeping the selection).
    pub fn part(&mut self, streamed: Streamed) {
        let rules_arrived = matches!(streamed.part, Part::Rules(_));
        self.incoming
            .get_or_insert_with(Default::default)
            .add(streamed);
        if rules_arrived && self.account.is_none() {
            let was = self.focus.clone().or_else(|| self.selected_key());
            self.rules = self.shown().map(AccountRead::rules).unwrap_or_default();
            if let Some(i) = was.and_then(|key| {
                self.rules
                    .iter()
                    .position(|(region, r)| *region == key.0 && r.prefix == key.1)
            }) {
                self.rule_sel = i;
            }
        }
    }

    fn filter_of(&self, pane: Pane) -> Option<String> {
        let f = self.filter.value().trim().to_lowercase();
        (self.filter_pane == pane && !f.is_empty()).then_some(f)
    }

    /// The rules the filter lets through (all without one), as indices into `rules`.
    pub fn visible_rules(&self) -> Vec<usize> {
        let f = self.filter_of(Pane::Rules);
        (0..self.rules.len())
            .filter(|i| {
                let (region, r) = &self.rules[*i];
                f.as_ref().is_none_or(|f| {
                    [
                        r.prefix.as_str(),
                        region,
                        &r.upstream_registry,
                        &r.upstream_url,
                    ]
                    .iter()
                    .any(|t| t.to_lowercase().contains(f.as_str()))
                })
            })
            .collect()
    }

    /// The pane under the pointer becomes the focused one (the wheel scrolls what is under it).
    pub fn point_at(&mut self, x: u16, y: u16) -> Option<Pane> {
        let at = ratatui::layout::Position::new(x, y);
        let pane = if self.rules_area.get().contains(at) {
            Pane::Rules
        } else if self.repos_area.get().contains(at) && self.rule_repos().next().is_some() {
            Pane::Repos
        } else {
            return None;
        };
        self.pane = pane;
        Some(pane)
    }

    /// A click focuses the pane under it and selects the row under it (when the whole list
    /// is on screen, so the row's place is known).
    pub fn click(&mut self, x: u16, y: u16) -> Option<Effect> {
        let pane = self.point_at(x, y)?;
        let area = match pane {
            Pane::Rules => self.rules_area.get(),
            Pane::Repos => self.repos_area.get(),
        };
        // Below the border and the header row.
        let row = y.checked_sub(area.y + 2)? as usize;
        let rows = area.height.saturating_sub(3) as usize;
        match pane {
            Pane::Rules => {
                let visible = self.visible_rules();
                let i = *visible.get(row).filter(|_| visible.len() <= rows)?;
                if i != self.rule_sel {
                    self.rule_sel = i;
                    self.repo_sel = 0;
                    self.images = None;
                    return self.load_details(false);
                }
            }
            Pane::Repos => {
                let n = self.visible_repos().len();
                if row < n && n <= rows {
                    self.repo_sel = row;
                }
            }
        }
        None
    }

    /// A typed filter: the selection moves to the first row it lets through.
    pub fn filter_changed(&mut self) -> Option<Effect> {
        match self.filter_pane {
            Pane::Repos => self.repo_sel = 0,
            Pane::Rules => {
                let visible = self.visible_rules();
                if !visible.contains(&self.rule_sel) {
                    if let Some(first) = visible.first() {
                        self.rule_sel = *first;
                        self.repo_sel = 0;
                        self.images = None;
                        return self.load_details(false);
                    }
                }
            }
        }
        None
    }

    /// The selected rule's repositories, in listing order (counts and sums need no sort).
    fn rule_repos(&self) -> impl Iterator<Item = &RepositoryInfo> {
        let o = self.observed_of_selected();
        let prefix = self.selected().map(|(_, r)| r.prefix.as_str());
        o.into_iter()
            .flat_map(|o| o.repositories.iter())
            .filter(move |r| Some(r.rule_prefix.as_str()) == prefix)
    }

    /// The selected rule's repositories, sorted as chosen.
    pub fn visible_repos(&self) -> Vec<&RepositoryInfo> {
        let f = self.filter_of(Pane::Repos);
        let mut repos: Vec<&RepositoryInfo> = self
            .rule_repos()
            .filter(|r| {
                f.as_ref()
                    .is_none_or(|f| r.name.to_lowercase().contains(f.as_str()))
            })
            .collect();
        match self.sort {
            SortBy::Name => repos.sort_by(|a, b| a.name.cmp(&b.name)),
            SortBy::Pulls => repos.sort_by(|a, b| {
                b.pull_count_30d
                    .cmp(&a.pull_count_30d)
                    .then(a.name.cmp(&b.name))
            }),
            // Rows whose details have not arrived yet sort last.
            SortBy::LastPull => repos.sort_by(|a, b| {
                b.last_pulled_at()
                    .cmp(&a.last_pulled_at())
                    .then(a.name.cmp(&b.name))
            }),
            SortBy::Size => repos.sort_by(|a, b| {
                b.size_bytes()
                    .cmp(&a.size_bytes())
                    .then(a.name.cmp(&b.name))
            }),
        }
        if self.sort_reversed {
            repos.reverse();
        }
        repos
    }

    /// Pulls per day of every repository under the selected rule.
    pub fn rule_pulls_by_day(&self) -> Vec<u64> {
        let mut days = vec![0u64; crate::core::model::PULL_DAYS];
        for r in self.rule_repos() {
            for (d, n) in days.iter_mut().zip(&r.pulls_by_day) {
                *d += n;
            }
        }
        days
    }

    /// Repositories of the selected rule's region without image details: the selected rule's
    /// rows from the selection on first (what is on screen), then the rest of the region.
    fn details_wanted(&self) -> Option<(String, Vec<String>)> {
        let (region, _) = self.selected()?;
        let o = self.account.as_ref()?.observed(region)?;
        let shown = self.visible_repos();
        let from = self
            .repo_sel
            .saturating_sub(shown.len().min(50) / 2)
            .min(shown.len());
        let mut out: Vec<String> = shown[from..]
            .iter()
            .chain(&shown[..from])
            .filter(|r| r.details.is_none())
            .map(|r| r.name.clone())
            .collect();
        let first: HashSet<String> = out.iter().cloned().collect();
        out.extend(
            o.repositories
                .iter()
                .filter(|r| r.details.is_none() && !first.contains(&r.name))
                .map(|r| r.name.clone()),
        );
        (!out.is_empty()).then(|| (region.clone(), out))
    }

    /// Starts reading the selected region's missing image details, unless that read runs.
    fn load_details(&mut self, force: bool) -> Option<Effect> {
        let (region, names) = self.details_wanted()?;
        if !force && self.details_region.as_deref() == Some(region.as_str()) {
            return None;
        }
        self.details_pending = names.len();
        self.details_error = None;
        self.details_region = Some(region.clone());
        Some(Effect::LoadDetails { region, names })
    }

    /// A read of the account arrived: keep the selection (or focus the rule just set up),
    /// check the rules and stream the image details of the selected region.
    pub fn loaded(&mut self, mut read: AccountRead, now: DateTime<Utc>) -> Vec<Effect> {
        let was = self.focus.take().or_else(|| self.selected_key());
        let mut incoming = self.incoming.take();
        for r in &mut read.regions {
            if let Ok(o) = r.observed.as_mut() {
                // A streamed read's rows came as parts.
                if let Some(rows) = incoming.as_mut().and_then(|i| i.take_rows(&o.region)) {
                    if o.repositories.is_empty() {
                        o.repositories = rows;
                    }
                }
                // By name, so each batch of image details finds its rows without an index.
                o.repositories.sort_by(|a, b| a.name.cmp(&b.name));
                let previous = self.account.as_ref().and_then(|a| a.observed(&o.region));
                carry_over_details(previous, o);
            }
        }
        self.rules = read.rules();
        self.account = Some(read);
        self.loading = false;
        self.error = None;
        self.updated_at = Some(now);
        if let Some(key) = was {
            if let Some(i) = self
                .rules
                .iter()
                .position(|(region, r)| *region == key.0 && r.prefix == key.1)
            {
                self.rule_sel = i;
            }
        }
        self.rule_sel = self.rule_sel.min(self.rules.len().saturating_sub(1));
        self.repo_sel = self
            .repo_sel
            .min(self.rule_repos().count().saturating_sub(1));
        let ecr: Vec<RuleKey> = self
            .rules
            .iter()
            .filter(|(_, r)| r.upstream_registry == "ecr")
            .map(|(region, r)| (region.clone(), r.prefix.clone()))
            .collect();
        let mut fx = vec![];
        if !ecr.is_empty() {
            fx.push(Effect::Validate(ecr));
        }
        self.details_region = None;
        fx.extend(self.load_details(true));
        fx
    }

    pub fn details(&mut self, region: &str, batch: Vec<(String, RepoDetails)>) {
        let n = batch.len();
        let Some(o) = self
            .account
            .as_mut()
            .and_then(|a| a.regions.iter_mut().find(|r| r.region == region))
            .and_then(|r| r.observed.as_mut().ok())
        else {
            return;
        };
        // Sorted by name when the read arrived.
        for (name, d) in batch {
            if let Ok(i) = o
                .repositories
                .binary_search_by(|r| r.name.as_str().cmp(name.as_str()))
            {
                o.repositories[i].details = Some(d);
            }
        }
        self.details_pending = self.details_pending.saturating_sub(n);
    }

    pub fn details_failed(&mut self, why: String) {
        self.details_pending = 0;
        self.details_error = Some(why);
    }

    pub fn images(&mut self, region: &str, repo: &str, result: Result<Vec<ImageInfo>, String>) {
        if let Some(p) = self.images.as_mut() {
            if p.region == region && p.repo == repo {
                p.images = Some(result);
            }
        }
    }

    /// Time passed: a refresh when one is due.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Option<Effect> {
        let due = self
            .updated_at
            .is_some_and(|t| (now - t).num_seconds() >= REFRESH_SECS);
        if due {
            self.refresh()
        } else {
            None
        }
    }

    /// Starts a read unless one runs.
    pub fn refresh(&mut self) -> Option<Effect> {
        if self.loading {
            return None;
        }
        self.loading = true;
        Some(Effect::LoadDashboard)
    }

    pub fn on_cmd(&mut self, cmd: Cmd) -> Out {
        let repos = self.visible_repos().len();
        let step = |sel: &mut usize, n: usize, by: isize| {
            *sel = (*sel as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize
        };
        match cmd {
            Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom => {
                let by = match cmd {
                    Cmd::Up => -1,
                    Cmd::Down => 1,
                    Cmd::PageUp => -20,
                    Cmd::Top => isize::MIN / 2,
                    Cmd::Bottom => isize::MAX / 2,
                    _ => 20,
                };
                match self.pane {
                    Pane::Rules => {
                        let before = self.rule_sel;
                        // Moves among the rows the filter shows.
                        let visible = self.visible_rules();
                        let mut at = visible
                            .iter()
                            .position(|i| *i == self.rule_sel)
                            .unwrap_or(0);
                        step(&mut at, visible.len(), by);
                        if let Some(i) = visible.get(at) {
                            self.rule_sel = *i;
                        }
                        if before != self.rule_sel {
                            self.repo_sel = 0;
                            self.images = None;
                            // Another region's rule: read that region's image details.
                            if let Some(e) = self.load_details(false) {
                                return Out::effect(e);
                            }
                        }
                    }
                    Pane::Repos => step(&mut self.repo_sel, repos, by),
                }
            }
            Cmd::SwitchPane => {
                self.pane = if self.pane == Pane::Rules && repos > 0 {
                    Pane::Repos
                } else {
                    Pane::Rules
                }
            }
            Cmd::Sort => self.sort = self.sort.next(),
            Cmd::SortReverse => self.sort_reversed = !self.sort_reversed,
            Cmd::Filter => {
                self.filter_pane = self.pane;
                self.filtering = true;
            }
            Cmd::Refresh => {
                if let Some(e) = self.refresh() {
                    return Out::effect(e);
                }
            }
            Cmd::Select => {
                if self.pane == Pane::Rules && repos > 0 {
                    self.pane = Pane::Repos;
                    return Out::none();
                }
                let region = self.selected().map(|(r, _)| r.clone());
                let repo = self
                    .visible_repos()
                    .get(self.repo_sel)
                    .map(|r| r.name.clone());
                if let (Some(region), Some(repo)) = (region, repo) {
                    self.images = Some(ImagesPane {
                        region: region.clone(),
                        repo: repo.clone(),
                        images: None,
                    });
                    return Out::effect(Effect::LoadImages { region, repo });
                }
            }
            Cmd::RuleDetails if self.selected().is_some() => self.expanded = !self.expanded,
            Cmd::Quit => {
                if self.expanded {
                    self.expanded = false;
                } else if self.images.is_some() {
                    self.images = None;
                } else {
                    return Out::effect(Effect::Quit);
                }
            }
            _ => {}
        }
        Out::none()
    }

    pub fn enabled(&self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Teardown | Cmd::Diagnose | Cmd::Verify | Cmd::RuleDetails | Cmd::Copy => {
                self.selected().is_some()
            }
            Cmd::Select | Cmd::SwitchPane | Cmd::Sort | Cmd::SortReverse => {
                self.rule_repos().next().is_some()
            }
            Cmd::Refresh => !self.loading,
            _ => true,
        }
    }
}

pub fn relative(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// A text sparkline `width` characters wide: the days summed into equal buckets, scaled to
/// the busiest bucket.
pub fn trend(days: &[u64], width: usize) -> String {
    if days.is_empty() || width == 0 {
        return String::new();
    }
    let per = days.len().div_ceil(width);
    let buckets: Vec<u64> = days.chunks(per).map(|c| c.iter().sum()).collect();
    let max = buckets.iter().copied().max().unwrap_or(0);
    let levels = [
        " ",
        NINE_LEVELS.one_eighth,
        NINE_LEVELS.one_quarter,
        NINE_LEVELS.three_eighths,
        NINE_LEVELS.half,
        NINE_LEVELS.five_eighths,
        NINE_LEVELS.three_quarters,
        NINE_LEVELS.seven_eighths,
        NINE_LEVELS.full,
    ];
    buckets
        .iter()
        .map(|b| {
            if max == 0 {
                " "
            } else if *b == 0 {
                levels[0]
            } else {
                // Any pull shows at least the lowest bar.
                levels[(1 + (b * 7) / max) as usize]
            }
        })
        .collect()
}

fn check_cell(rule: &CacheRule, check: Option<&RuleCheck>) -> (&'static str, &'static str) {
    // The refresh checks ECR upstreams only; apply and diagnose check any rule.
    if rule.upstream_registry != "ecr" && check.is_none() {
        return ("-", "not checked (not ECR)");
    }
    match check {
        None => ("…", "checking"),
        Some(RuleCheck::Valid) => ("✓", "valid"),
        Some(RuleCheck::Invalid(_)) => ("✗", "invalid"),
        Some(RuleCheck::Unknown(_)) => ("?", "unknown"),
    }
}

fn owner(m: &ManagedBy) -> String {
    match m {
        ManagedBy::EchoOnboard => "echo-onboard (API calls)".into(),
        ManagedBy::CloudFormation(stack) => format!("CloudFormation stack {stack}"),
        ManagedBy::Stack(stack) => format!("stack {stack}, not echo-onboard"),
        ManagedBy::Iac(tool) => format!("{tool} (handed over)"),
        ManagedBy::Other => "someone else (not this tool)".into(),
    }
}

pub fn render(d: &Dashboard, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    // A failed read is said whole under the status line (a network error names its fix).
    let error = d.error.as_ref().map(|e| {
        Paragraph::new(Line::styled(format!("✗ {e}"), theme.removed())).wrap(Wrap { trim: false })
    });
    let error_h = error.as_ref().map_or(0, |p| {
        (p.line_count(area.width) as u16).min(area.height / 3)
    });
    let [status, error_area, top, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(error_h),
        // Room for the selected rule's details whole, even at 24 rows.
        Constraint::Length(((area.height - 1 - error_h) * 45 / 100).clamp(13, 16)),
        Constraint::Min(5),
    ]));
    render_status(d, now, theme, frame, status);
    if let Some(p) = error {
        frame.render_widget(p, error_area);
    }
    let account = d
        .shown()
        .filter(|_| d.account.is_some() || !d.rules.is_empty());
    let Some(account) = account else {
        frame.render_widget(
            Paragraph::new("Reading the account's rules and repositories in every region…")
                .style(theme.warn())
                .block(Block::default().borders(Borders::ALL)),
            top,
        );
        return;
    };
    if d.rules.is_empty() {
        let regions = account.regions.len();
        let lines = vec![
            Line::styled(
                format!(
                    "No pull-through cache rules in account {} in any of its {regions} region(s).",
                    account.account().unwrap_or("?")
                ),
                theme.warn(),
            ),
            Line::raw(""),
            Line::raw("Press n to set up Echo's rule (the wizard plans first; nothing changes until you apply),"),
            Line::raw("or u to add a rule for another registry (Docker Hub, Quay, GitHub, …)."),
        ];
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Nothing set up yet "),
            ),
            top,
        );
        return;
    }
    if d.expanded {
        let [_, rest] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(5),
        ]));
        render_rule_detail(d, now, theme, frame, rest);
        return;
    }
    let split = if area.width >= 110 { 50 } else { 40 };
    let [rules_area, detail_area] = top.layout(&Layout::horizontal([
        Constraint::Percentage(split),
        Constraint::Percentage(100 - split),
    ]));
    d.rules_area.set(rules_area);
    render_rules(d, theme, frame, rules_area);
    render_rule_detail(d, now, theme, frame, detail_area);
    let (list_area, images_area) = if d.images.is_some() {
        let [l, r] = bottom.layout(&Layout::horizontal([
            Constraint::Percentage(55),
            Constraint::Percentage(45),
        ]));
        (l, Some(r))
    } else {
        (bottom, None)
    };
    d.repos_area.set(list_area);
    render_repos(d, now, theme, frame, list_area);
    if let (Some(area), Some(p)) = (images_area, &d.images) {
        render_images(p, now, theme, frame, area);
    }
}

fn render_status(d: &Dashboard, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    if d.filtering {
        let what = match d.filter_pane {
            Pane::Rules => "rules",
            Pane::Repos => "repositories",
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("/ filter {what}: "), theme.key()),
                Span::raw(d.filter.value().to_string()),
                Span::styled("▏", theme.key()),
                Span::styled("  enter keeps it · esc clears it", theme.muted()),
            ])),
            area,
        );
        return;
    }
    let mut s = vec![Span::raw(match d.updated_at {
        Some(t) => format!("updated {}", relative(now, t)),
        None => "not loaded yet".into(),
    })];
    match (&d.incoming, d.loading) {
        (Some(i), _) => {
            let (listed, counted) = i.progress();
            s.push(Span::styled(
                format!("  loading {counted}/{listed} repositories counted…"),
                theme.warn(),
            ));
        }
        (None, true) => s.push(Span::styled("  refreshing…", theme.warn())),
        _ => {}
    }
    if let Some(c) = &d.copied {
        s.push(Span::styled(format!("  ✓ copied the {c}"), theme.ok()));
    }
    if d.details_pending > 0 {
        s.push(Span::styled(
            format!("  images: {} to read", d.details_pending),
            theme.muted(),
        ));
    }
    if let Some(e) = &d.details_error {
        s.push(Span::styled(format!("  ✗ images: {e}"), theme.removed()));
    }
    s.push(Span::styled(
        format!("  sort: {}", d.sort.label()),
        theme.muted(),
    ));
    if let Some(a) = &d.account {
        let bad = a.unreadable();
        if let Some((region, why)) = bad.first() {
            let text = fitting(
                area.width
                    .saturating_sub(Line::from(s.clone()).width() as u16),
                vec![
                    format!(
                        "  ✗ {} region(s) unreadable: {region}: {}",
                        bad.len(),
                        said(why)
                    ),
                    format!("  ✗ {} region(s) unreadable: {region}", bad.len()),
                    format!("  ✗ {} unreadable", bad.len()),
                ],
            );
            s.push(Span::styled(text, theme.removed()));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(s)), area);
}

/// The focused pane's title starts with a marker; a filter on a pane is shown in its title.
fn pane_title(d: &Dashboard, pane: Pane, text: String) -> String {
    let marker = if d.pane == pane { "▸" } else { " " };
    match d.filter_of(pane) {
        Some(f) => format!("{marker}{text}· /{f} "),
        None => format!("{marker}{text}"),
    }
}

fn render_rules(d: &Dashboard, theme: Theme, frame: &mut Frame, area: Rect) {
    let wide = area.width >= 56;
    let visible = d.visible_rules();
    let mut header = vec!["", "PREFIX", "REGION"];
    if wide {
        header.extend(["UPSTREAM", "MADE BY"]);
    }
    // Each row's texts first, so the columns can share the width by what they hold.
    let texts: Vec<Vec<String>> = visible
        .iter()
        .map(|i| &d.rules[*i])
        .map(|(region, r)| {
            let (icon, _) = check_cell(
                r,
                d.checks
                    .get(&(region.clone(), r.prefix.clone()))
                    .map(|c| &c.check),
            );
            let mut cells = vec![icon.to_string(), r.prefix.clone(), region.clone()];
            if wide {
                // Where it pulls from: the column takes the room the others leave, cut with "…".
                cells.push(format!("{} {}", r.upstream_registry, r.upstream_url));
                cells.push(match &r.managed_by {
                    // The stack's name is in the detail pane.
                    ManagedBy::CloudFormation(_) => "a stack".to_string(),
                    ManagedBy::Stack(stack) => format!("stack {stack}"),
                    other => other.label(),
                });
            }
            cells
        })
        .collect();
    let natural: Vec<usize> = (0..header.len())
        .map(|c| {
            texts
                .iter()
                .map(|row| row[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = fit_columns(area.width.saturating_sub(2), &natural, 4);
    let rows: Vec<Row> = texts
        .into_iter()
        .map(|row| {
            Row::new(
                row.iter()
                    .zip(&widths)
                    .map(|(t, w)| Cell::from(ellipsize(t, *w)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let widths: Vec<Constraint> = widths.into_iter().map(Constraint::Length).collect();
    let regions = d.shown().map_or(0, |a| a.regions.len());
    let highlight = if d.pane == Pane::Rules {
        theme.selected()
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.muted()))
        .row_highlight_style(highlight)
        .block(Block::default().borders(Borders::ALL).title(pane_title(
            d,
            Pane::Rules,
            if visible.len() == d.rules.len() {
                format!(" Rules: {} in {regions} region(s) ", d.rules.len())
            } else {
                format!(" Rules: {} of {} ", visible.len(), d.rules.len())
            },
        )));
    let at = visible.iter().position(|i| *i == d.rule_sel);
    let mut state = TableState::new().with_selected(at);
    frame.render_stateful_widget(table, area, &mut state);
    list_scrollbar(frame, area, visible.len(), at.unwrap_or(0), 1);
}

fn render_rule_detail(
    d: &Dashboard,
    now: DateTime<Utc>,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let Some((region, rule)) = d.selected() else {
        return;
    };
    let chart_rows = match area.height {
        30.. => 10,
        15.. => 4,
        _ => 3,
    };
    let [text_area, chart_area] = area.layout(&Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(chart_rows),
    ]));
    let checked = d.checks.get(&(region.clone(), rule.prefix.clone()));
    let check = checked.map(|c| &c.check);
    let (icon, word) = check_cell(rule, check);
    // "valid (checked by apply 2m ago)": whose answer it is, and how fresh. The refresh's own
    // answer is as old as the status line's "updated …".
    let word = match checked {
        Some(c) if c.by != CheckedBy::Refresh => {
            format!(
                "{word} (checked by {} {})",
                c.by.word(),
                relative(now, c.at)
            )
        }
        _ => word.to_string(),
    };
    let label = |k: &str| Span::styled(format!("{k} "), theme.muted());
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{icon} {word}"),
            match check {
                Some(RuleCheck::Valid) => theme.ok(),
                Some(RuleCheck::Invalid(_)) => theme.removed(),
                _ => theme.warn(),
            },
        ),
        Span::styled(" · made by ", theme.muted()),
        Span::raw(owner(&rule.managed_by)),
    ])];
    if let Some(RuleCheck::Invalid(why) | RuleCheck::Unknown(why)) = check {
        lines.push(Line::styled(why.clone(), theme.removed()));
    }
    lines.push(Line::from(vec![
        label("upstream"),
        Span::raw(format!(
            "{} ({}, upstream prefix {})",
            rule.upstream_url, rule.upstream_registry, rule.upstream_prefix
        )),
    ]));
    lines.push(Line::from(vec![
        label("role"),
        Span::raw(rule.role_arn.clone().unwrap_or_else(|| "-".into())),
    ]));
    if let Some(c) = &rule.credential_arn {
        lines.push(Line::from(vec![label("secret"), Span::raw(c.clone())]));
    }
    lines.push(Line::from(vec![
        label("created"),
        Span::raw(rule.created_at.map_or("-".into(), |t| {
            format!("{} ({})", t.format("%Y-%m-%d %H:%M UTC"), relative(now, t))
        })),
    ]));
    if let Some(o) = d.observed_of_selected().filter(|o| o.cache.read()) {
        lines.push(Line::from(vec![
            label("template"),
            Span::raw(o.cache.template(&rule.prefix).map_or_else(
                || "none (ECR defaults: mutable tags, AES256)".to_string(),
                |t| t.summary(),
            )),
        ]));
        lines.push(Line::from(vec![
            label("scanning"),
            Span::raw(scanning_words(o.cache.scanning_of(&rule.prefix))),
        ]));
    }
    let title = format!(" {}/ in {region} ", rule.prefix);
    crate::tui::widgets::scrolled(frame, text_area, &title, lines, 0, &std::cell::Cell::new(0));
    let days = d.rule_pulls_by_day();
    let total: u64 = days.iter().sum();
    let peak = days.iter().copied().max().unwrap_or(0);
    let title = fitting(
        chart_area.width.saturating_sub(2),
        vec![
            format!(" Pulls, last 30 days: {total} (busiest day {peak}) "),
            format!(" 30 days: {total} pulls "),
            format!(" {total} "),
        ],
    );
    // Each day as wide as the pane allows, so the 30 days span the chart.
    let per_day = (chart_area.width.saturating_sub(2) as usize / days.len().max(1)).max(1);
    let bars: Vec<u64> = days
        .iter()
        .flat_map(|d| std::iter::repeat_n(*d, per_day))
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(&bars)
            .style(theme.ok())
            .block(Block::default().borders(Borders::ALL).title(title)),
        chart_area,
    );
}

fn render_repos(d: &Dashboard, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    let repos = d.visible_repos();
    let prefix = d
        .selected()
        .map(|(_, r)| r.prefix.clone())
        .unwrap_or_default();
    let block = Block::default().borders(Borders::ALL).title(pane_title(
        d,
        Pane::Repos,
        format!(" Cached under {prefix}/ ({}) ", repos.len()),
    ));
    if repos.is_empty() {
        let lines = vec![
            Line::raw(format!(
                "Nothing cached under {prefix}/ yet: the first `docker pull <registry>/{prefix}/<image>` creates the repository."
            )),
            Line::styled("Press v to pull a test image through the rule now.", theme.muted()),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
        return;
    }
    let wide = area.width >= 70;
    let trend_width = 15;
    // The name column gets what the fixed columns leave; a longer name ends in "…".
    let fixed: u16 = if wide {
        6 + 15 + 10 + 10 + 6 + 5
    } else {
        6 + 15 + 10 + 3
    };
    let name_width = area.width.saturating_sub(2 + fixed).max(8);
    // Only the rows on screen are built (50,000 rows a frame would cost seconds and
    // hundreds of megabytes): the window that shows the selection, as the table would place it.
    let height = (area.height as usize).saturating_sub(3).max(1);
    let offset = d.repo_sel.saturating_sub(height - 1).min(repos.len());
    let rows: Vec<Row> = repos[offset..repos.len().min(offset + height)]
        .iter()
        .map(|r| {
            let mut cells = vec![
                Cell::from(ellipsize(&r.name, name_width)),
                Cell::from(Line::from(r.pull_count_30d.to_string()).right_aligned()),
                Cell::from(Span::styled(
                    trend(&r.pulls_by_day, trend_width),
                    theme.ok(),
                )),
                // "…" until the background read of its images reaches this row.
                Cell::from(match &r.details {
                    None => "…".into(),
                    Some(d) => d
                        .last_pulled_at
                        .map(|t| relative(now, t))
                        .unwrap_or_else(|| "never".into()),
                }),
            ];
            if wide {
                cells.push(Cell::from(
                    Line::from(r.size_bytes().map_or("…".into(), human_bytes)).right_aligned(),
                ));
                // Archived images (ECR's archive storage class) counted apart: "2+1a".
                cells.push(Cell::from(
                    Line::from(match r.details {
                        None => "…".into(),
                        Some(d) if d.archived_count > 0 => {
                            format!("{}+{}a", d.image_count, d.archived_count)
                        }
                        Some(d) => d.image_count.to_string(),
                    })
                    .right_aligned(),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(trend_width as u16),
        Constraint::Length(10),
    ];
    let mut header: Vec<String> = ["REPOSITORY", " PULLS", "LAST 30 DAYS", "LAST PULL"]
        .map(String::from)
        .to_vec();
    if wide {
        widths.extend([Constraint::Length(10), Constraint::Length(6)]);
        header.extend(["      SIZE".to_string(), "IMAGES".to_string()]);
    }
    // The sorted column carries the order: ▼ as the sort says (descending but for names).
    let arrow = if (d.sort == SortBy::Name) != d.sort_reversed {
        "▲"
    } else {
        "▼"
    };
    let column = match d.sort {
        SortBy::Name => Some(0),
        SortBy::Pulls => Some(1),
        SortBy::LastPull => Some(3),
        SortBy::Size => wide.then_some(4),
    };
    if let Some(h) = column.and_then(|c| header.get_mut(c)) {
        // Right-aligned headers (padded in front) stay right-aligned, within their width.
        let marked = format!("{arrow}{}", h.trim());
        *h = if h.starts_with(' ') {
            format!("{marked:>width$}", width = h.chars().count())
        } else {
            marked
        };
    }
    let highlight = if d.pane == Pane::Repos {
        theme.selected()
    } else {
        Style::default()
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.muted()))
        .row_highlight_style(highlight)
        .block(block);
    let mut state = TableState::new().with_selected(Some(d.repo_sel - offset));
    frame.render_stateful_widget(table, area, &mut state);
    list_scrollbar(frame, area, repos.len(), d.repo_sel, 1);
}

fn render_images(p: &ImagesPane, now: DateTime<Utc>, theme: Theme, frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = match &p.images {
        None => vec![Line::styled("loading images…", theme.warn())],
        Some(Err(e)) => vec![Line::styled(format!("✗ {e}"), theme.removed())],
        Some(Ok(imgs)) if imgs.is_empty() => vec![Line::raw("no images")],
        Some(Ok(imgs)) => imgs
            .iter()
            .map(|i| {
                Line::raw(format!(
                    "{:<14} {:>9}  pulled {}",
                    i.tags
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "<untagged>".into()),
                    human_bytes(i.size_bytes),
                    i.last_pulled_at
                        .map(|t| relative(now, t))
                        .unwrap_or_else(|| "never".into())
                ))
            })
            .collect(),
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} (esc closes) ", p.repo)),
        ),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_scales_to_the_busiest_bucket() {
        let mut days = vec![0u64; 30];
        days[29] = 10;
        days[0] = 1;
        let t = trend(&days, 15);
        assert_eq!(t.chars().count(), 15);
        assert!(t.ends_with('█'), "{t:?}");
        assert!(t.starts_with('▁'), "a single pull still shows: {t:?}");
        assert_eq!(trend(&[0; 30], 15).trim(), "");
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now - chrono::Duration::seconds(5)), "5s ago");
        assert_eq!(relative(now, now - chrono::Duration::minutes(3)), "3m ago");
        assert_eq!(relative(now, now - chrono::Duration::hours(5)), "5h ago");
        assert_eq!(relative(now, now - chrono::Duration::days(2)), "2d ago");
    }
}
