//! Usage analytics for `usage:read` tokens: figures, trends and saturation.

use actix_web::{HttpRequest, HttpResponse, get, web};
use evfed_spec::problem::Problem;

use super::view::key_of;
use super::{ApiError, AppState, UsageReader, blocking};
use crate::store::Store;

/// Most periods × areas one usage answer holds; a longer answer asks for a coarser bucket.
const MAX_FIGURES: usize = 50_000;

/// The query `query` asks for; `None` when it leaves `from` to the first data and there is
/// none before `to`: an empty answer, not a range that ends before it starts.
fn usage_query(query: &str, store: &Store) -> Result<Option<crate::usage::Query>, ApiError> {
    use crate::usage::{Area, Bucket, Query, parse_time};
    let mut q = Query {
        from_ms: i64::MIN,
        to_ms: crate::commands::unix_ms(),
        bucket: Bucket::Day,
        area: Area::Borough,
        borough: None,
        ward: None,
    };
    let mut from = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let time = |v: &str| {
            parse_time(v).ok_or_else(|| {
                ApiError::query(format!(
                    "{k}={v:?} is not an RFC 3339 time or a YYYY-MM-DD date"
                ))
            })
        };
        match k.as_ref() {
            "from" => from = Some(time(&v)?),
            "to" => q.to_ms = time(&v)?,
            "by" => {
                q.bucket = match v.as_ref() {
                    "hour" => Bucket::Hour,
                    "day" => Bucket::Day,
                    "month" => Bucket::Month,
                    _ => return Err(ApiError::query("by is hour, day or month")),
                }
            }
            "area" => {
                q.area = match v.as_ref() {
                    "borough" => Area::Borough,
                    "ward" => Area::Ward,
                    "london" => Area::London,
                    _ => return Err(ApiError::query("area is borough, ward or london")),
                }
            }
            "borough" => q.borough = Some(v.into_owned()),
            "ward" => q.ward = Some(v.into_owned()),
            other => return Err(ApiError::query(format!("unknown parameter {other:?}"))),
        }
    }
    q.from_ms = match from {
        Some(f) => f,
        // From the first data: monthly trends have no cap.
        None => match crate::usage::extent(store)? {
            Some((first, _)) if first < q.to_ms => first,
            _ => return Ok(None),
        },
    };
    if q.from_ms >= q.to_ms {
        return Err(ApiError::query("from must be before to"));
    }
    Ok(Some(q))
}

async fn usage_answer(
    state: web::Data<AppState>,
    _reader: UsageReader,
    query: String,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let figures = blocking(move || {
        let Some(q) = usage_query(&query, &st.store)? else {
            return Ok(Vec::new());
        };
        let counts = st.london.evses_by_area();
        let figures = crate::usage::figures(&st.store, &q, &|area| {
            counts.get(area).copied().unwrap_or(0)
        })?;
        if figures.len() > MAX_FIGURES {
            return Err(ApiError::query(format!(
                "{} figures is more than {MAX_FIGURES}: ask for a shorter range or a coarser `by`",
                figures.len()
            )));
        }
        Ok(figures)
    })
    .await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// Sessions, kWh and utilisation by borough or ward per hour, day or month over any range
/// (scope `usage:read`). Without `from`, from the first data.
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD; default: the first data"),
        ("to" = Option<String>, Query, description = "exclusive; default: now"),
        ("by" = Option<String>, Query, description = "hour, day (default) or month"),
        ("area" = Option<String>, Query, description = "borough (default), ward or london"),
        ("borough" = Option<String>, Query),
        ("ward" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<crate::usage::Figure>),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/usage")]
pub async fn usage_stats(
    state: web::Data<AppState>,
    reader: UsageReader,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    usage_answer(state, reader, req.query_string().to_owned()).await
}

/// Monthly trends by borough since the first data (scope `usage:read`).
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    responses((status = 200, body = Vec<crate::usage::Figure>),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/usage/trends")]
pub async fn usage_trends(
    state: web::Data<AppState>,
    reader: UsageReader,
) -> Result<HttpResponse, ApiError> {
    usage_answer(state, reader, "by=month&area=borough".to_owned()).await
}

/// Share of the range during which every EVSE of the location was busy (scope `usage:read`).
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path),
           ("from" = Option<String>, Query, description = "default: 30 days before `to`"),
           ("to" = Option<String>, Query, description = "exclusive; default: now")),
    responses((status = 200, body = crate::usage::Saturation),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations/{country_code}/{party_id}/{location_id}/saturation")]
pub async fn saturation(
    state: web::Data<AppState>,
    _reader: UsageReader,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&path);
    let Some(served) = state.london.get(&key).into_iter().next() else {
        return Err(ApiError::not_found(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    };
    let mut to = crate::commands::unix_ms();
    let mut from = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let t = crate::usage::parse_time(&v)
            .ok_or_else(|| ApiError::query(format!("{k}={v:?} is not a time or a date")))?;
        match k.as_ref() {
            "from" => from = Some(t),
            "to" => to = t,
            other => return Err(ApiError::query(format!("unknown parameter {other:?}"))),
        }
    }
    let from = from.unwrap_or(to - 30 * 24 * crate::store::HOUR_MS);
    if from >= to {
        return Err(ApiError::query("from must be before to"));
    }
    let evses = served.location.evses.len();
    let st = state.clone();
    let found = blocking(move || {
        Ok(crate::usage::saturation(
            &st.store, &key.0, &key.1, evses, from, to,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}
