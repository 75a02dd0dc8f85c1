//! The dashboard's API (open, like the London view): figures by area, trends, where more
//! chargepoints are needed, the map's compact points, the area boundaries, and the live feed of
//! status changes as Server-Sent Events.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use evfed_spec::areas::{Area, Level};
use evfed_spec::problem::Problem;
use serde_json::json;

use super::{ApiError, AppState, blocking};
use crate::dashboard::Body;
use crate::domain::areas::AreaFigures;
use crate::domain::live::{Read, StatusEvent};
use crate::domain::places::area_set;
use crate::domain::trends::Period;

/// The query's parameters, refusing unknown ones.
fn params(req: &HttpRequest, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::query(format!(
                "unknown parameter {k:?}; this endpoint takes {}",
                allowed.join(", ")
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn param<'a>(ps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ps.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The area a query names by code or name (`within`: a borough, for ward names that repeat).
fn area_named(text: &str, within: Option<&str>, what: &str) -> Result<&'static Area, ApiError> {
    area_set().find(text, within).map_err(|e| {
        ApiError::query(format!(
            "{what}: {e}; give a code (e.g. E09000007) or a name (e.g. Camden)"
        ))
    })
}

/// A cached JSON body, gzipped when the client takes it, with an `ETag`.
fn cached(req: &HttpRequest, body: &Body, content_type: &str) -> HttpResponse {
    let etag = format!("\"v{}\"", body.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return res.finish();
    }
    res.content_type(content_type);
    if accepts_gzip(req) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(body.gzip.clone())
    } else {
        res.body(body.json.clone())
    }
}

pub(crate) fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// Figures by area: London, every borough, every ward (names, area, census, chargepoints by
/// power class, per km², per resident and per car-owning household, availability now, 30-day
/// usage with small numbers suppressed, reliability, readiness).
#[utoipa::path(tag = "dashboard",
    params(
        ("level" = Option<String>, Query, description = "all, authority (boroughs) or ward; default every level"),
        ("borough" = Option<String>, Query, description = "only this borough and its wards: a code (E09000007) or a name (Camden)"),
    ),
    responses((status = 200, body = Vec<AreaFigures>),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/areas")]
pub async fn areas(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let rows = area_rows(&state, &req).await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// The same figures as CSV, one row per area.
#[utoipa::path(tag = "dashboard",
    params(("level" = Option<String>, Query), ("borough" = Option<String>, Query)),
    responses((status = 200, description = "CSV, one row per area", content_type = "text/csv"),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/areas.csv")]
pub async fn areas_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let rows = area_rows(&state, &req).await?;
    let body = crate::domain::areas::csv(&rows)
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"london-areas.csv\"",
        ))
        .body(body))
}

