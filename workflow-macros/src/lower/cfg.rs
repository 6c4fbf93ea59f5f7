//! From the normalized body to the IR ([`super::ir`]): regions of verbatim statements ending in
//! terminators, one per point.
//!
//! After normalization every await is an *await chain* in statement position (`let PAT = CHAIN;`,
//! `CHAIN;`, or a block's tail), and so is every construct (`if`, `match`, `loop`, block)
//! containing one. Walking a block's statements in order:
//!
//! - an await-free statement goes into the current region as written;
//! - an await chain ends the region with `Suspend(k)`; the point `Resume(k)` starts with the
//!   statement itself, the `.await` replaced by the value the workflow is woken with, and goes on
//!   with the rest of the block;
//! - a construct ends the region with its own terminator (`If`, `Match`, a nested `Block`, or a
//!   `Goto` to a loop's head), whose branches end by jumping to the join after the construct;
//!   the join starts a new point that goes on with the rest of the block.
//!
//! Input:
//! ```text
//! let a = ctx.activity(x, 1).await?;
//! if a > 2 { ctx.sleep(d).await; }
//! Ok(a)
//! ```
//! Output:
//! ```text
//! Start:     [] Suspend(0)
//! Resume(0): [let a = <value 0>?;] If(a > 2) { [] Suspend(1) } else { [] Goto(Join) }
//! Resume(1): [<value 1>;] Goto(Join)
//! Join:      [] Complete(Ok(a))
//! ```
//!
//! A loop containing an await becomes a point for its head: entering it, the end of its body and
//! `continue` jump there; `break` jumps to the join after it. Code after a construct is therefore
//! generated once, however many awaits the construct holds.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use syn::visit::Visit;
use syn::{Block, Expr, Stmt, Type, parse_quote, parse_quote_spanned};

use super::diverge::{expr_diverges, stmt_diverges};
use super::infer::{Env, element_type, infer};
use super::ir::*;
use super::normalize::{
    BindingSite, binding_site, chain_await, chain_await_mut, is_chain, stmt_contains_await,
};
use super::ops::classify;
use super::pattern::{Binding, typed_bindings_in};
use crate::ctxt::Ctxt;

/// An await as the user wrote it (before renaming and normalization), for the description.
pub struct Written {
    pub text: String,
    pub line: u32,
    pub span: Span,
}

/// The durable awaits of `body` in source order, as written.
pub fn written_awaits(body: &Block, ctx: &syn::Ident) -> Vec<Written> {
    struct F<'a> {
        ctx: &'a syn::Ident,
        out: Vec<Written>,
    }
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_expr_await(&mut self, aw: &'ast syn::ExprAwait) {
            syn::visit::visit_expr_await(self, aw);
            if classify(&aw.base, self.ctx).is_none() {
                return;
            }
            let span = syn::spanned::Spanned::span(&aw.await_token);
            let base = &aw.base;
            self.out.push(Written {
                text: compact(&quote::quote!(#base).to_string()),
                line: span.start().line as u32,
                span,
            });
        }
        // Async blocks are walked, as before (normalization does not lower an await in one: if
        // there is one, the counts differ and `lower` keeps the generated texts).
        crate::visit::skip_nested!(closures, items);
    }
    let mut f = F {
        ctx,
        out: Vec::new(),
    };
    f.visit_block(body);
    f.out
}

pub struct Builder<'a> {
    cx: &'a Ctxt,
    ctx: &'a syn::Ident,
    krate: &'a TokenStream,
    vars: Vec<Var>,
    points: Vec<Option<Point>>,
    order: Vec<PointId>,
    frames: Vec<Frame>,
    awaits: Vec<AwaitSite>,
    /// The variables in scope, per block or pattern, outermost first.
    levels: Vec<Vec<VarId>>,
    /// The lowered frames around the code being built, innermost last.
    open_frames: Vec<FrameId>,
    in_unsafe: bool,
    /// Points some code jumps to.
    targeted: HashSet<PointId>,
    /// Items of lowered blocks, emitted once beside the generated function.
    pub items: Vec<syn::Item>,
    /// The variables of lowered `for` loops, with their iterables (from the normalization).
    loop_items: &'a std::collections::HashMap<BindingSite, Expr>,
}

