//! The persisted layout: what each await's state holds (the variables live after it, in the
//! order of their scope), and the errors about what cannot be saved there (a closure, a
//! reference, a type with a `_` or defined in the body, a type the macro cannot read).

use std::collections::{BTreeMap, BTreeSet};

use syn::Block;
use syn::visit::Visit;

use super::ir::{self, AwaitSite, Origin, Program, Var};
use super::liveness::Liveness;
use crate::ctxt::Ctxt;

/// What each await saves, in a stable order (the scope's); reports what cannot be saved.
pub fn fields(
    cx: &Ctxt,
    prog: &Program,
    live: &Liveness,
    body_types: &BTreeSet<String>,
) -> Vec<Vec<Var>> {
    let mut fields = Vec::with_capacity(prog.awaits.len());
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for (k, site) in prog.awaits.iter().enumerate() {
        let mut seen: BTreeMap<String, Var> = BTreeMap::new();
        let mut vars = Vec::new();
        for id in live.saved(prog, k) {
            let v = prog.var(*id).clone();
            // Invariant: a point's scope holds each name once (the visible binding), and
            // `rename::rename_shadowing` renamed every inner binding that shadows an outer one in
            // a block that awaits; were two to meet, this reports it rather than saving one.
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
                check_var(cx, &v, site, body_types);
            }
            seen.insert(v.name(), v.clone());
            vars.push(v);
        }
        fields.push(vars);
    }
    fields
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
                    ir::compact(&quote::quote!(#t).to_string())
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
                            format!("Vec<{}>", ir::compact(&quote::quote!(#t).to_string())),
                            "to_vec",
                        )
                    }
                    t => (ir::compact(&quote::quote!(#t).to_string()), "clone"),
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
    }
    // A variable whose type the macro cannot write is saved encoded, with the type the
    // compiler infers for it (see `emit`): nothing to report.
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
pub fn types_defined_in(body: &Block) -> BTreeSet<String> {
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
