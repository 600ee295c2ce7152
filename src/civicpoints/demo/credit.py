"""The demo county's 文明积分贷 (docs/credit.md): the scheme's statement-signing key and one
partner lender, so a statement can be issued from the first click. Idempotent."""

from __future__ import annotations

from civicpoints.credit.keys import active_key, signing_key_create
from civicpoints.credit.lenders import lender_create, uscc_make
from civicpoints.credit.models import Lender
from civicpoints.schemes.models import Scheme
from civicpoints.schemes.scope import Actor

DEMO_LENDER = {
    "name": "通榆农商银行",
    "code": uscc_make("91220822MA17TY8K0"),
    "contact_name": "王经理",
    "contact_phone": "0436-4212345",
}


def build_credit(*, scheme: Scheme, admin: Actor) -> int:
    """The signing key if the scheme has none, and the demo lender; returns the lenders."""
    if active_key(scheme_id=scheme.pk) is None:
        signing_key_create(scheme=scheme, actor_id=admin.user_id)
    if not Lender.objects.filter(scheme=scheme, code=DEMO_LENDER["code"]).exists():
        lender_create(actor=admin, scheme=scheme, **DEMO_LENDER)
    return Lender.objects.filter(scheme=scheme).count()
