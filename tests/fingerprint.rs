//! The fingerprint sees the return types of the activities whose values a workflow saves across
//! an await: the workflow's text alone (`ActivityOk<charge>`) does not change when `charge`'s
//! return type does, and an old snapshot must then be refused, not decoded wrong.

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
        <narrow::pay as Workflow>::FINGERPRINT,
        <wide::pay as Workflow>::FINGERPRINT
    );
    assert_ne!(
        <narrow::charge as Activity>::OUTPUT_FINGERPRINT,
        <wide::charge as Activity>::OUTPUT_FINGERPRINT
    );
}

#[test]
fn the_same_return_type_keeps_the_fingerprint() {
    assert_eq!(
        <narrow::pay as Workflow>::FINGERPRINT,
        <narrow_again::pay as Workflow>::FINGERPRINT
    );
}

#[test]
fn the_description_carries_the_same_fingerprint() {
    for (described, code) in [
        (
            narrow::pay::description().fingerprint,
            <narrow::pay as Workflow>::FINGERPRINT,
        ),
        (
            wide::pay::description().fingerprint,
            <wide::pay as Workflow>::FINGERPRINT,
        ),
    ] {
        assert_eq!(described, code);
    }
}

/// Evaluated by the compiler: a const context accepts it.
const _: u64 = <wide::pay as Workflow>::FINGERPRINT;

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
    let fp = |d: &workflow_rt::Description| d.fingerprint;
    let v1 = <version_1::pay as Workflow>::FINGERPRINT;
    let v2 = <version_2::pay as Workflow>::FINGERPRINT;
    let v3 = <version_3::pay as Workflow>::FINGERPRINT;
    assert_ne!(v1, v2);
    assert_ne!(v2, v3);
    assert_ne!(v1, v3);
    assert_eq!(v2, <version_2_again::pay as Workflow>::FINGERPRINT);
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
fn version_1_written_or_not_keeps_the_fingerprint_of_before_versions() {
    // The text hashed for a version 1 is the one hashed before versions existed, so the runs
    // stored then keep matching their code.
    assert_eq!(<default_version::pay as Workflow>::VERSION, 1);
    assert_eq!(
        <default_version::pay as Workflow>::FINGERPRINT,
        <version_1::pay as Workflow>::FINGERPRINT
    );
    assert_eq!(
        <default_version::pay as Workflow>::FINGERPRINT,
        <narrow::pay as Workflow>::FINGERPRINT
    );
}

/// The version is a const: usable in const contexts, as the fingerprint is.
const _: () = assert!(<version_2::pay as Workflow>::VERSION == 2);
