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

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType};

use crate::attr::Args;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse2::<Args>(args) {
        Ok(Args {
            state: Some(state), ..
        }) => {
            let e = syn::Error::new(
                state.span(),
                "`state` names a workflow's state enum; an activity has none",
            )
            .to_compile_error();
            return quote! { #item #e };
        }
        Ok(a) => a,
        Err(e) => {
            let e = e.to_compile_error();
            return quote! { #item #e };
        }
    };
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return e.to_compile_error(),
    };
    match expand_fn(&args, func) {
        Ok(ts) => ts,
        Err(e) => {
            let err = e.to_compile_error();
            quote! { #item #err }
        }
    }
}

fn expand_fn(args: &Args, func: ItemFn) -> syn::Result<TokenStream> {
    let krate = args.krate();
    let sig = &func.sig;
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    if sig.asyncness.is_none() {
        push(syn::Error::new(
            sig.fn_token.span(),
            "an #[activity] must be an `async fn`: write `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        push(syn::Error::new(
            sig.generics.span(),
            "an #[activity] cannot be generic: its input and output types are stored by name",
        ));
    }
    let output_ty = match &sig.output {
        ReturnType::Type(_, t) => (**t).clone(),
        ReturnType::Default => {
            push(syn::Error::new(
                sig.ident.span(),
                "an #[activity] must return `Result<T, E>` (E: Into<ActivityError>)",
            ));
            syn::parse_quote!(::core::result::Result<(), #krate::ActivityError>)
        }
    };
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Typed(_)) => {}
        Some(FnArg::Receiver(r)) => push(syn::Error::new(
            r.span(),
            "an #[activity] is a free function, not a method",
        )),
        None => push(syn::Error::new(
            sig.paren_token.span.join(),
            "an #[activity] takes its context first: `async fn name(ctx: ActivityCtx, input: T)`",
        )),
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
            FnArg::Receiver(r) => push(syn::Error::new(
                r.span(),
                "an #[activity] is a free function, not a method",
            )),
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let vis = &func.vis;
    let name = &sig.ident;
    let name_str = args.name.clone().unwrap_or_else(|| name.to_string());
    let attrs = &func.attrs;
    let mut call_sig = sig.clone();
    call_sig.ident = format_ident!("call");
    let body = &func.block;
    let (input_ty, destructure) = match types.len() {
        1 => {
            let t = &types[0];
            let n = &names[0];
            (quote!(#t), quote!(let #n = __wf_input;))
        }
        _ => (
            quote!((#(#types,)*)),
            quote!(let (#(#names,)*) = __wf_input;),
        ),
    };
    let assert_out = quote_spanned! {output_ty.span()=>
        const _: fn() = || {
            fn assert_fallible<T: #krate::__private::Fallible>() {}
            assert_fallible::<#output_ty>();
        };
    };
    let doc = format!("The activity `{name_str}` (see [`Self::call`] for its body).");
    // The output type as written, without spaces: what a workflow saving this activity's value
    // folds into its fingerprint.
    let output_text: String = quote!(#output_ty)
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Ok(quote! {
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

        #assert_out

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
    })
}
