//! `#[nondeterministic(reason = "...")]` on a statement, an expression, a `match` arm and a
//! block: the checks skip what it covers, and the macro removes it.

use std::time::Duration;

use workflow_rt::prelude::*;

#[workflow]
async fn escape_hatch(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    #[nondeterministic(reason = "printed for the operator only; no command depends on it")]
    println!("order {order_id} resumed at {:?}", std::time::SystemTime::now());

    let t0 = #[nondeterministic(reason = "times the step for a log line")] std::time::Instant::now();
    println!("step took {:?}", t0.elapsed());

    let level = match order_id % 3 {
        #[nondeterministic(reason = "debug verbosity is per worker and only changes logging")]
        0 => std::env::var("ORDER_LOG").map(|v| v.len()).unwrap_or(0),
        n => n as usize,
    };

    #[nondeterministic(reason = "a worker-local hint for logs, never part of the workflow's result")]
    {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        println!("order {order_id} on {host} at level {level}");
    }

    ctx.sleep(Duration::from_secs(1)).await;
    Ok(order_id)
}

fn main() {
    use workflow_rt::testing::TestRun;
    let run = |snapshots: bool| {
        TestRun::new(escape_hatch, "order-5", 5)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap()
    };
    let (straight, restored) = (run(false), run(true));
    assert_eq!((&straight.output, &straight.commands), (&restored.output, &restored.commands));
    assert_eq!(straight.output, Ok(5));
    assert_eq!(straight.elapsed(), std::time::Duration::from_secs(1));
}
