//! The lowering of a workflow body into a state machine.
//!
//! Stages: [`normalize`] puts every durable await in statement position; [`resume::tag_awaits`]
//! numbers them; [`resume`] builds one continuation per await (plus the start); [`liveness`]
//! decides, to a fixpoint, which variables each await must save; `codegen` writes the state
//! enum and the `resume` function.
//!
//! Why continuations rather than a graph of basic blocks (rustc's coroutine lowering): a graph
//! needs every local that crosses a block boundary hoisted to the top of the generated function,
//! with a type the macro cannot see, and turns user code into a `loop { match block { .. } }`
//! dispatcher the borrow checker and rust-analyzer both follow badly. Rebuilding the user's own
//! structure around each await keeps every `let`, scope, borrow, label and shadowing exactly as
//! written; only the variables that cross an await are moved, into the state variant, and back.
//! The price is code size: each continuation repeats the code that follows its await (a
//! workflow with n sequential awaits generates O(n^2) statements), which is small for business
//! processes and costs compile time, not run time.

pub mod diverge;
pub mod infer;
pub mod liveness;
pub mod normalize;
pub mod ops;
pub mod pattern;
pub mod rename;
pub mod resume;

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use syn::Block;
use syn::visit::Visit;

use crate::ctxt::Ctxt;
use liveness::{Markers, RESTORE, SUSPEND, free_vars, marker_index};
use resume::{Arm, AwaitSite, Origin, Resumer, Var};

pub struct Lowered {
    pub awaits: Vec<AwaitSite>,
    pub start: Arm,
    pub conts: Vec<Arm>,
    /// Variables restored at each level.
    pub levels: Vec<Vec<Var>>,
    pub live_levels: Vec<Vec<usize>>,
    /// Variables declared, not restored, at each level: assigned after the await before any
    /// read (`let x: T;` initialized later, or a value overwritten).
    pub decl_levels: Vec<Vec<usize>>,
    /// What each await saves: (field name, variable), in a stable order.
    pub fields: Vec<Vec<Var>>,
    pub params: Vec<Var>,
    /// The items (`use`, `fn`, `const`, ...) of the body's outermost block, emitted once next to
    /// the generated `resume` rather than copied into every continuation (where the copies
    /// that a continuation does not use would warn as unused).
    pub items: Vec<syn::Item>,
}

