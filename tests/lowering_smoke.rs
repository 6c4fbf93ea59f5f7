use std::time::Duration;

use workflow_rt::machine::{CtxState, Pending, Resolution, Step, resume};
use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub cents: u64,
}

#[activity]
async fn charge(_ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> {
    Ok(format!("pay-{}", order.id))
}

#[activity]
async fn refund(_ctx: ActivityCtx, payment: String) -> Result<(), ActivityError> {
    let _ = payment;
    Ok(())
}

#[workflow]
async fn checkout(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let payment = ctx
        .activity(charge, order.clone())
        .retry(RetryPolicy::exponential(Duration::from_millis(200)).max_attempts(5))
        .await?;
    match ctx
        .signal::<bool>("approve")
        .timeout(Duration::from_secs(7 * 24 * 3600))
        .await
    {
        Some(true) => {}
        _ => {
            ctx.activity(refund, payment.clone()).await?;
            return Err(WorkflowError::msg("not approved"));
        }
    }
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(payment)
}

#[workflow]
async fn loops(ctx: WorkflowCtx, items: Vec<Order>) -> Result<u64, WorkflowError> {
    let mut total: u64 = 0;
    for item in items {
        let p = ctx.activity(charge, item.clone()).await?;
        total += p.len() as u64 + item.cents;
    }
    let mut n = 0u32;
    'outer: loop {
        n += 1;
        while n < 3 {
            ctx.sleep(Duration::from_secs(1)).await;
            n += 1;
            if n == 2 {
                continue 'outer;
            }
        }
        break;
    }
    Ok(total + n as u64)
}

/// Runs a workflow answering every activity with `answer`, every signal with `true`, and
/// timers immediately; round-trips the state through postcard at every await.
fn drive<W: Workflow>(
    input: W::Input,
    answer: impl Fn(&str, &[u8]) -> Vec<u8>,
) -> (W::Output, usize) {
    let mut state = W::start(input);
    let mut ctx = CtxState::new(0, 0, 0);
    let mut wake = None;
    let mut steps = 0;
    loop {
        steps += 1;
        let bytes = postcard::to_stdvec(&state).unwrap();
        state = postcard::from_bytes(&bytes).unwrap();
        match resume::<W>("t", &mut ctx, &mut state, wake.take()) {
            Step::Completed(o) => return (o, steps),
            Step::Failed(e) => panic!("failed: {e}"),
            Step::Suspended(p) => {
                let r = p.try_resolve(&mut |leaf| match leaf {
                    Pending::Activity { name, input, .. } => {
                        Some(Resolution::Activity(Ok(answer(name, input))))
                    }
                    Pending::Timer { .. } => Some(Resolution::Timer),
                    Pending::Signal { .. } => Some(Resolution::Signal {
                        event: 0,
                        payload: postcard::to_stdvec(&true).unwrap(),
                        type_tag: None,
                    }),
                    _ => None,
                });
                wake = r;
            }
        }
    }
}

fn answer(name: &str, input: &[u8]) -> Vec<u8> {
    match name {
        "charge" => {
            let o: Order = postcard::from_bytes(input).unwrap();
            postcard::to_stdvec(&format!("pay-{}", o.id)).unwrap()
        }
        _ => postcard::to_stdvec(&()).unwrap(),
    }
}

#[test]
fn checkout_runs() {
    let (out, steps) = drive::<checkout>(Order { id: 7, cents: 10 }, answer);
    assert_eq!(out, Ok("pay-7".to_string()));
    assert_eq!(steps, 4);
    println!("{}", checkout::description().to_text());
}

#[test]
fn loops_run() {
    let items = vec![Order { id: 1, cents: 10 }, Order { id: 22, cents: 20 }];
    let (out, _) = drive::<loops>(items, answer);
    assert_eq!(out, Ok(5 + 10 + 6 + 20 + 3));
    println!("{}", loops::description().to_text());
}

/// The same workflows through the test driver, straight and with the state and the context
/// dropped and restored at every await: both runs agree.
#[test]
fn both_run_straight_and_restored() {
    use workflow_rt::testing::TestRun;
    for snapshots in [false, true] {
        let run = TestRun::new(checkout, "c", Order { id: 7, cents: 10 })
            .with_activity(charge)
            .with_activity(refund)
            .signal("approve", true)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap();
        assert_eq!(run.output, Ok("pay-7".to_string()));
        assert_eq!(run.steps, 4);
        let items = vec![Order { id: 1, cents: 10 }, Order { id: 22, cents: 20 }];
        let run = TestRun::new(loops, "l", items)
            .with_activity(charge)
            .snapshot_every_await(snapshots)
            .run()
            .unwrap();
        // "pay-1" + 10 + "pay-22" + 20, then n = 3 after one sleep and a `continue 'outer`
        assert_eq!(run.output, Ok(5 + 10 + 6 + 20 + 3));
        assert_eq!(run.commands.len(), 3);
    }
}
