//! The report as one self-contained HTML file: inline CSS, an inline SVG timeline of the phases
//! and steps as bars on a time axis; no script, nothing fetched. Every text escaped.

use std::fmt::Write as _;

use super::{BarKind, Report, duration, offset, stream_word, when};

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#1b1f23;background:#fff}
h1{font-size:1.6em;margin-bottom:.3em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
code{background:#f6f8fa;padding:1px 4px;border-radius:4px;word-break:break-all}
pre{background:#0d1117;color:#e6edf3;padding:10px;overflow-x:auto;border-radius:6px}
pre .stderr{color:#ffa198}.failed{color:#cf222e;font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a}
.rehearsal{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px}
svg text{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#1b1f23}svg .axis{stroke:#d0d7de}
svg .phase rect{fill:#8250df;opacity:.35}svg .step rect{fill:#1f6feb}svg .step.failed rect{fill:#cf222e}
svg .step.skipped rect{fill:#8c959f}svg .phase.failed rect{fill:#cf222e;opacity:.3}svg .open rect{fill:#d4a72c}
";

/// Where time `t` (ms from the start) falls on an axis `width` wide spanning `total` ms.
fn x_of(t: i64, total: i64, width: f64) -> f64 {
    if total <= 0 {
        return 0.0;
    }
    (t.max(0) as f64 / total as f64) * width
}

/// The timeline chart: one row per phase and step, its bar from its start to its end.
fn chart(r: &Report) -> String {
    const LABEL: f64 = 230.0;
    const WIDTH: f64 = 700.0;
    const ROW: f64 = 18.0;
    const TOP: f64 = 24.0;
    let Some(start) = r.started_at else {
        return String::new();
    };
    let end = r.finished_at.or(r.last_at).unwrap_or(start);
    let total = (end - start).num_milliseconds().max(1);
    let height = TOP + ROW * r.timeline.len() as f64 + 8.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline of phases and steps" width="{w}" height="{height}" viewBox="0 0 {w} {height}">"#,
        w = LABEL + WIDTH + 20.0
    );
    // The axis: five ticks.
    for i in 0..=5 {
        let t = total * i / 5;
        let x = LABEL + x_of(t, total, WIDTH);
        let _ = write!(
            s,
            r#"<line class="axis" x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{height}"/><text x="{x:.1}" y="12" text-anchor="middle">{}</text>"#,
            esc(&duration(t)),
            y1 = TOP - 6.0
        );
    }
    for (i, b) in r.timeline.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let from = (b.start - start).num_milliseconds();
        let to = b.end.map_or(total, |e| (e - start).num_milliseconds());
        let x = LABEL + x_of(from, total, WIDTH);
        let w = (x_of(to, total, WIDTH) - x_of(from, total, WIDTH)).max(2.0);
        let mut class = match b.kind {
            BarKind::Phase => "bar phase".to_string(),
            BarKind::Step => "bar step".to_string(),
        };
        if b.failed {
            class.push_str(" failed");
        } else if b.result == "skipped" {
            class.push_str(" skipped");
        } else if b.end.is_none() {
            class.push_str(" open");
        }
        let label = match b.kind {
            BarKind::Phase => format!("{}phase {}", "  ".repeat(b.depth), b.id),
            BarKind::Step => format!("{}{}", "  ".repeat(b.depth), b.id),
        };
        let title = format!(
            "{} {}: {} → {}, {}",
            if b.kind == BarKind::Phase {
                "phase"
            } else {
                "step"
            },
            b.id,
            offset(r, b.start),
            b.end.map_or_else(|| "—".into(), |e| offset(r, e)),
            b.result
        );
        let _ = write!(
            s,
            r#"<g class="{class}" data-id="{id}"><title>{title}</title><text x="4" y="{ty:.1}" xml:space="preserve">{label}</text><rect x="{x:.1}" y="{ry:.1}" width="{w:.1}" height="{h}" rx="2"/></g>"#,
            id = esc(&b.id),
            title = esc(&title),
            label = esc(&label),
            ty = y + 12.0,
            ry = y + 2.0,
            h = ROW - 4.0,
        );
    }
    s.push_str("</svg>");
    s
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s.trim_end()))
}

/// The report as a self-contained HTML page.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let kind = if r.rehearsal { "Rehearsal" } else { "Run" };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{kind} report: {name} ({id})</title><style>{CSS}</style></head><body>\n",
        name = esc(&r.runbook_name),
        id = esc(&r.run_id)
    );
    let _ = writeln!(o, "<h1>{kind} report: {}</h1>", esc(&r.runbook_name));
    if r.rehearsal {
        let _ = writeln!(
            o,
            "<p class=\"rehearsal\">A rehearsal against stand-ins: nothing real was touched.</p>"
        );
    }
    let _ = writeln!(o, "<table id=\"summary\">");
    let row = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(&mut o, "Run", code(&r.run_id));
    let class = if matches!(r.result.as_str(), "succeeded") {
        "ok"
    } else {
        "failed"
    };
    row(
        &mut o,
        "Result",
        format!("<span class=\"{class}\">{}</span>", esc(&r.result)),
    );
    row(&mut o, "Runbook", code(&r.runbook_path));
    row(
        &mut o,
        "Digest",
        r.digests
            .iter()
            .map(|d| code(d))
            .collect::<Vec<_>>()
            .join(" → "),
    );
    if let Some(s) = r.started_at {
        row(&mut o, "Started", esc(&when(s)));
    }
    match (r.started_at, r.finished_at) {
        (Some(s), Some(f)) => row(
            &mut o,
            "Finished",
            esc(&format!(
                "{} (after {})",
                when(f),
                duration((f - s).num_milliseconds())
            )),
        ),
        _ => {
            if let Some(l) = r.last_at {
                row(&mut o, "Last record", esc(&when(l)));
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
    row(
        &mut o,
        "Targets",
        format!(
            "{targets} <span class=\"muted\">({})</span>",
            esc(&r.targets_note)
        ),
    );
    if let Some(f) = &r.from_run {
        row(&mut o, "Follows", format!("run {} (it failed)", code(f)));
    }
    for (run, link) in &r.followed_by {
        row(
            &mut o,
            "Followed by",
            format!("run {} (runbook {})", code(run), code(link)),
        );
    }
    o.push_str("</table>\n");

    o.push_str("<h2>People</h2>\n<table id=\"drivers\"><tr><th>At the keys</th><th>How</th><th>From</th><th>Until</th></tr>\n");
    for d in &r.drivers {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            code(&d.who),
            esc(d.how),
            esc(&offset(r, d.from)),
            esc(&d.to.map_or_else(|| "—".into(), |t| offset(r, t)))
        );
    }
    o.push_str("</table>\n");
    if r.watchers.is_empty() {
        o.push_str("<p>No one followed the run from another terminal.</p>\n");
    } else {
        let _ = writeln!(
            o,
            "<p id=\"watchers\">Followed from other terminals by {}.</p>",
            r.watchers
                .iter()
                .map(|w| code(w))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    if !r.vars.is_empty() {
        o.push_str("<h2>Variables</h2>\n<table id=\"vars\"><tr><th>Name</th><th>Value</th></tr>\n");
        for (k, v) in &r.vars {
            let v = if v.is_empty() {
                "<span class=\"muted\">(empty)</span>".to_string()
            } else {
                code(v)
            };
            let _ = writeln!(o, "<tr><td>{}</td><td>{v}</td></tr>", code(k));
        }
        o.push_str("</table>\n");
        if !r.secret_captures.is_empty() {
            let _ = writeln!(
                o,
                "<p>Secret values (never journaled): {}.</p>",
                r.secret_captures
                    .iter()
                    .map(|n| code(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    o.push_str("<h2>Timeline</h2>\n");
    o.push_str(&chart(r));
    o.push_str("\n<table id=\"steps\"><tr><th>Phase / step</th><th>Start</th><th>End</th><th>Took</th><th>Result</th><th>Attempts</th><th>Command</th></tr>\n");
    for b in &r.timeline {
        let pad = format!("padding-left:{}em", 0.5 + 1.5 * b.depth as f64);
        let (id_attr, name) = match b.kind {
            BarKind::Phase => (
                format!("phase-{}", esc(&b.id)),
                format!("<b>phase</b> {}", code(&b.id)),
            ),
            BarKind::Step => (format!("step-{}", esc(&b.id)), code(&b.id)),
        };
        let took = match b.kind {
            BarKind::Step => b.run_ms.map(|ms| duration(ms as i64)),
            BarKind::Phase => b.span_ms().map(duration),
        }
        .unwrap_or_else(|| "—".into());
        let mut result = esc(&b.result);
        if let Some(c) = b.exit_code.filter(|c| *c != 0) {
            let _ = write!(result, " (exit {c})");
        }
        let class = if b.failed { " class=\"failed\"" } else { "" };
        let attempts = if b.kind == BarKind::Step && b.attempts > 0 {
            b.attempts.to_string()
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "<tr id=\"{id_attr}\"><td style=\"{pad}\">{name}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{result}</td><td>{attempts}</td><td>{}</td></tr>",
            esc(&offset(r, b.start)),
            esc(&b.end.map_or_else(|| "—".into(), |e| offset(r, e))),
            esc(&took),
            b.command.as_deref().map(code).unwrap_or_default()
        );
    }
    o.push_str("</table>\n");

    if !r.not_run.is_empty() {
        let _ = writeln!(
            o,
            "<p id=\"not-run\">Did not run: {}.</p>",
            r.not_run
                .iter()
                .map(|(_, s)| format!("<span id=\"step-{}\">{}</span>", esc(s), code(s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o.push_str("<h2>Gates</h2>\n");
    if r.gates.is_empty() {
        o.push_str("<p>No gate was reached.</p>\n");
    } else {
        o.push_str("<table id=\"gates\"><tr><th>Gate</th><th>Kind</th><th>Reached</th><th>Decided</th><th>Choice</th><th>Who</th><th>Via</th><th>Checklist</th><th>Note</th></tr>\n");
        for g in &r.gates {
            let mut who = Vec::new();
            let mut via = Vec::new();
            for a in &g.approvals {
                who.push(format!("{} ({} of {})", code(&a.who), a.have, a.need));
                via.push(esc(&a.via));
            }
            let (decided, choice, checklist, note) = match &g.decision {
                Some(d) => {
                    who.push(code(&d.who));
                    via.push(esc(&d.via));
                    let mut choice = esc(d.choice.word());
                    if d.destructive {
                        choice.push_str(" (destructive, confirmed by its word)");
                    }
                    let items = d
                        .checklist
                        .iter()
                        .map(|(item, ok)| format!("{} {}", if *ok { "☑" } else { "☐" }, esc(item)))
                        .collect::<Vec<_>>()
                        .join("<br>");
                    (
                        esc(&offset(r, d.at)),
                        choice,
                        items,
                        d.note.as_deref().map(esc).unwrap_or_default(),
                    )
                }
                None => ("—".into(), "undecided".into(), String::new(), String::new()),
            };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{decided}</td><td>{choice}</td><td>{}</td><td>{}</td><td>{checklist}</td><td>{note}</td></tr>",
                code(&g.gate),
                esc(g.kind.word()),
                esc(&g.reached_at.map_or_else(|| "—".into(), |t| offset(r, t))),
                who.join("<br>"),
                via.join("<br>")
            );
        }
        o.push_str("</table>\n");
    }

    for (title, id, revert, none) in [
        (
            "Changes",
            "changes",
            false,
            "The run changed nothing that it journals.",
        ),
        ("Reverts", "reverts", true, "Nothing was put back."),
    ] {
        let rows: Vec<_> = r.changes.iter().filter(|c| c.revert == revert).collect();
        let _ = writeln!(o, "<h2>{title}</h2>");
        if rows.is_empty() {
            let _ = writeln!(o, "<p>{none}</p>");
            continue;
        }
        let _ = writeln!(
            o,
            "<table id=\"{id}\"><tr><th>At</th><th>Step</th><th>What</th><th>Details</th></tr>"
        );
        for c in rows {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                esc(&offset(r, c.at)),
                code(&c.step),
                esc(c.family),
                code(&c.kind),
                code(&c.detail)
            );
        }
        o.push_str("</table>\n");
    }

    if !r.failure_path.is_empty() {
        o.push_str("<h2>Failure path</h2>\n<ol id=\"failure-path\">\n");
        for s in &r.failure_path {
            let _ = writeln!(o, "<li>{}</li>", esc(s));
        }
        o.push_str("</ol>\n");
    }

    if !r.failures.is_empty() {
        o.push_str("<h2>Failed steps</h2>\n");
        for f in &r.failures {
            let _ = writeln!(
                o,
                "<h3 id=\"failed-{}\">{} at {}</h3>",
                esc(&f.step),
                code(&f.step),
                esc(&offset(r, f.at))
            );
            if let Some(e) = &f.error {
                let _ = writeln!(o, "<p class=\"failed\">{}</p>", esc(e));
            }
            if f.lines.is_empty() {
                o.push_str("<p>No output was kept.</p>\n");
                continue;
            }
            let more = if f.more > 0 {
                format!(", {} earlier lines not shown", f.more)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "<p>Its last {} lines (from the {}{more}):</p>",
                f.lines.len(),
                f.source
            );
            o.push_str("<pre>");
            for l in &f.lines {
                let _ = writeln!(
                    o,
                    "<span class=\"{}\">{}</span>",
                    stream_word(l.stream),
                    esc(&l.text)
                );
            }
            o.push_str("</pre>\n");
        }
    }

    if !r.rehearsal_notes.is_empty() {
        o.push_str("<h2>Rehearsal</h2>\n<ul>\n");
        for (step, what) in &r.rehearsal_notes {
            match step {
                Some(s) => {
                    let _ = writeln!(o, "<li>{}: {}</li>", code(s), esc(what));
                }
                None => {
                    let _ = writeln!(o, "<li>{}</li>", esc(what));
                }
            }
        }
        o.push_str("</ul>\n");
    }
    if !r.pauses.is_empty() {
        o.push_str("<h2>Pauses</h2>\n<ul>\n");
        for (t, why) in &r.pauses {
            let _ = writeln!(o, "<li>{}: {}</li>", esc(&offset(r, *t)), esc(why));
        }
        o.push_str("</ul>\n");
    }
    if !r.unknown.is_empty() {
        o.push_str("<h2>Not shown</h2>\n<p>Records of kinds this version of tollgate does not know (a newer one wrote them):</p>\n<ul>\n");
        for (line, event) in &r.unknown {
            let _ = writeln!(o, "<li>line {line}: {}</li>", code(event));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<p class=\"muted\">Times are from the start of the run. Written by <code>tollgate report</code> from the run's journal and kept output; secrets are masked.</p>\n</body></html>\n");
    o
}
