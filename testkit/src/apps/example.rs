//! The example server's axum app (`examples/serve/app.rs`, compiled here as it is), served
//! by the cross-crate tests beside its WebTransport echo.

#[path = "../../../examples/serve/app.rs"]
mod serve_app;

pub use serve_app::{router, whoami_json, wt_echo, wt_echo_handler};

/// The example's router, serving the page of `examples/app/dist`.
pub fn app() -> axum::Router {
    router(&crate::fs::workspace().join("examples/app/dist"))
}
