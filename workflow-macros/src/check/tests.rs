//! Unit tests of the checks: bodies parsed with `syn`, stripped and checked as the driver does.
//! Each error is seen as (the source text it spans, its message).

use quote::ToTokens;

use super::{EscapeHatches, check_body, strip_escape_hatches};
use crate::ctxt::Ctxt;

/// The errors `cx` collected, one by one.
fn errors_of(cx: Ctxt) -> Vec<syn::Error> {
    cx.check().err().into_iter().flatten().collect()
}

/// The errors for `body` (the statements of a workflow body) with context parameter `ctx`.
fn check_named(body: &str, ctx: &str) -> Vec<(String, String)> {
    let mut block: syn::Block =
        syn::parse_str(&format!("{{\n{body}\n}}")).expect("the test body parses");
    let cx = Ctxt::new();
    let hatches = strip_escape_hatches(&cx, &mut block);
    check_body(
        &cx,
        &block,
        &syn::Ident::new(ctx, proc_macro2::Span::call_site()),
        &hatches,
    );
    errors_of(cx)
        .iter()
        .map(|e| (e.span().source_text().unwrap_or_default(), e.to_string()))
        .collect()
}

fn check(body: &str) -> Vec<(String, String)> {
    check_named(body, "ctx")
}

/// Asserts that `body` has exactly one error, spanning `spanned`, whose message starts with
/// `starts` and contains `contains`.
#[track_caller]
fn assert_one(body: &str, spanned: &str, starts: &str, contains: &str) {
    let errors = check(body);
    assert_eq!(
        errors.len(),
        1,
        "expected one error for\n{body}\ngot {errors:#?}"
    );
    let (text, msg) = &errors[0];
    assert_eq!(text, spanned, "span of the error for\n{body}\n({msg})");
    assert!(
        msg.starts_with(starts),
        "message for\n{body}\nis\n{msg}\nexpected it to start with\n{starts}"
    );
    assert!(
        msg.contains(contains),
        "message for\n{body}\nis\n{msg}\nexpected it to contain\n{contains}"
    );
}

#[track_caller]
fn assert_clean(body: &str) {
    let errors = check(body);
    assert!(
        errors.is_empty(),
        "expected no error for\n{body}\ngot {errors:#?}"
    );
}

const CLOCK: &str = "reads the wall clock, which differs when a step runs again after a crash";
const USE_NOW: &str = "use `ctx.now()`, which is persisted with the workflow";
const RANDOM: &str = "draws from a random source that is saved nowhere";
const ACTIVITY: &str = "do it in an activity and call that: `ctx.activity(..).await?`";
const HASHER: &str =
    "uses the default hasher, whose iteration order is seeded at random in each process";

// -- Messages ----------------------------------------------------------------------------------

#[test]
fn the_message_names_the_construct_the_hazard_and_the_alternative() {
    let errors = check("let started = SystemTime::now();");
    assert_eq!(
        errors,
        vec![(
            "SystemTime::now()".to_string(),
            "`SystemTime::now()` reads the wall clock, which differs when a step runs again after a crash, \
             so the workflow could issue different commands; use `ctx.now()`, which is persisted with \
             the workflow"
                .to_string()
        )]
    );
}

#[test]
fn messages_name_the_context_parameter_as_the_user_called_it() {
    let errors = check_named("let t = Instant::now();", "wf");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .1
            .ends_with("use `wf.now()`, which is persisted with the workflow"),
        "{}",
        errors[0].1
    );
}

#[test]
fn several_violations_are_all_reported_in_order() {
    let errors = check(
        "let t = SystemTime::now();
         let n: u64 = rand::random();
         let s = std::fs::read_to_string(\"config.toml\").unwrap();
         let h = tokio::spawn(work());",
    );
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        spans,
        [
            "SystemTime::now()",
            "rand::random()",
            "std::fs::read_to_string",
            "tokio::spawn"
        ]
    );
}

#[test]
fn a_call_with_arguments_is_spanned_on_its_path_and_shown_with_dots() {
    assert_one(
        "std::thread::spawn(move || { heavy(1, 2, 3) });",
        "std::thread::spawn",
        "`std::thread::spawn(..)` starts or controls an OS thread",
        "run the work in an activity (`ctx.activity(..).await?`)",
    );
}

// -- Wall clocks -------------------------------------------------------------------------------

