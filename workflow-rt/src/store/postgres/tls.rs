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
            PostgresTls::Verify(pem) => {
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
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        let mut client = client;
        // PostgreSQL 17's direct TLS (`sslnegotiation=direct`) asks for it; earlier servers,
        // and the usual negotiation, ignore it.
        client.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustlsConnect::new(client))
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
