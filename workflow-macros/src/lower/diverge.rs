//! Divergence, read off the syntax: whether an expression never finishes normally (it returns,
//! breaks, continues, or panics on every path). A region ends at a diverging statement: the
//! code after it is unreachable, and no jump is generated after it.

use syn::visit::Visit;
use syn::{Block, Expr, Stmt};

pub fn expr_diverges(e: &Expr) -> bool {
    match e {
        Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => true,
        Expr::Macro(m) => {
            let p = &m.mac.path;
            ["panic", "unreachable", "todo", "unimplemented"]
                .iter()
                .any(|n| p.is_ident(n))
        }
        Expr::Block(b) => {
            b.label.is_none() && block_diverges(&b.block)
                || b.label.as_ref().is_some_and(|l| {
                    block_diverges(&b.block) && !breaks_to(&b.block, Some(&l.name), false)
                })
        }
        Expr::Unsafe(u) => block_diverges(&u.block),
        Expr::If(ei) => {
            expr_diverges(&ei.cond)
                || ei
                    .else_branch
                    .as_ref()
                    .is_some_and(|(_, e)| block_diverges(&ei.then_branch) && expr_diverges(e))
        }
        Expr::Match(m) => {
            expr_diverges(&m.expr)
                || (!m.arms.is_empty() && m.arms.iter().all(|a| expr_diverges(&a.body)))
        }
        Expr::Loop(l) => !breaks_to(&l.body, l.label.as_ref().map(|l| &l.name), true),
        Expr::Paren(p) => expr_diverges(&p.expr),
        Expr::Group(g) => expr_diverges(&g.expr),
        Expr::Try(t) => expr_diverges(&t.expr),
        Expr::Let(l) => expr_diverges(&l.expr),
        _ => false,
    }
}

pub fn stmt_diverges(s: &Stmt) -> bool {
    match s {
        Stmt::Local(l) => l.init.as_ref().is_some_and(|i| expr_diverges(&i.expr)),
        Stmt::Expr(e, _) => expr_diverges(e),
        Stmt::Macro(m) => {
            let p = &m.mac.path;
            ["panic", "unreachable", "todo", "unimplemented"]
                .iter()
                .any(|n| p.is_ident(n))
        }
        Stmt::Item(_) => false,
    }
}

pub fn block_diverges(b: &Block) -> bool {
    b.stmts.iter().any(stmt_diverges)
}

/// Whether `body` has a `break` that leaves the loop or block labelled `label` (or, when
/// `unlabeled` is set, an unlabeled `break` not inside a nested loop).
fn breaks_to(body: &Block, label: Option<&syn::Lifetime>, unlabeled: bool) -> bool {
    struct F<'a> {
        label: Option<&'a syn::Lifetime>,
        depth: usize,
        unlabeled: bool,
        found: bool,
    }
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            match &b.label {
                None if self.unlabeled && self.depth == 0 => self.found = true,
                Some(l) if self.label.is_some_and(|x| x.ident == l.ident) => self.found = true,
                _ => {}
            }
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
            self.depth += 1;
            syn::visit::visit_expr_loop(self, l);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, l: &'ast syn::ExprWhile) {
            self.visit_expr(&l.cond);
            self.depth += 1;
            self.visit_block(&l.body);
            self.depth -= 1;
        }
        fn visit_expr_for_loop(&mut self, l: &'ast syn::ExprForLoop) {
            self.visit_expr(&l.expr);
            self.depth += 1;
            self.visit_block(&l.body);
            self.depth -= 1;
        }
        // Async blocks are walked: a `break` cannot leave one (rustc's E0267), so what is found
        // there is rustc's error to report either way.
        crate::visit::skip_nested!(closures, items);
    }
    let mut f = F {
        label,
        depth: 0,
        unlabeled,
        found: false,
    };
    f.visit_block(body);
    f.found
}
