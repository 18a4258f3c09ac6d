//! The keys of the interface, in one table: the help (`?`) and the footer are made from it, and
//! tests check that every key listed for the pods and logs panes is one their input handling
//! takes, so the help cannot drift from what the keys do.

/// One key (or a few, for one action): what the help says, and what the footer says, if it
/// shows the key at all.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub keys: &'static str,
    /// The footer's word for it; empty: not in the footer.
    pub hint: &'static str,
    pub help: &'static str,
}

const fn k(keys: &'static str, hint: &'static str, help: &'static str) -> Key {
    Key { keys, hint, help }
}

/// A part of the help: a title and its keys.
pub struct Section {
    pub title: &'static str,
    pub keys: &'static [Key],
}

pub const MAIN: &[Key] = &[
    k(
        "↑ ↓  j k",
        "move",
        "move in the focused pane (the tree selects a step; output scrolls)",
    ),
    k("PgUp PgDn", "", "move a page"),
    k("Home End  g G", "", "first / last"),
    k("Tab  Shift-Tab", "pane", "next / previous pane"),
    k("Enter", "", "show the selected step's output"),
    k(
        "z",
        "zoom",
        "zoom the focused pane to full screen (again or Esc: back)",
    ),
    k(
        "/",
        "search",
        "search the output; n / N next / previous match",
    ),
    k("f", "follow", "follow the running step and new output"),
    k("w", "wrap", "wrap long lines"),
    k("t", "times", "show timestamps"),
    k("P", "", "presenter theme on / off (the banner says SHARED)"),
    k("d", "", "back to the gate dialog, after Esc hid it"),
    k("mouse", "", "wheel scrolls, click selects"),
    k("Ctrl-C", "", "abort the running step, or quit (asks first)"),
    k("q", "quit", "quit (the run can be resumed)"),
    k("o", "", "open the runbook a failure led to (after the run)"),
    k(
        "D",
        "",
        "ask to drive (a follower at the keys: hand them back)",
    ),
    k("?", "help", "this help (Esc closes)"),
];

pub const GATE: &[Key] = &[
    k(
        "a r s b t m x",
        "",
        "choose approve, reject, skip, rollback, retry, mark done, abort",
    ),
    k(
        "k w",
        "",
        "kill / wait for what an interrupted step left running, before it re-runs",
    ),
    k(
        "o",
        "",
        "roll back, then open the runbook the failure leads to",
    ),
    k(
        "Enter",
        "",
        "decide the chosen button (Enter alone, with none chosen, decides nothing)",
    ),
    k(
        "Tab  Shift-Tab",
        "",
        "checklist, confirmation word, note, choices: in the order drawn",
    ),
    k("space", "", "tick the checklist item"),
    k("PgUp PgDn", "", "scroll what will run"),
    k("Ctrl-U  Ctrl-W", "", "clear the field / delete a word"),
    k(
        "Esc",
        "",
        "hide the dialog to look at the panes; the gate stays open (d: back)",
    ),
];

pub const PODS: &[Key] = &[
    k("↑ ↓  j k", "move", "select a pod"),
    k("PgUp PgDn  g G", "", "a page / first / last"),
    k(
        "Enter",
        "detail",
        "the pod's detail: status, containers, events (Esc closes)",
    ),
    k("l", "logs", "follow the selected pod's logs"),
    k(
        "L",
        "owner logs",
        "follow the logs of every pod of its owner",
    ),
    k("a", "", "the logs follow the steps again"),
    k("s  S", "sort", "sort by the next column / reverse"),
    k("o", "group", "group by owner"),
    k("/", "filter", "filter the pods (Esc clears)"),
];

pub const LOGS: &[Key] = &[
    k("↑ ↓  j k", "scroll", "scroll (pauses following)"),
    k("PgUp PgDn", "", "a page"),
    k("g G", "", "oldest (pauses) / newest (follows)"),
    k("space", "pause", "pause / follow"),
    k("/", "search", "search; n / N next / previous match"),
    k("F", "filter", "show only the lines that match"),
    k(
        "p",
        "previous",
        "the previous instance's logs; again: the current one's, followed",
    ),
    k("t", "times", "show timestamps"),
    k("w", "", "wrap long lines"),
    k("Esc", "", "clear the search and the filter"),
];

pub const SECTIONS: &[Section] = &[
    Section {
        title: "everywhere",
        keys: MAIN,
    },
    Section {
        title: "at a gate",
        keys: GATE,
    },
    Section {
        title: "pods pane",
        keys: PODS,
    },
    Section {
        title: "logs pane",
        keys: LOGS,
    },
];

/// The footer's hints from a table: the keys it names, as the footer shows them.
pub fn hints(keys: &'static [Key]) -> Vec<(&'static str, &'static str)> {
    keys.iter()
        .filter(|k| !k.hint.is_empty())
        .map(|k| (short(k.keys), k.hint))
        .collect()
}

/// `↑ ↓  j k` as the footer shows it: `↑↓`; `s  S`: `s`.
fn short(keys: &'static str) -> &'static str {
    match keys {
        "↑ ↓  j k" => "↑↓",
        "s  S" => "s",
        "Tab  Shift-Tab" => "tab",
        "Enter" => "enter",
        "space" => "space",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;

    /// The single-character keys of a help entry (`s  S` → s, S; `↑ ↓  j k` → j, k).
    fn chars(k: &Key) -> Vec<char> {
        k.keys
            .split_whitespace()
            .filter_map(|w| {
                let mut c = w.chars();
                match (c.next(), c.next()) {
                    (Some(ch), None) if ch.is_ascii_graphic() => Some(ch),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn every_logs_key_listed_is_one_the_logs_pane_takes() {
        for key in LOGS {
            for c in chars(key) {
                let mut pane = super::super::logs_pane::LogsPane::new(100);
                let ev = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
                assert!(pane.on_key(ev), "the help lists `{c}` for the logs pane");
            }
        }
    }

    #[test]
    fn the_footer_hints_come_from_the_table() {
        let h = hints(PODS);
        assert!(h.contains(&("l", "logs")) && h.contains(&("/", "filter")));
        assert!(hints(MAIN).contains(&("?", "help")));
    }
}
