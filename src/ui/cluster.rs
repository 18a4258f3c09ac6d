//! The pods and logs panes in the app: their state ([`ClusterView`], part of the app's state),
//! changed by the messages of the [`crate::live::Link`] ([`ClusterMsg`]), gathering what it asks
//! of it ([`Request`]).

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::logs_pane::LogsPane;
use super::pods_pane::PodsPane;
use crate::live::link::LOG_LINES;
use crate::live::logs::Source;
use crate::live::pods::{Focus, PodsUpdate};
use crate::live::{ClusterMsg, Request};
use crate::runbook::kube::KubeAction;

/// The panes' state.
pub struct ClusterView {
    pub pods: PodsPane,
    pub logs: LogsPane,
    /// For the banner.
    pub context: String,
    /// The namespace of steps that name none.
    pub namespace: String,
    /// What the logs pane shows.
    pub source: Option<Source>,
    /// The operator chose the logs' source: steps no longer move it.
    pub pinned_source: bool,
    /// When the current step started: logs start there.
    pub since: Option<DateTime<Utc>>,
    pub problem: Option<String>,
    /// The tail the logs pane shows; updates of earlier tails are dropped.
    tail: u64,
    requests: Vec<Request>,
}

impl ClusterView {
    pub fn new(context: String, namespace: String) -> ClusterView {
        ClusterView {
            pods: PodsPane::new(),
            logs: LogsPane::new(LOG_LINES),
            context,
            namespace,
            source: None,
            pinned_source: false,
            since: None,
            problem: None,
            tail: 0,
            requests: Vec::new(),
        }
    }

    pub fn on_msg(&mut self, m: ClusterMsg) {
        match m {
            ClusterMsg::Pods(u) => {
                if matches!(u, PodsUpdate::Connected) {
                    self.problem = None;
                }
                self.pods.apply(u)
            }
            ClusterMsg::Logs { tail, update } => {
                if tail == self.tail {
                    self.logs.apply(update)
                }
            }
            ClusterMsg::Detail(d) => self.pods.set_detail(d),
            ClusterMsg::Context(c) => {
                self.context = c;
                // Connected now: start the tail that was waiting for it.
                if let Some(source) = self.source.clone() {
                    let previous = self.logs.previous();
                    self.requests.push(Request::Tail {
                        tail: self.tail,
                        source,
                        since: if previous { None } else { self.since },
                        previous,
                    });
                }
            }
            ClusterMsg::Problem(p) => self.problem = Some(p),
        }
    }

    /// The requests gathered since the last call.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// Before the first step: show the pods and recent logs (the last ten minutes) of what the
    /// runbook's first kube step acts on, e.g. the deployment an incident runbook is saving.
    pub fn preview(&mut self, action: &KubeAction) {
        let ns = action
            .namespace()
            .map(str::to_string)
            .unwrap_or_else(|| self.namespace.clone());
        let (focus, source) = focus_of(action, &ns);
        if focus.is_none() {
            return;
        }
        self.pods.set_focus(focus.into_iter().collect());
        self.since = Some(Utc::now() - chrono::Duration::minutes(10));
        if let Some(source) = source {
            self.follow(source, false);
        }
    }

    /// A step started: highlight the pods it acts on and follow their logs from now.
    pub fn step_started(&mut self, step: &str, action: Option<&KubeAction>) {
        let now = Utc::now();
        self.since = Some(now);
        let Some(action) = action else {
            return;
        };
        let ns = action
            .namespace()
            .map(str::to_string)
            .unwrap_or_else(|| self.namespace.clone());
        let (focus, source) = match action {
            // A job's name gets a random suffix; its pods carry the step's label.
            KubeAction::Job(_) => {
                let selector = format!("{}={step}", crate::protocol::STEP_LABEL);
                (
                    Some(Focus::Selector {
                        namespace: ns.clone(),
                        selector: selector.clone(),
                    }),
                    Some(Source::Selector {
                        namespace: ns,
                        selector,
                    }),
                )
            }
            _ => focus_of(action, &ns),
        };
        self.pods.set_focus(focus.into_iter().collect());
        if let Some(source) = source
            && !self.pinned_source
        {
            self.follow(source, false);
        }
    }

    /// Starts a new tail of `source` (its current or previous instances); the pane shows only
    /// its lines.
    fn follow(&mut self, source: Source, previous: bool) {
        self.tail += 1;
        self.logs
            .start(source.label(), source.pod_prefix(), previous);
        self.source = Some(source.clone());
        self.requests.push(Request::Tail {
            tail: self.tail,
            source,
            since: if previous { None } else { self.since },
            previous,
        });
    }

