#!/usr/bin/env python3
"""A registry token server for tests, speaking the distribution token protocol.

GET  /token?service=S&scope=repository:NAME:ACTIONS  (HTTP Basic, or none for anonymous)
POST /token  grant_type=password|refresh_token        (the OAuth2 flow docker uses for identity tokens)

Tokens are RS256 JWTs with an x5c header holding the signing certificate, which the registry
trusts through `auth.token.rootcertbundle`. Usage:

    token_server.py DIR ISSUER SERVICE USER:PASSWORD...

Writes DIR/token.crt, prints the port it listens on (127.0.0.1 only), then serves forever.
"""

import base64
import datetime
import json
import os
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key_and_cert(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wasmctl test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(directory, "token.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def main():
    directory, issuer, service = sys.argv[1], sys.argv[2], sys.argv[3]
    users = dict(arg.split(":", 1) for arg in sys.argv[4:])
    key, cert = make_key_and_cert(directory)
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    refresh_tokens = {}

    def sign(subject, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository" and subject:
                access.append({"type": "repository", "name": parts[1],
                               "actions": parts[2].split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [x5c]}
        claims = {"iss": issuer, "sub": subject or "", "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("token-server: " + fmt % args + "\n")

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def basic_user(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None, True
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, users.get(user) == password

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(url.query)
            user, ok = self.basic_user()
            if not ok:
                return self.reply(401, {"details": "invalid username or password"})
            token = sign(user, query.get("scope", []))
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            grant = form.get("grant_type", [""])[0]
            scopes = " ".join(form.get("scope", [])).split()
            if grant == "password":
                user = form.get("username", [""])[0]
                if users.get(user) != form.get("password", [""])[0]:
                    return self.reply(401, {"details": "invalid username or password"})
            elif grant == "refresh_token":
                user = refresh_tokens.get(form.get("refresh_token", [""])[0])
                if user is None:
                    return self.reply(401, {"details": "invalid refresh token"})
            else:
                return self.reply(400, {"details": "unsupported grant_type"})
            refresh = secrets.token_hex(16)
            refresh_tokens[refresh] = user
            self.reply(200, {"access_token": sign(user, scopes), "refresh_token": refresh,
                             "expires_in": 300})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
