// The closing count: bills and coins add up as they are typed, and (unless
// the count is blind) the difference with the expected cash shows live.

import { parsePesos, pesos } from "./format.js";

const form = document.getElementById("conteo");

function count(input) {
  const typed = input.value.trim();
  if (typed === "") return 0;
  return /^\d{1,7}$/.test(typed) ? Number(typed) : null;
}

function update() {
  let total = 0;
  let readable = true;
  for (const row of form.querySelectorAll(".denomination")) {
    const n = count(row.querySelector("input"));
    const subtotal = row.querySelector("[data-field=subtotal]");
    if (n === null) {
      readable = false;
      subtotal.textContent = "número entero";
      continue;
    }
    subtotal.textContent = n ? pesos(n * Number(row.dataset.value)) : "";
    total += n * Number(row.dataset.value);
  }
  // The total typed by hand stands in when no bill was counted.
  const typed = parsePesos(form.elements.cash_count.value);
  const counted = total === 0 && typed !== null ? typed : total;
  form.querySelector("#total-contado").textContent = readable ? pesos(counted) : "revisa las cantidades";
  const difference = form.querySelector("[data-field=difference]");
  if (!difference || form.dataset.expected === undefined) return;
  const started = typed !== null || [...form.querySelectorAll(".denomination input")].some((i) => i.value.trim() !== "");
  if (!started) {
    // Nothing counted yet is not a faltante.
    difference.dataset.tone = "";
    difference.textContent = "Cuenta billetes y monedas: aquí verás la diferencia con lo esperado.";
    return;
  }
  const diff = counted - Number(form.dataset.expected);
  difference.dataset.tone = diff === 0 ? "ok" : "bad";
  difference.textContent = !readable ? "" : diff === 0 ? "Cuadra con el efectivo esperado." : `${diff > 0 ? "Sobrante" : "Faltante"} de ${pesos(Math.abs(diff))} frente a lo esperado.`;
}

if (form) {
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}
