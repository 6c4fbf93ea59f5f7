//! Determinism: a step of a workflow that crashes before its commit runs again from the last
//! snapshot, and it must issue the same commands the second time. Anything whose value or effect
//! is not a pure function of the snapshot (the clock, randomness, threads, I/O, a map's iteration
//! order, memory outside the state) breaks that promise, so the body may reach it only through
//! the context, whose every answer is persisted.
//!
//! The check is syntactic: a proc macro sees no types and no imports outside the function, so
//! it recognises a forbidden call by its path (see [`Path`] for how names are resolved) and
//! cannot follow calls into the user's own functions. Each family of rules below says why it
//! exists; [`classify`] is the table, [`Checker`] the walk that applies it to every expression,
//! type, statement and macro invocation of the body.

use std::collections::BTreeSet;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Expr, ExprPath, GenericArgument, Ident, PathArguments, Stmt, Token, UseTree};

use super::EscapeHatches;
use super::escape_hatch::NodeIds;
use crate::ctxt::Ctxt;

pub(super) fn check(cx: &Ctxt, block: &syn::Block, ctx: &Ident, hatches: &EscapeHatches) {
    let mut locals = Locals {
        ctx: ctx.to_string(),
        names: BTreeSet::new(),
        clock_readings: BTreeSet::new(),
    };
    locals.visit_block(block);
    let mut checker = Checker {
        ctx: ctx.to_string(),
        hatches,
        ids: NodeIds::default(),
        in_macro: 0,
        muted: 0,
        uses: Vec::new(),
        locals: locals.names,
        clock_readings: locals.clock_readings,
        callee: None,
        typed_map: 0,
        map_types: 0,
        cx,
    };
    checker.visit_block(block);
}

// ---------------------------------------------------------------------------------------------
// The families of rules
// ---------------------------------------------------------------------------------------------

/// What is wrong with a construct, and what to write instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    /// Wall clocks: the time differs on every run, so a step that runs again after a crash can
    /// take another branch and issue other commands. The context's clock is the time of the event
    /// that woke the step, recorded with that event.
    WallClock,
    /// `x.elapsed()` on the workflow's own clock reading: it subtracts from the wall clock.
    Elapsed,
    /// Randomness: values drawn from an unsaved generator differ when a step runs again. The
    /// context's generator is part of the snapshot.
    Randomness,
    /// Random UUIDs and ULIDs, the same hazard with a dedicated durable alternative.
    RandomId,
    /// OS threads run outside the state machine: their work is in no snapshot and races the step.
    Thread,
    /// `std::thread::sleep` blocks the worker and its wait is saved nowhere.
    BlockingSleep,
    /// Async tasks (`tokio::spawn`, `tokio::task::*`, runtimes): like threads.
    Task,
    /// In-memory timers (`tokio::time::sleep`, `timeout`, `interval`): lost in a crash.
    Timer,
    /// `timeout`: an in-memory timer raced with an operation.
    Timeout,
    /// `interval`: a periodic in-memory timer.
    Interval,
    /// `select!` and friends: which branch wins is recorded nowhere.
    Select,
    /// `join!` and friends: in-memory futures, lost in a crash.
    Join,
    /// `futures::` combinators and executors: in-memory futures, lost in a crash.
    Futures,
    /// File system access: its answers can differ or fail on the second run and are not saved.
    FileSystem,
    /// Network access: the same.
    Network,
    /// Processes: the same, and the worker that runs the step again may be another machine.
    Process,
    /// The process environment differs between workers.
    Environment,
    /// Standard input cannot be read twice.
    Stdin,
    /// `HashMap`/`HashSet` with the default hasher iterate in an order seeded per process.
    HashOrder,
    /// `RandomState` is that seed.
    RandomState,
    /// `static mut`: memory outside the snapshot, shared by every workflow on the worker.
    StaticMut,
    /// `thread_local!`/`task_local!`: memory outside the snapshot, tied to a thread or task.
    ThreadLocal,
    /// `unsafe` blocks reach what the check cannot see.
    Unsafe,
    /// `async` blocks and closures are futures the state machine cannot save.
    AsyncBlock,
}

