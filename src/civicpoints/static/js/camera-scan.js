// The camera QR scanner shared by the activity check-in, the store counter and the merchant
// till (templates/camera_scan.html renders the button, note and video it drives). The labels
// come from the button's data attributes, so they are translated by the template.
//
//   import { cameraScan } from ".../js/camera-scan.js";
//   cameraScan({ onText(text) { ... }, onClose() { ... }, once: true });
//
// once: stop the camera after the first code (one card, one lookup); otherwise keep scanning
// and ignore the same code read again within 4 seconds (a card held in front of the camera is
// read many times a second).
export function cameraScan({ onText, onClose = () => {}, once = false, clean = (t) => t.trim() }) {
  const button = document.getElementById("camera-button");
  const video = document.getElementById("camera");
  const note = document.getElementById("camera-note");
  const overlay = document.getElementById("camera-overlay");  // qr-scanner may detach it
  const labels = button.dataset;
  let scanner = null;
  let last = { text: "", at: 0 };
  const say = (text) => { note.textContent = text; note.hidden = false; };
  function stop() {
    if (!scanner) return;
    scanner.stop(); scanner.destroy(); scanner = null;
    overlay.hidden = true;
    video.classList.remove("on");
    button.textContent = labels.open;
  }
  function onDecode(result) {
    const text = clean(result.data || "");
    const now = Date.now();
    if (!text || (text === last.text && now - last.at < 4000)) return;
    last = { text, at: now };
    if (once) stop();
    onText(text);
  }
  button.addEventListener("click", async () => {
    if (scanner) { stop(); onClose(); return; }
    if (!window.isSecureContext) { say(labels.https); return; }
    const { default: QrScanner } = await import(labels.scanner);
    // Our own overlay (templates/camera_scan.html): qr-scanner's default one is markup with
    // inline styles, which the Content-Security-Policy refuses.
    overlay.hidden = false;
    scanner = new QrScanner(video, onDecode, {
      preferredCamera: "environment", maxScansPerSecond: 5, highlightScanRegion: true, overlay,
    });
    try {
      await scanner.start();
      video.classList.add("on");
      note.hidden = true;
      button.textContent = labels.close;
    } catch (error) {
      scanner.destroy(); scanner = null;
      overlay.hidden = true;
      say(labels.failed);
    }
  });
}
