"""Settings and the files under var/: no secret in an error, credentials never sent without
TLS, one secret key however many processes start at once, private file modes, and no
command but ``init`` creating a database."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from mailer.config import load_settings
from mailer.db import make_engine
from mailer.errors import ConfigError
from mailer.sending.maildir import MaildirSender
from mailer.sending.smtp import SMTPPool, parse_smtp_url
from tests.support.running import cli
from tests.support.smtpserver import SMTPServer

SECRET = "hunter2-Pa55"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env, and ./var is this test's own
    for name in [n for n in os.environ if n.startswith("R2P_")]:
        monkeypatch.delenv(name)


def child_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update({"COLUMNS": "200", **values})
    return env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- no secret in error text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("R2P_DATABASE_URL", f"mysql://u:{SECRET}@db.example/r2p"),
        ("R2P_DATABASE_URL", f"postgresql://u:{SECRET}@db.example:port/r2p"),
        ("R2P_DATABASE_URL", f"{SECRET}://u:{SECRET}@db.example/r2p"),
        ("R2P_SMTP_URL", f"http://u:{SECRET}@mail.example"),
        ("R2P_SMTP_URL", f"smtp://u:{SECRET}@mail.example:587"),
        ("R2P_SMTP_URL", f"smtp://u:{SECRET}@mail.example:587?starttls=maybe"),
        ("R2P_SMTP_URL", f"smtp://u:{SECRET}@mail.example:port"),
    ],
)
def test_a_bad_setting_names_the_variable_and_never_shows_the_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert SECRET not in str(caught.value)
    result = cli("feeds", "list")  # the operator's view: one clean line
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert result.output.count("\n") == 1 and name in result.output, result.output


def test_secret_values_of_the_wrong_type_are_never_echoed() -> None:
    for field in ("secret_key", "metrics_token", "smtp_url", "database_url"):
        with pytest.raises(ConfigError) as caught:
            load_settings(**{field: [SECRET]})
        assert f"R2P_{field.upper()}" in str(caught.value)
        assert SECRET not in str(caught.value), field


# --- SMTP credentials need TLS -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"smtp://user:{SECRET}@mail.example:587", "starttls=true"),
        (f"smtp://user:{SECRET}@mail.example:587?starttls=false", "allow_plaintext_auth"),
        (f"smtp://user:{SECRET}@mail.example:587?starttls=yes", "starttls"),
        (f"smtps://user:{SECRET}@mail.example?starttls=true", "smtps"),
        ("smtp://mail.example:587?allow_plaintext_auth=perhaps", "allow_plaintext_auth"),
    ],
)
def test_credentials_are_refused_without_tls_unless_the_url_says_so(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    message = str(caught.value)
    assert message.startswith("R2P_SMTP_URL") and reason in message and SECRET not in message


def test_what_the_smtp_url_may_say() -> None:
    strict = parse_smtp_url(f"smtp://user:{SECRET}@mail.example:587?starttls=true")
    assert strict.start_tls is True and not strict.use_tls and strict.password == SECRET
    implicit = parse_smtp_url(f"smtps://user:{SECRET}@mail.example")
    assert implicit.use_tls and implicit.start_tls is False and implicit.port == 465
    plain = parse_smtp_url(
        f"smtp://user:{SECRET}@relay.internal:25?starttls=false&allow_plaintext_auth=true"
    )
    assert plain.start_tls is False and plain.password == SECRET
    anonymous = parse_smtp_url("smtp://127.0.0.1:2525")
    assert anonymous.start_tls is None and anonymous.username is None
    assert SECRET not in str(strict) + str(implicit) + str(plain)


def test_with_starttls_true_a_server_without_tls_gets_no_credentials(
    smtp_server: SMTPServer,
) -> None:
    """The loopback server offers no STARTTLS (as after a stripping attack): the send is
    retried later and the password never leaves."""
    url = f"smtp://user:{SECRET}@127.0.0.1:{smtp_server.port}?starttls=true"
    pool = SMTPPool(parse_smtp_url(url, timeout=5), connections=1)

    async def send() -> str:
        try:
            result = await pool.send(
                "r2p@example.org", "reader@example.org", b"Subject: x\r\n\r\nx\r\n"
            )
        finally:
            await pool.aclose()
        return result.verdict

    assert asyncio.run(send()) == "retry"
    assert smtp_server.received == []


# --- one secret key, private files -------------------------------------------------------

# Eight real processes (spawned interpreters) wait at a barrier, then all ask for the key
# of the same fresh var/ at once; 25 rounds. Before the fix 8 of 25 rounds disagreed or
# crashed with FileExistsError.
RACE = """
import json, multiprocessing, sys
from pathlib import Path


