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
use crate::lower::ir::{Origin, Var};

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
                        ("child", Some(Expr::Path(p))) => format!(
                            "Child{}",
                            camel(
                                &p.path
                                    .segments
                                    .last()
                                    .map(|s| s.ident.to_string())
                                    .unwrap_or_default(),
                            )
                        ),
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
                        // A typed signal, `ctx.signal(APPROVE)` / `ctx.signal(signals::APPROVE)`:
                        // named after the const, `SignalApprove`.
                        ("signal", Some(Expr::Path(p))) if p.qself.is_none() => format!(
                            "Signal{}",
                            camel(
                                &p.path
                                    .segments
                                    .last()
                                    .map(|s| s.ident.to_string().to_lowercase())
                                    .unwrap_or_default()
                            )
                        ),
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

/// A field of the state enum, `name: Type`, plain: the enum's serde code is written by
/// [`state_serde`], which names each type where the user wrote it.
fn state_field(v: &Var, krate: &TokenStream) -> TokenStream {
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
    quote!(#[doc = #doc] #f: #t)
}

/// `Serialize` and `Deserialize` for the state enum, with the encoding serde's derive would
/// give it (a struct variant per state, its fields in order; `Returned` and `Poisoned` unit
/// variants), through the generic helpers of `__private` (`workflow-rt`'s `state_serde.rs`): one
/// `match` arm per state each way, where the derive writes a visitor and an identifier enum for
/// each. Each field's type is named where the user wrote it, so "`Receipt: Serialize` is not
/// satisfied" points at the user's `Receipt`; a single input goes through `Workflow::Input`,
/// whose bounds are reported at the impl of `Workflow`.
fn state_serde(
    krate: &TokenStream,
    state: &syn::Ident,
    wf: &syn::Ident,
    variants: &[(syn::Ident, Vec<Var>)],
    single_input: bool,
) -> TokenStream {
    let name = state.to_string();
    let names: Vec<String> = variants
        .iter()
        .map(|(v, _)| v.to_string())
        .chain(["Returned".to_string(), "Poisoned".to_string()])
        .collect();
    let z = mixed("__wf_z");
    let sv = mixed("__wf_sv");
    let r = mixed("__wf_r");
    let is_input = |var: &Var| single_input && var.origin == Origin::Param;
    let ser_arms = variants.iter().enumerate().map(|(i, (v, fields))| {
        let idx = i as u32;
        let vname = v.to_string();
        let len = fields.len();
        let binds = fields.iter().map(field_ident);
        let calls = fields.iter().map(|var| {
            let key = var.plain_name();
            let f = field_ident(var);
            match &var.ty {
                _ if is_input(var) => {
                    quote!(#krate::__private::ser_input::<#wf, _>(&mut #sv, #key, #f)?;)
                }
                Some(t) => {
                    let at = syn::spanned::Spanned::span(t);
                    let call = quote::quote_spanned!(at=> #krate::__private::ser_field::<#t, _>);
                    quote!(#call(&mut #sv, #key, #f)?;)
                }
                None => quote!(#krate::__private::ser_field::<#krate::__private::Encoded, _>(&mut #sv, #key, #f)?;),
            }
        });
        quote! {
            #state::#v { #(#binds),* } => {
                let mut #sv = #krate::__private::serde::Serializer::serialize_struct_variant(#z, #name, #idx, #vname, #len)?;
                #(#calls)*
                #krate::__private::serde::ser::SerializeStructVariant::end(#sv)
            }
        }
    });
    let returned = variants.len() as u32;
    let poisoned = returned + 1;
    let field_lists = variants.iter().map(|(_, fields)| {
        let keys = fields.iter().map(Var::plain_name);
        quote!(::core::option::Option::Some(&[#(#keys),*]))
    });
    let read_arms = variants.iter().enumerate().map(|(i, (v, fields))| {
        let idx = i as u32;
        let reads = fields.iter().map(|var| {
            let key = var.plain_name();
            let f = field_ident(var);
            match &var.ty {
                _ if is_input(var) => quote!(#f: #r.input::<#wf>(#key)?),
                Some(t) => {
                    let at = syn::spanned::Spanned::span(t);
                    let call = quote::quote_spanned!(at=> field::<#t>);
                    quote!(#f: #r.#call(#key)?)
                }
                None => quote!(#f: #r.field::<#krate::__private::Encoded>(#key)?),
            }
        });
        quote!(#idx => ::core::result::Result::Ok(#state::#v { #(#reads),* }),)
    });
    quote! {
        #[automatically_derived]
        impl #krate::__private::StateVariants for #state {
            const NAME: &'static str = #name;
            const VARIANTS: &'static [&'static str] = &[#(#names),*];
        }

        #[automatically_derived]
        impl #krate::__private::StateFields for #state {
            const FIELDS: &'static [::core::option::Option<&'static [&'static str]>] = &[
                #(#field_lists,)*
                ::core::option::Option::None,
                ::core::option::Option::None,
            ];
            fn read<'de, __WfR: #krate::__private::FieldReader<'de>>(__wf_variant: u32, #r: &mut __WfR) -> ::core::result::Result<Self, __WfR::Error> {
                match __wf_variant {
                    #(#read_arms)*
                    #returned => ::core::result::Result::Ok(#state::Returned),
                    #poisoned => ::core::result::Result::Ok(#state::Poisoned),
                    __wf_other => ::core::result::Result::Err(#krate::__private::no_such_variant(__wf_other)),
                }
            }
        }

        #[automatically_derived]
        impl #krate::__private::serde::Serialize for #state {
            fn serialize<__WfZ: #krate::__private::serde::Serializer>(&self, #z: __WfZ) -> ::core::result::Result<__WfZ::Ok, __WfZ::Error> {
                match self {
                    #(#ser_arms)*
                    #state::Returned => #krate::__private::serde::Serializer::serialize_unit_variant(#z, #name, #returned, "Returned"),
                    #state::Poisoned => #krate::__private::serde::Serializer::serialize_unit_variant(#z, #name, #poisoned, "Poisoned"),
                }
            }
        }

        #[automatically_derived]
        impl<'de> #krate::__private::serde::Deserialize<'de> for #state {
            fn deserialize<__WfD: #krate::__private::serde::Deserializer<'de>>(__wf_d: __WfD) -> ::core::result::Result<Self, __WfD::Error> {
                #krate::__private::deserialize_state(__wf_d)
            }
        }
    }
}

pub fn generate(
    wf: &WorkflowFn,
    low: &Lowered,
    krate: &TokenStream,
    wf_name: &str,
    version: u32,
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
    let param_fields = low.params.iter().map(|p| state_field(p, krate));
    let await_variants =
        variants
            .iter()
            .zip(&low.fields)
            .zip(low.awaits())
            .map(|((v, fields), site)| {
                let fs = fields.iter().map(|p| state_field(p, krate));
                let doc = format!("Suspended at line {}: `{}`.", site.line, site.text);
                quote!(#[doc = #doc] #v { #(#fs),* })
            });
    let state_doc = format!(
        "The state of workflow `{name}`: one variant per durable await, holding the variables live there."
    );
    let serde_impls = {
        let mut all = vec![(format_ident!("Start"), low.params.clone())];
        all.extend(variants.iter().cloned().zip(low.fields.iter().cloned()));
        state_serde(krate, &state, name, &all, single_input.is_some())
    };

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
    let wf_call = mixed("__wf_call");
    let wf_state = mixed("__wf_state");
    let wf_wake = mixed("__wf_wake");

    // The description.
    let desc = crate::describe::describe(wf, wf_name, version, low, &variants, krate);
    let legacy = desc.legacy;
    let head = desc.head;
    let written = desc.written;
    let desc_tokens = desc.tokens;
    let version = proc_macro2::Literal::u32_unsuffixed(version);

    // The activities the body calls, by the name each is registered under (not part of the
    // description: the fingerprint does not change with them).
    let activity_names = crate::lower::ops::activity_paths(&wf.func, &wf.ctx)
        .into_iter()
        .map(|p| {
            let at = syn::spanned::Spanned::span(&p);
            quote::quote_spanned!(at=> <#p as #krate::Activity>::NAME)
        });

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
            fn __wf_step(#wf_state: &mut #state, #wf_call: ::core::result::Result<&#krate::WorkflowCtx, &mut #krate::__private::Probe>, mut #wf_wake: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<#output> {
                #step_body
            }

            #serde_impls

            #desc_tokens

            /// The fingerprint of the saved variables' names and types as written, which
            /// earlier releases stored: runs stored under it are still read.
            const __WF_LEGACY_FINGERPRINT: u64 = #legacy;

            /// Shown as JSON, so that the saved types need not implement `Debug`.
            #[automatically_derived]
            impl ::core::fmt::Debug for #state {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #krate::__private::debug_as_json(self, f)
                }
            }

            #[automatically_derived]
            impl #krate::Workflow for #name {
                const NAME: &'static str = #wf_name;
                const VERSION: u32 = #version;
                const ACTIVITIES: &'static [&'static str] = &[#(#activity_names),*];
                type Input = #input_ty;
                type Output = #output;
                type State = #state;
                fn start(__wf_input: Self::Input) -> Self::State {
                    #start_body
                }
                fn resume(__wf_state: &mut Self::State, __wf_ctx: &#krate::WorkflowCtx, __wf_wake: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<Self::Output> {
                    let __wf_result = __wf_step(__wf_state, ::core::result::Result::Ok(__wf_ctx), __wf_wake);
                    if let #krate::__private::Step::Completed(_) = &__wf_result {
                        *__wf_state = #state::Returned;
                    }
                    __wf_result
                }
                fn description() -> &'static #krate::Description {
                    &__WF_DESCRIPTION
                }
                fn layout() -> &'static #krate::Layout {
                    static __WF_LAYOUT: ::std::sync::OnceLock<#krate::Layout> = ::std::sync::OnceLock::new();
                    __WF_LAYOUT.get_or_init(|| {
                        #krate::__private::layout::<#name>(#head, __WF_LEGACY_FINGERPRINT, #written, |__wf_p| {
                            let _ = __wf_step(&mut #state::Poisoned, ::core::result::Result::Err(__wf_p), ::core::option::Option::None);
                        })
                    })
                }
                fn is_failure(__wf_output: &Self::Output) -> bool {
                    #[allow(unused_imports)]
                    use #krate::__private::{OutputIsResult as _, OutputIsNotResult as _};
                    (&#krate::__private::OutputKind(__wf_output)).__wf_is_failure()
                }
            }
        };
    }
}
