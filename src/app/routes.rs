//! The one list of routes: it builds both the app and the OpenAPI document, so a handler that is
//! served is documented and a documented operation is served. The security each operation
//! declares here is what [`crate::auth::authorize`] enforces.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::meta;
use crate::app::problems;
use crate::app::terms;
use crate::auth::me;
use crate::auth::token;
use crate::integration::audit;
use crate::integration::changes;
use crate::integration::imports;
use crate::kernel::operations::{Create, Delete, Get, List, Update, Upsert};
use crate::reports;
use crate::resources::areas::Area;
use crate::resources::assignments::{self, Assignment};
use crate::resources::clients;
use crate::resources::events::registrations::{self, RegistrationRow};
use crate::resources::events::{Event, calendar};
use crate::resources::feedback::{self, Feedback};
use crate::resources::municipalities::Municipality;
use crate::resources::networks::{self, MemberRow, Network};
use crate::resources::plans::{self, Plan};
use crate::resources::progress::{self, StoredReport};
use crate::resources::webhooks;
use crate::search;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/v1")
            .service(meta::api_info)
            .service(meta::openapi_document)
            .service(token::token)
            .service(me::me)
            .service(List::<Municipality>::new())
            .service(Get::<Municipality>::new())
            .service(Update::<Municipality>::new())
            .service(List::<Area>::new())
            .service(Create::<Area>::new())
            .service(Get::<Area>::new())
            .service(Update::<Area>::new())
            .service(Delete::<Area>::new())
            .service(plans::list_plans)
            .service(Create::<Plan>::new())
            .service(Get::<Plan>::new())
            .service(Update::<Plan>::new())
            .service(clients::list_clients)
            .service(clients::create_client)
            .service(clients::get_client)
            .service(clients::disable_client)
            .service(List::<Network>::new())
            .service(Upsert::<Network>::new())
            .service(Create::<Network>::new())
            .service(Get::<Network>::new())
            .service(Update::<Network>::new())
            .service(Delete::<Network>::new())
            .service(List::<MemberRow>::new())
            .service(Upsert::<MemberRow>::new())
            .service(Create::<MemberRow>::new())
            .service(Get::<MemberRow>::new())
            .service(Update::<MemberRow>::new())
            .service(Delete::<MemberRow>::new())
            .service(networks::erase_member)
            .service(List::<Assignment>::new())
            .service(Upsert::<Assignment>::new())
            .service(Create::<Assignment>::new())
            .service(Get::<Assignment>::new())
            .service(Update::<Assignment>::new())
            .service(Delete::<Assignment>::new())
            .service(assignments::transition_assignment)
            .service(List::<StoredReport>::new())
            .service(Upsert::<StoredReport>::new())
            .service(Create::<StoredReport>::new())
            .service(Get::<StoredReport>::new())
            .service(Update::<StoredReport>::new())
            .service(Delete::<StoredReport>::new())
            .service(progress::list_progress_reports)
            .service(List::<Feedback>::new())
            .service(Upsert::<Feedback>::new())
            .service(Create::<Feedback>::new())
            .service(feedback::feedback_summary)
            .service(Get::<Feedback>::new())
            .service(Update::<Feedback>::new())
            .service(Delete::<Feedback>::new())
            .service(List::<Event>::new())
            .service(Upsert::<Event>::new())
            .service(Create::<Event>::new())
            .service(calendar::get_event_calendar)
            .service(Get::<Event>::new())
            .service(Update::<Event>::new())
            .service(Delete::<Event>::new())
            .service(List::<RegistrationRow>::new())
            .service(Create::<RegistrationRow>::new())
            .service(Get::<RegistrationRow>::new())
            .service(Update::<RegistrationRow>::new())
            .service(Delete::<RegistrationRow>::new())
            .service(registrations::erase_registrations)
            .service(calendar::list_calendar_links)
            .service(calendar::create_calendar_link)
            .service(calendar::revoke_calendar_link)
            .service(calendar::open_calendar_link)
            .service(imports::import)
            .service(imports::import_template)
            .service(reports::get_tertial_report)
            .service(reports::get_annual_report)
            .service(reports::links::list_report_links)
            .service(reports::links::create_report_link)
            .service(reports::links::get_report_link)
            .service(reports::links::revoke_report_link)
            .service(reports::links::open_report_link)
            .service(search::search_everything)
            .service(changes::list_changes)
            .service(webhooks::list_webhooks)
            .service(webhooks::create_webhook)
            .service(webhooks::get_webhook)
            .service(webhooks::update_webhook)
            .service(webhooks::delete_webhook)
            .service(webhooks::test_webhook)
            .service(webhooks::rotate_webhook_secret)
            .service(webhooks::list_webhook_deliveries)
            .service(webhooks::list_webhook_attempts)
            .service(webhooks::redeliver_webhook_events)
            .service(audit::list_audit),
    )
    .service(token::jwks)
    .service(meta::health_live)
    .service(meta::health_ready)
    .service(meta::metrics)
    .service(meta::api_info_at_root)
    .service(problems::list_problem_types)
    .service(problems::get_problem_type)
    .service(terms::get_terms);
}
