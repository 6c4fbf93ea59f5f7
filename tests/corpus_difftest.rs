//! Differential tests of the corpus: every workflow runs through the test driver twice, straight
//! and with its state and context encoded, dropped and restored at every await; both runs must
//! give the same output, the same commands, the same resolutions and the same snapshot bytes. The
//! expected outputs are worked out by hand from each workflow's business rules (written next to
//! each assertion), not taken from a run.

#[allow(dead_code)]
mod corpus;

use std::fmt::Debug;
use std::time::Duration;

use workflow_rt::machine::Pending;
use workflow_rt::testing::{TestError, TestOutcome, TestRun, TieBreak};
use workflow_rt::{ActivityError, ActivityErrorKind, Workflow, WorkflowError};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs `make()` straight and with snapshot/drop/restore at every await; both must agree on
/// everything observable. Returns the straight run.
fn difftest<W: Workflow>(make: impl Fn() -> TestRun<W>) -> TestOutcome<W::Output>
where
    W::Output: PartialEq + Debug,
{
    let straight = make()
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("straight run of {}: {e}", W::NAME));
    let restored = make()
        .snapshot_every_await(true)
        .record_snapshots(true)
        .run()
        .unwrap_or_else(|e| panic!("restored run of {}: {e}", W::NAME));
    assert_eq!(
        straight.output,
        restored.output,
        "{}: outputs differ",
        W::NAME
    );
    assert_eq!(
        straight.commands,
        restored.commands,
        "{}: commands differ",
        W::NAME
    );
    assert_eq!(
        straight.resolutions,
        restored.resolutions,
        "{}: resolutions differ",
        W::NAME
    );
    assert_eq!(
        straight.steps,
        restored.steps,
        "{}: step counts differ",
        W::NAME
    );
    assert_eq!(
        straight.snapshots,
        restored.snapshots,
        "{}: snapshot bytes differ",
        W::NAME
    );
    assert_eq!(
        straight.activity_calls,
        restored.activity_calls,
        "{}: activity calls differ",
        W::NAME
    );
    assert_eq!(
        straight.signals,
        restored.signals,
        "{}: delivered signals differ",
        W::NAME
    );
    assert_eq!(
        straight.finished_at,
        restored.finished_at,
        "{}: end times differ",
        W::NAME
    );
    // One snapshot before the first step and one per await.
    assert_eq!(straight.snapshots.len(), straight.commands.len() + 1);
    assert_eq!(straight.steps as usize, straight.commands.len() + 1);
    straight
}

/// Like [`difftest`] for a run that must end in an error: both modes end in the same one.
fn difftest_error<W: Workflow>(make: impl Fn() -> TestRun<W>) -> TestError
where
    W::Output: Debug,
{
    let straight = make().run().map(|o| o.output);
    let restored = make().snapshot_every_await(true).run().map(|o| o.output);
    let (Err(a), Err(b)) = (straight, restored) else {
        panic!("{} was expected to fail in both modes", W::NAME)
    };
    assert_eq!(a, b);
    a
}

/// The workflow error `?` makes of an activity's final error (one attempt in the driver).
fn failed(mut error: ActivityError) -> WorkflowError {
    error.attempts = 1;
    WorkflowError::from(error)
}

fn s(text: &str) -> String {
    text.to_string()
}

fn names<O>(run: &TestOutcome<O>) -> Vec<&str> {
    run.activity_names()
}

mod order_saga_runs {
    use super::*;
    use corpus::order_saga::*;

    fn order(cents: u64, sku: &str, qty: u32) -> Order {
        Order {
            id: 7,
            sku: s(sku),
            qty,
            cents,
        }
    }

    fn run(o: Order) -> TestRun<order_saga> {
        TestRun::new(order_saga, "order-7", o)
            .with_activity(reserve_stock)
            .with_activity(release_stock)
            .with_activity(charge_card)
            .with_activity(refund_card)
            .with_activity(ship_order)
    }

    #[test]
    fn completes_every_step() {
        let r = difftest(|| run(order(1500, "book", 2)));
        let receipt = Receipt {
            order_id: 7,
            reservation: s("rsv-7-book"),
            payment: s("pay-7-1500"),
            tracking: s("trk-7"),
        };
        assert_eq!(r.output, Ok(receipt));
        assert_eq!(names(&r), ["reserve_stock", "charge_card", "ship_order"]);
        let Pending::Activity { options, .. } = &r.commands[0] else {
            panic!("{:?}", r.commands[0])
        };
        assert_eq!(options.start_to_close, Some(Duration::from_secs(10)));
        let Pending::Activity { options, .. } = &r.commands[1] else {
            panic!("{:?}", r.commands[1])
        };
        assert_eq!(
            (
                options.retry.maximum_attempts,
                options.retry.non_retryable_errors.clone()
            ),
            (5, vec![s("Declined")])
        );
    }

    #[test]
    fn a_declined_card_releases_the_stock() {
        let r = difftest(|| run(order(60_000, "book", 1)));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("payment failed: card declined"))
        );
        assert_eq!(names(&r), ["reserve_stock", "charge_card", "release_stock"]);
        assert_eq!(r.inputs_of(release_stock).unwrap(), [s("rsv-7-book")]);
    }

    #[test]
    fn a_failed_shipment_refunds_then_releases() {
        let r = difftest(|| run(order(900, "oversize-sofa", 1)));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("shipping failed: no carrier takes it"))
        );
        assert_eq!(
            names(&r),
            [
                "reserve_stock",
                "charge_card",
                "ship_order",
                "refund_card",
                "release_stock"
            ]
        );
        assert_eq!(r.inputs_of(refund_card).unwrap(), [s("pay-7-900")]);
    }

    #[test]
    fn a_failed_reservation_ends_at_once() {
        let r = difftest(|| run(order(900, "book", 0)));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::non_retryable(
                "cannot reserve 0 x book"
            )))
        );
        assert_eq!(names(&r), ["reserve_stock"]);
    }
}

mod trip_booking_runs {
    use super::*;
    use corpus::trip_booking::*;

    fn flight(from: &str, to: &str) -> Leg {
        Leg::Flight {
            from: s(from),
            to: s(to),
        }
    }

    fn run(legs: Vec<Leg>) -> TestRun<trip_booking> {
        TestRun::new(
            trip_booking,
            "trip-1",
            Trip {
                traveller: s("ada"),
                legs,
            },
        )
        .with_activity(book_leg)
        .with_activity(cancel_booking)
    }

    #[test]
    fn books_every_leg() {
        let legs = vec![
            flight("AMS", "LIS"),
            Leg::Hotel {
                city: s("LIS"),
                nights: 3,
            },
            Leg::Car {
                city: s("LIS"),
                days: 2,
            },
        ];
        let r = difftest(|| run(legs.clone()));
        assert_eq!(
            r.output,
            Ok(vec![
                s("FL-AMS-LIS-ada"),
                s("HT-LIS-3-ada"),
                s("CR-LIS-2-ada")
            ])
        );
        assert!(r.calls_of(cancel_booking).is_empty());
    }

    #[test]
    fn a_failed_leg_cancels_the_booked_ones_newest_first() {
        let legs = vec![
            flight("AMS", "LIS"),
            Leg::Hotel {
                city: s("LIS"),
                nights: 2,
            },
            flight("LIS", "LIS"),
            flight("LIS", "AMS"),
        ];
        let r = difftest(|| run(legs.clone()));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg(
                "trip cancelled, leg 2: a flight needs two cities"
            ))
        );
        assert_eq!(
            r.inputs_of(cancel_booking).unwrap(),
            [
                Booking {
                    leg: 1,
                    confirmation: s("HT-LIS-2-ada")
                },
                Booking {
                    leg: 0,
                    confirmation: s("FL-AMS-LIS-ada")
                }
            ]
        );
        assert_eq!(r.calls_of(book_leg).len(), 3);
    }

    #[test]
    fn a_failed_first_leg_cancels_nothing() {
        let r = difftest(|| {
            run(vec![Leg::Hotel {
                city: s("LIS"),
                nights: 0,
            }])
        });
        assert_eq!(
            r.output,
            Err(WorkflowError::msg(
                "trip cancelled, leg 0: a hotel needs a night"
            ))
        );
        assert_eq!(names(&r), ["book_leg"]);
    }
}

