//! Durable operations as the macro sees them: which `.await`s are durable, what kind each is, and
//! the type of its value where it can be written without the compiler's help.
//!
//! A durable operation is a method chain rooted at the context parameter:
//! `ctx.activity(path, input)[.retry(..)|.start_to_close(..)|...]`, `ctx.sleep(d)`,
//! `ctx.signal::<T>(name)[.timeout(d)]` / `ctx.signal(SIG)[.timeout(d)]`, `ctx.join(ops)`, `ctx.select(ops)`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, GenericArgument, PathArguments, Type};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    Activity,
    Sleep,
    Signal,
    SignalTimeout,
    Join,
    Select,
}

impl OpKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OpKind::Activity => "activity",
            OpKind::Sleep => "sleep",
            OpKind::Signal => "signal",
            OpKind::SignalTimeout => "signal+timeout",
            OpKind::Join => "join",
            OpKind::Select => "select",
        }
    }
}

/// A method chain `root.m1(..).m2(..)`, innermost first.
fn unchain(mut e: &Expr) -> (&Expr, Vec<&syn::ExprMethodCall>) {
    let mut calls = Vec::new();
    loop {
        match e {
            Expr::MethodCall(mc) => {
                calls.push(mc);
                e = &mc.receiver;
            }
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => break,
        }
    }
    calls.reverse();
    (e, calls)
}

fn is_ctx(e: &Expr, ctx: &syn::Ident) -> bool {
    match e {
        Expr::Path(p) => p.qself.is_none() && p.path.is_ident(ctx),
        _ => false,
    }
}

/// The kind of durable operation `e` is, if it is one.
pub fn classify(e: &Expr, ctx: &syn::Ident) -> Option<OpKind> {
    let (root, calls) = unchain(e);
    if !is_ctx(root, ctx) || calls.is_empty() {
        return None;
    }
    let first = calls[0].method.to_string();
    let rest: Vec<String> = calls[1..].iter().map(|c| c.method.to_string()).collect();
    match first.as_str() {
        "activity" => rest
            .iter()
            .all(|m| {
                matches!(
                    m.as_str(),
                    "retry"
                        | "start_to_close"
                        | "schedule_to_close"
                        | "heartbeat_timeout"
                        | "options"
                )
            })
            .then_some(OpKind::Activity),
        "sleep" if rest.is_empty() => Some(OpKind::Sleep),
        "signal" if rest.is_empty() => Some(OpKind::Signal),
        "signal" if rest.len() == 1 && rest[0] == "timeout" => Some(OpKind::SignalTimeout),
        "join" if rest.is_empty() => Some(OpKind::Join),
        "select" if rest.is_empty() => Some(OpKind::Select),
        _ => None,
    }
}

