//! Durable operations as the macro sees them: which `.await`s are durable, what kind each is, and
//! the type of its value where it can be written without the compiler's help.
//!
//! A durable operation is a method chain rooted at the context parameter:
//! `ctx.activity(path, input)[.retry(..)|.start_to_close(..)|...]`, `ctx.sleep(d)`,
//! `ctx.signal::<T>(name)[.timeout(d)]` / `ctx.signal(SIG)[.timeout(d)]`, `ctx.join(ops)`, `ctx.select(ops)`,
//! `ctx.child(path, input)[.id(..)|.parent_close(..)|.timeout(..)]`, `ctx.cancellation()`.

use std::collections::BTreeSet;

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
    Child,
    Cancellation,
    /// `saga.compensate(&ctx)`: the one operation not rooted at the context.
    Compensate,
    Promise,
    PromiseTimeout,
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
            OpKind::Child => "child",
            OpKind::Cancellation => "cancellation",
            OpKind::Compensate => "compensate",
            OpKind::Promise => "promise",
            OpKind::PromiseTimeout => "promise+timeout",
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
    // `saga.compensate(&ctx)`: a saga's method, handed the context.
    if let [call] = calls.as_slice()
        && call.method == "compensate"
        && call.args.len() == 1
        && match unparen(&call.args[0]) {
            Expr::Reference(r) => r.mutability.is_none() && is_ctx(unparen(&r.expr), ctx),
            other => is_ctx(other, ctx),
        }
    {
        return Some(OpKind::Compensate);
    }
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
        "child" => rest
            .iter()
            .all(|m| matches!(m.as_str(), "id" | "parent_close" | "timeout"))
            .then_some(OpKind::Child),
        "cancellation" if rest.is_empty() => Some(OpKind::Cancellation),
        "promise_wait" if rest.is_empty() => Some(OpKind::Promise),
        "promise_wait" if rest.len() == 1 && rest[0] == "timeout" => Some(OpKind::PromiseTimeout),
        _ => None,
    }
}

