"""A minimal Docker/OCI registry token service for tests/integration/test_models_oci.py
(the bearer-token flow of the distribution API): HTTPS on loopback, checks the basic
credential it is started with, and issues ES256 JWTs (the signing certificate in the x5c
header, written as DIR/token-ca.pem for the registry's rootcertbundle) granting the
scopes asked for. Usage: oci_token_server.py DIR PORT CERT KEY USER PASSWORD; prints
"ready" when it listens. Uses python3-cryptography (scripts/setup installs it)."""
import base64, datetime, http.server, json, os, ssl, sys, time, urllib.parse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def make_signer(d):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sovgate test token signer")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(d, "token-ca.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert

def jwt(key, cert, claims):
    hdr = {"typ": "JWT", "alg": "ES256",
           "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    si = b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

def main():
    d, port, cert_pem, key_pem, user, pw = sys.argv[1:7]
    key, cert = make_signer(d)
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            want = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            if auth != want:
                self.send_response(401); self.end_headers(); return
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            access = []
            for sc in q.get("scope", []):
                t, name, actions = sc.split(":")
                access.append({"type": t, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            tok = jwt(key, cert, {"iss": "sovgate-test-issuer", "sub": user,
                                  "aud": q.get("service", [""])[0], "exp": now + 300,
                                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                                  "access": access})
            body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert_pem, key_pem)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever()

if __name__ == "__main__":
    main()
