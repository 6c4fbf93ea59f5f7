//! Normalization: after this pass every durable `.await` of the body stands in one of two places,
//! and so does every `if`/`match`/loop/block that contains one:
//!
//! - as the initializer of a `let` without `else`: `let PAT = X;`
//! - as an expression statement (or a block's tail): `X;`
//!
//! where `X` is either an *await chain* (`OP.await` followed by postfix `?`, method calls, field
//! accesses) or a *construct* (`if`, `match`, `loop`, block) containing one. `while` and `for`
//! loops whose body awaits become `loop`s. Everything that does not contain an await is left as
//! written. Left-to-right evaluation order is kept: an operand evaluated before an await is
//! stored in a temporary first, unless it is pure (a literal, a path, a field of a path).
//!
//! Input:  `let total = base() + ctx.activity(price, item).await?;`
//! Output: `let __wf_t0 = base(); let __wf_t1 = ctx.activity(price, item).await?; let total = __wf_t0 + __wf_t1;`
//!
//! Input:  `for item in items { ctx.activity(ship, item).await?; }`
//! Output: `let mut __wf_it0 = loop_items(items);
//!          loop { let item = match Iterator::next(&mut __wf_it0) { Some(v) => v, None => break };
//!                 ctx.activity(ship, item).await?; }`
//!          and `item` is recorded in [`Normalizer::loop_items`] with its iterable, `items`, so
//!          that its type can be read off the iterable's.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::visit::Visit;
use syn::{Block, Expr, Local, LocalInit, Pat, Stmt, parse_quote, parse_quote_spanned};

use super::ops::classify;
use super::pattern::bindings;
use crate::ctxt::Ctxt;

/// A binding as written: its name and where it is (line, column).
pub type BindingSite = (String, usize, usize);

/// The site of a binding.
pub fn binding_site(ident: &syn::Ident) -> BindingSite {
    let at = ident.span().start();
    (ident.to_string(), at.line, at.column)
}

pub struct Normalizer<'a> {
    pub cx: &'a Ctxt,
    pub ctx: &'a syn::Ident,
    pub krate: &'a TokenStream,
    next_tmp: usize,
    /// The variables of lowered `for` loops, with the loop's iterable: the type inference of
    /// the variable reads the iterable's type.
    pub loop_items: std::collections::HashMap<BindingSite, Expr>,
}

/// Whether `e` contains an `.await` (outside closures, async blocks and nested items, which are
/// reported elsewhere) or a macro whose tokens do.
pub fn contains_await(e: &Expr) -> bool {
    struct F(bool);
    impl<'ast> Visit<'ast> for F {
        fn visit_expr_await(&mut self, _: &'ast syn::ExprAwait) {
            self.0 = true;
        }
        crate::visit::skip_nested!();
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            if tokens_have_await(&m.tokens) {
                self.0 = true;
            }
        }
    }
    let mut f = F(false);
    f.visit_expr(e);
    f.0
}

pub fn block_contains_await(b: &Block) -> bool {
    b.stmts.iter().any(stmt_contains_await)
}

pub fn stmt_contains_await(s: &Stmt) -> bool {
    match s {
        Stmt::Local(l) => l.init.as_ref().is_some_and(|i| {
            contains_await(&i.expr) || i.diverge.as_ref().is_some_and(|(_, d)| contains_await(d))
        }),
        Stmt::Expr(e, _) => contains_await(e),
        Stmt::Macro(m) => tokens_have_await(&m.mac.tokens),
        Stmt::Item(_) => false,
    }
}

pub fn tokens_have_await(ts: &TokenStream) -> bool {
    let mut prev_dot = false;
    for tt in ts.clone() {
        match &tt {
            TokenTree::Ident(i) if prev_dot && i == "await" => return true,
            TokenTree::Group(g) if tokens_have_await(&g.stream()) => return true,
            _ => {}
        }
        prev_dot = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '.');
    }
    false
}

/// Whether `e` is an await chain: `OP.await` under postfix operations whose other operands do
/// not await.
pub fn is_chain(e: &Expr) -> bool {
    match e {
        Expr::Await(_) => true,
        Expr::Try(t) => is_chain(&t.expr),
        Expr::MethodCall(m) => is_chain(&m.receiver) && !m.args.iter().any(contains_await),
        Expr::Field(f) => is_chain(&f.base),
        Expr::Paren(p) => is_chain(&p.expr),
        Expr::Group(g) => is_chain(&g.expr),
        _ => false,
    }
}

/// The `.await` at the bottom of a chain.
pub fn chain_await(e: &Expr) -> Option<&syn::ExprAwait> {
    match e {
        Expr::Await(a) => Some(a),
        Expr::Try(t) => chain_await(&t.expr),
        Expr::MethodCall(m) => chain_await(&m.receiver),
        Expr::Field(f) => chain_await(&f.base),
        Expr::Paren(p) => chain_await(&p.expr),
        Expr::Group(g) => chain_await(&g.expr),
        _ => None,
    }
}

