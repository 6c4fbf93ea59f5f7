//! What `#[workflow]` costs at compile time, against the same body as a plain `async fn`.
//!
//! ```text
//! cargo run --release --example compile_cost
//! cargo run --release --example compile_cost -- --sizes 10,40 --shapes straight,if --runs 3
//! ```
//!
//! For each shape (`examples/compile_cost/shapes.rs`: `straight`, `kept`, `if`, `loop`) and each
//! number of awaits, it writes two tiny crates into one workspace in a temporary directory: the
//! body as a `#[workflow]` (with `workflow-rt` by path to this workspace, and `serde`), and the
//! same body as a plain `async fn` over a context whose `activity` is ready at once. They share
//! one target directory, where an untimed warm-up builds `workflow-rt` and its dependencies.
//! Each measured build is `cargo build -p <crate>` (dev profile, `CARGO_INCREMENTAL=0`, so the
//! whole crate compiles again, as in CI) after touching its `lib.rs`; the table shows the median
//! of `--runs` builds, the workflow's and the plain function's interleaved.
//!
//! The generated lines are those of the macro's expansion pretty-printed by `prettyplease`: the
//! untimed first build of each workflow crate sets `WORKFLOW_MACROS_EXPANSION_DIR`, so that
//! `#[workflow]` writes its expansion there. "per doubling" is how much the lines grow when the
//! awaits double, from the previous size: `(lines(b) / lines(a))^(1 / log2(b / a))`, so 2 means
//! linear (a little under 2 with the fixed part), 4 quadratic.
//!
//! Options: `--sizes 10,40,160`, `--shapes straight,kept,if,loop`, `--runs 3`, `--jobs N`
//! (passed to cargo as `-j N`), `--target-dir DIR` (keep the dependencies' build between runs;
//! default: inside the temporary directory) and `--keep` (leave the temporary directory).
//! `workflow-macros`' `compile_cost_test` checks the line counts alone, on small sizes.

#[path = "compile_cost/shapes.rs"]
mod shapes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Options {
    sizes: Vec<usize>,
    shapes: Vec<String>,
    runs: usize,
    jobs: Option<usize>,
    target_dir: Option<PathBuf>,
    keep: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("compile_cost: {msg}");
    eprintln!(
        "usage: cargo run --release --example compile_cost -- [--sizes 10,40,160] \
         [--shapes straight,kept,if,loop] [--runs 3] [--jobs N] [--target-dir DIR] [--keep]"
    );
    std::process::exit(2)
}

fn parse_options() -> Options {
    let mut o = Options {
        sizes: vec![10, 40, 160],
        shapes: shapes::SHAPES.iter().map(|s| s.to_string()).collect(),
        runs: 3,
        jobs: None,
        target_dir: None,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        let number = |v: &str| -> usize {
            v.trim()
                .parse()
                .unwrap_or_else(|_| usage(&format!("not a number: {v}")))
        };
        match arg.as_str() {
            "--sizes" => {
                o.sizes = value().split(',').map(number).collect();
                if o.sizes.is_empty() || o.sizes.windows(2).any(|w| w[0] >= w[1]) {
                    usage("--sizes must be increasing");
                }
            }
            "--shapes" => {
                o.shapes = value().split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = o.shapes.iter().find(|s| shapes::body(s, 1).is_none()) {
                    usage(&format!(
                        "unknown shape {bad} (known: {:?})",
                        shapes::SHAPES
                    ));
                }
            }
            "--runs" => o.runs = number(&value()).max(1),
            "--jobs" | "-j" => o.jobs = Some(number(&value())),
            "--target-dir" => o.target_dir = Some(PathBuf::from(value())),
            "--keep" => o.keep = true,
            "--help" | "-h" => usage("the compile cost of #[workflow]"),
            _ => usage(&format!("unknown argument {arg}")),
        }
    }
    o
}

/// The temporary workspace, removed on drop unless kept.
struct Scratch {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

struct Bench {
    root: PathBuf,
    target_dir: PathBuf,
    expansion_dir: PathBuf,
    jobs: Option<usize>,
}

const WORKFLOW: &str = "cc_workflow";
const PLAIN: &str = "cc_plain";

impl Bench {
    fn setup(
        workspace: &Path,
        scratch: &Path,
        target_dir: Option<PathBuf>,
        jobs: Option<usize>,
    ) -> Bench {
        let rt = workspace.join("workflow-rt");
        write(
            &scratch.join("Cargo.toml"),
            &format!("[workspace]\nmembers = [\"{WORKFLOW}\", \"{PLAIN}\"]\nresolver = \"3\"\n"),
        );
        // The workspace's lock: the same versions of the dependencies, nothing to download.
        std::fs::copy(workspace.join("Cargo.lock"), scratch.join("Cargo.lock"))
            .expect("copy Cargo.lock");
        for name in [WORKFLOW, PLAIN] {
            write(
                &scratch.join(name).join("Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                     [dependencies]\nworkflow-rt = {{ path = {rt:?} }}\n\
                     serde = {{ version = \"1\", features = [\"derive\"] }}\n",
                    rt = rt.display().to_string()
                ),
            );
        }
        Bench {
            root: scratch.to_path_buf(),
            target_dir: target_dir.unwrap_or_else(|| scratch.join("target")),
            expansion_dir: scratch.join("expansion"),
            jobs,
        }
    }

