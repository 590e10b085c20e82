// The review pages' behaviour: plain JavaScript, no build step, nothing fetched from elsewhere.
// Every action calls the JSON API (same origin, so the app's Origin check lets it through) and shows the
// Outcome the API returns: what the decision did and what re-matching changed.
"use strict";

const API = document.body.dataset.api || "/api/face-recognition";

// --- talking to the API ------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.message(status, body));
    this.status = status;
    this.body = body;
  }
  static message(status, body) {
    const detail = body && (body.message || body.detail);
    const text = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : `HTTP ${status}`;
    if (status === 409) return `Someone else decided first: ${text}`;
    return text;
  }
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { /* an empty or non-JSON body */ }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// --- the outcome panel --------------------------------------------------------------------------------------------------

const outcomeBox = () => document.getElementById("outcome");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// Shows what a decision did (text only: names come from the database and are never parsed as HTML).
function showOutcome(title, outcome, undo) {
  const box = outcomeBox();
  box.classList.remove("error");
  box.replaceChildren(el("h2", { text: title, style: "margin-top:0" }));
  const lines = [...(outcome.decisions || [])];
  if (outcome.rematched_faces !== undefined) {
    lines.push(`re-matched ${outcome.rematched_faces} face(s) near the decision and in its videos`);
  }
  const changes = [...(outcome.face_changes || []), ...(outcome.tag_changes || [])];
  const list = el("ul");
  for (const line of lines) list.append(el("li", { text: line }));
  box.append(list);
  if (changes.length) {
    box.append(el("p", { text: "What re-matching changed:" }));
    const changed = el("ul", { "data-changes": "" });
    for (const line of changes) changed.append(el("li", { text: line }));
    box.append(changed);
  } else if (outcome.rematched_faces !== undefined) {
    box.append(el("p", { class: "muted small", text: "Nothing else changed." }));
  }
  if (undo) {
    const button = el("button", { type: "button", class: "undo", text: "Undo" });
    button.append(" ", el("kbd", { text: "u" }));
    button.addEventListener("click", () => undo(button));
    box.append(button);
  }
  lastUndo = undo || null;
}

function showError(error) {
  const box = outcomeBox();
  box.classList.add("error");
  const message = error instanceof ApiError ? error.message : `The request failed: ${error.message || error}`;
  box.replaceChildren(el("p", { role: "alert", text: message }));
  if (error instanceof ApiError && error.status === 409 && error.body && error.body.current) {
    const list = el("ul");
    for (const face of error.body.current) {
      const who = face.creator ? ` ${face.creator}` : "";
      list.append(el("li", { text: `face ${face.detection_id} is now ${face.match_status}${who}` }));
    }
    box.append(list);
  }
  box.scrollIntoView({ block: "nearest" });
}

let lastUndo = null;

