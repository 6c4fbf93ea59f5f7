//! The description of a generated state machine (text, Mermaid, DOT), its version, fingerprint
//! and what each await waits for, and the state enum as a public, nameable, inspectable type.

use std::time::Duration;

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
    let payment = ctx.activity(charge, order.clone()).await?;
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
async fn batch(ctx: WorkflowCtx, orders: Vec<Order>) -> Result<u64, WorkflowError> {
    let mut charged: u64 = 0;
    for order in orders {
        ctx.activity(charge, order).await?;
        charged += 1;
    }
    Ok(charged)
}

#[test]
fn text() {
    insta::assert_snapshot!(checkout::description().to_text());
    insta::assert_snapshot!(batch::description().to_text());
}

#[test]
fn display_is_the_text() {
    for description in [checkout::description(), batch::description()] {
        assert_eq!(description.to_string(), description.to_text());
        assert_eq!(format!("{description}"), description.to_text());
    }
}

#[test]
fn mermaid() {
    insta::assert_snapshot!(checkout::description().to_mermaid());
}

#[test]
fn dot() {
    insta::assert_snapshot!(checkout::description().to_dot());
}

#[test]
fn fingerprint_is_in_the_description_and_the_trait() {
    assert_eq!(
        checkout::description().fingerprint(),
        <checkout as Workflow>::fingerprint()
    );
    assert_ne!(
        <checkout as Workflow>::fingerprint(),
        <batch as Workflow>::fingerprint()
    );
}

#[test]
fn the_state_is_nameable_and_inspectable() {
    let state: <checkout as Workflow>::State = checkout::start(Order { id: 1, cents: 5 });
    let same: CheckoutState = state;
    let json = serde_json::to_string(&same).unwrap();
    assert_eq!(json, r#"{"Start":{"order":{"id":1,"cents":5}}}"#);
    assert_eq!(format!("{same:?}"), json);
    let suspended = CheckoutState::Await4Sleep {
        payment: "pay-1".to_string(),
    };
    let bytes = postcard::to_stdvec(&suspended).unwrap();
    let back: CheckoutState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(
        serde_json::to_string(&back).unwrap(),
        r#"{"Await4Sleep":{"payment":"pay-1"}}"#
    );
}

/// Runs `make()` straight and with snapshot/drop/restore at every await; both must agree.
fn both<W: Workflow>(make: impl Fn() -> workflow_rt::testing::TestRun<W>) -> W::Output
where
    W::Output: PartialEq + std::fmt::Debug,
{
    let straight = make().run().unwrap();
    let restored = make().snapshot_every_await(true).run().unwrap();
    assert_eq!(straight.output, restored.output);
    assert_eq!(straight.commands, restored.commands);
    straight.output
}

#[test]
fn the_described_workflows_run_straight_and_restored() {
    use workflow_rt::testing::TestRun;
    let order = |id| Order { id, cents: 5 };
    let checkout_run = |id: u64, approve: bool| {
        move || {
            TestRun::new(checkout, format!("c-{id}"), order(id))
                .with_activity(charge)
                .with_activity(refund)
                .signal("approve", approve)
        }
    };
    // approved: the payment, after the minute's sleep
    assert_eq!(both(checkout_run(1, true)), Ok("pay-1".to_string()));
    // refused: refunded, and the workflow fails
    assert_eq!(
        both(checkout_run(2, false)),
        Err(WorkflowError::msg("not approved"))
    );
    // two orders charged
    let orders = vec![order(1), order(2)];
    assert_eq!(
        both(|| TestRun::new(batch, "b", orders.clone()).with_activity(charge)),
        Ok(2)
    );
}

/// The same body as two versions of one workflow.
macro_rules! versioned {
    ($module:ident, $($args:tt)*) => {
        mod $module {
            use super::*;

            #[workflow($($args)*)]
            pub async fn pay(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
                let payment = ctx.activity(charge, order).await?;
                ctx.sleep(Duration::from_secs(60)).await;
                Ok(payment)
            }
        }
    };
}

versioned!(unversioned, name = "pay");
versioned!(v1, name = "pay", version = 1);
versioned!(v2, name = "pay", version = 2);

#[test]
fn the_version_is_in_the_trait_and_the_description() {
    assert_eq!(<unversioned::pay as Workflow>::VERSION, 1);
    assert_eq!(<v1::pay as Workflow>::VERSION, 1);
    assert_eq!(<v2::pay as Workflow>::VERSION, 2);
    assert_eq!(unversioned::pay::description().version, 1);
    assert_eq!(v1::pay::description().version, 1);
    assert_eq!(v2::pay::description().version, 2);
    assert_eq!(checkout::VERSION, 1);
    assert_eq!(checkout::description().version, 1);
}

#[test]
fn the_same_body_in_two_versions_has_two_fingerprints() {
    assert_eq!(
        <unversioned::pay as Workflow>::fingerprint(),
        <v1::pay as Workflow>::fingerprint()
    );
    assert_ne!(
        <v1::pay as Workflow>::fingerprint(),
        <v2::pay as Workflow>::fingerprint()
    );
    assert_eq!(
        v2::pay::description().fingerprint(),
        <v2::pay as Workflow>::fingerprint()
    );
}

#[test]
fn every_rendering_shows_the_version() {
    use workflow_rt::Description;
    let (one, two) = (v1::pay::description(), v2::pay::description());
    let header = |d: &Description| {
        format!(
            "workflow pay v{} (fingerprint {:016x})\n",
            d.version,
            d.fingerprint()
        )
    };
    assert!(one.to_text().starts_with(&header(one)), "{one}");
    assert!(two.to_text().starts_with(&header(two)), "{two}");
    assert!(two.to_text().starts_with("workflow pay v2 (fingerprint "));
    // Apart from the header, the two descriptions are the same.
    let body = |d: &Description| d.to_text().split_once('\n').unwrap().1.to_string();
    assert_eq!(body(one), body(two));
    assert!(one.to_mermaid().contains("title: \"pay v1\"\n"));
    assert!(two.to_mermaid().contains("title: \"pay v2\"\n"));
    assert!(one.to_dot().contains("label=\"pay v1\";\n"));
    assert!(two.to_dot().contains("label=\"pay v2\";\n"));
}

// --- What each await waits for -----------------------------------------------------------------

use workflow_rt::{ActivityOptions, CommandDesc};

#[activity(name = "x")]
async fn renamed(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n)
}

