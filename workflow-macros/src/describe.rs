//! The description of a generated state machine (states, saved variables with their types,
//! awaits with kind and line, transitions) and what the fingerprint is made of.
//!
//! The fingerprint itself is computed by the runtime (`workflow_rt::Layout`), once per workflow:
//! it hashes the `head` written here (the workflow's name, its version from 2 on, and per state
//! the variant name and the await kind) with the shapes of the saved types, traced at run time
//! (a proc macro cannot see inside the user's types). Line numbers, the operations' arguments,
//! the saved variables' names and the code between awaits are not part of it.
//!
//! The legacy fingerprint, the one earlier releases stored, is still computed here so that runs
//! stored under it keep being read: per state in order, the variant name, the await kind and the
//! saved variables' names and types as written (`<encoded>` for a type left to the compiler),
//! folding in `<charge as Activity>::OUTPUT_FINGERPRINT` (the hash `#[activity]` takes of its
//! written output type) for each activity whose value is saved, evaluated by the compiler. Its
//! text (`written`) is also what the runtime hashes when the types cannot be traced.
//!
//! Each await's `waits_for` (`CommandDesc`) is read off its operation by
//! [`crate::lower::ops::waits_for`]; it is not hashed (the await kinds are).

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit::Visit;

use crate::ast::WorkflowFn;
use crate::lower::Lowered;
use crate::lower::ir::{Var, compact};

pub struct Described {
    pub tokens: TokenStream,
    /// The fingerprint earlier releases computed (names and types as written), a const `u64`
    /// expression: runs stored under it are still read.
    pub legacy: TokenStream,
    /// The states' names and await kinds, hashed with the traced shapes into the fingerprint.
    pub head: String,
    /// The text the legacy fingerprint hashes (the saved variables' names and types as
    /// written), hashed instead of the shapes when the types cannot be traced.
    pub written: String,
}

/// The activities `A` of the `ActivityOk<A>` in `ty`, as their paths.
fn activities_in(ty: &syn::Type, out: &mut Vec<syn::Path>) {
    struct F<'a>(&'a mut Vec<syn::Path>);
    impl<'ast> Visit<'ast> for F<'_> {
        fn visit_path_segment(&mut self, seg: &'ast syn::PathSegment) {
            if seg.ident == "ActivityOk"
                && let syn::PathArguments::AngleBracketed(a) = &seg.arguments
                && let Some(syn::GenericArgument::Type(syn::Type::Path(p))) = a.args.first()
                && p.qself.is_none()
            {
                self.0.push(p.path.clone());
            }
            syn::visit::visit_path_segment(self, seg);
        }
    }
    F(out).visit_type(ty);
}

