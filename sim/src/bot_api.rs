//! The Bot API endpoint: `/bot<token>/<method>`.
//!
//! Order of checks for a call: token (401), method (404), injected faults (those `after_effect`
//! answer once the call is carried out), rate limits (429),
//! then the method itself. Every call, whatever its fate, lands in the call log.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::model::CallRecord;
use crate::params::{Params, parse_urlencoded};
use crate::server::{DropConnection, Shared};
use crate::world::canonical_method;

fn answer(status: u16, body: &Value) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(header::SERVER, header::HeaderValue::from_static("gatehouse-sim"));
    resp
}

/// Reads query, form, multipart or JSON parameters.
async fn read_params(req: Request) -> Result<Params, ApiError> {
    let mut map = Map::new();
    if let Some(q) = req.uri().query() {
        parse_urlencoded(q.as_bytes(), &mut map);
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut mp =
            Multipart::from_request(req, &()).await.map_err(|_| ApiError::bad_request("can't parse multipart body"))?;
        while let Some(field) =
            mp.next_field().await.map_err(|_| ApiError::bad_request("can't parse multipart body"))?
        {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(|_| ApiError::bad_request("can't parse multipart body"))?;
            let value = match file_name {
                Some(f) => json!({ "file_name": f, "size": data.len() }),
                None => Value::String(String::from_utf8_lossy(&data).into_owned()),
            };
            map.insert(name, value);
        }
        return Ok(Params(map));
    }
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(|_| ApiError::bad_request("can't read request body"))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params(map));
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => map.extend(o),
            _ => return Err(ApiError::bad_request("can't parse JSON object")),
        }
    } else {
        parse_urlencoded(&body, &mut map);
    }
    Ok(Params(map))
}

/// Handles every request that is not under `/sim` or `/stripe`.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
        .map(|(t, m)| (t.to_string(), m.trim_end_matches('/').to_string()))
    else {
        return answer(404, &ApiError::not_found().to_json());
    };
    let params = match read_params(req).await {
        Ok(p) => p,
        Err(e) => return answer(e.code, &e.to_json()),
    };
    let time_ms = shared.clock.now_ms();
    let canonical = canonical_method(&method);
    let log_name = canonical.map_or_else(|| method.clone(), str::to_string);

    // Token, method, fault and rate limit, in one short critical section.
    let (bot_id, fault) = {
        let mut w = shared.world.lock().expect("world lock");
        let bot_id = w.bot_by_token(&token);
        let early = match (bot_id, canonical) {
            (None, _) => Some(ApiError::unauthorized()),
            (Some(_), None) => Some(ApiError::not_found()),
            _ => None,
        };
        if let Some(e) = early {
            w.log_call(CallRecord {
                seq: 0,
                time_ms,
                bot_id,
                method: log_name,
                params: params.as_value(),
                status: e.code,
                response: e.to_json(),
            });
            return answer(e.code, &e.to_json());
        }
        let bot_id = bot_id.expect("checked");
        (bot_id, w.take_fault(bot_id, &log_name, &params))
    };
    let method = canonical.expect("checked");

    if let Some(ms) = fault.as_ref().and_then(|f| f.latency_ms) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(fault) = fault.as_ref().filter(|f| !f.after_effect)
        && let Some(resp) = fault_answer(&shared, fault, bot_id, method, &params, time_ms, true)
    {
        return resp;
    }

    let result = {
        let mut w = shared.world.lock().expect("world lock");
        let now_ms = shared.clock.now_ms();
        let chat = params.str("chat_id").and_then(|c| w.resolve_chat(&c).ok());
        match w.check_rate(bot_id, method, chat, now_ms) {
            Err(retry_after) => {
                w.count_violation(bot_id);
                Err(ApiError::too_many_requests(retry_after))
            }
            Ok(()) if method == "getUpdates" => Ok(None),
            Ok(()) => w.call(bot_id, method, &params, now_ms.div_euclid(1000), now_ms).map(Some),
        }
    };
    let result = match result {
        Ok(None) => get_updates(&shared, bot_id, &params).await,
        Ok(Some(v)) => Ok(v),
        Err(e) => Err(e),
    };
    let (status, body) = match &result {
        Ok(v) => {
            let mut body = json!({ "ok": true, "result": v });
            match method {
                "setWebhook" if !params.str("url").unwrap_or_default().is_empty() => {
                    body["description"] = json!("Webhook was set");
                }
                "setWebhook" | "deleteWebhook" => body["description"] = json!("Webhook was deleted"),
                _ => {}
            }
            (200, body)
        }
        Err(e) => (e.code, e.to_json()),
    };
    let resp = answer(status, &body);
    shared.world.lock().expect("world lock").log_call(CallRecord {
        seq: 0,
        time_ms,
        bot_id: Some(bot_id),
        method: method.to_string(),
        params: params.as_value(),
        status,
        response: body,
    });
    // A fault after the effect: the call was carried out (and logged as it went), the
    // caller gets the fault's answer.
    if let Some(fault) = fault.as_ref().filter(|f| f.after_effect)
        && let Some(faulted) = fault_answer(&shared, fault, bot_id, method, &params, time_ms, false)
    {
        return faulted;
    }
    resp
}

