//! The pods pane: the pods of the run's namespaces as `kubectl get pods` lists them, the ones the
//! current step acts on first, with sorting, a filter, grouping by owner and a pod's detail.
//!
//! State and keys live in [`PodsPane`]; [`PodsPane::render`] draws it and changes nothing but the
//! caches of what it draws. Rows are kept by namespace and name; the order in which they are shown
//! is computed again only when it may have changed (a pod added or removed, a change to what it is
//! sorted, filtered or grouped by, the sort, the filter, the focus), at most once a frame, never on
//! frames where nothing changed. Only the rows on screen are formatted.

use std::cell::{Cell, Ref, RefCell};
use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use crate::live::pods::{
    Focus, Health, PodDetail, PodRow, PodsUpdate, ROLLOUT_HASH_LABEL, RolloutRoles,
};
use crate::ui::theme::Theme;

/// A pod's key: namespace, name.
pub type Key = (String, String);

/// What the rows are sorted by (`s` cycles, `S` reverses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Name,
    Status,
    Restarts,
    /// Youngest first.
    Age,
    Node,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Name => SortBy::Status,
            SortBy::Status => SortBy::Restarts,
            SortBy::Restarts => SortBy::Age,
            SortBy::Age => SortBy::Node,
            SortBy::Node => SortBy::Name,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Status => "status",
            SortBy::Restarts => "restarts",
            SortBy::Age => "age",
            SortBy::Node => "node",
        }
    }

    fn cmp(self, a: &PodRow, b: &PodRow) -> Ordering {
        let by = match self {
            SortBy::Name => Ordering::Equal,
            SortBy::Status => a.status.cmp(&b.status),
            SortBy::Restarts => a.restarts.cmp(&b.restarts),
            SortBy::Age => b.created.cmp(&a.created),
            SortBy::Node => a.node.cmp(&b.node),
        };
        by.then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.name.cmp(&b.name))
    }

    /// Whether `a` and `b` sort the same but for their names.
    fn same_key(self, a: &PodRow, b: &PodRow) -> bool {
        match self {
            SortBy::Name => true,
            SortBy::Status => a.status == b.status,
            SortBy::Restarts => a.restarts == b.restarts,
            SortBy::Age => a.created == b.created,
            SortBy::Node => a.node == b.node,
        }
    }
}

/// The watch as the title tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// No list yet, no error yet.
    Connecting,
    Connected,
    /// The watch failed `attempt` times in a row since it last listed; retried with back-off.
    Reconnecting {
        attempt: u32,
        error: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Group {
        label: String,
        ok: u32,
        total: u32,
        touched: bool,
    },
    Pod {
        key: Key,
        touched: bool,
    },
}

/// The rows in the order shown, and the widths of the variable columns.
#[derive(Default)]
struct View {
    entries: Vec<Entry>,
    pods: usize,
    name_w: usize,
    status_w: usize,
    /// NODE's width, at most [`NODE_MAX`] unless there is room to spare.
    node_w: usize,
    /// The longest node name.
    node_full: usize,
}

struct DetailView {
    key: Key,
    detail: Option<PodDetail>,
    scroll: usize,
}

/// The pods pane's state.
pub struct PodsPane {
    rows: HashMap<Key, PodRow>,
    /// The Argo Rollouts of the namespaces, by namespace and name: which version is which.
    rollouts: HashMap<Key, RolloutRoles>,
    focus: Vec<Focus>,
    sort: SortBy,
    reverse: bool,
    group: bool,
    filter: String,
    editing: bool,
    conn: Connection,
    view: RefCell<View>,
    stale: Cell<bool>,
    /// Index into the view's entries; follows `selected_key` when the order changes.
    selected: Cell<usize>,
    selected_key: RefCell<Option<Key>>,
    offset: Cell<usize>,
    /// Rows of the list on the last frame (for page keys).
    height: Cell<usize>,
    detail: Option<DetailView>,
    wants_detail: Option<Key>,
}

impl Default for PodsPane {
    fn default() -> Self {
        Self::new()
    }
}

fn key_of(r: &PodRow) -> Key {
    (r.namespace.clone(), r.name.clone())
}