def race(folders, barrier, results):
    from mailer.config import Settings

    for folder in folders:
        barrier.wait(timeout=120)
        try:
            key = Settings(_env_file=None, var_dir=Path(folder)).signing_key
        except Exception as exc:
            key = "error: " + repr(exc)
        results.put((folder, key))


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    folders = sys.argv[1:]
    barrier, results = context.Barrier(8), context.Queue()
    racers = [context.Process(target=race, args=(folders, barrier, results)) for _ in range(8)]
    for racer in racers:
        racer.start()
    found = [results.get(timeout=300) for _ in range(8 * len(folders))]
    for racer in racers:
        racer.join()
    print(json.dumps(found))
"""


def test_processes_started_together_share_one_secret_key(tmp_path: Path) -> None:
    script = tmp_path / "race.py"
    script.write_text(RACE)
    folders = [tmp_path / f"var{n}" for n in range(25)]
    done = subprocess.run(
        [sys.executable, str(script), *map(str, folders)],
        cwd=tmp_path,
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    keys: dict[str, set[str]] = {}
    for folder, key in json.loads(done.stdout):
        keys.setdefault(folder, set()).add(key)
    assert sorted(keys) == sorted(map(str, folders))
    for folder in folders:
        (key,) = keys[str(folder)]  # one key per folder, no error
        assert len(key) >= 40 and not key.startswith("error"), key
        assert (folder / "secret.key").read_text().strip() == key
        assert [p.name for p in folder.iterdir()] == ["secret.key"]  # no temp file left
        assert mode(folder / "secret.key") == 0o600 and mode(folder) == 0o700


def test_an_empty_secret_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir(mode=0o700)
    (tmp_path / "var" / "secret.key").write_text("")
    with pytest.raises(ConfigError, match=r"secret\.key is empty"):
        load_settings().signing_key  # noqa: B018


def test_var_the_database_its_wal_the_key_and_mail_are_private(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual default: files 0644, folders 0755 unless made private
    result = cli("init")
    assert result.exit_code == 0, result.output
    settings = load_settings()
    var = tmp_path / "var"
    database = var / "r2p-mailer.sqlite3"
    assert mode(var) == 0o700
    assert mode(database) == 0o600
    engine = make_engine(settings.database)
    try:
        with engine.connect() as connection:  # -wal and -shm exist while one is open
            connection.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            connection.commit()
            for suffix in ("-wal", "-shm"):
                assert mode(database.with_name(database.name + suffix)) == 0o600, suffix
    finally:
        engine.dispose()
    assert len(settings.signing_key) >= 40
    assert mode(var / "secret.key") == 0o600
    sender = MaildirSender(settings.mail_dir)
    asyncio.run(sender.send("r2p@example.org", "reader@example.org", b"Subject: x\r\n\r\nx\r\n"))
    asyncio.run(sender.aclose())
    folders = [settings.mail_dir, *(settings.mail_dir / d for d in ("cur", "new", "tmp"))]
    assert [mode(folder) for folder in folders] == [0o700] * 4
    stored = list((settings.mail_dir / "new").iterdir())
    assert len(stored) == 1 and mode(stored[0]) == 0o600
    assert stored[0].read_bytes().endswith(b"Subject: x\r\n\r\nx\r\n")


# --- only init creates a database --------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["feeds", "list"], ["run", "--port", "0"], ["web", "--port", "0"], ["deliver", "--once"]],
    ids=lambda c: c[0],
)
def test_a_command_in_an_empty_directory_creates_no_database(
    tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "service", *command],
        cwd=empty,
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    expected = (
        f"error: no database at sqlite:///{empty / 'var' / 'r2p-mailer.sqlite3'} "
        "(run r2p-mailer init, or set R2P_DATABASE_URL)"
    )
    assert (done.returncode, done.stderr.strip()) == (1, expected), done.stdout
    assert list(empty.iterdir()) == []


def test_init_creates_it_and_then_other_commands_use_it(tmp_path: Path) -> None:
    assert cli("feeds", "list").exit_code == 1
    assert not (tmp_path / "var").exists()
    assert cli("init").exit_code == 0
    assert cli("feeds", "list").exit_code == 0
