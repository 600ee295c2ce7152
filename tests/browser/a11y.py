"""Accessibility checks shared by browser tests: axe-core through axe-playwright-python (the
axe.min.js it ships, injected into the page; nothing downloaded) and the elder-mode rules of
the residents' pages (MIIT 2021 age-friendly spec): text >= 18 px, tap targets >= 60x60 px."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

_axe = Axe()

# axe-core impact levels that fail a page; "minor" and "moderate" are reported, not failed.
FAILING = frozenset({"serious", "critical"})


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the page, one line each."""
    results = _axe.run(page)
    found = []
    for v in results.response["violations"]:
        if v.get("impact") in FAILING:
            targets = ", ".join(str(n["target"]) for n in v["nodes"][:3])
            found.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return found


SMALL_TEXT_JS = """(minPx) => {
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TITLE']);
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || skip.has(el.tagName)) continue;
    if (el.closest('[hidden], [aria-hidden="true"]')) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const px = parseFloat(style.fontSize);
    if (px < minPx) bad.push(`${px}px: ${text.slice(0, 30)}`);
  }
  return bad;
}"""

SMALL_TARGETS_JS = """(minPx) => {
  const bad = [];
  const sel = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [role="button"]';
  for (const el of document.querySelectorAll(sel)) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    let target = el;
    // A radio or checkbox is tapped through its label (the whole row).
    if (el.matches('input[type="radio"], input[type="checkbox"]') && el.closest('label')) {
      target = el.closest('label');
    }
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.width < minPx || box.height < minPx) {
      const name = (el.innerText || el.value || el.name || el.getAttribute('aria-label') || '')
        .trim().slice(0, 30);
      bad.push(`${el.tagName.toLowerCase()} ${Math.round(box.width)}x${Math.round(box.height)}: ${name}`);
    }
  }
  return bad;
}"""


def small_text(page: Any, min_px: float = 18) -> list[str]:
    """Visible text set smaller than ``min_px``."""
    return page.evaluate(SMALL_TEXT_JS, min_px)


def small_targets(page: Any, min_px: float = 60) -> list[str]:
    """Visible links, buttons and fields smaller than ``min_px`` in either direction."""
    return page.evaluate(SMALL_TARGETS_JS, min_px)
