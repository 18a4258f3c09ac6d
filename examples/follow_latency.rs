//! Follower latency and the driver's cost of followers: `tollgate run --headless` (a release
//! binary) runs a one-step runbook whose step prints `--lines` lines, while 0, 1 or 10 followers
//! read the run's socket (`STATE/runs/ID/follow.sock`) as `tollgate follow` does.
//!
//! ```sh
//! follow_latency bench --tollgate target/release/tollgate [--lines 2000000] [--every 1000]
//!                [--runs 5] [--followers 1,10] [--dir /dev/shm]
//! follow_latency gen LINES [--every K] [--go FILE]     # the step's generator (this binary)
//! ```
//!
//! The step is this binary (`gen`): it waits for `--go` to exist (the followers are connected
//! and have read their `hello` by then), then prints the lines `1`..`N`, every K-th one as
//! `T <ns> <i>`: the time it was printed (`CLOCK_REALTIME`, nanoseconds since the epoch), taken
//! just before the write that carries it (each stamped line ends a write, so no stamp waits in
//! the generator's buffer). Each follower is a thread with its own connection: it reads the
//! `hello`, then each JSON line, decodes it with serde_json into `ToFollower` (the
//! `tollgate::protocol::Event` inside), and for each stamped line of an `Output` event the
//! first time it sees it, records receive time − stamp, the receive time taken after the
//! event is decoded. Every line's number is checked off: lines received, distinct, repeats
//! (a follower that fell behind is sent the whole state again, `Resent`), and missing.
//!
//! The driver's wall time is from the go file to the `tollgate` process's exit (the step and
//! the run's end; the process's start and the followers' connecting are not in it); the
//! driver's CPU is the children's (`tollgate` and the generator). The headless output goes to
//! a file beside the state, and is checked: exactly N lines of the step. Follower counts are
//! interleaved run by run, after one untimed warm-up; wall and CPU are medians over the runs,
//! latencies are pooled over all followers of all runs of a count.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tollgate::protocol::Event;
use tollgate::share::wire::ToFollower;