#[test]
fn wall_clocks() {
    for (body, spanned) in [
        ("let t = SystemTime::now();", "SystemTime::now()"),
        (
            "let t = std::time::SystemTime::now();",
            "std::time::SystemTime::now()",
        ),
        (
            "let t = ::std::time::SystemTime::now();",
            "::std::time::SystemTime::now()",
        ),
        ("let t = Instant::now();", "Instant::now()"),
        (
            "let t = std::time::Instant::now();",
            "std::time::Instant::now()",
        ),
        (
            "let t = tokio::time::Instant::now();",
            "tokio::time::Instant::now()",
        ),
        ("let t = chrono::Utc::now();", "chrono::Utc::now()"),
        ("let t = Utc::now();", "Utc::now()"),
        ("let t = Local::now();", "Local::now()"),
        (
            "let t = chrono::offset::Local::today();",
            "chrono::offset::Local::today()",
        ),
        (
            "let t = OffsetDateTime::now_utc();",
            "OffsetDateTime::now_utc()",
        ),
        (
            "let t = time::OffsetDateTime::now_local();",
            "time::OffsetDateTime::now_local()",
        ),
        ("let t = jiff::Timestamp::now();", "jiff::Timestamp::now()"),
        ("let t = Zoned::now();", "Zoned::now()"),
        ("let t = <SystemTime>::now();", "<SystemTime>::now()"),
    ] {
        assert_one(body, spanned, "`", CLOCK);
        assert_one(body, spanned, "`", USE_NOW);
    }
}

#[test]
fn a_clock_passed_as_a_function_is_caught() {
    assert_one(
        "let t = cached.unwrap_or_else(SystemTime::now);",
        "SystemTime::now",
        "`SystemTime::now` reads",
        CLOCK,
    );
}

#[test]
fn elapsed_on_the_workflow_clock_reads_the_wall_clock() {
    assert_one(
        "let waited = ctx.now().elapsed().unwrap();",
        "ctx.now().elapsed()",
        "`ctx.now().elapsed()` reads the wall clock (it subtracts from the current time)",
        "`ctx.now().duration_since(start)`",
    );
    assert_one(
        "let up = UNIX_EPOCH.elapsed();",
        "UNIX_EPOCH.elapsed()",
        "`UNIX_EPOCH.elapsed()`",
        "duration_since",
    );
    assert_one(
        "let placed = ctx.now(); let waited = placed.elapsed();",
        "placed.elapsed()",
        "`placed.elapsed()` reads the wall clock",
        "duration_since",
    );
    assert_one(
        "let placed: SystemTime = ctx.now(); let waited = placed.elapsed();",
        "placed.elapsed()",
        "`placed.elapsed()` reads the wall clock",
        "duration_since",
    );
    assert_clean("let waited = ctx.now().duration_since(start).unwrap();");
    assert_clean("let waited = stopwatch.elapsed();");
}

// -- Randomness --------------------------------------------------------------------------------

#[test]
fn randomness() {
    for (body, spanned) in [
        ("let n: u64 = rand::random();", "rand::random()"),
        ("let n = rand::random::<u64>();", "rand::random::<u64>()"),
        ("let n: u64 = random();", "random()"),
        ("let r = rand::thread_rng();", "rand::thread_rng()"),
        ("let r = thread_rng();", "thread_rng()"),
        ("let r = rand::rng();", "rand::rng()"),
        ("let n = rand::random_range(0..10);", "rand::random_range"),
        ("let n = OsRng.next_u64();", "OsRng"),
        ("let n = rand::rngs::OsRng.next_u64();", "rand::rngs::OsRng"),
        ("let r = StdRng::from_entropy();", "StdRng::from_entropy()"),
        (
            "let r = SmallRng::from_os_rng();",
            "SmallRng::from_os_rng()",
        ),
        ("getrandom::fill(&mut buf).unwrap();", "getrandom::fill"),
        ("getrandom(&mut buf).unwrap();", "getrandom"),
        ("let n = fastrand::u64(..);", "fastrand::u64"),
        ("let r = fastrand::Rng::new();", "fastrand::Rng::new()"),
    ] {
        assert_one(body, spanned, "`", RANDOM);
        assert_one(
            body,
            spanned,
            "`",
            "use `ctx.random()`, whose generator is persisted with the workflow",
        );
    }
}

#[test]
fn random_ids() {
    for (body, spanned) in [
        ("let id = Uuid::new_v4();", "Uuid::new_v4()"),
        ("let id = uuid::Uuid::now_v7();", "uuid::Uuid::now_v7()"),
        ("let id = Ulid::new();", "Ulid::new()"),
    ] {
        assert_one(body, spanned, "`", RANDOM);
        assert_one(body, spanned, "`", "use `ctx.uuid()`");
    }
    assert_clean("let id = ctx.uuid(); let parsed = Uuid::parse_str(&id);");
}

// -- Threads and tasks -------------------------------------------------------------------------