async function busy(button, work) {
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    showError(error);
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- creator autocomplete (a combobox: type, arrows, Enter) ---------------------------------------------------------------

function setupCombo(input) {
  const list = document.getElementById(input.getAttribute("aria-controls"));
  let items = [];
  let active = -1;
  let timer = null;
  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; };
  const render = () => {
    list.replaceChildren();
    items.forEach((item, i) => {
      const option = el("li", { role: "option", id: `${list.id}-${i}`, text: item.name, "aria-selected": String(i === active) });
      option.addEventListener("mousedown", (event) => { event.preventDefault(); choose(i); });
      list.append(option);
    });
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", String(items.length > 0));
    if (active >= 0) input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
    else input.removeAttribute("aria-activedescendant");
  };
  const choose = (i) => {
    input.value = items[i].name;
    input.dataset.creatorId = items[i].creator_id;
    close();
  };
  input.addEventListener("input", () => {
    delete input.dataset.creatorId;
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { items = []; render(); return; }
    timer = setTimeout(async () => {
      try {
        const data = await api("GET", `/creators?q=${encodeURIComponent(q)}&limit=8`);
        items = data.items || [];
        active = -1;
        render();
      } catch (error) { showError(error); }
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { active = Math.min(items.length - 1, active + 1); render(); event.preventDefault(); }
    else if (event.key === "ArrowUp") { active = Math.max(-1, active - 1); render(); event.preventDefault(); }
    else if (event.key === "Enter" && active >= 0) { choose(active); event.preventDefault(); }
    else if (event.key === "Escape") { close(); event.stopPropagation(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
}

// The creator a combobox names: {creator_id} when picked from the list, else {name, create: true} (a new creator
// when nobody has that name; the API finds an existing one by name otherwise).
function creatorChoice(input) {
  if (input.dataset.creatorId) return { creator_id: Number(input.dataset.creatorId) };
  const name = input.value.trim();
  return name ? { name, create: true } : null;
}

// --- /review --------------------------------------------------------------------------------------------------------------

function setupReview() {
  const groups = () => [...document.querySelectorAll("[data-group]:not(.done)")];
  let current = null;

  const focusGroup = (group) => {
    if (current) current.classList.remove("current");
    current = group || null;
    if (!current) return;
    current.classList.add("current");
    current.focus({ preventScroll: true });
    current.scrollIntoView({ block: "nearest", behavior: "smooth" });
  };
  const move = (step) => {
    const all = groups();
    if (!all.length) return;
    const i = all.indexOf(current);
    focusGroup(all[i < 0 ? 0 : Math.max(0, Math.min(all.length - 1, i + step))]);
  };
  const facesOf = (group) => [...group.querySelectorAll("[data-face]")]
    .filter((face) => face.querySelector("[data-face-include]").checked)
    .map((face) => ({
      detection_id: Number(face.dataset.face),
      expected_status: face.dataset.expectStatus,
      expected_creator_id: Number(face.dataset.expectCreator),
    }));
  const selected = () => groups().filter((g) => g.querySelector("[data-select]").checked);
  const updateSelection = () => {
    const n = selected().length;
    document.getElementById("selected-count").textContent = `${n} selected`;
    document.querySelectorAll("[data-bulk]").forEach((b) => { b.disabled = n === 0; });
  };
  const waiting = document.getElementById("queue-size");

  // Decided groups leave the queue; focus moves to the next one, so y / n can go on.
  const finish = (decided) => {
    const all = groups();
    const after = all.find((g) => !decided.includes(g) && all.indexOf(g) > all.indexOf(decided[decided.length - 1]))
      || all.find((g) => !decided.includes(g));
    for (const group of decided) { group.classList.add("done"); group.hidden = true; }
    const left = Math.max(0, Number(waiting.dataset.waiting) - decided.reduce((n, g) => n + facesOf(g).length, 0));
    waiting.dataset.waiting = left;
    waiting.textContent = left ? `${left} face(s) wait for a decision.` : "Nothing waits for review.";
    updateSelection();
    if (after) focusGroup(after); else { current = null; document.getElementById("queue-empty").hidden = false; }
  };

  const undoFaces = (faces, decidedGroups) => async (button) => {
    const outcomes = await busy(button, async () => {
      const results = [];
      for (const face of faces) results.push(await api("POST", `/undo/${face.detection_id}`));
      return results;
    });
    if (!outcomes) return;
    const merged = mergeOutcomes(outcomes);
    showOutcome(`Undone: ${faces.length} face(s) are undecided again`, merged, null);
    for (const group of decidedGroups) { group.hidden = false; group.classList.remove("done"); }
    // The faces are matched again (usually proposed again): reload to show the queue as it is now.
    setTimeout(() => window.location.reload(), 1200);
  };

  const decide = async (action, targetGroups, button) => {
    const faces = targetGroups.flatMap(facesOf);
    if (!faces.length) return;
    const outcome = await busy(button, () => api("POST", `/${action}`, { faces }));
    if (!outcome) return;
    const verb = action === "confirm" ? "Confirmed" : "Rejected";
    showOutcome(`${verb} ${faces.length} face(s)`, outcome, undoFaces(faces, targetGroups));
    finish(targetGroups);
  };

  const assign = async (group, form) => {
    const input = form.querySelector("[data-creator-search]");
    const choice = creatorChoice(input);
    if (!choice) { input.focus(); return; }
    const faces = facesOf(group);
    const button = form.querySelector("button[type=submit]");
    const outcomes = await busy(button, async () => {
      const results = [];
      for (const face of faces) {
        // After the first face, the creator exists: name it by id so it is not created twice.
        const who = results.length && results[0].creator_id ? { creator_id: results[0].creator_id } : choice;
        results.push(await api("POST", `/assign/${face.detection_id}`, {
          ...who, expected_status: face.expected_status, expected_creator_id: face.expected_creator_id,
        }));
      }
      return results;
    });
    if (!outcomes) return;
    showOutcome(`Assigned ${faces.length} face(s) to ${input.value.trim()}`, mergeOutcomes(outcomes),
      undoFaces(faces, [group]));
    finish([group]);
  };

  const openSomeone = (group) => {
    const form = group.querySelector("[data-assign]");
    const toggle = group.querySelector("[data-action=someone]");
    const open = !form.classList.contains("open");
    form.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) form.querySelector("input").focus();
  };

  document.getElementById("queue").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const group = button.closest("[data-group]");
    focusGroup(group);
    const action = button.dataset.action;
    if (action === "someone") openSomeone(group);
    else decide(action, [group], button);
  });
  document.getElementById("queue").addEventListener("submit", (event) => {
    event.preventDefault();
    assign(event.target.closest("[data-group]"), event.target);
  });
  document.getElementById("queue").addEventListener("change", (event) => {
    if (event.target.matches("[data-select]")) updateSelection();
    if (event.target.matches("[data-face-include]")) {
      event.target.closest(".face").classList.toggle("selected", !event.target.checked);
    }
  });
  document.getElementById("queue").addEventListener("focusin", (event) => {
    const group = event.target.closest("[data-group]");
    if (group && group !== current) { if (current) current.classList.remove("current"); current = group; group.classList.add("current"); }
  });
  document.querySelectorAll("[data-bulk]").forEach((button) => {
    button.addEventListener("click", () => decide(button.dataset.bulk, selected(), button));
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) {
      if (event.key === "Escape") { event.target.blur(); if (current) current.focus(); }
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "j") { move(1); return; }
    if (key === "k") { move(-1); return; }
    if (key === "u") {
      if (lastUndo) { const undo = lastUndo; lastUndo = null; undo(outcomeBox().querySelector(".undo")); }
      return;
    }
    if (!["y", "n", "s", "x"].includes(key)) return;
    if (!current) focusGroup(groups()[0]);
    if (!current) return;
    const targets = selected().length ? selected() : [current];
    if (key === "y") decide("confirm", targets);
    else if (key === "n") decide("reject", targets);
    else if (key === "s") { openSomeone(current); event.preventDefault(); }
    else if (key === "x") {
      const box = current.querySelector("[data-select]");
      box.checked = !box.checked;
      updateSelection();
    }
  });

  if (groups().length) focusGroup(groups()[0]);
}

function mergeOutcomes(outcomes) {
  const merged = { decisions: [], face_changes: [], tag_changes: [], rematched_faces: 0 };
  for (const o of outcomes) {
    merged.decisions.push(...(o.decisions || []));
    merged.face_changes.push(...(o.face_changes || []));
    merged.tag_changes.push(...(o.tag_changes || []));
    merged.rematched_faces += o.rematched_faces || 0;
    if (o.creator_id) merged.creator_id = o.creator_id;
  }
  return merged;
}

// --- /people/{id} ----------------------------------------------------------------------------------------------------------

function setupCluster() {
  const summary = document.getElementById("cluster-summary");
  if (!summary) return;
  const clusterId = summary.dataset.cluster;
  setupForgetPerson(`person ${clusterId}`, () => { window.location.href = "/people"; });

  document.querySelectorAll("[data-name-cluster]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const existing = form.dataset.nameCluster === "existing";
      const input = form.querySelector("input[type=text]");
      const name = input.value.trim();
      if (!name) { input.focus(); return; }
      const outcome = await busy(form.querySelector("button[type=submit]"),
        () => api("POST", `/cluster/${clusterId}/name`, { name, existing }));
      if (!outcome) return;
      showOutcome(`Person ${clusterId} is ${name}`, outcome, null);
      if (outcome.creator_id) {
        const link = el("a", { href: `/creators/${outcome.creator_id}`, "data-creator-link": "", text: `Open ${name}'s page` });
        outcomeBox().append(el("p", {}, link));
        link.focus();
      }
    });
  });

  const ignore = document.querySelector("[data-ignore-cluster]");
  if (ignore) ignore.addEventListener("click", async () => {
    const outcome = await busy(ignore, () => api("POST", `/cluster/${clusterId}/ignore`));
    if (outcome) { showOutcome(`Person ${clusterId} is ignored`, outcome, null); setTimeout(() => { window.location.href = "/people"; }, 1500); }
  });

  const removeButton = document.querySelector("[data-remove-faces]");
  const checked = () => [...document.querySelectorAll("[data-face-select]:checked")].map((box) => Number(box.value));
  document.querySelectorAll("[data-face-select]").forEach((box) => box.addEventListener("change", () => {
    box.closest(".face").classList.toggle("selected", box.checked);
    const n = checked().length;
    document.getElementById("faces-selected").textContent = `${n} selected`;
    removeButton.disabled = n === 0;
  }));
  if (removeButton) removeButton.addEventListener("click", async () => {
    const ids = checked();
    const outcome = await busy(removeButton, () => api("POST", `/cluster/${clusterId}/remove`, { detection_ids: ids }));
    if (!outcome) return;
    showOutcome(`Removed ${ids.length} face(s) from person ${clusterId}`, outcome, null);
    for (const id of ids) document.querySelector(`[data-face="${id}"]`).remove();
    document.getElementById("faces-selected").textContent = "0 selected";
    removeButton.disabled = true;
  });

  document.querySelectorAll("[data-merge]").forEach((button) => button.addEventListener("click", async () => {
    const other = Number(button.dataset.merge);
    const outcome = await busy(button, () => api("POST", `/cluster/${clusterId}/merge`, { other }));
    if (!outcome) return;
    showOutcome(`Person ${other} merged into person ${clusterId}`, outcome, null);
    setTimeout(() => window.location.reload(), 1500);
  }));
}