impl Family {
    /// What the construct does and why that breaks durability (follows the construct's name).
    fn hazard(self) -> &'static str {
        use Family::*;
        match self {
            WallClock => {
                "reads the wall clock, which differs when a step runs again after a crash, so the \
                 workflow could issue different commands"
            }
            Elapsed => {
                "reads the wall clock (it subtracts from the current time), which differs when a \
                 step runs again after a crash, so the workflow could issue different commands"
            }
            Randomness | RandomId => {
                "draws from a random source that is saved nowhere, so a step that runs again after \
                 a crash gets other values and could issue different commands"
            }
            Thread => {
                "starts or controls an OS thread outside the workflow's state machine: its work is \
                 in no snapshot, is lost in a crash, and races with the step"
            }
            BlockingSleep => {
                "blocks the worker instead of suspending the workflow, and the wait is saved \
                 nowhere, so it starts over when a step runs again after a crash"
            }
            Task => {
                "starts a task outside the workflow's state machine: the task is in no snapshot, \
                 is lost in a crash, and its effects race with the step"
            }
            Timer | Timeout | Interval => {
                "is an in-memory timer, lost if the worker crashes or restarts while it runs, so \
                 the wait starts over and the workflow could behave differently"
            }
            Select => {
                "races in-memory futures: which one wins is recorded nowhere, so a step that runs \
                 again after a crash could take another branch, and the futures are lost"
            }
            Join => "polls in-memory futures that are in no snapshot and are lost in a crash",
            Futures => {
                "combines or runs in-memory futures that are in no snapshot and are lost in a crash"
            }
            FileSystem => {
                "touches the file system, whose contents can differ (or fail) when a step runs \
                 again after a crash, and whose results are saved nowhere"
            }
            Network => {
                "talks to the network, whose answers can differ (or fail) when a step runs again \
                 after a crash, and whose results are saved nowhere"
            }
            Process => {
                "runs or inspects an OS process, which can behave differently when a step runs \
                 again after a crash (perhaps on another worker), and whose results are saved nowhere"
            }
            Environment => {
                "reads the process environment, which can differ on the worker that runs a step \
                 again after a crash"
            }
            Stdin => {
                "reads standard input, which cannot be read again when a step runs again after a crash"
            }
            HashOrder => {
                "uses the default hasher, whose iteration order is seeded at random in each \
                 process, so a step that runs again after a crash (or on another worker) could \
                 visit the entries in another order and issue different commands"
            }
            RandomState => {
                "seeds hashers at random in each process, so a map or set built with it iterates \
                 in another order when a step runs again after a crash"
            }
            StaticMut => {
                "is memory shared by every workflow on the worker and saved in no snapshot: a \
                 crash loses it, and a step that runs again sees what the first run left there"
            }
            ThreadLocal => {
                "is storage saved in no snapshot, and a workflow's steps can run on different \
                 threads or workers, so a step that runs again after a crash sees another value"
            }
            Unsafe => {
                "can reach memory and foreign code that the determinism check cannot inspect and \
                 that no snapshot saves"
            }
            AsyncBlock => {
                "creates a future the workflow's state machine cannot save: it is lost in a \
                 crash, and only durable operations of the context can be awaited in a workflow"
            }
        }
    }

    /// The durable alternative; `ctx` is the name of the workflow's context parameter.
    fn instead(self, ctx: &str) -> String {
        use Family::*;
        match self {
            WallClock => format!("use `{ctx}.now()`, which is persisted with the workflow"),
            Elapsed => format!(
                "measure on the workflow's clock: `{ctx}.now().duration_since(start)`, where `start` \
                 is an earlier `{ctx}.now()`; both are persisted with the workflow"
            ),
            Randomness => {
                format!("use `{ctx}.random()`, whose generator is persisted with the workflow")
            }
            RandomId => {
                format!("use `{ctx}.uuid()`, whose generator is persisted with the workflow")
            }
            Thread | Task => format!(
                "run the work in an activity (`{ctx}.activity(..).await?`), and several at once \
                 with `{ctx}.join((a, b)).await`; activity results are persisted"
            ),
            BlockingSleep | Timer => {
                format!(
                    "use `{ctx}.sleep(duration).await`, a durable timer stored with the workflow"
                )
            }
            Timeout => format!(
                "race the operation with a durable timer: `{ctx}.select((operation, \
                 {ctx}.sleep(duration))).await`, whose winner is persisted"
            ),
            Interval => {
                format!("call `{ctx}.sleep(period).await` in a loop: a durable timer each time")
            }
            Select => format!(
                "use `{ctx}.select((a, b)).await` over durable operations: the winner is persisted"
            ),
            Join => format!(
                "use `{ctx}.join((a, b)).await` over durable operations: their results are persisted"
            ),
            Futures => format!(
                "use `{ctx}.join(..)` (all of them) or `{ctx}.select(..)` (the first) over durable \
                 operations, whose results are persisted"
            ),
            FileSystem | Network | Process | Stdin => format!(
                "do it in an activity and call that: `{ctx}.activity(..).await?`; the activity's \
                 result is persisted with the workflow"
            ),
            Environment => format!(
                "pass the value in the workflow's input, or read it in an activity \
                 (`{ctx}.activity(..).await?`), whose result is persisted"
            ),
            HashOrder => {
                "use `BTreeMap` / `BTreeSet`, which iterate in key order (or name a fixed hasher \
                 as the last type argument: `HashMap<K, V, BuildHasherDefault<H>>`, \
                 `HashSet<T, BuildHasherDefault<H>>`)"
                    .to_string()
            }
            RandomState => {
                "use `BTreeMap` / `BTreeSet`, or a fixed hasher such as `BuildHasherDefault<H>`"
                    .to_string()
            }
            StaticMut | ThreadLocal => {
                "keep the value in a local variable: the workflow's state saves it".to_string()
            }
            Unsafe => {
                "move it into an activity, or behind a safe and deterministic function outside \
                       the workflow"
                    .to_string()
            }
            AsyncBlock => format!(
                "await durable operations directly (`{ctx}.activity(..)`, `{ctx}.sleep(..)`, \
                 `{ctx}.signal(..)`) and combine them with `{ctx}.join(..)` / `{ctx}.select(..)`, \
                 or move the async code into an activity"
            ),
        }
    }
}