/// ASCII-case-insensitive substring search; `needle` is lowercase.
fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a row's name, namespace, status, node or an image contains `q` (lowercase).
fn matches_filter(r: &PodRow, q: &str) -> bool {
    q.is_empty()
        || contains_ci(&r.name, q)
        || contains_ci(&r.namespace, q)
        || contains_ci(&r.status, q)
        || r.node.as_deref().is_some_and(|n| contains_ci(n, q))
        || r.images.iter().any(|i| contains_ci(i, q))
}

fn owner_label(r: &PodRow, role: Option<(u8, &str)>) -> String {
    match (&r.owner, role) {
        (Some(o), Some((_, role))) => {
            format!("{}/{} · {role}", o.kind.to_ascii_lowercase(), o.name)
        }
        (Some(o), None) => format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
        (None, _) => "(no owner)".into(),
    }
}

/// An age as `kubectl get` writes it (`HumanDuration`): 45s, 3m20s, 12m, 2h5m, 2d3h, 40d, 2y3d.
pub fn human_age(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let m = s / 60;
    let h = s / 3600;
    let d = h / 24;
    let y = d / 365;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        }
    } else if y < 2 {
        format!("{d}d")
    } else if y < 8 {
        match d % 365 {
            0 => format!("{y}y"),
            r => format!("{y}y{r}d"),
        }
    } else {
        format!("{y}y")
    }
}

/// `s` in exactly `w` columns: padded, or cut with `…`.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        let mut out = String::with_capacity(w);
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', w - n));
        out
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.push('…');
        out
    }
}

const MARK_W: usize = 2;
const GAP: usize = 2;
const READY_W: usize = 5;
const RESTARTS_W: usize = 8;
const AGE_W: usize = 6;
const IMAGE_MIN: usize = 12;
const NAME_MIN: usize = 16;
/// Narrowest NODE column worth showing (a longer node name is cut).
const NODE_MIN: usize = 8;
/// Longest STATUS and NODE columns.
const STATUS_MAX: usize = 24;
const NODE_MAX: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Ready,
    Status,
    Restarts,
    Age,
    Node,
    Image,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Ready => "READY",
            Col::Status => "STATUS",
            Col::Restarts => "RESTARTS",
            Col::Age => "AGE",
            Col::Node => "NODE",
            Col::Image => "IMAGE",
        }
    }
}

/// The columns that fit in `width` and their widths. NAME gets its room first (a pod is told
/// apart by the end of its name), only READY and STATUS before it when names are very long;
/// then the others in order while they fit, NODE cut rather than dropped; what is left widens
/// IMAGE, or NAME when IMAGE is not shown.
fn layout(width: usize, v: &View, indent: usize) -> (usize, Vec<(Col, usize)>) {
    let avail = width.saturating_sub(MARK_W);
    let name_want = (v.name_w + indent).max(4);
    let first = READY_W + GAP + v.status_w + GAP;
    let mut name_w = name_want
        .min(avail.saturating_sub(first).max(NAME_MIN))
        .min(avail);
    let all = [
        (Col::Ready, READY_W),
        (Col::Status, v.status_w),
        (Col::Restarts, RESTARTS_W),
        (Col::Age, AGE_W),
        (Col::Node, v.node_w),
        (Col::Image, IMAGE_MIN),
    ];
    let mut used = name_w;
    let mut cols: Vec<(Col, usize)> = Vec::new();
    for (c, w) in all {
        let room = avail.saturating_sub(used + GAP);
        if w <= room {
            cols.push((c, w));
            used += GAP + w;
        } else {
            if c == Col::Node && room >= NODE_MIN {
                cols.push((c, room));
                used += GAP + room;
            }
            break;
        }
    }
    let mut left = avail.saturating_sub(used);
    // Room to spare: first the rest of a long node name.
    if let Some((_, w)) = cols.iter_mut().find(|(c, _)| *c == Col::Node) {
        let more = v.node_full.saturating_sub(*w).min(left);
        *w += more;
        left -= more;
    }
    match cols.last_mut() {
        Some((Col::Image, w)) => *w += left,
        _ => name_w += left,
    }
    (name_w, cols)
}

impl PodsPane {
    pub fn new() -> PodsPane {
        PodsPane {
            rows: HashMap::new(),
            rollouts: HashMap::new(),
            focus: Vec::new(),
            sort: SortBy::Name,
            reverse: false,
            group: false,
            filter: String::new(),
            editing: false,
            conn: Connection::Connecting,
            view: RefCell::new(View::default()),
            stale: Cell::new(true),
            selected: Cell::new(0),
            selected_key: RefCell::new(None),
            offset: Cell::new(0),
            height: Cell::new(10),
            detail: None,
            wants_detail: None,
        }
    }

