//! The OCPI 2.2.1 Receiver interface (OCPI §8.2.2 Locations, §11.2.2 Tariffs, §9.2.2
//! Sessions, §10.2.2 CDRs) under `/ocpi/2.2.1/receiver`, for registered operators. Every route
//! needs a registered credential (token C) and acts only for that credential's party; the
//! work is `crate::receiver`'s.

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use evfed_spec::ids::{ConnectorId, EvseUid, LocationId, Party, SessionId, TariffId};
use evfed_spec::ocpi::{
    Connector, Evse, Location, OcpiAck, OcpiErrorResponse, OcpiResponse, Tariff,
};
use evfed_spec::time::DateTime;
use serde_json::Value;

use super::OcpiBody;
use super::auth::Registered;
use super::envelope::{Module, OcpiError, SUCCESS, base_url, envelope, without_evfed};
use crate::domain::Error as DomainError;
use crate::domain::records::{LocationKey, Part, TariffKey};
use crate::http::{AppState, blocking};
use crate::receiver::{self, Accepted, SessionKey};

/// Creates or replaces a Location of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_put_location",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    request_body = Location,
    responses(
        (status = 200, description = "OCPI response, status_code 1000", body = OcpiAck),
        (status = 400, description = "OCPI 2001: the body or a path segment is invalid; nothing was written", body = OcpiErrorResponse),
        (status = 401, description = "No valid token C", body = OcpiErrorResponse),
        (status = 403, description = "Another party's path", body = OcpiErrorResponse),
    ),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}")]
pub async fn put_location(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    write_location(state, caller, key, Part::Location, Write::Put, body).await
}

/// Changes members of a Location of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_patch_location",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[patch("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}")]
pub async fn patch_location(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    write_location(state, caller, key, Part::Location, Write::Patch, body).await
}

/// A Location of the credential's party as the node holds it (also when unpublished).
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_get_location",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    responses((status = 200, description = "OCPI response with the Location as the node holds it (also when unpublished), without any `evfed` member", body = OcpiResponse<Location>), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}")]
pub async fn get_location(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    read_location(state, caller, key, Part::Location).await
}

/// Creates or replaces an EVSE of an existing Location of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_put_evse",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path)),
    request_body = Evse,
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn put_evse(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = Part::Evse(segment::<EvseUid>(&uid, "evse_uid")?);
    write_location(state, caller, key, part, Write::Put, body).await
}

/// Changes members of an EVSE; `status` with `last_updated` alone is a status change.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_patch_evse",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[patch("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn patch_evse(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = Part::Evse(segment::<EvseUid>(&uid, "evse_uid")?);
    write_location(state, caller, key, part, Write::Patch, body).await
}

/// An EVSE of a Location of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_get_evse",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path)),
    responses((status = 200, description = "OCPI response with the object as the node holds it, without any `evfed` member", body = OcpiResponse<Evse>), (status = 404, description = "OCPI 2003: unknown location or EVSE", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn get_evse(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = Part::Evse(segment::<EvseUid>(&uid, "evse_uid")?);
    read_location(state, caller, key, part).await
}

/// Creates or replaces a Connector of an existing EVSE of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_put_connector",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)),
    request_body = Connector,
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[put(
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}"
)]
pub async fn put_connector(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = connector_part(&uid, &cid)?;
    write_location(state, caller, key, part, Write::Put, body).await
}

/// Changes members of a Connector.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_patch_connector",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2003: unknown location", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[patch(
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}"
)]
pub async fn patch_connector(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = connector_part(&uid, &cid)?;
    write_location(state, caller, key, part, Write::Patch, body).await
}

/// A Connector of a Location of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_get_connector",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)),
    responses((status = 200, description = "OCPI response with the object as the node holds it, without any `evfed` member", body = OcpiResponse<Connector>), (status = 404, description = "OCPI 2003: unknown location, EVSE or Connector", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[get(
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}"
)]
pub async fn get_connector(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let key = location_key(&cc, &pid, &lid)?;
    let part = connector_part(&uid, &cid)?;
    read_location(state, caller, key, part).await
}

/// Creates or replaces a Tariff of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_put_tariff",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    request_body = Tariff,
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 400, description = "OCPI 2001: the body or a path segment is invalid; nothing was written", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn put_tariff(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, tid) = path.into_inner();
    let key = tariff_key(&cc, &pid, &tid)?;
    let st = state.clone();
    let accepted = run(Module::Tariffs, move || {
        receiver::put_tariff(
            &st.store,
            &st.policy,
            &caller,
            &key,
            &body.0,
            DateTime::now(),
        )
    })
    .await?;
    Ok(accepted_response(&state, &accepted))
}

