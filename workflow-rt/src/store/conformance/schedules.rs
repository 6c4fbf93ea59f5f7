//! The promises of a store's schedules: rows kept as given, a name taken once, changes by
//! compare-and-set (one of two racing changes from one version wins), and the due list.

use std::time::Duration;

use crate::schedule::{Overlap, ScheduleSpec};
use crate::store::{ScheduleRecord, Store, StoreError};

fn schedule(name: &str, workflow: &str, next_fire_ms: Option<u64>) -> ScheduleRecord {
    ScheduleRecord {
        name: name.into(),
        workflow: workflow.into(),
        workflow_version: None,
        note: None,
        input: vec![7, 0, 255],
        spec: ScheduleSpec::every(Duration::from_secs(10)).anchored_at_ms(1_000),
        overlap: Overlap::Skip,
        catch_up_ms: 60_000,
        run_timeout_ms: None,
        paused: false,
        cursor_ms: 1_000,
        next_fire_ms,
        buffered_ms: None,
        starting: vec![],
        last_run_id: None,
        started: 0,
        skipped: 0,
        missed: 0,
        version: 1,
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
    }
}

fn names(v: &[ScheduleRecord]) -> Vec<&str> {
    v.iter().map(|s| s.name.as_str()).collect()
}

/// Created as given, read back field for field (a cron spec in a zone, an interval with its
/// anchor, every optional field set and unset), listed by name; a name is taken once.
pub(super) async fn schedules_are_stored<S: Store>(s: &S) {
    let plain = schedule("b-every", "wf", Some(11_000));
    let mut full = schedule("a-cron", "wf", Some(1_796_263_200_000));
    full.spec = ScheduleSpec::cron("0 2 * * MON-FRI").in_zone("Europe/Paris");
    full.overlap = Overlap::BufferOne;
    full.catch_up_ms = 3_600_000;
    full.paused = true;
    full.buffered_ms = Some(900);
    full.starting = vec![100, 200, 300];
    full.last_run_id = Some("a-cron@1970-01-01T00:00:00.300Z".into());
    full.started = 3;
    full.skipped = 4;
    full.missed = 5;
    full.version = 9;
    full.updated_at_ms = 2_000;
    full.workflow_version = Some(3);
    full.note = Some("paused: the run of a fire time could not be made".into());
    full.run_timeout_ms = Some(86_400_000);
    s.create_schedule(plain.clone()).await.expect("create");
    s.create_schedule(full.clone()).await.expect("create");
    assert_eq!(s.load_schedule("b-every").await.expect("load"), plain);
    assert_eq!(s.load_schedule("a-cron").await.expect("load"), full);
    assert_eq!(
        s.list_schedules().await.expect("list"),
        vec![full.clone(), plain.clone()],
        "listed by name"
    );
    let mut other = schedule("a-cron", "other", None);
    other.input = vec![1];
    assert_eq!(
        s.create_schedule(other).await,
        Err(StoreError::ScheduleExists("a-cron".into()))
    );
    assert_eq!(
        s.load_schedule("a-cron").await.expect("load"),
        full,
        "a refused create changes nothing"
    );
    assert_eq!(
        s.load_schedule("nope").await,
        Err(StoreError::ScheduleNotFound("nope".into()))
    );
}