/// How long anything may take before the run counts as stuck.
const DEADLINE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => generate(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => Err(
            "usage: follow_latency bench --tollgate BIN [--lines N] [--every K] \
                  [--runs R] [--followers 1,10] [--dir DIR] | follow_latency gen N [--every K] \
                  [--go FILE]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("follow_latency: {e}");
            ExitCode::from(2)
        }
    }
}

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn num(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match opt(args, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} {v}: not a whole number")),
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Waits for `ready` to say yes, polling every millisecond, for at most `DEADLINE`.
fn wait_for(what: &str, mut ready: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let end = Instant::now() + DEADLINE;
    while !ready()? {
        if Instant::now() > end {
            return Err(format!("{what}: not after {}s", DEADLINE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

// ---- the step ----

fn generate(args: &[String]) -> Result<(), String> {
    let lines: u64 = args
        .first()
        .and_then(|n| n.parse().ok())
        .ok_or("gen LINES: a whole number of lines")?;
    let every = num(args, "--every", 1000)?.max(1);
    if let Some(go) = opt(args, "--go") {
        let go = PathBuf::from(go);
        wait_for("the go file", || Ok(go.exists()))?;
    }
    let out = std::io::stdout().lock();
    let mut w = BufWriter::with_capacity(1 << 16, out);
    let mut write = || -> std::io::Result<()> {
        for i in 1..=lines {
            if i % every == 0 {
                writeln!(w, "T {} {i}", now_ns())?;
                w.flush()?;
            } else {
                writeln!(w, "{i}")?;
            }
        }
        w.flush()
    };
    let wrote = write();
    // When the last line was written, for the step's time.
    if let Some(done) = opt(args, "--done") {
        std::fs::write(&done, now_ns().to_string()).map_err(|e| format!("{done}: {e}"))?;
    }
    match wrote {
        Ok(()) => Ok(()),
        // The reader went away: nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing: {e}")),
    }
}

// ---- a follower ----

#[derive(Default)]
struct Followed {
    /// Output lines received, repeats included.
    lines: u64,
    distinct: u64,
    repeats: u64,
    output_events: u64,
    resent: u64,
    /// The follower thread's CPU.
    cpu: Duration,
    /// When `RunFinished` arrived.
    finished: Option<i128>,
    /// Receive − stamp, nanoseconds, for each stamped line the first time it arrived.
    latencies: Vec<i64>,
    notes: Vec<String>,
    error: Option<String>,
}

fn follow(socket: &Path, n: u64, ready: mpsc::Sender<Result<(), String>>) -> Followed {
    let mut f = Followed::default();
    if let Err(e) = follow_into(socket, n, &ready, &mut f) {
        // Before the hello, the bench waits for this.
        let _ = ready.send(Err(e.clone()));
        f.error = Some(e);
    }
    f.cpu = cpu(libc::RUSAGE_THREAD);
    f
}

fn follow_into(
    socket: &Path,
    n: u64,
    ready: &mpsc::Sender<Result<(), String>>,
    f: &mut Followed,
) -> Result<(), String> {
    // The socket's file is there from bind(2), a moment before listen(2): refused until then.
    let mut conn = None;
    wait_for("connecting", || match UnixStream::connect(socket) {
        Ok(s) => {
            conn = Some(s);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(false),
        Err(e) => Err(format!("connect: {e}")),
    })?;
    let s = conn.ok_or("connect: no connection")?;
    s.set_read_timeout(Some(DEADLINE))
        .map_err(|e| format!("read timeout: {e}"))?;
    let mut r = BufReader::with_capacity(1 << 16, s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| format!("hello: {e}"))?;
    match serde_json::from_str::<ToFollower>(&line) {
        Ok(ToFollower::Hello(_)) => {}
        _ => return Err(format!("no hello first: {}", line.trim_end())),
    }
    let _ = ready.send(Ok(()));
    let mut seen = vec![0u64; (n as usize).div_ceil(64) + 1];
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
        let msg = serde_json::from_str::<ToFollower>(&line)
            .map_err(|e| format!("a line that is not the wire format: {e}"))?;
        let at = now_ns();
        let ToFollower::Event { event } = msg else {
            continue;
        };
        match event {
            Event::Output { text, .. } => {
                f.output_events += 1;
                for l in text.split_terminator('\n') {
                    let (stamp, seq) = match l.strip_prefix("T ") {
                        Some(rest) => {
                            let mut p = rest.split(' ');
                            let ns = p.next().and_then(|v| v.parse::<i128>().ok());
                            (ns, p.next().and_then(|v| v.parse::<u64>().ok()))
                        }
                        None => (None, l.parse::<u64>().ok()),
                    };
                    let Some(seq) = seq.filter(|s| (1..=n).contains(s)) else {
                        return Err(format!("a line not of the generator: {l:?}"));
                    };
                    f.lines += 1;
                    let (word, bit) = ((seq / 64) as usize, seq % 64);
                    if seen[word] & (1 << bit) != 0 {
                        f.repeats += 1;
                        continue;
                    }
                    seen[word] |= 1 << bit;
                    f.distinct += 1;
                    if let Some(ns) = stamp {
                        f.latencies.push((at - ns) as i64);
                    }
                }
            }
            Event::Resent => f.resent += 1,
            Event::Note(s) => f.notes.push(s),
            Event::RunFinished { .. } => f.finished = Some(at),
            _ => {}
        }
    }
    Ok(())
}

// ---- one run ----

struct Run {
    followers: Vec<Followed>,
    /// From the go file to the step's last line written.
    step: Duration,
    /// From the go file to the driver's exit.
    wall: Duration,
    /// From the go file to the last follower's `RunFinished`.
    followers_done: Option<Duration>,
    /// The driver's and the step's CPU (user + system).
    cpu: Duration,
}

fn children_cpu() -> Duration {
    cpu(libc::RUSAGE_CHILDREN)
}

/// User + system CPU of `who` (`RUSAGE_CHILDREN`, `RUSAGE_THREAD`).
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given; zeroes are a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn socket_in(state: &Path) -> Option<PathBuf> {
    std::fs::read_dir(state.join("runs"))
        .ok()?
        .flatten()
        .map(|e| e.path().join(tollgate::share::SOCKET))
        .find(|p| p.exists())
}

fn one_run(
    tollgate: &Path,
    me: &Path,
    base: &Path,
    followers: usize,
    lines: u64,
    every: u64,
) -> Result<Run, String> {
    let keep_stuck = std::env::var_os("FOLLOW_LATENCY_KEEP_STUCK").is_some();
    let dir = tempfile::Builder::new()
        .prefix("tg-follow-latency.")
        .disable_cleanup(keep_stuck)
        .tempdir_in(base)
        .map_err(|e| format!("a temporary folder in {}: {e}", base.display()))?;
    let state = dir.path().join("state");
    let go = dir.path().join("go");
    let done = dir.path().join("done");
    let runbook = dir.path().join("follow.yaml");
    let out_path = dir.path().join("out.txt");
    std::fs::write(
        &runbook,
        format!(
            "name: follow latency\nphases:\n  - id: bench\n    title: Bench\n    steps:\n      \
             - id: gen\n        title: {lines} lines\n        run: \"'{}' gen {lines} --every \
             {every} --go '{}' --done '{}'\"\n",
            me.display(),
            go.display(),
            done.display()
        ),
    )
    .map_err(|e| format!("the runbook: {e}"))?;
    let out = std::fs::File::create(&out_path).map_err(|e| format!("{e}"))?;
    let err = std::fs::File::create(dir.path().join("err.txt")).map_err(|e| format!("{e}"))?;
    let cpu0 = children_cpu();
    let mut child = Command::new(tollgate)
        .arg("--state-dir")
        .arg(&state)
        .arg("run")
        .arg(&runbook)
        .args(["--headless", "--approve-all"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{}: {e}", tollgate.display()))?;
    let pid = child.id();
    let stop = |why: String| -> String {
        if keep_stuck {
            // To look at what it waits for: its process and folder left as they are.
            return format!(
                "{why}; tollgate (pid {pid}) left running in {}",
                state.display()
            );
        }
        // SAFETY: a signal to the process this run started, by its id.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        why
    };
    let mut socket = None;
    let found = wait_for("the run's socket", || {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("tollgate ended before its socket was there: {st}"));
        }
        socket = socket_in(&state);
        Ok(socket.is_some())
    });
    if let Err(e) = found {
        return Err(stop(e));
    }
    let socket = socket.unwrap_or_default();
    let (ready_tx, ready_rx) = mpsc::channel();
    let threads: Vec<_> = (0..followers)
        .map(|_| {
            let (s, tx) = (socket.clone(), ready_tx.clone());
            std::thread::spawn(move || follow(&s, lines, tx))
        })
        .collect();
    drop(ready_tx);
    for _ in 0..followers {
        match ready_rx.recv_timeout(DEADLINE) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(stop(format!("a follower: {e}"))),
            Err(_) => return Err(stop("a follower had no hello".into())),
        }
    }
    let t_go = Instant::now();
    let go_ns = now_ns();
    std::fs::write(&go, b"").map_err(|e| stop(format!("the go file: {e}")))?;
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let st = child.wait();
        let _ = done_tx.send(Instant::now());
        st
    });
    let t_end = done_rx
        .recv_timeout(DEADLINE)
        .map_err(|_| stop("tollgate did not end in time".into()))?;
    let status = waiter
        .join()
        .map_err(|_| "the waiting thread failed".to_string())?
        .map_err(|e| format!("waiting for tollgate: {e}"))?;
    let cpu = children_cpu().saturating_sub(cpu0);
    if !status.success() {
        let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap_or_default();
        return Err(format!("tollgate ended {status}: {}", err.trim()));
    }
    let followed: Vec<Followed> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_default())
        .collect();
    // The driver's own output: every line of the step.
    let text = std::fs::read(&out_path).map_err(|e| format!("{e}"))?;
    let shown = text
        .split(|b| *b == b'\n')
        .filter(|l| l.windows(7).any(|w| w == b" gen | "))
        .count() as u64;
    if shown != lines {
        return Err(format!(
            "the driver showed {shown} lines of the step, not {lines}"
        ));
    }
    let done_ns: i128 = std::fs::read_to_string(&done)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("the step did not say when it was done")?;
    let since_go = |ns: i128| Duration::from_nanos((ns - go_ns).max(0) as u64);
    let followers_done = followed
        .iter()
        .map(|f| f.finished)
        .collect::<Option<Vec<i128>>>()
        .and_then(|v| v.into_iter().max())
        .map(since_go);
    if keep_stuck {
        let _ = std::fs::remove_dir_all(dir.path());
    }
    Ok(Run {
        followers: followed,
        step: since_go(done_ns),
        wall: t_end - t_go,
        followers_done,
        cpu,
    })
}

// ---- the bench ----

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest rank.
fn pct(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

fn bench(args: &[String]) -> Result<(), String> {
    let tollgate = PathBuf::from(opt(args, "--tollgate").ok_or("--tollgate BIN is needed")?);
    let lines = num(args, "--lines", 2_000_000)?;
    let every = num(args, "--every", 1000)?.max(1);
    let runs = num(args, "--runs", 5)?.max(1) as usize;
    let counts: Vec<usize> = opt(args, "--followers")
        .unwrap_or_else(|| "1,10".into())
        .split(',')
        .map(|c| c.trim().parse().map_err(|_| format!("--followers: {c}?")))
        .collect::<Result<_, _>>()?;
    let base = PathBuf::from(opt(args, "--dir").unwrap_or_else(|| {
        if Path::new("/dev/shm").is_dir() {
            "/dev/shm".into()
        } else {
            std::env::temp_dir().display().to_string()
        }
    }));
    let me = std::env::current_exe().map_err(|e| format!("this binary: {e}"))?;
    let mut all: Vec<usize> = vec![0];
    all.extend(counts.iter().copied().filter(|c| *c != 0));

    one_run(&tollgate, &me, &base, 1, lines, every).map_err(|e| format!("warm-up: {e}"))?;
    let mut results: Vec<Vec<Run>> = all.iter().map(|_| Vec::new()).collect();
    for r in 0..runs {
        for (i, &f) in all.iter().enumerate() {
            let run = one_run(&tollgate, &me, &base, f, lines, every)
                .map_err(|e| format!("run {} with {f} followers: {e}", r + 1))?;
            eprintln!(
                "run {}/{runs}, {f:>2} followers: step {:.1} ms, driver's exit {:.1} ms",
                r + 1,
                ms(run.step),
                ms(run.wall)
            );
            results[i].push(run);
        }
    }

    println!(
        "{lines} lines, every {every}th stamped; {runs} runs per count, interleaved, after a \
         warm-up; state and output in {}",
        base.display()
    );
    println!();
    println!(
        "| followers | step: go → last line printed (ms) | ratio | driver's exit (ms) | ratio | \
         driver CPU (ms) | ratio | followers' CPU (ms) | last follower has the end (ms) | latency p50 (ms) | p99 (ms) \
         | max (ms) | samples | lines per follower (fewest) | repeats, resent | output events \
         per follower |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let med =
        |rs: &[Run], pick: fn(&Run) -> Duration| median(rs.iter().map(|r| ms(pick(r))).collect());
    let none = &results[0];
    let (step0, wall0, cpu0) = (
        med(none, |r| r.step),
        med(none, |r| r.wall),
        med(none, |r| r.cpu),
    );
    let mut problems = Vec::new();
    for (i, &f) in all.iter().enumerate() {
        let rs = &results[i];
        let (step, wall, cpu) = (med(rs, |r| r.step), med(rs, |r| r.wall), med(rs, |r| r.cpu));
        let fcpu = median(
            rs.iter()
                .map(|r| r.followers.iter().map(|f| ms(f.cpu)).sum::<f64>() + 0.0)
                .collect(),
        );
        let caught_up: Vec<f64> = rs.iter().filter_map(|r| r.followers_done.map(ms)).collect();
        let fs: Vec<&Followed> = rs.iter().flat_map(|r| &r.followers).collect();
        let mut lat: Vec<i64> = fs
            .iter()
            .flat_map(|f| f.latencies.iter().copied())
            .collect();
        lat.sort_unstable();
        let fewest = fs.iter().map(|f| f.distinct).min();
        let repeats: u64 = fs.iter().map(|f| f.repeats).sum();
        let resent: u64 = fs.iter().map(|f| f.resent).sum();
        let events = median(fs.iter().map(|f| f.output_events as f64).collect());
        for (k, fl) in fs.iter().enumerate() {
            if let Some(e) = &fl.error {
                problems.push(format!("{f} followers, follower {k}: {e}"));
            }
            if fl.finished.is_none() {
                problems.push(format!("{f} followers, follower {k}: no RunFinished"));
            }
            if fl.distinct != lines {
                problems.push(format!(
                    "{f} followers, follower {k}: {} of {lines} lines ({} missing); notes: {:?}",
                    fl.distinct,
                    lines - fl.distinct,
                    fl.notes
                ));
            }
        }
        let dash = || "–".to_string();
        let or_dash = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.1}"));
        let p = |q: f64| (!lat.is_empty()).then(|| pct(&lat, q));
        println!(
            "| {f} | {step:.1} | {:.2} | {wall:.1} | {:.2} | {cpu:.1} | {:.2} | {fcpu:.1} | {} | {} | {} | {} \
             | {} | {} | {repeats}, {resent} | {} |",
            step / step0,
            wall / wall0,
            cpu / cpu0,
            or_dash((!caught_up.is_empty()).then(|| median(caught_up.clone()))),
            or_dash(p(0.50)),
            or_dash(p(0.99)),
            or_dash(p(1.0)),
            lat.len(),
            fewest.map_or_else(dash, |n| n.to_string()),
            or_dash((!fs.is_empty()).then_some(events)).trim_end_matches(".0"),
        );
    }
    if !problems.is_empty() {
        println!();
        for p in &problems {
            println!("- {p}");
        }
    }
    Ok(())
}
