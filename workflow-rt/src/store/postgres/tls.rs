//! Encryption of a [`super::PostgresStore`]'s connections: TLS by rustls (its `ring`
//! provider), as libpq does it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PostgresError;

/// How a [`super::PostgresStore`] encrypts its connections
/// ([`super::PostgresStoreBuilder::tls`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PostgresTls {
    /// What libpq does with `sslmode=require` and no root certificate: TLS, the server's
    /// certificate not checked. The connection is encrypted, but a man in the middle is not
    /// stopped (give the server's root certificate with [`PostgresTls::Verify`] for that).
    /// What a store does by default when its connection string asks for no check (see
    /// [`super::PostgresStoreBuilder::tls`]), so that a connection string made for libpq with
    /// `sslmode=require` (as managed services hand out) works as it does there. `sslmode=prefer`, the default
    /// mode, connects in the clear: libpq tries TLS first and falls back to the clear when
    /// the handshake fails, which tokio-postgres cannot do, so a server whose TLS rustls does
    /// not speak would be refused where it was reached before.
    #[default]
    Unchecked,
    /// TLS always, whatever `sslmode` says (a server without it is refused), the server's
    /// certificate checked against these root certificates, in PEM (a managed service's CA
    /// bundle, libpq's `sslrootcert`), and its name against the host connected to: libpq's
    /// `sslmode=verify-full`.
    Verify(Vec<u8>),
    /// As [`PostgresTls::Verify`], but the certificate's name is not checked against the host
    /// connected to (its authority is): libpq's `sslmode=verify-ca`, for a server reached by
    /// an address its certificate does not name.
    VerifyCa(Vec<u8>),
    /// No TLS, whatever `sslmode` says (`require` then fails to connect).
    Off,
}

impl PostgresTls {
    /// The connector every connection of the store uses, and `config` set to the `sslmode`
    /// this asks for.
    pub(super) fn connector(
        &self,
        config: &mut tokio_postgres::Config,
    ) -> Result<MakeRustlsConnect, PostgresError> {
        // rustls 0.23.48 deprecates `ring`'s provider for want of post-quantum key exchange,
        // which PostgreSQL servers (on OpenSSL) offer only from OpenSSL 3.5; its other
        // provider, aws-lc-rs, needs a C toolchain and CMake to build. Kept until the servers
        // and the build ask for the other.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PostgresError::Tls(format!("no TLS version to offer: {e}")))?;
        let client = match self {
            PostgresTls::Off => {
                config.ssl_mode(SslMode::Disable);
                builder
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            }
            PostgresTls::Unchecked => {
                if config.get_ssl_mode() == SslMode::Prefer {
                    config.ssl_mode(SslMode::Disable);
                }
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                    .with_no_client_auth()
            }
            PostgresTls::Verify(pem) | PostgresTls::VerifyCa(pem) => {
                config.ssl_mode(SslMode::Require);
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| {
                        PostgresError::Tls(format!("the root certificates do not parse: {e}"))
                    })?;
                    roots.add(cert).map_err(|e| {
                        PostgresError::Tls(format!("a root certificate is refused: {e}"))
                    })?;
                }
                if roots.is_empty() {
                    return Err(PostgresError::Tls(
                        "no certificate in the PEM of the root certificates".to_string(),
                    ));
                }
                if matches!(self, PostgresTls::VerifyCa(_)) {
                    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| PostgresError::Tls(format!("the root certificates: {e}")))?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
                        .with_no_client_auth()
                } else {
                    builder.with_root_certificates(roots).with_no_client_auth()
                }
            }
        };
        let mut client = client;
        // PostgreSQL 17's direct TLS (`sslnegotiation=direct`) asks for it; earlier servers,
        // and the usual negotiation, ignore it.
        client.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustlsConnect::new(client))
    }
}

/// What a connection string asks of TLS in libpq's terms: its last `sslmode` and its
/// `sslrootcert`, which [`take_libpq_tls`] took out of it (tokio-postgres refuses
/// `verify-ca`, `verify-full` and `sslrootcert`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Asked {
    /// The last `sslmode` given.
    pub(super) mode: Option<String>,
    /// The `sslrootcert` given.
    pub(super) rootcert: Option<String>,
}

