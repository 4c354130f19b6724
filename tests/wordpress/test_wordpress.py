"""The Sovgate WordPress plugin on a real WordPress (Debian's `wordpress` package, PHP-FPM,
MariaDB, nginx; see wpsite.py), with the real gateway and the recording fake upstream.

A test plugin (fixtures/ai-test-plugin) calls api.openai.com the ways real plugins do;
PHP resolves the provider hosts to a capture server, so a call that was not rerouted
shows up there. The tests run in file order on one site: the gateway is stopped last."""

import json
import os
import re
import subprocess

import pytest

import wpsite
from wpsite import sgtest

ARTIFACTS = os.path.join(wpsite.ROOT, "tests", "artifacts")
EMAIL = "anna.schmidt@example.de"


@pytest.fixture(scope="module")
def site():
    missing = wpsite.missing_tools()
    if missing:
        pytest.fail("missing (scripts/setup installs them): " + ", ".join(missing))
    s = wpsite.Site()
    if not s.root and not wpsite.can_bind_443():
        s.cleanup()
        pytest.skip("the capture server needs port 443 on 127.0.0.2: run as root (or lower "
                    "net.ipv4.ip_unprivileged_port_start)")
    try:
        s.start()
    except BaseException:
        errors = s.stop()
        print("\n".join(errors))
        for name in ("php-error.log", "php-fpm.log", "nginx-error.log", "mariadb.log"):
            print(f"== {name}\n" + s.tail(name))
        raise
    yield s
    errors = s.stop()
    log = s.tail("php-error.log", 1000) + s.tail("wp-debug.log", 1000)
    s.cleanup()
    assert not errors, errors
    # No PHP error, warning or notice from the plugin's (or the fixture's) code.
    ours = [l for l in log.splitlines() if re.search(r"/(sovgate|ai-test-plugin)/", l)]
    assert not ours, "\n".join(ours)


def gateway_line(site, request_id):
    return site.gateway.wait_log(lambda j: j.get("event") == "request" and
                                 j.get("request_id") == request_id)


def last_upstream_body(site):
    reqs = site.upstream.api_requests()
    assert reqs, "the fake upstream received nothing"
    return reqs[-1]["body"]


# ---- installation ----

def test_site_installed_with_the_loader(site):
    assert site.ids["activate"] == ["ok", "ok"]
    # Activation installed the must-use loader (wp-content/mu-plugins is writable here),
    # identical to the shipped file, and the plugin is loaded through it.
    loader = os.path.join(site.content, "mu-plugins", "sovgate-loader.php")
    with open(loader, "rb") as a, open(os.path.join(wpsite.PLUGIN, "mu-plugin",
                                                    "sovgate-loader.php"), "rb") as b:
        assert a.read() == b.read()
    st = site.php("return Sovgate_Client::status();")
    assert st["loaded_early"] is True and st["configured"] is True and st["curl"] is True
    assert st["mode"] == "enforce" and "*.openai.azure.com" in st["hosts"]
    assert "api_key" not in json.dumps(st) and site.gateway.keys["shop"] not in json.dumps(st)


# ---- calls through WordPress's HTTP API go to the gateway ----

def test_wp_remote_post_goes_through_the_gateway(site):
    r = site.call("remote_post", f"Hello, I am {EMAIL}. INTERNAL-NOTE-4711 Which lamp?")
    assert r["ok"] and r["status"] == 200, r
    answer = json.loads(r["body"])["choices"][0]["message"]["content"]
    # The answer (the fake echoes the prompt) has the real address back.
    assert EMAIL in answer and answer.startswith("[up1]")
    # The model saw a surrogate, never the address; the site's sovgate_request_args
    # filter removed the internal note before the prompt left WordPress.
    body = last_upstream_body(site)
    assert EMAIL not in body and re.search(r"EMAIL_[0-9A-Z]{6}", body), body
    assert "INTERNAL-NOTE-4711" not in body
    # The gateway's log line for the request names the calling plugin (X-Sovgate-Source).
    line = gateway_line(site, r["request_id"])
    assert line["status"] == 200 and line["client"] == "shop" and line["route"] == "/v1/chat/completions"
    assert line["source"] == "ai-test-plugin"
    assert line["redacted"] >= 1 and line["restored"] >= 1
    # The site's sovgate_response filter ran on the answer.
    assert r["test_filter"] == "seen:ai-test-plugin"
    assert site.capture.total() == (0, 0)