/// `saga.compensate(&ctx)` as `saga.compensate(ctx)`: in the generated code the context is
/// already a reference, and the borrow the source writes (the natural one for a parameter
/// declared `ctx: WorkflowCtx`) would be one too many, for the compiler and for clippy.
pub fn unborrow_ctx(op: &mut Expr) {
    let mut e = op;
    loop {
        match e {
            Expr::Paren(p) => e = &mut p.expr,
            Expr::Group(g) => e = &mut g.expr,
            _ => break,
        }
    }
    if let Expr::MethodCall(mc) = e
        && mc.method == "compensate"
        && mc.args.len() == 1
        && let Some(Expr::Reference(r)) = mc.args.first()
        && r.mutability.is_none()
    {
        let inner = (*r.expr).clone();
        mc.args[0] = inner;
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
        OpKind::Sleep | OpKind::Cancellation => quote!(()),
        OpKind::Compensate => {
            quote!(::core::result::Result<#krate::SagaReport, #krate::ChildError>)
        }
        // The value's type is the token's, which only the compiler knows.
        OpKind::Promise | OpKind::PromiseTimeout => return None,
        OpKind::Child => {
            let path = match first.args.first()? {
                Expr::Path(p) if p.qself.is_none() => &p.path,
                _ => return None,
            };
            quote!(::core::result::Result<<#path as #krate::Workflow>::Output, #krate::ChildError>)
        }
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

/// `e` without the parentheses (and invisible groups) around it.
fn unparen(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => return e,
        }
    }
}

/// The names the function binds (parameters, `let`s, closure parameters, patterns), outside
/// the items nested in it: a path of one of these names in an operation is a variable, not an
/// item that a const expression can name.
pub fn bound_names(func: &syn::ItemFn) -> BTreeSet<String> {
    use syn::visit::Visit;
    #[derive(Default)]
    struct Bound(BTreeSet<String>);
    impl<'ast> Visit<'ast> for Bound {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.0.insert(p.ident.to_string());
            syn::visit::visit_pat_ident(self, p);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut bound = Bound::default();
    func.sig.inputs.iter().for_each(|a| bound.visit_fn_arg(a));
    bound.visit_block(&func.block);
    bound.0
}

/// What an awaited operation waits for, as far as its source says: the macro's side of
/// `CommandDesc` (`workflow-rt`'s `workflow.rs`), mirroring what each operation schedules
/// (`context.rs`).
#[derive(Clone)]
pub enum Waits {
    /// `ctx.activity(path, ..)`, with any of its options.
    Activity(syn::Path),
    /// `ctx.sleep(..)`, and `ctx.cancellation()` (a timer that only a cancellation ends).
    Timer,
    /// `ctx.child(path, ..)`, with any of its options.
    Child(syn::Path),
    /// `saga.compensate(&ctx)`: a child run of the workflow that runs compensations.
    Compensate,
    /// `ctx.promise_wait(&token)`: a task that no worker runs.
    Promise,
    /// `ctx.signal(..)`: its name, if the source gives it.
    Signal(Option<SignalName>),
    /// `ctx.join((..))` / `ctx.join(vec![..])`, and
    Join(Vec<Waits>),
    /// `ctx.select((..))` / `ctx.select(vec![..])`, and a signal with a timeout (the signal,
    /// then the timer).
    Select(Vec<Waits>),
    /// `ctx.join(ops)` / `ctx.select(ops)` over a `Vec` built elsewhere.
    Many(Box<Waits>),
    /// Anything else (an operation built elsewhere, an activity held in a variable).
    Unknown,
}

/// The name of a signal, as written.
#[derive(Clone)]
pub enum SignalName {
    /// `ctx.signal("approve")`.
    Literal(syn::LitStr),
    /// `ctx.signal(APPROVE)` / `ctx.signal(&signals::APPROVE)`: a const (a `Signal<T>`, a
    /// `&Signal<T>` or a `&'static str`), whose name the compiler reads.
    Const(Box<Expr>),
}

/// Whether the path `p` may name a const holding a signal's name: not a variable of the body,
/// and named as consts are (no lowercase letter in its last segment: `APPROVE`,
/// `signals::APPROVE`). A unit struct or an enum variant of the user's own that implements
/// `IntoSignal` (`Approve`, `Signals::Approve`) is not read: its name is not a const expression.
fn const_like(p: &syn::ExprPath, is_local: &dyn Fn(&syn::Ident) -> bool) -> bool {
    p.qself.is_none()
        && !p.path.get_ident().is_some_and(is_local)
        && p.path.segments.last().is_some_and(|s| {
            s.arguments.is_none() && !s.ident.to_string().chars().any(|c| c.is_lowercase())
        })
}

/// What operation `e` (the expression before `.await`, or an operation inside a join or a
/// select) waits for. `is_local` tells a variable of the body from an item.
pub fn waits_for(e: &Expr, ctx: &syn::Ident, is_local: &dyn Fn(&syn::Ident) -> bool) -> Waits {
    let Some(kind) = classify(e, ctx) else {
        return Waits::Unknown;
    };
    let (_, calls) = unchain(e);
    let arg = calls[0].args.first().map(unparen);
    let signal = || {
        Waits::Signal(match arg {
            Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            })) => Some(SignalName::Literal(s.clone())),
            Some(Expr::Path(p)) if const_like(p, is_local) => {
                Some(SignalName::Const(Box::new(Expr::Path(p.clone()))))
            }
            Some(Expr::Reference(r)) if r.mutability.is_none() => match unparen(&r.expr) {
                Expr::Path(p) if const_like(p, is_local) => {
                    Some(SignalName::Const(Box::new(Expr::Reference(r.clone()))))
                }
                _ => None,
            },
            _ => None,
        })
    };
    match kind {
        OpKind::Activity => match arg {
            Some(Expr::Path(p))
                if p.qself.is_none() && !p.path.get_ident().is_some_and(is_local) =>
            {
                Waits::Activity(p.path.clone())
            }
            _ => Waits::Unknown,
        },
        OpKind::Sleep | OpKind::Cancellation => Waits::Timer,
        OpKind::Compensate => Waits::Compensate,
        OpKind::Promise => Waits::Promise,
        OpKind::PromiseTimeout => Waits::Select(vec![Waits::Promise, Waits::Timer]),
        OpKind::Child => match arg {
            Some(Expr::Path(p))
                if p.qself.is_none() && !p.path.get_ident().is_some_and(is_local) =>
            {
                Waits::Child(p.path.clone())
            }
            _ => Waits::Unknown,
        },
        OpKind::Signal => signal(),
        OpKind::SignalTimeout => Waits::Select(vec![signal(), Waits::Timer]),
        OpKind::Join | OpKind::Select => {
            let ops: Option<Vec<Waits>> = match arg {
                Some(Expr::Tuple(t)) => Some(
                    t.elems
                        .iter()
                        .map(|op| waits_for(op, ctx, is_local))
                        .collect(),
                ),
                Some(Expr::Macro(m)) if m.mac.path.is_ident("vec") => m
                    .mac
                    .parse_body_with(
                        syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                    )
                    .ok()
                    .map(|ops| ops.iter().map(|op| waits_for(op, ctx, is_local)).collect()),
                _ => None,
            };
            match (ops, kind) {
                (Some(ops), OpKind::Join) => Waits::Join(ops),
                (Some(ops), _) => Waits::Select(ops),
                (None, _) => Waits::Many(Box::new(Waits::Unknown)),
            }
        }
    }
}

