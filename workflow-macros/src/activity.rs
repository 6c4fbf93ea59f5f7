//! `#[activity]`: an `async fn` becomes a unit struct implementing `Activity`.
//!
//! Input:
//! ```text
//! #[activity]
//! pub async fn charge(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> { body }
//! ```
//! Output:
//! ```text
//! #[allow(non_camel_case_types)] #[derive(Clone, Copy, Debug)] pub struct charge;
//! impl charge { pub async fn call(ctx: ActivityCtx, order: Order) -> Result<String, ActivityError> { body } }
//! impl ::workflow_rt::Activity for charge { const NAME = "charge"; type Input = Order; ... }
//! ```
//!
//! On error (a wrong signature, a bad argument) it still emits the struct, its `call` with the
//! body as written, and an impl of `Activity` with the input and output types as written whose
//! `run` is unreachable, next to the errors: a workflow that uses the activity then type-checks,
//! and the mistake is reported once, by the macro, instead of as "`ship` does not implement
//! `Activity`" at every use (thiserror's `fallback.rs`, and `expand::fallback` for workflows).

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, ItemFn, Pat, ReturnType};

use crate::attr::{Args, Kind};
use crate::ctxt::Ctxt;
use crate::expand::to_compile_errors;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = Args::parse(&cx, Kind::Activity, args);
    let func: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            cx.push(e);
            return to_compile_errors(cx);
        }
    };
    let sig = check_signature(&cx, &func);
    match cx.check() {
        Ok(()) => generate(&args, &func, &sig),
        Err(e) => fallback(&args, &func, &sig, e),
    }
}

/// What the signature says, read whether or not it is right.
struct Signature {
    /// The output type as written; `None` without one.
    output: Option<syn::Type>,
    /// The inputs after the context, with their names (`__input{i}` for a pattern).
    names: Vec<syn::Ident>,
    types: Vec<syn::Type>,
    /// Written as a method (`self` somewhere in its parameters).
    method: bool,
}

fn check_signature(cx: &Ctxt, func: &ItemFn) -> Signature {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        cx.error(
            sig.fn_token.span(),
            "an #[activity] must be an `async fn`: write `async fn`",
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error(
            sig.generics.span(),
            "an #[activity] cannot be generic: its input and output types are stored by name",
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, t) if !is_result_shaped(t) => {
            let written = compact(&quote!(#t).to_string());
            cx.spanned(
                t,
                format!(
                    "an #[activity] must return `Result<T, E>` (E: Into<ActivityError>): write `Result<{written}, ActivityError>`"
                ),
            );
            None
        }
        ReturnType::Type(_, t) => Some((**t).clone()),
        ReturnType::Default => {
            cx.error(
                sig.ident.span(),
                "an #[activity] must return `Result<T, E>` (E: Into<ActivityError>)",
            );
            None
        }
    };
    let mut method = false;
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Typed(_)) => {}
        Some(FnArg::Receiver(r)) => {
            method = true;
            cx.error(r.span(), "an #[activity] is a free function, not a method");
        }
        None => cx.error(
            sig.paren_token.span.join(),
            "an #[activity] takes its context first: `async fn name(ctx: ActivityCtx, input: T)`",
        ),
    }
    let mut names = Vec::new();
    let mut types = Vec::new();
    for (i, arg) in inputs.enumerate() {
        match arg {
            FnArg::Typed(pt) => {
                names.push(match &*pt.pat {
                    Pat::Ident(p) => p.ident.clone(),
                    _ => format_ident!("__input{}", i),
                });
                types.push((*pt.ty).clone());
            }
            FnArg::Receiver(r) => {
                method = true;
                cx.error(r.span(), "an #[activity] is a free function, not a method");
            }
        }
    }
    Signature {
        output,
        names,
        types,
        method,
    }
}

