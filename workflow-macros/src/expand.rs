//! The driver of `#[workflow]`: parse, check, lower, generate. On error it still emits the
//! workflow's struct and an impl of `Workflow` whose bodies are unreachable, next to the
//! errors, so that one mistake does not cascade into "cannot find `checkout`" everywhere the
//! workflow is used (tokio-macros' `entry.rs` does the same).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::ast::WorkflowFn;
use crate::attr::{Args, Kind};
use crate::ctxt::Ctxt;
use crate::lower::ir::{Origin, Var};

pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = Args::parse(&cx, Kind::Workflow, args);
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            cx.push(e);
            return to_compile_errors(cx);
        }
    };
    let krate = args.krate();
    let wf_name = args
        .name
        .clone()
        .unwrap_or_else(|| func.sig.ident.to_string());
    let version = proc_macro2::Literal::u32_unsuffixed(args.version());

    let allowed = crate::check::strip_escape_hatches(&cx, &mut func.block);
    let Some(wf) = WorkflowFn::from_item(&cx, func.clone()) else {
        return fallback(&func, &krate, &wf_name, version, cx.check().err());
    };
    crate::check::check_body(&cx, &wf.func.block, &wf.ctx, &allowed);
    let params: Vec<Var> = wf
        .params
        .iter()
        .map(|p| Var {
            ident: p.ident.clone(),
            ty: Some(p.ty.clone()),
            by_ref: false,
            mutable: p.mutable,
            origin: Origin::Param,
        })
        .collect();
    let body = (*wf.func.block).clone();
    let lowered = crate::lower::lower(&cx, &wf.ctx, &krate, params, body);
    let out = match (lowered, cx.check()) {
        (Some(low), Ok(())) => crate::codegen::generate(
            &wf,
            &low,
            &krate,
            &wf_name,
            args.version(),
            args.state.as_ref(),
        ),
        (_, res) => fallback(&wf.func, &krate, &wf_name, version, res.err()),
    };
    dump_expansion(&wf_name, out)
}

/// The errors of `cx` as `compile_error!`s, and nothing else: for an item that is not a
/// function, which has no fallback to emit.
pub fn to_compile_errors(cx: Ctxt) -> TokenStream {
    match cx.check() {
        Ok(()) => TokenStream::new(),
        Err(e) => e.to_compile_error(),
    }
}

/// Debugging aid: when the environment variable `WORKFLOW_MACROS_EXPANSION_DIR` is set while a
/// crate compiles, each `#[workflow]` also writes its expansion, as `TokenStream::to_string()`
/// (one long line: pretty-print it with `prettyplease` or `rustfmt`), to
/// `<dir>/<workflow name>.rs` (characters other than `[A-Za-z0-9_-]` in the name become `_`),
/// creating `<dir>` if needed; a failed write is a compile error. Cargo does not track the
/// variable: touch the file to expand it again. `examples/compile_cost` counts the generated
/// lines this way. Unset, it costs one environment lookup per workflow.
fn dump_expansion(wf_name: &str, out: TokenStream) -> TokenStream {
    let Some(dir) = std::env::var_os("WORKFLOW_MACROS_EXPANSION_DIR") else {
        return out;
    };
    let file: String = wf_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = std::path::Path::new(&dir).join(format!("{file}.rs"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, out.to_string())) {
        Ok(()) => out,
        Err(e) => {
            let msg = format!(
                "WORKFLOW_MACROS_EXPANSION_DIR: cannot write {}: {e}",
                path.display()
            );
            quote!(#out ::core::compile_error!(#msg);)
        }
    }
}

/// The struct and an impl with the right types, so that uses of the workflow still type-check
/// while the errors are fixed.
fn fallback(
    func: &ItemFn,
    krate: &TokenStream,
    wf_name: &str,
    version: proc_macro2::Literal,
    err: Option<syn::Error>,
) -> TokenStream {
    let err = err.map(|e| e.to_compile_error());
    let vis = &func.vis;
    let name = &func.sig.ident;
    let output = match &func.sig.output {
        syn::ReturnType::Type(_, t) => quote!(#t),
        syn::ReturnType::Default => quote!(()),
    };
    let tys: Vec<&syn::Type> = func
        .sig
        .inputs
        .iter()
        .skip(1)
        .filter_map(|a| match a {
            syn::FnArg::Typed(pt) if !crate::ast::contains_reference(&pt.ty) => Some(&*pt.ty),
            _ => None,
        })
        .collect();
    let input = if tys.len() == 1 {
        quote!(#(#tys)*)
    } else {
        quote!((#(#tys,)*))
    };
    quote! {
        #err
        #[allow(non_camel_case_types)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #name;
        const _: () = {
            #[automatically_derived]
            impl #krate::Workflow for #name {
                const NAME: &'static str = #wf_name;
                const VERSION: u32 = #version;
                const ACTIVITIES: &'static [&'static str] = &[];
                type Input = #input;
                type Output = #output;
                type State = ();
                fn start(_: Self::Input) -> Self::State {}
                fn resume(_: &mut (), _: &#krate::WorkflowCtx, _: ::core::option::Option<#krate::__private::Resolution>) -> #krate::__private::Step<Self::Output> {
                    ::core::unreachable!("this workflow did not compile")
                }
                fn description() -> &'static #krate::Description {
                    ::core::unreachable!("this workflow did not compile")
                }
                fn layout() -> &'static #krate::Layout {
                    ::core::unreachable!("this workflow did not compile")
                }
                fn is_failure(_: &Self::Output) -> bool {
                    ::core::unreachable!("this workflow did not compile")
                }
            }
        };
    }
}
