//! Snapshot compatibility: snapshots written by earlier code must still resume, and complete with
//! the same output, under the code of today.
//!
//! Each file in `tests/snapshots/compat/` holds one recorded run of a corpus workflow
//! (`tests/corpus/`, compiled here from the live sources, not copied): for the start state and for
//! every durable await, what a store holds at that point, namely the snapshot envelope
//! ([`workflow_rt::machine::Snapshot`]: workflow name, fingerprint, step, context, postcard
//! state) and the command tree the workflow was suspended on ([`Pending`], postcard), plus the
//! workflow id, the expected output (its `Debug` text), the step count and the end time. The
//! format is the postcard encoding of [`Recording`].
//!
//! The default mode checks every recorded point: the fingerprint in the envelope must equal
//! the legacy fingerprint today's code computes (`W::layout().legacy_fingerprint`: the files
//! were written before fingerprints covered the traced shapes of the saved types, and runs
//! stored then must still be read) and be accepted by `W::layout()`, the state must decode and re-encode to the very same
//! bytes, and [`TestRun::resume_from`] must take the run from there to the recorded output, step
//! count and end time, writing on its way the same later snapshots and commands as the recording.
//! Activities are answered by the corpus's own activities, and signals by answers that depend on
//! the virtual time at most, so a run resumed in the middle sees what the recorded run saw.
//!
//! # How the files were produced, and when they may be produced again
//!
//! They were written once, by the `#[workflow]` back end of commit `36ca4de` (the lowering as it
//! was before its rewrite; the commit that adds this file changes only the test driver), with
//!
//! ```text
//! WORKFLOW_COMPAT_WRITE=1 cargo test --test snapshot_compat
//! ```
//!
//! which runs each case from its input, records a snapshot at every await, and writes the files
//! that do not exist yet (it refuses to replace a file with different bytes). They are the
//! evidence that the persisted layout did not change, and must NEVER be regenerated to make this
//! test pass: a failure here means that workflows suspended in a store today would be refused
//! (fingerprint) or resumed wrongly (state) by the new code. Regenerate them only for a layout
//! change that is intended and versioned (a new envelope format or fingerprint, with a migration
//! for stored snapshots), by deleting the files concerned and running the command above, and say
//! why in the commit message.
//!
//! The cases cover sequential awaits, awaits in `if`/`else if let` branches and in `match` arms,
//! `loop`, `while`, `for` over a range and over a `Vec`, `join`, `select` won by a signal and by a
//! timer, and signals with a timeout, answered and expired. Deferred initialization (`let x: T;`
//! assigned after an await) is not covered: no corpus workflow has one.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use workflow_rt::Workflow;
use workflow_rt::machine::{Pending, Snapshot};
use workflow_rt::testing::{DEFAULT_START_MS, SignalWaitInfo, TestRun};

/// The corpus workflows this test covers, from their live sources.
#[allow(dead_code)]
mod corpus {
    #[path = "dunning_reminders.rs"]
    pub mod dunning_reminders;
    #[path = "expense_approval.rs"]
    pub mod expense_approval;
    #[path = "fraud_review.rs"]
    pub mod fraud_review;
    #[path = "inventory_restock.rs"]
    pub mod inventory_restock;
    #[path = "invoice_batch.rs"]
    pub mod invoice_batch;
    #[path = "job_polling.rs"]
    pub mod job_polling;
    #[path = "loan_decision.rs"]
    pub mod loan_decision;
    #[path = "order_saga.rs"]
    pub mod order_saga;
    #[path = "payment_deadline.rs"]
    pub mod payment_deadline;
    #[path = "support_routing.rs"]
    pub mod support_routing;
}

/// The version of [`Recording`]'s own layout (not of the snapshots it holds).
const RECORDING_FORMAT: u32 = 1;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// One recorded run, as stored in a file.
#[derive(Debug, Serialize, Deserialize)]
struct Recording {
    /// [`RECORDING_FORMAT`].
    format: u32,
    /// The workflow's [`Workflow::NAME`].
    workflow: String,
    /// The workflow id the run used (it seeds the context and names activity calls).
    id: String,
    /// The `Debug` text of the workflow's output.
    output: String,
    /// How many steps the whole run took.
    steps: u32,
    /// The virtual time at which it ended, in milliseconds since the Unix epoch.
    finished_at_ms: u64,
    /// The start state, then one point per await, in order.
    points: Vec<Point>,
}

/// What a store holds at one point of a run.
#[derive(Debug, Serialize, Deserialize)]
struct Point {
    /// The snapshot envelope, as [`Snapshot::encode`] writes it.
    snapshot: Vec<u8>,
    /// The postcard encoding of the [`Pending`] tree the state waits on (none for the start).
    pending: Option<Vec<u8>>,
}

