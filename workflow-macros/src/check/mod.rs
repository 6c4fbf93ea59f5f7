//! Checks of a workflow body, run before the body is lowered. One file per family:
//! `determinism` (what a step may not do, because it must issue the same commands when it runs
//! again after a crash) and `escape_hatch` (`#[nondeterministic(reason = "...")]`, the way out
//! for a justified exception). The user-facing description of the checks is `determinism.md`
//! next to this file, written to be included in the rustdoc of `#[workflow]`:
//! `#[doc = include_str!("check/determinism.md")]`.
//!
//! # How the driver calls them
//!
//! ```text
//! // `block` is the workflow's body as parsed, `ctx` the name of its context parameter, `cx`
//! // the driver's error accumulator.
//! let hatches = check::strip_escape_hatches(&cx, &mut block);
//! check::check_body(&cx, &block, &ctx, &hatches);
//! // ... lower `block` (stripped: no `#[nondeterministic]` left for rustc to reject), and emit
//! // the stripped block in the fallback item too when there are errors.
//! ```
//!
//! Both calls report into the `Ctxt`; neither stops at the first error, and the body needs no
//! changes for lowering once stripped.
//!
//! # Change from the signatures first agreed
//!
//! `strip_escape_hatches` returns an [`EscapeHatches`] where `Vec<proc_macro2::Span>` was
//! planned, and `check_body` takes `&EscapeHatches` where `&[Span]` was planned. Spans cannot
//! say which node a hatch covered: `proc_macro::Span` has no equality and no position on stable
//! Rust (proc-macro2's `Span::eq`, `join` and `byte_range` are nightly-only inside a macro), and
//! comparing the text of statements would let an allowed `SystemTime::now()` excuse an identical
//! one elsewhere. An `EscapeHatches` names the covered nodes by their position in the body, which
//! is exact as long as `check_body` receives the block `strip_escape_hatches` left (unchanged in
//! between). `check_body` also honours hatches still written in the block, so calling it before
//! stripping (with `&EscapeHatches::default()`) gives the same errors. Both report into the
//! driver's [`Ctxt`] rather than returning a `Vec<syn::Error>`, like every other stage.

mod determinism;
mod escape_hatch;

#[cfg(test)]
mod tests;

use syn::visit::Visit;

use crate::ctxt::Ctxt;

/// The statements, expressions and `match` arms that escape hatches covered, by their position in
/// a pre-order walk of the body (see `escape_hatch::NodeIds`). The checks skip them.
#[derive(Debug, Default, Clone)]
pub struct EscapeHatches {
    /// Increasing node numbers.
    covered: Vec<usize>,
}

impl EscapeHatches {
    fn covers(&self, node: usize) -> bool {
        self.covered.binary_search(&node).is_ok()
    }

    fn union(&self, other: &EscapeHatches) -> EscapeHatches {
        let mut covered: Vec<usize> = self.covered.iter().chain(&other.covered).copied().collect();
        covered.sort_unstable();
        covered.dedup();
        EscapeHatches { covered }
    }
}

/// Strips every `#[nondeterministic(reason = "...")]` escape-hatch attribute from statements,
/// expressions and `match` arms of the body, returning the nodes it covered (the checks skip
/// those) and reporting an error for each attribute without a non-empty `reason` (a hatch without
/// a valid reason still covers its node, so the only error is the missing reason). A hatch written
/// inside a macro invocation's arguments is an error too: the macro, not the statement, would
/// receive it.
pub fn strip_escape_hatches(cx: &Ctxt, block: &mut syn::Block) -> EscapeHatches {
    escape_hatch::strip(cx, block)
}

/// Reports every determinism violation in a workflow body, each spanned on the offending tokens,
/// with a message naming the construct, why it breaks durability, and the durable alternative,
/// in the order they appear. `ctx` is the name of the workflow's context parameter (the messages
/// name it: "use `ctx.now()`"). Nodes in `allowed` and nodes still carrying a `#[nondeterministic]`
/// attribute are skipped.
pub fn check_body(cx: &Ctxt, block: &syn::Block, ctx: &syn::Ident, allowed: &EscapeHatches) {
    if has_escape_hatch(block) {
        // Checked before stripping: number the hatches on a stripped copy (same shape, same
        // numbering) and check that copy.
        let mut copy = block.clone();
        let stripping = Ctxt::new();
        let found = escape_hatch::strip(&stripping, &mut copy);
        // Malformed hatches are `strip_escape_hatches`'s errors, reported when the driver strips
        // the block: not twice.
        let _reported_by_strip = stripping.check();
        return determinism::check(cx, &copy, ctx, &allowed.union(&found));
    }
    determinism::check(cx, block, ctx, allowed)
}

fn has_escape_hatch(block: &syn::Block) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
            self.0 |= escape_hatch::is_hatch(attr);
        }
    }
    let mut find = Find(false);
    find.visit_block(block);
    find.0
}
