//! The example's certificate flags (instead of the development certificates in certs/):
//!
//! - `--cert-dir DIR`: serve `DIR/server.pem` and `DIR/server.key`, reloaded when they change
//!   (a Kubernetes secret mounted at DIR works: its `..data` swap is seen).
//! - `--acme NAME` (repeatable) `--acme-directory URL --acme-cache DIR`: obtain and renew a
//!   certificate for the names by ACME, TLS-ALPN-01 on the TLS port by default;
//!   `--acme-http-port PORT` answers HTTP-01 on that port instead (and redirects other
//!   requests there to https); `--acme-ca-root FILE` trusts a private CA for the directory's
//!   own HTTPS (Pebble's).

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

use twinport::acme::{Acme, AcmeConfig, Challenge};
use twinport::{tls::CertWatcher, Certificates, ServerTls};
use twinport_hyper::Http;

pub const USAGE: &str = "[--cert-dir DIR | --acme NAME... --acme-directory URL --acme-cache DIR \
                         [--acme-ca-root FILE] [--acme-http-port PORT]]";

#[derive(Default)]
pub struct CertArgs {
    cert_dir: Option<PathBuf>,
    acme: Vec<String>,
    directory: Option<String>,
    cache: Option<PathBuf>,
    ca_root: Option<PathBuf>,
    http_port: Option<u16>,
}

/// What must live while the server runs: the file watcher or the ACME client.
pub struct Keep {
    _watcher: Option<CertWatcher>,
    _acme: Option<Acme>,
}

impl CertArgs {
    /// Takes `flag` (and its value) if it is one of these; `Ok(false)` if it is not.
    pub fn parse(
        &mut self,
        flag: &str,
        it: &mut impl Iterator<Item = String>,
    ) -> Result<bool, String> {
        let mut value = |what: &str| it.next().ok_or(format!("{flag} needs {what}"));
        match flag {
            "--cert-dir" => self.cert_dir = Some(value("a directory")?.into()),
            "--acme" => self.acme.push(value("a host name")?),
            "--acme-directory" => self.directory = Some(value("the ACME directory URL")?),
            "--acme-cache" => self.cache = Some(value("a directory")?.into()),
            "--acme-ca-root" => self.ca_root = Some(value("a PEM file")?.into()),
            "--acme-http-port" => {
                let v = value("a port")?;
                let port = v
                    .parse()
                    .map_err(|e| format!("--acme-http-port {v:?}: {e}"))?;
                self.http_port = Some(port);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The certificates the flags ask for, `None` for the development certificates.
    pub async fn server_tls(
        &self,
        addr: SocketAddr,
    ) -> Result<Option<(ServerTls, Keep)>, Box<dyn Error>> {
        if let Some(dir) = &self.cert_dir {
            if !self.acme.is_empty() {
                return Err("--cert-dir and --acme exclude each other".into());
            }
            let certs = Certificates::builder()
                .default_pem_files(dir.join("server.pem"), dir.join("server.key"))
                .build()?;
            let watcher = certs.watch()?;
            eprintln!(
                "serving {}/server.pem, reloaded when it changes",
                dir.display()
            );
            return Ok(Some((
                ServerTls::from_certificates(&certs),
                Keep {
                    _watcher: Some(watcher),
                    _acme: None,
                },
            )));
        }
        if self.acme.is_empty() {
            return Ok(None);
        }
        let directory = self
            .directory
            .as_ref()
            .ok_or("--acme needs --acme-directory URL")?;
        let cache = self.cache.as_ref().ok_or("--acme needs --acme-cache DIR")?;
        let mut config = AcmeConfig::new(&self.acme, directory, cache).https_port(addr.port());
        if let Some(root) = &self.ca_root {
            config = config.ca_root(root);
        }
        if self.http_port.is_some() {
            config = config.challenge(Challenge::Http01);
        }
        let acme = config.start()?;
        if let Some(port) = self.http_port {
            let http = Http::bind(SocketAddr::new(addr.ip(), port)).await?;
            eprintln!(
                "HTTP-01 and redirects to https on http://{}",
                http.local_addr()
                    .map_or_else(String::new, |a| a.to_string())
            );
            tokio::spawn(http.serve(acme.http01_service()));
        }
        eprintln!(
            "obtaining a certificate for {:?} from {directory}",
            self.acme
        );
        Ok(Some((
            acme.server_tls(),
            Keep {
                _watcher: None,
                _acme: Some(acme),
            },
        )))
    }
}