pub fn chain_await_mut(e: &mut Expr) -> Option<&mut Expr> {
    match e {
        Expr::Await(_) => Some(e),
        Expr::Try(t) => chain_await_mut(&mut t.expr),
        Expr::MethodCall(m) => chain_await_mut(&mut m.receiver),
        Expr::Field(f) => chain_await_mut(&mut f.base),
        Expr::Paren(p) => chain_await_mut(&mut p.expr),
        Expr::Group(g) => chain_await_mut(&mut g.expr),
        _ => None,
    }
}

/// Pure operands can be left in place when a later operand awaits: evaluating them has no
/// effect and the await cannot change them.
fn is_pure(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Path(_) | Expr::Closure(_) => true,
        Expr::Field(f) => is_pure(&f.base),
        Expr::Reference(r) => is_pure(&r.expr),
        Expr::Paren(p) => is_pure(&p.expr),
        Expr::Group(g) => is_pure(&g.expr),
        Expr::Cast(c) => is_pure(&c.expr),
        Expr::Unary(u) => is_pure(&u.expr),
        _ => false,
    }
}

/// Which operands of `e` ([`children`], in its order) are read by value: not a method's
/// receiver, an index's base, an assignment's target, a struct literal's base (`..rest`) nor a
/// called function: those are places, which a temporary would copy or move.
fn value_operands(e: &Expr) -> Vec<bool> {
    match e {
        Expr::Array(a) => vec![true; a.elems.len()],
        Expr::Tuple(t) => vec![true; t.elems.len()],
        Expr::Call(c) => std::iter::once(false)
            .chain(c.args.iter().map(|_| true))
            .collect(),
        Expr::MethodCall(m) => std::iter::once(false)
            .chain(m.args.iter().map(|_| true))
            .collect(),
        Expr::Binary(b) if !is_compound_assign(&b.op) => vec![true, true],
        Expr::Index(_) => vec![false, true],
        Expr::Range(r) => vec![true; usize::from(r.start.is_some()) + usize::from(r.end.is_some())],
        Expr::Struct(s) => vec![true; s.fields.len()],
        _ => Vec::new(),
    }
}

/// The variable a field read by value reads from (`p` of `p.x`, `(p.a.b as u64)`); `None`
/// for anything else (a reference to a field is left in place: a reference cannot be saved).
fn field_root(e: &Expr) -> Option<String> {
    fn root(e: &Expr) -> Option<String> {
        match e {
            Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
            Expr::Field(f) => root(&f.base),
            Expr::Paren(p) => root(&p.expr),
            Expr::Group(g) => root(&g.expr),
            _ => None,
        }
    }
    match e {
        Expr::Field(f) => root(&f.base),
        Expr::Paren(p) => field_root(&p.expr),
        Expr::Group(g) => field_root(&g.expr),
        Expr::Cast(c) => field_root(&c.expr),
        Expr::Unary(u) => field_root(&u.expr),
        _ => None,
    }
}

/// Whether `e` names variable `name` (as a path of one segment, or in a macro's tokens).
fn names_variable(e: &Expr, name: &str) -> bool {
    struct Names<'n> {
        name: &'n str,
        found: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Names<'_> {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if p.qself.is_none() && p.path.is_ident(self.name) {
                self.found = true;
            }
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            fn has(ts: TokenStream, name: &str) -> bool {
                ts.into_iter().any(|tt| match tt {
                    proc_macro2::TokenTree::Ident(i) => i == name,
                    proc_macro2::TokenTree::Group(g) => has(g.stream(), name),
                    _ => false,
                })
            }
            if has(m.tokens.clone(), self.name) {
                self.found = true;
            }
        }
    }
    let mut v = Names { name, found: false };
    syn::visit::Visit::visit_expr(&mut v, e);
    v.found
}

impl<'a> Normalizer<'a> {
    pub fn new(cx: &'a Ctxt, ctx: &'a syn::Ident, krate: &'a TokenStream) -> Self {
        Normalizer {
            cx,
            ctx,
            krate,
            next_tmp: 0,
            loop_items: std::collections::HashMap::new(),
        }
    }

    fn tmp(&mut self, prefix: &str) -> syn::Ident {
        let n = self.next_tmp;
        self.next_tmp += 1;
        format_ident!("__wf_{}{}", prefix, n, span = Span::mixed_site())
    }

    pub fn block(&mut self, b: Block) -> Block {
        if !block_contains_await(&b) {
            return b;
        }
        let mut out = Vec::with_capacity(b.stmts.len());
        for s in b.stmts {
            self.stmt(s, &mut out);
        }
        Block {
            brace_token: b.brace_token,
            stmts: out,
        }
    }

    fn stmt(&mut self, s: Stmt, out: &mut Vec<Stmt>) {
        if !stmt_contains_await(&s) {
            out.push(s);
            return;
        }
        match s {
            Stmt::Local(local) => self.local(local, out),
            Stmt::Expr(e, semi) => {
                let e = self.top(e, out);
                out.push(Stmt::Expr(e, semi));
            }
            Stmt::Macro(mut m) => {
                self.macro_args(&mut m.mac, out);
                out.push(Stmt::Macro(m));
            }
            Stmt::Item(i) => out.push(Stmt::Item(i)),
        }
    }

