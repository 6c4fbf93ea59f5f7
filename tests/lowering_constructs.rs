//! Each durable-await position the lowering supports, run to completion with the state
//! round-tripped through postcard at every await (see `drive`).

use std::time::Duration;

use workflow_rt::machine::{CtxState, Pending, Resolution, Step, resume};
use workflow_rt::prelude::*;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[activity]
async fn fail_if_odd(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    if x % 2 == 1 {
        Err(ActivityError::non_retryable("odd"))
    } else {
        Ok(x)
    }
}

#[activity]
async fn label(_ctx: ActivityCtx, x: u64) -> Result<String, ActivityError> {
    Ok(format!("#{x}"))
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
async fn nested_expr(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let mut calls: Vec<u64> = Vec::new();
    let note = |v: u64| -> u64 { v };
    let a: u64 = add(note(x), ctx.activity(double, x).await?);
    calls.push(a);
    let mut total: u64 = 1;
    total += ctx.activity(double, total).await?;
    let b = ctx.activity(double, ctx.activity(double, 1).await?).await? + total;
    Ok(a + b + calls.len() as u64)
}

#[workflow]
async fn conditions(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let mut n: u64 = 0;
    if ctx.activity(double, x).await? > 10 {
        n += 1;
    } else if ctx.activity(double, x + 100).await? > 10 {
        n += 10;
    }
    while ctx.activity(double, n).await? < 50 {
        n += 7;
    }
    let ok = x > 1 && ctx.activity(double, 2).await? == 4;
    Ok(n + ok as u64)
}

#[workflow]
async fn matching(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let v = match ctx.activity(fail_if_odd, x).await {
        Ok(v) => v,
        Err(e) => {
            let l = ctx.activity(label, x).await?;
            return Err(WorkflowError::msg(format!("{l}: {}", e.message)));
        }
    };
    let Some(w) = Some(v).filter(|v| *v > 0) else {
        let l = ctx.activity(label, 0).await?;
        return Ok(l);
    };
    let s = match w {
        0 => String::from("zero"),
        n => {
            let d = ctx.activity(double, n).await?;
            ctx.activity(label, d).await?
        }
    };
    Ok(s)
}

#[workflow]
async fn shadowing(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let x = ctx.activity(double, x).await?;
    let x = ctx.activity(double, x).await? + 1;
    let (a, b): (u64, u64) = (x, ctx.activity(double, x).await?);
    let mut acc: u64 = 0;
    for i in 0..3u64 {
        let i = i * 10;
        acc += ctx.activity(double, i).await?;
    }
    Ok(a + b + acc)
}

#[workflow]
async fn loops_and_labels(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    'outer: for a in items.clone() {
        for b in 0..3u64 {
            if b == 2 {
                continue 'outer;
            }
            if a == 99 {
                break 'outer;
            }
            sum += ctx.activity(double, a + b).await?;
        }
    }
    let found: u64 = loop {
        sum += 1;
        let d = ctx.activity(double, sum).await?;
        if d % 3 == 0 {
            break d;
        }
    };
    for a in items {
        if a == 5 {
            return Ok(sum + found + 1000);
        }
        ctx.sleep(Duration::from_secs(a)).await;
    }
    Ok(sum + found)
}

#[workflow]
async fn joins(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let (a, b, c) = ctx
        .join((
            ctx.activity(double, x),
            ctx.activity(label, x),
            ctx.activity(double, x + 1),
        ))
        .await;
    let all = ctx
        .join(vec![ctx.activity(double, 1), ctx.activity(double, 2)])
        .await;
    let won = ctx
        .select((
            ctx.signal::<u64>("bump"),
            ctx.sleep(Duration::from_secs(3600)),
        ))
        .await;
    let extra: u64 = match won {
        Select2::First(v) => v,
        Select2::Second(()) => 0,
    };
    let got = ctx
        .signal::<u64>("late")
        .timeout(Duration::from_secs(10))
        .await
        .unwrap_or(7);
    let sum: u64 = all.into_iter().map(|r| r.unwrap_or(0)).sum();
    Ok(format!("{} {} {} {} {} {}", a?, b?, c?, sum, extra, got))
}

/// Runs a workflow answering activities by name, signals with `signal`, timers immediately;
/// round-trips state and context through postcard and drops them at every await.
fn drive<W: Workflow>(input: W::Input) -> (W::Output, usize) {
    let mut bytes = postcard::to_stdvec(&W::start(input)).unwrap();
    let mut ctx_state = CtxState::new(0, 0, 0);
    let mut wake = None;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 1000, "runaway");
        let mut state: W::State = postcard::from_bytes(&bytes).unwrap();
        let step = resume::<W>("t", &mut ctx_state, &mut state, wake.take());
        bytes = postcard::to_stdvec(&state).unwrap();
        match step {
            Step::Completed(o) => return (o, steps),
            Step::Failed(e) => panic!("failed: {e}"),
            Step::Suspended(p) => {
                wake = p.try_resolve(&mut |leaf| match leaf {
                    Pending::Activity { name, input, .. } => {
                        let x: u64 = postcard::from_bytes(input).unwrap();
                        Some(Resolution::Activity(match name.as_str() {
                            "double" => Ok(postcard::to_stdvec(&(x * 2)).unwrap()),
                            "label" => Ok(postcard::to_stdvec(&format!("#{x}")).unwrap()),
                            "fail_if_odd" if x % 2 == 1 => Err(ActivityError::non_retryable("odd")),
                            _ => Ok(postcard::to_stdvec(&x).unwrap()),
                        }))
                    }
                    Pending::Timer { .. } => Some(Resolution::Timer),
                    Pending::Signal { name, .. } if name == "bump" => Some(Resolution::Signal {
                        event: 0,
                        payload: postcard::to_stdvec(&5u64).unwrap(),
                        type_tag: Some(workflow_rt::machine::type_tag::<u64>()),
                    }),
                    _ => None,
                });
                assert!(wake.is_some(), "stuck on {p:?}");
            }
        }
    }
}

