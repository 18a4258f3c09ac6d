//! The Argo CD controller in the controllers' loop: one work item per Application
//! ([`Work::Application`]), reconciled with [`reconcile`] and requeued on a timer
//! (the reconciliation timeout, or the self-heal delay).

use serde_json::Value;
use tokio::time::Instant;

use super::{Level, RECONCILIATION_TIMEOUT_SECONDS, application_type, reconcile};
use crate::controllers::events::Source;
use crate::controllers::manager::{Manager, Work};
use crate::object::Key;
use crate::store::Part;

/// Who reports the Application events.
pub const COMPONENT: &str = "argocd-application-controller";

/// Reconcile one Application.
pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let key: Key = (ns.to_string(), name.to_string());
    let store = m.shared.store.clone();
    let Some(rt) = application_type(&store) else {
        return;
    };
    let Ok(app) = store.get(rt, ns, name) else {
        m.argocd.forget(&key);
        return;
    };
    let now = Instant::now();
    let periodic = m.argocd.due.get(&key).is_none_or(|d| *d <= now);
    let level = if m.argocd.latest.remove(&key) || periodic {
        Level::Latest
    } else {
        Level::Recent
    };
    let timing = m.shared.timing.clone();
    m.argocd.memory.repos = m.shared.repos.clone();
    let mut write = |v: &Value| {
        store
            .update(rt, ns, name, v.clone(), Part::All, false)
            .map_err(|e| e.message.clone())
    };
    let secs = reconcile(
        &store,
        &mut m.argocd.memory,
        &timing,
        &app,
        level,
        &mut write,
    );
    let events = std::mem::take(&mut m.argocd.memory.events);
    if !events.is_empty() {
        let current = store.get(rt, ns, name).unwrap_or(app);
        for (_, type_, reason, message) in events {
            m.events.emit(
                &store,
                &current,
                None,
                type_,
                reason,
                &message,
                Source::Controller(COMPONENT),
            );
        }
    }
    if level == Level::Latest {
        m.argocd.due.insert(
            key.clone(),
            now + timing.delay(RECONCILIATION_TIMEOUT_SECONDS),
        );
    }
    // New kinds to watch start from now: this reconcile has read them.
    let rv = store.resource_version();
    for k in m.argocd.memory.kinds.clone() {
        m.argocd.cursors.entry((k.group, k.kind)).or_insert(rv);
    }
    // A write that conflicted is retried at once (after reading again); otherwise the timer is
    // the earlier of what the application asked for and its periodic refresh.
    let mut at = now + timing.delay(if secs <= 0.0 { 0.05 } else { secs });
    if let Some(due) = m.argocd.due.get(&key) {
        at = at.min(*due);
    }
    let w = Work::Application(key);
    m.cancel(&w);
    m.schedule(w, at);
}
