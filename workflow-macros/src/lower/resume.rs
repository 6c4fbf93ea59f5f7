//! Continuations: for the start and for every durable await, the code that runs when the
//! workflow resumes there. This is how the state machine is built (see `mod.rs` for why it is
//! built this way rather than as a graph of basic blocks).
//!
//! The continuation of await `k` is the rest of the function after `k`, rebuilt around the await
//! from the inside out: the rest of the innermost block, then the rest of each enclosing block;
//! a loop around the await is resumed as
//!
//! ```text
//! let mut __wf_first = true;
//! 'label: loop { if __wf_first { __wf_first = false; /* rest of this iteration */ } else { /* body */ } }
//! ```
//!
//! so `break` and `continue` (labelled or not) keep their meaning. Each resumed block starts with a
//! `__wf_restore!(L)` marker for the variables it had bound before the await (level `L`); every
//! await reached in the code is a `__wf_suspend!(j, OP)` marker. Liveness then decides which
//! variables each level restores, and code generation expands both markers.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Stmt, Type, parse_quote, parse_quote_spanned};

use super::diverge::{block_diverges, truncate};
use super::infer::{Env, element_type, infer};
use super::liveness::{RESTORE, SUSPEND};
use super::normalize::{ELEM_ATTR, chain_await, chain_await_mut, is_chain};
use super::ops::{OpKind, classify};
use super::pattern::{Binding, typed_bindings_in};

pub const AWAIT_ATTR: &str = "__wf_await";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Param,
    Let,
    LoopVar,
    Pattern,
    /// A `let` of a closure: it has no type that can be written, so it cannot be saved.
    Closure,
    Temp,
}

/// A variable bound before an await, as a candidate for the await's state.
#[derive(Clone)]
pub struct Var {
    pub ident: syn::Ident,
    pub ty: Option<Type>,
    pub by_ref: bool,
    pub origin: Origin,
}

impl Var {
    pub fn name(&self) -> String {
        self.ident.to_string()
    }

    /// The name without `r#` (`r#type` is `type`): for the names the macro derives from it.
    pub fn plain_name(&self) -> String {
        syn::ext::IdentExt::unraw(&self.ident).to_string()
    }

    /// The name as the user wrote it, for people: without `r#`, and without the suffix the
    /// renaming of shadowed bindings adds (`amount_wf1` is the user's inner `amount`).
    pub fn display_name(&self) -> String {
        display_name(&self.ident)
    }
}

/// See [`Var::display_name`].
pub fn display_name(ident: &syn::Ident) -> String {
    let name = syn::ext::IdentExt::unraw(ident).to_string();
    match name.rsplit_once("_wf") {
        Some((base, n))
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base.to_string()
        }
        _ => name,
    }
}

pub struct AwaitSite {
    pub kind: OpKind,
    /// The operation (the expression before `.await`), after normalization.
    pub op: Expr,
    pub line: u32,
    pub text: String,
    pub span: Span,
}

/// One arm of the generated `match`: the start, or the continuation of an await.
pub struct Arm {
    pub code: Block,
    /// The level ids used in `code`, innermost last is not guaranteed.
    pub levels: Vec<usize>,
}

pub struct Resumer<'a> {
    pub ctx: &'a syn::Ident,
    pub krate: &'a TokenStream,
    pub awaits: Vec<AwaitSite>,
    /// Variables bound at each level (level ids index this).
    pub levels: Vec<Vec<Var>>,
}

