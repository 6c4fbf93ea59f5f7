//! Liveness: which variables each point of the program reads before it binds them itself.
//!
//! One backward gen/kill dataflow over the points: the transfer function of a point is the
//! free-variable analysis of its region (what its statements read before they bind or assign
//! it), where a jump reads what is live at its target and a suspension reads what is live after
//! its await. Points are solved in reverse emission order (postorder for the forward jumps), so
//! acyclic code settles in two sweeps; loops take one more sweep per nesting level.
//!
//! Macro invocations are looked into: their arguments are parsed as expressions where possible,
//! otherwise their identifiers are taken as uses, and so are the inline arguments of format
//! strings (`"{total}"`).

use std::collections::{BTreeSet, HashSet};

use proc_macro2::{TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Expr, Stmt, Token};

use super::cfg::resolve_jump;
use super::diverge::{block_diverges, expr_diverges};
use super::ir::{End, FrameId, PointId, Program, Region, Term, VarId};
use super::pattern::bindings;

/// What each point restores and declares.
pub struct Liveness {
    /// Per point (by id): the variables of its scope it reads before writing them, in scope
    /// order: restored when the point starts.
    pub restore: Vec<Vec<VarId>>,
    /// Per point: the variables of its scope it assigns before reading them (a `let x: T;`
    /// initialized after the await): declared, not restored.
    pub declare: Vec<Vec<VarId>>,
}

impl Liveness {
    /// The variables saved at await `k`: what resuming after it restores.
    pub fn saved(&self, prog: &Program, k: usize) -> &[VarId] {
        &self.restore[prog.resume_point(k).0]
    }
}

