//! HTTP face: `POST /api/forecast`, `GET /api/forecast/model`, and the `GET /forecast` page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::model::{ForecastModel, DEFAULT_K};
use super::schema::{Location, Nature, PlannedEventInput, Sector};
use super::InputIssue;

/// Largest `k` accepted over HTTP.
pub const MAX_K: u64 = 100;

#[derive(Clone)]
struct ForecastState {
    model: Option<Arc<ForecastModel>>,
}

/// The forecast routes, state applied:
///
/// * `POST /api/forecast`: JSON body with the planned event's fields (as in the TOML file) and an
///   optional `k`; answers the forecast as JSON, 400 with the reasons for a bad event, 503 when no
///   model is loaded.
/// * `GET /api/forecast/model`: how the model was trained (options, OOB R², importances).
/// * `GET /forecast`: a self-contained page with a form that posts to `/api/forecast`.
pub fn router(model: Option<Arc<ForecastModel>>) -> Router {
    Router::new()
        .route("/api/forecast", post(post_forecast))
        .route("/api/forecast/model", get(get_model))
        .route("/forecast", get(page))
        .with_state(ForecastState { model })
}

fn no_model() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "error": "no forecast model is loaded: train one with `vigie forecast train --events past.csv --out model.json` and start the server with it"
        })),
    )
        .into_response()
}

fn bad_request(issues: Vec<InputIssue>) -> Response {
    let error = issues
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "issues": issues })),
    )
        .into_response()
}

fn input_issue(column: Option<&str>, reason: String) -> InputIssue {
    InputIssue {
        line: 0,
        column: column.map(str::to_string),
        reason,
    }
}

async fn post_forecast(
    State(state): State<ForecastState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A body over the limit (413) or unreadable: JSON like every other error.
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let error = format!("cannot read the body: {}", e.body_text());
            return (e.status(), Json(json!({ "error": error }))).into_response();
        }
    };
    let Some(model) = state.model else {
        return no_model();
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(vec![input_issue(None, format!("body is not JSON: {e}"))]),
    };
    let Some(obj) = value.as_object_mut() else {
        return bad_request(vec![input_issue(
            None,
            "body must be a JSON object with the planned event's fields".into(),
        )]);
    };
    let k = match obj.remove("k") {
        None | Some(serde_json::Value::Null) => DEFAULT_K,
        Some(v) => match v.as_u64() {
            Some(k) if (1..=MAX_K).contains(&k) => k as usize,
            _ => {
                return bad_request(vec![input_issue(
                    Some("k"),
                    format!("k must be a whole number within 1..={MAX_K}, got {v}"),
                )])
            }
        },
    };
    let input: PlannedEventInput = match serde_json::from_value(value) {
        Ok(i) => i,
        Err(e) => return bad_request(vec![input_issue(None, e.to_string())]),
    };
    let event = match input.validate() {
        Ok(e) => e,
        Err(issues) => return bad_request(issues),
    };
    match tokio::task::spawn_blocking(move || model.predict(&event, k)).await {
        Ok(forecast) => Json(forecast).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("forecast failed: {e}") })),
        )
            .into_response(),
    }
}

async fn get_model(State(state): State<ForecastState>) -> Response {
    match state.model {
        Some(m) => Json(m.summary()).into_response(),
        None => no_model(),
    }
}

fn options<T: std::fmt::Display>(all: &[T], selected: &str) -> String {
    all.iter()
        .map(|c| {
            let c = c.to_string();
            let sel = if c == selected { " selected" } else { "" };
            format!("<option value=\"{c}\"{sel}>{c}</option>")
        })
        .collect()
}