// --- forgetting a person (the creator's and the cluster's page): a button, then a confirmation ------------------------------

// The button opens the panel that says what goes; only its "Yes" deletes (DELETE on the API), "Cancel" closes it.
function setupForgetPerson(label, after) {
  const open = document.querySelector("[data-forget-person]");
  const panel = document.getElementById("forget-panel");
  if (!open || !panel) return;
  const confirm = panel.querySelector("[data-forget-confirm]");
  const cancel = panel.querySelector("[data-forget-cancel]");
  const show = (visible) => {
    panel.hidden = !visible;
    open.setAttribute("aria-expanded", String(visible));
    (visible ? cancel : open).focus();
  };
  open.addEventListener("click", () => show(panel.hidden));
  cancel.addEventListener("click", () => show(false));
  panel.addEventListener("keydown", (event) => { if (event.key === "Escape") show(false); });
  confirm.addEventListener("click", async () => {
    const outcome = await busy(confirm, () => api("DELETE", open.dataset.forgetPerson));
    if (!outcome) return;
    panel.hidden = true;
    open.remove();
    showOutcome(`Forgot ${label}`, outcome, null);
    if (after) setTimeout(after, 2000);
  });
}

// --- /creators/{id} ----------------------------------------------------------------------------------------------------------

function setupCreator() {
  const heading = document.getElementById("creator-name");
  if (!heading) return;
  const creatorId = heading.dataset.creator;
  const name = heading.textContent;

  setupForgetPerson(name, () => window.location.reload());  // the page then says they were forgotten
  const train = document.querySelector("[data-train]");
  if (!train) return;  // forgotten: nothing to train or upload
  train.addEventListener("click", async () => {
    const outcome = await busy(train, () => api("POST", `/creator/${creatorId}/train`));
    if (outcome) showOutcome(`Re-embedded ${name}'s pictures`, outcome, null);
  });

  const upload = document.querySelector("[data-reference-upload]");
  upload.addEventListener("change", async () => {
    if (!upload.files.length) return;
    const form = new FormData();
    form.append("photo", upload.files[0]);
    const outcome = await busy(null, () => api("POST", `/creator/${creatorId}/references`, form));
    upload.value = "";
    if (outcome) { showOutcome(`Added a reference photo of ${name}`, outcome, null); setTimeout(() => window.location.reload(), 1500); }
  });

  document.querySelectorAll("[data-forget]").forEach((button) => button.addEventListener("click", async () => {
    const outcome = await busy(button, () => api("POST", `/creator/${creatorId}/references/${button.dataset.forget}/remove`));
    if (!outcome) return;
    showOutcome(`Removed a known face of ${name}`, outcome, null);
    button.closest("figure").remove();
  }));
}

