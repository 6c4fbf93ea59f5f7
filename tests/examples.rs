//! The examples' workflows, run by a runtime that keeps their state between steps and by one
//! that restores it from the store at every step (`Builder::restore_every_step`): both must
//! give the same results.

mod support;

#[path = "../examples/checkout.rs"]
#[allow(dead_code)]
mod checkout;

#[path = "../examples/bench.rs"]
#[allow(dead_code)]
mod bench;

use std::time::Duration;

use support::{both_modes, builder, memory};
use workflow_rt::prelude::*;
use workflow_rt::store::Store;

/// The checkout saga as `cargo run --example checkout` runs it (SQLite, the system clock: the
/// approval that never comes times out after 3 s), in each mode on a new file and ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_gives_the_same_results_restored_at_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_modes(async |mode| {
        let db = dir.path().join(format!("checkout-{mode:?}.db"));
        checkout::open_ledger(&db.with_extension("ledger.db")).expect("ledger");
        let rt = mode
            .apply(checkout::register(Runtime::builder()))
            .store(SqliteStore::open(&db).expect("open"))
            .build()
            .await
            .expect("build");
        let results = tokio::time::timeout(Duration::from_secs(30), checkout::run_orders(&rt))
            .await
            .expect("in time")
            .expect("orders");
        let shown: Vec<(String, Result<String, String>)> = results
            .iter()
            .map(|(order, r)| {
                let r = r
                    .as_ref()
                    .map(|r| format!("{} / {} / {}", r.reservation, r.payment, r.tracking))
                    .map_err(|e| e.message.clone());
                (order.id.clone(), r)
            })
            .collect();
        let expected: Vec<(String, Result<String, String>)> = vec![
            ("order-1", Ok("rsv-order-1 / pay-order-1 / trk-order-1")),
            ("order-2", Err("shipping failed: no carrier takes it")),
            ("order-3", Err("payment failed: card declined")),
            ("order-4", Err("not approved")),
            ("order-5", Err("approval timed out")),
        ]
        .into_iter()
        .map(|(id, r)| {
            (
                id.to_string(),
                r.map(str::to_string).map_err(str::to_string),
            )
        })
        .collect();
        assert_eq!(shown, expected, "{mode:?}");
        let totals = checkout::ledger_totals().expect("ledger");
        assert_eq!(totals.charged_twice, 0);
        assert_eq!(
            (totals.charges, totals.refunds),
            (4, 3),
            "every order charged but the declined one; all refunded but the shipped one"
        );
        rt.shutdown().await;
        (results, totals)
    })
    .await;
}

/// The benchmark's chain of activity calls, to its output and its last snapshot byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_chain_gives_the_same_result_restored_at_every_step() {
    const STEPS: u64 = 300;
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = builder(mode, store.clone(), clock)
            .workflow(bench::chain)
            .activity(bench::noop)
            .build()
            .await
            .expect("build");
        let run = rt.start(bench::chain, "chain", STEPS).await.expect("start");
        rt.signal("chain", "go", 1u64).await.expect("signal");
        let out = support::within("the chain", run.result())
            .await
            .expect("result");
        assert_eq!(out, (0..STEPS).sum::<u64>() + 1);
        let rec = store.load_workflow("chain").await.expect("load");
        assert_eq!(
            rec.version,
            STEPS + 2,
            "the first step, one per call, the signal"
        );
        rt.shutdown().await;
        (out, rec.version, rec.snapshot)
    })
    .await;
}
