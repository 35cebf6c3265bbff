"""Renewed token sets the host could not store: kept sealed, handed in by the old set, renewed again."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from cryptography.fernet import Fernet

from connector_proxy.oauth.renewed_tokens import Renewals, SqliteRenewed
from connector_proxy.sdk.auth import token_fingerprint
from connector_proxy.sdk.context import RefreshedTokens
from connector_proxy.secrets.record_encryption import Sealer

OLD = {"access_token": "old-access", "refresh_token": "old-refresh", "expires_at": 1}
NEW = {"access_token": "new-access", "refresh_token": "new-refresh", "expires_at": 4102444800}


def renewals(tmp_path: Path, lifetime: float = 60.0) -> Renewals:
    return Renewals(
        SqliteRenewed(tmp_path / "store.sqlite3"), lifetime, Sealer((Fernet.generate_key().decode(),))
    )


def test_a_kept_set_is_sealed_and_handed_in_for_the_old_one_in_either_form(tmp_path: Path) -> None:
    kept = renewals(tmp_path)
    kept.settle([RefreshedTokens("crm", NEW, token_fingerprint(OLD))], stored=None)
    as_text, handed = kept.hand_in({"token_set": json.dumps(OLD), "spiff__task_data": OLD, "n": 1})
    as_object, _ = kept.hand_in({"token_set": OLD})
    other, none = kept.hand_in({"token_set": {**OLD, "access_token": "another"}})
    rows = sqlite3.connect(tmp_path / "store.sqlite3").execute("SELECT token_set FROM renewed").fetchall()

    assert json.loads(as_text["token_set"]) == NEW and as_text["spiff__task_data"] == OLD
    assert as_object["token_set"] == NEW
    assert list(handed.values()) == [RefreshedTokens("crm", NEW, token_fingerprint(OLD))]
    assert other["token_set"]["access_token"] == "another" and none == {}
    assert len(rows) == 1 and "new-access" not in rows[0][0]  # sealed at rest


def test_a_set_renewed_twice_is_kept_once_under_the_set_the_host_holds(tmp_path: Path) -> None:
    kept = renewals(tmp_path)
    _, handed = kept.hand_in({"token_set": OLD})  # nothing kept yet
    second = {**NEW, "access_token": "newer-access"}
    outstanding = kept.outstanding(
        handed,
        [
            RefreshedTokens("crm", NEW, token_fingerprint(OLD)),
            RefreshedTokens("crm", second, token_fingerprint(NEW)),  # a 401 after the first refresh
        ],
    )

    assert outstanding == [RefreshedTokens("crm", second, token_fingerprint(OLD))]


def test_the_set_an_answer_carried_is_forgotten_and_a_kept_one_expires(tmp_path: Path) -> None:
    kept = renewals(tmp_path)
    tokens = RefreshedTokens("crm", NEW, token_fingerprint(OLD))
    kept.settle([tokens], stored=None)
    kept.settle([tokens], stored=tokens)
    forgotten, _ = kept.hand_in({"token_set": OLD})
    brief = renewals(tmp_path / "brief", lifetime=0.05)
    brief.settle([tokens], stored=None)
    time.sleep(0.2)  # a duration, not an event: past the 0.05 s lifetime under test
    expired, _ = brief.hand_in({"token_set": OLD})

    assert forgotten["token_set"] == OLD and expired["token_set"] == OLD
