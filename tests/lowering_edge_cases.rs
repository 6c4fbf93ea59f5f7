//! Shapes of workflows a user could write that the other lowering tests do not cover: awaits in
//! nested matches with guards, labeled blocks, loops three deep, `select` in a loop, destructuring,
//! deferred initialization, names that look like the macro's own, workflows in modules. Each runs
//! through `TestRun` straight and with snapshot/drop/restore at every await (`both`); the two
//! runs must agree, and the expected outputs are worked out by hand next to each assertion.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::testing::{TestOutcome, TestRun};

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: u64,
    pub y: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meters(pub u64);

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

#[activity]
async fn label(_ctx: ActivityCtx, x: u64) -> Result<String, ActivityError> {
    Ok(format!("#{x}"))
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
async fn shout(_ctx: ActivityCtx, s: String) -> Result<String, ActivityError> {
    Ok(format!("  {}!  ", s.to_uppercase()))
}

#[activity]
async fn lookup(_ctx: ActivityCtx, key: String) -> Result<Option<u64>, ActivityError> {
    Ok(match key.as_str() {
        "one" => Some(1),
        "two" => Some(2),
        _ => None,
    })
}

#[activity]
async fn locate(_ctx: ActivityCtx, x: u64) -> Result<Point, ActivityError> {
    Ok(Point { x, y: x + 1 })
}

#[activity]
async fn measure(_ctx: ActivityCtx, x: u64) -> Result<Meters, ActivityError> {
    Ok(Meters(x * 10))
}

#[activity]
async fn record(_ctx: ActivityCtx, entry: String) -> Result<(), ActivityError> {
    let _ = entry;
    Ok(())
}

/// Every activity of this file, run for real.
fn activities<W: Workflow>(run: TestRun<W>) -> TestRun<W> {
    run.with_activity(double)
        .with_activity(label)
        .with_activity(fail_if_odd)
        .with_activity(shout)
        .with_activity(lookup)
        .with_activity(locate)
        .with_activity(measure)
        .with_activity(record)
}

/// Runs `make()` straight and with snapshot/drop/restore at every await; both runs must give the
/// same output, commands, resolutions, activity calls, signals and step count. Returns the
/// straight run.
fn both<W: Workflow>(make: impl Fn() -> TestRun<W>) -> TestOutcome<W::Output>
where
    W::Output: PartialEq + Debug,
{
    let straight = activities(make())
        .run()
        .unwrap_or_else(|e| panic!("straight run of {}: {e}", W::NAME));
    let restored = activities(make())
        .snapshot_every_await(true)
        .run()
        .unwrap_or_else(|e| panic!("restored run of {}: {e}", W::NAME));
    assert_eq!(straight.output, restored.output, "{}: outputs", W::NAME);
    assert_eq!(
        straight.commands,
        restored.commands,
        "{}: commands",
        W::NAME
    );
    assert_eq!(
        straight.resolutions,
        restored.resolutions,
        "{}: resolutions",
        W::NAME
    );
    assert_eq!(
        straight.activity_calls,
        restored.activity_calls,
        "{}: calls",
        W::NAME
    );
    assert_eq!(straight.signals, restored.signals, "{}: signals", W::NAME);
    assert_eq!(straight.steps, restored.steps, "{}: steps", W::NAME);
    assert_eq!(straight.steps as usize, straight.commands.len() + 1);
    straight
}

fn s(text: &str) -> String {
    text.to_string()
}

// --- Awaits in every arm of nested matches, with guards on other arms --------------------------

#[workflow]
async fn nested_match_guards(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let r: u64 = match x % 4 {
        0 => match x {
            n if n > 100 => 1000,
            n => ctx.activity(double, n).await?,
        },
        1 if x > 50 => ctx.activity(double, 1).await? + 1,
        1 => match ctx.activity(fail_if_odd, x / 4).await {
            Ok(v) if v > 1000 => 0,
            Ok(v) => v,
            Err(_) => ctx.activity(double, x + 1).await? + 5,
        },
        k => {
            let l = ctx.activity(label, k).await?;
            ctx.sleep(Duration::from_secs(k)).await;
            l.len() as u64 * 100 + k
        }
    };
    Ok(r + ctx.activity(double, r).await?)
}

#[test]
fn awaits_in_every_arm_of_nested_matches() {
    let run = |x: u64| both(|| TestRun::new(nested_match_guards, "m", x)).output;
    // 4 % 4 = 0, 4 <= 100: double(4) = 8; 8 + double(8)
    assert_eq!(run(4), Ok(8 + 16));
    // 104: the guard arm, no await; 1000 + 2000
    assert_eq!(run(104), Ok(3000));
    // 53 % 4 = 1 and 53 > 50: double(1) + 1 = 3; 3 + 6
    assert_eq!(run(53), Ok(9));
    // 5: fail_if_odd(1) fails: double(6) + 5 = 17; 17 + 34
    assert_eq!(run(5), Ok(51));
    // 9: fail_if_odd(2) = 2; 2 + 4
    assert_eq!(run(9), Ok(6));
    // 6 % 4 = 2: label(2) = "#2", sleep 2 s: 200 + 2; 202 + 404
    let r = both(|| TestRun::new(nested_match_guards, "m", 6));
    assert_eq!(r.output, Ok(606));
    assert_eq!(r.elapsed(), Duration::from_secs(2));
}

// --- `break 'label value` from a labeled block around awaits ----------------------------------

#[workflow]
async fn labeled_block_value(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let mut trail: Vec<u64> = Vec::new();
    let v: u64 = 'pick: {
        if x == 0 {
            break 'pick 7;
        }
        let d = ctx.activity(double, x).await?;
        trail.push(d);
        if d > 10 {
            break 'pick d;
        }
        let e = ctx.activity(double, d).await?;
        trail.push(e);
        e + 1
    };
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(v * 100 + trail.len() as u64)
}

#[test]
fn break_with_value_from_a_labeled_block() {
    let run = |x: u64| both(|| TestRun::new(labeled_block_value, "b", x)).output;
    assert_eq!(run(0), Ok(700)); // 7, no trail
    assert_eq!(run(6), Ok(1201)); // d = 12 > 10
    assert_eq!(run(2), Ok(902)); // d = 4, e = 8, 9; trail of 2
}

// --- `continue` from a `match` inside a `while let` whose condition awaits ----------------------

#[workflow]
async fn while_let_signal_match(ctx: WorkflowCtx, limit: u64) -> Result<Vec<u64>, WorkflowError> {
    let mut kept: Vec<u64> = Vec::new();
    let mut skipped: u64 = 0;
    while let Some(v) = ctx.signal::<Option<u64>>("next").await {
        match v {
            0 => {
                skipped += 1;
                continue;
            }
            v if v > limit => break,
            v => {
                let d = ctx.activity(double, v).await?;
                if d % 3 == 0 {
                    continue;
                }
                kept.push(d);
            }
        }
        kept.push(skipped);
    }
    Ok(kept)
}

