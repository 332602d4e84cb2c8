//! Wiring: the state shared by all workers, the app (routes, extractor configuration,
//! middleware, fallback, docs page) and the HTTP server.

pub mod cli;
pub mod context;
pub mod doctor;
pub mod examples;
pub mod meta;
pub mod openapi;
pub mod problems;
pub mod routes;
pub mod terms;
pub mod transfer;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::app::context::RequestTimeout;
use crate::app::meta::OpenApiJson;
use crate::auth::keys::SigningKeys;
use crate::auth::routes::{RouteTable, fallback};
use crate::auth::{self, Authenticator};
use crate::config::Config;
use crate::http;
use crate::http::metrics::Metrics;
use crate::integration::changes::{ChangeNotifier, FeedSettings};
use crate::integration::idempotency;
use crate::store::db::Db;

/// Largest body accepted by actix's own extractors (ours enforce their own, lower, limits).
pub const JSON_LIMIT: usize = http::JSON_BODY_LIMIT;

/// Everything the workers share. Nothing here changes an answer: the data lives in PostgreSQL.
#[derive(Clone)]
pub struct AppState {
    db: Db,
    metrics: web::Data<Metrics>,
    openapi: web::Data<OpenApiJson>,
    routes: web::Data<RouteTable>,
    timeout: web::Data<RequestTimeout>,
    auth: web::Data<Authenticator>,
    notifier: web::Data<ChangeNotifier>,
    feed: web::Data<FeedSettings>,
    imports: web::Data<crate::config::ImportLimits>,
    row_checks: web::Data<crate::integration::imports::RowChecks>,
    vocabularies: web::Data<crate::rules::labels::Vocabularies>,
    open: web::Data<crate::http::ratelimit::OpenRequests>,
    cors: web::Data<crate::auth::cors::CorsOrigins>,
    public_url: web::Data<http::PublicUrl>,
    webhooks: web::Data<crate::config::WebhookSettings>,
}

impl AppState {
    /// Fails when the route list declares an operation the gate could not enforce.
    pub fn new(db: Db, config: &Config, keys: SigningKeys) -> anyhow::Result<Self> {
        let doc = openapi::served(openapi::Installation::of(config));
        let body = openapi::to_pretty_json(&doc);
        let etag = http::content_etag(body.as_bytes());
        Ok(Self {
            auth: web::Data::new(Authenticator::new(
                keys,
                config.jwt.clone(),
                config.rate_limits,
                config.trusted_proxies.clone(),
                &config.oidc,
                db.clone(),
            )),
            notifier: web::Data::new(ChangeNotifier::new(db.url())),
            imports: web::Data::new(config.imports),
            cors: web::Data::new(crate::auth::cors::CorsOrigins(config.cors_origins.clone())),
            public_url: web::Data::new(http::PublicUrl(config.public_url.clone())),
            row_checks: web::Data::new(crate::resources::row_checks()),
            vocabularies: web::Data::new(crate::resources::VOCABULARIES),
            open: web::Data::new(crate::http::ratelimit::OpenRequests::new(
                config.open_limits,
                config.pool.max_size,
                config.pool.timeout,
            )),
            feed: web::Data::new(FeedSettings {
                tombstone_retention: config.tombstone_retention,
                types: crate::resources::feed_types(),
            }),
            db,
            metrics: web::Data::new(Metrics::new()),
            routes: web::Data::new(RouteTable::from_openapi(&doc).map_err(|e| {
                anyhow::anyhow!("the route table refuses the OpenAPI document: {e}")
            })?),
            openapi: web::Data::new(OpenApiJson { body, etag }),
            timeout: web::Data::new(RequestTimeout(config.request_timeout)),
            webhooks: web::Data::new(config.webhooks.clone()),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The webhook dispatcher of this replica (see [`crate::integration::webhooks`]), which
    /// `serve` runs beside the server when `SAMVERKAN_WEBHOOKS` is on.
    pub fn dispatcher(&self) -> crate::integration::webhooks::Dispatcher {
        crate::integration::webhooks::Dispatcher::new(
            self.db.clone(),
            self.webhooks.clone().into_inner(),
            self.metrics.clone().into_inner(),
            self.notifier.clone().into_inner(),
        )
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

/// The complete application, as served and as tested.
pub fn build(
    state: &AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    let (app, _) = App::new()
        .into_utoipa_app()
        .configure(routes::configure)
        .split_for_parts();
    app.app_data(crate::store::db::Unguarded(state.db.clone()))
        .app_data(state.metrics.clone())
        .app_data(state.openapi.clone())
        .app_data(state.routes.clone())
        .app_data(state.timeout.clone())
        .app_data(state.auth.clone())
        .app_data(state.notifier.clone())
        .app_data(state.feed.clone())
        .app_data(state.imports.clone())
        .app_data(state.row_checks.clone())
        .app_data(state.vocabularies.clone())
        .app_data(state.open.clone())
        .app_data(state.cors.clone())
        .app_data(state.public_url.clone())
        .app_data(state.webhooks.clone())
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_LIMIT)
                .error_handler(http::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(http::path_error))
        .app_data(web::PayloadConfig::default().limit(JSON_LIMIT))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/docs/"))
                    .finish()
            }),
        )
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(
                // People sign in from the docs page with the authorization code flow and PKCE
                // (the provider's `openIdConnect` scheme; the client id is typed in the dialog).
                SwaggerConfig::with_oauth_config(
                    ["/v1/openapi.json"],
                    utoipa_swagger_ui::oauth::Config::new()
                        .use_pkce_with_authorization_code_grant(true),
                )
                .validator_url("none")
                .try_it_out_enabled(true)
                .display_operation_id(true),
            ),
        )
        .default_service(web::to(fallback))
        .wrap(from_fn(idempotency::middleware))
        .wrap(from_fn(auth::authorize))
        .wrap(from_fn(context::request_context))
        .wrap(from_fn(auth::cors::middleware))
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// Binds `config.bind` (port 0 picks a free one) and prepares the server: actix's HTTP/1
    /// service over connections read through [`crate::http::front::Guarded`], one app per worker, as
    /// actix-web's `HttpServer` would build it.
    pub fn build(config: &Config, state: AppState) -> anyhow::Result<Self> {
        use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
        let listener = TcpListener::bind(config.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        let state = Arc::new(state);
        let head_timeout = config.open_limits.head_timeout;
        let mut builder = actix_server::Server::build().shutdown_timeout(30);
        let shutdown = builder.graceful_shutdown_signal();
        builder = builder.workers(config.worker_count());
        let server = builder
            .listen("samverkan", listener, move || {
                let shutdown = shutdown.clone();
                let app = build(&state)
                    .into_factory()
                    .map_err(|err: actix_web::Error| err.error_response());
                let http = actix_http::HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let shutdown = shutdown.clone();
                        async move { shutdown.notified().await }
                    })
                    .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(30)))
                    // The head's deadline is Guarded's, which answers it with a problem.
                    .client_request_timeout(Duration::ZERO)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1_allow_half_closed(true)
                    .local_addr(address)
                    .finish(map_config(app, |_| actix_web::dev::AppConfig::default()));
                fn_service(move |io: actix_rt::net::TcpStream| async move {
                    let peer = io.peer_addr().ok();
                    let _ = io.set_nodelay(true);
                    Ok::<_, actix_http::error::DispatchError>((
                        crate::http::front::Guarded::new(io, head_timeout),
                        actix_http::Protocol::Http1,
                        peer,
                    ))
                })
                .and_then(http)
            })?
            .run();
        Ok(Self { server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