/// Tags every durable `.await` with `#[__wf_await(k)]`, in source order, and records it.
pub fn tag_awaits(body: &mut Block, ctx: &syn::Ident) -> Vec<AwaitSite> {
    struct Tagger<'a> {
        ctx: &'a syn::Ident,
        sites: Vec<AwaitSite>,
    }
    impl VisitMut for Tagger<'_> {
        fn visit_expr_await_mut(&mut self, aw: &mut syn::ExprAwait) {
            syn::visit_mut::visit_expr_await_mut(self, aw);
            let Some(kind) = classify(&aw.base, self.ctx) else {
                return;
            };
            let k = self.sites.len();
            let attr = format_ident!("{}", AWAIT_ATTR);
            let lit = proc_macro2::Literal::usize_unsuffixed(k);
            aw.attrs.push(parse_quote!(#[#attr(#lit)]));
            let span = syn::spanned::Spanned::span(&aw.await_token);
            let text = compact(&quote!(#aw).to_string());
            let base = &aw.base;
            let op_text = compact(&quote!(#base).to_string());
            let _ = text;
            self.sites.push(AwaitSite {
                kind,
                op: (*aw.base).clone(),
                line: span.start().line as u32,
                text: op_text,
                span,
            });
        }
        fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
    }
    let mut t = Tagger {
        ctx,
        sites: Vec::new(),
    };
    t.visit_block_mut(body);
    t.sites
}

/// Token text without the spaces `to_string` puts between every token.
pub fn compact(s: &str) -> String {
    let chars: Vec<char> = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'';
    let mut out = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            // `f() as u64`, `<T as Trait>`: a word after a closing token keeps its space.
            let closes = matches!(prev, ')' | '>' | ']') && next.is_alphabetic();
            if (word(prev) && word(next))
                || closes
                || prev == ','
                || (prev == '=' || next == '=') && next != '>' && prev != '<'
            {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    out
}

pub fn await_id(attrs: &[syn::Attribute]) -> Option<usize> {
    attrs
        .iter()
        .find(|a| a.path().is_ident(AWAIT_ATTR))
        .and_then(|a| a.parse_args::<syn::LitInt>().ok())
        .and_then(|l| l.base10_parse().ok())
}

/// The await ids inside a piece of syntax.
fn ids_in_expr(e: &Expr) -> Vec<usize> {
    let mut f = Ids(Vec::new());
    f.visit_expr(e);
    f.0
}
fn ids_in_stmt(s: &Stmt) -> Vec<usize> {
    let mut f = Ids(Vec::new());
    f.visit_stmt(s);
    f.0
}
fn ids_in_block(b: &Block) -> Vec<usize> {
    let mut f = Ids(Vec::new());
    f.visit_block(b);
    f.0
}
struct Ids(Vec<usize>);
impl<'ast> Visit<'ast> for Ids {
    fn visit_expr_await(&mut self, aw: &'ast syn::ExprAwait) {
        if let Some(k) = await_id(&aw.attrs) {
            self.0.push(k);
        }
        syn::visit::visit_expr_await(self, aw);
    }
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

pub fn suspend_marker(k: usize, op: &Expr) -> Expr {
    let name = format_ident!("{}", SUSPEND);
    let lit = proc_macro2::Literal::usize_unsuffixed(k);
    parse_quote!(#name!(#lit, #op))
}

fn restore_marker(l: usize) -> Stmt {
    let name = format_ident!("{}", RESTORE);
    let lit = proc_macro2::Literal::usize_unsuffixed(l);
    parse_quote!(#name!(#lit);)
}

/// The code as written, with every await chain replaced by its suspend marker.
pub fn suspend_mode_block(b: &Block) -> Block {
    let mut b = b.clone();
    SuspendMode.visit_block_mut(&mut b);
    b
}

struct SuspendMode;
impl VisitMut for SuspendMode {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if is_chain(e)
            && let Some(aw) = chain_await(e)
            && let Some(k) = await_id(&aw.attrs)
        {
            *e = suspend_marker(k, &aw.base);
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

fn elem_attr(attrs: &[syn::Attribute]) -> Option<Expr> {
    attrs
        .iter()
        .find(|a| a.path().is_ident(ELEM_ATTR))
        .and_then(|a| a.parse_args::<Expr>().ok())
}

fn block_expr(block: Block) -> Expr {
    Expr::Block(syn::ExprBlock {
        attrs: vec![],
        label: None,
        block,
    })
}

impl<'a> Resumer<'a> {
    fn new_level(&mut self, vars: Vec<Var>) -> usize {
        self.levels.push(vars);
        self.levels.len() - 1
    }

    fn env_lookup(scope: &[Var]) -> impl Fn(&str) -> Option<Option<Type>> + '_ {
        move |name: &str| {
            scope
                .iter()
                .rev()
                .find(|v| v.name() == name)
                .map(|v| v.ty.clone())
        }
    }

    fn infer_in(&self, e: &Expr, scope: &[Var]) -> Option<Type> {
        let lookup = Self::env_lookup(scope);
        let env = Env {
            ctx: self.ctx,
            krate: self.krate,
            lookup: &lookup,
        };
        infer(e, &env)
    }

    fn vars_of(&self, pat: &syn::Pat, ty: Option<&Type>, origin: Origin) -> Vec<Var> {
        typed_bindings_in(pat, ty, self.krate)
            .into_iter()
            .map(|b: Binding| self.var(b, origin.clone()))
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
            origin: if temp { Origin::Temp } else { origin },
        }
    }

    /// The variables a `let` binds, typed where the macro can tell.
    fn local_vars(&self, l: &syn::Local, scope: &[Var]) -> Vec<Var> {
        let lookup = Self::env_lookup(scope);
        let env = Env {
            ctx: self.ctx,
            krate: self.krate,
            lookup: &lookup,
        };
        if let Some(iter) = elem_attr(&l.attrs) {
            let t = element_type(&iter, &env);
            return self.vars_of(&l.pat, t.as_ref(), Origin::LoopVar);
        }
        let init = l.init.as_ref().map(|i| &*i.expr);
        let t = init.and_then(|e| infer(e, &env));
        let origin = match (init, &l.pat) {
            (Some(Expr::Closure(_)), _) => Origin::Closure,
            (_, syn::Pat::Ident(_)) => Origin::Let,
            (_, syn::Pat::Type(pt)) if matches!(&*pt.pat, syn::Pat::Ident(_)) => Origin::Let,
            // `let Point { x, y } = ..`: an annotation cannot go on `x`.
            _ => Origin::Pattern,
        };
        let mut vars = self.vars_of(&l.pat, t.as_ref(), origin);
        if matches!(init, Some(Expr::Reference(_))) {
            for v in &mut vars {
                v.by_ref = true;
            }
        }
        vars
    }

    /// The arm for the start: all parameters restored, then the body.
    pub fn start_arm(&mut self, params: Vec<Var>, body: &Block) -> Arm {
        let l0 = self.new_level(params);
        let mut b = suspend_mode_block(body);
        truncate(&mut b);
        let r0 = restore_marker(l0);
        let body = block_expr(b);
        Arm {
            code: parse_quote!({ #r0 #body }),
            levels: vec![l0],
        }
    }

    /// The arm for the continuation of await `k`.
    pub fn await_arm(&mut self, k: usize, params: Vec<Var>, body: &Block) -> Arm {
        let first_level = self.levels.len();
        let l0 = self.new_level(params.clone());
        let mut scope = params;
        let mut resumed = self.resume_block(body, k, &mut scope);
        truncate(&mut resumed);
        let r0 = restore_marker(l0);
        let body = block_expr(resumed);
        let levels = (first_level..self.levels.len()).collect();
        Arm {
            code: parse_quote!({ #r0 #body }),
            levels,
        }
    }

    fn resume_block(&mut self, b: &Block, k: usize, scope: &mut Vec<Var>) -> Block {
        let Some(i) = b.stmts.iter().position(|s| ids_in_stmt(s).contains(&k)) else {
            return suspend_mode_block(b);
        };
        let mut vars: Vec<Var> = Vec::new();
        let mut items = Vec::new();
        let scope_len = scope.len();
        for s in &b.stmts[..i] {
            match s {
                Stmt::Item(_) => items.push(s.clone()),
                Stmt::Local(l) => {
                    let new = self.local_vars(l, scope);
                    for v in new {
                        vars.retain(|x| x.name() != v.name());
                        scope.push(v.clone());
                        vars.push(v);
                    }
                }
                _ => {}
            }
        }
        let level = self.new_level(vars);
        let mut stmts = vec![restore_marker(level)];
        stmts.extend(items);
        stmts.push(self.resume_stmt(&b.stmts[i], k, scope));
        scope.truncate(scope_len);
        let rest = Block {
            brace_token: b.brace_token,
            stmts: b.stmts[i + 1..].to_vec(),
        };
        stmts.extend(suspend_mode_block(&rest).stmts);
        Block {
            brace_token: b.brace_token,
            stmts,
        }
    }

    fn resume_stmt(&mut self, s: &Stmt, k: usize, scope: &mut Vec<Var>) -> Stmt {
        match s {
            Stmt::Local(l) => {
                let mut l = l.clone();
                let init = l
                    .init
                    .as_mut()
                    .expect("a let that awaits has an initializer");
                *init.expr = self.resume_expr(&init.expr, k, scope);
                Stmt::Local(l)
            }
            Stmt::Expr(e, semi) => Stmt::Expr(self.resume_expr(e, k, scope), *semi),
            other => other.clone(),
        }
    }

    fn resume_expr(&mut self, e: &Expr, k: usize, scope: &mut Vec<Var>) -> Expr {
        if is_chain(e) {
            let mut e = e.clone();
            if let Some(slot) = chain_await_mut(&mut e) {
                // The whole `op.await` (`ctx.activity(a, x).await`), where the compiler would
                // point; and the user's attributes on it (`#[allow(unused_must_use)]`).
                let (at, attrs) = match &*slot {
                    Expr::Await(aw) => (
                        syn::spanned::Spanned::span(&Expr::Await(syn::ExprAwait {
                            attrs: Vec::new(),
                            ..aw.clone()
                        })),
                        aw.attrs
                            .iter()
                            .filter(|a| !a.path().is_ident(AWAIT_ATTR))
                            .cloned()
                            .collect(),
                    ),
                    _ => (Span::call_site(), Vec::new()),
                };
                let mut value = resumed_value(k, self.krate, at);
                if let Expr::Match(m) = &mut value {
                    m.attrs = attrs;
                }
                *slot = value;
            }
            return e;
        }
        match e {
            Expr::If(ei) => {
                if ids_in_block(&ei.then_branch).contains(&k) {
                    if let Expr::Let(l) = &*ei.cond {
                        let t = self.infer_in(&l.expr, scope);
                        let vars = self.vars_of(&l.pat, t.as_ref(), Origin::Pattern);
                        self.with_level(vars, scope, |this, scope| {
                            block_expr(this.resume_block(&ei.then_branch, k, scope))
                        })
                    } else {
                        block_expr(self.resume_block(&ei.then_branch, k, scope))
                    }
                } else {
                    let (_, els) = ei
                        .else_branch
                        .as_ref()
                        .expect("the await is in one of the branches");
                    self.resume_expr(els, k, scope)
                }
            }
            Expr::Match(m) => {
                let arm = m
                    .arms
                    .iter()
                    .find(|a| ids_in_expr(&a.body).contains(&k))
                    .expect("the await is in an arm");
                let t = self.infer_in(&m.expr, scope);
                let vars = self.vars_of(&arm.pat, t.as_ref(), Origin::Pattern);
                let body = match &*arm.body {
                    Expr::Block(b) => b.block.clone(),
                    other => parse_quote!({ #other }),
                };
                self.with_level(vars, scope, |this, scope| {
                    block_expr(this.resume_block(&body, k, scope))
                })
            }
            Expr::Loop(l) => {
                let mut resumed = self.resume_block(&l.body, k, scope);
                truncate(&mut resumed);
                let label = &l.label;
                if block_diverges(&resumed) && !continues_loop(&resumed, l.label.as_ref()) {
                    if !jumps_to_loop(&resumed, l.label.as_ref()) {
                        // The rest of this iteration always leaves the function: no further
                        // iteration can run, so none is generated (and none keeps variables
                        // alive).
                        return Expr::Block(syn::ExprBlock {
                            attrs: vec![],
                            label: None,
                            block: resumed,
                        });
                    }
                    // The rest of this iteration always leaves the loop (or the function, or
                    // suspends at a later await, whose own continuation re-enters the loop): the
                    // loop runs once, for its `break`s, and its body is not generated again. A
                    // variable the body moves before it breaks stays dead here, as in the source.
                    //
                    // Input:  `loop { i += 1; if i == n { ctx.activity(a, s).await?; break; } .. }`
                    // Output (at the first await): `loop { <value>?; break; }`
                    return parse_quote!(#label loop #resumed);
                }
                let full = suspend_mode_block(&l.body);
                let first = syn::Ident::new("__wf_first", Span::mixed_site());
                parse_quote!({
                    let mut #first = true;
                    #label loop {
                        if #first {
                            #first = false;
                            #resumed
                        } else #full
                    }
                })
            }
            Expr::Block(b) => {
                let resumed = self.resume_block(&b.block, k, scope);
                Expr::Block(syn::ExprBlock {
                    attrs: b.attrs.clone(),
                    label: b.label.clone(),
                    block: resumed,
                })
            }
            Expr::Unsafe(u) => {
                let resumed = self.resume_block(&u.block, k, scope);
                Expr::Unsafe(syn::ExprUnsafe {
                    attrs: u.attrs.clone(),
                    unsafe_token: u.unsafe_token,
                    block: resumed,
                })
            }
            other => other.clone(),
        }
    }

    /// Runs `f` with a level of pattern bindings open; the resumed block is wrapped so that the
    /// level's restore marker comes first.
    fn with_level(
        &mut self,
        vars: Vec<Var>,
        scope: &mut Vec<Var>,
        f: impl FnOnce(&mut Self, &mut Vec<Var>) -> Expr,
    ) -> Expr {
        let len = scope.len();
        scope.extend(vars.iter().cloned());
        let level = self.new_level(vars);
        let inner = f(self, scope);
        scope.truncate(len);
        let r = restore_marker(level);
        parse_quote!({ #r #inner })
    }
}

/// The value of await `k` when resuming there, decoded from what woke the workflow (taken, so
/// that the resumed code may sit in a loop). Spanned at the user's `.await`, so that a type
/// error about the value (`expected Result<_, WorkflowError>, found Result<_, ActivityError>`)
/// points there; the generated names keep their own (mixed-site) spans.
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

/// Whether `b` has a `break` or `continue` that targets the loop around it (unlabeled and not
/// inside a nested loop, or with the loop's label).
fn jumps_to_loop(b: &Block, label: Option<&syn::Label>) -> bool {
    targets_loop(b, label, true)
}

/// Whether `b` has a `continue` that targets the loop around it: the only way, besides running
/// to its end, for an iteration to start the next one.
fn continues_loop(b: &Block, label: Option<&syn::Label>) -> bool {
    targets_loop(b, label, false)
}

fn targets_loop(b: &Block, label: Option<&syn::Label>, breaks: bool) -> bool {
    struct F<'a> {
        label: Option<&'a syn::Lifetime>,
        depth: usize,
        breaks: bool,
        found: bool,
    }
    impl F<'_> {
        fn hit(&mut self, l: &Option<syn::Lifetime>) {
            match l {
                None if self.depth == 0 => self.found = true,
                Some(l) if self.label.is_some_and(|x| x.ident == l.ident) => self.found = true,
                _ => {}
            }
        }
    }
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            if self.breaks {
                self.hit(&b.label);
            }
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
            self.hit(&c.label);
        }
        fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
            self.depth += 1;
            syn::visit::visit_expr_loop(self, l);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, l: &'ast syn::ExprWhile) {
            self.depth += 1;
            syn::visit::visit_expr_while(self, l);
            self.depth -= 1;
        }
        fn visit_expr_for_loop(&mut self, l: &'ast syn::ExprForLoop) {
            self.depth += 1;
            syn::visit::visit_expr_for_loop(self, l);
            self.depth -= 1;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = F {
        label: label.map(|l| &l.name),
        depth: 0,
        breaks,
        found: false,
    };
    f.visit_block(b);
    f.found
}
