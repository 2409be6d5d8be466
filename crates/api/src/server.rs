//! Assembling the router and running it.

use std::future::Future;
use std::net::SocketAddr;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::middleware::{
    docs_problems, method_not_allowed, not_found, panic_response, timeout_error,
};
use crate::request_id::RequestId;
use crate::routes::{audit, devices, groups, health, imports, policies, users};
use crate::routes::{auth as auth_routes, oidc, operators, tokens};
use crate::routes::{cloudflare, events, jobs, lifecycle, notifications};
use crate::AppState;

/// The `/api/v1` routes, each registered with its OpenAPI operation.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(lifecycle::act))
        .routes(routes!(lifecycle::bulk))
        .routes(routes!(lifecycle::user_targets))
        .routes(routes!(lifecycle::targets))
        .routes(routes!(lifecycle::check_targets))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::get, groups::update, groups::delete))
        .routes(routes!(groups::members))
        .routes(routes!(groups::add_member, groups::remove_member))
        .routes(routes!(devices::list, devices::create))
        .routes(routes!(devices::get, devices::update, devices::delete))
        .routes(routes!(policies::list, policies::create))
        .routes(routes!(policies::get, policies::update, policies::delete))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .merge(imports::routes())
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::batch))
        .routes(routes!(jobs::retry_batch))
        .routes(routes!(jobs::ping))
        .routes(routes!(cloudflare::plan))
        .routes(routes!(cloudflare::apply))
        .routes(routes!(cloudflare::purge))
        .routes(routes!(cloudflare::check_certificates))
        .routes(routes!(cloudflare::retry_validation))
        .routes(routes!(notifications::test))
        .routes(routes!(notifications::check_channels))
        .routes(routes!(notifications::deliveries))
        .routes(routes!(events::stream))
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::refresh))
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me))
        .routes(routes!(oidc::providers))
        .routes(routes!(oidc::authorize))
        .routes(routes!(oidc::callback))
        .routes(routes!(operators::list, operators::create))
        .routes(routes!(operators::get, operators::update))
        .routes(routes!(operators::reset_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::get, tokens::revoke))
}

/// The whole application: API, health, docs, and the layers around them.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with extra routes merged in before the layers (used by tests to exercise
/// the layers, e.g. with a handler that panics).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let (api, mut doc) = crate::openapi::server_parts();
    // Health routes live at the root; document them with their real paths.
    let health_doc = OpenApiRouter::<AppState>::new()
        .routes(routes!(health::live))
        .routes(routes!(health::ready));
    let (_, health_paths) = health_doc.split_for_parts();
    for (path, item) in health_paths.paths.paths {
        let mut item = item;
        for op in [&mut item.get].into_iter().flatten() {
            op.servers = Some(vec![utoipa::openapi::Server::new("/")]);
        }
        doc.paths.paths.insert(path, item);
    }
    if let Some(c) = health_paths.components {
        doc.components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(c.schemas);
    }
    crate::openapi::secure(&mut doc);
    crate::openapi::document_if_match(&mut doc);
    crate::openapi::document_body_rules(&mut doc);
    crate::openapi::document_links(&mut doc);
    crate::openapi::unique_operation_ids(&mut doc);
    let layer_state = state.clone();

    crate::metrics::handle();
    let timeout = state.config.request_timeout;
    let api = api
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timeout_error))
                .layer(tower::timeout::TimeoutLayer::new(timeout)),
        )
        .layer(DefaultBodyLimit::max(state.config.body_limit));

    Router::new()
        .nest("/api/v1", api)
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(
            SwaggerUi::new("/docs")
                .external_url_unchecked("/openapi.json", crate::openapi::to_json(&doc)),
        )
        .nest(
            crate::scim::PREFIX,
            crate::scim::router(state.config.body_limit),
        )
        .merge(extra)
        .route_layer(axum::middleware::from_fn_with_state(
            layer_state.clone(),
            crate::auth::middleware::authorize,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::scim::scim_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(docs_problems))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("", MatchedPath::as_str);
            let id = req
                .extensions()
                .get::<RequestId>()
                .map_or("", |r| r.0.as_str());
            tracing::info_span!("request", method = %req.method(), route, request_id = id)
        }))
        .layer(axum::middleware::from_fn_with_state(
            layer_state.clone(),
            crate::auth::rate_limit::per_address,
        ))
        .layer(axum::middleware::from_fn_with_state(
            layer_state.clone(),
            crate::auth::client_addr::resolve,
        ))
        .layer(tower::util::option_layer(crate::auth::headers::cors(
            &layer_state.config.cors_allowed_origins,
        )))
        .layer(axum::middleware::from_fn_with_state(
            layer_state,
            crate::auth::headers::security_headers,
        ))
        .layer(axum::middleware::from_fn(crate::request_limits::enforce))
        .layer(axum::middleware::from_fn(crate::request_id::assign))
}

/// A bound listener with the application, ready to run.
pub struct Server {
    listener: TcpListener,
    app: Router,
    grace: std::time::Duration,
    tls: Option<crate::tls::TlsFiles>,
    /// The application's own shutdown signal (ends event streams at once).
    stopping: tokio_util::sync::CancellationToken,
    connections: crate::ConnectionLimits,
}

impl Server {
    /// Binds the address (use port 0 for an ephemeral port).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(addr: &str, state: AppState) -> std::io::Result<Self> {
        Self::bind_with(addr, state, Router::new()).await
    }

    /// Binds with extra routes (see [`router_with`]).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind_with(
        addr: &str,
        state: AppState,
        extra: Router<AppState>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let grace = state.config.shutdown_grace;
        let stopping = state.shutdown.clone();
        let connections = state.config.connections.clone();
        Ok(Self {
            connections,
            stopping,
            listener,
            app: router_with(state, extra),
            grace,
            tls: None,
        })
    }

    /// Terminates TLS with these files (reloaded when they change) instead of serving plain HTTP.
    #[must_use]
    pub fn with_tls(mut self, files: crate::tls::TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// Binds with an application already assembled around [`router_with`] (the web console
    /// adds its outer layer this way).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind_app(addr: &str, state: AppState, app: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            connections: state.config.connections.clone(),
            stopping: state.shutdown.clone(),
            listener,
            app,
            grace: state.config.shutdown_grace,
            tls: None,
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and gives in-flight requests
    /// the grace period to finish.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = tokio_util::sync::CancellationToken::new();
        let signal = token.clone();
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopping.cancel();
            signal.cancel();
        });
        let tls = match self.tls {
            Some(files) => {
                let (config, loaded) = crate::tls::load(&files).await?;
                tokio::spawn(crate::tls::watch(
                    config.clone(),
                    files,
                    loaded,
                    token.child_token(),
                ));
                Some(config)
            }
            None => None,
        };
        let serve = crate::connections::serve(
            self.listener,
            self.app,
            self.connections,
            tls,
            token.clone(),
        );
        let grace = self.grace;
        tokio::select! {
            () = serve => Ok(()),
            () = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time; closing");
                Ok(())
            }
        }
    }
}