#[activity]
async fn plain(_ctx: ActivityCtx, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 1)
}

mod signals {
    use workflow_rt::Signal;

    pub const NOTE: Signal<String> = Signal::new("note");
}

const APPROVE: Signal<bool> = Signal::new("approve");
const AMOUNT: &str = "amount";
static REVIEW: Signal<bool> = Signal::new("review");

// `ctx.signal(&APPROVE)` is written on purpose: a borrowed typed signal is read too.
#[allow(clippy::needless_borrows_for_generic_args)]
#[workflow]
async fn waits(ctx: WorkflowCtx, n: u64) -> Result<u64, WorkflowError> {
    const LOCAL: Signal<u8> = Signal::new("local");
    // Activities, with their options.
    let a = ctx.activity(plain, n).await?;
    let b = ctx
        .activity(renamed, a)
        .retry(RetryPolicy::fixed(Duration::from_secs(1)).max_attempts(3))
        .start_to_close(Duration::from_secs(5))
        .schedule_to_close(Duration::from_secs(50))
        .heartbeat_timeout(Duration::from_secs(2))
        .options(ActivityOptions::default())
        .await?;
    ctx.sleep(Duration::from_secs(1)).await;
    // Signals: a string, a string with the payload's type, typed consts (of the module, of
    // another, of the body, borrowed, a static), a `&str` const, a computed name, and with a
    // timeout.
    let _: u64 = ctx.signal("plain").await;
    let _ = ctx.signal::<u64>("turbofish").await;
    let _ = ctx.signal(APPROVE).await;
    let _ = ctx.signal(signals::NOTE).await;
    let _ = ctx.signal(LOCAL).await;
    let _ = ctx.signal(&APPROVE).await;
    let _ = ctx.signal(REVIEW).await;
    let _ = ctx.signal::<u64>(AMOUNT).await;
    let _ = ctx.signal::<u64>(format!("dyn-{n}")).await;
    let _ = ctx
        .signal::<bool>("late")
        .timeout(Duration::from_secs(60))
        .await;
    let _ = ctx.signal(APPROVE).timeout(Duration::from_secs(60)).await;
    // Joins and selects, of tuples and `vec![..]`, nested.
    let (c, d, ()) = ctx
        .join((
            ctx.activity(plain, b),
            ctx.activity(renamed, b),
            ctx.sleep(Duration::from_secs(1)),
        ))
        .await;
    let both = ctx
        .join(vec![ctx.activity(plain, 1), ctx.activity(plain, 2)])
        .await;
    let first = ctx
        .select((
            ctx.signal::<u64>("bonus").timeout(Duration::from_secs(9)),
            ctx.join((ctx.activity(renamed, 3), ctx.sleep(Duration::from_secs(1)))),
        ))
        .await;
    let (_, e) = ctx
        .select(vec![ctx.activity(renamed, 4), ctx.activity(renamed, 5)])
        .await;
    // Over a `Vec` built elsewhere.
    let calls: Vec<_> = (0..n).map(|i| ctx.activity(plain, i)).collect();
    let all: Vec<Result<u64, ActivityError>> = ctx.join(calls).await;
    let racers: Vec<_> = (0..2).map(|i| ctx.activity(renamed, i)).collect();
    let (_, f): (usize, Result<u64, ActivityError>) = ctx.select(racers).await;
    // Operations built before the await, and an activity held in a variable.
    let answer = ctx.signal::<u64>("answer");
    let deadline = ctx.sleep(Duration::from_secs(60));
    let g: u64 = match ctx.select((answer, deadline)).await {
        Select2::First(v) => v,
        Select2::Second(()) => 0,
    };
    let held = plain;
    let h = ctx.activity(held, 6).await?;
    let _ = first;
    Ok(c? + d? + both.len() as u64 + e? + all.len() as u64 + f? + g + h)
}

