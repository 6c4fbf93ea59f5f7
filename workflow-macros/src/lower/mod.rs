//! The lowering of a workflow body into a state machine.
//!
//! Stages, each in its own module: [`rename`] renames inner bindings that shadow outer ones in
//! blocks that await; [`normalize`] puts every durable await in statement position; [`cfg`]
//! builds the typed IR ([`ir`]: points, regions of verbatim statements, terminators);
//! [`liveness`] solves, by one backward dataflow, what each point reads; [`emit`] writes the
//! step function, each region once, as the arms of one dispatcher loop. `codegen` writes the
//! items around it (the state enum, the `Workflow` impl) and `describe` the description.
//!
//! The design follows rustc's coroutine lowering (`create_cases` in
//! `compiler/rustc_mir_transform/src/coroutine.rs`): each suspension point gets an entry into a
//! single shared body, and code reached from several places (after an `if` that suspends on one
//! path, a loop's head) is a point of its own rather than a copy, so the generated code grows
//! linearly with the body. Unlike MIR, the regions keep the user's statements as written, with
//! their scopes, borrows, labels and shadowing; only variables that cross a point boundary move,
//! into the state variant (across an await) or into a function-local slot whose type rustc
//! infers (across a join).

pub mod cfg;
pub mod diverge;
pub mod emit;
pub mod infer;
pub mod ir;
pub mod layout;
pub mod liveness;
pub mod normalize;
pub mod ops;
pub mod pattern;
pub mod rename;

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use syn::Block;
use syn::visit::Visit;

use crate::ctxt::Ctxt;
use ir::{AwaitSite, PointId, Program, Term, Var};
use liveness::Liveness;

pub struct Lowered {
    pub prog: Program,
    pub live: Liveness,
    /// What each await saves, in a stable order (the scope's).
    pub fields: Vec<Vec<Var>>,
    pub params: Vec<Var>,
    /// The items (`use`, `fn`, `const`, ...) of the body's lowered blocks, emitted once next to
    /// the generated function.
    pub items: Vec<syn::Item>,
}

impl Lowered {
    pub fn awaits(&self) -> &[AwaitSite] {
        &self.prog.awaits
    }
}

pub fn lower(
    cx: &Ctxt,
    ctx: &syn::Ident,
    krate: &TokenStream,
    params: Vec<Var>,
    body: Block,
) -> Option<Lowered> {
    let body_types = layout::types_defined_in(&body);
    let param_names: Vec<String> = params.iter().map(Var::name).collect();
    // The awaits as the user wrote them, for the description (before any renaming).
    let original = cfg::written_awaits(&body, ctx);
    let mut body = body;
    rename::rename_shadowing(&mut body, &param_names);
    awaits_in_closures(cx, &body);
    let mut norm = normalize::Normalizer::new(cx, ctx, krate);
    let body = norm.block(body);
    if cx.has_errors() {
        return None;
    }
    let (mut prog, items) =
        cfg::Builder::new(cx, ctx, krate, &norm.loop_items).build(params.clone(), &body);
    if cx.has_errors() {
        return None;
    }
    // Normalization keeps the awaits in source order: describe them as the user wrote them.
    if original.len() == prog.awaits.len() {
        for (a, o) in prog.awaits.iter_mut().zip(original) {
            a.text = o.text;
            a.line = o.line;
            a.span = o.span;
        }
    }
    let live = liveness::solve(&prog);

    let fields = layout::fields(cx, &prog, &live, &body_types);
    // The parameters as the state's `Start` holds them.
    let params = prog.points[prog.order[0].0]
        .scope
        .iter()
        .map(|v| prog.var(*v).clone())
        .collect();
    Some(Lowered {
        prog,
        live,
        fields,
        params,
        items,
    })
}

/// Where the code that runs from point `p` can go next: the awaits it may suspend at, and
/// whether it may complete the workflow (a `return`, a `?`, or the end of the body).
pub fn next_states(prog: &Program, p: PointId) -> (BTreeSet<usize>, bool) {
    let mut awaits = BTreeSet::new();
    let mut completes = false;
    let mut seen = BTreeSet::new();
    let mut todo = vec![p];
    while let Some(p) = todo.pop() {
        if !seen.insert(p) {
            continue;
        }
        let point = prog.point(p);
        ir::walk_regions(&point.region, &mut |r| {
            for s in &r.stmts {
                if completes_in_stmt(s) {
                    completes = true;
                }
                cfg::visit_jumps_stmt(s, &mut |label, cont| {
                    if let Some(ir::End::Goto { to, .. }) =
                        cfg::resolve_jump(&prog.frames, &r.frames, label, cont)
                    {
                        todo.push(to);
                    } else if !cont {
                        // A break to a frame whose exit completes the workflow.
                        if let Some(ir::End::Complete) =
                            cfg::resolve_jump(&prog.frames, &r.frames, label, cont)
                        {
                            completes = true;
                        }
                    }
                });
            }
            match &r.term {
                Term::Suspend(k) => {
                    awaits.insert(*k);
                }
                Term::Goto { to, value } => {
                    if value.as_ref().is_some_and(completes_in_expr) {
                        completes = true;
                    }
                    todo.push(*to);
                }
                Term::Complete(_) => completes = true,
                Term::If { cond, .. } => {
                    if completes_in_expr(cond) {
                        completes = true;
                    }
                }
                Term::Match { scrutinee, .. } => {
                    if completes_in_expr(scrutinee) {
                        completes = true;
                    }
                }
                Term::Diverges | Term::Block { .. } => {}
            }
        });
    }
    (awaits, completes)
}

fn completes_in_stmt(s: &syn::Stmt) -> bool {
    let mut f = Completes(false);
    f.visit_stmt(s);
    f.0
}

fn completes_in_expr(e: &syn::Expr) -> bool {
    let mut f = Completes(false);
    f.visit_expr(e);
    f.0
}

/// A `return` or `?` of the user's (not the lowering's own `return ..Step::Failed`).
struct Completes(bool);
impl<'ast> Visit<'ast> for Completes {
    fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
        if !emit::is_generated_return(r) {
            self.0 = true;
        }
        syn::visit::visit_expr_return(self, r);
    }
    fn visit_expr_try(&mut self, t: &'ast syn::ExprTry) {
        self.0 = true;
        syn::visit::visit_expr_try(self, t);
    }
    // Async blocks are walked, as before: a `return` or `?` in one leaves the block, not the
    // workflow, so this over-approximates ("may complete").
    crate::visit::skip_nested!(closures, items);
}

/// A closure is not part of the state machine: an `.await` in one could never be resumed.
fn awaits_in_closures(cx: &Ctxt, body: &Block) {
    struct F<'a> {
        cx: &'a Ctxt,
        depth: usize,
    }
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
            if c.asyncness.is_none() {
                self.depth += 1;
                syn::visit::visit_expr_closure(self, c);
                self.depth -= 1;
            }
        }
        crate::visit::skip_nested!(async_blocks, items);
        fn visit_expr_await(&mut self, aw: &'ast syn::ExprAwait) {
            if self.depth > 0 {
                self.cx.spanned(
                    aw,
                    "an `.await` inside a closure cannot be lowered: a closure is not part of the workflow's state machine, \
                     so it could not be resumed there; await in the workflow's body and pass the value to the closure",
                );
            }
            syn::visit::visit_expr_await(self, aw);
        }
    }
    F { cx, depth: 0 }.visit_block(body);
}
