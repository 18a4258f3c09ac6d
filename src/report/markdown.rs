//! The report as Markdown that renders on GitHub: tables, ids and commands in code spans (their
//! backticks and `|` escaped), output in fenced blocks.

use std::fmt::Write as _;

use super::{BarKind, Report, duration, offset, stream_word, when};

/// Text safe in a Markdown table cell: every character Markdown could take as markup escaped,
/// line breaks made `<br>`.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A code span holding `s` as it is: fenced with more backticks than any run inside it, padded
/// where it starts or ends with one; `|` escaped (GitHub splits table cells on it even inside
/// code). On one line.
pub fn code(s: &str) -> String {
    let s = s.trim_end().replace('\r', "").replace('\n', " ⏎ ");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", s.replace('|', "\\|"))
}

/// A fenced block of `lines`, its fence longer than any run of backticks in them.
fn block(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`').map(str::len))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut out = format!("{fence}text\n");
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

/// The report as Markdown.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let kind = if r.rehearsal { "Rehearsal" } else { "Run" };
    let _ = writeln!(o, "# {kind} report: {}\n", text(&r.runbook_name));
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Run | {} |", code(&r.run_id));
    let _ = writeln!(o, "| Result | **{}** |", text(&r.result));
    if r.rehearsal {
        let _ = writeln!(
            o,
            "| Kind | a rehearsal against stand-ins: nothing real was touched |"
        );
    }
    let _ = writeln!(o, "| Runbook | {} |", code(&r.runbook_path));
    let digests: Vec<String> = r.digests.iter().map(|d| code(d)).collect();
    let _ = writeln!(o, "| Digest | {} |", digests.join(" → "));
    if let Some(s) = r.started_at {
        let _ = writeln!(o, "| Started | {} |", when(s));
    }
    match (r.started_at, r.finished_at) {
        (Some(s), Some(f)) => {
            let _ = writeln!(
                o,
                "| Finished | {} (after {}) |",
                when(f),
                duration((f - s).num_milliseconds())
            );
        }
        _ => {
            if let Some(l) = r.last_at {
                let _ = writeln!(o, "| Last record | {} |", when(l));
            }
        }
    }
    let targets = if r.targets.is_empty() {
        "none shown".to_string()
    } else {
        r.targets
            .iter()
            .map(|t| code(t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(o, "| Targets | {targets} ({}) |", text(&r.targets_note));
    if let Some(f) = &r.from_run {
        let _ = writeln!(o, "| Follows | run {} (it failed) |", code(f));
    }
    for (run, link) in &r.followed_by {
        let _ = writeln!(
            o,
            "| Followed by | run {} (runbook {}) |",
            code(run),
            code(link)
        );
    }
    o.push('\n');

    let _ = writeln!(o, "## People\n");
    let _ = writeln!(o, "| At the keys | How | From | Until |\n|---|---|---|---|");
    for d in &r.drivers {
        let until = d.to.map_or_else(|| "—".to_string(), |t| offset(r, t));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {until} |",
            code(&d.who),
            d.how,
            offset(r, d.from)
        );
    }
    o.push('\n');
    if r.watchers.is_empty() {
        let _ = writeln!(o, "No one followed the run from another terminal.\n");
    } else {
        let names: Vec<String> = r.watchers.iter().map(|w| code(w)).collect();
        let _ = writeln!(
            o,
            "Followed from other terminals by {}.\n",
            names.join(", ")
        );
    }

    if !r.vars.is_empty() {
        let _ = writeln!(o, "## Variables\n");
        let _ = writeln!(o, "| Name | Value |\n|---|---|");
        for (k, v) in &r.vars {
            let v = if v.is_empty() {
                "*(empty)*".to_string()
            } else {
                code(v)
            };
            let _ = writeln!(o, "| {} | {v} |", code(k));
        }
        if !r.secret_captures.is_empty() {
            let names: Vec<String> = r.secret_captures.iter().map(|n| code(n)).collect();
            let _ = writeln!(
                o,
                "\nSecret values (never journaled): {}.",
                names.join(", ")
            );
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Timeline\n");
    let _ = writeln!(
        o,
        "| Phase / step | Start | End | Took | Result | Attempts | Command |\n|---|---|---|---|---|---|---|"
    );
    for b in &r.timeline {
        let indent = "&nbsp;&nbsp;".repeat(b.depth * 2);
        let name = match b.kind {
            BarKind::Phase => format!("{indent}**phase** {}", code(&b.id)),
            BarKind::Step => format!("{indent}{}", code(&b.id)),
        };
        let end = b.end.map_or_else(|| "—".to_string(), |t| offset(r, t));
        let took = match b.kind {
            BarKind::Step => b.run_ms.map(|ms| duration(ms as i64)),
            BarKind::Phase => b.span_ms().map(duration),
        }
        .unwrap_or_else(|| "—".into());
        let result = if b.failed {
            format!("**{}**", text(&b.result))
        } else {
            text(&b.result)
        };
        let result = match b.exit_code {
            Some(c) if c != 0 => format!("{result} (exit {c})"),
            _ => result,
        };
        let attempts = if b.kind == BarKind::Step && b.attempts > 0 {
            b.attempts.to_string()
        } else {
            String::new()
        };
        let command = b.command.as_deref().map(code).unwrap_or_default();
        let _ = writeln!(
            o,
            "| {name} | {} | {end} | {took} | {result} | {attempts} | {command} |",
            offset(r, b.start)
        );
    }
    o.push('\n');

    if !r.not_run.is_empty() {
        let steps: Vec<String> = r.not_run.iter().map(|(_, s)| code(s)).collect();
        let _ = writeln!(o, "Did not run: {}.\n", steps.join(", "));
    }

    let _ = writeln!(o, "## Gates\n");
    if r.gates.is_empty() {
        let _ = writeln!(o, "No gate was reached.\n");
    } else {
        let _ = writeln!(
            o,
            "| Gate | Kind | Reached | Decided | Choice | Who | Via | Checklist | Note |\n|---|---|---|---|---|---|---|---|---|"
        );
        for g in &r.gates {
            let reached = g.reached_at.map_or_else(|| "—".into(), |t| offset(r, t));
            let mut who = Vec::new();
            let mut via = Vec::new();
            for a in &g.approvals {
                who.push(format!("{} ({} of {})", code(&a.who), a.have, a.need));
                via.push(text(&a.via));
            }
            let (decided, choice, checklist, note) = match &g.decision {
                Some(d) => {
                    who.push(code(&d.who));
                    via.push(text(&d.via));
                    let mut choice = d.choice.word().to_string();
                    if d.destructive {
                        choice.push_str(" (destructive, confirmed by its word)");
                    }
                    let checklist = d
                        .checklist
                        .iter()
                        .map(|(item, ok)| format!("{} {}", if *ok { "☑" } else { "☐" }, text(item)))
                        .collect::<Vec<_>>()
                        .join("<br>");
                    (
                        offset(r, d.at),
                        choice,
                        checklist,
                        d.note.as_deref().map(text).unwrap_or_default(),
                    )
                }
                None => ("—".into(), "undecided".into(), String::new(), String::new()),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {reached} | {decided} | {choice} | {} | {} | {checklist} | {note} |",
                code(&g.gate),
                g.kind.word(),
                who.join("<br>"),
                via.join("<br>")
            );
        }
        o.push('\n');
    }

    for (title, revert, none) in [
        (
            "Changes",
            false,
            "The run changed nothing that it journals.",
        ),
        ("Reverts", true, "Nothing was put back."),
    ] {
        let rows: Vec<_> = r.changes.iter().filter(|c| c.revert == revert).collect();
        let _ = writeln!(o, "## {title}\n");
        if rows.is_empty() {
            let _ = writeln!(o, "{none}\n");
            continue;
        }
        let _ = writeln!(o, "| At | Step | What | Details |\n|---|---|---|---|");
        for c in rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} {} | {} |",
                offset(r, c.at),
                code(&c.step),
                c.family,
                code(&c.kind),
                code(&c.detail)
            );
        }
        o.push('\n');
    }

    if !r.failure_path.is_empty() {
        let _ = writeln!(o, "## Failure path\n");
        for (i, s) in r.failure_path.iter().enumerate() {
            let _ = writeln!(o, "{}. {}", i + 1, text(s));
        }
        o.push('\n');
    }

    if !r.failures.is_empty() {
        let _ = writeln!(o, "## Failed steps\n");
        for f in &r.failures {
            let _ = writeln!(o, "### {} at {}\n", code(&f.step), offset(r, f.at));
            if let Some(e) = &f.error {
                let _ = writeln!(o, "{}\n", text(e));
            }
            if f.lines.is_empty() {
                let _ = writeln!(o, "No output was kept.\n");
                continue;
            }
            let more = if f.more > 0 {
                format!(", {} earlier lines not shown", f.more)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "Its last {} lines (from the {}{more}):\n",
                f.lines.len(),
                f.source
            );
            let lines: Vec<String> = f
                .lines
                .iter()
                .map(|l| match l.stream {
                    crate::protocol::Stream::Stdout => l.text.clone(),
                    s => format!("[{}] {}", stream_word(s), l.text),
                })
                .collect();
            o.push_str(&block(&lines));
            o.push('\n');
        }
    }

    if !r.rehearsal_notes.is_empty() {
        let _ = writeln!(o, "## Rehearsal\n");
        for (step, what) in &r.rehearsal_notes {
            match step {
                Some(s) => {
                    let _ = writeln!(o, "- {}: {}", code(s), text(what));
                }
                None => {
                    let _ = writeln!(o, "- {}", text(what));
                }
            }
        }
        o.push('\n');
    }

    if !r.pauses.is_empty() {
        let _ = writeln!(o, "## Pauses\n");
        for (t, why) in &r.pauses {
            let _ = writeln!(o, "- {}: {}", offset(r, *t), text(why));
        }
        o.push('\n');
    }

    if !r.unknown.is_empty() {
        let _ = writeln!(o, "## Not shown\n");
        let _ = writeln!(
            o,
            "Records of kinds this version of tollgate does not know (a newer one wrote them):\n"
        );
        for (line, event) in &r.unknown {
            let _ = writeln!(o, "- line {line}: {}", code(event));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Times are from the start of the run. Written by `tollgate report` from the run's journal and kept output; secrets are masked."
    );
    o
}