    /// Applies one update from the watch.
    pub fn apply(&mut self, u: PodsUpdate) {
        match u {
            PodsUpdate::Connected => self.conn = Connection::Connected,
            PodsUpdate::Disconnected { error } => {
                let attempt = match &self.conn {
                    Connection::Reconnecting { attempt, .. } => attempt + 1,
                    _ => 1,
                };
                self.conn = Connection::Reconnecting { attempt, error };
            }
            PodsUpdate::Relisted { rows } => {
                self.rows = rows.into_iter().map(|r| (key_of(&r), r)).collect();
                self.stale.set(true);
            }
            PodsUpdate::Upsert(row) => {
                let key = key_of(&row);
                let keeps_place = !self.stale.get()
                    && self
                        .rows
                        .get(&key)
                        .is_some_and(|old| self.keeps_place(old, &row));
                if !keeps_place {
                    self.stale.set(true);
                }
                self.rows.insert(key, row);
            }
            PodsUpdate::Deleted { namespace, name } => {
                if self.rows.remove(&(namespace, name)).is_some() {
                    self.stale.set(true);
                }
            }
            PodsUpdate::Rollout(roles) => {
                let key = (roles.namespace.clone(), roles.name.clone());
                if self.rollouts.get(&key) != Some(&roles) {
                    self.rollouts.insert(key, roles);
                    self.stale.set(true);
                }
            }
            PodsUpdate::RolloutDeleted { namespace, name } => {
                if self.rollouts.remove(&(namespace, name)).is_some() {
                    self.stale.set(true);
                }
            }
        }
    }

    /// A pod's role in its Argo Rollout (`canary`, `stable`, `preview`, `active`), and its
    /// place among them; `None` for a pod of no rollout, or of an old version.
    pub fn role(&self, r: &PodRow) -> Option<(u8, &'static str)> {
        let o = r.owner.as_ref().filter(|o| o.kind == "Rollout")?;
        let roles = self.rollouts.get(&(r.namespace.clone(), o.name.clone()))?;
        roles.role(r.labels.get(ROLLOUT_HASH_LABEL)?)
    }

    /// Whether replacing `old` by `new` leaves the order, the groups and the column widths as
    /// they are (most changes: a status or a restart count under the default sort).
    fn keeps_place(&self, old: &PodRow, new: &PodRow) -> bool {
        let v = self.view.borrow();
        self.sort.same_key(old, new)
            && self.touched(old) == self.touched(new)
            && self.passes(old) == self.passes(new)
            && (!self.group
                || (old.owner == new.owner
                    && old.health == new.health
                    && self.role(old) == self.role(new)))
            && new.status_text().chars().count() <= v.status_w
            && new.node.as_deref().map_or(0, |n| n.chars().count()) <= v.node_full
    }