/// A recorded scenario: a workflow, its id and input, and how the outside world answers it. The
/// answers must not depend on the history of the run (only on inputs and virtual time), so that
/// a run resumed from any point sees what the recorded run saw.
struct Case<W: Workflow> {
    file: &'static str,
    workflow: W,
    id: &'static str,
    input: W::Input,
    answers: fn(TestRun<W>) -> TestRun<W>,
}

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/compat")
        .join(file)
}

fn writing() -> bool {
    std::env::var("WORKFLOW_COMPAT_WRITE").is_ok_and(|v| v == "1")
}

fn postcard_of<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("encodes")
}

/// Runs `case` from its input, recording every await, and writes its file (generator mode).
fn record<W: Workflow>(case: &Case<W>, input: W::Input)
where
    W::Output: Debug,
{
    let run = (case.answers)(TestRun::new(case.workflow, case.id, input))
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("{}: the recorded run fails: {e}", case.file));
    assert_eq!(run.snapshots.len(), run.commands.len() + 1);
    let points = run
        .snapshots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            assert_eq!(s.step as usize, i);
            let (state, ctx) = s.decode(case.workflow).expect("own snapshot decodes");
            Point {
                snapshot: Snapshot::encode(W::NAME, legacy::<W>(), i as u64, ctx, &state)
                    .expect("encodes"),
                pending: i.checked_sub(1).map(|c| postcard_of(&run.commands[c])),
            }
        })
        .collect();
    let recording = Recording {
        format: RECORDING_FORMAT,
        workflow: W::NAME.to_string(),
        id: case.id.to_string(),
        output: format!("{:?}", run.output),
        steps: run.steps,
        finished_at_ms: millis_since_epoch(run.finished_at),
        points,
    };
    let bytes = postcard_of(&recording);
    let path = path(case.file);
    if let Ok(existing) = std::fs::read(&path) {
        assert!(
            existing == bytes,
            "{}: WORKFLOW_COMPAT_WRITE=1 does not replace a recording with different bytes; \
             delete it first, and only for an intended, versioned layout change",
            path.display()
        );
        return;
    }
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("creates the directory");
    std::fs::write(&path, bytes).expect("writes the recording");
}

/// Resumes `case` from every point of its file and checks that the run ends as recorded.
fn check<W: Workflow>(case: &Case<W>)
where
    W::Output: Debug,
{
    let file = case.file;
    let bytes = std::fs::read(path(file)).unwrap_or_else(|e| {
        panic!("{file}: {e} (recordings are written once with WORKFLOW_COMPAT_WRITE=1)")
    });
    let rec: Recording =
        postcard::from_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: not a recording: {e}"));
    assert_eq!(rec.format, RECORDING_FORMAT, "{file}: recording format");
    assert_eq!(rec.workflow, W::NAME, "{file}: workflow name");
    assert_eq!(rec.id, case.id, "{file}: workflow id");
    assert_eq!(
        rec.points.len(),
        rec.steps as usize,
        "{file}: one point per step"
    );

    // Each point decoded: the envelope, and the tree it waits on.
    let points: Vec<(Snapshot, Option<Pending>)> = rec
        .points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let snapshot = Snapshot::decode(&p.snapshot)
                .unwrap_or_else(|e| panic!("{file}: point {k}: envelope: {e}"));
            let pending = p.pending.as_ref().map(|b| {
                postcard::from_bytes::<Pending>(b)
                    .unwrap_or_else(|e| panic!("{file}: point {k}: pending tree: {e}"))
            });
            (snapshot, pending)
        })
        .collect();

    for (k, (snapshot, pending)) in points.iter().enumerate() {
        let at = format!("{file}: point {k}");
        assert_eq!(snapshot.workflow, W::NAME, "{at}: workflow name");
        assert_eq!(
            snapshot.fingerprint,
            legacy::<W>(),
            "{at}: the fingerprint stored in the snapshot is not the legacy fingerprint today's \
             code computes for {}: the persisted layout changed",
            W::NAME
        );
        assert!(W::layout().accepts(snapshot.fingerprint), "{at}: refused");
        assert_eq!(snapshot.step, k as u64, "{at}: step");
        assert_eq!(
            pending.is_none(),
            k == 0,
            "{at}: only the start waits on nothing"
        );
        let state: W::State = snapshot
            .decode_state()
            .unwrap_or_else(|e| panic!("{at}: the state does not decode: {e}"));
        assert_eq!(
            postcard_of(&state),
            snapshot.state,
            "{at}: the state decodes to {state:?}, which today's code encodes differently"
        );

        let run = (case.answers)(TestRun::resume_from(
            case.workflow,
            case.id,
            snapshot.clone(),
            pending.clone(),
        ))
        .snapshot_every_await(true)
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("{at}: the resumed run fails: {e}"));

        assert_eq!(format!("{:?}", run.output), rec.output, "{at}: output");
        assert_eq!(run.steps, rec.steps, "{at}: step count");
        assert_eq!(
            millis_since_epoch(run.finished_at),
            rec.finished_at_ms,
            "{at}: end time"
        );
        // From this point on, today's code writes what the recorded run wrote.
        assert_eq!(
            run.snapshots.len(),
            points.len() - k,
            "{at}: snapshots written"
        );
        for (j, s) in run.snapshots.iter().enumerate() {
            let (state, ctx) = s.decode(case.workflow).expect("own snapshot decodes");
            let written = Snapshot::encode(W::NAME, legacy::<W>(), u64::from(s.step), ctx, &state)
                .expect("encodes");
            assert!(
                written == rec.points[k + j].snapshot,
                "{at}: resumed, it writes another snapshot at point {}",
                k + j
            );
        }
        let later: Vec<&Pending> = points[k..].iter().filter_map(|(_, p)| p.as_ref()).collect();
        assert_eq!(
            run.commands.iter().collect::<Vec<_>>(),
            later,
            "{at}: resumed, it waits on other commands"
        );
    }
}