mod expense_approval_runs {
    use super::*;
    use corpus::expense_approval::*;

    fn run() -> TestRun<expense_approval> {
        TestRun::new(
            expense_approval,
            "exp-1",
            Expense {
                employee: s("eve"),
                cents: 4200,
                reason: s("taxi"),
            },
        )
        .with_activity(submit_expense)
        .with_activity(notify)
        .with_activity(pay_expense)
    }

    fn notified<O>(r: &TestOutcome<O>) -> Vec<String> {
        r.inputs_of(notify)
            .unwrap()
            .into_iter()
            .map(|(who, _)| who)
            .collect()
    }

    #[test]
    fn an_approval_pays_at_once() {
        let r = difftest(|| run().signal("decision", Decision::Approve { approver: s("max") }));
        assert_eq!(
            r.output,
            Ok(ExpenseOutcome::Paid {
                approver: s("max"),
                transfer: s("tr-exp-eve-4200-4200")
            })
        );
        assert_eq!(notified(&r), ["manager", "eve"]);
        assert_eq!(r.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_late_rejection_comes_after_the_escalation() {
        let reject = Decision::Reject {
            approver: s("dir"),
            why: s("no receipt"),
        };
        let r = difftest(|| run().signal_after(4 * DAY, "decision", reject.clone()));
        assert_eq!(
            r.output,
            Ok(ExpenseOutcome::Rejected {
                approver: s("dir"),
                why: s("no receipt")
            })
        );
        assert_eq!(notified(&r), ["manager", "director", "eve"]);
        assert_eq!(r.elapsed(), 4 * DAY);
    }

    #[test]
    fn no_decision_in_five_days_expires() {
        let r = difftest(run);
        assert_eq!(r.output, Ok(ExpenseOutcome::Expired));
        assert_eq!(notified(&r), ["manager", "director", "eve"]);
        assert_eq!(r.elapsed(), 5 * DAY);
        assert_eq!(r.commands.len(), 6);
    }
}

mod job_polling_runs {
    use super::*;
    use corpus::job_polling::*;

    fn run(job: &str, max_checks: u32) -> TestRun<job_polling> {
        TestRun::new(
            job_polling,
            "job-1",
            JobRequest {
                job: s(job),
                max_checks,
            },
        )
        .with_activity(start_job)
        .with_activity(check_job)
    }

    #[test]
    fn polls_until_done_with_growing_sleeps() {
        let r = difftest(|| run("etl", 10));
        // Done at the fourth check, after sleeps of 30, 60 and 90 seconds.
        assert_eq!(r.output, Ok((4000, 4)));
        assert_eq!(r.elapsed(), Duration::from_secs(180));
        assert_eq!(
            names(&r),
            [
                "start_job",
                "check_job",
                "check_job",
                "check_job",
                "check_job"
            ]
        );
    }

    #[test]
    fn gives_up_after_the_last_check() {
        let r = difftest(|| run("etl", 2));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("etl#1 still running after 2 checks"))
        );
        assert_eq!(r.elapsed(), Duration::from_secs(30));
    }

    #[test]
    fn a_failed_job_ends_the_loop() {
        let r = difftest(|| run("broken", 10));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("broken#1 failed: disk full"))
        );
    }
}

mod invoice_batch_runs {
    use super::*;
    use corpus::invoice_batch::*;

    fn line(sku: &str, qty: u32) -> Line {
        Line { sku: s(sku), qty }
    }

    fn run(lines: Vec<Line>) -> TestRun<invoice_batch> {
        TestRun::new(invoice_batch, "inv-1", (s("acme"), lines))
            .with_activity(price_line)
            .with_activity(issue_invoice)
    }

    #[test]
    fn three_lines_get_the_volume_discount() {
        let r = difftest(|| run(vec![line("pen", 10), line("paper", 2), line("ink", 1)]));
        // 3*100*10 + 5*100*2 + 3*100*1 = 4300, 10% off = 3870.
        let invoice = Invoice {
            number: s("INV-acme-3870"),
            lines: 3,
            subtotal: 4300,
            discount: 430,
            total: 3870,
        };
        assert_eq!(r.output, Ok(invoice));
        assert_eq!(r.commands.len(), 4);
    }

    #[test]
    fn two_lines_pay_full_price() {
        let r = difftest(|| run(vec![line("pen", 1), line("paper", 1)]));
        assert_eq!(
            r.output,
            Ok(Invoice {
                number: s("INV-acme-800"),
                lines: 2,
                subtotal: 800,
                discount: 0,
                total: 800
            })
        );
    }

    #[test]
    fn an_unknown_sku_fails_the_batch() {
        let r = difftest(|| run(vec![line("pen", 1), line("", 1), line("ink", 1)]));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::non_retryable("unknown sku")))
        );
        assert_eq!(names(&r), ["price_line", "price_line"]);
    }
}

mod dunning_reminders_runs {
    use super::*;
    use corpus::dunning_reminders::*;

    fn run(invoice: &str, rounds: u32) -> TestRun<dunning_reminders> {
        TestRun::new(
            dunning_reminders,
            "dun-1",
            Unpaid {
                invoice: s(invoice),
                rounds,
                days_between: 7,
            },
        )
        .with_activity(is_paid)
        .with_activity(send_reminder)
        .with_activity(send_to_collections)
    }

    #[test]
    fn stops_when_paid() {
        // Paid from round 3: two reminders, two weeks.
        let r = difftest(|| run("inv-3", 5));
        assert_eq!(r.output, Ok(s("paid after 2 reminders")));
        assert_eq!(r.elapsed(), 14 * DAY);
        assert_eq!(
            r.inputs_of(send_reminder).unwrap(),
            [(s("inv-3"), 1), (s("inv-3"), 2)]
        );
    }

    #[test]
    fn never_paid_goes_to_collections() {
        let r = difftest(|| run("inv-x", 3));
        assert_eq!(r.output, Ok(s("collections-inv-x after 3 reminders")));
        assert_eq!(r.elapsed(), 21 * DAY);
    }

    #[test]
    fn already_paid_sends_nothing() {
        let r = difftest(|| run("inv-0", 3));
        assert_eq!(r.output, Ok(s("paid after 0 reminders")));
        assert_eq!(names(&r), ["is_paid"]);
    }
}

mod warehouse_picking_runs {
    use super::*;
    use corpus::warehouse_picking::*;

    fn aisle(name: &str, bins: &[&str]) -> Aisle {
        Aisle {
            name: s(name),
            bins: bins.iter().map(|b| s(b)).collect(),
        }
    }

    fn run(needed: u32, aisles: Vec<Aisle>) -> TestRun<warehouse_picking> {
        TestRun::new(
            warehouse_picking,
            "pick-1",
            PickList {
                sku: s("bolt"),
                needed,
                aisles,
            },
        )
        .with_activity(scan_bin)
        .with_activity(take_from_bin)
    }

    fn aisles() -> Vec<Aisle> {
        vec![
            aisle("A", &["b2", "b0", "b9"]),
            aisle("B", &["b1", "b4", "b7"]),
            aisle("C", &["b8"]),
        ]
    }

    #[test]
    fn skips_an_aisle_at_an_empty_bin_and_stops_when_done() {
        let r = difftest(|| run(5, aisles()));
        // A: 2 from b2, b0 empty -> next aisle; B: 1 from b1, 2 of 4 from b4 -> 5, stop.
        let bins_visited = ["b2", "b0", "b1", "b4"].map(s).to_vec();
        assert_eq!(
            r.output,
            Ok(PickResult {
                picked: 5,
                bins_visited,
                aisles_skipped: vec![s("A")]
            })
        );
        assert_eq!(
            r.inputs_of(take_from_bin).unwrap(),
            [(s("b2"), 2), (s("b1"), 1), (s("b4"), 2)]
        );
    }

