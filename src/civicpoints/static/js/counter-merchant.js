// The merchant till (counter/merchant.html): payment code or card + PIN, Enter moves to what
// is still missing, the double-tap guard, and the camera scanner for the payment code.
import { cameraScan } from "./camera-scan.js";

const form = document.getElementById("pay-form");
const code = document.getElementById("code");
const card = document.getElementById("card");
const pin = document.getElementById("pin");
const points = document.getElementById("points");

function mode() { return form.querySelector("input[name=mode]:checked").value; }
function show() {
  const isCard = mode() === "card";
  document.getElementById("code-box").hidden = isCard;
  document.getElementById("card-box").hidden = !isCard;
  (isCard ? card : code).focus();
}
form.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", show));
// A USB scanner types the code and Enter; the cashier types the amount and Enter. Whichever
// comes first, Enter moves to what is still missing and submits only when all is there.
function missing() {
  if (!points.value.trim()) return points;
  if (mode() === "card") { if (!card.value.trim()) return card; if (!pin.value.trim()) return pin; }
  else if (!code.value.trim()) return code;
  return null;
}
form.addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  const next = missing();
  if (next) { event.preventDefault(); next.focus(); }
});
form.addEventListener("submit", (event) => {
  const next = missing();
  if (next) { event.preventDefault(); next.focus(); return; }
  const button = document.getElementById("confirm");
  setTimeout(() => { button.disabled = true; button.textContent = button.dataset.busy; }, 0);
});

cameraScan({
  once: true,
  clean: (text) => text.replace(/\s+/g, ""),
  onText(text) {
    code.value = text;
    if (points.value.trim()) form.requestSubmit(); else points.focus();
  },
  onClose() { code.focus(); },
});
