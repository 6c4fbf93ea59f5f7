//! Test support for upgrades: the layout lock, and migrations tried against every state a run
//! can be in.

use std::collections::BTreeMap;
use std::path::Path;

use super::{TestError, TestOutcome, TestRun};
use crate::snapshot::Snapshot;
use crate::versions::{Migration, MigrationError, migrate_typed};
use crate::workflow::{Description, Workflow};

/// The environment variable that makes [`check_layouts`] write the layout file instead of
/// failing (`WORKFLOW_LAYOUTS=update cargo test`), as `INSTA_UPDATE` does for insta.
pub const LAYOUTS_ENV: &str = "WORKFLOW_LAYOUTS";

/// Why [`check_layouts`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A workflow's persisted layout changed while its version did not: stored runs of that
    /// version would be stranded (parked) by the new code.
    #[error(
        "the persisted layout of workflow {workflow:?} v{version} changed without a version bump \
         (fingerprint {old:016x} -> {new:016x}):\n{diff}\nEither bump the version \
         (`#[workflow(name = {workflow:?}, version = {next})]`) and keep the old function \
         registered, so its runs finish on it, or bump it and register a migration \
         (`.migrate(old, new, ..)`); then record the new layout with {env}=update."
    )]
    Changed {
        /// The workflow.
        workflow: String,
        /// Its version, unchanged.
        version: u32,
        /// The recorded fingerprint.
        old: u64,
        /// The fingerprint of the code.
        new: u64,
        /// The lines of the description that went (`-`) and came (`+`).
        diff: String,
        /// The version to bump to.
        next: u32,
        /// [`LAYOUTS_ENV`].
        env: &'static str,
    },
    /// A workflow's layout is not in the file yet.
    #[error(
        "the layout of workflow {workflow:?} v{version} is not recorded in {file}: record it \
         with {env}=update"
    )]
    New {
        /// The workflow.
        workflow: String,
        /// Its version.
        version: u32,
        /// The layout file.
        file: String,
        /// [`LAYOUTS_ENV`].
        env: &'static str,
    },
    /// The file cannot be read or written, or is not a layout file.
    #[error("layout file {file}: {reason}")]
    File {
        /// The layout file.
        file: String,
        /// What went wrong.
        reason: String,
    },
}

const HEADER: &str = "# The persisted layouts of the released workflow versions, written by \
workflow_rt::testing::check_layouts.\n# A change here is a change of what stored runs hold: \
commit it with the version bump or migration it needs.\n";

/// The layout lock: checks the persisted layout of each workflow in `workflows` (give each
/// version's description: `&[checkout::description(), checkout_v1::description()]`) against
/// the file at `path`, a text file committed with the code that records every released layout
/// (name, version, fingerprint and the description).
///
/// It fails when a workflow's layout changed while its version did not, naming the workflow,
/// the states and variables that changed, and the two fixes ([`LayoutError::Changed`]), and when
/// a workflow version is not recorded yet ([`LayoutError::New`]). With the environment variable
/// [`LAYOUTS_ENV`] set to `update`, it records the layouts instead (keeping the ones of
/// versions no longer given: their runs may still be stored).
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::prelude::*;
/// use workflow_rt::testing::check_layouts;
///
/// #[workflow]
/// async fn nap(ctx: WorkflowCtx, secs: u64) -> u64 {
///     ctx.sleep(Duration::from_secs(secs)).await;
///     secs
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("layouts.txt");
/// // The first time, the layout is new: record it (what `WORKFLOW_LAYOUTS=update` does).
/// assert!(check_layouts(&file, &[nap::description()]).is_err());
/// workflow_rt::testing::record_layouts(&file, &[nap::description()]).unwrap();
/// check_layouts(&file, &[nap::description()]).unwrap();
/// ```
///
/// # Errors
/// As above; a file that cannot be read or parsed is [`LayoutError::File`].
pub fn check_layouts(
    path: impl AsRef<Path>,
    workflows: &[&Description],
) -> Result<(), LayoutError> {
    let path = path.as_ref();
    if std::env::var(LAYOUTS_ENV).is_ok_and(|v| v == "update") {
        return record_layouts(path, workflows);
    }
    let recorded = read_layouts(path)?;
    for d in workflows {
        match recorded.get(&(d.workflow.to_string(), d.version)) {
            None => {
                return Err(LayoutError::New {
                    workflow: d.workflow.to_string(),
                    version: d.version,
                    file: path.display().to_string(),
                    env: LAYOUTS_ENV,
                });
            }
            Some((fingerprint, _)) if *fingerprint == d.fingerprint() => {}
            Some((fingerprint, text)) => {
                return Err(LayoutError::Changed {
                    workflow: d.workflow.to_string(),
                    version: d.version,
                    old: *fingerprint,
                    new: d.fingerprint(),
                    diff: diff(text, &d.to_text()),
                    next: d.version.saturating_add(1),
                    env: LAYOUTS_ENV,
                });
            }
        }
    }
    Ok(())
}