/// Takes libpq's TLS parameters that tokio-postgres refuses (`sslmode` `verify-ca` or
/// `verify-full`, `sslrootcert`) out of connection string `url`: the string without them, and
/// what it asked for. A URL (`postgres://..?sslmode=verify-full&sslrootcert=/ca.pem`) or the
/// `key=value` form; in the latter, a string that names them among quoted values or with
/// spaces around `=` is refused with a reason rather than misread.
pub(super) fn take_libpq_tls(url: &str) -> Result<(String, Asked), PostgresError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let params: Vec<&str> = if is_url {
        match url.split_once('?') {
            Some((_, query)) => query.split('&').collect(),
            None => return Ok((url.to_string(), Asked::default())),
        }
    } else {
        let mentions = url.contains("sslrootcert") || url.contains("verify-");
        if mentions && (url.contains(['\'', '\\']) || url.contains(" =") || url.contains("= ")) {
            return Err(PostgresError::Tls(
                "the connection string's sslmode or sslrootcert is among quoted values or has \
                 spaces around '=': write them as sslmode=verify-full sslrootcert=/path/ca.pem, \
                 use the URL form, or give the certificates with PostgresTls"
                    .to_string(),
            ));
        }
        url.split_whitespace().collect()
    };
    let mut asked = Asked::default();
    let mut dropped = false;
    let mut kept = Vec::with_capacity(params.len());
    for p in params {
        match p.split_once('=') {
            Some(("sslmode", m)) => {
                asked.mode = Some(m.to_string());
                if matches!(m, "verify-ca" | "verify-full") {
                    dropped = true;
                } else {
                    kept.push(p);
                }
            }
            Some(("sslrootcert", path)) => {
                dropped = true;
                asked.rootcert = Some(if is_url {
                    percent_encoding::percent_decode_str(path)
                        .decode_utf8_lossy()
                        .into_owned()
                } else {
                    path.to_string()
                });
            }
            _ => kept.push(p),
        }
    }
    // Rewritten only when something was taken out.
    let rest = if !dropped {
        url.to_string()
    } else if is_url {
        let head = url.split_once('?').map_or(url, |(h, _)| h);
        if kept.is_empty() {
            head.to_string()
        } else {
            format!("{head}?{}", kept.join("&"))
        }
    } else {
        kept.join(" ")
    };
    Ok((rest, asked))
}

impl Asked {
    /// The [`PostgresTls`] this asks for, as libpq reads it, the root certificates read from
    /// `sslrootcert` or, when not given, from `home`'s `.postgresql/root.crt` (libpq's default
    /// file):
    ///
    /// - `verify-full`: [`PostgresTls::Verify`]; `verify-ca`: [`PostgresTls::VerifyCa`] (both
    ///   refused when the certificates cannot be read);
    /// - `require` with a root certificate (given, or the default file if there is one):
    ///   [`PostgresTls::VerifyCa`], as libpq does; without: [`PostgresTls::Unchecked`];
    /// - any other mode: [`PostgresTls::Unchecked`] (the certificate is not read);
    /// - `sslrootcert=system` (libpq's system store) is refused with a reason.
    pub(super) fn resolve(
        &self,
        home: Option<&std::path::Path>,
    ) -> Result<PostgresTls, PostgresError> {
        let mode = self.mode.as_deref().unwrap_or("prefer");
        let verify = matches!(mode, "verify-ca" | "verify-full");
        if !verify && mode != "require" {
            return Ok(PostgresTls::Unchecked);
        }
        let default = home.map(|h| h.join(".postgresql").join("root.crt"));
        let path = match (&self.rootcert, default) {
            (Some(p), _) if p == "system" => {
                return Err(PostgresError::Tls(
                    "sslrootcert=system (the system's certificates) is not supported: give the \
                     authority's certificates in a PEM file (sslrootcert=/path/ca.pem, or \
                     PostgresTls::Verify)"
                        .to_string(),
                ));
            }
            (Some(p), _) => std::path::PathBuf::from(p),
            (None, Some(d)) if verify || d.is_file() => d,
            (None, None) if verify => {
                return Err(PostgresError::Tls(format!(
                    "sslmode={mode} needs the authority's certificates: give sslrootcert (no \
                     home directory for libpq's default ~/.postgresql/root.crt)"
                )));
            }
            (None, _) => return Ok(PostgresTls::Unchecked),
        };
        let pem = std::fs::read(&path).map_err(|e| {
            PostgresError::Tls(format!(
                "cannot read the root certificates of sslmode={mode} at {}: {e}",
                path.display()
            ))
        })?;
        Ok(if mode == "verify-full" {
            PostgresTls::Verify(pem)
        } else {
            PostgresTls::VerifyCa(pem)
        })
    }

    /// Whether `given` (the builder's) checks at least what this asks for: a URL that asks
    /// for `verify-full` is not connected with less, nor one that asks for `verify-ca` without
    /// a check of the authority.
    pub(super) fn allows(&self, given: &PostgresTls) -> Result<(), PostgresError> {
        let weaker = match self.mode.as_deref() {
            Some("verify-full") => !matches!(given, PostgresTls::Verify(_)),
            Some("verify-ca") => matches!(given, PostgresTls::Off | PostgresTls::Unchecked),
            _ => false,
        };
        if weaker {
            return Err(PostgresError::Tls(format!(
                "the connection string asks for sslmode={}, and the store was given {} (tls): \
                 give one or the other",
                self.mode.as_deref().unwrap_or_default(),
                match given {
                    PostgresTls::Off => "no TLS",
                    PostgresTls::Unchecked => "TLS without a check of the certificate",
                    PostgresTls::VerifyCa(_) => "a check of the authority alone",
                    PostgresTls::Verify(_) => "a full check",
                }
            )));
        }
        Ok(())
    }
}

/// The current user's home directory, where libpq looks for `.postgresql/root.crt`.
pub(super) fn home_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from)
}