def test_streaming_with_the_plugins_own_write_callback(site):
    r = site.call("stream", f"Stream please, my mail is {EMAIL} and I like lamps")
    assert r["ok"] and r["status"] == 200, r
    # The plugin's own CURLOPT_WRITEFUNCTION got the event stream (so the file WordPress
    # would have written stayed empty).
    events = sgtest.sse_events(r["streamed"].encode())
    assert events[-1] == "[DONE]"
    text = sgtest.stream_text(events)
    assert EMAIL in text and text.startswith("[up1]"), text
    assert r["file_size"] == 0
    body = last_upstream_body(site)
    assert EMAIL not in body and '"stream":true' in body
    line = gateway_line(site, r["request_id"])
    assert line["stream"] is True and line["source"] == "ai-test-plugin" and line["status"] == 200
    assert site.capture.total() == (0, 0)


def test_wp_safe_remote_post(site):
    r = site.call("safe", f"Safe call from {EMAIL}")
    assert r["ok"] and r["status"] == 200, r
    assert EMAIL in json.loads(r["body"])["choices"][0]["message"]["content"]
    assert gateway_line(site, r["request_id"])["source"] == "ai-test-plugin"
    assert site.capture.total() == (0, 0)


def test_percent_encoded_provider_host(site):
    """api%2eopenai.com is api.openai.com to WordPress's Requests library (and to cURL): the
    call is rerouted like the plain one, never sent to the provider."""
    site.capture.reset()
    r = site.call("encoded", f"Encoded host, {EMAIL}")
    assert r["ok"] and r["status"] == 200, r
    assert gateway_line(site, r["request_id"])["source"] == "ai-test-plugin"
    assert EMAIL not in last_upstream_body(site)
    assert site.capture.total() == (0, 0)


def test_azure_deployment_and_other_provider_keys(site):
    r = site.call("azure", "Azure deployment question")
    assert r["ok"] and r["status"] == 200, r
    line = gateway_line(site, r["request_id"])
    # /openai/deployments/gpt-4o-mini/chat/completions?api-version=… became
    # /v1/chat/completions with model gpt-4o-mini (an alias of the route).
    assert line["route"] == "/v1/chat/completions" and line["model"] == "assistant"
    assert json.loads(r["body"])["model"] == "gpt-4o-mini"
    r = site.call("anthropic", "Anthropic-style key")
    assert r["ok"] and r["status"] == 200, r
    assert gateway_line(site, r["request_id"])["client"] == "shop"
    assert site.capture.total() == (0, 0)


