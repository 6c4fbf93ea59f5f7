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

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Stmt, Type, parse_quote, parse_quote_spanned};

use crate::ast::WorkflowFn;
use crate::lower::liveness::{RESTORE, SUSPEND, marker_index};
use crate::lower::normalize::ELEM_ATTR;
use crate::lower::resume::{AWAIT_ATTR, Var};
use crate::lower::{Lowered, suspends_in};

pub struct Names {
    pub krate: TokenStream,
    pub state: syn::Ident,
    pub variants: Vec<syn::Ident>,
    pub output: Type,
}

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
    low.awaits
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
        crate::lower::resume::Origin::Param => format!("The input `{}`.", v.display_name()),
        crate::lower::resume::Origin::Temp => {
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
        Some(wf) if v.origin == crate::lower::resume::Origin::Param => (
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
    let save = syn::LitStr::new(&crate::lower::resume::compact(&save), at);
    let load = syn::LitStr::new(&crate::lower::resume::compact(&load), at);
    quote!(#[doc = #doc] #[serde(serialize_with = #save, deserialize_with = #load)] #f: #t)
}

fn field_ident(v: &Var) -> syn::Ident {
    format_ident!("{}", v.name())
}

/// The names derived from a variable resolve like the macro's own and are located at the
/// variable, so that an error about its saving or restoring points there.
fn local_field(v: &Var) -> syn::Ident {
    derived(v, "f")
}

fn witness(v: &Var) -> syn::Ident {
    derived(v, "w")
}

/// `__wf_<kind>_<name>` for the user's `<name>`, `__wf_<kind>t_<n>` for the macro's own
/// `__wf_<n>`: the two never meet (a user's `t1` and the temporary `__wf_t1` once did).
fn derived(v: &Var, kind: &str) -> syn::Ident {
    let name = v.plain_name();
    let text = match name.strip_prefix("__wf_") {
        Some(own) => format!("__wf_{kind}t_{own}"),
        None => format!("__wf_{kind}_{name}"),
    };
    syn::Ident::new(&text, Span::mixed_site().located_at(v.ident.span()))
}

fn op_witness(k: usize) -> syn::Ident {
    syn::Ident::new(&format!("__wf_op{k}"), Span::mixed_site())
}

fn mixed(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
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
    let names = Names {
        krate: krate.clone(),
        state: state.clone(),
        variants: variants.clone(),
        output: output.clone(),
    };

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
            .zip(&low.awaits)
            .map(|((v, fields), site)| {
                let fs = fields.iter().map(|p| state_field(p, krate, single_input));
                let doc = format!("Suspended at line {}: `{}`.", site.line, site.text);
                quote!(#[doc = #doc] #v { #(#fs),* })
            });
    let state_doc = format!(
        "The state of workflow `{name}`: one variant per durable await, holding the variables live there."
    );
    let serde_path = crate::lower::resume::compact(&quote!(#krate::__private::serde).to_string());

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

    // The arms.
    let ctx_ident = &wf.ctx;
    let wf_ctx = mixed("__wf_ctx");
    let wf_state = mixed("__wf_state");
    let wf_wake = mixed("__wf_wake");
    let start_code = finish_arm(&low.start.code, low, &names);
    let start_fields = low.params.iter().map(|p| {
        let f = field_ident(p);
        let l = local_field(p);
        quote!(#f: #l)
    });
    let mut arms = vec![quote! {
        #state::Start { #(#start_fields),* } => {
            #[allow(unused_variables)]
            let #ctx_ident: &#krate::WorkflowCtx = #wf_ctx;
            #start_code
        }
    }];
    for (k, arm) in low.conts.iter().enumerate() {
        let v = &variants[k];
        let fields = low.fields[k].iter().map(|p| {
            let f = field_ident(p);
            let l = local_field(p);
            quote!(#f: #l)
        });
        let code = finish_arm(&arm.code, low, &names);
        arms.push(quote! {
            #state::#v { #(#fields),* } => {
                #[allow(unused_variables)]
                let #ctx_ident: &#krate::WorkflowCtx = #wf_ctx;
                #code
            }
        });
    }
    let op_witnesses = (0..low.awaits.len()).map(op_witness);
    let mut enc: Vec<syn::Ident> = low
        .fields
        .iter()
        .flatten()
        .filter(|v| v.ty.is_none())
        .map(witness)
        .collect();
    enc.sort_by_key(|i| i.to_string());
    enc.dedup_by_key(|i| i.to_string());

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

            #[allow(
                unused_mut, unused_variables, unused_assignments, non_snake_case, unreachable_code, unused_braces, unused_parens,
                unused_labels, clippy::all, clippy::pedantic, clippy::nursery
            )]
            fn __wf_step(#wf_state: &mut #state, #wf_ctx: &#krate::WorkflowCtx, mut #wf_wake: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<#output> {
                #(let mut #op_witnesses = ::core::option::Option::None;)*
                #(let mut #enc = ::core::option::Option::None;)*
                match ::core::mem::replace(#wf_state, #state::Poisoned) {
                    #(#arms)*
                    #state::Returned => #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::from("Returned"))),
                    #state::Poisoned => #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::from("Poisoned"))),
                }
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

/// Expands the markers of an arm and rewrites `?` and `return` into completions.
fn finish_arm(code: &Block, low: &Lowered, names: &Names) -> TokenStream {
    let mut code = code.clone();
    let mut f = Finish {
        low,
        names,
        loops: 0,
        taken: Vec::new(),
    };
    f.visit_block_mut(&mut code);
    let holders = f
        .taken
        .iter()
        .map(|l| quote!(let mut #l = ::core::option::Option::Some(#l);));
    let krate = &names.krate;
    let output = &names.output;
    let out = mixed("__wf_out");
    // The arm's block is `{ restore-lets; { body } }`: its value is the body's.
    let stmts = &code.stmts;
    quote! {
        #(#holders)*
        let #out: #output = { #(#stmts)* };
        #krate::__private::Step::Completed(#out)
    }
}

struct Finish<'a> {
    low: &'a Lowered,
    names: &'a Names,
    /// How many loops enclose the code being rewritten.
    loops: usize,
    /// Saved variables restored inside a loop: their fields are held in an `Option` and taken,
    /// since the borrow checker cannot see that the resumed iteration runs once.
    taken: Vec<syn::Ident>,
}

impl Finish<'_> {
    fn complete(&self, e: TokenStream) -> Expr {
        let krate = &self.names.krate;
        parse_quote!(return #krate::__private::Step::Completed(#e))
    }

    fn restore(&mut self, level: usize) -> Vec<Stmt> {
        let krate = &self.names.krate;
        let mut out = Vec::new();
        // Assigned before they are read: declared, and initialized by the code that follows.
        for i in &self.low.decl_levels[level] {
            let v = &self.low.levels[level][*i];
            let ident = &v.ident;
            out.push(match &v.ty {
                Some(t) => parse_quote!(let mut #ident: #t;),
                None => parse_quote!(let mut #ident;),
            });
        }
        for i in &self.low.live_levels[level] {
            let v = &self.low.levels[level][*i];
            let ident = &v.ident;
            let l = local_field(v);
            let what = format!("variable `{}`", v.display_name());
            let taken: Expr = if self.loops > 0 {
                self.taken.push(l.clone());
                parse_quote!(match #l.take() {
                    ::core::option::Option::Some(__wf_x) => __wf_x,
                    ::core::option::Option::None => return #krate::__private::Step::Failed(#krate::__private::ResumeError::restored_twice(#what)),
                })
            } else {
                parse_quote!(#l)
            };
            match &v.ty {
                Some(_) => out.push(parse_quote!(let mut #ident = #taken;)),
                None => {
                    let w = witness(v);
                    // At the variable: "`&u64` cannot be decoded" is about the user's loop.
                    let at = Span::mixed_site().located_at(v.ident.span());
                    out.push(parse_quote_spanned! {at=>
                        let mut #ident = match #krate::__private::decode(&#w, &#taken, #what) {
                            ::core::result::Result::Ok(__wf_x) => __wf_x,
                            ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
                        };
                    })
                }
            }
        }
        out
    }

    fn suspend(&self, k: usize, op: Expr) -> Expr {
        let krate = &self.names.krate;
        let state = &self.names.state;
        let variant = &self.names.variants[k];
        let w = op_witness(k);
        let op_var = mixed("__wf_op");
        let pending = mixed("__wf_pending");
        let wf_ctx = mixed("__wf_ctx");
        let wf_state = mixed("__wf_state");
        let mut encodes = Vec::new();
        let fields = self.low.fields[k].iter().map(|v| {
            let f = field_ident(v);
            let ident = &v.ident;
            match &v.ty {
                Some(_) => quote!(#f: #ident),
                None => {
                    let wv = witness(v);
                    let l = local_field(v);
                    let what = format!("variable `{}`", v.display_name());
                    encodes.push(quote! {
                        #wv = ::core::option::Option::Some(#krate::__private::phantom_of(&#ident));
                        let #l = match #krate::__private::encode(&#ident, #what) {
                            ::core::result::Result::Ok(__wf_x) => __wf_x,
                            ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
                        };
                    });
                    quote!(#f: #l)
                }
            }
        }).collect::<Vec<_>>();
        parse_quote!({
            let #op_var = #op;
            #w = ::core::option::Option::Some(#krate::__private::phantom_of(&#op_var));
            let #pending = match #krate::__private::schedule(#op_var, #wf_ctx) {
                ::core::result::Result::Ok(__wf_x) => __wf_x,
                ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
            };
            #(#encodes)*
            *#wf_state = #state::#variant { #(#fields),* };
            return #krate::__private::Step::Suspended(#pending);
        })
    }
}

impl VisitMut for Finish<'_> {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let mut out = Vec::with_capacity(b.stmts.len());
        for mut s in std::mem::take(&mut b.stmts) {
            if let Stmt::Macro(m) = &s {
                if let Some(l) = marker_index(&m.mac, RESTORE) {
                    out.extend(self.restore(l));
                    continue;
                }
                if let Some(k) = marker_index(&m.mac, SUSPEND) {
                    let e = self.suspend_from_tokens(k, &m.mac);
                    out.push(Stmt::Expr(e, Some(Default::default())));
                    continue;
                }
            }
            if let Stmt::Item(item) = &mut s {
                // Items of inner blocks are copied into every continuation that runs through
                // their block; a copy a continuation does not use is not the user's mistake.
                if let Some(attrs) = item_attrs(item) {
                    attrs.push(parse_quote!(#[allow(unused_imports, dead_code)]));
                }
            }
            self.visit_stmt_mut(&mut s);
            out.push(s);
        }
        b.stmts = out;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Macro(m) => {
                if let Some(k) = marker_index(&m.mac, SUSPEND) {
                    *e = self.suspend_from_tokens(k, &m.mac);
                    return;
                }
            }
            Expr::Try(t) => {
                self.visit_expr_mut(&mut t.expr);
                let inner = &t.expr;
                let krate = &self.names.krate;
                let output = &self.names.output;
                // Spanned at the user's `?`, so that "cannot use `?` here" points there.
                let q = t.question_token.span;
                let here = Span::mixed_site().located_at(q);
                let r = syn::Ident::new("__wf_residual", here);
                let v = syn::Ident::new("__wf_ok", here);
                let ret = self.complete(quote!(#r));
                *e = parse_quote_spanned!(q=> match <_ as #krate::__private::QuestionMark<#output>>::branch(#inner) {
                    ::core::result::Result::Ok(#v) => #v,
                    ::core::result::Result::Err(#r) => #ret,
                });
                return;
            }
            Expr::Return(r) if is_generated_return(r) => return,
            Expr::Return(r) => {
                if let Some(x) = &mut r.expr {
                    self.visit_expr_mut(x);
                }
                let value = match &r.expr {
                    Some(x) => quote!(#x),
                    None => quote!(()),
                };
                *e = self.complete(value);
                return;
            }
            Expr::Await(aw) => {
                aw.attrs.retain(|a| !a.path().is_ident(AWAIT_ATTR));
            }
            _ => {}
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }

    /// `?` and `return` inside macro arguments (`format!("{}", a?)`) complete the workflow
    /// too: arguments that parse as expressions are rewritten.
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        if marker_index(m, SUSPEND).is_some() || marker_index(m, RESTORE).is_some() {
            return;
        }
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(mut args) = m.parse_body_with(parser) {
            let before = quote!(#args).to_string();
            for a in args.iter_mut() {
                self.visit_expr_mut(a);
            }
            if quote!(#args).to_string() != before {
                m.tokens = quote!(#args);
            }
        }
    }

    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        l.attrs.retain(|a| !a.path().is_ident(ELEM_ATTR));
        syn::visit_mut::visit_local_mut(self, l);
    }

    fn visit_expr_loop_mut(&mut self, l: &mut syn::ExprLoop) {
        self.loops += 1;
        syn::visit_mut::visit_expr_loop_mut(self, l);
        self.loops -= 1;
    }

    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

impl Finish<'_> {
    fn suspend_from_tokens(&mut self, k: usize, mac: &syn::Macro) -> Expr {
        let ts: TokenStream = mac.tokens.clone().into_iter().skip(2).collect();
        let mut op: Expr =
            syn::parse2(ts).expect("the marker holds the operation it was made from");
        self.visit_expr_mut(&mut op);
        self.suspend(k, op)
    }
}

fn item_attrs(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    use syn::Item::*;
    Some(match item {
        Const(i) => &mut i.attrs,
        Enum(i) => &mut i.attrs,
        Fn(i) => &mut i.attrs,
        Impl(i) => &mut i.attrs,
        Macro(i) => &mut i.attrs,
        Mod(i) => &mut i.attrs,
        Static(i) => &mut i.attrs,
        Struct(i) => &mut i.attrs,
        Trait(i) => &mut i.attrs,
        Type(i) => &mut i.attrs,
        Union(i) => &mut i.attrs,
        Use(i) => &mut i.attrs,
        _ => return None,
    })
}

/// The awaits an arm's code can suspend at next (for the description's transitions).
pub fn next_awaits(code: &Block) -> Vec<usize> {
    suspends_in(code).into_iter().collect()
}

/// A `return` the lowering wrote itself (`return ::workflow_rt::__private::Step::..`), which is
/// not a completion of the workflow.
fn is_generated_return(r: &syn::ExprReturn) -> bool {
    let Some(Expr::Call(c)) = r.expr.as_deref() else {
        return false;
    };
    let Expr::Path(p) = &*c.func else {
        return false;
    };
    let segs: Vec<String> = p
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segs.windows(2)
        .any(|w| w[0] == "__private" && w[1] == "Step")
}
