"""Google sign-in adapter: ID-token verification with google-auth over httpx."""

from adapters.google.certs_transport import CachingHttpxRequest
from adapters.google.verifier import DisabledGoogleVerifier, GoogleIdTokenVerifier

__all__ = ["CachingHttpxRequest", "DisabledGoogleVerifier", "GoogleIdTokenVerifier"]
