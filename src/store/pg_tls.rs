//! TLS to Postgres with rustls, as libpq's `sslmode` asks:
//!
//! - `disable`: never; `prefer` (the default): TLS when the server offers
//!   it; `require`: TLS or no connection. Neither checks the certificate,
//!   as with libpq, unless `sslrootcert` is given, which makes `require`
//!   check the chain (`verify-ca`), again as libpq does.
//! - `verify-ca`: the certificate must chain to a trusted root;
//!   `verify-full`: and name the host connected to.
//!
//! The roots are the file `sslrootcert` names (PEM), or with
//! `sslrootcert=system` or none given, the Mozilla roots (webpki-roots).
//! tokio-postgres reads neither `verify-*` nor `sslrootcert`, so both are
//! taken out of the URL here; everything else is its own to parse.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{StoreError, StoreResult};

/// libpq's `sslmode` values that rustls can honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn parse(text: &str) -> StoreResult<TlsMode> {
        Ok(match text {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(bad_url(format!(
                    "sslmode={other} is not supported; use disable, prefer, require, verify-ca \
                     or verify-full"
                )));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

fn bad_url(detail: String) -> StoreError {
    StoreError::Database {
        detail: format!("the database URL is not valid: {detail}"),
    }
}

/// The URL's TLS settings, and the URL without the ones tokio-postgres
/// does not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub mode: TlsMode,
    pub root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a URL (`postgres://…?k=v&…`) or
/// a key-value string (`host=… sslmode=…`).
pub(crate) fn take_tls_settings(url: &str) -> StoreResult<(String, TlsSettings)> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: String| -> StoreResult<bool> {
        match key {
            "sslmode" => mode = Some(TlsMode::parse(&value)?),
            "sslrootcert" => root_cert = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let decoded = url::form_urlencoded::parse(pair.as_bytes()).next();
            let (key, value) = decoded.unwrap_or_default();
            if !take(&key, value.into_owned())? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for (key, value, text) in key_value_pairs(url)? {
            if !take(&key, value)? {
                kept.push(text);
            }
        }
        kept.join(" ")
    };
    let mode = mode.unwrap_or(TlsMode::Prefer);
    // libpq: with a root certificate given, `require` checks the chain.
    let mode = match (mode, &root_cert) {
        (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        (mode, _) => mode,
    };
    Ok((rest, TlsSettings { mode, root_cert }))
}

/// `key = value` pairs of a libpq key-value string, each with its text;
/// a value may be single-quoted with `\'` and `\\` inside.
fn key_value_pairs(text: &str) -> StoreResult<Vec<(String, String, &str)>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_space(&mut i);
        if i >= bytes.len() {
            return Ok(out);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = text[start..i].to_string();
        skip_space(&mut i);
        if i >= bytes.len() || bytes[i] != b'=' {
            // Not echoed: the text may be part of a password.
            return Err(bad_url("a setting has no `=` and value".into()));
        }
        i += 1;
        skip_space(&mut i);
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                let Some(c) = text[i..].chars().next() else {
                    return Err(bad_url(format!(
                        "the value of `{key}` has no closing quote"
                    )));
                };
                i += c.len_utf8();
                match c {
                    '\'' => break,
                    '\\' => {
                        if let Some(next) = text[i..].chars().next() {
                            value.push(next);
                            i += next.len_utf8();
                        }
                    }
                    c => value.push(c),
                }
            }
        } else {
            let from = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            value.push_str(&text[from..i]);
        }
        out.push((key, value, &text[start..i]));
    }
}

/// The tokio-postgres config and TLS connector for a database URL.
pub(crate) fn connect_options(url: &str) -> StoreResult<(tokio_postgres::Config, PgTls)> {
    let (rest, settings) = take_tls_settings(url)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        // The parser's message names the bad part, never the password.
        bad_url(super::postgres::describe(&e))
    })?;
    config.ssl_mode(match settings.mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    Ok((config, PgTls::new(&settings)?))
}