/// The type of the value of `e.await`, where `e` is a durable operation, if it can be written.
pub fn op_type(e: &Expr, ctx: &syn::Ident, krate: &TokenStream) -> Option<Type> {
    let kind = classify(e, ctx)?;
    let (_, calls) = unchain(e);
    let first = calls[0];
    let ty: TokenStream = match kind {
        OpKind::Activity => {
            let path = match first.args.first()? {
                Expr::Path(p) if p.qself.is_none() => &p.path,
                _ => return None,
            };
            quote!(::core::result::Result<#krate::ActivityOk<#path>, #krate::ActivityError>)
        }
        OpKind::Sleep => quote!(()),
        OpKind::Signal | OpKind::SignalTimeout => {
            let t = turbofish_type(first)?;
            if kind == OpKind::Signal {
                quote!(#t)
            } else {
                quote!(::core::option::Option<#t>)
            }
        }
        OpKind::Join | OpKind::Select => {
            let arg = first.args.first()?;
            let elems = match arg {
                Expr::Tuple(t) => &t.elems,
                Expr::Macro(m) if m.mac.path.is_ident("vec") => {
                    // `ctx.join(vec![op, ..])` is a `Vec` of the first operation's value;
                    // `ctx.select(vec![..])` is `(usize, value)`.
                    let ops = m
                        .mac
                        .parse_body_with(
                            syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                        )
                        .ok()?;
                    let t = op_type(ops.first()?, ctx, krate)?;
                    let ty = if kind == OpKind::Join {
                        quote!(::std::vec::Vec<#t>)
                    } else {
                        quote!((usize, #t))
                    };
                    return syn::parse2(ty).ok();
                }
                _ => return None,
            };
            let tys = elems
                .iter()
                .map(|el| op_type(el, ctx, krate))
                .collect::<Option<Vec<_>>>()?;
            if kind == OpKind::Join {
                quote!((#(#tys,)*))
            } else {
                let name = match tys.len() {
                    2 => quote!(Select2),
                    3 => quote!(Select3),
                    4 => quote!(Select4),
                    _ => return None,
                };
                quote!(#krate::#name<#(#tys),*>)
            }
        }
    };
    syn::parse2(ty).ok()
}

/// Whether `e` is `ctx.signal(SIG)[.timeout(d)].await` with `SIG` a path (a typed
/// `Signal<T>` const) and no turbofish: its type, which the macro cannot write (a const's type
/// cannot be named from its path), is fixed by the initializer alone, so a `let` of it is saved
/// through the compiler's inference (encoded, with a witness) instead of a written type.
pub fn typed_by_compiler(e: &Expr, ctx: &syn::Ident) -> bool {
    let e = match e {
        Expr::Await(aw) => &*aw.base,
        Expr::Paren(p) => return typed_by_compiler(&p.expr, ctx),
        Expr::Group(g) => return typed_by_compiler(&g.expr, ctx),
        _ => return false,
    };
    if !matches!(
        classify(e, ctx),
        Some(OpKind::Signal | OpKind::SignalTimeout)
    ) {
        return false;
    }
    let (_, calls) = unchain(e);
    let first = calls[0];
    first.turbofish.is_none()
        && matches!(first.args.first(), Some(Expr::Path(p)) if p.qself.is_none())
}

fn turbofish_type(mc: &syn::ExprMethodCall) -> Option<Type> {
    let tf = mc.turbofish.as_ref()?;
    match tf.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// The generic arguments of `Wrapper<..>` if `ty`'s last segment is named `wrapper`.
pub fn generic_args<'a>(ty: &'a Type, wrapper: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(tp) = ty else { return None };
    let seg = tp.path.segments.last()?;
    if seg.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(ab) = &seg.arguments else {
        return None;
    };
    Some(
        ab.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// The type of `x?` / `x.unwrap()` given the type of `x` (`Result<T, _>` or `Option<T>`).
pub fn unwrapped(ty: &Type) -> Option<Type> {
    if let Some(args) = generic_args(ty, "Result") {
        return args.first().map(|t| (*t).clone());
    }
    if let Some(args) = generic_args(ty, "Option") {
        return args.first().map(|t| (*t).clone());
    }
    None
}

/// The type of `v` in `Some(v)` / `Ok(v)` (or of `x?`) for a value of type `ty`: read off `ty`
/// when it is written `Option<T>` or `Result<T, E>`, otherwise a projection the compiler
/// resolves (`<ActivityOk<lookup> as Unwrap>::Value`). Only `Option` and `Result` have those
/// patterns (and `?`, on stable), so the projection holds wherever the user's code compiles.
pub fn unwrapped_or_projected(ty: &Type, krate: &TokenStream) -> Type {
    unwrapped(ty).unwrap_or_else(|| syn::parse_quote!(<#ty as #krate::__private::Unwrap>::Value))
}

/// The type of `e` in `Err(e)` for a value of type `ty`.
pub fn result_error(ty: &Type, krate: &TokenStream) -> Type {
    match generic_args(ty, "Result") {
        Some(args) if args.len() == 2 => args[1].clone(),
        _ => syn::parse_quote!(<#ty as #krate::__private::ResultError>::Error),
    }
}

/// Whether `ty` is one the macro wrote for a durable operation's value (`ActivityOk<a>`, or a
/// projection through it): such a value's `.unwrap()` is `Option`'s or `Result`'s.
pub fn is_projected(ty: &Type) -> bool {
    match ty {
        Type::Path(tp) => {
            tp.qself.is_some()
                || tp
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "ActivityOk")
        }
        _ => false,
    }
}

/// The type after applying a postfix method to a value of type `ty`, for the few methods whose
/// result type is known from the receiver's alone.
pub fn after_method(ty: Option<&Type>, method: &str) -> Option<Type> {
    match method {
        "unwrap" | "expect" | "unwrap_or" | "unwrap_or_default" | "unwrap_or_else" => {
            unwrapped(ty?)
        }
        "is_ok" | "is_err" | "is_some" | "is_none" | "is_empty" | "contains" | "starts_with"
        | "ends_with" => Some(syn::parse_quote!(bool)),
        "len" | "count" => Some(syn::parse_quote!(usize)),
        "ok" => {
            let t = unwrapped(ty?)?;
            Some(syn::parse_quote!(::core::option::Option<#t>))
        }
        "clone" | "to_owned" if ty.is_some_and(|t| !matches!(t, Type::Reference(_))) => ty.cloned(),
        "to_string" | "to_uppercase" | "to_lowercase" | "trim_string" => {
            Some(syn::parse_quote!(::std::string::String))
        }
        _ => None,
    }
}

/// The activities the body calls: the path `a` of every `ctx.activity(a, ..)` written in it, each
/// once, in source order. Wherever the call is (an await's operation, inside `ctx.join(..)` or
/// `ctx.select(..)`, a closure or a loop that builds the operations, the arguments of an
/// expression macro such as `vec![..]`), since an operation can be built before it is awaited.
/// Items nested in the body are not looked into (they have no `ctx`). An activity passed as
/// something other than a path to an item (`ctx.activity(pick(), x)`, or a variable: `let a =
/// charge; ctx.activity(a, x)`, any name the function binds) is not listed.
pub fn activity_paths(func: &syn::ItemFn, ctx: &syn::Ident) -> Vec<syn::Path> {
    use syn::visit::Visit;
    /// The names the function binds (parameters, `let`s, closure parameters, patterns).
    #[derive(Default)]
    struct Bound(std::collections::BTreeSet<String>);
    impl<'ast> Visit<'ast> for Bound {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.0.insert(p.ident.to_string());
            syn::visit::visit_pat_ident(self, p);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    struct Collect<'a> {
        ctx: &'a syn::Ident,
        bound: std::collections::BTreeSet<String>,
        seen: std::collections::BTreeSet<String>,
        paths: Vec<syn::Path>,
    }
    impl<'ast> Visit<'ast> for Collect<'_> {
        fn visit_expr_method_call(&mut self, mc: &'ast syn::ExprMethodCall) {
            let path = match mc.args.first().map(unparen) {
                Some(Expr::Path(p)) if mc.method == "activity" && p.qself.is_none() => {
                    Some(&p.path)
                }
                _ => None,
            };
            if let Some(path) = path
                && is_ctx(unparen(&mc.receiver), self.ctx)
                && !path
                    .get_ident()
                    .is_some_and(|i| self.bound.contains(&i.to_string()))
                && self.seen.insert(quote!(#path).to_string())
            {
                self.paths.push(path.clone());
            }
            syn::visit::visit_expr_method_call(self, mc);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            // The arguments of `vec![..]`, `format!(..)` and the like, where they parse as
            // expressions separated by commas (or `vec![x; n]`'s two).
            type Args = syn::punctuated::Punctuated<Expr, syn::Token![,]>;
            type Repeat = syn::punctuated::Punctuated<Expr, syn::Token![;]>;
            if let Ok(args) = m.parse_body_with(Args::parse_terminated) {
                args.iter().for_each(|e| self.visit_expr(e));
            } else if let Ok(args) = m.parse_body_with(Repeat::parse_terminated) {
                args.iter().for_each(|e| self.visit_expr(e));
            }
        }
    }
    fn unparen(mut e: &Expr) -> &Expr {
        loop {
            match e {
                Expr::Paren(p) => e = &p.expr,
                Expr::Group(g) => e = &g.expr,
                _ => return e,
            }
        }
    }
    let mut bound = Bound::default();
    func.sig.inputs.iter().for_each(|a| bound.visit_fn_arg(a));
    bound.visit_block(&func.block);
    let mut c = Collect {
        ctx,
        bound: bound.0,
        seen: Default::default(),
        paths: Vec::new(),
    };
    c.visit_block(&func.block);
    c.paths
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    fn listed(body: &str) -> Vec<String> {
        let func: syn::ItemFn = syn::parse_str(&format!(
            "async fn wf(ctx: WorkflowCtx, n: u64) {{ {body} }}"
        ))
        .expect("parses");
        let ctx = syn::Ident::new("ctx", proc_macro2::Span::call_site());
        super::activity_paths(&func, &ctx)
            .iter()
            .map(|p| p.to_token_stream().to_string().replace(' ', ""))
            .collect()
    }

    #[test]
    fn every_activity_call_of_the_body_is_listed_once() {
        assert_eq!(
            listed(
                "let a = ctx.activity(one, n).retry(p).await?;
                 let (b, c) = ctx.join((ctx.activity(two, a), (ctx.activity(one, a)))).await;
                 let calls: Vec<_> = (0..n).map(|i| ctx.activity(billing::three, i)).collect();
                 let all = ctx.join(calls).await;
                 let s = ctx.select(vec![ctx.activity(four, 1), ctx.activity(five, 2)]).await;
                 let v = format!(\"{}\", ctx.activity(six, 0).await?);
                 if let Some(x) = f(ctx.activity(seven, n).await?) { ctx.sleep(d).await; }"
            ),
            [
                "one",
                "two",
                "billing::three",
                "four",
                "five",
                "six",
                "seven"
            ]
        );
    }

    #[test]
    fn variables_other_contexts_and_nested_items_are_not_listed() {
        assert_eq!(
            listed(
                "let a = one;
                 ctx.activity(a, n).await?;
                 ctx.activity(n, n).await?;
                 other.activity(two, n).await?;
                 ctx.activity(pick(), n).await?;
                 fn inner(ctx: WorkflowCtx) { ctx.activity(three, 1); }"
            ),
            Vec::<String>::new()
        );
    }
}
