#!/usr/bin/env python3
"""Writes vectors.json: stored password hashes made by the real software testudo reads.

Run from anywhere:

    python3 testdata/legacy-hashes/generate.py

It creates a virtual environment (default: target/legacy-hashes-venv at the repository root, or
the directory in $LEGACY_HASHES_VENV), installs the pinned requirements.txt from PyPI into it,
re-runs itself there, and writes vectors.json next to this file. Every vector is checked with the
reference implementation's own verifier before it is written (the hash verifies its password and
refuses every wrong one), so the file records what that software accepts.

Sources:
- Django 4.2 (the last LTS with every legacy hasher: SHA1/MD5/unsalted ones were removed in 5.1):
  `scrypt`, `pbkdf2_sha256`, `pbkdf2_sha1`, `argon2` (argon2-cffi), `bcrypt_sha256`, `bcrypt`,
  `sha1`, `md5`, `unsalted_sha1`, `unsalted_md5`. Cost parameters are changed the way Django
  documents it: a subclass of the hasher with other class attributes.
- passlib 1.7.4: `$scrypt$` (PHC), `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, `$pbkdf2$` (its adapted
  base64, `.` for `+`), bcrypt `$2b$` / `$2a$` / `$2y$`.
- PHP's `password_hash` is not available here. PHP writes `$2y$` bcrypt, which is byte-identical to
  `$2b$` with the prefix changed (PHP's crypt_blowfish has no `$2b$` bug-compatibility difference
  for valid UTF-8 / 8-bit-clean input), so the PHP vectors are passlib's bcrypt with `ident="2y"`
  (passlib then runs pyca/bcrypt and rewrites the prefix), at PHP's default cost 10 and a cheap 4.
- Devise (Ruby) is not available here. `Devise::Encryptor.digest` is
  `::BCrypt::Password.create("#{password}#{pepper}", cost: stretches)` and `compare` re-hashes
  `"#{password}#{pepper}"` with the stored salt: bcrypt of the password followed by the pepper,
  written by bcrypt-ruby as `$2a$`. The Devise vectors are pyca/bcrypt on exactly those bytes
  with prefix `2a`. bcrypt-ruby (crypt_blowfish) uses only the first 72 bytes of the key, so the
  key is cut to 72 bytes here too (pyca/bcrypt 4.x would do the same silently; 5.x would raise).
- RustCrypto's `$pbkdf2-sha256$i=..,l=..$` PHC layout has no Python writer: its vector is the
  known answer from the pbkdf2 crate's own tests (pbkdf2 0.13.0, src/phc.rs), checked here with
  hashlib.

Small cost parameters keep testudo's tests fast; each format also has one vector with the
software's default parameters (marked "default_cost": true) where verifying it is cheap enough.
Salts are random, so regenerating changes every hash (but not the file's shape).
"""

import base64
import hashlib
import json
import logging
import os
import pathlib
import subprocess
import sys
import warnings

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
OUTPUT = HERE / "vectors.json"

# Devise's pepper is any string the application configures (`config.pepper`); Devise's generator
# suggests 128 hex characters, which is what this is (fixed, so the vectors are reproducible).
DEVISE_PEPPER = "6b2f0c1e9d8a7f3b5c4e2d1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e" \
    "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c"

PASSWORDS = ["correct horse battery staple", "pässwörd ✓", "x"]


