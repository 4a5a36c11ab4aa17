//! The renewal loop: serve the cached certificate, obtain one when there is none or when
//! renewal is due (ARI's window, else two thirds of the lifetime), back off on failure, and
//! never take a certificate away.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{Account, CertificateIdentifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;
use tokio::sync::Notify;

use super::cache::Cache;
use super::http01::Tokens;
use super::order::{account, obtain};
use super::{AcmeConfig, AcmeError};
use crate::connection_info::PeerCertificate;
use crate::error_chain::ErrorChain;
use crate::tls::{load_pem, Certificates, PemSource};

/// How long one attempt (account, order, challenges, issuance) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) struct Ctx {
    pub(super) config: AcmeConfig,
    pub(super) certs: Certificates,
    pub(super) tokens: Tokens,
    pub(super) cache: Cache,
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) renew_now: Arc<Notify>,
}

/// The certificate being served.
pub(super) struct Current {
    leaf: CertificateDer<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// The cached certificate, served now if it is still valid; a bad cache is logged and
/// ignored (a new certificate is obtained).
pub(super) fn start_with_cache(ctx: &Ctx) -> Option<Current> {
    serve_cached(ctx).unwrap_or_else(|e| {
        tracing::warn!(error = %ErrorChain::new(&e), "ACME: the cached certificate cannot be used; obtaining a new one");
        None
    })
}

pub(super) async fn run(ctx: Ctx, mut current: Option<Current>) {
    let mut account: Option<Account> = None;
    let (first, max) = ctx.config.backoff;
    let mut backoff = first;
    let mut wait = match &current {
        Some(c) => renewal_delay(account.as_ref(), c).await,
        None => Duration::ZERO,
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = ctx.renew_now.notified() => tracing::info!(names = ?ctx.config.names, "ACME renewal forced"),
        }
        let attempt = attempt(&ctx, &mut account, current.as_ref());
        let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(AcmeError::Timeout(ATTEMPT_TIMEOUT)),
        };
        match result {
            Ok(new) => {
                backoff = first;
                // Never straight again, whatever the certificate's dates say.
                wait = renewal_delay(account.as_ref(), &new).await.max(first);
                tracing::info!(
                    names = ?ctx.config.names,
                    valid_for = ?remaining(new.not_after),
                    renewal_in = ?wait,
                    "ACME certificate installed"
                );
                current = Some(new);
            }
            Err(e) => {
                // A client that never reached the CA reconnects on the next attempt.
                if matches!(e, AcmeError::Acme(_) | AcmeError::Timeout(_)) && current.is_none() {
                    account = None;
                }
                let serving = current.as_ref().map(|c| remaining(c.not_after));
                tracing::warn!(
                    names = ?ctx.config.names,
                    directory = %ctx.config.directory,
                    error = %ErrorChain::new(&e),
                    retry_in = ?backoff,
                    still_serving_valid_for = ?serving,
                    "ACME: could not obtain a certificate"
                );
                wait = backoff;
                backoff = (backoff * 2).min(max);
            }
        }
    }
}

fn remaining(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// One try: the account if there is none yet, an order, the new certificate installed and
/// cached.
async fn attempt(
    ctx: &Ctx,
    account_slot: &mut Option<Account>,
    current: Option<&Current>,
) -> Result<Current, AcmeError> {
    let acct = match account_slot {
        Some(a) => a.clone(),
        None => {
            let a = account(ctx).await?;
            *account_slot = Some(a.clone());
            a
        }
    };
    // With ARI, the new order says which certificate it replaces (RFC 9773 §5).
    let replaces = match current {
        Some(c) if ari(&acct, c).await.is_some() => CertificateIdentifier::try_from(&c.leaf)
            .ok()
            .map(CertificateIdentifier::into_owned),
        _ => None,
    };
    let (chain, key) = obtain(ctx, &acct, replaces).await?;
    let new = install(ctx, chain.as_bytes(), key.as_bytes(), PemSource::Memory)?;
    ctx.cache.write(&ctx.cache.cert_file(), chain.as_bytes())?;
    ctx.cache.write(&ctx.cache.key_file(), key.as_bytes())?;
    Ok(new)
}

/// Loads a chain and key, serves it for the names, and says when it is valid.
fn install(ctx: &Ctx, chain: &[u8], key: &[u8], src: PemSource) -> Result<Current, AcmeError> {
    let certified = load_pem(chain, src.clone(), key, src, &ctx.provider)?;
    let leaf = certified.cert[0].clone();
    let parsed = PeerCertificate::from_chain(vec![leaf.clone()]).map_err(|e| {
        AcmeError::Tls(crate::TlsError::BadCertificate {
            source_name: PemSource::Memory,
            source: e.into(),
        })
    })?;
    let current = Current {
        leaf,
        not_before: parsed.not_before(),
        not_after: parsed.not_after(),
    };
    if current.not_after <= SystemTime::now() {
        return Err(AcmeError::Expired);
    }
    ctx.certs.insert(&ctx.config.names, Arc::new(certified))?;
    Ok(current)
}

/// The cached certificate, served if it is still valid for the names.
fn serve_cached(ctx: &Ctx) -> Result<Option<Current>, AcmeError> {
    let (cert_file, key_file) = (ctx.cache.cert_file(), ctx.cache.key_file());
    let (Some(chain), Some(key)) = (ctx.cache.read(&cert_file)?, ctx.cache.read(&key_file)?) else {
        return Ok(None);
    };
    let current = install(ctx, &chain, &key, PemSource::File(cert_file.clone()))?;
    tracing::info!(
        cert = %cert_file.display(),
        valid_for = ?remaining(current.not_after),
        "ACME: serving the cached certificate"
    );
    Ok(Some(current))
}

/// ARI's suggested window for this certificate, if the CA offers ARI.
async fn ari(account: &Account, current: &Current) -> Option<(SystemTime, SystemTime)> {
    let id = CertificateIdentifier::try_from(&current.leaf).ok()?;
    match account.renewal_info(&id).await {
        Ok((info, _)) => Some((
            info.suggested_window.start.into(),
            info.suggested_window.end.into(),
        )),
        Err(instant_acme::Error::Unsupported(_)) => None,
        Err(e) => {
            tracing::debug!(error = %ErrorChain::new(&e), "ACME renewal information unavailable");
            None
        }
    }
}

/// How long until renewal: a point in ARI's window, else two thirds into the lifetime.
async fn renewal_delay(account: Option<&Account>, current: &Current) -> Duration {
    let window = match account {
        Some(a) => ari(a, current).await,
        None => None,
    };
    let at = match window {
        Some((start, end)) => {
            // A point in the window spread by the certificate, so that servers sharing a
            // CA do not all renew at its start.
            let span = end.duration_since(start).unwrap_or_default();
            let spread = current
                .leaf
                .iter()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
            start + span.mul_f64(f64::from(spread % 1000) / 1000.0)
        }
        None => {
            let life = current
                .not_after
                .duration_since(current.not_before)
                .unwrap_or_default();
            current.not_before + life * 2 / 3
        }
    };
    remaining(at)
}
