//! Runs the deterministic simulation (tests/support/sim.rs) over many seeds:
//!
//! ```text
//! cargo run --release --example simulate -- --seeds 5000            # seeds 1..=5000
//! cargo run --release --example simulate -- --seeds 1000 --from 7000 --threads 2
//! cargo run --release --example simulate -- --seeds 200 --replay-check   # each seed twice
//! ```
//!
//! Prints seeds per second and every failing seed, with the command that replays it; exits
//! with an error if any failed.

#[path = "../tests/support/sim.rs"]
mod sim;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

struct Args {
    seeds: u64,
    from: u64,
    threads: usize,
    replay_check: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        seeds: 1000,
        from: 1,
        threads: 1,
        replay_check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || -> anyhow::Result<u64> {
            let v = it
                .next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))?;
            Ok(v.parse()?)
        };
        match arg.as_str() {
            "--seeds" => a.seeds = value()?,
            "--from" => a.from = value()?,
            "--threads" => a.threads = value()?.max(1) as usize,
            "--replay-check" => a.replay_check = true,
            other => anyhow::bail!(
                "unknown argument {other:?} (--seeds N, --from S, --threads T, --replay-check)"
            ),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let next = AtomicU64::new(args.from);
    let end = args.from + args.seeds;
    let failures: Mutex<Vec<String>> = Mutex::default();
    let totals: Mutex<(usize, usize, u64, u64)> = Mutex::default();
    let began = Instant::now();
    // The runtime's tasks never panic here; a panic is the harness's (a broken invariant).
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        return;
                    }
                    let outcome = std::panic::catch_unwind(|| {
                        let report = sim::run_seed(seed).map_err(|f| f.to_string())?;
                        if args.replay_check {
                            let again = sim::run_seed(seed).map_err(|f| f.to_string())?;
                            if again.trace_hash() != report.trace_hash() {
                                return Err(format!(
                                    "simulation seed {seed}: two runs gave different traces\n\
                                     replay it: WORKFLOW_SIM_SEED={seed} cargo test --test simulation -- --nocapture"
                                ));
                            }
                        }
                        Ok(report)
                    });
                    match outcome {
                        Ok(Ok(r)) => {
                            let mut t = totals.lock().unwrap();
                            t.0 += r.events;
                            t.1 += r.crashes;
                            t.2 += r.faults;
                            t.3 += r.attempts;
                        }
                        Ok(Err(message)) => {
                            eprintln!("{message}\n");
                            failures.lock().unwrap().push(format!("{seed}"));
                        }
                        Err(panic) => {
                            let what = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            eprintln!(
                                "simulation seed {seed} panicked: {what}\n\
                                 replay it: WORKFLOW_SIM_SEED={seed} cargo test --test simulation -- --nocapture\n"
                            );
                            failures.lock().unwrap().push(format!("{seed}"));
                        }
                    }
                }
            });
        }
    });
    let secs = began.elapsed().as_secs_f64();
    let (events, crashes, faults, attempts) = *totals.lock().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "{} seeds ({}..={}) in {secs:.1} s: {:.0} seeds/s on {} thread(s){}; {events} events, \
         {crashes} crashes, {faults} store faults, {attempts} activity attempts; {} failed{}",
        args.seeds,
        args.from,
        end - 1,
        args.seeds as f64 / secs,
        args.threads,
        if args.replay_check {
            ", each run twice"
        } else {
            ""
        },
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(": {}", failures.join(" "))
        }
    );
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} seeds failed", failures.len())
    }
}
