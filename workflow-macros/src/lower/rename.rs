//! Renaming of shadowing bindings, before anything else: a binding in an inner scope that
//! shadows a variable of an enclosing scope, with an await in the inner binding's scope, is
//! renamed (`amount` -> `amount_wf1`) in its pattern and in every use. Without it, both variables
//! may have to be saved at the await while only the inner one can be named there.
//!
//! Input:  `let amount: u64 = 1; { let amount: String = s; ctx.sleep(d).await; use(amount) } amount`
//! Output: `let amount: u64 = 1; { let amount_wf1: String = s; ctx.sleep(d).await; use(amount_wf1) } amount`

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt, Token};

use super::normalize::{block_contains_await, contains_await};
use super::pattern::bindings;

pub fn rename_shadowing(body: &mut Block, params: &[String]) {
    let mut r = Renamer {
        outer: vec![params.iter().cloned().collect()],
        next: 1,
    };
    r.block(body);
}

struct Renamer {
    /// Names bound in each enclosing scope.
    outer: Vec<HashSet<String>>,
    next: usize,
}

impl Renamer {
    fn shadows(&self, name: &str) -> bool {
        self.outer.iter().any(|s| s.contains(name))
    }

    fn fresh(&mut self, name: &str) -> syn::Ident {
        let n = self.next;
        self.next += 1;
        format_ident!("{}_wf{}", name, n)
    }

    fn block(&mut self, b: &mut Block) {
        self.outer.push(HashSet::new());
        let len = b.stmts.len();
        // A block that awaits anywhere is cut into points: a jump out of it at its end carries
        // the outer variable, which an inner binding of the same name would hide there.
        let block_awaits = b.stmts.iter().any(super::normalize::stmt_contains_await);
        for i in 0..len {
            let (head, tail) = b.stmts.split_at_mut(i + 1);
            let stmt = &mut head[i];
            self.walk_stmt(stmt);
            if let Stmt::Local(l) = stmt {
                let names: Vec<syn::Ident> =
                    bindings(&l.pat).into_iter().map(|b| b.ident).collect();
                for ident in names {
                    let name = ident.to_string();
                    let depth = self.outer.len();
                    let shadows_outer = self.outer[..depth - 1].iter().any(|s| s.contains(&name));
                    if shadows_outer && block_awaits {
                        let to = self.fresh(&name);
                        rename_pat(&mut l.pat, &name, &to);
                        rename_stmts(tail, &name, &to);
                        self.outer.last_mut().expect("open").insert(to.to_string());
                    } else {
                        self.outer.last_mut().expect("open").insert(name);
                    }
                }
            }
        }
        self.outer.pop();
    }

    fn walk_stmt(&mut self, s: &mut Stmt) {
        match s {
            Stmt::Local(l) => {
                if let Some(init) = &mut l.init {
                    self.expr(&mut init.expr);
                    if let Some((_, d)) = &mut init.diverge {
                        self.expr(d);
                    }
                }
            }
            Stmt::Expr(e, _) => self.expr(e),
            _ => {}
        }
    }

    /// Renames in the patterns of arms, `for`, `if let` and `while let` that shadow an outer
    /// variable and whose body awaits; recurses into blocks.
    fn expr(&mut self, e: &mut Expr) {
        if !contains_await(e) {
            return;
        }
        match e {
            Expr::Match(m) => {
                self.expr(&mut m.expr);
                for arm in &mut m.arms {
                    if contains_await(&arm.body) {
                        self.scoped_pat(&mut arm.pat, &mut arm.body);
                    }
                }
            }
            Expr::ForLoop(f) => {
                self.expr(&mut f.expr);
                let mut body = Expr::Block(syn::ExprBlock {
                    attrs: vec![],
                    label: None,
                    block: f.body.clone(),
                });
                self.scoped_pat(&mut f.pat, &mut body);
                if let Expr::Block(b) = body {
                    f.body = b.block;
                }
            }
            Expr::If(ei) => {
                if let Expr::Let(l) = &mut *ei.cond {
                    self.expr(&mut l.expr);
                    let mut body = Expr::Block(syn::ExprBlock {
                        attrs: vec![],
                        label: None,
                        block: ei.then_branch.clone(),
                    });
                    self.scoped_pat(&mut l.pat, &mut body);
                    if let Expr::Block(b) = body {
                        ei.then_branch = b.block;
                    }
                } else {
                    self.expr(&mut ei.cond);
                    self.block(&mut ei.then_branch);
                }
                if let Some((_, e)) = &mut ei.else_branch {
                    self.expr(e);
                }
            }
            Expr::While(w) => {
                if let Expr::Let(l) = &mut *w.cond {
                    let mut body = Expr::Block(syn::ExprBlock {
                        attrs: vec![],
                        label: None,
                        block: w.body.clone(),
                    });
                    self.scoped_pat(&mut l.pat, &mut body);
                    if let Expr::Block(b) = body {
                        w.body = b.block;
                    }
                } else {
                    self.block(&mut w.body);
                }
            }
            Expr::Loop(l) => self.block(&mut l.body),
            Expr::Block(b) => self.block(&mut b.block),
            Expr::Unsafe(u) => self.block(&mut u.block),
            _ => {}
        }
    }

