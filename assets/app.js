import * as bootstrap from "bootstrap";
import htmx from "htmx.org";

window.bootstrap = bootstrap;
window.htmx = htmx;

// htmx sends Django's CSRF token with every non-GET request.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector("meta[name=csrf-token]");
  if (token) event.detail.headers["X-CSRFToken"] = token.content;
});