#[test]
fn threads() {
    for (body, spanned) in [
        ("std::thread::spawn(work);", "std::thread::spawn"),
        ("thread::spawn(work);", "thread::spawn"),
        (
            "std::thread::scope(|s| { s.spawn(work); });",
            "std::thread::scope",
        ),
        ("let me = std::thread::current();", "std::thread::current()"),
        (
            "let b = std::thread::Builder::new();",
            "std::thread::Builder::new()",
        ),
        ("rayon::join(a, b);", "rayon::join"),
    ] {
        assert_one(
            body,
            spanned,
            "`",
            "starts or controls an OS thread outside the workflow's state machine",
        );
    }
    assert_one(
        "std::thread::sleep(Duration::from_secs(1));",
        "std::thread::sleep",
        "`std::thread::sleep(..)` blocks the worker instead of suspending the workflow",
        "use `ctx.sleep(duration).await`, a durable timer stored with the workflow",
    );
}

#[test]
fn tasks() {
    for (body, spanned) in [
        ("let h = tokio::spawn(work());", "tokio::spawn"),
        ("let h = tokio::task::spawn(work());", "tokio::task::spawn"),
        (
            "let h = tokio::task::spawn_blocking(work);",
            "tokio::task::spawn_blocking",
        ),
        (
            "let h = task::spawn_blocking(work);",
            "task::spawn_blocking",
        ),
        ("task::yield_now();", "task::yield_now()"),
        ("let h = spawn(work());", "spawn"),
        (
            "let set = tokio::task::JoinSet::new();",
            "tokio::task::JoinSet::new()",
        ),
        ("let set = JoinSet::new();", "JoinSet::new()"),
        (
            "let h = tokio::runtime::Handle::current();",
            "tokio::runtime::Handle::current()",
        ),
        ("let h = smol::spawn(work());", "smol::spawn"),
    ] {
        assert_one(
            body,
            spanned,
            "`",
            "starts a task outside the workflow's state machine",
        );
        assert_one(
            body,
            spanned,
            "`",
            "and several at once with `ctx.join((a, b)).await`",
        );
    }
}

#[test]
fn in_memory_timers() {
    for (body, spanned) in [
        (
            "tokio::time::sleep(Duration::from_secs(5));",
            "tokio::time::sleep",
        ),
        ("time::sleep(d);", "time::sleep"),
        ("sleep(d);", "sleep"),
        (
            "tokio::time::sleep_until(deadline);",
            "tokio::time::sleep_until",
        ),
        ("async_std::task::sleep(d);", "async_std::task::sleep"),
    ] {
        assert_one(
            body,
            spanned,
            "`",
            "is an in-memory timer, lost if the worker crashes or restarts",
        );
        assert_one(body, spanned, "`", "use `ctx.sleep(duration).await`");
    }
    assert_one(
        "let r = tokio::time::timeout(d, op);",
        "tokio::time::timeout",
        "`tokio::time::timeout(..)` is an in-memory timer",
        "`ctx.select((operation, ctx.sleep(duration))).await`",
    );
    assert_one(
        "let mut t = tokio::time::interval(d);",
        "tokio::time::interval",
        "`tokio::time::interval(..)`",
        "in a loop",
    );
    assert_clean("let d = tokio::time::Duration::from_secs(5); ctx.sleep(d);");
}

#[test]
fn select_and_join_macros() {
    assert_one(
        "tokio::select! { a = one => a, b = two => b }",
        "tokio::select!",
        "`tokio::select!` races in-memory futures: which one wins is recorded nowhere",
        "use `ctx.select((a, b)).await` over durable operations",
    );
    assert_one(
        "select! { a = one => a, b = two => b }",
        "select!",
        "`select!` races",
        "ctx.select",
    );
    assert_one(
        "futures::select_biased! { a = one => a }",
        "futures::select_biased!",
        "`futures::select_biased!`",
        "ctx.select",
    );
    assert_one(
        "let (a, b) = tokio::join!(one, two);",
        "tokio::join!",
        "`tokio::join!` polls in-memory futures that are in no snapshot",
        "use `ctx.join((a, b)).await`",
    );
    assert_one(
        "let r = futures::try_join!(one, two);",
        "futures::try_join!",
        "`futures::try_join!`",
        "ctx.join",
    );
    assert_one("let r = join!(one, two);", "join!", "`join!`", "ctx.join");
    assert_clean("let r = my::join!(one, two);");
}

#[test]
fn a_select_reports_what_its_arms_do_too() {
    let errors = check("tokio::select! { _ = tokio::time::sleep(d) => {}, v = rx.recv() => {} }");
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(spans, ["tokio::select!", "tokio::time::sleep"]);
}

