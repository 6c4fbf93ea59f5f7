//! Property tests of the corpus: random activity failures, latencies, tie-break orders, inputs and
//! signal schedules. For every workflow the run straight and the run with snapshot/drop/restore
//! at every await must agree (on the output, or on the error); for the workflows with a business
//! rule worth stating, the rule is checked against a small model of it written here.

#[allow(dead_code)]
mod corpus;

use std::fmt::Debug;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use workflow_rt::testing::{TestError, TestOutcome, TestRun, TieBreak};
use workflow_rt::{ActivityError, Workflow, WorkflowError};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The random part of a run that does not depend on the workflow.
#[derive(Debug, Clone)]
struct Env {
    /// For the call with this index: `None` answers normally, `Some(retryable)` fails it.
    failures: Vec<Option<bool>>,
    /// Latency bucket of the call with this index (see [`latency`]).
    latencies: Vec<u8>,
    tie: TieBreak,
    /// Signals to send, as (index in the workflow's alphabet, delay in minutes).
    signals: Vec<(usize, u32)>,
}

fn tie_break() -> impl Strategy<Value = TieBreak> {
    prop_oneof![
        Just(TieBreak::SourceOrder),
        Just(TieBreak::ReverseSourceOrder),
        any::<u64>().prop_map(TieBreak::Shuffled)
    ]
}

fn env() -> impl Strategy<Value = Env> {
    (
        vec(
            prop_oneof![6 => Just(None), 1 => any::<bool>().prop_map(Some)],
            0..48,
        ),
        vec(0u8..4, 0..48),
        tie_break(),
        vec((0usize..16, 0u32..(20 * 24 * 60)), 0..8),
    )
        .prop_map(|(failures, latencies, tie, signals)| Env {
            failures,
            latencies,
            tie,
            signals,
        })
}

fn latency(bucket: u8) -> Duration {
    [
        Duration::ZERO,
        Duration::from_secs(1),
        Duration::from_secs(90),
        2 * HOUR,
    ][usize::from(bucket % 4)]
}

fn injected(index: usize, retryable: bool) -> ActivityError {
    if retryable {
        ActivityError::retryable(format!("injected failure of call {index}"))
    } else {
        ActivityError::non_retryable(format!("injected failure of call {index}"))
    }
}

/// Applies the failures, latencies and tie-break of `env` to `run`.
fn apply<W: Workflow>(run: TestRun<W>, env: &Env) -> TestRun<W> {
    let failures = env.failures.clone();
    let latencies = env.latencies.clone();
    run.tie_break(env.tie)
        .inject_failure(move |call| {
            failures
                .get(call.index)
                .copied()
                .flatten()
                .map(|r| injected(call.index, r))
        })
        .activity_latency(move |call| {
            latencies
                .get(call.index)
                .map_or(Duration::ZERO, |b| latency(*b))
        })
}

/// Applies only the failures of `env` (for models that assume activities take no time).
fn apply_failures<W: Workflow>(run: TestRun<W>, env: &Env) -> TestRun<W> {
    let failures = env.failures.clone();
    run.inject_failure(move |call| {
        failures
            .get(call.index)
            .copied()
            .flatten()
            .map(|r| injected(call.index, r))
    })
}

/// Whether the call with this index fails in `env`.
fn fails(env: &Env, index: usize) -> bool {
    env.failures.get(index).copied().flatten().is_some()
}

type Outcome<W> = Result<TestOutcome<<W as Workflow>::Output>, TestError>;

/// Runs `make()` straight and with snapshot/drop/restore at every await and checks that both
/// agree; returns the straight run. The only error a corpus workflow may end in is
/// [`TestError::Stuck`] (a signal that never comes); any other error fails the property.
fn agree<W: Workflow>(make: impl Fn() -> TestRun<W>) -> Result<Outcome<W>, TestCaseError>
where
    W::Output: PartialEq + Debug,
{
    let straight = make().run();
    let restored = make().snapshot_every_await(true).run();
    match (&straight, &restored) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(&a.output, &b.output);
            prop_assert_eq!(&a.commands, &b.commands);
            prop_assert_eq!(&a.resolutions, &b.resolutions);
            prop_assert_eq!(&a.activity_calls, &b.activity_calls);
            prop_assert_eq!(&a.signals, &b.signals);
            prop_assert_eq!(a.finished_at, b.finished_at);
        }
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            prop_assert!(
                matches!(a, TestError::Stuck { .. }),
                "{} failed: {}",
                W::NAME,
                a
            );
        }
        _ => prop_assert!(
            false,
            "{}: one mode failed, the other did not: {:?} / {:?}",
            W::NAME,
            straight.is_ok(),
            restored.is_ok()
        ),
    }
    Ok(straight)
}

fn done<W: Workflow>(outcome: Outcome<W>) -> Result<TestOutcome<W::Output>, TestCaseError> {
    outcome.map_err(|e| TestCaseError::fail(format!("{} did not finish: {e}", W::NAME)))
}

