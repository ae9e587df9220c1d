#!/usr/bin/env python3
"""Writes app.sqlite and links.json: a users table and mailed links made by tortoise-auth 0.6.0.

What an application built on tortoise-auth leaves behind when it moves to testudo, made by the
real library (the pinned venv of bench/, `bench/requirements.txt`):

    python3 -m venv target/bench-venv && target/bench-venv/bin/pip install -r bench/requirements.txt
    target/bench-venv/bin/python testdata/tortoise-auth-db/generate.py

- app.sqlite: the application's `users` table (an `AbstractUser` subclass, created by
  `Tortoise.generate_schemas`), three users whose passwords were set by tortoise-auth: one with
  its default hasher (Argon2id), one bcrypt (cost 12) and one tortoise-auth PBKDF2-SHA256 hash
  (written by its own `PBKDF2Hasher`, as an application configured with it would have), and one
  inactive user.
- links.json: the signing secret, the users' passwords, two links tortoise-auth signed (a
  password-reset token from `PasswordResetService.request_reset`, caught from its
  `password_reset_requested` event, and a value signed by `TimestampSigner` for an application's
  own e-mail verification link) and a JWT pair from its `JWTBackend` (HS256, `jwt_secret`, an
  extra `role` claim), with the Unix time they were made at.

docs/moving-from-tortoise-auth.md walks through importing them; crates/testudo-docs/tests/
tortoise_auth_import.rs does it and checks every step.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from tortoise import Tortoise, fields

from tortoise_auth import (
    AbstractUser,
    AuthConfig,
    JWTBackend,
    PasswordResetService,
    TimestampSigner,
    configure,
)
from tortoise_auth.events import on
from tortoise_auth.hashers import PBKDF2Hasher
from tortoise_auth.hashers.bcrypt import default_hasher as bcrypt_hasher

HERE = os.path.dirname(os.path.abspath(__file__))
SIGNING_SECRET = "the-tortoise-auth-signing-secret-0123456789"
JWT_SECRET = "the-tortoise-auth-jwt-secret-of-32-bytes-or-more"
USERS = [
    # (email, password, how the hash is written, active)
    ("argon@example.com", "argon correct horse battery", "default", True),
    ("bcrypt@example.com", "bcrypt correct horse battery", "bcrypt", True),
    ("pbkdf2@example.com", "pbkdf2 correct horse battery", "pbkdf2", True),
    ("gone@example.com", "gone correct horse battery", "default", False),
]


class User(AbstractUser):
    """The application's user model, as a tortoise-auth application declares it."""

    display_name = fields.CharField(max_length=100, default="")

    class Meta:
        table = "users"


async def main() -> None:
    path = os.path.join(HERE, "app.sqlite")
    if os.path.exists(path):
        os.remove(path)
    configure(
        AuthConfig(user_model="models.User", signing_secret=SIGNING_SECRET, jwt_secret=JWT_SECRET)
    )
    await Tortoise.init(db_url=f"sqlite://{path}", modules={"models": [__name__]})
    await Tortoise.generate_schemas()
    for email, password, how, active in USERS:
        user = await User.create(email=email, is_active=active, display_name=email.split("@")[0])
        if how == "default":
            await user.set_password(password)
        else:
            hasher = bcrypt_hasher() if how == "bcrypt" else PBKDF2Hasher()
            user.password = hasher.hash(password)
            await user.save(update_fields=["password"])
        assert await user.check_password(password)
    # check_password above upgraded the bcrypt and PBKDF2 hashes to Argon2: write them again.
    for email, password, how, _ in USERS:
        if how != "default":
            user = await User.get(email=email)
            hasher = bcrypt_hasher() if how == "bcrypt" else PBKDF2Hasher()
            user.password = hasher.hash(password)
            await user.save(update_fields=["password"])

    mailed: dict[str, str] = {}

    @on("password_reset_requested")
    async def capture(email: str, token: str, user: User) -> None:
        mailed[email] = token

    await PasswordResetService().request_reset("bcrypt@example.com")
    reset_user = await User.get(email="bcrypt@example.com")
    verification = TimestampSigner(SIGNING_SECRET).sign_with_timestamp("verify:argon@example.com")
    made_at = int(time.time())
    jwt_pair = await JWTBackend().create_tokens(str(reset_user.pk), role="admin")
    users = []
    for email, password, how, active in USERS:
        user = await User.get(email=email)
        users.append(
            {"id": user.pk, "email": email, "password": password, "hasher": how,
             "is_active": active, "stored_hash": user.password}
        )
    await Tortoise.close_connections()
    with open(os.path.join(HERE, "links.json"), "w") as f:
        json.dump(
            {
                "tortoise_auth": "0.6.0",
                "signing_secret": SIGNING_SECRET,
                "made_at": made_at,
                "users": users,
                "reset": {"user_id": reset_user.pk, "token": mailed["bcrypt@example.com"]},
                "verification": {"value": "verify:argon@example.com", "token": verification},
                "jwt": {
                    "secret": JWT_SECRET,
                    "user_id": str(reset_user.pk),
                    "access_token": jwt_pair.access_token,
                    "refresh_token": jwt_pair.refresh_token,
                },
            },
            f,
            indent=2,
        )
        f.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
