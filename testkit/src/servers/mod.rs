//! Test servers on `127.0.0.1:0`: [`start`] (the hardened one, both transports, short
//! timeouts), [`start_example`] (the example's app on both transports), [`serve_http`] (one
//! `twinport_hyper::Http`) and [`serve_http3`] (one `twinport_quinn::Http3`); [`Siege`] (the
//! hardened one under attack, a well-behaved client served and RSS watched meanwhile); [`Both`]
//! (the info app on both transports with one TLS configuration); [`ExampleProcess`] (the example
//! binary, run as a user runs it); [`ServerRuntime`] (a runtime of a server's own).

mod both;
mod example;
mod example_process;
mod hardened;
mod http;
mod http3;
mod runtime;
mod siege;

pub use both::Both;
pub use example::{start_example, start_example_with, Example};
pub use example_process::{example_binary, ExampleProcess};
pub use hardened::{start, Opts, Srv};
pub use http::{plain_server, serve_http, HttpServer};
pub use http3::{serve_http3, serve_http3_with, Http3Server};
pub use runtime::ServerRuntime;
pub use siege::Siege;
