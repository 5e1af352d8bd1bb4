"""`digest doctor`: check a box before it goes live (or after a change), sending nothing."""

from __future__ import annotations

import json

import click

from digest.cli.app import App, pass_app


@click.command("doctor")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the checks as JSON: {ok, checks: [{check, ok, detail, fix}]}."
)
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check that this box is ready to send, without sending mail or writing to the store.

    \b
    Checks, in the order to fix them:
      settings       every value well-formed
      store          reachable, at this version's revision (not behind, not newer); never created
      backend        DIGEST_BACKEND configured, its key present; an SMTP server answers the login
      identity       no placeholder From address, postal address or newsletter name
      base URL       https, and not this machine
      secrets        DIGEST_SECRET_KEY (and DIGEST_ADMIN_TOKEN) long and not the default
      web app        when public: DIGEST_ADMIN_TOKEN, and with SendGrid the webhook key
      templates      the templates in use render an edition and the confirmation mail
      scheduler      the last weekly run did not fail, pause or stop with no one holding the lease
      confirmations  no reader has waited over an hour for a confirmation mail

    Each problem is one line with its fix. Exits with status 0 only when every
    check passes. Run it with the service's settings (--env-file).

    \b
    Example:
        digest --env-file /etc/digest/env doctor
        digest --env-file /etc/digest/env doctor --json
    """
    from digest import doctor as checks  # start-up time: the checks load the renderer and the senders

    results = checks.run(app.environment)
    failed = [c for c in results if not c.ok]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in results]}, indent=2))
    else:
        width = max(len(c.name) for c in results)
        for c in results:
            line = f"{'ok' if c.ok else 'FAIL':<4}  {c.name:<{width}}  {c.detail}"
            click.echo(line + (f". Fix: {c.fix}" if c.fix else ""))
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(results)} checks failed: {', '.join(dict.fromkeys(c.name for c in failed))}"
        )
    if not as_json:
        click.echo(f"All {len(results)} checks pass.")