#[test]
fn future_combinators() {
    for (body, spanned) in [
        (
            "let all = futures::future::join_all(calls);",
            "futures::future::join_all",
        ),
        ("let all = join_all(calls);", "join_all"),
        ("let all = try_join_all(calls);", "try_join_all"),
        (
            "let set = FuturesUnordered::new();",
            "FuturesUnordered::new()",
        ),
        (
            "let v = futures::executor::block_on(f);",
            "futures::executor::block_on",
        ),
    ] {
        assert_one(body, spanned, "`", "combines or runs in-memory futures");
    }
    assert_one(
        "let first = futures::future::select(a, b);",
        "futures::future::select",
        "`",
        "ctx.select",
    );
    assert_one(
        "let first = select_all(calls);",
        "select_all",
        "`select_all(..)` races",
        "ctx.select",
    );
}

// -- I/O and the environment -------------------------------------------------------------------

#[test]
fn file_system() {
    for (body, spanned) in [
        (
            "let s = std::fs::read_to_string(\"a\");",
            "std::fs::read_to_string",
        ),
        ("let s = fs::read_to_string(\"a\");", "fs::read_to_string"),
        ("fs::write(\"a\", b);", "fs::write"),
        ("let s = tokio::fs::read(\"a\");", "tokio::fs::read"),
        ("let f = File::open(\"a\");", "File::open"),
        (
            "let f = std::fs::File::create(\"a\");",
            "std::fs::File::create",
        ),
        ("let o = OpenOptions::new();", "OpenOptions::new()"),
    ] {
        assert_one(body, spanned, "`", "touches the file system");
        assert_one(body, spanned, "`", ACTIVITY);
    }
}

#[test]
fn network() {
    for (body, spanned) in [
        (
            "let s = std::net::TcpStream::connect(addr);",
            "std::net::TcpStream::connect",
        ),
        ("let s = TcpStream::connect(addr);", "TcpStream::connect"),
        (
            "let l = tokio::net::TcpListener::bind(addr);",
            "tokio::net::TcpListener::bind",
        ),
        ("let u = UdpSocket::bind(addr);", "UdpSocket::bind"),
        ("let r = reqwest::get(url);", "reqwest::get"),
        ("let c = reqwest::Client::new();", "reqwest::Client::new()"),
        (
            "let a = tokio::net::lookup_host(h);",
            "tokio::net::lookup_host",
        ),
    ] {
        assert_one(body, spanned, "`", "talks to the network");
        assert_one(body, spanned, "`", ACTIVITY);
    }
    assert_one(
        "let a = \"h:80\".to_socket_addrs();",
        "to_socket_addrs",
        "`to_socket_addrs()`",
        "talks to the network",
    );
    assert_clean(
        "let a = std::net::Ipv4Addr::new(127, 0, 0, 1); let s: SocketAddr = text.parse().unwrap();",
    );
    assert_clean("let a = std::net::SocketAddr::from(([127, 0, 0, 1], 80));");
}

#[test]
fn processes() {
    for (body, spanned) in [
        (
            "let o = std::process::Command::new(\"ls\").output();",
            "std::process::Command::new",
        ),
        (
            "let o = tokio::process::Command::new(\"ls\");",
            "tokio::process::Command::new",
        ),
        ("std::process::exit(1);", "std::process::exit"),
        ("let pid = process::id();", "process::id()"),
        (
            "let o = Command::new(\"ls\").arg(\"-l\").output();",
            "Command::new(\"ls\")",
        ),
        (
            "let c = Command::new(\"ls\").spawn();",
            "Command::new(\"ls\")",
        ),
    ] {
        assert_one(body, spanned, "`", "runs or inspects an OS process");
    }
    // A `Command` of the user's own domain.
    assert_clean("let c = Command::new(order.id); let r = ctx.activity(send, c).await;");
    assert_clean("let r = process::run(order);");
}

#[test]
fn environment_and_stdin() {
    for (body, spanned) in [
        ("let v = std::env::var(\"KEY\");", "std::env::var"),
        ("let v = env::var(\"KEY\");", "env::var"),
        ("for (k, v) in std::env::vars() {}", "std::env::vars()"),
        ("let d = env::current_dir();", "env::current_dir()"),
        ("let v = dotenvy::var(\"KEY\");", "dotenvy::var"),
    ] {
        assert_one(body, spanned, "`", "reads the process environment");
        assert_one(body, spanned, "`", "pass the value in the workflow's input");
    }
    for (body, spanned) in [
        ("std::io::stdin().read_line(&mut s);", "std::io::stdin()"),
        ("io::stdin().read_line(&mut s);", "io::stdin()"),
        ("let i = tokio::io::stdin();", "tokio::io::stdin()"),
        ("stdin().read_line(&mut s);", "stdin()"),
    ] {
        assert_one(body, spanned, "`", "reads standard input");
    }
    // Compile-time environment is fixed in the binary.
    assert_clean("let v = env!(\"CARGO_PKG_VERSION\"); let w = option_env!(\"X\");");
}

// -- Iteration order ---------------------------------------------------------------------------

