//! A step's interpreter held before it runs anything: the child, forked, reports its pid on
//! one pipe and waits on another; a helper thread reports the process (group, pid, start time)
//! and releases the child once the receiver has recorded it. If tollgate dies meanwhile, the
//! release pipe closes unwritten and the child exits without running the step.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::exec::procs::{ProcStart, Started, StartedTx, boot_id, start_ticks};

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh, open, and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The process as started, for the journal.
fn proc_start(pid: i32) -> ProcStart {
    ProcStart {
        pgid: pid,
        pid,
        start_ticks: start_ticks(pid).unwrap_or_default(),
        boot_id: boot_id(),
    }
}

/// Keeps the thread that started a held child alive while the child runs (its death signal,
/// `PR_SET_PDEATHSIG`, follows that thread); dropped when the step ends.
pub struct Keeper(#[allow(dead_code)] oneshot::Sender<()>);

/// Spawns `cmd` (in its own process group) held until `report`'s receiver has recorded it. The
/// fork happens on a thread of its own, kept until the step ends, so the caller's task stays free
/// to record the report.
pub async fn spawn(mut cmd: Command, report: StartedTx) -> io::Result<(Child, Keeper)> {
    let (report_r, report_w) = pipe()?;
    let (release_r, release_w) = pipe()?;
    let (rw, rr, lw) = (
        report_w.as_raw_fd(),
        release_r.as_raw_fd(),
        release_w.as_raw_fd(),
    );
    // SAFETY: only async-signal-safe calls (getpid, write, close, read) after the fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::close(lw);
            let pid = libc::getpid().to_ne_bytes();
            if libc::write(rw, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
                return Err(io::Error::last_os_error());
            }
            libc::close(rw);
            let mut byte = 0u8;
            loop {
                match libc::read(rr, (&mut byte as *mut u8).cast(), 1) {
                    1 => return Ok(()),
                    n if n < 0 && *libc::__errno_location() == libc::EINTR => continue,
                    _ => {
                        return Err(io::Error::other(
                            "not released: the step's process was not recorded",
                        ));
                    }
                }
            }
        });
    }
    std::thread::spawn(move || {
        let mut report_r = std::fs::File::from(report_r);
        let mut pid = [0u8; 4];
        // End of file: the child never got this far (the spawn failed).
        if report_r.read_exact(&mut pid).is_err() {
            return;
        }
        let (ack, acked) = oneshot::channel();
        let started = Started {
            proc: proc_start(i32::from_ne_bytes(pid)),
            ack,
        };
        if report.blocking_send(started).is_ok() && acked.blocking_recv().is_ok() {
            let _ = std::fs::File::from(release_w).write_all(&[1]);
        }
        // Otherwise `release_w` closes unwritten and the child gives up.
    });
    let handle = tokio::runtime::Handle::current();
    let (child_tx, child_rx) = oneshot::channel();
    let (keep_tx, keep_rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _runtime = handle.enter();
        let spawned = cmd.spawn();
        // The child has its own copies (or never started): the reporter sees the end of the
        // report pipe if the child never wrote to it.
        drop(report_w);
        drop(release_r);
        let started = spawned.is_ok();
        let _ = child_tx.send(spawned);
        if started {
            let _ = keep_rx.blocking_recv();
        }
    });
    let child = child_rx
        .await
        .map_err(|_| io::Error::other("the thread starting the step went away"))??;
    Ok((child, Keeper(keep_tx)))
}