/// The error for `shown` (already formatted: "`SystemTime::now()`", "an `unsafe` block").
pub(super) fn message(shown: &str, family: Family, ctx: &str) -> String {
    format!("{shown} {}; {}", family.hazard(), family.instead(ctx))
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// A path as the check sees it: its segments' names, each with the number of generic arguments
/// written on it (`HashMap::<K, V>::new` has 2 on `HashMap`).
///
/// Names are resolved only through `use` items inside the body (the macro sees nothing else of
/// the file): `use std::time::SystemTime as Clock;` makes `Clock::now()` read as
/// `std::time::SystemTime::now()`. Everything else is matched by suffix, so `SystemTime::now()`
/// is caught whatever imported `SystemTime` at the top of the file.
#[derive(Clone, Debug)]
pub(super) struct Path {
    pub segments: Vec<String>,
    pub generics: Vec<Option<usize>>,
    /// `::std::...`: never resolved through a `use`.
    pub global: bool,
}

impl Path {
    fn from_syn(path: &syn::Path) -> Path {
        Path {
            segments: path.segments.iter().map(|s| s.ident.to_string()).collect(),
            generics: path
                .segments
                .iter()
                .map(|s| match &s.arguments {
                    PathArguments::AngleBracketed(a) => Some(a.args.len()),
                    _ => None,
                })
                .collect(),
            global: path.leading_colon.is_some(),
        }
    }

    /// `<SystemTime>::now` and `<SystemTime as Trait>::now` read as `SystemTime::now`.
    fn from_expr_path(e: &ExprPath) -> Path {
        let mut path = Path::from_syn(&e.path);
        if let Some(qself) = &e.qself
            && let syn::Type::Path(ty) = &*qself.ty
        {
            let mut front = Path::from_syn(&ty.path);
            front.segments.extend(path.segments.drain(qself.position..));
            front.generics.extend(path.generics.drain(qself.position..));
            path = front;
        }
        path
    }

    /// How the user wrote it, without generic arguments: `rand::random`.
    fn written(&self) -> String {
        let joined = self.segments.join("::");
        if self.global {
            format!("::{joined}")
        } else {
            joined
        }
    }

    fn is(&self, name: &str) -> bool {
        self.segments.len() == 1 && self.segments[0] == name
    }

    fn ends_with(&self, suffix: &[&str]) -> bool {
        self.segments.len() >= suffix.len()
            && self.segments[self.segments.len() - suffix.len()..]
                .iter()
                .zip(suffix)
                .all(|(a, b)| a == b)
    }

    fn starts_with(&self, root: &str) -> bool {
        self.segments.len() >= 2 && self.segments[0] == root
    }

    fn has(&self, name: &str) -> bool {
        self.segments.iter().any(|s| s == name)
    }

    fn last(&self) -> &str {
        self.segments.last().map_or("", String::as_str)
    }

    /// The item named after module `module` in this path, if the module is the standard one:
    /// either qualified by one of `roots` (`std::thread::spawn`: any item), or written first
    /// (`thread::spawn`, as after `use std::thread;`: only the items in `known`, since a
    /// first segment like `task` or `fs` may well be a module of the user's own crate).
    fn member_of(&self, roots: &[&str], module: &str, known: &[&str]) -> Option<&str> {
        let s = &self.segments;
        (0..s.len().saturating_sub(1)).find_map(|i| {
            if s[i] != module {
                return None;
            }
            let member = s[i + 1].as_str();
            let qualified = i > 0 && roots.contains(&s[i - 1].as_str());
            let first_and_known = i == 0 && known.contains(&member);
            (qualified || first_and_known).then_some(member)
        })
    }
}

/// Whether a path is written in call position (`f(..)`) or as a value (`f`, `T::f` passed along).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Call,
    Value,
}

/// The names a bare call (`f(..)`, one segment, not a local of the body) is taken to be: the
/// free functions of the forbidden crates whose names would be misleading for anything else. A
/// bare call cannot be told apart from a call of the user's own function of the same name, so
/// such a function must be called with a path (`self::random()`, `crate::util::spawn()`) or
/// brought in by a `use` inside the body (`use crate::util::random;`). More common names
/// (`now`, `rng`, `var`, `join`, `select`, `timeout`, `read_to_string`) are not taken to be
/// anything when bare: write their module (`env::var`, `fs::read_to_string`) to have them checked.
const BARE: &[(&str, Family)] = &[
    ("random", Family::Randomness),
    ("thread_rng", Family::Randomness),
    ("getrandom", Family::Randomness),
    ("spawn", Family::Task),
    ("spawn_blocking", Family::Task),
    ("spawn_local", Family::Task),
    ("block_in_place", Family::Task),
    ("yield_now", Family::Task),
    ("sleep", Family::Timer),
    ("sleep_until", Family::Timer),
    ("stdin", Family::Stdin),
    ("join_all", Family::Futures),
    ("try_join_all", Family::Futures),
    ("select_all", Family::Select),
    ("select_ok", Family::Select),
];

/// What the standard items a module's name can stand for (`use std::thread;` then `thread::spawn`).
const THREAD_ITEMS: &[&str] = &[
    "spawn",
    "sleep",
    "sleep_ms",
    "sleep_until",
    "scope",
    "current",
    "park",
    "park_timeout",
    "yield_now",
    "available_parallelism",
    "Builder",
];
const TASK_ITEMS: &[&str] = &[
    "spawn",
    "spawn_blocking",
    "spawn_local",
    "block_in_place",
    "yield_now",
    "JoinSet",
    "LocalSet",
    "sleep",
];
const TIME_ITEMS: &[&str] = &[
    "sleep",
    "sleep_until",
    "timeout",
    "timeout_at",
    "interval",
    "interval_at",
];
const FS_ITEMS: &[&str] = &[
    "read",
    "read_to_string",
    "read_dir",
    "write",
    "copy",
    "rename",
    "create_dir",
    "create_dir_all",
    "remove_file",
    "remove_dir",
    "remove_dir_all",
    "metadata",
    "symlink_metadata",
    "canonicalize",
    "hard_link",
    "read_link",
    "set_permissions",
    "exists",
    "try_exists",
    "File",
    "OpenOptions",
    "DirBuilder",
];
const NET_ITEMS: &[&str] = &[
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "UnixListener",
    "UnixDatagram",
    "lookup_host",
];
/// Plain values of `std::net`: building or parsing an address touches nothing.
const NET_VALUES: &[&str] = &[
    "IpAddr",
    "Ipv4Addr",
    "Ipv6Addr",
    "SocketAddr",
    "SocketAddrV4",
    "SocketAddrV6",
    "AddrParseError",
    "Shutdown",
    "Ipv6MulticastScope",
];
const PROCESS_ITEMS: &[&str] = &["Command", "exit", "abort", "id", "Child"];
const ENV_ITEMS: &[&str] = &[
    "var",
    "vars",
    "var_os",
    "vars_os",
    "args",
    "args_os",
    "current_dir",
    "set_current_dir",
    "current_exe",
    "temp_dir",
    "home_dir",
    "set_var",
    "remove_var",
    "consts",
];
const STD: &[&str] = &["std", "core"];

