// The membership page's only script, served from this origin (no inline script).
// Opened as a Telegram Mini App, the page is given Telegram's signed initData in its
// URL fragment (#tgWebAppData=…): it is posted to the server, which checks Telegram's
// signature and signs the visitor in. Nothing else happens here.
(function () {
  "use strict";
  var form = document.getElementById("webapp-auth");
  if (!form || !location.hash) return;
  var data = new URLSearchParams(location.hash.slice(1)).get("tgWebAppData");
  if (!data) return;
  form.elements.namedItem("init_data").value = data;
  history.replaceState(null, "", location.pathname + location.search);
  form.submit();
})();
