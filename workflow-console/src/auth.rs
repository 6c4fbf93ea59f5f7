//! The token that the console's actions (signal, cancel, terminate, unpark) need.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;

/// The token configured with [`crate::Console::token`]. Its `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// The token `s`; an empty one is no token (actions stay disabled), so that a token read
    /// from an unset environment variable does not open them to an empty password.
    pub(crate) fn new(s: String) -> Option<Token> {
        // Without the whitespace around it, which a header cannot carry.
        let s = s.trim();
        (!s.is_empty()).then(|| Token(s.to_string()))
    }

    /// Whether `presented` is this token, compared in constant time (the time taken does not
    /// depend on where the two differ, only on their lengths).
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

/// Checks that an action may run: a token is configured, and the request presents it, in the
/// form field `token` (`form_token`) or as `Authorization: Bearer <token>`.
pub(crate) fn authorize(
    configured: Option<&Token>,
    headers: &HeaderMap,
    form_token: Option<&str>,
) -> Result<(), ConsoleError> {
    let token = configured.ok_or(ConsoleError::ActionsDisabled)?;
    // The header's bytes as sent (a token of UTF-8 from a script other than the page), its
    // scheme in any case (RFC 7235: `bearer` is `Bearer`).
    let presented = form_token
        .filter(|t| !t.is_empty())
        .map(|t| t.trim().as_bytes())
        .or_else(|| {
            headers
                .get(AUTHORIZATION)
                .map(|v| v.as_bytes())
                .filter(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
                .map(|v| v[7..].trim_ascii())
        });
    match presented {
        None => Err(ConsoleError::TokenMissing),
        Some(p) if token.matches(p) => Ok(()),
        Some(_) => Err(ConsoleError::TokenWrong),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn an_empty_token_is_none() {
        assert!(Token::new(String::new()).is_none());
        assert!(Token::new("s3cret".into()).is_some());
    }

    #[test]
    fn the_token_must_match_exactly() {
        let t = Token::new("s3cret".into()).expect("token");
        assert!(t.matches(b"s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3CRET", "s3cret2", "x3cret"] {
            assert!(!t.matches(wrong.as_bytes()), "{wrong:?}");
        }
        assert_eq!(format!("{t:?}"), "Token(..)");
    }

    #[test]
    fn a_request_presents_the_token_in_a_form_field_or_a_header() {
        let t = Token::new("s3cret".into());
        let none = HeaderMap::new();
        let mut bearer = HeaderMap::new();
        bearer.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(authorize(t.as_ref(), &none, Some("s3cret")).is_ok());
        assert!(authorize(t.as_ref(), &bearer, None).is_ok());
        assert!(matches!(
            authorize(t.as_ref(), &none, None),
            Err(ConsoleError::TokenMissing)
        ));
        assert!(matches!(
            authorize(t.as_ref(), &none, Some("guess")),
            Err(ConsoleError::TokenWrong)
        ));
        assert!(matches!(
            authorize(None, &bearer, Some("s3cret")),
            Err(ConsoleError::ActionsDisabled)
        ));
    }

    #[test]
    fn the_scheme_is_read_in_any_case_and_the_token_as_its_bytes() {
        let header = |value: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("header"),
            );
            h
        };
        let t = Token::new("s3cret".into());
        for ok in [&b"bearer s3cret"[..], b"BEARER s3cret", b"Bearer  s3cret "] {
            assert!(authorize(t.as_ref(), &header(ok), None).is_ok(), "{ok:?}");
        }
        assert!(matches!(
            authorize(t.as_ref(), &header(b"Basic s3cret"), None),
            Err(ConsoleError::TokenMissing)
        ));
        // A token of UTF-8, as a script sends it; one configured with whitespace around it.
        let t = Token::new(" p\u{e4}sswort\n".into());
        let utf8 = header("Bearer p\u{e4}sswort".as_bytes());
        assert!(authorize(t.as_ref(), &utf8, None).is_ok());
        assert!(authorize(t.as_ref(), &HeaderMap::new(), Some("p\u{e4}sswort")).is_ok());
        assert!(
            Token::new(" \t".into()).is_none(),
            "whitespace alone is no token"
        );
    }
}