    pub fn set_focus(&mut self, f: Vec<Focus>) {
        if self.focus != f {
            self.focus = f;
            self.stale.set(true);
        }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every pod known, in no order.
    pub fn rows(&self) -> impl Iterator<Item = &PodRow> {
        self.rows.values()
    }

    /// All pods known, in no order.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&PodRow> {
        self.rows.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn sort(&self) -> (SortBy, bool) {
        (self.sort, self.reverse)
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether keys go to the filter being typed.
    pub fn is_editing(&self) -> bool {
        self.editing
    }

    pub fn grouped(&self) -> bool {
        self.group
    }

    /// Whether a pod's detail is shown.
    pub fn detail_open(&self) -> bool {
        self.detail.is_some()
    }

    fn touched(&self, r: &PodRow) -> bool {
        self.focus.iter().any(|f| f.matches(r))
    }

    fn passes(&self, r: &PodRow) -> bool {
        matches_filter(r, &self.filter.to_lowercase())
    }

    /// The view, computed again first if it is stale.
    fn view(&self) -> Ref<'_, View> {
        if self.stale.get() {
            self.rebuild();
            self.stale.set(false);
        }
        self.view.borrow()
    }

    fn rebuild(&self) {
        let q = self.filter.to_lowercase();
        let mut shown: Vec<(bool, &PodRow)> = self
            .rows
            .values()
            .filter(|r| matches_filter(r, &q))
            .map(|r| (self.touched(r), r))
            .collect();
        let (sort, reverse, group) = (self.sort, self.reverse, self.group);
        shown.sort_by(|(ta, a), (tb, b)| {
            tb.cmp(ta)
                .then_with(|| {
                    if group {
                        // A rollout's new version first, then its stable one, then the rest.
                        let rank = |r: &PodRow| self.role(r).map_or(2, |(i, _)| i);
                        (&a.namespace, &a.owner, rank(a)).cmp(&(&b.namespace, &b.owner, rank(b)))
                    } else {
                        Ordering::Equal
                    }
                })
                .then_with(|| {
                    let o = sort.cmp(a, b);
                    if reverse { o.reverse() } else { o }
                })
        });
        let mut v = View {
            entries: Vec::with_capacity(shown.len() + 8),
            pods: shown.len(),
            name_w: 4,
            status_w: 6,
            node_w: 4,
            node_full: 4,
        };
        let mut i = 0;
        while i < shown.len() {
            let (touched, first) = shown[i];
            let mut end = i + 1;
            if group {
                while end < shown.len()
                    && shown[end].0 == touched
                    && shown[end].1.namespace == first.namespace
                    && shown[end].1.owner == first.owner
                    && self.role(shown[end].1) == self.role(first)
                {
                    end += 1;
                }
                let ok = shown[i..end]
                    .iter()
                    .filter(|(_, r)| r.health == Health::Ok)
                    .count() as u32;
                v.entries.push(Entry::Group {
                    label: owner_label(first, self.role(first)),
                    ok,
                    total: (end - i) as u32,
                    touched,
                });
            }
            for &(touched, r) in &shown[i..end] {
                v.name_w = v.name_w.max(r.name.chars().count());
                v.status_w = v.status_w.max(r.status_text().chars().count());
                v.node_w = v
                    .node_w
                    .max(r.node.as_deref().map_or(0, |n| n.chars().count()));
                v.entries.push(Entry::Pod {
                    key: key_of(r),
                    touched,
                });
            }
            i = end;
        }
        v.status_w = v.status_w.min(STATUS_MAX);
        v.node_full = v.node_w;
        v.node_w = v.node_w.min(NODE_MAX);
        // Keep the selected pod selected; if it went, keep the place.
        let want = self.selected_key.borrow().clone();
        let found = want.and_then(|k| {
            v.entries
                .iter()
                .position(|e| matches!(e, Entry::Pod { key, .. } if *key == k))
        });
        let idx = found.unwrap_or_else(|| self.selected.get());
        *self.view.borrow_mut() = v;
        self.select(idx, 1);
    }

    /// Selects the pod at or after `idx` (before it when `dir` < 0, or when there is none after).
    fn select(&self, idx: usize, dir: isize) {
        let v = self.view.borrow();
        let n = v.entries.len();
        if n == 0 {
            self.selected.set(0);
            return;
        }
        let idx = idx.min(n - 1);
        let is_pod = |i: usize| matches!(v.entries[i], Entry::Pod { .. });
        let forward = (idx..n).find(|&i| is_pod(i));
        let backward = (0..=idx).rev().find(|&i| is_pod(i));
        let pick = if dir < 0 {
            backward.or(forward)
        } else {
            forward.or(backward)
        };
        let pick = pick.unwrap_or(idx);
        self.selected.set(pick);
        if let Some(Entry::Pod { key, .. }) = v.entries.get(pick) {
            *self.selected_key.borrow_mut() = Some(key.clone());
        }
    }

    fn move_by(&self, delta: isize) {
        let _ = self.view();
        let cur = self.selected.get() as isize;
        let to = (cur + delta).max(0) as usize;
        self.select(to, delta);
    }

    /// The selected pod, if any.
    pub fn selected(&self) -> Option<&PodRow> {
        let v = self.view();
        match v.entries.get(self.selected.get()) {
            Some(Entry::Pod { key, .. }) => self.rows.get(key),
            _ => None,
        }
    }

    /// The pod whose detail was asked for (Enter), once: the app fetches it with
    /// [`crate::live::pods::describe`] and hands it to [`PodsPane::set_detail`].
    pub fn wants_detail(&mut self) -> Option<(String, String)> {
        self.wants_detail.take()
    }

    /// The detail of the pod shown in the detail view (ignored if that view has closed or shows
    /// another pod).
    pub fn set_detail(&mut self, d: PodDetail) {
        if let Some(dv) = &mut self.detail
            && dv.key.0 == d.row.namespace
            && dv.key.1 == d.row.name
        {
            dv.detail = Some(d);
        }
    }

    /// Handles a key; `false` if the pane has no use for it.
    pub fn on_key(&mut self, k: KeyEvent) -> bool {
        if k.kind == KeyEventKind::Release {
            return false;
        }
        if self.editing {
            return self.on_filter_key(k);
        }
        if k.modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        if let Some(dv) = &mut self.detail {
            let page = self.height.get().max(1);
            match k.code {
                KeyCode::Esc | KeyCode::Enter => self.detail = None,
                KeyCode::Down | KeyCode::Char('j') => dv.scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => dv.scroll = dv.scroll.saturating_sub(1),
                KeyCode::PageDown => dv.scroll += page,
                KeyCode::PageUp => dv.scroll = dv.scroll.saturating_sub(page),
                KeyCode::Home | KeyCode::Char('g') => dv.scroll = 0,
                KeyCode::End | KeyCode::Char('G') => dv.scroll = usize::MAX / 2,
                _ => return false,
            }
            return true;
        }
        let page = self.height.get().max(1) as isize;
        match k.code {
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Home | KeyCode::Char('g') => {
                let _ = self.view();
                self.select(0, 1);
            }
            KeyCode::End | KeyCode::Char('G') => {
                let _ = self.view();
                self.select(usize::MAX, -1);
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.stale.set(true);
            }
            KeyCode::Char('S') => {
                self.reverse = !self.reverse;
                self.stale.set(true);
            }
            KeyCode::Char('o') => {
                self.group = !self.group;
                self.stale.set(true);
            }
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.stale.set(true);
            }
            KeyCode::Enter => {
                let Some(r) = self.selected() else {
                    return false;
                };
                let key = key_of(r);
                self.wants_detail = Some(key.clone());
                self.detail = Some(DetailView {
                    key,
                    detail: None,
                    scroll: 0,
                });
            }
            _ => return false,
        }
        true
    }

