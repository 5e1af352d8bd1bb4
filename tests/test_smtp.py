"""The SMTP sender against a real SMTP server (aiosmtpd): plain, STARTTLS with login, and SMTPS."""

from __future__ import annotations

import datetime
import ssl
from collections import Counter

import pytest
from aiosmtpd.smtp import AuthResult
from helpers import Mailbox, a_letter, add_edition, add_readers, address, ledger, smtp_controller

from digest.delivery import send_edition
from digest.errors import ConfigError
from digest.mail import SenderRefused
from digest.mail.smtp import SmtpSender, parse_smtp_url
from digest.settings import Settings


def _login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login, auth_data.password) == (b"digest", b"s3cret"), handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and a client context that trusts it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def running(mailbox, **options):
    return smtp_controller(mailbox, **options)


def port_of(controller) -> int:
    return controller.port


def send_via(engine, sender, number=1, **options):
    try:
        return send_edition(
            engine,
            Settings(database_url=str(engine.url), base_url="https://v.example"),
            number,
            sender=sender,
            letter=a_letter(number),
            **options,
        )
    finally:
        sender.close()


def test_each_reader_gets_one_multipart_message_with_the_list_headers(engine):
    add_readers(engine, 12)
    add_edition(engine, 1)
    mailbox = Mailbox()
    controller = running(mailbox)
    try:
        summary = send_via(engine, SmtpSender(f"smtp://127.0.0.1:{port_of(controller)}"), batch_size=5)
    finally:
        controller.stop()
    assert (summary.status, summary.sent) == ("sent", 12)
    assert Counter(to for envelope in mailbox.envelopes for to in envelope) == Counter(
        {address(i): 1 for i in range(1, 13)}
    )
    message = mailbox.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    token = message["List-Unsubscribe"].strip().removeprefix("<https://v.example/unsubscribe/").rstrip(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] and message["To"] == message["To"].strip()
    assert f"/unsubscribe/{token}" in message.get_body(("html",)).get_content()
    assert len({m["Message-ID"] for m in mailbox.messages}) == 12


def test_starttls_and_login_when_the_url_has_credentials(engine, certificate):
    server_tls, client_tls = certificate
    add_readers(engine, 3)
    add_edition(engine, 1)
    mailbox = Mailbox()
    controller = running(
        mailbox, tls_context=server_tls, require_starttls=True, authenticator=_login, auth_require_tls=True
    )
    try:
        url = f"smtp://digest:s3cret@127.0.0.1:{port_of(controller)}"
        summary = send_via(engine, SmtpSender(url, tls_context=client_tls))
    finally:
        controller.stop()
    assert summary.sent == 3 and len(mailbox.messages) == 3


def test_smtps_speaks_tls_from_the_first_byte(engine, certificate):
    server_tls, client_tls = certificate
    add_readers(engine, 2)
    add_edition(engine, 1)
    mailbox = Mailbox()
    controller = running(mailbox, ssl_context=server_tls)
    try:
        summary = send_via(engine, SmtpSender(f"smtps://127.0.0.1:{port_of(controller)}", tls_context=client_tls))
    finally:
        controller.stop()
    assert summary.sent == 2 and len(mailbox.messages) == 2


def test_a_refused_recipient_is_failed_and_the_others_are_sent(engine):
    add_readers(engine, 6)
    add_edition(engine, 1)
    mailbox = Mailbox(refuse={address(4)})
    controller = running(mailbox)
    try:
        summary = send_via(engine, SmtpSender(f"smtp://127.0.0.1:{port_of(controller)}"))
    finally:
        controller.stop()
    assert (summary.sent, summary.failed) == (5, 1)
    assert ledger(engine, 1)[4] == "failed"
    assert address(4) not in {to for envelope in mailbox.envelopes for to in envelope}


def test_a_wrong_password_stops_the_send_with_a_clear_message(engine, certificate):
    server_tls, client_tls = certificate
    add_readers(engine, 2)
    add_edition(engine, 1)
    controller = running(Mailbox(), tls_context=server_tls, authenticator=_login, auth_require_tls=True)
    try:
        with pytest.raises(SenderRefused, match="refused the login in DIGEST_SMTP_URL"):
            send_via(engine, SmtpSender(f"smtp://digest:wrong@127.0.0.1:{port_of(controller)}", tls_context=client_tls))
    finally:
        controller.stop()
    assert ledger(engine, 1) == {}


@pytest.mark.parametrize(
    "url, problem",
    [
        (None, "DIGEST_SMTP_URL is not set"),
        ("http://mail.example.com", "must look like smtp://"),
        ("smtp://host:notaport", "not a valid URL"),
    ],
)
def test_a_bad_smtp_url_is_named(url, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_smtp_url(url)


def test_smtp_url_parts_are_read_with_sensible_default_ports():
    assert parse_smtp_url("smtps://me%40x.org:p%3Ass@mail.example.com").port == 465
    target = parse_smtp_url("smtp://me%40x.org:p%3Ass@mail.example.com")
    assert (target.port, target.ssl, target.username, target.password) == (587, False, "me@x.org", "p:ss")
