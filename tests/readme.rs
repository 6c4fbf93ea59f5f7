//! The README's first example is `examples/readme.rs`, which `cargo test` compiles: the two must
//! not drift apart.

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
