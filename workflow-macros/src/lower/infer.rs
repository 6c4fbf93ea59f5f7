//! The types of locals that the macro can write without the compiler: a proc macro sees no
//! types, so a variable saved in a state must have one it can read off the syntax. In order:
//! an annotation; a durable await (`ctx.activity(charge, o).await?` is the activity's `Ok` type,
//! written as a projection the compiler resolves); `ctx.now()`, `ctx.random::<T>()`,
//! `ctx.uuid()`; suffixed literals, `true`/`false`; `String::from`, `format!`, `.to_string()`,
//! `Duration::from_secs(..)` and the like, `matches!`;
//! another local whose type is known (`let b = a;`, `a.clone()`); casts, comparisons, and
//! arithmetic on a known type; tuples and struct literals of those.

use proc_macro2::TokenStream;
use syn::{Expr, Lit, Type, parse_quote};

use super::ops::{after_method, op_type};

pub struct Env<'a> {
    pub ctx: &'a syn::Ident,
    pub krate: &'a TokenStream,
    /// Looks up the type of a visible local.
    pub lookup: &'a dyn Fn(&str) -> Option<Option<Type>>,
}

pub fn infer(e: &Expr, env: &Env) -> Option<Type> {
    match e {
        Expr::Await(aw) => op_type(&aw.base, env.ctx, env.krate),
        Expr::Try(t) => Some(super::ops::unwrapped_or_projected(
            &infer(&t.expr, env)?,
            env.krate,
        )),
        Expr::Paren(p) => infer(&p.expr, env),
        Expr::Group(g) => infer(&g.expr, env),
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) if !i.suffix().is_empty() => syn::parse_str(i.suffix()).ok(),
            Lit::Float(f) if !f.suffix().is_empty() => syn::parse_str(f.suffix()).ok(),
            Lit::Bool(_) => Some(parse_quote!(bool)),
            Lit::Char(_) => Some(parse_quote!(char)),
            _ => None,
        },
        Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            (env.lookup)(&p.path.segments[0].ident.to_string()).flatten()
        }
        Expr::Cast(c) => Some((*c.ty).clone()),
        Expr::Macro(m) if m.mac.path.is_ident("format") => {
            Some(parse_quote!(::std::string::String))
        }
        Expr::Macro(m) if m.mac.path.is_ident("matches") => Some(parse_quote!(bool)),
        // `Duration::ZERO`, `Duration::MAX`.
        Expr::Path(p)
            if p.qself.is_none()
                && p.path.segments.len() == 2
                && p.path.segments[0].ident == "Duration"
                && matches!(
                    p.path.segments[1].ident.to_string().as_str(),
                    "ZERO" | "MAX"
                ) =>
        {
            Some(parse_quote!(::core::time::Duration))
        }
        Expr::Call(c) => {
            let Expr::Path(p) = &*c.func else { return None };
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            match segs.as_slice() {
                [
                    ..,
                    "String",
                    "from" | "new" | "with_capacity" | "from_utf8_lossy",
                ] => Some(parse_quote!(::std::string::String)),
                [
                    ..,
                    "Duration",
                    "new" | "from_secs" | "from_millis" | "from_micros" | "from_nanos"
                    | "from_secs_f64" | "from_secs_f32",
                ] => Some(parse_quote!(::core::time::Duration)),
                ["Some"] => {
                    let t = infer(c.args.first()?, env)?;
                    Some(parse_quote!(::core::option::Option<#t>))
                }
                _ => None,
            }
        }
        Expr::MethodCall(m) => {
            let method = m.method.to_string();
            if let Expr::Path(p) = &*m.receiver
                && p.path.is_ident(env.ctx)
            {
                return match method.as_str() {
                    "now" => Some(parse_quote!(::std::time::SystemTime)),
                    "uuid" => Some(parse_quote!(::std::string::String)),
                    "random" => match m.turbofish.as_ref()?.args.first()? {
                        syn::GenericArgument::Type(t) => Some(t.clone()),
                        _ => None,
                    },
                    _ => None,
                };
            }
            if method == "to_string" || method == "to_owned" && matches!(&*m.receiver, Expr::Lit(_))
            {
                return Some(parse_quote!(::std::string::String));
            }
            let recv = infer(&m.receiver, env);
            if let Some(t) = recv.as_ref().and_then(|t| collection_method(t, &method)) {
                return Some(t);
            }
            after_method(recv.as_ref(), &method).or_else(|| {
                let recv = recv.filter(super::ops::is_projected)?;
                match method.as_str() {
                    "unwrap" | "expect" | "unwrap_or" | "unwrap_or_default" | "unwrap_or_else" => {
                        Some(super::ops::unwrapped_or_projected(&recv, env.krate))
                    }
                    _ => None,
                }
            })
        }
        // `v[i]` of a typed sequence or map (a range index is a slice, not known).
        Expr::Index(ix) if !matches!(&*ix.index, Expr::Range(_)) => {
            let t = infer(&ix.expr, env)?;
            if let Some(args) = super::ops::generic_args(&t, "BTreeMap") {
                return args.get(1).map(|v| (*v).clone());
            }
            for seq in ["Vec", "VecDeque"] {
                if let Some(args) = super::ops::generic_args(&t, seq) {
                    return args.first().map(|v| (*v).clone());
                }
            }
            match t {
                Type::Array(a) => Some(*a.elem),
                _ => None,
            }
        }
        // `t.0` of a typed tuple.
        Expr::Field(f) => match (&f.member, infer(&f.base, env)?) {
            (syn::Member::Unnamed(i), Type::Tuple(t)) => {
                t.elems.iter().nth(i.index as usize).cloned()
            }
            _ => None,
        },
        Expr::Unary(u) => match u.op {
            syn::UnOp::Not(_) | syn::UnOp::Neg(_) => infer(&u.expr, env),
            _ => None,
        },
        Expr::Binary(b) => {
            use syn::BinOp::*;
            match b.op {
                Eq(_) | Lt(_) | Le(_) | Ne(_) | Ge(_) | Gt(_) | And(_) | Or(_) => {
                    Some(parse_quote!(bool))
                }
                Add(_) | Sub(_) | Mul(_) | Div(_) | Rem(_) | BitXor(_) | BitAnd(_) | BitOr(_) => {
                    let l = infer(&b.left, env);
                    let r = infer(&b.right, env);
                    // An unsuffixed literal takes the other operand's type.
                    let lit = |e: &Expr| matches!(e, Expr::Lit(l) if matches!(&l.lit, Lit::Int(i) if i.suffix().is_empty()) || matches!(&l.lit, Lit::Float(f) if f.suffix().is_empty()));
                    match (l, r) {
                        // A number with a type of its own (`Duration * n`, `n * Duration`,
                        // `Duration / n`): that type.
                        // (Not a reference: `n + &m` is a number.)
                        (Some(l), Some(r))
                            if is_primitive(&l)
                                && !is_primitive(&r)
                                && !matches!(r, Type::Reference(_)) =>
                        {
                            Some(r)
                        }
                        (Some(l), Some(r))
                            if !is_primitive(&l)
                                && is_primitive(&r)
                                && !matches!(l, Type::Reference(_)) =>
                        {
                            Some(l)
                        }
                        (Some(l), _) if is_primitive(&l) => Some(l),
                        (_, Some(r)) if is_primitive(&r) => Some(r),
                        (Some(l), None) if lit(&b.right) => Some(l),
                        (None, Some(r)) if lit(&b.left) => Some(r),
                        (Some(l), Some(r))
                            if quote::quote!(#l).to_string() == quote::quote!(#r).to_string() =>
                        {
                            Some(l)
                        }
                        _ => None,
                    }
                }
                Shl(_) | Shr(_) => infer(&b.left, env).filter(is_primitive),
                _ => None,
            }
        }
        Expr::Tuple(t) => {
            let tys = t
                .elems
                .iter()
                .map(|e| infer(e, env))
                .collect::<Option<Vec<_>>>()?;
            Some(parse_quote!((#(#tys,)*)))
        }
        // A `match` has the type of its first arm that has one (arm bindings typed from the
        // scrutinee: `match ctx.activity(charge, o).await { Ok(p) => p, Err(e) => .. }`).
        Expr::Match(m) => {
            let scrutinee = infer(&m.expr, env);
            m.arms
                .iter()
                .filter(|a| !super::diverge::expr_diverges(&a.body))
                .find_map(|arm| {
                    let vars =
                        super::pattern::typed_bindings_in(&arm.pat, scrutinee.as_ref(), env.krate);
                    let lookup = |name: &str| match vars.iter().rev().find(|b| b.ident == name) {
                        Some(b) => Some(b.ty.clone()),
                        None => (env.lookup)(name),
                    };
                    infer(
                        &arm.body,
                        &Env {
                            ctx: env.ctx,
                            krate: env.krate,
                            lookup: &lookup,
                        },
                    )
                })
        }
        // An `if` has the type of its first branch that has one (`if let` bindings typed from
        // the scrutinee).
        Expr::If(ei) => {
            let then = match &*ei.cond {
                Expr::Let(l) => {
                    let scrutinee = infer(&l.expr, env);
                    let bound =
                        super::pattern::typed_bindings_in(&l.pat, scrutinee.as_ref(), env.krate)
                            .into_iter()
                            .map(|b| (b.ident.to_string(), b.ty))
                            .collect();
                    block_type(&ei.then_branch, bound, env)
                }
                _ => block_type(&ei.then_branch, Vec::new(), env),
            };
            then.or_else(|| ei.else_branch.as_ref().and_then(|(_, e)| infer(e, env)))
        }
        Expr::Block(b) => block_type(&b.block, Vec::new(), env),
        Expr::Struct(s) if s.qself.is_none() => {
            let path = &s.path;
            let generic = path.segments.iter().any(|seg| !seg.arguments.is_empty());
            if generic || path.segments.last().is_some_and(|l| l.ident == "Self") {
                None
            } else {
                Some(parse_quote!(#path))
            }
        }
        _ => None,
    }
}

/// The type of a block's value: its tail expression's, with the block's own `let`s (and
/// `bound`, the bindings of the construct around it) shadowing the variables outside.
fn block_type(b: &syn::Block, bound: Vec<(String, Option<Type>)>, env: &Env) -> Option<Type> {
    let (tail, lets) = match b.stmts.split_last()? {
        (syn::Stmt::Expr(e, None), lets) => (e, lets),
        _ => return None,
    };
    let mut locals = bound;
    for s in lets {
        if let syn::Stmt::Local(l) = s {
            let init = l
                .init
                .as_ref()
                .and_then(|i| with_locals(&locals, env, |env| infer(&i.expr, env)));
            for b in super::pattern::typed_bindings_in(&l.pat, init.as_ref(), env.krate) {
                locals.push((b.ident.to_string(), b.ty));
            }
        }
    }
    with_locals(&locals, env, |env| infer(tail, env))
}

/// Runs `f` in `env` extended with `locals` (the last binding of a name wins).
fn with_locals<T>(locals: &[(String, Option<Type>)], env: &Env, f: impl FnOnce(&Env) -> T) -> T {
    let lookup = |name: &str| match locals.iter().rev().find(|(n, _)| n == name) {
        Some((_, t)) => Some(t.clone()),
        None => (env.lookup)(name),
    };
    f(&Env {
        ctx: env.ctx,
        krate: env.krate,
        lookup: &lookup,
    })
}

/// The element type of `for x in e` when `e`'s type is known.
pub fn element_type(e: &Expr, env: &Env) -> Option<Type> {
    match e {
        Expr::Range(r) => {
            let from = |b: &Option<Box<Expr>>| b.as_ref().and_then(|x| infer(x, env));
            from(&r.start).or_else(|| from(&r.end))
        }
        Expr::Reference(r) => borrowed_items(&r.expr, r.mutability.is_some(), env),
        Expr::MethodCall(m) => {
            let recv = &m.receiver;
            match m.method.to_string().as_str() {
                "into_iter" | "clone" | "drain" | "rev" | "skip" | "take" | "step_by"
                | "filter" | "skip_while" | "take_while" | "peekable" | "chain" => {
                    element_type(recv, env)
                }
                "iter" => borrowed_items(recv, false, env),
                "iter_mut" => borrowed_items(recv, true, env),
                "keys" | "values" | "values_mut" => {
                    let map = infer(recv, env)?;
                    let args = super::ops::generic_args(&map, "BTreeMap")?;
                    let (k, v) = (args.first()?, args.get(1)?);
                    Some(match m.method.to_string().as_str() {
                        "keys" => reference((*k).clone(), false),
                        "values" => reference((*v).clone(), false),
                        _ => reference((*v).clone(), true),
                    })
                }
                // Pieces of a string are `&str`; of a sequence, `&[T]`.
                "split" | "rsplit" | "splitn" | "rsplitn" | "split_terminator"
                | "split_inclusive" | "chunks" | "chunks_exact" | "rchunks" | "windows" => {
                    let t = infer(recv, env)?;
                    if is_string(&t) {
                        Some(parse_quote!(&str))
                    } else {
                        let elem = collection_element(recv, env)?;
                        Some(parse_quote!(&[#elem]))
                    }
                }
                "split_whitespace" | "split_ascii_whitespace" | "lines" | "matches" => {
                    Some(parse_quote!(&str))
                }
                "chars" => Some(parse_quote!(char)),
                "bytes" => Some(parse_quote!(u8)),
                "char_indices" => Some(parse_quote!((usize, char))),
                "enumerate" => {
                    let t = element_type(recv, env)?;
                    Some(parse_quote!((usize, #t)))
                }
                "zip" => {
                    let a = element_type(recv, env)?;
                    let b = element_type(m.args.first()?, env)?;
                    Some(parse_quote!((#a, #b)))
                }
                "copied" | "cloned" => match element_type(recv, env)? {
                    Type::Reference(r) => Some(*r.elem),
                    _ => None,
                },
                _ => collection_element(e, env),
            }
        }
        Expr::Paren(p) => element_type(&p.expr, env),
        _ => collection_element(e, env),
    }
}

/// `&T` or `&mut T`.
fn reference(t: Type, mutable: bool) -> Type {
    if mutable {
        parse_quote!(&mut #t)
    } else {
        parse_quote!(&#t)
    }
}

/// What iterating by reference over `e` yields: `&T` for a sequence of `T`, `(&K, &V)` for a
/// map.
fn borrowed_items(e: &Expr, mutable: bool, env: &Env) -> Option<Type> {
    let t = infer(e, env)?;
    if let Some(args) = super::ops::generic_args(&t, "BTreeMap")
        && let [k, v] = args.as_slice()
    {
        let v = reference((*v).clone(), mutable);
        return Some(parse_quote!((&#k, #v)));
    }
    Some(reference(collection_element(e, env)?, mutable))
}

/// The element type of a collection whose type is known.
fn collection_element(e: &Expr, env: &Env) -> Option<Type> {
    let t = infer(e, env)?;
    for coll in [
        "Vec",
        "VecDeque",
        "BTreeSet",
        "Option",
        "BinaryHeap",
        "LinkedList",
    ] {
        if let Some(args) = super::ops::generic_args(&t, coll) {
            return args.first().map(|t| (*t).clone());
        }
    }
    if let Some(args) = super::ops::generic_args(&t, "BTreeMap")
        && let [k, v] = args.as_slice()
    {
        return Some(parse_quote!((#k, #v)));
    }
    match t {
        Type::Array(a) => Some((*a.elem).clone()),
        _ => None,
    }
}

/// What a method of a typed collection returns: `queue.pop_front()` is an `Option<T>`,
/// `items.first()` an `Option<&T>`, `items.remove(i)` a `T`.
fn collection_method(t: &Type, method: &str) -> Option<Type> {
    use super::ops::generic_args;
    if let Some(args) = generic_args(t, "BTreeMap")
        && let [k, v] = args.as_slice()
    {
        return match method {
            "pop_first" | "pop_last" => Some(parse_quote!(::core::option::Option<(#k, #v)>)),
            "remove" => Some(parse_quote!(::core::option::Option<#v>)),
            "get" => Some(parse_quote!(::core::option::Option<&#v>)),
            _ => None,
        };
    }
    let elem = ["Vec", "VecDeque", "BTreeSet", "BinaryHeap"]
        .iter()
        .find_map(|c| generic_args(t, c).map(|a| (*c, a)))
        .and_then(|(c, a)| a.first().map(|e| (c, (*e).clone())))
        .or_else(|| match t {
            Type::Array(a) => Some(("array", (*a.elem).clone())),
            _ => None,
        });
    let (coll, e) = elem?;
    match (coll, method) {
        ("Vec" | "VecDeque" | "BinaryHeap", "pop" | "pop_front" | "pop_back")
        | ("BTreeSet", "pop_first" | "pop_last") => Some(parse_quote!(::core::option::Option<#e>)),
        (
            "Vec" | "VecDeque",
            "remove" | "swap_remove" | "swap_remove_back" | "swap_remove_front",
        ) => Some(if coll == "Vec" {
            e
        } else {
            parse_quote!(::core::option::Option<#e>)
        }),
        (_, "first" | "last" | "get" | "front" | "back" | "peek") => {
            Some(parse_quote!(::core::option::Option<&#e>))
        }
        _ => None,
    }
}

fn is_string(t: &Type) -> bool {
    let Type::Path(p) = t else { return false };
    p.path.segments.last().is_some_and(|s| s.ident == "String")
}

fn is_primitive(t: &Type) -> bool {
    let Type::Path(p) = t else { return false };
    p.path.get_ident().is_some_and(|i| {
        matches!(
            i.to_string().as_str(),
            "u8" | "u16"
                | "u32"
                | "u64"
                | "u128"
                | "usize"
                | "i8"
                | "i16"
                | "i32"
                | "i64"
                | "i128"
                | "isize"
                | "f32"
                | "f64"
                | "bool"
        )
    })
}