async fn area_rows(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Vec<AreaFigures>, ApiError> {
    let ps = params(req, &["level", "borough"])?;
    let level = match param(&ps, "level") {
        None => None,
        Some("all") => Some("all"),
        Some("authority" | "borough") => Some("authority"),
        Some("ward") => Some("ward"),
        Some(other) => {
            return Err(ApiError::query(format!(
                "level {other:?}: use all, authority (or borough) or ward"
            )));
        }
    };
    let borough = match param(&ps, "borough") {
        Some(b) => {
            let a = area_named(b, None, "borough")?;
            if a.level != Level::Authority {
                return Err(ApiError::query(format!("{b:?} is a ward, not a borough")));
            }
            Some(a.code.as_str())
        }
        None => None,
    };
    let st = state.clone();
    let all = blocking(move || {
        Ok(st
            .dashboard
            .areas(&st.store, &st.london, crate::commands::unix_ms())?)
    })
    .await?;
    Ok(all
        .iter()
        .filter(|r| level.is_none_or(|l| r.level == l))
        .filter(|r| borough.is_none_or(|b| r.code == b || r.borough.as_deref() == Some(b)))
        .cloned()
        .collect())
}

/// Monthly or quarterly series (EVSEs in service, sessions, kWh, utilisation) for London, a
/// borough or a ward, over all retained history; small numbers suppressed.
#[utoipa::path(tag = "dashboard",
    params(
        ("area" = Option<String>, Query, description = "london (default), or a borough's or ward's code or name"),
        ("borough" = Option<String>, Query, description = "the borough of a ward named by name"),
        ("by" = Option<String>, Query, description = "month (default) or quarter"),
    ),
    responses((status = 200, body = Object, description = "`{area: {code, name, level}, by, min_sessions, points: [TrendPoint]}`"),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/trends")]
pub async fn trends(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ps = params(&req, &["area", "borough", "by"])?;
    let period = match param(&ps, "by") {
        None | Some("month") => Period::Month,
        Some("quarter") => Period::Quarter,
        Some(other) => {
            return Err(ApiError::query(format!(
                "by {other:?}: use month or quarter"
            )));
        }
    };
    let area = match param(&ps, "area") {
        None | Some("london" | "London" | "all") => None,
        Some(text) => Some(area_named(text, param(&ps, "borough"), "area")?),
    };
    let code = area.map_or(crate::domain::areas::ALL, |a| a.code.as_str());
    let st = state.clone();
    let points = blocking(move || {
        Ok(st.dashboard.trends(
            &st.store,
            &st.london,
            code,
            period,
            crate::commands::unix_ms(),
        )?)
    })
    .await?;
    let set = area_set();
    Ok(HttpResponse::Ok().json(json!({
        "area": match area {
            Some(a) => json!({"code": a.code, "name": a.name, "level": a.level.as_str(),
                              "borough": a.parent}),
            None => json!({"code": "all", "name": set.name, "level": "all"}),
        },
        "by": if period == Period::Month { "month" } else { "quarter" },
        "min_sessions": state.dashboard.config.min_sessions,
        "points": points,
    })))
}

/// Wards ranked by pressure on public supply: car-owning households likely without off-street
/// parking per public EVSE, 30-day occupancy, and the share of the ward more than 400 m from an
/// on-street EVSE (`docs/dashboard.md`).
#[utoipa::path(tag = "dashboard",
    params(("borough" = Option<String>, Query, description = "only this borough's wards (code or name); ranks stay London-wide")),
    responses((status = 200, body = Vec<crate::domain::needs::Need>),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/needs")]
pub async fn needs(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(need_rows(&state, &req).await?))
}

/// The ranking as CSV.
#[utoipa::path(tag = "dashboard",
    params(("borough" = Option<String>, Query)),
    responses((status = 200, description = "CSV, one row per ward", content_type = "text/csv"),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/needs.csv")]
pub async fn needs_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let rows = need_rows(&state, &req).await?;
    let body = crate::domain::needs::csv(&rows)
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"london-ward-needs.csv\"",
        ))
        .body(body))
}

async fn need_rows(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Vec<crate::domain::needs::Need>, ApiError> {
    let ps = params(req, &["borough"])?;
    let borough = match param(&ps, "borough") {
        Some(b) => Some(area_named(b, None, "borough")?.code.clone()),
        None => None,
    };
    let st = state.clone();
    let all = blocking(move || {
        Ok(st
            .dashboard
            .needs(&st.store, &st.london, crate::commands::unix_ms())?)
    })
    .await?;
    Ok(all
        .iter()
        .filter(|n| borough.as_ref().is_none_or(|b| &n.borough == b))
        .cloned()
        .collect())
}

/// Every served location as the map needs it, in one compact document (`MapPoints`), made once
/// per change of the London view; `ETag` and gzip.
#[utoipa::path(tag = "dashboard",
    responses((status = 200, body = crate::domain::map::MapPoints, headers(("ETag" = String))),
              (status = 304, description = "unchanged since the ETag sent")))]
#[get("/v1/london/map/points")]
pub async fn map_points(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let body = blocking(move || Ok(st.dashboard.points(&st.london)?)).await?;
    Ok(cached(&req, &body, "application/json"))
}

/// The area set's boundaries: the boroughs (`level` `authority`) and wards as GeoJSON, with
/// their names and codes (London: ONS WD22 wards; OGL, attribution in the page).
#[utoipa::path(tag = "dashboard",
    responses((status = 200, description = "GeoJSON FeatureCollection", content_type = "application/geo+json")))]
