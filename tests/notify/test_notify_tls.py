"""Mail over real TLS: aiosmtpd on loopback with STARTTLS or implicit SSL, a certificate from a private
CA (PIGE_SMTP_CA_FILE), AUTH only over TLS; an untrusted certificate keeps the alert in the outbox."""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pige_pipeline.defs.silence.assets import dead_air_alerts
from pige_pipeline.hours import partition_key_for
from pige_pipeline.lib.resources import PigeResource, pige_resources
from pige_pipeline.notify import (
    Notification,
    Notifier,
    NotifyConfigError,
    NotifySettings,
    Outbox,
    outbox_path,
)
from pige_pipeline.silence.rows import SILENCES_SCHEMA
from pige_pipeline.store.parquet import read_asset_hour, write_asset_hour
from pige_pipeline.testing.loopback_smtp import LoopbackSMTP
from tests.notify.conftest import Pki

H = datetime(2026, 3, 1, 10, tzinfo=UTC)
USER = "pige@radio.test"
SECRET = "tls-S3cret-Pa55"


def dead_air_hour(data_root: Path) -> None:
    """A stations file and the `silences` of one hour: 25 s of hum at 10:20:10 UTC on fm1 (suspect)."""
    (data_root / "stations.yaml").write_text(
        "stations:\n  - id: fm1\n    name: Radio Un\n    stream_url: http://127.0.0.1:8000/fm1.mp3\n"
        "    timezone: Europe/Paris\n",
        encoding="utf-8",
    )
    start = H + timedelta(seconds=1210)
    row = {
        "start": start, "end": start + timedelta(seconds=25), "start_s": 1210.0, "end_s": 1235.0,
        "duration_s": 25.0, "level_db": -38.0, "kind": "hum", "threshold_db": -50.0,
        "continues_from_previous_hour": False, "continues_into_next_hour": False, "min_seconds": 2.0,
        "fade_db_per_s": None, "floor_db": -60.0, "level_sd_db": 0.1, "spectral_change": 0.01,
        "tonal_share": 0.9, "mains_hz": 50.0, "why": "mains hum",
    }  # fmt: skip
    write_asset_hour(data_root, "silences", "fm1", H, [row], SILENCES_SCHEMA)


def smtp_env(monkeypatch: pytest.MonkeyPatch, port: int, security: str, ca_file: Path | None) -> None:
    monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PIGE_SMTP_PORT", str(port))
    monkeypatch.setenv("PIGE_SMTP_SECURITY", security)
    monkeypatch.setenv("PIGE_SMTP_USER", USER)
    monkeypatch.setenv("PIGE_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("PIGE_ALERT_TO", "regie@radio.test")
    monkeypatch.delenv("PIGE_SMTP_CA_FILE", raising=False)
    if ca_file is not None:
        monkeypatch.setenv("PIGE_SMTP_CA_FILE", str(ca_file))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def materialize(data_root: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dead_air_alerts],
        partition_key=partition_key_for(H),
        resources=pige_resources(PigeResource(data_root=str(data_root))),
        instance=dg.DagsterInstance.ephemeral(),
    )


def note(key: str = "dead_air:fm1/2026-03-01T10:20:10.0Z") -> Notification:
    return Notification(key=key, subject="Dead air on fm1", body="fm1 hum 10:20:10-10:20:35", kind="dead_air")


def tls_notifier(
    data_root: Path, port: int, security: str, ca_file: Path | None, **extra: object
) -> Notifier:
    settings = NotifySettings(
        smtp_host=extra.pop("smtp_host", "127.0.0.1"), smtp_port=port, smtp_security=security,
        smtp_user=USER, smtp_password=extra.pop("smtp_password", SECRET), smtp_ca_file=ca_file,
        alert_to=["regie@radio.test"], **extra,
    )  # fmt: skip
    return Notifier(settings, Outbox(outbox_path(data_root)))