/// A Tariff of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_get_tariff",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    responses((status = 200, description = "OCPI response with the Tariff, without any `evfed` member", body = OcpiResponse<Tariff>), (status = 404, description = "OCPI 2000: no such Tariff of this party", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn get_tariff(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, tid) = path.into_inner();
    let key = tariff_key(&cc, &pid, &tid)?;
    let what = format!("no tariff {}/{}", key.party, key.id);
    let st = state.clone();
    let body = run(Module::Tariffs, move || {
        receiver::read_tariff(&st.store, &st.policy, &caller, &key)
    })
    .await?;
    found(body, what, Module::Tariffs)
}

/// Removes a Tariff of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_delete_tariff",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    responses((status = 200, description = "OCPI response without data, status_code 1000", body = OcpiAck), (status = 404, description = "OCPI 2000: no such Tariff of this party", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[delete("/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn delete_tariff(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, tid) = path.into_inner();
    let key = tariff_key(&cc, &pid, &tid)?;
    let st = state.clone();
    run(Module::Tariffs, move || {
        receiver::delete_tariff(&st.store, &st.policy, &caller, &key, DateTime::now())
    })
    .await?;
    let accepted = Accepted {
        created: false,
        appended: 1,
        repaired: Vec::new(),
    };
    Ok(accepted_response(&state, &accepted))
}

/// Creates or replaces a Session of the credential's party; it is kept as a usage record
/// without any personal field.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_put_session",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("session_id" = String, Path)),
    request_body(content = serde_json::Value, description = "An OCPI 2.2.1 Session"),
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 400, description = "OCPI 2001: the body or a path segment is invalid; nothing was written", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}")]
pub async fn put_session(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, sid) = path.into_inner();
    let key = session_key(&cc, &pid, &sid)?;
    let st = state.clone();
    let accepted = run(Module::Sessions, move || {
        receiver::put_session(
            &st.store,
            &st.policy,
            &caller,
            &key,
            &body.0,
            DateTime::now(),
        )
    })
    .await?;
    Ok(accepted_response(&state, &accepted))
}

/// Changes members of a Session of the credential's party.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_patch_session",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("session_id" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, description = "OCPI response without data, status_code 1000; status_message names any deviation repaired", body = OcpiAck), (status = 404, description = "OCPI 2000: no such Session of this party", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[patch("/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}")]
pub async fn patch_session(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, sid) = path.into_inner();
    let key = session_key(&cc, &pid, &sid)?;
    let st = state.clone();
    let accepted = run(Module::Sessions, move || {
        receiver::patch_session(
            &st.store,
            &st.policy,
            &caller,
            &key,
            &body.0,
            DateTime::now(),
        )
    })
    .await?;
    Ok(accepted_response(&state, &accepted))
}