#[test]
fn continue_from_a_match_in_a_while_let_that_awaits() {
    let make = |limit: u64| {
        move || {
            [
                Some(1u64),
                Some(0),
                Some(3),
                Some(2),
                Some(50),
                Some(4),
                None,
            ]
            .into_iter()
            .fold(TestRun::new(while_let_signal_match, "w", limit), |r, v| {
                r.signal("next", v)
            })
        }
    };
    // 1 -> 2 kept, then skipped (0); 0 -> skipped 1; 3 -> 6 % 3 == 0, continue; 2 -> 4, then 1;
    // 50 > 10: break
    let r = both(make(10));
    assert_eq!(r.output, Ok(vec![2, 0, 4, 1]));
    assert_eq!(r.unconsumed_signals, [s("next"), s("next")]);
    // with a limit of 100, 50 -> 100 (100 % 3 == 1) and 1; 4 -> 8 and 1; None ends the loop
    assert_eq!(both(make(100)).output, Ok(vec![2, 0, 4, 1, 100, 1, 8, 1]));
}

// --- Loops three deep, awaits at each level, labeled `continue`/`break` across two levels -------

#[workflow]
async fn three_deep(ctx: WorkflowCtx, stop_at: u64) -> Result<Vec<u64>, WorkflowError> {
    let mut log: Vec<u64> = Vec::new();
    'outer: for i in 1..=3u64 {
        log.push(ctx.activity(double, i).await?);
        'middle: for j in 1..=3u64 {
            let mut k: u64 = 0;
            loop {
                k += 1;
                let code = ctx.activity(double, i * 100 + j * 10 + k).await? / 2;
                if code == stop_at {
                    break 'outer;
                }
                if k == 3 {
                    continue 'middle;
                }
                if j == 2 && k == 2 && i == 2 {
                    continue 'outer;
                }
                if k == 2 && j == 3 {
                    break;
                }
                log.push(code);
            }
            log.push(ctx.activity(double, j).await?);
        }
        ctx.sleep(Duration::from_secs(i)).await;
    }
    Ok(log)
}

#[test]
fn loops_three_deep_with_labeled_jumps() {
    // i = 1: 2; j = 1: 111, 112, (113: continue 'middle); j = 2: 121, 122, (123); j = 3: 131,
    //        (132: break) double(3) = 6; sleep 1
    // i = 2: 4; j = 1: 211, 212; j = 2: 221, (222: continue 'outer, no sleep)
    // i = 3: 6; j = 1: 311, 312; j = 2: 321, 322; j = 3: 331, then 6; sleep 3
    let r = both(|| TestRun::new(three_deep, "d", 0));
    assert_eq!(
        r.output,
        Ok(vec![
            2, 111, 112, 121, 122, 131, 6, 4, 211, 212, 221, 6, 311, 312, 321, 322, 331, 6
        ])
    );
    assert_eq!(r.elapsed(), Duration::from_secs(4));
    // 212 breaks out of everything
    let r = both(|| TestRun::new(three_deep, "d", 212));
    assert_eq!(r.output, Ok(vec![2, 111, 112, 121, 122, 131, 6, 4, 211]));
    assert_eq!(r.elapsed(), Duration::from_secs(1));
}

// --- `loop { match ctx.select(..).await { .. => break, .. => continue } }` ----------------------

#[workflow]
async fn select_loop(ctx: WorkflowCtx, _x: ()) -> Result<(u64, u64), WorkflowError> {
    let mut sum: u64 = 0;
    let mut zeros: u64 = 0;
    loop {
        match ctx
            .select((ctx.signal::<u64>("item"), ctx.signal::<()>("done")))
            .await
        {
            Select2::First(0) => {
                zeros += 1;
                continue;
            }
            Select2::First(v) if v > 1000 => break,
            Select2::First(v) => sum += ctx.activity(double, v).await?,
            Select2::Second(()) => break,
        }
    }
    Ok((sum, zeros))
}

#[test]
fn select_in_a_loop_with_break_and_continue() {
    let r = both(|| {
        TestRun::new(select_loop, "s", ())
            .signal("item", 1u64)
            .signal("item", 0u64)
            .signal("item", 5u64)
            .signal_after(HOUR, "done", ())
    });
    // 2 + 10, one zero; done after an hour
    assert_eq!(r.output, Ok((12, 1)));
    assert_eq!(r.elapsed(), HOUR);
    let r = both(|| {
        TestRun::new(select_loop, "s", ())
            .signal("item", 3u64)
            .signal("item", 2000u64)
            .signal("item", 4u64)
            .signal_after(HOUR, "done", ())
    });
    assert_eq!(r.output, Ok((6, 0)));
    assert_eq!(r.unconsumed_signals, [s("item"), s("done")]);
}

// --- `let (a, mut b) = (x, await)`, then `b` mutated across a later await -----------------------

#[workflow]
async fn tuple_with_mut(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let (a, mut b) = (x, ctx.activity(double, x).await?);
    b += 1;
    ctx.sleep(Duration::from_secs(5)).await;
    b *= ctx.activity(double, a).await?;
    Ok(a + b)
}

#[test]
fn mutable_binding_of_a_tuple_pattern_across_awaits() {
    // a = 3, b = 6 + 1 = 7, 7 * 6 = 42
    assert_eq!(both(|| TestRun::new(tuple_with_mut, "t", 3)).output, Ok(45));
}

// --- Struct-literal fields that await, evaluated in the order written -------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    first: String,
    total: u64,
    second: String,
}

#[workflow]
async fn struct_fields(ctx: WorkflowCtx, x: u64) -> Result<Report, WorkflowError> {
    let report = Report {
        first: ctx.activity(label, x).await?,
        total: x + ctx.activity(double, x).await?,
        second: ctx.activity(label, x + 1).await?,
    };
    ctx.activity(record, report.first.clone()).await?;
    Ok(report)
}

#[test]
fn struct_literal_fields_await_in_order() {
    let r = both(|| TestRun::new(struct_fields, "s", 2));
    let want = Report {
        first: s("#2"),
        total: 6,
        second: s("#3"),
    };
    assert_eq!(r.output, Ok(want));
    assert_eq!(r.activity_names(), ["label", "double", "label", "record"]);
}

// --- Method chains on the await's value --------------------------------------------------------

#[workflow]
async fn method_chain(ctx: WorkflowCtx, name: String) -> Result<String, WorkflowError> {
    let loud = ctx.activity(shout, name.clone()).await?.trim().to_string();
    let size = ctx.activity(shout, name).await?.trim().len();
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(format!("{loud}/{size}"))
}

#[test]
fn method_chain_after_the_await() {
    // "  ADA!  " trimmed
    assert_eq!(
        both(|| TestRun::new(method_chain, "c", s("ada"))).output,
        Ok(s("ADA!/4"))
    );
}

