//! Arguments of `#[workflow(...)]` and `#[activity(...)]`:
//! `name = "..."` (the stable stored name; default: the function's name) and
//! `crate = "..."` (the path of `workflow_rt` when it is renamed); for `#[workflow]` only,
//! `state = "..."` (the name of the state enum; default: the function's name in camel case
//! followed by `State`, which may already be taken by a type of the user's).
//!
//! Parsed with `syn::meta::parser`. A key given twice is an error at its second occurrence; an
//! unknown key, or a malformed list, stops the parse (nothing after it can be trusted), and the
//! arguments read so far are kept so that the item is still expanded.

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;

use crate::ctxt::Ctxt;

/// Which attribute the arguments belong to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Workflow,
    Activity,
}

#[derive(Default)]
pub struct Args {
    pub name: Option<String>,
    pub krate: Option<syn::Path>,
    pub state: Option<syn::Ident>,
}

impl Args {
    pub fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(p) => quote!(#p),
            None => quote!(::workflow_rt),
        }
    }

    /// Reads the arguments, reporting what is wrong with them into `cx`.
    pub fn parse(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> Args {
        let mut args = Args::default();
        // Keys already given, to reject a second occurrence.
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let key = match meta.path.get_ident() {
                Some(k) if matches!(k.to_string().as_str(), "name" | "crate" | "state") => {
                    k.to_string()
                }
                _ => return Err(unknown(&meta, kind)),
            };
            let value: LitStr = meta.value()?.parse()?;
            if seen.contains(&key) {
                cx.spanned(&meta.path, format!("`{key}` is given twice"));
                return Ok(());
            }
            seen.push(key.clone());
            match key.as_str() {
                "name" => args.name = Some(value.value()),
                "crate" => match value.parse() {
                    Ok(p) => args.krate = Some(p),
                    Err(e) => cx.push(e),
                },
                _ if kind == Kind::Activity => cx.error(
                    value.span(),
                    "`state` names a workflow's state enum; an activity has none",
                ),
                _ => match value.parse() {
                    Ok(state) => args.state = Some(state),
                    Err(_) => cx.error(
                        value.span(),
                        "the state enum's name must be an identifier: `state = \"CheckoutMachine\"`",
                    ),
                },
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            cx.push(e);
        }
        args
    }
}

fn unknown(meta: &ParseNestedMeta, kind: Kind) -> syn::Error {
    let path = &meta.path;
    let key = quote!(#path).to_string().replace(' ', "");
    let expected = match kind {
        Kind::Workflow => "`name = \"...\"`, `state = \"...\"` or `crate = \"...\"`",
        Kind::Activity => "`name = \"...\"` or `crate = \"...\"`",
    };
    meta.error(format_args!(
        "unknown argument `{key}`: expected {expected}"
    ))
}

#[cfg(test)]
mod tests {
    use super::{Args, Kind};
    use crate::ctxt::Ctxt;
    use quote::quote;

    fn errors(kind: Kind, tokens: proc_macro2::TokenStream) -> Vec<String> {
        let cx = Ctxt::new();
        let _ = Args::parse(&cx, kind, tokens);
        cx.check()
            .err()
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn reads_every_key() {
        let cx = Ctxt::new();
        let args = Args::parse(
            &cx,
            Kind::Workflow,
            quote!(name = "checkout-v2", crate = "wf::rt", state = "Machine"),
        );
        cx.check().unwrap();
        assert_eq!(args.name.as_deref(), Some("checkout-v2"));
        assert_eq!(args.krate().to_string(), "wf :: rt");
        assert_eq!(args.state.unwrap().to_string(), "Machine");
    }

    #[test]
    fn a_duplicate_key_is_reported_and_parsing_goes_on() {
        assert_eq!(
            errors(
                Kind::Workflow,
                quote!(name = "a", name = "b", state = "not an ident")
            ),
            [
                "`name` is given twice",
                "the state enum's name must be an identifier: `state = \"CheckoutMachine\"`",
            ]
        );
    }

    #[test]
    fn an_unknown_key_names_the_keys_of_its_attribute() {
        assert_eq!(
            errors(Kind::Activity, quote!(version = "2")),
            ["unknown argument `version`: expected `name = \"...\"` or `crate = \"...\"`"]
        );
        assert_eq!(
            errors(Kind::Activity, quote!(state = "S")),
            ["`state` names a workflow's state enum; an activity has none"]
        );
    }
}
