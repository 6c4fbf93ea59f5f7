//! The expansion of `#[workflow]` leaves the user's lints to the user: these workflows, written
//! without a warning as plain code, compile here under `deny(warnings)` (and under clippy's
//! `-D warnings` in CI), and run straight and restored at every await.
#![deny(warnings)]

include!("support/lint_clean_workflows.rs");

use workflow_rt::testing::TestRun;

fn run<W: Workflow>(w: W, input: W::Input) -> W::Output
where
    W::Input: Clone,
    W::Output: PartialEq + std::fmt::Debug,
{
    let mut outs = Vec::new();
    for snapshots in [false, true] {
        let out = TestRun::new(w, "lint", input.clone())
            .with_activity(double)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap_or_else(|e| panic!("{}: {e}", W::NAME));
        outs.push(out.output);
    }
    let second = outs.pop().expect("two runs");
    let first = outs.pop().expect("two runs");
    assert_eq!(first, second, "straight and restored runs differ");
    first
}

#[test]
fn branches_run() {
    // x = 3: total = 6; picked = 20 (3 % 3 == 0); half = 40 / 2 = 20; 26.
    assert_eq!(run(branches, 3).unwrap(), 26);
    // x = 1: sleep; picked = 7 (after a sleep); half = 14 / 2 = 7.
    assert_eq!(run(branches, 1).unwrap(), 7);
    // x = 2: sleep; picked = 1; half = 1.
    assert_eq!(run(branches, 2).unwrap(), 1);
}

#[test]
fn loops_run() {
    // round 1: 2 < 6, continue; round 2: 4, continue; round 3: 6: first = 6.
    // sum = 6 + 2 + 4 = 12; not > 100: sleep, label 2.
    assert_eq!(run(loops, vec![1, 2]).unwrap(), 122);
    // sum = 6 + 100 = 106 > 100: label 1.
    assert_eq!(run(loops, vec![50]).unwrap(), 1061);
}

#[test]
fn deferred_runs() {
    assert_eq!(run(deferred, 21).unwrap(), vec![42]);
}