/// The family of a path written in the body, if it is forbidden.
pub(super) fn classify(path: &Path, usage: Use) -> Option<Family> {
    use Family::*;
    let p = path;

    // Wall clocks. `SystemTime::UNIX_EPOCH`, `Duration` and `Instant` as a type are fine: only
    // reading the current time is not.
    const CLOCKS: &[&[&str]] = &[
        &["SystemTime", "now"],
        &["Instant", "now"],
        &["Utc", "now"],
        &["Local", "now"],
        &["Utc", "today"],
        &["Local", "today"],
        &["OffsetDateTime", "now_utc"],
        &["OffsetDateTime", "now_local"],
        &["UtcDateTime", "now"],
        &["Timestamp", "now"],
        &["Zoned", "now"],
    ];
    if CLOCKS.iter().any(|c| p.ends_with(c)) {
        return Some(WallClock);
    }

    // Randomness.
    if p.ends_with(&["Uuid", "new_v4"])
        || p.ends_with(&["Uuid", "now_v7"])
        || p.ends_with(&["Uuid", "now_v6"])
        || p.ends_with(&["Uuid", "now_v1"])
        || p.ends_with(&["Ulid", "new"])
    {
        return Some(RandomId);
    }
    const RAND_FNS: &[&str] = &[
        "random",
        "rng",
        "thread_rng",
        "random_range",
        "random_bool",
        "random_ratio",
        "random_iter",
    ];
    if p.segments.len() >= 2
        && p.segments[p.segments.len() - 2] == "rand"
        && RAND_FNS.contains(&p.last())
    {
        return Some(Randomness);
    }
    if (p.segments.len() >= 2 && p.last() == "thread_rng")
        || p.has("OsRng")
        || (p.segments.len() >= 2 && p.has("ThreadRng"))
        || (p.segments.len() >= 2 && matches!(p.last(), "from_entropy" | "from_os_rng"))
        || p.starts_with("getrandom")
        || p.starts_with("fastrand")
    {
        return Some(Randomness);
    }
    if p.has("RandomState") {
        return Some(RandomState);
    }

    // Default-hasher maps built by the constructors that only exist for `RandomState`, or with
    // a turbofish that leaves the hasher out.
    if let Some(i) = p
        .segments
        .iter()
        .position(|s| s == "HashMap" || s == "HashSet")
        && i + 1 < p.segments.len()
    {
        let full = if p.segments[i] == "HashMap" { 3 } else { 2 };
        let ctor = p.segments[i + 1].as_str();
        let fixes_hasher = matches!(ctor, "new" | "with_capacity" | "from");
        let turbofish_default =
            matches!(ctor, "default" | "from_iter") && p.generics[i].is_some_and(|n| n < full);
        if fixes_hasher || turbofish_default {
            return Some(HashOrder);
        }
    }

    // Threads.
    if let Some(item) = p.member_of(STD, "thread", THREAD_ITEMS) {
        return Some(if item == "sleep" || item == "sleep_ms" {
            BlockingSleep
        } else {
            Thread
        });
    }
    if p.starts_with("rayon") {
        return Some(Thread);
    }

    // Tasks and in-memory timers.
    if p.ends_with(&["tokio", "spawn"]) || p.ends_with(&["smol", "spawn"]) {
        return Some(Task);
    }
    if let Some(item) = p.member_of(&["tokio", "async_std"], "task", TASK_ITEMS) {
        return Some(if item == "sleep" { Timer } else { Task });
    }
    if p.member_of(&["tokio"], "runtime", &[]).is_some() || p.has("JoinSet") || p.has("LocalSet") {
        return Some(Task);
    }
    if let Some(item) = p.member_of(&["tokio", "async_std"], "time", TIME_ITEMS) {
        match item {
            "Duration" | "Instant" | "error" | "MissedTickBehavior" => {}
            "timeout" | "timeout_at" => return Some(Timeout),
            "interval" | "interval_at" => return Some(Interval),
            _ => return Some(Timer),
        }
    }
    if p.starts_with("futures_timer") {
        return Some(Timer);
    }

    // Future combinators.
    if [
        "futures",
        "futures_util",
        "futures_lite",
        "futures_concurrency",
    ]
    .iter()
    .any(|r| p.starts_with(r))
        || p.has("FuturesUnordered")
        || p.has("FuturesOrdered")
    {
        return Some(if p.last().starts_with("select") {
            Select
        } else {
            Futures
        });
    }

    // I/O and the environment.
    if p.member_of(&["std", "tokio", "async_std", "smol"], "fs", FS_ITEMS)
        .is_some()
        || p.starts_with("fs_err")
        || ["open", "create", "create_new", "options"]
            .iter()
            .any(|f| p.ends_with(&["File", f]))
        || p.ends_with(&["OpenOptions", "new"])
    {
        return Some(FileSystem);
    }
    if let Some(item) = p.member_of(&["std", "tokio", "async_std", "smol"], "net", NET_ITEMS)
        && !NET_VALUES.contains(&item)
    {
        return Some(Network);
    }
    if NET_ITEMS[..6]
        .iter()
        .any(|t| p.segments.len() >= 2 && p.segments[..p.segments.len() - 1].iter().any(|s| s == t))
        || p.ends_with(&["tokio", "net", "lookup_host"])
        || p.starts_with("reqwest")
        || p.starts_with("ureq")
    {
        return Some(Network);
    }
    if p.member_of(&["std", "tokio", "async_std"], "process", PROCESS_ITEMS)
        .is_some()
    {
        return Some(Process);
    }
    if p.member_of(STD, "env", ENV_ITEMS).is_some()
        || p.starts_with("dotenvy")
        || p.starts_with("dotenv")
    {
        return Some(Environment);
    }
    if p.ends_with(&["io", "stdin"]) {
        return Some(Stdin);
    }

    // Bare calls.
    if usage == Use::Call && p.segments.len() == 1 && !p.global {
        return BARE
            .iter()
            .find(|(name, _)| p.is(name))
            .map(|&(_, family)| family);
    }
    None
}

