"""A fake Stripe: a real HTTP server on loopback that speaks Stripe's wire format for the
two calls the service makes, and signs and delivers webhook events like Stripe does.

- ``POST /v1/customers`` and ``POST /v1/checkout/sessions``: form-encoded bodies (nested
  keys like ``line_items[0][price_data][unit_amount]``), ``Authorization: Bearer <key>``,
  JSON answers, errors in Stripe's shape ``{"error": {"type", "code", "message"}}``, and
  idempotency keys honoured as Stripe does (same key and body: the first answer again).
  A session's ``expires_at`` must be 30 minutes to 24 hours after its creation, by the
  fake's clock, as Stripe demands (24 hours when it is not given).
- ``GET /c/pay/<session id>``: the "payment page". It pays the session (delivering a
  signed ``checkout.session.completed`` to ``webhook_url``) and redirects to the
  session's success URL, so a person can click through a checkout locally.

Tests start it on a free port and point ``STRIPE_API_BASE`` at ``fake.url``::

    with FakeStripe(secret_key="sk_test_fake", webhook_secret="whsec_fake") as fake:
        fake.script(StripeAnswer.rate_limited())       # the next request gets a 429
        ...
        session = fake.sessions[0]                     # what the service asked for
        response = fake.deliver(webhook_url, fake.completed(session))

For local runs of the service::

    python tests/support/fake_stripe.py --port 8091 \\
        --webhook-url http://127.0.0.1:8081/api/stripe/webhook
    PAYMENTS_MODE=stripe STRIPE_API_BASE=http://127.0.0.1:8091 STRIPE_SECRET_KEY=sk_test_fake \\
        STRIPE_WEBHOOK_SECRET=whsec_fake CHECKOUT_SUCCESS_URL=http://127.0.0.1:8081/ \\
        CHECKOUT_CANCEL_URL=http://127.0.0.1:8081/ picpaygo serve
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

DEFAULT_SECRET_KEY = "sk_test_fake"
DEFAULT_WEBHOOK_SECRET = "whsec_fake"
_COUNTER = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{next(_COUNTER):06d}{time.monotonic_ns() % 10**8:08d}"


# --- Stripe's wire format -----------------------------------------------------------------


def parse_form(body: bytes) -> dict[str, Any]:
    """A form-encoded Stripe request body as nested dicts and lists.

    ``a[b][0][c]=1`` becomes ``{"a": {"b": [{"c": "1"}]}}``; values stay strings, as
    Stripe receives them.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child: Any = value if last else ([] if following and following.isdigit() else {})
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if last or node[position] is None:
                    node[position] = child
                node = node[position]
            else:
                if last:
                    node[part] = child
                else:
                    node = node.setdefault(part, child)
    return root


# Stripe's bounds on a Checkout Session's ``expires_at``, from its creation.
MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 3600


def _expiry_problem(value: object, created: int) -> str | None:
    """Stripe's refusal of an ``expires_at`` for a session created at ``created``, if any."""
    try:
        expires_at = int(str(value))
    except ValueError:
        return "Invalid integer: expires_at"
    if expires_at < created + MIN_EXPIRY_SECONDS:
        return (
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."
        )
    if expires_at > created + MAX_EXPIRY_SECONDS:
        return (
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation."
        )
    return None


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send: HMAC-SHA256 of ``<t>.<payload>``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def stripe_error(
    status: int, message: str, *, error_type: str = "invalid_request_error", code: str | None = None
) -> StripeAnswer:
    """An error answer in Stripe's shape."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    return StripeAnswer(status=status, body={"error": error})


@dataclass(frozen=True)
class StripeAnswer:
    """A scripted answer to the next API request instead of the normal one.

    ``body=None`` means "the normal answer" (with ``delay_seconds``, a slow one).
    """

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0

    @staticmethod
    def bad_key() -> StripeAnswer:
        return stripe_error(401, "Invalid API Key provided: sk_test_****fake")

    @staticmethod
    def invalid_request(message: str = "Invalid currency: xyz") -> StripeAnswer:
        return stripe_error(400, message, code="parameter_invalid")

    @staticmethod
    def rate_limited() -> StripeAnswer:
        return stripe_error(
            429,
            "Too many requests hit the API too quickly.",
            code="rate_limit",
        )

    @staticmethod
    def server_error(status: int = 500) -> StripeAnswer:
        return stripe_error(status, "An unknown error occurred", error_type="api_error")

    @staticmethod
    def slow(seconds: float) -> StripeAnswer:
        """The normal answer, sent only after ``seconds``."""
        return StripeAnswer(delay_seconds=seconds)


@dataclass(frozen=True)
class ApiRequest:
    """An API request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, Any]
    received_at: float = field(default_factory=time.time)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


