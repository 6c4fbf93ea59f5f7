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
