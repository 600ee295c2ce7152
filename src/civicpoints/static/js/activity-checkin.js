// The check-in screen at the door (backoffice/activity_checkin.html): after each scan the
// field empties and takes the cursor again, ready for the next card; the camera keeps scanning.
import { cameraScan } from "./camera-scan.js";

const form = document.getElementById("scan-form");
const field = document.getElementById("code");
document.body.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.elt.id !== "scan-form") return;
  field.value = "";
  field.focus();
});
document.querySelectorAll("input[name=mode]").forEach((radio) => {
  radio.addEventListener("change", () => field.focus());
});
cameraScan({
  onText(text) { field.value = text; htmx.trigger(form, "submit"); },
  onClose() { field.focus(); },
});
