"""The printed household card: a QR code holding the card code, for residents without a phone.

The QR holds only the card code (no name, no ID): a counter's USB scanner types it into the
search field, which finds the household by card code; redemption still needs the PIN.
"""

from __future__ import annotations

import segno

from civicpoints.households.models import Household


def card_qr_svg(household: Household, *, scale: int = 5) -> str:
    # make_qr, not make: a short code would become a Micro QR, which phone cameras and the
    # counter's browser scanner (jsQR / BarcodeDetector) do not read.
    return segno.make_qr(household.card_code, error="m").svg_inline(
        scale=scale, border=2, omitsize=True
    )


# Printed sheets: the symbol at least 30 mm wide, with the standard quiet zone of 4 modules.
PRINT_MIN_SYMBOL_MM = 30.0
PRINT_QUIET_ZONE = 4


def print_qr_svg(card_code: str) -> str:
    """The card's QR code for print, sized in millimetres (about 43.5 mm with its quiet zone)."""
    qr = segno.make_qr(card_code, error="m")
    modules = qr.symbol_size(border=0)[0]
    scale = max(1.5, PRINT_MIN_SYMBOL_MM / modules)
    return qr.svg_inline(scale=scale, border=PRINT_QUIET_ZONE, unit="mm")