#[get("/v1/london/areas/boundaries")]
pub async fn boundaries(req: HttpRequest) -> HttpResponse {
    static BODY: OnceLock<Body> = OnceLock::new();
    let body = BODY
        .get_or_init(|| Body::new(0, crate::domain::places::area_geojson().as_bytes().to_vec()));
    let mut res = cached(&req, body, "application/geo+json");
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// A stream wakes when the view's feed has new changes, and sends a heartbeat after this long
/// without any.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Most events one read of the feed sends (about 5 kB): what a subscriber that lags holds in
/// the server's write buffer, times the number of subscribers, is the stream's memory.
const STREAM_BATCH: usize = 16;

/// Status changes of the London view as Server-Sent Events (`event: status`, `id`: the feed's
/// sequence number, `data`: the change as JSON), filterable by borough, ward and party,
/// resumable with `Last-Event-ID`. A reader further behind than the feed keeps gets
/// `event: reset` and should reload the view. Heartbeats every 15 s.
#[utoipa::path(tag = "dashboard",
    params(
        ("borough" = Option<String>, Query, description = "code or name"),
        ("ward" = Option<String>, Query, description = "code, or name with borough"),
        ("party" = Option<String>, Query, description = "CC*PID"),
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event"),
    ),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = StatusEvent),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/status/stream")]