    #[test]
    fn not_enough_stock_fails_after_every_aisle() {
        let r = difftest(|| run(100, aisles()));
        // 2 (A) + 1 + 4 + 7 (B) + 8 (C) = 22.
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("only 22 of 100 bolt found"))
        );
        assert_eq!(r.calls_of(scan_bin).len(), 6);
    }

    #[test]
    fn a_scanner_failure_fails_the_pick() {
        let r = difftest(|| run(5, vec![aisle("A", &["b1", "locked"])]));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::retryable(
                "scanner cannot open the bin"
            )))
        );
    }
}

mod supplier_search_runs {
    use super::*;
    use corpus::supplier_search::*;

    fn run(max_days: u32, suppliers: &[&str]) -> TestRun<supplier_search> {
        let need = Need {
            part: s("gear"),
            qty: 3,
            max_days,
            suppliers: suppliers.iter().map(|x| s(x)).collect(),
        };
        TestRun::new(supplier_search, "po-1", need)
            .with_activity(request_quote)
            .with_activity(place_purchase_order)
    }

    #[test]
    fn returns_the_first_quote_in_time() {
        let r = difftest(|| run(4, &["globex", "acme", "ab"]));
        // globex takes 6 days, acme 4: ordered from acme, ab never asked.
        assert_eq!(r.output, Ok(Some(s("PO-acme-300 after 2 quotes"))));
        assert_eq!(
            names(&r),
            ["request_quote", "request_quote", "place_purchase_order"]
        );
    }

    #[test]
    fn none_in_time_is_none() {
        let r = difftest(|| run(1, &["globex", "acme"]));
        assert_eq!(r.output, Ok(None));
        assert_eq!(r.commands.len(), 2);
    }

    #[test]
    fn a_failed_quote_fails_the_search() {
        let r = difftest(|| run(4, &["", "acme"]));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::non_retryable("no such supplier")))
        );
    }
}

mod account_import_runs {
    use super::*;
    use corpus::account_import::*;

    fn run(id: &str, balance: &str, contacts: &[&str]) -> TestRun<account_import> {
        let legacy = LegacyAccount {
            id: s(id),
            balance: s(balance),
            contacts: contacts.iter().map(|c| s(c)).collect(),
        };
        TestRun::new(account_import, "imp-1", legacy)
            .with_activity(load_profile)
            .with_activity(create_account)
            .with_activity(is_sanctioned)
            .with_activity(add_contact)
            .with_activity(credit_tier)
    }

    #[test]
    fn imports_a_full_account() {
        let r = difftest(|| run("abc", "1250", &["a@x", "b@y"]));
        let expected = Imported {
            account: s("acct-ABC"),
            name: s("ABC"),
            balance: 1250,
            contacts: 2,
            vip: true,
        };
        assert_eq!(r.output, Ok(expected));
        assert_eq!(
            names(&r),
            [
                "load_profile",
                "is_sanctioned",
                "create_account",
                "add_contact",
                "add_contact",
                "credit_tier",
                "load_profile"
            ]
        );
    }

    #[test]
    fn a_short_id_is_not_vip() {
        let r = difftest(|| run("ab", "-5", &["a@x"]));
        assert_eq!(
            r.output,
            Ok(Imported {
                account: s("acct-AB"),
                name: s("AB"),
                balance: -5,
                contacts: 1,
                vip: false
            })
        );
    }

    #[test]
    fn no_contacts_returns_early() {
        let r = difftest(|| run("abc", "7", &[]));
        assert_eq!(
            r.output,
            Ok(Imported {
                account: s("acct-ABC"),
                name: s("ABC"),
                balance: 7,
                contacts: 0,
                vip: false
            })
        );
        assert_eq!(
            names(&r),
            ["load_profile", "is_sanctioned", "create_account"]
        );
    }

    #[test]
    fn every_question_mark_exits() {
        let parse_error = "12x".parse::<i64>().unwrap_err();
        let r = difftest(|| run("abc", "12x", &[]));
        assert_eq!(r.output, Err(WorkflowError::from(parse_error)));
        assert!(r.commands.is_empty());
        let r = difftest(|| run("", "1", &[]));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::non_retryable("empty id")))
        );
        let r = difftest(|| run("evil", "1", &[]));
        assert_eq!(r.output, Err(WorkflowError::msg("EVIL is sanctioned")));
        let r = difftest(|| run("abc", "1", &["a@x", "bad"]));
        assert_eq!(
            r.output,
            Err(failed(ActivityError::non_retryable("bad address bad")))
        );
    }
}

mod customer_onboarding_runs {
    use super::*;
    use corpus::customer_onboarding::*;

    fn run(email: &str) -> TestRun<customer_onboarding> {
        TestRun::new(customer_onboarding, "onb-1", s(email))
            .with_activity(find_customer)
            .with_activity(credit_limit)
            .with_activity(open_wallet)
            .with_activity(send_invite)
            .with_activity(flag_for_review)
    }

    #[test]
    fn a_known_customer_gets_a_wallet() {
        // "ann@example.com" is 15 characters: id 15, limit 150000, 100000 above the minimum.
        let r = difftest(|| run("ann@example.com"));
        assert_eq!(r.output, Ok(s("wallet-15-100000")));
    }

    #[test]
    fn an_unknown_email_is_invited() {
        let r = difftest(|| run("bob@other.org"));
        assert_eq!(r.output, Ok(s("invited")));
        assert_eq!(names(&r), ["find_customer", "send_invite"]);
    }

    #[test]
    fn a_failed_credit_check_is_flagged() {
        // 14 characters: a multiple of 7, which the credit bureau does not know.
        let r = difftest(|| run("ab@example.com"));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg(
                "customer 14 needs a manual check: review-14"
            ))
        );
    }

    #[test]
    fn a_low_limit_ends_in_the_second_let_else() {
        let r = difftest(|| run("ann@example.com").on_activity(credit_limit, |_| Ok(40_000)));
        assert_eq!(r.output, Ok(s("customer 15 below the minimum limit")));
        assert_eq!(names(&r), ["find_customer", "credit_limit"]);
    }
}

mod fraud_review_runs {
    use super::*;
    use corpus::fraud_review::*;

    fn run(cents: u64, country: &str) -> TestRun<fraud_review> {
        TestRun::new(
            fraud_review,
            "pay-1",
            Payment {
                id: s("p1"),
                cents,
                country: s(country),
            },
        )
        .with_activity(score_payment)
        .with_activity(capture)
        .with_activity(block_card)
        .with_activity(release_hold)
    }

    #[test]
    fn low_risk_captures() {
        let r = difftest(|| run(5_000, "NL"));
        assert_eq!(r.output, Ok(Verdict::Captured(s("cap-p1"))));
    }

    #[test]
    fn medium_risk_waits_for_the_analyst() {
        let r = difftest(|| run(20_000, "NL").signal_after(HOUR, "analyst-p1", true));
        assert_eq!(r.output, Ok(Verdict::Captured(s("cap-p1"))));
        assert_eq!(r.elapsed(), HOUR);
        let r = difftest(|| run(20_000, "NL").signal("analyst-p1", false));
        assert_eq!(r.output, Ok(Verdict::Blocked(s("blk-p1: analyst"))));
        let r = difftest(|| run(20_000, "NL").signal_after(5 * HOUR, "analyst-p1", true));
        assert_eq!(r.output, Ok(Verdict::Released));
        assert_eq!(r.elapsed(), 4 * HOUR);
        assert_eq!(r.unconsumed_signals, [s("analyst-p1")]);
    }

    #[test]
    fn high_risk_and_scoring_failures_block() {
        let r = difftest(|| run(60_000, "NL"));
        assert_eq!(r.output, Ok(Verdict::Blocked(s("blk-p1: risk"))));
        let r = difftest(|| run(200_000, "NL"));
        assert_eq!(r.output, Ok(Verdict::Blocked(s("blk-p1: risk"))));
        let r = difftest(|| run(5_000, ""));
        assert_eq!(
            r.output,
            Ok(Verdict::Blocked(s("blk-p1: unscored: geo lookup failed")))
        );
    }
}

