//! The terminal interface for a run: its theme, what it starts with, the feeds of its AWS banner
//! and pods and logs panes, and the signals that end it.

use std::sync::Arc;

use super::wiring::{first_kube_target, namespaces_of};
use crate::engine::RunSpec;
use crate::protocol::approvals::Approvals;
use crate::target::{PinnedAccount, PinnedCluster};
use crate::ui;
use crate::ui::theme::{Theme, ThemeError};

/// The interface's theme by name: built in, or from the user's themes folder; without colour
/// when `NO_COLOR` is set.
pub(super) fn theme(name: &str) -> Result<Theme, ThemeError> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Theme::load(name, Theme::user_dir().as_deref(), no_color)
}

/// What the interface starts with: the run, its variables (and its id among them), what a
/// resumed run had done, the AWS banner and cluster panes when the run reaches them, and the
/// gates the command line's flags decide (`--approve`: the same rule as headless).
pub(super) fn config(
    spec: &RunSpec,
    theme: Theme,
    scrollback: usize,
    cluster: Option<&PinnedCluster>,
    aws: bool,
    approvals: Approvals,
) -> ui::Config {
    let mut vars = spec.vars.clone();
    vars.set("run_id", spec.run_id.clone(), false);
    let cluster = cluster.map(|t| ui::ClusterPanes {
        context: t.describe(),
        namespace: namespaces_of(&spec.runbook).0,
        preview: first_kube_target(&spec.runbook),
    });
    ui::Config {
        scrollback: scrollback.max(100),
        vars,
        replay: spec.replay.clone(),
        aws,
        cluster,
        approvals,
        ..ui::Config::new(
            spec.runbook.clone(),
            spec.run_id.clone(),
            spec.who.clone(),
            theme,
        )
    }
}

/// Shows the interface on the terminal until the operator quits or a signal arrives, with the
/// AWS banner and the pods and logs panes fed from the run's targets.
pub(super) async fn show(
    config: ui::Config,
    channels: ui::Channels,
    cluster: Option<&Arc<PinnedCluster>>,
    aws: Option<&Arc<PinnedAccount>>,
    cast: Option<crate::record::cast::Cast>,
) -> std::io::Result<ui::Exit> {
    let aws = aws.map(|t| {
        // Pinned now if it can be, as a headless run does, so the banner shows the account
        // before the first gate; AWS steps check again when they run.
        let early = t.clone();
        tokio::spawn(async move {
            let _ = early.checked().await;
        });
        t.watch_pin()
    });
    let cluster = cluster.map(|t| {
        let (_, namespaces) = namespaces_of(&config.runbook);
        crate::live::Link::start(t.clone(), namespaces)
    });
    let title = config.title();
    match (
        ui::term::enter_titled(title.as_deref(), cast.clone()),
        signals(),
    ) {
        (Ok((mut terminal, guard)), Ok(signals)) => {
            let input = ratatui::crossterm::event::EventStream::new();
            let attention = Some(ui::Attention {
                base: title.clone(),
            });
            let feeds = ui::Feeds {
                cluster,
                aws,
                attention,
                cast,
            };
            let shown = ui::run(&mut terminal, config, channels, input, signals, feeds).await;
            drop(guard);
            shown
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// SIGTERM and SIGHUP as one stream: either ends the interface, which aborts the run.
fn signals() -> std::io::Result<impl futures::Stream<Item = ()> + Unpin> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate())?;
    let hup = signal(SignalKind::hangup())?;
    let one = |s: tokio::signal::unix::Signal| {
        futures::stream::unfold(s, |mut s| async move { s.recv().await.map(|_| ((), s)) })
    };
    Ok(futures::stream::select(
        Box::pin(one(term)),
        Box::pin(one(hup)),
    ))
}

/// Starts the recording `--record` asks for, sized as the terminal is now; one line when the
/// file cannot be written.
pub(super) fn recording(
    path: Option<&std::path::Path>,
    title: &str,
) -> Result<Option<crate::record::cast::Cast>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    let (w, h) = ratatui::crossterm::terminal::size().unwrap_or((80, 24));
    crate::record::cast::Cast::create(path, w, h, title)
        .map(Some)
        .map_err(|e| format!("cannot write the recording {}: {e}", path.display()))
}
