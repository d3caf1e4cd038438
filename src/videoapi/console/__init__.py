"""The web console at /console: static pages that use the public API with the signed-in key."""

from videoapi.console.api import console_routes, content_security_policy

__all__ = ["console_routes", "content_security_policy"]
