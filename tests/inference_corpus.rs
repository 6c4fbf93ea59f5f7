//! A corpus of ordinary shapes whose saved variables carry no type annotation and whose types
//! the macro cannot read off the code (a closure's result, an iterator chain, the bindings of a
//! pattern, `Default::default()`, a generic function's result, a `collect()` typed later...):
//! each is saved with the type the compiler infers. Every workflow runs straight and restored
//! from its snapshot at every await with the same result, and its test checks that the variable
//! really is saved with an inferred type (`assert_inferred`). The expected outputs are worked out
//! by hand from each body.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::testing::{TestOutcome, TestRun};

/// Runs `make()` straight and with snapshot/drop/restore at every await: both must agree.
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
        straight.snapshots,
        restored.snapshots,
        "{}: snapshots differ",
        W::NAME
    );
    assert_eq!(straight.snapshots.len(), straight.commands.len() + 1);
    straight
}

/// Asserts that some state of `W` saves `var` with the type the compiler inferred: the macro
/// could not read it off the code, so the shape exercises inference and not a written type.
fn assert_inferred<W: Workflow>(_workflow: W, var: &str) {
    let saved: Vec<&str> = W::description()
        .states
        .iter()
        .flat_map(|s| s.vars.iter())
        .filter(|(name, _)| *name == var)
        .map(|(_, ty)| *ty)
        .collect();
    assert!(
        saved
            .iter()
            .any(|ty| *ty == "<inferred>" || *ty == "<encoded>"),
        "{}: `{var}` is not saved with an inferred type (saved as {saved:?})\n{}",
        W::NAME,
        W::description()
    );
}

const SEC: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub sku: String,
    pub qty: u64,
    pub cents: u64,
}

impl Order {
    fn total(&self) -> u64 {
        self.qty * self.cents
    }
}

