// Vigie operator console. French by default, English on request (every string below is in both).
// Served as a file under the server's Content-Security-Policy: no inline script, nothing loaded
// from elsewhere. Sessions: the cookie is HttpOnly; every write sends the session's CSRF token.
"use strict";
(function () {
  // ---- strings ---------------------------------------------------------------------------------
  const I18N = {
    fr: {
      title: "Vigie — alertes", forecast_link: "Prévision d'événements", logout: "Se déconnecter",
      login_title: "Connexion", login_name: "Identifiant", login_password: "Mot de passe",
      login_submit: "Se connecter", login_failed: "Identifiant ou mot de passe incorrect.",
      login_throttled: "Trop d'échecs de connexion : réessayez dans {s} s.",
      login_unreachable: "Le serveur est injoignable. Réessayez.",
      session_ended: "Votre session a pris fin : reconnectez-vous.",
      logged_out: "Vous êtes déconnecté.",
      live: "En direct", disconnected: "Déconnecté",
      live_banner: "Flux d'alertes en direct interrompu — reconnexion en cours. Les nouvelles alertes apparaîtront dès le retour de la connexion ; aucune n'est perdue.",
      alerts_heading: "Alertes (plus récentes en premier)", no_alerts: "Aucune alerte pour l'instant.",
      more: "Afficher les alertes plus anciennes",
      filter_camera: "Caméra", filter_type: "Type d'événement", filter_state: "État", all: "Tous",
      cameras_heading: "Caméras", cam_col_camera: "Caméra", cam_col_state: "État",
      cam_col_fps: "Img/s", cam_col_dropped: "Perdues",
      fps_title: "images décodées / analysées par seconde",
      dropped_title: "file pleine : {q}, trop anciennes : {o} ; reconnexions : {r}",
      no_cameras: "Aucune caméra configurée.", cameras_unavailable: "État des caméras indisponible (serveur injoignable).",
      reminder: "Le système ne fait que signaler. Chaque décision vous appartient et est enregistrée sous votre compte.",
      readonly: "Lecture seule : le rôle {role} consulte les alertes et ne décide pas.",
      role_operator: "opérateur", role_supervisor: "superviseur", role_auditor: "auditeur", role_admin: "administrateur",
      no_image: "Pas d'image", snapshot_of: "Image de l'alerte {id}",
      image_purged: "Image supprimée le {t} (durée de conservation des images : {days} jours). L'alerte et son journal restent.",
      alerting_stop: "Suspendre les alertes", alerting_resume: "Reprendre les alertes",
      alerting_reason: "Motif de la suspension (obligatoire, journalisé) :",
      alerting_stopped: "ALERTES SUSPENDUES par {by} le {t} : {reason}. Aucune alerte n'est levée ; l'état des caméras reste surveillé.",
      alerting_stopped_camera: "Alertes suspendues sur la caméra {camera} par {by} : {reason}",
      camera_health: "santé caméra", confidence: "confiance", alert_no: "alerte n°{id}", zone: "zone",
      past_image: "L'image est la dernière reçue avant l'alerte, pas une vue en direct.",
      updates: "{n} mise(s) à jour, dernière à {t}",
      st_new: "Nouvelle", st_acknowledged: "Prise en charge", st_confirmed: "Confirmée",
      st_false_alarm: "Fausse alerte", st_closed: "Clôturée",
      rs_shadow_or_reflection: "Ombre ou reflet", rs_animal: "Animal", rs_object: "Objet",
      rs_weather: "Météo", rs_other: "Autre",
      taken_by: "prise en charge par {by} à {t}", decided_by: "{what} par {by} à {t}",
      closed_by: "clôturée par {by} à {t}",
      act_take: "Prendre en charge", act_confirm: "Confirmer", act_false_alarm: "Fausse alerte",
      act_close: "Clôturer", act_release: "Relâcher", act_reopen: "Rouvrir", act_comment: "Commenter",
      act_view: "Voir l'incident",
      dlg_confirm: "Confirmer l'alerte n°{id}", dlg_false_alarm: "Fausse alerte : alerte n°{id}",
      dlg_close: "Clôturer l'alerte n°{id}", dlg_release: "Relâcher l'alerte n°{id}",
      dlg_reopen: "Rouvrir la décision de l'alerte n°{id}", dlg_comment: "Commenter l'alerte n°{id}",
      reason_label: "Motif de la fausse alerte", comment_optional: "Commentaire (facultatif)",
      comment_required: "Commentaire", comment_needed: "Écrivez un commentaire.",
      cancel: "Annuler", save: "Enregistrer",
      saved: "Enregistré : {what}.", not_saved: "Non enregistré : {e}",
      unreachable: "Non enregistré : le serveur est injoignable. Réessayez.",
      conflict_taken: "Déjà prise en charge par {by} à {t}.",
      conflict_decided: "Déjà décidée par {by} ({what}) à {t}.",
      conflict_closed: "Déjà clôturée par {by} à {t}.",
      conflict_other: "Refusé : {e}",
      forbidden: "Refusé : votre rôle ne le permet pas.",
      close_view: "Fermer", incident_title: "Incident n°{id} — {camera}",
      explain_link: "Explication de l'alerte (transparence)", public_link: "Ce que Vigie analyse",
      shadow_link: "Alertes en évaluation", shadow_back: "Retour aux alertes",
      shadow_heading: "Alertes en évaluation : règles en mode évaluation, jamais montrées aux opérateurs",
      shadow_none: "Aucune alerte en évaluation.", shadow_true: "Vraie alerte", shadow_false: "Fausse alerte",
      shadow_verdict: "Jugée « {v} » par {by} à {t}", shadow_unjudged: "Pas encore jugée.",
      shadow_rate: "{camera} / {rule} : {n} alerte(s), {tp} vraie(s), {fp} fausse(s), {u} non jugée(s) — taux de fausses alertes : {share}",
      updates_heading: "Mises à jour", history_heading: "Historique", none: "Aucune.",
      clip_none: "Extrait vidéo : aucun pour cette alerte (flux de la caméra non conservé).",
      clip_pending: "Extrait vidéo en préparation (il attend les secondes après l'alerte)…",
      clip_failed: "Extrait vidéo indisponible : {e}",
      f_camera: "Caméra", f_type: "Type", f_time: "Heure", f_confidence: "Confiance", f_zone: "Zone",
      f_explanation: "Explication", f_status: "État",
      h_take: "prise en charge", h_release: "relâchée", h_confirm: "confirmée", h_false_alarm: "fausse alerte",
      h_close: "clôturée", h_reopen: "rouverte", h_comment: "commentaire",
      journal_changed: "Le journal des alertes du serveur a changé (remplacé ou restauré depuis une sauvegarde) à {t} : la liste a été rechargée depuis le serveur. Les numéros d'alerte vus auparavant peuvent désigner d'autres alertes.",
      cs_live: "en direct", cs_starting: "démarrage", cs_reconnecting: "reconnexion", cs_failed: "en échec",
      cs_stopped: "arrêtée", fault_offline: "HORS LIGNE", fault_frozen: "FIGÉE", fault_obstructed: "OBSTRUÉE",
      fault_title: "Caméra {fault} (flux {state}){age}{err}", last_frame: ", dernière image il y a {s} s",
    },
    en: {
      title: "Vigie — alerts", forecast_link: "Event forecast", logout: "Log out",
      login_title: "Log in", login_name: "Account", login_password: "Password",
      login_submit: "Log in", login_failed: "Wrong account or password.",
      login_throttled: "Too many failed logins: try again in {s} s.",
      login_unreachable: "The server cannot be reached. Try again.",
      session_ended: "Your session has ended: please log in again.",
      logged_out: "You are logged out.",
      live: "Live", disconnected: "Disconnected",
      live_banner: "Live alert stream disconnected — reconnecting. New alerts will appear as soon as the connection is back; none are lost.",
      alerts_heading: "Alerts (newest first)", no_alerts: "No alerts yet.",
      more: "Show older alerts",
      filter_camera: "Camera", filter_type: "Event type", filter_state: "State", all: "All",
      cameras_heading: "Cameras", cam_col_camera: "Camera", cam_col_state: "State",
      cam_col_fps: "FPS", cam_col_dropped: "Dropped",
      fps_title: "decoded / analysed frames per second",
      dropped_title: "queue full: {q}, too old: {o}; reconnects: {r}",
      no_cameras: "No cameras configured.", cameras_unavailable: "Camera status unavailable (server unreachable).",
      reminder: "The system only signals. Every decision is yours and is recorded under your account.",
      readonly: "Read only: the {role} role reviews alerts and does not decide.",
      role_operator: "operator", role_supervisor: "supervisor", role_auditor: "auditor", role_admin: "admin",
      no_image: "No image", snapshot_of: "Snapshot of alert {id}",
      image_purged: "Image deleted on {t} (images are kept {days} days). The alert and its journal entry remain.",
      alerting_stop: "Stop alerting", alerting_resume: "Resume alerting",
      alerting_reason: "Reason for the stop (required, journaled):",
      alerting_stopped: "ALERTING STOPPED by {by} on {t}: {reason}. No alert is raised; camera health is still watched.",
      alerting_stopped_camera: "Alerting stopped on camera {camera} by {by}: {reason}",
      camera_health: "camera health", confidence: "confidence", alert_no: "alert #{id}", zone: "zone",
      past_image: "The image is the last one received before the alert, not a live view.",
      updates: "{n} update(s), last at {t}",
      st_new: "New", st_acknowledged: "Acknowledged", st_confirmed: "Confirmed",
      st_false_alarm: "False alarm", st_closed: "Closed",
      rs_shadow_or_reflection: "Shadow or reflection", rs_animal: "Animal", rs_object: "Object",
      rs_weather: "Weather", rs_other: "Other",
      taken_by: "taken by {by} at {t}", decided_by: "{what} by {by} at {t}",
      closed_by: "closed by {by} at {t}",
      act_take: "Take", act_confirm: "Confirm", act_false_alarm: "False alarm",
      act_close: "Close", act_release: "Release", act_reopen: "Reopen", act_comment: "Comment",
      act_view: "View incident",
      dlg_confirm: "Confirm alert #{id}", dlg_false_alarm: "False alarm: alert #{id}",
      dlg_close: "Close alert #{id}", dlg_release: "Release alert #{id}",
      dlg_reopen: "Reopen the decision on alert #{id}", dlg_comment: "Comment on alert #{id}",
      reason_label: "Why it is a false alarm", comment_optional: "Comment (optional)",
      comment_required: "Comment", comment_needed: "Please write a comment.",
      cancel: "Cancel", save: "Save",
      saved: "Saved: {what}.", not_saved: "Not saved: {e}",
      unreachable: "Not saved: the server cannot be reached. Try again.",
      conflict_taken: "Already taken by {by} at {t}.",
      conflict_decided: "Already decided by {by} ({what}) at {t}.",
      conflict_closed: "Already closed by {by} at {t}.",
      conflict_other: "Refused: {e}",
      forbidden: "Refused: your role does not allow it.",
      close_view: "Close", incident_title: "Incident #{id} — {camera}",
      explain_link: "Alert explanation (transparency)", public_link: "What Vigie analyses",
      shadow_link: "Alerts under evaluation", shadow_back: "Back to alerts",
      shadow_heading: "Alerts under evaluation: rules in shadow mode, never shown to operators",
      shadow_none: "No alert under evaluation.", shadow_true: "True alarm", shadow_false: "False alarm",
      shadow_verdict: "Judged “{v}” by {by} at {t}", shadow_unjudged: "Not judged yet.",
      shadow_rate: "{camera} / {rule}: {n} alert(s), {tp} true, {fp} false, {u} not judged — false-alarm rate: {share}",
      updates_heading: "Updates", history_heading: "History", none: "None.",
      clip_none: "Video clip: none for this alert (the camera's stream is not kept).",
      clip_pending: "Video clip being made (it waits for the seconds after the alert)…",
      clip_failed: "Video clip unavailable: {e}",
      f_camera: "Camera", f_type: "Type", f_time: "Time", f_confidence: "Confidence", f_zone: "Zone",
      f_explanation: "Explanation", f_status: "State",
      h_take: "taken", h_release: "released", h_confirm: "confirmed", h_false_alarm: "false alarm",
      h_close: "closed", h_reopen: "reopened", h_comment: "comment",
      journal_changed: "The alert journal on the server changed (replaced or restored from a backup) at {t}: the alert list was reloaded from the server. Alert numbers seen before this point may refer to other alerts.",
      cs_live: "live", cs_starting: "starting", cs_reconnecting: "reconnecting", cs_failed: "failed",
      cs_stopped: "stopped", fault_offline: "OFFLINE", fault_frozen: "FROZEN", fault_obstructed: "OBSTRUCTED",
      fault_title: "Camera {fault} (stream {state}){age}{err}", last_frame: ", last frame {s} s ago",
    },
  };
  // Event types (the eight of the framework, their variants, and camera faults).
  const EVENT_TYPES = {
    fr: {
      intrusion: "Intrusion en zone interdite", abandoned_object: "Objet abandonné", weapon: "Arme",
      wrong_way: "Circulation à contresens", wrong_way_person: "Piéton à contresens",
      wrong_way_vehicle: "Véhicule à contresens", person_on_ground: "Personne au sol",
      fall: "Personne au sol (chute)", crowd_movement: "Mouvement de foule",
      excessive_density: "Densité excessive", density: "Densité excessive", fire: "Départ de feu",
      fire_start: "Départ de feu", camera_offline: "Caméra hors ligne", camera_frozen: "Image figée",
      camera_obstructed: "Caméra obstruée", camera_restored: "Caméra rétablie",
    },
    en: {
      intrusion: "Intrusion into a forbidden zone", abandoned_object: "Abandoned object", weapon: "Weapon",
      wrong_way: "Wrong way", wrong_way_person: "Person going the wrong way",
      wrong_way_vehicle: "Vehicle going the wrong way", person_on_ground: "Person on the ground",
      fall: "Person on the ground (fall)", crowd_movement: "Crowd movement",
      excessive_density: "Excessive density", density: "Excessive density", fire: "Fire start",
      fire_start: "Fire start", camera_offline: "Camera offline", camera_frozen: "Image frozen",
      camera_obstructed: "Camera obstructed", camera_restored: "Camera restored",
    },
  };
  const STATES = ["new", "acknowledged", "confirmed", "false_alarm", "closed"];
  const REASONS = ["shadow_or_reflection", "animal", "object", "weather", "other"];
  const LANG_KEY = "vigie.lang";
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "fr";

  function t(key, params) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.fr[key] || key;
    if (params) for (const k of Object.keys(params)) s = s.split("{" + k + "}").join(String(params[k]));
    return s;
  }
  function eventLabel(type) { return EVENT_TYPES[lang][type] || type; }
  function stateLabel(status) { return t("st_" + status); }
  function reasonLabel(r) { return t("rs_" + r); }
  function roleLabel(r) { return t("role_" + r); }

  // ---- state -----------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const alertsEl = $("alerts");
  let session = null;        // {account, role, permissions, csrf_token}
  let started = false;       // list loaded and live stream opened once
  let lastId = 0;            // highest alert id received: the resume point of the live stream
  let journalId = null;      // identity of the server's journal the ids above belong to
  let nextBefore = null;     // paging of older alerts
  let source = null;
  let pending = null;        // {id, action} while the step dialog is open
  let shadowShown = false;   // the evaluators' view of shadow alerts is shown instead of the list
  const alerts = new Map();     // alert id -> alert
  const incidents = new Map();  // incident id -> {first, updates: [], card}
  const cameraNames = new Map();

  function can(p) { return !!(session && session.permissions.indexOf(p) >= 0); }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function localTime(ms) {
    return new Date(ms).toLocaleString(lang === "fr" ? "fr-FR" : "en-GB", {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function shortTime(ms) {
    return new Date(ms).toLocaleTimeString(lang === "fr" ? "fr-FR" : "en-GB",
      { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // ---- HTTP ------------------------------------------------------------------------------------
  class Unauthenticated extends Error {}

  // fetch with the CSRF token on writes; a 401 shows the login screen (nothing else is lost).
  async function api(method, url, body) {
    const headers = {};
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (session && session.csrf_token) headers["X-CSRF-Token"] = session.csrf_token;
    }
    const resp = await fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401 && url !== "/api/login") {
      showLogin(session ? t("session_ended") : "");
      throw new Unauthenticated();
    }
    return resp;
  }
  async function json(resp) {
    return resp.json().catch(() => ({ error: "HTTP " + resp.status }));
  }

  // ---- language --------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = lang === "fr" ? "Vigie — console opérateur" : "Vigie — operator console";
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const b of document.querySelectorAll("[data-lang]")) {
      b.classList.toggle("active", b.dataset.lang === lang);
    }
    if (session) showUser();
    if (source) setLive(source.readyState === EventSource.OPEN);
    fillFilters();
    for (const inc of incidents.values()) fillCard(inc);
    refreshCameraLabels();
    if (shadowShown) showShadow(true);
  }
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => {
      lang = b.dataset.lang === "en" ? "en" : "fr";
      localStorage.setItem(LANG_KEY, lang);
      applyLanguage();
    });
  }

  // ---- login -----------------------------------------------------------------------------------
  function showLogin(notice) {
    if (!$("login-screen").hidden) {
      // Already asking (several requests may learn it at once): keep what is being typed.
      if (notice) $("login-notice").textContent = notice;
      return;
    }
    $("app").hidden = true;
    $("user-box").hidden = true;
    $("forecast-link").hidden = true;
    $("public-link").hidden = true;
    $("shadow-link").hidden = true;
    $("live-state").hidden = true;
    $("login-screen").hidden = false;
    $("login-notice").textContent = notice || "";
    $("login-error").textContent = "";
    $("login-password").value = "";
    (session ? $("login-password") : $("login-name")).focus();
  }
  function showUser() {
    $("user-name").textContent = session.account;
    $("user-role").textContent = roleLabel(session.role);
    $("user-box").hidden = false;
    $("forecast-link").hidden = false;
    $("public-link").hidden = false;
    $("shadow-link").hidden = !can("read_shadow");
    $("live-state").hidden = false;
    const note = $("readonly-note");
    note.hidden = can("act") || !can("read_alerts");
    note.textContent = t("readonly", { role: roleLabel(session.role) });
  }
  function enterApp(s) {
    const changedAccount = session && session.account !== s.account;
    session = s;
    $("login-screen").hidden = true;
    $("app").hidden = false;
    showUser();
    if (changedAccount) for (const inc of incidents.values()) fillCard(inc);
    if (!started) { started = true; start(); }
    else if (!source) connect();
  }
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("login-error");
    err.textContent = "";
    $("login-submit").disabled = true;
    try {
      const resp = await api("POST", "/api/login",
        { name: $("login-name").value.trim(), password: $("login-password").value });
      const data = await json(resp);
      if (resp.ok) { $("login-password").value = ""; enterApp(data); }
      else if (resp.status === 429) err.textContent = t("login_throttled", { s: data.retry_after_seconds || "?" });
      else err.textContent = t("login_failed");
    } catch (x) {
      err.textContent = t("login_unreachable");
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (x) { /* shown by api() */ }
    if (source) { source.close(); source = null; }
    // Nothing of the previous account stays on screen.
    session = null; started = false; lastId = 0; journalId = null; nextBefore = null;
    alerts.clear(); incidents.clear(); alertsEl.replaceChildren();
    showShadow(false);
    $("shadow-alerts").replaceChildren(); $("shadow-rates").replaceChildren();
    $("no-alerts").hidden = false;
    showLogin(t("logged_out"));
  });

  // ---- incidents and cards ---------------------------------------------------------------------
  // An alert that updates an incident names the incident's first alert in `incident_id`.
  function incidentOf(a) {
    return a.incident_id && a.incident_id !== a.id ? a.incident_id : a.id;
  }
  function activity(inc) {
    let m = inc.first ? inc.first.id : 0;
    for (const u of inc.updates) if (u.id > m) m = u.id;
    return m;
  }

  function actionsFor(a) {
    if (!can("act")) return [];
    const mine = a.acknowledged && a.acknowledged.by === session.account;
    const sup = can("supervise");
    switch (a.status) {
      case "new": return ["take", "confirm", "false_alarm", "comment"];
      case "acknowledged":
        return mine ? ["confirm", "false_alarm", "release", "comment"]
                    : (sup ? ["release", "comment"] : ["comment"]);
      case "confirmed": case "false_alarm": return sup ? ["close", "reopen", "comment"] : ["close", "comment"];
      case "closed": return sup ? ["reopen", "comment"] : ["comment"];
      default: return ["comment"];
    }
  }
  const BUTTON_CLASS = { take: "take", confirm: "confirm", false_alarm: "false-alarm", close: "close",
                         release: "release", reopen: "reopen", comment: "comment" };

  function statusLine(a) {
    const parts = [];
    if (a.acknowledged) parts.push(t("taken_by", { by: a.acknowledged.by, t: shortTime(a.acknowledged.at_ms) }));
    if (a.decision) {
      let what = stateLabel(a.decision.decision);
      if (a.decision.reason) what += " (" + reasonLabel(a.decision.reason) + ")";
      let s = t("decided_by", { what: what, by: a.decision.operator, t: shortTime(a.decision.decided_at_ms) });
      if (a.decision.comment) s += " — « " + a.decision.comment + " »";
      parts.push(s);
    }
    if (a.closed) parts.push(t("closed_by", { by: a.closed.by, t: shortTime(a.closed.at_ms) }));
    return parts.join(" · ");
  }

  // Why an alert has no image any more: the retention purge deleted it (the API answers 410).
  function imageGone(a) {
    if (!a.image_purged) return "";
    return t("image_purged", { t: localTime(a.image_purged.at_ms), days: a.image_purged.retention_days });
  }

  function buildCard(id) {
    const card = el("article", "alert-card");
    card.dataset.alertId = String(id);
    card.appendChild(el("div", "no-thumb"));
    const body = el("div", "body");
    const title = el("div", "title");
    title.appendChild(el("span", "camera"));
    title.appendChild(document.createTextNode(" — "));
    title.appendChild(el("span", "event-type"));
    body.appendChild(title);
    body.appendChild(el("div", "meta"));
    body.appendChild(el("div", "explanation"));
    body.appendChild(el("div", "past-image"));
    body.appendChild(el("div", "updates-line"));
    const statusLineEl = el("div", "status-line");
    statusLineEl.appendChild(el("span", "status"));
    statusLineEl.appendChild(el("span", "decided"));
    body.appendChild(statusLineEl);
    const actions = el("div", "actions");
    actions.appendChild(el("span", "buttons"));
    actions.appendChild(el("span", "result"));
    body.appendChild(actions);
    card.appendChild(body);
    return card;
  }

  // Fills a card from its incident: the first alert (its status is the incident's), its updates.
  function fillCard(inc) {
    const a = inc.first;
    const card = inc.card;
    if (!a || !card) return;
    const health = a.rule_id === "camera_health";
    card.className = card.className.split(" ").filter((c) => c === "fresh").concat(["alert-card"]).join(" ");
    card.classList.add("status-" + a.status);
    if (health) card.classList.add("health", "kind-" + a.event_type);
    card.dataset.camera = a.camera_id;
    card.dataset.eventType = a.event_type;
    card.dataset.status = a.status;
    // Image: the first alert's, or the latest update's when it has none.
    const shown = [a].concat(inc.updates).filter((x) => picture(x)).pop();
    const old = card.firstChild;
    if (shown) {
      if (!(old.tagName === "IMG" && old.dataset.src === picture(shown))) {
        const img = el("img", "thumb");
        img.src = picture(shown);
        img.dataset.src = picture(shown);
        img.loading = "lazy";
        img.addEventListener("click", () => openIncident(inc));
        card.replaceChild(img, old);
      }
      card.firstChild.alt = t("snapshot_of", { id: shown.id });
    } else {
      if (old.tagName === "IMG") card.replaceChild(el("div", "no-thumb"), old);
      card.firstChild.textContent = imageGone(a) || t("no_image");
      card.firstChild.classList.toggle("image-purged", !!a.image_purged);
    }
    card.querySelector(".camera").textContent = a.camera_name || a.camera_id;
    card.querySelector(".event-type").textContent = eventLabel(a.event_type);
    const meta = card.querySelector(".meta");
    meta.replaceChildren(el("span", "time", localTime(a.frame_time_ms)));
    if (health) {
      meta.appendChild(document.createTextNode(" · " + t("camera_health")));
    } else {
      meta.appendChild(document.createTextNode(" · " + t("confidence") + " "));
      meta.appendChild(el("span", "confidence", Math.round(a.confidence * 100) + " %"));
    }
    meta.appendChild(document.createTextNode(" · " + t("alert_no", { id: a.id })));
    if (a.zone_id) meta.appendChild(document.createTextNode(" · " + t("zone") + " " + a.zone_id));
    const latest = inc.updates.length ? inc.updates[inc.updates.length - 1] : a;
    card.querySelector(".explanation").textContent = latest.explanation || "";
    card.querySelector(".past-image").textContent =
      health && a.snapshot_url && a.event_type !== "camera_restored" ? t("past_image") : "";
    card.querySelector(".updates-line").textContent = inc.updates.length
      ? t("updates", { n: inc.updates.length, t: shortTime(latest.frame_time_ms) }) : "";
    const st = card.querySelector(".status");
    st.className = "status status-" + a.status;
    st.textContent = stateLabel(a.status);
    st.dataset.status = a.status;
    card.querySelector(".decided").textContent = statusLine(a);
    const buttons = card.querySelector(".buttons");
    buttons.replaceChildren();
    for (const action of actionsFor(a)) {
      const b = el("button", BUTTON_CLASS[action], t("act_" + action));
      b.type = "button";
      b.dataset.action = action;
      b.addEventListener("click", () => onAction(inc.first.id, action));
      buttons.appendChild(b);
    }
    const view = el("button", "view", t("act_view"));
    view.type = "button";
    view.addEventListener("click", () => openIncident(inc));
    buttons.appendChild(view);
    applyFilter(card);
  }

  function placeCard(inc) {
    const key = activity(inc);
    let before = null;
    for (const c of alertsEl.children) {
      const other = incidents.get(Number(c.dataset.alertId));
      if (c !== inc.card && other && activity(other) < key) { before = c; break; }
    }
    if (inc.card.nextSibling !== before || inc.card.parentNode !== alertsEl) alertsEl.insertBefore(inc.card, before);
    $("no-alerts").hidden = true;
  }

  async function fetchIncident(id) {
    try {
      const resp = await api("GET", "/api/alerts/" + id);
      if (resp.ok) upsert(await resp.json(), false);
    } catch (x) { /* the live stream or the next reload brings it */ }
  }

  // Inserts or updates an alert: a first alert is its incident's card, an update joins its card.
  // The alert's picture: its full-resolution still once attached (a camera whose detection reads
  // its sub-stream; the attachment arrives as an update), else its snapshot.
  function picture(a) { return a.still_url || a.snapshot_url; }
  function upsert(a, fresh) {
    alerts.set(a.id, a);
    noteFilterValue("type", a.event_type);
    noteCamera(a.camera_id, a.camera_name);
    const incId = incidentOf(a);
    let inc = incidents.get(incId);
    if (!inc) {
      inc = { first: null, updates: [], card: buildCard(incId) };
      incidents.set(incId, inc);
    }
    if (a.id === incId) inc.first = a;
    else {
      inc.updates = inc.updates.filter((u) => u.id !== a.id).concat([a]).sort((x, y) => x.id - y.id);
      if (!inc.first) fetchIncident(incId);
    }
    if (!inc.first) return;
    fillCard(inc);
    placeCard(inc);
    if (fresh) {
      inc.card.classList.remove("fresh");
      void inc.card.offsetWidth;
      inc.card.classList.add("fresh");
    }
  }
  function findCard(id) { const inc = incidents.get(Number(id)); return inc ? inc.card : null; }

  // ---- filters ---------------------------------------------------------------------------------
  const filterValues = { camera: new Set(), type: new Set() };
  function noteFilterValue(kind, v) {
    if (v && !filterValues[kind].has(v)) { filterValues[kind].add(v); fillFilters(); }
  }
  function noteCamera(id, name) {
    if (name) cameraNames.set(id, name);
    noteFilterValue("camera", id);
  }
  function fillSelect(select, values, label) {
    const keep = select.value || "";
    select.replaceChildren();
    const all = el("option", null, t("all"));
    all.value = "";
    select.appendChild(all);
    for (const v of values) {
      const o = el("option", null, label(v));
      o.value = v;
      select.appendChild(o);
    }
    select.value = values.indexOf(keep) >= 0 ? keep : "";
  }
  function fillFilters() {
    fillSelect($("filter-camera"), Array.from(filterValues.camera).sort(), (v) => cameraNames.get(v) || v);
    fillSelect($("filter-type"), Array.from(filterValues.type).sort(), eventLabel);
    fillSelect($("filter-state"), STATES, stateLabel);
  }
  function applyFilter(card) {
    const cam = $("filter-camera").value, type = $("filter-type").value, state = $("filter-state").value;
    card.hidden = (cam && card.dataset.camera !== cam) || (type && card.dataset.eventType !== type)
      || (state && card.dataset.status !== state);
  }
  for (const id of ["filter-camera", "filter-type", "filter-state"]) {
    $(id).addEventListener("change", () => { for (const c of alertsEl.children) applyFilter(c); });
  }

  // ---- life-cycle steps ------------------------------------------------------------------------
  const dialog = $("decision-dialog");
  const reasonSelect = $("decision-reason");
  const commentInput = $("decision-comment");
  const formError = $("decision-error");

  function onAction(id, action) {
    if (action === "take") { submitStep(id, action, null, "", null); return; }
    pending = { id: id, action: action };
    $("decision-title").textContent = t("dlg_" + action, { id: id });
    $("decision-reason-row").hidden = action !== "false_alarm";
    reasonSelect.replaceChildren();
    const choose = el("option", null, "—");
    choose.value = "";
    reasonSelect.appendChild(choose);
    for (const r of REASONS) { const o = el("option", null, reasonLabel(r)); o.value = r; reasonSelect.appendChild(o); }
    $("decision-comment-label").textContent = t(action === "comment" ? "comment_required" : "comment_optional");
    commentInput.value = "";
    formError.textContent = "";
    dialog.classList.add("shown");
    (action === "false_alarm" ? reasonSelect : commentInput).focus();
  }
  function closeDialog() { dialog.classList.remove("shown"); pending = null; }
  $("decision-cancel").addEventListener("click", closeDialog);

  // The words of a refusal: who got there first, or why.
  function refusal(resp, data) {
    if (resp.status === 409 && data.by) {
      const when = data.at_ms ? shortTime(data.at_ms) : "?";
      if (data.status === "acknowledged") return t("conflict_taken", { by: data.by, t: when });
      if (data.status === "closed") return t("conflict_closed", { by: data.by, t: when });
      return t("conflict_decided", { by: data.by, what: stateLabel(data.status), t: when });
    }
    if (resp.status === 409) return t("conflict_other", { e: data.error || resp.status });
    if (resp.status === 403) return t("forbidden");
    return t("not_saved", { e: data.error || ("HTTP " + resp.status) });
  }

  // Posts one step; returns an error text, or null when saved.
  async function submitStep(id, action, reason, comment) {
    const card = findCard(id);
    const result = card && card.querySelector(".result");
    let url, body = {};
    if (action === "confirm" || action === "false_alarm") {
      url = "/api/alerts/" + id + "/decision";
      body.decision = action === "confirm" ? "confirmed" : "false_alarm";
      if (reason) body.reason = reason;
    } else {
      url = "/api/alerts/" + id + "/" + action;
    }
    if (comment) body.comment = comment;
    let message = null;
    try {
      const resp = await api("POST", url, body);
      const data = await json(resp);
      if (resp.ok) {
        upsert(data, false);
        if (result) { result.className = "result"; result.textContent = t("saved", { what: stateLabel(data.status) }); }
        return null;
      }
      message = refusal(resp, data);
      if (resp.status === 409) fetchIncident(id);
    } catch (x) {
      if (x instanceof Unauthenticated) return t("session_ended");
      message = t("unreachable");
    }
    if (result) { result.className = "result error"; result.textContent = message; }
    return message;
  }

  $("decision-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!pending) return;
    const { id, action } = pending;
    const reason = reasonSelect.value;
    const comment = commentInput.value.trim();
    if (action === "false_alarm" && !reason) { formError.textContent = t("reason_label") + " ?"; reasonSelect.focus(); return; }
    if (action === "comment" && !comment) { formError.textContent = t("comment_needed"); commentInput.focus(); return; }
    const submit = $("decision-submit");
    submit.disabled = true;
    const error = await submitStep(id, action, reason, comment);
    submit.disabled = false;
    if (error) formError.textContent = error;
    else closeDialog();
  });

  // ---- incident view ---------------------------------------------------------------------------
  const incidentView = $("incident");
  function fact(dl, key, value) {
    if (value === null || value === undefined || value === "") return;
    dl.appendChild(el("dt", null, t(key)));
    dl.appendChild(el("dd", null, value));
  }
  // The alert's clip: a player, or why there is none. A clip is made in the seconds after its
  // alert: while the API says `pending`, the player tries again every 2 s.
  function showClip(slot, a) {
    slot.replaceChildren();
    if (!a.clip_url) { slot.textContent = t("clip_none"); return; }
    const v = el("video");
    v.controls = true; v.preload = "metadata"; v.muted = true;
    const note = el("p", "clip-note");
    let tries = 0;
    v.addEventListener("loadeddata", () => { note.textContent = ""; });
    v.addEventListener("error", async () => {
      let body = {};
      try { body = await json(await api("GET", a.clip_url)); } catch (e) { body = {}; }
      if (body.reason === "pending" && tries < 30 && slot.contains(v)) {
        tries += 1;
        note.textContent = t("clip_pending");
        setTimeout(() => { if (slot.contains(v)) v.src = a.clip_url + "?try=" + tries; }, 2000);
      } else {
        v.hidden = true;
        note.textContent = t("clip_failed", { e: body.error || "?" });
      }
    });
    v.src = a.clip_url;
    slot.append(v, note);
  }
  async function openIncident(inc) {
    const a = inc.first;
    $("incident-title").textContent = t("incident_title", { id: a.id, camera: a.camera_name || a.camera_id });
    const explain = $("incident-explain");
    explain.hidden = !can("explain");
    explain.href = "/api/alerts/" + a.id + "/transparency";
    const img = $("incident-image");
    img.hidden = !picture(a);
    if (picture(a)) { img.src = picture(a); img.alt = t("snapshot_of", { id: a.id }); }
    $("incident-image-gone").textContent = imageGone(a);
    showClip($("incident-clip"), a);
    const dl = el("dl");
    fact(dl, "f_camera", a.camera_name || a.camera_id);
    fact(dl, "f_type", eventLabel(a.event_type));
    fact(dl, "f_time", localTime(a.frame_time_ms));
    if (a.rule_id !== "camera_health") fact(dl, "f_confidence", Math.round(a.confidence * 100) + " %");
    fact(dl, "f_zone", a.zone_id);
    fact(dl, "f_explanation", a.explanation);
    fact(dl, "f_status", stateLabel(a.status) + (statusLine(a) ? " — " + statusLine(a) : ""));
    $("incident-facts").replaceChildren(dl);
    const ups = $("incident-updates");
    ups.replaceChildren();
    for (const u of inc.updates) {
      const li = el("li", null, shortTime(u.frame_time_ms) + " — " + (u.explanation || eventLabel(u.event_type)));
      if (picture(u)) {
        const link = el("a", null, " ▣");
        link.href = picture(u); link.target = "_blank"; link.rel = "noopener";
        li.appendChild(link);
      }
      ups.appendChild(li);
    }
    if (!inc.updates.length) ups.appendChild(el("li", null, t("none")));
    const hist = $("incident-history");
    hist.replaceChildren(el("li", null, "…"));
    incidentView.classList.add("shown");
    try {
      const resp = await api("GET", "/api/alerts/" + a.id + "/history");
      const data = await json(resp);
      hist.replaceChildren();
      for (const h of data.history || []) {
        let s = shortTime(h.at_ms) + " — " + t("h_" + h.action) + " — " + h.account;
        if (h.reason) s += " (" + reasonLabel(h.reason) + ")";
        if (h.comment) s += " — « " + h.comment + " »";
        hist.appendChild(el("li", null, s));
      }
      if (!hist.children.length) hist.appendChild(el("li", null, t("none")));
    } catch (x) { hist.replaceChildren(); }
  }
  $("incident-close").addEventListener("click", () => incidentView.classList.remove("shown"));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { closeDialog(); incidentView.classList.remove("shown"); }
  });

  // ---- shadow alerts: rules in evaluation, for evaluators only ------------------------------------
  function share(x) { return x === null || x === undefined ? "—" : Math.round(x * 100) + " %"; }
  function verdictLabel(v) { return t(v === "true_alarm" ? "shadow_true" : "shadow_false"); }
  function shadowCard(a) {
    const card = el("article", "shadow-card");
    card.dataset.shadowId = a.id;
    const media = el("div", "media");
    if (picture(a)) {
      const img = el("img");
      img.src = picture(a); img.alt = t("snapshot_of", { id: a.id }); img.loading = "lazy";
      media.appendChild(img);
    } else {
      media.appendChild(el("p", "no-image", t("no_image")));
    }
    card.appendChild(media);
    const body = el("div");
    body.appendChild(el("h3", null, eventLabel(a.event_type) + " — " + (a.camera_name || a.camera_id)
      + " — " + t("alert_no", { id: a.id })));
    body.appendChild(el("p", null, localTime(a.frame_time_ms) + " — " + a.explanation));
    const v = a.verdict;
    body.appendChild(el("p", "verdict", v
      ? t("shadow_verdict", { v: verdictLabel(v.verdict), by: v.by, t: shortTime(v.at_ms) })
      : t("shadow_unjudged")));
    const row = el("div", "actions");
    if (can("judge_shadow")) {
      for (const verdict of ["true_alarm", "false_alarm"]) {
        const b = el("button", null, verdictLabel(verdict));
        b.type = "button"; b.dataset.verdict = verdict;
        b.addEventListener("click", () => judge(a.id, verdict, card));
        row.appendChild(b);
      }
    }
    if (can("explain")) {
      const link = el("a", null, t("explain_link"));
      link.href = "/api/alerts/" + a.id + "/transparency"; link.target = "_blank"; link.rel = "noopener";
      row.appendChild(link);
    }
    body.appendChild(row);
    body.appendChild(el("p", "result"));
    card.appendChild(body);
    return card;
  }
  async function loadShadow() {
    const list = $("shadow-alerts");
    let data;
    try {
      const resp = await api("GET", "/api/shadow-alerts?limit=100");
      data = await json(resp);
      if (!resp.ok) { list.replaceChildren(el("p", "result error", data.error || ("HTTP " + resp.status))); return; }
    } catch (x) { return; }
    const rates = $("shadow-rates");
    rates.replaceChildren();
    for (const r of data.rules || []) {
      rates.appendChild(el("li", null, t("shadow_rate", {
        camera: cameraNames.get(r.camera_id) || r.camera_id, rule: r.rule_id, n: r.alerts,
        tp: r.true_alarm, fp: r.false_alarm, u: r.unjudged, share: share(r.false_alarm_share) })));
    }
    list.replaceChildren();
    for (const a of data.alerts || []) list.appendChild(shadowCard(a));
    $("shadow-none").hidden = (data.alerts || []).length > 0;
  }
  async function judge(id, verdict, card) {
    const result = card.querySelector(".result");
    try {
      const resp = await api("POST", "/api/shadow-alerts/" + id + "/verdict", { verdict: verdict });
      const data = await json(resp);
      if (resp.ok) { await loadShadow(); return; }
      result.className = "result error"; result.textContent = refusal(resp, data);
    } catch (x) {
      if (!(x instanceof Unauthenticated)) { result.className = "result error"; result.textContent = t("unreachable"); }
    }
  }
  function showShadow(on) {
    shadowShown = on;
    $("shadow-view").hidden = !on;
    $("alerts-view").hidden = on;
    $("shadow-link").textContent = t(on ? "shadow_back" : "shadow_link");
    if (on) loadShadow();
  }
  $("shadow-link").addEventListener("click", () => showShadow(!shadowShown));

  // ---- history and live stream -----------------------------------------------------------------
  async function loadPage(before) {
    const resp = await api("GET", "/api/alerts?limit=50" + (before ? "&before=" + before : ""));
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const page = await resp.json();
    if (page.journal) journalId = page.journal;
    // Oldest first, so that an incident's first alert comes before its updates.
    for (const a of page.alerts.slice().reverse()) {
      upsert(a, false);
      if (a.id > lastId) lastId = a.id;
    }
    nextBefore = page.next_before;
    $("more").hidden = nextBefore === null || nextBefore === undefined;
  }
  $("more").addEventListener("click", () => { if (nextBefore) loadPage(nextBefore).catch(() => {}); });

  function setLive(connected) {
    const s = $("live-state");
    s.className = connected ? "connected" : "disconnected";
    s.textContent = connected ? t("live") : t("disconnected");
    $("live-banner").classList.toggle("shown", !connected);
  }

  // The server's journal was replaced, moved or restored: the ids this page knows mean other
  // alerts (or none). Start again from the server's list, and say so.
  async function journalReset(info) {
    journalId = info.journal;
    lastId = Math.max(0, Number(info.newest_id) || 0);
    alerts.clear(); incidents.clear(); alertsEl.replaceChildren();
    $("no-alerts").hidden = false;
    nextBefore = null;
    $("more").hidden = true;
    $("journal-notice-text").textContent = t("journal_changed", { t: localTime(Date.now()) });
    $("journal-notice").classList.add("shown");
    for (;;) {
      try { await loadPage(null); return; }
      catch (e) { await new Promise((r) => setTimeout(r, 3000)); }
    }
  }
  $("journal-notice-close").addEventListener("click", () => $("journal-notice").classList.remove("shown"));

  function connect() {
    if (!session || !can("read_alerts")) return;
    // On its own reconnects, EventSource sends Last-Event-ID (`<journal>:<id>` of the last event
    // with an id); `after` covers the first connection and manual reconnects.
    const after = (journalId ? journalId + ":" : "") + lastId;
    const es = new EventSource("/api/alerts/live?after=" + encodeURIComponent(after));
    source = es;
    es.onopen = () => setLive(true);
    es.onerror = () => {
      setLive(false);
      if (es.readyState === EventSource.CLOSED && source === es) {
        source = null;
        // Refused (session ended?) or the server is gone: ask who we are before reconnecting.
        setTimeout(async () => {
          try { const r = await api("GET", "/api/session"); if (r.ok && !source) connect(); }
          catch (x) { if (!(x instanceof Unauthenticated)) setTimeout(() => { if (!source) connect(); }, 3000); }
        }, 3000);
      }
    };
    es.addEventListener("hello", (e) => {
      const info = JSON.parse(e.data);
      if (!journalId) journalId = info.journal;
    });
    es.addEventListener("reset", (e) => { journalReset(JSON.parse(e.data)); });
    es.addEventListener("alert", (e) => {
      const a = JSON.parse(e.data);
      if (a.id > lastId) lastId = a.id;
      upsert(a, true);
    });
    es.addEventListener("decision", (e) => {
      const a = JSON.parse(e.data);
      if (alerts.has(a.id)) upsert(a, false);
    });
  }

  async function start() {
    if (can("read_alerts")) {
      for (;;) {
        try { await loadPage(null); break; }
        catch (e) { if (e instanceof Unauthenticated) { started = false; return; } await new Promise((r) => setTimeout(r, 3000)); }
      }
      connect();
    } else {
      $("no-alerts").hidden = true;
    }
    refreshCameras();
  }

  // ---- cameras ---------------------------------------------------------------------------------
  const camerasEl = $("cameras");
  const camerasNote = $("cameras-note");
  let lastCameras = [];
  function fillCameraRow(row, c) {
    row.querySelector(".name").textContent = c.name || c.id;
    row.querySelector(".name").title = c.location || "";
    const st = row.querySelector(".state");
    if (c.fault) {
      // Offline, frozen or obstructed: never shown as live.
      st.className = "state state-fault state-fault-" + c.fault;
      st.textContent = t("fault_" + c.fault) !== "fault_" + c.fault ? t("fault_" + c.fault) : c.fault.toUpperCase();
      st.title = t("fault_title", {
        fault: t("fault_" + c.fault).toLowerCase(), state: t("cs_" + c.state),
        age: c.last_frame_age_seconds != null ? t("last_frame", { s: c.last_frame_age_seconds.toFixed(0) }) : "",
        err: c.last_error ? " : " + c.last_error : "" });
    } else {
      st.className = "state state-" + c.state;
      st.textContent = t("cs_" + c.state) !== "cs_" + c.state ? t("cs_" + c.state) : c.state;
      st.title = c.last_error || "";
    }
    const fps = row.querySelector(".fps");
    fps.textContent = c.fps_decoded.toFixed(1) + " / " + c.fps_inferred.toFixed(1);
    fps.title = t("fps_title");
    const dropped = row.querySelector(".dropped");
    dropped.textContent = String(c.frames_dropped);
    dropped.title = t("dropped_title", { q: c.frames_dropped_queue_full, o: c.frames_dropped_too_old, r: c.restarts });
  }
  function refreshCameraLabels() {
    for (const c of lastCameras) {
      const row = camerasEl.querySelector('[data-camera-id="' + CSS.escape(c.id) + '"]');
      if (row) fillCameraRow(row, c);
    }
    if (!lastCameras.length && !camerasNote.classList.contains("error")) camerasNote.textContent = session ? t("no_cameras") : "";
  }
  async function refreshCameras() {
    if (!session) return;
    try {
      const resp = await api("GET", "/api/cameras");
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const cams = await resp.json();
      lastCameras = cams;
      const seen = new Set();
      for (const c of cams) {
        seen.add(c.id);
        noteCamera(c.id, c.name);
        let row = camerasEl.querySelector('[data-camera-id="' + CSS.escape(c.id) + '"]');
        if (!row) {
          row = el("tr");
          row.dataset.cameraId = c.id;
          for (const cls of ["name", "state", "fps", "dropped"]) row.appendChild(el("td", cls));
          camerasEl.appendChild(row);
        }
        fillCameraRow(row, c);
      }
      for (const row of Array.from(camerasEl.children)) {
        if (!seen.has(row.dataset.cameraId)) row.remove();
      }
      camerasNote.className = "";
      camerasNote.textContent = cams.length ? "" : t("no_cameras");
    } catch (e) {
      if (e instanceof Unauthenticated) return;
      camerasNote.className = "error";
      camerasNote.textContent = t("cameras_unavailable");
    }
  }

  // ---- start -----------------------------------------------------------------------------------
  applyLanguage();
  (async function boot() {
    try {
      const resp = await fetch("/api/session", { credentials: "same-origin" });
      if (resp.ok) { enterApp(await resp.json()); }
      else showLogin("");
    } catch (e) {
      showLogin(t("login_unreachable"));
    }
  })();
  setInterval(() => { if (session && !$("app").hidden) refreshCameras(); }, 2000);

  // ---- stop switch (issue 10 §7): shown to every role, operated by supervisors and admins ------
  async function refreshAlerting() {
    try {
      const resp = await api("GET", "/api/alerting");
      if (!resp.ok) return;
      const g = await resp.json();
      const stops = [];
      if (g.stopped) {
        stops.push(t("alerting_stopped", { by: g.stopped.by, t: localTime(g.stopped.at_ms), reason: g.stopped.reason }));
      }
      for (const [cam, s] of Object.entries(g.cameras_stopped || {})) {
        stops.push(t("alerting_stopped_camera", { camera: cam, by: s.by, reason: s.reason }));
      }
      $("alerting-banner").hidden = !stops.length;
      $("alerting-text").textContent = stops.join(" · ");
      $("alerting-resume").hidden = !(g.stopped && can("stop_alerting"));
      $("alerting-stop").hidden = !!g.stopped || !can("stop_alerting");
    } catch (e) {
      // Unauthenticated: the login screen is shown; anything else: try again at the next tick.
    }
  }
  $("alerting-stop").addEventListener("click", async () => {
    const reason = window.prompt(t("alerting_reason"));
    if (!reason || !reason.trim()) return;
    await api("POST", "/api/alerting/stop", { reason: reason });
    refreshAlerting();
  });
  $("alerting-resume").addEventListener("click", async () => {
    await api("POST", "/api/alerting/resume", {});
    refreshAlerting();
  });
  setInterval(() => { if (session && !$("app").hidden) refreshAlerting(); }, 2000);
})();