impl<'a> Builder<'a> {
    pub fn new(
        cx: &'a Ctxt,
        ctx: &'a syn::Ident,
        krate: &'a TokenStream,
        loop_items: &'a std::collections::HashMap<BindingSite, Expr>,
    ) -> Self {
        Builder {
            loop_items,
            cx,
            ctx,
            krate,
            vars: Vec::new(),
            points: Vec::new(),
            order: Vec::new(),
            frames: Vec::new(),
            awaits: Vec::new(),
            levels: Vec::new(),
            open_frames: Vec::new(),
            in_unsafe: false,
            targeted: HashSet::new(),
            items: Vec::new(),
        }
    }

    /// Builds the program of a normalized body whose parameters are `params`.
    pub fn build(mut self, params: Vec<Var>, body: &Block) -> (Program, Vec<syn::Item>) {
        let ids = params.into_iter().map(|v| self.intern(v)).collect();
        self.levels.push(ids);
        let start = self.reserve();
        self.open(start, PointKind::Start);
        let region = self.block(body, End::Complete);
        self.close(start, region);
        let points = self
            .points
            .into_iter()
            .map(|p| {
                p.unwrap_or(Point {
                    kind: PointKind::Join { binds: false },
                    scope: Vec::new(),
                    region: Region {
                        stmts: Vec::new(),
                        term: Term::Diverges,
                        frames: Vec::new(),
                    },
                    in_unsafe: false,
                    binds: None,
                })
            })
            .collect();
        (
            Program {
                vars: self.vars,
                points,
                order: self.order,
                frames: self.frames,
                awaits: self.awaits,
            },
            self.items,
        )
    }

    fn intern(&mut self, v: Var) -> VarId {
        self.vars.push(v);
        VarId(self.vars.len() - 1)
    }

    fn reserve(&mut self) -> PointId {
        self.points.push(None);
        PointId(self.points.len() - 1)
    }

    /// Starts building point `p`: its scope is what is visible now.
    fn open(&mut self, p: PointId, kind: PointKind) {
        self.order.push(p);
        let scope = self.visible();
        self.points[p.0] = Some(Point {
            kind,
            scope,
            region: Region {
                stmts: Vec::new(),
                term: Term::Diverges,
                frames: Vec::new(),
            },
            in_unsafe: self.in_unsafe,
            binds: None,
        });
    }

    fn close(&mut self, p: PointId, region: Region) {
        self.points[p.0]
            .as_mut()
            .expect("opened before it is closed")
            .region = region;
    }

    fn visible(&self) -> Vec<VarId> {
        let all: Vec<VarId> = self.levels.iter().flatten().copied().collect();
        all.iter()
            .enumerate()
            .filter(|(i, v)| {
                let name = self.vars[v.0].name();
                !all[i + 1..].iter().any(|w| self.vars[w.0].name() == name)
            })
            .map(|(_, v)| *v)
            .collect()
    }

    fn region(&self, stmts: Vec<Stmt>, term: Term) -> Region {
        Region {
            stmts,
            term,
            frames: self.open_frames.clone(),
        }
    }

    fn block(&mut self, b: &Block, end: End) -> Region {
        self.levels.push(Vec::new());
        let r = self.seq(&b.stmts, 0, end, Vec::new());
        self.levels.pop();
        r
    }