#[test]
fn maps_with_the_default_hasher() {
    for (body, spanned) in [
        ("let m = HashMap::new();", "HashMap::new()"),
        (
            "let m = std::collections::HashMap::with_capacity(8);",
            "std::collections::HashMap::with_capacity",
        ),
        ("let s = HashSet::from([1, 2]);", "HashSet::from"),
        (
            "let m = HashMap::<u8, u8>::default();",
            "HashMap::<u8, u8>::default()",
        ),
        (
            "let m = v.into_iter().collect::<HashMap<_, _>>();",
            "HashMap<_, _>",
        ),
        (
            "let s: HashSet<u64> = v.into_iter().collect();",
            "HashSet<u64>",
        ),
        (
            "fn tally(m: &HashMap<String, u64>) -> u64 { 0 }",
            "HashMap<String, u64>",
        ),
    ] {
        assert_one(body, spanned, "`", HASHER);
        assert_one(
            body,
            spanned,
            "`",
            "use `BTreeMap` / `BTreeSet`, which iterate in key order",
        );
    }
}

#[test]
fn an_annotated_map_is_one_mistake_not_two() {
    assert_one(
        "let m: HashMap<String, u64> = HashMap::new();",
        "HashMap<String, u64>",
        "`HashMap<_, _>` uses the default hasher",
        "BTreeMap",
    );
}

#[test]
fn maps_with_a_fixed_hasher_and_btree_maps_are_fine() {
    assert_clean(
        "let m: HashMap<u64, u64, BuildHasherDefault<FxHasher>> = HashMap::with_hasher(Default::default());
         let s: HashSet<u64, Fixed> = HashSet::default();
         let b: BTreeMap<String, u64> = BTreeMap::new();
         let c = v.into_iter().collect::<BTreeSet<_>>();",
    );
}

#[test]
fn random_state_is_the_seed() {
    assert_one(
        "let s = RandomState::new();",
        "RandomState::new()",
        "`RandomState::new()` seeds hashers at random",
        "BTreeMap",
    );
    assert_one(
        "let m: HashMap<u8, u8, RandomState> = HashMap::default();",
        "RandomState",
        "`RandomState` seeds hashers",
        "BuildHasherDefault",
    );
}

// -- Memory outside the state, unsafe, async ---------------------------------------------------

#[test]
fn static_mut_thread_local_and_unsafe() {
    assert_one(
        "static mut COUNTER: u64 = 0;",
        "static mut COUNTER",
        "`static mut COUNTER` is memory shared by every workflow on the worker and saved in no snapshot",
        "keep the value in a local variable: the workflow's state saves it",
    );
    assert_one(
        "thread_local! { static SEEN: Cell<u64> = Cell::new(0); }",
        "thread_local!",
        "`thread_local!` is storage saved in no snapshot",
        "keep the value in a local variable",
    );
    assert_one(
        "tokio::task_local! { static ID: u64; }",
        "tokio::task_local!",
        "`tokio::task_local!`",
        "local variable",
    );
    assert_one(
        "let x = unsafe { COUNTER };",
        "unsafe",
        "an `unsafe` block can reach memory and foreign code that the determinism check cannot inspect",
        "move it into an activity",
    );
    // A plain static is a constant.
    assert_clean("static LIMIT: u64 = 10;");
}

#[test]
fn async_blocks_and_closures() {
    assert_one(
        "let f = async move { 1 };",
        "async move",
        "an `async` block creates a future the workflow's state machine cannot save",
        "combine them with `ctx.join(..)` / `ctx.select(..)`",
    );
    assert_one(
        "let f = async { 1 };",
        "async",
        "an `async` block",
        "move the async code into an activity",
    );
    assert_one(
        "let f = async |x: u64| x + 1;",
        "async |x: u64|",
        "an `async` closure creates a future",
        "ctx.join",
    );
    assert_one(
        "let f = async move |x| x;",
        "async move |x|",
        "an `async` closure",
        "ctx.select",
    );
    let errors = check("let h = tokio::spawn(async move { 1 });");
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(spans, ["tokio::spawn", "async move"]);
}

// -- Where the checks look ---------------------------------------------------------------------

#[test]
fn inside_closures() {
    assert_one(
        "let stamp = || SystemTime::now();",
        "SystemTime::now()",
        "`SystemTime::now()`",
        CLOCK,
    );
    assert_one(
        "let ids: Vec<u64> = items.iter().map(|_| rand::random::<u64>()).collect();",
        "rand::random::<u64>()",
        "`rand::random()`",
        RANDOM,
    );
}

#[test]
fn inside_nested_blocks_loops_and_matches() {
    let errors = check(
        "loop {
             if ready { let t = Instant::now(); }
             match kind { Kind::A => { std::thread::sleep(d); } _ => {} }
             for x in 0..3 { let n: u8 = rand::random(); }
         }",
    );
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        spans,
        ["Instant::now()", "std::thread::sleep", "rand::random()"]
    );
}

