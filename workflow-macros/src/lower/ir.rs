//! The typed IR between the lowering's passes.
//!
//! A workflow body becomes a set of [`Point`]s: the start, the resumption after each durable
//! await, the join after each construct that contains an await (code reached both from the
//! construct's fall-through and from the awaits inside it), and the head of each loop that
//! contains an await. Each point owns one [`Region`]: the statements that run from it, kept
//! verbatim (await-free), ending in a [`Term`]inator that suspends, jumps to another point,
//! completes the workflow, or branches into nested regions. Every piece of the body belongs to
//! exactly one region, so the generated code is linear in the size of the body (rustc's
//! coroutine lowering does the same: one entry block per suspension point, one shared body).
//!
//! Variables are interned ([`VarId`]); each await's operation is stored once, in its
//! [`AwaitSite`].

use proc_macro2::Span;
use syn::{Expr, Stmt, Type};

use super::ops::OpKind;

/// A variable of the body (a parameter, a `let`, a pattern binding, a loop variable or a
/// temporary of the lowering), as interned by the lowering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarId(pub usize);

/// A point a region starts at (an index into [`Program::points`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointId(pub usize);

/// A construct that `break` or `continue` can target and that the lowering replaced by jumps
/// (a loop or a labeled block containing an await).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameId(pub usize);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Param,
    Let,
    LoopVar,
    Pattern,
    /// A `let` of a closure: it has no type that can be written, so it cannot be saved.
    Closure,
    Temp,
    /// A `let x = ctx.signal(SIG).await` (a typed signal): the macro cannot write the type, but
    /// the compiler knows it from the initializer, so it is saved encoded, as a temporary is.
    Inferred,
}

/// A variable, as a candidate for the state of the awaits it lives across.
#[derive(Clone)]
pub struct Var {
    pub ident: syn::Ident,
    pub ty: Option<Type>,
    pub by_ref: bool,
    /// Declared `mut` by the user: restored bindings are `mut` only then.
    pub mutable: bool,
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

/// A durable await.
pub struct AwaitSite {
    pub kind: OpKind,
    /// The operation (the expression before `.await`), after normalization.
    pub op: Expr,
    pub line: u32,
    /// The operation as the user wrote it, for the description.
    pub text: String,
    pub span: Span,
}

/// What starts a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointKind {
    Start,
    /// Resuming after await `k`: the region starts with the statement that takes its value.
    Resume(usize),
    /// After a construct that contains an await; with `binds`, the construct was a `let`'s
    /// initializer, whose value arrives in the point's value slot.
    Join {
        binds: bool,
    },
    /// The head of a loop that contains an await.
    LoopHead,
}

pub struct Point {
    pub kind: PointKind,
    /// The variables in scope at the point, outermost first, each name once (the visible one).
    pub scope: Vec<VarId>,
    pub region: Region,
    /// Inside an `unsafe` block: the region is emitted in one.
    pub in_unsafe: bool,
    /// For a join after `let PAT = construct;`: `PAT`, bound to the construct's value first.
    pub binds: Option<syn::Pat>,
}

/// Statements that run in order, then a terminator.
pub struct Region {
    /// Await-free statements, verbatim.
    pub stmts: Vec<Stmt>,
    pub term: Term,
    /// The lowered loops and labeled blocks around the region, innermost last: where a
    /// `break` or `continue` in its statements goes.
    pub frames: Vec<FrameId>,
}

pub enum Term {
    /// Suspend at await `k` (its operation in [`AwaitSite::op`]), saving what is live after it.
    Suspend(usize),
    /// Go on at a point; `value` goes into its value slot.
    Goto { to: PointId, value: Option<Expr> },
    /// The workflow returns `value`.
    Complete(Expr),
    /// The statements never finish (they return, break, continue or panic).
    Diverges,
    If {
        attrs: Vec<syn::Attribute>,
        cond: Expr,
        then: Box<Region>,
        els: Box<Region>,
    },
    Match {
        attrs: Vec<syn::Attribute>,
        scrutinee: Expr,
        arms: Vec<MatchArm>,
    },
    /// A nested block (its own scope), `unsafe` or not.
    Block { body: Box<Region>, unsafe_: bool },
}

pub struct MatchArm {
    pub attrs: Vec<syn::Attribute>,
    pub pat: syn::Pat,
    pub guard: Option<Expr>,
    pub body: Region,
}

/// Where leaving a block goes, with its value.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// The workflow returns the value.
    Complete,
    /// To a point; with `value`, the block's value goes into the point's value slot.
    Goto { to: PointId, value: bool },
}

/// A loop or labeled block replaced by jumps.
pub struct Frame {
    pub label: Option<String>,
    /// A loop (an unlabeled `break` or `continue` targets it), not a labeled block.
    pub is_loop: bool,
    /// Where `continue` goes (loops).
    pub head: Option<PointId>,
    /// Where `break` goes.
    pub exit: End,
}

/// The lowered body.
pub struct Program {
    pub vars: Vec<Var>,
    /// Indexed by [`PointId`]; a join that nothing jumps to has an empty region and is not in
    /// `order`.
    pub points: Vec<Point>,
    /// The points in emission order: a point comes after the first code that jumps to it, so
    /// that the types rustc infers for the values carried into it are known where they are
    /// used.
    pub order: Vec<PointId>,
    pub frames: Vec<Frame>,
    pub awaits: Vec<AwaitSite>,
}

impl Program {
    pub fn var(&self, v: VarId) -> &Var {
        &self.vars[v.0]
    }
    pub fn point(&self, p: PointId) -> &Point {
        &self.points[p.0]
    }
    /// The point that resumes after await `k`.
    pub fn resume_point(&self, k: usize) -> PointId {
        PointId(
            self.points
                .iter()
                .position(|p| p.kind == PointKind::Resume(k))
                .expect("every await has its resume point"),
        )
    }
}

/// Visits every region of `r` (itself first), and of the regions nested in its terminator.
pub fn walk_regions<'a>(r: &'a Region, f: &mut impl FnMut(&'a Region)) {
    f(r);
    match &r.term {
        Term::If { then, els, .. } => {
            walk_regions(then, f);
            walk_regions(els, f);
        }
        Term::Match { arms, .. } => arms.iter().for_each(|a| walk_regions(&a.body, f)),
        Term::Block { body, .. } => walk_regions(body, f),
        Term::Suspend(_) | Term::Goto { .. } | Term::Complete(_) | Term::Diverges => {}
    }
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
