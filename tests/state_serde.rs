//! The state enum's `Serialize` and `Deserialize`, which `#[workflow]` writes itself: the
//! encoding of serde's derive (postcard round trips; the committed snapshots of
//! `snapshot_compat.rs` prove the bytes are the same), JSON round trips (fields by name, in
//! order), states with more fields than a tuple holds, and typed errors for bad input.

use std::time::Duration;

use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {
    Ok(x * 2)
}

/// Fourteen results live across the last await: a state of more than twelve fields.
#[workflow]
async fn wide(ctx: WorkflowCtx, x: u64) -> Result<u64, WorkflowError> {
    let a0 = ctx.activity(double, x).await?;
    let a1 = ctx.activity(double, a0).await?;
    let a2 = ctx.activity(double, 1).await?;
    let a3 = ctx.activity(double, 2).await?;
    let a4 = ctx.activity(double, 3).await?;
    let a5 = ctx.activity(double, 4).await?;
    let a6 = ctx.activity(double, 5).await?;
    let a7 = ctx.activity(double, 6).await?;
    let a8 = ctx.activity(double, 7).await?;
    let a9 = ctx.activity(double, 8).await?;
    let a10 = ctx.activity(double, 9).await?;
    let a11 = ctx.activity(double, 10).await?;
    let a12 = ctx.activity(double, 11).await?;
    let name: String = format!("n{a12}");
    ctx.sleep(Duration::from_secs(1)).await;
    Ok(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + name.len() as u64)
}

#[test]
fn every_state_round_trips_through_postcard_and_json() {
    let out = TestRun::new(wide, "w", 1)
        .with_activity(double)
        .record_snapshots(true)
        .snapshot_every_await(true)
        .run()
        .unwrap();
    // 2 + 4 + 2*(1..=11) = 6 + 132 = 138; "n22": 3.
    assert_eq!(out.output.unwrap(), 141);
    assert_eq!(out.snapshots.len(), 15);
    for snap in &out.snapshots {
        let (state, _) = snap.decode(wide).unwrap();
        let bytes = postcard::to_stdvec(&state).unwrap();
        let back: WideState = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(postcard::to_stdvec(&back).unwrap(), bytes);
        let json = serde_json::to_string(&state).unwrap();
        let back: WideState = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
    // The last await holds all fourteen variables, by name.
    let (last, _) = out.snapshots.last().unwrap().decode(wide).unwrap();
    let json = serde_json::to_value(&last).unwrap();
    let fields = json["Await14Sleep"].as_object().unwrap();
    assert_eq!(fields.len(), 14);
    assert_eq!(fields["a0"], 2);
    assert_eq!(fields["name"], "n22");
}

#[test]
fn unit_states_and_names() {
    let json = serde_json::to_string(&WideState::Returned).unwrap();
    assert_eq!(json, "\"Returned\"");
    let back: WideState = serde_json::from_str(&json).unwrap();
    assert!(matches!(back, WideState::Returned));
    let start: WideState = serde_json::from_str(r#"{"Start":{"x":5}}"#).unwrap();
    assert!(matches!(start, WideState::Start { x: 5 }));
}

#[test]
fn bad_input_is_a_typed_error() {
    // An unknown state, a field out of order, a missing field, a wrong type, truncated bytes.
    for bad in [
        r#"{"Nope":{}}"#,
        r#"{"Await2Double":{"x":1,"a0":2}}"#,
        r#"{"Await2Double":{}}"#,
        r#"{"Start":{"x":"five"}}"#,
    ] {
        assert!(serde_json::from_str::<WideState>(bad).is_err(), "{bad}");
    }
    let bytes = postcard::to_stdvec(&WideState::Start { x: 7 }).unwrap();
    assert!(postcard::from_bytes::<WideState>(&bytes[..1]).is_err());
    assert!(postcard::from_bytes::<WideState>(&[200]).is_err());
}