// --- /videos/{id} ------------------------------------------------------------------------------------------------------------

function setupVideo() {
  const button = document.querySelector("[data-process]");
  if (!button) return;
  button.addEventListener("click", async () => {
    const result = await busy(button, () => api("POST", `/process/${button.dataset.process}`));
    if (!result) return;
    showOutcome("Queued", { decisions: [`run ${result.run_id} will process this video (the Dagster daemon runs it)`] }, null);
    document.getElementById("scan-status").textContent = "queued";
  });
}

// --- /search -----------------------------------------------------------------------------------------------------------------

function setupSearch() {
  const form = document.getElementById("search-form");
  if (!form) return;
  const input = document.getElementById("photo");
  const zone = document.getElementById("dropzone");
  const results = document.getElementById("search-results");

  const search = async (file) => {
    const body = new FormData();
    body.append("photo", file);
    const scope = document.getElementById("scope").value.trim();
    if (scope) body.append("scope", scope);
    results.replaceChildren(el("p", { class: "muted", text: `Looking for the faces in ${file.name}…` }));
    const data = await busy(form.querySelector("button[type=submit]"), () => api("POST", "/recognize", body));
    if (!data) { results.replaceChildren(); return; }
    showResults(file, data);
  };

  const showResults = (file, data) => {
    results.replaceChildren();
    const faces = data.faces || [];
    const preview = el("div", { class: "preview-wrap" });
    const image = el("img", { class: "preview", alt: `the photo ${file.name}` });
    image.src = URL.createObjectURL(file);
    preview.append(image);
    faces.forEach((face, i) => {
      const [x, y, w, h] = face.bbox;
      const box = el("span", { class: "box", style:
        `position:absolute;border:2px solid var(--accent);left:${100 * x / data.width}%;top:${100 * y / data.height}%;` +
        `width:${100 * w / data.width}%;height:${100 * h / data.height}%` });
      box.append(el("span", { text: String(i + 1), style: "background:var(--accent);color:var(--accent-text);font-size:.75rem;padding:0 .3em" }));
      preview.append(box);
    });
    results.append(el("h2", { text: faces.length ? `${faces.length} face(s) in the photo` : "No face found in the photo" }), preview);
    faces.forEach((face, i) => {
      const panel = el("section", { class: "panel", "data-found-face": String(i + 1) });
      panel.append(el("h3", { text: `Face ${i + 1}` }));
      const best = (face.creators || []).filter((c) => c.is_match);
      panel.append(el("p", { text: best.length ? `Most like ${best[0].creator} (similarity ${best[0].similarity.toFixed(2)})`
        : "Like no creator closely enough to name." }));
      if ((face.creators || []).length) {
        const list = el("ol");
        for (const c of face.creators) {
          const link = el("a", { href: `/creators/${c.creator_id}`, text: c.creator });
          list.append(el("li", {}, link, ` · ${c.similarity.toFixed(2)}${c.is_match ? "" : " (below the match threshold)"}`));
        }
        panel.append(el("h4", { text: "Creators" }), list);
      }
      const videos = face.videos || [];
      panel.append(el("h4", { text: videos.length ? "Videos where the nearest faces are" : "No similar face in any video" }));
      if (videos.length) {
        const grid = el("div", { class: "faces" });
        for (const v of videos) {
          const figure = el("figure", { class: "face", "data-video": String(v.video_id) });
          const link = el("a", { href: `/videos/${v.video_id}` });
          link.append(el("img", { src: v.crop_url || `/images/detection/${v.best_detection_id}.jpg`, alt: `nearest face in ${v.video}`, width: "112", height: "112", loading: "lazy" }));
          figure.append(link, el("figcaption", { text: `${v.video} · ${Number(v.similarity).toFixed(2)}` }));
          grid.append(figure);
        }
        panel.append(grid);
      }
      results.append(panel);
    });
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) search(input.files[0]); else input.focus();
  });
  input.addEventListener("change", () => { if (input.files.length) search(input.files[0]); });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) search(file);
  });
}

// --- start ---------------------------------------------------------------------------------------------------------------------

document.querySelectorAll("[data-creator-search]").forEach(setupCombo);
const PAGE_SETUP = { review: setupReview, people: setupCluster, creator: setupCreator, video: setupVideo, search: setupSearch };
if (PAGE_SETUP[document.body.dataset.page]) PAGE_SETUP[document.body.dataset.page]();
