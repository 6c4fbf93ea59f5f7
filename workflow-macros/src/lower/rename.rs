//! Renaming of shadowing bindings, before anything else: a binding in an inner scope that
//! shadows a variable of an enclosing scope is renamed (`amount` -> `amount_wf1`) in its
//! pattern and in every use. The lowering saves and restores variables by name at its jumps:
//! an inner binding left under an outer one's name would be saved for the outer one (an arm
//! or branch that falls to the join after its match, a `break` out of a block) or read
//! where the outer one is meant. Every such binding is renamed, in `let`, in a match arm (and
//! its guard), in `if let`, `while let` and let chains, and in `for`, whether or not its
//! scope awaits: a scope that does not await still ends in a jump of the lowered code.
//! Closures, async blocks and items are left as they are (their code is not lowered).
//!
//! Input:  `let amount: u64 = 1; { let amount: String = s; ctx.sleep(d).await; use(amount) } amount`
//! Output: `let amount: u64 = 1; { let amount_wf1: String = s; ctx.sleep(d).await; use(amount_wf1) } amount`

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt, Token};

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
        // `r#type` becomes `type_wf1`, no keyword (and no raw identifier, which the
        // renaming's `Ident::new` would refuse).
        format_ident!("{}_wf{}", name.trim_start_matches("r#"), n)
    }

    fn block(&mut self, b: &mut Block) {
        self.outer.push(HashSet::new());
        let len = b.stmts.len();
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
                    if shadows_outer {
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
                    self.visit_expr_mut(&mut init.expr);
                    if let Some((_, d)) = &mut init.diverge {
                        self.visit_expr_mut(d);
                    }
                }
            }
            Stmt::Expr(e, _) => self.visit_expr_mut(e),
            _ => {}
        }
    }

    /// A condition (`if` or `while`: a let chain, an `if let`, or none) and the block it
    /// guards: each `let`'s bindings scope over the operands after it and the block.
    fn guarded(&mut self, cond: &mut Expr, body: &mut Block) {
        let mut ops = Vec::new();
        and_operands(cond, &mut ops);
        let mut block = Expr::Block(syn::ExprBlock {
            attrs: vec![],
            label: None,
            block: std::mem::replace(
                body,
                Block {
                    brace_token: Default::default(),
                    stmts: vec![],
                },
            ),
        });
        let mut opened = 0;
        for i in 0..ops.len() {
            let (head, rest) = ops.split_at_mut(i + 1);
            match &mut *head[i] {
                Expr::Let(l) => {
                    self.visit_expr_mut(&mut l.expr);
                    // The operands after it, up to one that binds the same names again (its
                    // own scrutinee included), and the block.
                    let mut uses: Vec<&mut Expr> = rest.iter_mut().map(|e| &mut **e).collect();
                    uses.push(&mut block);
                    self.bind(&mut l.pat, &mut uses);
                    opened += 1;
                }
                other => self.visit_expr_mut(other),
            }
        }
        if let Expr::Block(b) = &mut block {
            self.block(&mut b.block);
        }
        for _ in 0..opened {
            self.outer.pop();
        }
        if let Expr::Block(b) = block {
            *body = b.block;
        }
    }

    /// Opens the scope of `pat`'s bindings, renaming those that shadow an outer variable in
    /// `pat` and in `uses` (the code in their scope, in order): a use that is a `let` of a
    /// chain binding a name again ends that name's scope (its scrutinee is still in it).
    fn bind(&mut self, pat: &mut Pat, uses: &mut [&mut Expr]) {
        let mut scope = HashSet::new();
        for b in bindings(pat) {
            let name = b.ident.to_string();
            if self.shadows(&name) {
                let to = self.fresh(&name);
                rename_pat(pat, &name, &to);
                for u in uses.iter_mut() {
                    if let Expr::Let(later) = &mut **u
                        && bindings(&later.pat).iter().any(|b| b.ident == name)
                    {
                        rename_expr(&mut later.expr, &name, &to);
                        break;
                    }
                    rename_expr(u, &name, &to);
                }
                scope.insert(to.to_string());
            } else {
                scope.insert(name);
            }
        }
        self.outer.push(scope);
    }
}

