//! Property tests of every decoder of stored or received bytes: the snapshot envelope, the
//! state enum inside it, the wait (`Pending`) and what resolves it (`Resolution`), signal
//! payloads and activity results as the generated code decodes them, the values a store keeps
//! in its rows (activity options and results, the context), and the rows of a SQLite file
//! themselves. Each gets arbitrary bytes and valid encodings (taken from a real workflow run)
//! with random mutations: bit flips, overwritten, inserted and deleted bytes, truncation, and
//! huge varint lengths. A decoder must never panic, never allocate more than its input
//! warrants, and give a typed error or a value that encodes back consistently.
//!
//! `cargo test --test decoder_fuzz` runs a few hundred cases per property (a few seconds);
//! `WORKFLOW_FUZZ_CASES=100000 cargo test --release --test decoder_fuzz` runs that many for
//! each. A failure prints the minimal input proptest shrank it to.

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use workflow_rt::machine::{
    CtxState, MAX_WAIT_DEPTH, Pending, Resolution, Snapshot, SnapshotError, Step, resume,
};
use workflow_rt::prelude::*;
use workflow_rt::store::{RunQuery, Store, WorkflowStatus};
use workflow_rt::testing::{self, TestError, TestRun};
use workflow_rt::{ActivityOptions, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Mood {
    Calm,
    Busy(u32),
    Named { name: String, tags: Vec<String> },
}

#[activity]
async fn fetch(_ctx: ActivityCtx, key: String) -> Result<Vec<String>, ActivityError> {
    Ok(vec![key.clone(), format!("{key}!")])
}

/// Several awaits of each kind, with Strings, Vecs, enums and options kept across them.
#[workflow]
async fn rich(ctx: WorkflowCtx, name: String) -> Result<String, WorkflowError> {
    let mut log: Vec<String> = vec![name.clone()];
    let first = ctx.activity(fetch, name.clone()).await?;
    log.extend(first);
    let mood: Mood = ctx.signal("mood").await;
    ctx.sleep(Duration::from_secs(60)).await;
    let (more, n) = ctx
        .join((
            ctx.activity(fetch, format!("{name}-2")),
            ctx.signal::<u64>("n"),
        ))
        .await;
    log.extend(more?);
    let late = match ctx
        .select((
            ctx.signal::<Option<Mood>>("late"),
            ctx.sleep(Duration::from_secs(5)),
        ))
        .await
    {
        Select2::First(m) => m,
        Select2::Second(()) => None,
    };
    Ok(format!("{log:?} {mood:?} {n} {late:?}"))
}

/// How many cases each property runs: `WORKFLOW_FUZZ_CASES` if set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("WORKFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a real run of `rich` produced: every snapshot, wait and resolution, encoded.
struct Corpus {
    snapshots: Vec<testing::Snapshot>,
    pendings: Vec<Pending>,
    resolutions: Vec<Resolution>,
}

fn run_rich() -> TestRun<rich> {
    TestRun::new(rich, "fuzz", "ada".to_string())
        .with_activity(fetch)
        .signal(
            "mood",
            Mood::Named {
                name: "glad".into(),
                tags: vec!["a".into(), "bc".into()],
            },
        )
        .signal("n", 7u64)
        .signal("late", Some(Mood::Busy(3)))
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let run = run_rich()
            .record_snapshots(true)
            .snapshot_every_await(true)
            .run()
            .expect("the corpus run");
        assert!(run.output.is_ok(), "{:?}", run.output);
        assert!(run.snapshots.len() >= 6, "one per await");
        Corpus {
            snapshots: run.snapshots,
            pendings: run.commands,
            resolutions: run.resolutions,
        }
    })
}