/// A change goes through only from the stored version, and bumps it; a stale one changes
/// nothing; of two changes from one version, exactly one wins.
pub(super) async fn schedules_change_by_compare_and_set<S: Store>(s: &S) {
    let first = schedule("s", "wf", Some(11_000));
    s.create_schedule(first.clone()).await.expect("create");
    let mut moved = first.clone();
    moved.cursor_ms = 11_000;
    moved.next_fire_ms = Some(21_000);
    moved.starting = vec![11_000];
    moved.last_run_id = Some("s@x".into());
    moved.started = 1;
    moved.paused = true;
    moved.note = Some("why it is paused".into());
    moved.run_timeout_ms = Some(30_000);
    assert_eq!(s.update_schedule(moved.clone()).await, Ok(2));
    let stored = s.load_schedule("s").await.expect("load");
    assert_eq!(
        stored,
        ScheduleRecord {
            version: 2,
            ..moved.clone()
        }
    );
    // From version 1 again: refused.
    let mut stale = first.clone();
    stale.paused = true;
    assert_eq!(
        s.update_schedule(stale).await,
        Err(StoreError::ScheduleConflict {
            name: "s".into(),
            expected: 1
        })
    );
    assert_eq!(s.load_schedule("s").await.expect("load"), stored);
    // Two changes from version 2: one wins.
    let mut a = stored.clone();
    a.cursor_ms = 21_000;
    a.starting = vec![21_000];
    a.run_timeout_ms = None;
    let mut b = stored.clone();
    b.paused = true;
    let (ra, rb) = tokio::join!(s.update_schedule(a.clone()), s.update_schedule(b.clone()));
    let after = s.load_schedule("s").await.expect("load");
    match (ra, rb) {
        (Ok(3), Err(StoreError::ScheduleConflict { .. })) => {
            assert_eq!(after, ScheduleRecord { version: 3, ..a })
        }
        (Err(StoreError::ScheduleConflict { .. }), Ok(3)) => {
            assert_eq!(after, ScheduleRecord { version: 3, ..b })
        }
        other => panic!("exactly one of two changes from one version must win: {other:?}"),
    }
    // Gone: not found, for a change and a delete alike.
    s.delete_schedule("s").await.expect("delete");
    assert_eq!(
        s.update_schedule(after).await,
        Err(StoreError::ScheduleNotFound("s".into()))
    );
    assert_eq!(
        s.delete_schedule("s").await,
        Err(StoreError::ScheduleNotFound("s".into()))
    );
    assert!(s.list_schedules().await.expect("list").is_empty());
}

/// Due: of the workflows asked about, with runs being started (paused or not), or not paused
/// with a fire time due or a buffered one; the earliest first, up to the limit. The next due time skips paused
/// schedules and other workflows.
pub(super) async fn due_schedules<S: Store>(s: &S) {
    let wf = ["wf".to_string()];
    let none: [String; 0] = [];
    assert_eq!(s.next_schedule_due(&wf).await, Ok(None));
    let mut paused = schedule("paused", "wf", Some(50));
    paused.paused = true;
    let mut buffered = schedule("buffered", "wf", Some(5_000));
    buffered.buffered_ms = Some(40);
    let mut starting = schedule("starting", "wf", Some(6_000));
    starting.starting = vec![30];
    // Paused with runs being started: still due, for them.
    let mut paused_starting = schedule("paused-starting", "wf", Some(7_000));
    paused_starting.paused = true;
    paused_starting.starting = vec![20];
    let mut paused_buffered = schedule("paused-buffered", "wf", Some(8_000));
    paused_buffered.paused = true;
    paused_buffered.buffered_ms = Some(20);
    for sch in [
        schedule("late", "wf", Some(300)),
        schedule("early", "wf", Some(100)),
        schedule("future", "wf", Some(2_000)),
        schedule("never", "wf", None),
        schedule("other", "other-wf", Some(10)),
        paused,
        buffered,
        starting,
        paused_starting,
        paused_buffered,
    ] {
        s.create_schedule(sch).await.expect("create");
    }
    let due = s.due_schedules(&wf, 1_000, 100).await.expect("due");
    assert_eq!(
        names(&due),
        ["early", "late", "buffered", "starting", "paused-starting"]
    );
    let due = s.due_schedules(&wf, 1_000, 1).await.expect("due");
    assert_eq!(names(&due), ["early"]);
    let due = s.due_schedules(&wf, 2_000, 100).await.expect("due");
    assert_eq!(
        names(&due),
        [
            "early",
            "late",
            "future",
            "buffered",
            "starting",
            "paused-starting"
        ]
    );
    assert!(
        s.due_schedules(&none, 2_000, 100)
            .await
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        names(
            &s.due_schedules(&["other-wf".to_string()], 2_000, 100)
                .await
                .expect("due")
        ),
        ["other"]
    );
    assert_eq!(s.next_schedule_due(&wf).await, Ok(Some(100)));
    assert_eq!(
        s.next_schedule_due(&["other-wf".to_string()]).await,
        Ok(Some(10))
    );
    assert_eq!(s.next_schedule_due(&none).await, Ok(None));
}