fn s(text: &str) -> String {
    text.to_string()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every corpus workflow, with its real activities, a fixed input, and the signals it can
/// receive: random failures, latencies, tie-breaks and signal schedules; both modes agree.
macro_rules! modes_agree {
    ($($test:ident: $module:ident::$wf:ident($input:expr) [$($activity:ident),* $(,)?] signals [$($name:literal => $payload:expr),* $(,)?];)*) => {$(
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $test(env in env()) {
                use corpus::$module::*;
                #[allow(clippy::type_complexity)]
                let alphabet: Vec<Box<dyn Fn(TestRun<$wf>, Duration) -> TestRun<$wf>>> =
                    vec![$(Box::new(|run: TestRun<$wf>, at: Duration| run.signal_after(at, $name, $payload))),*];
                // `agree` has checked both modes; the outcome itself has no rule here.
                let _outcome = agree(|| {
                    let run = TestRun::new($wf, concat!(stringify!($wf), "-1"), $input)$(.with_activity($activity))*;
                    let run = env.signals.iter().fold(run, |run, (pick, minutes)| match alphabet.get(pick % alphabet.len().max(1)) {
                        Some(send) => send(run, MINUTE * *minutes),
                        None => run,
                    });
                    apply(run, &env)
                })?;
            }
        }
    )*};
}