    /// The statements `stmts[i..]` of the current block, after `out`.
    fn seq(&mut self, stmts: &[Stmt], mut i: usize, end: End, mut out: Vec<Stmt>) -> Region {
        while i < stmts.len() {
            let s = &stmts[i];
            let is_tail = i + 1 == stmts.len() && matches!(s, Stmt::Expr(_, None));
            if let Stmt::Item(item) = s {
                self.items.push(item.clone());
                i += 1;
                continue;
            }
            if !stmt_contains_await(s) {
                self.mark_jumps_stmt(s);
                if is_tail {
                    let Stmt::Expr(e, None) = s else {
                        unreachable!("a tail is an expression")
                    };
                    return self.end_with(out, end, Some(e.clone()));
                }
                out.push(s.clone());
                if stmt_diverges(s) {
                    self.unreachable(&stmts[i + 1..]);
                    return self.region(out, Term::Diverges);
                }
                if let Stmt::Local(l) = s {
                    self.declare(l);
                }
                i += 1;
                continue;
            }
            let (local, e) = match s {
                Stmt::Local(l) => match &l.init {
                    Some(init) if init.diverge.is_none() => (Some(l), &*init.expr),
                    _ => {
                        self.cx
                            .spanned(l, "this `let` cannot be lowered around its `.await`: await first, then bind the value");
                        return self.region(out, Term::Diverges);
                    }
                },
                Stmt::Expr(e, _) => (None, e),
                other => {
                    self.cx.spanned(
                        other,
                        "this statement cannot be lowered around its `.await`: await first, then use the value",
                    );
                    return self.region(out, Term::Diverges);
                }
            };
            if is_chain(e) {
                let Some(k) = self.new_await(e) else {
                    return self.region(out, Term::Diverges);
                };
                let resume = self.reserve();
                self.open(resume, PointKind::Resume(k));
                let value = resumed_chain(e, k, self.krate);
                let region = if is_tail {
                    self.end_with(Vec::new(), end, Some(value))
                } else {
                    let head = match local {
                        Some(l) => {
                            let mut l = l.clone();
                            *l.init.as_mut().expect("checked above").expr = value;
                            Stmt::Local(l)
                        }
                        None => Stmt::Expr(value, Some(Default::default())),
                    };
                    if let Some(l) = local {
                        self.declare(l);
                    }
                    if stmt_diverges(&head) {
                        self.unreachable(&stmts[i + 1..]);
                        self.region(vec![head], Term::Diverges)
                    } else {
                        self.seq(stmts, i + 1, end, vec![head])
                    }
                };
                self.close(resume, region);
                return self.region(out, Term::Suspend(k));
            }
            // A construct.
            let (after, join) = if is_tail {
                (end, None)
            } else {
                let j = self.reserve();
                let binds = local.is_some();
                (
                    End::Goto {
                        to: j,
                        value: binds,
                    },
                    Some(j),
                )
            };
            let term = self.construct(e, after);
            if let Some(j) = join {
                if self.targeted.contains(&j) {
                    self.open(
                        j,
                        PointKind::Join {
                            binds: local.is_some(),
                        },
                    );
                    if let Some(l) = local {
                        self.points[j.0].as_mut().expect("opened").binds = Some(l.pat.clone());
                        self.declare(l);
                    }
                    let region = self.seq(stmts, i + 1, end, Vec::new());
                    self.close(j, region);
                } else {
                    self.unreachable(&stmts[i + 1..]);
                }
            }
            return self.region(out, term);
        }
        self.end_with(out, end, None)
    }

    /// The region's end: the block's value (`None`: `()`) goes where `end` says.
    fn end_with(&mut self, mut out: Vec<Stmt>, end: End, value: Option<Expr>) -> Region {
        if let Some(v) = &value {
            self.mark_jumps_expr(v);
            if expr_diverges(v) {
                out.push(Stmt::Expr(v.clone(), Some(Default::default())));
                return self.region(out, Term::Diverges);
            }
        }
        let unit: Expr = parse_quote!(());
        match end {
            End::Complete => self.region(out, Term::Complete(value.unwrap_or(unit))),
            End::Goto { to, value: true } => {
                self.targeted.insert(to);
                self.region(
                    out,
                    Term::Goto {
                        to,
                        value: Some(value.unwrap_or(unit)),
                    },
                )
            }
            End::Goto { to, value: false } => {
                self.targeted.insert(to);
                if let Some(v) = value {
                    out.push(discard(v));
                }
                self.region(out, Term::Goto { to, value: None })
            }
        }
    }