fn order(id: u64, sku: &str, qty: u64, cents: u64) -> Order {
    Order {
        id,
        sku: sku.to_string(),
        qty,
        cents,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Status {
    Pending,
    Paid { cents: u64 },
    Cancelled(String),
}

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

/// The price of a SKU: 100 cents per letter.
#[activity]
async fn price_of(_ctx: ActivityCtx, sku: String) -> Result<u64, ActivityError> {
    Ok(sku.len() as u64 * 100)
}

/// A tenth of the amount.
#[activity]
async fn tax(_ctx: ActivityCtx, cents: u64) -> Result<u64, ActivityError> {
    Ok(cents / 10)
}

/// Half of what is due, rounded up.
#[activity]
async fn installment(_ctx: ActivityCtx, due: u64) -> Result<u64, ActivityError> {
    Ok(due.div_ceil(2))
}

/// Odd ids are customers; even ones fail for good.
#[activity]
async fn lookup_customer(_ctx: ActivityCtx, id: u64) -> Result<String, ActivityError> {
    if id.is_multiple_of(2) {
        Err(ActivityError::non_retryable(format!("no customer {id}")))
    } else {
        Ok(format!("cust-{id}"))
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A closure's result (the closure itself is dead at the await).

#[workflow]
async fn closure_result(ctx: WorkflowCtx, qty: u64) -> Result<u64, WorkflowError> {
    let boxes_for = |x: u64| x * 3;
    let boxes = boxes_for(qty);
    let extra = ctx.activity(double, qty).await?;
    Ok(boxes + extra)
}

#[test]
fn a_closures_result() {
    assert_inferred(closure_result, "boxes");
    let run = difftest(|| TestRun::new(closure_result, "c", 4).with_activity(double));
    // boxes = 4 * 3 = 12, extra = 4 * 2 = 8
    assert_eq!(run.output, Ok(20));
}

// ---------------------------------------------------------------------------------------------
// 2. Iterator chains: `collect::<Vec<_>>()`, `sum::<u64>()`, `max()`, `count()`.

#[workflow]
async fn iterator_chain(ctx: WorkflowCtx, amounts: Vec<u64>) -> Result<String, WorkflowError> {
    let evens = amounts
        .iter()
        .filter(|a| *a % 2 == 0)
        .map(|a| a * 10)
        .collect::<Vec<_>>();
    let total = amounts.iter().sum::<u64>();
    let largest = amounts.iter().copied().max();
    let small = amounts.iter().filter(|a| **a < 5).count();
    ctx.sleep(SEC).await;
    let doubled = ctx.activity(double, total).await?;
    Ok(format!("{evens:?} {total} {doubled} {largest:?} {small}"))
}

#[test]
fn iterator_chains() {
    assert_inferred(iterator_chain, "evens");
    assert_inferred(iterator_chain, "total");
    assert_inferred(iterator_chain, "largest");
    let run =
        difftest(|| TestRun::new(iterator_chain, "i", vec![1, 2, 3, 4, 10]).with_activity(double));
    // evens: 2, 4, 10 times ten; total 20, doubled 40; largest 10; under 5: 1, 2, 3, 4
    assert_eq!(run.output, Ok("[20, 40, 100] 20 40 Some(10) 4".to_string()));
    let run = difftest(|| TestRun::new(iterator_chain, "i", vec![]).with_activity(double));
    assert_eq!(run.output, Ok("[] 0 0 None 0".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 3. Tuple destructuring in a match arm, with a guard.

fn stock_and_demand(sku: &str, qty: u64) -> (u64, u64) {
    (sku.len() as u64 * 2, qty)
}

#[workflow]
async fn tuple_arm(ctx: WorkflowCtx, line: Order) -> Result<u64, WorkflowError> {
    match stock_and_demand(&line.sku, line.qty) {
        (stock, demand) if stock > demand => {
            ctx.sleep(SEC).await;
            Ok(stock - demand)
        }
        (stock, demand) => {
            let ordered = ctx.activity(double, demand).await?;
            Ok(ordered - stock)
        }
    }
}

#[test]
fn tuple_bindings_in_an_arm() {
    assert_inferred(tuple_arm, "stock");
    assert_inferred(tuple_arm, "demand");
    // stock = 3 * 2 = 6 > demand 4: 6 - 4
    let run = difftest(|| TestRun::new(tuple_arm, "t", order(1, "pen", 4, 0)));
    assert_eq!(run.output, Ok(2));
    // stock 6 <= demand 9: ordered 18, 18 - 6
    let run =
        difftest(|| TestRun::new(tuple_arm, "t", order(1, "pen", 9, 0)).with_activity(double));
    assert_eq!(run.output, Ok(12));
}

// ---------------------------------------------------------------------------------------------
// 4. Struct destructuring in an arm.

#[workflow]
async fn struct_arm(ctx: WorkflowCtx, line: Order) -> Result<u64, WorkflowError> {
    match line {
        Order { id, qty, .. } if qty > 0 => {
            ctx.sleep(SEC).await;
            Ok(id + qty)
        }
        Order { id, sku, .. } => {
            let price = ctx.activity(price_of, sku).await?;
            Ok(id * 1_000 + price)
        }
    }
}

#[test]
fn struct_bindings_in_an_arm() {
    assert_inferred(struct_arm, "id");
    let run = difftest(|| TestRun::new(struct_arm, "s", order(7, "ink", 3, 50)));
    assert_eq!(run.output, Ok(10));
    // qty 0: price of "ink" is 300, 7 * 1000 + 300
    let run =
        difftest(|| TestRun::new(struct_arm, "s", order(7, "ink", 0, 50)).with_activity(price_of));
    assert_eq!(run.output, Ok(7_300));
}

// ---------------------------------------------------------------------------------------------
// 5. `Default::default()` whose type is fixed later.

fn with_handling(surcharge: u64) -> u64 {
    surcharge + 25
}

#[workflow]
async fn default_passed_later(ctx: WorkflowCtx, rush: bool) -> Result<u64, WorkflowError> {
    let mut surcharge = Default::default();
    if rush {
        surcharge = 40;
    }
    let shipping = ctx.activity(double, 5).await?;
    Ok(with_handling(surcharge) + shipping)
}

#[test]
fn default_typed_by_a_later_call() {
    assert_inferred(default_passed_later, "surcharge");
    // (40 + 25) + 10
    let run = difftest(|| TestRun::new(default_passed_later, "d", true).with_activity(double));
    assert_eq!(run.output, Ok(75));
    // (0 + 25) + 10
    let run = difftest(|| TestRun::new(default_passed_later, "d", false).with_activity(double));
    assert_eq!(run.output, Ok(35));
}

#[workflow]
async fn default_compared_later(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    let floor = Default::default();
    let taxed = ctx.activity(tax, cents).await?;
    if cents > floor {
        Ok(format!("above {floor}: tax {taxed}"))
    } else {
        Ok("free".to_string())
    }
}

#[test]
fn default_typed_by_a_later_comparison() {
    assert_inferred(default_compared_later, "floor");
    let run = difftest(|| TestRun::new(default_compared_later, "d", 250).with_activity(tax));
    assert_eq!(run.output, Ok("above 0: tax 25".to_string()));
    let run = difftest(|| TestRun::new(default_compared_later, "d", 0).with_activity(tax));
    assert_eq!(run.output, Ok("free".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 6. A generic function's result.

/// The last item (the newest one).
fn newest<T: Clone>(items: &[T]) -> T {
    items[items.len() - 1].clone()
}

#[workflow]
async fn generic_result(ctx: WorkflowCtx, skus: Vec<String>) -> Result<String, WorkflowError> {
    let chosen = newest(&skus);
    let price = ctx.activity(price_of, chosen.clone()).await?;
    Ok(format!("{chosen}:{price}"))
}

#[test]
fn a_generic_functions_result() {
    assert_inferred(generic_result, "chosen");
    let skus = vec!["pen".to_string(), "laptop".to_string()];
    let run = difftest(|| TestRun::new(generic_result, "g", skus.clone()).with_activity(price_of));
    assert_eq!(run.output, Ok("laptop:600".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 7. `collect()` whose type is given only later (a typed `let`, a function's parameter).

/// How many distinct tags (a `BTreeSet`: a `HashSet` of several items serializes in an order
/// that changes from one set to the next, so the snapshots would differ).
fn distinct(tags: BTreeSet<String>) -> usize {
    tags.len()
}

#[workflow]
async fn collect_typed_later(ctx: WorkflowCtx, tags: Vec<String>) -> Result<String, WorkflowError> {
    let names = tags.iter().map(|t| t.to_uppercase()).collect();
    let unique = tags.into_iter().collect();
    ctx.sleep(SEC).await;
    let names: Vec<String> = names;
    Ok(format!(
        "{} ({} distinct)",
        names.join(","),
        distinct(unique)
    ))
}

#[test]
fn collect_typed_later_on() {
    assert_inferred(collect_typed_later, "names");
    assert_inferred(collect_typed_later, "unique");
    let tags = vec!["vip".to_string(), "eu".to_string(), "vip".to_string()];
    let run = difftest(|| TestRun::new(collect_typed_later, "c", tags.clone()));
    assert_eq!(run.output, Ok("VIP,EU,VIP (2 distinct)".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 8. A map made with `new()` and filled after the awaits.

#[workflow]
async fn map_filled_later(ctx: WorkflowCtx, skus: Vec<String>) -> Result<String, WorkflowError> {
    let mut prices = BTreeMap::new();
    for sku in skus {
        let price = ctx.activity(price_of, sku.clone()).await?;
        prices.insert(sku, price);
    }
    let lines: Vec<String> = prices.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(lines.join(";"))
}

#[test]
fn a_map_filled_later() {
    assert_inferred(map_filled_later, "prices");
    let skus = vec!["pen".to_string(), "stapler".to_string(), "ink".to_string()];
    let run =
        difftest(|| TestRun::new(map_filled_later, "m", skus.clone()).with_activity(price_of));
    // sorted by SKU, 100 cents a letter
    assert_eq!(run.output, Ok("ink=300;pen=300;stapler=700".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 9. An `Option` from `.first().copied()` and `.get(..).cloned()`.

#[workflow]
async fn option_of_an_item(ctx: WorkflowCtx, lines: Vec<Order>) -> Result<String, WorkflowError> {
    let first_qty = lines
        .iter()
        .map(|l| l.qty)
        .collect::<Vec<u64>>()
        .first()
        .copied();
    let second = lines.get(1).cloned();
    let count = ctx.activity(double, lines.len() as u64).await?;
    let second_sku = second.map(|o| o.sku).unwrap_or_else(|| "-".to_string());
    Ok(format!("{first_qty:?} {second_sku} {count}"))
}

#[test]
fn an_option_of_an_item() {
    assert_inferred(option_of_an_item, "first_qty");
    assert_inferred(option_of_an_item, "second");
    let lines = vec![order(1, "pen", 4, 10), order(2, "ink", 1, 20)];
    let run =
        difftest(|| TestRun::new(option_of_an_item, "o", lines.clone()).with_activity(double));
    assert_eq!(run.output, Ok("Some(4) ink 4".to_string()));
    let run = difftest(|| TestRun::new(option_of_an_item, "o", vec![]).with_activity(double));
    assert_eq!(run.output, Ok("None - 0".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 10. A `Result` kept across an await and matched after it.

fn parse_qty(raw: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .map_err(|e| format!("bad quantity {raw:?}: {e}"))
}

#[workflow]
async fn result_matched_later(ctx: WorkflowCtx, raw: String) -> Result<String, WorkflowError> {
    let parsed = parse_qty(&raw);
    ctx.sleep(SEC).await;
    match parsed {
        Ok(qty) => {
            let cents = ctx.activity(double, u64::from(qty)).await?;
            Ok(format!("{qty} for {cents}"))
        }
        Err(why) => Ok(format!("rejected: {why}")),
    }
}

#[test]
fn a_result_matched_later() {
    assert_inferred(result_matched_later, "parsed");
    let run =
        difftest(|| TestRun::new(result_matched_later, "r", " 12 ".into()).with_activity(double));
    assert_eq!(run.output, Ok("12 for 24".to_string()));
    let run = difftest(|| TestRun::new(result_matched_later, "r", "x7".into()));
    assert_eq!(
        run.output,
        Ok("rejected: bad quantity \"x7\": invalid digit found in string".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// 11. A clone of a variable whose type is inferred, changed after the await.

fn customer_name(id: u64) -> String {
    format!("Customer {id}")
}

#[workflow]
async fn clone_of_inferred(ctx: WorkflowCtx, id: u64) -> Result<String, WorkflowError> {
    let customer = customer_name(id);
    let mut text = customer.clone();
    ctx.sleep(SEC).await;
    text.push_str(" (vip)");
    let points = ctx.activity(double, id).await?;
    Ok(format!("{text} / {customer} / {points}"))
}

#[test]
fn a_clone_of_an_inferred_variable() {
    assert_inferred(clone_of_inferred, "customer");
    assert_inferred(clone_of_inferred, "text");
    let run = difftest(|| TestRun::new(clone_of_inferred, "c", 3).with_activity(double));
    assert_eq!(
        run.output,
        Ok("Customer 3 (vip) / Customer 3 / 6".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// 12. A method of a user type.

#[workflow]
async fn method_result(ctx: WorkflowCtx, line: Order) -> Result<u64, WorkflowError> {
    let total = line.total();
    let taxed = ctx.activity(tax, total).await?;
    Ok(total + taxed)
}

#[test]
fn a_methods_result() {
    assert_inferred(method_result, "total");
    let run =
        difftest(|| TestRun::new(method_result, "m", order(1, "pen", 3, 250)).with_activity(tax));
    // total 750, tax 75
    assert_eq!(run.output, Ok(825));
}

// ---------------------------------------------------------------------------------------------
// 13. A tuple returned by a function, destructured by `let`.

fn split_cents(cents: u64) -> (u64, u64) {
    (cents / 100, cents % 100)
}

#[workflow]
async fn tuple_let(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    let (dollars, rest) = split_cents(cents);
    let taxed = ctx.activity(tax, cents).await?;
    Ok(format!("${dollars}.{rest:02} + {taxed}c tax"))
}

#[test]
fn a_tuple_destructured_by_let() {
    assert_inferred(tuple_let, "dollars");
    assert_inferred(tuple_let, "rest");
    let run = difftest(|| TestRun::new(tuple_let, "t", 1_205).with_activity(tax));
    assert_eq!(run.output, Ok("$12.05 + 120c tax".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 14. `vec![]` filled after the awaits.

#[workflow]
async fn empty_vec_filled_later(ctx: WorkflowCtx, n: u64) -> Result<Vec<String>, WorkflowError> {
    let mut lines = vec![];
    for i in 1..=n {
        let d = ctx.activity(double, i).await?;
        lines.push(format!("L{i}:{d}"));
    }
    Ok(lines)
}

#[test]
fn an_empty_vec_filled_later() {
    assert_inferred(empty_vec_filled_later, "lines");
    let run = difftest(|| TestRun::new(empty_vec_filled_later, "v", 3).with_activity(double));
    assert_eq!(
        run.output,
        Ok(vec![
            "L1:2".to_string(),
            "L2:4".to_string(),
            "L3:6".to_string()
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// 15. An enum constructor, reassigned after an await.

#[workflow]
async fn enum_reassigned(ctx: WorkflowCtx, amount: u64) -> Result<Status, WorkflowError> {
    let mut status = Status::Pending;
    let charged = ctx.activity(double, amount).await?;
    if charged > 0 {
        status = Status::Paid { cents: charged };
    }
    ctx.sleep(SEC).await;
    if charged > 1_000 {
        status = Status::Cancelled(format!("{charged} over limit"));
    }
    Ok(status)
}

#[test]
fn an_enum_reassigned_later() {
    assert_inferred(enum_reassigned, "status");
    let run = difftest(|| TestRun::new(enum_reassigned, "e", 0).with_activity(double));
    assert_eq!(run.output, Ok(Status::Pending));
    let run = difftest(|| TestRun::new(enum_reassigned, "e", 30).with_activity(double));
    assert_eq!(run.output, Ok(Status::Paid { cents: 60 }));
    let run = difftest(|| TestRun::new(enum_reassigned, "e", 600).with_activity(double));
    assert_eq!(
        run.output,
        Ok(Status::Cancelled("1200 over limit".to_string()))
    );
}

// ---------------------------------------------------------------------------------------------
// 16. A value carried through a `while` loop across awaits.

fn opening_balance(invoice_cents: u64) -> u64 {
    invoice_cents * 3
}

#[workflow]
async fn while_carried(ctx: WorkflowCtx, invoice_cents: u64) -> Result<String, WorkflowError> {
    let mut due = opening_balance(invoice_cents);
    let mut paid = Vec::new();
    while due > 0 {
        ctx.sleep(SEC).await;
        let part = ctx.activity(installment, due).await?;
        due -= part;
        paid.push(part);
    }
    Ok(format!("{paid:?} left {due}"))
}

#[test]
fn a_value_carried_through_a_while_loop() {
    assert_inferred(while_carried, "due");
    let run = difftest(|| TestRun::new(while_carried, "w", 5).with_activity(installment));
    // due 15: pays 8 (7 left), 4 (3 left), 2 (1 left), 1 (0 left)
    assert_eq!(run.output, Ok("[8, 4, 2, 1] left 0".to_string()));
    let run = difftest(|| TestRun::new(while_carried, "w", 0).with_activity(installment));
    assert_eq!(run.output, Ok("[] left 0".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 17. The binding of `if let Some(x) = opt`, used after an await in the branch.

fn coupon_value(code: &str) -> Option<u64> {
    code.strip_prefix("SAVE").and_then(|n| n.parse().ok())
}

#[workflow]
async fn if_let_binding(ctx: WorkflowCtx, line: Order) -> Result<u64, WorkflowError> {
    let price = line.total();
    if let Some(off) = coupon_value(&line.sku) {
        ctx.sleep(SEC).await;
        Ok(price - off)
    } else {
        let taxed = ctx.activity(tax, price).await?;
        Ok(price + taxed)
    }
}

#[test]
fn the_binding_of_an_if_let() {
    assert_inferred(if_let_binding, "off");
    assert_inferred(if_let_binding, "price");
    // 2 * 100 - 10
    let run = difftest(|| TestRun::new(if_let_binding, "i", order(1, "SAVE10", 2, 100)));
    assert_eq!(run.output, Ok(190));
    // no coupon: 200 + 20 tax
    let run =
        difftest(|| TestRun::new(if_let_binding, "i", order(1, "PEN", 2, 100)).with_activity(tax));
    assert_eq!(run.output, Ok(220));
}

// ---------------------------------------------------------------------------------------------
// 18. `.unwrap_or_default()` / `.unwrap_or_else(..)` at the end of a chain on an activity's
// result.

#[workflow]
async fn unwrap_or_on_activity(ctx: WorkflowCtx, id: u64) -> Result<String, WorkflowError> {
    let name_len = ctx
        .activity(lookup_customer, id)
        .await
        .map(|name| name.len())
        .unwrap_or_default();
    let label = ctx
        .activity(lookup_customer, id + 1)
        .await
        .map_err(|e| e.message)
        .unwrap_or_else(|why| format!("guest ({why})"));
    ctx.sleep(SEC).await;
    Ok(format!("{name_len} {label}"))
}

#[test]
fn unwrap_or_on_an_activitys_result() {
    assert_inferred(unwrap_or_on_activity, "name_len");
    assert_inferred(unwrap_or_on_activity, "label");
    // "cust-7" has 6 letters; 8 is no customer
    let run =
        difftest(|| TestRun::new(unwrap_or_on_activity, "u", 7).with_activity(lookup_customer));
    assert_eq!(run.output, Ok("6 guest (no customer 8)".to_string()));
    let run =
        difftest(|| TestRun::new(unwrap_or_on_activity, "u", 8).with_activity(lookup_customer));
    assert_eq!(run.output, Ok("0 cust-9".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 19. `.into()` whose target is fixed by a later use.

fn label_of(note: String) -> String {
    format!("[{note}]")
}

#[workflow]
async fn into_fixed_later(ctx: WorkflowCtx, qty: u32) -> Result<String, WorkflowError> {
    let units = qty.into();
    let note = "rush".into();
    ctx.sleep(SEC).await;
    let cost = ctx.activity(double, units).await?;
    Ok(format!("{} {} {}", units + cost, label_of(note), units))
}

#[test]
fn into_typed_by_a_later_use() {
    assert_inferred(into_fixed_later, "units");
    assert_inferred(into_fixed_later, "note");
    // units 5, cost 10
    let run = difftest(|| TestRun::new(into_fixed_later, "i", 5).with_activity(double));
    assert_eq!(run.output, Ok("15 [rush] 5".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 20. A nested generic, `Vec<(String, Option<u32>)>`, built from a map.

fn catalog() -> BTreeMap<String, u32> {
    BTreeMap::from([("pen".to_string(), 4), ("ink".to_string(), 0)])
}

#[workflow]
async fn nested_generic(ctx: WorkflowCtx, skus: Vec<String>) -> Result<String, WorkflowError> {
    let stock = catalog();
    let report = skus
        .iter()
        .map(|s| (s.clone(), stock.get(s).copied()))
        .collect::<Vec<_>>();
    let checked = ctx.activity(double, report.len() as u64).await?;
    let parts: Vec<String> = report
        .iter()
        .map(|(sku, n)| match n {
            Some(n) => format!("{sku}:{n}"),
            None => format!("{sku}:-"),
        })
        .collect();
    Ok(format!("{} ({checked})", parts.join(",")))
}

#[test]
fn a_nested_generic_from_a_map() {
    assert_inferred(nested_generic, "report");
    let skus = vec!["pen".to_string(), "desk".to_string(), "ink".to_string()];
    let run = difftest(|| TestRun::new(nested_generic, "n", skus.clone()).with_activity(double));
    assert_eq!(run.output, Ok("pen:4,desk:-,ink:0 (6)".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 21. A value shadowed after an await.

#[workflow]
async fn shadowed_later(ctx: WorkflowCtx, id: u64) -> Result<u64, WorkflowError> {
    let name = customer_name(id);
    ctx.sleep(SEC).await;
    let name = name.len() as u64;
    let bonus = ctx.activity(double, name).await?;
    Ok(bonus + name)
}

#[test]
fn a_value_shadowed_after_an_await() {
    assert_inferred(shadowed_later, "name");
    // "Customer 12" has 11 characters: 22 + 11
    let run = difftest(|| TestRun::new(shadowed_later, "s", 12).with_activity(double));
    assert_eq!(run.output, Ok(33));
}

// ---------------------------------------------------------------------------------------------
// 22. `std::mem::take`.

fn backlog(n: u64) -> Vec<String> {
    (1..=n).map(|i| format!("inv-{i}")).collect()
}

#[workflow]
async fn taken_batch(ctx: WorkflowCtx, n: u64) -> Result<String, WorkflowError> {
    let mut queue = backlog(n);
    let batch = std::mem::take(&mut queue);
    let sent = ctx.activity(double, batch.len() as u64).await?;
    queue.push(format!("retry-{sent}"));
    Ok(format!("{} | {}", batch.join(","), queue.join(",")))
}

#[test]
fn a_value_taken_with_mem_take() {
    assert_inferred(taken_batch, "queue");
    assert_inferred(taken_batch, "batch");
    let run = difftest(|| TestRun::new(taken_batch, "t", 3).with_activity(double));
    assert_eq!(run.output, Ok("inv-1,inv-2,inv-3 | retry-6".to_string()));
}

// ---------------------------------------------------------------------------------------------
// More ordinary shapes: an array, a `char`, a `u128`, a `Box`.

#[workflow]
async fn array_of_tiers(ctx: WorkflowCtx, cents: u64) -> Result<u64, WorkflowError> {
    let tiers = [cents, cents / 2, cents / 4];
    let taxed = ctx.activity(tax, tiers[0]).await?;
    Ok(tiers.iter().sum::<u64>() + taxed)
}

#[test]
fn an_array() {
    assert_inferred(array_of_tiers, "tiers");
    // 400 + 200 + 100 + 40
    let run = difftest(|| TestRun::new(array_of_tiers, "a", 400).with_activity(tax));
    assert_eq!(run.output, Ok(740));
}

#[workflow]
async fn char_grade(ctx: WorkflowCtx, customer: String) -> Result<String, WorkflowError> {
    let initial = customer.chars().next().unwrap_or('?').to_ascii_uppercase();
    let price = ctx.activity(price_of, customer).await?;
    Ok(format!("{initial}{price}"))
}

#[test]
fn a_char() {
    assert_inferred(char_grade, "initial");
    let run = difftest(|| TestRun::new(char_grade, "c", "acme".into()).with_activity(price_of));
    assert_eq!(run.output, Ok("A400".to_string()));
    let run = difftest(|| TestRun::new(char_grade, "c", String::new()).with_activity(price_of));
    assert_eq!(run.output, Ok("?0".to_string()));
}

#[workflow]
async fn u128_total(ctx: WorkflowCtx, cents: u64) -> Result<String, WorkflowError> {
    let nano_cents = u128::from(cents) * 1_000_000_000_000_000_000_000;
    let taxed = ctx.activity(tax, cents).await?;
    Ok(format!("{nano_cents} {taxed}"))
}

#[test]
fn a_u128() {
    assert_inferred(u128_total, "nano_cents");
    // 3 * 10^21 does not fit a u64; a tenth of 3 cents is 0
    let run = difftest(|| TestRun::new(u128_total, "u", 3).with_activity(tax));
    assert_eq!(run.output, Ok("3000000000000000000000 0".to_string()));
}

#[workflow]
async fn boxed_order(ctx: WorkflowCtx, line: Order) -> Result<u64, WorkflowError> {
    let boxed = Box::new(line);
    let price = ctx.activity(price_of, boxed.sku.clone()).await?;
    Ok(boxed.qty * price)
}

#[test]
fn a_box() {
    assert_inferred(boxed_order, "boxed");
    // "desk": 400 cents, times 2
    let run =
        difftest(|| TestRun::new(boxed_order, "b", order(1, "desk", 2, 0)).with_activity(price_of));
    assert_eq!(run.output, Ok(800));
}

// ---------------------------------------------------------------------------------------------
// `sum()` and `fold(0, ..)` typed by a later use.

#[workflow]
async fn sum_typed_later(ctx: WorkflowCtx, lines: Vec<Order>) -> Result<u64, WorkflowError> {
    let units = lines.iter().map(|l| l.qty).sum();
    let best = lines.iter().fold(0, |acc, l| acc.max(l.cents));
    ctx.sleep(SEC).await;
    let taxed = ctx.activity(tax, best).await?;
    Ok(with_handling(units) + taxed)
}

#[test]
fn sum_and_fold_typed_later() {
    assert_inferred(sum_typed_later, "units");
    assert_inferred(sum_typed_later, "best");
    let lines = vec![order(1, "pen", 4, 10), order(2, "ink", 1, 200)];
    // units 5 + 25; best 200, tax 20
    let run = difftest(|| TestRun::new(sum_typed_later, "s", lines.clone()).with_activity(tax));
    assert_eq!(run.output, Ok(50));
}

// ---------------------------------------------------------------------------------------------
// `parse().ok()` whose target is fixed by a later activity's input.

#[workflow]
async fn parse_typed_later(ctx: WorkflowCtx, raw: String) -> Result<u64, WorkflowError> {
    let parsed = raw.trim().parse().ok();
    ctx.sleep(SEC).await;
    match parsed {
        Some(q) => Ok(ctx.activity(double, q).await?),
        None => Ok(0),
    }
}

#[test]
fn parse_typed_by_a_later_activity() {
    assert_inferred(parse_typed_later, "parsed");
    let run = difftest(|| TestRun::new(parse_typed_later, "p", "21".into()).with_activity(double));
    assert_eq!(run.output, Ok(42));
    let run = difftest(|| TestRun::new(parse_typed_later, "p", "x".into()).with_activity(double));
    assert_eq!(run.output, Ok(0));
}

// ---------------------------------------------------------------------------------------------
// `None`, an unsuffixed `0`, `BTreeSet::new()` and a tuple of an inferred value, typed by what
// the loop does with them after its awaits.

#[workflow]
async fn best_offer(ctx: WorkflowCtx, skus: Vec<String>) -> Result<String, WorkflowError> {
    let mut cheapest = None;
    let mut total = 0;
    let mut seen = BTreeSet::new();
    let owner = (customer_name(1), skus.len());
    for sku in skus {
        let price = ctx.activity(price_of, sku.clone()).await?;
        total += price;
        seen.insert(sku.clone());
        match cheapest {
            Some((_, p)) if p <= price => {}
            _ => cheapest = Some((sku, price)),
        }
    }
    Ok(format!("{cheapest:?} {total} {} {:?}", seen.len(), owner))
}

#[test]
fn none_zero_and_a_set_typed_later() {
    assert_inferred(best_offer, "cheapest");
    assert_inferred(best_offer, "total");
    assert_inferred(best_offer, "seen");
    assert_inferred(best_offer, "owner");
    let skus = vec!["stapler".to_string(), "pen".to_string(), "ink".to_string()];
    let run = difftest(|| TestRun::new(best_offer, "b", skus.clone()).with_activity(price_of));
    assert_eq!(
        run.output,
        Ok("Some((\"pen\", 300)) 1300 3 (\"Customer 1\", 3)".to_string())
    );
}
