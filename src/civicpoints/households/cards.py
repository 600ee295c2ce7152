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
