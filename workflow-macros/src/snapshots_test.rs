//! Expansion snapshots (insta + prettyplease) of representative workflows, and the fingerprint's
//! stability. Each snapshotted workflow also compiles and runs in the integration tests
//! (`tests/lowering_*.rs`, the corpus): a snapshot alone proves nothing compiles.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test -p workflow-macros`).

use proc_macro2::TokenStream;

fn expand(src: &str) -> String {
    expand_with("", src)
}

/// The expansion of `#[workflow(args)]` on `src`.
fn expand_with(args: &str, src: &str) -> String {
    let item: TokenStream = src.parse().expect("test source parses");
    let args: TokenStream = args.parse().expect("test arguments parse");
    let out = crate::expand::workflow(args, item);
    let file: syn::File =
        syn::parse2(out.clone()).unwrap_or_else(|e| panic!("expansion does not parse: {e}\n{out}"));
    prettyplease::unparse(&file)
}

/// The legacy fingerprint's const expression (`__WF_LEGACY_FINGERPRINT`'s value, up to its `;`): the
/// hash of the names and types as written, which the runtime completes with the traced shapes.
fn fingerprint_expr(src: &str) -> String {
    fingerprint_expr_with("", src)
}

/// The fingerprint's const expression under `#[workflow(args)]`.
fn fingerprint_expr_with(args: &str, src: &str) -> String {
    let out = expand_with(args, src);
    let start = out
        .find("const __WF_LEGACY_FINGERPRINT: u64 =")
        .unwrap_or_else(|| panic!("no fingerprint in:\n{out}"));
    let rest = &out[start + "const __WF_LEGACY_FINGERPRINT: u64 =".len()..];
    let end = rest.find(';').expect("the const ends");
    rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The hash of the written layout: the first `u64` literal of the fingerprint's expression.
fn fingerprint(src: &str) -> u64 {
    fingerprint_with("", src)
}

/// The hash of the written layout under `#[workflow(args)]`.
fn fingerprint_with(args: &str, src: &str) -> u64 {
    let expr = fingerprint_expr_with(args, src);
    let lit = expr
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|t| t.ends_with("u64") && t.len() > 3 && t.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no literal in {expr}"));
    lit.trim_end_matches("u64").parse().expect("a number")
}

macro_rules! snapshot {
    ($name:ident, $src:literal) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), expand($src));
        }
    };
}

snapshot!(
    sequential_saga,
    r#"
async fn checkout(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let payment = ctx.activity(charge, order.clone())
        .retry(RetryPolicy::exponential(Duration::from_millis(200)).max_attempts(5))
        .await?;
    ctx.activity(ship, order).await?;
    Ok(payment)
}"#
);

snapshot!(
    typed_signal_saved_across_an_await,
    r#"
async fn approve(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let approved = ctx.signal(APPROVE).await;
    let note = ctx.signal(signals::NOTE).timeout(Duration::from_secs(60)).await;
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(format!("{approved} {note:?} {}", order.id))
}"#
);

snapshot!(
    approval_with_timeout,
    r#"
async fn approve(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let payment = ctx.activity(charge, order.clone()).await?;
    match ctx.signal::<bool>("approve").timeout(Duration::from_secs(7 * 24 * 3600)).await {
        Some(true) => {}
        _ => {
            ctx.activity(refund, payment.clone()).await?;
            return Err(WorkflowError::msg("not approved"));
        }
    }
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(payment)
}"#
);

snapshot!(
    for_loop_over_items,
    r#"
async fn ship_all(ctx: WorkflowCtx, items: Vec<Item>) -> Result<u64, WorkflowError> {
    let mut shipped: u64 = 0;
    for item in items {
        ctx.activity(ship, item).await?;
        shipped += 1;
    }
    Ok(shipped)
}"#
);

snapshot!(
    retry_loop_with_counter,
    r#"
async fn poll(ctx: WorkflowCtx, job: String) -> Result<bool, WorkflowError> {
    let mut attempts: u32 = 0;
    loop {
        let done = ctx.activity(check, job.clone()).await?;
        if done {
            break Ok(true);
        }
        attempts += 1;
        if attempts >= 10 {
            return Ok(false);
        }
        ctx.sleep(Duration::from_secs(30)).await;
    }
}"#
);

snapshot!(
    nested_labeled_loops,
    r#"
async fn grid(ctx: WorkflowCtx, rows: Vec<u64>) -> Result<u64, WorkflowError> {
    let mut sum: u64 = 0;
    'rows: for r in rows {
        for c in 0..3u64 {
            if c > r {
                continue 'rows;
            }
            sum += ctx.activity(cell, (r, c)).await?;
            if sum > 100 {
                break 'rows;
            }
        }
    }
    Ok(sum)
}"#
);

snapshot!(
    nested_expression_order,
    r#"
async fn quote(ctx: WorkflowCtx, sku: String) -> Result<u64, WorkflowError> {
    let total: u64 = base_price(&sku) + ctx.activity(price, sku.clone()).await?;
    Ok(total)
}"#
);

snapshot!(
    let_else_and_match_arms,
    r#"
async fn lookup(ctx: WorkflowCtx, id: u64) -> Result<String, WorkflowError> {
    let Some(name) = ctx.activity(find, id).await? else {
        ctx.activity(report_missing, id).await?;
        return Err(WorkflowError::msg("missing"));
    };
    let label = match ctx.activity(tier, id).await {
        Ok(t) => t,
        Err(e) => {
            ctx.activity(alert, e.message.clone()).await?;
            String::from("basic")
        }
    };
    Ok(format!("{name} ({label})"))
}"#
);

