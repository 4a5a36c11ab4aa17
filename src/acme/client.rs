//! The HTTPS client instant-acme talks to the CA with, on twinport's crypto provider: its own
//! default client would ask rustls for the process-wide provider, which an application with
//! both ring and aws-lc-rs compiled in does not have.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{AccountBuilder, BodyWrapper};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use super::AcmeError;
use crate::tls::{CaRoots, TlsError};

/// An account builder whose HTTPS trusts `ca_root` (a PEM file) if given, else the platform's
/// roots, with `provider` for every handshake.
pub(super) fn account_builder(
    ca_root: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<AccountBuilder, AcmeError> {
    let builder = HttpsConnectorBuilder::new();
    let builder = match ca_root {
        Some(path) => builder.with_tls_config(with_root(path, provider)?),
        None => builder
            .with_provider_and_platform_verifier(provider.clone())
            .map_err(AcmeError::PlatformRoots)?,
    };
    let connector = builder.https_only().enable_http1().enable_http2().build();
    let client: Client<_, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(instant_acme::Account::builder_with_http(Box::new(client)))
}

fn with_root(path: &Path, provider: &Arc<CryptoProvider>) -> Result<ClientConfig, AcmeError> {
    let roots = CaRoots::from_pem_file(path)?;
    let store = RootCertStore::clone(&roots.store());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(config)
}
