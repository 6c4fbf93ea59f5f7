//! Names that look like forbidden ones but are the user's own, and the context's own durable
//! operations: no determinism error.

use std::collections::BTreeMap;
use std::time::Duration;

use workflow_rt::prelude::*;

mod my {
    pub fn random_name() -> String {
        "blue-fox".to_string()
    }
    pub fn random() -> u64 {
        4
    }
}

mod util {
    pub fn spawn(job: u64) -> u64 {
        job + 1
    }
}

/// A clock of the user's own: `clock.now()` is a method, not a wall clock.
struct Clock {
    now: u64,
}

impl Clock {
    fn now(&self) -> u64 {
        self.now
    }
}

/// A command of the domain, not a process.
struct Command(u64);

impl Command {
    fn new(id: u64) -> Self {
        Command(id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    /// A field called `now`.
    pub now: u64,
}

#[workflow]
async fn name_alikes(ctx: WorkflowCtx, order: Order) -> Result<u64, WorkflowError> {
    let name: String = my::random_name();
    let four: u64 = my::random();
    let bumped: u64 = util::spawn(order.id);
    let clock = Clock { now: order.now };
    let read: u64 = clock.now();
    let cmd: u64 = Command::new(order.id).0;
    let sleep: Duration = Duration::from_secs(1);
    ctx.sleep(sleep).await;
    let started = ctx.now();
    let draw: u64 = ctx.random();
    let id: String = ctx.uuid();
    let spawn = |x: u64| x * 2;
    let doubled = spawn(bumped);
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    totals.insert(name, four + read + cmd + doubled + draw % 2);
    ctx.sleep(sleep).await;
    let waited = ctx.now().duration_since(started).map(|d| d.as_secs()).unwrap_or(0);
    Ok(totals.values().sum::<u64>() + id.len() as u64 + waited)
}

/// The first random draw of a workflow: the same in every workflow with the same id.
#[workflow]
async fn first_draw(ctx: WorkflowCtx) -> u64 {
    ctx.random()
}

fn main() {
    use workflow_rt::testing::TestRun;
    let order = Order { id: 3, now: 10 };
    let run = |snapshots: bool| {
        TestRun::new(name_alikes, "n-1", order.clone())
            .snapshot_every_await(snapshots)
            .run()
            .unwrap()
    };
    let (straight, restored) = (run(false), run(true));
    assert_eq!((&straight.output, &straight.commands), (&restored.output, &restored.commands));
    // The workflow's first random draw, from its generator seeded by its id.
    let draw = TestRun::new(first_draw, "n-1", ()).run().unwrap().output;
    // 4 + now 10 + id 3 + spawn(4) * 2 = 8 + draw % 2; + a hyphenated uuid (36) + 1 s waited
    assert_eq!(straight.output, Ok(4 + 10 + 3 + 8 + draw % 2 + 36 + 1));
}
