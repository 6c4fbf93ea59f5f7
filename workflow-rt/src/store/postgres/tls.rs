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
    /// The default, so that a connection string made for libpq with `sslmode=require` (as
    /// managed services hand out) works as it does there. `sslmode=prefer`, the default
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
                        "no certificate in the PEM given to PostgresTls::Verify".to_string(),
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

/// libpq's TLS parameters of a connection string that tokio-postgres refuses (`sslmode`
/// `verify-ca` or `verify-full`, `sslrootcert`), taken out of it: the string without them,
/// and the [`PostgresTls`] they ask for, if any.
///
/// - `verify-full`: [`PostgresTls::Verify`]; `verify-ca`, or `require` with a root
///   certificate (as libpq does then): [`PostgresTls::VerifyCa`];
/// - the root certificates are read from `sslrootcert`, or, for the `verify-` modes without
///   it, from `~/.postgresql/root.crt`, as libpq reads them; `sslrootcert=system` (libpq's
///   system store) is refused with a reason, as is a file that cannot be read;
/// - `sslrootcert` with another mode is dropped (libpq reads it only to check).
///
/// Both forms are read: a URL (`postgres://..?sslmode=verify-full&sslrootcert=/ca.pem`) and
/// the `key=value` form (values without quotes).
pub(super) fn libpq_tls(url: &str) -> Result<(String, Option<PostgresTls>), PostgresError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (head, params, sep) = if is_url {
        match url.split_once('?') {
            Some((head, query)) => (
                format!("{head}?"),
                query.split('&').collect::<Vec<_>>(),
                "&",
            ),
            None => return Ok((url.to_string(), None)),
        }
    } else {
        (
            String::new(),
            url.split_whitespace().collect::<Vec<_>>(),
            " ",
        )
    };
    let mut mode = None;
    let mut rootcert = None;
    let mut dropped = false;
    let mut kept = Vec::with_capacity(params.len());
    for p in params {
        match p.split_once('=') {
            Some(("sslmode", m @ ("verify-ca" | "verify-full" | "require"))) => {
                mode = Some(m.to_string());
                if m == "require" {
                    kept.push(p);
                } else {
                    dropped = true;
                }
            }
            Some(("sslmode", _)) => {
                mode = None;
                kept.push(p);
            }
            Some(("sslrootcert", path)) => {
                dropped = true;
                rootcert = Some(if is_url {
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
    // Rewritten only when something was taken out (a `key=value` string's quoted values
    // would not survive it).
    let rest = if !dropped {
        url.to_string()
    } else if is_url {
        let mut rest = head;
        rest.push_str(&kept.join(sep));
        if rest.ends_with('?') {
            rest.pop();
        }
        rest
    } else {
        kept.join(sep)
    };
    let verify = match (mode.as_deref(), rootcert) {
        (Some("verify-full" | "verify-ca"), None) => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Some(std::path::Path::new(&home).join(".postgresql/root.crt"))
        }
        (Some("verify-full" | "verify-ca" | "require"), Some(path)) => {
            if path == "system" {
                return Err(PostgresError::Tls(
                    "sslrootcert=system (the system's certificates) is not supported: give the \
                     authority's certificates in a PEM file (sslrootcert=/path/ca.pem, or \
                     PostgresTls::Verify)"
                        .to_string(),
                ));
            }
            Some(std::path::PathBuf::from(path))
        }
        _ => None,
    };
    let Some(path) = verify else {
        return Ok((rest, None));
    };
    let pem = std::fs::read(&path).map_err(|e| {
        PostgresError::Tls(format!(
            "cannot read the root certificates of sslmode={} at {}: {e}",
            mode.as_deref().unwrap_or("require"),
            path.display()
        ))
    })?;
    let tls = if mode.as_deref() == Some("verify-full") {
        PostgresTls::Verify(pem)
    } else {
        PostgresTls::VerifyCa(pem)
    };
    Ok((rest, Some(tls)))
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

    #[test]
    fn libpq_tls_parameters_are_taken_out() {
        let dir = std::env::temp_dir().join(format!("wf-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca file.pem");
        std::fs::write(&ca, b"PEM").unwrap();
        let enc = ca.display().to_string().replace(' ', "%20");
        // Nothing to take: unchanged, whatever the form.
        for url in [
            "postgres://u@h/db",
            "postgres://u@h/db?sslmode=require",
            "host=h password='a b' sslmode=disable",
        ] {
            assert_eq!(libpq_tls(url).unwrap(), (url.to_string(), None), "{url}");
        }
        let (rest, tls) = libpq_tls(&format!(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert={enc}&x=1"
        ))
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?x=1");
        assert_eq!(tls, Some(PostgresTls::Verify(b"PEM".to_vec())));
        let (rest, tls) = libpq_tls(&format!(
            "postgres://u@h/db?sslrootcert={enc}&sslmode=verify-ca"
        ))
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls, Some(PostgresTls::VerifyCa(b"PEM".to_vec())));
        // `require` with a root certificate checks its authority, as libpq does.
        let (rest, tls) = libpq_tls(&format!(
            "postgres://u@h/db?sslmode=require&sslrootcert={enc}"
        ))
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?sslmode=require");
        assert_eq!(tls, Some(PostgresTls::VerifyCa(b"PEM".to_vec())));
        // Another mode: the certificate is not read.
        let (rest, tls) =
            libpq_tls("postgres://u@h/db?sslmode=disable&sslrootcert=/nowhere").unwrap();
        assert_eq!(
            (rest.as_str(), tls),
            ("postgres://u@h/db?sslmode=disable", None)
        );
        // The key=value form.
        let kv_dir = dir.join("kv");
        std::fs::create_dir_all(&kv_dir).unwrap();
        let kv_ca = kv_dir.join("ca.pem");
        std::fs::write(&kv_ca, b"KV").unwrap();
        let (rest, tls) = libpq_tls(&format!(
            "host=h user=u sslmode=verify-full sslrootcert={}",
            kv_ca.display()
        ))
        .unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(tls, Some(PostgresTls::Verify(b"KV".to_vec())));
        // Refused with a reason: the system's store, a file that cannot be read.
        for url in [
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=system",
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/no/such/ca.pem",
        ] {
            assert!(
                matches!(libpq_tls(url), Err(PostgresError::Tls(_))),
                "{url}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