    /// A macro whose arguments are expressions (`format!`, `vec!`, `println!`, `assert_eq!`...)
    /// is lowered like a call: its arguments are operands, evaluated left to right.
    fn macro_args(&mut self, mac: &mut syn::Macro, out: &mut Vec<Stmt>) {
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        let Ok(mut args) = mac.parse_body_with(parser) else {
            self.macro_await(mac);
            return;
        };
        let last = args.iter().rposition(contains_await);
        if let Some(last) = last {
            for (i, a) in args.iter_mut().enumerate().take(last + 1) {
                let taken = std::mem::replace(a, Expr::Verbatim(TokenStream::new()));
                *a = if contains_await(&taken) {
                    self.operand(taken, out)
                } else if i < last && !is_pure(&taken) {
                    self.bind_tmp(taken, out)
                } else {
                    taken
                };
            }
        }
        mac.tokens = quote!(#args);
    }

    fn macro_await(&self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        self.cx.spanned(
            mac,
            format!(
                "an `.await` inside `{name}!(..)` cannot be lowered into the workflow's state machine: \
                 bind the value first (`let value = ctx.activity(..).await?;`) and use `value` in the macro"
            ),
        );
    }

    fn local(&mut self, mut local: Local, out: &mut Vec<Stmt>) {
        let Some(init) = local.init.take() else {
            out.push(Stmt::Local(local));
            return;
        };
        let LocalInit {
            eq_token,
            expr,
            diverge,
        } = init;
        match diverge {
            None => {
                let e = self.top(*expr, out);
                local.init = Some(LocalInit {
                    eq_token,
                    expr: Box::new(e),
                    diverge: None,
                });
                out.push(Stmt::Local(local));
            }
            Some((else_token, else_expr)) if !contains_await(&else_expr) => {
                // let P = E else { D };  ->  let __wf_t = E; let P = __wf_t else { D };
                let e = self.operand(*expr, out);
                local.init = Some(LocalInit {
                    eq_token,
                    expr: Box::new(e),
                    diverge: Some((else_token, else_expr)),
                });
                out.push(Stmt::Local(local));
            }
            Some((_, else_expr)) => {
                // let P = E else { D };  ->  let (a, b) = match E { P => (a, b), _ => D };
                let pat = local.pat.clone();
                let names: Vec<(syn::Ident, bool)> = bindings(&pat)
                    .into_iter()
                    .map(|b| (b.ident, b.mutable))
                    .collect();
                let idents: Vec<&syn::Ident> = names.iter().map(|(i, _)| i).collect();
                let outer_pats = names
                    .iter()
                    .map(|(i, m)| if *m { quote!(mut #i) } else { quote!(#i) });
                let (outer, value): (Pat, Expr) = if names.len() == 1 {
                    let o = outer_pats.collect::<Vec<_>>().remove(0);
                    (parse_pat(o), parse_quote!(#(#idents)*))
                } else {
                    (
                        parse_pat(quote!((#(#outer_pats,)*))),
                        parse_quote!((#(#idents,)*)),
                    )
                };
                let inner_pat = strip_mut(pat);
                let Some(new_local) = self.reparse::<Stmt>(
                    quote!(let #outer = match #expr { #inner_pat => #value, _ => #else_expr };),
                    &outer,
                ) else {
                    return;
                };
                self.stmt(new_local, out);
            }
        }
    }

    /// Normalizes an expression in statement or `let`-initializer position: the result is
    /// await-free, an await chain, or a construct.
    pub fn top(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if !contains_await(&e) {
            return e;
        }
        match e {
            Expr::Await(mut aw) => {
                if classify(&aw.base, self.ctx).is_none() {
                    self.non_durable_await(&aw);
                }
                aw.base = Box::new(self.op_operands(*aw.base, out));
                Expr::Await(aw)
            }
            Expr::Try(mut t) => {
                let inner = self.top(*t.expr, out);
                t.expr = Box::new(self.chain_head(inner, out));
                Expr::Try(t)
            }
            Expr::MethodCall(mut m) if contains_await(&m.receiver) => {
                let recv = self.top(*m.receiver, out);
                let recv = self.chain_head(recv, out);
                if m.args.iter().any(contains_await) {
                    // The receiver is evaluated first; keep it in a temporary across the awaits
                    // of the arguments.
                    let t = self.bind_tmp(recv, out);
                    m.receiver = Box::new(t);
                    let args = std::mem::take(&mut m.args);
                    for a in args {
                        let a = self.operand(a, out);
                        m.args.push(a);
                    }
                } else {
                    m.receiver = Box::new(recv);
                }
                Expr::MethodCall(m)
            }
            Expr::Field(mut f) => {
                let base = self.top(*f.base, out);
                f.base = Box::new(self.chain_head(base, out));
                Expr::Field(f)
            }
            Expr::Paren(p) => self.top(*p.expr, out),
            Expr::Group(g) => self.top(*g.expr, out),
            Expr::If(ei) => self.if_expr(ei, out),
            Expr::Match(mut m) => {
                if contains_await(&m.expr) {
                    m.expr = Box::new(self.operand(*m.expr, out));
                }
                for arm in &mut m.arms {
                    if let Some((_, g)) = &arm.guard
                        && contains_await(g)
                    {
                        {
                            self.cx.spanned(
                                g,
                                "an `.await` in a match guard cannot be lowered: await before the `match` and bind the value",
                            );
                        }
                    }
                    if contains_await(&arm.body) {
                        let body =
                            std::mem::replace(&mut *arm.body, Expr::Verbatim(TokenStream::new()));
                        let block = match body {
                            Expr::Block(b) if b.label.is_none() => b.block,
                            other => Block {
                                brace_token: Default::default(),
                                stmts: vec![Stmt::Expr(other, None)],
                            },
                        };
                        let block = self.block(block);
                        *arm.body = Expr::Block(syn::ExprBlock {
                            attrs: vec![],
                            label: None,
                            block,
                        });
                        arm.comma = Some(Default::default());
                    }
                }
                Expr::Match(m)
            }
            Expr::Loop(mut l) => {
                l.body = self.block(l.body);
                Expr::Loop(l)
            }
            Expr::Block(mut b) => {
                b.block = self.block(b.block);
                Expr::Block(b)
            }
            Expr::Unsafe(mut u) => {
                u.block = self.block(u.block);
                Expr::Unsafe(u)
            }
            Expr::While(w) if awaits_in_let_chain(&w.cond) => {
                self.cx.spanned(
                    &w.cond,
                    "an `.await` in a `let` chain of a `while` cannot be lowered: write `loop`, await in its body, bind the value, and `break` when it does not match",
                );
                Expr::While(w)
            }
            Expr::While(w) => {
                let label = &w.label;
                let body = &w.body;
                let attrs = &w.attrs;
                let tokens = match &*w.cond {
                    Expr::Let(l) => {
                        let pat = &l.pat;
                        let scrut = &l.expr;
                        quote!(#(#attrs)* #label loop { let (#pat) = #scrut else { break; }; #body })
                    }
                    // A let chain binds for the body: the body goes inside the `if`.
                    cond if is_let_chain(cond) => {
                        quote!(#(#attrs)* #label loop { if #cond #body else { break; } })
                    }
                    cond => quote!(#(#attrs)* #label loop { if !(#cond) { break; } #body }),
                };
                match self.reparse::<Expr>(tokens, &w.cond) {
                    Some(desugared) => self.top(desugared, out),
                    None => Expr::While(w),
                }
            }
            Expr::ForLoop(f) => {
                let iter = self.operand(*f.expr, out);
                if !block_contains_await(&f.body) {
                    return Expr::ForLoop(syn::ExprForLoop {
                        expr: Box::new(iter),
                        ..f
                    });
                }
                let krate = self.krate;
                let pat = &f.pat;
                let label = &f.label;
                let body = &f.body;
                let attrs = &f.attrs;
                for b in bindings(pat) {
                    self.loop_items.insert(binding_site(&b.ident), iter.clone());
                }
                let borrowed = borrows_items(&iter, &f.body);
                if matches!(borrowed, Borrowed::No) && endless(&iter) {
                    self.cx.spanned(
                        &iter,
                        "this iterator does not end, and a `for` loop with an `.await` in its body collects its items \
                         when it starts (to save what is left of them): write `loop` with a counter \
                         (`let mut t = 0; loop { ...; t += 30; }`), or bound the iterator (`.take(n)`)",
                    );
                    return Expr::ForLoop(syn::ExprForLoop {
                        expr: Box::new(iter),
                        ..f
                    });
                }
                if let Borrowed::Changing(changed) = &borrowed {
                    self.cx.spanned(
                        &iter,
                        format!(
                            "the items of this loop are references, and it reads `{changed}`, which its body changes: \
                             after an await in the body the loop cannot be made again where it was, and references \
                             cannot be saved in the workflow's state; copy `{changed}` into a variable the body leaves \
                             alone before the loop, or iterate over owned items (`.cloned()`, `.to_vec()`)"
                        ),
                    );
                    return Expr::ForLoop(syn::ExprForLoop {
                        expr: Box::new(iter),
                        ..f
                    });
                }
                if matches!(borrowed, Borrowed::Yes) {
                    // The items are references into a collection the loop keeps borrowed (so
                    // unchanged): save the position, and take the item at that position from a
                    // new iterator at each iteration.
                    let pos = self.tmp("pos");
                    out.push(parse_quote!(let mut #pos: usize = 0;));
                    let tokens = quote!(#(#attrs)* #label loop {
                        let (#pat) = match #krate::__private::loop_nth(#iter, &mut #pos) {
                            ::core::option::Option::Some(__wf_item) => __wf_item,
                            ::core::option::Option::None => break,
                        };
                        #body
                    });
                    return match self.reparse::<Expr>(tokens, pat) {
                        Some(desugared) => self.top(desugared, out),
                        None => Expr::Verbatim(TokenStream::new()),
                    };
                }
                // Errors about the saved items (`&u64` cannot be saved) point at the iterable.
                let at = syn::spanned::Spanned::span(&iter);
                let it = self.tmp("it");
                let it = syn::Ident::new(&it.to_string(), Span::mixed_site().located_at(at));
                let keep = match strip_parens(&iter) {
                    Expr::Range(r)
                        if r.start.is_some() && matches!(r.limits, syn::RangeLimits::Closed(_)) =>
                    {
                        quote!(loop_range_inclusive)
                    }
                    Expr::Range(r) if r.start.is_some() => quote!(loop_range),
                    _ => quote!(loop_items),
                };
                out.push(parse_quote_spanned!(at=> let mut #it = #krate::__private::#keep(#iter);));
                let tokens = quote!(#(#attrs)* #label loop {
                    let (#pat) = match ::core::iter::Iterator::next(&mut #it) {
                        ::core::option::Option::Some(__wf_item) => __wf_item,
                        ::core::option::Option::None => break,
                    };
                    #body
                });
                match self.reparse::<Expr>(tokens, pat) {
                    Some(desugared) => self.top(desugared, out),
                    None => Expr::Verbatim(TokenStream::new()),
                }
            }
            Expr::Binary(b)
                if matches!(b.op, syn::BinOp::And(_) | syn::BinOp::Or(_))
                    && contains_await(&b.right) =>
            {
                let (l, r) = (&b.left, &b.right);
                let tokens = if matches!(b.op, syn::BinOp::And(_)) {
                    quote!(if #l { #r } else { false })
                } else {
                    quote!(if #l { true } else { #r })
                };
                match self.reparse::<Expr>(tokens, &b) {
                    Some(e) => self.top(e, out),
                    None => Expr::Binary(b),
                }
            }
            Expr::Return(mut r) => {
                if let Some(x) = r.expr.take() {
                    r.expr = Some(Box::new(self.operand(*x, out)));
                }
                Expr::Return(r)
            }
            Expr::Break(mut b) => {
                if let Some(x) = b.expr.take() {
                    b.expr = Some(Box::new(self.operand(*x, out)));
                }
                Expr::Break(b)
            }
            Expr::Assign(mut a) => {
                a.right = Box::new(self.operand(*a.right, out));
                if contains_await(&a.left) {
                    self.cx.spanned(&a.left, "an `.await` on the left of `=` cannot be lowered: await first and bind the value");
                }
                Expr::Assign(a)
            }
            Expr::Binary(mut b) if is_compound_assign(&b.op) => {
                b.right = Box::new(self.operand(*b.right, out));
                if contains_await(&b.left) {
                    self.cx.spanned(&b.left, "an `.await` on the left of an assignment cannot be lowered: await first and bind the value");
                }
                Expr::Binary(b)
            }
            Expr::Macro(mut m) => {
                self.macro_args(&mut m.mac, out);
                Expr::Macro(m)
            }
            Expr::Let(l) => {
                self.cx.spanned(&l, "this `let` with an `.await` cannot be lowered here: await first and bind the value");
                Expr::Let(l)
            }
            other => self.operands(other, out),
        }
    }

    /// Parses code the normalization wrote around the user's (a `let` binding a temporary, the
    /// desugaring of `while`, `for`, `&&` and `||`). Invariant: each is built from expressions
    /// of code rustc parsed and that the cases before it did not reject (`let` chains, a `let`
    /// outside a condition), so it parses; were it not to, the error names the user's code
    /// rather than panicking. (A closure never reaches `top`: `contains_await` does not look
    /// into closures, and `awaits_in_closures` reports an await in one before this pass.)
    fn reparse<T: syn::parse::Parse>(
        &self,
        tokens: TokenStream,
        at: &dyn quote::ToTokens,
    ) -> Option<T> {
        match syn::parse2::<T>(tokens) {
            Ok(t) => Some(t),
            Err(e) => {
                self.cx.spanned(at, format!("this construct cannot be lowered around an `.await` ({e}); await first and bind the value"));
                None
            }
        }
    }

    fn non_durable_await(&self, aw: &syn::ExprAwait) {
        let ctx = self.ctx;
        // `tokio::time::sleep(d).await` and the like already have a determinism error that
        // says what to write instead: one error per mistake.
        let base = &aw.base;
        let probe: Block = parse_quote!({ #base; });
        let probe_cx = Ctxt::new();
        crate::check::check_body(&probe_cx, &probe, ctx, &Default::default());
        // The probe's errors are the determinism check's, reported by the driver's own call.
        if probe_cx.check().is_err() {
            return;
        }
        self.cx.spanned(
            aw,
            format!(
                "only durable operations can be awaited in a workflow: `{ctx}.activity(..)`, `{ctx}.sleep(..)`, \
                 `{ctx}.signal::<T>(..)`, `{ctx}.child(..)`, `{ctx}.cancellation()`, `{ctx}.join(..)`, `{ctx}.select(..)`; \
                 any other future is not persisted and would be lost in a crash. Put other async code in an \
                 #[activity] and await `{ctx}.activity(..)`"
            ),
        );
    }

    /// After `top` on the head of a postfix operation: keep a chain a chain, and put a
    /// construct in a temporary.
    fn chain_head(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if is_chain(&e) || !contains_await(&e) {
            e
        } else {
            self.bind_tmp(e, out)
        }
    }

    fn bind_tmp(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if self.cx.has_errors() {
            // Lowering stops after this pass; do not build on code already reported.
            return e;
        }
        let t = self.tmp("t");
        if let Some(s) = self.reparse::<Stmt>(quote!(let #t = #e;), &e) {
            out.push(s);
        }
        parse_quote!(#t)
    }

    /// Normalizes `e` to an await-free expression, moving what awaits into `let`s before it.
    pub fn operand(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if !contains_await(&e) {
            return e;
        }
        let e = self.top(e, out);
        if contains_await(&e) {
            self.bind_tmp(e, out)
        } else {
            e
        }
    }

    /// The arguments of a durable operation's method chain (`ctx.activity(a, x).retry(p)`).
    fn op_operands(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if !contains_await(&e) {
            return e;
        }
        self.operands(e, out)
    }

    /// Hoists the awaits out of the direct operands of `e`, in evaluation order.
    fn operands(&mut self, mut e: Expr, out: &mut Vec<Stmt>) -> Expr {
        let by_value = value_operands(&e);
        let mut kids = children(&mut e);
        if kids.is_none() {
            self.cx.spanned(
                &e,
                "an `.await` in this position cannot be lowered: await first, bind the value with `let`, and use it here",
            );
            return e;
        }
        let kids = kids.as_mut().expect("checked above");
        let last = kids.iter().rposition(|k| contains_await(k));
        if let Some(last) = last {
            // A field read (`p.x`) of a variable that an operand after it names (and may
            // move: `(p.x, ctx.activity(area, p).await?)`) is read before, as the code reads
            // it: left in place, it would be read after the await, from a moved variable.
            let named_later: Vec<bool> = (0..kids.len())
                .map(|i| {
                    by_value.get(i).copied().unwrap_or(false)
                        && field_root(&*kids[i]).is_some_and(|root| {
                            kids[i + 1..=last.max(i)]
                                .iter()
                                .any(|k| names_variable(k, &root))
                        })
                })
                .collect();
            for (i, k) in kids.iter_mut().enumerate() {
                if i > last {
                    break;
                }
                let taken = std::mem::replace(&mut **k, Expr::Verbatim(TokenStream::new()));
                **k = if contains_await(&taken) {
                    self.operand(taken, out)
                } else if i < last && (!is_pure(&taken) || named_later[i]) {
                    self.bind_tmp(taken, out)
                } else {
                    taken
                };
            }
        }
        e
    }

    fn if_expr(&mut self, mut ei: syn::ExprIf, out: &mut Vec<Stmt>) -> Expr {
        if awaits_in_let_chain(&ei.cond) {
            self.cx.spanned(
                &ei.cond,
                "an `.await` in a `let` chain cannot be lowered: await before the `if`, bind the value, and test it",
            );
            return Expr::If(ei);
        }
        if contains_await(&ei.cond) {
            let cond = std::mem::replace(&mut *ei.cond, Expr::Verbatim(TokenStream::new()));
            *ei.cond = match cond {
                Expr::Let(mut l) => {
                    l.expr = Box::new(self.operand(*l.expr, out));
                    Expr::Let(l)
                }
                c => self.operand(c, out),
            };
        }
        ei.then_branch = self.block(ei.then_branch);
        if let Some((else_tok, e)) = ei.else_branch.take() {
            let e = if contains_await(&e) {
                let mut pre = Vec::new();
                let e2 = self.top(*e, &mut pre);
                if pre.is_empty() {
                    e2
                } else {
                    pre.push(Stmt::Expr(e2, None));
                    Expr::Block(syn::ExprBlock {
                        attrs: vec![],
                        label: None,
                        block: Block {
                            brace_token: Default::default(),
                            stmts: pre,
                        },
                    })
                }
            } else {
                *e
            };
            ei.else_branch = Some((else_tok, Box::new(e)));
        }
        Expr::If(ei)
    }
}

/// How many `let`s a condition holds (more than one: a let chain).
/// Whether `cond` awaits and is a `let` chain (a `let` joined to anything by `&&`): its parts
/// cannot be hoisted apart without changing which `let` binds.
fn awaits_in_let_chain(cond: &Expr) -> bool {
    contains_await(cond)
        && match lets_in(cond) {
            0 => false,
            1 => !matches!(cond, Expr::Let(_)),
            _ => true,
        }
}

fn lets_in(e: &Expr) -> usize {
    struct F(usize);
    impl<'ast> Visit<'ast> for F {
        fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
            self.0 += 1;
            syn::visit::visit_expr_let(self, l);
        }
        // Blocks are skipped too (a `let` in one is not part of the condition's chain), and
        // with them the items they hold; an async block's `let`s are counted, as before, which
        // can only make a condition look more like a chain.
        crate::visit::skip_nested!(closures);
        fn visit_expr_block(&mut self, _: &'ast syn::ExprBlock) {}
    }
    let mut f = F(0);
    f.visit_expr(e);
    f.0
}

/// Whether a `for` loop's iterable borrows its items from a place the loop keeps borrowed, and
/// can be evaluated again at each iteration with the same result: `&items`, `&mut items`,
/// `&items[1..]`, `order.lines.iter()`, `map.keys().enumerate()`, `text.split(',')`... The
/// place cannot change while the loop runs (it is borrowed); what else the iterable reads
/// (`&items[start..]`, `.skip(n)`) must not be assigned in the body.
fn borrows_items(e: &Expr, body: &Block) -> Borrowed {
    // Whether the shape borrows, and whether its items are references.
    let (shape, refs) = match strip_parens(e) {
        Expr::Reference(r) => (is_place(&r.expr), true),
        Expr::MethodCall(outer) => {
            // `.cloned()`, `.copied()`, `.map(..)` last: the items may be owned.
            let owned = matches!(
                outer.method.to_string().as_str(),
                "cloned" | "copied" | "map" | "filter_map" | "flat_map" | "map_while"
            );
            let mut e = strip_parens(e);
            let mut first = None;
            let mut pure_args = true;
            while let Expr::MethodCall(m) = e {
                first = Some(m);
                pure_args &= m.args.iter().all(|a| !has_call(a));
                e = strip_parens(&m.receiver);
            }
            match first.map(|m| m.method.to_string()) {
                Some(m)
                    if pure_args && is_place(e) && BORROWING_ITERATORS.contains(&m.as_str()) =>
                {
                    (
                        true,
                        !owned && !matches!(m.as_str(), "chars" | "char_indices" | "bytes"),
                    )
                }
                _ => (false, false),
            }
        }
        _ => (false, false),
    };
    if !shape {
        return Borrowed::No;
    }
    let assigned = assigned_in(body);
    match mentioned_in(e).into_iter().find(|n| assigned.contains(n)) {
        None => Borrowed::Yes,
        Some(changed) if refs => Borrowed::Changing(changed),
        // `text.chars().skip(n)` with `n` changing: its items are owned, and can be saved.
        Some(_) => Borrowed::No,
    }
}

/// What `borrows_items` found.
enum Borrowed {
    /// The items are borrowed, and the iterable can be made again at each iteration.
    Yes,
    /// The items are references, but the iterable reads a variable the body changes.
    Changing(String),
    No,
}

/// Methods that iterate over a collection or a string by reference, and have no effect.
const BORROWING_ITERATORS: &[&str] = &[
    "iter",
    "iter_mut",
    "keys",
    "values",
    "values_mut",
    "chars",
    "char_indices",
    "bytes",
    "lines",
    "split",
    "rsplit",
    "splitn",
    "rsplitn",
    "split_terminator",
    "split_inclusive",
    "split_whitespace",
    "split_ascii_whitespace",
    "matches",
    "match_indices",
    "windows",
    "chunks",
    "chunks_exact",
    "rchunks",
];

/// A variable, a field of one, or a slice of one with bounds that call nothing (`items`,
/// `order.lines`, `items[1..]`).
fn is_place(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::Path(p) => p.qself.is_none(),
        Expr::Field(f) => is_place(&f.base),
        Expr::Index(i) => is_place(&i.expr) && !has_call(&i.index),
        _ => false,
    }
}

/// Whether `e` calls a function or a method outside a closure.
fn has_call(e: &Expr) -> bool {
    struct F(bool);
    impl<'ast> Visit<'ast> for F {
        fn visit_expr_call(&mut self, _: &'ast syn::ExprCall) {
            self.0 = true;
        }
        fn visit_expr_method_call(&mut self, _: &'ast syn::ExprMethodCall) {
            self.0 = true;
        }
        fn visit_macro(&mut self, _: &'ast syn::Macro) {
            self.0 = true;
        }
        // Only closures: a call in an async block or in an item inside a block is counted, which
        // can only make an iterable look less pure (it is then saved, not made again).
        crate::visit::skip_nested!(closures);
    }
    let mut f = F(false);
    f.visit_expr(e);
    f.0
}

/// The one-segment paths `e` reads (closures included).
fn mentioned_in(e: &Expr) -> Vec<String> {
    struct F(Vec<String>);
    impl<'ast> Visit<'ast> for F {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if let Some(i) = p.path.get_ident() {
                self.0.push(i.to_string());
            }
        }
    }
    let mut f = F(Vec::new());
    f.visit_expr(e);
    f.0
}

/// The variables `b` assigns (`x = ..`, `x += ..`) or borrows mutably (`&mut x`), by the name
/// at the root of the place.
fn assigned_in(b: &Block) -> std::collections::HashSet<String> {
    fn root(e: &Expr) -> Option<String> {
        match e {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            Expr::Field(f) => root(&f.base),
            Expr::Index(i) => root(&i.expr),
            Expr::Paren(p) => root(&p.expr),
            Expr::Unary(u) => root(&u.expr),
            _ => None,
        }
    }
    struct F(std::collections::HashSet<String>);
    impl<'ast> Visit<'ast> for F {
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            self.0.extend(root(&a.left));
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            if is_compound_assign(&b.op) {
                self.0.extend(root(&b.left));
            }
            syn::visit::visit_expr_binary(self, b);
        }
        fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
            if r.mutability.is_some() {
                self.0.extend(root(&r.expr));
            }
            syn::visit::visit_expr_reference(self, r);
        }
    }
    let mut f = F(Default::default());
    f.visit_block(b);
    f.0
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        other => other,
    }
}

fn is_compound_assign(op: &syn::BinOp) -> bool {
    use syn::BinOp::*;
    matches!(
        op,
        AddAssign(_)
            | SubAssign(_)
            | MulAssign(_)
            | DivAssign(_)
            | RemAssign(_)
            | BitXorAssign(_)
            | BitAndAssign(_)
            | BitOrAssign(_)
            | ShlAssign(_)
            | ShrAssign(_)
    )
}

/// The direct operands of an expression, in evaluation order; `None` for expressions whose
/// operands the normalization does not take apart.
fn children(e: &mut Expr) -> Option<Vec<&mut Expr>> {
    Some(match e {
        Expr::Array(a) => a.elems.iter_mut().collect(),
        Expr::Call(c) => std::iter::once(&mut *c.func)
            .chain(c.args.iter_mut())
            .collect(),
        Expr::MethodCall(m) => std::iter::once(&mut *m.receiver)
            .chain(m.args.iter_mut())
            .collect(),
        Expr::Binary(b) => vec![&mut *b.left, &mut *b.right],
        Expr::Unary(u) => vec![&mut *u.expr],
        Expr::Cast(c) => vec![&mut *c.expr],
        Expr::Field(f) => vec![&mut *f.base],
        Expr::Index(i) => vec![&mut *i.expr, &mut *i.index],
        Expr::Paren(p) => vec![&mut *p.expr],
        Expr::Group(g) => vec![&mut *g.expr],
        Expr::Reference(r) => vec![&mut *r.expr],
        Expr::Range(r) => r
            .start
            .iter_mut()
            .chain(r.end.iter_mut())
            .map(|b| &mut **b)
            .collect(),
        Expr::Struct(s) => s
            .fields
            .iter_mut()
            .map(|f| &mut f.expr)
            .chain(s.rest.iter_mut().map(|b| &mut **b))
            .collect(),
        Expr::Tuple(t) => t.elems.iter_mut().collect(),
        Expr::Repeat(r) => vec![&mut *r.expr],
        Expr::Try(t) => vec![&mut *t.expr],
        _ => return None,
    })
}

fn strip_mut(mut p: Pat) -> Pat {
    struct S;
    impl syn::visit_mut::VisitMut for S {
        fn visit_pat_ident_mut(&mut self, i: &mut syn::PatIdent) {
            i.mutability = None;
            syn::visit_mut::visit_pat_ident_mut(self, i);
        }
    }
    syn::visit_mut::VisitMut::visit_pat_mut(&mut S, &mut p);
    p
}

fn parse_pat(ts: TokenStream) -> Pat {
    syn::parse::Parser::parse2(Pat::parse_single, ts.clone()).unwrap_or(Pat::Verbatim(ts))
}

/// Whether `cond` is a chain of `&&` with a `let` among its operands (`let Some(x) = q.pop()
/// && x > 0`).
fn is_let_chain(cond: &Expr) -> bool {
    match cond {
        Expr::Let(_) => true,
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
            is_let_chain(&b.left) || is_let_chain(&b.right)
        }
        _ => false,
    }
}

/// Whether iterable `e` plainly never ends: an open range (`(0..)`; a bare `0..` is counted
/// lazily by the loop) under adapters, `iter::repeat`, `repeat_with` or `.cycle()`, with no
/// adapter that ends it after (`take`, `take_while`, `map_while`, `zip`, `scan`).
fn endless(e: &Expr) -> bool {
    fn source(e: &Expr) -> bool {
        match strip_parens(e) {
            Expr::MethodCall(m) => match m.method.to_string().as_str() {
                "cycle" => true,
                "take" | "take_while" | "map_while" | "zip" | "scan" => false,
                _ => source(&m.receiver),
            },
            Expr::Range(r) => r.start.is_some() && r.end.is_none(),
            Expr::Call(c) => matches!(&*c.func, Expr::Path(p)
                if p.path.segments.last().is_some_and(|s| s.ident == "repeat" || s.ident == "repeat_with")),
            _ => false,
        }
    }
    !matches!(strip_parens(e), Expr::Range(_)) && source(e)
}