#[test]
fn inside_nested_functions_but_not_nested_activities() {
    assert_one(
        "fn stamp() -> SystemTime { SystemTime::now() }",
        "SystemTime::now()",
        "`SystemTime::now()`",
        CLOCK,
    );
    assert_clean(
        "#[activity] async fn load(ctx: ActivityCtx, p: String) -> Result<String, ActivityError> {
             Ok(std::fs::read_to_string(p)?)
         }",
    );
}

#[test]
fn inside_format_like_macros() {
    for (body, spanned) in [
        (
            "println!(\"at {:?}\", SystemTime::now());",
            "SystemTime::now()",
        ),
        (
            "let s = format!(\"{}\", Instant::now().elapsed().as_secs());",
            "Instant::now()",
        ),
        (
            "let s = format!(\"{t:?}\", t = chrono::Utc::now());",
            "chrono::Utc::now()",
        ),
        ("let v = vec![SystemTime::now(); 3];", "SystemTime::now()"),
        (
            "let v = vec![1, 2, Instant::now().elapsed().as_secs()];",
            "Instant::now()",
        ),
        (
            "assert!(SystemTime::now() > t, \"late\");",
            "SystemTime::now()",
        ),
        (
            "let s = format!(\"{}\", format!(\"{:?}\", Utc::now()));",
            "Utc::now()",
        ),
    ] {
        assert_one(body, spanned, "`", CLOCK);
    }
    assert_one(
        "let s = format!(\"{}\", ctx.now().elapsed().unwrap().as_secs());",
        "ctx.now().elapsed()",
        "`ctx.now().elapsed()` reads the wall clock",
        "duration_since",
    );
}

#[test]
fn inside_macros_whose_arguments_are_not_expressions() {
    for (body, spanned) in [
        (
            "let b = matches!(x, Some(n) if n > Instant::now());",
            "Instant::now()",
        ),
        (
            "info!(target: \"wf\", at = ?SystemTime::now(), \"step\");",
            "SystemTime::now()",
        ),
        (
            "my_dsl!(when => ::std::time::SystemTime::now());",
            "::std::time::SystemTime::now()",
        ),
        (
            "my_dsl!(when => chrono::Utc::now() ; then);",
            "chrono::Utc::now()",
        ),
    ] {
        assert_one(body, spanned, "`", CLOCK);
    }
    for (body, spanned, starts) in [
        (
            "my_dsl!(x => rand::random::<u8>() ; y);",
            "rand::random::<u8>()",
            "`rand::random()`",
        ),
        ("my_dsl!(x => random() ; y);", "random()", "`random()`"),
        (
            "my_dsl!(x => unsafe { PTR } ; y);",
            "unsafe",
            "an `unsafe` block",
        ),
        (
            "my_dsl!(x => async move { 1 } ; y);",
            "async move",
            "an `async` block",
        ),
        (
            "my_dsl!(x => async |a| a ; y);",
            "async |",
            "an `async` closure",
        ),
        (
            "my_dsl!(x => static mut X: u8 = 0 ; y);",
            "static mut",
            "`static mut`",
        ),
        (
            "my_dsl!(x => HashMap<u8, Vec<u8>> ; y);",
            "HashMap<u8, Vec<u8>>",
            "`HashMap<_, _>`",
        ),
        (
            "my_dsl!(x => HashMap::<u8, u8>::new() ; y);",
            "HashMap::<u8, u8>::new()",
            "`HashMap::new()`",
        ),
        (
            "my_dsl!(x => tokio::join!(a, b) ; y);",
            "tokio::join!",
            "`tokio::join!`",
        ),
        (
            "my_dsl!(x => std::thread::spawn(f) ; y);",
            "std::thread::spawn",
            "`std::thread::spawn(..)`",
        ),
    ] {
        assert_one(body, spanned, starts, "");
    }
}

#[test]
fn inside_macro_rules_defined_in_the_body() {
    assert_one(
        "macro_rules! stamp { () => { SystemTime::now() }; }",
        "SystemTime::now()",
        "`SystemTime::now()`",
        CLOCK,
    );
}

#[test]
fn a_file_of_ones_own_domain_is_fine() {
    assert_clean("let f = File::new(order.id); let g = attachments::File::from(f);");
}

#[test]
fn not_inside_macros_whose_arguments_are_text() {
    assert_clean("let s = stringify!(SystemTime::now()); let t = concat!(\"a\", \"b\");");
    assert_clean("my_dsl!(x => stringify!(SystemTime::now()) ; y);");
}

