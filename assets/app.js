import * as bootstrap from "bootstrap";
import htmx from "htmx.org";

window.bootstrap = bootstrap;
window.htmx = htmx;

// htmx sends Django's CSRF token with every non-GET request.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector("meta[name=csrf-token]");
  if (token) event.detail.headers["X-CSRFToken"] = token.content;
});

// Live queues: elements with data-live-queue="<websocket path>" receive queue updates.
// Displays get {type: "queue", state}; a patient's phone gets {type: "position", ...}.
function renderPosition(root, msg) {
  const set = (name, value) => root.querySelectorAll(`[data-field="${name}"]`).forEach((n) => { n.textContent = value; });
  root.dataset.state = msg.called ? "called" : msg.at_exam ? "at_exam" : msg.skipped ? "skipped" : msg.finished ? "finished" : "waiting";
  if (msg.number) set("number", msg.number);
  set("position", msg.position ?? "");
  set("wait", msg.estimated_wait_minutes ?? "");
  set("serving", msg.now_serving ?? "—");
  root.querySelectorAll("[data-show]").forEach((n) => { n.hidden = n.dataset.show !== root.dataset.state; });
}

function renderDisplay(root, state) {
  const card = root.querySelector(`[data-session="${state.session}"]`);
  if (!card) return;
  const called = card.querySelector("[data-field=called]");
  called.textContent = state.called ? `${state.called.number} ${state.called.name}` : "—";
  called.classList.toggle("text-danger", !!state.called && state.recalls > 0);
  const list = card.querySelector("[data-field=waiting]");
  list.replaceChildren(...state.waiting.slice(0, 8).map((w) => {
    const li = document.createElement("li");
    li.className = "list-group-item d-flex justify-content-between";
    li.dataset.number = w.number;
    li.innerHTML = `<span></span><small></small>`;
    li.firstChild.textContent = `${w.number} ${w.name}`;
    li.lastChild.textContent = `~${Math.round(w.estimated_wait_minutes)} min`;
    return li;
  }));
  card.dataset.updated = state.updated_at;
}

function connectLiveQueue(root) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + root.dataset.liveQueue);
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "queue") renderDisplay(root, msg.state);
    if (msg.type === "position") renderPosition(root, msg);
    root.dataset.live = "connected";
  };
  socket.onclose = () => { root.dataset.live = "closed"; setTimeout(() => connectLiveQueue(root), 2000); };
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-queue]").forEach(connectLiveQueue);
});