/// The answer a fault gives instead of the call's own (`None`: the fault only delays),
/// logged as the call's when `log` (a call carried out was logged already).
fn fault_answer(
    shared: &Shared,
    fault: &crate::model::Fault,
    bot_id: i64,
    method: &str,
    params: &Params,
    time_ms: i64,
    log: bool,
) -> Option<Response> {
    let (status, body) = if fault.drop_connection {
        (0, Value::Null)
    } else {
        let code = fault.error_code?;
        let e = ApiError {
            code,
            description: fault.description.clone().unwrap_or_else(|| default_description(code, fault.retry_after)),
            retry_after: fault.retry_after,
        };
        (code, e.to_json())
    };
    if log {
        shared.world.lock().expect("world lock").log_call(CallRecord {
            seq: 0,
            time_ms,
            bot_id: Some(bot_id),
            method: method.to_string(),
            params: params.as_value(),
            status,
            response: body.clone(),
        });
    }
    if status == 0 {
        let mut resp = Response::new(Body::empty());
        resp.extensions_mut().insert(DropConnection);
        return Some(resp);
    }
    Some(answer(status, &body))
}

fn default_description(code: u16, retry_after: Option<u64>) -> String {
    match code {
        400 => "Bad Request".into(),
        401 => "Unauthorized".into(),
        403 => "Forbidden".into(),
        404 => "Not Found".into(),
        409 => "Conflict".into(),
        429 => format!("Too Many Requests: retry after {}", retry_after.unwrap_or(1)),
        500 => "Internal Server Error".into(),
        502 => "Bad Gateway".into(),
        n => format!("Error {n}"),
    }
}

/// getUpdates with long polling (`timeout` seconds, at most 50).
async fn get_updates(shared: &Arc<Shared>, bot_id: i64, params: &Params) -> Result<Value, ApiError> {
    let timeout = params.i64("timeout")?.unwrap_or(0).clamp(0, 50) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut first = true;
    loop {
        let changed = {
            let w = shared.world.lock().expect("world lock");
            w.bots.get(&bot_id).map(|b| b.changed.clone())
        };
        let Some(changed) = changed else {
            return Err(ApiError::unauthorized());
        };
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let result = {
            let mut w = shared.world.lock().expect("world lock");
            let now_ms = shared.clock.now_ms();
            let mut p = params.clone();
            if !first {
                p.0.remove("allowed_updates");
            }
            w.call(bot_id, "getUpdates", &p, now_ms.div_euclid(1000), now_ms)?
        };
        first = false;
        let empty = result.as_array().is_none_or(Vec::is_empty);
        if !empty || tokio::time::Instant::now() >= deadline {
            return Ok(result);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