modes_agree! {
    account_import_agrees: account_import::account_import(LegacyAccount { id: s("abc"), balance: s("12"), contacts: vec![s("a@x"), s("b@y")] })
        [load_profile, create_account, is_sanctioned, add_contact, credit_tier] signals [];
    auction_close_agrees: auction_close::auction_close(1000)
        [reject_bid, invoice_winner] signals ["bid" => Bid { bidder: s("a"), cents: 500 }, "bid" => Bid { bidder: s("b"), cents: 1500 }];
    bank_transfer_agrees: bank_transfer::bank_transfer((Account { iban: s("NL01"), frozen: false }, Account { iban: s("NL02"), frozen: false }, 5))
        [debit, credit, reverse_debit] signals [];
    chargeback_dispute_agrees: chargeback_dispute::chargeback_dispute(Dispute { id: s("d1"), cents: 700 })
        [open_dispute, submit_evidence, refund_cardholder, close_case]
        signals ["evidence" => Evidence { documents: vec![s("a"), s("b")] }, "evidence" => Evidence { documents: vec![] }, "withdrawn" => "ok"];
    contract_signing_agrees: contract_signing::contract_signing(Contract { id: s("c"), counterparty: s("g") })
        [send_for_signature, remind_signer, archive_contract] signals ["signed" => Signature { signer: s("ceo") }];
    courier_race_agrees: courier_race::courier_race(Pickup { address: s("dam"), parcels: 12 })
        [ask_courier, book_pickup] signals ["cancel" => "no longer needed"];
    currency_conversion_agrees: currency_conversion::currency_conversion(Transfer { cents: 10_000, from: s("EUR"), to: s("USD") })
        [fx_rate, fee_for, settle] signals [];
    customer_onboarding_agrees: customer_onboarding::customer_onboarding(s("ann@example.com"))
        [find_customer, credit_limit, open_wallet, send_invite, flag_for_review] signals [];
    document_pipeline_agrees: document_pipeline::document_pipeline(s("der-2024.pdf"))
        [ocr, detect_language, translate, redact] signals [];
    dunning_reminders_agrees: dunning_reminders::dunning_reminders(Unpaid { invoice: s("inv-4"), rounds: 6, days_between: 3 })
        [is_paid, send_reminder, send_to_collections] signals [];
    email_campaign_agrees: email_campaign::email_campaign(Campaign { name: s("c"), recipients: vec![s("a@x"), s("no-b"), s("c@z"), s("d@w")] })
        [is_unsubscribed, send_email] signals ["pause" => ()];
    escalation_chain_agrees: escalation_chain::escalation_chain(Incident { id: s("I"), chain: vec![s("ann"), s("bob"), s("cat")] })
        [page, declare_major_incident] signals ["ack-ann" => true, "ack-bob" => false, "ack-cat" => true, "ack-bob" => true];
    expense_approval_agrees: expense_approval::expense_approval(Expense { employee: s("eve"), cents: 10, reason: s("x") })
        [submit_expense, notify, pay_expense]
        signals ["decision" => Decision::Approve { approver: s("m") }, "decision" => Decision::Reject { approver: s("d"), why: s("no") }];
    fraud_review_agrees: fraud_review::fraud_review(Payment { id: s("p"), cents: 20_000, country: s("NL") })
        [score_payment, capture, block_card, release_hold] signals ["analyst-p" => true, "analyst-p" => false];
    inventory_restock_agrees: inventory_restock::inventory_restock(Restock { sku: s("b"), stock: 0, target: 200 })
        [order_batch] signals [];
    invoice_batch_agrees: invoice_batch::invoice_batch((s("acme"), vec![Line { sku: s("pen"), qty: 2 }, Line { sku: s("ink"), qty: 1 }, Line { sku: s("pad"), qty: 4 }]))
        [price_line, issue_invoice] signals [];
    job_polling_agrees: job_polling::job_polling(JobRequest { job: s("etl"), max_checks: 6 })
        [start_job, check_job] signals [];
    kyc_sampling_agrees: kyc_sampling::kyc_sampling(s("ann"))
        [check_documents, manual_review] signals [];
    loan_decision_agrees: loan_decision::loan_decision(Application { applicant: s("alice"), cents: 100, employer: s("initech") })
        [credit_score, verify_identity, verify_employment, record_decision] signals [];
    message_batcher_agrees: message_batcher::message_batcher(s("t"))
        [flush_batch] signals ["event" => "e"];
    newsletter_fanout_agrees: newsletter_fanout::newsletter_fanout(Newsletter { issue: 1, subscribers: vec![s("a@x"), s("b"), s("c@z")] })
        [deliver] signals [];
    order_saga_agrees: order_saga::order_saga(Order { id: 1, sku: s("book"), qty: 1, cents: 100 })
        [reserve_stock, release_stock, charge_card, refund_card, ship_order] signals [];
    paginated_export_agrees: paginated_export::paginated_export(Export { report: s("r"), pages: 4 })
        [has_page, fetch_page, upload_export] signals [];
    payment_deadline_agrees: payment_deadline::payment_deadline(Hold { seat: s("1A"), cents: 50 })
        [hold_seat, confirm_seat, release_seat]
        signals ["paid" => Paid { reference: s("r"), cents: 50 }, "paid" => Paid { reference: s("r"), cents: 10 }];
    pricing_defaults_agrees: pricing_defaults::pricing_defaults(Cart { customer: s("carol"), cents: 10_000 })
        [loyalty_discount, tax_rate, best_coupon, cart_note] signals ["manual-discount" => 30u64];
    quorum_vote_agrees: quorum_vote::quorum_vote(Motion { title: s("m"), members: 5, quorum: 3 })
        [publish_result] signals ["vote" => Vote { member: s("a"), yes: true }, "vote" => Vote { member: s("b"), yes: true }, "vote" => Vote { member: s("c"), yes: false }, "vote" => Vote { member: s("d"), yes: true }];
    shipment_manifest_agrees: shipment_manifest::shipment_manifest(Shipment { id: 1, origin: (s("NL"), s("U")), boxes: vec![(s("a"), 1), (s("b"), 2)], insured: true })
        [rate_shipment, label_box, insure] signals [];
    shipping_quote_agrees: shipping_quote::shipping_quote(Parcel { grams: 1200, zone: s("north"), express: true })
        [base_rate, weight_surcharge, fuel_index, carrier_code, audit] signals [];
    subscription_billing_agrees: subscription_billing::subscription_billing(Plan { customer: s("ann"), cents: 1, months: 4 })
        [charge_subscription, suspend_subscription] signals ["cancel" => "bye"];
    supplier_search_agrees: supplier_search::supplier_search(Need { part: s("g"), qty: 1, max_days: 4, suppliers: vec![s("globex"), s("acme")] })
        [request_quote, place_purchase_order] signals [];
    support_routing_agrees: support_routing::support_routing(Ticket { customer: s("bob"), subject: s("refund") })
        [is_vip, open_incident_for, assign] signals [];
    trip_booking_agrees: trip_booking::trip_booking(Trip { traveller: s("t"), legs: vec![Leg::Car { city: s("a"), days: 1 }, Leg::Hotel { city: s("a"), nights: 1 }] })
        [book_leg, cancel_booking] signals [];
    warehouse_picking_agrees: warehouse_picking::warehouse_picking(PickList { sku: s("x"), needed: 6, aisles: vec![Aisle { name: s("A"), bins: vec![s("b3"), s("b0")] }, Aisle { name: s("B"), bins: vec![s("b2"), s("b5")] }] })
        [scan_bin, take_from_bin] signals [];
    warranty_claim_agrees: warranty_claim::warranty_claim(Claim { serial: s("S12"), defect: s("bent") })
        [find_purchase, inspect, issue_replacement] signals ["photo" => "IMG"];
}

// The business rules of particular workflows, checked against models.