/// Checks a certificate's authority, not its name (libpq's `verify-ca`).
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The TLS failure behind `e`, if a handshake is what failed: for [`PostgresError::Tls`],
/// whose message says why (tokio-postgres' own says only that the handshake failed).
pub(super) fn handshake_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<rustls::Error>() {
            return Some(format!("the TLS handshake with the server failed: {t}"));
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(format!("the TLS handshake with the server failed: {t}"));
        }
        cause = c.source();
    }
    None
}

/// Takes any certificate, as libpq does without a root certificate; the handshake's
/// signatures are still checked, against the certificate the server sent.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(mode: Option<&str>, rootcert: Option<&str>) -> Asked {
        Asked {
            mode: mode.map(str::to_string),
            rootcert: rootcert.map(str::to_string),
        }
    }

    #[test]
    fn libpq_tls_parameters_are_taken_out() {
        // Nothing to take: unchanged, whatever the form.
        for url in [
            "postgres://u@h/db",
            "postgres://u@h/db?sslmode=require",
            "host=h password='a  b' sslmode=disable",
        ] {
            let (rest, _) = take_libpq_tls(url).unwrap();
            assert_eq!(rest, url);
        }
        let (rest, a) = take_libpq_tls(
            "postgres://u@h/db?sslmode=require&sslrootcert=/a%20b/ca.pem&x=1&sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?sslmode=require&x=1");
        assert_eq!(
            a,
            asked(Some("verify-full"), Some("/a b/ca.pem")),
            "the last sslmode"
        );
        let (rest, a) = take_libpq_tls("postgresql://u@h/db?sslmode=verify-ca").unwrap();
        assert_eq!(
            (rest.as_str(), a),
            ("postgresql://u@h/db", asked(Some("verify-ca"), None))
        );
        let (rest, a) =
            take_libpq_tls("host=h  user=u sslmode=verify-full sslrootcert=/ca.pem").unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(a, asked(Some("verify-full"), Some("/ca.pem")));
        // Not misread: quoted values or spaces around '='.
        for s in [
            "host=h sslmode = verify-full sslrootcert=/ca.pem",
            "host=h sslmode='require' sslrootcert=/ca.pem",
        ] {
            assert!(
                matches!(take_libpq_tls(s), Err(PostgresError::Tls(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn what_is_asked_resolves_as_libpq_reads_it() {
        let dir = std::env::temp_dir().join(format!("wf-tls-{}", std::process::id()));
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".postgresql")).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, b"CA").unwrap();
        let ca = ca.to_str().unwrap();
        let empty = dir.join("empty-home");
        std::fs::create_dir_all(&empty).unwrap();
        let full = asked(Some("verify-full"), Some(ca)).resolve(None).unwrap();
        assert_eq!(full, PostgresTls::Verify(b"CA".to_vec()));
        for mode in ["verify-ca", "require"] {
            let r = asked(Some(mode), Some(ca)).resolve(None).unwrap();
            assert_eq!(r, PostgresTls::VerifyCa(b"CA".to_vec()), "{mode}");
        }
        for mode in [None, Some("prefer"), Some("disable")] {
            assert_eq!(
                asked(mode, Some(ca)).resolve(None).unwrap(),
                PostgresTls::Unchecked
            );
        }
        // libpq's default file: read for the verify- modes (refused when missing), and for
        // `require` when it is there.
        assert_eq!(
            asked(Some("require"), None).resolve(Some(&empty)).unwrap(),
            PostgresTls::Unchecked
        );
        for mode in ["verify-full", "verify-ca"] {
            for home in [Some(empty.as_path()), None] {
                assert!(
                    matches!(
                        asked(Some(mode), None).resolve(home),
                        Err(PostgresError::Tls(_))
                    ),
                    "{mode} {home:?}"
                );
            }
        }
        std::fs::write(home.join(".postgresql/root.crt"), b"HOME").unwrap();
        assert_eq!(
            asked(Some("require"), None).resolve(Some(&home)).unwrap(),
            PostgresTls::VerifyCa(b"HOME".to_vec())
        );
        assert_eq!(
            asked(Some("verify-full"), None)
                .resolve(Some(&home))
                .unwrap(),
            PostgresTls::Verify(b"HOME".to_vec())
        );
        assert!(matches!(
            asked(Some("verify-full"), Some("system")).resolve(None),
            Err(PostgresError::Tls(_))
        ));
        // What the builder gives must check at least what the string asks for.
        let full = asked(Some("verify-full"), None);
        assert!(full.allows(&PostgresTls::Verify(vec![])).is_ok());
        for weaker in [
            PostgresTls::Off,
            PostgresTls::Unchecked,
            PostgresTls::VerifyCa(vec![]),
        ] {
            assert!(full.allows(&weaker).is_err(), "{weaker:?}");
        }
        let ca_only = asked(Some("verify-ca"), None);
        assert!(ca_only.allows(&PostgresTls::VerifyCa(vec![])).is_ok());
        assert!(ca_only.allows(&PostgresTls::Unchecked).is_err());
        assert!(
            asked(Some("require"), None)
                .allows(&PostgresTls::Off)
                .is_ok()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
