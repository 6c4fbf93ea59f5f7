//! The layout lock: the persisted layouts of this repository's example workflows are recorded
//! in `tests/layouts.txt`, and a layout that changes without a version bump fails here.
//! After an intended change (with its version bump or migration): `WORKFLOW_LAYOUTS=update
//! cargo test --test layouts`.

#[path = "../examples/checkout.rs"]
#[allow(dead_code)]
mod checkout;

#[path = "../examples/bench.rs"]
#[allow(dead_code)]
mod bench;

#[path = "../examples/upgrade.rs"]
#[allow(dead_code)]
mod upgrade;

#[path = "../examples/console.rs"]
#[allow(dead_code)]
mod console;

use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::testing::{LayoutError, check_layouts, record_layouts};

#[test]
fn the_example_workflows_layouts_are_the_recorded_ones() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/layouts.txt");
    check_layouts(
        file,
        &[
            checkout::checkout::description(),
            bench::chain::description(),
            upgrade::delivery_v1::description(),
            upgrade::delivery::description(),
            console::review::description(),
            console::tally::description(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A released workflow...
#[workflow(name = "reminder")]
async fn reminder(ctx: WorkflowCtx, days: u64) -> u64 {
    ctx.sleep(Duration::from_secs(days * 86_400)).await;
    days
}

/// ...changed in place: a variable now crosses the await (a new saved field).
#[workflow(name = "reminder", state = "EditedState")]
async fn edited(ctx: WorkflowCtx, days: u64) -> u64 {
    let twice = days * 2;
    ctx.sleep(Duration::from_secs(days * 86_400)).await;
    twice + days
}

/// ...and the same change with its version bumped.
#[workflow(name = "reminder", version = 2, state = "BumpedState")]
async fn bumped(ctx: WorkflowCtx, days: u64) -> u64 {
    let twice = days * 2;
    ctx.sleep(Duration::from_secs(days * 86_400)).await;
    twice + days
}

#[test]
fn a_layout_change_without_a_version_bump_fails_and_says_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("layouts.txt");
    record_layouts(&file, &[reminder::description()]).expect("record");
    check_layouts(&file, &[reminder::description()]).expect("unchanged");

    let err = check_layouts(&file, &[edited::description()]).unwrap_err();
    assert!(
        matches!(
            &err,
            LayoutError::Changed {
                version: 1,
                next: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    for part in [
        "the persisted layout of workflow \"reminder\" v1 changed without a version bump",
        "  + twice: u64",
        "version = 2",
        "keep the old function registered",
        "register a migration",
        "WORKFLOW_LAYOUTS=update",
    ] {
        assert!(text.contains(part), "{part:?} not in:\n{text}");
    }

    // The fix: bump the version. The new version is new to the file until it is recorded;
    // the old one stays recorded (its runs may still be stored).
    let err = check_layouts(&file, &[reminder::description(), bumped::description()]).unwrap_err();
    assert!(
        matches!(&err, LayoutError::New { version: 2, .. }),
        "{err:?}"
    );
    record_layouts(&file, &[bumped::description()]).expect("record");
    check_layouts(&file, &[reminder::description(), bumped::description()]).expect("both");
    let recorded = std::fs::read_to_string(&file).expect("read");
    assert!(recorded.contains("== reminder v1 ") && recorded.contains("== reminder v2 "));
}

/// The three workflows above also run, with everything in memory dropped and restored at
/// every await: the same outputs as plain runs.
#[test]
fn the_lock_demo_workflows_run_restored_at_every_await() {
    use workflow_rt::testing::TestRun;
    let plain = TestRun::new(reminder, "r", 2).run().expect("run").output;
    let restored = TestRun::new(reminder, "r", 2)
        .snapshot_every_await(true)
        .run()
        .expect("run")
        .output;
    assert_eq!((plain, restored), (2, 2));
    for out in [
        TestRun::new(edited, "e", 2)
            .snapshot_every_await(true)
            .run(),
        TestRun::new(edited, "e", 2).run(),
    ] {
        assert_eq!(out.expect("run").output, 6);
    }
    for out in [
        TestRun::new(bumped, "b", 2)
            .snapshot_every_await(true)
            .run(),
        TestRun::new(bumped, "b", 2).run(),
    ] {
        assert_eq!(out.expect("run").output, 6);
    }
}