    fn on_filter_key(&mut self, k: KeyEvent) -> bool {
        match k.code {
            KeyCode::Esc => {
                self.editing = false;
                self.filter.clear();
            }
            KeyCode::Enter => self.editing = false,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.filter.push(c),
            _ => return true,
        }
        self.stale.set(true);
        true
    }

    /// The block's title: count, filter, sort, connection.
    pub fn title(&self) -> String {
        let total = self.rows.len();
        let mut t = if self.filter.is_empty() && !self.editing {
            format!(" pods {total}")
        } else {
            let shown = self.view().pods;
            let cursor = if self.editing { "▏" } else { "" };
            format!(" pods {shown}/{total} · /{}{cursor}", self.filter)
        };
        if self.sort != SortBy::Name || self.reverse {
            t.push_str(&format!(
                " · by {}{}",
                self.sort.word(),
                if self.reverse { ", reversed" } else { "" }
            ));
        }
        if self.group {
            t.push_str(" · by owner");
        }
        match &self.conn {
            Connection::Connected => {}
            Connection::Connecting => t.push_str(" · connecting"),
            Connection::Reconnecting { attempt, error } => {
                t.push_str(&format!(" · reconnecting (attempt {attempt}): {error}"))
            }
        }
        t.push(' ');
        t
    }