/// The operands of a chain of `&&` (`a && let P = e && c`), in order; `e` alone otherwise.
fn and_operands<'a>(e: &'a mut Expr, out: &mut Vec<&'a mut Expr>) {
    if !matches!(e, Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_))) {
        out.push(e);
        return;
    }
    if let Expr::Binary(b) = e {
        and_operands(&mut b.left, out);
        and_operands(&mut b.right, out);
    }
}

impl VisitMut for Renamer {
    fn visit_block_mut(&mut self, b: &mut Block) {
        self.block(b);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        // The pattern's bindings scope over the guard and the body.
        let mut guard = arm.guard.take();
        {
            let mut uses: Vec<&mut Expr> = Vec::with_capacity(2);
            if let Some((_, g)) = &mut guard {
                uses.push(&mut **g);
            }
            uses.push(&mut *arm.body);
            self.bind(&mut arm.pat, &mut uses);
        }
        if let Some((_, g)) = &mut guard {
            self.visit_expr_mut(g);
        }
        arm.guard = guard;
        self.visit_expr_mut(&mut arm.body);
        self.outer.pop();
    }

    fn visit_expr_for_loop_mut(&mut self, f: &mut syn::ExprForLoop) {
        self.visit_expr_mut(&mut f.expr);
        let mut body = Expr::Block(syn::ExprBlock {
            attrs: vec![],
            label: None,
            block: std::mem::replace(
                &mut f.body,
                Block {
                    brace_token: Default::default(),
                    stmts: vec![],
                },
            ),
        });
        self.bind(&mut f.pat, &mut [&mut body]);
        if let Expr::Block(b) = &mut body {
            self.block(&mut b.block);
        }
        self.outer.pop();
        if let Expr::Block(b) = body {
            f.body = b.block;
        }
    }

    fn visit_expr_if_mut(&mut self, ei: &mut syn::ExprIf) {
        self.guarded(&mut ei.cond, &mut ei.then_branch);
        if let Some((_, e)) = &mut ei.else_branch {
            self.visit_expr_mut(e);
        }
    }

    fn visit_expr_while_mut(&mut self, w: &mut syn::ExprWhile) {
        self.guarded(&mut w.cond, &mut w.body);
    }

    crate::visit::skip_nested_mut!();
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
            // `Order { id }` binds `id`: spell the field out before renaming the binding (that
            // one alone: `Point { x: x, .. }` is linted as redundant).
            if f.colon_token.is_none() && matches!(&*f.pat, Pat::Ident(i) if i.ident == self.0) {
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
        fn visit_expr_if_mut(&mut self, ei: &mut syn::ExprIf) {
            // A `let` of the condition that binds `from` again hides it from the operands
            // after it and the then-branch, not from the else-branch.
            if !self.condition(&mut ei.cond) {
                self.visit_block_mut(&mut ei.then_branch);
            }
            if let Some((_, e)) = &mut ei.else_branch {
                self.visit_expr_mut(e);
            }
        }
        fn visit_expr_while_mut(&mut self, w: &mut syn::ExprWhile) {
            if !self.condition(&mut w.cond) {
                self.visit_block_mut(&mut w.body);
            }
        }
        fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
            rename_macro(m, self.from, self.to);
        }
        // Closures are handled above (their parameters may rebind `from`); async blocks are
        // walked: they capture the variable, so their uses are renamed too.
        crate::visit::skip_nested_mut!(items);
    }
    impl R<'_> {
        /// Renames in the operands of condition `cond` up to a `let` that binds `from` again
        /// (its scrutinee included); whether one did.
        fn condition(&mut self, cond: &mut Expr) -> bool {
            let mut ops = Vec::new();
            and_operands(cond, &mut ops);
            for op in ops {
                match op {
                    Expr::Let(l) => {
                        self.visit_expr_mut(&mut l.expr);
                        if bindings(&l.pat).iter().any(|b| b.ident == self.from) {
                            return true;
                        }
                    }
                    other => self.visit_expr_mut(other),
                }
            }
            false
        }
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

