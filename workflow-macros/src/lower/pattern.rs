//! Patterns: the variables a pattern binds, and their types when the matched value's type is
//! known (`let (a, b): (u32, String)`, `Some(x)` against `Option<T>`, `Ok(v)` against
//! `Result<T, E>`, `Select2::First(x)` against `Select2<A, B>`).

use proc_macro2::TokenStream;
use syn::{Pat, Type};

use super::ops::generic_args;

#[derive(Clone)]
pub struct Binding {
    pub ident: syn::Ident,
    pub mutable: bool,
    /// Bound by reference (`ref x`): such a variable cannot be saved.
    pub by_ref: bool,
    pub ty: Option<Type>,
}

/// The variables bound by `pat`, without types.
pub fn bindings(pat: &Pat) -> Vec<Binding> {
    typed_bindings(pat, None)
}

/// The variables bound by `pat` when it matches a value of type `ty` (if known), with
/// `Option`/`Result` patterns on a type written otherwise typed as projections through
/// `krate`'s `__private` (see `ops::unwrapped_or_projected`).
pub fn typed_bindings_in(pat: &Pat, ty: Option<&Type>, krate: &TokenStream) -> Vec<Binding> {
    let mut out = Vec::new();
    walk(pat, ty, Some(krate), &mut out);
    out
}

/// The variables bound by `pat` when it matches a value of type `ty`, typed only where `ty`
/// spells the types out.
pub fn typed_bindings(pat: &Pat, ty: Option<&Type>) -> Vec<Binding> {
    let mut out = Vec::new();
    walk(pat, ty, None, &mut out);
    out
}

/// Whether an identifier pattern names a binding rather than a constant or unit variant
/// (`None`, `MAX`): by Rust's naming convention bindings start lowercase or with `_`.
pub fn is_binding_name(ident: &syn::Ident) -> bool {
    let s = ident.to_string();
    let s = s.trim_start_matches("r#");
    s.starts_with(|c: char| c.is_lowercase() || c == '_') && s != "_"
}

fn walk(pat: &Pat, ty: Option<&Type>, krate: Option<&TokenStream>, out: &mut Vec<Binding>) {
    match pat {
        Pat::Ident(pi) => {
            if is_binding_name(&pi.ident) || pi.subpat.is_some() {
                out.push(Binding {
                    ident: pi.ident.clone(),
                    mutable: pi.mutability.is_some(),
                    by_ref: pi.by_ref.is_some(),
                    ty: if pi.by_ref.is_some() {
                        None
                    } else {
                        ty.cloned()
                    },
                });
            }
            if let Some((_, sub)) = &pi.subpat {
                walk(sub, ty, krate, out);
            }
        }
        Pat::Type(pt) => walk(&pt.pat, Some(&pt.ty), krate, out),
        Pat::Paren(p) => walk(&p.pat, ty, krate, out),
        Pat::Tuple(t) => {
            let elem_tys: Option<Vec<&Type>> = match ty {
                Some(Type::Tuple(tt)) if tt.elems.len() == t.elems.len() => {
                    Some(tt.elems.iter().collect())
                }
                _ => None,
            };
            for (i, p) in t.elems.iter().enumerate() {
                walk(p, elem_tys.as_ref().map(|v| v[i]), krate, out);
            }
        }
        Pat::TupleStruct(ts) => {
            let variant = ts
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            // `Some(v)` / `Ok(v)` / `Err(e)` on a value whose type is not written as an
            // `Option` or a `Result` (an activity's value): a projection.
            let projected: Option<Type> = match (ty, krate, variant.as_str()) {
                (Some(t), Some(k), "Some" | "Ok")
                    if generic_args(t, "Option").is_none()
                        && generic_args(t, "Result").is_none() =>
                {
                    Some(super::ops::unwrapped_or_projected(t, k))
                }
                (Some(t), Some(k), "Err") if generic_args(t, "Result").is_none() => {
                    Some(super::ops::result_error(t, k))
                }
                _ => None,
            };
            let inner: Option<&Type> = projected.as_ref().or_else(|| {
                ty.and_then(|t| {
                    let pick = |wrapper: &str, idx: usize| {
                        generic_args(t, wrapper).and_then(|a| a.get(idx).copied())
                    };
                    match variant.as_str() {
                        "Some" => pick("Option", 0),
                        "Ok" => pick("Result", 0),
                        "Err" => pick("Result", 1),
                        "First" | "Second" | "Third" | "Fourth" => {
                            let idx = ["First", "Second", "Third", "Fourth"]
                                .iter()
                                .position(|v| *v == variant)?;
                            pick("Select2", idx)
                                .or_else(|| pick("Select3", idx))
                                .or_else(|| pick("Select4", idx))
                        }
                        _ => None,
                    }
                })
            });
            let single = ts.elems.len() == 1;
            for p in &ts.elems {
                walk(p, if single { inner } else { None }, krate, out);
            }
        }
        Pat::Struct(ps) => {
            for f in &ps.fields {
                walk(&f.pat, None, krate, out);
            }
        }
        Pat::Slice(s) => {
            for p in &s.elems {
                walk(p, None, krate, out);
            }
        }
        Pat::Reference(r) => walk(&r.pat, None, krate, out),
        Pat::Or(o) => {
            if let Some(first) = o.cases.first() {
                walk(first, ty, krate, out);
            }
        }
        _ => {}
    }
}
