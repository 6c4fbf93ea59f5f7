//! The fingerprint covers the shape of every saved type as serde sees it: the return types of
//! the activities whose values a workflow saves across an await (the workflow's text alone,
//! `ActivityOk<charge>`, does not change when `charge`'s return type does), the fields and
//! variants of the user's types, what a type alias points to, the types the compiler inferred;
//! and not the names of locals, comments, formatting or the code between awaits.

use std::time::Duration;

use workflow_rt::prelude::*;

/// The same workflow text, over an activity `charge` returning `Result<$ok, ActivityError>`.
macro_rules! with_charge {
    ($module:ident, $ok:ty) => {
        mod $module {
            use super::*;

            #[activity]
            pub async fn charge(_ctx: ActivityCtx, cents: u64) -> Result<$ok, ActivityError> {
                Ok(<$ok>::from(cents as u32))
            }

            #[workflow]
            pub async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<u64, WorkflowError> {
                let paid = ctx.activity(charge, cents).await?;
                ctx.sleep(Duration::from_secs(60)).await;
                Ok(u64::from(paid))
            }
        }
    };
}

with_charge!(narrow, u32);
with_charge!(wide, u64);
with_charge!(narrow_again, u32);

#[test]
fn a_saved_activitys_return_type_changes_the_fingerprint() {
    assert_ne!(
        <narrow::pay as Workflow>::fingerprint(),
        <wide::pay as Workflow>::fingerprint()
    );
    assert_ne!(
        <narrow::charge as Activity>::OUTPUT_FINGERPRINT,
        <wide::charge as Activity>::OUTPUT_FINGERPRINT
    );
}

#[test]
fn the_same_return_type_keeps_the_fingerprint() {
    assert_eq!(
        <narrow::pay as Workflow>::fingerprint(),
        <narrow_again::pay as Workflow>::fingerprint()
    );
}

#[test]
fn the_description_carries_the_same_fingerprint() {
    for (described, code) in [
        (
            narrow::pay::description().fingerprint(),
            <narrow::pay as Workflow>::fingerprint(),
        ),
        (
            wide::pay::description().fingerprint(),
            <wide::pay as Workflow>::fingerprint(),
        ),
    ] {
        assert_eq!(described, code);
    }
}

/// The workflow text of `narrow::pay` under `#[workflow(name = "pay", $($version)*)]`.
macro_rules! versioned {
    ($module:ident, $($version:tt)*) => {
        mod $module {
            use super::*;
            use super::narrow::charge;

            #[workflow(name = "pay", $($version)*)]
            pub async fn pay(ctx: WorkflowCtx, cents: u64) -> Result<u64, WorkflowError> {
                let paid = ctx.activity(charge, cents).await?;
                ctx.sleep(Duration::from_secs(60)).await;
                Ok(u64::from(paid))
            }
        }
    };
}

versioned!(default_version,);
versioned!(version_1, version = 1);
versioned!(version_2, version = 2);
versioned!(version_2_again, version = 2);
versioned!(version_3, version = 3);

#[test]
fn the_version_changes_the_fingerprint() {
    let fp = |d: &workflow_rt::Description| d.fingerprint();
    let v1 = <version_1::pay as Workflow>::fingerprint();
    let v2 = <version_2::pay as Workflow>::fingerprint();
    let v3 = <version_3::pay as Workflow>::fingerprint();
    assert_ne!(v1, v2);
    assert_ne!(v2, v3);
    assert_ne!(v1, v3);
    assert_eq!(v2, <version_2_again::pay as Workflow>::fingerprint());
    assert_eq!(fp(version_2::pay::description()), v2);
    assert_eq!(fp(version_3::pay::description()), v3);
    // Each description shows its own version, and its own fingerprint.
    for (text, version, fingerprint) in [
        (version_1::pay::description().to_text(), 1, v1),
        (version_2::pay::description().to_text(), 2, v2),
        (version_3::pay::description().to_text(), 3, v3),
    ] {
        let header = format!("workflow pay v{version} (fingerprint {fingerprint:016x})\n");
        assert!(text.starts_with(&header), "{text}");
    }
    assert_eq!(<version_1::pay as Workflow>::VERSION, 1);
    assert_eq!(<version_2::pay as Workflow>::VERSION, 2);
    assert_eq!(<version_3::pay as Workflow>::VERSION, 3);
}

#[test]
fn version_1_written_or_not_keeps_the_fingerprint() {
    assert_eq!(<default_version::pay as Workflow>::VERSION, 1);
    assert_eq!(
        <default_version::pay as Workflow>::fingerprint(),
        <version_1::pay as Workflow>::fingerprint()
    );
    assert_eq!(
        <default_version::pay as Workflow>::fingerprint(),
        <narrow::pay as Workflow>::fingerprint()
    );
}

/// The version is a const: usable in const contexts.
const _: () = assert!(<version_2::pay as Workflow>::VERSION == 2);

