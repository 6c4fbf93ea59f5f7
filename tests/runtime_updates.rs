//! Updates (`Client::update`, `WorkflowCtx::reply`): a request sent to a run as a signal,
//! answered by its code, the answer returned to the sender; in order, once per update id,
//! the oldest replies dropped past `MAX_REPLIES`; typed errors when no answer comes; `TestRun`
//! gives the same replies.

mod support;

use std::time::Duration;

use support::{both_modes, builder, memory, within};
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;
use workflow_rt::update::{MAX_REPLIES, REPLY_PREFIX, reply_key};
use workflow_rt::{RuntimeError, UpdateError, WorkflowStatus};

const WAIT: Duration = Duration::from_secs(10);

/// A cart fed by updates: each adds its payload and is answered with the new total; 0 is
/// refused (an `Err` reply, nothing added).
#[workflow]
async fn cart(ctx: WorkflowCtx, items: u32) -> u64 {
    let mut total: u64 = 0;
    let mut n: u32 = 0;
    while n < items {
        let add: Update<u64> = ctx.signal("add").await;
        let reply: Result<u64, String> = if *add.payload() == 0 {
            Err("nothing to add".to_string())
        } else {
            total += *add.payload();
            Ok(total)
        };
        ctx.reply(&add, &reply).expect("a small reply");
        n += 1;
    }
    total
}

/// Takes an update and ends without replying.
#[workflow]
async fn silent(ctx: WorkflowCtx, _x: u32) -> u64 {
    let u: Update<u64> = ctx.signal("add").await;
    u.into_payload()
}

/// Waits for a signal it never gets (an update sent to it is never taken).
#[workflow]
async fn deaf(ctx: WorkflowCtx, _x: u32) -> u64 {
    ctx.signal::<u64>("other").await
}

/// What `ctx.publish` refuses (a reserved key), and a second reply to an update, which
/// changes nothing.
#[workflow]
async fn misuse(ctx: WorkflowCtx, _x: u32) -> Vec<String> {
    let u: Update<u64> = ctx.signal("add").await;
    let mut out = Vec::new();
    if let Err(e) = ctx.publish(&format!("{REPLY_PREFIX}forged"), &1) {
        out.push(format!("{e:?}").split(' ').next().unwrap_or("").to_string());
    }
    out.push(format!("replied before: {}", ctx.is_replied(&u)));
    ctx.reply(&u, &1u64).expect("first reply");
    out.push(format!("second reply: {:?}", ctx.reply(&u, &2u64)));
    out.push(format!("replied after: {}", ctx.is_replied(&u)));
    out
}

/// A cart that skips a request sent again under an id it answered (a retry that came before
/// the first request was answered reaches the code twice).
#[workflow]
async fn careful_cart(ctx: WorkflowCtx, items: u32) -> u64 {
    let mut total: u64 = 0;
    let mut n: u32 = 0;
    while n < items {
        let add: Update<u64> = ctx.signal("add").await;
        if !ctx.is_replied(&add) {
            total += *add.payload();
            ctx.reply(&add, &total).expect("a small reply");
        }
        n += 1;
    }
    total
}

fn runtime(
    mode: support::Mode,
    store: std::sync::Arc<workflow_rt::MemoryStore>,
    clock: workflow_rt::VirtualClock,
) -> workflow_rt::Builder {
    builder(mode, store, clock)
        .workflow(cart)
        .workflow(silent)
        .workflow(deaf)
        .workflow(misuse)
        .workflow(careful_cart)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_answered_in_order() {
    both_modes(async |mode| {
        let id = &mode.id("cart");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        let run = rt.start(cart, id, 3).await.expect("start");
        let client = rt.client();
        let mut replies = Vec::new();
        for add in [5u64, 0, 7] {
            let r: Result<u64, String> = client.update(id, "add", add, WAIT).await.expect("update");
            replies.push(r);
        }
        assert_eq!(
            replies,
            vec![Ok(5), Err("nothing to add".to_string()), Ok(12)]
        );
        assert_eq!(within("result", run.result()).await.expect("output"), 12);
        rt.shutdown().await;
        replies
    })
    .await;
}

/// A retry with the same update id gets the first reply, and the run's code does not see the
/// request again; sent as JSON (`{"id", "payload"}`), an update is answered as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_update_is_answered_once() {
    both_modes(async |mode| {
        let id = &mode.id("retried");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        rt.start(cart, id, 3).await.expect("start");
        let client = rt.client();
        let first: Result<u64, String> = client
            .update_with_id(id, "add", "u-1", 5u64, WAIT)
            .await
            .expect("update");
        let again: Result<u64, String> = client
            .update_with_id(id, "add", "u-1", 5u64, WAIT)
            .await
            .expect("retry");
        assert_eq!((first.clone(), again), (Ok(5), Ok(5)), "added once");
        client
            .signal_json(id, "add", &serde_json::json!({"id": "j-1", "payload": 4}))
            .await
            .expect("signal");
        let json: Option<serde_json::Value> = client
            .wait_published(id, &reply_key("j-1"), WAIT)
            .await
            .expect("wait");
        let json = json.expect("a reply");
        assert_eq!(json["reply"]["Ok"], 9, "{json}");
        let next: Result<u64, String> = client.update(id, "add", 1u64, WAIT).await.expect("update");
        assert_eq!(next, Ok(10));
        rt.shutdown().await;
        (first, next)
    })
    .await;
}

