"""The web app behind `digest serve`: reader pages and endpoints, and whatever other areas mount.

create_app(settings, engine) -> FastAPI     the app factory (digest.web.app)
ROUTERS, BODY_LIMITS                        one line each to mount a router (digest.web.routers)
settings_of / engine_of / pages_of          what a route needs, from the request (digest.web.deps)
ClientError                                 raise it for any client mistake (digest.web.errors)
"""

from digest.web.app import create_app
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.errors import ClientError

__all__ = ["ClientError", "create_app", "engine_of", "pages_of", "settings_of"]