// --- `if let` / `else if let` on awaited values ------------------------------------------------

#[workflow]
async fn if_let_signal(ctx: WorkflowCtx, base: u64) -> Result<u64, WorkflowError> {
    let mut total: u64 = base;
    if let Some(extra) = ctx.signal::<Option<u64>>("extra").await {
        total += ctx.activity(double, extra).await?;
        total += extra;
    } else if let Some(v) = ctx.activity(lookup, s("two")).await? {
        ctx.sleep(Duration::from_secs(v)).await;
        total += v;
    }
    Ok(total)
}

#[test]
fn if_let_on_a_signal_and_else_if_let_on_an_activity() {
    let r = both(|| TestRun::new(if_let_signal, "i", 1).signal("extra", Some(5u64)));
    assert_eq!(r.output, Ok(1 + 10 + 5));
    let r = both(|| TestRun::new(if_let_signal, "i", 1).signal("extra", None::<u64>));
    assert_eq!(r.output, Ok(1 + 2)); // lookup("two") = 2, after a 2 s sleep
    assert_eq!(r.elapsed(), Duration::from_secs(2));
}

// --- `let Some(x) = activity.await? else` and `Ok(v)`/`Err(e)` arms on an activity's value ----

#[workflow]
async fn let_else_on_activity(ctx: WorkflowCtx, key: String) -> Result<String, WorkflowError> {
    let Some(found) = ctx.activity(lookup, key.clone()).await? else {
        ctx.activity(record, format!("missing {key}")).await?;
        return Err(WorkflowError::msg("missing"));
    };
    let tag = match ctx.activity(fail_if_odd, found).await {
        Ok(v) => ctx.activity(label, v).await?,
        Err(e) => {
            ctx.activity(record, e.message.clone()).await?;
            String::from("odd")
        }
    };
    Ok(format!("{key}={found}:{tag}"))
}

#[test]
fn option_and_result_patterns_on_activity_values() {
    // `found` (an `Option<u64>`'s value, typed through the activity) lives across two awaits
    let r = both(|| TestRun::new(let_else_on_activity, "l", s("two")));
    assert_eq!(r.output, Ok(s("two=2:#2")));
    let r = both(|| TestRun::new(let_else_on_activity, "l", s("one")));
    assert_eq!(r.output, Ok(s("one=1:odd")));
    assert_eq!(r.inputs_of(record).unwrap(), [s("odd")]);
    let r = both(|| TestRun::new(let_else_on_activity, "l", s("three")));
    assert_eq!(r.output, Err(WorkflowError::msg("missing")));
    assert_eq!(r.inputs_of(record).unwrap(), [s("missing three")]);
}

// --- Tuple-struct and struct patterns on activity results, in `let` and in `match` -------------

#[workflow]
async fn destructure(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let Point { x: px, y: py } = ctx.activity(locate, x).await?;
    let (px, py): (u64, u64) = (px, py);
    let Meters(m) = ctx.activity(measure, px).await?;
    let m: u64 = m;
    let far: u64 = match ctx.activity(locate, py).await? {
        Point { x: 0, .. } => 0,
        Point { x, y } if x > 100 => x + y,
        Point { y, .. } => {
            let Meters(n) = ctx.activity(measure, y).await?;
            n + m
        }
    };
    Ok(far + px + py + m)
}

#[test]
fn struct_and_tuple_struct_patterns() {
    // (3, 4); 30; locate(4) = (4, 5): measure(5) = 50, + 30 = 80; 80 + 3 + 4 + 30
    assert_eq!(both(|| TestRun::new(destructure, "d", 3)).output, Ok(117));
    // (200, 201); 2000; locate(201) = (201, 202): 403; 403 + 200 + 201 + 2000
    assert_eq!(
        both(|| TestRun::new(destructure, "d", 200)).output,
        Ok(2804)
    );
}

// --- `while a && await` --------------------------------------------------------------------------

#[workflow]
async fn while_and(ctx: WorkflowCtx, limit: u64) -> Result<u64, WorkflowError> {
    let mut n: u64 = 0;
    let mut checks: u64 = 0;
    while n < limit && ctx.activity(double, n).await? < 7 {
        checks += 1;
        n += ctx.activity(double, 1).await?;
    }
    Ok(n * 100 + checks)
}

#[test]
fn while_condition_with_an_await_right_of_and() {
    // 0 < 10 && 0 < 7: n = 2; 2 < 10 && 4 < 7: n = 4; 4 < 10 && 8 >= 7: stop
    let r = both(|| TestRun::new(while_and, "w", 10));
    assert_eq!(r.output, Ok(402));
    assert_eq!(r.activity_calls.len(), 5);
    // 2 < 2 is false: the right side is not evaluated
    let r = both(|| TestRun::new(while_and, "w", 2));
    assert_eq!(r.output, Ok(201));
    assert_eq!(r.inputs_of(double).unwrap(), [0, 1]);
}

// --- `for (k, v) in BTreeMap` with an await per entry ------------------------------------------

#[workflow]
async fn map_entries(
    ctx: WorkflowCtx,
    prices: BTreeMap<String, u64>,
) -> Result<String, WorkflowError> {
    let mut out: Vec<String> = Vec::new();
    for (sku, cents) in prices {
        let tag = ctx.activity(label, cents).await?;
        out.push(format!("{sku}={tag}"));
    }
    Ok(out.join(","))
}

#[test]
fn for_over_a_btree_map_with_destructuring() {
    let prices: BTreeMap<String, u64> = [(s("b"), 2), (s("a"), 1)].into_iter().collect();
    let r = both(|| TestRun::new(map_entries, "m", prices.clone()));
    assert_eq!(r.output, Ok(s("a=#1,b=#2")));
}

// --- A variable moved into an activity on the last iteration only ------------------------------

#[workflow]
async fn move_on_last(ctx: WorkflowCtx, rounds: u64) -> Result<u64, WorkflowError> {
    let summary: String = format!("rounds={rounds}");
    let mut i: u64 = 0;
    loop {
        i += 1;
        if i == rounds {
            ctx.activity(record, summary).await?;
            break;
        }
        ctx.activity(double, i).await?;
    }
    let closing: String = format!("closing {i}");
    for j in 0..3u64 {
        if j == 2 {
            ctx.activity(record, closing).await?;
            break;
        }
        ctx.sleep(Duration::from_secs(1)).await;
    }
    Ok(i)
}

#[test]
fn variable_moved_on_the_last_iteration_then_break() {
    let r = both(|| TestRun::new(move_on_last, "l", 3));
    assert_eq!(r.output, Ok(3));
    assert_eq!(r.activity_names(), ["double", "double", "record", "record"]);
    assert_eq!(
        r.inputs_of(record).unwrap(),
        [s("rounds=3"), s("closing 3")]
    );
}

// --- Early `return` from three loops deep ------------------------------------------------------