/// The encodings the mutations start from.
fn valid_payloads() -> Vec<Vec<u8>> {
    let enc = |v: &dyn erased::Enc| v.enc();
    vec![
        enc(&Mood::Calm),
        enc(&Mood::Busy(u32::MAX)),
        enc(&Mood::Named {
            name: "someone".into(),
            tags: vec!["x".into(), String::new(), "yz".into()],
        }),
        enc(&Some(Mood::Busy(1))),
        enc(&None::<Mood>),
        enc(&7u64),
        enc(&u64::MAX),
        enc(&vec!["one".to_string(), "two".to_string()]),
        enc(&"a string".to_string()),
    ]
}

/// Encoding values of several types through one function.
mod erased {
    pub(super) trait Enc {
        fn enc(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Enc for T {
        fn enc(&self) -> Vec<u8> {
            postcard::to_stdvec(self).expect("encode")
        }
    }
}

/// A change to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    /// Overwrites the bytes at `at` with a varint of a huge length.
    HugeLength {
        at: usize,
        varint: Vec<u8>,
    },
}

/// Varints of lengths no input of these sizes can hold.
fn huge_varint() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0xff, 0xff, 0xff, 0xff, 0x0f]), // u32::MAX
        Just(vec![0xff, 0xff, 0xff, 0xff, 0x07]), // i32::MAX
        Just(vec![0xff; 9].into_iter().chain([0x01]).collect()), // u64::MAX
        Just(vec![
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01
        ]), // too long
        Just(vec![0x80, 0x80, 0x80, 0x80, 0x08]), // 2^31
        Just(vec![0x80, 0x80, 0x40]),             // 1 MiB
        Just(vec![0x80, 0x00]),                   // an overlong zero
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (
            at,
            prop_oneof![proptest::collection::vec(any::<u8>(), 1..8), huge_varint()]
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (at, 1usize..8).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (at, huge_varint()).prop_map(|(at, varint)| Mutation::HugeLength { at, varint }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let pos = |at: usize, len: usize| if len == 0 { 0 } else { at % len };
    match m {
        Mutation::Flip { at, bit } => {
            if !bytes.is_empty() {
                let i = pos(*at, bytes.len());
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::Set { at, byte } => {
            if !bytes.is_empty() {
                let i = pos(*at, bytes.len());
                bytes[i] = *byte;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(pos(*at, bytes.len() + 1)),
        Mutation::Insert { at, bytes: b } => {
            let i = pos(*at, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let i = pos(*at, bytes.len() + 1);
            let end = (i + len).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::HugeLength { at, varint } => {
            let i = pos(*at, bytes.len() + 1);
            let end = (i + varint.len()).min(bytes.len());
            bytes.splice(i..end, varint.iter().copied());
        }
    }
}

/// Bytes to decode: arbitrary ones, or one of `valid` (by index) with a few mutations.
fn input(valid: fn() -> Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid().len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        4 => (0..n, proptest::collection::vec(mutation(), 1..5)).prop_map(move |(i, ms)| {
            let mut bytes = valid()[i].clone();
            for m in &ms {
                apply(&mut bytes, m);
            }
            bytes
        }),
    ]
}

fn envelopes() -> Vec<Vec<u8>> {
    corpus()
        .snapshots
        .iter()
        .map(|s| s.envelope.clone())
        .collect()
}

fn pendings() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = corpus().pendings.iter().map(|p| p.enc()).collect();
    // A join nested in a select, nested in a join: the decoder's recursion.
    let leaf = |seq| Pending::Timer { seq, fire_at: 1 };
    out.push(
        Pending::Join(vec![
            Pending::Select(vec![leaf(1), Pending::Join(vec![leaf(2), leaf(3)])]),
            leaf(4),
        ])
        .enc(),
    );
    out
}

fn resolutions() -> Vec<Vec<u8>> {
    corpus().resolutions.iter().map(|r| r.enc()).collect()
}

fn stored_values() -> Vec<Vec<u8>> {
    let options = ActivityOptions::default();
    let done: Result<Vec<u8>, ActivityError> = Ok(vec![1, 2, 3]);
    let failed: Result<Vec<u8>, ActivityError> = Err(ActivityError::non_retryable("no"));
    vec![
        options.enc(),
        done.enc(),
        failed.enc(),
        CtxState::new(1_700_000_000_000, 42, 7).enc(),
    ]
}

use erased::Enc as _;

/// Options whose backoff coefficient is not a number (bytes that decode to NaN, as the fuzzing
/// below found) decode consistently: the check compares encodings, since NaN equals nothing.
#[test]
fn a_float_that_decodes_to_nan_is_consistent() {
    let mut options = ActivityOptions::default();
    options.retry.backoff_coefficient = f64::NAN;
    consistent::<ActivityOptions>(&options.enc()).expect("consistent");
}

/// `decode` may fail or succeed; if it succeeds, the value's encoding decodes to a value that
/// encodes to the same bytes, and is no longer than the input (no decoder makes up bytes).
/// Compared as bytes, not as values: a float field may decode to NaN, which equals nothing.
fn consistent<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if let Ok(value) = postcard::from_bytes::<T>(bytes) {
        let again = postcard::to_stdvec(&value).expect("a decoded value encodes");
        prop_assert!(again.len() <= bytes.len(), "{value:?}");
        let back = postcard::from_bytes::<T>(&again);
        prop_assert!(
            back.is_ok(),
            "{value:?} does not decode from its own encoding"
        );
        let back = back.expect("checked");
        prop_assert_eq!(postcard::to_stdvec(&back).expect("encodes"), again);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// The snapshot envelope (`Snapshot::decode`, what every load of a workflow does first).
    #[test]
    fn the_envelope_decodes_or_is_refused(bytes in input(envelopes)) {
        match Snapshot::decode(&bytes) {
            Ok(s) => {
                let again = s.to_bytes();
                prop_assert!(again.len() <= bytes.len());
                prop_assert_eq!(Snapshot::decode(&again), Ok(s));
            }
            Err(SnapshotError::Corrupt(_) | SnapshotError::UnsupportedFormat { .. }) => {}
            Err(e) => prop_assert!(false, "not a decoding error: {e}"),
        }
    }

    /// The whole restore (`step::restore` through `testing::Snapshot::decode`): envelope,
    /// workflow name, fingerprint, version, then the state enum with no byte left over. A
    /// state that decodes encodes back to bytes that decode to the same encoding.
    #[test]
    fn a_snapshot_restores_or_is_refused(bytes in input(envelopes)) {
        let snapshot = testing::Snapshot {
            step: 1,
            at: std::time::UNIX_EPOCH,
            state: Vec::new(),
            ctx: Vec::new(),
            envelope: bytes,
        };
        match snapshot.decode(rich) {
            Ok((state, _ctx)) => {
                let once = postcard::to_stdvec(&state).expect("encode");
                let back: <rich as Workflow>::State = postcard::from_bytes(&once).expect("decode");
                prop_assert_eq!(postcard::to_stdvec(&back).expect("encode"), once);
            }
            Err(TestError::Decode { .. }) => {}
            Err(e) => prop_assert!(false, "not a decoding error: {e}"),
        }
    }

    /// The stored wait, decoded at every load of a waiting workflow.
    #[test]
    fn a_wait_decodes_or_is_refused(bytes in input(pendings)) {
        consistent::<Pending>(&bytes)?;
    }

    /// A resolution (the test driver's round trip; the runtime builds them in memory).
    #[test]
    fn a_resolution_decodes_or_is_refused(bytes in input(resolutions)) {
        consistent::<Resolution>(&bytes)?;
    }

    /// What the stores keep in their rows as postcard: activity options (task rows), activity
    /// results (event rows), the context (inside every snapshot).
    #[test]
    fn stored_values_decode_or_are_refused(bytes in input(stored_values)) {
        consistent::<ActivityOptions>(&bytes)?;
        consistent::<Result<Vec<u8>, ActivityError>>(&bytes)?;
        consistent::<CtxState>(&bytes)?;
    }
}

/// A payload for the generated code to decode: arbitrary, or a mutated valid one.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    input(valid_payloads)
}

/// A resolution carrying `payload` in any shape the awaits of `rich` could meet.
fn wake() -> impl Strategy<Value = Resolution> {
    let leaf = payload().prop_flat_map(|p| {
        prop_oneof![
            Just(Resolution::Activity(Ok(p.clone()))),
            (any::<u64>(), any::<Option<u64>>()).prop_map(move |(event, type_tag)| {
                Resolution::Signal {
                    event,
                    payload: p.clone(),
                    type_tag,
                }
            }),
            Just(Resolution::Timer),
            Just(Resolution::Activity(Err(ActivityError::retryable("x")))),
        ]
    });
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Resolution::Join),
            (any::<u32>(), inner).prop_map(|(i, r)| Resolution::Select(i, Box::new(r))),
        ]
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// Signal payloads and activity results, decoded by the generated code at every await of
    /// a real workflow (`machine::resume`, which is what a step runs): a step fails with a
    /// typed `ResumeError` or goes on, and never panics.
    #[test]
    fn payloads_at_every_await_decode_or_fail_the_step(at in 0usize..8, wake in wake()) {
        let snapshots = &corpus().snapshots;
        let (mut state, mut ctx) = snapshots[at % snapshots.len()].decode(rich).expect("valid");
        match resume::<rich>("fuzz", &mut ctx, &mut state, Some(wake)) {
            Step::Suspended(_) | Step::Completed(_) | Step::Failed(_) => {}
        }
    }

    /// A damaged state that still decodes is resumed with what its original wait resolved
    /// to: the run goes on or ends in a typed error, never a panic of the generated code.
    #[test]
    fn a_damaged_state_that_decodes_resumes_or_fails(
        at in 1usize..8,
        ms in proptest::collection::vec(mutation(), 1..4),
    ) {
        let c = corpus();
        let i = 1 + (at - 1) % (c.snapshots.len() - 1);
        let mut bytes = c.snapshots[i].envelope.clone();
        for m in &ms {
            apply(&mut bytes, m);
        }
        let Ok(snapshot) = Snapshot::decode(&bytes) else { return Ok(()) };
        if snapshot.decode_state::<<rich as Workflow>::State>().is_err() {
            return Ok(());
        }
        let pending = c.pendings.get(i - 1).cloned();
        let out = TestRun::resume_from(rich, "fuzz", snapshot, pending)
            .with_activity(fetch)
            .signal("mood", Mood::Calm)
            .signal("n", 1u64)
            .signal("late", None::<Mood>)
            .max_steps(50)
            .run();
        if let Err(TestError::Panicked { message, .. }) = &out {
            prop_assert!(false, "a step panicked: {message}");
        }
    }
}

/// Records the largest allocation made on each thread, for
/// [`a_huge_length_prefix_allocates_nothing_like_it`].
mod tracking {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local!(pub(super) static LARGEST: Cell<usize> = const { Cell::new(0) });

    pub(super) struct Tracking;

    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(new)));
            unsafe { System.realloc(ptr, layout, new) }
        }
    }
}