/// rustls for tokio-postgres, checking the server's certificate as the
/// `sslmode` asks.
#[derive(Clone)]
pub(crate) struct PgTls(MakeRustlsConnect);

impl PgTls {
    pub(crate) fn new(settings: &TlsSettings) -> StoreResult<PgTls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let checks = matches!(settings.mode, TlsMode::VerifyCa | TlsMode::VerifyFull);
        let (roots_from, chain) = if checks {
            let (roots, from) = roots(settings.root_cert.as_deref())?;
            let chain =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| bad_url(format!("the root certificates are not usable: {e}")))?;
            (from, Some(chain))
        } else {
            (String::new(), None)
        };
        let verifier = Arc::new(Verifier {
            mode: settings.mode,
            roots_from,
            chain,
            provider: provider.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad_url(format!("cannot set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(PgTls(MakeRustlsConnect::new(config)))
    }
}

/// The trusted roots and where they came from, for messages.
fn roots(root_cert: Option<&str>) -> StoreResult<(RootCertStore, String)> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        None | Some("system") => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Ok((roots, "the Mozilla root certificates".into()))
        }
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                bad_url(format!("sslrootcert {path} cannot be read: {e}"))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                let cert = cert.map_err(|e| unreadable(&e))?;
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"it holds no PEM certificate"));
            }
            Ok((roots, format!("sslrootcert {path}")))
        }
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        // A Unix socket has no host name; the server never offers TLS there,
        // so the name stands in and is never checked.
        let hostname = if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        };
        <MakeRustlsConnect as MakeTlsConnect<S>>::make_tls_connect(&mut self.0, hostname)
    }
}

#[derive(Debug)]
struct Verifier {
    mode: TlsMode,
    roots_from: String,
    /// The chain check (verify-ca, verify-full); None: nothing is checked.
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.mode == TlsMode::VerifyCa => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(why)) => {
                let what = match why {
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => {
                        format!("does not name the host {}", server_name.to_str())
                    }
                    CertificateError::UnknownIssuer => {
                        format!("is not signed by {}", self.roots_from)
                    }
                    other => format!("is not valid ({other:?}) with {}", self.roots_from),
                };
                Err(rustls::Error::General(format!(
                    "sslmode={}: the server's certificate {what}",
                    self.mode.name()
                )))
            }
            Err(other) => Err(other),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> (String, TlsSettings) {
        take_tls_settings(url).unwrap()
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_either_form() {
        let (rest, s) = settings(
            "postgres://u:p@db.acme.io:5432/outpost?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db.acme.io:5432/outpost?application_name=x"
        );
        assert_eq!(s.mode, TlsMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some("/etc/ca.pem"));

        let (rest, s) =
            settings("host=db port=5432 sslmode = require  password='a b\\'c' dbname=o");
        assert_eq!(rest, "host=db port=5432 password='a b\\'c' dbname=o");
        assert_eq!(s.mode, TlsMode::Require);
        rest.parse::<tokio_postgres::Config>().unwrap();

        let (rest, s) = settings("postgres://u@h/db");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(
            s,
            TlsSettings {
                mode: TlsMode::Prefer,
                root_cert: None
            }
        );
    }

    #[test]
    fn require_with_a_root_checks_the_chain_as_libpq_does() {
        let (_, s) = settings("host=db sslmode=require sslrootcert='/etc/ca.pem'");
        assert_eq!(s.mode, TlsMode::VerifyCa);
    }

    #[test]
    fn bad_tls_settings_are_clear_errors() {
        let err = take_tls_settings("host=db sslmode=allow")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode=allow is not supported"), "{err}");
        let err = take_tls_settings("host=db password='open")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no closing quote") && !err.contains("open"),
            "{err}"
        );
        let Err(err) =
            connect_options("host=db sslmode=verify-full sslrootcert=/nonexistent/ca.pem")
        else {
            panic!("a missing root file is an error");
        };
        assert!(
            err.to_string()
                .contains("sslrootcert /nonexistent/ca.pem cannot be read"),
            "{err}"
        );
    }
}
