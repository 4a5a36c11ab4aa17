//! One ACME order: the account (cached or created), the challenges answered, the
//! certificate finalized and downloaded.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};

use super::client::account_builder;
use super::renew::Ctx;
use super::tls_alpn::challenge_certificate;
use super::{AcmeError, Challenge};

/// How long the CA may take to validate, then to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .timeout(Duration::from_secs(90));

/// The account of the cache, or a new one (then cached).
pub(super) async fn account(ctx: &Ctx) -> Result<Account, AcmeError> {
    let builder = account_builder(ctx.config.ca_root.as_deref(), &ctx.provider)?;
    let file = ctx.cache.account_file();
    if let Some(json) = ctx.cache.read(&file)? {
        let credentials =
            serde_json::from_slice(&json).map_err(|source| AcmeError::Credentials {
                path: file.clone(),
                source,
            })?;
        return Ok(builder.from_credentials(credentials).await?);
    }
    let contact: Vec<&str> = ctx.config.contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contact,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder
        .create(&new, ctx.config.directory.clone(), None)
        .await?;
    let json = serde_json::to_vec(&credentials).map_err(|source| AcmeError::Credentials {
        path: file.clone(),
        source,
    })?;
    ctx.cache.write(&file, &json)?;
    tracing::info!(directory = %ctx.config.directory, account = account.id(), "ACME account created");
    Ok(account)
}

/// What has to be undone after an order, whatever its outcome.
enum Answer {
    TlsAlpn(String),
    Token(String),
}

/// Orders a certificate for the configured names: the chain and its key, PEM.
pub(super) async fn obtain(
    ctx: &Ctx,
    account: &Account,
    replaces: Option<instant_acme::CertificateIdentifier<'static>>,
) -> Result<(String, String), AcmeError> {
    let ids: Vec<Identifier> = ctx
        .config
        .names
        .iter()
        .cloned()
        .map(Identifier::Dns)
        .collect();
    let mut new_order = NewOrder::new(&ids);
    if let Some(r) = replaces {
        new_order = new_order.replaces(r);
    }
    let mut order = account.new_order(&new_order).await?;
    let mut answers = Vec::new();
    let result = async {
        answer_challenges(ctx, &mut order, &mut answers).await?;
        let status = order.poll_ready(&POLL).await?;
        if status != OrderStatus::Ready {
            return Err(refusal(&mut order, format!("{status:?}")).await);
        }
        let key_pem = order.finalize().await?;
        let chain_pem = order.poll_certificate(&POLL).await?;
        Ok((chain_pem, key_pem))
    }
    .await;
    for answer in answers {
        match answer {
            Answer::TlsAlpn(name) => ctx.certs.set_challenge(&name, None),
            Answer::Token(token) => ctx.tokens.set(&token, None),
        }
    }
    result
}

async fn answer_challenges(
    ctx: &Ctx,
    order: &mut instant_acme::Order,
    answers: &mut Vec<Answer>,
) -> Result<(), AcmeError> {
    let kind = match ctx.config.challenge {
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        Challenge::Http01 => ChallengeType::Http01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Refused {
                    status: format!("authorization {other:?}"),
                    problems: authz.identifier().to_string(),
                })
            }
        }
        let name = authz.identifier().to_string();
        let mut challenge =
            authz
                .challenge(kind.clone())
                .ok_or_else(|| AcmeError::NoChallenge {
                    name: name.clone(),
                    challenge: ctx.config.challenge.as_str(),
                })?;
        let key_authorization = challenge.key_authorization();
        match ctx.config.challenge {
            Challenge::TlsAlpn01 => {
                let digest = key_authorization.digest();
                let cert = challenge_certificate(&name, digest.as_ref(), &ctx.provider)?;
                ctx.certs.set_challenge(&name, Some(cert));
                answers.push(Answer::TlsAlpn(name.clone()));
            }
            Challenge::Http01 => {
                let token = challenge.token.clone();
                ctx.tokens
                    .set(&token, Some(key_authorization.as_str().to_owned()));
                answers.push(Answer::Token(token));
            }
        }
        tracing::info!(
            name,
            challenge = ctx.config.challenge.as_str(),
            "ACME challenge ready"
        );
        challenge.set_ready().await?;
    }
    Ok(())
}

/// The CA's reasons, per name, for an order that did not become ready.
async fn refusal(order: &mut instant_acme::Order, status: String) -> AcmeError {
    let mut problems = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let name = authz.identifier().to_string();
        if let Ok(state) = authz.refresh().await {
            for c in &state.challenges {
                if let Some(e) = &c.error {
                    problems.push(format!("{name}: {e}"));
                }
            }
        }
    }
    if problems.is_empty() {
        problems.push("no reason given".into());
    }
    AcmeError::Refused {
        status,
        problems: problems.join("; "),
    }
}