    /// Keys for the pods pane. `l` shows the selected pod's logs, `L` its owner's (every pod of
    /// the deployment or job), `a` gives the logs back to the steps.
    pub fn pods_key(&mut self, k: KeyEvent) -> bool {
        if !self.pods.is_editing() && !self.pods.detail_open() {
            let selected = self.pods.selected().cloned();
            match (k.code, selected) {
                (KeyCode::Char('l'), Some(row)) => {
                    self.pinned_source = true;
                    self.follow(
                        Source::Pod {
                            namespace: row.namespace,
                            name: row.name,
                        },
                        false,
                    );
                    return true;
                }
                (KeyCode::Char('L'), Some(row)) => {
                    self.pinned_source = true;
                    let source = match row.owner {
                        Some(o) if o.kind == "Deployment" => Source::Deployment {
                            namespace: row.namespace,
                            name: o.name,
                        },
                        Some(o) if o.kind == "Job" => Source::Job {
                            namespace: row.namespace,
                            name: o.name,
                        },
                        _ => Source::Pod {
                            namespace: row.namespace,
                            name: row.name,
                        },
                    };
                    self.follow(source, false);
                    return true;
                }
                (KeyCode::Char('a'), _) => {
                    self.pinned_source = false;
                    return true;
                }
                _ => {}
            }
        }
        let handled = self.pods.on_key(k);
        if let Some((namespace, name)) = self.pods.wants_detail() {
            self.requests.push(Request::Describe { namespace, name });
        }
        handled
    }

    /// Keys for the logs pane. `p` switches between the previous instances and the current
    /// ones; a pod known not to have restarted has no previous instance, and the pane says so
    /// and keeps following.
    pub fn logs_key(&mut self, k: KeyEvent) -> bool {
        let handled = self.logs.on_key(k);
        if self.logs.wants_previous()
            && let Some(source) = self.source.clone()
        {
            let previous = !self.logs.previous();
            if previous
                && let Source::Pod { namespace, name } = &source
                && let Some(row) = self.pods.get(namespace, name)
                && row.restarts == 0
            {
                self.logs.notice(format!(
                    "pod/{name} has no previous instance (it has not restarted); still following"
                ));
            } else {
                self.follow(source, previous);
            }
        }
        handled
    }
}

/// The pods a step acts on, and the logs to follow while it runs.
pub fn focus_of(action: &KubeAction, ns: &str) -> (Option<Focus>, Option<Source>) {
    let namespace = ns.to_string();
    if let Some(d) = action.deployment() {
        return (
            Some(Focus::Deployment {
                namespace: namespace.clone(),
                name: d.to_string(),
            }),
            Some(Source::Deployment {
                namespace,
                name: d.to_string(),
            }),
        );
    }
    if let Some(r) = action.rollout() {
        return (
            Some(Focus::Rollout {
                namespace,
                name: r.to_string(),
            }),
            None,
        );
    }
    match action {
        KubeAction::Wait(w) => {
            if let Some(selector) = w.selector.clone() {
                return (
                    Some(Focus::Selector {
                        namespace: namespace.clone(),
                        selector: selector.clone(),
                    }),
                    Some(Source::Selector {
                        namespace,
                        selector,
                    }),
                );
            }
            match w.resource.split_once('/') {
                Some(("job" | "jobs" | "job.batch", name)) => job_focus(&namespace, name),
                _ => (None, None),
            }
        }
        // A job's name gets a random suffix; its pods carry the step's label.
        KubeAction::Job(_) => (None, None),
        _ => (None, None),
    }
}