// For this test binary only; the other tests pay a thread-local store per allocation.
#[global_allocator]
static ALLOC: tracking::Tracking = tracking::Tracking;

/// `n` nested `Join`s (or `Select`s) around a timer, encoded: two bytes a level.
fn nested_wait(levels: usize, select: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(levels * 2 + 3);
    for _ in 0..levels {
        out.extend([if select { 4 } else { 3 }, 1]);
    }
    out.extend(Pending::Timer { seq: 0, fire_at: 0 }.enc());
    out
}

/// Regression: a wait of `Join`s nested a few hundred thousand deep (a few hundred kilobytes)
/// overflowed the decoder's stack, which aborts the whole process (a stored wait is decoded at
/// every load of its workflow). Nesting is now bounded by `MAX_WAIT_DEPTH`.
#[test]
fn a_deeply_nested_wait_is_refused_not_a_stack_overflow() {
    let depth = MAX_WAIT_DEPTH as usize;
    for select in [false, true] {
        let ok = postcard::from_bytes::<Pending>(&nested_wait(depth, select));
        assert!(ok.is_ok(), "{depth} levels are fine: {ok:?}");
        let e = postcard::from_bytes::<Pending>(&nested_wait(depth + 1, select)).unwrap_err();
        assert!(matches!(e, postcard::Error::SerdeDeCustom), "{e:?}");
        // Run on a small stack, as a worker thread might be.
        let deep = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || postcard::from_bytes::<Pending>(&nested_wait(300_000, select)).is_err())
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(deep);
    }
    // The depth is counted per decode: a refused one leaves nothing behind.
    assert!(postcard::from_bytes::<Pending>(&nested_wait(depth, false)).is_ok());
    // And the same for resolutions (joins, and selects through their box).
    let mut res = Vec::new();
    for _ in 0..300_000 {
        res.extend([4, 0]); // Select(0, ..)
    }
    res.push(1); // Timer
    let deep = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || postcard::from_bytes::<Resolution>(&res).is_err())
        .expect("spawn")
        .join()
        .expect("no stack overflow");
    assert!(deep);
}

