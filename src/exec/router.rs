//! Sends each job to the executor of its family: the one place the families are listed on this
//! side (with [`super::Work`]).

use std::sync::Arc;

use tokio::sync::watch;

use super::aws::AwsExec;
use super::docker::DockerExec;
use super::http::HttpExec;
use super::job::{Executor, Job, Work};
use super::kube::KubeExec;
use super::shell::Shell;
use super::step::{BoxFuture, Outcome, OutputSink};

/// Scripts go to the shell, `kube.*` actions to the pinned cluster, AWS actions (`secrets.*`,
/// `ecr.*`, `aws.identity`) to the pinned account, `docker.*` actions to the daemon — each
/// when there is one — and `http.*` actions to the HTTP executor (always one).
pub struct Router {
    pub shell: Arc<dyn Executor>,
    pub kube: Option<Arc<KubeExec>>,
    /// Why there is no cluster, when one was wanted and could not be pinned.
    pub kube_error: Option<String>,
    /// AWS steps, against the pinned AWS account.
    pub aws: Option<Arc<AwsExec>>,
    pub docker: Option<Arc<DockerExec>>,
    /// HTTP steps: the system's resolver, or a rehearsal's (every host is the sandbox).
    pub http: Arc<HttpExec>,
    /// What the processes steps start inherit, when not tollgate's own environment (a
    /// rehearsal's): given to every job.
    pub environment: Option<crate::exec::environment::SharedEnvironment>,
}

impl Router {
    pub fn shell_only() -> Router {
        Router {
            shell: Arc::new(Shell),
            kube: None,
            kube_error: None,
            aws: None,
            docker: None,
            http: Arc::new(HttpExec::default()),
            environment: None,
        }
    }
}

impl Executor for Router {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        if let Some(env) = &self.environment
            && job.common.environment.is_none()
        {
            let mut job = job.clone();
            job.common.environment = Some(env.clone());
            return Box::pin(async move { self.execute(&job, sink, cancel).await });
        }
        let key = job.work.key();
        let missing = |why: String| -> BoxFuture<'a, Outcome> {
            Box::pin(async move { Outcome::failed(why) })
        };
        match &job.work {
            Work::Shell(_) => self.shell.execute(job, sink, cancel),
            Work::Kube(_) => match (&self.kube, &self.kube_error) {
                (Some(k), _) => k.execute(job, sink, cancel),
                (None, Some(e)) => missing(format!("`{key}` cannot run: {e}")),
                (None, None) => missing(format!(
                    "`{key}` needs a Kubernetes cluster, and none is configured"
                )),
            },
            Work::Aws(_) => match &self.aws {
                Some(a) => a.execute(job, sink, cancel),
                None => missing(format!(
                    "`{key}` needs an AWS account (`targets.aws`), and none is configured"
                )),
            },
            Work::Docker(_) => match &self.docker {
                Some(d) => d.execute(job, sink, cancel),
                None => missing("a docker step, and no Docker executor is configured".into()),
            },
            Work::Http(_) => self.http.execute(job, sink, cancel),
        }
    }
}