/// A saga's forward steps run until the first failure, then the steps that succeeded are undone
/// newest first, until an undo itself fails.
fn saga_calls(
    forward: &[&'static str],
    undo: &[&'static str],
    env: &Env,
) -> (Vec<&'static str>, bool) {
    let mut calls = Vec::new();
    let mut index = 0;
    let mut done = 0;
    for step in forward {
        calls.push(*step);
        index += 1;
        if fails(env, index - 1) {
            break;
        }
        done += 1;
    }
    if done == forward.len() {
        return (calls, true);
    }
    for step in undo[..done].iter().rev() {
        calls.push(*step);
        index += 1;
        if fails(env, index - 1) {
            break;
        }
    }
    (calls, false)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn order_saga_completes_or_undoes_every_step(env in env(), declined in any::<bool>()) {
        use corpus::order_saga::*;
        let cents = if declined { 60_000 } else { 1_500 };
        let r = done::<order_saga>(agree(|| {
            let run = TestRun::new(order_saga, "o-1", Order { id: 1, sku: s("book"), qty: 1, cents })
                .with_activity(reserve_stock)
                .with_activity(release_stock)
                .with_activity(charge_card)
                .with_activity(refund_card)
                .with_activity(ship_order);
            apply(run, &env)
        })?)?;
        // A declined card fails the charge like an injected failure.
        let mut model_env = env.clone();
        if declined {
            model_env.failures.resize(model_env.failures.len().max(2), None);
            model_env.failures[1] = Some(false);
        }
        let (calls, completed) =
            saga_calls(&["reserve_stock", "charge_card", "ship_order"], &["release_stock", "refund_card"], &model_env);
        prop_assert_eq!(r.activity_names(), calls);
        prop_assert_eq!(r.output.is_ok(), completed);
        if let Ok(receipt) = &r.output {
            prop_assert_eq!(&receipt.payment, "pay-1-1500");
        }
        // Every compensation undoes what its step produced.
        if let Some(release) = r.calls_of(release_stock).first() {
            prop_assert_eq!(release.input(release_stock).unwrap(), "rsv-1-book");
        }
        if let Some(refund) = r.calls_of(refund_card).first() {
            prop_assert_eq!(refund.input(refund_card).unwrap(), "pay-1-1500");
        }
    }

    #[test]
    fn trip_booking_cancels_exactly_what_it_booked(env in env(), legs in 1usize..6) {
        use corpus::trip_booking::*;
        let legs: Vec<Leg> = (0..legs).map(|i| Leg::Car { city: format!("c{i}"), days: 1 }).collect();
        let r = done::<trip_booking>(agree(|| {
            let run = TestRun::new(trip_booking, "t-1", Trip { traveller: s("t"), legs: legs.clone() })
                .with_activity(book_leg)
                .with_activity(cancel_booking);
            apply(run, &env)
        })?)?;
        let booked: Vec<Booking> = r.calls_of(book_leg).iter().filter_map(|c| c.output(book_leg).unwrap().ok()).collect();
        let cancelled: Vec<Booking> = r.inputs_of(cancel_booking).unwrap();
        match &r.output {
            Ok(confirmations) => {
                prop_assert_eq!(booked.len(), legs.len());
                prop_assert!(cancelled.is_empty());
                prop_assert_eq!(confirmations.clone(), booked.iter().map(|b| b.confirmation.clone()).collect::<Vec<_>>());
            }
            Err(_) => {
                // Newest first; all of them unless a cancellation failed, which is the last call.
                let mut expected = booked.clone();
                expected.reverse();
                let last_failed = r.activity_calls.last().is_some_and(|c| c.name == "cancel_booking" && c.result.is_err());
                if last_failed {
                    prop_assert_eq!(&cancelled[..], &expected[..cancelled.len()]);
                } else {
                    prop_assert_eq!(cancelled, expected);
                }
            }
        }
    }

    #[test]
    fn bank_transfer_never_loses_a_debit(env in env(), to_frozen in any::<bool>()) {
        use corpus::bank_transfer::*;
        let r = done::<bank_transfer>(agree(|| {
            let accounts = (Account { iban: s("A"), frozen: false }, Account { iban: s("B"), frozen: to_frozen }, 10);
            let run = TestRun::new(bank_transfer, "b-1", accounts).with_activity(debit).with_activity(credit).with_activity(reverse_debit);
            apply(run, &env)
        })?)?;
        let debited = r.calls_of(debit)[0].result.is_ok();
        let credited = r.calls_of(credit).first().is_some_and(|c| c.result.is_ok());
        let reversed = r.calls_of(reverse_debit);
        prop_assert_eq!(r.output.is_ok(), debited && credited);
        // A debit that was not matched by a credit is reversed, exactly once.
        prop_assert_eq!(reversed.len(), usize::from(debited && !credited));
        if let Some(reversal) = reversed.first() {
            prop_assert_eq!(reversal.input(reverse_debit).unwrap(), "D-A-10");
        }
    }

    #[test]
    fn invoice_totals_add_up(env in env(), lines in vec(("[a-z]{0,6}", 1u32..5), 0..6)) {
        use corpus::invoice_batch::*;
        let lines: Vec<Line> = lines.into_iter().map(|(sku, qty)| Line { sku, qty }).collect();
        let r = done::<invoice_batch>(agree(|| {
            apply(TestRun::new(invoice_batch, "i-1", (s("acme"), lines.clone())).with_activity(price_line).with_activity(issue_invoice), &env)
        })?)?;
        // The model: price each line until one fails (empty sku or injected), then issue.
        let mut subtotal = 0u64;
        let mut failure = None;
        for (i, line) in lines.iter().enumerate() {
            if fails(&env, i) || line.sku.is_empty() {
                failure = Some(i);
                break;
            }
            subtotal += line.sku.len() as u64 * 100 * u64::from(line.qty);
        }
        match (failure, &r.output) {
            (Some(i), Err(_)) => prop_assert_eq!(r.activity_calls.len(), i + 1),
            (None, Ok(invoice)) => {
                let discount = if lines.len() >= 3 { subtotal / 10 } else { 0 };
                prop_assert_eq!((invoice.subtotal, invoice.discount, invoice.total), (subtotal, discount, subtotal - discount));
                prop_assert_eq!(invoice.lines as usize, lines.len());
            }
            (None, Err(_)) => prop_assert!(fails(&env, lines.len()), "only the invoice call may fail: {:?}", r.output),
            (Some(_), Ok(_)) => prop_assert!(false, "a failed line must fail the batch"),
        }
    }

    #[test]
    fn newsletter_accounts_for_every_subscriber(env in env(), subscribers in vec("[a-c]{1,2}@?", 0..8)) {
        use corpus::newsletter_fanout::*;
        let r = done::<newsletter_fanout>(agree(|| {
            apply(TestRun::new(newsletter_fanout, "n-1", Newsletter { issue: 3, subscribers: subscribers.clone() }).with_activity(deliver), &env)
        })?)?;
        let delivery = r.output.clone().unwrap();
        let mut accounted: Vec<String> = delivery.sent.iter().map(|x| x.trim_end_matches("#3").to_string()).chain(delivery.bounced.clone()).collect();
        let mut expected = subscribers.clone();
        accounted.sort();
        expected.sort();
        prop_assert_eq!(accounted, expected);
        // A bounced subscriber was tried twice, a sent one succeeded once.
        for b in &delivery.bounced {
            let tries = r.inputs_of(deliver).unwrap().iter().filter(|(_, to)| to == b).count();
            prop_assert!(tries >= 2);
        }
        prop_assert_eq!(r.calls_of(deliver).iter().filter(|c| c.result.is_ok()).count(), delivery.sent.len());
    }

    #[test]
    fn loan_decisions_do_not_depend_on_completion_order(env in env(), applicant in "[a-z]{1,9}", employer in "[a-z]{0,9}", cents in 0u64..10_000_000) {
        use corpus::loan_decision::*;
        let in_order = Env { failures: env.failures.clone(), latencies: vec![], tie: TieBreak::SourceOrder, signals: vec![] };
        let make = |shuffle: bool| {
            let run = TestRun::new(loan_decision, "l-1", Application { applicant: applicant.clone(), cents, employer: employer.clone() })
                .with_activity(credit_score)
                .with_activity(verify_identity)
                .with_activity(verify_employment)
                .with_activity(record_decision);
            if shuffle { apply(run, &env) } else { apply_failures(run, &in_order) }
        };
        let shuffled = done::<loan_decision>(agree(|| make(true))?)?;
        let ordered = done::<loan_decision>(agree(|| make(false))?)?;
        prop_assert_eq!(&shuffled.output, &ordered.output);
        prop_assert_eq!(&shuffled.commands, &ordered.commands);
    }

    #[test]
    fn warehouse_never_picks_more_than_needed(env in env(), needed in 1u32..20, aisles in vec(vec(0u32..10, 1..4), 1..4)) {
        use corpus::warehouse_picking::*;
        let aisles: Vec<Aisle> = aisles
            .iter()
            .enumerate()
            .map(|(i, bins)| Aisle { name: format!("A{i}"), bins: bins.iter().map(|b| format!("b{b}")).collect() })
            .collect();
        let r = done::<warehouse_picking>(agree(|| {
            let list = PickList { sku: s("x"), needed, aisles: aisles.clone() };
            apply(TestRun::new(warehouse_picking, "w-1", list).with_activity(scan_bin).with_activity(take_from_bin), &env)
        })?)?;
        let taken: u32 = r.calls_of(take_from_bin).iter().filter_map(|c| c.output(take_from_bin).unwrap().ok()).sum();
        prop_assert!(taken <= needed);
        if let Ok(result) = &r.output {
            prop_assert_eq!((result.picked, taken), (needed, needed));
            prop_assert_eq!(result.bins_visited.len(), r.calls_of(scan_bin).len());
        }
    }
}

// Signal-driven workflows against models of their timing. Times are drawn on coarse grids so that
// signals often arrive exactly when a timer fires: ties are where the models are easiest to get
// wrong.

/// Minutes below `max`, half of them on the hour.
fn on_the_hour_or_not(max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![(0..max / 60).prop_map(|h| h * 60), 0..max]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_first_bid_at_the_reserve_wins(bids in vec((0u32..20, 0u64..2000), 0..8)) {
        use corpus::auction_close::*;
        let outcome = agree(|| {
            bids.iter().enumerate().fold(
                TestRun::new(auction_close, "a-1", 1000).with_activity(reject_bid).with_activity(invoice_winner),
                |run, (i, (minutes, cents))| run.signal_after(MINUTE * *minutes, "bid", Bid { bidder: format!("b{i}"), cents: *cents }),
            )
        })?;
        // Signals arrive by time, then by the order they were sent.
        let mut arrivals: Vec<(u32, usize, u64)> = bids.iter().enumerate().map(|(i, (m, c))| (*m, i, *c)).collect();
        arrivals.sort();
        match arrivals.iter().position(|(_, _, c)| *c >= 1000) {
            Some(won) => {
                let r = outcome.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (minutes, i, cents) = arrivals[won];
                let sale = r.output.clone().unwrap();
                prop_assert_eq!((sale.winner, sale.cents, sale.rejected), (format!("b{i}"), cents, won as u32));
                prop_assert_eq!(r.elapsed(), MINUTE * minutes);
                prop_assert_eq!(r.unconsumed_signals.len(), arrivals.len() - won - 1);
            }
            None => prop_assert!(matches!(outcome, Err(TestError::Stuck { .. })), "no bid wins: the auction waits"),
        }
    }

    #[test]
    fn a_vote_closes_on_quorum_majority_or_deadline(votes in vec((on_the_hour_or_not(60 * 60), 0usize..6, any::<bool>()), 0..10)) {
        use corpus::quorum_vote::*;
        let r = done::<quorum_vote>(agree(|| {
            votes.iter().fold(
                TestRun::new(quorum_vote, "q-1", Motion { title: s("m"), members: 5, quorum: 3 }).with_activity(publish_result),
                |run, (minutes, member, yes)| run.signal_after(MINUTE * *minutes, "vote", Vote { member: format!("m{member}"), yes: *yes }),
            )
        })?)?;
        let mut arrivals: Vec<(u32, usize, usize, bool)> = votes.iter().enumerate().map(|(i, (t, m, y))| (*t, i, *m, *y)).collect();
        arrivals.sort();
        let (mut yes, mut no, mut seen) = (0u32, 0u32, Vec::new());
        for (t, _, member, y) in arrivals {
            if yes >= 3 || no * 2 > 5 || t > 48 * 60 {
                break;
            }
            if !seen.contains(&member) {
                seen.push(member);
                if y { yes += 1 } else { no += 1 }
            }
        }
        let expected = if yes >= 3 {
            format!("m: carried {yes} to {no}")
        } else if no * 2 > 5 {
            format!("m: defeated {no} to {yes}")
        } else {
            format!("m: no quorum ({yes} of 3)")
        };
        prop_assert_eq!(&r.output, &Ok(expected));
        prop_assert!(r.elapsed() <= 48 * HOUR);
    }

    #[test]
    fn batches_hold_every_event_received(events in vec((0u32..10).prop_map(|k| k * 100), 0..30)) {
        use corpus::message_batcher::*;
        let r = done::<message_batcher>(agree(|| {
            events.iter().enumerate().fold(TestRun::new(message_batcher, "m-1", s("t")).with_activity(flush_batch), |run, (i, secs)| {
                run.signal_after(Duration::from_secs(u64::from(*secs)), "event", format!("e{i}"))
            })
        })?)?;
        // The model: each wait takes the next event if it arrives within 300 s of the wait's start.
        let mut arrivals: Vec<u32> = events.clone();
        arrivals.sort();
        let (mut now, mut received) = (0u32, 0u32);
        for at in arrivals {
            if at > now + 300 {
                break;
            }
            now = now.max(at);
            received += 1;
        }
        let batches = received / 10 + u32::from(received % 10 != 0);
        prop_assert_eq!(&r.output, &Ok((received, batches)));
        prop_assert_eq!(r.signals.len() as u32, received);
        prop_assert_eq!(r.elapsed(), Duration::from_secs(u64::from(now + 300)));
    }

    #[test]
    fn a_payment_confirms_only_in_time_and_in_full(paid in proptest::option::of((prop_oneof![Just(30u32), 0u32..60], prop_oneof![Just(50u64), 0u64..100]))) {
        use corpus::payment_deadline::*;
        let r = done::<payment_deadline>(agree(|| {
            let run = TestRun::new(payment_deadline, "p-1", Hold { seat: s("1A"), cents: 50 })
                .with_activity(hold_seat)
                .with_activity(confirm_seat)
                .with_activity(release_seat);
            match paid {
                Some((minutes, cents)) => run.signal_after(MINUTE * minutes, "paid", Paid { reference: s("R"), cents }),
                None => run,
            }
        })?)?;
        let expected = match paid {
            Some((minutes, cents)) if minutes <= 30 && cents >= 50 => Ok(s("ticket-hold-1A-R")),
            Some((minutes, cents)) if minutes <= 30 => Err(WorkflowError::msg(format!("paid {cents} of 50"))),
            _ => Err(WorkflowError::msg("payment window expired")),
        };
        prop_assert_eq!(&r.output, &expected);
        // The seat is either confirmed or released, never both, never neither.
        prop_assert_eq!(r.calls_of(confirm_seat).len() + r.calls_of(release_seat).len(), 1);
    }

    #[test]
    fn an_expense_is_decided_within_five_days_or_expires(decision in proptest::option::of((prop_oneof![Just(72u32), Just(120u32), 0u32..(8 * 24)], any::<bool>()))) {
        use corpus::expense_approval::*;
        let r = done::<expense_approval>(agree(|| {
            let run = TestRun::new(expense_approval, "e-1", Expense { employee: s("eve"), cents: 7, reason: s("x") })
                .with_activity(submit_expense)
                .with_activity(notify)
                .with_activity(pay_expense);
            match decision {
                Some((hours, true)) => run.signal_after(HOUR * hours, "decision", Decision::Approve { approver: s("m") }),
                Some((hours, false)) => run.signal_after(HOUR * hours, "decision", Decision::Reject { approver: s("m"), why: s("no") }),
                None => run,
            }
        })?)?;
        let notified: Vec<String> = r.inputs_of(notify).unwrap().into_iter().map(|(who, _)| who).collect();
        match decision {
            Some((hours, approve)) if hours <= 5 * 24 => {
                let expected = if approve {
                    ExpenseOutcome::Paid { approver: s("m"), transfer: s("tr-exp-eve-7-7") }
                } else {
                    ExpenseOutcome::Rejected { approver: s("m"), why: s("no") }
                };
                prop_assert_eq!(&r.output, &Ok(expected));
                let escalated = hours > 3 * 24;
                let expected_notified: Vec<&str> = if escalated { vec!["manager", "director", "eve"] } else { vec!["manager", "eve"] };
                prop_assert_eq!(notified, expected_notified);
                prop_assert_eq!(r.elapsed(), HOUR * hours);
            }
            _ => {
                prop_assert_eq!(&r.output, &Ok(ExpenseOutcome::Expired));
                prop_assert_eq!(r.elapsed(), 5 * DAY);
            }
        }
    }

    #[test]
    fn escalation_follows_the_chain(acks in vec((0usize..3, (0u32..18).prop_map(|k| k * 5), any::<bool>()), 0..6)) {
        use corpus::escalation_chain::*;
        let chain = ["ann", "bob", "cat"];
        let r = done::<escalation_chain>(agree(|| {
            acks.iter().fold(
                TestRun::new(escalation_chain, "x-1", Incident { id: s("I"), chain: chain.map(s).to_vec() })
                    .with_activity(page)
                    .with_activity(declare_major_incident),
                |run, (who, minutes, ack)| run.signal_after(MINUTE * *minutes, format!("ack-{}", chain[*who]), *ack),
            )
        })?)?;
        // The model: per engineer, the acknowledgements sent to them, by arrival.
        let mut queues: Vec<Vec<(u32, usize, bool)>> = vec![Vec::new(); 3];
        for (i, (who, minutes, ack)) in acks.iter().enumerate() {
            queues[*who].push((*minutes, i, *ack));
        }
        queues.iter_mut().for_each(|q| q.sort());
        let (mut now, mut pages, mut owner) = (0u32, 0u32, None);
        'chain: for (who, queue) in queues.iter_mut().enumerate() {
            for _attempt in 1..=2 {
                pages += 1;
                let answer = match queue.first() {
                    Some(&(at, _, ack)) if at <= now + 10 => {
                        queue.remove(0);
                        now = now.max(at);
                        Some(ack)
                    }
                    _ => {
                        now += 10;
                        None
                    }
                };
                match answer {
                    Some(true) => {
                        owner = Some(chain[who]);
                        break 'chain;
                    }
                    Some(false) => continue 'chain,
                    None => {}
                }
            }
        }
        let expected = match owner {
            Some(who) => format!("{who} owns I after {pages} pages"),
            None => format!("MAJOR-I after {pages} pages"),
        };
        prop_assert_eq!(&r.output, &Ok(expected));
        prop_assert_eq!(r.elapsed(), MINUTE * now);
    }

    #[test]
    fn billing_charges_each_month_at_most_once(env in env(), months in 1u32..6, cancel in proptest::option::of(prop_oneof![(1u32..6).prop_map(|m| m * 30 * 24), (0u32..200).prop_map(|d| d * 24)])) {
        use corpus::subscription_billing::*;
        let r = done::<subscription_billing>(agree(|| {
            let run = TestRun::new(subscription_billing, "s-1", Plan { customer: s("ann"), cents: 1, months })
                .with_activity(charge_subscription)
                .with_activity(suspend_subscription);
            let run = match cancel {
                Some(hours) => run.signal_after(HOUR * hours, "cancel", "bye"),
                None => run,
            };
            apply_failures(run, &env)
        })?)?;
        // The model, in hours.
        let (mut now, mut call, mut failed, mut charged) = (0u32, 0usize, 0u32, Vec::new());
        let mut ended = s("completed");
        let mut error = false;
        'months: for month in 1..=months {
            let mut attempt = 0;
            loop {
                attempt += 1;
                call += 1;
                if !fails(&env, call - 1) {
                    charged.push(format!("ann-m{month}-a{attempt}"));
                    break;
                }
                failed += 1;
                if attempt < 3 {
                    now += 24;
                    continue;
                }
                call += 1;
                if fails(&env, call - 1) {
                    error = true;
                } else {
                    ended = format!("suspended in month {month}");
                }
                break 'months;
            }
            match cancel {
                Some(at) if at <= now + 30 * 24 => {
                    now = now.max(at);
                    ended = format!("cancelled in month {month}: bye");
                    break;
                }
                _ => now += 30 * 24,
            }
        }
        if error {
            prop_assert!(r.output.is_err());
        } else {
            prop_assert_eq!(&r.output, &Ok(Billing { charged, failed_attempts: failed, ended }));
            prop_assert_eq!(r.elapsed(), HOUR * now);
        }
    }

    #[test]
    fn a_dispute_ends_by_the_first_event(evidence in proptest::option::of(((0u32..12).prop_map(|d| d * 24), 0usize..4)), withdrawn in proptest::option::of((0u32..12).prop_map(|d| d * 24))) {
        use corpus::chargeback_dispute::*;
        let r = done::<chargeback_dispute>(agree(|| {
            let mut run = TestRun::new(chargeback_dispute, "c-1", Dispute { id: s("d"), cents: 9 })
                .with_activity(open_dispute)
                .with_activity(submit_evidence)
                .with_activity(refund_cardholder)
                .with_activity(close_case);
            if let Some((hours, docs)) = evidence {
                run = run.signal_after(HOUR * hours, "evidence", Evidence { documents: vec![s("doc"); docs] });
            }
            if let Some(hours) = withdrawn {
                run = run.signal_after(HOUR * hours, "withdrawn", "settled");
            }
            run
        })?)?;
        // The earliest of the evidence, the withdrawal and the 10-day timer; ties in that order.
        let deadline = 10 * 24;
        let mut events = vec![(deadline, 2usize)];
        if let Some((hours, _)) = evidence {
            events.push((hours, 0));
        }
        if let Some(hours) = withdrawn {
            events.push((hours, 1));
        }
        events.sort();
        let outcome = match events[0].1 {
            0 if evidence.is_some_and(|(_, docs)| docs >= 2) => s("merchant won"),
            1 => s("withdrawn: settled"),
            _ => s("refund 9 on case-d"),
        };
        prop_assert_eq!(&r.output, &Ok(format!("case-d: {outcome}")));
        prop_assert_eq!(r.elapsed(), HOUR * events[0].0);
    }
}