#[workflow]
async fn deep_return(ctx: WorkflowCtx, target: u64) -> Result<String, WorkflowError> {
    for a in 0..3u64 {
        for b in 0..3u64 {
            let mut c: u64 = 0;
            while c < 3 {
                let v = ctx.activity(double, a * 9 + b * 3 + c).await?;
                if v == target * 2 {
                    let l = ctx.activity(label, v).await?;
                    return Ok(format!("{a}{b}{c}:{l}"));
                }
                c += 1;
            }
        }
        ctx.sleep(Duration::from_secs(1)).await;
    }
    Ok(s("none"))
}

#[test]
fn early_return_from_three_loops_deep() {
    // 14 = 1 * 9 + 1 * 3 + 2
    let r = both(|| TestRun::new(deep_return, "r", 14));
    assert_eq!(r.output, Ok(s("112:#28")));
    assert_eq!(r.activity_calls.len(), 15 + 1);
    let r = both(|| TestRun::new(deep_return, "r", 100));
    assert_eq!(r.output, Ok(s("none")));
    assert_eq!(r.activity_calls.len(), 27);
    assert_eq!(r.elapsed(), Duration::from_secs(3));
}

// --- `?` on an `Option` in a workflow returning `Option<T>` ------------------------------------

#[workflow]
async fn option_try(ctx: WorkflowCtx, key: String) -> Option<u64> {
    let found: u64 = ctx.activity(lookup, key).await.ok()??;
    ctx.sleep(Duration::from_secs(1)).await;
    let more: u64 = ctx.activity(lookup, s("two")).await.ok()??;
    Some(found * 10 + more)
}

#[test]
fn question_mark_on_options() {
    assert_eq!(
        both(|| TestRun::new(option_try, "o", s("one"))).output,
        Some(12)
    );
    let r = both(|| TestRun::new(option_try, "o", s("zzz")));
    assert_eq!(r.output, None);
    assert_eq!(r.activity_calls.len(), 1);
}

// --- Workflows returning `()` and a plain `u64` -------------------------------------------------

#[workflow]
async fn unit_output(ctx: WorkflowCtx, n: u64) {
    if n == 0 {
        return;
    }
    for i in 0..n {
        ctx.activity(record, format!("tick {i}")).await.ok();
    }
}

#[workflow]
async fn plain_count(ctx: WorkflowCtx, n: u64) -> u64 {
    let mut ok: u64 = 0;
    for i in 0..n {
        if ctx.activity(fail_if_odd, i).await.is_ok() {
            ok += 1;
        }
    }
    ok
}

#[test]
fn unit_and_plain_outputs() {
    let r = both(|| TestRun::new(unit_output, "u", 2));
    assert_eq!(r.inputs_of(record).unwrap(), [s("tick 0"), s("tick 1")]);
    assert_eq!(both(|| TestRun::new(unit_output, "u", 0)).steps, 1);
    // 0, 2 and 4 are even
    assert_eq!(both(|| TestRun::new(plain_count, "p", 5)).output, 3);
}

// --- The same activity in a join, then alone; a join of a `Vec` built in a loop ----------------

#[workflow]
async fn join_then_alone(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let (a, b) = ctx
        .join((ctx.activity(double, x), ctx.activity(double, x + 1)))
        .await;
    let c = ctx.activity(double, a? + b?).await?;
    Ok(c)
}

#[workflow]
async fn join_built_in_loop(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    let mut calls = Vec::new();
    for i in 1..=n {
        calls.push(ctx.activity(double, i));
    }
    let results = ctx.join(calls).await;
    let mut total: u64 = 0;
    for r in results {
        total += r?;
        ctx.sleep(Duration::from_secs(1)).await;
    }
    Ok(total)
}

#[test]
fn joins_in_a_tuple_and_of_a_vec_built_in_a_loop() {
    // 2 + 4 = 6, doubled
    let r = both(|| TestRun::new(join_then_alone, "j", 1));
    assert_eq!(r.output, Ok(12));
    assert_eq!(r.inputs_of(double).unwrap(), [1, 2, 6]);
    let r = both(|| TestRun::new(join_built_in_loop, "j", 3));
    assert_eq!(r.output, Ok(2 + 4 + 6));
    assert_eq!(r.commands.len(), 1 + 3);
}

// --- A select over a `Vec` of signals ------------------------------------------------------------

#[workflow]
async fn select_vec(ctx: WorkflowCtx, names: Vec<String>) -> Result<String, WorkflowError> {
    let waits: Vec<_> = names.iter().map(|n| ctx.signal::<u64>(n.clone())).collect();
    let (i, v): (usize, u64) = ctx.select(waits).await;
    let l = ctx.activity(label, v).await?;
    Ok(format!("{}:{l}", names[i]))
}

#[test]
fn select_over_a_vec_of_signals() {
    let r = both(|| {
        TestRun::new(select_vec, "v", vec![s("a"), s("b"), s("c")])
            .signal_after(HOUR, "b", 7u64)
            .signal_after(2 * HOUR, "c", 9u64)
    });
    assert_eq!(r.output, Ok(s("b:#7")));
    assert_eq!(r.elapsed(), HOUR);
}

// --- Twenty sequential awaits, every value live to the end -------------------------------------

#[workflow]
async fn twenty(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let a1 = ctx.activity(double, x).await?;
    let a2 = ctx.activity(double, a1 % 7).await?;
    let a3 = ctx.activity(double, a2 % 7).await?;
    let a4 = ctx.activity(double, a3 % 7).await?;
    let a5 = ctx.activity(double, a4 % 7).await?;
    let a6 = ctx.activity(double, a5 % 7).await?;
    let a7 = ctx.activity(double, a6 % 7).await?;
    let a8 = ctx.activity(double, a7 % 7).await?;
    let a9 = ctx.activity(double, a8 % 7).await?;
    let a10 = ctx.activity(double, a9 % 7).await?;
    let a11 = ctx.activity(double, a10 % 7).await?;
    let a12 = ctx.activity(double, a11 % 7).await?;
    let a13 = ctx.activity(double, a12 % 7).await?;
    let a14 = ctx.activity(double, a13 % 7).await?;
    let a15 = ctx.activity(double, a14 % 7).await?;
    let a16 = ctx.activity(double, a15 % 7).await?;
    let a17 = ctx.activity(double, a16 % 7).await?;
    let a18 = ctx.activity(double, a17 % 7).await?;
    let a19 = ctx.activity(double, a18 % 7).await?;
    let a20 = ctx.activity(double, a19 % 7).await?;
    Ok(a1
        + a2
        + a3
        + a4
        + a5
        + a6
        + a7
        + a8
        + a9
        + a10
        + a11
        + a12
        + a13
        + a14
        + a15
        + a16
        + a17
        + a18
        + a19
        + a20)
}

