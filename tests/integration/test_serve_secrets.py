"""Secrets in the upstream URL and in refused query strings stay out of replies and logs.

A real `longcepo serve` process whose `--base-url` carries a user, a password and a key in
its query string, pointed at a port nobody listens on: the 502 body, the server log and the
access log (which records a refused `?api_key=...`) must show none of them.
"""

from __future__ import annotations

import httpx

from tests.integration.servers import SMALL, child_env, free_port

SECRETS = ("pw-SECRET", "key-SECRET", "query-SECRET")


def test_url_credentials_never_reach_clients_or_logs(serve):
    upstream = f"http://alice:pw-SECRET@127.0.0.1:{free_port()}/v1?api_key=key-SECRET"
    served = serve("--base-url", upstream, *SMALL, "--retries", "0",
                   env=child_env(LONGCEPO_API_KEY="server-key"))
    auth = {"Authorization": "Bearer server-key"}
    refused = httpx.get(f"{served.url}/v1/models?api_key=query-SECRET", timeout=30)
    assert refused.status_code == 401
    reply = httpx.post(f"{served.url}/v1/chat/completions", headers=auth, timeout=60, json={
        "model": "longcepo-m", "messages": [
            {"role": "user", "content": "A short document.<CONTEXT_END>What is it?"}]})
    assert reply.status_code == 502, reply.text
    assert "cannot reach the model at http://***@127.0.0.1" in reply.json()["error"]["message"]
    served.process.terminate()
    access = served.process.stdout.read()  # uvicorn's access log goes to stdout
    served.stop()
    log = served.log() + access
    assert "/v1/models?api_key=***" in log, "the access log lost the refused request"
    for text in (reply.text, log):
        assert not [s for s in SECRETS if s in text], text