/// Whether `ty` may be a `Result`: false only for types that are certainly not one (a tuple, a
/// reference, an array, a slice, `!`, a primitive, `String`, `Option<..>`, `Vec<..>`), which get
/// the macro's error instead of rustc's about `Fallible`. An alias (`io::Result<T>`,
/// `MyResult<T>`) or a type of the user's is left to the type check.
fn is_result_shaped(ty: &syn::Type) -> bool {
    const NOT_RESULTS: &[&str] = &[
        "bool", "char", "str", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
        "i32", "i64", "i128", "isize", "f32", "f64", "Option", "Vec",
    ];
    match ty {
        syn::Type::Tuple(_)
        | syn::Type::Reference(_)
        | syn::Type::Array(_)
        | syn::Type::Slice(_)
        | syn::Type::Never(_) => false,
        syn::Type::Paren(p) => is_result_shaped(&p.elem),
        syn::Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let ident = p.path.segments[0].ident.to_string();
            !NOT_RESULTS.contains(&ident.as_str())
        }
        _ => true,
    }
}

/// A type as printed by `quote` (`Vec < u8 >`), as one writes it (`Vec<u8>`), for a message.
fn compact(printed: &str) -> String {
    [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ]
    .iter()
    .fold(printed.to_string(), |s, (from, to)| s.replace(from, to))
}