mod paginated_export_runs {
    use super::*;
    use corpus::paginated_export::*;

    fn run(pages: u32) -> TestRun<paginated_export> {
        TestRun::new(
            paginated_export,
            "exp-1",
            Export {
                report: s("sales"),
                pages,
            },
        )
        .with_activity(has_page)
        .with_activity(fetch_page)
        .with_activity(upload_export)
    }

    #[test]
    fn fetches_while_the_condition_holds() {
        // Pages 0, 1, 2 hold 1, 2, 3 rows.
        let r = difftest(|| run(3));
        assert_eq!(r.output, Ok((s("s3://exports/6-rows"), 3)));
        assert_eq!(names(&r).iter().filter(|n| **n == "has_page").count(), 4);
    }

    #[test]
    fn no_pages_uploads_nothing() {
        let r = difftest(|| run(0));
        assert_eq!(r.output, Ok((s("s3://exports/0-rows"), 0)));
        assert_eq!(names(&r), ["has_page", "upload_export"]);
    }
}

mod support_routing_runs {
    use super::*;
    use corpus::support_routing::*;

    fn route(customer: &str, subject: &str) -> TestOutcome<Result<String, WorkflowError>> {
        difftest(|| {
            TestRun::new(
                support_routing,
                "t-1",
                Ticket {
                    customer: s(customer),
                    subject: s(subject),
                },
            )
            .with_activity(is_vip)
            .with_activity(open_incident_for)
            .with_activity(assign)
        })
    }

    #[test]
    fn each_branch_of_the_if_chain() {
        let r = route("vip-ann", "login");
        assert_eq!(r.output, Ok(s("login -> vip-team")));
        assert_eq!(names(&r), ["is_vip", "assign"]);
        let r = route("acme-down", "outage");
        assert_eq!(r.output, Ok(s("outage -> INC-acme-down")));
        let r = route("bob", "refund please");
        assert_eq!(r.output, Ok(s("refund please -> billing")));
        assert_eq!(names(&r), ["is_vip", "open_incident_for", "assign"]);
        let r = route("bob", "hello");
        assert_eq!(r.output, Ok(s("hello -> queue")));
    }
}

mod pricing_defaults_runs {
    use super::*;
    use corpus::pricing_defaults::*;

    fn run(customer: &str, cents: u64) -> TestRun<pricing_defaults> {
        TestRun::new(
            pricing_defaults,
            "cart-1",
            Cart {
                customer: s(customer),
                cents,
            },
        )
        .with_activity(loyalty_discount)
        .with_activity(tax_rate)
        .with_activity(best_coupon)
        .with_activity(cart_note)
    }

    #[test]
    fn lookups_that_succeed_are_used() {
        // Loyalty 5% ("carol" is 5 long), tax 9%: 10000 -> 9500 -> 10355; no manual discount in 10 minutes.
        let r = difftest(|| run("carol", 10_000));
        let priced = Priced {
            cents: 10_355,
            discount_percent: 5,
            tax_percent: 9,
            coupon: Some(s("SAVE10")),
            note: s("FOR CAROL"),
        };
        assert_eq!(r.output, Ok(priced));
        assert_eq!(r.elapsed(), 10 * MINUTE);
    }

    #[test]
    fn failed_lookups_fall_back_to_defaults() {
        // No loyalty, tax 21% by default, no coupon; a manual 50% off: 1000 -> 500 -> 605.
        let r = difftest(|| run("new-offline", 1_000).signal("manual-discount", 50u64));
        let priced = Priced {
            cents: 605,
            discount_percent: 50,
            tax_percent: 21,
            coupon: None,
            note: s("FOR NEW-OFFLINE"),
        };
        assert_eq!(r.output, Ok(priced));
        assert_eq!(r.elapsed(), Duration::ZERO);
        let r = difftest(|| run("", 100));
        let priced = Priced {
            cents: 109,
            discount_percent: 0,
            tax_percent: 9,
            coupon: None,
            note: s(""),
        };
        assert_eq!(r.output, Ok(priced));
    }
}

mod auction_close_runs {
    use super::*;
    use corpus::auction_close::*;

    fn bid(bidder: &str, cents: u64) -> Bid {
        Bid {
            bidder: s(bidder),
            cents,
        }
    }

    fn run() -> TestRun<auction_close> {
        TestRun::new(auction_close, "auc-1", 1000)
            .with_activity(reject_bid)
            .with_activity(invoice_winner)
    }

    #[test]
    fn the_first_bid_at_the_reserve_wins() {
        let r = difftest(|| {
            run()
                .signal("bid", bid("a", 500))
                .signal_after(HOUR, "bid", bid("b", 900))
                .signal_after(2 * HOUR, "bid", bid("c", 1200))
                .signal_after(3 * HOUR, "bid", bid("d", 5000))
        });
        assert_eq!(
            r.output,
            Ok(Sale {
                winner: s("c"),
                cents: 1200,
                rejected: 2,
                invoice: s("AUC-c-1200")
            })
        );
        assert_eq!(
            r.inputs_of(reject_bid).unwrap(),
            [bid("a", 500), bid("b", 900)]
        );
        assert_eq!(r.elapsed(), 2 * HOUR);
        assert_eq!(r.unconsumed_signals, [s("bid")]);
    }

    #[test]
    fn without_a_winning_bid_the_auction_waits_forever() {
        let err = difftest_error(|| run().signal("bid", bid("a", 10)));
        let TestError::Stuck {
            waiting_for, step, ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(waiting_for, [s("signal `bid` (seq 2)")]);
        assert_eq!(step, 3);
    }
}

mod contract_signing_runs {
    use super::*;
    use corpus::contract_signing::*;

    fn run() -> TestRun<contract_signing> {
        TestRun::new(
            contract_signing,
            "ctr-1",
            Contract {
                id: s("c9"),
                counterparty: s("globex"),
            },
        )
        .with_activity(send_for_signature)
        .with_activity(remind_signer)
        .with_activity(archive_contract)
    }

    fn signature(days_and_hours: Duration) -> TestRun<contract_signing> {
        run().signal_after(days_and_hours, "signed", Signature { signer: s("ceo") })
    }

    #[test]
    fn signed_on_the_third_day() {
        let r = difftest(|| signature(2 * DAY + 12 * HOUR));
        assert_eq!(
            r.output,
            Ok(ContractOutcome::Signed {
                signer: s("ceo"),
                days_waited: 2,
                reminders: 2
            })
        );
        assert_eq!(r.elapsed(), 2 * DAY + 12 * HOUR);
        assert_eq!(
            r.inputs_of(archive_contract).unwrap(),
            [(s("envelope-c9"), true)]
        );
    }

    #[test]
    fn signed_after_the_final_notice() {
        let r = difftest(|| signature(15 * DAY + HOUR));
        assert_eq!(
            r.output,
            Ok(ContractOutcome::Signed {
                signer: s("ceo"),
                days_waited: 15,
                reminders: 14
            })
        );
        assert_eq!(r.calls_of(remind_signer).len(), 15);
    }

    #[test]
    fn lapses_after_seventeen_days() {
        let start = std::time::Instant::now();
        let r = difftest(run);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(r.output, Ok(ContractOutcome::Lapsed { reminders: 14 }));
        assert_eq!(r.elapsed(), 17 * DAY);
        assert_eq!(
            r.inputs_of(archive_contract).unwrap(),
            [(s("envelope-c9"), false)]
        );
    }
}

mod loan_decision_runs {
    use super::*;
    use corpus::loan_decision::*;

    fn run(applicant: &str, cents: u64, employer: &str) -> TestRun<loan_decision> {
        TestRun::new(
            loan_decision,
            "loan-1",
            Application {
                applicant: s(applicant),
                cents,
                employer: s(employer),
            },
        )
        .with_activity(credit_score)
        .with_activity(verify_identity)
        .with_activity(verify_employment)
        .with_activity(record_decision)
    }

