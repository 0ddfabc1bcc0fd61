"""Runs the generated Python client against a real router started by scripts/test-clients.sh
(ROUTER_URL, ROUTER_ADMIN_KEY, FAKE_GRAPH_URL) and verifies real webhook deliveries of
router-worker with the helpers."""

import base64
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import httpx
import pytest

from message_router_client import AuthenticatedClient
from message_router_client.api.accounts import v1_accounts_create, v1_accounts_list, v1_accounts_update
from message_router_client.api.admin import v1_admin_api_keys_create, v1_admin_merchants_create
from message_router_client.api.messages import v1_messages_list, v1_messages_send, v1_messages_status
from message_router_client.models import (
    AccountList,
    AccountResponse,
    ApiKeyResponse,
    CreateAccountRequest,
    CreateApiKeyRequest,
    CreateMerchantRequest,
    ErrorBody,
    MerchantResponse,
    MessageList,
    MessageStatusResponse,
    Scope,
    SendMessageRequest,
    SendMessageResponse,
    UpdateAccountRequest,
)
from message_router_client.webhooks import (
    hub_signature,
    verify_hub_signature,
    verify_standard_webhook,
    verify_webhook,
)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run scripts/test-clients.sh")
    return value


class Receiver:
    """A CRM endpoint that records every delivery (raw bytes and headers)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.cond:
                    receiver.deliveries.append((headers, body, int(time.time())))
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/instagram"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, match, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for d in self.deliveries:
                    if match(json.loads(d[1])):
                        return d
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching webhook; got {[d[1] for d in self.deliveries]}")
                self.cond.wait(min(left, 0.5))


def capture(current: str, previous: str | None, delivery, name: str) -> None:
    path = os.environ.get("CAPTURE_WEBHOOKS")
    if not path:
        return
    headers, body, at = delivery
    keep = ("webhook-id", "webhook-timestamp", "webhook-signature", "x-hub-signature-256", "x-hub-signature-256-next")
    with open(path, "a") as f:
        f.write(json.dumps({"name": name, "current": current, "previous": previous, "now": at,
                            "body": body.decode(), "headers": {k: headers[k] for k in keep if k in headers}}) + "\n")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def test_a_crm_connects_sends_reads_back_and_verifies_the_routers_webhooks():
    router_url, fake_graph = env("ROUTER_URL"), env("FAKE_GRAPH_URL")
    admin = AuthenticatedClient(base_url=router_url, token=env("ROUTER_ADMIN_KEY"))
    receiver = Receiver()
    try:
        # The operator creates a merchant and a test key for it.
        merchant = v1_admin_merchants_create.sync_detailed(client=admin, body=CreateMerchantRequest(name="Python client test"))
        assert merchant.status_code == 201, merchant.content
        assert isinstance(merchant.parsed, MerchantResponse)
        assert merchant.parsed.name == "Python client test"

        key = v1_admin_api_keys_create.sync_detailed(
            merchant.parsed.merchant_id,
            client=admin,
            body=CreateApiKeyRequest(
                name="crm",
                scopes=[Scope.MESSAGESSEND, Scope.MESSAGESREAD, Scope.ACCOUNTSREAD, Scope.ACCOUNTSWRITE],
                environment="test",
            ),
        )
        assert key.status_code == 201, key.content
        assert isinstance(key.parsed, ApiKeyResponse)
        assert isinstance(key.parsed.key, str) and key.parsed.key.startswith("router_test_")
        crm = AuthenticatedClient(base_url=router_url, token=key.parsed.key)

        denied = v1_accounts_list.sync_detailed(client=AuthenticatedClient(base_url=router_url, token="router_test_nope"))
        assert denied.status_code == 401
        assert isinstance(denied.parsed, ErrorBody) and denied.parsed.error == "unauthorized"

        # A sandbox Instagram account (fake-graph) connected with a token.
        ig_id = f"1784140{secrets.randbelow(9 * 10**9) + 10**9}"
        token = httpx.post(f"{fake_graph}/_fake/accounts", json={"ig_id": ig_id, "username": "py_client_shop"}).json()["access_token"]
        secret1 = new_secret()
        account = v1_accounts_create.sync_detailed(
            client=crm,
            body=CreateAccountRequest(
                instagram_account_id=ig_id, username="py_client_shop", access_token=token,
                crm_webhook_url=receiver.url, webhook_secret=secret1,
            ),
        )
        assert account.status_code == 201, account.content
        assert isinstance(account.parsed, AccountResponse)
        assert account.parsed.instagram_account_id == ig_id
        assert account.parsed.sandbox is True
        assert account.parsed.status == "active"
        account_id = account.parsed.account_id

        listed = v1_accounts_list.sync_detailed(client=crm)
        assert listed.status_code == 200
        assert isinstance(listed.parsed, AccountList)
        assert [a.account_id for a in listed.parsed.data] == [account_id]

        # A customer writes through the sandbox's signed Meta webhook.
        customer = f"98{secrets.randbelow(9 * 10**9) + 10**9}"
        inbound = httpx.post(f"{fake_graph}/_fake/inbound", json={
            "target": f"{router_url}/webhooks/instagram", "ig_id": ig_id, "sender_id": customer, "text": "Is it in stock?"})
        assert inbound.json()["router_status"] == 200

        received = receiver.wait_for(lambda e: e["event"] == "message.received")
        headers, body, _ = received
        event = verify_webhook(secret1, headers, body)
        assert event["event"] == "message.received"
        assert event["account_id"] == str(account_id)
        assert verify_hub_signature(secret1, body, headers["x-hub-signature-256"])
        assert not verify_standard_webhook(new_secret(), headers, body)
        assert not verify_standard_webhook(secret1, headers, body + b" ")
        capture(secret1, None, received, "captured message.received (python)")

        # The CRM replies, reads the status and the conversation.
        sent = v1_messages_send.sync_detailed(client=crm, body=SendMessageRequest(
            account_id=account_id, recipient_id=customer, message="Yes, 3 left", metadata={"ticket": "P-1"}))
        assert sent.status_code == 202, sent.content
        assert isinstance(sent.parsed, SendMessageResponse)
        message_id = sent.parsed.message_id

        status = ""
        for _ in range(120):
            s = v1_messages_status.sync_detailed(message_id, client=crm)
            assert s.status_code == 200, s.content
            assert isinstance(s.parsed, MessageStatusResponse)
            assert s.parsed.message_id == message_id
            status = s.parsed.status
            if status in ("sent", "delivered", "failed"):
                break
            time.sleep(0.25)
        assert status in ("sent", "delivered")  # the sandbox reports delivery right after sending

        history = v1_messages_list.sync_detailed(client=crm, account_id=account_id, recipient_id=customer)
        assert history.status_code == 200, history.content
        assert isinstance(history.parsed, MessageList)
        entries = history.parsed.data
        assert [e.direction for e in entries] == ["outbound", "inbound"]
        assert entries[0].id == message_id

        sent_hook = receiver.wait_for(lambda e: e["event"] == "message.sent" and e["message_id"] == str(message_id))
        assert verify_webhook(secret1, sent_hook[0], sent_hook[1])["metadata"] == {"ticket": "P-1"}

        missing = v1_messages_status.sync_detailed(UUID("00000000-0000-7000-8000-000000000000"), client=crm)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, ErrorBody) and missing.parsed.error == "not_found"

        # Rotation: the old secret keeps signing alongside the new one.
        secret2 = new_secret()
        rotated = v1_accounts_update.sync_detailed(account_id, client=crm, body=UpdateAccountRequest(webhook_secret=secret2))
        assert rotated.status_code == 200, rotated.content
        second = v1_messages_send.sync_detailed(client=crm, body=SendMessageRequest(
            account_id=account_id, recipient_id=customer, message="Reserved for you"))
        assert second.status_code == 202, second.content
        assert isinstance(second.parsed, SendMessageResponse)
        second_id = str(second.parsed.message_id)
        hook = receiver.wait_for(lambda e: e["event"] == "message.sent" and e["message_id"] == second_id)
        headers, body, _ = hook
        assert len(headers["webhook-signature"].split(" ")) == 2
        assert verify_standard_webhook(secret2, headers, body)
        assert verify_standard_webhook(secret1, headers, body)
        assert headers["x-hub-signature-256"] == hub_signature(secret1, body)
        assert verify_hub_signature(secret2, body, headers["x-hub-signature-256-next"])
        capture(secret2, secret1, hook, "captured message.sent during a rotation (python)")
    finally:
        receiver.server.shutdown()