def assert_secret_nowhere(data_root: Path, caplog: pytest.LogCaptureFixture, *texts: str | None) -> None:
    assert SECRET not in caplog.text
    assert all(SECRET not in (t or "") for t in texts)
    assert SECRET.encode() not in outbox_path(data_root).read_bytes()


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_dead_air_alert_arrives_over_tls_with_login(
    data_root: Path,
    pki: Pki,
    security: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dead_air_hour(data_root)
    with LoopbackSMTP(user=USER, password=SECRET, security=security, cert_chain=pki.cert_chain) as smtp:
        smtp_env(monkeypatch, smtp.port, security, pki.ca_file)
        result = materialize(data_root)
        [mail] = smtp.wait_for(1)
        # Re-materialising the hour sends nothing more.
        assert materialize(data_root).success
        time.sleep(0.3)
        assert len(smtp.messages) == 1
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    assert smtp.transports[0].startswith("TLSv1.") and smtp.logins == [USER]
    assert "Radio Un" in mail["Subject"] and "WARNING" in mail["Subject"] and "suspect" in mail["Subject"]
    body = mail.get_content()
    assert "11:20:10" in body and "10:20:10" in body and "Severity: warning" in body
    [alert] = read_asset_hour(data_root, "dead_air_alerts", "fm1", H).to_dict("records")
    assert alert["notification_status"] == "sent" and alert["notified_at"] is not None
    assert_secret_nowhere(data_root, caplog, alert["notification_status"])


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_untrusted_certificate_keeps_the_alert_until_the_ca_is_set(
    tmp_path: Path, pki: Pki, security: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LoopbackSMTP(user=USER, password=SECRET, security=security, cert_chain=pki.cert_chain) as smtp:
        # No CA file: the system store does not know the private CA.
        state = tls_notifier(tmp_path, smtp.port, security, None).send(note())
        error = state.last_error or ""
        assert state.status == "pending" and state.notified_at is None
        assert f"SMTP 127.0.0.1:{smtp.port}: TLS handshake failed" in error
        assert "not trusted by the system CA store" in error and "set PIGE_SMTP_CA_FILE" in error
        # A CA bundle that did not sign the server's certificate: the error says which file was used.
        other = tls_notifier(tmp_path, smtp.port, security, pki.other_ca_file)
        [retried] = other.flush(now=time.time() + 3600)
        assert retried.status == "pending" and f"PIGE_SMTP_CA_FILE={pki.other_ca_file}" in (
            retried.last_error or ""
        )
        # Nothing got through, not even the login: the password never left over an unverified link.
        assert smtp.messages == [] and smtp.logins == []
        assert Outbox(outbox_path(tmp_path)).pending_count() == 1
        # The operator sets PIGE_SMTP_CA_FILE: the next retry delivers it, once.
        fixed = tls_notifier(tmp_path, smtp.port, security, pki.ca_file)
        [delivered] = fixed.flush(now=time.time() + 7200)
        assert delivered.status == "sent" and delivered.attempts == 3 and delivered.notified_at is not None
        assert fixed.flush(now=time.time() + 9000) == [] and fixed.send(note()).status == "sent"
        smtp.wait_for(1)
        time.sleep(0.3)
        assert len(smtp.messages) == 1 and smtp.logins == [USER]
    assert_secret_nowhere(tmp_path, caplog, error, retried.last_error, repr(fixed.settings))


def test_certificate_for_another_host_names_pige_smtp_host(tmp_path: Path, pki: Pki) -> None:
    with LoopbackSMTP(security="ssl", cert_chain=pki.wrong_host_chain) as smtp:
        state = tls_notifier(tmp_path, smtp.port, "ssl", pki.ca_file).send(note())
    assert state.status == "pending"
    assert "not for '127.0.0.1'" in (state.last_error or "") and "PIGE_SMTP_HOST" in (state.last_error or "")
    assert smtp.messages == []


def test_wrong_security_mode_says_which_to_set(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LoopbackSMTP(user=USER, password=SECRET, security="starttls", cert_chain=pki.cert_chain) as smtp:
        # Plain client, STARTTLS server: no AUTH is offered before TLS, so the password is never sent.
        plain = tls_notifier(tmp_path, smtp.port, "none", None).send(note("k-plain"))
        assert plain.status == "pending" and "PIGE_SMTP_SECURITY=none" in (plain.last_error or "")
        # Without a login the server's 530 says TLS comes first.
        anonymous = Notifier(
            NotifySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, alert_to=["regie@radio.test"]),
            Outbox(outbox_path(tmp_path)),
        ).send(note("k-anonymous"))
        assert "set PIGE_SMTP_SECURITY=starttls" in (anonymous.last_error or "")
        # Implicit SSL against a port that speaks plain SMTP first.
        ssl_first = tls_notifier(tmp_path, smtp.port, "ssl", pki.ca_file).send(note("k-ssl"))
        assert "TLS handshake failed" in (ssl_first.last_error or "")
        assert "check PIGE_SMTP_SECURITY=ssl" in (ssl_first.last_error or "")
        # A wrong password over a verified TLS link: refused, named, and not echoed.
        wrong = tls_notifier(tmp_path, smtp.port, "starttls", pki.ca_file, smtp_password="no-" + SECRET)
        refused = wrong.send(note("k-wrong"))
        assert "refused the login of 'pige@radio.test'" in (refused.last_error or "")
        assert "PIGE_SMTP_PASSWORD" in (refused.last_error or "")
    assert smtp.messages == [] and smtp.logins == []
    errors = [s.last_error for s in (plain, anonymous, ssl_first, refused)]
    assert_secret_nowhere(tmp_path, caplog, *errors)


def test_ca_file_errors_name_the_variable(tmp_path: Path, pki: Pki) -> None:
    base = {"PIGE_SMTP_HOST": "mail.radio.test", "PIGE_SMTP_SECURITY": "ssl", "PIGE_ALERT_TO": "a@radio.test"}
    settings = NotifySettings.from_env({**base, "PIGE_SMTP_CA_FILE": str(pki.ca_file)})
    assert settings.smtp_ca_file == pki.ca_file and f"CA {pki.ca_file}" in settings.describe()
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(NotifyConfigError, match=f"PIGE_SMTP_CA_FILE: {missing} does not exist"):
        NotifySettings.from_env({**base, "PIGE_SMTP_CA_FILE": str(missing)})
    with pytest.raises(NotifyConfigError, match="PIGE_SMTP_CA_FILE: .* is a directory"):
        NotifySettings.from_env({**base, "PIGE_SMTP_CA_FILE": str(tmp_path)})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n", encoding="utf-8")
    with pytest.raises(NotifyConfigError, match="PIGE_SMTP_CA_FILE: .*garbage.pem holds no usable PEM"):
        NotifySettings.from_env({**base, "PIGE_SMTP_CA_FILE": str(garbage)})
    # The private key is not a CA certificate either.
    with pytest.raises(NotifyConfigError, match="PIGE_SMTP_CA_FILE: .*server.key holds no usable PEM"):
        NotifySettings.from_env({**base, "PIGE_SMTP_CA_FILE": str(pki.cert_chain[1])})


def _as_unprivileged(check: Callable[[], str]) -> str:
    """`check()` in a forked child that dropped root for `nobody` (its result comes back through a pipe).

    Root reads a mode-000 file anyway, so as root the test would prove nothing. The child keeps the
    interpreter and the modules already imported, so it needs no access to the virtual environment.
    """
    if os.geteuid() != 0:
        return check()
    nobody = pwd.getpwnam("nobody")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(writer, check().encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            os.write(writer, f"child failed: {exc!r}".encode())
            status = 1
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    return result


def test_unreadable_ca_file_names_the_variable(pki: Pki) -> None:
    # Not pytest's tmp_path: it is private to root, and the check runs as `nobody` when we are root.
    folder = Path(tempfile.mkdtemp(prefix="pige-ca-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked-ca.pem"
        locked.write_bytes(pki.ca_file.read_bytes())
        NotifySettings.from_env({"PIGE_SMTP_CA_FILE": str(locked)})  # readable: imports what the check needs
        locked.chmod(0)

        def check() -> str:
            try:
                NotifySettings.from_env({"PIGE_SMTP_CA_FILE": str(locked)})
            except NotifyConfigError as exc:
                return str(exc)
            return "accepted"

        message = _as_unprivileged(check)
        assert re.search(r"PIGE_SMTP_CA_FILE: .*cannot be read by this user", message), message
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_ca_file_gone_at_delivery_keeps_the_alert(tmp_path: Path, pki: Pki) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.ca_file.read_bytes())
    with LoopbackSMTP(security="starttls", cert_chain=pki.cert_chain) as smtp:
        notifier = Notifier(
            NotifySettings(
                smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="starttls", smtp_ca_file=bundle,
                alert_to=["regie@radio.test"],
            ),
            Outbox(outbox_path(tmp_path)),
        )  # fmt: skip
        bundle.unlink()  # the bundle is moved away after the settings were read
        state = notifier.send(note())
        assert state.status == "pending"
        assert f"SMTP 127.0.0.1:{smtp.port}: PIGE_SMTP_CA_FILE: {bundle} does not exist" == state.last_error
        bundle.write_bytes(pki.ca_file.read_bytes())
        [sent] = notifier.flush(now=time.time() + 3600)
        assert sent.status == "sent"
        smtp.wait_for(1)
    assert smtp.transports == ["TLSv1.3"]


def test_hourly_run_names_the_untrusted_relay_in_its_check(
    data_root: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_air_hour(data_root)
    with LoopbackSMTP(user=USER, password=SECRET, security="starttls", cert_chain=pki.cert_chain) as smtp:
        smtp_env(monkeypatch, smtp.port, "starttls", None)
        result = materialize(data_root)
        assert result.success
        [check] = result.get_asset_check_evaluations()
        assert not check.passed and "not delivered yet" in check.description
        assert f"127.0.0.1:{smtp.port}" in check.description and "PIGE_SMTP_CA_FILE" in check.description
        [pending] = read_asset_hour(data_root, "dead_air_alerts", "fm1", H).to_dict("records")
        assert pending["notification_status"].startswith("pending (") and pd.isna(pending["notified_at"])
        # The operator sets the variable; the outbox retry delivers, the re-run records it, once.
        monkeypatch.setenv("PIGE_SMTP_CA_FILE", str(pki.ca_file))
        assert [s.status for s in Notifier.from_env(data_root).flush(now=time.time() + 3600)] == ["sent"]
        rerun = materialize(data_root)
        smtp.wait_for(1)
        time.sleep(0.3)
        assert len(smtp.messages) == 1
    [check] = rerun.get_asset_check_evaluations()
    assert check.passed
    [sent] = read_asset_hour(data_root, "dead_air_alerts", "fm1", H).to_dict("records")
    assert sent["notification_status"] == "sent" and sent["alert_id"] == pending["alert_id"]