    #[test]
    fn three_checks_run_at_once_and_approve() {
        // "alice": score 500 + 185 = 685, identity ok, salary 7_000_000 covers twice 1_000_000.
        let r = difftest(|| run("alice", 1_000_000, "initech"));
        assert_eq!(
            r.output,
            Ok(LoanDecision::Approved {
                rate_bp: 515,
                reference: s("LN-alice-Y")
            })
        );
        let Pending::Join(checks) = &r.commands[0] else {
            panic!("{:?}", r.commands[0])
        };
        let kinds: Vec<&str> = checks
            .iter()
            .map(|c| match c {
                Pending::Activity { name, .. } => name.as_str(),
                other => other.kind(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["credit_score", "verify_identity", "verify_employment"]
        );
        assert_eq!(r.commands.len(), 2);
    }

    #[test]
    fn the_order_of_completion_does_not_matter() {
        for tie in [
            TieBreak::ReverseSourceOrder,
            TieBreak::Shuffled(1),
            TieBreak::Shuffled(2),
        ] {
            let r = difftest(|| {
                run("alice", 1_000_000, "initech")
                    .tie_break(tie)
                    .activity_latency(|call| Duration::from_secs(10 - call.seq))
            });
            assert_eq!(
                r.output,
                Ok(LoanDecision::Approved {
                    rate_bp: 515,
                    reference: s("LN-alice-Y")
                })
            );
        }
    }

    #[test]
    fn each_reason_to_decline() {
        let r = difftest(|| run("fake-bob", 100, "initech"));
        assert_eq!(
            r.output,
            Ok(LoanDecision::Declined {
                reason: s("identity not verified (LN-fake-bob-N)")
            })
        );
        let r = difftest(|| run("bo", 100, "initech"));
        assert_eq!(
            r.output,
            Ok(LoanDecision::Declined {
                reason: s("score 574 (LN-bo-N)")
            })
        );
        let r = difftest(|| run("alice", 100, ""));
        assert_eq!(
            r.output,
            Ok(LoanDecision::Declined {
                reason: s("income 0 too low (LN-alice-N)")
            })
        );
    }

    #[test]
    fn a_failed_score_fails_the_workflow() {
        let r = difftest(|| {
            run("alice", 100, "initech").on_activity(credit_score, |_| {
                Err(ActivityError::retryable("bureau down"))
            })
        });
        assert_eq!(
            r.output,
            Err(failed(ActivityError::retryable("bureau down")))
        );
        assert_eq!(r.commands.len(), 1);
    }
}

mod newsletter_fanout_runs {
    use super::*;
    use corpus::newsletter_fanout::*;

    fn run(subscribers: &[&str]) -> TestRun<newsletter_fanout> {
        TestRun::new(
            newsletter_fanout,
            "nl-7",
            Newsletter {
                issue: 7,
                subscribers: subscribers.iter().map(|x| s(x)).collect(),
            },
        )
        .with_activity(deliver)
    }

    #[test]
    fn bounces_are_retried_once() {
        let r = difftest(|| run(&["a@x", "nobody", "b@y"]));
        assert_eq!(
            r.output,
            Ok(Delivery {
                sent: vec![s("a@x#7"), s("b@y#7")],
                bounced: vec![s("nobody")]
            })
        );
        assert_eq!(r.commands.len(), 2);
        let Pending::Join(second) = &r.commands[1] else {
            panic!("{:?}", r.commands[1])
        };
        assert_eq!(second.len(), 1);
    }

    #[test]
    fn a_retry_that_succeeds_is_sent_last() {
        let mut seen_nobody = false;
        let r = run(&["a@x", "nobody", "b@y"])
            .on_activity(deliver, move |(issue, to)| {
                if to == "nobody" && !seen_nobody {
                    seen_nobody = true;
                    return Err(ActivityError::retryable("mailbox full"));
                }
                Ok(format!("{to}#{issue}"))
            })
            .snapshot_every_await(true)
            .run()
            .unwrap();
        assert_eq!(
            r.output,
            Ok(Delivery {
                sent: vec![s("a@x#7"), s("b@y#7"), s("nobody#7")],
                bounced: vec![]
            })
        );
    }

    #[test]
    fn all_delivered_needs_one_join() {
        let r = difftest(|| run(&["a@x", "b@y", "c@z", "d@w"]));
        assert_eq!(
            r.output,
            Ok(Delivery {
                sent: ["a@x#7", "b@y#7", "c@z#7", "d@w#7"].map(s).to_vec(),
                bounced: vec![]
            })
        );
        assert_eq!(r.commands.len(), 1);
        let r = difftest(|| run(&[]));
        assert_eq!(
            r.output,
            Ok(Delivery {
                sent: vec![],
                bounced: vec![]
            })
        );
    }
}

mod payment_deadline_runs {
    use super::*;
    use corpus::payment_deadline::*;

    fn run() -> TestRun<payment_deadline> {
        TestRun::new(
            payment_deadline,
            "seat-1",
            Hold {
                seat: s("12A"),
                cents: 5000,
            },
        )
        .with_activity(hold_seat)
        .with_activity(confirm_seat)
        .with_activity(release_seat)
    }

    #[test]
    fn paid_in_time_confirms() {
        let r = difftest(|| {
            run().signal_after(
                10 * MINUTE,
                "paid",
                Paid {
                    reference: s("R1"),
                    cents: 5000,
                },
            )
        });
        assert_eq!(r.output, Ok(s("ticket-hold-12A-R1")));
        assert_eq!(r.elapsed(), 10 * MINUTE);
    }

    #[test]
    fn paid_too_little_releases() {
        let r = difftest(|| {
            run().signal(
                "paid",
                Paid {
                    reference: s("R1"),
                    cents: 3000,
                },
            )
        });
        assert_eq!(r.output, Err(WorkflowError::msg("paid 3000 of 5000")));
        assert_eq!(names(&r), ["hold_seat", "release_seat"]);
    }

    #[test]
    fn paid_too_late_releases_at_the_deadline() {
        let r = difftest(|| {
            run().signal_after(
                31 * MINUTE,
                "paid",
                Paid {
                    reference: s("R1"),
                    cents: 5000,
                },
            )
        });
        assert_eq!(r.output, Err(WorkflowError::msg("payment window expired")));
        assert_eq!(r.elapsed(), 30 * MINUTE);
        assert_eq!(r.unconsumed_signals, [s("paid")]);
    }

    #[test]
    fn a_payment_at_the_deadline_wins_the_tie_in_source_order() {
        let paid = Paid {
            reference: s("R2"),
            cents: 5000,
        };
        let r = difftest(|| run().signal_after(30 * MINUTE, "paid", paid.clone()));
        assert_eq!(r.output, Ok(s("ticket-hold-12A-R2")));
        let r = difftest(|| {
            run()
                .signal_after(30 * MINUTE, "paid", paid.clone())
                .tie_break(TieBreak::ReverseSourceOrder)
        });
        assert_eq!(r.output, Err(WorkflowError::msg("payment window expired")));
    }
}

mod courier_race_runs {
    use super::*;
    use corpus::courier_race::*;

    fn run(parcels: u32, vans_secs: u64, bikes_secs: u64) -> TestRun<courier_race> {
        TestRun::new(
            courier_race,
            "pk-1",
            Pickup {
                address: s("dam 1"),
                parcels,
            },
        )
        .with_activity(ask_courier)
        .with_activity(book_pickup)
        .activity_latency(move |call| match call.input_as(ask_courier) {
            Some((courier, _)) if courier == "vans" => Duration::from_secs(vans_secs),
            Some(_) => Duration::from_secs(bikes_secs),
            None => Duration::ZERO,
        })
    }

    #[test]
    fn the_faster_courier_is_booked() {
        let r = difftest(|| run(3, 200, 10));
        assert_eq!(r.output, Ok(s("booked bikes@dam 1")));
        assert_eq!(r.elapsed(), Duration::from_secs(10));
        let r = difftest(|| run(3, 5, 10));
        assert_eq!(r.output, Ok(s("booked vans@dam 1")));
    }

    #[test]
    fn a_failed_fast_answer_asks_the_other_again() {
        let r = difftest(|| run(20, 100, 10));
        assert_eq!(r.output, Ok(s("booked vans@dam 1")));
        // The first vans call lost the race; the second one answered.
        let vans: Vec<bool> = r
            .calls_of(ask_courier)
            .iter()
            .filter(|c| c.input(ask_courier).unwrap().0 == "vans")
            .map(|c| c.delivered)
            .collect();
        assert_eq!(vans, [false, true]);
        assert_eq!(r.elapsed(), Duration::from_secs(110));
    }

    #[test]
    fn no_answer_in_two_minutes_fails() {
        let r = difftest(|| run(3, 200, 300));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("no courier answered in time"))
        );
        assert_eq!(r.elapsed(), Duration::from_secs(120));
    }