#[test]
fn twenty_sequential_awaits() {
    // 2, 4, 8, then 2 * (8 % 7) = 2 again: a period of three summing to 14; 6 periods + 2 + 4
    let r = both(|| TestRun::new(twenty, "t", 1));
    assert_eq!(r.output, Ok(6 * 14 + 2 + 4));
    assert_eq!(r.steps, 21);
}

// --- Items named like user variables; user variables named like the macro's own ---------------

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Phase {
    Draft,
    Review,
    Done,
}

const LIMIT: u64 = 3;

/// A unit struct that a pattern can name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Approved;

#[workflow]
async fn items_in_patterns(ctx: WorkflowCtx, phase: Phase) -> Result<u64, WorkflowError> {
    use Phase::*;
    let mut score: u64 = match phase {
        Draft => ctx.activity(double, 1).await?,
        Review => {
            let v = ctx.activity(double, 2).await?;
            ctx.sleep(Duration::from_secs(v)).await;
            v + LIMIT
        }
        Done => 0,
    };
    let ok: Approved = Approved;
    let Approved = ok;
    match score {
        LIMIT => {
            ctx.sleep(Duration::from_secs(1)).await;
            score += 100;
        }
        _ => score += ctx.activity(double, LIMIT).await?,
    }
    Ok(score)
}

#[test]
fn constants_variants_and_unit_structs_in_patterns() {
    // 2, not LIMIT: + 6
    assert_eq!(
        both(|| TestRun::new(items_in_patterns, "p", Phase::Draft)).output,
        Ok(8)
    );
    // 4 + 3 = 7: + 6
    assert_eq!(
        both(|| TestRun::new(items_in_patterns, "p", Phase::Review)).output,
        Ok(13)
    );
    // 0 + 6
    assert_eq!(
        both(|| TestRun::new(items_in_patterns, "p", Phase::Done)).output,
        Ok(6)
    );
}

#[workflow]
async fn generated_names(
    ctx: WorkflowCtx,
    input: u64,
    state: String,
    wake: u64,
) -> Result<u64, WorkflowError> {
    let step: u64 = input + 1;
    let ctx2: u64 = ctx.activity(double, step).await?;
    let v: u64 = ctx2 + 1;
    let e: String = ctx.activity(label, v).await?;
    let p: usize = e.len() + state.len();
    let first: u64 = ctx.activity(double, p as u64).await?;
    let out = ctx.activity(double, first + wake).await?;
    Ok(out + v + step + ctx2 + input)
}

#[test]
fn user_names_like_the_generated_ones() {
    // step 2, ctx2 4, v 5, e "#5", p 2 + 2 = 4, first 8, out 2 * (8 + 10) = 36; 36 + 5 + 2 + 4 + 1
    let r = both(|| TestRun::new(generated_names, "g", (1, s("ab"), 10)));
    assert_eq!(r.output, Ok(48));
}

// --- A workflow in a nested module, used from outside with a path ------------------------------

mod billing {
    use super::{double, label};
    use workflow_rt::prelude::*;
    use workflow_rt::testing::TestRun;

    type Result<T> = std::result::Result<T, WorkflowError>;

    #[activity]
    async fn tax(_ctx: ActivityCtx, cents: u64) -> std::result::Result<u64, ActivityError> {
        Ok(cents / 10)
    }

    #[workflow]
    pub async fn invoice(ctx: WorkflowCtx, cents: u64) -> Result<String> {
        let t = ctx.activity(tax, cents).await?;
        let doubled = ctx.activity(super::double, cents + t).await?;
        let tag = ctx.activity(label, doubled).await?;
        let _ = double;
        Ok(format!("{tag}/{t}"))
    }

    /// The module's activities stay private; it registers them itself.
    pub fn with_activities(run: TestRun<invoice>) -> TestRun<invoice> {
        run.with_activity(tax)
    }
}

#[test]
fn workflow_in_a_module_named_by_path() {
    let r = both(|| billing::with_activities(TestRun::new(billing::invoice, "i", 100)));
    // tax 10; double(110) = 220
    assert_eq!(r.output, Ok(s("#220/10")));
    let _state: <billing::invoice as Workflow>::State = billing::invoice::start(1);
}

// --- Closures without awaits capturing variables that live across awaits ----------------------

#[workflow]
async fn closures(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let factor: u64 = ctx.activity(double, 3).await?;
    let scaled: Vec<u64> = items.iter().map(|i| i * factor).collect();
    let total = ctx.activity(double, scaled.iter().sum()).await?;
    let over = |limit: u64| scaled.iter().filter(|v| **v > limit).count() as u64;
    let n: u64 = over(total / 10);
    ctx.sleep(Duration::from_secs(n)).await;
    let bonus = items.iter().fold(factor, |acc, i| acc + i);
    Ok(total + n + bonus)
}

#[test]
fn closures_capturing_saved_variables() {
    // factor 6; [6, 12, 18], sum 36, total 72; over 7: 2; bonus 6 + 6 = 12
    let r = both(|| TestRun::new(closures, "c", vec![1, 2, 3]));
    assert_eq!(r.output, Ok(72 + 2 + 12));
}

// --- `#[nondeterministic]` statements next to awaits; comments and attributes in the body ------

#[workflow]
async fn escape_next_to_awaits(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let a = ctx.activity(double, x).await?;
    #[nondeterministic(reason = "an operator log line; no command depends on it")]
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let _ = host;
    let b = ctx.activity(double, a).await?;
    #[nondeterministic(reason = "an operator log line; no command depends on it")]
    let _at = std::time::SystemTime::now();
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(a + b)
}

#[workflow]
async fn commented(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    // A line comment before the first await.
    /* A block comment. */
    let a = ctx.activity(double, x).await?; // trailing
    #[allow(clippy::let_and_return)]
    let b = {
        let inner = ctx.activity(double, a).await?;
        // between
        inner
    };
    #[allow(unused_variables)]
    let unused = ctx.activity(double, b).await?;
    Ok(a + b)
}

#[workflow]
async fn ignored_results(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    // The user's own `allow` on an await statement holds (under `-D warnings` in clippy).
    #[allow(unused_must_use)]
    ctx.activity(fail_if_odd, x).await;
    let _ = ctx.activity(fail_if_odd, x + 1).await;
    Ok(x)
}

#[test]
fn escape_hatches_comments_and_attributes_next_to_awaits() {
    let r = both(|| TestRun::new(ignored_results, "i", 3));
    assert_eq!((r.output, r.activity_calls.len()), (Ok(3), 2));
    assert_eq!(
        both(|| TestRun::new(escape_next_to_awaits, "e", 1)).output,
        Ok(6)
    );
    let r = both(|| TestRun::new(commented, "c", 1));
    assert_eq!(r.output, Ok(2 + 4));
    assert_eq!(r.activity_calls.len(), 3);
}

// --- Shadowing in a match arm of a variable used after the match -------------------------------

