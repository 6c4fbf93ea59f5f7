//! `#[nondeterministic(reason = "...")]`: the escape hatch from the determinism checks.
//!
//! The attribute is written on a statement, an expression or a `match` arm of the workflow body.
//! It is not a real attribute (rustc would reject it), so the macro removes every one of them
//! before the body is lowered, and remembers which nodes they covered so that the checks skip
//! them.
//!
//! Nodes are remembered by their position in a pre-order walk of the body (see [`NodeIds`]),
//! not by span: `proc_macro::Span` has no stable equality, and two statements with the same text
//! (one allowed, one not) must not be confused.

use proc_macro2::{TokenStream, TokenTree};
use syn::visit_mut::VisitMut;
use syn::{Attribute, Expr, Item, Meta, Stmt};

use super::EscapeHatches;
use crate::ctxt::Ctxt;

/// The attribute's name, as the user writes it.
pub(super) const HATCH: &str = "nondeterministic";

/// Numbers the nodes an escape hatch can cover (statements, expressions and `match` arms) in
/// the order `syn::visit` and `syn::visit_mut` reach them. Both walks are generated from the
/// same description of the syntax tree, so a node gets the same number in the stripping walk
/// (`visit_mut`) and in the checking walk (`visit`), as long as the block is not changed in
/// between.
#[derive(Default)]
pub(super) struct NodeIds {
    next: usize,
}

impl NodeIds {
    pub(super) fn next(&mut self) -> usize {
        let id = self.next;
        self.next += 1;
        id
    }
}

/// Whether `attr` is an escape hatch (whatever its arguments).
pub(super) fn is_hatch(attr: &Attribute) -> bool {
    attr.path().is_ident(HATCH)
}

pub(super) fn strip(cx: &Ctxt, block: &mut syn::Block) -> EscapeHatches {
    let mut stripper = Stripper {
        cx,
        ids: NodeIds::default(),
        covered: Vec::new(),
    };
    stripper.visit_block_mut(block);
    EscapeHatches {
        covered: stripper.covered,
    }
}

struct Stripper<'a> {
    cx: &'a Ctxt,
    ids: NodeIds,
    covered: Vec<usize>,
}

impl Stripper<'_> {
    /// Removes the escape hatches from `attrs`; if there was one, node `id` is covered.
    fn take(&mut self, id: usize, attrs: &mut Vec<Attribute>) {
        let before = attrs.len();
        attrs.retain(|attr| {
            if !is_hatch(attr) {
                return true;
            }
            if let Err(e) = validate(attr) {
                self.cx.push(e);
            }
            false
        });
        // A hatch without a valid reason still covers its node: the compile fails on the
        // missing reason alone, not on a cascade of the errors the hatch was meant to allow.
        if attrs.len() != before {
            self.covered.push(id);
        }
    }

    /// rustc hands a macro's arguments to the macro, so a hatch written inside `vec![..]` or
    /// `format!(..)` is never seen as an attribute: say where it belongs instead of letting it
    /// fail inside the macro's expansion.
    fn reject_in_tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    if let Some(TokenTree::Group(g)) = trees.get(i + 1)
                        && let Some(TokenTree::Ident(name)) = g.stream().into_iter().next()
                        && name == HATCH
                    {
                        self.cx.spanned(
                            quote::quote!(#p #g),
                            "`#[nondeterministic]` cannot be used inside a macro invocation: the macro \
                             receives it as tokens; put it on the whole statement that contains the \
                             invocation",
                        );
                    }
                }
                TokenTree::Group(g) => self.reject_in_tokens(g.stream()),
                _ => {}
            }
        }
    }
}