/// The fingerprint the recordings were written under: the one computed from the saved
/// variables' names and types as written, before fingerprints covered the traced shapes.
fn legacy<W: Workflow>() -> u64 {
    W::layout()
        .legacy_fingerprint
        .expect("generated code keeps its legacy fingerprint")
}

/// Writes the recording in generator mode, then checks it (in both modes).
fn compat<W: Workflow>(case: Case<W>)
where
    W::Input: Clone,
    W::Output: Debug,
{
    if writing() {
        record(&case, case.input.clone());
    }
    check(&case);
}

fn millis_since_epoch(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis()
        .try_into()
        .expect("fits")
}

/// Whether a wait started at least `after` past the start of the recorded run.
fn waited_since(wait: &SignalWaitInfo<'_>, after: Duration) -> bool {
    millis_since_epoch(wait.at) >= DEFAULT_START_MS + after.as_millis() as u64
}

fn s(text: &str) -> String {
    text.to_string()
}

// --- The cases -------------------------------------------------------------------------------

/// Sequential awaits, and a `match` with awaits in its arms: the shipment fails, so the payment
/// is refunded and the stock released.
#[test]
fn order_saga_compensates_a_failed_shipment() {
    use corpus::order_saga::*;
    compat(Case {
        file: "order_saga-shipping_fails.bin",
        workflow: order_saga,
        id: "order-7",
        input: Order {
            id: 7,
            sku: s("oversize-sofa"),
            qty: 1,
            cents: 900,
        },
        answers: |run| {
            run.with_activity(reserve_stock)
                .with_activity(release_stock)
                .with_activity(charge_card)
                .with_activity(refund_card)
                .with_activity(ship_order)
        },
    });
}

/// `if` / `else if let` with awaits in the conditions and the branches (the incident branch).
#[test]
fn support_routing_takes_the_incident_branch() {
    use corpus::support_routing::*;
    compat(Case {
        file: "support_routing-incident.bin",
        workflow: support_routing,
        id: "ticket-1",
        input: Ticket {
            customer: s("acme-down"),
            subject: s("login broken"),
        },
        answers: |run| {
            run.with_activity(is_vip)
                .with_activity(open_incident_for)
                .with_activity(assign)
        },
    });
}

/// A `match` on an activity result with awaits in the arms, one of them a signal with a timeout
/// (answered: the analyst blocks the card).
#[test]
fn fraud_review_waits_for_the_analyst() {
    use corpus::fraud_review::*;
    compat(Case {
        file: "fraud_review-analyst_blocks.bin",
        workflow: fraud_review,
        id: "pay-1",
        input: Payment {
            id: s("p1"),
            cents: 20_000,
            country: s("NL"),
        },
        answers: |run| {
            run.with_activity(score_payment)
                .with_activity(capture)
                .with_activity(block_card)
                .with_activity(release_hold)
                .on_signal_wait("analyst-p1", |_| Some(false))
        },
    });
}

