//! Emission of the step function's body from the IR: one dispatcher loop whose arms are the
//! points, each arm emitted once.
//!
//! Input (the IR of `let a = ctx.activity(x, 1).await?; if a > 2 { ctx.sleep(d).await; } Ok(a)`):
//! ```text
//! 0 Start:     [] Suspend(0)
//! 1 Resume(0): [let a = <value 0>?;] If(a > 2) { [] Suspend(1) } else { [] Goto(3) }
//! 2 Resume(1): [<value 1>;] Goto(3)
//! 3 Join:      [] Complete(Ok(a))
//! ```
//! Output (abridged):
//! ```text
//! let mut __wf_op0 = None; let mut __wf_op1 = None;   // the awaits' types, inferred
//! let mut __wf_s_a = None;                             // `a` on its way into a join
//! let mut __wf_pc = match replace(state, Poisoned) {
//!     Start {} => 0,
//!     Await1X {} => 1,
//!     Await2Sleep { a } => { __wf_s_a = Some(a); 2 }
//!     ..
//! };
//! '__wf_dispatch: loop { match __wf_pc {
//!     0 => { /* schedule op 0 */ *state = Await1X {}; return Suspended(..) }
//!     1 => { let a = resolve(&__wf_op0, wake)?; if a > 2 { /* suspend at 1, saving a */ }
//!            else { __wf_s_a = Some(a); __wf_pc = 3; continue '__wf_dispatch; } }
//!     2 => { let a = __wf_s_a.take(); resolve(&__wf_op1, wake); __wf_s_a = Some(a); __wf_pc = 3; continue .. }
//!     3 => { let a = __wf_s_a.take(); return Completed(Ok(a)) }
//! } }
//! ```
//! A value carried into a join travels in a function-local `Option` whose type rustc infers
//! (it is never persisted); only what lives across an await goes into the state enum. The
//! user's statements are emitted as written, without `allow`s: only `?`, `return`, and `break`
//! or `continue` out to a lowered loop are rewritten.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::{Expr, Stmt, Type, parse_quote, parse_quote_spanned};

use super::cfg::{Caught, resolve_jump};
use super::ir::*;
use super::liveness::Liveness;

pub struct Emitter<'a> {
    pub prog: &'a Program,
    pub live: &'a Liveness,
    pub krate: &'a TokenStream,
    pub state: &'a syn::Ident,
    pub variants: &'a [syn::Ident],
    pub output: &'a Type,
    pub ctx: &'a syn::Ident,
}

pub fn mixed(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// `__wf_<kind>_<name>_<n>` for the user's `<name>` (variable `n`), `__wf_<kind>t_<own>_<n>`
/// for the macro's own `__wf_<own>`: the two never meet. Located at the variable, so that an
/// error about saving or restoring it points there.
pub fn derived(v: &Var, id: VarId, kind: &str) -> syn::Ident {
    let name = v.plain_name();
    let text = match name.strip_prefix("__wf_") {
        Some(own) => format!("__wf_{kind}t_{own}_{}", id.0),
        None => format!("__wf_{kind}_{name}_{}", id.0),
    };
    syn::Ident::new(&text, Span::mixed_site().located_at(v.ident.span()))
}

pub fn op_witness(k: usize) -> syn::Ident {
    syn::Ident::new(&format!("__wf_op{k}"), Span::mixed_site())
}

fn value_slot(p: PointId) -> syn::Ident {
    syn::Ident::new(&format!("__wf_j{}", p.0), Span::mixed_site())
}

fn pc_lit(p: PointId) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_suffixed(p.0)
}

/// A binding as written: its name and where.
type Site = (String, usize, usize);

fn site(ident: &syn::Ident) -> Site {
    let at = ident.span().start();
    (ident.to_string(), at.line, at.column)
}