/// A short input announcing a huge length must not make the decoder reserve that much: serde
/// caps what it reserves from a length prefix, and postcard checks a string's or a byte
/// string's length against what is left. Checked where it would hurt most, on each decoder
/// with a Vec or a String first, with an allocation budget.
#[test]
fn a_huge_length_prefix_allocates_nothing_like_it() {
    use tracking::LARGEST;
    let largest = |f: &dyn Fn()| {
        LARGEST.with(|l| l.set(0));
        f();
        LARGEST.with(|l| l.get())
    };
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a wait's join",
            [vec![3], huge.to_vec(), vec![2, 0, 0]].concat(),
        ),
        (
            "an activity's input",
            [vec![0, 0, 1, b'a'], huge.to_vec(), vec![1]].concat(),
        ),
        (
            "an activity result",
            [vec![0], huge.to_vec(), vec![1, 2]].concat(),
        ),
        (
            "a snapshot's state",
            [vec![1, 4, b'r', b'i', b'c', b'h'], huge.to_vec()].concat(),
        ),
    ];
    for (what, bytes) in &cases {
        let used = largest(&|| {
            let _ = postcard::from_bytes::<Pending>(bytes);
            let _ = postcard::from_bytes::<Result<Vec<u8>, ActivityError>>(bytes);
            let _ = postcard::from_bytes::<Vec<String>>(bytes);
            let _ = postcard::from_bytes::<Mood>(bytes);
            let _ = Snapshot::decode(bytes).map(|s| s.decode_state::<<rich as Workflow>::State>());
        });
        // serde reserves at most 1 MiB from a length it cannot trust.
        assert!(
            used <= 1 << 20,
            "{what}: a {}-byte input reserved {used} bytes",
            bytes.len()
        );
    }
}

