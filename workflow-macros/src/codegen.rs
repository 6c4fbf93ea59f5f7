//! Code generation: the workflow's unit struct, its state enum, the `resume` function that
//! matches on the state and runs the matching continuation, and the description.
//!
//! Input:
//! ```text
//! #[workflow]
//! async fn greet(ctx: WorkflowCtx, name: String) -> Result<String, WorkflowError> {
//!     let text = ctx.activity(compose, name).await?;
//!     ctx.sleep(Duration::from_secs(60)).await;
//!     Ok(text)
//! }
//! ```
//! Output (abridged):
//! ```text
//! struct greet;
//! enum GreetState { Start { name: String }, Await1Compose {}, Await2Sleep { text: <<compose as Activity>::Output as Fallible>::Ok }, Returned, Poisoned }
//! const _: () = {
//!     impl Workflow for greet { ... fn resume(state, ctx, wake) -> Step<Output> {
//!         match replace(state, Poisoned) {
//!             Start { name } => { /* body up to the first await */ *state = Await1Compose {}; return Suspended(..) }
//!             Await1Compose {} => { let __wf_v = resolve(..)?; let text = (__wf_v)?; /* up to the sleep */ }
//!             Await2Sleep { text } => { let __wf_v = resolve(..)?; Ok(text) }
//!             ...
//! ```

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, Type};

use crate::ast::WorkflowFn;
use crate::lower::Lowered;
use crate::lower::emit::{Emitter, field_ident, mixed};
use crate::lower::ir::{Origin, Var, compact};

fn camel(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

pub fn variant_names(low: &Lowered) -> Vec<syn::Ident> {
    low.awaits()
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let detail = match &a.op {
                Expr::MethodCall(_) => {
                    let mut e = &a.op;
                    let mut first = None;
                    while let Expr::MethodCall(m) = e {
                        first = Some(m);
                        e = &m.receiver;
                    }
                    let m = first.expect("an operation is a method call");
                    let arg = m.args.first();
                    match (m.method.to_string().as_str(), arg) {
                        ("activity", Some(Expr::Path(p))) => camel(
                            &p.path
                                .segments
                                .last()
                                .map(|s| s.ident.to_string())
                                .unwrap_or_default(),
                        ),
                        (
                            "signal",
                            Some(Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Str(s),
                                ..
                            })),
                        ) => {
                            format!(
                                "Signal{}",
                                camel(
                                    &s.value()
                                        .chars()
                                        .map(|c| if c.is_alphanumeric() { c } else { '_' })
                                        .collect::<String>()
                                )
                            )
                        }
                        (other, _) => camel(other),
                    }
                }
                _ => String::new(),
            };
            format_ident!("Await{}{}", k + 1, detail)
        })
        .collect()
}