impl Emitter<'_> {
    /// The variables that cross from one point into another (restored or declared somewhere),
    /// by where they are bound.
    fn crossing(&self) -> std::collections::HashSet<Site> {
        self.live
            .restore
            .iter()
            .chain(&self.live.declare)
            .flatten()
            .map(|v| site(&self.prog.var(*v).ident))
            .collect()
    }

    /// For the user's `mut` bindings in `pat` that cross into another point: a mutable use, so
    /// that a `mut` needed only after an await does not warn where it is declared.
    fn touches(&self, pat: &syn::Pat, crossing: &std::collections::HashSet<Site>) -> TokenStream {
        let idents = super::pattern::bindings(pat)
            .into_iter()
            .filter(|b| {
                b.mutable
                    && crossing.contains(&site(&b.ident))
                    && !b.ident.to_string().starts_with("__wf_")
            })
            .map(|b| b.ident);
        quote!(#(let _ = &mut #idents;)*)
    }

    /// The body of the step function.
    pub fn body(&self) -> TokenStream {
        let krate = self.krate;
        let state = self.state;
        let wf_state = mixed("__wf_state");
        let wf_ctx = mixed("__wf_ctx");
        let pc = mixed("__wf_pc");
        let dispatch = syn::Lifetime {
            apostrophe: Span::mixed_site(),
            ident: mixed("__wf_dispatch"),
        };
        let ctx = self.ctx;

        let op_witnesses = (0..self.prog.awaits.len()).map(op_witness);
        // Slots for the variables a join or a loop's head restores (the start and the resume
        // points take theirs from the state).
        let mut restored: Vec<VarId> = self
            .prog
            .order
            .iter()
            .filter(|p| !self.entered_from_state(**p))
            .flat_map(|p| self.live.restore[p.0].iter().copied())
            .collect();
        restored.sort();
        restored.dedup();
        let slots = restored.iter().map(|v| derived(self.prog.var(*v), *v, "s"));
        let mut encoded: Vec<VarId> = (0..self.prog.awaits.len())
            .flat_map(|k| self.live.saved(self.prog, k).iter().copied())
            .filter(|v| self.prog.var(*v).ty.is_none())
            .collect();
        encoded.sort();
        encoded.dedup();
        let witnesses = encoded.iter().map(|v| derived(self.prog.var(*v), *v, "w"));
        // Probing: each variable saved without a written type, with the state that saves it,
        // reported through its witness (whose type rustc infers from the rest of the body).
        let probes = (0..self.prog.awaits.len()).flat_map(|k| {
            let index = (k + 1) as u32;
            self.live
                .saved(self.prog, k)
                .iter()
                .filter(|v| self.prog.var(**v).ty.is_none())
                .map(move |v| {
                    let var = self.prog.var(*v);
                    let w = derived(var, *v, "w");
                    let key = var.plain_name();
                    quote!(__wf_probe.field(&#w, #index, #key);)
                })
        });
        let wf_call = mixed("__wf_call");
        let value_slots = self
            .prog
            .order
            .iter()
            .filter(|p| self.prog.point(**p).binds.is_some())
            .map(|p| value_slot(*p));

        // Entry: the point the state resumes at; the point takes the state's fields itself.
        let resumed = mixed("__wf_resumed");
        let mut entries = vec![{
            let lit = pc_lit(self.prog.order[0]);
            quote!(#state::Start { .. } => #lit,)
        }];
        for (k, variant) in self.variants.iter().enumerate() {
            let lit = pc_lit(self.prog.resume_point(k));
            entries.push(quote!(#state::#variant { .. } => #lit,));
        }

        let crossing = self.crossing();
        let arms = self.prog.order.iter().map(|p| {
            let lit = pc_lit(*p);
            let code = self.point(*p, &crossing);
            quote!(#lit => { #code })
        });

        quote! {
            #(let mut #op_witnesses = ::core::option::Option::None;)*
            #(let mut #witnesses = ::core::option::Option::None;)*
            #(let mut #slots = ::core::option::Option::None;)*
            #(let mut #value_slots = ::core::option::Option::None;)*
            let #wf_ctx: &#krate::WorkflowCtx = match #wf_call {
                ::core::result::Result::Ok(__wf_c) => __wf_c,
                ::core::result::Result::Err(__wf_probe) => {
                    #(#probes)*
                    return #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::new()));
                }
            };
            // The context under the name the body uses; a body may not use it at all.
            #[allow(unused_variables)]
            let #ctx: &#krate::WorkflowCtx = #wf_ctx;
            let #resumed = ::core::mem::replace(#wf_state, #state::Poisoned);
            let mut #pc: usize = match &#resumed {
                #(#entries)*
                #state::Returned => return #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::from("Returned"))),
                #state::Poisoned => return #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::from("Poisoned"))),
            };
            let mut #resumed = ::core::option::Option::Some(#resumed);
            // A workflow without joins or loops never jumps: the label is then unused.
            #[allow(unused_labels)]
            #dispatch: loop {
                match #pc {
                    #(#arms)*
                    _ => return #krate::__private::Step::Failed(#krate::__private::ResumeError::NotResumable(::std::string::String::from("no such point"))),
                }
            }
        }
    }

    /// Whether point `p` is entered from the state (the start, or after an await) rather than
    /// by a jump.
    fn entered_from_state(&self, p: PointId) -> bool {
        matches!(
            self.prog.point(p).kind,
            PointKind::Start | PointKind::Resume(_)
        )
    }

    /// The variables of the state's variant for point `p`, bound as the user's variables.
    fn take_state(&self, p: PointId) -> TokenStream {
        let krate = self.krate;
        let state = self.state;
        let resumed = mixed("__wf_resumed");
        let point = self.prog.point(p);
        let (variant, fields): (syn::Ident, Vec<VarId>) = match point.kind {
            PointKind::Resume(k) => (
                self.variants[k].clone(),
                self.live.saved(self.prog, k).to_vec(),
            ),
            _ => (format_ident!("Start"), point.scope.clone()),
        };
        let live = &self.live.restore[p.0];
        let mut decodes = Vec::new();
        let pats = fields.iter().map(|v| {
            let var = self.prog.var(*v);
            let f = field_ident(var);
            let ident = &var.ident;
            if !live.contains(v) {
                return quote!(#f: _);
            }
            let m = var.mutable.then(|| quote!(mut));
            if var.ty.is_some() {
                return quote!(#f: #m #ident);
            }
            let l = derived(var, *v, "f");
            let w = derived(var, *v, "w");
            let what = format!("variable `{}`", var.display_name());
            let at = Span::mixed_site().located_at(var.ident.span());
            decodes.push(quote::quote_spanned! {at=>
                #[allow(unused_mut)]
                let #m #ident = match #krate::__private::decode(&#w, &#l, #what) {
                    ::core::result::Result::Ok(__wf_x) => __wf_x,
                    ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
                };
            });
            quote!(#f: #l)
        });
        quote! {
            // The user's `mut`: this copy of the binding may not be the one that changes.
            #[allow(unused_mut)]
            let ::core::option::Option::Some(#state::#variant { #(#pats),* }) = #resumed.take() else {
                return #krate::__private::Step::Failed(#krate::__private::restored_twice("the state"));
            };
            #(#decodes)*
        }
    }

    fn point(&self, p: PointId, crossing: &std::collections::HashSet<Site>) -> TokenStream {
        let krate = self.krate;
        let point = self.prog.point(p);
        let mut head = Vec::new();
        if self.entered_from_state(p) {
            head.push(self.take_state(p));
        }
        let from_slots: &[VarId] = if self.entered_from_state(p) {
            &[]
        } else {
            &self.live.restore[p.0]
        };
        for v in from_slots {
            let var = self.prog.var(*v);
            let ident = &var.ident;
            let s = derived(var, *v, "s");
            let what = format!("variable `{}`", var.display_name());
            let failed = quote! {
                return #krate::__private::Step::Failed(#krate::__private::restored_twice(#what))
            };
            head.push(if var.mutable {
                // The user's `mut`: this copy of the binding may not be the one that changes.
                quote!(#[allow(unused_mut)] let ::core::option::Option::Some(mut #ident) = #s.take() else { #failed };)
            } else {
                quote!(let ::core::option::Option::Some(#ident) = #s.take() else { #failed };)
            });
        }
        for v in &self.live.declare[p.0] {
            let var = self.prog.var(*v);
            let ident = &var.ident;
            let m = var.mutable.then(|| quote!(mut));
            let ty = var.ty.as_ref().map(|t| quote!(: #t));
            // Assigned later in this point, or on none of its paths.
            head.push(quote!(#[allow(unused_mut, unused_variables, clippy::needless_late_init)] let #m #ident #ty;));
        }
        if let Some(pat) = &point.binds {
            let slot = value_slot(p);
            let touches = self.touches(pat, crossing);
            head.push(quote! {
                let #pat = match #slot.take() {
                    ::core::option::Option::Some(__wf_x) => __wf_x,
                    ::core::option::Option::None => return #krate::__private::Step::Failed(#krate::__private::restored_twice("the value of a block")),
                };
                #touches
            });
        }
        let body = self.region_in(&point.region, crossing);
        if point.in_unsafe {
            quote!(#(#head)* #[allow(unused_unsafe)] unsafe { #body })
        } else {
            quote!(#(#head)* #body)
        }
    }

    fn region_in(&self, r: &Region, crossing: &std::collections::HashSet<Site>) -> TokenStream {
        let mut rw = Rewrite {
            em: self,
            frames: &r.frames,
            caught: Caught::default(),
        };
        let mut stmts: Vec<TokenStream> = Vec::with_capacity(r.stmts.len());
        for s in &r.stmts {
            let mut s = s.clone();
            rw.visit_stmt_mut(&mut s);
            if let Stmt::Local(l) = &mut s {
                let crosses = super::pattern::bindings(&l.pat)
                    .iter()
                    .any(|b| crossing.contains(&site(&b.ident)));
                if crosses && l.init.is_none() {
                    // Initialized in another point: here the declaration alone.
                    l.attrs.push(parse_quote!(#[allow(unused_variables)]));
                }
                let touches = self.touches(&l.pat, crossing);
                stmts.push(quote!(#s #touches));
            } else {
                stmts.push(quote!(#s));
            }
        }
        let term = match &r.term {
            Term::Suspend(k) => self.suspend(*k, &mut rw),
            Term::Goto { to, value } => {
                let value = value.clone().map(|mut v| {
                    rw.visit_expr_mut(&mut v);
                    v
                });
                self.goto(*to, value)
            }
            Term::Complete(v) => {
                let mut v = v.clone();
                rw.visit_expr_mut(&mut v);
                let krate = self.krate;
                let output = self.output;
                let out = mixed("__wf_out");
                // Typed where the output's type is written: a mismatch is reported as the user's.
                quote!(let #out: #output = #v; return #krate::__private::Step::Completed(#out);)
            }
            Term::Diverges => quote!(),
            Term::If {
                attrs,
                cond,
                then,
                els,
            } => {
                let mut cond = cond.clone();
                rw.visit_expr_mut(&mut cond);
                let then = self.region_in(then, crossing);
                let els = self.region_in(els, crossing);
                let touches = cond_pats(&cond)
                    .into_iter()
                    .map(|p| self.touches(p, crossing))
                    .collect::<Vec<_>>();
                quote!(#(#attrs)* if #cond { #(#touches)* #then } else { #els })
            }
            Term::Match {
                attrs,
                scrutinee,
                arms,
            } => {
                let mut scrutinee = scrutinee.clone();
                rw.visit_expr_mut(&mut scrutinee);
                let arms = arms.iter().map(|a| {
                    let attrs = &a.attrs;
                    let pat = &a.pat;
                    let guard = a.guard.clone().map(|mut g| {
                        rw.visit_expr_mut(&mut g);
                        quote!(if #g)
                    });
                    let body = self.region_in(&a.body, crossing);
                    let touches = self.touches(pat, crossing);
                    quote!(#(#attrs)* #pat #guard => { #touches #body })
                });
                quote!(#(#attrs)* match #scrutinee { #(#arms)* })
            }
            Term::Block { body, unsafe_ } => {
                let body = self.region_in(body, crossing);
                if *unsafe_ {
                    quote!(unsafe { #body })
                } else {
                    quote!({ #body })
                }
            }
        };
        quote!(#(#stmts)* #term)
    }

    /// Jumps to point `to`, carrying `value` and what is live there.
    fn goto(&self, to: PointId, value: Option<Expr>) -> TokenStream {
        let pc = mixed("__wf_pc");
        let dispatch = syn::Lifetime {
            apostrophe: Span::mixed_site(),
            ident: mixed("__wf_dispatch"),
        };
        let set_value = value.map(|v| {
            let slot = value_slot(to);
            quote!(#slot = ::core::option::Option::Some(#v);)
        });
        let saves = self.live.restore[to.0].iter().map(|v| {
            let var = self.prog.var(*v);
            let ident = &var.ident;
            let s = derived(var, *v, "s");
            quote!(#s = ::core::option::Option::Some(#ident);)
        });
        let lit = pc_lit(to);
        // Generated after the user's code: unreachable when that code diverges on every path
        // the lowering could not see.
        quote!(#[allow(unreachable_code)] { #set_value #(#saves)* #pc = #lit; continue #dispatch; })
    }

    fn suspend(&self, k: usize, rw: &mut Rewrite<'_>) -> TokenStream {
        let krate = self.krate;
        let state = self.state;
        let variant = &self.variants[k];
        let w = op_witness(k);
        let op_var = mixed("__wf_op");
        let pending = mixed("__wf_pending");
        let wf_ctx = mixed("__wf_ctx");
        let wf_state = mixed("__wf_state");
        let mut op = self.prog.awaits[k].op.clone();
        rw.visit_expr_mut(&mut op);
        super::ops::unborrow_ctx(&mut op);
        let mut before = Vec::new();
        let fields = self
            .live
            .saved(self.prog, k)
            .iter()
            .map(|v| {
                let var = self.prog.var(*v);
                let f = field_ident(var);
                let ident = &var.ident;
                match &var.ty {
                    Some(_) => quote!(#f: #ident),
                    None => {
                        let wv = derived(var, *v, "w");
                        let l = derived(var, *v, "f");
                        let what = format!("variable `{}`", var.display_name());
                        before.push(quote! {
                            #wv = ::core::option::Option::Some(#krate::__private::phantom_of(&#ident));
                            let #l = match #krate::__private::encode(&#ident, #what) {
                                ::core::result::Result::Ok(__wf_x) => __wf_x,
                                ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
                            };
                        });
                        quote!(#f: #l)
                    }
                }
            })
            .collect::<Vec<_>>();
        quote!(#[allow(unreachable_code)] {
            let #op_var = #op;
            #w = ::core::option::Option::Some(#krate::__private::phantom_of(&#op_var));
            let #pending = match #krate::__private::schedule(#op_var, #wf_ctx) {
                ::core::result::Result::Ok(__wf_x) => __wf_x,
                ::core::result::Result::Err(__wf_e) => return #krate::__private::Step::Failed(__wf_e),
            };
            #(#before)*
            *#wf_state = #state::#variant { #(#fields),* };
            return #krate::__private::Step::Suspended(#pending);
        })
    }
}

/// The patterns of an `if` condition's `let`s.
fn cond_pats(cond: &Expr) -> Vec<&syn::Pat> {
    match cond {
        Expr::Let(l) => vec![&*l.pat],
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
            let mut v = cond_pats(&b.left);
            v.extend(cond_pats(&b.right));
            v
        }
        Expr::Paren(p) => cond_pats(&p.expr),
        _ => Vec::new(),
    }
}

pub fn field_ident(v: &Var) -> syn::Ident {
    format_ident!("{}", v.name())
}

/// Rewrites the user's code for the step function: `?` and `return` complete the workflow,
/// `break` and `continue` out to a lowered loop or block jump to their point.
struct Rewrite<'a> {
    em: &'a Emitter<'a>,
    frames: &'a [FrameId],
    /// Loops and labeled blocks of the user's code around the code being rewritten.
    caught: Caught,
}

impl Rewrite<'_> {
    fn complete(&self, e: TokenStream) -> Expr {
        let krate = self.em.krate;
        parse_quote!(return #krate::__private::Step::Completed(#e))
    }

    fn inside(&mut self, label: Option<&syn::Label>, is_loop: bool, f: impl FnOnce(&mut Self)) {
        Caught::inside(self, |r| &mut r.caught, label, is_loop, f);
    }

    /// The target of a jump out of the region, if it leaves to a lowered frame.
    fn target(&self, label: Option<&syn::Lifetime>, cont: bool) -> Option<End> {
        if self.caught.catches(label) {
            return None;
        }
        let label = label.map(|l| l.ident.to_string());
        resolve_jump(&self.em.prog.frames, self.frames, label.as_deref(), cont)
    }

    fn jump(&self, end: End, value: Option<Expr>) -> Expr {
        let tokens = match end {
            End::Complete => {
                let v = value.map(|v| quote!(#v)).unwrap_or(quote!(()));
                let e = self.complete(v);
                quote!(#e)
            }
            End::Goto { to, value: true } => {
                let v = value.unwrap_or_else(|| parse_quote!(()));
                self.em.goto(to, Some(v))
            }
            End::Goto { to, value: false } => {
                let goto = self.em.goto(to, None);
                match value {
                    Some(v) => quote!({ let _ = #v; #goto }),
                    None => goto,
                }
            }
        };
        parse_quote!({ #tokens })
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Try(t) => {
                self.visit_expr_mut(&mut t.expr);
                let inner = &t.expr;
                let krate = self.em.krate;
                let output = self.em.output;
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
            Expr::Break(b) => {
                if let Some(x) = &mut b.expr {
                    self.visit_expr_mut(x);
                }
                if let Some(end) = self.target(b.label.as_ref(), false) {
                    *e = self.jump(end, b.expr.as_deref().cloned());
                }
                return;
            }
            Expr::Continue(c) => {
                if let Some(end) = self.target(c.label.as_ref(), true) {
                    *e = self.jump(end, None);
                }
                return;
            }
            Expr::Loop(l) => {
                let label = l.label.clone();
                self.inside(label.as_ref(), true, |s| s.visit_block_mut(&mut l.body));
                return;
            }
            Expr::While(w) => {
                let label = w.label.clone();
                self.inside(label.as_ref(), true, |s| {
                    s.visit_expr_mut(&mut w.cond);
                    s.visit_block_mut(&mut w.body);
                });
                return;
            }
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                let label = f.label.clone();
                self.inside(label.as_ref(), true, |s| s.visit_block_mut(&mut f.body));
                return;
            }
            Expr::Block(b) if b.label.is_some() => {
                let label = b.label.clone();
                self.inside(label.as_ref(), false, |s| s.visit_block_mut(&mut b.block));
                return;
            }
            _ => {}
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }

    /// `?` and `return` inside macro arguments (`format!("{}", a?)`) complete the workflow
    /// too: arguments that parse as expressions are rewritten.
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
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

    crate::visit::skip_nested_mut!();
}

/// A `return` the lowering wrote itself (`return ::workflow_rt::__private::Step::..`), which is
/// not a completion of the workflow.
pub fn is_generated_return(r: &syn::ExprReturn) -> bool {
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
