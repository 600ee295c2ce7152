// A resident checks in by the activity's code (portal/activity_scan.html). The QR code at the
// door holds a link to this page with ?code=...; a bare code works too.
import { cameraScan } from "./camera-scan.js";

const form = document.getElementById("code-form");
const field = document.getElementById("code");
function clean(text) {
  const t = text.trim();
  try { return new URL(t).searchParams.get("code") || t; } catch (e) { return t; }
}
cameraScan({ once: true, clean, onText(text) { field.value = text; form.submit(); } });
