"""``flask --app wsgi issuer simulate | deliver | expire`` (registered on the guarantees blueprint's CLI group).

``simulate`` signs in as an issuer user once (password) to have a signing certificate issued for its key, kept
in ``--home``; from then on it uses only the signed issuer API, and serves its callback URL.
"""
from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import click
import requests
from cryptography.hazmat.primitives import serialization
from flask import current_app

from crypto import certificates as x509ca
from crypto.keystore import load_private_key_file, save_private_key_file


def _enrol(server: str, username: str, password: str, home: Path, key_password: str):
    """Key pair made here; only the certificate request leaves this machine."""
    key_file, cert_file = home / "signing-key.pem", home / "signing-cert.pem"
    if key_file.exists() and cert_file.exists():
        return load_private_key_file(key_file, key_password), x509ca.load_certificate(cert_file.read_bytes())
    home.mkdir(parents=True, exist_ok=True)
    token = requests.post(f"{server}/api/v1/tokens", json={"username": username, "password": password,
                                                           "label": "issuer-simulator"}, timeout=30)
    if token.status_code != 200:
        raise click.ClickException(f"sign-in failed: {token.text[:300]}")
    key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(key, "issuer simulator").public_bytes(serialization.Encoding.PEM).decode()
    issued = requests.post(f"{server}/api/v1/certificates/signing", json={"csr": csr, "for_organisation": True},
                           headers={"Authorization": f"Bearer {token.json()['token']}"}, timeout=30)
    if issued.status_code != 201:
        raise click.ClickException(f"certificate request refused: {issued.text[:300]}")
    save_private_key_file(key, key_file, key_password)
    cert_file.write_text(issued.json()["pem"])
    return key, x509ca.load_certificate(issued.json()["pem"].encode())


@click.command("simulate")
@click.option("--server", default="http://127.0.0.1:5000", show_default=True, help="The platform's address.")
@click.option("--username", required=True, help="An issuer user of the simulated bank (first run only).")
@click.option("--password", envvar="ISSUER_PASSWORD", prompt=True, hide_input=True)
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Where the key and certificate live.")
@click.option("--key-password", envvar="ISSUER_KEY_PASSWORD", default=None, help="Defaults to the password.")
@click.option("--max-amount", default="5000000", show_default=True, help="Refuse larger amounts.")
@click.option("--deny", multiple=True, help="Credit code of a principal to refuse (repeatable).")
@click.option("--refuse-claims", is_flag=True, help="Refuse every claim instead of paying legal ones.")
@click.option("--callback-host", default="127.0.0.1", show_default=True)
@click.option("--callback-port", default=0, type=int, help="0 picks a free port.")
@click.option("--prefix", default="SIM", show_default=True, help="Guarantee number prefix.")
@click.option("--once", is_flag=True, help="Process what is waiting, then stop.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between polls.")
def simulate(server, username, password, home, key_password, max_amount, deny, refuse_claims, callback_host,
             callback_port, prefix, once, interval) -> None:
    """Run a simulated issuer (bank) against the platform over HTTP."""
    from guarantees.issuer_client import IssuerApiError, IssuerClient
    from guarantees.simulator import CallbackServer, Simulator, UnderwritingRules

    server = server.rstrip("/")
    home = home or Path(current_app.instance_path) / "issuer-simulator" / username
    key, certificate = _enrol(server, username, password, home, key_password or password)
    platform_pem = requests.get(f"{server}/api/v1/platform/certificates", timeout=30).json()["signing"]
    client = IssuerClient(server, key, certificate, platform_certificate=x509ca.load_certificate(platform_pem.encode()))
    simulator = Simulator(client, UnderwritingRules(max_amount=Decimal(max_amount), deny_principals=frozenset(deny),
                                                    refuse_claims=refuse_claims), prefix=prefix, log=click.echo)
    callback = CallbackServer(simulator, callback_host, callback_port).start()
    try:
        client.call("PUT", "/issuer/callback", {"url": callback.url})
        click.echo(f"issuer simulator for {username}: certificate {certificate.serial_number:x}, callback {callback.url}")
        while True:
            try:
                handled = simulator.run_once()
            except IssuerApiError as exc:
                click.echo(f"refused by the platform: {exc}", err=True)
                handled = []
            for kind in handled:
                click.echo(f"notice handled: {kind}")
            if once:
                break
            time.sleep(interval)
    finally:
        callback.stop()
    click.echo(f"issued {len(simulator.book.issued)}, rejected {len(simulator.book.rejected)}")


@click.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering every --interval seconds.")
@click.option("--interval", default=5.0, show_default=True)
def deliver(loop: bool, interval: float) -> None:
    """Post due notices (releases, claims, keys) to the issuers' callback URLs, with retries."""
    from guarantees.notices import deliver_due

    while True:
        report = deliver_due()
        click.echo(f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}")
        if not loop:
            return
        time.sleep(interval)


@click.command("expire")
def expire() -> None:
    """Mark guarantees whose validity has ended as expired."""
    from core.db import db
    from guarantees.release import expire_due

    rows = expire_due()
    db.session.commit()
    click.echo(f"expired {len(rows)}")


COMMANDS = [simulate, deliver, expire]
