// Amount fields of plain forms (input[data-pesos]): pesos grouped as they
// are typed, "$50.000", as the POS shows them. Zero stays a zero.

import { regroupAsTyped } from "./format.js";

for (const input of document.querySelectorAll("input[data-pesos]")) {
  const regroup = (event) => {
    if (!/^\$?\s*0+$/.test(input.value.trim())) regroupAsTyped(input, event);
  };
  input.addEventListener("input", regroup);
  regroup();
}