/// The columns of a SQLite store's rows, with garbage written into them behind its back:
/// every read gives a typed error (`Corrupt`, or `NotFound` for a row whose id changed), or
/// skips the row in a list, and never panics.
#[derive(Debug, Clone)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(ToSqlOutput::Owned(match self {
            Value::Null => V::Null,
            Value::Int(i) => V::Integer(*i),
            Value::Real(r) => V::Real(*r),
            Value::Text(t) => V::Text(t.clone()),
            Value::Blob(b) => V::Blob(b.clone()),
        }))
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            Just(0),
            Just(3),
            Just(99),
            Just(i64::MAX),
            any::<i64>()
        ]
        .prop_map(Value::Int),
        any::<f64>().prop_map(Value::Real),
        ".{0,12}".prop_map(Value::Text),
        input(valid_payloads).prop_map(Value::Blob),
        input(stored_values).prop_map(Value::Blob),
        input(pendings).prop_map(Value::Blob),
        input(envelopes).prop_map(Value::Blob),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Blob),
    ]
}

/// Each table, the key that picks one of its rows, and its columns.
const COLUMNS: &[(&str, &str, &[&str])] = &[
    (
        "workflows",
        "rowid",
        &[
            "id",
            "name",
            "status",
            "input",
            "snapshot",
            "version",
            "pending",
            "output",
            "park_reason",
            "created_at",
            "updated_at",
            "ready",
            "history_len",
            "parent_id",
            "parent_seq",
        ],
    ),
    (
        "tasks",
        "(rid, seq)",
        &[
            "rid",
            "seq",
            "name",
            "input",
            "options",
            "attempt",
            "scheduled_at",
            "visible_at",
            "lease_owner",
            "lease_until",
            "heartbeat",
            "deadline",
            "scheduled_version",
        ],
    ),
    ("timers", "(rid, seq)", &["rid", "seq", "fire_at"]),
    (
        "events",
        "id",
        &["rid", "at", "kind", "seq", "name", "payload"],
    ),
    (
        "history",
        "(workflow_id, n)",
        &["workflow_id", "n", "at", "kind", "detail"],
    ),
    (
        "history_log",
        "seq",
        &["workflow_id", "n", "at", "kind", "detail"],
    ),
    (
        "history_moved",
        "(segment, workflow_id, n)",
        &["segment", "workflow_id", "n", "at", "kind", "detail"],
    ),
    (
        "history_runs",
        "(workflow_id, segment)",
        &["workflow_id", "segment", "seqs"],
    ),
];

