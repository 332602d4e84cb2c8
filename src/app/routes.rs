//! The one list of routes: it builds both the app and the OpenAPI document, so a handler that is
//! served is documented and a documented operation is served. The security each operation
//! declares here is what [`crate::auth::authorize`] enforces.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::meta;
use crate::auth::token;
use crate::integration::audit;
use crate::integration::changes;
use crate::integration::imports;
use crate::reports;
use crate::resources::areas;
use crate::resources::assignments;
use crate::resources::clients;
use crate::resources::feedback;
use crate::resources::municipalities;
use crate::resources::networks;
use crate::resources::plans;
use crate::resources::progress;

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
            .service(plans::create_plan)
            .service(plans::get_plan)
            .service(plans::update_plan)
            .service(clients::list_clients)
            .service(clients::create_client)
            .service(clients::get_client)
            .service(clients::disable_client)
            .service(networks::list_networks)
            .service(networks::upsert_network)
            .service(networks::create_network)
            .service(networks::get_network)
            .service(networks::update_network)
            .service(networks::delete_network)
            .service(networks::list_members)
            .service(networks::upsert_member)
            .service(networks::create_member)
            .service(networks::get_member)
            .service(networks::update_member)
            .service(networks::delete_member)
            .service(networks::erase_member)
            .service(assignments::list_assignments)
            .service(assignments::upsert_assignment)
            .service(assignments::create_assignment)
            .service(assignments::get_assignment)
            .service(assignments::update_assignment)
            .service(assignments::delete_assignment)
            .service(assignments::transition_assignment)
            .service(progress::list_assignment_reports)
            .service(progress::upsert_report)
            .service(progress::create_report)
            .service(progress::get_report)
            .service(progress::update_report)
            .service(progress::delete_report)
            .service(progress::list_progress_reports)
            .service(feedback::list_feedback)
            .service(feedback::upsert_feedback)
            .service(feedback::create_feedback)
            .service(feedback::feedback_summary)
            .service(feedback::get_feedback)
            .service(feedback::update_feedback)
            .service(feedback::delete_feedback)
            .service(imports::import)
            .service(reports::get_tertial_report)
            .service(reports::get_annual_report)
            .service(changes::list_changes)
            .service(audit::list_audit),
    )
    .service(token::jwks)
    .service(meta::health_live)
    .service(meta::health_ready)
    .service(meta::metrics);
}
