//! The empty overrides that keep a `syn` visitor out of nested code: closures, async blocks and
//! nested items (`fn`, `struct`, `impl`... written inside the body). None of them runs as part
//! of the surrounding body when it is reached, so most walks over a workflow body (does it
//! await, does it break to this label, does it return) must not look inside.
//!
//! `skip_nested!()` inside an `impl<'ast> Visit<'ast> for ..` writes all three overrides;
//! `skip_nested!(closures, items)` only those named (`closures`, `async_blocks`, `items`), for a
//! visitor that walks the others on purpose, which it says in a comment next to the call.
//! `skip_nested_mut!(..)` is the same for `VisitMut`. A visitor that handles one of them itself
//! (a closure's parameters rebind names) overrides that method by hand and names only the
//! others.

/// For `syn::visit::Visit` (the impl's lifetime must be named `'ast`).
macro_rules! skip_nested {
    () => {
        $crate::visit::skip_nested!(closures, async_blocks, items);
    };
    (@ closures) => {
        fn visit_expr_closure(&mut self, _: &'ast ::syn::ExprClosure) {}
    };
    (@ async_blocks) => {
        fn visit_expr_async(&mut self, _: &'ast ::syn::ExprAsync) {}
    };
    (@ items) => {
        fn visit_item(&mut self, _: &'ast ::syn::Item) {}
    };
    ($($what:ident),+ $(,)?) => {
        $($crate::visit::skip_nested!(@ $what);)+
    };
}

/// For `syn::visit_mut::VisitMut`.
macro_rules! skip_nested_mut {
    () => {
        $crate::visit::skip_nested_mut!(closures, async_blocks, items);
    };
    (@ closures) => {
        fn visit_expr_closure_mut(&mut self, _: &mut ::syn::ExprClosure) {}
    };
    (@ async_blocks) => {
        fn visit_expr_async_mut(&mut self, _: &mut ::syn::ExprAsync) {}
    };
    (@ items) => {
        fn visit_item_mut(&mut self, _: &mut ::syn::Item) {}
    };
    ($($what:ident),+ $(,)?) => {
        $($crate::visit::skip_nested_mut!(@ $what);)+
    };
}

pub(crate) use {skip_nested, skip_nested_mut};

#[cfg(test)]
mod tests {
    use syn::visit::Visit;
    use syn::visit_mut::VisitMut;

    /// Counts the calls it reaches.
    struct Calls<const CLOSURES: bool>(usize);
    impl<'ast> Visit<'ast> for Calls<false> {
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            self.0 += 1;
            syn::visit::visit_expr_call(self, c);
        }
        skip_nested!();
    }
    impl<'ast> Visit<'ast> for Calls<true> {
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            self.0 += 1;
            syn::visit::visit_expr_call(self, c);
        }
        skip_nested!(async_blocks, items);
    }

    const BODY: &str = "{ a(); let f = || b(); let g = async { c() }; fn h() { d() } }";

    #[test]
    fn skips_what_it_names() {
        let block: syn::Block = syn::parse_str(BODY).unwrap();
        let mut all = Calls::<false>(0);
        all.visit_block(&block);
        assert_eq!(all.0, 1);
        let mut closures_too = Calls::<true>(0);
        closures_too.visit_block(&block);
        assert_eq!(closures_too.0, 2);
    }

    #[test]
    fn skips_what_it_names_mut() {
        struct Rename;
        impl VisitMut for Rename {
            fn visit_ident_mut(&mut self, i: &mut proc_macro2::Ident) {
                *i = proc_macro2::Ident::new("z", i.span());
            }
            skip_nested_mut!();
        }
        let mut block: syn::Block = syn::parse_str(BODY).unwrap();
        Rename.visit_block_mut(&mut block);
        let text = quote::quote!(#block).to_string();
        assert!(text.starts_with("{ z () ; let z ="), "{text}");
        assert!(text.contains("b ()"), "{text}");
        assert!(text.contains("async { c () }"), "{text}");
        assert!(text.contains("fn h () { d () }"), "{text}");
    }
}