/// `Input` of the impl: the single input, or a tuple of several.
fn input_type<T: ToTokens>(types: &[T]) -> TokenStream {
    match types {
        [t] => quote!(#t),
        _ => quote!((#(#types,)*)),
    }
}

/// The struct, and `call` holding the body as written (with its own signature).
fn struct_and_call(func: &ItemFn, name_str: &str) -> TokenStream {
    let vis = &func.vis;
    let name = &func.sig.ident;
    let attrs = &func.attrs;
    let mut call_sig = func.sig.clone();
    call_sig.ident = format_ident!("call");
    let body = &func.block;
    let doc = format!("The activity `{name_str}` (see [`Self::call`] for its body).");
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #name;

        impl #name {
            #(#attrs)*
            // `async` is what #[activity] asks for, awaits or not.
            #[allow(clippy::unused_async)]
            #vis #call_sig #body
        }
    }
}

fn generate(args: &Args, func: &ItemFn, sig: &Signature) -> TokenStream {
    let krate = args.krate();
    let name = &func.sig.ident;
    let name_str = args.name.clone().unwrap_or_else(|| name.to_string());
    let output_ty = sig
        .output
        .as_ref()
        .expect("checked: an activity without an output type is an error");
    let names = &sig.names;
    let input_ty = input_type(&sig.types);
    let destructure = match names.as_slice() {
        [n] => quote!(let #n = __wf_input;),
        _ => quote!(let (#(#names,)*) = __wf_input;),
    };
    // `type Output = #output_ty` below carries the written type's spans: when it is not a
    // `Result` the macro could tell apart (an alias, a struct of the user's), the one error, on
    // `Activity::Output`'s bound, points at it.
    // The output type as written, without spaces: what a workflow saving this activity's value
    // folds into its fingerprint.
    let output_text: String = quote!(#output_ty)
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let struct_and_call = struct_and_call(func, &name_str);
    quote! {
        #struct_and_call

        #[automatically_derived]
        impl #krate::Activity for #name {
            const NAME: &'static str = #name_str;
            type Input = #input_ty;
            type Output = #output_ty;
            const OUTPUT_FINGERPRINT: u64 = #krate::__private::fnv1a(#output_text.as_bytes());
            fn run(self, __wf_ctx: #krate::ActivityCtx, __wf_input: Self::Input) -> #krate::__private::BoxFuture<'static, Self::Output> {
                #destructure
                ::std::boxed::Box::pin(#name::call(__wf_ctx, #(#names),*))
            }
        }
    }
}

/// The errors, and the activity as close to what `generate` would emit as the signature allows:
/// uses of it type-check, so that the only errors are the macro's.
///
/// Input and output types are the ones written, except one that names a generic parameter of
/// the function (out of scope in the impl), which becomes `()` for an input and
/// `Result<(), ActivityError>` for the output, as does a missing output or one that is certainly
/// not a `Result`. A method (`self` in its parameters) is emitted as written: it sits in an
/// `impl` block, where a struct cannot.
fn fallback(args: &Args, func: &ItemFn, sig: &Signature, err: syn::Error) -> TokenStream {
    let err = err.to_compile_error();
    if sig.method {
        return quote!(#func #err);
    }
    let krate = args.krate();
    let name = &func.sig.ident;
    let name_str = args.name.clone().unwrap_or_else(|| name.to_string());
    let generics = GenericNames::of(&func.sig.generics);
    let types: Vec<TokenStream> = sig
        .types
        .iter()
        .map(|t| {
            if generics.mentioned_in(t) {
                quote!(())
            } else {
                quote!(#t)
            }
        })
        .collect();
    let input_ty = input_type(&types);
    let output_ty = match &sig.output {
        Some(t) if !generics.mentioned_in(t) => quote!(#t),
        _ => quote!(::core::result::Result<(), #krate::ActivityError>),
    };
    let struct_and_call = struct_and_call(func, &name_str);
    quote! {
        #err
        #struct_and_call

        #[automatically_derived]
        impl #krate::Activity for #name {
            const NAME: &'static str = #name_str;
            type Input = #input_ty;
            type Output = #output_ty;
            fn run(self, _: #krate::ActivityCtx, _: Self::Input) -> #krate::__private::BoxFuture<'static, Self::Output> {
                ::core::unreachable!("this activity did not compile")
            }
        }
    }
}

/// The names of a function's generic parameters (types, lifetimes and consts).
struct GenericNames(Vec<String>);

impl GenericNames {
    fn of(generics: &syn::Generics) -> Self {
        GenericNames(
            generics
                .params
                .iter()
                .map(|p| match p {
                    syn::GenericParam::Type(t) => t.ident.to_string(),
                    syn::GenericParam::Lifetime(l) => l.lifetime.to_string(),
                    syn::GenericParam::Const(c) => c.ident.to_string(),
                })
                .collect(),
        )
    }

    /// Whether `ty` names one of them (any identifier or lifetime spelled the same: a
    /// `T::Item` or an unrelated `mod T` counts too, which only makes the fallback vaguer).
    fn mentioned_in(&self, ty: &syn::Type) -> bool {
        struct F<'a>(&'a [String], bool);
        impl<'ast> Visit<'ast> for F<'_> {
            fn visit_ident(&mut self, i: &'ast syn::Ident) {
                self.1 |= self.0.iter().any(|n| i == n);
            }
            fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
                self.1 |= self.0.contains(&l.to_string());
            }
        }
        if self.0.is_empty() {
            return false;
        }
        let mut f = F(&self.0, false);
        f.visit_type(ty);
        f.1
    }
}

#[cfg(test)]
mod tests {
    use super::{compact, is_result_shaped};
    use quote::quote;

    #[test]
    fn only_types_that_are_certainly_not_results_are_rejected() {
        for t in [
            "u64",
            "()",
            "(u64, String)",
            "&str",
            "[u8; 4]",
            "Option<u64>",
            "Vec<u8>",
        ] {
            assert!(!is_result_shaped(&syn::parse_str(t).unwrap()), "{t}");
        }
        for t in [
            "Result<u64, ActivityError>",
            "io::Result<u64>",
            "MyResult<u64>",
            "Receipt",
        ] {
            assert!(is_result_shaped(&syn::parse_str(t).unwrap()), "{t}");
        }
    }

    #[test]
    fn types_are_shown_as_written() {
        for t in [
            "Vec<u8>",
            "(u64, String)",
            "&'static str",
            "std::vec::Vec<[u8; 4]>",
        ] {
            let ty: syn::Type = syn::parse_str(t).unwrap();
            assert_eq!(compact(&quote!(#ty).to_string()), t);
        }
    }
}
