// JSON requests to the hub from a page (same origin, its login cookie).

/**
 * POSTs `body` as JSON. Resolves to { ok, status, body }; a network failure
 * is { ok: false, status: 0 } with a message a person can read.
 */
export async function postJson(url, body) {
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok && !answer.message) answer.message = `El servidor respondió ${response.status}.`;
    return { ok: response.ok, status: response.status, body: answer };
  } catch {
    return { ok: false, status: 0, body: { message: "Sin conexión con el servidor: inténtalo de nuevo." } };
  }
}
