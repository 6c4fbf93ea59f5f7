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

/// The typed name of `cart`'s updates: the compiler checks the payload's type.
const ADD: Signal<Update<u64>> = Signal::new("add");

/// Waits for "go", then answers one update with its payload doubled.
#[workflow]
async fn late(ctx: WorkflowCtx, _x: u32) -> u64 {
    let _go: u64 = ctx.signal("go").await;
    let u: Update<u64> = ctx.signal("add").await;
    let doubled = *u.payload() * 2;
    let _ = ctx.reply(&u, &doubled);
    doubled
}

/// Answers each update with a string of the size it asks for; `size` 0 ends the run.
#[workflow]
async fn big(ctx: WorkflowCtx, _x: u32) -> Vec<String> {
    let mut refused = Vec::new();
    loop {
        let u: Update<u32> = ctx.signal("size").await;
        if *u.payload() == 0 {
            return refused;
        }
        if let Err(e) = ctx.reply(&u, &"x".repeat(*u.payload() as usize)) {
            refused.push(format!("{e:?}").split(' ').next().unwrap_or("").to_string());
        }
    }
}

/// Answers one update, then continues as new, `left` times.
#[workflow]
async fn rolling(ctx: WorkflowCtx, left: u32) -> u32 {
    let u: Update<u32> = ctx.signal("add").await;
    let _ = ctx.reply(&u, &(*u.payload() + left));
    if left > 0 {
        ctx.continue_as_new(rolling, left - 1);
    }
    left
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
        .workflow(late)
        .workflow(big)
        .workflow(rolling)
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

/// A call that timed out leaves its request with the run: `wait_update` gets the reply once
/// the run takes it, without sending it again; a typed const sends the type the wait names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_update_is_answered_later() {
    both_modes(async |mode| {
        let id = &mode.id("late");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        rt.start(late, id, 0).await.expect("start");
        let client = rt.client();
        let out = client
            .update::<u64, u64>(id, ADD, 21, Duration::from_millis(50))
            .await;
        let Err(UpdateError::TimedOut { update_id, .. }) = out else {
            panic!("{out:?}")
        };
        rt.signal(id, "go", 1u64).await.expect("signal");
        let reply: u64 = client
            .wait_update(id, &update_id, WAIT)
            .await
            .expect("reply");
        assert_eq!(reply, 42);
        let wrong = client.wait_update::<String>(id, &update_id, WAIT).await;
        assert!(
            matches!(&wrong, Err(UpdateError::Decode { .. })),
            "{wrong:?}"
        );
        let finished = client.update::<u64, u64>(id, ADD, 1, WAIT).await;
        assert!(
            matches!(
                &finished,
                Err(UpdateError::Runtime(RuntimeError::Finished { .. }))
            ),
            "{finished:?}"
        );
        rt.shutdown().await;
        reply
    })
    .await;
}

/// Replies share the run's 64 KiB of published values: older replies go to make room for a
/// new one; one that does not fit even alone is refused, and the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_replies_make_room_for_a_new_one() {
    both_modes(async |mode| {
        let id = &mode.id("big");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        let run = rt.start(big, id, 0).await.expect("start");
        let client = rt.client();
        for (u, size) in [("a", 30_000u32), ("b", 30_000), ("c", 30_000)] {
            let reply: String = client
                .update_with_id(id, "size", u, size, WAIT)
                .await
                .expect("reply");
            assert_eq!(reply.len(), size as usize);
        }
        let kept: Vec<String> = client
            .published_values(id)
            .await
            .expect("values")
            .into_keys()
            .collect();
        assert_eq!(
            kept,
            vec![reply_key("b"), reply_key("c")],
            "a made room for c"
        );
        let refused = client
            .update::<u32, String>(id, "size", 70_000, Duration::from_millis(50))
            .await;
        assert!(
            matches!(&refused, Err(UpdateError::TimedOut { .. })),
            "{refused:?}"
        );
        let _ = client
            .update::<u32, String>(id, "size", 0, Duration::from_millis(50))
            .await;
        let out = within("result", run.result()).await.expect("output");
        assert_eq!(out, vec!["TooLarge".to_string()]);
        rt.shutdown().await;
        (kept, out)
    })
    .await;
}

/// A continue-as-new keeps the run's replies, and numbers the next after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continued_run_keeps_its_replies() {
    both_modes(async |mode| {
        let id = &mode.id("rolling");
        let (store, clock) = memory();
        let rt = runtime(mode, store, clock).build().await.expect("build");
        let run = rt.start(rolling, id, 2).await.expect("start");
        let client = rt.client();
        let mut replies = Vec::new();
        for u in ["r0", "r1", "r2"] {
            let reply: u32 = client
                .update_with_id(id, "add", u, 10u32, WAIT)
                .await
                .expect("reply");
            replies.push(reply);
        }
        assert_eq!(within("result", run.result()).await.expect("output"), 0);
        let values = client.published_values(id).await.expect("values");
        let numbers: Vec<u64> = ["r0", "r1", "r2"]
            .iter()
            .map(|u| values[&reply_key(u)]["n"].as_u64().expect("n"))
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(replies, vec![12, 11, 10]);
        rt.shutdown().await;
        (replies, numbers)
    })
    .await;
}

/// Another process sends an update to a run on a SQLite file while no worker runs; a worker
/// started later answers it, and the sender's call returns the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_waits_for_a_worker_of_another_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("wf.db");
    let client =
        workflow_rt::Client::new(workflow_rt::SqliteStore::open(&db).expect("open")).workflow(cart);
    client.start(cart, "sqlite-cart", 2).await.expect("start");
    let sender = tokio::spawn(async move {
        client
            .update::<u64, Result<u64, String>>("sqlite-cart", ADD, 5, WAIT)
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rt = Runtime::builder(workflow_rt::SqliteStore::open(&db).expect("open"))
        .workflow(cart)
        .build()
        .await
        .expect("build");
    let reply = within("reply", sender).await.expect("task").expect("reply");
    assert_eq!(reply, Ok(5));
    rt.shutdown().await;
}
