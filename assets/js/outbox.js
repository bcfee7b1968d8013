// On every page: sales this device took offline for a caja whose POS page
// is not open here (its session closed, the login ended and the cashier
// landed elsewhere) are handed to the hub, and the page says what became
// of them. The POS page hands over its own caja's sales itself.

import { SaleQueue } from "./queue.js";
import { handOver, handedOverText } from "./handover.js";

const RETRY_MS = 5_000;
const notice = document.getElementById("device-outbox");
const posCaja = Number(document.getElementById("pos")?.dataset.register ?? 0);

async function run() {
  const queues = SaleQueue.stored().filter((queue) => queue.registerId !== posCaja);
  if (!queues.length) return;
  const total = { recorded: 0, flagged: 0, kept: 0, later: 0 };
  for (const queue of queues) {
    const done = await handOver(queue);
    for (const key of Object.keys(total)) total[key] += done[key];
  }
  if (notice) {
    notice.textContent = handedOverText(total);
    notice.hidden = !notice.textContent;
    notice.dataset.tone = total.kept || total.later ? "bad" : "ok";
  }
  if (total.later) setTimeout(run, RETRY_MS);
}

run();