#[workflow]
async fn arm_shadowing(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let total: u64 = x * 100;
    let extra: u64 = match ctx.activity(fail_if_odd, x).await {
        Ok(total) => {
            ctx.sleep(Duration::from_secs(total)).await;
            total + 1
        }
        Err(_) => {
            let total: u64 = 7;
            ctx.activity(double, total).await?
        }
    };
    Ok(total + extra)
}

#[test]
fn shadowing_in_a_match_arm() {
    assert_eq!(both(|| TestRun::new(arm_shadowing, "a", 2)).output, Ok(203));
    assert_eq!(both(|| TestRun::new(arm_shadowing, "a", 3)).output, Ok(314));
}

// --- Deferred initialization: `let x: T;` assigned after an await ------------------------------

#[workflow]
async fn deferred_init(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let doubled: u64;
    let note: String;
    if x > 5 {
        doubled = ctx.activity(double, x).await?;
        note = ctx.activity(label, doubled).await?;
    } else {
        doubled = x;
        note = String::from("small");
    }
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(doubled + note.len() as u64)
}

#[test]
fn deferred_initialization_across_awaits() {
    assert_eq!(
        both(|| TestRun::new(deferred_init, "d", 6)).output,
        Ok(12 + 3)
    );
    assert_eq!(
        both(|| TestRun::new(deferred_init, "d", 2)).output,
        Ok(2 + 5)
    );
}

// --- Awaits in index, cast and tuple-field positions; `break` with an awaited value -----------

#[activity]
async fn pair(_ctx: ActivityCtx, x: u64) -> Result<(u64, String), ActivityError> {
    Ok((x * 3, format!("p{x}")))
}

#[workflow]
async fn positions(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let names: Vec<String> = vec![s("zero"), s("one"), s("two")];
    let pick = names[ctx.activity(double, x).await? as usize % 3].clone();
    let third: u64 = ctx.activity(pair, x).await?.0 / 3;
    let small = ctx.activity(double, x).await? as u8;
    let mut n: u64 = 0;
    let found: u64 = loop {
        n += 1;
        if n > 2 {
            break ctx.activity(double, n).await?;
        }
        ctx.sleep(Duration::from_secs(1)).await;
    };
    Ok(format!("{pick} {third} {small} {found}"))
}

#[test]
fn awaits_in_index_cast_field_and_break_positions() {
    // double(2) = 4 % 3 = 1: "one"; pair(2).0 = 6 / 3 = 2; 4; n = 3: double(3) = 6
    let r = both(|| TestRun::new(positions, "p", 2).with_activity(pair));
    assert_eq!(r.output, Ok(s("one 2 4 6")));
}

// --- `while let` over a queue mutated across awaits --------------------------------------------

#[workflow]
async fn queue_drain(ctx: WorkflowCtx, start: Vec<u64>) -> Result<Vec<u64>, WorkflowError> {
    let mut queue: VecDeque<u64> = start.into_iter().collect();
    let mut done: Vec<u64> = Vec::new();
    while let Some(job) = queue.pop_front() {
        let d = ctx.activity(double, job).await?;
        if d < 10 {
            queue.push_back(d);
        }
        done.push(d);
    }
    Ok(done)
}

#[test]
fn while_let_over_a_queue_mutated_across_awaits() {
    // 1 -> 2 (queued), 3 -> 6 (queued), 2 -> 4 (queued), 6 -> 12, 4 -> 8 (queued), 8 -> 16
    let r = both(|| TestRun::new(queue_drain, "q", vec![1, 3]));
    assert_eq!(r.output, Ok(vec![2, 6, 4, 12, 8, 16]));
}

// --- `for x in &items` and `.iter()` with an await in the body -------------------------------

#[workflow]
async fn borrowed_items(ctx: WorkflowCtx, items: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    for item in &items {
        sum += ctx.activity(double, *item).await?;
    }
    for (i, item) in items.iter().enumerate() {
        sum += ctx.activity(double, *item * i as u64).await?;
    }
    // What the error for a borrowed item used after the await says to write.
    let mut seen: Vec<u64> = Vec::new();
    for item in items.iter().rev() {
        #[allow(clippy::clone_on_copy)]
        let item: u64 = item.clone();
        ctx.sleep(Duration::from_secs(item)).await;
        seen.push(item);
    }
    Ok(sum + seen.len() as u64 + seen[0])
}

#[test]
fn for_over_borrowed_items() {
    // 2 + 4 + 6 = 12; 0 + 4 + 12 = 16; 3 seen, the first of them (reversed) 3
    let r = both(|| TestRun::new(borrowed_items, "b", vec![1, 2, 3]));
    assert_eq!(r.output, Ok(12 + 16 + 3 + 3));
    assert_eq!(r.elapsed(), Duration::from_secs(6));
}

// --- Raw identifiers, `Duration`s and a retry policy kept across a loop, `matches!` ------------