#[test]
fn nested_expressions_keep_order() {
    // a = 3 + 6 = 9; total = 1 + 2 = 3; b = double(double(1)) + 3 = 4 + 3 = 7; 9 + 7 + 1
    assert_eq!(drive::<nested_expr>(3).0, Ok(17));
}

#[test]
fn awaits_in_conditions() {
    // double(3) = 6 <= 10; double(103) > 10 -> n = 10; while double(n) < 50: 10 -> 17 -> 24 -> 31 (62)
    assert_eq!(drive::<conditions>(3).0, Ok(31 + 1));
    assert_eq!(drive::<conditions>(8).0, Ok(1 + 7 * 4 + 1));
}

#[test]
fn awaits_in_match_arms_and_let_else() {
    assert_eq!(drive::<matching>(4).0, Ok("#8".to_string()));
    assert_eq!(drive::<matching>(3).0, Err(WorkflowError::msg("#3: odd")));
    assert_eq!(drive::<matching>(0).0, Ok("#0".to_string()));
}

#[test]
fn shadowed_variables() {
    // x = 4; x = 9; (9, 18); acc = 0 + 20 + 40
    assert_eq!(drive::<shadowing>(2).0, Ok(9 + 18 + 60));
}

#[test]
fn labeled_loops_break_values_and_early_return() {
    // items [1, 2]: a=1: b=0 -> 2, b=1 -> 4; a=2: b=0 -> 4, b=1 -> 6; sum = 16
    // loop: sum 17 -> d 34; 18 -> 36 % 3 == 0 -> found 36; sleeps; 18 + 36
    assert_eq!(drive::<loops_and_labels>(vec![1, 2]).0, Ok(18 + 36));
    // 99 breaks outer at once; sum 0 -> loop: 1 -> 2, 2 -> 4, 3 -> 6 found; then 5 returns early.
    assert_eq!(drive::<loops_and_labels>(vec![99, 5]).0, Ok(3 + 6 + 1000));
}

#[test]
fn join_select_and_signal_timeout() {
    assert_eq!(drive::<joins>(3).0, Ok("6 #3 8 6 5 7".to_string()));
}

#[workflow]
async fn macros_and_shadowing(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let amount: u64 = x;
    let fee: u64 = {
        let amount: String = format!("{amount}");
        let fee = ctx.activity(double, amount.len() as u64).await?;
        fee + amount.len() as u64
    };
    let list: Vec<u64> = vec![amount, ctx.activity(double, amount).await?, fee];
    let text = format!(
        "{}-{}-{amount}",
        ctx.activity(label, list[1]).await?,
        list.len()
    );
    Ok(text)
}

#[test]
fn awaits_in_macro_arguments_and_shadowing_across_scopes() {
    // amount 12; inner "12" -> double(2) = 4, fee 6; list [12, 24, 6]; label(24) = "#24"
    assert_eq!(
        drive::<macros_and_shadowing>(12).0,
        Ok("#24-3-12".to_string())
    );
}

#[workflow]
async fn ranges(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    for i in 0..n {
        sum += ctx.activity(double, i).await?;
    }
    for i in 1..=n {
        sum += ctx.activity(double, i).await?;
    }
    for i in (n..).take(2) {
        sum += ctx.activity(double, i).await?;
    }
    for i in 250u8..=255 {
        sum += ctx.activity(double, i as u64).await?;
    }
    Ok(sum)
}

#[test]
fn ranges_are_saved_as_ranges() {
    // 2*(0+1+2) + 2*(1+2+3) + 2*(3+4) + 2*(250+..+255)
    assert_eq!(drive::<ranges>(3).0, Ok(6 + 12 + 14 + 2 * 1515));
    // The state at an await inside `0..1_000_000` is a few bytes, not the million items.
    let mut state = long_range::start(1_000_000);
    assert!(matches!(
        resume::<long_range>("t", &mut CtxState::new(0, 0, 0), &mut state, None),
        Step::Suspended(_)
    ));
    let bytes = postcard::to_stdvec(&state).unwrap();
    assert!(bytes.len() < 16, "{} bytes: {state:?}", bytes.len());
}

#[workflow]
async fn long_range(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    for i in 0..n {
        sum += ctx.activity(double, i).await?;
    }
    Ok(sum)
}
