//! Compile tests of the macros and of the public surface: every error the macros emit has a case
//! under `ui/fail/<topic>/` with its expected `.stderr`, and `ui/fail/surface/` holds what user
//! code must not be able to do (implement a sealed trait, call the runtime's plumbing);
//! `ui/pass/` holds workflows that must compile. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/**/*.rs");
}