class FakeStripe:
    """The fake server. Thread-safe; usable from sync and async tests alike."""

    def __init__(
        self,
        *,
        secret_key: str = DEFAULT_SECRET_KEY,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self._lock = threading.Lock()
        self._script: deque[StripeAnswer] = deque()
        self._requests: list[ApiRequest] = []
        self._customers: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str, str], tuple[dict[str, Any], int, Any]] = {}
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- life ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to use as ``STRIPE_API_BASE``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the service did ----------------------------------------------------------------

    def script(self, *answers: StripeAnswer) -> None:
        """Answer the next API requests with ``answers``, in order (then normally)."""
        with self._lock:
            self._script.extend(answers)

    @property
    def requests(self) -> list[ApiRequest]:
        """Every API request received so far (scripted failures included), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Every Checkout Session made so far, oldest first (as Stripe would return it)."""
        with self._lock:
            return [dict(s) for s in self._sessions.values()]

    @property
    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._customers.values()]

    def session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._sessions[session_id])

    # --- events ------------------------------------------------------------------------------

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A Stripe event of ``event_type`` about ``obj``, with a fresh event id."""
        return {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }

    def completed(
        self,
        session: dict[str, Any],
        *,
        payment_status: str = "paid",
        payment_intent: str | None = None,
    ) -> dict[str, Any]:
        """``checkout.session.completed`` for ``session`` (paid unless told otherwise)."""
        return self.event(
            "checkout.session.completed",
            self._finished(session, "complete", payment_status, payment_intent),
        )

    def async_succeeded(
        self, session: dict[str, Any], *, payment_intent: str | None = None
    ) -> dict[str, Any]:
        return self.event(
            "checkout.session.async_payment_succeeded",
            self._finished(session, "complete", "paid", payment_intent),
        )

    def async_failed(self, session: dict[str, Any]) -> dict[str, Any]:
        return self.event(
            "checkout.session.async_payment_failed",
            self._finished(session, "complete", "unpaid", None),
        )

    def expired(self, session: dict[str, Any]) -> dict[str, Any]:
        return self.event(
            "checkout.session.expired", self._finished(session, "expired", "unpaid", None)
        )

    def refunded(
        self, payment_intent: str, amount: int, *, amount_refunded: int | None = None
    ) -> dict[str, Any]:
        """``charge.refunded`` for the charge of ``payment_intent`` (fully, by default)."""
        refunded = amount if amount_refunded is None else amount_refunded
        return self.event(
            "charge.refunded",
            {
                "id": _new_id("ch"),
                "object": "charge",
                "amount": amount,
                "amount_refunded": refunded,
                "payment_intent": payment_intent,
                "refunded": refunded >= amount,
                "paid": True,
                "status": "succeeded",
            },
        )

    def dispute(self, payment_intent: str, amount: int) -> dict[str, Any]:
        """``charge.dispute.created`` for the charge of ``payment_intent``."""
        return self.event(
            "charge.dispute.created",
            {
                "id": _new_id("dp"),
                "object": "dispute",
                "amount": amount,
                "charge": _new_id("ch"),
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "status": "needs_response",
            },
        )

    @staticmethod
    def payment_intent_of(event: dict[str, Any]) -> str:
        value: str = event["data"]["object"]["payment_intent"]
        return value

    def _finished(
        self,
        session: dict[str, Any],
        status: str,
        payment_status: str,
        payment_intent: str | None,
    ) -> dict[str, Any]:
        finished = dict(session)
        finished.update(status=status, payment_status=payment_status)
        if payment_status == "paid" or payment_intent:
            finished["payment_intent"] = payment_intent or f"pi_for_{session['id']}"
        return finished

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """The event's body and its ``Stripe-Signature`` header."""
        payload = json.dumps(event).encode()
        return payload, signature_header(payload, secret or self.webhook_secret, timestamp)

    def deliver(
        self,
        url: str,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        """POST the signed event to ``url`` as Stripe does; the service's response."""
        payload, header = self.signed(event, secret=secret, timestamp=timestamp)
        return httpx.post(
            url,
            content=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
            timeout=timeout,
        )

    # --- the API ---------------------------------------------------------------------------

    def _answer(self, request: ApiRequest) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        with self._lock:
            self._requests.append(request)
            scripted = self._script.popleft() if self._script else None
        if scripted is not None and scripted.delay_seconds:
            self._stopping.wait(scripted.delay_seconds)
        if scripted is not None and scripted.body is not None:
            return scripted.status, scripted.body, scripted.headers
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            answer = StripeAnswer.bad_key()
            return answer.status, answer.body, ()
        key = request.idempotency_key
        if key is not None:
            with self._lock:
                stored = self._idempotent.get((self.secret_key, request.path, key))
            if stored is not None:
                form, status, body = stored
                if form != request.form:
                    answer = stripe_error(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                        error_type="idempotency_error",
                    )
                    return answer.status, answer.body, ()
                return status, body, (("Idempotent-Replayed", "true"),)
        status, body = self._create(request)
        if key is not None:
            with self._lock:
                self._idempotent[(self.secret_key, request.path, key)] = (
                    request.form,
                    status,
                    body,
                )
        return status, body, ()

    def _create(self, request: ApiRequest) -> tuple[int, Any]:
        if request.path == "/v1/customers":
            customer = {
                "id": _new_id("cus"),
                "object": "customer",
                "email": request.form.get("email"),
                "name": request.form.get("name"),
                "metadata": request.form.get("metadata", {}),
                "created": int(time.time()),
                "livemode": False,
            }
            with self._lock:
                self._customers[customer["id"]] = customer
            return 200, customer
        if request.path == "/v1/checkout/sessions":
            return self._create_session(request.form)
        answer = stripe_error(404, f"Unrecognized request URL (POST: {request.path}).")
        return answer.status, answer.body

    def _create_session(self, form: dict[str, Any]) -> tuple[int, Any]:
        items = form.get("line_items") or []
        try:
            amount_total = sum(
                int(item["price_data"]["unit_amount"]) * int(item.get("quantity", "1"))
                for item in items
            )
            currency = items[0]["price_data"]["currency"]
        except (KeyError, IndexError, TypeError, ValueError):
            answer = stripe_error(
                400, "Missing required param: line_items.", code="parameter_missing"
            )
            return answer.status, answer.body
        for required in ("mode", "success_url"):
            if required not in form:
                answer = stripe_error(
                    400, f"Missing required param: {required}.", code="parameter_missing"
                )
                return answer.status, answer.body
        created = int(time.time())
        expires_at = created + MAX_EXPIRY_SECONDS
        if "expires_at" in form:
            problem = _expiry_problem(form["expires_at"], created)
            if problem:
                answer = stripe_error(400, problem, code="parameter_invalid")
                return answer.status, answer.body
            expires_at = int(form["expires_at"])
        session_id = _new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount_total,
            "currency": currency,
            "client_reference_id": form.get("client_reference_id"),
            "customer": form.get("customer"),
            "metadata": form.get("metadata", {}),
            "payment_intent": None,
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "url": f"{self.url}/c/pay/{session_id}",
            "created": created,
            "expires_at": expires_at,
            "livemode": False,
        }
        with self._lock:
            self._sessions[session_id] = session
        return 200, session

    def _pay_page(self, session_id: str) -> tuple[int, dict[str, str], bytes]:
        """The payment page: pay, tell the webhook, send the buyer to the success URL."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            return 404, {"Content-Type": "text/plain"}, b"no such checkout session\n"
        if self.webhook_url:
            self.deliver(self.webhook_url, self.completed(session))
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
        return 303, {"Location": target, "Content-Type": "text/plain"}, b"paid\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``fake.requests`` instead."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = urlsplit(self.path).path
                try:
                    form = parse_form(raw)
                except (UnicodeDecodeError, ValueError):
                    self._json(
                        400, {"error": {"type": "invalid_request_error", "message": "Bad body"}}
                    )
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, body, extra = fake._answer(ApiRequest("POST", path, headers, form))
                self._json(status, body, extra)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path.startswith("/c/pay/"):
                    status, headers, body = fake._pay_page(path.removeprefix("/c/pay/"))
                    self._send(status, headers, body)
                    return
                self._json(
                    404, {"error": {"type": "invalid_request_error", "message": "Not found"}}
                )

            def _json(
                self, status: int, body: Any, extra: tuple[tuple[str, str], ...] = ()
            ) -> None:
                headers = {"Content-Type": "application/json", "Request-Id": _new_id("req")}
                headers.update(extra)
                self._send(status, headers, json.dumps(body).encode())

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status, HTTPStatus(status).phrase)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out) first

        return Handler


def main() -> None:
    """Serve the fake until interrupted, for running the service locally against it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    parser.add_argument(
        "--webhook-url", default=None, help="where the payment page delivers its events"
    )
    options = parser.parse_args()
    with FakeStripe(
        secret_key=options.secret_key,
        webhook_secret=options.webhook_secret,
        webhook_url=options.webhook_url,
        port=options.port,
    ) as fake:
        print(f"fake Stripe at {fake.url} (webhook: {options.webhook_url or 'none'})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
