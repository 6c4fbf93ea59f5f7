//! Deterministic simulation (see `support/sim.rs`): the runtime driven by one seed, through
//! activities that fail, hang and heartbeat, signals at random moments, crashes and store
//! faults, with the invariants checked after every event and every output compared with a
//! run without faults.
//!
//! `cargo test --test simulation` runs a few hundred seeds; `WORKFLOW_SIM_SEEDS=n` runs seeds
//! 1 to n instead, and `WORKFLOW_SIM_SEED=s` replays seed `s`, printing its trace (a failure
//! prints its seed and that command). `cargo run --release --example simulate -- --seeds 5000`
//! runs thousands.

#[path = "support/sim.rs"]
mod sim;

/// How many seeds `cargo test` runs.
const DEFAULT_SEEDS: u64 = 300;

fn seeds() -> Vec<u64> {
    match (
        std::env::var("WORKFLOW_SIM_SEED"),
        std::env::var("WORKFLOW_SIM_SEEDS"),
    ) {
        (Ok(one), _) => vec![one.parse().expect("WORKFLOW_SIM_SEED is a number")],
        (_, Ok(n)) => (1..=n.parse::<u64>().expect("WORKFLOW_SIM_SEEDS is a number")).collect(),
        _ => (1..=DEFAULT_SEEDS).collect(),
    }
}

#[test]
fn every_seed_keeps_the_invariants() {
    let replay = std::env::var("WORKFLOW_SIM_SEED").is_ok();
    let seeds = seeds();
    let (mut crashes, mut faults, mut attempts, mut events) = (0, 0, 0, 0);
    for &seed in &seeds {
        match sim::run_seed(seed) {
            Ok(report) => {
                if replay {
                    for line in &report.trace {
                        println!("{line}");
                    }
                    println!(
                        "seed {seed}: trace hash {:016x}, {} events, {} crashes, {} store faults, {} attempts",
                        report.trace_hash(),
                        report.events,
                        report.crashes,
                        report.faults,
                        report.attempts
                    );
                }
                crashes += report.crashes;
                faults += report.faults;
                attempts += report.attempts;
                events += report.events;
            }
            Err(failure) => {
                if replay {
                    for line in &failure.trace {
                        println!("{line}");
                    }
                }
                panic!("{failure}");
            }
        }
    }
    eprintln!(
        "{} seeds: {events} events, {crashes} crashes, {faults} store faults, {attempts} activity attempts",
        seeds.len()
    );
    assert!(
        replay || (crashes > 0 && faults > 0),
        "the seeds crashed and faulted"
    );
}

/// The same seed gives the same run: the same decisions, the same outcomes, the same store
/// after every event.
#[test]
fn a_seed_replays_the_same_run() {
    for seed in 1..=20 {
        let a = sim::run_seed(seed).unwrap_or_else(|f| panic!("{f}"));
        let b = sim::run_seed(seed).unwrap_or_else(|f| panic!("{f}"));
        if let Some(k) =
            (0..a.trace.len().max(b.trace.len())).find(|&k| a.trace.get(k) != b.trace.get(k))
        {
            let dir = std::env::temp_dir();
            let (pa, pb) = (
                dir.join(format!("sim-{seed}-a.trace")),
                dir.join(format!("sim-{seed}-b.trace")),
            );
            let _ = std::fs::write(&pa, a.trace.join("\n"));
            let _ = std::fs::write(&pb, b.trace.join("\n"));
            panic!(
                "seed {seed}: two runs differ at line {k} of their traces (both in {} and {}):\n  {:?}\n  {:?}",
                pa.display(),
                pb.display(),
                a.trace.get(k),
                b.trace.get(k)
            );
        }
        assert_eq!(a.trace_hash(), b.trace_hash());
    }
}
