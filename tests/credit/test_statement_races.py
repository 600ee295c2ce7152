"""A revoke racing a statement (PostgreSQL): whichever takes the consent's lock first wins, and
the other sees what it did. A revoke holding the lock makes the waiting issue 404 and write
nothing; an issue holding the lock finishes, and the download after the revoke is 404."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command

from civicpoints.credit import consents as consent_services
from civicpoints.credit import statements as statement_services
from civicpoints.credit.consents import consent_revoke
from civicpoints.credit.models import Consent, ConsentChannel, ConsentUse, ConsentUseKind, Statement
from civicpoints.credit.statements import statement_deliver, statement_issue
from civicpoints.errors import NotFound
from tests.credit.conftest import grant
from tests.ledger.helpers import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)
KEYS_URL = "https://example.test/open/keys.json"


@pytest.fixture
def live(credit, home, postgres_only):
    call_command("statement", "keygen", "--scheme", str(credit.world.scheme.pk))
    key = credit.lender.keys.get()
    return home, grant(credit, home), key


def test_a_revoke_holding_the_lock_makes_the_waiting_issue_404(live, monkeypatch):
    home, consent, key = live
    locked = threading.Event()
    real = consent_services.events.credit_consent_revoked

    def pause_inside_the_revoke(**kwargs):  # the consent is updated and still locked here
        locked.set()
        time.sleep(0.5)  # the issue is now waiting on the lock
        return real(**kwargs)

    monkeypatch.setattr(consent_services.events, "credit_consent_revoked", pause_inside_the_revoke)

    def work(i: int):
        if i == 0:
            return consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)
        assert locked.wait(10)
        return statement_issue(key=key, ref=consent.ref, keys_url=KEYS_URL)

    revoked, issued = run_in_threads(2, work)

    assert revoked.error is None and isinstance(issued.error, NotFound)
    assert Statement.objects.count() == 0
    assert not ConsentUse.objects.filter(kind=ConsentUseKind.STATEMENT_ISSUE).exists()
    assert Consent.objects.get().revoked_at is not None


def test_an_issue_holding_the_lock_finishes_and_the_revoke_follows(live, monkeypatch):
    home, consent, key = live
    locked = threading.Event()
    real = statement_services.household_record

    def pause_inside_the_issue(found):  # the consent is locked here
        locked.set()
        time.sleep(0.5)  # the revoke is now waiting on the lock
        return real(found)

    monkeypatch.setattr(statement_services, "household_record", pause_inside_the_issue)

    def work(i: int):
        if i == 0:
            return statement_issue(key=key, ref=consent.ref, keys_url=KEYS_URL)
        assert locked.wait(10)
        return consent_revoke(household=home, ref=consent.ref, channel=ConsentChannel.PHONE)

    issued, revoked = run_in_threads(2, work)

    assert issued.error is None and revoked.error is None
    statement = Statement.objects.get()
    issue_row = ConsentUse.objects.get(kind=ConsentUseKind.STATEMENT_ISSUE)
    revoke_row = ConsentUse.objects.get(kind=ConsentUseKind.REVOKED)
    assert issue_row.at <= revoke_row.at and issue_row.pk < revoke_row.pk
    with pytest.raises(NotFound):
        statement_deliver(key=key, code=statement.code)