/// One workflow text over a saved type `Order` and a saved inferred variable, with the types
/// given by the caller: the fingerprint must follow the types' shapes.
macro_rules! over_order {
    ($module:ident, { $($order:tt)* }, { $($status:tt)* }, $amount:ty) => {
        mod $module {
            use super::*;

            pub type Amount = $amount;

            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct Order { $($order)* }

            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub enum Status { $($status)* }

            #[activity]
            pub async fn status(_ctx: ActivityCtx, id: u64) -> Result<Vec<Status>, ActivityError> {
                let _ = id;
                Ok(Vec::new())
            }

            #[workflow(name = "order_fp")]
            pub async fn order_fp(ctx: WorkflowCtx, order: Order) -> Result<u64, WorkflowError> {
                let seen = ctx.activity(status, 1).await?;
                let total: Amount = Default::default();
                ctx.sleep(Duration::from_secs(1)).await;
                let _ = (&order, &seen, total);
                Ok(seen.len() as u64)
            }
        }
    };
}

over_order!(base, { pub id: u64, pub note: String }, { Open, Closed(u32) }, u64);
over_order!(base_again, { pub id: u64, pub note: String }, { Open, Closed(u32) }, u64);
over_order!(extra_field, { pub id: u64, pub note: String, pub qty: u32 }, { Open, Closed(u32) }, u64);
over_order!(retyped_field, { pub id: u32, pub note: String }, { Open, Closed(u32) }, u64);
over_order!(extra_variant, { pub id: u64, pub note: String }, { Open, Closed(u32), Lost }, u64);
over_order!(variant_retyped, { pub id: u64, pub note: String }, { Open, Closed(u64) }, u64);
over_order!(alias_moved, { pub id: u64, pub note: String }, { Open, Closed(u32) }, u32);

#[test]
fn a_field_added_or_retyped_in_a_saved_struct_changes_the_fingerprint() {
    let base = base::order_fp::fingerprint();
    assert_eq!(base, base_again::order_fp::fingerprint());
    assert_ne!(base, extra_field::order_fp::fingerprint());
    assert_ne!(base, retyped_field::order_fp::fingerprint());
}

#[test]
fn an_enums_variants_changed_inside_an_inferred_value_change_the_fingerprint() {
    // `seen` is saved with the type the compiler inferred (`Vec<Status>`): its shape counts.
    let base = base::order_fp::fingerprint();
    assert_ne!(base, extra_variant::order_fp::fingerprint());
    assert_ne!(base, variant_retyped::order_fp::fingerprint());
}

#[test]
fn a_type_alias_pointed_elsewhere_changes_the_fingerprint() {
    assert_ne!(
        base::order_fp::fingerprint(),
        alias_moved::order_fp::fingerprint()
    );
}

#[test]
fn the_shapes_show_what_changed() {
    let shapes = |d: &workflow_rt::Description| (d.layout)().shapes.clone();
    let base = shapes(base::order_fp::description());
    assert!(base.contains("    seen: Seq<Status>\n"), "{base}");
    assert!(base.contains("    total: U64\n"), "{base}");
    assert!(
        base.contains("  Order: struct { id: U64, note: Str }\n"),
        "{base}"
    );
    assert!(
        base.contains("  Status: enum { 0:Open, 1:Closed(U32) }\n"),
        "{base}"
    );
    let extra = shapes(extra_field::order_fp::description());
    assert!(
        extra.contains("  Order: struct { id: U64, note: Str, qty: U32 }\n"),
        "{extra}"
    );
    // The description's text (what the layout lock records) carries them.
    assert!(base::order_fp::description().to_text().contains(&base));
}

mod renamed {
    use super::base::{Amount, Order, status};
    use super::*;

    /// `base::order_fp` with its locals renamed, comments, another layout of the code, and
    /// other code between the awaits.
    #[workflow(name = "order_fp")]
    pub async fn order_fp(ctx: WorkflowCtx, the_order: Order) -> Result<u64, WorkflowError> {
        // Something else first.
        let statuses = ctx.activity(status, 1).await?;
        let sum: Amount = Default::default();
        let unused_between = statuses.len() * 2;
        let _ = unused_between;
        ctx.sleep(Duration::from_secs(1)).await;
        let _ = (&the_order, &statuses, sum);
        Ok(statuses.len() as u64)
    }
}

#[test]
fn renaming_locals_comments_formatting_and_code_between_awaits_keep_the_fingerprint() {
    assert_eq!(
        base::order_fp::fingerprint(),
        renamed::order_fp::fingerprint()
    );
}

#[test]
fn the_fingerprint_is_the_same_from_every_build() {
    // Derived from the shapes' text only (no Rust type names, no addresses): this value was
    // computed by an earlier build of the same code, and must not move with the compiler, the
    // build profile or the order of compilation.
    assert_eq!(
        base::order_fp::fingerprint(),
        0x2e6a_e63c_ea21_84c9,
        "{}",
        base::order_fp::description()
    );
}

#[test]
fn runs_stored_under_the_legacy_fingerprint_are_still_read() {
    let layout = base::order_fp::layout();
    let legacy = layout.legacy_fingerprint.expect("generated code keeps it");
    assert_ne!(legacy, layout.fingerprint);
    assert!(layout.accepts(legacy));
    assert!(layout.accepts(layout.fingerprint));
    assert!(!layout.accepts(extra_field::order_fp::fingerprint()));
}
