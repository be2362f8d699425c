"""One webhook try: the signed POST of an event's body to the checked address, its answer's first 1 KB kept."""

from __future__ import annotations

import time

import httpx

from app import __version__
from app.services.notifications.outbox import Event
from app.services.notifications.result import BODY_LIMIT, TIMEOUT_SECONDS, SendResult, first_kilobyte
from app.services.notifications.signing import SIGNATURE_HEADER, signature
from app.services.notifications.targets import parse_webhook_url, resolve_public


def webhook_client() -> httpx.AsyncClient:
    """The client every try goes through.

    No redirects (a 3xx is a failure: following one could lead to an address never checked), no proxy
    from the environment (it would connect somewhere else than the checked address), and no kept-alive
    connections, so a TLS connection made for one host name is never reused for another on that address.
    """
    return httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"User-Agent": f"SellerCollection-Webhooks/{__version__}"},
    )


async def post(client: httpx.AsyncClient, *, url: str, event: Event, secret: str, allow_private: bool) -> SendResult:
    """POST the event to `url`, connecting to the address its host resolves to now (checked unless allowed).

    The URL is read as when stored; one that does not parse (a row older than a check) raises InvalidInput,
    recorded as a failed try. Its addresses are checked as resolved now, whatever the name.
    """
    target = parse_webhook_url(url)
    address = await resolve_public(target.host, target.port, allow_private=allow_private)
    body = event.body()
    headers = {
        "Host": target.url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body, int(time.time())),
        "X-SellerCollection-Event": event.type,
        "X-SellerCollection-Event-Id": str(event.id),
    }
    # TLS still names and verifies the URL's host, though the connection goes to the checked address.
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    pinned = target.url.copy_with(host=address)
    async with client.stream("POST", pinned, content=body, headers=headers, extensions=extensions) as response:
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) >= BODY_LIMIT:
                break
    delivered = 200 <= response.status_code < 300
    return SendResult(
        delivered=delivered,
        status_code=response.status_code,
        error=None if delivered else f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
        response_body=first_kilobyte(raw),
    )
