//! The one list of routes: it builds both the app and the OpenAPI document, so a handler that is
//! served is documented and a documented operation is served.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{areas, meta, municipalities, plans};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/v1")
            .service(meta::api_info)
            .service(meta::openapi_document)
            .service(municipalities::list_municipalities)
            .service(municipalities::get_municipality)
            .service(areas::list_areas)
            .service(areas::get_area)
            .service(plans::list_plans)
            .service(plans::get_plan),
    )
    .service(meta::health_live)
    .service(meta::health_ready)
    .service(meta::metrics);
}