#[test]
fn token_scanning_skips_methods_fields_and_definitions() {
    assert_clean(
        "my_dsl!(x => order.now, clock.now(), ctx.random::<u64>(), ctx.sleep(d) ; fn random() {} ; y);",
    );
    assert_clean(
        "my_dsl!(x != y ; a::b::c ; Clock::now() ; my::random() ; sleep ; HashMap<u8, u8, S>);",
    );
}

// -- Imports -----------------------------------------------------------------------------------

#[test]
fn a_use_in_the_body_is_followed() {
    assert_one(
        "use std::time::SystemTime as Clock; let t = Clock::now();",
        "Clock::now()",
        "`Clock::now()` (`std::time::SystemTime::now`) reads the wall clock",
        USE_NOW,
    );
    assert_one(
        "use rand::random as draw; let n: u64 = draw();",
        "draw()",
        "`draw()` (`rand::random`)",
        RANDOM,
    );
    assert_one(
        "use std::thread as t; t::spawn(f);",
        "t::spawn",
        "`t::spawn(..)` (`std::thread::spawn`)",
        "OS thread",
    );
    assert_one(
        "use tokio::{spawn as go, time}; go(f);",
        "go",
        "`go(..)` (`tokio::spawn`)",
        "starts a task",
    );
    assert_one(
        "use std::{env::{self}}; let v = env::var(\"K\");",
        "env::var",
        "`env::var(..)`",
        "environment",
    );
    assert_one(
        "use std::env as e; let v = e::var(\"K\");",
        "e::var",
        "`e::var(..)` (`std::env::var`)",
        "environment",
    );
    assert_one(
        "use std::collections::HashMap as Map; let m = Map::new();",
        "Map::new()",
        "`Map::new()`",
        HASHER,
    );
    assert_one(
        "use std::time; use time::Instant as I; let t = I::now();",
        "I::now()",
        "`I::now()`",
        CLOCK,
    );
    assert_one(
        "use tokio::select as race; race! { a = x => a }",
        "race!",
        "`race!`",
        "ctx.select",
    );
}

#[test]
fn a_use_in_an_inner_block_is_scoped_to_it() {
    assert_one(
        "{ use std::time::SystemTime as Clock; let a = Clock::now(); } let b = Clock::now();",
        "Clock::now()",
        "`Clock::now()` (`std::time::SystemTime::now`)",
        CLOCK,
    );
}

#[test]
fn a_use_of_ones_own_function_clears_a_bare_name() {
    assert_clean("use crate::util::random; let n = random();");
    assert_clean("use self::workers::spawn; spawn(job);");
}

#[test]
fn a_file_level_import_does_not_hide_a_call() {
    // The macro never sees `use std::time::SystemTime;` at the top of the file: the suffix is enough.
    assert_one(
        "let t = SystemTime::now();",
        "SystemTime::now()",
        "`SystemTime::now()`",
        CLOCK,
    );
    assert_one("let n: u64 = random();", "random()", "`random()`", RANDOM);
}

// -- No false positives ------------------------------------------------------------------------