/// A SQLite file holding runs of `rich` at several awaits (tasks, timers, buffered signals,
/// history), closed and checkpointed: each case damages a copy.
fn template() -> &'static std::path::Path {
    static TEMPLATE: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    &TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("template.db");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(async {
                let store = workflow_rt::SqliteStore::open(&path).expect("open");
                let runtime = Runtime::builder(store)
                    .workflow(rich)
                    .allow_missing_activities()
                    .build()
                    .await
                    .expect("build");
                for id in ["a", "b", "c"] {
                    runtime
                        .start(rich, id, format!("user-{id}"))
                        .await
                        .expect("start");
                    runtime
                        .signal(id, "mood", Mood::Calm)
                        .await
                        .expect("signal");
                    runtime.signal(id, "n", 5u64).await.expect("signal");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                runtime.shutdown().await;
            });
            drop(rt);
            let c = rusqlite::Connection::open(&path).expect("open raw");
            c.execute_batch(
                // Rows of every kind a run's history is read from: moved by schemas 6 and 7
                // (written here past the triggers that refuse an older program's move), named
                // by a list of entries in the log, and in the log past the indexed part.
                "PRAGMA wal_checkpoint(TRUNCATE);
                 INSERT INTO events (rid, at, kind, seq, name, payload)
                     SELECT rid, 1, 0, 0, NULL, x'0002' FROM workflows WHERE id = 'a';
                 INSERT INTO timers (rid, seq, fire_at)
                     SELECT rid, 9, 5 FROM workflows WHERE id = 'b';
                 DROP TRIGGER history_closed;
                 DROP TRIGGER history_moved_closed;
                 INSERT INTO history (workflow_id, n, at, kind, detail)
                     SELECT workflow_id, seq, at, kind, detail FROM history_log;
                 INSERT INTO history_moved (segment, workflow_id, n, at, kind, detail)
                     SELECT 500, workflow_id, seq + 500, at, kind, detail FROM history_log;
                 INSERT INTO history_runs (workflow_id, segment)
                     SELECT DISTINCT workflow_id, 500 FROM history_log;
                 INSERT INTO history_runs (workflow_id, segment, seqs)
                     SELECT workflow_id, 900, json_group_array(seq) FROM history_log
                     WHERE seq > (SELECT indexed FROM history_base) GROUP BY workflow_id;
                 UPDATE history_base SET indexed = (SELECT MAX(seq) FROM history_log);
                 INSERT INTO history_log (workflow_id, n, at, kind, detail)
                     SELECT workflow_id, n + 1000, at, kind, detail FROM history;",
            )
            .expect("more rows");
            let tasks: i64 = c
                .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
                .expect("count");
            assert!(tasks > 0, "the template has tasks");
            let moved: i64 = c
                .query_row("SELECT COUNT(*) FROM history_moved", [], |r| r.get(0))
                .expect("count");
            assert!(moved > 0, "the template has moved history");
            let listed: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM history_runs WHERE seqs IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            assert!(listed > 0, "the template has lists of entries");
            drop(c);
            (dir, path)
        })
        .1
}