/// The family of a macro invocation's path, if the macro itself is forbidden.
pub(super) fn classify_macro(path: &Path) -> Option<Family> {
    let runtime_or_bare = path.segments.len() == 1
        || [
            "tokio",
            "futures",
            "futures_util",
            "futures_lite",
            "std",
            "core",
        ]
        .contains(&path.segments[0].as_str());
    match path.last() {
        "select" | "select_biased" if runtime_or_bare => Some(Family::Select),
        "join" | "try_join" if runtime_or_bare => Some(Family::Join),
        "pending" | "poll" if path.starts_with("futures") || path.starts_with("futures_util") => {
            Some(Family::Futures)
        }
        "thread_local" | "task_local" => Some(Family::ThreadLocal),
        _ => None,
    }
}

/// Macros whose arguments are not code that runs: looking inside them would only find false
/// positives (`stringify!(SystemTime::now())` is a string).
const INERT_MACROS: &[&str] = &[
    "stringify",
    "concat",
    "include",
    "include_str",
    "include_bytes",
    "env",
    "option_env",
    "line",
    "column",
    "file",
    "module_path",
    "cfg",
    "compile_error",
    "concat_idents",
];

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

/// The names bound by patterns and nested functions anywhere in the body: a bare call of one of
/// them (`let spawn = |x| ..; spawn(1)`) calls the user's own code, not a forbidden function.
/// Also the locals bound to a reading of the workflow's clock (`let placed = ctx.now();`), on
/// which `.elapsed()` reads the wall clock.
struct Locals {
    ctx: String,
    names: BTreeSet<String>,
    clock_readings: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for Locals {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        let pat = match &local.pat {
            syn::Pat::Type(t) => &*t.pat,
            pat => pat,
        };
        if let (syn::Pat::Ident(name), Some(init)) = (pat, &local.init)
            && is_ctx_now(&init.expr, &self.ctx)
        {
            self.clock_readings.insert(name.ident.to_string());
        }
        syn::visit::visit_local(self, local);
    }

    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.names.insert(pat.ident.to_string());
        syn::visit::visit_pat_ident(self, pat);
    }
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.names.insert(item.sig.ident.to_string());
        syn::visit::visit_item_fn(self, item);
    }
}

struct Checker<'a> {
    ctx: String,
    hatches: &'a EscapeHatches,
    /// Numbers the nodes of the body as the escape hatches did; nodes parsed out of macro
    /// arguments are not part of that numbering (see `in_macro`).
    ids: NodeIds,
    /// Depth of code parsed from a macro invocation's tokens.
    in_macro: usize,
    /// Depth of nodes covered by an escape hatch (or an `#[activity]` item): nothing is reported.
    muted: usize,
    /// `use` items of the enclosing blocks, innermost last: (name, full path).
    uses: Vec<Vec<(String, Vec<String>)>>,
    locals: BTreeSet<String>,
    /// Locals bound to `ctx.now()`.
    clock_readings: BTreeSet<String>,
    /// The path of the call being visited, already checked as a call.
    callee: Option<*const ExprPath>,
    /// Inside the initializer of a `let` whose type already reported a default-hasher map: its
    /// constructor is the same mistake, reported once.
    typed_map: usize,
    /// How many default-hasher map types were found so far (reported or muted).
    map_types: usize,
    cx: &'a Ctxt,
}

