//! Arguments of `#[workflow(...)]` and `#[activity(...)]`:
//! `name = "..."` (the stable stored name; default: the function's name) and
//! `crate = "..."` (the path of `workflow_rt` when it is renamed); for `#[workflow]` only,
//! `state = "..."` (the name of the state enum; default: the function's name in camel case
//! followed by `State`, which may already be taken by a type of the user's).

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

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
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: syn::Ident = if input.peek(Token![crate]) {
                let k: Token![crate] = input.parse()?;
                syn::Ident::new("crate", k.span)
            } else {
                input.parse()?
            };
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse()?;
            match key.to_string().as_str() {
                "name" => args.name = Some(value.value()),
                "crate" => args.krate = Some(value.parse()?),
                "state" => {
                    args.state = Some(value.parse().map_err(|_| {
                        syn::Error::new(
                            value.span(),
                            "the state enum's name must be an identifier: `state = \"CheckoutMachine\"`",
                        )
                    })?)
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}`: expected `name = \"...\"`, `state = \"...\"` or `crate = \"...\"`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