mod deployment_plan_rules {
    use super::*;
    use corpus::deployment_plan::*;

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn a_deployment_completes_or_rolls_back_what_it_applied(env in env(), steps in vec("(bad-)?[a-z]{1,4}", 0..6)) {
            let r = done::<deployment_plan>(agree(|| {
                let run = TestRun::new(deployment_plan, "d-1", Plan { release: s("v9"), steps: steps.clone() })
                    .with_activity(step)
                    .with_activity(health)
                    .with_activity(rollback);
                apply(run, &env)
            })?)?;
            let applied: Vec<String> = r.calls_of(step).iter().filter_map(|c| c.output(step).unwrap().ok()).collect();
            let rolled_back: Vec<String> = r.inputs_of(rollback).unwrap();
            match &r.output {
                Ok(done) => {
                    prop_assert_eq!(done, &applied);
                    prop_assert!(rolled_back.is_empty());
                }
                Err(_) if rolled_back.is_empty() => {}
                Err(_) => {
                    // Newest first, all of them unless a rollback failed (the last call).
                    let mut expected = applied.clone();
                    expected.reverse();
                    prop_assert_eq!(&rolled_back[..], &expected[..rolled_back.len()]);
                    let last_failed = r.activity_calls.last().is_some_and(|c| c.result.is_err());
                    prop_assert!(last_failed || rolled_back.len() == expected.len());
                }
            }
        }
    }
}
