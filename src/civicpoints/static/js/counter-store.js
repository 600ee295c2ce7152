// The store counter (counter/store.html): basket totals, the PIN pad, assisted mode, the
// double-tap guard and the camera scanner. Texts come from #panel's data attributes, so the
// template translates them.
import { cameraScan } from "./camera-scan.js";

const texts = document.getElementById("panel").dataset;

function fmt(h) {  // hundredths -> "12.5"
  const s = (h / 100).toFixed(2);
  return s.replace(/0+$/, "").replace(/\.$/, "");
}

function recompute() {
  const form = document.getElementById("sale-form");
  if (!form) return;
  let total = 0;
  form.querySelectorAll(".ptile").forEach((tile) => {
    const input = tile.querySelector("input");
    let n = parseInt(input.value, 10);
    if (!(n > 0)) n = 0;
    total += n * parseInt(tile.dataset.price, 10);
    tile.classList.toggle("picked", n > 0);
  });
  const available = parseInt(form.dataset.available, 10);
  const rate = parseFloat(form.dataset.rate);
  const cash = parseFloat(document.getElementById("cash").value) || 0;
  const covered = Math.round(cash * 100 / rate);
  document.getElementById("total").textContent = fmt(total);
  const short = document.getElementById("shortfall");
  const lacking = total - covered - available;
  if (total > 0 && lacking > 0) {
    short.textContent = texts.lacking + " " + fmt(lacking) + " " + texts.lackingCash + " " + (Math.ceil(lacking * rate) / 100).toFixed(2) + " " + texts.yuan;
  } else if (total > 0 && covered > 0) {
    short.textContent = texts.paidPoints + " " + fmt(Math.max(total - covered, 0)) + " " + texts.paidCash + " " + cash.toFixed(2) + " " + texts.yuan;
  } else {
    short.textContent = "";
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.classList.contains("plus") || button.classList.contains("minus")) {
    const tile = button.closest(".ptile");
    const input = tile.querySelector("input");
    let n = parseInt(input.value, 10) || 0;
    const stock = parseInt(tile.dataset.stock, 10);
    n = button.classList.contains("plus") ? Math.min(n + 1, Math.max(stock, 0)) : Math.max(n - 1, 0);
    input.value = n;
    recompute();
  } else if (button.dataset.key !== undefined) {
    const pin = document.getElementById("pin");
    if (button.dataset.key === "clear") pin.value = "";
    else if (button.dataset.key === "back") pin.value = pin.value.slice(0, -1);
    else if (pin.value.length < 6) pin.value += button.dataset.key;
  }
});
document.addEventListener("input", (event) => {
  if (event.target.closest("#sale-form")) recompute();
});
document.addEventListener("change", (event) => {
  if (event.target.id === "assisted") {
    const box = document.getElementById("assisted-box");
    const pinBox = document.getElementById("pin-box");
    box.hidden = !event.target.checked;
    pinBox.hidden = event.target.checked;
    document.getElementById("assisted_reason").required = event.target.checked;
    if (event.target.checked) document.getElementById("assisted_reason").focus();
  }
});
document.addEventListener("submit", (event) => {
  if (event.target.id !== "sale-form") return;
  const button = document.getElementById("confirm");
  // Disable after the browser has taken the submission; the key makes a second one harmless.
  setTimeout(() => { button.disabled = true; button.textContent = texts.busy; }, 0);
});
function afterPanel() {
  recompute();
  const q = document.getElementById("q");
  q.value = "";
  // A PC with a USB scanner keeps the cursor in the scan field; a phone would pop up
  // its keyboard over the goods, so there the field lets go.
  if (window.matchMedia("(pointer: fine)").matches) q.focus(); else q.blur();
}
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id === "panel") afterPanel();
});
recompute();

const form = document.getElementById("find-form");
const field = document.getElementById("q");
cameraScan({
  once: true,  // one card, one lookup
  onText(text) { field.value = text; htmx.trigger(form, "submit"); },
  onClose() { field.focus(); },
});
