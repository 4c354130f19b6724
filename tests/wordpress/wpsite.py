"""A real WordPress for the plugin's tests, on loopback: Debian's `wordpress` package
files served by nginx, PHP-FPM and MariaDB started from temporary folders, the Sovgate
gateway (sgtest.Gateway, TLS) with the recording fake upstream behind it, and a capture
server standing in for the AI providers.

PHP (PHP-FPM and the php-cli helpers) runs in a private mount namespace (`unshare -m`,
`unshare -r -m` when not root) in which
  - /etc/hosts is a temporary file that points the provider host names at the capture
    server (CAPTURE_IP) and wordpress.org's hosts at an address where nothing listens;
  - /etc/wordpress is a temporary folder with the site's config-default.php (Debian's
    /usr/share/wordpress/wp-config.php reads its configuration from there).
Nothing outside the temporary folder is changed; the mounts end with the processes.

Standard library only."""

import http.client
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import sgtest  # noqa: E402

WP_ROOT = "/usr/share/wordpress"
PLUGIN = os.path.join(ROOT, "wordpress", "sovgate")
FIXTURE = os.path.join(HERE, "fixtures", "ai-test-plugin")
PHP_DIR = os.path.join(HERE, "php")
CAPTURE_IP = "127.0.0.2"
DEAD_IP = "127.0.0.3"
PROVIDER_HOSTS = ["api.openai.com", "api.anthropic.com", "shop-test.openai.azure.com",
                  "generativelanguage.googleapis.com", "api.unlisted-ai.test"]
WORDPRESS_ORG = ["api.wordpress.org", "wordpress.org", "downloads.wordpress.org",
                 "planet.wordpress.org", "s.w.org", "secure.gravatar.com", "0.gravatar.com",
                 "1.gravatar.com", "2.gravatar.com"]


def find_binary(*names):
    for n in names:
        p = shutil.which(n) or shutil.which(n, path="/usr/sbin:/sbin:/usr/bin")
        if p:
            return p
    return None


def php_fpm_binary():
    found = find_binary("php-fpm")
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin"):
        for name in sorted(os.listdir(d), reverse=True):
            if re.fullmatch(r"php-fpm\d+\.\d+", name):
                return os.path.join(d, name)
    return None


def missing_tools():
    need = {"mariadbd": find_binary("mariadbd", "mysqld"),
            "mariadb-install-db": find_binary("mariadb-install-db", "mysql_install_db"),
            "mariadb": find_binary("mariadb", "mysql"),
            "php": find_binary("php"), "php-fpm": php_fpm_binary(),
            "nginx": find_binary("nginx"), "unshare": find_binary("unshare"),
            "chromium": find_binary("chromium"), "node": find_binary("node")}
    out = [k for k, v in need.items() if not v]
    if not os.path.isfile(os.path.join(WP_ROOT, "wp-load.php")):
        out.append("wordpress (" + WP_ROOT + ")")
    return out


def can_bind_443(ip=CAPTURE_IP):
    s = socket.socket()
    try:
        s.bind((ip, 443))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Capture:
    """Stands in for the AI providers: accepts TCP connections on CAPTURE_IP ports 443 and
    80 and counts every byte received (a TLS ClientHello already counts). A call that
    reached it would have left for the cloud."""

    def __init__(self, ip=CAPTURE_IP, ports=(443, 80)):
        self.lock = threading.Lock()
        self.conns = []  # (port, bytes)
        self.socks = []
        self.stopping = False
        for port in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                if port == 443:
                    raise  # the providers' port: the tests need it
                s.close()  # port 80 is a bonus (a system web server may hold it)
                continue
            s.listen(16)
            s.settimeout(0.2)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s, port), daemon=True).start()

    def _accept(self, s, port):
        while not self.stopping:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c, port), daemon=True).start()

    def _serve(self, c, port):
        n = 0
        c.settimeout(0.3)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                n += len(data)
        except (socket.timeout, OSError):
            pass
        finally:
            c.close()
        with self.lock:
            self.conns.append((port, n))

    def total(self):
        with self.lock:
            return sum(n for _, n in self.conns), len(self.conns)

    def reset(self):
        with self.lock:
            self.conns = []

    def stop(self):
        self.stopping = True
        for s in self.socks:
            s.close()