    fn lib(&self, name: &str) -> PathBuf {
        self.root.join(name).join("src").join("lib.rs")
    }

    /// `cargo build -p name`; with the expansion written out if `expand`.
    fn build(&self, name: &str, expand: bool) -> Duration {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--quiet")
            .arg("--manifest-path")
            .arg(self.root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&self.target_dir)
            .arg("-p")
            .arg(name)
            .env("CARGO_INCREMENTAL", "0")
            .env_remove("WORKFLOW_MACROS_EXPANSION_DIR")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if let Some(j) = self.jobs {
            cmd.arg("-j").arg(j.to_string());
        }
        if expand {
            cmd.env("WORKFLOW_MACROS_EXPANSION_DIR", &self.expansion_dir);
        }
        let start = Instant::now();
        let out = cmd.output().expect("run cargo");
        let took = start.elapsed();
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            panic!("cargo build -p {name} failed in {}", self.root.display());
        }
        took
    }

    /// Touches `name`'s `lib.rs` (writes it again: a new mtime) and times its build.
    fn timed(&self, name: &str) -> Duration {
        let lib = self.lib(name);
        let text = std::fs::read(&lib).expect("read lib.rs");
        std::fs::write(&lib, text).expect("touch lib.rs");
        self.build(name, false)
    }

    /// The pretty-printed lines of the workflow `wf`'s expansion, as the last build wrote it.
    fn generated_lines(&self) -> usize {
        let path = self.expansion_dir.join("wf.rs");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no expansion at {}: {e}", path.display()));
        std::fs::remove_file(&path).expect("remove the expansion");
        let file = syn::parse_file(&text).expect("the expansion parses");
        prettyplease::unparse(&file).lines().count()
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dir");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc: unknown".into())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn main() {
    let o = parse_options();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = Scratch {
        dir: std::env::temp_dir().join(format!("workflow-compile-cost-{}", std::process::id())),
        keep: o.keep,
    };
    let _ = std::fs::remove_dir_all(&scratch.dir);
    let bench = Bench::setup(workspace, &scratch.dir, o.target_dir.clone(), o.jobs);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores{}, {}",
        cpu_model().map_or(String::new(), |m| format!(" ({m})")),
        rustc_version()
    );
    println!(
        "builds: cargo build (dev profile, CARGO_INCREMENTAL=0{}) of one crate after touching it, median of {}",
        o.jobs.map_or(String::new(), |j| format!(", -j {j}")),
        o.runs
    );

    // Warm-up, untimed: workflow-rt and its dependencies, in the shared target directory.
    let first = &o.shapes[0];
    write(
        &bench.lib(WORKFLOW),
        &shapes::workflow_crate(first, 1).expect("a shape"),
    );
    write(
        &bench.lib(PLAIN),
        &shapes::plain_crate(first, 1).expect("a shape"),
    );
    eprint!("warm-up: building workflow-rt and its dependencies ... ");
    let start = Instant::now();
    bench.build(WORKFLOW, false);
    bench.build(PLAIN, false);
    eprintln!("{:.1} s", start.elapsed().as_secs_f64());

    println!();
    println!(
        "{:<9} {:>6} {:>9} {:>12} {:>12} {:>12} {:>10}",
        "shape", "awaits", "lines", "per doubling", "workflow s", "plain s", "time ratio"
    );
    for shape in &o.shapes {
        let mut previous: Option<(usize, usize)> = None;
        for &n in &o.sizes {
            write(
                &bench.lib(WORKFLOW),
                &shapes::workflow_crate(shape, n).expect("a shape"),
            );
            write(
                &bench.lib(PLAIN),
                &shapes::plain_crate(shape, n).expect("a shape"),
            );
            // Untimed: the expansion, and a first build of each.
            bench.build(WORKFLOW, true);
            let lines = bench.generated_lines();
            bench.build(PLAIN, false);
            let (mut wf, mut plain) = (Vec::new(), Vec::new());
            for _ in 0..o.runs {
                wf.push(bench.timed(WORKFLOW));
                plain.push(bench.timed(PLAIN));
            }
            let (wf, plain) = (median(wf), median(plain));
            let per_doubling = previous.map_or("-".to_string(), |(m, l)| {
                let doublings = (n as f64 / m as f64).log2();
                format!("{:.2}", (lines as f64 / l as f64).powf(1.0 / doublings))
            });
            previous = Some((n, lines));
            println!(
                "{shape:<9} {n:>6} {lines:>9} {per_doubling:>12} {:>12.2} {:>12.2} {:>10.1}",
                wf.as_secs_f64(),
                plain.as_secs_f64(),
                wf.as_secs_f64() / plain.as_secs_f64()
            );
        }
    }
}
