//! Arguments of `#[workflow(...)]` and `#[activity(...)]`:
//! `name = "..."` (the stable stored name; default: the function's name) and
//! `crate = "..."` (the path of `workflow_rt` when it is renamed); for `#[workflow]` only,
//! `state = "..."` (the name of the state enum; default: the function's name in camel case
//! followed by `State`, which may already be taken by a type of the user's) and `version = N`
//! (which version of the workflow this code is: an integer literal from 1 to `u32::MAX`;
//! default 1).
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
    pub version: Option<u32>,
}

impl Args {
    pub fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(p) => quote!(#p),
            None => quote!(::workflow_rt),
        }
    }

    /// The version, 1 when not given.
    pub fn version(&self) -> u32 {
        self.version.unwrap_or(1)
    }

    /// Reads the arguments, reporting what is wrong with them into `cx`.
    pub fn parse(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> Args {
        let mut args = Args::default();
        // Keys already given, to reject a second occurrence.
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let key = match meta.path.get_ident() {
                Some(k)
                    if matches!(k.to_string().as_str(), "name" | "crate" | "state")
                        || (k == "version" && kind == Kind::Workflow) =>
                {
                    k.to_string()
                }
                _ => return Err(unknown(&meta, kind)),
            };
            if key == "version" {
                // Any expression, so that a string, a float or a negative number gets the
                // message below rather than syn's "expected integer literal".
                let value: syn::Expr = meta.value()?.parse()?;
                if seen.contains(&key) {
                    cx.spanned(&meta.path, format!("`{key}` is given twice"));
                    return Ok(());
                }
                seen.push(key);
                match version(&value) {
                    Ok(v) => args.version = Some(v),
                    Err(e) => cx.push(e),
                }
                return Ok(());
            }
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

/// The value of `version = N`: an integer literal (unsuffixed, or suffixed `u32`) from 1 to
/// `u32::MAX`; the error points at the value.
fn version(value: &syn::Expr) -> syn::Result<u32> {
    const RANGE: &str = "from 1 to 4294967295 (`u32::MAX`)";
    let lit = match value {
        syn::Expr::Lit(syn::ExprLit { lit, .. }) => lit,
        syn::Expr::Group(g) => return version(&g.expr),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => {
            return Err(syn::Error::new_spanned(
                value,
                format!("the version must be a whole number {RANGE}: `version = 2`"),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                "the version must be an integer literal: `version = 2`",
            ));
        }
    };
    let int = match lit {
        syn::Lit::Int(int) => int,
        syn::Lit::Str(s) => {
            let example = match s.value().trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => 2,
            };
            return Err(syn::Error::new_spanned(
                lit,
                format!(
                    "the version must be an integer literal, not a string: `version = {example}`"
                ),
            ));
        }
        syn::Lit::Float(_) => {
            return Err(syn::Error::new_spanned(
                lit,
                format!("the version must be a whole number {RANGE}: `version = 2`"),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                lit,
                "the version must be an integer literal: `version = 2`",
            ));
        }
    };
    if !matches!(int.suffix(), "" | "u32") {
        return Err(syn::Error::new_spanned(
            int,
            format!(
                "the version is a `u32`: write `version = {}`",
                int.base10_digits()
            ),
        ));
    }
    match int.base10_parse::<u32>() {
        Ok(0) => Err(syn::Error::new_spanned(
            int,
            "versions start at 1: the first version of a workflow is `version = 1` (the default)",
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(syn::Error::new_spanned(
            int,
            format!("the version must be {RANGE}"),
        )),
    }
}

fn unknown(meta: &ParseNestedMeta, kind: Kind) -> syn::Error {
    let path = &meta.path;
    let key = quote!(#path).to_string().replace(' ', "");
    let expected = match kind {
        Kind::Workflow => "`name = \"...\"`, `version = N`, `state = \"...\"` or `crate = \"...\"`",
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
        assert_eq!(args.state.as_ref().unwrap().to_string(), "Machine");
        assert_eq!(args.version, None);
        assert_eq!(args.version(), 1);
    }

    fn version(tokens: proc_macro2::TokenStream) -> Result<u32, Vec<String>> {
        let cx = Ctxt::new();
        let args = Args::parse(&cx, Kind::Workflow, tokens);
        match cx.check() {
            Ok(()) => Ok(args.version()),
            Err(e) => Err(e.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn reads_the_version() {
        assert_eq!(version(quote!(version = 2)), Ok(2));
        assert_eq!(version(quote!(name = "checkout", version = 3)), Ok(3));
        assert_eq!(version(quote!(version = 1, state = "S")), Ok(1));
        assert_eq!(version(quote!(version = 7u32)), Ok(7));
        assert_eq!(version(quote!(version = 4_294_967_295)), Ok(u32::MAX));
        assert_eq!(version(quote!(version = 0x10)), Ok(16));
        assert_eq!(version(quote!()), Ok(1));
    }

    #[test]
    fn a_bad_version_is_reported() {
        let range = "from 1 to 4294967295 (`u32::MAX`)";
        for (tokens, error) in [
            (
                quote!(version = 0),
                "versions start at 1: the first version of a workflow is `version = 1` (the default)".to_string(),
            ),
            (
                quote!(version = "2"),
                "the version must be an integer literal, not a string: `version = 2`".to_string(),
            ),
            (
                quote!(version = "two"),
                "the version must be an integer literal, not a string: `version = 2`".to_string(),
            ),
            (
                quote!(version = 1.5),
                format!("the version must be a whole number {range}: `version = 2`"),
            ),
            (
                quote!(version = -1),
                format!("the version must be a whole number {range}: `version = 2`"),
            ),
            (
                quote!(version = 4294967296),
                format!("the version must be {range}"),
            ),
            (
                quote!(version = 3u8),
                "the version is a `u32`: write `version = 3`".to_string(),
            ),
            (
                quote!(version = VERSION),
                "the version must be an integer literal: `version = 2`".to_string(),
            ),
            (
                quote!(version = true),
                "the version must be an integer literal: `version = 2`".to_string(),
            ),
            (
                quote!(version = 2, version = 3),
                "`version` is given twice".to_string(),
            ),
        ] {
            assert_eq!(version(tokens.clone()), Err(vec![error]), "{tokens}");
        }
    }

    #[test]
    fn a_bad_version_does_not_stop_the_parse() {
        assert_eq!(
            errors(Kind::Workflow, quote!(version = 0, name = "a", name = "b")),
            [
                "versions start at 1: the first version of a workflow is `version = 1` (the default)",
                "`name` is given twice",
            ]
        );
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
            errors(Kind::Workflow, quote!(retries = 3)),
            [
                "unknown argument `retries`: expected `name = \"...\"`, `version = N`, `state = \"...\"` or `crate = \"...\"`"
            ]
        );
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