class Site:
    """The whole stack. start() brings everything up; stop() takes it down."""

    def __init__(self):
        self.root = os.geteuid() == 0
        self.work = tempfile.mkdtemp(prefix="sovgate-wp-")
        os.chmod(self.work, 0o755)
        self.procs = []
        self.capture = None
        self.upstream = None
        self.gateway = None
        self.wire = None
        self.admin_password = secrets.token_urlsafe(18)
        self.test_token = secrets.token_hex(16)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.ids = {}
        self.user = pwd.getpwuid(os.getuid()).pw_name

    # ---- start ----

    def start(self):
        t0 = time.time()
        self.timings = {}
        self.capture = Capture()
        self._write_namespace_files()
        self._start_gateway()
        self.timings["gateway"] = time.time() - t0
        self._start_mariadb()
        self.timings["mariadb"] = time.time() - t0
        self._start_php_fpm()
        self._start_nginx()
        self.timings["web"] = time.time() - t0
        r = self.php_script("install.php", env={"SG_WP_ADMIN_PASSWORD": self.admin_password})
        assert r.get("user_id") == 1, r
        r = self.php_script("setup-site.php", env={"SG_TEST_TOKEN": self.test_token})
        assert r["activate"] == ["ok", "ok"], r
        self.ids = r
        self.timings["install"] = time.time() - t0
        self.configure()

    def _ns(self):
        return ["unshare", "-m"] if self.root else ["unshare", "-r", "-m"]

    def _write_namespace_files(self):
        with open("/etc/hosts") as f:
            hosts = f.read()
        lines = [hosts.rstrip("\n"), "# sovgate tests: providers -> capture server"]
        lines += [f"{CAPTURE_IP} {h}" for h in PROVIDER_HOSTS]
        lines += [f"{DEAD_IP} {h}" for h in WORDPRESS_ORG]
        self.hosts_file = os.path.join(self.work, "hosts")
        with open(self.hosts_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.etc_wp = os.path.join(self.work, "etc-wordpress")
        os.makedirs(self.etc_wp)
        content = os.path.join(self.work, "wp-content")
        for d in ("plugins", "themes", "mu-plugins", "uploads", "upgrade"):
            os.makedirs(os.path.join(content, d))
        os.symlink(PLUGIN, os.path.join(content, "plugins", "sovgate"))
        os.symlink(FIXTURE, os.path.join(content, "plugins", "ai-test-plugin"))
        theme = os.path.join(WP_ROOT, "wp-content", "themes", "twentytwentythree")
        if os.path.isdir(theme):
            os.symlink(theme, os.path.join(content, "themes", "twentytwentythree"))
        self.content = content
        self.db_sock = os.path.join(self.work, "mysql.sock")
        salts = "\n".join(f"define('{k}', '{secrets.token_hex(32)}');" for k in (
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
            "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
        config = f"""<?php
// The Sovgate tests' WordPress site (a temporary /etc/wordpress in a mount namespace).
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:{self.db_sock}');
define('WP_HOME', '{self.url}');
define('WP_SITEURL', '{self.url}');
define('WP_CONTENT_DIR', '{content}');
define('WP_CONTENT_URL', '{self.url}/wp-content');
define('WP_DEBUG', true);
define('WP_DEBUG_DISPLAY', false);
define('WP_DEBUG_LOG', '{self.work}/wp-debug.log');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('FS_METHOD', 'direct');
{salts}
"""
        with open(os.path.join(self.etc_wp, "config-default.php"), "w") as f:
            f.write(config)

    def _start_gateway(self):
        gw_dir = os.path.join(self.work, "gateway")
        os.makedirs(gw_dir)
        self.upstream = sgtest.Upstream(gw_dir, name="up1")
        self.gateway = sgtest.Gateway(
            gw_dir, clients={"shop": None, "wp2": None},
            backends=[{"name": "b1", "url": self.upstream.url}],
            routes=[{"model": "assistant", "aliases": ["gpt-4o-mini", "gpt-4o"],
                     "backends": ["b1"]}])
        self.gateway.wait_ready()
        for p in (gw_dir, os.path.join(gw_dir, "certs")):
            os.chmod(p, 0o755)
        os.chmod(self.gateway.certs["ca"], 0o644)

    def _start_mariadb(self):
        datadir = os.path.join(self.work, "db")
        os.makedirs(datadir)
        r = subprocess.run([find_binary("mariadb-install-db", "mysql_install_db"), "--no-defaults",
                            f"--datadir={datadir}", f"--user={self.user}",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        log = open(os.path.join(self.work, "mariadb.log"), "w")
        p = subprocess.Popen([find_binary("mariadbd", "mysqld"), "--no-defaults",
                              f"--datadir={datadir}", f"--socket={self.db_sock}",
                              "--skip-networking", f"--user={self.user}",
                              f"--pid-file={self.work}/mariadb.pid",
                              "--innodb-buffer-pool-size=32M", "--skip-log-bin",
                              "--performance-schema=OFF"],
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(("mariadb", p))
        deadline = time.time() + 60
        while True:
            r = subprocess.run([find_binary("mariadb", "mysql"), "--no-defaults", "-S", self.db_sock,
                                "-u", "root", "-e", "CREATE DATABASE IF NOT EXISTS wordpress"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            if p.poll() is not None or time.time() > deadline:
                raise AssertionError("MariaDB did not start:\n" + self.tail("mariadb.log"))
            time.sleep(0.2)

    def _start_php_fpm(self):
        self.fpm_sock = os.path.join(self.work, "php-fpm.sock")
        conf = os.path.join(self.work, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write(f"""[global]
pid = {self.work}/php-fpm.pid
error_log = {self.work}/php-fpm.log
daemonize = no

[wordpress]
user = root
listen = {self.fpm_sock}
listen.mode = 0666
pm = static
pm.max_children = 4
catch_workers_output = yes
request_terminate_timeout = 120
php_admin_value[error_log] = {self.work}/php-error.log
php_admin_flag[log_errors] = on
php_admin_value[memory_limit] = 256M
""")
        # In the namespace this process is root (really, or mapped by unshare -r).
        p = subprocess.Popen(self._ns() + [
            "sh", "-c", 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/wordpress '
            '&& exec "$3" -R -F -y "$4"', "sh", self.hosts_file, self.etc_wp,
            php_fpm_binary(), conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(("php-fpm", p))
        self._wait_for(lambda: os.path.exists(self.fpm_sock), p, "php-fpm.log", "PHP-FPM")

    def _start_nginx(self):
        prefix = os.path.join(self.work, "nginx")
        os.makedirs(prefix)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""{'user root;' if self.root else ''}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {self.work}/nginx-access.log;
    client_body_temp_path {prefix}/client_body;
    fastcgi_temp_path {prefix}/fastcgi;
    proxy_temp_path {prefix}/proxy;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {WP_ROOT};
        index index.php;
        client_max_body_size 8m;
        location /wp-content/ {{
            alias {self.content}/;
            location ~ \\.php$ {{ return 403; }}
        }}
        location / {{ try_files $uri $uri/ /index.php?$args; }}
        location ~ \\.php$ {{
            try_files $uri =404;
            # Debian's fastcgi_params sets HTTP_HOST without the port; WordPress needs it.
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param DOCUMENT_URI $document_uri;
            fastcgi_param DOCUMENT_ROOT $document_root;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param REQUEST_SCHEME $scheme;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_SOFTWARE nginx;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param REMOTE_PORT $remote_port;
            fastcgi_param SERVER_ADDR $server_addr;
            fastcgi_param SERVER_PORT $server_port;
            fastcgi_param SERVER_NAME 127.0.0.1;
            fastcgi_param REDIRECT_STATUS 200;
            fastcgi_param HTTP_HOST $http_host;
            fastcgi_pass unix:{self.fpm_sock};
            fastcgi_read_timeout 120s;
        }}
    }}
}}
""")
        p = subprocess.Popen([find_binary("nginx"), "-p", prefix, "-c", conf, "-e",
                              os.path.join(self.work, "nginx-error.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(("nginx", p))

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        self._wait_for(up, p, "nginx-error.log", "nginx")

    def _wait_for(self, cond, proc, log, what, timeout=30):
        deadline = time.time() + timeout
        while not cond():
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"{what} did not start:\n" + self.tail(log))
            time.sleep(0.05)

    def tail(self, name, n=40):
        try:
            with open(os.path.join(self.work, name), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return f"({name} missing)"

    # ---- PHP ----

    def php_script(self, script, stdin=None, env=None, php_args=(), timeout=120):
        """Runs tests/wordpress/php/SCRIPT with php-cli in the namespace; returns the
        value it printed with sg_result()."""
        e = dict(os.environ)
        e.update({"SG_WP_HOST": self.host, "SG_WP_ROOT": WP_ROOT})
        e.update(env or {})
        r = subprocess.run(self._ns() + [
            "sh", "-c", 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/wordpress '
            '&& shift 2 && exec "$@"', "sh", self.hosts_file, self.etc_wp,
            "php"] + list(php_args) + [os.path.join(PHP_DIR, script)],
            input=stdin, capture_output=True, text=True, env=e, timeout=timeout)
        m = re.search(r"@@SG-RESULT@@(.*)\n?$", r.stdout, re.S)
        if r.returncode != 0 or not m:
            raise AssertionError(f"php {script} failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                                 f"{r.stderr[-3000:]}")
        return json.loads(m.group(1))

    def php(self, code, **kw):
        """Runs PHP code in the booted site (php-cli); returns its return value."""
        return self.php_script("wp-eval.php", stdin=code, **kw)

    def set_settings(self, **changes):
        """Merges changes into the sovgate_settings option."""
        return self.php("$s = get_option('sovgate_settings', array()); $s = array_merge($s, "
                        f"json_decode({json.dumps(json.dumps(changes))}, true)); "
                        "update_option('sovgate_settings', $s); return $s;")

    def configure(self, gateway_url=None, key=None, **more):
        settings = {"gateway_url": gateway_url or f"https://127.0.0.1:{self.gateway.port}/v1",
                    "api_key": key or self.gateway.keys["shop"],
                    "ca_bundle": self.gateway.certs["ca"], "mode": "enforce",
                    "chat_public": True, "chat_rate_limit": 100, "chat_model": "assistant"}
        settings.update(more)
        return self.set_settings(**settings)

    # ---- HTTP to the site ----

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hd = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hd, data

    def call(self, mode, prompt="Hello", as_user=0):
        """Makes the test plugin call a provider (through PHP-FPM); returns its report."""
        status, _, data = self.request("POST", "/wp-json/ai-test/v1/call",
                                       {"mode": mode, "prompt": prompt, "as_user": as_user},
                                       headers={"X-AI-Test-Token": self.test_token})
        assert status == 200, (status, data[:2000], self.tail("php-error.log"))
        return json.loads(data)

    # ---- stop ----

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        errors = []
        if self.gateway:
            try:
                self.gateway.stop()
            except AssertionError as e:
                errors.append(str(e))
        for u in (self.upstream, self.wire):
            if u:
                u.stop()
        if self.capture:
            self.capture.stop()
        return errors

    def cleanup(self):
        shutil.rmtree(self.work, ignore_errors=True)