#[test]
fn each_await_says_what_it_waits_for() {
    use CommandDesc::*;
    let found: Vec<(&str, CommandDesc)> = waits::description()
        .states
        .iter()
        .filter_map(|s| s.awaits.map(|a| (a.kind, a.waits_for)))
        .collect();
    let expected: Vec<(&str, CommandDesc)> = vec![
        ("activity", Activity("plain")),
        // A renamed activity is described by its name.
        ("activity", Activity("x")),
        ("sleep", Timer),
        ("signal", Signal(Some("plain"))),
        ("signal", Signal(Some("turbofish"))),
        ("signal", Signal(Some("approve"))),
        ("signal", Signal(Some("note"))),
        ("signal", Signal(Some("local"))),
        ("signal", Signal(Some("approve"))),
        ("signal", Signal(Some("review"))),
        ("signal", Signal(Some("amount"))),
        ("signal", Signal(None)),
        ("signal+timeout", Select(&[Signal(Some("late")), Timer])),
        ("signal+timeout", Select(&[Signal(Some("approve")), Timer])),
        ("join", Join(&[Activity("plain"), Activity("x"), Timer])),
        ("join", Join(&[Activity("plain"), Activity("plain")])),
        (
            "select",
            Select(&[
                Select(&[Signal(Some("bonus")), Timer]),
                Join(&[Activity("x"), Timer]),
            ]),
        ),
        ("select", Select(&[Activity("x"), Activity("x")])),
        ("join", Many(&Unknown)),
        ("select", Many(&Unknown)),
        ("select", Select(&[Unknown, Unknown])),
        ("activity", Unknown),
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (i, (got, want)) in found.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "await {}", i + 1);
    }
}

#[test]
fn the_workflow_that_describes_every_form_runs() {
    use workflow_rt::testing::TestRun;
    let run = TestRun::new(waits, "w", 2)
        .with_activity(plain)
        .with_activity(renamed)
        .signal("plain", 1u64)
        .signal("turbofish", 2u64)
        .signal(APPROVE, true)
        .signal(signals::NOTE, "n".to_string())
        .signal("local", 7u8)
        .signal(APPROVE, true)
        .signal(REVIEW, true)
        .signal("amount", 3u64)
        .signal("dyn-2", 4u64)
        .signal("late", true)
        .signal(APPROVE, false)
        .signal("bonus", 5u64)
        .signal("answer", 6u64)
        .run()
        .unwrap();
    assert!(run.output.is_ok(), "{:?}", run.output);
}

#[test]
fn the_current_state_is_marked() {
    let d = checkout::description();
    let text = d.to_text_at(Some("Await2SignalApprove"));
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with("> ")).collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].starts_with("> [2] Await2SignalApprove"), "{text}");
    assert_eq!(d.to_text_at(None), d.to_text());
    assert_eq!(d.to_text_at(Some("NoSuchState")), d.to_text());
    let mermaid = d.to_mermaid_at(Some("Await1Charge"));
    assert!(
        mermaid.ends_with("    class Await1Charge current\n"),
        "{mermaid}"
    );
    assert_eq!(d.to_mermaid_at(None), d.to_mermaid());
    let dot = d.to_dot_at(Some("Returned"));
    assert!(
        dot.contains("  Returned [label=\"Returned\", style=filled, fillcolor=\"#fde68a\"];"),
        "{dot}"
    );
    assert_eq!(dot.matches("style=filled").count(), 1);
    assert_eq!(d.to_dot_at(None), d.to_dot());
}
