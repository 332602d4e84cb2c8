//! The one list of routes: it builds both the app and the OpenAPI document, so a handler that is
//! served is documented and a documented operation is served. The security each operation
//! declares here is what [`crate::auth::authorize`] enforces.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{clients, token};
use crate::{areas, audit, meta, municipalities, plans};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/v1")
            .service(meta::api_info)
            .service(meta::openapi_document)
            .service(token::token)
            .service(municipalities::list_municipalities)
            .service(municipalities::get_municipality)
            .service(municipalities::update_municipality)
            .service(areas::list_areas)
            .service(areas::create_area)
            .service(areas::get_area)
            .service(areas::update_area)
            .service(areas::delete_area)
            .service(plans::list_plans)
            .service(plans::get_plan)
            .service(clients::list_clients)
            .service(clients::create_client)
            .service(clients::get_client)
            .service(clients::disable_client)
            .service(audit::list_audit),
    )
    .service(token::jwks)
    .service(meta::health_live)
    .service(meta::health_ready)
    .service(meta::metrics);
}
