// A live connection to the hub (protocol v3, README "Live screens"): keeps
// the latest snapshot of every register it follows, applies events in seq
// order exactly once, asks for a resync on a gap, and reconnects by itself
// with a growing, jittered delay, telling the hub the last seq it has so
// that only what it missed is sent.

// A dead link (Wi-Fi gone, a cable pulled) closes no socket by itself: the
// page pings every second, and a link silent for SILENT_MS is given up at
// once, so "Sin conexión" shows within about four seconds.
const PING_EVERY_MS = 1_000;
const SILENT_MS = 3_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** Failed connections in a row after which the page checks its login. */
const CHECK_LOGIN_AFTER = 3;
/** The hub closes a screen past its login's or its person's cap with this code. */
const TOO_MANY_SCREENS = 4429;
/** How many of its last sales a register holds (the hub's RECENT_SALES). */
const RECENT_SALES = 8;

export class LiveConnection {
  /**
   * path: "/ws/piso" or "/ws/caja/7".
   * handlers: onChange(registers, message), onReply(message), onStatus(state, detail),
   * onCatalog(catalog) (a caja's keys, also on the greeting's `catalog`),
   * onBoletas(summary) (the floor's: the boletas' outbox),
 * and optionally onRefused(): the hub answers pages but refuses the socket;
 * true when the page takes over (the connection then stops trying).
   */
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.registers = new Map();
    this.state = "connecting";
    this.attempt = 0;
    this.failures = 0;
    this.socket = null;
    this.timers = {};
    // After the caller has its reference: handlers may use it.
    queueMicrotask(() => this.open());
  }

  get connected() {
    return this.state === "online";
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.path}${this.resumeQuery()}`);
    this.socket = socket;
    this.status(this.attempt === 0 ? "connecting" : "reconnecting");
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      this.failures = 0;
      this.keepAlive();
    });
    // A socket given up on (see keepAlive) is no longer listened to.
    socket.addEventListener("message", (event) => this.socket === socket && this.receive(event.data));
    socket.addEventListener("close", (event) => this.socket === socket && this.closed(event, opened));
    // "error" is always followed by "close", which does the work.
  }

  /** "?last_seq=41" (one caja) or "?last_seq=1:41,2:17" (the floor), once something is known. */
  resumeQuery() {
    if (!this.registers.size) return "";
    const known = [...this.registers.values()];
    const seqs = this.path.startsWith("/ws/caja/")
      ? String(known[0].seq)
      : known.map((r) => `${r.caja.id}:${r.seq}`).join(",");
    return `?last_seq=${encodeURIComponent(seqs)}`;
  }

  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.lastHeard = Date.now();
    switch (message.type) {
      case "snapshot":
        this.registers = new Map(message.registers.map((r) => [r.caja.id, r]));
        // Online only once the state is known: a queued sale is checked against it.
        this.status("online");
        this.handlers.onChange(this.registers, message);
        break;
      case "resumed":
        // The hub sent what this page missed while away; it is up to date.
        this.status("online");
        this.handlers.onChange(this.registers, message);
        break;
      case "health":
      case "pos": {
        // Not changes of state (no seq): the caja's health, its POS's link.
        const known = this.registers.get(message.register_id);
        if (!known) return;
        known[message.type] = message[message.type];
        this.handlers.onChange(this.registers, message);
        break;
      }
      case "event": {
        const known = this.registers.get(message.register_id);
        if (known && message.seq <= known.seq) return; // already applied
        if (known && message.seq > known.seq + 1) {
          this.send({ type: "resync" });
          return;
        }
        if (message.change === "archived") {
          this.registers.delete(message.register_id);
        } else if (!known && !message.changed.caja) {
          // A change of a caja this page has nothing of: it needs the whole caja.
          this.send({ type: "resync" });
          return;
        } else {
          // An event carries what changed of the register; its health and its POS are not part of it.
          const { recent_sale: sale, ...changed } = message.changed;
          const register = { ...known, ...changed, health: known?.health ?? { status: "ok" }, pos: known?.pos };
          // A sale comes alone: first of the last sales, which keep the newest.
          if (sale) register.recent_sales = [sale, ...(known?.recent_sales ?? [])].slice(0, RECENT_SALES);
          this.registers.set(message.register_id, register);
        }
        this.handlers.onChange(this.registers, message);
        break;
      }
      case "catalog":
        // The caja's keys changed (a product added, repriced, sold out).
        this.handlers.onCatalog?.(message.catalog);
        break;
      case "boletas":
        // The floor's: the boletas waiting for the provider, and rejected.
        this.handlers.onBoletas?.(message.boletas);
        break;
      case "ack":
      case "error":
        this.handlers.onReply(message);
        break;
      default:
        break; // "pong" and anything newer this page does not know
    }
  }

  /** Asks for a pong now and then: a dead Wi-Fi link closes no socket by itself. */
  keepAlive() {
    clearInterval(this.timers.ping);
    this.lastHeard = Date.now();
    this.timers.ping = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENT_MS) this.abandon();
      else this.send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  /** Gives up on a socket that stopped answering, without waiting for its close. */
  abandon() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.close();
    this.closed({ code: 4000 }, true);
  }

  async closed(event, opened) {
    clearInterval(this.timers.ping);
    this.socket = null;
    if (event.code === 1008) {
      // The hub ended this login (user disabled, password or PIN changed):
      // log in again and come back here (a POS's unsent sales stay stored).
      this.status("logged-out");
      logInAgain();
      return;
    }
    if (event.code === TOO_MANY_SCREENS) {
      // This login (or this person) holds as many screens as the hub
      // allows: trying again would be refused again until one closes.
      this.status("ended", event.reason);
      return;
    }
    if (event.code === 1000) {
      // The hub ended what this page follows (the caja's session, the caja).
      this.status("ended", event.reason);
      return;
    }
    if (!opened) this.failures += 1;
    // A refused upgrade looks like any dropped connection to a script: after
    // a few, ask a page whether the login expired (go log in again) or the
    // socket alone is refused (the page may take over: then stop trying).
    if (this.failures >= CHECK_LOGIN_AFTER) {
      const login = await loginState();
      if (login === "out") {
        this.status("logged-out");
        logInAgain();
        return;
      }
      if (login === "in" && this.handlers.onRefused?.()) {
        this.status("ended", "esta pantalla ya no puede seguir la caja");
        return;
      }
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const jittered = delay / 2 + Math.random() * (delay / 2);
    this.status("offline", Math.max(1, Math.ceil(jittered / 1000)));
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.open(), jittered);
  }

  status(state, detail) {
    this.state = state;
    this.handlers.onStatus(state, detail);
  }
}

/** Shows the connection state in an element with data-state for styling. */
export function showConnection(element, state, detail) {
  element.dataset.state = state;
  element.textContent = {
    connecting: "Conectando…",
    reconnecting: "Reconectando…",
    online: "En línea",
    offline: `Sin conexión · reintento en ${detail ?? 1} s`,
    ended: detail ? `Desconectado: ${detail}.` : "Desconectado.",
    "logged-out": "Tu sesión terminó: vuelve a ingresar.",
  }[state];
}

/** "out" when the hub answers that nobody is logged in (a redirect to the
 * login page), "in" when it answers a page, "away" when it does not answer. */
async function loginState() {
  try {
    const response = await fetch("/", { redirect: "manual", cache: "no-store", credentials: "same-origin" });
    if (response.type === "opaqueredirect") return "out";
    return response.ok ? "in" : "away";
  } catch {
    return "away"; // the hub is away: nothing to conclude
  }
}

function logInAgain() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
}