    /// Draws the pane into `area`; `now` is the clock for ages.
    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        focused: bool,
        now: DateTime<Utc>,
    ) {
        let b = Block::default()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Plain
            })
            .border_style(if focused {
                theme.border_focused
            } else {
                theme.border
            })
            .title(Span::styled(self.title(), theme.title));
        let inner = b.inner(area);
        f.render_widget(b, area);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        if let Some(dv) = &self.detail {
            self.render_detail(f, inner, theme, now, dv);
            return;
        }
        if self.rows.is_empty() {
            self.render_empty(f, inner, theme);
            return;
        }
        let v = self.view();
        let indent = if self.group { 2 } else { 0 };
        let width = inner.width as usize;
        let (name_w, cols) = layout(width, &v, indent);
        let h = (inner.height as usize).saturating_sub(1);
        self.height.set(h.max(1));

        let head_style = theme.text_dim.add_modifier(Modifier::BOLD);
        let mut head = format!("{}{}", " ".repeat(MARK_W), fit("NAME", name_w));
        for (c, w) in &cols {
            head.push_str(&" ".repeat(GAP));
            head.push_str(&fit(c.title(), *w));
        }
        let mut lines = Vec::with_capacity(h + 1);
        lines.push(Line::from(Span::styled(fit(&head, width), head_style)));

        if v.entries.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("  no pods match /{}", self.filter),
                theme.text_dim,
            )));
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
        let sel = self.selected.get().min(v.entries.len() - 1);
        let mut off = self.offset.get();
        if sel < off {
            off = sel;
        } else if sel >= off + h {
            off = sel + 1 - h;
        }
        off = off.min(v.entries.len().saturating_sub(h));
        self.offset.set(off);

        for (i, e) in v.entries.iter().enumerate().skip(off).take(h) {
            let mut line = match e {
                Entry::Group {
                    label,
                    ok,
                    total,
                    touched,
                } => {
                    let mark = if *touched { "▶ " } else { "  " };
                    let style = if *touched {
                        theme.pod_touched
                    } else {
                        theme.text_dim
                    };
                    let count_style = if ok == total {
                        theme.pod_ok
                    } else {
                        theme.pod_pending
                    };
                    Line::from(vec![
                        Span::styled(mark, style),
                        Span::styled(format!("{label} "), style.add_modifier(Modifier::BOLD)),
                        Span::styled(format!("{ok}/{total}"), count_style),
                    ])
                }
                Entry::Pod { key, touched } => {
                    let Some(r) = self.rows.get(key) else {
                        continue;
                    };
                    self.pod_line(r, *touched, name_w, indent, &cols, theme, now)
                }
            };
            if i == sel {
                line = theme.selected(line);
            }
            lines.push(line);
        }
        f.render_widget(Paragraph::new(lines), inner);
    }

    #[allow(clippy::too_many_arguments)]
    fn pod_line(
        &self,
        r: &PodRow,
        touched: bool,
        name_w: usize,
        indent: usize,
        cols: &[(Col, usize)],
        theme: &Theme,
        now: DateTime<Utc>,
    ) -> Line<'static> {
        let health = match r.health {
            Health::Ok => theme.pod_ok,
            Health::Pending => theme.pod_pending,
            Health::Failed => theme.pod_failed,
        };
        let base = if touched {
            theme.pod_touched
        } else {
            Style::default()
        };
        let mut spans = Vec::with_capacity(2 + cols.len() * 2);
        spans.push(Span::styled(if touched { "▶ " } else { "  " }, base));
        let name = format!("{}{}", " ".repeat(indent), r.name);
        spans.push(Span::styled(fit(&name, name_w), base));
        for (c, w) in cols {
            spans.push(Span::styled("  ", base));
            let (text, style) = match c {
                Col::Ready => (format!("{}/{}", r.ready.0, r.ready.1), base),
                Col::Status => (r.status_text(), base.patch(health)),
                Col::Restarts => (r.restarts.to_string(), base),
                Col::Age => (
                    r.created
                        .map_or_else(|| "-".into(), |c| human_age((now - c).num_seconds())),
                    base,
                ),
                Col::Node => (r.node.clone().unwrap_or_else(|| "<none>".into()), base),
                Col::Image => {
                    let mut s = r.images.first().cloned().unwrap_or_default();
                    if r.images.len() > 1 {
                        s.push_str(&format!(" +{}", r.images.len() - 1));
                    }
                    (s, base)
                }
            };
            spans.push(Span::styled(fit(&text, *w), style));
        }
        Line::from(spans)
    }

    fn render_empty(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let lines: Vec<Line> = match &self.conn {
            Connection::Reconnecting { error, .. } => {
                let mut lines = vec![Line::from(Span::styled(
                    "no cluster reachable — retrying",
                    theme.pod_failed,
                ))];
                // The error whole (it names the file or server at fault), over several rows.
                let error = Line::from(Span::styled(error.clone(), theme.text_dim));
                lines.extend(wrap(error, area.width as usize, 0));
                lines
            }
            Connection::Connecting => vec![Line::from(Span::styled(
                "waiting for the cluster…",
                theme.text_dim,
            ))],
            Connection::Connected => {
                vec![Line::from(Span::styled("no pods", theme.text_dim))]
            }
        };
        let top = area.y + area.height.saturating_sub(lines.len() as u16) / 2;
        let rect = Rect {
            y: top,
            height: (lines.len() as u16).min(area.height),
            ..area
        };
        f.render_widget(Paragraph::new(lines).alignment(Alignment::Center), rect);
    }

    fn render_detail(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        now: DateTime<Utc>,
        dv: &DetailView,
    ) {
        let (ns, name) = &dv.key;
        let live = self.rows.get(&dv.key);
        let mut lines: Vec<Line> = Vec::new();
        let health_style = |h: Health| match h {
            Health::Ok => theme.pod_ok,
            Health::Pending => theme.pod_pending,
            Health::Failed => theme.pod_failed,
        };
        let row = live.or(dv.detail.as_ref().map(|d| &d.row));
        let mut head = vec![Span::styled(
            format!("pod {ns}/{name}"),
            theme.title.add_modifier(Modifier::BOLD),
        )];
        match row {
            Some(r) => {
                head.push(Span::raw("  "));
                head.push(Span::styled(r.status_text(), health_style(r.health)));
                head.push(Span::styled(
                    format!(
                        "  {}/{} ready  {} restarts  node {}  {}",
                        r.ready.0,
                        r.ready.1,
                        r.restarts,
                        r.node.as_deref().unwrap_or("<none>"),
                        owner_label(r, self.role(r))
                    ),
                    theme.text_dim,
                ));
            }
            None => head.push(Span::styled("  (gone)", theme.text_dim)),
        }
        lines.push(Line::from(head));
        let Some(d) = &dv.detail else {
            lines.push(Line::from(Span::styled("loading…", theme.text_dim)));
            f.render_widget(Paragraph::new(lines), area);
            return;
        };
        let section = |s: &str| Line::from(Span::styled(s.to_string(), theme.title));
        lines.push(section("containers"));
        for c in &d.containers {
            let (mark, style) =
                if c.ready || (c.init && c.state == "Terminated" && c.exit_code == Some(0)) {
                    ("✓", theme.pod_ok)
                } else if c.reason.as_deref().is_some_and(|r| {
                    matches!(
                        r,
                        "CrashLoopBackOff"
                            | "ImagePullBackOff"
                            | "ErrImagePull"
                            | "Error"
                            | "OOMKilled"
                    )
                }) || c.exit_code.is_some_and(|e| e != 0)
                {
                    ("✗", theme.pod_failed)
                } else {
                    ("·", theme.pod_pending)
                };
            let mut state = c.state.clone();
            if let Some(r) = &c.reason {
                state.push_str(&format!(" {r}"));
            }
            if let Some(e) = c.exit_code {
                state.push_str(&format!(" (exit {e})"));
            }
            let spans = vec![
                Span::styled(format!("  {mark} "), style),
                Span::raw(format!(
                    "{}{}  ",
                    c.name,
                    if c.init { " (init)" } else { "" }
                )),
                Span::styled(format!("{}  ", c.image), theme.text_dim),
                Span::styled(state, style),
                Span::styled(format!("  restarts {}", c.restarts), theme.text_dim),
            ];
            lines.push(Line::from(spans));
            if let Some(m) = &c.message {
                lines.push(Line::from(Span::styled(format!("      {m}"), style)));
            }
            if let Some(l) = &c.last {
                let mut text = format!(
                    "      last state: Terminated{}, exit code {}",
                    l.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    l.exit_code
                );
                if let Some(sig) = l.signal {
                    text.push_str(&format!(", signal {sig}"));
                }
                if let Some(t) = l.finished {
                    text.push_str(&format!(", {} ago", human_age((now - t).num_seconds())));
                }
                lines.push(Line::from(Span::styled(text, theme.text_dim)));
            }
        }
        lines.push(section("conditions"));
        for c in &d.conditions {
            let style = if c.status == "True" {
                theme.pod_ok
            } else {
                theme.pod_pending
            };
            let mut spans = vec![
                Span::raw(format!("  {:<26}", c.type_)),
                Span::styled(format!("{:<6}", c.status), style),
            ];
            let why = match (&c.reason, &c.message) {
                (Some(r), Some(m)) => format!("  {r}: {m}"),
                (Some(r), None) => format!("  {r}"),
                (None, Some(m)) => format!("  {m}"),
                (None, None) => String::new(),
            };
            spans.push(Span::styled(why, theme.text_dim));
            lines.push(Line::from(spans));
        }
        lines.push(section("events"));
        if d.events.is_empty() {
            lines.push(Line::from(Span::styled("  none", theme.text_dim)));
        }
        for e in &d.events {
            let age = e
                .last
                .map_or_else(|| "-".into(), |t| human_age((now - t).num_seconds()));
            let style = if e.type_ == "Warning" {
                theme.pod_failed
            } else {
                theme.text_dim
            };
            let times = if e.count > 1 {
                format!(" (x{})", e.count)
            } else {
                String::new()
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {age:>6}  "), theme.text_dim),
                Span::styled(format!("{:<8}", e.type_), style),
                Span::raw(format!("{}  ", e.reason)),
                Span::styled(format!("{}{times}", e.message), theme.text_dim),
            ]));
        }
        // Long reasons, messages and names wrap, under the text they continue.
        let width = area.width as usize;
        let rows: Vec<Line> = lines
            .into_iter()
            .flat_map(|l| {
                let lead = l
                    .spans
                    .first()
                    .map_or(0, |s| s.content.len() - s.content.trim_start().len());
                wrap(l, width, lead + 2)
            })
            .collect();
        let h = area.height as usize;
        let top = dv.scroll.min(rows.len().saturating_sub(h));
        let shown: Vec<Line> = rows.into_iter().skip(top).take(h).collect();
        f.render_widget(Paragraph::new(shown), area);
    }
}

