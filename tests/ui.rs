//! Compile tests of the macros: every error they emit has a case under `ui/fail/<topic>/` with its
//! expected `.stderr`; `ui/pass/` holds workflows that must compile. Regenerate the `.stderr`
//! files with `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/**/*.rs");
}