    #[test]
    fn a_cancel_before_booking_wins() {
        let r = difftest(|| run(3, 5, 10).signal("cancel", "changed my mind"));
        assert_eq!(
            r.output,
            Ok(s("cancelled before booking vans@dam 1: changed my mind"))
        );
        assert!(!r.calls_of(book_pickup)[0].delivered);
    }
}

mod subscription_billing_runs {
    use super::*;
    use corpus::subscription_billing::*;

    fn run(customer: &str, months: u32) -> TestRun<subscription_billing> {
        TestRun::new(
            subscription_billing,
            "sub-1",
            Plan {
                customer: s(customer),
                cents: 999,
                months,
            },
        )
        .with_activity(charge_subscription)
        .with_activity(suspend_subscription)
    }

    #[test]
    fn bills_every_month() {
        let r = difftest(|| run("ann", 3));
        let charged = ["ann-m1-a1", "ann-m2-a1", "ann-m3-a1"].map(s).to_vec();
        assert_eq!(
            r.output,
            Ok(Billing {
                charged,
                failed_attempts: 0,
                ended: s("completed")
            })
        );
        assert_eq!(r.elapsed(), 90 * DAY);
    }

    #[test]
    fn a_declined_month_is_retried_a_day_later() {
        let r = difftest(|| {
            run("ann", 3).on_activity(charge_subscription, |(customer, month, attempt)| {
                if month == 2 && attempt == 1 {
                    return Err(ActivityError::retryable("card declined"));
                }
                Ok(format!("{customer}-m{month}-a{attempt}"))
            })
        });
        let charged = ["ann-m1-a1", "ann-m2-a2", "ann-m3-a1"].map(s).to_vec();
        assert_eq!(
            r.output,
            Ok(Billing {
                charged,
                failed_attempts: 1,
                ended: s("completed")
            })
        );
        assert_eq!(r.elapsed(), 91 * DAY);
    }

    #[test]
    fn three_declines_suspend() {
        let r = difftest(|| run("broke-bo", 12));
        assert_eq!(
            r.output,
            Ok(Billing {
                charged: vec![],
                failed_attempts: 3,
                ended: s("suspended in month 1")
            })
        );
        assert_eq!(r.elapsed(), 2 * DAY);
        assert_eq!(names(&r).last(), Some(&"suspend_subscription"));
    }

    #[test]
    fn a_cancel_ends_the_year() {
        let r = difftest(|| run("ann", 12).signal_after(40 * DAY, "cancel", "too expensive"));
        let charged = ["ann-m1-a1", "ann-m2-a1"].map(s).to_vec();
        assert_eq!(
            r.output,
            Ok(Billing {
                charged,
                failed_attempts: 0,
                ended: s("cancelled in month 2: too expensive")
            })
        );
        assert_eq!(r.elapsed(), 40 * DAY);
    }
}

mod shipment_manifest_runs {
    use super::*;
    use corpus::shipment_manifest::*;

    fn run(insured: bool) -> TestRun<shipment_manifest> {
        let shipment = Shipment {
            id: 5,
            origin: (s("NL"), s("Utrecht")),
            boxes: vec![(s("a"), 100), (s("b"), 250)],
            insured,
        };
        TestRun::new(shipment_manifest, "shp-5", shipment)
            .with_activity(rate_shipment)
            .with_activity(label_box)
            .with_activity(insure)
    }

    #[test]
    fn destructured_values_survive_every_await() {
        // 350 g at 12 per gram; boxes declared at 10 per gram; insurance 1/50 of 3500.
        let r = difftest(|| run(true));
        let manifest = [
            "5 from Utrecht, NL by nl-post, freight 4200",
            "5-a: 1000",
            "5-b: 2500",
            "insurance 70",
        ];
        assert_eq!(r.output, Ok(manifest.map(s).to_vec()));
        let r = difftest(|| run(false));
        assert_eq!(r.output.unwrap().last(), Some(&s("insurance 0")));
        assert_eq!(r.commands.len(), 3);
    }
}

mod document_pipeline_runs {
    use super::*;
    use corpus::document_pipeline::*;

    fn run(name: &str) -> TestRun<document_pipeline> {
        TestRun::new(document_pipeline, "doc-1", s(name))
            .with_activity(ocr)
            .with_activity(detect_language)
            .with_activity(translate)
            .with_activity(redact)
    }

    #[test]
    fn an_english_document_is_not_translated() {
        let r = difftest(|| run("scan.pdf"));
        let doc = Document {
            name: s("scan.pdf"),
            text: s("text of scan.pdf"),
            language: s("en"),
            redactions: 0,
            history: ["ocr", "language en", "redacted 0"].map(s).to_vec(),
        };
        assert_eq!(r.output, Ok(doc));
    }

    #[test]
    fn a_german_document_is_translated_and_redacted() {
        let r = difftest(|| run("der-2024.pdf"));
        let doc = Document {
            name: s("der-2024.pdf"),
            text: s("[de->en] text of der-####.pdf"),
            language: s("de"),
            redactions: 4,
            history: ["ocr", "language de", "translated", "redacted 4"]
                .map(s)
                .to_vec(),
        };
        assert_eq!(r.output, Ok(doc));
    }
}

mod inventory_restock_runs {
    use super::*;
    use corpus::inventory_restock::*;

    fn run(stock: u32, target: u32) -> TestRun<inventory_restock> {
        TestRun::new(
            inventory_restock,
            "rs-1",
            Restock {
                sku: s("bolt"),
                stock,
                target,
            },
        )
        .with_activity(order_batch)
    }

    #[test]
    fn orders_until_the_target() {
        // 10 +40 +40, round 3 empty (1 h back-off), +10 = 100.
        let r = difftest(|| run(10, 100));
        assert_eq!(r.output, Ok((100, 4, 1)));
        assert_eq!(r.elapsed(), HOUR);
    }

    #[test]
    fn three_empty_rounds_give_up() {
        // Empty at rounds 3, 6, 9, backing off 1 h then 2 h.
        let r = difftest(|| run(10, 1000));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("supplier out of bolt after 9 rounds"))
        );
        assert_eq!(r.elapsed(), 3 * HOUR);
    }

    #[test]
    fn enough_stock_orders_nothing() {
        let r = difftest(|| run(100, 100));
        assert_eq!(r.output, Ok((100, 0, 0)));
        assert!(r.commands.is_empty());
    }
}

mod email_campaign_runs {
    use super::*;
    use corpus::email_campaign::*;

    fn run() -> TestRun<email_campaign> {
        let campaign = Campaign {
            name: s("spring"),
            recipients: ["a@x", "no-b@y", "c@z"].map(s).to_vec(),
        };
        TestRun::new(email_campaign, "cmp-1", campaign)
            .with_activity(is_unsubscribed)
            .with_activity(send_email)
    }

    #[test]
    fn sends_one_a_minute_skipping_unsubscribed() {
        let r = difftest(run);
        assert_eq!(
            r.output,
            Ok((vec![s("spring->a@x"), s("spring->c@z")], 1, false))
        );
        assert_eq!(r.elapsed(), 2 * MINUTE);
    }

