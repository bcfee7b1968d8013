// A report with open sessions follows the floor: after a change it fetches
// itself again and swaps in the fresh figures (at most once a second).

import { LiveConnection } from "./live.js";

const section = () => document.getElementById("reporte");
let pending = null;

async function refresh() {
  pending = null;
  try {
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("reporte");
    if (fresh) section().replaceWith(fresh);
  } catch {
    // The hub is away: the next change tries again.
  }
}

if (section()?.dataset.live === "yes") {
  new LiveConnection("/ws/piso", {
    onChange(_, message) {
      if (message?.type === "event" && !pending) pending = setTimeout(refresh, 1000);
    },
    onReply() {},
    onStatus() {},
  });
}