#[workflow]
async fn raw_and_durations(ctx: WorkflowCtx, n: u64) -> Result<String, WorkflowError> {
    let r#type: String = format!("n{n}");
    let pause = Duration::from_secs(30);
    let policy: RetryPolicy = RetryPolicy::exponential(Duration::from_millis(200)).max_attempts(3);
    let mut total: u64 = 0;
    for i in 0..n {
        total += ctx.activity(double, i).retry(policy.clone()).await?;
        ctx.sleep(pause).await;
    }
    let big = matches!(ctx.activity(double, total).await?, 10..=100);
    ctx.sleep(Duration::ZERO).await;
    Ok(format!("{type} {total} {big}", type = r#type))
}

#[test]
fn raw_identifiers_durations_and_policies_across_awaits() {
    // 0 + 2 + 4 + 6 = 12; double(12) = 24 is in 10..=100; four 30 s pauses
    let r = both(|| TestRun::new(raw_and_durations, "r", 4));
    assert_eq!(r.output, Ok(s("n4 12 true")));
    assert_eq!(r.elapsed(), Duration::from_secs(120));
    // the state names the raw variable without its `r#`
    let desc = raw_and_durations::description().to_text();
    assert!(desc.contains("\n        type: String\n"), "{desc}");
}

// --- `mut` parameters; `?` and `return` inside closures (theirs, not the workflow's) ----------

#[workflow]
async fn mut_params_and_closures(
    ctx: WorkflowCtx,
    mut count: u64,
    raw: Vec<String>,
) -> Result<Vec<u64>, WorkflowError> {
    let parsed: Vec<u64> = raw
        .iter()
        .map(|s| s.parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WorkflowError::msg(e.to_string()))?;
    let nonzero: Vec<u64> = parsed
        .iter()
        .filter_map(|x| {
            if *x == 0 {
                return None;
            }
            Some(*x)
        })
        .collect();
    let mut out: Vec<u64> = Vec::new();
    while count > 0 {
        count -= 1;
        out.push(ctx.activity(double, count + nonzero.len() as u64).await?);
    }
    Ok(out)
}

#[test]
fn mut_parameters_and_question_marks_in_closures() {
    // two non-zero numbers: double(1 + 2), double(0 + 2)
    let r = both(|| {
        TestRun::new(
            mut_params_and_closures,
            "m",
            (2, vec![s("0"), s("4"), s("5")]),
        )
    });
    assert_eq!(r.output, Ok(vec![6, 4]));
    // the `?` after the closures ends the workflow before any await
    let r = both(|| TestRun::new(mut_params_and_closures, "m", (2, vec![s("x")])));
    assert_eq!(
        r.output,
        Err(WorkflowError::msg("invalid digit found in string"))
    );
    assert_eq!(r.steps, 1);
}

// --- Deferred initialization inside a retry `loop` and a labeled block ------------------------

#[workflow]
async fn retry_into(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let result: u64;
    let mut n: u64 = x;
    loop {
        match ctx.activity(fail_if_odd, n).await {
            Ok(v) => {
                result = v;
                break;
            }
            Err(_) => ctx.sleep(Duration::from_secs(1)).await,
        }
        n += 1;
    }
    let size: String;
    'found: {
        if result > 10 {
            size = String::from("big");
            break 'found;
        }
        ctx.sleep(Duration::from_secs(1)).await;
        size = String::from("small");
    }
    Ok(result + size.len() as u64)
}

#[test]
fn deferred_initialization_in_a_retry_loop_and_a_labeled_block() {
    // 3 fails, a second later 4 passes; 4 is small, after another second
    let r = both(|| TestRun::new(retry_into, "r", 3));
    assert_eq!(r.output, Ok(4 + 5));
    assert_eq!(r.elapsed(), Duration::from_secs(2));
    let r = both(|| TestRun::new(retry_into, "r", 12));
    assert_eq!(r.output, Ok(12 + 3));
    assert_eq!(r.elapsed(), Duration::ZERO);
}

// --- Borrowed iteration over string pieces and slices -------------------------------------------

#[workflow]
async fn split_and_slices(
    ctx: WorkflowCtx,
    text: String,
    items: Vec<u64>,
) -> Result<(Vec<String>, u64), WorkflowError> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(',') {
        words.push(ctx.activity(shout, w.to_string()).await?.trim().to_string());
    }
    for w in text.split_whitespace() {
        // What the error for `w` (a `&str`) used after the await says to write.
        let w: String = w.to_string();
        ctx.sleep(Duration::from_secs(1)).await;
        words.push(w.to_string());
    }
    let mut sum: u64 = 0;
    for x in &items[1..] {
        sum += ctx.activity(double, *x).await?;
    }
    let start: usize = 2;
    for (i, x) in items[start..].iter().enumerate() {
        sum += ctx.activity(double, *x * i as u64).await?;
    }
    Ok((words, sum))
}

#[test]
fn borrowed_iteration_over_string_pieces_and_slices() {
    let r = both(|| TestRun::new(split_and_slices, "s", (s("a b,c"), vec![1, 2, 3, 4])));
    // "a b" and "c" shouted and trimmed; then "a", "b,c" after a second each
    let words = vec![s("A B!"), s("C!"), s("a"), s("b,c")];
    // 4 + 6 + 8 = 18; then [3, 4] enumerated: 0 + 8
    assert_eq!(r.output, Ok((words, 18 + 8)));
    assert_eq!(r.elapsed(), Duration::from_secs(2));
}
// --- Items in the body: a `macro_rules!`, a `static`, a `const`, a `fn` inside a loop ---------

#[workflow]
async fn body_items(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    macro_rules! twice {
        ($e:expr) => {
            $e * 2
        };
    }
    static BASE: u64 = 100;
    const STEP: u64 = 3;
    let a = ctx.activity(double, twice!(x)).await?;
    let mut total: u64 = a + BASE;
    for i in 0..2u64 {
        fn bump(v: u64) -> u64 {
            v + STEP
        }
        ctx.sleep(Duration::from_secs(1)).await;
        total = bump(total) + i;
    }
    Ok(twice!(total))
}

#[test]
fn items_declared_in_the_body() {
    // a = double(2) = 4; 104; 104 + 3 + 0 = 107; 107 + 3 + 1 = 111; twice: 222
    assert_eq!(both(|| TestRun::new(body_items, "b", 1)).output, Ok(222));
}

#[test]
fn descriptions_name_variables_and_types_as_written() {
    // A binding of `Some(..)` on an activity's value, typed through the runtime.
    let text = let_else_on_activity::description().to_text();
    assert!(
        text.contains("found: <ActivityOk<lookup> as Unwrap>::Value"),
        "{text}"
    );
    // The inner `item` that shadows the loop's is shown as `item`, not as the name the
    // lowering gives it.
    let text = borrowed_items::description().to_text();
    assert!(text.contains("        item: u64\n"), "{text}");
    assert!(!text.contains("_wf1"), "{text}");
}

/// A match arm's binding that shadows a variable is renamed in its guard too (the guard read
/// the outer variable).
#[workflow]
async fn guard_shadow(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let n: u64 = x;
    let r: u64 = match ctx.activity(double, x).await? {
        n if n > 10 => {
            ctx.sleep(Duration::from_secs(1)).await;
            n
        }
        _ => 0,
    };
    Ok(n + r)
}
#[test]
fn guard_sees_the_arm_binding() {
    assert_eq!(
        both(|| TestRun::new(guard_shadow, "g", 6)).output,
        Ok(6 + 12)
    );
}

/// An arm that does not await, whose binding shadows a variable read after the match: its jump
/// to the join carries the outer variable, not the arm's (it carried the arm's).
#[workflow]
async fn quiet_arm_shadow(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let total: u64 = x * 100;
    let extra: u64 = match ctx.activity(fail_if_odd, x).await {
        Ok(total) => total + 1,
        Err(_) => ctx.activity(double, x).await?,
    };
    Ok(total + extra)
}
#[test]
fn quiet_arm_keeps_outer_binding() {
    assert_eq!(
        both(|| TestRun::new(quiet_arm_shadow, "q", 2)).output,
        Ok(203)
    );
}

/// A block that does not await shadows a variable, then breaks out of a loop that awaits: the
/// break carries the outer variable.
#[workflow]
async fn block_shadow_break(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let n: u64 = x;
    loop {
        ctx.sleep(Duration::from_secs(1)).await;
        {
            let n: u64 = 99;
            if n > 0 {
                break;
            }
        }
    }
    Ok(n)
}
#[test]
fn break_from_shadowing_block() {
    assert_eq!(
        both(|| TestRun::new(block_shadow_break, "b", 5)).output,
        Ok(5)
    );
}

/// An `if let` that binds a name a renamed `let` took: its body reads its own binding (it read
/// the renamed one).
#[workflow]
async fn if_let_after_rename(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let x = ctx.activity(double, x).await?;
    if let Some(x) = x.checked_add(1) {
        return Ok(x);
    }
    Ok(0)
}
#[test]
fn if_let_binding_wins_in_its_body() {
    assert_eq!(
        both(|| TestRun::new(if_let_after_rename, "i", 3)).output,
        Ok(7)
    );
}