    fn construct(&mut self, e: &Expr, after: End) -> Term {
        match e {
            Expr::Paren(p) => self.construct(&p.expr, after),
            Expr::Group(g) => self.construct(&g.expr, after),
            Expr::If(ei) => {
                self.mark_jumps_expr(&ei.cond);
                let vars = self.cond_vars(&ei.cond);
                self.levels.push(vars);
                let then = self.block(&ei.then_branch, after);
                self.levels.pop();
                let els = match ei.else_branch.as_ref().map(|(_, e)| &**e) {
                    None => self.end_with(Vec::new(), after, None),
                    Some(Expr::Block(b)) if b.label.is_none() && b.attrs.is_empty() => {
                        self.block(&b.block, after)
                    }
                    Some(Expr::If(inner))
                        if super::normalize::contains_await(&Expr::If(inner.clone())) =>
                    {
                        let term = self.construct(&Expr::If(inner.clone()), after);
                        self.region(Vec::new(), term)
                    }
                    Some(other) => {
                        let b: Block = parse_quote!({ #other });
                        self.block(&b, after)
                    }
                };
                Term::If {
                    attrs: ei.attrs.clone(),
                    cond: (*ei.cond).clone(),
                    then: Box::new(then),
                    els: Box::new(els),
                }
            }
            Expr::Match(m) => {
                self.mark_jumps_expr(&m.expr);
                let t = self.infer_now(&m.expr);
                let arms = m
                    .arms
                    .iter()
                    .map(|arm| {
                        let vars = self.vars_of(&arm.pat, t.as_ref(), Origin::Pattern);
                        self.levels.push(vars);
                        if let Some((_, g)) = &arm.guard {
                            self.mark_jumps_expr(g);
                        }
                        let body = match &*arm.body {
                            Expr::Block(b) if b.label.is_none() && b.attrs.is_empty() => {
                                self.block(&b.block, after)
                            }
                            other => {
                                let b = Block {
                                    brace_token: Default::default(),
                                    stmts: vec![Stmt::Expr(other.clone(), None)],
                                };
                                self.block(&b, after)
                            }
                        };
                        self.levels.pop();
                        MatchArm {
                            attrs: arm.attrs.clone(),
                            pat: arm.pat.clone(),
                            guard: arm.guard.as_ref().map(|(_, g)| (**g).clone()),
                            body,
                        }
                    })
                    .collect();
                Term::Match {
                    attrs: m.attrs.clone(),
                    scrutinee: (*m.expr).clone(),
                    arms,
                }
            }
            Expr::Loop(l) => {
                let head = self.reserve();
                self.targeted.insert(head);
                let frame = self.push_frame(Frame {
                    label: l.label.as_ref().map(|l| l.name.ident.to_string()),
                    is_loop: true,
                    head: Some(head),
                    exit: after,
                });
                self.open(head, PointKind::LoopHead);
                let region = self.block(
                    &l.body,
                    End::Goto {
                        to: head,
                        value: false,
                    },
                );
                self.close(head, region);
                self.pop_frame(frame);
                Term::Goto {
                    to: head,
                    value: None,
                }
            }
            Expr::Block(b) => {
                let frame = b.label.as_ref().map(|l| {
                    self.push_frame(Frame {
                        label: Some(l.name.ident.to_string()),
                        is_loop: false,
                        head: None,
                        exit: after,
                    })
                });
                let region = self.block(&b.block, after);
                if let Some(f) = frame {
                    self.pop_frame(f);
                }
                Term::Block {
                    body: Box::new(region),
                    unsafe_: false,
                }
            }
            Expr::Unsafe(u) => {
                let was = std::mem::replace(&mut self.in_unsafe, true);
                let region = self.block(&u.block, after);
                self.in_unsafe = was;
                Term::Block {
                    body: Box::new(region),
                    unsafe_: true,
                }
            }
            other => {
                self.cx.spanned(
                    other,
                    "this expression cannot be lowered around its `.await`: await first and bind the value",
                );
                Term::Diverges
            }
        }
    }

    fn push_frame(&mut self, f: Frame) -> FrameId {
        self.frames.push(f);
        let id = FrameId(self.frames.len() - 1);
        self.open_frames.push(id);
        id
    }

    fn pop_frame(&mut self, f: FrameId) {
        let popped = self.open_frames.pop();
        debug_assert_eq!(popped, Some(f));
    }

    /// Registers the await at the bottom of chain `e`.
    fn new_await(&mut self, e: &Expr) -> Option<usize> {
        let aw = chain_await(e)?;
        let kind = classify(&aw.base, self.ctx)?;
        let span = syn::spanned::Spanned::span(&aw.await_token);
        let base = &aw.base;
        self.mark_jumps_expr(base);
        self.awaits.push(AwaitSite {
            kind,
            op: (**base).clone(),
            line: span.start().line as u32,
            text: compact(&quote::quote!(#base).to_string()),
            span,
        });
        Some(self.awaits.len() - 1)
    }

    /// Reports the awaits in code that can never run.
    fn unreachable(&self, rest: &[Stmt]) {
        struct F<'a>(&'a Ctxt, &'a syn::Ident);
        impl<'ast> Visit<'ast> for F<'_> {
            fn visit_expr_await(&mut self, aw: &'ast syn::ExprAwait) {
                syn::visit::visit_expr_await(self, aw);
                if classify(&aw.base, self.1).is_some() {
                    self.0.error(
                        syn::spanned::Spanned::span(&aw.await_token),
                        "this await can never be reached (the code before it always returns or diverges): remove it",
                    );
                }
            }
            // Async blocks are walked, as before: a durable await in one is as unreachable as
            // the block.
            crate::visit::skip_nested!(closures, items);
        }
        let mut f = F(self.cx, self.ctx);
        for s in rest {
            f.visit_stmt(s);
        }
    }

    // Jumps out of verbatim code.

    fn mark_jumps_stmt(&mut self, s: &Stmt) {
        self.mark_jumps(|f| visit_jumps_stmt(s, f));
    }

    fn mark_jumps_expr(&mut self, e: &Expr) {
        self.mark_jumps(|f| visit_jumps_expr(e, f));
    }

    /// Marks the points that the jumps `walk` finds out of verbatim code go to.
    fn mark_jumps(&mut self, walk: impl FnOnce(&mut dyn FnMut(Option<&str>, bool))) {
        let frames = self.open_frames.clone();
        let mut found = Vec::new();
        walk(&mut |label, cont| {
            if let Some(end) = resolve_jump(&self.frames, &frames, label, cont) {
                found.push(end);
            }
        });
        self.mark(found);
    }

    fn mark(&mut self, ends: Vec<End>) {
        for end in ends {
            if let End::Goto { to, .. } = end {
                self.targeted.insert(to);
            }
        }
    }

    // Variables and their types.

    fn lookup_scope(&self) -> Vec<(String, Option<Type>)> {
        self.visible()
            .into_iter()
            .map(|v| (self.vars[v.0].name(), self.vars[v.0].ty.clone()))
            .collect()
    }

    /// Runs `f` with the types of the variables in scope.
    fn with_env<R>(&self, f: impl FnOnce(&Env) -> R) -> R {
        let scope = self.lookup_scope();
        let lookup = |name: &str| {
            scope
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
        };
        f(&Env {
            ctx: self.ctx,
            krate: self.krate,
            lookup: &lookup,
        })
    }

    fn infer_now(&self, e: &Expr) -> Option<Type> {
        self.with_env(|env| infer(e, env))
    }

    fn vars_of(&mut self, pat: &syn::Pat, ty: Option<&Type>, origin: Origin) -> Vec<VarId> {
        typed_bindings_in(pat, ty, self.krate)
            .into_iter()
            .map(|b| {
                let v = self.var(b, origin.clone());
                self.intern(v)
            })
            .collect()
    }

    fn var(&self, b: Binding, origin: Origin) -> Var {
        let temp = b.ident.to_string().starts_with("__wf_");
        let by_ref = b.by_ref
            || matches!(b.ty, Some(Type::Reference(_)))
            || b.ty.as_ref().is_some_and(crate::ast::contains_reference);
        Var {
            ident: b.ident,
            ty: b.ty,
            by_ref,
            mutable: b.mutable,
            origin: if temp { Origin::Temp } else { origin },
        }
    }

    /// The bindings of an `if` condition (`if let P = e`, and `let`s chained with `&&`).
    fn cond_vars(&mut self, cond: &Expr) -> Vec<VarId> {
        match cond {
            Expr::Let(l) => {
                let t = self.infer_now(&l.expr);
                self.vars_of(&l.pat, t.as_ref(), Origin::Pattern)
            }
            Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
                let mut v = self.cond_vars(&b.left);
                v.extend(self.cond_vars(&b.right));
                v
            }
            Expr::Paren(p) => self.cond_vars(&p.expr),
            _ => Vec::new(),
        }
    }

    /// Declares what a `let` binds, typed where the macro can tell, in the current level.
    fn declare(&mut self, l: &syn::Local) {
        let vars: Vec<Var> = self.with_env(|env| {
            let loop_item = super::pattern::bindings(&l.pat)
                .first()
                .and_then(|b| self.loop_items.get(&binding_site(&b.ident)));
            if let Some(iter) = loop_item {
                let t = element_type(iter, env);
                return typed_bindings_in(&l.pat, t.as_ref(), self.krate)
                    .into_iter()
                    .map(|b| self.var(b, Origin::LoopVar))
                    .collect();
            }
            let init = l.init.as_ref().map(|i| &*i.expr);
            let t = init.and_then(|e| infer(e, env));
            let origin = match (init, &l.pat) {
                (Some(Expr::Closure(_)), _) => Origin::Closure,
                (Some(e), syn::Pat::Ident(_))
                    if t.is_none() && super::ops::typed_by_compiler(e, self.ctx) =>
                {
                    Origin::Inferred
                }
                (_, syn::Pat::Ident(_)) => Origin::Let,
                (_, syn::Pat::Type(pt)) if matches!(&*pt.pat, syn::Pat::Ident(_)) => Origin::Let,
                // `let Point { x, y } = ..`: an annotation cannot go on `x`.
                _ => Origin::Pattern,
            };
            let mut vars: Vec<Var> = typed_bindings_in(&l.pat, t.as_ref(), self.krate)
                .into_iter()
                .map(|b| self.var(b, origin.clone()))
                .collect();
            if matches!(init, Some(Expr::Reference(_))) {
                for v in &mut vars {
                    v.by_ref = true;
                }
            }
            vars
        });
        for v in vars {
            let name = v.name();
            let id = self.intern(v);
            let level = self.levels.last_mut().expect("a level is open");
            level.retain(|x| self.vars[x.0].name() != name);
            level.push(id);
        }
    }
}

/// A value whose block's value is not used, as a statement.
fn discard(v: Expr) -> Stmt {
    match &v {
        Expr::Call(_)
        | Expr::MethodCall(_)
        | Expr::Macro(_)
        | Expr::Assign(_)
        | Expr::Block(_)
        | Expr::If(_)
        | Expr::Match(_)
        | Expr::Loop(_)
        | Expr::While(_)
        | Expr::ForLoop(_)
        | Expr::Unsafe(_)
        | Expr::Tuple(_) => Stmt::Expr(v, Some(Default::default())),
        _ => parse_quote!(let _ = #v;),
    }
}

/// Chain `e` with its `.await` replaced by the value the workflow was woken with.
fn resumed_chain(e: &Expr, k: usize, krate: &TokenStream) -> Expr {
    let mut e = e.clone();
    if let Some(slot) = chain_await_mut(&mut e) {
        // The whole `op.await` (`ctx.activity(a, x).await`), where the compiler would point;
        // and the user's attributes on it (`#[allow(unused_must_use)]`).
        let (at, attrs) = match &*slot {
            Expr::Await(aw) => (
                syn::spanned::Spanned::span(&Expr::Await(syn::ExprAwait {
                    attrs: Vec::new(),
                    ..aw.clone()
                })),
                aw.attrs.clone(),
            ),
            _ => (Span::call_site(), Vec::new()),
        };
        let mut value = resumed_value(k, krate, at);
        if let Expr::Match(m) = &mut value {
            m.attrs = attrs;
        }
        *slot = value;
    }
    e
}

/// The value of await `k` when resuming there, decoded from what woke the workflow. Spanned at
/// the user's `.await`, so that a type error about the value (`expected Result<_,
/// WorkflowError>, found Result<_, ActivityError>`) points there; the generated names keep
/// their own (mixed-site) spans.
fn resumed_value(k: usize, krate: &TokenStream, at: Span) -> Expr {
    let here = Span::mixed_site().located_at(at);
    let w = syn::Ident::new(&format!("__wf_op{k}"), here);
    let wake = syn::Ident::new("__wf_wake", here);
    let x = syn::Ident::new("__wf_x", here);
    let e = syn::Ident::new("__wf_e", here);
    parse_quote_spanned!(at=> match #krate::__private::resolve(&#w, #wake.take()) {
        ::core::result::Result::Ok(#x) => #x,
        ::core::result::Result::Err(#e) => return #krate::__private::Step::Failed(#e),
    })
}

/// Where a `break` (or, with `cont`, a `continue`) with `label` out of verbatim code in a region
/// with `open` frames goes; `None` when no lowered frame is its target.
pub fn resolve_jump(
    frames: &[Frame],
    open: &[FrameId],
    label: Option<&str>,
    cont: bool,
) -> Option<End> {
    let f = open
        .iter()
        .rev()
        .map(|f| &frames[f.0])
        .find(|f| match label {
            Some(l) => f.label.as_deref() == Some(l),
            None => f.is_loop,
        })?;
    if cont {
        f.head.map(|to| End::Goto { to, value: false })
    } else {
        Some(f.exit)
    }
}

/// Calls `f(label, is_continue)` for every `break`/`continue` in `s` that leaves it (not caught by
/// a loop or labeled block inside it).
pub fn visit_jumps_stmt(s: &Stmt, f: &mut dyn FnMut(Option<&str>, bool)) {
    let mut v = JumpVisitor {
        f,
        caught: Caught::default(),
    };
    v.visit_stmt(s);
}

pub fn visit_jumps_expr(e: &Expr, f: &mut dyn FnMut(Option<&str>, bool)) {
    let mut v = JumpVisitor {
        f,
        caught: Caught::default(),
    };
    v.visit_expr(e);
}

struct JumpVisitor<'f> {
    f: &'f mut dyn FnMut(Option<&str>, bool),
    caught: Caught,
}

/// The loops and labeled blocks of verbatim code around a `break` or `continue`: a jump one of
/// them catches stays as written; any other leaves the verbatim code.
#[derive(Default)]
pub struct Caught {
    loops: usize,
    labels: Vec<String>,
}

impl Caught {
    /// Runs `f` inside a loop (`is_loop`) or labeled block of the verbatim code.
    pub fn inside<T>(
        this: &mut T,
        caught: impl Fn(&mut T) -> &mut Caught,
        label: Option<&syn::Label>,
        is_loop: bool,
        f: impl FnOnce(&mut T),
    ) {
        let c = caught(this);
        if let Some(l) = label {
            c.labels.push(l.name.ident.to_string());
        }
        c.loops += usize::from(is_loop);
        f(this);
        let c = caught(this);
        c.loops -= usize::from(is_loop);
        if label.is_some() {
            c.labels.pop();
        }
    }

    /// Whether a jump with `label` (unlabeled: the innermost loop) stays inside.
    pub fn catches(&self, label: Option<&syn::Lifetime>) -> bool {
        match label {
            None => self.loops > 0,
            Some(l) => self.labels.contains(&l.ident.to_string()),
        }
    }
}

impl JumpVisitor<'_> {
    fn hit(&mut self, label: Option<&syn::Lifetime>, cont: bool) {
        if !self.caught.catches(label) {
            let name = label.map(|l| l.ident.to_string());
            (self.f)(name.as_deref(), cont);
        }
    }
    fn inside(&mut self, label: Option<&syn::Label>, is_loop: bool, f: impl FnOnce(&mut Self)) {
        Caught::inside(self, |v| &mut v.caught, label, is_loop, f);
    }
}

impl<'ast> Visit<'ast> for JumpVisitor<'_> {
    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        if let Some(e) = &b.expr {
            self.visit_expr(e);
        }
        self.hit(b.label.as_ref(), false);
    }
    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        self.hit(c.label.as_ref(), true);
    }
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.inside(l.label.as_ref(), true, |v| v.visit_block(&l.body));
    }
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.inside(w.label.as_ref(), true, |v| {
            v.visit_expr(&w.cond);
            v.visit_block(&w.body);
        });
    }
    fn visit_expr_for_loop(&mut self, l: &'ast syn::ExprForLoop) {
        self.visit_expr(&l.expr);
        self.inside(l.label.as_ref(), true, |v| v.visit_block(&l.body));
    }
    fn visit_expr_block(&mut self, b: &'ast syn::ExprBlock) {
        self.inside(b.label.as_ref(), false, |v| v.visit_block(&b.block));
    }
    crate::visit::skip_nested!();
}