def bootstrap():
    """Re-runs this script inside a virtual environment with the pinned requirements."""
    if os.environ.get("LEGACY_HASHES_BOOTSTRAPPED") == "1":
        return
    venv = pathlib.Path(os.environ.get("LEGACY_HASHES_VENV", ROOT / "target" / "legacy-hashes-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
        check=True,
    )
    env = dict(os.environ, LEGACY_HASHES_BOOTSTRAPPED="1")
    sys.exit(subprocess.run([str(python), __file__, *sys.argv[1:]], env=env).returncode)


def wrong_passwords(password):
    """Passwords that must not verify: near misses of the right one."""
    out = [password + "!", password[:-1], password.upper(), " " + password]
    return [w for w in dict.fromkeys(out) if w != password]


def main():
    bootstrap()
    warnings.simplefilter("ignore")  # Django's deprecation warnings for SHA1/MD5 hashers
    # passlib 1.7.4 logs a traceback reading bcrypt 4.x's version (harmless: it falls back).
    logging.getLogger("passlib").setLevel(logging.CRITICAL)

    import django
    dj_version = django.__version__
    from django.conf import settings

    hashers = "django.contrib.auth.hashers."
    settings.configure(PASSWORD_HASHERS=[
        hashers + name for name in [
            "PBKDF2PasswordHasher", "PBKDF2SHA1PasswordHasher", "Argon2PasswordHasher",
            "BCryptSHA256PasswordHasher", "BCryptPasswordHasher", "ScryptPasswordHasher",
            "SHA1PasswordHasher", "MD5PasswordHasher", "UnsaltedSHA1PasswordHasher",
            "UnsaltedMD5PasswordHasher",
        ]
    ])
    django.setup()

    import argon2
    import bcrypt
    import passlib
    from django.contrib.auth import hashers as dj
    from passlib import hash as ph

    vectors = []

    def add(fmt, source, password, stored, check, *, default_cost=False, insecure=False,
            pepper=False):
        assert check(password, stored), (fmt, stored)
        wrong = wrong_passwords(password)
        for w in wrong:
            assert not check(w, stored), (fmt, stored, w)
        vectors.append({
            "format": fmt, "source": source, "password": password, "hash": stored,
            "wrong": wrong, "default_cost": default_cost, "insecure": insecure, "pepper": pepper,
        })

    def django_check(password, stored):
        return dj.check_password(password, stored)

    def from_django(fmt, cls, label, *, default_cost=False, insecure=False, passwords=PASSWORDS):
        hasher = cls()
        for pw in passwords:
            add(fmt, f"Django {dj_version} {label}", pw, hasher.encode(pw, hasher.salt()),
                django_check, default_cost=default_cost, insecure=insecure)

    def sub(base, **attrs):
        return type("Small" + base.__name__, (base,), attrs)

    # Django scrypt: cheap ones (two shapes of r / p) and Django's defaults (n=2**14, r=8, p=1).
    from_django("django_scrypt", sub(dj.ScryptPasswordHasher, work_factor=2**4),
           "ScryptPasswordHasher n=16 r=8 p=1")
    from_django("django_scrypt", sub(dj.ScryptPasswordHasher, work_factor=2**6, block_size=4,
                                parallelism=2),
           "ScryptPasswordHasher n=64 r=4 p=2", passwords=PASSWORDS[:1])
    from_django("django_scrypt", dj.ScryptPasswordHasher, "ScryptPasswordHasher (defaults)",
           default_cost=True, passwords=PASSWORDS[:1])

    # PBKDF2, SHA-256 and SHA-1.
    from_django("django_pbkdf2_sha256", sub(dj.PBKDF2PasswordHasher, iterations=1000),
           "PBKDF2PasswordHasher iterations=1000")
    from_django("django_pbkdf2_sha256", dj.PBKDF2PasswordHasher, "PBKDF2PasswordHasher (defaults)",
           default_cost=True, passwords=PASSWORDS[:1])
    from_django("django_pbkdf2_sha1", sub(dj.PBKDF2SHA1PasswordHasher, iterations=1000),
           "PBKDF2SHA1PasswordHasher iterations=1000")
    from_django("django_pbkdf2_sha1", dj.PBKDF2SHA1PasswordHasher,
           "PBKDF2SHA1PasswordHasher (defaults)", default_cost=True, passwords=PASSWORDS[:1])

    # argon2: Django's parameter sets. Today's default (argon2id m=102400 t=2 p=8), cheap
    # argon2id / argon2i / argon2d, Django 1.10-2.x's argon2i m=512 t=2 p=2, and that hash
    # without a `v=` field (the libargon2 20151206 layout, version 0x10, that Django's own
    # tests still check), made with version 0x10.
    def argon2_params(type_, m, t, p):
        return lambda self: argon2.Parameters(
            type=type_, version=19, salt_len=16, hash_len=32, time_cost=t,
            memory_cost=m, parallelism=p)

    t = argon2.low_level.Type
    from_django("django_argon2", dj.Argon2PasswordHasher, "Argon2PasswordHasher (defaults)",
           default_cost=True, passwords=PASSWORDS[:1])
    for name, type_ in [("argon2id", t.ID), ("argon2i", t.I), ("argon2d", t.D)]:
        from_django("django_argon2", sub(dj.Argon2PasswordHasher, params=argon2_params(type_, 64, 1, 1)),
               f"Argon2PasswordHasher {name} m=64 t=1 p=1", passwords=PASSWORDS[:2])
    from_django("django_argon2", sub(dj.Argon2PasswordHasher, params=argon2_params(t.I, 512, 2, 2)),
           "Argon2PasswordHasher argon2i m=512 t=2 p=2 (Django 1.10-2.x)",
           passwords=PASSWORDS[:2])
    # Django's encode does not pass a version, so argon2-cffi's low-level call (the one Django's
    # encode makes) is called with version 0x10, and Django's "argon2" prefix added.
    for pw in PASSWORDS[:2]:
        stored = "argon2" + argon2.low_level.hash_secret(
            pw.encode(), dj.Argon2PasswordHasher().salt().encode(), time_cost=2, memory_cost=512,
            parallelism=2, hash_len=32, type=t.I, version=0x10).decode("ascii")
        assert "$v=16$" in stored, stored
        add("django_argon2",
            f"Django {dj_version} Argon2PasswordHasher argon2i m=512 t=2 p=2 version "
            "0x10, the `v=16$` field removed (the version-less layout)",
            pw, stored.replace("$v=16$", "$", 1), django_check)

    # bcrypt through Django.
    from_django("django_bcrypt_sha256", sub(dj.BCryptSHA256PasswordHasher, rounds=4),
           "BCryptSHA256PasswordHasher rounds=4", passwords=PASSWORDS + ["y" * 100])
    from_django("django_bcrypt", sub(dj.BCryptPasswordHasher, rounds=4),
           "BCryptPasswordHasher rounds=4")

    # The insecure digests (testudo reads them only with the opt-in).
    from_django("django_sha1", dj.SHA1PasswordHasher, "SHA1PasswordHasher", insecure=True)
    from_django("django_md5", dj.MD5PasswordHasher, "MD5PasswordHasher", insecure=True)
    from_django("django_unsalted_sha1", dj.UnsaltedSHA1PasswordHasher, "UnsaltedSHA1PasswordHasher",
           insecure=True)
    from_django("django_unsalted_md5", dj.UnsaltedMD5PasswordHasher, "UnsaltedMD5PasswordHasher",
           insecure=True)
    unsalted_md5 = dj.UnsaltedMD5PasswordHasher()
    for pw in PASSWORDS[:1]:
        add("django_unsalted_md5",
            f"Django {dj_version} UnsaltedMD5PasswordHasher, `md5$$` form (identify_hasher "
            "accepts it)", pw, "md5$$" + unsalted_md5.encode(pw, ""), django_check,
            insecure=True)

    # passlib.
    pl = f"passlib {passlib.__version__}"
    for ln, r, p, default in [(4, 8, 1, False), (6, 4, 2, False), (16, 8, 1, True)]:
        h = ph.scrypt.using(rounds=ln, block_size=r, parallelism=p)
        for pw in PASSWORDS if not default else PASSWORDS[:1]:
            add("scrypt", f"{pl} scrypt ln={ln} r={r} p={p}" + (" (defaults)" if default else ""),
                pw, h.hash(pw), h.verify, default_cost=default)
    for name, handler in [("passlib_pbkdf2_sha256", ph.pbkdf2_sha256),
                          ("passlib_pbkdf2_sha512", ph.pbkdf2_sha512),
                          ("passlib_pbkdf2_sha1", ph.pbkdf2_sha1)]:
        h = handler.using(rounds=1000)
        for pw in PASSWORDS:
            add(name, f"{pl} {handler.name} rounds=1000", pw, h.hash(pw), h.verify)
        add(name, f"{pl} {handler.name} (defaults, rounds={handler.default_rounds})",
            PASSWORDS[0], handler.hash(PASSWORDS[0]), handler.verify, default_cost=True)

    # bcrypt: passlib ($2b$, $2a$) and PHP's $2y$ (see the module docs).
    for ident in ["2b", "2a", "2y"]:
        h = ph.bcrypt.using(ident=ident, rounds=4)
        for pw in PASSWORDS:
            add("bcrypt", f"{pl} bcrypt ident={ident} rounds=4" +
                (" (PHP password_hash layout)" if ident == "2y" else ""), pw, h.hash(pw),
                h.verify)
    h = ph.bcrypt.using(ident="2y", rounds=10)
    add("bcrypt", f"{pl} bcrypt ident=2y rounds=10 (PHP password_hash default cost)",
        PASSWORDS[0], h.hash(PASSWORDS[0]), h.verify, default_cost=True)

    # Devise: bcrypt of password + pepper, `$2a$`, key cut at 72 bytes as bcrypt-ruby does.
    def devise_key(password):
        return (password + DEVISE_PEPPER).encode()[:72]

    def devise_check(password, stored):
        return bcrypt.checkpw(devise_key(password), stored.encode())

    for pw, rounds in [(p, 4) for p in PASSWORDS] + [(PASSWORDS[0], 12)]:
        stored = bcrypt.hashpw(devise_key(pw), bcrypt.gensalt(rounds=rounds, prefix=b"2a"))
        add("devise_bcrypt", f"Devise::Encryptor layout, pyca/bcrypt {bcrypt.__version__} "
            f"cost={rounds} prefix 2a on password + pepper", pw, stored.decode(), devise_check,
            default_cost=rounds == 12, pepper=True)

    # RustCrypto's PHC PBKDF2 layout: the pbkdf2 crate's own known answer.
    rc_password = "passwordPASSWORDpassword"
    rc_stored = ("$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0"
                 "$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q")

    def phc_pbkdf2_check(password, stored):
        _, alg, params, salt, digest = stored.split("$")
        fields = dict(kv.split("=") for kv in params.split(","))
        pad = lambda s: base64.b64decode(s + "=" * (-len(s) % 4))
        out = hashlib.pbkdf2_hmac(alg.split("-")[1], password.encode(), pad(salt),
                                  int(fields["i"]), int(fields["l"]))
        return out == pad(digest)

    add("phc_pbkdf2_sha256", "RustCrypto pbkdf2 0.13.0 known answer (src/phc.rs), checked "
        "with hashlib", rc_password, rc_stored, phc_pbkdf2_check)

    generator = (f"generate.py: CPython {sys.version.split()[0]}, Django {dj_version}, "
                 f"passlib {passlib.__version__}, bcrypt {bcrypt.__version__}, "
                 f"argon2-cffi {argon2.__version__}")
    OUTPUT.write_text(json.dumps({
        "generator": generator,
        "devise_pepper": DEVISE_PEPPER,
        "vectors": vectors,
    }, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUTPUT}")


if __name__ == "__main__":
    main()