async fn page() -> Response {
    let html = PAGE
        .replace("{{NATURES}}", &options(Nature::ALL, "demonstration"))
        .replace("{{SECTORS}}", &options(Sector::ALL, "centre"))
        .replace("{{LOCATIONS}}", &options(Location::ALL, "street"));
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigie — planned-event forecast</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
form{display:grid;grid-template-columns:repeat(auto-fill,minmax(14em,1fr));gap:.6em 1em;align-items:end}
label{display:flex;flex-direction:column;font-size:.85em;gap:.2em}
input,select,button{font:inherit;padding:.3em}
table{border-collapse:collapse;margin-top:.5em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f2f2f2}td.l{text-align:left}.score{font-size:2em;font-weight:bold}
.err{color:#a00;white-space:pre-wrap}.muted{color:#666;font-size:.85em}
.bar{background:#4a7bd0;height:.8em;display:inline-block}
</style></head><body>
<h1>Planned-event risk forecast</h1>
<p class="muted">The past events most similar to the planned one (random-forest proximity) and their scores, transferred to it. Only event-level factors: no personal data.</p>
<form id="f">
<label>Label (id)<input name="id" value="planned" pattern="[A-Za-z0-9_.:/-]{1,64}"></label>
<label>Date<input name="date" type="date" required></label>
<label>Nature<select name="nature">{{NATURES}}</select></label>
<label>Location (venue)<select name="location">{{LOCATIONS}}</select></label>
<label>Sector<select name="sector">{{SECTORS}}</select></label>
<label>Participants<input name="participants" type="number" min="0" step="1" value="5000" required></label>
<label>Footprint (m²)<input name="footprint_m2" type="number" min="1" step="any" value="20000" required></label>
<label>Duration (h)<input name="duration_h" type="number" min="0.1" step="any" value="3" required></label>
<label>Similar events (k)<input name="k" type="number" min="1" max="100" value="10"></label>
<button type="submit">Forecast</button>
</form>
<div id="out"></div>
<h2>Model</h2><div id="model" class="muted">…</div>
<script>
const $=s=>document.querySelector(s);
const esc=s=>String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const d=new Date();d.setDate(d.getDate()+7);$('input[name=date]').value=d.toISOString().slice(0,10);
$('#f').addEventListener('submit',async ev=>{
  ev.preventDefault();
  const fd=new FormData(ev.target);const b={};
  for(const [k,v] of fd){ if(v==='')continue;
    b[k]=['participants','k'].includes(k)?parseInt(v,10):['footprint_m2','duration_h'].includes(k)?parseFloat(v):v; }
  const out=$('#out');out.textContent='…';
  try{
    const r=await fetch('/api/forecast',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(b)});
    const j=await r.json();
    if(!r.ok){out.innerHTML='<p class="err">'+esc(j.error||r.status)+'</p>';return;}
    let h='<h2>Predicted score</h2><div class="score">'+j.score.toFixed(2)+'</div>';
    h+='<p class="muted">transferred from the '+j.neighbours.length+' most similar past events; forest prediction '+j.forest_score.toFixed(2)+'</p>';
    h+='<h2>Most similar past events</h2><table><tr><th>#</th><th>id</th><th>date</th><th>similarity</th><th>weight</th><th>score</th><th>nature</th><th>location</th><th>sector</th><th>participants</th><th>m²</th><th>h</th></tr>';
    for(const n of j.neighbours){h+='<tr><td>'+n.rank+'</td><td class="l">'+esc(n.id)+'</td><td>'+esc(n.date||'')+'</td><td>'+n.similarity.toFixed(3)+'</td><td>'+n.weight.toFixed(3)+'</td><td>'+n.score.toFixed(1)+'</td><td class="l">'+esc(n.nature)+'</td><td class="l">'+esc(n.location)+'</td><td class="l">'+esc(n.sector)+'</td><td>'+n.participants+'</td><td>'+n.footprint_m2+'</td><td>'+n.duration_h+'</td></tr>';}
    h+='</table><h2>Factors that weigh most</h2><table><tr><th>factor</th><th>weight</th><th></th></tr>';
    for(const i of j.importances){h+='<tr><td class="l">'+esc(i.factor)+'</td><td>'+i.weight.toFixed(3)+'</td><td class="l"><span class="bar" style="width:'+(i.weight*20).toFixed(1)+'em"></span></td></tr>';}
    out.innerHTML=h+'</table>';
  }catch(e){out.innerHTML='<p class="err">'+esc(e)+'</p>';}
});
fetch('/api/forecast/model').then(r=>r.json()).then(j=>{
  if(!j.training){$('#model').textContent=j.error||'no model';return;}
  const t=j.training,o=t.options;
  $('#model').textContent=t.forest+': '+o.n_trees+' trees, min_samples_leaf '+o.min_samples_leaf+', max_features '+o.max_features+', max_depth '+(o.max_depth??'unlimited')+', seed '+o.seed+'; '+t.n_events+' past events; out-of-bag R² '+(t.oob_r2==null?'n/a':t.oob_r2.toFixed(3))+'; trained '+t.trained_at;
}).catch(e=>{$('#model').textContent=String(e)});
</script></body></html>
"##;
