//! The README's first example is `examples/readme.rs`, and its metrics example
//! `examples/metrics.rs`, which `cargo test` compiles: they must not drift apart.

#[test]
fn the_first_readme_example_is_examples_readme_rs() {
    let readme = include_str!("../README.md");
    // The block's fence may carry rustdoc attributes (`rust,no_run`): the README is also the
    // crate docs of workflow-rt, whose doctests compile it.
    let fence = readme.find("```rust").expect("the README has a Rust block");
    let start = fence + readme[fence..].find('\n').expect("the fence ends its line") + 1;
    let end = start + readme[start..].find("```").expect("the block ends");
    let example = include_str!("../examples/readme.rs");
    assert_eq!(
        &readme[start..end],
        example,
        "the README's first Rust block and examples/readme.rs differ: change both"
    );
}

/// The README's Prometheus example is `examples/metrics.rs`, which `cargo test` compiles and
/// `tests/examples.rs` runs. Its fence says `rs`, not `rust`: rustdoc, which compiles the
/// README as workflow-rt's docs, leaves it alone (workflow-rt does not depend on the exporter),
/// and it is still shown as Rust.
#[test]
fn the_readme_metrics_example_is_examples_metrics_rs() {
    let readme = include_str!("../README.md");
    let section = readme
        .find("## Tracing and metrics")
        .expect("the README has the section");
    let fence = section
        + readme[section..]
            .find("```rs\n")
            .expect("the section has the example");
    let start = fence + "```rs\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    assert_eq!(
        &readme[start..end],
        include_str!("../examples/metrics.rs"),
        "the README's metrics example and examples/metrics.rs differ: change both"
    );
}