fn field_ty(v: &Var, krate: &TokenStream) -> TokenStream {
    match &v.ty {
        Some(t) => quote!(#t),
        None => quote!(#krate::__private::Encoded),
    }
}

/// A field of the state enum, `name: Type`. A type the user wrote is saved through
/// `__private::save`/`load`, whose paths carry the span of that type: serde spans its calls at
/// the path, so "`Receipt: Serialize` is not satisfied" points at the user's `Receipt`, not at
/// `#[workflow]` (and rustc reports it once however many states hold the variable).
fn state_field(v: &Var, krate: &TokenStream, single_input: Option<&syn::Ident>) -> TokenStream {
    let f = field_ident(v);
    let t = field_ty(v, krate);
    // Documented, for crates that deny `missing_docs`.
    let doc = match v.origin {
        Origin::Param => format!("The input `{}`.", v.display_name()),
        Origin::Temp => {
            "A value the lowering keeps (a loop's items or position, an operand).".to_string()
        }
        _ => format!("The variable `{}`.", v.display_name()),
    };
    let Some(ty) = &v.ty else {
        return quote!(#[doc = #doc] #f: #t);
    };
    let at = syn::spanned::Spanned::span(ty);
    let krate = krate.to_string();
    // The type is named in the path, so that the bound is introduced there (not inferred from
    // serde's own argument, which has serde's span).
    let (save, load) = match single_input {
        Some(wf) if v.origin == Origin::Param => (
            format!("{krate}::__private::save_input::<{wf}, _>"),
            format!("{krate}::__private::load_input::<{wf}, _>"),
        ),
        _ => {
            let ty = quote!(#ty).to_string();
            (
                format!("{krate}::__private::save::<{ty}, _>"),
                format!("{krate}::__private::load::<{ty}, _>"),
            )
        }
    };
    let save = syn::LitStr::new(&compact(&save), at);
    let load = syn::LitStr::new(&compact(&load), at);
    quote!(#[doc = #doc] #[serde(serialize_with = #save, deserialize_with = #load)] #f: #t)
}

pub fn generate(
    wf: &WorkflowFn,
    low: &Lowered,
    krate: &TokenStream,
    wf_name: &str,
    state_name: Option<&syn::Ident>,
) -> TokenStream {
    let func = &wf.func;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let state = match state_name {
        Some(s) => s.clone(),
        None => format_ident!("{}State", camel(&name.to_string())),
    };
    let output = &wf.output;
    let variants = variant_names(low);

    // The state enum.
    // A single input's type is `Workflow::Input`, checked at the impl: it is saved through the
    // trait, so that a type that cannot be saved is reported there only.
    let single_input = (low.params.len() == 1).then_some(name);
    let param_fields = low
        .params
        .iter()
        .map(|p| state_field(p, krate, single_input));
    let await_variants =
        variants
            .iter()
            .zip(&low.fields)
            .zip(low.awaits())
            .map(|((v, fields), site)| {
                let fs = fields.iter().map(|p| state_field(p, krate, single_input));
                let doc = format!("Suspended at line {}: `{}`.", site.line, site.text);
                quote!(#[doc = #doc] #v { #(#fs),* })
            });
    let state_doc = format!(
        "The state of workflow `{name}`: one variant per durable await, holding the variables live there."
    );
    let serde_path = compact(&quote!(#krate::__private::serde).to_string());

    // Inputs.
    let param_idents: Vec<&syn::Ident> = low.params.iter().map(|p| &p.ident).collect();
    let param_tys: Vec<&Type> = wf.params.iter().map(|p| &p.ty).collect();
    let (input_ty, start_body) = match param_tys.len() {
        1 => {
            let t = param_tys[0];
            let i = param_idents[0];
            (quote!(#t), quote!(#state::Start { #i: __wf_input }))
        }
        _ => (
            quote!((#(#param_tys,)*)),
            quote!({ let (#(#param_idents,)*) = __wf_input; #state::Start { #(#param_idents),* } }),
        ),
    };

    // The step function's body.
    let emitter = Emitter {
        prog: &low.prog,
        live: &low.live,
        krate,
        state: &state,
        variants: &variants,
        output,
        ctx: &wf.ctx,
    };
    let step_body = emitter.body();
    let wf_ctx = mixed("__wf_ctx");
    let wf_state = mixed("__wf_state");
    let wf_wake = mixed("__wf_wake");

    // The description.
    let desc = crate::describe::describe(wf_name, low, &variants, krate);
    let fingerprint = desc.fingerprint;
    let desc_tokens = desc.tokens;

    let items = &low.items;
    let attrs: Vec<&syn::Attribute> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    // The user's lint attributes (`#[allow(..)]` and the like) hold for the body.
    let lints: Vec<&syn::Attribute> = func
        .attrs
        .iter()
        .filter(|a| {
            ["allow", "warn", "deny", "forbid", "expect"]
                .iter()
                .any(|l| a.path().is_ident(l))
        })
        .collect();
    let struct_doc = format!("The workflow `{wf_name}` (its state is [`{state}`]).");
    quote! {
        #(#attrs)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #name;

        #[doc = #state_doc]
        #[derive(#krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_path)]
        #[allow(non_camel_case_types, clippy::large_enum_variant)]
        #vis enum #state {
            /// Not started: the inputs.
            Start { #(#param_fields),* },
            #(#await_variants,)*
            /// Ran to its end.
            Returned,
            /// A step panicked; the workflow cannot resume.
            Poisoned,
        }

        #[doc(hidden)]
        const _: () = {
            #(#items)*

            // The generated function: its own names are mixed-site and do not warn; the user's
            // statements in it keep their lints. `non_snake_case`: the workflow's name is the
            // user's function name, used as is.
            #[allow(non_snake_case)]
            #(#lints)*
            fn __wf_step(#wf_state: &mut #state, #wf_ctx: &#krate::WorkflowCtx, mut #wf_wake: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<#output> {
                #step_body
            }

            #desc_tokens

            /// Shown as JSON, so that the saved types need not implement `Debug`.
            impl ::core::fmt::Debug for #state {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #krate::__private::debug_as_json(self, f)
                }
            }

            #[automatically_derived]
            impl #krate::Workflow for #name {
                const NAME: &'static str = #wf_name;
                const FINGERPRINT: u64 = #fingerprint;
                type Input = #input_ty;
                type Output = #output;
                type State = #state;
                fn start(__wf_input: Self::Input) -> Self::State {
                    #start_body
                }
                fn resume(__wf_state: &mut Self::State, __wf_ctx: &#krate::WorkflowCtx, __wf_wake: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<Self::Output> {
                    let __wf_result = __wf_step(__wf_state, __wf_ctx, __wf_wake);
                    if let #krate::__private::Step::Completed(_) = &__wf_result {
                        *__wf_state = #state::Returned;
                    }
                    __wf_result
                }
                fn description() -> &'static #krate::Description {
                    &__WF_DESCRIPTION
                }
            }
        };
    }
}
