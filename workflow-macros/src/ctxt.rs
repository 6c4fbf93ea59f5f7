//! The error accumulator (serde_derive's `Ctxt`): every stage reports into it, so that one
//! compile shows every mistake in a workflow rather than the first.
//!
//! A `Ctxt` must be consumed by [`Ctxt::check`]: dropping one whose errors were never checked
//! panics (serde_derive's guard), so that a stage cannot collect errors and then forget to emit
//! them. A stage that only wants to know whether there are errors so far asks
//! [`Ctxt::has_errors`]; the driver that created the `Ctxt` checks it once, at the end.

use std::cell::RefCell;

pub struct Ctxt {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    pub fn push(&self, err: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(err);
    }

    pub fn error(&self, span: proc_macro2::Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub fn spanned(&self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub fn has_errors(&self) -> bool {
        self.errors
            .borrow()
            .as_ref()
            .is_some_and(|errs| !errs.is_empty())
    }

    /// Consumes the accumulator: `Err` with all the errors combined into one (in the order they
    /// were pushed; iterate the `syn::Error` to get them apart), or `Ok` if there were none.
    pub fn check(self) -> syn::Result<()> {
        let mut errs = self
            .errors
            .borrow_mut()
            .take()
            .expect("Ctxt checked twice")
            .into_iter();
        let Some(mut first) = errs.next() else {
            return Ok(());
        };
        for e in errs {
            first.combine(e);
        }
        Err(first)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("forgot to check for errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ctxt;
    use proc_macro2::Span;

    #[test]
    fn check_combines_the_errors_in_order() {
        let cx = Ctxt::new();
        cx.error(Span::call_site(), "first");
        cx.error(Span::call_site(), "second");
        assert!(cx.has_errors());
        let messages: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn check_without_errors_is_ok() {
        let cx = Ctxt::new();
        assert!(!cx.has_errors());
        assert!(cx.check().is_ok());
    }

    #[test]
    #[should_panic(expected = "forgot to check for errors")]
    fn dropping_an_unchecked_ctxt_panics() {
        let cx = Ctxt::new();
        drop(cx);
    }
}