/// A read of a damaged store: fine if it worked or failed with a typed error of bad data.
fn typed<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) -> Result<(), TestCaseError> {
    match r {
        Ok(_) | Err(StoreError::Corrupt(_) | StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("{what}: {e:?}"))),
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn damaged_sqlite_rows_give_typed_errors(
        damage in proptest::collection::vec(
            (0..COLUMNS.len(), any::<usize>(), any::<u8>(), value()),
            1..6,
        ),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("damaged.db");
        std::fs::copy(template(), &path).expect("copy");
        {
            let c = rusqlite::Connection::open(&path).expect("open raw");
            for (table, column, row, value) in &damage {
                let (table, key, columns) = COLUMNS[*table];
                let column = columns[column % columns.len()];
                let keys = key.trim_matches(|c| c == '(' || c == ')');
                // A constraint may refuse the value: then that damage does not happen.
                let _ = c.execute(
                    &format!(
                        "UPDATE {table} SET {column} = ?1 WHERE {key} IN \
                         (SELECT {keys} FROM {table} ORDER BY {keys} LIMIT 1 OFFSET ?2)"
                    ),
                    rusqlite::params![value, i64::from(*row % 8)],
                );
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        rt.block_on(async {
            let store = match workflow_rt::SqliteStore::open(&path) {
                Ok(s) => s,
                Err(e) => return Err(TestCaseError::fail(format!("open: {e}"))),
            };
            for id in ["a", "b", "c", "nobody"] {
                typed("load_workflow", store.load_workflow(id).await)?;
                typed("load_inbox", store.load_inbox(id).await)?;
                typed("load_tasks", store.load_tasks(id).await)?;
                typed("load_timers", store.load_timers(id).await)?;
                typed("history", store.history(id).await)?;
            }
            typed("list_workflows", store.list_workflows(None).await)?;
            for status in [WorkflowStatus::Running, WorkflowStatus::Parked] {
                typed("list_workflows", store.list_workflows(Some(status)).await)?;
            }
            typed("list_runs", store.list_runs(RunQuery::new()).await)?;
            typed(
                "list_runs",
                store
                    .list_runs(RunQuery::new().status(WorkflowStatus::Running).limit(2))
                    .await,
            )?;
            typed("count_runs", store.count_runs().await)?;
            typed("next_timer_due", store.next_timer_due().await)?;
            typed("next_task_due", store.next_task_due(&["fetch".to_string()]).await)?;
            typed(
                "ready_workflows",
                store.ready_workflows(&["rich".to_string()], 10).await,
            )?;
            Ok(())
        })?;
    }
}

/// The corpus itself is what the properties start from: it must hold a snapshot at every
/// await and decode whole.
#[test]
fn the_corpus_is_valid() {
    let c = corpus();
    for s in &c.snapshots {
        s.decode(rich).expect("a recorded snapshot restores");
        Snapshot::decode(&s.envelope).expect("envelope");
    }
    for p in pendings() {
        postcard::from_bytes::<Pending>(&p).expect("wait");
    }
    let straight = run_rich().run().expect("run");
    let restored = run_rich().snapshot_every_await(true).run().expect("run");
    assert_eq!(straight.output, restored.output);
}
