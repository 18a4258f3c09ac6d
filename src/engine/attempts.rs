//! One step's attempts: the job made from its action, run and raced against the operator's abort,
//! judged against its expectations, its captures and secrets taken, retried with back-off.
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::capture;
use super::journal::PendingRetry;
use super::outcome::{Attempt, EngineError, Unanswered};
use super::state::Engine;
use super::transition::Transition;
use super::values::StepValues;
use crate::exec::{Job, JobCommon, OutputSink, TYPED, Work};
use crate::protocol::{Command, Event, Secret, StepStatus, Stream};
use crate::runbook::{Step, vars};

impl Engine {
    /// Runs a step's attempts, from the first, or — when `pending` is a retry the journal had
    /// scheduled when the run stopped — from that attempt, after what was left of its delay.
    pub(super) async fn attempts(
        &mut self,
        step: &Step,
        pending: Option<PendingRetry>,
    ) -> Result<Attempt, EngineError> {
        let id = step.id.value.clone();
        let max = step.attempts();
        let retries = step.retries.as_ref();
        let base = retries
            .and_then(|r| r.delay.as_ref())
            .and_then(|d| vars::parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(1));
        let backoff = retries.and_then(|r| r.backoff).unwrap_or(2.0);
        let start = pending.as_ref().map_or(1, |p| p.next_attempt.clamp(1, max));
        // The delay after attempt k is the base times backoff^(k-1), at most 5 minutes.
        let mut delay = Duration::from_secs_f64(
            (base.as_secs_f64() * backoff.powi(start as i32 - 1)).min(300.0),
        );
        let first = self.replay.attempts.get(&id).copied().unwrap_or(0);
        if let Some(p) = &pending {
            let left = left_of(p);
            self.emit(Event::Note(format!(
                "step {id}: attempt {start}/{max}, scheduled before the restart, in {:.1}s",
                left.as_secs_f64()
            )))
            .await;
            if self.wait_retry(left).await {
                return Ok(Attempt::Aborted);
            }
        }
        let mut last_error = String::new();
        // A value typed at a prompt serves this step's retries; a retry chosen at the failure
        // gate asks again.
        let mut typed: Option<Secret> = None;
        for attempt in start..=max {
            self.transition(Transition::StepStarted {
                step: id.clone(),
                title: self.vars.render(&step.title),
                attempt,
                attempts: max,
                attempt_in_run: first + attempt - start + 1,
                command: self
                    .vars
                    .masker()
                    .mask(&self.step_command(step))
                    .into_owned(),
            })
            .await?;
            let started = Instant::now();
            if typed.is_none()
                && let Some((req, what)) = self.value_request(step)
            {
                match self.ask_value(req).await {
                    Ok(value) => typed = Some(value),
                    Err(why) => {
                        let (error, attempt) = match why {
                            Unanswered::Aborted => {
                                ("aborted by the operator".to_string(), Attempt::Aborted)
                            }
                            Unanswered::No(why) => {
                                let e = format!("{what}: {why}");
                                (e.clone(), Attempt::Failed(e))
                            }
                        };
                        self.finish_step(
                            &id,
                            StepStatus::Failed,
                            None,
                            started.elapsed(),
                            Some(error),
                            Vec::new(),
                        )
                        .await?;
                        // Not retried by itself: nothing was tried.
                        return Ok(attempt);
                    }
                }
            }
            let mut job = self.job(step);
            let (started_tx, mut started_rx) = tokio::sync::mpsc::channel(1);
            job.common.started = Some(started_tx);
            if let (Some(value), Work::Aws(call)) = (&typed, &mut job.work) {
                call.secret_values.push((TYPED.to_string(), value.clone()));
            }
            let sink = OutputSink {
                step: id.clone(),
                events: self.events.clone(),
                masker: self.vars.masker().clone(),
                hold_stdout: step.capture.iter().any(|c| c.secret),
                last: Default::default(),
            };
            let (cancel_tx, cancel_rx) = watch::channel(false);
            let executor = self.executor.clone();
            let exec = executor.execute(&job, &sink, cancel_rx);
            tokio::pin!(exec);
            let outcome = loop {
                tokio::select! {
                    o = &mut exec => break o,
                    Some(started) = started_rx.recv() => {
                        // Journaled (fsync'ed) before the process is released to run.
                        self.transition(Transition::StepProcess {
                            step: id.clone(),
                            proc: started.proc,
                        })
                        .await?;
                        let _ = started.ack.send(());
                    }
                    cmd = self.commands.recv(), if self.commands_open => match cmd {
                        None => self.commands_open = false,
                        Some(Command::Abort) => {
                            self.aborted = true;
                            let _ = cancel_tx.send(true);
                        }
                        Some(Command::Decide(d)) => {
                            self.emit(Event::DecisionRefused {
                                gate: d.gate,
                                reason: "no gate is open".into(),
                            })
                            .await;
                        }
                        Some(Command::Pause(_) | Command::Value { .. }) => {}
                        Some(other) => {
                            self.aside(other).await?;
                        }
                    },
                }
            };
            let duration = started.elapsed();
            // Secret values the step read: into the mask first, before anything else is shown.
            self.set_secrets(&outcome.secrets).await?;
            for change in &outcome.changes {
                self.transition(Transition::Changed {
                    step: id.clone(),
                    change: change.clone(),
                })
                .await?;
                self.changes
                    .entry(id.clone())
                    .or_default()
                    .push(change.clone());
            }
            let verdict = self.judge(step, &outcome);
            let held = sink.hold_stdout;
            match verdict {
                Ok(()) => {
                    let captured = self.capture(step, &outcome.stdout).await;
                    if held {
                        self.show_held(&id, &outcome.stdout).await;
                    }
                    match captured {
                        Ok(()) => {
                            self.finish_step(
                                &id,
                                StepStatus::Succeeded,
                                outcome.exit_code,
                                duration,
                                None,
                                Vec::new(),
                            )
                            .await?;
                            return Ok(Attempt::Ok);
                        }
                        Err(e) => last_error = e,
                    }
                }
                Err(e) => {
                    if held {
                        self.show_held(&id, &outcome.stdout).await;
                    }
                    last_error = e;
                }
            }
            self.finish_step(
                &id,
                StepStatus::Failed,
                outcome.exit_code,
                duration,
                Some(last_error.clone()),
                sink.last.take(),
            )
            .await?;
            if outcome.cancelled || self.aborted {
                return Ok(Attempt::Aborted);
            }
            if attempt < max {
                self.transition(Transition::RetryScheduled {
                    step: id.clone(),
                    next_attempt: attempt + 1,
                    attempts: max,
                    delay,
                })
                .await?;
                if self.wait_retry(delay).await {
                    return Ok(Attempt::Aborted);
                }
                delay = Duration::from_secs_f64((delay.as_secs_f64() * backoff).min(300.0));
            }
        }
        Ok(Attempt::Failed(last_error))
    }