/// `line` in rows of at most `width` characters, broken at a space where there is one, the
/// rows after the first indented by `indent` (at most half the width).
fn wrap(line: Line<'static>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let chars: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|s| {
            let style = line.style.patch(s.style);
            s.content.chars().map(move |c| (c, style))
        })
        .collect();
    if width == 0 || chars.len() <= width {
        return vec![line];
    }
    let indent = indent.min(width / 2);
    let mut rows = Vec::new();
    let mut at = 0;
    let mut first = true;
    while at < chars.len() {
        let room = if first { width } else { width - indent };
        let rest = &chars[at..];
        let take = if rest.len() <= room {
            rest.len()
        } else {
            // The last space that leaves something on this row, else a hard cut.
            match (1..=room).rev().find(|&i| rest[i].0 == ' ') {
                Some(i) => i,
                None => room,
            }
        };
        let mut spans: Vec<Span<'static>> = Vec::new();
        if !first {
            spans.push(Span::raw(" ".repeat(indent)));
        }
        let mut run = String::new();
        let mut style = rest.first().map(|c| c.1).unwrap_or_default();
        for &(c, st) in &rest[..take] {
            if st != style && !run.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut run), style));
            }
            style = st;
            run.push(c);
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, style));
        }
        rows.push(Line::from(spans));
        at += take;
        // The space a row was broken at starts no row.
        while at < chars.len() && chars[at].0 == ' ' {
            at += 1;
        }
        first = false;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_kubectl() {
        for (s, want) in [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (180, "3m"),
            (200, "3m20s"),
            (600, "10m"),
            (7200, "120m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 60, "5h1m"),
            (30 * 3600, "30h"),
            (5 * 86400, "5d"),
            (5 * 86400 + 3600, "5d1h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (-5, "<invalid>"),
        ] {
            assert_eq!(human_age(s), want, "{s}");
        }
    }

    #[test]
    fn wrap_breaks_at_spaces_under_the_text() {
        let text = |l: &Line| {
            l.spans
                .iter()
                .map(|s| s.content.as_ref())
                .collect::<String>()
        };
        let rows = wrap(
            Line::from("  why: 0/2 nodes are available: 2 Insufficient memory."),
            24,
            4,
        );
        let rows: Vec<String> = rows.iter().map(text).collect();
        assert_eq!(
            rows,
            [
                "  why: 0/2 nodes are",
                "    available: 2",
                "    Insufficient memory."
            ]
        );
        let rows = wrap(Line::from("abcdefghij"), 4, 1);
        let rows: Vec<String> = rows.iter().map(text).collect();
        assert_eq!(rows, ["abcd", " efg", " hij"]);
        assert_eq!(wrap(Line::from("short"), 0, 0).len(), 1);
    }

    #[test]
    fn fit_pads_and_cuts() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 0), "");
    }
}