/// A run keeps the replies to its last `MAX_REPLIES` updates: the oldest go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_replies_are_dropped() {
    both_modes(async |mode| {
        let id = &mode.id("many");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        let updates = MAX_REPLIES as u32 + 4;
        let run = rt.start(cart, id, updates).await.expect("start");
        let client = rt.client();
        for i in 0..updates {
            let _: Result<u64, String> = client
                .update_with_id(id, "add", &format!("u-{i}"), 1u64, WAIT)
                .await
                .expect("update");
        }
        assert_eq!(
            within("result", run.result()).await.expect("output"),
            u64::from(updates)
        );
        let kept: Vec<String> = client
            .published_values(id)
            .await
            .expect("values")
            .into_keys()
            .filter(|k| k.starts_with(REPLY_PREFIX))
            .collect();
        assert_eq!(kept.len(), MAX_REPLIES);
        for i in 0..4 {
            assert!(!kept.contains(&reply_key(&format!("u-{i}"))), "{kept:?}");
        }
        assert!(kept.contains(&reply_key(&format!("u-{}", updates - 1))));
        rt.shutdown().await;
        kept
    })
    .await;
}

/// No reply: the run ended without one (`NoReply`), or never takes the request within the
/// timeout (`TimedOut`); a request that cannot be sent is the runtime's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_without_a_reply_is_a_typed_error() {
    both_modes(async |mode| {
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        let client = rt.client();
        let (quiet, never) = (mode.id("quiet"), mode.id("never"));
        rt.start(silent, &quiet, 0).await.expect("start");
        let out = client.update::<u64, u64>(&quiet, "add", 1, WAIT).await;
        assert!(
            matches!(
                &out,
                Err(UpdateError::NoReply {
                    status: WorkflowStatus::Completed,
                    ..
                })
            ),
            "{out:?}"
        );
        rt.start(deaf, &never, 0).await.expect("start");
        let out = client
            .update::<u64, u64>(&never, "add", 1, Duration::from_millis(50))
            .await;
        assert!(matches!(&out, Err(UpdateError::TimedOut { .. })), "{out:?}");
        let out = client.update::<u64, u64>("nobody", "add", 1, WAIT).await;
        assert!(
            matches!(
                &out,
                Err(UpdateError::Runtime(RuntimeError::UnknownWorkflow(_)))
            ),
            "{out:?}"
        );
        let long = "x".repeat(200);
        let out = client
            .update_with_id::<u64, u64>(&never, "add", &long, 1, WAIT)
            .await;
        assert!(
            matches!(
                &out,
                Err(UpdateError::Runtime(RuntimeError::BadName { .. }))
            ),
            "{out:?}"
        );
        rt.shutdown().await;
    })
    .await;
}

/// `TestRun` answers as the runtime does: an update sent as a signal, its reply in the
/// outcome; a reserved key and a second reply are refused.
#[test]
fn a_test_run_replies_as_the_runtime_does() {
    for every_await in [false, true] {
        let out = TestRun::new(cart, "t-cart", 2)
            .snapshot_every_await(every_await)
            .signal("add", Update::new("a", 3u64))
            .signal("add", Update::new("b", 0u64))
            .run()
            .expect("run");
        assert_eq!(out.output, 3);
        assert_eq!(out.reply::<Result<u64, String>>("a"), Some(Ok(3)));
        assert_eq!(
            out.reply::<Result<u64, String>>("b"),
            Some(Err("nothing to add".to_string()))
        );
        assert_eq!(out.reply::<Result<u64, String>>("c"), None);
        let out = TestRun::new(misuse, "t-misuse", 0)
            .snapshot_every_await(every_await)
            .signal("add", Update::new("m", 1u64))
            .run()
            .expect("run");
        assert_eq!(
            out.output,
            vec![
                "ReservedKey".to_string(),
                "replied before: false".to_string(),
                "second reply: Ok(())".to_string(),
                "replied after: true".to_string(),
            ]
        );
        assert_eq!(out.reply::<u64>("m"), Some(1), "the first reply stands");
        // A request sent twice under one id before it was answered: done once.
        let out = TestRun::new(careful_cart, "t-careful", 3)
            .snapshot_every_await(every_await)
            .signal("add", Update::new("x", 3u64))
            .signal("add", Update::new("x", 3u64))
            .signal("add", Update::new("y", 4u64))
            .run()
            .expect("run");
        assert_eq!(out.output, 7);
        assert_eq!(out.reply::<u64>("x"), Some(3));
        assert_eq!(out.reply::<u64>("y"), Some(7));
    }
}
