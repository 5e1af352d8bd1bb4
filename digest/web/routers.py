"""Every router the app mounts, as "module:attribute". Mounting a new one is one line here.

BODY_LIMITS raises the request-body limit for a path prefix (the default,
DEFAULT_BODY_LIMIT, fits any form or JSON a reader sends); a route that takes
larger bodies, such as a provider's event webhook, adds one line there.
"""

ROUTERS = (
    "digest.web.readers:router",  # /, /subscribe, /confirm, /unsubscribe, /preferences
    "digest.web.webhook:router",  # POST /webhooks/sendgrid (issue 7)
    "digest.web.votes:router",  # /vote/{token}/{comparison}/{tool} (issue 7)
    "digest.web.archive:router",  # /editions/, /editions/{n}, /feed.xml (issue 7)
    "digest.web.stats:router",  # /stats, editors only (issue 7)
    "digest.web.editors:router",  # POST /stats/login, /stats/logout: the editors' sign-in (issue 15)
    "digest.web.desk.signin:router",  # /desk/login, /desk/logout: editor accounts (issue 20)
    "digest.web.desk.week:router",  # /desk, /desk/editions/N: the week, approvals, send, pause (issue 20)
    "digest.web.desk.edit:router",  # /desk/editions/N/words|move|leave-out|bring-back: editing a draft (issue 20)
    "digest.web.desk.preview:router",  # /desk/editions/N/preview: variants in frames, test sends (issue 20)
    "digest.web.desk.readers:router",  # /desk/readers: find, unsubscribe, suppress (issue 20)
    "digest.web.desk.live:router",  # /desk/editions/N/send: a send as it goes, retries (issue 20)
    "digest.web.desk.stats:router",  # /desk/stats, /desk/editions/N/stats: figures and charts (issue 20)
)

DEFAULT_BODY_LIMIT = 16 * 1024  # bytes

BODY_LIMITS: dict[str, int] = {
    # "/webhook": 5 * 1024 * 1024,
    "/webhooks/sendgrid": 8 * 1024 * 1024,  # SendGrid's event batches (issue 7)
}