fn job_focus(namespace: &str, name: &str) -> (Option<Focus>, Option<Source>) {
    (
        Some(Focus::Job {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
        Some(Source::Job {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::kube::{KubeJob, Scale, SetImage, Wait};

    fn view() -> ClusterView {
        ClusterView::new("ctx".into(), "shop".into())
    }

    #[test]
    fn the_logs_follow_what_the_step_acts_on() {
        let mut v = view();
        let set = KubeAction::SetImage(SetImage {
            deployment: "payment".into(),
            image: "p:2".into(),
            ..SetImage::default()
        });
        v.step_started("set", Some(&set));
        assert_eq!(
            v.take_requests(),
            vec![Request::Tail {
                tail: 1,
                source: Source::Deployment {
                    namespace: "shop".into(),
                    name: "payment".into()
                },
                since: v.since,
                previous: false
            }]
        );
        // A job's pods are found by the step's label.
        let job = KubeAction::Job(KubeJob {
            name: "migrate".into(),
            namespace: Some("db".into()),
            ..KubeJob::default()
        });
        v.step_started("migrate-db", Some(&job));
        assert!(matches!(
            v.take_requests().as_slice(),
            [Request::Tail { source: Source::Selector { namespace, selector }, .. }]
                if namespace == "db" && selector == "tollgate.dev/step=migrate-db"
        ));
        // A step about every deployment has no one source: the logs stay.
        let all = KubeAction::Scale(Scale::default());
        v.step_started("down", Some(&all));
        assert!(v.take_requests().is_empty());
        // A wait with a selector follows it.
        let wait = KubeAction::Wait(Wait {
            resource: "pods".into(),
            selector: Some("app=web".into()),
            condition: "Ready".into(),
            ..Wait::default()
        });
        v.step_started("w", Some(&wait));
        assert_eq!(
            v.source.as_ref().map(Source::label).as_deref(),
            Some("app=web")
        );
    }

    #[test]
    fn what_an_earlier_tail_still_sends_is_dropped_and_p_switches_back() {
        use crate::live::logs::{LogLine, LogsUpdate};
        let mut v = view();
        let set = KubeAction::SetImage(SetImage {
            deployment: "payment".into(),
            image: "p:2".into(),
            ..SetImage::default()
        });
        v.step_started("set", Some(&set));
        let line = |pod: &str| {
            LogsUpdate::Lines(vec![LogLine {
                pod: pod.into(),
                container: "app".into(),
                ts: None,
                text: "GET /".into(),
                source: 0,
            }])
        };
        v.on_msg(ClusterMsg::Logs {
            tail: 1,
            update: line("payment-a"),
        });
        assert_eq!(v.logs.len(), 1);
        // Another source: the pane starts empty; the old tail's late lines are not shown.
        v.follow(
            Source::Pod {
                namespace: "shop".into(),
                name: "payment-b".into(),
            },
            false,
        );
        assert!(v.logs.is_empty());
        v.on_msg(ClusterMsg::Logs {
            tail: 1,
            update: line("payment-a"),
        });
        assert!(v.logs.is_empty());
        v.on_msg(ClusterMsg::Logs {
            tail: 2,
            update: line("payment-b"),
        });
        assert_eq!(v.logs.len(), 1);
        // `p` reads the previous instances, `p` again the current ones.
        let p = KeyEvent::from(KeyCode::Char('p'));
        v.take_requests();
        v.logs_key(p);
        assert!(matches!(
            v.take_requests().as_slice(),
            [Request::Tail {
                tail: 3,
                previous: true,
                since: None,
                ..
            }]
        ));
        v.logs_key(p);
        assert!(matches!(
            v.take_requests().as_slice(),
            [Request::Tail {
                tail: 4,
                previous: false,
                ..
            }]
        ));
        assert!(!v.logs.previous());
    }

    #[test]
    fn a_source_chosen_by_the_operator_stays_until_given_back() {
        let mut v = view();
        v.pinned_source = true;
        let set = KubeAction::SetImage(SetImage {
            deployment: "payment".into(),
            image: "p:2".into(),
            ..SetImage::default()
        });
        v.step_started("set", Some(&set));
        assert!(v.take_requests().is_empty());
    }

    #[test]
    fn before_the_first_step_the_logs_show_the_last_ten_minutes() {
        let mut v = view();
        let set = KubeAction::RolloutStatus(crate::runbook::kube::RolloutStatus {
            deployment: Some("api".into()),
            namespace: None,
        });
        v.preview(&set);
        let since = v.since.unwrap();
        let age = Utc::now() - since;
        assert!(age >= chrono::Duration::minutes(10) && age < chrono::Duration::minutes(11));
        assert_eq!(v.take_requests().len(), 1);
        // Not connected yet: the tail is asked for again once the context is pinned.
        v.on_msg(ClusterMsg::Context("ctx (http://127.0.0.1:1)".into()));
        assert_eq!(v.take_requests().len(), 1);
        assert_eq!(v.context, "ctx (http://127.0.0.1:1)");
    }

    #[test]
    fn an_argo_step_puts_its_rollouts_pods_in_focus() {
        let promote = KubeAction::ArgoPromote(crate::runbook::kube::ArgoPromote {
            rollout: "shop".into(),
            ..Default::default()
        });
        let (focus, source) = focus_of(&promote, "shop");
        assert_eq!(
            focus,
            Some(Focus::Rollout {
                namespace: "shop".into(),
                name: "shop".into()
            })
        );
        assert_eq!(source, None);
        let sync = KubeAction::ArgocdSync(Default::default());
        assert_eq!(focus_of(&sync, "argocd"), (None, None));
    }
}
