//! [`RouteLabelLayer`]: `http.route` on the request duration, when the app asks for it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{ready, Context, Poll};

use axum::extract::MatchedPath;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// Labels `http.server.request.duration` with `http.route`, the route template axum matched
/// (`/users/{id}`, never the path itself). Off unless the app adds it, on axum's
/// `Router::route_layer` so that it runs after routing:
///
/// ```
/// use axum::{routing::get, Router};
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "a user" }))
///     .route_layer(twinport::metrics::RouteLabelLayer);
/// ```
///
/// Requests no route matched carry no `http.route`. The routes are the app's, so the label
/// sets stay bounded.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteLabelLayer;

impl<S> Layer<S> for RouteLabelLayer {
    type Service = RouteLabel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteLabel { inner }
    }
}

/// The service [`RouteLabelLayer`] makes.
#[derive(Clone, Debug)]
pub struct RouteLabel<S> {
    inner: S,
}

/// The matched route, handed to the request's metrics in the response's extensions.
#[derive(Clone, Copy, Debug)]
struct Route(&'static str);

impl<S, B, ResBody> Service<Request<B>> for RouteLabel<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| Route(intern(m.as_str())));
        RouteFuture {
            inner: self.inner.call(req),
            route,
        }
    }
}

pin_project! {
    /// The inner service's future, putting the route into its response.
    pub struct RouteFuture<F> {
        #[pin]
        inner: F,
        route: Option<Route>,
    }
}

impl<F, ResBody, E> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx));
        if let (Ok(res), Some(route)) = (&mut res, this.route.take()) {
            res.extensions_mut().insert(route);
        }
        Poll::Ready(res)
    }
}

/// The route a response carries, for the request's metrics.
pub(super) fn matched(extensions: &http::Extensions) -> Option<&'static str> {
    extensions.get::<Route>().map(|r| r.0)
}

/// Each route template once, for the life of the process: they are the app's (a bounded
/// set), and a `&'static str` label costs no allocation per request.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut routes = ROUTES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = routes.get(route) {
        return known;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(leaked);
    leaked
}