    /// Waits before a retry; true when the operator aborted meanwhile.
    async fn wait_retry(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return false,
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    None => self.commands_open = false,
                    Some(Command::Abort) => return true,
                    // A failed journal write is met again by the retry's first record.
                    Some(other) => {
                        let _ = self.aside(other).await;
                    }
                },
            }
        }
    }

    pub(super) fn job(&self, step: &Step) -> Job {
        let run = step
            .run
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        let keep = if !step.capture.is_empty()
            || step.expect.output_contains.is_some()
            || step.expect.output_not_contains.is_some()
            || step.expect.output_matches.is_some()
        {
            16 * 1024 * 1024
        } else {
            0
        };
        let mut env = self.vars.env();
        for (k, v) in &run.env {
            // Env values may name secrets: they are filled from the real values here and only
            // ever reach the process environment.
            let value = vars::render(v, |n| self.vars.get(n).map(|x| x.value.clone()));
            env.push((k.clone(), value));
        }
        env.push(("TOLLGATE_RUN_ID".into(), self.run_id.clone()));
        env.push(("TOLLGATE_STEP".into(), step.id.value.clone()));
        let values = StepValues { engine: self };
        Job {
            common: JobCommon {
                step: step.id.value.clone(),
                workdir: match &run.workdir {
                    Some(w) => self.dir.join(self.vars.render(w)),
                    None => self.dir.clone(),
                },
                env,
                timeout: step
                    .expect
                    .timeout
                    .as_ref()
                    .and_then(|t| vars::parse_duration(t).ok()),
                keep_stdout: keep,
                started: None,
                environment: None,
            },
            work: Work::of(&run, &values),
        }
    }

    pub(super) fn judge(&self, step: &Step, o: &crate::exec::Outcome) -> Result<(), String> {
        if let Some(e) = &o.error {
            return Err(e.clone());
        }
        if o.cancelled {
            return Err("aborted by the operator".into());
        }
        if o.timed_out {
            let t = step.expect.timeout.as_ref().map_or("", |t| t.as_str());
            return Err(format!("timed out after {t}"));
        }
        let expected = step.expect.exit_code.unwrap_or(0);
        match (o.exit_code, o.signal) {
            (Some(c), _) if c != expected => {
                return Err(format!("exit code {c}, expected {expected}"));
            }
            (None, Some(sig)) => return Err(format!("killed by signal {sig}")),
            _ => {}
        }
        let e = &step.expect;
        if let Some(s) = &e.output_contains {
            let s = self.vars.render(s);
            if !o.stdout.contains(&s) {
                return Err(format!("output does not contain `{s}`"));
            }
        }
        if let Some(s) = &e.output_not_contains {
            let s = self.vars.render(s);
            if o.stdout.contains(&s) {
                return Err(format!("output contains `{s}`"));
            }
        }
        if let Some(re) = &e.output_matches {
            let ok = regex::Regex::new(re).map(|r| r.is_match(&o.stdout));
            if ok != Ok(true) {
                return Err(format!("output does not match `{}`", re.value));
            }
        }
        Ok(())
    }

    /// Shows the stdout of a step that captured a secret, with the secret masked.
    pub(super) async fn show_held(&self, id: &str, stdout: &str) {
        if !stdout.is_empty() {
            let text = std::sync::Arc::from(&*self.vars.masker().mask(stdout));
            self.emit(Event::Output {
                step: id.to_string(),
                stream: Stream::Stdout,
                text,
            })
            .await;
        }
    }

    /// Sets the secret variables a step read (e.g. `secrets.get`): masked from now on, journaled
    /// as set without their value.
    pub(super) async fn set_secrets(
        &mut self,
        secrets: &[(String, Secret)],
    ) -> Result<(), EngineError> {
        for (name, value) in secrets {
            self.vars.set(name, value.0.clone(), true);
        }
        for (name, _) in secrets {
            self.transition(Transition::VarCaptured {
                name: name.clone(),
                value: None,
            })
            .await?;
        }
        Ok(())
    }

    pub(super) async fn capture(&mut self, step: &Step, stdout: &str) -> Result<(), String> {
        for cap in &step.capture {
            let value = capture::extract(cap, stdout)?;
            // A value holding a secret (in any form the mask knows) is a secret itself: masked,
            // never journaled, whatever the variable was declared as.
            let secret = cap.secret
                || self.vars.get(&cap.var).is_some_and(|v| v.secret)
                || self.vars.masker().contains(&value);
            self.vars.set(&cap.var, value.clone(), secret);
            self.transition(Transition::VarCaptured {
                name: cap.var.value.clone(),
                value: (!secret).then_some(value),
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What is left of a pending retry's delay: its delay less the time since it was scheduled
/// (all of it if that time cannot be read, none of it once it has passed).
fn left_of(p: &PendingRetry) -> Duration {
    let delay = Duration::from_millis(p.delay_ms);
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(&p.at) else {
        return delay;
    };
    let since = chrono::Utc::now().signed_duration_since(at);
    since
        .to_std()
        .map_or(delay, |since| delay.saturating_sub(since))
}