def test_logged_in_user_is_sent_as_a_keyed_hash(site):
    r = site.call("remote_post", "From a logged-in user", as_user=1)
    line = gateway_line(site, r["request_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", line["wp_user"]), line
    again = gateway_line(site, site.call("remote_post", "again", as_user=1)["request_id"])
    assert again["wp_user"] == line["wp_user"]
    anon = gateway_line(site, site.call("remote_post", "visitor")["request_id"])
    assert "wp_user" not in anon


def test_headers_on_the_wire(site):
    """The recording fake upstream stands in for the gateway (TLS, same CA): what exactly
    does the plugin send?"""
    site.wire = sgtest.Upstream(os.path.join(site.work, "gateway"), name="wire",
                                tls_cert=site.gateway.certs["cert"],
                                tls_key=site.gateway.certs["key"])
    try:
        site.configure(gateway_url=f"https://127.0.0.1:{site.wire.port}")
        for mode in ("remote_post", "azure", "anthropic", "stream"):
            r = site.call(mode, f"wire {mode}", as_user=1)
            assert r["ok"] and r["status"] == 200, r
    finally:
        site.configure()
    reqs = site.wire.api_requests()
    assert [q["path"] for q in reqs] == ["/v1/chat/completions"] * 4
    raw = json.dumps(reqs)
    # No provider key anywhere: Authorization, x-api-key and api-key were replaced.
    assert "TESTPROVIDERKEY" not in raw and "org-test" not in raw
    for q in reqs:
        h = q["headers"]
        assert h["authorization"] == "Bearer " + site.gateway.keys["shop"]
        assert "x-api-key" not in h and "api-key" not in h and "openai-organization" not in h
        assert h["x-sovgate-source"] == "ai-test-plugin"
        assert re.fullmatch(r"[0-9a-f]{32}", h["x-sovgate-user"])
        # No WooCommerce here: the fields are what the site's sovgate_fields filter adds.
        assert h["x-sovgate-fields"] == "vip_level=FIELD"
        assert h["x-sovgate-provider"] in ("api.openai.com", "shop-test.openai.azure.com",
                                           "api.anthropic.com")
        assert "referer" not in h or "api.openai.com" not in h["referer"]
    azure = json.loads(reqs[1]["body"])
    assert azure["model"] == "gpt-4o-mini" and reqs[1]["headers"]["x-sovgate-provider"] == \
        "shop-test.openai.azure.com"
    assert reqs[2]["headers"]["anthropic-version"] == "2023-06-01"
    assert site.capture.total() == (0, 0)


def test_fallback_without_curl(site):
    """php-cli with the cURL functions disabled: WordPress uses its socket transport, and
    Sovgate sends the call to the gateway itself (pre_http_request). WordPress's socket
    transport checks only DNS names in certificates, so the gateway is named localhost."""
    mark = site.gateway.mark()
    site.configure(gateway_url=f"https://localhost:{site.gateway.port}")
    try:
        r = site.php(f"return array(Sovgate_Interceptor::curl_transport(), "
                     f"ai_test_plugin_call('remote_post', 'No cURL here, {EMAIL}'));",
                     php_args=["-d", "disable_functions=curl_init,curl_exec,curl_multi_exec"])
    finally:
        site.configure()
    curl, out = r
    assert curl is False
    assert out["ok"] and out["status"] == 200, out
    assert EMAIL in json.loads(out["body"])["choices"][0]["message"]["content"]
    line = site.gateway.wait_log(lambda j: j.get("event") == "request" and
                                 j.get("request_id") == out["request_id"], since=mark)
    assert line["source"] == "ai-test-plugin"
    assert EMAIL not in last_upstream_body(site)
    assert site.capture.total() == (0, 0)


def test_other_plugins_cannot_switch_off_tls_verification(site):
    """A plugin that switches TLS verification off for every call (`https_ssl_verify`, and
    `sslverify` at the last priority of `http_request_args`) does not switch it off for the
    gateway: with the right CA bundle the call goes through, verified; with a bundle that
    did not sign the gateway's certificate (the system's CAs, the default when the setting
    is empty) it fails, whether rerouted on the cURL handle, sent by Sovgate itself without
    cURL, or one of Sovgate's own calls."""
    r = site.call("insecure", f"verified {EMAIL}")
    assert r["ok"] and r["status"] == 200, r
    site.configure(ca_bundle="")
    try:
        r = site.call("insecure", "not verified")
        assert not r["ok"] and r["error_code"] == "sovgate_gateway_error", r
        assert "certificate" in r["error_message"], r
        own = site.php("add_filter('https_ssl_verify', '__return_false'); "
                       "$r = Sovgate_Client::request('GET', '/healthz', null, array(), false); "
                       "return is_wp_error($r) ? $r->get_error_message() : "
                       "wp_remote_retrieve_response_code($r);")
        assert isinstance(own, str) and "certificate" in own, own
        site.configure(ca_bundle="", gateway_url=f"https://localhost:{site.gateway.port}")
        out = site.php("return ai_test_plugin_call('insecure', 'no cURL, not verified');",
                       php_args=["-d", "disable_functions=curl_init,curl_exec,curl_multi_exec"])
        assert not out["ok"] and out["error_code"] == "sovgate_gateway_error", out
    finally:
        site.configure()
    assert site.capture.total() == (0, 0)


# ---- the chat route ----

def chat_nonce(site, path="/ask/"):
    status, _, page = site.request("GET", path)
    assert status == 200, page[:500]
    m = re.search(rb'class="sovgate-chat" data-endpoint="([^"]+)" data-nonce="([0-9a-f]+)"', page)
    assert m, page[-3000:]
    return m.group(2).decode()


def test_chat_route(site):
    nonce = chat_nonce(site)
    assert chat_nonce(site, "/ask-block/")  # the block renders the same chat
    q = {"messages": [{"role": "user", "content": f"Does it ship to Berlin? Write to {EMAIL}"}],
         "product": site.ids["product"]}
    st, _, body = site.request("POST", "/wp-json/sovgate/v1/chat", q)
    assert st == 403, body  # no nonce
    st, _, body = site.request("POST", "/wp-json/sovgate/v1/chat", q,
                               headers={"X-Sovgate-Nonce": nonce})
    assert st == 200, body
    j = json.loads(body)
    assert EMAIL in j["answer"]
    sent = json.loads(last_upstream_body(site))
    assert "Aurora desk lamp" in sent["messages"][0]["content"]  # the product's facts
    assert EMAIL not in json.dumps(sent)
    assert gateway_line(site, j["request_id"])["source"] == "sovgate"
    # Streaming pass-through: the gateway's events, unchanged.
    st, hd, body = site.request("POST", "/wp-json/sovgate/v1/chat", dict(q, stream=True),
                                headers={"X-Sovgate-Nonce": nonce})
    assert st == 200 and hd["content-type"].startswith("text/event-stream"), (st, hd, body)
    events = sgtest.sse_events(body)
    assert events[-1] == "[DONE]" and EMAIL in sgtest.stream_text(events)
    bad = {"messages": [{"role": "system", "content": "x"}]}
    st, _, _ = site.request("POST", "/wp-json/sovgate/v1/chat", bad,
                            headers={"X-Sovgate-Nonce": nonce})
    assert st == 400


def test_chat_rate_limit_for_visitors(site):
    site.set_settings(chat_rate_limit=2)
    site.php("global $wpdb; $wpdb->query(\"DELETE FROM $wpdb->options WHERE option_name "
             "LIKE '%sovgate_chat_%'\"); return true;")
    try:
        nonce = chat_nonce(site)
        q = {"messages": [{"role": "user", "content": "hi"}]}
        codes = [site.request("POST", "/wp-json/sovgate/v1/chat", q,
                              headers={"X-Sovgate-Nonce": nonce})[0] for _ in range(3)]
        assert codes == [200, 200, 429]
        site.set_settings(chat_public=False)
        assert site.request("POST", "/wp-json/sovgate/v1/chat", q,
                            headers={"X-Sovgate-Nonce": nonce})[0] == 401
    finally:
        site.set_settings(chat_rate_limit=100, chat_public=True)
        site.php("global $wpdb; $wpdb->query(\"DELETE FROM $wpdb->options WHERE option_name "
                 "LIKE '%sovgate_chat_%'\"); return true;")


# ---- admin: settings page, connection test, Site Health ----

def test_site_health(site):
    r = site.php("return Sovgate_Site_Health::test();")
    assert r["status"] == "good", r
    assert "Guzzle" in r["description"]


def test_settings_page_in_chromium(site):
    os.makedirs(ARTIFACTS, exist_ok=True)
    env = dict(os.environ)
    env.update({"SG_URL": site.url, "SG_USER": "admin", "SG_PASS": site.admin_password,
                "SG_OLD_KEY": site.gateway.keys["shop"], "SG_NEW_KEY": site.gateway.keys["wp2"],
                "SG_ARTIFACTS": ARTIFACTS, "SG_CHAT_PATH": "/ask/",
                "SG_CHAT_QUESTION": f"Is the lamp dimmable? I am {EMAIL}",
                "SG_CHROMIUM": wpsite.find_binary("chromium")})
    mark = site.gateway.mark()
    p = subprocess.run(["node", os.path.join(wpsite.HERE, "admin.mjs")], cwd=wpsite.HERE,
                       env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert "exception" not in out, out["exception"]
    assert out["heading"] == "Sovgate AI gateway"
    assert all(n == 1 for n in out["fields"].values()), out["fields"]
    assert out["nonceFields"] == 1
    # The key is write-only: never in the field, never in the page.
    assert out["keyType"] == "password" and out["keyValueBefore"] == ""
    assert out["keyValueAfter"] == "" and not out["oldKeyInPage"]
    assert not out["oldKeyInPageAfter"] and not out["newKeyInPageAfter"]
    assert "A key is stored" in out["keyStatusBefore"] and "A key is stored" in out["keyStatusAfter"]
    assert "active" in out["status"]
    assert "Settings saved" in out["savedNotice"]
    assert out["modeAfter"] == "monitor" and "llm.example.internal" in out["hostsAfter"]
    assert "AI provider host" in out["invalidUrlNotice"]
    assert out["gatewayAfterInvalid"].startswith("https://127.0.0.1:")
    # The connection test passed with the newly saved key (the gateway's client "wp2"),
    # straight and through the interception of a call to api.openai.com.
    assert "Connection test passed" in out["testResult"], out["testResult"]
    assert "intercepted" in out["testResult"] and "request id" in out["testResult"]
    lines = [j for j in site.gateway.log_events("request")[0:] if j.get("client") == "wp2"]
    assert len([j for j in lines if j.get("route") == "/v1/chat/completions"]) >= 2
    assert out["siteHealthInfo"] and not out["newKeyInSiteHealth"]
    # A visitor's question on the chat page, answered with the address restored.
    assert not out["chatError"] and EMAIL in out["chatAnswer"], out["chatAnswer"]
    assert os.path.getsize(os.path.join(ARTIFACTS, "wordpress-settings.png")) > 10000
    assert os.path.getsize(os.path.join(ARTIFACTS, "wordpress-chat.png")) > 5000
    st = site.php("return array(get_option('sovgate_settings')['mode'], "
                  "get_option('sovgate_settings')['api_key']);")
    assert st == ["enforce", site.gateway.keys["wp2"]]
    site.configure()  # back to the first key
    assert site.capture.total() == (0, 0)


# ---- fail closed ----

def test_capture_server_sees_unlisted_hosts(site):
    """Control: a host that is not on the list is not intercepted, and the capture server
    does see it, so its zero counts elsewhere mean something."""
    site.capture.reset()
    r = site.call("unlisted", "not intercepted")
    assert not r["ok"]
    total, conns = site.capture.total()
    assert conns >= 1 and total > 0
    site.capture.reset()


def test_host_list_of_an_older_version_gets_the_new_defaults(site):
    """A host list saved by an older version of the plugin (no record of the defaults it
    was made from) that lacks a current default (api.anthropic.com here, standing in for a
    provider a later version added): the call is still rerouted and nothing reaches the
    provider. Once the list is saved with the defaults recorded, as the settings page
    saves it, leaving the host out is the admin's choice and sticks."""
    before = site.php("return get_option('sovgate_settings');")
    defaults = site.php("return Sovgate_Hosts::DEFAULTS;")
    hosts = [h for h in defaults if h != "api.anthropic.com"] + ["llm.example.internal"]
    site.capture.reset()
    try:
        site.php("$s = get_option('sovgate_settings'); unset($s['hosts_defaults_seen']); "
                 f"$s['hosts'] = json_decode({json.dumps(json.dumps(hosts))}, true); "
                 "update_option('sovgate_settings', $s); return true;")
        r = site.call("anthropic", f"older list {EMAIL}")
        assert r["ok"] and r["status"] == 200, r
        assert gateway_line(site, r["request_id"])["source"] == "ai-test-plugin"
        assert EMAIL not in last_upstream_body(site)
        assert site.capture.total() == (0, 0)
        st = site.php("return Sovgate_Client::status();")
        assert st["hosts_added"] == ["api.anthropic.com"], st["hosts_added"]
        assert "api.anthropic.com" in st["hosts"] and "llm.example.internal" in st["hosts"]
        site.set_settings(hosts_defaults_seen=defaults)
        r = site.call("anthropic", "left out by the admin")
        assert not r["ok"]  # sent to the provider's stand-in, which speaks no TLS
        assert site.capture.total()[0] > 0
        assert site.php("return Sovgate_Settings::hosts_added();") == []
    finally:
        site.php(f"update_option('sovgate_settings', json_decode({json.dumps(json.dumps(before))}, "
                 "true)); return true;")
        site.capture.reset()


def test_first_save_and_host_list_limits_through_update_option(site):
    """WordPress's own update_option(), with the settings registered as the settings page
    registers them: on a site without the option it runs the sanitize callback twice
    (add_option() sanitizes the result again), and the second pass neither reports
    anything nor ticks "Visitors" again; a host list over the limit (201 entries) is
    refused with one error and the saved list kept. A stored list over the limit (written
    without the callback) loses no host, gets every default, and Site Health and `wp
    sovgate status` say so."""
    before = site.php("return get_option('sovgate_settings');")
    try:
        r = site.php(r"""
require_once ABSPATH . 'wp-admin/includes/template.php';
global $wp_settings_errors;
register_setting( 'sovgate', 'sovgate_settings', array( 'type' => 'array',
    'sanitize_callback' => array( 'Sovgate_Admin', 'sanitize' ), 'default' => array() ) );
$calls = 0;
add_filter( 'sanitize_option_sovgate_settings', function ( $v ) use ( &$calls ) { $calls++; return $v; }, 5 );
delete_option( 'sovgate_settings' );
update_option( 'sovgate_settings', array( 'chat_form' => '1', 'chat_model' => 'assistant',
    'hosts' => "api.openai.com\nllm.example.internal", 'hosts_defaults_seen' => 'api.openai.com' ) );
$first = array( 'calls' => $calls, 'errors' => get_settings_errors( 'sovgate_settings' ),
    'value' => get_option( 'sovgate_settings' ) );
$wp_settings_errors = array();
$hosts = array();
for ( $i = 0; $i < 201; $i++ ) { $hosts[] = "llm-$i.example.internal"; }
update_option( 'sovgate_settings', array_merge( get_option( 'sovgate_settings' ),
    array( 'hosts' => implode( "\n", $hosts ), 'chat_model' => 'shop-model' ) ) );
$over = array( 'errors' => get_settings_errors( 'sovgate_settings' ),
    'value' => get_option( 'sovgate_settings' ) );
unregister_setting( 'sovgate', 'sovgate_settings' );
return array( 'first' => $first, 'over' => $over );
""")
        first, over = r["first"], r["over"]
        assert first["calls"] == 2, first
        assert first["errors"] == [], first["errors"]
        assert first["value"]["chat_public"] is False
        assert first["value"]["hosts"] == ["api.openai.com", "llm.example.internal"]
        assert first["value"]["hosts_defaults_seen"] == ["api.openai.com"]
        assert [e["code"] for e in over["errors"]] == ["sovgate_hosts"], over["errors"]
        assert "has 201 entries, more than 200" in over["errors"][0]["message"]
        assert over["value"]["hosts"] == ["api.openai.com", "llm.example.internal"]
        assert over["value"]["chat_model"] == "shop-model"

        hosts = [f"llm-{i}.example.internal" for i in range(201)]
        site.configure(hosts=hosts, hosts_defaults_seen=site.php("return Sovgate_Hosts::DEFAULTS;"))
        st = site.php("return Sovgate_Client::status();")
        assert "has 201 entries, more than 200" in st["hosts_problem"], st["hosts_problem"]
        assert set(hosts) <= set(st["hosts"]) and "api.anthropic.com" in st["hosts"]
        health = site.php("return Sovgate_Site_Health::test();")
        assert health["status"] == "recommended", health
        assert "has 201 entries" in health["description"]
    finally:
        site.php(f"update_option('sovgate_settings', json_decode({json.dumps(json.dumps(before))}, "
                 "true)); return true;")


def test_mode_that_is_no_mode_means_enforce_and_is_reported(site):
    """A stored mode that is no mode (`monitr`, written by a script or `wp option`) means
    enforce: an AI call that cannot go through the gateway is blocked, nothing reaches
    the provider; Site Health and `wp sovgate status` name the value. The settings page
    (update_option() with the settings registered) given one saves enforce, with an
    error naming it."""
    before = site.php("return get_option('sovgate_settings');")
    site.capture.reset()
    try:
        site.set_settings(mode="monitr")
        st = site.php("return Sovgate_Client::status();")
        assert st["mode"] == "enforce", st
        assert 'The saved mode is "monitr"' in st["mode_problem"], st["mode_problem"]
        health = site.php("return Sovgate_Site_Health::test();")
        assert health["status"] == "recommended", health
        assert "&quot;monitr&quot;" in health["description"] and "enforce is in effect" in health["description"]
        site.set_settings(gateway_url="")
        r = site.call("remote_post", f"no mode {EMAIL}")
        assert not r["ok"] and r["error_code"] == "sovgate_blocked", r
        assert site.capture.total() == (0, 0)
        site.configure()
        r = site.php(r"""
require_once ABSPATH . 'wp-admin/includes/template.php';
register_setting( 'sovgate', 'sovgate_settings', array( 'type' => 'array',
    'sanitize_callback' => array( 'Sovgate_Admin', 'sanitize' ), 'default' => array() ) );
update_option( 'sovgate_settings', array_merge( get_option( 'sovgate_settings' ),
    array( 'mode' => 'monitr', 'chat_model' => 'shop-model' ) ) );
$out = array( 'errors' => get_settings_errors( 'sovgate_settings' ),
    'value' => get_option( 'sovgate_settings' ), 'problem' => Sovgate_Settings::mode_problem() );
unregister_setting( 'sovgate', 'sovgate_settings' );
return $out;
""")
        assert [e["code"] for e in r["errors"]] == ["sovgate_mode"], r["errors"]
        assert "&quot;monitr&quot; is not a mode" in r["errors"][0]["message"]
        assert r["value"]["mode"] == "enforce" and r["value"]["chat_model"] == "shop-model"
        assert r["problem"] == ""
    finally:
        site.php(f"update_option('sovgate_settings', json_decode({json.dumps(json.dumps(before))}, "
                 "true)); return true;")
        site.capture.reset()


def test_not_configured_enforce_blocks_and_monitor_reports(site):
    site.php("delete_option('ai_test_blocked'); Sovgate_Events::clear(); return true;")
    site.set_settings(gateway_url="")
    try:
        r = site.call("remote_post", f"blocked {EMAIL}")
        assert not r["ok"] and r["error_code"] == "sovgate_blocked", r
        assert "no gateway URL is configured" in r["error_message"]
        assert site.capture.total() == (0, 0)
        seen = site.php("return get_option('ai_test_blocked');")
        assert seen and seen[0]["source"] == "ai-test-plugin"
        assert "api.openai.com" in seen[0]["url"]
        # Monitor mode: the call goes to the provider (here the capture server), reported.
        site.set_settings(mode="monitor")
        r = site.call("remote_post", "monitor mode")
        assert not r["ok"]  # the capture server speaks no TLS
        assert site.capture.total()[0] > 0
        events = site.php("return Sovgate_Events::all();")
        assert [e["type"] for e in events[:2]] == ["unrouted", "blocked"]
        assert events[0]["source"] == "ai-test-plugin"
    finally:
        site.configure()
        site.capture.reset()


def test_lost_mark_is_blocked(site):
    """Another filter that removes Sovgate's mark from a call's arguments does not get the
    call past it."""
    r = site.call("tamper", f"tampered {EMAIL}")
    assert not r["ok"] and r["error_code"] == "sovgate_blocked", r
    assert "lost Sovgate's mark" in r["error_message"]
    assert site.capture.total() == (0, 0)


def test_redirect_to_a_provider_is_blocked(site):
    """A call to another host that answers with a redirect to a provider: WordPress's
    Requests library follows it inside the call, where neither `http_request_args` nor
    `pre_http_request` see the new URL. The redirect is refused before anything reaches
    the provider, with cURL and without."""
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", "https://api.openai.com/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    code = (f"$r = wp_remote_post('http://127.0.0.1:{srv.server_address[1]}/go', array("
            "'headers' => array('Authorization' => 'Bearer sk-proj-TESTPROVIDERKEY'), "
            f"'body' => '{{\"messages\": \"{EMAIL}\"}}')); "
            "return is_wp_error($r) ? array($r->get_error_code(), $r->get_error_message()) "
            ": wp_remote_retrieve_response_code($r);")
    site.capture.reset()
    try:
        for php_args in ([], ["-d", "disable_functions=curl_init,curl_exec,curl_multi_exec"]):
            out = site.php(code, php_args=php_args)
            assert out[0] == "sovgate_blocked" and "redirect" in out[1], (php_args, out)
            assert "api.openai.com" in out[1]
    finally:
        srv.shutdown()
        srv.server_close()
    assert site.capture.total() == (0, 0), "the redirect reached the provider stand-in"
    events = site.php("return Sovgate_Events::all();")
    assert events[0]["type"] == "blocked" and events[0]["host"] == "api.openai.com"


def test_url_rewritten_into_a_provider_is_blocked(site):
    """WordPress strips a disallowed scheme (wp_kses_bad_protocol) after Sovgate looked at
    the URL: `javascript:https://api.openai.com/…` and `https&#58;//api.openai.com/…` are
    sent to api.openai.com. They are refused, with cURL and without."""
    site.capture.reset()
    for url in ("javascript:https://api.openai.com/v1/chat/completions",
                "https&#58;//api.openai.com/v1/chat/completions"):
        code = (f"$r = wp_remote_post({json.dumps(url)}, array('body' => 'hello {EMAIL}')); "
                "return is_wp_error($r) ? array($r->get_error_code(), $r->get_error_message()) "
                ": wp_remote_retrieve_response_code($r);")
        for php_args in ([], ["-d", "disable_functions=curl_init,curl_exec,curl_multi_exec"]):
            out = site.php(code, php_args=php_args)
            assert out[0] == "sovgate_blocked", (url, php_args, out)
    assert site.capture.total() == (0, 0), "the call reached the provider stand-in"


def test_gateway_stopped_fails_closed(site):
    """Last: with the gateway down every call fails with the plugin's error, and nothing
    reaches the providers."""
    site.gateway.stop()
    site.capture.reset()
    for mode in ("remote_post", "stream", "safe", "azure", "anthropic"):
        r = site.call(mode, f"gateway down {EMAIL}")
        assert not r["ok"], r
        assert r["error_code"] == "sovgate_gateway_error", r
        assert "could not be reached" in r["error_message"] and "not sent to the provider" in \
            r["error_message"]
        assert r["ms"] < 5000
    site.configure(gateway_url=f"https://localhost:{site.gateway.port}")
    out = site.php("return ai_test_plugin_call('remote_post', 'no curl, gateway down');",
                   php_args=["-d", "disable_functions=curl_init,curl_exec,curl_multi_exec"])
    assert out["error_code"] == "sovgate_gateway_error", out
    # The chat route answers visitors with a plain error.
    st, _, body = site.request("POST", "/wp-json/sovgate/v1/chat",
                               {"messages": [{"role": "user", "content": "hi"}]},
                               headers={"X-Sovgate-Nonce": chat_nonce(site)})
    assert st == 503 and b"not available" in body
    assert site.capture.total() == (0, 0), "bytes reached the provider stand-in"
    events = site.php("return Sovgate_Events::all();")
    assert events[0]["type"] == "gateway_error"
