#![allow(clippy::unwrap_used)]
//! What an error reporter shows of twinport's errors: each layer's message once, the cause
//! from `source()`, and a `Debug` (what `fn main() -> Result<(), E>` prints) that reads as
//! the message followed by its causes rather than as the enum's structure.

use std::error::Error;
use std::io;
use std::net::SocketAddr;

use twinport::transport::ErrorChain;
use twinport::{ServeError, ServerTls, TlsError, TransportError};
use twinport_testkit::errors::{assert_cause_once, assert_typed_cause};

/// How many times `needle` is in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_missing_certificate_file_reads_as_the_path_then_the_os_error() {
    let e = ServerTls::from_pem_files("certs/nope.pem", "certs/nope.key").unwrap_err();
    assert!(matches!(e, TlsError::NotFound(..)), "{e}");
    let os = std::fs::read("certs/nope.pem").unwrap_err().to_string();
    assert_cause_once(&e, &os);

    let debug = format!("{e:?}");
    assert_eq!(count(&debug, "certs/nope.pem"), 1, "{debug}");
    assert_eq!(count(&debug, &os), 1, "{debug}");
    assert!(!debug.contains("NotFound("), "{debug}");
    assert_eq!(
        debug,
        format!("certs/nope.pem: file not found\n\nCaused by:\n    {os}")
    );

    // The same through the facade's error, as `main` returning `ServeError` prints it.
    let serve = ServeError::from(e);
    assert_eq!(format!("{serve:?}"), debug);
}

#[test]
fn the_http3_setup_error_keeps_quinn_error_and_its_cause() {
    let addr = SocketAddr::from(([127, 0, 0, 1], 443));
    let os = io::Error::from(io::ErrorKind::AddrInUse);
    let os_text = os.to_string();
    let e = ServeError::Http3(twinport::quic::Error::Bind { addr, source: os });
    assert_eq!(e.to_string(), "cannot set up the HTTP/3 endpoint");
    assert_typed_cause::<twinport::quic::Error>(&e);
    assert_cause_once(&e, &os_text);
    assert_eq!(
        format!("{e:?}"),
        format!(
            "cannot set up the HTTP/3 endpoint\n\nCaused by:\n    0: cannot bind UDP {addr}\n    \
             1: {os_text}"
        )
    );
}

#[test]
fn a_failed_transport_reads_as_its_name_then_its_error() {
    let tls = TlsError::Rustls(twinport::rustls::Error::General("no cipher".into()));
    let e = TransportError::Transport {
        name: "h3",
        source: Box::new(twinport::quic::Error::Tls(tls)),
    };
    assert_eq!(
        format!("{e:?}"),
        "the h3 transport failed\n\nCaused by:\n    0: cannot make the TLS configuration\n    \
         1: TLS configuration refused\n    2: unexpected error: no cipher"
    );
    assert_eq!(
        ErrorChain::new(&e).to_string(),
        "the h3 transport failed: cannot make the TLS configuration: TLS configuration refused: \
         unexpected error: no cipher"
    );
}

#[test]
fn every_public_error_debugs_as_its_chain() {
    let io = || io::Error::other("the cause");
    let errors: Vec<Box<dyn Error>> = vec![
        Box::new(TlsError::Read {
            path: "certs/x.pem".into(),
            source: io(),
        }),
        Box::new(TransportError::Transport {
            name: "tcp",
            source: io().into(),
        }),
        Box::new(ServeError::Io(io())),
        Box::new(twinport::quic::Error::Endpoint(io())),
        Box::new(twinport::tcp::AcceptError::Tls(io())),
        Box::new(twinport::acme::AcmeError::Cache {
            path: "acme".into(),
            source: io(),
        }),
        Box::new(twinport::dev_certs::DevCertsError::Io {
            path: "certs".into(),
            source: io(),
        }),
    ];
    for e in errors {
        let debug = format!("{e:?}");
        assert_eq!(debug, format!("{:?}", ErrorChain::new(&*e)));
        assert_eq!(count(&debug, "the cause"), 1, "{debug}");
        assert!(!debug.contains("Custom {"), "{debug}");
    }
}

#[test]
fn dev_certs_errors_name_the_file_and_keep_the_cause() {
    use twinport::dev_certs::DevCertsError;
    let e = DevCertsError::Io {
        path: "certs/ca.pem".into(),
        source: io::Error::other("disk full"),
    };
    assert!(e.to_string().starts_with("certs/ca.pem: "), "{e}");
    assert_cause_once(&e, "disk full");

    let e = DevCertsError::Generate(rcgen::Error::CouldNotParseKeyPair.into());
    assert_eq!(
        e.to_string(),
        "cannot generate the development certificates"
    );
    assert_typed_cause::<rcgen::Error>(&e);
}