/// `#[nondeterministic(reason = "a non-empty explanation")]`, nothing else.
fn validate(attr: &Attribute) -> syn::Result<()> {
    const SHAPE: &str =
        "#[nondeterministic(reason = \"why running this again after a crash is safe\")]";
    let list = match &attr.meta {
        Meta::List(list) => list,
        _ => {
            return Err(syn::Error::new_spanned(
                attr,
                format!(
                    "`#[nondeterministic]` needs a reason: it allows code that can behave differently \
                     when a step runs again after a crash, so say why that is safe here: `{SHAPE}`"
                ),
            ));
        }
    };
    let mut reason: Option<syn::LitStr> = None;
    list.parse_nested_meta(|meta| {
        if meta.path.is_ident("reason") {
            let value: syn::LitStr = meta.value()?.parse()?;
            if reason.is_some() {
                return Err(meta.error("`reason` is given twice: keep one"));
            }
            reason = Some(value);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown argument of `#[nondeterministic]`: expected `{SHAPE}`"
            )))
        }
    })?;
    match reason {
        None => Err(syn::Error::new_spanned(
            attr,
            format!("`#[nondeterministic]` needs a reason: `{SHAPE}`"),
        )),
        Some(r) if r.value().trim().is_empty() => Err(syn::Error::new_spanned(
            &r,
            "the reason of `#[nondeterministic]` is empty: say why running this again after a crash \
             is safe (it is the only record of why this code escapes the determinism checks)",
        )),
        Some(_) => Ok(()),
    }
}

impl VisitMut for Stripper<'_> {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        let id = self.ids.next();
        match stmt {
            Stmt::Local(local) => self.take(id, &mut local.attrs),
            Stmt::Macro(mac) => self.take(id, &mut mac.attrs),
            Stmt::Item(item) => {
                if let Some(attrs) = item_attrs(item) {
                    self.take(id, attrs);
                }
            }
            // `#[a] expr;`: syn puts the attribute on the expression, handled there.
            Stmt::Expr(..) => {}
        }
        syn::visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let id = self.ids.next();
        if let Some(attrs) = expr_attrs(expr) {
            self.take(id, attrs);
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        let id = self.ids.next();
        self.take(id, &mut arm.attrs);
        syn::visit_mut::visit_arm_mut(self, arm);
    }

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        self.reject_in_tokens(mac.tokens.clone());
        syn::visit_mut::visit_macro_mut(self, mac);
    }
}

/// The attributes of an expression (every kind has them but a verbatim one).
pub(super) fn expr_attrs(expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
    Some(match expr {
        Expr::Array(e) => &mut e.attrs,
        Expr::Assign(e) => &mut e.attrs,
        Expr::Async(e) => &mut e.attrs,
        Expr::Await(e) => &mut e.attrs,
        Expr::Binary(e) => &mut e.attrs,
        Expr::Block(e) => &mut e.attrs,
        Expr::Break(e) => &mut e.attrs,
        Expr::Call(e) => &mut e.attrs,
        Expr::Cast(e) => &mut e.attrs,
        Expr::Closure(e) => &mut e.attrs,
        Expr::Const(e) => &mut e.attrs,
        Expr::Continue(e) => &mut e.attrs,
        Expr::Field(e) => &mut e.attrs,
        Expr::ForLoop(e) => &mut e.attrs,
        Expr::Group(e) => &mut e.attrs,
        Expr::If(e) => &mut e.attrs,
        Expr::Index(e) => &mut e.attrs,
        Expr::Infer(e) => &mut e.attrs,
        Expr::Let(e) => &mut e.attrs,
        Expr::Lit(e) => &mut e.attrs,
        Expr::Loop(e) => &mut e.attrs,
        Expr::Macro(e) => &mut e.attrs,
        Expr::Match(e) => &mut e.attrs,
        Expr::MethodCall(e) => &mut e.attrs,
        Expr::Paren(e) => &mut e.attrs,
        Expr::Path(e) => &mut e.attrs,
        Expr::Range(e) => &mut e.attrs,
        Expr::RawAddr(e) => &mut e.attrs,
        Expr::Reference(e) => &mut e.attrs,
        Expr::Repeat(e) => &mut e.attrs,
        Expr::Return(e) => &mut e.attrs,
        Expr::Struct(e) => &mut e.attrs,
        Expr::Try(e) => &mut e.attrs,
        Expr::TryBlock(e) => &mut e.attrs,
        Expr::Tuple(e) => &mut e.attrs,
        Expr::Unary(e) => &mut e.attrs,
        Expr::Unsafe(e) => &mut e.attrs,
        Expr::While(e) => &mut e.attrs,
        Expr::Yield(e) => &mut e.attrs,
        _ => return None,
    })
}

/// The attributes of an item written as a statement of the body.
fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::ExternCrate(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::ForeignMod(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Macro(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::TraitAlias(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}