snapshot!(
    join_and_select,
    r#"
async fn race(ctx: WorkflowCtx, id: u64) -> Result<u64, WorkflowError> {
    let (a, b, c) = ctx.join((ctx.activity(one, id), ctx.activity(two, id), ctx.activity(three, id))).await;
    let bonus = match ctx.select((ctx.signal::<u64>("bonus"), ctx.sleep(Duration::from_secs(3600)))).await {
        Select2::First(v) => v,
        Select2::Second(()) => 0,
    };
    Ok(a? + b? + c? + bonus)
}"#
);

const BASE: &str = r#"
async fn fp(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let payment = ctx.activity(charge, order.clone()).await?;
    let note: String = format!("paid {}", order.id);
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(format!("{payment} {note}"))
}"#;

#[test]
fn fingerprint_ignores_comments_formatting_and_code_between_awaits() {
    let base = fingerprint(BASE);
    let reformatted = r#"
// A comment.
async fn fp(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    // Charge first.
    let payment =
        ctx.activity(charge, order.clone())
            .await?;


    let note: String = format!("paid order {} today", order.id);
    println!("{note}");
    ctx.sleep(Duration::from_secs(120)).await;
    Ok(format!("{payment} / {note}"))
}"#;
    assert_eq!(fingerprint(reformatted), base);
}

#[test]
fn fingerprint_changes_with_the_persisted_layout() {
    let base = fingerprint(BASE);
    // A live variable's type.
    let retyped = BASE.replace("let note: String = format!", "let note: Box<str> = format!");
    assert_ne!(fingerprint(&retyped), base);
    // The set of awaits.
    let more = BASE.replace(
        "ctx.sleep(",
        "ctx.sleep(Duration::from_secs(1)).await;\n    ctx.sleep(",
    );
    assert_ne!(fingerprint(&more), base);
    // Their order.
    let reordered = r#"
async fn fp(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    ctx.sleep(Duration::from_secs(60)).await;
    let payment = ctx.activity(charge, order.clone()).await?;
    let note: String = format!("paid {}", order.id);
    Ok(format!("{payment} {note}"))
}"#;
    assert_ne!(fingerprint(reordered), base);
    // A variable that starts living across an await.
    let longer = BASE.replace(
        "Ok(format!(\"{payment} {note}\"))",
        "Ok(format!(\"{payment} {note} {}\", order.id))",
    );
    assert_ne!(fingerprint(&longer), base);
}

#[test]
fn fingerprint_includes_the_version() {
    let base = fingerprint(BASE);
    // Version 1, written or not, hashes what was hashed before versions existed: stored runs
    // keep their fingerprint.
    assert_eq!(fingerprint_with("version = 1", BASE), base);
    assert_eq!(
        base, 0x1848_2179_4c06_462a,
        "the fingerprint of a version 1 changed"
    );
    let v2 = fingerprint_with("version = 2", BASE);
    let v3 = fingerprint_with("version = 3", BASE);
    assert_ne!(v2, base);
    assert_ne!(v3, base);
    assert_ne!(v2, v3);
    assert_eq!(fingerprint_with("name = \"fp\", version = 2", BASE), v2);
}

#[test]
fn the_version_is_in_the_impl_and_the_description() {
    let out = expand_with("version = 7", BASE);
    assert!(out.contains("const VERSION: u32 = 7;"), "{out}");
    assert!(out.contains("version: 7,"), "{out}");
    let out = expand(BASE);
    assert!(out.contains("const VERSION: u32 = 1;"), "{out}");
    assert!(out.contains("version: 1,"), "{out}");
    // Also in the impl emitted next to the errors of a body that does not compile.
    let out = expand_with(
        "version = 4",
        "async fn bad(ctx: WorkflowCtx, x: u64) -> u64 { let f = async { 1 }; x }",
    );
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("const VERSION: u32 = 4;"), "{out}");
}

#[test]
fn fingerprint_folds_in_the_saved_activities_output_types() {
    // `payment: ActivityOk<charge>` is saved across the sleep: `charge`'s output hash is folded
    // in, so a changed return type changes the fingerprint (checked in `tests/fingerprint.rs`).
    let expr = fingerprint_expr(BASE);
    assert!(
        expr.contains("fold_fingerprint")
            && expr.contains("<charge as ::workflow_rt::Activity>::OUTPUT_FINGERPRINT"),
        "{expr}"
    );
    // Nothing saved from an activity: the layout's hash alone.
    let no_activity = r#"
async fn fp(ctx: WorkflowCtx, order: Order) -> Result<String, WorkflowError> {
    let note: String = format!("paid {}", order.id);
    ctx.sleep(Duration::from_secs(60)).await;
    Ok(note)
}"#;
    let expr = fingerprint_expr(no_activity);
    assert!(!expr.contains("OUTPUT_FINGERPRINT"), "{expr}");
}

#[test]
fn let_chain_with_await_is_an_error_not_a_panic() {
    let out = expand(
        r#"
async fn chain(ctx: WorkflowCtx, sku: Option<String>) -> Result<u64, WorkflowError> {
    if let Some(s) = sku.clone() && let Ok(p) = ctx.activity(price, s).await {
        return Ok(p);
    }
    Ok(0)
}"#,
    );
    assert!(out.contains("compile_error"), "{out}");
}