    fn scoped_pat(&mut self, pat: &mut Pat, body: &mut Expr) {
        let mut scope = HashSet::new();
        for b in bindings(pat) {
            let name = b.ident.to_string();
            if self.shadows(&name) && contains_await(body) {
                let to = self.fresh(&name);
                rename_pat(pat, &name, &to);
                rename_expr(body, &name, &to);
                scope.insert(to.to_string());
            } else {
                scope.insert(name);
            }
        }
        self.outer.push(scope);
        self.expr(body);
        if let Expr::Block(b) = body
            && block_contains_await(&b.block)
        {
            self.block(&mut b.block);
        }
        self.outer.pop();
    }
}

fn rename_pat(p: &mut Pat, from: &str, to: &syn::Ident) {
    struct R<'a>(&'a str, &'a syn::Ident);
    impl VisitMut for R<'_> {
        fn visit_pat_ident_mut(&mut self, i: &mut syn::PatIdent) {
            if i.ident == self.0 {
                i.ident = syn::Ident::new(&self.1.to_string(), i.ident.span());
            }
            syn::visit_mut::visit_pat_ident_mut(self, i);
        }
        fn visit_field_pat_mut(&mut self, f: &mut syn::FieldPat) {
            // `Order { id }` binds `id`: spell the field out before renaming the binding.
            if f.colon_token.is_none() {
                f.colon_token = Some(Default::default());
            }
            syn::visit_mut::visit_field_pat_mut(self, f);
        }
    }
    R(from, to).visit_pat_mut(p);
}

fn rename_stmts(stmts: &mut [Stmt], from: &str, to: &syn::Ident) {
    for s in stmts.iter_mut() {
        let rebinds =
            matches!(s, Stmt::Local(l) if bindings(&l.pat).iter().any(|b| b.ident == from));
        match s {
            Stmt::Local(l) => {
                if let Some(init) = &mut l.init {
                    rename_expr(&mut init.expr, from, to);
                    if let Some((_, d)) = &mut init.diverge {
                        rename_expr(d, from, to);
                    }
                }
            }
            Stmt::Expr(e, _) => rename_expr(e, from, to),
            Stmt::Macro(m) => rename_macro(&mut m.mac, from, to),
            Stmt::Item(_) => {}
        }
        if rebinds {
            return;
        }
    }
}

/// Renames the free uses of `from` in `e` (not where a pattern inside rebinds it).
fn rename_expr(e: &mut Expr, from: &str, to: &syn::Ident) {
    struct R<'a> {
        from: &'a str,
        to: &'a syn::Ident,
    }
    impl VisitMut for R<'_> {
        fn visit_expr_path_mut(&mut self, p: &mut syn::ExprPath) {
            if p.qself.is_none() && p.path.is_ident(self.from) {
                let span = p.path.segments[0].ident.span();
                p.path.segments[0].ident = syn::Ident::new(&self.to.to_string(), span);
            }
        }
        fn visit_field_value_mut(&mut self, f: &mut syn::FieldValue) {
            if f.colon_token.is_none()
                && matches!(&f.member, syn::Member::Named(n) if n == self.from)
            {
                f.colon_token = Some(Default::default());
            }
            syn::visit_mut::visit_field_value_mut(self, f);
        }
        fn visit_block_mut(&mut self, b: &mut Block) {
            rename_stmts(&mut b.stmts, self.from, self.to);
        }
        fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
            if bindings(&arm.pat).iter().any(|b| b.ident == self.from) {
                return;
            }
            syn::visit_mut::visit_arm_mut(self, arm);
        }
        fn visit_expr_closure_mut(&mut self, c: &mut syn::ExprClosure) {
            if c.inputs
                .iter()
                .any(|p| bindings(p).iter().any(|b| b.ident == self.from))
            {
                return;
            }
            syn::visit_mut::visit_expr_closure_mut(self, c);
        }
        fn visit_expr_for_loop_mut(&mut self, f: &mut syn::ExprForLoop) {
            self.visit_expr_mut(&mut f.expr);
            if !bindings(&f.pat).iter().any(|b| b.ident == self.from) {
                self.visit_block_mut(&mut f.body);
            }
        }
        fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
            rename_macro(m, self.from, self.to);
        }
        // Closures are handled above (their parameters may rebind `from`); async blocks are
        // walked: they capture the variable, so their uses are renamed too.
        crate::visit::skip_nested_mut!(items);
    }
    R { from, to }.visit_expr_mut(e);
}

fn rename_macro(m: &mut syn::Macro, from: &str, to: &syn::Ident) {
    let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
    match m.parse_body_with(parser) {
        Ok(mut args) => {
            for a in args.iter_mut() {
                if let Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = a
                {
                    let renamed = rename_in_format(&s.value(), from, &to.to_string());
                    *s = syn::LitStr::new(&renamed, s.span());
                } else {
                    rename_expr(a, from, to);
                }
            }
            m.tokens = args.into_token_stream();
        }
        Err(_) => m.tokens = rename_tokens(m.tokens.clone(), from, to),
    }
}

fn rename_tokens(ts: TokenStream, from: &str, to: &syn::Ident) -> TokenStream {
    ts.into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(i) if i == from => {
                TokenTree::Ident(syn::Ident::new(&to.to_string(), i.span()))
            }
            TokenTree::Group(g) => {
                let mut ng =
                    proc_macro2::Group::new(g.delimiter(), rename_tokens(g.stream(), from, to));
                ng.set_span(g.span());
                TokenTree::Group(ng)
            }
            other => other,
        })
        .collect()
}

/// `"{amount} {amount:>8}"` -> `"{amount__1} {amount__1:>8}"`.
fn rename_in_format(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        if let Some(stripped) = rest.strip_prefix('{') {
            out.push('{');
            rest = stripped;
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        if rest[..end].trim() == from {
            out.push_str(to);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}