/// Solves liveness over `prog`'s points.
pub fn solve(prog: &Program) -> Liveness {
    let n = prog.points.len();
    let names: Vec<Vec<String>> = prog
        .points
        .iter()
        .map(|p| p.scope.iter().map(|v| prog.var(*v).name()).collect())
        .collect();
    let mut live: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    let mut written: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    loop {
        let mut changed = false;
        for p in prog.order.iter().rev() {
            let uses = point_uses(prog, &live, *p);
            let in_scope = |s: &BTreeSet<String>| -> BTreeSet<String> {
                s.iter()
                    .filter(|x| names[p.0].contains(x))
                    .cloned()
                    .collect()
            };
            let new = in_scope(&uses.free);
            written[p.0] = in_scope(&uses.written);
            if new != live[p.0] {
                live[p.0] = new;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let pick = |p: usize, set: &BTreeSet<String>| -> Vec<VarId> {
        prog.points[p]
            .scope
            .iter()
            .filter(|v| set.contains(&prog.var(**v).name()))
            .copied()
            .collect()
    };
    Liveness {
        restore: (0..n).map(|p| pick(p, &live[p])).collect(),
        declare: (0..n)
            .map(|p| {
                let only: BTreeSet<String> = written[p].difference(&live[p]).cloned().collect();
                pick(p, &only)
            })
            .collect(),
    }
}

fn point_uses(prog: &Program, live: &[BTreeSet<String>], p: PointId) -> Uses {
    let point = prog.point(p);
    let mut v = FreeVars {
        scopes: vec![Scope::default()],
        uses: Uses::default(),
        closures: 0,
        exits: Vec::new(),
        prog,
        live,
        open: Vec::new(),
    };
    if let Some(pat) = &point.binds {
        v.bind_pat(pat);
    }
    v.region(&point.region);
    v.uses
}

/// What a continuation does with the variables bound before it.
#[derive(Default)]
pub struct Uses {
    /// Read before the continuation binds or assigns them itself: the variables to restore.
    pub free: BTreeSet<String>,
    /// Assigned (`x = ..`) somewhere without a `let` of their own in the continuation: the
    /// variables that must at least be declared, even when they are not restored (a `let x: T;`
    /// initialized after the await is written, not read).
    pub written: BTreeSet<String>,
}

/// A lexical scope of the continuation.
#[derive(Default)]
struct Scope {
    /// Bound here by a `let`, a pattern or a restore.
    lets: HashSet<String>,
    /// Variables of enclosing scopes assigned on every path through this scope so far: a read
    /// after such an assignment is not a read of the value from before the await.
    assigned: HashSet<String>,
}

struct FreeVars<'m> {
    scopes: Vec<Scope>,
    uses: Uses,
    /// How many closures enclose the code being read: an assignment in a closure may not run.
    closures: usize,
    /// The loops and labeled blocks around the code being read, innermost last: what is
    /// assigned at every `break` out of one is assigned after it.
    exits: Vec<Exit>,
    prog: &'m Program,
    /// What is live at each point so far.
    live: &'m [BTreeSet<String>],
    /// The lowered frames around the region being read.
    open: Vec<FrameId>,
}

/// A construct a `break` can leave.
struct Exit {
    label: Option<String>,
    /// Whether an unlabeled `break` leaves it (a loop, not a labeled block).
    loop_: bool,
    /// `scopes.len()` when it was entered: the scopes its `break`s leave.
    depth: usize,
    /// What every `break` seen so far had assigned (`None`: no `break` yet).
    at_breaks: Option<HashSet<String>>,
}

impl FreeVars<'_> {
    fn bound(&self, name: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s.lets.contains(name) || s.assigned.contains(name))
    }
    fn use_name(&mut self, name: String) {
        if !self.bound(&name) {
            self.uses.free.insert(name);
        }
    }
    fn top(&mut self) -> &mut Scope {
        self.scopes.last_mut().expect("a scope is always open")
    }
    fn bind_pat(&mut self, pat: &syn::Pat) {
        let names: Vec<String> = bindings(pat)
            .into_iter()
            .map(|b| b.ident.to_string())
            .collect();
        self.top().lets.extend(names);
    }
    /// `name = ..`: an assignment to a variable of the continuation's own is nothing to its
    /// liveness; to one bound before it, a definition.
    fn assign(&mut self, name: String) {
        if self.scopes.iter().any(|s| s.lets.contains(&name)) {
            return;
        }
        self.uses.written.insert(name.clone());
        if self.closures == 0 {
            self.top().assigned.insert(name);
        }
    }
    /// Marks `names` as assigned in the current scope (what a construct assigned on every path).
    fn assigned_all(&mut self, names: Option<HashSet<String>>) {
        if let Some(names) = names {
            self.top().assigned.extend(names);
        }
    }
    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            match s {
                Stmt::Local(l) => {
                    if let Some(init) = &l.init {
                        self.visit_expr(&init.expr);
                        if let Some((_, d)) = &init.diverge {
                            self.visit_expr(d);
                        }
                    }
                    // Patterns can hold paths to constants; those are not uses of variables.
                    self.bind_pat(&l.pat);
                }
                Stmt::Expr(e, _) => self.visit_expr(e),
                Stmt::Macro(m) => self.mac(&m.mac),
                Stmt::Item(_) => {}
            }
        }
    }
    /// Runs `f` in a new scope; returns what it assigned on every path (`None`: it never
    /// finishes, so it constrains nothing).
    fn scoped(&mut self, f: impl FnOnce(&mut Self)) -> HashSet<String> {
        self.scopes.push(Scope::default());
        f(self);
        self.scopes.pop().expect("pushed above").assigned
    }
    /// Runs `f` in a new scope that `break`s can leave; returns what it assigned on the path
    /// that reaches its end, and what every `break` out of it had assigned (`None`: none).
    fn exit(
        &mut self,
        label: Option<&syn::Lifetime>,
        loop_: bool,
        f: impl FnOnce(&mut Self),
    ) -> (HashSet<String>, Option<HashSet<String>>) {
        self.exits.push(Exit {
            label: label.map(|l| l.ident.to_string()),
            loop_,
            depth: self.scopes.len(),
            at_breaks: None,
        });
        let end = self.scoped(f);
        let exit = self.exits.pop().expect("pushed above");
        (end, exit.at_breaks)
    }
    /// The names assigned on every path of a branch.
    fn branch(&mut self, diverges: bool, f: impl FnOnce(&mut Self)) -> Option<HashSet<String>> {
        let set = self.scoped(f);
        (!diverges).then_some(set)
    }
    /// A jump to point `to`: reads what is live there.
    fn goto(&mut self, to: PointId) {
        let names: Vec<String> = self.live[to.0].iter().cloned().collect();
        for n in names {
            self.use_name(n);
        }
    }
    /// A `break` or `continue` out of the verbatim code, to a lowered frame.
    fn jump_out(&mut self, label: Option<&syn::Lifetime>, cont: bool) {
        let label = label.map(|l| l.ident.to_string());
        if let Some(End::Goto { to, .. }) =
            resolve_jump(&self.prog.frames, &self.open, label.as_deref(), cont)
        {
            self.goto(to);
        }
    }
    fn region(&mut self, r: &Region) {
        let outer = std::mem::replace(&mut self.open, r.frames.clone());
        self.stmts(&r.stmts);
        match &r.term {
            Term::Suspend(k) => {
                self.visit_expr(&self.prog.awaits[*k].op.clone());
                self.goto(self.prog.resume_point(*k));
            }
            Term::Goto { to, value } => {
                if let Some(v) = value {
                    self.visit_expr(v);
                }
                self.goto(*to);
            }
            Term::Complete(v) => self.visit_expr(v),
            Term::Diverges => {}
            Term::If {
                cond, then, els, ..
            } => {
                self.branch(false, |v| {
                    v.cond(cond);
                    v.region(then);
                });
                self.branch(false, |v| v.region(els));
            }
            Term::Match {
                scrutinee, arms, ..
            } => {
                self.visit_expr(scrutinee);
                for arm in arms {
                    self.branch(false, |v| {
                        v.bind_pat(&arm.pat);
                        if let Some(g) = &arm.guard {
                            v.visit_expr(g);
                        }
                        v.region(&arm.body);
                    });
                }
            }
            Term::Block { body, .. } => {
                self.scoped(|v| v.region(body));
            }
        }
        self.open = outer;
    }
    fn mac(&mut self, mac: &syn::Macro) {
        let parsed = syn::parse::Parser::parse2(
            Punctuated::<Expr, Token![,]>::parse_terminated,
            mac.tokens.clone(),
        );
        match parsed {
            Ok(exprs) => {
                for e in &exprs {
                    if let Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) = e
                    {
                        self.format_args(&format!("{:?}", s.value()));
                    }
                    self.visit_expr(e);
                }
            }
            Err(_) => self.tokens(mac.tokens.clone()),
        }
    }
    fn tokens(&mut self, ts: TokenStream) {
        let mut prev_dot = false;
        for tt in ts {
            match &tt {
                TokenTree::Ident(i) if !prev_dot => self.use_name(i.to_string()),
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(l) => self.format_args(&l.to_string()),
                _ => {}
            }
            prev_dot = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '.');
        }
    }
    /// Inline format arguments: `"{total}"`, `"{total:>8}"`.
    fn format_args(&mut self, lit: &str) {
        if !lit.starts_with('"') && !lit.starts_with("r\"") && !lit.starts_with("r#") {
            return;
        }
        let mut rest = lit;
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            if rest.starts_with('{') {
                rest = &rest[1..];
                continue;
            }
            let end = rest.find(['}', ':']).unwrap_or(rest.len());
            let name = rest[..end].trim();
            if !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                self.use_name(name.to_string());
            }
            // A width or precision named in the spec (`{d:>width$}`, `{:.prec$}`).
            if rest[end..].starts_with(':') {
                let spec_end = rest.find('}').unwrap_or(rest.len());
                for name in super::rename::spec_names(&rest[end + 1..spec_end]) {
                    self.use_name(name.to_string());
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for FreeVars<'_> {
    /// A block that is not the body of a loop, a branch or a closure runs to its end or not at
    /// all: what it assigns is assigned after it.
    fn visit_block(&mut self, b: &'ast syn::Block) {
        let set = self.scoped(|v| v.stmts(&b.stmts));
        self.assigned_all(Some(set));
    }
    fn visit_expr_block(&mut self, b: &'ast syn::ExprBlock) {
        match &b.label {
            // Left at its end or by a `break 'label`: assigned is what both assigned.
            Some(l) => {
                let (end, breaks) = self.exit(Some(&l.name), false, |v| v.visit_block(&b.block));
                let end = (!block_diverges(&b.block)).then_some(end);
                self.assigned_all(Some(meet(vec![end, breaks])));
            }
            None => self.visit_block(&b.block),
        }
    }
    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        if let Some(e) = &b.expr {
            self.visit_expr(e);
        }
        if self.closures > 0 {
            return;
        }
        let label = b.label.as_ref().map(|l| l.ident.to_string());
        let Some(i) = self.exits.iter().rposition(|x| match &label {
            Some(l) => x.label.as_ref() == Some(l),
            None => x.loop_,
        }) else {
            self.jump_out(b.label.as_ref(), false);
            return;
        };
        let assigned: HashSet<String> = self.scopes[self.exits[i].depth..]
            .iter()
            .flat_map(|s| s.assigned.iter().cloned())
            .collect();
        let exit = &mut self.exits[i];
        exit.at_breaks = Some(match exit.at_breaks.take() {
            None => assigned,
            Some(prev) => prev.intersection(&assigned).cloned().collect(),
        });
    }
    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        if self.closures > 0 {
            return;
        }
        let label = c.label.as_ref().map(|l| l.ident.to_string());
        let internal = self.exits.iter().any(|x| {
            x.loop_
                && match &label {
                    Some(l) => x.label.as_ref() == Some(l),
                    None => true,
                }
        });
        if !internal {
            self.jump_out(c.label.as_ref(), true);
        }
    }
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if p.qself.is_none() && p.path.segments.len() == 1 && p.path.leading_colon.is_none() {
            self.use_name(p.path.segments[0].ident.to_string());
        }
    }
    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.visit_expr(&a.right);
        self.assign_target(&a.left);
    }
    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.closures += 1;
        self.scoped(|v| {
            for p in &c.inputs {
                v.bind_pat(p);
            }
            v.visit_expr(&c.body);
        });
        self.closures -= 1;
    }
    fn visit_expr_match(&mut self, m: &'ast syn::ExprMatch) {
        self.visit_expr(&m.expr);
        let arms = m
            .arms
            .iter()
            .map(|arm| {
                self.branch(expr_diverges(&arm.body), |v| {
                    v.bind_pat(&arm.pat);
                    if let Some((_, g)) = &arm.guard {
                        v.visit_expr(g);
                    }
                    v.visit_expr(&arm.body);
                })
            })
            .collect();
        self.assigned_all(Some(meet(arms)));
    }
    fn visit_expr_if(&mut self, ei: &'ast syn::ExprIf) {
        let then = self.branch(block_diverges(&ei.then_branch), |v| {
            v.cond(&ei.cond);
            v.visit_block(&ei.then_branch);
        });
        if let Some((_, e)) = &ei.else_branch {
            let els = self.branch(expr_diverges(e), |v| v.visit_expr(e));
            self.assigned_all(Some(meet(vec![then, els])));
        }
    }
    /// A `loop` is left only by a `break`: what every `break` had assigned is assigned after
    /// it (`let x: T; loop { match .. { Ok(v) => { x = v; break; } .. } }`).
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        let label = l.label.as_ref().map(|l| &l.name);
        let (_, breaks) = self.exit(label, true, |v| v.visit_block(&l.body));
        self.assigned_all(breaks);
    }
    /// A `while` or `for` body may not run at all: nothing it assigns is assigned after it.
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        let label = w.label.as_ref().map(|l| &l.name);
        self.exit(label, true, |v| {
            v.cond(&w.cond);
            v.visit_block(&w.body);
        });
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        let label = f.label.as_ref().map(|l| &l.name);
        self.exit(label, true, |v| {
            v.bind_pat(&f.pat);
            v.visit_block(&f.body);
        });
    }
    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        // Outside an `if`/`while` condition (handled by `cond`): only the scrutinee is read.
        self.visit_expr(&l.expr);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.mac(m);
    }
    // Closures are handled above (their parameters bind names); async blocks are walked: what
    // they capture is used where they are written.
    crate::visit::skip_nested!(items);
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
    fn visit_expr_struct(&mut self, s: &'ast syn::ExprStruct) {
        for f in &s.fields {
            self.visit_expr(&f.expr);
        }
        if let Some(r) = &s.rest {
            self.visit_expr(r);
        }
    }
}