    #[test]
    fn a_pause_stops_the_campaign() {
        let r = difftest(|| run().signal_after(Duration::from_secs(30), "pause", ()));
        assert_eq!(r.output, Ok((vec![s("spring->a@x")], 0, true)));
        assert_eq!(r.elapsed(), Duration::from_secs(30));
    }
}

mod escalation_chain_runs {
    use super::*;
    use corpus::escalation_chain::*;

    fn run() -> TestRun<escalation_chain> {
        TestRun::new(
            escalation_chain,
            "inc-1",
            Incident {
                id: s("INC1"),
                chain: ["ann", "bob", "cat"].map(s).to_vec(),
            },
        )
        .with_activity(page)
        .with_activity(declare_major_incident)
    }

    #[test]
    fn the_first_to_acknowledge_owns_it() {
        // ann is paged twice (20 minutes), bob acknowledges at his first page.
        let r = difftest(|| run().signal("ack-bob", true));
        assert_eq!(r.output, Ok(s("bob owns INC1 after 3 pages")));
        assert_eq!(r.elapsed(), 20 * MINUTE);
    }

    #[test]
    fn a_decline_moves_on_and_nobody_escalates() {
        let r = difftest(|| run().signal("ack-ann", false));
        // ann declines at once; bob and cat are paged twice each.
        assert_eq!(r.output, Ok(s("MAJOR-INC1 after 5 pages")));
        assert_eq!(r.elapsed(), 40 * MINUTE);
        let paged: Vec<(String, u32)> = r
            .inputs_of(page)
            .unwrap()
            .into_iter()
            .map(|(who, _, n)| (who, n))
            .collect();
        assert_eq!(
            paged,
            [
                (s("ann"), 1),
                (s("bob"), 1),
                (s("bob"), 2),
                (s("cat"), 1),
                (s("cat"), 2)
            ]
        );
    }

    #[test]
    fn a_late_acknowledgement_at_the_second_page() {
        let r = difftest(|| run().signal_after(15 * MINUTE, "ack-ann", true));
        assert_eq!(r.output, Ok(s("ann owns INC1 after 2 pages")));
        assert_eq!(r.elapsed(), 15 * MINUTE);
    }
}

mod chargeback_dispute_runs {
    use super::*;
    use corpus::chargeback_dispute::*;

    fn run() -> TestRun<chargeback_dispute> {
        TestRun::new(
            chargeback_dispute,
            "cb-1",
            Dispute {
                id: s("d1"),
                cents: 700,
            },
        )
        .with_activity(open_dispute)
        .with_activity(submit_evidence)
        .with_activity(refund_cardholder)
        .with_activity(close_case)
    }

    #[test]
    fn each_way_the_dispute_ends() {
        let strong = Evidence {
            documents: vec![s("invoice"), s("tracking")],
        };
        let r = difftest(|| run().signal_after(DAY, "evidence", strong.clone()));
        assert_eq!(r.output, Ok(s("case-d1: merchant won")));
        let weak = Evidence {
            documents: vec![s("invoice")],
        };
        let r = difftest(|| run().signal("evidence", weak.clone()));
        assert_eq!(r.output, Ok(s("case-d1: refund 700 on case-d1")));
        let r = difftest(|| run().signal_after(2 * DAY, "withdrawn", "resolved with merchant"));
        assert_eq!(
            r.output,
            Ok(s("case-d1: withdrawn: resolved with merchant"))
        );
        assert_eq!(
            r.inputs_of(close_case).unwrap(),
            [(s("case-d1"), s("withdrawn: resolved with merchant"))]
        );
        let r = difftest(run);
        assert_eq!(r.output, Ok(s("case-d1: refund 700 on case-d1")));
        assert_eq!(r.elapsed(), 10 * DAY);
    }
}

mod bank_transfer_runs {
    use super::*;
    use corpus::bank_transfer::*;

    fn account(iban: &str, frozen: bool) -> Account {
        Account {
            iban: s(iban),
            frozen,
        }
    }

    fn run(from_frozen: bool, to_frozen: bool, cents: u64) -> TestRun<bank_transfer> {
        TestRun::new(
            bank_transfer,
            "tx-1",
            (
                account("NL01", from_frozen),
                account("NL02", to_frozen),
                cents,
            ),
        )
        .with_activity(debit)
        .with_activity(credit)
        .with_activity(reverse_debit)
    }

    #[test]
    fn moves_the_money() {
        let r = difftest(|| run(false, false, 500));
        assert_eq!(r.output, Ok((s("D-NL01-500"), s("C-NL02-500"))));
        let Pending::Activity { options, .. } = &r.commands[1] else {
            panic!("{:?}", r.commands[1])
        };
        assert_eq!(options.retry.non_retryable_errors, [s("Frozen")]);
    }

    #[test]
    fn a_failed_credit_reverses_the_debit() {
        let r = difftest(|| run(false, true, 500));
        let reason =
            failed(ActivityError::non_retryable("NL02 is frozen").with_type("Frozen")).message;
        assert_eq!(reason, "activity NonRetryable [Frozen]: NL02 is frozen");
        assert_eq!(
            r.output,
            Err(WorkflowError::msg(format!(
                "credit failed ({reason}), R-D-NL01-500"
            )))
        );
    }

    #[test]
    fn a_failed_debit_or_nothing_to_move_stops_early() {
        let r = difftest(|| run(true, false, 500));
        assert_eq!(
            r.output,
            Err(failed(
                ActivityError::non_retryable("NL01 is frozen").with_type("Frozen")
            ))
        );
        let r = difftest(|| run(false, false, 0));
        assert_eq!(r.output, Err(WorkflowError::msg("nothing to transfer")));
        assert_eq!(r.steps, 1);
    }
}

mod warranty_claim_runs {
    use super::*;
    use corpus::warranty_claim::*;

    fn run(serial: &str, defect: &str) -> TestRun<warranty_claim> {
        TestRun::new(
            warranty_claim,
            "wc-1",
            Claim {
                serial: s(serial),
                defect: s(defect),
            },
        )
        .with_activity(find_purchase)
        .with_activity(inspect)
        .with_activity(issue_replacement)
    }

    #[test]
    fn a_covered_claim_is_replaced() {
        let r = difftest(|| run("S123", "screen flickers badly"));
        assert_eq!(
            r.output,
            Ok(s("RMA-S123-20000 covered: screen flickers badly"))
        );
    }

    #[test]
    fn each_early_return_in_the_nested_blocks() {
        let r = difftest(|| run("X1", "screen flickers badly"));
        assert_eq!(r.output, Ok(s("X1: no purchase on record")));
        // 8 characters: bought 480 days ago.
        let r = difftest(|| run("S1234567", "screen flickers badly"));
        assert_eq!(r.output, Ok(s("S1234567: out of warranty (480 days)")));
        let r = difftest(|| run("S123", "cracked"));
        assert_eq!(r.output, Ok(s("S123: no photo received")));
        assert_eq!(r.elapsed(), 7 * DAY);
        let r = difftest(|| run("S123", "").signal("photo", "x"));
        assert_eq!(r.output, Ok(s("S123: defect not covered")));
    }

    #[test]
    fn a_photo_completes_a_short_description() {
        let r = difftest(|| run("S123", "cracked").signal_after(HOUR, "photo", "IMG_1"));
        assert_eq!(r.output, Ok(s("RMA-S123-20000 covered: cracked (IMG_1)")));
        assert_eq!(r.elapsed(), HOUR);
    }
}

mod quorum_vote_runs {
    use super::*;
    use corpus::quorum_vote::*;

    fn vote(member: &str, yes: bool) -> Vote {
        Vote {
            member: s(member),
            yes,
        }
    }

    fn run() -> TestRun<quorum_vote> {
        TestRun::new(
            quorum_vote,
            "v-1",
            Motion {
                title: s("budget"),
                members: 5,
                quorum: 3,
            },
        )
        .with_activity(publish_result)
    }