impl Checker<'_> {
    fn report(&mut self, tokens: impl ToTokens, shown: &str, family: Family) {
        if self.muted == 0 {
            self.cx.spanned(tokens, message(shown, family, &self.ctx));
        }
    }

    /// Enters a node an escape hatch may have covered (nodes parsed out of macro arguments are
    /// not numbered: the hatches cannot be written there).
    fn enter(&mut self) -> bool {
        let covered = self.in_macro == 0 && self.hatches.covers(self.ids.next());
        if covered {
            self.muted += 1;
        }
        covered
    }

    fn leave(&mut self, covered: bool) {
        if covered {
            self.muted -= 1;
        }
    }

    /// Replaces a first segment brought in by a `use` of the body with the path it stands for.
    fn resolve(&self, mut path: Path) -> Path {
        for _ in 0..8 {
            if path.global || path.segments.is_empty() {
                break;
            }
            let first = &path.segments[0];
            let Some(full) = self
                .uses
                .iter()
                .rev()
                .flat_map(|frame| frame.iter().rev())
                .find(|(name, _)| name == first)
            else {
                break;
            };
            let full = full.1.clone();
            if full.len() == 1 && &full[0] == first {
                break;
            }
            // The generic arguments written on the alias belong to the last segment it stands for.
            let on_alias = path.generics[0];
            let n = full.len();
            path.segments.splice(0..1, full);
            path.generics
                .splice(0..1, std::iter::repeat_n(None, n - 1).chain([on_alias]));
        }
        path
    }

    /// Checks a path written in the body; `tokens` is what an error spans.
    fn check_path(&mut self, written: Path, usage: Use, tokens: impl ToTokens, suffix: &str) {
        if usage == Use::Call
            && written.segments.len() == 1
            && self.locals.contains(&written.segments[0])
        {
            return;
        }
        let resolved = self.resolve(written.clone());
        let Some(family) = classify(&resolved, usage) else {
            return;
        };
        if family == Family::HashOrder && self.typed_map > 0 {
            return;
        }
        let shown = if resolved.segments != written.segments {
            format!("`{}{suffix}` (`{}`)", written.written(), resolved.written())
        } else {
            format!("`{}{suffix}`", written.written())
        };
        self.report(tokens, &shown, family);
    }

    /// Checks a type for maps and sets left with the default hasher, and for `RandomState`.
    fn check_type_path(&mut self, ty: &syn::TypePath) {
        if ty.qself.is_some() {
            return;
        }
        let Some(last) = ty.path.segments.last() else {
            return;
        };
        let args = match &last.arguments {
            PathArguments::AngleBracketed(a) => a
                .args
                .iter()
                .filter(|a| matches!(a, GenericArgument::Type(_)))
                .count(),
            _ => 0,
        };
        let name = last.ident.to_string();
        let family = match name.as_str() {
            "HashMap" if args < 3 => Family::HashOrder,
            "HashSet" if args < 2 => Family::HashOrder,
            "RandomState" => Family::RandomState,
            _ => return,
        };
        let shown = match family {
            Family::HashOrder if args == 0 => format!("`{name}`"),
            Family::HashOrder => format!("`{name}<{}>`", vec!["_"; args].join(", ")),
            _ => format!("`{name}`"),
        };
        if family == Family::HashOrder {
            self.map_types += 1;
        }
        self.report(ty, &shown, family);
    }

    fn check_method_call(&mut self, call: &syn::ExprMethodCall) {
        let method = call.method.to_string();
        match method.as_str() {
            // `ctx.now().elapsed()` and `UNIX_EPOCH.elapsed()` subtract from the wall clock.
            "elapsed" => {
                let on_ctx_clock = is_ctx_now(&call.receiver, &self.ctx)
                    || matches!(&*call.receiver, Expr::Path(p)
                        if p.qself.is_none() && p.path.get_ident().is_some_and(|i| self.clock_readings.contains(&i.to_string())));
                let on_epoch = matches!(&*call.receiver, Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "UNIX_EPOCH"));
                if on_ctx_clock || on_epoch {
                    let shown =
                        format!("`{}`", call.to_token_stream().to_string().replace(' ', ""));
                    self.report(call, &shown, Family::Elapsed);
                }
            }
            // `Command::new(..).output()`: `Command` alone is too common a name of one's own to
            // be taken for `std::process::Command`, but running it gives it away.
            "output" | "status" | "spawn" => {
                if let Some(root) = chain_root(&call.receiver)
                    && let Expr::Call(ctor) = root
                    && let Expr::Path(p) = &*ctor.func
                {
                    let path = self.resolve(Path::from_expr_path(p));
                    if path.ends_with(&["Command", "new"]) && classify(&path, Use::Call).is_none() {
                        let shown = format!("`{}(..).{method}()`", path.written());
                        self.report(ctor, &shown, Family::Process);
                    }
                }
            }
            // DNS resolution.
            "to_socket_addrs" => {
                let shown = "`to_socket_addrs()`".to_string();
                let method = &call.method;
                self.report(quote!(#method), &shown, Family::Network);
            }
            _ => {}
        }
    }

    // -- Macro invocations ---------------------------------------------------------------------

    fn check_macro(&mut self, mac: &syn::Macro) {
        let path = self.resolve(Path::from_syn(&mac.path));
        if let Some(family) = classify_macro(&path) {
            let shown = format!("`{}!`", Path::from_syn(&mac.path).written());
            let bang = &mac.bang_token;
            let written = &mac.path;
            self.report(quote!(#written #bang), &shown, family);
        }
        if INERT_MACROS.contains(&path.last()) {
            return;
        }
        self.in_macro += 1;
        self.check_macro_tokens(mac);
        self.in_macro -= 1;
    }

    /// Looks inside a macro's arguments: as expressions where they parse as such (`format!`,
    /// `println!`, `vec!`, `assert!`...), as statements, and otherwise as plain tokens.
    fn check_macro_tokens(&mut self, mac: &syn::Macro) {
        if let Ok(exprs) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
            return;
        }
        if let Ok((elem, _, len)) = mac.parse_body_with(|input: syn::parse::ParseStream| {
            Ok((
                input.parse::<Expr>()?,
                input.parse::<Token![;]>()?,
                input.parse::<Expr>()?,
            ))
        }) {
            self.visit_expr(&elem);
            self.visit_expr(&len);
            return;
        }
        if let Ok(stmts) = mac.parse_body_with(syn::Block::parse_within) {
            let block = syn::Block {
                brace_token: Default::default(),
                stmts,
            };
            self.visit_block(&block);
            return;
        }
        self.scan_tokens(mac.tokens.clone());
    }

    /// The last resort for macro arguments that are not Rust syntax (`tokio::select!` arms,
    /// `matches!` patterns, `tracing` fields): finds paths, `unsafe {`, `async {` / `async |`,
    /// `static mut` and nested macro invocations in the raw tokens.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            let prev = i.checked_sub(1).map(|j| &trees[j]);
            match &trees[i] {
                TokenTree::Group(g) => {
                    self.scan_tokens(g.stream());
                    i += 1;
                }
                // A method, a field, or a function being defined: not a path.
                TokenTree::Ident(_) if is_punct(prev, '.') || is_ident(prev, "fn") => i += 1,
                TokenTree::Ident(word)
                    if word == "unsafe" && is_group(trees.get(i + 1), Delimiter::Brace) =>
                {
                    self.report(word, "an `unsafe` block", Family::Unsafe);
                    i += 1;
                }
                TokenTree::Ident(word) if word == "async" => {
                    let mut j = i + 1;
                    if is_ident(trees.get(j), "move") {
                        j += 1;
                    }
                    if is_group(trees.get(j), Delimiter::Brace) {
                        let tokens: TokenStream = trees[i..j].iter().cloned().collect();
                        self.report(tokens, "an `async` block", Family::AsyncBlock);
                    } else if is_punct(trees.get(j), '|') {
                        let tokens: TokenStream = trees[i..=j].iter().cloned().collect();
                        self.report(tokens, "an `async` closure", Family::AsyncBlock);
                    }
                    i = j;
                }
                TokenTree::Ident(word) if word == "static" && is_ident(trees.get(i + 1), "mut") => {
                    let tokens: TokenStream = trees[i..i + 2].iter().cloned().collect();
                    self.report(tokens, "`static mut`", Family::StaticMut);
                    i += 2;
                }
                TokenTree::Ident(_) => i = self.scan_path(&trees, i, false),
                TokenTree::Punct(p)
                    if p.as_char() == ':'
                        && p.spacing() == Spacing::Joint
                        && is_punct(trees.get(i + 1), ':')
                        && matches!(trees.get(i + 2), Some(TokenTree::Ident(_))) =>
                {
                    i = self.scan_path(&trees, i + 2, true);
                }
                _ => i += 1,
            }
        }
    }

    /// Reads the path starting at `trees[start]` (an identifier) and checks it; returns the
    /// index after it.
    fn scan_path(&mut self, trees: &[TokenTree], start: usize, global: bool) -> usize {
        let mut path = Path {
            segments: Vec::new(),
            generics: Vec::new(),
            global,
        };
        let mut i = start;
        let first = if global { start - 2 } else { start };
        while let Some(TokenTree::Ident(seg)) = trees.get(i) {
            path.segments.push(seg.to_string());
            i += 1;
            // `::<..>` on this segment.
            if is_path_sep(trees, i) && is_punct(trees.get(i + 2), '<') {
                let (count, end) = generic_args(trees, i + 2);
                path.generics.push(Some(count));
                i = end;
            } else {
                path.generics.push(None);
            }
            if is_path_sep(trees, i) && matches!(trees.get(i + 2), Some(TokenTree::Ident(_))) {
                i += 2;
            } else {
                break;
            }
        }
        let path_tokens: TokenStream = trees[first..i].iter().cloned().collect();
        match trees.get(i) {
            // A macro invocation: `name!(..)`.
            Some(TokenTree::Punct(p)) if p.as_char() == '!' && !is_punct(trees.get(i + 1), '=') => {
                let resolved = self.resolve(path.clone());
                if let Some(family) = classify_macro(&resolved) {
                    let shown = format!("`{}!`", path.written());
                    self.report(quote!(#path_tokens #p), &shown, family);
                }
                if INERT_MACROS.contains(&resolved.last()) {
                    // Skip the arguments too.
                    return i + 2;
                }
                i + 1
            }
            // A type with generic arguments: `HashMap<K, V>`.
            Some(TokenTree::Punct(p))
                if p.as_char() == '<' && matches!(path.last(), "HashMap" | "HashSet") =>
            {
                let (count, end) = generic_args(trees, i);
                let full = if path.last() == "HashMap" { 3 } else { 2 };
                if count < full {
                    let tokens: TokenStream = trees[first..end].iter().cloned().collect();
                    let shown = format!("`{}<{}>`", path.last(), vec!["_"; count].join(", "));
                    self.report(tokens, &shown, Family::HashOrder);
                }
                end
            }
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
                let (tokens, suffix) = if g.stream().is_empty() {
                    (quote!(#path_tokens #g), "()")
                } else {
                    (path_tokens, "(..)")
                };
                self.check_path(path, Use::Call, tokens, suffix);
                i
            }
            _ => {
                self.check_path(path, Use::Value, path_tokens, "");
                i
            }
        }
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        // A `use` in a block is in scope in the whole block, before and after it.
        let mut frame = Vec::new();
        for stmt in &block.stmts {
            if let Stmt::Item(syn::Item::Use(u)) = stmt {
                flatten_use(&u.tree, &mut Vec::new(), &mut frame);
            }
        }
        self.uses.push(frame);
        syn::visit::visit_block(self, block);
        self.uses.pop();
    }

    fn visit_stmt(&mut self, stmt: &'ast Stmt) {
        let covered = self.enter();
        syn::visit::visit_stmt(self, stmt);
        self.leave(covered);
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        let covered = self.enter();
        syn::visit::visit_arm(self, arm);
        self.leave(covered);
    }

    fn visit_expr(&mut self, expr: &'ast Expr) {
        let covered = self.enter();
        match expr {
            Expr::Call(call) => {
                if let Expr::Path(func) = &*call.func {
                    let (tokens, suffix) = if call.args.is_empty() {
                        (call.to_token_stream(), "()")
                    } else {
                        (func.to_token_stream(), "(..)")
                    };
                    self.check_path(Path::from_expr_path(func), Use::Call, tokens, suffix);
                    self.callee = Some(func as *const ExprPath);
                }
            }
            Expr::MethodCall(call) => self.check_method_call(call),
            Expr::Unsafe(u) => {
                let token = &u.unsafe_token;
                self.report(token, "an `unsafe` block", Family::Unsafe);
            }
            Expr::Async(a) => {
                let (token, capture) = (&a.async_token, &a.capture);
                self.report(
                    quote!(#token #capture),
                    "an `async` block",
                    Family::AsyncBlock,
                );
            }
            Expr::Closure(c) if c.asyncness.is_some() => {
                let (asyncness, capture, or1, inputs, or2) = (
                    &c.asyncness,
                    &c.capture,
                    &c.or1_token,
                    &c.inputs,
                    &c.or2_token,
                );
                self.report(
                    quote!(#asyncness #capture #or1 #inputs #or2),
                    "an `async` closure",
                    Family::AsyncBlock,
                );
            }
            _ => {}
        }
        syn::visit::visit_expr(self, expr);
        self.leave(covered);
    }

    fn visit_expr_path(&mut self, e: &'ast ExprPath) {
        if self.callee == Some(e as *const ExprPath) {
            self.callee = None;
        } else {
            self.check_path(Path::from_expr_path(e), Use::Value, e, "");
        }
        syn::visit::visit_expr_path(self, e);
    }

    fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
        self.check_type_path(ty);
        syn::visit::visit_type_path(self, ty);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // `let m: HashMap<K, V> = HashMap::new();` is one mistake: report it on the type.
        for attr in &local.attrs {
            self.visit_attribute(attr);
        }
        let before = self.map_types;
        self.visit_pat(&local.pat);
        let typed_map = self.map_types > before;
        if let Some(init) = &local.init {
            self.typed_map += usize::from(typed_map);
            self.visit_expr(&init.expr);
            self.typed_map -= usize::from(typed_map);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if let syn::StaticMutability::Mut(mutability) = &item.mutability {
            let (token, name) = (&item.static_token, &item.ident);
            self.report(
                quote!(#token #mutability #name),
                &format!("`static mut {name}`"),
                Family::StaticMut,
            );
        }
        syn::visit::visit_item_static(self, item);
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        // An activity defined inside the body is where I/O belongs.
        let activity = item.attrs.iter().any(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "activity")
        });
        if activity {
            self.muted += 1;
        }
        syn::visit::visit_item_fn(self, item);
        if activity {
            self.muted -= 1;
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.check_macro(mac);
        syn::visit::visit_macro(self, mac);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `use a::b::{c, d as e, f::self}` as (name in scope, full path) pairs; globs name nothing.
fn flatten_use(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) if n.ident == "self" => {
            if let Some(last) = prefix.last() {
                out.push((last.clone(), prefix.clone()));
            }
        }
        UseTree::Name(n) => {
            let mut full = prefix.clone();
            full.push(n.ident.to_string());
            out.push((n.ident.to_string(), full));
        }
        UseTree::Rename(r) => {
            let mut full = prefix.clone();
            if r.ident != "self" {
                full.push(r.ident.to_string());
            }
            if r.rename != "_" {
                out.push((r.rename.to_string(), full));
            }
        }
        UseTree::Group(g) => {
            for tree in &g.items {
                flatten_use(tree, prefix, out);
            }
        }
        UseTree::Glob(_) => {}
    }
}

fn is_path_named(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

/// `ctx.now()`.
fn is_ctx_now(expr: &Expr, ctx: &str) -> bool {
    matches!(expr, Expr::MethodCall(m) if m.method == "now" && m.args.is_empty() && is_path_named(&m.receiver, ctx))
}

/// The start of a method chain: `Command::new("ls")` in `Command::new("ls").arg("-l").output()`.
fn chain_root(mut expr: &Expr) -> Option<&Expr> {
    loop {
        match expr {
            Expr::MethodCall(m) => expr = &m.receiver,
            Expr::Paren(p) => expr = &p.expr,
            Expr::Reference(r) => expr = &r.expr,
            Expr::Call(_) => return Some(expr),
            _ => return None,
        }
    }
}

fn is_punct(tree: Option<&TokenTree>, c: char) -> bool {
    matches!(tree, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn is_ident(tree: Option<&TokenTree>, word: &str) -> bool {
    matches!(tree, Some(TokenTree::Ident(i)) if i == word)
}

fn is_group(tree: Option<&TokenTree>, delimiter: Delimiter) -> bool {
    matches!(tree, Some(TokenTree::Group(g)) if g.delimiter() == delimiter)
}

/// `::` at `trees[i]`.
fn is_path_sep(trees: &[TokenTree], i: usize) -> bool {
    matches!(trees.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && is_punct(trees.get(i + 1), ':')
}

/// Counts the top-level arguments of the `<..>` opening at `trees[open]`; returns the count and
/// the index after the closing `>`.
fn generic_args(trees: &[TokenTree], open: usize) -> (usize, usize) {
    let mut depth = 0usize;
    let mut count = 0usize;
    let mut empty = true;
    let mut i = open;
    while let Some(tree) = trees.get(i) {
        match tree {
            TokenTree::Punct(p) if p.as_char() == '<' => {
                depth += 1;
                if depth > 1 {
                    empty = false;
                }
            }
            // `->` inside `Fn(A) -> B` is not a closing bracket.
            TokenTree::Punct(p)
                if p.as_char() == '>' && !is_punct(i.checked_sub(1).map(|j| &trees[j]), '-') =>
            {
                depth -= 1;
                if depth == 0 {
                    return (if empty { 0 } else { count + 1 }, i + 1);
                }
            }
            TokenTree::Punct(p) if p.as_char() == ',' && depth == 1 => {
                count += 1;
                empty = true;
                i += 1;
                continue;
            }
            _ => empty = false,
        }
        i += 1;
    }
    (if empty { count } else { count + 1 }, i)
}