fn type_text(v: &Var) -> String {
    match &v.ty {
        // The runtime's own paths are left out (`ActivityOk<charge>`, `<T as Unwrap>::Value`).
        Some(t) => compact(
            &quote!(#t)
                .to_string()
                .replace(":: workflow_rt ::", "")
                .replace("__private ::", ""),
        ),
        None => "<encoded>".to_string(),
    }
}

/// The type shown in the description: as written, or `<inferred>` for a variable saved with
/// the type the compiler inferred.
fn shown_type(v: &Var) -> String {
    match &v.ty {
        Some(_) => type_text(v),
        None => "<inferred>".to_string(),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The text the fingerprint hashes before its states: the name, then the version unless it is 1
/// (the text of a version 1 is the one hashed before versions existed).
fn canonical_header(wf_name: &str, version: u32) -> String {
    let mut canon = format!("workflow {wf_name}\n");
    if version != 1 {
        canon.push_str(&format!("version {version}\n"));
    }
    canon
}

pub fn describe(
    wf: &WorkflowFn,
    wf_name: &str,
    version: u32,
    low: &Lowered,
    variants: &[syn::Ident],
    krate: &TokenStream,
) -> Described {
    let mut canon = canonical_header(wf_name, version);
    let mut head = canonical_header(wf_name, version);
    let mut states = Vec::new();
    // Start.
    let start_vars: Vec<(String, String)> = low
        .params
        .iter()
        .map(|v| (v.display_name(), type_text(v)))
        .collect();
    canon.push_str("Start");
    for (n, t) in &start_vars {
        canon.push_str(&format!(" {n}:{t}"));
    }
    canon.push('\n');
    head.push_str("Start\n");
    let start_vars = low
        .params
        .iter()
        .map(|v| (v.display_name(), shown_type(v)))
        .collect();
    states.push((String::from("Start"), None, start_vars));
    for (k, site) in low.awaits().iter().enumerate() {
        let vars: Vec<(String, String)> = low.fields[k]
            .iter()
            .map(|v| (v.display_name(), type_text(v)))
            .collect();
        canon.push_str(&format!("{} {}", variants[k], site.kind.as_str()));
        for (n, t) in &vars {
            canon.push_str(&format!(" {n}:{t}"));
        }
        canon.push('\n');
        head.push_str(&format!("{} {}\n", variants[k], site.kind.as_str()));
        let vars = low.fields[k]
            .iter()
            .map(|v| (v.display_name(), shown_type(v)))
            .collect();
        states.push((variants[k].to_string(), Some(site), vars));
    }
    let returned = states.len() as u16;
    states.push(("Returned".into(), None, vec![]));
    states.push(("Poisoned".into(), None, vec![]));
    let base = fnv1a(canon.as_bytes());
    let mut activities: Vec<syn::Path> = Vec::new();
    for v in low.fields.iter().flatten() {
        if let Some(t) = &v.ty {
            activities_in(t, &mut activities);
        }
    }
    activities.sort_by_key(|p| quote!(#p).to_string());
    activities.dedup_by_key(|p| quote!(#p).to_string());
    let legacy = if activities.is_empty() {
        quote!(#base)
    } else {
        quote!(#krate::__private::fold_fingerprint(
            #base,
            &[#(<#activities as #krate::Activity>::OUTPUT_FINGERPRINT),*],
        ))
    };

    let mut transitions: Vec<(u16, u16)> = Vec::new();
    let from_points = std::iter::once(low.prog.order[0])
        .chain((0..low.awaits().len()).map(|k| low.prog.resume_point(k)));
    for (from, p) in from_points.enumerate() {
        let (next, completes) = crate::lower::next_states(&low.prog, p);
        for k in next {
            transitions.push((from as u16, k as u16 + 1));
        }
        if completes {
            transitions.push((from as u16, returned));
        }
    }

    // A variable of the body: a name it binds, as written or as renamed by the lowering
    // (`amount_wf1`), or one of the lowering's temporaries.
    let bound = crate::lower::ops::bound_names(&wf.func);
    let is_local = |i: &syn::Ident| {
        let name = i.to_string();
        name.starts_with("__wf")
            || bound.contains(&name)
            || bound.contains(&crate::lower::ir::display_name(i))
    };
    let state_tokens = states.iter().map(|(name, site, vars)| {
        let awaits = match site {
            Some(s) => {
                let kind = s.kind.as_str();
                let op = &s.text;
                let line = s.line;
                let waits_for = crate::lower::ops::waits_for(&s.op, &wf.ctx, &is_local)
                    .to_tokens(krate);
                quote!(::core::option::Option::Some(#krate::__private::AwaitDesc { kind: #kind, operation: #op, line: #line, waits_for: #waits_for }))
            }
            None => quote!(::core::option::Option::None),
        };
        let vs = vars.iter().map(|(n, t)| quote!((#n, #t)));
        quote!(#krate::__private::StateDesc { name: #name, awaits: #awaits, vars: &[#(#vs),*] })
    });
    let n = transitions.len();
    let bytes: Vec<u8> = transitions
        .iter()
        .flat_map(|(a, b)| a.to_le_bytes().into_iter().chain(b.to_le_bytes()))
        .collect();
    let packed = proc_macro2::Literal::byte_string(&bytes);
    let version_lit = proc_macro2::Literal::u32_unsuffixed(version);
    let wf_ident = &wf.func.sig.ident;
    let tokens = quote! {
        const __WF_TRANSITIONS: [(u16, u16); #n] = #krate::__private::transitions::<#n>(#packed);
        static __WF_DESCRIPTION: #krate::__private::Description = #krate::__private::Description {
            workflow: #wf_name,
            version: #version_lit,
            states: &[#(#state_tokens),*],
            transitions: &__WF_TRANSITIONS,
            layout: <#wf_ident as #krate::Workflow>::layout,
        };
    };
    Described {
        tokens,
        legacy,
        head,
        written: canon,
    }
}