    #[test]
    fn carried_with_a_duplicate_vote_ignored() {
        let r = difftest(|| {
            run()
                .signal("vote", vote("a", true))
                .signal("vote", vote("b", true))
                .signal("vote", vote("a", true))
                .signal_after(HOUR, "vote", vote("c", true))
        });
        assert_eq!(r.output, Ok(s("budget: carried 3 to 0")));
        assert_eq!(r.elapsed(), HOUR);
    }

    #[test]
    fn defeated_by_a_majority() {
        let r = difftest(|| {
            run()
                .signal("vote", vote("a", false))
                .signal("vote", vote("b", false))
                .signal("vote", vote("c", false))
        });
        assert_eq!(r.output, Ok(s("budget: defeated 3 to 0")));
    }

    #[test]
    fn the_deadline_is_fixed_when_the_vote_opens() {
        let r = difftest(|| {
            run()
                .signal_after(HOUR, "vote", vote("a", true))
                .signal_after(50 * HOUR, "vote", vote("b", true))
        });
        assert_eq!(r.output, Ok(s("budget: no quorum (1 of 3)")));
        assert_eq!(r.elapsed(), 48 * HOUR);
        assert_eq!(r.unconsumed_signals, [s("vote")]);
    }
}

mod message_batcher_runs {
    use super::*;
    use corpus::message_batcher::*;

    fn run() -> TestRun<message_batcher> {
        TestRun::new(message_batcher, "mb-1", s("orders")).with_activity(flush_batch)
    }

    #[test]
    fn flushes_every_ten_and_the_rest_when_quiet() {
        let r = difftest(|| (0..12).fold(run(), |run, i| run.signal("event", format!("e{i}"))));
        assert_eq!(r.output, Ok((12, 2)));
        assert_eq!(r.elapsed(), 5 * MINUTE);
        assert_eq!(r.inputs_of(flush_batch).unwrap()[0].1.len(), 10);
    }

    #[test]
    fn a_gap_longer_than_five_minutes_ends_the_batching() {
        let r = difftest(|| {
            run()
                .signal("event", "e0")
                .signal_after(200 * Duration::from_secs(1), "event", "e1")
                .signal_after(600 * Duration::from_secs(1), "event", "e2")
        });
        assert_eq!(r.output, Ok((2, 1)));
        assert_eq!(r.elapsed(), Duration::from_secs(500));
        assert_eq!(r.unconsumed_signals, [s("event")]);
    }

    #[test]
    fn no_events_flush_nothing() {
        let r = difftest(run);
        assert_eq!(r.output, Ok((0, 0)));
        assert!(r.activity_calls.is_empty());
    }
}

#[test]
fn activity_errors_reach_the_workflow_with_one_attempt() {
    // The driver does not retry: the error is final after one attempt, as `failed` assumes.
    use corpus::order_saga::*;
    let r = TestRun::new(
        order_saga,
        "o",
        Order {
            id: 1,
            sku: s("x"),
            qty: 1,
            cents: 1,
        },
    )
    .with_activity(reserve_stock)
    .on_activity(charge_card, |_| {
        Err(ActivityError::new(
            ActivityErrorKind::StartToCloseTimeout,
            "slow",
        ))
    })
    .with_activity(release_stock)
    .run()
    .unwrap();
    assert_eq!(
        r.calls_of(charge_card)[0]
            .result
            .as_ref()
            .unwrap_err()
            .attempts,
        1
    );
    assert_eq!(r.output, Err(WorkflowError::msg("payment failed: slow")));
}

mod currency_conversion_runs {
    use super::*;
    use corpus::currency_conversion::*;

    #[test]
    fn every_shadow_keeps_its_own_value() {
        let r = difftest(|| {
            TestRun::new(
                currency_conversion,
                "fx-1",
                Transfer {
                    cents: 10_000,
                    from: s("EUR"),
                    to: s("USD"),
                },
            )
            .with_activity(fx_rate)
            .with_activity(fee_for)
            .with_activity(settle)
        });
        // 10000 * 1.1 = 11000; "11000" is 5 long: fee 5000 / 100 + 30 + 5 = 85; 11085.
        assert_eq!(r.output, Ok(s("settled 85 11085 USD (11085 USD)")));
        assert_eq!(r.inputs_of(fee_for).unwrap(), [5000]);
    }
}

mod kyc_sampling_runs {
    use super::*;
    use corpus::kyc_sampling::*;
    use workflow_rt::workflow;

    /// Draws from the context what `kyc_sampling` draws, in its order: a run with the same id
    /// has the same generator.
    #[workflow]
    async fn draws(ctx: WorkflowCtx) -> (String, u64) {
        let request_id = ctx.uuid();
        (request_id, ctx.random::<u64>())
    }

    #[test]
    fn ids_and_samples_come_from_the_context() {
        for id in ["kyc-1", "kyc-2", "kyc-3", "kyc-4", "kyc-5", "kyc-6"] {
            let r = difftest(|| {
                TestRun::new(kyc_sampling, id, s("ann"))
                    .with_activity(check_documents)
                    .with_activity(manual_review)
            });
            // The same generator, seeded from the id, draws the uuid then the sample.
            let (request_id, draw) = TestRun::new(draws, id, ()).run().expect("draws").output;
            let sampled = draw.is_multiple_of(4);
            let mut checks = vec![format!("docs ok for ann ({})", &request_id[..8])];
            if sampled {
                checks.push(format!("reviewed {}", &request_id[..8]));
            }
            let seconds = if sampled { 2 * 3600 + 90 } else { 90 };
            assert_eq!(
                r.output,
                Ok(KycResult {
                    request_id,
                    sampled,
                    seconds,
                    checks
                })
            );
        }
    }
}

mod shipping_quote_runs {
    use super::*;
    use corpus::shipping_quote::*;

    fn run(grams: u64, zone: &str, express: bool) -> TestRun<shipping_quote> {
        TestRun::new(
            shipping_quote,
            "q-1",
            Parcel {
                grams,
                zone: s(zone),
                express,
            },
        )
        .with_activity(base_rate)
        .with_activity(weight_surcharge)
        .with_activity(fuel_index)
        .with_activity(carrier_code)
        .with_activity(audit)
    }

    #[test]
    fn awaits_in_larger_expressions_keep_their_order() {
        // (750 + 150) * 1.12 = 1008, express adds 2 * 1050 + 1: 3109.
        let r = difftest(|| run(1200, "north", true));
        assert_eq!(r.output, Ok((s("EXP-north-300"), 3109, vec![10, 13])));
        assert_eq!(
            names(&r),
            [
                "base_rate",
                "weight_surcharge",
                "fuel_index",
                "base_rate",
                "audit",
                "carrier_code",
                "weight_surcharge",
                "audit"
            ]
        );
        // (300 + 0) * 1.12 = 336.
        let r = difftest(|| run(400, "eu", false));
        assert_eq!(r.output, Ok((s("STD-eu-75"), 336, vec![9])));
    }
}

mod deployment_plan_runs {
    use super::*;
    use corpus::deployment_plan::*;

    fn run(steps: &[&str]) -> TestRun<deployment_plan> {
        TestRun::new(
            deployment_plan,
            "dep-1",
            Plan {
                release: s("v2"),
                steps: steps.iter().map(|x| s(x)).collect(),
            },
        )
        .with_activity(step)
        .with_activity(health)
        .with_activity(rollback)
    }

    #[test]
    fn a_healthy_plan_applies_every_step() {
        let r = difftest(|| run(&["canary", "eu", "us"]));
        assert_eq!(r.output, Ok(vec![s("v2@canary"), s("v2@eu"), s("v2@us")]));
        assert!(r.calls_of(rollback).is_empty());
    }

    #[test]
    fn an_unhealthy_step_rolls_back_newest_first() {
        let r = difftest(|| run(&["canary", "eu", "bad-us", "ap"]));
        assert_eq!(
            r.output,
            Err(WorkflowError::msg("bad-us unhealthy, v2 rolled back"))
        );
        assert_eq!(
            r.inputs_of(rollback).unwrap(),
            [s("v2@bad-us"), s("v2@eu"), s("v2@canary")]
        );
        assert_eq!(r.calls_of(step).len(), 3);
    }
}