/// Renames `from` in the tokens of a macro whose arguments are not expressions
/// (`info!(target: "t", "got {amount}")`, `matches!(v, Some(x) if x > amount)`): the ident
/// where it names a variable, not after a single `.` (a field or method) nor before a single
/// `:` (a named argument, a field); and the format strings' arguments.
fn rename_tokens(ts: TokenStream, from: &str, to: &syn::Ident) -> TokenStream {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    let single = |i: Option<usize>, c: char| -> bool {
        let is = |k: usize| matches!(tokens.get(k), Some(TokenTree::Punct(p)) if p.as_char() == c);
        i.is_some_and(|k| is(k) && !(k > 0 && is(k - 1)) && !is(k + 1))
    };
    let mut out = Vec::with_capacity(tokens.len());
    for (k, tt) in tokens.iter().enumerate() {
        out.push(match tt {
            TokenTree::Ident(i)
                if i == from && !single(k.checked_sub(1), '.') && !single(Some(k + 1), ':') =>
            {
                TokenTree::Ident(syn::Ident::new(&to.to_string(), i.span()))
            }
            TokenTree::Literal(l) => match syn::parse_str::<syn::LitStr>(&l.to_string()) {
                Ok(lit) if lit.value().contains('{') => {
                    let renamed = rename_in_format(&lit.value(), from, &to.to_string());
                    let mut new = proc_macro2::Literal::string(&renamed);
                    new.set_span(l.span());
                    TokenTree::Literal(new)
                }
                _ => tt.clone(),
            },
            TokenTree::Group(g) => {
                let mut ng =
                    proc_macro2::Group::new(g.delimiter(), rename_tokens(g.stream(), from, to));
                ng.set_span(g.span());
                TokenTree::Group(ng)
            }
            other => other.clone(),
        });
    }
    out.into_iter().collect()
}

/// `"{amount} {amount:>8} {x:>amount$}"` -> `"{amount_wf1} {amount_wf1:>8} {x:>amount_wf1$}"`.
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
        } else {
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
        // The spec's named width or precision (`width$`).
        if let Some(spec) = rest.strip_prefix(':') {
            let spec_end = spec.find('}').unwrap_or(spec.len());
            out.push(':');
            out.push_str(&rename_spec(&spec[..spec_end], from, to));
            rest = &spec[spec_end..];
        }
    }
    out.push_str(rest);
    out
}

/// Where in a format spec the names of its width or precision stand (`>width$`, `.prec$`,
/// `w$.p$`): each a name followed by `$`.
fn spec_name_spans(spec: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let b = spec.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if b.get(i) == Some(&b'$') {
                out.push(start..i);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The names a format spec takes its width or precision from (see [`spec_name_spans`]).
pub fn spec_names(spec: &str) -> Vec<&str> {
    spec_name_spans(spec)
        .into_iter()
        .map(|r| &spec[r])
        .collect()
}

/// `spec` with its width or precision named `from` named `to`.
fn rename_spec(spec: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(spec.len());
    let mut last = 0;
    for r in spec_name_spans(spec) {
        if &spec[r.clone()] == from {
            out.push_str(&spec[last..r.start]);
            out.push_str(to);
            last = r.end;
        }
    }
    out.push_str(&spec[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::{rename_in_format, spec_names};

    #[test]
    fn format_strings_are_renamed_in_their_arguments_and_specs() {
        assert_eq!(
            rename_in_format("{n} {n:>8} {x:>n$} {{n}} {:.n$} {nn:n$.p$}", "n", "n_wf1"),
            "{n_wf1} {n_wf1:>8} {x:>n_wf1$} {{n}} {:.n_wf1$} {nn:n_wf1$.p$}"
        );
        assert_eq!(spec_names(">width$"), ["width"]);
        assert_eq!(spec_names("w$.p$"), ["w", "p"]);
        assert!(spec_names("x<5").is_empty() && spec_names("#x").is_empty());
    }
}