impl Waits {
    /// The `CommandDesc` expression, a const expression: an activity's name is
    /// `<path as Activity>::NAME`, a signal const's `SignalName(SIG).name()`.
    pub fn to_tokens(&self, krate: &TokenStream) -> TokenStream {
        let desc = quote!(#krate::__private::CommandDesc);
        match self {
            Waits::Activity(p) => {
                let at = syn::spanned::Spanned::span(p);
                let name = quote::quote_spanned!(at=> <#p as #krate::Activity>::NAME);
                quote!(#desc::Activity(#name))
            }
            Waits::Timer => quote!(#desc::Timer),
            Waits::Child(p) => {
                let at = syn::spanned::Spanned::span(p);
                let name = quote::quote_spanned!(at=> <#p as #krate::Workflow>::NAME);
                quote!(#desc::Child(#name))
            }
            Waits::Compensate => quote!(#desc::Child(#krate::COMPENSATE_WORKFLOW)),
            Waits::Promise => quote!(#desc::Activity(#krate::PROMISE_ACTIVITY)),
            Waits::Signal(None) => quote!(#desc::Signal(::core::option::Option::None)),
            Waits::Signal(Some(SignalName::Literal(s))) => {
                quote!(#desc::Signal(::core::option::Option::Some(#s)))
            }
            Waits::Signal(Some(SignalName::Const(e))) => {
                let at = syn::spanned::Spanned::span(e);
                let name = quote::quote_spanned!(at=> #krate::__private::SignalName(#e).name());
                quote!(#desc::Signal(::core::option::Option::Some(#name)))
            }
            Waits::Join(ops) => {
                let ops = ops.iter().map(|op| op.to_tokens(krate));
                quote!(#desc::Join(&[#(#ops),*]))
            }
            Waits::Select(ops) => {
                let ops = ops.iter().map(|op| op.to_tokens(krate));
                quote!(#desc::Select(&[#(#ops),*]))
            }
            Waits::Many(op) => {
                let op = op.to_tokens(krate);
                quote!(#desc::Many(&#op))
            }
            Waits::Unknown => quote!(#desc::Unknown),
        }
    }
}

impl std::fmt::Display for Waits {
    /// A short text for tests: `Join[Activity(charge), Select[Signal("ok"), Timer]]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, name: &str, ops: &[Waits]| {
            write!(f, "{name}[")?;
            for (i, op) in ops.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{op}")?;
            }
            f.write_str("]")
        };
        match self {
            Waits::Activity(p) => {
                write!(f, "Activity({})", quote!(#p).to_string().replace(' ', ""))
            }
            Waits::Timer => f.write_str("Timer"),
            Waits::Child(p) => write!(f, "Child({})", quote!(#p).to_string().replace(' ', "")),
            Waits::Compensate => f.write_str("Compensate"),
            Waits::Promise => f.write_str("Promise"),
            Waits::Signal(None) => f.write_str("Signal(?)"),
            Waits::Signal(Some(SignalName::Literal(s))) => write!(f, "Signal({:?})", s.value()),
            Waits::Signal(Some(SignalName::Const(e))) => {
                write!(f, "Signal({})", quote!(#e).to_string().replace(' ', ""))
            }
            Waits::Join(ops) => list(f, "Join", ops),
            Waits::Select(ops) => list(f, "Select", ops),
            Waits::Many(op) => write!(f, "Many({op})"),
            Waits::Unknown => f.write_str("Unknown"),
        }
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
    struct Collect<'a> {
        ctx: &'a syn::Ident,
        bound: BTreeSet<String>,
        seen: BTreeSet<String>,
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
    let mut c = Collect {
        ctx,
        bound: bound_names(func),
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

    /// What `op` waits for, in the short text of `Waits`'s `Display`, in a body binding `n`,
    /// `sig` and `ops`.
    fn waits(op: &str) -> String {
        let e: syn::Expr = syn::parse_str(op).expect("parses");
        let ctx = syn::Ident::new("ctx", proc_macro2::Span::call_site());
        let local = |i: &syn::Ident| ["n", "sig", "ops", "act"].contains(&i.to_string().as_str());
        super::waits_for(&e, &ctx, &local).to_string()
    }

    #[test]
    fn an_activity_waits_for_its_activity_with_any_options() {
        assert_eq!(waits("ctx.activity(charge, n)"), "Activity(charge)");
        assert_eq!(
            waits(
                "ctx.activity(billing::charge, n).retry(p).start_to_close(d).schedule_to_close(d).heartbeat_timeout(d).options(o)"
            ),
            "Activity(billing::charge)"
        );
        assert_eq!(waits("(ctx.activity(charge, n))"), "Activity(charge)");
        // Not an item: a variable, a call, another receiver, an unknown option.
        assert_eq!(waits("ctx.activity(act, n)"), "Unknown");
        assert_eq!(waits("ctx.activity(pick(), n)"), "Unknown");
        assert_eq!(waits("other.activity(charge, n)"), "Unknown");
        assert_eq!(waits("ctx.activity(charge, n).then(f)"), "Unknown");
    }

    #[test]
    fn a_sleep_waits_for_a_timer() {
        assert_eq!(waits("ctx.sleep(Duration::from_secs(n))"), "Timer");
    }

    #[test]
    fn a_signal_waits_for_its_name_when_the_source_gives_it() {
        assert_eq!(waits(r#"ctx.signal("approve")"#), r#"Signal("approve")"#);
        assert_eq!(
            waits(r#"ctx.signal::<bool>("approve")"#),
            r#"Signal("approve")"#
        );
        assert_eq!(waits("ctx.signal(APPROVE)"), "Signal(APPROVE)");
        assert_eq!(
            waits("ctx.signal(signals::APPROVE)"),
            "Signal(signals::APPROVE)"
        );
        assert_eq!(waits("ctx.signal(&APPROVE)"), "Signal(&APPROVE)");
        assert_eq!(waits("ctx.signal::<u8>(NAME_2)"), "Signal(NAME_2)");
        // A variable, a computed name, a type of the user's (not named as a const is).
        assert_eq!(waits("ctx.signal(sig)"), "Signal(?)");
        assert_eq!(
            waits("ctx.signal::<bool>(&format!(\"a{}\", n))"),
            "Signal(?)"
        );
        assert_eq!(waits("ctx.signal(Approve)"), "Signal(?)");
        assert_eq!(waits("ctx.signal(Signals::Approve)"), "Signal(?)");
    }

    #[test]
    fn a_signal_with_a_timeout_waits_for_the_signal_or_a_timer() {
        assert_eq!(
            waits(r#"ctx.signal::<bool>("approve").timeout(d)"#),
            r#"Select[Signal("approve"), Timer]"#
        );
        assert_eq!(
            waits("ctx.signal(APPROVE).timeout(d)"),
            "Select[Signal(APPROVE), Timer]"
        );
        assert_eq!(
            waits("ctx.signal(sig).timeout(d)"),
            "Select[Signal(?), Timer]"
        );
    }

    #[test]
    fn join_and_select_wait_for_their_operations() {
        assert_eq!(
            waits("ctx.join((ctx.activity(one, n), ctx.sleep(d), ctx.signal::<u8>(\"s\")))"),
            r#"Join[Activity(one), Timer, Signal("s")]"#
        );
        assert_eq!(
            waits("ctx.join(vec![ctx.activity(one, 1), ctx.activity(two, 2),])"),
            "Join[Activity(one), Activity(two)]"
        );
        assert_eq!(
            waits("ctx.select((ctx.signal(APPROVE), ctx.sleep(d)))"),
            "Select[Signal(APPROVE), Timer]"
        );
        assert_eq!(
            waits("ctx.select(vec![ctx.activity(one, 1), ctx.activity(two, 2)])"),
            "Select[Activity(one), Activity(two)]"
        );
        // Nested, with an operation built elsewhere inside.
        assert_eq!(
            waits(
                "ctx.join((ctx.select((ctx.signal::<u8>(\"s\").timeout(d), ctx.activity(one, n))), ops, (ctx.join(ops))))"
            ),
            r#"Join[Select[Select[Signal("s"), Timer], Activity(one)], Unknown, Many(Unknown)]"#
        );
        assert_eq!(waits("ctx.join((ctx.sleep(d),))"), "Join[Timer]");
    }

    #[test]
    fn join_and_select_over_a_vec_built_elsewhere_wait_for_many() {
        assert_eq!(waits("ctx.join(ops)"), "Many(Unknown)");
        assert_eq!(waits("ctx.select(ops)"), "Many(Unknown)");
        assert_eq!(waits("ctx.join(make(n))"), "Many(Unknown)");
        assert_eq!(waits("ctx.join(vec![ctx.sleep(d); 3])"), "Many(Unknown)");
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(waits("op"), "Unknown");
        assert_eq!(waits("ctx.now()"), "Unknown");
        assert_eq!(waits("ctx.sleep(d).timeout(d)"), "Unknown");
    }

    #[test]
    fn the_description_names_an_activity_by_its_name_and_a_signal_const_by_its_name() {
        let krate = quote::quote!(::workflow_rt);
        let e: syn::Expr = syn::parse_str(
            "ctx.join((ctx.activity(charge, n), ctx.signal(APPROVE), ctx.signal::<u8>(\"s\")))",
        )
        .unwrap();
        let ctx = syn::Ident::new("ctx", proc_macro2::Span::call_site());
        let tokens = super::waits_for(&e, &ctx, &|_| false)
            .to_tokens(&krate)
            .to_string()
            .replace(' ', "");
        assert_eq!(
            tokens,
            "::workflow_rt::__private::CommandDesc::Join(&[\
             ::workflow_rt::__private::CommandDesc::Activity(<chargeas::workflow_rt::Activity>::NAME),\
             ::workflow_rt::__private::CommandDesc::Signal(::core::option::Option::Some(::workflow_rt::__private::SignalName(APPROVE).name())),\
             ::workflow_rt::__private::CommandDesc::Signal(::core::option::Option::Some(\"s\"))])"
        );
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