/// A let chain's binding that shadows a variable, with an await in its body: the outer variable
/// is saved as itself (the chain's took its place).
#[workflow]
async fn chain_shadow(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let n: u64 = x;
    if let Some(n) = x.checked_mul(10)
        && n > 5
    {
        ctx.sleep(Duration::from_secs(1)).await;
    }
    Ok(n)
}
#[test]
fn let_chain_binding_does_not_leak() {
    assert_eq!(both(|| TestRun::new(chain_shadow, "c", 3)).output, Ok(3));
}

/// A `while let` chain with an await in its body (it did not compile: the chain was put in a
/// negated `if`).
#[workflow]
async fn while_let_chain_body(ctx: WorkflowCtx, start: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut queue: Vec<u64> = start;
    let mut sum: u64 = 0;
    while let Some(job) = queue.pop()
        && job > 0
    {
        sum += ctx.activity(double, job).await?;
    }
    Ok(sum + queue.len() as u64)
}

#[test]
fn a_while_let_chain_awaits_in_its_body() {
    // 2 and 3 doubled; 0 ends the loop, leaving nothing in the queue.
    let out = both(|| TestRun::new(while_let_chain_body, "w", vec![0, 3, 2])).output;
    assert_eq!(out, Ok(10));
    let out = both(|| TestRun::new(while_let_chain_body, "w", vec![5, 0, 1])).output;
    assert_eq!(out, Ok(2 + 1), "stops at 0 with one left");
}

/// `Duration * n` bound to a local saved across an await is a `Duration` (it was typed as the
/// number); a width named in a format spec (`{d:>width$}`) is a use of `width` (it was not
/// saved).
#[workflow]
async fn backoff_and_padding(ctx: WorkflowCtx, attempts: u32) -> Result<String, WorkflowError> {
    let delay = Duration::from_secs(2) * attempts;
    let width: usize = 6;
    ctx.sleep(delay).await;
    let d = ctx.activity(double, u64::from(attempts)).await?;
    Ok(format!("{}s {d:>width$}", delay.as_secs()))
}

#[test]
fn numbers_with_types_and_format_widths_cross_awaits() {
    let out = both(|| TestRun::new(backoff_and_padding, "b", 3)).output;
    assert_eq!(out, Ok("6s      6".to_string()));
}

/// `for` loops over open ranges: bare (counted lazily), and bounded by `take` (collected).
#[workflow]
async fn open_ranges(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let mut seen: u64 = 0;
    for t in (0u64..).step_by(30).take(3) {
        seen += ctx.activity(double, t).await?;
    }
    for t in 1u64.. {
        ctx.sleep(Duration::from_secs(1)).await;
        if t >= x {
            return Ok(seen + t);
        }
    }
    Ok(0)
}

#[test]
fn open_ranges_bounded_or_bare_are_looped_over() {
    // 0 + 60 + 120 doubled, then the bare range up to 4.
    let out = both(|| TestRun::new(open_ranges, "o", 4)).output;
    assert_eq!(out, Ok(180 + 4));
}

#[activity]
async fn area(_ctx: ActivityCtx, p: Point) -> Result<u64, ActivityError> {
    Ok(p.x * p.y)
}

/// A field read before an operand that awaits and moves the variable is read first, as the
/// code reads it (it was read after the await, from the moved variable: it did not compile).
#[workflow]
async fn field_then_move(ctx: WorkflowCtx, p: Point) -> Result<(u64, u64, u64), WorkflowError> {
    let q = p.clone();
    Ok((p.x, ctx.activity(area, p).await?, q.y + 1))
}

#[test]
fn a_field_read_before_a_move_across_an_await() {
    let out = both(|| TestRun::new(field_then_move, "f", Point { x: 2, y: 3 }).with_activity(area))
        .output;
    assert_eq!(out, Ok((2, 6, 4)));
}

/// A macro whose arguments are not expressions, in an arm whose bindings shadow variables:
/// the renaming keeps a named argument's key and a method's name, and renames the format
/// string's argument with the binding.
macro_rules! note {
    (target: $t:expr, $($arg:tt)*) => { format!("{}: {}", $t, format!($($arg)*)) };
}

#[workflow]
async fn macro_in_shadowing_arms(ctx: WorkflowCtx, x: u64) -> Result<String, WorkflowError> {
    let amount: u64 = x;
    let len: u64 = 2;
    let said = match ctx.activity(double, x).await? {
        amount if amount > 100 => note!(target: "big", "offer {amount}"),
        len => note!(target: "small", "offer {len} of {}", [len].len()),
    };
    Ok(format!("{said}; {amount} {len}"))
}

/// A field as a method's receiver, with an argument that awaits: left in place (a place, not
/// a value), the method acts on the variable's own field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Basket {
    pub id: u64,
    pub items: Vec<u64>,
}

#[workflow]
async fn push_to_a_field(ctx: WorkflowCtx, id: u64) -> Result<Vec<u64>, WorkflowError> {
    let mut basket = Basket { id, items: vec![1] };
    basket.items.push(ctx.activity(double, basket.id).await?);
    Ok(basket.items)
}

/// A raw identifier that shadows (renamed `type_wf..`: the macro panicked, a raw identifier
/// is no name `Ident::new` takes).
#[workflow]
async fn raw_identifiers(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let r#type: u64 = x;
    let got: u64 = match ctx.activity(double, x).await? {
        0 => 0,
        r#type => r#type + 1,
    };
    Ok(r#type + got)
}

/// A number plus a borrowed number, saved across an await: a number, not a reference.
#[workflow]
async fn sum_with_borrowed_items(ctx: WorkflowCtx, base: u64) -> Result<u64, WorkflowError> {
    let fees: Vec<u64> = vec![1, 2];
    let mut total: u64 = 0;
    for fee in &fees {
        let s = base + fee;
        ctx.sleep(Duration::from_secs(1)).await;
        total += s;
    }
    Ok(total)
}

#[test]
fn macros_and_receivers_in_lowered_code() {
    let out = both(|| TestRun::new(sum_with_borrowed_items, "s", 10)).output;
    assert_eq!(out, Ok(11 + 12));
    let out = both(|| TestRun::new(raw_identifiers, "r", 3)).output;
    assert_eq!(out, Ok(3 + 7));
    let out = both(|| TestRun::new(macro_in_shadowing_arms, "m", 6)).output;
    assert_eq!(out, Ok("small: offer 12 of 1; 6 2".to_string()));
    let out = both(|| TestRun::new(macro_in_shadowing_arms, "m", 60)).output;
    assert_eq!(out, Ok("big: offer 120; 60 2".to_string()));
    let out = both(|| TestRun::new(push_to_a_field, "p", 5)).output;
    assert_eq!(out, Ok(vec![1, 10]));
}