pub fn lower(
    cx: &Ctxt,
    ctx: &syn::Ident,
    krate: &TokenStream,
    params: Vec<Var>,
    mut body: Block,
) -> Option<Lowered> {
    let body_types = types_defined_in(&body);
    let (items, stmts): (Vec<syn::Stmt>, Vec<syn::Stmt>) = std::mem::take(&mut body.stmts)
        .into_iter()
        .partition(|s| matches!(s, syn::Stmt::Item(_)));
    body.stmts = stmts;
    let items = items
        .into_iter()
        .filter_map(|s| match s {
            syn::Stmt::Item(i) => Some(i),
            _ => None,
        })
        .collect();
    let param_names: Vec<String> = params.iter().map(Var::name).collect();
    // The awaits as the user wrote them, for the description (before any renaming).
    let original = resume::tag_awaits(&mut body.clone(), ctx);
    rename::rename_shadowing(&mut body, &param_names);
    awaits_in_closures(cx, &body);
    let mut norm = normalize::Normalizer::new(cx, ctx, krate);
    let mut body = norm.block(body);
    if cx.has_errors() {
        return None;
    }
    let mut awaits = resume::tag_awaits(&mut body, ctx);
    // Normalization keeps the awaits in source order: describe them as the user wrote them.
    if original.len() == awaits.len() {
        for (a, o) in awaits.iter_mut().zip(original) {
            a.text = o.text;
            a.line = o.line;
            a.span = o.span;
        }
    }
    let mut r = Resumer {
        ctx,
        krate,
        awaits: Vec::new(),
        levels: Vec::new(),
    };
    let start = r.start_arm(params.clone(), &body);
    let conts: Vec<Arm> = (0..awaits.len())
        .map(|k| r.await_arm(k, params.clone(), &body))
        .collect();
    r.awaits = awaits;

    // Liveness to a fixpoint: what await k saves depends on what the awaits reachable from it
    // save, and loops make that circular.
    let mut live_levels: Vec<Vec<usize>> = vec![Vec::new(); r.levels.len()];
    let mut decl_levels: Vec<Vec<usize>> = vec![Vec::new(); r.levels.len()];
    let mut live: Vec<BTreeSet<String>> = vec![BTreeSet::new(); r.awaits.len()];
    loop {
        let mut changed = false;
        for (k, arm) in std::iter::once((usize::MAX, &start)).chain(conts.iter().enumerate()) {
            let mut m = LiveState {
                levels: &r.levels,
                live_levels: &mut live_levels,
                decl_levels: &mut decl_levels,
                live: &live,
            };
            solve_arm(&arm.code, &mut m);
            if k != usize::MAX {
                let names: BTreeSet<String> = arm
                    .levels
                    .iter()
                    .flat_map(|l| live_levels[*l].iter().map(|i| r.levels[*l][*i].name()))
                    .collect();
                if names != live[k] {
                    live[k] = names;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Fields, and the errors about what cannot be saved.
    let mut fields = Vec::with_capacity(conts.len());
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for (k, arm) in conts.iter().enumerate() {
        let site = &r.awaits[k];
        let mut seen: BTreeMap<String, Var> = BTreeMap::new();
        let mut vars = Vec::new();
        for l in &arm.levels {
            for i in &live_levels[*l] {
                let v = r.levels[*l][*i].clone();
                // Invariant: `rename::rename_shadowing` has renamed every inner binding that
                // shadows an outer one across an await, so two live variables never share a name
                // here; were they to, this reports it rather than saving only one of them.
                if let Some(prev) = seen.get(&v.name()) {
                    cx.error(
                        v.ident.span(),
                        format!(
                            "`{}` shadows another `{}` that is still used after the await on line {}; both would have to be saved \
                             in the workflow's state, but only one is reachable at the await: rename one of them",
                            v.display_name(), prev.display_name(), site.line
                        ),
                    );
                    continue;
                }
                let key = format!("{}@{:?}", v.name(), v.ident.span().start());
                if reported.insert(key) {
                    check_var(cx, &v, site, &body_types);
                }
                seen.insert(v.name(), v.clone());
                vars.push(v);
            }
        }
        fields.push(vars);
    }
    for (k, site) in r.awaits.iter().enumerate() {
        let reached = std::iter::once(&start)
            .chain(conts.iter())
            .any(|a| arm_suspends_at(&a.code, k));
        if !reached {
            cx.error(site.span, "this await can never be reached (the code before it always returns or diverges): remove it");
        }
    }
    Some(Lowered {
        awaits: r.awaits,
        start,
        conts,
        levels: r.levels,
        live_levels,
        decl_levels,
        fields,
        params,
        items,
    })
}

fn check_var(cx: &Ctxt, v: &Var, site: &AwaitSite, body_types: &BTreeSet<String>) {
    let name = v.display_name();
    if v.origin == Origin::Closure {
        cx.error(
            v.ident.span(),
            format!(
                "`{name}` is a closure and is used after the await on line {}: a closure cannot be saved in the \
                 workflow's state (its type has no name, and what it captures is not saved with it); define it \
                 after the await, or make it a `fn`",
                site.line
            ),
        );
        return;
    }
    if let Some(t) = &v.ty
        && v.origin != Origin::Temp
    {
        if let Some(hole) = placeholder_in(t) {
            cx.error(
                hole,
                format!(
                    "`{name}` lives across the await on line {} (`{}`), so it is saved in the workflow's state, whose \
                     type must be written in full: replace the `_` in `{}`",
                    site.line,
                    site.text,
                    resume::compact(&quote::quote!(#t).to_string())
                ),
            );
            return;
        }
        if let Some(local) = local_type_in(t, body_types) {
            cx.error(
                local.span(),
                format!(
                    "`{name}` lives across the await on line {}, so it is saved in the workflow's state, but its type \
                     `{local}` is defined inside the workflow's body, where the state (a type outside the function) \
                     cannot name it: move the definition of `{local}` out of the function",
                    site.line
                ),
            );
            return;
        }
    }
    if v.by_ref {
        // Where the referent's type is known (a loop over `&items`), the fix can be written out.
        let how = match (&v.ty, &v.origin) {
            (Some(syn::Type::Reference(r)), Origin::LoopVar | Origin::Pattern) => {
                let (owned, how) = match &*r.elem {
                    syn::Type::Path(p) if p.path.is_ident("str") => {
                        ("String".to_string(), "to_string")
                    }
                    syn::Type::Slice(s) => {
                        let t = &s.elem;
                        (
                            format!("Vec<{}>", resume::compact(&quote::quote!(#t).to_string())),
                            "to_vec",
                        )
                    }
                    t => (resume::compact(&quote::quote!(#t).to_string()), "clone"),
                };
                format!(
                    "keep an owned copy instead, bound where `{name}` is: `let {name}: {owned} = {name}.{how}();`"
                )
            }
            _ => "keep an owned value instead (`.clone()`, `.to_owned()`, `.to_string()`)"
                .to_string(),
        };
        cx.error(
            v.ident.span(),
            format!(
                "`{name}` holds a reference and is used after the await on line {}: a reference cannot be saved in the \
                 workflow's state (what it points to is not saved with it, and the state may be resumed in another process); \
                 {how}",
                site.line
            ),
        );
        return;
    }
    if v.ty.is_some() || v.origin == Origin::Temp {
        return;
    }
    let how = match v.origin {
        Origin::LoopVar | Origin::Pattern => {
            format!("bind it with its type where it is introduced: `let {name}: Type = {name};`")
        }
        _ => format!("write its type: `let {name}: Type = ...;`"),
    };
    cx.error(
        v.ident.span(),
        format!(
            "`{name}` lives across the await on line {} (`{}`), so it is saved in the workflow's state, but its type \
             cannot be read off the code here; {how}",
            site.line, site.text
        ),
    );
}

/// The `_` in a type, if any.
fn placeholder_in(t: &syn::Type) -> Option<proc_macro2::Span> {
    struct F(Option<proc_macro2::Span>);
    impl<'ast> Visit<'ast> for F {
        fn visit_type_infer(&mut self, i: &'ast syn::TypeInfer) {
            self.0.get_or_insert(i.underscore_token.span);
        }
    }
    let mut f = F(None);
    f.visit_type(t);
    f.0
}

/// The names of the types (`struct`, `enum`, `union`, `type`) the body defines, at any depth.
fn types_defined_in(body: &Block) -> BTreeSet<String> {
    struct F(BTreeSet<String>);
    impl<'ast> Visit<'ast> for F {
        fn visit_item(&mut self, item: &'ast syn::Item) {
            let ident = match item {
                syn::Item::Struct(i) => &i.ident,
                syn::Item::Enum(i) => &i.ident,
                syn::Item::Union(i) => &i.ident,
                syn::Item::Type(i) => &i.ident,
                _ => return,
            };
            self.0.insert(ident.to_string());
        }
    }
    let mut f = F(BTreeSet::new());
    f.visit_block(body);
    f.0
}

/// A one-segment path in `t` naming one of `locals`.
fn local_type_in(t: &syn::Type, locals: &BTreeSet<String>) -> Option<syn::Ident> {
    struct F<'a>(&'a BTreeSet<String>, Option<syn::Ident>);
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_type_path(&mut self, tp: &'ast syn::TypePath) {
            if tp.qself.is_none()
                && tp.path.leading_colon.is_none()
                && tp.path.segments.len() == 1
                && self.0.contains(&tp.path.segments[0].ident.to_string())
            {
                self.1.get_or_insert(tp.path.segments[0].ident.clone());
            }
            syn::visit::visit_type_path(self, tp);
        }
    }
    if locals.is_empty() {
        return None;
    }
    let mut f = F(locals, None);
    f.visit_type(t);
    f.1
}

struct LiveState<'a> {
    levels: &'a [Vec<Var>],
    live_levels: &'a mut Vec<Vec<usize>>,
    decl_levels: &'a mut Vec<Vec<usize>>,
    live: &'a [BTreeSet<String>],
}

struct MarkerView<'a> {
    levels: &'a [Vec<Var>],
    live_levels: &'a [Vec<usize>],
    decl_levels: &'a [Vec<usize>],
    live: &'a [BTreeSet<String>],
}

impl Markers for MarkerView<'_> {
    fn live_at(&self, k: usize) -> Vec<String> {
        self.live
            .get(k)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
    fn restored_at(&self, l: usize) -> Vec<String> {
        self.live_levels[l]
            .iter()
            .chain(&self.decl_levels[l])
            .map(|i| self.levels[l][*i].name())
            .collect()
    }
}

/// Computes, innermost level first, which variables each restore marker in `code` must bind.
fn solve_arm(code: &Block, st: &mut LiveState) {
    struct Walk<'a, 'b> {
        st: &'b mut LiveState<'a>,
    }
    impl<'ast> Visit<'ast> for Walk<'_, '_> {
        fn visit_block(&mut self, b: &'ast Block) {
            syn::visit::visit_block(self, b);
            let Some(syn::Stmt::Macro(m)) = b.stmts.first() else {
                return;
            };
            let Some(l) = marker_index(&m.mac, RESTORE) else {
                return;
            };
            let view = MarkerView {
                levels: self.st.levels,
                live_levels: self.st.live_levels,
                decl_levels: self.st.decl_levels,
                live: self.st.live,
            };
            let uses = free_vars(&b.stmts[1..], &view);
            let vars = &self.st.levels[l];
            // The last binding of a name at a level is the visible one.
            let visible = |in_set: &BTreeSet<String>| -> Vec<usize> {
                vars.iter()
                    .enumerate()
                    .filter(|(i, v)| {
                        in_set.contains(&v.name())
                            && !vars[i + 1..].iter().any(|w| w.name() == v.name())
                    })
                    .map(|(i, _)| i)
                    .collect()
            };
            let live = visible(&uses.free);
            let declared = visible(&uses.written)
                .into_iter()
                .filter(|i| !live.contains(i))
                .collect();
            self.st.live_levels[l] = live;
            self.st.decl_levels[l] = declared;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    Walk { st }.visit_block(code);
}

/// Whether `code` contains a suspend marker for await `k`.
pub fn arm_suspends_at(code: &Block, k: usize) -> bool {
    suspends_in(code).contains(&k)
}

/// The awaits `code` may suspend at.
pub fn suspends_in(code: &Block) -> BTreeSet<usize> {
    struct F(BTreeSet<usize>);
    impl<'ast> Visit<'ast> for F {
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            if let Some(k) = marker_index(m, SUSPEND) {
                self.0.insert(k);
            }
        }
    }
    let mut f = F(BTreeSet::new());
    f.visit_block(code);
    f.0
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
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
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
