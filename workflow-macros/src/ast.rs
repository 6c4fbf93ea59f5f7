//! The typed view of a `#[workflow]` function: its context parameter, its inputs, its output and
//! its body, each keeping the original syn node (for spans).

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;

pub struct Param {
    pub ident: syn::Ident,
    pub ty: Type,
    /// Declared `mut order: Order`.
    pub mutable: bool,
}

pub struct WorkflowFn {
    pub func: ItemFn,
    /// The name the body uses for its `WorkflowCtx`.
    pub ctx: syn::Ident,
    pub params: Vec<Param>,
    pub output: Type,
}

impl WorkflowFn {
    /// Reads the signature; reports what is wrong with it and still returns a view when it can,
    /// so that the body is checked too.
    pub fn from_item(cx: &Ctxt, func: ItemFn) -> Option<WorkflowFn> {
        let sig = &func.sig;
        if sig.asyncness.is_none() {
            cx.error(
                sig.fn_token.span(),
                "a #[workflow] must be an `async fn`: write `async fn`",
            );
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            cx.spanned(
                &sig.generics,
                "a #[workflow] cannot be generic: its state is persisted and resumed by name, so every type in it must be concrete",
            );
        }
        if let Some(c) = &sig.constness {
            cx.spanned(c, "a #[workflow] cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            cx.spanned(u, "a #[workflow] cannot be `unsafe`");
        }
        if let Some(v) = &sig.variadic {
            cx.spanned(v, "a #[workflow] cannot be variadic");
        }
        let output: Type = match &sig.output {
            ReturnType::Type(_, t) => (**t).clone(),
            ReturnType::Default => syn::parse_quote!(()),
        };
        let mut inputs = sig.inputs.iter();
        let ctx = match inputs.next() {
            Some(FnArg::Typed(pt)) => {
                match &*pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        if !is_workflow_ctx(&pt.ty) {
                            cx.spanned(
                            &pt.ty,
                            "the first parameter of a #[workflow] is its context: `ctx: WorkflowCtx`",
                        );
                        }
                        Some(pi.ident.clone())
                    }
                    other => {
                        cx.spanned(other, "name the workflow's context with a plain identifier: `ctx: WorkflowCtx`");
                        None
                    }
                }
            }
            Some(FnArg::Receiver(r)) => {
                cx.spanned(
                    r,
                    "a #[workflow] is a free function, not a method: it cannot take `self`",
                );
                None
            }
            None => {
                cx.error(
                    sig.paren_token.span.join(),
                    "a #[workflow] takes its context first: `async fn name(ctx: WorkflowCtx, input: T)`",
                );
                None
            }
        };
        let mut params = Vec::new();
        for arg in inputs {
            match arg {
                FnArg::Typed(pt) => match &*pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        if contains_reference(&pt.ty) {
                            cx.spanned(
                                &pt.ty,
                                format!(
                                    "the input `{}` is a reference: a workflow's inputs are saved in its state and must be owned values",
                                    pi.ident
                                ),
                            );
                        }
                        params.push(Param {
                            ident: pi.ident.clone(),
                            ty: (*pt.ty).clone(),
                            mutable: pi.mutability.is_some(),
                        })
                    }
                    other => cx.spanned(
                        other,
                        "name each workflow input with a plain identifier (`order: Order`) and destructure it in the body",
                    ),
                },
                FnArg::Receiver(r) => cx.spanned(r, "a #[workflow] is a free function, not a method"),
            }
        }
        let ctx = ctx?;
        Some(WorkflowFn {
            func,
            ctx,
            params,
            output,
        })
    }
}

fn is_workflow_ctx(ty: &Type) -> bool {
    match ty {
        Type::Path(tp) => tp
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "WorkflowCtx"),
        _ => false,
    }
}

/// Whether a type has a reference anywhere in it (`&T`, `Vec<&str>`...).
pub fn contains_reference(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    syn::visit::visit_type(&mut f, ty);
    f.0
}