#[test]
fn name_alikes_are_fine() {
    assert_clean(
        "let name = my::random_name();
         let n = self::random();
         let m = crate::util::spawn(job);
         let when = order.now;
         let t = clock.now();
         let c = Clock::now();
         let t = ctx.now();
         let r: u64 = ctx.random();
         let id = ctx.uuid();
         let e = Event { now: 1, random: 2 };
         let thread = my::thread::spawn();
         let task = task::create(job);
         let cfg = fs::load_config();
         let v = env::get(\"k\");
         let d = time::Duration::from_secs(1);
         let h = HashMapLike::new();
         let r = randomize(items);
         let s = spawner.spawn(job);
         let w = WorkflowCtx::now(&ctx);",
    );
}

#[test]
fn locals_that_share_a_forbidden_name_are_the_users() {
    assert_clean(
        "let sleep = Duration::from_secs(1);
         ctx.sleep(sleep).await;
         let spawn = |x: u64| x + 1;
         let y = spawn(1);
         let random = 4;
         let z = random + 1;
         fn thread_rng() -> u64 { 4 }
         let w = thread_rng();",
    );
}

#[test]
fn durable_operations_are_fine() {
    assert_clean(
        "let paid: String = ctx.activity(charge, order.clone()).retry(RetryPolicy::default()).await?;
         let ok = ctx.signal::<bool>(\"approve\").timeout(Duration::from_secs(60)).await;
         ctx.sleep(Duration::from_secs(60)).await;
         let (a, b) = ctx.join((ctx.activity(one, 1), ctx.activity(two, 2))).await;
         let first = ctx.select((ctx.sleep(d), ctx.signal::<u8>(\"go\"))).await;
         let started = ctx.now();
         let n: u64 = ctx.random();
         let m: BTreeMap<String, u64> = BTreeMap::new();
         println!(\"{paid} {started:?} {n}\");
         Ok(paid)",
    );
}

// -- Escape hatch ------------------------------------------------------------------------------

#[test]
fn an_escape_hatch_with_a_reason_skips_its_statement_only() {
    let errors = check(
        "#[nondeterministic(reason = \"only logged\")]
         let logged = SystemTime::now();
         let used = SystemTime::now();",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .1
            .starts_with("`SystemTime::now()` reads the wall clock")
    );
}

#[test]
fn an_escape_hatch_covers_expressions_arms_items_and_macros() {
    assert_clean(
        "let t = #[nondeterministic(reason = \"metrics only\")] Instant::now();
         #[nondeterministic(reason = \"metrics only\")]
         record(Instant::now());
         match kind {
             #[nondeterministic(reason = \"test builds only\")]
             Kind::Debug => std::thread::sleep(d),
             _ => {}
         }
         #[nondeterministic(reason = \"counter for a dashboard\")]
         static mut SEEN: u64 = 0;
         #[nondeterministic(reason = \"debug output\")]
         println!(\"{:?}\", SystemTime::now());
         #[nondeterministic(reason = \"a whole block\")]
         {
             let a = rand::random::<u8>();
             let b = unsafe { SEEN };
         }",
    );
}

#[test]
fn stripping_removes_every_escape_hatch() {
    let mut block: syn::Block = syn::parse_str(
        "{ #[nondeterministic(reason = \"a\")] let t = f(); let u = #[nondeterministic(reason = \"b\")] g();
           match x { #[nondeterministic(reason = \"c\")] _ => {} } #[allow(unused)] let v = 1; }",
    )
    .unwrap();
    let cx = Ctxt::new();
    let hatches = strip_escape_hatches(&cx, &mut block);
    assert!(errors_of(cx).is_empty());
    assert_eq!(hatches.covered.len(), 3);
    let text = block.to_token_stream().to_string();
    assert!(!text.contains("nondeterministic"), "{text}");
    assert!(text.contains("allow"), "other attributes stay: {text}");
}

#[test]
fn an_escape_hatch_needs_a_non_empty_reason() {
    for (body, spanned, starts) in [
        (
            "#[nondeterministic] let t = SystemTime::now();",
            "#[nondeterministic]",
            "`#[nondeterministic]` needs a reason",
        ),
        (
            "#[nondeterministic = \"x\"] let t = SystemTime::now();",
            "#[nondeterministic = \"x\"]",
            "`#[nondeterministic]` needs a reason",
        ),
        (
            "#[nondeterministic()] let t = SystemTime::now();",
            "#[nondeterministic()]",
            "`#[nondeterministic]` needs a reason",
        ),
        (
            "#[nondeterministic(reason = \"  \")] let t = SystemTime::now();",
            "\"  \"",
            "the reason of `#[nondeterministic]` is empty",
        ),
        (
            "#[nondeterministic(because = \"x\")] let t = SystemTime::now();",
            "because",
            "unknown argument of `#[nondeterministic]`",
        ),
        (
            "#[nondeterministic(reason = \"a\", reason = \"b\")] let t = SystemTime::now();",
            "reason = \"b\"",
            "`reason` is given twice",
        ),
    ] {
        // The only error is the hatch's: the statement it covers is not reported too.
        assert_one(body, spanned, starts, "");
    }
}

#[test]
fn an_escape_hatch_inside_a_macro_is_rejected() {
    let errors = check("let v = vec![#[nondeterministic(reason = \"x\")] 1];");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .1
            .starts_with("`#[nondeterministic]` cannot be used inside a macro invocation")
    );
    assert_eq!(errors[0].0, "#[nondeterministic(reason = \"x\")]");
}

#[test]
fn checking_before_stripping_gives_the_same_result() {
    let block: syn::Block = syn::parse_str(
        "{ #[nondeterministic(reason = \"a\")] let t = SystemTime::now(); let u = SystemTime::now(); }",
    )
    .unwrap();
    let ctx = syn::Ident::new("ctx", proc_macro2::Span::call_site());
    let cx = Ctxt::new();
    check_body(&cx, &block, &ctx, &EscapeHatches::default());
    let errors = errors_of(cx);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].span().source_text().as_deref(),
        Some("SystemTime::now()")
    );
}

#[test]
fn hatch_numbering_matches_the_check_walk_through_macros_and_attributes() {
    // Nodes before the hatch include macro arguments (not numbered) and attribute values
    // (numbered in both walks): the hatch must still land on its statement.
    let errors = check(
        "println!(\"{}\", a + b);
         #[doc = \"x\"] let d = 1;
         let v = vec![1, 2, 3];
         #[nondeterministic(reason = \"r\")]
         let t = SystemTime::now();
         let u = Instant::now();",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].0, "Instant::now()");
}