/// Records the layouts of `workflows` in the file at `path` (replacing what it held for those
/// versions, keeping the others): what [`check_layouts`] does under `WORKFLOW_LAYOUTS=update`.
///
/// # Errors
/// [`LayoutError::File`] if the file cannot be read or written.
pub fn record_layouts(
    path: impl AsRef<Path>,
    workflows: &[&Description],
) -> Result<(), LayoutError> {
    let path = path.as_ref();
    let mut layouts = if path.exists() {
        read_layouts(path)?
    } else {
        BTreeMap::new()
    };
    for d in workflows {
        layouts.insert(
            (d.workflow.to_string(), d.version),
            (d.fingerprint(), d.to_text()),
        );
    }
    let mut out = String::from(HEADER);
    for ((name, version), (fingerprint, text)) in &layouts {
        out.push_str(&format!("\n== {name} v{version} {fingerprint:016x}\n"));
        out.push_str(text);
    }
    std::fs::write(path, out).map_err(|e| LayoutError::File {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

type Layouts = BTreeMap<(String, u32), (u64, String)>;

fn read_layouts(path: &Path) -> Result<Layouts, LayoutError> {
    let bad = |reason: String| LayoutError::File {
        file: path.display().to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(bad(e.to_string())),
    };
    let mut out = Layouts::new();
    let mut current: Option<((String, u32), u64, String)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(head) = line.strip_prefix("== ") {
            if let Some((key, fp, body)) = current.take() {
                out.insert(key, (fp, body));
            }
            let parts: Vec<&str> = head.split(' ').collect();
            let parsed = match parts.as_slice() {
                [name, version, fp] => version
                    .strip_prefix('v')
                    .and_then(|v| v.parse::<u32>().ok())
                    .zip(u64::from_str_radix(fp, 16).ok())
                    .map(|(v, fp)| ((name.to_string(), v), fp)),
                _ => None,
            };
            let Some((key, fp)) = parsed else {
                return Err(bad(format!(
                    "line {}: not a layout header: {line:?}",
                    n + 1
                )));
            };
            current = Some((key, fp, String::new()));
        } else if let Some((_, _, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            return Err(bad(format!("line {}: text before the first layout", n + 1)));
        }
    }
    if let Some((key, fp, body)) = current {
        out.insert(key, (fp, body));
    }
    Ok(out)
}

/// The lines only in `old` (`-`) and only in `new` (`+`), in order.
fn diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut out = String::new();
    for l in &old_lines {
        if !new_lines.contains(l) {
            out.push_str(&format!("  - {}\n", l.trim()));
        }
    }
    for l in &new_lines {
        if !old_lines.contains(l) {
            out.push_str(&format!("  + {}\n", l.trim()));
        }
    }
    out
}

/// One run of [`check_migration`]: a run of the old version stopped at one of its awaits,
/// migrated, and run to its end on the new version.
#[derive(Debug)]
pub struct MigratedRun<O> {
    /// Which sample input (its index).
    pub input: usize,
    /// The old state the run was stopped in.
    pub from_state: String,
    /// The new state it was migrated to.
    pub to_state: String,
    /// How the new version's run went.
    pub outcome: TestOutcome<O>,
}

/// Why [`check_migration`] failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The old version's run failed.
    #[error("the run of the old version on input {input} failed: {error}")]
    OldRun {
        /// Which sample input.
        input: usize,
        /// Its error.
        error: TestError,
    },
    /// The migration refused a state, or would lose or repeat its pending commands.
    #[error("input {input}, step {step}: {error}")]
    Migration {
        /// Which sample input.
        input: usize,
        /// The step after which the run was stopped.
        step: u32,
        /// The migration's error.
        error: Box<MigrationError>,
    },
    /// The migrated run failed on the new version.
    #[error("input {input}, migrated at state {state}: the new version's run failed: {error}")]
    NewRun {
        /// Which sample input.
        input: usize,
        /// The old state it was migrated from.
        state: String,
        /// Its error.
        error: TestError,
    },
}

/// Tries the migration `migrate` from workflow `A` to `B` against every state a run of `A` can
/// be in: runs `A` on each of `inputs` (configured by `old`: its activities and signals),
/// stops it at every await (and before its first step), migrates that snapshot as the runtime
/// would (the same check that the new state waits on the stored commands), and runs `B` from
/// there to its end (configured by `new`). Returns every migrated run with its outcome; states
/// the migration leaves on the old version ([`Migration::Stay`]) are skipped.
///
/// ```
/// use workflow_rt::prelude::*;
/// use workflow_rt::Migration;
/// use workflow_rt::testing::check_migration;
///
/// #[workflow(name = "greet")]
/// async fn greet_v1(ctx: WorkflowCtx, name: String) -> String {
///     let title: String = ctx.signal("title").await;
///     format!("Hello, {title} {name}")
/// }
///
/// #[workflow(name = "greet", version = 2)]
/// async fn greet(ctx: WorkflowCtx, name: String) -> String {
///     let polite = name.len() > 3;
///     let title: String = ctx.signal("title").await;
///     if polite { format!("Good day, {title} {name}") } else { format!("Hi, {title} {name}") }
/// }
///
/// let runs = check_migration(
///     greet_v1,
///     greet,
///     |old| match old {
///         GreetV1State::Start { name } => Migration::To(GreetState::Start { name }),
///         GreetV1State::Await1SignalTitle { name } => {
///             Migration::To(GreetState::Await1SignalTitle { polite: name.len() > 3, name })
///         }
///         other => Migration::Refuse(format!("{other:?}")),
///     },
///     vec!["Ada".to_string(), "Grace".to_string()],
///     |run| run.signal("title", "Dr".to_string()),
///     |run| run.signal("title", "Dr".to_string()),
/// )
/// .unwrap();
/// // Two inputs, each stopped before its first step and at its one await.
/// assert_eq!(runs.len(), 4);
/// assert!(runs.iter().any(|r| r.outcome.output == "Good day, Dr Grace"));
/// assert!(runs.iter().all(|r| r.input != 0 || r.outcome.output == "Hi, Dr Ada"));
/// ```
///
/// # Errors
/// The first failure: of an old run ([`UpgradeError::OldRun`]), of the migration of one state
/// ([`UpgradeError::Migration`]), or of a migrated run ([`UpgradeError::NewRun`]).
pub fn check_migration<A, B, F>(
    _from: A,
    _to: B,
    migrate: F,
    inputs: Vec<A::Input>,
    old: impl Fn(TestRun<A>) -> TestRun<A>,
    new: impl Fn(TestRun<B>) -> TestRun<B>,
) -> Result<Vec<MigratedRun<B::Output>>, UpgradeError>
where
    A: Workflow,
    B: Workflow,
    F: Fn(A::State) -> Migration<B::State>,
{
    let mut out = Vec::new();
    for (input_no, input) in inputs.into_iter().enumerate() {
        let id = format!("upgrade-{input_no}");
        let run = old(TestRun::new(_from, id.clone(), input))
            .record_snapshots(true)
            .run()
            .map_err(|error| UpgradeError::OldRun {
                input: input_no,
                error,
            })?;
        for (k, recorded) in run.snapshots.iter().enumerate() {
            let snapshot =
                Snapshot::decode(&recorded.envelope).map_err(|e| UpgradeError::OldRun {
                    input: input_no,
                    error: TestError::Decode {
                        what: format!("snapshot {}", recorded.step),
                        reason: e.to_string(),
                    },
                })?;
            // Snapshot k (after k steps) waits on the commands of the k-th await.
            let pending = k.checked_sub(1).and_then(|i| run.commands.get(i)).cloned();
            let migrated =
                migrate_typed::<A, B>(&migrate, &snapshot, pending.as_ref()).map_err(|error| {
                    UpgradeError::Migration {
                        input: input_no,
                        step: recorded.step,
                        error,
                    }
                })?;
            let Some(migrated) = migrated else { continue };
            let envelope =
                Snapshot::decode(&migrated.envelope).map_err(|e| UpgradeError::NewRun {
                    input: input_no,
                    state: migrated.from_state.clone(),
                    error: TestError::Decode {
                        what: "the migrated snapshot".into(),
                        reason: e.to_string(),
                    },
                })?;
            let outcome = new(TestRun::resume_from(_to, id.clone(), envelope, pending))
                .run()
                .map_err(|error| UpgradeError::NewRun {
                    input: input_no,
                    state: migrated.from_state.clone(),
                    error,
                })?;
            out.push(MigratedRun {
                input: input_no,
                from_state: migrated.from_state,
                to_state: migrated.to_state,
                outcome,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_what_went_and_what_came() {
        let d = diff("a\n  x: u64\nb\n", "a\n  x: u32\nb\n");
        assert_eq!(d, "  - x: u64\n  + x: u32\n");
    }

    #[test]
    fn a_layout_file_reads_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("layouts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("layouts.txt");
        std::fs::write(
            &file,
            "# c\n\n== a v2 00000000000000ff\nline one\nline two\n",
        )
        .unwrap();
        let l = read_layouts(&file).unwrap();
        assert_eq!(
            l.get(&("a".to_string(), 2)),
            Some(&(0xff, "line one\nline two\n".to_string()))
        );
        std::fs::write(&file, "junk\n").unwrap();
        assert!(matches!(read_layouts(&file), Err(LayoutError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