/// Receives a CDR of the credential's party; it becomes its session's final usage record,
/// without any personal field. The `Location` header names where it can be read back.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_post_cdr",
    request_body(content = serde_json::Value, description = "An OCPI 2.2.1 CDR"),
    responses(
        (status = 200, description = "OCPI response; header Location", body = OcpiAck),
        (status = 400, description = "OCPI 2001: the body or a path segment is invalid; nothing was written", body = OcpiErrorResponse),
        (status = 409, description = "The CDR was received before with other figures", body = OcpiErrorResponse),
    ),
    security(("ocpi_token" = []))
)]
#[post("/ocpi/2.2.1/receiver/cdrs")]
pub async fn post_cdr(
    state: web::Data<AppState>,
    req: HttpRequest,
    Registered(caller): Registered,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let st = state.clone();
    let accepted = run(Module::Cdrs, move || {
        receiver::post_cdr(&st.store, &st.policy, &caller, &body.0, DateTime::now())
    })
    .await?;
    let mut res = accepted_response(
        &state,
        &Accepted {
            created: accepted.created,
            appended: accepted.appended,
            repaired: accepted.repaired,
        },
    );
    let url = cdr_url(&req, &accepted.party, &accepted.id);
    if let Ok(v) = header::HeaderValue::from_str(&url) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// A received CDR of the credential's party, as the node keeps it (no driver data).
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_receiver_get_cdr",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("cdr_id" = String, Path)),
    responses((status = 200, description = "OCPI response with the CDR as the node keeps it: its id, party, `last_updated`, `start_date_time`, `cdr_location` and figures in CDR member names, without driver data", body = OcpiResponse<evfed_spec::ocpi::KeptCdr>), (status = 404, description = "OCPI 2000: no such CDR of this party", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/receiver/cdrs/{country_code}/{party_id}/{cdr_id}")]
pub async fn get_cdr(
    state: web::Data<AppState>,
    Registered(caller): Registered,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, OcpiError> {
    let (cc, pid, id) = path.into_inner();
    let party = party(&cc, &pid)?;
    let what = format!("no CDR {party}/{id}");
    let st = state.clone();
    let cdr = run(Module::Cdrs, move || {
        receiver::read_cdr(&st.store, &st.policy, &caller, &party, &id)
    })
    .await?;
    match cdr {
        Some(v) => Ok(envelope(
            StatusCode::OK,
            SUCCESS,
            None,
            serde_json::to_value(v).ok(),
        )),
        None => Err(OcpiError::Domain(DomainError::NotFound(what), Module::Cdrs)),
    }
}

#[derive(Debug, Clone, Copy)]
enum Write {
    Put,
    Patch,
}

async fn write_location(
    state: web::Data<AppState>,
    caller: Party,
    key: LocationKey,
    part: Part,
    write: Write,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    let st = state.clone();
    let accepted = run(Module::Locations, move || {
        let (store, policy, now) = (&st.store, &st.policy, DateTime::now());
        match write {
            Write::Put => receiver::put_location(store, policy, &caller, &key, &part, &body.0, now),
            Write::Patch => {
                receiver::patch_location(store, policy, &caller, &key, &part, &body.0, now)
            }
        }
    })
    .await?;
    Ok(accepted_response(&state, &accepted))
}

async fn read_location(
    state: web::Data<AppState>,
    caller: Party,
    key: LocationKey,
    part: Part,
) -> Result<HttpResponse, OcpiError> {
    let what = format!("unknown location {}/{}", key.party, key.id);
    let st = state.clone();
    let body = run(Module::Locations, move || {
        receiver::read_location(&st.store, &st.policy, &caller, &key, &part)
    })
    .await?;
    found(body, what, Module::Locations)
}

/// Runs `f` off the executor; its refusals are `module`'s.
async fn run<T: Send + 'static>(
    module: Module,
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, OcpiError> {
    match blocking(move || Ok(f())).await? {
        Ok(v) => Ok(v),
        Err(e) => Err(OcpiError::Domain(e, module)),
    }
}

/// `200` with the stored object, or OCPI's "unknown" answer.
fn found(body: Option<Vec<u8>>, what: String, module: Module) -> Result<HttpResponse, OcpiError> {
    let Some(body) = body else {
        return Err(OcpiError::Domain(DomainError::NotFound(what), module));
    };
    let mut value: Value = serde_json::from_slice(&body)
        .map_err(|e| OcpiError::Domain(DomainError::Corrupt(e.to_string()), module))?;
    without_evfed(&mut value);
    Ok(envelope(StatusCode::OK, SUCCESS, None, Some(value)))
}

/// Counts the entries and answers OCPI success, naming the deviations repaired.
fn accepted_response(state: &AppState, accepted: &Accepted) -> HttpResponse {
    state
        .metrics
        .entries_appended
        .fetch_add(accepted.appended, Ordering::Relaxed);
    let message = if accepted.repaired.is_empty() {
        "Success".to_owned()
    } else {
        let names: Vec<&str> = accepted.repaired.iter().map(|d| d.as_str()).collect();
        format!("Success; repaired: {}", names.join(", "))
    };
    envelope(StatusCode::OK, SUCCESS, Some(message), None)
}

fn cdr_url(req: &HttpRequest, party: &Party, id: &str) -> String {
    let mut url = format!(
        "{}/ocpi/2.2.1/receiver/cdrs/{}/{}/",
        base_url(req),
        party.country_code,
        party.party_id
    );
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn party(cc: &str, pid: &str) -> Result<Party, OcpiError> {
    format!("{cc}*{pid}")
        .parse()
        .map_err(|e| OcpiError::InvalidParameters(format!("country_code/party_id: {e}")))
}

fn segment<T: TryFrom<String>>(s: &str, name: &str) -> Result<T, OcpiError> {
    T::try_from(s.to_owned())
        .map_err(|_| OcpiError::InvalidParameters(format!("{name}: {s:?} is not a valid {name}")))
}

fn location_key(cc: &str, pid: &str, lid: &str) -> Result<LocationKey, OcpiError> {
    Ok(LocationKey {
        party: party(cc, pid)?,
        id: segment::<LocationId>(lid, "location_id")?,
    })
}

fn connector_part(uid: &str, cid: &str) -> Result<Part, OcpiError> {
    Ok(Part::Connector(
        segment::<EvseUid>(uid, "evse_uid")?,
        segment::<ConnectorId>(cid, "connector_id")?,
    ))
}

fn tariff_key(cc: &str, pid: &str, tid: &str) -> Result<TariffKey, OcpiError> {
    Ok(TariffKey {
        party: party(cc, pid)?,
        id: segment::<TariffId>(tid, "tariff_id")?,
    })
}

fn session_key(cc: &str, pid: &str, sid: &str) -> Result<SessionKey, OcpiError> {
    Ok(SessionKey {
        party: party(cc, pid)?,
        id: segment::<SessionId>(sid, "session_id")?,
    })
}