/// What every branch that finishes assigns (`None` for a branch that never finishes: it
/// constrains nothing).
fn meet(branches: Vec<Option<HashSet<String>>>) -> HashSet<String> {
    let mut finishing = branches.into_iter().flatten();
    let Some(first) = finishing.next() else {
        return HashSet::new();
    };
    finishing.fold(first, |acc, s| acc.intersection(&s).cloned().collect())
}

impl FreeVars<'_> {
    /// The left of `=`: a plain variable (or a tuple of them, `(a, b) = ..`) is defined;
    /// anything else (`x.f`, `v[i]`, `*r`) reads the variable it goes through.
    fn assign_target(&mut self, e: &Expr) {
        match e {
            Expr::Path(p)
                if p.qself.is_none()
                    && p.path.leading_colon.is_none()
                    && p.path.segments.len() == 1 =>
            {
                self.assign(p.path.segments[0].ident.to_string());
            }
            Expr::Tuple(t) => t.elems.iter().for_each(|e| self.assign_target(e)),
            Expr::Paren(p) => self.assign_target(&p.expr),
            Expr::Infer(_) => {}
            other => self.visit_expr(other),
        }
    }
    /// An `if`/`while` condition: `let` bindings in it scope over the body (the current scope).
    fn cond(&mut self, e: &Expr) {
        match e {
            Expr::Let(l) => {
                self.visit_expr(&l.expr);
                self.bind_pat(&l.pat);
            }
            Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
                self.cond(&b.left);
                self.cond(&b.right);
            }
            other => self.visit_expr(other),
        }
    }
}