/// A signal with a timeout that expires (nobody answers in three days), an escalation, then a
/// second wait that is answered, and a `match` with awaits in its arms.
#[test]
fn expense_approval_escalates_after_a_timeout() {
    use corpus::expense_approval::*;
    compat(Case {
        file: "expense_approval-escalated.bin",
        workflow: expense_approval,
        id: "exp-1",
        input: Expense {
            employee: s("eve"),
            cents: 4200,
            reason: s("taxi"),
        },
        answers: |run| {
            run.with_activity(submit_expense)
                .with_activity(notify)
                .with_activity(pay_expense)
                .on_signal_wait("decision", |wait| {
                    waited_since(wait, 3 * DAY).then(|| Decision::Approve {
                        approver: s("director"),
                    })
                })
        },
    });
}

/// `loop` with a counter and `break value`, a sleep computed from the counter.
#[test]
fn job_polling_loops_until_done() {
    use corpus::job_polling::*;
    compat(Case {
        file: "job_polling-done.bin",
        workflow: job_polling,
        id: "job-1",
        input: JobRequest {
            job: s("etl"),
            max_checks: 5,
        },
        answers: |run| run.with_activity(start_job).with_activity(check_job),
    });
}

/// `while` over `mut` counters, a nested `if` with a sleep and `continue`.
#[test]
fn inventory_restock_loops_while_below_target() {
    use corpus::inventory_restock::*;
    compat(Case {
        file: "inventory_restock-refilled.bin",
        workflow: inventory_restock,
        id: "restock-1",
        input: Restock {
            sku: s("bolt"),
            stock: 10,
            target: 100,
        },
        answers: |run| run.with_activity(order_batch),
    });
}

/// A `for` over a `Vec` parameter with an activity per item (two parameters: a tuple input).
#[test]
fn invoice_batch_loops_over_a_vec() {
    use corpus::invoice_batch::*;
    compat(Case {
        file: "invoice_batch-three_lines.bin",
        workflow: invoice_batch,
        id: "inv-1",
        input: (
            s("acme"),
            vec![
                Line {
                    sku: s("pen"),
                    qty: 2,
                },
                Line {
                    sku: s("notebook"),
                    qty: 1,
                },
                Line {
                    sku: s("ink"),
                    qty: 3,
                },
            ],
        ),
        answers: |run| run.with_activity(price_line).with_activity(issue_invoice),
    });
}

/// A `for` over a range with an activity and a sleep per round, and a `return` from inside it.
#[test]
fn dunning_reminders_loops_over_a_range() {
    use corpus::dunning_reminders::*;
    compat(Case {
        file: "dunning_reminders-paid_in_round_3.bin",
        workflow: dunning_reminders,
        id: "dun-1",
        input: Unpaid {
            invoice: s("inv-3"),
            rounds: 5,
            days_between: 7,
        },
        answers: |run| {
            run.with_activity(is_paid)
                .with_activity(send_reminder)
                .with_activity(send_to_collections)
        },
    });
}

/// `ctx.join` of three activities, then an await after the join.
#[test]
fn loan_decision_joins_three_checks() {
    use corpus::loan_decision::*;
    compat(Case {
        file: "loan_decision-approved.bin",
        workflow: loan_decision,
        id: "loan-1",
        input: Application {
            applicant: s("grace"),
            cents: 10_000,
            employer: s("analytical engines"),
        },
        answers: |run| {
            run.with_activity(credit_score)
                .with_activity(verify_identity)
                .with_activity(verify_employment)
                .with_activity(record_decision)
        },
    });
}

/// `ctx.select` of a signal against a timer, won by the signal.
#[test]
fn payment_deadline_select_won_by_the_signal() {
    use corpus::payment_deadline::*;
    compat(Case {
        file: "payment_deadline-paid.bin",
        workflow: payment_deadline,
        id: "seat-1",
        input: Hold {
            seat: s("12A"),
            cents: 5000,
        },
        answers: |run| {
            run.with_activity(hold_seat)
                .with_activity(confirm_seat)
                .with_activity(release_seat)
                .on_signal_wait("paid", |_| {
                    Some(Paid {
                        reference: s("R1"),
                        cents: 5000,
                    })
                })
        },
    });
}

/// `ctx.select` of a signal against a timer, won by the timer.
#[test]
fn payment_deadline_select_won_by_the_timer() {
    use corpus::payment_deadline::*;
    compat(Case {
        file: "payment_deadline-expired.bin",
        workflow: payment_deadline,
        id: "seat-2",
        input: Hold {
            seat: s("14C"),
            cents: 5000,
        },
        answers: |run| {
            run.with_activity(hold_seat)
                .with_activity(confirm_seat)
                .with_activity(release_seat)
        },
    });
}