pub async fn status_stream(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ps = params(&req, &["borough", "ward", "party", "after"])?;
    let borough = param(&ps, "borough")
        .map(|b| area_named(b, None, "borough").map(|a| a.code.as_str()))
        .transpose()?;
    let ward = param(&ps, "ward")
        .map(|w| area_named(w, param(&ps, "borough"), "ward").map(|a| a.code.as_str()))
        .transpose()?;
    let party = param(&ps, "party").map(str::to_owned);
    if let Some(p) = &party
        && p.parse::<evfed_spec::ids::Party>().is_err()
    {
        return Err(ApiError::query(format!(
            "party {p:?}: write it CC*PID, e.g. GB*LPL"
        )));
    }
    let resume = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| param(&ps, "after").map(str::to_owned));
    let after = match resume {
        Some(id) => id
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::query(format!("Last-Event-ID {id:?} is not an event id")))?,
        None => state.london.feed().last(),
    };
    let keep = move |e: &StatusEvent| {
        borough.is_none_or(|b| e.borough == Some(b))
            && ward.is_none_or(|w| e.ward == Some(w))
            && party
                .as_ref()
                .is_none_or(|p| *p == format!("{}*{}", e.country_code, e.party_id))
    };
    let london = state.london.clone();
    let first = web::Bytes::from(format!(
        "retry: 2000\n: evfed status stream from {after}\n\n"
    ));
    struct S {
        after: u64,
        quiet: Duration,
        done: bool,
        first: Option<web::Bytes>,
    }
    let stream = futures_util::stream::unfold(
        S {
            after,
            quiet: Duration::ZERO,
            done: false,
            first: Some(first),
        },
        move |mut s| {
            let london = london.clone();
            let keep = keep.clone();
            async move {
                if let Some(first) = s.first.take() {
                    return Some((Ok::<_, actix_web::Error>(first), s));
                }
                if s.done {
                    return None;
                }
                loop {
                    // Enabled before the read, so a change pushed in between still wakes it.
                    let pushed = london.feed().pushed().notified();
                    tokio::pin!(pushed);
                    pushed.as_mut().enable();
                    match london.feed().read(s.after, STREAM_BATCH, &keep) {
                        Read::Behind => {
                            s.done = true;
                            let last = london.feed().last();
                            return Some((
                                Ok(web::Bytes::from(format!(
                                    "event: reset\nid: {last}\ndata: {{\"reason\":\"the feed no longer holds the changes after this reader's position: reload the view\"}}\n\n"
                                ))),
                                s,
                            ));
                        }
                        Read::Events(events, upto) if !events.is_empty() => {
                            let mut out = String::new();
                            for e in &events {
                                out.push_str(&format!(
                                    "event: status\nid: {}\ndata: {}\n\n",
                                    e.seq,
                                    serde_json::to_string(e).unwrap_or_default()
                                ));
                            }
                            s.after = upto;
                            s.quiet = Duration::ZERO;
                            return Some((Ok(web::Bytes::from(out)), s));
                        }
                        Read::Events(_, upto) => {
                            // A filtered reader moves past what it does not keep.
                            s.after = upto;
                            let waited = std::time::Instant::now();
                            let _ = tokio::time::timeout(HEARTBEAT.saturating_sub(s.quiet), pushed)
                                .await;
                            s.quiet += waited.elapsed();
                            if s.quiet >= HEARTBEAT {
                                s.quiet = Duration::ZERO;
                                return Some((Ok(web::Bytes::from_static(b": heartbeat\n\n")), s));
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache, no-transform"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// One location as the map's panel shows it: the served copy with its borough's and ward's
/// names, its tariffs in words, and where it comes from: each member's copy with the log entry
/// that last changed it, the checkpoint that entry was verified under, and a link to the
/// member's inclusion proof of it.
#[utoipa::path(tag = "dashboard",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    responses((status = 200, body = Object),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations/{country_code}/{party_id}/{location_id}/details")]
pub async fn location_details(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = super::view::key_of(&path);
    let copies = state.london.get(&key);
    let Some(served) = copies.first().cloned() else {
        return Err(ApiError::not_found(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    };
    let st = state.clone();
    let (members, tariffs) = blocking(move || {
        let members = st.store.members()?;
        let mut ids: Vec<String> = served
            .location
            .evses
            .iter()
            .flat_map(|e| &e.connectors)
            .flat_map(|c| &c.tariff_ids)
            .map(|t| t.to_string())
            .collect();
        ids.sort();
        ids.dedup();
        let mut tariffs = Vec::new();
        for id in ids {
            let body = st.store.tariff_copy(&served.origin, &key.0, &id)?;
            let summary = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .map_or_else(
                    || "not published by the source".to_owned(),
                    |t| crate::domain::tariffs::summary(&t),
                );
            tariffs.push(json!({"id": id, "summary": summary}));
        }
        Ok((members, tariffs))
    })
    .await?;
    let set = area_set();
    let name_of = |code: Option<&str>| code.and_then(|c| set.get(c)).map(|a| a.name.clone());
    let served = &copies[0];
    let sources: Vec<serde_json::Value> = copies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let m = members.iter().find(|m| m.origin == c.origin);
            let proof = match (m, c.entry) {
                (Some(m), Some(e)) if m.verified_size > e => Some(format!(
                    "{}/v1/log/proof/inclusion?index={e}&tree_size={}",
                    m.url.trim_end_matches('/'),
                    m.verified_size
                )),
                _ => None,
            };
            json!({
                "origin": c.origin,
                "kind": c.kind,
                "served": i == 0,
                "url": m.map(|m| m.url.clone()),
                "state": m.map(|m| m.state),
                "entry": c.entry,
                "checkpoint": m.and_then(|m| m.checkpoint.as_ref())
                    .map(|n| String::from_utf8_lossy(n).into_owned()),
                "tree_size": m.map(|m| m.verified_size),
                "inclusion_proof": proof,
                "placement": c.placement.to_vec(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "location": served.to_json(),
        "borough": {"code": served.place.borough, "name": name_of(served.place.borough)},
        "ward": {"code": served.place.ward, "name": name_of(served.place.ward)},
        "tariffs": tariffs,
        "sources": sources,
    })))
}

/// What the page needs to know: the area set's name and words (what its authorities are
/// called, where its census figures come from, the attribution its data requires), the
/// basemap and the suppression threshold.
#[utoipa::path(tag = "dashboard", responses((status = 200, body = Object)))]
#[get("/v1/london/dashboard")]
pub async fn dashboard_config(state: web::Data<AppState>) -> HttpResponse {
    let c = &state.dashboard.config;
    let set = area_set();
    HttpResponse::Ok().json(json!({
        "title": format!("{} chargepoints", set.name),
        "area_set": set.name,
        "authorities": set.authorities().count(),
        "wards": set.wards().count(),
        "tile_url": c.tile_url.as_ref().map(|u| u.as_str().replace("%7B", "{").replace("%7D", "}")),
        "tile_attribution": c.tile_attribution,
        "min_sessions": c.min_sessions,
        "authority_label": set.authority_label,
        "authorities_label": set.authorities_label,
        "census_source": set.census_source,
        "needs_note": set.needs_note,
        "attribution": set.attribution,
    }))
}
